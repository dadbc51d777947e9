import DequeModule

/// Callers waiting for a connection, first come first served, each under its request id: the state
/// machine's queue (with each waiter's times) and the runner's (with each waiter's continuation).
///
/// A ring buffer, not a dictionary: serving the head, the hot path of a busy pool, is O(1) and hashes
/// nothing. A caller that gives up in the middle of the queue leaves a hole, found by binary search
/// (request ids come from a counter, so they almost always ascend; a linear scan covers the rest) and
/// skipped later. The head is never a hole.
struct WaiterQueue<Element> {
    private var entries: Deque<(id: UInt64, element: Element?)>
    /// Live entries (holes excluded).
    private(set) var count = 0

    init(minimumCapacity: Int) {
        entries = Deque(minimumCapacity: minimumCapacity)
    }

    var isEmpty: Bool { count == 0 }

    /// The longest waiting caller.
    var first: (id: UInt64, element: Element)? {
        guard let head = entries.first, let element = head.element else { return nil }
        return (head.id, element)
    }

    /// Queues a caller at the end.
    mutating func append(_ id: UInt64, _ element: Element) {
        entries.append((id, element))
        count += 1
    }

    /// Removes and returns the longest waiting caller.
    @discardableResult
    mutating func removeFirst() -> (id: UInt64, element: Element)? {
        guard let head = first else { return nil }
        entries.removeFirst()
        count -= 1
        dropHoles()
        return head
    }

    /// Removes the caller with this id, wherever it waits.
    /// - Returns: its element, or `nil` when it is not waiting (served, failed or removed already).
    mutating func remove(_ id: UInt64) -> Element? {
        if let head = entries.first, head.id == id { return removeFirst()?.element }
        guard let index = index(of: id), let element = entries[index].element else { return nil }
        entries[index].element = nil
        count -= 1
        return element
    }

    /// Removes every caller for which `shouldRemove` is true.
    /// - Returns: the removed callers, in queue order.
    mutating func removeAll(where shouldRemove: (UInt64, Element) -> Bool) -> [(id: UInt64, element: Element)] {
        var removed: [(id: UInt64, element: Element)] = []
        var kept = Deque<(id: UInt64, element: Element?)>(minimumCapacity: Swift.max(entries.count, 16))
        for entry in entries {
            guard let element = entry.element else { continue }
            if shouldRemove(entry.id, element) {
                removed.append((entry.id, element))
            } else {
                kept.append(entry)
            }
        }
        entries = kept
        count = kept.count
        return removed
    }

    /// The live callers, in queue order.
    var waiting: some Sequence<(id: UInt64, element: Element)> {
        entries.lazy.compactMap { entry in entry.element.map { (entry.id, $0) } }
    }

    private mutating func dropHoles() {
        while let head = entries.first, head.element == nil { entries.removeFirst() }
    }

    private func index(of id: UInt64) -> Int? {
        var low = 0
        var high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle].id < id { low = middle + 1 } else { high = middle }
        }
        if low < entries.count, entries[low].id == id { return low }
        return entries.firstIndex { $0.id == id }
    }
}

extension WaiterQueue: Sendable where Element: Sendable {}
