import DBConnection
import Foundation
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import DBConnectionPostgres

extension DirectCall {
    /// The messages of one execution of the named statement `statement`, as a cached statement's
    /// execution builds them (its Bind prefix, then the values).
    static func request(statement: String, params: [PGValue], types: [UInt32]) throws(PGError) -> ByteBuffer {
        try request(bindPrefix: bindPrefix(statement: statement, parameterCount: params.count), params: params, types: types)
    }
}

/// The driver's own execution of cached prepared statements (``PGConnection/Options/directExecute``):
/// the bytes it sends and reads, without a server.
@Suite struct DirectCallCodingTests {
    @Test func bindExecuteSyncAreFramedAsTheProtocolSays() throws {
        var buffer = try DirectCall.request(
            statement: "s1",
            params: [.int32(7), .null],
            types: [PGTypeOID.int4, PGTypeOID.int4]
        )
        var expected: [UInt8] = [UInt8(ascii: "B")]
        let bind: [UInt8] =
            [0] + Array("s1".utf8) + [0]  // portal "", statement "s1"
            + [0, 1, 0, 1]  // one parameter format: binary
            + [0, 2]  // two parameters
            + [0, 0, 0, 4, 0, 0, 0, 7]  // 4 bytes: 7
            + [0xFF, 0xFF, 0xFF, 0xFF]  // NULL
            + [0, 1, 0, 1]  // one result format: binary
        expected += [0, 0, 0, UInt8(4 + bind.count)] + bind
        expected += [UInt8(ascii: "E"), 0, 0, 0, 9, 0, 0, 0, 0, 0]
        expected += [UInt8(ascii: "S"), 0, 0, 0, 4]
        #expect(buffer.readBytes(length: buffer.readableBytes) == expected)

        var none = try DirectCall.request(statement: "s", params: [], types: [])
        let bytes = none.readBytes(length: none.readableBytes) ?? []
        // No parameters: no parameter formats either.
        #expect(Array(bytes[1..<16]) == [0, 0, 0, 15, 0, UInt8(ascii: "s"), 0, 0, 0, 0, 0, 0, 1, 0, 1])
    }

    @Test func rowsDecodeByTheStatementsTypesAndAWrongWidthIsAViolation() throws {
        var row = ByteBuffer()
        row.writeInteger(Int16(2))
        row.writeInteger(Int32(4))
        row.writeInteger(Int32(-5))
        row.writeInteger(Int32(-1))
        let decoded = try BackendObserver.decodeRow(&row, types: [PGTypeOID.int4, PGTypeOID.text])
        #expect(decoded == [.int32(-5), .null])

        var short = ByteBuffer()
        short.writeInteger(Int16(1))
        short.writeInteger(Int32(4))
        #expect(throws: PGError.self) { try BackendObserver.decodeRow(&short, types: [PGTypeOID.int4]) }
        var wide = ByteBuffer()
        wide.writeInteger(Int16(3))
        let error = #expect(throws: PGError.self) { try BackendObserver.decodeRow(&wide, types: [PGTypeOID.int4]) }
        #expect(error?.code == .protocolViolation)
    }

    /// An embedded channel, connected, with an observer in its pipeline; the observer as the driver
    /// reaches it.
    static func observedChannel() async throws -> (BackendState, EmbeddedChannel, NIOLoopBound<BackendObserver>) {
        let state = BackendState()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(BackendObserver(state: state))
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 5432)).get()
        return (state, channel, try #require(state.directObserver))
    }

    /// What the server answers one execution, with a notice inside and a ParameterStatus right
    /// after the ReadyForQuery; and what of it belongs to PostgresNIO.
    static func answer() -> (all: ByteBuffer, forwarded: ByteBuffer) {
        func message(_ type: UInt8, _ body: (inout ByteBuffer) -> Void) -> ByteBuffer {
            var content = ByteBuffer()
            body(&content)
            var framed = ByteBuffer()
            framed.writeInteger(type)
            framed.writeInteger(Int32(4 + content.readableBytes))
            framed.writeBuffer(&content)
            return framed
        }
        func row(_ n: Int32, _ text: String) -> ByteBuffer {
            message(UInt8(ascii: "D")) {
                $0.writeInteger(Int16(2))
                $0.writeInteger(Int32(4))
                $0.writeInteger(n)
                $0.writeInteger(Int32(text.utf8.count))
                $0.writeString(text)
            }
        }
        let notice = message(UInt8(ascii: "N")) {
            $0.writeNullTerminatedString("SNOTICE")
            $0.writeNullTerminatedString("Mhello")
            $0.writeInteger(UInt8(0))
        }
        let parameter = message(UInt8(ascii: "S")) {
            $0.writeNullTerminatedString("application_name")
            $0.writeNullTerminatedString("renamed")
        }
        let parts = [
            message(UInt8(ascii: "2")) { _ in }, row(1, "one"), notice, row(2, String(repeating: "x", count: 300)),
            message(UInt8(ascii: "C")) { $0.writeNullTerminatedString("SELECT 2") },
            message(UInt8(ascii: "Z")) { $0.writeInteger(UInt8(ascii: "T")) }, parameter,
        ]
        var all = ByteBuffer()
        var forwarded = ByteBuffer()
        for part in parts {
            all.writeImmutableBuffer(part)
            let type = part.getInteger(at: part.readerIndex, as: UInt8.self)
            if type == UInt8(ascii: "N") || type == UInt8(ascii: "S") { forwarded.writeImmutableBuffer(part) }
        }
        return (all, forwarded)
    }

    /// Counts the channelReadComplete events that reach PostgresNIO's place in the pipeline.
    final class ReadCompleteCounter: ChannelInboundHandler, @unchecked Sendable {
        // Unchecked: an EmbeddedChannel runs every event on the test's own thread.
        typealias InboundIn = ByteBuffer
        var count = 0
        func channelReadComplete(context: ChannelHandlerContext) {
            count += 1
            context.fireChannelReadComplete()
        }
    }

    /// A read cycle whose bytes all belong to a direct execution passes no channelReadComplete on;
    /// one that passes bytes on (here a ParameterStatus after the ReadyForQuery), or that is not a
    /// direct execution's at all, passes it on.
    @Test func readCompleteGoesOnOnlyWithBytesThatWentOn() async throws {
        let (_, channel, observer) = try await Self.observedChannel()
        let counter = ReadCompleteCounter()
        try channel.pipeline.syncOperations.addHandler(counter)
        let (answer, _) = Self.answer()
        // The answer without its trailing ParameterStatus, and without the notice inside.
        var whole = answer
        var direct = ByteBuffer()
        while whole.readableBytes > 0 {
            let length = Int(whole.getInteger(at: whole.readerIndex + 1, as: Int32.self)!)
            let message = whole.readSlice(length: 1 + length)!
            let type = message.getInteger(at: message.readerIndex, as: UInt8.self)
            if type != UInt8(ascii: "N") && type != UInt8(ascii: "S") { direct.writeImmutableBuffer(message) }
        }
        for (answer, expected) in [(direct, 0), (answer, 1)] {
            let before = counter.count
            _ = try await withUnsafeThrowingContinuation { continuation in
                observer.value.startDirect(
                    DirectCall(
                        request: try! DirectCall.request(statement: "s1", params: [], types: []),
                        columnTypes: [PGTypeOID.int4, PGTypeOID.text],
                        continuation: continuation
                    )
                )
                _ = try? channel.readOutbound(as: ByteBuffer.self)
                _ = try? channel.writeInbound(answer)
            }
            #expect(counter.count - before == expected)
            while (try channel.readInbound(as: ByteBuffer.self)) != nil {}
        }
        // Bytes of PostgresNIO's own, outside any direct execution.
        let before = counter.count
        var ready = ByteBuffer()
        ready.writeInteger(UInt8(ascii: "Z"))
        ready.writeInteger(Int32(5))
        ready.writeInteger(UInt8(ascii: "I"))
        _ = try? channel.writeInbound(ready)
        #expect(counter.count - before == 1)
        _ = try? await channel.close().get()
    }

    /// The observer in an embedded channel, the server's answer fed in pieces of every size: the
    /// request goes out as built, the rows and tag come back decoded, the status is recorded, and the
    /// notice and the bytes after the ReadyForQuery reach the next handler (PostgresNIO's place) whole.
    @Test(arguments: [1, 2, 3, 7, 64, 4096])
    func anExchangeSplitAnywhereIsReadWholeAndTheRestPassesOn(_ chunkSize: Int) async throws {
        let (state, channel, observer) = try await Self.observedChannel()
        let request = try DirectCall.request(statement: "s1", params: [], types: [])
        let (answer, forwarded) = Self.answer()
        let outcome = try await withUnsafeThrowingContinuation { continuation in
            observer.value.startDirect(
                DirectCall(request: request, columnTypes: [PGTypeOID.int4, PGTypeOID.text], continuation: continuation)
            )
            #expect((try? channel.readOutbound(as: ByteBuffer.self)) == request)
            var rest = answer
            while rest.readableBytes > 0 {
                let piece = rest.readSlice(length: min(chunkSize, rest.readableBytes))!
                _ = try? channel.writeInbound(piece)
            }
        }
        #expect(outcome.rows == [[.int32(1), .text("one")], [.int32(2), .text(String(repeating: "x", count: 300))]])
        #expect(outcome.commandTag == "SELECT 2")
        var passedOn = ByteBuffer()
        while var piece = try channel.readInbound(as: ByteBuffer.self) { passedOn.writeBuffer(&piece) }
        #expect(passedOn == forwarded)
        #expect(state.isSettled)
        _ = try? await channel.close().get()
        #expect(state.directObserver == nil)
    }

    /// The exchange waits while PostgresNIO's own statement is answered: the Bind goes out only after
    /// the ReadyForQuery PostgresNIO is owed, which passes on to PostgresNIO.
    @Test func theRequestWaitsUntilPostgresNIOHasNothingOnTheWire() async throws {
        let (state, channel, observer) = try await Self.observedChannel()
        state.sent(readyOwed: 1)  // PostgresNIO's statement in flight
        var ready = ByteBuffer()
        ready.writeInteger(UInt8(ascii: "Z"))
        ready.writeInteger(Int32(5))
        ready.writeInteger(UInt8(ascii: "I"))
        var complete = ByteBuffer()
        complete.writeInteger(UInt8(ascii: "C"))
        complete.writeInteger(Int32(4 + 9))
        complete.writeNullTerminatedString("SELECT 0")
        let request = try DirectCall.request(statement: "s", params: [], types: [])
        let outcome = try await withUnsafeThrowingContinuation { continuation in
            observer.value.startDirect(DirectCall(request: request, columnTypes: [], continuation: continuation))
            #expect((try? channel.readOutbound(as: ByteBuffer.self)) == nil)
            _ = try? channel.writeInbound(ready)  // PostgresNIO's answer ends
            #expect((try? channel.readInbound(as: ByteBuffer.self)) == ready)
            #expect((try? channel.readOutbound(as: ByteBuffer.self)) == request)
            _ = try? channel.writeInbound(complete)
            _ = try? channel.writeInbound(ready)
        }
        #expect(outcome.commandTag == "SELECT 0")
        #expect((try channel.readInbound(as: ByteBuffer.self)) == nil)
        #expect(state.isSettled)
    }

    @Test func aClosingChannelFailsTheExchangeInFlight() async throws {
        let (_, channel, observer) = try await Self.observedChannel()
        let request = try DirectCall.request(statement: "s", params: [], types: [])
        let error = await #expect(throws: PGError.self) {
            _ = try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<DirectOutcome, any Error>) in
                observer.value.startDirect(
                    DirectCall(
                        request: request,
                        columnTypes: [],
                        continuation: continuation
                    )
                )
                var half = ByteBuffer()
                half.writeInteger(UInt8(ascii: "2"))
                _ = try? channel.writeInbound(half)
                channel.pipeline.fireChannelInactive()
            }
        }
        #expect(error?.code == .connectionClosed)
        #expect(error?.invalidatesConnection == true)
    }

    @Test func errorResponsesKeepTheirFields() {
        var body = ByteBuffer()
        for (code, value) in [("S", "ERROR"), ("V", "ERROR"), ("C", "22012"), ("M", "division by zero"), ("H", "no")] {
            body.writeString(code)
            body.writeString(value)
            body.writeInteger(UInt8(0))
        }
        body.writeInteger(UInt8(0))
        let error = BackendObserver.serverError(&body)
        #expect(error.code == .server)
        #expect(error.sqlState == "22012")
        #expect(error.severity == "ERROR")
        #expect(error.message == "division by zero")
        #expect(error.hint == "no")
        #expect(!error.invalidatesConnection)
    }
}

/// Direct executions on a real server: the same answers as PostgresNIO's, errors, asynchronous
/// messages, large results, cancel, termination, TLS, and calls from several tasks at once.
@Suite(requiresServer, .timeLimit(.minutes(1)))
struct DirectExecuteTests {
    static func direct(_ conn: PGConnection) -> Int { conn.directExecutions.load(ordering: .relaxed) }

    @Test func directAndPostgresNIOExecutionsGiveTheSameResults() async throws {
        let table = uniqueName("direct")
        let statements: [(PGQuery, [PGValue])] = [
            (
                PGQuery(
                    "SELECT g, g::text || 'x', g * 1.5::numeric, NULLIF(g % 2, 0) = 1, ARRAY[g, g + 1] "
                        + "FROM generate_series(1, $1::int) g"
                ),
                [.int64(50)]
            ),
            (PGQuery("SELECT 1 WHERE $1::bool"), [.bool(false)]),
            (PGQuery("INSERT INTO \(table) (v) VALUES ($1), ($2) RETURNING id, v"), ["a", nil]),
            (PGQuery("UPDATE \(table) SET v = $1 WHERE v IS NULL"), ["b"]),
            (PGQuery("DELETE FROM \(table) WHERE v = $1"), ["zzz"]),
        ]
        var results: [Bool: [PGResult]] = [:]
        for direct in [true, false] {
            try await withConnection(configure: { $0.directExecute = direct }) { conn in
                try await conn.execute(PGQuery("DROP TABLE IF EXISTS \(table)"))
                try await conn.execute(PGQuery("CREATE TABLE \(table) (id serial PRIMARY KEY, v text)"))
                var answers: [PGResult] = []
                for (query, params) in statements {
                    let prepared = try await conn.prepare(query, callOptions: noOptions)
                    answers.append(try await conn.execute(prepared, params: params, callOptions: noOptions).1)
                }
                try await conn.execute(PGQuery("DROP TABLE \(table)"))
                #expect(Self.direct(conn) == (direct ? statements.count : 0))
                results[direct] = answers
            }
        }
        let direct = try #require(results[true])
        let nio = try #require(results[false])
        for (index, (mine, theirs)) in zip(direct, nio).enumerated() {
            #expect(mine.columns == theirs.columns, "statement \(index)")
            #expect(mine.rows == theirs.rows, "statement \(index)")
            #expect(mine.commandTag == theirs.commandTag, "statement \(index)")
        }
        #expect(direct[0].rows.count == 50)
        #expect(direct[0].rows[2] == [.int32(3), .text("3x"), .numeric("4.5"), .bool(true), [.int32(3), .int32(4)]])
        #expect(direct[2].commandTag == "INSERT 0 2")
        #expect(direct[3].commandTag == "UPDATE 1")
        #expect(direct[4].commandTag == "DELETE 0")
    }

    @Test func aServerErrorKeepsTheConnectionAndTheTransactionStatus() async throws {
        try await withConnection { conn in
            let divide = try await conn.prepare("SELECT 10 / $1::int", callOptions: noOptions)
            let error = await pgError { _ = try await conn.execute(divide, params: [0], callOptions: noOptions) }
            #expect(error?.sqlState == "22012")
            #expect(error?.query == "SELECT 10 / $1::int")
            #expect(error?.invalidatesConnection == false)
            #expect(try await conn.status(callOptions: noOptions) == .idle)
            #expect(try await conn.execute(divide, params: [5], callOptions: noOptions).1.scalar == .int32(2))

            // Inside a transaction the error leaves it failed until the rollback, as the server says.
            try await conn.execute("BEGIN")
            _ = await pgError { _ = try await conn.execute(divide, params: [0], callOptions: noOptions) }
            #expect(try await conn.status(callOptions: noOptions) == .error)
            try await conn.execute("ROLLBACK")
            #expect(try await conn.status(callOptions: noOptions) == .idle)
            #expect(try await conn.execute(divide, params: [2], callOptions: noOptions).1.scalar == .int32(5))
            #expect(Self.direct(conn) == 4)
        }
    }

    @Test func noticesAndParameterChangesDuringAnExecutionReachPostgresNIO() async throws {
        let function = uniqueName("noisy")
        try await withConnection { conn in
            try await conn.execute(
                PGQuery(
                    """
                    CREATE FUNCTION \(function)(n int) RETURNS int LANGUAGE plpgsql AS $$
                    BEGIN
                        FOR i IN 1..n LOOP RAISE NOTICE 'notice %', i; END LOOP;
                        RETURN n;
                    END $$
                    """
                )
            )
            let noisy = try await conn.prepare(PGQuery("SELECT \(function)($1)"), callOptions: noOptions)
            #expect(try await conn.execute(noisy, params: [.int32(200)], callOptions: noOptions).1.scalar == .int32(200))
            // application_name is reported: a ParameterStatus arrives inside the exchange.
            let rename = try await conn.prepare("SELECT set_config('application_name', $1, false)", callOptions: noOptions)
            #expect(try await conn.execute(rename, params: ["renamed"], callOptions: noOptions).1.scalar == "renamed")
            // PostgresNIO's own path still works, and the server agrees.
            #expect(try await conn.execute("SHOW application_name").scalar == "renamed")
            try await conn.execute(PGQuery("DROP FUNCTION \(function)"))
            #expect(Self.direct(conn) == 2)
        }
    }

    @Test func aLargeResultArrivesWhole() async throws {
        try await withConnection { conn in
            let query = try await conn.prepare(
                "SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, $1::int) g",
                callOptions: noOptions
            )
            let (_, result) = try await conn.execute(query, params: [.int32(100_000)], callOptions: noOptions)
            #expect(result.rows.count == 100_000)
            #expect(result.commandTag == "SELECT 100000")
            #expect(result.rows.first?[0] == .int32(1))
            #expect(result.rows.last?[0] == .int32(100_000))
            let check = try await conn.execute("SELECT repeat(md5('77777'), 4)").scalar
            #expect(result.rows[77_776][1] == check)
            #expect(Self.direct(conn) == 1)
        }
    }

    @Test func interruptCancelsADirectExecutionAndTheConnectionStays() async throws {
        try await withConnection { conn in
            let pid = conn.backendPID
            let sleep = try await conn.prepare("SELECT pg_sleep($1)", callOptions: noOptions)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let error = await pgError {
                        _ = try await conn.execute(sleep, params: [.double(30)], callOptions: noOptions)
                    }
                    #expect(error?.isQueryCanceled == true)
                    #expect(error?.invalidatesConnection == false)
                }
                try await waitOnServer("pg_sleep to run") {
                    try await PGConnection.withTemporary { observer in
                        try await observer.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
                            [.int32(pid!)]
                        ).scalar == 1
                    }
                }
                #expect(await conn.interrupt() == .confirmed)
                try await group.waitForAll()
            }
            #expect(try await conn.status(callOptions: noOptions) == .idle)
            #expect(try await conn.execute(sleep, params: [.double(0)], callOptions: noOptions).1.rows.count == 1)
            #expect(conn.backendPID == pid)
            #expect(Self.direct(conn) == 2)
        }
    }

    @Test func aBackendTerminatedDuringAnExecutionGivesADisconnectError() async throws {
        try await withConnection { conn in
            let pid = try #require(conn.backendPID)
            let sleep = try await conn.prepare("SELECT pg_sleep($1)", callOptions: noOptions)
            let call = Task { try await conn.execute(sleep, params: [.double(30)], callOptions: noOptions) }
            try await waitOnServer("pg_sleep to run") {
                try await PGConnection.withTemporary { observer in
                    try await observer.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
                        [.int32(pid)]
                    ).scalar == 1
                }
            }
            try await PGConnection.withTemporary { killer in
                _ = try await killer.execute("SELECT pg_terminate_backend($1)", [.int32(pid)])
            }
            do {
                _ = try await call.value
                Issue.record("a terminated backend answered")
            } catch let error as DisconnectError {
                let underlying = try #require(error.underlying as? PGError)
                #expect(underlying.invalidatesConnection)
            }
            try await waitOnServer("the connection to close") { conn.isClosed }
            await #expect(throws: DisconnectError.self) {
                _ = try await conn.execute(sleep, params: [.double(0)], callOptions: noOptions)
            }
        }
    }

    @Test(arguments: ["disable", "require"])
    func directExecutionWorksOnEveryTransport(_ sslmode: String) async throws {
        try await withConnection(configure: { $0.tls = sslmode == "disable" ? .disable : .require }) { conn in
            let query = try await conn.prepare("SELECT ssl FROM pg_stat_ssl WHERE pid = $1", callOptions: noOptions)
            let pid = try #require(conn.backendPID)
            for _ in 0..<3 {
                let ssl = try await conn.execute(query, params: [.int32(pid)], callOptions: noOptions).1.scalar
                #expect(ssl == .bool(sslmode != "disable"))
            }
            #expect(Self.direct(conn) == 3)
        }
    }

    /// Several tasks on one connection: direct executions queue behind each other and behind
    /// PostgresNIO's requests, and every caller gets its own answer.
    @Test func callsFromManyTasksOnOneConnectionEachGetTheirAnswer() async throws {
        try await withConnection { conn in
            let echo = try await conn.prepare("SELECT $1::int8 * 2", callOptions: noOptions)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<16 {
                    group.addTask {
                        for index in 0..<50 {
                            let value = Int64(task * 1000 + index)
                            if index % 5 == 0 {
                                let unnamed = try await conn.execute(PGQuery("SELECT $1::int8 + 1"), [.int64(value)])
                                #expect(unnamed.scalar == .int64(value + 1))
                            } else {
                                let (_, result) = try await conn.execute(
                                    echo,
                                    params: [.int64(value)],
                                    callOptions: noOptions
                                )
                                #expect(result.scalar == .int64(value * 2))
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(Self.direct(conn) == 16 * 40)
            #expect(try await conn.status(callOptions: noOptions) == .idle)
        }
    }
}
