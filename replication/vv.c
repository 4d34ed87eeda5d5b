/*
 * vv.c — version vectors: a sorted array searched by bisection, loaded from
 * a replica or parsed from the strict JSON text form of vv.h.
 */
#include "vv.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cbor_rw.h"
#include "replica.h"
#include "util.h"

#define VV_JSON_MAX (4u << 20)  /* bytes of JSON text */
#define VV_ORIGINS_MAX 65536
#define JSON_DEPTH_MAX 16

void vv_init(struct vv *vv)
{
	vv->v = NULL;
	vv->n = 0;
	vv->cap = 0;
}

void vv_free(struct vv *vv)
{
	free(vv->v);
	vv_init(vv);
}

/* Index of origin if present (*found set), else where it would go. */
static size_t vv_search(const struct vv *vv, const uint8_t origin[static CN_KEY_LEN],
			bool *found)
{
	size_t lo = 0, hi = vv->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(vv->v[mid].origin, origin, CN_KEY_LEN);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

int vv_set(struct vv *vv, const uint8_t origin[static CN_KEY_LEN], uint64_t seq)
{
	bool found;
	size_t i = vv_search(vv, origin, &found);

	if (found) {
		vv->v[i].seq = seq;
		return 0;
	}
	if (vv->n == vv->cap) {
		size_t cap = vv->cap ? vv->cap * 2 : 16;
		struct vv_item *nv;

		if (cap > SIZE_MAX / sizeof *nv)
			return CN_ERR_NOMEM;
		nv = realloc(vv->v, cap * sizeof *nv);
		if (nv == NULL)
			return CN_ERR_NOMEM;
		vv->v = nv;
		vv->cap = cap;
	}
	memmove(&vv->v[i + 1], &vv->v[i], (vv->n - i) * sizeof vv->v[0]);
	memcpy(vv->v[i].origin, origin, CN_KEY_LEN);
	vv->v[i].seq = seq;
	vv->n++;
	return 0;
}

uint64_t vv_get(const struct vv *vv, const uint8_t origin[static CN_KEY_LEN])
{
	bool found;
	size_t i = vv_search(vv, origin, &found);

	return found ? vv->v[i].seq : 0;
}

static int vv_load_cb(void *ctx, const uint8_t origin[CN_KEY_LEN], uint64_t seq)
{
	return vv_set(ctx, origin, seq);
}

int vv_from_replica(struct vv *vv, void *replica)
{
	vv->n = 0;
	return replica_vv(replica, vv_load_cb, vv);
}

/* ---- JSON ---------------------------------------------------------------- */

struct jcur {
	const char *p;
	const char *end;
	const char *why;
};

static void j_ws(struct jcur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' ||
				 *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int j_fail(struct jcur *c, const char *why)
{
	if (c->why == NULL)
		c->why = why;
	return CN_ERR_MALFORMED;
}

static bool j_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
	       (ch >= 'A' && ch <= 'F');
}

/* A string; on success [*s, *s + *n) is its raw content between the quotes
 * (escapes not resolved). */
static int j_string(struct jcur *c, const char **s, size_t *n)
{
	const char *start;

	if (c->p >= c->end || *c->p != '"')
		return j_fail(c, "expected a string");
	start = ++c->p;
	while (c->p < c->end && *c->p != '"') {
		unsigned char ch = (unsigned char)*c->p;

		if (ch < 0x20)
			return j_fail(c, "control character in a string");
		if (ch == '\\') {
			if (c->end - c->p < 2)
				return j_fail(c, "unterminated string");
			switch (c->p[1]) {
			case '"': case '\\': case '/': case 'b': case 'f':
			case 'n': case 'r': case 't':
				c->p += 2;
				break;
			case 'u':
				if (c->end - c->p < 6 || !j_hex(c->p[2]) ||
				    !j_hex(c->p[3]) || !j_hex(c->p[4]) ||
				    !j_hex(c->p[5]))
					return j_fail(c, "bad \\u escape in a string");
				c->p += 6;
				break;
			default:
				return j_fail(c, "bad escape in a string");
			}
			continue;
		}
		c->p++;
	}
	if (c->p >= c->end)
		return j_fail(c, "unterminated string");
	*s = start;
	*n = (size_t)(c->p - start);
	c->p++;
	if (!cbor_utf8_valid(*s, *n))
		return j_fail(c, "string is not valid UTF-8");
	return 0;
}

/* Any JSON number (RFC 8259 grammar). */
static int j_number(struct jcur *c)
{
	if (c->p < c->end && *c->p == '-')
		c->p++;
	if (c->p >= c->end || *c->p < '0' || *c->p > '9')
		return j_fail(c, "bad number");
	if (*c->p == '0') {
		c->p++;
	} else {
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
			c->p++;
	}
	if (c->p < c->end && *c->p == '.') {
		c->p++;
		if (c->p >= c->end || *c->p < '0' || *c->p > '9')
			return j_fail(c, "bad number");
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
			c->p++;
	}
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
		c->p++;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
			c->p++;
		if (c->p >= c->end || *c->p < '0' || *c->p > '9')
			return j_fail(c, "bad number");
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
			c->p++;
	}
	if (c->p < c->end && (*c->p == '-' || *c->p == '+' ||
			      (*c->p >= '0' && *c->p <= '9')))
		return j_fail(c, "bad number");
	return 0;
}

static int j_literal(struct jcur *c, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return j_fail(c, "unexpected character");
	c->p += n;
	return 0;
}

/* Skip one value, checking it is well-formed JSON, nesting ≤ the limit. */
static int j_skip(struct jcur *c, int depth)
{
	const char *s;
	size_t n;

	if (c->p >= c->end)
		return j_fail(c, "unexpected end of the text");
	switch (*c->p) {
	case '"':
		return j_string(c, &s, &n);
	case 't':
		return j_literal(c, "true");
	case 'f':
		return j_literal(c, "false");
	case 'n':
		return j_literal(c, "null");
	case '{':
	case '[': {
		char close = *c->p == '{' ? '}' : ']';
		bool obj = close == '}';

		if (depth >= JSON_DEPTH_MAX)
			return j_fail(c, "nesting deeper than 16 levels");
		c->p++;
		j_ws(c);
		if (c->p < c->end && *c->p == close) {
			c->p++;
			return 0;
		}
		for (;;) {
			if (obj) {
				if (j_string(c, &s, &n) != 0)
					return CN_ERR_MALFORMED;
				j_ws(c);
				if (c->p >= c->end || *c->p != ':')
					return j_fail(c, "expected ':'");
				c->p++;
				j_ws(c);
			}
			if (j_skip(c, depth + 1) != 0)
				return CN_ERR_MALFORMED;
			j_ws(c);
			if (c->p < c->end && *c->p == ',') {
				c->p++;
				j_ws(c);
				continue;
			}
			if (c->p < c->end && *c->p == close) {
				c->p++;
				return 0;
			}
			return j_fail(c, obj ? "expected ',' or '}'"
					     : "expected ',' or ']'");
		}
	}
	default:
		if (*c->p == '-' || (*c->p >= '0' && *c->p <= '9'))
			return j_number(c);
		return j_fail(c, "unexpected character");
	}
}

/* The raw span of a member value, already checked by j_skip, read as a seq:
 * digits only, fits in 64 bits. */
static const char *span_seq(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return "origin's seq is not a number";
	if (*s == '-')
		return "origin's seq has a sign";
	if (*s < '0' || *s > '9')
		return "origin's seq is not a number";
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.')
			return "origin's seq has a fraction";
		if (s[i] == 'e' || s[i] == 'E')
			return "origin's seq has an exponent";
		if (s[i] < '0' || s[i] > '9')
			return "origin's seq is not a number";
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return "origin's seq does not fit in 64 bits";
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return NULL;
}

/* One "hex64": seq member (raw key and value spans) into vv.  Returns NULL,
 * or why not with *err set. */
static const char *vv_member(struct vv *vv, const char *key, size_t klen,
			     const char *val, size_t vlen, int *err)
{
	uint8_t origin[CN_KEY_LEN];
	char hex[2 * CN_KEY_LEN + 1];
	const char *why;
	uint64_t seq;
	bool found;

	*err = CN_ERR_MALFORMED;
	if (klen != 2 * CN_KEY_LEN)
		return "member name is not an origin of 64 hex digits";
	memcpy(hex, key, klen);
	hex[klen] = '\0';
	if (util_hex_decode(hex, origin, CN_KEY_LEN) != 0)
		return "member name is not an origin of 64 hex digits";
	why = span_seq(val, vlen, &seq);
	if (why != NULL)
		return why;
	(void)vv_search(vv, origin, &found);
	if (found)
		return "duplicate origin";
	if (vv->n >= VV_ORIGINS_MAX) {
		*err = CN_ERR_TOOBIG;
		return "more than 65536 origins";
	}
	if (vv_set(vv, origin, seq) != 0) {
		*err = CN_ERR_NOMEM;
		return "out of memory";
	}
	return NULL;
}

/* Object members separated by commas up to '}'; the cursor is just past
 * '{'.  For each member, `member` is called with the raw key and the cursor
 * at the value; it must consume the value. */
typedef int (*j_member_fn)(void *ctx, struct jcur *c, const char *key,
			   size_t klen);

static int j_object(struct jcur *c, j_member_fn member, void *ctx)
{
	const char *key;
	size_t klen;
	int rc;

	j_ws(c);
	if (c->p < c->end && *c->p == '}') {
		c->p++;
		return 0;
	}
	for (;;) {
		if (j_string(c, &key, &klen) != 0)
			return CN_ERR_MALFORMED;
		j_ws(c);
		if (c->p >= c->end || *c->p != ':')
			return j_fail(c, "expected ':'");
		c->p++;
		j_ws(c);
		rc = member(ctx, c, key, klen);
		if (rc != 0)
			return rc;
		j_ws(c);
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			j_ws(c);
			continue;
		}
		if (c->p < c->end && *c->p == '}') {
			c->p++;
			return 0;
		}
		return j_fail(c, "expected ',' or '}'");
	}
}

/* Members of a version vector object: every one "hex64": seq. */
static int vv_obj_member(void *ctx, struct jcur *c, const char *key, size_t klen)
{
	const char *val = c->p, *why;
	int err;

	if (j_skip(c, 2) != 0)
		return CN_ERR_MALFORMED;
	why = vv_member(ctx, key, klen, val, (size_t)(c->p - val), &err);
	if (why != NULL) {
		j_fail(c, why);
		return err;
	}
	return 0;
}

struct top_ctx {
	struct vv top;         /* the top-level members read as a vector */
	struct vv inner;       /* the "version_vector" member */
	bool have_inner;
	const char *top_why;   /* why the top level is not a vector itself */
	int top_err;
};

static int top_member(void *ctx, struct jcur *c, const char *key, size_t klen)
{
	struct top_ctx *t = ctx;
	static const char vvname[] = "version_vector";
	const char *val = c->p;

	if (klen == sizeof vvname - 1 && memcmp(key, vvname, klen) == 0) {
		if (t->have_inner)
			return j_fail(c, "duplicate \"version_vector\" member");
		t->have_inner = true;
		if (c->p >= c->end || *c->p != '{')
			return j_fail(c, "\"version_vector\" is not an object");
		c->p++;
		return j_object(c, vv_obj_member, &t->inner);
	}
	if (j_skip(c, 1) != 0)
		return CN_ERR_MALFORMED;
	if (t->top_why == NULL)
		t->top_why = vv_member(&t->top, key, klen, val,
				       (size_t)(c->p - val), &t->top_err);
	return 0;
}

int vv_parse_json(struct vv *vv, const char *text, size_t len, const char **why)
{
	struct jcur c = { text, text + len, NULL };
	struct top_ctx t;
	int rc;

	if (len > VV_JSON_MAX) {
		*why = "version vector text is longer than 4 MiB";
		return CN_ERR_TOOBIG;
	}
	memset(&t, 0, sizeof t);
	vv_init(&t.top);
	vv_init(&t.inner);
	j_ws(&c);
	if (c.p >= c.end || *c.p != '{') {
		rc = j_fail(&c, "not a JSON object");
		goto out;
	}
	c.p++;
	rc = j_object(&c, top_member, &t);
	if (rc != 0)
		goto out;
	j_ws(&c);
	if (c.p != c.end) {
		rc = j_fail(&c, "trailing data after the JSON object");
		goto out;
	}
	if (t.have_inner) {
		vv_free(vv);
		*vv = t.inner;
		vv_init(&t.inner);
	} else if (t.top_why != NULL) {
		rc = t.top_err;
		c.why = t.top_why;
	} else {
		vv_free(vv);
		*vv = t.top;
		vv_init(&t.top);
	}
out:
	vv_free(&t.top);
	vv_free(&t.inner);
	if (rc != 0)
		*why = c.why ? c.why : "malformed version vector";
	return rc;
}

int vv_read_file(struct vv *vv, const char *path, const char **why)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	rc = util_read_file(path, VV_JSON_MAX, &buf, &len);
	if (rc != 0) {
		*why = rc == CN_ERR_NOTFOUND ? "no such file"
		     : rc == CN_ERR_TOOBIG   ? "file is larger than 4 MiB"
					     : "cannot read the file";
		return rc;
	}
	rc = vv_parse_json(vv, (const char *)buf, len, why);
	free(buf);
	return rc;
}
