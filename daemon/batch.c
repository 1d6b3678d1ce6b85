/*
 * Batches of envelopes in one raft entry: the framing (batch.h), written
 * by the leader and read on every node, from its own proposals and from
 * what peers send. Reading trusts nothing: every length is checked
 * against what is left before it is used, and ics_batch_open checks the
 * whole entry before any element is handed out, so a damaged batch is
 * never applied in part.
 */
#include "batch.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof ICS_BATCH_MAGIC - 1 == ICS_BATCH_MAGIC_LEN, "magic length");
_Static_assert(ICS_BATCH_ITEM_MAX < UINT32_MAX, "an element's length fits a u32");

static uint32_t s_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void s_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

bool ics_batch_is(const uint8_t *buf, size_t len)
{
    return buf != NULL && len >= ICS_BATCH_MAGIC_LEN &&
           memcmp(buf, ICS_BATCH_MAGIC, ICS_BATCH_MAGIC_LEN) == 0;
}

int ics_batch_open(ics_batch_reader_t *r, const uint8_t *buf, size_t len, ics_err_t *err)
{
    size_t off = ICS_BATCH_HEADER;
    uint32_t count;

    assert(r != NULL);
    memset(r, 0, sizeof *r);
    if (!ics_batch_is(buf, len))
        return ics_err(err, ICS_EMALFORMED, "not a batch: no batch magic");
    if (len < ICS_BATCH_HEADER)
        return ics_err(err, ICS_EMALFORMED, "batch of %zu bytes has no count", len);
    count = s_get32(buf + ICS_BATCH_MAGIC_LEN);
    if (count < 2 || count > ICS_BATCH_MAX)
        return ics_err(err, ICS_EMALFORMED, "batch of %u envelopes (2 to %u)", count,
                       ICS_BATCH_MAX);
    for (uint32_t i = 0; i < count; i++) {
        uint32_t n;
        if (len - off < ICS_BATCH_PER_ITEM)
            return ics_err(err, ICS_EMALFORMED, "batch ends before element %u of %u", i + 1,
                           count);
        n = s_get32(buf + off);
        off += ICS_BATCH_PER_ITEM;
        if (n == 0 || n > ICS_BATCH_ITEM_MAX)
            return ics_err(err, ICS_EMALFORMED, "element %u of the batch is %u bytes (1 to %u)",
                           i + 1, n, ICS_BATCH_ITEM_MAX);
        if (len - off < n)
            return ics_err(err, ICS_EMALFORMED,
                           "element %u of the batch (%u bytes) runs past its end", i + 1, n);
        off += n;
    }
    if (off != len)
        return ics_err(err, ICS_EMALFORMED, "%zu bytes after the last element of the batch",
                       len - off);
    r->buf = buf;
    r->len = len;
    r->off = ICS_BATCH_HEADER;
    r->count = count;
    return ICS_OK;
}

bool ics_batch_next(ics_batch_reader_t *r, const uint8_t **el, size_t *el_len)
{
    uint32_t n;

    if (r->buf == NULL || r->index >= r->count)
        return false;
    /* ics_batch_open checked every length. */
    assert(r->len - r->off >= ICS_BATCH_PER_ITEM);
    n = s_get32(r->buf + r->off);
    assert(r->len - r->off - ICS_BATCH_PER_ITEM >= n);
    *el = r->buf + r->off + ICS_BATCH_PER_ITEM;
    *el_len = n;
    r->off += ICS_BATCH_PER_ITEM + n;
    r->index++;
    return true;
}

size_t ics_batch_size_with(const ics_batch_writer_t *w, size_t el_len)
{
    size_t len = w->count == 0 ? ICS_BATCH_HEADER : w->len;
    return len + ICS_BATCH_PER_ITEM + el_len;
}

int ics_batch_add(ics_batch_writer_t *w, const uint8_t *el, size_t el_len)
{
    size_t need;

    if (w->count >= ICS_BATCH_MAX || el_len == 0 || el_len > ICS_BATCH_ITEM_MAX)
        return ICS_EINVAL;
    need = ics_batch_size_with(w, el_len);
    if (need > w->cap) {
        size_t cap = w->cap > 0 ? w->cap : 4096;
        while (cap < need)
            cap *= 2;
        uint8_t *buf = realloc(w->buf, cap);
        if (buf == NULL)
            return ICS_ENOMEM;
        w->buf = buf;
        w->cap = cap;
    }
    if (w->count == 0) {
        memcpy(w->buf, ICS_BATCH_MAGIC, ICS_BATCH_MAGIC_LEN);
        w->len = ICS_BATCH_HEADER;
    }
    s_put32(w->buf + w->len, (uint32_t)el_len);
    memcpy(w->buf + w->len + ICS_BATCH_PER_ITEM, el, el_len);
    w->len += ICS_BATCH_PER_ITEM + el_len;
    w->count++;
    s_put32(w->buf + ICS_BATCH_MAGIC_LEN, w->count);
    return ICS_OK;
}

void ics_batch_entry(ics_batch_writer_t *w, const uint8_t **out, size_t *out_len)
{
    if (w->count == 0) {
        *out = NULL;
        *out_len = 0;
    } else if (w->count == 1) {
        *out = w->buf + ICS_BATCH_HEADER + ICS_BATCH_PER_ITEM;
        *out_len = w->len - ICS_BATCH_HEADER - ICS_BATCH_PER_ITEM;
    } else {
        *out = w->buf;
        *out_len = w->len;
    }
}

void ics_batch_reset(ics_batch_writer_t *w)
{
    w->len = 0;
    w->count = 0;
}

void ics_batch_free(ics_batch_writer_t *w)
{
    free(w->buf);
    memset(w, 0, sizeof *w);
}
