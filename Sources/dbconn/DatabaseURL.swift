import DBConnection
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

    /// The URL as given (for `sqlite:` URLs only, which hold no credentials).
    var url: String
    /// The driver options it parses to.
    var sqlite: SQLiteConnection.Options

    /// Parses and checks a URL.
    /// - Throws: ``CLIError`` naming the problem: an unknown scheme, a PostgreSQL URL (that driver is
    ///   not built yet), a bad `sqlite:` URL, a missing directory or file, or one that can't be read.
    init(_ url: String, for purpose: Purpose) throws {
        let scheme = Self.scheme(of: url)
        switch scheme {
        case "sqlite":
            break
        case "postgres", "postgresql":
            // Never echo the URL: it may hold a password.
            throw CLIError(
                "the PostgreSQL driver is not built yet; only sqlite:PATH URLs work for now"
            )
        case let scheme?:
            throw CLIError(
                "unknown database URL scheme \"\(scheme)\"; expected sqlite:PATH (postgres:// is not built yet)"
            )
        case nil:
            throw CLIError("\"\(url)\" is not a database URL; expected sqlite:PATH, for example sqlite:\(url)")
        }
        do {
            sqlite = try SQLiteConnection.Options(url: url)
        } catch let error as ConfigurationError {
            throw CLIError("invalid database URL: \(error.message)")
        }
        self.url = url
        if case .query = purpose, !url.lowercased().contains("journal_mode=") {
            // Looking at a database must not switch it to WAL for good.
            sqlite.journalMode = nil
        }
        try checkPath(for: purpose)
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

    /// Whether the path is an ordinary file path (not `:memory:` or a `file:` URI).
    var isFilePath: Bool {
        let path = sqlite.path
        return !path.isEmpty && path != ":memory:" && !path.lowercased().hasPrefix("file:")
    }

    private func checkPath(for purpose: Purpose) throws {
        let path = sqlite.path
        guard isFilePath else {
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
