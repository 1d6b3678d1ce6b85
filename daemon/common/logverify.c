/*
 * Audit chain, log export format and offline verification.
 *
 * An export is the state machine's audit log written out line by line: every
 * entry raft ordered, accepted or rejected, with the chain head after it.
 * The verifier trusts nothing in the file. It recomputes each entry id from
 * the envelope bytes, the chain from its start value, and the log clock; it
 * replays the accepted membership commands (Genesis, MemberAdd,
 * MemberRemove, KeyRotate) to know which key is in force for which
 * organisation at each position, and checks every accepted entry's
 * signature under that key. Rejected entries are checked only for their
 * place in the chain: their reasons come from state the verifier does not
 * rebuild. What anchors the whole file is its final chain (or any chain in
 * it), which the reader compares with a certified checkpoint or with a
 * partner's node. Invariant of this file: it links no state machine and no
 * database, so its rules are exactly the ones docs/log-format.md states.
 */
#include "logverify.h"

#include "envelope.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const char s_chain_domain[] = "ICSD-CHAIN-V1";

#define S_HEX_CHAIN (2 * ICS_CHAIN_BYTES)

static void s_be32(uint8_t p[4], uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void s_be64(uint8_t p[8], uint64_t v)
{
    s_be32(p, (uint32_t)(v >> 32));
    s_be32(p + 4, (uint32_t)v);
}

void ics_chain_init(const char *group, uint8_t out[ICS_CHAIN_BYTES])
{
    crypto_generichash_state st;
    uint8_t len[4];
    size_t n = strlen(group);

    s_be32(len, (uint32_t)n);
    crypto_generichash_init(&st, NULL, 0, ICS_CHAIN_BYTES);
    crypto_generichash_update(&st, (const uint8_t *)s_chain_domain, sizeof s_chain_domain - 1);
    crypto_generichash_update(&st, len, sizeof len);
    crypto_generichash_update(&st, (const uint8_t *)group, n);
    crypto_generichash_final(&st, out, ICS_CHAIN_BYTES);
}

void ics_chain_step(const uint8_t prev[ICS_CHAIN_BYTES], uint64_t position,
                    const uint8_t entry_id[32], bool accepted, const char *reason,
                    uint8_t out[ICS_CHAIN_BYTES])
{
    crypto_generichash_state st;
    uint8_t pos[8], len[4], acc = accepted ? 1 : 0;
    size_t n = strlen(reason);

    s_be64(pos, position);
    s_be32(len, (uint32_t)n);
    crypto_generichash_init(&st, NULL, 0, ICS_CHAIN_BYTES);
    crypto_generichash_update(&st, prev, ICS_CHAIN_BYTES);
    crypto_generichash_update(&st, pos, sizeof pos);
    crypto_generichash_update(&st, entry_id, 32);
    crypto_generichash_update(&st, &acc, 1);
    crypto_generichash_update(&st, len, sizeof len);
    crypto_generichash_update(&st, (const uint8_t *)reason, n);
    crypto_generichash_final(&st, out, ICS_CHAIN_BYTES);
}

/* ---------------------------------------------------------------- writer */

int ics_log_write_header(FILE *out, const char *group, uint64_t entries,
                         const uint8_t chain[ICS_CHAIN_BYTES])
{
    char hex[S_HEX_CHAIN + 1];

    ics_hex(chain, ICS_CHAIN_BYTES, hex);
    if (fprintf(out, "%s %d %s %" PRIu64 " %s\n", ICS_LOG_EXPORT_MAGIC,
                ICS_LOG_EXPORT_VERSION, group, entries, hex) < 0)
        return ICS_EIO;
    return ICS_OK;
}

/* Writes base64 (original alphabet, padded) of data, or "-" when empty. */
static int s_put_b64(FILE *out, const uint8_t *data, size_t len)
{
    char *b64 = NULL;
    size_t size;
    int rc = ICS_EIO;

    if (len == 0)
        return fputs("-", out) < 0 ? ICS_EIO : ICS_OK;
    if (len > (SIZE_MAX / 4) - 4)
        return ICS_ENOMEM;
    size = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    b64 = malloc(size);
    if (b64 == NULL) {
        rc = ICS_ENOMEM;
        goto out;
    }
    sodium_bin2base64(b64, size, data, len, sodium_base64_VARIANT_ORIGINAL);
    if (fputs(b64, out) < 0)
        goto out;
    rc = ICS_OK;
out:
    free(b64);
    return rc;
}

int ics_log_write_entry(FILE *out, const ics_log_line_t *line)
{
    char id[S_HEX_CHAIN + 1], chain[S_HEX_CHAIN + 1];
    int rc;

    ics_hex(line->entry_id, 32, id);
    ics_hex(line->chain, ICS_CHAIN_BYTES, chain);
    if (fprintf(out, "e %" PRIu64 " %c %s %s %" PRIu64 " ", line->position,
                line->accepted ? 'a' : 'r', id, chain, line->clock_ms) < 0)
        return ICS_EIO;
    rc = s_put_b64(out, line->envelope, line->envelope_len);
    if (rc != ICS_OK)
        return rc;
    if (fputc(' ', out) == EOF)
        return ICS_EIO;
    rc = s_put_b64(out, (const uint8_t *)line->reason, strlen(line->reason));
    if (rc != ICS_OK)
        return rc;
    return fputc('\n', out) == EOF ? ICS_EIO : ICS_OK;
}

int ics_log_write_end(FILE *out)
{
    return fputs("end\n", out) < 0 ? ICS_EIO : ICS_OK;
}

/* ---------------------------------------------------------------- parsing */

/* Decimal without sign or leading zeros, so each number has one spelling. */
static bool s_parse_u64(const char *s, uint64_t *v)
{
    uint64_t x = 0;

    if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
        return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
        if (x > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return false;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    *v = x;
    return true;
}

/* Exactly 64 lower-case hex digits. */
static bool s_parse_hex32(const char *s, uint8_t out[32])
{
    if (strlen(s) != 64)
        return false;
    for (size_t i = 0; i < 64; i++) {
        char c = s[i];
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
        if (d < 0)
            return false;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)(d << 4);
        else
            out[i / 2] |= (uint8_t)d;
    }
    return true;
}

/* "-" is empty; anything else must be strict, padded, canonical base64.
 * *out is malloc'd (NULL when empty). */
static bool s_parse_b64(const char *s, uint8_t **out, size_t *len)
{
    size_t n = strlen(s), got = 0;
    uint8_t *p;

    *out = NULL;
    *len = 0;
    if (strcmp(s, "-") == 0)
        return true;
    if (n == 0)
        return false;
    p = malloc(n / 4 * 3 + 3);
    if (p == NULL)
        return false;
    if (sodium_base642bin(p, n / 4 * 3 + 3, s, n, NULL, &got, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 || got == 0) {
        free(p);
        return false;
    }
    *out = p;
    *len = got;
    return true;
}

/* Splits on single spaces. Returns the number of fields (max + 1 if more). */
static size_t s_split(char *line, char **field, size_t max)
{
    size_t n = 0;
    char *p = line;

    for (;;) {
        char *sp = strchr(p, ' ');
        if (n == max)
            return max + 1;
        field[n++] = p;
        if (sp == NULL)
            return n;
        *sp = '\0';
        p = sp + 1;
    }
}

/* Reads one line, requiring its newline, which is removed. */
static int s_read_line(FILE *in, char **line, size_t *cap)
{
    ssize_t n = getline(line, cap, in);
    if (n < 0)
        return ICS_ENOENT;
    if (n == 0 || (*line)[n - 1] != '\n')
        return ICS_EMALFORMED;
    (*line)[n - 1] = '\0';
    if (strlen(*line) != (size_t)n - 1)
        return ICS_EMALFORMED; /* a NUL inside the line */
    return ICS_OK;
}

/* ---------------------------------------------------------------- replay */

/* Who may sign: the replayed membership, with each member's key in force. */
typedef struct {
    char org[ICS_ORG_MAX];
    uint8_t pk[ICS_PK_BYTES];
} s_member_t;

typedef struct {
    const char *group;
    bool genesis;
    uint64_t clock;
    s_member_t *members;
    size_t n_members, cap_members;
} s_replay_t;

static s_member_t *s_member(s_replay_t *r, const char *org)
{
    for (size_t i = 0; i < r->n_members; i++)
        if (strcmp(r->members[i].org, org) == 0)
            return &r->members[i];
    return NULL;
}

static int s_member_put(s_replay_t *r, const char *org, const ProtobufCBinaryData *pk,
                        ics_err_t *err)
{
    s_member_t *m = s_member(r, org);

    if (!ics_valid_id(org, ICS_ORG_MAX) || pk->len != ICS_PK_BYTES)
        return ics_err(err, ICS_EMALFORMED,
                       "accepted membership entry carries a bad organisation id or key");
    if (m == NULL) {
        if (r->n_members == r->cap_members) {
            size_t cap = r->cap_members ? 2 * r->cap_members : 16;
            s_member_t *p = realloc(r->members, cap * sizeof *p);
            if (p == NULL)
                return ics_err(err, ICS_ENOMEM, "out of memory");
            r->members = p;
            r->cap_members = cap;
        }
        m = &r->members[r->n_members++];
        ics_strcpy(m->org, sizeof m->org, org);
    }
    memcpy(m->pk, pk->data, ICS_PK_BYTES);
    return ICS_OK;
}

/* Carries out an accepted command's effect on membership and the clock. */
static int s_replay_command(s_replay_t *r, const Ics__V1__Command *cmd, ics_err_t *err)
{
    s_member_t *m;
    int rc = ICS_OK;

    switch (cmd->body_case) {
    case ICS__V1__COMMAND__BODY_GENESIS:
        r->n_members = 0;
        for (size_t i = 0; i < cmd->genesis->n_members && rc == ICS_OK; i++)
            rc = s_member_put(r, cmd->genesis->members[i]->org,
                              &cmd->genesis->members[i]->public_key, err);
        r->genesis = true;
        break;
    case ICS__V1__COMMAND__BODY_TICK:
        if (cmd->tick->now_ms > r->clock)
            r->clock = cmd->tick->now_ms;
        break;
    case ICS__V1__COMMAND__BODY_MEMBER_ADD:
        if (s_member(r, cmd->member_add->org) != NULL)
            return ics_err(err, ICS_EINVAL, "accepted member_add of %s, already a member",
                           cmd->member_add->org);
        rc = s_member_put(r, cmd->member_add->org, &cmd->member_add->public_key, err);
        break;
    case ICS__V1__COMMAND__BODY_MEMBER_REMOVE:
        m = s_member(r, cmd->member_remove->org);
        if (m == NULL)
            return ics_err(err, ICS_EINVAL, "accepted member_remove of %s, not a member",
                           cmd->member_remove->org);
        *m = r->members[--r->n_members];
        break;
    case ICS__V1__COMMAND__BODY_KEY_ROTATE:
        if (s_member(r, cmd->key_rotate->org) == NULL)
            return ics_err(err, ICS_EINVAL, "accepted key_rotate for %s, not a member",
                           cmd->key_rotate->org);
        rc = s_member_put(r, cmd->key_rotate->org, &cmd->key_rotate->public_key, err);
        break;
    default:
        break;
    }
    return rc;
}

/* Mirrors the state machine's checks 1-5 (docs/log-format.md, "Which
 * entries move the clock"): an entry whose signature the state machine
 * verified moves the clock; an accepted one must have verified. */
static int s_replay_entry(s_replay_t *r, const uint8_t *buf, size_t len, bool accepted,
                          ics_err_t *err)
{
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command *cmd = NULL;
    ics_err_t why;
    bool verified = false;
    int rc = ICS_OK;

    if (ics_envelope_decode(buf, len, &env, &why) != ICS_OK) {
        if (accepted)
            rc = ics_err(err, ICS_EMALFORMED, "accepted entry does not decode: %s", why.msg);
        goto out;
    }
    if (env->seq > INT64_MAX || env->timestamp_ms > INT64_MAX ||
        strcmp(env->group, r->group) != 0) {
        if (accepted)
            rc = ics_err(err, ICS_EINVAL,
                         "accepted entry is for group '%s' or has an out-of-range header",
                         env->group);
        goto out;
    }
    if (!r->genesis) {
        const Ics__V1__MemberAdd *signer = NULL;

        if (!accepted)
            goto out; /* nothing before the genesis counts */
        if (env->kind != ICS__V1__COMMAND__BODY_GENESIS ||
            ics_command_decode(env, &cmd, &why) != ICS_OK) {
            rc = ics_err(err, ICS_EINVAL, "accepted entry before any genesis");
            goto out;
        }
        for (size_t i = 0; i < cmd->genesis->n_members; i++)
            if (strcmp(cmd->genesis->members[i]->org, env->org) == 0)
                signer = cmd->genesis->members[i];
        if (signer == NULL || signer->public_key.len != ICS_PK_BYTES) {
            rc = ics_err(err, ICS_ESIG, "genesis signer %s is not among its members", env->org);
            goto out;
        }
        if (ics_envelope_verify(env, r->group, signer->public_key.data, &why) != ICS_OK) {
            rc = ics_err(err, ICS_ESIG, "genesis: %s", why.msg);
            goto out;
        }
        verified = true;
    } else if (env->kind == ICS__V1__COMMAND__BODY_GENESIS) {
        if (accepted)
            rc = ics_err(err, ICS_EINVAL, "a second genesis is marked accepted");
        goto out;
    } else {
        const s_member_t *m = s_member(r, env->org);
        verified = m != NULL && ics_envelope_verify(env, r->group, m->pk, &why) == ICS_OK;
        if (accepted && !verified) {
            rc = m == NULL
                     ? ics_err(err, ICS_ESIG, "accepted entry signed by %s, not a member there",
                               env->org)
                     : ics_err(err, ICS_ESIG, "accepted entry: %s (key in force for %s)",
                               why.msg, env->org);
            goto out;
        }
    }
    if (verified && env->timestamp_ms > r->clock)
        r->clock = env->timestamp_ms;
    if (!accepted)
        goto out;
    if (cmd == NULL && ics_command_decode(env, &cmd, &why) != ICS_OK) {
        rc = ics_err(err, ICS_EMALFORMED, "accepted entry's command does not decode: %s",
                     why.msg);
        goto out;
    }
    rc = s_replay_command(r, cmd, err);
out:
    if (cmd != NULL)
        ics__v1__command__free_unpacked(cmd, NULL);
    if (env != NULL)
        ics__v1__envelope__free_unpacked(env, NULL);
    return rc;
}

/* ---------------------------------------------------------------- verify */

static int s_fail(ics_err_t *err, int code, uint64_t position, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int s_fail(ics_err_t *err, int code, uint64_t position, const char *fmt, ...)
{
    if (err != NULL) {
        int n = position == 0
                    ? snprintf(err->msg, sizeof err->msg, "header: ")
                    : snprintf(err->msg, sizeof err->msg, "position %" PRIu64 ": ", position);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg + n, sizeof err->msg - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Checks one "e ..." line at position pos against the running state. */
static int s_check_line(char *line, uint64_t pos, s_replay_t *r,
                        ics_log_verify_report_t *rep, ics_err_t *err)
{
    char *f[8];
    uint8_t id[32], chain[ICS_CHAIN_BYTES], want_id[32];
    uint8_t *envb = NULL, *reasonb = NULL;
    size_t env_len = 0, reason_len = 0;
    char reason[ICS_REASON_MAX];
    uint64_t got_pos = 0, clock = 0;
    bool accepted;
    ics_err_t why;
    int rc;

    if (s_split(line, f, 8) != 8 || strcmp(f[0], "e") != 0) {
        rc = s_fail(err, ICS_EMALFORMED, pos,
                    "not an entry line (expected 'e' and 7 space-separated fields)");
        goto out;
    }
    if (!s_parse_u64(f[1], &got_pos) || got_pos != pos) {
        rc = s_fail(err, ICS_EINVAL, pos, "line gives position '%.32s'", f[1]);
        goto out;
    }
    if ((strcmp(f[2], "a") != 0 && strcmp(f[2], "r") != 0) || !s_parse_hex32(f[3], id) ||
        !s_parse_hex32(f[4], chain) || !s_parse_u64(f[5], &clock) ||
        !s_parse_b64(f[6], &envb, &env_len) || !s_parse_b64(f[7], &reasonb, &reason_len)) {
        rc = s_fail(err, ICS_EMALFORMED, pos, "a field does not parse");
        goto out;
    }
    accepted = f[2][0] == 'a';
    if (reason_len >= sizeof reason || (reasonb != NULL && memchr(reasonb, 0, reason_len)) ||
        (accepted && reason_len != 0)) {
        rc = s_fail(err, ICS_EMALFORMED, pos,
                    accepted ? "an accepted entry carries a reason"
                             : "reason is too long or holds a NUL byte");
        goto out;
    }
    if (reason_len > 0)
        memcpy(reason, reasonb, reason_len);
    reason[reason_len] = '\0';

    ics_entry_id(envb != NULL ? envb : (const uint8_t *)"", env_len, want_id);
    if (sodium_memcmp(want_id, id, sizeof id) != 0) {
        rc = s_fail(err, ICS_EINVAL, pos, "entry id does not match the envelope bytes");
        goto out;
    }
    ics_chain_step(rep->chain, pos, id, accepted, reason, rep->chain);
    if (sodium_memcmp(rep->chain, chain, sizeof chain) != 0) {
        rc = s_fail(err, ICS_EINVAL, pos,
                    "chain does not match (an entry was altered, removed or reordered)");
        goto out;
    }
    rc = s_replay_entry(r, envb != NULL ? envb : (const uint8_t *)"", env_len, accepted, &why);
    if (rc != ICS_OK) {
        rc = s_fail(err, rc, pos, "%s", why.msg);
        goto out;
    }
    if (clock != r->clock) {
        rc = s_fail(err, ICS_EINVAL, pos, "clock_ms is %" PRIu64 ", replaying gives %" PRIu64,
                    clock, r->clock);
        goto out;
    }
    rep->clock_ms = r->clock;
    rep->entries++;
    if (accepted)
        rep->accepted++;
    else
        rep->rejected++;
    rc = ICS_OK;
out:
    free(envb);
    free(reasonb);
    return rc;
}

int ics_log_verify(FILE *in, ics_log_verify_report_t *rep, ics_err_t *err)
{
    char *line = NULL, *f[6];
    size_t cap = 0;
    uint64_t declared = 0, version = 0, pos = 0;
    uint8_t head_chain[ICS_CHAIN_BYTES];
    char hex[S_HEX_CHAIN + 1];
    s_replay_t r = {0};
    int rc;

    memset(rep, 0, sizeof *rep);
    if (!ics_crypto_init())
        return ics_err(err, ICS_EIO, "libsodium failed to initialise");

    rc = s_read_line(in, &line, &cap);
    if (rc != ICS_OK) {
        rc = s_fail(err, ICS_EMALFORMED, 0, "missing or unterminated header line");
        goto out;
    }
    if (s_split(line, f, 5) != 5 || strcmp(f[0], ICS_LOG_EXPORT_MAGIC) != 0 ||
        !s_parse_u64(f[1], &version)) {
        rc = s_fail(err, ICS_EMALFORMED, 0, "not an icsd log export (expected '%s 1 ...')",
                    ICS_LOG_EXPORT_MAGIC);
        goto out;
    }
    if (version != ICS_LOG_EXPORT_VERSION) {
        rc = s_fail(err, ICS_EVERSION, 0, "export format version %" PRIu64
                    " is not supported (this verifier reads %d)", version,
                    ICS_LOG_EXPORT_VERSION);
        goto out;
    }
    if (!ics_valid_id(f[2], ICS_GROUP_MAX) || !s_parse_u64(f[3], &declared) ||
        !s_parse_hex32(f[4], head_chain)) {
        rc = s_fail(err, ICS_EMALFORMED, 0, "group, entry count or chain does not parse");
        goto out;
    }
    ics_strcpy(rep->group, sizeof rep->group, f[2]);
    r.group = rep->group;
    ics_chain_init(rep->group, rep->chain);

    for (;;) {
        rc = s_read_line(in, &line, &cap);
        if (rc == ICS_ENOENT) {
            rep->bad_position = pos + 1;
            rc = s_fail(err, ICS_EMALFORMED, pos + 1,
                        "file ends without an 'end' line (truncated)");
            goto out;
        }
        if (rc != ICS_OK) {
            rep->bad_position = pos + 1;
            rc = s_fail(err, ICS_EMALFORMED, pos + 1, "unterminated line or NUL byte");
            goto out;
        }
        if (strcmp(line, "end") == 0)
            break;
        if (pos == declared) {
            rep->bad_position = pos + 1;
            rc = s_fail(err, ICS_EINVAL, pos + 1,
                        "more entries than the %" PRIu64 " the header declares", declared);
            goto out;
        }
        rc = s_check_line(line, pos + 1, &r, rep, err);
        if (rc != ICS_OK) {
            rep->bad_position = pos + 1;
            goto out;
        }
        pos++;
    }
    if (pos != declared) {
        rep->bad_position = pos + 1;
        rc = s_fail(err, ICS_EINVAL, pos + 1, "'end' after %" PRIu64
                    " entries; the header declares %" PRIu64, pos, declared);
        goto out;
    }
    if (getline(&line, &cap, in) >= 0) {
        rep->bad_position = pos + 1;
        rc = s_fail(err, ICS_EMALFORMED, pos + 1, "data after the 'end' line");
        goto out;
    }
    if (sodium_memcmp(head_chain, rep->chain, sizeof head_chain) != 0) {
        ics_hex(rep->chain, ICS_CHAIN_BYTES, hex);
        rep->bad_position = 0;
        rc = s_fail(err, ICS_EINVAL, 0, "final chain is %s, not the header's", hex);
        goto out;
    }
    if (ferror(in)) {
        rep->bad_position = pos + 1;
        rc = s_fail(err, ICS_EIO, pos + 1, "read error");
        goto out;
    }
    rc = ICS_OK;
out:
    free(line);
    free(r.members);
    return rc;
}
