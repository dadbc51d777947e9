import DBConnection
import DBConnectionTesting
import Testing

@testable import dbconn

/// Workers of `dbconn bench --executor connection` are spread over the connections' executors in the
/// connections' proportion.
@Suite(.timeLimit(.minutes(1)))
struct ExecutorAssignmentTests {
    final class Loop: Sendable {}
    /// Only compared by identity: no job is ever given to it.
    final class Executor: TaskExecutor {
        func enqueue(_ job: consuming ExecutorJob) {}
    }

    @Test(arguments: [4, 7])
    func eachHolderKeepsADifferentConnectionUntilAllHaveOne(workers: Int) async throws {
        // Each connection on a thread of its own.
        let loops = (0..<4).map { _ in Loop() }
        let executors = (0..<4).map { _ in Executor() }
        let affinity: @Sendable (Int) -> ExecutorAffinity? = {
            ExecutorAffinity(loops[$0 - 1], taskExecutor: executors[$0 - 1])
        }
        var config = PoolConfiguration<ScriptedConnection>()
        config.poolSize = 4
        let pool = try ConnectionPool<ScriptedConnection>(
            options: ScriptedOptions(script: Script(Array(repeating: .ok(), count: 4)), executorAffinity: affinity),
            configuration: config
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await pool.run() }
            while pool.metrics().idleConnections < 4 { await Task.yield() }

            let assignment = ExecutorAssignment(holders: 4)
            let chosen = await withTaskGroup(of: (Int, ObjectIdentifier?).self) { tasks in
                // Three holders one after the other: each still holds its lease when the next one
                // leases, so none can get a connection another one got.
                for worker in 0..<3 {
                    tasks.addTask {
                        let executor = await assignment.executor(forWorker: worker, of: pool)
                        return (worker, executor.map { ObjectIdentifier($0 as AnyObject) })
                    }
                    while assignment.arrivals < worker + 1 { await Task.yield() }
                    #expect(pool.metrics().idleConnections == 3 - worker)
                }
                for worker in 3..<workers {
                    tasks.addTask {
                        let executor = await assignment.executor(forWorker: worker, of: pool)
                        return (worker, executor.map { ObjectIdentifier($0 as AnyObject) })
                    }
                }
                var chosen: [Int: ObjectIdentifier?] = [:]
                for await (worker, executor) in tasks { chosen[worker] = executor }
                return chosen
            }
            // One holder per connection: every executor once.
            let holders = Set((0..<4).compactMap { chosen[$0] ?? nil })
            #expect(holders == Set(executors.map { ObjectIdentifier($0) }))
            // Any further worker takes the executor of holder `index % 4`.
            for worker in 4..<workers {
                #expect(chosen[worker] == chosen[worker % 4])
            }
            #expect(pool.metrics().idleConnections == 4)
            pool.shutdown()
            try await group.waitForAll()
        }
    }
}
