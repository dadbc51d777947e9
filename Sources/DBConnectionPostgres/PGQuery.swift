public import DBConnection

/// An SQL statement for ``PGConnection``: its text, and the name of its prepared statement once
/// prepared.
///
/// Parameters are written `$1`, `$2`, … and bound from a `[PGValue]`. A query with no ``name`` runs as
/// PostgreSQL's unnamed statement (parse, bind and execute in one round trip).
/// ``PGConnection/prepare(_:callOptions:)`` returns the query with a ``name``: executing it then binds
/// and executes a server-side prepared statement, prepared again on any connection that does not have
/// it (another connection of the pool, or after a reconnect).
///
/// One statement per query: the extended protocol does not run `;`-separated scripts.
public struct PGQuery: DatabaseQuery, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The parameters: `[PGValue]`, for `$1`, `$2`, ….
    public typealias Params = [PGValue]
    /// The result: ``PGResult``.
    public typealias Result = PGResult

    /// The SQL text. Parameter values never appear here; they are bound separately.
    public var sql: String
    /// The prepared statement's name in the connection's statement cache, or `nil` for a one-off
    /// statement. Set one before ``PGConnection/prepare(_:callOptions:)`` to choose the name.
    public var name: String?

    /// Makes a query.
    /// - Parameters:
    ///   - sql: the SQL text.
    ///   - name: the prepared statement's name, if it is (to be) prepared.
    public init(_ sql: String, name: String? = nil) {
        self.sql = sql
        self.name = name
    }

    /// Makes a one-off query from a string literal.
    public init(stringLiteral value: String) {
        self.init(value)
    }

    /// The SQL text, for logs and traces.
    public var statementDescription: String? { sql }

    /// The SQL text.
    public var description: String { sql }
}

/// A cursor of ``PGConnection``: a server-side cursor made with `DECLARE`, named on its connection.
public struct PGCursor: Sendable, Hashable, CustomStringConvertible {
    /// The cursor's name on the server.
    public let name: String

    /// The name.
    public var description: String { name }
}
