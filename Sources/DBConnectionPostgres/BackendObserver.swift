import NIOCore
import NIOSSL
import Synchronization

// PostgresNIO keeps the server's transaction indicator (ReadyForQuery) and the cancel key
// (BackendKeyData) to itself. The driver makes the channel itself and puts a handler of its own in
// front of PostgresNIO's, which reads the same bytes PostgresNIO reads, before PostgresNIO does:
//
//   [BackendObserver] -> PostgresChannelHandler -> PSQLEventsHandler                      (plain TCP)
//   [BackendObserver (passive)] -> NIOSSLClientHandler -> [BackendObserver] -> Postgres…  (TLS)
//
// With TLS, PostgresNIO adds the TLS handler in front of its own when the server answers 'S' to the
// SSLRequest. The first observer sees that answer, and right after PostgresNIO has added the TLS
// handler (synchronously, inside the same read) it adds a second observer after the TLS handler,
// where the bytes are plain again, and becomes passive. Nothing is encrypted yet at that point: the
// server waits for the client's TLS hello.
//
// The observer never changes a byte. It counts the Sync and Query messages PostgresNIO sends (each
// one gets exactly one ReadyForQuery back), so a status read after a call waits for the
// ReadyForQuery of every message already sent: the status is the server's, never a guess.

/// What one connection's observers learned from the server; shared by them and the connection.
final class BackendState: Sendable {
    private struct State {
        /// The transaction indicator of the last ReadyForQuery: `I`, `T` or `E`.
        var status: UInt8 = UInt8(ascii: "I")
        var processID: Int32?
        var secretKey: Int32?
        /// ReadyForQuery messages owed: one per StartupMessage, Sync and Query sent.
        var expectedReady = 0
        var receivedReady = 0
        var waiters: [Int: CheckedContinuation<UInt8, any Error>] = [:]
        var nextWaiter = 0
        var closed = false
        var unobservable: String?
        /// The last RowDescription's column names (`[]` after NoData) since the last Parse or Bind.
        var columns: [String]?
        /// The last RowDescription's type OIDs, one per column of ``columns``.
        var columnTypes: [UInt32]?
        /// The statement name of the last Parse sent.
        var parsedName: String?
        /// The observer that reads the plain protocol bytes (behind TLS when there is TLS), for
        /// statements the driver runs itself; `nil` once the connection closed or is unobservable.
        var directObserver: NIOLoopBound<BackendObserver>?
        /// The last CommandComplete's tag since the last Parse or Bind.
        var commandTag: String?
        /// The last ParameterDescription's type OIDs since the last Parse.
        var parameterTypes: [UInt32]?
    }

    private let state = Mutex(State())

    init() {}

    // MARK: Reported by the observers (on the event loop)

    func sent(readyOwed count: Int) {
        state.withLock { $0.expectedReady += count }
    }

    /// A Parse went out (`name`: its statement name, `nil` when unreadable): what the last statement
    /// described is forgotten until the server describes the new one.
    func sentParse(name: String?) {
        state.withLock {
            $0.columns = nil
            $0.columnTypes = nil
            $0.commandTag = nil
            $0.parameterTypes = nil
            $0.parsedName = name
        }
    }

    /// A Bind went out: the last result's columns and tag are forgotten until its answer arrives.
    func sentBind() {
        state.withLock {
            $0.columns = nil
            $0.columnTypes = nil
            $0.commandTag = nil
        }
    }

    func attach(_ observer: NIOLoopBound<BackendObserver>) {
        state.withLock { $0.directObserver = observer }
    }

    func detach(_ observer: BackendObserver) {
        state.withLock {
            if $0.directObserver?.value === observer { $0.directObserver = nil }
        }
    }

    func received(parameterTypes: [UInt32]) {
        state.withLock { $0.parameterTypes = parameterTypes }
    }

    func received(readyForQuery status: UInt8) {
        let ready: [CheckedContinuation<UInt8, any Error>] = state.withLock { state in
            state.status = status
            state.receivedReady += 1
            guard state.receivedReady >= state.expectedReady, !state.waiters.isEmpty else { return [] }
            let waiters = Array(state.waiters.values)
            state.waiters.removeAll()
            return waiters
        }
        for waiter in ready { waiter.resume(returning: status) }
    }

    func received(processID: Int32, secretKey: Int32) {
        state.withLock {
            $0.processID = processID
            $0.secretKey = secretKey
        }
    }

    func received(columns: [String], types: [UInt32]) {
        state.withLock {
            $0.columns = columns
            $0.columnTypes = types
        }
    }

    func received(commandTag: String) {
        state.withLock { $0.commandTag = commandTag }
    }

    func closed() {
        fail { $0.closed = true }
    }

    func markUnobservable(_ reason: String) {
        fail { $0.unobservable = $0.unobservable ?? reason }
    }

    private func fail(_ change: (inout State) -> Void) {
        let (waiters, error): ([CheckedContinuation<UInt8, any Error>], PGError?) = state.withLock { state in
            change(&state)
            state.directObserver = nil
            let waiters = Array(state.waiters.values)
            state.waiters.removeAll()
            return (waiters, Self.failure(of: state))
        }
        for waiter in waiters {
            waiter.resume(throwing: error ?? PGError(.connectionClosed, message: "the connection is closed"))
        }
    }

    private static func failure(of state: State) -> PGError? {
        guard hasFailed(state) else { return nil }
        if let reason = state.unobservable {
            return PGError(
                .unobservable,
                message: "the driver cannot read the server's messages on this connection (\(reason))"
            )
        }
        return PGError(.connectionClosed, message: "the connection is closed")
    }

    /// Whether the connection is closed or unobservable: whether ``failure(of:)`` has an error, without
    /// making it.
    private static func hasFailed(_ state: State) -> Bool {
        state.unobservable != nil || state.closed
    }

    // MARK: Read by the connection

    /// The cancel key from BackendKeyData, once the server sent it.
    var backendKey: (processID: Int32, secretKey: Int32)? {
        state.withLock {
            guard let processID = $0.processID, let secretKey = $0.secretKey else { return nil }
            return (processID, secretKey)
        }
    }

    /// Whether the connection closed.
    var isClosed: Bool { state.withLock { $0.closed } }

    /// The column names and the command tag of the last statement.
    func lastResult() -> (columns: [String]?, commandTag: String?) {
        state.withLock { ($0.columns, $0.commandTag) }
    }

    /// The parameter types of the last statement parsed (and described).
    func lastParameterTypes() -> [UInt32]? {
        state.withLock { $0.parameterTypes }
    }

    /// What the last prepare told: the statement's name on the server and its result column types.
    func lastPrepared() -> (name: String?, columnTypes: [UInt32]?) {
        state.withLock { ($0.parsedName, $0.columnTypes) }
    }

    /// The observer that runs statements itself, while the connection is open and observable.
    var directObserver: NIOLoopBound<BackendObserver>? {
        state.withLock { $0.directObserver }
    }

    /// Whether ``readyStatus()`` would answer idle (`I`) at once: every ReadyForQuery owed has arrived,
    /// the last one said idle, and the connection is open and observable. What
    /// ``PGConnection/checkin()`` would find without waiting.
    ///
    /// Read once per lease (``PGConnection/needsCheckin``), so it tests the state itself rather than
    /// building a `Readiness`, whose error payload is a few hundred bytes to fill and copy.
    var isSettledAndIdle: Bool {
        state.withLock { state in
            !Self.hasFailed(state) && state.receivedReady >= state.expectedReady && state.status == UInt8(ascii: "I")
        }
    }

    private enum Readiness {
        case ready(UInt8)
        case failed(PGError)
        case wait
    }

    /// The status every ReadyForQuery owed has settled on, the connection's failure, or `.wait`.
    private static func readiness(of state: State) -> Readiness {
        if let error = failure(of: state) { return .failed(error) }
        return state.receivedReady >= state.expectedReady ? .ready(state.status) : .wait
    }

    /// Whether every ReadyForQuery owed has arrived: nothing sent is still being answered.
    var isSettled: Bool {
        state.withLock { $0.receivedReady >= $0.expectedReady }
    }

    /// The transaction indicator of the server's latest ReadyForQuery, after waiting for every
    /// ReadyForQuery owed for messages already sent.
    /// - Throws: ``PGError`` when the connection closed first; `CancellationError` when the task is cancelled.
    func readyStatus() async throws -> UInt8 {
        switch state.withLock({ Self.readiness(of: $0) }) {
        case .ready(let status): return status
        case .failed(let error): throw error
        case .wait: break
        }
        let id = state.withLock {
            $0.nextWaiter += 1
            return $0.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<UInt8, any Error>) in
                let immediate: Result<UInt8, any Error>? = state.withLock {
                    if Task.isCancelled { return .failure(CancellationError()) }
                    switch Self.readiness(of: $0) {
                    case .ready(let status): return .success(status)
                    case .failed(let error): return .failure(error)
                    case .wait:
                        $0.waiters[id] = continuation
                        return nil
                    }
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(throwing: CancellationError())
        }
    }
}

/// Reads the messages between the server and PostgresNIO, and tells ``BackendState`` what it saw.
final class BackendObserver: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let state: BackendState
    var inbound = MessageScanner(typed: true)
    private var outbound = MessageScanner(typed: false)
    private var awaitingSSLResponse = false
    private(set) var passive = false
    /// This handler's context while it is in the pipeline.
    private(set) var context: ChannelHandlerContext?
    /// The statement the driver runs itself (``DirectCall``) whose answer is being read.
    var directCallOnWire: DirectCall?
    /// Statements the driver runs itself waiting for their turn, in order.
    var queuedDirectCalls: [DirectCall] = []
    /// What the reads since the last channelReadComplete were: a read cycle whose bytes all went to
    /// direct executions passed nothing on, so its channelReadComplete is not passed on either
    /// (PostgresNIO, idle throughout, would only answer it with nothing to do).
    private var readCycle = ReadCycle.none

    private enum ReadCycle {
        case none
        case directOnly
        case forwarded
    }

    /// Makes an observer.
    /// - Parameter state: where to report.
    init(state: BackendState) {
        self.state = state
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if !passive { state.attach(NIOLoopBound(self, eventLoop: context.eventLoop)) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !passive else {
            context.fireChannelRead(data)
            return
        }
        var buffer = unwrapInboundIn(data)
        if directCallOnWire != nil {
            if readCycle == .none { readCycle = .directOnly }
            readDirect(context: context, &buffer)
            if buffer.readableBytes > 0 {
                // What follows the statement's ReadyForQuery is PostgresNIO's again.
                var rest = buffer
                scanInbound(&rest)
                readCycle = .forwarded
                context.fireChannelRead(wrapInboundOut(buffer))
            }
            // The next direct execution, if one is queued and PostgresNIO has nothing on the wire.
            sendDirectIfReady()
            return
        }
        if awaitingSSLResponse, let answer = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) {
            awaitingSSLResponse = false
            switch answer {
            case UInt8(ascii: "S"):
                // PostgresNIO adds its TLS handler while it reads this byte; observe behind it.
                passive = true
                state.detach(self)
                context.fireChannelRead(data)
                observeBehindTLS(context: context)
                return
            case UInt8(ascii: "N"):
                buffer.moveReaderIndex(forwardBy: 1)
            default:
                break  // An ErrorResponse from a server that does not know SSLRequest.
            }
        }
        scanInbound(&buffer)
        readCycle = .forwarded
        context.fireChannelRead(data)
        sendDirectIfReady()
    }

    /// Something of this read cycle went on to PostgresNIO: so does its channelReadComplete.
    func markForwarded() {
        readCycle = .forwarded
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        let cycle = readCycle
        readCycle = .none
        if cycle != .directOnly { context.fireChannelReadComplete() }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if !passive {
            var buffer = unwrapOutboundIn(data)
            scanOutbound(&buffer)
        }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.closed()
        failDirect(PGError(.connectionClosed, message: "the connection closed during the statement"))
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if !passive, context.channel.isActive {
            state.markUnobservable("the observer was removed from the pipeline")
        }
        state.detach(self)
        failDirect(PGError(.unobservable, message: "the driver's observer left the pipeline during the statement"))
        self.context = nil
    }

    private func observeBehindTLS(context: ChannelHandlerContext) {
        do {
            let tls = try context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)
            try context.pipeline.syncOperations.addHandler(BackendObserver(state: state), position: .after(tls))
        } catch {
            state.markUnobservable("no TLS handler to observe behind after the server accepted TLS: \(error)")
        }
    }

    private func scanInbound(_ buffer: inout ByteBuffer) {
        while let message = inbound.next(from: &buffer, interesting: Self.interestingInbound) {
            guard var body = message.body else { continue }
            switch message.type {
            case UInt8(ascii: "Z"):
                if let status = body.readInteger(as: UInt8.self) { state.received(readyForQuery: status) }
            case UInt8(ascii: "K"):
                if let processID = body.readInteger(as: Int32.self), let secretKey = body.readInteger(as: Int32.self) {
                    state.received(processID: processID, secretKey: secretKey)
                }
            case UInt8(ascii: "T"):
                let (names, types) = Self.columns(&body)
                state.received(columns: names, types: types)
            case UInt8(ascii: "n"):
                state.received(columns: [], types: [])
            case UInt8(ascii: "C"):
                state.received(commandTag: body.readNullTerminatedString() ?? "")
            case UInt8(ascii: "t"):
                var types: [UInt32] = []
                if let count = body.readInteger(as: UInt16.self), count > 0 {
                    types.reserveCapacity(Int(count))
                    for _ in 0..<count {
                        guard let type = body.readInteger(as: UInt32.self) else { break }
                        types.append(type)
                    }
                }
                state.received(parameterTypes: types)
            default:
                break
            }
        }
        if inbound.isCorrupt { stopObserving("the server's messages could not be framed") }
    }

    private func scanOutbound(_ buffer: inout ByteBuffer) {
        var readyOwed = 0
        while let message = outbound.next(from: &buffer, interesting: Self.interestingOutbound) {
            switch message.type {
            case 0:
                // Untyped: SSLRequest, or the StartupMessage after which every message is typed.
                guard var body = message.body, let code = body.readInteger(as: UInt32.self) else { continue }
                if code == 80_877_103 {
                    awaitingSSLResponse = true
                } else if code >> 16 == 3 {
                    readyOwed += 1
                    outbound.typed = true
                }
            case UInt8(ascii: "S"), UInt8(ascii: "Q"):
                readyOwed += 1
            case UInt8(ascii: "P"):
                var body = message.body
                state.sentParse(name: body?.readNullTerminatedString())
            case UInt8(ascii: "B"):
                state.sentBind()
            default:
                break
            }
        }
        if readyOwed > 0 { state.sent(readyOwed: readyOwed) }
        if outbound.isCorrupt { stopObserving("the client's messages could not be framed") }
    }

    func stopObserving(_ reason: String) {
        passive = true
        state.markUnobservable(reason)
        failDirect(PGError(.unobservable, message: "the driver cannot read the server's messages (\(reason))"))
    }

    private static func interestingInbound(_ type: UInt8) -> Bool {
        switch type {
        case UInt8(ascii: "Z"), UInt8(ascii: "K"), UInt8(ascii: "T"), UInt8(ascii: "n"), UInt8(ascii: "C"),
            UInt8(ascii: "t"):
            true
        default: false
        }
    }

    private static func interestingOutbound(_ type: UInt8) -> Bool {
        type == 0 || type == UInt8(ascii: "P")
    }

    /// RowDescription: a count, then per column its name and 18 bytes of attributes (table OID,
    /// column number, type OID, type size, type modifier, format).
    static func columns(_ body: inout ByteBuffer) -> (names: [String], types: [UInt32]) {
        guard let count = body.readInteger(as: UInt16.self), count > 0 else { return ([], []) }
        var names: [String] = []
        var types: [UInt32] = []
        names.reserveCapacity(Int(count))
        types.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let name = body.readNullTerminatedString(), body.readableBytes >= 18 else { break }
            names.append(name)
            types.append(body.getInteger(at: body.readerIndex + 6, as: UInt32.self) ?? 0)
            body.moveReaderIndex(forwardBy: 18)
        }
        return (names, types)
    }
}

/// Frames a stream of protocol messages that may arrive in pieces: typed ones (a type byte, then a
/// length that counts itself) or untyped ones (a length only: SSLRequest, StartupMessage).
struct MessageScanner {
    /// One framed message: its type (0 when untyped) and, when it was asked for, its body.
    struct Message {
        var type: UInt8
        var body: ByteBuffer?
    }

    /// Whether messages start with a type byte.
    var typed: Bool
    /// Set when a length made no sense; the scanner then stops.
    private(set) var isCorrupt = false
    private var header: [UInt8] = []
    private var bodyType: UInt8 = 0
    private var remaining = 0
    private var collected: ByteBuffer?
    private var inBody = false

    /// Whether the scanner stands between two messages (no message partly read).
    var atBoundary: Bool { !inBody && header.isEmpty }

    init(typed: Bool) {
        self.typed = typed
        header.reserveCapacity(5)
    }

    /// The next complete message, consuming `buffer`; `nil` when the buffer ends first.
    mutating func next(from buffer: inout ByteBuffer, interesting: (UInt8) -> Bool) -> Message? {
        while !isCorrupt {
            if !inBody {
                let headerSize = typed ? 5 : 4
                let length: Int32
                if header.isEmpty, buffer.readableBytes >= headerSize {
                    // The whole header is here (the usual case): read it in place, no copy.
                    bodyType = typed ? buffer.readInteger(as: UInt8.self)! : 0
                    length = buffer.readInteger(as: Int32.self)!
                } else {
                    while header.count < headerSize, let byte = buffer.readInteger(as: UInt8.self) {
                        header.append(byte)
                    }
                    guard header.count == headerSize else { return nil }
                    length = header.suffix(4).reduce(Int32(0)) { $0 << 8 | Int32($1) }
                    bodyType = typed ? header[0] : 0
                    header.removeAll(keepingCapacity: true)
                }
                guard length >= 4 else {
                    isCorrupt = true
                    return nil
                }
                remaining = Int(length) - 4
                inBody = true
                if interesting(bodyType) {
                    if buffer.readableBytes >= remaining {
                        // The whole body is here: no copy.
                        inBody = false
                        return Message(type: bodyType, body: buffer.readSlice(length: remaining))
                    }
                    collected = ByteBuffer()
                    collected?.reserveCapacity(remaining)
                } else {
                    collected = nil
                }
            }
            let take = min(remaining, buffer.readableBytes)
            if collected != nil {
                var slice = buffer.readSlice(length: take)!
                collected!.writeBuffer(&slice)
            } else {
                buffer.moveReaderIndex(forwardBy: take)
            }
            remaining -= take
            guard remaining == 0 else { return nil }
            inBody = false
            let body = collected
            collected = nil
            return Message(type: bodyType, body: body)
        }
        return nil
    }
}
