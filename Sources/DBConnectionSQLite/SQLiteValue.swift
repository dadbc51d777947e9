/// One SQLite value: what a column holds and what a parameter binds.
///
/// SQLite has five storage classes, and this enum has one case for each. `Bool` has no storage class
/// of its own: `true` is stored as the integer 1 and `false` as 0, as SQLite's own `TRUE` and `FALSE` are.
///
/// Literals make parameters short:
///
/// ```swift
/// let params: SQLiteParameters = [1, 2.5, "text", true, nil]
/// ```
public enum SQLiteValue: Sendable, Hashable, CustomStringConvertible {
    /// SQL `NULL`.
    case null
    /// A 64-bit signed integer (`SQLITE_INTEGER`).
    case integer(Int64)
    /// A 64-bit IEEE floating point number (`SQLITE_FLOAT`).
    case real(Double)
    /// UTF-8 text (`SQLITE_TEXT`).
    case text(String)
    /// Bytes (`SQLITE_BLOB`).
    case blob([UInt8])

    /// Makes an integer value from a `Bool`: 1 for `true`, 0 for `false`.
    /// - Parameter value: the Boolean.
    public init(_ value: Bool) {
        self = .integer(value ? 1 : 0)
    }

    /// Makes an integer value from any integer that fits in 64 bits.
    /// - Parameter value: the integer.
    /// - Precondition: `value` fits in an `Int64` (an `UInt64` above `Int64.max` does not).
    public init(_ value: some BinaryInteger) {
        guard let exact = Int64(exactly: value) else {
            preconditionFailure("SQLiteValue: \(value) does not fit in a 64-bit signed integer")
        }
        self = .integer(exact)
    }

    /// Makes a real value.
    /// - Parameter value: the number.
    public init(_ value: Double) {
        self = .real(value)
    }

    /// Makes a text value.
    /// - Parameter value: the text.
    public init(_ value: String) {
        self = .text(value)
    }

    /// Makes a blob value.
    /// - Parameter value: the bytes.
    public init(_ value: [UInt8]) {
        self = .blob(value)
    }

    /// Whether the value is SQL `NULL`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The integer, or `nil` if the value is not an integer.
    public var int64: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// The integer as an `Int`, or `nil` if the value is not an integer or does not fit.
    public var int: Int? {
        int64.flatMap { Int(exactly: $0) }
    }

    /// The number: a real, or an integer converted to `Double`; `nil` for other values.
    public var double: Double? {
        switch self {
        case .real(let value): value
        case .integer(let value): Double(value)
        default: nil
        }
    }

    /// The text, or `nil` if the value is not text.
    public var string: String? {
        if case .text(let value) = self { return value }
        return nil
    }

    /// The bytes, or `nil` if the value is not a blob.
    public var blob: [UInt8]? {
        if case .blob(let value) = self { return value }
        return nil
    }

    /// The Boolean SQLite means: an integer is `true` unless it is 0; `nil` for other values.
    public var bool: Bool? {
        int64.map { $0 != 0 }
    }

    /// The value as SQL shows it: `NULL`, `42`, `2.5`, `'text'`, `x'00ff'`.
    public var description: String {
        switch self {
        case .null:
            return "NULL"
        case .integer(let value):
            return String(value)
        case .real(let value):
            return String(value)
        case .text(let value):
            return "'" + value.replacingAll("'", with: "''") + "'"
        case .blob(let bytes):
            let digits: [Character] = Array("0123456789abcdef")
            var hex = ""
            hex.reserveCapacity(bytes.count * 2)
            for byte in bytes {
                hex.append(digits[Int(byte >> 4)])
                hex.append(digits[Int(byte & 0x0F)])
            }
            return "x'\(hex)'"
        }
    }
}

extension SQLiteValue: ExpressibleByNilLiteral {
    /// Makes `NULL`.
    public init(nilLiteral: ()) {
        self = .null
    }
}

extension SQLiteValue: ExpressibleByIntegerLiteral {
    /// Makes an integer value.
    public init(integerLiteral value: Int64) {
        self = .integer(value)
    }
}

extension SQLiteValue: ExpressibleByFloatLiteral {
    /// Makes a real value.
    public init(floatLiteral value: Double) {
        self = .real(value)
    }
}

extension SQLiteValue: ExpressibleByStringLiteral {
    /// Makes a text value.
    public init(stringLiteral value: String) {
        self = .text(value)
    }
}

extension SQLiteValue: ExpressibleByBooleanLiteral {
    /// Makes the integer 1 for `true` and 0 for `false`.
    public init(booleanLiteral value: Bool) {
        self.init(value)
    }
}

extension String {
    /// `self` with every `target` replaced, without Foundation.
    func replacingAll(_ target: Character, with replacement: String) -> String {
        guard contains(target) else { return self }
        var result = ""
        result.reserveCapacity(count + 8)
        for character in self {
            if character == target {
                result += replacement
            } else {
                result.append(character)
            }
        }
        return result
    }
}
