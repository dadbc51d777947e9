import Synchronization

/// What one run of a workload measured.
public struct Measurement: Sendable {
    /// Lease + release cycles done.
    public var cycles: Int
    /// Wall clock from the moment the tasks were let go to the end of the last one.
    public var nanoseconds: UInt64
    /// How long each lease took (from the call to the connection in hand), sorted; empty when the run
    /// did not time leases.
    public var leaseLatencies: [UInt64]

    /// Cycles per second.
    public var cyclesPerSecond: Double {
        nanoseconds == 0 ? 0 : Double(cycles) * 1e9 / Double(nanoseconds)
    }
}

/// Runs `tasks` tasks that each do `cyclesPerTask` lease + release cycles on `pool`.
///
/// The tasks are created first and wait at a gate; `onStart` runs once all of them wait, then the gate
/// opens, and `onStop` runs when the last task is done. So task creation stays out of the measured
/// region (ordo-one's `startMeasurement`/`stopMeasurement`, or the malloc counters).
///
/// With `timeLeases` each lease is timed (two clock reads per cycle) into a buffer allocated up front;
/// without, nothing but the pool runs in the loop.
func runWorkload<P: BenchPool>(
    _ pool: P,
    tasks: Int,
    cyclesPerTask: Int,
    hold: Hold,
    timeLeases: Bool,
    onStart: () -> Void,
    onStop: () -> Void
) async throws -> Measurement {
    precondition(tasks > 0 && cyclesPerTask > 0, "a workload needs tasks and cycles")
    let gate = StartGate(expected: tasks)
    let latencies = LatencyBuffer(capacity: timeLeases ? tasks * cyclesPerTask : 0)
    defer { latencies.deallocate() }
    let yieldWhileLeased = hold == .yield
    var elapsed: UInt64 = 0
    try await withThrowingTaskGroup(of: Void.self) { group in
        for task in 0..<tasks {
            group.addTask {
                await gate.arriveAndWait()
                if timeLeases {
                    var index = task * cyclesPerTask
                    for _ in 0..<cyclesPerTask {
                        let start = monotonicNanoseconds()
                        let lease = try await pool.lease()
                        latencies.store(monotonicNanoseconds() &- start, at: index)
                        index += 1
                        if yieldWhileLeased { await Task.yield() }
                        pool.release(lease)
                    }
                } else {
                    for _ in 0..<cyclesPerTask {
                        let lease = try await pool.lease()
                        if yieldWhileLeased { await Task.yield() }
                        pool.release(lease)
                    }
                }
            }
        }
        await gate.waitUntilAllArrived()
        onStart()
        let start = monotonicNanoseconds()
        gate.open()
        try await group.waitForAll()
        elapsed = monotonicNanoseconds() &- start
        onStop()
    }
    return Measurement(
        cycles: tasks * cyclesPerTask,
        nanoseconds: elapsed,
        leaseLatencies: timeLeases ? latencies.sorted() : []
    )
}

/// Lease times, one slot per cycle, allocated before the run.
///
/// `@unchecked Sendable`: each task writes only its own slots (`task * cyclesPerTask ..< (task + 1) *
/// cyclesPerTask`), and the buffer is read only after the task group joined every task.
struct LatencyBuffer: @unchecked Sendable {
    let storage: UnsafeMutableBufferPointer<UInt64>

    init(capacity: Int) {
        storage = .allocate(capacity: capacity)
    }

    @inline(__always)
    func store(_ value: UInt64, at index: Int) {
        storage[index] = value
    }

    func sorted() -> [UInt64] {
        Array(storage).sorted()
    }

    func deallocate() {
        storage.deallocate()
    }
}

/// Holds tasks until all of them arrived and the gate opens.
final class StartGate: Sendable {
    private struct State: ~Copyable {
        var arrived = 0
        var isOpen = false
        var waiters: [UnsafeContinuation<Void, Never>] = []
        var allArrived: UnsafeContinuation<Void, Never>?
    }

    private let expected: Int
    private let state = Mutex(State())

    init(expected: Int) {
        self.expected = expected
        state.withLock { $0.waiters.reserveCapacity(expected) }
    }

    /// Called by each task; returns when the gate opens.
    func arriveAndWait() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let (resumeNow, everyoneHere) = state.withLock { state -> (Bool, UnsafeContinuation<Void, Never>?) in
                state.arrived += 1
                if state.isOpen { return (true, nil) }
                state.waiters.append(continuation)
                if state.arrived == expected, let all = state.allArrived {
                    state.allArrived = nil
                    return (false, all)
                }
                return (false, nil)
            }
            if resumeNow { continuation.resume() }
            everyoneHere?.resume()
        }
    }

    /// Returns once every expected task waits at the gate.
    func waitUntilAllArrived() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if state.arrived >= expected { return true }
                state.allArrived = continuation
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Lets every waiting task go.
    func open() {
        let waiters = state.withLock { state -> [UnsafeContinuation<Void, Never>] in
            state.isOpen = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// Runs `tasks` tasks that loop lease + release on `pool` until a measured window of `windowCycles`
/// cycles has passed, and measures that window only.
///
/// The task that completes cycle `warmCycles` calls `onStart`; the one that completes the
/// `windowCycles`-th cycle after that calls `onStop`; then every task stops after its current cycle.
/// So the window sits in the middle of a steady load: task creation, ramp-up and wind-down stay out of
/// it, and no waiting task has to be scheduled to end the measurement (with 1,000 runnable tasks on two
/// threads, that would take as long as the window itself).
func runWindow<P: BenchPool>(
    _ pool: P,
    tasks: Int,
    hold: Hold,
    warmCycles: Int,
    windowCycles: Int,
    onStart: @escaping @Sendable () -> Void,
    onStop: @escaping @Sendable () -> Void
) async throws {
    precondition(tasks > 0 && warmCycles > 0 && windowCycles > 0, "a window needs tasks and cycles")
    let window = WindowCounters()
    let yieldWhileLeased = hold == .yield
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<tasks {
            group.addTask {
                while !window.stopped.load(ordering: .relaxed) {
                    let lease = try await pool.lease()
                    if yieldWhileLeased { await Task.yield() }
                    pool.release(lease)
                    let done = window.completed.wrappingAdd(1, ordering: .relaxed).newValue
                    if done == warmCycles {
                        onStart()
                        window.stopAt.store(window.completed.load(ordering: .relaxed) + windowCycles, ordering: .relaxed)
                    } else if done >= window.stopAt.load(ordering: .relaxed),
                        window.stopped.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged
                    {
                        onStop()
                    }
                }
            }
        }
        try await group.waitForAll()
    }
}

/// The counters the tasks of ``runWindow(_:tasks:hold:warmCycles:windowCycles:onStart:onStop:)`` share.
final class WindowCounters: Sendable {
    /// Cycles completed.
    let completed = Atomic<Int>(0)
    /// The count of completed cycles that ends the window.
    let stopAt = Atomic<Int>(.max)
    /// Set once by the task that ends the window; every task stops then.
    let stopped = Atomic<Bool>(false)
}
