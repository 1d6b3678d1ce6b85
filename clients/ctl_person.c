/*
 * A person's own key, on the machine they sit at: where icsctl keeps it
 * (~/.config/icsd/, or $ICSD_PERSON_DIR), creating it, and signing a
 * command with it before the node wraps it in the organisation's envelope
 * (docs/log-format.md, section 2c). The node never sees the person's key;
 * the state machine checks the signature against the key the person's
 * organisation registered.
 *
 * Sequence numbers: a person's commands carry strictly increasing numbers
 * (per organisation and person). icsctl uses the time in microseconds,
 * never below one more than the last it used (kept next to the key), so a
 * person who signs on two machines still moves forward.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/keys.h"
#include "common/envelope.h"
#include "common/personsig.h"

#include "icsctl.h"

bool ctl_person_dir(opts_t *o, char *out, size_t size)
{
    const char *dir = getenv("ICSD_PERSON_DIR"), *xdg = getenv("XDG_CONFIG_HOME"),
               *home = getenv("HOME");
    int n;

    if (dir != NULL && dir[0] != '\0')
        n = snprintf(out, size, "%s", dir);
    else if (xdg != NULL && xdg[0] == '/')
        n = snprintf(out, size, "%s/icsd", xdg);
    else if (home != NULL && home[0] == '/')
        n = snprintf(out, size, "%s/.config/icsd", home);
    else {
        ctl_error(o, "cannot tell where your keys are: set HOME (or ICSD_PERSON_DIR)");
        return false;
    }
    if (n < 0 || (size_t)n >= size) {
        ctl_error(o, "key directory path too long");
        return false;
    }
    return true;
}

bool ctl_person_key_path(opts_t *o, const char *person, char *out, size_t size)
{
    char dir[PATH_MAX];
    int n;

    if (!ctl_person_dir(o, dir, sizeof dir))
        return false;
    if (person[0] == '\0' || person[0] == '.' || strchr(person, '/') != NULL) {
        ctl_error(o, "'%s' is not a person id", person);
        return false;
    }
    n = snprintf(out, size, "%s/person-%s.key", dir, person);
    if (n < 0 || (size_t)n >= size) {
        ctl_error(o, "key path too long");
        return false;
    }
    return true;
}

/* Creates dir and its parent (mode 0700) if missing. */
static bool s_mkdirs(opts_t *o, const char *dir)
{
    char parent[PATH_MAX];
    char *slash;

    snprintf(parent, sizeof parent, "%s", dir);
    slash = strrchr(parent, '/');
    if (slash != NULL && slash != parent) {
        *slash = '\0';
        if (mkdir(parent, 0700) != 0 && errno != EEXIST) {
            ctl_error(o, "%s: %s", parent, strerror(errno));
            return false;
        }
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        ctl_error(o, "%s: %s", dir, strerror(errno));
        return false;
    }
    return true;
}

int ctl_person_generate(opts_t *o, const char *person, char pub[ICS_PUBKEY_TEXT_MAX],
                        char *path, size_t size)
{
    char dir[PATH_MAX];
    ics_err_t err;

    if (!ctl_person_dir(o, dir, sizeof dir) || !ctl_person_key_path(o, person, path, size))
        return EXIT_FAIL;
    if (!s_mkdirs(o, dir))
        return EXIT_FAIL;
    if (ics_identity_generate(path, pub, &err) != ICS_OK) {
        ctl_error(o, "%s", err.msg);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* The next sequence number for the key at path: the time in microseconds,
 * above the last one used (path with ".seq" for ".key"), which it records. */
static bool s_next_seq(opts_t *o, const char *key_path, uint64_t *seq)
{
    char path[PATH_MAX + 8], buf[32];
    struct timeval tv;
    uint64_t last = 0, now;
    ssize_t n;
    int fd;
    size_t len = strlen(key_path);

    if (len < 4 || len + 1 > sizeof path) {
        ctl_error(o, "key path too long");
        return false;
    }
    memcpy(path, key_path, len - 4);
    strcpy(path + len - 4, ".seq");
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        ctl_error(o, "%s: %s", path, strerror(errno));
        return false;
    }
    n = read(fd, buf, sizeof buf - 1);
    if (n > 0) {
        buf[n] = '\0';
        last = strtoull(buf, NULL, 10);
    }
    gettimeofday(&tv, NULL);
    now = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
    *seq = now > last ? now : last + 1;
    n = snprintf(buf, sizeof buf, "%llu\n", (unsigned long long)*seq);
    if (lseek(fd, 0, SEEK_SET) != 0 || ftruncate(fd, 0) != 0 || write(fd, buf, (size_t)n) != n) {
        ctl_error(o, "%s: %s", path, strerror(errno));
        close(fd);
        return false;
    }
    close(fd);
    return true;
}

/* The node's organisation and the group the command goes to (--group, or
 * the node's only group). */
static bool s_where(opts_t *o, char org[ICS_ORG_MAX], char group[ICS_GROUP_MAX])
{
    Ics__V1__ControlRequest req = ICS__V1__CONTROL_REQUEST__INIT;
    Ics__V1__StatusRequest sr = ICS__V1__STATUS_REQUEST__INIT;
    Ics__V1__ControlResponse *resp;
    bool ok = false;

    req.body_case = ICS__V1__CONTROL_REQUEST__BODY_STATUS;
    req.status = &sr;
    resp = ctl_call(o, &req);
    if (resp == NULL)
        return false;
    if (resp->body_case != ICS__V1__CONTROL_RESPONSE__BODY_STATUS) {
        ctl_error(o, "unexpected answer to status");
        goto out;
    }
    ics_strcpy(org, ICS_ORG_MAX, resp->status->org);
    if (o->group != NULL) {
        ics_strcpy(group, ICS_GROUP_MAX, o->group);
    } else if (resp->status->n_groups == 1) {
        ics_strcpy(group, ICS_GROUP_MAX, resp->status->groups[0]->name);
    } else {
        ctl_error(o, "the node is in %zu groups: say which with --group",
                  resp->status->n_groups);
        goto out;
    }
    ok = true;
out:
    ics__v1__control_response__free_unpacked(resp, NULL);
    return ok;
}

int ctl_person_sign(opts_t *o, Ics__V1__Command *cmd, uint8_t **out, size_t *out_len)
{
    const char *person = ctl_actor(o);
    char path[PATH_MAX], org[ICS_ORG_MAX], group[ICS_GROUP_MAX];
    ics_identity_t *id = NULL;
    uint64_t seq = 0;
    ics_err_t err;
    int rc = EXIT_FAIL;

    *out = NULL;
    *out_len = 0;
    if (!ctl_person_key_path(o, person, path, sizeof path))
        return EXIT_FAIL;
    if (access(path, F_OK) != 0) {
        if (o->actor != NULL) {
            ctl_error(o, "you hold no key of %s (%s): create one with icsctl keys person-gen "
                         "%s, and have your organisation's administrator register it",
                      person, path, person);
            return EXIT_FAIL;
        }
        /* Nobody named: the organisation itself acts (commands that need a
         * person are refused by the state machine, saying so). */
        cmd->actor = (char *)"";
        cmd->person_sig = NULL;
        return ics_pack(&cmd->base, out, out_len) == ICS_OK ? EXIT_OK : EXIT_FAIL;
    }
    id = ics_identity_load(path, &err);
    if (id == NULL) {
        ctl_error(o, "%s", err.msg);
        return EXIT_FAIL;
    }
    if (!s_where(o, org, group) || !s_next_seq(o, path, &seq))
        goto done;
    cmd->actor = (char *)person;
    if (ics_person_sign(id, group, org, seq, cmd, out, out_len) != ICS_OK) {
        ctl_error(o, "cannot sign the command");
        goto done;
    }
    rc = EXIT_OK;
done:
    ics_identity_destroy(&id);
    return rc;
}
