import DBConnection
import DBConnectionPostgres
import DBConnectionTesting
import Foundation
import Logging
import Synchronization
import Testing

@Suite(requiresServer, .timeLimit(.minutes(1)))
struct PGConnectionTests {
    // MARK: Callbacks

    @Test func everyCallbackWorksOnARealServer() async throws {
        let table = uniqueName("callbacks")
        try await withConnection { conn in
            try await conn.ping()
            try await conn.checkout()
            #expect(conn.backendPID != nil)
            #expect(try await conn.status(callOptions: noOptions) == .idle)

            let create = try await conn.prepare(
                PGQuery("CREATE TABLE \(table) (id serial PRIMARY KEY, name text)"),
                callOptions: noOptions
            )
            #expect(create.name != nil)
            _ = try await conn.execute(create, params: [], callOptions: noOptions)
            _ = try await conn.close(create, callOptions: noOptions)

            let begin = try await conn.begin(options: .init(), callOptions: noOptions)
            #expect(begin == .okStatement(PGResult(commandTag: "BEGIN"), statement: "BEGIN"))
            #expect(try await conn.status(callOptions: noOptions) == .transaction)
            let insert = PGQuery("INSERT INTO \(table)(name) VALUES ($1)")
            let (_, inserted) = try await conn.execute(insert, params: ["a"], callOptions: noOptions)
            #expect(inserted.commandTag == "INSERT 0 1")
            #expect(inserted.rowsAffected == 1)
            #expect(
                try await conn.commit(callOptions: noOptions)
                    == .okStatement(PGResult(commandTag: "COMMIT"), statement: "COMMIT")
            )

            _ = try await conn.begin(options: .init(), callOptions: noOptions)
            _ = try await conn.execute(insert, params: ["b"], callOptions: noOptions)
            #expect(
                try await conn.rollback(callOptions: noOptions)
                    == .okStatement(PGResult(commandTag: "ROLLBACK"), statement: "ROLLBACK")
            )
            #expect(try await conn.status(callOptions: noOptions) == .idle)

            _ = try await conn.begin(options: .init(), callOptions: noOptions)
            let select = PGQuery("SELECT name FROM \(table) ORDER BY id")
            let (_, cursor) = try await conn.declare(select, params: [], callOptions: noOptions)
            let batch = try await conn.fetch(select, cursor: cursor, callOptions: noOptions)
            #expect(batch == .done(PGResult(columns: ["name"], rows: [["a"]], commandTag: "FETCH 1")))
            _ = try await conn.deallocate(select, cursor: cursor, callOptions: noOptions)
            _ = try await conn.commit(callOptions: noOptions)

            try await conn.checkin()
            await conn.interrupt()  // nothing runs: nothing is sent, the next call is not affected
            #expect(try await conn.execute(PGQuery("SELECT count(*) FROM \(table)")).scalar == 1)
            try await conn.execute(PGQuery("DROP TABLE \(table)"))
        }
    }

    @Test func disconnectClosesAndLaterCallsThrowARetryableDisconnect() async throws {
        let conn = try await PGConnection.connect(options: try PGTestEnvironment.options())
        await conn.disconnect(error: CancellationError())
        #expect(conn.isClosed)
        await conn.disconnect(error: CancellationError())  // twice is fine
        do {
            _ = try await conn.execute("SELECT 1", params: [], callOptions: noOptions)
            Issue.record("a closed connection ran a statement")
        } catch let error as DisconnectError {
            #expect(error.retry)
            #expect((error.underlying as? PGError)?.code == .connectionClosed)
        }
    }

    // MARK: Results

    @Test func resultsHaveColumnsAndCommandTagsEvenWithoutRows() async throws {
        let table = uniqueName("tags")
        try await withConnection { conn in
            try await conn.execute(PGQuery("CREATE TEMP TABLE \(table) (id int, label text)"))
            let insert = try await conn.execute(PGQuery("INSERT INTO \(table) VALUES (1, 'x'), (2, 'y')"))
            #expect(insert.commandTag == "INSERT 0 2")
            #expect(insert.columns.isEmpty)
            let empty = try await conn.execute(PGQuery("SELECT id, label FROM \(table) WHERE id > $1"), [100])
            #expect(empty.columns == ["id", "label"])
            #expect(empty.isEmpty)
            #expect(empty.commandTag == "SELECT 0")
            let prepared = try await conn.prepare(
                PGQuery("SELECT id, label AS l FROM \(table) WHERE id > $1"),
                callOptions: noOptions
            )
            let (_, preparedEmpty) = try await conn.execute(prepared, params: [100], callOptions: noOptions)
            #expect(preparedEmpty.columns == ["id", "l"])
            let update = try await conn.execute(PGQuery("UPDATE \(table) SET label = 'z'"))
            #expect(update.rowsAffected == 2)
            let rows = try await conn.execute(PGQuery("SELECT id, label FROM \(table) ORDER BY id"))
            #expect(rows.values("label") == ["z", "z"])
            #expect(rows.value("id", row: 1) == .int32(2))
            #expect(rows.namedRows.first?["id"] == .int32(1))
        }
    }

    @Test func preparedStatementsAreCachedAndPreparedAgainWhereMissing() async throws {
        try await withConnection(configure: { $0.statementCacheSize = 2 }) { conn in
            let a = try await conn.prepare("SELECT $1::int4 + 1", callOptions: noOptions)
            let again = try await conn.prepare("SELECT $1::int4 + 1", callOptions: noOptions)
            #expect(a.name == again.name)
            let named = try await conn.prepare(PGQuery("SELECT $1::text || '!'", name: "shout"), callOptions: noOptions)
            #expect(named.name == "shout")
            #expect(try await conn.execute(named, params: ["hi"], callOptions: noOptions).1.scalar == "hi!")
            let count = "SELECT count(*) FROM pg_prepared_statements"
            #expect(try await conn.execute(PGQuery(count)).scalar == 2)
            // A third statement evicts the least recently used one (a): deallocated on the server.
            _ = try await conn.prepare("SELECT 3", callOptions: noOptions)
            #expect(try await conn.execute(PGQuery(count)).scalar == 2)
            // Executing the evicted one prepares it again.
            #expect(try await conn.execute(a, params: [41], callOptions: noOptions).1.scalar == .int32(42))
            _ = try await conn.close(a, callOptions: noOptions)
            _ = try await conn.close(named, callOptions: noOptions)
            #expect(try await conn.execute(PGQuery(count)).scalar == 1)
            // A query prepared on another connection is prepared here when executed.
            let foreign = PGQuery("SELECT $1::int8 * 2", name: "never_prepared_here")
            #expect(try await conn.execute(foreign, params: [21], callOptions: noOptions).1.scalar == .int64(42))
        }
    }

    @Test func preparedStatementsCheckTheParameters() async throws {
        try await withConnection { conn in
            let query = try await conn.prepare("SELECT $1::int2", callOptions: noOptions)
            let tooMany = await pgError { _ = try await conn.execute(query, params: [1, 2], callOptions: noOptions) }
            #expect(tooMany?.code == .invalidValue)
            #expect(tooMany?.message.contains("1 parameter(s), 2 value(s)") == true)
            let outOfRange = await pgError {
                _ = try await conn.execute(query, params: [70_000], callOptions: noOptions)
            }
            #expect(outOfRange?.code == .invalidValue)
            #expect(outOfRange?.message.contains("$1") == true)
            #expect(try await conn.execute(query, params: [7], callOptions: noOptions).1.scalar == .int16(7))
        }
    }

    // MARK: Transactions and status

    @Test func statusComesFromTheServer() async throws {
        try await withConnection { conn in
            #expect(try await conn.status(callOptions: noOptions) == .idle)
            // A transaction begun by hand is seen too: the status is the server's, not bookkeeping.
            try await conn.execute("BEGIN")
            #expect(try await conn.status(callOptions: noOptions) == .transaction)
            #expect(try await conn.begin(options: .init(), callOptions: noOptions) == .status(.transaction))
            let error = await pgError { try await conn.execute("SELECT 1/0") }
            #expect(error?.sqlState == "22012")
            #expect(try await conn.status(callOptions: noOptions) == .error)
            let aborted = await pgError { try await conn.execute("SELECT 1") }
            #expect(aborted?.sqlState == "25P02")
            #expect(try await conn.commit(callOptions: noOptions) == .status(.error))
            #expect(try await conn.status(callOptions: noOptions) == .error)
            _ = try await conn.rollback(callOptions: noOptions)
            #expect(try await conn.status(callOptions: noOptions) == .idle)
            #expect(try await conn.commit(callOptions: noOptions) == .status(.idle))
            #expect(try await conn.rollback(callOptions: noOptions) == .status(.idle))
        }
    }

    @Test func beginAppliesIsolationAndReadOnly() async throws {
        try await withConnection { conn in
            let options = PGConnection.TransactionOptions(
                isolationLevel: .serializable,
                readOnly: true,
                deferrable: true
            )
            let reply = try await conn.begin(options: options, callOptions: noOptions)
            #expect(
                reply
                    == .okStatement(
                        PGResult(commandTag: "BEGIN"),
                        statement: "BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE"
                    )
            )
            #expect(try await conn.execute("SHOW transaction_isolation").scalar == "serializable")
            #expect(try await conn.execute("SHOW transaction_read_only").scalar == "on")
            let write = await pgError { try await conn.execute("CREATE TEMP TABLE nope (x int)") }
            #expect(write?.sqlState == "25006")
            _ = try await conn.rollback(callOptions: noOptions)
        }
    }

    @Test func aCheckinIsNeededOnlyWhenTheServerLastSaidSomethingOtherThanIdle() async throws {
        try await withConnection { conn in
            try await conn.execute("SELECT 1")
            #expect(!conn.needsCheckin)
            try await conn.execute("BEGIN")
            #expect(conn.needsCheckin)
            _ = await pgError { try await conn.execute("SELECT 1/0") }
            #expect(conn.needsCheckin)  // an aborted transaction
            try await conn.execute("ROLLBACK")
            #expect(!conn.needsCheckin)
            // A closed connection is never taken as clean without its check-in.
            await conn.disconnect(error: PGError(.connectionClosed, message: "closed by the test"))
            #expect(conn.needsCheckin)
        }
    }

    @Test func checkinRefusesAConnectionLeftInATransaction() async throws {
        try await withConnection { conn in
            try await conn.execute("BEGIN")
            do {
                try await conn.checkin()
                Issue.record("checkin accepted an open transaction")
            } catch let error as DisconnectError {
                #expect("\(error.underlying)".contains("inside a transaction"))
            }
            try await conn.execute("ROLLBACK")
            try await conn.checkin()
        }
    }

    @Test func aFailingStatementInsideASavepointLeavesTheTransactionUsable() async throws {
        let table = uniqueName("savepoints")
        try await withConnection { conn in
            try await conn.execute(PGQuery("CREATE TEMP TABLE \(table) (id int PRIMARY KEY)"))
            try await conn.execute("BEGIN")
            try await conn.execute(PGQuery("INSERT INTO \(table) VALUES (1)"))
            try await conn.savepoint("sp")
            let duplicate = await pgError { try await conn.execute(PGQuery("INSERT INTO \(table) VALUES (1)")) }
            #expect(duplicate?.sqlState == "23505")
            #expect(duplicate?.constraintName == "\(table)_pkey")
            #expect(try await conn.status(callOptions: noOptions) == .error)
            try await conn.rollbackToSavepoint("sp")
            #expect(try await conn.status(callOptions: noOptions) == .transaction)
            try await conn.releaseSavepoint("sp")
            try await conn.execute(PGQuery("INSERT INTO \(table) VALUES (2)"))
            _ = try await conn.commit(callOptions: noOptions)
            #expect(try await conn.execute(PGQuery("SELECT count(*) FROM \(table)")).scalar == 2)
        }
    }

    // MARK: Errors

    @Test func serverErrorsArePlainAndKeepTheConnection() async throws {
        let table = uniqueName("errors")
        try await withConnection { conn in
            try await conn.execute(PGQuery("CREATE TEMP TABLE \(table) (email text UNIQUE)"))
            try await conn.execute(PGQuery("INSERT INTO \(table) VALUES ('ann@example.com')"))
            do {
                try await conn.execute(PGQuery("INSERT INTO \(table) VALUES ($1)"), ["ann@example.com"])
                Issue.record("a duplicate was inserted")
            } catch let error as PGError {
                #expect(error.code == .server)
                #expect(error.sqlState == "23505")
                #expect(error.severity == "ERROR")
                #expect(!error.invalidatesConnection)
                #expect(error.detail?.contains("ann@example.com") == true)
                // The detail quotes the row: only debugDescription shows it.
                #expect(!"\(error)".contains("ann@example.com"))
                #expect(String(reflecting: error).contains("ann@example.com"))
                #expect("\(error)".contains("INSERT INTO \(table)"))
            }
            let syntax = await pgError { try await conn.execute("SELEC 1") }
            #expect(syntax?.sqlState == "42601")
            #expect(syntax?.position == 1)
            let missing = await pgError { try await conn.execute("SELECT * FROM no_such_table_here") }
            #expect(missing?.sqlState == "42P01")
            #expect(try await conn.execute("SELECT 1").scalar == 1)
        }
    }

    @Test func wrongPasswordGivesAClearRedactedError() async throws {
        let url = try PGTestEnvironment.required("DBCONN_PG_PASSWORD_URL")
        let right = try PGConnection.Options(url: url)
        let password = try #require(right.password)
        // The right password works (scram-sha-256)...
        let conn = try await PGConnection.connect(options: right)
        #expect(try await conn.execute("SELECT current_user").scalar == .text(right.user))
        await conn.disconnect(error: CancellationError())
        // ...a wrong one fails with the server's 28P01, naming the user and target, never a password.
        var wrong = right
        wrong.password = "wrong-\(password)"
        do {
            _ = try await PGConnection.connect(options: wrong)
            Issue.record("connected with a wrong password")
        } catch let error as PGError {
            #expect(error.code == .server)
            #expect(error.sqlState == "28P01")
            let texts = ["\(error)", String(reflecting: error), error.message]
            for text in texts {
                #expect(!text.contains(password))
                #expect(!text.contains("wrong-"))
            }
            #expect(error.message.contains("password authentication failed for user \"\(right.user)\""))
            #expect(error.message.contains("postgres://\(right.user):***@\(right.host):\(right.port)"))
        }
        // With no password at all the client says what is missing.
        var none = right
        none.password = nil
        let missing = await pgError { _ = try await PGConnection.connect(options: none) }
        #expect(missing?.code == .authentication)
    }

    @Test func unreachableServersFailWithConnectFailed() async throws {
        var options = try PGTestEnvironment.options()
        options.host = "127.0.0.1"
        options.port = 1
        let error = await pgError { _ = try await PGConnection.connect(options: options) }
        #expect(error?.code == .connectFailed)
        #expect(error?.message.contains("127.0.0.1:1") == true)
    }

    // MARK: Interrupts and faults

    @Test func interruptCancelsTheRunningStatementAndKeepsTheConnection() async throws {
        let name = uniqueName("interrupt")
        try await withConnection(applicationName: name) { conn in
            try await withConnection { observer in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        let error = await pgError { try await conn.execute("SELECT pg_sleep(30)") }
                        #expect(error?.isQueryCanceled == true)
                        #expect(error?.invalidatesConnection == false)
                    }
                    try await waitOnServer("pg_sleep to run") {
                        try await observer.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'",
                            [.text(name)]
                        ).scalar == 1
                    }
                    await conn.interrupt()
                    try await group.waitForAll()
                }
            }
            #expect(try await conn.status(callOptions: noOptions) == .idle)
            #expect(try await conn.execute("SELECT 2").scalar == 2)
        }
    }

    @Test func cancellingTheTaskCancelsTheStatement() async throws {
        try await withConnection { conn in
            let start = ContinuousClock.now
            let task = Task { try await conn.execute("SELECT pg_sleep(30)") }
            try await waitOnServer("pg_sleep to run") {
                try await PGConnection.withTemporary { observer in
                    try await observer.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
                        [.int32(conn.backendPID!)]
                    ).scalar == 1
                }
            }
            task.cancel()
            let result = await task.result
            #expect(throws: PGError.self) { try result.get() }
            #expect(ContinuousClock.now - start < .seconds(20))
            #expect(try await conn.execute("SELECT 3").scalar == 3)
        }
    }

    @Test func aTerminatedBackendGivesADisconnectError() async throws {
        try await withConnection { conn in
            let pid = try #require(conn.backendPID)
            let terminated = try await withConnection { killer in
                try await killer.execute("SELECT pg_terminate_backend($1)", [.int32(pid)]).scalar
            }
            #expect(terminated == true)
            do {
                // The server's FATAL 57P01 may arrive before or while this runs.
                try await waitOnServer("the connection to notice") { conn.isClosed }
                try await conn.execute("SELECT 1")
                Issue.record("a terminated backend answered")
            } catch let error as DisconnectError {
                let underlying = try #require(error.underlying as? PGError)
                #expect(underlying.invalidatesConnection)
            }
            await #expect(throws: DisconnectError.self) { _ = try await conn.status(callOptions: noOptions) }
        }
    }

    // MARK: Transport

    @Test(arguments: ["disable", "prefer", "require"])
    func sslmodesReachTheServer(_ sslmode: String) async throws {
        let tls = try PGConnection.Options(url: "postgres://u@h?sslmode=\(sslmode)").tls
        try await withConnection(configure: { $0.tls = tls }) { conn in
            let ssl = try await conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").scalar
            #expect(ssl == .bool(sslmode != "disable"))
            // Status and the cancel key are observed on every transport.
            try await conn.execute("BEGIN")
            #expect(try await conn.status(callOptions: noOptions) == .transaction)
            try await conn.execute("ROLLBACK")
            #expect(conn.backendPID != nil)
        }
    }

    @Test func verifyFullChecksTheCertificate() async throws {
        let ca = try PGTestEnvironment.required("DBCONN_PG_CA_FILE")
        try await withConnection(configure: { $0.tls = .verifyFull(rootCertificatePath: ca) }) { conn in
            #expect(try await conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").scalar == true)
            try await conn.execute("BEGIN")
            #expect(try await conn.status(callOptions: noOptions) == .transaction)
            try await conn.execute("ROLLBACK")
        }
        // The system's trust roots don't know the test CA.
        var options = try PGTestEnvironment.options()
        options.tls = .verifyFull(rootCertificatePath: nil)
        let untrusted = await pgError { _ = try await PGConnection.connect(options: options) }
        #expect(untrusted?.code == .tls)
        // A CA file that does not exist is an options error.
        options.tls = .verifyFull(rootCertificatePath: "/nonexistent/ca.pem")
        let unreadable = await pgError { _ = try await PGConnection.connect(options: options) }
        #expect(unreadable?.code == .invalidOptions)
    }

    @Test func interruptWorksOverTLS() async throws {
        let ca = try PGTestEnvironment.required("DBCONN_PG_CA_FILE")
        try await withConnection(configure: { $0.tls = .verifyFull(rootCertificatePath: ca) }) { conn in
            let start = ContinuousClock.now
            async let sleeping = pgError { try await conn.execute("SELECT pg_sleep(30)") }
            try await waitOnServer("pg_sleep to run") {
                try await PGConnection.withTemporary { observer in
                    try await observer.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
                        [.int32(conn.backendPID!)]
                    ).scalar == 1
                }
            }
            await conn.interrupt()
            #expect(await sleeping?.isQueryCanceled == true)
            #expect(ContinuousClock.now - start < .seconds(20))
            #expect(try await conn.execute("SELECT 4").scalar == 4)
        }
    }

    @Test func unixSocketsWorkWithCancelToo() async throws {
        let directory = try PGTestEnvironment.required("DBCONN_PG_SOCKET_DIR")
        try await withConnection(configure: { $0.host = directory }) { conn in
            #expect(conn.options.isUnixSocket)
            #expect(try await conn.execute("SELECT 5").scalar == 5)
            // The server answers 'N' to the SSLRequest on a Unix socket; sslmode=prefer goes on in plain text.
            #expect(try await conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").scalar == false)
            try await conn.execute("BEGIN")
            #expect(try await conn.status(callOptions: noOptions) == .transaction)
            try await conn.execute("ROLLBACK")
            async let sleeping = pgError { try await conn.execute("SELECT pg_sleep(30)") }
            try await waitOnServer("pg_sleep to run") {
                try await PGConnection.withTemporary { observer in
                    try await observer.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
                        [.int32(conn.backendPID!)]
                    ).scalar == 1
                }
            }
            await conn.interrupt()
            #expect(await sleeping?.isQueryCanceled == true)
        }
        var options = try PGTestEnvironment.options()
        options.host = directory
        options.tls = .require
        let refused = await pgError { _ = try await PGConnection.connect(options: options) }
        #expect(refused?.code == .tls)
    }

    @Test func logsNeverShowThePassword() async throws {
        let options = try PGConnection.Options(url: try PGTestEnvironment.required("DBCONN_PG_PASSWORD_URL"))
        let password = try #require(options.password)
        let lines = CapturedLog()
        var logger = Logger(label: "test", factory: { _ in CapturingLogHandler(lines: lines) })
        logger.logLevel = .trace
        let conn = try await PGConnection.connect(options: options, logger: logger)
        try await conn.execute("SELECT $1::text", ["a value"])
        await conn.disconnect(error: CancellationError())
        var wrong = options
        wrong.password = "not-\(password)"
        _ = await pgError { _ = try await PGConnection.connect(options: wrong, logger: logger) }
        let all = lines.all
        #expect(!all.isEmpty)
        for line in all {
            #expect(!line.contains(password), "\(line)")
        }
    }
}

/// Every log line (message and metadata) a ``CapturingLogHandler`` received.
final class CapturedLog: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

struct CapturingLogHandler: LogHandler {
    let lines: CapturedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        lines.append("\(event.level) \(event.message) \(metadata.merging(event.metadata ?? [:]) { $1 })")
    }
}

extension PGConnection {
    /// A short-lived connection to the test server for one look.
    static func withTemporary<T>(_ body: (PGConnection) async throws -> T) async throws -> T {
        try await withConnection(body)
    }
}
