/// The pool's view of a clock: `now` and `sleep(until:)` on `ContinuousClock` instants.
///
/// Stored as closures so that `ConnectionPool` is not generic over its clock, and reading the time on
/// the hot path is one indirect call with no allocation.
struct PoolClock: Sendable {
    let now: @Sendable () -> ContinuousClock.Instant
    let sleep: @Sendable (ContinuousClock.Instant) async throws -> Void

    init<C: Clock>(_ clock: C) where C.Instant == ContinuousClock.Instant {
        self.now = { clock.now }
        self.sleep = { try await clock.sleep(until: $0, tolerance: nil) }
    }
}
