// The floor of a PostgreSQL client on SwiftNIO: pgbench's select-only statement written and read by a
// bare channel handler, with no driver, no pool and no client API, for scripts/bench-postgres.sh.
//
//     pg-wire-floor --url postgres://user@127.0.0.1:PORT/db --clients 8 --duration 10 [--mode callbacks|tasks]
//
// prints one JSON line on stdout: {"tps": ..., "p50_us": ..., "p99_us": ..., "queries": ...}.
//
// Each of `--clients` connections (on NIO's singleton event loops, as DBConnectionPostgres and
// PostgresClient use) prepares `SELECT abalance FROM pgbench_accounts WHERE aid = $1` once (Parse),
// then runs it with Bind/Execute/Sync, aid uniform in 1...100000 × scale, one statement in flight per
// connection, as `pgbench -S -M prepared` does. The only work per statement is NIO's: one write, the
// event loop's read, and a scan of the reply for its DataRow and ReadyForQuery.
//
//   --mode callbacks  the handler sends the next statement from channelRead when ReadyForQuery arrives:
//                     no Swift task at all (the transport's floor)
//   --mode tasks      one Swift task per connection, preferring a task executor on the connection's
//                     event loop, awaits each statement (one continuation per statement, resumed from
//                     channelRead): the floor of any async/await client on NIO
//
// A reference, not a driver: no TLS (the URL's sslmode must be disable, or absent), trust or cleartext
// password authentication only, and any ErrorResponse ends the run.

import ArgumentParser
import Foundation
import LoadReport
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

struct FloorError: Error, CustomStringConvertible {
    var description: String
}

/// Where a connection is, and what it does when ReadyForQuery arrives.
enum Phase {
    /// Startup sent; waiting for authentication and the first ReadyForQuery.
    case starting(EventLoopPromise<Void>)
    /// A simple query or a Parse is on the wire; the first column of its rows is collected as text.
    case setup(EventLoopPromise<[String]>, rows: [String])
    /// Idle between phases.
    case idle
    /// Callbacks mode: statements back to back until `end`.
    case looping(end: UInt64, done: EventLoopPromise<[UInt64]>)
    /// Tasks mode: one statement, for the task waiting on the continuation.
    case awaiting(UnsafeContinuation<Void, any Error>)
}

/// The PostgreSQL wire protocol, just enough for pgbench's select-only statement.
///
/// Every method runs on the channel's event loop (channel callbacks, and the caller's `execute` on the
/// loop); the class is `@unchecked Sendable` only so that a task pinned to that loop can hold it.
final class FloorHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let user: String
    let database: String
    let password: String?
    let accounts: NIOLockedValueBox<Int32>
    /// `accounts`, read once the statements start.
    var accountCount: Int32 = 0
    var phase: Phase
    var context: ChannelHandlerContext?
    var pending = ByteBuffer()
    var rowsInReply = 0
    var sentAt: UInt64 = 0
    var latencies: [UInt64] = []
    var random = XorShift(seed: UInt64.random(in: 1...UInt64.max))

    init(user: String, database: String, password: String?, accounts: NIOLockedValueBox<Int32>, started: EventLoopPromise<Void>) {
        self.user = user
        self.database = database
        self.password = password
        self.accounts = accounts
        self.phase = .starting(started)
    }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        var message = context.channel.allocator.buffer(capacity: 64)
        message.writeInteger(UInt32(0))
        message.writeInteger(UInt32(196_608))  // protocol 3.0
        for field in ["user", user, "database", database] {
            message.writeNullTerminatedString(field)
        }
        message.writeInteger(UInt8(0))
        message.setInteger(UInt32(message.readableBytes), at: 0)
        context.writeAndFlush(wrapOutboundOut(message), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(FloorError(description: "the server closed the connection"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
        context.close(promise: nil)
    }

    /// Appends one message: its type, its length, then what `body` writes.
    static func message(_ type: Character, into buffer: inout ByteBuffer, _ body: (inout ByteBuffer) -> Void = { _ in }) {
        buffer.writeInteger(UInt8(ascii: type.unicodeScalars.first!))
        let lengthAt = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        body(&buffer)
        buffer.setInteger(UInt32(buffer.writerIndex - lengthAt), at: lengthAt)
    }

    /// A simple query; its rows' first column comes back as text.
    func simpleQuery(_ sql: String, promise: EventLoopPromise<[String]>) {
        phase = .setup(promise, rows: [])
        var buffer = context!.channel.allocator.buffer(capacity: sql.utf8.count + 8)
        Self.message("Q", into: &buffer) { $0.writeNullTerminatedString(sql) }
        context!.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Prepares the statement as "s" (Parse, Sync).
    func prepare(promise: EventLoopPromise<[String]>) {
        phase = .setup(promise, rows: [])
        var buffer = context!.channel.allocator.buffer(capacity: 96)
        Self.message("P", into: &buffer) {
            $0.writeNullTerminatedString("s")
            $0.writeNullTerminatedString("SELECT abalance FROM pgbench_accounts WHERE aid = $1")
            $0.writeInteger(UInt16(1))
            $0.writeInteger(UInt32(23))  // int4
        }
        Self.message("S", into: &buffer)
        context!.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Callbacks mode: statements back to back until `end`; `done` gets the latencies.
    func loop(until end: UInt64, done: EventLoopPromise<[UInt64]>) {
        latencies.reserveCapacity(1 << 17)
        phase = .looping(end: end, done: done)
        sendStatement()
    }

    /// Tasks mode: sends one statement; `continuation` resumes when its reply is complete.
    func execute(_ continuation: UnsafeContinuation<Void, any Error>) {
        phase = .awaiting(continuation)
        sendStatement()
    }

    /// Bind (one int4 parameter, binary; binary result), Execute, Sync: one write.
    func sendStatement() {
        if accountCount == 0 { accountCount = accounts.withLockedValue { $0 } }
        let aid = Int32.random(in: 1...accountCount, using: &random)
        var buffer = context!.channel.allocator.buffer(capacity: 48)
        Self.message("B", into: &buffer) {
            $0.writeInteger(UInt8(0))  // unnamed portal
            $0.writeNullTerminatedString("s")
            $0.writeInteger(UInt16(1))
            $0.writeInteger(UInt16(1))  // binary parameter
            $0.writeInteger(UInt16(1))
            $0.writeInteger(Int32(4))
            $0.writeInteger(aid)
            $0.writeInteger(UInt16(1))
            $0.writeInteger(UInt16(1))  // binary result
        }
        Self.message("E", into: &buffer) {
            $0.writeInteger(UInt8(0))
            $0.writeInteger(Int32(0))
        }
        Self.message("S", into: &buffer)
        rowsInReply = 0
        sentAt = monotonicNanoseconds()
        context!.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if pending.readableBytes == 0 {
            swap(&pending, &incoming)
        } else {
            pending.writeBuffer(&incoming)
        }
        while pending.readableBytes >= 5 {
            let start = pending.readerIndex
            let type: UInt8 = pending.getInteger(at: start)!
            let length = Int(pending.getInteger(at: start + 1, as: UInt32.self)!)
            guard pending.readableBytes >= length + 1 else { break }
            var body = pending.getSlice(at: start + 5, length: length - 4)!
            pending.moveReaderIndex(forwardBy: length + 1)
            handle(type, &body)
        }
        if pending.readableBytes == 0 { pending.clear() }
    }

    private func handle(_ type: UInt8, _ body: inout ByteBuffer) {
        switch type {
        case UInt8(ascii: "R"):  // authentication
            let kind: UInt32 = body.readInteger()!
            switch kind {
            case 0:
                break
            case 3 where password != nil:
                var reply = context!.channel.allocator.buffer(capacity: 64)
                Self.message("p", into: &reply) { $0.writeNullTerminatedString(self.password!) }
                context!.writeAndFlush(wrapOutboundOut(reply), promise: nil)
            default:
                fail(FloorError(description: "authentication method \(kind) is not supported: use trust, or a cleartext password"))
            }
        case UInt8(ascii: "E"):
            fail(FloorError(description: "server error: \(Self.errorText(&body))"))
        case UInt8(ascii: "D"):
            rowsInReply += 1
            if case .setup(let promise, var rows) = phase {
                body.moveReaderIndex(forwardBy: 2)
                let length: Int32 = body.readInteger()!
                rows.append(length < 0 ? "" : body.readString(length: Int(length)) ?? "")
                phase = .setup(promise, rows: rows)
            }
        case UInt8(ascii: "Z"):
            readyForQuery()
        default:
            break  // ParameterStatus, BackendKeyData, ParseComplete, BindComplete, CommandComplete, ...
        }
    }

    private func readyForQuery() {
        switch phase {
        case .starting(let promise):
            phase = .idle
            promise.succeed(())
        case .setup(let promise, let rows):
            phase = .idle
            promise.succeed(rows)
        case .idle:
            break
        case .looping(let end, let done):
            let now = monotonicNanoseconds()
            guard rowsInReply == 1 else {
                return fail(FloorError(description: "a statement returned \(rowsInReply) rows, not 1"))
            }
            latencies.append(now &- sentAt)
            if now < end {
                sendStatement()
            } else {
                phase = .idle
                done.succeed(latencies)
            }
        case .awaiting(let continuation):
            phase = .idle
            if rowsInReply == 1 {
                continuation.resume()
            } else {
                continuation.resume(throwing: FloorError(description: "a statement returned \(rowsInReply) rows, not 1"))
            }
        }
    }

    private func fail(_ error: any Error) {
        let phase = self.phase
        self.phase = .idle
        switch phase {
        case .starting(let promise): promise.fail(error)
        case .setup(let promise, _): promise.fail(error)
        case .idle: break
        case .looping(_, let done): done.fail(error)
        case .awaiting(let continuation): continuation.resume(throwing: error)
        }
    }

    private static func errorText(_ body: inout ByteBuffer) -> String {
        var message = "?"
        while let field: UInt8 = body.readInteger(), field != 0 {
            let text = body.readNullTerminatedString() ?? ""
            if field == UInt8(ascii: "M") { message = text }
        }
        return message
    }
}

/// A task executor that runs jobs on one event loop (the floor's own, so that it depends on nothing but
/// SwiftNIO).
final class LoopExecutor: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

@main
struct PGWireFloor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pg-wire-floor",
        abstract: "pgbench's select-only statement from a bare SwiftNIO handler (no driver, no pool); one JSON line."
    )

    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case callbacks, tasks
    }

    @Option(help: "postgres://user[:password]@host[:port]/database[?sslmode=disable]")
    var url: String

    @Option(help: "Connections, one statement in flight on each.")
    var clients: Int = 8

    @Option(help: "Seconds to measure.")
    var duration: Double = 10

    @Option(help: "callbacks: the next statement is sent from channelRead; tasks: one Swift task per connection awaits each statement.")
    var mode: Mode = .callbacks

    func validate() throws {
        guard clients > 0, duration > 0 else { throw ValidationError("clients and duration must be positive") }
    }

    func run() async throws {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host, !host.isEmpty
        else {
            throw ValidationError("--url must look like postgres://user@host:port/database")
        }
        let sslmode = components.queryItems?.first { $0.name == "sslmode" }?.value ?? "disable"
        guard sslmode == "disable" else {
            throw ValidationError("pg-wire-floor speaks no TLS: the URL's sslmode must be disable (got \(sslmode))")
        }
        let user = components.user ?? ProcessInfo.processInfo.environment["USER"] ?? "postgres"
        let database = String(components.path.drop { $0 == "/" })
        let accounts = NIOLockedValueBox<Int32>(1)
        let group = MultiThreadedEventLoopGroup.singleton

        var handlers: [FloorHandler] = []
        for _ in 0..<clients {
            let loop = group.next()
            let started = loop.makePromise(of: Void.self)
            let handler = FloorHandler(
                user: user,
                database: database.isEmpty ? user : database,
                password: components.password,
                accounts: accounts,
                started: started
            )
            let channel = try await ClientBootstrap(group: loop)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
                }
                .connect(host: host, port: components.port ?? 5432).get()
            try await started.futureResult.get()
            if handlers.isEmpty {
                let promise = loop.makePromise(of: [String].self)
                channel.eventLoop.execute { handler.simpleQuery("SELECT count(*) FROM pgbench_branches", promise: promise) }
                let scale = Int32(try await promise.futureResult.get().first ?? "") ?? 0
                guard scale > 0 else { throw FloorError(description: "pgbench_branches is empty: run pgbench -i first") }
                accounts.withLockedValue { $0 = 100_000 * scale }
            }
            let prepared = loop.makePromise(of: [String].self)
            channel.eventLoop.execute { handler.prepare(promise: prepared) }
            _ = try await prepared.futureResult.get()
            handlers.append(handler)
        }

        let start = monotonicNanoseconds()
        let end = start + UInt64(duration * 1e9)
        var latencies: [UInt64] = []
        switch mode {
        case .callbacks:
            var results: [EventLoopFuture<[UInt64]>] = []
            for handler in handlers {
                let loop = handler.context!.eventLoop
                let done = loop.makePromise(of: [UInt64].self)
                loop.execute { handler.loop(until: end, done: done) }
                results.append(done.futureResult)
            }
            for result in results { latencies += try await result.get() }
        case .tasks:
            let executors = group.makeIterator().map { LoopExecutor($0) }
            latencies = try await withThrowingTaskGroup(of: [UInt64].self) { tasks in
                for handler in handlers {
                    let loop = handler.context!.eventLoop
                    let executor = executors.first { $0.loop === loop }!
                    tasks.addTask(executorPreference: executor) {
                        var latencies: [UInt64] = []
                        latencies.reserveCapacity(1 << 17)
                        while true {
                            let began = monotonicNanoseconds()
                            if began >= end { return latencies }
                            try await withUnsafeThrowingContinuation { handler.execute($0) }
                            latencies.append(monotonicNanoseconds() - began)
                        }
                    }
                }
                var all: [UInt64] = []
                for try await part in tasks { all += part }
                return all
            }
            withExtendedLifetime(executors) {}
        }
        printLoadReport(latencies: latencies, elapsed: monotonicNanoseconds() - start)
    }
}
