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

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    h_cluster_up(&fx->c, 3, ORGS, KINDS);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    h_cluster_down(&fx->c);
    free(fx);
    return 0;
}

/* ---------------------------------------------------------------- helpers */

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
        if (H_CTL(fx, i, "--fresh %s", args) == 0 && strstr(fx->out, needle) != NULL)
            return;
        h_sleep_ms(100);
    }
    fail_msg("'%s' never showed '%s': %s%s", args, needle, fx->out, fx->err);
}

/* ---------------------------------------------------------------- assertions */

/* A page of the published site, as Chromium rendered it (its DOM, which
 * dashboard_check.py site writes into DIR/dom/), shows each of the
 * strings; the DOM is left in fx->out. */
#define ASSERT_PAGE_SHOWS(fx, page, ...)                                                           \
    s_assert_shows((fx), (page), (const char *const[]){__VA_ARGS__, NULL})

static void s_assert_shows(fx_t *fx, const char *page, const char *const *strings)
{
    char path[600];
    snprintf(path, sizeof path, "%s/dom/%s", fx->c.dir, page);
    if (h_file_size(path) < 0)
        fail_msg("Chromium did not render %s", page);
    h_slurp(path, fx->out, sizeof fx->out);
    for (; *strings != NULL; strings++)
        if (strstr(fx->out, *strings) == NULL)
            fail_msg("%s does not show '%s':\n%.6000s", page, *strings, fx->out);
}

/* The item's audit-log index, as every page shows it. */
#define ASSERT_INDEX(haystack, index)                                                              \
    do {                                                                                           \
        char ix_[96];                                                                              \
        snprintf(ix_, sizeof ix_, "data-index=\"%llu\"", (unsigned long long)(index));             \
        H_ASSERT_CONTAINS((haystack), ix_);                                                        \
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
    H_CTL_OK(fx, QHM, "people role QHM/sir.liam chair");
    H_CTL_OK(fx, QHM, "people role QHM/sam.allen chief_executive");
    H_CTL_OK(fx, QHM, "people role QHM/ned.one non_executive");
    H_CTL_OK(fx, QHM, "people role QHM/ned.two non_executive");
    H_CTL_OK(fx, QHM, "people role RTD/dr.khan partner_trust");
    H_CTL_OK(fx, QHM, "people role E06000057/cllr.hall partner_local_authority");
    H_CTL_OK(fx, LA,
             "people org add HWB-N --kind hwb --name 'Northtown Health and Wellbeing "
             "Board' --parent E06000057");
    H_CTL_OK(fx, LA, "people role E06000057/cllr.hall hwb_chair --scope HWB-N");
    H_CTL_OK(fx, QHM,
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
    H_CTL_OK(fx, QHM,
             "--as sam.allen plan create " PLAN " --title '" PLAN_TITLE "' "
             "--period 2026/27-2030/31 --from '%s'",
             path);

    /* A trust amends it; the chief executive accepts, which makes version 2. */
    H_CTL_OK(fx, RTD,
             "--json --as dr.khan amend propose " PLAN " --base 1 --op replace "
             "--section urgent-care --text 'Handover within 30 minutes at every "
             "acute site.' --rationale 'The <b>30-minute</b> standard agreed with "
             "the ambulance service'");
    *amendment = s_made(fx, "amendment");
    H_CTL_OK(fx, QHM, "--as sam.allen amend accept %llu", (unsigned long long)*amendment);
    s_until(fx, QHM, "\"latest\":2", "--json plan list");

    /* Consultation on version 2; the HWB gives its opinion through its chair. */
    H_CTL_OK(fx, QHM,
             "--json --as sam.allen consult open " PLAN " 2 --closes +8s "
             "--consultees 'kind:hwb RTD' --question 'Does the draft meet the "
             "needs of your population?'");
    *consultation = s_made(fx, "motion");
    H_CTL_OK(fx, RTD,
             "--as dr.khan consult respond %llu --position support "
             "--text 'The urgent care commitments match our bed base plan.'",
             (unsigned long long)*consultation);
    H_CTL_OK(fx, LA,
             "--as cllr.hall consult respond %llu --for HWB-N --position support "
             "--hwb-opinion yes --hwb-reasons '" HWB_REASONS "' "
             "--text 'The board welcomes the plan.'",
             (unsigned long long)*consultation);
    char args[64];
    snprintf(args, sizeof args, "--json consult show %llu", (unsigned long long)*consultation);
    s_until(fx, QHM, "\"status\":\"closed\"", args);

    /* The board votes to adopt version 2; ned.two is excluded. */
    H_CTL_OK(fx, QHM,
             "--json --as sir.liam plan adopt " PLAN " 2 --title 'Adopt the joint "
             "forward plan' --text 'Adopt the plan after consultation.'");
    uint64_t motion = s_made(fx, "motion");
    assert_int_equal(H_CTL(fx, QHM, "--as ned.two vote %llu for", (unsigned long long)motion), 1);
    H_CTL_OK(fx, QHM, "--json --as sir.liam vote %llu for --reason 'A plan the partners own'",
             (unsigned long long)motion);
    *vote_index = s_made(fx, "index");
    H_CTL_OK(fx, QHM, "--as ned.one vote %llu against --reason 'Finance <i>unclear</i>'",
             (unsigned long long)motion);
    H_CTL_OK(fx, QHM, "--as sam.allen vote %llu for", (unsigned long long)motion);
    H_CTL_OK(fx, RTD, "--as dr.khan vote %llu abstain", (unsigned long long)motion);
    H_CTL_OK(fx, LA, "--as cllr.hall vote %llu for", (unsigned long long)motion);
    snprintf(args, sizeof args, "--json motion show %llu", (unsigned long long)motion);
    s_until(fx, RTD, "\"status\":\"carried\"", args);
    return motion;
}

static void the_register_in_the_browser(void **state)
{
    fx_t *fx = *state;
    uint64_t amendment, consultation, vote_index, motion;
    char want[256], path[600];

    if (!h_find_chromium(fx->chromium, sizeof fx->chromium)) {
        fprintf(stderr, "publish: chromium is not installed (deploy/deps.sh installs "
                        "Debian's chromium); skipping the browser test\n");
        skip();
    }
    motion = s_walkthrough(fx, &amendment, &consultation, &vote_index);

    /* The log runs on until a tree head cosigned by a majority covers the
     * decision (the harness checkpoints every 64 entries), so that the
     * register has receipts to offer. */
    for (int k = 0; H_CTL(fx, RTD, "log prove %llu --out /dev/null", (unsigned long long)motion) != 0;
         k++) {
        if (k == 200)
            fail_msg("no cosigned tree head covers entry %llu: %s", (unsigned long long)motion,
                     fx->err);
        H_CTL_OK(fx, QHM, "submit 'the log runs on: %d'", k);
    }

    /* Another partner's node publishes the register. */
    H_CTL_OK(fx, RTD, "--fresh publish site '%s/site'", fx->c.dir);
    H_ASSERT_CONTAINS(fx->err, "the public register at log index");

    /* Every page parses, loads without a request leaving the machine,
     * and links only to pages that exist. */
    if (h_sh("python3 '" DASHBOARD_CHECK "' site '%s' '%s/site' '%s' decision-%llu.html "
             ">'%s/site.log' 2>&1",
             fx->chromium, fx->c.dir, fx->c.dir, (unsigned long long)motion, fx->c.dir) != 0) {
        snprintf(path, sizeof path, "%s/site.log", fx->c.dir);
        h_slurp(path, fx->err, sizeof fx->err);
        fail_msg("the published site failed its checks:\n%s", fx->err);
    }

    /* What a reader looks for, as Chromium shows it. */
    char decision[64], consult[64], vote[64];
    snprintf(decision, sizeof decision, "decision-%llu.html", (unsigned long long)motion);
    snprintf(consult, sizeof consult, "consultation-%llu.html", (unsigned long long)consultation);
    ASSERT_PAGE_SHOWS(fx, "index.html", "<b>1</b> adopted plan</a>", "href=\"verify.html\"");
    ASSERT_PAGE_SHOWS(fx, "plans.html", "<a href=\"plan-" PLAN ".html\">" PLAN_TITLE "</a>");
    snprintf(want, sizeof want, "href=\"%s\"", decision);
    ASSERT_PAGE_SHOWS(fx, "plan-" PLAN ".html", "<h1>" PLAN_TITLE "</h1>",
                      "Handover within 30 minutes at every acute site.",
                      "The &lt;b&gt;30-minute&lt;/b&gt; standard", want);
    H_ASSERT_LACKS(fx->out, "<b>30-minute</b>");
    ASSERT_INDEX(fx->out, amendment);
    ASSERT_PAGE_SHOWS(fx, "plan-" PLAN "-v2.html",
                      "<del>-Reduce ambulance handover delays at every acute site.</del>",
                      "<ins>+Handover within 30 minutes at every acute site.</ins>");
    ASSERT_PAGE_SHOWS(fx, "plan-" PLAN "-v1.html", "Not the adopted version.");
    ASSERT_PAGE_SHOWS(
        fx, consult, "Northtown Health and Wellbeing Board", "<b class=\"opinion\">Yes</b>",
        "healthy ageing &amp; &lt;em&gt;tackling&lt;/em&gt; inequalities.",
        "The urgent care commitments match our bed base plan.", "2 of 2 consultees responded.");
    H_ASSERT_LACKS(fx->out, "<em>tackling</em>");
    ASSERT_INDEX(fx->out, consultation);
    snprintf(vote, sizeof vote, "data-index=\"%llu\"", (unsigned long long)vote_index);
    ASSERT_PAGE_SHOWS(
        fx, decision, "<h1>Adopt the joint forward plan</h1>",
        "<p>Adopt the plan after consultation.</p>", "<b data-count=\"for\">3</b> for",
        "<b data-count=\"against\">1</b> against", "<b data-count=\"abstain\">1</b> abstaining",
        "<b data-count=\"excluded\">1</b> excluded", "interest in <code>plan:" PLAN "</code>",
        "Chairs a provider collaborative bidding for the virtual wards",
        "Finance &lt;i&gt;unclear&lt;/i&gt;", "plan " PLAN " version 2 adopted", vote);
    ASSERT_INDEX(fx->out, motion);
    ASSERT_PAGE_SHOWS(fx, "scheme.html", "Adopt a plan version");
    ASSERT_PAGE_SHOWS(fx, "verify.html", "icsctl log verify log.txt", "class=\"hash\"",
                      "icsctl log verify-receipt");

    /* The decision's receipt is on the site, linked beside its index, and
     * checks offline; so does an altered copy not. */
    snprintf(want, sizeof want, "href=\"receipts/%llu.txt\"", (unsigned long long)motion);
    ASSERT_PAGE_SHOWS(fx, decision, want);
    snprintf(path, sizeof path, "%s/site/receipts/%llu.txt", fx->c.dir, (unsigned long long)motion);
    assert_int_equal(h_sh(ICSCTL_BIN " log verify-receipt '%s' >/dev/null", path), 0);
    /* One base64 character of the entry's bytes changed. */
    assert_int_equal(h_sh("python3 -c \"import sys; t = open(sys.argv[1]).read().split('\\n'); "
                          "i = [k for k, l in enumerate(t) if l.startswith('entry ')][0]; "
                          "f = t[i].split(' '); f[3] = ('B' if f[3][8] != 'B' else 'C').join("
                          "(f[3][:8], f[3][9:])); t[i] = ' '.join(f); "
                          "open(sys.argv[2], 'w').write('\\n'.join(t))\" '%s' '%s/altered.txt'",
                          path, fx->c.dir), 0);
    assert_int_equal(h_sh(ICSCTL_BIN " log verify-receipt '%s/altered.txt' 2>/dev/null", fx->c.dir),
                     1);

    for (const char *const *png = (const char *const[]){"site", "page", "page-phone", NULL};
         *png != NULL; png++) {
        snprintf(path, sizeof path, "%s/%s.png", fx->c.dir, *png);
        H_ASSERT_PNG(path);
    }
    fprintf(stderr,
            "publish: screenshots %s/site.png, %s/page.png (the decision) and "
            "%s/page-phone.png%s\n",
            fx->c.dir, fx->c.dir, fx->c.dir,
            getenv("ICS_TEST_KEEP") ? "" : " (ICS_TEST_KEEP=1 keeps them)");

    /* A directory with something in it is not replaced without --force,
     * and a refusal leaves it as it was; nothing is left beside it. */
    snprintf(path, sizeof path, "%s/site/index.html", fx->c.dir);
    long size = h_file_size(path);
    assert_int_equal(H_CTL(fx, RTD, "publish site '%s/site'", fx->c.dir), 1);
    H_ASSERT_CONTAINS(fx->err, "exists and is not empty (--force replaces");
    assert_int_equal(h_file_size(path), size);
    H_CTL_OK(fx, RTD, "publish site --force '%s/site'", fx->c.dir);
    assert_true(h_file_size(path) > 0);
    assert_int_equal(H_CTL(fx, RTD, "publish site '%s/draft.md'", fx->c.dir), 1);
    H_ASSERT_CONTAINS(fx->err, "exists and is not a directory");
    assert_int_equal(h_sh("ls -d '%s'/site.tmp-* >/dev/null 2>&1", fx->c.dir), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(the_register_in_the_browser, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
