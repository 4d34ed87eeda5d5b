/*
 * test_handshake.c — the replication handshake and frames
 * (replication/handshake.h, docs/protocol.md) between two state machines
 * talking in memory, with real replicas signing: READY with each other's
 * certificate under any chunking of the byte streams, messages both ways up
 * to 1 MiB, FINAL; and every refusal: another network key (silent drop),
 * another root, certificates outside their validity, a revoked node, a
 * replayed capture, wrong signatures, every bit of the handshake and of a
 * data frame flipped, out-of-range length prefixes, API misuse, and the
 * wiping of secrets.
 */
#include "check.h"
#include "testutil.h"
#include "authority.h"
#include "cn.h"
#include "handshake.h"
#include "replica.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define NOW 1750000000000ull /* 2025-06-15 */

static struct tu_deploy D, D2;        /* D2: another deployment (root) */
static struct tu_node A, B, C, R;     /* C is certified by D2's root */
static uint8_t netkey[32], netkey2[32];

/* ---- peers --------------------------------------------------------------- */

enum sign_mode { SIGN_OK, SIGN_FAIL, SIGN_ROLE, SIGN_TRANSCRIPT, SIGN_OTHER_KEY };

struct signer {
	struct tu_node *n;
	enum sign_mode mode;
	const uint8_t *other_sk;
};

/* A signer that can lie in the ways an attacker would. */
static int test_sign(void *ctx, const uint8_t *msg, size_t len,
		     uint8_t sig[static CN_SIG_LEN])
{
	struct signer *s = ctx;
	uint8_t m[128];

	CHECK(len <= sizeof m);
	memcpy(m, msg, len);
	switch (s->mode) {
	case SIGN_OK:
		break;
	case SIGN_FAIL:
		return CN_ERR_PERM;
	case SIGN_ROLE:
		m[len - 1] ^= 'I' ^ 'R';
		break;
	case SIGN_TRANSCRIPT:
		m[len - 10] ^= 1;
		break;
	case SIGN_OTHER_KEY:
		crypto_sign_detached(sig, NULL, m, len, s->other_sk);
		return CN_OK;
	}
	return replica_sign(s->n->r, m, len, sig);
}

struct peer {
	struct tu_node *n;
	const struct tu_deploy *d;
	uint8_t cert[CERT_MAX];
	size_t cert_len;
	const uint8_t *netkey;
	const struct authority *auth;
	uint64_t now;
	struct signer *signer;     /* NULL: hs_replica_sign */
};

static void peer_cert(struct peer *p, uint8_t role, const char *scope,
		      uint64_t not_before, uint64_t not_after)
{
	struct cert c;

	memset(&c, 0, sizeof c);
	memcpy(c.node, p->n->id, 32);
	snprintf(c.name, sizeof c.name, "hs-%02x%02x", p->n->id[0], p->n->id[1]);
	c.role = role;
	snprintf(c.scope, sizeof c.scope, "%s", scope);
	c.not_before = not_before;
	c.not_after = not_after;
	c.serial = 9;
	CHECK_EQ(authority_cert_sign(&c, p->d->root_sk, p->cert, sizeof p->cert,
				     &p->cert_len), 0);
}

static void peer_make(struct peer *p, struct tu_node *n,
		      const struct tu_deploy *d, uint8_t role, const char *scope)
{
	memset(p, 0, sizeof *p);
	p->n = n;
	p->d = d;
	p->netkey = netkey;
	p->now = NOW;
	peer_cert(p, role, scope, 946684800000ull, 7258118400000ull);
}

static void peer_init(const struct peer *p, bool initiator, struct hs *h)
{
	struct hs_config c;

	memset(&c, 0, sizeof c);
	c.initiator = initiator;
	c.network_key = p->netkey;
	c.root_pub = p->d->root_pk;
	c.auth = p->auth;
	c.cert = p->cert;
	c.cert_len = p->cert_len;
	if (p->signer != NULL) {
		c.sign = test_sign;
		c.sign_ctx = p->signer;
	} else {
		c.sign = hs_replica_sign;
		c.sign_ctx = p->n->r;
	}
	c.now_ms = p->now;
	CHECK_EQ(hs_init(h, &c), 0);
	CHECK_EQ(hs_state(h), HS_RUNNING);
}

/* ---- the wire: bytes in flight one way ----------------------------------- */

struct pipe {
	uint8_t *b;
	size_t head, len, cap;
	uint64_t pos;        /* bytes ever pushed */
	int64_t flip;        /* stream bit to flip on the way, -1: none */
	uint64_t flipped;    /* 1 once done */
	bool keep;           /* keep every byte: b[0..len) is the stream */
};

static void pipe_init(struct pipe *p)
{
	memset(p, 0, sizeof *p);
	p->flip = -1;
}

static void pipe_free(struct pipe *p)
{
	free(p->b);
	memset(p, 0, sizeof *p);
}

static size_t pipe_avail(const struct pipe *p)
{
	return p->len - p->head;
}

static void pipe_push(struct pipe *p, const uint8_t *d, size_t n)
{
	if (!p->keep && p->head > 0 && p->head == p->len)
		p->head = p->len = 0;
	if (p->len + n > p->cap) {
		if (!p->keep && p->head > 0) {
			memmove(p->b, p->b + p->head, p->len - p->head);
			p->len -= p->head;
			p->head = 0;
		}
		while (p->len + n > p->cap)
			p->cap = p->cap ? 2 * p->cap : 4096;
		p->b = realloc(p->b, p->cap);
		CHECK(p->b != NULL);
	}
	if (n > 0)
		memcpy(p->b + p->len, d, n);
	if (p->flip >= 0 && (uint64_t)p->flip / 8 >= p->pos &&
	    (uint64_t)p->flip / 8 < p->pos + n) {
		p->b[p->len + (size_t)((uint64_t)p->flip / 8 - p->pos)] ^=
			(uint8_t)(1u << (p->flip % 8));
		p->flipped = 1;
	}
	p->len += n;
	p->pos += n;
}

enum chunk { CH_BYTE, CH_RANDOM, CH_WHOLE };
static const char *const chunk_name[] = {"1-byte", "random", "whole"};

static size_t chunk_size(struct tu_rng *rng, enum chunk ch, size_t avail)
{
	size_t k = avail;

	if (ch == CH_BYTE)
		k = 1;
	else if (ch == CH_RANDOM)
		k = 1 + tu_rng_below(rng, tu_rng_below(rng, 4) == 0 ? 100000 : 300);
	return k < avail ? k : avail;
}

/* ---- one end of a connection --------------------------------------------- */

struct msg {
	uint8_t *m;
	size_t n;
	bool final;
};

struct end {
	struct hs h;
	struct pipe *in;       /* bytes coming to this end */
	struct pipe *out;      /* bytes going from this end */
	struct msg box[8];
	int nbox;
	int err;               /* last error from hs_recv / hs_open_next */
	bool was_ready;
};

static void end_init(struct end *e, struct pipe *in, struct pipe *out)
{
	memset(e, 0, sizeof *e);
	e->in = in;
	e->out = out;
}

static void end_clear_box(struct end *e)
{
	for (int i = 0; i < e->nbox; i++)
		free(e->box[i].m);
	e->nbox = 0;
}

static void end_free(struct end *e)
{
	end_clear_box(e);
	hs_wipe(&e->h);
}

/* Send everything the handshake has queued, in random pieces. */
static bool end_flush(struct end *e, struct tu_rng *rng, enum chunk ch)
{
	const uint8_t *o;
	size_t n, k;
	bool moved = false;

	for (;;) {
		int rc = hs_pending(&e->h, &o, &n);
		if (rc != 0) {
			CHECK_EQ(n, 0);
			return moved;
		}
		if (n == 0)
			return moved;
		k = chunk_size(rng, ch, n);
		pipe_push(e->out, o, k);
		hs_sent(&e->h, k);
		moved = true;
	}
}

/* Feed one chunk of what arrived; true if anything happened. */
static bool end_recv(struct end *e, struct tu_rng *rng, enum chunk ch)
{
	size_t avail = pipe_avail(e->in), k, used = 0, mlen;
	enum hs_state before = hs_state(&e->h);
	uint8_t *m;
	bool fin;

	if (avail == 0 || (before != HS_RUNNING && before != HS_READY))
		return false;
	k = chunk_size(rng, ch, avail);
	if (before == HS_RUNNING) {
		e->err = hs_recv(&e->h, e->in->b + e->in->head, k, &used);
		CHECK(used <= k);
		CHECK(used == k || hs_state(&e->h) != HS_RUNNING);
	} else {
		e->err = hs_open_next(&e->h, e->in->b + e->in->head, k, &used,
				      &m, &mlen, &fin);
		CHECK(used <= k);
		if (e->err != 0) {
			CHECK(m == NULL);
			CHECK_EQ(hs_state(&e->h), HS_FAIL);
		} else if (m != NULL) {
			CHECK(e->nbox < 8);
			e->box[e->nbox].m = m;
			e->box[e->nbox].n = mlen;
			e->box[e->nbox].final = fin;
			e->nbox++;
		} else {
			CHECK_EQ(used, k);
		}
	}
	e->in->head += used;
	if (hs_state(&e->h) == HS_READY)
		e->was_ready = true;
	return used > 0 || hs_state(&e->h) != before;
}

/* Run both ends until nothing moves any more. */
static void pump(struct end *a, struct end *b, struct tu_rng *rng, enum chunk ch)
{
	for (long i = 0; i < 50000000; i++) {
		bool moved = false;

		moved |= end_flush(a, rng, ch);
		moved |= end_flush(b, rng, ch);
		moved |= end_recv(b, rng, ch);
		moved |= end_flush(b, rng, ch);
		moved |= end_recv(a, rng, ch);
		if (!moved)
			return;
	}
	CHECK(!"pump does not settle");
}

/* A connection: i dials r. */
struct conn {
	struct pipe ir, ri;
	struct end i, r;
};

static void conn_start(struct conn *c, const struct peer *pi,
		       const struct peer *pr)
{
	pipe_init(&c->ir);
	pipe_init(&c->ri);
	end_init(&c->i, &c->ri, &c->ir);
	end_init(&c->r, &c->ir, &c->ri);
	peer_init(pi, true, &c->i.h);
	peer_init(pr, false, &c->r.h);
}

static void conn_free(struct conn *c)
{
	end_free(&c->i);
	end_free(&c->r);
	pipe_free(&c->ir);
	pipe_free(&c->ri);
}

static void conn_run(struct conn *c, const struct peer *pi,
		     const struct peer *pr, uint64_t seed, enum chunk ch)
{
	struct tu_rng rng;

	tu_rng_seed(&rng, seed);
	conn_start(c, pi, pr);
	pump(&c->i, &c->r, &rng, ch);
}

/* Seal msg at `from` into its pipe. */
static void send_msg(struct end *from, const uint8_t *msg, size_t len,
		     bool final)
{
	size_t cap = len + HS_FRAME_OVERHEAD, flen = 0;
	uint8_t *f = malloc(cap);

	CHECK(f != NULL);
	CHECK_EQ(hs_seal(&from->h, msg, len, final, f, cap, &flen), 0);
	CHECK_EQ(flen, cap);
	pipe_push(from->out, f, flen);
	free(f);
}

static void check_ready(struct conn *c, const struct peer *pi,
			const struct peer *pr)
{
	CHECK_EQ(hs_state(&c->i.h), HS_READY);
	CHECK_EQ(hs_state(&c->r.h), HS_READY);
	CHECK(hs_peer(&c->i.h) != NULL && hs_peer(&c->r.h) != NULL);
	CHECK_MEM(hs_peer(&c->i.h)->node, pr->n->id, 32);
	CHECK_MEM(hs_peer(&c->r.h)->node, pi->n->id, 32);
	CHECK_STR(hs_error(&c->i.h), "no error");
}

/* ---- tests --------------------------------------------------------------- */

static void test_ready_and_messages(void)
{
	struct peer pa, pb;
	struct conn c;
	uint8_t *big = malloc(HS_MSG_MAX), one = 0xa5, *f;
	size_t flen;

	CHECK(big != NULL);
	randombytes_buf(big, HS_MSG_MAX);
	peer_make(&pa, &A, &D, ROLE_SCHOOL, "110105-0001");
	peer_make(&pb, &B, &D, ROLE_DISTRICT, "110105");

	for (int ch = CH_BYTE; ch <= CH_WHOLE; ch++) {
		for (uint64_t seed = 1; seed <= (ch == CH_RANDOM ? 8u : 1u); seed++) {
			struct tu_rng rng;

			tu_rng_seed(&rng, seed * 77);
			conn_run(&c, &pa, &pb, seed, (enum chunk)ch);
			check_ready(&c, &pa, &pb);
			CHECK_EQ(hs_peer(&c.i.h)->role, ROLE_DISTRICT);
			CHECK_STR(hs_peer(&c.r.h)->scope, "110105-0001");

			/* Both ways: empty, 1 byte, 1 MiB. */
			send_msg(&c.i, NULL, 0, false);
			send_msg(&c.i, &one, 1, false);
			send_msg(&c.i, big, HS_MSG_MAX, false);
			send_msg(&c.r, big, HS_MSG_MAX, false);
			send_msg(&c.r, &one, 1, false);
			send_msg(&c.r, NULL, 0, false);
			pump(&c.i, &c.r, &rng, (enum chunk)ch);
			CHECK_EQ(c.r.nbox, 3);
			CHECK_EQ(c.i.nbox, 3);
			CHECK_EQ(c.r.box[0].n, 0);
			CHECK(c.r.box[0].m != NULL);
			CHECK_EQ(c.r.box[1].n, 1);
			CHECK_EQ(c.r.box[1].m[0], 0xa5);
			CHECK_EQ(c.r.box[2].n, HS_MSG_MAX);
			CHECK_MEM(c.r.box[2].m, big, HS_MSG_MAX);
			CHECK_EQ(c.i.box[0].n, HS_MSG_MAX);
			CHECK_MEM(c.i.box[0].m, big, HS_MSG_MAX);
			CHECK_EQ(c.i.box[1].n, 1);
			CHECK_EQ(c.i.box[2].n, 0);
			for (int k = 0; k < 3; k++)
				CHECK(!c.r.box[k].final && !c.i.box[k].final);
			end_clear_box(&c.i);
			end_clear_box(&c.r);

			/* FINAL one way, then the other (half-close). */
			send_msg(&c.i, (const uint8_t *)"bye", 3, true);
			pump(&c.i, &c.r, &rng, (enum chunk)ch);
			CHECK_EQ(c.r.nbox, 1);
			CHECK(c.r.box[0].final);
			CHECK_MEM(c.r.box[0].m, "bye", 3);
			f = calloc(1, 64);
			CHECK(f != NULL);
			CHECK_EQ(hs_seal(&c.i.h, &one, 1, false, f, 64, &flen),
				 CN_ERR_INVAL);
			send_msg(&c.r, &one, 1, false);
			send_msg(&c.r, NULL, 0, true);
			pump(&c.i, &c.r, &rng, (enum chunk)ch);
			CHECK_EQ(c.i.nbox, 2);
			CHECK(!c.i.box[0].final && c.i.box[1].final);
			CHECK_EQ(c.i.box[1].n, 0);
			CHECK_EQ(hs_state(&c.i.h), HS_READY);
			CHECK_EQ(hs_state(&c.r.h), HS_READY);
			/* Nothing may follow a FINAL. */
			{
				size_t used;
				uint8_t *m;
				size_t ml;
				bool fin;

				CHECK_EQ(hs_open_next(&c.r.h, f, 0, &used, &m,
						      &ml, &fin), 0);
				CHECK(m == NULL);
				CHECK_EQ(hs_open_next(&c.r.h, f, 1, &used, &m,
						      &ml, &fin),
					 CN_ERR_MALFORMED);
				CHECK(m == NULL);
				CHECK_EQ(hs_state(&c.r.h), HS_FAIL);
			}
			free(f);
			conn_free(&c);
		}
		printf("handshake: ready + messages, %s chunks ok\n",
		       chunk_name[ch]);
	}
	free(big);
}

/* The initiator is READY first and may send at once: its first data frame
 * can arrive in the same read as its AUTH. */
static void test_early_data(void)
{
	struct peer pa, pb;
	struct hs i, r;
	const uint8_t *o;
	uint8_t x[4096], f[64], *m;
	size_t n, xl = 0, used, ml, fl;
	bool fin;

	peer_make(&pa, &A, &D, ROLE_SCHOOL, "110105-0001");
	peer_make(&pb, &B, &D, ROLE_DISTRICT, "110105");
	peer_init(&pa, true, &i);
	peer_init(&pb, false, &r);

	CHECK_EQ(hs_pending(&r, &o, &n), 0);
	CHECK_EQ(n, 0);                       /* the responder waits */
	CHECK_EQ(hs_seal(&i, x, 1, false, f, sizeof f, &fl), CN_ERR_INVAL);
	CHECK_EQ(hs_pending(&i, &o, &n), 0);
	CHECK_EQ(n, HS_HELLO_LEN);
	CHECK_EQ(hs_recv(&r, o, n, &used), 0);
	CHECK_EQ(used, n);
	hs_sent(&i, n);
	CHECK_EQ(hs_pending(&r, &o, &n), 0);
	CHECK(n > HS_HELLO_LEN + HS_LEN_PREFIX + HS_HEADER_LEN);
	CHECK_EQ(hs_recv(&i, o, n, &used), 0);
	CHECK_EQ(used, n);
	hs_sent(&r, n);
	CHECK_EQ(hs_state(&i), HS_READY);
	/* Its own header and AUTH are still queued: sealing must wait. */
	CHECK_EQ(hs_seal(&i, x, 1, false, f, sizeof f, &fl), CN_ERR_INVAL);
	CHECK_EQ(hs_pending(&i, &o, &n), 0);
	CHECK(n > 0 && n < sizeof x);
	memcpy(x, o, n);
	xl = n;
	hs_sent(&i, n / 2);
	hs_sent(&i, n);                       /* clamped */
	CHECK_EQ(hs_pending(&i, &o, &n), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(hs_seal(&i, (const uint8_t *)"early", 5, false, f, 5 + 20, &fl),
		 CN_ERR_INVAL);               /* cap too small */
	CHECK_EQ(hs_seal(&i, (const uint8_t *)"early", 5, false, f, sizeof f, &fl), 0);
	memcpy(x + xl, f, fl);
	xl += fl;

	CHECK_EQ(hs_recv(&r, x, xl, &used), 0);
	CHECK_EQ(hs_state(&r), HS_READY);
	CHECK_EQ(used, xl - fl);
	CHECK_EQ(hs_recv(&r, x + used, xl - used, &n), 0);
	CHECK_EQ(n, 0);                       /* READY: hs_recv takes nothing */
	CHECK_EQ(hs_open_next(&r, x + used, xl - used, &n, &m, &ml, &fin), 0);
	CHECK_EQ(n, fl);
	CHECK(m != NULL && ml == 5 && !fin);
	CHECK_MEM(m, "early", 5);
	free(m);
	hs_wipe(&i);
	hs_wipe(&r);
	hs_wipe(&r);                          /* twice is harmless */
	CHECK_EQ(hs_state(&r), HS_FAIL);
	printf("handshake: early data ok\n");
}

static void test_network_key(void)
{
	struct peer pa, pb;
	struct conn c;
	const uint8_t *o;
	uint8_t junk[HS_HELLO_LEN], h0[HS_HELLO_LEN];
	size_t n, used;
	struct hs h;

	peer_make(&pa, &A, &D, ROLE_SCHOOL, "110105-0001");
	peer_make(&pb, &B, &D, ROLE_DISTRICT, "110105");
	pa.netkey = netkey2;
	for (int ch = CH_BYTE; ch <= CH_WHOLE; ch++) {
		conn_run(&c, &pa, &pb, 5, (enum chunk)ch);
		CHECK_EQ(hs_state(&c.r.h), HS_DROP);
		CHECK_EQ(c.r.err, CN_ERR_BADSIG);
		CHECK_EQ(c.ri.pos, 0);           /* not one byte back */
		CHECK_EQ(hs_pending(&c.r.h, &o, &n), CN_ERR_BADSIG);
		CHECK_EQ(n, 0);
		CHECK_EQ(hs_state(&c.i.h), HS_RUNNING);
		CHECK(hs_peer(&c.r.h) == NULL);
		conn_free(&c);
	}

	/* Garbage to a responder, one byte at a time: nothing until the 64th,
	 * then DROP, and nothing ever to send. */
	randombytes_buf(junk, sizeof junk);
	peer_init(&pb, false, &h);
	for (size_t k = 0; k < sizeof junk; k++) {
		CHECK_EQ(hs_pending(&h, &o, &n), 0);
		CHECK_EQ(n, 0);
		int rc = hs_recv(&h, junk + k, 1, &used);
		CHECK_EQ(rc, k + 1 < sizeof junk ? 0 : CN_ERR_BADSIG);
	}
	CHECK_EQ(hs_state(&h), HS_DROP);
	CHECK(strstr(hs_error(&h), "network key") != NULL);
	CHECK_EQ(hs_recv(&h, junk, 1, &used), CN_ERR_BADSIG);
	CHECK_EQ(used, 0);
	hs_wipe(&h);

	/* Garbage to an initiator after its HELLO. */
	peer_init(&pa, true, &h);
	CHECK_EQ(hs_recv(&h, junk, sizeof junk, &used), CN_ERR_BADSIG);
	CHECK_EQ(hs_state(&h), HS_DROP);
	CHECK_EQ(hs_pending(&h, &o, &n), CN_ERR_BADSIG);
	CHECK_EQ(n, 0);
	hs_wipe(&h);

	/* Its own HELLO reflected back to an initiator. */
	pa.netkey = netkey;
	peer_init(&pa, true, &h);
	CHECK_EQ(hs_pending(&h, &o, &n), 0);
	memcpy(h0, o, sizeof h0);
	CHECK_EQ(hs_recv(&h, h0, sizeof h0, &used), CN_ERR_BADSIG);
	CHECK_EQ(hs_state(&h), HS_DROP);
	hs_wipe(&h);

	/* A valid MAC on a low-order point (the all-zero key). */
	memset(h0, 0, sizeof h0);
	crypto_auth(h0 + 32, h0, 32, netkey);
	peer_init(&pb, false, &h);
	CHECK_EQ(hs_recv(&h, h0, sizeof h0, &used), CN_ERR_MALFORMED);
	CHECK_EQ(hs_state(&h), HS_FAIL);
	CHECK_EQ(hs_pending(&h, &o, &n), CN_ERR_MALFORMED);
	CHECK_EQ(n, 0);
	hs_wipe(&h);
	printf("handshake: network key ok\n");
}

/* `bad` is refused by `good`, whichever of them dials.  When the victim
 * answers, the bytes arrive one at a time so that the bad side sends its
 * AUTH before it looks at the victim's. */
static void expect_refused(const struct peer *good, const struct peer *bad,
			   int err, const char *why)
{
	struct conn c;

	for (int ch = CH_BYTE; ch <= CH_WHOLE; ch++) {
		conn_run(&c, good, bad, 11, (enum chunk)ch);
		CHECK_EQ(hs_state(&c.i.h), HS_FAIL);
		CHECK_EQ(c.i.err, err);
		CHECK_STR(hs_error(&c.i.h), why);
		CHECK(!c.i.was_ready && hs_peer(&c.i.h) == NULL);
		conn_free(&c);
	}
	conn_run(&c, bad, good, 12, CH_BYTE);
	CHECK_EQ(hs_state(&c.r.h), HS_FAIL);
	CHECK_EQ(c.r.err, err);
	CHECK_STR(hs_error(&c.r.h), why);
	CHECK(!c.r.was_ready && hs_peer(&c.r.h) == NULL);
	conn_free(&c);
}

static void test_other_root(void)
{
	struct peer pa, pc;
	struct hs h;
	struct hs_config cfg;

	peer_make(&pa, &A, &D, ROLE_SCHOOL, "110105-0001");
	peer_make(&pc, &C, &D2, ROLE_SCHOOL, "110105-0002");
	expect_refused(&pa, &pc, CN_ERR_BADSIG,
		       "signature is not the deployment root's");

	/* A node configured with a certificate its own root did not sign
	 * fails at hs_init already. */
	memset(&cfg, 0, sizeof cfg);
	cfg.network_key = netkey;
	cfg.root_pub = D.root_pk;
	cfg.cert = pc.cert;
	cfg.cert_len = pc.cert_len;
	cfg.sign = hs_replica_sign;
	cfg.sign_ctx = C.r;
	CHECK_EQ(hs_init(&h, &cfg), CN_ERR_BADSIG);
	CHECK_EQ(hs_state(&h), HS_FAIL);
	hs_wipe(&h);
	cfg.network_key = NULL;
	CHECK_EQ(hs_init(&h, &cfg), CN_ERR_INVAL);
	hs_wipe(&h);
	cfg.network_key = netkey;
	cfg.cert_len = CERT_MAX + 1;
	CHECK_EQ(hs_init(&h, &cfg), CN_ERR_INVAL);
	hs_wipe(&h);
	printf("handshake: other root ok\n");
}

static void test_validity(void)
{
	struct peer pa, pb;
	struct conn c;
	const uint64_t nb = NOW - 86400000ull, na = NOW + 86400000ull;

	peer_make(&pa, &A, &D, ROLE_SCHOOL, "110105-0001");
	peer_make(&pb, &B, &D, ROLE_DISTRICT, "110105");
	peer_cert(&pb, ROLE_DISTRICT, "110105", nb, na);

	/* The edges are inside. */
	pa.now = na;
	conn_run(&c, &pa, &pb, 3, CH_RANDOM);
	check_ready(&c, &pa, &pb);
	conn_free(&c);
	pa.now = nb;
	conn_run(&c, &pb, &pa, 3, CH_RANDOM);
	check_ready(&c, &pb, &pa);
	conn_free(&c);

	pa.now = na + 1;
	expect_refused(&pa, &pb, CN_ERR_REFUSED, "peer certificate has expired");
	pa.now = nb - 1;
	expect_refused(&pa, &pb, CN_ERR_REFUSED,
		       "peer certificate is not valid yet");
	printf("handshake: certificate validity ok\n");
}

static void test_revoked(void)
{
	struct peer pa, pr;
	struct authority *auth;
	struct revocation rv;
	struct conn c;

	peer_make(&pa, &A, &D, ROLE_SCHOOL, "110105-0001");
	peer_make(&pr, &R, &D, ROLE_SERVICE, "window-3");
	CHECK_EQ(authority_new(D.root_pk, &auth), 0);
	pa.auth = auth;
	conn_run(&c, &pa, &pr, 4, CH_RANDOM);
	check_ready(&c, &pa, &pr);
	conn_free(&c);

	memset(&rv, 0, sizeof rv);
	memcpy(rv.node, R.id, 32);
	rv.valid_through_seq = 100;
	rv.time = NOW;
	CHECK_EQ(authority_add_revocation(auth, &rv), 0);
	CHECK(authority_revoked_after(auth, R.id) != UINT64_MAX);
	expect_refused(&pa, &pr, CN_ERR_REFUSED, "peer node is revoked");
	authority_free(auth);
	printf("handshake: revoked node ok\n");
}

static void test_bad_signatures(void)
{
	struct peer pa, pb;
	struct signer s;

	peer_make(&pa, &A, &D, ROLE_SCHOOL, "110105-0001");
	peer_make(&pb, &B, &D, ROLE_DISTRICT, "110105");
	memset(&s, 0, sizeof s);
	s.n = &B;
	s.other_sk = A.sk;
	pb.signer = &s;

	/* Control: the test signer signs honestly. */
	{
		struct conn c;

		conn_run(&c, &pa, &pb, 6, CH_WHOLE);
		check_ready(&c, &pa, &pb);
		conn_free(&c);
	}
	s.mode = SIGN_ROLE;          /* a signature made for the other role */
	expect_refused(&pa, &pb, CN_ERR_BADSIG,
		       "handshake signature does not verify");
	s.mode = SIGN_TRANSCRIPT;    /* made for another session */
	expect_refused(&pa, &pb, CN_ERR_BADSIG,
		       "handshake signature does not verify");
	s.mode = SIGN_OTHER_KEY;     /* B's certificate, A's key */
	expect_refused(&pa, &pb, CN_ERR_BADSIG,
		       "handshake signature does not verify");

	/* The signer itself fails: HS_FAIL, nothing more to send. */
	s.mode = SIGN_FAIL;
	{
		struct conn c;
		const uint8_t *o;
		size_t n;

		conn_run(&c, &pa, &pb, 6, CH_WHOLE);
		CHECK_EQ(hs_state(&c.r.h), HS_FAIL);
		CHECK_EQ(c.r.err, CN_ERR_PERM);
		CHECK_STR(hs_error(&c.r.h), "signing the handshake failed");
		CHECK_EQ(c.ri.pos, 0);
		CHECK_EQ(hs_pending(&c.r.h, &o, &n), CN_ERR_PERM);
		CHECK_EQ(n, 0);
		conn_free(&c);
	}
	printf("handshake: bad signatures ok\n");
}

/* Record what an initiator sent in a session that succeeded; replay it to a
 * new responder. */
static void test_replay(void)
{
	struct peer pa, pb;
	struct conn c;
	uint8_t *rec;
	size_t reclen, used;
	struct hs h;
	const uint8_t *o;
	size_t n;

	peer_make(&pa, &A, &D, ROLE_SCHOOL, "110105-0001");
	peer_make(&pb, &B, &D, ROLE_DISTRICT, "110105");
	{
		struct tu_rng rng;

		tu_rng_seed(&rng, 8);
		conn_start(&c, &pa, &pb);
		c.ir.keep = true;
		pump(&c.i, &c.r, &rng, CH_RANDOM);
	}
	check_ready(&c, &pa, &pb);
	send_msg(&c.i, (const uint8_t *)"entries", 7, false);
	reclen = c.ir.len;
	rec = malloc(reclen);
	CHECK(rec != NULL);
	memcpy(rec, c.ir.b, reclen);
	conn_free(&c);

	for (int ch = CH_BYTE; ch <= CH_WHOLE; ch += CH_WHOLE) {
		size_t off = 0, k;
		int rc = 0;

		peer_init(&pb, false, &h);
		while (off < reclen && hs_state(&h) == HS_RUNNING) {
			k = ch == CH_BYTE ? 1 : reclen - off;
			rc = hs_recv(&h, rec + off, k, &used);
			off += used;
			CHECK(hs_state(&h) != HS_READY);
		}
		CHECK_EQ(hs_state(&h), HS_FAIL);
		CHECK_EQ(rc, CN_ERR_BADSIG);
		CHECK_STR(hs_error(&h), "AUTH frame does not authenticate");
		CHECK(hs_peer(&h) == NULL);
		CHECK_EQ(hs_pending(&h, &o, &n), CN_ERR_BADSIG);
		CHECK_EQ(n, 0);
		hs_wipe(&h);
	}
	free(rec);
	printf("handshake: replayed capture ok\n");
}

/* Flip every bit of both directions' handshake bytes, one session each. */
static void test_handshake_bit_flips(void)
{
	struct peer pa, pb;
	struct conn c;
	uint64_t total[2];
	static uint8_t filler[HS_AUTH_MAX + 64];
	unsigned drops = 0, fails = 0, sessions = 0;

	peer_make(&pa, &A, &D, ROLE_SCHOOL, "110105-0001");
	peer_make(&pb, &B, &D, ROLE_DISTRICT, "110105");
	conn_run(&c, &pa, &pb, 9, CH_WHOLE);
	check_ready(&c, &pa, &pb);
	total[0] = c.ir.pos;
	total[1] = c.ri.pos;
	conn_free(&c);

	for (int dir = 0; dir < 2; dir++) {
		for (uint64_t bit = 0; bit < total[dir] * 8; bit++) {
			struct tu_rng rng;
			struct end *victim;
			struct pipe *p;

			tu_rng_seed(&rng, bit);
			conn_start(&c, &pa, &pb);
			p = dir == 0 ? &c.ir : &c.ri;
			victim = dir == 0 ? &c.r : &c.i;
			p->flip = (int64_t)bit;
			pump(&c.i, &c.r, &rng, CH_WHOLE);
			CHECK_EQ(p->flipped, 1);
			/* A length that grew leaves the victim waiting (the
			 * daemon's timeout); more bytes show it fails. */
			if (hs_state(&victim->h) == HS_RUNNING) {
				pipe_push(victim->in, filler, sizeof filler);
				pump(&c.i, &c.r, &rng, CH_WHOLE);
			}
			CHECK(!victim->was_ready);
			if (hs_state(&victim->h) == HS_DROP) {
				drops++;
				CHECK(bit < HS_HELLO_LEN * 8);
				if (dir == 0)
					CHECK_EQ(c.ri.pos, 0);
			} else {
				CHECK_EQ(hs_state(&victim->h), HS_FAIL);
				CHECK(bit >= HS_HELLO_LEN * 8);
				fails++;
			}
			sessions++;
			conn_free(&c);
		}
	}
	CHECK_EQ(drops, 2 * HS_HELLO_LEN * 8);
	printf("handshake: %u bit flips in the handshake: %u dropped, %u failed, "
	       "none ready ok\n", sessions, drops, fails);
}

/* Flip every bit of one data frame. */
static void test_frame_bit_flips(void)
{
	struct peer pa, pb;
	struct conn c;
	uint8_t *filler = calloc(1, HS_FRAME_MAX + 8);
	const char *text = "entries [...]";
	const size_t flen = strlen(text) + HS_FRAME_OVERHEAD;

	CHECK(filler != NULL);
	peer_make(&pa, &A, &D, ROLE_SCHOOL, "110105-0001");
	peer_make(&pb, &B, &D, ROLE_DISTRICT, "110105");
	for (uint64_t bit = 0; bit < flen * 8; bit++) {
		struct tu_rng rng;

		conn_run(&c, &pa, &pb, bit, CH_WHOLE);
		check_ready(&c, &pa, &pb);
		tu_rng_seed(&rng, bit);
		c.ir.flip = (int64_t)(c.ir.pos * 8 + bit);
		send_msg(&c.i, (const uint8_t *)text, strlen(text), false);
		CHECK_EQ(c.ir.flipped, 1);
		pump(&c.i, &c.r, &rng, CH_WHOLE);
		if (hs_state(&c.r.h) == HS_READY) {
			/* The length grew: still waiting; more bytes. */
			pipe_push(&c.ir, filler, HS_FRAME_MAX + 8);
			pump(&c.i, &c.r, &rng, CH_WHOLE);
		}
		CHECK_EQ(hs_state(&c.r.h), HS_FAIL);
		CHECK(c.r.err == CN_ERR_BADSIG || c.r.err == CN_ERR_TOOBIG ||
		      c.r.err == CN_ERR_MALFORMED);
		CHECK_EQ(c.r.nbox, 0);
		/* Dead for good. */
		{
			uint8_t f[64], *m;
			size_t fl, used, ml;
			bool fin;

			CHECK_EQ(hs_seal(&c.r.h, f, 1, false, f, sizeof f, &fl),
				 c.r.err);
			CHECK_EQ(hs_open_next(&c.r.h, f, 1, &used, &m, &ml, &fin),
				 c.r.err);
			CHECK(m == NULL);
		}
		conn_free(&c);
	}
	free(filler);
	printf("handshake: %zu bit flips in a data frame, none delivered ok\n",
	       flen * 8);
}

static void test_lengths(void)
{
	static const struct {
		uint8_t b[4];
		int err;
	} bad[] = {
		{{0x00, 0x10, 0x00, 0x12}, CN_ERR_TOOBIG},   /* HS_FRAME_MAX + 1 */
		{{0xff, 0xff, 0xff, 0xff}, CN_ERR_TOOBIG},
		{{0x80, 0x00, 0x00, 0x11}, CN_ERR_TOOBIG},
		{{0x00, 0x00, 0x00, 0x00}, CN_ERR_MALFORMED},
		{{0x00, 0x00, 0x00, 0x10}, CN_ERR_MALFORMED}, /* < ABYTES */
	};
	struct peer pa, pb;
	struct conn c;
	uint8_t *m, f[64];
	size_t used, ml, fl;
	bool fin;

	CHECK_EQ(HS_FRAME_MAX, 0x100011);
	peer_make(&pa, &A, &D, ROLE_SCHOOL, "110105-0001");
	peer_make(&pb, &B, &D, ROLE_DISTRICT, "110105");
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		conn_run(&c, &pa, &pb, 10, CH_WHOLE);
		check_ready(&c, &pa, &pb);
		/* Split: the prefix in two reads. */
		CHECK_EQ(hs_open_next(&c.r.h, bad[k].b, 2, &used, &m, &ml, &fin), 0);
		CHECK(m == NULL && used == 2);
		CHECK_EQ(hs_open_next(&c.r.h, bad[k].b + 2, 2, &used, &m, &ml,
				      &fin), bad[k].err);
		CHECK(m == NULL);
		CHECK_EQ(hs_state(&c.r.h), HS_FAIL);
		conn_free(&c);
	}

	/* Sealing: the limit is the message size. */
	conn_run(&c, &pa, &pb, 10, CH_WHOLE);
	CHECK_EQ(hs_seal(&c.i.h, f, HS_MSG_MAX + 1, false, f, sizeof f, &fl),
		 CN_ERR_TOOBIG);
	CHECK_EQ(hs_state(&c.i.h), HS_READY);
	conn_free(&c);

	/* In the handshake: a header frame that is not 24 bytes, an AUTH
	 * frame too long. */
	{
		struct hs r, i;
		const uint8_t *o;
		size_t n;
		uint8_t x[HS_HELLO_LEN + 8];

		peer_init(&pa, true, &i);
		peer_init(&pb, false, &r);
		CHECK_EQ(hs_pending(&i, &o, &n), 0);
		memcpy(x, o, n);
		memcpy(x + n, "\x00\x00\x00\x19", 4);
		CHECK_EQ(hs_recv(&r, x, n + 4, &used), CN_ERR_MALFORMED);
		CHECK_STR(hs_error(&r), "header frame is not 24 bytes");
		hs_wipe(&r);
		hs_wipe(&i);
	}
	printf("handshake: length prefixes ok\n");
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t k = 0; k < n; k++)
		if (b[k] != 0)
			return false;
	return true;
}

/* White-box: secrets are gone as soon as they are no longer needed. */
static void test_wiping(void)
{
	struct peer pa, pb;
	struct conn c;
	uint8_t junk[HS_HELLO_LEN] = {1};
	size_t used;

	peer_make(&pa, &A, &D, ROLE_SCHOOL, "110105-0001");
	peer_make(&pb, &B, &D, ROLE_DISTRICT, "110105");
	conn_run(&c, &pa, &pb, 13, CH_RANDOM);
	check_ready(&c, &pa, &pb);
	for (int k = 0; k < 2; k++) {
		struct hs *h = k ? &c.r.h : &c.i.h;

		CHECK(all_zero(h->sec.eph_sk, sizeof h->sec.eph_sk));
		CHECK(all_zero(h->sec.network_key, sizeof h->sec.network_key));
		CHECK(all_zero(h->sec.rx, sizeof h->sec.rx));
		CHECK(all_zero(h->sec.tx, sizeof h->sec.tx));
		CHECK(!all_zero(&h->sec.push, sizeof h->sec.push));
	}
	hs_wipe(&c.i.h);
	CHECK(all_zero(&c.i.h.sec, sizeof c.i.h.sec));
	CHECK_EQ(hs_state(&c.i.h), HS_FAIL);
	conn_free(&c);

	peer_init(&pb, false, &c.r.h);
	CHECK(!all_zero(c.r.h.sec.eph_sk, 32));
	CHECK(hs_recv(&c.r.h, junk, sizeof junk, &used) == CN_ERR_BADSIG);
	CHECK(all_zero(&c.r.h.sec, sizeof c.r.h.sec));
	hs_wipe(&c.r.h);
	printf("handshake: wiping ok\n");
}

int main(void)
{
	CHECK(sodium_init() >= 0);
	tu_deploy_init(&D);
	tu_deploy_init(&D2);
	randombytes_buf(netkey, sizeof netkey);
	randombytes_buf(netkey2, sizeof netkey2);
	tu_node_init(&D, &A, "hsA", ROLE_SCHOOL, "110105-0001", true);
	tu_node_init(&D, &B, "hsB", ROLE_DISTRICT, "110105", true);
	tu_node_init(&D, &R, "hsR", ROLE_SERVICE, "window-3", true);
	tu_node_init(&D2, &C, "hsC", ROLE_SCHOOL, "110105-0002", true);

	test_ready_and_messages();
	test_early_data();
	test_network_key();
	test_other_root();
	test_validity();
	test_revoked();
	test_bad_signatures();
	test_replay();
	test_handshake_bit_flips();
	test_frame_bit_flips();
	test_lengths();
	test_wiping();

	tu_node_close(&A);
	tu_node_close(&B);
	tu_node_close(&R);
	tu_node_close(&C);
	printf("test_handshake: ok\n");
	return 0;
}
