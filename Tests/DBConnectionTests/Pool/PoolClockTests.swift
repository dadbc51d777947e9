import DBConnectionTesting
import Logging
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

    @Test func theDeadlineRuleFollowsOptionsChangedAfterInit() {
        let clock = ManualClock()
        let poolClock = PoolClock(clock)
        let now = poolClock.now()
        var options = CallOptions()
        options.timeout = .milliseconds(250)
        #expect(poolClock.deadline(for: options, now: now) == now + .milliseconds(250))
        options.deadline = poolClock.continuous(now + .milliseconds(100))
        #expect(poolClock.deadline(for: options, now: now) == now + .milliseconds(100))
        options.timeout = nil
        options.deadline = nil
        #expect(poolClock.deadline(for: options, now: now) == nil)
    }

    @Test func aLeaseKeepsItsDeadlineExactly() async throws {
        let connection = try await ScriptedConnection.connect(
            options: ScriptedOptions(script: Script([.ok()])),
            context: ConnectionContext(poolIndex: 1, poolName: "p", logger: .init(label: "t"), showSensitiveData: false)
        )
        let holder = ConnectionHolder(connection: connection, id: ConnectionID(poolIndex: 1))
        // Given as an instant (attoseconds kept), and as a pool's checkout makes it.
        let deadline = ContinuousClock.now + .nanoseconds(1) / 3
        let given = PoolLease(holder: holder, generation: 1, poolTime: nil, idleTime: nil, deadline: deadline)
        #expect(given.deadline == deadline)
        #expect(PoolLease(holder: holder, generation: 1, poolTime: nil, idleTime: nil, deadline: nil).deadline == nil)
        let clock = ManualClock()
        let poolClock = PoolClock(clock)
        let instant = poolClock.now() + .seconds(15)
        let made = PoolLease(
            holder: holder,
            generation: 1,
            poolTime: nil,
            idleTime: nil,
            deadlineSinceReference: poolClock.leaseDeadline(instant)
        )
        #expect(made.deadline == poolClock.continuous(instant))
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
