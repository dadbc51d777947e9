import Foundation
import Testing

/// A fresh folder under the temporary directory, removed after `body`.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("dbconnTests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory.path)
}

/// What a run of the `dbconn` binary printed, and how it exited.
struct ProcessOutput: Sendable {
    var status: Int32
    var standardOutput: String
    var standardError: String

    var standardErrorLines: [Substring] {
        standardError.split(separator: "\n", omittingEmptySubsequences: false).dropLast(
            standardError.hasSuffix("\n") ? 1 : 0
        )
    }
}

/// The `dbconn` executable that `swift build --build-tests` put next to the test bundle.
func dbconnExecutable() throws -> URL {
    let start = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
    var directory = start.resolvingSymlinksInPath().deletingLastPathComponent()
    for _ in 0..<5 {
        let candidate = directory.appendingPathComponent("dbconn")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        directory.deleteLastPathComponent()
    }
    throw MissingExecutable(searchedFrom: start.path)
}

struct MissingExecutable: Error, CustomStringConvertible {
    var searchedFrom: String
    var description: String {
        "the dbconn executable was not found next to \(searchedFrom); build it first with `swift build --build-tests`"
    }
}

/// Runs `dbconn` with `arguments` and waits for it.
///
/// The waiting (reading both pipes to the end, then `waitUntilExit`) blocks, so it runs on threads of
/// its own: on Swift's cooperative threads (two on a 2-core machine) it would stall every other test
/// of the process for as long as the child runs.
func runDBConn(_ arguments: [String]) async throws -> ProcessOutput {
    let process = Process()
    process.executableURL = try dbconnExecutable()
    process.arguments = arguments
    let output = Pipe()
    let error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    // Read both pipes to the end before waiting, so a full pipe can't block the child.
    async let out = readToEnd(output.fileHandleForReading)
    async let err = readToEnd(error.fileHandleForReading)
    let (outData, errData) = await (out, err)
    await onOwnThread { process.waitUntilExit() }
    return ProcessOutput(
        status: process.terminationStatus,
        standardOutput: String(decoding: outData, as: UTF8.self),
        standardError: String(decoding: errData, as: UTF8.self)
    )
}

private func readToEnd(_ handle: FileHandle) async -> Data {
    await onOwnThread { handle.readDataToEndOfFile() }
}

/// Runs blocking `work` on a new thread and waits for it without holding a cooperative thread.
private func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: work()) }.start()
    }
}
