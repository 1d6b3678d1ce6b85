/*
 * Batches: one raft COMMAND entry that carries several signed envelopes
 * (docs/raft-0.15-notes.md, "Batched entries"). The leader proposes the
 * envelopes that wait in one loop turn as one entry; every node applies
 * them one at a time, in order, as if each had been an entry of its own.
 * Batching is a raft-log matter only: the audit log, its positions and
 * entry ids, exports and the verifier see envelopes, never batches.
 *
 *   magic   8 bytes   00 'I' 'C' 'S' 'B' 'A' 'T' 01
 *   count   u32be     2 to ICS_BATCH_MAX
 *   count times:
 *     len   u32be     1 to ICS_BATCH_ITEM_MAX
 *     bytes len bytes an envelope (as a bare entry would carry it)
 *
 * and nothing after the last element. A protobuf message never starts
 * with a 00 byte (field number 0 does not exist), so no envelope, and no
 * entry that ever decoded as one, starts like a batch. Bytes that start
 * with the magic but break any rule above are not a batch: they are one
 * (malformed) envelope, as they always were.
 */
#ifndef ICS_BATCH_H
#define ICS_BATCH_H

#include "common/ics.h"

#define ICS_BATCH_MAGIC "\0ICSBAT\1"
#define ICS_BATCH_MAGIC_LEN 8u
#define ICS_BATCH_HEADER (ICS_BATCH_MAGIC_LEN + 4u) /* magic and count */
#define ICS_BATCH_PER_ITEM 4u                        /* each element's length */
#define ICS_BATCH_MAX 256u                           /* envelopes in one entry */
#define ICS_BATCH_ITEM_MAX (ICS_ENVELOPE_MAX + 1024u) /* as ics_envelope_decode */

/* Reads a batch in place: ics_batch_open checks the whole of it, then
 * ics_batch_next hands out its elements in order. Nothing is copied: the
 * elements point into buf, which must outlive the reader. */
typedef struct {
    const uint8_t *buf;
    size_t len, off;
    uint32_t count, index;
} ics_batch_reader_t;

/* Does buf start with the batch magic? (A predicate: says nothing about the
 * rest.) */
bool ics_batch_is(const uint8_t *buf, size_t len);

/* Checks that buf is a batch by every rule of the format. ICS_OK and r
 * ready; else ICS_EMALFORMED with err saying what is wrong (buf is then not
 * a batch: see the top). */
int ics_batch_open(ics_batch_reader_t *r, const uint8_t *buf, size_t len, ics_err_t *err);

/* The next element, false after the last. */
bool ics_batch_next(ics_batch_reader_t *r, const uint8_t **el, size_t *el_len);

/* Builds an entry from envelopes. Zero-initialised it is empty; it grows
 * its buffer as needed and keeps it across ics_batch_reset. */
typedef struct {
    uint8_t *buf; /* malloc'd: ICS_BATCH_HEADER, then the elements */
    size_t len, cap;
    uint32_t count;
} ics_batch_writer_t;

/* The entry's size once an element of el_len bytes is added: what a bound
 * on entry size is checked against before ics_batch_add. */
size_t ics_batch_size_with(const ics_batch_writer_t *w, size_t el_len);

/* Appends a copy of el. ICS_EINVAL if the batch is full or el is empty or
 * too long, ICS_ENOMEM. */
int ics_batch_add(ics_batch_writer_t *w, const uint8_t *el, size_t el_len);

/* The entry to propose, pointing into w (valid until the next add, reset
 * or free): with one element, that element's bytes alone (a bare
 * envelope, as before batches); with more, the batch. Nothing (NULL, 0)
 * when empty. */
void ics_batch_entry(ics_batch_writer_t *w, const uint8_t **out, size_t *out_len);

/* Empties w, keeping its buffer. */
void ics_batch_reset(ics_batch_writer_t *w);

/* Frees w's buffer; w is empty afterwards. */
void ics_batch_free(ics_batch_writer_t *w);

#endif
