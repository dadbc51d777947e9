/// A transaction callback found the database in a state it did not expect.
///
/// db_connection's `DBConnection.TransactionError`: `begin`, `commit` or `rollback` replied with a
/// ``TransactionStatus`` instead of doing their work. The connection is closed, since its state is
/// in doubt.
public struct TransactionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The status the database reported.
    public var status: TransactionStatus
    /// The call that got the status (`begin`, `commit`, `rollback`).
    public var call: String
    /// The pool's name, where known.
    public var poolName: String?

    /// Makes a transaction error.
    public init(status: TransactionStatus, call: String, poolName: String? = nil) {
        self.status = status
        self.call = call
        self.poolName = poolName
    }

    /// db_connection's message for the status.
    public var message: String {
        switch status {
        case .idle: "transaction is not started"
        case .transaction: "transaction is already started"
        case .error: "transaction is aborted"
        }
    }

    public var description: String {
        (poolName.map { "[\($0)] " } ?? "") + "\(call): " + message
    }
}

/// Thrown by ``DatabaseQuery/encode(_:options:)`` when the query must be prepared (again) before it can run.
///
/// db_connection's `DBConnection.EncodeError`: `execute` then prepares the query and retries once.
public struct EncodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Why encoding failed.
    public var message: String

    /// Makes an encode error.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
