/*
 * cbor.c — canonical CBOR writer (on libcbor's encoders) and strict reader.
 *
 * The writer encodes every head into a small scratch buffer with libcbor
 * (which always picks the shortest form) and appends it; errors are sticky.
 *
 * The reader is hand-written because it must refuse everything that is not
 * canonical and must never trust a declared length: every length is compared
 * with the bytes that remain before any pointer is moved, and no function
 * moves the cursor unless it succeeds.
 */
#include <cbor.h>

#include "cbor_rw.h"

#include <stdlib.h>
#include <string.h>

#include "cn.h"

#define CBW_INITIAL_CAP 256
#define CBW_GROW_MAX ((size_t)256 << 20) /* 256 MiB */
#define CBOR_HEAD_MAX 9

enum { MT_UINT = 0, MT_NEGINT, MT_BSTR, MT_TSTR, MT_ARRAY, MT_MAP, MT_TAG,
       MT_SIMPLE };

/* ---- writer ---------------------------------------------------------- */

void cbw_init_fixed(struct cbor_wr *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->len = 0;
	w->cap = buf != NULL ? cap : 0;
	w->grow = false;
	w->err = 0;
}

void cbw_init_grow(struct cbor_wr *w)
{
	w->buf = NULL;
	w->len = 0;
	w->cap = 0;
	w->grow = true;
	w->err = 0;
}

void cbw_free(struct cbor_wr *w)
{
	if (w->grow)
		free(w->buf);
	w->buf = NULL;
	w->len = 0;
	w->cap = 0;
}

uint8_t *cbw_take(struct cbor_wr *w, size_t *len)
{
	uint8_t *b;

	*len = 0;
	if (!w->grow || w->err != 0) {
		cbw_free(w);
		return NULL;
	}
	b = w->buf != NULL ? w->buf : malloc(1);
	if (b != NULL)
		*len = w->len;
	w->buf = NULL;
	w->len = 0;
	w->cap = 0;
	return b;
}

/* Make room for `n` more bytes; false (and err set) if impossible. */
static bool wr_room(struct cbor_wr *w, size_t n)
{
	size_t cap;
	uint8_t *nb;

	if (n <= w->cap - w->len)
		return true;
	if (!w->grow || n > CBW_GROW_MAX - w->len) {
		w->err = CN_ERR_TOOBIG;
		return false;
	}
	cap = w->cap != 0 ? w->cap : CBW_INITIAL_CAP;
	while (cap - w->len < n)
		cap *= 2;
	if (cap > CBW_GROW_MAX)
		cap = CBW_GROW_MAX;
	nb = realloc(w->buf, cap);
	if (nb == NULL) {
		w->err = CN_ERR_NOMEM;
		return false;
	}
	w->buf = nb;
	w->cap = cap;
	return true;
}

static void wr_put(struct cbor_wr *w, const void *p, size_t n)
{
	if (w->err != 0 || n == 0 || !wr_room(w, n))
		return;
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

/* Append a head libcbor produced into `h` (k bytes; 0 means it failed). */
static void wr_head(struct cbor_wr *w, const unsigned char *h, size_t k)
{
	if (w->err != 0)
		return;
	if (k == 0) {
		w->err = CN_ERR_TOOBIG;
		return;
	}
	wr_put(w, h, k);
}

void cbw_uint(struct cbor_wr *w, uint64_t v)
{
	unsigned char h[CBOR_HEAD_MAX];

	wr_head(w, h, cbor_encode_uint(v, h, sizeof h));
}

void cbw_bstr(struct cbor_wr *w, const void *p, size_t n)
{
	unsigned char h[CBOR_HEAD_MAX];

	wr_head(w, h, cbor_encode_bytestring_start(n, h, sizeof h));
	wr_put(w, p, n);
}

void cbw_tstr(struct cbor_wr *w, const char *s, size_t n)
{
	unsigned char h[CBOR_HEAD_MAX];

	wr_head(w, h, cbor_encode_string_start(n, h, sizeof h));
	wr_put(w, s, n);
}

void cbw_tstr0(struct cbor_wr *w, const char *s)
{
	cbw_tstr(w, s, s != NULL ? strlen(s) : 0);
}

void cbw_array(struct cbor_wr *w, size_t n)
{
	unsigned char h[CBOR_HEAD_MAX];

	wr_head(w, h, cbor_encode_array_start(n, h, sizeof h));
}

void cbw_map(struct cbor_wr *w, size_t n)
{
	unsigned char h[CBOR_HEAD_MAX];

	wr_head(w, h, cbor_encode_map_start(n, h, sizeof h));
}

void cbw_null(struct cbor_wr *w)
{
	unsigned char h[CBOR_HEAD_MAX];

	wr_head(w, h, cbor_encode_null(h, sizeof h));
}

void cbw_bool(struct cbor_wr *w, bool b)
{
	unsigned char h[CBOR_HEAD_MAX];

	wr_head(w, h, cbor_encode_bool(b, h, sizeof h));
}

void cbw_raw(struct cbor_wr *w, const void *p, size_t n)
{
	wr_put(w, p, n);
}

/* ---- reader: heads --------------------------------------------------- */

static const uint8_t empty_input[1];

void cbr_init(struct cbor_rd *r, const void *buf, size_t len)
{
	if (buf == NULL) {
		buf = empty_input;
		len = 0;
	}
	r->p = buf;
	r->end = r->p + len;
	r->why = NULL;
}

static size_t rd_left(const struct cbor_rd *r, const uint8_t *q)
{
	return (size_t)(r->end - q);
}

static int rd_fail(struct cbor_rd *r, int code, const char *why)
{
	r->why = why;
	return code;
}

/* A decoded head: major type, argument, and where the content starts. */
struct head {
	unsigned mt;
	uint64_t val;
	const uint8_t *next;
};

static const char *simple_why(unsigned ai)
{
	switch (ai) {
	case 23: return "undefined is not allowed";
	case 25: case 26: case 27: return "floats are not allowed";
	case 28: case 29: case 30: return "reserved additional information";
	case 31: return "unexpected break (indefinite length)";
	default: return "simple values other than false/true/null are not allowed";
	}
}

/* The argument of a head with additional information `ai` ≥ 24. */
static int head_arg(struct cbor_rd *r, struct head *h, unsigned ai)
{
	static const uint64_t min[4] = { 24, 0x100, 0x10000, 0x100000000ull };
	size_t k, n = (size_t)1 << (ai - 24);
	const uint8_t *q = r->p + 1;
	uint64_t v = 0;

	if (rd_left(r, q) < n)
		return rd_fail(r, CN_ERR_MALFORMED, "truncated");
	for (k = 0; k < n; k++)
		v = v << 8 | q[k];
	if (v < min[ai - 24])
		return rd_fail(r, CN_ERR_MALFORMED, h->mt <= MT_NEGINT ?
			       "non-canonical integer" : "non-canonical length");
	h->val = v;
	h->next = q + n;
	return 0;
}

/* Parse the head at r->p without moving the cursor. */
static int rd_head(struct cbor_rd *r, struct head *h)
{
	unsigned ib, ai;

	if (r->p >= r->end)
		return rd_fail(r, CN_ERR_MALFORMED, "truncated");
	ib = r->p[0];
	h->mt = ib >> 5;
	ai = ib & 31;
	if (h->mt == MT_TAG)
		return rd_fail(r, CN_ERR_MALFORMED, "tags are not allowed");
	if (h->mt == MT_SIMPLE && (ai < 20 || ai > 22))
		return rd_fail(r, CN_ERR_MALFORMED, simple_why(ai));
	if (ai == 31)
		return rd_fail(r, CN_ERR_MALFORMED, "indefinite length");
	if (ai >= 28)
		return rd_fail(r, CN_ERR_MALFORMED,
			       "reserved additional information");
	if (ai >= 24)
		return head_arg(r, h, ai);
	h->val = ai;
	h->next = r->p + 1;
	return 0;
}

static const char *const expect_why[] = {
	[MT_UINT] = "expected an unsigned integer",
	[MT_NEGINT] = "expected a negative integer",
	[MT_BSTR] = "expected a byte string",
	[MT_TSTR] = "expected a text string",
	[MT_ARRAY] = "expected an array",
	[MT_MAP] = "expected a map",
	[MT_TAG] = "expected a tag",
	[MT_SIMPLE] = "expected false, true or null",
};

/* A head of major type `mt`. */
static int rd_expect(struct cbor_rd *r, unsigned mt, struct head *h)
{
	int rc = rd_head(r, h);

	if (rc != 0)
		return rc;
	if (h->mt != mt)
		return rd_fail(r, CN_ERR_MALFORMED, expect_why[mt]);
	return 0;
}

/* A string head whose content (h->val bytes) must follow in full. */
static int rd_string(struct cbor_rd *r, unsigned mt, struct head *h,
		     size_t max, const char *too_long)
{
	int rc = rd_expect(r, mt, h);

	if (rc != 0)
		return rc;
	if (h->val > max)
		return rd_fail(r, CN_ERR_TOOBIG, too_long);
	if (h->val > rd_left(r, h->next))
		return rd_fail(r, CN_ERR_MALFORMED, "truncated");
	return 0;
}

/* ---- reader: typed items --------------------------------------------- */

enum cbr_type cbr_peek(const struct cbor_rd *r)
{
	static const enum cbr_type by_mt[] = {
		CBT_UINT, CBT_NEGINT, CBT_BSTR, CBT_TSTR, CBT_ARRAY, CBT_MAP,
		CBT_OTHER, CBT_OTHER
	};

	if (r->p >= r->end)
		return CBT_END;
	switch (r->p[0]) {
	case 0xf4: return CBT_FALSE;
	case 0xf5: return CBT_TRUE;
	case 0xf6: return CBT_NULL;
	default: return by_mt[r->p[0] >> 5];
	}
}

int cbr_uint(struct cbor_rd *r, uint64_t *v)
{
	struct head h;
	int rc = rd_expect(r, MT_UINT, &h);

	if (rc != 0)
		return rc;
	*v = h.val;
	r->p = h.next;
	return 0;
}

int cbr_bstr(struct cbor_rd *r, const uint8_t **p, size_t *n, size_t max)
{
	struct head h;
	int rc = rd_string(r, MT_BSTR, &h, max, "byte string too long");

	if (rc != 0)
		return rc;
	*p = h.next;
	*n = (size_t)h.val;
	r->p = h.next + h.val;
	return 0;
}

int cbr_bstr_fixed(struct cbor_rd *r, uint8_t *out, size_t n)
{
	struct head h;
	int rc = rd_expect(r, MT_BSTR, &h);

	if (rc != 0)
		return rc;
	if (h.val != n)
		return rd_fail(r, CN_ERR_MALFORMED,
			       "byte string has the wrong length");
	if (h.val > rd_left(r, h.next))
		return rd_fail(r, CN_ERR_MALFORMED, "truncated");
	if (n != 0)
		memcpy(out, h.next, n);
	r->p = h.next + n;
	return 0;
}

int cbr_tstr(struct cbor_rd *r, const char **s, size_t *n, size_t max)
{
	struct head h;
	int rc = rd_string(r, MT_TSTR, &h, max, "text string too long");

	if (rc != 0)
		return rc;
	if (memchr(h.next, 0, (size_t)h.val) != NULL)
		return rd_fail(r, CN_ERR_MALFORMED, "text contains a NUL byte");
	if (!cbor_utf8_valid((const char *)h.next, (size_t)h.val))
		return rd_fail(r, CN_ERR_MALFORMED, "text is not UTF-8");
	*s = (const char *)h.next;
	*n = (size_t)h.val;
	r->p = h.next + h.val;
	return 0;
}

int cbr_tstr_copy(struct cbor_rd *r, char *out, size_t max)
{
	const char *s;
	size_t n;
	int rc = cbr_tstr(r, &s, &n, max);

	if (rc != 0)
		return rc;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* Array or map head; `per` is the least number of bytes one element needs,
 * so a count the remaining input cannot hold is refused at once. */
static int rd_container(struct cbor_rd *r, unsigned mt, size_t *n,
			size_t max, unsigned per)
{
	struct head h;
	int rc = rd_expect(r, mt, &h);

	if (rc != 0)
		return rc;
	if (h.val > max)
		return rd_fail(r, CN_ERR_TOOBIG, mt == MT_MAP ?
			       "map has too many entries" :
			       "array has too many items");
	if (h.val > rd_left(r, h.next) / per)
		return rd_fail(r, CN_ERR_MALFORMED, "truncated");
	*n = (size_t)h.val;
	r->p = h.next;
	return 0;
}

int cbr_array(struct cbor_rd *r, size_t *n, size_t max)
{
	return rd_container(r, MT_ARRAY, n, max, 1);
}

int cbr_map(struct cbor_rd *r, size_t *n, size_t max)
{
	return rd_container(r, MT_MAP, n, max, 2);
}

int cbr_null(struct cbor_rd *r)
{
	if (r->p >= r->end)
		return rd_fail(r, CN_ERR_MALFORMED, "truncated");
	if (r->p[0] != 0xf6)
		return rd_fail(r, CN_ERR_MALFORMED, "expected null");
	r->p++;
	return 0;
}

int cbr_bool(struct cbor_rd *r, bool *b)
{
	if (r->p >= r->end)
		return rd_fail(r, CN_ERR_MALFORMED, "truncated");
	if (r->p[0] != 0xf4 && r->p[0] != 0xf5)
		return rd_fail(r, CN_ERR_MALFORMED, "expected a boolean");
	*b = r->p[0] == 0xf5;
	r->p++;
	return 0;
}

int cbr_map_key_next(struct cbor_rd *r, int64_t *last, uint64_t *key)
{
	struct head h;
	int rc = rd_head(r, &h);

	if (rc != 0)
		return rc;
	if (h.mt != MT_UINT)
		return rd_fail(r, CN_ERR_MALFORMED,
			       "map key is not an unsigned integer");
	if (h.val > (uint64_t)INT64_MAX)
		return rd_fail(r, CN_ERR_MALFORMED, "map key too large");
	if ((int64_t)h.val == *last)
		return rd_fail(r, CN_ERR_MALFORMED, "duplicate map key");
	if ((int64_t)h.val < *last)
		return rd_fail(r, CN_ERR_MALFORMED, "map keys out of order");
	*last = (int64_t)h.val;
	*key = h.val;
	r->p = h.next;
	return 0;
}

/* ---- reader: skipping ------------------------------------------------ */

/* Step over one head (and a string's content) at r->p.  For an array or a
 * map, *items is set to the number of items it holds (0 otherwise). */
static int skip_head(struct cbor_rd *r, uint64_t *items, bool *container)
{
	struct head h;
	int rc = rd_head(r, &h);

	if (rc != 0)
		return rc;
	*items = 0;
	*container = h.mt == MT_ARRAY || h.mt == MT_MAP;
	if (h.mt == MT_BSTR || h.mt == MT_TSTR) {
		if (h.val > rd_left(r, h.next))
			return rd_fail(r, CN_ERR_MALFORMED, "truncated");
		if (h.mt == MT_TSTR &&
		    !cbor_utf8_valid((const char *)h.next, (size_t)h.val))
			return rd_fail(r, CN_ERR_MALFORMED, "text is not UTF-8");
		h.next += h.val;
	} else if (h.mt == MT_ARRAY || h.mt == MT_MAP) {
		uint64_t per = h.mt == MT_MAP ? 2 : 1;
		if (h.val > rd_left(r, h.next) / per)
			return rd_fail(r, CN_ERR_MALFORMED, "truncated");
		*items = h.val * per;
	}
	r->p = h.next;
	return 0;
}

/* Iterative: `left[d]` counts the items still to skip at nesting level d. */
int cbr_skip(struct cbor_rd *r)
{
	uint64_t left[CBOR_MAX_DEPTH + 1];
	const uint8_t *start = r->p;
	size_t d = 0;

	left[0] = 1;
	for (;;) {
		uint64_t items;
		bool container;
		int rc = skip_head(r, &items, &container);

		if (rc == 0 && container && d == CBOR_MAX_DEPTH)
			rc = rd_fail(r, CN_ERR_MALFORMED, "nesting too deep");
		if (rc != 0) {
			r->p = start;
			return rc;
		}
		left[d]--;
		if (items != 0) {
			left[++d] = items;
			continue;
		}
		while (left[d] == 0) {
			if (d == 0)
				return 0;
			d--;
		}
	}
}

/* ---- UTF-8 ----------------------------------------------------------- */

/* Length of the well-formed sequence at s[0..n), 0 if there is none
 * (RFC 3629 §4: no overlongs, no surrogates, nothing above U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len, k;

	if (c >= 0x01 && c <= 0x7f)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0; /* NUL, continuation bytes, C0, C1, F5..FF */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (k = 2; k < len; k++)
		if (s[k] < 0x80 || s[k] > 0xbf)
			return 0;
	return len;
}

bool cbor_utf8_valid(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		size_t k = utf8_seq(u + i, n - i);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}
