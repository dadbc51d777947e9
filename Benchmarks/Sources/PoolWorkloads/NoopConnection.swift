public import DBConnection

/// The cheapest possible driver: every callback returns at once. The pool is all that is measured.
public final class NoopConnection: DatabaseConnection {
    public typealias Options = EmptyOptions
    public typealias TransactionOptions = EmptyOptions
    public typealias Params = Int
    public typealias QueryResult = Int
    public typealias Query = NoopQuery
    public typealias Cursor = Int

    init() {}

    public static func connect(options: EmptyOptions, context: ConnectionContext) async throws -> NoopConnection {
        NoopConnection()
    }

    public func disconnect(error: any Error) async {}

    public func begin(options: EmptyOptions, callOptions: CallOptions) async throws -> TransactionReply<Int> { .ok(0) }

    public func commit(callOptions: CallOptions) async throws -> TransactionReply<Int> { .ok(0) }

    public func rollback(callOptions: CallOptions) async throws -> TransactionReply<Int> { .ok(0) }

    public func status(callOptions: CallOptions) async throws -> TransactionStatus { .idle }

    public func prepare(_ query: NoopQuery, callOptions: CallOptions) async throws -> NoopQuery { query }

    public func execute(_ query: NoopQuery, params: Int, callOptions: CallOptions) async throws -> (NoopQuery, Int) {
        (query, 0)
    }

    public func close(_ query: NoopQuery, callOptions: CallOptions) async throws -> Int { 0 }

    public func declare(_ query: NoopQuery, params: Int, callOptions: CallOptions) async throws -> (NoopQuery, Int) {
        (query, 0)
    }

    public func fetch(_ query: NoopQuery, cursor: Int, callOptions: CallOptions) async throws -> FetchResult<Int> {
        .done(0)
    }

    public func deallocate(_ query: NoopQuery, cursor: Int, callOptions: CallOptions) async throws -> Int { 0 }
}

/// The query type of ``NoopConnection``; never executed by the benchmarks.
public struct NoopQuery: DatabaseQuery {
    public typealias Params = Int
    public typealias Result = Int

    public init() {}
}
