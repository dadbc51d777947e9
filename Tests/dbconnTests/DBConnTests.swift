import Foundation
import Testing

/// The `dbconn` binary end to end: exit status, stdout and stderr.
@Suite(.timeLimit(.minutes(1)))
struct DBConnTests {
    @Test(arguments: ["write", "read", "mixed", "select"])
    func benchWritesAConsistentJSONReport(workload: String) async throws {
        try await withTemporaryDirectory { directory in
            let json = directory + "/report.json"
            let chart = directory + "/chart.svg"
            let output = try await runDBConn([
                "bench", "sqlite:\(directory)/bench.sqlite", "--workload", workload, "--transactions", "200",
                "--scale", "0.01", "--pool-size", "2", "--concurrency", "4", "--seed", "7", "--quiet",
                "--json", json, "--chart", chart,
            ])
            #expect(output.status == 0, "stderr: \(output.standardError)")
            #expect(output.standardError.isEmpty)
            #expect(output.standardOutput.contains("consistency    ok"))

            let report = try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
            )
            #expect(report["consistent"] as? Bool == true)
            #expect(report["workload"] as? String == workload)
            #expect(report["pool_size"] as? Int == 2)
            #expect(report["concurrency"] as? Int == 4)
            #expect(report["requested_transactions"] as? Int == 200)
            #expect((report["duration_s"] as? Double ?? 0) > 0)
            #expect((report["tps"] as? Double ?? 0) > 0)
            let errors = try #require(report["errors"] as? [String: Int])
            #expect(Set(errors.keys) == ["queue_timeout", "deadline", "database", "other"])
            let committed = try #require(report["transactions"] as? Int)
            #expect(committed + errors.values.reduce(0, +) == 200)
            for key in ["latency", "queue_wait"] {
                let latency = try #require(report[key] as? [String: Any])
                let values = try ["p50", "p90", "p99", "p999", "max"].map { try #require(latency[$0] as? Int) }
                #expect(values == values.sorted(), "\(key) percentiles must not decrease: \(values)")
            }

            let svg = try String(contentsOfFile: chart, encoding: .utf8)
            #expect(svg.hasPrefix("<svg"))
            #expect(svg.contains("throughput"))
        }
    }

    @Test(arguments: ["connection", "nio-global", "default"])
    func benchRunsOnEveryExecutor(executor: String) async throws {
        try await withTemporaryDirectory { directory in
            let output = try await runDBConn([
                "bench", "sqlite:\(directory)/bench.sqlite", "--workload", "mixed", "--transactions", "100",
                "--scale", "0.01", "--pool-size", "2", "--concurrency", "4", "--quiet", "--executor", executor,
            ])
            #expect(output.status == 0, "stderr: \(output.standardError)")
            #expect(output.standardOutput.contains("consistency    ok"))
        }
    }

    @Test func benchRejectsAnUnknownExecutor() async throws {
        let output = try await runDBConn(["bench", "--executor", "fast"])
        #expect(output.status != 0)
        #expect(output.standardError.hasPrefix("dbconn: error:"))
        #expect(output.standardError.contains("executor"))
    }

    @Test func sqlPrintsRowsAsAnAlignedTable() async throws {
        try await withTemporaryDirectory { directory in
            let url = "sqlite:\(directory)/t.sqlite"
            let create = try await runDBConn([
                "sql", "--create", url, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL)",
            ])
            #expect(create.status == 0, "stderr: \(create.standardError)")
            let insert = try await runDBConn([
                "sql", url, "INSERT INTO t (name, score) VALUES ('alice', 2.5), ('bob', NULL), (NULL, 10)",
            ])
            #expect(insert.standardOutput == "3 rows changed\n")
            let select = try await runDBConn(["sql", url, "SELECT id, name, score FROM t ORDER BY id"])
            #expect(select.status == 0)
            #expect(
                select.standardOutput == """
                    id | name  | score
                    ---+-------+------
                     1 | alice |   2.5
                     2 | bob   |  NULL
                     3 | NULL  |  10.0
                    (3 rows)

                    """
            )
        }
    }

    @Test(arguments: [
        (["bench", "mysql://localhost/db"], "unknown database URL scheme \"mysql\""),
        (["bench", "postgres://user:secret@127.0.0.1:1/db"], "cannot connect to postgres://user:***@127.0.0.1:1/db"),
        (["sql", "postgres://user:secret@127.0.0.1:1/db", "SELECT 1"], "cannot connect to"),
        (["sql", "postgres://127.0.0.1/db", "SELECT 1"], "the URL names no user"),
        (
            ["bench", "postgres://user:secret@127.0.0.1:1/db", "--workload", "select", "--scale", "2"],
            "--scale 2 does not apply"
        ),
        (["bench", "--duration", "-5"], "--duration must be a positive number of seconds up to 1000000, got -5"),
        (["bench", "--concurrency", "0"], "--concurrency must be between 1 and 100000, got 0"),
        (["bench", "--transactions", "-1"], "--transactions must be at least 1"),
        (["bench", "--duration", "1", "--transactions", "10"], "exclusive"),
        (["bench", "sqlite:/no/such/directory/bench.sqlite"], "directory /no/such/directory does not exist"),
        (["sql", "sqlite:/no/such/file.sqlite", "SELECT 1"], "does not exist"),
        (["sql", "sqlite::memory:", "SELEC 1"], "syntax error"),
    ])
    func badInputExitsWithOneLineOnStandardError(arguments: [String], expected: String) async throws {
        let output = try await runDBConn(arguments)
        #expect(output.status != 0)
        #expect(output.standardOutput.isEmpty)
        #expect(output.standardErrorLines.count == 1, "stderr: \(output.standardError)")
        #expect(output.standardError.hasPrefix("dbconn: error: "))
        #expect(output.standardError.contains(expected), "stderr: \(output.standardError)")
        #expect(!output.standardError.contains("secret"))
    }
}
