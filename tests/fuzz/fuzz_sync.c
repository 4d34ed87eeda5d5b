/*
 * fuzz_sync.c — libFuzzer harness for the sync message decoder
 * (replication/sync.h): a fresh session over a real replica receives the
 * fuzzer's messages, as the daemon's replica thread would once the frame
 * layer (fuzz_handshake) delivered them.
 *
 * Input: byte 0 picks the setting — bit 0 group commit (batch_entries
 * 64), bit 1 the bulk bootstrap path, bit 2 a replica that already holds
 * entries of its own (else an empty one); then records of [length u16 BE,
 * message bytes], each passed to sync_receive() in turn.  After every
 * message the session's answers are drained with sync_next().  The
 * replica is reset from a template before every input (on tmpfs when
 * there is one: commits sync nothing there), so runs do not depend on
 * each other.
 *
 * Nothing may crash, leak or read out of bounds, and abort() marks what
 * must never happen: an error that is not kept (a second call returning
 * 0), or a replica that no longer verifies after what the session applied.
 *
 * Seeds: FUZZ_SYNC_SEEDS=DIR fuzz_sync writes valid message sequences from
 * a peer node (HELLO, CERTS, ENTRIES with signatures, HAVE, PING) into DIR
 * and exits; tests/fuzz/corpus/sync holds them.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "authority.h"
#include "entry.h"
#include "replica.h"
#include "sync.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INPUT_MAX (256 * 1024)

static uint8_t root_pk[32], root_sk[64], secret[32];
static char base[512];
/* Two templates: [0] empty, [1] with entries of its own. */
static char tdir[2][600];
static uint8_t *tdata[2];
static size_t tlen[2];

static void die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz_sync: %s: %s\n", what, why);
	abort();
}

static void cert_install(struct replica *r, const uint8_t node[32],
			 uint8_t role, const char *scope)
{
	struct cert c;
	uint8_t buf[CERT_MAX];
	size_t len;
	const char *why = "";

	memset(&c, 0, sizeof c);
	memcpy(c.node, node, 32);
	snprintf(c.name, sizeof c.name, "fuzz");
	c.role = role;
	snprintf(c.scope, sizeof c.scope, "%s", scope);
	c.not_before = 946684800000ull;
	c.not_after = 7258118400000ull;
	c.serial = 1;
	if (authority_cert_sign(&c, root_sk, buf, sizeof buf, &len) != 0 ||
	    replica_cert_install(r, buf, len, &why) != 0)
		die("certificate", why);
}

/* A certified node in base/NAME, opened. */
static struct replica *node_new(const char *name, uint8_t role,
				const char *scope, char *dir, size_t dirlen)
{
	struct replica_init in;
	struct replica *r;
	uint8_t node[32];
	char err[512];

	snprintf(dir, dirlen, "%s/%s", base, name);
	memset(&in, 0, sizeof in);
	in.dir = dir;
	in.name = name;
	in.role = role;
	in.scope = scope;
	memcpy(in.root_pub, root_pk, 32);
	memcpy(in.secret, secret, 32);
	in.profile = PROFILE_GENERIC;
	if (replica_init(&in, node, err, sizeof err) != 0)
		die("replica_init", err);
	if (replica_open(dir, 0, &r, err, sizeof err) != 0)
		die("replica_open", err);
	cert_install(r, node, role, scope);
	return r;
}

/* Author n students (and a card for every other one) as r, in batches of
 * `batch` (each batch one signature). */
static void author(struct replica *r, char tag, int n, int batch)
{
	struct entry e[16];
	enum fold_reason why;
	size_t bad;
	int k = 0;

	for (int i = 0; i < n; i++) {
		memset(&e[k], 0, sizeof e[k]);
		e[k].op = OP_STUDENT_PUT;
		snprintf(e[k].key, sizeof e[k].key, "%c%07d", tag, i);
		snprintf(e[k].body.name, sizeof e[k].body.name, "s%d", i);
		snprintf(e[k].body.school, sizeof e[k].body.school, "110105-0001");
		e[k].body.has = BF(BK_NAME) | BF(BK_SCHOOL);
		k++;
		if (i % 2 == 0) {
			memset(&e[k], 0, sizeof e[k]);
			e[k].op = OP_CARD_ISSUE;
			snprintf(e[k].key, sizeof e[k].key, "%c%07d", tag, i);
			snprintf(e[k].body.card, sizeof e[k].body.card, "%c9%06d", tag, i);
			e[k].body.uid[0] = 4;
			e[k].body.uid[1] = (uint8_t)tag;
			e[k].body.uid[3] = (uint8_t)i;
			e[k].body.uid_len = 4;
			e[k].body.kind = KIND_REGULAR;
			e[k].body.has = BF(BK_CARD) | BF(BK_UID) | BF(BK_KIND);
			k++;
		}
		if (k + 2 > (int)(sizeof e / sizeof e[0]) || k >= batch || i == n - 1) {
			if (replica_author(r, e, (size_t)k, &bad, &why) != 0)
				die("replica_author", fold_reason_name(why));
			k = 0;
		}
	}
}

static void read_template(int i)
{
	char path[700];

	snprintf(path, sizeof path, "%s/data.mdb", tdir[i]);
	if (util_read_file(path, 64u << 20, &tdata[i], &tlen[i]) != 0)
		die("reading the template", path);
}

static void reset(int i)
{
	char path[700];
	int fd;

	snprintf(path, sizeof path, "%s/data.mdb", tdir[i]);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0 || write(fd, tdata[i], tlen[i]) != (ssize_t)tlen[i])
		die("resetting the replica", path);
	close(fd);
}

static void rm_rf(const char *dir)
{
	char cmd[700];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_sync: could not remove %s\n", dir);
}

static void cleanup(void)
{
	if (base[0])
		rm_rf(base);
}

/* ---- seeds ---------------------------------------------------------------- */

struct rec {
	uint8_t buf[INPUT_MAX];
	size_t len;
};

static void rec_add(struct rec *o, const uint8_t *m, size_t n)
{
	if (n > 0xffff || o->len + 2 + n > sizeof o->buf)
		return;
	o->buf[o->len++] = (uint8_t)(n >> 8);
	o->buf[o->len++] = (uint8_t)n;
	memcpy(o->buf + o->len, m, n);
	o->len += n;
}

static void rec_write(const char *dir, const char *name, uint8_t flags,
		      const struct rec *o)
{
	char path[700];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL)
		die("writing a seed", path);
	fputc(flags, f);
	fwrite(o->buf, 1, o->len, f);
	fclose(f);
}

/* Run a session of peer p against a fresh replica y; record what p sends
 * y (the seed) until both are quiet. */
static void capture(struct replica *p, struct replica *y, struct rec *o)
{
	struct sync_session *sp, *sy;
	struct sync_limits lim = {.max_entries = 8};
	uint8_t *m;
	size_t n;
	bool moved = true;

	if (sync_open(&sp, p, &lim) != 0 || sync_open(&sy, y, NULL) != 0 ||
	    sync_start(sp) != 0 || sync_start(sy) != 0)
		die("capture", "open");
	for (int round = 0; moved && round < 1000; round++) {
		moved = false;
		while (sync_next(sp, &m, &n) == 0 && m != NULL) {
			rec_add(o, m, n);
			if (sync_receive(sy, m, n) != 0)
				die("capture", sync_error(sy));
			free(m);
			moved = true;
		}
		while (sync_next(sy, &m, &n) == 0 && m != NULL) {
			if (sync_receive(sp, m, n) != 0)
				die("capture", sync_error(sp));
			free(m);
			moved = true;
		}
	}
	sync_close(sp);
	sync_close(sy);
}

static void write_seeds(const char *out)
{
	static struct rec o, extra;
	static const uint8_t ping[] = {0x82, 0x05, 0x07};
	static const uint8_t have_empty[] = {0x82, 0x04, 0xa0};
	char pdir[600], ydir[600];
	struct replica *p = node_new("peer", ROLE_DISTRICT, "110105", pdir,
				     sizeof pdir);
	struct replica *y = node_new("capture", ROLE_SCHOOL, "110105-0001", ydir,
				     sizeof ydir);

	author(p, 'P', 40, 12);
	capture(p, y, &o);
	replica_close(y);
	rec_write(out, "seed-peer", 0, &o);
	rec_write(out, "seed-peer-group", 1, &o);
	rec_write(out, "seed-peer-bulk", 3, &o);
	rec_write(out, "seed-peer-nonempty", 4, &o);
	extra = o;
	rec_add(&extra, ping, sizeof ping);
	rec_add(&extra, have_empty, sizeof have_empty);
	rec_write(out, "seed-peer-ping-have", 0, &extra);
	replica_close(p);
	fprintf(stderr, "fuzz_sync: seeds written to %s\n", out);
}

/* ---- the harness ------------------------------------------------------------ */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR"), *seeds = getenv("FUZZ_SYNC_SEEDS");
	struct stat sb;
	uint8_t seed[32];
	struct replica *r;

	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	memset(seed, 1, sizeof seed);
	crypto_sign_seed_keypair(root_pk, root_sk, seed);
	memset(secret, 5, sizeof secret);
	if (tmp == NULL || *tmp == '\0')
		tmp = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm"
									  : "/tmp";
	snprintf(base, sizeof base, "%s/fuzz_sync.XXXXXX", tmp);
	if (mkdtemp(base) == NULL)
		die("mkdtemp", base);
	atexit(cleanup);
	if (seeds != NULL && *seeds != '\0') {
		write_seeds(seeds);
		exit(0);
	}
	r = node_new("empty", ROLE_SCHOOL, "110105-0001", tdir[0], sizeof tdir[0]);
	replica_close(r);
	r = node_new("held", ROLE_CITY, "110000", tdir[1], sizeof tdir[1]);
	author(r, 'H', 10, 4);
	replica_close(r);
	read_template(0);
	read_template(1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sync_session *s = NULL;
	struct sync_limits lim;
	struct replica *r;
	uint8_t flags, *m, digest[CN_KEY_LEN];
	struct replica_counts n;
	char err[512], problem[512] = "";
	size_t off = 1, mlen;
	int which, rc = 0;

	if (size < 1 || size > INPUT_MAX)
		return 0;
	flags = data[0];
	which = (flags & 4) ? 1 : 0;
	reset(which);
	if (replica_open(tdir[which], 0, &r, err, sizeof err) != 0)
		die("replica_open", err);
	memset(&lim, 0, sizeof lim);
	if (flags & 1)
		lim.batch_entries = 64;
	lim.bulk = (flags & 2) != 0;
	if (sync_open(&s, r, &lim) != 0 || sync_start(s) != 0)
		die("sync", "open");
	while (rc == 0 && off + 2 <= size) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];
		uint8_t *msg;

		off += 2;
		if (len > size - off)
			len = size - off;
		/* A copy of exactly the message: an over-read is caught. */
		if ((msg = malloc(len ? len : 1)) == NULL)
			abort();
		memcpy(msg, data + off, len);
		off += len;
		rc = sync_receive(s, msg, len);
		free(msg);
		for (int k = 0; rc == 0 && k < 64; k++) {
			rc = sync_next(s, &m, &mlen);
			if (rc != 0 || m == NULL)
				break;
			free(m);
		}
	}
	if (rc != 0) {
		/* Errors are fatal and kept. */
		if (sync_receive(s, data, 0) == 0 || sync_error(s)[0] == '\0')
			abort();
	}
	sync_close(s);
	/* Whatever got in, the replica still verifies. */
	if (replica_verify(r, digest, &n, problem, sizeof problem) != 0)
		die("verify after the session", problem);
	replica_close(r);
	return 0;
}
