public import DBConnection
public import Logging

/// A connection to an SQLite database: the SQLite driver of DBConnection.
///
/// Use it through a pool:
///
/// ```swift
/// try await ConnectionPool<SQLiteConnection>.withPool(options: .init(path: "app.sqlite")) { pool in
///     try await pool.withConnection { conn in
///         try await conn.withDriverCall { sqlite in
///             try await sqlite.execute("INSERT INTO notes(body) VALUES (?)", ["hello"])
///         }
///     }
/// }
/// ```
///
/// ## Threads
///
/// Each connection owns one thread, and every `sqlite3_*` call runs there, never on Swift's cooperative
/// thread pool: SQLite blocks on file I/O and waits up to ``Options/busyTimeout`` for other
/// connections' locks. The async methods hop to that thread and back. The handle is opened with
/// `SQLITE_OPEN_NOMUTEX`: the thread serializes every use, so SQLite's own mutex would only add cost.
///
/// ## Interrupts and cancellation
///
/// ``interrupt()`` stops the running statement from any task (`sqlite3_interrupt`), and so does
/// cancelling the task that runs `execute`, `prepare`, `begin`, `declare` or `fetch`; a statement
/// waiting for another connection's lock stops waiting too. The interrupted call throws
/// ``SQLiteError`` with code ``SQLiteError/Code/interrupt``, and the connection stays usable (an
/// interrupted write inside a transaction rolls the transaction back, as SQLite documents).
/// `commit`, `rollback`, savepoints, `close`, `deallocate` and `disconnect` always run to their end.
///
/// ## Errors
///
/// Calls throw ``SQLiteError``. Errors that make the connection untrustworthy
/// (``SQLiteError/invalidatesConnection``) are thrown inside `DisconnectError`, so the pool replaces
/// the connection.
public final class SQLiteConnection: DatabaseConnection {
    /// ``SQLiteParameters``: positional or named values.
    public typealias Params = SQLiteParameters
    /// ``SQLiteResult``: columns, rows, rows changed, last rowid.
    public typealias QueryResult = SQLiteResult
    /// ``SQLiteQuery``: the SQL text.
    public typealias Query = SQLiteQuery
    /// ``SQLiteCursor``: a statement being stepped.
    public typealias Cursor = SQLiteCursor

    /// How many rows a ``fetch(_:cursor:callOptions:)`` returns when `CallOptions.maxRows` is `nil`.
    public static let defaultMaxRows = 500

    /// The options the connection was opened with.
    public let options: Options
    private let database: SQLiteDatabase
    private let interruptor: Interruptor
    private let logger: Logger

    private init(options: Options, database: SQLiteDatabase, interruptor: Interruptor, logger: Logger) {
        self.options = options
        self.database = database
        self.interruptor = interruptor
        self.logger = logger
    }

    // MARK: Connecting

    /// Opens the database on a new thread of its own and applies the options.
    ///
    /// Runs `sqlite3_open_v2`, installs the busy handler (``Options/busyTimeout``), and runs
    /// `PRAGMA journal_mode` (for files opened for writing) and `PRAGMA foreign_keys`.
    /// - Parameters:
    ///   - options: the path and settings.
    ///   - context: the pool slot and the logger.
    /// - Throws: ``SQLiteError`` with the path and SQLite's message; for a file that is not a database,
    ///   code ``SQLiteError/Code/notADatabase``.
    public static func connect(options: Options, context: ConnectionContext) async throws -> SQLiteConnection {
        let interruptor = Interruptor()
        let database = SQLiteDatabase(
            path: options.path,
            statementCacheSize: options.statementCacheSize,
            interruptor: interruptor,
            threadName: "sqlite-\(context.poolIndex)"
        )
        let journalMode = try await database.open(options)
        var logger = context.logger
        logger[metadataKey: "db.sqlite.path"] = "\(options.path)"
        if let requested = options.journalMode, let journalMode, journalMode.uppercased() != requested.rawValue {
            logger.notice(
                "journal mode \(requested.rawValue) was not applied; SQLite kept \(journalMode)",
                metadata: ["db.connection": "db_conn_\(context.poolIndex)"]
            )
        }
        logger.debug("SQLite database opened", metadata: ["db.connection": "db_conn_\(context.poolIndex)"])
        return SQLiteConnection(options: options, database: database, interruptor: interruptor, logger: logger)
    }

    /// Opens a connection outside any pool (for scripts, tools and tests). Close it with
    /// ``disconnect(error:)``.
    /// - Parameters:
    ///   - options: the path and settings.
    ///   - logger: where to log; default: nowhere.
    /// - Throws: ``SQLiteError`` with the path and SQLite's message.
    public static func connect(
        options: Options,
        logger: Logger = Logger(label: "DBConnectionSQLite", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws -> SQLiteConnection {
        try await connect(
            options: options,
            context: ConnectionContext(poolIndex: 0, poolName: "none", logger: logger, showSensitiveData: false)
        )
    }

    /// Finalizes every statement and closes the handle (`sqlite3_close_v2`). Safe to call more than once;
    /// later calls do nothing. Every other call afterwards throws.
    /// - Parameter error: why the connection closes; logged at debug level.
    public func disconnect(error: any Error) async {
        await database.close()
        logger.debug("SQLite database closed: \(error)")
    }

    /// `false` when the last call left no transaction and no cursor open (as SQLite told at its end):
    /// then ``checkin()`` would pass, and the pool skips it.
    public var needsCheckin: Bool {
        let leftovers = database.publishedLeftovers
        return leftovers.inTransaction || leftovers.openCursors > 0
    }

    /// Checks that the lease left nothing open: a lease that ends inside a transaction, or with a cursor
    /// not deallocated, throws `DisconnectError`, so the pool closes the connection (closing rolls the
    /// transaction back) rather than lend it to the next caller in that state.
    /// - Throws: `DisconnectError` wrapping ``SQLiteError``.
    public func checkin() async throws {
        // Read from SQLite on the connection's thread at the end of the last call (no extra hop).
        let leftovers = database.publishedLeftovers
        var problems: [String] = []
        if leftovers.inTransaction { problems.append("a transaction open") }
        if leftovers.openCursors > 0 { problems.append("\(leftovers.openCursors) cursor(s) open") }
        guard problems.isEmpty else {
            throw DisconnectError(
                SQLiteError(
                    code: .misuse,
                    message: "the lease ended with \(problems.joined(separator: " and ")); "
                        + "the connection is closed instead of reused",
                    path: options.path
                )
            )
        }
    }

    /// Checks that the handle answers (`SELECT 1`).
    /// - Throws: ``SQLiteError`` when it does not.
    public func ping() async throws {
        _ = try await call(interruptible: false) { database, call in
            try await database.execute("SELECT 1", .none, call: call)
        }
    }

    /// Stops the statement running now, if any (`sqlite3_interrupt`); callable from any task.
    ///
    /// The interrupted call throws ``SQLiteError`` with code ``SQLiteError/Code/interrupt``. If the call
    /// has not reached SQLite yet, it throws as soon as it does. A call that starts after this one
    /// returns is not affected.
    ///
    /// - Returns: ``InterruptOutcome/confirmed``: `sqlite3_interrupt` takes effect at once, ends only
    ///   the running statement, and the next statement clears it.
    @discardableResult
    public func interrupt() async -> InterruptOutcome {
        interruptor.interrupt(call: interruptor.currentCall)
        return .confirmed
    }

    // MARK: Transactions

    /// Begins a transaction: `BEGIN DEFERRED`, `BEGIN IMMEDIATE` or `BEGIN EXCLUSIVE`, as
    /// `options.mode` or ``Options/defaultTransactionMode`` says.
    /// - Returns: `.okStatement` with the `BEGIN` statement, or `.status(.transaction)` when a
    ///   transaction is already open (nothing is run).
    /// - Throws: ``SQLiteError``, for example `SQLITE_BUSY` when another connection holds the write
    ///   lock past the busy timeout.
    public func begin(options: TransactionOptions, callOptions: CallOptions) async throws -> TransactionReply<
        SQLiteResult
    > {
        let statement = (options.mode ?? self.options.defaultTransactionMode).beginStatement
        let ran = try await call(interruptible: true) { database, call in
            try await database.runIfInTransaction(false, statement, call: call)
        }
        return ran ? .okStatement(SQLiteResult(), statement: statement) : .status(.transaction)
    }

    /// Commits the transaction (`COMMIT`).
    /// - Returns: `.okStatement` with `COMMIT`, or `.status(.idle)` when no transaction is open.
    /// - Throws: ``SQLiteError``; after `SQLITE_BUSY` the transaction is still open.
    public func commit(callOptions: CallOptions) async throws -> TransactionReply<SQLiteResult> {
        let ran = try await call(interruptible: false) { database, call in
            try await database.runIfInTransaction(true, "COMMIT", call: call)
        }
        return ran ? .okStatement(SQLiteResult(), statement: "COMMIT") : .status(.idle)
    }

    /// Rolls the transaction back (`ROLLBACK`).
    /// - Returns: `.okStatement` with `ROLLBACK`, or `.status(.idle)` when no transaction is open.
    /// - Throws: ``SQLiteError``.
    public func rollback(callOptions: CallOptions) async throws -> TransactionReply<SQLiteResult> {
        let ran = try await call(interruptible: false) { database, call in
            try await database.runIfInTransaction(true, "ROLLBACK", call: call)
        }
        return ran ? .okStatement(SQLiteResult(), statement: "ROLLBACK") : .status(.idle)
    }

    /// The transaction status, from `sqlite3_get_autocommit`: `.idle` in autocommit mode, else
    /// `.transaction`. SQLite has no failed-transaction state, so never `.error`.
    public func status(callOptions: CallOptions) async throws -> TransactionStatus {
        try await call(interruptible: false) { database, _ in try await database.inTransaction() }
            ? .transaction : .idle
    }

    /// Opens a savepoint (`SAVEPOINT "name"`). Outside a transaction, this begins one (deferred) that
    /// ``releaseSavepoint(_:)`` commits.
    /// - Parameter name: the savepoint's name; any text (it is quoted).
    /// - Throws: ``SQLiteError``.
    public func savepoint(_ name: String) async throws {
        try await runControl("SAVEPOINT \(Self.quoteIdentifier(name))")
    }

    /// Releases a savepoint and every savepoint opened after it (`RELEASE SAVEPOINT "name"`), keeping
    /// their changes in the enclosing transaction.
    /// - Parameter name: the savepoint's name.
    /// - Throws: ``SQLiteError`` when there is no such savepoint.
    public func releaseSavepoint(_ name: String) async throws {
        try await runControl("RELEASE SAVEPOINT \(Self.quoteIdentifier(name))")
    }

    /// Undoes every change since the savepoint (`ROLLBACK TO SAVEPOINT "name"`). The savepoint stays
    /// open: release it, or roll back to it again.
    /// - Parameter name: the savepoint's name.
    /// - Throws: ``SQLiteError`` when there is no such savepoint.
    public func rollbackToSavepoint(_ name: String) async throws {
        try await runControl("ROLLBACK TO SAVEPOINT \(Self.quoteIdentifier(name))")
    }

    private func runControl(_ sql: String) async throws {
        _ = try await call(interruptible: false) { database, call in
            try await database.execute(sql, .none, call: call)
        }
    }

    static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingAll("\"", with: "\"\"") + "\""
    }

    // MARK: Statements

    /// Compiles the query into the statement cache, so a syntax error shows now and the first
    /// ``execute(_:params:callOptions:)`` skips compiling.
    /// - Returns: the query, unchanged (the cache is keyed by its SQL).
    /// - Throws: ``SQLiteError``, for example for a syntax error or a missing table.
    public func prepare(_ query: SQLiteQuery, callOptions: CallOptions) async throws -> SQLiteQuery {
        try await call(interruptible: true) { database, call in
            try await database.prepare(query.sql, call: call)
        }
        return query
    }

    /// Runs the query with its parameters and returns every row. Uses the statement cache, whether the
    /// query was prepared or not.
    /// - Returns: the query and its result.
    /// - Throws: ``SQLiteError``: a constraint violation, a syntax error, `SQLITE_BUSY`, an interrupt,
    ///   parameters that don't match the statement (``SQLiteError/Code/range``); errors that invalidate
    ///   the connection inside `DisconnectError`.
    public func execute(
        _ query: SQLiteQuery,
        params: SQLiteParameters,
        callOptions: CallOptions
    ) async throws -> (SQLiteQuery, SQLiteResult) {
        let result = try await call(interruptible: true) { database, call in
            try await database.execute(query.sql, params, call: call)
        }
        return (query, result)
    }

    /// Runs a statement: ``execute(_:params:callOptions:)`` with default call options, for use inside
    /// `withDriverCall` and outside pools.
    ///
    /// ```swift
    /// let result = try await sqlite.execute("SELECT name FROM users WHERE id = :id", ["id": 42])
    /// ```
    /// - Parameters:
    ///   - query: the SQL.
    ///   - params: positional or named values (default: none).
    /// - Returns: the result.
    /// - Throws: as ``execute(_:params:callOptions:)``.
    @discardableResult
    public func execute(_ query: SQLiteQuery, _ params: SQLiteParameters = .none) async throws -> SQLiteResult {
        try await execute(query, params: params, callOptions: CallOptions()).1
    }

    /// Drops the query's compiled statement from the cache (`sqlite3_finalize`). A cursor still using
    /// it keeps it until deallocated.
    /// - Returns: an empty result.
    public func close(_ query: SQLiteQuery, callOptions: CallOptions) async throws -> SQLiteResult {
        await database.closeStatement(query.sql)
        return SQLiteResult()
    }

    /// How many compiled statements the cache holds now (at most ``Options/statementCacheSize``).
    public var cachedStatementCount: Int {
        get async { await database.cachedStatementCount }
    }

    // MARK: Cursors

    /// Compiles and binds the query for stepping; ``fetch(_:cursor:callOptions:)`` reads the rows.
    ///
    /// The cursor uses the cached statement when no one else is stepping it, or a statement of its own.
    /// - Returns: the query and the cursor.
    /// - Throws: ``SQLiteError``; the SQL must be exactly one statement.
    public func declare(
        _ query: SQLiteQuery,
        params: SQLiteParameters,
        callOptions: CallOptions
    ) async throws -> (SQLiteQuery, SQLiteCursor) {
        let id = try await call(interruptible: true) { database, call in
            try await database.declare(query.sql, params, call: call)
        }
        return (query, SQLiteCursor(id: id))
    }

    /// Steps the cursor for the next batch of `callOptions.maxRows` rows (default ``defaultMaxRows``).
    /// - Returns: `.more(batch)` when the batch is full (more rows may follow, possibly none), or
    ///   `.done(batch)` with the last rows.
    /// - Throws: ``SQLiteError``; for an unknown cursor, code ``SQLiteError/Code/error``.
    public func fetch(
        _ query: SQLiteQuery,
        cursor: SQLiteCursor,
        callOptions: CallOptions
    ) async throws -> FetchResult<SQLiteResult> {
        let maxRows = max(1, callOptions.maxRows ?? Self.defaultMaxRows)
        return try await call(interruptible: true) { database, call in
            try await database.fetch(cursor.id, maxRows: maxRows, call: call)
        }
    }

    /// Releases the cursor: its statement goes back to the cache (reset), or is finalized.
    /// - Returns: an empty result.
    public func deallocate(_ query: SQLiteQuery, cursor: SQLiteCursor, callOptions: CallOptions) async throws
        -> SQLiteResult
    {
        await database.deallocate(cursor.id)
        return SQLiteResult()
    }

    // MARK: Running calls

    /// Runs `body` on the database thread as a new call. With `interruptible`, cancelling the task
    /// interrupts it. Errors that invalidate the connection come out inside `DisconnectError`.
    private func call<T: Sendable>(
        interruptible: Bool,
        _ body: (SQLiteDatabase, UInt64) async throws -> T
    ) async throws -> T {
        let call = interruptor.beginCall()
        do {
            guard interruptible else {
                return try await body(database, 0)
            }
            let interruptor = self.interruptor
            return try await withTaskCancellationHandler {
                try await body(database, call)
            } onCancel: {
                interruptor.interrupt(call: call)
            }
        } catch let error as SQLiteError where error.invalidatesConnection {
            throw DisconnectError(error)
        }
    }
}

/// A cursor of ``SQLiteConnection``: a statement being stepped, kept by the connection until
/// ``SQLiteConnection/deallocate(_:cursor:callOptions:)``.
public struct SQLiteCursor: Sendable, Hashable {
    /// The cursor's number, unique on its connection.
    public let id: UInt64
}
