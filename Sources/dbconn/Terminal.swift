import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What the CLI needs to know about its terminal.
enum Terminal {
    /// Whether stdout is a terminal.
    static var standardOutputIsTerminal: Bool { isatty(1) != 0 }

    /// The width of the terminal on stdout, or `nil` when it is not a terminal.
    static func columns() -> Int? {
        var size = winsize()
        #if canImport(Darwin)
        let result = ioctl(1, TIOCGWINSZ, &size)
        #else
        let result = ioctl(1, UInt(TIOCGWINSZ), &size)
        #endif
        guard result == 0, size.ws_col > 0 else { return nil }
        return Int(size.ws_col)
    }
}

/// Set once, read by every worker: "start no new transaction".
final class StopFlag: Sendable {
    private let stopped = Atomic<Bool>(false)

    var isSet: Bool { stopped.load(ordering: .relaxed) }

    /// Sets the flag; returns whether it was already set.
    @discardableResult
    func set() -> Bool {
        stopped.exchange(true, ordering: .relaxed)
    }
}

/// Turns the first Ctrl-C (SIGINT) into a request to stop: the run ends after the transactions in
/// flight and the summary still prints. A second Ctrl-C quits at once.
final class InterruptHandler {
    private let source: any DispatchSourceSignal

    init(stop: StopFlag, notice: @escaping @Sendable () -> Void) {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler {
            if stop.set() {
                exit(130)
            }
            notice()
        }
        source.resume()
    }

    /// Puts the default Ctrl-C behaviour back.
    func cancel() {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }
}
