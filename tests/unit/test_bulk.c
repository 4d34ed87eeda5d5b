/*
 * test_bulk.c — the bulk import path (replica_bulk_begin/end: log first,
 * tables built in key order) against the entry-by-entry path on the same
 * bundle: equal digests, equal refused listings, replica_verify passing;
 * and a bulk import cut off before its rebuild, recovered at open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <sodium.h>

#include "authority.h"
#include "bundle.h"
#include "check.h"
#include "hlc.h"
#include "replica.h"
#include "testutil.h"
#include "util.h"

#define SCHOOL_A "110105-0001"
#define SCHOOL_B "110105-0002"
#define NSTUD 300

static struct tu_deploy dep;
static struct tu_node city, sa, rogue;
static char bundle_path[600];

/* Short ids, and ids longer than 8 bytes that share their first 8 (the
 * rebuild sorts by an 8-byte prefix first), one of them exactly it. */
static void edu(int i, char out[16])
{
	int v = (i * 7919) % 100000;

	if (i == 5)
		snprintf(out, 16, "LONGKEY-");
	else if (i % 3 == 1)
		snprintf(out, 16, "LONGKEY-%05d", v);
	else
		snprintf(out, 16, "E%05d", v);
}
static void card(int i, char out[16]) { snprintf(out, 16, "K%07d", (i * 104729) % 10000000); }

static void build_city(void)
{
	struct entry e;
	char id[16], c[16];
	uint8_t wire[2][1024], prev[32] = {0}, h[32];
	const uint8_t *ents[2];
	size_t lens[2];
	struct ingest_report rep;
	struct bundle_export_report ex;

	tu_deploy_init(&dep);
	tu_node_init(&dep, &city, "bcity", ROLE_CITY, "110000", true);
	tu_node_init(&dep, &sa, "bschool", ROLE_SCHOOL, SCHOOL_A, true);
	tu_node_init(&dep, &rogue, "brogue", ROLE_SCHOOL, SCHOOL_A, false);
	for (int i = 0; i < NSTUD; i++) {
		edu(i, id);
		card(i, c);
		tu_put(&e, id, "张三", i % 2 ? SCHOOL_B : SCHOOL_A);
		tu_author(&city, &e, 0);
		/* Every 50th shares a 4-byte UID with its neighbour. */
		tu_issue(&e, id, c, (uint32_t)(0x01000000u + i - (i % 50 == 1)));
		tu_author(&city, &e, 0);
	}
	tu_sync(&city, &sa);
	/* The school writes for its students while the city goes on: the
	 * city receives them late and interleaved (re-folds). */
	for (int i = 0; i < NSTUD; i += 2) {
		edu(i, id);
		card(i, c);
		tu_cardop(&e, i % 4 ? OP_CARD_LOST : OP_CARD_FREEZE, id, c);
		tu_author(&sa, &e, 0);
	}
	for (int i = 1; i < NSTUD; i += 3) {
		edu(i, id);
		card(i, c);
		tu_cardop(&e, OP_CARD_LOST, id, c);
		tu_author(&city, &e, 0);
	}
	for (int i = 0; i < NSTUD; i += 4) {
		edu(i, id);
		card(i, c);
		tu_cardop(&e, OP_CARD_FOUND, id, c);
		tu_author(&city, &e, 0);
	}
	tu_sync(&sa, &city);
	/* Refused: a node without a certificate, a card op and a note. */
	edu(3, id);
	card(3, c);
	tu_cardop(&e, OP_CARD_FREEZE, id, c);
	lens[0] = tu_craft(&rogue, &e, 1, prev, hlc_next(0, util_now_ms()), false,
			   wire[0], sizeof wire[0], h);
	memset(&e, 0, sizeof e);
	e.op = OP_NODE_NOTE;
	snprintf(e.body.text, sizeof e.body.text, "hello");
	e.body.has = BF(BK_TEXT);
	lens[1] = tu_craft(&rogue, &e, 2, h, hlc_next(0, util_now_ms()) + 1, true,
			   wire[1], sizeof wire[1], NULL);
	ents[0] = wire[0];
	ents[1] = wire[1];
	CHECK_EQ(replica_ingest(city.r, ents, lens, 2, &rep), 0);
	CHECK_EQ(rep.refused, 2);
	snprintf(bundle_path, sizeof bundle_path, "%s/city.bundle", tu_tmpdir("bbundle"));
	CHECK_EQ(bundle_export(city.r, bundle_path, NULL, &ex, NULL, NULL), 0);
}

static int refused_cb(void *ctx, const struct log_item *it)
{
	crypto_generichash_state *h = ctx;
	uint8_t why = (uint8_t)it->reason;

	crypto_generichash_update(h, it->e.origin, 32);
	crypto_generichash_update(h, (const uint8_t *)&it->e.seq, sizeof it->e.seq);
	crypto_generichash_update(h, &why, 1);
	crypto_generichash_update(h, (const uint8_t *)it->e.key, strlen(it->e.key));
	return 0;
}

/* Digest, refused listing and verify of n, as a summary. */
struct summary {
	uint8_t digest[32], refused[32];
	struct replica_counts c;
};

static void summarize(struct replica *r, struct summary *s)
{
	crypto_generichash_state h;
	uint8_t vd[32];
	struct replica_counts vc;
	char problem[256] = "";

	CHECK_EQ(replica_digest(r, s->digest, &s->c), 0);
	crypto_generichash_init(&h, NULL, 0, 32);
	CHECK_EQ(replica_refused(r, refused_cb, &h), 0);
	crypto_generichash_final(&h, s->refused, 32);
	if (replica_verify(r, vd, &vc, problem, sizeof problem) != 0) {
		fprintf(stderr, "verify: %s\n", problem);
		CHECK(0);
	}
	CHECK_MEM(vd, s->digest, 32);
}

static void import_into(struct tu_node *n, const char *tag, bool bulk,
			struct summary *s)
{
	struct bundle_report rep;

	tu_node_init(&dep, n, tag, ROLE_SCHOOL, SCHOOL_A, true);
	if (!bulk)
		setenv("CARDNODE_NO_BULK", "1", 1);
	CHECK_EQ(bundle_import(n->r, bundle_path, &rep, NULL, NULL), 0);
	unsetenv("CARDNODE_NO_BULK");
	/* The entry-by-entry path counts an entry again when a late one
	 * re-folds its history in the same call; the bulk path counts each
	 * entry once. */
	if (bulk) {
		CHECK_EQ(rep.ingest.applied + rep.ingest.refused, rep.entries_read);
		CHECK_EQ(rep.ingest.refused, 2);
	}
	summarize(n->r, s);
}

static void test_bulk_equals_normal(void)
{
	struct tu_node nn, nb;
	struct summary sc, sn, sb;
	char d[65];

	summarize(city.r, &sc);
	import_into(&nn, "bnormal", false, &sn);
	import_into(&nb, "bbulk", true, &sb);
	CHECK_MEM(sn.digest, sc.digest, 32);
	CHECK_MEM(sb.digest, sc.digest, 32);
	CHECK_MEM(sn.refused, sc.refused, 32);
	CHECK_MEM(sb.refused, sc.refused, 32);
	CHECK_EQ(sb.c.students, sn.c.students);
	CHECK_EQ(sb.c.cards, sn.c.cards);
	CHECK_EQ(sb.c.entries, sn.c.entries);
	CHECK_EQ(sb.c.refused, sn.c.refused);
	/* The bulk replica goes on by the normal path: a second import is
	 * all duplicates, and new entries apply. */
	{
		struct bundle_report rep;
		CHECK_EQ(bundle_import(nb.r, bundle_path, &rep, NULL, NULL), 0);
		CHECK_EQ(rep.ingest.duplicate, rep.entries_read);
	}
	tu_digest(&nb, d);
	tu_node_close(&nn);
	tu_node_close(&nb);
	printf("bulk: bulk and entry-by-entry imports agree ok\n");
}

/* A bulk import that stops before its rebuild (a crash): the next open,
 * read-only even, rebuilds. */
static void test_bulk_interrupted(void)
{
	struct tu_node z;
	struct summary sc, sz;
	struct replica *r;
	char err[256];
	bool on = false;

	summarize(city.r, &sc);
	tu_node_init(&dep, &z, "bcut", ROLE_SCHOOL, SCHOOL_A, true);
	CHECK_EQ(replica_bulk_begin(z.r, &on), 0);
	CHECK(on);
	tu_sync(&city, &z);      /* log only */
	replica_close(z.r);      /* no replica_bulk_end */
	z.r = NULL;
	CHECK_EQ(replica_open(z.dir, REPLICA_RDONLY, &r, err, sizeof err), 0);
	summarize(r, &sz);
	CHECK_MEM(sz.digest, sc.digest, 32);
	CHECK_MEM(sz.refused, sc.refused, 32);
	replica_close(r);
	/* Not empty any more: no second bulk import. */
	CHECK_EQ(replica_open(z.dir, 0, &z.r, err, sizeof err), 0);
	CHECK_EQ(replica_bulk_begin(z.r, &on), 0);
	CHECK(!on);
	tu_node_close(&z);
	printf("bulk: interrupted bulk import rebuilt at open ok\n");
}

/* A bulk import under way in another process (a daemon bootstrapping)
 * holds DATA/bulk.lock: opening the data dir meanwhile must leave the
 * lagging tables alone (the importer rebuilds them when it ends); once the
 * lock is free, an interrupted import is rebuilt at open as before. */
static void test_bulk_under_way(void)
{
	struct tu_node z;
	struct summary sc, sz;
	struct replica *r;
	struct replica_counts n;
	uint8_t d[32];
	char err[256], path[600];
	bool on = false;
	int fd;

	summarize(city.r, &sc);
	tu_node_init(&dep, &z, "bway", ROLE_SCHOOL, SCHOOL_A, true);
	CHECK_EQ(replica_bulk_begin(z.r, &on), 0);
	CHECK(on);
	tu_sync(&city, &z);      /* log only: the tables lag */
	replica_close(z.r);      /* as if the importer were another process */
	z.r = NULL;
	snprintf(path, sizeof path, "%s/bulk.lock", z.dir);
	CHECK((fd = open(path, O_RDWR)) >= 0);
	CHECK(flock(fd, LOCK_EX | LOCK_NB) == 0);
	CHECK_EQ(replica_open(z.dir, REPLICA_RDONLY, &r, err, sizeof err), 0);
	CHECK_EQ(replica_digest(r, d, &n), 0);
	CHECK_EQ(n.students, 0); /* left alone: the tables still lag */
	CHECK(n.entries > 0);
	replica_close(r);
	close(fd);               /* the importer is gone */
	CHECK_EQ(replica_open(z.dir, REPLICA_RDONLY, &r, err, sizeof err), 0);
	summarize(r, &sz);
	CHECK_MEM(sz.digest, sc.digest, 32);
	replica_close(r);
	tu_node_close(&z);
	printf("bulk: a bulk import under way elsewhere is left alone at open ok\n");
}

int main(void)
{
	build_city();
	test_bulk_equals_normal();
	test_bulk_interrupted();
	test_bulk_under_way();
	tu_node_close(&city);
	tu_node_close(&sa);
	tu_node_close(&rogue);
	return 0;
}
