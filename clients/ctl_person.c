/*
 * A person's own key, on the machine they sit at: where icsctl keeps it
 * (~/.config/icsd/, or $ICSD_PERSON_DIR), creating it, and signing a
 * command with it before the node wraps it in the organisation's envelope
 * (docs/log-format.md, section 2c). The node never sees the person's key;
 * the state machine checks the signature against the key the person's
 * organisation registered.
 *
 * A key may be sealed with a passphrase (keys person-gen --passphrase):
 * its seed is kept in a crypto_secretbox under a key derived with
 * crypto_pwhash (Argon2id); icsctl asks for the passphrase (or reads
 * $ICSD_PASSPHRASE) whenever it signs.
 *
 * Sequence numbers: a person's commands carry strictly increasing numbers
 * (per organisation and person). icsctl uses the time in microseconds,
 * never below one more than the last it used (kept next to the key), so a
 * person who signs on two machines still moves forward.
 */
#include <errno.h>
#include <sodium.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/keys.h"
#include "common/envelope.h"
#include "common/personsig.h"

#include "ctl.h"

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


/* ---- passphrase-protected keys ------------------------------------------ */

/* "icsd-sealed-ed25519:" base64(salt (16) || nonce (24) || secretbox of the
 * 32-byte seed (48)), the key derived from the passphrase with Argon2id
 * (crypto_pwhash, interactive limits). */
#define S_SEALED_PREFIX "icsd-sealed-ed25519:"
#define S_SEALED_RAW (crypto_pwhash_SALTBYTES + crypto_secretbox_NONCEBYTES + \
                      crypto_secretbox_MACBYTES + 32)

/* The passphrase: $ICSD_PASSPHRASE, else asked on the terminal with prompt
 * (twice when confirm). NULL (reported) if there is none. The caller frees
 * it with sodium_free. */
static char *s_passphrase(opts_t *o, const char *prompt, bool confirm)
{
    const char *env = getenv("ICSD_PASSPHRASE");
    char *out = sodium_malloc(256), *again = NULL;
    const char *got;

    if (out == NULL) {
        ctl_error(o, "out of secure memory");
        return NULL;
    }
    if (env != NULL) {
        snprintf(out, 256, "%s", env);
    } else {
        got = getpass(prompt);
        if (got == NULL || got[0] == '\0') {
            ctl_error(o, "no passphrase given (set ICSD_PASSPHRASE, or run on a terminal)");
            sodium_free(out);
            return NULL;
        }
        snprintf(out, 256, "%s", got);
        if (confirm) {
            again = sodium_malloc(256);
            got = again != NULL ? getpass("again: ") : NULL;
            if (got != NULL)
                snprintf(again, 256, "%s", got);
            if (got == NULL || strcmp(out, again) != 0) {
                ctl_error(o, "the passphrases differ");
                sodium_free(again);
                sodium_free(out);
                return NULL;
            }
            sodium_free(again);
        }
    }
    return out;
}

/* Writes a new sealed key at path, asking for its passphrase; *keep (if
 * not NULL) gets its identity. */
static int s_generate_sealed(opts_t *o, const char *path, char pub[ICS_PUBKEY_TEXT_MAX],
                             ics_identity_t **keep)
{
    uint8_t *seed = sodium_malloc(32), *key = sodium_malloc(crypto_secretbox_KEYBYTES);
    uint8_t raw[S_SEALED_RAW];
    char line[sizeof S_SEALED_PREFIX + sodium_base64_ENCODED_LEN(S_SEALED_RAW,
                                                                  sodium_base64_VARIANT_ORIGINAL) + 1];
    char *pass = NULL;
    ics_identity_t *id = NULL;
    int fd = -1, rc = EXIT_FAIL;
    size_t n;

    if (seed == NULL || key == NULL) {
        ctl_error(o, "out of secure memory");
        goto out;
    }
    pass = s_passphrase(o, "passphrase for the new key: ", true);
    if (pass == NULL)
        goto out;
    randombytes_buf(seed, 32);
    randombytes_buf(raw, crypto_pwhash_SALTBYTES + crypto_secretbox_NONCEBYTES);
    if (crypto_pwhash(key, crypto_secretbox_KEYBYTES, pass, strlen(pass), raw,
                      crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
        ctl_error(o, "out of memory deriving a key from the passphrase");
        goto out;
    }
    crypto_secretbox_easy(raw + crypto_pwhash_SALTBYTES + crypto_secretbox_NONCEBYTES, seed, 32,
                          raw + crypto_pwhash_SALTBYTES, key);
    id = ics_identity_from_seed(seed);
    if (id == NULL) {
        ctl_error(o, "could not derive keys");
        goto out;
    }
    memcpy(line, S_SEALED_PREFIX, sizeof S_SEALED_PREFIX - 1);
    sodium_bin2base64(line + sizeof S_SEALED_PREFIX - 1, sizeof line - sizeof S_SEALED_PREFIX + 1,
                      raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    n = strlen(line);
    line[n++] = '\n';
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        ctl_error(o, "%s: %s%s", path, strerror(errno),
                  errno == EEXIST ? " (refusing to overwrite a key file)" : "");
        goto out;
    }
    if (fchmod(fd, 0600) != 0 || write(fd, line, n) != (ssize_t)n || fsync(fd) != 0) {
        ctl_error(o, "%s: %s", path, strerror(errno));
        unlink(path);
        goto out;
    }
    ics_pubkey_format(ics_identity_public(id), pub);
    if (keep != NULL) {
        *keep = id;
        id = NULL;
    }
    rc = EXIT_OK;
out:
    if (fd >= 0)
        close(fd);
    sodium_free(seed);
    sodium_free(key);
    sodium_free(pass);
    ics_identity_destroy(&id);
    return rc;
}

/* Loads a person's key file, plain (ics_identity_load) or sealed (asks for
 * the passphrase). NULL, reported, on failure. */
static ics_identity_t *s_load(opts_t *o, const char *path)
{
    char head[sizeof S_SEALED_PREFIX], buf[256];
    uint8_t raw[S_SEALED_RAW], *seed = NULL, *key = NULL;
    char *pass = NULL;
    ics_identity_t *id = NULL;
    ics_err_t err;
    size_t raw_len = 0;
    struct stat st;
    FILE *f = fopen(path, "re");

    if (f == NULL) {
        ctl_error(o, "%s: %s", path, strerror(errno));
        return NULL;
    }
    memset(head, 0, sizeof head);
    if (fread(head, 1, sizeof head - 1, f) != sizeof head - 1 ||
        strcmp(head, S_SEALED_PREFIX) != 0) {
        fclose(f);
        id = ics_identity_load(path, &err);
        if (id == NULL)
            ctl_error(o, "%s", err.msg);
        return id;
    }
    if (fstat(fileno(f), &st) != 0 || (st.st_mode & 077) != 0) {
        ctl_error(o, "key file %s is readable by others; run: chmod 600 %s", path, path);
        fclose(f);
        return NULL;
    }
    if (fgets(buf, sizeof buf, f) == NULL)
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    if (sodium_base642bin(raw, sizeof raw, buf, strlen(buf), NULL, &raw_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 || raw_len != sizeof raw) {
        ctl_error(o, "key file %s: not a sealed icsd key", path);
        return NULL;
    }
    seed = sodium_malloc(32);
    key = sodium_malloc(crypto_secretbox_KEYBYTES);
    pass = seed != NULL && key != NULL ? s_passphrase(o, "passphrase for your key: ", false) : NULL;
    if (pass == NULL)
        goto out;
    if (crypto_pwhash(key, crypto_secretbox_KEYBYTES, pass, strlen(pass), raw,
                      crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
                      crypto_pwhash_ALG_ARGON2ID13) != 0 ||
        crypto_secretbox_open_easy(seed, raw + crypto_pwhash_SALTBYTES + crypto_secretbox_NONCEBYTES,
                                   crypto_secretbox_MACBYTES + 32, raw + crypto_pwhash_SALTBYTES,
                                   key) != 0) {
        ctl_error(o, "key file %s: wrong passphrase", path);
        goto out;
    }
    id = ics_identity_from_seed(seed);
    if (id == NULL)
        ctl_error(o, "key file %s: could not derive keys", path);
out:
    sodium_free(seed);
    sodium_free(key);
    sodium_free(pass);
    return id;
}

bool ctl_person_key_sealed(const char *path)
{
    char head[sizeof S_SEALED_PREFIX] = "";
    FILE *f = fopen(path, "re");
    bool sealed;

    if (f == NULL)
        return false;
    sealed =
        fread(head, 1, sizeof head - 1, f) == sizeof head - 1 && strcmp(head, S_SEALED_PREFIX) == 0;
    fclose(f);
    return sealed;
}

int ctl_person_generate_at(opts_t *o, const char *path, bool sealed, char pub[ICS_PUBKEY_TEXT_MAX],
                           ics_identity_t **id)
{
    ics_err_t err;

    if (sealed)
        return s_generate_sealed(o, path, pub, id);
    if (ics_identity_generate(path, pub, &err) != ICS_OK) {
        ctl_error(o, "%s", err.msg);
        return EXIT_FAIL;
    }
    if (id != NULL && (*id = ics_identity_load(path, &err)) == NULL) {
        ctl_error(o, "%s", err.msg);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

int ctl_person_generate(opts_t *o, const char *person, bool sealed, char pub[ICS_PUBKEY_TEXT_MAX],
                        char *path, size_t size)
{
    char dir[PATH_MAX];

    if (!ctl_person_dir(o, dir, sizeof dir) || !ctl_person_key_path(o, person, path, size))
        return EXIT_FAIL;
    if (!s_mkdirs(o, dir))
        return EXIT_FAIL;
    return ctl_person_generate_at(o, path, sealed, pub, NULL);
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
        if (o->on_behalf != NULL) {
            ctl_error(o, "--on-behalf-of: you enter it as an administrator of your "
                         "organisation, signing with your own key, and icsctl holds none of %s "
                         "(%s)", person, path);
            return EXIT_FAIL;
        }
        /* Nobody named: the organisation itself acts (commands that need a
         * person are refused by the state machine, saying so). */
        cmd->actor = (char *)"";
        cmd->person_sig = NULL;
        return ics_pack(&cmd->base, out, out_len) == ICS_OK ? EXIT_OK : EXIT_FAIL;
    }
    id = s_load(o, path);
    if (id == NULL)
        return EXIT_FAIL;
    if (!s_where(o, org, group) || !s_next_seq(o, path, &seq))
        goto done;
    cmd->actor = (char *)person;
    cmd->on_behalf_of = (char *)(o->on_behalf != NULL ? o->on_behalf : "");
    if (ics_person_sign(id, group, org, seq, cmd, out, out_len) != ICS_OK) {
        ctl_error(o, "cannot sign the command");
        goto done;
    }
    rc = EXIT_OK;
done:
    ics_identity_destroy(&id);
    return rc;
}
