/*
 * bench_city.c — a synthetic city through the replica core, and the same data
 * through SQLite for comparison (docs/bench.md).
 *
 *   phase 1  the city node authors student.put + card.issue for every student
 *            (replica_author, 10,000 entries per call)
 *   phase 2  the later operations (card.validate / card.register / card.lost)
 *   phase 3  bundle_export of everything, bundle_import into a fresh replica
 *            (every entry through the chain and signature check), digests
 *   phase 4  store size per card
 *   phase 5  reader decisions (replica_check_uid, replica_check_card)
 *   phase 6  SQLite: one table, batches of 10,000, lookups by uid
 *
 * Every generated value is a pure function of (seed, index): the data is
 * regenerated per batch and never held in memory as a whole.  Results go to
 * stdout, progress to stderr.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>
#include <sqlite3.h>

#include "authority.h"
#include "bench_util.h"
#include "bundle.h"
#include "entry.h"
#include "fold.h"
#include "policy.h"
#include "replica.h"
#include "util.h"

#define AUTHOR_BATCH 10000      /* entries per replica_author call */
#define SQL_BATCH 10000         /* rows per SQLite transaction */
#define MAX_STUDENTS 90000000u  /* 8-digit edu_ids */

#define TARGET_IMPORT 200000.0  /* entries/s */
#define TARGET_MEDIAN_US 20.0   /* µs */
#define TARGET_BYTES_CARD 400.0 /* bytes */

/* ---- options ----------------------------------------------------------- */

struct opts {
	uint64_t students;
	uint64_t ops;
	uint64_t seed;
	uint64_t checks;         /* 0: 1M, or 200k below 1M students */
	const char *dir;
	const char *import_path; /* --import: re-import a kept bundle only */
	bool keep;
	bool sqlite;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_city [options]\n"
		"  --students N   students, one card each (default 2000000)\n"
		"  --ops N        later operations (default 200000)\n"
		"  --seed S       seed of the synthetic city (default 1)\n"
		"  --checks N     decisions to time (default 1000000, 200000 below 1M students)\n"
		"  --dir DIR      work directory (default: a fresh /tmp/cardnode-bench.XXXXXX)\n"
		"  --keep         keep the data dirs, bundle and SQLite file\n"
		"  --import FILE  skip phases 1-2 and the export: import FILE (a bundle kept\n"
		"                 from a run with the same --seed and --students) into a\n"
		"                 fresh replica, then phases 4-6 (for profiling the import)\n"
		"  --sqlite       run the SQLite comparison (default)\n"
		"  --no-sqlite    skip it\n"
		"  --help         this text\n");
}

static uint64_t parse_u64(const char *opt, const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s ? s : "", &end, 10);
	if (s == NULL || *s == '\0' || *end != '\0' || errno != 0) {
		fprintf(stderr, "bench_city: %s needs a number\n", opt);
		exit(2);
	}
	return v;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof *o);
	o->students = 2000000;
	o->ops = 200000;
	o->seed = 1;
	o->sqlite = true;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--students") == 0) {
			o->students = parse_u64(a, v);
			i++;
		} else if (strcmp(a, "--ops") == 0) {
			o->ops = parse_u64(a, v);
			i++;
		} else if (strcmp(a, "--seed") == 0) {
			o->seed = parse_u64(a, v);
			i++;
		} else if (strcmp(a, "--checks") == 0) {
			o->checks = parse_u64(a, v);
			i++;
		} else if (strcmp(a, "--dir") == 0) {
			if (v == NULL) {
				fprintf(stderr, "bench_city: --dir needs a path\n");
				exit(2);
			}
			o->dir = v;
			i++;
		} else if (strcmp(a, "--import") == 0) {
			if (v == NULL) {
				fprintf(stderr, "bench_city: --import needs a bundle file\n");
				exit(2);
			}
			o->import_path = v;
			i++;
		} else if (strcmp(a, "--keep") == 0) {
			o->keep = true;
		} else if (strcmp(a, "--sqlite") == 0) {
			o->sqlite = true;
		} else if (strcmp(a, "--no-sqlite") == 0) {
			o->sqlite = false;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		} else {
			fprintf(stderr, "bench_city: unknown option %s\n", a);
			usage(stderr);
			exit(2);
		}
	}
	if (o->students == 0 || o->students > MAX_STUDENTS) {
		fprintf(stderr, "bench_city: --students must be 1..%u\n", MAX_STUDENTS);
		exit(2);
	}
	if (o->checks == 0)
		o->checks = o->students >= 1000000 ? 1000000 : 200000;
}

/* ---- small helpers ----------------------------------------------------- */

/* CPU and storage I/O of this process over a phase. */
struct acct {
	uint64_t wall_ns, user_us, sys_us, wbytes, rbytes, dev_wbytes;
};

/* The block device of the work dir, for /proc/diskstats. */
static unsigned dev_major, dev_minor;
static bool dev_known;

static void acct_set_dev(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0) {
		dev_major = major(st.st_dev);
		dev_minor = minor(st.st_dev);
		dev_known = true;
	}
}

/* Bytes written to the work dir's device so far, whole machine. */
static uint64_t dev_written(void)
{
	FILE *f;
	char line[512];
	uint64_t v = 0;

	if (!dev_known || (f = fopen("/proc/diskstats", "r")) == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL) {
		unsigned ma, mi;
		unsigned long long rd, rdm, rds, rdt, wr, wrm, wrs;
		char name[64];
		if (sscanf(line, "%u %u %63s %llu %llu %llu %llu %llu %llu %llu", &ma, &mi,
			   name, &rd, &rdm, &rds, &rdt, &wr, &wrm, &wrs) == 10 &&
		    ma == dev_major && mi == dev_minor)
			v = (uint64_t)wrs * 512u;
	}
	fclose(f);
	return v;
}

static uint64_t proc_io(const char *field)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	size_t fl = strlen(field);
	uint64_t v = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, field, fl) == 0 && line[fl] == ':')
			v = strtoull(line + fl + 1, NULL, 10);
	fclose(f);
	return v;
}

static struct acct acct_now(void)
{
	struct rusage ru;
	struct acct a;

	getrusage(RUSAGE_SELF, &ru);
	a.wall_ns = util_mono_ns();
	a.user_us = (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec;
	a.sys_us = (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
	a.wbytes = proc_io("write_bytes");
	a.rbytes = proc_io("read_bytes");
	a.dev_wbytes = dev_written();
	return a;
}

/* Print what happened since `a0`; `units` are the entries or rows done. */
static void acct_print(const struct acct *a0, uint64_t units, const char *unit)
{
	struct acct a1 = acct_now();
	double wall = secs(a1.wall_ns - a0->wall_ns);
	double user = (double)(a1.user_us - a0->user_us) / 1e6;
	double sys = (double)(a1.sys_us - a0->sys_us) / 1e6;
	uint64_t wb = a1.wbytes - a0->wbytes, dw = a1.dev_wbytes - a0->dev_wbytes;

	printf("  cpu/io               wall %.2f s = user %.2f s + sys %.2f s + waiting %.2f s\n",
	       wall, user, sys, wall - user - sys > 0 ? wall - user - sys : 0.0);
	printf("                       device writes %.0f MB (%.1f KB per %s; whole machine);"
	       " page cache dirtied %.0f MB\n", (double)dw / 1e6,
	       units ? (double)dw / 1024.0 / (double)units : 0.0, unit, (double)wb / 1e6);
}

struct fsize {
	uint64_t logical;  /* st_size */
	uint64_t disk;     /* st_blocks * 512 */
};

static struct fsize file_size(const char *path)
{
	struct stat st;
	struct fsize s = {0, 0};

	if (stat(path, &st) == 0) {
		s.logical = (uint64_t)st.st_size;
		s.disk = (uint64_t)st.st_blocks * 512u;
	}
	return s;
}

/* ---- deterministic generator --------------------------------------------- */

struct rng {
	uint64_t s;
};

static uint64_t mix64(uint64_t z)
{
	z += 0x9E3779B97F4A7C15ull;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t a, uint64_t b)
{
	r->s = mix64(mix64(a) ^ b);
	if (r->s == 0)
		r->s = 1;
}

/* xorshift64* */
static uint64_t rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1Dull;
}

static uint32_t rng_below(struct rng *r, uint32_t n)
{
	return n ? (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32) : 0;
}

/* A keyed permutation of [0, 2^28) (four Feistel rounds), restricted to
 * [0, range) by cycle walking: distinct indexes give distinct values, in an
 * order that looks random. */
static uint32_t feistel28(uint32_t x, uint64_t key)
{
	uint32_t l = x >> 14, r = x & 0x3fff;

	for (uint64_t round = 0; round < 4; round++) {
		uint32_t f = (uint32_t)mix64(r ^ (key + round * 0x632BE59BD9B4E019ull)) & 0x3fff;
		uint32_t t = l ^ f;
		l = r;
		r = t;
	}
	return l << 14 | r;
}

static uint32_t permute(uint32_t i, uint32_t range, uint64_t key)
{
	uint32_t x = i;

	do
		x = feistel28(x, key);
	while (x >= range);
	return x;
}

static const char *const districts[16] = {
	"110101", "110102", "110105", "110106", "110107", "110108", "110109",
	"110111", "110112", "110113", "110114", "110115", "110116", "110117",
	"110118", "110119",
};
#define SCHOOLS_PER_DISTRICT 50

static const char *const surnames[] = {
	"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙",
	"马", "朱", "胡", "郭", "何", "高", "林", "罗", "郑", "梁", "谢", "宋",
};
static const char *const given[] = {
	"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳",
	"杰", "娟", "涛", "明", "超", "秀", "霞", "平", "刚", "桂", "子", "涵",
	"浩", "宇", "轩", "欣", "怡", "梓", "睿", "博", "晨", "思", "雨", "佳",
	"嘉", "一", "诺", "泽",
};
#define NSURNAMES (sizeof surnames / sizeof surnames[0])
#define NGIVEN (sizeof given / sizeof given[0])

struct student {
	char edu[CN_EDU_ID_MAX + 1];
	char card[CN_CARD_NO_MAX + 1];
	char school[CN_SCHOOL_MAX + 1];
	char name[CN_NAME_MAX + 1];
	char class_[CN_CLASS_MAX + 1];
	char idnum[19];           /* synthetic 18-character national ID */
	uint8_t gender, grade, stage;
	uint32_t grad;            /* YYYYMMDD */
	uint32_t expires;         /* YYYYMMDD */
	uint8_t uid[CN_UID_MAX];
	uint8_t uid_len;
};

static void gen_student(uint64_t seed, uint32_t i, struct student *s)
{
	struct rng r;
	uint32_t x, d, y, left;
	int gy, n;

	memset(s, 0, sizeof *s);
	snprintf(s->edu, sizeof s->edu, "%08" PRIu32,
		 10000000u + permute(i, MAX_STUDENTS, seed ^ 0xED0ull));
	snprintf(s->card, sizeof s->card, "11%08" PRIu32,
		 permute(i, 100000000u, seed ^ 0xCA4Dull));
	rng_seed(&r, seed, (uint64_t)i + 1);
	d = rng_below(&r, 16);
	snprintf(s->school, sizeof s->school, "%s-%04" PRIu32, districts[d],
		 1 + rng_below(&r, SCHOOLS_PER_DISTRICT));
	n = snprintf(s->name, sizeof s->name, "%s", surnames[rng_below(&r, NSURNAMES)]);
	for (int c = 1 + (rng_below(&r, 10) < 7); c > 0; c--)
		n += snprintf(s->name + n, sizeof s->name - (size_t)n, "%s",
			      given[rng_below(&r, NGIVEN)]);
	s->gender = (uint8_t)(1 + rng_below(&r, 2));
	s->grade = (uint8_t)(1 + rng_below(&r, 12));
	s->stage = s->grade <= 6 ? STAGE_PRIMARY : s->grade <= 9 ? STAGE_JUNIOR : STAGE_SENIOR;
	snprintf(s->class_, sizeof s->class_, "%u班", 1 + rng_below(&r, 12));
	left = s->grade <= 6 ? 7u - s->grade : s->grade <= 9 ? 10u - s->grade : 13u - s->grade;
	gy = 2026 + (int)left;
	s->grad = (uint32_t)gy * 10000u + 701u;
	s->expires = (uint32_t)gy * 10000u + 831u;
	/* 18-character ID: district, birth date, sequence, ISO 7064 check. */
	y = 2026u - 6u - s->grade;
	snprintf(s->idnum, sizeof s->idnum, "%s%04" PRIu32 "%02" PRIu32 "%02" PRIu32 "%03" PRIu32,
		 districts[d], y, 1 + rng_below(&r, 12), 1 + rng_below(&r, 28),
		 rng_below(&r, 1000));
	{
		static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
		static const char chk[] = "10X98765432";
		int sum = 0;
		for (int k = 0; k < 17; k++)
			sum += (s->idnum[k] - '0') * w[k];
		s->idnum[17] = chk[sum % 11];
		s->idnum[18] = '\0';
	}
	/* 70 % 4-byte NUIDs (which can collide), 30 % 7-byte NXP UIDs. */
	x = (uint32_t)rng_next(&r);
	if (rng_below(&r, 10) < 7) {
		s->uid_len = 4;
		for (int k = 0; k < 4; k++)
			s->uid[k] = (uint8_t)(x >> (8 * k));
	} else {
		uint64_t v = rng_next(&r);
		s->uid_len = 7;
		s->uid[0] = 0x04;
		for (int k = 1; k < 7; k++)
			s->uid[k] = (uint8_t)(v >> (8 * k));
	}
}

enum { OPK_VALIDATE, OPK_REGISTER, OPK_LOST };

struct later_op {
	uint32_t student;
	int kind;
	uint32_t value;   /* through YYYYMM or term YYYYT */
	char actor[16];
};

static void gen_op(uint64_t seed, uint32_t nstudents, uint64_t k, struct later_op *o)
{
	struct rng r;
	uint32_t p;

	rng_seed(&r, seed ^ 0x0B5ull, k + 1);
	o->student = rng_below(&r, nstudents);
	p = rng_below(&r, 100);
	if (p < 50) {
		o->kind = OPK_VALIDATE;
		o->value = 202609u + rng_below(&r, 4);
	} else if (p < 80) {
		o->kind = OPK_REGISTER;
		o->value = rng_below(&r, 4) ? 20262u : 20271u;
	} else {
		o->kind = OPK_LOST;
		o->value = 0;
	}
	if (rng_below(&r, 3) == 0)
		snprintf(o->actor, sizeof o->actor, "app");
	else
		snprintf(o->actor, sizeof o->actor, "window-%u", 1 + rng_below(&r, 8));
}

/* ---- entries ------------------------------------------------------------- */

static void make_put(const struct student *s, const uint8_t idd[32], struct entry *e)
{
	memset(e, 0, sizeof *e);
	e->op = OP_STUDENT_PUT;
	memcpy(e->key, s->edu, sizeof e->key);
	memcpy(e->body.name, s->name, sizeof e->body.name);
	memcpy(e->body.school, s->school, sizeof e->body.school);
	memcpy(e->body.class_, s->class_, sizeof e->body.class_);
	e->body.gender = s->gender;
	e->body.grade = s->grade;
	e->body.stage = s->stage;
	e->body.grad = s->grad;
	memcpy(e->body.idd, idd, 32);
	e->body.has = BF(BK_NAME) | BF(BK_SCHOOL) | BF(BK_CLASS) | BF(BK_GENDER) |
		      BF(BK_GRADE) | BF(BK_STAGE) | BF(BK_GRAD) | BF(BK_IDD);
}

static void make_issue(const struct student *s, struct entry *e)
{
	memset(e, 0, sizeof *e);
	e->op = OP_CARD_ISSUE;
	memcpy(e->key, s->edu, sizeof e->key);
	memcpy(e->body.card, s->card, sizeof e->body.card);
	memcpy(e->body.uid, s->uid, s->uid_len);
	e->body.uid_len = s->uid_len;
	e->body.kind = KIND_REGULAR;
	e->body.expires = s->expires;
	e->body.has = BF(BK_CARD) | BF(BK_UID) | BF(BK_KIND) | BF(BK_EXPIRES);
}

static void make_op(const struct later_op *o, const struct student *s, struct entry *e)
{
	memset(e, 0, sizeof *e);
	memcpy(e->key, s->edu, sizeof e->key);
	memcpy(e->body.card, s->card, sizeof e->body.card);
	snprintf(e->actor, sizeof e->actor, "%s", o->actor);
	e->body.has = BF(BK_CARD);
	switch (o->kind) {
	case OPK_VALIDATE:
		e->op = OP_CARD_VALIDATE;
		e->body.through = o->value;
		e->body.has |= BF(BK_THROUGH);
		break;
	case OPK_REGISTER:
		e->op = OP_CARD_REGISTER;
		e->body.term = o->value;
		e->body.has |= BF(BK_TERM);
		break;
	default:
		e->op = OP_CARD_LOST;
		break;
	}
}

/* ---- deployment ---------------------------------------------------------- */

struct deploy {
	uint8_t root_pk[32];
	uint8_t root_sk[64];
	uint8_t secret[32];
};

static struct replica *node_new(const struct deploy *d, const char *dir,
				const char *name, uint8_t role, const char *scope)
{
	uint8_t id[32];
	char cname[40];

	snprintf(cname, sizeof cname, "bench-%s", authority_role_name(role));
	return bench_node_new(d->root_sk, d->secret, dir, name, cname, role, scope, id);
}

/* ---- bundle progress ------------------------------------------------------ */

struct prog {
	const char *what;
	uint64_t t0;
	int last_decile;
};

static void bundle_prog(void *ctx, uint64_t done, uint64_t total)
{
	struct prog *p = ctx;
	int dec = total ? (int)(done * 10 / total) : 0;

	if (dec > p->last_decile) {
		p->last_decile = dec;
		progress("%s: %" PRIu64 "/%" PRIu64 " entries (%.1f s)", p->what,
			 done, total, secs(util_mono_ns() - p->t0));
	}
}

/* ---- SQLite -------------------------------------------------------------- */

/* The row's state: what the reader decision and the service windows need of
 * one card and its student, packed little-endian. */
struct sq_state {
	uint32_t expires, valid_through, term, grad;
	uint8_t gender, grade, stage, kind, lost;
	uint8_t idd[32];
	char school[CN_SCHOOL_MAX + 1];
	char name[CN_NAME_MAX + 1];
	char class_[CN_CLASS_MAX + 1];
	uint64_t issued_ms;
};

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

#define SQ_FIXED (4 * 4 + 5 + 32 + 8)
#define SQ_MAX (SQ_FIXED + 3 + CN_SCHOOL_MAX + CN_NAME_MAX + CN_CLASS_MAX)

static size_t sq_encode(const struct sq_state *s, uint8_t *out)
{
	size_t n = 0, l;

	put_u32(out + n, s->expires); n += 4;
	put_u32(out + n, s->valid_through); n += 4;
	put_u32(out + n, s->term); n += 4;
	put_u32(out + n, s->grad); n += 4;
	out[n++] = s->gender; out[n++] = s->grade; out[n++] = s->stage;
	out[n++] = s->kind; out[n++] = s->lost;
	memcpy(out + n, s->idd, 32); n += 32;
	put_u32(out + n, (uint32_t)s->issued_ms); put_u32(out + n + 4, (uint32_t)(s->issued_ms >> 32)); n += 8;
	l = strlen(s->school); out[n++] = (uint8_t)l; memcpy(out + n, s->school, l); n += l;
	l = strlen(s->name); out[n++] = (uint8_t)l; memcpy(out + n, s->name, l); n += l;
	l = strlen(s->class_); out[n++] = (uint8_t)l; memcpy(out + n, s->class_, l); n += l;
	return n;
}

static int sq_decode(const uint8_t *p, size_t len, struct sq_state *s)
{
	size_t n = SQ_FIXED, l;

	memset(s, 0, sizeof *s);
	if (len < SQ_FIXED)
		return -1;
	s->expires = get_u32(p);
	s->valid_through = get_u32(p + 4);
	s->term = get_u32(p + 8);
	s->grad = get_u32(p + 12);
	s->gender = p[16]; s->grade = p[17]; s->stage = p[18]; s->kind = p[19];
	s->lost = p[20];
	memcpy(s->idd, p + 21, 32);
	s->issued_ms = get_u32(p + 53) | (uint64_t)get_u32(p + 57) << 32;
#define SQ_STR(dst, max)                                   \
	do {                                               \
		if (n >= len || (l = p[n]) > (max) || n + 1 + l > len) \
			return -1;                         \
		memcpy(dst, p + n + 1, l);                 \
		dst[l] = '\0';                             \
		n += 1 + l;                                \
	} while (0)
	SQ_STR(s->school, CN_SCHOOL_MAX);
	SQ_STR(s->name, CN_NAME_MAX);
	SQ_STR(s->class_, CN_CLASS_MAX);
#undef SQ_STR
	return n == len ? 0 : -1;
}

static void sq_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		die("sqlite: %s: %s", sql, msg ? msg : sqlite3_errmsg(db));
}

static sqlite3_stmt *sq_prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		die("sqlite prepare %s: %s", sql, sqlite3_errmsg(db));
	return st;
}

static void sq_step_done(sqlite3 *db, sqlite3_stmt *st)
{
	if (sqlite3_step(st) != SQLITE_DONE)
		die("sqlite step: %s", sqlite3_errmsg(db));
	sqlite3_reset(st);
}

struct sq_row {
	char card[CN_CARD_NO_MAX + 1];
	char edu[CN_EDU_ID_MAX + 1];
	uint8_t uid[CN_UID_MAX];
	uint8_t uid_len;
	struct sq_state st;
	int op_kind;           /* -1: new row; else the later op to apply */
	uint32_t op_value;
};

static void sq_bind_row(sqlite3_stmt *ins, const struct sq_row *row)
{
	uint8_t blob[SQ_MAX];
	size_t bl = sq_encode(&row->st, blob);

	sqlite3_bind_text(ins, 1, row->card, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(ins, 2, row->edu, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(ins, 3, row->uid, row->uid_len, SQLITE_TRANSIENT);
	sqlite3_bind_blob(ins, 4, blob, (int)bl, SQLITE_TRANSIENT);
}

struct sq_result {
	bool ran;
	uint64_t insert_ns, ops_ns, rows, ops;
	struct fsize size;
	struct lat lookup;
	uint64_t lookups, lookup_unknown, lookup_lost, lookup_expired, lookup_ambiguous;
};

static void run_sqlite(const struct opts *o, const char *path,
		       struct replica *iddr, uint32_t *lat, struct sq_result *res)
{
	sqlite3 *db;
	sqlite3_stmt *ins, *sel, *byuid;
	struct sq_row *rows = calloc(SQL_BATCH, sizeof *rows);
	uint32_t n = (uint32_t)o->students;
	uint64_t now = util_now_ms(), t0, t;
	uint32_t today = policy_local_date(now, NULL);
	char walp[PATH_MAX + 8];
	struct rng pick;

	if (rows == NULL)
		die("out of memory");
	memset(res, 0, sizeof *res);
	res->ran = true;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		die("sqlite open %s: %s", path, sqlite3_errmsg(db));
	sq_exec(db, "PRAGMA journal_mode=WAL");
	sq_exec(db, "PRAGMA synchronous=NORMAL");
	sq_exec(db, "PRAGMA cache_size=-65536");
	sq_exec(db, "CREATE TABLE cards(card_no TEXT PRIMARY KEY, edu_id TEXT NOT NULL,"
		    " uid BLOB NOT NULL, state BLOB NOT NULL)");
	sq_exec(db, "CREATE INDEX cards_uid ON cards(uid)");
	ins = sq_prep(db, "INSERT OR REPLACE INTO cards(card_no, edu_id, uid, state) VALUES (?, ?, ?, ?)");
	sel = sq_prep(db, "SELECT state FROM cards WHERE card_no = ?");
	byuid = sq_prep(db, "SELECT card_no, edu_id, state FROM cards WHERE uid = ?");

	/* The students: one row per student and card.  Rows are generated
	 * before the clock starts; the time is SQLite's alone. */
	for (uint32_t base = 0; base < n; base += SQL_BATCH) {
		uint32_t m = n - base < SQL_BATCH ? n - base : SQL_BATCH;
		for (uint32_t k = 0; k < m; k++) {
			struct student s;
			struct sq_row *row = &rows[k];
			gen_student(o->seed, base + k, &s);
			memcpy(row->card, s.card, sizeof row->card);
			memcpy(row->edu, s.edu, sizeof row->edu);
			memcpy(row->uid, s.uid, sizeof row->uid);
			row->uid_len = s.uid_len;
			memset(&row->st, 0, sizeof row->st);
			row->st.expires = s.expires;
			row->st.grad = s.grad;
			row->st.gender = s.gender;
			row->st.grade = s.grade;
			row->st.stage = s.stage;
			row->st.kind = KIND_REGULAR;
			row->st.issued_ms = now;
			replica_id_digest(iddr, s.idnum, row->st.idd);
			memcpy(row->st.school, s.school, sizeof row->st.school);
			memcpy(row->st.name, s.name, sizeof row->st.name);
			memcpy(row->st.class_, s.class_, sizeof row->st.class_);
		}
		t0 = util_mono_ns();
		sq_exec(db, "BEGIN");
		for (uint32_t k = 0; k < m; k++) {
			sq_bind_row(ins, &rows[k]);
			sq_step_done(db, ins);
		}
		sq_exec(db, "COMMIT");
		res->insert_ns += util_mono_ns() - t0;
		res->rows += m;
		if ((base / SQL_BATCH + 1) % (n / SQL_BATCH / 10 + 1) == 0)
			progress("sqlite: %u/%u rows (%.1f s in SQLite)", base + m, n,
				 secs(res->insert_ns));
	}
	/* The later operations: read the row, apply, INSERT OR REPLACE. */
	for (uint64_t base = 0; base < o->ops; base += SQL_BATCH) {
		uint32_t m = (uint32_t)(o->ops - base < SQL_BATCH ? o->ops - base : SQL_BATCH);
		for (uint32_t k = 0; k < m; k++) {
			struct later_op op;
			struct student s;
			struct sq_row *row = &rows[k];
			gen_op(o->seed, n, base + k, &op);
			gen_student(o->seed, op.student, &s);
			memcpy(row->card, s.card, sizeof row->card);
			memcpy(row->edu, s.edu, sizeof row->edu);
			memcpy(row->uid, s.uid, sizeof row->uid);
			row->uid_len = s.uid_len;
			row->op_kind = op.kind;
			row->op_value = op.value;
		}
		t0 = util_mono_ns();
		sq_exec(db, "BEGIN");
		for (uint32_t k = 0; k < m; k++) {
			struct sq_row *row = &rows[k];
			sqlite3_bind_text(sel, 1, row->card, -1, SQLITE_STATIC);
			if (sqlite3_step(sel) != SQLITE_ROW ||
			    sq_decode(sqlite3_column_blob(sel, 0),
				      (size_t)sqlite3_column_bytes(sel, 0), &row->st) != 0)
				die("sqlite: card %s not found or corrupt", row->card);
			sqlite3_reset(sel);
			switch (row->op_kind) {
			case OPK_VALIDATE:
				if (row->op_value > row->st.valid_through)
					row->st.valid_through = row->op_value;
				break;
			case OPK_REGISTER:
				if (row->op_value > row->st.term)
					row->st.term = row->op_value;
				break;
			default:
				row->st.lost = 1;
				break;
			}
			sq_bind_row(ins, row);
			sq_step_done(db, ins);
		}
		sq_exec(db, "COMMIT");
		res->ops_ns += util_mono_ns() - t0;
		res->ops += m;
	}
	progress("sqlite: %" PRIu64 " ops (%.1f s in SQLite)", res->ops, secs(res->ops_ns));
	sq_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");

	/* Lookups by uid: the same picks as the cardnode decisions. */
	rng_seed(&pick, o->seed ^ 0xC4Eull, 0);
	res->lookups = o->checks;
	for (uint64_t q = 0; q < o->checks; q++) {
		uint8_t uid[CN_UID_MAX];
		size_t ulen;
		int rows_found = 0;
		bool lost = false, expired = false;
		if (rng_below(&pick, 100) == 0) {
			uint64_t v = rng_next(&pick);
			ulen = 7;
			uid[0] = 0x08; /* never generated */
			for (int k = 1; k < 7; k++)
				uid[k] = (uint8_t)(v >> (8 * k));
		} else {
			struct student s;
			gen_student(o->seed, rng_below(&pick, n), &s);
			ulen = s.uid_len;
			memcpy(uid, s.uid, ulen);
		}
		t0 = util_mono_ns();
		sqlite3_bind_blob(byuid, 1, uid, (int)ulen, SQLITE_STATIC);
		while (sqlite3_step(byuid) == SQLITE_ROW) {
			struct sq_state st;
			if (sq_decode(sqlite3_column_blob(byuid, 2),
				      (size_t)sqlite3_column_bytes(byuid, 2), &st) != 0)
				continue;
			if (rows_found++ == 0) {
				lost = st.lost;
				expired = st.expires != 0 && today > st.expires;
			}
		}
		sqlite3_reset(byuid);
		t = util_mono_ns() - t0;
		lat[q] = t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
		if (rows_found == 0)
			res->lookup_unknown++;
		else if (rows_found > 1)
			res->lookup_ambiguous++;
		else if (lost)
			res->lookup_lost++;
		else if (expired)
			res->lookup_expired++;
	}
	res->lookup = lat_stats(lat, (size_t)o->checks);
	sqlite3_finalize(ins);
	sqlite3_finalize(sel);
	sqlite3_finalize(byuid);
	if (sqlite3_close(db) != SQLITE_OK)
		die("sqlite close");
	res->size = file_size(path);
	snprintf(walp, sizeof walp, "%s-wal", path);
	{
		struct fsize w = file_size(walp);
		res->size.logical += w.logical;
		res->size.disk += w.disk;
	}
	free(rows);
}

/* ---- LMDB breakdown (read-only, after the replica is closed) ------------- */

static const char *const db_names[] = {
	"meta", "origin", "origin_pk", "log", "student", "card", "uid", "hot",
	"refused", "forks", "certs", "revs",
};

static void lmdb_breakdown(const char *dir, uint64_t cards)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_envinfo info;
	MDB_stat est;
	uint64_t sum = 0, total;

	if (mdb_env_create(&env) != 0)
		return;
	mdb_env_set_maxdbs(env, 16);
	if (mdb_env_open(env, dir, MDB_RDONLY, 0600) != 0 ||
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0) {
		mdb_env_close(env);
		printf("  (could not open %s for the breakdown)\n", dir);
		return;
	}
	mdb_env_info(env, &info);
	mdb_env_stat(env, &est);
	total = ((uint64_t)info.me_last_pgno + 1) * est.ms_psize;
	printf("  %-10s %12s %10s %14s %10s %9s %6s\n", "database", "entries", "pages",
	       "bytes", "B/card", "avg k+v", "fill");
	for (size_t i = 0; i < sizeof db_names / sizeof db_names[0]; i++) {
		MDB_dbi dbi;
		MDB_stat s;
		uint64_t pages, bytes;
		if (mdb_dbi_open(txn, db_names[i], 0, &dbi) != 0 ||
		    mdb_stat(txn, dbi, &s) != 0)
			continue;
		MDB_cursor *cur;
		MDB_val k, v;
		uint64_t kv = 0, items = 0;
		pages = s.ms_branch_pages + s.ms_leaf_pages + s.ms_overflow_pages;
		bytes = pages * s.ms_psize;
		sum += bytes;
		if (s.ms_entries == 0 && pages == 0)
			continue;
		/* Live bytes: every key and value (every duplicate). */
		if (mdb_cursor_open(txn, dbi, &cur) == 0) {
			for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
			     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
				kv += k.mv_size + v.mv_size;
				items++;
			}
			mdb_cursor_close(cur);
		}
		/* fill: (key + value + 8-byte node header + 2-byte slot) of
		 * every item over the leaf pages holding them. */
		printf("  %-10s %12zu %10" PRIu64 " %14" PRIu64 " %10.1f %9.1f %5.0f%%  (depth %u, leaf %zu)\n",
		       db_names[i], s.ms_entries, pages, bytes,
		       cards ? (double)bytes / (double)cards : 0.0,
		       items ? (double)kv / (double)items : 0.0,
		       s.ms_leaf_pages ? 100.0 * (double)(kv + 10 * items) /
		       ((double)s.ms_leaf_pages * (s.ms_psize - 16)) : 0.0,
		       s.ms_depth, s.ms_leaf_pages);
	}
	printf("  %-10s %12s %10" PRIu64 " %14" PRIu64 " %10.1f   (free pages, freelist, meta pages)\n",
	       "other", "", (total - sum) / est.ms_psize, total - sum,
	       cards ? (double)(total - sum) / (double)cards : 0.0);
	printf("  %-10s %12s %10" PRIu64 " %14" PRIu64 " %10.1f\n", "total", "",
	       total / est.ms_psize, total, cards ? (double)total / (double)cards : 0.0);
	mdb_txn_abort(txn);
	{
		/* What a compacting copy (mdb_env_copy2 MDB_CP_COMPACT) would
		 * leave: the live pages only, written in order. */
		char cdir[PATH_MAX], cfile[PATH_MAX + 16];
		if (snprintf(cdir, sizeof cdir, "%s.compact", dir) < (int)sizeof cdir &&
		    mkdir(cdir, 0700) == 0) {
			uint64_t t0 = util_mono_ns();
			int rc = mdb_env_copy2(env, cdir, MDB_CP_COMPACT);
			if (rc != 0)
				printf("  (compacting copy failed: %s)\n", mdb_strerror(rc));
			if (rc == 0) {
				struct fsize cs;
				snprintf(cfile, sizeof cfile, "%s/data.mdb", cdir);
				cs = file_size(cfile);
				printf("  %-10s %12s %10" PRIu64 " %14" PRIu64 " %10.1f   (mdb_env_copy2 MDB_CP_COMPACT, %.1f s)\n",
				       "compacted", "", cs.disk / est.ms_psize, cs.disk,
				       cards ? (double)cs.disk / (double)cards : 0.0,
				       secs(util_mono_ns() - t0));
			}
			rm_tree(cdir);
		}
	}
	mdb_env_close(env);
}

/* ---- entry anatomy: sizes of a sample of the stored log ------------------- */

struct anatomy {
	uint64_t count[32], wire[32], payload[32], signed_[32];
};

static int anatomy_cb(void *ctx, uint64_t seq, const uint8_t *wire, size_t len)
{
	struct anatomy *a = ctx;
	const uint8_t *payload, *sig;
	size_t plen, used;
	const char *why;
	struct entry e;

	(void)seq;
	if (entry_wire_decode(wire, len, &payload, &plen, &sig, &used, &why) != CN_OK ||
	    entry_decode(payload, plen, &e, &why) != CN_OK || e.op >= 32)
		return 0;
	a->count[e.op]++;
	a->wire[e.op] += len;
	a->payload[e.op] += plen;
	a->signed_[e.op] += sig != NULL;
	return 0;
}

static void print_anatomy(struct replica *r, uint64_t head, uint64_t nstudent_entries)
{
	struct replica_info info;
	struct anatomy a;
	uint64_t lo = nstudent_entries < 20000 ? nstudent_entries : 20000;

	memset(&a, 0, sizeof a);
	replica_info(r, &info);
	replica_log_walk(r, info.node, 1, lo, anatomy_cb, &a);
	if (head > nstudent_entries)
		replica_log_walk(r, info.node, nstudent_entries + 1,
				 head - nstudent_entries > 20000 ? nstudent_entries + 20000 : head,
				 anatomy_cb, &a);
	printf("  entry sizes (sample of the log: first and later entries)\n");
	for (int op = 0; op < 32; op++)
		if (a.count[op])
			printf("    %-16s %6" PRIu64 " sampled, wire %.1f B, payload %.1f B avg\n",
			       entry_op_name((uint8_t)op), a.count[op],
			       (double)a.wire[op] / (double)a.count[op],
			       (double)a.payload[op] / (double)a.count[op]);
}

/* ---- main ---------------------------------------------------------------- */

static void digest_hex(const uint8_t d[32], char out[65])
{
	util_hex_encode(d, 32, out);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct deploy dep;
	char base[2048], city_dir[2100], school_dir[2100], bundle_path[2100],
		sq_path[2100], path[2200];
	bool made_base = false;
	struct replica *city, *school;
	struct entry *ents;
	uint32_t n;
	uint64_t total_entries, t0, t_author = 0, t_gen = 0, t_ops = 0;
	uint64_t t_export, t_import, t_dig1, t_dig2;
	struct bundle_export_report erep;
	struct bundle_report brep;
	struct prog pg;
	uint8_t d1[32], d2[32];
	char h1[65], h2[65];
	struct replica_counts c1, c2;
	struct fsize city_sz, school_sz, bundle_sz;
	uint32_t *lat;
	struct lat uid_lat, card_lat;
	uint64_t dec_count[DEC__COUNT] = {0}, card_dec_count[DEC__COUNT] = {0};
	uint64_t card_checks, t_check_wall;
	struct sq_result sq;
	uint8_t seedbuf[32];
	struct acct a0;
	bool full;
	int ret, status = 0;

	bench_name = "bench_city";
	parse_opts(argc, argv, &o);
	n = (uint32_t)o.students;
	full = o.import_path == NULL;
	t_export = t_dig1 = 0;
	total_entries = 2 * (uint64_t)n + o.ops;
	memset(&erep, 0, sizeof erep);
	memset(&c1, 0, sizeof c1);
	memset(d1, 0, sizeof d1);
	memset(&city_sz, 0, sizeof city_sz);
	if (sodium_init() < 0)
		die("sodium_init failed");
	if (policy_tz_set("Asia/Shanghai") != CN_OK)
		die("time zone Asia/Shanghai not available");

	/* Work directory. */
	if (o.dir == NULL) {
		snprintf(base, sizeof base, "/tmp/cardnode-bench.XXXXXX");
		if (mkdtemp(base) == NULL)
			die("mkdtemp: %s", strerror(errno));
		made_base = true;
	} else {
		snprintf(base, sizeof base, "%s", o.dir);
		if (mkdir(base, 0700) == 0)
			made_base = true;
		else if (errno != EEXIST)
			die("mkdir %s: %s", base, strerror(errno));
	}
	acct_set_dev(base);
	snprintf(city_dir, sizeof city_dir, "%s/city", base);
	snprintf(school_dir, sizeof school_dir, "%s/school", base);
	if (full)
		snprintf(bundle_path, sizeof bundle_path, "%s/city.bundle", base);
	else
		snprintf(bundle_path, sizeof bundle_path, "%s", o.import_path);
	snprintf(sq_path, sizeof sq_path, "%s/sqlite.db", base);

	/* The deployment: root key and secret from the seed. */
	memset(seedbuf, 0, sizeof seedbuf);
	for (int k = 0; k < 4; k++) {
		uint64_t v = mix64(o.seed + (uint64_t)k);
		memcpy(seedbuf + 8 * k, &v, 8);
	}
	crypto_sign_seed_keypair(dep.root_pk, dep.root_sk, seedbuf);
	crypto_generichash(dep.secret, 32, seedbuf, 32, (const uint8_t *)"bench-secret", 12);

	printf("cardnode bench_city: %u students, %" PRIu64 " later ops, seed %" PRIu64 "\n",
	       n, o.ops, o.seed);
	printf("work dir %s\n\n", base);
	fflush(stdout);

	if (!full) {
		printf("--import: phases 1-2 and the export skipped; importing %s\n\n",
		       bundle_path);
		city = NULL;
		goto import;
	}
	city = node_new(&dep, city_dir, "city", ROLE_CITY, "110000");
	ents = calloc(AUTHOR_BATCH, sizeof *ents);
	if (ents == NULL)
		die("out of memory");

	/* ---- phase 1: students and cards ---- */
	progress("phase 1: authoring %u students + cards", n);
	a0 = acct_now();
	for (uint32_t b = 0; b < n; b += AUTHOR_BATCH / 2) {
		uint32_t m = n - b < AUTHOR_BATCH / 2 ? n - b : AUTHOR_BATCH / 2;
		size_t bad = 0;
		enum fold_reason why = FR_APPLIED;
		t0 = util_mono_ns();
		for (uint32_t k = 0; k < m; k++) {
			struct student s;
			uint8_t idd[32];
			gen_student(o.seed, b + k, &s);
			replica_id_digest(city, s.idnum, idd);
			make_put(&s, idd, &ents[2 * k]);
			make_issue(&s, &ents[2 * k + 1]);
		}
		t_gen += util_mono_ns() - t0;
		t0 = util_mono_ns();
		ret = replica_author(city, ents, 2 * (size_t)m, &bad, &why);
		t_author += util_mono_ns() - t0;
		if (ret != CN_OK)
			die("replica_author (students %u..): %s, entry %zu %s: %s", b,
			    cn_strerror(ret), bad, ents[bad].key, fold_reason_name(why));
		if ((b / (AUTHOR_BATCH / 2) + 1) % (n / (AUTHOR_BATCH / 2) / 10 + 1) == 0)
			progress("phase 1: %u/%u students (%.1f s in replica_author)",
				 b + m, n, secs(t_author));
	}
	printf("phase 1  authoring (student.put + card.issue, %d entries per call)\n",
	       AUTHOR_BATCH);
	printf("  entries              %" PRIu64 "\n", 2 * (uint64_t)n);
	printf("  time in replica_author %.2f s  (generating the data: %.2f s, not counted)\n",
	       secs(t_author), secs(t_gen));
	printf("  rate                 %.0f entries/s  (%.2f µs per entry)\n",
	       rate(2 * (uint64_t)n, t_author), (double)t_author / 1e3 / (2.0 * n));
	acct_print(&a0, 2 * (uint64_t)n, "entry");
	printf("\n");
	fflush(stdout);

	/* ---- phase 2: the later operations ---- */
	progress("phase 2: authoring %" PRIu64 " later operations", o.ops);
	a0 = acct_now();
	{
		uint64_t kinds[3] = {0, 0, 0};
		for (uint64_t b = 0; b < o.ops; b += AUTHOR_BATCH) {
			size_t m = (size_t)(o.ops - b < AUTHOR_BATCH ? o.ops - b : AUTHOR_BATCH);
			size_t bad = 0;
			enum fold_reason why = FR_APPLIED;
			for (size_t k = 0; k < m; k++) {
				struct later_op op;
				struct student s;
				gen_op(o.seed, n, b + k, &op);
				gen_student(o.seed, op.student, &s);
				make_op(&op, &s, &ents[k]);
				kinds[op.kind]++;
			}
			t0 = util_mono_ns();
			ret = replica_author(city, ents, m, &bad, &why);
			t_ops += util_mono_ns() - t0;
			if (ret != CN_OK)
				die("replica_author (ops %" PRIu64 "..): %s, entry %zu: %s", b,
				    cn_strerror(ret), bad, fold_reason_name(why));
		}
		printf("phase 2  later operations (%d per call)\n", AUTHOR_BATCH);
		printf("  entries              %" PRIu64 "  (validate %" PRIu64 ", register %"
		       PRIu64 ", lost %" PRIu64 ")\n", o.ops, kinds[0], kinds[1], kinds[2]);
		printf("  time                 %.2f s\n", secs(t_ops));
		printf("  rate                 %.0f entries/s  (%.2f µs per entry)\n",
		       rate(o.ops, t_ops), o.ops ? (double)t_ops / 1e3 / (double)o.ops : 0.0);
		acct_print(&a0, o.ops, "entry");
		printf("\n");
	}
	free(ents);
	fflush(stdout);

	/* ---- phase 3: bundle export and import ---- */
	progress("phase 3: bundle export");
	pg = (struct prog){"export", util_mono_ns(), 0};
	t0 = util_mono_ns();
	ret = bundle_export(city, bundle_path, NULL, &erep, bundle_prog, &pg);
	t_export = util_mono_ns() - t0;
	if (ret != CN_OK)
		die("bundle_export: %s", cn_strerror(ret));
	bundle_sz = file_size(bundle_path);
	printf("phase 3  bundle\n");
	printf("  export               %" PRIu64 " entries, %" PRIu64 " chunks, %" PRIu64
	       " bytes (%.1f MB), %.1f bytes/entry\n", erep.entries, erep.chunks,
	       erep.bytes, erep.bytes / 1e6,
	       erep.entries ? (double)erep.bytes / (double)erep.entries : 0.0);
	printf("  export time          %.2f s  (%.0f entries/s)\n", secs(t_export),
	       rate(erep.entries, t_export));
	print_anatomy(city, total_entries, 2 * (uint64_t)n);
	fflush(stdout);

import:
	bundle_sz = file_size(bundle_path);
	school = node_new(&dep, school_dir, "school", ROLE_SCHOOL, "110105-0001");
	progress("phase 3: bundle import into a fresh replica");
	pg = (struct prog){"import", util_mono_ns(), 0};
	a0 = acct_now();
	t0 = util_mono_ns();
	ret = bundle_import(school, bundle_path, &brep, bundle_prog, &pg);
	t_import = util_mono_ns() - t0;
	if (ret != CN_OK)
		die("bundle_import: %s (%s)", cn_strerror(ret), brep.problem);
	printf("  import               %" PRIu64 " entries read, %" PRIu64 " applied, %"
	       PRIu64 " refused, %" PRIu64 " unverified, %" PRIu64 " duplicate; trailer %s\n",
	       brep.entries_read, brep.ingest.applied, brep.ingest.refused,
	       brep.ingest.unverified, brep.ingest.duplicate,
	       brep.trailer_ok ? "ok" : "BAD");
	printf("  import time          %.2f s  (%.0f entries/s, every entry chained and signature-covered)\n",
	       secs(t_import), rate(brep.entries_read, t_import));
	acct_print(&a0, brep.entries_read, "entry");
	if (brep.ingest.applied != total_entries) {
		printf("  ERROR: %" PRIu64 " entries applied, %" PRIu64 " expected\n",
		       brep.ingest.applied, total_entries);
		status = 1;
	}
	progress("phase 3: digests");
	if (full) {
		t0 = util_mono_ns();
		ret = replica_digest(city, d1, &c1);
		t_dig1 = util_mono_ns() - t0;
		if (ret != CN_OK)
			die("replica_digest city: %s", cn_strerror(ret));
	}
	t0 = util_mono_ns();
	ret = replica_digest(school, d2, &c2);
	t_dig2 = util_mono_ns() - t0;
	if (ret != CN_OK)
		die("replica_digest school: %s", cn_strerror(ret));
	digest_hex(d1, h1);
	digest_hex(d2, h2);
	if (full)
		printf("  digest city          %s  (%.2f s)\n", h1, secs(t_dig1));
	printf("  digest imported      %s  (%.2f s)\n", h2, secs(t_dig2));
	printf("  counts               students %" PRIu64 ", cards %" PRIu64 ", entries %"
	       PRIu64 ", refused %" PRIu64 "\n", c2.students, c2.cards, c2.entries, c2.refused);
	if (!full) {
		printf("  digests              not compared (--import)\n");
	} else if (memcmp(d1, d2, 32) != 0) {
		printf("  ERROR: the digests differ\n");
		status = 1;
	} else {
		printf("  digests              equal\n");
	}
	printf("\n");
	if (city != NULL)
		replica_close(city);
	fflush(stdout);

	/* ---- phase 4: store size ---- */
	snprintf(path, sizeof path, "%s/data.mdb", school_dir);
	school_sz = file_size(path);
	if (full) {
		snprintf(path, sizeof path, "%s/data.mdb", city_dir);
		city_sz = file_size(path);
	}
	printf("phase 4  store size (data.mdb)\n");
	printf("  imported replica     %" PRIu64 " bytes on disk (%.1f MB), logical %" PRIu64
	       " -> %.1f bytes/card on disk\n", school_sz.disk, school_sz.disk / 1e6,
	       school_sz.logical, c2.cards ? (double)school_sz.disk / (double)c2.cards : 0.0);
	if (full)
		printf("  authoring replica    %" PRIu64 " bytes on disk (%.1f MB) -> %.1f bytes/card\n",
		       city_sz.disk, city_sz.disk / 1e6,
		       c1.cards ? (double)city_sz.disk / (double)c1.cards : 0.0);
	printf("  bundle file          %.1f bytes/card\n\n",
	       c2.cards ? (double)bundle_sz.disk / (double)c2.cards : 0.0);
	fflush(stdout);

	/* ---- phase 5: decisions ---- */
	lat = malloc((size_t)o.checks * sizeof *lat);
	if (lat == NULL)
		die("out of memory");
	progress("phase 5: %" PRIu64 " replica_check_uid", o.checks);
	{
		struct rng pick;
		uint64_t now = util_now_ms(), tw = util_mono_ns();
		rng_seed(&pick, o.seed ^ 0xC4Eull, 0);
		for (uint64_t q = 0; q < o.checks; q++) {
			uint8_t uid[CN_UID_MAX];
			size_t ulen;
			struct check_result cr;
			uint64_t t;
			if (rng_below(&pick, 100) == 0) {
				uint64_t v = rng_next(&pick);
				ulen = 7;
				uid[0] = 0x08; /* never generated: unknown */
				for (int k = 1; k < 7; k++)
					uid[k] = (uint8_t)(v >> (8 * k));
			} else {
				struct student s;
				gen_student(o.seed, rng_below(&pick, n), &s);
				ulen = s.uid_len;
				memcpy(uid, s.uid, ulen);
			}
			t0 = util_mono_ns();
			ret = replica_check_uid(school, uid, ulen, now, &cr);
			t = util_mono_ns() - t0;
			if (ret != CN_OK)
				die("replica_check_uid: %s", cn_strerror(ret));
			lat[q] = t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
			dec_count[cr.decision]++;
		}
		t_check_wall = util_mono_ns() - tw;
		uid_lat = lat_stats(lat, (size_t)o.checks);
	}
	card_checks = o.checks / 5;
	progress("phase 5: %" PRIu64 " replica_check_card", card_checks);
	{
		struct rng pick;
		uint64_t now = util_now_ms();
		rng_seed(&pick, o.seed ^ 0xCA7Dull, 0);
		for (uint64_t q = 0; q < card_checks; q++) {
			struct student s;
			struct check_result cr;
			uint64_t t;
			gen_student(o.seed, rng_below(&pick, n), &s);
			t0 = util_mono_ns();
			ret = replica_check_card(school, s.card, now, &cr);
			t = util_mono_ns() - t0;
			if (ret != CN_OK)
				die("replica_check_card: %s", cn_strerror(ret));
			lat[q] = t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
			card_dec_count[cr.decision]++;
		}
		card_lat = lat_stats(lat, (size_t)card_checks);
	}
	printf("phase 5  decisions on the imported replica (one thread, warm page cache)\n");
	printf("  check_uid            %" PRIu64 " calls (1%% unknown UIDs)\n", o.checks);
	printf("    latency            median %.2f µs, p99 %.2f µs, max %.1f µs, mean %.2f µs\n",
	       uid_lat.median_us, uid_lat.p99_us, uid_lat.max_us, uid_lat.mean_us);
	printf("    rate               %.0f decisions/s (sum of call times); loop wall %.2f s incl. generator\n",
	       uid_lat.rate, secs(t_check_wall));
	printf("    decisions         ");
	for (int d = 0; d < DEC__COUNT; d++)
		if (dec_count[d])
			printf(" %s %" PRIu64, policy_decision_name((enum decision)d), dec_count[d]);
	printf("\n");
	printf("  check_card           %" PRIu64 " calls\n", card_checks);
	printf("    latency            median %.2f µs, p99 %.2f µs, max %.1f µs, mean %.2f µs\n",
	       card_lat.median_us, card_lat.p99_us, card_lat.max_us, card_lat.mean_us);
	printf("    rate               %.0f decisions/s\n", card_lat.rate);
	printf("    decisions         ");
	for (int d = 0; d < DEC__COUNT; d++)
		if (card_dec_count[d])
			printf(" %s %" PRIu64, policy_decision_name((enum decision)d),
			       card_dec_count[d]);
	printf("\n\n");
	fflush(stdout);

	/* ---- phase 6: SQLite ---- */
	memset(&sq, 0, sizeof sq);
	if (o.sqlite) {
		progress("phase 6: SQLite");
		a0 = acct_now();
		run_sqlite(&o, sq_path, school, lat, &sq);
		printf("phase 6  SQLite %s (one table, WAL, synchronous=NORMAL, %d rows per transaction)\n",
		       sqlite3_libversion(), SQL_BATCH);
		printf("  student rows         %" PRIu64 " INSERTs in %.2f s  (%.0f rows/s)\n",
		       sq.rows, secs(sq.insert_ns), rate(sq.rows, sq.insert_ns));
		printf("  later ops            %" PRIu64 " SELECT + INSERT OR REPLACE in %.2f s  (%.0f ops/s)\n",
		       sq.ops, secs(sq.ops_ns), rate(sq.ops, sq.ops_ns));
		printf("  whole city           %.2f s  (cardnode: authoring %.2f s, import %.2f s)\n",
		       secs(sq.insert_ns + sq.ops_ns), secs(t_author + t_ops), secs(t_import));
		acct_print(&a0, sq.rows + sq.ops, "row");
		printf("                       (this line covers the whole phase: generating the rows,\n"
		       "                       which the times above exclude, and the lookups)\n");
		printf("  size                 %" PRIu64 " bytes on disk -> %.1f bytes/card\n",
		       sq.size.disk, sq.rows ? (double)sq.size.disk / (double)sq.rows : 0.0);
		printf("  lookup by uid        median %.2f µs, p99 %.2f µs, max %.1f µs, %.0f lookups/s\n",
		       sq.lookup.median_us, sq.lookup.p99_us, sq.lookup.max_us, sq.lookup.rate);
		printf("                       unknown %" PRIu64 ", lost %" PRIu64 ", expired %" PRIu64
		       ", ambiguous %" PRIu64 "\n", sq.lookup_unknown, sq.lookup_lost,
		       sq.lookup_expired, sq.lookup_ambiguous);
		printf("  what SQLite does NOT do here: no signatures, no hash chain, no change log\n"
		       "  (only the current row per card), no fold/merge rules, no authorization,\n"
		       "  no state digest, no hotlist, no card_no index beyond the primary key, and\n"
		       "  synchronous=NORMAL in WAL mode does not fsync each commit (cardnode's LMDB\n"
		       "  commits are fsynced).  Its rows carry one card per student.\n");
		{
			double cn_city = secs(t_import), sq_city = secs(sq.insert_ns + sq.ops_ns);
			double cn_bpc = c2.cards ? (double)school_sz.disk / (double)c2.cards : 0;
			double sq_bpc = sq.rows ? (double)sq.size.disk / (double)sq.rows : 0;
			printf("  ratios cardnode/SQLite\n");
			printf("    loading the city   import %.2f s vs SQLite %.2f s: cardnode %.2fx %s\n",
			       cn_city, sq_city, cn_city > 0 && sq_city > 0 ?
			       (cn_city < sq_city ? sq_city / cn_city : cn_city / sq_city) : 0.0,
			       cn_city < sq_city ? "faster" : "slower");
			printf("    per logical write  cardnode %.0f entries/s vs SQLite %.0f rows/s: %.2f\n",
			       rate(brep.entries_read, t_import),
			       rate(sq.rows + sq.ops, sq.insert_ns + sq.ops_ns),
			       rate(sq.rows + sq.ops, sq.insert_ns + sq.ops_ns) > 0 ?
			       rate(brep.entries_read, t_import) /
			       rate(sq.rows + sq.ops, sq.insert_ns + sq.ops_ns) : 0.0);
			printf("    bytes per card     %.1f vs %.1f: %.2f\n", cn_bpc, sq_bpc,
			       sq_bpc > 0 ? cn_bpc / sq_bpc : 0.0);
			printf("    decision median    %.2f µs vs %.2f µs: %.2f\n", uid_lat.median_us,
			       sq.lookup.median_us, sq.lookup.median_us > 0 ?
			       uid_lat.median_us / sq.lookup.median_us : 0.0);
			printf("    decision p99       %.2f µs vs %.2f µs: %.2f\n\n", uid_lat.p99_us,
			       sq.lookup.p99_us, sq.lookup.p99_us > 0 ?
			       uid_lat.p99_us / sq.lookup.p99_us : 0.0);
		}
		fflush(stdout);
	}
	free(lat);
	replica_close(school);

	printf("store breakdown of the imported replica (LMDB, read-only after close)\n");
	lmdb_breakdown(school_dir, c2.cards);
	printf("\n");

	/* ---- summary ---- */
	{
		double imp = rate(brep.entries_read, t_import);
		double bpc = c2.cards ? (double)school_sz.disk / (double)c2.cards : 0.0;
		printf("summary (%u students, %" PRIu64 " ops, %" PRIu64 " entries)\n", n, o.ops,
		       total_entries);
		printf("  %-40s %16s %14s  %s\n", "figure", "measured", "target", "result");
		printf("  %-40s %16.0f %14s  %s\n", "bundle import, entries/s (all verified)",
		       imp, ">= 200000", imp >= TARGET_IMPORT ? "PASS" : "MISS");
		printf("  %-40s %16.2f %14s  %s\n", "check_uid median, µs", uid_lat.median_us,
		       "<= 20", uid_lat.median_us <= TARGET_MEDIAN_US ? "PASS" : "MISS");
		printf("  %-40s %16.1f %14s  %s\n", "bytes per card on disk", bpc, "<= 400",
		       bpc <= TARGET_BYTES_CARD ? "PASS" : "MISS");
		printf("  %-40s %16.2f %14s\n", "check_uid p99, µs", uid_lat.p99_us, "-");
		printf("  %-40s %16.0f %14s\n", "check_uid rate, decisions/s", uid_lat.rate, "-");
		printf("  %-40s %16.2f %14s\n", "check_card median, µs", card_lat.median_us, "-");
		printf("  %-40s %16.0f %14s\n", "authoring, entries/s",
		       rate(2 * (uint64_t)n, t_author), "-");
		printf("  %-40s %16.0f %14s\n", "later ops authoring, entries/s",
		       rate(o.ops, t_ops), "-");
		printf("  %-40s %16.0f %14s\n", "bundle export, entries/s",
		       rate(erep.entries, t_export), "-");
		if (sq.ran) {
			printf("  %-40s %16.0f %14s\n", "SQLite inserts, rows/s",
			       rate(sq.rows, sq.insert_ns), "-");
			printf("  %-40s %16.1f %14s\n", "SQLite bytes per card",
			       sq.rows ? (double)sq.size.disk / (double)sq.rows : 0.0, "-");
			printf("  %-40s %16.2f %14s\n", "SQLite lookup median, µs",
			       sq.lookup.median_us, "-");
		}
		if (full)
			printf("  %-40s %16s %14s  %s\n", "digests equal",
			       memcmp(d1, d2, 32) == 0 ? "yes" : "NO", "yes",
			       memcmp(d1, d2, 32) == 0 ? "PASS" : "FAIL");
		printf("  %-40s %16.1f %14s\n", "peak RSS, MiB", peak_rss_kib() / 1024.0, "-");
	}
	fflush(stdout);

	if (!o.keep) {
		rm_tree(city_dir);
		rm_tree(school_dir);
		if (full)
			rm_tree(bundle_path);
		rm_tree(sq_path);
		snprintf(path, sizeof path, "%s-wal", sq_path);
		rm_tree(path);
		snprintf(path, sizeof path, "%s-shm", sq_path);
		rm_tree(path);
		if (made_base)
			rmdir(base);
	} else {
		/* The deployment's keys, for tools that add nodes to the kept
		 * city (bench_net issues school certificates with them). */
		char err[256];
		snprintf(path, sizeof path, "%s/root.key", base);
		if (access(path, F_OK) != 0 &&
		    datadir_write_root(path, dep.root_sk, err, sizeof err) != CN_OK)
			fprintf(stderr, "[bench] %s\n", err);
		snprintf(path, sizeof path, "%s/secret", base);
		if (access(path, F_OK) != 0 &&
		    datadir_write_secret(path, dep.secret, err, sizeof err) != CN_OK)
			fprintf(stderr, "[bench] %s\n", err);
		fprintf(stderr, "[bench] kept %s\n", base);
	}
	return status;
}
