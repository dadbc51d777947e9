import CSQLite
import Synchronization

/// Interrupts a connection's running call from any thread.
///
/// Every call of ``SQLiteConnection`` gets a number (``beginCall()``), and ``interrupt(call:)`` asks
/// for that call to stop. Four checks together make sure the request is never lost, whenever it
/// comes:
/// - before the call runs, the database actor sees the request and throws `SQLITE_INTERRUPT`
///   (``isInterrupted``);
/// - while a statement runs, `sqlite3_interrupt` stops it;
/// - `sqlite3_interrupt` is ignored when no statement is running yet (SQLite clears its flag when a
///   statement starts), so a progress handler also checks ``isInterrupted`` every 500 virtual
///   machine instructions;
/// - `sqlite3_interrupt` does not stop a wait for another connection's lock, so the busy handler
///   checks ``isInterrupted`` between its pauses.
///
/// A request for a call that has already ended does nothing to the next one.
final class Interruptor: Sendable {
    /// The open handle, for `sqlite3_interrupt`; `nil` before open and after close. The lock keeps
    /// `sqlite3_close_v2` from running while `sqlite3_interrupt` does, which SQLite forbids.
    private let handle = Mutex<SQLiteHandle?>(nil)
    private let lastCall = Atomic<UInt64>(0)
    private let requested = Atomic<UInt64>(0)
    private let running = Atomic<UInt64>(0)

    /// Numbers a new call (from 1).
    func beginCall() -> UInt64 {
        lastCall.add(1, ordering: .relaxed).newValue
    }

    /// The number of the most recent call.
    var currentCall: UInt64 {
        lastCall.load(ordering: .relaxed)
    }

    /// Asks call `call` to stop: at once if it is running a statement, at its start if it has not
    /// started, not at all if it ended.
    func interrupt(call: UInt64) {
        requested.store(call, ordering: .sequentiallyConsistent)
        handle.withLock { handle in
            if let handle, running.load(ordering: .sequentiallyConsistent) == call {
                sqlite3_interrupt(handle.pointer)
            }
        }
    }

    /// Whether the call running on the database thread was asked to stop. Read on the database thread.
    var isInterrupted: Bool {
        let call = running.load(ordering: .sequentiallyConsistent)
        return call != 0 && requested.load(ordering: .sequentiallyConsistent) == call
    }

    /// Marks `call` as the one running on the database thread (0: none). Called on the database thread.
    ///
    /// Changed under the handle's lock, so ``interrupt(call:)`` checks the running call and calls
    /// `sqlite3_interrupt` in one step: a late request for a call that just ended cannot reach the
    /// statement of the next one.
    func setRunning(_ call: UInt64) {
        handle.withLock { _ in
            running.store(call, ordering: .sequentiallyConsistent)
        }
    }

    /// Publishes the open handle (or `nil` before closing it).
    func setHandle(_ newHandle: SQLiteHandle?) {
        handle.withLock { $0 = newHandle }
    }
}

/// An open `sqlite3*`, to hand to ``Interruptor``.
///
/// `@unchecked Sendable`: the only use outside the database thread is `sqlite3_interrupt`, which
/// SQLite documents as safe from any thread while the connection is open; ``Interruptor`` guarantees
/// the connection is open by calling it under the lock that the closing code takes first.
struct SQLiteHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}
