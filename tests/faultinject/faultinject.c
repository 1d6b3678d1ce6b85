/*
 * A storage fault injector for the multi-process tests, loaded into icsd
 * with LD_PRELOAD. It fails writes and syncs of files under chosen
 * directories, as a full disk or a failing one would, while everything
 * else (sockets, eventfds, the log on stderr) goes through untouched.
 *
 * ICS_FAULT_FILE names a control file, read again whenever it changes (at
 * most every 10 ms). Each line is "MODE PREFIX":
 *
 *   ENOSPC /tmp/x/RTD.data/   write, pwrite, writev... fail with ENOSPC
 *   EIO    /tmp/x/RTD.data/   those and fsync, fdatasync fail with EIO
 *   FSYNC  /tmp/x/RTD.data/   only fsync and fdatasync fail, with EIO
 *
 * for any descriptor whose path (/proc/self/fd) starts with PREFIX. An
 * empty or missing file injects nothing. Under AddressSanitizer, run icsd
 * with verify_asan_link_order=0 (this library comes before ASan's runtime).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define RULES_MAX 8

typedef struct {
    int mode; /* 0 ENOSPC, 1 EIO, 2 FSYNC */
    char prefix[512];
} s_rule_t;

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static s_rule_t s_rules[RULES_MAX];
static int s_n_rules;
static struct timespec s_mtime;
static off_t s_size = -1;
static ino_t s_ino;
static long long s_next_check_ms;

static long long s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Re-reads the control file if it changed. Called with s_lock held. */
static void s_refresh(void)
{
    const char *path = getenv("ICS_FAULT_FILE");
    struct stat st;
    char line[600];
    FILE *fp;
    long long now = s_now_ms();

    if (now < s_next_check_ms)
        return;
    s_next_check_ms = now + 10;
    if (path == NULL || stat(path, &st) != 0) {
        s_n_rules = 0;
        s_size = -1;
        return;
    }
    if (st.st_size == s_size && st.st_ino == s_ino && st.st_mtim.tv_sec == s_mtime.tv_sec &&
        st.st_mtim.tv_nsec == s_mtime.tv_nsec)
        return;
    s_size = st.st_size;
    s_ino = st.st_ino;
    s_mtime = st.st_mtim;
    s_n_rules = 0;
    fp = fopen(path, "re");
    if (fp == NULL)
        return;
    while (s_n_rules < RULES_MAX && fgets(line, sizeof line, fp) != NULL) {
        char mode[16], prefix[512];
        s_rule_t *r = &s_rules[s_n_rules];

        if (sscanf(line, "%15s %511s", mode, prefix) != 2)
            continue;
        if (strcmp(mode, "ENOSPC") == 0)
            r->mode = 0;
        else if (strcmp(mode, "EIO") == 0)
            r->mode = 1;
        else if (strcmp(mode, "FSYNC") == 0)
            r->mode = 2;
        else
            continue;
        strcpy(r->prefix, prefix);
        s_n_rules++;
    }
    fclose(fp);
}

/* The errno to fail this call on fd with, or 0. sync: an fsync family call. */
static int s_fault(int fd, bool sync)
{
    char link[64], target[1024];
    ssize_t n;
    int err = 0;

    pthread_mutex_lock(&s_lock);
    s_refresh();
    if (s_n_rules > 0) {
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        n = readlink(link, target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            for (int i = 0; i < s_n_rules && err == 0; i++) {
                const s_rule_t *r = &s_rules[i];
                if (strncmp(target, r->prefix, strlen(r->prefix)) != 0)
                    continue;
                if (sync && r->mode != 0)
                    err = EIO;
                else if (!sync && r->mode == 0)
                    err = ENOSPC;
                else if (!sync && r->mode == 1)
                    err = EIO;
            }
        }
    }
    pthread_mutex_unlock(&s_lock);
    return err;
}

typedef ssize_t (*s_write_fn)(int, const void *, size_t);
typedef ssize_t (*s_pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*s_pwrite64_fn)(int, const void *, size_t, off64_t);
typedef ssize_t (*s_writev_fn)(int, const struct iovec *, int);
typedef ssize_t (*s_pwritev_fn)(int, const struct iovec *, int, off_t);
typedef int (*s_sync_fn)(int);

#define REAL(name, type)                                                                   \
    static type real;                                                                      \
    if (real == NULL)                                                                      \
        real = (type)dlsym(RTLD_NEXT, name)

ssize_t write(int fd, const void *buf, size_t count)
{
    REAL("write", s_write_fn);
    int e = s_fault(fd, false);
    if (e != 0) {
        errno = e;
        return -1;
    }
    return real(fd, buf, count);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t off)
{
    REAL("pwrite", s_pwrite_fn);
    int e = s_fault(fd, false);
    if (e != 0) {
        errno = e;
        return -1;
    }
    return real(fd, buf, count, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off64_t off)
{
    REAL("pwrite64", s_pwrite64_fn);
    int e = s_fault(fd, false);
    if (e != 0) {
        errno = e;
        return -1;
    }
    return real(fd, buf, count, off);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    REAL("writev", s_writev_fn);
    int e = s_fault(fd, false);
    if (e != 0) {
        errno = e;
        return -1;
    }
    return real(fd, iov, iovcnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
    REAL("pwritev", s_pwritev_fn);
    int e = s_fault(fd, false);
    if (e != 0) {
        errno = e;
        return -1;
    }
    return real(fd, iov, iovcnt, off);
}

int fsync(int fd)
{
    REAL("fsync", s_sync_fn);
    int e = s_fault(fd, true);
    if (e != 0) {
        errno = e;
        return -1;
    }
    return real(fd);
}

int fdatasync(int fd)
{
    REAL("fdatasync", s_sync_fn);
    int e = s_fault(fd, true);
    if (e != 0) {
        errno = e;
        return -1;
    }
    return real(fd);
}
