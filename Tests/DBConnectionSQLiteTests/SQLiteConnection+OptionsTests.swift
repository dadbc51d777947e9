import DBConnection
import DBConnectionSQLite
import Testing

@Suite struct SQLiteOptionsTests {
    @Test func theDefaultsAreTheDocumentedOnes() {
        let options = SQLiteConnection.Options(path: "app.sqlite")
        #expect(options.mode == .readWriteCreate)
        #expect(options.busyTimeout == .seconds(5))
        #expect(options.journalMode == .wal)
        #expect(options.foreignKeys)
        #expect(options.statementCacheSize == 64)
        #expect(options.defaultTransactionMode == .deferred)
    }

    @Test(arguments: [
        ("sqlite:app.sqlite", "app.sqlite"),
        ("sqlite:data/app.sqlite", "data/app.sqlite"),
        ("sqlite:///var/db/app.sqlite", "/var/db/app.sqlite"),
        ("sqlite:/var/db/app.sqlite", "/var/db/app.sqlite"),
        ("SQLite::memory:", ":memory:"),
        ("sqlite::memory:", ":memory:"),
    ])
    func aURLNamesThePath(url: String, path: String) throws {
        #expect(try SQLiteConnection.Options(url: url).path == path)
    }

    @Test func aURLQuerySetsOptions() throws {
        let options = try SQLiteConnection.Options.parse(
            url: "sqlite:app.sqlite?mode=ro&busy_timeout=250&journal_mode=delete&foreign_keys=off"
                + "&transaction=immediate&statement_cache_size=8"
        )
        #expect(options.path == "app.sqlite")
        #expect(options.mode == .readOnly)
        #expect(options.busyTimeout == .milliseconds(250))
        #expect(options.journalMode == .delete)
        #expect(!options.foreignKeys)
        #expect(options.defaultTransactionMode == .immediate)
        #expect(options.statementCacheSize == 8)
    }

    @Test(arguments: [
        ("postgres://user:secret@localhost/db", "got a URL with scheme \"postgres\""),
        ("app.sqlite", "no \"sqlite:\" prefix"),
        ("sqlite:", "names no database"),
        ("sqlite://", "names no database"),
        ("sqlite:app.sqlite?mode=rx", "mode must be ro, rw or rwc"),
        ("sqlite:app.sqlite?busy_timeout=soon", "busy_timeout must be a number of milliseconds"),
        ("sqlite:app.sqlite?cache=shared", "unknown option \"cache\""),
    ])
    func aBadURLNamesTheProblem(url: String, problem: String) {
        do {
            _ = try SQLiteConnection.Options(url: url)
            Issue.record("expected \(url) to be rejected")
        } catch let error as ConfigurationError {
            #expect(error.option == "url")
            #expect(error.message.contains(problem), "\(error.message)")
            #expect(!error.message.contains("secret"))
        } catch {
            Issue.record("expected a ConfigurationError, got \(error)")
        }
    }

    @Test func transactionModesSpellTheirBegin() {
        #expect(SQLiteConnection.TransactionMode.deferred.beginStatement == "BEGIN DEFERRED")
        #expect(SQLiteConnection.TransactionMode.immediate.beginStatement == "BEGIN IMMEDIATE")
        #expect(SQLiteConnection.TransactionMode.exclusive.beginStatement == "BEGIN EXCLUSIVE")
        #expect(SQLiteConnection.TransactionOptions().mode == nil)
    }

    @Test func valuesDescribeThemselvesAsSQL() {
        #expect("\(SQLiteValue.null)" == "NULL")
        #expect("\(SQLiteValue.integer(-3))" == "-3")
        #expect("\(SQLiteValue.text("it's"))" == "'it''s'")
        #expect("\(SQLiteValue.blob([0, 255]))" == "x'00ff'")
    }

    @Test func errorsCompareByCode() {
        let busy = SQLiteError(code: .busy, message: "database is locked", sql: "BEGIN IMMEDIATE")
        #expect(busy == SQLiteError(code: .busy, message: "other"))
        #expect(busy != SQLiteError(code: .locked, message: "database is locked"))
        #expect(SQLiteError.Code(rawValue: 2067) == .constraint)
        #expect(SQLiteError.Code.notADatabase.name == "SQLITE_NOTADB")
        #expect(!busy.invalidatesConnection)
        #expect(SQLiteError(code: .corrupt, message: "").invalidatesConnection)
    }
}
