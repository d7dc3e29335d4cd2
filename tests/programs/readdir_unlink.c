/* Empties a directory of 300 files the way `rm -r` does: reads it with
 * readdir (musl asks getdents64 for 2 KiB at a time) and removes each
 * entry as it is read, then removes the directory. Every entry that is
 * there from start to end must be read exactly once, whatever the
 * removals before it (POSIX): the directory ends empty. Prints one line. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILES 300

int main(int argc, char **argv) {
    if (argc != 2)
        return printf("usage: readdir_unlink DIR\n"), 2;
    const char *dir = argv[1];
    char path[512];
    if (mkdir(dir, 0755) != 0)
        return printf("mkdir %s: %s\n", dir, strerror(errno)), 1;
    for (int i = 0; i < FILES; i++) {
        snprintf(path, sizeof path, "%s/a-rather-long-file-name-to-fill-the-buffer-%03d", dir, i);
        int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (fd < 0)
            return printf("create %s: %s\n", path, strerror(errno)), 1;
        close(fd);
    }
    DIR *d = opendir(dir);
    if (!d)
        return printf("opendir: %s\n", strerror(errno)), 1;
    int removed = 0, seen_twice = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0) {
            if (errno == ENOENT)
                seen_twice++;
            else
                return printf("unlink %s: %s\n", path, strerror(errno)), 1;
        } else {
            removed++;
        }
    }
    closedir(d);
    int gone = rmdir(dir) == 0;
    printf("readdir_unlink: removed %d of %d in one pass, %d read twice, directory %s\n", removed, FILES, seen_twice,
           gone ? "removed" : strerror(errno));
    return gone && removed == FILES ? 0 : 1;
}
