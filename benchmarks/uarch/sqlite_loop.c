/* sqlite_loop: N iterations of an insert and an indexed lookup in an in-memory SQLite
 * database (Debian's static libsqlite3), for the mca cycle model's validation
 * (benchmarks/uarch_validate.py). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
    sqlite3 *db;
    sqlite3_stmt *insert, *lookup;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
        sqlite3_exec(db, "CREATE TABLE t(k INTEGER, v TEXT); CREATE INDEX tk ON t(k); BEGIN",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?1, printf('row %d', ?1))", -1, &insert,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT count(*), sum(length(v)) FROM t WHERE k = ?1", -1,
                           &lookup, NULL) != SQLITE_OK)
        return 1;
    long long total = 0;
    for (long i = 0; i < n; i++) {
        sqlite3_bind_int64(insert, 1, (i * 7919) % 100003);
        if (sqlite3_step(insert) != SQLITE_DONE)
            return 1;
        sqlite3_reset(insert);
        sqlite3_bind_int64(lookup, 1, (i * 104729) % 100003);
        if (sqlite3_step(lookup) == SQLITE_ROW)
            total += sqlite3_column_int64(lookup, 0) + sqlite3_column_int64(lookup, 1);
        sqlite3_reset(lookup);
    }
    printf("%lld\n", total);
    sqlite3_finalize(insert);
    sqlite3_finalize(lookup);
    sqlite3_close(db);
    return 0;
}
