/// How a transaction ends when it did not commit: thrown by ``DatabasePool/transaction(options:transactionOptions:_:)``.
///
/// db_connection's `{:error, reason}`. ``reason`` is what ``PooledConnection/rollback(_:)`` was given,
/// or ``TransactionRolledBack/Reason/rollback`` when the transaction was rolled back for another
/// cause (an inner transaction failed, the database aborted it, `begin` or `commit` replied with a
/// status).
///
/// ```swift
/// do {
///     try await pool.transaction { conn in
///         try await conn.execute("UPDATE accounts SET balance = balance - 10 WHERE id = 1", [])
///         if overdrawn { try conn.rollback(Overdrawn()) }
///     }
/// } catch let rolledBack as TransactionRolledBack where rolledBack.reason is Overdrawn {
///     // ROLLBACK was sent; nothing was changed.
/// }
/// ```
public struct TransactionRolledBack: Error, Sendable, CustomStringConvertible {
    /// The reason a transaction rolled back without a caller-given reason: db_connection's `:rollback`.
    public struct Reason: Error, Sendable, Hashable, CustomStringConvertible {
        /// The transaction was rolled back.
        public static let rollback = Reason()
        public var description: String { "rollback" }
    }

    /// Why: the value given to ``PooledConnection/rollback(_:)``, or ``Reason/rollback``.
    public var reason: any Error

    /// Makes the error.
    public init(reason: any Error) { self.reason = reason }

    public var description: String { "transaction rolled back: \(reason)" }
}

/// The signal a `rollback` throws; caught by the transaction level it belongs to.
struct RollbackSignal: Error {
    let level: TransactionLevel
    let reason: any Error
}

extension PooledConnection {
    /// Ends the transaction this connection belongs to with `reason`: db_connection's `rollback/2`.
    ///
    /// Never returns: it throws a signal that the ``DatabasePool/transaction(options:transactionOptions:_:)``
    /// of this level turns into ``TransactionRolledBack`` with `reason` (let it propagate). In a nested
    /// transaction it marks the whole transaction failed; the outer level then rolls back.
    /// - Throws: always. ``ConnectionError`` "not inside transaction" on a connection outside a transaction.
    public func rollback(_ reason: any Error = TransactionRolledBack.Reason.rollback) throws -> Never {
        guard let level = transactionLevel else {
            throw ConnectionError(.error, message: "not inside transaction", poolName: pool.name, call: "rollback")
        }
        throw RollbackSignal(level: level, reason: reason)
    }

    /// Runs `body` in a transaction on this held connection: `begin` and `commit` (or `rollback`) when it
    /// is not in one yet; when it is, a nested level with no calls of its own.
    ///
    /// - Returns: what `body` returns, after the commit.
    /// - Throws: ``TransactionRolledBack`` when the transaction rolled back; what `body` throws (after a
    ///   rollback); ``TransactionError`` or ``ConnectionError`` from `begin`.
    public func transaction<R>(
        transactionOptions: Connection.TransactionOptions,
        options: CallOptions = CallOptions(),
        _ body: (PooledConnection<Connection>) async throws -> sending R
    ) async throws -> sending R {
        if transactionLevel != nil {
            return try await nestedTransaction(body)
        }
        do {
            return try await outerTransaction(transactionOptions: transactionOptions, options: options, timing: .onHandle, body)
        } catch let error as DisconnectError {
            throw error.underlying
        }
    }

    func nestedTransaction<R>(
        _ body: (PooledConnection<Connection>) async throws -> sending R
    ) async throws -> sending R {
        let level = TransactionLevel()
        let inner = PooledConnection(lease: lease, pool: pool, transactionLevel: level)
        do {
            let result = try await body(inner)
            if lease.holder.transactionMark(generation: lease.generation) == .failed {
                throw TransactionRolledBack(reason: TransactionRolledBack.Reason.rollback)
            }
            return result
        } catch let signal as RollbackSignal where signal.level === level {
            lease.holder.setTransactionMark(.failed, generation: lease.generation)
            throw TransactionRolledBack(reason: signal.reason)
        } catch {
            lease.holder.setTransactionMark(.failed, generation: lease.generation)
            throw error
        }
    }

    func outerTransaction<R>(
        transactionOptions: Connection.TransactionOptions,
        options: CallOptions,
        timing: CallTiming,
        _ body: (PooledConnection<Connection>) async throws -> sending R
    ) async throws -> sending R {
        try await begin(transactionOptions: transactionOptions, options: options, timing: timing)
        let level = TransactionLevel()
        let inner = PooledConnection(lease: lease, pool: pool, transactionLevel: level)
        lease.holder.setTransactionMark(.ok, generation: lease.generation)
        defer { lease.holder.setTransactionMark(.none, generation: lease.generation) }
        let result: R
        do {
            result = try await body(inner)
        } catch let signal as RollbackSignal where signal.level === level {
            try await rollbackIgnoringConnectionErrors(options: options)
            throw TransactionRolledBack(reason: signal.reason)
        } catch {
            try? await rollbackIgnoringConnectionErrors(options: options)
            throw error
        }
        if lease.holder.transactionMark(generation: lease.generation) == .failed {
            try await rollbackIgnoringConnectionErrors(options: options)
            throw TransactionRolledBack(reason: TransactionRolledBack.Reason.rollback)
        }
        do {
            try await commit(options: options)
        } catch let error as DisconnectError {
            // Only `begin` may ask for a retry: the body already ran.
            throw DisconnectError(error.underlying, retry: false)
        }
        return result
    }

    private func begin(transactionOptions: Connection.TransactionOptions, options: CallOptions, timing: CallTiming) async throws {
        let reply = try await logged(.begin, query: "begin", params: nil, options: options, timing: timing) {
            try await $0.begin(options: transactionOptions, callOptions: options)
        }
        if case .status(let status) = reply {
            let error = TransactionError(status: status, call: "begin", poolName: pool.name)
            if isValid { pool.disconnect(lease, error: error) }
            throw TransactionRolledBack(reason: error)
        }
    }

    private func commit(options: CallOptions) async throws {
        let reply = try await logged(.commit, query: "commit", params: nil, options: options, cleanup: true, timing: .onHandle) {
            try await $0.commit(callOptions: options)
        }
        switch reply {
        case .ok, .okStatement:
            return
        case .status(.error):
            // The database aborted the transaction: the commit becomes a rollback.
            try await rollbackIgnoringConnectionErrors(options: options)
            throw TransactionRolledBack(reason: TransactionRolledBack.Reason.rollback)
        case .status(let status):
            let error = TransactionError(status: status, call: "commit", poolName: pool.name)
            if isValid { pool.disconnect(lease, error: error) }
            throw TransactionRolledBack(reason: TransactionRolledBack.Reason.rollback)
        }
    }

    /// Sends `rollback`; a connection error (the connection is gone) or a status reply ends quietly,
    /// as db_connection's; any other driver error propagates.
    private func rollbackIgnoringConnectionErrors(options: CallOptions) async throws {
        do {
            let reply = try await logged(.rollback, query: "rollback", params: nil, options: options, cleanup: true, timing: .onHandle) {
                try await $0.rollback(callOptions: options)
            }
            if case .status(let status) = reply {
                let error = TransactionError(status: status, call: "rollback", poolName: pool.name)
                if isValid { pool.disconnect(lease, error: error) }
            }
        } catch is ConnectionError {
        } catch is DisconnectError {
        }
    }
}

extension PooledConnection where Connection.TransactionOptions == EmptyOptions {
    /// ``transaction(transactionOptions:options:_:)`` for drivers without transaction options.
    public func transaction<R>(
        options: CallOptions = CallOptions(),
        _ body: (PooledConnection<Connection>) async throws -> sending R
    ) async throws -> sending R {
        try await transaction(transactionOptions: EmptyOptions(), options: options, body)
    }
}

extension DatabasePool {
    /// Checks out a connection and runs `body` in a transaction on it: `begin`, then `commit` when
    /// `body` returns, or `rollback` when it throws or calls ``PooledConnection/rollback(_:)``.
    ///
    /// The rules are db_connection's: see the Transactions article.
    /// - Returns: what `body` returns.
    /// - Throws: ``TransactionRolledBack`` when it rolled back; what `body` throws (after the rollback);
    ///   ``ConnectionError`` when no connection could be had.
    public func transaction<R>(
        options: CallOptions = CallOptions(),
        transactionOptions: Connection.TransactionOptions,
        _ body: (PooledConnection<Connection>) async throws -> sending R
    ) async throws -> sending R {
        try await withRetryingCheckout(options: options) { connection, timing in
            try await connection.outerTransaction(transactionOptions: transactionOptions, options: options, timing: timing, body)
        }
    }
}

extension DatabasePool where Connection.TransactionOptions == EmptyOptions {
    /// ``transaction(options:transactionOptions:_:)`` for drivers without transaction options.
    public func transaction<R>(
        options: CallOptions = CallOptions(),
        _ body: (PooledConnection<Connection>) async throws -> sending R
    ) async throws -> sending R {
        try await transaction(options: options, transactionOptions: EmptyOptions(), body)
    }
}
