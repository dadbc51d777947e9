/// A pool under test, reduced to what the workloads do with it: lease a connection, give it back.
protocol BenchPool: Sendable {
    associatedtype Lease: Sendable
    /// Waits for a connection.
    func lease() async throws -> Lease
    /// Gives the connection back.
    func release(_ lease: Lease)
    /// Stops the pool and waits until it has stopped.
    func shutdown() async
    /// A short name for an error a lease threw, to count failures by kind.
    func classify(_ error: any Error) -> String
}

/// The pools compared side by side.
public enum Implementation: String, CaseIterable, Sendable, CustomStringConvertible {
    /// `DBConnection.ConnectionPool`: CoDel queue, checkout deadline, metrics to the no-op backend.
    case dbconnection
    /// postgres-nio's `_ConnectionPoolModule.ConnectionPool`, the pool behind `PostgresClient`.
    case postgresNIO = "postgres-nio"
    /// AsyncKit's `EventLoopGroupConnectionPool` on one event loop, the pool behind Vapor's Fluent drivers.
    case asyncKit = "async-kit"

    public var description: String { rawValue }
}

/// What a task does while it holds a connection.
public enum Hold: String, Sendable, CaseIterable {
    /// Nothing: check in right after the checkout.
    case none
    /// One suspension point (`await Task.yield()`), as a real call would have.
    case yield
}

/// Settings of a pool under test; only ``poolSize`` applies to every implementation.
public struct PoolSettings: Sendable {
    /// Connections in the pool (min = max for the peers, so no idle timers run).
    public var poolSize: Int
    /// DBConnection's `PoolConfiguration.queueTarget`.
    public var queueTarget: Duration
    /// DBConnection's `PoolConfiguration.queueInterval`.
    public var queueInterval: Duration
    /// The checkout timeout of every call: DBConnection's `CallOptions.timeout` and AsyncKit's
    /// `requestTimeout` (postgres-nio's pool has none).
    public var checkoutTimeout: Duration

    public init(
        poolSize: Int = 10,
        queueTarget: Duration = .milliseconds(50),
        queueInterval: Duration = .milliseconds(1000),
        checkoutTimeout: Duration = .seconds(15)
    ) {
        self.poolSize = poolSize
        self.queueTarget = queueTarget
        self.queueInterval = queueInterval
        self.checkoutTimeout = checkoutTimeout
    }
}

/// One running pool of one implementation, with every connection open.
public final class PoolSession: Sendable {
    enum Pool: Sendable {
        case dbconnection(DBConnectionBenchPool)
        case postgresNIO(PostgresNIOBenchPool)
        case asyncKit(AsyncKitBenchPool)
    }

    public let implementation: Implementation
    public let settings: PoolSettings
    let pool: Pool

    init(implementation: Implementation, settings: PoolSettings, pool: Pool) {
        self.implementation = implementation
        self.settings = settings
        self.pool = pool
    }

    /// Starts a pool and returns once all ``PoolSettings/poolSize`` connections were lent once.
    public static func start(_ implementation: Implementation, settings: PoolSettings = .init()) async throws
        -> PoolSession
    {
        let pool: Pool
        switch implementation {
        case .dbconnection: pool = .dbconnection(try await DBConnectionBenchPool(settings: settings))
        case .postgresNIO: pool = .postgresNIO(try await PostgresNIOBenchPool(settings: settings))
        case .asyncKit: pool = .asyncKit(try await AsyncKitBenchPool(settings: settings))
        }
        let session = PoolSession(implementation: implementation, settings: settings, pool: pool)
        try await session.leaseAllOnce()
        return session
    }

    /// Leases every connection at the same time, then gives them back: the pools that connect lazily
    /// (AsyncKit) have them all open afterwards.
    private func leaseAllOnce() async throws {
        switch pool {
        case .dbconnection(let pool): try await Self.leaseAll(pool, count: settings.poolSize)
        case .postgresNIO(let pool): try await Self.leaseAll(pool, count: settings.poolSize)
        case .asyncKit(let pool): try await Self.leaseAll(pool, count: settings.poolSize)
        }
    }

    private static func leaseAll<P: BenchPool>(_ pool: P, count: Int) async throws {
        var leases: [P.Lease] = []
        for _ in 0..<count { leases.append(try await pool.lease()) }
        for lease in leases { pool.release(lease) }
    }

    /// Runs `tasks` tasks of `cyclesPerTask` lease + release cycles each; see ``runWorkload(_:tasks:cyclesPerTask:hold:timeLeases:onStart:onStop:)``.
    public func run(
        tasks: Int,
        cyclesPerTask: Int,
        hold: Hold,
        timeLeases: Bool,
        onStart: () -> Void = {},
        onStop: () -> Void = {}
    ) async throws -> Measurement {
        switch pool {
        case .dbconnection(let pool):
            try await runWorkload(
                pool,
                tasks: tasks,
                cyclesPerTask: cyclesPerTask,
                hold: hold,
                timeLeases: timeLeases,
                onStart: onStart,
                onStop: onStop
            )
        case .postgresNIO(let pool):
            try await runWorkload(
                pool,
                tasks: tasks,
                cyclesPerTask: cyclesPerTask,
                hold: hold,
                timeLeases: timeLeases,
                onStart: onStart,
                onStop: onStop
            )
        case .asyncKit(let pool):
            try await runWorkload(
                pool,
                tasks: tasks,
                cyclesPerTask: cyclesPerTask,
                hold: hold,
                timeLeases: timeLeases,
                onStart: onStart,
                onStop: onStop
            )
        }
    }

    /// Runs a steady load and measures a window in it; see ``runWindow(_:tasks:hold:warmCycles:windowCycles:onStart:onStop:)``.
    public func runWindow(
        tasks: Int,
        hold: Hold,
        warmCycles: Int,
        windowCycles: Int,
        onStart: @escaping @Sendable () -> Void,
        onStop: @escaping @Sendable () -> Void
    ) async throws {
        switch pool {
        case .dbconnection(let pool):
            try await PoolWorkloads.runWindow(
                pool,
                tasks: tasks,
                hold: hold,
                warmCycles: warmCycles,
                windowCycles: windowCycles,
                onStart: onStart,
                onStop: onStop
            )
        case .postgresNIO(let pool):
            try await PoolWorkloads.runWindow(
                pool,
                tasks: tasks,
                hold: hold,
                warmCycles: warmCycles,
                windowCycles: windowCycles,
                onStart: onStart,
                onStop: onStop
            )
        case .asyncKit(let pool):
            try await PoolWorkloads.runWindow(
                pool,
                tasks: tasks,
                hold: hold,
                warmCycles: warmCycles,
                windowCycles: windowCycles,
                onStart: onStart,
                onStop: onStop
            )
        }
    }

    /// Runs the overload workload; see ``runOverload(_:callers:duration:hold:)``.
    public func overload(callers: Int, duration: Duration, hold: Duration) async -> OverloadResult {
        switch pool {
        case .dbconnection(let pool): await runOverload(pool, callers: callers, duration: duration, hold: hold)
        case .postgresNIO(let pool): await runOverload(pool, callers: callers, duration: duration, hold: hold)
        case .asyncKit(let pool): await runOverload(pool, callers: callers, duration: duration, hold: hold)
        }
    }

    /// Stops the pool and waits until it has stopped.
    public func shutdown() async {
        switch pool {
        case .dbconnection(let pool): await pool.shutdown()
        case .postgresNIO(let pool): await pool.shutdown()
        case .asyncKit(let pool): await pool.shutdown()
        }
    }
}
