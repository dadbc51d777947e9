/// What a statement returned: its columns, its rows, and its command tag.
///
/// For a cursor batch (``PGConnection/fetch(_:cursor:callOptions:)``) ``rows`` holds the batch and
/// ``commandTag`` is the `FETCH` tag.
public struct PGResult: Sendable, Hashable {
    /// The result column names, in order, from the server's row description (empty for statements
    /// that return no rows).
    public var columns: [String]
    /// The rows; each has one value per column.
    public var rows: [[PGValue]]
    /// The server's command tag: `SELECT 3`, `INSERT 0 1`, `UPDATE 2`, `CREATE TABLE`, `BEGIN`, ….
    public var commandTag: String

    /// Makes a result.
    /// - Parameters:
    ///   - columns: the column names.
    ///   - rows: the rows.
    ///   - commandTag: the command tag.
    public init(columns: [String] = [], rows: [[PGValue]] = [], commandTag: String = "") {
        self.columns = columns
        self.rows = rows
        self.commandTag = commandTag
    }

    /// The number of rows the statement returned, inserted, updated, deleted, moved, fetched or
    /// copied, from the command tag; `nil` for commands whose tag has no count (`CREATE TABLE`).
    public var rowsAffected: Int? {
        let parts = commandTag.split(separator: " ")
        guard let verb = parts.first else { return nil }
        switch verb {
        case "INSERT", "SELECT", "UPDATE", "DELETE", "MERGE", "MOVE", "FETCH", "COPY":
            return parts.count > 1 ? Int(parts[parts.count - 1]) : nil
        default:
            return nil
        }
    }

    /// The number of rows.
    public var count: Int { rows.count }

    /// Whether there is no row.
    public var isEmpty: Bool { rows.isEmpty }

    /// The first column of the first row, or `nil` when there is no row: for `SELECT count(*) ...`.
    public var scalar: PGValue? { rows.first?.first }

    /// The position of the first column with this name, or `nil`.
    /// - Parameter column: the column name, compared exactly.
    public func index(ofColumn column: String) -> Int? {
        columns.firstIndex(of: column)
    }

    /// The value of a column in a row, or `nil` when there is no such column or row.
    /// - Parameters:
    ///   - column: the column name.
    ///   - row: the row's position (default: the first row).
    public func value(_ column: String, row: Int = 0) -> PGValue? {
        guard let index = index(ofColumn: column), rows.indices.contains(row), rows[row].indices.contains(index)
        else { return nil }
        return rows[row][index]
    }

    /// Every value of a column, or `nil` when there is no such column.
    /// - Parameter column: the column name.
    public func values(_ column: String) -> [PGValue]? {
        guard let index = index(ofColumn: column) else { return nil }
        return rows.map { $0[index] }
    }

    /// The rows as dictionaries from column name to value (a later column wins over an earlier one
    /// with the same name).
    public var namedRows: [[String: PGValue]] {
        rows.map { row in
            var named: [String: PGValue] = [:]
            named.reserveCapacity(columns.count)
            for (name, value) in zip(columns, row) { named[name] = value }
            return named
        }
    }
}
