import DBConnection
import DBConnectionSQLite
import Foundation
import Testing

@Suite(.timeLimit(.minutes(1)))
struct SQLiteConnectionTests {
    // MARK: Callbacks

    @Test func everyCallbackWorksOnARealFile() async throws {
        try await withConnection { conn, path in
            try await conn.ping()
            try await conn.checkout()
            #expect(try await conn.status(callOptions: noOptions) == .idle)

            let create = try await conn.prepare(
                "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT)",
                callOptions: noOptions
            )
            #expect(create.statementDescription == "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT)")
            _ = try await conn.execute(create, params: .none, callOptions: noOptions)
            _ = try await conn.close(create, callOptions: noOptions)

            #expect(
                try await conn.begin(options: .init(), callOptions: noOptions)
                    == .okStatement(SQLiteResult(), statement: "BEGIN DEFERRED")
            )
            let insert: SQLiteQuery = "INSERT INTO t(name) VALUES (?)"
            let (_, inserted) = try await conn.execute(insert, params: ["a"], callOptions: noOptions)
            #expect(inserted.rowsChanged == 1)
            #expect(try await conn.commit(callOptions: noOptions) == .okStatement(SQLiteResult(), statement: "COMMIT"))

            #expect(
                try await conn.begin(options: .immediate, callOptions: noOptions)
                    == .okStatement(SQLiteResult(), statement: "BEGIN IMMEDIATE")
            )
            _ = try await conn.execute(insert, params: ["b"], callOptions: noOptions)
            #expect(
                try await conn.rollback(callOptions: noOptions) == .okStatement(SQLiteResult(), statement: "ROLLBACK")
            )

            let select: SQLiteQuery = "SELECT name FROM t ORDER BY id"
            let (_, cursor) = try await conn.declare(select, params: .none, callOptions: noOptions)
            let batch = try await conn.fetch(select, cursor: cursor, callOptions: noOptions)
            #expect(batch == .done(SQLiteResult(columns: ["name"], rows: [["a"]], lastInsertRowID: 2)))
            _ = try await conn.deallocate(select, cursor: cursor, callOptions: noOptions)

            try await conn.checkin()
            await conn.interrupt()  // nothing runs: no effect on the next call
            #expect(try await conn.execute("SELECT count(*) FROM t").scalar == 1)
            #expect(FileManager.default.fileExists(atPath: path))
        }
    }

    @Test func connectAppliesTheOptions() async throws {
        try await withConnection(configure: { $0.foreignKeys = true }) { conn, path throws in
            #expect(try await conn.execute("PRAGMA journal_mode").scalar == "wal")
            #expect(try await conn.execute("PRAGMA foreign_keys").scalar == 1)
            try await conn.execute("CREATE TABLE t(x)")
            #expect(FileManager.default.fileExists(atPath: path + "-wal"))
        }
        try await withConnection(configure: {
            $0.journalMode = nil
            $0.foreignKeys = false
            $0.busyTimeout = .milliseconds(250)
        }) { conn, _ throws in
            #expect(try await conn.execute("PRAGMA journal_mode").scalar == "delete")
            #expect(try await conn.execute("PRAGMA foreign_keys").scalar == 0)
        }
    }

    @Test func disconnectIsSafeToCallTwiceAndLaterCallsThrow() async throws {
        try await withTemporaryDirectory { directory in
            let conn = try await SQLiteConnection.connect(
                options: .init(path: directory.appendingPathComponent("x.sqlite").path)
            )
            await conn.disconnect(error: CancellationError())
            await conn.disconnect(error: CancellationError())
            let error = await sqliteError { _ = try await conn.execute("SELECT 1") }
            #expect(error?.code == .misuse)
        }
    }

    @Test func aDroppedConnectionClosesItsDatabase() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("dropped.sqlite").path
            var conn: SQLiteConnection? = try await SQLiteConnection.connect(
                options: .init(path: path, journalMode: .delete)
            )
            try await conn?.execute("CREATE TABLE t(x)")
            try await conn?.execute("BEGIN EXCLUSIVE")
            conn = nil
            // The exclusive lock goes away with the connection: another connection can write.
            let other = try await SQLiteConnection.connect(
                options: .init(path: path, busyTimeout: .seconds(30), journalMode: .delete)
            )
            try await other.execute("INSERT INTO t VALUES (1)")
            let count = try await other.execute("SELECT count(*) FROM t").scalar
            #expect(count == 1)
            await other.disconnect(error: CancellationError())
        }
    }

    @Test func inMemoryDatabasesWork() async throws {
        let conn = try await SQLiteConnection.connect(options: .inMemory)
        try await conn.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2);")
        #expect(try await conn.execute("SELECT sum(x) FROM t").scalar == 3)
        #expect(try await conn.execute("PRAGMA journal_mode").scalar == "memory")
        await conn.disconnect(error: CancellationError())
    }

    // MARK: Values and parameters

    @Test(arguments: [
        SQLiteValue.null,
        .integer(.min), .integer(.max), .integer(0), .integer(-1),
        .real(3.141592653589793), .real(-0.5), .real(1e308), .real(.infinity),
        .text(""), .text("plain"), .text("héllo wörld, 日本語, 🦊 and a \u{0} NUL"), .text("it's"),
        .blob([]), .blob([0, 1, 2, 255]), .blob(Array(repeating: 0xAB, count: 100_000)),
        true, false,
    ])
    func valuesRoundTrip(_ value: SQLiteValue) async throws {
        try await withConnection { conn, _ in
            try await conn.execute("CREATE TABLE t(v)")
            try await conn.execute("INSERT INTO t VALUES (?)", [value])
            let stored = try await conn.execute("SELECT v, typeof(v) FROM t")
            #expect(stored.rows == [[value, SQLiteValue.text(Self.typeName(value))]])
            #expect(try await conn.execute("SELECT ?", [value]).scalar == value)
        }
    }

    private static func typeName(_ value: SQLiteValue) -> String {
        switch value {
        case .null: "null"
        case .integer: "integer"
        case .real: "real"
        case .text: "text"
        case .blob: "blob"
        }
    }

    @Test func boolsAreIntegers() {
        #expect(SQLiteValue(true) == .integer(1))
        #expect(SQLiteValue(false) == .integer(0))
        #expect(SQLiteValue.integer(7).bool == true)
        #expect(SQLiteValue.integer(0).bool == false)
        #expect(SQLiteValue.text("1").bool == nil)
    }

    @Test func positionalAndNamedParametersBind() async throws {
        try await withConnection { conn, _ in
            try await conn.execute("CREATE TABLE t(a, b, c)")
            try await conn.execute("INSERT INTO t VALUES (?, ?, ?)", [1, "x", nil])
            try await conn.execute("INSERT INTO t VALUES (?3, ?1, ?2)", [20, nil, 10])
            try await conn.execute("INSERT INTO t VALUES (:a, @b, $c)", ["a": 100, "b": "y", "c": 2.5])
            try await conn.execute("INSERT INTO t VALUES (:a, :b, :a)", [":a": 7, ":b": "z"])
            let rows = try await conn.execute("SELECT a, b, c FROM t ORDER BY rowid").rows
            #expect(rows == [[1, "x", nil], [10, 20, nil], [100, "y", 2.5], [7, "z", 7]])
        }
    }

    @Test func parametersThatDoNotMatchTheStatementAreRejected() async throws {
        try await withConnection { conn, _ throws in
            let tooFew = await sqliteError { try await conn.execute("SELECT ?, ?", [1]) }
            #expect(tooFew?.code == .range)
            #expect(tooFew?.message == "the statement has 2 parameters, got 1 value")
            #expect(tooFew?.sql == "SELECT ?, ?")

            let missing = await sqliteError { try await conn.execute("SELECT :a, :b", ["a": 1]) }
            #expect(missing?.message == "no value for parameter :b")

            let unused = await sqliteError { try await conn.execute("SELECT :a", ["a": 1, "typo": 2]) }
            #expect(unused?.message == "the statement has no parameter named typo")

            let mixed = await sqliteError { try await conn.execute("SELECT ?", ["a": 1]) }
            #expect(mixed?.code == .range)

            // The connection is fine, and a failed bind leaves no stale values on the cached statement.
            #expect(try await conn.execute("SELECT :a, :b", ["a": 1, "b": 2]).rows == [[1, 2]])
        }
    }

    @Test func errorsNeverShowBoundValues() async throws {
        try await withConnection { conn, _ in
            try await conn.execute("CREATE TABLE users(email TEXT UNIQUE)")
            try await conn.execute("INSERT INTO users VALUES (?)", ["secret@example.com"])
            let error = await sqliteError {
                try await conn.execute("INSERT INTO users VALUES (?)", ["secret@example.com"])
            }
            #expect(error?.code == .constraint)
            #expect(error?.extendedCode == 2067)  // SQLITE_CONSTRAINT_UNIQUE
            #expect(error?.sql == "INSERT INTO users VALUES (?)")
            #expect(!"\(error.map { "\($0)" } ?? "")".contains("secret"))
            #expect(!String(reflecting: error).contains("secret"))
        }
    }

    // MARK: Results

    @Test func rowsChangedAndLastInsertRowIDDescribeTheStatement() async throws {
        try await withConnection { conn, _ in
            try await conn.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER)")
            let first = try await conn.execute("INSERT INTO t(n) VALUES (1), (2), (3)")
            #expect(first.rowsChanged == 3)
            #expect(first.lastInsertRowID == 3)
            let explicit = try await conn.execute("INSERT INTO t(id, n) VALUES (42, 4)")
            #expect(explicit.lastInsertRowID == 42)
            let update = try await conn.execute("UPDATE t SET n = n * 10 WHERE n >= 2")
            #expect(update.rowsChanged == 3)
            let none = try await conn.execute("UPDATE t SET n = 0 WHERE id = 1000")
            #expect(none.rowsChanged == 0)
            let select = try await conn.execute("SELECT id, n FROM t ORDER BY id")
            #expect(select.rowsChanged == 0)
            #expect(select.columns == ["id", "n"])
            #expect(select.values("n") == [1, 20, 30, 40])
            #expect(select.value("id", row: 3) == 42)
            #expect(select.namedRows.first == ["id": 1, "n": 1])
            let delete = try await conn.execute("DELETE FROM t")
            #expect(delete.rowsChanged == 4)
        }
    }

    @Test func aScriptRunsEveryStatementAndReturnsTheLastResult() async throws {
        try await withConnection { conn, _ in
            let result = try await conn.execute(
                """
                CREATE TABLE t(x); -- a comment
                INSERT INTO t VALUES (1);
                INSERT INTO t VALUES (2);
                SELECT sum(x) FROM t;
                """
            )
            #expect(result.scalar == 3)
            let withParams = await sqliteError { try await conn.execute("SELECT ?; SELECT ?", [1, 2]) }
            #expect(withParams?.code == .range)
            #expect(try await conn.execute("").rows.isEmpty)
            #expect(try await conn.execute("-- nothing").rows.isEmpty)
        }
    }

    // MARK: Statement cache

    @Test func theStatementCacheStaysWithinItsSize() async throws {
        try await withConnection(configure: { $0.statementCacheSize = 2 }) { conn, _ in
            #expect(await conn.cachedStatementCount == 0)
            for n in 1...5 {
                #expect(try await conn.execute(SQLiteQuery("SELECT \(n)")).scalar == .integer(Int64(n)))
                #expect(await conn.cachedStatementCount == min(n, 2))
            }
            // A hit keeps the statement; close drops it.
            try await conn.execute("SELECT 5")
            #expect(await conn.cachedStatementCount == 2)
            _ = try await conn.close("SELECT 5", callOptions: noOptions)
            #expect(await conn.cachedStatementCount == 1)
            _ = try await conn.prepare("SELECT 6", callOptions: noOptions)
            #expect(await conn.cachedStatementCount == 2)
        }
    }

    @Test func aDisabledCacheKeepsNothing() async throws {
        try await withConnection(configure: { $0.statementCacheSize = 0 }) { conn, _ in
            for n in 1...3 {
                try await conn.execute(SQLiteQuery("SELECT \(n)"))
            }
            _ = try await conn.prepare("SELECT 1", callOptions: noOptions)
            #expect(await conn.cachedStatementCount == 0)
        }
    }

    @Test func prepareReportsSyntaxErrorsAsPlainErrors() async throws {
        try await withConnection { conn, _ in
            do {
                _ = try await conn.prepare("SELEC 1", callOptions: noOptions)
                Issue.record("expected a syntax error")
            } catch let error as SQLiteError {
                #expect(error.code == .error)
                #expect(error.message.contains("syntax error"))
                #expect(error.sql == "SELEC 1")
            }
        }
    }

    // MARK: Transactions

    @Test func transactionStatusFollowsTheDatabase() async throws {
        try await withConnection { conn, _ in
            try await conn.execute("CREATE TABLE t(x)")
            #expect(try await conn.status(callOptions: noOptions) == .idle)
            #expect(try await conn.commit(callOptions: noOptions) == .status(.idle))
            #expect(try await conn.rollback(callOptions: noOptions) == .status(.idle))

            _ = try await conn.begin(options: .init(), callOptions: noOptions)
            #expect(try await conn.status(callOptions: noOptions) == .transaction)
            #expect(try await conn.begin(options: .exclusive, callOptions: noOptions) == .status(.transaction))
            try await conn.execute("INSERT INTO t VALUES (1)")
            _ = try await conn.commit(callOptions: noOptions)
            #expect(try await conn.status(callOptions: noOptions) == .idle)

            // A transaction begun in SQL counts too.
            try await conn.execute("BEGIN")
            #expect(try await conn.status(callOptions: noOptions) == .transaction)
            try await conn.execute("INSERT INTO t VALUES (2)")
            _ = try await conn.rollback(callOptions: noOptions)
            #expect(try await conn.execute("SELECT count(*) FROM t").scalar == 1)
        }
    }

    @Test func theDefaultTransactionModeAppliesWhenTheOptionsNameNone() async throws {
        try await withConnection(configure: { $0.defaultTransactionMode = .immediate }) { conn, _ in
            #expect(
                try await conn.begin(options: .init(), callOptions: noOptions)
                    == .okStatement(SQLiteResult(), statement: "BEGIN IMMEDIATE")
            )
            _ = try await conn.rollback(callOptions: noOptions)
            #expect(
                try await conn.begin(options: .deferred, callOptions: noOptions)
                    == .okStatement(SQLiteResult(), statement: "BEGIN DEFERRED")
            )
            _ = try await conn.rollback(callOptions: noOptions)
        }
    }

    @Test func aSavepointUndoesOnlyWhatFollowsIt() async throws {
        try await withConnection { conn, _ in
            try await conn.execute("CREATE TABLE t(x INTEGER UNIQUE)")
            _ = try await conn.begin(options: .init(), callOptions: noOptions)
            try await conn.execute("INSERT INTO t VALUES (1)")
            try await conn.savepoint("step two")
            try await conn.execute("INSERT INTO t VALUES (2)")
            let violation = await sqliteError { try await conn.execute("INSERT INTO t VALUES (1)") }
            #expect(violation?.code == .constraint)
            try await conn.rollbackToSavepoint("step two")
            try await conn.releaseSavepoint("step two")
            #expect(try await conn.status(callOptions: noOptions) == .transaction)
            #expect(try await conn.commit(callOptions: noOptions) == .okStatement(SQLiteResult(), statement: "COMMIT"))
            #expect(try await conn.execute("SELECT x FROM t ORDER BY x").rows == [[1]])

            let unknown = await sqliteError { try await conn.releaseSavepoint("nope") }
            #expect(unknown?.message.contains("no such savepoint") == true)
        }
    }

    @Test func aCheckinIsNeededOnlyWhenTheLastCallLeftATransactionOrACursorOpen() async throws {
        try await withConnection { conn, _ in
            _ = try await conn.execute("SELECT 1")
            #expect(!conn.needsCheckin)
            try await conn.execute("BEGIN")
            #expect(conn.needsCheckin)
            try await conn.execute("ROLLBACK")
            #expect(!conn.needsCheckin)
            let (_, cursor) = try await conn.declare("SELECT 1", params: .none, callOptions: noOptions)
            #expect(conn.needsCheckin)
            _ = try await conn.deallocate("SELECT 1", cursor: cursor, callOptions: noOptions)
            #expect(!conn.needsCheckin)
        }
    }

    @Test func aLeaseThatEndsInATransactionDisconnectsAtCheckin() async throws {
        try await withConnection { conn, _ in
            try await conn.execute("BEGIN")
            await #expect(throws: DisconnectError.self) { try await conn.checkin() }
            try await conn.execute("ROLLBACK")
            let (_, cursor) = try await conn.declare("SELECT 1", params: .none, callOptions: noOptions)
            await #expect(throws: DisconnectError.self) { try await conn.checkin() }
            _ = try await conn.deallocate("SELECT 1", cursor: cursor, callOptions: noOptions)
            try await conn.checkin()
        }
    }

    // MARK: Cursors

    @Test func aCursorReturnsEveryRowInBatches() async throws {
        try await withConnection { conn, _ in
            try await conn.execute("CREATE TABLE t(x)")
            try await insertOneToTen(conn)
            let query: SQLiteQuery = "SELECT x FROM t WHERE x > ? ORDER BY x"
            let (_, cursor) = try await conn.declare(query, params: [0], callOptions: noOptions)
            var options = CallOptions()
            options.maxRows = 4
            var batches: [FetchResult<SQLiteResult>] = []
            while true {
                let batch = try await conn.fetch(query, cursor: cursor, callOptions: options)
                batches.append(batch)
                if case .done = batch { break }
            }
            _ = try await conn.deallocate(query, cursor: cursor, callOptions: noOptions)
            #expect(batches.map { $0.result.rows.count } == [4, 4, 2])
            guard case .done = batches.last else { Issue.record("the last batch is .done"); return }
            #expect(batches.flatMap { $0.result.rows } == (1...10).map { [SQLiteValue.integer(Int64($0))] })
        }
    }

    @Test func aCursorLeftEarlyLeavesTheConnectionUsable() async throws {
        try await withConnection { conn, _ in
            try await conn.execute("CREATE TABLE t(x)")
            try await insertOneToTen(conn)
            let query: SQLiteQuery = "SELECT x FROM t ORDER BY x"
            var options = CallOptions()
            options.maxRows = 3
            let (_, cursor) = try await conn.declare(query, params: .none, callOptions: noOptions)
            // The same SQL, while the cursor steps the cached statement, runs on a statement of its own.
            #expect(try await conn.execute(query).count == 10)
            let first = try await conn.fetch(query, cursor: cursor, callOptions: options)
            #expect(first == .more(SQLiteResult(columns: ["x"], rows: [[1], [2], [3]], lastInsertRowID: 10)))
            _ = try await conn.deallocate(query, cursor: cursor, callOptions: noOptions)

            await #expect(throws: SQLiteError.self) {
                _ = try await conn.fetch(query, cursor: cursor, callOptions: options)
            }
            // The cached statement was reset: it starts from the first row again, and writes work.
            #expect(try await conn.execute(query).count == 10)
            try await conn.execute("DELETE FROM t")
            #expect(try await conn.execute("SELECT count(*) FROM t").scalar == 0)
            #expect(try await conn.status(callOptions: noOptions) == .idle)
        }
    }

    @Test func aCursorThatFailedDoesNotStartOver() async throws {
        try await withConnection { conn, _ in
            let query: SQLiteQuery = """
                WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5)
                SELECT CASE WHEN x = 3 THEN abs(-9223372036854775807 - 1) ELSE x END FROM c
                """
            var options = CallOptions()
            options.maxRows = 2
            let (_, cursor) = try await conn.declare(query, params: .none, callOptions: noOptions)
            let first = try await conn.fetch(query, cursor: cursor, callOptions: options)
            #expect(first.result.rows == [[1], [2]])
            let overflow = await sqliteError { _ = try await conn.fetch(query, cursor: cursor, callOptions: options) }
            #expect(overflow?.message == "integer overflow")
            let again = await sqliteError { _ = try await conn.fetch(query, cursor: cursor, callOptions: options) }
            #expect(again?.message.contains("the cursor failed earlier") == true)
            _ = try await conn.deallocate(query, cursor: cursor, callOptions: noOptions)
            #expect(try await conn.execute("SELECT 1").scalar == 1)
        }
    }

    @Test func aCursorSurvivesTheEvictionOfItsStatement() async throws {
        try await withConnection(configure: { $0.statementCacheSize = 1 }) { conn, _ in
            let query: SQLiteQuery = "SELECT 1 UNION ALL SELECT 2"
            let (_, cursor) = try await conn.declare(query, params: .none, callOptions: noOptions)
            try await conn.execute("SELECT 3")  // evicts the cursor's statement from the cache
            _ = try await conn.close(query, callOptions: noOptions)
            let rows = try await conn.fetch(query, cursor: cursor, callOptions: noOptions)
            #expect(rows.result.rows == [[1], [2]])
            _ = try await conn.deallocate(query, cursor: cursor, callOptions: noOptions)
            #expect(await conn.cachedStatementCount == 1)
        }
    }

    // MARK: Errors

    @Test func aConstraintViolationIsAPlainErrorAndTheConnectionStays() async throws {
        try await withConnection { conn, _ in
            try await conn.execute("CREATE TABLE parent(id INTEGER PRIMARY KEY)")
            try await conn.execute("CREATE TABLE child(parent INTEGER NOT NULL REFERENCES parent(id))")
            do {
                try await conn.execute("INSERT INTO child VALUES (?)", [99])
                Issue.record("expected a foreign key violation")
            } catch let error as SQLiteError {
                #expect(error.code == .constraint)
                #expect(!error.invalidatesConnection)
            } catch {
                Issue.record("expected a plain SQLiteError, got \(error)")
            }
            do {
                try await conn.execute("INSERT INTO child VALUES (NULL)")
                Issue.record("expected a NOT NULL violation")
            } catch {
                #expect(!(error is DisconnectError))
            }
            try await conn.ping()
        }
    }

    @Test func busyErrorsSayWhatToDo() async throws {
        try await withConnection(configure: { $0.busyTimeout = .zero }) { conn, path in
            let other = try await SQLiteConnection.connect(options: .init(path: path, busyTimeout: .zero))
            _ = try await conn.begin(options: .immediate, callOptions: noOptions)
            do {
                _ = try await other.begin(options: .immediate, callOptions: noOptions)
                Issue.record("expected SQLITE_BUSY")
            } catch let error as SQLiteError {
                #expect(error.code == .busy)
                #expect(
                    "\(error)".contains(
                        "raise busyTimeout, use WAL, or keep write transactions short; BEGIN IMMEDIATE for writers"
                    )
                )
                #expect(error.sql == "BEGIN IMMEDIATE")
            }
            #expect(try await other.status(callOptions: noOptions) == .idle)
            _ = try await conn.commit(callOptions: noOptions)
            _ = try await other.begin(options: .immediate, callOptions: noOptions)
            _ = try await other.commit(callOptions: noOptions)
            await other.disconnect(error: CancellationError())
        }
    }

    @Test func aFileOfGarbageFailsToConnectNamingThePath() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("garbage.sqlite").path
            try Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 7919) }).write(to: URL(fileURLWithPath: path))
            let error = await sqliteError { _ = try await SQLiteConnection.connect(options: .init(path: path)) }
            #expect(error?.code == .notADatabase)
            #expect(error?.path == path)
            #expect(error.map { "\($0)".contains(path) } == true)
            #expect(error?.message.hasPrefix("cannot open the database") == true)
        }
    }

    @Test func corruptionFoundByAQueryDisconnects() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("garbage.sqlite").path
            try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: path))
            // No journal mode to set: connecting does not read the file.
            let conn = try await SQLiteConnection.connect(options: .init(path: path, journalMode: nil))
            do {
                try await conn.execute("SELECT * FROM sqlite_master")
                Issue.record("expected a DisconnectError")
            } catch let error as DisconnectError {
                let underlying = try #require(error.underlying as? SQLiteError)
                #expect(underlying.code == .notADatabase)
                #expect(underlying.invalidatesConnection)
                #expect(underlying.path == path)
            }
            await conn.disconnect(error: CancellationError())
        }
    }

    @Test func aMissingDirectoryCannotBeOpened() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("missing/db.sqlite").path
            let error = await sqliteError { _ = try await SQLiteConnection.connect(options: .init(path: path)) }
            #expect(error?.code == .cannotOpen)
            #expect(error.map { "\($0)".contains(path) } == true)
        }
    }

    @Test func aReadOnlyConnectionCannotWrite() async throws {
        try await withConnection { conn, path in
            try await conn.execute("CREATE TABLE t(x)")
            let reader = try await SQLiteConnection.connect(options: .init(path: path, mode: .readOnly))
            #expect(try await reader.execute("SELECT count(*) FROM t").scalar == 0)
            let error = await sqliteError { try await reader.execute("INSERT INTO t VALUES (1)") }
            #expect(error?.code == .readOnly)
            await reader.disconnect(error: CancellationError())
        }
    }
}

/// Fills table `t(x)` with 1...10.
private func insertOneToTen(_ conn: SQLiteConnection) async throws {
    try await conn.execute(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10) INSERT INTO t SELECT x FROM c"
    )
}
