/*
 * json.h — a small streaming JSON writer to stdout.
 *
 * Values are written in document order; the writer tracks nesting and puts
 * the commas, indentation and the final newline.  Inside an object every
 * value is preceded by json_key() (or use the json_kv_* shorthands).
 * Strings are escaped as RFC 8259 requires (quotes, backslash, every
 * control character); bytes that are not valid UTF-8 are written as U+FFFD
 * so the document always parses.
 *
 * With `cardctl --json` a command writes exactly one document and nothing
 * else on stdout: json_end() closes whatever is still open (so a command
 * that fails half-way still leaves a well-formed document) and flushes.
 */
#ifndef CARDCTL_JSON_H
#define CARDCTL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void json_object_begin(void);
void json_object_end(void);
void json_array_begin(void);
void json_array_end(void);

void json_key(const char *k);
void json_str(const char *s);            /* NULL writes null */
void json_strn(const char *s, size_t n);
void json_int(int64_t v);
void json_uint(uint64_t v);
void json_bool(bool b);
void json_null(void);
void json_hex(const uint8_t *p, size_t n); /* a hex string */

/* key + value shorthands */
void json_kv_str(const char *k, const char *s);
/* a string, or null when s is NULL or "" */
void json_kv_str_or_null(const char *k, const char *s);
void json_kv_int(const char *k, int64_t v);
void json_kv_uint(const char *k, uint64_t v);
void json_kv_bool(const char *k, bool b);
void json_kv_null(const char *k);
void json_kv_hex(const char *k, const uint8_t *p, size_t n);

/* Close every open container, end the line and flush stdout.  Returns 0,
 * or -1 if writing stdout failed (a full disk, a closed pipe). */
int json_end(void);

#endif
