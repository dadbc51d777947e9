import DBConnection
import DBConnectionPostgres
import Foundation
import Testing

/// Where the PostgreSQL tests of `dbconn` find their server: `DATABASE_URL`, which
/// scripts/with-postgres.sh sets (the convention of Tests/DBConnectionPostgresTests/Support.swift).
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

    /// `DATABASE_URL`.
    /// - Throws: ``MissingServer`` when it is not set.
    static func url() throws -> String {
        guard let url = databaseURL else { throw MissingServer(variable: "DATABASE_URL") }
        return url
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
            + "(scripts/test.sh does, or: scripts/with-postgres.sh swift test --filter dbconnTests), "
            + "or set DBCONN_SKIP_POSTGRES=1 to skip them on purpose"
    }
}

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
