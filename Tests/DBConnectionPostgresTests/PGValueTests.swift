import DBConnection
import Foundation
import Synchronization
import Testing

@testable import DBConnectionPostgres

@Suite(requiresServer, .timeLimit(.minutes(1)))
struct PGValueTests {
    static let day = Date(timeIntervalSince1970: 1_709_164_800)  // 2024-02-29
    static let instant = Date(timeIntervalSince1970: 1_709_214_301.123456)  // 2024-02-29 13:45:01.123456 UTC
    static let uuid = UUID(uuidString: "3F2504E0-4F89-11D3-9A0C-0305E82C3301")!

    /// Each SQL literal, its cast, and the value it reads as.
    static let cases: [(sql: String, type: String, value: PGValue)] = [
        ("32767", "int2", .int16(32767)),
        ("'-2147483648'", "int4", .int32(-2_147_483_648)),
        ("9223372036854775807", "int8", .int64(9_223_372_036_854_775_807)),
        ("1.5", "float4", .float(1.5)),
        ("-2.25e-10", "float8", .double(-2.25e-10)),
        ("'Infinity'", "float8", .double(.infinity)),
        ("12345678901234567890.000123", "numeric", .numeric("12345678901234567890.000123")),
        ("-0.5", "numeric", .numeric("-0.5")),
        ("'NaN'", "numeric", .numeric("NaN")),
        ("'héllo, wörld ✓'", "text", .text("héllo, wörld ✓")),
        ("''", "text", .text("")),
        ("'abc'", "varchar", .text("abc")),
        ("'\\x00ff10'", "bytea", .bytea([0, 255, 16])),
        ("true", "bool", .bool(true)),
        ("false", "bool", .bool(false)),
        ("'3f2504e0-4f89-11d3-9a0c-0305e82c3301'", "uuid", .uuid(uuid)),
        ("'2024-02-29'", "date", .date(day)),
        ("'2024-02-29 13:45:01.123456'", "timestamp", .timestamp(instant)),
        ("'2024-02-29 14:45:01.123456+01'", "timestamptz", .timestamptz(instant)),
        ("'infinity'", "timestamptz", .timestamptz(.distantFuture)),
        (#"'{"a": [1, 2]}'"#, "json", .json(#"{"a": [1, 2]}"#)),
        (#"'{"b": 1, "a": [1, 2]}'"#, "jsonb", .jsonb(#"{"a": [1, 2], "b": 1}"#)),
        ("'{1,NULL,3}'", "int4[]", [.int32(1), nil, .int32(3)]),
        ("'{10,20}'", "int8[]", [.int64(10), .int64(20)]),
        (#"'{"a","b,c",NULL,"d\"e"}'"#, "text[]", ["a", "b,c", nil, "d\"e"]),
        ("'{{1,2},{3,4}}'", "int2[]", [[.int16(1), .int16(2)], [.int16(3), .int16(4)]]),
        ("'{}'", "int4[]", []),
        ("NULL", "int4", nil),
        ("NULL", "text", nil),
    ]

    @Test func literalsReadAsTheirCase() async throws {
        try await withConnection { conn in
            let sql = "SELECT " + Self.cases.map { "\($0.sql)::\($0.type)" }.joined(separator: ", ")
            let result = try await conn.execute(PGQuery(sql))
            #expect(result.rows.count == 1)
            for (index, testCase) in Self.cases.enumerated() {
                #expect(result.rows[0][index] == testCase.value, "\(testCase.sql)::\(testCase.type)")
                #expect(result.rows[0][index].caseName == testCase.value.caseName, "\(testCase.sql)::\(testCase.type)")
            }
        }
    }

    /// Binds every value as a parameter and reads it back, unprepared (each value binds with its own
    /// type) and prepared (each converts to the type the server inferred from the cast), the prepared
    /// statement executed both ways: by the driver itself (direct) and through PostgresNIO.
    @Test(arguments: [(false, false), (true, true), (true, false)])
    func valuesRoundTripAsParameters(prepared: Bool, direct: Bool) async throws {
        try await withConnection(configure: { $0.directExecute = direct }) { conn in
            let placeholders = Self.cases.enumerated().map { "$\($0.offset + 1)::\($0.element.type)" }
            var query = PGQuery("SELECT " + placeholders.joined(separator: ", "))
            if prepared { query = try await conn.prepare(query, callOptions: noOptions) }
            let (_, result) = try await conn.execute(query, params: Self.cases.map(\.value), callOptions: noOptions)
            #expect(conn.directExecutions.load(ordering: .relaxed) == (prepared && direct ? 1 : 0))
            for (index, testCase) in Self.cases.enumerated() {
                #expect(
                    result.rows[0][index] == testCase.value,
                    "$\(index + 1)::\(testCase.type) prepared: \(prepared)"
                )
                #expect(result.rows[0][index].caseName == testCase.value.caseName, "$\(index + 1)::\(testCase.type)")
            }
            // The server sees the same values: compare there too.
            let comparisons = Self.cases.enumerated().map { index, testCase in
                testCase.value.isNull
                    ? "$\(index + 1)::\(testCase.type) IS NULL"
                    : "$\(index + 1)::\(testCase.type) = \(testCase.sql)::\(testCase.type)"
            }
            let check = PGQuery(
                "SELECT "
                    + comparisons.map { "(\($0))" }.joined(separator: " AND ")
                    .replacingOccurrences(of: "'NaN'::numeric = 'NaN'::numeric", with: "true")
            )
            let json = Self.cases.firstIndex { $0.type == "json" }! + 1
            let sameOnServer = PGQuery(
                check.sql.replacingOccurrences(of: "$\(json)::json = ", with: "$\(json)::jsonb = ")
                    .replacingOccurrences(of: #"'{"a": [1, 2]}'::json"#, with: #"'{"a": [1, 2]}'::jsonb"#)
            )
            #expect(try await conn.execute(sameOnServer, Self.cases.map(\.value)).scalar == true)
        }
    }

    @Test func parametersWithoutACastTakeTheirOwnType() async throws {
        try await withConnection { conn in
            let result = try await conn.execute(
                "SELECT $1, $2, $3, $4, $5, pg_typeof($1)::text, pg_typeof($5)::text",
                [42, 2.5, "text", true, [1, 2]]
            )
            #expect(
                result.rows[0] == [.int64(42), .double(2.5), .text("text"), .bool(true), [1, 2], "bigint", "bigint[]"]
            )
            let interval = try await conn.execute("SELECT $1::interval = interval '1 day'", [.unknown("24 hours")])
            #expect(interval.scalar == true)
            let other = try await conn.execute("SELECT interval '1 day'")
            guard case .other(let oid, let bytes) = try #require(other.scalar) else {
                Issue.record("an interval should read as .other")
                return
            }
            #expect(oid == 1186)
            #expect(bytes.count == 16)
            #expect(
                try await conn.execute("SELECT $1 = interval '1 day'", [.other(typeOID: 1186, bytes: bytes)]).scalar
                    == true
            )
        }
    }

    @Test func arraysBindAsArraysOfTheirElementType() async throws {
        try await withConnection { conn in
            let table = uniqueName("arrays")
            try await conn.execute(PGQuery("CREATE TEMP TABLE \(table) (ints int4[], texts text[], amounts numeric[])"))
            try await conn.execute(
                PGQuery("INSERT INTO \(table) VALUES ($1, $2, $3)"),
                [[1, 2, nil], ["x", "y"], [.numeric("1.10"), .numeric("2")]]
            )
            try await conn.execute(PGQuery("INSERT INTO \(table) VALUES ($1, $2, $3)"), [[], [nil], nil])
            let rows = try await conn.execute(
                PGQuery("SELECT ints, texts, amounts FROM \(table) ORDER BY cardinality(ints) DESC")
            )
            #expect(rows.rows[0] == [[.int32(1), .int32(2), nil], ["x", "y"], [.numeric("1.10"), .numeric("2")]])
            #expect(rows.rows[1] == [[], [nil], nil])
            let any = try await conn.execute(
                PGQuery("SELECT count(*) FROM \(table) WHERE 2 = ANY($1::int4[])"),
                [[1, 2]]
            )
            #expect(any.scalar == 2)
            let mixed = await pgError { try await conn.execute("SELECT $1", [[1, "x"]]) }
            #expect(mixed?.code == .invalidValue)
        }
    }
}
