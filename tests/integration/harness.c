/*
 * See harness.h. Tests here assert what an operator would see through the
 * control protocol (the same calls icsctl makes), never internal state.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/envelope.h"

static h_cluster_t *s_live;

static void s_kill_all(void)
{
    if (s_live == NULL)
        return;
    for (int i = 0; i < s_live->n; i++)
        if (s_live->nodes[i].pid > 0)
            kill(s_live->nodes[i].pid, SIGKILL);
}

void h_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int h_sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Free loopback ports: bind them all at once so they differ, then let go. */
static void s_ports(int *ports, int n)
{
    int fds[H_MAX_NODES];
    for (int i = 0; i < n; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof a;
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fds[i] >= 0);
        assert_int_equal(bind(fds[i], (struct sockaddr *)&a, sizeof a), 0);
        assert_int_equal(getsockname(fds[i], (struct sockaddr *)&a, &len), 0);
        ports[i] = ntohs(a.sin_port);
    }
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

int h_free_port(void)
{
    int port;
    s_ports(&port, 1);
    return port;
}

int h_http_get(int port, const char *path, char **body)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char req[256], *buf = NULL;
    size_t len = 0, cap = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0), status = 0;
    struct timeval tv = {.tv_sec = 5};

    *body = NULL;
    if (fd < 0)
        return 0;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return 0;
    }
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return 0;
    }
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 16384;
            buf = realloc(buf, cap);
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (buf == NULL)
        return 0;
    buf[len] = '\0';
    sscanf(buf, "HTTP/1.%*d %d", &status);
    char *sep = strstr(buf, "\r\n\r\n");
    *body = strdup(sep != NULL ? sep + 4 : "");
    free(buf);
    return status;
}

void h_cluster_init(h_cluster_t *c, int n, const char *const orgs[], const char *const kinds[])
{
    int ports[H_MAX_NODES];
    ics_err_t err;

    assert_true(n <= H_MAX_NODES);
    memset(c, 0, sizeof *c);
    /* ICS_TEST_TMPDIR if set (a benchmark on tmpfs leaves the disk out);
     * not TMPDIR, which may name a directory too deep for the control
     * sockets' paths (108 bytes at most). */
    const char *tmp = getenv("ICS_TEST_TMPDIR");
    snprintf(c->dir, sizeof c->dir, "%s/icsd-test-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(c->dir));
    snprintf(c->group, sizeof c->group, "nenc");
    c->n = n;
    s_ports(ports, n);
    char dir[sizeof c->dir];
    memcpy(dir, c->dir, sizeof dir);
    for (int i = 0; i < n; i++) {
        h_node_t *nd = &c->nodes[i];
        snprintf(nd->org, sizeof nd->org, "%s", orgs[i]);
        snprintf(nd->kind, sizeof nd->kind, "%s", kinds[i]);
        nd->port = ports[i];
        nd->members = (1u << n) - 1;
        snprintf(nd->conf, sizeof nd->conf, "%s/%s.conf", dir, orgs[i]);
        snprintf(nd->key, sizeof nd->key, "%s/%s.key", dir, orgs[i]);
        snprintf(nd->log, sizeof nd->log, "%s/%s.log", dir, orgs[i]);
        snprintf(nd->data, sizeof nd->data, "%s/%s.data", dir, orgs[i]);
        snprintf(nd->control, sizeof nd->control, "ipc://%s/%s.sock", dir, orgs[i]);
        assert_int_equal(ics_identity_generate(nd->key, nd->pub, &err), ICS_OK);
    }
    s_live = c;
    atexit(s_kill_all);
    char people[sizeof c->dir + 16];
    snprintf(people, sizeof people, "%s/people", c->dir);
    setenv("ICSD_PERSON_DIR", people, 1);
}

void h_cluster_destroy(h_cluster_t *c)
{
    for (int i = 0; i < c->n; i++)
        h_kill(c, i);
    if (getenv("ICS_TEST_KEEP") == NULL)
        h_sh("rm -rf '%s'", c->dir);
    else
        fprintf(stderr, "harness: kept %s\n", c->dir);
    if (s_live == c)
        s_live = NULL;
}

void h_write_config(h_cluster_t *c, int i)
{
    h_node_t *nd = &c->nodes[i];
    FILE *f = fopen(nd->conf, "w");
    assert_non_null(f);
    fprintf(f,
            "[node]\norg = %s\nkey_file = %s\nlisten = tcp://127.0.0.1:%d\ndata_dir = %s\n"
            "control = %s\n%s\n\n[raft]\n%s%s\n\n[transport]\n%s",
            nd->org, nd->key, nd->listen_port ? nd->listen_port : nd->port, nd->data,
            nd->control, nd->node_extra,
            c->icsd_defaults ? ""
                             : "heartbeat_ms = 50\nelection_ms = 500\ncheckpoint_interval = 64\n",
            nd->extra, c->icsd_defaults ? "" : "ping_interval_ms = 200\n");
    /* Without a second group every node writes the first, as it always did. */
    bool in2 = c->group2[0] != '\0' && (nd->members2 & (1u << i));
    bool in1 = !in2 || (nd->members & (1u << i));
    unsigned known = (in1 ? nd->members : 0) | (in2 ? nd->members2 : 0);
    if (in1) {
        fprintf(f, "\n[group %s]\nmembers =", c->group);
        for (int j = 0; j < c->n; j++)
            if (nd->members & (1u << j))
                fprintf(f, " %s", c->nodes[j].org);
        fprintf(f, "\nadmin = %s\n%s\n", c->nodes[0].org, nd->group_extra);
    }
    if (in2) {
        int admin = -1;
        fprintf(f, "\n[group %s]\nmembers =", c->group2);
        for (int j = 0; j < c->n; j++) {
            if (nd->members2 & (1u << j)) {
                fprintf(f, " %s", c->nodes[j].org);
                if (admin < 0)
                    admin = j;
            }
        }
        fprintf(f, "\nadmin = %s\n%s\n", c->nodes[admin].org, nd->group2_extra);
    }
    for (int j = 0; j < c->n; j++) {
        if (!(known & (1u << j)))
            continue;
        fprintf(f, "\n[org %s]\nkind = %s\nname = Test organisation %s\n"
                   "endpoint = tcp://127.0.0.1:%d\npublic_key = %s\n",
                c->nodes[j].org, c->nodes[j].kind, c->nodes[j].org, c->nodes[j].port,
                c->nodes[j].pub);
    }
    fclose(f);
}

void h_start(h_cluster_t *c, int i)
{
    h_node_t *nd = &c->nodes[i];
    pid_t parent = getpid();
    pid_t pid;

    h_write_config(c, i);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(nd->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            dup2(fd, STDOUT_FILENO);
        }
        setenv("ASAN_OPTIONS", "detect_leaks=1:exitcode=23", 0);
        execl(ICSD_BIN, "icsd", "-c", nd->conf, (char *)NULL);
        _exit(127);
    }
    nd->pid = pid;
    /* Up when its control socket answers. */
    for (int t = 0; t < 200; t++) {
        Ics__V1__StatusReply *st;
        Ics__V1__ControlResponse *resp;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            nd->pid = 0;
            h_sh("cat '%s' >&2", nd->log);
            fail_msg("icsd %s exited during start-up", nd->org);
        }
        if (h_status(c, i, &st, &resp) == ICS_OK) {
            ics__v1__control_response__free_unpacked(resp, NULL);
            return;
        }
        h_sleep_ms(50);
    }
    fail_msg("icsd %s did not answer on %s", nd->org, nd->control);
}

int h_stop(h_cluster_t *c, int i)
{
    h_node_t *nd = &c->nodes[i];
    int status = 0;
    if (nd->pid <= 0)
        return 0;
    kill(nd->pid, SIGTERM);
    for (int t = 0; t < 200; t++) {
        if (waitpid(nd->pid, &status, WNOHANG) == nd->pid) {
            nd->pid = 0;
            if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
                h_sh("tail -40 '%s' >&2", nd->log);
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        h_sleep_ms(50);
    }
    h_kill(c, i);
    return 124; /* did not stop in time */
}

void h_kill(h_cluster_t *c, int i)
{
    h_node_t *nd = &c->nodes[i];
    if (nd->pid <= 0)
        return;
    kill(nd->pid, SIGKILL);
    waitpid(nd->pid, NULL, 0);
    nd->pid = 0;
}

static int s_call(h_cluster_t *c, int i, Ics__V1__ControlRequest *req, unsigned wait_ms,
                  Ics__V1__ControlResponse **resp)
{
    ics_err_t err;
    req->actor = (char *)"test.user";
    if (req->group == NULL)
        req->group = (char *)"";
    return ics_ctl_call(c->nodes[i].control, req, wait_ms, resp, &err);
}

int h_status(h_cluster_t *c, int i, Ics__V1__StatusReply **out, Ics__V1__ControlResponse **resp)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__StatusRequest sr = ICS__V1__STATUS_REQUEST__INIT;
    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_STATUS;
    req.status = &sr;
    int rc = s_call(c, i, &req, 2000, resp);
    if (rc != ICS_OK)
        return rc;
    if ((*resp)->code != 0 || (*resp)->body_case != ICS__V1__CONTROL_RESPONSE__BODY_STATUS) {
        ics__v1__control_response__free_unpacked(*resp, NULL);
        *resp = NULL;
        return ICS_EIO;
    }
    *out = (*resp)->status;
    return ICS_OK;
}

int h_submit_raw(h_cluster_t *c, int i, const char *data, const uint8_t token[16],
                 unsigned timeout_ms, Ics__V1__ControlResponse **resp)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__SubmitRequest sub = ICS__V1__SUBMIT_REQUEST__INIT;
    Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
    Ics__V1__Raw raw = ICS__V1__RAW__INIT;
    uint8_t *buf = NULL;
    size_t len = 0;

    raw.data.data = (uint8_t *)data;
    raw.data.len = strlen(data);
    cmd.body_case = ICS__V1__COMMAND__BODY_RAW;
    cmd.raw = &raw;
    assert_int_equal(ics_pack(&cmd.base, &buf, &len), ICS_OK);
    sub.command.data = buf;
    sub.command.len = len;
    sub.client_token.data = (uint8_t *)token;
    sub.client_token.len = 16;
    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_SUBMIT;
    req.submit = &sub;
    req.timeout_ms = timeout_ms;
    int rc = s_call(c, i, &req, timeout_ms + 3000, resp);
    free(buf);
    return rc;
}

int h_log(h_cluster_t *c, int i, int op, uint64_t position, unsigned count,
          Ics__V1__ControlResponse **resp)
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__LogRequest lr = ICS__V1__LOG_REQUEST__INIT;
    lr.op = (Ics__V1__LogRequest__Op)op;
    lr.position = position;
    lr.count = count;
    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_LOG;
    req.log = &lr;
    return s_call(c, i, &req, 10000, resp);
}

bool h_wait(bool (*pred)(h_cluster_t *c, void *arg), h_cluster_t *c, void *arg,
            unsigned timeout_ms)
{
    for (unsigned t = 0; t < timeout_ms; t += 50) {
        if (pred(c, arg))
            return true;
        h_sleep_ms(50);
    }
    return pred(c, arg);
}

int h_leader(h_cluster_t *c)
{
    int leader = -1;
    for (int i = 0; i < c->n; i++) {
        Ics__V1__StatusReply *st;
        Ics__V1__ControlResponse *resp;
        if (c->nodes[i].pid <= 0 || h_status(c, i, &st, &resp) != ICS_OK)
            continue;
        const char *l = st->n_groups > 0 ? st->groups[0]->leader : "";
        int idx = -1;
        for (int j = 0; j < c->n; j++)
            if (strcmp(c->nodes[j].org, l) == 0)
                idx = j;
        ics__v1__control_response__free_unpacked(resp, NULL);
        if (idx < 0 || (leader >= 0 && leader != idx))
            return -1;
        leader = idx;
    }
    return leader;
}

int h_setup(void **state)
{
    *state = calloc(1, sizeof(h_cluster_t));
    return *state != NULL ? 0 : -1;
}

int h_teardown(void **state)
{
    h_cluster_t *c = *state;
    if (c->n > 0)
        h_cluster_destroy(c);
    free(c);
    return 0;
}

/* The port in "tcp://127.0.0.1:PORT" names the node: its address in the
 * namespaces replaces the loopback one. */
void h_write_config_at(h_cluster_t *c, int i, const char *const addrs[])
{
    const char *lo = "tcp://127.0.0.1:";
    char *text = NULL, *p;
    size_t len = 0;
    FILE *f;

    h_write_config(c, i);
    f = fopen(c->nodes[i].conf, "r");
    assert_non_null(f);
    FILE *m = open_memstream(&text, &len);
    assert_non_null(m);
    char line[1024];
    while (fgets(line, sizeof line, f) != NULL) {
        if ((p = strstr(line, lo)) == NULL) {
            fputs(line, m);
            continue;
        }
        int port = atoi(p + strlen(lo)), who = -1;
        for (int j = 0; j < c->n; j++)
            if (port == c->nodes[j].port || (j == i && port == c->nodes[j].listen_port))
                who = j;
        if (who < 0)
            fail_msg("%s: no node has port %d", c->nodes[i].conf, port);
        fprintf(m, "%.*stcp://%s:%d\n", (int)(p - line), line, addrs[who], port);
    }
    fclose(f);
    fclose(m);
    f = fopen(c->nodes[i].conf, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(text);
}

pid_t h_spawn_netns(const char *netns, const char *log, const char *const argv[])
{
    const char *args[24] = {"ip", "netns", "exec", netns};
    size_t n = 4;
    pid_t parent = getpid(), pid;

    for (size_t k = 0; argv[k] != NULL; k++) {
        assert_true(n < sizeof args / sizeof args[0] - 1);
        args[n++] = argv[k];
    }
    args[n] = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* kept across both execs */
        if (getppid() != parent)
            _exit(127);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            dup2(fd, STDOUT_FILENO);
        }
        setenv("ASAN_OPTIONS", "detect_leaks=1:exitcode=23", 0);
        execvp("ip", (char *const *)args);
        _exit(127);
    }
    return pid;
}

void h_start_netns(h_cluster_t *c, int i, const char *netns, const char *const addrs[])
{
    h_node_t *nd = &c->nodes[i];
    char exe[600] = "";

    h_write_config_at(c, i, addrs);
    pid_t pid = h_spawn_netns(netns, nd->log, (const char *const[]){ICSD_BIN, "-c", nd->conf,
                                                                   NULL});
    nd->pid = pid;
    for (int t = 0; t < 200; t++) {
        Ics__V1__StatusReply *st;
        Ics__V1__ControlResponse *resp;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            nd->pid = 0;
            h_sh("cat '%s' >&2", nd->log);
            fail_msg("icsd %s exited during start-up in %s", nd->org, netns);
        }
        if (h_status(c, i, &st, &resp) == ICS_OK) {
            ics__v1__control_response__free_unpacked(resp, NULL);
            /* Answering, so ip has exec'd: the pid must be icsd itself. */
            char link[64];
            snprintf(link, sizeof link, "/proc/%d/exe", (int)pid);
            ssize_t n = readlink(link, exe, sizeof exe - 1);
            exe[n > 0 ? n : 0] = '\0';
            const char *base = strrchr(exe, '/');
            if (base == NULL || strcmp(base, "/icsd") != 0)
                fail_msg("pid %d of %s runs '%s', not icsd", (int)pid, nd->org, exe);
            return;
        }
        h_sleep_ms(50);
    }
    fail_msg("icsd %s did not answer on %s (in %s)", nd->org, nd->control, netns);
}

/* ---- people and their keys ------------------------------------------- */

/* The public key of person's key file, as icsctl names keys. */
static void s_person_pub(const char *path, char pub[ICS_PUBKEY_TEXT_MAX])
{
    char line[256] = "";
    unsigned char seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES],
        sk[crypto_sign_SECRETKEYBYTES];
    size_t len = 0;
    FILE *f = fopen(path, "r");

    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    assert_int_equal(strncmp(line, "ed25519-secret:", 15), 0);
    assert_int_equal(sodium_base642bin(seed, sizeof seed, line + 15, strlen(line + 15), NULL,
                                       &len, NULL, sodium_base64_VARIANT_ORIGINAL), 0);
    assert_int_equal(len, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(sk, sizeof sk);
    memcpy(pub, "ed25519:", 8);
    sodium_bin2base64(pub + 8, ICS_PUBKEY_TEXT_MAX - 8, pk, sizeof pk,
                      sodium_base64_VARIANT_ORIGINAL);
}

void h_person_in(h_cluster_t *c, int i, const char *group, const char *person)
{
    h_node_t *nd = &c->nodes[i];
    char path[sizeof c->dir + 160], pub[ICS_PUBKEY_TEXT_MAX], g[80] = "";
    char *admin = group != NULL && strcmp(group, c->group2) == 0 ? nd->admin2 : nd->admin;

    if (group != NULL)
        snprintf(g, sizeof g, "-g '%s'", group);
    snprintf(path, sizeof path, "%s/people/person-%s.key", c->dir, person);
    if (access(path, R_OK) != 0 &&
        h_sh(ICSCTL_BIN " keys person-gen '%s' >/dev/null 2>&1", person) != 0)
        fail_msg("icsctl keys person-gen %s failed", person);
    s_person_pub(path, pub);
    if (admin[0] == '\0') {
        if (h_sh(ICSCTL_BIN " -s '%s' %s people register '%s' --name '%s' --key %s --admin"
                 " >/dev/null", nd->control, g, person, person, pub) != 0)
            fail_msg("%s could not register its first person %s", nd->org, person);
        snprintf(admin, sizeof nd->admin, "%s", person);
    } else if (h_sh(ICSCTL_BIN " -s '%s' %s --as '%s' people register '%s' --name '%s' --key %s"
                    " >/dev/null", nd->control, g, admin, person, person, pub) != 0) {
        fail_msg("%s's administrator %s could not register %s", nd->org, admin, person);
    }
}

void h_person(h_cluster_t *c, int i, const char *person)
{
    h_person_in(c, i, NULL, person);
}

void h_cluster_up(h_cluster_t *c, int n, const char *const orgs[], const char *const kinds[])
{
    h_cluster_init(c, n, orgs, kinds);
    for (int i = 0; i < n; i++)
        h_start(c, i);
    for (int t = 0; t < 300 && h_leader(c) < 0; t++)
        h_sleep_ms(50);
    assert_true(h_leader(c) >= 0);
}

void h_cluster_down(h_cluster_t *c)
{
    for (int i = 0; i < c->n; i++)
        h_stop(c, i);
    h_cluster_destroy(c);
}

void h_slurp(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;
    if (f != NULL) {
        n = fread(buf, 1, size - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
}

long h_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

int h_ctl(h_cluster_t *c, int i, char *out, size_t out_size, char *err, size_t err_size,
          const char *fmt, ...)
{
    char args[1536], out_file[sizeof c->dir + 16], err_file[sizeof c->dir + 16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(out_file, sizeof out_file, "%s/cli.out", c->dir);
    snprintf(err_file, sizeof err_file, "%s/cli.err", c->dir);
    int rc = h_sh("env -u ICSCTL_CONFIG -u ICSCTL_GROUP " ICSCTL_BIN " -s '%s' %s >'%s' 2>'%s'",
                  c->nodes[i].control, args, out_file, err_file);
    h_slurp(out_file, out, out_size);
    h_slurp(err_file, err, err_size);
    return rc;
}

bool h_find_chromium(char *path, size_t size)
{
    const char *candidates[] = {getenv("CHROMIUM"), "/usr/bin/chromium",
                                "/usr/bin/chromium-browser"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        if (candidates[i] != NULL && access(candidates[i], X_OK) == 0) {
            snprintf(path, size, "%s", candidates[i]);
            return true;
        }
    }
    return false;
}
