import DBConnectionPostgres
import DBConnectionSQLite
import Foundation
import Testing

@testable import dbconn

@Suite struct DatabaseURLTests {
    @Test func sqliteURLsParseToOptions() throws {
        try withTemporaryDirectorySync { directory in
            let url = try DatabaseURL("sqlite:\(directory)/a.sqlite?busy_timeout=100", for: .bench)
            let options = try #require(url.sqlite)
            #expect(options.path == "\(directory)/a.sqlite")
            #expect(options.busyTimeout == .milliseconds(100))
            #expect(options.journalMode == .wal)
            #expect(url.driverName == "sqlite")
        }
    }

    @Test func queryingAnExistingDatabaseLeavesItsJournalModeAlone() throws {
        let url = try DatabaseURL("sqlite::memory:", for: .query(create: false))
        #expect(url.sqlite?.journalMode == nil)
    }

    @Test func postgresURLsParseToOptionsAndShowNoPassword() throws {
        let url = try DatabaseURL("postgres://app:s3cret@db.example:6543/shop?sslmode=disable", for: .bench)
        let options = try #require(url.postgres)
        #expect(options.host == "db.example")
        #expect(options.port == 6543)
        #expect(options.user == "app")
        #expect(options.password == "s3cret")
        #expect(options.database == "shop")
        #expect(url.driverName == "postgresql")
        #expect(url.url == "postgres://app:***@db.example:6543/shop?sslmode=disable")
        #expect(try DatabaseURL("postgresql://app@host/db", for: .query(create: false)).postgres?.host == "host")
    }

    @Test(arguments: [
        ("postgresql://host/db", "the URL names no user"),
        ("postgres://u:pw@host/db?sslmode=sometimes", "sslmode must be"),
        ("postgres://u:pw@host:99999/db", "the port must be a number"),
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

    @Test func createIsForSQLiteOnly() {
        #expect {
            _ = try DatabaseURL("postgres://u:pw@host/db", for: .query(create: true))
        } throws: { error in
            "\(error)".contains("--create applies to sqlite: URLs only") && !"\(error)".contains("pw")
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
