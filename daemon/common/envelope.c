/*
 * Envelope signing and verification.
 *
 * The signature never covers protobuf bytes: it covers a domain-separated,
 * length-prefixed encoding of every header field and the payload, so that
 * no field boundary is ambiguous and a signature made for an envelope
 * cannot verify as anything else (a ping, another group, another kind).
 * Decoding insists on the canonical protobuf encoding, so an envelope has
 * exactly one byte form and its entry id (a hash of those bytes) names it.
 */
#include "envelope.h"
#include "merkle.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const char s_domain[] = "ICSD-ENVELOPE-V1";
static const char s_batch_domain[] = "ICSD-ENVBATCH-V2";

#define S_STATEMENT_LEN (sizeof s_batch_domain - 1 + 4 + ICS_MERKLE_HASH_BYTES)

/* Where the signing input goes: into p (room for cap bytes), or, when h is
 * set, into a BLAKE2b state without being kept. */
typedef struct {
    uint8_t *p;
    size_t len, cap;
    crypto_generichash_state *h;
} s_buf_t;

static void s_put(s_buf_t *b, const void *data, size_t n)
{
    /* An empty bytes field decodes as NULL: memcpy may not be given it. */
    if (n == 0)
        return;
    if (b->h != NULL)
        crypto_generichash_update(b->h, data, n);
    else
        memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void s_put_u32(s_buf_t *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    s_put(b, x, 4);
}

static void s_put_u64(s_buf_t *b, uint64_t v)
{
    s_put_u32(b, (uint32_t)(v >> 32));
    s_put_u32(b, (uint32_t)v);
}

static void s_put_bytes(s_buf_t *b, const void *data, size_t n)
{
    s_put_u32(b, (uint32_t)n);
    s_put(b, data, n);
}

/* What the signing input covers: the envelope's fields, its version and
 * its key id. */
typedef struct {
    uint32_t version;
    const uint8_t *key_id;
    size_t key_id_len;
    ics_envelope_fields_t f;
} s_input_t;

static s_input_t s_input_of(const Ics__V1__Envelope *env)
{
    return (s_input_t){env->version, env->key_id.data, env->key_id.len,
                       {env->group, env->org, env->seq, env->timestamp_ms, env->kind,
                        env->payload.data, env->payload.len}};
}

/* Its length, or 0 when a field is over its limit. */
static size_t s_input_len(const s_input_t *in)
{
    size_t glen = strlen(in->f.group), olen = strlen(in->f.org);

    if (glen > ICS_GROUP_MAX || olen > ICS_ORG_MAX || in->f.payload_len > ICS_ENVELOPE_MAX)
        return 0;
    return sizeof s_domain - 1 + 4 + 4 + glen + 4 + olen + 4 + in->key_id_len + 8 + 8 + 4 +
           4 + in->f.payload_len;
}

static void s_write_input(s_buf_t *b, const s_input_t *in)
{
    s_put(b, s_domain, sizeof s_domain - 1);
    s_put_u32(b, in->version);
    s_put_bytes(b, in->f.group, strlen(in->f.group));
    s_put_bytes(b, in->f.org, strlen(in->f.org));
    s_put_bytes(b, in->key_id, in->key_id_len);
    s_put_u64(b, in->f.seq);
    s_put_u64(b, in->f.timestamp_ms);
    s_put_u32(b, in->f.kind);
    s_put_bytes(b, in->f.payload, in->f.payload_len);
}

static int s_signing_input(const s_input_t *in, uint8_t **out, size_t *out_len)
{
    s_buf_t b = {.cap = s_input_len(in)};

    if (b.cap == 0)
        return ICS_ETOOBIG;
    b.p = malloc(b.cap);
    if (b.p == NULL)
        return ICS_ENOMEM;
    s_write_input(&b, in);
    *out = b.p;
    *out_len = b.len;
    return ICS_OK;
}

/* A version 2 envelope's leaf in its batch's tree: the Merkle leaf hash of
 * the BLAKE2b-256 digest of its signing input (docs/log-format.md section
 * 2), hashed as it is written, never copied. */
static int s_leaf(const s_input_t *in, uint8_t leaf[ICS_MERKLE_HASH_BYTES])
{
    crypto_generichash_state h;
    uint8_t digest[32];
    s_buf_t b = {.h = &h};

    if (s_input_len(in) == 0)
        return ICS_ETOOBIG;
    crypto_generichash_init(&h, NULL, 0, sizeof digest);
    s_write_input(&b, in);
    crypto_generichash_final(&h, digest, sizeof digest);
    ics_merkle_leaf_hash(digest, sizeof digest, leaf);
    return ICS_OK;
}

int ics_envelope_signing_input(const Ics__V1__Envelope *env, uint8_t **out,
                               size_t *out_len)
{
    s_input_t in = s_input_of(env);
    return s_signing_input(&in, out, out_len);
}

int ics_pack(const ProtobufCMessage *msg, uint8_t **out, size_t *out_len)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *p = malloc(n > 0 ? n : 1);
    if (p == NULL)
        return ICS_ENOMEM;
    protobuf_c_message_pack(msg, p);
    *out = p;
    *out_len = n;
    return ICS_OK;
}

/* What a version 2 signature covers: the domain, the batch's size and the
 * root of its tree. */
static void s_statement(uint32_t size, const uint8_t root[ICS_MERKLE_HASH_BYTES],
                        uint8_t out[S_STATEMENT_LEN])
{
    s_buf_t b = {.p = out, .cap = S_STATEMENT_LEN};
    s_put(&b, s_batch_domain, sizeof s_batch_domain - 1);
    s_put_u32(&b, size);
    s_put(&b, root, ICS_MERKLE_HASH_BYTES);
}

/* A batch's tree, level by level: level 0 its leaves, each level above the
 * parents of the complete pairs below. Every complete aligned subtree is
 * one entry, which is all ics_merkle_* reads. */
typedef struct {
    ics_merkle_hash_t h[2 * ICS_SEAL_BATCH_MAX];
    size_t at[8]; /* start of each level in h */
} s_tree_t;

_Static_assert(ICS_SEAL_BATCH_MAX <= 1u << 7, "eight levels hold the batch's tree");

static void s_tree_build(s_tree_t *t, size_t n)
{
    size_t k = 0, count = n;

    t->at[0] = 0;
    while (count > 1 && k + 1 < sizeof t->at / sizeof t->at[0]) {
        size_t below = t->at[k];
        t->at[k + 1] = below + count;
        for (size_t i = 0; i + 1 < count; i += 2)
            ics_merkle_node_hash(t->h[below + i], t->h[below + i + 1],
                                 t->h[t->at[k + 1] + i / 2]);
        count /= 2;
        k++;
    }
}

static int s_tree_node(void *ctx, unsigned level, uint64_t index,
                       uint8_t out[ICS_MERKLE_HASH_BYTES])
{
    const s_tree_t *t = ctx;
    memcpy(out, t->h[t->at[level] + index], ICS_MERKLE_HASH_BYTES);
    return ICS_OK;
}

int ics_envelope_seal_batch(const ics_identity_t *id, const ics_envelope_fields_t *f, size_t n,
                            uint8_t **out, size_t *out_len, ics_err_t *err)
{
    s_tree_t *tree = NULL;
    ics_merkle_hash_t root, path[ICS_MERKLE_PROOF_MAX];
    uint8_t statement[S_STATEMENT_LEN], sig[ICS_SIG_BYTES];
    int rc = ICS_OK;

    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    if (n == 0 || n > ICS_SEAL_BATCH_MAX)
        return ics_err(err, ICS_EINVAL, "a batch seals 1 to %d envelopes, not %zu",
                       ICS_SEAL_BATCH_MAX, n);
    tree = malloc(sizeof *tree);
    if (tree == NULL)
        return ics_err(err, ICS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && rc == ICS_OK; i++) {
        s_input_t in = {ICS_ENVELOPE_VERSION, ics_identity_key_id(id), ICS_KEY_ID_BYTES, f[i]};

        if (!ics_valid_id(f[i].group, ICS_GROUP_MAX) || !ics_valid_id(f[i].org, ICS_ORG_MAX))
            rc = ics_err(err, ICS_EINVAL, "invalid group or organisation id");
        else if (s_leaf(&in, tree->h[i]) != ICS_OK)
            rc = ics_err(err, ICS_ETOOBIG, "envelope payload of %zu bytes is over the %u byte"
                         " limit", f[i].payload_len, ICS_ENVELOPE_MAX);
    }
    if (rc != ICS_OK)
        goto done;
    s_tree_build(tree, n);
    rc = ics_merkle_root(s_tree_node, tree, n, root);
    if (rc != ICS_OK)
        goto done;
    s_statement((uint32_t)n, root, statement);
    ics_identity_sign(id, statement, sizeof statement, sig);

    for (size_t i = 0; i < n && rc == ICS_OK; i++) {
        Ics__V1__Envelope env = ICS__V1__ENVELOPE__INIT;
        size_t path_len = 0;

        rc = ics_merkle_inclusion_proof(s_tree_node, tree, i, n, path, &path_len);
        if (rc != ICS_OK)
            break;
        env.version = ICS_ENVELOPE_VERSION;
        env.group = (char *)f[i].group;
        env.org = (char *)f[i].org;
        env.key_id.data = (uint8_t *)ics_identity_key_id(id);
        env.key_id.len = ICS_KEY_ID_BYTES;
        env.seq = f[i].seq;
        env.timestamp_ms = f[i].timestamp_ms;
        env.kind = f[i].kind;
        env.payload.data = (uint8_t *)f[i].payload;
        env.payload.len = f[i].payload_len;
        env.signature.data = sig;
        env.signature.len = sizeof sig;
        env.batch_size = (uint32_t)n;
        env.batch_index = (uint32_t)i;
        env.batch_path.data = path_len > 0 ? path[0] : NULL;
        env.batch_path.len = path_len * ICS_MERKLE_HASH_BYTES;
        rc = ics_pack(&env.base, &out[i], &out_len[i]);
    }
    if (rc != ICS_OK)
        rc = ics_err(err, rc, "out of memory");
done:
    if (rc != ICS_OK)
        for (size_t i = 0; i < n; i++) {
            free(out[i]);
            out[i] = NULL;
        }
    free(tree);
    return rc;
}

int ics_envelope_seal(const ics_identity_t *id, const ics_envelope_fields_t *f,
                      uint8_t **out, size_t *out_len, ics_err_t *err)
{
    return ics_envelope_seal_batch(id, f, 1, out, out_len, err);
}

/* Version 2's fields in their bounds, and a path exactly as long as the
 * tree's shape needs; version 1 has none of them. */
static bool s_batch_fields_ok(const Ics__V1__Envelope *env)
{
    if (env->version == 1)
        return env->batch_size == 0 && env->batch_index == 0 && env->batch_path.len == 0;
    return env->version == 2 && env->batch_size >= 1 && env->batch_size <= ICS_SEAL_BATCH_MAX &&
           env->batch_index < env->batch_size &&
           env->batch_path.len ==
               ics_merkle_inclusion_len(env->batch_index, env->batch_size) *
                   ICS_MERKLE_HASH_BYTES;
}

int ics_envelope_signed_message(const Ics__V1__Envelope *env, uint8_t **out, size_t *out_len)
{
    ics_merkle_hash_t leaf, root;
    s_input_t in = s_input_of(env);
    int rc;

    *out = NULL;
    if (!s_batch_fields_ok(env))
        return ICS_EMALFORMED;
    if (env->version == 1)
        return s_signing_input(&in, out, out_len);
    rc = s_leaf(&in, leaf);
    if (rc != ICS_OK)
        return rc;
    if (!ics_merkle_inclusion_root(leaf, env->batch_index, env->batch_size,
                                   (const ics_merkle_hash_t *)env->batch_path.data,
                                   env->batch_path.len / ICS_MERKLE_HASH_BYTES, root))
        return ICS_EMALFORMED;
    *out = malloc(S_STATEMENT_LEN);
    if (*out == NULL)
        return ICS_ENOMEM;
    s_statement(env->batch_size, root, *out);
    *out_len = S_STATEMENT_LEN;
    return ICS_OK;
}

int ics_envelope_decode(const uint8_t *buf, size_t len, Ics__V1__Envelope **out,
                        ics_err_t *err)
{
    Ics__V1__Envelope *env = NULL;
    uint8_t *repacked = NULL;
    size_t repacked_len = 0;
    int rc;

    *out = NULL;
    if (len > ICS_ENVELOPE_MAX + 1024)
        return ics_err(err, ICS_ETOOBIG, "envelope of %zu bytes is over the limit", len);
    if (len == 0)
        return ics_err(err, ICS_EMALFORMED, "empty envelope");
    env = ics__v1__envelope__unpack(NULL, len, buf);
    if (env == NULL)
        return ics_err(err, ICS_EMALFORMED, "envelope does not decode (truncated or corrupt)");
    if (env->version < ICS_ENVELOPE_VERSION_MIN || env->version > ICS_ENVELOPE_VERSION) {
        rc = ics_err(err, ICS_EVERSION, "envelope version %u is not supported (this node speaks"
                     " %u to %u)", env->version, ICS_ENVELOPE_VERSION_MIN, ICS_ENVELOPE_VERSION);
        goto fail;
    }
    if (env->base.n_unknown_fields != 0 || env->key_id.len != ICS_KEY_ID_BYTES ||
        env->signature.len != ICS_SIG_BYTES || !ics_valid_id(env->group, ICS_GROUP_MAX) ||
        !ics_valid_id(env->org, ICS_ORG_MAX) || env->seq == 0) {
        rc = ics_err(err, ICS_EMALFORMED, "envelope header is malformed");
        goto fail;
    }
    if (!s_batch_fields_ok(env)) {
        rc = ics_err(err, ICS_EMALFORMED, "envelope's batch fields do not fit version %u",
                     env->version);
        goto fail;
    }
    rc = ics_pack(&env->base, &repacked, &repacked_len);
    if (rc != ICS_OK)
        goto fail;
    if (repacked_len != len || memcmp(repacked, buf, len) != 0) {
        rc = ics_err(err, ICS_EMALFORMED, "envelope is not canonically encoded");
        goto fail;
    }
    free(repacked);
    *out = env;
    return ICS_OK;
fail:
    free(repacked);
    ics__v1__envelope__free_unpacked(env, NULL);
    return rc;
}

int ics_envelope_verify(const Ics__V1__Envelope *env, const char *group,
                        const uint8_t pk[ICS_PK_BYTES], ics_err_t *err)
{
    uint8_t key_id[ICS_KEY_ID_BYTES];
    uint8_t *input = NULL;
    size_t input_len = 0;
    bool ok;
    int rc;

    if (strcmp(env->group, group) != 0)
        return ics_err(err, ICS_EGROUP, "envelope is for group '%s', not '%s'",
                       env->group, group);
    ics_key_id(pk, key_id);
    if (env->key_id.len != ICS_KEY_ID_BYTES ||
        sodium_memcmp(env->key_id.data, key_id, ICS_KEY_ID_BYTES) != 0)
        return ics_err(err, ICS_EKEY, "envelope is signed with a key %s does not hold",
                       env->org);
    rc = ics_envelope_signed_message(env, &input, &input_len);
    if (rc == ICS_EMALFORMED)
        return ics_err(err, ICS_ESIG, "signature by %s does not verify", env->org);
    if (rc != ICS_OK)
        return ics_err(err, rc, "envelope too big to verify");
    ok = env->signature.len == ICS_SIG_BYTES &&
         ics_signature_ok(pk, input, input_len, env->signature.data);
    free(input);
    if (!ok)
        return ics_err(err, ICS_ESIG, "signature by %s does not verify", env->org);
    return ICS_OK;
}

int ics_envelope_open(const uint8_t *buf, size_t len, const char *group,
                      const uint8_t pk[ICS_PK_BYTES], Ics__V1__Envelope **out,
                      ics_err_t *err)
{
    int rc = ics_envelope_decode(buf, len, out, err);
    if (rc != ICS_OK)
        return rc;
    rc = ics_envelope_verify(*out, group, pk, err);
    if (rc != ICS_OK) {
        ics__v1__envelope__free_unpacked(*out, NULL);
        *out = NULL;
    }
    return rc;
}

int ics_command_decode(const Ics__V1__Envelope *env, Ics__V1__Command **out,
                       ics_err_t *err)
{
    Ics__V1__Command *cmd = ics__v1__command__unpack(NULL, env->payload.len,
                                                     env->payload.data);
    *out = NULL;
    if (cmd == NULL)
        return ics_err(err, ICS_EMALFORMED, "payload does not decode as a command");
    if ((uint32_t)cmd->body_case != env->kind) {
        int kind = (int)cmd->body_case;
        ics__v1__command__free_unpacked(cmd, NULL);
        if (kind == 0)
            return ics_err(err, ICS_EKIND, "unknown command kind %u", env->kind);
        return ics_err(err, ICS_EKIND, "payload is command kind %d, header says %u",
                       kind, env->kind);
    }
    *out = cmd;
    return ICS_OK;
}

void ics_entry_id(const uint8_t *buf, size_t len, uint8_t id[ICS_ENTRY_ID_BYTES])
{
    crypto_generichash(id, ICS_ENTRY_ID_BYTES, buf, len, NULL, 0);
}
