/// The pool's view of a clock: `now` and `sleep(until:)` as ``PoolInstant``s, converted to and from
/// `ContinuousClock` instants at the edges (call options, leases, the injected clock).
///
/// Stored as closures so that `ConnectionPool` is not generic over its clock, and reading the time on
/// the hot path is one indirect call with no allocation. A class, so that the hot path shares one
/// instance instead of copying (and retaining) two closures at every use.
@usableFromInline
final class PoolClock: Sendable {
    /// The instant the pool's offsets count from.
    @usableFromInline let origin: ContinuousClock.Instant
    /// Whether the clock is `ContinuousClock`, read directly on the hot path (no closure call).
    let isContinuous: Bool
    let readClock: @Sendable () -> PoolInstant
    let sleep: @Sendable (PoolInstant) async throws -> Void

    init<C: Clock>(_ clock: C) where C.Instant == ContinuousClock.Instant {
        let origin = clock.now
        self.origin = origin
        self.isContinuous = C.self == ContinuousClock.self
        self.readClock = { PoolInstant(offset: origin.duration(to: clock.now)) }
        self.sleep = { try await clock.sleep(until: origin + $0.offset, tolerance: nil) }
    }

    /// The current instant.
    func now() -> PoolInstant {
        isContinuous ? PoolInstant(offset: origin.duration(to: .now)) : readClock()
    }

    func instant(_ continuous: ContinuousClock.Instant) -> PoolInstant {
        PoolInstant(offset: origin.duration(to: continuous))
    }

    @inlinable
    func continuous(_ instant: PoolInstant) -> ContinuousClock.Instant {
        origin + instant.offset
    }

    /// The effective deadline of a call that asked at `now`: the earlier of `now + timeout` and the
    /// call's absolute deadline.
    func deadline(for options: CallOptions, now: PoolInstant) -> PoolInstant? {
        let byTimeout = options.timeout.map { now + $0 }
        guard let absolute = options.deadline.map(instant) else { return byTimeout }
        guard let byTimeout else { return absolute }
        return min(byTimeout, absolute)
    }
}
