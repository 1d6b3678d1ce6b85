/*
 * The signature memo (sigmemo.h): a direct-mapped table of digests under
 * one mutex. A slot holds the digest that last landed on it; two triples
 * that share a slot push each other out, which costs only a verification.
 * Nothing is removed otherwise; a slot never written matches nothing.
 */
#include "sigmemo.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define S_DOMAIN "ICSD-SIGMEMO-V1"

static struct {
    pthread_mutex_t lock;
    uint8_t (*slot)[ICS_SIGMEMO_DIGEST];
    bool *used;
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
        if (s_memo.slot == NULL || s_memo.used == NULL) {
            free(s_memo.slot);
            free(s_memo.used);
            s_memo.slot = NULL;
            s_memo.used = NULL;
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

static uint64_t s_index(const uint8_t d[ICS_SIGMEMO_DIGEST])
{
    uint64_t v;
    memcpy(&v, d, sizeof v);
    return v & s_memo.mask;
}

bool ics_sigmemo_has(const uint8_t d[ICS_SIGMEMO_DIGEST])
{
    bool hit = false;

    pthread_mutex_lock(&s_memo.lock);
    if (s_memo.slot != NULL) {
        uint64_t i = s_index(d);
        hit = s_memo.used[i] && memcmp(s_memo.slot[i], d, ICS_SIGMEMO_DIGEST) == 0;
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
        uint64_t i = s_index(d);
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
