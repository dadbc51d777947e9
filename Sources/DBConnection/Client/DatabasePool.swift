/// The pluggable pool contract: db_connection's `DBConnection.Pool` behaviour (v1.1: checkout,
/// checkin, disconnect, stop).
///
/// The client API (``withConnection(options:_:)`` and everything built on it) is written once
/// against this protocol, so it works the same on ``ConnectionPool``, on the ownership pool, and on a
/// pool of your own. A pool lends a connection as a ``PoolLease``, whose ``ConnectionHolder`` guards
/// every use: once the pool takes a connection back, the lease is stale and every use throws.
public protocol DatabasePool<Connection>: Sendable {
    /// The driver's connection type.
    associatedtype Connection: DatabaseConnection

    /// The pool's name, for errors and logs.
    var name: String { get }

    /// Lends a connection.
    /// - Parameter options: the call's options (queue, timeout, deadline).
    /// - Throws: ``ConnectionError`` when no connection can be had in time.
    func checkout(options: CallOptions) async throws -> PoolLease<Connection>

    /// Gives a connection back, in a known good state. A stale lease is ignored.
    func checkin(_ lease: PoolLease<Connection>)

    /// Gives a connection back to be closed, because of `error`; the pool reconnects.
    func disconnect(_ lease: PoolLease<Connection>, error: any Error)

    /// Gives a connection back that crashed (a call broke the driver contract or was cancelled in its
    /// middle): it is closed, and the pool counts the crash towards its restart intensity.
    func stop(_ lease: PoolLease<Connection>, error: any Error)
}

/// The instant every ``PoolLease`` counts its deadline from: any fixed instant will do.
let leaseDeadlineReference = ContinuousClock.now

/// One lease of a connection: what ``DatabasePool/checkout(options:)`` returns.
public struct PoolLease<Connection: DatabaseConnection>: Sendable {
    /// The guard of the connection; every call goes through it.
    public let holder: ConnectionHolder<Connection>
    /// Which lease of the holder this is; an older one is stale.
    public let generation: UInt64
    /// How long the caller waited for the connection, if the pool measured it.
    public let poolTime: Duration?
    /// How long the connection was idle before this lease, if the pool measured it.
    public let idleTime: Duration?
    /// When the lease must end, if ever.
    public var deadline: ContinuousClock.Instant? {
        deadlineSinceReference.map { leaseDeadlineReference.advanced(by: $0) }
    }
    /// ``deadline`` as the time since `leaseDeadlineReference`. `ContinuousClock.Instant` has a
    /// resilient layout, so a stored one makes every copy and destruction of a lease go through the
    /// runtime's value witnesses; a `Duration` is a frozen pair of integers.
    @usableFromInline let deadlineSinceReference: Duration?

    /// Makes a lease; pools call this after ``ConnectionHolder/grant(generation:)``.
    public init(
        holder: ConnectionHolder<Connection>,
        generation: UInt64,
        poolTime: Duration?,
        idleTime: Duration?,
        deadline: ContinuousClock.Instant?
    ) {
        self.holder = holder
        self.generation = generation
        self.poolTime = poolTime
        self.idleTime = idleTime
        self.deadlineSinceReference = deadline.map { leaseDeadlineReference.duration(to: $0) }
    }

    /// Makes a lease whose deadline is given as the time since `leaseDeadlineReference`: a pool's
    /// checkout, which has it that way (``PoolClock/leaseDeadline(_:)``).
    @usableFromInline
    init(
        holder: ConnectionHolder<Connection>,
        generation: UInt64,
        poolTime: Duration?,
        idleTime: Duration?,
        deadlineSinceReference: Duration?
    ) {
        self.holder = holder
        self.generation = generation
        self.poolTime = poolTime
        self.idleTime = idleTime
        self.deadlineSinceReference = deadlineSinceReference
    }

    /// The connection's identity.
    public var connectionID: ConnectionID { holder.id }
}
