/*
 * bytes.h — bounded byte writer and reader for this machine's own stored
 * records (LEB128 integers, length-prefixed strings).  Overflowing the
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

static inline void bw_str(struct bw *w, const char *s)
{
	size_t n = strlen(s);

	bw_uv(w, n);
	bw_put(w, s, n);
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

#endif
