import DBConnection
import DBConnectionSQLite
import Foundation
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(1)))
struct SQLiteConcurrencyTests {
    @Test func concurrentWritersThroughAPoolCountExactly() async throws {
        try await withTemporaryDirectory { directory in
            let options = SQLiteConnection.Options(path: directory.appendingPathComponent("counter.sqlite").path)
            let setup = try await SQLiteConnection.connect(options: options)
            try await setup.execute("CREATE TABLE counter(n INTEGER NOT NULL); INSERT INTO counter VALUES (0);")
            await setup.disconnect(error: CancellationError())

            var configuration = PoolConfiguration<SQLiteConnection>()
            configuration.poolSize = 4
            // The test counts writes, not load shedding: a loaded CI machine must not make CoDel drop
            // a writer (8 writers queue for 4 connections, each write an fsync).
            configuration.queueTarget = .seconds(10)
            let busyErrors = Collected<SQLiteError>()
            try await ConnectionPool<SQLiteConnection>.withPool(options: options, configuration: configuration) {
                pool in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            for _ in 0..<50 {
                                try await pool.withConnection { conn in
                                    try await conn.withDriverCall { sqlite in
                                        do {
                                            try await Self.increment(sqlite)
                                        } catch let error as SQLiteError
                                            where error.code == .busy || error.code == .locked
                                        {
                                            busyErrors.append(error)
                                            throw error
                                        }
                                    }
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let count = try await pool.withConnection { conn in
                    try await conn.withDriverCall { try await $0.execute("SELECT n FROM counter").scalar }
                }
                #expect(count == 400)
            }
            for error in busyErrors.values {
                #expect("\(error)".contains("raise busyTimeout"))
            }
        }
    }

    private static func increment(_ sqlite: SQLiteConnection) async throws {
        _ = try await sqlite.begin(options: .immediate, callOptions: CallOptions())
        do {
            try await sqlite.execute("UPDATE counter SET n = n + 1")
            _ = try await sqlite.commit(callOptions: CallOptions())
        } catch {
            _ = try? await sqlite.rollback(callOptions: CallOptions())
            throw error
        }
    }

    @Test func readersDoNotWaitForAWriterInWALMode() async throws {
        try await withConnection { writer, path in
            try await writer.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            let reader = try await SQLiteConnection.connect(options: .init(path: path, busyTimeout: .zero))
            _ = try await writer.begin(options: .exclusive, callOptions: CallOptions())
            try await writer.execute("INSERT INTO t VALUES (2)")
            #expect(try await reader.execute("SELECT count(*) FROM t").scalar == 1)
            _ = try await writer.commit(callOptions: CallOptions())
            #expect(try await reader.execute("SELECT count(*) FROM t").scalar == 2)
            await reader.disconnect(error: CancellationError())
        }
    }

    @Test func interruptStopsALongQueryAndTheConnectionStaysUsable() async throws {
        try await withConnection { conn, _ throws in
            let finished = Flag()
            let query = Task {
                defer { finished.set() }
                return try await conn.execute(endlessQuery)
            }
            // Interrupt until the query gives up. An interrupt that comes after the call began but before
            // it reached SQLite is kept for it, so this ends once the call began, whatever the timing.
            while !finished.isSet {
                await conn.interrupt()
                await Task.yield()
            }
            let error = await sqliteError { _ = try await query.value }
            #expect(error?.code == .interrupt)
            #expect(error?.sql == endlessQuery.sql)
            #expect(try await conn.execute("SELECT 42").scalar == 42)
            #expect(try await conn.status(callOptions: CallOptions()) == .idle)
        }
    }

    @Test func interruptStopsAWaitForAnotherConnectionsLock() async throws {
        try await withConnection(configure: { $0.busyTimeout = .seconds(40) }) { holder, path throws in
            let waiter = try await SQLiteConnection.connect(options: .init(path: path, busyTimeout: .seconds(40)))
            _ = try await holder.begin(options: .immediate, callOptions: CallOptions())
            let finished = Flag()
            let begin = Task {
                defer { finished.set() }
                return try await waiter.begin(options: .immediate, callOptions: CallOptions())
            }
            while !finished.isSet {
                await waiter.interrupt()
                await Task.yield()
            }
            let error = await sqliteError { _ = try await begin.value }
            #expect(error?.code == .interrupt)
            #expect(try await waiter.status(callOptions: CallOptions()) == .idle)
            _ = try await holder.commit(callOptions: CallOptions())
            #expect(
                try await waiter.begin(options: .immediate, callOptions: CallOptions())
                    == .okStatement(SQLiteResult(), statement: "BEGIN IMMEDIATE")
            )
            _ = try await waiter.rollback(callOptions: CallOptions())
            await waiter.disconnect(error: CancellationError())
        }
    }

    @Test func aPassedDeadlineInterruptsAQueryThroughThePool() async throws {
        try await withTemporaryDirectory { directory in
            let options = SQLiteConnection.Options(path: directory.appendingPathComponent("deadline.sqlite").path)
            try await ConnectionPool<SQLiteConnection>.withPool(options: options) { pool in
                // Warm up: the first connect must not eat into the timed call's budget.
                _ = try await pool.withConnection { conn in try await conn.withDriverCall { try await $0.execute("SELECT 1") } }
                var callOptions = CallOptions()
                callOptions.timeout = .milliseconds(200)
                do {
                    try await pool.withConnection(options: callOptions) { conn in
                        _ = try await conn.withDriverCall { try await $0.execute(endlessQuery) }
                    }
                    Issue.record("the endless query returned")
                } catch let error as SQLiteError {
                    #expect(error.code == .interrupt)
                } catch let error as ConnectionError {
                    // On a loaded machine the deadline can pass before the query starts.
                    #expect(error.reason == .closed || error.reason == .deadline)
                }
                // The pool replaced the connection; the next call works.
                let one = try await pool.withConnection { conn in
                    try await conn.withDriverCall { try await $0.execute("SELECT 1").scalar }
                }
                #expect(one == 1)
            }
        }
    }

    @Test func cancellingTheTaskInterruptsTheQuery() async throws {
        try await withConnection { conn, _ in
            try await conn.execute("CREATE TABLE t(x)")
            let query = Task {
                try await conn.execute(endlessQuery)
            }
            query.cancel()
            let error = await sqliteError { _ = try await query.value }
            #expect(error?.code == .interrupt)
            #expect(error?.hint?.contains("cancelled task") == true)
            #expect(try await conn.execute("SELECT count(*) FROM t").scalar == 0)
        }
    }

    @Test func anInterruptAfterACallDoesNotReachTheNextOne() async throws {
        try await withConnection { conn, _ in
            let shortQuery = endlessQuery.sql.replacingOccurrences(of: "1000000000", with: "100000")
            try await conn.execute("SELECT 1")
            await conn.interrupt()
            #expect(
                try await conn.execute(SQLiteQuery("SELECT count(*) FROM (\(shortQuery))")).scalar == 1
            )
        }
    }

    @Test func anInterruptedReadKeepsTheTransactionOpen() async throws {
        try await withConnection { conn, _ in
            try await conn.execute("CREATE TABLE t(x)")
            _ = try await conn.begin(options: .init(), callOptions: CallOptions())
            try await conn.execute("INSERT INTO t VALUES (1)")
            let query = Task { try await conn.execute(endlessQuery) }
            query.cancel()
            _ = await sqliteError { _ = try await query.value }
            // An interrupted read keeps the transaction open (an interrupted write would roll it back).
            #expect(try await conn.status(callOptions: CallOptions()) == .transaction)
            _ = try await conn.rollback(callOptions: CallOptions())
            #expect(try await conn.status(callOptions: CallOptions()) == .idle)
            #expect(try await conn.execute("SELECT count(*) FROM t").scalar == 0)
        }
    }
}

/// A flag one task sets and another polls.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// Values that tasks append to.
final class Collected<Value: Sendable>: Sendable {
    private let storage = Mutex<[Value]>([])
    func append(_ value: Value) { storage.withLock { $0.append(value) } }
    var values: [Value] { storage.withLock { $0 } }
}
