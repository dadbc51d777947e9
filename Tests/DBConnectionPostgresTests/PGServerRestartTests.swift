import DBConnection
import DBConnectionPostgres
import DBConnectionTesting
import Dispatch
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The pool over a server that restarts, stops and starts again. Each test runs its own throwaway
/// server (scripts/with-postgres.sh, started from the test), so the other suites' server never stops.
@Suite(requiresServer, .timeLimit(.minutes(1)))
struct PGServerRestartTests {
    @Test func thePoolComesBackAfterTheServerRestartsAndCallersGetTypedErrorsMeanwhile() async throws {
        try await withPrivateServer { server in
            var configuration = PGPoolTests.configuration(size: 4)
            configuration.checkoutRetries = 8
            try await ConnectionPool.withPool(options: server.options, configuration: configuration) { pool in
                #expect(try await pool.execute("SELECT 1", []).scalar == 1)
                let tally = Tally()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            // Until the restart is over, and at least 40 calls each.
                            var calls = 0
                            while calls < 40 || !tally.restarted.load(ordering: .acquiring) {
                                calls += 1
                                do {
                                    _ = try await pool.execute(
                                        "SELECT pg_sleep(0.005)",
                                        [],
                                        options: CallOptions(timeout: .seconds(20))
                                    )
                                    tally.ok.add(1, ordering: .relaxed)
                                } catch is PGError {
                                    tally.pgErrors.add(1, ordering: .relaxed)
                                } catch is ConnectionError {
                                    tally.pgErrors.add(1, ordering: .relaxed)
                                } catch {
                                    Issue.record("an untyped error reached a caller: \(String(reflecting: error))")
                                }
                            }
                        }
                    }
                    group.addTask {
                        try await server.control("restart -m fast")
                        tally.restarted.store(true, ordering: .releasing)
                    }
                    try await group.waitForAll()
                }
                let results = tally.ok.load(ordering: .relaxed)
                let errors = tally.pgErrors.load(ordering: .relaxed)
                #expect(results + errors >= 8 * 40)
                print("restart test: \(results) results and \(errors) typed errors during the restart")
                // `pg_ctl restart -w` returned: the old backends are gone and the server accepts connections.
                // Dead connections are refused before anything is sent (a retryable disconnect), so with
                // more checkout retries than connections every call succeeds.
                for round in 0..<200 {
                    #expect(
                        try await pool.execute("SELECT $1::int8", [.int64(Int64(round))]).scalar == .int64(Int64(round))
                    )
                }
            }
        }
    }

    @Test func callsFailWithATypedErrorWhileTheServerIsDownAndSucceedOnceItIsBack() async throws {
        try await withPrivateServer { server in
            try await ConnectionPool.withPool(
                options: server.options,
                configuration: PGPoolTests.configuration(size: 2)
            ) { pool in
                #expect(try await pool.execute("SELECT 1", []).scalar == 1)
                try await server.control("stop -m fast")
                do {
                    _ = try await pool.execute("SELECT 1", [], options: CallOptions(timeout: .milliseconds(500)))
                    Issue.record("a stopped server answered")
                } catch let error as ConnectionError {
                    #expect(error.reason == .deadline || error.reason == .queueTimeout, "\(error)")
                    print("stop test: while the server was down the caller got \(error)")
                } catch let error as PGError {
                    #expect(error.invalidatesConnection, "\(String(reflecting: error))")
                    print("stop test: while the server was down the caller got \(error)")
                }
                try await server.control("start")
                let result = try await pool.execute(
                    "SELECT 2",
                    [],
                    options: CallOptions(timeout: .seconds(20), checkoutRetries: 4)
                )
                #expect(result.scalar == 2)
            }
        }
    }
}

/// A throwaway server of a test's own: scripts/with-postgres.sh running `sleep` until the test ends.
struct PrivateServer: Sendable {
    let options: PGConnection.Options
    let controlCommand: String

    /// Runs `pg_ctl ACTION` on this server (with `-w`: it returns when the action is done).
    func control(_ action: String) async throws {
        let pid = try spawn("/bin/bash", ["-c", "\(controlCommand) \(action)"])
        let status = await waitForExit(pid)
        if status != 0 { throw MissingServer(variable: "pg_ctl \(action) exited with \(status);") }
    }
}

func withPrivateServer<T>(_ body: (PrivateServer) async throws -> T) async throws -> T {
    let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts")
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pg-private-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let envFile = directory.appendingPathComponent("env").path
    let pid = try spawn(
        "/bin/bash",
        [
            scripts.appendingPathComponent("with-postgres.sh").path, "bash", "-c",
            "printf '%s\\n%s\\n' \"$DATABASE_URL\" \"$DBCONN_PG_CTL\" > '\(envFile).tmp'"
                + " && mv '\(envFile).tmp' '\(envFile)'"
                + " && exec sleep 600",
        ]
    )
    func stop() async {
        // with-postgres.sh stops its `sleep`, then the server, and removes its folder.
        kill(pid, SIGTERM)
        _ = await waitForExit(pid)
    }
    do {
        var lines: [String] = []
        try await waitOnServer("the private server to start", limit: .seconds(30)) {
            guard let text = try? String(contentsOfFile: envFile, encoding: .utf8) else { return false }
            lines = text.split(separator: "\n").map(String.init)
            return true
        }
        guard lines.count == 2 else { throw MissingServer(variable: "the private server's DATABASE_URL") }
        let server = PrivateServer(options: try PGConnection.Options(url: lines[0]), controlCommand: lines[1])
        let result = try await body(server)
        await stop()
        return result
    } catch {
        await stop()
        throw error
    }
}

/// Starts a program with stdin and stdout on /dev/null, no descriptor but 0 to 2 inherited, and no
/// signal blocked: the test runner's threads block signals and do not mark their sockets
/// close-on-exec, and a server started from a child must not keep the tests' connections open.
func spawn(_ path: String, _ arguments: [String]) throws -> pid_t {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t()
    sigemptyset(&none)
    posix_spawnattr_setsigmask(&attributes, &none)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    // A shell closes every other inherited descriptor, then becomes the program.
    let closeAndRun =
        #"for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done; exec "$0" "$@""#
    let argv: [UnsafeMutablePointer<CChar>?] =
        (["/bin/bash", "-c", closeAndRun, path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid = pid_t()
    let status = posix_spawn(&pid, "/bin/bash", &actions, &attributes, argv, environ)
    guard status == 0 else { throw MissingServer(variable: "posix_spawn \(path) failed (\(status));") }
    return pid
}

/// Waits, off the cooperative threads, for a spawned program to end; returns its exit status.
func waitForExit(_ pid: pid_t) async -> Int32 {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            continuation.resume(returning: (status >> 8) & 0xFF)
        }
    }
}
