import DequeModule
import Logging

/// All of the pool's decisions, as a pure value: events in, one ``Action`` out.
///
/// No I/O, no locks, no clock reads: every event takes `now`. The runner (``ConnectionPool``) holds it
/// under one lock and carries out the actions after unlocking. Connections are slots `0..<poolSize`;
/// callers waiting for one are ``RequestID``s.
///
/// The queue is db_connection's (`connection_pool.ex`): idle connections are handed out longest-idle
/// first, waiters are served first come first served, and a CoDel record decides when waiters are
/// dropped (see `PoolStateMachine+Queue.swift`).
struct PoolStateMachine: Sendable {
    typealias Instant = PoolInstant
    typealias RequestID = UInt64
    typealias SlotID = Int

    struct Configuration: Sendable {
        var name: String
        var poolSize: Int
        var queueTarget: Duration
        var queueInterval: Duration
        var idleInterval: Duration
        var idleLimit: Int
        var backoffType: BackoffType
        var backoffMin: Duration
        var backoffMax: Duration
        var maxLifetime: ClosedRange<Duration>?
        var maxRestarts: Int
        var maxSeconds: Duration
        var seed: UInt64
        /// How long an interrupted lease may take to prove clean; `nil`: close it at once.
        var interruptGracePeriod: Duration? = nil
    }

    /// A connection handed to a caller.
    struct Grant: Sendable, Hashable {
        var slot: SlotID
        /// Counts the leases of the slot; a handle with an older generation is stale.
        var generation: UInt64
        /// How long the connection was idle before this lease (zero when it came straight from a check-in).
        var idleTime: Duration
        /// When the lease must end.
        var deadline: Instant?
    }

    /// A connection to close, and why.
    struct Close: Sendable, Equatable {
        var slot: SlotID
        var error: ConnectionError
        /// The lease to revoke, when the connection is taken from a caller (deadline).
        var revoking: UInt64?
        /// Whether to interrupt a call still running on it; not when it was interrupted already.
        var interrupt = true

        static func == (a: Close, b: Close) -> Bool {
            a.slot == b.slot && a.error.reason == b.error.reason && a.error.message == b.error.message
                && a.revoking == b.revoking && a.interrupt == b.interrupt
        }
    }

    /// A lease whose deadline passed, to take back without closing its connection if it proves clean:
    /// the runner revokes the lease, interrupts its call, has the connection checked, and reports with
    /// ``PoolStateMachine/reclaimInterrupted(slot:generation:confirmed:now:)`` and
    /// ``PoolStateMachine/reclaimChecked(slot:generation:clean:now:)``.
    struct Reclaim: Sendable, Equatable {
        var slot: SlotID
        var generation: UInt64
        var error: ConnectionError

        static func == (a: Reclaim, b: Reclaim) -> Bool {
            a.slot == b.slot && a.generation == b.generation && a.error.reason == b.error.reason
        }
    }

    /// A waiter to fail.
    struct Failure: Sendable, Equatable {
        var request: RequestID
        var error: ConnectionError

        static func == (a: Failure, b: Failure) -> Bool { a.request == b.request && a.error.reason == b.error.reason }
    }

    /// What the runner must do after an event. Each part is empty when there is nothing to do.
    ///
    /// Only ``lease`` is stored inline: it is the one part the hot path (a check-in handing the
    /// connection to a waiter) produces. Everything else lives in a box allocated on first use, so an
    /// empty action is a few bytes to copy.
    struct Action: Sendable, Equatable {
        /// Hand a connection to a waiting caller (at most one per event).
        var lease: Lease?
        private var box: Box?

        struct Rest: Sendable, Equatable {
            var failures: [Failure] = []
            var connect: [SlotID] = []
            var ping: [SlotID] = []
            var close: [Close] = []
            var reclaim: [Reclaim] = []
            var timers: [Timer] = []
            var stopped: ConnectionError?
            var shutdownComplete = false

            static func == (a: Rest, b: Rest) -> Bool {
                a.failures == b.failures && a.connect == b.connect && a.ping == b.ping && a.close == b.close
                    && a.reclaim == b.reclaim && a.timers == b.timers && a.stopped?.reason == b.stopped?.reason
                    && a.shutdownComplete == b.shutdownComplete
            }
        }

        final class Box: Sendable {
            let rest: Rest
            init(_ rest: Rest) { self.rest = rest }
        }

        init(lease: Lease? = nil) { self.lease = lease }

        private var rest: Rest {
            get { box?.rest ?? Rest() }
            set { box = Box(newValue) }
        }

        /// Fail waiting callers.
        var failures: [Failure] {
            get { box?.rest.failures ?? [] }
            set { rest.failures = newValue }
        }
        /// Open a connection in these slots.
        var connect: [SlotID] {
            get { box?.rest.connect ?? [] }
            set { rest.connect = newValue }
        }
        /// Ping these idle connections.
        var ping: [SlotID] {
            get { box?.rest.ping ?? [] }
            set { rest.ping = newValue }
        }
        /// Close these connections.
        var close: [Close] {
            get { box?.rest.close ?? [] }
            set { rest.close = newValue }
        }
        /// Take these leases back at their deadline, interrupt their calls and check the connections.
        var reclaim: [Reclaim] {
            get { box?.rest.reclaim ?? [] }
            set { rest.reclaim = newValue }
        }
        /// Arm these timers.
        var timers: [Timer] {
            get { box?.rest.timers ?? [] }
            set { rest.timers = newValue }
        }
        /// The pool stopped with this error (restart intensity exceeded).
        var stopped: ConnectionError? {
            get { box?.rest.stopped }
            set { rest.stopped = newValue }
        }
        /// Every connection is closed after a shutdown.
        var shutdownComplete: Bool {
            get { box?.rest.shutdownComplete ?? false }
            set { rest.shutdownComplete = newValue }
        }

        struct Lease: Sendable, Hashable {
            var request: RequestID
            var grant: Grant
            /// When the waiter asked, for its pool time.
            var requestedAt: Instant
        }

        static let none = Action()

        /// Whether the runner has anything to do; cheaper than comparing with ``none``.
        var hasWork: Bool { lease != nil || box != nil }

        static func == (a: Action, b: Action) -> Bool {
            a.lease == b.lease && (a.box?.rest ?? Rest()) == (b.box?.rest ?? Rest())
        }

        mutating func merge(_ other: Action) {
            if let l = other.lease {
                precondition(lease == nil, "two leases in one action")
                lease = l
            }
            guard let theirs = other.box?.rest else { return }
            var mine = rest
            mine.failures += theirs.failures
            mine.connect += theirs.connect
            mine.ping += theirs.ping
            mine.close += theirs.close
            mine.reclaim += theirs.reclaim
            mine.timers += theirs.timers
            if let s = theirs.stopped { mine.stopped = s }
            mine.shutdownComplete = mine.shutdownComplete || theirs.shutdownComplete
            rest = mine
        }
    }

    /// The outcome of a checkout.
    enum CheckoutResult: Sendable, Equatable {
        /// A connection, right away.
        case leased(Grant, Action)
        /// Nothing idle: the caller must queue (call again with a request id).
        case mustWait
        /// Queued; the connection comes later in an ``Action/lease``.
        case queued(Action)
        /// The checkout failed at once.
        case failed(ConnectionError)
    }

    let configuration: Configuration
    var slots: [Slot]
    /// Idle slots, longest idle first. May hold stale entries (skipped).
    var idle: Deque<SlotID>
    var idleCount = 0
    var leasedCount = 0
    /// db_connection's `busy` state: no idle connection was found at the last checkout, so check-ins go
    /// through the CoDel dequeue.
    var busy = true
    /// Waiting callers, first come first served.
    var waiters: WaiterQueue<Waiter>
    var codel: CoDel
    var timers: TimerState
    var disconnectAllRequest: (at: Instant, interval: Duration)?
    /// Whether connections can need recycling at all (`maxLifetime` set or `disconnectAll` requested):
    /// one flag for the check-in to test instead of both.
    var recycles: Bool
    var restarts: Deque<Instant> = []
    var random: SplitMix64
    var phase: Phase = .running

    enum Phase: Sendable, Equatable {
        case running
        case shuttingDown
        case stopped(ConnectionError)

        static func == (a: Phase, b: Phase) -> Bool {
            switch (a, b) {
            case (.running, .running), (.shuttingDown, .shuttingDown), (.stopped, .stopped): true
            default: false
            }
        }
    }

    struct Waiter: Sendable, Hashable {
        var requestedAt: Instant
        var deadline: Instant?
    }

    var stoppedError: ConnectionError? {
        if case .stopped(let error) = phase { return error }
        return nil
    }

    init(configuration: Configuration, now: Instant) {
        self.configuration = configuration
        self.recycles = configuration.maxLifetime != nil
        var random = SplitMix64(seed: configuration.seed)
        self.slots = (0..<configuration.poolSize).map { _ in
            Slot(
                backoff: Backoff(
                    type: configuration.backoffType,
                    min: configuration.backoffMin,
                    max: configuration.backoffMax
                ),
                spread: random.next()
            )
        }
        self.random = random
        self.idle = Deque(minimumCapacity: configuration.poolSize)
        self.waiters = WaiterQueue(minimumCapacity: 64)
        self.codel = CoDel(delay: .zero, slow: false, next: now)
        self.timers = TimerState()
    }

    /// The pool starts: connect every slot, arm the poll and idle timers.
    mutating func start(now: Instant) -> Action {
        var action = Action()
        for slot in slots.indices {
            slots[slot].state = .connecting
            action.connect.append(slot)
        }
        action.timers.append(armPoll(now: now, lastSent: now))
        action.timers.append(armIdle(now: now))
        return action
    }

    /// A snapshot for `metrics()`.
    var metrics: PoolMetrics {
        PoolMetrics(
            idleConnections: idleCount,
            busyConnections: leasedCount,
            queueLength: waiters.count,
            openConnections: slots.lazy.filter(\.isOpen).count
        )
    }
}

/// What the pool looks like right now: db_connection's `get_connection_metrics`, and more.
public struct PoolMetrics: Sendable, Hashable {
    /// Connections idle in the pool, ready to be checked out (db_connection's `ready_conn_count`).
    public var idleConnections: Int
    /// Connections lent to callers.
    public var busyConnections: Int
    /// Callers waiting for a connection (db_connection's `checkout_queue_length`).
    public var queueLength: Int
    /// Connections that are open: idle, lent, or being pinged.
    public var openConnections: Int

    /// Makes a snapshot.
    public init(idleConnections: Int, busyConnections: Int, queueLength: Int, openConnections: Int) {
        self.idleConnections = idleConnections
        self.busyConnections = busyConnections
        self.queueLength = queueLength
        self.openConnections = openConnections
    }
}
