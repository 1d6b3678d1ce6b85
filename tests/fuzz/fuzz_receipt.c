/*
 * Fuzz: what icsctl reads from a file someone hands it besides an export:
 * a receipt (ics_receipt_verify), a checkpoint file (a receipt or a bare
 * signed note, ics_checkpoint_file_head), and a node's consistency answer
 * checked against that head (ics_consistency_check). The input is the
 * file, optionally followed by FK_SEP and a consistency answer.
 */
#define _GNU_SOURCE
#include "fuzz_kit.h"
#include "common/receipt.h"

#include <stdlib.h>
#include <string.h>

static volatile uint64_t s_sink;

typedef struct {
    char *part[2];
    size_t len[2];
} s_parts_t;

/* Each part in a buffer of exactly its size, so ASan sees any read past it. */
static void s_part(void *arg, size_t i, const uint8_t *p, size_t len)
{
    s_parts_t *parts = arg;
    parts->part[i] = malloc(len > 0 ? len : 1);
    if (parts->part[i] == NULL)
        return;
    memcpy(parts->part[i], p, len);
    parts->len[i] = len;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fk_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ics_receipt_report_t rep;
    static ics_note_t head;
    ics_consistency_report_t crep;
    s_parts_t parts = {{NULL, NULL}, {0, 0}};
    ics_err_t err;
    bool checked;

    fk_split(data, size, 2, s_part, &parts);
    if (parts.part[0] != NULL) {
        s_sink += (uint64_t)ics_receipt_verify(parts.part[0], parts.len[0], &rep, &err);
        s_sink += rep.n_cosigners + rep.evidence;
        if (ics_checkpoint_file_head(parts.part[0], parts.len[0], &head, &checked, &err) ==
                ICS_OK &&
            parts.part[1] != NULL)
            s_sink +=
                (uint64_t)ics_consistency_check(parts.part[1], parts.len[1], &head, &crep, &err) +
                crep.size;
    }
    free(parts.part[0]);
    free(parts.part[1]);
    return 0;
}
