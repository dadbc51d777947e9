import DBConnection
import NIOCore
import NIOSSL
import PostgresNIO

/// An error the PostgreSQL server reported, or the driver raised.
///
/// ``code`` says what kind of failure it is; for ``Code/server`` errors ``sqlState`` is PostgreSQL's
/// five-character code (`23505` for a unique violation, `42601` for a syntax error, `57014` for a
/// cancelled statement) and ``message``, ``detail`` and ``hint`` are the server's fields.
///
/// ``description`` shows the code, the SQLSTATE, the message, the hint and the statement text; it
/// never shows bound values, the password, or the server's ``detail`` (which quotes row values, as in
/// `Key (email)=(ann@example.com) already exists`): ``debugDescription`` adds the detail and the
/// underlying error.
///
/// Errors that leave the connection unusable (a broken socket, a protocol violation, a server that
/// shuts the session down: SQLSTATE class `08`, `57P01` `admin_shutdown`, `57P02`, `57P03`, or any
/// `FATAL` error) reach the pool inside `DisconnectError`, and the pool replaces the connection. Every
/// other error (constraint violations, syntax errors, cancelled statements, serialization failures)
/// leaves the connection usable.
///
/// Two errors are equal when their codes and SQLSTATEs are.
public struct PGError: Error, Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What kind of failure an error is.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: Sendable, Hashable {
            case server, connectionClosed, protocolViolation, tls, authentication, connectFailed, timeout
            case invalidValue, decoding, invalidOptions, unobservable
        }
        let base: Base

        /// The server reported an error (an `ErrorResponse`): see ``PGError/sqlState``.
        public static let server = Code(base: .server)
        /// The connection was closed or broke (by the server, the network, or a disconnect).
        public static let connectionClosed = Code(base: .connectionClosed)
        /// The server sent something the protocol does not allow at that point.
        public static let protocolViolation = Code(base: .protocolViolation)
        /// TLS could not be set up: the server refused it, or its certificate did not verify.
        public static let tls = Code(base: .tls)
        /// Authentication could not proceed on the client side (an unsupported method, a password
        /// needed but not given). A wrong password is a ``server`` error with SQLSTATE `28P01`.
        public static let authentication = Code(base: .authentication)
        /// The TCP or Unix socket connection could not be made (refused, unreachable, unknown host).
        public static let connectFailed = Code(base: .connectFailed)
        /// Connecting took longer than ``PGConnection/Options/connectTimeout``.
        public static let timeout = Code(base: .timeout)
        /// A parameter cannot be bound (for example an array that mixes element types).
        public static let invalidValue = Code(base: .invalidValue)
        /// A result value could not be decoded.
        public static let decoding = Code(base: .decoding)
        /// The connect options are invalid (a bad URL, a CA file that cannot be read).
        public static let invalidOptions = Code(base: .invalidOptions)
        /// The driver could not observe the server's messages on this connection, so it cannot tell
        /// the transaction status.
        public static let unobservable = Code(base: .unobservable)

        /// The code's name.
        public var description: String {
            switch base {
            case .server: "server"
            case .connectionClosed: "connectionClosed"
            case .protocolViolation: "protocolViolation"
            case .tls: "tls"
            case .authentication: "authentication"
            case .connectFailed: "connectFailed"
            case .timeout: "timeout"
            case .invalidValue: "invalidValue"
            case .decoding: "decoding"
            case .invalidOptions: "invalidOptions"
            case .unobservable: "unobservable"
            }
        }
    }

    /// What kind of failure this is.
    public var code: Code
    /// What went wrong: the server's message (`M` field) or the driver's.
    public var message: String
    /// The SQLSTATE (`C` field) of a server error, such as `23505`.
    public var sqlState: String?
    /// The severity (`S`/`V` field): `ERROR`, `FATAL` or `PANIC`.
    public var severity: String?
    /// The server's detail (`D` field); it may quote row values, so it appears only in ``debugDescription``.
    public var detail: String?
    /// The server's hint (`H` field), or the driver's advice.
    public var hint: String?
    /// The position of the error in the statement text (`P` field), counted in characters from 1.
    public var position: Int?
    /// The schema, table, column, data type and constraint the error is about, where the server says.
    public var schemaName: String?
    /// See ``schemaName``.
    public var tableName: String?
    /// See ``schemaName``.
    public var columnName: String?
    /// See ``schemaName``.
    public var dataTypeName: String?
    /// See ``schemaName``.
    public var constraintName: String?
    /// The statement text that failed (never its bound values).
    public var query: String?
    /// Where the error came from (a PostgresNIO, NIO or TLS error), when it wraps one.
    public var underlying: (any Error)?

    /// Makes an error.
    /// - Parameters:
    ///   - code: the kind of failure.
    ///   - message: what went wrong.
    ///   - sqlState: the SQLSTATE, for server errors.
    ///   - hint: what to do about it.
    ///   - query: the statement text.
    ///   - underlying: the error this one wraps.
    public init(
        _ code: Code,
        message: String,
        sqlState: String? = nil,
        hint: String? = nil,
        query: String? = nil,
        underlying: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.hint = hint
        self.query = query
        self.underlying = underlying
    }

    /// Whether the connection that raised this error can no longer be used: a closed connection, a
    /// protocol violation, a TLS failure, SQLSTATE class `08` (connection exception), `57P01`
    /// (admin shutdown, as `pg_terminate_backend` causes), `57P02`, `57P03`, or a `FATAL`/`PANIC` error.
    public var invalidatesConnection: Bool {
        switch code.base {
        case .connectionClosed, .protocolViolation, .tls, .unobservable:
            return true
        case .server:
            if let severity, severity == "FATAL" || severity == "PANIC" { return true }
            guard let sqlState else { return false }
            return sqlState.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(sqlState)
        default:
            return false
        }
    }

    /// Whether the server cancelled the statement (SQLSTATE `57014`): a deadline passed, the task
    /// was cancelled, `interrupt()` was called, or `statement_timeout` elapsed.
    public var isQueryCanceled: Bool { sqlState == "57014" }

    /// The code, severity, SQLSTATE, message, hint and statement; never values.
    public var description: String {
        var text = "\(code)"
        if let severity, let sqlState {
            text += " \(severity) \(sqlState)"
        } else if let sqlState {
            text += " \(sqlState)"
        }
        text += ": \(message)"
        if let hint { text += "; hint: \(hint)" }
        if let query { text += "; SQL: \(query)" }
        return text
    }

    /// ``description`` with the detail, the names the server gave, and the underlying error.
    public var debugDescription: String {
        var text = "PGError(\(description)"
        if let detail { text += "; detail: \(detail)" }
        if let constraintName { text += "; constraint: \(constraintName)" }
        if let tableName { text += "; table: \(schemaName.map { "\($0)." } ?? "")\(tableName)" }
        if let columnName { text += "; column: \(columnName)" }
        if let position { text += "; position: \(position)" }
        if let underlying { text += "; underlying: \(String(reflecting: underlying))" }
        return text + ")"
    }

    /// Compares codes and SQLSTATEs.
    public static func == (lhs: PGError, rhs: PGError) -> Bool {
        lhs.code == rhs.code && lhs.sqlState == rhs.sqlState
    }
}

// MARK: Translating PostgresNIO's errors

extension PGError {
    /// A server error from its fields (by their one-letter protocol codes).
    init(serverFields field: (Character) -> String?, query: String?, underlying: (any Error)?) {
        self.init(.server, message: field("M") ?? "unknown server error", sqlState: field("C"), query: query)
        self.severity = field("V") ?? field("S")
        self.detail = field("D")
        self.hint = field("H")
        self.position = field("P").flatMap { Int($0) }
        self.schemaName = field("s")
        self.tableName = field("t")
        self.columnName = field("c")
        self.dataTypeName = field("d")
        self.constraintName = field("n")
        self.underlying = underlying
    }

    /// Turns whatever a PostgresNIO, NIO or TLS call threw into a ``PGError``.
    static func from(_ error: any Error, query: String?) -> PGError {
        if var error = error as? PGError {
            if error.query == nil { error.query = query }
            return error
        }
        if let psql = error as? PSQLError {
            return from(psql: psql, query: query)
        }
        if let postgres = error as? PostgresError {
            switch postgres {
            case .server(let message):
                return PGError(
                    serverFields: { code in
                        code.asciiValue.flatMap(PostgresMessage.Error.Field.init(rawValue:)).flatMap {
                            message.fields[$0]
                        }
                    },
                    query: query,
                    underlying: error
                )
            case .connectionClosed:
                return PGError(.connectionClosed, message: "the connection is closed", query: query, underlying: error)
            case .protocol(let text):
                return PGError(.protocolViolation, message: text, query: query, underlying: error)
            }
        }
        if error is NIOSSLError || error is BoringSSLError {
            return PGError(.tls, message: "TLS failed: \(error)", query: query, underlying: error)
        }
        if let channelError = error as? ChannelError {
            switch channelError {
            case .connectTimeout:
                return PGError(.timeout, message: "connecting timed out", query: query, underlying: error)
            default:
                return PGError(
                    .connectionClosed,
                    message: "the connection broke: \(channelError)",
                    query: query,
                    underlying: error
                )
            }
        }
        if error is IOError {
            return PGError(
                .connectionClosed,
                message: "the connection broke: \(error)",
                query: query,
                underlying: error
            )
        }
        return PGError(.connectionClosed, message: "\(error)", query: query, underlying: error)
    }

    private static func from(psql: PSQLError, query: String?) -> PGError {
        switch psql.code {
        case .server, .listenFailed:
            guard let info = psql.serverInfo else { break }
            return PGError(
                serverFields: { code in
                    switch code {
                    case "M": info[.message]
                    case "C": info[.sqlState]
                    case "S": info[.localizedSeverity]
                    case "V": info[.severity]
                    case "D": info[.detail]
                    case "H": info[.hint]
                    case "P": info[.position]
                    case "s": info[.schemaName]
                    case "t": info[.tableName]
                    case "c": info[.columnName]
                    case "d": info[.dataTypeName]
                    case "n": info[.constraintName]
                    default: nil
                    }
                },
                query: query,
                underlying: psql
            )
        case .queryCancelled:
            return PGError(
                .server,
                message: "the query was cancelled",
                sqlState: "57014",
                query: query,
                underlying: psql
            )
        case .serverClosedConnection, .clientClosedConnection, .uncleanShutdown:
            return PGError(
                .connectionClosed,
                message: "the connection is closed (\(psql.code))",
                query: query,
                underlying: psql
            )
        case .connectionError:
            if let underlying = psql.underlying {
                var error = from(underlying, query: query)
                if error.code == .connectionClosed, !(underlying is ChannelError) {
                    error.code = .connectFailed
                    error.message = "could not connect: \(underlying)"
                }
                error.underlying = psql
                return error
            }
            return PGError(.connectFailed, message: "could not connect", query: query, underlying: psql)
        case .sslUnsupported:
            return PGError(
                .tls,
                message: "the server does not support TLS",
                hint: "use sslmode=prefer or disable, or turn on ssl in postgresql.conf",
                underlying: psql
            )
        case .failedToAddSSLHandler, .receivedUnencryptedDataAfterSSLRequest:
            return PGError(.tls, message: "TLS could not be set up (\(psql.code))", underlying: psql)
        case .messageDecodingFailure, .unexpectedBackendMessage, .invalidCommandTag:
            return PGError(
                .protocolViolation,
                message: "protocol violation (\(psql.code))",
                query: query,
                underlying: psql
            )
        case .unsupportedAuthMechanism, .saslError:
            return PGError(.authentication, message: "authentication failed (\(psql.code))", underlying: psql)
        case .authMechanismRequiresPassword:
            return PGError(
                .authentication,
                message: "the server asks for a password and none was given",
                hint: "set a password in the options or the URL",
                underlying: psql
            )
        case .tooManyParameters:
            return PGError(
                .invalidValue,
                message: "too many parameters (at most 65535)",
                query: query,
                underlying: psql
            )
        default:
            break
        }
        return PGError(.connectionClosed, message: "\(psql.code)", query: query, underlying: psql)
    }
}
