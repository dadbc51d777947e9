import Testing

@testable import DBConnection

/// The queue of waiting callers: first come first served, removal from anywhere, holes never at the head.
@Suite struct WaiterQueueTests {
    @Test func servesInArrivalOrder() {
        var queue = WaiterQueue<String>(minimumCapacity: 4)
        queue.append(1, "a")
        queue.append(2, "b")
        queue.append(3, "c")
        #expect(queue.count == 3)
        #expect(queue.removeFirst()?.element == "a")
        #expect(queue.first?.id == 2)
        #expect(queue.count == 2)
    }

    @Test func aCallerRemovedFromTheMiddleIsSkipped() {
        var queue = WaiterQueue<String>(minimumCapacity: 4)
        for id in 1...4 { queue.append(UInt64(id), "\(id)") }
        #expect(queue.remove(2) == "2")
        #expect(queue.remove(2) == nil)
        #expect(queue.count == 3)
        #expect(queue.removeFirst()?.id == 1)
        // The hole left by 2 is gone: the head is 3.
        #expect(queue.first?.id == 3)
        #expect(queue.waiting.map(\.id) == [3, 4])
    }

    @Test func idsOutOfOrderAreFoundToo() {
        // Ids come from a counter before the lock, so two callers can queue in the other order.
        var queue = WaiterQueue<String>(minimumCapacity: 4)
        for id: UInt64 in [1, 3, 2, 5, 4] { queue.append(id, "\(id)") }
        #expect(queue.remove(2) == "2")
        #expect(queue.remove(4) == "4")
        #expect(queue.remove(6) == nil)
        #expect(queue.waiting.map(\.id) == [1, 3, 5])
    }

    @Test func removeAllKeepsTheOthersInOrder() {
        var queue = WaiterQueue<Int>(minimumCapacity: 4)
        for id in 1...6 { queue.append(UInt64(id), id * 10) }
        _ = queue.remove(5)
        let removed = queue.removeAll { _, value in value % 20 == 0 }
        #expect(removed.map(\.id) == [2, 4, 6])
        #expect(queue.waiting.map(\.id) == [1, 3])
        #expect(queue.count == 2)
        #expect(queue.remove(1) == 10)
        #expect(queue.first?.id == 3)
    }
}
