import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `dbconn`: the command-line tool of DBConnection for Swift.
///
/// Two subcommands: ``Bench`` runs a pgbench-like workload through a ``ConnectionPool`` and reports
/// throughput, latency percentiles, queue waits, errors and a consistency check; ``SQL`` runs one
/// statement and prints its rows. The process starts in ``DBConnMain``.
struct DBConn: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dbconn",
        abstract: "Benchmark and query databases through the DBConnection pool.",
        subcommands: [Bench.self, SQL.self],
        defaultSubcommand: nil
    )

    /// The whole program, minus the process exit: returns the exit code. Unlike ArgumentParser's own
    /// `main()`, a bad input prints exactly one line on stderr (`dbconn: error: …`), never the usage
    /// screen: `--help` is there for that.
    static func main(arguments: [String]) async -> Int32 {
        do {
            var command = try parseAsRoot(arguments)
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
            return ExitCode.success.rawValue
        } catch let exit as ExitCode {
            return exit.rawValue
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                // --help, --version: ArgumentParser prints them to stdout.
                print(fullMessage(for: error))
                return code.rawValue
            }
            var message = message(for: error)
            if message.isEmpty { message = "\(error)" }
            if code == .validationFailure {
                let subcommand = arguments.first.flatMap { ["bench", "sql"].contains($0) ? $0 : nil }
                message += " (see 'dbconn \(subcommand.map { $0 + " " } ?? "")--help')"
            }
            printError(message)
            return code.rawValue
        }
    }

    /// Prints `dbconn: error: MESSAGE` on stderr, folded onto one line.
    static func printError(_ message: String) {
        let oneLine = message.split(whereSeparator: \.isNewline)
            .map { $0.drop(while: \.isWhitespace) }
            .filter { !$0.isEmpty }
            .joined(separator: " ")
        var standardError = StandardError()
        print("dbconn: error: \(oneLine)", to: &standardError)
    }
}

/// The process's entry point: a synchronous `main` that picks the global executor (``ExecutorChoice``)
/// before the first task exists, then runs ``DBConn`` in a task and exits with its status.
@main
enum DBConnMain {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        ExecutorChoice.install(ExecutorChoice.choice(arguments: arguments))
        Task {
            let code = await DBConn.main(arguments: arguments)
            #if canImport(Glibc)
            Glibc.exit(code)
            #elseif canImport(Musl)
            Musl.exit(code)
            #else
            Darwin.exit(code)
            #endif
        }
        dispatchMain()
    }
}

/// stderr as a `TextOutputStream`.
struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandle.standardError.write(Data(string.utf8))
    }
}
