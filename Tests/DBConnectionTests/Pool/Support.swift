@testable import DBConnection

typealias Machine = PoolStateMachine

extension PoolStateMachine.Configuration {
    static func test(
        poolSize: Int = 1,
        queueTarget: Duration = .milliseconds(50),
        queueInterval: Duration = .milliseconds(1000),
        idleInterval: Duration = .seconds(1),
        idleLimit: Int? = nil,
        backoffType: BackoffType = .exp,
        backoffMin: Duration = .milliseconds(200),
        backoffMax: Duration = .seconds(30),
        maxLifetime: ClosedRange<Duration>? = nil,
        maxRestarts: Int = 3,
        maxSeconds: Duration = .seconds(5),
        interruptGracePeriod: Duration? = nil
    ) -> Self {
        .init(
            name: "test",
            poolSize: poolSize,
            queueTarget: queueTarget,
            queueInterval: queueInterval,
            idleInterval: idleInterval,
            idleLimit: idleLimit ?? poolSize,
            backoffType: backoffType,
            backoffMin: backoffMin,
            backoffMax: backoffMax,
            maxLifetime: maxLifetime,
            maxRestarts: maxRestarts,
            maxSeconds: maxSeconds,
            seed: 42,
            interruptGracePeriod: interruptGracePeriod
        )
    }
}

/// A machine with every slot connected at `t0`, idle in slot order.
func connectedMachine(_ configuration: Machine.Configuration, at t0: PoolInstant) -> Machine {
    var machine = Machine(configuration: configuration, now: t0)
    _ = machine.start(now: t0)
    for slot in 0..<configuration.poolSize {
        _ = machine.connectSucceeded(slot: slot, now: t0)
    }
    return machine
}

extension PoolStateMachine.CheckoutResult {
    var grant: PoolStateMachine.Grant? {
        if case .leased(let grant, _) = self { return grant }
        return nil
    }

    var action: PoolStateMachine.Action? {
        if case .leased(_, let action) = self { return action }
        return nil
    }
    var error: ConnectionError? {
        if case .failed(let error) = self { return error }
        return nil
    }
    var isQueued: Bool {
        if case .queued = self { return true }
        return false
    }
}

extension Duration {
    static func ms(_ n: Int) -> Duration { .milliseconds(n) }
}
