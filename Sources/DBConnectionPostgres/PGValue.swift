public import Foundation

/// One PostgreSQL value: what a result cell holds and what a parameter binds.
///
/// Each case names the PostgreSQL type it reads from and binds as. Literals make parameters short:
///
/// ```swift
/// let params: [PGValue] = [42, 2.5, "text", true, nil, [1, 2, 3]]
/// ```
///
/// ## Results
///
/// Cells of these types decode to their case: `bool`, `int2`, `int4`, `int8`, `oid` (as ``int64(_:)``),
/// `float4`, `float8`, `numeric` (exact, as text), `text`, `varchar`, `bpchar`, `name`, `char`,
/// `xml` and `unknown` (as ``text(_:)``), `bytea`, `uuid`, `date`, `timestamp`, `timestamptz`,
/// `json`, `jsonb` (as text), and one-dimensional or nested arrays of any of these. Any other type
/// comes as ``other(typeOID:bytes:)`` with the server's binary form; cast it in SQL (`x::text`) to read
/// it as text. SQL `NULL` is ``null``.
///
/// ## Parameters
///
/// A one-off statement binds each value with its own type, in PostgreSQL's binary format (an
/// ``int64(_:)`` is an `int8`, a ``text(_:)`` a `text`), so `SELECT $1` returns the value with the same
/// case. ``numeric(_:)`` goes as text typed `numeric`; ``null`` and ``unknown(_:)`` leave the type to
/// the server (``unknown(_:)`` is text the server parses as whatever type the statement needs).
///
/// A prepared statement (``PGConnection/prepare(_:callOptions:)``) has the parameter types the server
/// inferred when it was prepared, and each value is converted to its parameter's type: any integer to
/// an integer type that holds it, numbers to `float4`, `float8` and `numeric`, text that parses to
/// numbers, `bool` and `uuid`, any value with a text form to the text types. A value that does not
/// convert throws ``PGError`` with code ``PGError/Code/invalidValue`` naming the parameter; for a
/// parameter of a type this enum has no case for (`interval`, `inet`, …), cast in SQL (`$1::text::interval`).
///
/// An array binds as an array of its first non-`NULL` element's type (nested arrays are the dimensions
/// of a multi-dimensional array and must be rectangular); one with no typed element binds as the text
/// `{…}` of a type the server infers.
///
/// ## Equality
///
/// Integers compare by value whatever their width, so a result's `int4` cell equals the literal
/// `42` (an ``int64(_:)``): `.int32(42) == 42`. Every other case equals only itself.
///
/// ## Dates
///
/// `date`, `timestamp` and `timestamptz` use `Date`: a `date` is midnight UTC of the day, a
/// `timestamp` (without time zone) is read and written as if it were UTC. PostgreSQL keeps
/// microseconds, so a `Date` is rounded to the microsecond when bound. `infinity` and `-infinity`
/// read as `Date.distantFuture` and `Date.distantPast`.
public enum PGValue: Sendable, Hashable, CustomStringConvertible {
    /// SQL `NULL`.
    case null
    /// `bool`.
    case bool(Bool)
    /// `int2` (`smallint`).
    case int16(Int16)
    /// `int4` (`integer`).
    case int32(Int32)
    /// `int8` (`bigint`); also what `oid` columns read as.
    case int64(Int64)
    /// `float4` (`real`).
    case float(Float)
    /// `float8` (`double precision`).
    case double(Double)
    /// `numeric`, exactly, in PostgreSQL's text form: `"3.14"`, `"-1000000"`, `"NaN"`.
    case numeric(String)
    /// `text`; also what `varchar`, `bpchar`, `name`, `char`, `xml` and `unknown` columns read as.
    case text(String)
    /// `bytea`.
    case bytea([UInt8])
    /// `uuid`.
    case uuid(UUID)
    /// `date`: midnight UTC of the day.
    case date(Date)
    /// `timestamp` (without time zone), read and written as UTC.
    case timestamp(Date)
    /// `timestamptz` (with time zone): an instant.
    case timestamptz(Date)
    /// `json`, as its text.
    case json(String)
    /// `jsonb`, as its text (the server's normalized form when read).
    case jsonb(String)
    /// An array; nested arrays are the dimensions of a multi-dimensional array.
    case array([PGValue])
    /// Text whose type the server infers from the statement (libpq's way of binding everything): for
    /// types this enum has no case for, such as `interval`, `inet` or a range: `.unknown("1 day")`.
    case unknown(String)
    /// A value of a type this enum has no case for, in PostgreSQL's binary form, with the type's OID.
    case other(typeOID: UInt32, bytes: [UInt8])

    /// Whether the value is SQL `NULL`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The integer of an `int2`, `int4` or `int8`, or `nil` for other values.
    public var int64: Int64? {
        switch self {
        case .int16(let value): Int64(value)
        case .int32(let value): Int64(value)
        case .int64(let value): value
        default: nil
        }
    }

    /// ``int64`` as an `Int`, or `nil` when it does not fit or the value is not an integer.
    public var int: Int? {
        int64.flatMap { Int(exactly: $0) }
    }

    /// The number of a `float4`, `float8` or integer, or of a `numeric` that `Double` can parse; `nil`
    /// for other values.
    public var double: Double? {
        switch self {
        case .float(let value): Double(value)
        case .double(let value): value
        case .numeric(let text): Double(text)
        default: int64.map(Double.init)
        }
    }

    /// The text of a ``text(_:)``, ``numeric(_:)``, ``json(_:)``, ``jsonb(_:)`` or ``unknown(_:)``
    /// value, or `nil` for other values.
    public var string: String? {
        switch self {
        case .text(let value), .numeric(let value), .json(let value), .jsonb(let value), .unknown(let value): value
        default: nil
        }
    }

    /// The Boolean of a `bool`, or `nil`.
    public var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The bytes of a `bytea`, or `nil`.
    public var bytes: [UInt8]? {
        if case .bytea(let value) = self { return value }
        return nil
    }

    /// The UUID of a `uuid`, or `nil`.
    public var uuid: UUID? {
        if case .uuid(let value) = self { return value }
        return nil
    }

    /// The date of a `date`, `timestamp` or `timestamptz`, or `nil`.
    public var date: Date? {
        switch self {
        case .date(let value), .timestamp(let value), .timestamptz(let value): value
        default: nil
        }
    }

    /// The elements of an array, or `nil`.
    public var array: [PGValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The value as PostgreSQL's text input syntax would write it, quoted where SQL quotes it:
    /// `NULL`, `42`, `'text'`, `'\x00ff'::bytea`, `'{1,2}'`.
    public var description: String {
        switch self {
        case .null: return "NULL"
        case .bool(let value): return value ? "true" : "false"
        case .int16, .int32, .int64, .float, .double: return PGTextEncoding.text(of: self) ?? "NULL"
        case .numeric(let text): return text
        case .bytea: return "'\(PGTextEncoding.text(of: self) ?? "")'::bytea"
        case .other(let oid, let bytes): return "<\(bytes.count) bytes of type \(oid)>"
        default: return "'" + (PGTextEncoding.text(of: self) ?? "").replacingAll("'", with: "''") + "'"
        }
    }
}

extension PGValue {
    /// Compares values; integers of any width compare by value.
    public static func == (lhs: PGValue, rhs: PGValue) -> Bool {
        if let left = lhs.int64, let right = rhs.int64 { return left == right }
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let l), .bool(let r)): return l == r
        case (.float(let l), .float(let r)): return l == r
        case (.double(let l), .double(let r)): return l == r
        case (.numeric(let l), .numeric(let r)): return l == r
        case (.text(let l), .text(let r)): return l == r
        case (.bytea(let l), .bytea(let r)): return l == r
        case (.uuid(let l), .uuid(let r)): return l == r
        case (.date(let l), .date(let r)): return l == r
        case (.timestamp(let l), .timestamp(let r)): return l == r
        case (.timestamptz(let l), .timestamptz(let r)): return l == r
        case (.json(let l), .json(let r)): return l == r
        case (.jsonb(let l), .jsonb(let r)): return l == r
        case (.array(let l), .array(let r)): return l == r
        case (.unknown(let l), .unknown(let r)): return l == r
        case (.other(let lt, let lb), .other(let rt, let rb)): return lt == rt && lb == rb
        default: return false
        }
    }

    /// Hashes consistently with ``==(_:_:)``: integers by value.
    public func hash(into hasher: inout Hasher) {
        if let int = int64 {
            hasher.combine(2)
            hasher.combine(int)
            return
        }
        switch self {
        case .null: hasher.combine(0)
        case .bool(let v):
            hasher.combine(1)
            hasher.combine(v)
        case .int16, .int32, .int64: break
        case .float(let v):
            hasher.combine(3)
            hasher.combine(v)
        case .double(let v):
            hasher.combine(4)
            hasher.combine(v)
        case .numeric(let v):
            hasher.combine(5)
            hasher.combine(v)
        case .text(let v):
            hasher.combine(6)
            hasher.combine(v)
        case .bytea(let v):
            hasher.combine(7)
            hasher.combine(v)
        case .uuid(let v):
            hasher.combine(8)
            hasher.combine(v)
        case .date(let v):
            hasher.combine(9)
            hasher.combine(v)
        case .timestamp(let v):
            hasher.combine(10)
            hasher.combine(v)
        case .timestamptz(let v):
            hasher.combine(11)
            hasher.combine(v)
        case .json(let v):
            hasher.combine(12)
            hasher.combine(v)
        case .jsonb(let v):
            hasher.combine(13)
            hasher.combine(v)
        case .array(let v):
            hasher.combine(14)
            hasher.combine(v)
        case .unknown(let v):
            hasher.combine(15)
            hasher.combine(v)
        case .other(let t, let b):
            hasher.combine(16)
            hasher.combine(t)
            hasher.combine(b)
        }
    }
}

extension PGValue: ExpressibleByNilLiteral {
    /// Makes `NULL`.
    public init(nilLiteral: ()) { self = .null }
}

extension PGValue: ExpressibleByIntegerLiteral {
    /// Makes an `int8`.
    public init(integerLiteral value: Int64) { self = .int64(value) }
}

extension PGValue: ExpressibleByFloatLiteral {
    /// Makes a `float8`.
    public init(floatLiteral value: Double) { self = .double(value) }
}

extension PGValue: ExpressibleByStringLiteral {
    /// Makes a `text`.
    public init(stringLiteral value: String) { self = .text(value) }
}

extension PGValue: ExpressibleByBooleanLiteral {
    /// Makes a `bool`.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension PGValue: ExpressibleByArrayLiteral {
    /// Makes an array.
    public init(arrayLiteral elements: PGValue...) { self = .array(elements) }
}

extension PGValue {
    /// Makes an `int8` from any integer that fits in 64 bits, or `NULL` from `nil`.
    /// - Parameter value: the integer.
    /// - Precondition: `value` fits in an `Int64`.
    public init(_ value: (some BinaryInteger)?) {
        guard let value else {
            self = .null
            return
        }
        guard let exact = Int64(exactly: value) else {
            preconditionFailure("PGValue: \(value) does not fit in a 64-bit signed integer")
        }
        self = .int64(exact)
    }

    /// Makes a `float8`, or `NULL` from `nil`.
    /// - Parameter value: the number.
    public init(_ value: Double?) { self = value.map(PGValue.double) ?? .null }

    /// Makes a `text`, or `NULL` from `nil`.
    /// - Parameter value: the text.
    public init(_ value: String?) { self = value.map(PGValue.text) ?? .null }

    /// Makes a `bool`, or `NULL` from `nil`.
    /// - Parameter value: the Boolean.
    public init(_ value: Bool?) { self = value.map(PGValue.bool) ?? .null }

    /// Makes a `bytea`, or `NULL` from `nil`.
    /// - Parameter value: the bytes.
    public init(_ value: [UInt8]?) { self = value.map(PGValue.bytea) ?? .null }

    /// Makes a `uuid`, or `NULL` from `nil`.
    /// - Parameter value: the UUID.
    public init(_ value: UUID?) { self = value.map(PGValue.uuid) ?? .null }

    /// Makes a `timestamptz`, or `NULL` from `nil`.
    /// - Parameter value: the instant.
    public init(_ value: Date?) { self = value.map(PGValue.timestamptz) ?? .null }
}

extension String {
    /// `self` with every `target` replaced.
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
