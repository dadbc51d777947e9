import DBConnection
import DBConnectionSQLite

/// The bench on SQLite: its tables carry a `bench_` prefix, so a run against an existing database
/// replaces only its own tables (`DROP TABLE IF EXISTS bench_…`); the `select` workload (re)makes
/// pgbench-like `pgbench_branches` and `pgbench_accounts` tables at `--scale`, since there is no
/// `pgbench -i` for SQLite. Transfers run in `BEGIN IMMEDIATE` (one writer at a time, no deadlock).
struct SQLiteBench: BenchDriver {
    var options: SQLiteConnection.Options

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

    static let createPgbench: SQLiteQuery = """
        DROP TABLE IF EXISTS pgbench_accounts;
        DROP TABLE IF EXISTS pgbench_branches;
        CREATE TABLE pgbench_branches (bid INTEGER PRIMARY KEY, bbalance INTEGER NOT NULL, filler TEXT);
        CREATE TABLE pgbench_accounts (
            aid INTEGER PRIMARY KEY, bid INTEGER NOT NULL, abalance INTEGER NOT NULL, filler TEXT);
        """

    static let selectBalance: SQLiteQuery = "SELECT abalance FROM bench_accounts WHERE aid = ?"
    static let debit: SQLiteQuery = "UPDATE bench_accounts SET abalance = abalance - ? WHERE aid = ?"
    static let credit: SQLiteQuery = "UPDATE bench_accounts SET abalance = abalance + ? WHERE aid = ?"
    static let creditTeller: SQLiteQuery = "UPDATE bench_tellers SET tbalance = tbalance + ? WHERE tid = ?"
    static let creditBranch: SQLiteQuery = "UPDATE bench_branches SET bbalance = bbalance + ? WHERE bid = ?"
    static let insertHistory: SQLiteQuery =
        "INSERT INTO bench_history (tid, bid, aid, to_aid, delta, mtime) VALUES (?, ?, ?, ?, ?, ?)"
    /// pgbench -S's statement; SQLite's statement cache keeps it compiled per connection.
    static let pgbenchSelect: SQLiteQuery = "SELECT abalance FROM pgbench_accounts WHERE aid = ?"

    /// The account filler: pgbench pads its rows to about 100 bytes.
    static let accountFiller = SQLiteValue.text(String(repeating: " ", count: 84))

    /// Drops, creates and fills the tables in one `BEGIN IMMEDIATE` transaction with prepared multi-row
    /// `INSERT`s: the `bench_` tables, or for `select` the pgbench-like ones.
    func setUp(_ db: SQLiteConnection, workload: Workload, scale: BenchScale) async throws -> BenchTables {
        let pgbench = workload == .select
        try await db.execute(pgbench ? Self.createPgbench : Self.create)
        let prefix = pgbench ? "pgbench_" : "bench_"
        _ = try await db.begin(options: .immediate, callOptions: CallOptions())
        do {
            try await insertRows(db, into: "\(prefix)branches (bid, bbalance)", count: scale.branches) { bid in
                [.integer(Int64(bid)), 0]
            }
            if !pgbench {
                let tellersPerBranch = (scale.tellers + scale.branches - 1) / scale.branches
                try await insertRows(db, into: "bench_tellers (tid, bid, tbalance)", count: scale.tellers) { tid in
                    [.integer(Int64(tid)), .integer(Int64((tid - 1) / tellersPerBranch + 1)), 0]
                }
            }
            let accountsPerBranch = (scale.accounts + scale.branches - 1) / scale.branches
            try await insertRows(
                db,
                into: "\(prefix)accounts (aid, bid, abalance, filler)",
                count: scale.accounts
            ) { aid in
                [.integer(Int64(aid)), .integer(Int64((aid - 1) / accountsPerBranch + 1)), 0, Self.accountFiller]
            }
            _ = try await db.commit(callOptions: CallOptions())
        } catch {
            _ = try? await db.rollback(callOptions: CallOptions())
            throw error
        }
        try await db.execute("ANALYZE")
        return BenchTables(scale: scale, filled: true)
    }

    /// Inserts rows `1...count`, 100 to a statement.
    private func insertRows(
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

    func check(
        _ db: SQLiteConnection,
        workload: Workload,
        tables: BenchTables,
        committedWrites: Int
    ) async throws -> Consistency {
        if workload == .select {
            let result = try await db.execute("SELECT coalesce(max(aid), 0) FROM pgbench_accounts")
            return Consistency(pgbenchTables: Int(result.scalar?.int64 ?? 0), scale: tables.scale)
        }
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
        guard let row = result.rows.first else { throw CLIError("the consistency check read no row") }
        return try Consistency(
            benchTables: row.map { $0.int64 ?? 0 },
            scale: tables.scale,
            committedWrites: committedWrites
        )
    }

    /// Runs the transaction. A transfer runs `BEGIN IMMEDIATE`, its five statements and `COMMIT`, and
    /// rolls back on any error.
    func run(_ transaction: BenchTransaction, on db: SQLiteConnection, mtime: Int64) async throws {
        switch transaction {
        case .read(let aid):
            let result = try await db.execute(Self.selectBalance, [.integer(Int64(aid))])
            guard result.rows.count == 1 else { throw CLIError("account \(aid) not found") }
        case .select(let aid):
            let result = try await db.execute(Self.pgbenchSelect, [.integer(Int64(aid))])
            guard result.rows.count == 1 else { throw CLIError("account \(aid) not found in pgbench_accounts") }
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
                try await update(db, Self.debit, [delta, .integer(Int64(from))])
                try await update(db, Self.credit, [delta, .integer(Int64(to))])
                try await update(db, Self.creditTeller, [delta, .integer(Int64(teller))])
                try await update(db, Self.creditBranch, [delta, .integer(Int64(branch))])
                try await update(
                    db,
                    Self.insertHistory,
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
