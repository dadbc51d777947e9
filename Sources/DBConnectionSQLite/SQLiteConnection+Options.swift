import DBConnection

extension SQLiteConnection {
    /// How to open a database: ``SQLiteConnection``'s connect options.
    ///
    /// ```swift
    /// var options = SQLiteConnection.Options(path: "app.sqlite")
    /// options.busyTimeout = .seconds(10)
    /// options.defaultTransactionMode = .immediate
    /// ```
    ///
    /// On connect the driver installs a busy handler that waits up to ``busyTimeout``, then runs
    /// `PRAGMA journal_mode = …` with ``journalMode`` (files opened for writing only) and
    /// `PRAGMA foreign_keys = ON|OFF`.
    public struct Options: Sendable, Hashable {
        /// The database file path, `":memory:"` for a private in-memory database, or a `file:` URI
        /// (`SQLITE_OPEN_URI` is always on). A relative path is relative to the working directory.
        public var path: String
        /// Whether to open for reading only, for reading and writing, or to create the file too.
        /// Default ``OpenMode/readWriteCreate``.
        public var mode: OpenMode
        /// How long a statement waits for another connection's lock before failing with
        /// `SQLITE_BUSY`. Default 5 seconds; `.zero` fails at once.
        ///
        /// The driver's busy handler retries as `sqlite3_busy_timeout` does (pauses of 1 to 25 ms), and
        /// also stops when the call is interrupted, which `sqlite3_busy_timeout` would not. Running
        /// `PRAGMA busy_timeout` yourself replaces that handler with SQLite's, which ignores interrupts.
        public var busyTimeout: Duration
        /// The journal mode to set on connect; `nil` leaves the database's mode as it is. Default
        /// ``JournalMode/wal``. Ignored for in-memory and temporary databases and in read-only mode.
        public var journalMode: JournalMode?
        /// Whether to enforce foreign keys (`PRAGMA foreign_keys`). Default `true`.
        public var foreignKeys: Bool
        /// How many compiled statements the connection keeps, least recently used out first. Default 64;
        /// 0 turns the cache off.
        public var statementCacheSize: Int
        /// The transaction mode of `begin` when its ``TransactionOptions`` name none. Default
        /// ``TransactionMode/deferred``.
        public var defaultTransactionMode: TransactionMode

        /// Makes options; every argument but the path has the documented default.
        /// - Parameters:
        ///   - path: the database file, `":memory:"`, or a `file:` URI.
        ///   - mode: read-only, read-write, or read-write-create (default).
        ///   - busyTimeout: how long to wait for locks (default 5 s).
        ///   - journalMode: the journal mode to set (default WAL; `nil` leaves it).
        ///   - foreignKeys: whether to enforce foreign keys (default `true`).
        ///   - statementCacheSize: how many compiled statements to keep (default 64).
        ///   - defaultTransactionMode: the mode of `BEGIN` (default deferred).
        public init(
            path: String,
            mode: OpenMode = .readWriteCreate,
            busyTimeout: Duration = .seconds(5),
            journalMode: JournalMode? = .wal,
            foreignKeys: Bool = true,
            statementCacheSize: Int = 64,
            defaultTransactionMode: TransactionMode = .deferred
        ) {
            self.path = path
            self.mode = mode
            self.busyTimeout = busyTimeout
            self.journalMode = journalMode
            self.foreignKeys = foreignKeys
            self.statementCacheSize = statementCacheSize
            self.defaultTransactionMode = defaultTransactionMode
        }

        /// Options for a private in-memory database.
        public static var inMemory: Options { Options(path: ":memory:") }

        /// Parses a database URL: `sqlite:PATH`, `sqlite:///ABSOLUTE/PATH`, or `sqlite::memory:`.
        ///
        /// The path is taken literally (no percent-decoding). A query string may set options:
        /// `mode=ro|rw|rwc`, `busy_timeout=MILLISECONDS`, `journal_mode=wal|delete|truncate|persist|memory|off`,
        /// `foreign_keys=on|off`, `transaction=deferred|immediate|exclusive`, `statement_cache_size=N`.
        ///
        /// ```swift
        /// let options = try SQLiteConnection.Options(url: "sqlite:data/app.sqlite?mode=ro")
        /// ```
        /// - Parameter url: the URL.
        /// - Throws: `ConfigurationError` (option `url`) naming what is wrong: another scheme, no
        ///   path, an unknown query option or a bad value.
        public init(url: String) throws {
            func invalid(_ message: String) -> ConfigurationError {
                ConfigurationError(option: "url", message: message)
            }
            let scheme = "sqlite:"
            guard url.count >= scheme.count, url.prefix(scheme.count).lowercased() == scheme else {
                if let colon = url.firstIndex(of: ":"), url[..<colon].allSatisfy({ $0.isLetter || $0 == "+" }) {
                    // Echo only the scheme: the rest of another database's URL may hold credentials.
                    throw invalid(
                        "expected \"sqlite:PATH\" or \"sqlite::memory:\", got a URL with scheme \"\(url[..<colon])\""
                    )
                }
                throw invalid("expected \"sqlite:PATH\" or \"sqlite::memory:\", got \"\(url)\" (no \"sqlite:\" prefix)")
            }
            var rest = url.dropFirst(scheme.count)
            if rest.hasPrefix("//") { rest = rest.dropFirst(2) }
            var query: Substring = ""
            if let questionMark = rest.firstIndex(of: "?") {
                query = rest[rest.index(after: questionMark)...]
                rest = rest[..<questionMark]
            }
            guard !rest.isEmpty else {
                throw invalid("\"\(url)\" names no database: write \"sqlite:PATH\" or \"sqlite::memory:\"")
            }
            self.init(path: String(rest))
            for pair in query.split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = parts[0].lowercased()
                let value = parts.count > 1 ? parts[1].lowercased() : ""
                switch key {
                case "mode":
                    switch value {
                    case "ro": mode = .readOnly
                    case "rw": mode = .readWrite
                    case "rwc": mode = .readWriteCreate
                    default: throw invalid("mode must be ro, rw or rwc, got \"\(value)\"")
                    }
                case "busy_timeout":
                    guard let milliseconds = Int(value), milliseconds >= 0 else {
                        throw invalid("busy_timeout must be a number of milliseconds, got \"\(value)\"")
                    }
                    busyTimeout = .milliseconds(milliseconds)
                case "journal_mode":
                    guard let journal = JournalMode(rawValue: value.uppercased()) else {
                        throw invalid(
                            "journal_mode must be wal, delete, truncate, persist, memory or off, got \"\(value)\""
                        )
                    }
                    journalMode = journal
                case "foreign_keys":
                    switch value {
                    case "on", "true", "1": foreignKeys = true
                    case "off", "false", "0": foreignKeys = false
                    default: throw invalid("foreign_keys must be on or off, got \"\(value)\"")
                    }
                case "transaction":
                    guard let transaction = TransactionMode(rawValue: value) else {
                        throw invalid("transaction must be deferred, immediate or exclusive, got \"\(value)\"")
                    }
                    defaultTransactionMode = transaction
                case "statement_cache_size":
                    guard let size = Int(value), size >= 0 else {
                        throw invalid("statement_cache_size must be zero or positive, got \"\(value)\"")
                    }
                    statementCacheSize = size
                default:
                    throw invalid(
                        "unknown option \"\(parts[0])\"; known: mode, busy_timeout, journal_mode, foreign_keys, "
                            + "transaction, statement_cache_size"
                    )
                }
            }
        }

        /// ``init(url:)`` as a static function.
        /// - Parameter url: the URL.
        /// - Throws: `ConfigurationError` naming what is wrong.
        public static func parse(url: String) throws -> Options {
            try Options(url: url)
        }
    }

    /// How ``SQLiteConnection/Options`` opens the file.
    public enum OpenMode: Sendable, Hashable {
        /// `SQLITE_OPEN_READONLY`: reads only; the file must exist.
        case readOnly
        /// `SQLITE_OPEN_READWRITE`: the file must exist.
        case readWrite
        /// `SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE`: the file is created if missing.
        case readWriteCreate
    }

    /// A journal mode (`PRAGMA journal_mode`).
    public struct JournalMode: Sendable, Hashable, RawRepresentable {
        /// The mode as `PRAGMA journal_mode` spells it, upper case.
        public var rawValue: String

        /// Makes a mode from its name, or `nil` when SQLite has no such mode.
        /// - Parameter rawValue: the name, in any case.
        public init?(rawValue: String) {
            let upper = rawValue.uppercased()
            guard ["WAL", "DELETE", "TRUNCATE", "PERSIST", "MEMORY", "OFF"].contains(upper) else { return nil }
            self.rawValue = upper
        }

        /// Write-ahead logging: readers don't block the writer nor the writer the readers.
        public static let wal = JournalMode(rawValue: "WAL")!
        /// The rollback journal, deleted at each commit (SQLite's default).
        public static let delete = JournalMode(rawValue: "DELETE")!
        /// The rollback journal, truncated at each commit.
        public static let truncate = JournalMode(rawValue: "TRUNCATE")!
        /// The rollback journal, its header zeroed at each commit.
        public static let persist = JournalMode(rawValue: "PERSIST")!
        /// The rollback journal, kept in memory.
        public static let memory = JournalMode(rawValue: "MEMORY")!
        /// No journal: no rollback, no atomic commit.
        public static let off = JournalMode(rawValue: "OFF")!
    }

    /// How `BEGIN` takes locks.
    public enum TransactionMode: String, Sendable, Hashable {
        /// `BEGIN DEFERRED`: no lock until the first read, a write lock at the first write. A read
        /// transaction that later writes may fail with `SQLITE_BUSY` without waiting.
        case deferred
        /// `BEGIN IMMEDIATE`: the write lock at once, waiting up to the busy timeout. Use it for
        /// transactions that write.
        case immediate
        /// `BEGIN EXCLUSIVE`: as immediate; outside WAL mode, other connections can't read either.
        case exclusive

        /// The statement that begins a transaction in this mode.
        public var beginStatement: String {
            switch self {
            case .deferred: "BEGIN DEFERRED"
            case .immediate: "BEGIN IMMEDIATE"
            case .exclusive: "BEGIN EXCLUSIVE"
            }
        }
    }

    /// The options of ``SQLiteConnection/begin(options:callOptions:)``.
    public struct TransactionOptions: Sendable, Hashable {
        /// The mode of `BEGIN`; `nil` (the default) uses ``Options/defaultTransactionMode``.
        public var mode: TransactionMode?

        /// Makes transaction options.
        /// - Parameter mode: the mode of `BEGIN`, or `nil` for the connection's default.
        public init(mode: TransactionMode? = nil) {
            self.mode = mode
        }

        /// `BEGIN DEFERRED`.
        public static let deferred = TransactionOptions(mode: .deferred)
        /// `BEGIN IMMEDIATE`.
        public static let immediate = TransactionOptions(mode: .immediate)
        /// `BEGIN EXCLUSIVE`.
        public static let exclusive = TransactionOptions(mode: .exclusive)
    }
}
