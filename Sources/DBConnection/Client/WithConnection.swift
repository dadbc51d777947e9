extension DatabasePool {
    /// Checks out a connection, runs `body` with it, and checks it back in: db_connection's `run`.
    ///
    /// If `body` throws, the connection is checked in all the same (its state is known: no driver call
    /// was cut in half). If a driver call inside `body` was cut short by cancellation or left a
    /// ``DisconnectError``, the connection was already closed and the check-in is skipped.
    /// - Parameters:
    ///   - options: the call's options; its time budget covers the queue and the whole closure.
    ///   - body: what to do with the connection.
    /// - Throws: ``ConnectionError`` when no connection could be had, or what `body` throws.
    ///
    /// `body` runs in the caller's isolation (the function is `nonisolated(nonsending)`). Inlinable, so
    /// that the caller's module specializes it for its driver: no generic metadata lookups and fewer
    /// task allocations per lease.
    @inlinable
    public func withConnection<R>(
        options: CallOptions = CallOptions(),
        _ body: (PooledConnection<Connection>) async throws -> sending R
    ) async throws -> sending R {
        let lease = try await checkout(options: options)
        return try await withLease(lease, body)
    }

    /// The rest of ``withConnection(options:_:)`` once it has its lease: runs `body`, then ends the
    /// lease.
    @inlinable
    func withLease<R>(
        _ lease: PoolLease<Connection>,
        _ body: (PooledConnection<Connection>) async throws -> sending R
    ) async throws -> sending R {
        let connection = PooledConnection(lease: lease, pool: self)
        let result: R
        do {
            result = try await body(connection)
        } catch {
            if !checkinIfClean(lease) { await finishLease(lease, connection: connection) }
            throw error
        }
        // Without an `await` when the driver has nothing to check: one task switch fewer per lease.
        if !checkinIfClean(lease) { await finishLease(lease, connection: connection) }
        return result
    }

    /// Checks the lease in when nothing is left to do for it (no cursor cleanups, a driver with
    /// nothing to check); whether it did. A stale lease needs no test here: the pool ignores its
    /// check-in, as the slow path would end up doing.
    @inlinable
    func checkinIfClean(_ lease: PoolLease<Connection>) -> Bool {
        guard !lease.holder.hasCleanups, !lease.holder.connection.needsCheckin else { return false }
        checkin(lease)
        return true
    }

    /// Ends a lease that went well: pending cursor cleanups, the driver's `checkin` callback (a throw
    /// there, say a transaction left open, closes the connection instead), then the check-in. A lease
    /// whose driver has nothing to check (``DatabaseConnection/needsCheckin``) is checked in directly.
    @usableFromInline
    func finishLease(_ lease: PoolLease<Connection>, connection: PooledConnection<Connection>) async {
        if lease.holder.hasCleanups { await lease.holder.runCleanups(generation: lease.generation) }
        if checkinIfClean(lease) { return }
        do {
            try await connection.driverCall("checkin") { try await $0.checkin() }
        } catch {
            if connection.isValid { disconnect(lease, error: (error as? DisconnectError)?.underlying ?? error) }
            return
        }
        checkin(lease)
    }
}

extension ConnectionPool {
    /// Checks out a connection, runs `body` with it, and checks it back in: db_connection's `run`.
    /// ``DatabasePool/withConnection(options:_:)``, with the same behaviour, for the pool itself.
    ///
    /// Its checkout is a direct call rather than a call through the ``DatabasePool`` protocol: after
    /// a protocol requirement's `await` the caller always hops back to its executor, which costs a task
    /// switch on every lease.
    /// - Parameters:
    ///   - options: the call's options; its time budget covers the queue and the whole closure.
    ///   - body: what to do with the connection.
    /// - Throws: ``ConnectionError`` when no connection could be had, or what `body` throws.
    @inlinable
    public func withConnection<R>(
        options: CallOptions = CallOptions(),
        _ body: (PooledConnection<Connection>) async throws -> sending R
    ) async throws -> sending R {
        let lease = try await checkout(options: options)
        return try await withLease(lease, body)
    }
}

extension PooledConnection {
    /// Runs `body` with this connection: db_connection's `run` on a handle, which checks nothing out.
    /// `withConnection` and `transaction` nest freely.
    public func withConnection<R>(
        _ body: (PooledConnection<Connection>) async throws -> sending R
    ) async throws -> sending R {
        try await body(self)
    }
}
