/*
 * Metric primitives. Bounds cover a loopback commit (sub-millisecond) to a
 * stalled WAN one (seconds).
 */
#include "metrics.h"

#include <stdbool.h>
#include <string.h>

static const uint64_t s_bounds_us[ICS_HIST_BUCKETS - 1] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000, 5000000};

void ics_hist_add(ics_hist_t *h, uint64_t us)
{
    for (int i = 0; i < ICS_HIST_BUCKETS - 1; i++)
        if (us <= s_bounds_us[i])
            h->counts[i]++;
    h->counts[ICS_HIST_BUCKETS - 1]++;
    h->sum_us += us;
    h->n++;
}

void ics_hist_write(FILE *out, const char *name, const char *labels, const ics_hist_t *h)
{
    const char *sep = labels[0] ? "," : "";
    for (int i = 0; i < ICS_HIST_BUCKETS - 1; i++)
        fprintf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
                s_bounds_us[i] / 1e6, (unsigned long long)h->counts[i]);
    fprintf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
            (unsigned long long)h->counts[ICS_HIST_BUCKETS - 1]);
    fprintf(out, "%s_sum{%s} %.6f\n", name, labels, h->sum_us / 1e6);
    fprintf(out, "%s_count{%s} %llu\n", name, labels, (unsigned long long)h->n);
}

uint64_t ics_hist_percentile(const ics_hist_t *h, unsigned p)
{
    uint64_t want = (h->n * p + 99) / 100;
    if (h->n == 0)
        return 0;
    for (int i = 0; i < ICS_HIST_BUCKETS - 1; i++)
        if (h->counts[i] >= want)
            return s_bounds_us[i];
    return UINT64_MAX;
}

/* Reason codes. The set is fixed, so the label is bounded whatever a
 * reason says; "other" takes what no rule matches. */
enum {
    R_NO_GENESIS, R_MALFORMED, R_WRONG_GROUP, R_BAD_SIGNATURE, R_REPLAY, R_CHECKPOINT,
    R_NOT_PERMITTED, R_NOT_MEMBER, R_NOT_FOUND, R_WRONG_STATE, R_DUPLICATE, R_INVALID, R_OTHER
};
static const char *const s_code_names[ICS_REASON_CODES] = {
    "no_genesis", "malformed", "wrong_group", "bad_signature", "replay", "checkpoint",
    "not_permitted", "not_member", "not_found", "wrong_state", "duplicate", "invalid", "other"};
_Static_assert(R_OTHER + 1 == ICS_REASON_CODES, "one name per reason code");

/* Rules, tried in order: a reason gets the code of the first phrase it
 * contains (ASCII case ignored). The phrases follow the state machine's
 * wording (daemon/fsm); a new wording that none matches is counted as
 * "other". */
static const struct {
    const char *phrase;
    int code;
} s_rules[] = {
    {"no genesis", R_NO_GENESIS},
    {"genesis already applied", R_NO_GENESIS},
    {"malformed", R_MALFORMED},
    {"unknown command kind", R_MALFORMED},
    {"clock tick", R_MALFORMED},
    {"wrong group", R_WRONG_GROUP},
    {"bad signature", R_BAD_SIGNATURE},
    {"not in force", R_BAD_SIGNATURE},
    {"key not listed", R_BAD_SIGNATURE},
    {"sequence number", R_REPLAY},
    {"checkpoint", R_CHECKPOINT},
    {"only ", R_NOT_PERMITTED},
    {"may not", R_NOT_PERMITTED},
    {"wrong role", R_NOT_PERMITTED},
    {"nobody", R_NOT_PERMITTED},
    {"no one", R_NOT_PERMITTED},
    {"does not hold", R_NOT_PERMITTED},
    {"cannot remove", R_NOT_PERMITTED},
    {"last administrator", R_NOT_PERMITTED},
    {"appoints its own", R_NOT_PERMITTED},
    {"excluded from voting", R_NOT_PERMITTED},
    {"no longer holds", R_NOT_PERMITTED},
    {"not in the electorate", R_NOT_PERMITTED},
    {"must be approved", R_NOT_PERMITTED},
    {"cannot offer", R_NOT_PERMITTED},
    {"administers membership", R_NOT_PERMITTED},
    {"not a consultee", R_NOT_PERMITTED},
    {"is appointed by", R_NOT_PERMITTED},
    {"acts for a named", R_NOT_PERMITTED},
    {"to decide by motion", R_NOT_PERMITTED},
    {"held by people of", R_NOT_PERMITTED},
    {"unknown organisation", R_NOT_MEMBER},
    {"not a member", R_NOT_MEMBER},
    {"not an organisation known", R_NOT_MEMBER},
    {"not a registered", R_NOT_MEMBER},
    {"has not registered", R_NOT_MEMBER},
    {"is not registered", R_NOT_MEMBER},
    {"has no registered", R_NOT_MEMBER},
    {"there is no", R_NOT_FOUND},
    {"no role ", R_NOT_FOUND},
    {"no request here", R_NOT_FOUND},
    {"has no declared", R_NOT_FOUND},
    {"has no regional", R_NOT_FOUND},
    {"names no ", R_NOT_FOUND},
    {"not an organisation id", R_INVALID},
    {"too late", R_WRONG_STATE},
    {"already past", R_WRONG_STATE},
    {"lapsed", R_WRONG_STATE},
    {"withdrawn by", R_WRONG_STATE},
    {"declined", R_WRONG_STATE},
    {"released", R_WRONG_STATE},
    {"no longer", R_WRONG_STATE},
    {"opens at", R_WRONG_STATE},
    {"awaiting", R_WRONG_STATE},
    {"was accepted at", R_WRONG_STATE},
    {"not escalated", R_WRONG_STATE},
    {"went to", R_WRONG_STATE},
    {"needed no approval", R_WRONG_STATE},
    {"cannot be accepted", R_WRONG_STATE},
    {"closed", R_WRONG_STATE},
    {", not ", R_WRONG_STATE},
    {"already", R_DUPLICATE},
    {"twice", R_DUPLICATE},
    {"duplicate", R_DUPLICATE},
    {"would exceed", R_DUPLICATE},
    {"unknown ", R_INVALID},
    {"not valid", R_INVALID},
    {"is not ", R_INVALID},
    {"must ", R_INVALID},
    {"longer than", R_INVALID},
    {"needs ", R_INVALID},
    {"need ", R_INVALID},
    {"expected", R_INVALID},
    {"missing", R_INVALID},
    {"under ", R_INVALID},
    {"beyond", R_INVALID},
    {"out of range", R_INVALID},
    {"not after", R_INVALID},
    {"at most", R_INVALID},
    {"takes ", R_INVALID},
    {"one line", R_INVALID},
    {"more than", R_INVALID},
    {"give ", R_INVALID},
    {"describe", R_INVALID},
    {"inconsistent", R_INVALID},
    {"less than", R_INVALID},
    {"given", R_INVALID},
    {"a vote is", R_INVALID},
    {"no person named", R_INVALID},
};

static bool s_contains(const char *text, const char *phrase)
{
    size_t n = strlen(phrase);
    for (; *text; text++) {
        size_t i = 0;
        while (i < n && text[i] != '\0' &&
               (text[i] | (text[i] >= 'A' && text[i] <= 'Z' ? 0x20 : 0)) == phrase[i])
            i++;
        if (i == n)
            return true;
    }
    return false;
}

static size_t s_code_index(const char *reason)
{
    for (size_t i = 0; i < sizeof s_rules / sizeof s_rules[0]; i++)
        if (s_contains(reason, s_rules[i].phrase))
            return (size_t)s_rules[i].code;
    return R_OTHER;
}

const char *ics_reason_code(const char *reason)
{
    return s_code_names[s_code_index(reason != NULL ? reason : "")];
}

const char *ics_reason_code_name(size_t i)
{
    return i < ICS_REASON_CODES ? s_code_names[i] : "other";
}

void ics_reasons_add(ics_reasons_t *r, const char *reason)
{
    r->count[s_code_index(reason != NULL ? reason : "")]++;
}

uint64_t ics_reasons_total(const ics_reasons_t *r)
{
    uint64_t n = 0;
    for (size_t i = 0; i < ICS_REASON_CODES; i++)
        n += r->count[i];
    return n;
}

static const char *const s_invalid_names[ICS_INVALID_REASONS] = {
    "frame", "signature", "raft_message", "term", "index", "entry", "configuration", "snapshot",
    "committed", "leader"};
_Static_assert(ICS_INVALID_LEADER + 1 == ICS_INVALID_REASONS, "one name per invalid reason");

const char *ics_invalid_name(ics_invalid_t why)
{
    return (unsigned)why < ICS_INVALID_REASONS ? s_invalid_names[why] : "other";
}
