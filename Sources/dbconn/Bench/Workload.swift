import ArgumentParser
import DBConnection
import DBConnectionSQLite

/// What each transaction of a run does.
enum Workload: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// Point selects by random key.
    case read
    /// TPC-B-like transfers.
    case write
    /// Reads and writes, mixed by `--read-percent` (default 80 % reads).
    case mixed
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

/// The bench's tables and statements. The tables carry a `bench_` prefix, so a run against an
/// existing database replaces only its own tables (`DROP TABLE IF EXISTS bench_…`).
enum BenchSchema {
    static let create: SQLiteQuery = """
        DROP TABLE IF EXISTS bench_history;
        DROP TABLE IF EXISTS bench_accounts;
        DROP TABLE IF EXISTS bench_tellers;
        DROP TABLE IF EXISTS bench_branches;
        CREATE TABLE bench_branches (bid INTEGER PRIMARY KEY, bbalance INTEGER NOT NULL, filler TEXT);
        CREATE TABLE bench_tellers (
            tid INTEGER PRIMARY KEY, bid INTEGER NOT NULL, tbalance INTEGER NOT NULL, filler TEXT);
        CREATE TABLE bench_accounts (
            aid INTEGER PRIMARY KEY, bid INTEGER NOT NULL, abalance INTEGER NOT NULL, filler TEXT);
        CREATE TABLE bench_history (
            hid INTEGER PRIMARY KEY, tid INTEGER NOT NULL, bid INTEGER NOT NULL, aid INTEGER NOT NULL,
            to_aid INTEGER NOT NULL, delta INTEGER NOT NULL, mtime INTEGER NOT NULL, filler TEXT);
        """

    static let selectBalance: SQLiteQuery = "SELECT abalance FROM bench_accounts WHERE aid = ?"
    static let debit: SQLiteQuery = "UPDATE bench_accounts SET abalance = abalance - ? WHERE aid = ?"
    static let credit: SQLiteQuery = "UPDATE bench_accounts SET abalance = abalance + ? WHERE aid = ?"
    static let creditTeller: SQLiteQuery = "UPDATE bench_tellers SET tbalance = tbalance + ? WHERE tid = ?"
    static let creditBranch: SQLiteQuery = "UPDATE bench_branches SET bbalance = bbalance + ? WHERE bid = ?"
    static let insertHistory: SQLiteQuery =
        "INSERT INTO bench_history (tid, bid, aid, to_aid, delta, mtime) VALUES (?, ?, ?, ?, ?, ?)"

    /// The account filler: pgbench pads its rows to about 100 bytes.
    static let accountFiller = SQLiteValue.text(String(repeating: " ", count: 84))

    /// Drops and creates the tables and fills them, in one `BEGIN IMMEDIATE` transaction with prepared
    /// multi-row `INSERT`s.
    static func createAndFill(_ db: SQLiteConnection, scale: BenchScale) async throws {
        try await db.execute(create)
        _ = try await db.begin(options: .immediate, callOptions: CallOptions())
        do {
            try await insertRows(db, into: "bench_branches (bid, bbalance)", count: scale.branches) { bid in
                [.integer(Int64(bid)), 0]
            }
            let tellersPerBranch = (scale.tellers + scale.branches - 1) / scale.branches
            try await insertRows(db, into: "bench_tellers (tid, bid, tbalance)", count: scale.tellers) { tid in
                [.integer(Int64(tid)), .integer(Int64((tid - 1) / tellersPerBranch + 1)), 0]
            }
            let accountsPerBranch = (scale.accounts + scale.branches - 1) / scale.branches
            try await insertRows(
                db,
                into: "bench_accounts (aid, bid, abalance, filler)",
                count: scale.accounts
            ) { aid in
                [.integer(Int64(aid)), .integer(Int64((aid - 1) / accountsPerBranch + 1)), 0, accountFiller]
            }
            _ = try await db.commit(callOptions: CallOptions())
        } catch {
            _ = try? await db.rollback(callOptions: CallOptions())
            throw error
        }
        try await db.execute("ANALYZE")
    }

    /// Inserts rows `1...count`, 100 to a statement.
    private static func insertRows(
        _ db: SQLiteConnection,
        into table: String,
        count: Int,
        row: (Int) -> [SQLiteValue]
    ) async throws {
        let batch = 100
        let columns = row(1).count
        func statement(rows: Int) -> SQLiteQuery {
            let tuple = "(" + Array(repeating: "?", count: columns).joined(separator: ", ") + ")"
            return SQLiteQuery(
                "INSERT INTO \(table) VALUES " + Array(repeating: tuple, count: rows).joined(separator: ", ")
            )
        }
        let full = statement(rows: batch)
        var values: [SQLiteValue] = []
        values.reserveCapacity(batch * columns)
        var next = 1
        while next <= count {
            let rows = min(batch, count - next + 1)
            values.removeAll(keepingCapacity: true)
            for id in next..<(next + rows) { values.append(contentsOf: row(id)) }
            try await db.execute(rows == batch ? full : statement(rows: rows), .positional(values))
            next += rows
        }
    }

    /// Checks what the workload must keep true, after the run.
    ///
    /// Transfers move money between accounts, so the accounts' balances still sum to 0; each adds its
    /// delta to one teller and one branch and writes one history row, so tellers, branches and history
    /// sum to the same, and there is one history row per committed write. A read-only run passes
    /// trivially (nothing changed).
    static func check(_ db: SQLiteConnection, scale: BenchScale, committedWrites: Int) async throws -> Consistency {
        let result = try await db.execute(
            """
            SELECT (SELECT coalesce(sum(abalance), 0) FROM bench_accounts),
                   (SELECT coalesce(sum(tbalance), 0) FROM bench_tellers),
                   (SELECT coalesce(sum(bbalance), 0) FROM bench_branches),
                   (SELECT coalesce(sum(delta), 0) FROM bench_history),
                   (SELECT count(*) FROM bench_history),
                   (SELECT count(*) FROM bench_accounts)
            """
        )
        guard let row = result.rows.first, row.count == 6 else {
            throw CLIError("the consistency check read no row")
        }
        let numbers = row.map { $0.int64 ?? 0 }
        var consistency = Consistency(
            sumAccountBalances: numbers[0],
            sumTellerBalances: numbers[1],
            sumBranchBalances: numbers[2],
            sumHistoryDeltas: numbers[3],
            historyRows: Int(numbers[4]),
            accountRows: Int(numbers[5]),
            committedWrites: committedWrites,
            failures: []
        )
        if consistency.sumAccountBalances != 0 {
            consistency.failures.append("sum of account balances is \(consistency.sumAccountBalances), expected 0")
        }
        if consistency.sumTellerBalances != consistency.sumHistoryDeltas {
            consistency.failures.append(
                "sum of teller balances \(consistency.sumTellerBalances) != sum of history deltas \(consistency.sumHistoryDeltas)"
            )
        }
        if consistency.sumBranchBalances != consistency.sumHistoryDeltas {
            consistency.failures.append(
                "sum of branch balances \(consistency.sumBranchBalances) != sum of history deltas \(consistency.sumHistoryDeltas)"
            )
        }
        if consistency.historyRows != committedWrites {
            consistency.failures.append(
                "\(consistency.historyRows) history rows for \(committedWrites) committed writes"
            )
        }
        if consistency.accountRows != scale.accounts {
            consistency.failures.append("\(consistency.accountRows) accounts, expected \(scale.accounts)")
        }
        return consistency
    }
}

/// What ``BenchSchema/check(_:scale:committedWrites:)`` found.
struct Consistency: Sendable, Equatable {
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
}

/// One transaction of the workload, drawn at random.
enum BenchTransaction: Sendable, Equatable {
    /// `SELECT abalance FROM bench_accounts WHERE aid = ?`.
    case read(aid: Int)
    /// Moves `delta` from account `from` to account `to`, and adds it to a teller and a branch, with a
    /// history row.
    case transfer(from: Int, to: Int, delta: Int, teller: Int, branch: Int)

    /// Draws a transaction for the workload.
    static func draw(
        _ workload: Workload,
        readPercent: Int,
        scale: BenchScale,
        using rng: inout Xoshiro256
    ) -> BenchTransaction {
        let isRead: Bool
        switch workload {
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

    /// Runs the transaction on a leased connection. A transfer runs `BEGIN IMMEDIATE`, its five
    /// statements and `COMMIT`, and rolls back on any error.
    /// - Throws: what the driver threw, or ``CLIError`` when a statement found no row.
    func run(on db: SQLiteConnection, mtime: Int64) async throws {
        switch self {
        case .read(let aid):
            let result = try await db.execute(BenchSchema.selectBalance, [.integer(Int64(aid))])
            guard result.rows.count == 1 else { throw CLIError("account \(aid) not found") }
        case .transfer(let from, let to, let delta, let teller, let branch):
            let delta = SQLiteValue.integer(Int64(delta))
            let options = CallOptions()
            switch try await db.begin(options: .immediate, callOptions: options) {
            case .status(let status):
                throw CLIError("BEGIN found the connection in state \(status)")
            default:
                break
            }
            do {
                try await update(db, BenchSchema.debit, [delta, .integer(Int64(from))])
                try await update(db, BenchSchema.credit, [delta, .integer(Int64(to))])
                try await update(db, BenchSchema.creditTeller, [delta, .integer(Int64(teller))])
                try await update(db, BenchSchema.creditBranch, [delta, .integer(Int64(branch))])
                try await update(
                    db,
                    BenchSchema.insertHistory,
                    [
                        .integer(Int64(teller)), .integer(Int64(branch)), .integer(Int64(from)), .integer(Int64(to)),
                        delta, .integer(mtime),
                    ]
                )
                switch try await db.commit(callOptions: options) {
                case .status(let status):
                    throw CLIError("COMMIT found the connection in state \(status)")
                default:
                    break
                }
            } catch {
                _ = try? await db.rollback(callOptions: options)
                throw error
            }
        }
    }

    private func update(_ db: SQLiteConnection, _ query: SQLiteQuery, _ params: SQLiteParameters) async throws {
        let result = try await db.execute(query, params)
        guard result.rowsChanged == 1 else {
            throw CLIError("\(query.sql) changed \(result.rowsChanged) rows, expected 1")
        }
    }
}
