public import DBConnection
import Foundation
public import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// A connection to a PostgreSQL server: the PostgreSQL driver of DBConnection, over PostgresNIO's
/// `PostgresConnection` (the pool is DBConnection's, not PostgresNIO's `PostgresClient`).
///
/// Use it through a pool:
///
/// ```swift
/// let options = try PGConnection.Options(url: "postgres://app@127.0.0.1:5432/shop")
/// try await ConnectionPool<PGConnection>.withPool(options: options) { pool in
///     let result = try await pool.execute("SELECT name FROM users WHERE id = $1", [42])
///     try await pool.transaction(transactionOptions: .init(isolationLevel: .serializable)) { conn in
///         _ = try await conn.execute("UPDATE accounts SET balance = balance - $1 WHERE id = $2", [10, 1])
///     }
/// }
/// ```
///
/// ## Statements
///
/// A ``PGQuery`` without a name runs as PostgreSQL's unnamed statement: Parse, Bind, Execute and Sync
/// in one round trip, with the parameters bound as binary values of their own types.
/// ``prepare(_:callOptions:)`` makes a named server-side prepared statement (PostgresNIO's
/// `PostgresDatabase.prepare(query:)`: Parse with a name, then Describe) and keeps it in a
/// per-connection cache of ``Options/statementCacheSize`` statements; executing the prepared query
/// binds and executes it only. See ``PGValue`` for how values bind in each case.
///
/// ## Transaction status and the cancel key
///
/// The driver opens the TCP (or Unix socket) channel itself and hands it to PostgresNIO, with a handler
/// of its own in front of PostgresNIO's that reads the server's messages (behind the TLS handler when
/// TLS is on). From them it takes the transaction indicator of every ReadyForQuery (``status(callOptions:)``
/// waits for the ReadyForQuery of every message already sent, then answers with the server's
/// indicator), the BackendKeyData (process ID and secret key, for cancel requests), and the column
/// names and command tag of each statement.
///
/// ## Interrupts and cancellation
///
/// ``interrupt()`` (which the pool calls when a caller's deadline passes) and cancelling the task of a
/// running call both send PostgreSQL's CancelRequest on a side connection: the server stops the
/// statement, which fails with ``PGError`` SQLSTATE `57014`, and the connection stays usable.
///
/// ## Errors
///
/// Calls throw ``PGError``. Errors that make the connection unusable (``PGError/invalidatesConnection``)
/// are thrown inside `DisconnectError`, so the pool replaces the connection; when the connection was
/// already closed before a call sent anything, the `DisconnectError` allows a retry on another
/// connection (for `begin`, `status`, `prepare`, `execute` and `close`).
public final class PGConnection: DatabaseConnection {
    /// The parameters: `[PGValue]`, for `$1`, `$2`, ….
    public typealias Params = [PGValue]
    /// ``PGResult``: columns, rows, command tag.
    public typealias QueryResult = PGResult
    /// ``PGQuery``: SQL text and, once prepared, a statement name.
    public typealias Query = PGQuery
    /// ``PGCursor``: a server-side cursor.
    public typealias Cursor = PGCursor

    /// `postgresql`.
    public static var systemName: String { "postgresql" }

    /// The event loop the calling code runs on, when it runs on one (a task that prefers one of
    /// ``eventLoopExecutors``, or any task while NIO's event loops serve as Swift Concurrency's global
    /// executor): a checkout made there gets an idle connection of that loop when the pool has one, so
    /// the statement is written and its reply read without a hop to another thread. See
    /// ``DBConnection/ExecutorAffinity``.
    public static var currentExecutorAffinity: ExecutorAffinity? {
        MultiThreadedEventLoopGroup.currentEventLoop.map { ExecutorAffinity($0) }
    }

    /// The event loop this connection's channel reads and writes on, with its ``EventLoopTaskExecutor``
    /// (one of ``eventLoopExecutors``).
    public var executorAffinity: ExecutorAffinity? {
        let loop = connection.eventLoop
        return ExecutorAffinity(loop, taskExecutor: EventLoopTaskExecutor.forLoop[ObjectIdentifier(loop)])
    }

    /// How many rows a ``fetch(_:cursor:callOptions:)`` asks for when `CallOptions.maxRows` is `nil`.
    public static let defaultMaxRows = 500

    /// The options the connection was opened with.
    public let options: Options
    private let connection: PostgresConnection
    private let backend: BackendState
    private let cancelTarget: CancelRequest.Target
    private let logger: Logger
    private let local = Mutex(LocalState())
    private let callsInFlight = Atomic<Int>(0)
    /// How many executions ran as the driver's own exchange (``Options/directExecute``); for tests.
    let directExecutions = Atomic<Int>(0)

    /// The statement cache and counters; only the task holding the connection touches them (the pool
    /// runs one callback at a time), the lock makes that provable to the compiler.
    private struct LocalState {
        var statements: [String: CachedStatement] = [:]
        var useClock: UInt64 = 0
        var statementCounter = 0
        var cursorCounter = 0
    }

    /// One prepared statement of the cache: a class, so that a cache hit hands out one reference
    /// instead of copying the text and the type lists.
    private final class CachedStatement: Sendable {
        let sql: String
        let prepared: PreparedQuery
        /// From the server's RowDescription at prepare time.
        let columns: [String]
        /// From the server's ParameterDescription at prepare time: what each parameter binds as.
        let parameterTypes: [UInt32]
        /// What a direct execution needs (``DirectCall``), from the statement's name on the server
        /// (the prepare's Parse) and its result column types (its RowDescription): the start of every
        /// Bind of the statement (``DirectCall/bindPrefix(statement:parameterCount:)``) and the types.
        let bindPrefix: [UInt8]?
        let columnTypes: [UInt32]?
        /// The cache's use clock at the last use, for evicting the least recently used statement.
        let lastUsed: Atomic<UInt64>

        init(
            sql: String,
            prepared: PreparedQuery,
            columns: [String],
            parameterTypes: [UInt32],
            serverName: String?,
            columnTypes: [UInt32]?,
            lastUsed: UInt64
        ) {
            self.sql = sql
            self.prepared = prepared
            self.columns = columns
            self.parameterTypes = parameterTypes
            self.bindPrefix = serverName.map { DirectCall.bindPrefix(statement: $0, parameterCount: parameterTypes.count) }
            self.columnTypes = columnTypes
            self.lastUsed = Atomic(lastUsed)
        }
    }

    private init(
        options: Options,
        connection: PostgresConnection,
        backend: BackendState,
        cancelTarget: CancelRequest.Target,
        logger: Logger
    ) {
        self.options = options
        self.connection = connection
        self.backend = backend
        self.cancelTarget = cancelTarget
        self.logger = logger
    }

    /// The server process that serves this connection (`pg_backend_pid()`), from BackendKeyData.
    public var backendPID: Int32? { backend.backendKey?.processID }

    /// Whether the connection is closed (by ``disconnect(error:)``, the server, or the network).
    public var isClosed: Bool { connection.isClosed || backend.isClosed }

    // MARK: Connecting

    /// Connects, negotiates TLS as ``Options/tls`` says, and logs in.
    ///
    /// Opens the socket (TCP, or the Unix socket `HOST/.s.PGSQL.PORT` when ``Options/host`` is a
    /// directory) with the driver's observer in its pipeline, then lets PostgresNIO run the startup on it.
    /// - Parameters:
    ///   - options: where and who.
    ///   - context: the pool slot and logger; with `showSensitiveData`, errors may show the password.
    /// - Throws: ``PGError``: ``PGError/Code/connectFailed`` or ``PGError/Code/timeout`` when the
    ///   server cannot be reached, ``PGError/Code/tls`` when TLS fails, ``PGError/Code/server`` with
    ///   SQLSTATE `28P01` for a wrong password (or `3D000` for a missing database), ``PGError/Code/invalidOptions``
    ///   for a CA file that cannot be read. The message names the target as a URL without the password.
    public static func connect(options: Options, context: ConnectionContext) async throws -> PGConnection {
        var logger = context.logger
        logger[metadataKey: "db.connection"] = "db_conn_\(context.poolIndex)"
        let target = context.showSensitiveData ? options.descriptionShowingPassword : options.description
        func failure(_ error: any Error) -> PGError {
            var pgError = PGError.from(error, query: nil)
            pgError.message = "connecting to \(target): \(pgError.message)"
            return pgError
        }

        let tls = try Self.tlsConfiguration(options.tls)
        let backend = BackendState()
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(options.connectTimeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(BackendObserver(state: backend))
                }
            }
        var cancelTarget: CancelRequest.Target
        let channel: any Channel
        do {
            if options.isUnixSocket {
                let path = options.host + "/.s.PGSQL.\(options.port)"
                cancelTarget = .unixSocket(path: path)
                channel = try await bootstrap.connect(unixDomainSocketPath: path).get()
            } else {
                cancelTarget = .tcp(host: options.host, port: options.port)
                channel = try await bootstrap.connect(host: options.host, port: options.port).get()
                if let address = channel.remoteAddress { cancelTarget = .address(address) }
            }
        } catch {
            var pgError = failure(error)
            if pgError.code == .connectionClosed { pgError.code = .connectFailed }
            throw pgError
        }

        var configuration = PostgresConnection.Configuration(
            establishedChannel: channel,
            tls: tls,
            username: options.user,
            password: options.password,
            database: options.database
        )
        configuration.options.connectTimeout = TimeAmount(options.connectTimeout)
        if !options.isUnixSocket, !Self.isIPAddress(options.host) {
            configuration.options.tlsServerName = options.host
        }
        if let applicationName = options.applicationName {
            configuration.options.additionalStartupParameters = [("application_name", applicationName)]
        }
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                on: channel.eventLoop,
                configuration: configuration,
                id: context.poolIndex,
                logger: logger
            )
        } catch {
            channel.close(promise: nil)
            if error is CancellationError { throw error }
            throw failure(error)
        }
        if backend.backendKey == nil {
            logger.debug("the server sent no BackendKeyData: interrupt() cannot cancel statements")
        }
        logger.debug(
            "PostgreSQL connection opened",
            metadata: ["db.postgresql.pid": "\(backend.backendKey?.processID ?? 0)"]
        )
        return PGConnection(
            options: options,
            connection: connection,
            backend: backend,
            cancelTarget: cancelTarget,
            logger: logger
        )
    }

    /// Opens a connection outside any pool (for scripts, tools and tests). Close it with
    /// ``disconnect(error:)``.
    /// - Parameters:
    ///   - options: where and who.
    ///   - logger: where to log; default: nowhere.
    /// - Throws: ``PGError``, as ``connect(options:context:)``.
    public static func connect(
        options: Options,
        logger: Logger = Logger(label: "DBConnectionPostgres", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws -> PGConnection {
        try await connect(
            options: options,
            context: ConnectionContext(poolIndex: 0, poolName: "none", logger: logger, showSensitiveData: false)
        )
    }

    /// Closes the connection (a Terminate message, then the socket). Safe to call more than once.
    /// - Parameter error: why the connection closes; logged at debug level.
    public func disconnect(error: any Error) async {
        try? await connection.close()
        logger.debug("PostgreSQL connection closed: \(error)")
    }

    /// `false` when the server's last ReadyForQuery, with nothing left unanswered, said idle: then
    /// ``checkin()`` would pass without waiting, and the pool skips it.
    public var needsCheckin: Bool { !backend.isSettledAndIdle }

    /// Checks that the lease left no transaction open: a lease that ends inside a transaction (or an
    /// aborted one) throws `DisconnectError`, so the pool closes the connection (the server rolls the
    /// transaction back) rather than lend it to the next caller in that state.
    /// - Throws: `DisconnectError` wrapping ``PGError``.
    public func checkin() async throws {
        let status = try await transactionStatus(retryable: false)
        guard status == .idle else {
            throw DisconnectError(
                PGError(
                    .connectionClosed,
                    message:
                        "the lease ended inside a transaction (status \(status)); "
                        + "the connection is closed instead of reused"
                )
            )
        }
    }

    /// Checks that the server answers (`SELECT 1`).
    /// - Throws: ``PGError`` when it does not.
    public func ping() async throws {
        _ = try await run("SELECT 1", [], retryable: false, callOptions: CallOptions())
    }

    /// Cancels the statement running now, if a call is running: sends a CancelRequest with this
    /// connection's key on a side connection, and returns when the server has read it.
    ///
    /// The cancelled call throws ``PGError`` with SQLSTATE `57014`; the connection stays usable.
    /// When no call runs, nothing is sent (a late cancel could hit the next statement).
    ///
    /// - Returns: ``InterruptOutcome/confirmed`` when the server closed the side connection, that is
    ///   when it has read the request and signalled the backend (a signal that lands after the
    ///   statement ended is dropped by the server when it next reads a command, so it cannot reach a
    ///   later statement), or when no call was running; ``InterruptOutcome/unconfirmed`` when the
    ///   server sent no cancel key, or the side connection failed or timed out.
    @discardableResult
    public func interrupt() async -> InterruptOutcome {
        guard callsInFlight.load(ordering: .acquiring) > 0 else { return .confirmed }
        guard backend.backendKey != nil else { return .unconfirmed }
        let confirmed = (try? await sendCancelRequest().get()) ?? false
        return confirmed ? .confirmed : .unconfirmed
    }

    private func sendCancelRequest() -> EventLoopFuture<Bool> {
        guard let key = backend.backendKey else { return connection.eventLoop.makeSucceededFuture(false) }
        logger.debug("sending a cancel request", metadata: ["db.postgresql.pid": "\(key.processID)"])
        return CancelRequest.send(
            to: cancelTarget,
            processID: key.processID,
            secretKey: key.secretKey,
            on: connection.eventLoop
        )
    }

    // MARK: Transactions

    /// Begins a transaction with `options.beginStatement`: `BEGIN`,
    /// `BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY`, ….
    /// - Returns: `.okStatement` with the statement, or `.status(_)` with the server's status when a
    ///   transaction is already open (nothing is sent).
    /// - Throws: ``PGError``.
    public func begin(options: TransactionOptions, callOptions: CallOptions) async throws -> TransactionReply<PGResult>
    {
        let status = try await status(callOptions: callOptions)
        guard status == .idle else { return .status(status) }
        let statement = options.beginStatement
        let result = try await run(statement, [], retryable: true, callOptions: callOptions)
        return .okStatement(result, statement: statement)
    }

    /// Commits the transaction (`COMMIT`).
    /// - Returns: `.okStatement` with `COMMIT`; `.status(.error)` when the server aborted the
    ///   transaction (nothing is sent: the client rolls back instead); `.status(.idle)` when no
    ///   transaction is open.
    /// - Throws: ``PGError``, for example a serialization failure (`40001`) or a deferred constraint.
    public func commit(callOptions: CallOptions) async throws -> TransactionReply<PGResult> {
        let status = try await transactionStatus(retryable: false)
        guard status == .transaction else { return .status(status) }
        let result = try await run("COMMIT", [], retryable: false, callOptions: callOptions)
        return .okStatement(result, statement: "COMMIT")
    }

    /// Rolls the transaction back (`ROLLBACK`), whether it is usable or aborted.
    /// - Returns: `.okStatement` with `ROLLBACK`, or `.status(.idle)` when no transaction is open.
    /// - Throws: ``PGError``.
    public func rollback(callOptions: CallOptions) async throws -> TransactionReply<PGResult> {
        let status = try await transactionStatus(retryable: false)
        guard status != .idle else { return .status(.idle) }
        let result = try await run("ROLLBACK", [], retryable: false, callOptions: callOptions)
        return .okStatement(result, statement: "ROLLBACK")
    }

    /// The transaction status the server gave in its latest ReadyForQuery (`I`: idle, `T`: in a
    /// transaction, `E`: in an aborted transaction), after the ReadyForQuery of every message sent
    /// so far has arrived. No round trip of its own.
    /// - Throws: `DisconnectError` wrapping ``PGError`` when the connection is closed.
    public func status(callOptions: CallOptions) async throws -> TransactionStatus {
        try await transactionStatus(retryable: true)
    }

    /// ``status(callOptions:)``; a closed connection throws `DisconnectError` with `retry` only when
    /// the calling callback may be retried (`begin`, `status`), never inside `commit`, `rollback` or
    /// `deallocate`.
    private func transactionStatus(retryable: Bool) async throws -> TransactionStatus {
        let indicator: UInt8
        do {
            indicator = try await backend.readyStatus()
        } catch let error as PGError {
            throw DisconnectError(error, retry: retryable)
        }
        switch indicator {
        case UInt8(ascii: "T"): return .transaction
        case UInt8(ascii: "E"): return .error
        default: return .idle
        }
    }

    /// Opens a savepoint (`SAVEPOINT "name"`) inside the current transaction.
    /// - Parameter name: the savepoint's name; any text (it is quoted).
    /// - Throws: ``PGError``; outside a transaction SQLSTATE `25P01`.
    public func savepoint(_ name: String) async throws {
        _ = try await run("SAVEPOINT \(Self.quoteIdentifier(name))", [], retryable: false, callOptions: CallOptions())
    }

    /// Releases a savepoint and every one opened after it (`RELEASE SAVEPOINT "name"`), keeping their changes.
    /// - Parameter name: the savepoint's name.
    /// - Throws: ``PGError``: `3B001` when there is no such savepoint, `25P02` in an aborted transaction.
    public func releaseSavepoint(_ name: String) async throws {
        _ = try await run(
            "RELEASE SAVEPOINT \(Self.quoteIdentifier(name))",
            [],
            retryable: false,
            callOptions: CallOptions()
        )
    }

    /// Undoes every change since the savepoint (`ROLLBACK TO SAVEPOINT "name"`); an aborted transaction
    /// becomes usable again. The savepoint stays open.
    /// - Parameter name: the savepoint's name.
    /// - Throws: ``PGError`` `3B001` when there is no such savepoint.
    public func rollbackToSavepoint(_ name: String) async throws {
        _ = try await run(
            "ROLLBACK TO SAVEPOINT \(Self.quoteIdentifier(name))",
            [],
            retryable: false,
            callOptions: CallOptions()
        )
    }

    /// `"name"` with inner quotes doubled: an identifier for any text.
    static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingAll("\"", with: "\"\"") + "\""
    }

    // MARK: Statements

    /// Prepares the query as a named server-side statement, or finds it in the connection's cache.
    ///
    /// The statement is keyed by `query.name` when it has one, else by its SQL text (preparing the same
    /// text twice returns the same name). When the cache holds more than ``Options/statementCacheSize``
    /// statements, the least recently used one is deallocated on the server.
    /// - Returns: the query with its ``PGQuery/name`` set.
    /// - Throws: ``PGError``, for example a syntax error (`42601`) or a missing table (`42P01`).
    public func prepare(_ query: PGQuery, callOptions: CallOptions) async throws -> PGQuery {
        var query = query
        if query.name == nil {
            let sql = query.sql
            query.name = local.withLock { state in
                if let existing = state.statements.first(where: { $0.value.sql == sql })?.key { return existing }
                state.statementCounter += 1
                return "dbc_\(state.statementCounter)"
            }
        }
        if lookUpStatement(for: query) == nil { _ = try await prepareStatement(for: query) }
        return query
    }

    /// Runs the query with its parameters and returns every row.
    ///
    /// A query with a ``PGQuery/name`` runs as that prepared statement, prepared first if this
    /// connection does not have it; one without runs as the unnamed statement.
    /// - Returns: the query and its result.
    /// - Throws: ``PGError``: a constraint violation, a syntax error, a cancelled statement (`57014`),
    ///   parameters that don't match the statement; errors that invalidate the connection inside `DisconnectError`.
    public func execute(
        _ query: PGQuery,
        params: [PGValue],
        callOptions: CallOptions
    ) async throws -> (PGQuery, PGResult) {
        guard query.name != nil else {
            return (query, try await run(query.sql, params, retryable: true, callOptions: callOptions))
        }
        let statement: CachedStatement
        if let cached = lookUpStatement(for: query) {
            statement = cached
        } else {
            statement = try await prepareStatement(for: query)
        }
        guard params.count == statement.parameterTypes.count else {
            throw PGError(
                .invalidValue,
                message:
                    "the statement has \(statement.parameterTypes.count) parameter(s), \(params.count) value(s) given",
                query: query.sql
            )
        }
        if options.directExecute, let bindPrefix = statement.bindPrefix, let columnTypes = statement.columnTypes,
            let observer = backend.directObserver
        {
            let request: ByteBuffer
            do {
                request = try DirectCall.request(bindPrefix: bindPrefix, params: params, types: statement.parameterTypes)
            } catch {
                throw error.with(query: query.sql)
            }
            directExecutions.add(1, ordering: .relaxed)
            let outcome = try await serverCall(query.sql, retryable: true) {
                try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<DirectOutcome, any Error>) in
                    let call = DirectCall(request: request, columnTypes: columnTypes, continuation: continuation)
                    if observer.eventLoop.inEventLoop {
                        observer.value.startDirect(call)
                    } else {
                        observer.eventLoop.execute { observer.value.startDirect(call) }
                    }
                }
            }
            return (query, PGResult(columns: statement.columns, rows: outcome.rows, commandTag: outcome.commandTag))
        }
        var binds: [PostgresData] = []
        binds.reserveCapacity(params.count)
        for (index, (value, type)) in zip(params, statement.parameterTypes).enumerated() {
            do {
                binds.append(
                    PostgresData(
                        type: PostgresDataType(type),
                        formatCode: .binary,
                        value: try PGEncoding.binary(value, as: type)
                    )
                )
            } catch {
                var error = error.with(query: query.sql)
                error.message = "parameter $\(index + 1): " + error.message
                throw error
            }
        }
        let rows = try await serverCall(query.sql, retryable: true) {
            try await statement.prepared.execute(binds).get()
        }
        let tag = backend.lastResult().commandTag ?? ""
        return (query, try Self.result(rows: rows, columns: statement.columns, commandTag: tag, query: query.sql))
    }

    /// Runs a statement and returns its result: a shorthand for ``execute(_:params:callOptions:)`` when
    /// using the connection directly.
    /// - Parameters:
    ///   - query: the statement.
    ///   - params: the values of `$1`, `$2`, … (default none).
    /// - Returns: the result.
    /// - Throws: ``PGError``.
    @discardableResult
    public func execute(_ query: PGQuery, _ params: [PGValue] = []) async throws -> PGResult {
        try await execute(query, params: params, callOptions: CallOptions()).1
    }

    /// Deallocates the query's prepared statement on the server and drops it from the cache. A query
    /// without a name, or one this connection does not have, needs nothing.
    /// - Returns: an empty result.
    /// - Throws: ``PGError``.
    public func close(_ query: PGQuery, callOptions: CallOptions) async throws -> PGResult {
        guard let name = query.name else { return PGResult() }
        let removed = local.withLock { $0.statements.removeValue(forKey: name) }
        if let removed {
            try await serverCall(query.sql, retryable: true) { try await removed.prepared.deallocate().get() }
        }
        return PGResult()
    }

    /// Declares a server-side cursor for the query (`DECLARE "dbc_cursor_N" NO SCROLL CURSOR FOR …`,
    /// with the parameters bound). Cursors live until the transaction ends, so use them inside one.
    /// - Returns: the query and the cursor.
    /// - Throws: ``PGError``; outside a transaction SQLSTATE `25P01`, with a hint.
    public func declare(
        _ query: PGQuery,
        params: [PGValue],
        callOptions: CallOptions
    ) async throws -> (PGQuery, PGCursor) {
        let name = local.withLock {
            $0.cursorCounter += 1
            return "dbc_cursor_\($0.cursorCounter)"
        }
        do {
            _ = try await run(
                "DECLARE \(Self.quoteIdentifier(name)) NO SCROLL CURSOR FOR \(query.sql)",
                params,
                retryable: false,
                callOptions: callOptions
            )
        } catch var error as PGError where error.sqlState == "25P01" {
            error.hint = "a cursor lives inside a transaction: stream inside pool.transaction { conn in … }"
            throw error
        }
        return (query, PGCursor(name: name))
    }

    /// Fetches the next `CallOptions.maxRows` rows (default ``defaultMaxRows``) with
    /// `FETCH FORWARD n FROM "cursor"`.
    /// - Returns: `.more` with a full batch, `.done` with a shorter (possibly empty) last one.
    /// - Throws: ``PGError``.
    public func fetch(
        _ query: PGQuery,
        cursor: PGCursor,
        callOptions: CallOptions
    ) async throws -> FetchResult<PGResult> {
        let count = max(1, callOptions.maxRows ?? Self.defaultMaxRows)
        let result = try await run(
            "FETCH FORWARD \(count) FROM \(Self.quoteIdentifier(cursor.name))",
            [],
            retryable: false,
            callOptions: callOptions
        )
        return result.count < count ? .done(result) : .more(result)
    }

    /// Closes the cursor (`CLOSE "cursor"`) when the transaction it lives in is still open and usable;
    /// otherwise the transaction's end already closed it and nothing is sent.
    /// - Returns: an empty result.
    /// - Throws: ``PGError``.
    public func deallocate(_ query: PGQuery, cursor: PGCursor, callOptions: CallOptions) async throws -> PGResult {
        guard try await transactionStatus(retryable: false) == .transaction else { return PGResult() }
        return try await run(
            "CLOSE \(Self.quoteIdentifier(cursor.name))",
            [],
            retryable: false,
            callOptions: callOptions
        )
    }

    // MARK: Running statements

    /// Runs one unnamed statement with binary-bound parameters and collects its rows.
    private func run(
        _ sql: String,
        _ params: [PGValue],
        retryable: Bool,
        callOptions: CallOptions
    ) async throws -> PGResult {
        var bindings = PostgresBindings(capacity: params.count)
        do {
            for value in params { try PGEncoding.append(value, to: &bindings) }
        } catch {
            throw error.with(query: sql)
        }
        let query = PostgresQuery(unsafeSQL: sql, binds: bindings)
        let logger = callOptions.logger ?? self.logger
        let connection = self.connection
        let result = try await serverCall(sql, retryable: retryable) {
            let future: EventLoopFuture<PostgresQueryResult> = connection.query(query, logger: logger)
            return try await future.get()
        }
        let (columns, tag) = backend.lastResult()
        return try Self.result(
            rows: result.rows,
            columns: columns,
            commandTag: tag ?? result.metadata.command,
            query: sql
        )
    }

    /// The cached statement of `query` (named) if the cache has it for the same SQL; marks it used.
    /// Synchronous, so that a cache hit costs no suspension point.
    private func lookUpStatement(for query: PGQuery) -> CachedStatement? {
        guard let name = query.name else { return nil }
        return local.withLock { state in
            guard let statement = state.statements[name], statement.sql == query.sql else { return nil }
            state.useClock += 1
            statement.lastUsed.store(state.useClock, ordering: .relaxed)
            return statement
        }
    }

    /// Prepares a named query on the server and caches it, replacing another text under that name
    /// and evicting the least recently used statements over ``Options/statementCacheSize``. For a
    /// query ``lookUpStatement(for:)`` did not find.
    private func prepareStatement(for query: PGQuery) async throws -> CachedStatement {
        let name = query.name!
        let connection = self.connection
        let prepared = try await serverCall(query.sql, retryable: true) {
            try await connection.prepare(query: query.sql).get()
        }
        let columns = backend.lastResult().columns ?? []
        let parameterTypes = backend.lastParameterTypes() ?? []
        let (serverName, columnTypes) = backend.lastPrepared()
        let (statement, evicted): (CachedStatement, [CachedStatement]) = local.withLock { state in
            state.useClock += 1
            let statement = CachedStatement(
                sql: query.sql,
                prepared: prepared,
                columns: columns,
                parameterTypes: parameterTypes,
                serverName: serverName,
                columnTypes: columnTypes,
                lastUsed: state.useClock
            )
            var evicted: [CachedStatement] = []
            if let replaced = state.statements.updateValue(statement, forKey: name) { evicted.append(replaced) }
            while state.statements.count > max(1, options.statementCacheSize),
                let oldest = state.statements.min(by: {
                    $0.value.lastUsed.load(ordering: .relaxed) < $1.value.lastUsed.load(ordering: .relaxed)
                })
            {
                evicted.append(state.statements.removeValue(forKey: oldest.key)!)
            }
            return (statement, evicted)
        }
        for old in evicted {
            try await serverCall(old.sql, retryable: false) { try await old.prepared.deallocate().get() }
        }
        return statement
    }

    /// Runs one exchange with the server: refuses a closed connection (a retryable `DisconnectError`:
    /// nothing was sent), sends a cancel request when the task is cancelled, and turns errors into
    /// ``PGError`` (inside `DisconnectError` when the connection is no longer usable).
    private func serverCall<T>(_ sql: String?, retryable: Bool, _ body: () async throws -> T) async throws -> T {
        if isClosed {
            throw DisconnectError(
                PGError(.connectionClosed, message: "the connection is closed", query: sql),
                retry: retryable
            )
        }
        callsInFlight.add(1, ordering: .releasing)
        defer { callsInFlight.subtract(1, ordering: .releasing) }
        do {
            // `body` itself, not a closure around it: one executor check fewer per call.
            return try await withTaskCancellationHandler(operation: body, onCancel: { _ = self.sendCancelRequest() })
        } catch {
            let pgError = PGError.from(error, query: sql)
            if pgError.invalidatesConnection || isClosed {
                throw DisconnectError(pgError)
            }
            throw pgError
        }
    }

    private static func result(
        rows: [PostgresRow],
        columns: [String]?,
        commandTag: String,
        query: String
    ) throws -> PGResult {
        var values: [[PGValue]] = []
        values.reserveCapacity(rows.count)
        do {
            for row in rows {
                var decoded: [PGValue] = []
                decoded.reserveCapacity(row.count)
                for cell in row {
                    decoded.append(try PGBinaryDecoding.value(typeOID: cell.dataType.rawValue, bytes: cell.bytes))
                }
                values.append(decoded)
            }
        } catch {
            throw error.with(query: query)
        }
        let names = columns ?? rows.first.map { $0.map(\.columnName) } ?? []
        return PGResult(columns: names, rows: values, commandTag: commandTag)
    }

    // MARK: TLS

    /// NIOSSL contexts by mode, made once: loading trust roots costs milliseconds per connect otherwise.
    private static let tlsContexts = Mutex<[TLSMode: NIOSSLContext]>([:])

    private static func tlsConfiguration(_ mode: TLSMode) throws -> PostgresConnection.Configuration.TLS {
        if case .disable = mode { return .disable }
        let context: NIOSSLContext
        if let cached = tlsContexts.withLock({ $0[mode] }) {
            context = cached
        } else {
            var configuration = TLSConfiguration.makeClientConfiguration()
            switch mode {
            case .disable, .prefer, .require:
                configuration.certificateVerification = .none
            case .verifyCA:
                configuration.certificateVerification = .noHostnameVerification
            case .verifyFull:
                configuration.certificateVerification = .fullVerification
            }
            if let path = mode.rootCertificatePath {
                configuration.trustRoots = .file(path)
            }
            do {
                context = try NIOSSLContext(configuration: configuration)
            } catch {
                throw PGError(
                    .invalidOptions,
                    message: "cannot set up TLS (\(mode.sslmode)): \(error)",
                    hint: mode.rootCertificatePath.map { "check that \($0) is a readable PEM file" },
                    underlying: error
                )
            }
            tlsContexts.withLock { $0[mode] = context }
        }
        if case .prefer = mode { return .prefer(context) }
        return .require(context)
    }

    private static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}

extension PGError {
    /// The error with the statement text attached.
    func with(query: String) -> PGError {
        var error = self
        if error.query == nil { error.query = query }
        return error
    }
}

extension PGConnection.Options {
    /// ``description`` with the password in clear: only for `showSensitiveData`.
    var descriptionShowingPassword: String {
        guard let password else { return description }
        return description.replacingOccurrences(of: ":***@", with: ":\(Self.percentEncoded(password))@")
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
