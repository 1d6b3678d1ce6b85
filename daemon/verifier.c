/*
 * The verifier (verifier.h): a ring of jobs under one mutex, threads that
 * take one job at a time and check it with ics_signature_ok, which records
 * what verifies in the signature memo.
 *
 * A push wakes a thread only if one sleeps that no earlier push has woken
 * (n_idle, n_woken), and signals after unlocking: an AppendEntries brings
 * several envelopes at once, and a wake for each, into a thread that then
 * blocked on the mutex the loop still held, cost two futex calls and two
 * context switches per envelope. A thread that is awake takes every job
 * queued before it sleeps again.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "verifier.h"
#include "common/envelope.h"
#include "common/personsig.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define S_THREADS_MAX 16

typedef struct {
    uint8_t pk[ICS_PK_BYTES];
    uint8_t sig[ICS_SIG_BYTES];
    uint8_t *msg;
    size_t len;
} s_job_t;

struct ics_verifier {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    s_job_t *ring;
    size_t cap, head, n;
    unsigned n_idle;  /* threads waiting on ready */
    unsigned n_woken; /* ... of which a push has signalled, not yet awake */
    bool stop;
    pthread_t threads[S_THREADS_MAX];
    unsigned n_threads;
    ics_verifier_stats_t stats;
    /* Key and signature of the last job queued: the rest of a sealed
     * batch repeats them (s_same_signature). */
    uint8_t last_pk[ICS_PK_BYTES];
    uint8_t last_sig[ICS_SIG_BYTES];
    bool has_last;
};

static void *s_run(void *arg)
{
    ics_verifier_t *self = arg;

    /* What top -H and perf show for this thread. */
    pthread_setname_np(pthread_self(), "icsd-verify");
    pthread_mutex_lock(&self->lock);
    for (;;) {
        s_job_t job;

        while (self->n == 0 && !self->stop) {
            self->n_idle++;
            pthread_cond_wait(&self->ready, &self->lock);
            self->n_idle--;
            if (self->n_woken > 0)
                self->n_woken--;
        }
        if (self->stop)
            break;
        job = self->ring[self->head];
        self->head = (self->head + 1) % self->cap;
        self->n--;
        pthread_mutex_unlock(&self->lock);

        bool ok = ics_signature_ok(job.pk, job.msg, job.len, job.sig);
        free(job.msg);

        pthread_mutex_lock(&self->lock);
        if (ok)
            self->stats.valid++;
        else
            self->stats.invalid++;
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

ics_verifier_t *ics_verifier_new(unsigned threads, size_t queue_max, ics_err_t *err)
{
    ics_verifier_t *self = calloc(1, sizeof *self);

    if (threads < 1 || threads > S_THREADS_MAX || queue_max < 1) {
        free(self);
        ics_err(err, ICS_EINVAL, "verifier: %u threads, queue of %zu", threads, queue_max);
        return NULL;
    }
    if (self == NULL || (self->ring = calloc(queue_max, sizeof *self->ring)) == NULL) {
        free(self);
        ics_err(err, ICS_ENOMEM, "out of memory");
        return NULL;
    }
    self->cap = queue_max;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->ready, NULL);
    for (unsigned i = 0; i < threads; i++) {
        int rc = pthread_create(&self->threads[i], NULL, s_run, self);
        if (rc != 0) {
            ics_err(err, ICS_EIO, "verifier: cannot start a thread: %s", strerror(rc));
            ics_verifier_destroy(&self);
            return NULL;
        }
        self->n_threads++;
    }
    return self;
}

void ics_verifier_destroy(ics_verifier_t **self_p)
{
    ics_verifier_t *self = *self_p;

    if (self == NULL)
        return;
    pthread_mutex_lock(&self->lock);
    self->stop = true;
    pthread_cond_broadcast(&self->ready);
    pthread_mutex_unlock(&self->lock);
    for (unsigned i = 0; i < self->n_threads; i++)
        pthread_join(self->threads[i], NULL);
    for (; self->n > 0; self->n--) {
        free(self->ring[self->head].msg);
        self->head = (self->head + 1) % self->cap;
    }
    pthread_cond_destroy(&self->ready);
    pthread_mutex_destroy(&self->lock);
    free(self->ring);
    free(self);
    *self_p = NULL;
}

bool ics_verifier_push(ics_verifier_t *self, const uint8_t pk[ICS_PK_BYTES],
                       const uint8_t sig[ICS_SIG_BYTES], uint8_t *msg, size_t len)
{
    bool taken = false, wake = false;

    pthread_mutex_lock(&self->lock);
    if (self->n < self->cap && !self->stop) {
        s_job_t *job = &self->ring[(self->head + self->n) % self->cap];
        memcpy(job->pk, pk, ICS_PK_BYTES);
        memcpy(job->sig, sig, ICS_SIG_BYTES);
        job->msg = msg;
        job->len = len;
        self->n++;
        self->stats.queued++;
        taken = true;
        memcpy(self->last_pk, pk, ICS_PK_BYTES);
        memcpy(self->last_sig, sig, ICS_SIG_BYTES);
        self->has_last = true;
        wake = self->n_idle > self->n_woken;
        if (wake)
            self->n_woken++;
    } else {
        self->stats.dropped++;
    }
    pthread_mutex_unlock(&self->lock);
    if (wake)
        pthread_cond_signal(&self->ready);
    if (!taken)
        free(msg);
    return taken;
}

/* Whether the last job queued was pk's signature sig: the rest of a sealed
 * batch carries it again, and is neither queued nor has its statement
 * worked out (apply checks that it leads to the same one). */
static bool s_same_signature(ics_verifier_t *self, const uint8_t pk[ICS_PK_BYTES],
                             const uint8_t sig[ICS_SIG_BYTES])
{
    bool same;

    pthread_mutex_lock(&self->lock);
    same = self->has_last && memcmp(self->last_sig, sig, ICS_SIG_BYTES) == 0 &&
           memcmp(self->last_pk, pk, ICS_PK_BYTES) == 0;
    if (same)
        self->stats.repeated++;
    pthread_mutex_unlock(&self->lock);
    return same;
}

void ics_verifier_push_envelope(ics_verifier_t *self, const Ics__V1__Envelope *env,
                                const uint8_t pk[ICS_PK_BYTES])
{
    uint8_t id[ICS_KEY_ID_BYTES], *input = NULL;
    size_t len = 0;

    ics_key_id(pk, id);
    if (env->signature.len != ICS_SIG_BYTES || env->key_id.len != ICS_KEY_ID_BYTES ||
        memcmp(env->key_id.data, id, ICS_KEY_ID_BYTES) != 0)
        return;
    if (env->version >= 2 && s_same_signature(self, pk, env->signature.data))
        return;
    if (ics_envelope_signed_message(env, &input, &len) == ICS_OK)
        ics_verifier_push(self, pk, env->signature.data, input, len);
}

void ics_verifier_push_person(ics_verifier_t *self, const Ics__V1__Envelope *env,
                              const Ics__V1__Command *cmd, const uint8_t pk[ICS_PK_BYTES])
{
    uint8_t *input = NULL;
    size_t len = 0;

    if (ics_person_signed_input(env->group, env->org, cmd, env->payload.data, env->payload.len,
                                pk, &input, &len) == ICS_OK)
        ics_verifier_push(self, pk, cmd->person_sig->signature.data, input, len);
}

void ics_verifier_stats(ics_verifier_t *self, ics_verifier_stats_t *out)
{
    pthread_mutex_lock(&self->lock);
    *out = self->stats;
    pthread_mutex_unlock(&self->lock);
}
