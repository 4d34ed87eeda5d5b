/*
 * test_replica.c — the replica core end to end in process: authoring,
 * ingest, the fold and the authority, on real LMDB data dirs.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authority.h"
#include "check.h"
#include "hlc.h"
#include "replica.h"
#include "testutil.h"
#include "util.h"

#define SCHOOL_A "110105-0001"
#define SCHOOL_B "110105-0002"
#define SCHOOL_C "110106-0001"

static struct tu_deploy dep;
static struct tu_node city, a, b;

static const char *decision_of(struct tu_node *n, const char *card)
{
	struct check_result res;

	CHECK_EQ(replica_check_card(n->r, card, util_now_ms(), &res), 0);
	return policy_decision_name(res.decision);
}

static void setup(void)
{
	struct entry e;

	tu_deploy_init(&dep);
	tu_node_init(&dep, &city, "city", ROLE_CITY, "110000", true);
	tu_node_init(&dep, &a, "schoolA", ROLE_SCHOOL, SCHOOL_A, true);
	tu_node_init(&dep, &b, "schoolB", ROLE_SCHOOL, SCHOOL_B, true);
	tu_put(&e, "S1", "张三", SCHOOL_A); tu_author(&city, &e, 0);
	tu_put(&e, "S2", "李四", SCHOOL_B); tu_author(&city, &e, 0);
	tu_put(&e, "S3", "王五", SCHOOL_A); tu_author(&city, &e, 0);
	tu_issue(&e, "S1", "C1", 0x01020304); tu_author(&city, &e, 0);
	tu_issue(&e, "S2", "C2", 0x01020305); tu_author(&city, &e, 0);
	tu_issue(&e, "S3", "C3", 0x01020306); tu_author(&city, &e, 0);
	tu_sync(&city, &a);
	tu_sync(&city, &b);
	tu_sync(&a, &b);
	tu_sync(&b, &a);
}

static void test_basic_sync(void)
{
	char d1[65], d2[65], d3[65];
	struct student_state st;
	struct ingest_report rep;
	int idx;

	tu_digest(&city, d1);
	tu_digest(&a, d2);
	tu_digest(&b, d3);
	CHECK_STR(d1, d2);
	CHECK_STR(d1, d3);
	CHECK_EQ(replica_card(a.r, "C2", &st, &idx), 0);
	CHECK_STR(st.edu_id, "S2");
	CHECK_STR(st.school, SCHOOL_B);
	CHECK_STR(decision_of(&a, "C1"), "accept");
	CHECK_STR(decision_of(&a, "NOPE"), "unknown");
	/* A second sync brings nothing. */
	rep = tu_sync(&city, &a);
	CHECK_EQ(rep.applied, 0);
	printf("replica: basic sync ok\n");
}

static void test_scope(void)
{
	struct entry e;
	size_t bad;
	enum fold_reason why;
	char d1[65], d2[65];

	/* School A may not touch school B's student ... */
	tu_cardop(&e, OP_CARD_FREEZE, "S2", "C2");
	CHECK_EQ(replica_author(a.r, &e, 1, &bad, &why), CN_ERR_REFUSED);
	CHECK_EQ(why, FR_SCOPE);
	/* ... may report its own student's card lost, and may not issue. */
	tu_cardop(&e, OP_CARD_LOST, "S1", "C1");
	tu_author(&a, &e, 0);
	CHECK_STR(decision_of(&a, "C1"), "lost");
	tu_issue(&e, "S1", "C9", 0x0a0b0c0d);
	CHECK_EQ(replica_author(a.r, &e, 1, &bad, &why), CN_ERR_REFUSED);
	CHECK_EQ(why, FR_ROLE);
	tu_sync(&a, &city);
	tu_sync(&city, &b);
	CHECK_STR(decision_of(&b, "C1"), "lost");
	tu_digest(&city, d1);
	tu_digest(&b, d2);
	CHECK_STR(d1, d2);
	printf("replica: role and scope ok\n");
}

/* An unauthorized entry that reaches a replica anyway (crafted, signed by
 * school A) is stored as evidence and has no effect. */
static void test_crafted_refused(void)
{
	uint8_t wire[1024], prev[32] = {0};
	const uint8_t *ents[1];
	size_t lens[1];
	struct entry e;
	struct ingest_report rep;
	struct student_state st;
	struct tu_node rogue;
	int idx;

	tu_node_init(&dep, &rogue, "rogue", ROLE_SCHOOL, SCHOOL_A, false);
	tu_cardop(&e, OP_CARD_FREEZE, "S2", "C2");
	lens[0] = tu_craft(&rogue, &e, 1, prev, hlc_next(0, util_now_ms()), true,
			   wire, sizeof wire, NULL);
	ents[0] = wire;
	CHECK_EQ(replica_ingest(b.r, ents, lens, 1, &rep), 0);
	CHECK_EQ(rep.refused, 1);
	CHECK_EQ(rep.applied, 0);
	CHECK_EQ(replica_card(b.r, "C2", &st, &idx), 0);
	CHECK(!st.cards[idx].frozen);
	/* The certificate arrives later: still outside its scope. */
	tu_cert_install(&dep, &b, rogue.id, ROLE_SCHOOL, SCHOOL_A);
	CHECK_EQ(replica_card(b.r, "C2", &st, &idx), 0);
	CHECK(!st.cards[idx].frozen);
	/* A district certificate for the same key would cover school B. */
	tu_cert_install(&dep, &b, rogue.id, ROLE_DISTRICT, "110105");
	CHECK_EQ(replica_card(b.r, "C2", &st, &idx), 0);
	/* Two certificates: the one with the higher serial decides; both
	 * have the same serial here, so check the verdict is one of them and
	 * stable across a re-open of the replica. */
	(void)st;
	tu_node_close(&rogue);
	printf("replica: crafted unauthorized entry refused ok\n");
}

static void test_late_cert(void)
{
	uint8_t wire[1024], prev[32] = {0};
	const uint8_t *ents[1];
	size_t lens[1];
	struct entry e;
	struct ingest_report rep;
	struct tu_node svc;

	tu_node_init(&dep, &svc, "service", ROLE_SERVICE, "window-3", false);
	tu_cardop(&e, OP_CARD_LOST, "S3", "C3");
	lens[0] = tu_craft(&svc, &e, 1, prev, hlc_next(0, util_now_ms()), true,
			   wire, sizeof wire, NULL);
	ents[0] = wire;
	CHECK_EQ(replica_ingest(city.r, ents, lens, 1, &rep), 0);
	CHECK_EQ(rep.refused, 1);
	CHECK_STR(decision_of(&city, "C3"), "accept");
	tu_cert_install(&dep, &city, svc.id, ROLE_SERVICE, "window-3");
	CHECK_STR(decision_of(&city, "C3"), "lost");
	tu_node_close(&svc);
	printf("replica: late certificate gives effect ok\n");
}

static void test_service_and_reader(void)
{
	struct tu_node svc, rd;
	struct entry e;
	size_t bad;
	enum fold_reason why;

	tu_node_init(&dep, &svc, "svc2", ROLE_SERVICE, "centre-1", true);
	tu_node_init(&dep, &rd, "reader", ROLE_READER, "library-1", true);
	tu_sync(&city, &svc);
	tu_sync(&city, &rd);
	tu_cardop(&e, OP_CARD_LOST, "S2", "C2");
	tu_author(&svc, &e, 0);
	tu_cardop(&e, OP_CARD_FOUND, "S2", "C2");
	tu_author(&svc, &e, 0);
	tu_cardop(&e, OP_CARD_FREEZE, "S2", "C2");
	CHECK_EQ(replica_author(svc.r, &e, 1, &bad, &why), CN_ERR_REFUSED);
	CHECK_EQ(why, FR_ROLE);
	/* A service point reissues: a new card replacing the old one, but
	 * no first card. */
	tu_issue(&e, "S2", "C2R", 0x01020399);
	CHECK_EQ(replica_author(svc.r, &e, 1, &bad, &why), CN_ERR_REFUSED);
	CHECK_EQ(why, FR_ROLE);
	strcpy(e.body.replaces, "C2");
	e.body.has |= BF(BK_REPLACES);
	tu_author(&svc, &e, 0);
	CHECK_STR(decision_of(&svc, "C2"), "replaced");
	CHECK_STR(decision_of(&svc, "C2R"), "accept");
	tu_cardop(&e, OP_CARD_LOST, "S2", "C2R");
	CHECK_EQ(replica_author(rd.r, &e, 1, &bad, &why), CN_ERR_REFUSED);
	CHECK_EQ(why, FR_ROLE);
	tu_node_close(&svc);
	tu_node_close(&rd);
	printf("replica: service and reader roles ok\n");
}

static void test_transfer(void)
{
	struct entry e;
	size_t bad;
	enum fold_reason why;
	struct student_state st;

	tu_sync(&city, &a);
	tu_sync(&city, &b);
	/* S3 moves from A to B: A writes the transfer. */
	memset(&e, 0, sizeof e);
	e.op = OP_STUDENT_TRANSFER;
	strcpy(e.key, "S3");
	strcpy(e.body.school, SCHOOL_B);
	e.body.has = BF(BK_SCHOOL);
	tu_author(&a, &e, 0);
	tu_cardop(&e, OP_CARD_FREEZE, "S3", "C3");
	CHECK_EQ(replica_author(a.r, &e, 1, &bad, &why), CN_ERR_REFUSED);
	CHECK_EQ(why, FR_SCOPE);
	tu_sync(&a, &b);
	CHECK_EQ(replica_student(b.r, "S3", &st), 0);
	CHECK_STR(st.school, SCHOOL_B);
	tu_cardop(&e, OP_CARD_FREEZE, "S3", "C3");
	tu_author(&b, &e, 0);
	printf("replica: transfer moves authority ok\n");
}

static void test_revocation(void)
{
	struct tu_node x, y;
	struct entry e;
	struct revocation rv;
	uint8_t buf[512];
	size_t len;
	const char *why;
	char d1[65], d2[65];

	tu_node_init(&dep, &x, "revx", ROLE_DISTRICT, "110105", true);
	tu_node_init(&dep, &y, "revy", ROLE_CITY, "110000", true);
	tu_sync(&city, &x);
	tu_sync(&city, &y);
	tu_put(&e, "R1", "赵六", SCHOOL_A); tu_author(&x, &e, 0);         /* seq 1 */
	tu_issue(&e, "R1", "RC1", 0x0f0f0f01); tu_author(&x, &e, 0);    /* seq 2 */
	tu_cardop(&e, OP_CARD_FREEZE, "R1", "RC1"); tu_author(&x, &e, 0); /* seq 3 */
	tu_sync(&x, &y);
	CHECK_STR(decision_of(&y, "RC1"), "frozen");
	memset(&rv, 0, sizeof rv);
	memcpy(rv.node, x.id, 32);
	rv.valid_through_seq = 2;
	rv.time = util_now_ms();
	CHECK_EQ(authority_revocation_sign(&rv, dep.root_sk, buf, sizeof buf, &len), 0);
	CHECK_EQ(replica_revocation_install(y.r, buf, len, &why), 0);
	CHECK_EQ(replica_revocation_install(y.r, buf, len, &why), CN_ERR_EXISTS);
	CHECK_STR(decision_of(&y, "RC1"), "accept");
	/* The revoked node itself converges too once it has the revocation. */
	CHECK_EQ(replica_revocation_install(x.r, buf, len, &why), 0);
	tu_digest(&x, d1);
	tu_digest(&y, d2);
	CHECK_STR(d1, d2);
	/* And it may not author any more. */
	tu_cardop(&e, OP_CARD_FREEZE, "R1", "RC1");
	tu_author(&x, &e, CN_ERR_REFUSED);
	tu_node_close(&x);
	tu_node_close(&y);
	printf("replica: revocation re-folds ok\n");
}

/* Deny wins ties and late arrivals: two replicas get the same entries in
 * opposite orders and end equal. */
static void test_order_and_ties(void)
{
	struct tu_node p, q, s1, s2;
	struct entry e;
	uint8_t w1[1024], w2[1024], w3[1024], zero[32] = {0}, h1[32];
	const uint8_t *ents[3];
	size_t lens[3];
	struct ingest_report rep;
	uint64_t t = hlc_next(0, util_now_ms()) + (1ull << 20);
	char d1[65], d2[65];

	tu_node_init(&dep, &p, "orderp", ROLE_CITY, "110000", true);
	tu_node_init(&dep, &q, "orderq", ROLE_CITY, "110000", true);
	tu_node_init(&dep, &s1, "svc-a", ROLE_SERVICE, "svc-a", true);
	tu_node_init(&dep, &s2, "svc-b", ROLE_SERVICE, "svc-b", true);
	tu_sync(&city, &p);
	tu_sync(&city, &q);
	tu_sync(&s1, &p); tu_sync(&s1, &q); tu_sync(&s2, &p); tu_sync(&s2, &q);
	/* s1: lost at t then found at t+2; s2: found at t (the tie). */
	tu_cardop(&e, OP_CARD_LOST, "S1", "C1");
	lens[0] = tu_craft(&s1, &e, 1, zero, t, false, w1, sizeof w1, h1);
	tu_cardop(&e, OP_CARD_FOUND, "S1", "C1");
	lens[1] = tu_craft(&s1, &e, 2, h1, t + 2, true, w2, sizeof w2, NULL);
	tu_cardop(&e, OP_CARD_FOUND, "S1", "C1");
	lens[2] = tu_craft(&s2, &e, 1, zero, t, true, w3, sizeof w3, NULL);
	/* p: s1's lost alone first (unsigned: must not apply), then all. */
	ents[0] = w1;
	CHECK_EQ(replica_ingest(p.r, ents, lens, 1, &rep), 0);
	CHECK_EQ(rep.unverified, 1);
	CHECK_EQ(rep.applied, 0);
	ents[0] = w3;
	CHECK_EQ(replica_ingest(p.r, ents, lens + 2, 1, &rep), 0);
	CHECK_EQ(rep.applied, 1);
	ents[0] = w1; ents[1] = w2;
	CHECK_EQ(replica_ingest(p.r, ents, lens, 2, &rep), 0);
	CHECK_EQ(rep.applied, 2);
	/* q: s1's pair first; the tie at t still ends "lost" until t+2. */
	CHECK_EQ(replica_ingest(q.r, ents, lens, 1, &rep), 0); /* unsigned */
	ents[0] = w1; ents[1] = w2; ents[2] = w3;
	CHECK_EQ(replica_ingest(q.r, ents, lens, 3, &rep), 0);
	tu_digest(&p, d1);
	tu_digest(&q, d2);
	CHECK_STR(d1, d2);
	CHECK_STR(decision_of(&p, "C1"), "accept"); /* found at t+2 wins */
	tu_node_close(&p); tu_node_close(&q);
	tu_node_close(&s1); tu_node_close(&s2);
	printf("replica: order independence ok\n");
}

static void test_deny_wins_tie(void)
{
	struct tu_node p, q, s1, s2;
	struct entry e;
	uint8_t w1[1024], w2[1024], zero[32] = {0};
	const uint8_t *ents[2];
	size_t lens[2];
	struct ingest_report rep;
	uint64_t t = hlc_next(0, util_now_ms()) + (1ull << 22);

	tu_node_init(&dep, &p, "tiep", ROLE_CITY, "110000", true);
	tu_node_init(&dep, &q, "tieq", ROLE_CITY, "110000", true);
	tu_node_init(&dep, &s1, "tie-a", ROLE_SERVICE, "tie-a", true);
	tu_node_init(&dep, &s2, "tie-b", ROLE_SERVICE, "tie-b", true);
	tu_sync(&city, &p);
	tu_sync(&city, &q);
	tu_sync(&s1, &p); tu_sync(&s1, &q); tu_sync(&s2, &p); tu_sync(&s2, &q);
	tu_cardop(&e, OP_CARD_LOST, "S2", "C2");
	lens[0] = tu_craft(&s1, &e, 1, zero, t, true, w1, sizeof w1, NULL);
	tu_cardop(&e, OP_CARD_FOUND, "S2", "C2");
	lens[1] = tu_craft(&s2, &e, 1, zero, t, true, w2, sizeof w2, NULL);
	ents[0] = w1;
	CHECK_EQ(replica_ingest(p.r, ents, lens, 1, &rep), 0);
	ents[0] = w2;
	CHECK_EQ(replica_ingest(p.r, ents, lens + 1, 1, &rep), 0);
	ents[0] = w2;
	CHECK_EQ(replica_ingest(q.r, ents, lens + 1, 1, &rep), 0);
	ents[0] = w1;
	CHECK_EQ(replica_ingest(q.r, ents, lens, 1, &rep), 0);
	CHECK_STR(decision_of(&p, "C2"), "lost");
	CHECK_STR(decision_of(&q, "C2"), "lost");
	tu_node_close(&p); tu_node_close(&q);
	tu_node_close(&s1); tu_node_close(&s2);
	printf("replica: deny wins ties ok\n");
}

static void test_fork_gap_badsig(void)
{
	struct tu_node p, s;
	struct entry e;
	uint8_t w1[1024], w2[1024], w3[1024], zero[32] = {0}, h[32];
	const uint8_t *ents[1];
	size_t lens[3];
	struct ingest_report rep;
	uint64_t t = hlc_next(0, util_now_ms());
	char ds[65], dp[65];

	tu_node_init(&dep, &p, "forkp", ROLE_CITY, "110000", true);
	tu_node_init(&dep, &s, "forks", ROLE_SERVICE, "forks", true);
	tu_sync(&city, &p);
	tu_sync(&s, &p);
	/* Gap: seq 2 without seq 1. */
	tu_cardop(&e, OP_CARD_LOST, "S1", "C1");
	lens[0] = tu_craft(&s, &e, 1, zero, t, true, w1, sizeof w1, h);
	tu_cardop(&e, OP_CARD_FOUND, "S1", "C1");
	lens[1] = tu_craft(&s, &e, 2, h, t + 1, true, w2, sizeof w2, NULL);
	ents[0] = w2;
	CHECK_EQ(replica_ingest(p.r, ents, lens + 1, 1, &rep), 0);
	CHECK_EQ(rep.gap, 1);
	/* A forged signature: flip one bit of the signature of seq 1. */
	w1[lens[0] - 1] ^= 1;
	ents[0] = w1;
	CHECK_EQ(replica_ingest(p.r, ents, lens, 1, &rep), 0);
	CHECK_EQ(rep.unverified, 1);
	w1[lens[0] - 1] ^= 1;
	CHECK_EQ(replica_ingest(p.r, ents, lens, 1, &rep), 0);
	CHECK_EQ(rep.applied, 1);
	/* Replay: the same entry again is a duplicate. */
	CHECK_EQ(replica_ingest(p.r, ents, lens, 1, &rep), 0);
	CHECK_EQ(rep.duplicate, 1);
	CHECK_EQ(rep.applied, 0);
	/* Fork: a different signed entry at seq 1. */
	tu_cardop(&e, OP_CARD_FREEZE, "S1", "C1");
	tu_cardop(&e, OP_CARD_VALIDATE, "S1", "C1");
	e.body.through = 203012;
	e.body.has |= BF(BK_THROUGH);
	lens[2] = tu_craft(&s, &e, 1, zero, t + 5, true, w3, sizeof w3, NULL);
	ents[0] = w3;
	tu_digest(&p, ds);
	CHECK_EQ(replica_ingest(p.r, ents, lens + 2, 1, &rep), 0);
	CHECK_EQ(rep.forked, 1);
	tu_digest(&p, dp);
	CHECK_STR(ds, dp); /* evidence only: no effect */
	/* Further entries of the forked origin are held. */
	ents[0] = w2;
	CHECK_EQ(replica_ingest(p.r, ents, lens + 1, 1, &rep), 0);
	CHECK_EQ(rep.held, 1);
	tu_node_close(&p);
	tu_node_close(&s);
	printf("replica: gap, bad signature, replay and fork ok\n");
}

/* A node restored from an old copy must not author until it has caught up
 * with its own log. */
struct grab {
	uint8_t buf[3][2048];
	size_t len[3];
	size_t n;
};

static int grab_cb(void *ctx, uint64_t seq, const uint8_t *w, size_t l)
{
	struct grab *g = ctx;

	(void)seq;
	CHECK(l <= sizeof g->buf[0] && g->n < 3);
	memcpy(g->buf[g->n], w, l);
	g->len[g->n++] = l;
	return 0;
}

static void test_behind(void)
{
	struct tu_node n, old;
	struct entry e;
	struct grab g;
	struct ingest_report rep;
	const uint8_t *ents[2];
	char cmd[2048], err[256];

	tu_node_init(&dep, &n, "behind", ROLE_CITY, "110000", true);
	tu_put(&e, "B1", "孙七", SCHOOL_A); tu_author(&n, &e, 0);
	old = n;
	CHECK(strlen(n.dir) + 5 <= sizeof old.dir);
	memcpy(old.dir + strlen(n.dir), ".old", 5);
	snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", n.dir, old.dir);
	tu_node_close(&n);
	CHECK_EQ(system(cmd), 0);
	CHECK_EQ(replica_open(n.dir, 0, &n.r, err, sizeof err), 0);
	tu_put(&e, "B2", "周八", SCHOOL_A); tu_author(&n, &e, 0);
	tu_put(&e, "B3", "吴九", SCHOOL_A); tu_author(&n, &e, 0);
	CHECK_EQ(replica_open(old.dir, 0, &old.r, err, sizeof err), 0);
	memset(&g, 0, sizeof g);
	CHECK_EQ(replica_log_walk(n.r, n.id, 2, 3, grab_cb, &g), 0);
	CHECK_EQ(g.n, 2);
	/* Only seq 3 reaches the old copy: it learns it is behind. */
	ents[0] = g.buf[1];
	CHECK_EQ(replica_ingest(old.r, ents, g.len + 1, 1, &rep), 0);
	CHECK_EQ(rep.gap, 1);
	tu_put(&e, "B4", "郑十", SCHOOL_A);
	tu_author(&old, &e, CN_ERR_BEHIND);
	/* Once seq 2 and 3 arrive it has caught up and may author again. */
	ents[0] = g.buf[0];
	ents[1] = g.buf[1];
	CHECK_EQ(replica_ingest(old.r, ents, g.len, 2, &rep), 0);
	CHECK_EQ(rep.applied, 2);
	tu_author(&old, &e, 0);
	/* An unsigned claim of a later seq of our own log proves nothing: it
	 * must not stop this node from writing. */
	{
		uint8_t w[1024], prev[32] = {0};
		size_t l;
		tu_put(&e, "B9", "王", SCHOOL_A);
		l = tu_craft(&old, &e, 99, prev, hlc_next(0, util_now_ms()), false,
			     w, sizeof w, NULL);
		ents[0] = w;
		CHECK_EQ(replica_ingest(old.r, ents, &l, 1, &rep), 0);
		CHECK_EQ(rep.gap, 1);
		tu_put(&e, "B5", "李", SCHOOL_A);
		tu_author(&old, &e, 0);
	}
	tu_node_close(&n);
	tu_node_close(&old);
	printf("replica: restored copy refuses to author until caught up ok\n");
}

/* Two cards with one 4-byte NUID: ambiguous while both live; once one is
 * cancelled the other decides. */
static void test_uid_collision(void)
{
	struct entry e;
	struct check_result res;
	const uint8_t uid[4] = {0x0c, 0x0c, 0x0c, 0x0c};

	tu_put(&e, "U1", "甲", SCHOOL_A); tu_author(&city, &e, 0);
	tu_put(&e, "U2", "乙", SCHOOL_B); tu_author(&city, &e, 0);
	tu_issue(&e, "U1", "UC1", 0x0c0c0c0c); tu_author(&city, &e, 0);
	tu_issue(&e, "U2", "UC2", 0x0c0c0c0c); tu_author(&city, &e, 0);
	CHECK_EQ(replica_check_uid(city.r, uid, 4, util_now_ms(), &res), 0);
	CHECK_EQ(res.candidates, 2);
	CHECK_STR(policy_decision_name(res.decision), "ambiguous");
	tu_cardop(&e, OP_CARD_CANCEL, "U1", "UC1"); tu_author(&city, &e, 0);
	CHECK_EQ(replica_check_uid(city.r, uid, 4, util_now_ms(), &res), 0);
	CHECK_STR(policy_decision_name(res.decision), "accept");
	CHECK_STR(res.card, "UC2");
	tu_cardop(&e, OP_CARD_LOST, "U2", "UC2"); tu_author(&city, &e, 0);
	CHECK_EQ(replica_check_uid(city.r, uid, 4, util_now_ms(), &res), 0);
	CHECK_STR(policy_decision_name(res.decision), "lost");
	printf("replica: UID collisions ok\n");
}

/* What the connection handshake takes from a replica: the deployment's
 * network key (equal on every node of one deployment, nowhere else) and the
 * node's own certificate. */
static void test_handshake_material(void)
{
	struct tu_deploy other;
	struct tu_node x;
	uint8_t ka[32], kb[32], kx[32], zero[32] = {0}, buf[CERT_MAX];
	struct cert c;
	const char *why;
	size_t len;

	CHECK_EQ(replica_network_key(a.r, ka), 0);
	CHECK_EQ(replica_network_key(b.r, kb), 0);
	CHECK_MEM(ka, kb, 32);
	CHECK(memcmp(ka, zero, 32) != 0);
	CHECK(memcmp(ka, dep.secret, 32) != 0);
	tu_deploy_init(&other);
	tu_node_init(&other, &x, "otherdep", ROLE_CITY, "110000", false);
	CHECK_EQ(replica_network_key(x.r, kx), 0);
	CHECK(memcmp(ka, kx, 32) != 0);
	CHECK_EQ(replica_own_cert(x.r, util_now_ms(), buf, sizeof buf, &len),
		 CN_ERR_NOTFOUND);
	tu_node_close(&x);
	CHECK_EQ(replica_own_cert(a.r, util_now_ms(), buf, sizeof buf, &len), 0);
	CHECK_EQ(authority_cert_open(buf, len, dep.root_pk, &c, &why), 0);
	CHECK_MEM(c.node, a.id, 32);
	CHECK_EQ(c.role, ROLE_SCHOOL);
	printf("replica: network key and own certificate ok\n");
}

/* A store whose map is far too small grows and replays, losing nothing. */
static void test_map_growth(void)
{
	struct tu_node n;
	struct entry *ops = calloc(500, sizeof *ops);
	struct replica_counts cnt;
	uint8_t d[32];
	char prob[256];

	CHECK(ops != NULL);
	setenv("CARDNODE_MAP_SIZE", "65536", 1);
	tu_node_init(&dep, &n, "tinymap", ROLE_CITY, "110000", true);
	for (int batch = 0; batch < 8; batch++) {
		size_t bad;
		enum fold_reason why;
		for (int i = 0; i < 500; i++) {
			char edu[16];
			snprintf(edu, sizeof edu, "M%d", batch * 500 + i);
			tu_put(&ops[i], edu, "大量学生的名字", SCHOOL_A);
		}
		CHECK_EQ(replica_author(n.r, ops, 500, &bad, &why), 0);
	}
	CHECK_EQ(replica_verify(n.r, d, &cnt, prob, sizeof prob), 0);
	CHECK_EQ(cnt.students, 4000);
	CHECK_EQ(cnt.entries, 4000);
	unsetenv("CARDNODE_MAP_SIZE");
	tu_node_close(&n);
	free(ops);
	printf("replica: map growth with replay ok\n");
}

/* A view answers checks from another thread while the owner commits and
 * grows the map. */
struct view_reader {
	struct replica *view;
	volatile bool stop;
	uint64_t checks, accepts;
	int err;
};

static void *view_thread(void *arg)
{
	struct view_reader *vr = arg;

	while (!vr->stop) {
		struct check_result res;
		uint8_t uid[4] = {0x04, 0, 0, 1};
		int rc = replica_check_uid(vr->view, uid, 4, util_now_ms(), &res);
		if (rc != 0) {
			vr->err = rc;
			break;
		}
		vr->checks++;
		vr->accepts += res.decision == DEC_ACCEPT;
	}
	return NULL;
}

static void test_view(void)
{
	struct tu_node n;
	struct view_reader vr = {0};
	struct entry *ops = calloc(500, sizeof *ops);
	struct check_result res;
	pthread_t th;

	CHECK(ops != NULL);
	setenv("CARDNODE_MAP_SIZE", "65536", 1);
	tu_node_init(&dep, &n, "view", ROLE_CITY, "110000", true);
	tu_put(&ops[0], "V1", "看门人", SCHOOL_A);
	tu_issue(&ops[1], "V1", "C1", 0x04000001);
	tu_author(&n, &ops[0], 0);
	tu_author(&n, &ops[1], 0);
	CHECK_EQ(replica_view_open(n.r, &vr.view), 0);
	CHECK_EQ(pthread_create(&th, NULL, view_thread, &vr), 0);
	for (int batch = 0; batch < 8; batch++) {
		size_t bad;
		enum fold_reason why;
		for (int i = 0; i < 500; i++) {
			char edu[16];
			snprintf(edu, sizeof edu, "W%d", batch * 500 + i);
			tu_put(&ops[i], edu, "并发读写的学生", SCHOOL_A);
		}
		CHECK_EQ(replica_author(n.r, ops, 500, &bad, &why), 0);
	}
	vr.stop = true;
	pthread_join(th, NULL);
	CHECK_EQ(vr.err, 0);
	CHECK(vr.checks > 0);
	CHECK_EQ(vr.accepts, vr.checks);
	/* The view sees what was committed since. */
	tu_cardop(&ops[0], OP_CARD_LOST, "V1", "C1");
	tu_author(&n, &ops[0], 0);
	CHECK_EQ(replica_check_card(vr.view, "C1", util_now_ms(), &res), 0);
	CHECK_EQ(res.decision, DEC_LOST);
	replica_close(vr.view);
	unsetenv("CARDNODE_MAP_SIZE");
	tu_node_close(&n);
	free(ops);
	printf("replica: a view reads from another thread during writes and "
	       "map growth (%" PRIu64 " checks)\n", vr.checks);
}

/* The photo digest of student.put: folded, kept by a later put without
 * it, replaced by one with another, synced, and part of the state digest. */
static void test_photo(void)
{
	struct entry e;
	struct student_state st;
	uint8_t d1[CN_KEY_LEN], d2[CN_KEY_LEN];
	struct replica_counts cnt;

	CHECK_EQ(replica_digest(city.r, d1, &cnt), 0);
	tu_put(&e, "S1", "张三", SCHOOL_A);
	memset(e.body.photo, 0x77, CN_KEY_LEN);
	e.body.has |= BF(BK_PHOTO);
	tu_author(&city, &e, 0);
	CHECK_EQ(replica_student(city.r, "S1", &st), 0);
	CHECK(st.has_photo);
	CHECK_EQ(st.photo[0], 0x77);
	CHECK_EQ(replica_digest(city.r, d2, &cnt), 0);
	CHECK(memcmp(d1, d2, CN_KEY_LEN) != 0);
	tu_put(&e, "S1", "张三", SCHOOL_A);
	tu_author(&city, &e, 0);
	CHECK_EQ(replica_student(city.r, "S1", &st), 0);
	CHECK(st.has_photo);
	CHECK_EQ(st.photo[31], 0x77);
	tu_put(&e, "S1", "张三", SCHOOL_A);
	memset(e.body.photo, 0x78, CN_KEY_LEN);
	e.body.has |= BF(BK_PHOTO);
	tu_author(&city, &e, 0);
	tu_sync(&city, &a);
	CHECK_EQ(replica_student(a.r, "S1", &st), 0);
	CHECK(st.has_photo);
	CHECK_EQ(st.photo[0], 0x78);
	printf("replica: photo digest folded, kept and synced ok\n");
}

int main(void)
{
	setup();
	test_basic_sync();
	test_scope();
	test_crafted_refused();
	test_late_cert();
	test_service_and_reader();
	test_transfer();
	test_revocation();
	test_order_and_ties();
	test_deny_wins_tie();
	test_fork_gap_badsig();
	test_behind();
	test_uid_collision();
	test_handshake_material();
	test_map_growth();
	test_view();
	test_photo();
	return 0;
}
