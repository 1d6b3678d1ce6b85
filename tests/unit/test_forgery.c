/*
 * Forgeries of an exported log that are resealed: the forger changes the
 * entries and then recomputes every entry id, every chain and the header,
 * and re-signs whatever their own keys can sign (their own entries and
 * checkpoints), so that only the checks of the log's rules catch them:
 * checkpoints against the chain, the replay rule, the membership rules, the
 * genesis rules and the verdicts the file decides (docs/log-format.md,
 * section 8).
 *
 * The log is real: the state machine applies every entry (tests/unit/
 * fixture_fsm.c) under the NENC scheme, with checkpoints from four of the
 * members, a member refused, one admitted by motion and added by a member
 * that is not the administrator, one added by the administrator, and a key
 * rotation. Its export comes from the node's history (ics_history_export).
 *
 * Where python3 with the 'cryptography' package is installed, every file is
 * also given to the independent verifier of docs/log-format.md Appendix B,
 * which must reach the same verdict at the same position.
 *
 * Layout: fixture (the real log), the forger's tools, assertions, scenarios.
 */
#include "fixture_fsm.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/envelope.h"
#include "common/logverify.h"
#include "common/note.h"
#include "common/policyfile.h"

#define GROUP "nenc"
#define PLAN "jfp-2026"
#define HWB "HWB-E06000057"
#define FOR ICS__V1__VOTE_CHOICE__VOTE_FOR

static const char *const s_orgs[] = {"QHM:icb", "RTD:foundation_trust", "RX4:mental_health",
                                     "E06000057:local_authority", "RX6:ambulance"};
/* Who publishes checkpoints, in this order at each checkpointed position:
 * 4 of the 7 voting members at the end, a majority. */
static const char *const s_checkpointers[] = {"QHM", "RTD", "RX4", "RX6"};

/* ---------------------------------------------------------------- fixture */

/* One line of an export, as the forger holds it. */
typedef struct {
    uint8_t *buf;
    size_t len;
    bool accepted;
    char reason[ICS_REASON_MAX];
    uint64_t clock;
} s_line_t;

typedef struct {
    s_line_t *line;
    size_t n;
} s_log_t;

/* Built once for all scenarios. */
static struct {
    s_log_t log;                /* the real log, as applied */
    char *export;               /* its export, from the history */
    size_t export_len;
    uint64_t certified;         /* the state machine's certified position */
    /* positions of interest in the real log */
    uint64_t refused_add;       /* RTD's MemberAdd of RTF, no motion yet: rejected */
    uint64_t bad_checkpoint;    /* QHM's checkpoint for position 17: rejected */
    uint64_t raw_rtd;           /* an accepted Raw by RTD, before position 16 */
    uint64_t admin_add;         /* QHM adds RX7 */
    uint64_t rotation;          /* RTD rotates its key to RTD's second identity */
    uint64_t rtd_checkpoint_32; /* RTD's checkpoint for 32 */
    uint64_t cp16, cp48;        /* QHM's checkpoints for 16 and 48 (the others follow) */
    uint64_t rx4_seq_used;      /* a seq RX4 has used before raw_rtd */
    ics_identity_t *key[5];     /* the organisations' keys, by s_orgs index */
    ics_identity_t *rtd2;       /* RTD's key after the rotation */
    char *tmpdir;               /* for the Python verifier, NULL if not run */
} S;

static void s_log_free(s_log_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->line[i].buf);
    free(l->line);
    l->line = NULL;
    l->n = 0;
}

static void s_log_copy(s_log_t *to, const s_log_t *from)
{
    to->n = from->n;
    to->line = calloc(from->n, sizeof *to->line);
    assert_non_null(to->line);
    for (size_t i = 0; i < from->n; i++) {
        to->line[i] = from->line[i];
        to->line[i].buf = malloc(from->line[i].len + 1);
        assert_non_null(to->line[i].buf);
        memcpy(to->line[i].buf, from->line[i].buf, from->line[i].len);
    }
}

static void s_appoint(fx_fsm_t *fx, const char *org, const char *person, const char *role,
                      const char *scope)
{
    fx_person(fx, org, person, person); /* refused if already registered: fine */
    FX_ACCEPTED(fx_role(fx, strcmp(fx_org(fx, org)->kind, "icb") == 0 ||
                                    strcmp(role, "partner_trust") == 0 ||
                                    strcmp(role, "partner_local_authority") == 0 ||
                                    strcmp(role, "mental_health_member") == 0
                                ? "QHM" : org,
                        org, person, role, scope));
}

/* Raw entries from the members in turn until the log holds `position`. */
static void s_fill_to(fx_fsm_t *fx, uint64_t position)
{
    static unsigned turn;
    while (ics_fsm_position(fx->fsm) < position) {
        const char *org = s_orgs[turn++ % 5];
        char id[16];
        snprintf(id, sizeof id, "%.*s", (int)(strchr(org, ':') - org), org);
        FX_ACCEPTED(fx_raw(fx, id, NULL, "minutes"));
    }
}

/* Every checkpointer's checkpoint for position p, two entries after it
 * (so that one entry fewer before does not make them name their own
 * position). Returns the position of the first. */
static uint64_t s_checkpoints(fx_fsm_t *fx, uint64_t p)
{
    uint8_t chain[32];
    uint64_t first = 0;

    s_fill_to(fx, p + 2);
    assert_int_equal(ics_fsm_chain_at(fx->fsm, p, chain), ICS_OK);
    for (size_t i = 0; i < 4; i++) {
        ics_apply_result_t r = fx_checkpoint(fx, s_checkpointers[i], p, chain, 32);
        FX_ACCEPTED(r);
        if (i == 0)
            first = r.position;
    }
    return first;
}

static int s_build(void **state)
{
    fx_fsm_t *fx = fx_fsm_new(GROUP, s_orgs, 5);
    Ics__V1__Policy *p = NULL;
    ics_identity_t *rtf = fx_identity("RTF"), *rx7 = fx_identity("RX7"), *rtd1;
    const char *voters[][2] = {{"QHM", "sir.liam"}, {"QHM", "sam.allen"}, {"QHM", "fiona.d"},
                               {"QHM", "ned.one"}, {"RTD", "dr.amina.khan"},
                               {"E06000057", "cllr.peter.hall"}};
    ics_apply_result_t r;
    uint8_t seed[32];
    FILE *f;
    ics_err_t err;

    (void)state;
    fx_tape(fx);
    if (ics_policy_load(ICS_SOURCE_DIR "/deploy/examples/nenc-policy.ini", &p, &err) != ICS_OK)
        fail_msg("%s", err.msg);
    FX_ACCEPTED(fx_genesis(fx, p));
    ics__v1__policy__free_unpacked(p, NULL);
    FX_ACCEPTED(fx_raw(fx, "RX4", NULL, "first"));
    S.rx4_seq_used = fx_org(fx, "RX4")->seq;
    r = fx_raw(fx, "RTD", NULL, "to be moved");
    FX_ACCEPTED(r);
    S.raw_rtd = r.position;
    /* Before anyone may admit: RTD is not the administrator. */
    r = fx_member_add(fx, "RTD", "RTF", "foundation_trust", ics_identity_public(rtf), 32, true);
    FX_REJECTED(r, "only the membership administrator may add members; RTD is not it");
    S.refused_add = r.position;
    FX_ACCEPTED(fx_org_register(fx, "E06000057", HWB, "hwb",
                                "Northumberland Health and Wellbeing Board", "E06000057"));
    s_appoint(fx, "QHM", "sir.liam", "chair", NULL);
    s_appoint(fx, "QHM", "sam.allen", "chief_executive", NULL);
    s_appoint(fx, "QHM", "fiona.d", "finance_director", NULL);
    S.cp16 = s_checkpoints(fx, 16);
    r = fx_checkpoint(fx, "QHM", 17, fx->last.chain, 32);
    FX_REJECTED(r, "checkpoints name positions that are multiples of 16");
    S.bad_checkpoint = r.position;
    s_appoint(fx, "QHM", "ned.one", "non_executive", NULL);
    s_appoint(fx, "RTD", "dr.amina.khan", "partner_trust", NULL);
    s_appoint(fx, "E06000057", "cllr.peter.hall", "partner_local_authority", NULL);
    /* Admission by motion, carried out by a member that is not the
     * administrator. */
    r = fx_motion_admit(fx, "QHM", "sir.liam", "RTF", "foundation_trust",
                        ics_identity_public(rtf));
    FX_ACCEPTED(r);
    for (size_t i = 0; i < 6; i++)
        FX_ACCEPTED(fx_vote(fx, voters[i][0], voters[i][1], r.position, FOR, NULL));
    S.rtd_checkpoint_32 = s_checkpoints(fx, 32) + 1;
    FX_ACCEPTED(fx_member_add(fx, "RTD", "RTF", "foundation_trust", ics_identity_public(rtf),
                              32, true));
    r = fx_member_add(fx, "QHM", "RX7", "ambulance", ics_identity_public(rx7), 32, true);
    FX_ACCEPTED(r);
    S.admin_add = r.position;
    s_fill_to(fx, 40);
    memset(seed, 0x5a, sizeof seed);
    S.rtd2 = ics_identity_from_seed(seed);
    r = fx_key_rotate(fx, "RTD", "RTD", ics_identity_public(S.rtd2), 32);
    FX_ACCEPTED(r);
    S.rotation = r.position;
    for (size_t i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "%.*s", (int)(strchr(s_orgs[i], ':') - s_orgs[i]), s_orgs[i]);
        S.key[i] = fx_identity(id);
    }
    rtd1 = fx_org(fx, "RTD")->key;
    fx_org(fx, "RTD")->key = S.rtd2; /* the fixture signs RTD's entries with it from now */
    S.cp48 = s_checkpoints(fx, 48);
    s_checkpoints(fx, 64);
    s_fill_to(fx, 70);
    fx_org(fx, "RTD")->key = rtd1;

    S.certified = ics_fsm_certified_position(fx->fsm);
    assert_int_equal(S.certified, 64);
    S.log.n = fx->n_tape;
    S.log.line = calloc(fx->n_tape, sizeof *S.log.line);
    assert_non_null(S.log.line);
    for (size_t i = 0; i < fx->n_tape; i++) {
        s_line_t *l = &S.log.line[i];
        assert_int_equal(fx->tape[i].res.position, i + 1);
        l->buf = fx->tape[i].buf;
        l->len = fx->tape[i].len;
        fx->tape[i].buf = NULL;
        l->accepted = fx->tape[i].res.accepted;
        ics_strcpy(l->reason, sizeof l->reason, fx->tape[i].res.reason);
        l->clock = fx->tape[i].res.clock_ms;
    }
    f = open_memstream(&S.export, &S.export_len);
    assert_non_null(f);
    if (ics_history_export(fx->history, f, &err) != ICS_OK)
        fail_msg("export: %s", err.msg);
    fclose(f);
    ics_identity_destroy(&rtf);
    ics_identity_destroy(&rx7);
    fx_fsm_destroy(&fx);

    if (system("python3 -c 'import cryptography' >/dev/null 2>&1") == 0) {
        char tmpl[] = "/tmp/icsd-test-forgery-XXXXXX";
        char cmd[512];
        assert_non_null(mkdtemp(tmpl));
        S.tmpdir = strdup(tmpl);
        /* The verifier is the one python block of Appendix B, as printed. */
        snprintf(cmd, sizeof cmd,
                 "sed -n '/^## Appendix B/,$p' '%s/docs/log-format.md' | sed -n "
                 "'/^```python$/,/^```$/p' | sed '1d;$d' > '%s/verify.py'",
                 ICS_SOURCE_DIR, S.tmpdir);
        assert_int_equal(system(cmd), 0);
    } else {
        fprintf(stderr, "python3 with 'cryptography' not found: Appendix B is not run\n");
    }
    return 0;
}

static int s_unbuild(void **state)
{
    (void)state;
    s_log_free(&S.log);
    free(S.export);
    for (size_t i = 0; i < 5; i++)
        ics_identity_destroy(&S.key[i]);
    ics_identity_destroy(&S.rtd2);
    if (S.tmpdir != NULL) {
        char path[256];
        snprintf(path, sizeof path, "%s/verify.py", S.tmpdir);
        unlink(path);
        snprintf(path, sizeof path, "%s/log.txt", S.tmpdir);
        unlink(path);
        rmdir(S.tmpdir);
        free(S.tmpdir);
    }
    return 0;
}

/* ---------------------------------------------------------------- the forger's tools */

static ics_identity_t *s_key(const char *org)
{
    for (size_t i = 0; i < 5; i++)
        if (strncmp(s_orgs[i], org, strlen(org)) == 0 && s_orgs[i][strlen(org)] == ':')
            return S.key[i];
    fail_msg("no key for %s", org);
    return NULL;
}

static Ics__V1__Envelope *s_open(const s_line_t *l)
{
    Ics__V1__Envelope *env = NULL;
    ics_err_t err;
    if (ics_envelope_decode(l->buf, l->len, &env, &err) != ICS_OK)
        fail_msg("decode: %s", err.msg);
    return env;
}

static Ics__V1__Command *s_command(const Ics__V1__Envelope *env)
{
    Ics__V1__Command *cmd = NULL;
    ics_err_t err;
    if (ics_command_decode(env, &cmd, &err) != ICS_OK)
        fail_msg("command: %s", err.msg);
    return cmd;
}

/* Replaces line l's envelope with one signed by key as org, with seq (0:
 * as before), the same timestamp and the command bytes payload of kind
 * (NULL: as before). */
static void s_rewrap(s_line_t *l, ics_identity_t *key, const char *org, uint64_t seq, uint32_t kind,
                     const uint8_t *payload, size_t plen)
{
    Ics__V1__Envelope *env = s_open(l);
    uint8_t *out = NULL;
    size_t len = 0;
    ics_err_t err;

    ics_envelope_fields_t f = {GROUP,
                               org != NULL ? org : env->org,
                               seq != 0 ? seq : env->seq,
                               env->timestamp_ms,
                               payload != NULL ? kind : env->kind,
                               payload != NULL ? payload : env->payload.data,
                               payload != NULL ? plen : env->payload.len};
    if (ics_envelope_seal(key, &f, &out, &len, &err) != ICS_OK)
        fail_msg("seal: %s", err.msg);
    ics__v1__envelope__free_unpacked(env, NULL);
    free(l->buf);
    l->buf = out;
    l->len = len;
}

/* The same with the command cmd (NULL: as before), packed as it is. */
static void s_resign(s_line_t *l, ics_identity_t *key, const char *org, uint64_t seq,
                     const Ics__V1__Command *cmd)
{
    uint8_t *payload = NULL;
    size_t plen = 0;

    if (cmd != NULL)
        assert_int_equal(ics_pack(&cmd->base, &payload, &plen), ICS_OK);
    s_rewrap(l, key, org, seq, cmd != NULL ? (uint32_t)cmd->body_case : 0, payload, plen);
    free(payload);
}

/* The position of the first entry after `after` of kind by org, acted by
 * actor (NULL: anyone) and, for a registration, registering person. */
static uint64_t s_find(const s_log_t *log, uint64_t after, Ics__V1__Command__BodyCase kind,
                       const char *org, const char *actor, const char *person)
{
    for (size_t i = after; i < log->n; i++) {
        Ics__V1__Envelope *env = s_open(&log->line[i]);
        Ics__V1__Command *cmd = s_command(env);
        bool found = cmd->body_case == kind && strcmp(env->org, org) == 0 &&
                     (actor == NULL || strcmp(cmd->actor, actor) == 0) &&
                     (person == NULL || strcmp(cmd->person_register->person, person) == 0);
        ics__v1__command__free_unpacked(cmd, NULL);
        ics__v1__envelope__free_unpacked(env, NULL);
        if (found)
            return i + 1;
    }
    fail_msg("no such entry in the log");
    return 0;
}

static void s_delete(s_log_t *log, uint64_t position)
{
    free(log->line[position - 1].buf);
    memmove(&log->line[position - 1], &log->line[position],
            (log->n - position) * sizeof *log->line);
    log->n--;
}

static void s_verdict(s_log_t *log, uint64_t position, bool accepted, const char *reason)
{
    log->line[position - 1].accepted = accepted;
    ics_strcpy(log->line[position - 1].reason, sizeof log->line[0].reason, reason);
}

/* Recomputes every entry id, chain and Merkle tree and the header. The
 * forger `org` (NULL: none) re-signs its own checkpoints, signed from key
 * `from` on with `key` (NULL: the org's own), to say the resealed chain and
 * cosign the resealed tree head. Returns the file. */
static char *s_reseal(s_log_t *log, const char *org, uint64_t from, ics_identity_t *key,
                      size_t *len)
{
    char *body = NULL, *text = NULL;
    size_t body_len = 0;
    uint8_t chain[32], id[32], (*marks)[32] = calloc(log->n / 16 + 1, 32);
    uint8_t (*roots)[32] = calloc(log->n / 16 + 1, 32);
    FILE *f = open_memstream(&body, &body_len), *out;
    ics_merkle_frontier_t tree;

    assert_non_null(f);
    assert_non_null(marks);
    assert_non_null(roots);
    ics_merkle_frontier_init(&tree);
    ics_chain_init(GROUP, chain);
    for (size_t i = 0; i < log->n; i++) {
        s_line_t *l = &log->line[i];
        uint64_t pos = i + 1;
        Ics__V1__Envelope *env = l->len > 0 ? s_open(l) : NULL;
        if (org != NULL && env != NULL && strcmp(env->org, org) == 0) {
            ics_identity_t *k = key != NULL && pos >= from ? key : s_key(org);
            Ics__V1__Command *cmd = s_command(env);
            if (cmd->body_case == ICS__V1__COMMAND__BODY_CHECKPOINT &&
                cmd->checkpoint->position % 16 == 0 && cmd->checkpoint->position < pos) {
                Ics__V1__Checkpoint *cp = cmd->checkpoint;
                memcpy(cp->chain.data, marks[cp->position / 16 - 1], 32);
                if (cp->root.len == 32 && cp->cosignature.len == ICS_SIG_BYTES) {
                    memcpy(cp->root.data, roots[cp->position / 16 - 1], 32);
                    ics_note_cosign(k, GROUP, cp->position, cp->root.data, cp->cosignature.data);
                }
                s_resign(l, k, NULL, 0, cmd);
            } else if (key != NULL && pos >= from) {
                s_resign(l, k, NULL, 0, NULL);
            }
            ics__v1__command__free_unpacked(cmd, NULL);
        }
        if (env != NULL)
            ics__v1__envelope__free_unpacked(env, NULL);
        ics_entry_id(l->buf, l->len, id);
        ics_chain_step(chain, pos, id, l->accepted, l->reason, chain);
        {
            uint8_t leaf[32];
            ics_log_leaf_hash(pos, id, l->accepted, l->reason, leaf);
            assert_true(ics_merkle_frontier_push(&tree, leaf));
        }
        if (pos % 16 == 0) {
            memcpy(marks[pos / 16 - 1], chain, 32);
            ics_merkle_frontier_root(&tree, roots[pos / 16 - 1]);
        }
        ics_log_line_t line = {pos, l->accepted, id, chain, l->clock, l->buf, l->len, l->reason};
        assert_int_equal(ics_log_write_entry(f, &line), ICS_OK);
    }
    fclose(f);
    out = open_memstream(&text, len);
    assert_non_null(out);
    assert_int_equal(ics_log_write_header(out, GROUP, log->n, chain), ICS_OK);
    fwrite(body, 1, body_len, out);
    assert_int_equal(ics_log_write_end(out), ICS_OK);
    fclose(out);
    free(body);
    free(marks);
    free(roots);
    return text;
}

/* ---------------------------------------------------------------- assertions */

static int s_verify(const char *text, size_t len, ics_log_verify_report_t *rep, ics_err_t *err)
{
    FILE *f = fmemopen((void *)text, len, "r");
    int rc;
    assert_non_null(f);
    rc = ics_log_verify(f, rep, err);
    fclose(f);
    return rc;
}

/* Runs Appendix B on text; returns its exit status, its output in out. */
static int s_python(const char *text, size_t len, char *out, size_t size)
{
    char path[256], cmd[768];
    FILE *f, *p;
    size_t n;
    int status;

    snprintf(path, sizeof path, "%s/log.txt", S.tmpdir);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    snprintf(cmd, sizeof cmd, "python3 '%s/verify.py' '%s' 2>&1", S.tmpdir, path);
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Both verifiers refuse the file at `position`; icsd's says `words`. */
#define ASSERT_FORGERY_CAUGHT(text, len, position, words)                                          \
    ASSERT_FORGERY_CAUGHT_WHY(text, len, position, words, "")

/* ... and Appendix B says py_words. */
#define ASSERT_FORGERY_CAUGHT_WHY(text, len, position, words, py_words)                            \
    do {                                                                                           \
        ics_log_verify_report_t rep_;                                                              \
        ics_err_t err_;                                                                            \
        int rc_ = s_verify(text, len, &rep_, &err_);                                               \
        if (rc_ == ICS_OK || rep_.bad_position != (uint64_t)(position) ||                          \
            strstr(err_.msg, words) == NULL)                                                       \
            fail_msg("expected a failure at %llu (\"%s\"), got %d at %llu: %s",                    \
                     (unsigned long long)(position), words, rc_,                                   \
                     (unsigned long long)rep_.bad_position, rc_ ? err_.msg : "ok");                \
        if (S.tmpdir != NULL) {                                                                    \
            char py_[1024], want_[64];                                                             \
            int st_ = s_python(text, len, py_, sizeof py_);                                        \
            snprintf(want_, sizeof want_,                                                          \
                     "FAIL at position %llu:", (unsigned long long)(position));                    \
            if (st_ != 1 || strstr(py_, want_) == NULL || strstr(py_, py_words) == NULL)           \
                fail_msg("Appendix B: expected \"%s ... %s\", got status %d: %s", want_, py_words, \
                         st_, py_);                                                                \
        }                                                                                          \
    } while (0)

/* ---------------------------------------------------------------- scenarios */

static void test_real_log_verifies(void **state)
{
    ics_log_verify_report_t rep;
    ics_err_t err;
    size_t len = 0;
    char *text;
    s_log_t log;

    (void)state;
    if (s_verify(S.export, S.export_len, &rep, &err) != ICS_OK)
        fail_msg("the real export does not verify: %s", err.msg);
    assert_int_equal(rep.entries, S.log.n);
    /* The verifier certifies what the state machine does. */
    assert_int_equal(rep.certified_position, S.certified);
    assert_int_equal(rep.certified_by, 4);
    assert_int_equal(rep.certify_needed, 4);
    assert_int_equal(rep.checkpoints, 16);
    /* Resealing changes nothing that was not changed. */
    s_log_copy(&log, &S.log);
    text = s_reseal(&log, NULL, 0, NULL, &len);
    assert_int_equal(len, S.export_len);
    assert_memory_equal(text, S.export, len);
    free(text);
    s_log_free(&log);
    if (S.tmpdir != NULL) {
        char py[1024];
        if (s_python(S.export, S.export_len, py, sizeof py) != 0)
            fail_msg("Appendix B refuses the real export: %s", py);
        FX_CONTAINS(py, "ok:", "certified up to position 64");
    }
}

/* Deleting an entry: every later chain moves; the forger QHM re-signs its
 * own checkpoints to match, RTD's checkpoint for 16 no longer does. */
static void test_deleted_entry(void **state)
{
    s_log_t log;
    size_t len = 0;
    char *text;

    (void)state;
    s_log_copy(&log, &S.log);
    s_delete(&log, S.raw_rtd);
    text = s_reseal(&log, "QHM", 0, NULL, &len);
    ASSERT_FORGERY_CAUGHT(text, len, S.cp16 /* RTD's, one up */, "RTD's checkpoint for position 16");
    free(text);
    s_log_free(&log);
}

/* A rejected entry turned into an accepted one: the checkpoint rules
 * decide it. */
static void test_rejected_turned_accepted(void **state)
{
    s_log_t log;
    size_t len = 0;
    char *text;

    (void)state;
    s_log_copy(&log, &S.log);
    s_verdict(&log, S.bad_checkpoint, true, "");
    text = s_reseal(&log, NULL, 0, NULL, &len);
    ASSERT_FORGERY_CAUGHT(text, len, S.bad_checkpoint,
                          "accepted checkpoint by QHM, which the state machine must reject");
    free(text);
    s_log_free(&log);
}

/* And the reverse: a Raw entry passes every rule, so it was accepted. */
static void test_accepted_turned_rejected(void **state)
{
    s_log_t log;
    size_t len = 0;
    char *text;

    (void)state;
    s_log_copy(&log, &S.log);
    s_verdict(&log, S.raw_rtd, false, "not allowed");
    text = s_reseal(&log, NULL, 0, NULL, &len);
    ASSERT_FORGERY_CAUGHT(text, len, S.raw_rtd, "rejected raw by RTD passes every rule");
    free(text);
    s_log_free(&log);
}

/* RX4 takes RTD's entry as its own under a sequence number it already
 * used: the state machine would have given it no position at all. */
static void test_reattributed_with_used_seq(void **state)
{
    s_log_t log;
    size_t len = 0;
    char *text;

    (void)state;
    s_log_copy(&log, &S.log);
    s_resign(&log.line[S.raw_rtd - 1], s_key("RX4"), "RX4", S.rx4_seq_used, NULL);
    text = s_reseal(&log, "RX4", 0, NULL, &len);
    ASSERT_FORGERY_CAUGHT(text, len, S.raw_rtd, "(RX4, 1) was already taken");
    free(text);
    s_log_free(&log);
}

/* With a fresh one, every rule holds; the other members' checkpoints do
 * not. */
static void test_reattributed_with_fresh_seq(void **state)
{
    s_log_t log;
    size_t len = 0;
    char *text;

    (void)state;
    s_log_copy(&log, &S.log);
    s_resign(&log.line[S.raw_rtd - 1], s_key("RX4"), "RX4", 900, NULL);
    text = s_reseal(&log, "RX4", 0, NULL, &len);
    ASSERT_FORGERY_CAUGHT(text, len, S.cp16, "QHM's checkpoint for position 16");
    free(text);
    s_log_free(&log);
}

/* RTD alters its own checkpoint for 32 and signs it again. */
/* The log with RTD's checkpoint for 32 changed by alter, signed again with
 * RTD's own key and resealed. Returns the file (caller frees). */
static char *s_rtd_checkpoint_32_altered(void (*alter)(Ics__V1__Checkpoint *cp), size_t *len)
{
    s_log_t log;
    char *text;
    s_line_t *l;
    Ics__V1__Envelope *env;
    Ics__V1__Command *cmd;

    s_log_copy(&log, &S.log);
    l = &log.line[S.rtd_checkpoint_32 - 1];
    env = s_open(l);
    assert_string_equal(env->org, "RTD");
    cmd = s_command(env);
    assert_int_equal(cmd->body_case, ICS__V1__COMMAND__BODY_CHECKPOINT);
    assert_int_equal(cmd->checkpoint->position, 32);
    assert_int_equal(cmd->checkpoint->root.len, 32);
    assert_int_equal(cmd->checkpoint->cosignature.len, ICS_SIG_BYTES);
    alter(cmd->checkpoint);
    s_resign(l, s_key("RTD"), NULL, 0, cmd);
    ics__v1__command__free_unpacked(cmd, NULL);
    ics__v1__envelope__free_unpacked(env, NULL);
    *len = 0;
    text = s_reseal(&log, NULL, 0, NULL, len);
    s_log_free(&log);
    return text;
}

static void s_other_root_cosigned(Ics__V1__Checkpoint *cp)
{
    cp->root.data[0] ^= 1;
    ics_note_cosign(s_key("RTD"), GROUP, cp->position, cp->root.data, cp->cosignature.data);
}

static void s_cosignature_flipped(Ics__V1__Checkpoint *cp)
{
    cp->cosignature.data[7] ^= 0x10;
}

static void s_chain_flipped(Ics__V1__Checkpoint *cp)
{
    cp->chain.data[0] ^= 1;
}

/* RTD's checkpoint for 32 keeps the right chain but cosigns another tree
 * root, cosigned and signed again with RTD's own key: every signature holds,
 * the tree head is false. */
static void test_checkpoint_root_altered_and_recosigned(void **state)
{
    size_t len;
    char *text = s_rtd_checkpoint_32_altered(s_other_root_cosigned, &len);

    (void)state;
    ASSERT_FORGERY_CAUGHT(text, len, S.rtd_checkpoint_32, "a false tree head");
    free(text);
}

/* The cosignature changed and the envelope signed again: the checkpoint the
 * state machine accepted must have been rejected. */
static void test_checkpoint_cosignature_altered(void **state)
{
    size_t len;
    char *text = s_rtd_checkpoint_32_altered(s_cosignature_flipped, &len);

    (void)state;
    ASSERT_FORGERY_CAUGHT(text, len, S.rtd_checkpoint_32,
                          "its cosignature does not verify under RTD's key");
    free(text);
}

static void test_checkpoint_altered_and_resigned(void **state)
{
    size_t len;
    char *text = s_rtd_checkpoint_32_altered(s_chain_flipped, &len);

    (void)state;
    ASSERT_FORGERY_CAUGHT(text, len, S.rtd_checkpoint_32, "RTD's checkpoint for position 32");
    free(text);
}

/* QHM swaps its own key in the genesis for another and signs the genesis
 * and all its later entries (checkpoints included) with that one: every
 * signature holds, RTD's first checkpoint does not. */
static void test_genesis_key_swapped(void **state)
{
    s_log_t log;
    size_t len = 0;
    char *text;
    s_line_t *g;
    Ics__V1__Envelope *env;
    Ics__V1__Command *cmd;
    uint8_t seed[32];
    ics_identity_t *other;

    (void)state;
    memset(seed, 0x77, sizeof seed);
    other = ics_identity_from_seed(seed);
    s_log_copy(&log, &S.log);
    g = &log.line[0];
    env = s_open(g);
    cmd = s_command(env);
    assert_int_equal(cmd->body_case, ICS__V1__COMMAND__BODY_GENESIS);
    assert_string_equal(cmd->genesis->members[0]->org, "QHM");
    memcpy(cmd->genesis->members[0]->public_key.data, ics_identity_public(other), 32);
    s_resign(g, other, NULL, 0, cmd);
    ics__v1__command__free_unpacked(cmd, NULL);
    ics__v1__envelope__free_unpacked(env, NULL);
    text = s_reseal(&log, "QHM", 2, other, &len);
    ASSERT_FORGERY_CAUGHT(text, len, S.cp16 + 1, "RTD's checkpoint for position 16");
    free(text);
    s_log_free(&log);
    ics_identity_destroy(&other);
}

/* RTD puts another key in its KeyRotate and signs every later entry of its
 * own with it. */
static void test_rotated_key_swapped(void **state)
{
    s_log_t log;
    size_t len = 0;
    char *text;
    s_line_t *k;
    Ics__V1__Envelope *env;
    Ics__V1__Command *cmd;
    uint8_t seed[32];
    ics_identity_t *other;

    (void)state;
    memset(seed, 0x78, sizeof seed);
    other = ics_identity_from_seed(seed);
    s_log_copy(&log, &S.log);
    k = &log.line[S.rotation - 1];
    env = s_open(k);
    cmd = s_command(env);
    assert_int_equal(cmd->body_case, ICS__V1__COMMAND__BODY_KEY_ROTATE);
    memcpy(cmd->key_rotate->public_key.data, ics_identity_public(other), 32);
    s_resign(k, s_key("RTD"), NULL, 0, cmd);
    ics__v1__command__free_unpacked(cmd, NULL);
    ics__v1__envelope__free_unpacked(env, NULL);
    text = s_reseal(&log, "RTD", S.rotation + 1, other, &len);
    /* Checkpoints for 16 and 32 still match; QHM's for 48 (the first
     * after the rotation) does not. */
    ASSERT_FORGERY_CAUGHT(text, len, S.cp48, "QHM's checkpoint for position 48");
    free(text);
    s_log_free(&log);
    ics_identity_destroy(&other);
}

/* The administrator's MemberAdd re-signed by RTD, which is not it and has
 * no motion for RX7. */
static void test_member_add_by_non_admin(void **state)
{
    s_log_t log;
    size_t len = 0;
    char *text;

    (void)state;
    s_log_copy(&log, &S.log);
    s_resign(&log.line[S.admin_add - 1], s_key("RTD"), "RTD", 700, NULL);
    text = s_reseal(&log, "RTD", 0, NULL, &len);
    ASSERT_FORGERY_CAUGHT(text, len, S.admin_add,
                          "RTD is not the membership administrator, and no motion to admit RX7");
    free(text);
    s_log_free(&log);
}

/* The genesis changed by `change`, signed by QHM and marked accepted; the
 * state machine itself refuses it with `reason`. */
static void s_bad_genesis(void (*change)(Ics__V1__Genesis *g), const char *reason)
{
    s_log_t log;
    size_t len = 0;
    char *text, want[300];
    Ics__V1__Envelope *env;
    Ics__V1__Command *cmd;
    ics_fsm_t *fsm;
    ics_apply_result_t res;
    ics_err_t err;

    s_log_copy(&log, &S.log);
    env = s_open(&log.line[0]);
    cmd = s_command(env);
    change(cmd->genesis);
    s_resign(&log.line[0], s_key("QHM"), NULL, 0, cmd);
    ics__v1__command__free_unpacked(cmd, NULL);
    ics__v1__envelope__free_unpacked(env, NULL);
    /* What the state machine says of it. */
    fsm = ics_fsm_new(GROUP, &err);
    assert_non_null(fsm);
    assert_int_equal(ics_fsm_apply(fsm, log.line[0].buf, log.line[0].len, &res), ICS_OK);
    assert_false(res.accepted);
    snprintf(want, sizeof want, "group has no genesis yet: %s", reason);
    assert_string_equal(res.reason, want);
    ics_fsm_destroy(&fsm);
    /* Keep only the genesis: the rest was signed under it. */
    while (log.n > 1)
        s_delete(&log, log.n);
    text = s_reseal(&log, NULL, 0, NULL, &len);
    snprintf(want, sizeof want, "accepted genesis is not valid: %s", reason);
    ASSERT_FORGERY_CAUGHT(text, len, 1, want);
    free(text);
    s_log_free(&log);
}

static void s_admin_outside(Ics__V1__Genesis *g)
{
    free(g->admin); /* the message was unpacked with malloc */
    g->admin = strdup("RX9");
}

static void s_endpoint_space(Ics__V1__Genesis *g)
{
    free(g->members[1]->endpoint);
    g->members[1]->endpoint = strdup("tcp://rtd.example.nhs.uk:7400 ");
}

static void s_standby(Ics__V1__Genesis *g)
{
    g->members[1]->role = ICS__V1__MEMBER_ROLE__MEMBER_ROLE_STANDBY;
}

static void test_genesis_admin_not_member(void **state)
{
    (void)state;
    s_bad_genesis(s_admin_outside, "genesis administrator 'RX9' is not a member");
}

static void test_genesis_endpoint_with_space(void **state)
{
    (void)state;
    s_bad_genesis(s_endpoint_space, "endpoint of RTD is empty, too long or has spaces");
}

static void test_genesis_standby_member(void **state)
{
    (void)state;
    s_bad_genesis(s_standby, "genesis member RTD must be a voter");
}

/* The state machine, applying log up to position, refuses that entry with
 * a reason holding `words`: the forgery is one the nodes would refuse. */
static void s_state_machine_refuses(const s_log_t *log, uint64_t position, const char *words)
{
    ics_apply_result_t res;
    ics_err_t err;
    ics_fsm_t *fsm = ics_fsm_new(GROUP, &err);

    assert_non_null(fsm);
    for (uint64_t i = 0; i < position; i++)
        assert_int_equal(ics_fsm_apply(fsm, log->line[i].buf, log->line[i].len, &res), ICS_OK);
    assert_int_equal(res.position, position);
    if (res.accepted || strstr(res.reason, words) == NULL)
        fail_msg("the state machine: expected a refusal with \"%s\", got %s", words,
                 res.accepted ? "accepted" : res.reason);
    ics_fsm_destroy(&fsm);
}

/* QHM's forgery at position of log: the state machine refuses that entry
 * (saying refusal) and, resealed with QHM's checkpoints signed again, both
 * verifiers refuse the file there (saying words and py_words). Frees log. */
static void s_refused_by_all(s_log_t *log, uint64_t position, const char *refusal,
                             const char *words, const char *py_words)
{
    size_t len = 0;
    char *text;

    s_state_machine_refuses(log, position, refusal);
    text = s_reseal(log, "QHM", 0, NULL, &len);
    ASSERT_FORGERY_CAUGHT_WHY(text, len, position, words, py_words);
    free(text);
    s_log_free(log);
}

/* ned.one's vote with one bit of their person signature changed; QHM,
 * whose envelope it is, signs the envelope again. */
static void test_person_signature_altered(void **state)
{
    s_log_t log;
    uint64_t at;
    Ics__V1__Envelope *env;
    Ics__V1__Command *cmd;

    (void)state;
    s_log_copy(&log, &S.log);
    at = s_find(&log, 0, ICS__V1__COMMAND__BODY_VOTE, "QHM", "ned.one", NULL);
    env = s_open(&log.line[at - 1]);
    cmd = s_command(env);
    assert_non_null(cmd->person_sig);
    cmd->person_sig->signature.data[5] ^= 1;
    s_resign(&log.line[at - 1], s_key("QHM"), NULL, 0, cmd);
    ics__v1__command__free_unpacked(cmd, NULL);
    ics__v1__envelope__free_unpacked(env, NULL);
    s_refused_by_all(&log, at, "bad person signature of ned.one of QHM",
                     "accepted vote by QHM, which the state machine must reject: the signature "
                     "of ned.one of QHM does not verify",
                     "the signature of ned.one does not verify");
}

/* ned.one's signed vote, byte for byte, in a later QHM entry in place of a
 * Raw: the person's seq is replayed. */
static void test_person_seq_replayed(void **state)
{
    s_log_t log;
    uint64_t vote, at;
    Ics__V1__Envelope *env;

    (void)state;
    s_log_copy(&log, &S.log);
    vote = s_find(&log, 0, ICS__V1__COMMAND__BODY_VOTE, "QHM", "ned.one", NULL);
    at = s_find(&log, vote, ICS__V1__COMMAND__BODY_RAW, "QHM", NULL, NULL);
    env = s_open(&log.line[vote - 1]);
    s_rewrap(&log.line[at - 1], s_key("QHM"), NULL, 0, env->kind, env->payload.data,
             env->payload.len);
    ics__v1__envelope__free_unpacked(env, NULL);
    s_refused_by_all(&log, at, "replayed person signature: sequence number",
                     "accepted vote by QHM, which the state machine must reject: person sequence "
                     "number",
                     "person sequence number");
}

/* sir.liam's registration of ned.one made instead by signer (a person of
 * QHM with their own key, or "" for QHM alone), QHM signing the envelope
 * again; still marked accepted. */
static void s_registration_by(const char *signer, const char *refusal, const char *words,
                              const char *py_words)
{
    s_log_t log;
    size_t plen = 0;
    char *actor;
    uint64_t at;
    uint8_t *payload = NULL;
    Ics__V1__Envelope *env;
    Ics__V1__Command *cmd;
    Ics__V1__PersonSig *ps;

    s_log_copy(&log, &S.log);
    at = s_find(&log, 0, ICS__V1__COMMAND__BODY_PERSON_REGISTER, "QHM", "sir.liam", "ned.one");
    env = s_open(&log.line[at - 1]);
    cmd = s_command(env);
    ps = cmd->person_sig;
    actor = cmd->actor;
    if (signer[0] != '\0') {
        payload = fx_person_sign(GROUP, "QHM", signer, NULL, ps->seq, cmd, &plen);
    } else {
        cmd->actor = (char *)"";
        cmd->person_sig = NULL;
        assert_int_equal(ics_pack(&cmd->base, &payload, &plen), ICS_OK);
    }
    cmd->actor = actor;
    cmd->person_sig = ps;
    s_rewrap(&log.line[at - 1], s_key("QHM"), NULL, 0, env->kind, payload, plen);
    free(payload);
    ics__v1__command__free_unpacked(cmd, NULL);
    ics__v1__envelope__free_unpacked(env, NULL);
    s_refused_by_all(&log, at, refusal, words, py_words);
}

static void test_registration_by_non_admin(void **state)
{
    (void)state;
    s_registration_by("sam.allen", "sam.allen is not an administrator of QHM",
                      "accepted person_register by QHM, which the state machine must reject: "
                      "sam.allen is not an administrator of QHM",
                      "sam.allen of QHM may not register, re-key or revoke ned.one");
}

static void test_registration_by_organisation_alone(void **state)
{
    (void)state;
    s_registration_by("", "QHM has an administrator person",
                      "accepted person_register by QHM, which the state machine must reject: "
                      "QHM has an administrator person",
                      "the organisation alone of QHM may not register");
}

static void test_rejected_without_reason(void **state)
{
    s_log_t log;
    size_t len = 0;
    char *text;

    (void)state;
    s_log_copy(&log, &S.log);
    s_verdict(&log, S.refused_add, false, "");
    text = s_reseal(&log, NULL, 0, NULL, &len);
    ASSERT_FORGERY_CAUGHT(text, len, S.refused_add, "a rejected entry without a reason");
    free(text);
    s_log_free(&log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_log_verifies),
        cmocka_unit_test(test_deleted_entry),
        cmocka_unit_test(test_checkpoint_root_altered_and_recosigned),
        cmocka_unit_test(test_checkpoint_cosignature_altered),
        cmocka_unit_test(test_rejected_turned_accepted),
        cmocka_unit_test(test_accepted_turned_rejected),
        cmocka_unit_test(test_reattributed_with_used_seq),
        cmocka_unit_test(test_reattributed_with_fresh_seq),
        cmocka_unit_test(test_checkpoint_altered_and_resigned),
        cmocka_unit_test(test_genesis_key_swapped),
        cmocka_unit_test(test_rotated_key_swapped),
        cmocka_unit_test(test_member_add_by_non_admin),
        cmocka_unit_test(test_genesis_admin_not_member),
        cmocka_unit_test(test_genesis_endpoint_with_space),
        cmocka_unit_test(test_genesis_standby_member),
        cmocka_unit_test(test_rejected_without_reason),
        cmocka_unit_test(test_person_signature_altered),
        cmocka_unit_test(test_person_seq_replayed),
        cmocka_unit_test(test_registration_by_non_admin),
        cmocka_unit_test(test_registration_by_organisation_alone),
    };
    return cmocka_run_group_tests(tests, s_build, s_unbuild);
}
