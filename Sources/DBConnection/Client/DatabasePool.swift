/// The pluggable pool contract: db_connection's `DBConnection.Pool` behaviour (v1.1: checkout,
/// checkin, disconnect, stop).
///
/// The client API (``withConnection(options:isolation:_:)`` and everything built on it) is written once
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
    public let deadline: ContinuousClock.Instant?

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
        self.deadline = deadline
    }

    /// The connection's identity.
    public var connectionID: ConnectionID { holder.id }
}
