import Testing

@testable import DBConnection

/// Executor affinity: a checkout that names its executor gets the longest-idle connection of that
/// executor when one is idle, and the longest-idle connection otherwise.
@Suite struct PoolStateMachineAffinityTests {
    let t0 = PoolInstant(offset: .seconds(1000))

    /// Every slot connected at `t0` with the given affinities (0: none), idle in slot order.
    func machine(affinities: [UInt]) -> Machine {
        var machine = Machine(configuration: .test(poolSize: affinities.count), now: t0)
        _ = machine.start(now: t0)
        for (slot, affinity) in affinities.enumerated() {
            _ = machine.connectSucceeded(slot: slot, now: t0, affinity: affinity)
        }
        return machine
    }

    @Test func aCheckoutGetsTheLongestIdleConnectionOfItsExecutor() {
        var machine = machine(affinities: [1, 2, 1, 2])
        #expect(machine.checkoutIdle(now: t0 + .ms(1), deadline: nil, affinity: 2)?.slot == 1)
        #expect(machine.checkoutIdle(now: t0 + .ms(2), deadline: nil, affinity: 2)?.slot == 3)
        // None of executor 2 is left: the longest-idle connection, whatever its executor.
        #expect(machine.checkoutIdle(now: t0 + .ms(3), deadline: nil, affinity: 2)?.slot == 0)
        #expect(machine.metrics.idleConnections == 1)
        // The full checkout prefers the same way.
        #expect(machine.checkin(slot: 1, generation: 1, now: t0 + .ms(4)) == .none)
        let grant = machine.checkout(request: nil, now: t0 + .ms(5), deadline: nil, queue: true, affinity: 2).grant
        #expect(grant?.slot == 1)
        #expect(grant?.idleTime == .ms(1))
    }

    @Test func withoutAnAffinityTheLongestIdleConnectionGoesFirst() {
        var machine = machine(affinities: [1, 2, 1, 2])
        #expect(machine.checkoutIdle(now: t0, deadline: nil)?.slot == 0)
        #expect(machine.checkoutIdle(now: t0, deadline: nil, affinity: 0)?.slot == 1)
        // Connections without an affinity never match one.
        var plain = self.machine(affinities: [0, 0])
        #expect(plain.checkoutIdle(now: t0, deadline: nil, affinity: 7)?.slot == 0)
    }

    @Test func theIdleOrderOfTheOthersIsKept() {
        var machine = machine(affinities: [1, 2, 1, 2])
        #expect(machine.checkoutIdle(now: t0, deadline: nil, affinity: 2)?.slot == 1)
        // 0, 2, 3 stay idle in that order.
        #expect(machine.checkoutIdle(now: t0, deadline: nil)?.slot == 0)
        #expect(machine.checkoutIdle(now: t0, deadline: nil)?.slot == 2)
        #expect(machine.checkoutIdle(now: t0, deadline: nil)?.slot == 3)
        #expect(machine.checkoutIdle(now: t0, deadline: nil) == nil)
    }

    @Test func aClosedConnectionOfTheExecutorIsSkipped() {
        var machine = machine(affinities: [1, 2, 1])
        // Slot 1 is closed while idle: its idle entry stays behind, stale.
        #expect(machine.close(slot: 1, error: .closed(pool: nil, call: nil)).close.map(\.slot) == [1])
        #expect(machine.checkoutIdle(now: t0, deadline: nil, affinity: 2)?.slot == 0)
    }

    @Test func aReconnectedSlotTakesTheAffinityOfItsNewConnection() {
        var machine = machine(affinities: [1, 2])
        let grant = machine.checkoutIdle(now: t0, deadline: nil, affinity: 1)!
        _ = machine.disconnect(slot: grant.slot, generation: grant.generation, error: .closed(pool: nil, call: nil), stop: false, now: t0)
        #expect(machine.connectionClosed(slot: 0, now: t0).connect == [0])
        _ = machine.connectSucceeded(slot: 0, now: t0 + .ms(1), affinity: 2)
        // Both connections are now of executor 2; nothing is of executor 1.
        #expect(machine.checkoutIdle(now: t0 + .ms(2), deadline: nil, affinity: 2)?.slot == 1)
        #expect(machine.checkoutIdle(now: t0 + .ms(2), deadline: nil, affinity: 2)?.slot == 0)
    }

    @Test func theSearchIsBounded() {
        let limit = Machine.affinityScanLimit
        // The only connection of executor 2 sits behind `limit` others: the longest-idle one wins.
        var far = machine(affinities: Array(repeating: 1, count: limit) + [2])
        #expect(far.checkoutIdle(now: t0, deadline: nil, affinity: 2)?.slot == 0)
        // Within the bound it is found.
        var near = machine(affinities: Array(repeating: 1, count: limit - 1) + [2])
        #expect(near.checkoutIdle(now: t0, deadline: nil, affinity: 2)?.slot == limit - 1)
    }

    @Test func waitersAreServedInQueueOrderWhateverTheirExecutor() {
        var machine = machine(affinities: [1])
        let grant = machine.checkoutIdle(now: t0, deadline: nil, affinity: 1)!
        #expect(machine.checkout(request: 1, now: t0 + .ms(1), deadline: nil, queue: true, affinity: 2).isQueued)
        let action = machine.checkin(slot: grant.slot, generation: grant.generation, now: t0 + .ms(2))
        #expect(action.lease?.request == 1)
    }
}
