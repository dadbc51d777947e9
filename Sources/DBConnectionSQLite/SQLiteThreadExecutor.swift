import Foundation

/// A serial executor that runs its jobs on one thread of its own, never on Swift's cooperative pool.
///
/// Each connection's ``SQLiteDatabase`` actor runs on one of these, so every `sqlite3_*` call (which
/// may block on file I/O and on other connections' locks for up to the busy timeout) blocks this
/// thread only. The thread ends when the executor is deallocated, which happens once its actor is
/// gone, and so once no job for it can be pending.
final class SQLiteThreadExecutor: SerialExecutor {
    private let queue: JobQueue

    /// Starts the thread.
    /// - Parameter name: the thread's name, for debuggers (Linux shows its first 15 bytes).
    init(name: String) {
        let queue = JobQueue()
        self.queue = queue
        queue.executor = UnownedSerialExecutor(ordinary: self)
        let thread = Thread { queue.run() }
        thread.name = name
        thread.start()
    }

    deinit {
        queue.stop()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        queue.push(UnownedJob(job))
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// The jobs waiting for the thread, and the thread's loop.
    ///
    /// `@unchecked Sendable`: ``jobs`` and ``stopping`` are read and written only while ``condition`` is
    /// locked. ``executor`` is written once, in the executor's `init`, before the thread starts
    /// (`Thread.start` orders that write before the thread's first read), and never again.
    private final class JobQueue: @unchecked Sendable {
        private let condition = NSCondition()
        private var jobs: [UnownedJob] = []
        private var head = 0
        private var stopping = false
        /// The executor the jobs run on. Unowned: the executor owns this queue, and it outlives every
        /// job, since a pending job keeps its actor, and the actor its executor, alive.
        var executor: UnownedSerialExecutor?

        func push(_ job: UnownedJob) {
            condition.lock()
            jobs.append(job)
            condition.signal()
            condition.unlock()
        }

        func stop() {
            condition.lock()
            stopping = true
            condition.signal()
            condition.unlock()
        }

        /// Runs jobs in order until stopped with nothing left to run.
        func run() {
            while let job = next() {
                job.runSynchronously(on: executor!)
            }
        }

        private func next() -> UnownedJob? {
            condition.lock()
            defer { condition.unlock() }
            while head == jobs.count {
                if stopping { return nil }
                condition.wait()
            }
            let job = jobs[head]
            head += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            }
            return job
        }
    }
}
