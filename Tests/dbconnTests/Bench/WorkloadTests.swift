import Testing

@testable import dbconn

@Suite struct WorkloadTests {
    @Test func scaleSizesTheTablesAsPgbench() {
        #expect(BenchScale(scale: 1) == BenchScale(scale: 1))
        let one = BenchScale(scale: 1)
        #expect([one.branches, one.tellers, one.accounts] == [1, 10, 100_000])
        let small = BenchScale(scale: 0.01)
        #expect([small.branches, small.tellers, small.accounts] == [1, 1, 1000])
        let big = BenchScale(scale: 3)
        #expect([big.branches, big.tellers, big.accounts] == [3, 30, 300_000])
    }

    @Test func transfersMoveMoneyBetweenTwoDifferentAccounts() {
        var rng = Xoshiro256(seed: 9)
        let scale = BenchScale(scale: 0.00002)  // 2 accounts
        for _ in 0..<100 {
            guard
                case .transfer(let from, let to, let delta, let teller, let branch) =
                    BenchTransaction.draw(.write, readPercent: 0, scale: scale, using: &rng)
            else {
                Issue.record("a write workload drew a read")
                return
            }
            #expect(from != to)
            #expect((1...2).contains(from) && (1...2).contains(to))
            #expect((-5000...5000).contains(delta))
            #expect(teller == 1 && branch == 1)
        }
    }

    @Test func theMixedWorkloadReadsAsOftenAsAsked() {
        var rng = Xoshiro256(seed: 3)
        let scale = BenchScale(scale: 0.01)
        let reads = (0..<10_000).count { _ in
            !BenchTransaction.draw(.mixed, readPercent: 80, scale: scale, using: &rng).isWrite
        }
        #expect((7_700...8_300).contains(reads))
    }

    @Test func theSelectWorkloadDrawsPgbenchKeysUniformlyOverEveryAccount() {
        var rng = Xoshiro256(seed: 5)
        let scale = BenchScale(scale: 0.001)  // 100 accounts
        var seen = Set<Int>()
        for _ in 0..<5_000 {
            guard case .select(let aid) = BenchTransaction.draw(.select, readPercent: 0, scale: scale, using: &rng)
            else {
                Issue.record("the select workload drew something else")
                return
            }
            seen.insert(aid)
        }
        #expect(seen == Set(1...100))
        #expect(!Workload.select.writes && !Workload.read.writes && Workload.write.writes && Workload.mixed.writes)
    }
}
