/*
 * entry.c — the change-log entry codec, hash chain and signatures (DESIGN §4).
 *
 * One set of rules: check_entry() is what entry_encode() runs before writing
 * and what entry_decode() runs after reading.  The decoder itself only
 * enforces what the struct cannot express (canonical CBOR, key order, types,
 * the version number, an empty actor string, values too wide for their
 * field); everything else is check_entry()'s.
 */
#include "entry.h"

#include <stddef.h>
#include <string.h>

#include <sodium.h>

#include "bytes.h"
#include "cbor_rw.h"

#define ENTRY_FEE_MAX 100000000u /* 1 000 000 yuan, in fen */
#define ENTRY_GRADE_MAX 12
#define YEAR_MIN 2000
#define YEAR_MAX 2199
#define SINCE_MIN 1940 /* a teacher's first year in post */

static const char sig_domain[] = "cardnode-entry-v1";

/* ---- the operation and body-field tables ----------------------------- */

#define CARD_REASON (BF(BK_CARD) | BF(BK_REASON))

/* X(op, name, required, allowed) */
#define ENTRY_OPS(X)                                                         \
	X(OP_STUDENT_PUT, "student.put", BF(BK_NAME),                        \
	  BF(BK_SCHOOL) | BF(BK_NAME) | BF(BK_GENDER) | BF(BK_GRADE) |       \
	  BF(BK_CLASS) | BF(BK_STAGE) | BF(BK_GRAD) | BF(BK_IDD) |           \
	  BF(BK_GDD) | BF(BK_PHOTO) | BF(BK_SINCE) | BF(BK_SUBJECT))         \
	X(OP_STUDENT_TRANSFER, "student.transfer", BF(BK_SCHOOL),            \
	  BF(BK_SCHOOL) | BF(BK_REASON))                                     \
	X(OP_CARD_ISSUE, "card.issue", BF(BK_CARD) | BF(BK_UID) | BF(BK_KIND), \
	  BF(BK_CARD) | BF(BK_UID) | BF(BK_KIND) | BF(BK_EXPIRES) |          \
	  BF(BK_REPLACES) | BF(BK_FEE) | BF(BK_REASON))                      \
	X(OP_CARD_LOST, "card.lost", BF(BK_CARD), CARD_REASON)               \
	X(OP_CARD_FOUND, "card.found", BF(BK_CARD), CARD_REASON)             \
	X(OP_CARD_FREEZE, "card.freeze", BF(BK_CARD), CARD_REASON)           \
	X(OP_CARD_UNFREEZE, "card.unfreeze", BF(BK_CARD), CARD_REASON)       \
	X(OP_CARD_CANCEL, "card.cancel", BF(BK_CARD), CARD_REASON)           \
	X(OP_CARD_VALIDATE, "card.validate", BF(BK_CARD) | BF(BK_THROUGH),   \
	  BF(BK_CARD) | BF(BK_THROUGH))                                      \
	X(OP_CARD_REGISTER, "card.register", BF(BK_CARD) | BF(BK_TERM),      \
	  BF(BK_CARD) | BF(BK_TERM))                                         \
	X(OP_REISSUE_UPDATE, "reissue.update", BF(BK_CARD) | BF(BK_STATE),   \
	  BF(BK_CARD) | BF(BK_STATE) | BF(BK_FEE) | BF(BK_DELIVERY) |        \
	  BF(BK_REASON) | BF(BK_OVERRIDE))                                   \
	X(OP_STUDENT_LEAVE, "student.leave", BF(BK_REASON), BF(BK_REASON))    \
	X(OP_CARD_STICKER, "card.sticker",                                   \
	  BF(BK_CARD) | BF(BK_NUMBER) | BF(BK_SCHOOL),                       \
	  BF(BK_CARD) | BF(BK_NUMBER) | BF(BK_SCHOOL) | BF(BK_PHOTO) |       \
	  BF(BK_EXPIRES))                                                    \
	X(OP_GUARDIAN_CLAIM, "guardian.claim", BF(BK_GDD), BF(BK_GDD))       \
	X(OP_AUTH_SUBMIT, "auth.submit",                                     \
	  BF(BK_PERSON) | BF(BK_NAME) | BF(BK_SCHOOL) | BF(BK_IDD),          \
	  BF(BK_PERSON) | BF(BK_NAME) | BF(BK_SCHOOL) | BF(BK_IDD) |         \
	  BF(BK_GENDER) | BF(BK_GRADE) | BF(BK_CLASS) | BF(BK_STAGE) |       \
	  BF(BK_SINCE) | BF(BK_SUBJECT) | BF(BK_GDD) | BF(BK_PHOTO))         \
	X(OP_AUTH_APPROVE, "auth.approve",                                   \
	  BF(BK_REVIEWER) | BF(BK_SUBMISSION),                               \
	  BF(BK_REVIEWER) | BF(BK_SUBMISSION))                               \
	X(OP_AUTH_REJECT, "auth.reject",                                     \
	  BF(BK_REVIEWER) | BF(BK_SUBMISSION) | BF(BK_REASON),               \
	  BF(BK_REVIEWER) | BF(BK_SUBMISSION) | BF(BK_REASON))               \
	X(OP_NODE_NOTE, "node.note", BF(BK_TEXT), BF(BK_TEXT))               \
	X(OP_CITY_WATERMARK, "city.watermark", BF(BK_VV) | BF(BK_TIME),      \
	  BF(BK_VV) | BF(BK_TIME))

/* How a body field is stored in struct entry_body and on the wire. */
enum field_type {
	FT_TEXT,  /* char[], tstr */
	FT_UID,   /* uid[] + uid_len, bstr */
	FT_KEY32, /* uint8_t[32], bstr 32 */
	FT_UINT,  /* uint8_t / uint32_t / uint64_t, uint */
	FT_VV,    /* encoded map kept as a pointer into the payload */
};

/* X(arg, key, name, type, member, least text length) — in key order. */
#define BODY_FIELDS(X, a)                                                    \
	X(a, BK_CARD, "card", FT_TEXT, card, 1)                              \
	X(a, BK_UID, "uid", FT_UID, uid, 0)                                  \
	X(a, BK_KIND, "kind", FT_UINT, kind, 0)                              \
	X(a, BK_EXPIRES, "expires", FT_UINT, expires, 0)                     \
	X(a, BK_REPLACES, "replaces", FT_TEXT, replaces, 1)                  \
	X(a, BK_FEE, "fee", FT_UINT, fee, 0)                                 \
	X(a, BK_REASON, "reason", FT_TEXT, reason, 0)                        \
	X(a, BK_THROUGH, "through", FT_UINT, through, 0)                     \
	X(a, BK_TERM, "term", FT_UINT, term, 0)                              \
	X(a, BK_STATE, "state", FT_UINT, state, 0)                           \
	X(a, BK_DELIVERY, "delivery", FT_UINT, delivery, 0)                  \
	X(a, BK_SCHOOL, "school", FT_TEXT, school, 1)                        \
	X(a, BK_NAME, "name", FT_TEXT, name, 1)                              \
	X(a, BK_GENDER, "gender", FT_UINT, gender, 0)                        \
	X(a, BK_GRADE, "grade", FT_UINT, grade, 0)                           \
	X(a, BK_CLASS, "class", FT_TEXT, class_, 0)                          \
	X(a, BK_STAGE, "stage", FT_UINT, stage, 0)                           \
	X(a, BK_GRAD, "grad", FT_UINT, grad, 0)                              \
	X(a, BK_IDD, "idd", FT_KEY32, idd, 0)                                \
	X(a, BK_GDD, "gdd", FT_KEY32, gdd, 0)                                \
	X(a, BK_TEXT, "text", FT_TEXT, text, 1)                              \
	X(a, BK_VV, "vv", FT_VV, vv, 0)                                      \
	X(a, BK_TIME, "time", FT_UINT, time, 0)                              \
	X(a, BK_PHOTO, "photo", FT_KEY32, photo, 0)                          \
	X(a, BK_NUMBER, "number", FT_TEXT, number, 1)                        \
	X(a, BK_OVERRIDE, "override", FT_UINT, override, 0)                  \
	X(a, BK_PERSON, "person", FT_UINT, person, 0)                        \
	X(a, BK_SINCE, "since", FT_UINT, since, 0)                           \
	X(a, BK_SUBJECT, "subject", FT_TEXT, subject, 1)                     \
	X(a, BK_REVIEWER, "reviewer", FT_UINT, reviewer, 0)                  \
	X(a, BK_SUBMISSION, "submission", FT_UINT, submission, 0)

struct op_info {
	uint8_t op;
	const char *name;
	uint32_t required;
	uint32_t allowed;
};

#define OP_ROW(op, name, req, allow) { op, name, req, allow },
static const struct op_info ops[] = { ENTRY_OPS(OP_ROW) };
#define N_OPS (sizeof ops / sizeof ops[0])

struct field {
	uint8_t type;
	uint8_t min;   /* FT_TEXT: least length in bytes */
	uint16_t off;  /* offsetof(struct entry_body, member) */
	uint16_t size; /* sizeof member */
	const char *bad;
	const char *too_long;
};

#define MEMBER_SIZE(m) sizeof(((struct entry_body *)0)->m)
#define FIELD_ROW(a, k, n, t, m, lo)                                         \
	[k] = { t, lo, offsetof(struct entry_body, m), MEMBER_SIZE(m),       \
		"invalid value for body field '" n "'",                      \
		"body field '" n "' is too long" },
static const struct field fields[BK__COUNT] = { BODY_FIELDS(FIELD_ROW, 0) };

/* Reasons naming both field and op, as static strings: one row per op. */
#define NA_CELL(opname, k, n, t, m, lo)                                      \
	[k] = "body field '" n "' not allowed for " opname,
#define NA_ROW(op, name, req, allow) { BODY_FIELDS(NA_CELL, name) },
static const char *const not_allowed_why[][BK__COUNT] = { ENTRY_OPS(NA_ROW) };

#define MISS_CELL(opname, k, n, t, m, lo)                                    \
	[k] = "body field '" n "' missing for " opname,
#define MISS_ROW(op, name, req, allow) { BODY_FIELDS(MISS_CELL, name) },
static const char *const missing_why[][BK__COUNT] = { ENTRY_OPS(MISS_ROW) };

#define TOP_MISSING(n) "payload field '" n "' missing or out of order"
static const char *const top_missing_why[] = {
	TOP_MISSING("v"), TOP_MISSING("origin"), TOP_MISSING("seq"),
	TOP_MISSING("prev"), TOP_MISSING("hlc"), TOP_MISSING("op"),
	TOP_MISSING("key"), TOP_MISSING("body"),
};

static int op_index(uint8_t op)
{
	for (size_t i = 0; i < N_OPS; i++)
		if (ops[i].op == op)
			return (int)i;
	return -1;
}

bool entry_op_fields(uint8_t op, uint32_t *required, uint32_t *allowed)
{
	int i = op_index(op);

	if (i < 0)
		return false;
	if (required != NULL)
		*required = ops[i].required;
	if (allowed != NULL)
		*allowed = ops[i].allowed;
	return true;
}

const char *entry_op_name(uint8_t op)
{
	int i = op_index(op);

	return i < 0 ? NULL : ops[i].name;
}

uint8_t entry_op_from_name(const char *name)
{
	if (name == NULL)
		return 0;
	for (size_t i = 0; i < N_OPS; i++)
		if (strcmp(ops[i].name, name) == 0)
			return ops[i].op;
	return 0;
}

static bool node_level_op(uint8_t op)
{
	return op == OP_NODE_NOTE || op == OP_CITY_WATERMARK;
}

/* ---- identifiers and calendar ---------------------------------------- */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_lower(char c) { return c >= 'a' && c <= 'z'; }

/* 1..max characters, each accepted by `ok`.  Reads at most s[max]. */
static bool ident_valid(const char *s, size_t max, bool (*ok)(char))
{
	size_t n;

	if (s == NULL)
		return false;
	for (n = 0; s[n] != '\0'; n++)
		if (n == max || !ok(s[n]))
			return false;
	return n > 0;
}

static bool edu_char(char c)
{
	return is_digit(c) || is_upper(c) || is_lower(c) || c == '-';
}

static bool card_char(char c)
{
	return is_digit(c) || is_upper(c);
}

bool entry_edu_id_valid(const char *s)
{
	return ident_valid(s, CN_EDU_ID_MAX, edu_char);
}

bool entry_card_no_valid(const char *s)
{
	return ident_valid(s, CN_CARD_NO_MAX, card_char);
}

bool entry_school_valid(const char *s)
{
	if (s == NULL)
		return false;
	for (size_t i = 0; i < CN_SCHOOL_MAX; i++)
		if (i == 6 ? s[i] != '-' : !is_digit(s[i]))
			return false;
	return s[CN_SCHOOL_MAX] == '\0';
}

bool entry_uid_len_valid(size_t n)
{
	return n == 4 || n == 7 || n == 10;
}

static bool year_valid(uint32_t y)
{
	return y >= YEAR_MIN && y <= YEAR_MAX;
}

static uint32_t days_in_month(uint32_t y, uint32_t m)
{
	static const uint8_t days[12] = { 31, 28, 31, 30, 31, 30,
					  31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

bool entry_date_valid(uint32_t v)
{
	uint32_t y = v / 10000, m = v / 100 % 100, d = v % 100;

	return year_valid(y) && m >= 1 && m <= 12 && d >= 1 &&
	       d <= days_in_month(y, m);
}

/* YYYYMM */
static bool month_valid(uint32_t v)
{
	return year_valid(v / 100) && v % 100 >= 1 && v % 100 <= 12;
}

/* YYYYT, T = 1 spring, 2 autumn */
static bool term_valid(uint32_t v)
{
	return year_valid(v / 10) && (v % 10 == 1 || v % 10 == 2);
}

/* ---- field access ----------------------------------------------------- */

static void *field_ptr(struct entry_body *b, const struct field *f)
{
	return (char *)b + f->off;
}

static const void *field_cptr(const struct entry_body *b,
			      const struct field *f)
{
	return (const char *)b + f->off;
}

static uint64_t field_uint_max(const struct field *f)
{
	return f->size == 1 ? UINT8_MAX : f->size == 4 ? UINT32_MAX
						       : UINT64_MAX;
}

static uint64_t get_uint(const struct entry_body *b, const struct field *f)
{
	const void *p = field_cptr(b, f);

	if (f->size == 1)
		return *(const uint8_t *)p;
	if (f->size == 4)
		return *(const uint32_t *)p;
	return *(const uint64_t *)p;
}

static void set_uint(struct entry_body *b, const struct field *f, uint64_t v)
{
	void *p = field_ptr(b, f);

	if (f->size == 1)
		*(uint8_t *)p = (uint8_t)v;
	else if (f->size == 4)
		*(uint32_t *)p = (uint32_t)v;
	else
		*(uint64_t *)p = v;
}

static unsigned lowest_bit(uint32_t x)
{
	unsigned k = 0;

	while ((x & 1) == 0) {
		x >>= 1;
		k++;
	}
	return k;
}

static size_t bit_count(uint32_t x)
{
	size_t n = 0;

	for (; x != 0; x &= x - 1)
		n++;
	return n;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* ---- the rules ---------------------------------------------------------- */

static int bad(struct cbor_rd *r, const char *why)
{
	r->why = why;
	return CN_ERR_MALFORMED;
}

static int read_key32(struct cbor_rd *r, uint8_t out[CN_KEY_LEN],
		      const char *wrong_len)
{
	const uint8_t *p;
	size_t n;
	int rc = cbr_bstr(r, &p, &n, SIZE_MAX);

	if (rc != 0)
		return rc;
	if (n != CN_KEY_LEN)
		return bad(r, wrong_len);
	memcpy(out, p, CN_KEY_LEN);
	return 0;
}

/* One vv pair; `prev` is the previous key (inside the input) or NULL. */
static int vv_pair(struct cbor_rd *r, const uint8_t **key, const uint8_t *prev)
{
	uint64_t seq;
	size_t n;
	int cmp, rc = cbr_bstr(r, key, &n, SIZE_MAX);

	if (rc != 0)
		return rc;
	if (n != CN_KEY_LEN)
		return bad(r, "vv key must be 32 bytes");
	cmp = prev != NULL ? memcmp(*key, prev, CN_KEY_LEN) : 1;
	if (cmp <= 0)
		return bad(r, cmp == 0 ? "duplicate vv key" : "vv keys out of order");
	rc = cbr_uint(r, &seq);
	return rc == 0 && seq == 0 ? bad(r, "vv seq must be at least 1") : rc;
}

/* The watermark's vv map: at most ENTRY_VV_MAX pairs bstr32 → uint ≥ 1,
 * keys strictly ascending.  Moves the cursor only on success. */
static int vv_scan(struct cbor_rd *r)
{
	struct cbor_rd t = *r;
	const uint8_t *key = NULL, *prev = NULL;
	size_t n;
	int rc = cbr_map(&t, &n, ENTRY_VV_MAX);

	if (rc == CN_ERR_TOOBIG)
		t.why = "vv has more than ENTRY_VV_MAX origins";
	for (size_t i = 0; rc == 0 && i < n; i++, prev = key)
		rc = vv_pair(&t, &key, prev);
	if (rc != 0) {
		r->why = t.why;
		return rc;
	}
	r->p = t.p;
	return 0;
}

static const char *vv_why(const struct entry_body *b)
{
	struct cbor_rd r;

	if (b->vv == NULL)
		return "body field 'vv' has no bytes";
	cbr_init(&r, b->vv, b->vv_len);
	if (vv_scan(&r) != 0)
		return r.why;
	return r.p == r.end ? NULL : "trailing bytes after body field 'vv'";
}

/* NUL-terminated inside its array, at least `min` bytes, UTF-8, no NUL. */
static bool text_ok(const char *s, size_t size, size_t min)
{
	const char *z = memchr(s, '\0', size);
	size_t n = z != NULL ? (size_t)(z - s) : size;

	return n < size && n >= min && cbor_utf8_valid(s, n);
}

/* The value rule of body field k, beyond what the field table says. */
static bool value_ok(const struct entry_body *b, unsigned k)
{
	switch (k) {
	case BK_CARD: return entry_card_no_valid(b->card);
	case BK_UID: return entry_uid_len_valid(b->uid_len);
	case BK_KIND: return b->kind <= KIND_TEMPORARY;
	case BK_EXPIRES: return entry_date_valid(b->expires);
	case BK_REPLACES: return entry_card_no_valid(b->replaces);
	case BK_FEE: return b->fee <= ENTRY_FEE_MAX;
	case BK_THROUGH: return month_valid(b->through);
	case BK_TERM: return term_valid(b->term);
	case BK_STATE:
		return b->state >= REISSUE_REQUESTED &&
		       b->state <= REISSUE_REFUNDED;
	case BK_DELIVERY: return b->delivery <= DELIVERY_SCHOOL;
	case BK_SCHOOL: return entry_school_valid(b->school);
	case BK_GENDER: return b->gender <= GENDER_FEMALE;
	case BK_GRADE: return b->grade >= 1 && b->grade <= ENTRY_GRADE_MAX;
	case BK_STAGE:
		return b->stage >= STAGE_PRIMARY && b->stage <= STAGE_SENIOR;
	case BK_GRAD: return entry_date_valid(b->grad);
	case BK_TIME: return b->time > 0;
	case BK_NUMBER: return entry_card_no_valid(b->number);
	case BK_OVERRIDE: return b->override == 1;
	case BK_PERSON:
		return b->person == PERSON_STUDENT || b->person == PERSON_TEACHER;
	case BK_SINCE: return b->since >= SINCE_MIN && b->since <= YEAR_MAX;
	case BK_REVIEWER:
		return b->reviewer == REVIEWER_CLASS_TEACHER ||
		       b->reviewer == REVIEWER_ADMIN;
	case BK_SUBMISSION: return b->submission > 0;
	default: return true; /* texts: text_ok(); digests: any bytes */
	}
}

static const char *check_field(const struct entry_body *b, unsigned k)
{
	const struct field *f = &fields[k];

	if (k == BK_VV)
		return vv_why(b);
	if (f->type == FT_TEXT &&
	    !text_ok(field_cptr(b, f), f->size, f->min))
		return f->bad;
	return value_ok(b, k) ? NULL : f->bad;
}

static const char *check_body(const struct entry_body *b, int oi)
{
	uint32_t extra = b->has & ~ops[oi].allowed;
	uint32_t missing = ops[oi].required & ~b->has;

	if (extra != 0) {
		unsigned k = lowest_bit(extra);
		return k < BK__COUNT ? not_allowed_why[oi][k]
				     : "unknown body field";
	}
	if (missing != 0)
		return missing_why[oi][lowest_bit(missing)];
	for (unsigned k = 0; k < BK__COUNT; k++) {
		const char *why = (b->has & BF(k)) ? check_field(b, k) : NULL;
		if (why != NULL)
			return why;
	}
	return NULL;
}

static const char *check_key(const struct entry *e)
{
	if (node_level_op(e->op))
		return e->key[0] == '\0' ? NULL
					 : "key must be empty for a node-level op";
	return entry_edu_id_valid(e->key) ? NULL : "key is not a valid edu_id";
}

/* Every rule on what the stored form keeps (all but origin, seq and
 * prev); NULL when they hold. */
static const char *check_content(const struct entry *e)
{
	int oi = op_index(e->op);
	const char *why;

	if (oi < 0)
		return "unknown op";
	if (e->hlc == 0)
		return "hlc must not be zero";
	why = check_key(e);
	if (why != NULL)
		return why;
	if (!text_ok(e->actor, sizeof e->actor, 0))
		return "actor is not valid UTF-8 text";
	return check_body(&e->body, oi);
}

/* Every rule an entry must satisfy; NULL when it does. */
static const char *check_entry(const struct entry *e)
{
	if (op_index(e->op) < 0)
		return "unknown op";
	if (e->seq == 0)
		return "seq must be at least 1";
	if (e->seq == 1 && !all_zero(e->prev, CN_KEY_LEN))
		return "prev must be 32 zero bytes at seq 1";
	return check_content(e);
}

/* ---- encoding ----------------------------------------------------------- */

static void write_field(struct cbor_wr *w, const struct entry_body *b,
			unsigned k)
{
	const struct field *f = &fields[k];

	cbw_uint(w, k);
	switch (f->type) {
	case FT_TEXT: cbw_tstr0(w, field_cptr(b, f)); break;
	case FT_UID: cbw_bstr(w, b->uid, b->uid_len); break;
	case FT_KEY32: cbw_bstr(w, field_cptr(b, f), CN_KEY_LEN); break;
	case FT_UINT: cbw_uint(w, get_uint(b, f)); break;
	default: cbw_raw(w, b->vv, b->vv_len); break;
	}
}

static void write_payload(struct cbor_wr *w, const struct entry *e)
{
	bool actor = e->actor[0] != '\0';

	cbw_map(w, actor ? 9 : 8);
	cbw_uint(w, 0);
	cbw_uint(w, ENTRY_VERSION);
	cbw_uint(w, 1);
	cbw_bstr(w, e->origin, CN_KEY_LEN);
	cbw_uint(w, 2);
	cbw_uint(w, e->seq);
	cbw_uint(w, 3);
	cbw_bstr(w, e->prev, CN_KEY_LEN);
	cbw_uint(w, 4);
	cbw_uint(w, e->hlc);
	cbw_uint(w, 5);
	cbw_uint(w, e->op);
	cbw_uint(w, 6);
	cbw_tstr0(w, e->key);
	cbw_uint(w, 7);
	cbw_map(w, bit_count(e->body.has));
	for (unsigned k = 0; k < BK__COUNT; k++)
		if (e->body.has & BF(k))
			write_field(w, &e->body, k);
	if (actor) {
		cbw_uint(w, 8);
		cbw_tstr0(w, e->actor);
	}
}

int entry_encode(const struct entry *e, uint8_t *buf, size_t cap,
		 size_t *len, const char **why)
{
	const char *dummy, *w8;
	struct cbor_wr w;

	if (why == NULL)
		why = &dummy;
	w8 = check_entry(e);
	if (w8 != NULL) {
		*why = w8;
		return CN_ERR_MALFORMED;
	}
	cbw_init_fixed(&w, buf, cap < CN_PAYLOAD_MAX ? cap : CN_PAYLOAD_MAX);
	write_payload(&w, e);
	if (w.err != 0) {
		*why = cap < CN_PAYLOAD_MAX ? "buffer too small for the payload"
					    : "payload larger than CN_PAYLOAD_MAX";
		return CN_ERR_TOOBIG;
	}
	*len = w.len;
	return 0;
}

/* ---- decoding ----------------------------------------------------------- */

static int read_text(struct cbor_rd *r, char *out, size_t max,
		     const char *too_long)
{
	int rc = cbr_tstr_copy(r, out, max);

	if (rc == CN_ERR_TOOBIG)
		r->why = too_long;
	return rc;
}

static int read_uint_field(struct cbor_rd *r, struct entry_body *b,
			   const struct field *f)
{
	uint64_t v;
	int rc = cbr_uint(r, &v);

	if (rc != 0)
		return rc;
	if (v > field_uint_max(f))
		return bad(r, f->bad);
	set_uint(b, f, v);
	return 0;
}

static int read_uid(struct cbor_rd *r, struct entry_body *b,
		    const struct field *f)
{
	const uint8_t *p;
	size_t n;
	int rc = cbr_bstr(r, &p, &n, CN_UID_MAX);

	if (rc == CN_ERR_TOOBIG)
		r->why = f->too_long;
	if (rc != 0)
		return rc;
	memcpy(b->uid, p, n);
	b->uid_len = (uint8_t)n;
	return 0;
}

static int read_vv(struct cbor_rd *r, struct entry_body *b)
{
	const uint8_t *start = r->p;
	int rc = vv_scan(r);

	if (rc != 0)
		return rc;
	b->vv = start;
	b->vv_len = (size_t)(r->p - start);
	return 0;
}

static int read_field(struct cbor_rd *r, struct entry_body *b, unsigned k)
{
	const struct field *f = &fields[k];

	switch (f->type) {
	case FT_TEXT:
		return read_text(r, field_ptr(b, f), f->size - 1u, f->too_long);
	case FT_UID: return read_uid(r, b, f);
	case FT_KEY32: return read_key32(r, field_ptr(b, f), f->bad);
	case FT_UINT: return read_uint_field(r, b, f);
	default: return read_vv(r, b);
	}
}

static int read_body(struct cbor_rd *r, struct entry_body *b)
{
	int64_t last = -1;
	uint64_t k;
	size_t n;
	int rc = cbr_map(r, &n, SIZE_MAX);

	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = cbr_map_key_next(r, &last, &k);
		if (rc == 0 && k >= BK__COUNT)
			rc = bad(r, "unknown body key");
		if (rc == 0)
			rc = read_field(r, b, (unsigned)k);
		if (rc == 0)
			b->has |= BF(k);
	}
	return rc;
}

static int read_small_uint(struct cbor_rd *r, uint64_t *v, uint64_t max,
			   const char *why)
{
	int rc = cbr_uint(r, v);

	return rc == 0 && *v > max ? bad(r, why) : rc;
}

/* The value of payload key k. */
static int read_top(struct cbor_rd *r, uint64_t k, struct entry *e)
{
	uint64_t v;
	int rc;

	switch (k) {
	case 0:
		rc = cbr_uint(r, &v);
		return rc == 0 && v != ENTRY_VERSION
			       ? bad(r, "unsupported entry version") : rc;
	case 1: return read_key32(r, e->origin, "origin must be 32 bytes");
	case 2: return cbr_uint(r, &e->seq);
	case 3: return read_key32(r, e->prev, "prev must be 32 bytes");
	case 4: return cbr_uint(r, &e->hlc);
	case 5:
		rc = read_small_uint(r, &v, UINT8_MAX, "unknown op");
		if (rc == 0)
			e->op = (uint8_t)v;
		return rc;
	case 6: return read_text(r, e->key, CN_EDU_ID_MAX, "key too long");
	case 7: return read_body(r, &e->body);
	default:
		rc = read_text(r, e->actor, CN_ACTOR_MAX, "actor too long");
		return rc == 0 && e->actor[0] == '\0'
			       ? bad(r, "actor is empty (omit it instead)") : rc;
	}
}

static int read_payload(struct cbor_rd *r, struct entry *e)
{
	int64_t last = -1;
	uint64_t k;
	size_t n, i;
	int rc = cbr_map(r, &n, SIZE_MAX);

	for (i = 0; rc == 0 && i < n; i++) {
		rc = cbr_map_key_next(r, &last, &k);
		if (rc == 0 && k > 8)
			rc = bad(r, "unknown payload key");
		if (rc == 0 && k != i)
			rc = bad(r, top_missing_why[i]);
		if (rc == 0)
			rc = read_top(r, k, e);
	}
	if (rc == 0 && n < 8)
		rc = bad(r, top_missing_why[n]);
	if (rc == 0 && r->p != r->end)
		rc = bad(r, "trailing bytes after the payload map");
	return rc;
}

int entry_decode(const uint8_t *p, size_t len, struct entry *e,
		 const char **why)
{
	const char *dummy, *rule;
	struct cbor_rd r;
	int rc;

	if (why == NULL)
		why = &dummy;
	memset(e, 0, sizeof *e);
	if (len > CN_PAYLOAD_MAX) {
		*why = "payload larger than CN_PAYLOAD_MAX";
		return CN_ERR_TOOBIG;
	}
	cbr_init(&r, p, len);
	rc = read_payload(&r, e);
	rule = rc == 0 ? check_entry(e) : NULL;
	if (rule != NULL)
		rc = bad(&r, rule);
	if (rc != 0) {
		*why = r.why;
		memset(e, 0, sizeof *e);
	}
	return rc;
}

/* ---- the stored form ------------------------------------------------------ */

#define PK_SIG 1u   /* flag bits of the stored form */
#define PK_ACTOR 2u

int entry_pack(const struct entry *e, uint64_t base_hlc, const uint8_t *sig,
	       struct bw *w)
{
	bw_zz(w, e->hlc - base_hlc);
	bw_u8(w, e->op);
	bw_text(w, e->key);
	bw_u8(w, (uint8_t)((sig != NULL ? PK_SIG : 0) |
			   (e->actor[0] != '\0' ? PK_ACTOR : 0)));
	if (e->actor[0] != '\0')
		bw_text(w, e->actor);
	bw_uv(w, e->body.has);
	for (unsigned k = 0; k < BK__COUNT; k++) {
		const struct field *f = &fields[k];
		if (!(e->body.has & BF(k)))
			continue;
		switch (f->type) {
		case FT_TEXT: bw_text(w, field_cptr(&e->body, f)); break;
		case FT_UID:
			bw_u8(w, e->body.uid_len);
			bw_put(w, e->body.uid, e->body.uid_len);
			break;
		case FT_KEY32: bw_put(w, field_cptr(&e->body, f), CN_KEY_LEN); break;
		case FT_UINT: bw_uv(w, get_uint(&e->body, f)); break;
		default:
			bw_uv(w, e->body.vv_len);
			bw_put(w, e->body.vv, e->body.vv_len);
			break;
		}
	}
	if (sig != NULL)
		bw_put(w, sig, CN_SIG_LEN);
	return w->bad ? CN_ERR_TOOBIG : CN_OK;
}

int entry_unpack_head(struct br *r, uint64_t base_hlc, uint64_t *hlc,
		      uint8_t *op, char key[static CN_EDU_ID_MAX + 1])
{
	*hlc = base_hlc + br_zz(r);
	*op = br_u8(r);
	br_text(r, key, CN_EDU_ID_MAX);
	return r->bad ? CN_ERR_MALFORMED : CN_OK;
}

/* One body field of the stored form; false if malformed. */
static bool get_field(struct br *r, struct entry_body *b, unsigned k)
{
	const struct field *f = &fields[k];
	uint64_t v;

	switch (f->type) {
	case FT_TEXT:
		br_text(r, field_ptr(b, f), f->size - 1u);
		return !r->bad;
	case FT_UID:
		b->uid_len = br_u8(r);
		if (b->uid_len > CN_UID_MAX)
			return false;
		br_get(r, b->uid, b->uid_len);
		return !r->bad;
	case FT_KEY32:
		br_get(r, field_ptr(b, f), CN_KEY_LEN);
		return !r->bad;
	case FT_UINT:
		v = br_uv(r);
		if (r->bad || v > field_uint_max(f))
			return false;
		set_uint(b, f, v);
		return true;
	default:
		v = br_uv(r);
		if (r->bad || v > r->len - r->off)
			return false;
		b->vv = r->p + r->off;
		b->vv_len = (size_t)v;
		r->off += (size_t)v;
		return true;
	}
}

int entry_unpack(struct br *r, uint64_t base_hlc, struct entry *e,
		 const uint8_t **sig)
{
	uint8_t flags;
	uint64_t has;

	memset(e, 0, sizeof *e);
	*sig = NULL;
	if (entry_unpack_head(r, base_hlc, &e->hlc, &e->op, e->key) != CN_OK)
		return CN_ERR_MALFORMED;
	flags = br_u8(r);
	if (flags & PK_ACTOR)
		br_text(r, e->actor, CN_ACTOR_MAX);
	if (r->bad || flags & ~(PK_SIG | PK_ACTOR) ||
	    ((flags & PK_ACTOR) && e->actor[0] == '\0'))
		return CN_ERR_MALFORMED;
	has = br_uv(r);
	if (r->bad || has >= BF(BK__COUNT))
		return CN_ERR_MALFORMED;
	e->body.has = (uint32_t)has;
	for (unsigned k = 0; k < BK__COUNT; k++)
		if ((has & BF(k)) && !get_field(r, &e->body, k))
			return CN_ERR_MALFORMED;
	if (flags & PK_SIG) {
		if (r->len - r->off < CN_SIG_LEN)
			return CN_ERR_MALFORMED;
		*sig = r->p + r->off;
		r->off += CN_SIG_LEN;
	}
	return r->bad || check_content(e) != NULL ? CN_ERR_MALFORMED : CN_OK;
}

/* ---- wire form ------------------------------------------------------------- */

int entry_wire_encode(const uint8_t *payload, size_t plen,
		      const uint8_t *sig, uint8_t *buf, size_t cap,
		      size_t *len)
{
	struct cbor_wr w;

	if (payload == NULL || plen == 0 || buf == NULL || len == NULL)
		return CN_ERR_INVAL;
	if (plen > CN_PAYLOAD_MAX)
		return CN_ERR_TOOBIG;
	cbw_init_fixed(&w, buf, cap);
	cbw_array(&w, 2);
	cbw_bstr(&w, payload, plen);
	if (sig != NULL)
		cbw_bstr(&w, sig, CN_SIG_LEN);
	else
		cbw_null(&w);
	if (w.err != 0)
		return CN_ERR_TOOBIG;
	*len = w.len;
	return 0;
}

static int read_sig(struct cbor_rd *r, const uint8_t **sig)
{
	size_t n;
	int rc;

	*sig = NULL;
	if (cbr_peek(r) == CBT_NULL)
		return cbr_null(r);
	if (cbr_peek(r) != CBT_BSTR)
		return bad(r, "signature is neither bytes nor null");
	rc = cbr_bstr(r, sig, &n, SIZE_MAX);
	return rc == 0 && n != CN_SIG_LEN ? bad(r, "signature is not 64 bytes")
					  : rc;
}

int entry_wire_decode(const uint8_t *buf, size_t len, const uint8_t **payload,
		      size_t *plen, const uint8_t **sig, size_t *used,
		      const char **why)
{
	const char *dummy;
	struct cbor_rd r;
	size_t n;
	int rc;

	if (why == NULL)
		why = &dummy;
	cbr_init(&r, buf, len);
	rc = cbr_array(&r, &n, SIZE_MAX);
	if (rc == 0 && n != 2)
		rc = bad(&r, "wire entry is not a two-item array");
	if (rc == 0)
		rc = cbr_bstr(&r, payload, plen, CN_PAYLOAD_MAX);
	if (rc == CN_ERR_TOOBIG)
		r.why = "payload larger than CN_PAYLOAD_MAX";
	if (rc == 0 && *plen == 0)
		rc = bad(&r, "empty payload");
	if (rc == 0)
		rc = read_sig(&r, sig);
	if (rc != 0) {
		*why = r.why;
		return rc;
	}
	*used = (size_t)(r.p - buf);
	return 0;
}

/* ---- hash and signatures ------------------------------------------------- */

void entry_hash(const uint8_t *payload, size_t plen,
		uint8_t out[static CN_KEY_LEN])
{
	crypto_generichash(out, CN_KEY_LEN, payload, plen, NULL, 0);
}

/* "cardnode-entry-v1" || hash */
static void sig_message(const uint8_t hash[CN_KEY_LEN],
			uint8_t msg[sizeof sig_domain - 1 + CN_KEY_LEN])
{
	memcpy(msg, sig_domain, sizeof sig_domain - 1);
	memcpy(msg + sizeof sig_domain - 1, hash, CN_KEY_LEN);
}

void entry_sign(const uint8_t hash[static CN_KEY_LEN],
		const uint8_t sk[static 64], uint8_t sig[static CN_SIG_LEN])
{
	uint8_t msg[sizeof sig_domain - 1 + CN_KEY_LEN];

	sig_message(hash, msg);
	crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
}

int entry_verify(const uint8_t hash[static CN_KEY_LEN],
		 const uint8_t sig[static CN_SIG_LEN],
		 const uint8_t pk[static CN_KEY_LEN])
{
	uint8_t msg[sizeof sig_domain - 1 + CN_KEY_LEN];

	sig_message(hash, msg);
	if (crypto_sign_verify_detached(sig, msg, sizeof msg, pk) != 0)
		return CN_ERR_BADSIG;
	return 0;
}
