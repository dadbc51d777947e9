// swift-tools-version:6.2
import PackageDescription

// The side-by-side benchmarks of DBConnection's pool against its peers: postgres-nio's pool
// (`_ConnectionPoolModule`, the pool behind `PostgresClient`) and AsyncKit's `EventLoopGroupConnectionPool`
// (the pool behind Vapor's Fluent). A package of its own, so the project does not depend on the peers or on
// ordo-one/benchmark. See BENCHMARKS.md and scripts/bench-pool.sh.

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]

let package = Package(
    name: "dbconnection-benchmarks",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "pool-bench", targets: ["pool-bench"]),
        .executable(name: "pool-overload", targets: ["pool-overload"]),
        .executable(name: "pgclient-load", targets: ["pgclient-load"]),
        .executable(name: "pg-wire-floor", targets: ["pg-wire-floor"]),
    ],
    dependencies: [
        .package(name: "dbconnection-swift", path: ".."),
        // RuntimeInterposer (a default trait) needs a package that is not available here, and the
        // ARC metrics it serves are not used: only the malloc counters.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/ordo-one/malloc-interposer", from: "1.6.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/vapor/async-kit", from: "1.22.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The pools under test behind one protocol, and the workload driver they share.
        .target(
            name: "PoolWorkloads",
            dependencies: [
                .product(name: "DBConnection", package: "dbconnection-swift"),
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "_ConnectionPoolTestUtils", package: "postgres-nio"),
                .product(name: "AsyncKit", package: "async-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // ordo-one/benchmark suite: `swift package benchmark` (all pools), thresholds in Thresholds/.
        .executableTarget(
            name: "PoolBenchmarks",
            dependencies: [
                "PoolWorkloads",
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/PoolBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // One (implementation, workload, tasks) run, one JSON line: what scripts/bench-pool.sh calls.
        .executableTarget(
            name: "pool-bench",
            dependencies: [
                "PoolWorkloads",
                .product(name: "MallocInterposerSwift", package: "malloc-interposer"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // Pool 2, 5 ms holds, 200 callers: CoDel shedding (ours) against an unbounded queue (postgres-nio).
        .executableTarget(
            name: "pool-overload",
            dependencies: [
                "PoolWorkloads",
                .product(name: "DBConnection", package: "dbconnection-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // pgbench's select-only statement through PostgresNIO's PostgresClient: scripts/bench-postgres.sh.
        // The account ids, the clock and the JSON line of pgclient-load and pg-wire-floor.
        .target(name: "LoadReport", swiftSettings: swiftSettings),
        .executableTarget(
            name: "pgclient-load",
            dependencies: [
                "LoadReport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // A bare SwiftNIO client of pgbench's select-only statement: the floor under any driver on NIO.
        .executableTarget(
            name: "pg-wire-floor",
            dependencies: [
                "LoadReport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
