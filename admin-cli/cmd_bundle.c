/*
 * cmd_bundle.c — moving entries without a network (DESIGN §7): export,
 * import, merge of another data directory, and diff against one.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "bundle.h"
#include "cli.h"
#include "commands.h"
#include "json.h"
#include "replica.h"
#include "vv.h"

#define DIFF_LIST_MAX 1000

static int read_vv(const char *path, struct vv *vv)
{
	const char *why = NULL;
	int rc = vv_read_file(vv, path, &why);

	if (rc == CN_ERR_NOTFOUND) {
		cli_err("version vector file '%s' does not exist", path);
		return CLI_NOTFOUND;
	}
	if (rc) {
		cli_err("cannot read the version vector in '%s': %s%s%s", path,
			cn_strerror(rc), why ? ": " : "", why ? why : "");
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* ---- export ------------------------------------------------------------ */

static const struct cli_cmd export_cmd = {
	"export", "export --out FILE [--since-vv FILE]",
	"Write a bundle (a signed file of certificates, revocations and\n"
	"entries) for a node without network to import.  With --since-vv, only\n"
	"what lies beyond that version vector: a JSON object {origin: seq}, or\n"
	"the output of 'cardctl --json status' of the receiving node.\n"
	"FILE is created 0600 and never overwritten.\n"
};

int cmd_export_main(int argc, char **argv)
{
	const struct cli_cmd *cmd = &export_cmd;
	const char *out = NULL, *since_s = NULL;
	const struct cli_opt opts[] = {
		{ "out", &out, NULL },
		{ "since-vv", &since_s, NULL },
		CLI_OPT_END
	};
	struct replica *r = NULL;
	struct vv since;
	struct bundle_export_report rep;
	int rc, ret;

	vv_init(&since);
	if ((ret = cli_parse(cmd, argc, argv, opts, 0)) >= 0)
		return ret;
	if (!out)
		return cli_usage_error(cmd, "--out FILE is required");
	if (since_s && (ret = read_vv(since_s, &since)))
		goto cleanup;
	if ((ret = cli_open(REPLICA_RDONLY, &r)))
		goto cleanup;

	memset(&rep, 0, sizeof rep);
	rc = bundle_export(r, out, since_s ? &since : NULL, &rep, cli_progress,
			   NULL);
	cli_progress_end();
	if (rc) {
		cli_err("cannot export to '%s': %s%s", out, cn_strerror(rc),
			rc == CN_ERR_EXISTS ? " (it exists; bundles are never "
					      "overwritten: choose another --out)"
					    : "");
		ret = rc == CN_ERR_NOTFOUND ? CLI_FAIL : cli_exit_of(rc);
		goto cleanup;
	}
	if (cli.json) {
		json_object_begin();
		json_kv_str("out", out);
		json_kv_uint("entries", rep.entries);
		json_kv_uint("chunks", rep.chunks);
		json_kv_uint("certs", rep.certs);
		json_kv_uint("revocations", rep.revocations);
		json_kv_uint("origins", rep.origins);
		json_kv_uint("bytes", rep.bytes);
		json_object_end();
		ret = json_end() ? CLI_FAIL : CLI_OK;
	} else {
		printf("exported %" PRIu64 " entries of %" PRIu64
		       " origins, %" PRIu64 " certificates, %" PRIu64
		       " revocations (%" PRIu64 " bytes) to %s\n",
		       rep.entries, rep.origins, rep.certs, rep.revocations,
		       rep.bytes, out);
		ret = CLI_OK;
	}
cleanup:
	replica_close(r);
	vv_free(&since);
	return ret;
}

/* ---- import / merge: the report ---------------------------------------- */

static void print_report(const struct bundle_report *rep)
{
	const struct ingest_report *in = &rep->ingest;

	if (cli.json) {
		json_object_begin();
		json_kv_uint("entries_read", rep->entries_read);
		json_kv_uint("applied", in->applied);
		json_kv_uint("refused", in->refused);
		json_kv_uint("duplicate", in->duplicate);
		json_kv_uint("skipped", in->duplicate);
		json_kv_uint("unverified", in->unverified);
		json_kv_uint("gap", in->gap);
		json_kv_uint("malformed", in->malformed);
		json_kv_uint("forked", in->forked);
		json_kv_uint("held", in->held);
		json_kv_uint("certs_new", rep->certs_new);
		json_kv_uint("certs_known", rep->certs_known);
		json_kv_uint("certs_bad", rep->certs_bad);
		json_kv_uint("revocations_new", rep->revocations_new);
		json_kv_uint("revocations_known", rep->revocations_known);
		json_kv_uint("revocations_bad", rep->revocations_bad);
		json_kv_bool("trailer_ok", rep->trailer_ok);
		json_kv_bool("complete", rep->complete);
		json_kv_str_or_null("exporter", rep->exporter);
		json_kv_str_or_null("problem", rep->problem[0] ? rep->problem
							       : in->problem);
		json_object_end();
		json_end();
		return;
	}
#define ROW(label, v) printf("%-18s %" PRIu64 "\n", label, (uint64_t)(v))
	printf("%-18s %s\n", "exporter", rep->exporter[0] ? rep->exporter : "-");
	ROW("entries read", rep->entries_read);
	ROW("applied", in->applied);
	ROW("refused", in->refused);
	ROW("skipped (dup)", in->duplicate);
	ROW("unverified", in->unverified);
	ROW("gap", in->gap);
	ROW("malformed", in->malformed);
	ROW("forked", in->forked);
	ROW("held (forked)", in->held);
	printf("%-18s %" PRIu64 " new, %" PRIu64 " known, %" PRIu64 " bad\n",
	       "certificates", rep->certs_new, rep->certs_known, rep->certs_bad);
	printf("%-18s %" PRIu64 " new, %" PRIu64 " known, %" PRIu64 " bad\n",
	       "revocations", rep->revocations_new, rep->revocations_known,
	       rep->revocations_bad);
	printf("%-18s %s\n", "trailer",
	       rep->trailer_ok ? "ok" : "missing or bad");
	printf("%-18s %s\n", "complete", rep->complete ? "yes" : "no");
	if (rep->problem[0] || in->problem[0])
		printf("%-18s %s\n", "problem",
		       rep->problem[0] ? rep->problem : in->problem);
#undef ROW
}

static int report_result(int rc, const char *what, const char *src,
			 const struct bundle_report *rep)
{
	const char *problem = rep->problem[0] ? rep->problem
					      : rep->ingest.problem;

	if (rc == 0 || rc == CN_ERR_PARTIAL)
		print_report(rep);
	switch (rc) {
	case 0:
		return CLI_OK;
	case CN_ERR_PARTIAL:
		cli_err("%s '%s' was applied only in part: %s", what, src,
			problem[0] ? problem : "see the report");
		if (rep->ingest.forked || rep->ingest.held)
			fprintf(stderr, "  A node's log has forked: both entries are "
					"kept as evidence ('cardctl status');\n"
					"  that node must be re-keyed.\n");
		else
			fprintf(stderr, "  Everything that verified was applied; get a "
					"good copy of the rest and run it again.\n");
		return CLI_PARTIAL;
	case CN_ERR_NOTFOUND:
		if (strcmp(what, "bundle")) {
			/* merge checked DIR first: something inside it is
			 * missing. */
			cli_err("cannot merge '%s': %s", src,
				problem[0] ? problem : cn_strerror(rc));
			return CLI_FAIL;
		}
		cli_err("%s '%s' does not exist", what, src);
		return CLI_NOTFOUND;
	case CN_ERR_MALFORMED:
		cli_err("'%s' is not a %s%s%s", src, what,
			problem[0] ? ": " : "", problem);
		return CLI_FAIL;
	default:
		cli_err("cannot %s '%s': %s%s%s",
			!strcmp(what, "bundle") ? "import" : "merge", src,
			cn_strerror(rc), problem[0] ? ": " : "", problem);
		return cli_exit_of(rc) == CLI_NOTFOUND ? CLI_FAIL
						       : cli_exit_of(rc);
	}
}

typedef int ingest_fn(struct replica *r, const char *src,
		      struct bundle_report *rep, bundle_progress_fn progress,
		      void *pctx);

/* import, merge: apply `src`, a bundle or a data directory, to this
 * node's replica and report. */
static int ingest(ingest_fn *fn, const char *what, const char *src)
{
	struct replica *r = NULL;
	struct bundle_report rep;
	int rc, ret;

	if ((ret = cli_open(0, &r)))
		return ret;
	memset(&rep, 0, sizeof rep);
	rc = fn(r, src, &rep, cli_progress, NULL);
	cli_progress_end();
	ret = report_result(rc, what, src, &rep);
	replica_close(r);
	return ret;
}

/* ---- import ------------------------------------------------------------ */

static const struct cli_cmd import_cmd = {
	"import", "import FILE",
	"Verify and apply a bundle.  Every entry is applied only once a valid\n"
	"signature of its author covers it, so a truncated or damaged file\n"
	"applies what verifies and the report says what was left out.\n"
	"Importing the same bundle twice changes nothing.\n"
	"\n"
	"Exit 0 all applied, 5 applied in part (damaged or truncated file),\n"
	"3 no such file, 1 not a bundle or another failure.\n"
};

int cmd_import_main(int argc, char **argv)
{
	int ret;

	if ((ret = cli_parse(&import_cmd, argc, argv, NULL, 1)) >= 0)
		return ret;
	return ingest(bundle_import, "bundle", argv[optind]);
}

/* ---- merge ------------------------------------------------------------- */

static const struct cli_cmd merge_cmd = {
	"merge", "merge DIR",
	"Merge another replica's data directory (e.g. a copy taken from a\n"
	"failed machine): its certificates, revocations and every entry this\n"
	"node lacks, verified as an import.  DIR is only read.\n"
	"Exit codes as for import; 1 if DIR does not exist, is not a\n"
	"directory or is not a cardnode data directory (no data.mdb).\n"
};

/* Is `dir` (merge/diff DIR) a data directory at all?  0, or after saying
 * which of the three it is not, CLI_FAIL. */
static int check_other_dir(const char *dir)
{
	char path[PATH_MAX];
	struct stat sb;

	if (stat(dir, &sb) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			cli_err("'%s' does not exist", dir);
		else
			cli_err("cannot access '%s': %s", dir, strerror(errno));
		return CLI_FAIL;
	}
	if (!S_ISDIR(sb.st_mode)) {
		cli_err("'%s' is not a directory; give another replica's data "
			"directory",
			dir);
		return CLI_FAIL;
	}
	if (snprintf(path, sizeof path, "%s/data.mdb", dir) >=
		    (int)sizeof path ||
	    stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		cli_err("'%s' is not a cardnode data directory (no data.mdb)",
			dir);
		return CLI_FAIL;
	}
	return CLI_OK;
}

static bool same_dir(const char *a, const char *b)
{
	char ra[PATH_MAX], rb[PATH_MAX];

	if (!realpath(a, ra) || !realpath(b, rb))
		return false;
	return !strcmp(ra, rb);
}

int cmd_merge_main(int argc, char **argv)
{
	const struct cli_cmd *cmd = &merge_cmd;
	int ret;

	if ((ret = cli_parse(cmd, argc, argv, NULL, 1)) >= 0)
		return ret;
	if (same_dir(argv[optind], cli.data_dir))
		return cli_usage_error(cmd, "'%s' is this node's own data "
					    "directory; give another replica's",
				       argv[optind]);
	if ((ret = check_other_dir(argv[optind])))
		return ret;
	return ingest(bundle_merge_dir, "data directory", argv[optind]);
}

/* ---- diff -------------------------------------------------------------- */

static const struct cli_cmd diff_cmd = {
	"diff", "diff DIR",
	"Compare this replica with another replica's data directory DIR (only\n"
	"read): both version vectors, the entries each lacks, and the students\n"
	"whose states differ (at most 1000 listed, all counted).\n"
	"Exit 0 identical, 5 they differ; 1 if DIR does not exist, is not a\n"
	"directory or is not a cardnode data directory (no data.mdb).\n"
};

struct sdig {
	char edu_id[CN_EDU_ID_MAX + 1];
	bool seen;
	uint8_t h[CN_KEY_LEN];
};

struct diff_ctx {
	struct sdig *theirs;
	size_t ntheirs, cap;
	char (*diff)[CN_EDU_ID_MAX + 1];
	size_t ndiff, dcap;
	uint8_t *buf;
	size_t buflen;
	int err;
};

static int state_hash(struct diff_ctx *d, const struct student_state *st,
		      uint8_t h[static CN_KEY_LEN])
{
	size_t n = fold_digest_bytes(st, d->buf, d->buflen);

	if (n == 0) {
		cli_err("student '%s': state too large to compare", st->edu_id);
		return CN_ERR_TOOBIG;
	}
	crypto_generichash(h, CN_KEY_LEN, d->buf, n, NULL, 0);
	return 0;
}

static int collect_theirs(void *ctx, const struct student_state *st)
{
	struct diff_ctx *d = ctx;
	struct sdig *s;

	if (d->ntheirs == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 1024;
		void *p = realloc(d->theirs, cap * sizeof *d->theirs);

		if (!p)
			return CN_ERR_NOMEM;
		d->theirs = p;
		d->cap = cap;
	}
	s = &d->theirs[d->ntheirs];
	memset(s, 0, sizeof *s);
	snprintf(s->edu_id, sizeof s->edu_id, "%s", st->edu_id);
	if (state_hash(d, st, s->h))
		return CN_ERR_TOOBIG;
	d->ntheirs++;
	return 0;
}

static int add_diff(struct diff_ctx *d, const char *edu_id)
{
	if (d->ndiff == d->dcap) {
		size_t cap = d->dcap ? 2 * d->dcap : 256;
		void *p = realloc(d->diff, cap * sizeof *d->diff);

		if (!p)
			return CN_ERR_NOMEM;
		d->diff = p;
		d->dcap = cap;
	}
	snprintf(d->diff[d->ndiff++], CN_EDU_ID_MAX + 1, "%s", edu_id);
	return 0;
}

static int sdig_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sdig *)a)->edu_id,
		      ((const struct sdig *)b)->edu_id);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int compare_ours(void *ctx, const struct student_state *st)
{
	struct diff_ctx *d = ctx;
	struct sdig key, *s;
	uint8_t h[CN_KEY_LEN];

	snprintf(key.edu_id, sizeof key.edu_id, "%s", st->edu_id);
	s = d->ntheirs ? bsearch(&key, d->theirs, d->ntheirs, sizeof *d->theirs,
				 sdig_cmp) : NULL;
	if (state_hash(d, st, h))
		return CN_ERR_TOOBIG;
	if (s)
		s->seen = true;
	if (!s || memcmp(s->h, h, CN_KEY_LEN) != 0)
		return add_diff(d, st->edu_id);
	return 0;
}

static void json_vv(const struct vv *v)
{
	json_object_begin();
	for (size_t i = 0; i < v->n; i++) {
		json_key(cli_hex(v->v[i].origin, CN_KEY_LEN));
		json_uint(v->v[i].seq);
	}
	json_object_end();
}

/* Origins where `a` holds more than `b`: JSON [{origin, from, to}] or
 * text lines. */
static uint64_t lacks(const struct vv *a, const struct vv *b, bool print,
		      const char *who)
{
	uint64_t count = 0;

	if (print && cli.json)
		json_array_begin();
	for (size_t i = 0; i < a->n; i++) {
		uint64_t have = vv_get(b, a->v[i].origin);

		if (a->v[i].seq <= have)
			continue;
		count++;
		if (!print)
			continue;
		if (cli.json) {
			json_object_begin();
			json_kv_hex("origin", a->v[i].origin, CN_KEY_LEN);
			json_kv_uint("from", have + 1);
			json_kv_uint("to", a->v[i].seq);
			json_object_end();
		} else {
			printf("  %s lack %s #%" PRIu64 "-%" PRIu64 "\n", who,
			       cli_hex(a->v[i].origin, 4), have + 1,
			       a->v[i].seq);
		}
	}
	if (print && cli.json)
		json_array_end();
	return count;
}

int cmd_diff_main(int argc, char **argv)
{
	struct replica *ours = NULL, *theirs = NULL;
	struct vv vo, vt;
	struct diff_ctx d;
	uint64_t we_lack, they_lack;
	size_t i, j;
	int rc, ret;

	memset(&d, 0, sizeof d);
	vv_init(&vo);
	vv_init(&vt);
	if ((ret = cli_parse(&diff_cmd, argc, argv, NULL, 1)) >= 0)
		return ret;
	if ((ret = check_other_dir(argv[optind])))
		return ret;
	if ((ret = cli_open(REPLICA_RDONLY, &ours)))
		goto cleanup;
	if ((ret = cli_open_other(argv[optind], &theirs)))
		goto cleanup;

	ret = CLI_FAIL;
	if ((rc = vv_from_replica(&vo, ours)) ||
	    (rc = vv_from_replica(&vt, theirs))) {
		cli_err("cannot read the version vectors: %s", cn_strerror(rc));
		goto cleanup;
	}
	d.buflen = 1u << 16;
	d.buf = malloc(d.buflen);
	if (!d.buf) {
		cli_err("out of memory");
		goto cleanup;
	}
	rc = replica_students_walk(theirs, collect_theirs, &d);
	if (rc) {
		cli_err("cannot read the students of '%s': %s", argv[optind],
			cn_strerror(rc));
		goto cleanup;
	}
	if (d.ntheirs)
		qsort(d.theirs, d.ntheirs, sizeof *d.theirs, sdig_cmp);
	rc = replica_students_walk(ours, compare_ours, &d);
	if (rc) {
		cli_err("cannot read this node's students: %s", cn_strerror(rc));
		goto cleanup;
	}
	for (i = 0; i < d.ntheirs; i++) {
		if (!d.theirs[i].seen && add_diff(&d, d.theirs[i].edu_id)) {
			cli_err("out of memory");
			goto cleanup;
		}
	}
	if (d.ndiff)
		qsort(d.diff, d.ndiff, sizeof *d.diff, name_cmp);

	we_lack = lacks(&vt, &vo, false, "we");
	they_lack = lacks(&vo, &vt, false, "they");
	if (cli.json) {
		json_object_begin();
		json_kv_bool("identical", !we_lack && !they_lack && !d.ndiff);
		json_key("ours");
		json_vv(&vo);
		json_key("theirs");
		json_vv(&vt);
		json_key("we_lack");
		lacks(&vt, &vo, true, "we");
		json_key("they_lack");
		lacks(&vo, &vt, true, "they");
		json_key("differing_students");
		json_array_begin();
		for (i = 0; i < d.ndiff && i < DIFF_LIST_MAX; i++)
			json_str(d.diff[i]);
		json_array_end();
		json_kv_uint("differing_count", d.ndiff);
		json_object_end();
		if (json_end())
			goto cleanup;
	} else {
		printf("%-10s %12s %12s\n", "ORIGIN", "OURS", "THEIRS");
		for (i = 0, j = 0; i < vo.n || j < vt.n;) {
			int cmp = i == vo.n   ? 1
				  : j == vt.n ? -1
					      : memcmp(vo.v[i].origin,
						       vt.v[j].origin, CN_KEY_LEN);
			const uint8_t *o = cmp <= 0 ? vo.v[i].origin
						    : vt.v[j].origin;
			uint64_t so = cmp <= 0 ? vo.v[i].seq : 0;
			uint64_t st = cmp >= 0 ? vt.v[j].seq : 0;

			printf("%-10s %12" PRIu64 " %12" PRIu64 "%s\n",
			       cli_hex(o, 4), so, st, so == st ? "" : "  *");
			if (cmp <= 0)
				i++;
			if (cmp >= 0)
				j++;
		}
		lacks(&vt, &vo, true, "we");
		lacks(&vo, &vt, true, "they");
		printf("students whose state differs: %zu\n", d.ndiff);
		for (i = 0; i < d.ndiff && i < DIFF_LIST_MAX; i++)
			printf("  %s\n", d.diff[i]);
		if (d.ndiff > DIFF_LIST_MAX)
			printf("  … and %zu more\n", d.ndiff - DIFF_LIST_MAX);
		if (!we_lack && !they_lack && !d.ndiff)
			printf("the replicas are identical\n");
	}
	ret = we_lack || they_lack || d.ndiff ? CLI_PARTIAL : CLI_OK;
cleanup:
	replica_close(ours);
	replica_close(theirs);
	vv_free(&vo);
	vv_free(&vt);
	free(d.theirs);
	free(d.diff);
	free(d.buf);
	return ret;
}
