/*
 * icsctl against real nodes: what an operator sees, as the icsctl binary
 * prints it. An organisation the group does not know is an error; every
 * read under --json takes the one form of docs/cli-json.md; text a partner
 * wrote (a person's name, --as, a note) reaches another partner's terminal
 * with its control characters shown, not obeyed, while --json keeps them;
 * aid accept and aid cancel say what actually happened.
 *
 * Layout: fixture, helpers (running icsctl and reading what it printed),
 * domain assertions, then scenarios.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

static const char *const ORGS[] = {"QHM", "RTD", "RX4"};
static const char *const KINDS[] = {"icb", "foundation_trust", "mental_health"};
enum { QHM, RTD, RX4 };

/* ---------------------------------------------------------------- fixture */

typedef struct {
    h_cluster_t c;
    char out[65536];
    char err[8192];
} fx_t;

static bool s_have_leader(h_cluster_t *c, void *arg)
{
    (void)arg;
    return h_leader(c) >= 0;
}

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    h_cluster_init(&fx->c, 3, ORGS, KINDS);
    for (int i = 0; i < 3; i++)
        h_start(&fx->c, i);
    assert_true(h_wait(s_have_leader, &fx->c, NULL, 15000));
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    for (int i = 0; i < 3; i++)
        h_stop(&fx->c, i);
    h_cluster_destroy(&fx->c);
    free(fx);
    return 0;
}

/* ---------------------------------------------------------------- helpers */

/* Runs icsctl on node i with args (shell words); keeps stdout and stderr
 * in fx->out and fx->err; returns the exit status. */
static int s_ctl(fx_t *fx, int i, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int s_ctl(fx_t *fx, int i, const char *fmt, ...)
{
    char args[1024], out[600], err[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(out, sizeof out, "%s/cli.out", fx->c.dir);
    snprintf(err, sizeof err, "%s/cli.err", fx->c.dir);
    /* Each organisation's people keep their keys in their own directory. */
    bool offline = strncmp(args, "keys ", 5) == 0; /* talks to no node */
    int rc = h_sh("ICSD_PERSON_DIR='%s/people-%s' " ICSCTL_BIN " %s%s%s %s >'%s' 2>'%s'",
                  fx->c.dir, fx->c.nodes[i].org, offline ? "" : "-s '",
                  offline ? "" : fx->c.nodes[i].control, offline ? "" : "'", args, out, err);
    h_slurp(out, fx->out, sizeof fx->out);
    h_slurp(err, fx->err, sizeof fx->err);
    return rc;
}

/* person of node i's organisation makes a key (keys person-gen) and is
 * registered with it: by the organisation alone when admin (its first
 * administrator), else signed by the administrator by. */
static void s_person(fx_t *fx, int i, const char *person, const char *by)
{
    char pub[ICS_PUBKEY_TEXT_MAX];

    if (s_ctl(fx, i, "keys person-gen %s", person) != 0)
        fail_msg("keys person-gen %s failed: %s", person, fx->err);
    if (sscanf(fx->out, "%63s", pub) != 1)
        fail_msg("keys person-gen printed no key: %s", fx->out);
    if (by == NULL && s_ctl(fx, i, "people register %s --name '%s' --key %s --admin", person,
                            person, pub) != 0)
        fail_msg("registering %s failed: %s%s", person, fx->out, fx->err);
    if (by != NULL && s_ctl(fx, i, "--as %s people register %s --name '%s' --key %s", by,
                            person, person, pub) != 0)
        fail_msg("registering %s failed: %s%s", person, fx->out, fx->err);
}

/* The number in "<what> N ..." at the start of the output. */
static uint64_t s_made(fx_t *fx, const char *what)
{
    size_t n = strlen(what);
    char *end = NULL;
    unsigned long long id = 0;
    if (strncmp(fx->out, what, n) == 0 && fx->out[n] == ' ')
        id = strtoull(fx->out + n + 1, &end, 10);
    if (id == 0 || end == NULL || *end != ' ')
        fail_msg("expected '%s N ...', got: %s%s", what, fx->out, fx->err);
    return id;
}

/* ---------------------------------------------------------------- assertions */

#define ASSERT_CONTAINS(haystack, needle)                                                \
    do {                                                                                 \
        if (strstr((haystack), (needle)) == NULL)                                        \
            fail_msg("expected '%s' in:\n%s", (needle), (haystack));                     \
    } while (0)

#define ASSERT_LACKS(haystack, needle)                                                   \
    do {                                                                                 \
        if (strstr((haystack), (needle)) != NULL)                                        \
            fail_msg("did not expect '%s' in:\n%s", (needle), (haystack));               \
    } while (0)

/* The command succeeds on node i. */
#define ASSERT_OK(fx, i, ...)                                                            \
    do {                                                                                 \
        if (s_ctl(fx, i, __VA_ARGS__) != 0)                                              \
            fail_msg("icsctl %s failed:\n%s%s", #__VA_ARGS__, (fx)->out, (fx)->err);     \
    } while (0)

/* No raw control character but newline and tab reached the terminal. */
static void s_assert_no_controls(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f ||
            (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
            fail_msg("raw control byte 0x%02x at offset %td in:\n%s", *p,
                     (const char *)p - text, text);
}

/* The output is one JSON object whose members are the item key and at
 * most the context (group, clock_ms). */
static void s_assert_one_form(const char *json, const char *key, const char *cmd)
{
    cj_t doc, k, v;
    size_t pos = 0;
    bool has = false;

    if (!cj_parse(json, strlen(json), &doc) || !cj_is_object(doc))
        fail_msg("%s: not one JSON object: %s", cmd, json);
    while (cj_member(doc, &pos, &k, &v)) {
        if (cj_key_is(k, key))
            has = true;
        else if (!cj_key_is(k, "group") && !cj_key_is(k, "clock_ms"))
            fail_msg("%s: member %.*s beside \"%s\": %.200s", cmd, (int)k.n, k.p, key, json);
    }
    if (!has)
        fail_msg("%s: no \"%s\": %.200s", cmd, key, json);
}

/* ---------------------------------------------------------------- scenarios */

static void an_unknown_organisation_is_an_error(void **state)
{
    fx_t *fx = *state;

    assert_int_equal(s_ctl(fx, QHM, "people list ZZZ"), 1);
    ASSERT_CONTAINS(fx->err, "people list: the group knows no organisation 'ZZZ'");
    assert_string_equal(fx->out, "");
    assert_int_equal(s_ctl(fx, QHM, "opel show ZZZ"), 1);
    ASSERT_CONTAINS(fx->err, "opel show: the group knows no organisation 'ZZZ'");
    assert_int_equal(s_ctl(fx, QHM, "--json opel history ZZZ"), 1);
    ASSERT_CONTAINS(fx->out, "{\"error\":{\"code\":1,\"message\":\"opel history: the group "
                             "knows no organisation 'ZZZ'");
    /* A member with nobody registered and no report yet is not unknown. */
    ASSERT_OK(fx, QHM, "people list RX4");
    ASSERT_OK(fx, QHM, "opel show RX4");
    /* Nor is an organisation registered without a node. */
    ASSERT_OK(fx, QHM, "people org add HWB-X --kind hwb --name Board");
    ASSERT_OK(fx, QHM, "people list HWB-X");
    ASSERT_CONTAINS(fx->out, "HWB-X");
    /* status -g names a group this node is not in. */
    assert_int_equal(s_ctl(fx, QHM, "-g elsewhere status"), 1);
    ASSERT_CONTAINS(fx->err, "this node is not in group 'elsewhere'");
}

static void every_read_takes_one_json_form(void **state)
{
    fx_t *fx = *state;
    static const struct {
        const char *args, *key;
    } reads[] = {
        {"status", "status"},
        {"members", "members"},
        {"log tail -n 3", "entries"},
        {"log show 1", "entry"},
        {"plan list", "plans"},
        {"amend list", "amendments"},
        {"consult list", "consultations"},
        {"motion list", "motions"},
        {"policy show", "policy"},
        {"people list", "directory"},
        {"opel show", "opel"},
        {"opel history", "history"},
        {"opel parameters", "provider_types"},
        {"aid list --status all", "requests"},
        {"aid board", "board"},
        {"aid resources", "resources"},
    };

    /* Something to read: a report, a request, a motion. */
    s_person(fx, RTD, "site.director", NULL);
    ASSERT_OK(fx, RTD, "--as site.director opel set 3 --type acute ga_occupancy_pct=97");
    ASSERT_OK(fx, RTD, "aid request ga_beds 2 --urgency 24h --site RVI --reason r "
                       "--contact c");
    uint64_t req = s_made(fx, "request");
    s_person(fx, QHM, "ceo", NULL);
    ASSERT_OK(fx, QHM, "people role QHM/ceo chief_executive");
    ASSERT_OK(fx, QHM, "--as ceo motion propose remove RX4 --title 'Remove RX4'");
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        ASSERT_OK(fx, RTD, "--json %s", reads[i].args);
        s_assert_one_form(fx->out, reads[i].key, reads[i].args);
    }
    ASSERT_OK(fx, RTD, "--json aid show %llu", (unsigned long long)req);
    s_assert_one_form(fx->out, "request", "aid show");
    ASSERT_CONTAINS(fx->out, "\"status\":\"open\"");
    /* motion show: the motion's own fields in the item, not under "record". */
    ASSERT_OK(fx, RTD, "--json --fresh motion list");
    cj_t doc, list, first, v;
    size_t pos = 0;
    uint64_t motion = 0;
    assert_true(cj_parse(fx->out, strlen(fx->out), &doc));
    assert_true(cj_get(doc, "motions", &list) && cj_element(list, &pos, &first));
    assert_true(cj_get(first, "motion", &v) && cj_u64(v, &motion));
    ASSERT_OK(fx, RTD, "--json --fresh motion show %llu", (unsigned long long)motion);
    s_assert_one_form(fx->out, "motion", "motion show");
    assert_true(cj_parse(fx->out, strlen(fx->out), &doc) && cj_get(doc, "motion", &v));
    cj_t status;
    assert_true(cj_get(v, "status", &status));
    assert_false(cj_get(v, "record", &status));
}

static void partners_text_is_shown_not_obeyed(void **state)
{
    fx_t *fx = *state;
    /* An --as with an OSC title sequence and a screen clear (a person id
     * nobody can register: the entry is refused, and recorded), data with a
     * carriage return, a note with a newline forging a line. */
    const char *as = "\"$(printf 'evil\\033]0;pwned\\007\\033[2J')\"";
    ASSERT_OK(fx, RTD, "keys person-gen %s", as);
    assert_int_equal(s_ctl(fx, RTD, "--as %s submit \"$(printf 'ok\\rFAKE')\" --note \"$(printf "
                                    "'n\\n   99  forged')\"", as), 1);
    s_assert_no_controls(fx->out);
    uint64_t at = 0;
    assert_int_equal(sscanf(fx->out, "rejected at index %llu", (unsigned long long *)&at), 1);

    ASSERT_OK(fx, RTD, "log tail -n 20");
    s_assert_no_controls(fx->out);
    ASSERT_CONTAINS(fx->out, "evil\\x1b]0;pwned\\x07\\x1b[2J");
    ASSERT_OK(fx, RTD, "log show %llu", (unsigned long long)at);
    s_assert_no_controls(fx->out);
    ASSERT_CONTAINS(fx->out, "data       ok\\x0dFAKE\n");
    ASSERT_CONTAINS(fx->out, "note       n\\x0a   99  forged\n");
    /* Read on another partner's node. */
    for (int t = 0; t < 100 && s_ctl(fx, QHM, "log show %llu", (unsigned long long)at) != 0; t++)
        h_sleep_ms(50); /* QHM's node applies it a moment later */
    ASSERT_OK(fx, QHM, "log show %llu", (unsigned long long)at);
    s_assert_no_controls(fx->out);
    ASSERT_CONTAINS(fx->out, "evil\\x1b]0;pwned\\x07\\x1b[2J");

    /* --json keeps the characters, JSON-escaped. */
    ASSERT_OK(fx, RTD, "--json log show %llu", (unsigned long long)at);
    s_assert_no_controls(fx->out);
    cj_t doc, entry, v;
    char actor[128];
    assert_true(cj_parse(fx->out, strlen(fx->out), &doc));
    assert_true(cj_get(doc, "entry", &entry) && cj_get(entry, "actor", &v));
    assert_true(cj_str(v, actor, sizeof actor));
    assert_string_equal(actor, "evil\033]0;pwned\007\033[2J");
}

/* Each person signs with their own key: a vote signed with another
 * person's key is refused, a revoked person's signature counts no more,
 * and two people of one organisation vote separately and both count. */
static void people_sign_what_they_do(void **state)
{
    fx_t *fx = *state;
    char want[256], path_one[1024], path_two[1024];

    s_person(fx, QHM, "board.secretary", NULL);
    s_person(fx, QHM, "ceo", "board.secretary");
    s_person(fx, QHM, "ned.one", "board.secretary");
    s_person(fx, QHM, "ned.two", "board.secretary");
    ASSERT_OK(fx, QHM, "people role QHM/ceo chief_executive");
    ASSERT_OK(fx, QHM, "people role QHM/ned.one non_executive");
    ASSERT_OK(fx, QHM, "people role QHM/ned.two non_executive");
    /* Without a key of their own, nobody acts as a person. */
    assert_int_equal(s_ctl(fx, QHM, "--as sir.nobody motion propose remove RX4 --title T"), 1);
    ASSERT_CONTAINS(fx->err, "you hold no key of sir.nobody");
    ASSERT_OK(fx, QHM, "--as ceo motion propose remove RX4 --title 'Remove RX4'");
    uint64_t m = 0;
    ASSERT_OK(fx, QHM, "--json --fresh motion list");
    {
        cj_t doc, list, first, v;
        size_t pos = 0;
        assert_true(cj_parse(fx->out, strlen(fx->out), &doc));
        assert_true(cj_get(doc, "motions", &list) && cj_element(list, &pos, &first));
        assert_true(cj_get(first, "motion", &v) && cj_u64(v, &m));
    }
    /* ned.two's key file holding ned.one's key: refused. */
    snprintf(path_one, sizeof path_one, "%s/people-QHM/person-ned.one.key", fx->c.dir);
    snprintf(path_two, sizeof path_two, "%s/people-QHM/person-ned.two.key", fx->c.dir);
    assert_int_equal(h_sh("mv '%s' '%s.saved' && cp -p '%s' '%s'", path_two, path_two, path_one,
                          path_two), 0);
    assert_int_equal(s_ctl(fx, QHM, "--as ned.two vote %llu for", (unsigned long long)m), 1);
    ASSERT_CONTAINS(fx->out, "person signature of ned.two of QHM is by key ");
    ASSERT_CONTAINS(fx->out, "not the key registered for them");
    assert_int_equal(h_sh("mv '%s.saved' '%s'", path_two, path_two), 0);
    /* Two people of QHM vote, each with their own key: both count. */
    ASSERT_OK(fx, QHM, "--as ned.one vote %llu for", (unsigned long long)m);
    ASSERT_OK(fx, QHM, "--as ned.two vote %llu against", (unsigned long long)m);
    ASSERT_OK(fx, QHM, "--fresh motion show %llu", (unsigned long long)m);
    ASSERT_CONTAINS(fx->out, "ned.one");
    ASSERT_CONTAINS(fx->out, "ned.two");
    /* ned.two rotates their key: the old one no longer signs. */
    ASSERT_OK(fx, QHM, "--as ned.two people rotate");
    ASSERT_OK(fx, QHM, "--as ned.two people interest tag:wards --description 'A trustee'");
    /* Revoked by the administrator: refused. */
    ASSERT_OK(fx, QHM, "--as board.secretary people revoke ned.one");
    assert_int_equal(s_ctl(fx, QHM, "--as ned.one vote %llu against", (unsigned long long)m), 1);
    snprintf(want, sizeof want, "ned.one of QHM was revoked at index ");
    ASSERT_CONTAINS(fx->out, want);
    /* An administrator enters a declaration for the chief executive (the
     * entry names both); never a vote. */
    ASSERT_OK(fx, QHM, "--as board.secretary --on-behalf-of ceo people interest org:RX4 "
                       "--description 'Governor of RX4'");
    unsigned long long at = 0;
    assert_int_equal(sscanf(fx->out, "accepted at index %llu", &at), 1);
    ASSERT_OK(fx, QHM, "--fresh people list QHM");
    ASSERT_CONTAINS(fx->out, "org:RX4");
    ASSERT_OK(fx, QHM, "log show %llu", at);
    ASSERT_CONTAINS(fx->out, "actor      board.secretary\n");
    ASSERT_CONTAINS(fx->out, "on behalf  ceo (entered by board.secretary)\n");
    ASSERT_OK(fx, QHM, "--json log show %llu", at);
    ASSERT_CONTAINS(fx->out, "\"actor\":\"board.secretary\",\"on_behalf_of\":\"ceo\"");
    ASSERT_OK(fx, QHM, "log tail -n 1 --person ceo");
    ASSERT_CONTAINS(fx->out, " board.secretary for ceo ");
    /* Its event, in watch, names both too. */
    ASSERT_OK(fx, QHM,
              "--as board.secretary --on-behalf-of ceo motion propose remove RX4 "
              "--title 'Remove RX4 (II)'");
    assert_int_equal(sscanf(fx->out, "accepted at index %llu", &at), 1);
    ASSERT_OK(fx, QHM, "--json watch --since %llu --limit 1", at - 1);
    ASSERT_CONTAINS(fx->out, "\"kind\":\"motion.opened\"");
    ASSERT_CONTAINS(fx->out, "\"actor\":\"board.secretary\",\"on_behalf_of\":\"ceo\"");
    ASSERT_OK(fx, QHM, "watch --since %llu --limit 1", at - 1);
    ASSERT_CONTAINS(fx->out, "(entered by board.secretary on behalf of ceo)\n");
    assert_int_equal(s_ctl(fx, QHM, "--as board.secretary --on-behalf-of ned.one vote %llu for",
                           (unsigned long long)m), 2);
    /* A key sealed with a passphrase signs only with it. */
    setenv("ICSD_PASSPHRASE", "correct horse", 1);
    ASSERT_OK(fx, QHM, "keys person-gen fiona.d --passphrase");
    char pub[ICS_PUBKEY_TEXT_MAX];
    assert_int_equal(sscanf(fx->out, "%63s", pub), 1);
    ASSERT_OK(fx, QHM, "--as board.secretary people register fiona.d --name Fiona --key %s", pub);
    ASSERT_OK(fx, QHM, "--as fiona.d people interest tag:audit --description 'An auditor'");
    /* Rotated, a sealed key's successor is sealed too (and signs); a plain
     * key's stays plain unless --passphrase says otherwise. */
    ASSERT_OK(fx, QHM, "--as fiona.d people rotate");
    assert_int_equal(
        h_sh("grep -q '^icsd-sealed-ed25519:' '%s/people-QHM/person-fiona.d.key'", fx->c.dir), 0);
    assert_int_equal(h_sh("test ! -e '%s/people-QHM/person-fiona.d.key.new'", fx->c.dir), 0);
    ASSERT_OK(fx, QHM, "--as fiona.d people interest tag:after --description 'Rotated'");
    assert_int_equal(
        h_sh("grep -q '^ed25519-secret:' '%s/people-QHM/person-ned.two.key'", fx->c.dir), 0);
    ASSERT_OK(fx, QHM, "--as ceo people rotate --passphrase");
    assert_int_equal(
        h_sh("grep -q '^icsd-sealed-ed25519:' '%s/people-QHM/person-ceo.key'", fx->c.dir), 0);
    ASSERT_OK(fx, QHM, "--as ceo people interest tag:sealed --description 'Sealed now'");
    setenv("ICSD_PASSPHRASE", "wrong", 1);
    assert_int_equal(s_ctl(fx, QHM, "--as fiona.d people interest tag:other --description x"), 1);
    ASSERT_CONTAINS(fx->err, "wrong passphrase");
    assert_int_equal(s_ctl(fx, QHM, "--as ceo people interest tag:x --description x"), 1);
    ASSERT_CONTAINS(fx->err, "wrong passphrase");
    unsetenv("ICSD_PASSPHRASE");
    /* A person who is not an administrator registers nobody. */
    assert_int_equal(s_ctl(fx, QHM, "--as ned.two people revoke ceo"), 1);
    ASSERT_CONTAINS(fx->out, "ned.two is not an administrator of QHM");
}

/* The control socket knows who is local: with [control] admin_group set,
 * a Unix user outside it may submit but not administer. */
static void an_unprivileged_user_cannot_administer(void **state)
{
    fx_t *fx = *state;

    if (geteuid() != 0 || h_sh("command -v setpriv >/dev/null") != 0 ||
        h_sh("id nobody >/dev/null 2>&1") != 0) {
        print_message("skipped: needs root, setpriv and the user nobody\n");
        return;
    }
    h_stop(&fx->c, RTD);
    snprintf(fx->c.nodes[RTD].node_extra, sizeof fx->c.nodes[RTD].node_extra,
             "\n[control]\nadmin_group = root\n");
    h_start(&fx->c, RTD);
    assert_int_equal(h_sh("chmod 755 '%s' && chmod 666 '%s'", fx->c.dir,
                          fx->c.nodes[RTD].control + 6), 0);
    char out[600];
    snprintf(out, sizeof out, "%s/nobody.out", fx->c.dir);
    int rc = h_sh("cd / && setpriv --reuid=nobody --regid=nogroup --clear-groups env "
                  "HOME=/nonexistent " ICSCTL_BIN " -s '%s' people org add HWB-Y --kind hwb "
                  "--name Y >'%s' 2>&1", fx->c.nodes[RTD].control, out);
    h_slurp(out, fx->out, sizeof fx->out);
    assert_int_not_equal(rc, 0);
    ASSERT_CONTAINS(fx->out, "needs membership of the Unix group root");
    rc = h_sh("cd / && setpriv --reuid=nobody --regid=nogroup --clear-groups env "
              "HOME=/nonexistent " ICSCTL_BIN " -s '%s' -t 10000 opel set 2 --type acute >'%s' 2>&1",
              fx->c.nodes[RTD].control, out);
    h_slurp(out, fx->out, sizeof fx->out);
    if (rc != 0)
        fail_msg("an ordinary submission by nobody failed: %s", fx->out);
    /* root still administers. */
    ASSERT_OK(fx, RTD, "people org add HWB-Y --kind hwb --name Y --parent RTD");
}

static void aid_says_what_happened(void **state)
{
    fx_t *fx = *state;

    /* 12 beds agreed on one request is above the built-in scheme's
     * threshold of 10: the acceptance waits for the chief executive. */
    s_person(fx, RTD, "site.director", NULL);
    s_person(fx, RX4, "bed.manager", NULL);
    ASSERT_OK(fx, RTD, "--as site.director aid request ga_beds 12 --urgency 4h --site RVI "
                       "--reason 'OPEL 4' --contact 'Site director'");
    uint64_t big = s_made(fx, "request");
    ASSERT_OK(fx, RX4, "--as bed.manager aid offer %llu 12", (unsigned long long)big);
    uint64_t offer = s_made(fx, "offer");
    ASSERT_OK(fx, RTD, "--as site.director aid accept %llu", (unsigned long long)offer);
    char want[256];
    snprintf(want, sizeof want, "offer %llu awaits approval by ", (unsigned long long)offer);
    ASSERT_CONTAINS(fx->out, want);
    ASSERT_CONTAINS(fx->out, "not yet accepted (icsctl aid approve ");
    snprintf(want, sizeof want, "offer %llu accepted", (unsigned long long)offer);
    ASSERT_LACKS(fx->out, want);
    /* Cancelled with nothing delivered: cancelled. */
    ASSERT_OK(fx, RTD, "--json aid cancel %llu", (unsigned long long)big);
    ASSERT_CONTAINS(fx->out, "\"accepted\":true");
    ASSERT_CONTAINS(fx->out, "\"request_status\":\"cancelled\"");

    /* At or below the threshold: accepted. Delivered, then cancelled: the
     * request is closed, and the aid in use stays. */
    ASSERT_OK(fx, RTD, "--as site.director aid request ga_beds 3 --urgency 4h --site RVI "
                       "--reason r --contact c");
    uint64_t small = s_made(fx, "request");
    ASSERT_OK(fx, RX4, "aid offer %llu 3", (unsigned long long)small);
    offer = s_made(fx, "offer");
    ASSERT_OK(fx, RTD, "--json aid accept %llu", (unsigned long long)offer);
    ASSERT_CONTAINS(fx->out, "\"offer_status\":\"accepted\"");
    ASSERT_OK(fx, RX4, "aid deliver %llu", (unsigned long long)offer);
    /* RTD's node applies the delivery a moment after RX4's. */
    for (int t = 0; t < 100; t++) {
        s_ctl(fx, RTD, "--json aid show %llu", (unsigned long long)small);
        if (strstr(fx->out, "\"in_use\":3") != NULL)
            break;
        h_sleep_ms(50);
    }
    ASSERT_OK(fx, RTD, "aid cancel %llu", (unsigned long long)small);
    snprintf(want, sizeof want, "request %llu closed, not cancelled: the aid already delivered "
             "(3 beds in use) stays until handed back", (unsigned long long)small);
    ASSERT_CONTAINS(fx->out, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(an_unknown_organisation_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(every_read_takes_one_json_form, setup, teardown),
        cmocka_unit_test_setup_teardown(partners_text_is_shown_not_obeyed, setup, teardown),
        cmocka_unit_test_setup_teardown(aid_says_what_happened, setup, teardown),
        cmocka_unit_test_setup_teardown(people_sign_what_they_do, setup, teardown),
        cmocka_unit_test_setup_teardown(an_unprivileged_user_cannot_administer, setup, teardown),
    };
    return cmocka_run_group_tests_name("cluster icsctl", tests, NULL, NULL);
}
