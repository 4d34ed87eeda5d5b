/*
 * test_log.c — the log table's stored form (node/log.c): entries grouped
 * per origin come back byte for byte, whatever batches they arrived in; a
 * damaged log or student record is reported, never a crash; a data dir of
 * another store format is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "replica_int.h"
#include "testutil.h"
#include "util.h"

static struct tu_deploy dep;
static struct tu_node city, b;

static void same_wires(const struct tu_batch *x, size_t from,
		       const struct tu_batch *y)
{
	for (size_t i = 0; i < y->n; i++) {
		CHECK_EQ(x->lens[from + i], y->lens[i]);
		CHECK_MEM(x->ents[from + i], y->ents[i], y->lens[i]);
	}
}

/* The city authors 45 entries in calls of 1 to 13, so groups of 8 are
 * filled across calls; one of them is a node-level note. */
static void author_city(void)
{
	static const size_t calls[] = {1, 7, 8, 3, 13, 2, 11};
	struct entry ops[13];
	size_t n = 0;

	for (size_t c = 0; c < sizeof calls / sizeof calls[0]; c++) {
		for (size_t i = 0; i < calls[c]; i++, n++) {
			char edu[24], card[24];
			snprintf(edu, sizeof edu, "%08zu", 11010500 + n / 2);
			snprintf(card, sizeof card, "%010zu", 4200000000 + n / 2);
			if (n == 21) {
				memset(&ops[i], 0, sizeof ops[i]);
				ops[i].op = OP_NODE_NOTE;
				strcpy(ops[i].body.text, "stock take");
				ops[i].body.has = BF(BK_TEXT);
			} else if (n % 2 == 0) {
				tu_put(&ops[i], edu, "\xe5\xbc\xa0\xe4\xb8\x89",
				       "110105-0001");
				strcpy(ops[i].actor, "window-2");
			} else {
				tu_issue(&ops[i], edu, card, 0x04000000u + (uint32_t)n);
			}
		}
		CHECK_EQ(replica_author(city.r, ops, calls[c], NULL, NULL), 0);
	}
	CHECK_EQ(replica_head(city.r, city.id), 45);
}

static void verify_ok(struct tu_node *n)
{
	uint8_t d[32];
	char prob[256];

	CHECK_EQ(replica_verify(n->r, d, NULL, prob, sizeof prob), 0);
}

static void test_round_trip(void)
{
	static const size_t chunks[] = {1, 2, 5, 9, 3, 8, 17};
	struct tu_batch all = {0}, got = {0}, part = {0};
	struct ingest_report rep;
	char d1[65], d2[65];
	size_t end = 0;

	author_city();
	CHECK_EQ(replica_log_walk(city.r, city.id, 0, 0, tu_batch_add, &all), 0);
	CHECK_EQ(all.n, 45);
	tu_cert_install(&dep, &b, city.id, ROLE_CITY, "110000");
	/* b receives the log in chunks from its head: each stores up to its
	 * last signature (the city signed seqs 1, 8, 16, 19, 32, 34 and 45),
	 * so groups are continued from inside. */
	for (size_t c = 0; replica_head(b.r, city.id) < all.n; c++) {
		size_t head = replica_head(b.r, city.id);
		end += chunks[c % (sizeof chunks / sizeof chunks[0])];
		if (end > all.n)
			end = all.n;
		CHECK_EQ(replica_ingest(b.r, (const uint8_t *const *)all.ents + head,
					all.lens + head, end - head, &rep), 0);
		CHECK_EQ(rep.applied, replica_head(b.r, city.id) - head);
	}
	/* Again: every entry a duplicate, checked against the stored ones. */
	CHECK_EQ(replica_ingest(b.r, (const uint8_t *const *)all.ents, all.lens,
				all.n, &rep), 0);
	CHECK_EQ(rep.duplicate, all.n);
	CHECK_EQ(rep.applied, 0);
	CHECK_EQ(replica_log_walk(b.r, city.id, 0, 0, tu_batch_add, &got), 0);
	CHECK_EQ(got.n, all.n);
	same_wires(&all, 0, &got);
	/* A walk from inside one group to inside another. */
	CHECK_EQ(replica_log_walk(b.r, city.id, 10, 19, tu_batch_add, &part), 0);
	CHECK_EQ(part.n, 10);
	same_wires(&all, 9, &part);
	verify_ok(&city);
	verify_ok(&b);
	tu_digest(&city, d1);
	tu_digest(&b, d2);
	CHECK_STR(d1, d2);
	tu_batch_free(&all);
	tu_batch_free(&got);
	tu_batch_free(&part);
	printf("log: 45 entries in groups of %d, ingested in odd chunks, come back "
	       "byte for byte\n", LOG_GROUP);
}

/* ---- damage, written straight into b's LMDB ---------------------------- */

/* Put (v) or delete (v NULL) the record k of table db in b's data dir
 * (closed). */
static void set_record(enum store_db db, const void *k, size_t klen,
		       const void *v, size_t vlen)
{
	struct store s;
	MDB_txn *txn;

	CHECK_EQ(store_open(&s, b.dir, false, false, false), 0);
	CHECK_EQ(store_begin(&s, true, &txn), 0);
	if (v != NULL)
		CHECK_EQ(store_put(&s, txn, db, k, klen, v, vlen, 0), 0);
	else
		CHECK_EQ(store_del(&s, txn, db, k, klen, NULL, 0), 0);
	CHECK_EQ(store_commit(&s, txn), 0);
	store_close(&s);
}

static size_t get_record(enum store_db db, const void *k, size_t klen,
			 uint8_t *out, size_t cap)
{
	struct store s;
	MDB_txn *txn;
	MDB_val v;

	CHECK_EQ(store_open(&s, b.dir, false, false, false), 0);
	CHECK_EQ(store_begin(&s, false, &txn), 0);
	CHECK_EQ(store_get(&s, txn, db, k, klen, &v), 0);
	CHECK(v.mv_size <= cap);
	memcpy(out, v.mv_data, v.mv_size);
	mdb_txn_abort(txn);
	store_close(&s);
	return v.mv_size;
}

static int count_cb(void *ctx, uint64_t seq, const uint8_t *wire, size_t len)
{
	(void)seq, (void)wire, (void)len;
	++*(size_t *)ctx;
	return 0;
}

static int student_cb(void *ctx, const struct student_state *st)
{
	(void)st;
	++*(size_t *)ctx;
	return 0;
}

static int hist_cb(void *ctx, const struct log_item *it)
{
	(void)it;
	++*(size_t *)ctx;
	return 0;
}

/* With the damage in place: verify reports it; reading the log, a history
 * and the whole log never crashes. */
static void damaged(const char *what)
{
	struct replica *r;
	struct check_result res;
	char err[512], prob[256];
	uint8_t d[32];
	size_t n = 0;

	CHECK_EQ(replica_open(b.dir, 0, &r, err, sizeof err), 0);
	prob[0] = '\0';
	if (replica_verify(r, d, NULL, prob, sizeof prob) == 0) {
		fprintf(stderr, "verify passed a damaged log: %s\n", what);
		exit(1);
	}
	CHECK(prob[0] != '\0');
	(void)replica_log_walk(r, city.id, 0, 0, count_cb, &n);
	(void)replica_log_walk(r, city.id, 12, 14, count_cb, &n);
	(void)replica_history(r, "11010506", hist_cb, &n);
	(void)replica_log_all(r, hist_cb, &n);
	(void)replica_students_walk(r, student_cb, &n);
	(void)replica_check_card(r, "4200000003", util_now_ms(), &res);
	replica_close(r);
}

/* Every bit flip (of bits 0, 3 and 6 of each byte) and every cut of the
 * record k of table db, then trailing bytes and its removal: each must be
 * reported by verify.  Returns the flips tried. */
static size_t damage_record(enum store_db db, const void *k, size_t klen)
{
	uint8_t orig[4096], bad[4096];
	size_t len = get_record(db, k, klen, orig, sizeof orig - 8), flips = 0;

	for (size_t at = 0; at < len; at++) {
		for (int bit = 0; bit < 8; bit += 3, flips++) {
			memcpy(bad, orig, len);
			bad[at] ^= (uint8_t)(1u << bit);
			set_record(db, k, klen, bad, len);
			damaged("a flipped bit");
		}
	}
	for (size_t cut = 0; cut < len; cut++) {
		set_record(db, k, klen, orig, cut);
		damaged("a cut record");
	}
	memcpy(bad, orig, len);
	memcpy(bad + len, orig + len - 8, 8);
	set_record(db, k, klen, bad, len + 8);
	damaged("trailing bytes");
	set_record(db, k, klen, NULL, 0);
	damaged("a missing record");
	set_record(db, k, klen, orig, len);
	return flips;
}

static void test_damage(void)
{
	const char *edu = "11010506";
	uint8_t k[12];
	size_t flips;
	char err[512];
	struct replica *r;

	tu_node_close(&b);
	/* b holds one origin, the city's (index 0): its second group. */
	store_be32(k, 0);
	store_be64(k + 4, 1 + LOG_GROUP);
	flips = damage_record(DB_LOG, k, sizeof k);
	printf("log: %zu bit flips, every cut, trailing bytes and a missing "
	       "group of the log: all reported by verify, no crash\n", flips);
	/* A student record: the state, the newest entry and the refs. */
	flips = damage_record(DB_STUDENT, edu, strlen(edu));
	printf("log: %zu bit flips, every cut, trailing bytes and a missing "
	       "student record: all reported by verify, no crash\n", flips);
	CHECK_EQ(replica_open(b.dir, 0, &b.r, err, sizeof err), 0);
	verify_ok(&b);
	tu_node_close(&b);
	/* Another store format is refused at open, with the reason. */
	{
		struct store s;
		MDB_txn *txn;
		uint8_t one[8] = {0, 0, 0, 0, 0, 0, 0, 1};

		CHECK_EQ(store_open(&s, b.dir, false, false, false), 0);
		CHECK_EQ(store_begin(&s, true, &txn), 0);
		CHECK_EQ(store_put(&s, txn, DB_META, META_FORMAT,
				   strlen(META_FORMAT), one, 8, 0), 0);
		CHECK_EQ(store_commit(&s, txn), 0);
		store_close(&s);
	}
	CHECK(replica_open(b.dir, 0, &r, err, sizeof err) != 0);
	CHECK(strstr(err, "store format is 1") != NULL);
	printf("log: a data dir of store format 1 is refused: %s\n", err);
}

int main(void)
{
	tu_deploy_init(&dep);
	tu_node_init(&dep, &city, "city", ROLE_CITY, "110000", true);
	tu_node_init(&dep, &b, "b", ROLE_SCHOOL, "110105-0001", true);
	test_round_trip();
	test_damage();
	tu_node_close(&city);
	return 0;
}
