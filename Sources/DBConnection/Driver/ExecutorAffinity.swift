/// The thread a connection does its I/O on, as an opaque key the pool compares.
///
/// A driver whose connections each live on one of several event loops (PostgreSQL over SwiftNIO)
/// reports each connection's loop (``DatabaseConnection/executorAffinity``) and the loop the calling
/// code runs on (``DatabaseConnection/currentExecutorAffinity``). A checkout made on a loop then gets
/// an idle connection of that same loop when the pool has one, so the call writes and reads on the
/// caller's own thread instead of hopping to another thread and back. It is only a preference: with
/// no idle connection of its loop (or no loop at all) the caller gets the longest-idle connection, as
/// always, and a caller that must wait is served in queue order.
public struct ExecutorAffinity: Hashable, Sendable {
    /// The executor's identity; never 0 (0 is "no affinity" inside the pool).
    @usableFromInline let key: UInt

    /// The affinity of `executor`: equal for the same object, different for different objects that
    /// are alive at the same time.
    /// - Parameter executor: the object that runs the I/O, such as a SwiftNIO `EventLoop`.
    public init(_ executor: AnyObject) {
        key = UInt(bitPattern: ObjectIdentifier(executor))
    }
}
