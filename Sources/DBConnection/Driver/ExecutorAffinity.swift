/// The thread a connection does its I/O on, as an opaque key the pool compares.
///
/// A driver whose connections each live on one of several threads (PostgreSQL's on SwiftNIO's event
/// loops) reports each connection's thread
/// (``DatabaseConnection/executorAffinity``) and the thread the calling code runs on
/// (``DatabaseConnection/currentExecutorAffinity``). A checkout made on such a thread then gets an idle
/// connection of that thread when the pool has one, so the call needs no hop to another thread and
/// back. It is only a preference: with no idle connection of its thread (or no such thread at all) the
/// caller gets the longest-idle connection, as always, and a caller that must wait is served in queue
/// order.
///
/// How code gets onto such a thread: ``taskExecutor``, when the driver offers one, runs tasks there
/// (`Task(executorPreference:)`, `withTaskExecutorPreference(_:operation:)`). A driver offers one
/// only where running other code on the connection's thread is safe: not where a connection blocks
/// its thread while it waits (SQLite's busy handler waiting for a lock held by a task stuck behind
/// it on the same thread would wait out its whole timeout).
public struct ExecutorAffinity: Hashable, Sendable {
    /// The thread's identity; never 0 (0 is "no affinity" inside the pool).
    @usableFromInline let key: UInt

    /// A task executor that runs tasks on the thread, if the driver offers one. Not part of the
    /// identity: two affinities of the same thread are equal whether or not they carry it.
    public let taskExecutor: (any TaskExecutor)?

    /// The affinity of `executor`: equal for the same object, different for different objects that
    /// are alive at the same time.
    /// - Parameters:
    ///   - executor: the object that stands for the thread, such as a SwiftNIO `EventLoop`.
    ///   - taskExecutor: a task executor that runs tasks on that thread, if there is one.
    public init(_ executor: AnyObject, taskExecutor: (any TaskExecutor)? = nil) {
        key = UInt(bitPattern: ObjectIdentifier(executor))
        self.taskExecutor = taskExecutor
    }

    /// Whether both stand for the same thread.
    public static func == (a: ExecutorAffinity, b: ExecutorAffinity) -> Bool {
        a.key == b.key
    }

    /// Hashes the thread's identity.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(key)
    }
}
