import Testing

@testable import DBConnection

/// Deadlines of leases and waiters (scenarios 234–238), kept in one timer.
@Suite struct PoolStateMachineTimersTests {
    let t0 = PoolInstant(offset: .seconds(1000))

    @Test func theFirstDeadlineArmsTheDeadlineTimerAndLaterOnesDoNot() {
        var machine = connectedMachine(.test(poolSize: 2), at: t0)
        guard case .leased(_, let first) = machine.checkout(request: nil, now: t0, deadline: t0 + .seconds(15), queue: true) else {
            Issue.record("expected a lease")
            return
        }
        #expect(first.timers.map(\.kind) == [.deadline])
        #expect(first.timers.first?.fireAt == t0 + .seconds(15))
        guard case .leased(_, let second) = machine.checkout(request: nil, now: t0 + .ms(1), deadline: t0 + .seconds(16), queue: true) else {
            Issue.record("expected a lease")
            return
        }
        #expect(second.timers.isEmpty)
    }

    @Test func anEarlierDeadlineArmsANewTimer() {
        var machine = connectedMachine(.test(poolSize: 2), at: t0)
        _ = machine.checkout(request: nil, now: t0, deadline: t0 + .seconds(15), queue: true)
        guard case .leased(_, let action) = machine.checkout(request: nil, now: t0, deadline: t0 + .ms(500), queue: true) else {
            Issue.record("expected a lease")
            return
        }
        #expect(action.timers.map(\.fireAt) == [t0 + .ms(500)])
    }

    @Test func aLeaseThatOverrunsItsDeadlineIsRevokedAndClosed() throws {
        var machine = connectedMachine(.test(), at: t0)
        guard case .leased(let grant, let action) = machine.checkout(request: nil, now: t0 + .ms(20), deadline: t0 + .ms(100), queue: true) else {
            Issue.record("expected a lease")
            return
        }
        let timer = try #require(action.timers.first)
        let fired = machine.timerFired(timer, now: t0 + .ms(100))
        #expect(fired.close.count == 1)
        #expect(fired.close.first?.revoking == grant.generation)
        #expect(fired.close.first?.error.reason == .deadline)
        #expect(
            fired.close.first?.error.message
                == "client timed out because it queued and checked out the connection for longer than 80ms"
        )
        // The late check-in of the stale lease is ignored; the slot reconnects once closed.
        #expect(machine.checkin(slot: grant.slot, generation: grant.generation, now: t0 + .ms(200)) == .none)
        #expect(machine.connectionClosed(slot: grant.slot, now: t0 + .ms(201)).connect == [grant.slot])
    }

    @Test func aCheckinBeforeTheDeadlineMakesTheTimerANoOp() throws {
        var machine = connectedMachine(.test(), at: t0)
        guard case .leased(let grant, let action) = machine.checkout(request: nil, now: t0, deadline: t0 + .ms(100), queue: true) else {
            Issue.record("expected a lease")
            return
        }
        #expect(machine.checkin(slot: grant.slot, generation: grant.generation, now: t0 + .ms(50)) == .none)
        let fired = machine.timerFired(try #require(action.timers.first), now: t0 + .ms(100))
        #expect(fired == .none)
        #expect(machine.metrics.idleConnections == 1)
    }

    @Test func anOldDeadlineDoesNotHitTheNextBorrower() throws {
        // Scenario 237: the timer fires after the connection was lent again with a later deadline.
        var machine = connectedMachine(.test(), at: t0)
        guard case .leased(let first, let action) = machine.checkout(request: nil, now: t0, deadline: t0 + .ms(100), queue: true) else {
            Issue.record("expected a lease")
            return
        }
        _ = machine.checkin(slot: first.slot, generation: first.generation, now: t0 + .ms(10))
        let second = machine.checkout(request: nil, now: t0 + .ms(20), deadline: t0 + .ms(1000), queue: true).grant!
        let fired = machine.timerFired(try #require(action.timers.first), now: t0 + .ms(100))
        #expect(fired.close.isEmpty)
        #expect(fired.timers.map(\.fireAt) == [t0 + .ms(1000)])
        #expect(machine.checkin(slot: second.slot, generation: second.generation, now: t0 + .ms(200)) == .none)
    }

    @Test func aWaiterWhoseDeadlinePassesInTheQueueFailsWithoutTakingAConnection() throws {
        var machine = connectedMachine(.test(), at: t0)
        let holder = machine.checkout(request: nil, now: t0, deadline: nil, queue: true).grant!
        guard case .queued(let action) = machine.checkout(request: 1, now: t0, deadline: t0 + .ms(30), queue: true) else {
            Issue.record("expected to queue")
            return
        }
        let fired = machine.timerFired(try #require(action.timers.first), now: t0 + .ms(30))
        #expect(fired.failures.map(\.request) == [1])
        #expect(fired.failures.first?.error.reason == .deadline)
        #expect(fired.failures.first?.error.message == "connection not available because deadline reached while in queue")
        #expect(machine.checkin(slot: holder.slot, generation: holder.generation, now: t0 + .ms(40)) == .none)
        #expect(machine.metrics.idleConnections == 1)
    }

    @Test func aWaiterPastItsDeadlineAtCheckinIsSkippedForTheNextOne() {
        var machine = connectedMachine(.test(), at: t0)
        let holder = machine.checkout(request: nil, now: t0, deadline: nil, queue: true).grant!
        _ = machine.checkout(request: 1, now: t0, deadline: t0 + .ms(30), queue: true)
        _ = machine.checkout(request: 2, now: t0, deadline: nil, queue: true)
        let action = machine.checkin(slot: holder.slot, generation: holder.generation, now: t0 + .ms(40))
        #expect(action.failures.map(\.request) == [1])
        #expect(action.lease?.request == 2)
    }

    @Test func noDeadlineMeansNoTimer() {
        var machine = connectedMachine(.test(), at: t0)
        guard case .leased(_, let action) = machine.checkout(request: nil, now: t0, deadline: nil, queue: true) else {
            Issue.record("expected a lease")
            return
        }
        #expect(action.timers.isEmpty)
    }
}
