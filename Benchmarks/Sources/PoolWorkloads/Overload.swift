/// What an overload run saw.
public struct OverloadResult: Sendable {
    /// Requests that got a connection.
    public var served: Int
    /// Requests that failed, by kind of error.
    public var dropped: [String: Int]
    /// Seconds from the start to the first failure, if any: when shedding started.
    public var sheddingStartedAfter: Double?
    /// Queue waits of every served request.
    public var waitAll: Percentiles
    /// Queue waits of the served requests made after shedding started (`nil` if it never did).
    public var waitAfterShedding: Percentiles?
    /// Queue waits of the served requests made after the first second.
    public var waitSteady: Percentiles
    /// Wall clock of the run, in seconds (the callers finish the request they are in when time is up).
    public var seconds: Double

    public var droppedTotal: Int { dropped.values.reduce(0, +) }
}

/// One request of an overload run.
struct OverloadRecord: Sendable {
    var requestedAt: UInt64
    var wait: UInt64
    var failure: String?
}

/// `callers` tasks loop for `duration`: lease, hold the connection for `hold` (a sleep), release.
/// A failed lease is counted and the caller asks again at once.
func runOverload<P: BenchPool>(_ pool: P, callers: Int, duration: Duration, hold: Duration) async -> OverloadResult {
    let start = monotonicNanoseconds()
    let durationNanos = UInt64(duration.components.seconds) * 1_000_000_000
        + UInt64(duration.components.attoseconds / 1_000_000_000)
    let end = start + durationNanos
    let records = await withTaskGroup(of: [OverloadRecord].self) { group in
        for _ in 0..<callers {
            group.addTask {
                var records: [OverloadRecord] = []
                records.reserveCapacity(4096)
                while monotonicNanoseconds() < end {
                    let requestedAt = monotonicNanoseconds()
                    do {
                        let lease = try await pool.lease()
                        records.append(OverloadRecord(requestedAt: requestedAt, wait: monotonicNanoseconds() - requestedAt))
                        try? await Task.sleep(for: hold)
                        pool.release(lease)
                    } catch {
                        records.append(
                            OverloadRecord(
                                requestedAt: requestedAt,
                                wait: monotonicNanoseconds() - requestedAt,
                                failure: pool.classify(error)
                            )
                        )
                    }
                }
                return records
            }
        }
        var all: [OverloadRecord] = []
        for await part in group { all.append(contentsOf: part) }
        return all
    }
    let seconds = Double(monotonicNanoseconds() - start) / 1e9
    var dropped: [String: Int] = [:]
    var firstFailure: UInt64?
    for record in records {
        guard let failure = record.failure else { continue }
        dropped[failure, default: 0] += 1
        let failedAt = record.requestedAt + record.wait
        firstFailure = min(firstFailure ?? failedAt, failedAt)
    }
    let served = records.filter { $0.failure == nil }
    let steadyFrom = start + 1_000_000_000
    return OverloadResult(
        served: served.count,
        dropped: dropped,
        sheddingStartedAfter: firstFailure.map { Double($0 - start) / 1e9 },
        waitAll: Percentiles(sorted: served.map(\.wait).sorted()),
        waitAfterShedding: firstFailure.map { shedding in
            Percentiles(sorted: served.filter { $0.requestedAt >= shedding }.map(\.wait).sorted())
        },
        waitSteady: Percentiles(sorted: served.filter { $0.requestedAt >= steadyFrom }.map(\.wait).sorted()),
        seconds: seconds
    )
}
