import DBConnection
import DBConnectionPostgres
import DBConnectionTesting
import Foundation
import Testing

@testable import dbconn

/// `dbconn sql` and `dbconn bench` against the PostgreSQL server of `DATABASE_URL`, each test in a
/// database of its own.
@Suite(requiresServer, .timeLimit(.minutes(1)))
struct PostgresTests {
    @Test func sqlPrintsRowsAsAnAlignedTable() async throws {
        try await withScratchDatabase { url in
            let create = try await runDBConn([
                "sql", url, "CREATE TABLE t (id integer PRIMARY KEY, name text, score float8, born date)",
            ])
            #expect(create.status == 0, "stderr: \(create.standardError)")
            #expect(create.standardOutput == "CREATE TABLE\n")
            let insert = try await runDBConn([
                "sql", url,
                "INSERT INTO t VALUES (1, 'alice', 2.5, '2001-02-03'), (2, 'bob', NULL, NULL), (3, NULL, 10, NULL)",
            ])
            #expect(insert.standardOutput == "3 rows changed\n", "stderr: \(insert.standardError)")
            let select = try await runDBConn(["sql", url, "SELECT id, name, score, born FROM t ORDER BY id"])
            #expect(select.status == 0, "stderr: \(select.standardError)")
            #expect(select.standardError.isEmpty)
            #expect(
                select.standardOutput == """
                    id | name  | score | born
                    ---+-------+-------+-----------
                     1 | alice |   2.5 | 2001-02-03
                     2 | bob   |  NULL | NULL
                     3 | NULL  |  10.0 | NULL
                    (3 rows)

                    """
            )
        }
    }

    @Test func aServerErrorIsOneLineOnStandardError() async throws {
        let output = try await runDBConn(["sql", try PGTestEnvironment.url(), "SELEC 1"])
        #expect(output.status != 0)
        #expect(output.standardOutput.isEmpty)
        #expect(output.standardErrorLines.count == 1, "stderr: \(output.standardError)")
        #expect(output.standardError.hasPrefix("dbconn: error: "))
        #expect(output.standardError.contains("42601"))
    }

    @Test func aWrongPasswordIsOneLineWithoutThePassword() async throws {
        let url = try PGTestEnvironment.required("DBCONN_PG_PASSWORD_URL")
        let options = try PGConnection.Options(url: url)
        let password = try #require(options.password)
        let wrong = url.replacingOccurrences(of: ":\(password)@", with: ":not-\(password)@")
        for arguments in [["sql", wrong, "SELECT 1"], ["bench", wrong, "--workload", "read", "--transactions", "1"]] {
            let output = try await runDBConn(arguments)
            #expect(output.status != 0)
            #expect(output.standardErrorLines.count == 1, "stderr: \(output.standardError)")
            #expect(output.standardError.contains("password authentication failed"), "\(output.standardError)")
            #expect(output.standardError.contains("28P01"))
            #expect(!output.standardError.contains(password))
            #expect(!output.standardOutput.contains(password))
        }
    }

    @Test(arguments: ["read", "write", "mixed"])
    func benchWritesAConsistentJSONReport(workload: String) async throws {
        try await withScratchDatabase { url in
            try await withTemporaryDirectory { directory in
                let json = directory + "/report.json"
                let output = try await runDBConn([
                    "bench", url, "--workload", workload, "--transactions", "200", "--scale", "0.01",
                    "--pool-size", "2", "--concurrency", "4", "--seed", "7", "--quiet", "--json", json,
                ])
                #expect(output.status == 0, "stderr: \(output.standardError)")
                #expect(output.standardError.isEmpty)
                #expect(output.standardOutput.contains("consistency    ok"), "\(output.standardOutput)")
                let report = try JSONDecoder().decode(
                    BenchReport.self,
                    from: Data(contentsOf: URL(fileURLWithPath: json))
                )
                #expect(report.driver == "postgresql")
                #expect(report.workload == workload)
                #expect(report.transactions == 200)
                #expect(report.failed == 0, "\(report.errorExamples)")
                #expect(report.consistent, "\(report.consistency.failures)")
                #expect(report.consistency.historyRows == report.writes)
                #expect(report.reads + report.writes == 200)
                if workload == "write" { #expect(report.writes == 200) }
                if workload == "read" { #expect(report.reads == 200) }
            }
        }
    }

    @Test(arguments: ["auto", "connection", "nio-global", "default"])
    func theSelectWorkloadRunsOnPgbenchTablesAndReadsTheirScale(executor: String) async throws {
        try await withScratchDatabase { url in
            try await makePgbenchTables(url: url, scale: 2)
            try await withTemporaryDirectory { directory in
                let json = directory + "/report.json"
                let output = try await runDBConn([
                    "bench", url, "--workload", "select", "--duration", "1", "--pool-size", "2",
                    "--concurrency", "4", "--quiet", "--json", json, "--executor", executor,
                ])
                #expect(output.status == 0, "stderr: \(output.standardError)")
                #expect(output.standardOutput.contains("scale 2: 200000 accounts"), "\(output.standardOutput)")
                let report = try JSONDecoder().decode(
                    BenchReport.self,
                    from: Data(contentsOf: URL(fileURLWithPath: json))
                )
                #expect(report.workload == "select")
                #expect(report.scale == 2)
                #expect(report.accounts == 200_000)
                #expect(report.transactions > 0)
                #expect(report.writes == 0)
                #expect(report.failed == 0, "\(report.errorExamples)")
                #expect(report.consistent)
                #expect(report.consistency.scope == "pgbench_tables")
            }
        }
    }

    @Test func theSelectStatementIsPreparedOnceOnTheServer() async throws {
        try await withScratchDatabase { url in
            try await makePgbenchTables(url: url, scale: 1)
            let driver = PostgresBench(options: try PGConnection.Options(url: url))
            try await withPGConnection(url: url) { db in
                for aid in [1, 50_000, 100_000] {
                    try await driver.run(.select(aid: aid), on: db, mtime: 0)
                }
                let prepared = try await db.execute(
                    "SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%pgbench_accounts%'"
                )
                #expect(prepared.rows == [[.text("SELECT abalance FROM pgbench_accounts WHERE aid = $1")]])
            }
        }
    }

    @Test func theSelectWorkloadWithoutPgbenchTablesSaysToRunPgbench() async throws {
        try await withScratchDatabase { url in
            let output = try await runDBConn(["bench", url, "--workload", "select", "--duration", "1", "--quiet"])
            #expect(output.status != 0)
            #expect(output.standardErrorLines.count == 1, "stderr: \(output.standardError)")
            #expect(output.standardError.contains("pgbench_branches does not exist"), "\(output.standardError)")
            #expect(output.standardError.contains("pgbench -i"))
        }
    }

    /// pgbench's two tables that `-S` reads, as `pgbench -i -s SCALE` makes them (without tellers and
    /// history, which the select-only script never touches).
    private func makePgbenchTables(url: String, scale: Int) async throws {
        try await withPGConnection(url: url) { db in
            for statement: PGQuery in [
                "CREATE TABLE pgbench_branches (bid integer PRIMARY KEY, bbalance integer, filler char(88))",
                """
                CREATE TABLE pgbench_accounts (aid integer PRIMARY KEY, bid integer, abalance integer, \
                filler char(84))
                """,
            ] {
                _ = try await db.execute(statement)
            }
            _ = try await db.execute(
                "INSERT INTO pgbench_branches (bid, bbalance) SELECT g, 0 FROM generate_series(1, $1::integer) g",
                [.int64(Int64(scale))]
            )
            _ = try await db.execute(
                """
                INSERT INTO pgbench_accounts (aid, bid, abalance, filler)
                SELECT g, (g - 1) / 100000 + 1, 0, '' FROM generate_series(1, $1::integer) g
                """,
                [.int64(Int64(scale) * 100_000)]
            )
        }
    }
}
