import DBConnection
import DBConnectionTesting
import Testing

/// The closure-taking calls (`withConnection`, `transaction`, and their forms on a held connection) are
/// `nonisolated(nonsending)`: their closures run in the caller's isolation, so an actor reads and writes
/// its own state inside them without `await`. That this file compiles is half the test (the closures
/// touch `leases` synchronously); `assertIsolated()` checks the other half while they run.
@Suite(.timeLimit(.minutes(1))) struct IsolationTests {
    /// A caller with state of its own.
    actor Caller {
        var leases = 0

        func useThePool(_ pool: Pool) async throws -> Int {
            try await pool.withConnection { connection in
                self.assertIsolated()
                leases += 1
                try await connection.withConnection { _ in
                    self.assertIsolated()
                    leases += 1
                }
                _ = try await connection.execute("Q", ["1"])
                self.assertIsolated()
                leases += 1
            }
            try await pool.transaction { connection in
                self.assertIsolated()
                leases += 1
                try await connection.transaction { _ in
                    self.assertIsolated()
                    leases += 1
                }
            }
            return leases
        }
    }

    @Test func theClosuresRunInTheCallersIsolation() async throws {
        // connect; execute; begin, (the nested level is a savepoint-free mark), commit.
        let script = Script([.ok(), .result("R"), .result("began"), .result("committed")])
        try await withTestPool(script) { pool, _, _ in
            let leases = try await Caller().useThePool(pool)
            #expect(leases == 5)
            #expect(script.record.map(\.name) == ["connect", "execute", "begin", "commit"])
        }
    }

    @MainActor @Test func onTheMainActorToo() async throws {
        let script = Script([.ok(), .result("R")])
        try await withTestPool(script) { pool, _, _ in
            var seen = 0
            try await pool.withConnection { connection in
                MainActor.assertIsolated()
                _ = try await connection.execute("Q", ["1"])
                MainActor.assertIsolated()
                seen += 1
            }
            #expect(seen == 1)
        }
    }

    /// The protocol's form (a pool known only as a ``DatabasePool``) and the pool's own behave alike:
    /// the closure runs in the caller's isolation and the lease ends with it.
    @MainActor @Test func throughTheProtocolToo() async throws {
        func lease(from pool: some DatabasePool<ScriptedConnection>) async throws -> Int {
            try await pool.withConnection { connection in
                MainActor.assertIsolated()
                _ = try await connection.execute("Q", ["1"])
                MainActor.assertIsolated()
                return 1
            }
        }
        let script = Script([.ok(), .result("R")])
        try await withTestPool(script) { pool, _, _ in
            let leased = try await lease(from: pool)
            #expect(leased == 1)
            #expect(pool.metrics().idleConnections == 1)
            #expect(script.record.map(\.name) == ["connect", "execute"])
        }
    }
}
