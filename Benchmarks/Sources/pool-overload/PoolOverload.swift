// Overload: a pool of 2, every lease holds its connection 5 ms, 200 callers loop for 10 s. Such a pool
// serves about 400 requests a second, far fewer than asked for. DBConnection's CoDel queue (queueTarget
// 50 ms, queueInterval 1 s) sheds the requests that waited too long, so the served ones wait little;
// postgres-nio's pool queues without bound, so every request waits its turn.
//
//     swift run -c release --package-path Benchmarks pool-overload                 # 10 s each
//     swift run -c release --package-path Benchmarks pool-overload --duration 3 --json
//
// Waits are from the checkout call to the connection in hand. A failed checkout counts as dropped, by
// kind of error, and the caller asks again at once (a dropped request has waited 2 × queueTarget first).

import ArgumentParser
import Foundation
import PoolWorkloads

@main
struct PoolOverload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool-overload",
        abstract: "Pool 2, 5 ms holds, 200 callers: served, dropped and queue waits per pool."
    )

    @Option(help: "Seconds each pool runs.")
    var duration: Double = 10

    @Option(help: "Concurrent callers.")
    var callers: Int = 200

    @Option(help: "Connections in the pool.")
    var poolSize: Int = 2

    @Option(help: "Milliseconds each lease holds its connection.")
    var holdMs: Int = 5

    @Option(help: "DBConnection's queueTarget, in milliseconds.")
    var queueTargetMs: Int = 50

    @Option(help: "DBConnection's queueInterval, in milliseconds.")
    var queueIntervalMs: Int = 1_000

    @Option(help: "Comma-separated pools: dbconnection, postgres-nio, async-kit.")
    var implementations: String = "dbconnection,postgres-nio"

    @Flag(help: "One JSON line per pool instead of a table.")
    var json = false

    func validate() throws {
        guard duration > 0, callers > 0, poolSize > 0, holdMs >= 0 else {
            throw ValidationError("duration, callers and pool size must be positive")
        }
        for name in implementations.split(separator: ",") where Implementation(rawValue: String(name)) == nil {
            throw ValidationError("unknown implementation \(name)")
        }
    }

    func run() async throws {
        let settings = PoolSettings(
            poolSize: poolSize,
            queueTarget: .milliseconds(queueTargetMs),
            queueInterval: .milliseconds(queueIntervalMs),
            checkoutTimeout: .seconds(15)
        )
        if !json {
            print(
                "pool \(poolSize), \(callers) callers, \(holdMs) ms hold, \(duration) s; "
                    + "queueTarget \(queueTargetMs) ms, queueInterval \(queueIntervalMs) ms (DBConnection only)"
            )
        }
        for name in implementations.split(separator: ",") {
            let implementation = Implementation(rawValue: String(name))!
            let session = try await PoolSession.start(implementation, settings: settings)
            let result = await session.overload(
                callers: callers,
                duration: .milliseconds(Int64(duration * 1_000)),
                hold: .milliseconds(holdMs)
            )
            await session.shutdown()
            if json {
                print(jsonLine(implementation, result))
            } else {
                printTable(implementation, result)
            }
        }
    }

    func ms(_ nanoseconds: UInt64) -> String { String(format: "%.1f", Double(nanoseconds) / 1e6) }

    func waits(_ p: Percentiles?) -> String {
        guard let p, p.count > 0 else { return "-" }
        return "p50 \(ms(p.p50)) ms, p99 \(ms(p.p99)) ms, p99.9 \(ms(p.p999)) ms, max \(ms(p.max)) ms (\(p.count))"
    }

    func printTable(_ implementation: Implementation, _ r: OverloadResult) {
        print("")
        print("\(implementation)")
        print(String(format: "  served            %d (%.0f/s)", r.served, Double(r.served) / r.seconds))
        let kinds = r.dropped.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        print("  dropped           \(r.droppedTotal)\(kinds.isEmpty ? "" : " (\(kinds))")")
        print("  shedding from     \(r.sheddingStartedAfter.map { String(format: "%.2f s", $0) } ?? "never")")
        print("  wait, all served  \(waits(r.waitAll))")
        print("  wait, after 1 s   \(waits(r.waitSteady))")
        print("  wait, shedding    \(waits(r.waitAfterShedding))")
    }

    func jsonLine(_ implementation: Implementation, _ r: OverloadResult) -> String {
        func object(_ p: Percentiles?) -> String {
            guard let p else { return "null" }
            return "{\"count\": \(p.count), \"p50_ms\": \(ms(p.p50)), \"p99_ms\": \(ms(p.p99)), "
                + "\"p999_ms\": \(ms(p.p999)), \"max_ms\": \(ms(p.max))}"
        }
        let dropped = r.dropped.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ")
        let fields = [
            "\"implementation\": \"\(implementation)\"",
            "\"pool_size\": \(poolSize)", "\"callers\": \(callers)", "\"hold_ms\": \(holdMs)",
            "\"queue_target_ms\": \(queueTargetMs)", "\"queue_interval_ms\": \(queueIntervalMs)",
            String(format: "\"seconds\": %.2f", r.seconds),
            "\"served\": \(r.served)", "\"dropped\": \(r.droppedTotal)", "\"dropped_by_kind\": {\(dropped)}",
            "\"shedding_started_s\": \(r.sheddingStartedAfter.map { String(format: "%.3f", $0) } ?? "null")",
            "\"wait_all\": \(object(r.waitAll))", "\"wait_after_1s\": \(object(r.waitSteady))",
            "\"wait_after_shedding\": \(object(r.waitAfterShedding))",
        ]
        return "{" + fields.joined(separator: ", ") + "}"
    }
}
