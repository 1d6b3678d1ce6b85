/*
 * INI configuration, parsed with inih. inih does not pass line numbers to
 * the handler, so the file is fed to it through a reader that counts lines;
 * every error then names FILE:LINE and quotes what was wrong.
 *
 *   [node]         org, key_file, listen, data_dir, control, http, log_level,
 *                  verify_threads
 *   [raft]         heartbeat_ms, election_ms, snapshot_threshold,
 *                  snapshot_trailing, tick_interval_ms, checkpoint_interval
 *   [transport]    ping_interval_ms, max_message_bytes, send_hwm,
 *                  reconnect_max_ms, peer_invalid_max, peer_backoff_ms
 *   [control]      submit_group, admin_group (Unix groups; control.c)
 *   [org ODS]      kind, name, endpoint, public_key
 *   [group NAME]   members (space separated, may repeat), admin, join, policy,
 *                  escalate_to (the group unmet mutual aid is raised in)
 *   [http]         dashboard (serve the read-only dashboard on [node] http),
 *                  tls_cert, tls_key (HTTPS), client_ca (client certificates)
 *   [notify NAME]  kinds, command, url, timeout_ms, retry_max_ms (NAME
 *                  optional; daemon/notify.c delivers)
 */
#include "config.h"
#include "policyfile.h"

#include <errno.h>
#include <grp.h>
#include <arpa/inet.h>
#include <ini.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *s_kinds[] = {
    "icb", "trust", "foundation_trust", "local_authority", "ambulance",
    "mental_health", "primary_care", "vcse", "healthwatch", "nhse", "icp",
    "hwb", "community", NULL};

bool ics_org_kind_valid(const char *kind)
{
    for (size_t i = 0; s_kinds[i] != NULL; i++)
        if (strcmp(kind, s_kinds[i]) == 0)
            return true;
    return false;
}

typedef struct {
    ics_config_t *cfg;
    ics_err_t *err;
    FILE *fp;
    const char *dir;
    int line;          /* line most recently read */
    int section_line;
    int error_line;
    bool bad_line;         /* a line inih must not see: nothing after it counts */
    ics_org_cfg_t *org;    /* current [org] section */
    ics_group_cfg_t *group;
    ics_notify_cfg_t *notify; /* current [notify] section */
    char section[128];
    bool have_node;
    bool new_section;      /* a [header] was read since the last key */
} s_parse_t;

static int s_fail(s_parse_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int s_fail(s_parse_t *p, const char *fmt, ...)
{
    char msg[ICS_ERRMSG_SIZE - 64];
    va_list ap;

    if (p->error_line == 0) {
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        p->error_line = p->line;
        ics_err(p->err, ICS_ECONFIG, "%s:%d: %s", p->cfg->path, p->line, msg);
    }
    return 0; /* tells inih this line is an error */
}

/* fgets, but counting lines and refusing what fgets would hide: a line too
 * long for inih's buffer, and a NUL byte (which would silently cut the
 * value short). After either, the rest of the file is not interpreted. */
static char *s_reader(char *str, int num, void *stream)
{
    s_parse_t *p = stream;
    bool nul = false;
    int c = EOF, n = 0;

    while (n < num - 1 && (c = fgetc(p->fp)) != EOF) {
        if (c == '\0')
            nul = true;
        str[n++] = (char)c;
        if (c == '\n')
            break;
    }
    if (n == 0)
        return NULL;
    str[n] = '\0';
    p->line++;
    if (n == num - 1 && str[n - 1] != '\n' && (c = fgetc(p->fp)) != EOF) {
        s_fail(p, "line is longer than %d characters", num - 2);
        p->bad_line = true;
        while (c != EOF && c != '\n')
            c = fgetc(p->fp);
        str[0] = '\0';
        return str;
    }
    if (nul) {
        s_fail(p, "line contains a NUL byte");
        p->bad_line = true;
        str[0] = '\0';
        return str;
    }
    const char *s = str;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '[') {
        p->section_line = p->line;
        p->new_section = true;
    }
    return str;
}

static bool s_uint_ok(const char *value, unsigned min, unsigned max, unsigned *out)
{
    char *end = NULL;
    unsigned long v;
    errno = 0;
    v = strtoul(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || value[0] == '-' || v < min || v > max)
        return false;
    *out = (unsigned)v;
    return true;
}

static bool s_uint(s_parse_t *p, const char *name, const char *value, unsigned min,
                   unsigned max, unsigned *out)
{
    char *end = NULL;
    unsigned long v;

    errno = 0;
    v = strtoul(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || value[0] == '-' || v < min ||
        v > max) {
        s_fail(p, "%s = '%s': expected a whole number from %u to %u", name, value, min, max);
        return false;
    }
    *out = (unsigned)v;
    return true;
}

static bool s_path(s_parse_t *p, const char *name, const char *value, char *out,
                   size_t size)
{
    int n;
    if (value[0] == '\0') {
        s_fail(p, "%s is empty", name);
        return false;
    }
    if (value[0] == '/')
        n = snprintf(out, size, "%s", value);
    else
        n = snprintf(out, size, "%s/%s", p->dir, value);
    if (n < 0 || (size_t)n >= size) {
        s_fail(p, "%s = '%s': path too long", name, value);
        return false;
    }
    return true;
}

/* tcp://HOST:PORT, as libzmq takes it: HOST a name, an IPv4 address or a
 * bracketed IPv6 one (and, to listen, * for every interface), PORT 1 to
 * 65535. libzmq itself accepts a port it cannot use (-1 is "listening"),
 * so this is where a wrong one is caught. */
static bool s_endpoint(s_parse_t *p, const char *name, const char *value, char *out,
                       size_t size, bool listen)
{
    const char *hostport = value + 6, *colon;
    char host[ICS_ENDPOINT_MAX];
    unsigned port;
    size_t hl;

    if (strncmp(value, "tcp://", 6) != 0) {
        s_fail(p, "%s = '%s': expected tcp://HOST:PORT", name, value);
        return false;
    }
    colon = strrchr(hostport, ':');
    if (colon == NULL) {
        s_fail(p, "%s = '%s': missing :PORT", name, value);
        return false;
    }
    if (!s_uint_ok(colon + 1, 1, 65535, &port)) {
        s_fail(p, "%s = '%s': port '%s' is not a number from 1 to 65535", name, value,
               colon + 1);
        return false;
    }
    hl = (size_t)(colon - hostport);
    if (hl == 0 || hl >= sizeof host) {
        s_fail(p, "%s = '%s': %s", name, value, hl == 0 ? "missing HOST" : "HOST too long");
        return false;
    }
    memcpy(host, hostport, hl);
    host[hl] = '\0';
    if (host[0] == '[') {
        struct in6_addr a6;
        bool ok = hl > 2 && host[hl - 1] == ']';
        if (ok) {
            host[hl - 1] = '\0';
            ok = inet_pton(AF_INET6, host + 1, &a6) == 1;
        }
        if (!ok) {
            s_fail(p, "%s = '%s': expected an IPv6 address in brackets, e.g. "
                      "tcp://[2001:db8::1]:7400", name, value);
            return false;
        }
    } else if (!(listen && strcmp(host, "*") == 0)) {
        for (const char *c = host; *c; c++) {
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '.' || *c == '-' || *c == '_')) {
                s_fail(p, "%s = '%s': HOST '%s' is not a host name or address%s", name, value,
                       host, listen ? " (or * for every interface)" : "");
                return false;
            }
        }
    }
    if (!ics_strcpy(out, size, value)) {
        s_fail(p, "%s = '%s': too long", name, value);
        return false;
    }
    return true;
}

static int s_node(s_parse_t *p, const char *name, const char *value)
{
    ics_config_t *c = p->cfg;
    unsigned v;

    if (strcmp(name, "org") == 0) {
        if (!ics_valid_id(value, ICS_ORG_MAX))
            return s_fail(p, "org = '%s': expected an ODS code (letters, digits, '-', '_')", value);
        ics_strcpy(c->org, sizeof c->org, value);
    } else if (strcmp(name, "key_file") == 0) {
        return s_path(p, name, value, c->key_file, sizeof c->key_file);
    } else if (strcmp(name, "listen") == 0) {
        return s_endpoint(p, name, value, c->listen, sizeof c->listen, true);
    } else if (strcmp(name, "data_dir") == 0) {
        return s_path(p, name, value, c->data_dir, sizeof c->data_dir);
    } else if (strcmp(name, "control") == 0) {
        if (strncmp(value, "ipc://", 6) != 0)
            return s_fail(p, "control = '%s': expected ipc://PATH", value);
        char path[PATH_MAX];
        if (!s_path(p, name, value + 6, path, sizeof path))
            return 0;
        if (snprintf(c->control, sizeof c->control, "ipc://%s", path) >= (int)sizeof c->control)
            return s_fail(p, "control = '%s': path too long", value);
        /* The node replaces a socket a dead node left there, and nothing
         * else (control.c). */
        struct stat st;
        if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
            return s_fail(p, "control = '%s': %s exists and is not a socket; icsd will not "
                             "replace it", value, path);
    } else if (strcmp(name, "http") == 0) {
        /* PORT (loopback) or IPV4:PORT; empty turns it off. */
        const char *colon = strrchr(value, ':');
        const char *port = colon != NULL ? colon + 1 : value;
        char host[64] = "127.0.0.1";
        unsigned port_n;
        struct in_addr a;
        if (colon != NULL && (size_t)(colon - value) < sizeof host) {
            memcpy(host, value, (size_t)(colon - value));
            host[colon - value] = '\0';
        }
        if (value[0] != '\0' &&
            (!s_uint_ok(port, 1, 65535, &port_n) || inet_pton(AF_INET, host, &a) != 1 ||
             (colon != NULL && (size_t)(colon - value) >= sizeof host)))
            return s_fail(p, "http = '%s': expected PORT or IPV4:PORT, e.g. 127.0.0.1:9464 "
                             "(or empty to turn it off)", value);
        ics_strcpy(c->http, sizeof c->http, value);
    } else if (strcmp(name, "log_level") == 0) {
        static const char *levels[] = {"error", "warn", "notice", "info", "debug"};
        for (v = 0; v < 5; v++)
            if (strcmp(value, levels[v]) == 0)
                break;
        if (v == 5)
            return s_fail(p, "log_level = '%s': expected error, warn, notice, info or debug", value);
        c->log_level = ICS_LOG_ERR + (int)v;
    } else if (strcmp(name, "verify_threads") == 0) {
        if (!s_uint(p, name, value, 0, 16, &c->verify_threads))
            return 0;
    } else {
        return s_fail(p, "unknown key '%s' in [node]", name);
    }
    return 1;
}

static int s_tunable(s_parse_t *p, const char *name, const char *value)
{
    static const struct {
        const char *section, *name;
        size_t offset;
        unsigned min, max;
    } t[] = {
        {"raft", "heartbeat_ms", offsetof(ics_config_t, heartbeat_ms), 10, 60000},
        {"raft", "election_ms", offsetof(ics_config_t, election_ms), 50, 600000},
        {"raft", "snapshot_threshold", offsetof(ics_config_t, snapshot_threshold), 2, 1000000},
        {"raft", "snapshot_trailing", offsetof(ics_config_t, snapshot_trailing), 0, 1000000},
        {"raft", "tick_interval_ms", offsetof(ics_config_t, tick_interval_ms), 100, 86400000},
        {"raft", "checkpoint_interval", offsetof(ics_config_t, checkpoint_interval), 16, 1000000},
        {"raft", "backfill_chunk_bytes", offsetof(ics_config_t, backfill_chunk_bytes), 1024, 16u << 20},
        {"transport", "ping_interval_ms", offsetof(ics_config_t, ping_interval_ms), 50, 600000},
        {"transport", "max_message_bytes", offsetof(ics_config_t, max_message_bytes), 65536, 1u << 30},
        {"transport", "send_hwm", offsetof(ics_config_t, send_hwm), 1, 1000000},
        {"transport", "reconnect_max_ms", offsetof(ics_config_t, reconnect_max_ms), 100, 600000},
        {"transport", "peer_invalid_max", offsetof(ics_config_t, peer_invalid_max), 0, 1000000},
        {"transport", "peer_backoff_ms", offsetof(ics_config_t, peer_backoff_ms), 1000, 3600000},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (strcmp(p->section, t[i].section) == 0 && strcmp(name, t[i].name) == 0) {
            unsigned *field = (unsigned *)((char *)p->cfg + t[i].offset);
            return s_uint(p, name, value, t[i].min, t[i].max, field) ? 1 : 0;
        }
    }
    return s_fail(p, "unknown key '%s' in [%s]", name, p->section);
}

static int s_org(s_parse_t *p, const char *name, const char *value)
{
    ics_org_cfg_t *o = p->org;

    if (strcmp(name, "kind") == 0) {
        if (!ics_org_kind_valid(value))
            return s_fail(p, "kind = '%s': expected one of icb, trust, foundation_trust, "
                             "local_authority, ambulance, mental_health, primary_care, "
                             "vcse, healthwatch, nhse, icp, hwb, community", value);
        ics_strcpy(o->kind, sizeof o->kind, value);
    } else if (strcmp(name, "name") == 0) {
        if (!ics_strcpy(o->name, sizeof o->name, value))
            return s_fail(p, "name is longer than %d characters", ICS_NAME_MAX - 1);
    } else if (strcmp(name, "endpoint") == 0) {
        return s_endpoint(p, name, value, o->endpoint, sizeof o->endpoint, false);
    } else if (strcmp(name, "public_key") == 0) {
        if (!ics_pubkey_parse(value, o->public_key))
            return s_fail(p, "public_key = '%s' %s", value, ics_pubkey_problem(value));
    } else {
        return s_fail(p, "unknown key '%s' in [org %s]", name, o->id);
    }
    return 1;
}

static int s_group(s_parse_t *p, const char *name, const char *value)
{
    ics_group_cfg_t *g = p->group;

    if (strcmp(name, "members") == 0 || strcmp(name, "member") == 0) {
        char buf[1024], *save = NULL, *tok;
        ics_strcpy(buf, sizeof buf, value);
        for (tok = strtok_r(buf, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
            if (!ics_valid_id(tok, ICS_ORG_MAX))
                return s_fail(p, "members: '%s' is not an organisation id", tok);
            if (ics_group_has(g, tok))
                return s_fail(p, "members: '%s' is listed twice", tok);
            if (g->n_members == ICS_MAX_ORGS)
                return s_fail(p, "members: more than %d members", ICS_MAX_ORGS);
            ics_strcpy(g->members[g->n_members++], ICS_ORG_MAX, tok);
        }
    } else if (strcmp(name, "admin") == 0) {
        if (!ics_valid_id(value, ICS_ORG_MAX))
            return s_fail(p, "admin = '%s': not an organisation id", value);
        ics_strcpy(g->admin, sizeof g->admin, value);
    } else if (strcmp(name, "policy") == 0) {
        return s_path(p, name, value, g->policy, sizeof g->policy);
    } else if (strcmp(name, "join") == 0) {
        if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0)
            g->join = true;
        else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0)
            g->join = false;
        else
            return s_fail(p, "join = '%s': expected yes or no", value);
    } else if (strcmp(name, "escalate_to") == 0) {
        if (!ics_valid_id(value, ICS_GROUP_MAX))
            return s_fail(p, "escalate_to = '%s': expected a group name", value);
        ics_strcpy(g->escalate_to, sizeof g->escalate_to, value);
    } else {
        return s_fail(p, "unknown key '%s' in [group %s]", name, g->name);
    }
    return 1;
}

static bool s_yes_no(const char *value, bool *out)
{
    if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0)
        *out = true;
    else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0)
        *out = false;
    else
        return false;
    return true;
}

static int s_http(s_parse_t *p, const char *name, const char *value)
{
    static const struct {
        const char *name;
        size_t off;
    } files[] = {
        {"tls_cert", offsetof(ics_config_t, tls_cert)},
        {"tls_key", offsetof(ics_config_t, tls_key)},
        {"client_ca", offsetof(ics_config_t, client_ca)},
    };
    if (strcmp(name, "dashboard") == 0) {
        if (!s_yes_no(value, &p->cfg->dashboard))
            return s_fail(p, "dashboard = '%s': expected yes or no", value);
        return 1;
    }
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (strcmp(name, files[i].name) == 0) {
            char *out = (char *)p->cfg + files[i].off;
            if (!s_path(p, name, value, out, PATH_MAX))
                return 0;
            if (access(out, R_OK) != 0)
                return s_fail(p, "%s = '%s': cannot read %s: %s", name, value, out,
                              strerror(errno));
            return 1;
        }
    }
    return s_fail(p, "unknown key '%s' in [http]", name);
}

/* An http:// or https:// URL with a host: libcurl has the last word when
 * the node starts (and --check-config asks it too). */
static bool s_url_ok(const char *url)
{
    const char *host;
    if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else
        return false;
    if (*host == '\0' || *host == '/' || *host == ':')
        return false;
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return false;
    return true;
}

static int s_notify(s_parse_t *p, const char *name, const char *value)
{
    ics_notify_cfg_t *n = p->notify;

    if (strcmp(name, "kinds") == 0 || strcmp(name, "kind") == 0) {
        char buf[1024], *save = NULL, *tok;
        if (!ics_strcpy(buf, sizeof buf, value))
            return s_fail(p, "kinds: too long");
        for (tok = strtok_r(buf, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
            if (n->n_kinds == ICS_NOTIFY_KINDS)
                return s_fail(p, "kinds: more than %d", ICS_NOTIFY_KINDS);
            for (const char *c = tok; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || *c == '.' || *c == '_'))
                    return s_fail(p, "kinds: '%s' is not an event kind (e.g. aid, "
                                     "aid.requested, opel.changed)", tok);
            if (!ics_strcpy(n->kinds[n->n_kinds], sizeof n->kinds[0], tok))
                return s_fail(p, "kinds: '%s' is too long", tok);
            n->n_kinds++;
        }
    } else if (strcmp(name, "command") == 0) {
        char prog[PATH_MAX], path[PATH_MAX];
        size_t pl = strcspn(value, " \t");
        struct stat st;
        if (value[0] == '\0' || pl >= sizeof prog)
            return s_fail(p, "command = '%s': expected a program (and arguments)", value);
        memcpy(prog, value, pl);
        prog[pl] = '\0';
        if (!s_path(p, name, prog, path, sizeof path))
            return 0;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || access(path, X_OK) != 0)
            return s_fail(p, "command = '%s': %s is not an executable file", value, path);
        if (snprintf(n->command, sizeof n->command, "%s%s", path, value + pl) >=
            (int)sizeof n->command)
            return s_fail(p, "command = '%s': too long", value);
    } else if (strcmp(name, "url") == 0) {
        if (!s_url_ok(value) || !ics_strcpy(n->url, sizeof n->url, value))
            return s_fail(p, "url = '%s': expected http://HOST[:PORT]/PATH or https://...",
                          value);
    } else if (strcmp(name, "timeout_ms") == 0) {
        return s_uint(p, name, value, 100, 600000, &n->timeout_ms) ? 1 : 0;
    } else if (strcmp(name, "retry_max_ms") == 0) {
        return s_uint(p, name, value, 1000, 86400000, &n->retry_max_ms) ? 1 : 0;
    } else {
        return s_fail(p, "unknown key '%s' in [notify %s]", name, n->name);
    }
    return 1;
}

/* Called by s_handler when the section name changes. */
static int s_enter(s_parse_t *p, const char *section)
{
    ics_config_t *c = p->cfg;
    char kind[16] = "", arg[128] = "";

    ics_strcpy(p->section, sizeof p->section, section);
    p->org = NULL;
    p->group = NULL;
    p->notify = NULL;
    if (sscanf(section, "%15s %127s", kind, arg) < 1)
        return s_fail(p, "empty section name");
    if (strcmp(kind, "notify") == 0) {
        const char *nm = arg[0] != '\0' ? arg : "default";
        if (!ics_valid_id(nm, ICS_GROUP_MAX))
            return s_fail(p, "[notify %s]: expected a name of letters, digits, '-', '_'", arg);
        for (size_t i = 0; i < c->n_notify; i++)
            if (strcmp(c->notify[i].name, nm) == 0)
                return s_fail(p, "[notify %s] is defined twice", arg);
        if (c->n_notify == ICS_MAX_NOTIFY)
            return s_fail(p, "more than %d [notify] sections", ICS_MAX_NOTIFY);
        p->notify = &c->notify[c->n_notify++];
        ics_strcpy(p->notify->name, sizeof p->notify->name, nm);
        p->notify->timeout_ms = 10000;
        p->notify->retry_max_ms = 300000;
        p->notify->line = p->section_line;
        return 1;
    }
    if (strcmp(kind, "node") == 0 || strcmp(kind, "raft") == 0 ||
        strcmp(kind, "transport") == 0 || strcmp(kind, "http") == 0 ||
        strcmp(kind, "control") == 0) {
        if (arg[0] != '\0')
            return s_fail(p, "[%s] takes no name", kind);
        if (strcmp(kind, "node") == 0)
            p->have_node = true;
        return 1;
    }
    if (strcmp(kind, "org") == 0) {
        if (!ics_valid_id(arg, ICS_ORG_MAX))
            return s_fail(p, "[org %s]: expected an ODS code", arg);
        if (ics_config_org(c, arg) != NULL)
            return s_fail(p, "[org %s] is defined twice", arg);
        if (c->n_orgs == ICS_MAX_ORGS)
            return s_fail(p, "more than %d organisations", ICS_MAX_ORGS);
        p->org = &c->orgs[c->n_orgs++];
        ics_strcpy(p->org->id, sizeof p->org->id, arg);
        p->org->line = p->section_line;
        return 1;
    }
    if (strcmp(kind, "group") == 0) {
        if (!ics_valid_id(arg, ICS_GROUP_MAX))
            return s_fail(p, "[group %s]: expected a name of letters, digits, '-', '_'", arg);
        if (ics_config_group(c, arg) != NULL)
            return s_fail(p, "[group %s] is defined twice", arg);
        if (c->n_groups == ICS_MAX_GROUPS)
            return s_fail(p, "more than %d groups", ICS_MAX_GROUPS);
        p->group = &c->groups[c->n_groups++];
        ics_strcpy(p->group->name, sizeof p->group->name, arg);
        p->group->line = p->section_line;
        return 1;
    }
    return s_fail(p, "unknown section [%s]", section);
}

/* [control]: Unix groups that exist on this machine. */
static int s_control(s_parse_t *p, const char *name, const char *value)
{
    ics_config_t *c = p->cfg;
    bool admin = strcmp(name, "admin_group") == 0;
    struct group *g;

    if (!admin && strcmp(name, "submit_group") != 0)
        return s_fail(p, "unknown key '%s' in [control] (submit_group, admin_group)", name);
    g = value[0] != '\0' ? getgrnam(value) : NULL;
    if (g == NULL)
        return s_fail(p, "%s = '%s': no such Unix group on this machine", name, value);
    if (snprintf(admin ? c->admin_group : c->submit_group, sizeof c->admin_group, "%s", value) >=
        (int)sizeof c->admin_group)
        return s_fail(p, "%s = '%s': name too long", name, value);
    *(admin ? &c->admin_gid : &c->submit_gid) = (unsigned)g->gr_gid;
    return 1;
}

static int s_handler(void *user, const char *section, const char *name, const char *value)
{
    s_parse_t *p = user;

    if (p->bad_line)
        return 0;
    if (section[0] == '\0')
        return s_fail(p, "'%s' is outside any section", name);
    if (p->new_section || strcmp(section, p->section) != 0) {
        int saved = p->line, ok;
        p->new_section = false;
        p->line = p->section_line;
        ok = s_enter(p, section);
        p->line = saved;
        if (!ok)
            return 0;
    }
    if (p->org == NULL && p->group == NULL && strncmp(section, "org", 3) == 0)
        return 0; /* section header already failed */
    if (p->notify == NULL && strncmp(section, "notify", 6) == 0)
        return 0;
    if (strcmp(section, "http") == 0)
        return s_http(p, name, value);
    if (p->notify != NULL)
        return s_notify(p, name, value);
    if (strcmp(section, "node") == 0)
        return s_node(p, name, value);
    if (strcmp(section, "raft") == 0 || strcmp(section, "transport") == 0)
        return s_tunable(p, name, value);
    if (strcmp(section, "control") == 0)
        return s_control(p, name, value);
    if (p->org != NULL)
        return s_org(p, name, value);
    if (p->group != NULL)
        return s_group(p, name, value);
    return 0;
}

const ics_org_cfg_t *ics_config_org(const ics_config_t *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->n_orgs; i++)
        if (strcmp(cfg->orgs[i].id, id) == 0)
            return &cfg->orgs[i];
    return NULL;
}

const ics_group_cfg_t *ics_config_group(const ics_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_groups; i++)
        if (strcmp(cfg->groups[i].name, name) == 0)
            return &cfg->groups[i];
    return NULL;
}

bool ics_group_has(const ics_group_cfg_t *g, const char *org)
{
    for (size_t i = 0; i < g->n_members; i++)
        if (strcmp(g->members[i], org) == 0)
            return true;
    return false;
}

/* Whole-file checks, after parsing. */
static int s_validate(s_parse_t *p)
{
    ics_config_t *c = p->cfg;

#define NEED(cond, ln, ...)                                                          \
    do {                                                                         \
        if (!(cond)) {                                                           \
            p->line = (ln);                                                      \
            s_fail(p, __VA_ARGS__);                                              \
            return ICS_ECONFIG;                                                  \
        }                                                                        \
    } while (0)

    NEED(p->have_node, 1, "missing [node] section");
    NEED(c->org[0] != '\0', 1, "[node] needs org = ODS code");
    NEED(c->key_file[0] != '\0', 1, "[node] needs key_file");
    NEED(c->listen[0] != '\0', 1, "[node] needs listen = tcp://HOST:PORT");
    NEED(c->data_dir[0] != '\0', 1, "[node] needs data_dir");
    NEED(ics_config_org(c, c->org) != NULL, 1,
         "[node] org = %s, but there is no [org %s] section", c->org, c->org);
    NEED(c->n_groups > 0, 1, "no [group NAME] section: a node belongs to at least one group");
    for (size_t i = 0; i < c->n_orgs; i++) {
        const ics_org_cfg_t *o = &c->orgs[i];
        static const uint8_t zero[ICS_PK_BYTES];
        NEED(o->kind[0] != '\0', o->line, "[org %s] needs kind", o->id);
        NEED(o->endpoint[0] != '\0', o->line, "[org %s] needs endpoint = tcp://HOST:PORT", o->id);
        NEED(memcmp(o->public_key, zero, sizeof zero) != 0, o->line,
             "[org %s] needs public_key", o->id);
        for (size_t j = 0; j < i; j++)
            NEED(memcmp(o->public_key, c->orgs[j].public_key, ICS_PK_BYTES) != 0, o->line,
                 "[org %s] has the same public_key as [org %s]", o->id, c->orgs[j].id);
    }
    for (size_t i = 0; i < c->n_groups; i++) {
        const ics_group_cfg_t *g = &c->groups[i];
        NEED(g->n_members > 0, g->line, "[group %s] needs members", g->name);
        NEED(ics_group_has(g, c->org), g->line,
             "[group %s] does not list this node's org %s in members", g->name, c->org);
        for (size_t j = 0; j < g->n_members; j++)
            NEED(ics_config_org(c, g->members[j]) != NULL, g->line,
                 "[group %s] member %s has no [org %s] section", g->name, g->members[j],
                 g->members[j]);
        NEED(g->admin[0] == '\0' || ics_group_has(g, g->admin), g->line,
             "[group %s] admin = %s is not a member", g->name, g->admin);
        if (g->policy[0] != '\0') {
            /* The scheme goes into the group's genesis: check it now, with
             * its own FILE:LINE errors. */
            Ics__V1__Policy *pol = NULL;
            ics_err_t perr;
            if (ics_policy_load(g->policy, &pol, &perr) != ICS_OK) {
                ics_err(p->err, ICS_ECONFIG, "%s:%d: [group %s] policy: %s", c->path, g->line,
                        g->name, perr.msg);
                return ICS_ECONFIG;
            }
            ics__v1__policy__free_unpacked(pol, NULL);
        }
        /* This node carries escalations across (daemon/bridge.c), so it
         * must be in both groups. */
        NEED(g->escalate_to[0] == '\0' || strcmp(g->escalate_to, g->name) != 0, g->line,
             "[group %s] escalate_to = %s names the group itself", g->name, g->escalate_to);
        NEED(g->escalate_to[0] == '\0' || ics_config_group(c, g->escalate_to) != NULL, g->line,
             "[group %s] escalate_to = %s, but there is no [group %s] section: a node"
             " escalates only to a group it is in", g->name, g->escalate_to, g->escalate_to);
    }
    for (size_t i = 0; i < c->n_notify; i++) {
        const ics_notify_cfg_t *n = &c->notify[i];
        NEED(n->command[0] != '\0' || n->url[0] != '\0', n->line,
             "[notify %s] needs command = PROGRAM or url = http(s)://... (or both)", n->name);
    }
    NEED((c->tls_cert[0] != '\0') == (c->tls_key[0] != '\0'), 1,
         "[http] tls_cert and tls_key go together (HTTPS needs both)");
    NEED(c->client_ca[0] == '\0' || c->tls_cert[0] != '\0', 1,
         "[http] client_ca asks for client certificates, which needs HTTPS: set tls_cert "
         "and tls_key");
    NEED(!c->dashboard || c->http[0] != '\0', 1,
         "[http] dashboard = yes, but [node] http is not set: the dashboard is served there");
    NEED(c->snapshot_trailing <= 10u * c->snapshot_threshold + 1000000u, 1, "snapshot_trailing too large");
    /* The state keeps the chain only at multiples of 16 (fsm.h,
     * ICS_FSM_MARK_STRIDE): a checkpoint must name one. */
    NEED(c->checkpoint_interval % 16 == 0, 1,
         "[raft] checkpoint_interval (%u) must be a multiple of 16", c->checkpoint_interval);
    NEED(c->election_ms >= 2 * c->heartbeat_ms, 1,
         "[raft] election_ms (%u) must be at least twice heartbeat_ms (%u)", c->election_ms,
         c->heartbeat_ms);
#undef NEED
    return ICS_OK;
}

int ics_config_load(const char *path, ics_config_t *cfg, ics_err_t *err)
{
    s_parse_t p = {0};
    char dirbuf[PATH_MAX];
    int rc;

    memset(cfg, 0, sizeof *cfg);
    ics_strcpy(cfg->path, sizeof cfg->path, path);
    cfg->log_level = ICS_LOG_INFO;
    cfg->heartbeat_ms = 100;
    cfg->election_ms = 800; /* icsd.conf(5) says why */
    cfg->snapshot_threshold = 1024;
    cfg->snapshot_trailing = 2048;
    cfg->tick_interval_ms = 1000;
    cfg->checkpoint_interval = 256;
    cfg->backfill_chunk_bytes = 1u << 20;
    cfg->ping_interval_ms = 1000;
    cfg->verify_threads = 1;
    cfg->max_message_bytes = 64u << 20;
    cfg->send_hwm = 10000;
    cfg->reconnect_max_ms = 10000;
    cfg->peer_invalid_max = 100;
    cfg->peer_backoff_ms = 30000;
    ics_strcpy(cfg->control, sizeof cfg->control, "ipc:///run/icsd/control.sock");

    p.cfg = cfg;
    p.err = err;
    ics_strcpy(dirbuf, sizeof dirbuf, path);
    p.dir = dirname(dirbuf);
    p.fp = fopen(path, "r");
    if (p.fp == NULL)
        return ics_err(err, ICS_ECONFIG, "%s: %s", path, strerror(errno));
    struct stat st = {0};
    if (fstat(fileno(p.fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(p.fp);
        return ics_err(err, ICS_ECONFIG, "%s: %s, not a configuration file", path,
                       S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
    }
    rc = ini_parse_stream(s_reader, &p, s_handler, &p);
    bool read_failed = ferror(p.fp) != 0;
    fclose(p.fp);
    if (rc < 0 || read_failed)
        return ics_err(err, ICS_ECONFIG, "%s: could not read", path);
    if (rc > 0 && p.error_line == 0) {
        p.line = rc;
        s_fail(&p, "syntax error (expected [section], key = value, or a comment)");
    }
    if (p.error_line != 0)
        return ICS_ECONFIG;
    return s_validate(&p);
}
