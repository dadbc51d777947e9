import DBConnection
import DBConnectionTesting
import Foundation
import Synchronization
import Testing

@testable import DBConnectionPostgres

/// The driver under DBConnection's pool and client API, against the real server.
@Suite(requiresServer, .timeLimit(.minutes(1)))
struct PGPoolTests {
    static func configuration(size: Int) -> PoolConfiguration<PGConnection> {
        var configuration = PoolConfiguration<PGConnection>()
        configuration.poolSize = size
        configuration.backoffMin = .milliseconds(10)
        configuration.backoffMax = .milliseconds(200)
        configuration.idleInterval = .milliseconds(100)
        configuration.maxRestarts = 1_000
        // These tests count results and errors of faults, not load shedding: a loaded CI machine must
        // not make CoDel drop callers.
        configuration.queueTarget = .seconds(10)
        return configuration
    }

    @Test func poolRunsStatementsAndTransactions() async throws {
        let table = uniqueName("pool")
        try await ConnectionPool.withPool(
            options: try PGTestEnvironment.options(),
            configuration: Self.configuration(size: 2)
        ) { pool in
            _ = try await pool.execute(PGQuery("CREATE TABLE \(table) (id int PRIMARY KEY, note text)"), [])
            try await pool.transaction(transactionOptions: .init()) { conn in
                _ = try await conn.execute(PGQuery("INSERT INTO \(table) VALUES ($1, $2)"), [1, "one"])
                #expect(await conn.status() == .transaction)
            }
            do {
                try await pool.transaction(transactionOptions: .init()) { conn in
                    _ = try await conn.execute(PGQuery("INSERT INTO \(table) VALUES ($1, $2)"), [2, "two"])
                    _ = try await conn.execute(PGQuery("INSERT INTO \(table) VALUES ($1, $2)"), [1, "duplicate"])
                }
                Issue.record("the transaction committed a duplicate")
            } catch let error as PGError {
                #expect(error.sqlState == "23505")
            }
            // The database aborted the transaction: commit becomes a rollback.
            await #expect(throws: TransactionRolledBack.self) {
                try await pool.transaction(transactionOptions: .init()) { conn in
                    _ = try? await conn.execute(PGQuery("INSERT INTO \(table) VALUES ($1, $2)"), [1, "duplicate"])
                }
            }
            // A savepoint keeps the transaction usable after a failing statement.
            try await pool.transaction(transactionOptions: .serializable) { conn in
                _ = try await conn.execute(PGQuery("INSERT INTO \(table) VALUES ($1, $2)"), [3, "three"])
                let duplicate = await pgError {
                    try await conn.withSavepoint { inner in
                        _ = try await inner.execute(PGQuery("INSERT INTO \(table) VALUES ($1, $2)"), [1, "duplicate"])
                    }
                }
                #expect(duplicate?.sqlState == "23505")
                #expect(await conn.status() == .transaction)
                _ = try await conn.execute(PGQuery("INSERT INTO \(table) VALUES ($1, $2)"), [4, "four"])
            }
            let prepared = try await pool.prepare(PGQuery("SELECT note FROM \(table) WHERE id = $1"))
            #expect(try await pool.execute(prepared, [3]).scalar == "three")
            #expect(try await pool.execute(PGQuery("SELECT count(*) FROM \(table)"), []).scalar == 3)
            _ = try await pool.execute(PGQuery("DROP TABLE \(table)"), [])
        }
    }

    @Test func aCursorReadsOneHundredThousandRowsInBatches() async throws {
        try await ConnectionPool.withPool(
            options: try PGTestEnvironment.options(),
            configuration: Self.configuration(size: 1)
        ) { pool in
            let (total, batches, ordered) = try await pool.transaction(transactionOptions: .init(readOnly: true)) {
                conn in
                var total = 0
                var batches = 0
                var ordered = true
                for try await batch in conn.stream(
                    "SELECT g, 'row ' || g AS label FROM generate_series(1, 100000) g",
                    [],
                    options: CallOptions(maxRows: 1_000)
                ) {
                    batches += 1
                    #expect(batch.count <= 1_000)
                    for (offset, row) in batch.rows.enumerated() {
                        let expected = total + offset + 1
                        if row[0] != .int32(Int32(expected)) || row[1] != .text("row \(expected)") { ordered = false }
                    }
                    total += batch.count
                }
                return (total, batches, ordered)
            }
            #expect(total == 100_000)
            #expect(batches == 101)  // 100 full batches, then the empty last one
            #expect(ordered)
        }
    }

    @Test func aStreamLeftEarlyClosesItsCursorAndOutsideATransactionExplains() async throws {
        try await ConnectionPool.withPool(
            options: try PGTestEnvironment.options(),
            configuration: Self.configuration(size: 1)
        ) { pool in
            try await pool.transaction(transactionOptions: .init()) { conn in
                for try await batch in conn.stream(
                    "SELECT g FROM generate_series(1, 10000) g",
                    [],
                    options: CallOptions(maxRows: 10)
                ) {
                    #expect(batch.count == 10)
                    break
                }
                // The abandoned cursor is closed before the next call on the connection.
                // The cursor named '' is this query's own portal.
                let cursors = try await conn.execute("SELECT name FROM pg_cursors WHERE name <> ''", [])
                #expect(cursors.isEmpty, "\(cursors.rows)")
            }
            let error = await pgError {
                try await pool.withConnection { conn in
                    for try await _ in conn.stream("SELECT 1", []) {}
                }
            }
            #expect(error?.sqlState == "25P01")
            #expect(error?.hint?.contains("transaction") == true)
        }
    }

    /// 32 tasks run queries through a pool while another connection terminates every backend of the
    /// pool, three times. Every caller gets a result or a typed error, none hangs, and once the pool has
    /// replaced its connections the next 1,000 queries succeed.
    @Test func terminatingThePoolsBackendsLeavesNoCallerHangingAndThePoolRecovers() async throws {
        let application = uniqueName("fault")
        let poolSize = 8
        let options = try PGTestEnvironment.options(applicationName: application)
        let tally = Tally()
        try await ConnectionPool.withPool(options: options, configuration: Self.configuration(size: poolSize)) { pool in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<32 {
                    group.addTask {
                        // At least 25 statements each, and on until the killer is done: workers that
                        // finished early would leave the killer nothing to kill.
                        var round = 0
                        while round < 25 || !tally.killerDone.load(ordering: .acquiring) {
                            defer { round += 1 }
                            tally.attempts.add(1, ordering: .relaxed)
                            let value = Int64(worker * 100_000 + round)
                            do {
                                let result = try await pool.execute(
                                    "SELECT $1::int8 AS v, pg_sleep(0.002)",
                                    [.int64(value)],
                                    options: CallOptions(timeout: .seconds(20))
                                )
                                #expect(result.scalar == .int64(value))
                                tally.ok.add(1, ordering: .relaxed)
                            } catch is PGError {
                                tally.pgErrors.add(1, ordering: .relaxed)
                            } catch is ConnectionError {
                                tally.connectionErrors.add(1, ordering: .relaxed)
                            } catch {
                                Issue.record("an untyped error reached a caller: \(String(reflecting: error))")
                            }
                        }
                    }
                }
                group.addTask {
                    defer { tally.killerDone.store(true, ordering: .releasing) }
                    try await withConnection { killer in
                        for _ in 0..<3 {
                            try await waitOnServer("the pool's queries to run") {
                                let active = try await killer.execute(
                                    """
                                    SELECT count(*) FROM pg_stat_activity
                                    WHERE application_name = $1 AND state = 'active'
                                    """,
                                    [.text(application)]
                                )
                                return (active.scalar?.int ?? 0) >= 2
                            }
                            let killed = try await killer.execute(
                                // The function in the select list runs only for the rows the WHERE keeps.
                                """
                                SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity
                                WHERE application_name = $1
                                """,
                                [.text(application)]
                            )
                            tally.killedPIDs.withLock { $0 += killed.rows.compactMap { $0[0].int64.map(Int32.init) } }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let killed = tally.killedPIDs.withLock { $0 }
            #expect(killed.count >= poolSize)
            #expect(
                tally.ok.load(ordering: .relaxed) + tally.pgErrors.load(ordering: .relaxed)
                    + tally.connectionErrors.load(ordering: .relaxed) == tally.attempts.load(ordering: .relaxed)
            )
            #expect(tally.attempts.load(ordering: .relaxed) >= 32 * 25)

            // The server side: every killed backend is gone, and the pool has a new backend per slot.
            try await withConnection { observer in
                try await waitOnServer("the pool to replace its connections") {
                    let live = try await observer.execute(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 OR pid = ANY($2)",
                        [.text(application), .array(killed.map { .int32($0) })]
                    )
                    let pids = live.rows.compactMap { $0[0].int64.map(Int32.init) }
                    return pids.count == poolSize && Set(pids).isDisjoint(with: killed)
                }
            }

            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        for round in 0..<125 {
                            let value = Int64(worker * 1_000 + round)
                            let result = try await pool.execute("SELECT $1::int8", [.int64(value)])
                            #expect(result.scalar == .int64(value))
                            tally.after.add(1, ordering: .relaxed)
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(tally.after.load(ordering: .relaxed) == 1_000)
        }
        let results = tally.ok.load(ordering: .relaxed)
        let pgErrors = tally.pgErrors.load(ordering: .relaxed)
        let connectionErrors = tally.connectionErrors.load(ordering: .relaxed)
        let terminated = tally.killedPIDs.withLock { $0.count }
        print(
            "fault test: \(results) results, \(pgErrors) PGErrors, \(connectionErrors) ConnectionErrors, "
                + "\(terminated) backends terminated"
        )
    }

    /// A caller's deadline passes during `pg_sleep(10)`: the pool takes the lease back and calls
    /// `interrupt()`, the driver sends a cancel request and the server confirms it, the caller gets a
    /// deadline error in about the budget, and the connection, clean again, goes back to the pool: the
    /// next caller gets the same backend, idle. Run as an unnamed statement (PostgresNIO's path) and
    /// as a named one (the driver's direct execution).
    @Test(arguments: [false, true])
    func aPassedDeadlineCancelsTheStatementAndThePoolKeepsTheConnection(named: Bool) async throws {
        let application = uniqueName("deadline")
        let options = try PGTestEnvironment.options(applicationName: application)
        let events = Mutex<[ConnectionListener.Event]>([])
        var configuration = Self.configuration(size: 1)
        configuration.connectionListeners = [ConnectionListener { event in events.withLock { $0.append(event) } }]
        try await ConnectionPool.withPool(options: options, configuration: configuration) { pool in
            let pid = try #require(try await pool.execute("SELECT pg_backend_pid()", []).scalar?.int64)
            let start = ContinuousClock.now
            let error = await #expect(throws: ConnectionError.self) {
                let sleep = named ? PGQuery("SELECT pg_sleep(10)", name: "deadline_sleep") : PGQuery("SELECT pg_sleep(10)")
                _ = try await pool.execute(sleep, [], options: CallOptions(timeout: .milliseconds(500)))
            }
            let elapsed = ContinuousClock.now - start
            // Not a timing assertion: without the cancel the call would take the full 10 seconds.
            #expect(elapsed < .seconds(5), "the caller waited \(elapsed)")
            #expect(error?.reason == .deadline)
            #expect((error?.underlying as? PGError)?.isQueryCanceled == true, "\(String(reflecting: error))")

            try await withConnection { observer in
                let state = try await observer.execute(
                    "SELECT state, query FROM pg_stat_activity WHERE pid = $1",
                    [.int64(pid)]
                )
                #expect(state.value("state") == "idle", "\(state.rows)")
            }
            // The same backend serves the next caller: the connection was kept, not replaced.
            #expect(try await pool.execute("SELECT pg_backend_pid()", []).scalar?.int64 == pid)
            #expect(try await pool.execute("SELECT 1 + 1", []).scalar == 2)
            // The sleep ran on the path named: the driver's own exchange only for the named statement.
            let direct = try await pool.withConnection { try await $0.withDriverCall { $0.directExecutions.load(ordering: .relaxed) } }
            #expect(direct == (named ? 1 : 0))
            #expect(events.withLock { $0 } == [.connected(ConnectionID(poolIndex: 1), tag: nil)])
            #expect(pool.metrics().openConnections == 1)
            print("deadline test: the caller got \(type(of: error)) after \(elapsed): \(String(describing: error))")
        }
        // Only the shutdown disconnected it.
        #expect(
            events.withLock { $0 } == [.connected(ConnectionID(poolIndex: 1), tag: nil), .disconnected(ConnectionID(poolIndex: 1), tag: nil)]
        )
    }

    /// The same inside a transaction: the cancelled statement leaves the transaction failed, so the
    /// connection is not clean and is replaced; the next caller still gets a working connection.
    @Test func aPassedDeadlineInsideATransactionReplacesTheConnection() async throws {
        let options = try PGTestEnvironment.options(applicationName: uniqueName("deadline-tx"))
        try await ConnectionPool.withPool(options: options, configuration: Self.configuration(size: 1)) { pool in
            let pid = try #require(try await pool.execute("SELECT pg_backend_pid()", []).scalar?.int64)
            await #expect(throws: (any Error).self) {
                try await pool.transaction(options: CallOptions(timeout: .milliseconds(500)), transactionOptions: .init()) { connection in
                    _ = try await connection.execute("SELECT pg_sleep(10)", [])
                }
            }
            let next = try #require(try await pool.execute("SELECT pg_backend_pid()", []).scalar?.int64)
            #expect(next != pid)
            #expect(try await pool.execute("SELECT 1 + 1", []).scalar == 2)
        }
    }
}

/// Counters the fault tests' tasks share.
final class Tally: Sendable {
    let ok = Atomic<Int>(0)
    let pgErrors = Atomic<Int>(0)
    let connectionErrors = Atomic<Int>(0)
    let after = Atomic<Int>(0)
    let killedPIDs = Mutex<[Int32]>([])
    let restarted = Atomic<Bool>(false)
    let attempts = Atomic<Int>(0)
    let killerDone = Atomic<Bool>(false)
}
