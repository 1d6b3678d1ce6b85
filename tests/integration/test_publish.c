/*
 * The public register as a member of the public sees it: three real
 * nodes, a short walkthrough through icsctl (a plan amended and adopted
 * after a consultation in which the health and wellbeing board gave its
 * opinion, a vote from which a member with a declared interest is
 * excluded; partners' text with HTML in it), then `icsctl publish site
 * DIR` from another partner's node. Every page is checked by an HTML
 * parser (dashboard_check.py parse), then loaded from file:// in headless
 * Chromium with every network request recorded (dashboard_check.py
 * site): no request may leave the machine, every internal link must
 * resolve, and the DOM must show what a reader looks for: the plan's
 * title, the vote counts, the HWB's opinion, the audit-log index of each
 * item. A screenshot is written to the test's temporary directory
 * (ICS_TEST_KEEP=1 keeps it). Also: what publish refuses (a DIR that is
 * not empty without --force) and that a failed run leaves DIR as it was.
 *
 * Skipped, saying so, when Chromium is not installed (deploy/deps.sh
 * installs Debian's chromium).
 *
 * Layout: fixture, helpers, assertions, scenarios.
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const ORGS[] = {"QHM", "RTD", "E06000057"};
static const char *const KINDS[] = {"icb", "foundation_trust", "local_authority"};
enum { QHM, RTD, LA };

#define PLAN "jfp-2026"
#define PLAN_TITLE "Joint Forward Plan 2026/27 to 2030/31"
#define HWB_REASONS                                                                                \
    "The plan reflects our strategy: healthy ageing & <em>tackling</em> inequalities."

/* ---------------------------------------------------------------- fixture */

typedef struct {
    h_cluster_t c;
    char chromium[256];
    char out[262144];
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

static void s_slurp(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;
    if (f != NULL) {
        n = fread(buf, 1, size - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
}

/* Runs icsctl on node i with args (shell words); keeps stdout and stderr
 * in fx->out and fx->err; returns the exit status. */
static int s_ctl(fx_t *fx, int i, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int s_ctl(fx_t *fx, int i, const char *fmt, ...)
{
    char args[1536], out[600], err[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(out, sizeof out, "%s/cli.out", fx->c.dir);
    snprintf(err, sizeof err, "%s/cli.err", fx->c.dir);
    int rc = h_sh("env -u ICSCTL_CONFIG -u ICSCTL_GROUP " ICSCTL_BIN " -s '%s' %s >'%s' 2>'%s'",
                  fx->c.nodes[i].control, args, out, err);
    s_slurp(out, fx->out, sizeof fx->out);
    s_slurp(err, fx->err, sizeof fx->err);
    return rc;
}

#define ASSERT_OK(fx, i, ...)                                                                      \
    do {                                                                                           \
        if (s_ctl((fx), (i), __VA_ARGS__) != 0)                                                    \
            fail_msg("icsctl failed: %s%s", (fx)->out, (fx)->err);                                 \
    } while (0)

/* The number a --json submission made ("amendment":N, "motion":N). */
static uint64_t s_made(fx_t *fx, const char *key)
{
    char want[64];
    snprintf(want, sizeof want, "\"%s\":", key);
    const char *p = strstr(fx->out, want);
    uint64_t id = p != NULL ? strtoull(p + strlen(want), NULL, 10) : 0;
    if (id == 0)
        fail_msg("expected %s in: %s%s", want, fx->out, fx->err);
    return id;
}

/* Polls a --fresh read on node i until its output contains needle. */
static void s_until(fx_t *fx, int i, const char *needle, const char *args)
{
    for (int t = 0; t < 300; t++) {
        if (s_ctl(fx, i, "--fresh %s", args) == 0 && strstr(fx->out, needle) != NULL)
            return;
        h_sleep_ms(100);
    }
    fail_msg("'%s' never showed '%s': %s%s", args, needle, fx->out, fx->err);
}

static bool s_find_chromium(fx_t *fx)
{
    const char *env = getenv("CHROMIUM");
    const char *candidates[] = {env, "/usr/bin/chromium", "/usr/bin/chromium-browser", NULL};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        if (candidates[i] != NULL && access(candidates[i], X_OK) == 0) {
            snprintf(fx->chromium, sizeof fx->chromium, "%s", candidates[i]);
            return true;
        }
    }
    return false;
}

static long s_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* A page of the published site as Chromium rendered it (its DOM, written
 * by dashboard_check.py site into DIR/dom/), into fx->out. */
static void s_dom(fx_t *fx, const char *page)
{
    char path[600];
    snprintf(path, sizeof path, "%s/dom/%s", fx->c.dir, page);
    if (s_file_size(path) < 0)
        fail_msg("Chromium did not render %s", page);
    s_slurp(path, fx->out, sizeof fx->out);
}

/* ---------------------------------------------------------------- assertions */

#define ASSERT_CONTAINS(haystack, needle)                                                          \
    do {                                                                                           \
        if (strstr((haystack), (needle)) == NULL)                                                  \
            fail_msg("expected '%s' in:\n%.6000s", (needle), (haystack));                          \
    } while (0)

#define ASSERT_LACKS(haystack, needle)                                                             \
    do {                                                                                           \
        if (strstr((haystack), (needle)) != NULL)                                                  \
            fail_msg("did not expect '%s' in:\n%.6000s", (needle), (haystack));                    \
    } while (0)

/* The item's audit-log index, as every page shows it. */
#define ASSERT_INDEX(haystack, index)                                                              \
    do {                                                                                           \
        char ix_[96];                                                                              \
        snprintf(ix_, sizeof ix_, "data-index=\"%llu\"", (unsigned long long)(index));             \
        ASSERT_CONTAINS((haystack), ix_);                                                          \
    } while (0)

#define ASSERT_PNG(path)                                                                           \
    do {                                                                                           \
        char sig_[9] = "";                                                                         \
        FILE *f_ = fopen((path), "rb");                                                            \
        if (f_ == NULL)                                                                            \
            fail_msg("no screenshot at %s", (path));                                               \
        size_t n_ = fread(sig_, 1, 8, f_);                                                         \
        fclose(f_);                                                                                \
        if (n_ != 8 || memcmp(sig_, "\x89PNG\r\n\x1a\n", 8) != 0 || s_file_size(path) < 5000)      \
            fail_msg("%s is not a PNG of a page", (path));                                         \
    } while (0)

/* ---------------------------------------------------------------- scenarios */

/* The walkthrough: returns the adoption motion; *amendment, *consultation
 * and *vote_index get the amendment, the consultation and the index of
 * the chair's vote. */
static uint64_t s_walkthrough(fx_t *fx, uint64_t *amendment, uint64_t *consultation,
                              uint64_t *vote_index)
{
    char path[600];

    h_person(&fx->c, QHM, "sir.liam");
    h_person(&fx->c, QHM, "sam.allen");
    h_person(&fx->c, QHM, "ned.one");
    h_person(&fx->c, QHM, "ned.two");
    h_person(&fx->c, LA, "cllr.hall");
    h_person(&fx->c, RTD, "dr.khan");
    ASSERT_OK(fx, QHM, "people role QHM/sir.liam chair");
    ASSERT_OK(fx, QHM, "people role QHM/sam.allen chief_executive");
    ASSERT_OK(fx, QHM, "people role QHM/ned.one non_executive");
    ASSERT_OK(fx, QHM, "people role QHM/ned.two non_executive");
    ASSERT_OK(fx, QHM, "people role RTD/dr.khan partner_trust");
    ASSERT_OK(fx, QHM, "people role E06000057/cllr.hall partner_local_authority");
    ASSERT_OK(fx, LA,
              "people org add HWB-N --kind hwb --name 'Northtown Health and Wellbeing "
              "Board' --parent E06000057");
    ASSERT_OK(fx, LA, "people role E06000057/cllr.hall hwb_chair --scope HWB-N");
    ASSERT_OK(fx, QHM,
              "--as ned.two people interest plan:" PLAN " --description "
              "'Chairs a provider collaborative bidding for the virtual wards'");

    snprintf(path, sizeof path, "%s/draft.md", fx->c.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("## intro Introduction\nHow the partners will meet the needs of 300,000 people.\n\n"
          "This plan takes account of the joint local health and wellbeing strategy.\n"
          "## urgent-care Urgent and emergency care\n"
          "Reduce ambulance handover delays at every acute site.\n",
          f);
    fclose(f);
    ASSERT_OK(fx, QHM,
              "--as sam.allen plan create " PLAN " --title '" PLAN_TITLE "' "
              "--period 2026/27-2030/31 --from '%s'",
              path);

    /* A trust amends it; the chief executive accepts, which makes version 2. */
    ASSERT_OK(fx, RTD,
              "--json --as dr.khan amend propose " PLAN " --base 1 --op replace "
              "--section urgent-care --text 'Handover within 30 minutes at every "
              "acute site.' --rationale 'The <b>30-minute</b> standard agreed with "
              "the ambulance service'");
    *amendment = s_made(fx, "amendment");
    ASSERT_OK(fx, QHM, "--as sam.allen amend accept %llu", (unsigned long long)*amendment);
    s_until(fx, QHM, "\"latest\":2", "--json plan list");

    /* Consultation on version 2; the HWB gives its opinion through its chair. */
    ASSERT_OK(fx, QHM,
              "--json --as sam.allen consult open " PLAN " 2 --closes +8s "
              "--consultees 'kind:hwb RTD' --question 'Does the draft meet the "
              "needs of your population?'");
    *consultation = s_made(fx, "motion");
    ASSERT_OK(fx, RTD,
              "--as dr.khan consult respond %llu --position support "
              "--text 'The urgent care commitments match our bed base plan.'",
              (unsigned long long)*consultation);
    ASSERT_OK(fx, LA,
              "--as cllr.hall consult respond %llu --for HWB-N --position support "
              "--hwb-opinion yes --hwb-reasons '" HWB_REASONS "' "
              "--text 'The board welcomes the plan.'",
              (unsigned long long)*consultation);
    char args[64];
    snprintf(args, sizeof args, "--json consult show %llu", (unsigned long long)*consultation);
    s_until(fx, QHM, "\"status\":\"closed\"", args);

    /* The board votes to adopt version 2; ned.two is excluded. */
    ASSERT_OK(fx, QHM,
              "--json --as sir.liam plan adopt " PLAN " 2 --title 'Adopt the joint "
              "forward plan' --text 'Adopt the plan after consultation.'");
    uint64_t motion = s_made(fx, "motion");
    assert_int_equal(s_ctl(fx, QHM, "--as ned.two vote %llu for", (unsigned long long)motion), 1);
    ASSERT_OK(fx, QHM, "--json --as sir.liam vote %llu for --reason 'A plan the partners own'",
              (unsigned long long)motion);
    *vote_index = s_made(fx, "index");
    ASSERT_OK(fx, QHM, "--as ned.one vote %llu against --reason 'Finance <i>unclear</i>'",
              (unsigned long long)motion);
    ASSERT_OK(fx, QHM, "--as sam.allen vote %llu for", (unsigned long long)motion);
    ASSERT_OK(fx, RTD, "--as dr.khan vote %llu abstain", (unsigned long long)motion);
    ASSERT_OK(fx, LA, "--as cllr.hall vote %llu for", (unsigned long long)motion);
    snprintf(args, sizeof args, "--json motion show %llu", (unsigned long long)motion);
    s_until(fx, RTD, "\"status\":\"carried\"", args);
    return motion;
}

static void the_register_in_the_browser(void **state)
{
    fx_t *fx = *state;
    uint64_t amendment, consultation, vote_index, motion;
    char want[256], path[600];

    if (!s_find_chromium(fx)) {
        fprintf(stderr, "publish: chromium is not installed (deploy/deps.sh installs "
                        "Debian's chromium); skipping the browser test\n");
        skip();
    }
    motion = s_walkthrough(fx, &amendment, &consultation, &vote_index);

    /* Another partner's node publishes the register. */
    ASSERT_OK(fx, RTD, "--fresh publish site '%s/site'", fx->c.dir);
    ASSERT_CONTAINS(fx->err, "the public register at log index");

    /* Every page parses, loads without a request leaving the machine,
     * and links only to pages that exist. */
    if (h_sh("python3 '" DASHBOARD_CHECK "' site '%s' '%s/site' '%s' decision-%llu.html "
             ">'%s/site.log' 2>&1",
             fx->chromium, fx->c.dir, fx->c.dir, (unsigned long long)motion, fx->c.dir) != 0) {
        snprintf(path, sizeof path, "%s/site.log", fx->c.dir);
        s_slurp(path, fx->err, sizeof fx->err);
        fail_msg("the published site failed its checks:\n%s", fx->err);
    }

    /* What a reader looks for, as Chromium shows it. */
    s_dom(fx, "index.html");
    ASSERT_CONTAINS(fx->out, "<b>1</b> adopted plan</a>");
    ASSERT_CONTAINS(fx->out, "href=\"verify.html\"");
    s_dom(fx, "plans.html");
    ASSERT_CONTAINS(fx->out, "<a href=\"plan-" PLAN ".html\">" PLAN_TITLE "</a>");
    s_dom(fx, "plan-" PLAN ".html");
    ASSERT_CONTAINS(fx->out, "<h1>" PLAN_TITLE "</h1>");
    ASSERT_CONTAINS(fx->out, "Handover within 30 minutes at every acute site.");
    ASSERT_CONTAINS(fx->out, "The &lt;b&gt;30-minute&lt;/b&gt; standard");
    ASSERT_LACKS(fx->out, "<b>30-minute</b>");
    ASSERT_INDEX(fx->out, amendment);
    snprintf(want, sizeof want, "href=\"decision-%llu.html\"", (unsigned long long)motion);
    ASSERT_CONTAINS(fx->out, want);
    s_dom(fx, "plan-" PLAN "-v2.html");
    ASSERT_CONTAINS(fx->out, "<del>-Reduce ambulance handover delays at every acute site.</del>");
    ASSERT_CONTAINS(fx->out, "<ins>+Handover within 30 minutes at every acute site.</ins>");
    s_dom(fx, "plan-" PLAN "-v1.html");
    ASSERT_CONTAINS(fx->out, "Not the adopted version.");

    snprintf(path, sizeof path, "consultation-%llu.html", (unsigned long long)consultation);
    s_dom(fx, path);
    ASSERT_CONTAINS(fx->out, "Northtown Health and Wellbeing Board");
    ASSERT_CONTAINS(fx->out, "<b class=\"opinion\">Yes</b>");
    ASSERT_CONTAINS(fx->out, "healthy ageing &amp; &lt;em&gt;tackling&lt;/em&gt; inequalities.");
    ASSERT_LACKS(fx->out, "<em>tackling</em>");
    ASSERT_CONTAINS(fx->out, "The urgent care commitments match our bed base plan.");
    ASSERT_CONTAINS(fx->out, "2 of 2 consultees responded.");
    ASSERT_INDEX(fx->out, consultation);

    snprintf(path, sizeof path, "decision-%llu.html", (unsigned long long)motion);
    s_dom(fx, path);
    ASSERT_CONTAINS(fx->out, "<h1>Adopt the joint forward plan</h1>");
    ASSERT_CONTAINS(fx->out, "<p>Adopt the plan after consultation.</p>");
    ASSERT_CONTAINS(fx->out, "<b data-count=\"for\">3</b> for");
    ASSERT_CONTAINS(fx->out, "<b data-count=\"against\">1</b> against");
    ASSERT_CONTAINS(fx->out, "<b data-count=\"abstain\">1</b> abstaining");
    ASSERT_CONTAINS(fx->out, "<b data-count=\"excluded\">1</b> excluded");
    ASSERT_CONTAINS(fx->out, "interest in <code>plan:" PLAN "</code>");
    ASSERT_CONTAINS(fx->out, "Chairs a provider collaborative bidding for the virtual wards");
    ASSERT_CONTAINS(fx->out, "Finance &lt;i&gt;unclear&lt;/i&gt;");
    ASSERT_CONTAINS(fx->out, "plan " PLAN " version 2 adopted");
    ASSERT_INDEX(fx->out, motion);
    ASSERT_INDEX(fx->out, vote_index);
    s_dom(fx, "scheme.html");
    ASSERT_CONTAINS(fx->out, "Adopt a plan version");
    s_dom(fx, "verify.html");
    ASSERT_CONTAINS(fx->out, "icsctl log verify log.txt");
    ASSERT_CONTAINS(fx->out, "class=\"hash\"");

    snprintf(path, sizeof path, "%s/site.png", fx->c.dir);
    ASSERT_PNG(path);
    snprintf(path, sizeof path, "%s/page.png", fx->c.dir);
    ASSERT_PNG(path);
    snprintf(path, sizeof path, "%s/page-phone.png", fx->c.dir);
    ASSERT_PNG(path);
    fprintf(stderr,
            "publish: screenshots %s/site.png, %s/page.png (the decision) and "
            "%s/page-phone.png%s\n",
            fx->c.dir, fx->c.dir, fx->c.dir,
            getenv("ICS_TEST_KEEP") ? "" : " (ICS_TEST_KEEP=1 keeps them)");

    /* A directory with something in it is not replaced without --force,
     * and a refusal leaves it as it was; nothing is left beside it. */
    snprintf(path, sizeof path, "%s/site/index.html", fx->c.dir);
    long size = s_file_size(path);
    assert_int_equal(s_ctl(fx, RTD, "publish site '%s/site'", fx->c.dir), 1);
    ASSERT_CONTAINS(fx->err, "exists and is not empty (--force replaces");
    assert_int_equal(s_file_size(path), size);
    ASSERT_OK(fx, RTD, "publish site --force '%s/site'", fx->c.dir);
    assert_true(s_file_size(path) > 0);
    assert_int_equal(s_ctl(fx, RTD, "publish site '%s/draft.md'", fx->c.dir), 1);
    ASSERT_CONTAINS(fx->err, "exists and is not a directory");
    assert_int_equal(h_sh("ls -d '%s'/site.tmp-* >/dev/null 2>&1", fx->c.dir), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(the_register_in_the_browser, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
