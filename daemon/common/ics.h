/*
 * Common definitions for icsd and icsctl: error codes, the error buffer,
 * limits and small helpers. Every layer returns 0 or a negative ICS_E* code
 * and writes a human message into an ics_err_t that the caller owns.
 */
#ifndef ICS_H
#define ICS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    ICS_OK = 0,
    ICS_EINVAL = -1,     /* bad argument or input */
    ICS_ENOMEM = -2,
    ICS_EIO = -3,        /* file, socket or database error */
    ICS_ESIG = -4,       /* signature does not verify */
    ICS_EGROUP = -5,     /* wrong or unknown group */
    ICS_EMALFORMED = -6, /* truncated or undecodable input */
    ICS_ETOOBIG = -7,    /* over the size limit */
    ICS_EKEY = -8,       /* unknown signer or key */
    ICS_ENOTLEADER = -9,
    ICS_ETIMEDOUT = -10,
    ICS_EPERM = -11,
    ICS_EEXIST = -12,
    ICS_ENOENT = -13,
    ICS_ECONFIG = -14,
    ICS_EVERSION = -15,  /* unsupported format version */
    ICS_EKIND = -16,     /* payload kind does not match header */
    ICS_ESHUTDOWN = -17,
    ICS_EUNAVAIL = -18,  /* no leader / no quorum */
    ICS_EREJECTED = -19, /* applied, but rejected by the state machine */
};

#define ICS_ERRMSG_SIZE 512

typedef struct {
    char msg[ICS_ERRMSG_SIZE];
} ics_err_t;

/* Formats into err (if not NULL) and returns code, so callers can write
 * `return ics_err(err, ICS_EINVAL, "...")`. */
int ics_err(ics_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

const char *ics_strerror(int code);

/* Limits shared by the wire format, the config and the state machine. */
#define ICS_ORG_MAX 32        /* ODS code or GSS-derived id, with NUL */
#define ICS_GROUP_MAX 64
#define ICS_ENDPOINT_MAX 256
#define ICS_NAME_MAX 160
#define ICS_ACTOR_MAX 128
#define ICS_MAX_ORGS 64
#define ICS_MAX_GROUPS 8
#define ICS_ENVELOPE_MAX (1u << 20) /* one signed command: 1 MiB */
#define ICS_ENVELOPE_VERSION 2     /* what this node seals: docs/log-format.md section 2 */
#define ICS_ENVELOPE_VERSION_MIN 1 /* the oldest it still reads and verifies */
#define ICS_SEAL_BATCH_MAX 64      /* envelopes under one signature */
#define ICS_WIRE_VERSION 1
#define ICS_CONTROL_VERSION 1

/* Wall clock in ms since the epoch; monotonic clock in ms. */
uint64_t ics_now_ms(void);
uint64_t ics_mono_ms(void);
uint64_t ics_mono_us(void);

/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void ics_hex(const uint8_t *in, size_t len, char *out);

/* Valid organisation / group identifier: 1..31 of [A-Za-z0-9_-]. */
bool ics_valid_id(const char *s, size_t max);

/* strlcpy semantics; returns false if truncated. */
bool ics_strcpy(char *dst, size_t size, const char *src);

/* Logging: one line per event to stderr. Under journald (standard error is
 * the stream JOURNAL_STREAM names) lines carry a <N> priority prefix;
 * otherwise a UTC timestamp and level. A sink (icsd sets one under
 * journald) takes every line instead, with its structured fields. */
enum { ICS_LOG_ERR = 3, ICS_LOG_WARN = 4, ICS_LOG_NOTICE = 5, ICS_LOG_INFO = 6,
       ICS_LOG_DEBUG = 7 };
void ics_log_set_level(int level);
int ics_log_level(void);
void ics_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* As ics_log, with fields: a NULL-terminated list of "NAME=value" strings
 * (journal field names: A-Z, 0-9, _), or NULL. Without a sink they are not
 * printed: the message must say what they say. */
void ics_log_fields(int level, const char *const *fields, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Takes a line and its fields; false to have it written to stderr after all. */
typedef bool (*ics_log_sink_fn)(int level, const char *msg, const char *const *fields);
void ics_log_set_sink(ics_log_sink_fn fn);
/* Is standard error the journal's stream for this process? */
bool ics_log_journald(void);
/* "<N>" under journald, "" otherwise: for lines written to stderr without
 * ics_log, e.g. before the configuration is read. */
const char *ics_log_prefix(int level);
#define ics_error(...) ics_log(ICS_LOG_ERR, __VA_ARGS__)
#define ics_warn(...) ics_log(ICS_LOG_WARN, __VA_ARGS__)
#define ics_notice(...) ics_log(ICS_LOG_NOTICE, __VA_ARGS__)
#define ics_info(...) ics_log(ICS_LOG_INFO, __VA_ARGS__)
#define ics_debug(...) ics_log(ICS_LOG_DEBUG, __VA_ARGS__)

#endif
