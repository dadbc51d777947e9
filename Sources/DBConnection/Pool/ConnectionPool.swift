import DequeModule
import Logging
import Metrics
public import ServiceLifecycle
import Synchronization

/// The default pool: db_connection's `DBConnection.ConnectionPool`, with its CoDel queue, checkout
/// deadlines, reconnect backoff, idle pings and listeners.
///
/// The pool opens ``PoolConfiguration/poolSize`` connections when ``run()`` starts and keeps them
/// open; run it as a swift-service-lifecycle `Service`, or around a closure with
/// ``withPool(options:configuration:clock:_:)``:
///
/// ```swift
/// try await ConnectionPool<SQLiteConnection>.withPool(options: .init(path: "app.db")) { pool in
///     try await pool.withConnection { conn in ... }
/// }
/// ```
///
/// All decisions live in a pure state machine; this type only carries them out: one lock around the
/// state, continuations for waiting callers, and background work (connects, pings, closes, timers) as
/// child tasks of ``run()``. Checking out an idle connection and checking it in take one lock each and
/// never suspend.
public final class ConnectionPool<Connection: DatabaseConnection>: DatabasePool, Service, Sendable {
    typealias Machine = PoolStateMachine

    /// The pool's name (``PoolConfiguration/name``).
    public let name: String
    let configuration: PoolConfiguration<Connection>
    let options: Connection.Options
    let clock: PoolClock
    let logger: Logger
    @usableFromInline let runner: PoolRunner
    private let runStarted = Atomic<Bool>(false)
    private var instruments: Instruments { runner.instruments }

    /// Makes a pool. Nothing connects until ``run()``.
    /// - Parameters:
    ///   - options: the driver's connect options.
    ///   - configuration: the pool's options.
    ///   - clock: the clock for queue times, deadlines and timers; `ContinuousClock` by default, a
    ///     manual clock in tests.
    /// - Throws: ``ConfigurationError`` naming a bad option.
    public init<C: Clock>(
        options: Connection.Options,
        configuration: PoolConfiguration<Connection> = .init(),
        clock: C
    ) throws where C.Instant == ContinuousClock.Instant {
        try configuration.validate()
        self.name = configuration.name
        self.configuration = configuration
        self.options = options
        self.clock = PoolClock(clock)
        self.logger = configuration.logger
        let machineConfiguration = Machine.Configuration(
            name: configuration.name,
            poolSize: configuration.poolSize,
            queueTarget: configuration.queueTarget,
            queueInterval: configuration.queueInterval,
            idleInterval: configuration.idleInterval,
            idleLimit: configuration.idleLimit ?? configuration.poolSize,
            backoffType: configuration.backoffType,
            backoffMin: configuration.backoffMin,
            backoffMax: configuration.backoffMax,
            maxLifetime: configuration.maxLifetime,
            maxRestarts: configuration.maxRestarts,
            maxSeconds: configuration.maxSeconds,
            seed: configuration.randomSeed ?? UInt64.random(in: .min ... .max),
            interruptGracePeriod: configuration.interruptGracePeriod
        )
        self.runner = PoolRunner(
            machine: Machine(configuration: machineConfiguration, now: self.clock.now()),
            name: configuration.name,
            clock: self.clock,
            logger: configuration.logger,
            poolSize: configuration.poolSize
        )
    }

    /// Makes a pool on `ContinuousClock`.
    /// - Throws: ``ConfigurationError`` naming a bad option.
    public convenience init(options: Connection.Options, configuration: PoolConfiguration<Connection> = .init()) throws {
        try self.init(options: options, configuration: configuration, clock: ContinuousClock())
    }

    // MARK: Checkout and check-in

    /// Lends a connection: at once if one is idle, else after waiting in the queue.
    ///
    /// Of the idle connections, the longest idle one of the caller's executor when the driver reports
    /// executors (``ExecutorAffinity``), else the longest idle one.
    ///
    /// The time budget (``CallOptions/timeout`` and ``CallOptions/deadline``) starts now, so time in the
    /// queue counts. A task cancelled while it waits leaves the queue at once.
    /// - Throws: ``ConnectionError``: `queueDisabled`, `queueTimeout` (CoDel drop), `deadline`,
    ///   `poolShutdown`, `poolStopped`; `CancellationError` when the task is cancelled while waiting.
    ///
    /// Inlinable, so that the caller's module specializes it for its driver: the generic lease is then
    /// built without generic metadata lookups, and the fast path (``PoolRunner/tryCheckout(options:affinity:)``)
    /// is synchronous and not generic.
    @inlinable
    public func checkout(options: CallOptions) async throws -> PoolLease<Connection> {
        switch try runner.tryCheckout(options: options, affinity: Connection.currentExecutorAffinity?.key ?? 0) {
        case .leased(let core):
            return lease(core)
        case .mustWait(let requestedAt, let deadline):
            return lease(try await runner.waitForConnection(requestedAt: requestedAt, deadline: deadline))
        }
    }

    /// The typed lease of a ``CoreLease``, which it consumes (its holder moves into the lease, no
    /// retain and release); the deadline converted without a closure over the clock.
    @inlinable
    func lease(_ core: consuming CoreLease) -> PoolLease<Connection> {
        var deadline: Duration?
        if let instant = core.deadline { deadline = runner.clock.leaseDeadline(instant) }
        return PoolLease(
            holder: unsafeDowncast(core.holder, to: ConnectionHolder<Connection>.self),
            generation: core.generation,
            poolTime: core.poolTime,
            idleTime: core.idleTime,
            deadlineSinceReference: deadline
        )
    }

    /// Gives a connection back. A stale lease (the pool took the connection back) is ignored; a lease
    /// whose connection is still running a call is closed instead.
    public func checkin(_ lease: PoolLease<Connection>) {
        runner.checkin(
            slot: lease.holder.id.poolIndex - 1,
            holder: lease.holder,
            generation: lease.generation
        )
    }

    /// Gives a connection back to be closed; the pool reconnects the slot at once.
    public func disconnect(_ lease: PoolLease<Connection>, error: any Error) {
        runner.giveBackBroken(
            slot: lease.holder.id.poolIndex - 1,
            holder: lease.holder,
            generation: lease.generation,
            error: error,
            stop: false
        )
    }

    /// Gives a connection back that crashed; it is closed and counts towards ``PoolConfiguration/maxRestarts``.
    public func stop(_ lease: PoolLease<Connection>, error: any Error) {
        runner.giveBackBroken(
            slot: lease.holder.id.poolIndex - 1,
            holder: lease.holder,
            generation: lease.generation,
            error: error,
            stop: true
        )
    }

    // MARK: Introspection and control

    /// Idle connections, busy connections and queue length right now (db_connection's `get_connection_metrics`).
    public func metrics() -> PoolMetrics { runner.metrics() }

    /// Recycles every connection open now, spread over `interval`: each is closed at its next check-in
    /// or idle tick after a per-connection offset in `[0, interval)`. Connections opened later are not
    /// affected. db_connection's `disconnect_all`.
    public func disconnectAll(interval: Duration = .zero) { runner.disconnectAll(interval: interval) }

    // MARK: Running

    /// Runs the pool: connects, pings, reconnects, enforces deadlines. Returns after a cancellation or a
    /// graceful shutdown once every connection is closed: waiters fail at once, idle connections close,
    /// leased connections close when they come back.
    ///
    /// - Throws: ``ConnectionError`` with reason `poolStopped` when the restart intensity was exceeded.
    /// - Precondition: called once.
    public func run() async throws {
        precondition(
            runStarted.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged,
            "ConnectionPool.run() must be called once"
        )
        let stopped: ConnectionError? = await withTaskCancellationOrGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                self.runner.modify { $0.start(now: self.clock.now()) }
                while true {
                    switch await self.runner.work.next() {
                    case .connect(let slot):
                        group.addTask { await self.connect(slot: slot) }
                    case .ping(let slot, let holder):
                        let holder = unsafeDowncast(holder, to: ConnectionHolder<Connection>.self)
                        group.addTask { await self.ping(slot: slot, holder: holder) }
                    case .close(let close, let holder):
                        let holder = holder.map { unsafeDowncast($0, to: ConnectionHolder<Connection>.self) }
                        group.addTask { await self.close(close, holder: holder) }
                    case .interrupt(let reclaim, let holder):
                        let holder = unsafeDowncast(holder, to: ConnectionHolder<Connection>.self)
                        group.addTask { await self.interrupt(reclaim, holder: holder) }
                    case .checkReclaimed(let reclaim, let holder):
                        let holder = unsafeDowncast(holder, to: ConnectionHolder<Connection>.self)
                        group.addTask { await holder.checkReclaimed(reclaim) }
                    case .timer(let timer):
                        group.addTask {
                            do {
                                try await self.clock.sleep(timer.fireAt)
                            } catch {
                                return
                            }
                            self.runner.modify { $0.timerFired(timer, now: self.clock.now()) }
                            if case .idle = timer.kind { self.runner.recordGauges() }
                        }
                    case .finished(let error):
                        group.cancelAll()
                        return error
                    }
                }
            }
        } onCancelOrGracefulShutdown: {
            self.shutdown()
        }
        if let stopped { throw stopped }
    }

    /// Starts a shutdown, as cancelling ``run()`` does.
    public func shutdown() {
        runner.modify { $0.shutdown(now: self.clock.now()) }
    }

    /// Runs a pool around `body`: starts ``run()``, waits for nothing, runs `body`, then shuts the pool
    /// down and waits until every connection is closed.
    /// - Throws: ``ConfigurationError`` before anything connects, or what `body` throws.
    public static func withPool<R: Sendable>(
        options: Connection.Options,
        configuration: PoolConfiguration<Connection> = .init(),
        _ body: (ConnectionPool<Connection>) async throws -> R
    ) async throws -> R {
        try await withPool(options: options, configuration: configuration, clock: ContinuousClock(), body)
    }

    /// ``withPool(options:configuration:_:)`` with a clock of your choice.
    public static func withPool<R: Sendable, C: Clock>(
        options: Connection.Options,
        configuration: PoolConfiguration<Connection> = .init(),
        clock: C,
        _ body: (ConnectionPool<Connection>) async throws -> R
    ) async throws -> R where C.Instant == ContinuousClock.Instant {
        let pool = try ConnectionPool(options: options, configuration: configuration, clock: clock)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await pool.run() }
            let result: Result<R, any Error>
            do {
                result = .success(try await body(pool))
            } catch {
                result = .failure(error)
            }
            pool.shutdown()
            do {
                try await group.waitForAll()
            } catch {
                if case .success = result { throw error }
            }
            return try result.get()
        }
    }

    // MARK: Background work

    private func connect(slot: Int) async {
        let index = slot + 1
        let context = ConnectionContext(
            poolIndex: index,
            poolName: name,
            logger: logger,
            showSensitiveData: configuration.showSensitiveDataOnConnectionError
        )
        var holder: ConnectionHolder<Connection>?
        do {
            var options = self.options
            if let configure = configuration.configure {
                options = try await configure(options, index)
            }
            let connection = try await Connection.connect(options: options, context: context)
            let newHolder = ConnectionHolder(connection: connection, id: ConnectionID(poolIndex: index), logger: logger)
            holder = newHolder
            instruments.connects.increment()
            notify(.connected(newHolder.id, tag: nil))
            logger.debug("connected", metadata: ["db.pool": "\(name)", "db.connection": "\(newHolder.id)"])
            try await connection.checkout()
            if let afterConnect = configuration.afterConnect {
                try await runAfterConnect(afterConnect, holder: newHolder)
            }
            runner.modify(slot: slot, holder: newHolder, leaseGuard: newHolder.leaseGuard) {
                $0.connectSucceeded(slot: slot, now: self.clock.now(), affinity: connection.executorAffinity?.key ?? 0)
            }
        } catch {
            let message = holder == nil ? "failed to connect" : "failed to set up the new connection"
            logger.error(
                "\(message): \(error)",
                metadata: ["db.pool": "\(name)", "db.connection": "db_conn_\(index)"]
            )
            if let holder {
                let closeError = ConnectionError(.error, message: "\(message): \(error)", poolName: name)
                switch holder.retire(error: closeError) {
                case .closeNow:
                    await holder.connection.disconnect(error: (error as? DisconnectError)?.underlying ?? error)
                case .closeAfterCall:
                    // afterConnect is still in a call: its task closes the connection when it returns.
                    await holder.connection.interrupt()
                case .alreadyRetired:
                    break
                }
                instruments.disconnects.increment()
                notify(.disconnected(holder.id, tag: nil))
            }
            runner.modify { $0.connectFailed(slot: slot, now: self.clock.now()) }
        }
    }

    private func runAfterConnect(
        _ afterConnect: @escaping @Sendable (PooledConnection<Connection>) async throws -> Void,
        holder: ConnectionHolder<Connection>
    ) async throws {
        holder.grant(generation: 0)
        let setup = AfterConnectPool<Connection>(name: name)
        let lease = PoolLease(holder: holder, generation: 0, poolTime: nil, idleTime: nil, deadline: nil)
        let connection = PooledConnection(lease: lease, pool: setup)
        let timeout = configuration.afterConnectTimeout
        let clock = self.clock
        let deadline = clock.now() + timeout
        // Raced in tasks of their own, so that an afterConnect that ignores cancellation cannot hold
        // the slot past its timeout: the connection is closed at the deadline all the same.
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Bool, any Error>, Never>) in
            let once = ResumeOnce(continuation)
            let work = Task {
                do {
                    try await afterConnect(connection)
                    once.resume(.success(true))
                } catch {
                    once.resume(.failure(error))
                }
            }
            let timer = Task {
                do {
                    try await clock.sleep(deadline)
                    once.resume(.success(false))
                    work.cancel()
                } catch {}
            }
            once.onResume { timer.cancel() }
        }
        guard try outcome.get() else {
            throw ConnectionError(
                .deadline,
                message: "client timed out because it checked out the connection for longer than \(timeout.milliseconds)ms",
                poolName: self.name,
                call: "afterConnect"
            )
        }
        if let error = setup.brokenError {
            throw error
        }
        if holder.release(generation: 0) != .released {
            throw ConnectionError(.closed, message: "afterConnect left a call running", poolName: name, call: "afterConnect")
        }
    }

    private func ping(slot: Int, holder: ConnectionHolder<Connection>) async {
        do {
            holder.grant(generation: 0)
            try await holder.withCall(generation: 0, call: "ping") { try await $0.ping() }
            guard holder.release(generation: 0) == .released else { return }
            runner.modify { $0.pingSucceeded(slot: slot, now: self.clock.now()) }
        } catch {
            let underlying = (error as? DisconnectError)?.underlying ?? error
            let connectionError =
                (underlying as? ConnectionError)
                ?? ConnectionError(.error, message: "ping failed: \(underlying)", poolName: name, call: "ping")
            runner.modify { $0.pingFailed(slot: slot, error: connectionError) }
        }
    }

    /// Interrupts the call of a lease taken back at its deadline; the call's task checks the
    /// connection when the call returns.
    private func interrupt(_ reclaim: Machine.Reclaim, holder: ConnectionHolder<Connection>) async {
        let outcome = await holder.connection.interrupt()
        if outcome == .unconfirmed {
            logger.debug(
                "the driver could not confirm the interrupt: the connection will be closed",
                metadata: ["db.pool": "\(name)", "db.connection": "\(holder.id)"]
            )
        }
        runner.modify {
            $0.reclaimInterrupted(
                slot: reclaim.slot,
                generation: reclaim.generation,
                confirmed: outcome == .confirmed,
                now: self.clock.now()
            )
        }
    }

    private func close(_ close: Machine.Close, holder: ConnectionHolder<Connection>?) async {
        if let holder {
            log(close.error, connection: holder.id)
            switch holder.retire(error: close.error) {
            case .closeNow:
                await holder.connection.disconnect(error: close.error.underlying ?? close.error)
            case .closeAfterCall:
                if close.interrupt { await holder.connection.interrupt() }
            case .alreadyRetired:
                break
            }
            instruments.disconnects.increment()
            notify(.disconnected(holder.id, tag: nil))
        }
        runner.modify(slot: close.slot, holder: nil, leaseGuard: nil, onlyIfCurrent: holder ?? Unmatched.instance) {
            $0.connectionClosed(slot: close.slot, now: self.clock.now())
        }
    }

    private func log(_ error: ConnectionError, connection: ConnectionID) {
        logger.log(
            level: error.severity,
            "disconnected: \(error.message)",
            metadata: ["db.pool": "\(name)", "db.connection": "\(connection)"]
        )
    }

    private func notify(_ event: ConnectionListener.Event) {
        for listener in configuration.connectionListeners {
            switch event {
            case .connected(let id, _): listener.handler(.connected(id, tag: listener.tag))
            case .disconnected(let id, _): listener.handler(.disconnected(id, tag: listener.tag))
            }
        }
    }

}

/// An object no slot holds, for `onlyIfCurrent` when a close had no holder.
private final class Unmatched: Sendable {
    static let instance = Unmatched()
}

/// Resumes a continuation once, whoever comes first; then runs a clean-up.
private final class ResumeOnce<T: Sendable>: Sendable {
    private let state: Mutex<(continuation: CheckedContinuation<T, Never>?, cleanup: (@Sendable () -> Void)?, done: Bool)>

    init(_ continuation: CheckedContinuation<T, Never>) {
        state = Mutex((continuation, nil, false))
    }

    func resume(_ value: T) {
        let (continuation, cleanup) = state.withLock { state -> (CheckedContinuation<T, Never>?, (@Sendable () -> Void)?) in
            guard let continuation = state.continuation else { return (nil, nil) }
            state.continuation = nil
            state.done = true
            let cleanup = state.cleanup
            state.cleanup = nil
            return (continuation, cleanup)
        }
        continuation?.resume(returning: value)
        cleanup?()
    }

    /// Runs `cleanup` after the resume (at once if it already happened).
    func onResume(_ cleanup: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state -> Bool in
            if state.done { return true }
            state.cleanup = cleanup
            return false
        }
        if runNow { cleanup() }
    }
}

/// The pseudo-pool that lends a new connection to ``PoolConfiguration/afterConnect``, as db_connection's
/// after_connect task does: a disconnect there fails the set-up.
final class AfterConnectPool<Connection: DatabaseConnection>: DatabasePool, Sendable {
    let name: String
    private let broken = Mutex<ConnectionError?>(nil)

    init(name: String) { self.name = name }

    var brokenError: ConnectionError? { broken.withLock { $0 } }

    func checkout(options: CallOptions) async throws -> PoolLease<Connection> {
        throw ConnectionError(
            .error,
            message: "afterConnect must use the connection it is given, not check out another",
            poolName: name,
            call: "checkout"
        )
    }

    func checkin(_ lease: PoolLease<Connection>) {}

    func disconnect(_ lease: PoolLease<Connection>, error: any Error) {
        broken.withLock {
            $0 = (error as? ConnectionError) ?? ConnectionError(.error, message: "\(error)", poolName: name)
        }
    }

    func stop(_ lease: PoolLease<Connection>, error: any Error) {
        disconnect(lease, error: error)
    }
}

