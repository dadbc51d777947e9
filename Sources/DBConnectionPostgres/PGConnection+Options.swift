import DBConnection

extension PGConnection {
    /// How to reach and log in to a server: ``PGConnection``'s connect options.
    ///
    /// ```swift
    /// var options = PGConnection.Options(host: "db.internal", user: "app", password: secret, database: "shop")
    /// options.tls = .verifyFull(rootCertificatePath: "/etc/ssl/db-ca.pem")
    /// options.applicationName = "checkout"
    /// // or
    /// let options = try PGConnection.Options(url: "postgres://app:secret@db.internal/shop?sslmode=verify-full")
    /// ```
    ///
    /// ``description`` never shows the password.
    public struct Options: Sendable, Hashable, CustomStringConvertible {
        /// The server's host name or IP address, or the directory of its Unix socket (a path that starts
        /// with `/`, such as `/var/run/postgresql`). Default `"localhost"`.
        public var host: String
        /// The server's TCP port, also the number in the Unix socket's name (`.s.PGSQL.5432`). Default 5432.
        public var port: Int
        /// The role to log in as.
        public var user: String
        /// The password, for `password`, `md5` and `scram-sha-256` authentication. Default `nil`.
        public var password: String?
        /// The database; `nil` (the default) lets the server pick its default (the user's name).
        public var database: String?
        /// Whether and how to use TLS. Default ``TLSMode/prefer``, as libpq's `sslmode`.
        public var tls: TLSMode
        /// How long connecting may take: the TCP connection, then TLS and authentication, each. Default 10 seconds.
        public var connectTimeout: Duration
        /// The `application_name` the server shows in `pg_stat_activity` and logs. Default `nil`.
        public var applicationName: String?
        /// How many prepared statements a connection keeps; when a new one would exceed this, the least
        /// recently used is deallocated on the server (a later execute of it prepares it again).
        /// Default 100; at least 1 is kept.
        public var statementCacheSize: Int
        /// Whether executions of prepared statements (queries with a ``PGQuery/name``) that the
        /// connection has cached run as the driver's own exchange with the server rather than through
        /// PostgresNIO's request path: the same Bind, Execute and Sync messages, answered by the same
        /// rows, errors and command tag, with fewer allocations and thread hops per statement. Preparing,
        /// unnamed statements, transactions and cursors always go through PostgresNIO. Default `true`;
        /// URL parameter `direct_execute=off` turns it off.
        public var directExecute: Bool

        /// Makes options; every argument but the user has the documented default.
        /// - Parameters:
        ///   - host: host name, IP address, or Unix socket directory (default `"localhost"`).
        ///   - port: TCP port (default 5432).
        ///   - user: the role.
        ///   - password: the password (default none).
        ///   - database: the database (default: the server's choice).
        ///   - tls: the TLS mode (default ``TLSMode/prefer``).
        ///   - connectTimeout: the connect timeout (default 10 s).
        ///   - applicationName: `application_name` (default none).
        ///   - statementCacheSize: prepared statements kept per connection (default 100).
        ///   - directExecute: run cached prepared statements as the driver's own exchange (default `true`).
        public init(
            host: String = "localhost",
            port: Int = 5432,
            user: String,
            password: String? = nil,
            database: String? = nil,
            tls: TLSMode = .prefer,
            connectTimeout: Duration = .seconds(10),
            applicationName: String? = nil,
            statementCacheSize: Int = 100,
            directExecute: Bool = true
        ) {
            self.host = host
            self.port = port
            self.user = user
            self.password = password
            self.database = database
            self.tls = tls
            self.connectTimeout = connectTimeout
            self.applicationName = applicationName
            self.statementCacheSize = statementCacheSize
            self.directExecute = directExecute
        }

        /// Whether ``host`` names a Unix socket directory.
        public var isUnixSocket: Bool { host.hasPrefix("/") }

        /// Parses a libpq-style URL: `postgres://USER[:PASSWORD]@HOST[:PORT][/DATABASE][?OPTIONS]`
        /// (`postgresql://` too).
        ///
        /// User, password, host, database and option values are percent-decoded (write `%40` for `@`
        /// in a password). An IPv6 address goes in brackets: `postgres://app@[::1]:5432/db`. Options:
        /// `sslmode=disable|prefer|require|verify-ca|verify-full`, `sslrootcert=PATH` (the CA file for
        /// `verify-ca` and `verify-full`; default: the system's trust roots), `application_name=NAME`,
        /// `connect_timeout=SECONDS`, `host=HOST_OR_SOCKET_DIRECTORY`, `port=PORT`, `user=USER`,
        /// `password=PASSWORD`, `dbname=DATABASE`, `statement_cache_size=N`, `direct_execute=on|off`. An empty host means
        /// `localhost`. A URL with no user is an error: the driver does not guess one.
        ///
        /// ```swift
        /// let options = try PGConnection.Options(url: "postgres://app:s%40cret@127.0.0.1:5432/shop?sslmode=disable")
        /// ```
        /// - Parameter url: the URL.
        /// - Throws: `ConfigurationError` (option `url`) naming what is wrong; the message never
        ///   repeats the password.
        public init(url: String) throws {
            func invalid(_ message: String) -> ConfigurationError {
                ConfigurationError(option: "url", message: message)
            }
            guard let schemeEnd = url.firstRange(of: "://") else {
                throw invalid("expected postgres://USER@HOST/DATABASE, got no \"://\"")
            }
            let scheme = url[..<schemeEnd.lowerBound].lowercased()
            guard scheme == "postgres" || scheme == "postgresql" else {
                throw invalid("expected the scheme postgres:// or postgresql://, got \"\(scheme)://\"")
            }
            var rest = url[schemeEnd.upperBound...]
            var query: Substring = ""
            if let questionMark = rest.firstIndex(of: "?") {
                query = rest[rest.index(after: questionMark)...]
                rest = rest[..<questionMark]
            }
            if let fragment = query.firstIndex(of: "#") { query = query[..<fragment] }
            var path: Substring = ""
            if let slash = rest.firstIndex(of: "/") {
                path = rest[rest.index(after: slash)...]
                rest = rest[..<slash]
            }
            var user: String?
            var password: String?
            if let at = rest.lastIndex(of: "@") {
                let credentials = rest[..<at]
                rest = rest[rest.index(after: at)...]
                if let colon = credentials.firstIndex(of: ":") {
                    user = try Self.percentDecoded(credentials[..<colon], what: "user")
                    password = try Self.percentDecoded(
                        credentials[credentials.index(after: colon)...],
                        what: "password"
                    )
                } else {
                    user = try Self.percentDecoded(credentials, what: "user")
                }
            }
            var host = "localhost"
            var port = 5432
            var hostPart = rest
            if hostPart.hasPrefix("[") {
                guard let close = hostPart.firstIndex(of: "]") else {
                    throw invalid("an IPv6 address in brackets has no closing \"]\"")
                }
                host = String(hostPart[hostPart.index(after: hostPart.startIndex)..<close])
                hostPart = hostPart[hostPart.index(after: close)...]
                if !hostPart.isEmpty && !hostPart.hasPrefix(":") {
                    throw invalid("unexpected text after the IPv6 address")
                }
            } else if let colon = hostPart.lastIndex(of: ":") {
                let name = try Self.percentDecoded(hostPart[..<colon], what: "host")
                if !name.isEmpty { host = name }
                hostPart = hostPart[colon...]
            } else {
                let name = try Self.percentDecoded(hostPart, what: "host")
                if !name.isEmpty { host = name }
                hostPart = ""
            }
            if hostPart.hasPrefix(":") {
                let digits = hostPart.dropFirst()
                if !digits.isEmpty {
                    guard let number = Int(digits), (1...65535).contains(number) else {
                        throw invalid("the port must be a number from 1 to 65535, got \"\(digits)\"")
                    }
                    port = number
                }
            }
            var database: String? = path.isEmpty ? nil : try Self.percentDecoded(path, what: "database")
            var tls = TLSMode.prefer
            var sslmode: String?
            var rootCertificate: String?
            var applicationName: String?
            var connectTimeout = Duration.seconds(10)
            var statementCacheSize = 100
            var directExecute = true
            for pair in query.split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = String(parts[0])
                let value = try Self.percentDecoded(parts.count > 1 ? parts[1] : "", what: key)
                switch key {
                case "sslmode": sslmode = value
                case "sslrootcert": rootCertificate = value
                case "application_name": applicationName = value
                case "connect_timeout":
                    guard let seconds = Int(value), seconds >= 0 else {
                        throw invalid("connect_timeout must be a number of seconds, got \"\(value)\"")
                    }
                    // libpq: 0 means wait forever; a day is forever enough.
                    connectTimeout = seconds == 0 ? .seconds(86_400) : .seconds(seconds)
                case "host": if !value.isEmpty { host = value }
                case "port":
                    guard let number = Int(value), (1...65535).contains(number) else {
                        throw invalid("port must be a number from 1 to 65535, got \"\(value)\"")
                    }
                    port = number
                case "user": user = value
                case "password": password = value
                case "dbname": database = value
                case "statement_cache_size":
                    guard let size = Int(value), size >= 0 else {
                        throw invalid("statement_cache_size must be zero or positive, got \"\(value)\"")
                    }
                    statementCacheSize = size
                case "direct_execute":
                    switch value {
                    case "on", "true", "1": directExecute = true
                    case "off", "false", "0": directExecute = false
                    default: throw invalid("direct_execute must be on or off, got \"\(value)\"")
                    }
                default:
                    throw invalid(
                        "unknown option \"\(key)\"; known: sslmode, sslrootcert, application_name, connect_timeout, "
                            + "host, port, user, password, dbname, statement_cache_size, direct_execute"
                    )
                }
            }
            switch sslmode {
            case nil, "prefer": tls = .prefer
            case "disable": tls = .disable
            case "require": tls = .require
            case "verify-ca": tls = .verifyCA(rootCertificatePath: rootCertificate)
            case "verify-full": tls = .verifyFull(rootCertificatePath: rootCertificate)
            case let other?:
                throw invalid("sslmode must be disable, prefer, require, verify-ca or verify-full, got \"\(other)\"")
            }
            guard let user, !user.isEmpty else {
                throw invalid("the URL names no user: write postgres://USER@HOST/DATABASE")
            }
            self.init(
                host: host,
                port: port,
                user: user,
                password: password,
                database: database,
                tls: tls,
                connectTimeout: connectTimeout,
                applicationName: applicationName,
                statementCacheSize: statementCacheSize,
                directExecute: directExecute
            )
        }

        /// The options as a URL with the password replaced by `***`:
        /// `postgres://app:***@db:5432/shop?sslmode=prefer`.
        public var description: String {
            var text = "postgres://" + Self.percentEncoded(user) + (password != nil ? ":***" : "") + "@"
            var options: [String] = []
            if isUnixSocket {
                options += ["host=\(host)", "port=\(port)"]
            } else {
                text += (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
            }
            text += "/" + (database.map(Self.percentEncoded) ?? "")
            options.append("sslmode=\(tls.sslmode)")
            if let path = tls.rootCertificatePath { options.append("sslrootcert=\(path)") }
            if let applicationName { options.append("application_name=\(Self.percentEncoded(applicationName))") }
            if !directExecute { options.append("direct_execute=off") }
            return text + "?" + options.joined(separator: "&")
        }

        static func percentDecoded(_ text: Substring, what: String) throws -> String {
            guard text.contains("%") else { return String(text) }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(text.utf8.count)
            var iterator = text.utf8.makeIterator()
            while let byte = iterator.next() {
                guard byte == UInt8(ascii: "%") else {
                    bytes.append(byte)
                    continue
                }
                guard let high = iterator.next().flatMap(Self.hexValue),
                    let low = iterator.next().flatMap(Self.hexValue)
                else {
                    throw ConfigurationError(
                        option: "url",
                        message: "the \(what) has a bad percent-escape (expected %XX)"
                    )
                }
                bytes.append(high << 4 | low)
            }
            guard let decoded = String(validating: bytes, as: UTF8.self) else {
                throw ConfigurationError(option: "url", message: "the \(what) is not UTF-8 once percent-decoded")
            }
            return decoded
        }

        private static func hexValue(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }

        static func percentEncoded(_ text: String) -> String {
            var result = ""
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                    UInt8(ascii: "~"):
                    result.unicodeScalars.append(Unicode.Scalar(byte))
                default:
                    let digits = Array("0123456789ABCDEF")
                    result += "%\(digits[Int(byte >> 4)])\(digits[Int(byte & 0x0F)])"
                }
            }
            return result
        }
    }

    /// Whether and how a connection uses TLS: libpq's `sslmode`.
    public enum TLSMode: Sendable, Hashable {
        /// No TLS.
        case disable
        /// TLS when the server offers it, without verifying its certificate; plain otherwise.
        case prefer
        /// TLS, without verifying the certificate: encrypted, but open to a man in the middle.
        case require
        /// TLS, with the certificate verified against the CA file (PEM) or, when `nil`, the system's
        /// trust roots; the host name is not checked.
        case verifyCA(rootCertificatePath: String?)
        /// TLS, with the certificate verified against the CA file (PEM) or, when `nil`, the system's
        /// trust roots, and issued for ``Options/host`` (a DNS name, or an IP address in the
        /// certificate's subject alternative names).
        case verifyFull(rootCertificatePath: String?)

        /// libpq's name for the mode: `disable`, `prefer`, `require`, `verify-ca`, `verify-full`.
        public var sslmode: String {
            switch self {
            case .disable: "disable"
            case .prefer: "prefer"
            case .require: "require"
            case .verifyCA: "verify-ca"
            case .verifyFull: "verify-full"
            }
        }

        /// The CA file of ``verifyCA(rootCertificatePath:)`` and ``verifyFull(rootCertificatePath:)``.
        public var rootCertificatePath: String? {
            switch self {
            case .verifyCA(let path), .verifyFull(let path): path
            default: nil
            }
        }
    }

    /// How isolated a transaction is from concurrent ones (PostgreSQL's `ISOLATION LEVEL`).
    public enum IsolationLevel: String, Sendable, Hashable, CaseIterable {
        /// `READ UNCOMMITTED` (PostgreSQL runs it as read committed).
        case readUncommitted = "READ UNCOMMITTED"
        /// `READ COMMITTED`: each statement sees what was committed before it began (the server's default).
        case readCommitted = "READ COMMITTED"
        /// `REPEATABLE READ`: every statement sees the snapshot taken at the first one.
        case repeatableRead = "REPEATABLE READ"
        /// `SERIALIZABLE`: as if transactions ran one after another; may fail with SQLSTATE `40001`, to retry.
        case serializable = "SERIALIZABLE"
    }

    /// The options of ``PGConnection/begin(options:callOptions:)``:
    /// `BEGIN [ISOLATION LEVEL …] [, READ ONLY|READ WRITE] [, [NOT] DEFERRABLE]`.
    public struct TransactionOptions: Sendable, Hashable {
        /// The isolation level; `nil` (the default) uses the session's (`default_transaction_isolation`).
        public var isolationLevel: IsolationLevel?
        /// `true` for `READ ONLY`, `false` for `READ WRITE`, `nil` (the default) for the session's default.
        public var readOnly: Bool?
        /// `true` for `DEFERRABLE` (with serializable read-only transactions: wait for a safe snapshot
        /// instead of risking a serialization failure), `false` for `NOT DEFERRABLE`, `nil` (the default)
        /// for the session's default.
        public var deferrable: Bool?

        /// Makes transaction options; `nil` leaves a setting at the session's default.
        /// - Parameters:
        ///   - isolationLevel: the isolation level.
        ///   - readOnly: read only, or read write.
        ///   - deferrable: deferrable or not.
        public init(isolationLevel: IsolationLevel? = nil, readOnly: Bool? = nil, deferrable: Bool? = nil) {
            self.isolationLevel = isolationLevel
            self.readOnly = readOnly
            self.deferrable = deferrable
        }

        /// `BEGIN ISOLATION LEVEL SERIALIZABLE`.
        public static let serializable = TransactionOptions(isolationLevel: .serializable)
        /// `BEGIN ISOLATION LEVEL REPEATABLE READ`.
        public static let repeatableRead = TransactionOptions(isolationLevel: .repeatableRead)

        /// The statement ``PGConnection/begin(options:callOptions:)`` sends, such as
        /// `BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY`.
        public var beginStatement: String {
            var modes: [String] = []
            if let isolationLevel { modes.append("ISOLATION LEVEL \(isolationLevel.rawValue)") }
            if let readOnly { modes.append(readOnly ? "READ ONLY" : "READ WRITE") }
            if let deferrable { modes.append(deferrable ? "DEFERRABLE" : "NOT DEFERRABLE") }
            return modes.isEmpty ? "BEGIN" : "BEGIN " + modes.joined(separator: ", ")
        }
    }
}
