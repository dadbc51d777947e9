/*
 * The limit for dbconn's SQLite read workload: the same statement through libsqlite3 directly, one
 * thread, one connection, no pool, no Swift. Reads `SELECT abalance FROM bench_accounts WHERE aid = ?`
 * with a uniformly random aid, one prepared statement reset and rebound per query, as many as it can
 * for the given seconds, and prints one JSON line: {"queries":..., "seconds":..., "qps":..., "ns_per_query":...}.
 *
 *     cc -O2 -o sqlite-direct sqlite-direct.c -lsqlite3
 *     ./sqlite-direct PATH SECONDS
 *
 * scripts/bench-sqlite.sh builds and runs it next to `dbconn bench --workload read`.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64*: cheap, good enough for uniform keys. */
static uint64_t next_random(uint64_t *state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 2685821657736338717ULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s PATH SECONDS\n", argv[0]);
        return 64;
    }
    double seconds = atof(argv[2]);
    sqlite3 *db;
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        fprintf(stderr, "sqlite-direct: cannot open %s: %s\n", argv[1], sqlite3_errmsg(db));
        return 1;
    }
    sqlite3_stmt *count;
    if (sqlite3_prepare_v2(db, "SELECT max(aid) FROM bench_accounts", -1, &count, NULL) != SQLITE_OK
        || sqlite3_step(count) != SQLITE_ROW) {
        fprintf(stderr, "sqlite-direct: no bench_accounts table in %s (run dbconn bench first): %s\n", argv[1],
                sqlite3_errmsg(db));
        return 1;
    }
    int64_t accounts = sqlite3_column_int64(count, 0);
    sqlite3_finalize(count);
    sqlite3_stmt *select;
    if (sqlite3_prepare_v3(db, "SELECT abalance FROM bench_accounts WHERE aid = ?", -1, SQLITE_PREPARE_PERSISTENT,
                           &select, NULL) != SQLITE_OK) {
        fprintf(stderr, "sqlite-direct: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    int64_t sum = 0;
    long queries = 0;
    double start = now_seconds(), end = start + seconds, t = start;
    while (t < end) {
        for (int i = 0; i < 1000; i++) {
            sqlite3_bind_int64(select, 1, (int64_t)(next_random(&rng) % (uint64_t)accounts) + 1);
            if (sqlite3_step(select) == SQLITE_ROW) sum += sqlite3_column_int64(select, 0);
            sqlite3_reset(select);
        }
        queries += 1000;
        t = now_seconds();
    }
    double elapsed = t - start;
    printf("{\"queries\":%ld,\"seconds\":%.3f,\"qps\":%.0f,\"ns_per_query\":%.0f,\"checksum\":%lld}\n", queries,
           elapsed, queries / elapsed, elapsed * 1e9 / queries, (long long)sum);
    sqlite3_finalize(select);
    sqlite3_close(db);
    return 0;
}
