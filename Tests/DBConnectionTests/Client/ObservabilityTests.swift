import DBConnection
import DBConnectionTesting
import InMemoryLogging
import InMemoryTracing
import Instrumentation
import Logging
import Testing
import Tracing

/// The process-wide tracer of the test run: bootstrapped once, on first use.
let testTracer: InMemoryTracer = {
    let tracer = InMemoryTracer()
    InstrumentationSystem.bootstrap(tracer)
    return tracer
}()

@Suite(.timeLimit(.minutes(1))) struct ObservabilityTests {
    @Test func everyCallIsASpanWithTheDatabaseAttributes() async throws {
        let tracer = testTracer
        let script = Script([.ok(), .result(), .error(Oops())])
        try await withTestPool(script) { pool, _, _ in
            _ = try await pool.execute("SELECT 'traced-ok'", [])
            _ = try? await pool.execute("SELECT 'traced-fail'", [])
        }
        func text(_ span: FinishedInMemorySpan, _ key: String) -> String? {
            if case .string(let value)? = span.attributes[key]?.toSpanAttribute() { return value }
            return nil
        }
        let spans = tracer.finishedSpans.filter { text($0, "db.statement")?.contains("traced-") == true }
        #expect(spans.count == 2)
        let ok = try #require(spans.first { text($0, "db.statement") == "SELECT 'traced-ok'" })
        #expect(ok.operationName == "execute")
        #expect(ok.kind == SpanKind.client)
        #expect(text(ok, "db.system") == "other_sql")
        #expect(text(ok, "db.operation") == "execute")
        #expect(ok.errors.isEmpty)
        let failed = try #require(spans.first { text($0, "db.statement") == "SELECT 'traced-fail'" })
        #expect(failed.errors.count == 1)
    }

    @Test func callsAreLoggedAtDebugWithParamsRedacted() async throws {
        let handler = InMemoryLogHandler()
        var logger = Logger(label: "test", factory: { _ in handler })
        logger.logLevel = .debug
        let script = Script([.ok(), .result()])
        try await withTestPool(script, configure: { $0.logger = logger }) { pool, _, _ in
            _ = try await pool.execute("SELECT 'logged'", ["hunter2"])
        }
        let lines = handler.entries.filter { $0.message.description.contains("SELECT 'logged'") }
        #expect(lines.count == 1)
        #expect(lines.first?.level == .debug)
        #expect(handler.entries.allSatisfy { !$0.message.description.contains("hunter2") })
    }

    @Test func aFailedConnectIsLoggedAtErrorWithoutCredentials() async throws {
        struct WrongPassword: Error, CustomStringConvertible {
            var description: String { "password authentication failed for user \"app\"" }
        }
        let handler = InMemoryLogHandler()
        let logger = Logger(label: "test", factory: { _ in handler })
        let script = Script([.error(WrongPassword()), .ok()])
        try await withTestPool(script, configure: { $0.logger = logger }) { _, clock, events in
            await clock.waitForSleepers(3)
            clock.advance(by: .milliseconds(200))
            _ = await events.next()
        }
        let errors = handler.entries.filter { $0.level == .error }
        #expect(errors.count == 1)
        #expect(errors.first?.message.description == "failed to connect: password authentication failed for user \"app\"")
    }
}
