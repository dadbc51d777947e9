public import Logging

/// The start options of a ``ConnectionPool``: db_connection's start options, with the same meanings
/// and defaults, as `Duration`s.
///
/// ```swift
/// var config = PoolConfiguration<SQLiteConnection>()
/// config.poolSize = 10
/// config.queueTarget = .milliseconds(50)
/// ```
public struct PoolConfiguration<Connection: DatabaseConnection>: Sendable {
    /// The pool's name, in error messages, log lines and metric dimensions. Default `"DBConnection"`.
    public var name: String = "DBConnection"
    /// How many connections the pool opens and keeps. Default 1; must be at least 1.
    public var poolSize: Int = 1
    /// The CoDel target: how long a caller should wait in the queue at most. Default 50 ms.
    ///
    /// When, for a whole ``queueInterval``, every caller that got a connection waited longer than this,
    /// the pool starts dropping callers that waited more than twice this. See the Overload article.
    public var queueTarget: Duration = .milliseconds(50)
    /// The CoDel interval over which the minimum queue wait is measured. Default 1000 ms, as the v2.3.1
    /// documentation says (db_connection 2.8 and later use 2000 ms).
    public var queueInterval: Duration = .milliseconds(1000)
    /// How often idle connections are pinged. A connection idle at least this long is pinged at the
    /// next tick. Default 1 s.
    public var idleInterval: Duration = .seconds(1)
    /// At most this many connections are pinged (or recycled) per idle tick. Default `nil`: ``poolSize``.
    public var idleLimit: Int?
    /// The shortest delay before a reconnect after a failed connect. Default 1 s.
    public var backoffMin: Duration = .seconds(1)
    /// The longest delay before a reconnect. Default 30 s.
    public var backoffMax: Duration = .seconds(30)
    /// How the reconnect delay grows. Default ``BackoffType/randExp``.
    public var backoffType: BackoffType = .randExp
    /// Runs on each new connection before any caller gets it (for example to set session options).
    /// A throw, or a run longer than ``afterConnectTimeout``, closes the connection and reconnects after
    /// a backoff. Default `nil`.
    public var afterConnect: (@Sendable (PooledConnection<Connection>) async throws -> Void)?
    /// How long ``afterConnect`` may hold the connection. Default 15 s.
    public var afterConnectTimeout: Duration = .seconds(15)
    /// Runs before every connect attempt and returns the options to connect with, so credentials can
    /// be rotated. Gets the current options and the 1-based pool index. Default `nil`.
    public var configure: (@Sendable (Connection.Options, _ poolIndex: Int) async throws -> Connection.Options)?
    /// Told whenever a connection connects or disconnects. Default none.
    public var connectionListeners: [ConnectionListener] = []
    /// With ``maxSeconds``: the restart intensity. When more than this many connections crash within
    /// ``maxSeconds``, the pool stops: every waiting and later call fails with
    /// ``ConnectionError/Reason/poolStopped`` and ``ConnectionPool/run()`` throws it. A crash is a
    /// connection stopped through ``DatabasePool/stop(_:error:)``: a driver call cancelled in its middle
    /// or one that broke the driver contract. Failed connects are not crashes: they back off.
    /// Default 3.
    public var maxRestarts: Int = 3
    /// The window of ``maxRestarts``. Default 5 s.
    public var maxSeconds: Duration = .seconds(5)
    /// Recycle connections older than a lifetime drawn per connection from this range (db_connection
    /// 2.10's `max_lifetime`), so they are replaced one by one, not all at once. Checked when a
    /// connection is checked in and at idle ticks. Default `nil`: connections live forever.
    public var maxLifetime: ClosedRange<Duration>?
    /// How long the pool waits, after a lease overran its deadline, for the connection to prove clean.
    ///
    /// When a caller's deadline passes, the pool takes the lease back and calls
    /// ``DatabaseConnection/interrupt()``. If the driver confirms the interrupt
    /// (``InterruptOutcome/confirmed``), the running call returns, and the driver's
    /// ``DatabaseConnection/checkin()`` passes, all within this period, the connection goes back to the
    /// pool; otherwise it is closed and replaced. `nil` closes it at once, as db_connection does.
    /// Default 2 s.
    public var interruptGracePeriod: Duration? = .seconds(2)
    /// Whether connect errors may show credentials and other sensitive data. Default `false`.
    public var showSensitiveDataOnConnectionError: Bool = false
    /// The default number of retries after ``DisconnectError`` with `retry`, for calls that don't say. Default 3.
    public var checkoutRetries: Int = 3
    /// Where the pool logs connects, disconnects and drops. Default: a logger that drops everything
    /// (the library never bootstraps logging).
    public var logger: Logger = Logger(label: "DBConnection", factory: { _ in SwiftLogNoOpLogHandler() })
    /// Seeds the pool's random choices (backoff jitter, lifetime spread), for reproducible tests.
    /// Default `nil`: seeded from the system.
    public var randomSeed: UInt64?

    /// Makes a configuration with every default.
    public init() {}

    /// Checks every option.
    /// - Throws: ``ConfigurationError`` naming the first bad option.
    public func validate() throws {
        func positive(_ d: Duration, _ name: String, allowZero: Bool = false) throws {
            if d < .zero || (!allowZero && d == .zero) {
                throw ConfigurationError(
                    option: name,
                    message: "must be \(allowZero ? "zero or " : "")positive, got \(d)"
                )
            }
        }
        guard poolSize >= 1 else {
            throw ConfigurationError(option: "poolSize", message: "pool size must be greater or equal to 1, got \(poolSize)")
        }
        try positive(queueTarget, "queueTarget", allowZero: true)
        try positive(queueInterval, "queueInterval")
        try positive(idleInterval, "idleInterval")
        if let idleLimit, idleLimit < 0 {
            throw ConfigurationError(option: "idleLimit", message: "must be zero or positive, got \(idleLimit)")
        }
        try positive(backoffMin, "backoffMin", allowZero: true)
        try positive(backoffMax, "backoffMax", allowZero: true)
        guard backoffMin <= backoffMax else {
            throw ConfigurationError(
                option: "backoffMin",
                message: "minimum \(backoffMin) is greater than maximum \(backoffMax) (backoffMax)"
            )
        }
        try positive(afterConnectTimeout, "afterConnectTimeout")
        if let interruptGracePeriod { try positive(interruptGracePeriod, "interruptGracePeriod") }
        guard maxRestarts >= 0 else {
            throw ConfigurationError(option: "maxRestarts", message: "must be zero or positive, got \(maxRestarts)")
        }
        try positive(maxSeconds, "maxSeconds")
        if let maxLifetime {
            if maxLifetime.lowerBound < .zero {
                throw ConfigurationError(
                    option: "maxLifetime",
                    message: "expected a non-negative range, got \(maxLifetime)"
                )
            }
        }
        guard checkoutRetries >= 0 else {
            throw ConfigurationError(option: "checkoutRetries", message: "must be zero or positive, got \(checkoutRetries)")
        }
    }
}

/// Told when a connection of the pool connects or disconnects: db_connection's `connection_listeners`.
public struct ConnectionListener: Sendable {
    /// What happened to which connection.
    public enum Event: Sendable, Hashable {
        /// The connection slot connected (before ``PoolConfiguration/afterConnect`` runs).
        case connected(ConnectionID, tag: String?)
        /// The connection slot lost its connection.
        case disconnected(ConnectionID, tag: String?)
    }

    let tag: String?
    let handler: @Sendable (Event) -> Void

    /// A listener that calls `handler`, on the task where the event happened; keep it short.
    /// - Parameters:
    ///   - tag: passed along in every event (db_connection's `{listeners, tag}`).
    ///   - handler: the callback.
    public init(tag: String? = nil, _ handler: @escaping @Sendable (Event) -> Void) {
        self.tag = tag
        self.handler = handler
    }

    /// A listener and the stream of its events, for `for await` consumers.
    public static func stream(tag: String? = nil) -> (listener: ConnectionListener, events: AsyncStream<Event>) {
        let (stream, continuation) = AsyncStream<Event>.makeStream()
        return (ConnectionListener(tag: tag) { continuation.yield($0) }, stream)
    }
}

/// The identity of a connection slot of a pool: stable across reconnects, as a db_connection
/// connection process is.
public struct ConnectionID: Sendable, Hashable, CustomStringConvertible {
    /// The 1-based pool index of the slot.
    public var poolIndex: Int
    /// Makes an identity.
    public init(poolIndex: Int) { self.poolIndex = poolIndex }
    public var description: String { "db_conn_\(poolIndex)" }
}
