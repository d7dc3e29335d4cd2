/* The file system benchmark (the files issue), one static program run on
 * Odonata and on a Linux guest, each on a fresh copy of the same ext2
 * image on a virtio-blk disk: `bench-fs DEVICE DIR` mounts DEVICE on DIR
 * and prints one `name value unit` line per row (rates: higher is better),
 * then `bench-fs: done`.
 *
 * Rows: create and delete 1,000 files of 0 KiB and of 10 KiB (lmbench's
 * lat_fs); write a 64 MiB file in 64 KiB writes and fsync; read it back
 * after a remount (cold); 2,000 reads of 4 KiB at random offsets after a
 * remount (cold), then the same again (cached); extract a tree of 2,000
 * files (40 directories, 0 to 16 KiB each, as tar would) and sync. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *dev, *dir;
static char buf[65536];

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what) {
    printf("bench-fs: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void remount(void) {
    if (chdir("/") != 0 || umount(dir) != 0)
        die("umount");
    if (mount(dev, dir, "ext2", 0, NULL) != 0)
        die("mount");
}

static void lat_fs(int kib) {
    char name[128];
    double t = now();
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "%s/lat/%d", dir, i);
        int fd = open(name, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        if (fd < 0)
            die("create");
        if (kib && write(fd, buf, kib * 1024) != kib * 1024)
            die("write");
        close(fd);
    }
    double made = now() - t;
    t = now();
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "%s/lat/%d", dir, i);
        if (unlink(name) != 0)
            die("unlink");
    }
    double gone = now() - t;
    printf("create_%dk %.0f files/s\n", kib, 1000 / made);
    printf("delete_%dk %.0f files/s\n", kib, 1000 / gone);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc != 3)
        return printf("usage: bench-fs DEVICE DIR\n"), 2;
    dev = argv[1];
    dir = argv[2];
    mkdir(dir, 0755);
    if (mount(dev, dir, "ext2", 0, NULL) != 0)
        die("mount");
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (char)(i * 7 + 3);
    char path[128], lat[128];
    snprintf(lat, sizeof lat, "%s/lat", dir);
    mkdir(lat, 0755);
    lat_fs(0);
    lat_fs(10);

    snprintf(path, sizeof path, "%s/big", dir);
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0)
        die("create big");
    double t = now();
    for (int i = 0; i < 1024; i++)
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
            die("write big");
    if (fsync(fd) != 0)
        die("fsync");
    close(fd);
    printf("seq_write_fsync %.1f MB/s\n", 64 / (now() - t));

    remount();
    fd = open(path, O_RDONLY);
    t = now();
    long total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        total += n;
    }
    close(fd);
    if (total != 64L << 20)
        die("read big");
    printf("seq_read_cold %.1f MB/s\n", 64 / (now() - t));

    remount();
    static long offsets[2000];
    unsigned x = 12345;
    for (int i = 0; i < 2000; i++) {
        x = x * 1103515245 + 12345;
        offsets[i] = (long)(x % 16384) * 4096;
    }
    for (int pass = 0; pass < 2; pass++) {
        fd = open(path, O_RDONLY);
        t = now();
        for (int i = 0; i < 2000; i++)
            if (pread(fd, buf, 4096, offsets[i]) != 4096)
                die("pread");
        close(fd);
        printf("%s %.0f reads/s\n", pass == 0 ? "rand_read_cold" : "rand_read_cached", 2000 / (now() - t));
    }

    t = now();
    for (int d = 0; d < 40; d++) {
        snprintf(path, sizeof path, "%s/tree%d", dir, d);
        if (mkdir(path, 0755) != 0)
            die("mkdir");
        for (int f = 0; f < 50; f++) {
            snprintf(path, sizeof path, "%s/tree%d/file%d", dir, d, f);
            fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
            if (fd < 0)
                die("extract");
            int len = (d * 50 + f) * 331 % 16384;
            if (write(fd, buf, len) != len)
                die("extract write");
            close(fd);
        }
    }
    sync();
    printf("extract_2000 %.0f files/s\n", 2000 / (now() - t));
    if (chdir("/") != 0 || umount(dir) != 0)
        die("umount");
    printf("bench-fs: done\n");
    return 0;
}
