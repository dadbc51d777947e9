/// An instant of the pool's clock: a `Duration` since the pool was made.
///
/// `ContinuousClock.Instant` has a resilient layout, so every copy or optional check of one goes
/// through the standard library's value witnesses; the pool's state keeps this frozen-layout value
/// instead and converts at its edges (``PoolClock``).
@usableFromInline
struct PoolInstant: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Time since the pool's origin.
    @usableFromInline var offset: Duration

    @usableFromInline static func < (a: PoolInstant, b: PoolInstant) -> Bool { a.offset < b.offset }
    static func + (a: PoolInstant, d: Duration) -> PoolInstant { PoolInstant(offset: a.offset + d) }
    static func - (a: PoolInstant, d: Duration) -> PoolInstant { PoolInstant(offset: a.offset - d) }
    func duration(to other: PoolInstant) -> Duration { other.offset - offset }

    @usableFromInline var description: String { "T+\(offset)" }
}
