public import Logging
import Synchronization

/// Guards one open connection across leases: db_connection's holder.
///
/// A pool makes one holder per open connection and grants it to one caller at a time, each grant with
/// a new generation. Every driver call goes through ``withCall(generation:call:_:)``, which throws
/// ``ConnectionError`` with reason ``ConnectionError/Reason/closed`` when the lease is stale (the pool
/// took the connection back: deadline, disconnect, shutdown). When the pool retires a holder while a
/// call runs, the connection is closed by that call's task as soon as the call returns, so
/// ``DatabaseConnection/disconnect(error:)`` never runs concurrently with another callback and runs
/// exactly once.
public final class ConnectionHolder<Connection: DatabaseConnection>: Sendable {
    /// The connection.
    public let connection: Connection
    /// The slot's identity.
    public let id: ConnectionID

    /// Where calls on this connection log their entries (the pool's logger).
    package let logger: Logger

    /// The lease state, kept apart from the connection's type so the pool's hot path is not generic.
    @usableFromInline let leaseGuard: LeaseGuard

    /// The client's view of a transaction on this lease (db_connection's holder flag).
    package typealias TransactionMark = LeaseGuard.TransactionMark

    /// Makes a holder for a freshly opened connection.
    /// - Parameters:
    ///   - connection: the connection.
    ///   - id: the slot's identity.
    ///   - logger: where calls on the connection write their debug lines; by default nowhere.
    public init(connection: Connection, id: ConnectionID, logger: Logger? = nil) {
        self.connection = connection
        self.id = id
        self.logger = logger ?? Logger(label: "DBConnection", factory: { _ in SwiftLogNoOpLogHandler() })
        self.leaseGuard = LeaseGuard()
    }

    package var systemName: String { Connection.systemName }

    /// Lends the connection under a new generation. Pools call this before handing out a ``PoolLease``.
    public func grant(generation: UInt64) { leaseGuard.grant(generation: generation) }

    /// What ``release(generation:)`` found.
    public typealias ReleaseOutcome = LeaseGuard.ReleaseOutcome

    /// Ends a lease. Pools call this when a caller gives the connection back.
    public func release(generation: UInt64) -> ReleaseOutcome { leaseGuard.release(generation: generation) }

    /// What ``retire(error:)`` found.
    public typealias RetireOutcome = LeaseGuard.RetireOutcome

    /// Takes the connection out of service for good. Every later use of any lease throws.
    public func retire(error: ConnectionError) -> RetireOutcome { leaseGuard.retire(error: error) }

    /// Runs one driver call under the lease, or throws if the lease is stale.
    ///
    /// If the pool retired the holder while the call ran, the connection is closed once the call
    /// returns; a successful late reply is still returned (as db_connection does).
    /// - Parameters:
    ///   - generation: the lease's generation.
    ///   - call: the call's name, for the error.
    ///   - body: the call.
    /// - Throws: ``ConnectionError`` (reason `closed`) when the lease is stale, or what `body` throws.
    ///
    /// Inlinable like the client calls above it: specialized in the caller's module, a call costs
    /// fewer task allocations (3 per statement fewer on `dbconn bench`).
    @inlinable
    public func withCall<T>(
        generation: UInt64,
        call: StaticString,
        _ body: (Connection) async throws -> T
    ) async throws -> T {
        try beginCall(generation: generation, call: call)
        // No `Result<T, any Error>` local: in this generic function it would be sized at run time and
        // allocated on the task at every call.
        let value: T
        do {
            value = try await body(connection)
        } catch {
            throw await endCall(generation: generation, failedWith: error)
        }
        let end = leaseGuard.endCall(generation: generation)
        if case .finished = end { return value }
        await settle(end)
        return value
    }

    /// Ends a call that threw `error`; returns what the caller gets: `error`, or, when the pool took
    /// the connection back meanwhile, an error that says so.
    @usableFromInline
    func endCall(generation: UInt64, failedWith error: any Error) async -> any Error {
        let end = leaseGuard.endCall(generation: generation)
        await settle(end)
        switch end {
        case .finished:
            return error
        case .close:
            if let disconnect = error as? DisconnectError, var connectionError = disconnect.underlying as? ConnectionError {
                connectionError.message +=
                    " (the connection was closed by the pool, possibly due to a timeout or because the pool has been terminated)"
                return DisconnectError(connectionError, retry: disconnect.retry)
            }
            return error
        case .check(let reclaim):
            // The pool took the lease back at its deadline and interrupted this call: tell the caller
            // its deadline passed.
            var deadlineError = reclaim.error
            deadlineError.underlying = (error as? DisconnectError)?.underlying ?? error
            return deadlineError
        }
    }

    /// Does what the end of a call found: nothing; close the connection the pool retired meanwhile;
    /// or check the connection for the pool, which took the lease back at its deadline.
    @usableFromInline
    func settle(_ end: LeaseGuard.EndCall) async {
        switch end {
        case .finished:
            break
        case .close(let closeError):
            await connection.disconnect(error: closeError.underlying ?? closeError)
        case .check(let reclaim):
            await checkReclaimed(reclaim)
        }
    }

    /// Checks a connection the pool took back at a deadline: the driver's `checkin` decides whether it
    /// is clean; the pool hears the verdict (or, when it closed the connection meanwhile, the connection
    /// is closed here, as after any call).
    package func checkReclaimed(_ reclaim: LeaseGuard.Reclaim) async {
        let clean: Bool
        do {
            try await connection.checkin()
            clean = true
        } catch {
            logger.debug(
                "a connection taken back at its deadline is not clean: \(error)",
                metadata: ["db.connection": "\(id)"]
            )
            clean = false
        }
        switch leaseGuard.finishCheck() {
        case .report:
            reclaim.report(clean)
        case .close(let closeError):
            await connection.disconnect(error: closeError.underlying ?? closeError)
        case .nothing:
            break
        }
    }

    @usableFromInline
    func beginCall(generation: UInt64, call: StaticString) throws {
        try leaseGuard.beginCall(generation: generation, call: call)
    }

    /// Whether the lease is still current (not stale, not retired).
    public func isCurrent(generation: UInt64) -> Bool { leaseGuard.isCurrent(generation: generation) }

    /// Queues work to run on the connection before its next call or when the lease ends (a cursor
    /// abandoned by an early `break` is deallocated this way).
    package func addCleanup(generation: UInt64, _ cleanup: @escaping @Sendable (Connection) async -> Void) {
        let connection = self.connection
        leaseGuard.addCleanup(generation: generation) { await cleanup(connection) }
    }

    /// Runs the queued cleanups, if any.
    @usableFromInline
    package func runCleanups(generation: UInt64) async {
        while let next = leaseGuard.nextCleanup(generation: generation) {
            do {
                try beginCall(generation: generation, call: "deallocate")
            } catch {
                return
            }
            await next()
            let end = leaseGuard.endCall(generation: generation)
            guard case .finished = end else {
                // Retired or reclaimed meanwhile: close or check the connection, and run no more.
                await settle(end)
                return
            }
        }
    }

    @usableFromInline
    package var hasCleanups: Bool { leaseGuard.hasCleanups }

    package func transactionMark(generation: UInt64) -> TransactionMark {
        leaseGuard.transactionMark(generation: generation)
    }

    package func setTransactionMark(_ mark: TransactionMark, generation: UInt64) {
        leaseGuard.setTransactionMark(mark, generation: generation)
    }
}

/// The lease state of one connection: generation, phase, transaction mark, pending cleanups. Not
/// generic, so the pool's runner handles it without generic metadata on its hot path.
public final class LeaseGuard: Sendable {
    struct State: Sendable {
        var generation: UInt64 = 0
        /// A plain tag, so that the hot transitions (grant, check-in, begin and end of a call) assign
        /// it without destroying an enum with payloads; the payloads live beside it.
        var phase: Phase = .pooled
        /// The reclaim, in `.reclaimedInCall` and `.checking`; `nil` in every other phase.
        var reclaim: Reclaim?
        /// Why the connection is being retired, in `.retiredInCall`; `nil` in every other phase.
        var retireError: ConnectionError?
        var transaction: TransactionMark = .none
        var cleanups: [@Sendable () async -> Void] = []
    }

    enum Phase: Sendable {
        case pooled
        case leased
        case inCall
        /// The pool took the lease back at its deadline while a call ran: when the call returns, its
        /// task checks the connection (``ConnectionHolder/checkReclaimed(_:)``). `State.reclaim` is set.
        case reclaimedInCall
        /// The connection is being checked after a reclaim. `State.reclaim` is set.
        case checking
        /// Retired while a call runs: the call's task closes the connection. `State.retireError` is set.
        case retiredInCall
        case retired
    }

    /// A lease the pool took back at its deadline, hoping to keep the connection.
    @usableFromInline
    package struct Reclaim: Sendable {
        /// What the caller gets: its deadline passed.
        package let error: ConnectionError
        /// Tells the pool whether the connection is clean.
        package let report: @Sendable (_ clean: Bool) -> Void
    }

    /// What ``reclaim(generation:_:)`` found.
    enum ReclaimOutcome: Sendable, Equatable {
        /// A call is running: interrupt it; its task checks the connection when it returns.
        case callRunning
        /// No call is running: the pool checks the connection itself.
        case noCall
        /// The lease is over.
        case stale
    }

    /// How a call ended, for the task that ran it.
    @usableFromInline
    enum EndCall: Sendable {
        /// Normally.
        case finished
        /// The pool retired the connection meanwhile: close it.
        case close(ConnectionError)
        /// The pool reclaimed the lease meanwhile: check the connection.
        case check(Reclaim)
    }

    /// How a check after a reclaim ended.
    enum EndCheck: Sendable {
        /// Report the verdict to the pool (the connection is the pool's again).
        case report
        /// The pool retired the connection meanwhile: close it.
        case close(ConnectionError)
        /// Nothing to do.
        case nothing
    }

    /// The client's view of a transaction on this lease (db_connection's holder flag).
    package enum TransactionMark: Sendable, Equatable {
        /// Not inside a transaction.
        case none
        /// Inside a transaction that is fine.
        case ok
        /// Inside a transaction that failed: every call but cleanup fails, until it ends.
        case failed
    }

    /// What ``ConnectionHolder/release(generation:)`` found.
    public enum ReleaseOutcome: Sendable, Equatable {
        /// The lease ended; the connection is the pool's again.
        case released
        /// A call is still running on the connection (a caller gave it back mid-call): close it.
        case busy
        /// The lease was already over (the pool took the connection back).
        case stale
    }

    /// What ``ConnectionHolder/retire(error:)`` found.
    public enum RetireOutcome: Sendable, Equatable {
        /// The caller must close the connection now.
        case closeNow
        /// A call is running: its task closes the connection when the call returns.
        case closeAfterCall
        /// Already retired.
        case alreadyRetired
    }

    private let state = Mutex(State())
    /// Whether `State.cleanups` is not empty, stored under the lock whenever they change: every call
    /// and every check-in asks, and this answers without taking the lock. A cleanup added by another
    /// thread just after the load runs at the next call or check-in, as it would after a locked read.
    private let cleanupsPending = Atomic<Bool>(false)

    init() {}

    func grant(generation: UInt64) {
        state.withLock {
            $0.generation = generation
            $0.phase = .leased
            // The payloads are cleared when their phase ends, and a pool grants only a connection
            // that is not being checked or retired.
            assert($0.reclaim == nil && $0.retireError == nil, "granting a connection that is being checked or retired")
            $0.transaction = .none
        }
    }

    func release(generation: UInt64) -> ReleaseOutcome {
        state.withLock {
            guard $0.generation == generation else { return .stale }
            switch $0.phase {
            case .leased:
                $0.phase = .pooled
                if !$0.cleanups.isEmpty {
                    $0.cleanups = []
                    cleanupsPending.store(false, ordering: .releasing)
                }
                return .released
            case .inCall:
                return .busy
            case .pooled, .retired, .retiredInCall, .reclaimedInCall, .checking:
                return .stale
            }
        }
    }

    func retire(error: ConnectionError) -> RetireOutcome {
        state.withLock {
            switch $0.phase {
            case .inCall, .reclaimedInCall, .checking:
                $0.phase = .retiredInCall
                $0.retireError = error
                $0.reclaim = nil
                return .closeAfterCall
            case .retired, .retiredInCall:
                return .alreadyRetired
            case .pooled, .leased:
                $0.phase = .retired
                return .closeNow
            }
        }
    }

    @usableFromInline
    func beginCall(generation: UInt64, call: StaticString) throws {
        try state.withLock {
            guard $0.generation == generation else { throw ConnectionError.closed(pool: nil, call: "\(call)") }
            switch $0.phase {
            case .leased:
                $0.phase = .inCall
            case .inCall:
                throw ConnectionError(
                    .error,
                    message: "the connection is already running a call: a held connection serves one call at a time",
                    call: "\(call)"
                )
            case .pooled, .retired, .retiredInCall, .reclaimedInCall, .checking:
                throw ConnectionError.closed(pool: nil, call: "\(call)")
            }
        }
    }

    @usableFromInline
    func endCall(generation: UInt64) -> EndCall {
        state.withLock {
            switch $0.phase {
            case .inCall:
                $0.phase = .leased
                return .finished
            case .retiredInCall:
                $0.phase = .retired
                return .close($0.retireError.take()!)
            case .reclaimedInCall:
                $0.phase = .checking
                return .check($0.reclaim!)
            case .pooled, .leased, .retired, .checking:
                return .finished
            }
        }
    }

    /// The pool takes the lease back at its deadline (under the pool's lock, with the state machine's
    /// decision): new calls fail at once; a running call goes on until the driver's interrupt ends it.
    func reclaim(generation: UInt64, _ reclaim: Reclaim) -> ReclaimOutcome {
        state.withLock {
            guard $0.generation == generation else { return .stale }
            switch $0.phase {
            case .inCall:
                $0.phase = .reclaimedInCall
                $0.reclaim = reclaim
                return .callRunning
            case .leased:
                $0.phase = .checking
                $0.reclaim = reclaim
                return .noCall
            case .pooled, .reclaimedInCall, .checking, .retiredInCall, .retired:
                return .stale
            }
        }
    }

    /// Ends the check after a reclaim.
    func finishCheck() -> EndCheck {
        state.withLock {
            switch $0.phase {
            case .checking:
                $0.phase = .pooled
                $0.reclaim = nil
                if !$0.cleanups.isEmpty {
                    $0.cleanups = []
                    cleanupsPending.store(false, ordering: .releasing)
                }
                return .report
            case .retiredInCall:
                $0.phase = .retired
                return .close($0.retireError.take()!)
            case .pooled, .leased, .inCall, .reclaimedInCall, .retired:
                return .nothing
            }
        }
    }

    func isCurrent(generation: UInt64) -> Bool {
        state.withLock {
            guard $0.generation == generation else { return false }
            switch $0.phase {
            case .leased, .inCall: return true
            default: return false
            }
        }
    }

    func addCleanup(generation: UInt64, _ cleanup: @escaping @Sendable () async -> Void) {
        state.withLock {
            if $0.generation == generation {
                $0.cleanups.append(cleanup)
                cleanupsPending.store(true, ordering: .releasing)
            }
        }
    }

    func nextCleanup(generation: UInt64) -> (@Sendable () async -> Void)? {
        state.withLock {
            guard $0.generation == generation, !$0.cleanups.isEmpty else { return nil }
            let next = $0.cleanups.removeFirst()
            if $0.cleanups.isEmpty { cleanupsPending.store(false, ordering: .releasing) }
            return next
        }
    }

    var hasCleanups: Bool { cleanupsPending.load(ordering: .acquiring) }

    func transactionMark(generation: UInt64) -> TransactionMark {
        state.withLock { $0.generation == generation ? $0.transaction : .none }
    }

    func setTransactionMark(_ mark: TransactionMark, generation: UInt64) {
        state.withLock {
            if $0.generation == generation { $0.transaction = mark }
        }
    }
}
