import Logging
import Testing

@testable import DBConnection

/// The queue and its CoDel record, event by event with explicit instants (db_connection's
/// `connection_pool.ex`; scenarios 45, 46, 49, 239, 241–246).
@Suite struct PoolStateMachineQueueTests {
    let t0 = PoolInstant(offset: .seconds(1000))

    @Test func theLongestIdleConnectionIsHandedOutFirst() {
        var machine = connectedMachine(.test(poolSize: 2), at: t0)
        let a = machine.checkout(request: nil, now: t0 + .ms(1), deadline: nil, queue: true).grant!
        let b = machine.checkout(request: nil, now: t0 + .ms(1), deadline: nil, queue: true).grant!
        #expect(machine.checkin(slot: b.slot, generation: b.generation, now: t0 + .ms(2)) == .none)
        #expect(machine.checkin(slot: a.slot, generation: a.generation, now: t0 + .ms(3)) == .none)
        #expect(machine.checkout(request: nil, now: t0 + .ms(4), deadline: nil, queue: true).grant?.slot == b.slot)
    }

    @Test func idleTimeIsTheTimeSinceTheLastCheckin() {
        var machine = connectedMachine(.test(), at: t0)
        let grant = machine.checkout(request: nil, now: t0 + .ms(30), deadline: nil, queue: true).grant
        #expect(grant?.idleTime == .ms(30))
        #expect(grant?.generation == 1)
    }

    @Test func theIdleFastPathLendsAsCheckoutDoesAndLeavesEverythingElseToIt() {
        var machine = connectedMachine(.test(poolSize: 2), at: t0)
        // No deadline timer armed yet: the full checkout must arm one.
        let declined = machine.checkoutIdle(now: t0 + .ms(1), deadline: t0 + .seconds(10))
        #expect(declined == nil)
        #expect(machine.metrics.idleConnections == 2)
        let first = machine.checkout(request: nil, now: t0 + .ms(1), deadline: t0 + .seconds(5), queue: true)
        #expect(first.action?.timers.count == 1)
        // A later deadline needs no timer: the fast path lends the longest-idle connection.
        let grant = machine.checkoutIdle(now: t0 + .ms(30), deadline: t0 + .seconds(10))
        #expect(grant == Machine.Grant(slot: 1, generation: 1, idleTime: .ms(30), deadline: t0 + .seconds(10)))
        #expect(machine.metrics.busyConnections == 2)
        // Nothing idle: declined, and the full checkout asks the caller to wait.
        let noneIdle = machine.checkoutIdle(now: t0 + .ms(31), deadline: nil)
        #expect(noneIdle == nil)
        #expect(machine.checkout(request: nil, now: t0 + .ms(31), deadline: nil, queue: true) == .mustWait)
        // A pool shutting down is the full checkout's: it fails the caller.
        #expect(machine.checkin(slot: 1, generation: 1, now: t0 + .ms(32)) == .none)
        _ = machine.shutdown(now: t0 + .ms(34))
        let whileShuttingDown = machine.checkoutIdle(now: t0 + .ms(35), deadline: nil)
        #expect(whileShuttingDown == nil)
        #expect(machine.checkout(request: nil, now: t0 + .ms(35), deadline: nil, queue: true).error?.reason == .poolShutdown)
    }

    @Test func theCheckinFastPathOnlyReturnsAConnectionToIdleWhenNothingElseIsToBeDone() {
        var machine = connectedMachine(.test(), at: t0)
        let grant = machine.checkoutIdle(now: t0, deadline: nil)!
        let stale = machine.checkinToIdle(slot: grant.slot, generation: grant.generation + 1, now: t0 + .ms(1))
        #expect(!stale)
        #expect(machine.metrics.busyConnections == 1)
        let current = machine.checkinToIdle(slot: grant.slot, generation: grant.generation, now: t0 + .ms(1))
        #expect(current)
        #expect(machine.metrics.idleConnections == 1 && machine.metrics.busyConnections == 0)
        let twice = machine.checkinToIdle(slot: grant.slot, generation: grant.generation, now: t0 + .ms(2))
        #expect(!twice)

        // A waiter: the full check-in hands the connection over.
        let second = machine.checkoutIdle(now: t0 + .ms(3), deadline: nil)!
        #expect(machine.checkout(request: 1, now: t0 + .ms(3), deadline: nil, queue: true).isQueued)
        let withWaiter = machine.checkinToIdle(slot: second.slot, generation: second.generation, now: t0 + .ms(4))
        #expect(!withWaiter)
        let handOver = machine.checkin(slot: second.slot, generation: second.generation, now: t0 + .ms(4))
        #expect(handOver.lease?.request == 1)

        // Recycling requested: the full check-in closes the connection.
        let third = handOver.lease!.grant
        #expect(machine.checkin(slot: third.slot, generation: third.generation, now: t0 + .ms(5)) == .none)
        let fourth = machine.checkoutIdle(now: t0 + .ms(6), deadline: nil)!
        machine.disconnectAll(interval: .zero, now: t0 + .ms(7))
        let recycling = machine.checkinToIdle(slot: fourth.slot, generation: fourth.generation, now: t0 + .ms(8))
        #expect(!recycling)
        #expect(machine.checkin(slot: fourth.slot, generation: fourth.generation, now: t0 + .ms(8)).close.count == 1)
    }

    @Test func queueFalseFailsAtOnceWhenNothingIsIdle() {
        var machine = connectedMachine(.test(), at: t0)
        _ = machine.checkout(request: nil, now: t0, deadline: nil, queue: true)
        let error = machine.checkout(request: 7, now: t0, deadline: nil, queue: false).error
        #expect(error?.reason == .queueDisabled)
        #expect(error?.message == "connection not available and queuing is disabled")
        #expect(machine.metrics.queueLength == 0)
    }

    @Test func queueFalseFailsAtOnceWhenThePoolHasNoConnectionAtAll() {
        var machine = Machine(configuration: .test(), now: t0)
        _ = machine.start(now: t0)
        #expect(machine.checkout(request: 1, now: t0, deadline: nil, queue: false).error?.reason == .queueDisabled)
    }

    @Test func withoutARequestIDABusyPoolAsksTheCallerToWait() {
        var machine = connectedMachine(.test(), at: t0)
        _ = machine.checkout(request: nil, now: t0, deadline: nil, queue: true)
        #expect(machine.checkout(request: nil, now: t0, deadline: nil, queue: true) == .mustWait)
        #expect(machine.metrics.queueLength == 0)
    }

    @Test func waitersAreServedFirstComeFirstServed() {
        var machine = connectedMachine(.test(), at: t0)
        var grant = machine.checkout(request: nil, now: t0, deadline: nil, queue: true).grant!
        for request in 1...3 as ClosedRange<UInt64> {
            #expect(machine.checkout(request: request, now: t0 + .ms(Int(request)), deadline: nil, queue: true).isQueued)
        }
        #expect(machine.metrics.queueLength == 3)
        for request in 1...3 as ClosedRange<UInt64> {
            let action = machine.checkin(slot: grant.slot, generation: grant.generation, now: t0 + .ms(10 * Int(request)))
            #expect(action.lease?.request == request)
            #expect(action.failures.isEmpty)
            grant = action.lease!.grant
        }
        #expect(machine.metrics.queueLength == 0)
    }

    @Test func aCancelledWaiterIsSkippedAndTheNextOneServed() {
        var machine = connectedMachine(.test(), at: t0)
        let grant = machine.checkout(request: nil, now: t0, deadline: nil, queue: true).grant!
        _ = machine.checkout(request: 1, now: t0, deadline: nil, queue: true)
        _ = machine.checkout(request: 2, now: t0, deadline: nil, queue: true)
        let first = machine.cancelCheckout(1)
        let second = machine.cancelCheckout(1)
        #expect(first)
        #expect(!second)
        #expect(machine.metrics.queueLength == 1)
        let action = machine.checkin(slot: grant.slot, generation: grant.generation, now: t0 + .ms(5))
        #expect(action.lease?.request == 2)
    }

    @Test func aConnectionCheckedInWithNoWaitersLeftBecomesIdle() {
        var machine = connectedMachine(.test(), at: t0)
        let grant = machine.checkout(request: nil, now: t0, deadline: nil, queue: true).grant!
        _ = machine.checkout(request: 1, now: t0, deadline: nil, queue: true)
        _ = machine.cancelCheckout(1)
        #expect(machine.checkin(slot: grant.slot, generation: grant.generation, now: t0 + .ms(5)) == .none)
        #expect(machine.metrics == PoolMetrics(idleConnections: 1, busyConnections: 0, queueLength: 0, openConnections: 1))
    }

    @Test func noWaiterIsDroppedWithoutASlowInterval() {
        // Scenario 242: a burst shorter than one interval is served in order, however long each waited.
        var machine = connectedMachine(.test(queueTarget: .ms(50), queueInterval: .ms(2000)), at: t0)
        var grant = machine.checkout(request: nil, now: t0, deadline: nil, queue: true).grant!
        for request in 1...5 as ClosedRange<UInt64> {
            _ = machine.checkout(request: request, now: t0 + .ms(1), deadline: nil, queue: true)
        }
        for request in 1...5 as ClosedRange<UInt64> {
            let action = machine.checkin(slot: grant.slot, generation: grant.generation, now: t0 + .ms(300 * Int(request)))
            #expect(action.failures.isEmpty)
            #expect(action.lease?.request == request)
            grant = action.lease!.grant
        }
    }

    @Test func aSlowIntervalDropsWaitersOlderThanTwiceTheTargetAtCheckin() {
        // Scenario 243, walked through: target 50 ms, interval 1000 ms, one connection.
        var machine = connectedMachine(.test(queueTarget: .ms(50), queueInterval: .ms(1000)), at: t0)
        // The connection joining at t0 was the first dequeue of an interval ending at t0 + 1000 ms.
        #expect(machine.codel == .init(delay: .zero, slow: false, next: t0 + .ms(1000)))
        let c1 = machine.checkout(request: nil, now: t0, deadline: nil, queue: true).grant!
        _ = machine.checkout(request: 2, now: t0, deadline: nil, queue: true)
        _ = machine.checkout(request: 3, now: t0 + .ms(10), deadline: nil, queue: true)

        // First dequeue of a new interval: not slow (the last minimum was 0); the new minimum is 1100 ms.
        var action = machine.checkin(slot: c1.slot, generation: c1.generation, now: t0 + .ms(1100))
        #expect(action.lease?.request == 2)
        #expect(machine.codel == .init(delay: .ms(1100), slow: false, next: t0 + .ms(2100)))

        // Not slow: served although it waited 1190 ms; the minimum stays 1100 ms.
        action = machine.checkin(slot: c1.slot, generation: action.lease!.grant.generation, now: t0 + .ms(1200))
        #expect(action.lease?.request == 3)
        #expect(action.failures.isEmpty)
        #expect(machine.codel.delay == .ms(1100))

        _ = machine.checkout(request: 4, now: t0 + .ms(1300), deadline: nil, queue: true)
        _ = machine.checkout(request: 5, now: t0 + .ms(2150), deadline: nil, queue: true)

        // The interval ended with a minimum above target: a slow interval starts, and its first
        // dequeue still serves the head unconditionally (900 ms).
        action = machine.checkin(slot: c1.slot, generation: action.lease!.grant.generation, now: t0 + .ms(2200))
        #expect(action.lease?.request == 4)
        #expect(machine.codel == .init(delay: .ms(900), slow: true, next: t0 + .ms(3200)))

        _ = machine.checkout(request: 6, now: t0 + .ms(2250), deadline: nil, queue: true)

        // Slow: request 5 waited 150 ms > 100 ms and is dropped; request 6 waited 50 ms and is served.
        action = machine.checkin(slot: c1.slot, generation: action.lease!.grant.generation, now: t0 + .ms(2300))
        #expect(action.failures.map(\.request) == [5])
        #expect(action.failures.first?.error.reason == .queueTimeout)
        #expect(action.lease?.request == 6)
        #expect(machine.codel.delay == .ms(50))
    }

    @Test func whenEveryWaiterIsDroppedTheConnectionBecomesIdle() {
        var machine = connectedMachine(.test(queueTarget: .ms(50), queueInterval: .ms(1000)), at: t0)
        let c1 = machine.checkout(request: nil, now: t0, deadline: nil, queue: true).grant!
        _ = machine.checkout(request: 2, now: t0, deadline: nil, queue: true)
        var action = machine.checkin(slot: c1.slot, generation: c1.generation, now: t0 + .ms(1000))
        _ = machine.checkout(request: 3, now: t0 + .ms(1000), deadline: nil, queue: true)
        action = machine.checkin(slot: c1.slot, generation: action.lease!.grant.generation, now: t0 + .ms(2000))
        // First dequeue of the next interval serves request 3 (1000 ms) and turns slow.
        #expect(action.lease?.request == 3)
        _ = machine.checkout(request: 4, now: t0 + .ms(2000), deadline: nil, queue: true)
        action = machine.checkin(slot: c1.slot, generation: action.lease!.grant.generation, now: t0 + .ms(2500))
        #expect(action.failures.map(\.request) == [4])
        #expect(action.lease == nil)
        #expect(machine.metrics.idleConnections == 1)
        #expect(machine.codel.delay == .zero)
    }

    @Test func aStalledPoolDropsAtTheThirdPollAfterTheQueueFormed() {
        // Scenario 245: no check-ins at all; polls every interval.
        var machine = Machine(configuration: .test(queueTarget: .ms(50), queueInterval: .ms(1000)), now: t0)
        let start = machine.start(now: t0)
        _ = machine.connectSucceeded(slot: 0, now: t0)
        _ = machine.checkout(request: nil, now: t0, deadline: nil, queue: true)
        _ = machine.checkout(request: 1, now: t0 + .ms(10), deadline: nil, queue: true)
        var poll = start.timers.first { if case .poll = $0.kind { true } else { false } }!
        #expect(poll.fireAt == t0 + .ms(1000))

        // Poll 1: the head is new (progress): re-arm only.
        var action = machine.timerFired(poll, now: poll.fireAt)
        #expect(action.failures.isEmpty)
        poll = action.timers[0]
        #expect(poll.kind == .poll(lastSent: t0 + .ms(10)))

        // Poll 2: no progress; the interval ended with a minimum (0) under target: a new interval
        // starts whose minimum is the head's wait.
        action = machine.timerFired(poll, now: poll.fireAt)
        #expect(action.failures.isEmpty)
        #expect(machine.codel == .init(delay: .ms(1990), slow: false, next: t0 + .ms(3000)))
        poll = action.timers[0]

        // Poll 3: no progress and the interval was slow: drop everyone older than 2 × target.
        action = machine.timerFired(poll, now: poll.fireAt)
        #expect(action.failures.map(\.request) == [1])
        #expect(action.failures[0].error.reason == .queueTimeout)
        #expect(machine.codel.slow)
        #expect(machine.metrics.queueLength == 0)
    }

    @Test func aPollWithAStaleIDDoesNothing() {
        var machine = Machine(configuration: .test(), now: t0)
        let start = machine.start(now: t0)
        let poll = start.timers[0]
        _ = machine.timerFired(poll, now: poll.fireAt)
        #expect(machine.timerFired(poll, now: poll.fireAt) == .none)
    }

    @Test func theDropMessageSaysWhatHappenedAndTheFourWaysOut() {
        let error = ConnectionError.queueDropped(after: .ms(1234), pool: "MyRepo")
        #expect(error.reason == .queueTimeout)
        #expect(error.severity == .error)
        let text = error.description
        #expect(text.hasPrefix("[MyRepo] checkout: connection not available and request was dropped from queue after 1234ms."))
        #expect(text.contains("1. Ensuring your database is available"))
        #expect(text.contains("2. Tracking down slow queries"))
        #expect(text.contains("3. Increasing the poolSize"))
        #expect(text.contains("4. Allowing requests to wait longer by increasing queueTarget and queueInterval"))
    }
}
