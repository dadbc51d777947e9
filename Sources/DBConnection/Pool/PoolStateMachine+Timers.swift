extension PoolStateMachine {
    /// A timer the runner must arm: when it fires, the runner calls ``PoolStateMachine/timerFired(_:now:)``.
    ///
    /// Timers are never cancelled: each carries an id, and a timer whose id is no longer current does
    /// nothing when it fires.
    struct Timer: Sendable, Hashable {
        enum Kind: Sendable, Hashable {
            /// The CoDel poll, every `queueInterval`; remembers the head waiter's request time.
            case poll(lastSent: Instant)
            /// The idle tick, every `idleInterval`; remembers when it was armed.
            case idle(armedAt: Instant)
            /// A slot's reconnect backoff ended.
            case backoff(SlotID)
            /// The earliest deadline of a lease or a waiter.
            case deadline
            /// A reclaimed lease's grace period ended.
            case reclaim(SlotID)
        }

        var kind: Kind
        var id: UInt64
        var fireAt: Instant
    }

    struct TimerState: Sendable {
        var nextID: UInt64 = 1
        var poll: UInt64 = 0
        var idle: UInt64 = 0
        var deadline: UInt64 = 0
        /// When the current deadline timer fires, if one is armed.
        var deadlineAt: Instant?
        var backoff: [SlotID: UInt64] = [:]
        var reclaim: [SlotID: UInt64] = [:]

        mutating func makeID() -> UInt64 {
            defer { nextID += 1 }
            return nextID
        }
    }

    mutating func armPoll(now: Instant, lastSent: Instant) -> Timer {
        let id = timers.makeID()
        timers.poll = id
        return Timer(kind: .poll(lastSent: lastSent), id: id, fireAt: now + configuration.queueInterval)
    }

    mutating func armIdle(now: Instant) -> Timer {
        let id = timers.makeID()
        timers.idle = id
        return Timer(kind: .idle(armedAt: now), id: id, fireAt: now + configuration.idleInterval)
    }

    mutating func armBackoff(slot: SlotID, at: Instant) -> Timer {
        let id = timers.makeID()
        timers.backoff[slot] = id
        return Timer(kind: .backoff(slot), id: id, fireAt: at)
    }

    mutating func armReclaim(slot: SlotID, at: Instant) -> Timer {
        let id = timers.makeID()
        timers.reclaim[slot] = id
        return Timer(kind: .reclaim(slot), id: id, fireAt: at)
    }

    /// Arms the deadline timer if `deadline` comes before the one armed; O(1), the hot path's only timer work.
    mutating func noteDeadline(_ deadline: Instant?, into action: inout Action) {
        guard let deadline, needsDeadlineTimer(deadline) else { return }
        let id = timers.makeID()
        timers.deadline = id
        timers.deadlineAt = deadline
        action.timers.append(Timer(kind: .deadline, id: id, fireAt: deadline))
    }

    /// Whether `deadline` comes before the armed deadline timer (or none is armed), so that
    /// ``noteDeadline(_:into:)`` would arm one.
    func needsDeadlineTimer(_ deadline: Instant?) -> Bool {
        guard let deadline else { return false }
        guard let armed = timers.deadlineAt else { return true }
        return deadline < armed
    }

    /// A timer fired. `now` is the time the runner read after the sleep ended.
    mutating func timerFired(_ timer: Timer, now: Instant) -> Action {
        if case .stopped = phase { return .none }
        switch timer.kind {
        case .poll(let lastSent):
            guard timer.id == timers.poll, phase == .running else { return .none }
            // db_connection computes with the time the poll was due, not the time it ran.
            return pollFired(time: timer.fireAt, lastSent: lastSent)
        case .idle(let armedAt):
            guard timer.id == timers.idle, phase == .running else { return .none }
            return idleTick(armedAt: armedAt, now: now)
        case .backoff(let slot):
            guard timers.backoff[slot] == timer.id else { return .none }
            timers.backoff[slot] = nil
            return backoffEnded(slot: slot, now: now)
        case .deadline:
            guard timer.id == timers.deadline else { return .none }
            timers.deadlineAt = nil
            return deadlinesDue(now: now)
        case .reclaim(let slot):
            guard timers.reclaim[slot] == timer.id else { return .none }
            timers.reclaim[slot] = nil
            return reclaimTimedOut(slot: slot, now: now)
        }
    }

    /// Fails waiters and revokes leases whose deadline passed, then re-arms for the next deadline.
    mutating func deadlinesDue(now: Instant) -> Action {
        var action = Action()
        var next: Instant?
        for slot in slots.indices {
            guard case .leased(let lease) = slots[slot].state, let deadline = lease.deadline else { continue }
            if deadline <= now {
                let error = ConnectionError.leaseOverrun(
                    budget: lease.requestedAt.duration(to: deadline),
                    pool: configuration.name
                )
                if let grace = configuration.interruptGracePeriod {
                    action.merge(reclaimLeased(slot: slot, generation: lease.generation, error: error, grace: grace, now: now))
                } else {
                    action.merge(closeLeased(slot: slot, error: error, revoking: lease.generation))
                }
            } else {
                next = min(next ?? deadline, deadline)
            }
        }
        if !waiters.isEmpty {
            let expired = waiters.removeAll { _, waiter in
                guard let deadline = waiter.deadline else { return false }
                if deadline <= now { return true }
                next = min(next ?? deadline, deadline)
                return false
            }
            for id in expired.map(\.id).sorted() {
                action.failures.append(Failure(request: id, error: .deadlineInQueue(pool: configuration.name)))
            }
        }
        noteDeadline(next, into: &action)
        return action
    }
}
