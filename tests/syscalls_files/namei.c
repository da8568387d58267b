/* mkdir, rmdir, unlink, rename, link, symlink and their *at forms. */
#include "check.h"

static void show_file(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        printf("  %s: mode %o nlink %lu size %ld\n", path, st.st_mode,
               (unsigned long)st.st_nlink, (long)st.st_size);
    else
        printf("  %s: %s\n", path, strerrorname_np(errno));
}

static void touch(const char *path)
{
    close(open(path, O_CREAT | O_WRONLY, 0644));
}

int main(void)
{
    umask(022);
    T(mkdir("d", 0755));
    T(mkdir("d", 0755));
    T(mkdir("d/e/f", 0755));
    T(mkdir("", 0755));
    T(mkdir(".", 0755));
    T(mkdir("d/..", 0755));
    touch("f");
    T(mkdir("f/x", 0755));
    T(mkdir("f/", 0755));
    T(mkdir("m/", 07777));
    show_file("m");
    T(syscall(SYS_mkdir, NULL, 0755));
    T(syscall(SYS_mkdir, "long/../very/../../x", 0755));
    int d = T(open("d", O_RDONLY | O_DIRECTORY));
    T(mkdirat(d, "sub", 0700));
    show_file("d/sub");
    show_file("d");
    T(mkdirat(999, "sub", 0700));

    /* rmdir and unlink */
    touch("d/x");
    T(rmdir("d"));
    T(rmdir("f"));
    T(rmdir("."));
    T(rmdir("d/.."));
    T(rmdir("nofile"));
    T(rmdir("m/"));
    T(unlink("d"));
    T(unlink("d/"));
    T(unlink("f/"));
    T(unlink("nofile/"));
    T(unlink("nofile"));
    T(unlinkat(AT_FDCWD, "d", AT_REMOVEDIR));
    T(unlinkat(AT_FDCWD, "f", 1));
    T(unlinkat(d, "x", 0));
    T(unlinkat(d, "x", 0));
    T(unlinkat(d, "sub", AT_REMOVEDIR));
    T(unlinkat(d, "x", AT_REMOVEDIR));
    show_file("d");

    /* rename */
    touch("a");
    T(rename("a", "b"));
    show_file("a");
    show_file("b");
    T(rename("nofile", "c"));
    T(rename("b", "b"));
    T(rename("b", "d"));
    T(mkdir("d/sub", 0755));
    T(rename("d", "b"));
    T(rename("d", "d/sub/x"));
    T(mkdir("e", 0755));
    T(rename("e", "d"));
    T(rename("d/sub", "e"));
    show_file("e");
    show_file("d");
    T(rename("b/", "c"));
    T(rename("b", "c/"));
    T(rename(".", "x"));
    T(rename("b", "."));
    T(rename("b", "/"));
    T(renameat(d, "../b", AT_FDCWD, "c"));
    show_file("c");
    touch("x");
    T(renameat2(AT_FDCWD, "c", AT_FDCWD, "x", RENAME_NOREPLACE));
    T(renameat2(AT_FDCWD, "nofile", AT_FDCWD, "x", RENAME_NOREPLACE));
    T(renameat2(AT_FDCWD, "c", AT_FDCWD, "y", RENAME_NOREPLACE));
    T(renameat2(AT_FDCWD, "y", AT_FDCWD, "z", 8));
    T(renameat2(AT_FDCWD, "y", AT_FDCWD, "z", RENAME_NOREPLACE | RENAME_EXCHANGE));
    T(renameat2(AT_FDCWD, "y", AT_FDCWD, ".", RENAME_NOREPLACE));
    T(syscall(SYS_rename, "y", NULL));

    /* link */
    T(link("y", "y2"));
    show_file("y");
    T(link("y", "y2"));
    T(link("d", "d2"));
    T(link("nofile", "n2"));
    T(link("y", "nodir/y3"));
    T(symlink("y", "sy"));
    T(linkat(AT_FDCWD, "sy", AT_FDCWD, "hsy", 0));
    show_file("hsy");
    T(linkat(AT_FDCWD, "sy", AT_FDCWD, "hy", AT_SYMLINK_FOLLOW));
    show_file("hy");
    T(linkat(AT_FDCWD, "y", d, "y4", 0));
    show_file("y");
    T(linkat(AT_FDCWD, "y", AT_FDCWD, "y5", 0x1));
    T(unlink("y"));
    show_file("y2");

    /* symlink */
    T(symlink("target", "s"));
    show_file("s");
    T(symlink("target", "s"));
    T(symlink("", "s2"));
    T(symlink("x", ""));
    T(symlinkat("t2", d, "s3"));
    show_file("d/s3");
    T(symlinkat("t2", 999, "s3"));
    T(symlink("x", "nodir/s"));
    T(syscall(SYS_symlink, NULL, "s4"));
    return 0;
}
