import DequeModule
import Logging
import Metrics
import Synchronization

/// A lease as the runner sees it: the connection's holder as an untyped object, so that the runner is
/// not generic and its checkout and check-in run without generic metadata lookups. Usable from
/// inlinable code, so that ``ConnectionPool/checkout(options:)`` is specialized in the caller's module.
@usableFromInline
struct CoreLease: Sendable {
    @usableFromInline let holder: any AnyObject & Sendable
    @usableFromInline let generation: UInt64
    @usableFromInline let poolTime: Duration?
    @usableFromInline let idleTime: Duration?
    /// On the pool's clock (a frozen layout; `ContinuousClock.Instant` is resilient and would make
    /// every copy of this struct go through runtime witnesses): ``PoolClock/leaseDeadline(_:)`` converts.
    @usableFromInline let deadline: PoolInstant?
}

/// What the synchronous half of a checkout found.
@usableFromInline
enum FastCheckout: Sendable {
    /// An idle connection, lent at once.
    case leased(CoreLease)
    /// Nothing idle: wait with ``PoolRunner/waitForConnection(requestedAt:deadline:)``, keeping the
    /// instant the caller asked and its deadline (time in the queue counts).
    case mustWait(requestedAt: PoolInstant, deadline: PoolInstant?)
}

/// The runner's hot half: one lock around the state machine, the waiting continuations and the lease
/// guards; it carries out the machine's actions after unlocking. Background work goes to ``work``,
/// which ``ConnectionPool/run()`` reads (it knows the driver's type).
@usableFromInline
final class PoolRunner: Sendable {
    typealias Machine = PoolStateMachine
    /// Unchecked, to save the checked variant's allocation per wait: every continuation is resumed
    /// exactly once, by whoever removes it from `waiters` under the lock (a lease, a failure, or the
    /// cancellation handler), or at once when it was never stored.
    typealias Continuation = UnsafeContinuation<CoreLease, any Error>

    struct State: ~Copyable {
        var machine: Machine
        /// In the machine's queue order: a lease for the machine's head waiter finds its continuation
        /// at the head.
        var waiters: WaiterQueue<Continuation>
        /// The holder of each slot's open connection (a `ConnectionHolder<Connection>`).
        var holders: [(any AnyObject & Sendable)?]
        /// Each slot's lease guard: the `leaseGuard` of `holders[slot]`, set and cleared with it.
        /// Unretained, so that the hot path calls it without a retain and a release; the holder in
        /// `holders[slot]` keeps it alive (a `let` of the holder) for as long as the entry is here.
        var guards: [Unmanaged<LeaseGuard>?]
    }

    enum Work: Sendable {
        case connect(Machine.SlotID)
        case ping(Machine.SlotID, any AnyObject & Sendable)
        case close(Machine.Close, (any AnyObject & Sendable)?)
        /// Interrupt the running call of a reclaimed lease and report the driver's outcome.
        case interrupt(Machine.Reclaim, any AnyObject & Sendable)
        /// Check a reclaimed connection on which no call was running.
        case checkReclaimed(LeaseGuard.Reclaim, any AnyObject & Sendable)
        case timer(Machine.Timer)
        case finished(ConnectionError?)
    }

    /// What to do after unlocking. Empty on the fast path.
    struct Effects: ~Copyable {
        var lease: (Continuation, CoreLease)?
        var failures: [(Continuation, ConnectionError)] = []
        var work: [Work] = []
    }

    let name: String
    @usableFromInline let clock: PoolClock
    let logger: Logger
    let instruments: Instruments
    let work = WorkQueue<Work>()
    private let state: Mutex<State>
    private let nextRequestID = Atomic<UInt64>(1)

    init(machine: Machine, name: String, clock: PoolClock, logger: Logger, poolSize: Int) {
        self.name = name
        self.clock = clock
        self.logger = logger
        self.instruments = Instruments(name: name)
        self.state = Mutex(
            State(
                machine: machine,
                waiters: WaiterQueue(minimumCapacity: 64),
                holders: Array(repeating: nil, count: poolSize),
                guards: Array(repeating: nil, count: poolSize)
            )
        )
    }

    // MARK: Checkout and check-in

    /// The fast path: a lease at once, a failure at once, or ``FastCheckout/mustWait(requestedAt:deadline:)``.
    /// Synchronous, so an idle connection is handed out without an async frame of its own.
    @usableFromInline
    func tryCheckout(options: CallOptions, affinity: UInt) throws -> FastCheckout {
        let now = clock.now()
        let deadline = clock.deadline(for: options, now: now)
        var failure: ConnectionError?
        // Effects only when the machine asks for work (a new deadline timer): the common case builds none.
        var effects: Effects? = nil
        let lease: CoreLease? = state.withLock { state in
            // The common case first: a small grant instead of a `CheckoutResult` with an `Action`.
            if let grant = state.machine.checkoutIdle(now: now, deadline: deadline, affinity: affinity) {
                return self.makeLease(grant, requestedAt: now, now: now, state: &state)
            }
            switch state.machine.checkout(
                request: nil,
                now: now,
                deadline: deadline,
                queue: options.queue,
                affinity: affinity
            ) {
            case .leased(let grant, let action):
                let lease = self.makeLease(grant, requestedAt: now, now: now, state: &state)
                if action.hasWork {
                    var collected = Effects()
                    self.collect(action, into: &collected, state: &state)
                    effects = consume collected
                }
                return lease
            case .failed(let error):
                failure = error
                return nil
            case .mustWait, .queued:
                return nil
            }
        }
        if let effects = effects.take() { run(effects) }
        if let failure { throw failure }
        guard let lease else { return .mustWait(requestedAt: now, deadline: deadline) }
        instruments.waitTime.recordNanoseconds(0)
        return .leased(lease)
    }

    /// The slow path: queue, and wait for a connection, a failure, or cancellation.
    @usableFromInline
    func waitForConnection(
        requestedAt: PoolInstant,
        deadline: PoolInstant?
    ) async throws -> CoreLease {
        // From an atomic counter, not the machine: one lock round less per waiting checkout. Ids only
        // need to be unique; the queue keeps arrival order itself.
        let request = nextRequestID.wrappingAdd(1, ordering: .relaxed).oldValue
        let lease = try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: Continuation) in
                var effects = Effects()
                let immediate: Result<CoreLease, any Error>? = state.withLock { state in
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
                        state.waiters.append(request, continuation)
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
                return state.waiters.remove(request)
            }
            continuation?.resume(throwing: CancellationError())
        }
        if let poolTime = lease.poolTime {
            instruments.waitTime.recordNanoseconds(poolTime.nanoseconds)
        }
        return lease
    }

    func checkin(slot: Int, holder: AnyObject, generation: UInt64) {
        let now = clock.now()
        // As in `tryCheckout`: effects only when the check-in has work (a waiter to serve, a close).
        var effects: Effects? = nil
        state.withLock { state in
            guard state.holders[slot] === holder, let leaseGuard = state.guards[slot] else { return }
            let action: Machine.Action
            switch leaseGuard._withUnsafeGuaranteedRef({ $0.release(generation: generation) }) {
            case .released:
                // The common case first: back to idle, no `Action` built.
                if state.machine.checkinToIdle(slot: slot, generation: generation, now: now) { return }
                action = state.machine.checkin(slot: slot, generation: generation, now: now)
            case .busy:
                let error = ConnectionError(
                    .closed,
                    message: "the connection was checked in while a call was still running on it",
                    poolName: name
                )
                action = state.machine.disconnect(slot: slot, generation: generation, error: error, stop: true, now: now)
            case .stale:
                return
            }
            if action.hasWork {
                var collected = Effects()
                self.collect(action, into: &collected, state: &state, now: now)
                effects = consume collected
            }
        }
        if let effects = effects.take() { run(effects) }
    }

    func giveBackBroken(slot: Int, holder: AnyObject, generation: UInt64, error: any Error, stop: Bool) {
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
            guard state.holders[slot] === holder, let leaseGuard = state.guards[slot] else { return }
            switch leaseGuard.takeUnretainedValue().release(generation: generation) {
            case .released, .busy:
                let action = state.machine.disconnect(
                    slot: slot,
                    generation: generation,
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

    func metrics() -> PoolMetrics {
        state.withLock { $0.machine.metrics }
    }

    func disconnectAll(interval: Duration) {
        let now = clock.now()
        state.withLock { $0.machine.disconnectAll(interval: interval, now: now) }
    }

    func recordGauges() {
        let metrics = self.metrics()
        instruments.idle.record(metrics.idleConnections)
        instruments.busy.record(metrics.busyConnections)
        instruments.open.record(metrics.openConnections)
        instruments.queue.record(metrics.queueLength)
    }

    // MARK: Carrying out actions

    func modify(_ event: (inout Machine) -> Machine.Action) {
        var effects = Effects()
        state.withLock { state in
            let action = event(&state.machine)
            self.collect(action, into: &effects, state: &state)
        }
        run(effects)
    }

    /// Installs (or, with `nil`, removes) the holder of a slot, then runs `event`. `leaseGuard` is the
    /// holder's own guard (``State/guards`` keeps it unretained, alive through the holder).
    func modify(
        slot: Int,
        holder: (any AnyObject & Sendable)?,
        leaseGuard: LeaseGuard?,
        onlyIfCurrent current: AnyObject? = nil,
        then event: (inout Machine) -> Machine.Action
    ) {
        var effects = Effects()
        state.withLock { state in
            if let current {
                if state.holders[slot] === current {
                    state.holders[slot] = nil
                    state.guards[slot] = nil
                }
            } else {
                state.holders[slot] = holder
                state.guards[slot] = leaseGuard.map(Unmanaged.passUnretained)
            }
            let action = event(&state.machine)
            self.collect(action, into: &effects, state: &state)
        }
        run(effects)
    }

    private func makeLease(
        _ grant: Machine.Grant,
        requestedAt: PoolInstant,
        now: PoolInstant,
        state: inout State
    ) -> CoreLease {
        state.guards[grant.slot]!._withUnsafeGuaranteedRef { $0.grant(generation: grant.generation) }
        return CoreLease(
            holder: state.holders[grant.slot]!,
            generation: grant.generation,
            poolTime: requestedAt.duration(to: now),
            idleTime: grant.idleTime,
            deadline: grant.deadline
        )
    }

    /// Turns an action into effects; under the lock, so continuations and holders are taken atomically.
    private func collect(_ action: Machine.Action, into effects: inout Effects, state: inout State, now: PoolInstant? = nil) {
        if let lease = action.lease {
            let continuation = state.waiters.remove(lease.request)!
            let made = self.makeLease(lease.grant, requestedAt: lease.requestedAt, now: now ?? clock.now(), state: &state)
            effects.lease = (continuation, made)
        }
        for failure in action.failures {
            if let continuation = state.waiters.remove(failure.request) {
                effects.failures.append((continuation, failure.error))
            }
        }
        for slot in action.connect { effects.work.append(.connect(slot)) }
        for slot in action.ping {
            if let holder = state.holders[slot] { effects.work.append(.ping(slot, holder)) }
        }
        for close in action.close { effects.work.append(.close(close, state.holders[close.slot])) }
        for reclaim in action.reclaim { self.reclaim(reclaim, into: &effects, state: &state) }
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

    /// Takes a lease back at its deadline, atomically with the machine's decision: the caller's next
    /// call fails at once, and its check-in is stale.
    private func reclaim(_ reclaim: Machine.Reclaim, into effects: inout Effects, state: inout State) {
        let slot = reclaim.slot
        let generation = reclaim.generation
        guard let holder = state.holders[slot], let leaseGuard = state.guards[slot]?.takeUnretainedValue() else { return }
        let report = LeaseGuard.Reclaim(error: reclaim.error) { [clock] clean in
            self.modify { $0.reclaimChecked(slot: slot, generation: generation, clean: clean, now: clock.now()) }
        }
        logger.debug(
            "\(reclaim.error.message): taking the connection back",
            metadata: ["db.pool": "\(name)", "db.connection": "db_conn_\(slot + 1)"]
        )
        let next: Machine.Action
        switch leaseGuard.reclaim(generation: generation, report) {
        case .callRunning:
            effects.work.append(.interrupt(reclaim, holder))
            return
        case .noCall:
            effects.work.append(.checkReclaimed(report, holder))
            next = state.machine.reclaimInterrupted(slot: slot, generation: generation, confirmed: true, now: clock.now())
        case .stale:
            next = state.machine.reclaimChecked(slot: slot, generation: generation, clean: false, now: clock.now())
        }
        if next.hasWork { collect(next, into: &effects, state: &state) }
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
