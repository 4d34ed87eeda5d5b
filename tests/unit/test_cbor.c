/*
 * test_cbor.c — the canonical CBOR writer and the strict reader.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbor_rw.h"
#include "check.h"
#include "cn.h"

/* Encode one uint into buf, return its length. */
static size_t enc_uint(uint8_t *buf, size_t cap, uint64_t v)
{
	struct cbor_wr w;

	cbw_init_fixed(&w, buf, cap);
	cbw_uint(&w, v);
	CHECK_EQ(w.err, 0);
	return w.len;
}

/* A reader over bytes that refuses item `fn` with `code`, leaves the cursor
 * where it was and says why. */
#define CHECK_REFUSED(buf, len, call, code)                                  \
	do {                                                                 \
		struct cbor_rd r_;                                           \
		cbr_init(&r_, (buf), (len));                                 \
		CHECK_EQ(call, (code));                                      \
		CHECK(r_.p == (const uint8_t *)(buf));                       \
		CHECK(r_.why != NULL && r_.why[0] != '\0');                  \
	} while (0)

static void test_int_boundaries(void)
{
	static const struct {
		uint64_t v;
		size_t len;
	} cases[] = {
		{ 0, 1 }, { 23, 1 }, { 24, 2 }, { 255, 2 }, { 256, 3 },
		{ 65535, 3 }, { 65536, 5 }, { 0xffffffffull, 5 },
		{ 0x100000000ull, 9 }, { UINT64_MAX, 9 },
	};
	uint8_t buf[16];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct cbor_rd r;
		uint64_t v = 1234;
		size_t n = enc_uint(buf, sizeof buf, cases[i].v);

		CHECK_EQ(n, cases[i].len);
		cbr_init(&r, buf, n);
		CHECK_EQ(cbr_peek(&r), CBT_UINT);
		CHECK_EQ(cbr_uint(&r, &v), 0);
		CHECK(v == cases[i].v);
		CHECK(r.p == r.end);
		CHECK_EQ(cbr_peek(&r), CBT_END);
		/* the same argument as array, map, string heads */
		if (cases[i].v <= 70000) {
			struct cbor_wr w;
			size_t cnt = 0;
			cbw_init_fixed(&w, buf, sizeof buf);
			cbw_array(&w, (size_t)cases[i].v);
			CHECK_EQ(w.len, cases[i].len);
			CHECK_EQ(buf[0] >> 5, 4);
			cbw_init_fixed(&w, buf, sizeof buf);
			cbw_map(&w, (size_t)cases[i].v);
			CHECK_EQ(w.len, cases[i].len);
			CHECK_EQ(buf[0] >> 5, 5);
			/* a map head declaring more than the input holds */
			cbr_init(&r, buf, w.len);
			CHECK_EQ(cbr_map(&r, &cnt, SIZE_MAX),
				 cases[i].v == 0 ? 0 : CN_ERR_MALFORMED);
		}
	}
	/* strings at every length boundary, through a growable writer */
	{
		static const size_t lens[] = { 0, 23, 24, 255, 256, 65535, 65536 };
		static const size_t heads[] = { 1, 1, 2, 2, 3, 3, 5 };
		char *s = malloc(65536);
		CHECK(s != NULL);
		memset(s, 'a', 65536);
		for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
			struct cbor_wr w;
			struct cbor_rd r;
			const uint8_t *p;
			const char *t;
			size_t n;
			cbw_init_grow(&w);
			cbw_bstr(&w, s, lens[i]);
			cbw_tstr(&w, s, lens[i]);
			CHECK_EQ(w.err, 0);
			CHECK_EQ(w.len, 2 * (heads[i] + lens[i]));
			cbr_init(&r, w.buf, w.len);
			CHECK_EQ(cbr_bstr(&r, &p, &n, SIZE_MAX), 0);
			CHECK_EQ(n, lens[i]);
			CHECK(p == w.buf + heads[i]);
			CHECK_EQ(cbr_tstr(&r, &t, &n, lens[i]), 0);
			CHECK_EQ(n, lens[i]);
			CHECK(r.p == r.end);
			cbw_free(&w);
		}
		free(s);
	}
	printf("cbor: integer and length boundaries encode shortest and decode\n");
}

static void test_non_shortest(void)
{
	static const uint8_t bad[][9] = {
		{ 0x18, 0x17 },             /* 23 in one extra byte */
		{ 0x18, 0x00 },
		{ 0x19, 0x00, 0xff },       /* 255 in two */
		{ 0x1a, 0x00, 0x00, 0xff, 0xff },
		{ 0x1b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff },
	};
	static const size_t blen[] = { 2, 2, 3, 5, 9 };
	static const uint8_t bad_len[][4] = {
		{ 0x58, 0x01, 'a' },  /* bstr length 1 in a byte */
		{ 0x78, 0x01, 'a' },  /* tstr */
		{ 0x98, 0x01, 0x00 }, /* array */
		{ 0xb8, 0x01, 0x00, 0x00 },
		{ 0x38, 0x00 },       /* negint -1 in a byte */
	};
	static const size_t llen[] = { 3, 3, 3, 4, 2 };

	for (size_t i = 0; i < sizeof blen / sizeof blen[0]; i++) {
		uint64_t v;
		CHECK_REFUSED(bad[i], blen[i], cbr_uint(&r_, &v),
			      CN_ERR_MALFORMED);
		CHECK_REFUSED(bad[i], blen[i], cbr_skip(&r_), CN_ERR_MALFORMED);
		{
			struct cbor_rd r;
			cbr_init(&r, bad[i], blen[i]);
			(void)cbr_uint(&r, &v);
			CHECK_STR(r.why, "non-canonical integer");
		}
	}
	for (size_t i = 0; i < sizeof llen / sizeof llen[0]; i++)
		CHECK_REFUSED(bad_len[i], llen[i], cbr_skip(&r_),
			      CN_ERR_MALFORMED);
	{
		const uint8_t *p;
		size_t n;
		CHECK_REFUSED(bad_len[0], 3, cbr_bstr(&r_, &p, &n, 10),
			      CN_ERR_MALFORMED);
	}
	printf("cbor: non-shortest heads refused\n");
}

static void test_forbidden_items(void)
{
	static const uint8_t items[][9] = {
		{ 0x5f, 0x41, 'a', 0xff },       /* indefinite bstr */
		{ 0x7f, 0x61, 'a', 0xff },       /* indefinite tstr */
		{ 0x9f, 0x00, 0xff },            /* indefinite array */
		{ 0xbf, 0x00, 0x00, 0xff },      /* indefinite map */
		{ 0xc0, 0x61, 'a' },             /* tag 0 */
		{ 0xd8, 0x20, 0x00 },            /* tag 32 */
		{ 0xf9, 0x3c, 0x00 },            /* half float 1.0 */
		{ 0xfa, 0x3f, 0x80, 0, 0 },      /* single */
		{ 0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0 }, /* double */
		{ 0xf7 },                        /* undefined */
		{ 0xf0 },                        /* simple 16 */
		{ 0xf8, 0x20 },                  /* simple 32 */
		{ 0xff },                        /* break */
		{ 0x1c },                        /* reserved ai 28 */
		{ 0x5e },                        /* reserved ai 30 */
	};
	static const size_t lens[] = { 4, 4, 3, 4, 3, 3, 3, 5, 9, 1, 1, 2, 1, 1, 1 };
	static const char *const whys[] = {
		"indefinite length", "indefinite length", "indefinite length",
		"indefinite length", "tags are not allowed",
		"tags are not allowed", "floats are not allowed",
		"floats are not allowed", "floats are not allowed",
		"undefined is not allowed", NULL, NULL, NULL, NULL, NULL,
	};

	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		struct cbor_rd r;
		uint64_t v;
		size_t n;
		bool b;
		const uint8_t *p;
		const char *s;

		CHECK_REFUSED(items[i], lens[i], cbr_skip(&r_), CN_ERR_MALFORMED);
		CHECK_REFUSED(items[i], lens[i], cbr_uint(&r_, &v), CN_ERR_MALFORMED);
		CHECK_REFUSED(items[i], lens[i], cbr_bstr(&r_, &p, &n, 100),
			      CN_ERR_MALFORMED);
		CHECK_REFUSED(items[i], lens[i], cbr_tstr(&r_, &s, &n, 100),
			      CN_ERR_MALFORMED);
		CHECK_REFUSED(items[i], lens[i], cbr_array(&r_, &n, 100),
			      CN_ERR_MALFORMED);
		CHECK_REFUSED(items[i], lens[i], cbr_map(&r_, &n, 100),
			      CN_ERR_MALFORMED);
		CHECK_REFUSED(items[i], lens[i], cbr_bool(&r_, &b),
			      CN_ERR_MALFORMED);
		CHECK_REFUSED(items[i], lens[i], cbr_null(&r_), CN_ERR_MALFORMED);
		cbr_init(&r, items[i], lens[i]);
		CHECK(cbr_skip(&r) != 0);
		if (whys[i] != NULL)
			CHECK_STR(r.why, whys[i]);
	}
	/* false, true, null and negative integers are fine */
	{
		static const uint8_t ok[] = { 0xf4, 0xf5, 0xf6, 0x20, 0x38, 0x18 };
		struct cbor_rd r;
		bool b = true;
		cbr_init(&r, ok, sizeof ok);
		CHECK_EQ(cbr_peek(&r), CBT_FALSE);
		CHECK_EQ(cbr_bool(&r, &b), 0);
		CHECK(!b);
		CHECK_EQ(cbr_peek(&r), CBT_TRUE);
		CHECK_EQ(cbr_bool(&r, &b), 0);
		CHECK(b);
		CHECK_EQ(cbr_peek(&r), CBT_NULL);
		CHECK_EQ(cbr_bool(&r, &b), CN_ERR_MALFORMED);
		CHECK_EQ(cbr_null(&r), 0);
		CHECK_EQ(cbr_peek(&r), CBT_NEGINT);
		CHECK_EQ(cbr_skip(&r), 0);
		CHECK_EQ(cbr_skip(&r), 0);
		CHECK_EQ(cbr_peek(&r), CBT_END);
		CHECK_EQ(cbr_null(&r), CN_ERR_MALFORMED);
		CHECK_STR(r.why, "truncated");
	}
	/* the writer's null and bool */
	{
		uint8_t buf[3];
		struct cbor_wr w;
		cbw_init_fixed(&w, buf, sizeof buf);
		cbw_null(&w);
		cbw_bool(&w, false);
		cbw_bool(&w, true);
		CHECK_EQ(w.err, 0);
		CHECK_EQ(w.len, 3);
		CHECK_EQ(buf[0], 0xf6);
		CHECK_EQ(buf[1], 0xf4);
		CHECK_EQ(buf[2], 0xf5);
	}
	printf("cbor: indefinite lengths, tags, floats, undefined, simple values refused\n");
}

/* A nested item: {0: [1, h'0102', "x", {}], 1: -5, 2: null, 3: "héllo"} */
static size_t build_nested(uint8_t *buf, size_t cap)
{
	struct cbor_wr w;
	static const uint8_t two[2] = { 1, 2 };

	cbw_init_fixed(&w, buf, cap);
	cbw_map(&w, 4);
	cbw_uint(&w, 0);
	cbw_array(&w, 4);
	cbw_uint(&w, 1);
	cbw_bstr(&w, two, 2);
	cbw_tstr0(&w, "x");
	cbw_map(&w, 0);
	cbw_uint(&w, 1);
	cbw_raw(&w, "\x24", 1); /* -5 */
	cbw_uint(&w, 2);
	cbw_null(&w);
	cbw_uint(&w, 3);
	cbw_tstr0(&w, "h\xc3\xa9llo");
	CHECK_EQ(w.err, 0);
	return w.len;
}

static void test_truncation(void)
{
	uint8_t buf[64];
	size_t n = build_nested(buf, sizeof buf);
	struct cbor_rd r;

	cbr_init(&r, buf, n);
	CHECK_EQ(cbr_skip(&r), 0);
	CHECK(r.p == r.end);
	for (size_t k = 0; k < n; k++) {
		uint8_t *copy = malloc(k ? k : 1); /* ASan sees any overread */
		CHECK(copy != NULL);
		memcpy(copy, buf, k);
		CHECK_REFUSED(copy, k, cbr_skip(&r_), CN_ERR_MALFORMED);
		free(copy);
	}
	/* every typed reader at every truncation of its own item */
	{
		uint8_t one[16];
		size_t len = enc_uint(one, sizeof one, 0x123456789ull);
		for (size_t k = 0; k < len; k++) {
			uint64_t v;
			CHECK_REFUSED(one, k, cbr_uint(&r_, &v), CN_ERR_MALFORMED);
		}
	}
	{
		static const uint8_t s[] = { 0x63, 'a', 'b', 'c' };
		static const uint8_t b[] = { 0x43, 1, 2, 3 };
		for (size_t k = 0; k < sizeof s; k++) {
			const char *t;
			const uint8_t *p;
			uint8_t out[3];
			char o[4];
			size_t m;
			CHECK_REFUSED(s, k, cbr_tstr(&r_, &t, &m, 10), CN_ERR_MALFORMED);
			CHECK_REFUSED(s, k, cbr_tstr_copy(&r_, o, 3), CN_ERR_MALFORMED);
			CHECK_REFUSED(b, k, cbr_bstr(&r_, &p, &m, 10), CN_ERR_MALFORMED);
			CHECK_REFUSED(b, k, cbr_bstr_fixed(&r_, out, 3), CN_ERR_MALFORMED);
		}
	}
	printf("cbor: truncated input refused at every length\n");
}

static void test_huge_lengths(void)
{
	static const uint8_t heads[][9] = {
		{ 0x5b, 0x80, 0, 0, 0, 0, 0, 0, 0 },          /* bstr 2^63 */
		{ 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
		{ 0x7b, 0x80, 0, 0, 0, 0, 0, 0, 0 },          /* tstr 2^63 */
		{ 0x9b, 0x80, 0, 0, 0, 0, 0, 0, 0 },          /* array 2^63 */
		{ 0xbb, 0x80, 0, 0, 0, 0, 0, 0, 0 },          /* map 2^63 */
		{ 0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
		{ 0x5a, 0xff, 0xff, 0xff, 0xff },             /* bstr 2^32-1 */
	};

	for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
		size_t len = heads[i][0] == 0x5a ? 5 : 9;
		const uint8_t *p;
		const char *s;
		uint8_t out[4];
		size_t n;

		CHECK_REFUSED(heads[i], len, cbr_skip(&r_), CN_ERR_MALFORMED);
		switch (heads[i][0] >> 5) {
		case 2:
			CHECK_REFUSED(heads[i], len, cbr_bstr(&r_, &p, &n, SIZE_MAX),
				      CN_ERR_MALFORMED);
			CHECK_REFUSED(heads[i], len, cbr_bstr(&r_, &p, &n, 100),
				      CN_ERR_TOOBIG);
			CHECK_REFUSED(heads[i], len, cbr_bstr_fixed(&r_, out, 4),
				      CN_ERR_MALFORMED);
			break;
		case 3:
			CHECK_REFUSED(heads[i], len, cbr_tstr(&r_, &s, &n, SIZE_MAX),
				      CN_ERR_MALFORMED);
			CHECK_REFUSED(heads[i], len, cbr_tstr(&r_, &s, &n, 100),
				      CN_ERR_TOOBIG);
			break;
		case 4:
			CHECK_REFUSED(heads[i], len, cbr_array(&r_, &n, SIZE_MAX),
				      CN_ERR_MALFORMED);
			CHECK_REFUSED(heads[i], len, cbr_array(&r_, &n, 100),
				      CN_ERR_TOOBIG);
			break;
		default:
			CHECK_REFUSED(heads[i], len, cbr_map(&r_, &n, SIZE_MAX),
				      CN_ERR_MALFORMED);
			CHECK_REFUSED(heads[i], len, cbr_map(&r_, &n, 100),
				      CN_ERR_TOOBIG);
		}
	}
	/* a map head whose count exactly fills the input is fine, one more
	 * is refused before any item is read */
	{
		static const uint8_t m[] = { 0xa2, 0, 0, 1, 0 };
		static const uint8_t m2[] = { 0xa3, 0, 0, 1, 0, 2 };
		struct cbor_rd r;
		size_t n;
		cbr_init(&r, m, sizeof m);
		CHECK_EQ(cbr_map(&r, &n, 2), 0);
		CHECK_EQ(n, 2);
		CHECK_REFUSED(m, sizeof m, cbr_map(&r_, &n, 1), CN_ERR_TOOBIG);
		CHECK_REFUSED(m2, sizeof m2, cbr_map(&r_, &n, 10), CN_ERR_MALFORMED);
	}
	printf("cbor: huge declared lengths refused without crash\n");
}

static void test_utf8(void)
{
	static const struct {
		const char *s;
		size_t n;
		bool ok;
	} cases[] = {
		{ "", 0, true },
		{ "abc", 3, true },
		{ "\xc3\xa9", 2, true },             /* é */
		{ "\xe2\x82\xac", 3, true },         /* € */
		{ "\xe5\xad\xa6\xe7\x94\x9f", 6, true }, /* 学生 */
		{ "\xed\x9f\xbf", 3, true },         /* U+D7FF */
		{ "\xee\x80\x80", 3, true },         /* U+E000 */
		{ "\xef\xbf\xbf", 3, true },         /* U+FFFF */
		{ "\xf0\x90\x80\x80", 4, true },     /* U+10000 */
		{ "\xf4\x8f\xbf\xbf", 4, true },     /* U+10FFFF */
		{ "\x7f", 1, true },
		{ "a\0b", 3, false },                /* NUL */
		{ "\xc0\x80", 2, false },            /* overlong NUL */
		{ "\xc1\xbf", 2, false },            /* overlong */
		{ "\xe0\x80\x80", 3, false },        /* overlong */
		{ "\xe0\x9f\xbf", 3, false },        /* overlong U+07FF */
		{ "\xf0\x8f\xbf\xbf", 4, false },    /* overlong U+FFFF */
		{ "\xed\xa0\x80", 3, false },        /* U+D800 surrogate */
		{ "\xed\xbf\xbf", 3, false },        /* U+DFFF surrogate */
		{ "\xf4\x90\x80\x80", 4, false },    /* U+110000 */
		{ "\xf5\x80\x80\x80", 4, false },
		{ "\xff", 1, false },
		{ "\xfe", 1, false },
		{ "\x80", 1, false },                /* lone continuation */
		{ "a\xbf", 2, false },
		{ "\xe2\x82", 2, false },            /* truncated */
		{ "\xf0\x90\x80", 3, false },
		{ "\xe2\x28\xa1", 3, false },        /* bad continuation */
		{ "\xc3\xa9\xc3", 3, false },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t buf[16];
		struct cbor_wr w;
		struct cbor_rd r;
		const char *s;
		size_t n;

		CHECK_EQ(cbor_utf8_valid(cases[i].s, cases[i].n), cases[i].ok);
		cbw_init_fixed(&w, buf, sizeof buf);
		cbw_tstr(&w, cases[i].s, cases[i].n);
		CHECK_EQ(w.err, 0);
		cbr_init(&r, buf, w.len);
		if (cases[i].ok) {
			CHECK_EQ(cbr_tstr(&r, &s, &n, 16), 0);
			CHECK_EQ(n, cases[i].n);
			cbr_init(&r, buf, w.len);
			CHECK_EQ(cbr_skip(&r), 0);
		} else {
			CHECK_REFUSED(buf, w.len, cbr_tstr(&r_, &s, &n, 16),
				      CN_ERR_MALFORMED);
			CHECK_REFUSED(buf, w.len, cbr_skip(&r_), CN_ERR_MALFORMED);
			(void)cbr_tstr(&r, &s, &n, 16);
			CHECK_STR(r.why, i == 11 ? "text contains a NUL byte"
						 : "text is not UTF-8");
		}
	}
	/* copy: NUL-terminated, exactly max fits, max+1 does not */
	{
		static const uint8_t t[] = { 0x63, 'a', 'b', 'c' };
		struct cbor_rd r;
		char out[4];
		cbr_init(&r, t, sizeof t);
		CHECK_EQ(cbr_tstr_copy(&r, out, 3), 0);
		CHECK_STR(out, "abc");
		CHECK_REFUSED(t, sizeof t, cbr_tstr_copy(&r_, out, 2), CN_ERR_TOOBIG);
	}
	printf("cbor: UTF-8 edge cases\n");
}

static void test_nesting(void)
{
	uint8_t buf[32];
	struct cbor_rd r;

	/* CBOR_MAX_DEPTH nested arrays, the innermost empty, and the same with
	 * maps; one more level is refused */
	for (size_t depth = 1; depth <= CBOR_MAX_DEPTH + 1; depth++) {
		memset(buf, 0x81, depth - 1);
		buf[depth - 1] = 0x80;
		CHECK(depth + 1 <= sizeof buf);
		buf[depth] = 0x00; /* trailing item, not part of the array */
		cbr_init(&r, buf, depth + 1);
		if (depth <= CBOR_MAX_DEPTH) {
			CHECK_EQ(cbr_skip(&r), 0);
			CHECK(r.p == buf + depth);
		} else {
			CHECK_EQ(cbr_skip(&r), CN_ERR_MALFORMED);
			CHECK(r.p == buf);
			CHECK_STR(r.why, "nesting too deep");
		}
	}
	for (size_t depth = 1; depth <= CBOR_MAX_DEPTH + 1; depth++) {
		size_t n = 0;
		for (size_t i = 0; i + 1 < depth; i++) {
			buf[n++] = 0xa1; /* {0: ...} */
			buf[n++] = 0x00;
		}
		buf[n++] = 0xa0;
		cbr_init(&r, buf, n);
		CHECK_EQ(cbr_skip(&r), depth <= CBOR_MAX_DEPTH ? 0 : CN_ERR_MALFORMED);
	}
	/* a siblings-heavy tree at depth 2: [[0,0,0],[0,0]], then [ [0], 0 ] */
	{
		static const uint8_t t[] = { 0x82, 0x83, 0, 0, 0, 0x82, 0, 0, 0x07 };
		cbr_init(&r, t, sizeof t);
		CHECK_EQ(cbr_skip(&r), 0);
		CHECK(r.p == t + 8);
	}
	/* a million nested arrays: refused quickly, no recursion */
	{
		size_t n = 1000000;
		uint8_t *deep = malloc(n);
		CHECK(deep != NULL);
		memset(deep, 0x81, n);
		CHECK_REFUSED(deep, n, cbr_skip(&r_), CN_ERR_MALFORMED);
		memset(deep, 0x9f, n);
		CHECK_REFUSED(deep, n, cbr_skip(&r_), CN_ERR_MALFORMED);
		free(deep);
	}
	printf("cbor: nesting depth limit in cbr_skip\n");
}

static void test_map_keys(void)
{
	static const uint8_t ok[] = { 0x00, 0x01, 0x17, 0x18, 0x18, 0x19, 0x01, 0x00 };
	static const uint8_t desc[] = { 0x01, 0x00 };
	static const uint8_t dup[] = { 0x05, 0x05 };
	static const uint8_t neg[] = { 0x20 };
	static const uint8_t txt[] = { 0x61, 'a' };
	static const uint8_t big[] = { 0x1b, 0x80, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t nc[] = { 0x18, 0x05 };
	struct cbor_rd r;
	int64_t last = -1;
	uint64_t k = 0;

	cbr_init(&r, ok, sizeof ok);
	CHECK_EQ(cbr_map_key_next(&r, &last, &k), 0);
	CHECK_EQ(k, 0);
	CHECK_EQ(cbr_map_key_next(&r, &last, &k), 0);
	CHECK_EQ(k, 1);
	CHECK_EQ(cbr_map_key_next(&r, &last, &k), 0);
	CHECK_EQ(k, 23);
	CHECK_EQ(cbr_map_key_next(&r, &last, &k), 0);
	CHECK_EQ(k, 24);
	CHECK_EQ(cbr_map_key_next(&r, &last, &k), 0);
	CHECK_EQ(k, 256);
	CHECK_EQ(last, 256);
	CHECK(r.p == r.end);

	last = -1;
	cbr_init(&r, desc, sizeof desc);
	CHECK_EQ(cbr_map_key_next(&r, &last, &k), 0);
	CHECK_EQ(cbr_map_key_next(&r, &last, &k), CN_ERR_MALFORMED);
	CHECK_STR(r.why, "map keys out of order");
	CHECK(r.p == desc + 1);
	CHECK_EQ(last, 1);

	last = -1;
	cbr_init(&r, dup, sizeof dup);
	CHECK_EQ(cbr_map_key_next(&r, &last, &k), 0);
	CHECK_EQ(cbr_map_key_next(&r, &last, &k), CN_ERR_MALFORMED);
	CHECK_STR(r.why, "duplicate map key");

	last = -1;
	CHECK_REFUSED(neg, sizeof neg, cbr_map_key_next(&r_, &last, &k), CN_ERR_MALFORMED);
	CHECK_REFUSED(txt, sizeof txt, cbr_map_key_next(&r_, &last, &k), CN_ERR_MALFORMED);
	CHECK_REFUSED(big, sizeof big, cbr_map_key_next(&r_, &last, &k), CN_ERR_MALFORMED);
	CHECK_REFUSED(nc, sizeof nc, cbr_map_key_next(&r_, &last, &k), CN_ERR_MALFORMED);
	CHECK_EQ(last, -1);
	printf("cbor: map key order\n");
}

static void test_writer(void)
{
	uint8_t buf[8];
	struct cbor_wr w;
	uint8_t *taken;
	size_t len;

	/* exact fit, then a sticky TOOBIG that writes nothing more */
	cbw_init_fixed(&w, buf, 3);
	cbw_uint(&w, 500);
	CHECK_EQ(w.err, 0);
	CHECK_EQ(w.len, 3);
	cbw_uint(&w, 1);
	CHECK_EQ(w.err, CN_ERR_TOOBIG);
	CHECK_EQ(w.len, 3);
	cbw_init_fixed(&w, buf, 4);
	cbw_bstr(&w, "abcd", 4); /* head fits, content does not */
	CHECK_EQ(w.err, CN_ERR_TOOBIG);
	cbw_uint(&w, 0);
	CHECK_EQ(w.err, CN_ERR_TOOBIG);
	cbw_init_fixed(&w, NULL, 0);
	cbw_null(&w);
	CHECK_EQ(w.err, CN_ERR_TOOBIG);
	cbw_init_fixed(&w, buf, sizeof buf);
	CHECK(cbw_take(&w, &len) == NULL); /* fixed: nothing to take */

	/* growable: many items, content survives every realloc */
	cbw_init_grow(&w);
	cbw_array(&w, 100000);
	for (uint32_t i = 0; i < 100000; i++)
		cbw_uint(&w, i);
	CHECK_EQ(w.err, 0);
	{
		struct cbor_rd r;
		size_t n;
		cbr_init(&r, w.buf, w.len);
		CHECK_EQ(cbr_array(&r, &n, SIZE_MAX), 0);
		CHECK_EQ(n, 100000);
		for (uint32_t i = 0; i < 100000; i++) {
			uint64_t v;
			CHECK_EQ(cbr_uint(&r, &v), 0);
			CHECK_EQ(v, i);
		}
		CHECK(r.p == r.end);
	}
	len = w.len;
	{
		size_t got;
		taken = cbw_take(&w, &got);
		CHECK(taken != NULL);
		CHECK_EQ(got, len);
		CHECK(w.buf == NULL && w.len == 0);
		free(taken);
	}
	/* an empty growable writer still hands over a buffer */
	cbw_init_grow(&w);
	taken = cbw_take(&w, &len);
	CHECK(taken != NULL);
	CHECK_EQ(len, 0);
	free(taken);
	/* the 256 MiB cap */
	cbw_init_grow(&w);
	cbw_raw(&w, "x", 1);
	cbw_bstr(&w, NULL, (size_t)256 << 20);
	CHECK_EQ(w.err, CN_ERR_TOOBIG);
	CHECK(cbw_take(&w, &len) == NULL);
	cbw_free(&w);
	printf("cbor: writer fixed, growable, sticky errors\n");
}

static void test_typed(void)
{
	uint8_t buf[64];
	struct cbor_wr w;
	struct cbor_rd r;
	uint8_t k32[32], out[32];
	uint64_t v;

	memset(k32, 0xab, sizeof k32);
	cbw_init_fixed(&w, buf, sizeof buf);
	cbw_bstr(&w, k32, 32);
	cbw_uint(&w, 7);
	CHECK_EQ(w.err, 0);
	CHECK_REFUSED(buf, w.len, cbr_bstr_fixed(&r_, out, 31), CN_ERR_MALFORMED);
	CHECK_REFUSED(buf, w.len, cbr_uint(&r_, &v), CN_ERR_MALFORMED);
	cbr_init(&r, buf, w.len);
	CHECK_EQ(cbr_peek(&r), CBT_BSTR);
	CHECK_EQ(cbr_bstr_fixed(&r, out, 32), 0);
	CHECK_MEM(out, k32, 32);
	CHECK_EQ(cbr_uint(&r, &v), 0);
	CHECK_EQ(v, 7);
	{
		static const uint8_t t[] = { 0xc1, 0x00 };
		struct cbor_rd q;
		cbr_init(&q, t, sizeof t);
		CHECK_EQ(cbr_peek(&q), CBT_OTHER);
	}
	cbr_init(&r, NULL, 0);
	CHECK_EQ(cbr_peek(&r), CBT_END);
	CHECK_EQ(cbr_skip(&r), CN_ERR_MALFORMED);
	printf("cbor: typed readers leave the cursor on failure\n");
}

int main(void)
{
	test_int_boundaries();
	test_non_shortest();
	test_forbidden_items();
	test_truncation();
	test_huge_lengths();
	test_utf8();
	test_nesting();
	test_map_keys();
	test_writer();
	test_typed();
	return 0;
}
