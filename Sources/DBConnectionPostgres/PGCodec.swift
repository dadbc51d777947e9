import Foundation
import NIOCore
import PostgresNIO

// Converting between PGValue and PostgreSQL's wire formats. PostgresNIO always asks for results in
// binary format (its Bind message requests format 1 for every column), so results are decoded from
// binary; parameters go as binary with their type (one-off statements) or as text with no type
// (prepared statements, whose parameter types the server inferred).

/// The type OIDs the driver reads and writes (pg_type.oid, fixed for built-in types).
enum PGTypeOID {
    static let bool: UInt32 = 16
    static let bytea: UInt32 = 17
    static let char: UInt32 = 18
    static let name: UInt32 = 19
    static let int8: UInt32 = 20
    static let int2: UInt32 = 21
    static let int4: UInt32 = 23
    static let text: UInt32 = 25
    static let oid: UInt32 = 26
    static let json: UInt32 = 114
    static let xml: UInt32 = 142
    static let float4: UInt32 = 700
    static let float8: UInt32 = 701
    static let unknown: UInt32 = 705
    static let bpchar: UInt32 = 1042
    static let varchar: UInt32 = 1043
    static let date: UInt32 = 1082
    static let timestamp: UInt32 = 1114
    static let timestamptz: UInt32 = 1184
    static let numeric: UInt32 = 1700
    static let uuid: UInt32 = 2950
    static let jsonb: UInt32 = 3802

    /// Array type OIDs by element type OID.
    static let arrayOfElement: [UInt32: UInt32] = [
        bool: 1000, bytea: 1001, char: 1002, name: 1003, int2: 1005, int4: 1007, text: 1009, int8: 1016,
        float4: 1021, float8: 1022, oid: 1028, bpchar: 1014, varchar: 1015, date: 1182, timestamp: 1115,
        timestamptz: 1185, numeric: 1231, uuid: 2951, json: 199, jsonb: 3807, xml: 143,
    ]

    /// The array type OIDs the decoder recognizes.
    static let arrayTypes: Set<UInt32> = Set(arrayOfElement.values)

    /// Element type OIDs by array type OID.
    static let elementOfArray: [UInt32: UInt32] = Dictionary(uniqueKeysWithValues: arrayOfElement.map { ($1, $0) })

    private static let names: [UInt32: String] = [
        bool: "bool", bytea: "bytea", char: "\"char\"", name: "name", int8: "int8", int2: "int2", int4: "int4",
        text: "text", oid: "oid", json: "json", xml: "xml", float4: "float4", float8: "float8", unknown: "unknown",
        bpchar: "bpchar", varchar: "varchar", date: "date", timestamp: "timestamp", timestamptz: "timestamptz",
        numeric: "numeric", uuid: "uuid", jsonb: "jsonb", 1083: "time", 1266: "timetz", 1186: "interval",
        869: "inet", 650: "cidr", 829: "macaddr", 790: "money",
    ]

    /// The type's name, or `type OID n` for types the driver does not know.
    static func name(of oid: UInt32) -> String {
        if let name = names[oid] { return name }
        if let element = elementOfArray[oid], let name = names[element] { return name + "[]" }
        return "type OID \(oid)"
    }
}

/// Seconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
private let postgresEpoch: TimeInterval = 946_684_800

// MARK: Decoding (binary)

enum PGBinaryDecoding {
    /// Decodes one result cell. `bytes` is `nil` for SQL `NULL`.
    static func value(typeOID: UInt32, bytes: ByteBuffer?) throws(PGError) -> PGValue {
        guard var buffer = bytes else { return .null }
        return try value(typeOID: typeOID, buffer: &buffer)
    }

    static func value(typeOID: UInt32, buffer: inout ByteBuffer) throws(PGError) -> PGValue {
        func fail(_ what: String) -> PGError {
            PGError(.decoding, message: "cannot decode a value of type \(typeOID): \(what)")
        }
        func integer<T: FixedWidthInteger>(_: T.Type) throws(PGError) -> T {
            guard buffer.readableBytes == MemoryLayout<T>.size, let value = buffer.readInteger(as: T.self) else {
                throw fail("expected \(MemoryLayout<T>.size) bytes, got \(buffer.readableBytes)")
            }
            return value
        }
        func string() -> String {
            buffer.readString(length: buffer.readableBytes) ?? ""
        }
        switch typeOID {
        case PGTypeOID.bool:
            return .bool(try integer(UInt8.self) != 0)
        case PGTypeOID.int2:
            return .int16(try integer(Int16.self))
        case PGTypeOID.int4:
            return .int32(try integer(Int32.self))
        case PGTypeOID.int8:
            return .int64(try integer(Int64.self))
        case PGTypeOID.oid:
            return .int64(Int64(try integer(UInt32.self)))
        case PGTypeOID.float4:
            return .float(Float(bitPattern: try integer(UInt32.self)))
        case PGTypeOID.float8:
            return .double(Double(bitPattern: try integer(UInt64.self)))
        case PGTypeOID.numeric:
            return .numeric(try numeric(&buffer))
        case PGTypeOID.text, PGTypeOID.varchar, PGTypeOID.bpchar, PGTypeOID.name, PGTypeOID.char, PGTypeOID.xml,
            PGTypeOID.unknown:
            return .text(string())
        case PGTypeOID.json:
            return .json(string())
        case PGTypeOID.jsonb:
            guard let version = buffer.readInteger(as: UInt8.self), version == 1 else {
                throw fail("unknown jsonb version")
            }
            return .jsonb(string())
        case PGTypeOID.bytea:
            return .bytea(buffer.readBytes(length: buffer.readableBytes) ?? [])
        case PGTypeOID.uuid:
            guard buffer.readableBytes == 16, let bytes = buffer.readBytes(length: 16) else {
                throw fail("expected 16 bytes")
            }
            let uuid = UUID(
                uuid: (
                    bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                    bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
                )
            )
            return .uuid(uuid)
        case PGTypeOID.date:
            let days = try integer(Int32.self)
            switch days {
            case .max: return .date(.distantFuture)
            case .min: return .date(.distantPast)
            default: return .date(Date(timeIntervalSince1970: postgresEpoch + TimeInterval(days) * 86_400))
            }
        case PGTypeOID.timestamp, PGTypeOID.timestamptz:
            let micros = try integer(Int64.self)
            let date: Date =
                switch micros {
                case .max: .distantFuture
                case .min: .distantPast
                default: Date(timeIntervalSince1970: postgresEpoch + TimeInterval(micros) / 1_000_000)
                }
            return typeOID == PGTypeOID.timestamp ? .timestamp(date) : .timestamptz(date)
        default:
            if PGTypeOID.arrayTypes.contains(typeOID) {
                return try array(&buffer, typeOID: typeOID)
            }
            return .other(typeOID: typeOID, bytes: buffer.readBytes(length: buffer.readableBytes) ?? [])
        }
    }

    /// PostgreSQL's binary array: ndim, has-null flag, element type, (size, lower bound) per
    /// dimension, then each element as a length (-1 for NULL) and its bytes.
    private static func array(_ buffer: inout ByteBuffer, typeOID: UInt32) throws(PGError) -> PGValue {
        let malformed = PGError(.decoding, message: "malformed binary array of type \(typeOID)")
        guard let dimensions = buffer.readInteger(as: Int32.self), buffer.readInteger(as: Int32.self) != nil,
            let elementType = buffer.readInteger(as: UInt32.self), (0...6).contains(dimensions)
        else { throw malformed }
        if dimensions == 0 { return .array([]) }
        var sizes: [Int] = []
        for _ in 0..<dimensions {
            guard let size = buffer.readInteger(as: Int32.self), buffer.readInteger(as: Int32.self) != nil, size >= 0
            else { throw malformed }
            sizes.append(Int(size))
        }
        func read(dimension: Int) throws(PGError) -> PGValue {
            var elements: [PGValue] = []
            elements.reserveCapacity(sizes[dimension])
            for _ in 0..<sizes[dimension] {
                if dimension + 1 < sizes.count {
                    elements.append(try read(dimension: dimension + 1))
                    continue
                }
                guard let length = buffer.readInteger(as: Int32.self) else { throw malformed }
                if length < 0 {
                    elements.append(.null)
                    continue
                }
                guard var slice = buffer.readSlice(length: Int(length)) else { throw malformed }
                elements.append(try value(typeOID: elementType, buffer: &slice))
            }
            return .array(elements)
        }
        return try read(dimension: 0)
    }

    /// PostgreSQL's binary numeric: ndigits, weight, sign, dscale, then base-10000 digits.
    static func numeric(_ buffer: inout ByteBuffer) throws(PGError) -> String {
        guard let count = buffer.readInteger(as: Int16.self), let weight = buffer.readInteger(as: Int16.self),
            let sign = buffer.readInteger(as: UInt16.self), let scale = buffer.readInteger(as: Int16.self),
            count >= 0, scale >= 0
        else { throw PGError(.decoding, message: "malformed binary numeric") }
        switch sign {
        case 0xC000: return "NaN"
        case 0xD000: return "Infinity"
        case 0xF000: return "-Infinity"
        default: break
        }
        var digits: [Int16] = []
        digits.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let digit = buffer.readInteger(as: Int16.self) else {
                throw PGError(.decoding, message: "malformed binary numeric")
            }
            digits.append(digit)
        }
        func group(_ index: Int) -> Int16 { index >= 0 && index < digits.count ? digits[index] : 0 }
        func padded(_ value: Int16) -> String {
            let text = String(value)
            return String(repeating: "0", count: 4 - text.count) + text
        }
        var text = sign == 0x4000 ? "-" : ""
        if weight < 0 {
            text += "0"
        } else {
            text += String(group(0))
            if weight > 0 {
                for index in 1...Int(weight) { text += padded(group(index)) }
            }
        }
        if scale > 0 {
            var fraction = ""
            var index = Int(weight) + 1
            while fraction.count < Int(scale) {
                fraction += padded(group(index))
                index += 1
            }
            text += "." + fraction.prefix(Int(scale))
        }
        return text
    }
}

// MARK: Encoding

/// A parameter as PostgresNIO's `PostgresBindings` takes it, in any type and format
/// (`PostgresBindings.append(PostgresData)` always declares the binary format).
struct WireParameter: PostgresDynamicTypeEncodable {
    let psqlType: PostgresDataType
    let psqlFormat: PostgresFormat
    let bytes: ByteBuffer

    func encode<JSONEncoder: PostgresJSONEncoder>(
        into byteBuffer: inout ByteBuffer,
        context: PostgresEncodingContext<JSONEncoder>
    ) {
        byteBuffer.writeImmutableBuffer(bytes)
    }
}

enum PGEncoding {
    /// Binds a parameter of a one-off (unnamed) statement with its own type: binary, except
    /// ``PGValue/numeric(_:)`` (text, typed `numeric`), ``PGValue/unknown(_:)`` (text, untyped) and
    /// arrays with no typed element (text `{…}`, untyped).
    static func append(_ value: PGValue, to bindings: inout PostgresBindings) throws(PGError) {
        switch value {
        case .null:
            bindings.appendNull()
        case .unknown(let text):
            bindings.append(
                WireParameter(psqlType: PostgresDataType(0), psqlFormat: .text, bytes: ByteBuffer(string: text))
            )
        case .numeric(let text):
            bindings.append(WireParameter(psqlType: .numeric, psqlFormat: .text, bytes: ByteBuffer(string: text)))
        case .array(let elements):
            if let elementOID = elementType(of: elements), let arrayOID = PGTypeOID.arrayOfElement[elementOID] {
                let bytes = try binaryArray(elements, elementOID: elementOID)
                bindings.append(WireParameter(psqlType: PostgresDataType(arrayOID), psqlFormat: .binary, bytes: bytes))
            } else {
                let literal = try PGTextEncoding.arrayLiteral(elements)
                bindings.append(
                    WireParameter(psqlType: PostgresDataType(0), psqlFormat: .text, bytes: ByteBuffer(string: literal))
                )
            }
        default:
            let oid = scalarType(of: value)!
            let bytes = try binary(value, as: oid)!
            bindings.append(WireParameter(psqlType: PostgresDataType(oid), psqlFormat: .binary, bytes: bytes))
        }
    }

    /// The type a scalar binds as on its own; `nil` for null, numeric, unknown and arrays.
    static func scalarType(of value: PGValue) -> UInt32? {
        switch value {
        case .bool: PGTypeOID.bool
        case .int16: PGTypeOID.int2
        case .int32: PGTypeOID.int4
        case .int64: PGTypeOID.int8
        case .float: PGTypeOID.float4
        case .double: PGTypeOID.float8
        case .text: PGTypeOID.text
        case .bytea: PGTypeOID.bytea
        case .uuid: PGTypeOID.uuid
        case .date: PGTypeOID.date
        case .timestamp: PGTypeOID.timestamp
        case .timestamptz: PGTypeOID.timestamptz
        case .json: PGTypeOID.json
        case .jsonb: PGTypeOID.jsonb
        case .other(let oid, _): oid
        case .null, .numeric, .unknown, .array: nil
        }
    }

    /// The element type of an array: the type of its first non-NULL scalar (searching nested arrays);
    /// `nil` when there is none or it is ``PGValue/unknown(_:)``.
    static func elementType(of elements: [PGValue]) -> UInt32? {
        for element in elements {
            switch element {
            case .null, .unknown: continue
            case .numeric: return PGTypeOID.numeric
            case .array(let inner):
                if let type = elementType(of: inner) { return type }
            default: return scalarType(of: element)
            }
        }
        return nil
    }

    /// The binary form of `value` as a value of type `oid` (the type of a prepared statement's
    /// parameter, or an array's element type), converting between compatible cases: any integer to
    /// any integer type that holds it, numbers to `float4`, `float8` and `numeric`, text that parses
    /// to numbers, `bool` and `uuid`, anything with a text form to the text types. `nil` for `NULL`.
    /// - Throws: ``PGError`` ``PGError/Code/invalidValue`` when the value does not convert.
    static func binary(_ value: PGValue, as oid: UInt32) throws(PGError) -> ByteBuffer? {
        var buffer = ByteBuffer()
        guard try writeBinary(value, as: oid, into: &buffer) else { return nil }
        return buffer
    }

    /// Appends the binary form of `value` as a value of type `oid` to `buffer`, as ``binary(_:as:)``
    /// makes it, without a buffer of its own.
    /// - Returns: `false` for `NULL` (nothing written).
    /// - Throws: ``PGError`` ``PGError/Code/invalidValue`` when the value does not convert; `buffer`
    ///   may then hold part of the value.
    static func writeBinary(_ value: PGValue, as oid: UInt32, into buffer: inout ByteBuffer) throws(PGError) -> Bool {
        if case .null = value { return false }
        func mismatch(_ why: String = "") -> PGError {
            PGError(
                .invalidValue,
                message: "cannot bind a \(value.caseName) value to a parameter of type \(PGTypeOID.name(of: oid))\(why)"
            )
        }
        func integer() -> Int64? {
            if let exact = value.int64 { return exact }
            switch value {
            case .text(let text), .unknown(let text), .numeric(let text): return Int64(text)
            default: return nil
            }
        }
        func number() -> Double? {
            if let number = value.double { return number }
            switch value {
            case .text(let text), .unknown(let text): return Double(text)
            default: return nil
            }
        }
        switch oid {
        case PGTypeOID.bool:
            switch value {
            case .bool(let flag): buffer.writeInteger(flag ? 1 : 0, as: UInt8.self)
            case .text(let text), .unknown(let text):
                switch text.lowercased() {
                case "t", "true", "yes", "on", "1": buffer.writeInteger(1, as: UInt8.self)
                case "f", "false", "no", "off", "0": buffer.writeInteger(0, as: UInt8.self)
                default: throw mismatch()
                }
            default: throw mismatch()
            }
        case PGTypeOID.int2:
            guard let int = integer() else { throw mismatch() }
            guard let narrow = Int16(exactly: int) else { throw mismatch(": \(int) is out of range") }
            buffer.writeInteger(narrow)
        case PGTypeOID.int4:
            guard let int = integer() else { throw mismatch() }
            guard let narrow = Int32(exactly: int) else { throw mismatch(": \(int) is out of range") }
            buffer.writeInteger(narrow)
        case PGTypeOID.int8:
            guard let int = integer() else { throw mismatch() }
            buffer.writeInteger(int)
        case PGTypeOID.oid:
            guard let int = integer() else { throw mismatch() }
            guard let narrow = UInt32(exactly: int) else { throw mismatch(": \(int) is out of range") }
            buffer.writeInteger(narrow)
        case PGTypeOID.float4:
            guard let number = number() else { throw mismatch() }
            buffer.writeInteger(Float(number).bitPattern)
        case PGTypeOID.float8:
            guard let number = number() else { throw mismatch() }
            buffer.writeInteger(number.bitPattern)
        case PGTypeOID.numeric:
            let text: String
            switch value {
            case .numeric(let t), .text(let t), .unknown(let t): text = t
            case .int16, .int32, .int64: text = String(value.int64!)
            case .float(let f): text = f.isFinite ? "\(f)" : PGTextEncoding.text(of: value)!
            case .double(let d): text = d.isFinite ? "\(d)" : PGTextEncoding.text(of: value)!
            default: throw mismatch()
            }
            guard var numeric = PGNumeric.binary(text) else { throw mismatch(": \"\(text)\" is not a number") }
            buffer.writeBuffer(&numeric)
        case PGTypeOID.text, PGTypeOID.varchar, PGTypeOID.bpchar, PGTypeOID.name, PGTypeOID.unknown, PGTypeOID.xml,
            PGTypeOID.char, PGTypeOID.json:
            guard let text = try PGTextEncoding.textThrowing(value) else { throw mismatch() }
            buffer.writeString(text)
        case PGTypeOID.jsonb:
            guard let text = try PGTextEncoding.textThrowing(value) else { throw mismatch() }
            buffer.writeInteger(1, as: UInt8.self)
            buffer.writeString(text)
        case PGTypeOID.bytea:
            guard case .bytea(let bytes) = value else { throw mismatch() }
            buffer.writeBytes(bytes)
        case PGTypeOID.uuid:
            let uuid: UUID
            switch value {
            case .uuid(let u): uuid = u
            case .text(let text), .unknown(let text):
                guard let parsed = UUID(uuidString: text) else { throw mismatch(": \"\(text)\" is not a UUID") }
                uuid = parsed
            default: throw mismatch()
            }
            _ = withUnsafeBytes(of: uuid.uuid) { buffer.writeBytes($0) }
        case PGTypeOID.date:
            guard let date = value.date else { throw mismatch() }
            buffer.writeInteger(PGTime.days(date))
        case PGTypeOID.timestamp, PGTypeOID.timestamptz:
            guard let date = value.date else { throw mismatch() }
            buffer.writeInteger(PGTime.microseconds(date))
        default:
            if case .other(let type, let bytes) = value, type == oid {
                buffer.writeBytes(bytes)
            } else if let elementOID = PGTypeOID.elementOfArray[oid], case .array(let elements) = value {
                var array = try binaryArray(elements, elementOID: elementOID)
                buffer.writeBuffer(&array)
            } else {
                throw mismatch(
                    "; bind .other(typeOID: \(oid), bytes:) with the binary form, or cast in SQL ($n::text::type) "
                        + "and bind text"
                )
            }
        }
        return true
    }

    /// PostgreSQL's binary array of `elementOID` values; nested arrays make more dimensions and must
    /// be rectangular.
    static func binaryArray(_ elements: [PGValue], elementOID: UInt32) throws(PGError) -> ByteBuffer {
        var sizes: [Int] = []
        var level: [PGValue] = elements
        while true {
            sizes.append(level.count)
            guard case .array(let inner)? = level.first else { break }
            level = inner
        }
        var scalars: [PGValue] = []
        func flatten(_ values: [PGValue], depth: Int) throws(PGError) {
            guard values.count == sizes[depth] else {
                throw PGError(.invalidValue, message: "a multi-dimensional array must be rectangular")
            }
            for value in values {
                if depth + 1 < sizes.count {
                    guard case .array(let inner) = value else {
                        throw PGError(.invalidValue, message: "a multi-dimensional array must be rectangular")
                    }
                    try flatten(inner, depth: depth + 1)
                } else {
                    if case .array = value {
                        throw PGError(.invalidValue, message: "a multi-dimensional array must be rectangular")
                    }
                    scalars.append(value)
                }
            }
        }
        try flatten(elements, depth: 0)
        var buffer = ByteBuffer()
        let empty = scalars.isEmpty
        buffer.writeInteger(empty ? 0 : Int32(sizes.count))
        buffer.writeInteger(scalars.contains(where: \.isNull) ? 1 : 0, as: Int32.self)
        buffer.writeInteger(elementOID)
        if !empty {
            for size in sizes {
                buffer.writeInteger(Int32(size))
                buffer.writeInteger(1, as: Int32.self)
            }
        }
        for scalar in scalars {
            guard let bytes = try binary(scalar, as: elementOID) else {
                buffer.writeInteger(-1, as: Int32.self)
                continue
            }
            buffer.writeInteger(Int32(bytes.readableBytes))
            buffer.writeImmutableBuffer(bytes)
        }
        return buffer
    }
}

/// PostgreSQL's binary `numeric`: ndigits, weight, sign, dscale, then base-10000 digits.
enum PGNumeric {
    /// The binary form of a decimal number in text (`-12.340`, `1e-5`, `NaN`, `Infinity`); `nil`
    /// when the text is not a number.
    static func binary(_ text: String) -> ByteBuffer? {
        var buffer = ByteBuffer()
        func special(_ sign: UInt16) -> ByteBuffer {
            buffer.writeInteger(0, as: Int16.self)
            buffer.writeInteger(0, as: Int16.self)
            buffer.writeInteger(sign)
            buffer.writeInteger(0, as: Int16.self)
            return buffer
        }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        switch trimmed.lowercased() {
        case "nan": return special(0xC000)
        case "infinity", "+infinity", "inf", "+inf": return special(0xD000)
        case "-infinity", "-inf": return special(0xF000)
        default: break
        }
        var characters = Substring(trimmed)
        var negative = false
        if characters.first == "-" || characters.first == "+" {
            negative = characters.first == "-"
            characters = characters.dropFirst()
        }
        var exponent = 0
        if let e = characters.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            guard let value = Int(characters[characters.index(after: e)...]), abs(value) < 100_000 else { return nil }
            exponent = value
            characters = characters[..<e]
        }
        var integerDigits = ""
        var fractionDigits = ""
        if let dot = characters.firstIndex(of: ".") {
            integerDigits = String(characters[..<dot])
            fractionDigits = String(characters[characters.index(after: dot)...])
        } else {
            integerDigits = String(characters)
        }
        guard !(integerDigits.isEmpty && fractionDigits.isEmpty),
            (integerDigits + fractionDigits).allSatisfy({ $0.isASCII && $0.isNumber })
        else { return nil }
        // Move the decimal point by the exponent.
        if exponent > 0 {
            let moved = fractionDigits.prefix(exponent)
            integerDigits += moved + String(repeating: "0", count: exponent - moved.count)
            fractionDigits = String(fractionDigits.dropFirst(exponent))
        } else if exponent < 0 {
            let shift = -exponent
            let padded = String(repeating: "0", count: max(0, shift - integerDigits.count)) + integerDigits
            fractionDigits = String(padded.suffix(shift)) + fractionDigits
            integerDigits = String(padded.dropLast(shift))
        }
        let scale = fractionDigits.count
        let integerPart = integerDigits.drop(while: { $0 == "0" })
        let integerPadded = String(repeating: "0", count: (4 - integerPart.count % 4) % 4) + integerPart
        let fractionPadded = fractionDigits + String(repeating: "0", count: (4 - fractionDigits.count % 4) % 4)
        var groups: [Int16] = []
        var weight = integerPadded.count / 4 - 1
        for chunk in stride(from: 0, to: integerPadded.count, by: 4) {
            let start = integerPadded.index(integerPadded.startIndex, offsetBy: chunk)
            groups.append(Int16(integerPadded[start..<integerPadded.index(start, offsetBy: 4)])!)
        }
        for chunk in stride(from: 0, to: fractionPadded.count, by: 4) {
            let start = fractionPadded.index(fractionPadded.startIndex, offsetBy: chunk)
            groups.append(Int16(fractionPadded[start..<fractionPadded.index(start, offsetBy: 4)])!)
        }
        while let first = groups.first, first == 0 {
            groups.removeFirst()
            weight -= 1
        }
        while let last = groups.last, last == 0 { groups.removeLast() }
        if groups.isEmpty {
            weight = 0
            negative = false
        }
        guard groups.count <= Int16.max, scale <= 0x3FFF else { return nil }
        buffer.writeInteger(Int16(groups.count))
        buffer.writeInteger(Int16(weight))
        buffer.writeInteger(negative ? 0x4000 : 0, as: UInt16.self)
        buffer.writeInteger(Int16(scale))
        for group in groups { buffer.writeInteger(group) }
        return buffer
    }
}

enum PGTextEncoding {
    /// PostgreSQL's input syntax for the value; `nil` for `NULL` or a value with no text form.
    static func text(of value: PGValue) -> String? {
        try? textThrowing(value)
    }

    static func textThrowing(_ value: PGValue) throws(PGError) -> String? {
        switch value {
        case .null: return nil
        case .bool(let v): return v ? "t" : "f"
        case .int16(let v): return String(v)
        case .int32(let v): return String(v)
        case .int64(let v): return String(v)
        case .float(let v): return floatText(Double(v), description: v.description)
        case .double(let v): return floatText(v, description: v.description)
        case .numeric(let v), .text(let v), .json(let v), .jsonb(let v), .unknown(let v): return v
        case .bytea(let bytes):
            let digits: [Character] = Array("0123456789abcdef")
            var hex = "\\x"
            hex.reserveCapacity(2 + bytes.count * 2)
            for byte in bytes {
                hex.append(digits[Int(byte >> 4)])
                hex.append(digits[Int(byte & 0x0F)])
            }
            return hex
        case .uuid(let v): return v.uuidString.lowercased()
        case .date(let v): return PGTime.dateText(v)
        case .timestamp(let v): return PGTime.timestampText(v, zone: false)
        case .timestamptz(let v): return PGTime.timestampText(v, zone: true)
        case .array(let elements): return try arrayLiteral(elements)
        case .other(let oid, _):
            throw PGError(
                .invalidValue,
                message:
                    "a value of type \(PGTypeOID.name(of: oid)) in binary form has no text form here; "
                    + "bind it as .unknown(text)"
            )
        }
    }

    private static func floatText(_ value: Double, description: String) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        return description
    }

    /// `{1,2,NULL}`, `{"a","b \"c\""}`, `{{1,2},{3,4}}`.
    static func arrayLiteral(_ elements: [PGValue]) throws(PGError) -> String {
        var text = "{"
        for (index, element) in elements.enumerated() {
            if index > 0 { text += "," }
            switch element {
            case .null:
                text += "NULL"
            case .array(let inner):
                text += try arrayLiteral(inner)
            default:
                let item = try textThrowing(element) ?? ""
                text += "\"" + item.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"") + "\""
            }
        }
        return text + "}"
    }
}

extension PGValue {
    /// The case's name, for error messages (never the value).
    var caseName: String {
        switch self {
        case .null: "null"
        case .bool: "bool"
        case .int16: "int16"
        case .int32: "int32"
        case .int64: "int64"
        case .float: "float"
        case .double: "double"
        case .numeric: "numeric"
        case .text: "text"
        case .bytea: "bytea"
        case .uuid: "uuid"
        case .date: "date"
        case .timestamp: "timestamp"
        case .timestamptz: "timestamptz"
        case .json: "json"
        case .jsonb: "jsonb"
        case .array: "array"
        case .unknown: "unknown"
        case .other(let oid, _): "other(\(oid))"
        }
    }
}

// MARK: Dates

enum PGTime {
    /// Days since 2000-01-01 (UTC) of the day that contains `date`; infinities for the distant dates.
    static func days(_ date: Date) -> Int32 {
        if date == .distantFuture { return .max }
        if date == .distantPast { return .min }
        let seconds = date.timeIntervalSince1970 - postgresEpoch
        return Int32(clamping: Int64((seconds / 86_400).rounded(.down)))
    }

    /// Microseconds since 2000-01-01 UTC, rounded; infinities for the distant dates.
    static func microseconds(_ date: Date) -> Int64 {
        if date == .distantFuture { return .max }
        if date == .distantPast { return .min }
        let micros = ((date.timeIntervalSince1970 - postgresEpoch) * 1_000_000).rounded()
        return Int64(exactly: micros) ?? (micros > 0 ? .max - 1 : .min + 1)
    }

    /// `2024-02-29`, `0044-03-15 BC`, `infinity`.
    static func dateText(_ date: Date) -> String {
        if date == .distantFuture { return "infinity" }
        if date == .distantPast { return "-infinity" }
        let days = Int64(days(date)) + 10_957  // since 1970-01-01
        let (year, month, day) = civil(daysSince1970: days)
        return ymd(year, month, day).text + ymd(year, month, day).era
    }

    /// `2024-02-29 13:45:01.123456` (and `+00` with the zone), `infinity`.
    static func timestampText(_ date: Date, zone: Bool) -> String {
        if date == .distantFuture { return "infinity" }
        if date == .distantPast { return "-infinity" }
        let micros = microseconds(date) + 946_684_800 * 1_000_000
        let dayMicros: Int64 = 86_400 * 1_000_000
        var days = micros / dayMicros
        var rest = micros % dayMicros
        if rest < 0 {
            rest += dayMicros
            days -= 1
        }
        let (year, month, day) = civil(daysSince1970: days)
        let seconds = rest / 1_000_000
        let fraction = rest % 1_000_000
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        var text = ymd(year, month, day).text + " \(two(seconds / 3600)):\(two(seconds / 60 % 60)):\(two(seconds % 60))"
        if fraction > 0 {
            let digits = String(fraction)
            text += "." + String(repeating: "0", count: 6 - digits.count) + digits
        }
        if zone { text += "+00" }
        return text + ymd(year, month, day).era
    }

    private static func ymd(_ year: Int64, _ month: Int64, _ day: Int64) -> (text: String, era: String) {
        let displayYear = year > 0 ? year : 1 - year
        func pad(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return ("\(pad(displayYear, 4))-\(pad(month, 2))-\(pad(day, 2))", year > 0 ? "" : " BC")
    }

    /// The proleptic Gregorian date of a day count (Howard Hinnant's `civil_from_days`); year 0 is 1 BC.
    static func civil(daysSince1970: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = daysSince1970 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}
