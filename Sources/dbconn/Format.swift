import Foundation

/// Number formatting for the terminal, the JSON report and the chart.
enum Format {
    /// `value` with `digits` decimals.
    static func fixed(_ value: Double, _ digits: Int) -> String {
        String(format: "%.\(digits)f", value)
    }

    /// Seconds without a needless `.0`: `10`, `2.5`.
    static func seconds(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(format: "%g", value)
    }

    /// A duration given in microseconds, in the unit that reads best: `412 µs`, `1.23 ms`, `45.6 ms`,
    /// `312 ms`, `1.23 s`.
    static func microseconds(_ value: UInt64) -> String {
        let us = Double(value)
        switch value {
        case ..<1000: return "\(value) µs"
        case ..<10_000: return fixed(us / 1000, 2) + " ms"
        case ..<100_000: return fixed(us / 1000, 1) + " ms"
        case ..<1_000_000: return fixed(us / 1000, 0) + " ms"
        default: return fixed(us / 1_000_000, 2) + " s"
        }
    }

    /// `text` right-aligned in `width` characters.
    static func padLeft(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    /// `1 row` / `2 rows`.
    static func count(_ value: Int, _ singular: String, _ plural: String? = nil) -> String {
        "\(value) " + (value == 1 ? singular : (plural ?? singular + "s"))
    }

    /// `text` on one line, cut to `limit` characters.
    static func oneLine(_ text: String, limit: Int = 160) -> String {
        let line = text.split(whereSeparator: \.isNewline)
            .map { $0.drop(while: \.isWhitespace) }
            .filter { !$0.isEmpty }
            .joined(separator: " ")
        return line.count > limit ? String(line.prefix(limit - 1)) + "…" : line
    }

    /// Rows of cells as a table: columns padded to their widest cell, left-aligned, or right-aligned
    /// where `rightAligned` says so, separated by `separator`. Trailing spaces are trimmed.
    static func table(_ rows: [[String]], rightAligned: [Bool] = [], separator: String = "  ") -> [String] {
        let columns = rows.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        return rows.map { row in
            var cells: [String] = []
            for (index, cell) in row.enumerated() {
                let padding = String(repeating: " ", count: widths[index] - cell.count)
                let right = index < rightAligned.count && rightAligned[index]
                cells.append(right ? padding + cell : cell + padding)
            }
            var line = cells.joined(separator: separator)
            while line.last == " " { line.removeLast() }
            return line
        }
    }
}
