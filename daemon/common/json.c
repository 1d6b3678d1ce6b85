/*
 * JSON writer. Output is compact, one document per command, ending in a
 * newline, so that scripts can pipe it to jq.
 */
#include "json.h"

#include <string.h>

void json_init(json_t *j, FILE *out)
{
    memset(j, 0, sizeof *j);
    j->out = out;
    j->first[0] = true;
}

static void s_escape(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (c < 0x20)
                fprintf(out, "\\u%04x", c);
            else
                fputc(c, out);
        }
    }
    fputc('"', out);
}

static void s_key(json_t *j, const char *key)
{
    if (!j->first[j->depth])
        fputc(',', j->out);
    j->first[j->depth] = false;
    if (key != NULL) {
        s_escape(j->out, key);
        fputc(':', j->out);
    }
}

static void s_open(json_t *j, const char *key, char c)
{
    s_key(j, key);
    fputc(c, j->out);
    if (j->depth < 31)
        j->depth++;
    j->first[j->depth] = true;
}

void json_obj(json_t *j, const char *key) { s_open(j, key, '{'); }
void json_arr(json_t *j, const char *key) { s_open(j, key, '['); }

void json_end_obj(json_t *j)
{
    fputc('}', j->out);
    if (j->depth > 0)
        j->depth--;
}

void json_end_arr(json_t *j)
{
    fputc(']', j->out);
    if (j->depth > 0)
        j->depth--;
}

void json_str(json_t *j, const char *key, const char *v)
{
    s_key(j, key);
    s_escape(j->out, v != NULL ? v : "");
}

void json_u64(json_t *j, const char *key, uint64_t v)
{
    s_key(j, key);
    fprintf(j->out, "%llu", (unsigned long long)v);
}

void json_bool(json_t *j, const char *key, bool v)
{
    s_key(j, key);
    fputs(v ? "true" : "false", j->out);
}

void json_hex(json_t *j, const char *key, const uint8_t *v, size_t len)
{
    s_key(j, key);
    fputc('"', j->out);
    for (size_t i = 0; i < len; i++)
        fprintf(j->out, "%02x", v[i]);
    fputc('"', j->out);
}

void json_done(json_t *j)
{
    fputc('\n', j->out);
    fflush(j->out);
}
