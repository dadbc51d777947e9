import DBConnection
import DBConnectionPostgres

/// The bench on PostgreSQL.
///
/// `read`, `write` and `mixed` (re)make the `bench_` tables, filled on the server with
/// `generate_series` (primary keys added after the load, as `pgbench -i` does). `select` runs on the
/// tables `pgbench -i -s N` made and takes N from `pgbench_branches`.
///
/// Every statement of the workloads is a named query: the first execution on a connection prepares
/// it on the server (Parse and Describe), the driver keeps it in that connection's statement cache,
/// and every later execution only binds and executes it: what `pgbench -M prepared` does.
struct PostgresBench: BenchDriver {
    var options: PGConnection.Options

    static let selectBalance = PGQuery("SELECT abalance FROM bench_accounts WHERE aid = $1", name: "dbconn_read")
    static let debit = PGQuery(
        "UPDATE bench_accounts SET abalance = abalance - $1 WHERE aid = $2",
        name: "dbconn_debit"
    )
    static let credit = PGQuery(
        "UPDATE bench_accounts SET abalance = abalance + $1 WHERE aid = $2",
        name: "dbconn_credit"
    )
    static let creditTeller = PGQuery(
        "UPDATE bench_tellers SET tbalance = tbalance + $1 WHERE tid = $2",
        name: "dbconn_credit_teller"
    )
    static let creditBranch = PGQuery(
        "UPDATE bench_branches SET bbalance = bbalance + $1 WHERE bid = $2",
        name: "dbconn_credit_branch"
    )
    static let insertHistory = PGQuery(
        "INSERT INTO bench_history (tid, bid, aid, to_aid, delta, mtime) VALUES ($1, $2, $3, $4, $5, $6)",
        name: "dbconn_history"
    )
    /// `pgbench -S`'s statement, word for word.
    static let pgbenchSelect = PGQuery(
        "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
        name: "dbconn_pgbench_select"
    )

    /// The bench tables, without their primary keys (added after the load).
    static let create: [PGQuery] = [
        "DROP TABLE IF EXISTS bench_history, bench_accounts, bench_tellers, bench_branches",
        "CREATE TABLE bench_branches (bid integer NOT NULL, bbalance integer NOT NULL, filler char(88))",
        """
        CREATE TABLE bench_tellers (tid integer NOT NULL, bid integer NOT NULL, tbalance integer NOT NULL, \
        filler char(84))
        """,
        """
        CREATE TABLE bench_accounts (aid integer NOT NULL, bid integer NOT NULL, abalance integer NOT NULL, \
        filler char(84))
        """,
        """
        CREATE TABLE bench_history (tid integer NOT NULL, bid integer NOT NULL, aid integer NOT NULL, \
        to_aid integer NOT NULL, delta integer NOT NULL, mtime bigint NOT NULL, filler char(22))
        """,
    ]

    static let addKeys: [PGQuery] = [
        "ALTER TABLE bench_branches ADD PRIMARY KEY (bid)",
        "ALTER TABLE bench_tellers ADD PRIMARY KEY (tid)",
        "ALTER TABLE bench_accounts ADD PRIMARY KEY (aid)",
        "ANALYZE bench_branches, bench_tellers, bench_accounts, bench_history",
    ]

    func setUp(_ db: PGConnection, workload: Workload, scale: BenchScale) async throws -> BenchTables {
        if workload == .select { return try await findPgbenchTables(db) }
        for statement in Self.create { try await db.execute(statement) }
        let tellersPerBranch = (scale.tellers + scale.branches - 1) / scale.branches
        let accountsPerBranch = (scale.accounts + scale.branches - 1) / scale.branches
        try await db.execute(
            "INSERT INTO bench_branches (bid, bbalance) SELECT g, 0 FROM generate_series(1, $1::integer) g",
            [.int64(Int64(scale.branches))]
        )
        try await db.execute(
            """
            INSERT INTO bench_tellers (tid, bid, tbalance)
            SELECT g, (g - 1) / $2::integer + 1, 0 FROM generate_series(1, $1::integer) g
            """,
            [.int64(Int64(scale.tellers)), .int64(Int64(tellersPerBranch))]
        )
        try await db.execute(
            """
            INSERT INTO bench_accounts (aid, bid, abalance, filler)
            SELECT g, (g - 1) / $2::integer + 1, 0, '' FROM generate_series(1, $1::integer) g
            """,
            [.int64(Int64(scale.accounts)), .int64(Int64(accountsPerBranch))]
        )
        for statement in Self.addKeys { try await db.execute(statement) }
        return BenchTables(scale: scale, filled: true)
    }

    /// Finds the tables `pgbench -i` made and their scale: the rows of `pgbench_branches`, as pgbench
    /// itself reads it; checks that `pgbench_accounts` holds the accounts of that scale, and prepares
    /// the statement once so that a wrong table shows now.
    private func findPgbenchTables(_ db: PGConnection) async throws -> BenchTables {
        let branches: Int
        let lastAccount: Int
        do {
            branches = try await db.execute("SELECT count(*) FROM pgbench_branches").scalar?.int ?? 0
            lastAccount = try await db.execute("SELECT coalesce(max(aid), 0) FROM pgbench_accounts").scalar?.int ?? 0
            _ = try await db.prepare(Self.pgbenchSelect, callOptions: CallOptions())
        } catch let error where Self.sqlState(of: error) == "42P01" {
            throw CLIError(
                "the select workload runs on pgbench's tables, and \(Self.missingTable(in: error)) does not exist "
                    + "in the database; create them first with pgbench -i (for example: pgbench -i -s 10)"
            )
        }
        guard branches > 0 else {
            throw CLIError(
                "pgbench_branches is empty; fill pgbench's tables first with pgbench -i (for example: pgbench -i -s 10)"
            )
        }
        let scale = BenchScale(scale: Double(branches))
        guard lastAccount == scale.accounts else {
            throw CLIError(
                "pgbench_branches has \(branches) rows (scale \(branches): \(scale.accounts) accounts) but "
                    + "pgbench_accounts ends at aid \(lastAccount); run pgbench -i -s \(branches) again"
            )
        }
        return BenchTables(scale: scale, filled: false)
    }

    func check(
        _ db: PGConnection,
        workload: Workload,
        tables: BenchTables,
        committedWrites: Int
    ) async throws -> Consistency {
        if workload == .select {
            let result = try await db.execute("SELECT coalesce(max(aid), 0) FROM pgbench_accounts")
            return Consistency(pgbenchTables: result.scalar?.int ?? 0, scale: tables.scale)
        }
        let result = try await db.execute(
            """
            SELECT (SELECT coalesce(sum(abalance), 0)::bigint FROM bench_accounts),
                   (SELECT coalesce(sum(tbalance), 0)::bigint FROM bench_tellers),
                   (SELECT coalesce(sum(bbalance), 0)::bigint FROM bench_branches),
                   (SELECT coalesce(sum(delta), 0)::bigint FROM bench_history),
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

    /// Runs the transaction. A transfer runs `BEGIN`, its five statements and `COMMIT` (read committed,
    /// as pgbench's TPC-B-like script), and rolls back on any error.
    func run(_ transaction: BenchTransaction, on db: PGConnection, mtime: Int64) async throws {
        switch transaction {
        case .read(let aid):
            let (_, result) = try await db.execute(
                Self.selectBalance,
                params: [.int64(Int64(aid))],
                callOptions: Self.call
            )
            guard result.rows.count == 1 else { throw CLIError("account \(aid) not found") }
        case .select(let aid):
            let (_, result) = try await db.execute(
                Self.pgbenchSelect,
                params: [.int64(Int64(aid))],
                callOptions: Self.call
            )
            guard result.rows.count == 1 else { throw CLIError("account \(aid) not found in pgbench_accounts") }
        case .transfer(let from, let to, let delta, let teller, let branch):
            let delta = PGValue.int64(Int64(delta))
            switch try await db.begin(options: PGConnection.TransactionOptions(), callOptions: Self.call) {
            case .status(let status):
                throw CLIError("BEGIN found the connection in state \(status)")
            default:
                break
            }
            do {
                // The two accounts in key order (then a teller, then a branch): transfers lock rows in
                // one global order, so two of them never wait for each other in a cycle (a deadlock,
                // SQLSTATE 40P01).
                let debit = (Self.debit, [delta, PGValue.int64(Int64(from))])
                let credit = (Self.credit, [delta, PGValue.int64(Int64(to))])
                for (query, params) in from < to ? [debit, credit] : [credit, debit] {
                    try await update(db, query, params)
                }
                try await update(db, Self.creditTeller, [delta, .int64(Int64(teller))])
                try await update(db, Self.creditBranch, [delta, .int64(Int64(branch))])
                try await update(
                    db,
                    Self.insertHistory,
                    [
                        .int64(Int64(teller)), .int64(Int64(branch)), .int64(Int64(from)), .int64(Int64(to)), delta,
                        .int64(mtime),
                    ]
                )
                switch try await db.commit(callOptions: Self.call) {
                case .status(let status):
                    throw CLIError("COMMIT found the connection in state \(status)")
                default:
                    break
                }
            } catch {
                _ = try? await db.rollback(callOptions: Self.call)
                throw error
            }
        }
    }

    private static let call = CallOptions()

    private func update(_ db: PGConnection, _ query: PGQuery, _ params: [PGValue]) async throws {
        let (_, result) = try await db.execute(query, params: params, callOptions: Self.call)
        guard result.rowsAffected == 1 else {
            throw CLIError("\(query.sql) changed \(result.rowsAffected ?? 0) rows, expected 1")
        }
    }

    /// The SQLSTATE of a server error, inside a `DisconnectError` or not.
    static func sqlState(of error: any Error) -> String? {
        if let error = error as? PGError { return error.sqlState }
        if let error = error as? DisconnectError { return sqlState(of: error.underlying) }
        return nil
    }

    /// Which pgbench table an `undefined_table` error names.
    private static func missingTable(in error: any Error) -> String {
        let text = "\(error)"
        return ["pgbench_branches", "pgbench_accounts"].first { text.contains($0) } ?? "a pgbench table"
    }
}
