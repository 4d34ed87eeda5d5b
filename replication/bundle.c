/*
 * bundle.c — sneakernet bundles and replica merges (DESIGN §7).
 *
 * Export streams the items of bundle.h through a buffered writer that hashes
 * every byte.  Import streams them back through a buffered reader that
 * delimits one CBOR item at a time, so that at most one item (≤ one chunk)
 * is in memory besides the batch of entries waiting for replica_ingest.
 * Merge walks another replica's log and feeds the same batches.
 *
 * Entries authenticate themselves: the core stores an entry only once a
 * verified signature of its origin covers it through the hash chain.  The
 * batches therefore end on chunk boundaries, and the unsigned tail of the
 * last chunk waits for the next batch, where the signature that covers it
 * arrives.
 */
#include "bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cbor_rw.h"
#include "entry.h"
#include "util.h"

#define BUNDLE_MAGIC "cardnode-bundle"
#define BUNDLE_VERSION 1
#define BUNDLE_SIG_CTX "cardnode-bundle-v1"
#define BUNDLE_SIG_CTX_LEN (sizeof BUNDLE_SIG_CTX - 1)

/* The largest item the reader accepts. */
#define ITEM_MAX ((size_t)BUNDLE_CHUNK_MAX_BYTES + (64u << 10))
#define READ_BUF (ITEM_MAX + (64u << 10))
#define WRITE_BUF (256u << 10)
/* Origins in a header's `since` map (as vv_parse_json). */
#define SINCE_MAX 65536
/* Start another certs / revocations item beyond this many bytes. */
#define BLOB_ITEM_BYTES (1u << 20)
#define BLOB_MAX CERT_MAX

/* One replica_ingest call: about this much, ending on a chunk boundary. */
#define BATCH_MAX_ENTRIES 100000
#define BATCH_MAX_BYTES (32u << 20)
#define PROGRESS_EVERY 10000

/* ---- shared helpers ------------------------------------------------------ */

__attribute__((format(printf, 2, 3))) static void
report_problem(struct bundle_report *rep, const char *fmt, ...)
{
	va_list ap;

	if (rep->problem[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(rep->problem, sizeof rep->problem, fmt, ap);
	va_end(ap);
}

static bool ingest_trouble(const struct ingest_report *ir)
{
	return ir->unverified || ir->gap || ir->malformed || ir->forked ||
	       ir->held || ir->badsig;
}

/* The chunking rule, shared by export and merge.  Close the open chunk
 * before an entry that would take it past the bounds … */
static bool chunk_full_before(size_t n, size_t bytes, size_t len)
{
	return n > 0 && (n >= BUNDLE_CHUNK_MAX_ENTRIES ||
			 bytes + len > BUNDLE_CHUNK_MAX_BYTES);
}

/* … and after a signed entry once the chunk is half full. */
static bool chunk_done_after(size_t n, size_t bytes, bool sig)
{
	return sig && (n >= BUNDLE_CHUNK_MAX_ENTRIES / 2 ||
		       bytes >= BUNDLE_CHUNK_MAX_BYTES / 2);
}

/* ---- batches of entries for replica_ingest ------------------------------- */

struct batch_ent {
	size_t off;      /* in the arena */
	uint32_t len;
	uint32_t desc;   /* index into batch.d */
	bool sig;
};

/* A chunk (import) or a run of one origin (merge), for the report. */
struct batch_desc {
	uint64_t chunk_no;   /* 1-based chunk number; 0 in a merge */
	uint8_t origin[CN_KEY_LEN];
	uint64_t first, last; /* seqs; last = first - 1 while empty */
};

struct batch {
	struct replica *r;
	struct bundle_report *rep;
	uint8_t *arena;
	size_t alen, acap;
	struct batch_ent *e;
	size_t n, ecap;
	struct batch_desc *d;
	size_t nd, dcap;
	const uint8_t **ptrs;
	size_t *lens;
	size_t pcap, lcap;
	bundle_progress_fn progress;
	void *pctx;
	uint64_t done, total;
};

static void batch_init(struct batch *b, struct replica *r,
		       struct bundle_report *rep, bundle_progress_fn progress,
		       void *pctx)
{
	memset(b, 0, sizeof *b);
	b->r = r;
	b->rep = rep;
	b->progress = progress;
	b->pctx = pctx;
}

static void batch_free(struct batch *b)
{
	free(b->arena);
	free(b->e);
	free(b->d);
	free(b->ptrs);
	free(b->lens);
	memset(b, 0, sizeof *b);
}

static int batch_begin(struct batch *b, uint64_t chunk_no,
		       const uint8_t origin[static CN_KEY_LEN], uint64_t first)
{
	struct batch_desc *d = util_grow(b->d, &b->dcap, b->nd + 1, sizeof *b->d);

	if (d == NULL)
		return CN_ERR_NOMEM;
	b->d = d;
	d = &b->d[b->nd++];
	d->chunk_no = chunk_no;
	memcpy(d->origin, origin, CN_KEY_LEN);
	d->first = first;
	d->last = first - 1;
	return 0;
}

/* Copy one wire entry into the batch, in the chunk begun last. */
static int batch_add(struct batch *b, const uint8_t *wire, size_t len, bool sig)
{
	uint8_t *arena = util_grow(b->arena, &b->acap, b->alen + len, 1);
	struct batch_ent *e;

	if (arena == NULL)
		return CN_ERR_NOMEM;
	b->arena = arena;
	e = util_grow(b->e, &b->ecap, b->n + 1, sizeof *b->e);
	if (e == NULL)
		return CN_ERR_NOMEM;
	b->e = e;
	memcpy(b->arena + b->alen, wire, len);
	e = &b->e[b->n++];
	e->off = b->alen;
	e->len = (uint32_t)len;
	e->desc = (uint32_t)(b->nd - 1);
	e->sig = sig;
	b->alen += len;
	b->d[b->nd - 1].last++;
	b->done++;
	if (b->progress != NULL && b->done % PROGRESS_EVERY == 0)
		b->progress(b->pctx, b->done, b->total);
	return 0;
}

/* After a call that went wrong: name the first chunk among d[0..nd) that
 * did not get stored in full. */
static void batch_explain(struct batch *b, const struct ingest_report *ir,
			  size_t nd)
{
	struct bundle_report *rep = b->rep;
	const char *why = ir->problem;
	char what[sizeof ir->problem + 64];

	if (rep->problem[0] != '\0')
		return;
	for (size_t i = 0; i < nd; i++) {
		const struct batch_desc *d = &b->d[i];
		uint64_t head, from;
		char hex[17];

		if (d->last < d->first)
			continue;
		head = replica_head(b->r, d->origin);
		if (head >= d->last)
			continue;
		from = head >= d->first ? head + 1 : d->first;
		if (head + 1 < d->first)
			snprintf(what, sizeof what,
				 "they do not follow the log held here (up to seq %" PRIu64 ")",
				 head);
		else if (ir->held || ir->forked)
			snprintf(what, sizeof what,
				 "the origin has forked (two different entries at one seq)");
		else if (ir->unverified)
			snprintf(what, sizeof what,
				 "seq %" PRIu64 "–%" PRIu64 " are not covered by a valid signature",
				 from, d->last);
		else
			snprintf(what, sizeof what, "%s",
				 why[0] ? why : "they were not stored");
		util_short_hex(d->origin, hex);
		if (d->chunk_no != 0)
			report_problem(rep,
				       "chunk %" PRIu64 " (origin %s…, seq %" PRIu64 "–%" PRIu64 "): %s; %" PRIu64 " entries not applied",
				       d->chunk_no, hex, d->first, d->last, what,
				       d->last - from + 1);
		else
			report_problem(rep,
				       "origin %s…, seq %" PRIu64 "–%" PRIu64 ": %s; %" PRIu64 " entries not applied",
				       hex, d->first, d->last, what,
				       d->last - from + 1);
		return;
	}
	if (why[0] != '\0')
		report_problem(rep, "%s", why);
	else
		report_problem(rep, "some entries were not applied");
}

static void report_add(struct bundle_report *rep, const struct ingest_report *ir)
{
	replica_report_add(&rep->ingest, ir);
}

/* Hand the batch to replica_ingest.  Unless `all`, the trailing unsigned
 * entries of the last chunk's origin stay for the next call, where the
 * signature covering them arrives (bounded, so that a log that never signs
 * cannot hold the whole file in memory). */
static int batch_flush(struct batch *b, bool all)
{
	struct ingest_report ir;
	size_t keep = 0, nsub, dk;
	int rc;

	if (!all && b->n > 0) {
		const uint8_t *origin = b->d[b->e[b->n - 1].desc].origin;
		size_t i = b->n, bytes = 0;

		while (i > 0 && !b->e[i - 1].sig &&
		       memcmp(b->d[b->e[i - 1].desc].origin, origin,
			      CN_KEY_LEN) == 0) {
			i--;
			bytes += b->e[i].len;
		}
		keep = b->n - i;
		if (keep > BATCH_MAX_ENTRIES / 2 || bytes > BATCH_MAX_BYTES / 2)
			keep = 0;
	}
	nsub = b->n - keep;
	if (nsub == 0)
		return 0;
	{
		const uint8_t **ptrs = util_grow(b->ptrs, &b->pcap, nsub, sizeof *ptrs);
		size_t *lens;

		if (ptrs == NULL)
			return CN_ERR_NOMEM;
		b->ptrs = ptrs;
		lens = util_grow(b->lens, &b->lcap, nsub, sizeof *lens);
		if (lens == NULL)
			return CN_ERR_NOMEM;
		b->lens = lens;
	}
	for (size_t i = 0; i < nsub; i++) {
		b->ptrs[i] = b->arena + b->e[i].off;
		b->lens[i] = b->e[i].len;
	}
	memset(&ir, 0, sizeof ir);
	rc = replica_ingest(b->r, b->ptrs, b->lens, nsub, &ir);
	if (rc != 0) {
		report_problem(b->rep, "storing entries failed: %s%s%s",
			       cn_strerror(rc), ir.problem[0] ? ": " : "",
			       ir.problem);
		return rc;
	}
	report_add(b->rep, &ir);
	/* Chunks d[0..dk) went in whole; the rest keep entries for later. */
	dk = keep ? b->e[nsub].desc : b->nd;
	if (ingest_trouble(&ir))
		batch_explain(b, &ir, dk);
	if (keep == 0) {
		b->n = 0;
		b->alen = 0;
		b->nd = 0;
		return 0;
	}
	{
		size_t off0 = b->e[nsub].off;

		memmove(b->arena, b->arena + off0, b->alen - off0);
		b->alen -= off0;
		for (size_t i = 0; i < keep; i++) {
			b->e[i] = b->e[nsub + i];
			b->e[i].off -= off0;
			b->e[i].desc -= (uint32_t)dk;
		}
		b->n = keep;
		memmove(b->d, b->d + dk, (b->nd - dk) * sizeof *b->d);
		b->nd -= dk;
	}
	return 0;
}

/* Close the chunk begun last; flush when the batch is full. */
static int batch_end(struct batch *b)
{
	if (b->nd > 0 && b->d[b->nd - 1].last < b->d[b->nd - 1].first)
		b->nd--;
	if (b->n >= BATCH_MAX_ENTRIES || b->alen >= BATCH_MAX_BYTES)
		return batch_flush(b, false);
	return 0;
}

/* ---- export -------------------------------------------------------------- */

struct bwriter {
	int fd;
	uint8_t *buf;
	size_t len;
	uint64_t total;
	bool hashing;
	crypto_generichash_state h;
};

static int bw_flush(struct bwriter *w)
{
	size_t off = 0;

	while (off < w->len) {
		ssize_t k = write(w->fd, w->buf + off, w->len - off);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return CN_ERR_IO;
		}
		off += (size_t)k;
	}
	w->len = 0;
	return 0;
}

static int bw_write(struct bwriter *w, const void *p, size_t n)
{
	const uint8_t *s = p;

	if (w->hashing)
		crypto_generichash_update(&w->h, s, n);
	w->total += n;
	while (n > 0) {
		size_t k = WRITE_BUF - w->len;
		int rc;

		if (k > n)
			k = n;
		memcpy(w->buf + w->len, s, k);
		w->len += k;
		s += k;
		n -= k;
		if (w->len == WRITE_BUF && (rc = bw_flush(w)) != 0)
			return rc;
	}
	return 0;
}

/* Write an encoded item (checking the encoder's sticky error). */
static int bw_item(struct bwriter *w, const struct cbor_wr *c)
{
	if (c->err != 0)
		return c->err;
	return bw_write(w, c->buf, c->len);
}

struct exporter {
	struct replica *r;
	struct bwriter w;
	struct bundle_export_report *rep;
	uint64_t items;
	/* the open chunk */
	uint8_t origin[CN_KEY_LEN];
	uint64_t first, next;
	size_t n;
	struct cbor_wr body;   /* its entries, back to back */
	/* certs / revocations being gathered into an item */
	const char *blob_name;
	struct cbor_wr blobs;
	size_t nblobs;
	uint64_t *blob_count;
	bool blob_written;
	bundle_progress_fn progress;
	void *pctx;
	uint64_t done, total;
};

static int export_blob_item(struct exporter *ex)
{
	struct cbor_wr h;
	uint8_t hb[64];
	int rc;

	if (ex->blobs.err != 0)
		return ex->blobs.err;
	cbw_init_fixed(&h, hb, sizeof hb);
	cbw_array(&h, 2);
	cbw_tstr0(&h, ex->blob_name);
	cbw_array(&h, ex->nblobs);
	if ((rc = bw_item(&ex->w, &h)) != 0 ||
	    (rc = bw_write(&ex->w, ex->blobs.buf, ex->blobs.len)) != 0)
		return rc;
	ex->items++;
	ex->blobs.len = 0;
	ex->nblobs = 0;
	ex->blob_written = true;
	return 0;
}

static int export_blob_cb(void *ctx, const uint8_t *buf, size_t len)
{
	struct exporter *ex = ctx;

	if (len == 0 || len > BLOB_MAX)
		return CN_ERR_MALFORMED;
	cbw_bstr(&ex->blobs, buf, len);
	if (ex->blobs.err != 0)
		return ex->blobs.err;
	ex->nblobs++;
	(*ex->blob_count)++;
	if (ex->blobs.len >= BLOB_ITEM_BYTES)
		return export_blob_item(ex);
	return 0;
}

/* One "certs" or "revocations" item (more if they are many). */
static int export_blobs(struct exporter *ex, const char *name,
			int (*walk)(struct replica *, replica_blob_cb, void *),
			uint64_t *count)
{
	int rc;

	ex->blob_name = name;
	ex->blob_count = count;
	ex->blob_written = false;
	ex->blobs.len = 0;
	ex->nblobs = 0;
	rc = walk(ex->r, export_blob_cb, ex);
	if (rc != 0)
		return rc;
	if (ex->nblobs > 0 || !ex->blob_written)
		return export_blob_item(ex);
	return 0;
}

static int export_close_chunk(struct exporter *ex)
{
	struct cbor_wr h;
	uint8_t hb[96];
	int rc;

	if (ex->n == 0)
		return 0;
	if (ex->body.err != 0)
		return ex->body.err;
	cbw_init_fixed(&h, hb, sizeof hb);
	cbw_array(&h, 4);
	cbw_tstr0(&h, "entries");
	cbw_bstr(&h, ex->origin, CN_KEY_LEN);
	cbw_uint(&h, ex->first);
	cbw_array(&h, ex->n);
	if ((rc = bw_item(&ex->w, &h)) != 0 ||
	    (rc = bw_write(&ex->w, ex->body.buf, ex->body.len)) != 0)
		return rc;
	ex->items++;
	ex->rep->chunks++;
	ex->n = 0;
	ex->body.len = 0;
	return 0;
}

static int export_entry(void *ctx, uint64_t seq, const uint8_t *wire,
			size_t len)
{
	struct exporter *ex = ctx;
	const uint8_t *payload, *sig;
	size_t plen, used;
	const char *why;
	int rc;

	if (seq != ex->next)
		return CN_ERR_STORE;
	if (entry_wire_decode(wire, len, &payload, &plen, &sig, &used, &why) != 0 ||
	    used != len || len > CN_ENTRY_MAX)
		return CN_ERR_MALFORMED;
	if (chunk_full_before(ex->n, ex->body.len, len) &&
	    (rc = export_close_chunk(ex)) != 0)
		return rc;
	if (ex->n == 0)
		ex->first = seq;
	cbw_raw(&ex->body, wire, len);
	if (ex->body.err != 0)
		return ex->body.err;
	ex->n++;
	ex->next++;
	ex->rep->entries++;
	ex->done++;
	if (ex->progress != NULL && ex->done % PROGRESS_EVERY == 0)
		ex->progress(ex->pctx, ex->done, ex->total);
	if (chunk_done_after(ex->n, ex->body.len, sig != NULL))
		return export_close_chunk(ex);
	return 0;
}

static int export_header(struct exporter *ex, const struct vv *since)
{
	struct replica_info info;
	struct cbor_wr h;
	size_t n = since ? since->n : 0;
	int rc;

	replica_info(ex->r, &info);
	cbw_init_grow(&h);
	cbw_array(&h, 5);
	cbw_tstr0(&h, BUNDLE_MAGIC);
	cbw_uint(&h, BUNDLE_VERSION);
	cbw_bstr(&h, info.node, CN_KEY_LEN);
	cbw_uint(&h, util_now_ms());
	cbw_map(&h, n);
	for (size_t i = 0; i < n; i++) {
		cbw_bstr(&h, since->v[i].origin, CN_KEY_LEN);
		cbw_uint(&h, since->v[i].seq);
	}
	rc = bw_item(&ex->w, &h);
	cbw_free(&h);
	if (rc == 0)
		ex->items++;
	return rc;
}

static int export_trailer(struct exporter *ex)
{
	uint8_t msg[BUNDLE_SIG_CTX_LEN + CN_KEY_LEN];
	uint8_t sig[CN_SIG_LEN];
	uint8_t tb[160];
	struct cbor_wr t;
	int rc;

	memcpy(msg, BUNDLE_SIG_CTX, BUNDLE_SIG_CTX_LEN);
	crypto_generichash_final(&ex->w.h, msg + BUNDLE_SIG_CTX_LEN, CN_KEY_LEN);
	ex->w.hashing = false;
	rc = replica_sign(ex->r, msg, sizeof msg, sig);
	if (rc != 0)
		return rc;
	cbw_init_fixed(&t, tb, sizeof tb);
	cbw_array(&t, 4);
	cbw_tstr0(&t, "end");
	cbw_uint(&t, ex->items);
	cbw_bstr(&t, msg + BUNDLE_SIG_CTX_LEN, CN_KEY_LEN);
	cbw_bstr(&t, sig, CN_SIG_LEN);
	return bw_item(&ex->w, &t);
}

static int export_entries(struct exporter *ex, const struct vv *since)
{
	struct vv have;
	int rc;

	vv_init(&have);
	rc = vv_from_replica(&have, ex->r);
	if (rc != 0)
		goto out;
	for (size_t i = 0; i < have.n; i++) {
		uint64_t from = since ? vv_get(since, have.v[i].origin) : 0;

		if (have.v[i].seq > from)
			ex->total += have.v[i].seq - from;
	}
	for (size_t i = 0; i < have.n; i++) {
		const struct vv_item *it = &have.v[i];
		uint64_t from = since ? vv_get(since, it->origin) : 0;

		if (it->seq <= from)
			continue;
		memcpy(ex->origin, it->origin, CN_KEY_LEN);
		ex->n = 0;
		ex->next = from + 1;
		rc = replica_log_walk(ex->r, it->origin, from + 1, it->seq,
				      export_entry, ex);
		if (rc == 0 && ex->next != it->seq + 1)
			rc = CN_ERR_STORE; /* the log ends before its head */
		if (rc == 0)
			rc = export_close_chunk(ex);
		if (rc != 0)
			goto out;
		ex->rep->origins++;
	}
out:
	vv_free(&have);
	return rc;
}

static int open_errno(int e)
{
	switch (e) {
	case EEXIST:
		return CN_ERR_EXISTS;
	case ENOENT:
	case ENOTDIR:
		return CN_ERR_NOTFOUND;
	case EACCES:
	case EPERM:
	case EROFS:
		return CN_ERR_PERM;
	default:
		return CN_ERR_IO;
	}
}

/* Make the new file's directory entry durable (best effort). */
static void fsync_parent(const char *path)
{
	char *dir = strdup(path);
	char *slash;
	int fd;

	if (dir == NULL)
		return;
	slash = strrchr(dir, '/');
	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

int bundle_export(struct replica *r, const char *path, const struct vv *since,
		  struct bundle_export_report *rep, bundle_progress_fn progress,
		  void *pctx)
{
	struct bundle_export_report local;
	struct exporter ex;
	int rc;

	if (rep == NULL)
		rep = &local;
	memset(rep, 0, sizeof *rep);
	if (r == NULL || path == NULL || (since != NULL && since->n > SINCE_MAX))
		return CN_ERR_INVAL;
	memset(&ex, 0, sizeof ex);
	ex.r = r;
	ex.rep = rep;
	ex.progress = progress;
	ex.pctx = pctx;
	cbw_init_grow(&ex.body);
	cbw_init_grow(&ex.blobs);
	ex.w.fd = -1;
	ex.w.buf = malloc(WRITE_BUF);
	if (ex.w.buf == NULL) {
		rc = CN_ERR_NOMEM;
		goto fail;
	}
	ex.w.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (ex.w.fd < 0) {
		rc = open_errno(errno);
		goto fail;
	}
	ex.w.hashing = true;
	crypto_generichash_init(&ex.w.h, NULL, 0, CN_KEY_LEN);

	if ((rc = export_header(&ex, since)) != 0 ||
	    (rc = export_blobs(&ex, "certs", replica_certs_walk,
			       &rep->certs)) != 0 ||
	    (rc = export_blobs(&ex, "revocations", replica_revocations_walk,
			       &rep->revocations)) != 0 ||
	    (rc = export_entries(&ex, since)) != 0 ||
	    (rc = export_trailer(&ex)) != 0 || (rc = bw_flush(&ex.w)) != 0)
		goto fail;
	if (fsync(ex.w.fd) != 0) {
		rc = CN_ERR_IO;
		goto fail;
	}
	rc = close(ex.w.fd);
	ex.w.fd = -1;
	if (rc != 0) {
		rc = CN_ERR_IO;
		unlink(path);
		goto out;
	}
	fsync_parent(path);
	rep->bytes = ex.w.total;
	if (progress != NULL)
		progress(pctx, ex.done, ex.total);
	goto out;

fail:
	if (ex.w.fd >= 0) {
		close(ex.w.fd);
		unlink(path);
	}
out:
	free(ex.w.buf);
	cbw_free(&ex.body);
	cbw_free(&ex.blobs);
	return rc;
}

/* ---- import: reading items ------------------------------------------------ */

/* Length of the CBOR item at the front of p[0..avail).  Returns 0 and *len
 * when it is all there; 1 and *need (≤ max) when more bytes are needed;
 * CN_ERR_MALFORMED, or CN_ERR_TOOBIG for an item longer than max, with
 * *why set.  Only heads are looked at (strings are skipped by length); the
 * cbr_* reader checks the rest. */
static int item_extent(const uint8_t *p, size_t avail, size_t max, size_t *len,
		       size_t *need, const char **why)
{
	uint64_t left[CBOR_MAX_DEPTH + 1];
	int depth = 0;
	size_t off = 0;

	left[0] = 1;
	for (;;) {
		uint8_t mt, ai;
		uint64_t v = 0;
		size_t hl;

		while (left[depth] == 0) {
			if (depth == 0) {
				*len = off;
				return 0;
			}
			depth--;
		}
		left[depth]--;
		if (off >= max) {
			*why = "oversized item";
			return CN_ERR_TOOBIG;
		}
		if (off >= avail) {
			*need = off + 1;
			return 1;
		}
		mt = p[off] >> 5;
		ai = p[off] & 31;
		if (ai < 24) {
			hl = 1;
			v = ai;
		} else if (ai <= 27) {
			hl = 1 + ((size_t)1 << (ai - 24));
		} else {
			*why = ai == 31 ? "indefinite length" : "reserved CBOR head";
			return CN_ERR_MALFORMED;
		}
		if (hl > max - off) {
			*why = "oversized item";
			return CN_ERR_TOOBIG;
		}
		if (hl > avail - off) {
			*need = off + hl;
			return 1;
		}
		for (size_t i = 1; i < hl; i++)
			v = v << 8 | p[off + i];
		off += hl;
		switch (mt) {
		case 0:
		case 1:
			break;
		case 2:
		case 3:
			if (v > max - off) {
				*why = "oversized item";
				return CN_ERR_TOOBIG;
			}
			off += (size_t)v;
			if (off > avail) {
				*need = off;
				return 1;
			}
			break;
		case 4:
		case 5:
			/* every element takes at least one byte */
			if (v > (max - off) / (mt == 5 ? 2 : 1)) {
				*why = "oversized item";
				return CN_ERR_TOOBIG;
			}
			if (mt == 5)
				v *= 2;
			if (v == 0)
				break;
			if (depth == CBOR_MAX_DEPTH) {
				*why = "nested too deeply";
				return CN_ERR_MALFORMED;
			}
			left[++depth] = v;
			break;
		case 6:
			*why = "tagged item";
			return CN_ERR_MALFORMED;
		default:
			if (ai < 20 || ai > 22) {
				*why = "float or simple value";
				return CN_ERR_MALFORMED;
			}
			break;
		}
	}
}

struct breader {
	int fd;
	uint8_t *buf;
	size_t cap, start, end;
	bool eof;
	uint64_t pos;   /* file offset of buf[start] */
};

/* Move what is left to the front and read once more. */
static int br_fill(struct breader *b)
{
	if (b->start > 0) {
		memmove(b->buf, b->buf + b->start, b->end - b->start);
		b->end -= b->start;
		b->start = 0;
	}
	if (b->end == b->cap)
		return CN_ERR_TOOBIG; /* cannot happen: need ≤ ITEM_MAX < cap */
	for (;;) {
		ssize_t k = read(b->fd, b->buf + b->end, b->cap - b->end);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return CN_ERR_IO;
		}
		if (k == 0)
			b->eof = true;
		b->end += (size_t)k;
		return 0;
	}
}

struct importer {
	struct replica *r;
	struct bundle_report *rep;
	struct batch b;
	uint64_t items;         /* items before the trailer, header included */
	uint64_t chunks;
	bool entries_seen;
	bool trailer_seen;
	uint8_t exporter[CN_KEY_LEN];
	crypto_generichash_state h;
};

static bool tstr_is(const char *s, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(s, want, n) == 0;
}

static int import_header(struct importer *im, const uint8_t *item, size_t len,
			 const char **why)
{
	struct cbor_rd c;
	const char *s;
	size_t n, sl;
	uint64_t v, created;
	uint8_t prev[CN_KEY_LEN], key[CN_KEY_LEN];

	cbr_init(&c, item, len);
	if (cbr_array(&c, &n, 5) != 0 || n != 5 ||
	    cbr_tstr(&c, &s, &sl, 32) != 0 || !tstr_is(s, sl, BUNDLE_MAGIC)) {
		*why = "it does not start with a bundle header";
		return CN_ERR_MALFORMED;
	}
	if (cbr_uint(&c, &v) != 0 || v != BUNDLE_VERSION) {
		*why = "unsupported bundle version";
		return CN_ERR_MALFORMED;
	}
	if (cbr_bstr_fixed(&c, im->exporter, CN_KEY_LEN) != 0 ||
	    cbr_uint(&c, &created) != 0 || cbr_map(&c, &n, SINCE_MAX) != 0) {
		*why = c.why ? c.why : "malformed header";
		return CN_ERR_MALFORMED;
	}
	for (size_t i = 0; i < n; i++) {
		if (cbr_bstr_fixed(&c, key, CN_KEY_LEN) != 0 ||
		    cbr_uint(&c, &v) != 0) {
			*why = c.why ? c.why : "malformed header";
			return CN_ERR_MALFORMED;
		}
		if (i > 0 && memcmp(prev, key, CN_KEY_LEN) >= 0) {
			*why = "header's version vector is not in canonical order";
			return CN_ERR_MALFORMED;
		}
		memcpy(prev, key, CN_KEY_LEN);
	}
	if (c.p != c.end) {
		*why = "trailing bytes in the header";
		return CN_ERR_MALFORMED;
	}
	return 0;
}

/* ["certs", [bstr …]] or ["revocations", [bstr …]], the cursor after the
 * name.  Each is installed (they are root-signed; a bad one is counted and
 * named). */
static int import_blobs(struct importer *im, struct cbor_rd *c, bool certs)
{
	struct bundle_report *rep = im->rep;
	size_t n;

	if (cbr_array(c, &n, ITEM_MAX) != 0)
		return CN_ERR_MALFORMED;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p;
		size_t len;
		const char *why = NULL;
		int rc;

		if (cbr_bstr(c, &p, &len, BLOB_MAX) != 0)
			return CN_ERR_MALFORMED;
		rc = certs ? replica_cert_install(im->r, p, len, &why)
			   : replica_revocation_install(im->r, p, len, &why);
		if (rc == 0) {
			(*(certs ? &rep->certs_new : &rep->revocations_new))++;
		} else if (rc == CN_ERR_EXISTS) {
			(*(certs ? &rep->certs_known : &rep->revocations_known))++;
		} else if (rc == CN_ERR_BADSIG || rc == CN_ERR_MALFORMED ||
			   rc == CN_ERR_TOOBIG) {
			(*(certs ? &rep->certs_bad : &rep->revocations_bad))++;
			report_problem(rep, "%s %zu of item %" PRIu64 " refused: %s",
				       certs ? "certificate" : "revocation",
				       i + 1, im->items + 1, why ? why : cn_strerror(rc));
		} else {
			report_problem(rep, "installing a %s failed: %s",
				       certs ? "certificate" : "revocation",
				       cn_strerror(rc));
			return rc;
		}
	}
	return c->p == c->end ? 0 : CN_ERR_MALFORMED;
}

/* The rest of ["entries", origin, first_seq, [entry …]] after the name.
 * Entries go into the batch; with `partial` (the file was cut inside this
 * item) those complete before the cut do, silently.  Returns
 * CN_ERR_MALFORMED (problem named) if the chunk breaks the format; entries
 * before the break stay in the batch. */
static int import_chunk(struct importer *im, struct cbor_rd *c, bool partial)
{
	struct bundle_report *rep = im->rep;
	uint8_t origin[CN_KEY_LEN];
	uint64_t first, chunk_no = ++im->chunks;
	size_t n, i;
	const char *why = NULL;
	char hex[17];
	struct entry e;
	int rc;

	if (cbr_bstr_fixed(c, origin, CN_KEY_LEN) != 0 ||
	    cbr_uint(c, &first) != 0 ||
	    cbr_array(c, &n, BUNDLE_CHUNK_MAX_ENTRIES) != 0) {
		if (partial)
			return 0;
		report_problem(rep, "chunk %" PRIu64 " (item %" PRIu64 "): %s",
			       chunk_no, im->items + 1, c->why ? c->why : "malformed");
		return CN_ERR_MALFORMED;
	}
	util_short_hex(origin, hex);
	if (n == 0 || first == 0 || first > UINT64_MAX - n) {
		if (partial)
			return 0;
		report_problem(rep, "chunk %" PRIu64 " (origin %s…): %s", chunk_no,
			       hex, n == 0 ? "no entries" : "bad first seq");
		return CN_ERR_MALFORMED;
	}
	if ((rc = batch_begin(&im->b, chunk_no, origin, first)) != 0)
		return rc;
	for (i = 0; i < n; i++) {
		const uint8_t *payload, *sig;
		size_t plen, used;

		if (entry_wire_decode(c->p, (size_t)(c->end - c->p), &payload,
				      &plen, &sig, &used, &why) != 0)
			break;
		if (used > CN_ENTRY_MAX) {
			why = "entry too long";
			break;
		}
		if (entry_decode(payload, plen, &e, &why) != 0)
			break;
		if (memcmp(e.origin, origin, CN_KEY_LEN) != 0 ||
		    e.seq != first + i) {
			why = "entry is not the chunk's next one (origin or seq differ)";
			break;
		}
		if ((rc = batch_add(&im->b, c->p, used, sig != NULL)) != 0)
			return rc;
		c->p += used;
		rep->entries_read++;
	}
	if (i < n && !partial) {
		rep->ingest.malformed += n - i;
		report_problem(rep,
			       "chunk %" PRIu64 " (origin %s…, seq %" PRIu64 "–%" PRIu64 "): entry at seq %" PRIu64 " is malformed (%s); %zu entries not applied",
			       chunk_no, hex, first, first + n - 1, first + i,
			       why ? why : "?", n - i);
	}
	if ((rc = batch_end(&im->b)) != 0)
		return rc;
	if (i < n && !partial)
		return CN_ERR_MALFORMED;
	return 0;
}

static void import_trailer(struct importer *im, struct cbor_rd *c)
{
	struct bundle_report *rep = im->rep;
	uint8_t msg[BUNDLE_SIG_CTX_LEN + CN_KEY_LEN];
	uint8_t hash[CN_KEY_LEN], sig[CN_SIG_LEN];
	uint64_t items;
	char hex[2 * CN_KEY_LEN + 1];

	im->trailer_seen = true;
	if (cbr_uint(c, &items) != 0 || cbr_bstr_fixed(c, hash, CN_KEY_LEN) != 0 ||
	    cbr_bstr_fixed(c, sig, CN_SIG_LEN) != 0 || c->p != c->end) {
		report_problem(rep, "trailer is malformed (%s)",
			       c->why ? c->why : "trailing bytes");
		return;
	}
	memcpy(msg, BUNDLE_SIG_CTX, BUNDLE_SIG_CTX_LEN);
	crypto_generichash_final(&im->h, msg + BUNDLE_SIG_CTX_LEN, CN_KEY_LEN);
	if (sodium_memcmp(msg + BUNDLE_SIG_CTX_LEN, hash, CN_KEY_LEN) != 0) {
		report_problem(rep, "trailer hash does not match: the file was altered");
		return;
	}
	if (crypto_sign_verify_detached(sig, msg, sizeof msg, im->exporter) != 0) {
		util_hex_encode(im->exporter, CN_KEY_LEN, hex);
		report_problem(rep,
			       "trailer signature does not verify with the exporter's key %s",
			       hex);
		return;
	}
	if (items != im->items) {
		report_problem(rep, "trailer counts %" PRIu64 " items, the file holds %" PRIu64,
			       items, im->items);
		return;
	}
	rep->trailer_ok = true;
}

/* One item after the header.  Returns 0, CN_ERR_MALFORMED for an item
 * that breaks the format (named in the report, skipped), or an error that
 * stops the import. */
static int import_item(struct importer *im, const uint8_t *item, size_t len,
		       uint64_t pos)
{
	struct bundle_report *rep = im->rep;
	struct cbor_rd c;
	const char *name;
	size_t n, nl;
	int rc;

	cbr_init(&c, item, len);
	if (cbr_array(&c, &n, 8) != 0 || cbr_tstr(&c, &name, &nl, 32) != 0) {
		crypto_generichash_update(&im->h, item, len);
		report_problem(rep, "item %" PRIu64 " at byte %" PRIu64 " is not a bundle item",
			       im->items + 1, pos);
		return CN_ERR_MALFORMED;
	}
	if (n == 4 && tstr_is(name, nl, "end")) {
		/* No chunk follows: apply the rest first, so that problems
		 * with entries are named before the trailer's. */
		if ((rc = batch_flush(&im->b, true)) != 0)
			return rc;
		import_trailer(im, &c);
		return 0;
	}
	crypto_generichash_update(&im->h, item, len);
	if (n == 4 && tstr_is(name, nl, "entries")) {
		im->entries_seen = true;
		return import_chunk(im, &c, false);
	}
	if (n == 2 && (tstr_is(name, nl, "certs") ||
		       tstr_is(name, nl, "revocations"))) {
		bool certs = nl == 5;

		if (im->entries_seen) {
			report_problem(rep, "item %" PRIu64 " at byte %" PRIu64 ": %s after entries",
				       im->items + 1, pos, certs ? "certificates" : "revocations");
			return CN_ERR_MALFORMED;
		}
		rc = import_blobs(im, &c, certs);
		if (rc == CN_ERR_MALFORMED)
			report_problem(rep, "item %" PRIu64 " at byte %" PRIu64 ": malformed %s (%s)",
				       im->items + 1, pos,
				       certs ? "certificates" : "revocations",
				       c.why ? c.why : "trailing bytes");
		return rc;
	}
	report_problem(rep, "item %" PRIu64 " at byte %" PRIu64 ": unknown item \"%.*s\"",
		       im->items + 1, pos, (int)nl, name);
	return CN_ERR_MALFORMED;
}

/* The file ended inside an item: take the complete entries of a cut chunk. */
static int import_cut(struct importer *im, const uint8_t *p, size_t avail)
{
	struct cbor_rd c;
	const char *name;
	size_t n, nl;

	cbr_init(&c, p, avail);
	if (cbr_array(&c, &n, 8) != 0 || n != 4 ||
	    cbr_tstr(&c, &name, &nl, 32) != 0 || !tstr_is(name, nl, "entries"))
		return 0;
	return import_chunk(im, &c, true);
}

int bundle_import(struct replica *r, const char *path, struct bundle_report *rep,
		  bundle_progress_fn progress, void *pctx)
{
	struct bundle_report local;
	struct importer im;
	struct breader b;
	struct stat st;
	bool bulk = false;
	int rc = 0;

	if (rep == NULL)
		rep = &local;
	memset(rep, 0, sizeof *rep);
	if (r == NULL || path == NULL)
		return CN_ERR_INVAL;
	memset(&im, 0, sizeof im);
	memset(&b, 0, sizeof b);
	im.r = r;
	im.rep = rep;
	batch_init(&im.b, r, rep, progress, pctx);
	crypto_generichash_init(&im.h, NULL, 0, CN_KEY_LEN);

	b.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (b.fd < 0) {
		rc = open_errno(errno);
		report_problem(rep, "cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(b.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = CN_ERR_IO;
		report_problem(rep, "%s is not a regular file", path);
		goto out;
	}
	/* An empty replica takes the bulk path: the log first, then every
	 * table built once in key order (replica_bulk_begin()). */
	if ((rc = replica_bulk_begin(r, &bulk)) != 0 && rc != CN_ERR_PERM)
		goto out;
	rc = 0;
	b.cap = READ_BUF;
	b.buf = malloc(b.cap);
	if (b.buf == NULL) {
		rc = CN_ERR_NOMEM;
		goto out;
	}

	for (;;) {
		size_t ilen = 0, need = 0;
		const char *why = NULL;
		int x;

		if (b.start == b.end && !b.eof && (rc = br_fill(&b)) != 0) {
			report_problem(rep, "reading %s failed: %s", path,
				       strerror(errno));
			goto out;
		}
		if (b.start == b.end && b.eof) {
			if (im.items == 0) {
				rc = CN_ERR_MALFORMED;
				report_problem(rep, "not a bundle: the file is empty");
				goto out;
			}
			report_problem(rep, "file ends after %" PRIu64 " of ? items: no trailer",
				       im.items);
			break;
		}
		x = item_extent(b.buf + b.start, b.end - b.start, ITEM_MAX, &ilen,
				&need, &why);
		if (x == 1 && !b.eof) {
			if ((rc = br_fill(&b)) != 0) {
				report_problem(rep, "reading %s failed: %s", path,
					       strerror(errno));
				goto out;
			}
			continue;
		}
		if (x != 0 && im.items == 0) {
			rc = CN_ERR_MALFORMED;
			report_problem(rep, "not a bundle: %s",
				       x == 1 ? "the file ends inside its first item (a cut or damaged header)" : why);
			goto out;
		}
		if (x == 1) {
			report_problem(rep,
				       "file ends after %" PRIu64 " of ? items (inside item %" PRIu64 " at byte %" PRIu64 "): no trailer",
				       im.items, im.items + 1, b.pos);
			rc = import_cut(&im, b.buf + b.start, b.end - b.start);
			if (rc != 0 && rc != CN_ERR_MALFORMED)
				goto out;
			rc = 0;
			break;
		}
		if (x != 0) {
			report_problem(rep,
				       "item %" PRIu64 " at byte %" PRIu64 ": %s; the %" PRIu64 " bytes from there on are unreadable",
				       im.items + 1, b.pos, why,
				       (uint64_t)st.st_size > b.pos ?
				       (uint64_t)st.st_size - b.pos : 0);
			break;
		}
		if (im.items == 0) {
			rc = import_header(&im, b.buf + b.start, ilen, &why);
			if (rc != 0) {
				report_problem(rep, "not a bundle: %s", why);
				goto out;
			}
			util_hex_encode(im.exporter, CN_KEY_LEN, rep->exporter);
			crypto_generichash_update(&im.h, b.buf + b.start, ilen);
			rep->complete = true;
		} else {
			rc = import_item(&im, b.buf + b.start, ilen, b.pos);
			if (rc == CN_ERR_MALFORMED)
				rep->complete = false;
			else if (rc != 0)
				goto out;
			rc = 0;
		}
		b.start += ilen;
		b.pos += ilen;
		if (im.trailer_seen)
			break;
		im.items++;
	}
	if (im.trailer_seen) {
		if (b.start == b.end && !b.eof && (rc = br_fill(&b)) != 0)
			goto out;
		if (b.start != b.end) {
			report_problem(rep, "data after the trailer at byte %" PRIu64,
				       b.pos);
			rep->complete = false;
		}
	} else {
		rep->complete = false;
	}
	rc = batch_flush(&im.b, true);
	if (rc != 0)
		goto out;
	if (bulk) {
		bulk = false;
		if ((rc = replica_bulk_end(r, &rep->ingest)) != 0) {
			report_problem(rep, "building the tables failed: %s",
				       cn_strerror(rc));
			goto out;
		}
	}
	if (progress != NULL)
		progress(pctx, im.b.done, 0);
	if (!rep->complete || !rep->trailer_ok || rep->certs_bad ||
	    rep->revocations_bad || ingest_trouble(&rep->ingest)) {
		report_problem(rep, "some of the bundle was not applied");
		rc = CN_ERR_PARTIAL;
	}
out:
	/* Whatever was stored is folded now (or at the next open). */
	if (bulk)
		replica_bulk_end(r, &rep->ingest);
	if (b.fd >= 0)
		close(b.fd);
	free(b.buf);
	batch_free(&im.b);
	return rc;
}

/* ---- merge of another data directory --------------------------------------- */

struct merger {
	struct replica *r;
	struct bundle_report *rep;
	struct batch b;
	const uint8_t *origin;
	uint64_t next;       /* next seq expected from the walk */
	size_t n, bytes;     /* the open run */
	bool stopped;        /* the walk was stopped here: problem named */
	bool certs;
	struct cbor_wr blobs; /* certs or revocations gathered, as bstrs */
	size_t nblobs;
};

static int merge_gather_cb(void *ctx, const uint8_t *buf, size_t len)
{
	struct merger *m = ctx;

	cbw_bstr(&m->blobs, buf, len);
	m->nblobs++;
	return m->blobs.err;
}

static int merge_blob_install(struct merger *m, const uint8_t *buf, size_t len)
{
	struct bundle_report *rep = m->rep;
	const char *why = NULL;
	int rc;

	rc = m->certs ? replica_cert_install(m->r, buf, len, &why)
		      : replica_revocation_install(m->r, buf, len, &why);
	if (rc == 0) {
		(*(m->certs ? &rep->certs_new : &rep->revocations_new))++;
	} else if (rc == CN_ERR_EXISTS) {
		(*(m->certs ? &rep->certs_known : &rep->revocations_known))++;
	} else if (rc == CN_ERR_BADSIG || rc == CN_ERR_MALFORMED ||
		   rc == CN_ERR_TOOBIG) {
		(*(m->certs ? &rep->certs_bad : &rep->revocations_bad))++;
		report_problem(rep, "a %s of the other replica was refused: %s",
			       m->certs ? "certificate" : "revocation",
			       why ? why : cn_strerror(rc));
	} else {
		report_problem(rep, "installing a %s failed: %s",
			       m->certs ? "certificate" : "revocation",
			       cn_strerror(rc));
		return rc;
	}
	return 0;
}

/* Gather the other replica's certificates (or revocations), then install
 * them once its read transaction is over. */
static int merge_blobs(struct merger *m, struct replica *o, bool certs)
{
	struct bundle_report *rep = m->rep;
	struct cbor_rd c;
	int rc;

	m->certs = certs;
	m->blobs.len = 0;
	m->nblobs = 0;
	rc = certs ? replica_certs_walk(o, merge_gather_cb, m)
		   : replica_revocations_walk(o, merge_gather_cb, m);
	if (rc != 0) {
		report_problem(rep, "reading the other replica's %s failed: %s",
			       certs ? "certificates" : "revocations",
			       cn_strerror(rc));
		return rc;
	}
	cbr_init(&c, m->blobs.buf, m->blobs.len);
	for (size_t i = 0; i < m->nblobs; i++) {
		const uint8_t *p;
		size_t len;

		if (cbr_bstr(&c, &p, &len, ITEM_MAX) != 0)
			return CN_ERR_MALFORMED; /* cannot happen: we wrote it */
		if ((rc = merge_blob_install(m, p, len)) != 0)
			return rc;
	}
	return 0;
}

static int merge_entry(void *ctx, uint64_t seq, const uint8_t *wire, size_t len)
{
	struct merger *m = ctx;
	const uint8_t *payload, *sig;
	size_t plen, used;
	const char *why;
	char hex[17];
	int rc;

	util_short_hex(m->origin, hex);
	if (seq != m->next) {
		report_problem(m->rep,
			       "origin %s…: the other replica's log skips from seq %" PRIu64 " to %" PRIu64,
			       hex, m->next - 1, seq);
		m->stopped = true;
		return CN_ERR_GAP;
	}
	if (entry_wire_decode(wire, len, &payload, &plen, &sig, &used, &why) != 0 ||
	    used != len) {
		m->rep->ingest.malformed++;
		report_problem(m->rep,
			       "origin %s…, seq %" PRIu64 ": the other replica holds a malformed entry (%s)",
			       hex, seq, used != len ? "trailing bytes" : why);
		m->stopped = true;
		return CN_ERR_MALFORMED;
	}
	if (chunk_full_before(m->n, m->bytes, len)) {
		if ((rc = batch_end(&m->b)) != 0)
			return rc;
		m->n = 0;
	}
	if (m->n == 0) {
		if ((rc = batch_begin(&m->b, 0, m->origin, seq)) != 0)
			return rc;
		m->bytes = 0;
	}
	if ((rc = batch_add(&m->b, wire, len, sig != NULL)) != 0)
		return rc;
	m->n++;
	m->bytes += len;
	m->next++;
	m->rep->entries_read++;
	if (chunk_done_after(m->n, m->bytes, sig != NULL)) {
		m->n = 0;
		return batch_end(&m->b);
	}
	return 0;
}

int bundle_merge_dir(struct replica *r, const char *dir, struct bundle_report *rep,
		     bundle_progress_fn progress, void *pctx)
{
	struct bundle_report local;
	struct replica *o = NULL;
	struct replica_info info;
	struct merger m;
	struct vv theirs;
	char err[256];
	int rc;

	if (rep == NULL)
		rep = &local;
	memset(rep, 0, sizeof *rep);
	if (r == NULL || dir == NULL)
		return CN_ERR_INVAL;
	memset(&m, 0, sizeof m);
	vv_init(&theirs);
	cbw_init_grow(&m.blobs);
	m.r = r;
	m.rep = rep;
	batch_init(&m.b, r, rep, progress, pctx);
	err[0] = '\0';
	rc = replica_open(dir, REPLICA_COPY, &o, err, sizeof err);
	if (rc != 0) {
		report_problem(rep, "%s", err[0] ? err : cn_strerror(rc));
		goto out;
	}
	replica_info(o, &info);
	util_hex_encode(info.node, CN_KEY_LEN, rep->exporter);
	rep->trailer_ok = true;
	rep->complete = true;

	if ((rc = merge_blobs(&m, o, true)) != 0 ||
	    (rc = merge_blobs(&m, o, false)) != 0)
		goto out;
	if ((rc = vv_from_replica(&theirs, o)) != 0) {
		report_problem(rep, "reading the other replica's version vector failed: %s",
			       cn_strerror(rc));
		goto out;
	}
	for (size_t i = 0; i < theirs.n; i++) {
		uint64_t ours = replica_head(r, theirs.v[i].origin);

		if (theirs.v[i].seq > ours)
			m.b.total += theirs.v[i].seq - ours;
	}
	for (size_t i = 0; i < theirs.n; i++) {
		const struct vv_item *it = &theirs.v[i];
		uint64_t ours = replica_head(r, it->origin);

		if (it->seq <= ours)
			continue;
		m.origin = it->origin;
		m.next = ours + 1;
		m.n = 0;
		m.stopped = false;
		rc = replica_log_walk(o, it->origin, ours + 1, it->seq,
				      merge_entry, &m);
		if (rc != 0 && !m.stopped)
			goto out;
		if (rc == 0 && m.next != it->seq + 1) {
			char hex[17];

			util_short_hex(it->origin, hex);
			report_problem(rep,
				       "origin %s…: the other replica's log ends at seq %" PRIu64 ", its version vector says %" PRIu64,
				       hex, m.next - 1, it->seq);
			m.stopped = true;
		}
		if (m.stopped)
			rep->complete = false;
		if ((rc = batch_end(&m.b)) != 0)
			goto out;
	}
	rc = batch_flush(&m.b, true);
	if (rc != 0)
		goto out;
	if (progress != NULL)
		progress(pctx, m.b.done, m.b.total);
	if (!rep->complete || rep->certs_bad || rep->revocations_bad ||
	    ingest_trouble(&rep->ingest)) {
		report_problem(rep, "some of the other replica was not merged");
		rc = CN_ERR_PARTIAL;
	}
out:
	if (o != NULL)
		replica_close(o);
	vv_free(&theirs);
	batch_free(&m.b);
	cbw_free(&m.blobs);
	return rc;
}
