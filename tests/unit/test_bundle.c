/*
 * test_bundle.c — sneakernet bundles and replica merges (DESIGN §7,
 * replication/bundle.h) between real replicas in temporary directories:
 * round trip, idempotence, since-vv exports, truncated, bit-flipped and
 * re-signed files, long unsigned runs across chunks and batches, and the
 * merge of a copied data directory.
 */
#include "check.h"
#include "testutil.h"
#include "authority.h"
#include "bundle.h"
#include "cbor_rw.h"
#include "cn.h"
#include "entry.h"
#include "replica.h"
#include "util.h"
#include "vv.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

static uint8_t root_pk[CN_KEY_LEN], root_sk[64], secret[CN_KEY_LEN];
static const char *base;
static unsigned serial;

struct node {
	struct replica *r;
	char dir[4096];
	uint8_t id[CN_KEY_LEN];
};

/* ---- helpers ------------------------------------------------------------- */

static void path_new(char *out, size_t cap, const char *tag)
{
	snprintf(out, cap, "%s/%s-%u", base, tag, ++serial);
}

static void rm_rf(const char *path)
{
	char cmd[4200];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
	CHECK_EQ(system(cmd), 0);
}

static void install_cert(struct replica *r, const uint8_t node[CN_KEY_LEN],
			 const char *name)
{
	struct cert c;
	uint8_t buf[CERT_MAX];
	size_t len;
	const char *why = NULL;
	uint64_t now = util_now_ms();

	memset(&c, 0, sizeof c);
	memcpy(c.node, node, CN_KEY_LEN);
	snprintf(c.name, sizeof c.name, "%s", name);
	c.role = ROLE_CITY;
	snprintf(c.scope, sizeof c.scope, "110000");
	c.not_before = now - 86400000ull;
	c.not_after = now + 3650ull * 86400000ull;
	c.serial = ++serial;
	CHECK_EQ(authority_cert_sign(&c, root_sk, buf, sizeof buf, &len), 0);
	CHECK_EQ(replica_cert_install(r, buf, len, &why), 0);
}

static void node_new(struct node *n, const char *tag, bool cert)
{
	struct replica_init in;
	char err[256];
	int rc;

	path_new(n->dir, sizeof n->dir, tag);
	memset(&in, 0, sizeof in);
	in.dir = n->dir;
	in.name = tag;
	in.role = ROLE_CITY;
	in.scope = "110000";
	memcpy(in.root_pub, root_pk, CN_KEY_LEN);
	memcpy(in.secret, secret, CN_KEY_LEN);
	in.profile = PROFILE_GENERIC;
	rc = replica_init(&in, n->id, err, sizeof err);
	if (rc != 0)
		fprintf(stderr, "replica_init %s: %s\n", n->dir, err);
	CHECK_EQ(rc, 0);
	rc = replica_open(n->dir, 0, &n->r, err, sizeof err);
	if (rc != 0)
		fprintf(stderr, "replica_open %s: %s\n", n->dir, err);
	CHECK_EQ(rc, 0);
	if (cert)
		install_cert(n->r, n->id, tag);
}

static void node_open(struct node *n)
{
	char err[256];

	CHECK_EQ(replica_open(n->dir, 0, &n->r, err, sizeof err), 0);
}

static void node_reopen(struct node *n)
{
	replica_close(n->r);
	node_open(n);
}

static void node_drop(struct node *n)
{
	replica_close(n->r);
	n->r = NULL;
	rm_rf(n->dir);
}

/* Students first..first+count-1, each a student.put and a card.issue,
 * authored `per_call` students per replica_author call. */
static void author_students(struct replica *r, int first, int count,
			    int per_call)
{
	struct entry *ops = calloc((size_t)per_call * 2, sizeof *ops);
	uint32_t req, allowed;

	CHECK(ops != NULL);
	CHECK(entry_op_fields(OP_CARD_ISSUE, &req, &allowed));
	for (int s = first; s < first + count; s += per_call) {
		int k = first + count - s < per_call ? first + count - s : per_call;
		size_t bad = 0;
		enum fold_reason why = FR_APPLIED;
		int rc;

		memset(ops, 0, (size_t)per_call * 2 * sizeof *ops);
		for (int i = 0; i < k; i++) {
			struct entry *put = &ops[2 * i], *iss = &ops[2 * i + 1];
			int id = s + i;

			put->op = OP_STUDENT_PUT;
			snprintf(put->key, sizeof put->key, "E%07d", id);
			put->body.has = BF(BK_NAME) | BF(BK_SCHOOL);
			snprintf(put->body.name, sizeof put->body.name,
				 "学生 %d", id);
			snprintf(put->body.school, sizeof put->body.school,
				 "110105-0001");
			iss->op = OP_CARD_ISSUE;
			snprintf(iss->key, sizeof iss->key, "E%07d", id);
			iss->body.has = BF(BK_CARD) | BF(BK_UID) | BF(BK_KIND);
			snprintf(iss->body.card, sizeof iss->body.card, "C%07d", id);
			iss->body.uid_len = 4;
			iss->body.uid[0] = 0x80;
			iss->body.uid[1] = (uint8_t)(id >> 16);
			iss->body.uid[2] = (uint8_t)(id >> 8);
			iss->body.uid[3] = (uint8_t)id;
			iss->body.kind = KIND_REGULAR;
			if (allowed & BF(BK_EXPIRES)) {
				iss->body.has |= BF(BK_EXPIRES);
				iss->body.expires = 20300831;
			}
			CHECK((iss->body.has & req) == req);
		}
		rc = replica_author(r, ops, (size_t)k * 2, &bad, &why);
		if (rc != 0)
			fprintf(stderr, "replica_author: %s (entry %zu: %s)\n",
				cn_strerror(rc), bad, fold_reason_name(why));
		CHECK_EQ(rc, 0);
	}
	free(ops);
}

static void digest_of(struct replica *r, uint8_t d[CN_KEY_LEN])
{
	struct replica_counts c;

	CHECK_EQ(replica_digest(r, d, &c), 0);
}

static uint64_t total_entries(struct replica *r)
{
	uint8_t d[CN_KEY_LEN];
	struct replica_counts c;

	CHECK_EQ(replica_digest(r, d, &c), 0);
	return c.entries;
}

static void read_all(const char *path, uint8_t **buf, size_t *len)
{
	CHECK_EQ(util_read_file(path, 64u << 20, buf, len), 0);
}

static void write_all(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	CHECK(f != NULL);
	CHECK_EQ(fwrite(buf, 1, len, f), len);
	CHECK_EQ(fclose(f), 0);
}

struct loghash {
	crypto_generichash_state h;
	uint64_t n;
	bool last_signed;
};

static int loghash_cb(void *ctx, uint64_t seq, const uint8_t *wire, size_t len)
{
	struct loghash *lh = ctx;
	const uint8_t *payload, *sig;
	size_t plen, used;
	const char *why;
	uint8_t hdr[16];

	CHECK_EQ(entry_wire_decode(wire, len, &payload, &plen, &sig, &used, &why), 0);
	for (int i = 0; i < 8; i++) {
		hdr[i] = (uint8_t)(seq >> (8 * i));
		hdr[8 + i] = (uint8_t)((uint64_t)plen >> (8 * i));
	}
	crypto_generichash_update(&lh->h, hdr, sizeof hdr);
	crypto_generichash_update(&lh->h, payload, plen);
	lh->last_signed = sig != NULL;
	lh->n++;
	return 0;
}

/* BLAKE2b of the payloads of seq 1..to of origin's stored log (what the
 * signatures vouch for). */
static void log_hash(struct replica *r, const uint8_t origin[CN_KEY_LEN],
		     uint64_t to, uint8_t out[CN_KEY_LEN], bool *last_signed)
{
	struct loghash lh;

	memset(&lh, 0, sizeof lh);
	crypto_generichash_init(&lh.h, NULL, 0, CN_KEY_LEN);
	CHECK_EQ(replica_log_walk(r, origin, 1, to, loghash_cb, &lh), 0);
	CHECK_EQ(lh.n, to);
	crypto_generichash_final(&lh.h, out, CN_KEY_LEN);
	if (last_signed != NULL)
		*last_signed = lh.last_signed;
}

/* The receiver passes a full re-verification, and every origin it holds is
 * a prefix of the sender's log (payloads byte for byte) ending at a signed
 * entry: nothing was applied that its author did not sign. */
static void check_sound(struct replica *recv, struct replica *send)
{
	uint8_t d[CN_KEY_LEN], h1[CN_KEY_LEN], h2[CN_KEY_LEN];
	struct replica_counts c;
	char problem[256] = "";
	struct vv have;
	int rc;

	rc = replica_verify(recv, d, &c, problem, sizeof problem);
	if (rc != 0)
		fprintf(stderr, "replica_verify: %s: %s\n", cn_strerror(rc), problem);
	CHECK_EQ(rc, 0);
	vv_init(&have);
	CHECK_EQ(vv_from_replica(&have, recv), 0);
	for (size_t i = 0; i < have.n; i++) {
		bool last_signed = false;

		CHECK(have.v[i].seq <= replica_head(send, have.v[i].origin));
		log_hash(recv, have.v[i].origin, have.v[i].seq, h1, &last_signed);
		log_hash(send, have.v[i].origin, have.v[i].seq, h2, NULL);
		CHECK_MEM(h1, h2, CN_KEY_LEN);
		CHECK(last_signed);
	}
	vv_free(&have);
}

static uint64_t held_entries(struct replica *r)
{
	struct vv have;
	uint64_t n = 0;

	vv_init(&have);
	CHECK_EQ(vv_from_replica(&have, r), 0);
	for (size_t i = 0; i < have.n; i++)
		n += have.v[i].seq;
	vv_free(&have);
	return n;
}

static void print_report(const char *what, int rc, const struct bundle_report *b)
{
	if (getenv("CN_TEST_VERBOSE") == NULL)
		return;
	fprintf(stderr,
		"%s: rc %d applied %llu dup %llu unverified %llu gap %llu malformed %llu read %llu trailer %d complete %d: %s\n",
		what, rc, (unsigned long long)b->ingest.applied,
		(unsigned long long)b->ingest.duplicate,
		(unsigned long long)b->ingest.unverified,
		(unsigned long long)b->ingest.gap,
		(unsigned long long)b->ingest.malformed,
		(unsigned long long)b->entries_read, b->trailer_ok, b->complete,
		b->problem);
}

struct progress {
	uint64_t calls, last;
};

static void progress_cb(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;

	(void)total;
	CHECK(done >= p->last);
	p->last = done;
	p->calls++;
}

/* ---- shared state of the tests ------------------------------------------- */

static struct node A;          /* the exporter */
static char full_path[4200];   /* A's first full bundle */
static uint8_t full_digest[CN_KEY_LEN]; /* state after importing it */
static uint64_t full_entries;

/* ---- round trip ---------------------------------------------------------- */

static void test_round_trip(void)
{
	struct node B;
	struct bundle_export_report ex;
	struct bundle_report rep;
	struct stat st;
	uint8_t da[CN_KEY_LEN], db[CN_KEY_LEN];
	char hex[65];
	int rc;

	node_new(&A, "a", true);
	author_students(A.r, 1, 300, 37);
	full_entries = 600;
	CHECK_EQ(total_entries(A.r), full_entries);

	path_new(full_path, sizeof full_path, "full.bundle");
	CHECK_EQ(bundle_export(A.r, full_path, NULL, &ex, NULL, NULL), 0);
	CHECK_EQ(ex.entries, full_entries);
	CHECK_EQ(ex.chunks, 1);
	CHECK_EQ(ex.certs, 1);
	CHECK_EQ(ex.revocations, 0);
	CHECK_EQ(ex.origins, 1);
	CHECK_EQ(stat(full_path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	CHECK_EQ((uint64_t)st.st_size, ex.bytes);

	/* Never overwrites. */
	{
		off_t size = st.st_size;

		CHECK_EQ(bundle_export(A.r, full_path, NULL, &ex, NULL, NULL),
			 CN_ERR_EXISTS);
		CHECK_EQ(stat(full_path, &st), 0);
		CHECK_EQ(st.st_size, size);
	}

	node_new(&B, "b", false);
	rc = bundle_import(B.r, full_path, &rep, NULL, NULL);
	print_report("import", rc, &rep);
	CHECK_EQ(rc, 0);
	CHECK_STR(rep.problem, "");
	CHECK_EQ(rep.ingest.applied, full_entries);
	CHECK_EQ(rep.entries_read, full_entries);
	CHECK_EQ(rep.certs_new, 1);
	CHECK(rep.trailer_ok);
	CHECK(rep.complete);
	util_hex_encode(A.id, CN_KEY_LEN, hex);
	CHECK_STR(rep.exporter, hex);
	digest_of(A.r, da);
	digest_of(B.r, db);
	CHECK_MEM(da, db, CN_KEY_LEN);
	memcpy(full_digest, db, CN_KEY_LEN);
	check_sound(B.r, A.r);

	/* Twice: nothing changes. */
	rc = bundle_import(B.r, full_path, &rep, NULL, NULL);
	print_report("again", rc, &rep);
	CHECK_EQ(rc, 0);
	CHECK_EQ(rep.ingest.applied, 0);
	CHECK_EQ(rep.ingest.duplicate, full_entries);
	CHECK_EQ(rep.certs_new, 0);
	CHECK_EQ(rep.certs_known, 1);
	digest_of(B.r, db);
	CHECK_MEM(da, db, CN_KEY_LEN);

	/* Survives reopening. */
	node_reopen(&B);
	digest_of(B.r, db);
	CHECK_MEM(da, db, CN_KEY_LEN);

	/* Since-vv: only what B lacks. */
	{
		struct vv since;
		char p2[4200];

		author_students(A.r, 301, 40, 15);
		vv_init(&since);
		CHECK_EQ(vv_from_replica(&since, B.r), 0);
		path_new(p2, sizeof p2, "since.bundle");
		CHECK_EQ(bundle_export(A.r, p2, &since, &ex, NULL, NULL), 0);
		CHECK_EQ(ex.entries, 80);
		CHECK_EQ(ex.origins, 1);
		rc = bundle_import(B.r, p2, &rep, NULL, NULL);
		print_report("since", rc, &rep);
		CHECK_EQ(rc, 0);
		CHECK_EQ(rep.ingest.applied, 80);
		CHECK_EQ(rep.ingest.duplicate, 0);
		digest_of(A.r, da);
		digest_of(B.r, db);
		CHECK_MEM(da, db, CN_KEY_LEN);

		/* Nothing new: a valid bundle without entries. */
		CHECK_EQ(vv_from_replica(&since, B.r), 0);
		path_new(p2, sizeof p2, "empty.bundle");
		CHECK_EQ(bundle_export(A.r, p2, &since, &ex, NULL, NULL), 0);
		CHECK_EQ(ex.entries, 0);
		CHECK_EQ(ex.chunks, 0);
		rc = bundle_import(B.r, p2, &rep, NULL, NULL);
		CHECK_EQ(rc, 0);
		CHECK_EQ(rep.entries_read, 0);
		CHECK(rep.trailer_ok);

		/* A bundle that starts after what the receiver holds: the
		 * entries do not follow, nothing is applied, it says so. */
		{
			struct node C;

			node_new(&C, "c", false);
			CHECK_EQ(vv_from_replica(&since, B.r), 0);
			CHECK_EQ(vv_set(&since, A.id, 600), 0);
			path_new(p2, sizeof p2, "after.bundle");
			CHECK_EQ(bundle_export(A.r, p2, &since, &ex, NULL, NULL), 0);
			CHECK_EQ(ex.entries, 80);
			rc = bundle_import(C.r, p2, &rep, NULL, NULL);
			print_report("after", rc, &rep);
			CHECK_EQ(rc, CN_ERR_PARTIAL);
			CHECK_EQ(rep.ingest.applied, 0);
			CHECK_EQ(rep.ingest.gap, 80);
			CHECK(rep.trailer_ok);
			CHECK(strstr(rep.problem, "chunk 1 (origin ") != NULL);
			CHECK(strstr(rep.problem, "80 entries not applied") != NULL);
			CHECK_EQ(held_entries(C.r), 0);
			node_drop(&C);
		}
		vv_free(&since);
	}
	node_drop(&B);
}

/* ---- damaged files ------------------------------------------------------- */

/* Import buf[0..len) into a fresh replica; check soundness against A and
 * return the import's result.  *applied receives the entries held. */
static int import_damaged(const char *tag, const uint8_t *buf, size_t len,
			  struct bundle_report *rep, uint64_t *applied,
			  uint8_t digest[CN_KEY_LEN])
{
	struct node R;
	char p[4200];
	int rc;

	path_new(p, sizeof p, tag);
	write_all(p, buf, len);
	node_new(&R, "r", false);
	rc = bundle_import(R.r, p, rep, NULL, NULL);
	print_report(tag, rc, rep);
	check_sound(R.r, A.r);
	*applied = held_entries(R.r);
	if (digest != NULL)
		digest_of(R.r, digest);
	if (rc == CN_ERR_MALFORMED) {
		/* not a bundle: nothing at all was applied */
		CHECK_EQ(*applied, 0);
		CHECK_EQ(rep->certs_new, 0);
	}
	CHECK(rep->problem[0] != '\0' || rc == 0);
	node_drop(&R);
	CHECK_EQ(remove(p), 0);
	return rc;
}

static void test_truncated(void)
{
	uint8_t *buf;
	size_t len, offs[64];
	int n = 0;
	bool mid_salvaged = false;

	read_all(full_path, &buf, &len);
	for (size_t o = 0; o < 24; o += 3)
		offs[n++] = o;
	for (int k = 1; k < 32; k++)
		offs[n++] = len * (size_t)k / 32;
	offs[n++] = len - 200;
	offs[n++] = len - 107;
	offs[n++] = len - 106;
	offs[n++] = len - 100;
	offs[n++] = len - 65;
	offs[n++] = len - 64;
	offs[n++] = len - 2;
	offs[n++] = len - 1;
	for (int i = 0; i < n; i++) {
		struct bundle_report rep;
		uint64_t applied;
		char tag[64];
		int rc;

		snprintf(tag, sizeof tag, "cut-%zu", offs[i]);
		rc = import_damaged(tag, buf, offs[i], &rep, &applied, NULL);
		CHECK(rc == CN_ERR_PARTIAL || rc == CN_ERR_MALFORMED);
		CHECK(!rep.trailer_ok);
		CHECK(!rep.complete);
		if (rc == CN_ERR_PARTIAL)
			CHECK(strstr(rep.problem, "no trailer") != NULL);
		/* Cut inside the trailer: every entry is there. */
		if (offs[i] >= len - 106)
			CHECK_EQ(applied, full_entries);
		/* Cut inside the chunk: what a signature covers is kept. */
		if (offs[i] == len / 2 && applied > 0 && applied < full_entries)
			mid_salvaged = true;
	}
	CHECK(mid_salvaged);
	free(buf);
}

static void test_bit_flips(void)
{
	uint8_t *buf;
	size_t len;
	struct tu_rng rng;
	int flips = 72;

	read_all(full_path, &buf, &len);
	tu_rng_seed(&rng, 20240901);
	if (getenv("CN_TEST_FLIPS") != NULL)
		flips = atoi(getenv("CN_TEST_FLIPS"));
	for (int i = 0; i < flips; i++) {
		struct bundle_report rep;
		uint64_t applied;
		uint8_t d[CN_KEY_LEN];
		char tag[64];
		size_t off;
		uint8_t bit = (uint8_t)(1u << tu_rng_below(&rng, 8));
		int rc;

		/* the first bytes (header), the last (trailer), the rest
		 * at random */
		if (i < 8)
			off = (size_t)i * 5;
		else if (i < 16)
			off = len - 1 - (size_t)(i - 8) * 13;
		else
			off = tu_rng_below(&rng, (uint32_t)len);
		buf[off] ^= bit;
		snprintf(tag, sizeof tag, "flip-%zu-%u", off, bit);
		rc = import_damaged(tag, buf, len, &rep, &applied, d);
		buf[off] ^= bit;
		CHECK(rc == CN_ERR_PARTIAL || rc == CN_ERR_MALFORMED);
		/* everything held, the certificate too: the full state */
		if (applied == full_entries && rep.certs_bad == 0)
			CHECK_MEM(d, full_digest, CN_KEY_LEN);
	}
	/* Spans of random bytes: CBOR heads of any kind and length. */
	for (int i = 0; i < flips / 4; i++) {
		struct bundle_report rep;
		uint64_t applied;
		uint8_t *bad = malloc(len), d[CN_KEY_LEN];
		size_t off = tu_rng_below(&rng, (uint32_t)len - 1) + 1;
		size_t n = 1 + tu_rng_below(&rng, 9);
		char tag[64];
		int rc;

		CHECK(bad != NULL);
		memcpy(bad, buf, len);
		for (size_t k = off; k < off + n && k < len; k++)
			bad[k] = (uint8_t)tu_rng_next(&rng);
		snprintf(tag, sizeof tag, "junk-%zu-%zu", off, n);
		rc = import_damaged(tag, bad, len, &rep, &applied, d);
		CHECK(rc == CN_ERR_PARTIAL || rc == CN_ERR_MALFORMED ||
		      (rc == 0 && memcmp(bad, buf, len) == 0));
		/* everything held, the certificate too: the full state */
		if (applied == full_entries && rep.certs_bad == 0)
			CHECK_MEM(d, full_digest, CN_KEY_LEN);
		free(bad);
	}
	free(buf);
}

static void test_trailer(void)
{
	uint8_t *buf, *more;
	size_t len;
	uint8_t pk[CN_KEY_LEN], sk[64], msg[18 + CN_KEY_LEN], d[CN_KEY_LEN];
	struct bundle_report rep;
	uint64_t applied;
	int rc;

	read_all(full_path, &buf, &len);
	/* [... , hash bstr32, sig bstr64] ends the file */
	CHECK_EQ(buf[len - 66], 0x58);
	CHECK_EQ(buf[len - 65], 0x40);
	CHECK_EQ(buf[len - 100], 0x58);
	CHECK_EQ(buf[len - 99], 0x20);

	/* Re-signed by another key: entries still verify themselves, the
	 * trailer does not. */
	crypto_sign_keypair(pk, sk);
	memcpy(msg, "cardnode-bundle-v1", 18);
	memcpy(msg + 18, buf + len - 98, CN_KEY_LEN);
	crypto_sign_detached(buf + len - 64, NULL, msg, sizeof msg, sk);
	rc = import_damaged("resigned", buf, len, &rep, &applied, d);
	CHECK_EQ(rc, CN_ERR_PARTIAL);
	CHECK(!rep.trailer_ok);
	CHECK(rep.complete);
	CHECK(strstr(rep.problem, "signature") != NULL);
	CHECK_EQ(applied, full_entries);
	CHECK_MEM(d, full_digest, CN_KEY_LEN);
	free(buf);

	/* A hash that does not match. */
	read_all(full_path, &buf, &len);
	buf[len - 98] ^= 1;
	rc = import_damaged("badhash", buf, len, &rep, &applied, d);
	CHECK_EQ(rc, CN_ERR_PARTIAL);
	CHECK(!rep.trailer_ok);
	CHECK_STR(rep.problem, "trailer hash does not match: the file was altered");
	CHECK_EQ(applied, full_entries);
	free(buf);

	/* Something after the trailer. */
	read_all(full_path, &buf, &len);
	more = realloc(buf, len + 1);
	CHECK(more != NULL);
	buf = more;
	buf[len] = 0x00;
	rc = import_damaged("after", buf, len + 1, &rep, &applied, d);
	CHECK_EQ(rc, CN_ERR_PARTIAL);
	CHECK(rep.trailer_ok);
	CHECK(!rep.complete);
	CHECK(strstr(rep.problem, "after the trailer") != NULL);
	CHECK_EQ(applied, full_entries);
	free(buf);
}

/* The signature bytes of an inner signed entry altered (its payload
 * intact, a later signature still covering it): whatever the receiver
 * keeps, its log must still pass a full verification. */
static void test_inner_signature(void)
{
	uint8_t *buf;
	size_t len, n;
	struct cbor_rd c;
	const char *name;
	size_t nl;
	uint8_t *hit = NULL;
	struct bundle_report rep;
	uint64_t applied;

	read_all(full_path, &buf, &len);
	cbr_init(&c, buf, len);
	for (int i = 0; i < 3; i++) /* header, certs, revocations */
		CHECK_EQ(cbr_skip(&c), 0);
	CHECK_EQ(cbr_array(&c, &n, 4), 0);
	CHECK_EQ(cbr_tstr(&c, &name, &nl, 16), 0);
	CHECK(nl == 7 && memcmp(name, "entries", 7) == 0);
	CHECK_EQ(cbr_skip(&c), 0); /* origin */
	CHECK_EQ(cbr_skip(&c), 0); /* first seq */
	CHECK_EQ(cbr_array(&c, &n, BUNDLE_CHUNK_MAX_ENTRIES), 0);
	CHECK_EQ(n, full_entries);
	for (size_t i = 0; i + 1 < n; i++) {
		const uint8_t *payload, *sig;
		size_t plen, used;
		const char *why;

		CHECK_EQ(entry_wire_decode(c.p, (size_t)(c.end - c.p), &payload,
					   &plen, &sig, &used, &why), 0);
		if (sig != NULL && hit == NULL)
			hit = buf + (sig - buf) + 10;
		c.p += used;
	}
	CHECK(hit != NULL);
	*hit ^= 0x01;
	CHECK_EQ(import_damaged("innersig", buf, len, &rep, &applied, NULL),
		 CN_ERR_PARTIAL);
	free(buf);
}

static void test_not_a_bundle(void)
{
	struct node R;
	struct bundle_report rep;
	char p[4200];
	static const uint8_t text[] = "student,card\n1,2\n";
	static const uint8_t junk[] = { 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff,
					0xff, 0xff, 0xff, 0x01 };
	static const uint8_t other[] = { 0x85, 0x63, 'f', 'o', 'o', 1, 2, 3, 4 };

	node_new(&R, "r", false);
	path_new(p, sizeof p, "missing.bundle");
	CHECK_EQ(bundle_import(R.r, p, &rep, NULL, NULL), CN_ERR_NOTFOUND);
	CHECK(rep.problem[0] != '\0');
	write_all(p, text, 0);
	CHECK_EQ(bundle_import(R.r, p, &rep, NULL, NULL), CN_ERR_MALFORMED);
	CHECK(strstr(rep.problem, "empty") != NULL);
	write_all(p, text, sizeof text - 1);
	CHECK_EQ(bundle_import(R.r, p, &rep, NULL, NULL), CN_ERR_MALFORMED);
	CHECK(strstr(rep.problem, "not a bundle") != NULL);
	write_all(p, junk, sizeof junk);
	CHECK_EQ(bundle_import(R.r, p, &rep, NULL, NULL), CN_ERR_MALFORMED);
	write_all(p, other, sizeof other);
	CHECK_EQ(bundle_import(R.r, p, &rep, NULL, NULL), CN_ERR_MALFORMED);
	CHECK(bundle_import(R.r, base, &rep, NULL, NULL) != 0); /* a directory */
	CHECK_EQ(held_entries(R.r), 0);
	node_drop(&R);
	CHECK_EQ(remove(p), 0);
}

/* ---- merge --------------------------------------------------------------- */

static void copy_dir(const char *from, const char *to)
{
	char cmd[9000];

	snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", from, to);
	CHECK_EQ(system(cmd), 0);
}

static void test_merge(void)
{
	struct node C;
	struct bundle_report rep;
	struct bundle_export_report ex;
	struct replica *copy;
	char cp[4200], p[4200], err[256], hex[65];
	uint8_t da[CN_KEY_LEN], dc[CN_KEY_LEN];
	struct stat st;
	int rc;

	/* A copy of A's data dir, as taken from a failed machine. */
	replica_close(A.r);
	path_new(cp, sizeof cp, "copy");
	copy_dir(A.dir, cp);
	node_open(&A);

	node_new(&C, "c", false);
	rc = bundle_merge_dir(C.r, cp, &rep, NULL, NULL);
	print_report("merge", rc, &rep);
	CHECK_EQ(rc, 0);
	CHECK_STR(rep.problem, "");
	CHECK_EQ(rep.ingest.applied, total_entries(A.r));
	CHECK_EQ(rep.entries_read, total_entries(A.r));
	CHECK_EQ(rep.certs_new, 1);
	CHECK(rep.trailer_ok);
	CHECK(rep.complete);
	util_hex_encode(A.id, CN_KEY_LEN, hex);
	CHECK_STR(rep.exporter, hex);
	digest_of(A.r, da);
	digest_of(C.r, dc);
	CHECK_MEM(da, dc, CN_KEY_LEN);
	check_sound(C.r, A.r);

	/* Again: nothing to take. */
	rc = bundle_merge_dir(C.r, cp, &rep, NULL, NULL);
	CHECK_EQ(rc, 0);
	CHECK_EQ(rep.ingest.applied, 0);
	CHECK_EQ(rep.entries_read, 0);
	CHECK_EQ(rep.certs_known, 1);

	/* Not a data dir. */
	path_new(p, sizeof p, "nothing");
	rc = bundle_merge_dir(C.r, p, &rep, NULL, NULL);
	CHECK(rc != 0 && rc != CN_ERR_PARTIAL);
	CHECK(rep.problem[0] != '\0');

	/* A copy has no identity: it cannot sign a bundle, and leaves no
	 * partial file behind. */
	CHECK_EQ(replica_open(cp, REPLICA_COPY, &copy, err, sizeof err), 0);
	path_new(p, sizeof p, "nokey.bundle");
	CHECK_EQ(bundle_export(copy, p, NULL, &ex, NULL, NULL), CN_ERR_PERM);
	CHECK(stat(p, &st) != 0);
	replica_close(copy);

	node_drop(&C);
	rm_rf(cp);
}

/* ---- long unsigned runs -------------------------------------------------- */

/* An origin that signs only every 10000th entry (beyond what a conforming
 * author does, within what a receiver must accept): its runs span chunks
 * (closed unsigned at 8192 entries) and import batches (~50000 entries). */
static void test_long_runs(void)
{
	enum { N = 60000, EVERY = 10000 };
	struct node D, E, F;
	uint8_t xpk[CN_KEY_LEN], xsk[64], prev[CN_KEY_LEN], h[CN_KEY_LEN];
	uint8_t *arena;
	const uint8_t **ents;
	size_t *lens, alen = 0;
	struct ingest_report ir;
	struct bundle_export_report ex;
	struct bundle_report rep;
	struct progress pg;
	char p[4200], cp[4200];
	uint64_t now = util_now_ms();
	int rc;

	crypto_sign_keypair(xpk, xsk);
	arena = malloc((size_t)N * 256);
	ents = malloc(N * sizeof *ents);
	lens = malloc(N * sizeof *lens);
	CHECK(arena && ents && lens);
	memset(prev, 0, sizeof prev);
	for (int i = 0; i < N; i++) {
		struct entry e;
		uint8_t payload[256], sig[CN_SIG_LEN];
		size_t plen, wlen;
		const char *why = NULL;
		bool sign = (i + 1) % EVERY == 0;

		memset(&e, 0, sizeof e);
		memcpy(e.origin, xpk, CN_KEY_LEN);
		e.seq = (uint64_t)i + 1;
		memcpy(e.prev, prev, CN_KEY_LEN);
		e.hlc = (now << 16) + (uint64_t)i;
		e.op = OP_NODE_NOTE;
		e.body.has = BF(BK_TEXT);
		snprintf(e.body.text, sizeof e.body.text, "note %d", i + 1);
		rc = entry_encode(&e, payload, sizeof payload, &plen, &why);
		if (rc != 0)
			fprintf(stderr, "entry_encode: %s\n", why);
		CHECK_EQ(rc, 0);
		entry_hash(payload, plen, h);
		memcpy(prev, h, CN_KEY_LEN);
		if (sign)
			entry_sign(h, xsk, sig);
		CHECK_EQ(entry_wire_encode(payload, plen, sign ? sig : NULL,
					   arena + alen, 256, &wlen), 0);
		ents[i] = arena + alen;
		lens[i] = wlen;
		alen += wlen;
	}

	node_new(&D, "d", false);
	install_cert(D.r, xpk, "x");
	memset(&ir, 0, sizeof ir);
	CHECK_EQ(replica_ingest(D.r, ents, lens, N, &ir), 0);
	CHECK_EQ(ir.applied + ir.refused, N);
	CHECK_EQ(replica_head(D.r, xpk), N);

	path_new(p, sizeof p, "long.bundle");
	memset(&pg, 0, sizeof pg);
	CHECK_EQ(bundle_export(D.r, p, NULL, &ex, progress_cb, &pg), 0);
	CHECK_EQ(ex.entries, N);
	/* closed unsigned at 8192, 16384, 24576; at the signed 30000; … */
	CHECK_EQ(ex.chunks, 8);
	CHECK(pg.calls >= N / 10000);

	node_new(&E, "e", false);
	memset(&pg, 0, sizeof pg);
	rc = bundle_import(E.r, p, &rep, progress_cb, &pg);
	print_report("long", rc, &rep);
	CHECK_EQ(rc, 0);
	CHECK_EQ(rep.ingest.applied + rep.ingest.refused, N);
	CHECK_EQ(rep.ingest.unverified, 0);
	CHECK_EQ(replica_head(E.r, xpk), N);
	CHECK(pg.calls >= N / 10000);
	CHECK_EQ(pg.last, N);
	check_sound(E.r, D.r);

	/* Cut after the first 54576 entries' chunk: what 50000 covers
	 * stays, the rest is reported. */
	{
		uint8_t *buf;
		size_t len;
		struct node G;
		char q[4200];

		read_all(p, &buf, &len);
		path_new(q, sizeof q, "long-cut.bundle");
		write_all(q, buf, len - len / 20);
		node_new(&G, "g", false);
		rc = bundle_import(G.r, q, &rep, NULL, NULL);
		print_report("long-cut", rc, &rep);
		CHECK_EQ(rc, CN_ERR_PARTIAL);
		CHECK_EQ(replica_head(G.r, xpk), 50000);
		CHECK(rep.ingest.unverified > 0);
		check_sound(G.r, D.r);
		node_drop(&G);
		free(buf);
	}

	/* The same through a merge of D's data dir. */
	replica_close(D.r);
	path_new(cp, sizeof cp, "dcopy");
	copy_dir(D.dir, cp);
	node_open(&D);
	node_new(&F, "f", false);
	memset(&pg, 0, sizeof pg);
	rc = bundle_merge_dir(F.r, cp, &rep, progress_cb, &pg);
	print_report("long-merge", rc, &rep);
	CHECK_EQ(rc, 0);
	CHECK_EQ(rep.ingest.applied + rep.ingest.refused, N);
	CHECK_EQ(replica_head(F.r, xpk), N);
	CHECK(pg.calls >= N / 10000);
	check_sound(F.r, D.r);

	node_drop(&D);
	node_drop(&E);
	node_drop(&F);
	rm_rf(cp);
	free(arena);
	free(ents);
	free(lens);
}

int main(void)
{
	CHECK(sodium_init() >= 0);
	base = tu_tmpdir("bundle");
	crypto_sign_keypair(root_pk, root_sk);
	randombytes_buf(secret, sizeof secret);

	test_round_trip();
	test_truncated();
	test_bit_flips();
	test_trailer();
	test_inner_signature();
	test_not_a_bundle();
	test_merge();
	test_long_runs();
	node_drop(&A);
	printf("test_bundle: ok\n");
	return 0;
}
