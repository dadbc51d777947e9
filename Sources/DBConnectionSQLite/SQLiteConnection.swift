// The SQLite driver; see issue 5.
