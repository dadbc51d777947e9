import DBConnection

/// DBConnection's pool with every protection on: each checkout carries a deadline (the 15 s default
/// timeout of `CallOptions`), the CoDel queue keeps its record, and the pool reports its metrics to
/// swift-metrics' default backend (none is bootstrapped, so the no-op one).
final class DBConnectionBenchPool: BenchPool {
    let pool: ConnectionPool<NoopConnection>
    let options: CallOptions
    let running: Task<Void, Never>

    init(settings: PoolSettings) async throws {
        var configuration = PoolConfiguration<NoopConnection>()
        configuration.name = "bench"
        configuration.poolSize = settings.poolSize
        configuration.queueTarget = settings.queueTarget
        configuration.queueInterval = settings.queueInterval
        let pool = try ConnectionPool<NoopConnection>(options: EmptyOptions(), configuration: configuration)
        self.pool = pool
        self.options = CallOptions(timeout: settings.checkoutTimeout)
        self.running = Task { try? await pool.run() }
    }

    func lease() async throws -> PoolLease<NoopConnection> {
        try await pool.checkout(options: options)
    }

    func release(_ lease: PoolLease<NoopConnection>) {
        pool.checkin(lease)
    }

    func shutdown() async {
        pool.shutdown()
        await running.value
    }

    func classify(_ error: any Error) -> String {
        if let error = error as? ConnectionError { return "ConnectionError(\(error.reason))" }
        return String(describing: type(of: error))
    }
}
