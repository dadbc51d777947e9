import NIOCore

// Direct execution: the driver runs an execution of a cached prepared statement itself.
//
// PostgresNIO prepares the statement (Parse, Describe, Sync) and the observer notes its name and its
// result column types on the way. Every later execution is one Bind (binary parameters, binary
// results), Execute and Sync that the observer writes into the channel and whose answer it reads
// (BindComplete, DataRow…, CommandComplete or an ErrorResponse, ReadyForQuery) without passing it
// on: the same bytes PostgresNIO would send, without its request objects, futures and row streams.
//
// PostgresNIO stays consistent because it never sees the exchange and is idle during it: the
// observer writes the Bind only when every ReadyForQuery owed for PostgresNIO's own messages has
// arrived and its inbound framing stands between two messages. Should PostgresNIO send something
// while the exchange runs, the server answers it after the exchange's ReadyForQuery, and the bytes
// after that ReadyForQuery are passed on. Asynchronous messages that arrive during the exchange
// (NoticeResponse, NotificationResponse, ParameterStatus) are passed on as they come.

/// One statement the observer runs itself; made by ``PGConnection``, run on the channel's event loop.
struct DirectCall: Sendable {
    /// Bind, Execute and Sync: set when the call is made, taken when it is sent (once), so the call on
    /// the wire neither keeps the buffer nor holds an empty one in its place.
    var request: ByteBuffer?
    /// The result's column types, from the statement's RowDescription.
    var columnTypes: [UInt32]
    var continuation: UnsafeContinuation<DirectOutcome, any Error>
    var rows: [[PGValue]] = []
    var commandTag = ""
    /// The execution's error, if any. Boxed: a `PGError` is a few hundred bytes, and a call moves
    /// (queue, wire, reader) several times per statement; the box keeps each move a few words.
    var failure: Failure?

    /// A boxed ``PGError``.
    final class Failure: Sendable {
        let error: PGError
        init(_ error: PGError) { self.error = error }
    }

    /// The start of every Bind of `statement` up to its parameter values: the type, a length to fill
    /// in, the unnamed portal, the statement's name, the parameters' format codes (all binary) and
    /// their count. A cached statement keeps it, so an execution writes it in one go.
    static func bindPrefix(statement: String, parameterCount: Int) -> [UInt8] {
        var prefix: [UInt8] = [UInt8(ascii: "B"), 0, 0, 0, 0, 0]  // type, length, the unnamed portal
        prefix.append(contentsOf: statement.utf8)
        prefix.append(0)
        // One format code for all parameters (binary), or none when there are none.
        prefix.append(contentsOf: parameterCount == 0 ? [0, 0] : [0, 1, 0, 1])
        prefix.append(UInt8(truncatingIfNeeded: parameterCount >> 8))
        prefix.append(UInt8(truncatingIfNeeded: parameterCount))
        return prefix
    }

    /// Execute of the unnamed portal, every row; then Sync.
    static let executeAndSync: [UInt8] = [UInt8(ascii: "E"), 0, 0, 0, 9, 0, 0, 0, 0, 0, UInt8(ascii: "S"), 0, 0, 0, 4]
    /// What follows the parameter values: one result format code for all columns (binary), which
    /// ends the Bind, then ``executeAndSync``.
    static let trailer: [UInt8] = [0, 1, 0, 1] + executeAndSync

    /// The Bind, Execute and Sync messages for one execution: `bindPrefix` (from
    /// ``bindPrefix(statement:parameterCount:)``), every parameter (each encoded as its type in
    /// `types`, straight into the message), ``trailer`` (every result column in binary format).
    /// - Throws: ``PGError`` ``PGError/Code/invalidValue`` naming the parameter (`parameter $2: …`)
    ///   when a value does not convert to its parameter's type.
    static func request(bindPrefix: [UInt8], params: [PGValue], types: [UInt32]) throws(PGError) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: bindPrefix.count + trailer.count + 16 * params.count)
        buffer.writeBytes(bindPrefix)
        for (index, (value, type)) in zip(params, types).enumerated() {
            let sizeIndex = buffer.writerIndex
            buffer.writeInteger(Int32(-1))
            do {
                if try PGEncoding.writeBinary(value, as: type, into: &buffer) {
                    buffer.setInteger(Int32(buffer.writerIndex - sizeIndex - 4), at: sizeIndex)
                }
            } catch {
                var error = error
                error.message = "parameter $\(index + 1): " + error.message
                throw error
            }
        }
        buffer.writeBytes(trailer)
        // The Bind's length counts from its length field (after the type byte) to its end.
        let bindEnd = buffer.writerIndex - executeAndSync.count
        buffer.setInteger(Int32(bindEnd - buffer.readerIndex - 1), at: buffer.readerIndex + 1)
        return buffer
    }
}

/// What a direct execution returns: the decoded rows and the command tag.
struct DirectOutcome: Sendable {
    var rows: [[PGValue]]
    var commandTag: String
}

extension BackendObserver {
    /// Sends a direct execution, or queues it behind others or behind PostgresNIO's own exchange; on
    /// the event loop.
    func startDirect(_ call: consuming DirectCall) {
        guard !passive, let context, context.channel.isActive else {
            call.continuation.resume(throwing: PGError(.connectionClosed, message: "the connection is closed"))
            return
        }
        if queuedDirectCalls.isEmpty, canSendDirect {
            sendDirect(call, context: context)
        } else {
            queuedDirectCalls.append(call)
        }
    }

    /// Sends the first queued direct execution when none is on the wire and PostgresNIO has nothing
    /// on the wire either.
    func sendDirectIfReady() {
        guard let context, !queuedDirectCalls.isEmpty, canSendDirect else { return }
        sendDirect(queuedDirectCalls.removeFirst(), context: context)
    }

    /// Whether a direct execution may go on the wire now: none is there, and PostgresNIO's side is
    /// settled (every ReadyForQuery it is owed has come) between two messages.
    private var canSendDirect: Bool {
        directCallOnWire == nil && inbound.atBoundary && state.isSettled
    }

    private func sendDirect(_ call: consuming DirectCall, context: ChannelHandlerContext) {
        guard let request = call.request.take() else { preconditionFailure("a direct call is sent once") }
        directCallOnWire = consume call
        state.sent(readyOwed: 1)
        context.writeAndFlush(wrapOutboundOut(request), promise: nil)
    }

    /// Reads the answer of the direct execution on the wire, up to and including its ReadyForQuery;
    /// leaves what follows in `buffer`.
    ///
    /// The call is taken out of ``directCallOnWire`` for the read and put back unless it ended, so the
    /// rows grow in a value this function owns (no copy on write, one property access per read
    /// instead of several per message).
    func readDirect(context: ChannelHandlerContext, _ buffer: inout ByteBuffer) {
        guard var call = directCallOnWire.take() else { return }
        while let message = inbound.next(from: &buffer, interesting: { _ in true }) {
            var body = message.body ?? ByteBuffer()
            switch message.type {
            case UInt8(ascii: "2"), UInt8(ascii: "I"):
                break  // BindComplete, EmptyQueryResponse
            case UInt8(ascii: "D"):
                guard call.failure == nil else { break }
                do {
                    call.rows.append(try Self.decodeRow(&body, types: call.columnTypes))
                } catch {
                    call.failure = DirectCall.Failure(error)
                }
            case UInt8(ascii: "C"):
                call.commandTag = body.readNullTerminatedString() ?? ""
            case UInt8(ascii: "E"):
                // The server's error wins over a decoding error of ours.
                if call.failure?.error.code != .server { call.failure = DirectCall.Failure(Self.serverError(&body)) }
            case UInt8(ascii: "Z"):
                let status = body.readInteger(as: UInt8.self) ?? UInt8(ascii: "E")
                state.received(readyForQuery: status)
                if let failure = call.failure {
                    call.continuation.resume(throwing: failure.error)
                } else {
                    call.continuation.resume(returning: DirectOutcome(rows: call.rows, commandTag: call.commandTag))
                }
                return
            case UInt8(ascii: "N"), UInt8(ascii: "A"), UInt8(ascii: "S"):
                // Asynchronous messages are PostgresNIO's to handle. The call goes back while
                // PostgresNIO runs: should it close the channel, the close fails the call.
                directCallOnWire = call
                forward(type: message.type, body: &body, context: context)
                guard let stillOnWire = directCallOnWire.take() else { return }
                call = stillOnWire
            default:
                let type = Character(Unicode.Scalar(message.type))
                directCallOnWire = call
                failDirectAndClose(
                    PGError(
                        .protocolViolation,
                        message: "the server sent message '\(type)' during a statement's execution"
                    ),
                    context: context
                )
                return
            }
        }
        directCallOnWire = call
        if inbound.isCorrupt {
            failDirectAndClose(
                PGError(.protocolViolation, message: "the server's messages could not be framed"),
                context: context
            )
        }
    }

    /// Fails every direct execution, sent or queued.
    func failDirect(_ error: PGError) {
        let calls = (directCallOnWire.take().map { [$0] } ?? []) + queuedDirectCalls
        queuedDirectCalls.removeAll()
        for call in calls { call.continuation.resume(throwing: error) }
    }

    private func failDirectAndClose(_ error: PGError, context: ChannelHandlerContext) {
        stopObserving(error.message)
        failDirect(error)
        context.close(promise: nil)
    }

    private func forward(type: UInt8, body: inout ByteBuffer, context: ChannelHandlerContext) {
        markForwarded()
        var message = context.channel.allocator.buffer(capacity: 5 + body.readableBytes)
        message.writeInteger(type)
        message.writeInteger(Int32(4 + body.readableBytes))
        message.writeBuffer(&body)
        context.fireChannelRead(wrapInboundOut(message))
    }

    /// DataRow: a count, then per column a length (-1 for `NULL`) and the value's bytes.
    static func decodeRow(_ body: inout ByteBuffer, types: [UInt32]) throws(PGError) -> [PGValue] {
        guard let count = body.readInteger(as: Int16.self), Int(count) == types.count else {
            throw PGError(
                .protocolViolation,
                message: "a row came with a different number of columns than the statement described"
            )
        }
        var row: [PGValue] = []
        row.reserveCapacity(types.count)
        for type in types {
            guard let length = body.readInteger(as: Int32.self) else {
                throw PGError(.protocolViolation, message: "a row ended early")
            }
            if length < 0 {
                row.append(.null)
                continue
            }
            guard var bytes = body.readSlice(length: Int(length)) else {
                throw PGError(.protocolViolation, message: "a row ended early")
            }
            row.append(try PGBinaryDecoding.value(typeOID: type, buffer: &bytes))
        }
        return row
    }

    /// ErrorResponse: fields, each a one-letter code and a string, up to a zero byte.
    static func serverError(_ body: inout ByteBuffer) -> PGError {
        var fields: [Character: String] = [:]
        while let code = body.readInteger(as: UInt8.self), code != 0, let value = body.readNullTerminatedString() {
            fields[Character(Unicode.Scalar(code))] = value
        }
        return PGError(serverFields: { fields[$0] }, query: nil, underlying: nil)
    }
}
