import _ConnectionPoolModule
import _ConnectionPoolTestUtils

typealias PostgresNIOPool = ConnectionPool<
    MockConnection,
    Int,
    ConnectionIDGenerator,
    ConnectionRequest<MockConnection>,
    Int,
    MockPingPongBehavior<MockConnection>,
    NoOpConnectionPoolMetrics<Int>,
    ContinuousClock
>

/// postgres-nio's pool as its own benchmark drives it (Benchmarks/ConnectionPoolBenchmarks in
/// postgres-nio): `MockConnection`s from `MockConnectionFactory`, no keep-alive, no-op metrics. Minimum =
/// soft = hard limit = pool size, so the connections stay open and no idle timer is armed at check-in,
/// as with `PostgresClient` at `minimumConnections == maximumConnections`. The clock is the real one,
/// as `PostgresClient` uses; the pool reads it only when a connect attempt fails.
final class PostgresNIOBenchPool: BenchPool {
    let pool: PostgresNIOPool
    let running: Task<Void, Never>

    init(settings: PoolSettings) async throws {
        var configuration = ConnectionPoolConfiguration()
        configuration.minimumConnectionCount = settings.poolSize
        configuration.maximumConnectionSoftLimit = settings.poolSize
        configuration.maximumConnectionHardLimit = settings.poolSize
        let factory = MockConnectionFactory<ContinuousClock>(autoMaxStreams: 1)
        let pool = PostgresNIOPool(
            configuration: configuration,
            idGenerator: ConnectionIDGenerator(),
            keepAliveBehavior: MockPingPongBehavior(keepAliveFrequency: nil, connectionType: MockConnection.self),
            observabilityDelegate: NoOpConnectionPoolMetrics(connectionIDType: MockConnection.ID.self),
            clock: ContinuousClock()
        ) {
            try await factory.makeConnection(id: $0, for: $1)
        }
        self.pool = pool
        self.running = Task { await pool.run() }
    }

    func lease() async throws -> ConnectionLease<MockConnection> {
        try await pool.leaseConnection()
    }

    func release(_ lease: ConnectionLease<MockConnection>) {
        lease.release()
    }

    func shutdown() async {
        running.cancel()
        await running.value
    }

    func classify(_ error: any Error) -> String {
        if let error = error as? ConnectionPoolError { return "ConnectionPoolError(\(error))" }
        return String(describing: type(of: error))
    }
}
