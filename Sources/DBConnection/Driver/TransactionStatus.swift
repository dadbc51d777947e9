/// Where a connection stands with respect to transactions, as the database reports it.
public enum TransactionStatus: Sendable, Hashable, CustomStringConvertible {
    /// No transaction is open.
    case idle
    /// A transaction is open and usable.
    case transaction
    /// A transaction is open and failed: only a rollback is possible.
    case error

    public var description: String {
        switch self {
        case .idle: "idle"
        case .transaction: "transaction"
        case .error: "error"
        }
    }
}

/// The reply of ``DatabaseConnection/begin(options:callOptions:)``, `commit` and `rollback`.
public enum TransactionReply<Result: Sendable>: Sendable {
    /// The call did what it was asked.
    case ok(Result)
    /// The call did what it was asked; `statement` is what the log entry shows as the query.
    case okStatement(Result, statement: String)
    /// The database was not in the state the call needs (db_connection's `{status, state}` reply).
    case status(TransactionStatus)
}

extension TransactionReply: Equatable where Result: Equatable {}

/// The reply of ``DatabaseConnection/fetch(_:cursor:callOptions:)``: db_connection's `{:cont, ...}` and `{:halt, ...}`.
public enum FetchResult<Result: Sendable>: Sendable {
    /// A batch, and more may follow.
    case more(Result)
    /// The last batch.
    case done(Result)

    /// The batch.
    public var result: Result {
        switch self {
        case .more(let r), .done(let r): r
        }
    }
}

extension FetchResult: Equatable where Result: Equatable {}
