import DBConnection
import DBConnectionPostgres
import DBConnectionTesting
import Foundation
import Logging
import Testing

extension PGTestEnvironment {
    /// The options of `DATABASE_URL`.
    /// - Throws: ``MissingServer`` when it is not set.
    static func options(applicationName: String? = nil) throws -> PGConnection.Options {
        var options = try PGConnection.Options(url: url())
        if let applicationName { options.applicationName = applicationName }
        return options
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
