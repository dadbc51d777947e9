import Synchronization

extension PooledConnection {
    /// The results of `query` read through a cursor: `encode`, the driver's `declare` on first
    /// iteration, `fetch` until the last batch, and `deallocate` always.
    ///
    /// Usable only on a held connection (inside ``DatabasePool/withConnection(options:_:)`` or
    /// a transaction): the cursor lives on this connection. `deallocate` runs at the normal end, after an
    /// error, and after an early `break` or a cancellation (then before the next call on this connection
    /// or when the lease ends, whichever comes first). ``CallOptions/maxRows`` passes to the driver.
    public func stream(
        _ query: Connection.Query,
        _ params: Connection.Params,
        options: CallOptions = CallOptions()
    ) -> ResultStream<Connection> {
        ResultStream(connection: self, query: query, params: params, options: options, prepareFirst: false)
    }

    /// Like ``stream(_:_:options:)``, but `parse`, `prepare` and `describe` the query first (db_connection's `prepare_stream`).
    public func prepareStream(
        _ query: Connection.Query,
        _ params: Connection.Params,
        options: CallOptions = CallOptions()
    ) -> ResultStream<Connection> {
        ResultStream(connection: self, query: query, params: params, options: options, prepareFirst: true)
    }
}

/// The batches of a cursor, as an `AsyncSequence`. See ``PooledConnection/stream(_:_:options:)``.
public struct ResultStream<Connection: DatabaseConnection>: AsyncSequence, Sendable {
    public typealias Element = Connection.QueryResult

    let connection: PooledConnection<Connection>
    let query: Connection.Query
    let params: Connection.Params
    let options: CallOptions
    let prepareFirst: Bool

    public func makeAsyncIterator() -> Iterator {
        Iterator(cursor: CursorState(stream: self))
    }

    /// Reads the cursor batch by batch.
    public struct Iterator: AsyncIteratorProtocol {
        let cursor: CursorState<Connection>

        public mutating func next() async throws -> Connection.QueryResult? {
            try await unwrappingDisconnect { try await cursor.next() }
        }
    }
}

/// The cursor behind a ``ResultStream`` iterator; deallocates on deinit if the consumer left early.
public final class CursorState<Connection: DatabaseConnection>: Sendable {
    enum Phase: Sendable {
        case initial
        case open(Connection.Query, Connection.Cursor)
        case finished
    }

    let stream: ResultStream<Connection>
    private let phase = Mutex<Phase>(.initial)

    init(stream: ResultStream<Connection>) { self.stream = stream }

    func next() async throws -> Connection.QueryResult? {
        let connection = stream.connection
        let options = stream.options
        switch phase.withLock({ $0 }) {
        case .finished:
            return nil
        case .initial:
            let opened: (Connection.Query, Connection.Cursor)
            do {
                opened = try await declare()
            } catch {
                phase.withLock { $0 = .finished }
                throw error
            }
            phase.withLock { $0 = .open(opened.0, opened.1) }
            return try await next()
        case .open(let query, let cursor):
            do {
                let reply = try await connection.logged(
                    .fetch,
                    query: query.statementDescription,
                    params: "\(cursor)",
                    options: options,
                    timing: .onHandle
                ) {
                    try await $0.fetch(query, cursor: cursor, callOptions: options)
                } decode: { (reply: FetchResult<Connection.QueryResult>) in
                    switch reply {
                    case .more(let r): FetchResult.more(try query.decode(r, options: options))
                    case .done(let r): FetchResult.done(try query.decode(r, options: options))
                    }
                }
                if case .done = reply {
                    await deallocate(query, cursor)
                }
                return reply.result
            } catch {
                await deallocate(query, cursor)
                throw error
            }
        }
    }

    private func declare() async throws -> (Connection.Query, Connection.Cursor) {
        let connection = stream.connection
        let options = stream.options
        var query = stream.query
        if stream.prepareFirst {
            query = try await connection.prepareParsed(try query.parse(options: options), options: options, timing: .onHandle)
        }
        let encoded: Connection.Params
        do {
            encoded = try query.encode(stream.params, options: options)
        } catch is EncodeError {
            query = try await connection.prepareParsed(query, options: options, timing: .onHandle)
            encoded = try query.encode(stream.params, options: options)
        }
        return try await connection.logged(
            stream.prepareFirst ? .prepareDeclare : .declare,
            query: query.statementDescription,
            params: PooledConnection<Connection>.describe(stream.params, options),
            options: options,
            timing: .onHandle
        ) { [query] in
            try await $0.declare(query, params: encoded, callOptions: options)
        }
    }

    /// Deallocates once; errors are logged, not thrown (db_connection's cleanup call).
    private func deallocate(_ query: Connection.Query, _ cursor: Connection.Cursor) async {
        let shouldRun: Bool = phase.withLock {
            if case .open = $0 {
                $0 = .finished
                return true
            }
            return false
        }
        guard shouldRun else { return }
        let options = stream.options
        _ = try? await stream.connection.logged(
            .deallocate,
            query: query.statementDescription,
            params: "\(cursor)",
            options: options,
            cleanup: true,
            timing: .onHandle
        ) {
            try await $0.deallocate(query, cursor: cursor, callOptions: options)
        }
    }

    deinit {
        guard case .open(let query, let cursor) = phase.withLock({ $0 }) else { return }
        let options = stream.options
        let lease = stream.connection.lease
        lease.holder.addCleanup(generation: lease.generation) { connection in
            _ = try? await connection.deallocate(query, cursor: cursor, callOptions: options)
        }
    }
}
