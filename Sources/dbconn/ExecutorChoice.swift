import ArgumentParser
import DBConnection
import DBConnectionPostgres
import NIOCore
import NIOPosix

/// Where dbconn's tasks run: `--executor`.
///
/// On PostgreSQL every statement is a write to, and a read from, a socket owned by one of NIO's event
/// loops (`MultiThreadedEventLoopGroup.singleton`, where PGConnection puts its connections). With
/// Swift's default global executor, each statement hops from a cooperative thread to that loop and
/// back: two thread switches per round trip. With `nio`, each bench worker prefers one of the loops
/// as its task executor (``DBConnectionPostgres/PGConnection/eventLoopExecutors``, spread round
/// robin) and the pool lends it a connection of that loop, so the statement is written and its reply
/// resumes the worker on one thread. `nio-global` is the older way, kept to compare: NIO's group
/// installed as Swift Concurrency's global executor
/// (`NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()`); no
/// thread hop either, but every call into a nonisolated async function gives the loop up and queues
/// the task again.
///
/// `nio-global` has to be installed before the first task starts, so ``DBConnMain`` takes the choice
/// from the raw arguments (``choice(arguments:)``); `Bench` and `SQL` parse the same option for
/// `--help` and validation, and `Bench` reads it to give its workers their executors.
enum ExecutorChoice: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// `nio` for postgres:// URLs, `default` otherwise (SQLite runs its blocking calls on queues of
    /// its own and gains nothing from the event loops).
    case auto
    /// Bench workers prefer NIO's event loops as task executors, one loop each, round robin.
    case nio
    /// NIO's singleton event loop group is Swift Concurrency's global executor.
    case nioGlobal = "nio-global"
    /// Swift's own global executor (the cooperative pool).
    case `default`

    static let help = ArgumentHelp(
        """
        Where tasks run: nio (each worker prefers one of NIO's event loops as its task executor and \
        gets connections of that loop: no thread hop per PostgreSQL round trip), nio-global (NIO's \
        event loops run Swift Concurrency's global executor, the older way), default (Swift's \
        cooperative pool), or auto (nio for postgres:// URLs, default otherwise).
        """,
        valueName: "auto|nio|nio-global|default"
    )

    /// The executor the raw arguments ask for: `--executor X` or `--executor=X`, else `auto`, resolved
    /// (`auto` becomes `nio` when an argument is a postgres:// or postgresql:// URL). An unknown value
    /// resolves to `default`; the parser reports it afterwards.
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
        guard requested == .auto else { return requested }
        let isPostgres = arguments.contains { $0.hasPrefix("postgres://") || $0.hasPrefix("postgresql://") }
        return isPostgres ? .nio : .default
    }

    /// Installs the choice (only `nio-global` has anything to install); call once, on the main
    /// thread, before any task starts.
    /// - Returns: whether NIO's group now runs the global executor.
    @discardableResult
    static func install(_ choice: ExecutorChoice) -> Bool {
        guard choice == .nioGlobal else { return false }
        return NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }

    /// The task executors bench workers may prefer, by the affinity of the connections on them:
    /// NIO's event loops for `nio`, none (the global executor) otherwise.
    /// - Parameters:
    ///   - requested: the `--executor` option as given.
    ///   - url: the database URL (`auto` means `nio` for postgres:// and postgresql://).
    static func workerExecutors(requested: ExecutorChoice, url: String) -> [ExecutorAffinity: any TaskExecutor] {
        let isPostgres = url.hasPrefix("postgres://") || url.hasPrefix("postgresql://")
        switch requested {
        case .nio: break
        case .auto: guard isPostgres else { return [:] }
        case .nioGlobal, .default: return [:]
        }
        var executors: [ExecutorAffinity: any TaskExecutor] = [:]
        for executor in PGConnection.eventLoopExecutors {
            executors[ExecutorAffinity(executor.eventLoop)] = executor
        }
        return executors
    }
}
