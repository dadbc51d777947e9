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
            await lease.holder.runCleanups(generation: lease.generation)
            checkin(lease)
            throw error
        }
        if lease.holder.hasCleanups { await lease.holder.runCleanups(generation: lease.generation) }
        checkin(lease)
        return result
    }
}
