import DBConnection
import DBConnectionSQLite
import Testing

@testable import dbconn

@Suite struct TallyTests {
    @Test func errorsAreSortedByKind() {
        #expect(ErrorKind(classifying: ConnectionError(.queueTimeout, message: "dropped")) == .queueTimeout)
        #expect(ErrorKind(classifying: ConnectionError(.deadline, message: "late")) == .deadline)
        #expect(ErrorKind(classifying: ConnectionError(.closed, message: "taken back")) == .deadline)
        #expect(ErrorKind(classifying: SQLiteError(code: .busy, message: "database is locked")) == .database)
        #expect(ErrorKind(classifying: SQLiteError(code: .interrupt, message: "interrupted")) == .deadline)
        #expect(ErrorKind(classifying: DisconnectError(SQLiteError(code: .ioError, message: "disk"))) == .database)
        #expect(ErrorKind(classifying: CLIError("odd")) == .other)
    }

    @Test func tallyCountsFailuresAndKeepsTheFirstExampleOfEachKind() {
        var tally = Tally()
        tally.recordSuccess(latency: .microseconds(120), queueWait: .microseconds(20), isWrite: true)
        tally.recordFailure(SQLiteError(code: .busy, message: "first"), queueWait: nil)
        tally.recordFailure(SQLiteError(code: .busy, message: "second"), queueWait: nil)
        var other = Tally()
        other.recordFailure(ConnectionError(.queueTimeout, message: "dropped"), queueWait: .milliseconds(100))
        tally.add(other)
        #expect(tally.committed == 1)
        #expect(tally.committedWrites == 1)
        #expect(tally.failed == 3)
        #expect(tally.errors(of: .database) == 2)
        #expect(tally.errors(of: .queueTimeout) == 1)
        #expect(tally.examples[.database]?.contains("first") == true)
        #expect(Percentiles(tally.queueWait).count == 2)
    }

    @Test func percentilesNeverExceedTheLargestValue() {
        var tally = Tally()
        for value in [10, 20, 30, 40, 123_457] as [Int64] {
            tally.recordSuccess(latency: .microseconds(value), queueWait: nil, isWrite: false)
        }
        let percentiles = Percentiles(tally.latency)
        let values = [
            percentiles.min, percentiles.p50, percentiles.p90, percentiles.p99, percentiles.p999, percentiles.max,
        ]
        #expect(values == values.sorted())
        #expect(percentiles.max == 123_457)
        #expect(percentiles.count == 5)
        #expect(Percentiles(Tally().latency).max == 0)
    }
}
