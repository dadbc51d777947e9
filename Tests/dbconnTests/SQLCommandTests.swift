import DBConnectionPostgres
import DBConnectionSQLite
import Foundation
import Testing

@testable import dbconn

@Suite struct SQLCommandTests {
    @Test func rowsPrintAsAnAlignedTableWithNullsAndACount() {
        let result = SQLiteResult(
            columns: ["id", "name", "data"],
            rows: [
                [1, "alice", .blob([0, 255])],
                [22, .null, .null],
                [333, "two\nlines", .null],
            ]
        )
        #expect(
            ResultTable.render(result) == """
                 id | name       | data
                ----+------------+--------
                  1 | alice      | x'00ff'
                 22 | NULL       | NULL
                333 | two\\nlines | NULL
                (3 rows)

                """
        )
    }

    @Test func anEmptyResultStillShowsItsColumns() {
        #expect(ResultTable.render(SQLiteResult(columns: ["a"], rows: [])) == "a\n-\n(0 rows)\n")
    }

    @Test func statementsWithoutColumnsSayHowManyRowsChanged() {
        #expect(ResultTable.render(SQLiteResult(rowsChanged: 1)) == "1 row changed\n")
        #expect(ResultTable.render(SQLiteResult(rowsChanged: 12)) == "12 rows changed\n")
    }

    @Test func postgresRowsPrintLikePsqlWithNumbersRightAligned() {
        let result = PGResult(
            columns: ["id", "name", "ok", "price", "tags", "at", "data"],
            rows: [
                [
                    .int32(1), "alice", true, .numeric("12.50"), ["a", "b c"],
                    .timestamptz(Date(timeIntervalSince1970: 0.25)), .bytea([0, 255]),
                ],
                [.int64(22), .null, false, .null, .array([]), .date(Date(timeIntervalSince1970: 86_400)), .null],
            ],
            commandTag: "SELECT 2"
        )
        #expect(
            ResultTable.render(result) == """
                id | name  | ok | price | tags      | at                        | data
                ---+-------+----+-------+-----------+---------------------------+-------
                 1 | alice | t  | 12.50 | {a,"b c"} | 1970-01-01 00:00:00.25+00 | \\x00ff
                22 | NULL  | f  |  NULL | {}        | 1970-01-02                | NULL
                (2 rows)

                """
        )
    }

    @Test func postgresStatementsWithoutRowsShowTheirCountOrTag() {
        #expect(ResultTable.render(PGResult(commandTag: "INSERT 0 1")) == "1 row changed\n")
        #expect(ResultTable.render(PGResult(commandTag: "UPDATE 12")) == "12 rows changed\n")
        #expect(ResultTable.render(PGResult(commandTag: "CREATE TABLE")) == "CREATE TABLE\n")
    }
}
