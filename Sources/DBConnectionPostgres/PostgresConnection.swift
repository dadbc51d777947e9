// The PostgreSQL driver (issue 6, in progress).
