import ArgumentParser
import DBConnection
import DBConnectionPostgres
import DBConnectionSQLite
import Foundation

/// `dbconn sql URL STATEMENT`: runs one statement and prints its rows as a table, or how many rows it
/// changed.
struct SQL: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql",
        abstract: "Run one SQL statement and print its rows.",
        discussion: """
            Queries print an aligned table: the column names, a separator line, one line per row \
            (NULL shown as NULL) and the row count. Other statements print how many rows they changed \
            (or, on PostgreSQL, their command tag, such as CREATE TABLE). On SQLite, several statements \
            separated by ";" run in order and the last one's result is printed; on PostgreSQL the \
            statement runs alone (extended protocol: one statement, no ";" scripts).

            Examples:
              dbconn sql sqlite:app.db "SELECT id, name FROM users LIMIT 5"
              dbconn sql --create sqlite:new.db "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"
              dbconn sql postgres://app@127.0.0.1:5432/app "SELECT aid, abalance FROM pgbench_accounts LIMIT 5"
            """
    )

    @Argument(help: "The database: sqlite:PATH or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE.")
    var url: String

    @Argument(help: "The SQL statement to run.")
    var statement: String

    @Flag(help: "Create the database file if it does not exist (SQLite only).")
    var create = false

    func run() async throws {
        let database = try DatabaseURL(url, for: .query(create: create))
        let output: String
        switch database.driver {
        case .sqlite(let options):
            let connection = try await SQLiteConnection.connect(options: options)
            output = ResultTable.render(try await Self.run(SQLiteQuery(statement), params: .none, on: connection))
        case .postgres(let options):
            let connection: PGConnection
            do {
                connection = try await PGConnection.connect(options: options)
            } catch {
                throw database.connectFailure(error)
            }
            output = ResultTable.render(try await Self.run(PGQuery(statement), params: [], on: connection))
        }
        print(output, terminator: "")
    }

    /// Runs one statement on a connection of its own, then closes it.
    /// - Throws: the driver's error (unwrapped from `DisconnectError`).
    private static func run<Connection: DatabaseConnection>(
        _ statement: Connection.Query,
        params: Connection.Params,
        on connection: Connection
    ) async throws -> Connection.QueryResult {
        do {
            let (_, result) = try await connection.execute(statement, params: params, callOptions: CallOptions())
            await connection.disconnect(error: CLIError("done"))
            return result
        } catch {
            await connection.disconnect(error: error)
            if let error = error as? DisconnectError { throw error.underlying }
            throw error
        }
    }
}

/// Renders a statement's result for the terminal.
enum ResultTable {
    /// One cell as the table shows it.
    struct Cell {
        var text: String
        /// Numbers are right-aligned when the whole column holds numbers (or NULL).
        var isNumber = false
        var isNull = false

        static let null = Cell(text: "NULL", isNull: true)
    }

    /// An aligned table with a header and a row count for queries; `N rows changed` for other
    /// statements. Numeric columns are right-aligned.
    static func render(_ result: SQLiteResult) -> String {
        guard !result.columns.isEmpty else {
            return Format.count(result.rowsChanged, "row") + " changed\n"
        }
        return render(columns: result.columns, rows: result.rows.map { $0.map(tableCell) })
    }

    /// An aligned table with a header and a row count for statements that return rows; otherwise
    /// `N rows changed` for `INSERT`, `UPDATE`, `DELETE`, `MERGE` and `COPY`, and the command tag
    /// for the rest (`CREATE TABLE`, `BEGIN`).
    static func render(_ result: PGResult) -> String {
        guard !result.columns.isEmpty else {
            let verb = result.commandTag.split(separator: " ").first ?? ""
            if let count = result.rowsAffected {
                if ["SELECT", "FETCH", "MOVE"].contains(verb) {
                    return "(" + Format.count(count, "row") + ")\n"
                }
                return Format.count(count, "row") + " changed\n"
            }
            return (result.commandTag.isEmpty ? "done" : result.commandTag) + "\n"
        }
        return render(columns: result.columns, rows: result.rows.map { $0.map(tableCell) })
    }

    /// The table itself: the header, a separator, one line per row, the row count.
    static func render(columns: [String], rows: [[Cell]]) -> String {
        let numeric = columns.indices.map { column in
            rows.contains { !$0[column].isNull } && rows.allSatisfy { $0[column].isNull || $0[column].isNumber }
        }
        var widths = columns.map(\.count)
        for row in rows {
            for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.text.count) }
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
        var lines = [line(columns)]
        lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "-+-"))
        lines += rows.map { line($0.map(\.text)) }
        lines.append("(" + Format.count(rows.count, "row") + ")")
        return lines.joined(separator: "\n") + "\n"
    }

    static func tableCell(_ value: SQLiteValue) -> Cell {
        switch value {
        case .null: .null
        case .integer, .real: Cell(text: cell(value), isNumber: true)
        case .text, .blob: Cell(text: cell(value))
        }
    }

    static func tableCell(_ value: PGValue) -> Cell {
        switch value {
        case .null: .null
        case .int16, .int32, .int64, .float, .double, .numeric: Cell(text: cell(value), isNumber: true)
        default: Cell(text: cell(value))
        }
    }

    /// One value as a cell: text as is (newlines and tabs escaped, so rows stay one line), numbers in
    /// Swift's shortest form, blobs as `x'…'`, NULL as `NULL`.
    static func cell(_ value: SQLiteValue) -> String {
        switch value {
        case .null: "NULL"
        case .integer(let number): String(number)
        case .real(let number): String(number)
        case .text(let text): escaped(text)
        case .blob: value.description
        }
    }

    /// One PostgreSQL value as a cell, close to psql's text output: `t`/`f` for Booleans, numbers in
    /// Swift's shortest form (`numeric` exactly), `\x…` for `bytea`, dates and timestamps in UTC
    /// (`2026-01-02 03:04:05.678`, `timestamptz` with `+00`), arrays as `{1,2,"a b"}`, text with
    /// newlines and tabs escaped, NULL as `NULL`.
    static func cell(_ value: PGValue) -> String {
        switch value {
        case .null: "NULL"
        case .bool(let flag): flag ? "t" : "f"
        case .int16(let number): String(number)
        case .int32(let number): String(number)
        case .int64(let number): String(number)
        case .float(let number): String(number)
        case .double(let number): String(number)
        case .numeric(let text): text
        case .text(let text), .json(let text), .jsonb(let text), .unknown(let text): escaped(text)
        case .bytea(let bytes): "\\x" + bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
        case .uuid(let uuid): uuid.uuidString.lowercased()
        case .date(let date): timestamp(date, time: false, zone: false)
        case .timestamp(let date): timestamp(date, time: true, zone: false)
        case .timestamptz(let date): timestamp(date, time: true, zone: true)
        case .array(let elements): arrayText(elements)
        case .other: value.description
        }
    }

    private static func escaped(_ text: String) -> String {
        text.contains(where: { $0 == "\n" || $0 == "\t" || $0 == "\r" })
            ? text.replacingAll("\n", "\\n").replacingAll("\r", "\\r").replacingAll("\t", "\\t") : text
    }

    /// PostgreSQL's array text form: elements that are empty or hold `{},"\` or spaces in quotes.
    private static func arrayText(_ elements: [PGValue]) -> String {
        let parts = elements.map { element -> String in
            switch element {
            case .null: return "NULL"
            case .array(let inner): return arrayText(inner)
            default:
                let text = cell(element)
                let special =
                    text.isEmpty || text.uppercased() == "NULL"
                    || text.contains(where: { "{},\"\\ ".contains($0) })
                guard special else { return text }
                return "\"" + text.replacingAll("\\", "\\\\").replacingAll("\"", "\\\"") + "\""
            }
        }
        return "{" + parts.joined(separator: ",") + "}"
    }

    /// A date in UTC to the microsecond, the fraction only when there is one; `infinity` and
    /// `-infinity` as PostgreSQL writes them.
    private static func timestamp(_ date: Date, time: Bool, zone: Bool) -> String {
        if date == .distantFuture { return "infinity" }
        if date == .distantPast { return "-infinity" }
        let microseconds = (date.timeIntervalSince1970 * 1_000_000).rounded()
        let seconds = (microseconds / 1_000_000).rounded(.down)
        let fraction = Int(microseconds - seconds * 1_000_000)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second],
            from: Date(timeIntervalSince1970: seconds)
        )
        func two(_ number: Int?) -> String { String(number ?? 0).leftPadded(to: 2) }
        var text = String(parts.year ?? 0).leftPadded(to: 4) + "-" + two(parts.month) + "-" + two(parts.day)
        guard time else { return text }
        text += " " + two(parts.hour) + ":" + two(parts.minute) + ":" + two(parts.second)
        if fraction > 0 {
            var digits = String(fraction).leftPadded(to: 6)
            while digits.last == "0" { digits.removeLast() }
            text += "." + digits
        }
        return zone ? text + "+00" : text
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

    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
