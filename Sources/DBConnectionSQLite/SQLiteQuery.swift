public import DBConnection

/// An SQL statement for ``SQLiteConnection``.
///
/// The connection keeps compiled statements in a cache keyed by ``sql``, so running the same text
/// again skips compiling it. ``SQLiteConnection/prepare(_:callOptions:)`` compiles it ahead of time and
/// ``SQLiteConnection/close(_:callOptions:)`` drops it from the cache.
///
/// The text may hold several statements separated by `;` when it takes no parameters (a schema
/// script, for example): they run one after the other, and the result is the last one's.
public struct SQLiteQuery: DatabaseQuery, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The parameters: ``SQLiteParameters``.
    public typealias Params = SQLiteParameters
    /// The result: ``SQLiteResult``.
    public typealias Result = SQLiteResult

    /// The SQL text. Parameter values never appear here; they are bound separately.
    public var sql: String

    /// Makes a query.
    /// - Parameter sql: the SQL text.
    public init(_ sql: String) {
        self.sql = sql
    }

    /// Makes a query from a string literal.
    public init(stringLiteral value: String) {
        self.sql = value
    }

    /// The SQL text, for logs and traces.
    public var statementDescription: String? { sql }

    /// The SQL text.
    public var description: String { sql }
}
