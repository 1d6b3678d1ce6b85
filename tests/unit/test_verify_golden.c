/*
 * The offline verifiers against the state machine's golden log: the log of
 * tests/unit/test_golden.c (every domain, and the garbage a log can hold:
 * undecodable bytes, other groups' entries, forged signatures, unknown
 * organisations, replays, refused membership changes, checkpoints), built
 * by that file's own builder, exported from the node's history and given to
 * `icsctl log verify`'s verifier and, where python3 with 'cryptography' is
 * installed, to docs/log-format.md Appendix B. Both must accept it, agree
 * with the state machine on the certified position, and agree with each
 * other on a sample of single-byte changes of the file; and Appendix B's
 * check of a genesis policy agrees with ics_policy_valid on changes of the
 * NENC scheme.
 *
 * ICS_VERIFY_KEEP=1 keeps the files (in /tmp/icsd-test-vgolden-*) when a
 * verdict differs, to look at. test_golden.c is included whole (its main
 * renamed) so that the log is exactly the golden one, with no copy to drift.
 */
#define main s_golden_main
#include "test_golden.c"
#undef main

#include <sys/wait.h>
#include <unistd.h>

/* Runs Appendix B in one process over every file named in list (one path a
 * line); it prints one verdict line per file. Returns the output, malloc'd,
 * or NULL when python3 with 'cryptography' is not installed. */
static char *s_python(const char *dir, const char *list)
{
    char cmd[1024], *out = NULL;
    size_t len = 0;
    FILE *p, *o;
    int c;

    if (system("python3 -c 'import cryptography' >/dev/null 2>&1") != 0)
        return NULL;
    snprintf(cmd, sizeof cmd,
             "sed -n '/^## Appendix B/,$p' '%s/docs/log-format.md' | sed -n "
             "'/^```python$/,/^```$/p' | sed '1d;$d' > '%s/verify.py' && cd '%s' && "
             "PYTHONDONTWRITEBYTECODE=1 python3 -c 'import functools, sys, verify\n"
             "verify.key_valid = functools.lru_cache(None)(verify.key_valid)\n"
             "for name in open(sys.argv[1]).read().split():\n"
             "    bad, what = verify.verify(open(name, \"rb\"))\n"
             "    print(0 if bad is None else bad, what)\n' '%s'",
             ICS_SOURCE_DIR, dir, dir, list);
    p = popen(cmd, "r");
    assert_non_null(p);
    o = open_memstream(&out, &len);
    assert_non_null(o);
    while ((c = fgetc(p)) != EOF)
        fputc(c, o);
    fclose(o);
    assert_int_equal(pclose(p), 0);
    return out;
}

static void s_write(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* The golden log written from its tape, resealed, without the entry at
 * position `skip` (0: none). */
static char *s_export(s_log_t *l, uint64_t skip, size_t *len)
{
    char *body = NULL, *text = NULL;
    size_t body_len = 0;
    uint8_t chain[32], id[32];
    uint64_t pos = 0;
    FILE *f = open_memstream(&body, &body_len), *out;

    assert_non_null(f);
    ics_chain_init(GROUP, chain);
    for (size_t i = 0; i < l->fx->n_tape; i++) {
        const fx_entry_t *t = &l->fx->tape[i];
        if (t->res.duplicate || t->res.position == skip)
            continue;
        pos++;
        ics_entry_id(t->buf, t->len, id);
        ics_chain_step(chain, pos, id, t->res.accepted, t->res.reason, chain);
        ics_log_line_t line = {pos, t->res.accepted, id, chain, t->res.clock_ms,
                               t->buf, t->len, t->res.reason};
        assert_int_equal(ics_log_write_entry(f, &line), ICS_OK);
    }
    fclose(f);
    out = open_memstream(&text, len);
    assert_non_null(out);
    assert_int_equal(ics_log_write_header(out, GROUP, pos, chain), ICS_OK);
    fwrite(body, 1, body_len, out);
    assert_int_equal(ics_log_write_end(out), ICS_OK);
    fclose(out);
    free(body);
    return text;
}

static int s_verify(const char *text, size_t len, ics_log_verify_report_t *rep, ics_err_t *err)
{
    FILE *f = fmemopen((void *)text, len, "r");
    int rc;
    assert_non_null(f);
    rc = ics_log_verify(f, rep, err);
    fclose(f);
    return rc;
}

/* Position of RTD's accepted checkpoint, the one that does not match. */
static uint64_t s_rtd_checkpoint(s_log_t *l)
{
    for (size_t i = 0; i < l->fx->n_tape; i++)
        if (l->fx->tape[i].res.accepted && strcmp(l->fx->tape[i].res.org, "RTD") == 0 &&
            l->fx->tape[i].res.kind == ICS__V1__COMMAND__BODY_CHECKPOINT)
            return l->fx->tape[i].res.position;
    fail_msg("no checkpoint by RTD in the golden log");
    return 0;
}

/* The golden log holds a checkpoint that does not match (RTD's, all 0x5a):
 * the nodes raised an alarm, and the verifiers refuse the file there. */
static void test_golden_log_alarm_refused(void **state)
{
    s_log_t *l = *state;
    char *text = NULL, *from_tape;
    size_t len = 0, tape_len = 0;
    FILE *f = open_memstream(&text, &len);
    ics_log_verify_report_t rep;
    ics_err_t err;
    ics_checkpoint_status_t cs;
    uint64_t bad = 0;

    assert_non_null(f);
    if (ics_history_export(l->fx->history, f, &err) != ICS_OK)
        fail_msg("export: %s", err.msg);
    fclose(f);
    /* The tape gives the same file. */
    from_tape = s_export(l, 0, &tape_len);
    assert_int_equal(tape_len, len);
    assert_memory_equal(from_tape, text, len);
    free(from_tape);
    ics_fsm_checkpoint_status(l->fx->fsm, &cs);
    assert_true(cs.alarm);
    assert_non_null(strstr(cs.alarm_text, "RTD has 5a5a"));
    bad = s_rtd_checkpoint(l);
    assert_true(bad > 0);
    assert_int_equal(s_verify(text, len, &rep, &err), ICS_EINVAL);
    assert_int_equal(rep.bad_position, bad);
    assert_non_null(strstr(err.msg, "RTD's checkpoint for position"));
    free(text);
}

/* Without that entry (resealed), the whole golden log verifies, and both
 * verifiers agree on it and on single-byte changes spread over it. */
static void test_golden_log_verifies(void **state)
{
    s_log_t *l = *state;
    char *text, *py, *line, *save = NULL, dir[] = "/tmp/icsd-test-vgolden-XXXXXX";
    char path[128], listpath[128];
    size_t len = 0, n = 0, stride;
    FILE *f, *list;
    ics_log_verify_report_t rep;
    ics_err_t err;
    uint64_t *want, bad = 0, certified;

    bad = s_rtd_checkpoint(l);
    text = s_export(l, bad, &len);
    if (s_verify(text, len, &rep, &err) != ICS_OK)
        fail_msg("the golden log does not verify: %s", err.msg);
    assert_int_equal(rep.entries, ics_fsm_position(l->fx->fsm) - 1);
    assert_true(rep.checkpoints >= 2);
    certified = rep.certified_position;

    /* The file, and single-byte changes spread over it (about 128), through
     * Appendix B: the same verdict, at the same position where both name an
     * entry. */
    assert_non_null(mkdtemp(dir));
    snprintf(listpath, sizeof listpath, "%s/list", dir);
    list = fopen(listpath, "w");
    assert_non_null(list);
    stride = len / 128 + 1;
    want = calloc(len / stride + 3, sizeof *want);
    assert_non_null(want);
    /* File 0 as it is, then one change every stride bytes, then the
     * golden log with its alarm (refused where the checkpoint is). */
    for (size_t i = len; n == 0 || i < len; i = n == 0 ? 0 : i + stride, n++) {
        snprintf(path, sizeof path, "%s/%zu", dir, n);
        if (i < len)
            text[i] ^= 0x04;
        s_write(path, text, len);
        f = fmemopen(text, len, "r");
        want[n] = ics_log_verify(f, &rep, &err) == ICS_OK ? 0 : rep.bad_position + 1;
        fclose(f);
        if (i < len)
            text[i] ^= 0x04;
        fprintf(list, "%s\n", path);
    }
    {
        size_t alarm_len = 0;
        char *alarm = s_export(l, 0, &alarm_len);
        snprintf(path, sizeof path, "%s/%zu", dir, n);
        s_write(path, alarm, alarm_len);
        want[n++] = bad + 1;
        fprintf(list, "%s\n", path);
        free(alarm);
    }
    fclose(list);
    py = s_python(dir, listpath);
    if (py != NULL) {
        size_t k = 0;
        char first[64];
        if (certified > 0)
            snprintf(first, sizeof first, "certified up to position %llu ",
                     (unsigned long long)certified);
        else
            snprintf(first, sizeof first, "no position certified");
        if (strstr(py, first) == NULL || strncmp(py, "0 ok", 4) != 0)
            fail_msg("Appendix B on the golden log (%s/0): %.300s", dir, py);
        for (line = strtok_r(py, "\n", &save); line != NULL;
             line = strtok_r(NULL, "\n", &save), k++) {
            unsigned long long got = strtoull(line, NULL, 10);
            bool py_ok = strncmp(line, "0 ok", 4) == 0;
            assert_true(k < n);
            /* C: 0 ok, else bad position + 1; Python: its position, 0 for
             * the file as a whole. */
            if ((want[k] == 0) != py_ok || (!py_ok && got != 0 && got != want[k] - 1))
                fail_msg("change %zu: icsd says %s %llu, Appendix B says %s", k,
                         want[k] ? "bad at" : "ok",
                         want[k] ? (unsigned long long)want[k] - 1 : 0, line);
        }
        assert_int_equal(k, n);
        free(py);
    } else {
        fprintf(stderr, "python3 with 'cryptography' not found: Appendix B is not run\n");
    }
    for (size_t k = 0; k < n && getenv("ICS_VERIFY_KEEP") == NULL; k++) {
        snprintf(path, sizeof path, "%s/%zu", dir, k);
        unlink(path);
    }
    unlink(listpath);
    snprintf(path, sizeof path, "%s/verify.py", dir);
    unlink(path);
    if (getenv("ICS_VERIFY_KEEP") == NULL)
        assert_int_equal(rmdir(dir), 0);
    free(want);
    free(text);
}


/* ---------------------------------------------------------------- policies */

static void s_set(char **field, const char *value)
{
    if (*field != protobuf_c_empty_string) /* the shared "" of an unset field */
        free(*field);                       /* the rest were malloc'd */
    *field = strdup(value);
    assert_non_null(*field);
}

/* One change each to the NENC scheme, touching every rule of
 * ics_policy_valid; -1 leaves it as it is. */
static void s_mutate(Ics__V1__Policy *p, int which)
{
    Ics__V1__Rule *r = p->rules[0];
    switch (which) {
    case 0: s_set(&p->name, ""); break;
    case 1: s_set(&p->note, "two\nlines"); break;
    case 2: p->aid_threshold = (uint64_t)INT64_MAX + 1; break;
    case 3: p->n_roles = 0; break; /* put back before it is freed */
    case 4: s_set(&p->roles[0]->id, "Chair"); break;
    case 5: s_set(&p->roles[1]->id, p->roles[0]->id); break;
    case 6: s_set(&p->roles[0]->title, ""); break;
    case 7: s_set(&p->roles[0]->appointed_by, "ICB"); break;
    case 8: p->roles[0]->max_holders = 10001; break;
    case 9: s_set(&p->bodies[0]->id, "9board"); break;
    case 10: s_set(&p->bodies[0]->kind, ""); break;
    case 11: s_set(&p->bodies[0]->roles[0], "nobody"); break;
    case 12: p->bodies[0]->n_roles = 0; break; /* likewise */
    case 13: s_set(&r->id, p->rules[1]->id); break;
    case 14: r->decision = 9; break;
    case 15: s_set(&r->body, ""); s_set(&r->role, ""); break;
    case 16: s_set(&r->body, "nobody"); break;
    case 17: r->quorum_num = 1; r->quorum_den = 0; break;
    case 18: r->quorum_num = 3; r->quorum_den = 2; break;
    case 19: r->quorum_count = 10001; break;
    case 20: r->threshold = 3; break;
    case 21: r->period_ms = 999; break;
    case 22: r->period_ms = 366ull * 86400000ull + 1; break;
    case 23: s_set(&r->scope, "org: QHM"); break;
    case 24: r->up_to = 5; break;
    case 25: s_set(&r->note, "a\x7f"); break;
    case 26:
        for (size_t i = 0; i < p->n_rules; i++)
            if (p->rules[i]->n_proposers > 0)
                s_set(&p->rules[i]->proposers[0], "nobody");
        break;
    case 27:
        for (size_t i = 0; i < p->n_rules; i++)
            if (p->rules[i]->n_quorum_roles > 0)
                s_set(&p->rules[i]->quorum_roles[0], "chair||non_executive");
        break;
    case 28:
        for (size_t i = 0; i < p->n_rules; i++)
            if (p->rules[i]->decision == ICS__V1__DECISION__DECISION_PLAN_ADOPT)
                s_set(&p->rules[i]->scope, "plan:jfp");
        break;
    case 29: s_set(&r->role, p->roles[0]->id); break; /* body and role both */
    case 30: s_set(&p->roles[0]->title, "caf\xc3\xa9 \xe2\x80\x94 ok"); break; /* still valid */
    default: break;
    }
}

#define S_MUTATIONS 31

/* Appendix B's policy_problem against ics_policy_valid on the NENC scheme
 * and each change of it: the same verdict. */
static void test_policy_rules_agree(void **state)
{
    char dir[] = "/tmp/icsd-test-vpolicy-XXXXXX", path[128], cmd[1024];
    bool valid[S_MUTATIONS + 1];
    char why[ICS_REASON_MAX], out[4096];
    size_t n;
    FILE *p;
    ics_err_t err;

    (void)state;
    if (system("python3 -c 'import cryptography' >/dev/null 2>&1") != 0) {
        fprintf(stderr, "python3 with 'cryptography' not found: Appendix B is not run\n");
        return;
    }
    assert_non_null(mkdtemp(dir));
    for (int m = -1; m < S_MUTATIONS; m++) {
        Ics__V1__Policy *pol = NULL;
        uint8_t *buf = NULL;
        size_t len = 0, roles, body_roles;
        if (ics_policy_load(ICS_SOURCE_DIR "/deploy/examples/nenc-policy.ini", &pol, &err) !=
            ICS_OK)
            fail_msg("%s", err.msg);
        roles = pol->n_roles;
        body_roles = pol->bodies[0]->n_roles;
        s_mutate(pol, m);
        valid[m + 1] = ics_policy_valid(pol, why, sizeof why);
        assert_int_equal(ics_pack(&pol->base, &buf, &len), ICS_OK);
        pol->n_roles = roles;
        pol->bodies[0]->n_roles = body_roles;
        snprintf(path, sizeof path, "%s/%d", dir, m + 1);
        s_write(path, (const char *)buf, len);
        free(buf);
        ics__v1__policy__free_unpacked(pol, NULL);
    }
    /* The scheme as it is and the last change are valid, every other
     * change is not. */
    for (int i = 0; i <= S_MUTATIONS; i++)
        if (valid[i] != (i == 0 || i == S_MUTATIONS))
            fail_msg("change %d: ics_policy_valid says %s", i - 1, valid[i] ? "valid" : "invalid");
    snprintf(cmd, sizeof cmd,
             "sed -n '/^## Appendix B/,$p' '%s/docs/log-format.md' | sed -n "
             "'/^```python$/,/^```$/p' | sed '1d;$d' > '%s/verify.py' && cd '%s' && "
             "PYTHONDONTWRITEBYTECODE=1 python3 -c 'import verify\n"
             "for i in range(%d):\n"
             "    p = verify.policy_problem(verify.msg(open(str(i), \"rb\").read(),"
             " verify.POLICY))\n"
             "    print(\"valid\" if p is None else \"invalid\")\n'",
             ICS_SOURCE_DIR, dir, dir, S_MUTATIONS + 1);
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    {
        char *save = NULL, *line = strtok_r(out, "\n", &save);
        for (int i = 0; i <= S_MUTATIONS; i++, line = strtok_r(NULL, "\n", &save)) {
            assert_non_null(line);
            if (strcmp(line, valid[i] ? "valid" : "invalid") != 0)
                fail_msg("change %d: ics_policy_valid says %s, Appendix B %s", i - 1,
                         valid[i] ? "valid" : "invalid", line);
        }
    }
    for (int i = 0; i <= S_MUTATIONS; i++) {
        snprintf(path, sizeof path, "%s/%d", dir, i);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/verify.py", dir);
    unlink(path);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_log_alarm_refused),
        cmocka_unit_test(test_golden_log_verifies),
        cmocka_unit_test(test_policy_rules_agree),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
