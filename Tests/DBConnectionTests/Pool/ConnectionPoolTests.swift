import DBConnection
import DBConnectionTesting
import Testing

typealias Config = PoolConfiguration<ScriptedConnection>
typealias Pool = ConnectionPool<ScriptedConnection>

struct Oops: Error, Equatable, CustomStringConvertible {
    var description: String { "oops" }
}

/// A script step that blocks until `gate` opens, then replies `reply`: a call still running when its
/// caller's deadline passes.
func untilOpen(_ gate: Gate, then reply: ScriptedReply) -> ScriptStep {
    .perform { _ in
        await gate.wait()
        return reply
    }
}

/// Waits until the call started as the script's second step is running and the pool's timers (poll,
/// idle, deadline) sleep, then moves time past a 100 ms deadline.
func passDeadlineOfRunningCall(_ script: Script, _ clock: ManualClock) async {
    await script.waitForRecord(count: 2)
    await clock.waitForSleepers(3)
    clock.advance(by: .milliseconds(100))
}

/// Runs `body` against a pool on a manual clock; the pool shuts down afterwards.
func withTestPool(
    _ script: Script,
    configure: (inout Config) -> Void = { _ in },
    _ body: (Pool, ManualClock, Events) async throws -> Void
) async throws {
    let clock = ManualClock()
    var config = Config()
    config.name = "test"
    config.backoffType = .exp
    config.backoffMin = .milliseconds(200)
    config.randomSeed = 1
    let events = Events()
    config.connectionListeners = [events.listener]
    configure(&config)
    let pool = try Pool(options: ScriptedOptions(script: script), configuration: config, clock: clock)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await pool.run() }
        try await body(pool, clock, events)
        pool.shutdown()
        try await group.waitForAll()
    }
}

/// The runner, with the scripted driver and the manual clock: no test sleeps; time moves by `advance`.
@Suite(.timeLimit(.minutes(1))) struct ConnectionPoolTests {
    @Test func runConnectsPoolSizeConnectionsWithDistinctIdentities() async throws {
        // Scenarios 1 and 177.
        let script = Script([.ok(), .ok(), .ok()])
        try await withTestPool(script, configure: { $0.poolSize = 3 }) { pool, _, events in
            var connected: Set<ConnectionID> = []
            for _ in 0..<3 {
                if case .connected(let id, nil) = await events.next() { connected.insert(id) }
            }
            #expect(connected.count == 3)
            #expect(Set(script.record) == [.connect(poolIndex: 1, label: ""), .connect(poolIndex: 2, label: ""), .connect(poolIndex: 3, label: "")])
        }
    }

    @Test func aFailedFirstConnectIsRetriedAfterTheBackoffInTheSameSlot() async throws {
        // Scenario 18.
        let script = Script([.error(Oops()), .ok()])
        try await withTestPool(script) { pool, clock, events in
            await script.waitForRecord(count: 1)
            // poll, idle and the 200 ms backoff timer.
            await clock.waitForSleepers(3)
            #expect(script.record.count == 1)
            clock.advance(by: .milliseconds(200))
            #expect(await events.next() == .connected(ConnectionID(poolIndex: 1), tag: nil))
            #expect(script.record == [.connect(poolIndex: 1, label: ""), .connect(poolIndex: 1, label: "")])
        }
    }

    @Test func configureRewritesTheOptionsBeforeEveryConnect() async throws {
        // Scenario 23.
        let script = Script([.ok()])
        try await withTestPool(script, configure: {
            $0.configure = { options, index in
                var options = options
                options.label = "configured-\(index)"
                return options
            }
        }) { _, _, events in
            _ = await events.next()
            #expect(script.record == [.connect(poolIndex: 1, label: "configured-1")])
        }
    }

    @Test func afterConnectRunsOnTheNewConnectionBeforeAnyCaller() async throws {
        // Scenario 29, with raw driver calls (the client API has its own tests).
        let script = Script([.ok(state: "s0"), .status(.idle, state: "s1"), .status(.idle, state: "s2")])
        try await withTestPool(script, configure: {
            $0.afterConnect = { connection in
                _ = try await connection.withDriverCall { try await $0.status(callOptions: .init()) }
            }
        }) { pool, _, _ in
            try await pool.withConnection { connection in
                _ = try await connection.withDriverCall { try await $0.status(callOptions: .init()) }
            }
            #expect(script.record == [.connect(poolIndex: 1, label: ""), .status(state: "s0"), .status(state: "s1")])
        }
    }

    @Test func aFailingAfterConnectClosesTheConnectionAndReconnectsAfterBackoff() async throws {
        // Scenarios 285–287: listeners see connected, disconnected, then connected again.
        let script = Script([.ok(state: "a"), .error(Oops()), .ok(), .ok(state: "b"), .status(.idle), .status(.idle)])
        try await withTestPool(script, configure: {
            $0.afterConnect = { connection in
                _ = try await connection.withDriverCall { try await $0.status(callOptions: .init()) }
            }
        }) { pool, clock, events in
            #expect(await events.next() == .connected(ConnectionID(poolIndex: 1), tag: nil))
            #expect(await events.next() == .disconnected(ConnectionID(poolIndex: 1), tag: nil))
            await clock.waitForSleepers(3)
            clock.advance(by: .milliseconds(200))
            #expect(await events.next() == .connected(ConnectionID(poolIndex: 1), tag: nil))
            try await pool.withConnection { connection in
                _ = try await connection.withDriverCall { try await $0.status(callOptions: .init()) }
            }
            #expect(script.record.map(\.name) == ["connect", "status", "disconnect", "connect", "status", "status"])
        }
    }

    @Test func anAfterConnectThatOverrunsItsTimeoutClosesTheConnectionAndReconnectsAfterBackoff() async throws {
        // Scenario 285.
        let gate = Gate()
        let script = Script([.ok(state: "a"), .ok(), .ok(state: "b")])
        let runs = Mutex(0)
        try await withTestPool(script, configure: {
            $0.afterConnectTimeout = .milliseconds(500)
            $0.afterConnect = { _ in
                let first = runs.withLock { $0 += 1; return $0 == 1 }
                if first { await gate.wait() }
            }
        }) { pool, clock, events in
            #expect(await events.next() == .connected(ConnectionID(poolIndex: 1), tag: nil))
            // poll, idle, and the afterConnect timeout.
            await clock.waitForSleepers(3)
            clock.advance(by: .milliseconds(500))
            #expect(await events.next() == .disconnected(ConnectionID(poolIndex: 1), tag: nil))
            gate.open()
            await clock.waitForSleepers(3)
            clock.advance(by: .milliseconds(200))
            #expect(await events.next() == .connected(ConnectionID(poolIndex: 1), tag: nil))
            try await pool.withConnection { _ in }
            guard case .disconnect(let message, "a") = script.record[1] else {
                Issue.record("expected a disconnect, got \(script.record)")
                return
            }
            #expect(message.contains("timed out because it checked out the connection for longer than 500ms"))
        }
    }

    @Test func withoutAGracePeriodACallerThatOverrunsItsTimeoutLosesTheConnectionAndItsHandleGoesStale() async throws {
        // Scenarios 40, 235: the pool disconnects the connection; every later use of the handle throws.
        let script = Script([.ok(state: "s0"), .ok(), .ok(state: "s1"), .status(.idle)])
        try await withTestPool(script, configure: { $0.interruptGracePeriod = nil }) { pool, clock, events in
            _ = await events.next()
            try await pool.withConnection(options: CallOptions(timeout: .milliseconds(100))) { connection in
                await clock.waitForSleepers(3)
                clock.advance(by: .milliseconds(100))
                #expect(await events.next() == .disconnected(connection.id, tag: nil))
                #expect(!connection.isValid)
                let error = await #expect(throws: ConnectionError.self) {
                    try await connection.withDriverCall { try await $0.status(callOptions: .init()) }
                }
                #expect(error?.reason == .closed)
                #expect(error?.message == "connection is closed because of an error, disconnect or timeout")
                #expect(error?.poolName == "test")
                #expect(error?.call == "call")
            }
            #expect(await events.next() == .connected(ConnectionID(poolIndex: 1), tag: nil))
            let status = try await pool.withConnection { try await $0.withDriverCall { try await $0.status(callOptions: .init()) } }
            #expect(status == .idle)
            guard case .disconnect(let message, "s0") = script.record[1] else {
                Issue.record("expected a disconnect, got \(script.record)")
                return
            }
            #expect(message.contains("client timed out because it queued and checked out the connection for longer than 100ms"))
        }
    }

    @Test func aLateReplyAfterTheDeadlineIsReturnedAndTheConnectionIsClosedOnceTheCallEnds() async throws {
        // Scenarios 41 and 42: disconnect never runs concurrently with the running call.
        let gate = Gate()
        let script = Script([
            .ok(state: "s0"),
            untilOpen(gate, then: ScriptedReply(state: "late", status: .idle)),
            .ok(), .ok(state: "s1"),
        ])
        try await withTestPool(script) { pool, clock, events in
            _ = await events.next()
            try await pool.withConnection(options: CallOptions(timeout: .milliseconds(100))) { connection in
                async let status = connection.withDriverCall { try await $0.status(callOptions: .init()) }
                await passDeadlineOfRunningCall(script, clock)
                #expect(await events.next() == .disconnected(connection.id, tag: nil))
                // Interrupted, but not yet disconnected: the call is still running (the slot already
                // reconnects with a new connection meanwhile).
                #expect(script.interrupts == 1)
                #expect(!script.record.contains { $0.name == "disconnect" })
                gate.open()
                let late = try await status
                #expect(late == .idle)
                let disconnects = script.record.filter { $0.name == "disconnect" }
                #expect(disconnects.map(\.stateValue) == ["late"])
            }
        }
    }

    // MARK: Deadlines that spare the connection

    @Test func aCallerThatOverrunsWithNoCallRunningLosesTheHandleButThePoolKeepsACleanConnection() async throws {
        let script = Script([.ok(state: "s0"), .status(.idle)])
        try await withTestPool(script) { pool, clock, events in
            #expect(await events.next() == .connected(ConnectionID(poolIndex: 1), tag: nil))
            try await pool.withConnection(options: CallOptions(timeout: .milliseconds(100))) { connection in
                await clock.waitForSleepers(3)
                clock.advance(by: .milliseconds(100))
                // Taken back at once; checked clean by the pool (no call ran, no interrupt was needed).
                while connection.isValid { await Task.yield() }
                let error = await #expect(throws: ConnectionError.self) {
                    try await connection.withDriverCall { try await $0.status(callOptions: .init()) }
                }
                #expect(error?.reason == .closed)
            }
            // The next caller gets the same connection: no disconnect, no reconnect.
            let status = try await pool.withConnection { try await $0.withDriverCall { try await $0.status(callOptions: .init()) } }
            #expect(status == .idle)
            #expect(script.record.map(\.name) == ["connect", "status"])
            #expect(script.interrupts == 0)
        }
    }

    @Test func aConfirmedInterruptOfARunningCallGivesTheCallerADeadlineErrorAndKeepsTheConnection() async throws {
        let gate = Gate()
        let script = Script([
            .ok(state: "s0"),
            untilOpen(gate, then: ScriptedReply(error: Oops())),
            .status(.idle),
        ])
        script.interruptOutcome = .confirmed
        try await withTestPool(script) { pool, clock, events in
            #expect(await events.next() == .connected(ConnectionID(poolIndex: 1), tag: nil))
            let error = await #expect(throws: ConnectionError.self) {
                try await pool.withConnection(options: CallOptions(timeout: .milliseconds(100))) { connection in
                    async let status = connection.withDriverCall { try await $0.status(callOptions: .init()) }
                    await passDeadlineOfRunningCall(script, clock)
                    while script.interrupts == 0 { await Task.yield() }
                    // The driver ends the call when interrupted.
                    gate.open()
                    _ = try await status
                }
            }
            #expect(error?.reason == .deadline)
            #expect(error?.message == "client timed out because it queued and checked out the connection for longer than 100ms")
            #expect(error?.underlying is Oops)
            let status = try await pool.withConnection { try await $0.withDriverCall { try await $0.status(callOptions: .init()) } }
            #expect(status == .idle)
            #expect(script.record.map(\.name) == ["connect", "status", "status"])
            #expect(script.interrupts == 1)
        }
    }

    @Test func aCallThatDoesNotEndWithinTheGracePeriodIsClosedOnceItEnds() async throws {
        let gate = Gate()
        let script = Script([
            .ok(state: "s0"),
            untilOpen(gate, then: ScriptedReply(state: "late", status: .idle)),
            // The reconnect and the late disconnect, in either order.
            .ok(state: "s1"), .ok(state: "s1"),
        ])
        script.interruptOutcome = .confirmed
        try await withTestPool(script, configure: { $0.interruptGracePeriod = .milliseconds(500) }) { pool, clock, events in
            #expect(await events.next() == .connected(ConnectionID(poolIndex: 1), tag: nil))
            try await pool.withConnection(options: CallOptions(timeout: .milliseconds(100))) { connection in
                async let status = connection.withDriverCall { try await $0.status(callOptions: .init()) }
                await passDeadlineOfRunningCall(script, clock)
                // poll, idle and the grace timer.
                await clock.waitForSleepers(3)
                clock.advance(by: .milliseconds(500))
                #expect(await events.next() == .disconnected(connection.id, tag: nil))
                // Interrupted once (not again at the close), and not disconnected while the call runs.
                while script.interrupts == 0 { await Task.yield() }
                #expect(script.interrupts == 1)
                #expect(!script.record.contains { $0.name == "disconnect" })
                gate.open()
                // A late success is still returned; then the call's task closes the connection.
                let late = try await status
                #expect(late == .idle)
                #expect(script.record.filter { $0.name == "disconnect" }.map(\.stateValue) == ["late"])
            }
            #expect(await events.next() == .connected(ConnectionID(poolIndex: 1), tag: nil))
        }
    }

    @Test func aReclaimedConnectionWhoseCheckinFailsIsClosed() async throws {
        let gate = Gate()
        let script = Script([
            .ok(state: "s0"),
            untilOpen(gate, then: ScriptedReply(error: Oops())),
            .ok(),  // disconnect
            .ok(state: "s1"),
        ])
        script.interruptOutcome = .confirmed
        script.checkinError = DisconnectError(Oops())
        try await withTestPool(script) { pool, clock, events in
            #expect(await events.next() == .connected(ConnectionID(poolIndex: 1), tag: nil))
            await #expect(throws: ConnectionError.self) {
                try await pool.withConnection(options: CallOptions(timeout: .milliseconds(100))) { connection in
                    async let status = connection.withDriverCall { try await $0.status(callOptions: .init()) }
                    await passDeadlineOfRunningCall(script, clock)
                    while script.interrupts == 0 { await Task.yield() }
                    gate.open()
                    _ = try await status
                }
            }
            #expect(await events.next() == .disconnected(ConnectionID(poolIndex: 1), tag: nil))
            script.checkinError = nil
            #expect(await events.next() == .connected(ConnectionID(poolIndex: 1), tag: nil))
            let disconnect = try #require(script.record.first { $0.name == "disconnect" })
            guard case .disconnect(let message, _) = disconnect else {
                Issue.record("expected a disconnect, got \(disconnect)")
                return
            }
            #expect(message.contains("the connection was not clean after its interrupted call"))
        }
    }

    @Test func aLateDisconnectOfAConnectionErrorSaysThePoolClosedIt() async throws {
        let gate = Gate()
        let script = Script([
            .ok(),
            untilOpen(gate, then: ScriptedReply(error: DisconnectError(ConnectionError(.error, message: "oops")))),
            .ok(), .ok(),
        ])
        try await withTestPool(script) { pool, clock, events in
            _ = await events.next()
            try await pool.withConnection(options: CallOptions(timeout: .milliseconds(100))) { connection in
                async let status = connection.withDriverCall { try await $0.status(callOptions: .init()) }
                await passDeadlineOfRunningCall(script, clock)
                _ = await events.next()
                gate.open()
                do {
                    _ = try await status
                    Issue.record("expected an error")
                } catch let error as ConnectionError {
                    #expect(
                        error.message
                            == "oops (the connection was closed by the pool, possibly due to a timeout or because the pool has been terminated)"
                    )
                }
            }
        }
    }

    @Test func queueFalseFailsAtOnceWhileTheOnlyConnectionIsHeld() async throws {
        // Scenario 45.
        let script = Script([.ok()])
        try await withTestPool(script) { pool, _, events in
            _ = await events.next()
            try await pool.withConnection { _ in
                let error = await #expect(throws: ConnectionError.self) {
                    try await pool.withConnection(options: CallOptions(queue: false)) { _ in }
                }
                #expect(error?.reason == .queueDisabled)
                #expect(error?.description == "[test] checkout: connection not available and queuing is disabled")
            }
        }
    }

    @Test func queuedCallersAreAllServedInOrder() async throws {
        // Scenario 46.
        let script = Script([.ok()])
        try await withTestPool(script) { pool, _, events in
            _ = await events.next()
            let order = OrderLog()
            try await withThrowingTaskGroup(of: Void.self) { group in
                let held = try await pool.checkout(options: .init())
                for i in 0..<10 {
                    group.addTask {
                        try await pool.withConnection { _ in order.append(i) }
                    }
                    while pool.metrics().queueLength < i + 1 { await Task.yield() }
                }
                pool.checkin(held)
                try await group.waitForAll()
            }
            #expect(order.values == Array(0..<10))
        }
    }

    @Test func queuedCallersAreDroppedWhenTheHolderNeverReturns() async throws {
        // Scenarios 47 and 50: a stalled pool drops its waiters after a slow interval, with reason queueTimeout.
        let script = Script([.ok()])
        try await withTestPool(script, configure: {
            $0.queueTarget = .milliseconds(50)
            $0.queueInterval = .milliseconds(50)
        }) { pool, clock, events in
            _ = await events.next()
            let held = try await pool.checkout(options: CallOptions(timeout: nil))
            try await withThrowingTaskGroup(of: ConnectionError?.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        do {
                            try await pool.withConnection(options: CallOptions(timeout: nil)) { _ in }
                            return nil
                        } catch let error as ConnectionError {
                            return error
                        }
                    }
                }
                while pool.metrics().queueLength < 3 { await Task.yield() }
                for _ in 0..<4 {
                    await clock.waitForSleepers(2)
                    clock.advance(by: .milliseconds(50))
                    await Task.yield()
                }
                var errors: [ConnectionError] = []
                for try await error in group { if let error { errors.append(error) } }
                #expect(errors.count == 3)
                #expect(errors.allSatisfy { $0.reason == .queueTimeout })
                #expect(errors.allSatisfy { $0.message.contains("connection not available and request was dropped from queue after") })
            }
            pool.checkin(held)
            try await pool.withConnection { _ in }
        }
    }

    @Test func aTaskCancelledWhileWaitingLeavesTheQueueAtOnce() async throws {
        let script = Script([.ok()])
        try await withTestPool(script) { pool, _, events in
            _ = await events.next()
            let held = try await pool.checkout(options: .init())
            let waiter = Task { try await pool.withConnection { _ in } }
            while pool.metrics().queueLength < 1 { await Task.yield() }
            waiter.cancel()
            await #expect(throws: CancellationError.self) { try await waiter.value }
            #expect(pool.metrics().queueLength == 0)
            pool.checkin(held)
            #expect(pool.metrics().idleConnections == 1)
        }
    }

    /// Also when the driver says the lease left nothing to check (`needsCheckin` false): the pool's
    /// shortcut past `checkin()` must not put a connection in doubt back.
    @Test(arguments: [true, false])
    func aTaskCancelledDuringADriverCallHasItsConnectionClosedNotReused(checkinNeeded: Bool) async throws {
        // Scenario 39/43: a caller that leaves in the middle of a driver call.
        let started = Gate()
        let script = Script([
            .ok(state: "s0"),
            .perform { _ in
                started.open()
                try await Task.sleep(for: .seconds(3600))
                return ScriptedReply(status: .idle)
            },
            .ok(), .ok(state: "s1"), .status(.idle),
        ])
        script.checkinNeeded = checkinNeeded
        try await withTestPool(script) { pool, _, events in
            _ = await events.next()
            let caller = Task {
                try await pool.withConnection { connection in
                    _ = try await connection.withDriverCall { try await $0.status(callOptions: .init()) }
                }
            }
            await started.wait()
            caller.cancel()
            _ = try? await caller.value
            #expect(await events.next() == .disconnected(ConnectionID(poolIndex: 1), tag: nil))
            #expect(await events.next() == .connected(ConnectionID(poolIndex: 1), tag: nil))
            let status = try await pool.withConnection { try await $0.withDriverCall { try await $0.status(callOptions: .init()) } }
            #expect(status == .idle)
            #expect(script.record.map(\.name) == ["connect", "status", "disconnect", "connect", "status"])
            #expect(script.record.last == .status(state: "s1"))
            // Only the second lease, on the fresh connection, could have been checked.
            #expect(script.checkins == (checkinNeeded ? 1 : 0))
        }
    }

    @Test func aDisconnectReplyClosesTheConnectionAndTheNextCallerGetsAFreshOne() async throws {
        // Scenarios 25 and 174.
        let script = Script([.ok(state: "s0"), .disconnect(Oops(), state: "broken"), .ok(), .ok(state: "s1"), .status(.idle)])
        try await withTestPool(script) { pool, _, events in
            _ = await events.next()
            // The caller gets the driver's error; the wrapper only told the pool to close the connection.
            await #expect(throws: Oops.self) {
                try await pool.withConnection { try await $0.withDriverCall { try await $0.status(callOptions: .init()) } }
            }
            #expect(await events.next() == .disconnected(ConnectionID(poolIndex: 1), tag: nil))
            #expect(await events.next() == .connected(ConnectionID(poolIndex: 1), tag: nil))
            _ = try await pool.withConnection { try await $0.withDriverCall { try await $0.status(callOptions: .init()) } }
            #expect(script.record[2] == .disconnect(error: "oops", state: "broken"))
            #expect(script.record[4] == .status(state: "s1"))
        }
    }

    @Test func idleConnectionsArePingedEveryIdleInterval() async throws {
        // Scenario 53/187: ping after a full idle interval; the connection stays ready.
        let script = Script([.ok(state: "s0"), .ok(), .ok()])
        try await withTestPool(script, configure: { $0.idleInterval = .milliseconds(50) }) { pool, clock, events in
            _ = await events.next()
            while pool.metrics().idleConnections < 1 { await Task.yield() }
            // The first tick was armed before the connection joined: no ping yet.
            await clock.waitForSleepers(2)
            clock.advance(by: .milliseconds(50))
            await clock.waitForSleepers(2)
            clock.advance(by: .milliseconds(50))
            await script.waitForRecord(count: 2)
            #expect(script.record == [.connect(poolIndex: 1, label: ""), .ping(state: "s0")])
            while pool.metrics().idleConnections < 1 { await Task.yield() }
            #expect(pool.metrics() == PoolMetrics(idleConnections: 1, busyConnections: 0, queueLength: 0, openConnections: 1))
        }
    }

    @Test func disconnectAllRecyclesTheConnectionWhenItIsCheckedIn() async throws {
        // Scenario 181.
        let script = Script([.ok(state: "s0"), .ok(), .ok(state: "fresh")])
        try await withTestPool(script) { pool, clock, events in
            _ = await events.next()
            pool.disconnectAll()
            clock.advance(by: .milliseconds(1))
            try await pool.withConnection { _ in }
            #expect(await events.next() == .disconnected(ConnectionID(poolIndex: 1), tag: nil))
            #expect(await events.next() == .connected(ConnectionID(poolIndex: 1), tag: nil))
            #expect(script.record[1] == .disconnect(error: "[test] disconnect_all requested", state: "s0"))
        }
    }

    @Test func metricsShowIdleAndBusyConnectionsAndTheQueue() async throws {
        // Scenario 186.
        let script = Script([.ok()])
        try await withTestPool(script) { pool, _, events in
            _ = await events.next()
            while pool.metrics().idleConnections < 1 { await Task.yield() }
            #expect(pool.metrics() == PoolMetrics(idleConnections: 1, busyConnections: 0, queueLength: 0, openConnections: 1))
            try await pool.withConnection { _ in
                #expect(pool.metrics() == PoolMetrics(idleConnections: 0, busyConnections: 1, queueLength: 0, openConnections: 1))
            }
            #expect(pool.metrics().idleConnections == 1)
        }
    }

    @Test func shutdownFailsWaitersAndDisconnectsEveryConnectionExactlyOnce() async throws {
        // Scenario 261 and the shutdown rules.
        let script = Script([.ok(state: "a"), .ok(state: "b"), .ok(), .ok()])
        let clock = ManualClock()
        var config = Config()
        config.poolSize = 2
        let iterator = Events()
        config.connectionListeners = [iterator.listener]
        let pool = try Pool(options: ScriptedOptions(script: script), configuration: config, clock: clock)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await pool.run() }
            _ = await iterator.next()
            _ = await iterator.next()
            let held = try await pool.checkout(options: .init())
            let other = try await pool.checkout(options: .init())
            let waiter = Task { try await pool.withConnection { _ in } }
            while pool.metrics().queueLength < 1 { await Task.yield() }
            group.cancelAll()
            let error = await #expect(throws: ConnectionError.self) { try await waiter.value }
            #expect(error?.reason == .poolShutdown)
            await #expect(throws: ConnectionError.self) { try await pool.withConnection { _ in } }
            pool.checkin(held)
            pool.checkin(other)
            try await group.waitForAll()
        }
        let disconnects = script.record.filter { $0.name == "disconnect" }
        #expect(disconnects.count == 2)
        #expect(Set(disconnects.map(\.stateValue)) == ["a", "b"])
    }

    @Test func tooManyCrashesStopThePoolAndRunThrows() async throws {
        let script = Script([.ok(), .ok(), .ok(), .ok()])
        let clock = ManualClock()
        var config = Config()
        config.maxRestarts = 0
        let pool = try Pool(options: ScriptedOptions(script: script), configuration: config, clock: clock)
        let run = Task { try await pool.run() }
        let lease = try await pool.checkout(options: .init())
        pool.stop(lease, error: Oops())
        let error = await #expect(throws: ConnectionError.self) { try await run.value }
        #expect(error?.reason == .poolStopped)
        #expect(error?.message.contains("maxRestarts 0") == true)
    }

    @Test func aStaleLeaseCheckedInTwiceIsIgnored() async throws {
        let script = Script([.ok()])
        try await withTestPool(script) { pool, _, events in
            _ = await events.next()
            let lease = try await pool.checkout(options: .init())
            pool.checkin(lease)
            let second = try await pool.checkout(options: .init())
            pool.checkin(lease)
            #expect(pool.metrics().busyConnections == 1)
            pool.checkin(second)
            #expect(pool.metrics().idleConnections == 1)
        }
    }
}

/// The listener events of a pool, awaitable one by one.
final class Events: Sendable {
    private let state = Mutex<(events: [ConnectionListener.Event], waiter: CheckedContinuation<ConnectionListener.Event, Never>?)>(([], nil))

    var listener: ConnectionListener {
        ConnectionListener { [self] event in
            let waiter = state.withLock { state -> CheckedContinuation<ConnectionListener.Event, Never>? in
                if let waiter = state.waiter {
                    state.waiter = nil
                    return waiter
                }
                state.events.append(event)
                return nil
            }
            waiter?.resume(returning: event)
        }
    }

    func next() async -> ConnectionListener.Event {
        await withCheckedContinuation { continuation in
            let event = state.withLock { state -> ConnectionListener.Event? in
                if !state.events.isEmpty { return state.events.removeFirst() }
                state.waiter = continuation
                return nil
            }
            if let event { continuation.resume(returning: event) }
        }
    }
}

final class OrderLog: Sendable {
    private let values_ = Mutex<[Int]>([])
    func append(_ value: Int) { values_.withLock { $0.append(value) } }
    var values: [Int] { values_.withLock { $0 } }
}

extension ScriptedCall {
    var disconnectMessage: String {
        if case .disconnect(let message, _) = self { return message }
        return ""
    }
    var stateValue: String? {
        switch self {
        case .connect: nil
        case .disconnect(_, let s), .ping(let s), .begin(let s), .commit(let s), .rollback(let s), .status(let s): s
        case .prepare(_, let s), .close(_, let s): s
        case .execute(_, _, let s), .declare(_, _, let s), .fetch(_, _, let s), .deallocate(_, _, let s): s
        }
    }
}

import Synchronization
