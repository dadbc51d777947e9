// What pgclient-load and pg-wire-floor share: the account-id generator, the clock, and the one JSON line
// scripts/bench-postgres.sh reads.

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// xorshift64*: a cheap per-client generator for the account ids (no system call per statement).
public struct XorShift: RandomNumberGenerator {
    public var state: UInt64

    public init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }

    public mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }
}

/// CLOCK_MONOTONIC in nanoseconds.
@inline(__always)
public func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}

/// Prints `{"tps": …, "p50_us": …, "p99_us": …, "queries": …}` for statements that took `latencies`
/// nanoseconds each, over `elapsed` nanoseconds.
public func printLoadReport(latencies: [UInt64], elapsed: UInt64) {
    let sorted = latencies.sorted()
    func percentile(_ q: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((Double(sorted.count) * q).rounded(.up)) - 1
        return Double(sorted[max(0, min(sorted.count - 1, rank))]) / 1_000
    }
    print(
        String(
            format: "{\"tps\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, \"queries\": %d}",
            Double(sorted.count) / (Double(elapsed) / 1e9),
            percentile(0.50),
            percentile(0.99),
            sorted.count
        )
    )
}
