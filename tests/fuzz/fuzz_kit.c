/*
 * Fuzz kit (fuzz_kit.h). Failures abort: they mean the kit itself is
 * broken, not that the fuzzer found something.
 */
#define _GNU_SOURCE /* memmem */
#include "fuzz_kit.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const fk_orgs[FK_N_ORGS] = {"QHM", "RTD", "RX4", "E06000057", "RX6"};
static const char *const s_kinds[FK_N_ORGS] = {"icb", "foundation_trust", "mental_health",
                                               "local_authority", "ambulance"};
static ics_identity_t *s_ids[FK_N_ORGS];

static void s_die(const char *what, const char *why)
{
    fprintf(stderr, "fuzz kit: %s: %s\n", what, why != NULL ? why : "failed");
    abort();
}

static volatile uint64_t s_log_sink;

static bool s_drop(int level, const char *msg, const char *const *fields)
{
    s_log_sink += strlen(msg) + (uint64_t)level;
    for (size_t i = 0; fields != NULL && fields[i] != NULL; i++)
        s_log_sink += strlen(fields[i]);
    return true;
}

void fk_quiet(void)
{
    ics_log_set_level(ICS_LOG_DEBUG);
    ics_log_set_sink(s_drop);
}

const ics_identity_t *fk_identity(const char *org)
{
    for (size_t i = 0; i < FK_N_ORGS; i++) {
        if (strcmp(org, fk_orgs[i]) != 0)
            continue;
        if (s_ids[i] == NULL) {
            uint8_t seed[32];
            if (!ics_crypto_init())
                s_die("libsodium", NULL);
            crypto_generichash(seed, sizeof seed, (const uint8_t *)org, strlen(org),
                               (const uint8_t *)"icsd-fuzz-key", 13);
            s_ids[i] = ics_identity_from_seed(seed);
            if (s_ids[i] == NULL)
                s_die("identity", org);
        }
        return s_ids[i];
    }
    return NULL;
}

uint8_t *fk_seal(const char *org, const char *person, uint64_t seq, uint64_t ts,
                 Ics__V1__Command *cmd, size_t *len)
{
    uint8_t *payload = NULL, *out = NULL;
    size_t plen = 0;
    ics_err_t err;

    cmd->actor = (char *)person;
    if (ics_pack(&cmd->base, &payload, &plen) != ICS_OK)
        s_die("pack", NULL);
    ics_envelope_fields_t f = {FK_GROUP, org, seq, ts, (uint32_t)cmd->body_case, payload, plen};
    if (ics_envelope_seal(fk_identity(org), &f, &out, len, &err) != ICS_OK)
        s_die("seal", err.msg);
    free(payload);
    return out;
}

static void s_record(void *arg, const ics_apply_result_t *res)
{
    if (ics_history_append(arg, res) != ICS_OK)
        s_die("history append", NULL);
}

static void s_apply(fk_state_t *st, uint8_t *buf, size_t len)
{
    ics_apply_result_t res;

    if (st->n_entries == FK_MAX_ENTRIES)
        s_die("state", "too many entries");
    if (ics_fsm_apply(st->fsm, buf, len, &res) != ICS_OK)
        s_die("apply", NULL);
    st->entries[st->n_entries] = buf;
    st->lens[st->n_entries] = len;
    st->n_entries++;
}

void fk_state_build(fk_state_t *st)
{
    Ics__V1__MemberAdd m[FK_N_ORGS], *mp[FK_N_ORGS];
    char names[FK_N_ORGS][64], endpoints[FK_N_ORGS][64];
    uint64_t ts = FK_EPOCH_MS;
    size_t len;
    ics_err_t err;

    memset(st, 0, sizeof *st);
    st->fsm = ics_fsm_new(FK_GROUP, &err);
    if (st->fsm == NULL)
        s_die("fsm", err.msg);
    st->history = ics_history_open(NULL, FK_GROUP, &err);
    if (st->history == NULL)
        s_die("history", err.msg);
    ics_fsm_set_observer(st->fsm, &(ics_fsm_observer_t){.applied = s_record,
                                                        .arg = st->history});

    /* 1: genesis. */
    {
        Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
        Ics__V1__Genesis g = ICS__V1__GENESIS__INIT;
        for (size_t i = 0; i < FK_N_ORGS; i++) {
            ics__v1__member_add__init(&m[i]);
            snprintf(names[i], sizeof names[i], "Organisation %s", fk_orgs[i]);
            snprintf(endpoints[i], sizeof endpoints[i], "tcp://127.0.0.1:%zu", 7400 + i);
            m[i].org = (char *)fk_orgs[i];
            m[i].kind = (char *)s_kinds[i];
            m[i].name = names[i];
            m[i].endpoint = endpoints[i];
            m[i].public_key.data = (uint8_t *)ics_identity_public(fk_identity(fk_orgs[i]));
            m[i].public_key.len = ICS_PK_BYTES;
            m[i].role = ICS__V1__MEMBER_ROLE__MEMBER_ROLE_VOTER;
            mp[i] = &m[i];
        }
        g.group = (char *)FK_GROUP;
        g.members = mp;
        g.n_members = FK_N_ORGS;
        g.admin = (char *)"QHM";
        cmd.body_case = ICS__V1__COMMAND__BODY_GENESIS;
        cmd.genesis = &g;
        uint8_t *buf = fk_seal("QHM", "icsd", 1, ts, &cmd, &len);
        s_apply(st, buf, len);
    }
    /* 2-4: raw entries from three organisations. */
    for (size_t i = 0; i < 3; i++) {
        Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
        Ics__V1__Raw raw = ICS__V1__RAW__INIT;
        raw.data.data = (uint8_t *)"beds";
        raw.data.len = 4;
        raw.note = (char *)"winter pressure";
        cmd.body_case = ICS__V1__COMMAND__BODY_RAW;
        cmd.raw = &raw;
        uint8_t *buf = fk_seal(fk_orgs[i + 1], "jane.doe", 1, ts += 1000, &cmd, &len);
        s_apply(st, buf, len);
    }
    /* 5: an OPEL report. */
    {
        Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
        Ics__V1__OpelReport r = ICS__V1__OPEL_REPORT__INIT;
        r.level = 3;
        r.provider_type = (char *)"acute";
        r.note = (char *)"ED at capacity";
        cmd.body_case = ICS__V1__COMMAND__BODY_OPEL_REPORT;
        cmd.opel_report = &r;
        uint8_t *buf = fk_seal("RTD", "bed.manager", 2, ts += 1000, &cmd, &len);
        s_apply(st, buf, len);
    }
    /* 6: a person registered. */
    {
        Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
        Ics__V1__PersonRegister p = ICS__V1__PERSON_REGISTER__INIT;
        p.person = (char *)"jane.doe";
        p.name = (char *)"Jane Doe";
        p.title = (char *)"Director of Strategy";
        cmd.body_case = ICS__V1__COMMAND__BODY_PERSON_REGISTER;
        cmd.person_register = &p;
        uint8_t *buf = fk_seal("QHM", "jane.doe", 2, ts += 1000, &cmd, &len);
        s_apply(st, buf, len);
    }
    /* 7: RX6's entry with a signature that does not verify: rejected. */
    {
        Ics__V1__Command cmd = ICS__V1__COMMAND__INIT;
        Ics__V1__Raw raw = ICS__V1__RAW__INIT;
        raw.note = (char *)"tampered";
        cmd.body_case = ICS__V1__COMMAND__BODY_RAW;
        cmd.raw = &raw;
        uint8_t *buf = fk_seal("RX6", "ops", 1, ts += 1000, &cmd, &len);
        buf[len - 1] ^= 0x01; /* the signature is the last field */
        s_apply(st, buf, len);
    }
}

void fk_state_free(fk_state_t *st)
{
    ics_fsm_destroy(&st->fsm);
    ics_history_close(&st->history);
    for (size_t i = 0; i < st->n_entries; i++)
        free(st->entries[i]);
    memset(st, 0, sizeof *st);
}

void fk_split(const uint8_t *data, size_t size, size_t max,
              void (*fn)(void *arg, size_t i, const uint8_t *part, size_t len), void *arg)
{
    const size_t sep = sizeof FK_SEP - 1;
    size_t start = 0;

    for (size_t n = 0; n < max; n++) {
        const uint8_t *at = memmem(data + start, size - start, FK_SEP, sep);
        if (at == NULL) {
            fn(arg, n, data + start, size - start);
            return;
        }
        fn(arg, n, data + start, (size_t)(at - (data + start)));
        start = (size_t)(at - data) + sep;
    }
}

/* ---- raftio ------------------------------------------------------------ */

static ics_store_t *s_store;
static char s_store_dir[256];
static uint64_t s_received;
static volatile uint64_t s_sink;

static void s_store_remove(void)
{
    char path[320];
    static const char *const files[] = {"raft.db", "raft.db-wal", "raft.db-shm", "raft.db-journal"};

    ics_store_close(&s_store);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", s_store_dir, files[i]);
        unlink(path);
    }
    rmdir(s_store_dir);
}

static int s_send(void *arg, const char *to, const uint8_t *frame, size_t len)
{
    return 0;
}

static void s_tick(struct raft_io *io)
{
}

static uint64_t s_touch(const void *p, size_t len)
{
    const uint8_t *b = p;
    uint64_t h = len;
    for (size_t i = 0; i < len; i++)
        h = h * 131 + b[i];
    return h;
}

/* Reads everything raft would read and frees what raft would take. */
static void s_recv(struct raft_io *io, struct raft_message *m)
{
    uint64_t h = m->type ^ m->server_id;

    s_received++;
    h += s_touch(m->server_address, strlen(m->server_address));
    switch (m->type) {
    case RAFT_IO_REQUEST_VOTE:
        h += m->request_vote.term + m->request_vote.candidate_id +
             m->request_vote.last_log_index + m->request_vote.last_log_term +
             m->request_vote.disrupt_leader + m->request_vote.pre_vote;
        break;
    case RAFT_IO_REQUEST_VOTE_RESULT:
        h += m->request_vote_result.term + m->request_vote_result.vote_granted +
             (uint64_t)m->request_vote_result.pre_vote;
        break;
    case RAFT_IO_APPEND_ENTRIES: {
        struct raft_append_entries *a = &m->append_entries;
        h += a->term + a->prev_log_index + a->prev_log_term + a->leader_commit;
        for (unsigned i = 0; i < a->n_entries; i++) {
            h += a->entries[i].term + a->entries[i].type;
            h += s_touch(a->entries[i].buf.base, a->entries[i].buf.len);
            if (a->entries[i].batch != a->entries[0].batch)
                abort(); /* raftio promises one batch per message */
        }
        if (a->n_entries > 0) {
            raft_free(a->entries[0].batch);
            raft_free(a->entries);
        }
        break;
    }
    case RAFT_IO_APPEND_ENTRIES_RESULT:
        h += m->append_entries_result.term + m->append_entries_result.rejected +
             m->append_entries_result.last_log_index;
        break;
    case RAFT_IO_INSTALL_SNAPSHOT: {
        struct raft_install_snapshot *s = &m->install_snapshot;
        h += s->term + s->last_index + s->last_term + s->conf_index;
        for (unsigned i = 0; i < s->conf.n; i++) {
            h += s->conf.servers[i].id + (uint64_t)s->conf.servers[i].role;
            h += s_touch(s->conf.servers[i].address, strlen(s->conf.servers[i].address));
        }
        h += s_touch(s->data.base, s->data.len);
        raft_configuration_close(&s->conf);
        raft_free(s->data.base);
        break;
    }
    case RAFT_IO_TIMEOUT_NOW:
        h += m->timeout_now.term + m->timeout_now.last_log_index +
             m->timeout_now.last_log_term;
        break;
    default:
        abort(); /* raftio delivered a type raft does not know */
    }
    s_sink += h;
}

ics_raftio_t *fk_raftio_new(void)
{
    ics_raftio_t *io;
    struct raft_io *rio;
    ics_err_t err;

    if (s_store == NULL) {
        char path[320];
        const char *tmp = getenv("TMPDIR");
        snprintf(s_store_dir, sizeof s_store_dir, "%s/icsd-fuzz-XXXXXX",
                 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
        if (mkdtemp(s_store_dir) == NULL)
            s_die("mkdtemp", s_store_dir);
        snprintf(path, sizeof path, "%s/raft.db", s_store_dir);
        s_store = ics_store_open(path, &err);
        if (s_store == NULL)
            s_die("store", err.msg);
        atexit(s_store_remove);
    }
    io = ics_raftio_new(FK_GROUP, s_store, 1u << 20, s_send, NULL);
    if (io == NULL)
        s_die("raftio", NULL);
    rio = ics_raftio_io(io);
    if (rio->init(rio, ics_raft_id("QHM"), "QHM") != 0 ||
        rio->start(rio, 100, s_tick, s_recv) != 0)
        s_die("raftio", "init or start failed");
    return io;
}

uint64_t fk_raft_received(void)
{
    return s_received;
}
