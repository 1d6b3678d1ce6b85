/*
 * Receipts: one audit entry proved without the log (docs/log-format.md,
 * section 8a). A receipt holds the entry, its RFC 9162 inclusion proof in a
 * tree head, that tree head as a signed note cosigned by a majority of the
 * voting members, and the evidence of their keys: every accepted membership
 * entry (the genesis, additions, removals, key rotations) up to the head's
 * size, each with its own inclusion proof. This module writes, parses and
 * checks them offline; it also checks a consistency proof between two tree
 * heads. It depends only on libsodium, the protobuf code and envelope.c.
 */
#ifndef ICS_RECEIPT_H
#define ICS_RECEIPT_H

#include <stdio.h>

#include "ics.h"
#include "merkle.h"
#include "note.h"

#define ICS_RECEIPT_MAGIC "icsd-receipt"
#define ICS_RECEIPT_VERSION 1
#define ICS_KEYSET_MAX 64 /* members of a group */

/* The members and keys that accepted membership entries leave, replayed in
 * log order (section 5). */
typedef struct {
    char org[ICS_ORG_MAX];
    uint8_t pk[ICS_PK_BYTES];
    bool voter;
    char endpoint[ICS_ENDPOINT_MAX]; /* as admitted */
} ics_keyset_member_t;

typedef struct {
    ics_keyset_member_t m[ICS_KEYSET_MAX];
    size_t n;
    bool genesis;
    uint8_t genesis_id[32]; /* entry id of the genesis */
} ics_keyset_t;

/* Is an envelope of this kind (a Command body case) a Genesis, MemberAdd,
 * MemberRemove or KeyRotate? (What a receipt carries as evidence when it
 * was accepted.) */
bool ics_keyset_kind_is_membership(uint32_t kind);

/* Carries out the accepted membership entry on ks: the first must be the
 * genesis of group. ICS_EINVAL with err saying why the entry cannot be
 * replayed. */
int ics_keyset_apply(ics_keyset_t *ks, const char *group, const uint8_t *entry, size_t len,
                     ics_err_t *err);

const ics_keyset_member_t *ics_keyset_find(const ics_keyset_t *ks, const char *org);
unsigned ics_keyset_voters(const ics_keyset_t *ks);

/* One proved leaf. Nothing is owned. */
typedef struct {
    uint64_t position;
    bool accepted;
    const uint8_t *entry;
    size_t entry_len;
    const char *reason; /* "" when accepted */
    const ics_merkle_hash_t *proof;
    size_t proof_len;
} ics_receipt_leaf_t;

/* Writes a receipt: the entry, the membership evidence (ascending
 * positions, all accepted) and the cosigned head. ICS_OK or ICS_EIO. */
int ics_receipt_write(FILE *out, const ics_receipt_leaf_t *entry, const ics_receipt_leaf_t *members,
                      size_t n_members, const ics_note_t *head);

typedef struct {
    char group[ICS_GROUP_MAX];
    uint64_t position;
    bool accepted;
    char reason[256];
    uint8_t entry_id[32];
    char org[ICS_ORG_MAX]; /* the entry's signer as claimed ("" if undecodable) */
    uint64_t seq, timestamp_ms;
    uint64_t size; /* the tree head */
    uint8_t root[ICS_MERKLE_HASH_BYTES];
    char cosigners[ICS_NOTE_SIGS_MAX][ICS_ORG_MAX];
    unsigned n_cosigners, voters, needed;
    size_t evidence; /* membership entries replayed */
    uint8_t genesis_id[32];
} ics_receipt_report_t;

/* Checks a receipt completely, offline: syntax (one spelling for each
 * part), the entry's inclusion in the head, each membership entry's
 * inclusion and replay from the genesis, and that every signature line is a
 * voting member's (at the head's size) valid cosignature of the head, by
 * more than half of the voting members. Fills *rep. ICS_OK;
 * ICS_EMALFORMED (syntax), ICS_EINVAL (a proof or the evidence does not
 * hold), ICS_ESIG (a cosignature is wrong or too few), with err saying
 * what. */
int ics_receipt_verify(const char *text, size_t len, ics_receipt_report_t *rep, ics_err_t *err);

/* The tree head of a checkpoint file: a receipt (checked in full first) or
 * a bare signed note (parsed; its signatures are not checked, no keys being
 * known). *checked says which. */
int ics_checkpoint_file_head(const char *text, size_t len, ics_note_t *head, bool *checked,
                             ics_err_t *err);

/* A consistency answer (section 8a): the node's tree head (size, root)
 * and the proof from old_size. */
int ics_consistency_write(FILE *out, const char *group, uint64_t old_size, uint64_t size,
                          const uint8_t root[ICS_MERKLE_HASH_BYTES], const ics_merkle_hash_t *proof,
                          size_t proof_len);

typedef struct {
    uint64_t old_size, size;
    uint8_t old_root[ICS_MERKLE_HASH_BYTES], root[ICS_MERKLE_HASH_BYTES];
} ics_consistency_report_t;

/* Does the log answered in text extend head? ICS_OK when the proof shows
 * head is a prefix of the answered tree; ICS_EINVAL with err saying
 * "truncated" (the log is shorter than the head) or "forked" (the proof
 * does not hold: the log differs at or before the head's size);
 * ICS_EMALFORMED for a bad answer or another group's. */
int ics_consistency_check(const char *text, size_t len, const ics_note_t *head,
                          ics_consistency_report_t *rep, ics_err_t *err);

#endif
