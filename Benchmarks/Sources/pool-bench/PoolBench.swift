// One (implementation, workload, tasks) run of the pool benchmark, printed as one JSON line:
//
//     LD_PRELOAD=.build/release/libMallocInterposerSwift.so \
//         .build/release/pool-bench --implementation dbconnection --workload lease-release --tasks 100
//
// scripts/bench-pool.sh runs it for every pool and workload, interleaved, and takes medians. The run:
// start the pool and open every connection; calibrate (short runs until one lasts 0.1 s); a throughput run
// of about `--seconds`, untimed per cycle, with the malloc counters on; then a latency run of half that
// with every lease timed. Without the interposer preloaded, mallocs_per_cycle is null.

public import ArgumentParser
import Foundation
import MallocInterposerSwift
import PoolWorkloads

enum WorkloadName: String, ExpressibleByArgument, CaseIterable {
    case leaseRelease = "lease-release"
    case leaseYield = "lease-yield"

    var hold: Hold {
        switch self {
        case .leaseRelease: .none
        case .leaseYield: .yield
        }
    }
}

extension Implementation: ExpressibleByArgument {}

nonisolated(unsafe) var mallocProbe: UnsafeMutableRawPointer?

/// Whether the interposer counts: it does only when its library is preloaded (Linux).
func mallocCountingWorks() -> Bool {
    MallocInterposerSwift.reset()
    MallocInterposerSwift.hook()
    mallocProbe = malloc(64)
    free(mallocProbe)
    MallocInterposerSwift.unhook()
    return MallocInterposerSwift.getStatistics().mallocCount > 0
}

@main
struct PoolBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool-bench",
        abstract: "Lease + release cycles on one pool; prints one JSON record."
    )

    @Option(help: "dbconnection, postgres-nio or async-kit.")
    var implementation: Implementation

    @Option(help: "lease-release (no hold) or lease-yield (one await Task.yield() while leased).")
    var workload: WorkloadName = .leaseRelease

    @Option(help: "Concurrent tasks.")
    var tasks: Int = 1

    @Option(help: "Connections in the pool.")
    var poolSize: Int = 10

    @Option(help: "Target length of the throughput run, in seconds (the latency run takes half).")
    var seconds: Double = 1

    @Option(help: "Cycles of the throughput run (overrides --seconds).")
    var cycles: Int?

    @Option(help: "Cycles of the latency run (overrides --seconds).")
    var latencyCycles: Int?

    func validate() throws {
        guard tasks > 0, poolSize > 0, seconds > 0 else { throw ValidationError("tasks, pool size and seconds must be positive") }
    }

    func run() async throws {
        let counting = mallocCountingWorks()
        if !counting {
            FileHandle.standardError.write(
                Data("pool-bench: malloc counting is off (preload libMallocInterposerSwift.so)\n".utf8)
            )
        }
        let session = try await PoolSession.start(implementation, settings: PoolSettings(poolSize: poolSize))
        let hold = workload.hold

        // Calibrate: grow the run until it lasts 0.1 s. This also warms the pool up.
        var perTask = max(1, 1_000 / tasks)
        var rate = 0.0
        while true {
            let m = try await session.run(tasks: tasks, cyclesPerTask: perTask, hold: hold, timeLeases: false)
            rate = m.cyclesPerSecond
            if m.nanoseconds >= 100_000_000 || perTask >= 100_000_000 { break }
            perTask *= m.nanoseconds < 10_000_000 ? 8 : 2
        }
        func perTaskCycles(_ total: Int) -> Int { max(1, total / tasks) }
        let throughputCycles = perTaskCycles(cycles ?? Int(rate * seconds))
        // At most 4 M samples (32 MB) for the latency run.
        let latencyPerTask = min(perTaskCycles(latencyCycles ?? Int(rate * seconds / 2)), max(1, 4_000_000 / tasks))

        let throughput = try await session.run(
            tasks: tasks,
            cyclesPerTask: throughputCycles,
            hold: hold,
            timeLeases: false,
            onStart: {
                MallocInterposerSwift.reset()
                MallocInterposerSwift.hook()
            },
            onStop: { MallocInterposerSwift.unhook() }
        )
        let mallocs = MallocInterposerSwift.getStatistics().mallocCount
        let latency = try await session.run(tasks: tasks, cyclesPerTask: latencyPerTask, hold: hold, timeLeases: true)
        await session.shutdown()

        let percentiles = Percentiles(sorted: latency.leaseLatencies)
        let mallocsPerCycle: String =
            counting ? String(format: "%.4f", Double(mallocs) / Double(throughput.cycles)) : "null"
        let fields: [(String, String)] = [
            ("implementation", "\"\(implementation.rawValue)\""),
            ("workload", "\"\(workload.rawValue)\""),
            ("tasks", "\(tasks)"),
            ("pool_size", "\(poolSize)"),
            ("cycles", "\(throughput.cycles)"),
            ("seconds", String(format: "%.4f", Double(throughput.nanoseconds) / 1e9)),
            ("cycles_per_s", String(format: "%.0f", throughput.cyclesPerSecond)),
            ("ns_per_cycle", String(format: "%.1f", Double(throughput.nanoseconds) / Double(throughput.cycles))),
            ("latency_samples", "\(percentiles.count)"),
            ("p50_ns", "\(percentiles.p50)"),
            ("p99_ns", "\(percentiles.p99)"),
            ("p999_ns", "\(percentiles.p999)"),
            ("max_ns", "\(percentiles.max)"),
            ("mallocs", counting ? "\(mallocs)" : "null"),
            ("mallocs_per_cycle", mallocsPerCycle),
        ]
        print("{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}")
    }
}
