import Testing

@testable import dbconn

@Suite struct ExecutorChoiceTests {
    @Test func autoRunsWorkersOnTheirConnections() {
        #expect(ExecutorChoice.choice(arguments: ["bench", "postgres://u@h/db", "--workload", "select"]) == .connection)
        #expect(ExecutorChoice.choice(arguments: ["bench", "sqlite:/tmp/a.db"]) == .connection)
        #expect(ExecutorChoice.choice(arguments: ["bench"]) == .connection)
        #expect(ExecutorChoice.auto.runsWorkersOnConnections)
        #expect(ExecutorChoice.connection.runsWorkersOnConnections)
        #expect(!ExecutorChoice.nioGlobal.runsWorkersOnConnections)
        #expect(!ExecutorChoice.default.runsWorkersOnConnections)
    }

    @Test func anExplicitExecutorWinsInBothSpellings() {
        #expect(ExecutorChoice.choice(arguments: ["bench", "postgres://u@h/db", "--executor", "default"]) == .default)
        #expect(ExecutorChoice.choice(arguments: ["bench", "sqlite:a.db", "--executor=nio-global"]) == .nioGlobal)
        #expect(ExecutorChoice.choice(arguments: ["bench", "postgres://u@h/db", "--executor", "auto"]) == .connection)
        #expect(ExecutorChoice.choice(arguments: ["bench", "postgres://u@h/db", "--executor", "connection"]) == .connection)
    }

    @Test func anUnknownExecutorFallsBackToDefaultAndArgumentsAfterTheSeparatorDontCount() {
        #expect(ExecutorChoice.choice(arguments: ["bench", "postgres://u@h/db", "--executor", "fast"]) == .default)
        #expect(ExecutorChoice.choice(arguments: ["sql", "sqlite:a.db", "--", "--executor=nio-global"]) == .connection)
    }

    @Test func connectionAndDefaultInstallNothing() {
        // Installing would take over the test process's global executor: only the refusal is tested.
        #expect(!ExecutorChoice.install(.connection))
        #expect(!ExecutorChoice.install(.default))
    }
}
