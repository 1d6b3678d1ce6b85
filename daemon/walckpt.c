/*
 * The checkpointer (walckpt.h). The loop thread only ever takes the mutex
 * to raise `due`; the checkpoint itself runs with the mutex released.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "walckpt.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ics_walckpt {
    sqlite3 *db;     /* the loop's connection: only its WAL hook is ours */
    sqlite3 *own;    /* the thread's */
    char path[4096];
    unsigned pages;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;  /* due or stop was raised */
    pthread_cond_t done;  /* a checkpoint ended */
    bool due, running, stop;
    int copied;      /* WAL frames copied as of the thread's last checkpoint */
    uint64_t logged_failures;  /* failures the loop has logged */
    uint64_t logged_ms;        /* when it last logged one */
    ics_walckpt_stats_t stats;
};

static void *s_run(void *arg)
{
    ics_walckpt_t *self = arg;

    /* What top -H and perf show for this thread. */
    pthread_setname_np(pthread_self(), "icsd-ckpt");
    pthread_mutex_lock(&self->lock);
    for (;;) {
        while (!self->due && !self->stop)
            pthread_cond_wait(&self->wake, &self->lock);
        if (self->stop)
            break;
        self->due = false;
        self->running = true;
        pthread_mutex_unlock(&self->lock);

        int log = -1, copied = -1;
        int rc = sqlite3_wal_checkpoint_v2(self->own, NULL, SQLITE_CHECKPOINT_PASSIVE, &log,
                                           &copied);

        pthread_mutex_lock(&self->lock);
        self->running = false;
        self->stats.runs++;
        if (rc == SQLITE_OK && copied >= 0)
            self->copied = copied;
        /* Busy: another checkpoint is running (an operator's, say). */
        if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
            self->stats.failures++;
            snprintf(self->stats.last_error, sizeof self->stats.last_error, "%s",
                     sqlite3_errmsg(self->own));
        }
        pthread_cond_broadcast(&self->done);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

static void s_raise(ics_walckpt_t *self)
{
    pthread_mutex_lock(&self->lock);
    self->due = true;
    pthread_cond_signal(&self->wake);
    /* A failure the loop has not told of yet: the thread must not log
     * (the loop's logging is not for threads), so it is told here, on the
     * loop, once a minute at most (a full disk fails every one). */
    if (self->stats.failures > self->logged_failures &&
        (self->logged_ms == 0 || ics_mono_ms() - self->logged_ms >= 60000)) {
        self->logged_failures = self->stats.failures;
        self->logged_ms = ics_mono_ms();
        ics_warn("%s: WAL checkpoint failed (%llu so far): %s", self->path,
                 (unsigned long long)self->stats.failures, self->stats.last_error);
    }
    pthread_mutex_unlock(&self->lock);
}

/* SQLite's WAL hook, on the loop's connection after each commit, in place
 * of its automatic checkpoint.
 *
 * The WAL starts again from its beginning only when a checkpoint has
 * copied all of it before the next write begins, which the thread, racing
 * a writer that writes every turn, seldom manages. So the thread copies
 * the bulk, and the loop, once the thread is idle with little left
 * uncopied (half a threshold: a few turns' writes), copies the rest here
 * as SQLite itself would have, cheaply: the thread has already synced the
 * bulk to the database file. The WAL then restarts at the next write,
 * over the blocks the file already has. The loop also does it at four
 * thresholds, however much is left, should the thread never get near (a
 * writer faster than its checkpoints).
 *
 * The file is never cut to nothing: journal_size_limit trims it when it
 * restarts. A cut (a TRUNCATE checkpoint) would have to run here, on the
 * loop, as only the writer can cut under its own lock; done after every
 * snapshot it took the loop 2-9 ms each time at 500 submissions/s, most
 * of a node's latency tail, and the commits after it grow the file again. */
static int s_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    ics_walckpt_t *self = arg;
    unsigned left;
    bool idle;

    if (frames < 0)
        return SQLITE_OK;
    pthread_mutex_lock(&self->lock);
    if (self->copied > frames)
        self->copied = 0; /* the WAL restarted since */
    left = (unsigned)(frames - self->copied);
    idle = !self->due && !self->running;
    pthread_mutex_unlock(&self->lock);

    if ((unsigned)frames < self->pages)
        return SQLITE_OK;
    if (idle && (left <= self->pages / 2 || (unsigned)frames >= 4u * self->pages)) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&self->lock);
        self->copied = 0;
        pthread_mutex_unlock(&self->lock);
        return SQLITE_OK;
    }
    if (idle)
        s_raise(self);
    return SQLITE_OK;
}

ics_walckpt_t *ics_walckpt_start(sqlite3 *db, const char *path, unsigned pages,
                                 ics_err_t *err)
{
    ics_walckpt_t *self = calloc(1, sizeof *self);
    int rc;

    if (self == NULL) {
        ics_err(err, ICS_ENOMEM, "out of memory");
        return NULL;
    }
    self->db = db;
    self->pages = pages > 0 ? pages : 1;
    snprintf(self->path, sizeof self->path, "%s", path);
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, NULL);
    pthread_cond_init(&self->done, NULL);
    rc = sqlite3_open_v2(path, &self->own, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        ics_err(err, ICS_EIO, "%s: cannot open a connection for checkpoints: %s", path,
                self->own != NULL ? sqlite3_errmsg(self->own) : sqlite3_errstr(rc));
        goto fail;
    }
    /* A connection finds the WAL at its first read; until then a
     * checkpoint through it does nothing (and says so only by -1s). */
    rc = sqlite3_exec(self->own, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        ics_err(err, ICS_EIO, "%s: cannot read it for checkpoints: %s", path,
                sqlite3_errmsg(self->own));
        goto fail;
    }
    rc = pthread_create(&self->thread, NULL, s_run, self);
    if (rc != 0) {
        ics_err(err, ICS_EIO, "%s: cannot start the checkpoint thread: %s", path, strerror(rc));
        goto fail;
    }
    sqlite3_wal_hook(db, s_hook, self);
    return self;
fail:
    sqlite3_close(self->own);
    pthread_cond_destroy(&self->done);
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    free(self);
    return NULL;
}

void ics_walckpt_stop(ics_walckpt_t **self_p)
{
    ics_walckpt_t *self = *self_p;

    if (self == NULL)
        return;
    /* Back to SQLite's own checkpoints (1,000 pages, its default). */
    sqlite3_wal_autocheckpoint(self->db, 1000);
    pthread_mutex_lock(&self->lock);
    self->stop = true;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    pthread_join(self->thread, NULL);
    sqlite3_close(self->own);
    pthread_cond_destroy(&self->done);
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

void ics_walckpt_request(ics_walckpt_t *self)
{
    s_raise(self);
}

bool ics_walckpt_idle(ics_walckpt_t *self, unsigned timeout_ms)
{
    struct timespec until;
    bool idle;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&self->lock);
    while ((self->due || self->running) &&
           pthread_cond_timedwait(&self->done, &self->lock, &until) != ETIMEDOUT)
        ;
    idle = !self->due && !self->running;
    pthread_mutex_unlock(&self->lock);
    return idle;
}

void ics_walckpt_stats(ics_walckpt_t *self, ics_walckpt_stats_t *out)
{
    pthread_mutex_lock(&self->lock);
    *out = self->stats;
    pthread_mutex_unlock(&self->lock);
}
