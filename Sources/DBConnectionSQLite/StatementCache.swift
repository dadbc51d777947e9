import CSQLite

/// One compiled statement (`sqlite3_stmt*`), owned by a ``SQLiteDatabase`` and used on its thread only.
///
/// Finalized by ``release()`` or ``evict()`` when nothing will use it again, or at the latest when
/// it is deallocated.
final class Statement {
    let handle: OpaquePointer
    let sql: String
    /// Whether the statement belongs to the cache (compiled with `SQLITE_PREPARE_PERSISTENT`).
    let isCached: Bool
    /// Whether a call or a cursor is stepping it now.
    var inUse = false
    /// Whether the cache let go of it while it was in use: it is finalized when released.
    var isEvicted = false
    /// When it was last taken from the cache, in cache ticks.
    var lastUsed: UInt64 = 0
    private var isFinalized = false

    init(handle: OpaquePointer, sql: String, isCached: Bool) {
        self.handle = handle
        self.sql = sql
        self.isCached = isCached
    }

    deinit {
        finalize()
    }

    private func finalize() {
        guard !isFinalized else { return }
        isFinalized = true
        sqlite3_finalize(handle)
    }

    /// Makes the statement ready for its next use, or finalizes it if nothing will use it again.
    func release() {
        guard !isFinalized else { return }
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        inUse = false
        if !isCached || isEvicted {
            finalize()
        }
    }

    /// Finalizes the statement now if it is idle, or when its user releases it.
    func evict() {
        if inUse {
            isEvicted = true
        } else {
            finalize()
        }
    }
}

/// A bounded cache of compiled statements keyed by their SQL text, least recently used out first.
///
/// Eviction scans the entries (at most ``capacity``, 64 by default), which costs less than keeping a
/// linked list in order on every hit.
struct StatementCache {
    /// The most statements kept; 0 keeps none.
    let capacity: Int
    private var entries: [String: Statement] = [:]
    private var tick: UInt64 = 0

    init(capacity: Int) {
        self.capacity = max(0, capacity)
        entries.reserveCapacity(self.capacity)
    }

    /// How many statements the cache holds.
    var count: Int { entries.count }

    /// The cached statement for `sql`, marked as just used.
    mutating func lookup(_ sql: String) -> Statement? {
        guard let statement = entries[sql] else { return nil }
        tick &+= 1
        statement.lastUsed = tick
        return statement
    }

    /// Whether the cache holds a statement for `sql`.
    func contains(_ sql: String) -> Bool {
        entries[sql] != nil
    }

    /// Adds a statement, evicting the least recently used one when full.
    mutating func insert(_ statement: Statement) {
        precondition(
            capacity > 0 && entries[statement.sql] == nil,
            "StatementCache: insert of an uncacheable statement"
        )
        if entries.count >= capacity, let oldest = entries.values.min(by: { $0.lastUsed < $1.lastUsed }) {
            entries[oldest.sql] = nil
            oldest.evict()
        }
        tick &+= 1
        statement.lastUsed = tick
        entries[statement.sql] = statement
    }

    /// Drops the statement for `sql`, if any.
    mutating func remove(_ sql: String) {
        entries.removeValue(forKey: sql)?.evict()
    }

    /// Drops every statement.
    mutating func removeAll() {
        for statement in entries.values {
            statement.evict()
        }
        entries.removeAll()
    }
}
