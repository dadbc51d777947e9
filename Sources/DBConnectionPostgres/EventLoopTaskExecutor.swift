public import NIOCore
import NIOPosix

/// A SwiftNIO event loop as a Swift Concurrency task executor: tasks that prefer it run on the loop's
/// thread, where the connections of that loop read and write.
///
/// Give each task that runs statements a preference for one of ``PGConnection/eventLoopExecutors``
/// (`Task(executorPreference:)`, `group.addTask(executorPreference:)` or
/// `withTaskExecutorPreference(_:operation:)`). Its checkouts then get a connection of the same loop
/// (``PGConnection/currentExecutorAffinity``), so a statement is written from, and its reply resumes
/// the task on, the thread that owns the socket: no hop to another thread and back per statement.
///
/// Prefer this to installing NIO's event loops as Swift's *global* executor
/// (`NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()`): there every job
/// runs isolated to the loop as a serial executor, so each call into a nonisolated async function
/// gives the loop up and queues the task again (measured: about 13 extra trips through the loop's
/// queue per statement). With a task executor preference those calls stay where they are.
///
/// Tasks that prefer a loop must not block it: no blocking I/O, locks held long, or heavy computation
/// inside them, or every connection of that loop waits. The loop must outlive the tasks that prefer
/// it (the loops of ``PGConnection/eventLoopExecutors`` are NIO's singletons, which never shut down):
/// a job given to a loop that has shut down is never run.
public final class EventLoopTaskExecutor: TaskExecutor {
    /// The loop the tasks run on.
    public let eventLoop: any EventLoop

    /// An executor that runs tasks on `eventLoop`.
    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Runs `job` on the loop, as the job of a task whose preferred executor is this one.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

extension PGConnection {
    /// One ``EventLoopTaskExecutor`` per event loop of the group PGConnection opens its connections
    /// on (NIO's `MultiThreadedEventLoopGroup.singleton`), in the group's order.
    public static let eventLoopExecutors: [EventLoopTaskExecutor] =
        MultiThreadedEventLoopGroup.singleton.makeIterator().map { EventLoopTaskExecutor($0) }
}

extension EventLoopTaskExecutor {
    /// ``PGConnection/eventLoopExecutors`` by the identity of their loops.
    static let forLoop: [ObjectIdentifier: EventLoopTaskExecutor] = Dictionary(
        uniqueKeysWithValues: PGConnection.eventLoopExecutors.map { (ObjectIdentifier($0.eventLoop), $0) }
    )
}
