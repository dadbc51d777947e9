import Foundation
import NIOCore
import Testing

@testable import DBConnectionPostgres

@Suite struct PGCodecTests {
    @Test(arguments: [
        "0", "1", "-1", "12345678901234567890.5", "-0.000120", "9999.9999", "10000", "0.0001", "3.14159265358979323846",
        "100000000", "-42.00", "NaN", "Infinity", "-Infinity",
    ])
    func numericRoundTripsThroughItsBinaryForm(_ text: String) throws {
        var buffer = try #require(PGNumeric.binary(text))
        #expect(try PGBinaryDecoding.numeric(&buffer) == text)
    }

    @Test func numericAcceptsExponents() throws {
        var buffer = try #require(PGNumeric.binary("1.5e3"))
        #expect(try PGBinaryDecoding.numeric(&buffer) == "1500")
        buffer = try #require(PGNumeric.binary("25e-4"))
        #expect(try PGBinaryDecoding.numeric(&buffer) == "0.0025")
        #expect(PGNumeric.binary("12a") == nil)
        #expect(PGNumeric.binary("") == nil)
    }

    @Test func datesFormatAsPostgreSQLReadsThem() {
        let date = Date(timeIntervalSince1970: 1_709_164_800)  // 2024-02-29 00:00:00 UTC
        #expect(PGTime.dateText(date) == "2024-02-29")
        #expect(
            PGTime.timestampText(date.addingTimeInterval(49_501.123456), zone: true) == "2024-02-29 13:45:01.123456+00"
        )
        #expect(
            PGTime.timestampText(Date(timeIntervalSince1970: -62_135_596_800 - 86_400), zone: false)
                == "0001-12-31 00:00:00 BC"
        )
        #expect(PGTime.dateText(.distantFuture) == "infinity")
        #expect(PGTime.days(Date(timeIntervalSince1970: 946_684_800 - 1)) == -1)
        #expect(PGTime.civil(daysSince1970: 0) == (1970, 1, 1))
    }

    @Test func arrayLiteralsQuoteAndNest() throws {
        #expect(try PGTextEncoding.arrayLiteral(["a", "b\"c\\d", nil]) == #"{"a","b\"c\\d",NULL}"#)
        #expect(try PGTextEncoding.arrayLiteral([[1, 2], [3, 4]]) == #"{{"1","2"},{"3","4"}}"#)
    }

    @Test func bindingConvertsBetweenCompatibleCases() throws {
        #expect(try PGEncoding.binary(.int64(7), as: PGTypeOID.int2)?.getInteger(at: 0, as: Int16.self) == 7)
        #expect(throws: PGError.self) { try PGEncoding.binary(.int64(70_000), as: PGTypeOID.int2) }
        #expect(throws: PGError.self) { try PGEncoding.binary(.bool(true), as: PGTypeOID.int4) }
        #expect(try PGEncoding.binary(.text("42"), as: PGTypeOID.int8)?.getInteger(at: 0, as: Int64.self) == 42)
        #expect(try PGEncoding.binary(.int32(5), as: PGTypeOID.text).map { String(buffer: $0) } == "5")
        #expect(try PGEncoding.binary(.null, as: PGTypeOID.int4) == nil)
        #expect(throws: PGError.self) { try PGEncoding.binary([[1, 2], [3]], as: 1016) }
    }
}
