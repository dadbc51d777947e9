import ArgumentParser
import NIOCore
import NIOPosix

/// Where dbconn's tasks run: `--executor`.
///
/// A PostgreSQL connection does its I/O on one of NIO's event loops
/// (`MultiThreadedEventLoopGroup.singleton`). A bench worker on Swift's cooperative pool (`default`)
/// hops to that loop and back for every statement: two thread switches per round trip. With
/// `connection`, each worker runs on the loop of the first connection it gets (the task executor of
/// its ``DBConnection/ExecutorAffinity``), and the pool lends it connections of that loop from then
/// on, so a statement is sent and its reply resumes the worker on one thread. Connections without a
/// task executor (SQLite's: running tasks on a connection's own thread could stall it behind its own
/// busy handler) leave their workers on the global executor. `nio-global` is the older way for PostgreSQL, kept to compare: NIO's group installed
/// as Swift Concurrency's global executor
/// (`NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()`); no
/// thread hop either, but every call into a nonisolated async function gives the loop up and queues
/// the task again.
///
/// `nio-global` has to be installed before the first task starts, so ``DBConnMain`` takes the choice
/// from the raw arguments (``choice(arguments:)``); `Bench` and `SQL` parse the same option for
/// `--help` and validation, and `Bench` reads it to run its workers.
enum ExecutorChoice: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// `connection`.
    case auto
    /// Each bench worker runs on the thread of its connections (their task executor).
    case connection
    /// NIO's singleton event loop group is Swift Concurrency's global executor.
    case nioGlobal = "nio-global"
    /// Swift's own global executor (the cooperative pool).
    case `default`

    static let help = ArgumentHelp(
        """
        Where bench workers run: connection (each on the thread of its connections where the driver \
        offers it, a PostgreSQL connection's NIO event loop: no thread hop per statement), \
        nio-global (NIO's event loops run Swift Concurrency's global executor, the older way for \
        PostgreSQL), default (Swift's cooperative pool), or auto (connection).
        """,
        valueName: "auto|connection|nio-global|default"
    )

    /// The executor the raw arguments ask for: `--executor X` or `--executor=X`, else `auto`,
    /// resolved (`auto` becomes `connection`). An unknown value resolves to `default`; the parser
    /// reports it afterwards.
    static func choice(arguments: [String]) -> ExecutorChoice {
        var requested = ExecutorChoice.auto
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            if argument == "--" { break }
            if argument == "--executor", index + 1 < arguments.endIndex {
                requested = ExecutorChoice(rawValue: arguments[index + 1]) ?? .default
                index += 1
            } else if argument.hasPrefix("--executor=") {
                requested = ExecutorChoice(rawValue: String(argument.dropFirst("--executor=".count))) ?? .default
            }
            index += 1
        }
        return requested.resolved
    }

    /// `auto` as what it stands for.
    var resolved: ExecutorChoice {
        self == .auto ? .connection : self
    }

    /// Whether bench workers run on the threads of their connections.
    var runsWorkersOnConnections: Bool {
        resolved == .connection
    }

    /// Installs the choice (only `nio-global` has anything to install); call once, on the main
    /// thread, before any task starts.
    /// - Returns: whether NIO's group now runs the global executor.
    @discardableResult
    static func install(_ choice: ExecutorChoice) -> Bool {
        guard choice == .nioGlobal else { return false }
        return NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }
}
