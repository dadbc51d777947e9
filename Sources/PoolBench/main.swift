// A first figure for the pool's hot path: checkout + check-in cycles per second over 10 scripted
// connections, with 1 and 100 tasks, every protection on (15 s deadline, CoDel bookkeeping, metrics
// to the default no-op backend). Run in release mode:
//
//     swift run -c release PoolBench
//
// The full side-by-side benchmark against the peers lives in Benchmarks/ (its own issue).
//
// The main thread blocks on a semaphore while a task runs the measurements, instead of an async main:
// valgrind 3.19 crashes on an async main (dispatch_main's pthread_exit), and `PoolBench N 1` is meant
// to be profiled with callgrind. A detached task, since the blocked main thread is the main actor's;
// the measured loops run on the global executor either way.

import DBConnection
import DBConnectionTesting
import Dispatch
import Foundation

let poolSize = 10

func measure(
    _ label: String,
    tasks: Int,
    cyclesPerTask: Int,
    yielding: Bool = false,
    pool: ConnectionPool<ScriptedConnection>
) async throws {
    let options = CallOptions()
    let start = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<tasks {
            group.addTask {
                for _ in 0..<cyclesPerTask {
                    let lease = try await pool.checkout(options: options)
                    if yielding { await Task.yield() }
                    pool.checkin(lease)
                }
            }
        }
        try await group.waitForAll()
    }
    let elapsed = start.duration(to: .now)
    let cycles = Double(tasks * cyclesPerTask)
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let perSecond = cycles / seconds
    let nanos = seconds * 1e9 / cycles
    print("\(label): \(Int(cycles)) cycles in \(String(format: "%.3f", seconds)) s = \(Int(perSecond)) cycles/s (\(String(format: "%.0f", nanos)) ns/cycle)")
}

func runMeasurements() async throws {
    let script = Script(Array(repeating: .ok(), count: poolSize))
    var configuration = PoolConfiguration<ScriptedConnection>()
    configuration.poolSize = poolSize
    configuration.name = "bench"
    try await ConnectionPool<ScriptedConnection>.withPool(options: ScriptedOptions(script: script), configuration: configuration) { pool in
        // Wait until every connection joined.
        while pool.metrics().idleConnections < poolSize { await Task.yield() }
        // `PoolBench N` runs N cycles per measurement (default 2,000,000), e.g. a small N under valgrind;
        // `PoolBench N 1` runs the 1-task measurement only (for a profile of the uncontended path);
        // `PoolBench N yield` runs lease-yield only: 100 tasks that each check out, `Task.yield()`, and
        // check in, so most checkouts wait and each check-in hands its connection to a waiter.
        let cycles = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 2_000_000
        let mode = CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : ""
        let rounds = cycles >= 1_000_000 ? 3 : 1
        for round in 1...rounds {
            print("round \(round)")
            if mode == "yield" {
                try await measure("  lease-yield 100 tasks", tasks: 100, cyclesPerTask: cycles / 100, yielding: true, pool: pool)
                continue
            }
            try await measure("  1 task    ", tasks: 1, cyclesPerTask: cycles, pool: pool)
            if mode != "1" {
                try await measure("  100 tasks ", tasks: 100, cyclesPerTask: cycles / 100, pool: pool)
            }
        }
    }
}

let finished = DispatchSemaphore(value: 0)
Task.detached {
    do {
        try await runMeasurements()
    } catch {
        print("PoolBench failed: \(error)")
        exit(1)
    }
    finished.signal()
}
finished.wait()
