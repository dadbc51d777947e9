import DBConnection
import DBConnectionPostgres
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
        #expect(ExecutorChoice.choice(arguments: ["bench", "postgres://u@h/db", "--executor", "nio-global"]) == .nioGlobal)
    }

    @Test func onlyNIOGivesBenchWorkersTheEventLoopsAsTaskExecutors() {
        let loops = Set(PGConnection.eventLoopExecutors.map { ExecutorAffinity($0.eventLoop) })
        let postgres = "postgres://u@h/db"
        #expect(Set(ExecutorChoice.workerExecutors(requested: .nio, url: postgres).keys) == loops)
        #expect(Set(ExecutorChoice.workerExecutors(requested: .auto, url: postgres).keys) == loops)
        #expect(Set(ExecutorChoice.workerExecutors(requested: .nio, url: "sqlite:a.db").keys) == loops)
        #expect(ExecutorChoice.workerExecutors(requested: .auto, url: "sqlite:a.db").isEmpty)
        #expect(ExecutorChoice.workerExecutors(requested: .nioGlobal, url: postgres).isEmpty)
        #expect(ExecutorChoice.workerExecutors(requested: .default, url: postgres).isEmpty)
        // Each executor is filed under the affinity of its own loop.
        for (affinity, executor) in ExecutorChoice.workerExecutors(requested: .nio, url: postgres) {
            #expect(ExecutorAffinity((executor as! EventLoopTaskExecutor).eventLoop) == affinity)
        }
    }

    @Test func anUnknownExecutorFallsBackToDefaultAndArgumentsAfterTheSeparatorDontCount() {
        #expect(ExecutorChoice.choice(arguments: ["bench", "postgres://u@h/db", "--executor", "fast"]) == .default)
        #expect(ExecutorChoice.choice(arguments: ["sql", "sqlite:a.db", "--", "--executor=nio"]) == .default)
    }
}
