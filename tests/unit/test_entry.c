/*
 * test_entry.c — the entry codec (strict both ways), wire form, hash and
 * signatures.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bytes.h"
#include "cbor_rw.h"
#include "check.h"
#include "cn.h"
#include "entry.h"
#include "testutil.h"

static const uint8_t all_ops[] = {
	OP_STUDENT_PUT, OP_STUDENT_TRANSFER, OP_CARD_ISSUE, OP_CARD_LOST,
	OP_CARD_FOUND, OP_CARD_FREEZE, OP_CARD_UNFREEZE, OP_CARD_CANCEL,
	OP_CARD_VALIDATE, OP_CARD_REGISTER, OP_REISSUE_UPDATE, OP_NODE_NOTE,
	OP_CITY_WATERMARK, OP_STUDENT_LEAVE, OP_CARD_STICKER, OP_GUARDIAN_CLAIM,
	OP_AUTH_SUBMIT, OP_AUTH_APPROVE, OP_AUTH_REJECT,
};
#define N_ALL_OPS (sizeof all_ops / sizeof all_ops[0])

/* A watermark vv map of `n` origins (keys ascending), into buf. */
static size_t make_vv(uint8_t *buf, size_t cap, size_t n)
{
	struct cbor_wr w;
	uint8_t k[CN_KEY_LEN];

	cbw_init_fixed(&w, buf, cap);
	cbw_map(&w, n);
	for (size_t i = 0; i < n; i++) {
		memset(k, 0x5a, sizeof k);
		k[0] = (uint8_t)(i >> 8);
		k[1] = (uint8_t)i;
		cbw_bstr(&w, k, sizeof k);
		cbw_uint(&w, 1 + i * 1000);
	}
	CHECK_EQ(w.err, 0);
	return w.len;
}

static uint8_t vv_bytes[4096];
static size_t vv_len;

/* Give body field k a valid value. */
static void set_field(struct entry_body *b, unsigned k)
{
	switch (k) {
	case BK_CARD: strcpy(b->card, "BJ2024000123"); break;
	case BK_UID:
		memcpy(b->uid, "\x04\xa1\xb2\xc3\xd4\xe5\xf6", 7);
		b->uid_len = 7;
		break;
	case BK_KIND: b->kind = KIND_TEMPORARY; break;
	case BK_EXPIRES: b->expires = 20280831; break;
	case BK_REPLACES: strcpy(b->replaces, "BJ2019000077"); break;
	case BK_FEE: b->fee = 1500; break;
	case BK_REASON: strcpy(b->reason, "\xe4\xb8\xa2\xe5\xa4\xb1 on bus 52"); break;
	case BK_THROUGH: b->through = 202409; break;
	case BK_TERM: b->term = 20242; break;
	case BK_STATE: b->state = REISSUE_PAID; break;
	case BK_DELIVERY: b->delivery = DELIVERY_HOME; break;
	case BK_SCHOOL: strcpy(b->school, "110105-0001"); break;
	case BK_NAME: strcpy(b->name, "\xe5\xbc\xa0\xe4\xb8\x89"); break;
	case BK_GENDER: b->gender = GENDER_FEMALE; break;
	case BK_GRADE: b->grade = 7; break;
	case BK_CLASS: strcpy(b->class_, "7-3"); break;
	case BK_STAGE: b->stage = STAGE_JUNIOR; break;
	case BK_GRAD: b->grad = 20270630; break;
	case BK_IDD: memset(b->idd, 0x11, sizeof b->idd); break;
	case BK_GDD: memset(b->gdd, 0x22, sizeof b->gdd); break;
	case BK_TEXT: strcpy(b->text, "moved to room 3"); break;
	case BK_VV:
		b->vv = vv_bytes;
		b->vv_len = vv_len;
		break;
	case BK_TIME: b->time = 1700000000123ull; break;
	case BK_PHOTO: memset(b->photo, 0x33, sizeof b->photo); break;
	case BK_NUMBER: strcpy(b->number, "BJ2024000123"); break;
	case BK_OVERRIDE: b->override = 1; break;
	case BK_PERSON: b->person = PERSON_TEACHER; break;
	case BK_SINCE: b->since = 1998; break;
	case BK_SUBJECT: strcpy(b->subject, "\xe6\x95\xb0\xe5\xad\xa6"); break;
	case BK_REVIEWER: b->reviewer = REVIEWER_CLASS_TEACHER; break;
	case BK_SUBMISSION: b->submission = (1700000000001ull << 16) | 2; break;
	default: CHECK(0);
	}
	b->has |= BF(k);
}

/* A valid entry of `op` with all its allowed fields (full) or only the
 * required ones. */
static void make_entry(struct entry *e, uint8_t op, bool full)
{
	uint32_t req, allowed;

	memset(e, 0, sizeof *e);
	memset(e->origin, 0xa5, sizeof e->origin);
	e->seq = full ? 1000 : 1;
	if (full)
		memset(e->prev, 0x3c, sizeof e->prev);
	e->hlc = (1700000000123ull << 16) | 5;
	e->op = op;
	if (op != OP_NODE_NOTE && op != OP_CITY_WATERMARK)
		strcpy(e->key, "11010501");
	if (full)
		strcpy(e->actor, "window-3");
	CHECK(entry_op_fields(op, &req, &allowed));
	for (unsigned k = 0; k < BK__COUNT; k++)
		if ((full ? allowed : req) & BF(k))
			set_field(&e->body, k);
}

static size_t encode_ok(const struct entry *e, uint8_t *buf, size_t cap)
{
	const char *why = NULL;
	size_t len = 0;
	int rc = entry_encode(e, buf, cap, &len, &why);

	if (rc != 0)
		fprintf(stderr, "encode: %s\n", why);
	CHECK_EQ(rc, 0);
	return len;
}

/* decode(p) == e, and encode(decode(p)) == p. */
static void check_round_trip(const struct entry *e, const uint8_t *p,
			     size_t len)
{
	struct entry d;
	const char *why = NULL;
	uint8_t again[CN_PAYLOAD_MAX];
	int rc = entry_decode(p, len, &d, &why);

	if (rc != 0)
		fprintf(stderr, "decode: %s\n", why);
	CHECK_EQ(rc, 0);
	if (e->body.has & BF(BK_VV)) {
		CHECK(d.body.vv >= p && d.body.vv + d.body.vv_len <= p + len);
		CHECK_EQ(d.body.vv_len, e->body.vv_len);
		CHECK_MEM(d.body.vv, e->body.vv, d.body.vv_len);
		d.body.vv = e->body.vv;
	}
	CHECK_MEM(&d, e, sizeof d);
	CHECK_EQ(encode_ok(&d, again, sizeof again), len);
	CHECK_MEM(again, p, len);
}

static void test_round_trip(void)
{
	uint8_t buf[CN_PAYLOAD_MAX], wire[CN_ENTRY_MAX], sig[CN_SIG_LEN];

	vv_len = make_vv(vv_bytes, sizeof vv_bytes, 3);
	memset(sig, 0x77, sizeof sig);
	for (size_t i = 0; i < N_ALL_OPS; i++) {
		for (int full = 0; full <= 1; full++) {
			struct entry e;
			const uint8_t *p, *s;
			size_t len, wlen, plen, used;
			const char *why;

			make_entry(&e, all_ops[i], full);
			len = encode_ok(&e, buf, sizeof buf);
			check_round_trip(&e, buf, len);
			/* an exact-size buffer suffices, one byte less not */
			CHECK_EQ(encode_ok(&e, buf, len), len);
			CHECK_EQ(entry_encode(&e, buf, len - 1, &wlen, &why),
				 CN_ERR_TOOBIG);
			len = encode_ok(&e, buf, sizeof buf);
			/* the wire form, signed and unsigned */
			CHECK_EQ(entry_wire_encode(buf, len, full ? sig : NULL,
						   wire, sizeof wire, &wlen), 0);
			CHECK_EQ(entry_wire_decode(wire, wlen, &p, &plen, &s,
						   &used, &why), 0);
			CHECK_EQ(used, wlen);
			CHECK_EQ(plen, len);
			CHECK_MEM(p, buf, len);
			CHECK(p > wire && p + plen <= wire + wlen);
			if (full) {
				CHECK(s != NULL);
				CHECK_MEM(s, sig, CN_SIG_LEN);
			} else {
				CHECK(s == NULL);
			}
		}
	}
	printf("entry: round trip for every op, all fields and required only\n");
}

/* ---- hand-built payloads for the refusals ---------------------------- */

struct val {
	uint8_t b[600];
	size_t n;
};

struct pair {
	uint64_t key;
	struct val v;
};

struct pairs {
	struct pair p[32];
	size_t n;
};

static struct val v_uint(uint64_t x)
{
	struct val v;
	struct cbor_wr w;

	cbw_init_fixed(&w, v.b, sizeof v.b);
	cbw_uint(&w, x);
	v.n = w.len;
	return v;
}

static struct val v_bstr(const void *p, size_t n)
{
	struct val v;
	struct cbor_wr w;

	cbw_init_fixed(&w, v.b, sizeof v.b);
	cbw_bstr(&w, p, n);
	CHECK_EQ(w.err, 0);
	v.n = w.len;
	return v;
}

static struct val v_fill(uint8_t byte, size_t n)
{
	uint8_t tmp[64];

	memset(tmp, byte, sizeof tmp);
	return v_bstr(tmp, n);
}

static struct val v_tstr(const char *s)
{
	struct val v;
	struct cbor_wr w;

	cbw_init_fixed(&w, v.b, sizeof v.b);
	cbw_tstr0(&w, s);
	CHECK_EQ(w.err, 0);
	v.n = w.len;
	return v;
}

static struct val v_raw(const void *p, size_t n)
{
	struct val v;

	memcpy(v.b, p, n);
	v.n = n;
	return v;
}

/* Replace key's value, or insert it in ascending position. */
static void p_set(struct pairs *ps, uint64_t key, struct val v)
{
	size_t i;

	for (i = 0; i < ps->n && ps->p[i].key < key; i++)
		;
	if (i < ps->n && ps->p[i].key == key) {
		ps->p[i].v = v;
		return;
	}
	CHECK(ps->n < 32);
	memmove(&ps->p[i + 1], &ps->p[i], (ps->n - i) * sizeof ps->p[0]);
	ps->p[i].key = key;
	ps->p[i].v = v;
	ps->n++;
}

static void p_del(struct pairs *ps, uint64_t key)
{
	for (size_t i = 0; i < ps->n; i++)
		if (ps->p[i].key == key) {
			memmove(&ps->p[i], &ps->p[i + 1],
				(ps->n - i - 1) * sizeof ps->p[0]);
			ps->n--;
			return;
		}
	CHECK(0);
}

static struct val v_map(const struct pairs *ps)
{
	struct val v;
	struct cbor_wr w;

	cbw_init_fixed(&w, v.b, sizeof v.b);
	cbw_map(&w, ps->n);
	for (size_t i = 0; i < ps->n; i++) {
		cbw_uint(&w, ps->p[i].key);
		cbw_raw(&w, ps->p[i].v.b, ps->p[i].v.n);
	}
	CHECK_EQ(w.err, 0);
	v.n = w.len;
	return v;
}

/* A valid card.lost payload as pairs. */
static void base_pairs(struct pairs *top, struct pairs *body)
{
	memset(top, 0, sizeof *top);
	memset(body, 0, sizeof *body);
	p_set(body, BK_CARD, v_tstr("BJ2024000123"));
	p_set(body, BK_REASON, v_tstr("on the bus"));
	p_set(top, 0, v_uint(1));
	p_set(top, 1, v_fill(0xa5, 32));
	p_set(top, 2, v_uint(5));
	p_set(top, 3, v_fill(0x3c, 32));
	p_set(top, 4, v_uint(0x12345678abcdull));
	p_set(top, 5, v_uint(OP_CARD_LOST));
	p_set(top, 6, v_tstr("11010501"));
	p_set(top, 7, v_map(body));
}

static int decode_pairs(const struct pairs *top, const char **why)
{
	struct val v = v_map(top);
	struct entry e;
	uint8_t *copy = malloc(v.n); /* exact size: ASan sees an overread */
	int rc;

	CHECK(copy != NULL);
	memcpy(copy, v.b, v.n);
	*why = NULL;
	rc = entry_decode(copy, v.n, &e, why);
	free(copy);
	return rc;
}

/* Decoding refuses with `code` and, when want_why is set, that reason. */
static void refused(const struct pairs *top, int code, const char *want_why)
{
	const char *why;
	int rc = decode_pairs(top, &why);

	if (rc != code)
		fprintf(stderr, "expected refusal (%s), got %d (%s)\n",
			want_why ? want_why : "?", rc, why ? why : "-");
	CHECK_EQ(rc, code);
	CHECK(why != NULL && why[0] != '\0');
	if (want_why != NULL)
		CHECK_STR(why, want_why);
}

static void accepted(const struct pairs *top)
{
	const char *why;
	int rc = decode_pairs(top, &why);

	if (rc != 0)
		fprintf(stderr, "expected acceptance, got %s\n", why);
	CHECK_EQ(rc, 0);
}

/* Same, with body field `k` of `op` set to `v` (other fields valid). */
static void body_case(uint8_t op, uint64_t k, struct val v, int code,
		      const char *want_why)
{
	struct entry e;
	struct pairs top, body;
	uint8_t buf[CN_PAYLOAD_MAX];
	struct cbor_rd r;
	size_t len = 0, n;
	int64_t last = -1;
	uint64_t key;

	/* start from the encoder's own pairs for a full entry of `op` */
	make_entry(&e, op, true);
	len = encode_ok(&e, buf, sizeof buf);
	base_pairs(&top, &body);
	memset(&body, 0, sizeof body);
	cbr_init(&r, buf, len);
	CHECK_EQ(cbr_map(&r, &n, 9), 0);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *start;
		CHECK_EQ(cbr_map_key_next(&r, &last, &key), 0);
		if (key != 7) {
			start = r.p;
			CHECK_EQ(cbr_skip(&r), 0);
			p_set(&top, key, v_raw(start, (size_t)(r.p - start)));
			continue;
		}
		size_t bn;
		int64_t blast = -1;
		uint64_t bk;
		CHECK_EQ(cbr_map(&r, &bn, 64), 0);
		for (size_t j = 0; j < bn; j++) {
			CHECK_EQ(cbr_map_key_next(&r, &blast, &bk), 0);
			start = r.p;
			CHECK_EQ(cbr_skip(&r), 0);
			p_set(&body, bk, v_raw(start, (size_t)(r.p - start)));
		}
	}
	p_set(&top, 7, v_map(&body));
	{
		struct val t = v_map(&top); /* the rebuilt pairs are the same */
		CHECK_EQ(t.n, len);
		CHECK_MEM(t.b, buf, len);
	}
	p_set(&body, k, v);
	p_set(&top, 7, v_map(&body));
	if (code == 0)
		accepted(&top);
	else
		refused(&top, code, want_why);
}

static void test_refusals_header(void)
{
	struct pairs top, body;
	char long_id[32];

	base_pairs(&top, &body);
	accepted(&top);

	p_set(&top, 0, v_uint(2));
	refused(&top, CN_ERR_MALFORMED, "unsupported entry version");
	p_set(&top, 0, v_uint(0));
	refused(&top, CN_ERR_MALFORMED, "unsupported entry version");
	p_set(&top, 0, v_tstr("1"));
	refused(&top, CN_ERR_MALFORMED, NULL);
	base_pairs(&top, &body);

	p_set(&top, 1, v_fill(0xa5, 31));
	refused(&top, CN_ERR_MALFORMED, "origin must be 32 bytes");
	p_set(&top, 1, v_fill(0xa5, 33));
	refused(&top, CN_ERR_MALFORMED, "origin must be 32 bytes");
	base_pairs(&top, &body);
	p_set(&top, 3, v_fill(0, 0));
	refused(&top, CN_ERR_MALFORMED, "prev must be 32 bytes");
	base_pairs(&top, &body);

	p_set(&top, 2, v_uint(0));
	refused(&top, CN_ERR_MALFORMED, "seq must be at least 1");
	p_set(&top, 2, v_uint(1));
	refused(&top, CN_ERR_MALFORMED, "prev must be 32 zero bytes at seq 1");
	p_set(&top, 3, v_fill(0, 32));
	accepted(&top);
	p_set(&top, 2, v_uint(UINT64_MAX));
	accepted(&top);
	base_pairs(&top, &body);

	p_set(&top, 4, v_uint(0));
	refused(&top, CN_ERR_MALFORMED, "hlc must not be zero");
	base_pairs(&top, &body);

	p_set(&top, 5, v_uint(18));
	refused(&top, CN_ERR_MALFORMED, "unknown op");
	p_set(&top, 5, v_uint(0));
	refused(&top, CN_ERR_MALFORMED, "unknown op");
	p_set(&top, 5, v_uint(256 + OP_CARD_LOST));
	refused(&top, CN_ERR_MALFORMED, "unknown op");
	p_set(&top, 5, v_uint(OP_CARD_FOUND));
	accepted(&top);
	base_pairs(&top, &body);

	/* key: edu_id syntax, and "" exactly for node-level ops */
	memset(long_id, '1', sizeof long_id);
	long_id[CN_EDU_ID_MAX + 1] = '\0';
	p_set(&top, 6, v_tstr(long_id));
	refused(&top, CN_ERR_TOOBIG, "key too long");
	long_id[CN_EDU_ID_MAX] = '\0';
	p_set(&top, 6, v_tstr(long_id));
	accepted(&top);
	p_set(&top, 6, v_tstr("ab_c"));
	refused(&top, CN_ERR_MALFORMED, "key is not a valid edu_id");
	p_set(&top, 6, v_tstr("a b"));
	refused(&top, CN_ERR_MALFORMED, "key is not a valid edu_id");
	p_set(&top, 6, v_tstr(""));
	refused(&top, CN_ERR_MALFORMED, "key is not a valid edu_id");
	p_set(&top, 6, v_tstr("Ab-09z"));
	accepted(&top);
	p_set(&top, 6, v_fill('1', 8)); /* bytes, not text */
	refused(&top, CN_ERR_MALFORMED, "expected a text string");
	base_pairs(&top, &body);

	/* actor: optional, never empty */
	p_set(&top, 8, v_tstr("window-3"));
	accepted(&top);
	p_set(&top, 8, v_tstr(""));
	refused(&top, CN_ERR_MALFORMED, "actor is empty (omit it instead)");
	p_set(&top, 8, v_tstr("\xc0\xaf"));
	refused(&top, CN_ERR_MALFORMED, "text is not UTF-8");
	base_pairs(&top, &body);

	/* structure of the payload map */
	p_set(&top, 9, v_uint(1));
	refused(&top, CN_ERR_MALFORMED, "unknown payload key");
	p_del(&top, 9);
	p_del(&top, 3);
	refused(&top, CN_ERR_MALFORMED,
		"payload field 'prev' missing or out of order");
	base_pairs(&top, &body);
	p_del(&top, 7);
	refused(&top, CN_ERR_MALFORMED,
		"payload field 'body' missing or out of order");
	base_pairs(&top, &body);
	{
		struct pair t = top.p[1];
		top.p[1] = top.p[2];
		top.p[2] = t;
		refused(&top, CN_ERR_MALFORMED,
			"payload field 'origin' missing or out of order");
	}
	base_pairs(&top, &body);
	top.p[top.n] = top.p[top.n - 1]; /* key 7 twice */
	top.n++;
	refused(&top, CN_ERR_MALFORMED, "duplicate map key");
	base_pairs(&top, &body);
	top.p[2].v = v_raw("\x18\x05", 2); /* seq 5 in two bytes */
	refused(&top, CN_ERR_MALFORMED, "non-canonical integer");
	top.p[2].v = v_raw("\x1b\0\0\0\0\0\0\0\x05", 9);
	refused(&top, CN_ERR_MALFORMED, "non-canonical integer");
	base_pairs(&top, &body);
	top.p[1].v = v_raw("\x58\x20", 2); /* origin: 32 in a byte is shortest */
	memset(top.p[1].v.b + 2, 0xa5, 32);
	top.p[1].v.n = 34;
	accepted(&top);
	top.p[6].v = v_raw("\x78\x08" "11010501", 10); /* key: 8 in a byte */
	refused(&top, CN_ERR_MALFORMED, "non-canonical length");
	printf("entry: header fields refused with reasons\n");
}

static void test_structure(void)
{
	struct pairs top, body;
	struct val v;
	struct entry e;
	const char *why;
	uint8_t buf[700];

	base_pairs(&top, &body);
	v = v_map(&top);
	memcpy(buf, v.b, v.n);
	buf[v.n] = 0x00; /* trailing byte */
	CHECK_EQ(entry_decode(buf, v.n + 1, &e, &why), CN_ERR_MALFORMED);
	CHECK_STR(why, "trailing bytes after the payload map");
	buf[0] = 0xb8; /* map count 8 in a byte */
	buf[1] = 0x08;
	memcpy(buf + 2, v.b + 1, v.n - 1);
	CHECK_EQ(entry_decode(buf, v.n + 1, &e, &why), CN_ERR_MALFORMED);
	CHECK_STR(why, "non-canonical length");
	buf[0] = 0xbf; /* indefinite map */
	memcpy(buf + 1, v.b + 1, v.n - 1);
	buf[v.n] = 0xff;
	CHECK_EQ(entry_decode(buf, v.n + 1, &e, &why), CN_ERR_MALFORMED);
	CHECK_STR(why, "indefinite length");
	buf[0] = 0xa9; /* one pair more declared than present */
	memcpy(buf + 1, v.b + 1, v.n - 1);
	CHECK_EQ(entry_decode(buf, v.n, &e, &why), CN_ERR_MALFORMED);
	buf[0] = 0x88; /* an array, not a map */
	CHECK_EQ(entry_decode(buf, v.n, &e, &why), CN_ERR_MALFORMED);
	CHECK_STR(why, "expected a map");
	CHECK_EQ(entry_decode(buf, 0, &e, &why), CN_ERR_MALFORMED);
	CHECK_EQ(entry_decode(NULL, 0, &e, &why), CN_ERR_MALFORMED);
	CHECK_STR(why, "truncated");
	/* a tag in front of the map */
	buf[0] = 0xd8;
	buf[1] = 0x18;
	memcpy(buf + 2, v.b, v.n);
	CHECK_EQ(entry_decode(buf, v.n + 2, &e, &why), CN_ERR_MALFORMED);
	CHECK_STR(why, "tags are not allowed");
	/* more than CN_PAYLOAD_MAX bytes */
	{
		uint8_t *big = calloc(1, CN_PAYLOAD_MAX + 1);
		CHECK(big != NULL);
		memcpy(big, v.b, v.n);
		CHECK_EQ(entry_decode(big, CN_PAYLOAD_MAX + 1, &e, &why),
			 CN_ERR_TOOBIG);
		free(big);
	}

	/* body: unknown keys, disallowed and missing fields */
	base_pairs(&top, &body);
	p_set(&body, BK__COUNT, v_uint(1));
	p_set(&top, 7, v_map(&body));
	refused(&top, CN_ERR_MALFORMED, "unknown body key");
	p_del(&body, BK__COUNT);
	/* photo belongs to student.put and card.sticker, not card.lost */
	p_set(&body, BK_PHOTO, v_fill(1, 32));
	p_set(&top, 7, v_map(&body));
	refused(&top, CN_ERR_MALFORMED,
		"body field 'photo' not allowed for card.lost");
	p_del(&body, BK_PHOTO);
	p_set(&body, 1000, v_uint(1));
	p_set(&top, 7, v_map(&body));
	refused(&top, CN_ERR_MALFORMED, "unknown body key");
	p_del(&body, 1000);
	p_set(&body, BK_UID, v_fill(1, 7));
	p_set(&top, 7, v_map(&body));
	refused(&top, CN_ERR_MALFORMED, "body field 'uid' not allowed for card.lost");
	p_del(&body, BK_UID);
	p_del(&body, BK_CARD);
	p_set(&top, 7, v_map(&body));
	refused(&top, CN_ERR_MALFORMED, "body field 'card' missing for card.lost");
	base_pairs(&top, &body);
	p_set(&top, 5, v_uint(OP_CITY_WATERMARK));
	p_set(&top, 6, v_tstr(""));
	refused(&top, CN_ERR_MALFORMED,
		"body field 'card' not allowed for city.watermark");
	p_set(&top, 5, v_uint(OP_NODE_NOTE));
	p_set(&top, 7, v_map(&(struct pairs){ .n = 0 }));
	refused(&top, CN_ERR_MALFORMED, "body field 'text' missing for node.note");
	p_set(&top, 6, v_tstr("11010501"));
	refused(&top, CN_ERR_MALFORMED, "key must be empty for a node-level op");

	/* body key order and duplicates */
	base_pairs(&top, &body);
	{
		struct pair t = body.p[0];
		body.p[0] = body.p[1];
		body.p[1] = t;
	}
	p_set(&top, 7, v_map(&body));
	refused(&top, CN_ERR_MALFORMED, "map keys out of order");
	base_pairs(&top, &body);
	body.p[2] = body.p[1];
	body.n = 3;
	p_set(&top, 7, v_map(&body));
	refused(&top, CN_ERR_MALFORMED, "duplicate map key");
	base_pairs(&top, &body);
	p_set(&top, 7, v_raw("\xa1\x18\x00\x62" "C1", 5)); /* key 0 in 2 bytes */
	refused(&top, CN_ERR_MALFORMED, "non-canonical integer");
	p_set(&top, 7, v_raw("\xa1\x00\x62" "C1", 5));
	accepted(&top);
	p_set(&top, 7, v_raw("\xa1\x00\x7f\x62" "C1\xff", 7));
	refused(&top, CN_ERR_MALFORMED, "indefinite length");
	p_set(&top, 7, v_raw("\xa1\x20\x62" "C1", 5)); /* negative key */
	refused(&top, CN_ERR_MALFORMED, "map key is not an unsigned integer");
	printf("entry: structure refused (trailing, order, duplicates, unknown, missing)\n");
}

static void test_refusals_body(void)
{
	char s[200];

	/* identifiers and sizes */
	body_case(OP_CARD_LOST, BK_CARD, v_tstr("bj123"), CN_ERR_MALFORMED,
		  "invalid value for body field 'card'");
	body_case(OP_CARD_LOST, BK_CARD, v_tstr(""), CN_ERR_MALFORMED,
		  "invalid value for body field 'card'");
	body_case(OP_CARD_LOST, BK_CARD, v_tstr("12345678901234567890"), 0, NULL);
	body_case(OP_CARD_LOST, BK_CARD, v_tstr("123456789012345678901"),
		  CN_ERR_TOOBIG, "body field 'card' is too long");
	body_case(OP_CARD_LOST, BK_CARD, v_uint(123), CN_ERR_MALFORMED,
		  "expected a text string");
	body_case(OP_CARD_ISSUE, BK_REPLACES, v_tstr("A-1"), CN_ERR_MALFORMED,
		  "invalid value for body field 'replaces'");
	body_case(OP_CARD_ISSUE, BK_UID, v_fill(1, 5), CN_ERR_MALFORMED,
		  "invalid value for body field 'uid'");
	body_case(OP_CARD_ISSUE, BK_UID, v_fill(1, 4), 0, NULL);
	body_case(OP_CARD_ISSUE, BK_UID, v_fill(1, 10), 0, NULL);
	body_case(OP_CARD_ISSUE, BK_UID, v_fill(1, 0), CN_ERR_MALFORMED, NULL);
	body_case(OP_CARD_ISSUE, BK_UID, v_fill(1, 11), CN_ERR_TOOBIG,
		  "body field 'uid' is too long");
	body_case(OP_CARD_ISSUE, BK_KIND, v_uint(2), CN_ERR_MALFORMED,
		  "invalid value for body field 'kind'");
	body_case(OP_CARD_ISSUE, BK_KIND, v_uint(257), CN_ERR_MALFORMED,
		  "invalid value for body field 'kind'");
	body_case(OP_CARD_ISSUE, BK_FEE, v_uint(100000000), 0, NULL);
	body_case(OP_CARD_ISSUE, BK_FEE, v_uint(100000001), CN_ERR_MALFORMED,
		  "invalid value for body field 'fee'");
	body_case(OP_CARD_ISSUE, BK_FEE, v_uint(1ull << 32), CN_ERR_MALFORMED,
		  "invalid value for body field 'fee'");
	/* dates, months, terms */
	body_case(OP_CARD_ISSUE, BK_EXPIRES, v_uint(20230229), CN_ERR_MALFORMED,
		  "invalid value for body field 'expires'");
	body_case(OP_CARD_ISSUE, BK_EXPIRES, v_uint(20240229), 0, NULL);
	body_case(OP_CARD_ISSUE, BK_EXPIRES, v_uint(20230431), CN_ERR_MALFORMED, NULL);
	body_case(OP_STUDENT_PUT, BK_GRAD, v_uint(21000229), CN_ERR_MALFORMED,
		  "invalid value for body field 'grad'");
	body_case(OP_STUDENT_PUT, BK_GRAD, v_uint(20000229), 0, NULL);
	body_case(OP_CARD_REGISTER, BK_TERM, v_uint(20243), CN_ERR_MALFORMED,
		  "invalid value for body field 'term'");
	body_case(OP_CARD_REGISTER, BK_TERM, v_uint(20241), 0, NULL);
	body_case(OP_CARD_REGISTER, BK_TERM, v_uint(19992), CN_ERR_MALFORMED, NULL);
	body_case(OP_CARD_VALIDATE, BK_THROUGH, v_uint(202413), CN_ERR_MALFORMED,
		  "invalid value for body field 'through'");
	body_case(OP_CARD_VALIDATE, BK_THROUGH, v_uint(202400), CN_ERR_MALFORMED, NULL);
	body_case(OP_CARD_VALIDATE, BK_THROUGH, v_uint(219912), 0, NULL);
	body_case(OP_CARD_VALIDATE, BK_THROUGH, v_uint(220001), CN_ERR_MALFORMED, NULL);
	/* small enums */
	body_case(OP_REISSUE_UPDATE, BK_STATE, v_uint(0), CN_ERR_MALFORMED, NULL);
	body_case(OP_REISSUE_UPDATE, BK_STATE, v_uint(8), CN_ERR_MALFORMED, NULL);
	body_case(OP_REISSUE_UPDATE, BK_STATE, v_uint(7), 0, NULL);
	body_case(OP_REISSUE_UPDATE, BK_DELIVERY, v_uint(3), CN_ERR_MALFORMED, NULL);
	body_case(OP_STUDENT_PUT, BK_GENDER, v_uint(3), CN_ERR_MALFORMED, NULL);
	body_case(OP_STUDENT_PUT, BK_GRADE, v_uint(0), CN_ERR_MALFORMED, NULL);
	body_case(OP_STUDENT_PUT, BK_GRADE, v_uint(13), CN_ERR_MALFORMED, NULL);
	body_case(OP_STUDENT_PUT, BK_GRADE, v_uint(12), 0, NULL);
	body_case(OP_STUDENT_PUT, BK_STAGE, v_uint(4), CN_ERR_MALFORMED, NULL);
	body_case(OP_STUDENT_PUT, BK_PHOTO, v_fill(1, 31), CN_ERR_MALFORMED, NULL);
	body_case(OP_STUDENT_PUT, BK_PHOTO, v_fill(1, 33), CN_ERR_MALFORMED, NULL);
	body_case(OP_STUDENT_PUT, BK_PHOTO, v_uint(1), CN_ERR_MALFORMED, NULL);
	body_case(OP_STUDENT_PUT, BK_PHOTO, v_fill(1, 32), 0, NULL);
	body_case(OP_CITY_WATERMARK, BK_TIME, v_uint(0), CN_ERR_MALFORMED,
		  "invalid value for body field 'time'");
	/* identity authentication */
	body_case(OP_AUTH_SUBMIT, BK_PERSON, v_uint(0), CN_ERR_MALFORMED,
		  "invalid value for body field 'person'");
	body_case(OP_AUTH_SUBMIT, BK_PERSON, v_uint(3), CN_ERR_MALFORMED, NULL);
	body_case(OP_AUTH_SUBMIT, BK_PERSON, v_uint(1), 0, NULL);
	body_case(OP_AUTH_SUBMIT, BK_SINCE, v_uint(1939), CN_ERR_MALFORMED,
		  "invalid value for body field 'since'");
	body_case(OP_AUTH_SUBMIT, BK_SINCE, v_uint(1940), 0, NULL);
	body_case(OP_AUTH_SUBMIT, BK_SINCE, v_uint(2200), CN_ERR_MALFORMED, NULL);
	body_case(OP_AUTH_SUBMIT, BK_SUBJECT, v_tstr(""), CN_ERR_MALFORMED,
		  "invalid value for body field 'subject'");
	body_case(OP_AUTH_APPROVE, BK_REVIEWER, v_uint(0), CN_ERR_MALFORMED,
		  "invalid value for body field 'reviewer'");
	body_case(OP_AUTH_REJECT, BK_REVIEWER, v_uint(3), CN_ERR_MALFORMED, NULL);
	body_case(OP_AUTH_APPROVE, BK_REVIEWER, v_uint(2), 0, NULL);
	body_case(OP_AUTH_APPROVE, BK_SUBMISSION, v_uint(0), CN_ERR_MALFORMED,
		  "invalid value for body field 'submission'");
	/* school, texts */
	body_case(OP_STUDENT_TRANSFER, BK_SCHOOL, v_tstr("110105-001"),
		  CN_ERR_MALFORMED, "invalid value for body field 'school'");
	body_case(OP_STUDENT_TRANSFER, BK_SCHOOL, v_tstr("110105_0001"),
		  CN_ERR_MALFORMED, NULL);
	body_case(OP_STUDENT_TRANSFER, BK_SCHOOL, v_tstr("1101050001"),
		  CN_ERR_MALFORMED, NULL);
	body_case(OP_STUDENT_PUT, BK_NAME, v_tstr(""), CN_ERR_MALFORMED,
		  "invalid value for body field 'name'");
	body_case(OP_STUDENT_PUT, BK_NAME, v_raw("\x62" "a\0", 3),
		  CN_ERR_MALFORMED, "text contains a NUL byte");
	body_case(OP_STUDENT_PUT, BK_NAME, v_raw("\x62\xed\xa0", 3),
		  CN_ERR_MALFORMED, "text is not UTF-8");
	memset(s, 'x', sizeof s);
	s[CN_NAME_MAX] = '\0';
	body_case(OP_STUDENT_PUT, BK_NAME, v_tstr(s), 0, NULL);
	s[CN_NAME_MAX] = 'x';
	s[CN_NAME_MAX + 1] = '\0';
	body_case(OP_STUDENT_PUT, BK_NAME, v_tstr(s), CN_ERR_TOOBIG,
		  "body field 'name' is too long");
	body_case(OP_STUDENT_PUT, BK_CLASS, v_tstr(""), 0, NULL);
	body_case(OP_STUDENT_PUT, BK_IDD, v_fill(1, 31), CN_ERR_MALFORMED,
		  "invalid value for body field 'idd'");
	body_case(OP_NODE_NOTE, BK_TEXT, v_tstr(""), CN_ERR_MALFORMED, NULL);
	body_case(OP_CARD_FREEZE, BK_REASON, v_tstr(""), 0, NULL);
	body_case(OP_CARD_FREEZE, BK_REASON, v_raw("\xf9\x3c\x00", 3),
		  CN_ERR_MALFORMED, "floats are not allowed");
	/* the watermark's vv */
	{
		struct cbor_wr w;
		uint8_t b[200], k[32];
		memset(k, 1, sizeof k);
		cbw_init_fixed(&w, b, sizeof b);
		cbw_map(&w, 2);
		cbw_bstr(&w, k, 32);
		cbw_uint(&w, 1);
		k[31] = 0; /* smaller than the first */
		cbw_bstr(&w, k, 32);
		cbw_uint(&w, 1);
		body_case(OP_CITY_WATERMARK, BK_VV, v_raw(b, w.len),
			  CN_ERR_MALFORMED, "vv keys out of order");
		k[31] = 1; /* the same */
		cbw_init_fixed(&w, b, sizeof b);
		cbw_map(&w, 2);
		cbw_bstr(&w, k, 32);
		cbw_uint(&w, 1);
		cbw_bstr(&w, k, 32);
		cbw_uint(&w, 1);
		body_case(OP_CITY_WATERMARK, BK_VV, v_raw(b, w.len),
			  CN_ERR_MALFORMED, "duplicate vv key");
		cbw_init_fixed(&w, b, sizeof b);
		cbw_map(&w, 1);
		cbw_bstr(&w, k, 32);
		cbw_uint(&w, 0);
		body_case(OP_CITY_WATERMARK, BK_VV, v_raw(b, w.len),
			  CN_ERR_MALFORMED, "vv seq must be at least 1");
		cbw_init_fixed(&w, b, sizeof b);
		cbw_map(&w, 1);
		cbw_bstr(&w, k, 31);
		cbw_uint(&w, 1);
		body_case(OP_CITY_WATERMARK, BK_VV, v_raw(b, w.len),
			  CN_ERR_MALFORMED, "vv key must be 32 bytes");
		cbw_init_fixed(&w, b, sizeof b);
		cbw_map(&w, 0);
		body_case(OP_CITY_WATERMARK, BK_VV, v_raw(b, w.len), 0, NULL);
		body_case(OP_CITY_WATERMARK, BK_VV, v_uint(1), CN_ERR_MALFORMED,
			  "expected a map");
		body_case(OP_CITY_WATERMARK, BK_VV,
			  v_raw("\xb9\x10\x01", 3), CN_ERR_TOOBIG,
			  "vv has more than ENTRY_VV_MAX origins");
	}
	printf("entry: body values refused with reasons naming the field\n");
}

/* entry_encode() runs the same rules and names the same reasons. */
static void test_encode_rules(void)
{
	struct entry e;
	uint8_t buf[CN_PAYLOAD_MAX];
	const char *why;
	size_t len;

	make_entry(&e, OP_CARD_LOST, false);
	e.body.has |= BF(BK_UID);
	CHECK_EQ(entry_encode(&e, buf, sizeof buf, &len, &why), CN_ERR_MALFORMED);
	CHECK_STR(why, "body field 'uid' not allowed for card.lost");
	make_entry(&e, OP_CARD_LOST, false);
	e.body.has = 0;
	CHECK_EQ(entry_encode(&e, buf, sizeof buf, &len, &why), CN_ERR_MALFORMED);
	CHECK_STR(why, "body field 'card' missing for card.lost");
	make_entry(&e, OP_CARD_LOST, false);
	e.body.has |= 1u << 30;
	CHECK_EQ(entry_encode(&e, buf, sizeof buf, &len, &why), CN_ERR_MALFORMED);
	make_entry(&e, OP_CARD_LOST, false);
	e.seq = 0;
	CHECK_EQ(entry_encode(&e, buf, sizeof buf, &len, &why), CN_ERR_MALFORMED);
	CHECK_STR(why, "seq must be at least 1");
	make_entry(&e, OP_CARD_LOST, false);
	e.prev[31] = 1;
	CHECK_EQ(entry_encode(&e, buf, sizeof buf, &len, &why), CN_ERR_MALFORMED);
	CHECK_STR(why, "prev must be 32 zero bytes at seq 1");
	make_entry(&e, OP_CARD_LOST, false);
	e.op = 99;
	CHECK_EQ(entry_encode(&e, buf, sizeof buf, &len, &why), CN_ERR_MALFORMED);
	CHECK_STR(why, "unknown op");
	make_entry(&e, OP_CARD_LOST, false);
	strcpy(e.body.card, "lower");
	CHECK_EQ(entry_encode(&e, buf, sizeof buf, &len, &why), CN_ERR_MALFORMED);
	CHECK_STR(why, "invalid value for body field 'card'");
	make_entry(&e, OP_STUDENT_PUT, false);
	memset(e.body.name, 'x', sizeof e.body.name); /* no terminator */
	CHECK_EQ(entry_encode(&e, buf, sizeof buf, &len, &why), CN_ERR_MALFORMED);
	CHECK_STR(why, "invalid value for body field 'name'");
	make_entry(&e, OP_STUDENT_PUT, false);
	strcpy(e.body.name, "\xff");
	CHECK_EQ(entry_encode(&e, buf, sizeof buf, &len, &why), CN_ERR_MALFORMED);
	make_entry(&e, OP_STUDENT_PUT, false);
	memset(e.key, 'k', sizeof e.key);
	CHECK_EQ(entry_encode(&e, buf, sizeof buf, &len, &why), CN_ERR_MALFORMED);
	CHECK_STR(why, "key is not a valid edu_id");
	make_entry(&e, OP_STUDENT_PUT, false);
	memset(e.actor, 'a', sizeof e.actor);
	CHECK_EQ(entry_encode(&e, buf, sizeof buf, &len, &why), CN_ERR_MALFORMED);
	CHECK_STR(why, "actor is not valid UTF-8 text");
	make_entry(&e, OP_CARD_ISSUE, false);
	e.body.uid_len = 200;
	CHECK_EQ(entry_encode(&e, buf, sizeof buf, &len, &why), CN_ERR_MALFORMED);
	make_entry(&e, OP_CITY_WATERMARK, false);
	e.body.vv = NULL;
	CHECK_EQ(entry_encode(&e, buf, sizeof buf, &len, &why), CN_ERR_MALFORMED);
	make_entry(&e, OP_CITY_WATERMARK, false);
	e.body.vv_len = vv_len - 1;
	CHECK_EQ(entry_encode(&e, buf, sizeof buf, &len, &why), CN_ERR_MALFORMED);
	{
		uint8_t two[2 * sizeof vv_bytes];
		make_entry(&e, OP_CITY_WATERMARK, false);
		memcpy(two, vv_bytes, vv_len);
		memcpy(two + vv_len, vv_bytes, vv_len);
		e.body.vv = two;
		e.body.vv_len = 2 * vv_len;
		CHECK_EQ(entry_encode(&e, buf, sizeof buf, &len, &why),
			 CN_ERR_MALFORMED);
		CHECK_STR(why, "trailing bytes after body field 'vv'");
	}
	/* a watermark at and beyond ENTRY_VV_MAX (which fits one payload) */
	{
		size_t cap = 64 * 1024;
		uint8_t *vv = malloc(cap), *out = malloc(2 * CN_PAYLOAD_MAX);
		CHECK(vv != NULL && out != NULL);
		make_entry(&e, OP_CITY_WATERMARK, false);
		e.body.vv = vv;
		e.body.vv_len = make_vv(vv, cap, ENTRY_VV_MAX + 1);
		CHECK(entry_encode(&e, out, 2 * CN_PAYLOAD_MAX, &len, &why) != CN_OK);
		CHECK_STR(why, "vv has more than ENTRY_VV_MAX origins");
		e.body.vv_len = make_vv(vv, cap, ENTRY_VV_MAX);
		len = encode_ok(&e, out, 2 * CN_PAYLOAD_MAX);
		CHECK(len <= CN_PAYLOAD_MAX);
		check_round_trip(&e, out, len);
		free(vv);
		free(out);
	}
	printf("entry: encode refuses what decode refuses, with the same reasons\n");
}

static void test_truncations_and_flips(void)
{
	uint8_t buf[CN_PAYLOAD_MAX], out[CN_PAYLOAD_MAX];
	size_t accepted_flips = 0, tried = 0;

	for (size_t i = 0; i < N_ALL_OPS; i++) {
		for (int full = 0; full <= 1; full++) {
			struct entry e, d;
			const char *why;
			size_t len, olen;

			make_entry(&e, all_ops[i], full);
			len = encode_ok(&e, buf, sizeof buf);
			for (size_t k = 0; k < len; k++) {
				uint8_t *copy = malloc(k ? k : 1);
				CHECK(copy != NULL);
				memcpy(copy, buf, k);
				why = NULL;
				CHECK(entry_decode(copy, k, &d, &why) != 0);
				CHECK(why != NULL);
				free(copy);
			}
			for (size_t bit = 0; bit < len * 8; bit++) {
				uint8_t *copy = malloc(len);
				int rc;
				CHECK(copy != NULL);
				memcpy(copy, buf, len);
				copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
				why = NULL;
				rc = entry_decode(copy, len, &d, &why);
				tried++;
				if (rc == 0) {
					accepted_flips++;
					CHECK_EQ(entry_encode(&d, out, sizeof out,
							      &olen, &why), 0);
					CHECK_EQ(olen, len);
					CHECK_MEM(out, copy, len);
				} else {
					CHECK(rc == CN_ERR_MALFORMED ||
					      rc == CN_ERR_TOOBIG);
					CHECK(why != NULL);
				}
				free(copy);
			}
		}
	}
	printf("entry: every truncation refused, every bit flip refused or "
	       "canonical (%zu of %zu flips decode)\n", accepted_flips, tried);
}

/* Random byte edits: never a crash, and whatever decodes re-encodes to the
 * same bytes. */
static void test_random_mutations(void)
{
	struct tu_rng rng;
	uint8_t buf[CN_PAYLOAD_MAX], out[CN_PAYLOAD_MAX];
	size_t ok = 0;

	tu_rng_seed(&rng, 20240901);
	for (int round = 0; round < 20000; round++) {
		struct entry e, d;
		const char *why;
		size_t len, olen;
		uint32_t edits = 1 + tu_rng_below(&rng, 4);

		make_entry(&e, all_ops[tu_rng_below(&rng, N_ALL_OPS)],
			   tu_rng_below(&rng, 2));
		len = encode_ok(&e, buf, sizeof buf);
		for (uint32_t j = 0; j < edits; j++) {
			size_t at = tu_rng_below(&rng, (uint32_t)len);
			buf[at] = (uint8_t)tu_rng_next(&rng);
		}
		if (tu_rng_below(&rng, 4) == 0)
			len = tu_rng_below(&rng, (uint32_t)len + 1);
		if (entry_decode(buf, len, &d, &why) == 0) {
			ok++;
			CHECK_EQ(entry_encode(&d, out, sizeof out, &olen, &why), 0);
			CHECK_EQ(olen, len);
			CHECK_MEM(out, buf, len);
		}
	}
	printf("entry: 20000 random edits, no crash (%zu decoded, all canonical)\n",
	       ok);
}

/* ---- the stored form ---------------------------------------------------- */

/* pack(e) then unpack gives e back but origin, seq and prev, and with those
 * the exact payload; every truncation of the form is refused, and every bit
 * flip is refused or gives an entry that encodes.  Returns the form's
 * length. */
static size_t check_stored(const struct entry *e, uint64_t base,
			   const uint8_t *sig)
{
	uint8_t form[CN_ENTRY_MAX], p1[CN_PAYLOAD_MAX], p2[CN_PAYLOAD_MAX];
	struct bw w = {form, 0, sizeof form, false};
	struct entry d;
	struct br r;
	const uint8_t *s;
	size_t l1, l2;

	CHECK_EQ(entry_pack(e, base, sig, &w), 0);
	r = (struct br){form, w.len, 0, false};
	CHECK_EQ(entry_unpack(&r, base, &d, &s), 0);
	CHECK_EQ(r.off, w.len);
	if (sig != NULL) {
		CHECK(s == form + w.len - CN_SIG_LEN);
		CHECK_MEM(s, sig, CN_SIG_LEN);
	} else {
		CHECK(s == NULL);
	}
	memcpy(d.origin, e->origin, CN_KEY_LEN);
	d.seq = e->seq;
	memcpy(d.prev, e->prev, CN_KEY_LEN);
	l1 = encode_ok(e, p1, sizeof p1);
	l2 = encode_ok(&d, p2, sizeof p2);
	CHECK_EQ(l1, l2);
	CHECK_MEM(p1, p2, l1);
	for (size_t k = 0; k < w.len; k++) {
		r = (struct br){form, k, 0, false};
		CHECK_EQ(entry_unpack(&r, base, &d, &s), CN_ERR_MALFORMED);
	}
	for (size_t bit = 0; bit < w.len * 8; bit++) {
		int rc;
		form[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		r = (struct br){form, w.len, 0, false};
		rc = entry_unpack(&r, base, &d, &s);
		if (rc == 0) {
			d.seq = e->seq;
			memcpy(d.prev, e->prev, CN_KEY_LEN);
			l2 = encode_ok(&d, p2, sizeof p2);
		} else {
			CHECK_EQ(rc, CN_ERR_MALFORMED);
		}
		form[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	return w.len;
}

static void test_stored_form(void)
{
	static const char *const keys[] = {
		"11010501", "00012345", "S1", "1101-05", "-", "a-1",
		"1234567890123456789", "12345678901234567890", "0",
	};
	static const char *const cards[] = {
		"0000000001", "BJ2024000123", "1", "99999999999999999999",
	};
	uint8_t sig[CN_SIG_LEN], payload[CN_PAYLOAD_MAX];
	size_t form = 0, full = 0;

	vv_len = make_vv(vv_bytes, sizeof vv_bytes, 3);
	memset(sig, 0x77, sizeof sig);
	for (size_t i = 0; i < N_ALL_OPS; i++) {
		for (int all = 0; all <= 1; all++) {
			struct entry e;
			make_entry(&e, all_ops[i], all);
			/* hlc at, above and below the base */
			check_stored(&e, e.hlc, all ? sig : NULL);
			check_stored(&e, e.hlc - 70000, NULL);
			check_stored(&e, e.hlc + 3, sig);
			check_stored(&e, 0, NULL);
			form += check_stored(&e, e.hlc - 1, NULL);
			full += encode_ok(&e, payload, sizeof payload);
		}
	}
	/* Texts in each of their stored forms. */
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		struct entry e;
		make_entry(&e, OP_CARD_ISSUE, true);
		strcpy(e.key, keys[i]);
		strcpy(e.body.card, cards[i % (sizeof cards / sizeof cards[0])]);
		strcpy(e.body.replaces, cards[(i + 1) % (sizeof cards / sizeof cards[0])]);
		strcpy(e.actor, keys[i]);
		check_stored(&e, e.hlc, NULL);
	}
	printf("entry: stored form round trip for every op (%zu bytes for %zu of "
	       "payload), truncations refused, flips refused or valid\n", form, full);
}

static void test_wire(void)
{
	uint8_t payload[CN_PAYLOAD_MAX], buf[CN_ENTRY_MAX + 16], sig[65];
	struct entry e;
	const uint8_t *p, *s;
	size_t plen, used, len, wlen;
	const char *why;
	struct cbor_wr w;

	make_entry(&e, OP_CARD_LOST, true);
	len = encode_ok(&e, payload, sizeof payload);
	memset(sig, 0x42, sizeof sig);

	/* signature of 63 and 65 bytes, text, integer */
	for (size_t sl = 63; sl <= 65; sl++) {
		cbw_init_fixed(&w, buf, sizeof buf);
		cbw_array(&w, 2);
		cbw_bstr(&w, payload, len);
		cbw_bstr(&w, sig, sl);
		why = NULL;
		CHECK_EQ(entry_wire_decode(buf, w.len, &p, &plen, &s, &used, &why),
			 sl == 64 ? 0 : CN_ERR_MALFORMED);
		if (sl != 64)
			CHECK_STR(why, "signature is not 64 bytes");
	}
	cbw_init_fixed(&w, buf, sizeof buf);
	cbw_array(&w, 2);
	cbw_bstr(&w, payload, len);
	cbw_uint(&w, 0);
	CHECK_EQ(entry_wire_decode(buf, w.len, &p, &plen, &s, &used, &why),
		 CN_ERR_MALFORMED);
	CHECK_STR(why, "signature is neither bytes nor null");

	/* null accepted; trailing data is the caller's */
	CHECK_EQ(entry_wire_encode(payload, len, NULL, buf, sizeof buf, &wlen), 0);
	buf[wlen] = 0x99;
	buf[wlen + 1] = 0x00;
	CHECK_EQ(entry_wire_decode(buf, wlen + 2, &p, &plen, &s, &used, &why), 0);
	CHECK(s == NULL);
	CHECK_EQ(used, wlen);
	CHECK_EQ(plen, len);
	CHECK_MEM(p, payload, len);
	/* every truncation refused */
	for (size_t k = 0; k < wlen; k++)
		CHECK(entry_wire_decode(buf, k, &p, &plen, &s, &used, &why) != 0);
	/* a buffer one byte short */
	CHECK_EQ(entry_wire_encode(payload, len, sig, buf, wlen + 64, &wlen),
		 CN_ERR_TOOBIG);
	CHECK_EQ(entry_wire_encode(payload, 0, sig, buf, sizeof buf, &wlen),
		 CN_ERR_INVAL);

	/* wrong shapes */
	cbw_init_fixed(&w, buf, sizeof buf);
	cbw_array(&w, 3);
	cbw_bstr(&w, payload, len);
	cbw_null(&w);
	cbw_null(&w);
	CHECK_EQ(entry_wire_decode(buf, w.len, &p, &plen, &s, &used, &why),
		 CN_ERR_MALFORMED);
	CHECK_STR(why, "wire entry is not a two-item array");
	cbw_init_fixed(&w, buf, sizeof buf);
	cbw_array(&w, 2);
	cbw_bstr(&w, payload, 0);
	cbw_null(&w);
	CHECK_EQ(entry_wire_decode(buf, w.len, &p, &plen, &s, &used, &why),
		 CN_ERR_MALFORMED);
	CHECK_STR(why, "empty payload");
	cbw_init_fixed(&w, buf, sizeof buf);
	cbw_array(&w, 2);
	cbw_tstr(&w, "abc", 3);
	cbw_null(&w);
	CHECK_EQ(entry_wire_decode(buf, w.len, &p, &plen, &s, &used, &why),
		 CN_ERR_MALFORMED);
	{
		static const uint8_t indef[] = { 0x9f, 0x41, 0x00, 0xf6, 0xff };
		static const uint8_t huge[] = { 0x82, 0x5b, 0x80, 0, 0, 0, 0, 0, 0, 0 };
		CHECK_EQ(entry_wire_decode(indef, sizeof indef, &p, &plen, &s,
					   &used, &why), CN_ERR_MALFORMED);
		CHECK_EQ(entry_wire_decode(huge, sizeof huge, &p, &plen, &s,
					   &used, &why), CN_ERR_TOOBIG);
		CHECK_EQ(entry_wire_decode(NULL, 0, &p, &plen, &s, &used, &why),
			 CN_ERR_MALFORMED);
	}
	/* a payload above CN_PAYLOAD_MAX */
	{
		size_t big = CN_PAYLOAD_MAX + 1;
		uint8_t *b = calloc(1, big + 16), *src = calloc(1, big);
		CHECK(b != NULL && src != NULL);
		cbw_init_fixed(&w, b, big + 16);
		cbw_array(&w, 2);
		cbw_bstr(&w, src, big); /* contents don't matter */
		cbw_null(&w);
		CHECK_EQ(w.err, 0);
		CHECK_EQ(entry_wire_decode(b, w.len, &p, &plen, &s, &used, &why),
			 CN_ERR_TOOBIG);
		CHECK_STR(why, "payload larger than CN_PAYLOAD_MAX");
		CHECK_EQ(entry_wire_encode(src, big, NULL, b, big + 16, &wlen),
			 CN_ERR_TOOBIG);
		free(src);
		free(b);
	}
	printf("entry: wire form (sig 64 or null, bad sizes and shapes refused)\n");
}

static void test_sign_verify(void)
{
	static const uint8_t blake_abc[32] = {
		0xbd, 0xdd, 0x81, 0x3c, 0x63, 0x42, 0x39, 0x72, 0x31, 0x71, 0xef,
		0x3f, 0xee, 0x98, 0x57, 0x9b, 0x94, 0x96, 0x4e, 0x3b, 0xb1, 0xcb,
		0x3e, 0x42, 0x72, 0x62, 0xc8, 0xc0, 0x68, 0xd5, 0x23, 0x19,
	};
	uint8_t seed[32], pk[32], sk[64], hash[32], sig[64], msg[49];
	uint8_t payload[CN_PAYLOAD_MAX];
	struct entry e;
	size_t len;

	entry_hash((const uint8_t *)"abc", 3, hash);
	CHECK_MEM(hash, blake_abc, 32);

	memset(seed, 7, sizeof seed);
	CHECK_EQ(crypto_sign_seed_keypair(pk, sk, seed), 0);
	make_entry(&e, OP_CARD_ISSUE, true);
	len = encode_ok(&e, payload, sizeof payload);
	entry_hash(payload, len, hash);
	entry_sign(hash, sk, sig);
	CHECK_EQ(entry_verify(hash, sig, pk), 0);
	/* the signed message is the domain followed by the hash */
	memcpy(msg, "cardnode-entry-v1", 17);
	memcpy(msg + 17, hash, 32);
	CHECK_EQ(crypto_sign_verify_detached(sig, msg, sizeof msg, pk), 0);
	for (size_t bit = 0; bit < 256; bit++) {
		hash[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CHECK_EQ(entry_verify(hash, sig, pk), CN_ERR_BADSIG);
		hash[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		pk[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CHECK_EQ(entry_verify(hash, sig, pk), CN_ERR_BADSIG);
		pk[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	for (size_t bit = 0; bit < 512; bit++) {
		sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CHECK_EQ(entry_verify(hash, sig, pk), CN_ERR_BADSIG);
		sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	CHECK_EQ(entry_verify(hash, sig, pk), 0);
	/* another payload, another hash: the signature does not carry over */
	payload[len - 1] ^= 1;
	entry_hash(payload, len, hash);
	CHECK_EQ(entry_verify(hash, sig, pk), CN_ERR_BADSIG);
	printf("entry: BLAKE2b-256 hash, Ed25519 sign/verify, any flipped bit fails\n");
}

static void test_identifiers(void)
{
	CHECK(entry_edu_id_valid("11010501"));
	CHECK(entry_edu_id_valid("a"));
	CHECK(entry_edu_id_valid("Ab-9"));
	CHECK(entry_edu_id_valid("12345678901234567890"));
	CHECK(!entry_edu_id_valid("123456789012345678901"));
	CHECK(!entry_edu_id_valid(""));
	CHECK(!entry_edu_id_valid("a_b"));
	CHECK(!entry_edu_id_valid("a b"));
	CHECK(!entry_edu_id_valid("\xc3\xa9"));
	CHECK(!entry_edu_id_valid(NULL));
	CHECK(entry_card_no_valid("BJ0001"));
	CHECK(entry_card_no_valid("12345678901234567890"));
	CHECK(!entry_card_no_valid("123456789012345678901"));
	CHECK(!entry_card_no_valid("bj0001"));
	CHECK(!entry_card_no_valid("BJ-1"));
	CHECK(!entry_card_no_valid(""));
	CHECK(entry_school_valid("110105-0001"));
	CHECK(!entry_school_valid("110105-00011"));
	CHECK(!entry_school_valid("110105-001"));
	CHECK(!entry_school_valid("11010A-0001"));
	CHECK(!entry_school_valid("1101050-001"));
	CHECK(!entry_school_valid(""));
	for (size_t n = 0; n <= 12; n++)
		CHECK_EQ(entry_uid_len_valid(n), n == 4 || n == 7 || n == 10);
	CHECK(entry_date_valid(20240229));
	CHECK(entry_date_valid(20000229));
	CHECK(!entry_date_valid(20230229));
	CHECK(!entry_date_valid(21000229));
	CHECK(entry_date_valid(20231231));
	CHECK(!entry_date_valid(20231131));
	CHECK(!entry_date_valid(20231232));
	CHECK(!entry_date_valid(20231300));
	CHECK(!entry_date_valid(20230001));
	CHECK(!entry_date_valid(20230100));
	CHECK(!entry_date_valid(19991231));
	CHECK(entry_date_valid(21991231));
	CHECK(!entry_date_valid(22000101));
	CHECK(!entry_date_valid(0));
	CHECK(!entry_date_valid(UINT32_MAX));
	printf("entry: identifier and date syntax\n");
}

static void test_op_table(void)
{
	static const char *const names[] = {
		"student.put", "student.transfer", "card.issue", "card.lost",
		"card.found", "card.freeze", "card.unfreeze", "card.cancel",
		"card.validate", "card.register", "reissue.update", "node.note",
		"city.watermark", "student.leave", "card.sticker",
		"guardian.claim", "auth.submit", "auth.approve", "auth.reject",
	};
	uint32_t req, allowed;

	for (size_t i = 0; i < N_ALL_OPS; i++) {
		CHECK_STR(entry_op_name(all_ops[i]), names[i]);
		CHECK_EQ(entry_op_from_name(names[i]), all_ops[i]);
		CHECK(entry_op_fields(all_ops[i], &req, &allowed));
		CHECK((req & ~allowed) == 0);
		CHECK(req != 0);
	}
	for (unsigned op = 0; op < 256; op++) {
		bool known = false;
		for (size_t i = 0; i < N_ALL_OPS; i++)
			known |= all_ops[i] == op;
		CHECK_EQ(entry_op_name((uint8_t)op) != NULL, known);
		CHECK_EQ(entry_op_fields((uint8_t)op, NULL, NULL), known);
	}
	CHECK_EQ(entry_op_from_name("card.Lost"), 0);
	CHECK_EQ(entry_op_from_name(""), 0);
	CHECK_EQ(entry_op_from_name(NULL), 0);
	CHECK(entry_op_fields(OP_STUDENT_PUT, &req, &allowed));
	CHECK_EQ(req, BF(BK_NAME));
	CHECK(allowed & BF(BK_SCHOOL));
	CHECK(entry_op_fields(OP_CARD_ISSUE, &req, &allowed));
	CHECK_EQ(req, BF(BK_CARD) | BF(BK_UID) | BF(BK_KIND));
	CHECK(entry_op_fields(OP_CARD_LOST, &req, &allowed));
	CHECK_EQ(allowed, BF(BK_CARD) | BF(BK_REASON));
	printf("entry: op names and field tables\n");
}

int main(void)
{
	CHECK(sodium_init() >= 0);
	test_op_table();
	test_identifiers();
	test_round_trip();
	test_refusals_header();
	test_structure();
	test_refusals_body();
	test_encode_rules();
	test_truncations_and_flips();
	test_random_mutations();
	test_stored_form();
	test_wire();
	test_sign_verify();
	return 0;
}
