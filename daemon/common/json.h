/*
 * A minimal streaming JSON writer (icsctl --json, state machine queries): objects,
 * arrays, strings (escaped), numbers and booleans, commas handled.
 */
#ifndef ICS_JSON_H
#define ICS_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    FILE *out;
    int depth;
    bool first[32];
} json_t;

void json_init(json_t *j, FILE *out);
void json_obj(json_t *j, const char *key);   /* key NULL inside arrays / at top */
void json_end_obj(json_t *j);
void json_arr(json_t *j, const char *key);
void json_end_arr(json_t *j);
void json_str(json_t *j, const char *key, const char *v);
void json_u64(json_t *j, const char *key, uint64_t v);
void json_bool(json_t *j, const char *key, bool v);
void json_hex(json_t *j, const char *key, const uint8_t *v, size_t len);
void json_done(json_t *j);   /* newline */

#endif
