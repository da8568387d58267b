/* sqlquery: run SQL on a database file and print the rows, as the sqlite3 shell does.
 *
 *   sqlquery DB SQL
 *
 * The data agents' query tool (sim/agents: the data scenario's shell commands):
 * opens (creating) DB, runs every statement of SQL with sqlite3_exec and prints
 * each result row as its values joined by '|' (NULL as empty), one row a line,
 * the format of `sqlite3 DB SQL`. An error is printed to stderr with SQLite's
 * message; the exit status is then 1. Linked statically with libsqlite3, so its
 * kernel paths are a storage engine's: pread64/pwrite64 at page offsets, fcntl
 * locks, fsync, a rollback journal created and unlinked per transaction.
 */
#include <sqlite3.h>
#include <stdio.h>

static int print_row(void *unused, int columns, char **values, char **names) {
    (void)unused;
    (void)names;
    for (int i = 0; i < columns; i++)
        printf("%s%s", i ? "|" : "", values[i] ? values[i] : "");
    putchar('\n');
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: sqlquery DB SQL\n");
        return 2;
    }
    sqlite3 *db = NULL;
    if (sqlite3_open(argv[1], &db) != SQLITE_OK) {
        fprintf(stderr, "sqlquery: %s: %s\n", argv[1], db ? sqlite3_errmsg(db) : "cannot open");
        return 1;
    }
    char *error = NULL;
    int status = sqlite3_exec(db, argv[2], print_row, NULL, &error) == SQLITE_OK ? 0 : 1;
    if (status != 0)
        fprintf(stderr, "Error: %s\n", error ? error : "unknown");
    sqlite3_free(error);
    sqlite3_close(db);
    return status;
}
