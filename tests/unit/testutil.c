#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

static char **dirs;
static int ndirs, capdirs;

static void tu_cleanup(void)
{
	for (int i = 0; i < ndirs; i++) {
		char cmd[4200];
		if (getenv("CN_KEEP_TMP") == NULL) {
			snprintf(cmd, sizeof cmd, "rm -rf '%s'", dirs[i]);
			if (system(cmd) != 0)
				fprintf(stderr, "could not remove %s\n", dirs[i]);
		}
		free(dirs[i]);
	}
	ndirs = 0;
	free(dirs);
	dirs = NULL;
	capdirs = 0;
}

void tu_tmpdir_cleanup(void)
{
	tu_cleanup();
}

const char *tu_tmpdir(const char *tag)
{
	const char *base = getenv("CN_TEST_TMP");
	char path[4096];

	if (base == NULL || *base == '\0')
		base = "/tmp";
	mkdir(base, 0700);
	snprintf(path, sizeof path, "%s/%s.XXXXXX", base, tag);
	if (mkdtemp(path) == NULL) {
		perror(path);
		exit(1);
	}
	if (ndirs == capdirs) {
		capdirs = capdirs ? capdirs * 2 : 64;
		dirs = realloc(dirs, (size_t)capdirs * sizeof *dirs);
		if (dirs == NULL)
			exit(1);
	}
	if (ndirs == 0)
		atexit(tu_cleanup);
	dirs[ndirs] = strdup(path);
	return dirs[ndirs++];
}

void tu_rng_seed(struct tu_rng *r, uint64_t seed)
{
	r->s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
	if (r->s == 0)
		r->s = 1;
}

uint64_t tu_rng_next(struct tu_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1Dull;
}

uint32_t tu_rng_below(struct tu_rng *r, uint32_t n)
{
	return n ? (uint32_t)((tu_rng_next(r) >> 32) % n) : 0;
}

/* ---- deployments ----------------------------------------------------- */

#include <sodium.h>

#include "authority.h"
#include "check.h"
#include "util.h"

void tu_deploy_init(struct tu_deploy *d)
{
	CHECK(sodium_init() >= 0);
	crypto_sign_keypair(d->root_pk, d->root_sk);
	randombytes_buf(d->secret, sizeof d->secret);
}

void tu_cert_install(const struct tu_deploy *d, struct tu_node *n,
		     const uint8_t id[32], uint8_t role, const char *scope)
{
	struct cert c;
	uint8_t buf[CERT_MAX];
	size_t len;
	const char *why = NULL;
	int ret;

	memset(&c, 0, sizeof c);
	memcpy(c.node, id, 32);
	snprintf(c.name, sizeof c.name, "node-%02x%02x", id[0], id[1]);
	c.role = role;
	snprintf(c.scope, sizeof c.scope, "%s", scope);
	c.not_before = 946684800000ull;   /* 2000-01-01 */
	c.not_after = 7258118400000ull;   /* 2200-01-01 */
	c.serial = ((uint64_t)id[2] << 8) | id[3];
	CHECK_EQ(authority_cert_sign(&c, d->root_sk, buf, sizeof buf, &len), 0);
	ret = replica_cert_install(n->r, buf, len, &why);
	CHECK(ret == CN_OK || ret == CN_ERR_EXISTS);
}

void tu_node_init(const struct tu_deploy *d, struct tu_node *n, const char *tag,
		  uint8_t role, const char *scope, bool with_cert)
{
	struct replica_init in;
	char err[512], path[600];
	uint8_t *buf;
	size_t len;

	memset(n, 0, sizeof *n);
	snprintf(n->dir, sizeof n->dir, "%s/data", tu_tmpdir(tag));
	memset(&in, 0, sizeof in);
	in.dir = n->dir;
	in.name = tag;
	in.role = role;
	in.scope = scope;
	memcpy(in.root_pub, d->root_pk, 32);
	memcpy(in.secret, d->secret, 32);
	in.profile = PROFILE_GENERIC;
	if (replica_init(&in, n->id, err, sizeof err) != CN_OK) {
		fprintf(stderr, "replica_init: %s\n", err);
		exit(1);
	}
	if (replica_open(n->dir, 0, &n->r, err, sizeof err) != CN_OK) {
		fprintf(stderr, "replica_open: %s\n", err);
		exit(1);
	}
	snprintf(path, sizeof path, "%s/identity.key", n->dir);
	CHECK_EQ(util_read_file(path, 1024, &buf, &len), 0);
	buf[128] = '\0';
	CHECK_EQ(util_hex_decode((char *)buf, n->sk, 64), 0);
	free(buf);
	if (with_cert)
		tu_cert_install(d, n, n->id, role, scope);
}

void tu_node_close(struct tu_node *n)
{
	replica_close(n->r);
	n->r = NULL;
}

int tu_batch_add(void *ctx, uint64_t seq, const uint8_t *wire, size_t len)
{
	struct tu_batch *b = ctx;

	(void)seq;
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 256;
		b->ents = realloc(b->ents, b->cap * sizeof *b->ents);
		b->lens = realloc(b->lens, b->cap * sizeof *b->lens);
		CHECK(b->ents && b->lens);
	}
	b->ents[b->n] = malloc(len);
	CHECK(b->ents[b->n] != NULL);
	memcpy(b->ents[b->n], wire, len);
	b->lens[b->n++] = len;
	return 0;
}

struct tu_vvwalk {
	struct tu_node *from, *to;
	struct tu_batch *b;
};

static int tu_vv_cb(void *ctx, const uint8_t origin[32], uint64_t seq)
{
	struct tu_vvwalk *w = ctx;
	uint64_t have = replica_head(w->to->r, origin);

	if (seq > have)
		return replica_log_walk(w->from->r, origin, have + 1, seq,
					tu_batch_add, w->b);
	return 0;
}

static int tu_cert_cb(void *ctx, const uint8_t *buf, size_t len)
{
	const char *why;
	int ret = replica_cert_install(ctx, buf, len, &why);

	CHECK(ret == CN_OK || ret == CN_ERR_EXISTS);
	return 0;
}

static int tu_rev_cb(void *ctx, const uint8_t *buf, size_t len)
{
	const char *why;
	int ret = replica_revocation_install(ctx, buf, len, &why);

	CHECK(ret == CN_OK || ret == CN_ERR_EXISTS);
	return 0;
}

void tu_batch_free(struct tu_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->ents[i]);
	free(b->ents);
	free(b->lens);
	memset(b, 0, sizeof *b);
}

struct ingest_report tu_sync(struct tu_node *from, struct tu_node *to)
{
	struct tu_batch b = {0};
	struct tu_vvwalk w = {from, to, &b};
	struct ingest_report rep;

	memset(&rep, 0, sizeof rep);
	CHECK_EQ(replica_certs_walk(from->r, tu_cert_cb, to->r), 0);
	CHECK_EQ(replica_revocations_walk(from->r, tu_rev_cb, to->r), 0);
	CHECK_EQ(replica_vv(from->r, tu_vv_cb, &w), 0);
	if (b.n > 0)
		CHECK_EQ(replica_ingest(to->r, (const uint8_t *const *)b.ents,
					b.lens, b.n, &rep), 0);
	tu_batch_free(&b);
	return rep;
}

void tu_digest(struct tu_node *n, char out[65])
{
	uint8_t d[32];

	CHECK_EQ(replica_digest(n->r, d, NULL), 0);
	util_hex_encode(d, 32, out);
}

void tu_put(struct entry *e, const char *edu, const char *name, const char *school)
{
	memset(e, 0, sizeof *e);
	e->op = OP_STUDENT_PUT;
	snprintf(e->key, sizeof e->key, "%s", edu);
	snprintf(e->body.name, sizeof e->body.name, "%s", name);
	e->body.has = BF(BK_NAME);
	if (school != NULL) {
		snprintf(e->body.school, sizeof e->body.school, "%s", school);
		e->body.has |= BF(BK_SCHOOL);
	}
}

void tu_issue(struct entry *e, const char *edu, const char *card, uint32_t uid)
{
	memset(e, 0, sizeof *e);
	e->op = OP_CARD_ISSUE;
	snprintf(e->key, sizeof e->key, "%s", edu);
	snprintf(e->body.card, sizeof e->body.card, "%s", card);
	e->body.uid[0] = (uint8_t)(uid >> 24);
	e->body.uid[1] = (uint8_t)(uid >> 16);
	e->body.uid[2] = (uint8_t)(uid >> 8);
	e->body.uid[3] = (uint8_t)uid;
	e->body.uid_len = 4;
	e->body.kind = KIND_REGULAR;
	e->body.has = BF(BK_CARD) | BF(BK_UID) | BF(BK_KIND);
}

void tu_cardop(struct entry *e, uint8_t op, const char *edu, const char *card)
{
	memset(e, 0, sizeof *e);
	e->op = op;
	snprintf(e->key, sizeof e->key, "%s", edu);
	snprintf(e->body.card, sizeof e->body.card, "%s", card);
	e->body.has = BF(BK_CARD);
}

void tu_author(struct tu_node *n, struct entry *e, int want)
{
	size_t bad = 0;
	enum fold_reason why = FR_APPLIED;
	int ret = replica_author(n->r, e, 1, &bad, &why);

	if (ret != want) {
		fprintf(stderr, "replica_author(%s %s): %d (%s, %s), wanted %d\n",
			entry_op_name(e->op), e->key, ret, cn_strerror(ret),
			fold_reason_name(why), want);
		exit(1);
	}
}

size_t tu_craft(const struct tu_node *n, struct entry *e, uint64_t seq,
		const uint8_t prev[32], uint64_t hlc, bool sign, uint8_t *out,
		size_t cap, uint8_t hash_out[32])
{
	uint8_t payload[CN_PAYLOAD_MAX], hash[32], sig[64];
	size_t plen, wlen;
	const char *why = NULL;

	memcpy(e->origin, n->id, 32);
	e->seq = seq;
	memcpy(e->prev, prev, 32);
	e->hlc = hlc;
	if (entry_encode(e, payload, sizeof payload, &plen, &why) != CN_OK) {
		fprintf(stderr, "tu_craft: %s\n", why ? why : "?");
		exit(1);
	}
	entry_hash(payload, plen, hash);
	if (sign)
		entry_sign(hash, n->sk, sig);
	CHECK_EQ(entry_wire_encode(payload, plen, sign ? sig : NULL, out, cap, &wlen), 0);
	if (hash_out)
		memcpy(hash_out, hash, 32);
	return wlen;
}

void tu_chain_add(struct tu_chain *c, struct entry *e, uint64_t hlc)
{
	uint8_t buf[CN_ENTRY_MAX], h[32];

	CHECK(c->k < TU_CHAIN_MAX);
	c->len[c->k] = tu_craft(c->n, e, c->k + 1, c->prev, hlc, true, buf,
				sizeof buf, h);
	c->w[c->k] = malloc(c->len[c->k]);
	CHECK(c->w[c->k] != NULL);
	memcpy(c->w[c->k], buf, c->len[c->k]);
	memcpy(c->prev, h, 32);
	c->k++;
}

void tu_chain_ingest(struct tu_node *to, const struct tu_chain *c,
		     size_t from, size_t n)
{
	struct ingest_report rep;

	CHECK(from + n <= c->k);
	CHECK_EQ(replica_ingest(to->r, (const uint8_t *const *)c->w + from,
				c->len + from, n, &rep), 0);
	CHECK_EQ(rep.unverified + rep.gap + rep.malformed + rep.forked, 0);
}

void tu_chain_free(struct tu_chain *c)
{
	for (size_t i = 0; i < c->k; i++)
		free(c->w[i]);
	c->k = 0;
}

static int refusal_count(void *ctx, const struct log_item *it)
{
	int *counts = ctx;

	if (it->reason < FR__COUNT)
		counts[it->reason]++;
	return 0;
}

int tu_refusals(struct tu_node *n, int counts[FR__COUNT])
{
	int total = 0;

	memset(counts, 0, FR__COUNT * sizeof *counts);
	CHECK_EQ(replica_refused(n->r, refusal_count, counts), 0);
	for (int i = 0; i < FR__COUNT; i++)
		total += counts[i];
	return total;
}
