public import DBConnection

extension PooledConnection where Connection == PGConnection {
    /// Runs `body` inside a savepoint of the current transaction: `SAVEPOINT "name"`, then
    /// `RELEASE SAVEPOINT "name"` when `body` returns, or `ROLLBACK TO SAVEPOINT "name"` and
    /// `RELEASE SAVEPOINT "name"` when it throws.
    ///
    /// A statement that fails inside the savepoint aborts only the savepoint: after the rollback to it,
    /// the enclosing transaction is usable again.
    ///
    /// ```swift
    /// try await pool.transaction(transactionOptions: .init()) { conn in
    ///     _ = try await conn.execute("INSERT INTO log(msg) VALUES ('start')", [])
    ///     _ = try? await conn.withSavepoint { sp in
    ///         try await sp.execute("INSERT INTO users(id) VALUES (1)", [])  // may violate a unique key
    ///     }
    ///     _ = try await conn.execute("INSERT INTO log(msg) VALUES ('end')", [])  // still runs
    /// }
    /// ```
    /// - Parameters:
    ///   - name: the savepoint's name (default `dbc_savepoint`; a nested savepoint may reuse it).
    ///   - body: the work.
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws (after the rollback to the savepoint), or ``PGError`` from the
    ///   savepoint statements (`25P01` outside a transaction).
    public func withSavepoint<R>(
        _ name: String = "dbc_savepoint",
        _ body: (PooledConnection<PGConnection>) async throws -> sending R
    ) async throws -> sending R {
        try await withDriverCall("savepoint") { try await $0.savepoint(name) }
        let result: R
        do {
            result = try await body(self)
        } catch {
            _ = try? await withDriverCall("rollback") { connection in
                try await connection.rollbackToSavepoint(name)
                try await connection.releaseSavepoint(name)
            }
            throw error
        }
        try await withDriverCall("savepoint") { try await $0.releaseSavepoint(name) }
        return result
    }
}
