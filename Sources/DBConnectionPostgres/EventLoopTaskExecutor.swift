public import NIOCore
import NIOPosix
import Synchronization

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

    /// Jobs waiting for the loop, and whether a run of them is scheduled there.
    ///
    /// Jobs are run in batches: the first job of a batch schedules one task on the loop, which runs
    /// every job queued by then, in order. A reply that resumes a task per statement then costs an
    /// append here rather than a closure allocated and queued on the loop per job; when several
    /// connections of the loop answer in one read cycle, their tasks share one trip through the
    /// loop's queue.
    private let queue = Mutex(JobQueue())

    private struct JobQueue {
        var jobs: [UnownedJob] = []
        /// The array the last batch ran from, kept with its capacity for the next one.
        var spare: [UnownedJob] = []
        var runScheduled = false
    }

    /// An executor that runs tasks on `eventLoop`.
    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Runs `job` on the loop, as the job of a task whose preferred executor is this one, after the
    /// jobs enqueued before it.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let schedule = queue.withLock { queue in
            queue.jobs.append(job)
            guard !queue.runScheduled else { return false }
            queue.runScheduled = true
            return true
        }
        if schedule { eventLoop.execute { self.runJobs() } }
    }

    /// Runs the jobs queued so far; on the loop. Jobs they enqueue go to the next batch.
    private func runJobs() {
        var batch = queue.withLock { queue in
            queue.runScheduled = false
            let batch = queue.jobs
            queue.jobs = queue.spare
            queue.spare = []
            return batch
        }
        let executor = asUnownedTaskExecutor()
        for job in batch { job.runSynchronously(on: executor) }
        batch.removeAll(keepingCapacity: true)
        queue.withLock { queue in
            if queue.spare.capacity < batch.capacity { queue.spare = batch }
        }
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
