// Files: create, write, read, seek, pread/pwrite, stat, truncate, rename,
// unlink, and the errors for missing and existing files.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"

int main(void) {
    const char *a = "fs.dir/file_a.cleanup", *b = "fs.dir/file_b.cleanup";
    int fd = open(a, O_CREAT | O_RDWR | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "hello world", 11) == 11);
    CHECK(lseek(fd, 6, SEEK_SET) == 6);
    char buf[16] = {0};
    CHECK(read(fd, buf, 5) == 5 && memcmp(buf, "world", 5) == 0);
    CHECK(read(fd, buf, 5) == 0);  // end of file
    CHECK(lseek(fd, 0, SEEK_END) == 11);
    CHECK(lseek(fd, -5, SEEK_CUR) == 6);
    CHECK(pwrite(fd, "HELLO", 5, 0) == 5);
    CHECK(pread(fd, buf, 11, 0) == 11 && memcmp(buf, "HELLO world", 11) == 0);
    CHECK(lseek(fd, 0, SEEK_CUR) == 6);  // pread/pwrite leave the offset alone
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && st.st_size == 11 && S_ISREG(st.st_mode));
    CHECK(ftruncate(fd, 5) == 0);
    CHECK(fstat(fd, &st) == 0 && st.st_size == 5);
    CHECK(close(fd) == 0);
    CHECK(stat(a, &st) == 0 && st.st_size == 5);

    CHECK(rename(a, b) == 0);
    CHECK(stat(a, &st) == -1 && errno == ENOENT);
    CHECK(stat(b, &st) == 0);
    CHECK(open(b, O_CREAT | O_EXCL | O_WRONLY, 0644) == -1 && errno == EEXIST);
    CHECK(unlink(b) == 0);
    CHECK(open(b, O_RDONLY) == -1 && errno == ENOENT);

    // Append mode writes at the end whatever the offset.
    fd = open(a, O_CREAT | O_WRONLY | O_APPEND, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "12", 2) == 2 && write(fd, "34", 2) == 2);
    CHECK(close(fd) == 0);
    CHECK(stat(a, &st) == 0 && st.st_size == 4);
    CHECK(unlink(a) == 0);

    // The fixture written by the suite is there and read-only content is intact.
    FILE *f = fopen("fs.dir/fixture.txt", "r");
    CHECK(f != NULL);
    CHECK(fgets(buf, sizeof buf, f) != NULL && strcmp(buf, "fixture\n") == 0);
    fclose(f);
    PASS();
}
