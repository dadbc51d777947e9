import DBConnection

/// What a bench run needs from a driver, and nothing more: make (or find) the tables, run one drawn
/// transaction on a leased connection, check the data afterwards.
///
/// One conformer per driver: ``SQLiteBench`` (`?` placeholders, `BEGIN IMMEDIATE`) and
/// ``PostgresBench`` (`$1` placeholders, named prepared statements that each connection prepares once
/// and keeps in its statement cache). ``BenchRunner`` is generic over it, so the workers' loop calls
/// the driver without an existential in between.
protocol BenchDriver: Sendable {
    associatedtype Connection: DatabaseConnection

    /// How to connect, for the pool and for the set-up and check connections.
    var options: Connection.Options { get }

    /// Makes the workload's tables on a connection outside the pool, or finds them.
    /// - Parameters:
    ///   - db: a connection of its own.
    ///   - workload: what will run.
    ///   - scale: the requested scale; a driver that finds existing tables (`select` on PostgreSQL)
    ///     returns theirs instead.
    /// - Returns: the tables the run uses.
    /// - Throws: ``CLIError`` naming what is missing (for example pgbench's tables), or the driver's error.
    func setUp(_ db: Connection, workload: Workload, scale: BenchScale) async throws -> BenchTables

    /// Runs one transaction on a leased connection; a transfer is one database transaction and rolls
    /// back on any error.
    /// - Throws: what the driver threw, or ``CLIError`` when a statement found no row.
    func run(_ transaction: BenchTransaction, on db: Connection, mtime: Int64) async throws

    /// Checks what the workload must keep true, after the run.
    /// - Throws: the driver's error when the figures can't be read.
    func check(
        _ db: Connection,
        workload: Workload,
        tables: BenchTables,
        committedWrites: Int
    ) async throws -> Consistency
}

/// The tables a run works on, as ``BenchDriver/setUp(_:workload:scale:)`` left them.
struct BenchTables: Sendable, Equatable {
    /// Their size.
    var scale: BenchScale
    /// Whether the set-up made and filled them (`false`: it found pgbench's tables).
    var filled: Bool
}
