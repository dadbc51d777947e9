import ArgumentParser
import NIOCore
import NIOPosix

/// Where dbconn's tasks run: `--executor`.
///
/// On PostgreSQL every statement is a write to, and a read from, a socket owned by one of NIO's event
/// loops (`MultiThreadedEventLoopGroup.singleton`, where PGConnection puts its connections). With
/// Swift's default global executor, each statement hops from a cooperative thread to that loop and
/// back: two thread switches per round trip. With `nio`, NIO's singleton group is installed as Swift
/// Concurrency's global executor (`NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()`),
/// so a task resumed by a read runs on on the loop that read it, and the hop is gone.
///
/// The choice has to be made before the first task starts, so ``DBConnMain`` takes it from the raw
/// arguments (``choice(arguments:)``); `Bench` and `SQL` parse the same option only for `--help` and
/// validation.
enum ExecutorChoice: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// `nio` for postgres:// URLs, `default` otherwise (SQLite runs its blocking calls on queues of
    /// its own and gains nothing from the event loops).
    case auto
    /// NIO's singleton event loop group is Swift Concurrency's global executor.
    case nio
    /// Swift's own global executor (the cooperative pool).
    case `default`

    static let help = ArgumentHelp(
        """
        Where tasks run: nio (NIO's event loops run Swift Concurrency's global executor: no thread \
        hop per PostgreSQL round trip), default (Swift's cooperative pool), or auto (nio for \
        postgres:// URLs, default otherwise).
        """,
        valueName: "auto|nio|default"
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

    /// Installs the choice; call once, on the main thread, before any task starts.
    /// - Returns: whether NIO's group now runs the global executor.
    @discardableResult
    static func install(_ choice: ExecutorChoice) -> Bool {
        guard choice == .nio else { return false }
        return NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }
}
