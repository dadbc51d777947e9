import DBConnection
import DBConnectionTesting
import Testing

/// The runner asks the driver for the caller's executor at every checkout, and for each connection's
/// executor once it connects.
@Suite(.timeLimit(.minutes(1))) struct ConnectionPoolAffinityTests {
    final class Loop: Sendable {}

    @Test func aCheckoutGetsAConnectionOfTheCallersExecutorWhenOneIsIdle() async throws {
        let loops = [Loop(), Loop()]
        // Connections 1 and 3 on the first loop, 2 and 4 on the second.
        let affinity: @Sendable (Int) -> ExecutorAffinity? = { ExecutorAffinity(loops[($0 - 1) % 2]) }
        let script = Script(Array(repeating: .ok(), count: 4))
        let clock = ManualClock()
        var config = PoolConfiguration<ScriptedConnection>()
        config.poolSize = 4
        let events = Events()
        config.connectionListeners = [events.listener]
        let pool = try ConnectionPool<ScriptedConnection>(
            options: ScriptedOptions(script: script, executorAffinity: affinity),
            configuration: config,
            clock: clock
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await pool.run() }
            for _ in 0..<4 { _ = await events.next() }
            while pool.metrics().idleConnections < 4 { await Task.yield() }

            // No executor: the longest-idle connection, as always (the pool connects in parallel, so
            // which one that is is not known here; its loop is).
            let plain = try await pool.checkout(options: .init())
            pool.checkin(plain)

            for loop in loops + loops.reversed() {
                let lease = try await ScriptedConnection.$callerAffinity.withValue(ExecutorAffinity(loop)) {
                    try await pool.checkout(options: .init())
                }
                #expect(lease.holder.connection.executorAffinity == ExecutorAffinity(loop))
                pool.checkin(lease)
            }

            // Two callers of the first loop hold both of its connections: a third gets one of the
            // other loop rather than waiting.
            let first = ExecutorAffinity(loops[0])
            let held = try await ScriptedConnection.$callerAffinity.withValue(first) {
                [try await pool.checkout(options: .init()), try await pool.checkout(options: .init())]
            }
            #expect(held.allSatisfy { $0.holder.connection.executorAffinity == first })
            let third = try await ScriptedConnection.$callerAffinity.withValue(first) {
                try await pool.checkout(options: .init())
            }
            #expect(third.holder.connection.executorAffinity == ExecutorAffinity(loops[1]))
            for lease in held + [third] { pool.checkin(lease) }
            pool.shutdown()
            try await group.waitForAll()
        }
    }
}

@Suite struct ExecutorAffinityTests {
    final class Thread: Sendable {}
    final class Executor: TaskExecutor {
        func enqueue(_ job: consuming ExecutorJob) {}
    }

    @Test func anAffinityIsItsThreadWhateverTaskExecutorItCarries() {
        let a = Thread()
        let b = Thread()
        let executor = Executor()
        #expect(ExecutorAffinity(a) == ExecutorAffinity(a, taskExecutor: executor))
        #expect(ExecutorAffinity(a) != ExecutorAffinity(b))
        #expect(Set([ExecutorAffinity(a), ExecutorAffinity(a, taskExecutor: executor), ExecutorAffinity(b)]).count == 2)
        #expect(ExecutorAffinity(a, taskExecutor: executor).taskExecutor as? Executor === executor)
        #expect(ExecutorAffinity(a).taskExecutor == nil)
    }
}
