import NIOCore
import NIOPosix

/// PostgreSQL's CancelRequest: a new connection to the server that sends 16 bytes (length 16, the
/// code 80877102, the backend's process ID and secret key) and nothing else. The server signals the
/// backend to cancel the statement it runs, if any, and closes the side connection without an answer.
///
/// The request goes unencrypted even when the main connection uses TLS, as libpq's `PQcancel` does:
/// it carries no credentials, only the key, and the server reads it before any TLS negotiation.
enum CancelRequest {
    /// Where to send it: the address the main connection reached (so a host name with several
    /// addresses still reaches the same server), else the host and port again.
    enum Target: Sendable {
        case address(SocketAddress)
        case tcp(host: String, port: Int)
        case unixSocket(path: String)
    }

    /// Sends a cancel request and completes when the server has closed the side connection (`true`:
    /// the server has read the request and signalled the backend), or after `timeout` or when the side
    /// connection fails (`false`: a cancel is best effort).
    static func send(
        to target: Target,
        processID: Int32,
        secretKey: Int32,
        on eventLoop: any EventLoop,
        timeout: TimeAmount = .seconds(5)
    ) -> EventLoopFuture<Bool> {
        let bootstrap = ClientBootstrap(group: eventLoop).connectTimeout(timeout)
        let connected: EventLoopFuture<any Channel> =
            switch target {
            case .address(let address): bootstrap.connect(to: address)
            case .tcp(let host, let port): bootstrap.connect(host: host, port: port)
            case .unixSocket(let path): bootstrap.connect(unixDomainSocketPath: path)
            }
        return connected.flatMap { channel in
            var packet = channel.allocator.buffer(capacity: 16)
            packet.writeInteger(16, as: Int32.self)
            packet.writeInteger(80_877_102, as: Int32.self)
            packet.writeInteger(processID)
            packet.writeInteger(secretKey)
            let timedOut = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
            let closeAfterTimeout = channel.eventLoop.scheduleTask(in: timeout) {
                timedOut.value = true
                channel.close(promise: nil)
            }
            return channel.writeAndFlush(packet).flatMap {
                channel.closeFuture
            }.map {
                closeAfterTimeout.cancel()
                return !timedOut.value
            }
        }.recover { _ in false }
    }
}
