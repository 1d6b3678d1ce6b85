/*
 * Signed tree heads (daemon/common/note.c): the C2SP signed-note body, key
 * hash and signature line of a cosignature, against vectors computed
 * independently (Python's hashlib, base64 and the 'cryptography' package's
 * Ed25519 from the fixed seed 00 01 02 ... 1f), and the same vectors as
 * docs/log-format.md states them, so the document cannot drift from the
 * code.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/keys.h"
#include "common/logverify.h"
#include "common/envelope.h"
#include "common/note.h"
#include "common/receipt.h"

#define GROUP "qhm-ics"
#define ROOT2_HEX "8b895b63c3d6e9550610eda8498cf43792bcf31f2abd645cdb7f797d940203ac"
#define BODY "icsd/qhm-ics\n2\ni4lbY8PW6VUGEO2oSYz0N5K88x8qvWRc2395fZQCA6w=\n"
#define PK_HEX "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
#define KEY_HASH_HEX "d2dba104"
#define SIG_HEX                                                                                    \
    "78e8f2378f86ca997dcfa737ab6f7547406c42302bdffaa9ed6b6566d9b9d5e7"                             \
    "6f8410904aa9c4ae1f0374c7e6a41a1b9f40537b9d94965edb273cd9dfaa1b04"
#define SIG_LINE                                                                                   \
    "\xe2\x80\x94 QHM 0tuhBHjo8jePhsqZfc+nN6tvdUdAbEIwK9/6qe1rZWbZudXnb4QQkEqpxK4fA3TH5qQaG59AU3udl" \
    "JZe2yc82d+qGwQ=\n"
#define VERIFIER_KEY "QHM+d2dba104+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"

static void s_unhex(const char *hex, uint8_t *out, size_t n)
{
    assert_int_equal(sodium_hex2bin(out, n, hex, strlen(hex), NULL, NULL, NULL), 0);
}

static void test_cosignature_vector(void **state)
{
    uint8_t root[32], seed[32], pk[32], sig[64], want_sig[64], kh[4];
    char body[ICS_NOTE_BODY_MAX], line[ICS_NOTE_SIG_LINE_MAX], hex[129];
    ics_identity_t *id;
    (void)state;

    s_unhex(ROOT2_HEX, root, 32);
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;
    id = ics_identity_from_seed(seed);
    assert_non_null(id);
    s_unhex(PK_HEX, pk, 32);
    assert_memory_equal(ics_identity_public(id), pk, 32);

    assert_int_equal(ics_note_body(GROUP, 2, root, body), strlen(BODY));
    assert_string_equal(body, BODY);
    ics_note_key_hash("QHM", pk, kh);
    ics_hex(kh, 4, hex);
    assert_string_equal(hex, KEY_HASH_HEX);
    ics_identity_sign(id, (const uint8_t *)body, strlen(body), sig);
    s_unhex(SIG_HEX, want_sig, 64);
    assert_memory_equal(sig, want_sig, 64); /* Ed25519 is deterministic */
    assert_int_equal(ics_note_sig_line("QHM", pk, sig, line), strlen(SIG_LINE));
    assert_string_equal(line, SIG_LINE);

    assert_true(ics_note_cosignature_ok(GROUP, 2, root, pk, sig));
    assert_false(ics_note_cosignature_ok(GROUP, 3, root, pk, sig));
    assert_false(ics_note_cosignature_ok("other", 2, root, pk, sig));
    root[0] ^= 1;
    assert_false(ics_note_cosignature_ok(GROUP, 2, root, pk, sig));
    root[0] ^= 1;
    sig[63] ^= 0x40;
    assert_false(ics_note_cosignature_ok(GROUP, 2, root, pk, sig));
    assert_int_equal(ics_note_sig_line("bad name", pk, sig, line), 0);
    ics_identity_destroy(&id);
}

/* Every vector above appears in docs/log-format.md as written there. */
static void test_document_states_the_vectors(void **state)
{
    char path[512], *doc = NULL;
    size_t len = 0;
    FILE *f;
    static const char *const want[] = {
        "icsd/qhm-ics", "i4lbY8PW6VUGEO2oSYz0N5K88x8qvWRc2395fZQCA6w=", PK_HEX, KEY_HASH_HEX,
        "78e8f2378f86ca997dcfa737ab6f7547406c42302bdffaa9ed6b6566d9b9d5e7",
        "6f8410904aa9c4ae1f0374c7e6a41a1b9f40537b9d94965edb273cd9dfaa1b04", VERIFIER_KEY,
        "\xe2\x80\x94 QHM 0tuhBHjo8jePhsqZfc+nN6tvdUdAbEIwK9/6qe1rZWbZudXnb4QQkEqpxK4fA3TH5qQaG59AU3udl"
        "JZe2yc82d+qGwQ=",
        ROOT2_HEX, "efab3b6742aba8ca2bf3fdcf503a990300cdd875ed3c49e258245203b02c9dcd",
        "1c529a7aa766ce7e8976f1895c2e04f19f60d35bbcc3d7e1f6dfb2436d35240f",
    };
    (void)state;

    snprintf(path, sizeof path, "%s/docs/log-format.md", ICS_SOURCE_DIR);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_true(getdelim(&doc, &len, '\0', f) > 0);
    fclose(f);
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (strstr(doc, want[i]) == NULL)
            fail_msg("docs/log-format.md does not state '%s'", want[i]);
    free(doc);
}

/* Section 8a's vectors: the entry line's proof verifies, the consistency
 * answer is accepted for the head of size 1, and both are in the text. */
static void test_receipt_and_consistency_vectors(void **state)
{
    static const char answer[] =
        "icsd-consistency 1 qhm-ics\n"
        "head 2 8b895b63c3d6e9550610eda8498cf43792bcf31f2abd645cdb7f797d940203ac\n"
        "proof 1 1c529a7aa766ce7e8976f1895c2e04f19f60d35bbcc3d7e1f6dfb2436d35240f\n"
        "end\n";
    static const char entry_line[] =
        "entry 2 a AQ== - efab3b6742aba8ca2bf3fdcf503a990300cdd875ed3c49e258245203b02c9dcd";
    ics_merkle_hash_t proof[1];
    uint8_t id[32], leaf[32], root[32], one = 1;
    ics_consistency_report_t rep;
    ics_note_t head;
    ics_err_t err;
    char path[512], *doc = NULL;
    size_t len = 0;
    FILE *f;
    (void)state;

    ics_entry_id(&one, 1, id);
    ics_log_leaf_hash(2, id, true, "", leaf);
    s_unhex("efab3b6742aba8ca2bf3fdcf503a990300cdd875ed3c49e258245203b02c9dcd", proof[0], 32);
    s_unhex(ROOT2_HEX, root, 32);
    assert_true(ics_merkle_verify_inclusion(leaf, 1, 2, proof, 1, root));

    memset(&head, 0, sizeof head);
    ics_strcpy(head.group, sizeof head.group, GROUP);
    head.size = 1;
    memcpy(head.root, proof[0], 32);
    assert_int_equal(ics_consistency_check(answer, strlen(answer), &head, &rep, &err), ICS_OK);
    assert_int_equal(rep.size, 2);
    head.root[0] ^= 1;
    assert_int_equal(ics_consistency_check(answer, strlen(answer), &head, &rep, &err),
                     ICS_EINVAL);
    assert_non_null(strstr(err.msg, "FORKED"));
    head.root[0] ^= 1;
    head.size = 3;
    assert_int_not_equal(ics_consistency_check(answer, strlen(answer), &head, &rep, &err),
                         ICS_OK);

    snprintf(path, sizeof path, "%s/docs/log-format.md", ICS_SOURCE_DIR);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_true(getdelim(&doc, &len, '\0', f) > 0);
    fclose(f);
    assert_non_null(strstr(doc, answer));
    assert_non_null(strstr(doc, entry_line));
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cosignature_vector),
        cmocka_unit_test(test_document_states_the_vectors),
        cmocka_unit_test(test_receipt_and_consistency_vectors),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
