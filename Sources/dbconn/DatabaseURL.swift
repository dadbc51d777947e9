import DBConnection
import DBConnectionPostgres
import DBConnectionSQLite
import Foundation

/// A bad input found before any work starts: printed as one line, exit status 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}

/// A database named on the command line, checked up front so that a typo fails at once with a clear
/// message instead of in the middle of a run (a pool whose connects fail would back off and retry).
struct DatabaseURL: Sendable {
    /// What the database is for; it decides what must already exist.
    enum Purpose: Sendable {
        /// `bench`: the file may be new; its directory must exist and be writable.
        case bench
        /// `sql`: the file must exist, unless `create`.
        case query(create: Bool)
    }

    /// The driver the URL selects, with its connect options.
    enum Driver: Sendable {
        /// `sqlite:PATH`.
        case sqlite(SQLiteConnection.Options)
        /// `postgres://…` or `postgresql://…`.
        case postgres(PGConnection.Options)
    }

    /// The URL as it may be shown: as given for `sqlite:` URLs (which hold no credentials); for
    /// PostgreSQL, the parsed options with the password replaced by `***`.
    var url: String
    /// The driver and its options.
    var driver: Driver

    /// Parses and checks a URL.
    /// - Throws: ``CLIError`` naming the problem: an unknown scheme, a bad URL, a missing directory or
    ///   file, or one that can't be read. The message never shows a password.
    init(_ url: String, for purpose: Purpose) throws {
        let scheme = Self.scheme(of: url)
        switch scheme {
        case "sqlite":
            self = try Self.sqlite(url, for: purpose)
        case "postgres", "postgresql":
            if case .query(create: true) = purpose {
                throw CLIError("--create applies to sqlite: URLs only; create a PostgreSQL database with createdb")
            }
            let options: PGConnection.Options
            do {
                options = try PGConnection.Options(url: url)
            } catch let error as ConfigurationError {
                // The driver's message never repeats the password; the URL is not echoed here either.
                throw CLIError("invalid PostgreSQL URL: \(error.message)")
            }
            self.init(url: options.description, driver: .postgres(options))
        case let scheme?:
            throw CLIError(
                "unknown database URL scheme \"\(scheme)\"; expected sqlite:PATH or postgres://USER@HOST/DATABASE"
            )
        case nil:
            throw CLIError(
                "\"\(url)\" is not a database URL; expected sqlite:PATH (for example sqlite:\(url)) "
                    + "or postgres://USER@HOST/DATABASE"
            )
        }
    }

    private init(url: String, driver: Driver) {
        self.url = url
        self.driver = driver
    }

    private static func sqlite(_ url: String, for purpose: Purpose) throws -> DatabaseURL {
        var options: SQLiteConnection.Options
        do {
            options = try SQLiteConnection.Options(url: url)
        } catch let error as ConfigurationError {
            throw CLIError("invalid database URL: \(error.message)")
        }
        if case .query = purpose, !url.lowercased().contains("journal_mode=") {
            // Looking at a database must not switch it to WAL for good.
            options.journalMode = nil
        }
        try checkPath(options.path, for: purpose)
        return DatabaseURL(url: url, driver: .sqlite(options))
    }

    /// The SQLite options, or `nil` for a PostgreSQL URL.
    var sqlite: SQLiteConnection.Options? {
        if case .sqlite(let options) = driver { return options }
        return nil
    }

    /// The PostgreSQL options, or `nil` for an SQLite URL.
    var postgres: PGConnection.Options? {
        if case .postgres(let options) = driver { return options }
        return nil
    }

    /// The driver's name in reports: `sqlite` or `postgresql`.
    var driverName: String {
        switch driver {
        case .sqlite: "sqlite"
        case .postgres: "postgresql"
        }
    }

    /// The database system's name in titles: `SQLite` or `PostgreSQL`.
    var systemName: String {
        switch driver {
        case .sqlite: "SQLite"
        case .postgres: "PostgreSQL"
        }
    }

    /// Turns what a driver's `connect` threw into one line that names the database (password hidden):
    /// `cannot connect to postgres://app:***@db:5432/shop?sslmode=prefer: password authentication
    /// failed for user "app" (SQLSTATE 28P01)`. Other errors pass through.
    func connectFailure(_ error: any Error) -> any Error {
        guard let error = error as? PGError else { return error }
        var message = error.message
        // The driver prefixes "connecting to URL: "; say it once, our way.
        let prefix = "connecting to \(url): "
        if message.hasPrefix(prefix) { message.removeFirst(prefix.count) }
        var line = "cannot connect to \(url): \(message)"
        if let sqlState = error.sqlState { line += " (SQLSTATE \(sqlState))" }
        if let hint = error.hint { line += "; hint: \(hint)" }
        return CLIError(line)
    }

    /// The lowercased scheme, or `nil` when `url` has none.
    static func scheme(of url: String) -> String? {
        guard let colon = url.firstIndex(of: ":") else { return nil }
        let scheme = url[..<colon]
        guard let first = scheme.first, first.isLetter,
            scheme.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == "." })
        else { return nil }
        return scheme.lowercased()
    }

    /// Whether an SQLite path is an ordinary file path (not `:memory:` or a `file:` URI).
    static func isFilePath(_ path: String) -> Bool {
        !path.isEmpty && path != ":memory:" && !path.lowercased().hasPrefix("file:")
    }

    private static func checkPath(_ path: String, for purpose: Purpose) throws {
        guard isFilePath(path) else {
            if case .bench = purpose, path == ":memory:" {
                throw CLIError(
                    "bench needs a database file that the pool's connections share; "
                        + "sqlite::memory: gives each connection a database of its own"
                )
            }
            return
        }
        let files = FileManager.default
        let directory = (path as NSString).deletingLastPathComponent
        let directoryPath = directory.isEmpty ? "." : directory
        var isDirectory: ObjCBool = false
        guard files.fileExists(atPath: directoryPath, isDirectory: &isDirectory) else {
            throw CLIError("directory \(directoryPath) does not exist (database \(path))")
        }
        guard isDirectory.boolValue else {
            throw CLIError("\(directoryPath) is not a directory (database \(path))")
        }
        if files.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard !isDirectory.boolValue else {
                throw CLIError("\(path) is a directory, not a database file")
            }
            guard files.isReadableFile(atPath: path) else {
                throw CLIError("cannot read \(path): permission denied")
            }
            if case .bench = purpose, !files.isWritableFile(atPath: path) {
                throw CLIError("cannot write \(path): bench creates and fills its tables there")
            }
        } else {
            switch purpose {
            case .query(create: false):
                throw CLIError("no database at \(path) (pass --create to make a new one)")
            case .query(create: true), .bench:
                guard files.isWritableFile(atPath: directoryPath) else {
                    throw CLIError("cannot create \(path): directory \(directoryPath) is not writable")
                }
            }
        }
    }
}
