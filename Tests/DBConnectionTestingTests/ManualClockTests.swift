import DBConnection
import Logging
import DBConnectionTesting
import Testing

@Suite(.timeLimit(.minutes(1))) struct ManualClockTests {
    @Test func sleepersWakeOnlyWhenTimeIsAdvancedPastTheirDeadline() async throws {
        let clock = ManualClock()
        let start = clock.now
        let sleeper = Task { try await clock.sleep(until: start + .seconds(2), tolerance: nil) }
        await clock.waitForSleepers(1)
        clock.advance(by: .seconds(1))
        #expect(clock.sleeperCount == 1)
        clock.advance(by: .seconds(1))
        try await sleeper.value
        #expect(clock.sleeperCount == 0)
        #expect(clock.now == start + .seconds(2))
    }

    @Test func aSleepInThePastReturnsAtOnce() async throws {
        let clock = ManualClock()
        try await clock.sleep(until: clock.now, tolerance: nil)
        #expect(clock.sleeperCount == 0)
    }

    @Test func aCancelledSleepThrowsAndLeaves() async throws {
        let clock = ManualClock()
        let sleeper = Task { try await clock.sleep(until: clock.now + .seconds(5), tolerance: nil) }
        await clock.waitForSleepers(1)
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleeperCount == 0)
    }
}

@Suite(.timeLimit(.minutes(1))) struct ScriptTests {
    @Test func aScriptRepliesInOrderAndRecordsEveryCall() async throws {
        let script = Script([.ok(state: "s0"), .status(.transaction, state: "s1"), .error(ScriptTestError())])
        let connection = try await ScriptedConnection.connect(
            options: ScriptedOptions(script: script, label: "L"),
            context: .init(poolIndex: 3, poolName: "p", logger: .init(label: "t"), showSensitiveData: false)
        )
        #expect(connection.state == "s0")
        #expect(try await connection.status(callOptions: .init()) == .transaction)
        await #expect(throws: ScriptTestError.self) { try await connection.ping() }
        await #expect(throws: Script.Exhausted.self) { try await connection.ping() }
        #expect(script.record == [.connect(poolIndex: 3, label: "L"), .status(state: "s0"), .ping(state: "s1"), .ping(state: "s1")])
    }

    @Test func aGateHoldsWaitersUntilOpened() async {
        let gate = Gate()
        #expect(!gate.isOpen)
        let waiter = Task { await gate.wait() }
        gate.open()
        await waiter.value
        #expect(gate.isOpen)
    }
}

struct ScriptTestError: Error {}
