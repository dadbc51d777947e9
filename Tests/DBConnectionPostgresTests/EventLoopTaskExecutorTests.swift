import DBConnection
import DBConnectionTesting
import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import DBConnectionPostgres

/// A nonisolated async function, as the client API's calls are.
@inline(never)
func stillOnLoop(_ loop: any EventLoop) async -> Bool {
    await Task.yield()
    return loop.inEventLoop
}

/// A job the executor lost would hang its task: the time limit turns that into a failure.
@Suite(.timeLimit(.minutes(1))) struct EventLoopTaskExecutorTests {
    @Test func thereIsOneExecutorPerLoopOfTheGroupConnectionsUse() {
        let loops = MultiThreadedEventLoopGroup.singleton.makeIterator().map { ExecutorAffinity($0) }
        #expect(PGConnection.eventLoopExecutors.map { ExecutorAffinity($0.eventLoop) } == loops)
        #expect(Set(loops).count == loops.count)
    }

    @Test func aTaskThatPrefersTheExecutorRunsOnItsLoopAcrossAwaits() async {
        for executor in PGConnection.eventLoopExecutors {
            let (before, after, affinity) = await Task(executorPreference: executor) {
                let before = executor.eventLoop.inEventLoop
                let after = await stillOnLoop(executor.eventLoop)
                return (before, after, PGConnection.currentExecutorAffinity)
            }.value
            #expect(before)
            #expect(after)
            #expect(affinity == ExecutorAffinity(executor.eventLoop))
        }
    }

    /// Many tasks on one executor, each resuming several times: jobs enqueued from the loop while a
    /// batch runs, and from other threads, all run, on the loop.
    @Test func manyTasksResumingOnOneExecutorAllFinishOnItsLoop() async {
        let executor = PGConnection.eventLoopExecutors[0]
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<200 {
                group.addTask(executorPreference: executor) {
                    var onLoop = executor.eventLoop.inEventLoop
                    for _ in 0..<5 { onLoop = await stillOnLoop(executor.eventLoop) && onLoop }
                    return onLoop
                }
            }
            var results: [Bool] = []
            for await result in group { results.append(result) }
            return results
        }
        #expect(results.count == 200)
        #expect(results.allSatisfy { $0 })
    }

    /// Tasks resumed from other threads (continuations resumed off the loop, many at once) all come
    /// back to the loop.
    @Test func resumptionsFromOtherThreadsRunOnTheLoop() async {
        let executor = PGConnection.eventLoopExecutors[0]
        let finished = await withTaskGroup(of: (Int, Bool).self) { group in
            for index in 0..<50 {
                group.addTask(executorPreference: executor) {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        Thread { continuation.resume() }.start()
                    }
                    return (index, executor.eventLoop.inEventLoop)
                }
            }
            var finished: [(Int, Bool)] = []
            for await result in group { finished.append(result) }
            return finished
        }
        #expect(finished.map(\.0).sorted() == Array(0..<50))
        #expect(finished.allSatisfy { $0.1 })
    }

    @Test func offTheLoopsThereIsNoCurrentAffinity() async {
        let affinity = await Task.detached { PGConnection.currentExecutorAffinity }.value
        #expect(affinity == nil)
    }
}

@Suite(requiresServer, .timeLimit(.minutes(1)))
struct PGExecutorAffinityTests {
    @Test func eachConnectionReportsTheLoopOfItsChannel() async throws {
        try await withConnection { connection in
            let affinity = try #require(connection.executorAffinity)
            let executor = PGConnection.eventLoopExecutors.first { ExecutorAffinity($0.eventLoop) == affinity }
            let loop = try #require(executor).eventLoop
            // It carries the executor of that loop, which runs tasks there.
            let carried = try #require(affinity.taskExecutor as? EventLoopTaskExecutor)
            #expect(carried === executor)
            // The connection's own I/O runs there.
            let onLoop = try await loop.submit { loop.inEventLoop }.get()
            #expect(onLoop)
        }
    }

    @Test func aTaskOnALoopGetsAConnectionOfThatLoop() async throws {
        var configuration = PoolConfiguration<PGConnection>()
        configuration.poolSize = 4
        let pool = try ConnectionPool<PGConnection>(options: try PGTestEnvironment.options(), configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await pool.run() }
            defer { pool.shutdown() }
            while pool.metrics().idleConnections < 4 { try await Task.sleep(for: .milliseconds(5)) }
            // Which loops the pool's connections landed on (the group hands loops out in turn, and
            // other tests connect too).
            var leases: [PoolLease<PGConnection>] = []
            for _ in 0..<4 { leases.append(try await pool.checkout(options: .init())) }
            let loopsInUse = Set(leases.compactMap { $0.holder.connection.executorAffinity })
            #expect(!loopsInUse.isEmpty)

            for executor in PGConnection.eventLoopExecutors
            where loopsInUse.contains(ExecutorAffinity(executor.eventLoop)) {
                let loop = ExecutorAffinity(executor.eventLoop)
                // Connections of the other loops go back first, so that without the preference the
                // longest-idle connection, which a checkout would get, is not one of this loop.
                let ofLoop = leases.filter { $0.holder.connection.executorAffinity == loop }
                for lease in leases where lease.holder.connection.executorAffinity != loop { pool.checkin(lease) }
                for lease in ofLoop { pool.checkin(lease) }
                let seen: Seen = try await Task(executorPreference: executor) {
                    try await Self.statement(on: pool, executor: executor)
                }.value
                #expect(seen.affinity == loop)
                #expect(seen.onLoop)
                #expect(seen.scalar == .int32(42))
                leases = []
                for _ in 0..<4 { leases.append(try await pool.checkout(options: .init())) }
            }
            for lease in leases { pool.checkin(lease) }
        }
    }

    struct Seen: Sendable {
        var affinity: ExecutorAffinity?
        var onLoop: Bool
        var scalar: PGValue?
    }

    static func statement(on pool: ConnectionPool<PGConnection>, executor: EventLoopTaskExecutor) async throws -> Seen {
        let lease = try await pool.checkout(options: .init())
        defer { pool.checkin(lease) }
        let connection = lease.holder.connection
        let result = try await connection.execute(PGQuery("SELECT $1::int4 + 1"), params: [.int32(41)], callOptions: noOptions).1
        return Seen(affinity: connection.executorAffinity, onLoop: executor.eventLoop.inEventLoop, scalar: result.scalar)
    }
}
