import Foundation
import Testing

@testable import dbconn

#if canImport(FoundationXML)
import FoundationXML
#endif

@Suite struct ChartTests {
    private func result(samples: [Sample]) throws -> BenchResult {
        let worker = WorkerTally()
        for sample in samples {
            for _ in 0..<sample.committed {
                worker.recordSuccess(latency: .microseconds(Int64(sample.p50)), queueWait: .zero, isWrite: false)
            }
        }
        var total = Tally()
        worker.drain(into: &total)
        return BenchResult(
            configuration: BenchConfiguration(
                database: try DatabaseURL("sqlite:/tmp/chart <&> test.sqlite", for: .bench),
                workload: .read,
                scale: BenchScale(scale: 1),
                seed: 1
            ),
            fillTime: .milliseconds(10),
            elapsed: .seconds(samples.last?.end ?? 0),
            total: total,
            samples: samples,
            consistency: Consistency(
                sumAccountBalances: 0,
                sumTellerBalances: 0,
                sumBranchBalances: 0,
                sumHistoryDeltas: 0,
                historyRows: 0,
                accountRows: 100_000,
                committedWrites: 0,
                failures: []
            )
        )
    }

    @Test(arguments: [1, 3, 120])
    func theChartIsWellFormedSVGWithBothSeries(seconds: Int) throws {
        let samples = (0..<seconds).map { second in
            Sample(
                start: Double(second),
                end: Double(second + 1),
                committed: 1000 + second * 10,
                failed: second % 7 == 3 ? 5 : 0,
                p50: 200,
                p99: 900 + UInt64(second)
            )
        }
        let svg = Chart.svg(for: try result(samples: samples))
        let parser = XMLParser(data: Data(svg.utf8))
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        for label in [
            "throughput (transactions/s)", "latency per second (ms)", "elapsed time (s)", "p99",
            "dbconn bench: read workload",
        ] {
            #expect(svg.contains(label), "no \(label)")
        }
        if seconds > 1 {
            #expect(svg.components(separatedBy: "<polyline").count - 1 >= 3)
        } else {
            #expect(svg.contains("<circle"))
        }
    }

    @Test func stepsAreRound() {
        #expect(Chart.niceStep(for: 10, ticks: 10) == 1)
        #expect(Chart.niceStep(for: 10.03, ticks: 10) == 1)
        #expect(Chart.niceStep(for: 12_345, ticks: 5) == 5000)
        #expect(Chart.niceStep(for: 0.8, ticks: 5) == 0.2)
        #expect(Chart.niceStep(for: 0, ticks: 5) == 1)
    }
}
