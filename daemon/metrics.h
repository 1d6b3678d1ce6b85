/*
 * Counters and histograms the node keeps for /metrics. Plain structs,
 * updated on the event loop thread only.
 */
#ifndef ICS_METRICS_H
#define ICS_METRICS_H

#include <stdint.h>
#include <stdio.h>

#define ICS_HIST_BUCKETS 14

/* Latency histogram with fixed bounds in microseconds (see metrics.c). */
typedef struct {
    uint64_t counts[ICS_HIST_BUCKETS]; /* cumulative per bound, last is +Inf */
    uint64_t sum_us;
    uint64_t n;
} ics_hist_t;

void ics_hist_add(ics_hist_t *h, uint64_t us);
/* Writes name_bucket/_sum/_count lines (seconds, Prometheus convention). */
void ics_hist_write(FILE *out, const char *name, const char *labels, const ics_hist_t *h);
/* p in 0..100: upper bound of the bucket holding that percentile, in us. */
uint64_t ics_hist_percentile(const ics_hist_t *h, unsigned p);

#define ICS_REASONS_MAX 32

/* Rejections counted by reason class: the text of the reason up to its
 * first ':' (e.g. "bad signature", "unknown organisation QHM" -> kept
 * whole), bounded in number so a hostile peer cannot grow it. */
typedef struct {
    char reason[ICS_REASONS_MAX][64];
    uint64_t count[ICS_REASONS_MAX];
    size_t n;
    uint64_t other;
} ics_reasons_t;

void ics_reasons_add(ics_reasons_t *r, const char *reason);

#endif
