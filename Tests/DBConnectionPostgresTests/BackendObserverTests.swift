import NIOCore
import Testing

@testable import DBConnectionPostgres

@Suite struct BackendObserverTests {
    /// ReadyForQuery(I), CommandComplete("SELECT 1"), a DataRow of 300 bytes, ParameterDescription.
    static func serverMessages() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(ascii: "C"))
        buffer.writeInteger(Int32(4 + 9))
        buffer.writeNullTerminatedString("SELECT 1")
        buffer.writeInteger(UInt8(ascii: "D"))
        buffer.writeInteger(Int32(4 + 300))
        buffer.writeRepeatingByte(7, count: 300)
        buffer.writeInteger(UInt8(ascii: "t"))
        buffer.writeInteger(Int32(4 + 2 + 8))
        buffer.writeInteger(Int16(2))
        buffer.writeInteger(UInt32(23))
        buffer.writeInteger(UInt32(25))
        buffer.writeInteger(UInt8(ascii: "Z"))
        buffer.writeInteger(Int32(5))
        buffer.writeInteger(UInt8(ascii: "T"))
        return buffer
    }

    @Test(arguments: [1, 2, 3, 5, 7, 64, 1000])
    func scannerFramesMessagesSplitAnywhere(_ chunkSize: Int) {
        var all = Self.serverMessages()
        var scanner = MessageScanner(typed: true)
        var seen: [(UInt8, [UInt8]?)] = []
        while all.readableBytes > 0 {
            var chunk = all.readSlice(length: min(chunkSize, all.readableBytes))!
            while let message = scanner.next(from: &chunk, interesting: { $0 != UInt8(ascii: "D") }) {
                seen.append((message.type, message.body.map { Array($0.readableBytesView) }))
            }
        }
        #expect(seen.map(\.0) == [UInt8(ascii: "C"), UInt8(ascii: "D"), UInt8(ascii: "t"), UInt8(ascii: "Z")])
        #expect(seen[0].1 == Array("SELECT 1".utf8) + [0])
        #expect(seen[1].1 == nil)  // skipped, not copied
        #expect(seen[2].1 == [0, 2, 0, 0, 0, 23, 0, 0, 0, 25])
        #expect(seen[3].1 == [UInt8(ascii: "T")])
        #expect(!scanner.isCorrupt)
    }

    @Test func untypedMessagesHaveALengthOnly() {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(8))
        buffer.writeInteger(UInt32(80_877_103))  // SSLRequest
        var scanner = MessageScanner(typed: false)
        let message = scanner.next(from: &buffer, interesting: { $0 == 0 })
        #expect(message?.type == 0)
        var body = message?.body
        #expect(body?.readInteger(as: UInt32.self) == 80_877_103)
    }

    @Test func aLengthBelowFourMarksTheStreamCorrupt() {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(ascii: "Z"))
        buffer.writeInteger(Int32(2))
        var scanner = MessageScanner(typed: true)
        #expect(scanner.next(from: &buffer, interesting: { _ in true }) == nil)
        #expect(scanner.isCorrupt)
    }

    @Test func statusWaitsForEveryReadyForQueryOwed() async throws {
        let state = BackendState()
        state.sent(readyOwed: 2)
        state.received(readyForQuery: UInt8(ascii: "T"))
        async let status = state.readyStatus()
        state.received(readyForQuery: UInt8(ascii: "E"))
        #expect(try await status == UInt8(ascii: "E"))
        #expect(try await state.readyStatus() == UInt8(ascii: "E"))
    }

    @Test func aClosedConnectionFailsTheWaiters() async throws {
        let state = BackendState()
        state.sent(readyOwed: 1)
        async let status: UInt8? = try? state.readyStatus()
        state.closed()
        #expect(await status == nil)
    }
}
