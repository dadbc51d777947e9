/// An instant of the pool's clock: nanoseconds since the pool was made.
///
/// `ContinuousClock.Instant` has a resilient layout, so every copy or optional check of one goes
/// through the standard library's value witnesses; the pool's state keeps this frozen-layout value
/// instead and converts at its edges (``PoolClock``). One `Int64`, not a `Duration`: the hot path
/// compares and subtracts instants, and `Duration` does that in 128-bit arithmetic. An `Int64` of
/// nanoseconds spans 292 years; sums saturate instead of trapping.
@usableFromInline
struct PoolInstant: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Nanoseconds since the pool's origin.
    @usableFromInline var nanoseconds: Int64

    @usableFromInline init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    /// The instant `offset` after the pool's origin.
    init(offset: Duration) { self.nanoseconds = offset.nanoseconds }

    /// Time since the pool's origin.
    @usableFromInline var offset: Duration { .nanoseconds(nanoseconds) }

    @usableFromInline static func < (a: PoolInstant, b: PoolInstant) -> Bool { a.nanoseconds < b.nanoseconds }
    static func + (a: PoolInstant, d: Duration) -> PoolInstant { PoolInstant(nanoseconds: a.nanoseconds.saturatingAdd(d.nanoseconds)) }
    static func - (a: PoolInstant, d: Duration) -> PoolInstant {
        PoolInstant(nanoseconds: a.nanoseconds.saturatingAdd(0 &- d.nanoseconds))
    }
    func duration(to other: PoolInstant) -> Duration { .nanoseconds(other.nanoseconds &- nanoseconds) }

    @usableFromInline var description: String { "T+\(offset)" }
}

extension Int64 {
    func saturatingAdd(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }
}

extension Duration {
    /// Whole nanoseconds, saturating at `Int64`'s bounds (292 years).
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds > 0 ? .max : .min }
        return whole.saturatingAdd(attoseconds / 1_000_000_000)
    }
}
