// Directories: mkdir, readdir, rmdir of empty and non-empty directories,
// opening a directory as a file, and stat of directories.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"

static int cmp(const void *x, const void *y) {
    return strcmp(*(char *const *)x, *(char *const *)y);
}

int main(void) {
    const char *d = "fs.dir/dir.cleanup";
    CHECK(mkdir(d, 0755) == 0);
    CHECK(mkdir(d, 0755) == -1 && errno == EEXIST);
    struct stat st;
    CHECK(stat(d, &st) == 0 && S_ISDIR(st.st_mode));
    const char *names[] = {"c", "a", "b"};
    char path[64];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", d, names[i]);
        int fd = open(path, O_CREAT | O_WRONLY, 0644);
        CHECK(fd >= 0 && close(fd) == 0);
    }
    DIR *dir = opendir(d);
    CHECK(dir != NULL);
    char *seen[8];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        CHECK(n < 8);
        seen[n++] = strdup(e->d_name);
    }
    closedir(dir);
    CHECK(n == 3);
    qsort(seen, n, sizeof *seen, cmp);
    CHECK(strcmp(seen[0], "a") == 0 && strcmp(seen[1], "b") == 0 && strcmp(seen[2], "c") == 0);

    CHECK(rmdir(d) == -1 && errno == ENOTEMPTY);
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", d, names[i]);
        CHECK(unlink(path) == 0);
    }
    CHECK(rmdir(d) == 0);
    CHECK(stat(d, &st) == -1 && errno == ENOENT);
    CHECK(open("fs.dir", O_WRONLY) == -1 && errno == EISDIR);
    CHECK(mkdir("fs.dir/missing/child.cleanup", 0755) == -1 && errno == ENOENT);
    PASS();
}
