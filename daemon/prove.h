/*
 * Receipts and consistency answers built from a group's history
 * (docs/log-format.md, section 8a; common/receipt.h checks them).
 */
#ifndef ICS_PROVE_H
#define ICS_PROVE_H

#include <stdio.h>

#include "history.h"

/* Entries read, downwards from the top, looking for a cosigned head. */
#define ICS_PROVE_SCAN_MAX 16384

/* Writes the receipt of position: the newest tree head at or above it that
 * a majority of the voting members (at its size) cosigned, found among the
 * checkpoints of the newest ICS_PROVE_SCAN_MAX entries, with the inclusion
 * proofs of the entry and of every accepted membership entry up to it.
 * ICS_ENOENT (position not held), ICS_EUNAVAIL (no such head yet), ICS_EIO;
 * err says which. */
int ics_prove_receipt(ics_history_t *h, const char *group, uint64_t position, FILE *out,
                      ics_err_t *err);

/* Writes the consistency answer from old_size to this history's tree: the
 * tree head (size, root) and the RFC 9162 proof; a history shorter than
 * old_size answers its own head with no proof (the checker says
 * "truncated"). */
int ics_prove_consistency(ics_history_t *h, const char *group, uint64_t old_size, FILE *out,
                          ics_err_t *err);

#endif
