import Testing

@testable import DBConnection

/// A lease past its deadline with a grace period: the pool takes it back and keeps the connection when
/// the driver confirms the interrupt and the connection checks clean, in either order, within the grace
/// period; otherwise it closes it (db_connection always closes it).
@Suite struct PoolStateMachineReclaimTests {
    let t0 = PoolInstant(offset: .seconds(1000))

    /// A pool of `poolSize` with one lease (deadline `t0 + 100 ms`) whose deadline has just fired.
    func overrun(poolSize: Int = 1) throws -> (Machine, Machine.Grant, Machine.Action) {
        var machine = connectedMachine(.test(poolSize: poolSize, interruptGracePeriod: .ms(500)), at: t0)
        let result = machine.checkout(request: nil, now: t0, deadline: t0 + .ms(100), queue: true)
        guard case .leased(let grant, let action) = result else { throw Unexpected(what: "\(result)") }
        let fired = machine.timerFired(try #require(action.timers.first), now: t0 + .ms(100))
        return (machine, grant, fired)
    }

    struct Unexpected: Error { var what: String }

    @Test func theDeadlineReclaimsTheLeaseInsteadOfClosingIt() throws {
        let (machine, grant, fired) = try overrun()
        #expect(fired.close.isEmpty)
        #expect(fired.reclaim.map(\.slot) == [grant.slot])
        #expect(fired.reclaim.first?.generation == grant.generation)
        #expect(fired.reclaim.first?.error.reason == .deadline)
        // The grace timer.
        #expect(fired.timers.map(\.fireAt) == [t0 + .ms(600)])
        // Still open and busy: nobody else gets it until it proves clean.
        #expect(machine.metrics == PoolMetrics(idleConnections: 0, busyConnections: 1, queueLength: 0, openConnections: 1))
    }

    @Test func confirmedAndCleanInEitherOrderMakesTheConnectionIdleAgain() throws {
        for confirmFirst in [true, false] {
            var (machine, grant, _) = try overrun()
            let first =
                confirmFirst
                ? machine.reclaimInterrupted(slot: grant.slot, generation: grant.generation, confirmed: true, now: t0 + .ms(110))
                : machine.reclaimChecked(slot: grant.slot, generation: grant.generation, clean: true, now: t0 + .ms(110))
            #expect(first == .none)
            #expect(machine.metrics.idleConnections == 0)
            let second =
                confirmFirst
                ? machine.reclaimChecked(slot: grant.slot, generation: grant.generation, clean: true, now: t0 + .ms(120))
                : machine.reclaimInterrupted(slot: grant.slot, generation: grant.generation, confirmed: true, now: t0 + .ms(120))
            #expect(second.close.isEmpty)
            #expect(machine.metrics == PoolMetrics(idleConnections: 1, busyConnections: 0, queueLength: 0, openConnections: 1))
            // The next caller gets it with a new generation.
            let next = try #require(machine.checkout(request: nil, now: t0 + .ms(130), deadline: nil, queue: true).grant)
            #expect(next.slot == grant.slot)
            #expect(next.generation == grant.generation + 1)
        }
    }

    @Test func aReclaimedConnectionGoesStraightToAWaiter() throws {
        var (machine, grant, _) = try overrun()
        let request: Machine.RequestID = 1
        guard case .queued = machine.checkout(request: request, now: t0 + .ms(105), deadline: nil, queue: true) else {
            Issue.record("expected to queue")
            return
        }
        _ = machine.reclaimInterrupted(slot: grant.slot, generation: grant.generation, confirmed: true, now: t0 + .ms(110))
        let action = machine.reclaimChecked(slot: grant.slot, generation: grant.generation, clean: true, now: t0 + .ms(120))
        #expect(action.lease?.request == request)
        #expect(action.lease?.grant.slot == grant.slot)
    }

    @Test func anUnconfirmedInterruptClosesTheConnectionWithoutInterruptingAgain() throws {
        var (machine, grant, _) = try overrun()
        let action = machine.reclaimInterrupted(slot: grant.slot, generation: grant.generation, confirmed: false, now: t0 + .ms(110))
        #expect(action.close.map(\.slot) == [grant.slot])
        #expect(action.close.first?.interrupt == false)
        #expect(action.close.first?.error.reason == .deadline)
        #expect(action.close.first?.error.message.contains("the driver could not confirm the interrupt") == true)
        // A late verdict is ignored; the slot reconnects once closed.
        #expect(machine.reclaimChecked(slot: grant.slot, generation: grant.generation, clean: true, now: t0 + .ms(120)) == .none)
        #expect(machine.connectionClosed(slot: grant.slot, now: t0 + .ms(130)).connect == [grant.slot])
    }

    @Test func aConnectionThatIsNotCleanIsClosed() throws {
        var (machine, grant, _) = try overrun()
        _ = machine.reclaimInterrupted(slot: grant.slot, generation: grant.generation, confirmed: true, now: t0 + .ms(110))
        let action = machine.reclaimChecked(slot: grant.slot, generation: grant.generation, clean: false, now: t0 + .ms(120))
        #expect(action.close.map(\.slot) == [grant.slot])
        #expect(action.close.first?.error.message.contains("not clean") == true)
        #expect(machine.metrics.busyConnections == 0)
    }

    @Test func theGracePeriodEndingFirstClosesTheConnection() throws {
        var (machine, grant, fired) = try overrun()
        _ = machine.reclaimInterrupted(slot: grant.slot, generation: grant.generation, confirmed: true, now: t0 + .ms(110))
        let grace = try #require(fired.timers.first)
        let action = machine.timerFired(grace, now: t0 + .ms(600))
        #expect(action.close.map(\.slot) == [grant.slot])
        #expect(action.close.first?.interrupt == false)
        #expect(action.close.first?.error.message.contains("did not end within the grace period of 500ms") == true)
        #expect(machine.reclaimChecked(slot: grant.slot, generation: grant.generation, clean: true, now: t0 + .ms(700)) == .none)
    }

    @Test func aGraceTimerOfAReclaimThatEndedDoesNothing() throws {
        var (machine, grant, fired) = try overrun()
        _ = machine.reclaimInterrupted(slot: grant.slot, generation: grant.generation, confirmed: true, now: t0 + .ms(110))
        _ = machine.reclaimChecked(slot: grant.slot, generation: grant.generation, clean: true, now: t0 + .ms(120))
        // Lent again, then the old grace timer fires: the new lease is untouched.
        let next = try #require(machine.checkout(request: nil, now: t0 + .ms(130), deadline: nil, queue: true).grant)
        #expect(machine.timerFired(try #require(fired.timers.first), now: t0 + .ms(600)) == .none)
        #expect(machine.checkin(slot: next.slot, generation: next.generation, now: t0 + .ms(700)) == .none)
        #expect(machine.metrics.idleConnections == 1)
    }

    @Test func aLateCheckinOfTheReclaimedLeaseIsIgnored() throws {
        var (machine, grant, _) = try overrun()
        #expect(machine.checkin(slot: grant.slot, generation: grant.generation, now: t0 + .ms(105)) == .none)
        #expect(machine.metrics.busyConnections == 1)
    }

    @Test func aShutdownDuringAReclaimClosesTheConnectionWhenItProvesClean() throws {
        var (machine, grant, _) = try overrun()
        let shutdown = machine.shutdown(now: t0 + .ms(105))
        #expect(shutdown.close.isEmpty)
        #expect(!shutdown.shutdownComplete)
        _ = machine.reclaimInterrupted(slot: grant.slot, generation: grant.generation, confirmed: true, now: t0 + .ms(110))
        let action = machine.reclaimChecked(slot: grant.slot, generation: grant.generation, clean: true, now: t0 + .ms(120))
        #expect(action.close.map(\.error.reason) == [.poolShutdown])
        #expect(machine.connectionClosed(slot: grant.slot, now: t0 + .ms(130)).shutdownComplete)
    }

    @Test func withoutAGracePeriodTheDeadlineClosesTheConnectionAsDBConnectionDoes() throws {
        var machine = connectedMachine(.test(interruptGracePeriod: nil), at: t0)
        let result = machine.checkout(request: nil, now: t0, deadline: t0 + .ms(100), queue: true)
        let action = try #require(result.action)
        let fired = machine.timerFired(try #require(action.timers.first), now: t0 + .ms(100))
        #expect(fired.reclaim.isEmpty)
        #expect(fired.close.count == 1)
    }
}
