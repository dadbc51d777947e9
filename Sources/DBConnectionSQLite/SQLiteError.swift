/// An error SQLite reported, or the driver raised in SQLite's terms.
///
/// ``code`` is SQLite's primary result code, ``extendedCode`` the extended one (for example
/// `SQLITE_CONSTRAINT_UNIQUE`), ``message`` SQLite's English message, ``sql`` the statement text
/// (bound values never appear in an error) and ``path`` the database file, when the error is about
/// the file.
///
/// Errors that leave the connection in doubt (``invalidatesConnection``: corruption, a file that is
/// not a database, I/O errors, a file that cannot be opened, misuse) reach the pool inside a
/// `DisconnectError`, and the pool closes the connection and opens a new one. Every other error
/// (constraint violations, syntax errors, `SQLITE_BUSY`, interrupts) leaves the connection usable.
///
/// Two errors are equal when their codes are.
public struct SQLiteError: Error, Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// SQLite's primary result code.
    public var code: Code
    /// SQLite's extended result code (equal to the primary code when there is none).
    public var extendedCode: Int32
    /// SQLite's message (`sqlite3_errmsg`), or the driver's.
    public var message: String
    /// The statement that failed, as text; never its bound values.
    public var sql: String?
    /// The database file, for errors about the file (open failures, corruption, I/O).
    public var path: String?

    /// Makes an error.
    /// - Parameters:
    ///   - code: the primary result code.
    ///   - extendedCode: the extended result code; default: the primary one.
    ///   - message: what went wrong.
    ///   - sql: the statement, if any.
    ///   - path: the database file, if the error is about it.
    public init(code: Code, extendedCode: Int32? = nil, message: String, sql: String? = nil, path: String? = nil) {
        self.code = code
        self.extendedCode = extendedCode ?? code.rawValue
        self.message = message
        self.sql = sql
        self.path = path
    }

    /// Whether the connection that raised this error can no longer be trusted.
    ///
    /// `true` for `SQLITE_CORRUPT`, `SQLITE_NOTADB`, `SQLITE_IOERR`, `SQLITE_CANTOPEN` and
    /// `SQLITE_MISUSE`: the driver throws these inside `DisconnectError`, so the pool closes the
    /// connection. `SQLITE_FULL` is not among them: a full disk is not the connection's fault, and a
    /// new connection would not help.
    public var invalidatesConnection: Bool {
        switch code {
        case .corrupt, .notADatabase, .ioError, .cannotOpen, .misuse: true
        default: false
        }
    }

    /// What to do about the error, for the codes that have a usual remedy.
    public var hint: String? {
        switch code {
        case .busy, .locked:
            "the database is locked by another connection: raise busyTimeout, use WAL, or keep write "
                + "transactions short; BEGIN IMMEDIATE for writers"
        case .interrupt:
            "the statement was interrupted (a cancelled task, a passed deadline, or interrupt())"
        case .notADatabase:
            "the file is not an SQLite database (or is encrypted): check the path"
        case .corrupt:
            "the database file is damaged: restore it from a backup, or try `sqlite3 FILE .recover`"
        case .cannotOpen:
            "check that the directory exists and that the process may read (and write) the file"
        case .readOnly:
            "the database is open read-only, or the file or its directory is not writable"
        default:
            nil
        }
    }

    /// The code, the message, the remedy, the database file and the statement.
    public var description: String {
        var text = "\(code.name)"
        if extendedCode != code.rawValue {
            text += " (extended code \(extendedCode))"
        }
        text += ": \(message)"
        if let hint { text += "; \(hint)" }
        if let path { text += "; database: \(path)" }
        if let sql { text += "; SQL: \(sql)" }
        return text
    }

    /// ``description`` with the type name.
    public var debugDescription: String { "SQLiteError(\(description))" }

    /// Compares the codes only.
    public static func == (lhs: SQLiteError, rhs: SQLiteError) -> Bool {
        lhs.code == rhs.code
    }

    /// Hashes the code only.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
    }

    /// An SQLite primary result code, with names for the ones a caller tests for.
    public struct Code: Sendable, Hashable, RawRepresentable, CustomStringConvertible {
        /// The numeric code (`SQLITE_BUSY` is 5).
        public var rawValue: Int32

        /// Makes a code from its number; an extended code is reduced to its primary code.
        /// - Parameter rawValue: the code.
        public init(rawValue: Int32) {
            self.rawValue = rawValue & 0xFF
        }

        /// `SQLITE_ERROR`: a generic error, such as an SQL syntax error or a missing table.
        public static let error = Code(rawValue: 1)
        /// `SQLITE_INTERNAL`.
        public static let `internal` = Code(rawValue: 2)
        /// `SQLITE_PERM`: access permission denied.
        public static let permission = Code(rawValue: 3)
        /// `SQLITE_ABORT`: a callback asked to abort, or a rollback aborted a pending statement.
        public static let abort = Code(rawValue: 4)
        /// `SQLITE_BUSY`: another connection holds a conflicting lock.
        public static let busy = Code(rawValue: 5)
        /// `SQLITE_LOCKED`: a conflict inside this connection or its shared cache.
        public static let locked = Code(rawValue: 6)
        /// `SQLITE_NOMEM`.
        public static let noMemory = Code(rawValue: 7)
        /// `SQLITE_READONLY`: an attempt to write a read-only database.
        public static let readOnly = Code(rawValue: 8)
        /// `SQLITE_INTERRUPT`: `sqlite3_interrupt` stopped the statement.
        public static let interrupt = Code(rawValue: 9)
        /// `SQLITE_IOERR`: the operating system reported an I/O error.
        public static let ioError = Code(rawValue: 10)
        /// `SQLITE_CORRUPT`: the database file is malformed.
        public static let corrupt = Code(rawValue: 11)
        /// `SQLITE_FULL`: the disk is full.
        public static let full = Code(rawValue: 13)
        /// `SQLITE_CANTOPEN`: the file cannot be opened.
        public static let cannotOpen = Code(rawValue: 14)
        /// `SQLITE_SCHEMA`: the schema changed.
        public static let schema = Code(rawValue: 17)
        /// `SQLITE_TOOBIG`: a string or blob is too large.
        public static let tooBig = Code(rawValue: 18)
        /// `SQLITE_CONSTRAINT`: a constraint (unique, foreign key, not null, check) was violated.
        public static let constraint = Code(rawValue: 19)
        /// `SQLITE_MISMATCH`: a datatype mismatch.
        public static let mismatch = Code(rawValue: 20)
        /// `SQLITE_MISUSE`: the library was used incorrectly (for example, on a closed connection).
        public static let misuse = Code(rawValue: 21)
        /// `SQLITE_RANGE`: a parameter index out of range, or parameters that don't match the statement.
        public static let range = Code(rawValue: 25)
        /// `SQLITE_NOTADB`: the file is not a database.
        public static let notADatabase = Code(rawValue: 26)

        /// SQLite's name for the code, such as `SQLITE_BUSY`.
        public var name: String {
            Code.names[rawValue] ?? "SQLite result code \(rawValue)"
        }

        private static let names: [Int32: String] = [
            0: "SQLITE_OK", 1: "SQLITE_ERROR", 2: "SQLITE_INTERNAL", 3: "SQLITE_PERM", 4: "SQLITE_ABORT",
            5: "SQLITE_BUSY", 6: "SQLITE_LOCKED", 7: "SQLITE_NOMEM", 8: "SQLITE_READONLY",
            9: "SQLITE_INTERRUPT", 10: "SQLITE_IOERR", 11: "SQLITE_CORRUPT", 12: "SQLITE_NOTFOUND",
            13: "SQLITE_FULL", 14: "SQLITE_CANTOPEN", 15: "SQLITE_PROTOCOL", 16: "SQLITE_EMPTY",
            17: "SQLITE_SCHEMA", 18: "SQLITE_TOOBIG", 19: "SQLITE_CONSTRAINT", 20: "SQLITE_MISMATCH",
            21: "SQLITE_MISUSE", 22: "SQLITE_NOLFS", 23: "SQLITE_AUTH", 24: "SQLITE_FORMAT",
            25: "SQLITE_RANGE", 26: "SQLITE_NOTADB", 27: "SQLITE_NOTICE", 28: "SQLITE_WARNING",
        ]

        /// ``name``.
        public var description: String { name }
    }
}
