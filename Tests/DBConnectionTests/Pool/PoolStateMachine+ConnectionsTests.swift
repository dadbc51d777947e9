import Logging
import Testing

@testable import DBConnection

/// One connection's life: connect, backoff, idle pings, recycling, shutdown, restart intensity.
@Suite struct PoolStateMachineConnectionsTests {
    let t0 = PoolInstant(offset: .seconds(1000))

    @Test func startConnectsEverySlotAndArmsPollAndIdleTimers() {
        var machine = Machine(configuration: .test(poolSize: 3), now: t0)
        let action = machine.start(now: t0)
        #expect(action.connect == [0, 1, 2])
        #expect(action.timers.map(\.fireAt) == [t0 + .ms(1000), t0 + .seconds(1)])
        #expect(machine.metrics == PoolMetrics(idleConnections: 0, busyConnections: 0, queueLength: 0, openConnections: 0))
    }

    @Test func aNewConnectionGoesToTheHeadWaiter() {
        var machine = Machine(configuration: .test(), now: t0)
        _ = machine.start(now: t0)
        _ = machine.checkout(request: 1, now: t0, deadline: nil, queue: true)
        let action = machine.connectSucceeded(slot: 0, now: t0 + .ms(5))
        #expect(action.lease?.request == 1)
        #expect(action.lease?.grant.idleTime == .zero)
    }

    @Test func aFailedConnectBacksOffThenConnectsAgain() throws {
        // Scenario 18 at the machine level: exp backoff from 200 ms.
        var machine = Machine(configuration: .test(backoffType: .exp, backoffMin: .ms(200)), now: t0)
        _ = machine.start(now: t0)
        var action = machine.connectFailed(slot: 0, now: t0 + .ms(1))
        let timer = try #require(action.timers.first)
        #expect(timer.kind == .backoff(0))
        #expect(timer.fireAt == t0 + .ms(201))
        action = machine.timerFired(timer, now: timer.fireAt)
        #expect(action.connect == [0])
        action = machine.connectFailed(slot: 0, now: t0 + .ms(202))
        #expect(action.timers.first?.fireAt == t0 + .ms(602))
    }

    @Test func backoffResetsAfterASuccessfulConnect() throws {
        var machine = Machine(configuration: .test(backoffType: .exp, backoffMin: .ms(200)), now: t0)
        _ = machine.start(now: t0)
        var action = machine.connectFailed(slot: 0, now: t0)
        action = machine.timerFired(action.timers[0], now: action.timers[0].fireAt)
        _ = machine.connectSucceeded(slot: 0, now: t0 + .ms(300))
        let grant = machine.checkout(request: nil, now: t0 + .ms(300), deadline: nil, queue: true).grant!
        _ = machine.disconnect(slot: 0, generation: grant.generation, error: .closed(pool: nil, call: nil), stop: false, now: t0 + .ms(301))
        // A disconnect of a working connection reconnects at once (scenario 257).
        #expect(machine.connectionClosed(slot: 0, now: t0 + .ms(302)).connect == [0])
        action = machine.connectFailed(slot: 0, now: t0 + .ms(303))
        #expect(action.timers.first?.fireAt == t0 + .ms(503))
    }

    @Test func backoffStopEndsTheSlotOnAFailedConnect() {
        var machine = Machine(configuration: .test(backoffType: .stop), now: t0)
        _ = machine.start(now: t0)
        #expect(machine.connectFailed(slot: 0, now: t0) == .none)
        #expect(machine.slots[0].state == .ended)
    }

    @Test func backoffStopEndsTheSlotAfterADisconnect() {
        var machine = connectedMachine(.test(backoffType: .stop), at: t0)
        let grant = machine.checkout(request: nil, now: t0, deadline: nil, queue: true).grant!
        let action = machine.disconnect(slot: 0, generation: grant.generation, error: .closed(pool: nil, call: nil), stop: false, now: t0)
        #expect(action.close.map(\.slot) == [0])
        #expect(machine.connectionClosed(slot: 0, now: t0) == .none)
        #expect(machine.slots[0].state == .ended)
    }

    @Test func theIdleTickPingsConnectionsIdleSinceBeforeItWasArmedOldestFirst() throws {
        // Scenarios 54, 55, 249: idle_limit caps pings per tick.
        var machine = Machine(configuration: .test(poolSize: 2, idleInterval: .ms(100), idleLimit: 1), now: t0)
        let start = machine.start(now: t0)
        _ = machine.connectSucceeded(slot: 0, now: t0 + .ms(1))
        _ = machine.connectSucceeded(slot: 1, now: t0 + .ms(2))
        var idle = try #require(start.timers.first { if case .idle = $0.kind { true } else { false } })
        // Armed at t0: both connections joined after it, so the first tick pings nothing.
        var action = machine.timerFired(idle, now: idle.fireAt)
        #expect(action.ping.isEmpty)
        idle = action.timers[0]
        action = machine.timerFired(idle, now: idle.fireAt)
        #expect(action.ping == [0])
        _ = machine.pingSucceeded(slot: 0, now: idle.fireAt + .ms(1))
        idle = action.timers[0]
        action = machine.timerFired(idle, now: idle.fireAt)
        #expect(action.ping == [1])
        _ = machine.pingSucceeded(slot: 1, now: idle.fireAt + .ms(1))
        idle = action.timers[0]
        action = machine.timerFired(idle, now: idle.fireAt)
        #expect(action.ping == [0])
    }

    @Test func aBusyPoolPingsNothing() throws {
        var machine = Machine(configuration: .test(idleInterval: .ms(100)), now: t0)
        let start = machine.start(now: t0)
        _ = machine.connectSucceeded(slot: 0, now: t0)
        _ = machine.checkout(request: nil, now: t0, deadline: nil, queue: true)
        _ = machine.checkout(request: 1, now: t0, deadline: nil, queue: true)
        let idle = try #require(start.timers.first { if case .idle = $0.kind { true } else { false } })
        #expect(machine.timerFired(idle, now: idle.fireAt).ping.isEmpty)
    }

    @Test func aFailedPingClosesTheConnectionAndItReconnects() {
        var machine = connectedMachine(.test(idleInterval: .ms(100)), at: t0)
        _ = machine.idleTick(armedAt: t0 + .ms(50), now: t0 + .ms(150))
        let action = machine.pingFailed(slot: 0, error: .closed(pool: nil, call: "ping"))
        #expect(action.close.map(\.slot) == [0])
        #expect(machine.connectionClosed(slot: 0, now: t0 + .ms(151)).connect == [0])
    }

    @Test func disconnectAllRecyclesAConnectionAtItsNextCheckin() {
        // Scenario 181: the connection serves one more request and is recycled when it comes back.
        var machine = connectedMachine(.test(), at: t0)
        machine.disconnectAll(interval: .zero, now: t0 + .ms(1))
        let grant = machine.checkout(request: nil, now: t0 + .ms(2), deadline: nil, queue: true).grant!
        let action = machine.checkin(slot: 0, generation: grant.generation, now: t0 + .ms(3))
        #expect(action.close.first?.error.message == "disconnect_all requested")
        #expect(action.close.first?.error.severity == .debug)
        _ = machine.connectionClosed(slot: 0, now: t0 + .ms(4))
        _ = machine.connectSucceeded(slot: 0, now: t0 + .ms(5))
        // Connected after the request: not affected.
        let again = machine.checkout(request: nil, now: t0 + .ms(6), deadline: nil, queue: true).grant!
        #expect(machine.checkin(slot: 0, generation: again.generation, now: t0 + .ms(7)) == .none)
    }

    @Test func disconnectAllRecyclesAnIdleConnectionAtTheIdleTick() {
        // Scenario 182.
        var machine = connectedMachine(.test(idleInterval: .ms(200)), at: t0)
        machine.disconnectAll(interval: .zero, now: t0 + .ms(1))
        let action = machine.idleTick(armedAt: t0 + .ms(10), now: t0 + .ms(210))
        #expect(action.ping.isEmpty)
        #expect(action.close.first?.error.message == "disconnect_all requested")
    }

    @Test func disconnectAllSpreadsOverItsInterval() {
        var machine = connectedMachine(.test(), at: t0)
        machine.disconnectAll(interval: .seconds(10), now: t0 + .ms(1))
        let offset = Machine.spread(machine.slots[0].spread, over: .seconds(10)) + .ms(1)
        let grant = machine.checkout(request: nil, now: t0, deadline: nil, queue: true).grant!
        #expect(machine.checkin(slot: 0, generation: grant.generation, now: t0 + offset) == .none)
        let again = machine.checkout(request: nil, now: t0 + offset, deadline: nil, queue: true).grant!
        #expect(machine.checkin(slot: 0, generation: again.generation, now: t0 + offset + .ms(1)).close.count == 1)
    }

    @Test func maxLifetimeRecyclesAnOldConnectionAtCheckin() {
        // Scenario 185.
        var machine = connectedMachine(.test(maxLifetime: .ms(50) ... .ms(50)), at: t0)
        let grant = machine.checkout(request: nil, now: t0, deadline: nil, queue: true).grant!
        let action = machine.checkin(slot: 0, generation: grant.generation, now: t0 + .ms(500))
        #expect(action.close.first?.error.message == "max_lifetime exceeded")
    }

    @Test func maxLifetimeCountsFromConnectNotFromTheLastPing() {
        // Scenario 183/253.
        var machine = connectedMachine(.test(idleInterval: .ms(50), maxLifetime: .ms(200) ... .ms(200)), at: t0)
        var action = machine.idleTick(armedAt: t0 + .ms(50), now: t0 + .ms(100))
        #expect(action.ping == [0])
        _ = machine.pingSucceeded(slot: 0, now: t0 + .ms(101))
        action = machine.idleTick(armedAt: t0 + .ms(150), now: t0 + .ms(250))
        #expect(action.close.first?.error.message == "max_lifetime exceeded")
    }

    @Test func shutdownFailsWaitersClosesIdleConnectionsAndWaitsForLeases() {
        var machine = connectedMachine(.test(poolSize: 2), at: t0)
        let leased = machine.checkout(request: nil, now: t0, deadline: nil, queue: true).grant!
        _ = machine.checkout(request: nil, now: t0, deadline: nil, queue: true)
        _ = machine.checkout(request: 9, now: t0, deadline: nil, queue: true)
        let second = 1 - leased.slot
        _ = machine.checkin(slot: second, generation: 1, now: t0 + .ms(1)).lease
        // Slot `second` went to waiter 9; give it back so it is idle.
        _ = machine.checkin(slot: second, generation: 2, now: t0 + .ms(2))
        _ = machine.checkout(request: 10, now: t0 + .ms(3), deadline: nil, queue: true)
        var action = machine.shutdown(now: t0 + .ms(4))
        #expect(action.failures.map(\.error.reason).allSatisfy { $0 == .poolShutdown })
        #expect(!action.shutdownComplete)
        #expect(machine.checkout(request: nil, now: t0, deadline: nil, queue: true).error?.reason == .poolShutdown)
        for close in action.close { _ = machine.connectionClosed(slot: close.slot, now: t0 + .ms(5)) }
        // Every lease comes back: closed, not pooled.
        for slot in machine.slots.indices {
            if case .leased(let lease) = machine.slots[slot].state {
                action = machine.checkin(slot: slot, generation: lease.generation, now: t0 + .ms(6))
                #expect(action.close.map(\.slot) == [slot])
                action = machine.connectionClosed(slot: slot, now: t0 + .ms(7))
            }
        }
        #expect(action.shutdownComplete)
    }

    @Test func tooManyCrashesWithinMaxSecondsStopThePool() {
        var machine = connectedMachine(.test(maxRestarts: 1, maxSeconds: .seconds(5)), at: t0)
        let crash = ConnectionError(.closed, message: "crashed")
        var grant = machine.checkout(request: nil, now: t0, deadline: nil, queue: true).grant!
        var action = machine.disconnect(slot: 0, generation: grant.generation, error: crash, stop: true, now: t0)
        #expect(action.stopped == nil)
        _ = machine.connectionClosed(slot: 0, now: t0)
        _ = machine.connectSucceeded(slot: 0, now: t0 + .ms(1))
        grant = machine.checkout(request: nil, now: t0 + .ms(2), deadline: nil, queue: true).grant!
        _ = machine.checkout(request: 5, now: t0 + .ms(2), deadline: nil, queue: true)
        action = machine.disconnect(slot: 0, generation: grant.generation, error: crash, stop: true, now: t0 + .ms(3))
        #expect(action.stopped?.reason == .poolStopped)
        #expect(action.failures.map(\.request) == [5])
        #expect(machine.checkout(request: nil, now: t0 + .ms(4), deadline: nil, queue: true).error?.reason == .poolStopped)
        #expect(machine.connectionClosed(slot: 0, now: t0 + .ms(5)).shutdownComplete)
    }

    @Test func crashesOutsideTheWindowAreForgotten() {
        var machine = connectedMachine(.test(maxRestarts: 1, maxSeconds: .seconds(5)), at: t0)
        let crash = ConnectionError(.closed, message: "crashed")
        for i in 0..<4 {
            let now = t0 + .seconds(6 * i)
            let grant = machine.checkout(request: nil, now: now, deadline: nil, queue: true).grant!
            #expect(machine.disconnect(slot: 0, generation: grant.generation, error: crash, stop: true, now: now).stopped == nil)
            _ = machine.connectionClosed(slot: 0, now: now)
            _ = machine.connectSucceeded(slot: 0, now: now)
        }
    }
}
