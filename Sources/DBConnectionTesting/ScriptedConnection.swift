public import DBConnection
import Synchronization

/// A driver whose every reply comes from a script, and which records every call: db_connection's
/// TestConnection/TestAgent.
///
/// Script the replies, run the scenario, then compare ``Script/record`` with the exact callback
/// sequence. The connection carries a `state` string that replies can change and that every recorded
/// call shows, so a test sees which state each callback got (as db_connection's tests do).
///
/// ```swift
/// let script = Script([.ok(state: "s0"), .result("R", state: "s1")])
/// ... run the pool with ScriptedConnection.Options(script: script) ...
/// #expect(script.record == [.connect(poolIndex: 1), .execute(query: "Q", params: ["1"], state: "s0")])
/// ```
public final class ScriptedConnection: DatabaseConnection {
    public typealias Options = ScriptedOptions
    public typealias TransactionOptions = EmptyOptions
    public typealias Params = [String]
    public typealias QueryResult = String
    public typealias Query = ScriptedQuery
    public typealias Cursor = String

    /// The script this connection reads.
    public let script: Script
    /// The pool index it was opened for.
    public let poolIndex: Int
    /// What ``ScriptedOptions/executorAffinity`` gave for this connection's pool index.
    public let executorAffinity: ExecutorAffinity?
    private let stateValue: Mutex<String>

    /// The executor affinity the pool sees for the calling task: set it with
    /// `ScriptedConnection.$callerAffinity.withValue(affinity) { ... }`. Default `nil`.
    @TaskLocal public static var callerAffinity: ExecutorAffinity?

    /// ``callerAffinity``.
    public static var currentExecutorAffinity: ExecutorAffinity? { callerAffinity }

    /// The connection's current state value.
    public var state: String { stateValue.withLock { $0 } }

    init(script: Script, poolIndex: Int, state: String, executorAffinity: ExecutorAffinity? = nil) {
        self.script = script
        self.poolIndex = poolIndex
        self.executorAffinity = executorAffinity
        self.stateValue = Mutex(state)
    }

    public static func connect(options: ScriptedOptions, context: ConnectionContext) async throws -> ScriptedConnection {
        let reply = try await options.script.next(.connect(poolIndex: context.poolIndex, label: options.label))
        if let error = reply.error { throw error }
        return ScriptedConnection(
            script: options.script,
            poolIndex: context.poolIndex,
            state: reply.state ?? "state",
            executorAffinity: options.executorAffinity?(context.poolIndex)
        )
    }

    private func step(_ call: (String) -> ScriptedCall) async throws -> ScriptedReply {
        let reply = try await script.next(call(state))
        if let newState = reply.state { stateValue.withLock { $0 = newState } }
        if let error = reply.error { throw error }
        return reply
    }

    public func disconnect(error: any Error) async {
        _ = try? await step { .disconnect(error: "\(error)", state: $0) }
    }

    public func ping() async throws {
        _ = try await step { .ping(state: $0) }
    }

    /// Counts the call (``Script/checkins``); throws ``Script/checkinError`` if set.
    public func checkin() async throws {
        script.noteCheckin()
        if let error = script.checkinError { throw error }
    }

    /// ``Script/checkinNeeded``.
    public var needsCheckin: Bool { script.checkinNeeded }

    /// Counts the interrupt and answers ``Script/interruptOutcome``.
    @discardableResult
    public func interrupt() async -> InterruptOutcome {
        script.noteInterrupt()
    }

    private func transactionReply(_ reply: ScriptedReply) -> TransactionReply<String> {
        if let status = reply.status { return .status(status) }
        if let statement = reply.statement { return .okStatement(reply.result ?? "R", statement: statement) }
        return .ok(reply.result ?? "R")
    }

    public func begin(options: EmptyOptions, callOptions: CallOptions) async throws -> TransactionReply<String> {
        transactionReply(try await step { .begin(state: $0) })
    }

    public func commit(callOptions: CallOptions) async throws -> TransactionReply<String> {
        transactionReply(try await step { .commit(state: $0) })
    }

    public func rollback(callOptions: CallOptions) async throws -> TransactionReply<String> {
        transactionReply(try await step { .rollback(state: $0) })
    }

    public func status(callOptions: CallOptions) async throws -> TransactionStatus {
        try await step { .status(state: $0) }.status ?? .idle
    }

    public func prepare(_ query: ScriptedQuery, callOptions: CallOptions) async throws -> ScriptedQuery {
        try await step { .prepare(query: query.statement, state: $0) }.query ?? query
    }

    public func execute(_ query: ScriptedQuery, params: [String], callOptions: CallOptions) async throws -> (ScriptedQuery, String) {
        let reply = try await step { .execute(query: query.statement, params: params, state: $0) }
        return (reply.query ?? query, reply.result ?? "R")
    }

    public func close(_ query: ScriptedQuery, callOptions: CallOptions) async throws -> String {
        try await step { .close(query: query.statement, state: $0) }.result ?? "R"
    }

    public func declare(_ query: ScriptedQuery, params: [String], callOptions: CallOptions) async throws -> (ScriptedQuery, String) {
        let reply = try await step { .declare(query: query.statement, params: params, state: $0) }
        return (reply.query ?? query, reply.cursor ?? "C")
    }

    public func fetch(_ query: ScriptedQuery, cursor: String, callOptions: CallOptions) async throws -> FetchResult<String> {
        let reply = try await step { .fetch(query: query.statement, cursor: cursor, state: $0) }
        return reply.fetch ?? .done(reply.result ?? "R")
    }

    public func deallocate(_ query: ScriptedQuery, cursor: String, callOptions: CallOptions) async throws -> String {
        try await step { .deallocate(query: query.statement, cursor: cursor, state: $0) }.result ?? "R"
    }
}

/// Connect options of ``ScriptedConnection``.
public struct ScriptedOptions: Sendable {
    /// The script every connection of the pool reads.
    public var script: Script
    /// A label, recorded with `connect` (so `configure` can be seen changing options).
    public var label: String
    /// The ``DBConnection/ExecutorAffinity`` each connection reports, by pool index (from 1);
    /// `nil`: none.
    public var executorAffinity: (@Sendable (Int) -> ExecutorAffinity?)?

    /// Makes options.
    public init(
        script: Script,
        label: String = "",
        executorAffinity: (@Sendable (Int) -> ExecutorAffinity?)? = nil
    ) {
        self.script = script
        self.label = label
        self.executorAffinity = executorAffinity
    }
}

/// The query of ``ScriptedConnection``: a statement, with optional parse/describe/encode/decode steps.
public struct ScriptedQuery: DatabaseQuery, Equatable, ExpressibleByStringLiteral {
    public typealias Params = [String]
    public typealias Result = String

    /// The statement text.
    public var statement: String
    /// Replaces the default parse step.
    public var onParse: (@Sendable (ScriptedQuery) throws -> ScriptedQuery)?
    /// Replaces the default describe step.
    public var onDescribe: (@Sendable (ScriptedQuery) throws -> ScriptedQuery)?
    /// Replaces the default encode step.
    public var onEncode: (@Sendable ([String]) throws -> [String])?
    /// Replaces the default decode step.
    public var onDecode: (@Sendable (String) throws -> String)?

    /// A query with no steps of its own.
    public init(_ statement: String) { self.statement = statement }

    public init(stringLiteral value: String) { self.statement = value }

    public func parse(options: CallOptions) throws -> ScriptedQuery { try onParse?(self) ?? self }
    public func describe(options: CallOptions) throws -> ScriptedQuery { try onDescribe?(self) ?? self }
    public func encode(_ params: [String], options: CallOptions) throws -> [String] { try onEncode?(params) ?? params }
    public func decode(_ result: String, options: CallOptions) throws -> String { try onDecode?(result) ?? result }
    public var statementDescription: String? { statement }

    public static func == (a: ScriptedQuery, b: ScriptedQuery) -> Bool { a.statement == b.statement }
}

/// One recorded callback of ``ScriptedConnection``, with the state it found.
public enum ScriptedCall: Sendable, Hashable, CustomStringConvertible {
    case connect(poolIndex: Int, label: String)
    case disconnect(error: String, state: String)
    case ping(state: String)
    case begin(state: String)
    case commit(state: String)
    case rollback(state: String)
    case status(state: String)
    case prepare(query: String, state: String)
    case execute(query: String, params: [String], state: String)
    case close(query: String, state: String)
    case declare(query: String, params: [String], state: String)
    case fetch(query: String, cursor: String, state: String)
    case deallocate(query: String, cursor: String, state: String)

    /// The callback's name.
    public var name: String {
        switch self {
        case .connect: "connect"
        case .disconnect: "disconnect"
        case .ping: "ping"
        case .begin: "begin"
        case .commit: "commit"
        case .rollback: "rollback"
        case .status: "status"
        case .prepare: "prepare"
        case .execute: "execute"
        case .close: "close"
        case .declare: "declare"
        case .fetch: "fetch"
        case .deallocate: "deallocate"
        }
    }

    public var description: String {
        switch self {
        case .connect(let i, let label): "connect(\(i)\(label.isEmpty ? "" : ", \(label)"))"
        case .disconnect(let e, let s): "disconnect(\(e), \(s))"
        case .execute(let q, let p, let s): "execute(\(q), \(p), \(s))"
        case .declare(let q, let p, let s): "declare(\(q), \(p), \(s))"
        case .fetch(let q, let c, let s): "fetch(\(q), \(c), \(s))"
        case .deallocate(let q, let c, let s): "deallocate(\(q), \(c), \(s))"
        case .prepare(let q, let s), .close(let q, let s): "\(name)(\(q), \(s))"
        case .ping(let s), .begin(let s), .commit(let s), .rollback(let s), .status(let s): "\(name)(\(s))"
        }
    }
}

/// A reply of the script. Every field is optional; a callback uses those it needs.
public struct ScriptedReply: Sendable {
    /// The result value (`execute`, `close`, transaction calls, `deallocate`).
    public var result: String?
    /// The state the connection has after this reply.
    public var state: String?
    /// A status reply of a transaction call, or the answer of `status`.
    public var status: TransactionStatus?
    /// The statement a transaction call reports for the log.
    public var statement: String?
    /// The query `prepare`/`execute`/`declare` return.
    public var query: ScriptedQuery?
    /// The cursor `declare` returns.
    public var cursor: String?
    /// The reply of `fetch`.
    public var fetch: FetchResult<String>?
    /// An error to throw (wrap it in ``DisconnectError`` for a disconnect).
    public var error: (any Error)?

    /// Makes a reply.
    public init(
        result: String? = nil,
        state: String? = nil,
        status: TransactionStatus? = nil,
        statement: String? = nil,
        query: ScriptedQuery? = nil,
        cursor: String? = nil,
        fetch: FetchResult<String>? = nil,
        error: (any Error)? = nil
    ) {
        self.result = result
        self.state = state
        self.status = status
        self.statement = statement
        self.query = query
        self.cursor = cursor
        self.fetch = fetch
        self.error = error
    }
}

/// One step of a script: a fixed reply, or a function of the call (to block, signal, or decide).
public struct ScriptStep: Sendable {
    let reply: @Sendable (ScriptedCall) async throws -> ScriptedReply

    /// A step that computes its reply; it may suspend (to wait for a ``Gate``) or throw.
    public static func perform(_ body: @escaping @Sendable (ScriptedCall) async throws -> ScriptedReply) -> ScriptStep {
        ScriptStep(reply: body)
    }

    /// Success, optionally with a new state (`connect`, `ping`, `disconnect`, ...).
    public static func ok(state: String? = nil) -> ScriptStep { .reply(ScriptedReply(state: state)) }
    /// Success with a result.
    public static func result(_ result: String = "R", state: String? = nil) -> ScriptStep {
        .reply(ScriptedReply(result: result, state: state))
    }
    /// A status: the answer of `status`, or a status reply of a transaction call.
    public static func status(_ status: TransactionStatus, state: String? = nil) -> ScriptStep {
        .reply(ScriptedReply(state: state, status: status))
    }
    /// db_connection's `{:error, e, state}`: throw `error`, keep the connection.
    public static func error(_ error: any Error, state: String? = nil) -> ScriptStep {
        .reply(ScriptedReply(state: state, error: error))
    }
    /// db_connection's `{:disconnect, e, state}`.
    public static func disconnect(_ error: any Error, state: String? = nil) -> ScriptStep {
        .reply(ScriptedReply(state: state, error: DisconnectError(error)))
    }
    /// db_connection's `{:disconnect_and_retry, e, state}`.
    public static func disconnectAndRetry(_ error: any Error, state: String? = nil) -> ScriptStep {
        .reply(ScriptedReply(state: state, error: DisconnectError(error, retry: true)))
    }
    /// A `fetch` reply with more to come.
    public static func more(_ result: String = "R", state: String? = nil) -> ScriptStep {
        .reply(ScriptedReply(state: state, fetch: .more(result)))
    }
    /// The last `fetch` reply.
    public static func done(_ result: String = "R", state: String? = nil) -> ScriptStep {
        .reply(ScriptedReply(state: state, fetch: .done(result)))
    }
    /// A fixed reply.
    public static func reply(_ reply: ScriptedReply) -> ScriptStep {
        ScriptStep { _ in reply }
    }
}

/// The script shared by the connections of a pool, and the record of what they were asked.
public final class Script: Sendable {
    private struct State {
        var steps: [ScriptStep]
        var record: [ScriptedCall] = []
        var interrupts = 0
        var interruptOutcome: InterruptOutcome = .unconfirmed
        var checkinError: (any Error)?
        var checkinNeeded = true
        var checkins = 0
        var watchers: [(Int, CheckedContinuation<Void, Never>)] = []
    }

    private let state: Mutex<State>

    /// The error a callback throws when the script has no step left.
    public struct Exhausted: Error, Sendable, CustomStringConvertible {
        /// The call that found the script empty.
        public var call: ScriptedCall
        public var description: String { "script exhausted at \(call)" }
    }

    /// Makes a script.
    public init(_ steps: [ScriptStep] = []) {
        self.state = Mutex(State(steps: steps))
    }

    /// Appends steps.
    public func append(_ steps: ScriptStep...) {
        state.withLock { $0.steps += steps }
    }

    /// Every call so far, in order.
    public var record: [ScriptedCall] { state.withLock { $0.record } }

    /// How many steps are left.
    public var remaining: Int { state.withLock { $0.steps.count } }

    /// How many times the pool interrupted a running call.
    public var interrupts: Int { state.withLock { $0.interrupts } }

    /// What ``ScriptedConnection/interrupt()`` answers. Default ``InterruptOutcome/unconfirmed``
    /// (the pool closes a connection whose call overran its deadline).
    public var interruptOutcome: InterruptOutcome {
        get { state.withLock { $0.interruptOutcome } }
        set { state.withLock { $0.interruptOutcome = newValue } }
    }

    /// What ``ScriptedConnection/checkin()`` throws; `nil` (the default): it passes. Not a script step,
    /// so that scripts need no step per lease.
    public var checkinError: (any Error)? {
        get { state.withLock { $0.checkinError } }
        set { state.withLock { $0.checkinError = newValue } }
    }

    /// What ``ScriptedConnection/needsCheckin`` answers. Default `true`: ``ScriptedConnection/checkin()``
    /// runs at the end of every lease.
    public var checkinNeeded: Bool {
        get { state.withLock { $0.checkinNeeded } }
        set { state.withLock { $0.checkinNeeded = newValue } }
    }

    /// How many times the pool called ``ScriptedConnection/checkin()``.
    public var checkins: Int { state.withLock { $0.checkins } }

    func noteCheckin() {
        state.withLock { $0.checkins += 1 }
    }

    func noteInterrupt() -> InterruptOutcome {
        state.withLock {
            $0.interrupts += 1
            return $0.interruptOutcome
        }
    }

    /// Returns once at least `count` calls were recorded.
    public func waitForRecord(count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready: Bool = state.withLock { state in
                if state.record.count >= count { return true }
                state.watchers.append((count, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    func next(_ call: ScriptedCall) async throws -> ScriptedReply {
        let (step, ready): (ScriptStep?, [CheckedContinuation<Void, Never>]) = state.withLock { state in
            state.record.append(call)
            let count = state.record.count
            var ready: [CheckedContinuation<Void, Never>] = []
            state.watchers.removeAll { watcher in
                if watcher.0 <= count {
                    ready.append(watcher.1)
                    return true
                }
                return false
            }
            return (state.steps.isEmpty ? nil : state.steps.removeFirst(), ready)
        }
        for continuation in ready { continuation.resume() }
        guard let step else { throw Exhausted(call: call) }
        return try await step.reply(call)
    }
}

/// A one-shot gate: tasks wait until a test opens it. For scripted steps that must block.
public final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    /// Makes a closed gate.
    public init() {}

    /// Waits until the gate is open.
    public func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let open: Bool = state.withLock {
                if $0.open { return true }
                $0.waiters.append(continuation)
                return false
            }
            if open { continuation.resume() }
        }
    }

    /// Opens the gate and lets every waiter through.
    public func open() {
        let waiters = state.withLock { state in
            state.open = true
            let waiters = state.waiters
            state.waiters = []
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Whether it is open.
    public var isOpen: Bool { state.withLock { $0.open } }
}
