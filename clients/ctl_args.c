/*
 * A subcommand's own options as its handler reads them: the option tables'
 * little language ("note|reason= decline": names separated by |, = when a
 * value follows), and the values icsctl.c parsed against it.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* Finds name in an options string ("note|reason= decline"): its first name
 * (into first) and whether it takes a value. */
bool ctl_opt_spec(const char *spec, const char *name, char *first, size_t size, bool *value)
{
    const char *p = spec != NULL ? spec : "";
    size_t n = strlen(name);

    while (*p) {
        while (*p == ' ')
            p++;
        const char *end = p + strcspn(p, " ");
        bool takes = end > p && end[-1] == '=';
        const char *names_end = takes ? end - 1 : end;
        const char *q = p;
        bool match = false;
        while (q < names_end) {
            const char *bar = memchr(q, '|', (size_t)(names_end - q));
            const char *e = bar != NULL ? bar : names_end;
            if ((size_t)(e - q) == n && memcmp(q, name, n) == 0)
                match = true;
            q = e + (bar != NULL ? 1 : 0);
        }
        if (match) {
            size_t fl = strcspn(p, "|= ");
            if (first != NULL)
                snprintf(first, size, "%.*s", (int)fl, p);
            *value = takes;
            return true;
        }
        p = end;
    }
    return false;
}

const char *ctl_opt(const ctl_args_t *a, const char *name)
{
    char first[32] = "";
    bool value;
    bool listed = ctl_opt_spec(a->sub->options, name, first, sizeof first, &value);
    assert(listed && value && "option not in the subcommand's table");
    (void)listed;
    for (size_t i = a->n_opts; i-- > 0;)
        if (strcmp(a->opts[i].name, first) == 0)
            return a->opts[i].value;
    return NULL;
}

bool ctl_flag(const ctl_args_t *a, const char *name)
{
    char first[32] = "";
    bool value;
    bool listed = ctl_opt_spec(a->sub->options, name, first, sizeof first, &value);
    assert(listed && !value && "flag not in the subcommand's table");
    (void)listed;
    for (size_t i = 0; i < a->n_opts; i++)
        if (strcmp(a->opts[i].name, first) == 0)
            return true;
    return false;
}

int ctl_text_opt(opts_t *o, const ctl_args_t *a, bool required, const char *what,
                 const char **out, char **owned)
{
    const char *text = ctl_opt(a, "text"), *file = ctl_opt(a, "text-file");

    *out = "";
    *owned = NULL;
    if (text != NULL && file != NULL) {
        ctl_error(o, "%s: give %s with --text or --text-file, not both", a->label, what);
        return EXIT_USAGE;
    }
    if (file != NULL) {
        *owned = ctl_read_file(o, "--text-file", file);
        if (*owned == NULL)
            return EXIT_FAIL;
        *out = *owned;
    } else if (text != NULL) {
        *out = text;
    } else if (required) {
        ctl_error(o, "%s: missing %s: give --text TEXT or --text-file FILE (- for stdin)",
                  a->label, what);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}
