public import Logging

/// A connection could not be had, or the one held was lost.
///
/// db_connection's `DBConnection.ConnectionError`. ``reason`` says what kind of failure it is
/// (compare errors by it), ``message`` is written for a person, and ``severity`` is the level the
/// pool logs it at. ``description`` never shows credentials or bound values.
public struct ConnectionError: Error, Sendable, CustomStringConvertible {
    /// What kind of connection failure this is. Equality of errors looks only at this.
    public struct Reason: Sendable, Hashable, CustomStringConvertible {
        enum Code: Sendable, Hashable {
            case error, queueTimeout, queueDisabled, deadline, closed, poolShutdown, poolStopped
            case rollingBack, statusMismatch, disconnectRequested
        }
        let code: Code
        /// A generic connection error (db_connection's `:error`).
        public static let error = Reason(code: .error)
        /// The queue dropped the request because the pool could not serve it fast enough (`:queue_timeout`).
        public static let queueTimeout = Reason(code: .queueTimeout)
        /// No connection was idle and the call asked not to queue (`queue: false`).
        public static let queueDisabled = Reason(code: .queueDisabled)
        /// The caller's deadline passed, in the queue or while it held the connection.
        public static let deadline = Reason(code: .deadline)
        /// The held connection was closed (by an error, a disconnect or a deadline) and cannot be used.
        public static let closed = Reason(code: .closed)
        /// The pool is shutting down.
        public static let poolShutdown = Reason(code: .poolShutdown)
        /// The pool stopped after too many connection crashes (``PoolConfiguration/maxRestarts``).
        public static let poolStopped = Reason(code: .poolStopped)
        /// A call was made inside a transaction that already failed.
        public static let rollingBack = Reason(code: .rollingBack)
        /// `withConnection` found the transaction status changed across its closure.
        public static let statusMismatch = Reason(code: .statusMismatch)
        /// The pool closed the connection on purpose (`disconnectAll`, `maxLifetime`, shutdown).
        public static let disconnectRequested = Reason(code: .disconnectRequested)

        public var description: String { "\(code)" }
    }

    /// What kind of failure this is.
    public var reason: Reason
    /// What happened and, where there is one, what to do about it.
    public var message: String
    /// The level the pool logs this error at.
    public var severity: Logger.Level
    /// The name of the pool, from ``PoolConfiguration/name``.
    public var poolName: String?
    /// The call that failed (`checkout`, `execute`, ...), where known.
    public var call: String?
    /// The error this one stands for, when it wraps another (a driver's error that closed a connection).
    public var underlying: (any Error)?

    /// Makes a connection error.
    public init(
        _ reason: Reason,
        message: String,
        severity: Logger.Level = .error,
        poolName: String? = nil,
        call: String? = nil
    ) {
        self.reason = reason
        self.message = message
        self.severity = severity
        self.poolName = poolName
        self.call = call
    }

    public var description: String {
        var prefix = ""
        if let poolName { prefix += "[\(poolName)] " }
        if let call { prefix += "\(call): " }
        return prefix + message
    }
}

extension ConnectionError: Equatable {
    /// Errors are equal when their reasons are.
    public static func == (lhs: ConnectionError, rhs: ConnectionError) -> Bool { lhs.reason == rhs.reason }
}

extension ConnectionError {
    static func queueDropped(after wait: Duration, pool: String) -> ConnectionError {
        ConnectionError(
            .queueTimeout,
            message: """
                connection not available and request was dropped from queue after \(wait.milliseconds)ms. \
                This means requests are coming in and your connection pool cannot serve them fast enough. \
                You can address this by:
                  1. Ensuring your database is available and that you can connect to it
                  2. Tracking down slow queries and making sure they are running fast enough
                  3. Increasing the poolSize (although this increases resource consumption)
                  4. Allowing requests to wait longer by increasing queueTarget and queueInterval
                See PoolConfiguration for more information
                """,
            poolName: pool,
            call: "checkout"
        )
    }

    static func queueDisabled(pool: String) -> ConnectionError {
        ConnectionError(
            .queueDisabled,
            message: "connection not available and queuing is disabled",
            poolName: pool,
            call: "checkout"
        )
    }

    static func deadlineInQueue(pool: String) -> ConnectionError {
        ConnectionError(
            .deadline,
            message: "connection not available because deadline reached while in queue",
            poolName: pool,
            call: "checkout"
        )
    }

    static func leaseOverrun(budget: Duration, pool: String) -> ConnectionError {
        ConnectionError(
            .deadline,
            message:
                "client timed out because it queued and checked out the connection for longer than \(budget.milliseconds)ms",
            poolName: pool
        )
    }

    static func closed(pool: String?, call: String?) -> ConnectionError {
        ConnectionError(
            .closed,
            message: "connection is closed because of an error, disconnect or timeout",
            poolName: pool,
            call: call
        )
    }

    static func shutdown(pool: String) -> ConnectionError {
        ConnectionError(.poolShutdown, message: "the pool is shutting down", poolName: pool, call: "checkout")
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    var milliseconds: Int64 {
        let (s, a) = components
        return s * 1000 + a / 1_000_000_000_000_000
    }
}
