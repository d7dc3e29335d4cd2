/* One directory and one file used by four processes at once (on four CPUs
 * under Odonata at -smp 4): each creates, writes, stats, renames, reads
 * back and removes files of its own in the shared directory, makes and
 * removes a subdirectory, and appends records to one shared log. What it
 * prints does not depend on the interleaving: every check passes, the
 * directory ends empty, the log holds every record once. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKERS 4
#define ROUNDS 300

static const char *dir;
static char log_path[256];

static int fail(const char *what, int worker, int round) {
    printf("worker %d round %d: %s: %s\n", worker, round, what, strerror(errno));
    return 1;
}

static int work(int me) {
    char made[300], moved[300], sub[300], buf[64], want[64];
    int logfd = open(log_path, O_WRONLY | O_APPEND);
    if (logfd < 0)
        return fail("open log", me, -1);
    for (int i = 0; i < ROUNDS; i++) {
        snprintf(made, sizeof made, "%s/w%d-%d.new", dir, me, i);
        snprintf(moved, sizeof moved, "%s/w%d-%d", dir, me, i);
        snprintf(sub, sizeof sub, "%s/d%d", dir, me);
        int n = snprintf(want, sizeof want, "worker %d round %d\n", me, i);
        int fd = open(made, O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (fd < 0)
            return fail("create", me, i);
        if (write(fd, want, n) != n)
            return fail("write", me, i);
        close(fd);
        struct stat st;
        if (stat(made, &st) != 0 || st.st_size != n)
            return fail("stat", me, i);
        if (rename(made, moved) != 0)
            return fail("rename", me, i);
        if (access(made, F_OK) == 0 || errno != ENOENT)
            return fail("old name still there", me, i);
        fd = open(moved, O_RDONLY);
        if (fd < 0 || read(fd, buf, sizeof buf) != n || memcmp(buf, want, n) != 0)
            return fail("read back", me, i);
        close(fd);
        if (mkdir(sub, 0755) != 0)
            return fail("mkdir", me, i);
        if (rmdir(sub) != 0)
            return fail("rmdir", me, i);
        if (write(logfd, want, n) != n)
            return fail("append", me, i);
        if (unlink(moved) != 0)
            return fail("unlink", me, i);
    }
    close(logfd);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    dir = argc > 1 ? argv[1] : "/tmp/files-shared";
    mkdir(dir, 0755);
    snprintf(log_path, sizeof log_path, "%s.log", dir);
    int fd = open(log_path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0)
        return fail("create log", -1, -1);
    close(fd);
    pid_t pids[WORKERS];
    for (int w = 0; w < WORKERS; w++) {
        pids[w] = fork();
        if (pids[w] == 0)
            _exit(work(w));
    }
    int failed = 0;
    for (int w = 0; w < WORKERS; w++) {
        int st;
        waitpid(pids[w], &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed++;
    }
    printf("%d workers, %d rounds each: %d failed\n", WORKERS, ROUNDS, failed);

    DIR *d = opendir(dir);
    int left = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            left++;
    if (d)
        closedir(d);
    printf("entries left in the directory: %d\n", left);

    /* Every record once, each worker's in its own order. */
    FILE *f = fopen(log_path, "r");
    int next[WORKERS] = {0}, records = 0, misordered = 0;
    char line[64];
    while (f && fgets(line, sizeof line, f)) {
        int w, r;
        if (sscanf(line, "worker %d round %d", &w, &r) == 2 && w >= 0 && w < WORKERS) {
            if (r != next[w])
                misordered++;
            next[w] = r + 1;
            records++;
        }
    }
    if (f)
        fclose(f);
    printf("log records: %d, out of order: %d\n", records, misordered);
    off_t expected = 0;
    for (int w = 0; w < WORKERS; w++)
        for (int r = 0; r < ROUNDS; r++)
            expected += snprintf(line, sizeof line, "worker %d round %d\n", w, r);
    struct stat st;
    stat(log_path, &st);
    printf("log size is the records' sum: %s\n", st.st_size == expected ? "yes" : "no");
    unlink(log_path);
    printf("rmdir: %s\n", rmdir(dir) == 0 ? "ok" : strerror(errno));
    return failed;
}
