/// A statement, and the steps that run in the calling task around the driver's calls.
///
/// db_connection's `DBConnection.Query` protocol. ``parse(options:)`` runs before `prepare`,
/// ``describe(options:)`` after it, ``encode(_:options:)`` before `execute` and `declare`, and
/// ``decode(_:options:)`` after `execute` and `fetch`. They run in the caller's task, outside the
/// connection's time; the time ``decode(_:options:)`` takes is reported as
/// ``LogEntry/decodeTime``. Each has a default that returns its input.
public protocol DatabaseQuery: Sendable {
    /// The parameters the statement binds.
    associatedtype Params: Sendable
    /// What running the statement returns.
    associatedtype Result: Sendable

    /// Readies the query before it is prepared.
    func parse(options: CallOptions) throws -> Self
    /// Completes the query after it was prepared (for example with result column types).
    func describe(options: CallOptions) throws -> Self
    /// Turns parameters into what the driver sends.
    /// - Throws: ``EncodeError`` when the query must be prepared again first; any other error stops the call.
    func encode(_ params: Params, options: CallOptions) throws -> Params
    /// Turns what the driver returned into what the caller gets.
    func decode(_ result: Result, options: CallOptions) throws -> Result
    /// The statement text as it should appear in logs and traces, if any.
    var statementDescription: String? { get }
}

extension DatabaseQuery {
    /// Returns the query unchanged.
    public func parse(options: CallOptions) throws -> Self { self }
    /// Returns the query unchanged.
    public func describe(options: CallOptions) throws -> Self { self }
    /// Returns the parameters unchanged.
    public func encode(_ params: Params, options: CallOptions) throws -> Params { params }
    /// Returns the result unchanged.
    public func decode(_ result: Result, options: CallOptions) throws -> Result { result }
    /// `nil`: the query has no text to show.
    public var statementDescription: String? { nil }
}
