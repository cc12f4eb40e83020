// Symlinks: create, readlink, follow, lstat, and that a link pointing out of
// the preopened directory cannot be followed.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"

int main(void) {
    const char *link = "fs.dir/link.cleanup";
    CHECK(symlink("fixture.txt", link) == 0);
    char target[64] = {0};
    CHECK(readlink(link, target, sizeof target - 1) == 11 && strcmp(target, "fixture.txt") == 0);
    struct stat st;
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(stat(link, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 8);
    int fd = open(link, O_RDONLY);
    CHECK(fd >= 0);
    char buf[16] = {0};
    CHECK(read(fd, buf, sizeof buf) == 8 && strcmp(buf, "fixture\n") == 0);
    close(fd);
    CHECK(unlink(link) == 0);
    CHECK(lstat(link, &st) == -1 && errno == ENOENT);

    // A link that leaves the sandbox may be made, but never followed.
    const char *escape = "fs.dir/escape.cleanup";
    CHECK(symlink("../../../../../../etc/passwd", escape) == 0);
    CHECK(open(escape, O_RDONLY) == -1);
    CHECK(unlink(escape) == 0);
    CHECK(open("fs.dir/../fs_symlinks.c", O_RDONLY) == -1);
    PASS();
}
