/*
 * The signature memo (sigmemo.h): a table of digests in buckets of four
 * slots, under one mutex. A digest goes to the bucket its first bytes name;
 * a full bucket gives up its oldest slot (round robin), which costs only a
 * verification later. Nothing is removed otherwise; a slot never written
 * matches nothing.
 */
#include "sigmemo.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define S_DOMAIN "ICSD-SIGMEMO-V1"
#define S_WAYS 4

static struct {
    pthread_mutex_t lock;
    uint8_t (*slot)[ICS_SIGMEMO_DIGEST];
    bool *used;
    uint8_t *victim;  /* per bucket: the slot a full bucket gives up next */
    uint64_t mask;
    ics_sigmemo_stats_t stats;
} s_memo = {.lock = PTHREAD_MUTEX_INITIALIZER};

bool ics_sigmemo_enable(unsigned slots_log2)
{
    bool ok = true;

    if (slots_log2 < 10 || slots_log2 > 24)
        return false;
    pthread_mutex_lock(&s_memo.lock);
    if (s_memo.slot == NULL) {
        size_t n = (size_t)1 << slots_log2;
        s_memo.slot = calloc(n, ICS_SIGMEMO_DIGEST);
        s_memo.used = calloc(n, sizeof *s_memo.used);
        s_memo.victim = calloc(n / S_WAYS, 1);
        if (s_memo.slot == NULL || s_memo.used == NULL || s_memo.victim == NULL) {
            free(s_memo.slot);
            free(s_memo.used);
            free(s_memo.victim);
            s_memo.slot = NULL;
            s_memo.used = NULL;
            s_memo.victim = NULL;
            ok = false;
        } else {
            s_memo.mask = n - 1;
        }
    }
    pthread_mutex_unlock(&s_memo.lock);
    return ok;
}

bool ics_sigmemo_enabled(void)
{
    pthread_mutex_lock(&s_memo.lock);
    bool on = s_memo.slot != NULL;
    pthread_mutex_unlock(&s_memo.lock);
    return on;
}

bool ics_sigmemo_digest(const uint8_t pk[ICS_PK_BYTES], const uint8_t *msg, size_t len,
                        const uint8_t sig[ICS_SIG_BYTES], uint8_t d[ICS_SIGMEMO_DIGEST])
{
    crypto_generichash_state st;
    uint8_t n[8];

    if (!ics_sigmemo_enabled())
        return false;
    for (int i = 0; i < 8; i++)
        n[i] = (uint8_t)((uint64_t)len >> (8 * i));
    /* Key and signature are fixed-size, the message's length is hashed in:
     * no two triples share an input. */
    crypto_generichash_init(&st, (const uint8_t *)S_DOMAIN, sizeof S_DOMAIN - 1,
                            ICS_SIGMEMO_DIGEST);
    crypto_generichash_update(&st, pk, ICS_PK_BYTES);
    crypto_generichash_update(&st, sig, ICS_SIG_BYTES);
    crypto_generichash_update(&st, n, sizeof n);
    crypto_generichash_update(&st, msg, len);
    crypto_generichash_final(&st, d, ICS_SIGMEMO_DIGEST);
    return true;
}

/* The first slot of d's bucket. */
static uint64_t s_bucket(const uint8_t d[ICS_SIGMEMO_DIGEST])
{
    uint64_t v;
    memcpy(&v, d, sizeof v);
    return v & s_memo.mask & ~(uint64_t)(S_WAYS - 1);
}

static bool s_holds(uint64_t i, const uint8_t d[ICS_SIGMEMO_DIGEST])
{
    return s_memo.used[i] && memcmp(s_memo.slot[i], d, ICS_SIGMEMO_DIGEST) == 0;
}

bool ics_sigmemo_has(const uint8_t d[ICS_SIGMEMO_DIGEST])
{
    bool hit = false;

    pthread_mutex_lock(&s_memo.lock);
    if (s_memo.slot != NULL) {
        uint64_t b = s_bucket(d);
        for (unsigned w = 0; w < S_WAYS && !hit; w++)
            hit = s_holds(b + w, d);
        if (hit)
            s_memo.stats.hits++;
        else
            s_memo.stats.misses++;
    }
    pthread_mutex_unlock(&s_memo.lock);
    return hit;
}

void ics_sigmemo_put(const uint8_t d[ICS_SIGMEMO_DIGEST])
{
    pthread_mutex_lock(&s_memo.lock);
    if (s_memo.slot != NULL) {
        uint64_t b = s_bucket(d), i = UINT64_MAX;
        for (unsigned w = 0; w < S_WAYS && i == UINT64_MAX; w++)
            if (!s_memo.used[b + w] || s_holds(b + w, d))
                i = b + w;
        if (i == UINT64_MAX) {
            uint8_t *v = &s_memo.victim[b / S_WAYS];
            i = b + *v;
            *v = (uint8_t)((*v + 1) % S_WAYS);
        }
        memcpy(s_memo.slot[i], d, ICS_SIGMEMO_DIGEST);
        s_memo.used[i] = true;
        s_memo.stats.stored++;
    }
    pthread_mutex_unlock(&s_memo.lock);
}

void ics_sigmemo_stats(ics_sigmemo_stats_t *out)
{
    pthread_mutex_lock(&s_memo.lock);
    *out = s_memo.stats;
    pthread_mutex_unlock(&s_memo.lock);
}
