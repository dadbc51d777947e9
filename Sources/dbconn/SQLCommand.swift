import ArgumentParser
import DBConnection
import DBConnectionSQLite

/// `dbconn sql URL STATEMENT`: runs one statement and prints its rows as a table, or how many rows it
/// changed.
struct SQL: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql",
        abstract: "Run one SQL statement and print its rows.",
        discussion: """
            Queries print an aligned table: the column names, a separator line, one line per row \
            (NULL shown as NULL) and the row count. Other statements print how many rows they changed. \
            Several statements separated by ";" run in order; the last one's result is printed.

            Examples:
              dbconn sql sqlite:app.db "SELECT id, name FROM users LIMIT 5"
              dbconn sql --create sqlite:new.db "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"
            """
    )

    @Argument(help: "The database: sqlite:PATH (postgres:// is not built yet).")
    var url: String

    @Argument(help: "The SQL statement to run.")
    var statement: String

    @Flag(help: "Create the database file if it does not exist.")
    var create = false

    func run() async throws {
        let database = try DatabaseURL(url, for: .query(create: create))
        let connection = try await SQLiteConnection.connect(options: database.sqlite)
        let result: SQLiteResult
        do {
            result = try await connection.execute(SQLiteQuery(statement))
        } catch {
            await connection.disconnect(error: error)
            throw error
        }
        await connection.disconnect(error: CLIError("done"))
        print(ResultTable.render(result), terminator: "")
    }
}

/// Renders a statement's result for the terminal.
enum ResultTable {
    /// An aligned table with a header and a row count for queries; `N rows changed` for other
    /// statements. Numeric columns are right-aligned.
    static func render(_ result: SQLiteResult) -> String {
        guard !result.columns.isEmpty else {
            return Format.count(result.rowsChanged, "row") + " changed\n"
        }
        let cells = result.rows.map { $0.map(cell) }
        let numeric = result.columns.indices.map { column in
            result.rows.contains { !$0[column].isNull }
                && result.rows.allSatisfy { row in
                    switch row[column] {
                    case .integer, .real, .null: true
                    case .text, .blob: false
                    }
                }
        }
        var widths = result.columns.map(\.count)
        for row in cells {
            for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) }
        }
        func line(_ row: [String]) -> String {
            var parts: [String] = []
            for (column, cell) in row.enumerated() {
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                parts.append(numeric[column] ? padding + cell : cell + padding)
            }
            var text = parts.joined(separator: " | ")
            while text.last == " " { text.removeLast() }
            return text
        }
        var lines = [line(result.columns)]
        lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "-+-"))
        lines += cells.map(line)
        lines.append("(" + Format.count(result.rows.count, "row") + ")")
        return lines.joined(separator: "\n") + "\n"
    }

    /// One value as a cell: text as is (newlines and tabs escaped, so rows stay one line), numbers in
    /// Swift's shortest form, blobs as `x'…'`, NULL as `NULL`.
    static func cell(_ value: SQLiteValue) -> String {
        switch value {
        case .null: "NULL"
        case .integer(let number): String(number)
        case .real(let number): String(number)
        case .text(let text):
            text.contains(where: { $0 == "\n" || $0 == "\t" || $0 == "\r" })
                ? text.replacingAll("\n", "\\n").replacingAll("\r", "\\r").replacingAll("\t", "\\t") : text
        case .blob: value.description
        }
    }
}

extension String {
    fileprivate func replacingAll(_ target: Character, _ replacement: String) -> String {
        var result = ""
        for character in self {
            if character == target { result += replacement } else { result.append(character) }
        }
        return result
    }
}
