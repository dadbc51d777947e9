// ordo-one/benchmark suite: every pool under every workload, side by side.
//
//     swift package --package-path Benchmarks benchmark                          # all pools, all metrics
//     swift package --package-path Benchmarks benchmark --filter 'dbconnection.*'
//     scripts/check-allocations.sh                                               # CI: our mallocs vs Thresholds/
//
// Names are `<implementation>.<workload>.tasks-<n>`. Each iteration starts the tasks, lets them loop
// lease + release on a pool of 10, and measures a window of 1,000 cycles (scaling factor kilo) once the
// load is steady: the first 2,000 cycles, or ten per task, are not measured, nor are task creation and
// wind-down. So `throughput` is cycles per second, and `wallClock` and `mallocCountTotal` are per cycle
// (the `*` rows; `--scale` shows them per 1,000).
//
// `lease p50/p99/p999` are custom metrics: per iteration, an extra unmeasured run of 10,000 cycles times
// every lease (from the call to the connection in hand) and records the percentiles. That run is skipped
// when the metric is not asked for (`--metric mallocCountTotal`).
//
// POOL_BENCHMARKS_QUICK=1 caps the iterations (scripts/check-allocations.sh): malloc counts need few.

import Benchmark
import Foundation
import PoolWorkloads
import Synchronization

enum LeaseLatency {
    static let p50 = BenchmarkMetric.custom("lease p50 (ns)", polarity: .prefersSmaller, useScalingFactor: false)
    static let p99 = BenchmarkMetric.custom("lease p99 (ns)", polarity: .prefersSmaller, useScalingFactor: false)
    static let p999 = BenchmarkMetric.custom("lease p999 (ns)", polarity: .prefersSmaller, useScalingFactor: false)
    static let all = [p50, p99, p999]
}

struct WorkloadSpec: Sendable {
    var name: String
    var tasks: Int
    var hold: Hold
}

let workloads: [WorkloadSpec] = [
    WorkloadSpec(name: "lease-release", tasks: 1, hold: .none),
    WorkloadSpec(name: "lease-release", tasks: 100, hold: .none),
    WorkloadSpec(name: "lease-release", tasks: 1_000, hold: .none),
    WorkloadSpec(name: "lease-yield", tasks: 100, hold: .yield),
    WorkloadSpec(name: "lease-yield", tasks: 1_000, hold: .yield),
]

/// Tolerances of our malloc thresholds (Thresholds/*.p90.json hold the values, per 1,000 cycles). A
/// malloc per cycle more is +1,000: far outside them.
func mallocTolerance(_ spec: WorkloadSpec) -> BenchmarkThresholds {
    switch spec.hold {
    case .none: BenchmarkThresholds(relative: [.p90: 100.0], absolute: [.p90: 5])
    case .yield: BenchmarkThresholds(relative: [.p90: 2.0], absolute: [.p90: 40])
    }
}

/// Lets the workers start and stop the measurement.
///
/// `@unchecked Sendable`: ordo-one's `Benchmark` predates `Sendable`. Start and stop are each called once
/// per iteration, in that order, by one task each, while the benchmark closure waits for the tasks; the
/// task group's join orders both before anything the closure does next.
struct MeasurementHooks: @unchecked Sendable {
    let benchmark: Benchmark

    func start() { benchmark.startMeasurement() }
    func stop() { benchmark.stopMeasurement() }
}

/// Holds a benchmark's pool between its setup and its teardown (ordo-one's teardown gets no state).
final class SessionSlot: Sendable {
    private let session = Mutex<PoolSession?>(nil)

    func start(_ implementation: Implementation) async throws -> PoolSession {
        let started = try await PoolSession.start(implementation)
        session.withLock { $0 = started }
        return started
    }

    func stop() async {
        let stopping = session.withLock { session in
            defer { session = nil }
            return session
        }
        await stopping?.shutdown()
    }
}

let benchmarks: @Sendable () -> Void = {
    let quick = ProcessInfo.processInfo.environment["POOL_BENCHMARKS_QUICK"] == "1"
    let latencySamples = 10_000
    for implementation in Implementation.allCases {
        for spec in workloads {
            let slot = SessionSlot()
            var thresholds: [BenchmarkMetric: BenchmarkThresholds] = [:]
            if implementation == .dbconnection { thresholds[.mallocCountTotal] = mallocTolerance(spec) }
            let configuration = Benchmark.Configuration(
                metrics: [.wallClock, .throughput, .mallocCountTotal] + LeaseLatency.all,
                timeUnits: .nanoseconds,
                units: [.throughput: .count, LeaseLatency.p50: .count, LeaseLatency.p99: .count, LeaseLatency.p999: .count],
                warmupIterations: quick ? 1 : 3,
                scalingFactor: .kilo,
                maxDuration: .seconds(2),
                maxIterations: quick ? 20 : 1_000,
                thresholds: thresholds
            )
            Benchmark(
                "\(implementation).\(spec.name).tasks-\(spec.tasks)",
                configuration: configuration
            ) { (benchmark: Benchmark, session: PoolSession) async throws in
                let hooks = MeasurementHooks(benchmark: benchmark)
                try await session.runWindow(
                    tasks: spec.tasks,
                    hold: spec.hold,
                    warmCycles: max(2_000, 10 * spec.tasks),
                    windowCycles: benchmark.scaledIterations.count,
                    onStart: hooks.start,
                    onStop: hooks.stop
                )
                let wantsLatency = benchmark.configuration.metrics.contains {
                    $0.description == LeaseLatency.p50.description
                }
                guard wantsLatency else { return }
                let timed = try await session.run(
                    tasks: spec.tasks,
                    cyclesPerTask: max(1, latencySamples / spec.tasks),
                    hold: spec.hold,
                    timeLeases: true
                )
                let percentiles = Percentiles(sorted: timed.leaseLatencies)
                benchmark.measurement(LeaseLatency.p50, Int(percentiles.p50))
                benchmark.measurement(LeaseLatency.p99, Int(percentiles.p99))
                benchmark.measurement(LeaseLatency.p999, Int(percentiles.p999))
            } setup: {
                try await slot.start(implementation)
            } teardown: {
                await slot.stop()
            }
        }
    }
}
