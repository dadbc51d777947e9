import DBConnection
import DBConnectionTesting
import Testing

/// The end of a lease: the driver's `checkin` callback runs unless the driver says there is nothing to
/// check (`needsCheckin`). A connection in doubt never goes back either way:
/// `ConnectionPoolTests.aTaskCancelledDuringADriverCallHasItsConnectionClosedNotReused`.
@Suite(.timeLimit(.minutes(1))) struct CheckinTests {
    private func status(_ pool: Pool) async throws -> TransactionStatus {
        try await pool.withConnection { try await $0.withDriverCall { try await $0.status(callOptions: .init()) } }
    }

    @Test func aLeaseTheDriverKnowsCleanEndsWithoutTheCheckinCall() async throws {
        let script = Script([.ok(state: "s0"), .status(.idle), .status(.idle)])
        script.checkinNeeded = false
        try await withTestPool(script) { pool, _, events in
            _ = await events.next()
            let first = try await status(pool)
            let second = try await status(pool)
            #expect([first, second] == [.idle, .idle])
            #expect(script.checkins == 0)
            // The same connection served both leases and is idle again.
            #expect(script.record.map(\.name) == ["connect", "status", "status"])
            #expect(pool.metrics().idleConnections == 1)
        }
    }

    @Test func aLeaseThatNeedsCheckinGetsItAndAFailingOneClosesTheConnection() async throws {
        let script = Script([.ok(state: "s0"), .status(.idle), .status(.idle), .ok(), .ok(state: "s1")])
        try await withTestPool(script) { pool, _, events in
            _ = await events.next()
            _ = try await status(pool)
            #expect(script.checkins == 1)
            #expect(pool.metrics().idleConnections == 1)

            script.checkinError = DisconnectError(Oops())
            _ = try await status(pool)
            #expect(script.checkins == 2)
            #expect(await events.next() == .disconnected(ConnectionID(poolIndex: 1), tag: nil))
            #expect(await events.next() == .connected(ConnectionID(poolIndex: 1), tag: nil))
        }
    }
}
