/// What a statement returned: its columns and rows, and what it changed.
///
/// For a cursor batch (``SQLiteConnection/fetch(_:cursor:callOptions:)``) ``rows`` holds the batch,
/// and ``rowsChanged`` is 0.
public struct SQLiteResult: Sendable, Hashable {
    /// The result column names, in order (empty for statements that return no rows).
    public var columns: [String]
    /// The rows; each has one value per column.
    public var rows: [[SQLiteValue]]
    /// How many rows the statement inserted, updated or deleted (`sqlite3_changes`); 0 for other
    /// statements. Rows changed by triggers are not counted.
    public var rowsChanged: Int
    /// The connection's last inserted rowid (`sqlite3_last_insert_rowid`) after the statement: the
    /// rowid of the most recent successful `INSERT` on this connection, this statement's or an earlier one's.
    public var lastInsertRowID: Int64

    /// Makes a result.
    /// - Parameters:
    ///   - columns: the column names.
    ///   - rows: the rows.
    ///   - rowsChanged: the rows inserted, updated or deleted.
    ///   - lastInsertRowID: the last inserted rowid.
    public init(columns: [String] = [], rows: [[SQLiteValue]] = [], rowsChanged: Int = 0, lastInsertRowID: Int64 = 0) {
        self.columns = columns
        self.rows = rows
        self.rowsChanged = rowsChanged
        self.lastInsertRowID = lastInsertRowID
    }

    /// The number of rows.
    public var count: Int { rows.count }

    /// Whether there is no row.
    public var isEmpty: Bool { rows.isEmpty }

    /// The first column of the first row, or `nil` when there is no row: for `SELECT count(*) ...`.
    public var scalar: SQLiteValue? {
        rows.first?.first
    }

    /// The position of the first column with this name, or `nil`.
    /// - Parameter column: the column name, compared exactly.
    public func index(ofColumn column: String) -> Int? {
        columns.firstIndex(of: column)
    }

    /// The value of a column in a row, or `nil` when there is no such column or row.
    /// - Parameters:
    ///   - column: the column name.
    ///   - row: the row's position (default: the first row).
    public func value(_ column: String, row: Int = 0) -> SQLiteValue? {
        guard let index = index(ofColumn: column), rows.indices.contains(row) else { return nil }
        return rows[row][index]
    }

    /// Every value of a column, or `nil` when there is no such column.
    /// - Parameter column: the column name.
    public func values(_ column: String) -> [SQLiteValue]? {
        guard let index = index(ofColumn: column) else { return nil }
        return rows.map { $0[index] }
    }

    /// The rows as dictionaries from column name to value (a later column wins over an earlier one
    /// with the same name).
    public var namedRows: [[String: SQLiteValue]] {
        rows.map { row in
            var named: [String: SQLiteValue] = [:]
            named.reserveCapacity(columns.count)
            for (name, value) in zip(columns, row) {
                named[name] = value
            }
            return named
        }
    }
}
