import DBConnection
import DBConnectionSQLite
import Foundation
import Testing

@testable import dbconn

@Suite(.timeLimit(.minutes(1)))
struct BenchRunnerTests {
    private func configuration(
        _ workload: Workload,
        directory: String,
        limit: BenchConfiguration.Limit = .transactions(200)
    ) throws -> BenchConfiguration {
        var configuration = BenchConfiguration(
            database: try DatabaseURL("sqlite:\(directory)/bench.sqlite", for: .bench),
            workload: workload,
            scale: BenchScale(scale: 0.01),
            seed: 42
        )
        configuration.poolSize = 2
        configuration.concurrency = 4
        configuration.limit = limit
        return configuration
    }

    @Test(arguments: Workload.allCases)
    func everyTransactionIsCountedOnceAndTheDataStaysConsistent(workload: Workload) async throws {
        try await withTemporaryDirectory { directory in
            let result = try await BenchRunner(configuration: configuration(workload, directory: directory)).run()
            #expect(result.total.committed + result.total.failed == 200)
            #expect(result.total.failed == 0, "errors: \(result.total.examples)")
            #expect(result.consistency.isConsistent, "\(result.consistency.failures)")
            #expect(result.consistency.historyRows == result.total.committedWrites)
            switch workload {
            case .read, .select: #expect(result.total.committedWrites == 0)
            case .write: #expect(result.total.committedWrites == result.total.committed)
            case .mixed:
                #expect(result.total.committedWrites > 0)
                #expect(result.total.committedWrites < result.total.committed)
            }
            #expect(result.transactionsPerSecond > 0)
            #expect(result.samples.map(\.committed).reduce(0, +) == result.total.committed)
            #expect(Percentiles(result.total.latency).count == UInt64(result.total.committed))
        }
    }

    @Test func aDurationRunStopsAndSamplesCoverTheRun() async throws {
        try await withTemporaryDirectory { directory in
            let result = try await BenchRunner(
                configuration: configuration(.read, directory: directory, limit: .duration(.milliseconds(300)))
            ).run()
            #expect(result.elapsed >= .milliseconds(300))
            #expect(result.total.committed > 0)
            #expect(result.samples.count == 1)
            #expect(result.samples.first?.start == 0)
            #expect(result.consistency.isConsistent)
        }
    }

    @Test func theReportHasTheDocumentedKeysAndMonotonicPercentiles() async throws {
        try await withTemporaryDirectory { directory in
            let result = try await BenchRunner(configuration: configuration(.mixed, directory: directory)).run()
            let data = try BenchReport(result).json()
            let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            for key in [
                "tps", "consistent", "latency", "errors", "transactions", "duration_s", "workload", "pool_size",
                "concurrency", "queue_wait", "series", "seed",
            ] {
                #expect(object[key] != nil, "missing \(key)")
            }
            let report = try JSONDecoder().decode(BenchReport.self, from: data)
            #expect(report.consistent)
            #expect(report.transactions + report.failed == 200)
            #expect(report.reads + report.writes == report.transactions)
            #expect(report.readPercent == 80)
            for latency in [report.latency, report.queueWait] {
                let values = [latency.min, latency.p50, latency.p90, latency.p99, latency.p999, latency.max]
                #expect(values == values.sorted())
            }
        }
    }

    @Test func aSeedMakesTheSameChoices() {
        let scale = BenchScale(scale: 0.01)
        func draws(seed: UInt64) -> [BenchTransaction] {
            var rng = Xoshiro256(seed: seed, stream: 1)
            return (0..<50).map { _ in BenchTransaction.draw(.mixed, readPercent: 80, scale: scale, using: &rng) }
        }
        #expect(draws(seed: 1) == draws(seed: 1))
        #expect(draws(seed: 1) != draws(seed: 2))
    }

    @Test func summaryNamesTheFiguresAndTheCheck() async throws {
        try await withTemporaryDirectory { directory in
            let result = try await BenchRunner(configuration: configuration(.write, directory: directory)).run()
            let summary = result.summary()
            for fragment in [
                "transactions ", "throughput ", "p99.9", "latency", "queue wait", "errors", "consistency    ok",
            ] {
                #expect(summary.contains(fragment), "no \(fragment) in:\n\(summary)")
            }
        }
    }
}
