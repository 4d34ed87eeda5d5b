/*
 * cbor_rw.h — canonical CBOR (RFC 8949 §4.2) writing and strict reading.
 *
 * Writing goes through libcbor's encoding functions, which always choose the
 * shortest form.  Reading is a strict, bounded cursor: it accepts only
 * definite lengths and shortest-form heads, refuses floats, tags and
 * undefined, checks UTF-8 in text strings, and never reads past `end`.  It
 * allocates nothing: strings are returned as pointers into the input.
 *
 * Map key order is the caller's business when writing (write keys in
 * ascending order) and when reading (cbr_map_key_next() enforces strictly
 * ascending unsigned-integer keys).
 */
#ifndef CN_CBOR_RW_H
#define CN_CBOR_RW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CBOR_MAX_DEPTH 8

/* ---- writer ---------------------------------------------------------- */

/* A growable or fixed output buffer.  Errors are sticky: after the first
 * failure every call is a no-op and `err` holds CN_ERR_TOOBIG (fixed buffer
 * full) or CN_ERR_NOMEM.  With `grow` set the buffer is realloc()ed and owned
 * by the writer until cbw_take() or cbw_free(). */
struct cbor_wr {
	uint8_t *buf;
	size_t len;
	size_t cap;
	bool grow;
	int err;
};

/* Fixed buffer of `cap` bytes supplied by the caller. */
void cbw_init_fixed(struct cbor_wr *w, uint8_t *buf, size_t cap);
/* Heap buffer that grows as needed. */
void cbw_init_grow(struct cbor_wr *w);
void cbw_free(struct cbor_wr *w);
/* Growable writer only: hand the buffer (free() it) and its length to the
 * caller and reset the writer.  NULL — with the buffer freed — after an
 * error or for a fixed writer; never NULL on success, even when empty. */
uint8_t *cbw_take(struct cbor_wr *w, size_t *len);

void cbw_uint(struct cbor_wr *w, uint64_t v);
void cbw_bstr(struct cbor_wr *w, const void *p, size_t n);
void cbw_tstr(struct cbor_wr *w, const char *s, size_t n);
void cbw_tstr0(struct cbor_wr *w, const char *s); /* NUL-terminated */
void cbw_array(struct cbor_wr *w, size_t n);
void cbw_map(struct cbor_wr *w, size_t n);
void cbw_null(struct cbor_wr *w);
void cbw_bool(struct cbor_wr *w, bool b);
/* Append bytes that are already CBOR (an encoded item). */
void cbw_raw(struct cbor_wr *w, const void *p, size_t n);

/* ---- reader ---------------------------------------------------------- */

enum cbr_type {
	CBT_UINT, CBT_NEGINT, CBT_BSTR, CBT_TSTR, CBT_ARRAY, CBT_MAP,
	CBT_FALSE, CBT_TRUE, CBT_NULL, CBT_OTHER, CBT_END
};

struct cbor_rd {
	const uint8_t *p;
	const uint8_t *end;
	const char *why;  /* set on the first failure */
};

void cbr_init(struct cbor_rd *r, const void *buf, size_t len);
/* Type of the next item without consuming it (CBT_END at end of input). */
enum cbr_type cbr_peek(const struct cbor_rd *r);

/* Each returns 0 or CN_ERR_MALFORMED / CN_ERR_TOOBIG with r->why set.  On
 * failure the cursor is left where it was. */
int cbr_uint(struct cbor_rd *r, uint64_t *v);
int cbr_bstr(struct cbor_rd *r, const uint8_t **p, size_t *n, size_t max);
/* Exactly `n` bytes long. */
int cbr_bstr_fixed(struct cbor_rd *r, uint8_t *out, size_t n);
/* Text: valid UTF-8, no NUL byte, at most `max` bytes. */
int cbr_tstr(struct cbor_rd *r, const char **s, size_t *n, size_t max);
/* Copy a text string into `out` (capacity max+1) and NUL-terminate it. */
int cbr_tstr_copy(struct cbor_rd *r, char *out, size_t max);
int cbr_array(struct cbor_rd *r, size_t *n, size_t max);
int cbr_map(struct cbor_rd *r, size_t *n, size_t max);
int cbr_null(struct cbor_rd *r);
int cbr_bool(struct cbor_rd *r, bool *b);
/* Skip one complete well-formed item (nesting ≤ CBOR_MAX_DEPTH). */
int cbr_skip(struct cbor_rd *r);

/* Read the next map key of a map with unsigned-integer keys; `last` holds
 * the previous key (-1 before the first).  Refuses keys out of order, equal,
 * or not unsigned integers. */
int cbr_map_key_next(struct cbor_rd *r, int64_t *last, uint64_t *key);

/* True iff s[0..n) is valid UTF-8 without NUL bytes or overlong forms. */
bool cbor_utf8_valid(const char *s, size_t n);

#endif
