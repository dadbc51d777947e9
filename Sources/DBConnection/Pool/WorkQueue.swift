import DequeModule
import Synchronization

/// The runner's queue of background work, read by `run()`.
///
/// Unlike `AsyncStream`, waiting on it ignores task cancellation: after `run()` is cancelled it must
/// still receive the closes of the shutdown, until ``PoolStateMachine/Action/shutdownComplete``.
final class WorkQueue<Work: Sendable>: Sendable {
    private struct State {
        var items: Deque<Work> = []
        var waiter: CheckedContinuation<Work, Never>?
    }

    private let state = Mutex(State())

    func push(_ work: Work) {
        let waiter: CheckedContinuation<Work, Never>? = state.withLock {
            if let waiter = $0.waiter {
                $0.waiter = nil
                return waiter
            }
            $0.items.append(work)
            return nil
        }
        waiter?.resume(returning: work)
    }

    /// The next item; one reader at a time.
    func next() async -> Work {
        if let work = state.withLock({ $0.items.popFirst() }) { return work }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Work, Never>) in
            let work: Work? = state.withLock {
                if let work = $0.items.popFirst() { return work }
                precondition($0.waiter == nil, "WorkQueue has one reader")
                $0.waiter = continuation
                return nil
            }
            if let work { continuation.resume(returning: work) }
        }
    }
}
