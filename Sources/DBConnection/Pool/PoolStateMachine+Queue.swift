import DequeModule
extension PoolStateMachine {
    /// db_connection's CoDel record.
    struct CoDel: Sendable, Hashable {
        /// The minimum queue wait seen in the current interval.
        var delay: Duration
        /// Whether the last interval was slow (its minimum wait exceeded the target).
        var slow: Bool
        /// When the current interval ends.
        var next: Instant
    }

    /// A caller asks for a connection.
    ///
    /// With `request == nil` nothing is queued: the result is ``CheckoutResult/leased(_:_:)``,
    /// ``CheckoutResult/failed(_:)`` or ``CheckoutResult/mustWait``. With a request id the caller is
    /// queued when nothing is idle. `affinity` (an ``ExecutorAffinity`` key, 0 for none) picks an idle
    /// connection of the caller's executor when there is one.
    mutating func checkout(
        request: RequestID?,
        now: Instant,
        deadline: Instant?,
        queue: Bool,
        affinity: UInt = 0
    ) -> CheckoutResult {
        switch phase {
        case .running: break
        case .shuttingDown: return .failed(.shutdown(pool: configuration.name))
        case .stopped(let error): return .failed(error)
        }
        if !busy, let slot = popIdle(preferring: affinity) {
            var action = Action()
            let grant = lease(slot: slot, requestedAt: now, deadline: deadline, idleSince: slots[slot].idleSince, now: now)
            noteDeadline(deadline, into: &action)
            return .leased(grant, action)
        }
        busy = true
        guard queue else { return .failed(.queueDisabled(pool: configuration.name)) }
        guard let request else { return .mustWait }
        waiters.append(request, Waiter(requestedAt: now, deadline: deadline))
        var action = Action()
        noteDeadline(deadline, into: &action)
        return .queued(action)
    }

    /// The checkout's common case, without building a ``CheckoutResult``: an idle connection is lent
    /// at once and no deadline timer needs arming. Returns `nil` without changing anything when the
    /// full ``checkout(request:now:deadline:queue:)`` must decide (not running, busy, nothing idle, or a
    /// new earliest deadline), so the runner's hot path copies one small ``Grant`` instead of a result
    /// with an ``Action``.
    mutating func checkoutIdle(now: Instant, deadline: Instant?, affinity: UInt = 0) -> Grant? {
        guard case .running = phase, !busy, !needsDeadlineTimer(deadline), let slot = popIdle(preferring: affinity)
        else { return nil }
        return lease(slot: slot, requestedAt: now, deadline: deadline, idleSince: slots[slot].idleSince, now: now)
    }

    /// A waiting caller gave up (its task was cancelled). O(log n): the queue entry is skipped later.
    /// - Returns: whether the caller was still waiting (if not, a lease or failure is already on its way).
    mutating func cancelCheckout(_ request: RequestID) -> Bool {
        waiters.remove(request) != nil
    }

    /// The head waiter (those that gave up are never at the head).
    func headWaiter() -> (RequestID, Waiter)? {
        waiters.first
    }

    mutating func popWaiter() {
        waiters.removeFirst()
    }

    /// A connection joins the pool (check-in, new connection, ping done): db_connection's `handle_checkin`.
    mutating func join(slot: SlotID, now: Instant) -> Action {
        guard busy else {
            makeIdle(slot: slot, now: now)
            return .none
        }
        var action = Action()
        if dequeue(slot: slot, now: now, into: &action) {
            return action
        }
        makeIdle(slot: slot, now: now)
        return action
    }

    /// db_connection's `dequeue`: hand `slot` to a waiter, or return `false` (the pool becomes ready).
    private mutating func dequeue(slot: SlotID, now: Instant, into action: inout Action) -> Bool {
        if now >= codel.next {
            // First dequeue of a new interval.
            let slow = codel.delay > configuration.queueTarget
            codel.next = now + configuration.queueInterval
            codel.slow = slow
            guard let (id, waiter) = headWaiter() else {
                codel.delay = .zero
                busy = false
                return false
            }
            popWaiter()
            let delay = waiter.requestedAt.duration(to: now)
            codel.delay = delay
            return go(slot: slot, request: id, waiter: waiter, delay: delay, now: now, into: &action)
        }
        while let (id, waiter) = headWaiter() {
            popWaiter()
            let delay = waiter.requestedAt.duration(to: now)
            // The limit (twice the target) only matters, and is only computed, while the queue is slow.
            if codel.slow && delay > configuration.queueTarget * 2 {
                action.failures.append(
                    Failure(request: id, error: .queueDropped(after: delay, pool: configuration.name))
                )
                continue
            }
            return go(slot: slot, request: id, waiter: waiter, delay: delay, now: now, into: &action)
        }
        codel.delay = .zero
        busy = false
        return false
    }

    /// db_connection's `go`: lease to the waiter, unless its deadline already passed (then it fails,
    /// and the next waiter is tried; db_connection would lend it a connection and kill it at once).
    private mutating func go(
        slot: SlotID,
        request: RequestID,
        waiter: Waiter,
        delay: Duration,
        now: Instant,
        into action: inout Action
    ) -> Bool {
        if let deadline = waiter.deadline, deadline <= now {
            action.failures.append(Failure(request: request, error: .deadlineInQueue(pool: configuration.name)))
            return dequeue(slot: slot, now: now, into: &action)
        }
        if delay < codel.delay { codel.delay = delay }
        let grant = lease(slot: slot, requestedAt: waiter.requestedAt, deadline: waiter.deadline, idleSince: nil, now: now)
        action.lease = Action.Lease(request: request, grant: grant, requestedAt: waiter.requestedAt)
        return true
    }

    /// The CoDel poll: when the queue made no progress since the last poll, measure and maybe drop.
    mutating func pollFired(time: Instant, lastSent: Instant) -> Action {
        var action = Action()
        guard let (_, head) = headWaiter() else {
            action.timers.append(armPoll(now: time, lastSent: time))
            return action
        }
        let sent = head.requestedAt
        action.timers.append(armPoll(now: time, lastSent: sent))
        guard sent <= lastSent && busy else { return action }
        let delay = sent.duration(to: time)
        if time >= codel.next && codel.delay > configuration.queueTarget {
            codel.slow = true
            codel.delay = delay
            codel.next = time + configuration.queueInterval
            dropSlow(time: time, into: &action)
        } else if time >= codel.next {
            codel.slow = false
            codel.delay = delay
            codel.next = time + configuration.queueInterval
        }
        return action
    }

    /// Drops every waiter that waited more than twice the target.
    private mutating func dropSlow(time: Instant, into action: inout Action) {
        let limit = configuration.queueTarget * 2
        let dropped = waiters.removeAll { _, waiter in waiter.requestedAt.duration(to: time) > limit }
        for (id, waiter) in dropped {
            let wait = waiter.requestedAt.duration(to: time)
            action.failures.append(Failure(request: id, error: .queueDropped(after: wait, pool: configuration.name)))
        }
    }
}
