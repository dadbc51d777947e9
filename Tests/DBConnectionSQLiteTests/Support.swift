import DBConnection
import DBConnectionSQLite
import Foundation
import Testing

/// A fresh folder under the temporary directory, removed after `body`.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("DBConnectionSQLiteTests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory)
}

/// Opens a connection to `name` in a fresh temporary folder, runs `body`, then disconnects.
func withConnection<T>(
    file name: String = "test.sqlite",
    configure: (inout SQLiteConnection.Options) -> Void = { _ in },
    _ body: (SQLiteConnection, _ path: String) async throws -> T
) async throws -> T {
    try await withTemporaryDirectory { directory in
        let path = directory.appendingPathComponent(name).path
        var options = SQLiteConnection.Options(path: path)
        configure(&options)
        let connection = try await SQLiteConnection.connect(options: options)
        do {
            let result = try await body(connection, path)
            await connection.disconnect(error: CancellationError())
            return result
        } catch {
            await connection.disconnect(error: error)
            throw error
        }
    }
}

/// Runs `body`, which must throw, and returns what it threw as an ``SQLiteError``, unwrapping a
/// `DisconnectError`; records an issue and returns `nil` otherwise.
func sqliteError(
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async -> SQLiteError? {
    do {
        try await body()
        Issue.record("expected an SQLiteError, nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as SQLiteError {
        return error
    } catch let error as DisconnectError {
        if let underlying = error.underlying as? SQLiteError { return underlying }
        Issue.record("expected an SQLiteError, got \(error)", sourceLocation: sourceLocation)
        return nil
    } catch {
        Issue.record("expected an SQLiteError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// A query that counts to a billion: minutes of work, unless interrupted.
let endlessQuery: SQLiteQuery = """
    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000)
    SELECT count(*) FROM c
    """

let noOptions = CallOptions()
