/*
 * Metric primitives. Bounds cover a loopback commit (sub-millisecond) to a
 * stalled WAN one (seconds).
 */
#include "metrics.h"

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

void ics_reasons_add(ics_reasons_t *r, const char *reason)
{
    char cls[64];
    size_t n = strcspn(reason, ":");
    if (n >= sizeof cls)
        n = sizeof cls - 1;
    memcpy(cls, reason, n);
    cls[n] = '\0';
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->reason[i], cls) == 0) {
            r->count[i]++;
            return;
        }
    }
    if (r->n == ICS_REASONS_MAX) {
        r->other++;
        return;
    }
    memcpy(r->reason[r->n], cls, n + 1);
    r->count[r->n++] = 1;
}
