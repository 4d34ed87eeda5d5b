#include "authority.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cbor_rw.h"
#include "hlc.h"
#include "util.h"

static const char CERT_DOMAIN[] = "cardnode-cert-v1";
static const char REVOKE_DOMAIN[] = "cardnode-revoke-v1";

/* ---- roles and scopes ------------------------------------------------ */

static const char *const role_names[] = {
	[ROLE_CITY] = "city", [ROLE_DISTRICT] = "district",
	[ROLE_SCHOOL] = "school", [ROLE_SERVICE] = "service",
	[ROLE_READER] = "reader",
};

const char *authority_role_name(uint8_t role)
{
	if (role < ROLE_CITY || role > ROLE_READER)
		return NULL;
	return role_names[role];
}

int authority_role_parse(const char *s, uint8_t *role)
{
	for (uint8_t r = ROLE_CITY; r <= ROLE_READER; r++) {
		if (strcmp(s, role_names[r]) == 0) {
			*role = r;
			return CN_OK;
		}
	}
	return CN_ERR_INVAL;
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool site_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

bool authority_scope_valid(uint8_t role, const char *scope)
{
	size_t n = strlen(scope);

	switch (role) {
	case ROLE_CITY:
		return n >= 2 && n <= 6 && n % 2 == 0 && all_digits(scope, n);
	case ROLE_DISTRICT:
		return n == 6 && all_digits(scope, n);
	case ROLE_SCHOOL:
		return n == 11 && all_digits(scope, 6) && scope[6] == '-' &&
		       all_digits(scope + 7, 4);
	case ROLE_SERVICE:
	case ROLE_READER:
		return site_name_valid(scope);
	}
	return false;
}

/* A division code governs the schools whose code starts with it, once its
 * trailing "00" pairs are dropped: 110000 → "11", 320500 → "3205". */
static size_t division_prefix_len(const char *code)
{
	size_t n = strlen(code);

	while (n >= 4 && code[n - 1] == '0' && code[n - 2] == '0')
		n -= 2;
	return n;
}

bool authority_scope_covers(uint8_t role, const char *scope, const char *school)
{
	switch (role) {
	case ROLE_CITY:
	case ROLE_DISTRICT:
		return strncmp(scope, school, division_prefix_len(scope)) == 0;
	case ROLE_SCHOOL:
		return strcmp(scope, school) == 0;
	}
	return false;
}

/* ---- the signed codecs ----------------------------------------------- */

static void domain_hash_sign(const char *domain, const uint8_t *payload,
			     size_t plen, const uint8_t sk[static 64],
			     uint8_t sig[static CN_SIG_LEN])
{
	uint8_t msg[32 + CN_KEY_LEN];
	size_t dl = strlen(domain);

	memcpy(msg, domain, dl);
	crypto_generichash(msg + dl, CN_KEY_LEN, payload, plen, NULL, 0);
	crypto_sign_detached(sig, NULL, msg, dl + CN_KEY_LEN, sk);
}

static int domain_hash_verify(const char *domain, const uint8_t *payload,
			      size_t plen, const uint8_t *sig,
			      const uint8_t pk[static CN_KEY_LEN])
{
	uint8_t msg[32 + CN_KEY_LEN];
	size_t dl = strlen(domain);

	memcpy(msg, domain, dl);
	crypto_generichash(msg + dl, CN_KEY_LEN, payload, plen, NULL, 0);
	if (crypto_sign_verify_detached(sig, msg, dl + CN_KEY_LEN, pk) != 0)
		return CN_ERR_BADSIG;
	return CN_OK;
}

/* Wrap a payload as [payload, sig] signed under `domain`. */
static int signed_wrap(const char *domain, const struct cbor_wr *pw,
		       const uint8_t sk[static 64], uint8_t *buf, size_t cap,
		       size_t *len)
{
	uint8_t sig[CN_SIG_LEN];
	struct cbor_wr w;

	if (pw->err)
		return pw->err;
	domain_hash_sign(domain, pw->buf, pw->len, sk, sig);
	cbw_init_fixed(&w, buf, cap);
	cbw_array(&w, 2);
	cbw_bstr(&w, pw->buf, pw->len);
	cbw_bstr(&w, sig, sizeof sig);
	if (w.err)
		return w.err;
	*len = w.len;
	return CN_OK;
}

/* Split [payload, sig] and verify the signature first: nothing of an
 * unauthenticated payload is looked at. */
static int signed_open(const char *domain, const uint8_t *buf, size_t len,
		       const uint8_t root_pk[static CN_KEY_LEN],
		       struct cbor_rd *payload, const char **why)
{
	struct cbor_rd r;
	const uint8_t *p, *sig;
	size_t n, plen, slen;

	cbr_init(&r, buf, len);
	if (cbr_array(&r, &n, 2) || n != 2 || cbr_bstr(&r, &p, &plen, CERT_MAX) ||
	    cbr_bstr(&r, &sig, &slen, CN_SIG_LEN) || slen != CN_SIG_LEN) {
		*why = r.why ? r.why : "not a [payload, signature] pair";
		return CN_ERR_MALFORMED;
	}
	if (r.p != r.end) {
		*why = "trailing bytes";
		return CN_ERR_MALFORMED;
	}
	if (domain_hash_verify(domain, p, plen, sig, root_pk) != CN_OK) {
		*why = "signature is not the deployment root's";
		return CN_ERR_BADSIG;
	}
	cbr_init(payload, p, plen);
	return CN_OK;
}

int authority_cert_sign(const struct cert *c, const uint8_t root_sk[static 64],
			uint8_t *buf, size_t cap, size_t *len)
{
	uint8_t pbuf[CERT_MAX];
	struct cbor_wr w;

	if (authority_role_name(c->role) == NULL ||
	    !authority_scope_valid(c->role, c->scope) || c->name[0] == '\0' ||
	    strlen(c->name) > CERT_NAME_MAX || c->not_after < c->not_before)
		return CN_ERR_INVAL;
	cbw_init_fixed(&w, pbuf, sizeof pbuf);
	cbw_map(&w, 8);
	cbw_uint(&w, 0); cbw_uint(&w, 1);
	cbw_uint(&w, 1); cbw_bstr(&w, c->node, CN_KEY_LEN);
	cbw_uint(&w, 2); cbw_tstr0(&w, c->name);
	cbw_uint(&w, 3); cbw_uint(&w, c->role);
	cbw_uint(&w, 4); cbw_tstr0(&w, c->scope);
	cbw_uint(&w, 5); cbw_uint(&w, c->not_before);
	cbw_uint(&w, 6); cbw_uint(&w, c->not_after);
	cbw_uint(&w, 7); cbw_uint(&w, c->serial);
	return signed_wrap(CERT_DOMAIN, &w, root_sk, buf, cap, len);
}

/* Read `count` map entries with keys 0..count-1 in order; the caller reads
 * each value after cbr_map_key_next returned its key. */
static int expect_key(struct cbor_rd *r, int64_t *last, uint64_t want)
{
	uint64_t k;

	if (cbr_map_key_next(r, last, &k) != 0)
		return CN_ERR_MALFORMED;
	if (k != want) {
		r->why = "missing or unknown field";
		return CN_ERR_MALFORMED;
	}
	return CN_OK;
}

int authority_cert_open(const uint8_t *buf, size_t len,
			const uint8_t root_pk[static CN_KEY_LEN], struct cert *c,
			const char **why)
{
	struct cbor_rd r;
	int64_t last = -1;
	uint64_t v, role;
	size_t n;
	int ret;

	memset(c, 0, sizeof *c);
	ret = signed_open(CERT_DOMAIN, buf, len, root_pk, &r, why);
	if (ret != CN_OK)
		return ret;
	if (cbr_map(&r, &n, 8) || n != 8 ||
	    expect_key(&r, &last, 0) || cbr_uint(&r, &v) ||
	    expect_key(&r, &last, 1) || cbr_bstr_fixed(&r, c->node, CN_KEY_LEN) ||
	    expect_key(&r, &last, 2) || cbr_tstr_copy(&r, c->name, CERT_NAME_MAX) ||
	    expect_key(&r, &last, 3) || cbr_uint(&r, &role) ||
	    expect_key(&r, &last, 4) || cbr_tstr_copy(&r, c->scope, CERT_SCOPE_MAX) ||
	    expect_key(&r, &last, 5) || cbr_uint(&r, &c->not_before) ||
	    expect_key(&r, &last, 6) || cbr_uint(&r, &c->not_after) ||
	    expect_key(&r, &last, 7) || cbr_uint(&r, &c->serial)) {
		*why = r.why ? r.why : "not a certificate";
		return CN_ERR_MALFORMED;
	}
	if (r.p != r.end || v != 1) {
		*why = r.p != r.end ? "trailing bytes in certificate" :
				      "unknown certificate version";
		return CN_ERR_MALFORMED;
	}
	c->role = role <= ROLE_READER ? (uint8_t)role : ROLE_NONE;
	if (authority_role_name(c->role) == NULL || c->name[0] == '\0' ||
	    !authority_scope_valid(c->role, c->scope) ||
	    c->not_after < c->not_before) {
		*why = "certificate has a bad role, scope, name or validity";
		return CN_ERR_MALFORMED;
	}
	return CN_OK;
}

int authority_revocation_sign(const struct revocation *rv,
			      const uint8_t root_sk[static 64], uint8_t *buf,
			      size_t cap, size_t *len)
{
	uint8_t pbuf[128];
	struct cbor_wr w;

	cbw_init_fixed(&w, pbuf, sizeof pbuf);
	cbw_map(&w, 4);
	cbw_uint(&w, 0); cbw_uint(&w, 1);
	cbw_uint(&w, 1); cbw_bstr(&w, rv->node, CN_KEY_LEN);
	cbw_uint(&w, 2); cbw_uint(&w, rv->valid_through_seq);
	cbw_uint(&w, 3); cbw_uint(&w, rv->time);
	return signed_wrap(REVOKE_DOMAIN, &w, root_sk, buf, cap, len);
}

int authority_revocation_open(const uint8_t *buf, size_t len,
			      const uint8_t root_pk[static CN_KEY_LEN],
			      struct revocation *rv, const char **why)
{
	struct cbor_rd r;
	int64_t last = -1;
	uint64_t v;
	size_t n;
	int ret;

	memset(rv, 0, sizeof *rv);
	ret = signed_open(REVOKE_DOMAIN, buf, len, root_pk, &r, why);
	if (ret != CN_OK)
		return ret;
	if (cbr_map(&r, &n, 4) || n != 4 ||
	    expect_key(&r, &last, 0) || cbr_uint(&r, &v) ||
	    expect_key(&r, &last, 1) || cbr_bstr_fixed(&r, rv->node, CN_KEY_LEN) ||
	    expect_key(&r, &last, 2) || cbr_uint(&r, &rv->valid_through_seq) ||
	    expect_key(&r, &last, 3) || cbr_uint(&r, &rv->time) ||
	    r.p != r.end || v != 1) {
		*why = r.why ? r.why : "not a revocation";
		return CN_ERR_MALFORMED;
	}
	return CN_OK;
}

/* ---- the table ------------------------------------------------------- */

struct authority {
	uint8_t root_pub[CN_KEY_LEN];
	struct cert *certs;
	size_t ncerts, capcerts;
	struct revocation *revs;
	size_t nrevs, caprevs;
};

int authority_new(const uint8_t root_pk[static CN_KEY_LEN], struct authority **out)
{
	struct authority *a = calloc(1, sizeof *a);

	*out = NULL;
	if (a == NULL)
		return CN_ERR_NOMEM;
	memcpy(a->root_pub, root_pk, CN_KEY_LEN);
	*out = a;
	return CN_OK;
}

void authority_free(struct authority *a)
{
	if (a == NULL)
		return;
	free(a->certs);
	free(a->revs);
	free(a);
}

int authority_add_cert(struct authority *a, const struct cert *c)
{
	struct cert *nc;

	for (size_t i = 0; i < a->ncerts; i++)
		if (memcmp(&a->certs[i], c, sizeof *c) == 0)
			return CN_ERR_EXISTS;
	nc = util_grow(a->certs, &a->capcerts, a->ncerts + 1, sizeof *c);
	if (nc == NULL)
		return CN_ERR_NOMEM;
	a->certs = nc;
	a->certs[a->ncerts++] = *c;
	return CN_OK;
}

int authority_add_revocation(struct authority *a, const struct revocation *rv)
{
	struct revocation *nr;

	for (size_t i = 0; i < a->nrevs; i++)
		if (memcmp(&a->revs[i], rv, sizeof *rv) == 0)
			return CN_ERR_EXISTS;
	nr = util_grow(a->revs, &a->caprevs, a->nrevs + 1, sizeof *rv);
	if (nr == NULL)
		return CN_ERR_NOMEM;
	a->revs = nr;
	a->revs[a->nrevs++] = *rv;
	return CN_OK;
}

const struct cert *authority_cert_of(const struct authority *a,
				     const uint8_t node[static CN_KEY_LEN],
				     uint64_t ms)
{
	const struct cert *any = NULL, *best = NULL;

	/* Several certificates of one node (renewals): the valid one with the
	 * highest serial decides, so every replica picks the same. */
	for (size_t i = 0; i < a->ncerts; i++) {
		const struct cert *c = &a->certs[i];
		if (memcmp(c->node, node, CN_KEY_LEN) != 0)
			continue;
		if (any == NULL || c->serial > any->serial)
			any = c;
		if (ms >= c->not_before && ms <= c->not_after &&
		    (best == NULL || c->serial > best->serial))
			best = c;
	}
	return best ? best : any;
}

uint64_t authority_revoked_after(const struct authority *a,
				 const uint8_t node[static CN_KEY_LEN])
{
	uint64_t after = UINT64_MAX;

	for (size_t i = 0; i < a->nrevs; i++)
		if (memcmp(a->revs[i].node, node, CN_KEY_LEN) == 0 &&
		    a->revs[i].valid_through_seq < after)
			after = a->revs[i].valid_through_seq;
	return after;
}

/* What a role may author (DESIGN §5), before scope. */
static bool role_allows(uint8_t role, const struct entry *e)
{
	switch (role) {
	case ROLE_CITY:
		return true;
	case ROLE_DISTRICT:
		return e->op != OP_CITY_WATERMARK;
	case ROLE_SCHOOL:
		switch (e->op) {
		case OP_STUDENT_PUT: case OP_STUDENT_TRANSFER:
		case OP_CARD_LOST: case OP_CARD_FOUND: case OP_CARD_FREEZE:
		case OP_CARD_UNFREEZE: case OP_CARD_CANCEL:
		case OP_CARD_VALIDATE: case OP_CARD_REGISTER: case OP_NODE_NOTE:
		case OP_STUDENT_LEAVE: case OP_CARD_STICKER:
		case OP_AUTH_SUBMIT: case OP_AUTH_APPROVE: case OP_AUTH_REJECT:
			return true;
		}
		return false;
	case ROLE_SERVICE:
		switch (e->op) {
		case OP_CARD_LOST: case OP_CARD_FOUND: case OP_CARD_VALIDATE:
		case OP_NODE_NOTE: case OP_GUARDIAN_CLAIM: case OP_AUTH_SUBMIT:
			return true;
		case OP_REISSUE_UPDATE:
			/* Waiving the loss period is for district/city only. */
			return (e->body.has & BF(BK_OVERRIDE)) == 0;
		case OP_CARD_ISSUE:
			return (e->body.has & BF(BK_REPLACES)) != 0;
		}
		return false;
	}
	return false; /* reader, or no role */
}

enum fold_reason authority_authorize(void *ctx, const struct entry *e,
				     const struct student_state *st)
{
	const struct authority *a = ctx;
	uint64_t ms = hlc_ms(e->hlc);
	const struct cert *c = authority_cert_of(a, e->origin, ms);
	const char *school;

	if (c == NULL)
		return FR_NO_CERT;
	if (e->seq > authority_revoked_after(a, e->origin))
		return FR_REVOKED;
	if (ms < c->not_before || ms > c->not_after)
		return FR_CERT_TIME;
	if (!role_allows(c->role, e))
		return FR_ROLE;
	/* A class teacher reviews at the school's own node; district and
	 * city review as administrators. */
	if ((e->op == OP_AUTH_APPROVE || e->op == OP_AUTH_REJECT) &&
	    e->body.reviewer == REVIEWER_CLASS_TEACHER && c->role != ROLE_SCHOOL)
		return FR_ROLE;
	if (st == NULL || c->role == ROLE_CITY || c->role == ROLE_SERVICE)
		return FR_APPLIED;
	/* District and school act inside their scope: a new student is
	 * judged by the school its first student.put names, a known one (or
	 * a record under identity review) by the school it is at now, and a
	 * submission by the school it applies to. */
	if (e->op == OP_AUTH_SUBMIT)
		school = e->body.school;
	else if (st->known || st->auth != AUTH_NONE)
		school = st->school;
	else if (e->op == OP_STUDENT_PUT && (e->body.has & BF(BK_SCHOOL)))
		school = e->body.school;
	else
		school = NULL;
	if (school == NULL)
		return FR_UNKNOWN_STUDENT;
	if (!authority_scope_covers(c->role, c->scope, school))
		return FR_SCOPE;
	/* A sticker moves the student to the school it names: the author must
	 * govern that school too. */
	if (e->op == OP_CARD_STICKER &&
	    !authority_scope_covers(c->role, c->scope, e->body.school))
		return FR_SCOPE;
	return FR_APPLIED;
}
