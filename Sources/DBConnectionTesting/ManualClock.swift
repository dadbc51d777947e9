import Synchronization

/// A clock that moves only when a test says so, for deterministic tests of the pool.
///
/// Its instants are `ContinuousClock` instants (it starts at the real `now` and then only moves through
/// ``advance(by:)``), so a pool on this clock accepts ``CallOptions/deadline`` as in production.
/// ``waitForSleepers(_:)`` lets a test wait until the pool armed its timers, as postgres-nio's
/// MockClock `nextTimerScheduled()` does.
public final class ManualClock: Clock, Sendable {
    public typealias Instant = ContinuousClock.Instant
    public typealias Duration = Swift.Duration

    private struct Sleeper {
        var id: UInt64
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Instant
        var nextID: UInt64 = 0
        var sleepers: [Sleeper] = []
        var watchers: [(Int, CheckedContinuation<Void, Never>)] = []
    }

    private let state: Mutex<State>

    /// Makes a clock that reads the real time once, then stands still.
    public init() {
        self.state = Mutex(State(now: ContinuousClock.now))
    }

    /// The current instant.
    public var now: Instant { state.withLock { $0.now } }

    /// No resolution limit.
    public var minimumResolution: Duration { .zero }

    /// How many sleeps are pending.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// The deadlines of the pending sleeps, earliest first.
    public var pendingDeadlines: [Instant] { state.withLock { $0.sleepers.map(\.deadline).sorted() } }

    /// Sleeps until `deadline`, which only ``advance(by:)`` can bring.
    public func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        let id = state.withLock {
            $0.nextID += 1
            return $0.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (resume, watchers): (Bool, [CheckedContinuation<Void, Never>]) = state.withLock { state in
                    if deadline <= state.now { return (true, []) }
                    if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                        return (false, [])
                    }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    let count = state.sleepers.count
                    var ready: [CheckedContinuation<Void, Never>] = []
                    state.watchers.removeAll { watcher in
                        if watcher.0 <= count {
                            ready.append(watcher.1)
                            return true
                        }
                        return false
                    }
                    return (false, ready)
                }
                if resume { continuation.resume() }
                for watcher in watchers { watcher.resume() }
            }
        } onCancel: {
            let sleeper: Sleeper? = state.withLock { state in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward and wakes every sleep that is due, earliest first.
    public func advance(by duration: Duration) {
        advance(to: now + duration)
    }

    /// Moves time to `instant` (never backwards) and wakes every sleep that is due.
    public func advance(to instant: Instant) {
        let due: [Sleeper] = state.withLock { state in
            if instant > state.now { state.now = instant }
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Returns once at least `count` sleeps are pending.
    public func waitForSleepers(_ count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready: Bool = state.withLock { state in
                if state.sleepers.count >= count { return true }
                state.watchers.append((count, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }
}
