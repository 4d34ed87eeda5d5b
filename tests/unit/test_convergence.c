/*
 * test_convergence.c — the convergence property (DESIGN §4, §5).
 *
 * For each seed: six real replicas (city, district, two schools of the
 * district, a school of another district, a service point) author random
 * operations under skewed clocks and exchange entries — directly or through
 * bundle files — in random order, with duplicates, drops (a chain or a file
 * cut short) and certificates that arrive late; one node may be revoked part-way.  After a final full
 * exchange every replica must print the same digest, equal to a reference
 * fold computed here from the set of all entries without the store, and
 * replica_verify (re-fold of every history against the stored state) must
 * pass everywhere — so the fast path and the re-fold agree.
 *
 * CN_SEEDS (default 200) and CN_SEED0 (default 1) choose the seeds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <sys/stat.h>
#include <unistd.h>

#include "authority.h"
#include "bundle.h"
#include "check.h"
#include "hlc.h"
#include "replica.h"
#include "testutil.h"
#include "util.h"

#define NNODES 6
#define NSTUDENTS 8
#define STEPS 70

static const struct {
	const char *tag;
	uint8_t role;
	const char *scope;
} roles[NNODES] = {
	{"city", ROLE_CITY, "110000"},
	{"district", ROLE_DISTRICT, "110105"},
	{"schoolA", ROLE_SCHOOL, "110105-0001"},
	{"schoolB", ROLE_SCHOOL, "110105-0002"},
	{"schoolC", ROLE_SCHOOL, "110106-0001"},
	{"service", ROLE_SERVICE, "centre-1"},
};
static const char *const schools[] = {"110105-0001", "110105-0002", "110106-0001"};

struct world {
	struct tu_deploy dep;
	struct tu_node n[NNODES];
	struct tu_rng rng;
	uint8_t certs[NNODES][CERT_MAX];
	size_t certlen[NNODES];
	uint8_t rev[256];
	size_t revlen;
	int64_t skew[NNODES];     /* ms */
	uint64_t now;             /* ms */
	int ncards[NSTUDENTS];
	const char *tmp;          /* for bundle files */
	unsigned nbundles;
	uint64_t authored, refused_local;
};

static void set_clock(struct world *w, int node)
{
	char buf[32];

	w->now += 1 + tu_rng_below(&w->rng, 3000);
	snprintf(buf, sizeof buf, "%llu",
		 (unsigned long long)((int64_t)w->now + w->skew[node]));
	setenv("CARDNODE_NOW_MS", buf, 1);
}

static void give_cert(struct world *w, int to, int whose)
{
	const char *why;
	int ret = replica_cert_install(w->n[to].r, w->certs[whose],
				       w->certlen[whose], &why);

	CHECK(ret == CN_OK || ret == CN_ERR_EXISTS);
}

static void give_rev(struct world *w, int to)
{
	const char *why;
	int ret;

	if (w->revlen == 0)
		return;
	ret = replica_revocation_install(w->n[to].r, w->rev, w->revlen, &why);
	CHECK(ret == CN_OK || ret == CN_ERR_EXISTS);
}

/* ---- random exchange ----------------------------------------------------- */

struct batch {
	uint8_t **e;
	size_t *len;
	size_t n, cap;
};

static int batch_add(void *ctx, uint64_t seq, const uint8_t *wire, size_t len)
{
	struct batch *b = ctx;

	(void)seq;
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->e = realloc(b->e, b->cap * sizeof *b->e);
		b->len = realloc(b->len, b->cap * sizeof *b->len);
		CHECK(b->e && b->len);
	}
	b->e[b->n] = malloc(len);
	CHECK(b->e[b->n]);
	memcpy(b->e[b->n], wire, len);
	b->len[b->n++] = len;
	return 0;
}

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->e[i]);
	free(b->e);
	free(b->len);
	memset(b, 0, sizeof *b);
}

struct xfer {
	struct world *w;
	struct replica *src;
	int dst;
	bool full;
	struct batch b;
};

static int xfer_cb(void *ctx, const uint8_t origin[32], uint64_t head)
{
	struct xfer *x = ctx;
	struct tu_rng *rng = &x->w->rng;
	uint64_t have = replica_head(x->w->n[x->dst].r, origin), from = have + 1;
	uint64_t to = head;

	if (!x->full) {
		/* Duplicates: sometimes resend from earlier. */
		if (have > 0 && tu_rng_below(rng, 4) == 0)
			from = 1 + tu_rng_below(rng, (uint32_t)have);
		/* Drops: sometimes cut the range short (the cut may leave the
		 * tail without a covering signature). */
		if (to >= from && tu_rng_below(rng, 4) == 0)
			to = from + tu_rng_below(rng, (uint32_t)(to - from + 1));
		/* Sometimes leave this origin out. */
		if (tu_rng_below(rng, 5) == 0)
			return 0;
	}
	if (to < from)
		return 0;
	return replica_log_walk(x->src, origin, from, to, batch_add, &x->b);
}

static void shuffle(struct tu_rng *rng, struct batch *b)
{
	for (size_t i = b->n; i > 1; i--) {
		size_t j = tu_rng_below(rng, (uint32_t)i);
		uint8_t *e = b->e[i - 1];
		size_t l = b->len[i - 1];
		b->e[i - 1] = b->e[j];
		b->len[i - 1] = b->len[j];
		b->e[j] = e;
		b->len[j] = l;
	}
}

/* Send what src has and dst lacks; with `full` unset, randomly damaged
 * (duplicates, drops, omissions) and split into several ingest calls in
 * random order. */
static void exchange(struct world *w, int src, int dst, bool full)
{
	struct xfer x = {.w = w, .src = w->n[src].r, .dst = dst, .full = full};
	struct ingest_report rep;
	size_t off = 0;

	CHECK_EQ(replica_vv(x.src, xfer_cb, &x), 0);
	if (!full)
		shuffle(&w->rng, &x.b);
	while (off < x.b.n) {
		size_t k = full ? x.b.n - off : 1 + tu_rng_below(&w->rng, (uint32_t)(x.b.n - off));
		CHECK_EQ(replica_ingest(w->n[dst].r, (const uint8_t *const *)x.b.e + off,
					x.b.len + off, k, &rep), 0);
		CHECK_EQ(rep.malformed, 0);
		CHECK_EQ(rep.forked, 0);
		off += k;
	}
	batch_free(&x.b);
}

/* The same through a bundle file: exported since the receiver's vector
 * with some origins wound back (duplicates), sometimes cut short (drops). */
static void exchange_bundle(struct world *w, int src, int dst)
{
	struct vv since;
	struct bundle_export_report erep;
	struct bundle_report rep;
	struct stat sb;
	char path[600];
	int ret;

	vv_init(&since);
	CHECK_EQ(vv_from_replica(&since, w->n[dst].r), 0);
	for (size_t i = 0; i < since.n; i++)
		if (tu_rng_below(&w->rng, 3) == 0)
			since.v[i].seq = tu_rng_below(&w->rng, (uint32_t)since.v[i].seq + 1);
	snprintf(path, sizeof path, "%s/b%u.bundle", w->tmp, w->nbundles++);
	CHECK_EQ(bundle_export(w->n[src].r, path, &since, &erep, NULL, NULL), 0);
	vv_free(&since);
	if (tu_rng_below(&w->rng, 4) == 0) {
		CHECK_EQ(stat(path, &sb), 0);
		CHECK_EQ(truncate(path, (off_t)tu_rng_below(&w->rng, (uint32_t)sb.st_size)), 0);
	}
	ret = bundle_import(w->n[dst].r, path, &rep, NULL, NULL);
	CHECK(ret == CN_OK || ret == CN_ERR_PARTIAL || ret == CN_ERR_MALFORMED);
	CHECK_EQ(rep.ingest.malformed, 0);
	CHECK_EQ(rep.ingest.forked, 0);
	unlink(path);
}

/* ---- random authoring ---------------------------------------------------- */

static void edu_of(int s, char out[16])
{
	snprintf(out, 16, "E%04d", s);
}

static void card_of(int s, int c, char out[16])
{
	snprintf(out, 16, "K%04d%02d", s, c);
}

static bool author_random(struct world *w, int node)
{
	struct tu_rng *rng = &w->rng;
	struct entry e;
	char edu[16], card[16];
	int s = (int)tu_rng_below(rng, NSTUDENTS);
	int c = w->ncards[s] ? (int)tu_rng_below(rng, (uint32_t)w->ncards[s]) : 0;
	uint32_t pick = tu_rng_below(rng, 100);
	size_t bad;
	enum fold_reason why;
	int ret;

	edu_of(s, edu);
	card_of(s, c, card);
	if (pick < 10) {
		tu_put(&e, edu, pick < 5 ? "甲乙" : "丙丁戊", schools[tu_rng_below(rng, 3)]);
		if (pick & 1)
			e.body.has &= ~BF(BK_SCHOOL);
	} else if (pick < 16) {
		memset(&e, 0, sizeof e);
		e.op = OP_STUDENT_TRANSFER;
		strcpy(e.key, edu);
		strcpy(e.body.school, schools[tu_rng_below(rng, 3)]);
		e.body.has = BF(BK_SCHOOL);
	} else if (pick < 26) {
		int nc = w->ncards[s];
		card_of(s, nc, card);
		tu_issue(&e, edu, card, (uint32_t)(s * 64 + nc + 1));
		if (nc > 0 && tu_rng_below(rng, 2)) {
			card_of(s, (int)tu_rng_below(rng, (uint32_t)nc), e.body.replaces);
			e.body.has |= BF(BK_REPLACES);
		}
	} else {
		static const uint8_t ops[] = {
			OP_CARD_LOST, OP_CARD_FOUND, OP_CARD_FREEZE, OP_CARD_UNFREEZE,
			OP_CARD_LOST, OP_CARD_FOUND, OP_CARD_VALIDATE, OP_CARD_REGISTER,
			OP_CARD_CANCEL, OP_REISSUE_UPDATE,
		};
		uint8_t op = ops[tu_rng_below(rng, sizeof ops)];
		tu_cardop(&e, op, edu, card);
		if (op == OP_CARD_VALIDATE) {
			e.body.through = 202500 + 1 + tu_rng_below(rng, 12);
			e.body.has |= BF(BK_THROUGH);
		} else if (op == OP_CARD_REGISTER) {
			e.body.term = 20240 + 1 + tu_rng_below(rng, 2) + 10 * tu_rng_below(rng, 2);
			e.body.has |= BF(BK_TERM);
		} else if (op == OP_REISSUE_UPDATE) {
			e.body.state = (uint8_t)(1 + tu_rng_below(rng, 7));
			e.body.has |= BF(BK_STATE);
		}
	}
	set_clock(w, node);
	ret = replica_author(w->n[node].r, &e, 1, &bad, &why);
	if (ret == CN_OK) {
		w->authored++;
		if (e.op == OP_CARD_ISSUE)
			w->ncards[s]++;
		return true;
	}
	/* Refused by the author's own view: nothing written. */
	CHECK(ret == CN_ERR_REFUSED || ret == CN_ERR_BEHIND);
	w->refused_local++;
	return false;
}

/* ---- the reference fold -------------------------------------------------- */

struct ref_entry {
	struct entry e;
};

struct collect {
	struct ref_entry *v;
	size_t n, cap;
};

static int collect_cb(void *ctx, uint64_t seq, const uint8_t *wire, size_t len)
{
	struct collect *c = ctx;
	const uint8_t *payload, *sig;
	size_t plen, used;
	const char *why;

	(void)seq;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 256;
		c->v = realloc(c->v, c->cap * sizeof *c->v);
		CHECK(c->v);
	}
	CHECK_EQ(entry_wire_decode(wire, len, &payload, &plen, &sig, &used, &why), 0);
	CHECK_EQ(entry_decode(payload, plen, &c->v[c->n].e, &why), 0);
	c->v[c->n].e.body.vv = NULL;
	c->n++;
	return 0;
}

struct collect_all {
	struct replica *r;
	struct collect c;
};

static int collect_vv(void *ctx, const uint8_t origin[32], uint64_t head)
{
	struct collect_all *a = ctx;

	return replica_log_walk(a->r, origin, 1, head, collect_cb, &a->c);
}

static int cmp_ref(const void *x, const void *y)
{
	const struct entry *a = &((const struct ref_entry *)x)->e;
	const struct entry *b = &((const struct ref_entry *)y)->e;
	int c = strcmp(a->key, b->key);

	if (c != 0)
		return c;
	return fold_order_cmp(a->hlc, a->origin, a->seq, b->hlc, b->origin, b->seq);
}

/* Fold every history from the set of all entries, as a pure function,
 * and hash the states as replica_digest does. */
static void reference_digest(struct world *w, char out[65])
{
	struct collect_all all = {.r = w->n[0].r};
	struct authority *auth;
	struct fold_env env;
	crypto_generichash_state h;
	uint8_t d[32], buf[8192];

	CHECK_EQ(replica_vv(all.r, collect_vv, &all), 0);
	CHECK_EQ(authority_new(w->dep.root_pk, &auth), 0);
	for (int i = 0; i < NNODES; i++) {
		struct cert c;
		const char *why;
		CHECK_EQ(authority_cert_open(w->certs[i], w->certlen[i], w->dep.root_pk, &c, &why), 0);
		authority_add_cert(auth, &c);
	}
	if (w->revlen) {
		struct revocation rv;
		const char *why;
		CHECK_EQ(authority_revocation_open(w->rev, w->revlen, w->dep.root_pk, &rv, &why), 0);
		authority_add_revocation(auth, &rv);
	}
	env.authorize = authority_authorize;
	env.ctx = auth;
	qsort(all.c.v, all.c.n, sizeof *all.c.v, cmp_ref);
	crypto_generichash_init(&h, NULL, 0, 32);
	for (size_t i = 0; i < all.c.n;) {
		struct student_state st;
		size_t j = i, len;
		uint8_t be[4];
		if (all.c.v[i].e.key[0] == '\0') {
			i++;
			continue;
		}
		fold_init(&st, all.c.v[i].e.key);
		for (; j < all.c.n && strcmp(all.c.v[j].e.key, all.c.v[i].e.key) == 0; j++)
			fold_apply(&env, &st, &all.c.v[j].e);
		len = fold_digest_bytes(&st, buf, sizeof buf);
		CHECK(len > 0);
		be[0] = (uint8_t)(len >> 24); be[1] = (uint8_t)(len >> 16);
		be[2] = (uint8_t)(len >> 8); be[3] = (uint8_t)len;
		crypto_generichash_update(&h, be, 4);
		crypto_generichash_update(&h, buf, len);
		i = j;
	}
	crypto_generichash_final(&h, d, 32);
	util_hex_encode(d, 32, out);
	authority_free(auth);
	free(all.c.v);
}

/* ---- one seed ------------------------------------------------------------ */

static void make_cert(struct world *w, int i)
{
	struct cert c;

	memset(&c, 0, sizeof c);
	memcpy(c.node, w->n[i].id, 32);
	snprintf(c.name, sizeof c.name, "%s", roles[i].tag);
	c.role = roles[i].role;
	snprintf(c.scope, sizeof c.scope, "%s", roles[i].scope);
	c.not_before = 946684800000ull;
	c.not_after = 7258118400000ull;
	c.serial = (uint64_t)i + 1;
	CHECK_EQ(authority_cert_sign(&c, w->dep.root_sk, w->certs[i],
				     sizeof w->certs[i], &w->certlen[i]), 0);
}

static void run_seed(uint64_t seed, uint64_t *authored, uint64_t *refused)
{
	struct world *w = calloc(1, sizeof *w);
	char ref[65], dig[65];

	CHECK(w != NULL);
	tu_rng_seed(&w->rng, seed);
	tu_deploy_init(&w->dep);
	w->tmp = tu_tmpdir("conv-bundles");
	w->now = 1735689600000ull + tu_rng_below(&w->rng, 1000000); /* 2025 */
	for (int i = 0; i < NNODES; i++) {
		char tag[32];
		snprintf(tag, sizeof tag, "conv%llu-%s", (unsigned long long)seed,
			 roles[i].tag);
		tu_node_init(&w->dep, &w->n[i], tag, roles[i].role, roles[i].scope, false);
		make_cert(w, i);
		w->skew[i] = (int64_t)tu_rng_below(&w->rng, 1200000) - 600000;
	}
	/* Every node knows its own certificate and the city's. */
	for (int i = 0; i < NNODES; i++) {
		give_cert(w, i, i);
		give_cert(w, i, 0);
	}
	/* The city enrols the students, one card each. */
	for (int s = 0; s < NSTUDENTS; s++) {
		struct entry e;
		char edu[16], card[16];
		edu_of(s, edu);
		card_of(s, 0, card);
		set_clock(w, 0);
		tu_put(&e, edu, "学生", schools[s % 3]);
		tu_author(&w->n[0], &e, 0);
		tu_issue(&e, edu, card, (uint32_t)(s * 64 + 1));
		tu_author(&w->n[0], &e, 0);
		w->ncards[s] = 1;
	}
	for (int step = 0; step < STEPS; step++) {
		uint32_t what = tu_rng_below(&w->rng, 100);
		int a = (int)tu_rng_below(&w->rng, NNODES);
		int b = (int)tu_rng_below(&w->rng, NNODES);
		if (what < 45) {
			/* A few tries: many random (node, op) pairs are not
			 * allowed by the author's own view. */
			for (int t = 0; t < 8 && !author_random(w, a); t++)
				a = (int)tu_rng_below(&w->rng, NNODES);
		}
		else if (what < 65 && a != b)
			exchange(w, a, b, false);
		else if (what < 85 && a != b)
			exchange_bundle(w, a, b);
		else if (what < 95)
			give_cert(w, a, b);
		else if (what < 97 && w->revlen == 0 && a != 0) {
			/* Revoke a node part-way through its log. */
			struct revocation rv;
			memset(&rv, 0, sizeof rv);
			memcpy(rv.node, w->n[a].id, 32);
			rv.valid_through_seq = replica_head(w->n[a].r, w->n[a].id) / 2;
			rv.time = w->now;
			CHECK_EQ(authority_revocation_sign(&rv, w->dep.root_sk, w->rev,
							  sizeof w->rev, &w->revlen), 0);
			give_rev(w, b);
		} else if (w->revlen) {
			give_rev(w, a);
		}
	}
	/* Heal: everything everywhere, twice round. */
	for (int i = 0; i < NNODES; i++) {
		for (int j = 0; j < NNODES; j++)
			give_cert(w, i, j);
		give_rev(w, i);
	}
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < NNODES; i++)
			for (int j = 0; j < NNODES; j++)
				if (i != j)
					exchange(w, i, j, true);
	reference_digest(w, ref);
	for (int i = 0; i < NNODES; i++) {
		uint8_t d[32];
		char prob[256];
		struct replica_counts cnt;
		tu_digest(&w->n[i], dig);
		if (strcmp(dig, ref) != 0) {
			fprintf(stderr, "seed %llu: replica %s digest %s, reference %s\n",
				(unsigned long long)seed, roles[i].tag, dig, ref);
			exit(1);
		}
		if (replica_verify(w->n[i].r, d, &cnt, prob, sizeof prob) != CN_OK) {
			fprintf(stderr, "seed %llu: verify %s: %s\n",
				(unsigned long long)seed, roles[i].tag, prob);
			exit(1);
		}
	}
	{
		struct replica_counts cnt;
		uint8_t d[32];
		CHECK_EQ(replica_digest(w->n[0].r, d, &cnt), 0);
		*refused += cnt.refused;
	}
	*authored += w->authored;
	for (int i = 0; i < NNODES; i++)
		tu_node_close(&w->n[i]);
	tu_tmpdir_cleanup();
	free(w);
}

int main(void)
{
	const char *ns = getenv("CN_SEEDS"), *s0 = getenv("CN_SEED0");
	uint64_t seeds = ns ? strtoull(ns, NULL, 10) : 200;
	uint64_t first = s0 ? strtoull(s0, NULL, 10) : 1;
	uint64_t authored = 0, refused = 0;

	for (uint64_t s = first; s < first + seeds; s++)
		run_seed(s, &authored, &refused);
	unsetenv("CARDNODE_NOW_MS");
	printf("convergence: %llu seeds ok (%llu entries authored at random, "
	       "%llu without effect after merging)\n", (unsigned long long)seeds,
	       (unsigned long long)authored, (unsigned long long)refused);
	return 0;
}
