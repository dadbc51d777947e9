/// How a connection slot waits before it tries to connect again. db_connection's `backoff_type`.
public enum BackoffType: Sendable, Hashable {
    /// Do not reconnect: a failed connect or a disconnect ends the connection slot, and the error is logged.
    case stop
    /// `min`, `2·min`, `4·min`, ... capped at `max`.
    case exp
    /// Uniformly random in `[min, max]`.
    case rand
    /// Random and growing: each delay is uniform in `[min(prev, lower), min(3·prev, max)]` with
    /// `lower = max(min, max / 3)`. The default.
    case randExp
}

/// The delays between connect attempts: db_connection's `backoff.ex`, as a pure value.
///
/// Delays are computed in whole milliseconds, as db_connection does.
struct Backoff: Sendable, Hashable {
    let type: BackoffType
    let min: Int64
    let max: Int64
    private var previous: Int64?
    private let lower: Int64

    init(type: BackoffType, min: Duration, max: Duration) {
        self.type = type
        self.min = min.milliseconds
        self.max = max.milliseconds
        self.lower = Swift.max(self.min, self.max / 3)
        self.previous = type == .randExp ? self.min : nil
    }

    /// The next delay, or `nil` for ``BackoffType/stop``.
    mutating func next(using random: inout some RandomNumberGenerator) -> Duration? {
        switch type {
        case .stop:
            return nil
        case .rand:
            return .milliseconds(Int64.random(in: min...max, using: &random))
        case .exp:
            let next = previous.map { Swift.min($0 << 1, max) } ?? min
            previous = next
            return .milliseconds(next)
        case .randExp:
            let prev = previous ?? min
            let low = Swift.min(prev, lower)
            let high = Swift.min(prev * 3, max)
            let next = Int64.random(in: low...Swift.max(low, high), using: &random)
            previous = next
            return .milliseconds(next)
        }
    }

    /// Starts over after a successful connect.
    mutating func reset() {
        switch type {
        case .stop, .rand: break
        case .exp: previous = nil
        case .randExp: previous = min
        }
    }
}

/// A small, fast, seedable generator (SplitMix64), so the pool's random choices are reproducible in tests.
struct SplitMix64: RandomNumberGenerator, Sendable, Hashable {
    private var state: UInt64

    init(seed: UInt64) { self.state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
