import DBConnectionSQLite
import Foundation
import Testing

@testable import dbconn

@Suite struct DatabaseURLTests {
    @Test func sqliteURLsParseToOptions() throws {
        try withTemporaryDirectorySync { directory in
            let url = try DatabaseURL("sqlite:\(directory)/a.sqlite?busy_timeout=100", for: .bench)
            #expect(url.sqlite.path == "\(directory)/a.sqlite")
            #expect(url.sqlite.busyTimeout == .milliseconds(100))
            #expect(url.sqlite.journalMode == .wal)
        }
    }

    @Test func queryingAnExistingDatabaseLeavesItsJournalModeAlone() throws {
        let url = try DatabaseURL("sqlite::memory:", for: .query(create: false))
        #expect(url.sqlite.journalMode == nil)
    }

    @Test(arguments: [
        ("postgres://u:pw@host/db", "PostgreSQL driver is not built yet"),
        ("postgresql://host/db", "PostgreSQL driver is not built yet"),
        ("mysql://host/db", "unknown database URL scheme \"mysql\""),
        ("bench.db", "is not a database URL"),
        ("sqlite:", "names no database"),
        ("sqlite:x.db?color=blue", "unknown option"),
        ("sqlite:/no/such/dir/x.db", "directory /no/such/dir does not exist"),
        ("sqlite::memory:", "sqlite::memory: gives each connection a database of its own"),
    ])
    func badURLsAreRejectedWithAReason(url: String, expected: String) {
        #expect {
            _ = try DatabaseURL(url, for: .bench)
        } throws: { error in
            "\(error)".contains(expected) && !"\(error)".contains("pw@")
        }
    }

    @Test func queryingAMissingFileSaysHowToCreateIt() throws {
        try withTemporaryDirectorySync { directory in
            #expect {
                _ = try DatabaseURL("sqlite:\(directory)/missing.sqlite", for: .query(create: false))
            } throws: { error in
                "\(error)".contains("--create")
            }
            _ = try DatabaseURL("sqlite:\(directory)/missing.sqlite", for: .query(create: true))
        }
    }
}

func withTemporaryDirectorySync<T>(_ body: (String) throws -> T) throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("dbconnTests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try body(directory.path)
}
