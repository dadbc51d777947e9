public import Logging

/// The protocol a database driver implements to get a pool, transactions, cursors and observability.
///
/// This is db_connection's behaviour in Swift. A conforming type is one open connection to a
/// database. The pool creates it with ``connect(options:context:)``, lends it to one caller at a
/// time, and closes it with ``disconnect(error:)``. Every other callback runs in the task of the
/// caller that holds the connection, so at most one callback of a connection runs at a time; the
/// only exception is ``interrupt()``, which the pool may call from another task while a callback
/// runs.
///
/// ## How replies map
///
/// | db_connection reply | here |
/// | --- | --- |
/// | `{:ok, ...}` | the method returns |
/// | `{:error, exception, state}` | the method throws; the connection stays in the pool |
/// | `{:disconnect, exception, state}` | the method throws ``DisconnectError``; the pool closes the connection, reconnects, and the caller gets the underlying error |
/// | `{:disconnect_and_retry, ...}` | the method throws ``DisconnectError`` with `retry: true`; a call made on the pool checks out again, up to ``CallOptions/checkoutRetries`` times |
/// | `{status, state}` from begin/commit/rollback | the method returns ``TransactionReply/status(_:)`` |
///
/// A callback that ends because its task was cancelled leaves the connection in an unknown state:
/// the pool closes it instead of lending it again.
public protocol DatabaseConnection: AnyObject, Sendable {
    /// What ``connect(options:context:)`` needs: host, path, credentials, ...
    associatedtype Options: Sendable
    /// Options of ``begin(options:)``, such as an isolation level. Use `Void`-like `EmptyOptions` when there are none.
    associatedtype TransactionOptions: Sendable
    /// The parameters a statement binds.
    associatedtype Params: Sendable
    /// What ``execute(_:params:options:)`` and the transaction callbacks return.
    associatedtype QueryResult: Sendable
    /// The statement type, with its parse/describe/encode/decode steps.
    associatedtype Query: DatabaseQuery where Query.Params == Params, Query.Result == QueryResult
    /// A server- or client-side cursor made by ``declare(_:params:options:)``.
    associatedtype Cursor: Sendable

    /// The database's name for traces (`db.system`: `sqlite`, `postgresql`, ...). Default `other_sql`.
    static var systemName: String { get }

    /// The executor the calling code runs on, when it is one that connections live on (a driver on
    /// SwiftNIO: the current event loop). Read at every checkout, so it must be cheap. Default `nil`.
    /// See ``ExecutorAffinity``.
    static var currentExecutorAffinity: ExecutorAffinity? { get }

    /// The executor this connection does its I/O on (a driver on SwiftNIO: its channel's event
    /// loop), read once after connect; the pool prefers lending it to callers running there.
    /// Default `nil`: no preference. See ``ExecutorAffinity``.
    var executorAffinity: ExecutorAffinity? { get }

    /// Opens a connection.
    ///
    /// Called before every connect attempt's result is used, after ``PoolConfiguration/configure``
    /// rewrote the options. A thrown error is logged, and the pool retries after a backoff.
    /// - Parameters:
    ///   - options: the driver options.
    ///   - context: the pool slot, the logger, and whether errors may show sensitive data.
    /// - Throws: any error: the attempt failed.
    static func connect(options: Options, context: ConnectionContext) async throws -> Self

    /// Closes the connection. Called exactly once per connection, with the reason.
    ///
    /// - Parameter error: why the pool closes the connection (a ``ConnectionError`` the pool made,
    ///   or the error a callback threw inside ``DisconnectError``).
    func disconnect(error: any Error) async

    /// Called once after each successful connect, before the connection is lent. Default: nothing.
    /// - Throws: ``DisconnectError`` to close the new connection.
    func checkout() async throws

    /// Called when the connection goes back to the pool after a lease, unless ``needsCheckin`` says
    /// there is nothing to check. Default: nothing.
    /// - Throws: ``DisconnectError`` to close the connection instead of keeping it.
    func checkin() async throws

    /// Whether ``checkin()`` has anything to check when the current lease ends. When `false`, the pool
    /// puts the connection back without calling it: a lease that left nothing behind (no transaction,
    /// no cursor) ends without an asynchronous call.
    ///
    /// Read on the leasing task once its last call has returned, with no callback running: answer from
    /// what the connection already knows, never with I/O or a wait, and `true` whenever unsure (then
    /// ``checkin()`` runs as usual). Default: `true`.
    var needsCheckin: Bool { get }

    /// Checks that an idle connection still works. Called every ``PoolConfiguration/idleInterval``.
    /// Default: nothing.
    /// - Throws: any error closes the connection, and the pool reconnects.
    func ping() async throws

    /// Interrupts the callback that is running right now, if any, because its caller's deadline passed.
    ///
    /// The only callback the pool may call concurrently with another one. SQLite calls
    /// `sqlite3_interrupt`, PostgreSQL sends a cancel request.
    ///
    /// Return ``InterruptOutcome/confirmed`` only when the running callback will end soon and leave the
    /// connection usable, and no part of the interrupt can reach a later callback (PostgreSQL: the
    /// server has received the cancel request). The pool then waits up to
    /// ``PoolConfiguration/interruptGracePeriod`` for the callback to return and for ``checkin()`` to
    /// pass, and keeps the connection. Otherwise it closes the connection. Default: nothing is sent,
    /// ``InterruptOutcome/unconfirmed``.
    @discardableResult
    func interrupt() async -> InterruptOutcome

    /// Begins a transaction.
    /// - Returns: ``TransactionReply/ok(_:)`` with a result, or ``TransactionReply/status(_:)`` when the
    ///   database is not in the state to begin (the client raises ``TransactionError`` and disconnects).
    func begin(options: TransactionOptions, callOptions: CallOptions) async throws -> TransactionReply<QueryResult>

    /// Commits the transaction.
    /// - Returns: ``TransactionReply/ok(_:)``; ``TransactionReply/status(_:)`` with `.error` when the
    ///   database aborted the transaction (the client rolls back instead); `.idle`/`.transaction`
    ///   raise ``TransactionError`` and disconnect.
    func commit(callOptions: CallOptions) async throws -> TransactionReply<QueryResult>

    /// Rolls the transaction back.
    /// - Returns: ``TransactionReply/ok(_:)`` or a ``TransactionReply/status(_:)`` (raises ``TransactionError`` and disconnects).
    func rollback(callOptions: CallOptions) async throws -> TransactionReply<QueryResult>

    /// The transaction status, as the database reports it (not tracked on the side).
    func status(callOptions: CallOptions) async throws -> TransactionStatus

    /// Prepares a query and returns the prepared form.
    func prepare(_ query: Query, callOptions: CallOptions) async throws -> Query

    /// Executes a (prepared or not) query with encoded parameters.
    /// - Returns: the query (possibly updated, for example re-prepared) and the raw result.
    func execute(_ query: Query, params: Params, callOptions: CallOptions) async throws -> (Query, QueryResult)

    /// Closes a prepared query.
    func close(_ query: Query, callOptions: CallOptions) async throws -> QueryResult

    /// Declares a cursor for a query.
    func declare(_ query: Query, params: Params, callOptions: CallOptions) async throws -> (Query, Cursor)

    /// Fetches the next batch of a cursor: ``FetchResult/more(_:)`` or ``FetchResult/done(_:)`` for the last one.
    func fetch(_ query: Query, cursor: Cursor, callOptions: CallOptions) async throws -> FetchResult<QueryResult>

    /// Releases a cursor. Called on normal end, early exit, error and cancellation.
    func deallocate(_ query: Query, cursor: Cursor, callOptions: CallOptions) async throws -> QueryResult
}

extension DatabaseConnection {
    /// `other_sql`.
    public static var systemName: String { "other_sql" }

    /// `nil`: callers have no executor the pool should match.
    @inlinable
    public static var currentExecutorAffinity: ExecutorAffinity? { nil }
    /// `nil`: the connection has no executor the pool should match.
    public var executorAffinity: ExecutorAffinity? { nil }

    /// Does nothing.
    public func checkout() async throws {}
    /// Does nothing.
    public func checkin() async throws {}
    /// `true`: ``checkin()`` runs at the end of every lease.
    public var needsCheckin: Bool { true }
    /// Does nothing.
    public func ping() async throws {}
    /// Sends nothing: ``InterruptOutcome/unconfirmed``, so the pool closes a connection whose call
    /// overran its deadline.
    @discardableResult
    public func interrupt() async -> InterruptOutcome { .unconfirmed }
}

/// What the pool tells a driver when it connects.
public struct ConnectionContext: Sendable {
    /// The pool slot, counted from 1 as db_connection's `pool_index`.
    public var poolIndex: Int
    /// The pool's name, for the driver's own messages.
    public var poolName: String
    /// The logger of the pool.
    public var logger: Logger
    /// Whether connect errors may show credentials and other sensitive data.
    public var showSensitiveData: Bool

    /// Makes a context.
    public init(poolIndex: Int, poolName: String, logger: Logger, showSensitiveData: Bool) {
        self.poolIndex = poolIndex
        self.poolName = poolName
        self.logger = logger
        self.showSensitiveData = showSensitiveData
    }
}

/// An empty option set, for drivers whose ``DatabaseConnection/TransactionOptions`` have nothing to say.
public struct EmptyOptions: Sendable, Hashable {
    /// Makes the empty options.
    public init() {}
}


/// What ``DatabaseConnection/interrupt()`` achieved.
public enum InterruptOutcome: Sendable, Hashable {
    /// The running callback ends soon and leaves the connection usable (or none was running), and
    /// nothing of the interrupt can reach a later callback.
    case confirmed
    /// The driver cannot tell: the pool closes the connection.
    case unconfirmed
}
