import DBConnection
import DBConnectionTesting
import Synchronization
import Testing

/// prepare / execute / prepare_execute / close: scenarios of groups H, I, J and K.
@Suite(.timeLimit(.minutes(1))) struct PrepareExecuteTests {
    @Test func prepareParsesFirstAndDescribesAfter() async throws {
        // Scenarios 57 and 58.
        var prepared = ScriptedQuery("Q-prepared")
        prepared.onDescribe = { _ in ScriptedQuery("Q-described") }
        let script = Script([.ok(), .reply(ScriptedReply(query: prepared))])
        try await withTestPool(script) { pool, _, _ in
            var query = ScriptedQuery("Q")
            query.onParse = { _ in ScriptedQuery("Q-parsed") }
            let result = try await pool.prepare(query)
            #expect(script.record.last == .prepare(query: "Q-parsed", state: "state"))
            #expect(result.statement == "Q-described")
        }
    }

    @Test func aDescribeThatThrowsClosesThePreparedQueryAndKeepsTheConnection() async throws {
        // Scenarios 63 and 93: describe raising → close on the prepared query, no disconnect.
        let script = Script([.ok(), .result(), .result(), .status(.idle)])
        try await withTestPool(script) { pool, _, _ in
            var query = ScriptedQuery("Q")
            query.onDescribe = { _ in throw Oops() }
            await #expect(throws: Oops.self) { try await pool.prepare(query) }
            #expect(await pool.status() == .idle)
            #expect(script.record.map(\.name) == ["connect", "prepare", "close", "status"])
        }
    }

    @Test func anEncodeThatThrowsAfterPrepareClosesTheQuery() async throws {
        // Scenario 93 (encode raising).
        let script = Script([.ok(), .result(), .result()])
        try await withTestPool(script) { pool, _, _ in
            var query = ScriptedQuery("Q")
            query.onEncode = { _ in throw Oops() }
            await #expect(throws: Oops.self) { try await pool.prepareExecute(query, ["1"]) }
            #expect(script.record.map(\.name) == ["connect", "prepare", "close"])
        }
    }

    @Test func anEncodeErrorThatIsNotAnEncodeErrorNeverChecksOut() async throws {
        // Scenario 63's parse/encode raising before checkout: the driver is untouched.
        let script = Script([.ok()])
        try await withTestPool(script) { pool, _, events in
            _ = await events.next()
            var query = ScriptedQuery("Q")
            query.onParse = { _ in throw Oops() }
            await #expect(throws: Oops.self) { try await pool.prepare(query) }
            #expect(script.record.map(\.name) == ["connect"])
        }
    }

    @Test func anExecuteDisconnectReturnsTheErrorAndReconnects() async throws {
        // Scenario 74.
        let script = Script([.ok(state: "s0"), .disconnect(Oops(), state: "s1"), .ok(), .ok(state: "s2")])
        try await withTestPool(script) { pool, _, events in
            _ = await events.next()
            await #expect(throws: Oops.self) { try await pool.execute("Q", ["p"]) }
            #expect(await events.next() == .disconnected(ConnectionID(poolIndex: 1), tag: nil))
            #expect(await events.next() == .connected(ConnectionID(poolIndex: 1), tag: nil))
            #expect(
                script.record == [
                    .connect(poolIndex: 1, label: ""), .execute(query: "Q", params: ["p"], state: "s0"),
                    .disconnect(error: "oops", state: "s1"), .connect(poolIndex: 1, label: ""),
                ]
            )
        }
    }

    @Test func disconnectAndRetrySucceedsOnAFreshConnection() async throws {
        // Scenario 75.
        let script = Script([.ok(state: "s0"), .disconnectAndRetry(Oops()), .ok(), .ok(state: "s1"), .result("R")])
        try await withTestPool(script) { pool, _, _ in
            let result = try await pool.execute("Q", [])
            #expect(result == "R")
            #expect(script.record.map(\.name) == ["connect", "execute", "disconnect", "connect", "execute"])
            #expect(script.record.last == .execute(query: "Q", params: [], state: "s1"))
        }
    }

    @Test func prepareAndCloseAreLoggedWithoutParamsOrDecodeTime() async throws {
        // Scenarios 59 and 95.
        let script = Script([.ok(), .result(), .result()])
        let entries = Mutex<[LogEntry]>([])
        let options = CallOptions(log: { entry in entries.withLock { $0.append(entry) } })
        try await withTestPool(script) { pool, _, _ in
            _ = try await pool.prepare("Q", options: options)
            _ = try await pool.close("Q", options: options)
        }
        let logged = entries.withLock { $0 }
        #expect(logged.map(\.call) == [.prepare, .close])
        #expect(logged.allSatisfy { $0.params == nil && $0.poolTime != nil && $0.connectionTime != nil })
        #expect(logged.first?.query == "Q")
    }

    @Test func anErrorFromCloseIsThrownAndLogged() async throws {
        // Scenarios 97 and 99.
        let script = Script([.ok(), .error(Oops())])
        let entries = Mutex<[LogEntry]>([])
        try await withTestPool(script) { pool, _, _ in
            await #expect(throws: Oops.self) {
                try await pool.close("Q", options: CallOptions(log: { entry in entries.withLock { $0.append(entry) } }))
            }
        }
        guard case .failure(let error)? = entries.withLock({ $0 }).first?.result else {
            Issue.record("expected a failed entry")
            return
        }
        #expect(error is Oops)
    }
}
