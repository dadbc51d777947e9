import ArgumentParser

/// What each transaction of a run does.
enum Workload: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// Point selects by random key on the bench's own tables.
    case read
    /// TPC-B-like transfers.
    case write
    /// Reads and writes, mixed by `--read-percent` (default 80 % reads).
    case mixed
    /// pgbench's select-only script (`pgbench -S`): `SELECT abalance FROM pgbench_accounts WHERE aid = $1`
    /// as a prepared statement, on pgbench's tables (`pgbench -i` makes them on PostgreSQL; on SQLite
    /// the bench makes its own).
    case select

    /// Whether the workload changes data (and so needs two accounts to move money between).
    var writes: Bool {
        switch self {
        case .write, .mixed: true
        case .read, .select: false
        }
    }
}

/// The sizes of the bench tables at a scale, as pgbench's: per unit of scale, 1 branch, 10 tellers and
/// 100,000 accounts. Fractional scales make smaller tables (at least one row each).
struct BenchScale: Sendable, Equatable {
    var scale: Double
    var branches: Int
    var tellers: Int
    var accounts: Int

    init(scale: Double) {
        self.scale = scale
        branches = max(1, Int(scale.rounded()))
        tellers = max(1, Int((10 * scale).rounded()))
        accounts = max(1, Int((100_000 * scale).rounded()))
    }
}

/// What a driver's check after the run found.
struct Consistency: Sendable, Equatable {
    /// What the check covers.
    enum Scope: String, Sendable, Equatable {
        /// The bench's own tables after `read`, `write` or `mixed`: balances, history, account count.
        case benchTables = "bench_tables"
        /// pgbench's tables after `select`, which changes nothing: only their size is checked.
        case pgbenchTables = "pgbench_tables"
    }

    var scope = Scope.benchTables
    var sumAccountBalances: Int64
    var sumTellerBalances: Int64
    var sumBranchBalances: Int64
    var sumHistoryDeltas: Int64
    var historyRows: Int
    var accountRows: Int
    var committedWrites: Int
    /// What does not hold; empty when the data is consistent.
    var failures: [String]

    var isConsistent: Bool { failures.isEmpty }

    /// Judges the figures a driver read from the bench tables after the run.
    ///
    /// Transfers move money between accounts, so the accounts' balances still sum to 0; each adds its
    /// delta to one teller and one branch and writes one history row, so tellers, branches and history
    /// sum to the same, and there is one history row per committed write. A read-only run passes
    /// trivially (nothing changed).
    /// - Parameter sums: the sums of account, teller and branch balances and of history deltas, the
    ///   history rows and the account rows, in that order.
    init(benchTables sums: [Int64], scale: BenchScale, committedWrites: Int) throws {
        guard sums.count == 6 else { throw CLIError("the consistency check read \(sums.count) values, expected 6") }
        self.init(
            sumAccountBalances: sums[0],
            sumTellerBalances: sums[1],
            sumBranchBalances: sums[2],
            sumHistoryDeltas: sums[3],
            historyRows: Int(sums[4]),
            accountRows: Int(sums[5]),
            committedWrites: committedWrites,
            failures: []
        )
        if sumAccountBalances != 0 {
            failures.append("sum of account balances is \(sumAccountBalances), expected 0")
        }
        if sumTellerBalances != sumHistoryDeltas {
            failures.append(
                "sum of teller balances \(sumTellerBalances) != sum of history deltas \(sumHistoryDeltas)"
            )
        }
        if sumBranchBalances != sumHistoryDeltas {
            failures.append(
                "sum of branch balances \(sumBranchBalances) != sum of history deltas \(sumHistoryDeltas)"
            )
        }
        if historyRows != committedWrites {
            failures.append("\(historyRows) history rows for \(committedWrites) committed writes")
        }
        if accountRows != scale.accounts {
            failures.append("\(accountRows) accounts, expected \(scale.accounts)")
        }
    }

    /// The check of a `select` run: pgbench_accounts still holds the accounts its scale promises.
    /// - Parameter accountRows: the highest `aid` of pgbench_accounts (every key the run drew exists
    ///   when it is the scale's account count: pgbench numbers them from 1).
    init(pgbenchTables accountRows: Int, scale: BenchScale) {
        self.init(
            scope: .pgbenchTables,
            sumAccountBalances: 0,
            sumTellerBalances: 0,
            sumBranchBalances: 0,
            sumHistoryDeltas: 0,
            historyRows: 0,
            accountRows: accountRows,
            committedWrites: 0,
            failures: []
        )
        if accountRows != scale.accounts {
            failures.append("pgbench_accounts ends at aid \(accountRows), expected \(scale.accounts)")
        }
    }

    init(
        scope: Scope = .benchTables,
        sumAccountBalances: Int64,
        sumTellerBalances: Int64,
        sumBranchBalances: Int64,
        sumHistoryDeltas: Int64,
        historyRows: Int,
        accountRows: Int,
        committedWrites: Int,
        failures: [String]
    ) {
        self.scope = scope
        self.sumAccountBalances = sumAccountBalances
        self.sumTellerBalances = sumTellerBalances
        self.sumBranchBalances = sumBranchBalances
        self.sumHistoryDeltas = sumHistoryDeltas
        self.historyRows = historyRows
        self.accountRows = accountRows
        self.committedWrites = committedWrites
        self.failures = failures
    }
}

/// One transaction of the workload, drawn at random.
enum BenchTransaction: Sendable, Equatable {
    /// `SELECT abalance FROM bench_accounts WHERE aid = ?`.
    case read(aid: Int)
    /// Moves `delta` from account `from` to account `to`, and adds it to a teller and a branch, with a
    /// history row.
    case transfer(from: Int, to: Int, delta: Int, teller: Int, branch: Int)
    /// pgbench's `SELECT abalance FROM pgbench_accounts WHERE aid = $1`.
    case select(aid: Int)

    /// Draws a transaction for the workload.
    static func draw(
        _ workload: Workload,
        readPercent: Int,
        scale: BenchScale,
        using rng: inout Xoshiro256
    ) -> BenchTransaction {
        let isRead: Bool
        switch workload {
        case .select: return .select(aid: Int.random(in: 1...scale.accounts, using: &rng))
        case .read: isRead = true
        case .write: isRead = false
        case .mixed: isRead = Int.random(in: 0..<100, using: &rng) < readPercent
        }
        if isRead {
            return .read(aid: Int.random(in: 1...scale.accounts, using: &rng))
        }
        let from = Int.random(in: 1...scale.accounts, using: &rng)
        var to = from
        if scale.accounts > 1 {
            // A different account, uniformly.
            to = Int.random(in: 1..<scale.accounts, using: &rng)
            if to >= from { to += 1 }
        }
        return .transfer(
            from: from,
            to: to,
            delta: Int.random(in: -5000...5000, using: &rng),
            teller: Int.random(in: 1...scale.tellers, using: &rng),
            branch: Int.random(in: 1...scale.branches, using: &rng)
        )
    }

    var isWrite: Bool {
        if case .transfer = self { return true }
        return false
    }
}
