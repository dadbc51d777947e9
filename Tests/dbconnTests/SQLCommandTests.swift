import DBConnectionSQLite
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
}
