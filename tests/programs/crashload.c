/* Short sequences of file operations, each ending in one fsync: every
 * order of one to three of create, write, rename, unlink and truncate (155
 * sequences), each in a directory of its own, s1 to s155. Run on the host
 * in DIR (`crashload DIR`), and on Odonata on an ext2 disk it mounts first
 * (`crashload --mount /dev/vda /mnt`): the crash test compares the disk as
 * it stood at each flush with the host's tree. Each sequence starts from a
 * file "f" of 5000 bytes; rename flips the name between "f" and "g". The
 * fsync is of the file if it still exists, else of the directory: one
 * fsync, so one flush, per sequence. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static const char OPS[] = "cwrut";

static int write_pattern(const char *path, int flags, int len, int seed) {
    char buf[5000];
    for (int i = 0; i < len; i++)
        buf[i] = (char)('a' + (seed * 7 + i) % 26);
    int fd = open(path, flags, 0644);
    if (fd < 0)
        return -1;
    int n = write(fd, buf, len);
    close(fd);
    return n == len ? 0 : -1;
}

static int run(int number, const char *ops) {
    char dir[64], cur[80], other[80];
    snprintf(dir, sizeof dir, "s%d", number);
    if (mkdir(dir, 0755) != 0)
        return printf("s%d: mkdir: %s\n", number, strerror(errno)), 1;
    snprintf(cur, sizeof cur, "%s/f", dir);
    if (write_pattern(cur, O_CREAT | O_WRONLY | O_TRUNC, 5000, number) != 0)
        return printf("s%d: setup: %s\n", number, strerror(errno)), 1;
    for (const char *op = ops; *op; op++) {
        int r = 0;
        switch (*op) {
        case 'c': r = write_pattern(cur, O_CREAT | O_WRONLY | O_TRUNC, 0, 0); break;
        case 'w': r = write_pattern(cur, O_CREAT | O_WRONLY | O_APPEND, 3000, number + (int)(op - ops)); break;
        case 'r':
            snprintf(other, sizeof other, "%s/%s", dir, cur[strlen(cur) - 1] == 'f' ? "g" : "f");
            r = rename(cur, other);
            if (r == 0)
                strcpy(cur, other);
            break;
        case 'u': r = unlink(cur); break;
        case 't': r = truncate(cur, 1000); break;
        }
        if (r != 0 && errno != ENOENT)
            return printf("s%d: %c: %s\n", number, *op, strerror(errno)), 1;
    }
    int fd = open(cur, O_RDONLY);
    if (fd < 0)
        fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0 || fsync(fd) != 0)
        return printf("s%d: fsync: %s\n", number, strerror(errno)), 1;
    close(fd);
    printf("s%d %s synced\n", number, ops);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--mount") == 0) {
        mkdir(argv[3], 0755);
        if (mount(argv[2], argv[3], "ext2", 0, NULL) != 0)
            return printf("mount %s: %s\n", argv[2], strerror(errno)), 1;
        if (chdir(argv[3]) != 0)
            return 1;
    } else if (argc != 2 || chdir(argv[1]) != 0) {
        return printf("usage: crashload DIR | crashload --mount DEVICE DIR\n"), 2;
    }
    int number = 0;
    char ops[4];
    for (int len = 1; len <= 3; len++) {
        int total = 1;
        for (int i = 0; i < len; i++)
            total *= 5;
        for (int k = 0; k < total; k++) {
            int x = k;
            for (int i = 0; i < len; i++) {
                ops[i] = OPS[x % 5];
                x /= 5;
            }
            ops[len] = 0;
            if (run(++number, ops) != 0)
                return 1;
        }
    }
    printf("%d sequences synced\n", number);
    if (argc == 4 && (chdir("/") != 0 || umount(argv[3]) != 0))
        return printf("umount: %s\n", strerror(errno)), 1;
    return 0;
}
