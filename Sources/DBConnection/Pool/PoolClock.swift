#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The pool's view of a clock: `now` and `sleep(until:)` as ``PoolInstant``s, converted to and from
/// `ContinuousClock` instants at the edges (call options, leases, the injected clock).
///
/// Stored as closures so that `ConnectionPool` is not generic over its clock, and reading the time on
/// the hot path is one indirect call with no allocation. A class, so that the hot path shares one
/// instance instead of copying (and retaining) two closures at every use.
@usableFromInline
final class PoolClock: Sendable {
    /// The instant the pool's offsets count from.
    let origin: ContinuousClock.Instant
    /// Whether the clock is `ContinuousClock`, read directly on the hot path (no closure call).
    let isContinuous: Bool
    /// `origin` as the time since `leaseDeadlineReference`, for ``leaseDeadline(_:)``.
    @usableFromInline let originSinceLeaseReference: Duration
    /// `origin` as a raw reading of `ContinuousClock`'s source (``continuousNanoseconds()``), when
    /// `isContinuous`.
    let originNanoseconds: Int64
    let readClock: @Sendable () -> PoolInstant
    let sleep: @Sendable (PoolInstant) async throws -> Void

    init<C: Clock>(_ clock: C) where C.Instant == ContinuousClock.Instant {
        let isContinuous = C.self == ContinuousClock.self && Self.continuousNanoseconds() != nil
        // Two raw readings around `origin`: their midpoint is `origin` to within a few nanoseconds.
        let before = isContinuous ? Self.continuousNanoseconds()! : 0
        let origin = clock.now
        let after = isContinuous ? Self.continuousNanoseconds()! : 0
        self.origin = origin
        self.originSinceLeaseReference = leaseDeadlineReference.duration(to: origin)
        self.isContinuous = isContinuous
        self.originNanoseconds = before + (after - before) / 2
        self.readClock = { PoolInstant(offset: origin.duration(to: clock.now)) }
        self.sleep = { try await clock.sleep(until: origin + $0.offset, tolerance: nil) }
    }

    /// The current instant.
    func now() -> PoolInstant {
        if isContinuous, let raw = Self.continuousNanoseconds() {
            return PoolInstant(nanoseconds: raw &- originNanoseconds)
        }
        return readClock()
    }

    /// `ContinuousClock`'s own source, read directly: `ContinuousClock.now` goes through the runtime's
    /// `swift_get_time` and builds a 128-bit `Duration`, several times the cost of the reading itself.
    /// The clock ids are the ones `swift_get_time` uses for the continuous clock; `nil` elsewhere (then
    /// the pool reads `ContinuousClock.now`).
    @inline(__always)
    static func continuousNanoseconds() -> Int64? {
        #if os(Linux) || canImport(Darwin)
        var time = timespec()
        #if os(Linux)
        clock_gettime(CLOCK_BOOTTIME, &time)
        #else
        clock_gettime(CLOCK_MONOTONIC_RAW, &time)
        #endif
        return Int64(time.tv_sec) &* 1_000_000_000 &+ Int64(time.tv_nsec)
        #else
        return nil
        #endif
    }

    func instant(_ continuous: ContinuousClock.Instant) -> PoolInstant {
        PoolInstant(offset: origin.duration(to: continuous))
    }

    func continuous(_ instant: PoolInstant) -> ContinuousClock.Instant {
        origin + instant.offset
    }

    /// `instant` as a ``PoolLease`` keeps its deadline: the time since `leaseDeadlineReference`.
    @inlinable
    func leaseDeadline(_ instant: PoolInstant) -> Duration {
        originSinceLeaseReference + instant.offset
    }

    /// The effective deadline of a call that asked at `now`: the earlier of `now + timeout` and the
    /// call's absolute deadline.
    func deadline(for options: CallOptions, now: PoolInstant) -> PoolInstant? {
        let byTimeout = options.timeoutNanoseconds.map { PoolInstant(nanoseconds: now.nanoseconds.saturatingAdd($0)) }
        guard let sinceReference = options.deadlineSinceReference else { return byTimeout }
        let absolute = PoolInstant(offset: sinceReference - originSinceLeaseReference)
        guard let byTimeout else { return absolute }
        return min(byTimeout, absolute)
    }
}
