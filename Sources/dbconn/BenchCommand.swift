import ArgumentParser
import DBConnection
import Foundation
import Logging

/// `dbconn bench [URL]`: creates and fills pgbench-like tables, runs a workload through a
/// ``ConnectionPool`` and reports throughput, latency, queue waits, errors and a consistency check.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a pgbench-like workload through the connection pool.",
        discussion: """
            Creates and fills its own tables (bench_accounts, bench_branches, bench_tellers, \
            bench_history; existing ones are replaced), then runs --concurrency tasks that each loop: \
            check out a connection from a pool of --pool-size, run one transaction, check it in. \
            Works on SQLite (sqlite:PATH) and PostgreSQL (postgres://USER@HOST/DATABASE).

            Workloads: read (SELECT abalance FROM bench_accounts WHERE aid = ?), write (a TPC-B-like \
            transfer: BEGIN (IMMEDIATE on SQLite); debit one account, credit another, credit a teller \
            and a branch; insert a history row; COMMIT), mixed (--read-percent reads, the rest \
            writes), select (pgbench -S: SELECT abalance FROM pgbench_accounts WHERE aid = $1, a \
            prepared statement per connection, aid uniform in 1 to 100000 * scale). On PostgreSQL, \
            select runs on the tables of pgbench -i -s N and reads N from pgbench_branches (--scale \
            does not apply); on SQLite it makes pgbench_branches and pgbench_accounts at --scale.

            At the end: throughput, latency and queue-wait percentiles, errors by kind, and a \
            consistency check (balances still sum to 0; one history row per committed write). \
            Ctrl-C stops early and still prints the summary. Exit status: 0, or 1 when the check \
            fails, 130 after Ctrl-C.

            On PostgreSQL, --executor auto (the default) runs each worker on the NIO event loop of its \
            connections (a task executor preference), and the pool lends it connections of that \
            loop, so a statement is sent and its reply resumes the worker on one thread; \
            --executor default keeps Swift's cooperative pool (a thread hop there and back per \
            statement); --executor nio-global runs Swift's global executor on NIO's loops instead \
            (the older way, for comparison).

            Examples:
              dbconn bench
              dbconn bench sqlite:bench.db --workload write --concurrency 16
              dbconn bench --workload read --transactions 100000 --json report.json
              dbconn bench --pool-size 2 --concurrency 64 --queue-target 5 --chart q.svg
              dbconn bench postgres://app@127.0.0.1/app --workload write --pool-size 8
              pgbench -i -s 10 app && dbconn bench postgres://app@127.0.0.1/app --workload select
            """
    )

    @Argument(
        help: """
            The database: sqlite:PATH or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE. \
            Default: a new SQLite database in a temporary folder, removed afterwards.
            """
    )
    var url: String?

    @Option(help: "The workload: read, write, mixed or select.")
    var workload: Workload = .mixed

    @Option(help: "The share of reads in the mixed workload, in percent.")
    var readPercent: Int = 80

    @Option(
        parsing: .unconditional,
        help:
            "The table size: 100,000 accounts, 10 tellers and 1 branch per unit, as pgbench. May be fractional (0.01: 1,000 accounts). Default: 1."
    )
    var scale: Double?

    @Option(parsing: .unconditional, help: "Connections in the pool.")
    var poolSize: Int = 4

    @Option(parsing: .unconditional, help: "Worker tasks, each running one transaction after another.")
    var concurrency: Int = 8

    @Option(parsing: .unconditional, help: "How long to run, in seconds (default 10). Exclusive with --transactions.")
    var duration: Double?

    @Option(parsing: .unconditional, help: "How many transactions to run in all. Exclusive with --duration.")
    var transactions: Int?

    @Option(
        parsing: .unconditional,
        help: "The pool's queue target, in milliseconds (CoDel; see PoolConfiguration.queueTarget)."
    )
    var queueTarget: Int = 50

    @Option(parsing: .unconditional, help: "The pool's queue interval, in milliseconds.")
    var queueInterval: Int = 1000

    @Option(parsing: .unconditional, help: "The time budget of each transaction, queue time included, in milliseconds.")
    var timeout: Int = 15000

    @Option(
        parsing: .unconditional,
        help: "Seeds the random choices (keys, amounts, reads or writes). Default: random, shown in the report."
    )
    var seed: UInt64?

    /// Read by ``DBConnMain`` from the raw arguments before the first task starts (``ExecutorChoice/choice(arguments:)``);
    /// parsed here for `--help` and to reject a bad value.
    @Option(help: ExecutorChoice.help)
    var executor: ExecutorChoice = .auto

    @Flag(name: .shortAndLong, help: "Show no progress while running (the summary is still printed).")
    var quiet = false

    @Flag(help: "Log the pool's connects, disconnects and drops to stderr.")
    var verbose = false

    @Option(help: ArgumentHelp("Write the report as JSON to this file.", valueName: "file"))
    var json: String?

    @Option(help: ArgumentHelp("Draw throughput and latency per second as SVG to this file.", valueName: "file.svg"))
    var chart: String?

    func validate() throws {
        if duration != nil, transactions != nil {
            throw ValidationError("--duration and --transactions are exclusive; give one")
        }
        if let duration, !(duration > 0 && duration <= 1_000_000) {
            throw ValidationError(
                "--duration must be a positive number of seconds up to 1000000, got \(Format.seconds(duration))"
            )
        }
        if let transactions, transactions < 1 {
            throw ValidationError("--transactions must be at least 1, got \(transactions)")
        }
        let scale = self.scale ?? 1
        guard scale > 0, scale.isFinite, scale <= 10_000 else {
            throw ValidationError("--scale must be a positive number up to 10000, got \(Format.seconds(scale))")
        }
        if workload.writes, BenchScale(scale: scale).accounts < 2 {
            throw ValidationError("--scale \(Format.seconds(scale)) makes 1 account; transfers need at least 2")
        }
        guard (0...100).contains(readPercent) else {
            throw ValidationError("--read-percent must be between 0 and 100, got \(readPercent)")
        }
        guard (1...1000).contains(poolSize) else {
            throw ValidationError("--pool-size must be between 1 and 1000, got \(poolSize)")
        }
        guard (1...100_000).contains(concurrency) else {
            throw ValidationError("--concurrency must be between 1 and 100000, got \(concurrency)")
        }
        let day = 86_400_000
        guard (0...day).contains(queueTarget) else {
            throw ValidationError("--queue-target must be between 0 and \(day) milliseconds, got \(queueTarget)")
        }
        guard (1...day).contains(queueInterval) else {
            throw ValidationError("--queue-interval must be between 1 and \(day) milliseconds, got \(queueInterval)")
        }
        guard (1...day).contains(timeout) else {
            throw ValidationError("--timeout must be between 1 and \(day) milliseconds, got \(timeout)")
        }
        for (option, path) in [("--json", json), ("--chart", chart)] {
            guard let path else { continue }
            let directory = (path as NSString).deletingLastPathComponent
            var isDirectory: ObjCBool = false
            guard
                FileManager.default.fileExists(atPath: directory.isEmpty ? "." : directory, isDirectory: &isDirectory),
                isDirectory.boolValue
            else {
                throw ValidationError("\(option) \(path): directory \(directory) does not exist")
            }
        }
    }

    func run() async throws {
        var temporaryFolder: String?
        defer {
            if let temporaryFolder { try? FileManager.default.removeItem(atPath: temporaryFolder) }
        }
        let url: String
        if let given = self.url {
            url = given
        } else {
            let folder = try Self.makeTemporaryFolder()
            temporaryFolder = folder
            url = "sqlite:\(folder)/bench.sqlite"
        }
        var configuration = try makeConfiguration(url: url, isatty: Terminal.standardOutputIsTerminal)
        configuration.isTemporary = temporaryFolder != nil
        let runner = BenchRunner(configuration: configuration)
        let interrupts = InterruptHandler(stop: runner.stop) {
            FileHandle.standardError.write(
                Data("\ndbconn: stopping after the transactions in flight (Ctrl-C again quits)\n".utf8)
            )
        }
        let result: BenchResult
        do {
            result = try await runner.run()
            interrupts.cancel()
        } catch {
            interrupts.cancel()
            throw error
        }
        print(result.summary(), terminator: "")
        if let json {
            try write(try BenchReport(result).json(), to: json)
        }
        if let chart {
            try write(Data(Chart.svg(for: result).utf8), to: chart)
        }
        if !result.consistency.isConsistent {
            throw CLIError("the consistency check failed: " + result.consistency.failures.joined(separator: "; "))
        }
        if result.interrupted {
            throw ExitCode(130)
        }
    }

    /// The run's configuration, from the options.
    func makeConfiguration(url: String, isatty: Bool) throws -> BenchConfiguration {
        let database = try DatabaseURL(url, for: .bench)
        if let scale, workload == .select, database.postgres != nil {
            throw CLIError(
                "--scale \(Format.seconds(scale)) does not apply to --workload select on PostgreSQL: "
                    + "the scale is the one pgbench -i -s N gave pgbench_branches"
            )
        }
        var configuration = BenchConfiguration(
            database: database,
            workload: workload,
            scale: BenchScale(scale: scale ?? 1),
            seed: seed ?? UInt64.random(in: 0...UInt64(UInt32.max))
        )
        configuration.readPercent = readPercent
        configuration.poolSize = poolSize
        configuration.concurrency = concurrency
        if let transactions {
            configuration.limit = .transactions(transactions)
        } else {
            configuration.limit = .duration(.milliseconds(Int64(((duration ?? 10) * 1000).rounded())))
        }
        configuration.queueTarget = .milliseconds(queueTarget)
        configuration.queueInterval = .milliseconds(queueInterval)
        configuration.timeout = .milliseconds(timeout)
        configuration.progress = quiet ? .none : (isatty ? .live : .lines)
        configuration.workersOnConnections = executor.runsWorkersOnConnections
        if verbose {
            var logger = Logger(label: "dbconn.pool") { StreamLogHandler.standardError(label: $0) }
            logger.logLevel = .debug
            configuration.logger = logger
        }
        return configuration
    }

    private static func makeTemporaryFolder() throws -> String {
        let base = FileManager.default.temporaryDirectory.path
        var template = Array("\(base)/dbconn-bench-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw CLIError("cannot make a temporary folder in \(base): \(String(cString: strerror(errno)))")
        }
        return String(cString: made)
    }

    private func write(_ data: Data, to path: String) throws {
        do {
            try data.write(to: URL(fileURLWithPath: path))
        } catch {
            throw CLIError("cannot write \(path): \(error.localizedDescription)")
        }
    }
}
