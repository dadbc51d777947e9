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
        let worker = WorkerTally()
        worker.recordSuccess(latency: .microseconds(120), queueWait: .microseconds(20), isWrite: true)
        worker.recordFailure(SQLiteError(code: .busy, message: "first"), queueWait: nil)
        worker.recordFailure(SQLiteError(code: .busy, message: "second"), queueWait: nil)
        let other = WorkerTally()
        other.recordFailure(ConnectionError(.queueTimeout, message: "dropped"), queueWait: .milliseconds(100))
        var tally = Tally()
        worker.drain(into: &tally)
        other.drain(into: &tally)
        #expect(tally.committed == 1)
        #expect(tally.committedWrites == 1)
        #expect(tally.failed == 3)
        #expect(tally.errors(of: .database) == 2)
        #expect(tally.errors(of: .queueTimeout) == 1)
        #expect(tally.examples[.database]?.contains("first") == true)
        #expect(Percentiles(tally.queueWait).count == 2)
        #expect(Percentiles(tally.latency).max == 120)
    }

    @Test func aDrainedWorkerStartsAfresh() {
        let worker = WorkerTally()
        worker.recordSuccess(latency: .microseconds(300), queueWait: .microseconds(5), isWrite: false)
        worker.recordFailure(CLIError("odd"), queueWait: nil)
        var first = Tally()
        worker.drain(into: &first)
        worker.recordSuccess(latency: .microseconds(40), queueWait: nil, isWrite: true)
        var second = Tally()
        worker.drain(into: &second)
        #expect(first.committed == 1 && first.committedWrites == 0 && first.failed == 1)
        #expect(second.committed == 1 && second.committedWrites == 1 && second.failed == 0)
        #expect(second.examples.isEmpty)
        #expect(Percentiles(second.latency).max == 40)
        #expect(Percentiles(second.queueWait).count == 0)
        var nothing = Tally()
        worker.drain(into: &nothing)
        #expect(nothing.committed == 0 && nothing.failed == 0)
    }

    @Test func percentilesNeverExceedTheLargestValue() {
        let worker = WorkerTally()
        for value in [10, 20, 30, 40, 123_457] as [Int64] {
            worker.recordSuccess(latency: .microseconds(value), queueWait: nil, isWrite: false)
        }
        var tally = Tally()
        worker.drain(into: &tally)
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
