import Logging
import DBConnection
import DBConnectionTesting
import Synchronization
import Testing

struct Reason: Error, Equatable {}

/// Transactions: db_connection's rules, with the exact callback sequence (scenario groups L and M, and 266, 269–271).
@Suite(.timeLimit(.minutes(1))) struct TransactionTests {
    @Test func aTransactionBeginsRunsAndCommits() async throws {
        let script = Script([.ok(), .result("began"), .result("R", state: "s2"), .result("committed")])
        try await withTestPool(script) { pool, _, _ in
            let value = try await pool.transaction { conn in
                try await conn.execute("Q", ["1"])
            }
            #expect(value == "R")
            #expect(script.record.map(\.name) == ["connect", "begin", "execute", "commit"])
            #expect(script.record[2] == .execute(query: "Q", params: ["1"], state: "state"))
        }
    }

    @Test func rollbackEndsTheTransactionWithItsReason() async throws {
        let script = Script([.ok(), .result(), .result()])
        try await withTestPool(script) { pool, _, _ in
            let error = await #expect(throws: TransactionRolledBack.self) {
                try await pool.transaction { conn in try conn.rollback(Reason()) }
            }
            #expect(error?.reason is Reason)
            #expect(script.record.map(\.name) == ["connect", "begin", "rollback"])
        }
    }

    @Test func anErrorThrownByTheBodyRollsBackAndPropagates() async throws {
        let script = Script([.ok(), .result(), .result()])
        try await withTestPool(script) { pool, _, _ in
            await #expect(throws: Oops.self) {
                try await pool.transaction { _ in throw Oops() }
            }
            #expect(script.record.map(\.name) == ["connect", "begin", "rollback"])
        }
    }

    @Test func aNestedTransactionSendsNoBeginOrCommit() async throws {
        let script = Script([.ok(), .result(), .result(), .result()])
        try await withTestPool(script) { pool, _, _ in
            let value = try await pool.transaction { conn in
                try await conn.transaction { inner in try await inner.execute("Q", []) }
            }
            #expect(value == "R")
            #expect(script.record.map(\.name) == ["connect", "begin", "execute", "commit"])
        }
    }

    @Test func anInnerRollbackFailsEveryLevelAndTheOuterRollsBackOnce() async throws {
        // Scenarios 104–106: the inner level gets its reason, the outer ends as rolled back.
        let script = Script([.ok(), .result(), .result()])
        try await withTestPool(script) { pool, _, _ in
            let innerReason = Mutex<String?>(nil)
            let outer = await #expect(throws: TransactionRolledBack.self) {
                try await pool.transaction { conn in
                    do {
                        try await conn.transaction { inner in try inner.rollback(Reason()) }
                    } catch let rolledBack as TransactionRolledBack {
                        innerReason.withLock { $0 = "\(type(of: rolledBack.reason))" }
                    }
                    return "done"
                }
            }
            #expect(innerReason.withLock { $0 } == "Reason")
            #expect(outer?.reason is TransactionRolledBack.Reason)
            #expect(script.record.map(\.name) == ["connect", "begin", "rollback"])
        }
    }

    @Test func callsInsideAFailedTransactionFailAndDisconnect() async throws {
        // Scenario 100/155: "transaction rolling back", and the connection is closed.
        let script = Script([.ok(), .result(), .ok(), .ok()])
        try await withTestPool(script) { pool, _, events in
            _ = await events.next()
            let seen = Mutex<ConnectionError?>(nil)
            await #expect(throws: TransactionRolledBack.self) {
                try await pool.transaction { conn in
                    _ = try? await conn.transaction { inner in try inner.rollback() }
                    do {
                        _ = try await conn.execute("Q", [])
                    } catch let error as ConnectionError {
                        seen.withLock { $0 = error }
                    }
                }
            }
            #expect(seen.withLock { $0 }?.reason == .rollingBack)
            #expect(seen.withLock { $0 }?.message == "transaction rolling back")
            #expect(await events.next() == .disconnected(ConnectionID(poolIndex: 1), tag: nil))
            #expect(script.record.map(\.name).prefix(3) == ["connect", "begin", "disconnect"])
            #expect(!script.record.contains { $0.name == "execute" })
        }
    }

    @Test func rollbackOutsideATransactionIsAnError() async throws {
        // Scenario 266.
        let script = Script([.ok()])
        try await withTestPool(script) { pool, _, _ in
            try await pool.withConnection { conn in
                let error = #expect(throws: ConnectionError.self) { try conn.rollback(Reason()) }
                #expect(error?.message == "not inside transaction")
            }
        }
    }

    @Test func aCommitThatFindsTheTransactionAbortedBecomesARollback() async throws {
        let script = Script([.ok(), .result(), .status(.error), .result()])
        try await withTestPool(script) { pool, _, _ in
            let error = await #expect(throws: TransactionRolledBack.self) {
                try await pool.transaction { _ in "x" }
            }
            #expect(error?.reason is TransactionRolledBack.Reason)
            #expect(script.record.map(\.name) == ["connect", "begin", "commit", "rollback"])
        }
    }

    @Test(arguments: [
        (TransactionStatus.idle, "transaction is not started"),
        (.transaction, "transaction is already started"),
        (.error, "transaction is aborted"),
    ])
    func beginReplyingWithAStatusIsATransactionErrorAndDisconnects(status: TransactionStatus, message: String) async throws {
        // Scenarios 112–117 and 269.
        let script = Script([.ok(), .status(status), .ok(), .ok()])
        try await withTestPool(script) { pool, _, events in
            _ = await events.next()
            let error = await #expect(throws: TransactionRolledBack.self) {
                try await pool.transaction { _ in "never" }
            }
            let transactionError = try #require(error?.reason as? TransactionError)
            #expect(transactionError.message == message)
            #expect(await events.next() == .disconnected(ConnectionID(poolIndex: 1), tag: nil))
            #expect(script.record.map(\.name).prefix(3) == ["connect", "begin", "disconnect"])
        }
    }

    @Test func commitReplyingIdleIsATransactionErrorAndDisconnects() async throws {
        let script = Script([.ok(), .result(), .status(.idle), .ok(), .ok()])
        try await withTestPool(script) { pool, _, events in
            _ = await events.next()
            await #expect(throws: TransactionRolledBack.self) { try await pool.transaction { _ in "x" } }
            #expect(await events.next() == .disconnected(ConnectionID(poolIndex: 1), tag: nil))
            #expect(script.record.map(\.name).prefix(4) == ["connect", "begin", "commit", "disconnect"])
        }
    }

    @Test func aBeginErrorIsThrownAndTheConnectionKept() async throws {
        let script = Script([.ok(), .error(Oops()), .status(.idle)])
        try await withTestPool(script) { pool, _, _ in
            await #expect(throws: Oops.self) { try await pool.transaction { _ in "x" } }
            #expect(await pool.status() == .idle)
            #expect(script.record.map(\.name) == ["connect", "begin", "status"])
        }
    }

    @Test func aDisconnectAndRetryFromBeginChecksOutAgain() async throws {
        let script = Script([.ok(), .disconnectAndRetry(Oops()), .ok(), .ok(), .result(), .result()])
        try await withTestPool(script) { pool, _, _ in
            let value = try await pool.transaction { _ in "done" }
            #expect(value == "done")
            #expect(script.record.map(\.name) == ["connect", "begin", "disconnect", "connect", "begin", "commit"])
        }
    }
}

/// prepare / execute / close, re-prepare on EncodeError, retries, status (groups H–K, 270, 271).
@Suite(.timeLimit(.minutes(1))) struct CallTests {
    @Test func executeEncodesRunsAndDecodes() async throws {
        let script = Script([.ok(), .result("raw")])
        try await withTestPool(script) { pool, _, _ in
            var query = ScriptedQuery("Q")
            query.onEncode = { $0.map { "enc:" + $0 } }
            query.onDecode = { "dec:" + $0 }
            let result = try await pool.execute(query, ["1"])
            #expect(result == "dec:raw")
            #expect(script.record.last == .execute(query: "Q", params: ["enc:1"], state: "state"))
        }
    }

    @Test func anEncodeErrorPreparesAgainAndRetriesOnce() async throws {
        // Scenarios 79–93.
        let script = Script([.ok(), .reply(ScriptedReply(query: ScriptedQuery("Q-prepared"))), .result()])
        try await withTestPool(script) { pool, _, _ in
            var query = ScriptedQuery("Q")
            query.onEncode = { _ in throw EncodeError("not prepared") }
            let prepared = ScriptedQuery("Q-prepared")
            query.onDescribe = { _ in prepared }
            _ = try await pool.execute(query, ["1"])
            #expect(script.record.map(\.name) == ["connect", "prepare", "execute"])
            #expect(script.record.last == .execute(query: "Q-prepared", params: ["1"], state: "state"))
        }
    }

    @Test func prepareExecuteParsesPreparesDescribesAndExecutes() async throws {
        let script = Script([.ok(), .result(), .result("R")])
        try await withTestPool(script) { pool, _, _ in
            let (query, result) = try await pool.prepareExecute("Q", ["a"])
            #expect(query.statement == "Q")
            #expect(result == "R")
            #expect(script.record.map(\.name) == ["connect", "prepare", "execute"])
        }
    }

    @Test func closeWorksInsideAFailedTransaction() async throws {
        let script = Script([.ok(), .result(), .result("closed"), .result()])
        try await withTestPool(script) { pool, _, _ in
            await #expect(throws: TransactionRolledBack.self) {
                try await pool.transaction { conn in
                    _ = try? await conn.transaction { inner in try inner.rollback() }
                    let closed = try await conn.close("Q")
                    #expect(closed == "closed")
                }
            }
            #expect(script.record.map(\.name) == ["connect", "begin", "close", "rollback"])
        }
    }

    @Test func disconnectAndRetryIsRetriedUpToTheBudget() async throws {
        // Scenario 271: 4 attempts with the default budget of 3, then the error.
        var steps: [ScriptStep] = [.ok()]
        for _ in 0..<4 { steps += [.disconnectAndRetry(Oops()), .ok(), .ok()] }
        let script = Script(steps)
        try await withTestPool(script) { pool, _, _ in
            await #expect(throws: Oops.self) { try await pool.execute("Q", []) }
            #expect(script.record.filter { $0.name == "execute" }.count == 4)
        }
    }

    @Test func disconnectAndRetryOnAHeldConnectionIsNotRetried() async throws {
        // Scenario 270.
        let script = Script([.ok(), .disconnectAndRetry(Oops()), .ok(), .ok()])
        try await withTestPool(script) { pool, _, _ in
            await #expect(throws: (any Error).self) {
                try await pool.withConnection { conn in try await conn.execute("Q", []) }
            }
            #expect(script.record.filter { $0.name == "execute" }.count == 1)
        }
    }

    @Test func statusReportsErrorAfterADisconnect() async throws {
        let script = Script([.ok(), .disconnect(Oops()), .ok(), .ok()])
        try await withTestPool(script) { pool, _, _ in
            #expect(await pool.status() == .error)
        }
    }
}

/// Streams: declare on first iteration, fetch until done, deallocate always (groups N and O).
@Suite(.timeLimit(.minutes(1))) struct StreamTests {
    @Test func aStreamDeclaresFetchesUntilDoneAndDeallocates() async throws {
        let script = Script([.ok(), .result(), .reply(ScriptedReply(cursor: "C1")), .more("b1"), .done("b2"), .result(), .result()])
        try await withTestPool(script) { pool, _, _ in
            let batches = try await pool.transaction { conn in
                var batches: [String] = []
                for try await batch in conn.stream("Q", ["p"], options: CallOptions(maxRows: 10)) { batches.append(batch) }
                return batches
            }
            #expect(batches == ["b1", "b2"])
            #expect(script.record.map(\.name) == ["connect", "begin", "declare", "fetch", "fetch", "deallocate", "commit"])
        }
    }

    @Test func anEarlyBreakStillDeallocates() async throws {
        let script = Script([.ok(), .reply(ScriptedReply(cursor: "C1")), .more("b1"), .result(), .status(.idle)])
        try await withTestPool(script) { pool, _, _ in
            try await pool.withConnection { conn in
                for try await _ in conn.stream("Q", []) { break }
            }
            #expect(script.record.map(\.name) == ["connect", "declare", "fetch", "deallocate"])
            #expect(script.record[3] == .deallocate(query: "Q", cursor: "C1", state: "state"))
        }
    }

    @Test func aFetchErrorDeallocatesAndThrows() async throws {
        let script = Script([.ok(), .reply(ScriptedReply(cursor: "C1")), .error(Oops()), .result()])
        try await withTestPool(script) { pool, _, _ in
            await #expect(throws: Oops.self) {
                try await pool.withConnection { conn in
                    for try await _ in conn.stream("Q", []) {}
                }
            }
            #expect(script.record.map(\.name) == ["connect", "declare", "fetch", "deallocate"])
        }
    }

    @Test func prepareStreamPreparesBeforeDeclaring() async throws {
        let script = Script([.ok(), .result(), .reply(ScriptedReply(cursor: "C")), .done("b"), .result()])
        try await withTestPool(script) { pool, _, _ in
            try await pool.withConnection { conn in
                for try await _ in conn.prepareStream("Q", []) {}
            }
            #expect(script.record.map(\.name) == ["connect", "prepare", "declare", "fetch", "deallocate"])
        }
    }
}

/// Log entries: fields, timings by db_connection's rules, redaction.
@Suite(.timeLimit(.minutes(1))) struct LogEntryTests {
    final class Entries: Sendable {
        let entries = Mutex<[LogEntry]>([])
        var log: @Sendable (LogEntry) -> Void { { entry in self.entries.withLock { $0.append(entry) } } }
        var all: [LogEntry] { entries.withLock { $0 } }
    }

    @Test func anExecuteOnThePoolLogsPoolConnectionDecodeAndIdleTimes() async throws {
        let script = Script([.ok(), .result()])
        let entries = Entries()
        try await withTestPool(script) { pool, _, _ in
            _ = try await pool.execute("SELECT 1", ["secret"], options: CallOptions(log: entries.log))
            let entry = try #require(entries.all.first)
            #expect(entry.call == .execute)
            #expect(entry.query == "SELECT 1")
            #expect(entry.params == "<redacted>")
            #expect(entry.poolTime != nil)
            #expect(entry.idleTime != nil)
            #expect(entry.connectionTime != nil)
            #expect(entry.decodeTime != nil)
            #expect(!entry.description.contains("secret"))
        }
    }

    @Test func paramsAppearOnlyWhenTheCallerOptsIn() async throws {
        let script = Script([.ok(), .result()])
        let entries = Entries()
        try await withTestPool(script) { pool, _, _ in
            _ = try await pool.execute("Q", ["secret"], options: CallOptions(log: entries.log, showSensitiveData: true))
            #expect(entries.all.first?.params == "[\"secret\"]")
        }
    }

    @Test func aCallOnAHeldConnectionHasNoPoolOrIdleTime() async throws {
        let script = Script([.ok(), .result()])
        let entries = Entries()
        try await withTestPool(script) { pool, _, _ in
            try await pool.withConnection { conn in
                _ = try await conn.execute("Q", [], options: CallOptions(log: entries.log))
            }
            let entry = try #require(entries.all.first)
            #expect(entry.poolTime == nil)
            #expect(entry.idleTime == nil)
        }
    }

    @Test func transactionCallsAreLoggedAsBeginAndCommit() async throws {
        let script = Script([.ok(), .result(), .result()])
        let entries = Entries()
        try await withTestPool(script) { pool, _, _ in
            _ = try await pool.transaction(options: CallOptions(log: entries.log)) { _ in 1 }
            #expect(entries.all.map(\.call) == [.begin, .commit])
            #expect(entries.all.map(\.query) == ["begin", "commit"])
        }
    }

    @Test func aFailedCallLogsItsError() async throws {
        let script = Script([.ok(), .error(Oops())])
        let entries = Entries()
        try await withTestPool(script) { pool, _, _ in
            _ = try? await pool.execute("Q", [], options: CallOptions(log: entries.log))
            guard case .failure(let error) = entries.all.first?.result else {
                Issue.record("expected a failure entry")
                return
            }
            #expect(error is Oops)
        }
    }
}

/// The client API works on any `DatabasePool`: here a minimal third pool with one connection.
@Suite(.timeLimit(.minutes(1))) struct ThirdPoolTests {
    final class SingleConnectionPool: DatabasePool, Sendable {
        typealias Connection = ScriptedConnection
        let name = "single"
        let holder: ConnectionHolder<ScriptedConnection>
        let generation = Mutex<UInt64>(0)
        let events = Mutex<[String]>([])

        init(connection: ScriptedConnection) {
            holder = ConnectionHolder(connection: connection, id: ConnectionID(poolIndex: 1))
        }

        func checkout(options: CallOptions) async throws -> PoolLease<ScriptedConnection> {
            let next = generation.withLock { $0 += 1; return $0 }
            holder.grant(generation: next)
            events.withLock { $0.append("checkout") }
            return PoolLease(holder: holder, generation: next, poolTime: nil, idleTime: nil, deadline: nil)
        }

        func checkin(_ lease: PoolLease<ScriptedConnection>) {
            _ = holder.release(generation: lease.generation)
            events.withLock { $0.append("checkin") }
        }

        func disconnect(_ lease: PoolLease<ScriptedConnection>, error: any Error) {
            events.withLock { $0.append("disconnect") }
        }

        func stop(_ lease: PoolLease<ScriptedConnection>, error: any Error) {
            events.withLock { $0.append("stop") }
        }
    }

    @Test func transactionsAndExecutesRunOnAThirdPool() async throws {
        let script = Script([.ok(), .result(), .result("R"), .result()])
        let connection = try await ScriptedConnection.connect(
            options: ScriptedOptions(script: script),
            context: ConnectionContext(poolIndex: 1, poolName: "single", logger: .init(label: "t"), showSensitiveData: false)
        )
        let pool = SingleConnectionPool(connection: connection)
        let value = try await pool.transaction { conn in try await conn.execute("Q", []) }
        #expect(value == "R")
        #expect(script.record.map(\.name) == ["connect", "begin", "execute", "commit"])
        #expect(pool.events.withLock { $0 } == ["checkout", "checkin"])
    }
}

/// A retry request after `begin` must not run the transaction's body again.
@Suite(.timeLimit(.minutes(1))) struct TransactionRetryTests {
    @Test func aDisconnectAndRetryInsideTheBodyEndsTheTransactionWithoutRunningItAgain() async throws {
        let script = Script([.ok(), .result(), .disconnectAndRetry(Oops()), .ok(), .ok()])
        let runs = Mutex(0)
        try await withTestPool(script) { pool, _, _ in
            await #expect(throws: Oops.self) {
                try await pool.transaction { conn in
                    runs.withLock { $0 += 1 }
                    return try await conn.execute("Q", [])
                }
            }
        }
        #expect(runs.withLock { $0 } == 1)
        #expect(script.record.filter { $0.name == "begin" }.count == 1)
    }
}
