import DBConnection
import Foundation
import Logging
import Synchronization

/// Everything a bench run needs, validated and converted from the command line.
struct BenchConfiguration: Sendable {
    /// When the run ends.
    enum Limit: Sendable, Equatable {
        /// Workers start no new transaction after this long.
        case duration(Duration)
        /// Workers start this many transactions in all.
        case transactions(Int)
    }

    /// How progress is shown while the run goes on.
    enum Progress: Sendable, Equatable {
        /// One line rewritten in place (`\r`) about once a second: for terminals.
        case live
        /// One plain line a second: for logs and pipes.
        case lines
        /// Nothing.
        case none
    }

    var database: DatabaseURL
    /// Whether each worker runs on the thread of its connections (the task executor of their
    /// ``ExecutorAffinity``, where the driver has one) rather than on the global executor.
    var workersOnConnections = false
    /// Whether the database is the run's own, in a temporary folder removed afterwards.
    var isTemporary = false
    var workload: Workload
    /// The share of reads in a `mixed` workload, in percent.
    var readPercent: Int = 80
    var scale: BenchScale
    var poolSize: Int = 4
    var concurrency: Int = 8
    var limit: Limit = .duration(.seconds(10))
    var queueTarget: Duration = .milliseconds(50)
    var queueInterval: Duration = .milliseconds(1000)
    /// The time budget of each transaction, queue time included; `nil`: none.
    var timeout: Duration? = .seconds(15)
    var seed: UInt64
    var progress: Progress = .none
    /// Where the pool logs (connects, disconnects, drops); default: nowhere.
    var logger: Logger = Logger(label: "dbconn", factory: { _ in SwiftLogNoOpLogHandler() })
}

/// What a run measured.
struct BenchResult: Sendable {
    var configuration: BenchConfiguration
    /// How long creating and filling the tables took (or finding them).
    var fillTime: Duration
    /// Whether the run made and filled its tables (`false`: it found pgbench's).
    var tablesFilled = true
    /// From the first transaction started to the last one finished.
    var elapsed: Duration
    /// Every transaction of the run.
    var total: Tally
    /// The run, second by second.
    var samples: [Sample]
    var consistency: Consistency
    /// Whether the run was stopped early (Ctrl-C).
    var interrupted = false

    var transactionsPerSecond: Double {
        let seconds = elapsed.seconds
        return seconds > 0 ? Double(total.committed) / seconds : 0
    }
}

/// One second (or so) of the run.
struct Sample: Sendable, Equatable {
    /// Seconds since the start, at the start and at the end of the interval.
    var start: Double
    var end: Double
    var committed: Int
    var failed: Int
    /// Latency percentiles of the transactions committed in the interval, in microseconds.
    var p50: UInt64
    var p99: UInt64

    var transactionsPerSecond: Double {
        end > start ? Double(committed) / (end - start) : 0
    }
}

/// Runs a bench: creates and fills the tables (or finds pgbench's) on a connection of its own, runs the
/// workload through a ``ConnectionPool`` with `concurrency` worker tasks, then checks the data.
///
/// The driver is a ``BenchDriver``, chosen by the URL: the runner is generic over it.
struct BenchRunner: Sendable {
    var configuration: BenchConfiguration
    /// Set to end the run early (Ctrl-C): workers start no new transaction.
    var stop = StopFlag()
    /// Where progress goes (stdout by default).
    var write: @Sendable (String) -> Void = { text in
        print(text, terminator: "")
        fflush(nil)
    }

    init(configuration: BenchConfiguration) {
        self.configuration = configuration
    }

    /// Runs the bench.
    /// - Throws: ``CLIError`` when the database can't be reached, the tables can't be made or found, or
    ///   the pool can't open its connections; the driver's error when set-up fails otherwise; errors
    ///   of single transactions are counted, not thrown.
    func run() async throws -> BenchResult {
        switch configuration.database.driver {
        case .sqlite(let options): try await run(SQLiteBench(options: options))
        case .postgres(let options): try await run(PostgresBench(options: options))
        }
    }

    private func run<Driver: BenchDriver>(_ driver: Driver) async throws -> BenchResult {
        let clock = ContinuousClock()
        let fillStart = clock.now
        let tables = try await withConnection(driver) { db in
            if self.configuration.progress != .none { write(setUpLine) }
            return try await driver.setUp(db, workload: self.configuration.workload, scale: self.configuration.scale)
        }
        let fillTime = fillStart.duration(to: clock.now)
        var configuration = self.configuration
        configuration.scale = tables.scale

        var poolConfiguration = PoolConfiguration<Driver.Connection>()
        poolConfiguration.name = "bench"
        poolConfiguration.poolSize = configuration.poolSize
        poolConfiguration.queueTarget = configuration.queueTarget
        poolConfiguration.queueInterval = configuration.queueInterval
        poolConfiguration.logger = configuration.logger
        poolConfiguration.randomSeed = configuration.seed
        let measurement = try await ConnectionPool<Driver.Connection>.withPool(
            options: driver.options,
            configuration: poolConfiguration
        ) { pool in
            try await waitForConnections(of: pool)
            return await measure(pool, driver: driver, configuration: configuration)
        }

        let consistency = try await withConnection(driver) { db in
            try await driver.check(
                db,
                workload: configuration.workload,
                tables: tables,
                committedWrites: measurement.total.committedWrites
            )
        }
        return BenchResult(
            configuration: configuration,
            fillTime: fillTime,
            tablesFilled: tables.filled,
            elapsed: measurement.elapsed,
            total: measurement.total,
            samples: measurement.samples,
            consistency: consistency,
            interrupted: stop.isSet
        )
    }

    /// What the set-up is about to do, shown once it has connected.
    private var setUpLine: String {
        let database = configuration.database
        if configuration.workload == .select, database.postgres != nil {
            return "reading pgbench's tables in \(database.url)\n"
        }
        return "filling \(Format.count(configuration.scale.accounts, "account")) in \(database.url)\n"
    }

    /// Runs `body` on a connection outside the pool, so set-up errors surface at once.
    private func withConnection<Driver: BenchDriver, R: Sendable>(
        _ driver: Driver,
        _ body: (Driver.Connection) async throws -> R
    ) async throws -> R {
        let context = ConnectionContext(
            poolIndex: 0,
            poolName: "bench set-up",
            logger: configuration.logger,
            showSensitiveData: false
        )
        let db: Driver.Connection
        do {
            db = try await Driver.Connection.connect(options: driver.options, context: context)
        } catch {
            throw configuration.database.connectFailure(error)
        }
        do {
            let result = try await body(db)
            await db.disconnect(error: CLIError("done"))
            return result
        } catch {
            await db.disconnect(error: error)
            throw error
        }
    }

    /// Waits until the pool has opened every connection, so the clock starts on a warm pool.
    private func waitForConnections<Connection>(of pool: ConnectionPool<Connection>) async throws {
        let clock = ContinuousClock()
        let giveUp = clock.now + .seconds(10)
        while pool.metrics().openConnections < configuration.poolSize {
            guard clock.now < giveUp else {
                throw CLIError(
                    "the pool opened \(pool.metrics().openConnections) of \(configuration.poolSize) connections in 10 s"
                )
            }
            try await clock.sleep(for: .milliseconds(1))
        }
    }

    private struct Measurement: Sendable {
        var elapsed: Duration
        var total: Tally
        var samples: [Sample]
    }

    private func measure<Driver: BenchDriver>(
        _ pool: ConnectionPool<Driver.Connection>,
        driver: Driver,
        configuration: BenchConfiguration
    ) async -> Measurement {
        let clock = ContinuousClock()
        let tallies = (0..<configuration.concurrency).map { _ in WorkerTally() }
        let tickets = Tickets(stop: stop)
        let start = clock.now
        let reporter = Reporter(
            configuration: configuration,
            tallies: tallies,
            start: start,
            metrics: { pool.metrics() },
            write: write
        )
        await withDiscardingTaskGroup { group in
            group.addTask { await reporter.tickEverySecond() }
            let executors = ExecutorAssignment(holders: min(configuration.concurrency, configuration.poolSize))
            await withDiscardingTaskGroup { workers in
                for (index, tally) in tallies.enumerated() {
                    workers.addTask {
                        let executor =
                            configuration.workersOnConnections
                            ? await executors.executor(forWorker: index, of: pool) : nil
                        await withTaskExecutorPreference(executor) {
                            await work(
                                index: index,
                                pool: pool,
                                driver: driver,
                                configuration: configuration,
                                tally: tally,
                                tickets: tickets,
                                start: start
                            )
                        }
                    }
                }
            }
            group.cancelAll()
        }
        let end = clock.now
        let (total, samples) = reporter.finish(at: end)
        return Measurement(elapsed: start.duration(to: end), total: total, samples: samples)
    }

    /// One worker: draws a transaction, runs it through the pool, records how it went; until the
    /// time is up or the tickets run out.
    private func work<Driver: BenchDriver>(
        index: Int,
        pool: ConnectionPool<Driver.Connection>,
        driver: Driver,
        configuration: BenchConfiguration,
        tally: WorkerTally,
        tickets: Tickets,
        start: ContinuousClock.Instant
    ) async {
        let clock = ContinuousClock()
        var rng = Xoshiro256(seed: configuration.seed, stream: UInt64(index) + 1)
        let callOptions = CallOptions(timeout: configuration.timeout)
        while true {
            // Two clock reads per transaction: when it asks (also the ticket's time) and when it is done.
            // The queue wait is the pool's own measure (`poolTime`).
            let asked = clock.now
            guard tickets.claim(configuration.limit, start: start, now: asked) else { break }
            let transaction = BenchTransaction.draw(
                configuration.workload,
                readPercent: configuration.readPercent,
                scale: configuration.scale,
                using: &rng
            )
            let mtime = transaction.isWrite ? Int64(Date().timeIntervalSince1970) : 0
            var queueWait: Duration?
            do {
                try await pool.withConnection(options: callOptions) { connection in
                    queueWait = connection.lease.poolTime
                    try await connection.withDriverCall("transaction") { db in
                        try await driver.run(transaction, on: db, mtime: mtime)
                    }
                }
                let done = clock.now
                tally.recordSuccess(
                    latency: asked.duration(to: done),
                    queueWait: queueWait,
                    isWrite: transaction.isWrite
                )
            } catch {
                tally.recordFailure(error, queueWait: queueWait)
            }
        }
    }
}

/// Spreads the workers over the threads of the pool's connections (see
/// ``BenchConfiguration/workersOnConnections``), in the same proportion as the connections.
///
/// The first `holders` workers (as many as there are connections, or workers if fewer) each lease a
/// connection, note the task executor of its ``ExecutorAffinity``, and keep the lease until all of them
/// have one: so each holds a different connection, and the workers of each thread are as many as that
/// thread's connections. Without the wait, a worker that leases its first connection after others have
/// started running statements can get one of a thread that already has its share of workers (they lend
/// and return that thread's connections all the time); that thread then has more workers than
/// connections, lends connections of the other thread, and each such statement costs two thread
/// wake-ups. Workers past `holders` take the executor of worker `index % holders`.
final class ExecutorAssignment: Sendable {
    private struct State {
        var executors: [Int: any TaskExecutor] = [:]
        var arrived = 0
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let holders: Int
    private let state = Mutex(State())

    init(holders: Int) {
        self.holders = max(1, holders)
    }

    /// How many holders have their executor so far.
    var arrivals: Int { state.withLock { $0.arrived } }

    /// The executor worker `index` runs on; `nil` when the driver offers none.
    func executor<Connection>(forWorker index: Int, of pool: ConnectionPool<Connection>) async -> (any TaskExecutor)? {
        if index < holders {
            // Each holder arrives exactly once: inside its lease, or here when it got no connection
            // or could not read the affinity (the run is failing anyway), without an executor.
            do {
                try await pool.withConnection { connection in
                    let affinity = try await connection.withDriverCall("executor") { $0.executorAffinity }
                    await arrive(index, affinity?.taskExecutor)
                }
            } catch {
                await arrive(index, nil)
            }
        } else {
            await waitForAll()
        }
        return state.withLock { $0.executors[index % holders] }
    }

    /// Records worker `index`'s executor, then waits until every holder has arrived.
    private func arrive(_ index: Int, _ executor: (any TaskExecutor)?) async {
        let waiters: [CheckedContinuation<Void, Never>]? = state.withLock { state in
            if let executor { state.executors[index] = executor }
            state.arrived += 1
            guard state.arrived == holders else { return nil }
            defer { state.waiting = [] }
            return state.waiting
        }
        if let waiters {
            for waiter in waiters { waiter.resume() }
        } else {
            await waitForAll()
        }
    }

    private func waitForAll() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state in
                if state.arrived >= holders { return true }
                state.waiting.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }
}

/// Hands out the right to start a transaction.
private final class Tickets: Sendable {
    private let issued = Atomic<Int>(0)
    private let stop: StopFlag

    init(stop: StopFlag) {
        self.stop = stop
    }

    func claim(_ limit: BenchConfiguration.Limit, start: ContinuousClock.Instant, now: ContinuousClock.Instant) -> Bool
    {
        if stop.isSet { return false }
        switch limit {
        case .duration(let duration):
            return now < start + duration
        case .transactions(let count):
            return issued.wrappingAdd(1, ordering: .relaxed).newValue <= count
        }
    }
}
