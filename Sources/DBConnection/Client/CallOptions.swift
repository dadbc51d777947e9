public import Logging

/// Options of one call: how long it may take, whether it may queue, how it is logged.
///
/// db_connection's per-call options (`:queue`, `:timeout`, `:deadline`, `:log`) plus the options
/// drivers read (``maxRows``).
public struct CallOptions: Sendable {
    /// Whether the call may wait in the queue when no connection is idle. Default `true`; with
    /// `false` the call fails at once with ``ConnectionError/Reason/queueDisabled``.
    public var queue: Bool
    /// The time budget of the call, counted from the moment it asks for a connection, so time in the
    /// queue counts. Default 15 seconds; `nil` means no limit.
    public var timeout: Duration? {
        didSet { timeoutNanoseconds = timeout.map(\.nanoseconds) }
    }
    /// ``timeout`` in whole nanoseconds (saturating), computed when it is set: a pool's checkout adds it
    /// to an `Int64` instant without converting a 128-bit `Duration` every time.
    private(set) var timeoutNanoseconds: Int64?
    /// ``deadline`` as the time since `leaseDeadlineReference`. `ContinuousClock.Instant` has a
    /// resilient layout: stored, it would make every `CallOptions` address-only, so each copy would go
    /// through the runtime's value witnesses and each async function holding one would allocate room
    /// for it on the task. A `Duration` is a frozen pair of integers.
    private(set) var deadlineSinceReference: Duration?
    /// An absolute deadline. When both this and ``timeout`` are set, the earlier wins. Default `nil`.
    public var deadline: ContinuousClock.Instant? {
        get { deadlineSinceReference.map { leaseDeadlineReference.advanced(by: $0) } }
        set { deadlineSinceReference = newValue.map { leaseDeadlineReference.duration(to: $0) } }
    }
    /// Receives a ``LogEntry`` for each logged call. Default `nil`.
    public var log: (@Sendable (LogEntry) -> Void)?
    /// How many times a call on the pool checks out again after a ``DisconnectError`` with `retry`.
    /// Default 3.
    public var checkoutRetries: Int
    /// Rows per batch for cursors (`declare`/`fetch`), for drivers that honour it. Default `nil` (driver's choice).
    public var maxRows: Int?
    /// Whether log entries and errors may show bound parameter values. Default `false`.
    public var showSensitiveData: Bool
    /// Overrides the pool's logger for this call's debug lines. Default `nil`.
    public var logger: Logger?

    /// Makes call options; every argument has the documented default.
    public init(
        queue: Bool = true,
        timeout: Duration? = .seconds(15),
        deadline: ContinuousClock.Instant? = nil,
        log: (@Sendable (LogEntry) -> Void)? = nil,
        checkoutRetries: Int = 3,
        maxRows: Int? = nil,
        showSensitiveData: Bool = false,
        logger: Logger? = nil
    ) {
        self.queue = queue
        self.timeout = timeout
        self.timeoutNanoseconds = timeout.map(\.nanoseconds)
        self.deadlineSinceReference = deadline.map { leaseDeadlineReference.duration(to: $0) }
        self.log = log
        self.checkoutRetries = checkoutRetries
        self.maxRows = maxRows
        self.showSensitiveData = showSensitiveData
        self.logger = logger
    }

    /// The effective deadline of a call that asked for a connection at `requestedAt`: the earlier of
    /// `requestedAt + timeout` and ``deadline``.
    public func effectiveDeadline(requestedAt: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        guard let timeout else { return deadline }
        let byTimeout = requestedAt + timeout
        guard let deadline else { return byTimeout }
        return min(byTimeout, deadline)
    }
}
