import DequeModule
import Logging

extension PoolStateMachine {
    /// One connection slot.
    struct Slot: Sendable {
        /// One slot's life.
        enum State: Sendable, Hashable {
            /// Not started yet. Can transition to: connecting.
            case initial
            /// The runner is connecting (and running `afterConnect`). Can transition to: idle or leased
            /// (connected), backingOff or ended (failed), closing (shutdown).
            case connecting
            /// Waiting for the backoff timer. Can transition to: connecting, ended.
            case backingOff
            /// In the idle queue. Can transition to: leased, pinging, closing.
            case idle(since: Instant)
            /// Lent to a caller. Can transition to: idle or leased (check-in), reclaiming (deadline),
            /// closing.
            case leased(LeaseState)
            /// Taken back from a caller whose deadline passed: its call is being interrupted and the
            /// connection checked. Can transition to: idle or leased (clean), closing.
            case reclaiming(Reclaiming)
            /// The runner is pinging it. Can transition to: idle or leased (ping ok), closing.
            case pinging
            /// The runner is closing it. Can transition to: connecting (reconnect), ended.
            case closing
            /// No connection and none will come (`BackoffType.stop`, or shutdown).
            case ended
        }

        struct Reclaiming: Sendable, Hashable {
            var generation: UInt64
            /// The driver confirmed the interrupt (or no call was running).
            var confirmed = false
            /// The call returned and the driver's `checkin` passed.
            var clean = false
        }

        struct LeaseState: Sendable, Hashable {
            var generation: UInt64
            var requestedAt: Instant
            var deadline: Instant?
        }

        var state: State = .initial
        var generation: UInt64 = 0
        var connectedAt: Instant?
        var backoff: Backoff
        /// A per-connection random number: spreads `disconnectAll` and `maxLifetime` over time.
        var spread: UInt64
        /// The slot failed its last connect attempt (so a reconnect after a close waits a backoff).
        var closingAfterFailure = false
        /// The open connection's ``ExecutorAffinity`` key; 0 for none.
        var affinity: UInt = 0

        var isOpen: Bool {
            switch state {
            case .idle, .leased, .reclaiming, .pinging: true
            default: false
            }
        }

        var idleSince: Instant? {
            if case .idle(let since) = state { return since }
            return nil
        }
    }

    /// Pops the longest-idle slot.
    mutating func popIdle() -> SlotID? {
        while let slot = idle.popFirst() {
            if case .idle = slots[slot].state { return slot }
        }
        return nil
    }

    /// How many idle entries a checkout with an affinity looks through for a connection of its own
    /// executor before it takes the longest-idle one: bounded, so a checkout stays O(1).
    static var affinityScanLimit: Int { 32 }

    /// Pops the longest-idle slot whose connection has `affinity` (an ``ExecutorAffinity`` key) among
    /// the first ``affinityScanLimit`` idle entries, else the longest-idle slot.
    @inline(__always)
    mutating func popIdle(preferring affinity: UInt) -> SlotID? {
        if affinity != 0, let slot = popIdleMatching(affinity) { return slot }
        return popIdle()
    }

    /// The scan of ``popIdle(preferring:)``, out of line: pools without affinities never run it.
    @inline(never)
    private mutating func popIdleMatching(_ affinity: UInt) -> SlotID? {
        var index = idle.startIndex
        let end = min(idle.endIndex, index + Self.affinityScanLimit)
        while index < end {
            let slot = idle[index]
            if slots[slot].affinity == affinity, case .idle = slots[slot].state {
                idle.remove(at: index)
                return slot
            }
            index += 1
        }
        return nil
    }

    mutating func makeIdle(slot: SlotID, now: Instant) {
        slots[slot].state = .idle(since: now)
        idle.append(slot)
        idleCount += 1
    }

    /// Lends `slot`, which was idle (idleSince set) or just joined.
    mutating func lease(slot: SlotID, requestedAt: Instant, deadline: Instant?, idleSince: Instant?, now: Instant) -> Grant {
        if idleSince != nil { idleCount -= 1 }
        slots[slot].generation &+= 1
        let generation = slots[slot].generation
        slots[slot].state = .leased(.init(generation: generation, requestedAt: requestedAt, deadline: deadline))
        leasedCount += 1
        let idleTime = idleSince.map { max(.zero, $0.duration(to: requestedAt)) } ?? .zero
        return Grant(slot: slot, generation: generation, idleTime: idleTime, deadline: deadline)
    }

    private mutating func endLease(slot: SlotID) {
        leasedCount -= 1
    }

    // MARK: Check-in and disconnects from callers

    /// A caller gives its connection back. A stale generation (the pool already took it) is ignored.
    mutating func checkin(slot: SlotID, generation: UInt64, now: Instant) -> Action {
        guard case .leased(let lease) = slots[slot].state, lease.generation == generation else { return .none }
        endLease(slot: slot)
        if phase != .running {
            return close(slot: slot, error: .shutdownClose(pool: configuration.name))
        }
        if let error = recycleReason(slot: slot, now: now) {
            return close(slot: slot, error: error)
        }
        return join(slot: slot, now: now)
    }

    /// The check-in's common case, without building an ``Action``: the pool is running and not busy
    /// (no waiter), and nothing recycles connections, so the slot just goes back to idle. Returns
    /// `false` without changing anything when the full ``checkin(slot:generation:now:)`` must decide
    /// (a stale generation included).
    mutating func checkinToIdle(slot: SlotID, generation: UInt64, now: Instant) -> Bool {
        guard case .running = phase, !busy, !recycles, case .leased(let lease) = slots[slot].state,
            lease.generation == generation
        else { return false }
        endLease(slot: slot)
        makeIdle(slot: slot, now: now)
        return true
    }

    /// A caller gives its connection back broken (`DatabasePool.disconnect`), or, with `stop`, after
    /// a crash (`DatabasePool.stop`, which counts towards `maxRestarts`).
    mutating func disconnect(slot: SlotID, generation: UInt64, error: ConnectionError, stop: Bool, now: Instant) -> Action {
        guard case .leased(let lease) = slots[slot].state, lease.generation == generation else { return .none }
        endLease(slot: slot)
        var action = close(slot: slot, error: error)
        if stop { action.merge(noteRestart(now: now)) }
        return action
    }

    /// Closes a leased slot whose caller overran its deadline (the runner revokes the lease).
    mutating func closeLeased(slot: SlotID, error: ConnectionError, revoking generation: UInt64) -> Action {
        endLease(slot: slot)
        var action = close(slot: slot, error: error)
        action.close[action.close.count - 1].revoking = generation
        return action
    }

    // MARK: Reclaiming a lease past its deadline

    /// Takes back a lease that overran its deadline, to keep its connection if it proves clean within
    /// the grace period (the runner revokes the lease and interrupts the call). Still counted busy.
    mutating func reclaimLeased(slot: SlotID, generation: UInt64, error: ConnectionError, grace: Duration, now: Instant) -> Action {
        slots[slot].state = .reclaiming(.init(generation: generation))
        var action = Action()
        action.reclaim.append(Reclaim(slot: slot, generation: generation, error: error))
        action.timers.append(armReclaim(slot: slot, at: now + grace))
        return action
    }

    /// The runner interrupted the reclaimed lease's call; `confirmed` when the driver confirmed it (or
    /// when no call was running). Unconfirmed, the connection is closed.
    mutating func reclaimInterrupted(slot: SlotID, generation: UInt64, confirmed: Bool, now: Instant) -> Action {
        guard case .reclaiming(var reclaiming) = slots[slot].state, reclaiming.generation == generation else { return .none }
        guard confirmed else {
            return endReclaim(slot: slot, closing: .reclaimFailed("the driver could not confirm the interrupt", pool: configuration.name), now: now)
        }
        reclaiming.confirmed = true
        slots[slot].state = .reclaiming(reclaiming)
        return reclaiming.clean ? endReclaim(slot: slot, closing: nil, now: now) : .none
    }

    /// The reclaimed lease's call returned and the driver's `checkin` passed (`clean`) or threw.
    mutating func reclaimChecked(slot: SlotID, generation: UInt64, clean: Bool, now: Instant) -> Action {
        guard case .reclaiming(var reclaiming) = slots[slot].state, reclaiming.generation == generation else { return .none }
        guard clean else {
            return endReclaim(slot: slot, closing: .reclaimFailed("the connection was not clean after its interrupted call", pool: configuration.name), now: now)
        }
        reclaiming.clean = true
        slots[slot].state = .reclaiming(reclaiming)
        return reclaiming.confirmed ? endReclaim(slot: slot, closing: nil, now: now) : .none
    }

    /// The grace period ended before the connection proved clean: close it.
    mutating func reclaimTimedOut(slot: SlotID, now: Instant) -> Action {
        guard case .reclaiming = slots[slot].state else { return .none }
        let grace = configuration.interruptGracePeriod ?? .zero
        return endReclaim(
            slot: slot,
            closing: .reclaimFailed("the interrupted call did not end within the grace period of \(grace.milliseconds)ms", pool: configuration.name),
            now: now
        )
    }

    private mutating func endReclaim(slot: SlotID, closing error: ConnectionError?, now: Instant) -> Action {
        timers.reclaim[slot] = nil
        endLease(slot: slot)
        if let error {
            var action = close(slot: slot, error: error)
            action.close[action.close.count - 1].interrupt = false
            return action
        }
        if phase != .running {
            return close(slot: slot, error: .shutdownClose(pool: configuration.name))
        }
        if let error = recycleReason(slot: slot, now: now) {
            return close(slot: slot, error: error)
        }
        return join(slot: slot, now: now)
    }

    /// Marks the slot closing and asks the runner to close it.
    mutating func close(slot: SlotID, error: ConnectionError) -> Action {
        if case .idle = slots[slot].state { idleCount -= 1 }
        slots[slot].state = .closing
        var action = Action()
        action.close.append(Close(slot: slot, error: error, revoking: nil))
        return action
    }

    /// Why a connection must be recycled now (`disconnectAll`, `maxLifetime`), if it must.
    func recycleReason(slot: SlotID, now: Instant) -> ConnectionError? {
        guard recycles, let connectedAt = slots[slot].connectedAt else { return nil }
        let spread = slots[slot].spread
        if let request = disconnectAllRequest, connectedAt <= request.at {
            let offset = Self.spread(spread, over: request.interval)
            if now > request.at + offset {
                return ConnectionError(
                    .disconnectRequested,
                    message: "disconnect_all requested",
                    severity: .debug,
                    poolName: configuration.name
                )
            }
        }
        if let range = configuration.maxLifetime {
            let limit = range.lowerBound + Self.spread(spread, over: range.upperBound - range.lowerBound)
            if connectedAt.duration(to: now) > limit {
                return ConnectionError(
                    .disconnectRequested,
                    message: "max_lifetime exceeded",
                    severity: .debug,
                    poolName: configuration.name
                )
            }
        }
        return nil
    }

    /// `spread mod interval`, in whole milliseconds as db_connection does (zero for an empty interval).
    static func spread(_ spread: UInt64, over interval: Duration) -> Duration {
        let ms = interval.milliseconds
        guard ms > 0 else { return .zero }
        return .milliseconds(Int64(spread % UInt64(ms)))
    }

    /// `disconnectAll(interval:)`: connections connected before now are recycled at their next check-in
    /// or idle tick once `now + (spread mod interval)` has passed.
    mutating func disconnectAll(interval: Duration, now: Instant) {
        disconnectAllRequest = (now, interval)
        recycles = true
    }

    // MARK: Connecting

    /// The runner opened the slot's connection (and `afterConnect` succeeded); `affinity` is the
    /// connection's ``ExecutorAffinity`` key, 0 for none.
    mutating func connectSucceeded(slot: SlotID, now: Instant, affinity: UInt = 0) -> Action {
        guard slots[slot].state == .connecting else { return .none }
        slots[slot].affinity = affinity
        slots[slot].backoff.reset()
        slots[slot].connectedAt = now
        slots[slot].spread = random.next()
        if phase != .running {
            return close(slot: slot, error: .shutdownClose(pool: configuration.name))
        }
        return join(slot: slot, now: now)
    }

    /// The runner failed to open the slot's connection (or `afterConnect` failed; the runner closed it).
    mutating func connectFailed(slot: SlotID, now: Instant) -> Action {
        guard slots[slot].state == .connecting else { return .none }
        slots[slot].connectedAt = nil
        return backOff(slot: slot, now: now)
    }

    private mutating func backOff(slot: SlotID, now: Instant) -> Action {
        guard phase == .running else {
            slots[slot].state = .ended
            return shutdownProgress()
        }
        guard let delay = slots[slot].backoff.next(using: &random) else {
            slots[slot].state = .ended
            return .none
        }
        slots[slot].state = .backingOff
        var action = Action()
        action.timers.append(armBackoff(slot: slot, at: now + delay))
        return action
    }

    mutating func backoffEnded(slot: SlotID, now: Instant) -> Action {
        guard slots[slot].state == .backingOff else { return .none }
        guard phase == .running else {
            slots[slot].state = .ended
            return shutdownProgress()
        }
        slots[slot].state = .connecting
        var action = Action()
        action.connect.append(slot)
        return action
    }

    /// The runner closed the slot's connection: reconnect at once (db_connection reconnects immediately
    /// after a disconnect), or end the slot with `BackoffType.stop` or during shutdown.
    mutating func connectionClosed(slot: SlotID, now: Instant) -> Action {
        guard slots[slot].state == .closing else { return .none }
        slots[slot].connectedAt = nil
        guard phase == .running else {
            slots[slot].state = .ended
            return shutdownProgress()
        }
        if configuration.backoffType == .stop {
            slots[slot].state = .ended
            return .none
        }
        slots[slot].state = .connecting
        var action = Action()
        action.connect.append(slot)
        return action
    }

    // MARK: Idle pings

    /// db_connection's `drop_idle`: ping (or recycle) connections idle since before the tick was armed,
    /// longest idle first, at most `idleLimit`; nothing while busy.
    mutating func idleTick(armedAt: Instant, now: Instant) -> Action {
        var action = Action()
        var limit = configuration.idleLimit
        while !busy && limit > 0, let slot = idle.first {
            guard case .idle(let since) = slots[slot].state else {
                idle.removeFirst()
                continue
            }
            guard since <= armedAt else { break }
            idle.removeFirst()
            idleCount -= 1
            if let error = recycleReason(slot: slot, now: now) {
                slots[slot].state = .closing
                action.close.append(Close(slot: slot, error: error, revoking: nil))
            } else {
                slots[slot].state = .pinging
                action.ping.append(slot)
            }
            limit -= 1
        }
        action.timers.append(armIdle(now: now))
        return action
    }

    /// The ping succeeded: the connection joins the pool again (its `connectedAt` is kept).
    mutating func pingSucceeded(slot: SlotID, now: Instant) -> Action {
        guard slots[slot].state == .pinging else { return .none }
        if phase != .running {
            return close(slot: slot, error: .shutdownClose(pool: configuration.name))
        }
        return join(slot: slot, now: now)
    }

    /// The ping failed: close the connection and reconnect.
    mutating func pingFailed(slot: SlotID, error: ConnectionError) -> Action {
        guard slots[slot].state == .pinging else { return .none }
        return close(slot: slot, error: error)
    }

    // MARK: Restart intensity, shutdown

    private mutating func noteRestart(now: Instant) -> Action {
        restarts.append(now)
        while let first = restarts.first, first.duration(to: now) > configuration.maxSeconds {
            restarts.removeFirst()
        }
        guard restarts.count > configuration.maxRestarts, phase == .running else { return .none }
        let error = ConnectionError(
            .poolStopped,
            message: """
                the pool stopped: \(restarts.count) connections crashed within \(configuration.maxSeconds) \
                (maxRestarts \(configuration.maxRestarts), maxSeconds \(configuration.maxSeconds))
                """,
            poolName: configuration.name
        )
        var action = beginShutdown(error: error)
        phase = .stopped(error)
        action.stopped = error
        return action
    }

    /// The pool shuts down: fail every waiter, close idle connections, end backoffs; leases are closed
    /// when they come back.
    mutating func shutdown(now: Instant) -> Action {
        guard phase == .running else { return .none }
        return beginShutdown(error: .shutdown(pool: configuration.name))
    }

    private mutating func beginShutdown(error: ConnectionError) -> Action {
        phase = .shuttingDown
        var action = Action()
        while let (id, _) = headWaiter() {
            popWaiter()
            action.failures.append(Failure(request: id, error: error))
        }
        for slot in slots.indices {
            switch slots[slot].state {
            case .idle:
                action.merge(close(slot: slot, error: .shutdownClose(pool: configuration.name)))
            case .backingOff, .initial:
                slots[slot].state = .ended
                timers.backoff[slot] = nil
            case .connecting, .leased, .reclaiming, .pinging, .closing, .ended:
                break
            }
        }
        idle.removeAll()
        action.merge(shutdownProgress())
        return action
    }

    /// Whether every slot ended after a shutdown.
    mutating func shutdownProgress() -> Action {
        guard phase != .running, slots.allSatisfy({ $0.state == .ended }) else { return .none }
        var action = Action()
        action.shutdownComplete = true
        return action
    }
}

extension ConnectionError {
    static func reclaimFailed(_ why: String, pool: String) -> ConnectionError {
        ConnectionError(.deadline, message: "connection closed after its lease overran the deadline: \(why)", poolName: pool)
    }

    static func shutdownClose(pool: String) -> ConnectionError {
        ConnectionError(.poolShutdown, message: "connection closed because the pool is shutting down", severity: .debug, poolName: pool)
    }
}
