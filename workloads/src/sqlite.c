/* sqlite: a small database session with the SQLite library, linked statically.
 *
 * Kernel paths: what a real storage engine does with files: openat of the
 * database and its rollback journal (O_CREAT, O_CLOEXEC), pread64/pwrite64 at
 * page offsets, fstat, ftruncate, fsync/fdatasync, unlink of the journal,
 * fcntl(F_SETLK/F_GETLK) POSIX advisory locks, access, getcwd when the path is
 * relative, and the temporary files VACUUM creates.
 *
 *   sqlite [DB [ROWS]]     DB defaults to "test.db" (relative to the cwd),
 *                          ROWS to 2000
 *
 * Creates a table, inserts ROWS rows in one transaction, creates an index,
 * runs a count, a sum, a range query that uses the index (checked with
 * EXPLAIN QUERY PLAN), a GROUP BY, deletes half the rows, VACUUMs, prints
 * every result and the page count before and after, then removes the file.
 * Every printed line depends only on ROWS.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_DB "test.db"
#define DEFAULT_ROWS 2000L
#define MAX_ROWS 10000000L
#define GROUPS 5
#define RANGE_LOW 100
#define RANGE_HIGH 199

static sqlite3 *db;

static void die(const char *what) {
    fprintf(stderr, "sqlite: %s: %s\n", what, db ? sqlite3_errmsg(db) : "no database");
    exit(1);
}

static void exec(const char *sql) {
    char *error = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &error) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s: %s\n", sql, error ? error : "?");
        exit(1);
    }
}

/* Run a query whose result is one integer. */
static long long query_int(const char *sql) {
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        die(sql);
    if (sqlite3_step(stmt) != SQLITE_ROW)
        die(sql);
    long long value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
}

static int plan_uses_index(const char *sql, const char *index) {
    char explain[256];
    snprintf(explain, sizeof explain, "EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2(db, explain, -1, &stmt, NULL) != SQLITE_OK)
        die(explain);
    int uses = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(stmt, 3);
        uses |= detail != NULL && strstr(detail, index) != NULL;
    }
    sqlite3_finalize(stmt);
    return uses;
}

static void insert_rows(long rows) {
    sqlite3_stmt *stmt;
    exec("BEGIN");
    if (sqlite3_prepare_v2(db, "INSERT INTO items(id, grp, score, name) VALUES (?, ?, ?, ?)",
                           -1, &stmt, NULL) != SQLITE_OK)
        die("prepare insert");
    for (long i = 1; i <= rows; i++) {
        char name[32];
        snprintf(name, sizeof name, "item-%06ld", i);
        sqlite3_bind_int64(stmt, 1, i);
        sqlite3_bind_int(stmt, 2, (int)(i % GROUPS));
        sqlite3_bind_int64(stmt, 3, (i * 7919) % 1000);
        sqlite3_bind_text(stmt, 4, name, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(stmt) != SQLITE_DONE)
            die("insert");
        sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    exec("COMMIT");
}

static void print_groups(void) {
    sqlite3_stmt *stmt;
    const char *sql = "SELECT grp, COUNT(*), SUM(score), MIN(name), MAX(name) "
                      "FROM items GROUP BY grp ORDER BY grp";
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        die(sql);
    while (sqlite3_step(stmt) == SQLITE_ROW)
        printf("sqlite: group %d: %lld rows, score sum %lld, names %s..%s\n",
               sqlite3_column_int(stmt, 0), sqlite3_column_int64(stmt, 1),
               sqlite3_column_int64(stmt, 2), sqlite3_column_text(stmt, 3),
               sqlite3_column_text(stmt, 4));
    sqlite3_finalize(stmt);
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : DEFAULT_DB;
    long rows = DEFAULT_ROWS;
    if (argc > 2) {
        char *end;
        rows = strtol(argv[2], &end, 10);
        if (*argv[2] == '\0' || *end != '\0' || rows < 2 || rows > MAX_ROWS) {
            fprintf(stderr, "usage: %s [db] [rows 2..%ld]\n", argv[0], MAX_ROWS);
            return 2;
        }
    }
    unlink(path); /* leftovers of an interrupted run */
    if (sqlite3_open(path, &db) != SQLITE_OK)
        die("open");

    exec("CREATE TABLE items(id INTEGER PRIMARY KEY, grp INTEGER, score INTEGER, name TEXT)");
    insert_rows(rows);
    exec("CREATE INDEX items_score ON items(score)");
    printf("sqlite: inserted %lld rows in one transaction\n", query_int("SELECT COUNT(*) FROM items"));
    printf("sqlite: sum of scores %lld\n", query_int("SELECT SUM(score) FROM items"));

    char range[128];
    snprintf(range, sizeof range, "SELECT COUNT(*) FROM items WHERE score BETWEEN %d AND %d",
             RANGE_LOW, RANGE_HIGH);
    printf("sqlite: scores %d..%d: %lld rows, index used %s\n", RANGE_LOW, RANGE_HIGH,
           query_int(range), plan_uses_index(range, "items_score") ? "yes" : "no");
    print_groups();

    long long pages_before = query_int("PRAGMA page_count");
    exec("DELETE FROM items WHERE id % 2 = 0");
    printf("sqlite: after deleting even ids %lld rows remain, sum of ids %lld\n",
           query_int("SELECT COUNT(*) FROM items"), query_int("SELECT SUM(id) FROM items"));
    exec("VACUUM");
    long long pages_after = query_int("PRAGMA page_count");
    printf("sqlite: VACUUM shrank the file: %s\n", pages_after < pages_before ? "yes" : "no");
    printf("sqlite: integrity %s\n",
           query_int("SELECT COUNT(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'")
               ? "ok" : "damaged");

    if (sqlite3_close(db) != SQLITE_OK)
        die("close");
    db = NULL;
    if (unlink(path) != 0) {
        perror("sqlite: unlink");
        return 1;
    }
    printf("sqlite: done\n");
    return 0;
}
