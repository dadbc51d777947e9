import DBConnection
import DBConnectionPostgres
import DBConnectionTesting
import Foundation
import Testing

/// The suite trait of every suite that needs the server.
let requiresServer: any SuiteTrait = .enabled(
    if: PGTestEnvironment.enabled,
    "DBCONN_SKIP_POSTGRES=1: the PostgreSQL tests were skipped on purpose"
)

/// Opens a connection to `url`, runs `body`, then disconnects.
func withPGConnection<T>(url: String, _ body: (PGConnection) async throws -> T) async throws -> T {
    let connection = try await PGConnection.connect(options: try PGConnection.Options(url: url))
    do {
        let result = try await body(connection)
        await connection.disconnect(error: CancellationError())
        return result
    } catch {
        await connection.disconnect(error: error)
        throw error
    }
}

/// Makes a database of its own on the test server for `body` and drops it afterwards, so that tests
/// that replace the bench's and pgbench's tables never meet; `body` gets its URL.
func withScratchDatabase<T>(_ body: (String) async throws -> T) async throws -> T {
    let serverURL = try PGTestEnvironment.url()
    let name = "dbconn_cli_\(UInt32.random(in: 0...UInt32.max))"
    try await withPGConnection(url: serverURL) { db in
        _ = try await db.execute(PGQuery("CREATE DATABASE \(name)"))
    }
    do {
        let result = try await body(try replacingDatabase(of: serverURL, with: name))
        try await dropDatabase(name, serverURL: serverURL)
        return result
    } catch {
        try? await dropDatabase(name, serverURL: serverURL)
        throw error
    }
}

private func dropDatabase(_ name: String, serverURL: String) async throws {
    try await withPGConnection(url: serverURL) { db in
        _ = try await db.execute(PGQuery("DROP DATABASE IF EXISTS \(name) WITH (FORCE)"))
    }
}

/// `postgres://user@host:port/OLD?query` with the database replaced.
func replacingDatabase(of url: String, with database: String) throws -> String {
    guard let scheme = url.range(of: "://"),
        let slash = url[scheme.upperBound...].firstIndex(of: "/")
    else {
        throw MissingServer(variable: "DATABASE_URL (as postgres://USER@HOST:PORT/DATABASE)")
    }
    let query = url[slash...].firstIndex(of: "?").map { String(url[$0...]) } ?? ""
    return String(url[..<slash]) + "/" + database + query
}
