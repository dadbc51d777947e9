import Foundation

/// Where this package's own tests that need PostgreSQL find their server: `DATABASE_URL`, which
/// scripts/with-postgres.sh sets (scripts/test.sh runs every test inside it).
///
/// Without it every test that needs the server fails with ``MissingServer``, which says how to run
/// them, unless the developer asked to skip them with `DBCONN_SKIP_POSTGRES=1` (ignored when
/// `CI=true`): the tests are never skipped silently. Package access: the policy of this repository's
/// tests, not API.
package enum PGTestEnvironment {
    package static let environment = ProcessInfo.processInfo.environment

    /// `DATABASE_URL`.
    package static var databaseURL: String? { environment["DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 } }

    /// Whether the developer asked to skip the PostgreSQL tests (never on CI).
    package static var skipRequested: Bool {
        environment["DBCONN_SKIP_POSTGRES"] == "1" && environment["CI"] != "true"
    }

    /// Whether the server tests run: always, unless skipping was asked for and there is no server.
    package static var enabled: Bool { databaseURL != nil || !skipRequested }

    /// `DATABASE_URL`.
    /// - Throws: ``MissingServer`` when it is not set.
    package static func url() throws -> String {
        guard let url = databaseURL else { throw MissingServer(variable: "DATABASE_URL") }
        return url
    }

    /// Another variable with-postgres.sh sets.
    /// - Throws: ``MissingServer`` when it is not set.
    package static func required(_ variable: String) throws -> String {
        guard let value = environment[variable], !value.isEmpty else { throw MissingServer(variable: variable) }
        return value
    }
}

/// The server's variables are missing: the tests were not run through scripts/with-postgres.sh.
package struct MissingServer: Error, CustomStringConvertible {
    /// What is missing.
    package var variable: String

    package init(variable: String) {
        self.variable = variable
    }

    package var description: String {
        "\(variable) is not set: run the tests that need PostgreSQL through scripts/with-postgres.sh "
            + "(scripts/test.sh does, or: scripts/with-postgres.sh swift test --filter TARGET), "
            + "or set DBCONN_SKIP_POSTGRES=1 to skip them on purpose"
    }
}
