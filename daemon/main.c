/*
 * icsd: the coordination daemon an ICS partner organisation runs.
 *
 *   icsd [-c FILE]             run the node (default /etc/icsd/icsd.conf)
 *   icsd --check-config FILE   validate a configuration and exit
 *   icsd keygen FILE           write a new identity key, print the public key
 *
 * Exit status: 0 clean stop, 1 failure, 2 usage error.
 *
 * Signals: TERM and INT stop the node; HUP reloads what can be reloaded
 * (node.c, s_reload) and names what needs a restart. HUP is caught from
 * the start, so an early one cannot kill a node that is starting.
 *
 * Under journald, every message is sent with sd_journal_sendv, carrying
 * the event's structured fields (GROUP=, PEER=, ...); what is printed
 * before logging starts carries its <N> priority prefix.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* Every entry would name s_journal_sink as its source: leave it out. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "common/config.h"
#include "common/keys.h"
#include "node.h"
#include "notify.h"

#define DEFAULT_CONFIG "/etc/icsd/icsd.conf"

static volatile sig_atomic_t s_stop, s_reload;

static void s_on_signal(int sig)
{
    if (sig == SIGHUP)
        s_reload = 1;
    else
        s_stop = 1;
}

/* Errors before the log is set up (and --check-config's): "icsd: ...",
 * with a priority the journal understands. */
static void s_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void s_fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%sicsd: ", ics_log_prefix(ICS_LOG_ERR));
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Journal entries with the event's fields. MESSAGE is the line as it would
 * be printed; SYSLOG_IDENTIFIER keeps journalctl -t icsd working. */
static bool s_journal_sink(int level, const char *msg, const char *const *fields)
{
    enum { MAX_FIELDS = 16 };
    struct iovec iov[3 + MAX_FIELDS];
    char message[1100], priority[16];
    int n = 0;

    snprintf(message, sizeof message, "MESSAGE=%s", msg);
    snprintf(priority, sizeof priority, "PRIORITY=%d", level);
    iov[n++] = (struct iovec){.iov_base = message, .iov_len = strlen(message)};
    iov[n++] = (struct iovec){.iov_base = priority, .iov_len = strlen(priority)};
    iov[n++] = (struct iovec){.iov_base = (char *)"SYSLOG_IDENTIFIER=icsd", .iov_len = 22};
    for (size_t i = 0; fields != NULL && fields[i] != NULL && i < MAX_FIELDS; i++)
        iov[n++] = (struct iovec){.iov_base = (char *)fields[i], .iov_len = strlen(fields[i])};
    return sd_journal_sendv(iov, n) >= 0;
}

static void s_usage(FILE *f)
{
    fprintf(f,
            "Usage: icsd [-c FILE]             run the node\n"
            "       icsd --check-config FILE   validate a configuration and exit\n"
            "       icsd keygen FILE           create an identity key (mode 0600)\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE   configuration file (default " DEFAULT_CONFIG ")\n"
            "      --check-config FILE\n"
            "                      parse and validate FILE, load its key, and exit\n"
            "  -v, --verbose       log debug messages\n"
            "  -h, --help          show this help\n"
            "  -V, --version       show the version\n"
            "\n"
            "See icsd(8) and icsd.conf(5).\n");
}

static int s_keygen(const char *path)
{
    char pub[ICS_PUBKEY_TEXT_MAX];
    ics_err_t err;
    if (ics_identity_generate(path, pub, &err) != ICS_OK) {
        s_fail("%s", err.msg);
        return 1;
    }
    printf("%s\n", pub);
    fprintf(stderr, "icsd: wrote secret key %s (mode 0600); put the line above in every "
                    "member's [org] section as public_key\n", path);
    return 0;
}

static int s_check(const char *path)
{
    static ics_config_t cfg;
    ics_identity_t *id;
    ics_err_t err;

    if (ics_config_load(path, &cfg, &err) != ICS_OK || ics_notify_check(&cfg, &err) != ICS_OK) {
        s_fail("%s", err.msg);
        return 1;
    }
    id = ics_identity_load(cfg.key_file, &err);
    if (id == NULL) {
        s_fail("%s: %s", path, err.msg);
        return 1;
    }
    const ics_org_cfg_t *me = ics_config_org(&cfg, cfg.org);
    bool match = memcmp(me->public_key, ics_identity_public(id), ICS_PK_BYTES) == 0;
    ics_identity_destroy(&id);
    if (!match) {
        s_fail("%s:%d: public_key of [org %s] does not match key file %s", path, me->line,
               cfg.org, cfg.key_file);
        return 1;
    }
    printf("%s: ok (%s, %zu organisation(s), %zu group(s))\n", path, cfg.org, cfg.n_orgs,
           cfg.n_groups);
    return 0;
}

/* One node per data directory: a second one would corrupt the raft log. */
static int s_lock(const char *dir, ics_err_t *err)
{
    char path[PATH_MAX + 16];
    int fd;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return ics_err(err, ICS_EIO, "data_dir %s: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/icsd.lock", dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return ics_err(err, ICS_EIO, "%s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return ics_err(err, ICS_EEXIST, "another icsd is running with data_dir %s", dir);
    }
    return fd; /* held until exit */
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", required_argument, NULL, 'C'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    static ics_config_t cfg;
    const char *config = DEFAULT_CONFIG;
    bool verbose = false;
    ics_node_t *node = NULL;
    ics_err_t err;
    int c, rc;

    struct sigaction sa = {.sa_handler = s_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);

    while ((c = getopt_long(argc, argv, "c:vhV", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'C': return s_check(optarg);
        case 'v': verbose = true; break;
        case 'h': s_usage(stdout); return 0;
        case 'V': printf("icsd %s\n", ICS_VERSION); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        if (strcmp(argv[optind], "keygen") == 0 && optind + 2 == argc)
            return s_keygen(argv[optind + 1]);
        s_fail("unexpected argument '%s'", argv[optind]);
        s_usage(stderr);
        return 2;
    }
    /* SQLite counts every allocation under one global mutex, for
     * sqlite3_memory_used(), which nothing here asks; before any open. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
#ifdef __GLIBC__
    /* Buffers of a megabyte and more (a catch-up's AppendEntries, history
     * chunks, snapshots sent and installed) get mappings of their own and
     * go back to the system when freed. glibc's default raises that limit
     * to the largest block freed so far, after which such buffers stay in
     * its heaps: the resident size then kept the high-water mark of every
     * catch-up served, 34 to 51 MiB over 250,000 entries in deploy/scale.sh
     * against 32 to 37 MiB with the limit fixed. Smaller, frequent buffers
     * (a batch's frame) stay in the heaps, as before. */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
    if (!ics_crypto_init()) {
        s_fail("libsodium failed to initialise");
        return 1;
    }
    if (ics_config_load(config, &cfg, &err) != ICS_OK) {
        s_fail("%s", err.msg);
        return 1;
    }
    /* sd_journal_sendv drops messages silently when journald's socket is
     * missing; then the stream it gave us is the better way in. */
    if (ics_log_journald() && access("/run/systemd/journal/socket", W_OK) == 0)
        ics_log_set_sink(s_journal_sink);
    ics_log_set_level(verbose ? ICS_LOG_DEBUG : cfg.log_level);
    if (s_lock(cfg.data_dir, &err) < 0) {
        ics_error("%s", err.msg);
        return 1;
    }

    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    node = ics_node_new(&cfg, &s_stop, &err);
    if (node == NULL) {
        ics_error("%s", err.msg);
        return 1;
    }
    ics_node_set_reload(node, &s_reload, verbose);
    ics_notice("icsd %s: %s (%s) listening on %s, control %s", ICS_VERSION, cfg.org,
               ics_config_org(&cfg, cfg.org)->name, cfg.listen, cfg.control);
    rc = ics_node_run(node);
    ics_notice("stopping");
    ics_node_destroy(&node);
    return rc == ICS_OK ? 0 : 1;
}
