/*
 * Audit chain, log export format and offline verification.
 *
 * An export is the state machine's audit log written out line by line: every
 * entry raft ordered, accepted or rejected, with the chain head after it.
 * The verifier trusts nothing in the file. It recomputes each entry id from
 * the envelope bytes, the chain from its start value, and the log clock, and
 * replays what a third party can replay from the file alone, exactly as the
 * state machine does: the admission ladder (decode, group, genesis validity,
 * membership, key in force, signature), the (org, seq) replay windows, the
 * people registry and person signatures, and the rules of Raw, ClockTick,
 * Checkpoint, the membership commands and who may register whom. So it
 * knows the verdict the state machine must have reached on every entry whose
 * verdict does not hang on state it does not rebuild (plans, roles, policy,
 * votes, aid), and it checks the recorded one against it. Every accepted
 * checkpoint must match the chain at the position it names; the highest
 * position a majority of the voting members checkpointed is reported. What
 * anchors the file is that certified position (a resealed log cannot keep
 * the other members' signed checkpoints matching) or its final chain
 * compared with a partner's node. Invariant of this file: it links no state
 * machine and no database (the stand-alone rules it shares with the state
 * machine are in membership.c and personsig.c), so its rules are exactly the
 * ones docs/log-format.md states.
 */
#include "logverify.h"

#include "envelope.h"
#include "membership.h"
#include "note.h"
#include "personsig.h"

#include <assert.h>
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

void ics_log_leaf_hash(uint64_t position, const uint8_t entry_id[32], bool accepted,
                       const char *reason, uint8_t out[ICS_MERKLE_HASH_BYTES])
{
    uint8_t leaf[8 + 32 + 1 + 4 + ICS_REASON_MAX];
    size_t n = strnlen(reason, ICS_REASON_MAX - 1);

    s_be64(leaf, position);
    memcpy(leaf + 8, entry_id, 32);
    leaf[40] = accepted ? 1 : 0;
    s_be32(leaf + 41, (uint32_t)n);
    memcpy(leaf + 45, reason, n);
    ics_merkle_leaf_hash(leaf, 45 + n, out);
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

/* Who may sign: the replayed membership, with each member's key in force
 * and the flags the membership rules read (fsm_members.c). */
typedef struct {
    char org[ICS_ORG_MAX];
    uint8_t pk[ICS_PK_BYTES];
    bool voter;
    bool admin;
} s_member_t;

/* An organisation's replay window (fsm_audit.c): the highest verified seq
 * and which of the ICS_LOG_REPLAY_WINDOW numbers up to it are taken. */
#define S_WINDOW_BYTES (ICS_LOG_REPLAY_WINDOW / 8)
typedef struct {
    char org[ICS_ORG_MAX];
    uint64_t highest;
    uint8_t window[S_WINDOW_BYTES]; /* bit i of byte i/8: seq highest - i taken */
} s_seqs_t;

/* An accepted checkpoint: org said the chain at position was what it is. */
typedef struct {
    uint64_t position;
    uint64_t at;                /* the checkpoint entry's own position */
    char org[ICS_ORG_MAX];
} s_checkpoint_t;

/* An accepted motion to admit (org, pk) or remove org: the only thing that
 * lets a member other than the administrator add or remove one. Whether it
 * carried depends on votes the verifier does not count, so it is a
 * necessary condition only; each is used up by one such change. */
typedef struct {
    char org[ICS_ORG_MAX];
    bool admit;
    uint8_t pk[ICS_PK_BYTES];
    bool used;
} s_motion_t;

/* A person of the people registry, as accepted PersonRegister entries
 * leave it (docs/log-format.md, section 2c). */
typedef struct {
    char org[ICS_ORG_MAX];
    char person[ICS_ACTOR_MAX];
    uint8_t pk[ICS_PK_BYTES];
    bool active;
    bool admin;                    /* registers, re-keys and revokes org's people */
    uint64_t seq;                  /* highest person seq taken */
    uint64_t revoked_at;
} s_person_t;

typedef struct {
    const char *group;
    bool genesis;
    uint64_t clock;
    s_member_t *members;
    size_t n_members, cap_members;
    s_seqs_t *seqs;
    size_t n_seqs, cap_seqs;
    uint8_t (*marks)[ICS_CHAIN_BYTES]; /* chain at position 16 (k + 1) */
    size_t n_marks, cap_marks;
    uint8_t (*roots)[ICS_MERKLE_HASH_BYTES]; /* tree root at position 16 (k + 1) */
    size_t cap_roots;
    s_checkpoint_t *cps;
    size_t n_cps, cap_cps;
    s_motion_t *motions;
    size_t n_motions, cap_motions;
    s_person_t *people;
    size_t n_people, cap_people;
    ics_merkle_frontier_t tree;        /* the Merkle tree of the entries so far */
} s_replay_t;

/* What the state machine must have decided, as far as the file tells. */
typedef enum { S_REJECT, S_ACCEPT, S_UNKNOWN } s_expect_t;

static bool s_grow(void **p, size_t *cap, size_t n, size_t size)
{
    size_t c;
    void *q;

    if (n < *cap)
        return true;
    c = *cap ? 2 * *cap : 16;
    if (c > SIZE_MAX / size)
        return false;
    q = realloc(*p, c * size);
    if (q == NULL)
        return false;
    *p = q;
    *cap = c;
    return true;
}

static void s_replay_free(s_replay_t *r)
{
    free(r->members);
    free(r->seqs);
    free(r->marks);
    free(r->roots);
    free(r->cps);
    free(r->motions);
    free(r->people);
}

static s_member_t *s_member(s_replay_t *r, const char *org)
{
    for (size_t i = 0; i < r->n_members; i++)
        if (strcmp(r->members[i].org, org) == 0)
            return &r->members[i];
    return NULL;
}

/* The current member other than org holding pk, if any. */
static const s_member_t *s_key_holder(const s_replay_t *r, const uint8_t *pk, const char *org)
{
    for (size_t i = 0; i < r->n_members; i++)
        if (strcmp(r->members[i].org, org) != 0 &&
            memcmp(r->members[i].pk, pk, ICS_PK_BYTES) == 0)
            return &r->members[i];
    return NULL;
}

static unsigned s_count(const s_replay_t *r, bool admins)
{
    unsigned n = 0;
    for (size_t i = 0; i < r->n_members; i++)
        if (admins ? r->members[i].admin : r->members[i].voter)
            n++;
    return n;
}

static int s_member_put(s_replay_t *r, const char *org, const uint8_t pk[ICS_PK_BYTES],
                        bool voter, bool admin, ics_err_t *err)
{
    s_member_t *m;

    if (!s_grow((void **)&r->members, &r->cap_members, r->n_members, sizeof *m))
        return ics_err(err, ICS_ENOMEM, "out of memory");
    m = &r->members[r->n_members++];
    ics_strcpy(m->org, sizeof m->org, org);
    memcpy(m->pk, pk, ICS_PK_BYTES);
    m->voter = voter;
    m->admin = admin;
    return ICS_OK;
}

/* ---- replay windows (docs/log-format.md section 3, fsm_audit.c) */

typedef enum { S_SEQ_NEW, S_SEQ_SEEN, S_SEQ_STALE } s_seq_t;

static s_seqs_t *s_seqs(s_replay_t *r, const char *org)
{
    for (size_t i = 0; i < r->n_seqs; i++)
        if (strcmp(r->seqs[i].org, org) == 0)
            return &r->seqs[i];
    return NULL;
}

static bool s_bit(const uint8_t *w, uint64_t i)
{
    return (w[i / 8] >> (i % 8)) & 1u;
}

static void s_set(uint8_t *w, uint64_t i)
{
    w[i / 8] = (uint8_t)(w[i / 8] | (1u << (i % 8)));
}

static s_seq_t s_seq_state(s_replay_t *r, const char *org, uint64_t seq, uint64_t *highest)
{
    const s_seqs_t *w = s_seqs(r, org);

    *highest = w != NULL ? w->highest : 0;
    if (w == NULL || seq > w->highest)
        return S_SEQ_NEW;
    if (w->highest - seq >= ICS_LOG_REPLAY_WINDOW)
        return S_SEQ_STALE;
    return s_bit(w->window, w->highest - seq) ? S_SEQ_SEEN : S_SEQ_NEW;
}

static int s_seq_take(s_replay_t *r, const char *org, uint64_t seq, ics_err_t *err)
{
    s_seqs_t *w = s_seqs(r, org);

    if (w == NULL) {
        if (!s_grow((void **)&r->seqs, &r->cap_seqs, r->n_seqs, sizeof *w))
            return ics_err(err, ICS_ENOMEM, "out of memory");
        w = &r->seqs[r->n_seqs++];
        memset(w, 0, sizeof *w);
        ics_strcpy(w->org, sizeof w->org, org);
        w->highest = seq;
    } else if (seq > w->highest) {
        uint8_t shifted[S_WINDOW_BYTES] = {0};
        uint64_t by = seq - w->highest;
        for (uint64_t i = 0; by < ICS_LOG_REPLAY_WINDOW && i + by < ICS_LOG_REPLAY_WINDOW; i++)
            if (s_bit(w->window, i))
                s_set(shifted, i + by);
        memcpy(w->window, shifted, sizeof shifted);
        w->highest = seq;
    }
    s_set(w->window, w->highest - seq);
    return ICS_OK;
}

/* ---- checkpoints (section 6a, fsm_audit.c) */

/* Records the chain and the tree root after position pos (the tree holds
 * pos leaves) if a checkpoint may name it. */
static int s_mark(s_replay_t *r, uint64_t pos, const uint8_t chain[ICS_CHAIN_BYTES],
                  ics_err_t *err)
{
    if (pos % ICS_LOG_MARK_STRIDE != 0)
        return ICS_OK;
    if (!s_grow((void **)&r->marks, &r->cap_marks, r->n_marks, sizeof *r->marks) ||
        !s_grow((void **)&r->roots, &r->cap_roots, r->n_marks, sizeof *r->roots))
        return ics_err(err, ICS_ENOMEM, "out of memory");
    assert(r->tree.size == pos);
    ics_merkle_frontier_root(&r->tree, r->roots[r->n_marks]);
    memcpy(r->marks[r->n_marks++], chain, ICS_CHAIN_BYTES);
    return ICS_OK;
}

/* The state machine's verdict on Checkpoint cp signed by org at position
 * pos; why says what a rejection is for. */
static s_expect_t s_checkpoint_rule(const s_replay_t *r, const s_member_t *signer,
                                    const Ics__V1__Checkpoint *cp, uint64_t pos, char *why,
                                    size_t size)
{
    const char *org = signer->org;
    uint64_t newest = (pos - 1) / ICS_LOG_MARK_STRIDE * ICS_LOG_MARK_STRIDE;
    uint64_t span = (uint64_t)ICS_LOG_MARK_STRIDE * ICS_LOG_MARKS_KEPT;

    if (cp->position == 0 || cp->position >= pos)
        snprintf(why, size, "it names position %" PRIu64 ", not one before its own",
                 cp->position);
    else if (cp->position % ICS_LOG_MARK_STRIDE != 0)
        snprintf(why, size, "it names position %" PRIu64 ", not a multiple of %d",
                 cp->position, ICS_LOG_MARK_STRIDE);
    else if (cp->chain.len != ICS_CHAIN_BYTES)
        snprintf(why, size, "its chain is %zu bytes", cp->chain.len);
    else if (cp->root.len != ICS_MERKLE_HASH_BYTES)
        snprintf(why, size, "its root is %zu bytes", cp->root.len);
    else if (cp->cosignature.len != ICS_SIG_BYTES)
        snprintf(why, size, "its cosignature is %zu bytes", cp->cosignature.len);
    else if (!ics_note_cosignature_ok(r->group, cp->position, cp->root.data, signer->pk,
                                      cp->cosignature.data))
        snprintf(why, size, "its cosignature does not verify under %s's key for the tree head"
                 " of size %" PRIu64, org, cp->position);
    else if (newest > span && cp->position <= newest - span)
        snprintf(why, size, "position %" PRIu64 " is older than the last %d checkpointable"
                 " positions", cp->position, ICS_LOG_MARKS_KEPT);
    else {
        /* An earlier one by org for the same position: its entry came
         * after that position, so look back only that far. */
        for (size_t i = r->n_cps; i-- > 0 && r->cps[i].at > cp->position;)
            if (r->cps[i].position == cp->position && strcmp(r->cps[i].org, org) == 0) {
                snprintf(why, size, "%s already sent a checkpoint for position %" PRIu64, org,
                         cp->position);
                return S_REJECT;
            }
        return S_ACCEPT;
    }
    return S_REJECT;
}

/* ---- membership (section 5, fsm_members.c) */

/* An unused accepted motion to admit (org, pk), or (pk NULL) to remove org. */
static s_motion_t *s_motion(s_replay_t *r, const char *org, const uint8_t *pk)
{
    for (size_t i = 0; i < r->n_motions; i++) {
        s_motion_t *m = &r->motions[i];
        if (!m->used && m->admit == (pk != NULL) && strcmp(m->org, org) == 0 &&
            (pk == NULL || memcmp(m->pk, pk, ICS_PK_BYTES) == 0))
            return m;
    }
    return NULL;
}

static s_expect_t s_member_add_rule(s_replay_t *r, const s_member_t *signer,
                                    const Ics__V1__MemberAdd *m, char *why, size_t size)
{
    bool motion = !signer->admin && m->public_key.len == ICS_PK_BYTES &&
                  s_motion(r, m->org, m->public_key.data) != NULL;
    const s_member_t *holder;

    if (!signer->admin && !motion)
        snprintf(why, size, "%s is not the membership administrator, and no motion to admit"
                 " %.40s with that key was accepted", signer->org, m->org);
    else if (!ics_member_check(m, why, size))
        ;
    else if (s_member(r, m->org) != NULL)
        snprintf(why, size, "%s is already a member", m->org);
    else if (r->n_members >= ICS_MAX_ORGS)
        snprintf(why, size, "the group already has %d members", ICS_MAX_ORGS);
    else if ((holder = s_key_holder(r, m->public_key.data, m->org)) != NULL)
        snprintf(why, size, "that public key already belongs to %s", holder->org);
    else
        return motion ? S_UNKNOWN : S_ACCEPT;
    return S_REJECT;
}

static s_expect_t s_member_remove_rule(s_replay_t *r, const s_member_t *signer,
                                       const Ics__V1__MemberRemove *rm, char *why, size_t size)
{
    bool motion = !signer->admin && s_motion(r, rm->org, NULL) != NULL;
    const s_member_t *target = s_member(r, rm->org);

    if (!signer->admin && !motion)
        snprintf(why, size, "%s is not the membership administrator, and no motion to remove"
                 " %.40s was accepted", signer->org, rm->org);
    else if (target == NULL)
        snprintf(why, size, "%.40s is not a member", rm->org);
    else if (target == signer)
        snprintf(why, size, "%s cannot remove itself", signer->org);
    else if (target->admin && s_count(r, true) <= 1)
        snprintf(why, size, "%s is the last administrator", target->org);
    else
        return motion ? S_UNKNOWN : S_ACCEPT;
    return S_REJECT;
}

static s_expect_t s_key_rotate_rule(s_replay_t *r, const s_member_t *signer,
                                    const Ics__V1__KeyRotate *k, char *why, size_t size)
{
    const s_member_t *target = s_member(r, k->org), *holder;

    if (target == NULL)
        snprintf(why, size, "%.40s is not a member", k->org);
    else if (target != signer && !signer->admin)
        snprintf(why, size, "only %s itself or the membership administrator may rotate its"
                 " key; %s is neither", target->org, signer->org);
    else if (!ics_member_key_valid(&k->public_key))
        snprintf(why, size, "the new key for %s is not a valid Ed25519 key", target->org);
    else if (memcmp(k->public_key.data, target->pk, ICS_PK_BYTES) == 0)
        snprintf(why, size, "that key is already the key in force for %s", target->org);
    else if ((holder = s_key_holder(r, k->public_key.data, target->org)) != NULL)
        snprintf(why, size, "that public key already belongs to %s", holder->org);
    else
        return S_ACCEPT;
    return S_REJECT;
}

/* ---- people (section 2c) ---- */

static s_person_t *s_person(s_replay_t *r, const char *org, const char *person)
{
    for (size_t i = 0; i < r->n_people; i++)
        if (strcmp(r->people[i].org, org) == 0 && strcmp(r->people[i].person, person) == 0)
            return &r->people[i];
    return NULL;
}

static bool s_person_active(s_replay_t *r, const char *org, const char *person)
{
    const s_person_t *p = s_person(r, org, person);
    return p != NULL && p->active;
}

/* Check 8 of section 3, which the file decides in full: the registry is
 * what accepted PersonRegister entries made it. true when the person's
 * signature holds (it then takes its seq) and, for an entry made on behalf
 * of someone, when that may be done; *acting is then the person the
 * command acts as. false with why otherwise. */
static bool s_person_admit(s_replay_t *r, const Ics__V1__Envelope *env, const Ics__V1__Command *cmd,
                           const char **acting, char *why, size_t size)
{
    const char *actor = cmd->actor != NULL ? cmd->actor : "";
    const char *behalf = cmd->on_behalf_of != NULL ? cmd->on_behalf_of : "";
    const Ics__V1__PersonSig *ps = cmd->person_sig;
    s_person_t *p;

    *acting = actor;
    if (actor[0] == '\0') {
        if (ps != NULL || behalf[0] != '\0')
            snprintf(why, size, "a person signature or an on-behalf name but no person named");
        return ps == NULL && behalf[0] == '\0';
    }
    if (strlen(behalf) >= ICS_ACTOR_MAX) {
        snprintf(why, size, "on-behalf name longer than %d bytes", ICS_ACTOR_MAX - 1);
        return false;
    }
    if (ps == NULL) {
        snprintf(why, size, "%s of %s did not sign it", actor, env->org);
        return false;
    }
    p = s_person(r, env->org, actor);
    if (p == NULL || !p->active) {
        snprintf(why, size, "%s of %s is %s", actor, env->org,
                 p == NULL ? "not registered" : "revoked");
        return false;
    }
    if (ps->seq == 0 || ps->seq > INT64_MAX) {
        snprintf(why, size, "person sequence number out of range");
        return false;
    }
    if (ics_person_verify(env->group, env->org, cmd, env->payload.data, env->payload.len,
                          p->pk) != ICS_OK) {
        snprintf(why, size, "the signature of %s of %s does not verify under their key in force",
                 actor, env->org);
        return false;
    }
    if (ps->seq <= p->seq) {
        snprintf(why, size, "person sequence number %" PRIu64 " of %s of %s is not above %" PRIu64,
                 ps->seq, actor, env->org, p->seq);
        return false;
    }
    p->seq = ps->seq; /* spent, whatever follows */
    if (behalf[0] == '\0')
        return true;
    if (cmd->body_case == ICS__V1__COMMAND__BODY_VOTE)
        snprintf(why, size, "%s voted on behalf of %s", actor, behalf);
    else if (!p->admin)
        snprintf(why, size, "%s of %s, not an administrator, acted on behalf of %s", actor,
                 env->org, behalf);
    else if (!s_person_active(r, env->org, behalf))
        snprintf(why, size, "%s acted on behalf of %s, who is not an active person of %s", actor,
                 behalf, env->org);
    else {
        *acting = behalf;
        return true;
    }
    return false;
}

/* Who may register, re-key or revoke whom: the state machine's own rule
 * (ics_person_may_register), with the facts replayed from the file. The
 * rest of a registration's checks (names, titles, the key's form) are the
 * state machine's word. */
static s_expect_t s_person_register_rule(s_replay_t *r, const char *org, const char *actor,
                                         const Ics__V1__PersonRegister *reg, char *why, size_t size)
{
    const s_person_t *signer = s_person(r, org, actor);
    uint64_t admins = 0;

    for (size_t i = 0; i < r->n_people; i++)
        if (strcmp(r->people[i].org, org) == 0 && r->people[i].active && r->people[i].admin)
            admins++;
    switch (ics_person_may_register(actor, signer != NULL && signer->active && signer->admin,
                                    admins, reg, s_person_active(r, org, reg->person))) {
    case ICS_PERSON_MAY:
        return S_UNKNOWN;
    case ICS_PERSON_NOT_ADMIN:
        snprintf(why, size,
                 "%s is not an administrator of %s, and registers, re-keys or revokes"
                 " only their own key",
                 actor, org);
        break;
    case ICS_PERSON_HAS_ADMIN:
        snprintf(why, size,
                 "%s has an administrator person, so the organisation alone registers"
                 " nobody",
                 org);
        break;
    case ICS_PERSON_FIRST_ADMIN:
        snprintf(why, size, "%s alone may only register its first administrator", org);
        break;
    }
    return S_REJECT;
}

/* An accepted PersonRegister by actor of org: the person's key, whether
 * they are active, and their rights. */
static int s_person_replay(s_replay_t *r, const char *org, const char *actor,
                           const Ics__V1__Command *cmd, uint64_t pos, ics_err_t *err)
{
    const Ics__V1__PersonRegister *reg = cmd->person_register;
    s_person_t *p;
    bool was_admin;

    if (cmd->body_case != ICS__V1__COMMAND__BODY_PERSON_REGISTER || reg == NULL ||
        reg->person == NULL || strlen(reg->person) >= ICS_ACTOR_MAX)
        return ICS_OK;
    p = s_person(r, org, reg->person);
    if (reg->remove) {
        if (p == NULL || !p->active)
            return ics_err(err, ICS_EINVAL, "accepted revocation of %s of %s, who is not an "
                           "active person", reg->person, org);
        p->active = false;
        p->revoked_at = pos;
        return ICS_OK;
    }
    if (reg->public_key.len != ICS_PK_BYTES)
        return ics_err(err, ICS_EINVAL, "accepted registration of %s of %s without a key",
                       reg->person, org);
    if (p == NULL) {
        if (!s_grow((void **)&r->people, &r->cap_people, r->n_people, sizeof *r->people))
            return ics_err(err, ICS_ENOMEM, "out of memory");
        p = &r->people[r->n_people++];
        memset(p, 0, sizeof *p);
        ics_strcpy(p->org, sizeof p->org, org);
        ics_strcpy(p->person, sizeof p->person, reg->person);
    }
    was_admin = p->active && p->admin;
    memcpy(p->pk, reg->public_key.data, ICS_PK_BYTES);
    p->admin = ics_person_admin_after(actor, reg, was_admin);
    p->active = true;
    return ICS_OK;
}

/* The verdict the state machine's domains reach on a command that passed
 * the core's checks, where the file decides it: membership, checkpoints,
 * Raw, ClockTick, and who may register whom. Everything else depends on
 * state the verifier does not rebuild (plans, roles, policy, motions, aid). */
static s_expect_t s_command_rule(s_replay_t *r, const s_member_t *signer, const char *actor,
                                 const Ics__V1__Command *cmd, uint64_t pos, char *why, size_t size)
{
    switch (cmd->body_case) {
    case ICS__V1__COMMAND__BODY_RAW:
        return S_ACCEPT;
    case ICS__V1__COMMAND__BODY_TICK:
        if (cmd->tick->now_ms > INT64_MAX) {
            snprintf(why, size, "clock tick %" PRIu64 " is out of range", cmd->tick->now_ms);
            return S_REJECT;
        }
        return S_ACCEPT;
    case ICS__V1__COMMAND__BODY_CHECKPOINT:
        return s_checkpoint_rule(r, signer, cmd->checkpoint, pos, why, size);
    case ICS__V1__COMMAND__BODY_MEMBER_ADD:
        return s_member_add_rule(r, signer, cmd->member_add, why, size);
    case ICS__V1__COMMAND__BODY_MEMBER_REMOVE:
        return s_member_remove_rule(r, signer, cmd->member_remove, why, size);
    case ICS__V1__COMMAND__BODY_KEY_ROTATE:
        return s_key_rotate_rule(r, signer, cmd->key_rotate, why, size);
    case ICS__V1__COMMAND__BODY_PERSON_REGISTER:
        return s_person_register_rule(r, signer->org, actor, cmd->person_register, why, size);
    default:
        return S_UNKNOWN;
    }
}

/* Carries out an accepted command's effect on what the verifier keeps:
 * members and keys, the clock, checkpoints, membership motions. */
static int s_replay_command(s_replay_t *r, const char *signer_org, const Ics__V1__Command *cmd,
                            uint64_t pos, ics_err_t *err)
{
    const s_member_t *signer = s_member(r, signer_org);
    s_member_t *m;
    s_motion_t *mo;
    int rc = ICS_OK;

    switch (cmd->body_case) {
    case ICS__V1__COMMAND__BODY_GENESIS:
        r->n_members = 0;
        for (size_t i = 0; i < cmd->genesis->n_members && rc == ICS_OK; i++) {
            const Ics__V1__MemberAdd *g = cmd->genesis->members[i];
            rc = s_member_put(r, g->org, g->public_key.data, true,
                              strcmp(g->org, cmd->genesis->admin) == 0, err);
        }
        r->genesis = true;
        break;
    case ICS__V1__COMMAND__BODY_TICK:
        if (cmd->tick->now_ms > r->clock)
            r->clock = cmd->tick->now_ms;
        break;
    case ICS__V1__COMMAND__BODY_CHECKPOINT: {
        const Ics__V1__Checkpoint *cp = cmd->checkpoint;
        s_checkpoint_t *c;
        char theirs[S_HEX_CHAIN + 1], ours[S_HEX_CHAIN + 1];
        const uint8_t *mark = r->marks[cp->position / ICS_LOG_MARK_STRIDE - 1];

        if (sodium_memcmp(mark, cp->chain.data, ICS_CHAIN_BYTES) != 0) {
            ics_hex(cp->chain.data, ICS_CHAIN_BYTES, theirs);
            ics_hex(mark, ICS_CHAIN_BYTES, ours);
            return ics_err(err, ICS_EINVAL, "%s's checkpoint for position %" PRIu64 " says %s,"
                           " this log has %s there (entries before it were changed, added"
                           " or removed, or the checkpoint was altered)",
                           signer_org, cp->position, theirs, ours);
        }
        mark = r->roots[cp->position / ICS_LOG_MARK_STRIDE - 1];
        if (sodium_memcmp(mark, cp->root.data, ICS_MERKLE_HASH_BYTES) != 0) {
            ics_hex(cp->root.data, ICS_MERKLE_HASH_BYTES, theirs);
            ics_hex(mark, ICS_MERKLE_HASH_BYTES, ours);
            return ics_err(err, ICS_EINVAL, "%s's checkpoint for position %" PRIu64 " cosigns"
                           " the tree root %s, this log's is %s there (a false tree head)",
                           signer_org, cp->position, theirs, ours);
        }
        if (!s_grow((void **)&r->cps, &r->cap_cps, r->n_cps, sizeof *c))
            return ics_err(err, ICS_ENOMEM, "out of memory");
        c = &r->cps[r->n_cps++];
        c->position = cp->position;
        c->at = pos;
        ics_strcpy(c->org, sizeof c->org, signer_org);
        break;
    }
    case ICS__V1__COMMAND__BODY_MEMBER_ADD:
        if (!signer->admin && (mo = s_motion(r, cmd->member_add->org,
                                             cmd->member_add->public_key.data)) != NULL)
            mo->used = true;
        rc = s_member_put(r, cmd->member_add->org, cmd->member_add->public_key.data,
                          cmd->member_add->role == ICS__V1__MEMBER_ROLE__MEMBER_ROLE_VOTER,
                          false, err);
        break;
    case ICS__V1__COMMAND__BODY_MEMBER_REMOVE:
        if (!signer->admin && (mo = s_motion(r, cmd->member_remove->org, NULL)) != NULL)
            mo->used = true;
        m = s_member(r, cmd->member_remove->org);
        *m = r->members[--r->n_members];
        break;
    case ICS__V1__COMMAND__BODY_KEY_ROTATE:
        m = s_member(r, cmd->key_rotate->org);
        memcpy(m->pk, cmd->key_rotate->public_key.data, ICS_PK_BYTES);
        break;
    case ICS__V1__COMMAND__BODY_MOTION_PROPOSE: {
        const Ics__V1__MotionPropose *p = cmd->motion_propose;
        bool admit = p->effect_case == ICS__V1__MOTION_PROPOSE__EFFECT_ADMIT_MEMBER;
        if (!admit && p->effect_case != ICS__V1__MOTION_PROPOSE__EFFECT_REMOVE_MEMBER)
            break;
        if (admit && p->admit_member->public_key.len != ICS_PK_BYTES)
            break;
        if (!s_grow((void **)&r->motions, &r->cap_motions, r->n_motions, sizeof *mo))
            return ics_err(err, ICS_ENOMEM, "out of memory");
        mo = &r->motions[r->n_motions++];
        memset(mo, 0, sizeof *mo);
        mo->admit = admit;
        ics_strcpy(mo->org, sizeof mo->org, admit ? p->admit_member->org
                                                  : p->remove_member->org);
        if (admit)
            memcpy(mo->pk, p->admit_member->public_key.data, ICS_PK_BYTES);
        break;
    }
    default:
        break;
    }
    return rc;
}

/* The command's name as in command.proto, for messages. */
static const char *s_kind_name(Ics__V1__Command__BodyCase kind)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&ics__v1__command__descriptor, (unsigned)kind);
    return f != NULL ? f->name : "command";
}

/* Replays one entry as the state machine applies it (docs/log-format.md
 * section 3): checks 1 to 5 decide whether it is verified (and so moves
 * the clock), check 6 its (org, seq), and, where the file decides it, the
 * command's own rules. The recorded verdict must be the one these give;
 * a verified entry whose (org, seq) is taken must not be there at all. */
static int s_replay_entry(s_replay_t *r, const uint8_t *buf, size_t len, bool accepted,
                          uint64_t pos, ics_err_t *err)
{
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command *cmd = NULL;
    const s_member_t *signer = NULL;
    const char *acting = "";
    uint8_t genesis_pk[ICS_PK_BYTES];
    char why[ICS_REASON_MAX] = "";
    s_expect_t expect = S_REJECT;
    uint64_t highest = 0;
    ics_err_t e;
    int rc = ICS_OK;

    /* 1-2: the envelope. */
    if (ics_envelope_decode(buf, len, &env, &e) != ICS_OK) {
        if (accepted)
            rc = ics_err(err, ICS_EMALFORMED, "accepted entry does not decode: %s", e.msg);
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
    /* 3-5: who may sign, and did they. */
    if (!r->genesis) {
        if (env->kind != ICS__V1__COMMAND__BODY_GENESIS ||
            ics_command_decode(env, &cmd, &e) != ICS_OK) {
            if (accepted)
                rc = ics_err(err, ICS_EINVAL, "accepted entry before any genesis");
            goto out;
        }
        if (ics_genesis_check(r->group, env->org, cmd->genesis, genesis_pk, why, sizeof why) !=
            ICS_OK) {
            if (accepted)
                rc = ics_err(err, ICS_EINVAL, "accepted genesis is not valid: %s", why);
            goto out;
        }
        if (ics_envelope_verify(env, r->group, genesis_pk, &e) != ICS_OK) {
            if (accepted)
                rc = ics_err(err, ICS_ESIG, "genesis: %s", e.msg);
            goto out;
        }
    } else if (env->kind == ICS__V1__COMMAND__BODY_GENESIS) {
        if (accepted)
            rc = ics_err(err, ICS_EINVAL, "a second genesis is marked accepted");
        goto out;
    } else {
        signer = s_member(r, env->org);
        if (signer == NULL || ics_envelope_verify(env, r->group, signer->pk, &e) != ICS_OK) {
            if (accepted)
                rc = signer == NULL
                         ? ics_err(err, ICS_ESIG, "accepted entry signed by %s, not a member"
                                   " there", env->org)
                         : ics_err(err, ICS_ESIG, "accepted entry: %s (key in force for %s)",
                                   e.msg, env->org);
            goto out;
        }
    }
    /* 6: (org, seq). A verified entry moves the clock, even when refused. */
    switch (s_seq_state(r, env->org, env->seq, &highest)) {
    case S_SEQ_SEEN:
        rc = ics_err(err, ICS_EINVAL, "(%s, %" PRIu64 ") was already taken by an earlier"
                     " entry: the state machine gives a duplicate no position", env->org,
                     env->seq);
        goto out;
    case S_SEQ_STALE:
        if (env->timestamp_ms > r->clock)
            r->clock = env->timestamp_ms;
        if (accepted)
            rc = ics_err(err, ICS_EINVAL, "accepted entry's sequence number %" PRIu64 " of %s"
                         " is below its replay window (highest %" PRIu64 ")", env->seq,
                         env->org, highest);
        goto out;
    case S_SEQ_NEW:
        break;
    }
    rc = s_seq_take(r, env->org, env->seq, err);
    if (rc != ICS_OK)
        goto out;
    if (env->timestamp_ms > r->clock)
        r->clock = env->timestamp_ms;
    /* 7: the command; 8: its rules, where the file decides them. */
    if (cmd == NULL && ics_command_decode(env, &cmd, &e) != ICS_OK) {
        if (accepted)
            rc = ics_err(err, ICS_EMALFORMED, "accepted entry's command does not decode: %s",
                         e.msg);
        goto out;
    }
    if (cmd->actor != NULL && strlen(cmd->actor) >= ICS_ACTOR_MAX) {
        if (accepted)
            rc = ics_err(err, ICS_EINVAL, "accepted entry's actor name is longer than %d bytes",
                         ICS_ACTOR_MAX - 1);
        goto out;
    }
    /* 8: the acting person's signature (section 2c). */
    if (!s_person_admit(r, env, cmd, &acting, why, sizeof why)) {
        if (accepted)
            rc = ics_err(err, ICS_ESIG, "accepted %s by %s, which the state machine must reject:"
                         " %s", s_kind_name(cmd->body_case), env->org, why);
        goto out;
    }
    expect = signer == NULL ? S_ACCEPT /* a valid genesis */
                            : s_command_rule(r, signer, acting, cmd, pos, why, sizeof why);
    if (expect == S_REJECT && accepted) {
        rc = ics_err(err, cmd->body_case == ICS__V1__COMMAND__BODY_CHECKPOINT ? ICS_EINVAL
                                                                              : ICS_EPERM,
                     "accepted %s by %s, which the state machine must reject: %s",
                     s_kind_name(cmd->body_case), env->org, why);
        goto out;
    }
    if (expect == S_ACCEPT && !accepted) {
        rc = ics_err(err, ICS_EINVAL, "rejected %s by %s passes every rule the state machine"
                     " applies to it, so it must have been accepted",
                     s_kind_name(cmd->body_case), env->org);
        goto out;
    }
    if (accepted)
        rc = s_replay_command(r, env->org, cmd, pos, err);
    if (accepted && rc == ICS_OK)
        rc = s_person_replay(r, env->org, acting, cmd, pos, err);
out:
    if (cmd != NULL)
        ics__v1__command__free_unpacked(cmd, NULL);
    if (env != NULL)
        ics__v1__envelope__free_unpacked(env, NULL);
    return rc;
}

/* After the last entry: the highest position for which a majority of the
 * current voting members sent (matching) checkpoints, as the state
 * machine's ics_audit_certified_position counts, over the whole log. */
static int s_cp_order(const void *a, const void *b)
{
    const s_checkpoint_t *x = a, *y = b;
    if (x->position != y->position)
        return x->position > y->position ? -1 : 1;
    return strcmp(x->org, y->org);
}

static void s_certify(s_replay_t *r, ics_log_verify_report_t *rep)
{
    unsigned needed = s_count(r, false) / 2 + 1;

    rep->checkpoints = r->n_cps;
    rep->certify_needed = needed;
    if (r->n_cps == 0)
        return;
    qsort(r->cps, r->n_cps, sizeof *r->cps, s_cp_order);
    for (size_t i = 0; i < r->n_cps;) {
        size_t j = i;
        unsigned n = 0;
        for (; j < r->n_cps && r->cps[j].position == r->cps[i].position; j++) {
            const s_member_t *m = s_member(r, r->cps[j].org);
            if (m != NULL && m->voter)
                n++;
        }
        if (n >= needed) {
            rep->certified_position = r->cps[i].position;
            memcpy(rep->certified_root, r->roots[r->cps[i].position / ICS_LOG_MARK_STRIDE - 1],
                   ICS_MERKLE_HASH_BYTES);
            rep->certified_by = n;
            return;
        }
        i = j;
    }
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
    {
        uint8_t leaf[ICS_MERKLE_HASH_BYTES];
        ics_log_leaf_hash(pos, id, accepted, reason, leaf);
        (void)ics_merkle_frontier_push(&r->tree, leaf); /* positions end below 2^63 */
    }
    if (!accepted && reason_len == 0) {
        rc = s_fail(err, ICS_EINVAL, pos, "a rejected entry without a reason (the state machine"
                    " always gives one)");
        goto out;
    }
    rc = s_replay_entry(r, envb != NULL ? envb : (const uint8_t *)"", env_len, accepted, pos,
                        &why);
    if (rc == ICS_OK)
        rc = s_mark(r, pos, rep->chain, &why);
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
    s_certify(&r, rep);
    ics_merkle_frontier_root(&r.tree, rep->root);
    rc = ICS_OK;
out:
    free(line);
    s_replay_free(&r);
    return rc;
}
