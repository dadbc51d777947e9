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
    typealias Continuation = CheckedContinuation<PoolLease<Connection>, any Error>

    /// The pool's name (``PoolConfiguration/name``).
    public let name: String
    let configuration: PoolConfiguration<Connection>
    let options: Connection.Options
    let clock: PoolClock
    let logger: Logger
    private let state: Mutex<State>
    private let work = WorkQueue<Work>()
    private let runStarted = Atomic<Bool>(false)
    private let instruments: Instruments

    struct State: ~Copyable {
        var machine: Machine
        var waiters: [Machine.RequestID: Continuation]
        var holders: [ConnectionHolder<Connection>?]
    }

    enum Work: Sendable {
        case connect(Machine.SlotID)
        case ping(Machine.SlotID, ConnectionHolder<Connection>)
        case close(Machine.Close, ConnectionHolder<Connection>?)
        case timer(Machine.Timer)
        case finished(ConnectionError?)
    }

    /// What to do after unlocking.
    private struct Effects: ~Copyable {
        var lease: (Continuation, PoolLease<Connection>)?
        var failures: [(Continuation, ConnectionError)] = []
        var work: [Work] = []
    }

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
        self.instruments = Instruments(name: configuration.name)
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
            seed: configuration.randomSeed ?? UInt64.random(in: .min ... .max)
        )
        var waiters: [Machine.RequestID: Continuation] = [:]
        waiters.reserveCapacity(64)
        self.state = Mutex(
            State(
                machine: Machine(configuration: machineConfiguration, now: self.clock.now()),
                waiters: waiters,
                holders: Array(repeating: nil, count: configuration.poolSize)
            )
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
    /// The time budget (``CallOptions/timeout`` and ``CallOptions/deadline``) starts now, so time in the
    /// queue counts. A task cancelled while it waits leaves the queue at once.
    /// - Throws: ``ConnectionError``: `queueDisabled`, `queueTimeout` (CoDel drop), `deadline`,
    ///   `poolShutdown`, `poolStopped`; `CancellationError` when the task is cancelled while waiting.
    public func checkout(options: CallOptions) async throws -> PoolLease<Connection> {
        let now = clock.now()
        let deadline = options.effectiveDeadline(requestedAt: now)
        var effects = Effects()
        let fast: Result<PoolLease<Connection>, ConnectionError>? = state.withLock { state in
            switch state.machine.checkout(request: nil, now: now, deadline: deadline, queue: options.queue) {
            case .leased(let grant, let action):
                let lease = self.makeLease(grant, requestedAt: now, now: now, state: &state)
                self.collect(action, into: &effects, state: &state)
                return .success(lease)
            case .failed(let error):
                return .failure(error)
            case .mustWait, .queued:
                return nil
            }
        }
        if let fast {
            run(effects)
            switch fast {
            case .success(let lease):
                instruments.waitTime.recordNanoseconds(0)
                return lease
            case .failure(let error):
                throw error
            }
        }
        return try await waitForConnection(requestedAt: now, deadline: deadline)
    }

    private func waitForConnection(requestedAt: ContinuousClock.Instant, deadline: ContinuousClock.Instant?) async throws -> PoolLease<Connection> {
        let request = state.withLock { $0.machine.makeRequestID() }
        let lease = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: Continuation) in
                var effects = Effects()
                let immediate: Result<PoolLease<Connection>, any Error>? = state.withLock { state in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    let now = self.clock.now()
                    switch state.machine.checkout(request: request, now: now, deadline: deadline, queue: true) {
                    case .leased(let grant, let action):
                        let lease = self.makeLease(grant, requestedAt: requestedAt, now: now, state: &state)
                        self.collect(action, into: &effects, state: &state)
                        return .success(lease)
                    case .failed(let error):
                        return .failure(error)
                    case .queued(let action):
                        state.waiters[request] = continuation
                        self.collect(action, into: &effects, state: &state)
                        return nil
                    case .mustWait:
                        preconditionFailure("a checkout with a request id queues")
                    }
                }
                run(effects)
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let continuation: Continuation? = state.withLock { state in
                guard state.machine.cancelCheckout(request) else { return nil }
                return state.waiters.removeValue(forKey: request)
            }
            continuation?.resume(throwing: CancellationError())
        }
        if let poolTime = lease.poolTime {
            instruments.waitTime.recordNanoseconds(poolTime.nanoseconds)
        }
        return lease
    }

    /// Gives a connection back. A stale lease (the pool took the connection back) is ignored; a lease
    /// whose connection is still running a call is closed instead.
    public func checkin(_ lease: PoolLease<Connection>) {
        let now = clock.now()
        var effects = Effects()
        state.withLock { state in
            let slot = lease.holder.id.poolIndex - 1
            guard state.holders[slot] === lease.holder else { return }
            let action: Machine.Action
            switch lease.holder.release(generation: lease.generation) {
            case .released:
                action = state.machine.checkin(slot: slot, generation: lease.generation, now: now)
            case .busy:
                let error = ConnectionError(
                    .closed,
                    message: "the connection was checked in while a call was still running on it",
                    poolName: name
                )
                action = state.machine.disconnect(slot: slot, generation: lease.generation, error: error, stop: true, now: now)
            case .stale:
                return
            }
            self.collect(action, into: &effects, state: &state)
        }
        run(effects)
    }

    /// Gives a connection back to be closed; the pool reconnects the slot at once.
    public func disconnect(_ lease: PoolLease<Connection>, error: any Error) {
        giveBackBroken(lease, error: error, stop: false)
    }

    /// Gives a connection back that crashed; it is closed and counts towards ``PoolConfiguration/maxRestarts``.
    public func stop(_ lease: PoolLease<Connection>, error: any Error) {
        giveBackBroken(lease, error: error, stop: true)
    }

    private func giveBackBroken(_ lease: PoolLease<Connection>, error: any Error, stop: Bool) {
        let now = clock.now()
        var connectionError: ConnectionError
        if let error = error as? ConnectionError {
            connectionError = error
        } else {
            connectionError = ConnectionError(.error, message: stop ? "client stopped: \(error)" : "\(error)", poolName: name)
            connectionError.underlying = error
        }
        var effects = Effects()
        state.withLock { state in
            let slot = lease.holder.id.poolIndex - 1
            guard state.holders[slot] === lease.holder else { return }
            switch lease.holder.release(generation: lease.generation) {
            case .released, .busy:
                let action = state.machine.disconnect(
                    slot: slot,
                    generation: lease.generation,
                    error: connectionError,
                    stop: stop,
                    now: now
                )
                self.collect(action, into: &effects, state: &state)
            case .stale:
                return
            }
        }
        run(effects)
    }

    // MARK: Introspection and control

    /// Idle connections, busy connections and queue length right now (db_connection's `get_connection_metrics`).
    public func metrics() -> PoolMetrics {
        state.withLock { $0.machine.metrics }
    }

    /// Recycles every connection open now, spread over `interval`: each is closed at its next check-in
    /// or idle tick after a per-connection offset in `[0, interval)`. Connections opened later are not
    /// affected. db_connection's `disconnect_all`.
    public func disconnectAll(interval: Duration = .zero) {
        let now = clock.now()
        state.withLock { $0.machine.disconnectAll(interval: interval, now: now) }
    }

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
                self.modify { $0.start(now: self.clock.now()) }
                while true {
                    switch await self.work.next() {
                    case .connect(let slot):
                        group.addTask { await self.connect(slot: slot) }
                    case .ping(let slot, let holder):
                        group.addTask { await self.ping(slot: slot, holder: holder) }
                    case .close(let close, let holder):
                        group.addTask { await self.close(close, holder: holder) }
                    case .timer(let timer):
                        group.addTask {
                            do {
                                try await self.clock.sleep(timer.fireAt)
                            } catch {
                                return
                            }
                            self.modify { $0.timerFired(timer, now: self.clock.now()) }
                            if case .idle = timer.kind { self.recordGauges() }
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
        modify { $0.shutdown(now: self.clock.now()) }
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
            modify { state in
                state.holders[slot] = newHolder
            } then: {
                $0.connectSucceeded(slot: slot, now: self.clock.now())
            }
        } catch {
            let message = holder == nil ? "failed to connect" : "failed to set up the new connection"
            logger.error(
                "\(message): \(error)",
                metadata: ["db.pool": "\(name)", "db.connection": "db_conn_\(index)"]
            )
            if let holder {
                let closeError = ConnectionError(.error, message: "\(message): \(error)", poolName: name)
                if holder.retire(error: closeError) == .closeNow {
                    await holder.connection.disconnect(error: (error as? DisconnectError)?.underlying ?? error)
                }
                instruments.disconnects.increment()
                notify(.disconnected(holder.id, tag: nil))
            }
            modify { $0.connectFailed(slot: slot, now: self.clock.now()) }
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
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await afterConnect(connection)
                return true
            }
            group.addTask {
                try await clock.sleep(deadline)
                return false
            }
            defer { group.cancelAll() }
            guard let finished = try await group.next(), finished else {
                throw ConnectionError(
                    .deadline,
                    message: "client timed out because it checked out the connection for longer than \(timeout.milliseconds)ms",
                    poolName: self.name,
                    call: "afterConnect"
                )
            }
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
            modify { $0.pingSucceeded(slot: slot, now: self.clock.now()) }
        } catch {
            let underlying = (error as? DisconnectError)?.underlying ?? error
            let connectionError =
                (underlying as? ConnectionError)
                ?? ConnectionError(.error, message: "ping failed: \(underlying)", poolName: name, call: "ping")
            modify { $0.pingFailed(slot: slot, error: connectionError) }
        }
    }

    private func close(_ close: Machine.Close, holder: ConnectionHolder<Connection>?) async {
        if let holder {
            log(close.error, connection: holder.id)
            switch holder.retire(error: close.error) {
            case .closeNow:
                await holder.connection.disconnect(error: close.error.underlying ?? close.error)
            case .closeAfterCall:
                await holder.connection.interrupt()
            case .alreadyRetired:
                break
            }
            instruments.disconnects.increment()
            notify(.disconnected(holder.id, tag: nil))
        }
        modify { state in
            if state.holders[close.slot] === holder { state.holders[close.slot] = nil }
        } then: {
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

    private func recordGauges() {
        let metrics = self.metrics()
        instruments.idle.record(metrics.idleConnections)
        instruments.busy.record(metrics.busyConnections)
        instruments.open.record(metrics.openConnections)
        instruments.queue.record(metrics.queueLength)
    }

    // MARK: Carrying out actions

    private func modify(_ event: (inout Machine) -> Machine.Action) {
        modify({ _ in }, then: event)
    }

    private func modify(_ prepare: (inout State) -> Void, then event: (inout Machine) -> Machine.Action) {
        var effects = Effects()
        state.withLock { state in
            prepare(&state)
            let action = event(&state.machine)
            self.collect(action, into: &effects, state: &state)
        }
        run(effects)
    }

    private func makeLease(
        _ grant: Machine.Grant,
        requestedAt: ContinuousClock.Instant,
        now: ContinuousClock.Instant,
        state: inout State
    ) -> PoolLease<Connection> {
        let holder = state.holders[grant.slot]!
        holder.grant(generation: grant.generation)
        return PoolLease(
            holder: holder,
            generation: grant.generation,
            poolTime: requestedAt.duration(to: now),
            idleTime: grant.idleTime,
            deadline: grant.deadline
        )
    }

    /// Turns an action into effects; under the lock, so continuations and holders are taken atomically.
    private func collect(_ action: Machine.Action, into effects: inout Effects, state: inout State) {
        if let lease = action.lease {
            let continuation = state.waiters.removeValue(forKey: lease.request)!
            let made = makeLease(lease.grant, requestedAt: lease.requestedAt, now: clock.now(), state: &state)
            effects.lease = (continuation, made)
        }
        for failure in action.failures {
            if let continuation = state.waiters.removeValue(forKey: failure.request) {
                effects.failures.append((continuation, failure.error))
            }
        }
        for slot in action.connect { effects.work.append(.connect(slot)) }
        for slot in action.ping {
            if let holder = state.holders[slot] { effects.work.append(.ping(slot, holder)) }
        }
        for close in action.close { effects.work.append(.close(close, state.holders[close.slot])) }
        for timer in action.timers { effects.work.append(.timer(timer)) }
        if let stopped = action.stopped {
            logger.error("\(stopped.message)", metadata: ["db.pool": "\(name)"])
        }
        if action.shutdownComplete {
            effects.work.append(.finished(state.machine.stoppedError))
        }
        if !action.failures.isEmpty {
            instruments.drops.increment(by: action.failures.count(where: { $0.error.reason == .queueTimeout }))
        }
    }

    private func run(_ effects: consuming Effects) {
        if let (continuation, lease) = effects.lease {
            continuation.resume(returning: lease)
        }
        for (continuation, error) in effects.failures {
            continuation.resume(throwing: error)
        }
        for item in effects.work {
            work.push(item)
        }
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

/// The pool's swift-metrics instruments, made once.
struct Instruments: Sendable {
    let connects: Counter
    let disconnects: Counter
    let drops: Counter
    let waitTime: Metrics.Timer
    let idle: Gauge
    let busy: Gauge
    let open: Gauge
    let queue: Gauge

    init(name: String) {
        let dimensions = [("pool", name)]
        idle = Gauge(label: "db.pool.connections.idle", dimensions: dimensions)
        busy = Gauge(label: "db.pool.connections.busy", dimensions: dimensions)
        open = Gauge(label: "db.pool.connections.open", dimensions: dimensions)
        queue = Gauge(label: "db.pool.queue.length", dimensions: dimensions)
        connects = Counter(label: "db.pool.connects", dimensions: dimensions)
        disconnects = Counter(label: "db.pool.disconnects", dimensions: dimensions)
        drops = Counter(label: "db.pool.queue.drops", dimensions: dimensions)
        waitTime = Metrics.Timer(label: "db.pool.wait_time", dimensions: dimensions)
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (s, a) = components
        return s * 1_000_000_000 + a / 1_000_000_000
    }
}
