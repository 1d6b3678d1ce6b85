/*
 * Building receipts from the history (prove.h). The cosignatures a receipt
 * carries are the accepted Checkpoint entries themselves: each names a size
 * P, the root there and its signer's cosignature. Checkpoints for P come
 * after P, so the history is read downwards from its tree size: when the
 * reading reaches P, every checkpoint for P has been seen, and the first
 * such P (the newest) with a majority of valid voter cosignatures of this
 * history's own root is the head used. Only cosignatures that verify under
 * the keys in force at P (replayed from the membership entries, as the
 * receipt's reader will) are written, so a receipt built here verifies.
 */
#include "prove.h"

#include "common/envelope.h"
#include "common/receipt.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t size;
    char org[ICS_ORG_MAX];
    uint8_t root[ICS_MERKLE_HASH_BYTES];
    uint8_t sig[ICS_SIG_BYTES];
} s_cosig_t;

static int s_by_org(const void *a, const void *b)
{
    return strcmp(((const ics_note_sig_t *)a)->name, ((const ics_note_sig_t *)b)->name);
}

/* The note of size P from the cosignatures in c[0..n) that name P: those
 * of voting members, of this history's root, valid under their keys.
 * true if they are a majority. */
static int s_head(ics_history_t *h, const char *group, uint64_t size, const s_cosig_t *c, size_t n,
                  ics_note_t *head, bool *certified, ics_err_t *err)
{
    ics_keyset_t *ks = calloc(1, sizeof *ks);
    int rc;

    *certified = false;
    memset(head, 0, sizeof *head);
    if (ks == NULL)
        return ics_err(err, ICS_ENOMEM, "out of memory");
    ics_strcpy(head->group, sizeof head->group, group);
    head->size = size;
    rc = ics_history_tree_root(h, size, head->root);
    if (rc != ICS_OK) {
        rc = ics_err(err, rc, "history database failure");
        goto out;
    }
    rc = ics_history_keyset(h, size, ks, err);
    if (rc != ICS_OK)
        goto out;
    for (size_t i = 0; i < n && head->n_sigs < ICS_NOTE_SIGS_MAX; i++) {
        const ics_keyset_member_t *m = ics_keyset_find(ks, c[i].org);
        bool dup = false;
        if (c[i].size != size || m == NULL || !m->voter ||
            sodium_memcmp(c[i].root, head->root, ICS_MERKLE_HASH_BYTES) != 0 ||
            !ics_note_cosignature_ok(group, size, head->root, m->pk, c[i].sig))
            continue;
        for (size_t j = 0; j < head->n_sigs; j++)
            dup = dup || strcmp(head->sigs[j].name, m->org) == 0;
        if (dup)
            continue;
        ics_note_sig_t *g = &head->sigs[head->n_sigs++];
        ics_strcpy(g->name, sizeof g->name, m->org);
        ics_note_key_hash(m->org, m->pk, g->key_hash);
        memcpy(g->sig, c[i].sig, ICS_SIG_BYTES);
    }
    qsort(head->sigs, head->n_sigs, sizeof *head->sigs, s_by_org);
    *certified = head->n_sigs >= ics_keyset_voters(ks) / 2 + 1;
out:
    free(ks);
    return rc;
}

/* Reads entry s; if it is an accepted checkpoint for a size in [lo, hi],
 * appends its cosignature to *c. */
static int s_collect(ics_history_t *h, uint64_t s, uint64_t lo, uint64_t hi, s_cosig_t **c,
                     size_t *n, size_t *cap)
{
    Ics__V1__Envelope *env = NULL;
    Ics__V1__Command *cmd = NULL;
    ics_log_entry_t e;
    int rc = ics_history_entry(h, s, &e);

    if (rc != ICS_OK)
        return rc;
    if (e.accepted && ics_envelope_decode(e.envelope, e.envelope_len, &env, NULL) == ICS_OK &&
        env->kind == ICS__V1__COMMAND__BODY_CHECKPOINT &&
        ics_command_decode(env, &cmd, NULL) == ICS_OK &&
        cmd->body_case == ICS__V1__COMMAND__BODY_CHECKPOINT && cmd->checkpoint->position >= lo &&
        cmd->checkpoint->position <= hi && cmd->checkpoint->root.len == ICS_MERKLE_HASH_BYTES &&
        cmd->checkpoint->cosignature.len == ICS_SIG_BYTES && env->org != NULL) {
        if (*n == *cap) {
            s_cosig_t *more = realloc(*c, (*cap ? 2 * *cap : 32) * sizeof *more);
            if (more == NULL) {
                rc = ICS_ENOMEM;
                goto out;
            }
            *c = more;
            *cap = *cap ? 2 * *cap : 32;
        }
        s_cosig_t *x = &(*c)[(*n)++];
        x->size = cmd->checkpoint->position;
        ics_strcpy(x->org, sizeof x->org, env->org);
        memcpy(x->root, cmd->checkpoint->root.data, ICS_MERKLE_HASH_BYTES);
        memcpy(x->sig, cmd->checkpoint->cosignature.data, ICS_SIG_BYTES);
    }
out:
    if (cmd != NULL)
        ics__v1__command__free_unpacked(cmd, NULL);
    if (env != NULL)
        ics__v1__envelope__free_unpacked(env, NULL);
    free(e.envelope);
    return rc;
}

static void s_free_leaves(ics_receipt_leaf_t *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((void *)l[i].entry);
        free((void *)l[i].proof);
    }
    free(l);
}

/* Fills a proved leaf of position in the tree of size (entry and proof
 * malloc'd). */
static int s_leaf(ics_history_t *h, uint64_t position, uint64_t size, ics_receipt_leaf_t *l,
                  char reason[256])
{
    ics_merkle_hash_t *proof = malloc(ICS_MERKLE_PROOF_MAX * sizeof *proof);
    ics_log_entry_t e;
    int rc;

    memset(l, 0, sizeof *l);
    if (proof == NULL)
        return ICS_ENOMEM;
    rc = ics_history_entry(h, position, &e);
    if (rc == ICS_OK)
        rc = ics_history_inclusion(h, position, size, proof, &l->proof_len);
    if (rc != ICS_OK) {
        free(proof);
        free(e.envelope);
        return rc;
    }
    l->position = position;
    l->accepted = e.accepted;
    l->entry = e.envelope;
    l->entry_len = e.envelope_len;
    ics_strcpy(reason, 256, e.reason);
    l->reason = reason;
    l->proof = proof;
    return ICS_OK;
}

int ics_prove_receipt(ics_history_t *h, const char *group, uint64_t position, FILE *out,
                      ics_err_t *err)
{
    uint64_t top = ics_history_tree_size(h), *keyed = NULL;
    s_cosig_t *c = NULL;
    size_t n = 0, cap = 0, n_keyed = 0;
    ics_note_t *head = calloc(1, sizeof *head);
    ics_receipt_leaf_t entry, *members = NULL;
    char reason[256], no_reason[1] = "";
    bool found = false;
    int rc = ICS_OK;

    memset(&entry, 0, sizeof entry);
    if (head == NULL)
        return ics_err(err, ICS_ENOMEM, "out of memory");
    if (position == 0 || position > top) {
        rc = ics_err(err, ICS_ENOENT,
                     "position %" PRIu64 " is not in this node's history (it"
                     " holds 1 to %" PRIu64 " without a gap)",
                     position, top);
        goto out;
    }
    /* Downwards from the top: at s, every checkpoint for size s is known.
     * A healthy group certifies a head every checkpoint interval, so the
     * newest is near the top; the walk is bounded so that a group without
     * a majority does not make one request read its whole history. */
    uint64_t s = top;
    for (; s > position && !found && top - s < ICS_PROVE_SCAN_MAX; s--) {
        size_t k = 0;
        while (k < n && c[k].size != s)
            k++;
        if (k < n) {
            rc = s_head(h, group, s, c, n, head, &found, err);
            if (rc != ICS_OK)
                goto out;
        }
        if (!found && (rc = s_collect(h, s, position, top, &c, &n, &cap)) != ICS_OK) {
            rc = ics_err(err, rc == ICS_ENOMEM ? rc : ICS_EIO, "history database failure");
            goto out;
        }
    }
    if (!found && s == position) {
        /* Size position itself, all of whose checkpoints are now read. */
        rc = s_head(h, group, position, c, n, head, &found, err);
        if (rc != ICS_OK)
            goto out;
    }
    if (!found) {
        rc = ics_err(err, ICS_EUNAVAIL,
                     "no tree head at or above position %" PRIu64 " is"
                     " cosigned by a majority of the voting members yet (checkpoints name"
                     " multiples of the nodes' checkpoint interval; the newest %d entries"
                     " were searched): try again later",
                     position, ICS_PROVE_SCAN_MAX);
        goto out;
    }
    rc = s_leaf(h, position, head->size, &entry, reason);
    if (rc == ICS_OK)
        rc = ics_history_keyed(h, head->size, &keyed, &n_keyed);
    if (rc == ICS_OK && (members = calloc(n_keyed ? n_keyed : 1, sizeof *members)) == NULL)
        rc = ICS_ENOMEM;
    for (size_t i = 0; rc == ICS_OK && i < n_keyed; i++) {
        char ignored[256];
        rc = s_leaf(h, keyed[i], head->size, &members[i], ignored);
        members[i].reason = no_reason;
    }
    if (rc == ICS_OK)
        rc = ics_receipt_write(out, &entry, members, n_keyed, head);
    if (rc != ICS_OK)
        rc = ics_err(err, rc, "cannot write the receipt: %s", ics_strerror(rc));
out:
    free((void *)entry.entry);
    free((void *)entry.proof);
    if (members != NULL)
        s_free_leaves(members, n_keyed);
    free(keyed);
    free(c);
    free(head);
    return rc;
}

int ics_prove_consistency(ics_history_t *h, const char *group, uint64_t old_size, FILE *out,
                          ics_err_t *err)
{
    ics_merkle_hash_t proof[ICS_MERKLE_PROOF_MAX];
    uint8_t root[ICS_MERKLE_HASH_BYTES];
    uint64_t size = ics_history_tree_size(h);
    size_t len = 0;
    int rc;

    rc = ics_history_tree_root(h, size, root);
    if (rc == ICS_OK && old_size > 0 && old_size <= size)
        rc = ics_history_consistency(h, old_size, size, proof, &len);
    if (rc == ICS_OK)
        rc = ics_consistency_write(out, group, old_size, size, root, proof, len);
    return rc == ICS_OK ? ICS_OK
                        : ics_err(err, rc, "cannot prove consistency: %s", ics_strerror(rc));
}
