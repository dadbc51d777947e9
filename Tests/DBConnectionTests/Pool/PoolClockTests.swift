import DBConnectionTesting
import Testing

@testable import DBConnection

/// The pool keeps the effective-deadline rule in its own instants (`PoolClock.deadline`) for the hot
/// path; it must agree with the public rule of `CallOptions.effectiveDeadline`.
@Suite struct PoolClockTests {
    @Test(arguments: [
        CallOptions(timeout: .seconds(1)),
        CallOptions(timeout: nil),
        CallOptions(timeout: .seconds(1), deadline: ContinuousClock.now + .milliseconds(10)),
        CallOptions(timeout: .seconds(1), deadline: ContinuousClock.now + .seconds(5)),
        CallOptions(timeout: nil, deadline: ContinuousClock.now + .seconds(2)),
    ])
    func thePoolsDeadlineRuleAgreesWithCallOptions(options: CallOptions) {
        let clock = ManualClock()
        let poolClock = PoolClock(clock)
        let now = poolClock.now()
        let expected = options.effectiveDeadline(requestedAt: poolClock.continuous(now))
        #expect(poolClock.deadline(for: options, now: now).map(poolClock.continuous) == expected)
    }

    @Test func instantsConvertBothWays() {
        let clock = ManualClock()
        let poolClock = PoolClock(clock)
        clock.advance(by: .milliseconds(1500))
        #expect(poolClock.now() == PoolInstant(offset: .milliseconds(1500)))
        #expect(poolClock.continuous(poolClock.now()) == clock.now)
        #expect(poolClock.instant(clock.now) == poolClock.now())
    }
}
