/*
 * bytes.h — bounded byte writer and reader for this machine's own stored
 * records (LEB128 integers, length-prefixed strings, texts of digits as
 * numbers).  Overflowing the
 * buffer or reading past the end sets `bad` and never touches memory out of
 * bounds; callers check `bad` once at the end.
 */
#ifndef CN_BYTES_H
#define CN_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct bw {
	uint8_t *p;
	size_t len, cap;
	bool bad;
};

static inline void bw_put(struct bw *w, const void *src, size_t n)
{
	if (w->bad || w->cap - w->len < n) {
		w->bad = true;
		return;
	}
	if (n)
		memcpy(w->p + w->len, src, n);
	w->len += n;
}

static inline void bw_u8(struct bw *w, uint8_t v) { bw_put(w, &v, 1); }

static inline void bw_uv(struct bw *w, uint64_t v)
{
	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		bw_u8(w, (uint8_t)(b | (v ? 0x80 : 0)));
	} while (v);
}

/* A difference a - b of two u64s, either sign, as zigzag LEB128: small
 * either way.  br_zz() gives back what to add to b. */
static inline void bw_zz(struct bw *w, uint64_t d)
{
	bw_uv(w, d << 1 ^ (0 - (d >> 63)));
}

static inline void bw_str(struct bw *w, const char *s)
{
	size_t n = strlen(s);

	bw_uv(w, n);
	bw_put(w, s, n);
}

/* A text as head = length << 2 | form, then: its bytes (BX_RAW); its digits
 * as one number (BX_DIGITS: edu_ids, card numbers); or the position of its
 * one '-' and the other digits as one number (BX_DASHED: school codes).
 * The length keeps leading zeros.  Read back by br_text(). */
enum { BX_RAW = 0, BX_DIGITS = 1, BX_DASHED = 2 };
#define BX_DIGITS_MAX 19 /* 10^19 < 2^64 */

static inline void bw_text(struct bw *w, const char *s)
{
	size_t n = strlen(s), dash = n, i;
	uint64_t v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '-' && dash == n)
			dash = i;
		else if (s[i] >= '0' && s[i] <= '9')
			v = v * 10 + (uint64_t)(s[i] - '0');
		else
			break;
	}
	if (i < n || n - (dash < n) == 0 || n - (dash < n) > BX_DIGITS_MAX) {
		bw_uv(w, (uint64_t)n << 2 | BX_RAW);
		bw_put(w, s, n);
		return;
	}
	bw_uv(w, (uint64_t)n << 2 | (dash < n ? BX_DASHED : BX_DIGITS));
	if (dash < n)
		bw_uv(w, dash);
	bw_uv(w, v);
}

struct br {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static inline void br_get(struct br *r, void *dst, size_t n)
{
	if (r->bad || r->len - r->off < n) {
		r->bad = true;
		memset(dst, 0, n);
		return;
	}
	if (n)
		memcpy(dst, r->p + r->off, n);
	r->off += n;
}

static inline uint8_t br_u8(struct br *r)
{
	uint8_t v;

	br_get(r, &v, 1);
	return v;
}

static inline uint64_t br_uv(struct br *r)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		uint8_t b = br_u8(r);
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	r->bad = true;
	return 0;
}

static inline uint64_t br_zz(struct br *r)
{
	uint64_t z = br_uv(r);

	return z >> 1 ^ (0 - (z & 1));
}

/* A string of at most `max` bytes into dst[max + 1]. */
static inline void br_str(struct br *r, char *dst, size_t max)
{
	uint64_t n = br_uv(r);

	if (n > max) {
		r->bad = true;
		n = 0;
	}
	br_get(r, dst, (size_t)n);
	dst[n] = '\0';
}

/* A bw_text() of at most `max` bytes into dst[max + 1]; bad if it is
 * longer, holds a NUL byte or is not a form bw_text() writes. */
static inline void br_text(struct br *r, char *dst, size_t max)
{
	uint64_t head = br_uv(r), n = head >> 2, form = head & 3, dash = n, v;

	dst[0] = '\0';
	if (r->bad || n > max || form > BX_DASHED) {
		r->bad = true;
		return;
	}
	dst[n] = '\0';
	if (form == BX_RAW) {
		br_get(r, dst, (size_t)n);
		if (memchr(dst, '\0', (size_t)n) != NULL)
			r->bad = true;
		return;
	}
	if (form == BX_DASHED)
		dash = br_uv(r);
	v = br_uv(r);
	if (r->bad || n - (form == BX_DASHED) == 0 ||
	    n - (form == BX_DASHED) > BX_DIGITS_MAX ||
	    (form == BX_DASHED && dash >= n)) {
		r->bad = true;
		return;
	}
	for (size_t i = (size_t)n; i-- > 0;) {
		if (i == dash) {
			dst[i] = '-';
			continue;
		}
		dst[i] = (char)('0' + v % 10);
		v /= 10;
	}
	if (v != 0)
		r->bad = true;
}

#endif
