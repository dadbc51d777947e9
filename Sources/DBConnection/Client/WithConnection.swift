extension DatabasePool {
    /// Checks out a connection, runs `body` with it, and checks it back in: db_connection's `run`.
    ///
    /// If `body` throws, the connection is checked in all the same (its state is known: no driver call
    /// was cut in half). If a driver call inside `body` was cut short by cancellation or left a
    /// ``DisconnectError``, the connection was already closed and the check-in is skipped.
    /// - Parameters:
    ///   - options: the call's options; its time budget covers the queue and the whole closure.
    ///   - isolation: the caller's isolation, inherited by `body`.
    ///   - body: what to do with the connection.
    /// - Throws: ``ConnectionError`` when no connection could be had, or what `body` throws.
    public func withConnection<R>(
        options: CallOptions = CallOptions(),
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PooledConnection<Connection>) async throws -> sending R
    ) async throws -> sending R {
        let lease = try await checkout(options: options)
        let connection = PooledConnection(lease: lease, pool: self)
        let result: R
        do {
            result = try await body(connection)
        } catch {
            await finishLease(lease, connection: connection)
            throw error
        }
        await finishLease(lease, connection: connection)
        return result
    }

    /// Ends a lease that went well: pending cursor cleanups, the driver's `checkin` callback (a throw
    /// there, say a transaction left open, closes the connection instead), then the check-in. A lease
    /// whose driver has nothing to check (``DatabaseConnection/needsCheckin``) is checked in directly.
    func finishLease(_ lease: PoolLease<Connection>, connection: PooledConnection<Connection>) async {
        if lease.holder.hasCleanups { await lease.holder.runCleanups(generation: lease.generation) }
        if !lease.holder.connection.needsCheckin, connection.isValid {
            checkin(lease)
            return
        }
        do {
            try await connection.driverCall("checkin") { try await $0.checkin() }
        } catch {
            if connection.isValid { disconnect(lease, error: (error as? DisconnectError)?.underlying ?? error) }
            return
        }
        checkin(lease)
    }
}

extension PooledConnection {
    /// Runs `body` with this connection: db_connection's `run` on a handle, which checks nothing out.
    /// `withConnection` and `transaction` nest freely.
    public func withConnection<R>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PooledConnection<Connection>) async throws -> sending R
    ) async throws -> sending R {
        try await body(self)
    }
}
