import DBConnection
import DBConnectionPostgres
import DBConnectionSQLite
import Histogram
import Synchronization

/// The kinds of failed transactions the report counts.
enum ErrorKind: String, CaseIterable, Sendable {
    /// The pool's queue dropped the request (CoDel: ``ConnectionError/Reason/queueTimeout``).
    case queueTimeout = "queue_timeout"
    /// The call's `--timeout` passed, in the queue or while it held the connection.
    case deadline
    /// The database refused (``SQLiteError``, including `SQLITE_BUSY`; ``PGError``, including
    /// serialization failures and deadlocks).
    case database
    /// Anything else.
    case other

    /// Sorts an error into its kind.
    ///
    /// When a call overruns its time budget, the pool takes the connection back and interrupts the
    /// running statement, so the caller sees `SQLITE_INTERRUPT` (SQLite) or `query_canceled`, SQLSTATE
    /// `57014` (PostgreSQL), or a `closed` lease at its next call; the bench never cancels or
    /// interrupts anything else, so all three count as `deadline`.
    init(classifying error: any Error) {
        switch error {
        case let error as ConnectionError:
            switch error.reason {
            case .queueTimeout: self = .queueTimeout
            case .deadline, .closed: self = .deadline
            default: self = (error.underlying.map(ErrorKind.init(classifying:))) ?? .other
            }
        case let error as SQLiteError:
            self = error.code == .interrupt ? .deadline : .database
        case let error as PGError:
            self = error.isQueryCanceled ? .deadline : .database
        case let error as DisconnectError:
            self = ErrorKind(classifying: error.underlying)
        default:
            self = .other
        }
    }
}

/// Histograms and counts over a stretch of the run: what workers record and the reporter drains.
struct Tally: Sendable {
    /// Latency of committed transactions, in microseconds, from asking the pool for a connection to
    /// the end of the transaction.
    var latency = Tally.microseconds()
    /// Time from asking the pool for a connection to getting one, in microseconds.
    var queueWait = Tally.microseconds()

    /// A histogram of microseconds that covers a minute from the start (and grows beyond): one that
    /// starts small resizes again and again while a worker records, which cost the bench 3-4 % of
    /// its CPU at 32 clients (perf), every time the reporter took a fresh tally.
    static func microseconds() -> Histogram<UInt64> {
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        histogram.autoResize = true
        return histogram
    }
    /// Committed transactions (reads and writes).
    var committed = 0
    /// Committed write transactions.
    var committedWrites = 0
    /// Failed transactions by kind, indexed like `ErrorKind.allCases`.
    var errors = [Int](repeating: 0, count: ErrorKind.allCases.count)
    /// The first error message of each kind, for the summary.
    var examples: [ErrorKind: String] = [:]

    var failed: Int { errors.reduce(0, +) }

    func errors(of kind: ErrorKind) -> Int {
        errors[ErrorKind.allCases.firstIndex(of: kind)!]
    }

    mutating func add(_ other: Tally) {
        latency.add(other.latency)
        queueWait.add(other.queueWait)
        committed += other.committed
        committedWrites += other.committedWrites
        for index in errors.indices { errors[index] += other.errors[index] }
        examples.merge(other.examples) { mine, _ in mine }
    }
}

/// What one worker recorded since the reporter last drained it, behind a lock of its own, so workers
/// never contend with each other; the reporter drains it once a second.
///
/// A worker appends raw values; the reporter takes them and folds them into its histograms.
/// Per-worker histograms (two of some 140 KB each, made afresh every second) cost the bench 2 % of its
/// CPU at 64 workers in making them, and a cache miss or two per transaction in recording into them
/// (perf).
final class WorkerTally: Sendable {
    private struct Pending {
        /// Committed transactions' latencies, in microseconds.
        var latencies: [UInt64] = []
        /// Queue waits of committed and failed transactions, in microseconds.
        var queueWaits: [UInt64] = []
        var committedWrites = 0
        /// Failures, counted and kept as a ``Tally`` holds them (its histograms stay empty).
        var errors = [Int](repeating: 0, count: ErrorKind.allCases.count)
        var examples: [ErrorKind: String] = [:]
    }

    private let pending = Mutex(Pending())

    /// Records a committed transaction.
    func recordSuccess(latency: Duration, queueWait: Duration?, isWrite: Bool) {
        pending.withLock { pending in
            pending.latencies.append(latency.microseconds)
            if let queueWait { pending.queueWaits.append(queueWait.microseconds) }
            if isWrite { pending.committedWrites += 1 }
        }
    }

    /// Records a failed transaction.
    func recordFailure(_ error: any Error, queueWait: Duration?) {
        let kind = ErrorKind(classifying: error)
        pending.withLock { pending in
            if let queueWait { pending.queueWaits.append(queueWait.microseconds) }
            pending.errors[ErrorKind.allCases.firstIndex(of: kind)!] += 1
            if pending.examples[kind] == nil { pending.examples[kind] = "\(error)" }
        }
    }

    /// Adds what was recorded since the last drain to `tally`, and forgets it. The lock is held only
    /// to take the values out, so the worker never waits for the folding.
    func drain(into tally: inout Tally) {
        var taken = Pending()
        pending.withLock { swap(&$0, &taken) }
        for latency in taken.latencies { tally.latency.record(latency) }
        for wait in taken.queueWaits { tally.queueWait.record(wait) }
        tally.committed += taken.latencies.count
        tally.committedWrites += taken.committedWrites
        for index in taken.errors.indices { tally.errors[index] += taken.errors[index] }
        tally.examples.merge(taken.examples) { kept, _ in kept }
    }
}

/// Percentiles of a histogram of microseconds.
struct Percentiles: Sendable, Equatable {
    var count: UInt64
    var min: UInt64
    var p50: UInt64
    var p90: UInt64
    var p99: UInt64
    var p999: UInt64
    var max: UInt64
    var mean: Double

    /// Reads the percentiles; each is clamped to the largest recorded value, so they never exceed
    /// `max` (HdrHistogram reports the top of a value's bucket).
    init(_ histogram: Histogram<UInt64>) {
        let count = histogram.totalCount
        guard count > 0 else {
            self.init(count: 0, min: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0)
            return
        }
        let max = histogram.maxRecorded
        func at(_ percentile: Double) -> UInt64 { Swift.min(histogram.valueAtPercentile(percentile), max) }
        self.init(
            count: count,
            min: Swift.min(histogram.min, max),
            p50: at(50),
            p90: at(90),
            p99: at(99),
            p999: at(99.9),
            max: max,
            mean: histogram.mean
        )
    }

    init(count: UInt64, min: UInt64, p50: UInt64, p90: UInt64, p99: UInt64, p999: UInt64, max: UInt64, mean: Double) {
        self.count = count
        self.min = min
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.p999 = p999
        self.max = max
        self.mean = mean
    }
}

extension Duration {
    /// Whole microseconds, rounded down; 0 for negative durations.
    var microseconds: UInt64 {
        let (seconds, attoseconds) = components
        let value = seconds * 1_000_000 + attoseconds / 1_000_000_000_000
        return value < 0 ? 0 : UInt64(value)
    }

    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
