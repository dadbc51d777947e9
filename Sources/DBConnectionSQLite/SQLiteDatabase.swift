import CSQLite
import DBConnection
import Synchronization

/// The state of one open SQLite connection, isolated to the connection's own thread.
///
/// An actor whose executor is a ``SQLiteThreadExecutor``: every method runs on the connection's
/// dedicated thread, so every `sqlite3_*` call does, and the compiler checks that nothing touches the
/// handle, the statement cache or the cursors from anywhere else. The only call made from other threads
/// is `sqlite3_interrupt`, through ``Interruptor``.
///
/// Every method is synchronous, so a call runs from start to end with nothing interleaved (actor
/// reentrancy only happens at suspension points, and there are none).
actor SQLiteDatabase {
    private let executor: SQLiteThreadExecutor
    private let interruptor: Interruptor
    private let path: String
    /// The open handle, `nil` before open and after close. Wrapped in the Sendable ``SQLiteHandle`` so
    /// that the nonisolated `deinit` may read it.
    private var db: SQLiteHandle?
    private var cache: StatementCache
    private var cursors: [UInt64: OpenCursor] = [:]
    private var nextCursorID: UInt64 = 0
    private var busyWait: BusyWait?
    /// What the last call on the connection's thread left behind, read from SQLite there
    /// (`sqlite3_get_autocommit` and the open cursors) so that `checkin` needs no hop to that thread.
    private let published = Mutex<(inTransaction: Bool, openCursors: Int)>((false, 0))

    /// A cursor's statement and where it stands.
    private struct OpenCursor {
        var statement: Statement
        var columns: [String]
        /// The statement returned its last row.
        var finished = false
        /// A step failed (SQLite would restart the statement on the next step, repeating rows).
        var failure: SQLiteError?
    }

    nonisolated var unownedExecutor: UnownedSerialExecutor {
        executor.asUnownedSerialExecutor()
    }

    init(path: String, statementCacheSize: Int, interruptor: Interruptor, threadName: String) {
        self.executor = SQLiteThreadExecutor(name: threadName)
        self.interruptor = interruptor
        self.path = path
        self.cache = StatementCache(capacity: statementCacheSize)
    }

    /// Closes the handle if the connection was dropped without `disconnect`.
    ///
    /// No other reference exists, so this races with nothing, on whichever thread it runs. Statements
    /// still compiled are finalized when the cache and cursors are destroyed right after; SQLite
    /// keeps the handle as a "zombie" until then (`sqlite3_close_v2`).
    deinit {
        guard let db else { return }
        interruptor.setHandle(nil)
        sqlite3_close_v2(db.pointer)
    }

    // MARK: Opening and closing

    /// Opens the database and applies the options; on failure nothing stays open.
    /// - Returns: the journal mode SQLite reports after setting it, if the options set one.
    /// - Throws: ``SQLiteError`` naming the path.
    func open(_ options: SQLiteConnection.Options) throws -> String? {
        var flags = SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX
        switch options.mode {
        case .readOnly: flags |= SQLITE_OPEN_READONLY
        case .readWrite: flags |= SQLITE_OPEN_READWRITE
        case .readWriteCreate: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        }
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2(options.path, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            let extendedCode = handle.map { sqlite3_extended_errcode($0) } ?? rc
            sqlite3_close_v2(handle)
            throw SQLiteError(
                code: SQLiteError.Code(rawValue: rc),
                extendedCode: extendedCode,
                message: "cannot open the database: \(message)",
                path: options.path
            )
        }
        db = SQLiteHandle(pointer: handle)
        interruptor.setHandle(SQLiteHandle(pointer: handle))
        sqlite3_progress_handler(
            handle,
            500,
            interruptProgressHandler,
            Unmanaged.passUnretained(interruptor).toOpaque()
        )
        do {
            let busyWait = BusyWait(timeout: options.busyTimeout, interruptor: interruptor)
            self.busyWait = busyWait
            sqlite3_busy_handler(handle, busyHandler, Unmanaged.passUnretained(busyWait).toOpaque())
            var journalMode: String?
            let filename = sqlite3_db_filename(handle, "main").map { String(cString: $0) } ?? ""
            if let mode = options.journalMode, options.mode != .readOnly, !filename.isEmpty {
                let result = try run("PRAGMA journal_mode = \(mode.rawValue)", .none, cacheable: false)
                journalMode = result.scalar?.string
            }
            _ = try run("PRAGMA foreign_keys = \(options.foreignKeys ? "ON" : "OFF")", .none, cacheable: false)
            return journalMode
        } catch var error as SQLiteError {
            close()
            error.path = options.path
            if error.code != .interrupt {
                error.message = "cannot open the database: \(error.message)"
            }
            throw error
        }
    }

    /// Finalizes every statement and closes the handle; does nothing the second time.
    func close() {
        guard let db else { return }
        for cursor in cursors.values {
            cursor.statement.release()
        }
        cursors.removeAll()
        cache.removeAll()
        interruptor.setHandle(nil)
        sqlite3_close_v2(db.pointer)
        self.db = nil
    }

    // MARK: Statements

    /// Runs `sql` with `params` and returns every row.
    /// - Parameter call: the call's number, for interrupts; 0 for a call that must not be interrupted.
    func execute(_ sql: String, _ params: SQLiteParameters, call: UInt64) throws -> SQLiteResult {
        try running(call, sql: sql) { try run(sql, params) }
    }

    /// Compiles `sql` into the cache (or just checks it, with the cache off).
    func prepare(_ sql: String, call: UInt64) throws {
        try running(call, sql: sql) {
            try checkoutStatement(sql)?.release()
        }
    }

    /// Drops the compiled `sql` from the cache; a cursor using it keeps it until deallocated.
    func closeStatement(_ sql: String) {
        cache.remove(sql)
    }

    /// How many compiled statements the cache holds.
    var cachedStatementCount: Int { cache.count }

    // MARK: Transactions

    /// Whether a transaction is open (`sqlite3_get_autocommit` is 0).
    func inTransaction() throws -> Bool {
        sqlite3_get_autocommit(try openHandle()) == 0
    }

    /// Runs `statement` if the transaction state is `expected`.
    /// - Returns: whether it ran.
    func runIfInTransaction(_ expected: Bool, _ statement: String, call: UInt64) throws -> Bool {
        try running(call, sql: statement) {
            guard try inTransaction() == expected else { return false }
            _ = try run(statement, .none)
            return true
        }
    }

    /// What a lease left behind: an open transaction, open cursors.
    func leftovers() throws -> (inTransaction: Bool, openCursors: Int) {
        (try inTransaction(), cursors.count)
    }

    // MARK: Cursors

    /// Compiles and binds `sql` for stepping; the rows come with ``fetch(_:maxRows:call:)``.
    /// - Returns: the cursor's id.
    func declare(_ sql: String, _ params: SQLiteParameters, call: UInt64) throws -> UInt64 {
        try running(call, sql: sql) {
            guard let statement = try checkoutStatement(sql) else {
                throw SQLiteError(
                    code: .error,
                    message: "a cursor needs exactly one statement, and the SQL holds none or several",
                    sql: sql
                )
            }
            do {
                try bind(params, to: statement)
            } catch {
                statement.release()
                throw error
            }
            nextCursorID += 1
            cursors[nextCursorID] = OpenCursor(statement: statement, columns: columnNames(statement.handle))
            return nextCursorID
        }
    }

    /// Steps a cursor for up to `maxRows` rows.
    func fetch(_ id: UInt64, maxRows: Int, call: UInt64) throws -> FetchResult<SQLiteResult> {
        try running(call) {
            guard var cursor = cursors[id] else {
                throw SQLiteError(code: .error, message: "no open cursor \(id): it was deallocated, or never declared")
            }
            var batch = SQLiteResult(
                columns: cursor.columns,
                lastInsertRowID: sqlite3_last_insert_rowid(try openHandle())
            )
            if cursor.finished { return .done(batch) }
            if let failure = cursor.failure {
                throw SQLiteError(
                    code: failure.code,
                    extendedCode: failure.extendedCode,
                    message: "the cursor failed earlier (\(failure.message)); deallocate it",
                    sql: failure.sql
                )
            }
            let handle = cursor.statement.handle
            while batch.rows.count < maxRows {
                let rc = sqlite3_step(handle)
                if rc == SQLITE_ROW {
                    batch.rows.append(readRow(handle, columnCount: cursor.columns.count))
                } else if rc == SQLITE_DONE {
                    cursor.finished = true
                    cursors[id] = cursor
                    return .done(batch)
                } else {
                    let error = try failure(rc, sql: cursor.statement.sql)
                    cursor.failure = error
                    cursors[id] = cursor
                    throw error
                }
            }
            return .more(batch)
        }
    }

    /// Releases a cursor's statement (back to the cache, or finalized).
    func deallocate(_ id: UInt64) {
        cursors.removeValue(forKey: id)?.statement.release()
        publish()
    }

    /// Records, on the connection's thread, what SQLite says is open now.
    private func publish() {
        let inTransaction = db.map { sqlite3_get_autocommit($0.pointer) == 0 } ?? false
        let count = cursors.count
        published.withLock { $0 = (inTransaction, count) }
    }

    /// What the last call left behind, as ``publish()`` recorded it; no hop to the connection's thread.
    nonisolated var publishedLeftovers: (inTransaction: Bool, openCursors: Int) {
        published.withLock { $0 }
    }

    // MARK: Running statements

    /// Runs `body` as call `call`: throws at once if that call was already interrupted.
    private func running<T>(_ call: UInt64, sql: String? = nil, _ body: () throws -> T) throws -> T {
        interruptor.setRunning(call)
        defer {
            interruptor.setRunning(0)
            publish()
        }
        if interruptor.isInterrupted {
            throw SQLiteError(code: .interrupt, message: "interrupted", sql: sql)
        }
        return try body()
    }

    private func openHandle() throws -> OpaquePointer {
        guard let db else {
            throw SQLiteError(code: .misuse, message: "the connection is closed", path: path)
        }
        return db.pointer
    }

    /// Runs `sql` (one statement, or several without parameters) and returns the rows of the last one.
    private func run(_ sql: String, _ params: SQLiteParameters, cacheable: Bool = true) throws -> SQLiteResult {
        let db = try openHandle()
        guard let statement = try checkoutStatement(sql, cacheable: cacheable) else {
            return try runScript(sql, params)
        }
        defer { statement.release() }
        try bind(params, to: statement)
        return try stepToEnd(statement.handle, sql: sql, db: db)
    }

    /// Runs each statement of `sql` in turn, compiling the next one only after the previous ran (it may
    /// create the table the next one uses).
    private func runScript(_ sql: String, _ params: SQLiteParameters) throws -> SQLiteResult {
        let db = try openHandle()
        guard params.isEmpty else {
            throw SQLiteError(
                code: .range,
                message: "parameters need exactly one statement, and the SQL holds several (or none)",
                sql: sql
            )
        }
        return try sql.withCString { start in
            var result = SQLiteResult(lastInsertRowID: sqlite3_last_insert_rowid(db))
            var current = start
            while current.pointee != 0 {
                var handle: OpaquePointer?
                var tail: UnsafePointer<CChar>?
                let rc = sqlite3_prepare_v3(db, current, -1, 0, &handle, &tail)
                guard rc == SQLITE_OK else { throw try failure(rc, sql: sql) }
                guard let tail, tail > current else { break }
                current = tail
                guard let handle else { continue }  // only whitespace or a comment
                defer { sqlite3_finalize(handle) }
                result = try stepToEnd(handle, sql: String(cString: sqlite3_sql(handle)), db: db)
            }
            return result
        }
    }

    private func stepToEnd(_ handle: OpaquePointer, sql: String, db: OpaquePointer) throws -> SQLiteResult {
        let changesBefore = sqlite3_total_changes(db)
        let columns = columnNames(handle)
        var rows: [[SQLiteValue]] = []
        while true {
            let rc = sqlite3_step(handle)
            if rc == SQLITE_ROW {
                rows.append(readRow(handle, columnCount: columns.count))
            } else if rc == SQLITE_DONE {
                break
            } else {
                throw try failure(rc, sql: sql)
            }
        }
        return SQLiteResult(
            columns: columns,
            rows: rows,
            rowsChanged: sqlite3_total_changes(db) != changesBefore ? Int(sqlite3_changes(db)) : 0,
            lastInsertRowID: sqlite3_last_insert_rowid(db)
        )
    }

    /// A statement for `sql`, marked in use: the cached one if it is free, else a newly compiled one
    /// (cached if the cache has no entry for `sql`). `nil` when `sql` is not exactly one statement.
    private func checkoutStatement(_ sql: String, cacheable: Bool = true) throws -> Statement? {
        let db = try openHandle()
        if let cached = cache.lookup(sql), !cached.inUse {
            cached.inUse = true
            return cached
        }
        let cacheIt = cacheable && cache.capacity > 0 && !cache.contains(sql)
        var handle: OpaquePointer?
        var single = false
        let rc = sql.withCString { start in
            var tail: UnsafePointer<CChar>?
            let flags = cacheIt ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0
            let rc = sqlite3_prepare_v3(db, start, -1, flags, &handle, &tail)
            single = handle != nil && Self.isBlank(tail)
            return rc
        }
        guard rc == SQLITE_OK else {
            sqlite3_finalize(handle)
            throw try failure(rc, sql: sql)
        }
        guard single, let handle else {
            sqlite3_finalize(handle)
            return nil
        }
        let statement = Statement(handle: handle, sql: sql, isCached: cacheIt)
        if cacheIt { cache.insert(statement) }
        statement.inUse = true
        return statement
    }

    /// Whether the rest of the SQL text is only whitespace.
    private static func isBlank(_ text: UnsafePointer<CChar>?) -> Bool {
        guard var text else { return true }
        while text.pointee != 0 {
            switch UInt8(bitPattern: text.pointee) {
            case 0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D: text += 1
            default: return false
            }
        }
        return true
    }

    // MARK: Values

    private func bind(_ params: SQLiteParameters, to statement: Statement) throws {
        let handle = statement.handle
        let count = Int(sqlite3_bind_parameter_count(handle))
        switch params {
        case .positional(let values):
            guard values.count == count else {
                throw SQLiteError(
                    code: .range,
                    message: "the statement has \(count) parameter\(count == 1 ? "" : "s"), "
                        + "got \(values.count) value\(values.count == 1 ? "" : "s")",
                    sql: statement.sql
                )
            }
            for (offset, value) in values.enumerated() {
                try bind(value, at: Int32(offset + 1), statement)
            }
        case .named(let values):
            var used = Set<String>()
            for index in 0..<count {
                let position = Int32(index + 1)
                guard let cName = sqlite3_bind_parameter_name(handle, position) else {
                    throw SQLiteError(
                        code: .range,
                        message: "parameter \(position) is positional (?), but the values are named: "
                            + "pass positional values, or name every parameter",
                        sql: statement.sql
                    )
                }
                let name = String(cString: cName)
                let bare = String(name.dropFirst())
                if let value = values[name] {
                    used.insert(name)
                    try bind(value, at: position, statement)
                } else if let value = values[bare] {
                    used.insert(bare)
                    try bind(value, at: position, statement)
                } else {
                    throw SQLiteError(code: .range, message: "no value for parameter \(name)", sql: statement.sql)
                }
            }
            if used.count < values.count {
                let unused = values.keys.filter { !used.contains($0) }.sorted().joined(separator: ", ")
                throw SQLiteError(
                    code: .range,
                    message: "the statement has no parameter named \(unused)",
                    sql: statement.sql
                )
            }
        }
    }

    private func bind(_ value: SQLiteValue, at position: Int32, _ statement: Statement) throws {
        let handle = statement.handle
        let rc: Int32
        switch value {
        case .null:
            rc = sqlite3_bind_null(handle, position)
        case .integer(let integer):
            rc = sqlite3_bind_int64(handle, position, integer)
        case .real(let real):
            rc = sqlite3_bind_double(handle, position, real)
        case .text(var text):
            rc = text.withUTF8 { utf8 in
                guard let base = utf8.baseAddress, utf8.count > 0 else {
                    return sqlite3_bind_text(handle, position, "", 0, sqliteTransient)
                }
                return base.withMemoryRebound(to: CChar.self, capacity: utf8.count) {
                    sqlite3_bind_text64(handle, position, $0, UInt64(utf8.count), sqliteTransient, UInt8(SQLITE_UTF8))
                }
            }
        case .blob(let bytes):
            rc = bytes.withUnsafeBytes { raw in
                guard let base = raw.baseAddress, raw.count > 0 else {
                    return sqlite3_bind_zeroblob(handle, position, 0)
                }
                return sqlite3_bind_blob64(handle, position, base, UInt64(raw.count), sqliteTransient)
            }
        }
        guard rc == SQLITE_OK else { throw try failure(rc, sql: statement.sql) }
    }

    private func columnNames(_ handle: OpaquePointer) -> [String] {
        (0..<sqlite3_column_count(handle)).map { column in
            sqlite3_column_name(handle, column).map { String(cString: $0) } ?? ""
        }
    }

    private func readRow(_ handle: OpaquePointer, columnCount: Int) -> [SQLiteValue] {
        var row: [SQLiteValue] = []
        row.reserveCapacity(columnCount)
        for index in 0..<Int32(columnCount) {
            switch sqlite3_column_type(handle, index) {
            case SQLITE_INTEGER:
                row.append(.integer(sqlite3_column_int64(handle, index)))
            case SQLITE_FLOAT:
                row.append(.real(sqlite3_column_double(handle, index)))
            case SQLITE_TEXT:
                let text = sqlite3_column_text(handle, index)
                let count = Int(sqlite3_column_bytes(handle, index))
                row.append(
                    .text(
                        text.map { String(decoding: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self) } ?? ""
                    )
                )
            case SQLITE_BLOB:
                let blob = sqlite3_column_blob(handle, index)
                let count = Int(sqlite3_column_bytes(handle, index))
                row.append(.blob(blob.map { Array(UnsafeRawBufferPointer(start: $0, count: count)) } ?? []))
            default:
                row.append(.null)
            }
        }
        return row
    }

    /// The error SQLite reports for the call that returned `rc`.
    private func failure(_ rc: Int32, sql: String?) throws -> SQLiteError {
        let db = try openHandle()
        if rc & 0xFF == SQLITE_BUSY, interruptor.isInterrupted {
            // The busy handler gave up waiting because the call was interrupted.
            return SQLiteError(
                code: .interrupt,
                message: "interrupted while waiting for another connection's lock",
                sql: sql
            )
        }
        var error = SQLiteError(
            code: SQLiteError.Code(rawValue: rc),
            extendedCode: sqlite3_extended_errcode(db),
            message: String(cString: sqlite3_errmsg(db)),
            sql: sql
        )
        if error.invalidatesConnection { error.path = path }
        return error
    }
}

/// SQLite's `SQLITE_TRANSIENT`: SQLite copies the bound bytes before the bind call returns.
private var sqliteTransient: sqlite3_destructor_type {
    unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
}

/// The busy handler's state: how long a statement may wait for a lock, and since when it waits.
///
/// Used on the connection's thread only (SQLite calls the busy handler from inside `sqlite3_step`).
final class BusyWait {
    let timeout: Duration
    let interruptor: Interruptor
    var start = ContinuousClock.now

    init(timeout: Duration, interruptor: Interruptor) {
        self.timeout = timeout
        self.interruptor = interruptor
    }
}

/// The pauses between retries of a locked database, in milliseconds; the last one repeats. Short, so
/// an interrupt stops a wait within 25 ms.
private let busyDelays: [Int32] = [1, 2, 5, 10, 15, 20, 25]

/// The busy handler: `sqlite3_busy_timeout`'s retry loop, that also stops when the call is interrupted
/// (`sqlite3_interrupt` does not stop a lock wait).
/// - Returns: 1 to retry, 0 to fail with `SQLITE_BUSY`.
private func busyHandler(_ context: UnsafeMutableRawPointer?, _ count: Int32) -> Int32 {
    guard let context else { return 0 }
    let wait = Unmanaged<BusyWait>.fromOpaque(context).takeUnretainedValue()
    if count == 0 { wait.start = .now }
    if wait.interruptor.isInterrupted { return 0 }
    let remaining = wait.timeout - (ContinuousClock.now - wait.start)
    guard remaining > .zero else { return 0 }
    let delay = busyDelays[min(Int(count), busyDelays.count - 1)]
    sqlite3_sleep(min(delay, Int32(clamping: max(1, remaining.milliseconds))))
    return 1
}

/// The progress handler: stops the running statement when its call was interrupted.
private func interruptProgressHandler(_ context: UnsafeMutableRawPointer?) -> Int32 {
    guard let context else { return 0 }
    return Unmanaged<Interruptor>.fromOpaque(context).takeUnretainedValue().isInterrupted ? 1 : 0
}

extension Duration {
    /// The duration in whole milliseconds, rounded down.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds.multipliedReportingOverflow(by: 1000).overflow
            ? .max : seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
