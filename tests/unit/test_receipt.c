/*
 * Receipts and consistency proofs (daemon/prove.c builds them from a
 * history, daemon/common/receipt.c checks them offline): a receipt
 * verifies; one changed byte anywhere in it (the entry, a proof, the
 * checkpoint, a cosignature, the evidence) makes it fail with a reason; no
 * receipt is given before a majority cosigned a head; consistency catches a
 * truncated and a forked log.
 *
 * The logs are real ones, applied by a state machine (fixture_fsm.h) with
 * checkpoints cosigned by the members' keys.
 *
 * Layout: fixture, helpers, scenarios.
 */
#include "fixture_fsm.h"

#include <stdlib.h>
#include <string.h>

#include "common/receipt.h"
#include "prove.h"

#define GROUP "nenc"

static const char *const ORGS[] = {"QHM:icb", "RTD:foundation_trust", "RX4:mental_health",
                                   "RX6:trust"};

/* The log: genesis of QHM, RTD, RX4; RX6 added as a voter at position 8
 * (four voters, three needed); raw entries; every member but RX6
 * checkpoints 32; only QHM and RTD checkpoint 48. fork != 0 changes the
 * note of entry 10, so the logs agree up to position 9 only. */
static fx_fsm_t *s_log(int fork)
{
    fx_fsm_t *fx = fx_fsm_new(GROUP, ORGS, 4);
    ics_identity_t *rx6 = fx_identity("RX6");
    const char *const who[] = {"QHM", "RTD", "RX4"};
    uint8_t chain[32];

    FX_ACCEPTED(fx_genesis_as(fx, "QHM", NULL, 3));
    for (int i = 0; ics_fsm_position(fx->fsm) < 60; i++) {
        char note[32];
        uint64_t next = ics_fsm_position(fx->fsm) + 1;
        if (next == 8) {
            FX_ACCEPTED(fx_member_add(fx, "QHM", "RX6", "trust", ics_identity_public(rx6), 32,
                                      true));
            continue;
        }
        if (next == 40 || next == 55) {
            uint64_t p = next == 40 ? 32 : 48;
            assert_int_equal(ics_fsm_chain_at(fx->fsm, p, chain), ICS_OK);
            for (int k = 0; k < (p == 32 ? 3 : 2); k++)
                FX_ACCEPTED(fx_checkpoint(fx, who[k], p, chain, 32));
            continue;
        }
        snprintf(note, sizeof note, "%s %d", fork && next == 10 ? "forked" : "entry", i);
        FX_ACCEPTED(fx_raw(fx, who[i % 3], NULL, note));
    }
    ics_identity_destroy(&rx6);
    return fx;
}

typedef struct {
    fx_fsm_t *fx;
} fx_t;

static int s_setup(void **state)
{
    fx_t *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->fx = s_log(0);
    *state = t;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *t = *state;
    fx_fsm_destroy(&t->fx);
    free(t);
    return 0;
}

/* ---------------------------------------------------------------- helpers */

static char *s_prove(fx_fsm_t *fx, uint64_t position, size_t *len, int *rc, ics_err_t *err)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    assert_non_null(f);
    *rc = ics_prove_receipt(fx->history, GROUP, position, f, err);
    fclose(f);
    return text;
}

static int s_check(const char *text, size_t len, ics_receipt_report_t *rep, ics_err_t *err)
{
    return ics_receipt_verify(text, len, rep, err);
}

/* The receipt of position, which must verify. */
static char *s_good(fx_fsm_t *fx, uint64_t position, size_t *len)
{
    ics_receipt_report_t rep;
    ics_err_t err;
    int rc;
    char *text = s_prove(fx, position, len, &rc, &err);
    if (rc != ICS_OK)
        fail_msg("prove %llu: %s", (unsigned long long)position, err.msg);
    if (s_check(text, *len, &rep, &err) != ICS_OK)
        fail_msg("verify %llu: %s\n%s", (unsigned long long)position, err.msg, text);
    return text;
}

/* The answer of history to "does the log extend head?", checked. */
static int s_consistency(ics_history_t *history, const ics_note_t *head,
                         ics_consistency_report_t *rep, ics_err_t *err)
{
    char *answer = NULL;
    size_t alen = 0;
    FILE *f = open_memstream(&answer, &alen);
    int rc;

    assert_non_null(f);
    assert_int_equal(ics_prove_consistency(history, GROUP, head->size, f, err), ICS_OK);
    fclose(f);
    rc = ics_consistency_check(answer, alen, head, rep, err);
    free(answer);
    return rc;
}

/* text with the first occurrence of `from` after `after` replaced. */
#define ASSERT_ALTERED_FAILS(text, len, after, from, to, words)                                    \
    do {                                                                                           \
        char *copy_ = malloc(len);                                                                 \
        ics_receipt_report_t rep_;                                                                 \
        ics_err_t err_;                                                                            \
        char *at_;                                                                                 \
        assert_non_null(copy_);                                                                    \
        memcpy(copy_, text, len);                                                                  \
        at_ = strstr(strstr(copy_, after), from);                                                  \
        assert_non_null(at_);                                                                      \
        memcpy(at_, to, strlen(to));                                                               \
        if (s_check(copy_, len, &rep_, &err_) == ICS_OK)                                           \
            fail_msg("altered receipt verifies");                                                  \
        if (strstr(err_.msg, words) == NULL)                                                       \
            fail_msg("expected '%s', got '%s'", words, err_.msg);                                  \
        free(copy_);                                                                               \
    } while (0)

/* ---------------------------------------------------------------- scenarios */

static void test_receipt_verifies(void **state)
{
    fx_t *t = *state;
    ics_receipt_report_t rep;
    ics_err_t err;
    size_t len;
    char *text = s_good(t->fx, 5, &len);
    uint8_t root[32];

    assert_int_equal(s_check(text, len, &rep, &err), ICS_OK);
    assert_string_equal(rep.group, GROUP);
    assert_int_equal(rep.position, 5);
    assert_true(rep.accepted);
    assert_int_equal(rep.size, 32); /* the newest head a majority cosigned */
    assert_int_equal(ics_history_tree_root(t->fx->history, 32, root), ICS_OK);
    assert_memory_equal(rep.root, root, 32);
    assert_int_equal(rep.voters, 4);
    assert_int_equal(rep.needed, 3);
    assert_int_equal(rep.n_cosigners, 3);
    assert_string_equal(rep.cosigners[0], "QHM");
    assert_int_equal(rep.evidence, 2); /* the genesis and RX6's addition */
    assert_non_null(strstr(text, "\nmember 1 "));
    assert_non_null(strstr(text, "\nmember 8 "));
    assert_non_null(strstr(text, "\ncheckpoint\nicsd/nenc\n32\n"));
    free(text);
    /* The genesis itself, and the last position of the head. */
    free(s_good(t->fx, 1, &len));
    free(s_good(t->fx, 32, &len));
}

/* One changed bit in any byte of the file: it fails, and says why. */
static void test_every_altered_byte_fails(void **state)
{
    fx_t *t = *state;
    ics_receipt_report_t rep;
    ics_err_t err;
    size_t len;
    char *text = s_good(t->fx, 12, &len);

    for (size_t i = 0; i < len; i++) {
        for (unsigned bit = 1; bit < 0x100; bit <<= 3) {
            text[i] ^= (char)bit;
            if (s_check(text, len, &rep, &err) == ICS_OK)
                fail_msg("byte %zu ^ 0x%x: the receipt still verifies", i, bit);
            assert_true(err.msg[0] != '\0');
            text[i] ^= (char)bit;
        }
    }
    /* Cut short anywhere: it fails too. */
    for (size_t n = 0; n < len; n += 7)
        assert_int_not_equal(s_check(text, n, &rep, &err), ICS_OK);
    free(text);
}

/* What each kind of change is caught as. */
static void test_altered_parts_fail_with_reasons(void **state)
{
    fx_t *t = *state;
    size_t len;
    char *text = s_good(t->fx, 12, &len);
    char *line, *sp;
    char entry_b64[8], sig_b64[8];

    /* A character well inside the entry's base64, changed to another. */
    line = strstr(text, "\nentry 12 a ") + strlen("\nentry 12 a ");
    memcpy(entry_b64, line + 20, 4);
    entry_b64[4] = '\0';
    {
        char to[5];
        memcpy(to, entry_b64, 5);
        to[1] = to[1] == 'A' ? 'B' : 'A';
        ASSERT_ALTERED_FAILS(text, len, "\nentry 12 a ", entry_b64, to,
                             "inclusion proof of entry 12 does not lead to the tree head's root");
    }
    /* The verdict. */
    ASSERT_ALTERED_FAILS(text, len, "\n", "\nentry 12 a ", "\nentry 12 r ", "entry line");
    /* A hash of the entry's proof. */
    line = strstr(text, "\nentry 12 a ") + 1;
    for (sp = strchr(line, '\n'); *sp != ' '; sp--)
        ;
    {
        char from[12], to[12];
        memcpy(from, sp, 11);
        from[11] = '\0';
        memcpy(to, from, 12);
        to[5] = to[5] == '0' ? '1' : '0';
        ASSERT_ALTERED_FAILS(text, len, "\nentry 12 a ", from, to,
                             "inclusion proof of entry 12");
    }
    /* The evidence: RX6's addition. */
    line = strstr(text, "\nmember 8 ") + strlen("\nmember 8 ");
    {
        char from[5], to[5];
        memcpy(from, line + 40, 4);
        from[4] = '\0';
        memcpy(to, from, 5);
        to[0] = to[0] == 'A' ? 'B' : 'A';
        ASSERT_ALTERED_FAILS(text, len, "\nmember 8 ", from, to,
                             "inclusion proof of membership entry 8");
    }
    /* The tree head's size and root. */
    ASSERT_ALTERED_FAILS(text, len, "\ncheckpoint\n", "\nicsd/nenc\n32\n", "\nicsd/nenc\n16\n",
                         "does not lead to the tree head's root");
    line = strstr(text, "\nicsd/nenc\n32\n") + strlen("\nicsd/nenc\n32\n");
    {
        char from[5], to[5];
        memcpy(from, line + 10, 4);
        from[4] = '\0';
        memcpy(to, from, 5);
        to[2] = to[2] == 'A' ? 'B' : 'A';
        ASSERT_ALTERED_FAILS(text, len, "\nicsd/nenc\n32\n", from, to, "does not lead to");
    }
    /* A cosignature: a character in the signature part of RTD's line. */
    line = strstr(text, "\xe2\x80\x94 RTD ") + strlen("\xe2\x80\x94 RTD ");
    memcpy(sig_b64, line + 40, 4);
    sig_b64[4] = '\0';
    {
        char to[5];
        memcpy(to, sig_b64, 5);
        to[3] = to[3] == 'A' ? 'B' : 'A';
        ASSERT_ALTERED_FAILS(text, len, "\xe2\x80\x94 RTD ", sig_b64, to,
                             "RTD's cosignature does not verify for this tree head");
    }
    /* A signer renamed: its key hash no longer names its key. */
    ASSERT_ALTERED_FAILS(text, len, "\ncheckpoint\n", "\xe2\x80\x94 RTD ", "\xe2\x80\x94 RX6 ",
                         "RX6's signature names another key");
    free(text);
}

/* A receipt with a cosignature dropped has too few; one with none is not
 * a note. No receipt is given where no majority cosigned. */
static void test_majority_needed(void **state)
{
    fx_t *t = *state;
    ics_receipt_report_t rep;
    ics_err_t err;
    size_t len;
    int rc;
    char *text = s_good(t->fx, 20, &len), *qhm, *rtd;

    qhm = strstr(text, "\xe2\x80\x94 QHM ");
    rtd = strstr(text, "\xe2\x80\x94 RTD ");
    assert_true(qhm != NULL && rtd != NULL && rtd > qhm);
    memmove(qhm, rtd, len - (size_t)(rtd - text));
    len -= (size_t)(rtd - qhm);
    assert_int_equal(s_check(text, len, &rep, &err), ICS_ESIG);
    assert_non_null(strstr(err.msg, "cosigned by 2 of the 4 voting members; 3 needed"));
    free(text);

    /* 48 has two cosignatures: positions after 32 have no receipt yet. */
    text = s_prove(t->fx, 33, &len, &rc, &err);
    assert_int_equal(rc, ICS_EUNAVAIL);
    assert_non_null(strstr(err.msg, "cosigned by a majority"));
    free(text);
    text = s_prove(t->fx, 999, &len, &rc, &err);
    assert_int_equal(rc, ICS_ENOENT);
    free(text);
}

/* A node holding the log proves it extends the receipt's head; one whose
 * log was cut short, or forked before the head, is caught. */
static void test_consistency_catches_truncation_and_fork(void **state)
{
    fx_t *t = *state;
    ics_note_t head;
    ics_consistency_report_t rep;
    ics_err_t err;
    bool checked;
    size_t len, alen;
    char *receipt = s_good(t->fx, 5, &len), *answer = NULL;
    FILE *f;

    assert_int_equal(ics_checkpoint_file_head(receipt, len, &head, &checked, &err), ICS_OK);
    assert_true(checked);
    assert_int_equal(head.size, 32);

    /* The same log, grown: consistent. */
    f = open_memstream(&answer, &alen);
    assert_int_equal(ics_prove_consistency(t->fx->history, GROUP, head.size, f, &err), ICS_OK);
    fclose(f);
    if (ics_consistency_check(answer, alen, &head, &rep, &err) != ICS_OK)
        fail_msg("consistency: %s\n%s", err.msg, answer);
    assert_int_equal(rep.size, ics_history_tree_size(t->fx->history));
    /* An answer altered anywhere fails, but in the size it claims: the
     * proof shows the checkpoint's root is a prefix of the answered root,
     * and RFC 9162 proofs of trees whose paths have the same shape agree;
     * the size is the node's word unless a cosigned head says it. */
    const char *size_at = strstr(answer, "\nhead ") + strlen("\nhead ");
    for (size_t i = 0; i < alen; i++) {
        if (answer + i >= size_at && answer + i < strchr(size_at, ' '))
            continue;
        answer[i] ^= 0x02;
        if (ics_consistency_check(answer, alen, &head, &rep, &err) == ICS_OK)
            fail_msg("byte %zu altered: still consistent\n%s", i, answer);
        answer[i] ^= 0x02;
    }
    free(answer);

    /* Truncated: a history holding only the first 20 entries. */
    {
        ics_history_t *cut = ics_history_open(NULL, GROUP, &err);
        assert_non_null(cut);
        fx_history_copy(cut, t->fx->history, 20);
        assert_int_equal(s_consistency(cut, &head, &rep, &err), ICS_EINVAL);
        assert_non_null(strstr(err.msg, "TRUNCATED: the log has 20 entries"));
        ics_history_close(&cut);
    }

    /* Forked: the same members and keys, entry 10 different. */
    {
        fx_fsm_t *other = s_log(1);
        assert_int_equal(s_consistency(other->history, &head, &rep, &err), ICS_EINVAL);
        assert_non_null(strstr(err.msg, "FORKED"));
        /* Its own receipts verify (it is a log of its own), with another root. */
        char *theirs = s_good(other, 5, &alen);
        ics_note_t their_head;
        assert_int_equal(ics_checkpoint_file_head(theirs, alen, &their_head, &checked, &err),
                         ICS_OK);
        assert_memory_not_equal(their_head.root, head.root, 32);
        free(theirs);
        fx_fsm_destroy(&other);
    }
    free(receipt);
}

/* A bare signed note is read as a head without keys to check it. */
static void test_bare_note_is_a_checkpoint_file(void **state)
{
    fx_t *t = *state;
    ics_note_t head, again;
    ics_err_t err;
    bool checked;
    size_t len, nlen;
    char *receipt = s_good(t->fx, 5, &len), *note = NULL;
    FILE *f;

    assert_int_equal(ics_checkpoint_file_head(receipt, len, &head, &checked, &err), ICS_OK);
    f = open_memstream(&note, &nlen);
    assert_int_equal(ics_note_write(f, &head), ICS_OK);
    fclose(f);
    assert_int_equal(ics_checkpoint_file_head(note, nlen, &again, &checked, &err), ICS_OK);
    assert_false(checked);
    assert_int_equal(again.size, 32);
    assert_int_equal(again.n_sigs, 3);
    assert_memory_equal(again.root, head.root, 32);
    note[nlen - 2] = '!';
    assert_int_equal(ics_checkpoint_file_head(note, nlen, &again, &checked, &err),
                     ICS_EMALFORMED);
    free(note);
    free(receipt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_receipt_verifies, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_every_altered_byte_fails, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_altered_parts_fail_with_reasons, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_majority_needed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_consistency_catches_truncation_and_fork, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_bare_note_is_a_checkpoint_file, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
