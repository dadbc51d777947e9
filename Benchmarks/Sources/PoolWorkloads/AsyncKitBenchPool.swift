@preconcurrency import AsyncKit
import Logging
import NIOCore
import NIOPosix

/// AsyncKit's `EventLoopGroupConnectionPool` on a group of one event loop (so the pool size is the
/// number of connections, as for the others), driven from Swift tasks: `requestConnection().get()`
/// hops to the loop and back, `releaseConnection` hops to the loop. The 15 s `requestTimeout` is its
/// protection: every waiting request schedules a timeout task. Logs go to a no-op handler.
///
/// `@unchecked Sendable`: AsyncKit predates `Sendable`. The group pool's own state is behind its lock,
/// and each per-loop pool touches its state only on its event loop, to which `requestConnection` and
/// `releaseConnection` hop when called from elsewhere.
final class AsyncKitBenchPool: BenchPool, @unchecked Sendable {
    let group: MultiThreadedEventLoopGroup
    let pool: EventLoopGroupConnectionPool<NoopPoolSource>

    init(settings: PoolSettings) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.group = group
        self.pool = EventLoopGroupConnectionPool(
            source: NoopPoolSource(),
            maxConnectionsPerEventLoop: settings.poolSize,
            requestTimeout: .nanoseconds(Int64(settings.checkoutTimeout.components.seconds) * 1_000_000_000),
            logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }),
            on: group
        )
    }

    func lease() async throws -> NoopPoolItem {
        try await pool.requestConnection().get()
    }

    func release(_ lease: NoopPoolItem) {
        pool.releaseConnection(lease)
    }

    func shutdown() async {
        try? await pool.shutdownAsync()
        try? await group.shutdownGracefully()
    }

    func classify(_ error: any Error) -> String {
        String(describing: error)
    }
}

/// Makes ``NoopPoolItem``s at once.
struct NoopPoolSource: ConnectionPoolSource {
    func makeConnection(logger: Logger, on eventLoop: any EventLoop) -> EventLoopFuture<NoopPoolItem> {
        eventLoop.makeSucceededFuture(NoopPoolItem(eventLoop: eventLoop))
    }
}

/// A connection that does nothing.
///
/// `@unchecked Sendable`: `isClosed` is read and written only on `eventLoop` (AsyncKit reads it there, and
/// `close()` hops there); the rest is immutable.
final class NoopPoolItem: ConnectionPoolItem, @unchecked Sendable {
    let eventLoop: any EventLoop
    private(set) var isClosed = false

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func close() -> EventLoopFuture<Void> {
        eventLoop.submit { self.isClosed = true }
    }
}
