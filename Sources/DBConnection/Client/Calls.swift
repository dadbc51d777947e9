import Logging
import Tracing

// The client API: db_connection's prepare / execute / prepare_execute / close / status, once on a held
// connection (`PooledConnection`) and once on any `DatabasePool` (an implicit checkout per call).

/// The calls a caller can make on a pool or a held connection. db_connection's `!` forms collapse into
/// Swift's `throws`.
extension PooledConnection {
    /// Prepares a query: `parse` (here), the driver's `prepare`, then `describe` (here).
    /// - Throws: what the query steps or the driver throw; ``ConnectionError`` when the connection is gone.
    public func prepare(_ query: Connection.Query, options: CallOptions = CallOptions()) async throws -> Connection.Query {
        let parsed = try query.parse(options: options)
        return try await unwrappingDisconnect { try await prepareParsed(parsed, options: options, timing: .onHandle) }
    }

    /// Executes a query with parameters: `encode` (here), the driver's `execute`, `decode` (here).
    ///
    /// When `encode` throws ``EncodeError`` the query is prepared first and encoded again, once.
    /// - Returns: the decoded result.
    public func execute(
        _ query: Connection.Query,
        _ params: Connection.Params,
        options: CallOptions = CallOptions()
    ) async throws -> Connection.QueryResult {
        do {
            return try await executeReturningQuery(query, params, options: options, timing: .onHandle).1
        } catch let error as DisconnectError {
            throw error.underlying
        }
    }

    /// Prepares and executes a query: `parse`, `prepare`, `describe`, `encode`, `execute`, `decode`.
    /// - Returns: the prepared query and the decoded result.
    public func prepareExecute(
        _ query: Connection.Query,
        _ params: Connection.Params,
        options: CallOptions = CallOptions()
    ) async throws -> (Connection.Query, Connection.QueryResult) {
        let parsed = try query.parse(options: options)
        return try await unwrappingDisconnect {
            try await prepareExecuteParsed(parsed, params, options: options, call: .prepareExecute, timing: .onHandle)
        }
    }

    /// Closes a prepared query. Allowed inside a failed transaction (a cleanup call).
    public func close(_ query: Connection.Query, options: CallOptions = CallOptions()) async throws -> Connection.QueryResult {
        try await unwrappingDisconnect {
            try await logged(.close, query: query.statementDescription, params: nil, options: options, cleanup: true, timing: .onHandle) {
                try await $0.close(query, callOptions: options)
            }
        }
    }

    /// The transaction status as the database reports it. A disconnect reports ``TransactionStatus/error``.
    public func status(options: CallOptions = CallOptions()) async -> TransactionStatus {
        do {
            return try await driverCall("status") { try await $0.status(callOptions: options) }
        } catch {
            return .error
        }
    }

    // MARK: Pipelines

    func prepareParsed(_ parsed: Connection.Query, options: CallOptions, timing: CallTiming) async throws -> Connection.Query {
        let prepared = try await logged(.prepare, query: parsed.statementDescription, params: nil, options: options, timing: timing) {
            try await $0.prepare(parsed, callOptions: options)
        }
        do {
            return try prepared.describe(options: options)
        } catch {
            _ = try? await driverCall("close") { try await $0.close(prepared, callOptions: options) }
            throw error
        }
    }

    func executeReturningQuery(
        _ query: Connection.Query,
        _ params: Connection.Params,
        options: CallOptions,
        timing: CallTiming
    ) async throws -> (Connection.Query, Connection.QueryResult) {
        let encoded: Connection.Params
        do {
            encoded = try query.encode(params, options: options)
        } catch is EncodeError {
            // db_connection: not prepared (any more): prepare, describe, encode again, execute; no re-parse.
            return try await prepareExecuteParsed(query, params, options: options, call: .execute, timing: timing)
        }
        return try await runAndDecode(.execute, query: query, encoded: encoded, rawParams: params, options: options, timing: timing)
    }

    func prepareExecuteParsed(
        _ parsed: Connection.Query,
        _ params: Connection.Params,
        options: CallOptions,
        call: LogEntry.Call,
        timing: CallTiming
    ) async throws -> (Connection.Query, Connection.QueryResult) {
        let start = ContinuousClock.now
        let prepared = try await driverCall("prepare") { try await $0.prepare(parsed, callOptions: options) }
        let described: Connection.Query
        let encoded: Connection.Params
        do {
            described = try prepared.describe(options: options)
            encoded = try described.encode(params, options: options)
        } catch {
            _ = try? await driverCall("close") { try await $0.close(prepared, callOptions: options) }
            throw error
        }
        var timing = timing
        timing.extraConnectionTime = start.duration(to: .now)
        return try await runAndDecode(call, query: described, encoded: encoded, rawParams: params, options: options, timing: timing)
    }

    private func runAndDecode(
        _ call: LogEntry.Call,
        query: Connection.Query,
        encoded: Connection.Params,
        rawParams: Connection.Params,
        options: CallOptions,
        timing: CallTiming
    ) async throws -> (Connection.Query, Connection.QueryResult) {
        try await logged(
            call,
            query: query.statementDescription,
            params: Self.describe(rawParams, options),
            options: options,
            timing: timing
        ) {
            try await $0.execute(query, params: encoded, callOptions: options)
        } decode: { (returned: (Connection.Query, Connection.QueryResult)) in
            (returned.0, try returned.0.decode(returned.1, options: options))
        }
    }

    static func describe(_ params: Connection.Params, _ options: CallOptions) -> String {
        options.showSensitiveData ? "\(params)" : "<redacted>"
    }

    // MARK: Logging, tracing, guards

    /// Runs one driver call with the guards of a held connection (stale lease, failed transaction),
    /// then decodes outside the connection's time, and logs and traces it.
    func logged<T, D>(
        _ call: LogEntry.Call,
        query: String?,
        params: String?,
        options: CallOptions,
        cleanup: Bool = false,
        timing: CallTiming,
        _ body: (Connection) async throws -> T,
        decode: (T) throws -> D
    ) async throws -> D {
        let span = InstrumentationSystem.tracerEnabled ? startSpan(call: call, query: query) : nil
        let start = ContinuousClock.now
        var connectionTime: Duration?
        var decodeTime: Duration?
        let outcome: Result<D, any Error>
        do {
            if !cleanup { try checkNotRollingBack(call: call.rawValue) }
            let raw = try await driverCall(call.staticName, body)
            connectionTime = start.duration(to: .now) + (timing.extraConnectionTime ?? .zero)
            let decodeStart = ContinuousClock.now
            let decoded = try decode(raw)
            decodeTime = decodeStart.duration(to: .now)
            outcome = .success(decoded)
        } catch {
            if connectionTime == nil { connectionTime = start.duration(to: .now) }
            outcome = .failure(error)
        }
        if let span {
            if case .failure(let error) = outcome { span.recordError(error) }
            span.end()
        }
        emit(
            LogEntry(
                call: call,
                query: query,
                params: params,
                result: outcome.map { "\(type(of: $0))" },
                poolTime: timing.poolTime,
                connectionTime: connectionTime,
                decodeTime: decodeTime,
                idleTime: timing.idleTime
            ),
            options: options
        )
        return try outcome.get()
    }

    func logged<T>(
        _ call: LogEntry.Call,
        query: String?,
        params: String?,
        options: CallOptions,
        cleanup: Bool = false,
        timing: CallTiming,
        _ body: (Connection) async throws -> T
    ) async throws -> T {
        try await logged(call, query: query, params: params, options: options, cleanup: cleanup, timing: timing, body, decode: { $0 })
    }

    func emit(_ entry: LogEntry, options: CallOptions) {
        options.log?(entry)
        let logger = options.logger ?? lease.holder.logger
        if logger.logLevel <= .debug {
            logger.debug("\(entry)", metadata: ["db.pool": "\(pool.name)", "db.connection": "\(id)"])
        }
    }

    /// A client span for one call, with the database semantic attributes.
    private func startSpan(call: LogEntry.Call, query: String?) -> any Span {
        let span = Tracing.startSpan(call.rawValue, ofKind: .client)
        span.attributes["db.system"] = lease.holder.systemName
        span.attributes["db.operation"] = call.rawValue
        if let query { span.attributes["db.statement"] = query }
        return span
    }

    /// db_connection: inside a failed transaction every call but cleanup fails and disconnects.
    func checkNotRollingBack(call: String) throws {
        guard transactionLevel != nil, lease.holder.transactionMark(generation: lease.generation) == .failed else { return }
        let error = ConnectionError(.rollingBack, message: "transaction rolling back", poolName: pool.name, call: call)
        if isValid { pool.disconnect(lease, error: error) }
        throw error
    }
}

/// Where a call's pool and idle times come from: a call on a pool measures them, one on a held
/// connection does not (they are `nil`, as db_connection's).
struct CallTiming: Sendable {
    var poolTime: Duration?
    var idleTime: Duration?
    var extraConnectionTime: Duration?

    static let onHandle = CallTiming()
}

extension LogEntry.Call {
    var staticName: StaticString {
        switch self {
        case .prepare: "prepare"
        case .execute: "execute"
        case .prepareExecute: "prepareExecute"
        case .close: "close"
        case .begin: "begin"
        case .commit: "commit"
        case .rollback: "rollback"
        case .declare: "declare"
        case .prepareDeclare: "prepareDeclare"
        case .fetch: "fetch"
        case .deallocate: "deallocate"
        }
    }
}

extension InstrumentationSystem {
    /// Whether a tracer other than the no-op one was bootstrapped, so tracing costs nothing by default.
    static var tracerEnabled: Bool { !(tracer is NoOpTracer) }
}

extension DatabasePool {
    /// Runs `body` on a connection checked out for it, and checks out again after a ``DisconnectError``
    /// with `retry` (up to ``CallOptions/checkoutRetries`` times). The caller gets the underlying error
    /// of a disconnect.
    func withRetryingCheckout<R>(
        options: CallOptions,
        _ body: (PooledConnection<Connection>, CallTiming) async throws -> sending R
    ) async throws -> sending R {
        var attempt = 0
        while true {
            let lease = try await checkout(options: options)
            let connection = PooledConnection(lease: lease, pool: self)
            do {
                let result = try await body(connection, CallTiming(poolTime: lease.poolTime, idleTime: lease.idleTime))
                if !checkinIfClean(lease) { await finishLease(lease, connection: connection) }
                return result
            } catch let error as DisconnectError {
                if error.retry && attempt < options.checkoutRetries {
                    attempt += 1
                    continue
                }
                throw error.underlying
            } catch {
                if !checkinIfClean(lease) { await finishLease(lease, connection: connection) }
                throw error
            }
        }
    }

    /// Prepares a query on a connection checked out for this call. See ``PooledConnection/prepare(_:options:)``.
    public func prepare(_ query: Connection.Query, options: CallOptions = CallOptions()) async throws -> Connection.Query {
        let parsed = try query.parse(options: options)
        return try await withRetryingCheckout(options: options) { try await $0.prepareParsed(parsed, options: options, timing: $1) }
    }

    /// Executes a query on a connection checked out for this call. See ``PooledConnection/execute(_:_:options:)``.
    public func execute(
        _ query: Connection.Query,
        _ params: Connection.Params,
        options: CallOptions = CallOptions()
    ) async throws -> Connection.QueryResult {
        try await withRetryingCheckout(options: options) {
            try await $0.executeReturningQuery(query, params, options: options, timing: $1).1
        }
    }

    /// Prepares and executes a query on a connection checked out for this call.
    public func prepareExecute(
        _ query: Connection.Query,
        _ params: Connection.Params,
        options: CallOptions = CallOptions()
    ) async throws -> (Connection.Query, Connection.QueryResult) {
        let parsed = try query.parse(options: options)
        return try await withRetryingCheckout(options: options) {
            try await $0.prepareExecuteParsed(parsed, params, options: options, call: .prepareExecute, timing: $1)
        }
    }

    /// Closes a prepared query on a connection checked out for this call.
    public func close(_ query: Connection.Query, options: CallOptions = CallOptions()) async throws -> Connection.QueryResult {
        try await withRetryingCheckout(options: options) { connection, timing in
            try await connection.logged(.close, query: query.statementDescription, params: nil, options: options, cleanup: true, timing: timing) {
                try await $0.close(query, callOptions: options)
            }
        }
    }

    /// The transaction status of a connection checked out for this call; `.error` when none could be had.
    public func status(options: CallOptions = CallOptions()) async -> TransactionStatus {
        do {
            return try await withRetryingCheckout(options: options) { connection, _ in
                try await connection.driverCall("status") { try await $0.status(callOptions: options) }
            }
        } catch {
            return .error
        }
    }
}
