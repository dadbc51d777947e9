/// Thrown by a driver callback to say: this connection can no longer be used.
///
/// db_connection's `{:disconnect, exception, state}` and `{:disconnect_and_retry, exception, state}`.
/// The pool closes the connection (calling ``DatabaseConnection/disconnect(error:)`` with
/// ``underlying``), reconnects, and the caller gets ``underlying``. With ``retry`` set, a call made on
/// the pool (not on a held connection) checks out another connection and runs again, up to
/// ``CallOptions/checkoutRetries`` times; only `begin`, `status`, `prepare`, `execute` and `close` may retry.
public struct DisconnectError: Error, Sendable, CustomStringConvertible {
    /// The reason, which the caller gets.
    public var underlying: any Error
    /// Whether a call made on the pool may run again on another connection.
    public var retry: Bool

    /// Makes a disconnect error.
    /// - Parameters:
    ///   - underlying: the reason.
    ///   - retry: whether the call may be retried on another connection (default `false`).
    public init(_ underlying: any Error, retry: Bool = false) {
        self.underlying = underlying
        self.retry = retry
    }

    public var description: String { "disconnect: \(underlying)" }
}
