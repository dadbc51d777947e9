/// A connection lent to you inside ``DatabasePool/withConnection(options:_:)`` (db_connection's
/// `%DBConnection{}` handle).
///
/// Every call goes to this one connection. Once the lease ends (the closure returned, the deadline
/// passed, the pool closed the connection), every call throws ``ConnectionError`` with reason
/// ``ConnectionError/Reason/closed``.
public struct PooledConnection<Connection: DatabaseConnection>: Sendable {
    /// The lease this handle uses.
    public let lease: PoolLease<Connection>
    /// The pool the lease came from.
    public let pool: any DatabasePool<Connection>
    /// The transaction level this handle belongs to (`nil` outside a transaction).
    package let transactionLevel: TransactionLevel?

    /// Makes a handle for a lease.
    public init(lease: PoolLease<Connection>, pool: any DatabasePool<Connection>) {
        self.lease = lease
        self.pool = pool
        self.transactionLevel = nil
    }

    package init(lease: PoolLease<Connection>, pool: any DatabasePool<Connection>, transactionLevel: TransactionLevel?) {
        self.lease = lease
        self.pool = pool
        self.transactionLevel = transactionLevel
    }

    /// The identity of the connection slot.
    public var id: ConnectionID { lease.connectionID }

    /// Whether the lease is still current.
    public var isValid: Bool { lease.holder.isCurrent(generation: lease.generation) }

    /// Runs one raw driver call on the connection, with the lease's guards: a stale lease throws; a
    /// ``DisconnectError`` closes the connection (the pool reconnects) and its underlying error is
    /// thrown; a call that ends because its task was cancelled closes the connection too.
    ///
    /// The escape hatch under the client API; prefer the typed calls.
    /// - Throws: ``ConnectionError`` for a stale lease, or what the driver threw (unwrapped from
    ///   ``DisconnectError``).
    ///
    /// Inlinable (with the guarded call under it), so that the caller's module specializes it for its
    /// driver.
    @inlinable
    public func withDriverCall<T>(
        _ call: StaticString = "call",
        _ body: (Connection) async throws -> T
    ) async throws -> T {
        // unwrappingDisconnect, written out: one `await` layer fewer on every statement.
        do {
            return try await driverCall(call, body)
        } catch let error as DisconnectError {
            throw error.underlying
        }
    }

    /// The guarded call itself; a ``DisconnectError`` passes through, so that a call on the pool can
    /// see whether it may retry.
    @inlinable
    func driverCall<T>(
        _ call: StaticString = "call",
        _ body: (Connection) async throws -> T
    ) async throws -> T {
        if lease.holder.hasCleanups { await lease.holder.runCleanups(generation: lease.generation) }
        do {
            return try await lease.holder.withCall(generation: lease.generation, call: call, body)
        } catch let error as DisconnectError {
            pool.disconnect(lease, error: error.underlying)
            throw error
        } catch {
            if error is CancellationError || Task.isCancelled {
                // The call may have stopped half-way through the protocol: the connection is in doubt.
                if lease.holder.isCurrent(generation: lease.generation) {
                    pool.stop(lease, error: ConnectionError(
                        .closed,
                        message: "the task was cancelled during \(call); the connection is in an unknown state",
                        poolName: pool.name,
                        call: "\(call)"
                    ))
                }
            }
            if var connectionError = error as? ConnectionError, connectionError.poolName == nil {
                // Errors made below the client (a stale lease) know no pool; name it here.
                connectionError.poolName = pool.name
                throw connectionError
            }
            throw error
        }
    }
}

/// Turns a ``DisconnectError`` (the connection is already given back to be closed) into the error it
/// carries: what a caller on a held connection sees, since such calls are never retried. The calls
/// made once per statement (`withDriverCall`, `execute`) write the same `catch` out instead, which
/// saves an `await` layer (a task switch) per call.
func unwrappingDisconnect<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as DisconnectError {
        throw error.underlying
    }
}

/// One level of a transaction: db_connection's `conn_ref`, so a rollback ends the level it belongs to.
package final class TransactionLevel: Sendable {
    package init() {}
}
