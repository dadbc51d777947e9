/// Percentiles of a sorted sample, nearest-rank.
public struct Percentiles: Sendable, Hashable {
    public var count: Int
    public var p50: UInt64
    public var p99: UInt64
    public var p999: UInt64
    public var max: UInt64

    /// - Parameter sorted: values in ascending order.
    public init(sorted: [UInt64]) {
        count = sorted.count
        func at(_ quantile: Double) -> UInt64 {
            guard !sorted.isEmpty else { return 0 }
            let rank = Int((Double(sorted.count) * quantile).rounded(.up)) - 1
            return sorted[Swift.max(0, Swift.min(sorted.count - 1, rank))]
        }
        p50 = at(0.50)
        p99 = at(0.99)
        p999 = at(0.999)
        max = sorted.last ?? 0
    }
}
