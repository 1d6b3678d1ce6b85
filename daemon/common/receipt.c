/*
 * Receipts and consistency answers (receipt.h, docs/log-format.md 8a).
 *
 * A receipt is ASCII text, LF line ends, one space between fields, each
 * part with one spelling (decimal without leading zeros, lower-case hex,
 * canonical padded base64, "-" for empty), so that changing any byte makes
 * it fail:
 *
 *     icsd-receipt 1 <group>
 *     entry <position> <a|r> <entry base64> <reason base64> <proof>
 *     member <position> <entry base64> <proof>          (zero or more)
 *     checkpoint
 *     <the tree head as a signed note: body, empty line, signature lines>
 *     end
 *
 * where <proof> is the inclusion proof's hashes in hex joined by commas,
 * or "-" when it has none. Nothing here trusts the file: every length is
 * bounded before it is used.
 */
#include "receipt.h"

#include "envelope.h"
#include "logverify.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- key sets */

bool ics_keyset_kind_is_membership(uint32_t kind)
{
    return kind == ICS__V1__COMMAND__BODY_GENESIS || kind == ICS__V1__COMMAND__BODY_MEMBER_ADD ||
           kind == ICS__V1__COMMAND__BODY_MEMBER_REMOVE ||
           kind == ICS__V1__COMMAND__BODY_KEY_ROTATE;
}

const ics_keyset_member_t *ics_keyset_find(const ics_keyset_t *ks, const char *org)
{
    for (size_t i = 0; i < ks->n; i++)
        if (strcmp(ks->m[i].org, org) == 0)
            return &ks->m[i];
    return NULL;
}

unsigned ics_keyset_voters(const ics_keyset_t *ks)
{
    unsigned n = 0;
    for (size_t i = 0; i < ks->n; i++)
        n += ks->m[i].voter ? 1 : 0;
    return n;
}

static int s_keyset_put(ics_keyset_t *ks, const Ics__V1__MemberAdd *m, ics_err_t *err)
{
    ics_keyset_member_t *x = (ics_keyset_member_t *)ics_keyset_find(ks, m->org);

    if (m->org == NULL || !ics_valid_id(m->org, ICS_ORG_MAX) || m->public_key.len != ICS_PK_BYTES)
        return ics_err(err, ICS_EINVAL, "a member listing without a valid id and key");
    if (x == NULL) {
        if (ks->n == ICS_KEYSET_MAX)
            return ics_err(err, ICS_EINVAL, "more than %d members", ICS_KEYSET_MAX);
        x = &ks->m[ks->n++];
    }
    ics_strcpy(x->org, sizeof x->org, m->org);
    memcpy(x->pk, m->public_key.data, ICS_PK_BYTES);
    x->voter = m->role == ICS__V1__MEMBER_ROLE__MEMBER_ROLE_VOTER;
    ics_strcpy(x->endpoint, sizeof x->endpoint, m->endpoint != NULL ? m->endpoint : "");
    return ICS_OK;
}

int ics_keyset_apply(ics_keyset_t *ks, const char *group, const uint8_t *entry, size_t len,
                     ics_err_t *err)
{
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command *cmd = NULL;
    ics_keyset_member_t *x;
    int rc = ICS_OK;

    if (ics_envelope_decode(entry, len, &env, NULL) != ICS_OK ||
        ics_command_decode(env, &cmd, NULL) != ICS_OK) {
        rc = ics_err(err, ICS_EINVAL, "it does not decode as a command");
        goto out;
    }
    if (env->group == NULL || strcmp(env->group, group) != 0) {
        rc = ics_err(err, ICS_EINVAL, "it is not for group %s", group);
        goto out;
    }
    if (!ks->genesis && cmd->body_case != ICS__V1__COMMAND__BODY_GENESIS) {
        rc = ics_err(err, ICS_EINVAL, "the first membership entry is not the genesis");
        goto out;
    }
    switch (cmd->body_case) {
    case ICS__V1__COMMAND__BODY_GENESIS:
        if (ks->genesis) {
            rc = ics_err(err, ICS_EINVAL, "a second genesis");
            goto out;
        }
        for (size_t i = 0; rc == ICS_OK && i < cmd->genesis->n_members; i++)
            rc = s_keyset_put(ks, cmd->genesis->members[i], err);
        ks->genesis = true;
        ics_entry_id(entry, len, ks->genesis_id);
        break;
    case ICS__V1__COMMAND__BODY_MEMBER_ADD:
        rc = s_keyset_put(ks, cmd->member_add, err);
        break;
    case ICS__V1__COMMAND__BODY_MEMBER_REMOVE:
        x = cmd->member_remove->org != NULL
                ? (ics_keyset_member_t *)ics_keyset_find(ks, cmd->member_remove->org)
                : NULL;
        if (x == NULL) {
            rc = ics_err(err, ICS_EINVAL, "it removes an organisation that is not a member");
            goto out;
        }
        *x = ks->m[--ks->n];
        break;
    case ICS__V1__COMMAND__BODY_KEY_ROTATE:
        x = cmd->key_rotate->org != NULL
                ? (ics_keyset_member_t *)ics_keyset_find(ks, cmd->key_rotate->org)
                : NULL;
        if (x == NULL || cmd->key_rotate->public_key.len != ICS_PK_BYTES) {
            rc = ics_err(err, ICS_EINVAL, "it rotates the key of no member, or to no key");
            goto out;
        }
        memcpy(x->pk, cmd->key_rotate->public_key.data, ICS_PK_BYTES);
        break;
    default:
        rc = ics_err(err, ICS_EINVAL, "it is not a membership entry");
        break;
    }
out:
    if (cmd != NULL)
        ics__v1__command__free_unpacked(cmd, NULL);
    if (env != NULL)
        ics__v1__envelope__free_unpacked(env, NULL);
    return rc;
}

/* ---------------------------------------------------------------- writing */

static int s_put_b64(FILE *out, const uint8_t *b, size_t n)
{
    char *s;
    size_t cap;
    int rc;

    if (n == 0)
        return fputc('-', out) == EOF ? ICS_EIO : ICS_OK;
    cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    s = malloc(cap);
    if (s == NULL)
        return ICS_ENOMEM;
    sodium_bin2base64(s, cap, b, n, sodium_base64_VARIANT_ORIGINAL);
    rc = fputs(s, out) < 0 ? ICS_EIO : ICS_OK;
    free(s);
    return rc;
}

static int s_put_proof(FILE *out, const ics_merkle_hash_t *proof, size_t len)
{
    char hex[2 * ICS_MERKLE_HASH_BYTES + 1];

    if (len == 0)
        return fputc('-', out) == EOF ? ICS_EIO : ICS_OK;
    for (size_t i = 0; i < len; i++) {
        ics_hex(proof[i], ICS_MERKLE_HASH_BYTES, hex);
        if (fprintf(out, "%s%s", i ? "," : "", hex) < 0)
            return ICS_EIO;
    }
    return ICS_OK;
}

int ics_receipt_write(FILE *out, const ics_receipt_leaf_t *entry, const ics_receipt_leaf_t *members,
                      size_t n_members, const ics_note_t *head)
{
    int rc = ICS_OK;

    if (fprintf(out, "%s %d %s\nentry %" PRIu64 " %c ", ICS_RECEIPT_MAGIC, ICS_RECEIPT_VERSION,
                head->group, entry->position, entry->accepted ? 'a' : 'r') < 0)
        return ICS_EIO;
    if ((rc = s_put_b64(out, entry->entry, entry->entry_len)) != ICS_OK || fputc(' ', out) == EOF ||
        (rc = s_put_b64(out, (const uint8_t *)entry->reason, strlen(entry->reason))) != ICS_OK ||
        fputc(' ', out) == EOF || (rc = s_put_proof(out, entry->proof, entry->proof_len)) != 0 ||
        fputc('\n', out) == EOF)
        return rc != ICS_OK ? rc : ICS_EIO;
    for (size_t i = 0; i < n_members; i++) {
        if (fprintf(out, "member %" PRIu64 " ", members[i].position) < 0 ||
            (rc = s_put_b64(out, members[i].entry, members[i].entry_len)) != ICS_OK ||
            fputc(' ', out) == EOF ||
            (rc = s_put_proof(out, members[i].proof, members[i].proof_len)) != ICS_OK ||
            fputc('\n', out) == EOF)
            return rc != ICS_OK ? rc : ICS_EIO;
    }
    if (fputs("checkpoint\n", out) < 0 || ics_note_write(out, head) != ICS_OK ||
        fputs("end\n", out) < 0)
        return ICS_EIO;
    return ferror(out) ? ICS_EIO : ICS_OK;
}

/* ---------------------------------------------------------------- parsing */

/* A line of text: its bytes and length, without the LF. */
typedef struct {
    const char *p;
    size_t n;
} s_str_t;

static bool s_next_line(const char *text, size_t len, size_t *at, s_str_t *line)
{
    const char *nl;

    if (*at >= len || (nl = memchr(text + *at, '\n', len - *at)) == NULL)
        return false;
    line->p = text + *at;
    line->n = (size_t)(nl - line->p);
    *at += line->n + 1;
    return true;
}

/* Cuts the next space-separated field off *s. */
static bool s_field(s_str_t *s, s_str_t *f)
{
    const char *sp = memchr(s->p, ' ', s->n);

    f->p = s->p;
    f->n = sp != NULL ? (size_t)(sp - s->p) : s->n;
    s->p += f->n + (sp != NULL ? 1 : 0);
    s->n -= f->n + (sp != NULL ? 1 : 0);
    if (sp != NULL && s->n == 0)
        return false; /* a trailing space */
    return f->n > 0;
}

static bool s_is(const s_str_t *s, const char *lit)
{
    return s->n == strlen(lit) && memcmp(s->p, lit, s->n) == 0;
}

static bool s_u64(const s_str_t *s, uint64_t *v)
{
    uint64_t x = 0;

    if (s->n == 0 || s->n > 19 || (s->n > 1 && s->p[0] == '0'))
        return false;
    for (size_t i = 0; i < s->n; i++) {
        if (s->p[i] < '0' || s->p[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(s->p[i] - '0');
    }
    if (x > INT64_MAX)
        return false;
    *v = x;
    return true;
}

/* "-", or canonical padded base64 of at most max bytes; *out malloc'd
 * (NULL when empty). */
static bool s_bytes(const s_str_t *s, size_t max, uint8_t **out, size_t *len)
{
    size_t got = 0, cap;
    uint8_t *b;

    *out = NULL;
    *len = 0;
    if (s_is(s, "-"))
        return true;
    if (s->n == 0 || s->n % 4 != 0 || s->n / 4 * 3 > max + 2)
        return false;
    cap = s->n / 4 * 3;
    b = malloc(cap);
    if (b == NULL)
        return false;
    if (sodium_base642bin(b, cap, s->p, s->n, NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL) !=
            0 ||
        got == 0 || got > max) {
        free(b);
        return false;
    }
    *out = b;
    *len = got;
    return true;
}

static bool s_hex32(const char *p, uint8_t out[32])
{
    for (size_t i = 0; i < 64; i++) {
        char c = p[i];
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
        if (d < 0)
            return false;
        out[i / 2] = (uint8_t)(i % 2 == 0 ? d << 4 : out[i / 2] | d);
    }
    return true;
}

/* "-" or hex hashes joined by commas. */
static bool s_proof(const s_str_t *s, ics_merkle_hash_t proof[ICS_MERKLE_PROOF_MAX], size_t *len)
{
    *len = 0;
    if (s_is(s, "-"))
        return true;
    if ((s->n + 1) % 65 != 0 || (s->n + 1) / 65 > ICS_MERKLE_PROOF_MAX)
        return false;
    for (size_t i = 0; i < (s->n + 1) / 65; i++) {
        if ((i > 0 && s->p[65 * i - 1] != ',') || !s_hex32(s->p + 65 * i, proof[i]))
            return false;
    }
    *len = (s->n + 1) / 65;
    return true;
}

/* The leaf hash of a proved line, and whether its proof leads to root. */
static bool s_included(uint64_t position, const uint8_t *entry, size_t len, bool accepted,
                       const char *reason, const ics_merkle_hash_t *proof, size_t proof_len,
                       const ics_note_t *head, uint8_t id[32])
{
    uint8_t leaf[ICS_MERKLE_HASH_BYTES];

    ics_entry_id(entry != NULL ? entry : (const uint8_t *)"", len, id);
    ics_log_leaf_hash(position, id, accepted, reason, leaf);
    return ics_merkle_verify_inclusion(leaf, position - 1, head->size, proof, proof_len,
                                       head->root);
}

/* Finds the embedded note: after the "checkpoint" line, up to the final
 * "end" line, which ends the text. */
static bool s_split_note(const char *text, size_t len, size_t at, size_t *note_at, size_t *note_len)
{
    if (len < at + 4 || memcmp(text + len - 4, "end\n", 4) != 0 ||
        (len - 4 > at && text[len - 5] != '\n'))
        return false;
    *note_at = at;
    *note_len = len - 4 - at;
    return true;
}

static void s_report_entry(ics_receipt_report_t *rep, const uint8_t *entry, size_t len)
{
    Ics__V1__Envelope *env = NULL;

    if (ics_envelope_decode(entry != NULL ? entry : (const uint8_t *)"", len, &env, NULL) != ICS_OK)
        return;
    ics_strcpy(rep->org, sizeof rep->org, env->org != NULL ? env->org : "");
    rep->seq = env->seq;
    rep->timestamp_ms = env->timestamp_ms;
    ics__v1__envelope__free_unpacked(env, NULL);
}

/* The header line, "icsd-receipt 1 <group>": the group into rep. */
static int s_read_header(const char *text, size_t len, size_t *at, ics_receipt_report_t *rep,
                         ics_err_t *err)
{
    s_str_t line, f;

    if (!s_next_line(text, len, at, &line) || !s_field(&line, &f) ||
        !s_is(&f, ICS_RECEIPT_MAGIC) || !s_field(&line, &f))
        return ics_err(err, ICS_EMALFORMED, "not an icsd receipt (expected '%s %d <group>')",
                       ICS_RECEIPT_MAGIC, ICS_RECEIPT_VERSION);
    if (!s_is(&f, "1"))
        return ics_err(err, ICS_EVERSION, "receipt version '%.*s' is not supported (this reads 1)",
                       (int)(f.n < 16 ? f.n : 16), f.p);
    if (!s_field(&line, &f) || line.n != 0 || f.n >= sizeof rep->group)
        return ics_err(err, ICS_EMALFORMED, "receipt header: no valid group id");
    memcpy(rep->group, f.p, f.n);
    rep->group[f.n] = '\0';
    if (!ics_valid_id(rep->group, ICS_GROUP_MAX))
        return ics_err(err, ICS_EMALFORMED, "receipt header: no valid group id");
    return ICS_OK;
}

/* The entry line, parsed now and proved once the head is known: position,
 * verdict and reason into rep, the entry's bytes (*entry, malloc'd) and its
 * inclusion proof. */
static int s_read_entry(const char *text, size_t len, size_t *at, ics_receipt_report_t *rep,
                        uint8_t **entry, size_t *entry_len, ics_merkle_hash_t *proof,
                        size_t *proof_len, ics_err_t *err)
{
    s_str_t line, f, pos, verdict, e, r, pr;
    uint8_t *reason = NULL;
    size_t reason_len = 0;
    int rc = ICS_OK;

    if (!s_next_line(text, len, at, &line) || !s_field(&line, &f) || !s_is(&f, "entry") ||
        !s_field(&line, &pos) || !s_field(&line, &verdict) || !s_field(&line, &e) ||
        !s_field(&line, &r) || !s_field(&line, &pr) || line.n != 0)
        return ics_err(err, ICS_EMALFORMED,
                       "the entry line is not 'entry <position> <a|r>"
                       " <entry> <reason> <proof>'");
    if (!s_u64(&pos, &rep->position) || rep->position == 0 ||
        (!s_is(&verdict, "a") && !s_is(&verdict, "r")) ||
        !s_bytes(&e, ICS_ENVELOPE_MAX + 1024, entry, entry_len) ||
        !s_bytes(&r, sizeof rep->reason - 1, &reason, &reason_len) ||
        !s_proof(&pr, proof, proof_len)) {
        rc = ics_err(err, ICS_EMALFORMED, "the entry line: a field does not parse");
        goto out;
    }
    rep->accepted = s_is(&verdict, "a");
    if (reason_len > 0)
        memcpy(rep->reason, reason, reason_len);
    rep->reason[reason_len] = '\0';
    if (strlen(rep->reason) != reason_len || rep->accepted != (reason_len == 0))
        rc = ics_err(err, ICS_EMALFORMED,
                     "the entry line: an accepted entry has no reason,"
                     " a rejected one has one (without NUL bytes)");
out:
    free(reason);
    return rc;
}

/* The head, which ends the file: parsed into head, its size and root into
 * rep; *note_at is where its section starts. */
static int s_read_head(const char *text, size_t len, size_t at, ics_note_t *head,
                       ics_receipt_report_t *rep, size_t *note_at, ics_err_t *err)
{
    size_t scan = at, note_len;
    s_str_t l;
    int rc;

    while (s_next_line(text, len, &scan, &l) && !s_is(&l, "checkpoint"))
        ;
    if (!s_split_note(text, len, scan, note_at, &note_len) || scan > len)
        return ics_err(err, ICS_EMALFORMED, "no 'checkpoint' section ending with 'end'");
    rc = ics_note_parse(text + *note_at, note_len, head, err);
    if (rc != ICS_OK)
        return rc;
    if (strcmp(head->group, rep->group) != 0)
        return ics_err(err, ICS_EINVAL, "the tree head is of group %s, the receipt of %s",
                       head->group, rep->group);
    rep->size = head->size;
    memcpy(rep->root, head->root, sizeof rep->root);
    return ICS_OK;
}

/* The evidence of the keys: every member line up to "checkpoint", each
 * proved included under head and replayed into ks. */
static int s_read_evidence(const char *text, size_t len, size_t *at, const ics_note_t *head,
                           ics_keyset_t *ks, ics_receipt_report_t *rep, ics_err_t *err)
{
    ics_merkle_hash_t proof[ICS_MERKLE_PROOF_MAX];
    uint8_t *mentry = NULL;
    size_t entry_len = 0, proof_len;
    uint64_t last_member = 0;
    s_str_t line, f;
    ics_err_t why;
    int rc = ICS_OK;

    for (;;) {
        s_str_t pos, e, pr;
        uint64_t p;
        uint8_t id[32];

        if (!s_next_line(text, len, at, &line)) {
            rc = ics_err(err, ICS_EMALFORMED, "the receipt ends before its checkpoint");
            break;
        }
        if (s_is(&line, "checkpoint"))
            break;
        free(mentry);
        mentry = NULL;
        if (!s_field(&line, &f) || !s_is(&f, "member") || !s_field(&line, &pos) ||
            !s_field(&line, &e) || !s_field(&line, &pr) || line.n != 0 || !s_u64(&pos, &p) ||
            !s_bytes(&e, ICS_ENVELOPE_MAX + 1024, &mentry, &entry_len) ||
            !s_proof(&pr, proof, &proof_len)) {
            rc = ics_err(err, ICS_EMALFORMED,
                         "a line before the checkpoint is not 'member"
                         " <position> <entry> <proof>'");
            break;
        }
        if (p <= last_member || p > head->size) {
            rc = ics_err(err, ICS_EINVAL,
                         "membership entry %" PRIu64 " is out of order or"
                         " beyond the tree head",
                         p);
            break;
        }
        last_member = p;
        if (!s_included(p, mentry, entry_len, true, "", proof, proof_len, head, id)) {
            rc = ics_err(err, ICS_EINVAL,
                         "the inclusion proof of membership entry %" PRIu64
                         " does not lead to the tree head's root",
                         p);
            break;
        }
        if (ics_keyset_apply(ks, rep->group, mentry, entry_len, &why) != ICS_OK) {
            rc = ics_err(err, ICS_EINVAL, "membership entry %" PRIu64 " cannot be replayed: %s", p,
                         why.msg);
            break;
        }
        rep->evidence++;
    }
    free(mentry);
    return rc;
}

/* Every signature of head: a voting member's valid cosignature under its
 * key in force; and a majority of the voters. */
static int s_check_cosigners(const ics_note_t *head, const ics_keyset_t *ks,
                             ics_receipt_report_t *rep, ics_err_t *err)
{
    rep->voters = ics_keyset_voters(ks);
    rep->needed = rep->voters / 2 + 1;
    for (size_t i = 0; i < head->n_sigs; i++) {
        const ics_note_sig_t *g = &head->sigs[i];
        const ics_keyset_member_t *m = ics_keyset_find(ks, g->name);
        uint8_t kh[ICS_NOTE_KEY_HASH_BYTES];

        if (m == NULL || !m->voter)
            return ics_err(err, ICS_ESIG,
                           "the tree head is signed by %s, not a voting member at"
                           " size %" PRIu64,
                           g->name, head->size);
        ics_note_key_hash(m->org, m->pk, kh);
        if (memcmp(kh, g->key_hash, sizeof kh) != 0)
            return ics_err(err, ICS_ESIG,
                           "%s's signature names another key than its key in force"
                           " at size %" PRIu64,
                           g->name, head->size);
        if (!ics_note_cosignature_ok(head->group, head->size, head->root, m->pk, g->sig))
            return ics_err(err, ICS_ESIG, "%s's cosignature does not verify for this tree head",
                           g->name);
        ics_strcpy(rep->cosigners[rep->n_cosigners++], ICS_ORG_MAX, g->name);
    }
    if (rep->n_cosigners < rep->needed)
        return ics_err(err, ICS_ESIG,
                       "the tree head is cosigned by %u of the %u voting members;"
                       " %u needed",
                       rep->n_cosigners, rep->voters, rep->needed);
    return ICS_OK;
}

int ics_receipt_verify(const char *text, size_t len, ics_receipt_report_t *rep, ics_err_t *err)
{
    ics_merkle_hash_t proof[ICS_MERKLE_PROOF_MAX];
    ics_note_t *head = NULL;
    ics_keyset_t *ks = NULL;
    uint8_t *entry = NULL;
    size_t entry_len = 0, proof_len = 0, at = 0, note_at = 0;
    int rc;

    memset(rep, 0, sizeof *rep);
    head = calloc(1, sizeof *head);
    ks = calloc(1, sizeof *ks);
    if (head == NULL || ks == NULL) {
        rc = ics_err(err, ICS_ENOMEM, "out of memory");
        goto out;
    }
    rc = s_read_header(text, len, &at, rep, err);
    if (rc == ICS_OK)
        rc = s_read_entry(text, len, &at, rep, &entry, &entry_len, proof, &proof_len, err);
    if (rc == ICS_OK)
        rc = s_read_head(text, len, at, head, rep, &note_at, err);
    if (rc != ICS_OK)
        goto out;
    if (rep->position > head->size) {
        rc = ics_err(err, ICS_EINVAL, "entry %" PRIu64 " is beyond the tree head of size %" PRIu64,
                     rep->position, head->size);
        goto out;
    }
    if (!s_included(rep->position, entry, entry_len, rep->accepted, rep->reason, proof, proof_len,
                    head, rep->entry_id)) {
        rc = ics_err(err, ICS_EINVAL,
                     "the inclusion proof of entry %" PRIu64 " does not lead to"
                     " the tree head's root (the entry, its verdict or the proof was altered)",
                     rep->position);
        goto out;
    }
    s_report_entry(rep, entry, entry_len);
    rc = s_read_evidence(text, len, &at, head, ks, rep, err);
    if (rc != ICS_OK)
        goto out;
    if (at != note_at) {
        rc = ics_err(err, ICS_EMALFORMED, "the checkpoint section is not where it should be");
        goto out;
    }
    if (!ks->genesis) {
        rc = ics_err(err, ICS_EINVAL,
                     "no genesis among the membership entries: the keys in"
                     " force are not shown");
        goto out;
    }
    memcpy(rep->genesis_id, ks->genesis_id, 32);
    rc = s_check_cosigners(head, ks, rep, err);
out:
    free(entry);
    free(head);
    free(ks);
    return rc;
}

int ics_checkpoint_file_head(const char *text, size_t len, ics_note_t *head, bool *checked,
                             ics_err_t *err)
{
    size_t magic = strlen(ICS_RECEIPT_MAGIC);

    *checked = false;
    if (len > magic && memcmp(text, ICS_RECEIPT_MAGIC " ", magic + 1) == 0) {
        ics_receipt_report_t *rep = calloc(1, sizeof *rep);
        size_t at = 0, note_at = 0, note_len = 0;
        s_str_t l;
        int rc;

        if (rep == NULL)
            return ics_err(err, ICS_ENOMEM, "out of memory");
        rc = ics_receipt_verify(text, len, rep, err);
        free(rep);
        if (rc != ICS_OK)
            return rc;
        while (s_next_line(text, len, &at, &l) && !s_is(&l, "checkpoint"))
            ;
        if (!s_split_note(text, len, at, &note_at, &note_len))
            return ics_err(err, ICS_EMALFORMED, "no checkpoint in the receipt");
        *checked = true;
        return ics_note_parse(text + note_at, note_len, head, err);
    }
    return ics_note_parse(text, len, head, err);
}

/* ---------------------------------------------------------------- consistency */

int ics_consistency_write(FILE *out, const char *group, uint64_t old_size, uint64_t size,
                          const uint8_t root[ICS_MERKLE_HASH_BYTES], const ics_merkle_hash_t *proof,
                          size_t proof_len)
{
    char hex[2 * ICS_MERKLE_HASH_BYTES + 1];

    ics_hex(root, ICS_MERKLE_HASH_BYTES, hex);
    if (fprintf(out, "icsd-consistency 1 %s\nhead %" PRIu64 " %s\nproof %" PRIu64 " ", group, size,
                hex, old_size) < 0 ||
        s_put_proof(out, proof, proof_len) != ICS_OK || fputs("\nend\n", out) < 0)
        return ICS_EIO;
    return ferror(out) ? ICS_EIO : ICS_OK;
}

int ics_consistency_check(const char *text, size_t len, const ics_note_t *head,
                          ics_consistency_report_t *rep, ics_err_t *err)
{
    ics_merkle_hash_t proof[ICS_MERKLE_PROOF_MAX];
    s_str_t line, f, size, root, old, pr;
    size_t at = 0, proof_len;
    uint64_t from = 0;
    char hex[2 * ICS_MERKLE_HASH_BYTES + 1];

    memset(rep, 0, sizeof *rep);
    rep->old_size = head->size;
    memcpy(rep->old_root, head->root, sizeof rep->old_root);
    if (!s_next_line(text, len, &at, &line) || !s_field(&line, &f) ||
        !s_is(&f, "icsd-consistency") || !s_field(&line, &f) || !s_is(&f, "1") ||
        !s_field(&line, &f) || line.n != 0)
        return ics_err(err, ICS_EMALFORMED, "not a consistency answer");
    if (f.n != strlen(head->group) || memcmp(f.p, head->group, f.n) != 0)
        return ics_err(err, ICS_EMALFORMED, "the answer is for another group than %s", head->group);
    if (!s_next_line(text, len, &at, &line) || !s_field(&line, &f) || !s_is(&f, "head") ||
        !s_field(&line, &size) || !s_field(&line, &root) || line.n != 0 ||
        !s_u64(&size, &rep->size) || root.n != 64 || !s_hex32(root.p, rep->root) ||
        !s_next_line(text, len, &at, &line) || !s_field(&line, &f) || !s_is(&f, "proof") ||
        !s_field(&line, &old) || !s_field(&line, &pr) || line.n != 0 ||
        !s_proof(&pr, proof, &proof_len) || !s_next_line(text, len, &at, &line) ||
        !s_is(&line, "end") || at != len || !s_u64(&old, &from))
        return ics_err(err, ICS_EMALFORMED, "the consistency answer does not parse");
    if (from != head->size)
        return ics_err(err, ICS_EMALFORMED,
                       "the answer proves from size %" PRIu64 ", not the"
                       " checkpoint's %" PRIu64,
                       from, head->size);
    if (rep->size < head->size)
        return ics_err(err, ICS_EINVAL,
                       "TRUNCATED: the log has %" PRIu64 " entries, fewer than"
                       " the %" PRIu64 " of the checkpoint",
                       rep->size, head->size);
    if (head->size == 0)
        return ICS_OK;
    if (!ics_merkle_verify_consistency(head->size, rep->size, head->root, rep->root, proof,
                                       proof_len)) {
        ics_hex(rep->root, sizeof rep->root, hex);
        return ics_err(err, ICS_EINVAL,
                       "FORKED: the log of %" PRIu64 " entries (root %s) does"
                       " not extend the checkpoint of size %" PRIu64 ": it differs at or before"
                       " position %" PRIu64,
                       rep->size, hex, head->size, head->size);
    }
    return ICS_OK;
}
