/* SQLite's floating point, which once printed wrong digits in a coffer: with the x87
 * unit at 24-bit precision (a zero control word) sum(w) printed 562124.996185302 for
 * 562125.0. Real sums, averages, rounding and printf of doubles through SQLite's own
 * number-to-text conversion (which uses long double), printed the same natively and
 * in a coffer (tests/test_cpu_state.py). */
#include <sqlite3.h>
#include <stdio.h>

static int show(void *unused, int columns, char **values, char **names) {
    (void)unused;
    for (int i = 0; i < columns; i++)
        printf("%s=%s%s", names[i], values[i] ? values[i] : "NULL", i + 1 < columns ? " " : "\n");
    return 0;
}

int main(void) {
    sqlite3 *db;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK)
        return 1;
    const char *sql =
        "CREATE TABLE t(id INTEGER PRIMARY KEY, w REAL);"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)"
        "  INSERT INTO t(w) SELECT i * 1.125 FROM n;"
        "SELECT sum(w), avg(w), total(w), round(avg(w), 3), max(w) / 3 FROM t;"
        "SELECT printf('%.15f', 1.0 / 3), printf('%.20e', 562125.0 / 7), 0.1 + 0.2;"
        "SELECT round(2.5), round(-2.5), round(1234.5678, 2), 1e308 * 10, CAST('3.14159' AS REAL);";
    char *error = NULL;
    if (sqlite3_exec(db, sql, show, NULL, &error) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s\n", error);
        return 1;
    }
    sqlite3_close(db);
    return 0;
}
