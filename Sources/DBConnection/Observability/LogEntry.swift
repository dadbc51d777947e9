/// What one call did, how long it took, and how it ended: db_connection's `DBConnection.LogEntry`.
///
/// Given to ``CallOptions/log`` and written to the pool's logger at debug level. Bound parameter
/// values appear only when ``CallOptions/showSensitiveData`` is set; otherwise ``params`` says how many
/// values were redacted.
public struct LogEntry: Sendable, CustomStringConvertible {
    /// The logged calls.
    public enum Call: String, Sendable, Hashable {
        case prepare, execute, prepareExecute, close, begin, commit, rollback
        case declare, prepareDeclare, fetch, deallocate
    }

    /// Which call.
    public var call: Call
    /// The statement as the driver describes it, or `begin`/`commit`/`rollback` for transaction calls
    /// (a commit that turned into a rollback shows `rollback`).
    public var query: String?
    /// The parameters (or, for fetch and deallocate, the cursor), redacted unless the caller opted in.
    public var params: String?
    /// The outcome: a description of the result, or the error.
    public var result: Result<String, any Error>
    /// From asking for a connection to the first driver call; `nil` when the call ran on a held connection.
    public var poolTime: Duration?
    /// Time spent in driver calls (and the query steps between them).
    public var connectionTime: Duration?
    /// Time spent decoding the result; `nil` when nothing was decoded.
    public var decodeTime: Duration?
    /// How long the connection was idle before this checkout; `nil` when not measured.
    public var idleTime: Duration?

    /// Makes an entry.
    public init(
        call: Call,
        query: String?,
        params: String?,
        result: Result<String, any Error>,
        poolTime: Duration? = nil,
        connectionTime: Duration? = nil,
        decodeTime: Duration? = nil,
        idleTime: Duration? = nil
    ) {
        self.call = call
        self.query = query
        self.params = params
        self.result = result
        self.poolTime = poolTime
        self.connectionTime = connectionTime
        self.decodeTime = decodeTime
        self.idleTime = idleTime
    }

    public var description: String {
        var parts = ["\(call.rawValue)"]
        if let query { parts.append("query=\(query)") }
        if let params { parts.append("params=\(params)") }
        switch result {
        case .success: parts.append("ok")
        case .failure(let error): parts.append("error=\(error)")
        }
        if let poolTime { parts.append("pool=\(poolTime)") }
        if let connectionTime { parts.append("connection=\(connectionTime)") }
        if let decodeTime { parts.append("decode=\(decodeTime)") }
        if let idleTime { parts.append("idle=\(idleTime)") }
        return parts.joined(separator: " ")
    }
}
