import Foundation

/// The JSON report of `dbconn bench --json FILE`. Times are in microseconds unless the key says
/// otherwise (`_s`: seconds, `_ms`: milliseconds).
struct BenchReport: Codable, Equatable {
    /// Percentiles of a histogram, in microseconds.
    struct Latency: Codable, Equatable {
        var count: UInt64
        var min: UInt64
        var p50: UInt64
        var p90: UInt64
        var p99: UInt64
        var p999: UInt64
        var max: UInt64
        var mean: Double
    }

    /// Failed transactions by kind.
    struct Errors: Codable, Equatable {
        var queueTimeout: Int
        var deadline: Int
        var database: Int
        var other: Int

        enum CodingKeys: String, CodingKey {
            case queueTimeout = "queue_timeout"
            case deadline, database, other
        }
    }

    /// What the consistency check read.
    struct ConsistencyDetail: Codable, Equatable {
        var sumAccountBalances: Int64
        var sumTellerBalances: Int64
        var sumBranchBalances: Int64
        var sumHistoryDeltas: Int64
        var historyRows: Int
        var committedWrites: Int
        /// `bench_tables`, or `pgbench_tables` for the select workload (which checks only their size).
        var scope: String
        var accountRows: Int
        var failures: [String]

        enum CodingKeys: String, CodingKey {
            case scope
            case accountRows = "account_rows"
            case sumAccountBalances = "sum_account_balances"
            case sumTellerBalances = "sum_teller_balances"
            case sumBranchBalances = "sum_branch_balances"
            case sumHistoryDeltas = "sum_history_deltas"
            case historyRows = "history_rows"
            case committedWrites = "committed_writes"
            case failures
        }
    }

    /// One second of the run.
    struct Point: Codable, Equatable {
        var start: Double
        var end: Double
        var tps: Double
        var committed: Int
        var failed: Int
        var p50: UInt64
        var p99: UInt64

        enum CodingKeys: String, CodingKey {
            case start = "start_s"
            case end = "end_s"
            case tps, committed, failed
            case p50 = "p50_us"
            case p99 = "p99_us"
        }
    }

    var workload: String
    var database: String
    var driver: String
    var scale: Double
    var accounts: Int
    var tellers: Int
    var branches: Int
    var readPercent: Int?
    var poolSize: Int
    var concurrency: Int
    var queueTargetMilliseconds: Double
    var queueIntervalMilliseconds: Double
    var timeoutMilliseconds: Double?
    var seed: UInt64
    var requestedDuration: Double?
    var requestedTransactions: Int?
    var fillSeconds: Double
    var durationSeconds: Double
    /// Committed transactions, reads and writes.
    var transactions: Int
    var reads: Int
    var writes: Int
    var failed: Int
    var tps: Double
    var latency: Latency
    var queueWait: Latency
    var errors: Errors
    var errorExamples: [String: String]
    var consistent: Bool
    var consistency: ConsistencyDetail
    /// Whether the run was stopped early with Ctrl-C.
    var interrupted: Bool
    var series: [Point]

    enum CodingKeys: String, CodingKey {
        case workload, database, driver, scale, accounts, tellers, branches
        case readPercent = "read_percent"
        case poolSize = "pool_size"
        case concurrency
        case queueTargetMilliseconds = "queue_target_ms"
        case queueIntervalMilliseconds = "queue_interval_ms"
        case timeoutMilliseconds = "timeout_ms"
        case seed
        case requestedDuration = "requested_duration_s"
        case requestedTransactions = "requested_transactions"
        case fillSeconds = "fill_s"
        case durationSeconds = "duration_s"
        case transactions, reads, writes, failed, tps, latency
        case queueWait = "queue_wait"
        case errors
        case errorExamples = "error_examples"
        case consistent, consistency, interrupted, series
    }

    init(_ result: BenchResult) {
        let configuration = result.configuration
        func rounded(_ value: Double, _ digits: Double) -> Double {
            let factor = pow(10, digits)
            return (value * factor).rounded() / factor
        }
        func makeLatency(_ percentiles: Percentiles) -> Latency {
            Latency(
                count: percentiles.count,
                min: percentiles.min,
                p50: percentiles.p50,
                p90: percentiles.p90,
                p99: percentiles.p99,
                p999: percentiles.p999,
                max: percentiles.max,
                mean: rounded(percentiles.mean, 1)
            )
        }
        workload = configuration.workload.rawValue
        database = configuration.database.url
        driver = configuration.database.driverName
        scale = configuration.scale.scale
        accounts = configuration.scale.accounts
        tellers = configuration.scale.tellers
        branches = configuration.scale.branches
        readPercent = configuration.workload == .mixed ? configuration.readPercent : nil
        poolSize = configuration.poolSize
        concurrency = configuration.concurrency
        queueTargetMilliseconds = configuration.queueTarget.seconds * 1000
        queueIntervalMilliseconds = configuration.queueInterval.seconds * 1000
        timeoutMilliseconds = configuration.timeout.map { $0.seconds * 1000 }
        seed = configuration.seed
        switch configuration.limit {
        case .duration(let duration):
            requestedDuration = duration.seconds
            requestedTransactions = nil
        case .transactions(let count):
            requestedDuration = nil
            requestedTransactions = count
        }
        fillSeconds = rounded(result.fillTime.seconds, 3)
        durationSeconds = rounded(result.elapsed.seconds, 3)
        transactions = result.total.committed
        writes = result.total.committedWrites
        reads = result.total.committed - result.total.committedWrites
        failed = result.total.failed
        tps = rounded(result.transactionsPerSecond, 2)
        latency = makeLatency(Percentiles(result.total.latency))
        queueWait = makeLatency(Percentiles(result.total.queueWait))
        errors = Errors(
            queueTimeout: result.total.errors(of: .queueTimeout),
            deadline: result.total.errors(of: .deadline),
            database: result.total.errors(of: .database),
            other: result.total.errors(of: .other)
        )
        errorExamples = Dictionary(uniqueKeysWithValues: result.total.examples.map { ($0.key.rawValue, $0.value) })
        consistent = result.consistency.isConsistent
        interrupted = result.interrupted
        consistency = ConsistencyDetail(
            sumAccountBalances: result.consistency.sumAccountBalances,
            sumTellerBalances: result.consistency.sumTellerBalances,
            sumBranchBalances: result.consistency.sumBranchBalances,
            sumHistoryDeltas: result.consistency.sumHistoryDeltas,
            historyRows: result.consistency.historyRows,
            committedWrites: result.consistency.committedWrites,
            scope: result.consistency.scope.rawValue,
            accountRows: result.consistency.accountRows,
            failures: result.consistency.failures
        )
        series = result.samples.map { sample in
            Point(
                start: rounded(sample.start, 3),
                end: rounded(sample.end, 3),
                tps: rounded(sample.transactionsPerSecond, 1),
                committed: sample.committed,
                failed: sample.failed,
                p50: sample.p50,
                p99: sample.p99
            )
        }
    }

    /// The report as pretty-printed JSON with sorted keys.
    func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(self)
        data.append(contentsOf: Array("\n".utf8))
        return data
    }
}

extension BenchResult {
    /// The summary printed at the end of a run.
    func summary() -> String {
        let configuration = self.configuration
        let scale = configuration.scale
        var lines: [String] = []
        var workload = "\(configuration.workload.rawValue) workload"
        if configuration.workload == .mixed { workload += " (\(configuration.readPercent)% reads)" }
        lines.append(
            "dbconn bench: \(workload) on \(configuration.database.url)"
                + (configuration.isTemporary ? " (temporary)" : "")
        )
        if configuration.workload == .select {
            lines.append(
                "  scale \(Format.seconds(scale.scale)): \(Format.count(scale.accounts, "account")), "
                    + "\(Format.count(scale.branches, "branch", "branches")) in pgbench_accounts, pgbench_branches; "
                    + (tablesFilled ? "filled" : "found") + " in \(Format.fixed(fillTime.seconds, 2)) s"
            )
        } else {
            lines.append(
                "  scale \(Format.seconds(scale.scale)): \(Format.count(scale.accounts, "account")), "
                    + "\(Format.count(scale.tellers, "teller")), \(Format.count(scale.branches, "branch", "branches")); "
                    + "filled in \(Format.fixed(fillTime.seconds, 2)) s"
            )
        }
        var setup = "  pool size \(configuration.poolSize), concurrency \(configuration.concurrency), "
        switch configuration.limit {
        case .duration(let duration): setup += "duration \(Format.seconds(duration.seconds)) s"
        case .transactions(let count): setup += "\(count) transactions"
        }
        setup += ", queue target \(Format.seconds(configuration.queueTarget.seconds * 1000)) ms"
        setup += ", queue interval \(Format.seconds(configuration.queueInterval.seconds * 1000)) ms"
        if let timeout = configuration.timeout {
            setup += ", timeout \(Format.seconds(timeout.seconds * 1000)) ms"
        }
        setup += ", seed \(configuration.seed)"
        lines.append(setup)
        if interrupted { lines.append("  interrupted: stopped early with Ctrl-C") }
        lines.append("")

        func labelled(_ label: String, _ text: String) -> String {
            label.padding(toLength: 15, withPad: " ", startingAt: 0) + text
        }
        let reads = total.committed - total.committedWrites
        lines.append(
            labelled(
                "transactions",
                "\(total.committed) committed (\(reads) reads, \(total.committedWrites) writes), "
                    + "\(total.failed) failed, in \(Format.fixed(elapsed.seconds, 2)) s"
            )
        )
        lines.append(labelled("throughput", "\(Format.fixed(transactionsPerSecond, 1)) tps"))
        lines.append("")

        let latency = Percentiles(total.latency)
        let wait = Percentiles(total.queueWait)
        func cells(_ name: String, _ p: Percentiles) -> [String] {
            [name] + [p.p50, p.p90, p.p99, p.p999, p.max].map(Format.microseconds)
        }
        lines += Format.table(
            [
                ["", "p50", "p90", "p99", "p99.9", "max"],
                cells("latency", latency),
                cells("queue wait", wait),
            ],
            rightAligned: [false, true, true, true, true, true],
            separator: "   "
        )
        lines.append("")

        if total.failed == 0 {
            lines.append(labelled("errors", "none"))
        } else {
            let rows = ErrorKind.allCases.map { kind in
                [
                    kind.rawValue, "\(total.errors(of: kind))",
                    total.examples[kind].map { "e.g. " + Format.oneLine($0, limit: 100) } ?? "",
                ]
            }
            for (index, row) in Format.table(rows, rightAligned: [false, true, false]).enumerated() {
                lines.append(labelled(index == 0 ? "errors" : "", row))
            }
        }

        let check = consistency
        if check.isConsistent, check.scope == .pgbenchTables {
            lines.append(
                labelled(
                    "consistency",
                    "ok: read-only workload; pgbench_accounts holds aids 1 to \(check.accountRows)"
                )
            )
        } else if check.isConsistent {
            lines.append(
                labelled(
                    "consistency",
                    "ok: account balances sum to 0; tellers, branches and history agree "
                        + "(\(check.sumHistoryDeltas)); \(Format.count(check.historyRows, "history row")) "
                        + "for \(Format.count(check.committedWrites, "committed write"))"
                )
            )
        } else {
            lines.append(labelled("consistency", "FAILED: " + check.failures.joined(separator: "; ")))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
