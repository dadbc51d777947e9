// pgbench's select-only transaction through PostgresNIO's PostgresClient, for side-by-side runs with
// pgbench and DBConnectionPostgres (scripts/bench-postgres.sh):
//
//     pgclient-load --url postgres://user@127.0.0.1:PORT/db --clients 8 --duration 10
//
// prints one JSON line on stdout: {"tps": ..., "p50_us": ..., "p99_us": ..., "queries": ...}.
//
// The database must hold pgbench's tables (`pgbench -i -s SCALE`); the scale is read from
// pgbench_branches. The client's pool has `--clients` connections (minimum = maximum), and as many tasks
// loop `SELECT abalance FROM pgbench_accounts WHERE aid = $1` with aid uniform in 1...100000 × scale,
// as a named prepared statement (PostgresPreparedStatement: prepared once per connection, then
// Bind/Execute only, like `pgbench -M prepared`). Before the clock starts, each task runs the statement
// once, so every connection is open and has the statement prepared. Latency is per statement: from the
// call to the last row read.
//
// `sslmode` in the URL follows libpq: disable; allow and prefer (the default) use TLS when the server
// offers it, require insists on it, without checking the certificate; verify-ca and verify-full check it
// against `sslrootcert`.

import ArgumentParser
import Foundation
import LoadReport
import Logging
import NIOSSL
import PostgresNIO

struct SelectBalance: PostgresPreparedStatement {
    static let name = "pgclient_load_select_balance"
    static let sql = "SELECT abalance FROM pgbench_accounts WHERE aid = $1"
    static let bindingDataTypes: [PostgresDataType] = [.int4]
    typealias Row = Int32

    var aid: Int32

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(aid)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Int32 {
        try row.decode(Int32.self)
    }
}

struct LoadError: Error, CustomStringConvertible {
    var description: String
}

@main
struct PGClientLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pgclient-load",
        abstract: "pgbench's select-only statement through PostgresNIO's PostgresClient; one JSON line."
    )

    @Option(help: "postgres://user[:password]@host[:port]/database[?sslmode=...&sslrootcert=...]")
    var url: String

    @Option(help: "Connections in the client's pool, and tasks running statements.")
    var clients: Int = 8

    @Option(help: "Seconds to measure.")
    var duration: Double = 10

    func validate() throws {
        guard clients > 0, duration > 0 else { throw ValidationError("clients and duration must be positive") }
    }

    func run() async throws {
        var configuration = try Self.configuration(from: url)
        configuration.options.minimumConnections = clients
        configuration.options.maximumConnections = clients
        let client = PostgresClient(
            configuration: configuration,
            backgroundLogger: Logger(label: "pgclient-load", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let clients = self.clients
        let durationNanos = UInt64(duration * 1e9)
        let (latencies, elapsed) = try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }

            let scaleRows = try await client.query("SELECT count(*)::int4 FROM pgbench_branches")
            var scale: Int32 = 0
            for try await count in scaleRows.decode(Int32.self) { scale = count }
            guard scale > 0 else { throw LoadError(description: "pgbench_branches is empty: run pgbench -i first") }
            let accounts = Int32(100_000) * scale

            return try await withThrowingTaskGroup(of: [UInt64].self) { workers in
                let start = Gate()
                for worker in 0..<clients {
                    workers.addTask {
                        var random = XorShift(seed: UInt64.random(in: 1...UInt64.max) &+ UInt64(worker))
                        func once() async throws {
                            let aid = Int32.random(in: 1...accounts, using: &random)
                            for try await balance in try await client.execute(SelectBalance(aid: aid)) {
                                _ = balance
                            }
                        }
                        // Open the connection and prepare the statement before the clock starts.
                        try await once()
                        let end = await start.wait() + durationNanos
                        var latencies: [UInt64] = []
                        latencies.reserveCapacity(1 << 16)
                        while true {
                            let began = monotonicNanoseconds()
                            if began >= end { break }
                            try await once()
                            latencies.append(monotonicNanoseconds() - began)
                        }
                        return latencies
                    }
                }
                let startedAt = await start.open(after: clients)
                var all: [UInt64] = []
                for try await part in workers { all.append(contentsOf: part) }
                return (all, monotonicNanoseconds() - startedAt)
            }
        }
        printLoadReport(latencies: latencies, elapsed: elapsed)
    }

    /// A PostgresClient configuration from a libpq-style URL.
    static func configuration(from url: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: url),
            ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host, !host.isEmpty
        else {
            throw ValidationError("--url must look like postgres://user@host:port/database")
        }
        let query = Dictionary(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") },
            uniquingKeysWith: { _, last in last }
        )
        let database = String(components.path.drop(while: { $0 == "/" }))
        let username = components.user ?? ProcessInfo.processInfo.environment["USER"] ?? "postgres"
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        let tls: PostgresClient.Configuration.TLS
        switch query["sslmode"] ?? "prefer" {
        case "disable":
            tls = .disable
        case "allow", "prefer":
            tlsConfiguration.certificateVerification = .none
            tls = .prefer(tlsConfiguration)
        case "require":
            tlsConfiguration.certificateVerification = .none
            tls = .require(tlsConfiguration)
        case let mode where mode == "verify-ca" || mode == "verify-full":
            if let rootCertificate = query["sslrootcert"] {
                tlsConfiguration.trustRoots = .file(rootCertificate)
            }
            tlsConfiguration.certificateVerification = mode == "verify-ca" ? .noHostnameVerification : .fullVerification
            tls = .require(tlsConfiguration)
        case let mode:
            throw ValidationError("unknown sslmode \(mode)")
        }
        return PostgresClient.Configuration(
            host: host,
            port: components.port ?? 5432,
            username: username,
            password: components.password,
            database: database.isEmpty ? username : database,
            tls: tls
        )
    }
}

/// Starts every worker's clock at once, after all of them warmed up.
actor Gate {
    private var arrived = 0
    private var startedAt: UInt64?
    private var waiters: [CheckedContinuation<UInt64, Never>] = []
    private var opener: (count: Int, continuation: CheckedContinuation<UInt64, Never>)?

    /// Called by a worker when it is ready; returns the start instant.
    func wait() async -> UInt64 {
        if let startedAt { return startedAt }
        arrived += 1
        return await withCheckedContinuation { continuation in
            waiters.append(continuation)
            openIfReady()
        }
    }

    /// Returns the start instant once `count` workers are ready.
    func open(after count: Int) async -> UInt64 {
        await withCheckedContinuation { continuation in
            opener = (count, continuation)
            openIfReady()
        }
    }

    private func openIfReady() {
        guard let opener, arrived >= opener.count else { return }
        let now = monotonicNanoseconds()
        startedAt = now
        self.opener = nil
        for waiter in waiters { waiter.resume(returning: now) }
        waiters.removeAll()
        opener.continuation.resume(returning: now)
    }
}
