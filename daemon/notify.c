/*
 * Notifications: domain events to commands and webhooks (notify.h).
 *
 * Each [notify NAME] section makes one target per way out ("NAME/command",
 * "NAME/webhook"), and each target keeps, per group, the id of the next
 * event it has not yet handed over. Two sides:
 *
 *   loop thread   ics_notify_run: from the target's scan cursor, derives
 *                 the events of up to S_SCAN_BUDGET entries per turn
 *                 (events.c, as icsctl watch does), queues those of the
 *                 kinds wanted (at most S_QUEUE_MAX waiting per target),
 *                 and moves the scan cursor past what it read.
 *   worker        one thread per target (a slow receiver holds up only its
 *                 own events) takes its oldest queued event once its
 *                 back-off is over, delivers it (a child process fed the JSON on
 *                 stdin and killed past timeout_ms; an HTTP POST with
 *                 libcurl, 2xx is success), and only then writes the
 *                 target's cursor in notify.db past it and drops it from
 *                 the queue. A failure doubles the back-off (1 s up to
 *                 retry_max_ms) and the same event is tried again: order
 *                 is kept, nothing is skipped.
 *
 * Invariants: the stored cursor never passes an event that was wanted and
 * not delivered, so a restart resumes at the first one not taken (at least
 * once); it is written right after each success, so a clean stop repeats
 * nothing (a crash between the receiver's answer and the write, or an
 * attempt still under way 2 s after the node began to stop or reload and
 * so cut short, can repeat one event, and its id says so). The loop thread
 * never waits on a receiver; stopping waits at most those 2 s. Events are a function of the log, so the
 * same ids come back after a restart. A target seen for the first time
 * starts at the log's current end: a new hook is not flooded with history.
 * Only the workers write notify.db, each its target's rows through its own
 * connection; only the loop thread reads the groups.
 */
#define _GNU_SOURCE /* pipe2 */
#include "notify.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "events.h"
#include "group.h"
#include "history.h"

#define S_QUEUE_MAX 64       /* events waiting per target */
#define S_SCAN_BUDGET 200    /* entries read per target and group per turn */
#define S_RETRY_FIRST_MS 1000
#define S_MAX_ARGS 16
#define S_STOP_GRACE_MS 2000 /* an attempt under way when stopping: then it is cut */

extern char **environ;

typedef struct s_item {
    struct s_item *next;
    size_t group;            /* index into the node's groups */
    uint64_t index;          /* cursor after delivery: (index, n + 1) */
    uint32_t n;
    char id[ICS_GROUP_MAX + 48];
    char kind[ICS_EVENT_KIND_MAX];
    char *json;              /* NULL: nothing to deliver, only the cursor to store */
} s_item_t;

typedef struct {
    char name[ICS_GROUP_MAX + 16];
    ics_notify_cfg_t cfg;
    bool webhook;
    /* loop thread */
    bool known[ICS_MAX_GROUPS];     /* scan cursor set (from notify.db or the log's end) */
    struct {
        char group[ICS_GROUP_MAX];
        uint64_t idx;
        uint32_t n;
    } stored[ICS_MAX_GROUPS];       /* notify.db's cursors at start, by group name */
    size_t n_stored;
    uint64_t scan_index[ICS_MAX_GROUPS];
    uint32_t scan_n[ICS_MAX_GROUPS];
    /* shared, under the lock */
    s_item_t *head, *tail;
    size_t queued;
    /* its worker */
    struct ics_notify *owner;
    pthread_t thread;
    bool started;
    sqlite3 *db;                    /* its own connection to notify.db */
    uint64_t next_try_ms;
    unsigned failures;
} s_target_t;

struct ics_notify {
    s_target_t t[2 * ICS_MAX_NOTIFY];
    size_t n_t;
    char groups[ICS_MAX_GROUPS][ICS_GROUP_MAX];  /* names, as the loop first saw them */
    char org[ICS_ORG_MAX];
    bool curl;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
    _Atomic uint64_t cut_at;     /* monotonic ms after which an attempt is cut; 0: never */
};

/* Is the node stopping (or reloading) and has the attempt under way had
 * its grace? Then it ends as a failure: its event stays undelivered in
 * notify.db, and is delivered after the restart. */
static bool s_cut(ics_notify_t *self)
{
    uint64_t at = atomic_load(&self->cut_at);
    return at != 0 && ics_mono_ms() >= at;
}

/* ---- the event as JSON ---------------------------------------------------- */

char *ics_notify_event_json(const char *org, const char *group, const ics_event_t *ev,
                          const char *id)
{
    char *buf = NULL, when[32] = "";
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    time_t t = (time_t)(ev->clock_ms / 1000);
    struct tm tm;
    json_t j;

    if (f == NULL)
        return NULL;
    if (gmtime_r(&t, &tm) != NULL)
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_init(&j, f);
    json_obj(&j, NULL);
    json_str(&j, "id", id);
    json_str(&j, "group", group);
    json_u64(&j, "index", ev->index);
    json_u64(&j, "n", ev->n);
    json_str(&j, "kind", ev->kind);
    json_u64(&j, "clock_ms", ev->clock_ms);
    json_str(&j, "time", when);
    json_str(&j, "org", ev->org);
    json_str(&j, "other", ev->other);
    json_str(&j, "actor", ev->actor);
    json_str(&j, "on_behalf_of", ev->on_behalf);
    json_u64(&j, "ref", ev->ref);
    json_u64(&j, "ref2", ev->ref2);
    json_str(&j, "text", ev->text);
    json_str(&j, "node", org);
    json_end_obj(&j);
    json_done(&j);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- configuration ---------------------------------------------------------- */

static bool s_kind_known(const char *kind)
{
    size_t n = strlen(kind);
    for (size_t i = 0; ics_event_kinds[i] != NULL; i++)
        if (strncmp(ics_event_kinds[i], kind, n) == 0 &&
            (ics_event_kinds[i][n] == '\0' || ics_event_kinds[i][n] == '.'))
            return true;
    return false;
}

int ics_notify_check(const ics_config_t *cfg, ics_err_t *err)
{
    for (size_t i = 0; i < cfg->n_notify; i++) {
        const ics_notify_cfg_t *n = &cfg->notify[i];
        for (size_t k = 0; k < n->n_kinds; k++)
            if (!s_kind_known(n->kinds[k]))
                return ics_err(err, ICS_ECONFIG, "%s:%d: [notify %s] kinds: no event kind is "
                               "or starts with '%s' (icsctl watch --help lists them)",
                               cfg->path, n->line, n->name, n->kinds[k]);
        if (n->url[0] != '\0') {
            CURLU *u = curl_url();
            CURLUcode rc = u != NULL ? curl_url_set(u, CURLUPART_URL, n->url, 0) : CURLUE_OUT_OF_MEMORY;
            curl_url_cleanup(u);
            if (rc != CURLUE_OK)
                return ics_err(err, ICS_ECONFIG, "%s:%d: [notify %s] url = '%s': %s", cfg->path,
                               n->line, n->name, n->url, curl_url_strerror(rc));
        }
    }
    return ICS_OK;
}

/* ---- notify.db --------------------------------------------------------------- */

static int s_db_open(const char *data_dir, sqlite3 **db, ics_err_t *err)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/notify.db", data_dir);
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                        SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
        sqlite3_exec(*db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                          "CREATE TABLE IF NOT EXISTS cursors(target TEXT NOT NULL,"
                          " grp TEXT NOT NULL, idx INTEGER NOT NULL, n INTEGER NOT NULL,"
                          " delivered INTEGER NOT NULL DEFAULT 0, event TEXT NOT NULL DEFAULT '',"
                          " PRIMARY KEY (target, grp))", NULL, NULL, NULL) != SQLITE_OK) {
        ics_err(err, ICS_EIO, "%s: %s", path, *db != NULL ? sqlite3_errmsg(*db) : "cannot open");
        sqlite3_close(*db);
        *db = NULL;
        return ICS_EIO;
    }
    sqlite3_busy_timeout(*db, 1000);
    return ICS_OK;
}

/* The target's cursors in notify.db, by group name. */
static void s_db_load(sqlite3 *db, s_target_t *t)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT grp, idx, n FROM cursors WHERE target = ?1", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
        while (t->n_stored < ICS_MAX_GROUPS && sqlite3_step(st) == SQLITE_ROW) {
            const unsigned char *g = sqlite3_column_text(st, 0);
            ics_strcpy(t->stored[t->n_stored].group, sizeof t->stored[0].group,
                       g != NULL ? (const char *)g : "");
            t->stored[t->n_stored].idx = (uint64_t)sqlite3_column_int64(st, 1);
            t->stored[t->n_stored].n = (uint32_t)sqlite3_column_int64(st, 2);
            t->n_stored++;
        }
    }
    sqlite3_finalize(st);
}

static int s_db_store(sqlite3 *db, const char *target, const char *group, uint64_t idx,
                      uint32_t n, const char *event)
{
    sqlite3_stmt *st = NULL;
    int rc = ICS_EIO;
    if (sqlite3_prepare_v2(db, "INSERT INTO cursors(target, grp, idx, n, delivered, event)"
                               " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(target, grp) DO"
                               " UPDATE SET idx = ?3, n = ?4, delivered = delivered + ?5,"
                               " event = CASE WHEN ?6 = '' THEN event ELSE ?6 END", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, group, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)idx);
        sqlite3_bind_int64(st, 4, n);
        sqlite3_bind_int(st, 5, event[0] != '\0');
        sqlite3_bind_text(st, 6, event, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_DONE)
            rc = ICS_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- delivery (worker thread) ------------------------------------------------ */

static int s_run_command(ics_notify_t *self, const s_target_t *t, const s_item_t *it, char *why,
                         size_t size)
{
    char cmd[PATH_MAX], *argv[S_MAX_ARGS + 1], *save = NULL, *tok;
    char env_id[sizeof it->id + 16], env_kind[sizeof it->kind + 16];
    char **envp = NULL;
    size_t argc = 0, n_env = 0, len = strlen(it->json);
    int pfd[2] = {-1, -1}, status = 0, rc = -1;
    pid_t pid;

    ics_strcpy(cmd, sizeof cmd, t->cfg.command);
    for (tok = strtok_r(cmd, " \t", &save); tok != NULL && argc < S_MAX_ARGS;
         tok = strtok_r(NULL, " \t", &save))
        argv[argc++] = tok;
    argv[argc] = NULL;
    if (argc == 0) {
        snprintf(why, size, "no command");
        return -1;
    }
    /* The child gets the environment with the event's id and kind added;
     * built here, since only async-signal-safe calls may follow fork. */
    while (environ[n_env] != NULL)
        n_env++;
    envp = calloc(n_env + 3, sizeof *envp);
    if (envp == NULL) {
        snprintf(why, size, "out of memory");
        return -1;
    }
    memcpy(envp, environ, n_env * sizeof *envp);
    snprintf(env_id, sizeof env_id, "ICS_EVENT_ID=%s", it->id);
    snprintf(env_kind, sizeof env_kind, "ICS_EVENT_KIND=%s", it->kind);
    envp[n_env] = env_id;
    envp[n_env + 1] = env_kind;
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        snprintf(why, size, "pipe: %s", strerror(errno));
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        snprintf(why, size, "fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        setpgid(0, 0);
        if (dup2(pfd[0], 0) < 0)
            _exit(127);
#ifdef SYS_close_range
        syscall(SYS_close_range, 3u, ~0u, 0u);
#endif
        execve(argv[0], argv, envp);
        _exit(127);
    }
    setpgid(pid, pid);
    close(pfd[0]);
    pfd[0] = -1;
    /* An event is far smaller than a pipe's buffer: this does not wait on
     * the child. A child that exits without reading it gets EPIPE here. */
    for (size_t off = 0; off < len;) {
        ssize_t w = write(pfd[1], it->json + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(pfd[1]);
    pfd[1] = -1;
    uint64_t deadline = ics_mono_ms() + t->cfg.timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            snprintf(why, size, "waitpid: %s", strerror(errno));
            goto out;
        }
        if (ics_mono_ms() >= deadline || s_cut(self)) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            if (s_cut(self))
                snprintf(why, size, "killed: icsd is stopping");
            else
                snprintf(why, size, "killed after %u ms", t->cfg.timeout_ms);
            goto out;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        rc = 0;
    else if (WIFEXITED(status))
        snprintf(why, size, "exited with status %d", WEXITSTATUS(status));
    else
        snprintf(why, size, "killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
out:
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (pfd[1] >= 0)
        close(pfd[1]);
    free(envp);
    return rc;
}

static size_t s_discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * nmemb;
}

static int s_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                      curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return s_cut(arg) ? 1 : 0;
}

static int s_post(ics_notify_t *self, const s_target_t *t, const s_item_t *it, char *why,
                  size_t size)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = NULL;
    char idem[sizeof it->id + 32], errbuf[CURL_ERROR_SIZE] = "";
    long code = 0;
    int rc = -1;

    if (h == NULL) {
        snprintf(why, size, "libcurl: out of memory");
        return -1;
    }
    snprintf(idem, sizeof idem, "Idempotency-Key: %s", it->id);
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, idem);
    curl_easy_setopt(h, CURLOPT_URL, t->cfg.url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, it->json);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(it->json));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)t->cfg.timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "icsd/" ICS_VERSION);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s_discard);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, s_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, self);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        snprintf(why, size, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200 && code < 300)
            rc = 0;
        else
            snprintf(why, size, "HTTP status %ld", code);
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return rc;
}

/* One per target, so that a slow receiver holds up only its own events. */
static void *s_worker(void *arg)
{
    s_target_t *t = arg;
    ics_notify_t *self = t->owner;

    pthread_mutex_lock(&self->lock);
    while (!self->stop) {
        uint64_t now = ics_mono_ms();
        if (t->head == NULL || t->next_try_ms > now) {
            uint64_t wait = t->head == NULL || t->next_try_ms - now > 500 ? 500
                                                                          : t->next_try_ms - now;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t ns = (uint64_t)ts.tv_nsec + wait * 1000000ull;
            ts.tv_sec += (time_t)(ns / 1000000000ull);
            ts.tv_nsec = (long)(ns % 1000000000ull);
            pthread_cond_timedwait(&self->wake, &self->lock, &ts);
            continue;
        }
        /* Only this thread takes the target's items off: the head stays. */
        s_item_t *it = t->head;
        pthread_mutex_unlock(&self->lock);

        char why[256] = "";
        int rc = 0;
        if (it->json != NULL)
            rc = t->webhook ? s_post(self, t, it, why, sizeof why)
                            : s_run_command(self, t, it, why, sizeof why);
        if (rc == 0 && s_db_store(t->db, t->name, self->groups[it->group], it->index,
                                  it->n + (it->json != NULL ? 1 : 0),
                                  it->json != NULL ? it->id : "") != ICS_OK) {
            snprintf(why, sizeof why, "delivered, but notify.db could not be written: %s",
                     sqlite3_errmsg(t->db));
            rc = -1; /* try again: a repeat, never a loss */
        }

        pthread_mutex_lock(&self->lock);
        if (rc == 0) {
            if (it->json != NULL)
                ics_debug("notify %s: delivered %s (%s)", t->name, it->id, it->kind);
            if (t->failures > 0)
                ics_notice("notify %s: delivering again after %u failed attempt(s)", t->name,
                           t->failures);
            t->head = it->next;
            if (t->head == NULL)
                t->tail = NULL;
            t->queued--;
            t->failures = 0;
            t->next_try_ms = 0;
            free(it->json);
            free(it);
        } else {
            uint64_t wait = S_RETRY_FIRST_MS;
            for (unsigned k = 0; k < t->failures && wait < t->cfg.retry_max_ms; k++)
                wait *= 2;
            if (wait > t->cfg.retry_max_ms)
                wait = t->cfg.retry_max_ms;
            t->failures++;
            t->next_try_ms = ics_mono_ms() + wait;
            ics_warn("notify %s: %s not delivered (%s); attempt %u, next in %llu ms", t->name,
                     it->id, why, t->failures, (unsigned long long)wait);
        }
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

/* ---- reading events (loop thread) ------------------------------------------ */

static void s_enqueue(ics_notify_t *self, s_target_t *t, s_item_t *it)
{
    pthread_mutex_lock(&self->lock);
    if (t->tail != NULL)
        t->tail->next = it;
    else
        t->head = it;
    t->tail = it;
    t->queued++;
    pthread_cond_broadcast(&self->wake);
    pthread_mutex_unlock(&self->lock);
}

static size_t s_queued(ics_notify_t *self, s_target_t *t)
{
    pthread_mutex_lock(&self->lock);
    size_t n = t->queued;
    pthread_mutex_unlock(&self->lock);
    return n;
}

static s_item_t *s_item(size_t g, const char *group, uint64_t index, uint32_t n)
{
    s_item_t *it = calloc(1, sizeof *it);
    if (it == NULL)
        return NULL;
    it->group = g;
    it->index = index;
    it->n = n;
    snprintf(it->id, sizeof it->id, "%s:%" PRIu64 ":%u", group, index, n);
    return it;
}

/* Queues target t's next events in group g; stops at a full queue, a gap
 * in the history (waited for, never stepped over) or the budget. */
static void s_scan(ics_notify_t *self, s_target_t *t, size_t g, ics_group_t *grp)
{
    ics_history_t *hist = ics_group_history(grp);
    sqlite3 *db = ics_fsm_db(ics_group_fsm(grp));
    uint64_t top = ics_fsm_position(ics_group_fsm(grp));
    uint64_t p = t->scan_index[g], prev_clock = 0;
    uint32_t skip = t->scan_n[g];
    ics_log_entry_t batch[S_SCAN_BUDGET];
    ics_events_t ev = {0};
    size_t nb = 0;

    if (p > top || s_queued(self, t) >= S_QUEUE_MAX)
        return;
    if (p > 1) {
        ics_log_entry_t before;
        if (ics_history_entry(hist, p - 1, &before) != ICS_OK)
            return;
        prev_clock = before.clock_ms;
        free(before.envelope);
    }
    while (nb < S_SCAN_BUDGET && p + nb <= top && ics_history_entry(hist, p + nb, &batch[nb]) == ICS_OK)
        nb++;
    if (nb == 0)
        return;
    int rc = ics_events_derive_batch(db, batch, nb, prev_clock, &ev);
    for (size_t i = 0; i < nb; i++)
        free(batch[i].envelope);
    if (rc != ICS_OK) {
        ics_warn("notify %s: could not read the events of group %s: %s", t->name,
                 self->groups[g], ics_strerror(rc));
        ics_events_free(&ev);
        return;
    }
    char *const *kinds = (char *const *)NULL;
    char *kp[ICS_NOTIFY_KINDS];
    for (size_t k = 0; k < t->cfg.n_kinds; k++)
        kp[k] = t->cfg.kinds[k];
    kinds = kp;
    uint64_t next_p = p + nb;
    uint32_t next_n = 0;
    for (size_t k = 0; k < ev.n; k++) {
        const ics_event_t *e = &ev.v[k];
        if (e->index == p && e->n < skip)
            continue;
        if (!ics_event_matches(e, kinds, t->cfg.n_kinds, NULL, 0))
            continue;
        if (s_queued(self, t) >= S_QUEUE_MAX) {
            next_p = e->index;
            next_n = e->n;
            break;
        }
        s_item_t *it = s_item(g, self->groups[g], e->index, e->n);
        if (it != NULL) {
            ics_strcpy(it->kind, sizeof it->kind, e->kind);
            it->json = ics_notify_event_json(self->org, self->groups[g], e, it->id);
        }
        if (it == NULL || it->json == NULL) {
            if (it != NULL)
                free(it);
            next_p = e->index;
            next_n = e->n; /* out of memory: from here next turn */
            break;
        }
        s_enqueue(self, t, it);
    }
    t->scan_index[g] = next_p;
    t->scan_n[g] = next_n;
    ics_events_free(&ev);
}

void ics_notify_run(ics_notify_t *self, struct ics_group *const *groups, size_t n_groups)
{
    if (self == NULL)
        return;
    for (size_t g = 0; g < n_groups && g < ICS_MAX_GROUPS; g++) {
        const char *name = ics_group_name(groups[g]);
        /* Set before any item of the group is queued, never changed: the
         * worker reads it. */
        if (self->groups[g][0] == '\0')
            ics_strcpy(self->groups[g], sizeof self->groups[g], name);
        for (size_t i = 0; i < self->n_t; i++) {
            s_target_t *t = &self->t[i];
            for (size_t k = 0; !t->known[g] && k < t->n_stored; k++) {
                if (strcmp(t->stored[k].group, name) == 0) {
                    t->scan_index[g] = t->stored[k].idx;
                    t->scan_n[g] = t->stored[k].n;
                    t->known[g] = true;
                }
            }
            if (!t->known[g]) {
                /* First sight of this target in this group: from the
                 * log's end, stored now so a restart starts there too. */
                uint64_t top = ics_fsm_position(ics_group_fsm(groups[g]));
                s_item_t *it = s_item(g, name, top + 1, 0);
                if (it == NULL)
                    continue;
                t->scan_index[g] = top + 1;
                t->scan_n[g] = 0;
                t->known[g] = true;
                s_enqueue(self, t, it);
                ics_notice("notify %s: new target, group %s: from position %" PRIu64, t->name,
                           name, top + 1);
            }
            s_scan(self, t, g, groups[g]);
        }
    }
}

/* ---- life cycle ------------------------------------------------------------- */

int ics_notify_new(const ics_config_t *cfg, ics_notify_t **out, ics_err_t *err)
{
    ics_notify_t *self = NULL;
    int rc;

    *out = NULL;
    if (cfg->n_notify == 0)
        return ICS_OK;
    if ((rc = ics_notify_check(cfg, err)) != ICS_OK)
        return rc;
    self = calloc(1, sizeof *self);
    if (self == NULL)
        return ics_err(err, ICS_ENOMEM, "out of memory");
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, NULL);
    ics_strcpy(self->org, sizeof self->org, cfg->org);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rc = ics_err(err, ICS_EIO, "libcurl failed to initialise");
        goto fail;
    }
    self->curl = true;
    for (size_t i = 0; i < cfg->n_notify; i++) {
        for (int w = 0; w < 2; w++) {
            const ics_notify_cfg_t *n = &cfg->notify[i];
            if ((w == 0 && n->command[0] == '\0') || (w == 1 && n->url[0] == '\0'))
                continue;
            s_target_t *t = &self->t[self->n_t++];
            t->cfg = *n;
            t->webhook = w == 1;
            snprintf(t->name, sizeof t->name, "%s/%s", n->name, w ? "webhook" : "command");
            t->owner = self;
            if ((rc = s_db_open(cfg->data_dir, &t->db, err)) != ICS_OK)
                goto fail;
            s_db_load(t->db, t);
        }
    }
    for (size_t i = 0; i < self->n_t; i++) {
        if (pthread_create(&self->t[i].thread, NULL, s_worker, &self->t[i]) != 0) {
            rc = ics_err(err, ICS_EIO, "cannot start a notification thread");
            goto fail;
        }
        self->t[i].started = true;
    }
    ics_info("notify: %zu target(s) from %zu [notify] section(s)", self->n_t, cfg->n_notify);
    *out = self;
    return ICS_OK;
fail:
    ics_notify_destroy(&self);
    return rc;
}

void ics_notify_destroy(ics_notify_t **self_p)
{
    ics_notify_t *self;
    if (self_p == NULL || *self_p == NULL)
        return;
    self = *self_p;
    atomic_store(&self->cut_at, ics_mono_ms() + S_STOP_GRACE_MS);
    pthread_mutex_lock(&self->lock);
    self->stop = true;
    pthread_cond_broadcast(&self->wake);
    pthread_mutex_unlock(&self->lock);
    for (size_t i = 0; i < self->n_t; i++) {
        if (self->t[i].started)
            pthread_join(self->t[i].thread, NULL);
        sqlite3_close(self->t[i].db);
        for (s_item_t *it = self->t[i].head, *next; it != NULL; it = next) {
            next = it->next;
            free(it->json);
            free(it);
        }
    }
    if (self->curl)
        curl_global_cleanup();
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}
