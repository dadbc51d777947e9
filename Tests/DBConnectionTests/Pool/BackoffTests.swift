import Testing

@testable import DBConnection

@Suite struct BackoffTests {
    var random = SplitMix64(seed: 7)

    @Test mutating func expDelaysDoubleFromMinimumUpToMaximum() {
        var backoff = Backoff(type: .exp, min: .seconds(1), max: .seconds(30))
        let delays = (0..<8).map { _ in backoff.next(using: &random)! }
        #expect(delays == [1, 2, 4, 8, 16, 30, 30, 30].map { Duration.seconds($0) })
    }

    @Test mutating func expResetStartsAgainAtMinimum() {
        var backoff = Backoff(type: .exp, min: .seconds(1), max: .seconds(30))
        _ = backoff.next(using: &random)
        _ = backoff.next(using: &random)
        backoff.reset()
        #expect(backoff.next(using: &random) == .seconds(1))
    }

    @Test mutating func randDelaysStayInRangeAndVary() {
        var backoff = Backoff(type: .rand, min: .seconds(1), max: .seconds(30))
        let delays = (0..<20).map { _ in backoff.next(using: &random)! }
        #expect(delays.allSatisfy { $0 >= .seconds(1) && $0 <= .seconds(30) })
        #expect(Set(delays).count > 1)
    }

    @Test mutating func randExpDelaysStayInRangeAndStartBelowThreeTimesMinimum() {
        var backoff = Backoff(type: .randExp, min: .seconds(1), max: .seconds(30))
        let first = backoff.next(using: &random)!
        #expect(first >= .seconds(1) && first <= .seconds(3))
        let rest = (0..<19).map { _ in backoff.next(using: &random)! }
        #expect(rest.allSatisfy { $0 >= .seconds(1) && $0 <= .seconds(30) })
        backoff.reset()
        let afterReset = backoff.next(using: &random)!
        #expect(afterReset >= .seconds(1) && afterReset <= .seconds(3))
    }

    @Test mutating func stopHasNoDelay() {
        var backoff = Backoff(type: .stop, min: .seconds(1), max: .seconds(30))
        #expect(backoff.next(using: &random) == nil)
    }
}
