/*
 * test_sync.c — the sync protocol of a connection (replication/sync.h,
 * docs/protocol.md "Sync messages") between real replicas in temporary
 * directories, its messages moved in memory by pump(): bulk catch-up within
 * the 1 MiB message bound, both directions at once, relay along a line of
 * three nodes and the push of later changes, links cut after every few
 * messages and reconnected, certificates before entries, a replica that
 * lost its database, and malformed or out-of-order messages, which end the
 * session and leave the replica exactly as it was.  Prints the sync rate
 * for 200,000 entries (CN_SYNC_PERF_N overrides the count; 0 skips it).
 * CN_SYNC_SEEDS sets how many random mesh-with-cuts runs (default 6).
 */
#include "check.h"
#include "testutil.h"
#include "authority.h"
#include "cbor_rw.h"
#include "cn.h"
#include "entry.h"
#include "replica.h"
#include "sync.h"
#include "util.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

static struct tu_deploy D;

/* ---- replicas -------------------------------------------------------------- */

static void node_new(struct tu_node *n, const char *tag)
{
	tu_node_init(&D, n, tag, ROLE_CITY, "110000", true);
}

/* Students prefix+first … prefix+(first+count-1), one student.put each,
 * `per_call` per replica_author call (each call signs its last entry, and
 * the core every CN_SIGN_EVERY-th). */
static void author_bulk(struct tu_node *n, char prefix, int first, int count,
			int per_call)
{
	struct entry *ops = calloc((size_t)per_call, sizeof *ops);

	CHECK(ops != NULL);
	for (int s = first; s < first + count; s += per_call) {
		int k = first + count - s < per_call ? first + count - s : per_call;
		size_t bad = 0;
		enum fold_reason why = FR_APPLIED;
		int rc;

		for (int i = 0; i < k; i++) {
			char edu[24], name[32];

			snprintf(edu, sizeof edu, "%c%07d", prefix, s + i);
			snprintf(name, sizeof name, "Student %d", s + i);
			tu_put(&ops[i], edu, name, "110105-0001");
		}
		rc = replica_author(n->r, ops, (size_t)k, &bad, &why);
		if (rc != 0)
			fprintf(stderr, "replica_author: %s (%zu: %s)\n",
				cn_strerror(rc), bad, fold_reason_name(why));
		CHECK_EQ(rc, 0);
	}
	free(ops);
}

static uint64_t entries_of(struct tu_node *n)
{
	struct replica_counts c;
	uint8_t d[32];

	CHECK_EQ(replica_digest(n->r, d, &c), 0);
	return c.entries;
}

static void verify_ok(struct tu_node *n)
{
	uint8_t d[32], d2[32];
	struct replica_counts c;
	char problem[256] = "";
	int rc = replica_verify(n->r, d, &c, problem, sizeof problem);

	if (rc != 0)
		fprintf(stderr, "replica_verify %s: %s\n", n->dir, problem);
	CHECK_EQ(rc, 0);
	CHECK_EQ(replica_digest(n->r, d2, NULL), 0);
	CHECK_MEM(d, d2, 32);
}

static void same_state(struct tu_node *a, struct tu_node *b)
{
	char da[65], db[65];

	tu_digest(a, da);
	tu_digest(b, db);
	CHECK_STR(da, db);
	CHECK_EQ(entries_of(a), entries_of(b));
}

/* ---- the in-memory network --------------------------------------------------- */

#define QMAX 64
#define TYPES_MAX 4096

struct qmsg {
	uint8_t *p;
	size_t len;
};

/* Messages one way, handed out by sync_next and not yet delivered. */
struct dirq {
	struct qmsg q[QMAX];
	size_t head, n;
	char types[TYPES_MAX + 1]; /* type digits of what was delivered */
	size_t ntypes;
};

struct end {
	struct sync_session *s;
	struct tu_node *n;
};

struct link {
	struct end e[2];
	struct dirq q[2];   /* q[0]: e[0] → e[1], q[1]: e[1] → e[0] */
	struct sync_limits lim;
};

struct net {
	struct link *l[4];
	size_t nl;
	size_t window;      /* messages in flight each way */
	size_t step;        /* delivered each way per round */
	long budget;        /* deliveries before the link is cut; < 0: none */
	size_t max_len;     /* longest message seen */
	uint64_t delivered;
};

static void net_init(struct net *nt, size_t window, size_t step)
{
	memset(nt, 0, sizeof *nt);
	nt->window = window;
	nt->step = step;
	nt->budget = -1;
}

/* A node whose sessions share a view (sync_set_view), as the daemon's do. */
static struct tu_node *hub;
static struct sync_view *hub_view;

static void link_open(struct net *nt, struct link *l, struct tu_node *a,
		      struct tu_node *b, const struct sync_limits *lim)
{
	memset(l, 0, sizeof *l);
	if (lim != NULL)
		l->lim = *lim;
	l->e[0].n = a;
	l->e[1].n = b;
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(sync_open(&l->e[i].s, l->e[i].n->r, lim), 0);
		if (l->e[i].n == hub)
			CHECK_EQ(sync_set_view(l->e[i].s, hub_view), 0);
		CHECK_EQ(sync_start(l->e[i].s), 0);
	}
	nt->l[nt->nl++] = l;
}

/* Cut the link: what is in flight is lost, both sessions end. */
static void link_cut(struct link *l)
{
	for (int d = 0; d < 2; d++) {
		struct dirq *q = &l->q[d];

		while (q->n > 0) {
			free(q->q[q->head].p);
			q->head = (q->head + 1) % QMAX;
			q->n--;
		}
		sync_close(l->e[d].s);
		l->e[d].s = NULL;
	}
}

static void net_cut(struct net *nt)
{
	for (size_t i = 0; i < nt->nl; i++)
		link_cut(nt->l[i]);
	nt->nl = 0;
}

/* After a node ingested (ENTRIES, CERTS): what the daemon does — tell every
 * session of that replica, the receiving one included. */
static void changed(struct net *nt, struct tu_node *n)
{
	if (n == hub)
		CHECK_EQ(sync_view_refresh(hub_view), 0);
	for (size_t i = 0; i < nt->nl; i++)
		for (int d = 0; d < 2; d++)
			if (nt->l[i]->e[d].n == n)
				CHECK_EQ(sync_local_changed(nt->l[i]->e[d].s), 0);
}

/* Move messages until nothing moves (0), or until the budget of
 * deliveries is spent (1). */
static int pump(struct net *nt)
{
	for (;;) {
		bool progress = false;

		for (size_t li = 0; li < nt->nl; li++) {
			struct link *l = nt->l[li];

			for (int d = 0; d < 2; d++) {
				struct end *from = &l->e[d], *to = &l->e[1 - d];
				struct dirq *q = &l->q[d];
				size_t lmax = l->lim.max_msg ? l->lim.max_msg : SYNC_MSG_MAX;

				while (q->n < nt->window) {
					uint8_t *m;
					size_t len;
					int rc = sync_next(from->s, &m, &len);

					if (rc != 0)
						fprintf(stderr, "sync_next: %s\n",
							sync_error(from->s));
					CHECK_EQ(rc, 0);
					if (m == NULL)
						break;
					CHECK(len > 1 && len <= lmax && len <= SYNC_MSG_MAX);
					if (len > nt->max_len)
						nt->max_len = len;
					q->q[(q->head + q->n) % QMAX] = (struct qmsg){m, len};
					q->n++;
					progress = true;
				}
				for (size_t k = 0; k < nt->step && q->n > 0; k++) {
					struct qmsg m = q->q[q->head];
					uint8_t type = m.p[1];
					int rc;

					if (nt->budget == 0)
						return 1;
					q->head = (q->head + 1) % QMAX;
					q->n--;
					rc = sync_receive(to->s, m.p, m.len);
					if (rc != 0)
						fprintf(stderr, "sync_receive: %s\n",
							sync_error(to->s));
					CHECK_EQ(rc, 0);
					free(m.p);
					if (q->ntypes < TYPES_MAX)
						q->types[q->ntypes++] = (char)('0' + type);
					nt->delivered++;
					if (nt->budget > 0)
						nt->budget--;
					if (type == SYNC_ENTRIES || type == SYNC_CERTS)
						changed(nt, to->n);
					progress = true;
				}
			}
		}
		if (!progress)
			return 0;
	}
}

static void all_caught_up_at(struct net *nt, int line)
{
	for (size_t i = 0; i < nt->nl; i++)
		for (int d = 0; d < 2; d++) {
			struct sync_stats st;

			if (sync_caught_up(nt->l[i]->e[d].s))
				continue;
			sync_stats(nt->l[i]->e[d].s, &st);
			fprintf(stderr, "line %d: link %zu end %d not caught up "
				"(sent %" PRIu64 ", received %" PRIu64 ", applied %" PRIu64
				", dropped %" PRIu64 ", gap %" PRIu64 ", unverified %" PRIu64
				", held %" PRIu64 ": %s)\n",
				line, i, d, st.entries_sent, st.entries_received,
				st.ingest.applied, st.entries_dropped, st.ingest.gap,
				st.ingest.unverified, st.ingest.held, st.ingest.problem);
			exit(1);
		}
}
#define all_caught_up(nt) all_caught_up_at((nt), __LINE__)

/* ---- (1) bulk catch-up ------------------------------------------------------- */

static void test_bulk(void)
{
	struct tu_node A, B;
	struct net nt;
	struct link l;
	struct sync_stats sa, sb;

	node_new(&A, "bulk-a");
	node_new(&B, "bulk-b");
	/* 20,000 entries in calls of 7,000, 5,000, 5,000 and 3,000: signed at
	 * every 4096th seq and at the end of every call. */
	author_bulk(&A, 'A', 0, 7000, 7000);
	author_bulk(&A, 'A', 7000, 10000, 5000);
	author_bulk(&A, 'A', 17000, 3000, 3000);
	CHECK_EQ(entries_of(&A), 20000);

	net_init(&nt, 4, 1);
	link_open(&nt, &l, &A, &B, NULL);
	CHECK(!sync_caught_up(l.e[0].s));
	CHECK_EQ(pump(&nt), 0);
	same_state(&A, &B);
	all_caught_up(&nt);
	CHECK(nt.max_len <= SYNC_MSG_MAX);
	sync_stats(l.e[0].s, &sa);
	sync_stats(l.e[1].s, &sb);
	CHECK_EQ(sa.entries_sent, 20000);     /* nothing sent twice */
	CHECK_EQ(sb.entries_received, 20000);
	CHECK_EQ(sb.ingest.applied, 20000);
	CHECK_EQ(sb.ingest.refused, 0);
	CHECK_EQ(sb.entries_dropped, 0);
	CHECK(sb.commits >= 5);               /* ≤ 4096 entries a message */
	CHECK_EQ(sb.certs_new, 1);            /* A's certificate */
	CHECK_EQ(sa.certs_new, 1);            /* B's */
	CHECK_EQ(sa.haves_received, sb.haves_sent);
	CHECK_MEM(sb.peer_node, A.id, 32);
	CHECK(sa.hello_sent && sa.hello_received);
	CHECK_EQ(sa.last_error, 0);
	CHECK_STR(sync_error(l.e[0].s), "");
	verify_ok(&B);
	printf("bulk: 20000 entries in %" PRIu64 " messages to B, longest message %zu bytes\n",
	       sa.msgs_sent, nt.max_len);

	/* Caught up, the link stays quiet; a later change is pushed at once. */
	CHECK_EQ(pump(&nt), 0);
	author_bulk(&A, 'A', 20000, 5, 5);
	changed(&nt, &A);
	CHECK(!sync_caught_up(l.e[0].s));
	CHECK_EQ(pump(&nt), 0);
	same_state(&A, &B);
	all_caught_up(&nt);
	sync_stats(l.e[0].s, &sa);
	CHECK_EQ(sa.entries_sent, 20005);
	net_cut(&nt);
	tu_node_close(&A);
	tu_node_close(&B);
}

/* ---- (2) both sides have new entries ------------------------------------------ */

static void test_bidirectional(void)
{
	struct tu_node A, B;
	struct net nt;
	struct link l;
	struct sync_limits lim = {.max_entries = 256};
	struct entry e;
	struct sync_stats sa, sb;

	node_new(&A, "bidi-a");
	node_new(&B, "bidi-b");
	author_bulk(&A, 'A', 0, 3000, 1000);
	author_bulk(&B, 'B', 0, 2000, 700);
	/* The same student written on both sides: last writer wins. */
	tu_put(&e, "S0000001", "Name from A", "110105-0001");
	tu_author(&A, &e, 0);
	tu_put(&e, "S0000001", "Name from B", "110105-0001");
	tu_author(&B, &e, 0);

	net_init(&nt, 2, 1);     /* small steps, interleaved */
	link_open(&nt, &l, &A, &B, &lim);
	CHECK_EQ(pump(&nt), 0);
	same_state(&A, &B);
	CHECK_EQ(entries_of(&A), 5002);
	all_caught_up(&nt);
	sync_stats(l.e[0].s, &sa);
	sync_stats(l.e[1].s, &sb);
	CHECK_EQ(sa.entries_sent, 3001);
	CHECK_EQ(sb.entries_sent, 2001);
	CHECK_EQ(sa.ingest.applied, 2001);
	CHECK_EQ(sb.ingest.applied, 3001);
	/* Runs cut before their signature (256 entries a message, signed
	 * every 1000 / 700) waited for it: fewer commits than ENTRIES. */
	{
		size_t n3 = 0;

		for (const char *t = l.q[0].types; *t; t++)
			n3 += *t == '0' + SYNC_ENTRIES;
		CHECK(n3 >= 12);
		CHECK(sb.commits < n3);
	}
	CHECK_EQ(sa.entries_dropped + sb.entries_dropped, 0);
	verify_ok(&A);
	verify_ok(&B);
	net_cut(&nt);
	tu_node_close(&A);
	tu_node_close(&B);
}

/* ---- (3) relay along A — B — C ---------------------------------------------- */

static enum decision check_card(struct tu_node *n, const char *card)
{
	struct check_result res;
	int rc = replica_check_card(n->r, card, util_now_ms(), &res);

	if (rc == CN_ERR_NOTFOUND)
		return DEC_UNKNOWN;
	CHECK_EQ(rc, 0);
	return res.decision;
}

static void test_relay(void)
{
	struct tu_node A, B, C;
	struct net nt;
	struct link ab, bc;
	struct entry e;

	node_new(&A, "relay-a");
	node_new(&B, "relay-b");
	node_new(&C, "relay-c");
	tu_put(&e, "R0000001", "Relayed Student", "110105-0001");
	tu_author(&A, &e, 0);
	tu_issue(&e, "R0000001", "C000000001", 0x11223344);
	tu_author(&A, &e, 0);

	net_init(&nt, 4, 1);
	link_open(&nt, &ab, &A, &B, NULL);
	link_open(&nt, &bc, &B, &C, NULL);
	CHECK_EQ(pump(&nt), 0);
	CHECK_EQ(check_card(&C, "C000000001"), DEC_ACCEPT);
	/* A's certificate reached C through B, before A's entries. */
	CHECK(authority_cert_of(replica_authority(C.r), A.id, util_now_ms()) != NULL);
	all_caught_up(&nt);

	/* A reports the card lost: pushed A → B, relayed B → C. */
	tu_cardop(&e, OP_CARD_LOST, "R0000001", "C000000001");
	tu_author(&A, &e, 0);
	CHECK_EQ(sync_local_changed(ab.e[0].s), 0);
	CHECK_EQ(pump(&nt), 0);
	CHECK_EQ(check_card(&B, "C000000001"), DEC_LOST);
	CHECK_EQ(check_card(&C, "C000000001"), DEC_LOST);
	same_state(&A, &C);
	same_state(&B, &C);
	all_caught_up(&nt);

	/* And back: C finds it, A hears of it through B. */
	tu_cardop(&e, OP_CARD_FOUND, "R0000001", "C000000001");
	tu_author(&C, &e, 0);
	changed(&nt, &C);
	CHECK_EQ(pump(&nt), 0);
	CHECK_EQ(check_card(&A, "C000000001"), DEC_ACCEPT);
	same_state(&A, &C);
	all_caught_up(&nt);
	verify_ok(&A);
	verify_ok(&B);
	verify_ok(&C);
	net_cut(&nt);
	tu_node_close(&A);
	tu_node_close(&B);
	tu_node_close(&C);
}

/* Three nodes, every pair linked, all writing: each origin reaches each
 * node by two paths at once (duplicates, runs overtaken by the other
 * path); all converge. */
static void mesh_run(size_t window, size_t step, size_t max_entries)
{
	struct tu_node A, B, C;
	struct net nt;
	struct link ab, bc, ca;
	struct sync_limits lim = {.max_entries = max_entries};

	node_new(&A, "mesh-a");
	node_new(&B, "mesh-b");
	node_new(&C, "mesh-c");
	author_bulk(&A, 'A', 0, 1500, 500);
	author_bulk(&B, 'B', 0, 1200, 400);
	author_bulk(&C, 'C', 0, 900, 900);
	net_init(&nt, window, step);
	link_open(&nt, &ab, &A, &B, &lim);
	link_open(&nt, &bc, &B, &C, &lim);
	link_open(&nt, &ca, &C, &A, &lim);
	CHECK_EQ(pump(&nt), 0);
	same_state(&A, &B);
	same_state(&B, &C);
	CHECK_EQ(entries_of(&A), 3600);
	all_caught_up(&nt);
	/* More while connected. */
	author_bulk(&B, 'B', 1200, 300, 150);
	changed(&nt, &B);
	author_bulk(&C, 'C', 900, 10, 1);
	changed(&nt, &C);
	CHECK_EQ(pump(&nt), 0);
	same_state(&A, &B);
	same_state(&B, &C);
	CHECK_EQ(entries_of(&A), 3910);
	all_caught_up(&nt);
	verify_ok(&A);
	verify_ok(&B);
	verify_ok(&C);
	net_cut(&nt);
	tu_node_close(&A);
	tu_node_close(&B);
	tu_node_close(&C);
}

/* The mesh again, all links cut after a random number of deliveries and
 * reconnected, several times, while the nodes keep writing. */
static void mesh_cuts(uint64_t seed)
{
	struct tu_node n[3];
	struct net nt;
	struct link l[3];
	struct sync_limits lim = {.max_entries = 64};
	struct tu_rng rng;
	int written[3] = {0, 0, 0}, round = 0;

	tu_rng_seed(&rng, seed);
	node_new(&n[0], "meshcut-a");
	node_new(&n[1], "meshcut-b");
	node_new(&n[2], "meshcut-c");
	for (;;) {
		int rc;

		for (int i = 0; i < 3 && round < 6; i++) {
			int k = (int)tu_rng_below(&rng, 400);

			if (k > 0)
				author_bulk(&n[i], (char)('A' + i), written[i], k,
					    1 + (int)tu_rng_below(&rng, 300));
			written[i] += k;
		}
		net_init(&nt, 1 + tu_rng_below(&rng, 6), 1 + tu_rng_below(&rng, 3));
		nt.budget = round < 6 ? (long)tu_rng_below(&rng, 60) : -1;
		link_open(&nt, &l[0], &n[0], &n[1], &lim);
		link_open(&nt, &l[1], &n[1], &n[2], &lim);
		link_open(&nt, &l[2], &n[2], &n[0], &lim);
		rc = pump(&nt);
		round++;
		if (rc == 0)
			break;
		net_cut(&nt);
	}
	same_state(&n[0], &n[1]);
	same_state(&n[1], &n[2]);
	CHECK_EQ(entries_of(&n[0]), (uint64_t)(written[0] + written[1] + written[2]));
	all_caught_up(&nt);
	for (int i = 0; i < 3; i++) {
		verify_ok(&n[i]);
	}
	net_cut(&nt);
	for (int i = 0; i < 3; i++)
		tu_node_close(&n[i]);
}

static void test_mesh(void)
{
	const char *env = getenv("CN_SYNC_SEEDS");
	uint64_t seeds = env != NULL ? strtoull(env, NULL, 10) : 6;

	for (uint64_t seed = 1; seed <= seeds; seed++)
		mesh_cuts(seed);

	mesh_run(3, 1, 100);
	mesh_run(1, 1, 37);
	mesh_run(8, 3, 100);
	mesh_run(16, 16, 0);
}

/* ---- (4) links cut after K messages ------------------------------------------ */

static void test_cuts(void)
{
	static const long ks[] = {0, 1, 2, 3, 4, 5, 7, 10, 15, 25, 40};
	struct sync_limits lim = {.max_msg = 64u << 10, .max_entries = 128};
	uint64_t total_msgs = 0;

	for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
		struct tu_node X, Y;
		struct net nt;
		struct link l;
		int cuts = 0;

		node_new(&X, "cut-x");
		node_new(&Y, "cut-y");
		author_bulk(&X, 'X', 0, 3000, 1000);
		author_bulk(&X, 'X', 3000, 300, 7);
		author_bulk(&Y, 'Y', 0, 1200, 600);

		/* Cut after K deliveries, three times, then let it finish. */
		for (;;) {
			int rc;

			net_init(&nt, 3, 1);
			nt.budget = cuts < 3 ? ks[i] : -1;
			link_open(&nt, &l, &X, &Y, &lim);
			rc = pump(&nt);
			total_msgs += nt.delivered;
			if (rc == 0)
				break;
			net_cut(&nt);
			cuts++;
		}
		same_state(&X, &Y);
		CHECK_EQ(entries_of(&X), 4500);
		all_caught_up(&nt);
		verify_ok(&X);
		verify_ok(&Y);
		net_cut(&nt);
		tu_node_close(&X);
		tu_node_close(&Y);
	}
	printf("cuts: %zu runs converged (%" PRIu64 " messages delivered)\n",
	       sizeof ks / sizeof ks[0], total_msgs);
}

/* ---- (5) certificates first --------------------------------------------------- */

static void test_certs(void)
{
	struct tu_node X, Y, W;
	struct net nt;
	struct link l;
	struct revocation rv;
	uint8_t zid[32], buf[CERT_MAX];
	size_t len;
	const char *why = NULL;
	struct sync_stats sy;
	struct student_state st;
	const char *types;

	node_new(&X, "certs-x");
	node_new(&Y, "certs-y");
	/* A revocation X holds and Y lacks. */
	randombytes_buf(zid, sizeof zid);
	memset(&rv, 0, sizeof rv);
	memcpy(rv.node, zid, 32);
	rv.valid_through_seq = 7;
	rv.time = util_now_ms();
	CHECK_EQ(authority_revocation_sign(&rv, D.root_sk, buf, sizeof buf, &len), 0);
	CHECK_EQ(replica_revocation_install(X.r, buf, len, &why), 0);
	author_bulk(&X, 'X', 0, 500, 250);
	CHECK(authority_cert_of(replica_authority(Y.r), X.id, util_now_ms()) == NULL);

	net_init(&nt, 8, 8);
	link_open(&nt, &l, &X, &Y, NULL);
	CHECK_EQ(pump(&nt), 0);
	sync_stats(l.e[1].s, &sy);
	CHECK_EQ(sy.certs_new, 1);
	CHECK_EQ(sy.revocations_new, 1);
	CHECK_EQ(sy.ingest.applied, 500);     /* took effect: none refused */
	CHECK_EQ(sy.ingest.refused, 0);
	CHECK(authority_cert_of(replica_authority(Y.r), X.id, util_now_ms()) != NULL);
	CHECK_EQ(authority_revoked_after(replica_authority(Y.r), zid), 7);
	CHECK_EQ(replica_student(Y.r, "X0000042", &st), 0);
	/* X → Y: HELLO, then CERTS, then ENTRIES. */
	types = l.q[0].types;
	CHECK(types[0] == '1' && types[1] == '2');
	CHECK(strchr(types, '3') != NULL && strchr(types, '3') > strchr(types, '2'));
	CHECK(strrchr(types, '2') < strchr(types, '3'));
	same_state(&X, &Y);
	all_caught_up(&nt);

	/* Later: X learns W's certificate and entries (from elsewhere) and
	 * pushes both to Y, the certificate first. */
	node_new(&W, "certs-w");
	author_bulk(&W, 'W', 0, 20, 20);
	tu_sync(&W, &X);
	changed(&nt, &X);
	CHECK_EQ(pump(&nt), 0);
	sync_stats(l.e[1].s, &sy);
	CHECK_EQ(sy.certs_new, 2);
	CHECK_EQ(sy.ingest.applied, 520);
	CHECK_EQ(sy.ingest.refused, 0);
	same_state(&X, &Y);
	all_caught_up(&nt);
	verify_ok(&Y);
	net_cut(&nt);
	tu_node_close(&X);
	tu_node_close(&Y);
	tu_node_close(&W);
}

/* ---- (6) a peer that lost its database ------------------------------------------ */

static void copy_file(const char *from, const char *to)
{
	uint8_t *buf;
	size_t len;

	CHECK_EQ(util_read_file(from, 4096, &buf, &len), 0);
	CHECK_EQ(util_write_file(to, buf, len, 0600, false), 0);
	free(buf);
}

static void test_lost_database(void)
{
	struct tu_node F, Z, Z2, N;
	struct net nt;
	struct link l;
	struct sync_stats s1, s2;
	struct replica_info zi, z2i;
	char path[600], path2[600], err[256];
	struct entry e;

	node_new(&F, "lost-f");
	node_new(&Z, "lost-z");
	author_bulk(&F, 'F', 0, 2500, 2500);
	author_bulk(&Z, 'Z', 0, 300, 100);
	net_init(&nt, 4, 2);
	link_open(&nt, &l, &F, &Z, NULL);
	CHECK_EQ(pump(&nt), 0);
	same_state(&F, &Z);
	sync_stats(l.e[0].s, &s1);
	net_cut(&nt);

	/* A new, empty replica gets everything. */
	node_new(&N, "lost-n");
	net_init(&nt, 4, 2);
	link_open(&nt, &l, &F, &N, NULL);
	CHECK_EQ(pump(&nt), 0);
	same_state(&F, &N);
	all_caught_up(&nt);
	verify_ok(&N);
	net_cut(&nt);

	/* Z loses its database: a fresh data dir with Z's identity key (a new
	 * replica-instance id).  F last saw Z holding everything; the new
	 * HELLO is believed, and Z gets all back, its own entries too. */
	replica_info(Z.r, &zi);
	node_new(&Z2, "lost-z2");
	tu_node_close(&Z2);
	snprintf(path, sizeof path, "%s/identity.key", Z.dir);
	snprintf(path2, sizeof path2, "%s/identity.key", Z2.dir);
	copy_file(path, path2);
	tu_node_close(&Z);
	CHECK_EQ(replica_open(Z2.dir, 0, &Z2.r, err, sizeof err), 0);
	memcpy(Z2.id, Z.id, 32);
	replica_info(Z2.r, &z2i);
	CHECK_MEM(z2i.node, zi.node, 32);
	CHECK(memcmp(z2i.instance, zi.instance, 16) != 0);
	CHECK_EQ(entries_of(&Z2), 0);

	net_init(&nt, 4, 2);
	link_open(&nt, &l, &F, &Z2, NULL);
	CHECK_EQ(pump(&nt), 0);
	sync_stats(l.e[0].s, &s2);
	CHECK_MEM(s2.peer_node, s1.peer_node, 32);
	CHECK(memcmp(s2.peer_instance, s1.peer_instance, 16) != 0);
	CHECK_EQ(s2.entries_sent, 2800);
	same_state(&F, &Z2);
	CHECK_EQ(replica_head(Z2.r, Z.id), 300);
	all_caught_up(&nt);
	/* Its log back, Z authors on from seq 301 (no fork). */
	tu_put(&e, "Z0000999", "After restore", "110105-0001");
	tu_author(&Z2, &e, 0);
	changed(&nt, &Z2);
	CHECK_EQ(pump(&nt), 0);
	CHECK_EQ(replica_head(F.r, Z.id), 301);
	same_state(&F, &Z2);
	verify_ok(&Z2);
	verify_ok(&F);
	net_cut(&nt);
	tu_node_close(&F);
	tu_node_close(&Z2);
	tu_node_close(&N);
}

/* ---- (7) malformed and out-of-order messages ----------------------------------- */

static struct tu_node MX, MY, MW;           /* MY receives */
static uint8_t *hello_x, *certs_x, *entries_x;
static size_t hello_len, certs_len, entries_len;
static char digest0[65];

struct wires {
	uint8_t *buf[64];
	size_t len[64];
	size_t n;
};

static int wires_cb(void *ctx, uint64_t seq, const uint8_t *wire, size_t len)
{
	struct wires *w = ctx;

	(void)seq;
	CHECK(w->n < 64);
	w->buf[w->n] = malloc(len);
	CHECK(w->buf[w->n] != NULL);
	memcpy(w->buf[w->n], wire, len);
	w->len[w->n++] = len;
	return 0;
}

/* ENTRIES [3, origin, first, [wires idx…]] (count may lie: n_claim). */
static uint8_t *mk_entries(const uint8_t origin[32], uint64_t first,
			   const struct wires *w, const int *idx, size_t n,
			   size_t n_claim, size_t *len)
{
	struct cbor_wr c;
	uint8_t *p;

	cbw_init_grow(&c);
	cbw_array(&c, 4);
	cbw_uint(&c, SYNC_ENTRIES);
	cbw_bstr(&c, origin, 32);
	cbw_uint(&c, first);
	cbw_array(&c, n_claim);
	for (size_t i = 0; i < n; i++)
		cbw_raw(&c, w->buf[idx[i]], w->len[idx[i]]);
	p = cbw_take(&c, len);
	CHECK(p != NULL);
	return p;
}

/* A fresh session on MY: the peer's HELLO (unless !hello), then `msg`,
 * which must fail with `want` (any error when want is 0).  MY unchanged. */
static void expect_fail(bool hello, const uint8_t *msg, size_t len, int want,
			const char *what)
{
	struct sync_session *s;
	uint8_t *out;
	size_t olen;
	char d[65];
	int rc;

	CHECK_EQ(sync_open(&s, MY.r, NULL), 0);
	CHECK_EQ(sync_start(s), 0);
	if (hello)
		CHECK_EQ(sync_receive(s, hello_x, hello_len), 0);
	rc = sync_receive(s, msg, len);
	if (rc == 0 || (want != 0 && rc != want)) {
		fprintf(stderr, "%s: sync_receive gave %d (%s), wanted %d\n",
			what, rc, sync_error(s), want);
		exit(1);
	}
	CHECK(sync_error(s)[0] != '\0');
	CHECK(!sync_caught_up(s));
	CHECK_EQ(sync_next(s, &out, &olen), rc);      /* sticky */
	CHECK(out == NULL);
	CHECK_EQ(sync_receive(s, hello_x, hello_len), rc);
	sync_close(s);
	tu_digest(&MY, d);
	CHECK_STR(d, digest0);
}

static void capture_valid(void)
{
	struct sync_session *sx, *sy;
	uint8_t *m;
	size_t len;

	CHECK_EQ(sync_open(&sx, MX.r, NULL), 0);
	CHECK_EQ(sync_open(&sy, MY.r, NULL), 0);
	CHECK_EQ(sync_start(sx), 0);
	CHECK_EQ(sync_start(sy), 0);
	CHECK_EQ(sync_next(sx, &hello_x, &hello_len), 0);
	CHECK_EQ(sync_next(sy, &m, &len), 0);
	CHECK_EQ(sync_receive(sx, m, len), 0);
	free(m);
	CHECK_EQ(sync_next(sx, &certs_x, &certs_len), 0);
	CHECK_EQ(certs_x[1], SYNC_CERTS);
	CHECK_EQ(sync_next(sx, &entries_x, &entries_len), 0);
	CHECK_EQ(entries_x[1], SYNC_ENTRIES);
	CHECK_EQ(sync_next(sx, &m, &len), 0);
	CHECK(m == NULL);                             /* all 20 in one */
	sync_close(sx);
	sync_close(sy);
}

static uint8_t *dup_msg(const uint8_t *p, size_t len)
{
	uint8_t *d = malloc(len ? len : 1);

	CHECK(d != NULL);
	memcpy(d, p, len);
	return d;
}

static void test_malformed(void)
{
	struct wires w = {0}, ww = {0};
	uint8_t *m, big_hdr[64];
	size_t len;
	struct cbor_wr c;
	int idx[20];

	node_new(&MX, "bad-x");
	node_new(&MY, "bad-y");
	node_new(&MW, "bad-w");
	author_bulk(&MX, 'X', 0, 10, 10);
	author_bulk(&MX, 'X', 10, 10, 10);
	author_bulk(&MW, 'W', 0, 3, 3);
	tu_digest(&MY, digest0);
	capture_valid();
	CHECK_EQ(replica_log_walk(MX.r, MX.id, 1, 0, wires_cb, &w), 0);
	CHECK_EQ(replica_log_walk(MW.r, MW.id, 1, 0, wires_cb, &ww), 0);
	CHECK_EQ(w.n, 20);
	for (int i = 0; i < 20; i++)
		idx[i] = i;

	/* Every truncation of a valid ENTRIES. */
	for (size_t k = 0; k < entries_len; k++) {
		m = dup_msg(entries_x, k);
		expect_fail(true, m, k, 0, "truncated ENTRIES");
		free(m);
	}
	/* … and with bytes after it. */
	m = malloc(entries_len + 1);
	CHECK(m != NULL);
	memcpy(m, entries_x, entries_len);
	m[entries_len] = 0;
	expect_fail(true, m, entries_len + 1, CN_ERR_MALFORMED, "trailing byte");
	free(m);

	/* Unknown types, not an array, wrong arity. */
	{
		static const uint8_t t99[] = {0x82, 0x18, 99, 0x01};
		static const uint8_t t99b[] = {0x81, 0x18, 99};
		static const uint8_t t0[] = {0x82, 0x00, 0x01};
		static const uint8_t notarr[] = {0xa0};
		static const uint8_t empty_arr[] = {0x80};
		static const uint8_t ping3[] = {0x83, 0x05, 0x01, 0x02};
		static const uint8_t have_early[] = {0x82, 0x04, 0xa0};
		static const uint8_t pong[] = {0x82, 0x06, 0x07};
		static const uint8_t ping_neg[] = {0x82, 0x05, 0x20};
		static const uint8_t certs_empty[] = {0x83, 0x02, 0x80, 0x80};
		static const uint8_t have_empty[] = {0x82, 0x04, 0xa0};

		expect_fail(true, t99, sizeof t99, CN_ERR_MALFORMED, "type 99");
		expect_fail(false, t99b, sizeof t99b, CN_ERR_MALFORMED, "type 99 first");
		expect_fail(true, t0, sizeof t0, CN_ERR_MALFORMED, "type 0");
		expect_fail(true, notarr, sizeof notarr, CN_ERR_MALFORMED, "a map");
		expect_fail(true, empty_arr, sizeof empty_arr, CN_ERR_MALFORMED, "[]");
		expect_fail(true, (const uint8_t *)"", 0, CN_ERR_MALFORMED, "empty");
		expect_fail(true, ping3, sizeof ping3, CN_ERR_MALFORMED, "PING arity");
		expect_fail(true, ping_neg, sizeof ping_neg, CN_ERR_MALFORMED, "PING nonce");
		expect_fail(false, have_early, sizeof have_early, CN_ERR_MALFORMED,
			    "HAVE before HELLO");
		expect_fail(false, entries_x, entries_len, CN_ERR_MALFORMED,
			    "ENTRIES before HELLO");
		expect_fail(true, hello_x, hello_len, CN_ERR_MALFORMED, "second HELLO");
		expect_fail(true, pong, sizeof pong, CN_ERR_MALFORMED, "PONG without PING");
		expect_fail(true, certs_empty, sizeof certs_empty, CN_ERR_MALFORMED,
			    "empty CERTS");
		expect_fail(true, have_empty, sizeof have_empty, CN_ERR_MALFORMED,
			    "empty HAVE");
	}

	/* Oversized: more entries than a message may hold, a huge vector, a
	 * message over 1 MiB. */
	m = mk_entries(MX.id, 1, &w, idx, 20, SYNC_ENTRIES_MAX + 1, &len);
	expect_fail(true, m, len, CN_ERR_TOOBIG, "4097 entries");
	free(m);
	cbw_init_fixed(&c, big_hdr, sizeof big_hdr);
	cbw_array(&c, 6);
	cbw_uint(&c, SYNC_HELLO);
	cbw_bstr(&c, MX.id, 32);
	cbw_bstr(&c, MX.id, 16);
	cbw_map(&c, 1u << 30);
	CHECK_EQ(c.err, 0);
	expect_fail(false, big_hdr, c.len, CN_ERR_TOOBIG, "HELLO with 2^30 origins");
	m = calloc(SYNC_MSG_MAX + 1, 1);
	CHECK(m != NULL);
	memcpy(m, entries_x, entries_len);
	expect_fail(true, m, SYNC_MSG_MAX + 1, CN_ERR_TOOBIG, "over 1 MiB");
	free(m);

	/* Inconsistent ENTRIES. */
	{
		int gap[] = {0, 1, 3, 4, 5, 6, 7, 8, 9};
		int swap[] = {1, 0, 2, 3, 4, 5, 6, 7, 8, 9};
		int twice[] = {0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9};

		m = mk_entries(MX.id, 1, &w, gap, 9, 9, &len);
		expect_fail(true, m, len, CN_ERR_MALFORMED, "seq 3 missing");
		free(m);
		m = mk_entries(MX.id, 1, &w, swap, 10, 10, &len);
		expect_fail(true, m, len, CN_ERR_MALFORMED, "swapped");
		free(m);
		m = mk_entries(MX.id, 1, &w, twice, 11, 11, &len);
		expect_fail(true, m, len, CN_ERR_MALFORMED, "seq 1 twice");
		free(m);
		m = mk_entries(MX.id, 2, &w, idx, 10, 10, &len);
		expect_fail(true, m, len, CN_ERR_MALFORMED, "first_seq off by one");
		free(m);
		m = mk_entries(MX.id, 0, &w, idx, 10, 10, &len);
		expect_fail(true, m, len, CN_ERR_MALFORMED, "first_seq 0");
		free(m);
		m = mk_entries(MX.id, 1, &w, idx, 0, 0, &len);
		expect_fail(true, m, len, CN_ERR_MALFORMED, "no entries");
		free(m);
		m = mk_entries(MW.id, 1, &w, idx, 3, 3, &len);
		expect_fail(true, m, len, CN_ERR_MALFORMED, "header names another origin");
		free(m);
		/* W's entries 1..3 spliced into X's chunk at their seqs. */
		{
			struct wires mix = w;
			int three[] = {0, 1, 2};

			mix.buf[1] = ww.buf[1];
			mix.len[1] = ww.len[1];
			m = mk_entries(MX.id, 1, &mix, three, 3, 3, &len);
			expect_fail(true, m, len, CN_ERR_MALFORMED, "an entry of another origin");
			free(m);
		}
	}

	/* A certificate not signed by this deployment's root. */
	{
		struct tu_deploy D2;
		struct cert ce;
		uint8_t cb[CERT_MAX];
		size_t cl;

		tu_deploy_init(&D2);
		memset(&ce, 0, sizeof ce);
		memcpy(ce.node, MX.id, 32);
		snprintf(ce.name, sizeof ce.name, "intruder");
		ce.role = ROLE_CITY;
		snprintf(ce.scope, sizeof ce.scope, "110000");
		ce.not_before = 946684800000ull;
		ce.not_after = 7258118400000ull;
		ce.serial = 1;
		CHECK_EQ(authority_cert_sign(&ce, D2.root_sk, cb, sizeof cb, &cl), 0);
		cbw_init_grow(&c);
		cbw_array(&c, 3);
		cbw_uint(&c, SYNC_CERTS);
		cbw_array(&c, 1);
		cbw_bstr(&c, cb, cl);
		cbw_array(&c, 0);
		m = cbw_take(&c, &len);
		CHECK(m != NULL);
		expect_fail(true, m, len, CN_ERR_BADSIG, "foreign certificate");
		free(m);
		/* A bit flipped in the valid CERTS: nothing installed. */
		m = dup_msg(certs_x, certs_len);
		m[certs_len - 5] ^= 0x20;
		expect_fail(true, m, certs_len, 0, "flipped certificate");
		free(m);
		CHECK(authority_cert_of(replica_authority(MY.r), MX.id, util_now_ms()) == NULL);
	}

	/* HELLO with unsorted or zero items. */
	{
		uint8_t a[32], b[32];

		memset(a, 1, 32);
		memset(b, 2, 32);
		cbw_init_grow(&c);
		cbw_array(&c, 6);
		cbw_uint(&c, SYNC_HELLO);
		cbw_bstr(&c, MX.id, 32);
		cbw_bstr(&c, MX.id, 16);
		cbw_map(&c, 2);
		cbw_bstr(&c, b, 32);
		cbw_uint(&c, 5);
		cbw_bstr(&c, a, 32);
		cbw_uint(&c, 5);
		cbw_array(&c, 0);
		cbw_array(&c, 0);
		m = cbw_take(&c, &len);
		expect_fail(false, m, len, CN_ERR_MALFORMED, "unsorted vector");
		free(m);
		cbw_init_grow(&c);
		cbw_array(&c, 6);
		cbw_uint(&c, SYNC_HELLO);
		cbw_bstr(&c, MX.id, 32);
		cbw_bstr(&c, MX.id, 16);
		cbw_map(&c, 1);
		cbw_bstr(&c, a, 32);
		cbw_uint(&c, 0);
		cbw_array(&c, 0);
		cbw_array(&c, 0);
		m = cbw_take(&c, &len);
		expect_fail(false, m, len, CN_ERR_MALFORMED, "seq 0 in a vector");
		free(m);
		cbw_init_grow(&c);
		cbw_array(&c, 6);
		cbw_uint(&c, SYNC_HELLO);
		cbw_bstr(&c, MX.id, 32);
		cbw_bstr(&c, MX.id, 16);
		cbw_map(&c, 0);
		cbw_array(&c, 2);
		cbw_bstr(&c, b, 32);
		cbw_bstr(&c, a, 32);
		cbw_array(&c, 0);
		m = cbw_take(&c, &len);
		expect_fail(false, m, len, CN_ERR_MALFORMED, "unsorted digests");
		free(m);
		/* Every truncation of a valid HELLO. */
		for (size_t k = 0; k < hello_len; k++)
			expect_fail(false, hello_x, k, 0, "truncated HELLO");
	}

	/* An unsigned run longer than the receiver holds: 4100 crafted
	 * unsigned entries of X in two messages, tail limit 4096. */
	{
		struct sync_limits lim = {.max_tail_entries = SYNC_ENTRIES_MAX};
		struct sync_session *s;
		struct cbor_wr a, b;
		uint8_t prev[32], wire[512], *ma, *mb;
		size_t la, lb;
		char d[65];
		uint64_t hlc = util_now_ms() << 16;

		memset(prev, 0, sizeof prev);
		cbw_init_grow(&a);
		cbw_init_grow(&b);
		cbw_array(&a, 4);
		cbw_uint(&a, SYNC_ENTRIES);
		cbw_bstr(&a, MX.id, 32);
		cbw_uint(&a, 1);
		cbw_array(&a, 4096);
		cbw_array(&b, 4);
		cbw_uint(&b, SYNC_ENTRIES);
		cbw_bstr(&b, MX.id, 32);
		cbw_uint(&b, 4097);
		cbw_array(&b, 4);
		for (uint64_t seq = 1; seq <= 4100; seq++) {
			struct entry e;
			char edu[24];
			size_t wl;

			snprintf(edu, sizeof edu, "U%07u", (unsigned)seq);
			tu_put(&e, edu, "Unsigned", "110105-0001");
			wl = tu_craft(&MX, &e, seq, prev, hlc + seq, false, wire,
				      sizeof wire, prev);
			cbw_raw(seq <= 4096 ? &a : &b, wire, wl);
		}
		ma = cbw_take(&a, &la);
		mb = cbw_take(&b, &lb);
		CHECK(ma != NULL && mb != NULL && la <= SYNC_MSG_MAX);
		CHECK_EQ(sync_open(&s, MY.r, &lim), 0);
		CHECK_EQ(sync_start(s), 0);
		CHECK_EQ(sync_receive(s, hello_x, hello_len), 0);
		CHECK_EQ(sync_receive(s, ma, la), 0);     /* waits */
		CHECK(!sync_caught_up(s));
		CHECK_EQ(sync_receive(s, mb, lb), CN_ERR_TOOBIG);
		CHECK(strstr(sync_error(s), "without a signature") != NULL);
		sync_close(s);
		tu_digest(&MY, d);
		CHECK_STR(d, digest0);
		free(ma);
		free(mb);
	}

	CHECK_EQ(entries_of(&MY), 0);
	verify_ok(&MY);

	/* The valid messages do apply (the checks above are not vacuous). */
	{
		struct sync_session *s;
		struct sync_stats st;
		char d[65];

		CHECK_EQ(sync_open(&s, MY.r, NULL), 0);
		CHECK_EQ(sync_start(s), 0);
		CHECK_EQ(sync_receive(s, hello_x, hello_len), 0);
		CHECK_EQ(sync_receive(s, certs_x, certs_len), 0);
		CHECK_EQ(sync_receive(s, entries_x, entries_len), 0);
		sync_stats(s, &st);
		CHECK_EQ(st.ingest.applied, 20);
		/* Delivered twice: duplicates, no error. */
		CHECK_EQ(sync_receive(s, entries_x, entries_len), 0);
		sync_stats(s, &st);
		CHECK_EQ(st.ingest.duplicate, 20);
		sync_close(s);
		tu_digest(&MY, d);
		CHECK(strcmp(d, digest0) != 0);
		same_state(&MX, &MY);
		verify_ok(&MY);
	}

	for (size_t i = 0; i < w.n; i++)
		free(w.buf[i]);
	for (size_t i = 0; i < ww.n; i++)
		free(ww.buf[i]);
	free(hello_x);
	free(certs_x);
	free(entries_x);
	tu_node_close(&MX);
	tu_node_close(&MY);
	tu_node_close(&MW);
}

/* ---- a run the peer does not finish ------------------------------------------- */

static void test_tail(void)
{
	struct tu_node X, W, R;
	struct wires w = {0}, ww = {0};
	struct sync_session *s;
	struct sync_stats st;
	uint8_t *m, *hello;
	size_t len, hlen;
	int first5[] = {0, 1, 2, 3, 4}, last5[] = {5, 6, 7, 8, 9};
	int all[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, w3[] = {0, 1, 2};

	node_new(&X, "tail-x");
	node_new(&W, "tail-w");
	node_new(&R, "tail-r");
	tu_cert_install(&D, &R, X.id, ROLE_CITY, "110000");
	tu_cert_install(&D, &R, W.id, ROLE_CITY, "110000");
	author_bulk(&X, 'X', 0, 10, 10);     /* signed at seq 10 only */
	author_bulk(&W, 'W', 0, 3, 3);
	CHECK_EQ(replica_log_walk(X.r, X.id, 1, 0, wires_cb, &w), 0);
	CHECK_EQ(replica_log_walk(W.r, W.id, 1, 0, wires_cb, &ww), 0);
	CHECK_EQ(sync_open(&s, X.r, NULL), 0);
	CHECK_EQ(sync_start(s), 0);
	CHECK_EQ(sync_next(s, &hello, &hlen), 0);
	sync_close(s);

	CHECK_EQ(sync_open(&s, R.r, NULL), 0);
	CHECK_EQ(sync_start(s), 0);
	CHECK_EQ(sync_receive(s, hello, hlen), 0);
	/* X 1..5 unsigned: they wait. */
	m = mk_entries(X.id, 1, &w, first5, 5, 5, &len);
	CHECK_EQ(sync_receive(s, m, len), 0);
	free(m);
	CHECK_EQ(entries_of(&R), 0);
	/* W 1..3 instead of X 6..10: X's run is given up, W's applied. */
	m = mk_entries(W.id, 1, &ww, w3, 3, 3, &len);
	CHECK_EQ(sync_receive(s, m, len), 0);
	free(m);
	sync_stats(s, &st);
	CHECK_EQ(st.entries_dropped, 5);
	CHECK_EQ(st.ingest.applied, 3);
	/* X 6..10 now follow nothing held: the core's gap, not a protocol
	 * error, and nothing stored. */
	m = mk_entries(X.id, 6, &w, last5, 5, 5, &len);
	CHECK_EQ(sync_receive(s, m, len), 0);
	free(m);
	sync_stats(s, &st);
	CHECK_EQ(st.ingest.gap, 5);
	CHECK_EQ(replica_head(R.r, X.id), 0);
	/* The whole run: applied. */
	m = mk_entries(X.id, 1, &w, all, 10, 10, &len);
	CHECK_EQ(sync_receive(s, m, len), 0);
	free(m);
	sync_stats(s, &st);
	CHECK_EQ(st.ingest.applied, 13);
	CHECK_EQ(replica_head(R.r, X.id), 10);
	sync_close(s);
	verify_ok(&R);

	/* Split 1..5 + 6..10 elsewhere: the first waits, uncommitted, and
	 * the second, carrying the signature, completes it in one commit. */
	{
		struct tu_node R2;

		node_new(&R2, "tail-r2");
		tu_cert_install(&D, &R2, X.id, ROLE_CITY, "110000");
		CHECK_EQ(sync_open(&s, R2.r, NULL), 0);
		CHECK_EQ(sync_start(s), 0);
		CHECK_EQ(sync_receive(s, hello, hlen), 0);
		m = mk_entries(X.id, 1, &w, first5, 5, 5, &len);
		CHECK_EQ(sync_receive(s, m, len), 0);
		free(m);
		CHECK_EQ(replica_head(R2.r, X.id), 0);
		m = mk_entries(X.id, 6, &w, last5, 5, 5, &len);
		CHECK_EQ(sync_receive(s, m, len), 0);
		free(m);
		sync_stats(s, &st);
		CHECK_EQ(st.commits, 1);
		CHECK_EQ(st.ingest.applied, 10);
		CHECK_EQ(st.entries_dropped, 0);
		CHECK_EQ(replica_head(R2.r, X.id), 10);
		same_state(&X, &R2);
		sync_close(s);
		tu_node_close(&R2);
	}

	free(hello);
	for (size_t i = 0; i < w.n; i++)
		free(w.buf[i]);
	for (size_t i = 0; i < ww.n; i++)
		free(ww.buf[i]);
	tu_node_close(&X);
	tu_node_close(&W);
	tu_node_close(&R);
}

/* ---- forked and unknown origins: the core decides ----------------------------- */

static int count_fork_cb(void *ctx, const uint8_t origin[32], uint64_t seq,
			 const uint8_t *held, size_t hlen, const uint8_t *other,
			 size_t olen)
{
	(void)origin, (void)seq, (void)held, (void)hlen, (void)other, (void)olen;
	(*(int *)ctx)++;
	return 0;
}

static void test_fork_unknown(void)
{
	struct tu_node X, P, U;
	struct wires w = {0};
	struct net nt;
	struct link l;
	struct entry e;
	struct ingest_report rep;
	struct sync_stats sx, sp;
	uint8_t h2[32], hu[32], wire3[512], uw[3][512];
	const uint8_t *ptrs[3], *payload, *sig;
	size_t lens[3], plen, used;
	const char *why;
	uint64_t hlc = (util_now_ms() + 60000) << 16;
	int forks = 0;

	node_new(&X, "fork-x");
	node_new(&P, "fork-p");
	tu_node_init(&D, &U, "fork-u", ROLE_CITY, "110000", false); /* no cert */
	author_bulk(&X, 'X', 0, 5, 5);
	CHECK_EQ(replica_log_walk(X.r, X.id, 1, 0, wires_cb, &w), 0);
	/* P holds X's 1, 2 and a different, X-signed 3: X has forked. */
	CHECK_EQ(entry_wire_decode(w.buf[1], w.len[1], &payload, &plen, &sig,
				   &used, &why), 0);
	entry_hash(payload, plen, h2);
	tu_put(&e, "X9999999", "The other seq 3", "110105-0001");
	ptrs[0] = w.buf[0];
	lens[0] = w.len[0];
	ptrs[1] = w.buf[1];
	lens[1] = w.len[1];
	lens[2] = tu_craft(&X, &e, 3, h2, hlc, true, wire3, sizeof wire3, NULL);
	ptrs[2] = wire3;
	tu_cert_install(&D, &P, X.id, ROLE_CITY, "110000");
	memset(&rep, 0, sizeof rep);
	CHECK_EQ(replica_ingest(P.r, ptrs, lens, 3, &rep), 0);
	CHECK_EQ(rep.applied, 3);
	/* X holds 3 entries of U, a node without any certificate. */
	memset(hu, 0, sizeof hu);
	for (int i = 0; i < 3; i++) {
		char edu[24];

		snprintf(edu, sizeof edu, "U%07d", i);
		tu_put(&e, edu, "By an unknown node", "110105-0001");
		lens[i] = tu_craft(&U, &e, (uint64_t)i + 1, hu, hlc + 10 + (uint64_t)i,
				   i == 2, uw[i], sizeof uw[i], hu);
		ptrs[i] = uw[i];
	}
	memset(&rep, 0, sizeof rep);
	CHECK_EQ(replica_ingest(X.r, ptrs, lens, 3, &rep), 0);
	CHECK_EQ(rep.refused, 3);

	net_init(&nt, 4, 1);
	link_open(&nt, &l, &X, &P, NULL);
	CHECK_EQ(pump(&nt), 0);        /* no protocol error, and it ends */
	sync_stats(l.e[0].s, &sx);
	sync_stats(l.e[1].s, &sp);
	CHECK_EQ(sx.last_error, 0);
	CHECK_EQ(sp.last_error, 0);
	CHECK_EQ(sp.ingest.forked, 1); /* X's 4..5 conflict with P's 3 */
	CHECK_EQ(sp.ingest.refused, 3); /* U's: stored, no effect */
	CHECK_EQ(replica_forks(P.r, count_fork_cb, &forks), 0);
	CHECK_EQ(forks, 1);
	CHECK_EQ(replica_head(P.r, U.id), 3);
	/* P never takes X's 4..5: X's session knows P is behind there. */
	CHECK(!sync_caught_up(l.e[0].s));
	CHECK(sync_caught_up(l.e[1].s));
	CHECK_EQ(sx.entries_sent, 5);  /* X 4..5 and U 1..3, once */
	net_cut(&nt);
	for (size_t i = 0; i < w.n; i++)
		free(w.buf[i]);
	tu_node_close(&X);
	tu_node_close(&P);
	tu_node_close(&U);
}

/* ---- the API's edges ------------------------------------------------------------ */

/* ---- bootstrap: group commit and the bulk path --------------------------------- */

static const struct sync_limits boot_lim = {
	.max_entries = 1000, .batch_entries = 5000, .bulk = true,
};

static void reopen(struct tu_node *n)
{
	char err[512];

	if (replica_open(n->dir, 0, &n->r, err, sizeof err) != 0) {
		fprintf(stderr, "replica_open %s: %s\n", n->dir, err);
		exit(1);
	}
}

static void test_bootstrap(void)
{
	struct tu_node A, B;
	struct net nt;
	struct link l;
	struct sync_stats sa, sb;
	struct student_state st;

	node_new(&A, "boot-a");
	node_new(&B, "boot-b");
	author_bulk(&A, 'B', 0, 20000, 5000);

	/* Up to four ENTRIES of 1,000 between two sync_next() of B: each
	 * group is one commit, all through the bulk path. */
	net_init(&nt, 8, 4);
	link_open(&nt, &l, &A, &B, &boot_lim);
	CHECK_EQ(pump(&nt), 0);
	all_caught_up(&nt);
	sync_stats(l.e[0].s, &sa);
	sync_stats(l.e[1].s, &sb);
	CHECK(!sa.bulk && sa.bulk_entries == 0); /* A was not empty */
	CHECK(!sb.bulk);                         /* ended once caught up */
	CHECK_EQ(sb.bulk_entries, 20000);
	CHECK_EQ(sb.entries_received, 20000);
	CHECK_EQ(sb.ingest.applied, 20000);      /* counted by the table build */
	CHECK(sb.commits >= 5 && sb.commits < 20); /* 20 ENTRIES */
	CHECK_EQ(sb.haves_sent, sb.commits);
	same_state(&A, &B);
	verify_ok(&B);
	CHECK_EQ(replica_student(B.r, "B0012345", &st), 0);
	printf("bootstrap: 20000 entries in %" PRIu64 " ENTRIES, %" PRIu64
	       " commits, tables built in %" PRIu64 " ms\n",
	       sa.msgs_sent, sb.commits, sb.bulk_build_ms);

	/* Later entries take the ordinary path. */
	author_bulk(&A, 'B', 20000, 10, 10);
	changed(&nt, &A);
	CHECK_EQ(pump(&nt), 0);
	same_state(&A, &B);
	sync_stats(l.e[1].s, &sb);
	CHECK_EQ(sb.bulk_entries, 20000);
	CHECK_EQ(replica_student(B.r, "B0020005", &st), 0);
	net_cut(&nt);
	tu_node_close(&A);
	tu_node_close(&B);
}

/* Cut mid-bootstrap: the closed session builds the tables; a process that
 * dies mid-bootstrap leaves the mark, and the next open builds them.
 * Either way the replica verifies, and a new connection finishes. */
static void test_bootstrap_cut(void)
{
	struct tu_node A, B, C;
	struct net nt;
	struct link l;
	struct student_state st;
	uint64_t got;
	pid_t pid;
	int status;

	node_new(&A, "bootcut-a");
	node_new(&B, "bootcut-b");
	node_new(&C, "bootcut-c");
	author_bulk(&A, 'K', 0, 20000, 5000);

	net_init(&nt, 8, 2);
	nt.budget = 12;
	link_open(&nt, &l, &A, &B, &boot_lim);
	CHECK_EQ(pump(&nt), 1);
	net_cut(&nt);
	got = entries_of(&B);
	CHECK(got > 0 && got < 20000);
	CHECK_EQ(replica_student(B.r, "K0000001", &st), 0); /* tables built */
	tu_node_close(&B);
	reopen(&B);
	verify_ok(&B);
	CHECK_EQ(entries_of(&B), got);

	/* The same, but the process ends without closing anything. */
	tu_node_close(&A);
	tu_node_close(&C);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		reopen(&A);
		reopen(&C);
		net_init(&nt, 8, 2);
		nt.budget = 12;
		link_open(&nt, &l, &A, &C, &boot_lim);
		CHECK_EQ(pump(&nt), 1);
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	reopen(&A);
	reopen(&C); /* finds the mark and builds the tables */
	verify_ok(&C);
	got = entries_of(&C);
	CHECK(got > 0 && got < 20000);
	CHECK_EQ(replica_student(C.r, "K0000001", &st), 0);

	/* Reconnect: the rest comes the ordinary way (C is not empty). */
	net_init(&nt, 8, 2);
	link_open(&nt, &l, &A, &C, &boot_lim);
	CHECK_EQ(pump(&nt), 0);
	all_caught_up(&nt);
	same_state(&A, &C);
	verify_ok(&C);
	net_cut(&nt);
	tu_node_close(&A);
	tu_node_close(&B);
	tu_node_close(&C);
}

/* Entries from two peers at once: one transaction for both sessions'
 * batches (sync_flush_group), each counted in its own session. */
static void test_flush_group(void)
{
	struct tu_node H, S1, S2;
	struct net nt;
	struct link l1, l2;
	struct sync_limits lim = {.batch_entries = 100000};
	struct sync_stats h1, h2, h1b, h2b;
	struct sync_session *group[2];
	uint64_t before;

	node_new(&H, "group-h");
	node_new(&S1, "group-s1");
	node_new(&S2, "group-s2");
	net_init(&nt, 4, 1);
	link_open(&nt, &l1, &H, &S1, &lim);
	link_open(&nt, &l2, &H, &S2, &lim);
	CHECK_EQ(pump(&nt), 0);
	all_caught_up(&nt);
	before = entries_of(&H);
	author_bulk(&S1, 'S', 0, 30, 10);
	author_bulk(&S2, 'T', 0, 20, 20);
	changed(&nt, &S1);
	changed(&nt, &S2);
	sync_stats(l1.e[0].s, &h1);
	sync_stats(l2.e[0].s, &h2);
	/* Hand the spokes' messages to the hub without its sync_next(). */
	for (int k = 0; k < 2; k++) {
		struct link *l = k ? &l2 : &l1;
		uint8_t *m;
		size_t len;

		for (;;) {
			CHECK_EQ(sync_next(l->e[1].s, &m, &len), 0);
			if (m == NULL)
				break;
			CHECK_EQ(sync_receive(l->e[0].s, m, len), 0);
			free(m);
		}
	}
	CHECK_EQ(entries_of(&H), before);            /* nothing committed yet */
	CHECK(!sync_caught_up(l1.e[0].s));
	group[0] = l1.e[0].s;
	group[1] = l2.e[0].s;
	CHECK_EQ(sync_flush_group(group, 2), 0);
	CHECK_EQ(entries_of(&H), before + 50);
	sync_stats(l1.e[0].s, &h1b);
	sync_stats(l2.e[0].s, &h2b);
	CHECK_EQ(h1b.commits, h1.commits + 1);
	CHECK_EQ(h2b.commits, h2.commits + 1);
	CHECK_EQ(h1b.ingest.applied, h1.ingest.applied + 30);
	CHECK_EQ(h2b.ingest.applied, h2.ingest.applied + 20);
	CHECK_EQ(sync_flush_group(group, 2), 0);     /* nothing left */
	CHECK_EQ(sync_flush_group(NULL, 2), CN_ERR_INVAL);
	changed(&nt, &H);
	CHECK_EQ(pump(&nt), 0);
	all_caught_up(&nt);
	same_state(&H, &S1);
	same_state(&H, &S2);
	verify_ok(&H);
	net_cut(&nt);
	tu_node_close(&H);
	tu_node_close(&S1);
	tu_node_close(&S2);
}

/* ---- a hub whose sessions share a view --------------------------------------- */

static void test_view(void)
{
	struct tu_node H, S[3];
	struct net nt;
	struct link l[3];
	char tag[32];

	node_new(&H, "view-h");
	author_bulk(&H, 'H', 0, 3000, 1000);
	for (int i = 0; i < 3; i++) {
		snprintf(tag, sizeof tag, "view-s%d", i);
		node_new(&S[i], tag);
		author_bulk(&S[i], (char)('P' + i), 0, 500, 500);
	}
	hub = &H;
	CHECK_EQ(sync_view_new(&hub_view, H.r), 0);
	net_init(&nt, 4, 1);
	for (int i = 0; i < 3; i++)
		link_open(&nt, &l[i], &H, &S[i], NULL);
	CHECK_EQ(pump(&nt), 0);
	all_caught_up(&nt);
	for (int i = 0; i < 3; i++)
		same_state(&H, &S[i]);

	/* Rounds of one entry from every spoke: each relayed to the other two
	 * through the hub (the view's changed origins, its ENTRIES cache). */
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 3; i++) {
			author_bulk(&S[i], (char)('P' + i), 500 + round, 1, 1);
			changed(&nt, &S[i]);
		}
		CHECK_EQ(pump(&nt), 0);
		all_caught_up(&nt);
		for (int i = 0; i < 3; i++)
			same_state(&H, &S[i]);
	}
	/* A new certificate reaches every spoke through the view. */
	{
		struct tu_node N;
		node_new(&N, "view-n");
		tu_cert_install(&D, &H, N.id, ROLE_SCHOOL, "110105-0002");
		changed(&nt, &H);
		CHECK_EQ(pump(&nt), 0);
		for (int i = 0; i < 3; i++)
			CHECK(authority_cert_of(replica_authority(S[i].r), N.id,
						util_now_ms()) != NULL);
		tu_node_close(&N);
	}
	for (int i = 0; i < 3; i++) {
		struct sync_stats st;
		sync_stats(l[i].e[0].s, &st);
		CHECK_EQ(st.last_error, 0);
	}
	net_cut(&nt);
	sync_view_free(hub_view);
	hub_view = NULL;
	hub = NULL;
	CHECK_EQ(sync_view_new(&hub_view, NULL), CN_ERR_INVAL);
	tu_node_close(&H);
	for (int i = 0; i < 3; i++)
		tu_node_close(&S[i]);
}

static void test_api(void)
{
	struct tu_node A, B;
	struct sync_session *s, *t;
	struct sync_limits bad = {.max_msg = 1000};
	struct sync_stats st;
	uint8_t *m;
	size_t len;

	node_new(&A, "api-a");
	node_new(&B, "api-b");
	CHECK_EQ(sync_open(&s, NULL, NULL), CN_ERR_INVAL);
	CHECK(s == NULL);
	CHECK_EQ(sync_open(&s, A.r, &bad), CN_ERR_INVAL);
	bad = (struct sync_limits){.max_entries = SYNC_ENTRIES_MAX + 1};
	CHECK_EQ(sync_open(&s, A.r, &bad), CN_ERR_INVAL);
	sync_close(NULL);

	CHECK_EQ(sync_open(&s, A.r, NULL), 0);
	CHECK_EQ(sync_open(&t, B.r, NULL), 0);
	/* Nothing before sync_start; HELLO first after it. */
	CHECK_EQ(sync_next(s, &m, &len), 0);
	CHECK(m == NULL);
	CHECK_EQ(sync_ping(s, 1), CN_ERR_INVAL);
	CHECK(!sync_caught_up(s));
	CHECK_EQ(sync_start(s), 0);
	CHECK_EQ(sync_start(s), CN_ERR_INVAL);       /* misuse: not kept */
	CHECK_EQ(sync_ping(s, 42), 0);
	CHECK_EQ(sync_next(s, &m, &len), 0);
	CHECK(m != NULL && m[1] == SYNC_HELLO);
	CHECK_EQ(sync_receive(t, m, len), 0);
	free(m);
	CHECK_EQ(sync_next(s, &m, &len), 0);          /* PING may go early */
	CHECK(m != NULL && m[1] == SYNC_PING);
	CHECK_EQ(sync_receive(t, m, len), 0);
	free(m);
	CHECK_EQ(sync_next(s, &m, &len), 0);          /* waits for t's HELLO */
	CHECK(m == NULL);
	CHECK_EQ(sync_start(t), 0);
	CHECK_EQ(sync_next(t, &m, &len), 0);
	CHECK(m != NULL && m[1] == SYNC_HELLO);
	CHECK_EQ(sync_receive(s, m, len), 0);
	free(m);
	CHECK_EQ(sync_next(t, &m, &len), 0);
	CHECK(m != NULL && m[1] == SYNC_PONG);
	CHECK_EQ(sync_receive(s, m, len), 0);
	free(m);
	sync_stats(s, &st);
	CHECK_EQ(st.pongs_received, 1);
	CHECK_EQ(st.last_pong, 42);
	CHECK_EQ(sync_next(s, NULL, &len), CN_ERR_INVAL);
	CHECK_EQ(sync_receive(s, NULL, 3), CN_ERR_INVAL);
	CHECK_STR(sync_error(s), "");
	sync_close(s);
	sync_close(t);
	tu_node_close(&A);
	tu_node_close(&B);
}

/* ---- performance ------------------------------------------------------------------ */

static void test_perf(void)
{
	struct tu_node A, B;
	struct net nt;
	struct link l;
	const char *env = getenv("CN_SYNC_PERF_N");
	int n = env != NULL ? atoi(env) : 200000;
	uint64_t t0, t1;
	double secs;

	if (n <= 0)
		return;
	node_new(&A, "perf-a");
	node_new(&B, "perf-b");
	for (int i = 0; i < n; i += 20000)
		author_bulk(&A, 'P', i, n - i < 20000 ? n - i : 20000, 20000);
	net_init(&nt, 4, 4);
	link_open(&nt, &l, &A, &B, NULL);
	t0 = util_mono_ns();
	CHECK_EQ(pump(&nt), 0);
	t1 = util_mono_ns();
	all_caught_up(&nt);
	CHECK_EQ(entries_of(&B), (uint64_t)n);
	same_state(&A, &B);
	secs = (double)(t1 - t0) / 1e9;
	printf("perf: %d entries synced A -> B in %.2f s: %.0f entries/s "
	       "(in-memory pump, both sides in one process, %" PRIu64 " messages, longest %zu bytes)\n",
	       n, secs, (double)n / secs, nt.delivered, nt.max_len);
	net_cut(&nt);
	tu_node_close(&A);
	tu_node_close(&B);
}

int main(void)
{
	tu_deploy_init(&D);
	test_api();
	test_bulk();
	test_bidirectional();
	test_relay();
	test_mesh();
	test_cuts();
	test_certs();
	test_lost_database();
	test_malformed();
	test_tail();
	test_fork_unknown();
	test_bootstrap();
	test_bootstrap_cut();
	test_flush_group();
	test_view();
	test_perf();
	printf("test_sync: ok\n");
	return 0;
}
