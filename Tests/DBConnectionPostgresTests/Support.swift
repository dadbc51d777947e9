import DBConnection
import DBConnectionPostgres
import Foundation
import Logging
import Testing

/// Where the PostgreSQL tests find their server: `DATABASE_URL`, which scripts/with-postgres.sh sets.
///
/// Without it every test that needs the server fails with a message that says how to run them, unless
/// the developer asked to skip them with `DBCONN_SKIP_POSTGRES=1` (ignored when `CI=true`): the tests
/// are never skipped silently.
enum PGTestEnvironment {
    static let environment = ProcessInfo.processInfo.environment

    /// `DATABASE_URL`.
    static var databaseURL: String? { environment["DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 } }

    /// Whether the developer asked to skip the PostgreSQL tests (never on CI).
    static var skipRequested: Bool {
        environment["DBCONN_SKIP_POSTGRES"] == "1" && environment["CI"] != "true"
    }

    /// Whether the server tests run: always, unless skipping was asked for and there is no server.
    static var enabled: Bool { databaseURL != nil || !skipRequested }

    /// The options of `DATABASE_URL`.
    /// - Throws: ``MissingServer`` when it is not set.
    static func options(applicationName: String? = nil) throws -> PGConnection.Options {
        guard let url = databaseURL else { throw MissingServer(variable: "DATABASE_URL") }
        var options = try PGConnection.Options(url: url)
        if let applicationName { options.applicationName = applicationName }
        return options
    }

    /// Another variable with-postgres.sh sets.
    static func required(_ variable: String) throws -> String {
        guard let value = environment[variable], !value.isEmpty else { throw MissingServer(variable: variable) }
        return value
    }
}

/// The server's variables are missing: the tests were not run through scripts/with-postgres.sh.
struct MissingServer: Error, CustomStringConvertible {
    var variable: String

    var description: String {
        "\(variable) is not set: run the PostgreSQL tests through scripts/with-postgres.sh "
            + "(scripts/test.sh does, or: scripts/with-postgres.sh swift test --filter DBConnectionPostgresTests), "
            + "or set DBCONN_SKIP_POSTGRES=1 to skip them on purpose"
    }
}

/// The suite trait of every suite that needs the server.
let requiresServer: any SuiteTrait = .enabled(
    if: PGTestEnvironment.enabled,
    "DBCONN_SKIP_POSTGRES=1: the PostgreSQL tests were skipped on purpose"
)

let noOptions = CallOptions()

/// Opens a connection to the test server, runs `body`, then disconnects.
func withConnection<T>(
    applicationName: String? = nil,
    configure: (inout PGConnection.Options) -> Void = { _ in },
    _ body: (PGConnection) async throws -> T
) async throws -> T {
    var options = try PGTestEnvironment.options(applicationName: applicationName)
    configure(&options)
    let connection = try await PGConnection.connect(options: options)
    do {
        let result = try await body(connection)
        await connection.disconnect(error: CancellationError())
        return result
    } catch {
        await connection.disconnect(error: error)
        throw error
    }
}

/// A name no other test uses, for tables and application names.
func uniqueName(_ prefix: String) -> String {
    "\(prefix)_\(UInt32.random(in: 0...UInt32.max))"
}

/// Runs `body`, which must throw, and returns what it threw as a ``PGError``, unwrapping a
/// `DisconnectError`; records an issue and returns `nil` otherwise.
func pgError(
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async -> PGError? {
    do {
        try await body()
        Issue.record("expected a PGError, nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as PGError {
        return error
    } catch let error as DisconnectError {
        if let underlying = error.underlying as? PGError { return underlying }
        Issue.record("expected a PGError, got \(error)", sourceLocation: sourceLocation)
        return nil
    } catch {
        Issue.record("expected a PGError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Polls the server until `condition` holds, every 20 ms, for at most `limit`: for server-side
/// effects that have no event to wait for (a backend that exits, a statement that starts).
func waitOnServer(
    _ what: String,
    limit: Duration = .seconds(10),
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("timed out waiting for \(what)", sourceLocation: sourceLocation)
}
