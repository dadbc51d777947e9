import Testing

@testable import dbconn

@Suite struct ExecutorChoiceTests {
    @Test func autoIsNIOForPostgresURLsAndDefaultOtherwise() {
        #expect(ExecutorChoice.choice(arguments: ["bench", "postgres://u@h/db", "--workload", "select"]) == .nio)
        #expect(ExecutorChoice.choice(arguments: ["sql", "postgresql://u@h/db", "SELECT 1"]) == .nio)
        #expect(ExecutorChoice.choice(arguments: ["bench", "sqlite:/tmp/a.db"]) == .default)
        #expect(ExecutorChoice.choice(arguments: ["bench"]) == .default)
    }

    @Test func anExplicitExecutorWinsInBothSpellings() {
        #expect(ExecutorChoice.choice(arguments: ["bench", "postgres://u@h/db", "--executor", "default"]) == .default)
        #expect(ExecutorChoice.choice(arguments: ["bench", "sqlite:a.db", "--executor=nio"]) == .nio)
        #expect(ExecutorChoice.choice(arguments: ["bench", "postgres://u@h/db", "--executor", "auto"]) == .nio)
    }

    @Test func anUnknownExecutorFallsBackToDefaultAndArgumentsAfterTheSeparatorDontCount() {
        #expect(ExecutorChoice.choice(arguments: ["bench", "postgres://u@h/db", "--executor", "fast"]) == .default)
        #expect(ExecutorChoice.choice(arguments: ["sql", "sqlite:a.db", "--", "--executor=nio"]) == .default)
    }
}
