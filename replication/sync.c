/*
 * sync.c — the sync protocol of one connection (sync.h, docs/protocol.md).
 *
 * Sending.  The session keeps three vectors: `local` (the replica's, as last
 * read), `peer` (what the peer holds as far as we know: its HELLO, raised by
 * its HAVEs and by the entries it sends us) and `sent` (the highest seq we
 * have handed out per origin).  An origin is due when local > max(peer,
 * sent).  ENTRIES are cut like bundle chunks: contiguous, at most
 * max_entries and max_msg bytes, ending at the last signed entry that fits;
 * only a run with no signature inside the bounds is cut unsigned, and then
 * the same origin continues in the very next ENTRIES, so the receiver's
 * waiting tail is never orphaned by another origin.
 *
 * Receiving.  Every message is decoded and checked in full before it acts.
 * ENTRIES are handed to replica_ingest() up to their last signed entry (one
 * write transaction per message); the unsigned rest waits, copied, for the
 * next ENTRIES of the same origin, where the signature that covers it
 * arrives.  The core verifies, stores and folds; a commit queues a HAVE.
 */
#include "sync.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "authority.h"
#include "cbor_rw.h"
#include "entry.h"
#include "handshake.h"
#include "util.h"
#include "vv.h"

_Static_assert(SYNC_MSG_MAX == HS_MSG_MAX, "a sync message fills one frame");

#define MSG_MIN (64u << 10)     /* smallest max_msg: an entry always fits */
/* ENTRIES head: array(4) 1, type 1, bstr32 34, uint ≤ 9, array head ≤ 3. */
#define ENTRIES_HEAD_MAX 64
/* CERTS head: array(3), type, two array heads ≤ 3 each. */
#define CERTS_HEAD_MAX 16
/* One origin of a vector map: bstr32 (34) and a uint (≤ 9). */
#define VV_ITEM_MAX 43
#define HAVE_HEAD_MAX 16
#define INSTANCE_LEN 16
#define BLOB_MAX CERT_MAX       /* a certificate or a revocation */
#define WALK_STOP 1             /* positive: never a CN_ERR_* */

_Static_assert(CN_ENTRY_MAX + ENTRIES_HEAD_MAX <= MSG_MIN, "an entry fits");
_Static_assert(sizeof ((struct replica_info *)0)->instance == INSTANCE_LEN,
	       "instance id length");

/* A set of 32-byte digests: d[0..sorted) sorted and unique, then appended
 * ones until the next dset_sort(). */
struct dset {
	uint8_t (*d)[CN_KEY_LEN];
	size_t n, sorted, cap;
};

struct blob {
	uint8_t *p;
	size_t len;
};

/* Wire entries copied one after another: entry i is buf[off[i] ..
 * off[i] + lens[i]). */
struct entbuf {
	uint8_t *buf;
	size_t len, bcap;
	size_t *off, *lens, n, ocap, lcap;
};

/* Certificates or revocations to send: b[pos..n). */
struct blobq {
	struct blob *b;
	size_t n, pos, cap;
};

struct sync_session {
	struct replica *r;
	struct sync_limits lim;
	struct replica_info info;
	int err;                 /* sticky: the error that ended the session */
	bool started, hello_recv, dirty;
	uint8_t *hello;          /* our HELLO until sync_next() hands it out */
	size_t hello_len;

	/* sending */
	struct vv local, peer, sent;
	struct dset peer_certs, peer_revs; /* digests the peer holds */
	struct blobq ocerts, orevs;
	struct vv have;          /* origins committed since the last HAVE */
	uint64_t pongs[SYNC_PONGS_MAX];
	size_t npongs;
	uint64_t pings[SYNC_PONGS_MAX];
	size_t npings;
	uint64_t pings_out;      /* PINGs sent, not answered yet */
	size_t scan;             /* next index of `local` to look at */
	bool run_open;           /* run_origin was cut before a signature */
	uint8_t run_origin[CN_KEY_LEN];
	struct cbor_wr body;     /* entries of the ENTRIES being made */

	/* receiving */
	const uint8_t **mptr;    /* entries of the message being handled */
	size_t *mlen, mcap;
	uint8_t tail_origin[CN_KEY_LEN]; /* the run waiting for its signature */
	uint64_t tail_first;
	struct entbuf tail;
	const uint8_t **ptrs;    /* the replica_ingest() call */
	size_t *lens, pcap, lcap;
	/* group commit: entries accepted, copied, not committed yet */
	struct entbuf batch;
	struct vv borigins;      /* their origins (for the HAVE) */
	bool bulk_tried, bulk_on; /* bootstrap through the bulk path */

	/* shared view (sync_set_view) */
	struct sync_view *view;
	uint64_t view_gen;       /* the view's gen at the last refresh */
	uint64_t auth_gen;       /* the view's auth_gen at the last lack check */
	bool scan_done;          /* the last scan ended: nothing was due */
	bool incremental;        /* scan only `todo` (origins that rose) */
	struct vv todo;
	size_t tpos;

	struct sync_stats st;
};

/* ---- small helpers --------------------------------------------------------- */

static const char *type_name(uint64_t t)
{
	switch (t) {
	case SYNC_HELLO: return "HELLO";
	case SYNC_CERTS: return "CERTS";
	case SYNC_ENTRIES: return "ENTRIES";
	case SYNC_HAVE: return "HAVE";
	case SYNC_PING: return "PING";
	case SYNC_PONG: return "PONG";
	}
	return "?";
}

static void digest(const uint8_t *p, size_t len, uint8_t out[static CN_KEY_LEN])
{
	crypto_generichash(out, CN_KEY_LEN, p, len, NULL, 0);
}

/* Bytes of a CBOR head carrying `v`. */
static size_t head_len(uint64_t v)
{
	return v < 24 ? 1 : v < 0x100 ? 2 : v < 0x10000 ? 3 : v < 0x100000000ull ? 5 : 9;
}

static void tail_clear(struct sync_session *s)
{
	s->tail.n = 0;
	s->tail.len = 0;
}

/* End the session with `err` (the first error stays); returns it. */
__attribute__((format(printf, 3, 4))) static int
fail(struct sync_session *s, int err, const char *fmt, ...)
{
	va_list ap;

	if (s->err != 0)
		return s->err;
	s->err = err;
	s->st.last_error = err;
	va_start(ap, fmt);
	vsnprintf(s->st.error, sizeof s->st.error, fmt, ap);
	va_end(ap);
	free(s->hello);
	s->hello = NULL;
	s->st.entries_dropped += s->tail.n + s->batch.n;
	tail_clear(s);
	s->batch.n = s->batch.len = 0;
	s->borigins.n = 0;
	return err;
}

/* A cbr_* failure inside message `what`. */
static int bad(struct sync_session *s, int rc, const struct cbor_rd *c,
	       const char *what)
{
	return fail(s, rc, "%s is malformed: %s", what,
		    c->why != NULL ? c->why : cn_strerror(rc));
}

/* ---- digest sets and blob queues ------------------------------------------- */

static int cmp32(const void *a, const void *b)
{
	return memcmp(a, b, CN_KEY_LEN);
}

static bool dset_has(const struct dset *d, const uint8_t k[static CN_KEY_LEN])
{
	return d->sorted > 0 &&
	       bsearch(k, d->d, d->sorted, CN_KEY_LEN, cmp32) != NULL;
}

static int dset_add(struct dset *d, const uint8_t k[static CN_KEY_LEN])
{
	uint8_t (*nd)[CN_KEY_LEN] = util_grow(d->d, &d->cap, d->n + 1, CN_KEY_LEN);

	if (nd == NULL)
		return CN_ERR_NOMEM;
	d->d = nd;
	memcpy(d->d[d->n++], k, CN_KEY_LEN);
	return 0;
}

static void dset_sort(struct dset *d)
{
	size_t w = 0;

	if (d->n > 1)
		qsort(d->d, d->n, CN_KEY_LEN, cmp32);
	for (size_t i = 0; i < d->n; i++)
		if (w == 0 || memcmp(d->d[w - 1], d->d[i], CN_KEY_LEN) != 0)
			memmove(d->d[w++], d->d[i], CN_KEY_LEN);
	d->n = d->sorted = w;
}

static void dset_free(struct dset *d)
{
	free(d->d);
	memset(d, 0, sizeof *d);
}

static int blobq_add(struct blobq *q, const uint8_t *p, size_t len)
{
	struct blob *nb = util_grow(q->b, &q->cap, q->n + 1, sizeof *q->b);
	uint8_t *c;

	if (nb == NULL)
		return CN_ERR_NOMEM;
	q->b = nb;
	c = malloc(len ? len : 1);
	if (c == NULL)
		return CN_ERR_NOMEM;
	memcpy(c, p, len);
	q->b[q->n].p = c;
	q->b[q->n].len = len;
	q->n++;
	return 0;
}

static void blobq_free(struct blobq *q)
{
	for (size_t i = 0; i < q->n; i++)
		free(q->b[i].p);
	free(q->b);
	memset(q, 0, sizeof *q);
}

/* Forget what was sent once all of it was. */
static void blobq_compact(struct blobq *q)
{
	if (q->pos < q->n)
		return;
	for (size_t i = 0; i < q->n; i++)
		free(q->b[i].p);
	q->n = q->pos = 0;
}

static int entbuf_add(struct entbuf *e, const uint8_t *p, size_t len)
{
	uint8_t *b = util_grow(e->buf, &e->bcap, e->len + len, 1);
	size_t *o, *l;

	if (b == NULL)
		return CN_ERR_NOMEM;
	e->buf = b;
	o = util_grow(e->off, &e->ocap, e->n + 1, sizeof *o);
	if (o == NULL)
		return CN_ERR_NOMEM;
	e->off = o;
	l = util_grow(e->lens, &e->lcap, e->n + 1, sizeof *l);
	if (l == NULL)
		return CN_ERR_NOMEM;
	e->lens = l;
	memcpy(e->buf + e->len, p, len);
	e->off[e->n] = e->len;
	e->lens[e->n] = len;
	e->n++;
	e->len += len;
	return 0;
}

static void entbuf_free(struct entbuf *e)
{
	free(e->buf);
	free(e->off);
	free(e->lens);
	memset(e, 0, sizeof *e);
}

/* ---- open / close ---------------------------------------------------------- */

int sync_open(struct sync_session **out, struct replica *r,
	      const struct sync_limits *lim)
{
	struct sync_limits l;
	struct sync_session *s;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || r == NULL)
		return CN_ERR_INVAL;
	memset(&l, 0, sizeof l);
	if (lim != NULL)
		l = *lim;
	if (l.max_msg == 0)
		l.max_msg = SYNC_MSG_MAX;
	if (l.max_entries == 0)
		l.max_entries = SYNC_ENTRIES_MAX;
	if (l.max_tail_entries == 0)
		l.max_tail_entries = SYNC_TAIL_ENTRIES;
	if (l.max_tail_bytes == 0)
		l.max_tail_bytes = SYNC_TAIL_BYTES;
	if (l.batch_entries > 0 && l.batch_bytes == 0)
		l.batch_bytes = 16u << 20;
	if (l.max_msg < MSG_MIN || l.max_msg > SYNC_MSG_MAX ||
	    l.max_entries > SYNC_ENTRIES_MAX ||
	    l.max_tail_entries < SYNC_ENTRIES_MAX ||
	    l.max_tail_bytes < SYNC_MSG_MAX ||
	    l.batch_entries > SYNC_BATCH_MAX_ENTRIES ||
	    l.batch_bytes > SYNC_BATCH_MAX_BYTES ||
	    (l.batch_entries == 0 && l.batch_bytes > 0))
		return CN_ERR_INVAL;
	s = calloc(1, sizeof *s);
	if (s == NULL)
		return CN_ERR_NOMEM;
	s->r = r;
	s->lim = l;
	replica_info(r, &s->info);
	vv_init(&s->local);
	vv_init(&s->peer);
	vv_init(&s->sent);
	vv_init(&s->have);
	vv_init(&s->borigins);
	vv_init(&s->todo);
	cbw_init_grow(&s->body);
	*out = s;
	return 0;
}

static int flush(struct sync_session *s);
static void bulk_end(struct sync_session *s);

void sync_close(struct sync_session *s)
{
	if (s == NULL)
		return;
	if (s->err == 0)
		(void)flush(s);
	bulk_end(s);
	free(s->hello);
	vv_free(&s->local);
	vv_free(&s->peer);
	vv_free(&s->sent);
	vv_free(&s->have);
	dset_free(&s->peer_certs);
	dset_free(&s->peer_revs);
	blobq_free(&s->ocerts);
	blobq_free(&s->orevs);
	cbw_free(&s->body);
	free(s->mptr);
	free(s->mlen);
	entbuf_free(&s->tail);
	free(s->ptrs);
	free(s->lens);
	entbuf_free(&s->batch);
	vv_free(&s->borigins);
	vv_free(&s->todo);
	free(s);
}

/* ---- the shared view ------------------------------------------------------- */

#define CACHE_SLOTS 8192        /* ENTRIES kept per view generation */
#define CACHE_MSG_MAX (64u << 10) /* larger ones (a bootstrap) are not kept */
#define CACHE_BYTES_MAX (8u << 20) /* all of them together */

struct vblob {
	uint8_t d[CN_KEY_LEN];
	uint8_t *p;
	size_t len;
};

struct vblobs {
	struct vblob *b;
	size_t n, cap;
};

/* One ENTRIES made for some session, for the others that need the same. */
struct cached {
	uint8_t origin[CN_KEY_LEN];
	uint64_t from, to;
	size_t max_n, max_bytes;
	uint8_t *msg;
	size_t len, n;
	bool open;               /* cut before a signature */
};

struct sync_view {
	struct replica *r;
	uint64_t gen, auth_gen;
	struct vv vv;            /* the replica's, as of the last refresh */
	struct vv changed;       /* origins whose head rose at that refresh */
	size_t ncerts, nrevs;
	struct vblobs certs, revs;
	struct cached *cache;    /* CACHE_SLOTS, open addressing; msg NULL: free */
	size_t ncached, cached_bytes;
};

static void vblobs_clear(struct vblobs *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->b[i].p);
	v->n = 0;
}

static int vblob_cb(void *ctx, const uint8_t *buf, size_t len)
{
	struct vblobs *v = ctx;
	struct vblob *nb;

	if (len == 0 || len > BLOB_MAX)
		return CN_ERR_STORE;
	if ((nb = util_grow(v->b, &v->cap, v->n + 1, sizeof *nb)) == NULL)
		return CN_ERR_NOMEM;
	v->b = nb;
	if ((nb[v->n].p = malloc(len)) == NULL)
		return CN_ERR_NOMEM;
	memcpy(nb[v->n].p, buf, len);
	nb[v->n].len = len;
	digest(buf, len, nb[v->n].d);
	v->n++;
	return 0;
}

static void cache_clear(struct sync_view *v)
{
	if (v->ncached == 0)
		return;
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		free(v->cache[i].msg);
		v->cache[i].msg = NULL;
	}
	v->ncached = v->cached_bytes = 0;
}

static size_t cache_slot(const uint8_t origin[static CN_KEY_LEN], uint64_t from)
{
	uint64_t h;

	memcpy(&h, origin, sizeof h);
	h ^= from * 0x9e3779b97f4a7c15ull;
	return (size_t)(h % CACHE_SLOTS);
}

/* The slot holding (origin, from, to, bounds), or the free slot where it
 * would go (msg NULL), or NULL when the table is full. */
static struct cached *cache_find(struct sync_view *v, const uint8_t origin[static CN_KEY_LEN],
				 uint64_t from, uint64_t to, size_t max_n, size_t max_bytes)
{
	size_t i = cache_slot(origin, from);

	for (size_t k = 0; k < CACHE_SLOTS; k++, i = (i + 1) % CACHE_SLOTS) {
		struct cached *c = &v->cache[i];
		if (c->msg == NULL)
			return v->ncached < CACHE_SLOTS / 2 ? c : NULL;
		if (c->from == from && c->to == to && c->max_n == max_n &&
		    c->max_bytes == max_bytes && memcmp(c->origin, origin, CN_KEY_LEN) == 0)
			return c;
	}
	return NULL;
}

int sync_view_new(struct sync_view **out, struct replica *r)
{
	struct sync_view *v;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || r == NULL)
		return CN_ERR_INVAL;
	if ((v = calloc(1, sizeof *v)) == NULL)
		return CN_ERR_NOMEM;
	if ((v->cache = calloc(CACHE_SLOTS, sizeof *v->cache)) == NULL) {
		free(v);
		return CN_ERR_NOMEM;
	}
	v->r = r;
	v->ncerts = v->nrevs = SIZE_MAX;
	vv_init(&v->vv);
	vv_init(&v->changed);
	if ((rc = sync_view_refresh(v)) != 0) {
		sync_view_free(v);
		return rc;
	}
	*out = v;
	return 0;
}

void sync_view_free(struct sync_view *v)
{
	if (v == NULL)
		return;
	cache_clear(v);
	free(v->cache);
	vv_free(&v->vv);
	vv_free(&v->changed);
	vblobs_clear(&v->certs);
	vblobs_clear(&v->revs);
	free(v->certs.b);
	free(v->revs.b);
	free(v);
}

int sync_view_refresh(struct sync_view *v)
{
	struct vv nv;
	size_t nc = 0, nr = 0;
	int rc;

	if (v == NULL)
		return CN_ERR_INVAL;
	vv_init(&nv);
	if ((rc = vv_from_replica(&nv, v->r)) != 0) {
		vv_free(&nv);
		return rc;
	}
	/* What rose: both vectors are sorted by origin. */
	v->changed.n = 0;
	for (size_t i = 0, j = 0; i < nv.n; i++) {
		int cmp = 1;
		while (j < v->vv.n &&
		       (cmp = memcmp(v->vv.v[j].origin, nv.v[i].origin, CN_KEY_LEN)) < 0)
			j++;
		if (j < v->vv.n && cmp == 0 && v->vv.v[j].seq >= nv.v[i].seq)
			continue;
		if ((rc = vv_set(&v->changed, nv.v[i].origin, nv.v[i].seq)) != 0) {
			vv_free(&nv);
			return rc;
		}
	}
	vv_free(&v->vv);
	v->vv = nv;
	cache_clear(v);
	v->gen++;
	/* Certificates and revocations are only ever added: read them again
	 * only when their number changed. */
	if ((rc = replica_blob_counts(v->r, &nc, &nr)) != 0)
		return rc;
	if (nc != v->ncerts || nr != v->nrevs) {
		vblobs_clear(&v->certs);
		vblobs_clear(&v->revs);
		v->ncerts = v->nrevs = SIZE_MAX;
		if ((rc = replica_certs_walk(v->r, vblob_cb, &v->certs)) != 0 ||
		    (rc = replica_revocations_walk(v->r, vblob_cb, &v->revs)) != 0)
			return rc;
		v->ncerts = nc;
		v->nrevs = nr;
		v->auth_gen++;
	}
	return 0;
}

int sync_set_view(struct sync_session *s, struct sync_view *v)
{
	if (s == NULL || v == NULL || v->r != s->r || s->started)
		return CN_ERR_INVAL;
	s->view = v;
	return 0;
}

/* ---- reading the replica --------------------------------------------------- */

static int own_digest_cb(void *ctx, const uint8_t *buf, size_t len)
{
	uint8_t k[CN_KEY_LEN];

	digest(buf, len, k);
	return dset_add(ctx, k);
}

struct lack {
	struct dset *peer;
	struct blobq *q;
};

/* Queue every blob whose digest the peer does not hold. */
static int lack_cb(void *ctx, const uint8_t *buf, size_t len)
{
	struct lack *l = ctx;
	uint8_t k[CN_KEY_LEN];
	int rc;

	if (len == 0 || len > BLOB_MAX)
		return CN_ERR_STORE;
	digest(buf, len, k);
	if (dset_has(l->peer, k))
		return 0;
	if ((rc = dset_add(l->peer, k)) != 0)
		return rc;
	return blobq_add(l->q, buf, len);
}

/* Re-read the replica's vector, and queue the certificates and revocations
 * the peer lacks. */
static int vv_copy(struct vv *dst, const struct vv *src)
{
	struct vv_item *nv;

	dst->n = 0;
	if (src->n == 0)
		return 0;
	if ((nv = util_grow(dst->v, &dst->cap, src->n, sizeof *nv)) == NULL)
		return CN_ERR_NOMEM;
	dst->v = nv;
	memcpy(nv, src->v, src->n * sizeof *nv);
	dst->n = src->n;
	return 0;
}

/* After a new look at the replica: a waiting run the replica now holds
 * in full (another session brought it, and the peer, told so, will not
 * finish it) goes; certificates all sent are forgotten. */
static void tail_drop_held(struct sync_session *s)
{
	if (s->tail.n > 0 &&
	    vv_get(&s->local, s->tail_origin) >= s->tail_first + s->tail.n - 1) {
		s->st.entries_dropped += s->tail.n;
		tail_clear(s);
	}
	blobq_compact(&s->ocerts);
	blobq_compact(&s->orevs);
}

/* Queue the view's blobs whose digest the peer does not hold. */
static int lack_view(struct dset *peer, struct blobq *q, const struct vblobs *b)
{
	int rc;

	for (size_t i = 0; i < b->n; i++) {
		if (dset_has(peer, b->b[i].d))
			continue;
		if ((rc = dset_add(peer, b->b[i].d)) != 0 ||
		    (rc = blobq_add(q, b->b[i].p, b->b[i].len)) != 0)
			return rc;
	}
	dset_sort(peer);
	return 0;
}

/* refresh() from the shared view: a copy of its vector (and, when only
 * what rose since the view's previous generation can be due, just those
 * origins to look at), and the certificate check only when the view's
 * certificates changed. */
static int refresh_view(struct sync_session *s)
{
	struct sync_view *v = s->view;
	bool inc = s->scan_done && !s->run_open && s->view_gen != 0 &&
		   s->view_gen + 1 == v->gen;
	int rc;

	s->todo.n = 0;
	if (vv_copy(&s->local, &v->vv) != 0 ||
	    (inc && vv_copy(&s->todo, &v->changed) != 0))
		return fail(s, CN_ERR_NOMEM, "out of memory");
	s->incremental = inc;
	s->tpos = 0;
	s->scan = 0;
	s->scan_done = false;
	s->view_gen = v->gen;
	tail_drop_held(s);
	if (s->auth_gen != v->auth_gen) {
		if ((rc = lack_view(&s->peer_certs, &s->ocerts, &v->certs)) != 0 ||
		    (rc = lack_view(&s->peer_revs, &s->orevs, &v->revs)) != 0)
			return fail(s, rc, "out of memory");
		s->auth_gen = v->auth_gen;
	}
	s->dirty = false;
	return 0;
}

static int refresh(struct sync_session *s)
{
	struct lack lc = {&s->peer_certs, &s->ocerts};
	struct lack lr = {&s->peer_revs, &s->orevs};
	struct vv nv;
	int rc;

	if (s->view != NULL)
		return refresh_view(s);
	vv_init(&nv);
	rc = vv_from_replica(&nv, s->r);
	if (rc != 0) {
		vv_free(&nv);
		return fail(s, rc, "reading the replica's version vector failed: %s",
			    cn_strerror(rc));
	}
	vv_free(&s->local);
	s->local = nv;
	s->scan = 0;
	tail_drop_held(s);
	rc = replica_certs_walk(s->r, lack_cb, &lc);
	dset_sort(&s->peer_certs);
	if (rc == 0) {
		rc = replica_revocations_walk(s->r, lack_cb, &lr);
		dset_sort(&s->peer_revs);
	}
	if (rc != 0)
		return fail(s, rc, "reading the replica's certificates failed: %s",
			    cn_strerror(rc));
	s->dirty = false;
	return 0;
}

/* ---- making messages ------------------------------------------------------- */

/* Hand the encoded message to the caller. */
static int out_take(struct sync_session *s, struct cbor_wr *w, uint8_t **msg,
		    size_t *len)
{
	int err = w->err;
	uint8_t *p = cbw_take(w, len);

	if (p == NULL)
		return fail(s, err != 0 ? err : CN_ERR_NOMEM,
			    "encoding a message failed: %s",
			    cn_strerror(err != 0 ? err : CN_ERR_NOMEM));
	if (*len > s->lim.max_msg) {
		free(p);
		*len = 0;
		return fail(s, CN_ERR_TOOBIG, "a message would exceed %zu bytes",
			    s->lim.max_msg);
	}
	*msg = p;
	s->st.msgs_sent++;
	s->st.bytes_sent += *len;
	return 0;
}

int sync_start(struct sync_session *s)
{
	struct dset certs, revs;
	struct cbor_wr w;
	size_t len;
	int rc;

	if (s == NULL)
		return CN_ERR_INVAL;
	if (s->err != 0)
		return s->err;
	if (s->started)
		return CN_ERR_INVAL;
	memset(&certs, 0, sizeof certs);
	memset(&revs, 0, sizeof revs);
	rc = vv_from_replica(&s->local, s->r);
	if (rc != 0)
		return fail(s, rc, "reading the replica's version vector failed: %s",
			    cn_strerror(rc));
	rc = replica_certs_walk(s->r, own_digest_cb, &certs);
	if (rc == 0)
		rc = replica_revocations_walk(s->r, own_digest_cb, &revs);
	if (rc != 0) {
		dset_free(&certs);
		dset_free(&revs);
		return fail(s, rc, "reading the replica's certificates failed: %s",
			    cn_strerror(rc));
	}
	dset_sort(&certs);
	dset_sort(&revs);
	cbw_init_grow(&w);
	cbw_array(&w, 6);
	cbw_uint(&w, SYNC_HELLO);
	cbw_bstr(&w, s->info.node, CN_KEY_LEN);
	cbw_bstr(&w, s->info.instance, INSTANCE_LEN);
	cbw_map(&w, s->local.n);
	for (size_t i = 0; i < s->local.n; i++) {
		cbw_bstr(&w, s->local.v[i].origin, CN_KEY_LEN);
		cbw_uint(&w, s->local.v[i].seq);
	}
	cbw_array(&w, certs.n);
	for (size_t i = 0; i < certs.n; i++)
		cbw_bstr(&w, certs.d[i], CN_KEY_LEN);
	cbw_array(&w, revs.n);
	for (size_t i = 0; i < revs.n; i++)
		cbw_bstr(&w, revs.d[i], CN_KEY_LEN);
	dset_free(&certs);
	dset_free(&revs);
	rc = w.err;
	s->hello = cbw_take(&w, &len);
	if (s->hello == NULL)
		return fail(s, rc != 0 ? rc : CN_ERR_NOMEM, "encoding HELLO failed");
	s->hello_len = len;
	if (len > s->lim.max_msg)
		return fail(s, CN_ERR_TOOBIG,
			    "HELLO would be %zu bytes, more than %zu (%zu origins)",
			    len, s->lim.max_msg, s->local.n);
	s->started = true;
	s->scan = 0;
	return 0;
}

static int make_nonce(struct sync_session *s, uint64_t type, uint64_t *q,
		      size_t *n, uint8_t **msg, size_t *len)
{
	struct cbor_wr w;
	uint64_t nonce = q[0];

	memmove(q, q + 1, (*n - 1) * sizeof *q);
	(*n)--;
	cbw_init_grow(&w);
	cbw_array(&w, 2);
	cbw_uint(&w, type);
	cbw_uint(&w, nonce);
	if (type == SYNC_PING) {
		s->pings_out++;
		s->st.pings_sent++;
	}
	return out_take(s, &w, msg, len);
}

/* HAVE with the current heads of the origins committed since the last
 * one (those with nothing stored are left out; maybe nothing is due). */
static int make_have(struct sync_session *s, uint8_t **msg, size_t *len)
{
	size_t k = s->have.n, cnt = 0;
	size_t most = (s->lim.max_msg - HAVE_HEAD_MAX) / VV_ITEM_MAX;
	struct cbor_wr w;

	if (k > most)
		k = most;
	for (size_t i = 0; i < k; i++) {
		s->have.v[i].seq = replica_head(s->r, s->have.v[i].origin);
		if (s->have.v[i].seq > 0)
			cnt++;
	}
	cbw_init_grow(&w);
	cbw_array(&w, 2);
	cbw_uint(&w, SYNC_HAVE);
	cbw_map(&w, cnt);
	for (size_t i = 0; i < k; i++) {
		if (s->have.v[i].seq == 0)
			continue;
		cbw_bstr(&w, s->have.v[i].origin, CN_KEY_LEN);
		cbw_uint(&w, s->have.v[i].seq);
	}
	memmove(s->have.v, s->have.v + k, (s->have.n - k) * sizeof *s->have.v);
	s->have.n -= k;
	if (cnt == 0) {
		cbw_free(&w);
		return 0;
	}
	s->st.haves_sent++;
	return out_take(s, &w, msg, len);
}

/* How many of q's blobs from pos on fit in `budget` bytes (*used). */
static size_t blobs_fit(const struct blobq *q, size_t budget, size_t *used)
{
	size_t k = 0;

	while (q->pos + k < q->n && k < SYNC_BLOBS_MAX) {
		size_t sz = head_len(q->b[q->pos + k].len) + q->b[q->pos + k].len;

		if (*used + sz > budget)
			break;
		*used += sz;
		k++;
	}
	return k;
}

static int make_certs(struct sync_session *s, uint8_t **msg, size_t *len)
{
	size_t budget = s->lim.max_msg - CERTS_HEAD_MAX, used = 0, nc, nr = 0;
	struct cbor_wr w;

	nc = blobs_fit(&s->ocerts, budget, &used);
	if (s->ocerts.pos + nc == s->ocerts.n)
		nr = blobs_fit(&s->orevs, budget, &used);
	if (nc + nr == 0)
		return fail(s, CN_ERR_TOOBIG, "a certificate does not fit a message");
	cbw_init_grow(&w);
	cbw_array(&w, 3);
	cbw_uint(&w, SYNC_CERTS);
	cbw_array(&w, nc);
	for (size_t i = 0; i < nc; i++, s->ocerts.pos++)
		cbw_bstr(&w, s->ocerts.b[s->ocerts.pos].p,
			 s->ocerts.b[s->ocerts.pos].len);
	cbw_array(&w, nr);
	for (size_t i = 0; i < nr; i++, s->orevs.pos++)
		cbw_bstr(&w, s->orevs.b[s->orevs.pos].p,
			 s->orevs.b[s->orevs.pos].len);
	s->st.certs_sent += nc;
	s->st.revocations_sent += nr;
	blobq_compact(&s->ocerts);
	blobq_compact(&s->orevs);
	return out_take(s, &w, msg, len);
}

struct chunk {
	struct cbor_wr *body;
	uint64_t next;
	size_t n, bytes, max_n, max_bytes;
	size_t sig_n, sig_bytes;  /* up to and including the last signed one */
};

static int chunk_cb(void *ctx, uint64_t seq, const uint8_t *wire, size_t len)
{
	struct chunk *c = ctx;
	const uint8_t *payload, *sig;
	size_t plen, used;
	const char *why;

	if (seq != c->next)
		return CN_ERR_STORE;
	if (c->n >= c->max_n || c->bytes + len > c->max_bytes)
		return WALK_STOP;
	if (len > CN_ENTRY_MAX ||
	    entry_wire_decode(wire, len, &payload, &plen, &sig, &used, &why) != 0 ||
	    used != len)
		return CN_ERR_STORE;
	cbw_raw(c->body, wire, len);
	if (c->body->err != 0)
		return c->body->err;
	c->n++;
	c->bytes += len;
	c->next++;
	if (sig != NULL) {
		c->sig_n = c->n;
		c->sig_bytes = c->bytes;
	}
	return 0;
}

/* One ENTRIES of `origin` from seq `from` (≤ to, our head). */
static int make_chunk(struct sync_session *s, const uint8_t origin_in[static CN_KEY_LEN],
		      uint64_t from, uint64_t to, uint8_t **msg, size_t *len)
{
	uint8_t origin[CN_KEY_LEN], hb[ENTRIES_HEAD_MAX];
	struct chunk c;
	struct cbor_wr h;
	char hex[17];
	uint8_t *buf;
	int rc;

	memcpy(origin, origin_in, CN_KEY_LEN);
	if (s->view != NULL) {
		struct cached *ce = cache_find(s->view, origin, from, to,
					       s->lim.max_entries, s->lim.max_msg);
		if (ce != NULL && ce->msg != NULL) {
			/* The same ENTRIES another session sent. */
			if ((buf = malloc(ce->len)) == NULL)
				return fail(s, CN_ERR_NOMEM, "out of memory");
			memcpy(buf, ce->msg, ce->len);
			s->run_open = ce->open;
			if (s->run_open)
				memcpy(s->run_origin, origin, CN_KEY_LEN);
			if ((rc = vv_set(&s->sent, origin, from + ce->n - 1)) != 0) {
				free(buf);
				return fail(s, rc, "out of memory");
			}
			*msg = buf;
			*len = ce->len;
			s->st.msgs_sent++;
			s->st.bytes_sent += *len;
			s->st.entries_sent += ce->n;
			return 0;
		}
	}
	memset(&c, 0, sizeof c);
	s->body.len = 0;
	c.body = &s->body;
	c.next = from;
	c.max_n = s->lim.max_entries;
	c.max_bytes = s->lim.max_msg - ENTRIES_HEAD_MAX;
	rc = replica_log_walk(s->r, origin, from, to, chunk_cb, &c);
	if (rc != 0 && rc != WALK_STOP)
		return fail(s, rc, "reading the log of origin %s… from seq %" PRIu64 " failed: %s",
			    util_short_hex(origin, hex), from, cn_strerror(rc));
	if (c.n == 0)
		return fail(s, CN_ERR_STORE,
			    "the log of origin %s… lacks seq %" PRIu64 " (head %" PRIu64 ")",
			    util_short_hex(origin, hex), from, to);
	/* End at the last signature that fits; cut unsigned only when none
	 * does, and then go on with this origin next. */
	if (c.sig_n > 0 && c.sig_n < c.n) {
		c.n = c.sig_n;
		c.bytes = c.sig_bytes;
	}
	s->run_open = c.sig_n != c.n;
	if (s->run_open)
		memcpy(s->run_origin, origin, CN_KEY_LEN);
	if ((rc = vv_set(&s->sent, origin, from + c.n - 1)) != 0)
		return fail(s, rc, "out of memory");
	cbw_init_fixed(&h, hb, sizeof hb);
	cbw_array(&h, 4);
	cbw_uint(&h, SYNC_ENTRIES);
	cbw_bstr(&h, origin, CN_KEY_LEN);
	cbw_uint(&h, from);
	cbw_array(&h, c.n);
	if (h.err != 0)
		return fail(s, h.err, "encoding ENTRIES failed");
	*len = h.len + c.bytes;
	buf = malloc(*len);
	if (buf == NULL) {
		*len = 0;
		return fail(s, CN_ERR_NOMEM, "out of memory");
	}
	memcpy(buf, hb, h.len);
	memcpy(buf + h.len, s->body.buf, c.bytes);
	if (s->view != NULL && *len <= CACHE_MSG_MAX &&
	    s->view->cached_bytes + *len <= CACHE_BYTES_MAX) {
		struct cached *ce = cache_find(s->view, origin, from, to,
					       s->lim.max_entries, s->lim.max_msg);
		if (ce != NULL && ce->msg == NULL && (ce->msg = malloc(*len)) != NULL) {
			memcpy(ce->msg, buf, *len);
			memcpy(ce->origin, origin, CN_KEY_LEN);
			ce->from = from;
			ce->to = to;
			ce->max_n = s->lim.max_entries;
			ce->max_bytes = s->lim.max_msg;
			ce->len = *len;
			ce->n = c.n;
			ce->open = s->run_open;
			s->view->ncached++;
			s->view->cached_bytes += *len;
		}
	}
	*msg = buf;
	s->st.msgs_sent++;
	s->st.bytes_sent += *len;
	s->st.entries_sent += c.n;
	return 0;
}

static int make_entries(struct sync_session *s, uint8_t **msg, size_t *len)
{
	for (;;) {
		const uint8_t *origin;
		uint64_t head, p, t;

		if (s->run_open) {
			origin = s->run_origin;
			head = vv_get(&s->local, origin);
		} else if (s->incremental && s->tpos < s->todo.n) {
			origin = s->todo.v[s->tpos].origin;
			head = vv_get(&s->local, origin);
		} else if (!s->incremental && s->scan < s->local.n) {
			origin = s->local.v[s->scan].origin;
			head = s->local.v[s->scan].seq;
		} else {
			s->scan_done = true;
			return 0;
		}
		p = vv_get(&s->peer, origin);
		t = vv_get(&s->sent, origin);
		if (t > p)
			p = t;
		if (head > p)
			return make_chunk(s, origin, p + 1, head, msg, len);
		if (s->run_open)
			s->run_open = false;
		else if (s->incremental)
			s->tpos++;
		else
			s->scan++;
	}
}

int sync_next(struct sync_session *s, uint8_t **msg, size_t *len)
{
	int rc;

	if (msg != NULL)
		*msg = NULL;
	if (len != NULL)
		*len = 0;
	if (s == NULL || msg == NULL || len == NULL)
		return CN_ERR_INVAL;
	if (s->err != 0)
		return s->err;
	if (!s->started)
		return 0;
	if (s->hello != NULL) {
		*msg = s->hello;
		*len = s->hello_len;
		s->hello = NULL;
		s->st.hello_sent = true;
		s->st.msgs_sent++;
		s->st.bytes_sent += *len;
		return 0;
	}
	if (s->npings > 0)
		return make_nonce(s, SYNC_PING, s->pings, &s->npings, msg, len);
	if (!s->hello_recv)
		return 0;
	if (s->npongs > 0)
		return make_nonce(s, SYNC_PONG, s->pongs, &s->npongs, msg, len);
	if (s->batch.n > 0 && (rc = flush(s)) != 0)
		return rc;
	while (s->have.n > 0) {
		if ((rc = make_have(s, msg, len)) != 0 || *msg != NULL)
			return rc;
	}
	if (s->dirty && (rc = refresh(s)) != 0)
		return rc;
	if (s->ocerts.pos < s->ocerts.n || s->orevs.pos < s->orevs.n)
		return make_certs(s, msg, len);
	return make_entries(s, msg, len);
}

int sync_local_changed(struct sync_session *s)
{
	if (s == NULL)
		return CN_ERR_INVAL;
	if (s->err != 0)
		return s->err;
	s->dirty = true;
	return 0;
}

int sync_ping(struct sync_session *s, uint64_t nonce)
{
	if (s == NULL)
		return CN_ERR_INVAL;
	if (s->err != 0)
		return s->err;
	if (!s->started || s->npings == SYNC_PONGS_MAX)
		return CN_ERR_INVAL;
	s->pings[s->npings++] = nonce;
	return 0;
}

/* ---- receiving ------------------------------------------------------------- */

/* [bstr32 …] strictly ascending into d (empty on entry). */
static int read_digests(struct cbor_rd *c, struct dset *d)
{
	size_t n;
	int rc;

	if ((rc = cbr_array(c, &n, SYNC_DIGESTS_MAX)) != 0)
		return rc;
	d->d = malloc((n ? n : 1) * CN_KEY_LEN);
	if (d->d == NULL)
		return CN_ERR_NOMEM;
	d->cap = n;
	for (size_t i = 0; i < n; i++) {
		if ((rc = cbr_bstr_fixed(c, d->d[i], CN_KEY_LEN)) != 0)
			return rc;
		if (i > 0 && memcmp(d->d[i - 1], d->d[i], CN_KEY_LEN) >= 0) {
			c->why = "digests are not in ascending order";
			return CN_ERR_MALFORMED;
		}
		d->n = i + 1;
	}
	d->sorted = d->n;
	return 0;
}

/* {bstr32: uint ≥ 1 …} with strictly ascending origins.  With `out`, the
 * items are stored there (empty on entry); without, only checked. */
static int read_vv(struct cbor_rd *c, struct vv *out, size_t *count)
{
	uint8_t prev[CN_KEY_LEN], origin[CN_KEY_LEN];
	uint64_t seq;
	size_t n;
	int rc;

	if ((rc = cbr_map(c, &n, SYNC_ORIGINS_MAX)) != 0)
		return rc;
	if (out != NULL) {
		out->v = malloc((n ? n : 1) * sizeof *out->v);
		if (out->v == NULL)
			return CN_ERR_NOMEM;
		out->cap = n;
	}
	for (size_t i = 0; i < n; i++) {
		if ((rc = cbr_bstr_fixed(c, origin, CN_KEY_LEN)) != 0 ||
		    (rc = cbr_uint(c, &seq)) != 0)
			return rc;
		if (seq == 0) {
			c->why = "an origin at seq 0";
			return CN_ERR_MALFORMED;
		}
		if (i > 0 && memcmp(prev, origin, CN_KEY_LEN) >= 0) {
			c->why = "origins are not in ascending order";
			return CN_ERR_MALFORMED;
		}
		memcpy(prev, origin, CN_KEY_LEN);
		if (out != NULL) {
			memcpy(out->v[i].origin, origin, CN_KEY_LEN);
			out->v[i].seq = seq;
			out->n = i + 1;
		}
	}
	*count = n;
	return 0;
}

static int recv_hello(struct sync_session *s, struct cbor_rd *c)
{
	uint8_t node[CN_KEY_LEN], inst[INSTANCE_LEN];
	struct dset pc, pr;
	struct vv pv;
	size_t nv;
	int rc;

	if (s->hello_recv)
		return fail(s, CN_ERR_MALFORMED, "the peer sent a second HELLO");
	memset(&pc, 0, sizeof pc);
	memset(&pr, 0, sizeof pr);
	vv_init(&pv);
	if ((rc = cbr_bstr_fixed(c, node, CN_KEY_LEN)) != 0 ||
	    (rc = cbr_bstr_fixed(c, inst, INSTANCE_LEN)) != 0 ||
	    (rc = read_vv(c, &pv, &nv)) != 0 ||
	    (rc = read_digests(c, &pc)) != 0 ||
	    (rc = read_digests(c, &pr)) != 0)
		goto refuse;
	if (c->p != c->end) {
		c->why = "bytes after the message";
		rc = CN_ERR_MALFORMED;
		goto refuse;
	}
	vv_free(&s->peer);
	s->peer = pv;
	dset_free(&s->peer_certs);
	dset_free(&s->peer_revs);
	s->peer_certs = pc;
	s->peer_revs = pr;
	s->hello_recv = true;
	s->dirty = true;
	s->st.hello_received = true;
	memcpy(s->st.peer_node, node, CN_KEY_LEN);
	memcpy(s->st.peer_instance, inst, INSTANCE_LEN);
	return 0;
refuse:
	vv_free(&pv);
	dset_free(&pc);
	dset_free(&pr);
	if (rc == CN_ERR_NOMEM)
		return fail(s, rc, "out of memory");
	return bad(s, rc, c, "HELLO");
}

/* The certificates (revocations) of a CERTS: check every one (pass 1), or
 * install them and note that the peer holds them (pass 2). */
static int certs_pass(struct sync_session *s, struct cbor_rd *c, bool certs,
		      bool install, size_t *count)
{
	const char *kind = certs ? "certificate" : "revocation";
	size_t n;
	int rc;

	if ((rc = cbr_array(c, &n, SYNC_BLOBS_MAX)) != 0)
		return bad(s, rc, c, "CERTS");
	*count += n;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p;
		const char *why = NULL;
		size_t len;
		uint8_t k[CN_KEY_LEN];

		if ((rc = cbr_bstr(c, &p, &len, BLOB_MAX)) != 0)
			return bad(s, rc, c, "CERTS");
		if (!install) {
			struct cert ce;
			struct revocation rv;

			rc = certs ? authority_cert_open(p, len, s->info.root_pub, &ce, &why)
				   : authority_revocation_open(p, len, s->info.root_pub, &rv, &why);
			if (rc != 0)
				return fail(s, rc, "%s %zu of CERTS is refused: %s", kind,
					    i + 1, why != NULL ? why : cn_strerror(rc));
			continue;
		}
		rc = certs ? replica_cert_install(s->r, p, len, &why)
			   : replica_revocation_install(s->r, p, len, &why);
		if (rc == 0)
			(*(certs ? &s->st.certs_new : &s->st.revocations_new))++;
		else if (rc != CN_ERR_EXISTS)
			return fail(s, rc, "installing %s %zu of CERTS failed: %s",
				    kind, i + 1, why != NULL ? why : cn_strerror(rc));
		digest(p, len, k);
		if ((rc = dset_add(certs ? &s->peer_certs : &s->peer_revs, k)) != 0)
			return fail(s, rc, "out of memory");
	}
	return 0;
}

static int recv_certs(struct sync_session *s, struct cbor_rd *c)
{
	struct cbor_rd start = *c;
	size_t n = 0;
	int rc;

	/* Every certificate and revocation must open before any is installed. */
	if ((rc = certs_pass(s, c, true, false, &n)) != 0 ||
	    (rc = certs_pass(s, c, false, false, &n)) != 0)
		return rc;
	if (c->p != c->end)
		return fail(s, CN_ERR_MALFORMED, "CERTS is malformed: bytes after the message");
	if (n == 0)
		return fail(s, CN_ERR_MALFORMED, "an empty CERTS");
	*c = start;
	if ((rc = certs_pass(s, c, true, true, &n)) != 0 ||
	    (rc = certs_pass(s, c, false, true, &n)) != 0)
		return rc;
	dset_sort(&s->peer_certs);
	dset_sort(&s->peer_revs);
	return 0;
}

/* End a bulk bootstrap this session started: build the tables. */
static void bulk_end(struct sync_session *s)
{
	struct ingest_report ir;
	uint64_t t0;
	int rc;

	if (!s->bulk_on)
		return;
	s->bulk_on = false;
	s->st.bulk = false;
	memset(&ir, 0, sizeof ir);
	t0 = util_now_ms();
	rc = replica_bulk_end(s->r, &ir);
	s->st.bulk_build_ms = util_now_ms() - t0;
	if (rc == 0) {
		s->st.ingest.applied += ir.applied;
		s->st.ingest.refused += ir.refused;
	} else if (s->err == 0) {
		fail(s, rc, "building the tables after a bulk bootstrap failed: %s",
		     cn_strerror(rc));
	}
}

/* A bootstrap is over once the replica holds everything the peer said
 * it holds, or once a commit left entries unstored (those would keep it
 * from ever catching up). */
static void bulk_check(struct sync_session *s, const struct ingest_report *ir)
{
	if (ir->gap + ir->unverified + ir->malformed + ir->forked + ir->held == 0) {
		if (s->tail.n > 0)
			return;
		for (size_t i = 0; i < s->peer.n; i++)
			if (replica_head(s->r, s->peer.v[i].origin) < s->peer.v[i].seq)
				return;
	}
	bulk_end(s);
}

/* The batch as the arrays replica_ingest() takes (s->ptrs, s->lens). */
static int batch_prepare(struct sync_session *s)
{
	const uint8_t **pp = util_grow(s->ptrs, &s->pcap, s->batch.n, sizeof *pp);
	size_t *ll;

	if (pp == NULL)
		return fail(s, CN_ERR_NOMEM, "out of memory");
	s->ptrs = pp;
	ll = util_grow(s->lens, &s->lcap, s->batch.n, sizeof *ll);
	if (ll == NULL)
		return fail(s, CN_ERR_NOMEM, "out of memory");
	s->lens = ll;
	for (size_t i = 0; i < s->batch.n; i++) {
		s->ptrs[i] = s->batch.buf + s->batch.off[i];
		s->lens[i] = s->batch.lens[i];
	}
	return 0;
}

/* After the batch's commit: count it, queue the HAVE, maybe end a bulk
 * bootstrap. */
static int batch_done(struct sync_session *s, int rc, const struct ingest_report *ir)
{
	if (rc != 0)
		return fail(s, rc, "storing %zu entries failed: %s%s%s", s->batch.n,
			    cn_strerror(rc), ir->problem[0] ? ": " : "", ir->problem);
	replica_report_add(&s->st.ingest, ir);
	s->st.commits++;
	if (s->bulk_on)
		s->st.bulk_entries += s->batch.n;
	for (size_t i = 0; i < s->borigins.n; i++)
		if ((rc = vv_set(&s->have, s->borigins.v[i].origin, 0)) != 0)
			return fail(s, rc, "out of memory");
	s->batch.n = s->batch.len = 0;
	s->borigins.n = 0;
	if (s->bulk_on)
		bulk_check(s, ir);
	return s->err;
}

/* Commit the batch in one replica_ingest() call; the HAVE follows. */
static int flush(struct sync_session *s)
{
	struct ingest_report ir;
	int rc;

	if (s->err != 0)
		return s->err;
	if (s->batch.n == 0)
		return 0;
	if ((rc = batch_prepare(s)) != 0)
		return rc;
	memset(&ir, 0, sizeof ir);
	rc = replica_ingest(s->r, s->ptrs, s->lens, s->batch.n, &ir);
	return batch_done(s, rc, &ir);
}

int sync_flush(struct sync_session *s)
{
	if (s == NULL)
		return CN_ERR_INVAL;
	return flush(s);
}

int sync_flush_group(struct sync_session *const *ss, size_t n)
{
	struct replica_batch *b;
	struct sync_session **who;
	size_t k = 0;
	int rc;

	if (n == 0)
		return 0;
	if (ss == NULL)
		return CN_ERR_INVAL;
	for (size_t i = 0; i < n; i++)
		if (ss[i] == NULL || ss[i]->r != ss[0]->r)
			return CN_ERR_INVAL;
	b = calloc(n, sizeof *b);
	who = calloc(n, sizeof *who);
	if (b == NULL || who == NULL) {
		free(b);
		free(who);
		for (size_t i = 0; i < n; i++)
			if (ss[i]->err == 0 && ss[i]->batch.n > 0)
				fail(ss[i], CN_ERR_NOMEM, "out of memory");
		return CN_ERR_NOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct sync_session *s = ss[i];
		if (s->err != 0 || s->batch.n == 0 || batch_prepare(s) != 0)
			continue;
		b[k].ents = s->ptrs;
		b[k].lens = s->lens;
		b[k].n = s->batch.n;
		b[k].rep = calloc(1, sizeof *b[k].rep);
		if (b[k].rep == NULL) {
			fail(s, CN_ERR_NOMEM, "out of memory");
			continue;
		}
		who[k++] = s;
	}
	rc = k > 0 ? replica_ingest_batches(ss[0]->r, b, k) : 0;
	for (size_t i = 0; i < k; i++) {
		(void)batch_done(who[i], rc, b[i].rep);
		free(b[i].rep);
	}
	free(b);
	free(who);
	return rc;
}

static int recv_entries(struct sync_session *s, struct cbor_rd *c)
{
	uint8_t origin[CN_KEY_LEN];
	uint64_t first, last;
	size_t n, bytes = 0, keep_n;
	size_t nsig = 0;   /* entries up to and including the last signed one */
	struct entry e;
	bool cont;
	char hex[17];
	int rc;

	if ((rc = cbr_bstr_fixed(c, origin, CN_KEY_LEN)) != 0 ||
	    (rc = cbr_uint(c, &first)) != 0 ||
	    (rc = cbr_array(c, &n, SYNC_ENTRIES_MAX)) != 0)
		return bad(s, rc, c, "ENTRIES");
	util_short_hex(origin, hex);
	if (first == 0)
		return fail(s, CN_ERR_MALFORMED, "ENTRIES of origin %s… start at seq 0", hex);
	if (n == 0)
		return fail(s, CN_ERR_MALFORMED, "ENTRIES of origin %s… hold no entry", hex);
	if (first > UINT64_MAX - n)
		return fail(s, CN_ERR_MALFORMED, "ENTRIES of origin %s…: seq out of range", hex);
	last = first + n - 1;
	{
		const uint8_t **mp = util_grow(s->mptr, &s->mcap, n, sizeof *mp);
		size_t cap = s->mcap, *ml;

		if (mp == NULL)
			return fail(s, CN_ERR_NOMEM, "out of memory");
		s->mptr = mp;
		ml = realloc(s->mlen, cap * sizeof *ml);
		if (ml == NULL)
			return fail(s, CN_ERR_NOMEM, "out of memory");
		s->mlen = ml;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *payload, *sig;
		size_t plen, used;
		const char *why = NULL;

		if (entry_wire_decode(c->p, (size_t)(c->end - c->p), &payload,
				      &plen, &sig, &used, &why) != 0)
			return fail(s, CN_ERR_MALFORMED,
				    "ENTRIES of origin %s…: entry %zu (seq %" PRIu64 ") is malformed: %s",
				    hex, i + 1, first + i, why ? why : "?");
		if (used > CN_ENTRY_MAX)
			return fail(s, CN_ERR_TOOBIG,
				    "ENTRIES of origin %s…: entry %zu is %zu bytes, more than %d",
				    hex, i + 1, used, CN_ENTRY_MAX);
		if (entry_decode(payload, plen, &e, &why) != 0)
			return fail(s, CN_ERR_MALFORMED,
				    "ENTRIES of origin %s…: entry %zu (seq %" PRIu64 ") is malformed: %s",
				    hex, i + 1, first + i, why ? why : "?");
		if (memcmp(e.origin, origin, CN_KEY_LEN) != 0)
			return fail(s, CN_ERR_MALFORMED,
				    "ENTRIES of origin %s…: entry %zu belongs to another origin",
				    hex, i + 1);
		if (e.seq != first + i)
			return fail(s, CN_ERR_MALFORMED,
				    "ENTRIES of origin %s… are not contiguous: entry %zu has seq %" PRIu64 ", expected %" PRIu64,
				    hex, i + 1, e.seq, first + i);
		s->mptr[i] = c->p;
		s->mlen[i] = used;
		bytes += used;
		if (sig != NULL)
			nsig = i + 1;
		c->p += used;
	}
	if (c->p != c->end)
		return fail(s, CN_ERR_MALFORMED, "ENTRIES is malformed: bytes after the message");

	/* The message is good.  A waiting run continues only with the next
	 * seq of its origin; anything else gives it up. */
	cont = s->tail.n > 0 && memcmp(s->tail_origin, origin, CN_KEY_LEN) == 0 &&
	       first == s->tail_first + s->tail.n;
	if (s->tail.n > 0 && !cont) {
		s->st.entries_dropped += s->tail.n;
		tail_clear(s);
	}
	keep_n = n - nsig;
	/* Entries the replica holds already (brought by another session)
	 * need not wait for a signature the peer may never send. */
	if (keep_n > 0 && replica_head(s->r, origin) >= last) {
		s->st.entries_dropped += keep_n + (nsig == 0 ? s->tail.n : 0);
		if (nsig == 0)
			tail_clear(s);
		keep_n = 0;
	}
	if (nsig == 0 && keep_n > 0 &&
	    (s->tail.n + n > s->lim.max_tail_entries ||
	     s->tail.len + bytes > s->lim.max_tail_bytes))
		return fail(s, CN_ERR_TOOBIG,
			    "origin %s…: more than %zu entries (or %zu bytes) without a signature from seq %" PRIu64,
			    hex, s->lim.max_tail_entries, s->lim.max_tail_bytes,
			    s->tail.n ? s->tail_first : first);
	s->st.entries_received += n;
	if (s->lim.bulk && !s->bulk_tried) {
		bool on = false;

		s->bulk_tried = true;
		rc = replica_bulk_begin(s->r, &on);
		if (rc != 0 && rc != CN_ERR_PERM)
			return fail(s, rc, "starting a bulk bootstrap failed: %s",
				    cn_strerror(rc));
		s->bulk_on = on;
		s->st.bulk = on;
	}
	if (nsig > 0) {
		/* Into the batch: the waiting run, then this message up to its
		 * last signature. */
		for (size_t i = 0; i < s->tail.n; i++)
			if ((rc = entbuf_add(&s->batch, s->tail.buf + s->tail.off[i],
					    s->tail.lens[i])) != 0)
				return fail(s, rc, "out of memory");
		for (size_t i = 0; i < nsig; i++)
			if ((rc = entbuf_add(&s->batch, s->mptr[i], s->mlen[i])) != 0)
				return fail(s, rc, "out of memory");
		tail_clear(s);
		if ((rc = vv_set(&s->borigins, origin, 0)) != 0)
			return fail(s, rc, "out of memory");
	}
	if (keep_n > 0) {
		if (s->tail.n == 0) {
			memcpy(s->tail_origin, origin, CN_KEY_LEN);
			s->tail_first = first + (n - keep_n);
		}
		for (size_t i = n - keep_n; i < n; i++)
			if ((rc = entbuf_add(&s->tail, s->mptr[i], s->mlen[i])) != 0)
				return fail(s, rc, "out of memory");
	}
	/* The peer holds what it sent: never send it back. */
	if (vv_get(&s->peer, origin) < last &&
	    (rc = vv_set(&s->peer, origin, last)) != 0)
		return fail(s, rc, "out of memory");
	if (s->batch.n > 0 && (s->batch.n >= s->lim.batch_entries ||
			  s->batch.len >= s->lim.batch_bytes))
		return flush(s);
	return 0;
}

static int recv_have(struct sync_session *s, struct cbor_rd *c)
{
	struct cbor_rd start = *c;
	size_t n;
	int rc;

	if ((rc = read_vv(c, NULL, &n)) != 0)
		return bad(s, rc, c, "HAVE");
	if (c->p != c->end)
		return fail(s, CN_ERR_MALFORMED, "HAVE is malformed: bytes after the message");
	if (n == 0)
		return fail(s, CN_ERR_MALFORMED, "an empty HAVE");
	*c = start;
	(void)cbr_map(c, &n, SYNC_ORIGINS_MAX);
	for (size_t i = 0; i < n; i++) {
		uint8_t origin[CN_KEY_LEN];
		uint64_t seq;

		(void)cbr_bstr_fixed(c, origin, CN_KEY_LEN);
		(void)cbr_uint(c, &seq);
		if (seq > vv_get(&s->peer, origin) &&
		    (rc = vv_set(&s->peer, origin, seq)) != 0)
			return fail(s, rc, "out of memory");
	}
	s->st.haves_received++;
	return 0;
}

int sync_receive(struct sync_session *s, const uint8_t *msg, size_t len)
{
	struct cbor_rd c;
	uint64_t type, nonce;
	size_t n, want;
	int rc;

	if (s == NULL || (msg == NULL && len > 0))
		return CN_ERR_INVAL;
	if (s->err != 0)
		return s->err;
	s->st.msgs_received++;
	s->st.bytes_received += len;
	if (len == 0)
		return fail(s, CN_ERR_MALFORMED, "an empty message");
	if (len > SYNC_MSG_MAX)
		return fail(s, CN_ERR_TOOBIG, "a message of %zu bytes, more than %u",
			    len, SYNC_MSG_MAX);
	cbr_init(&c, msg, len);
	if ((rc = cbr_array(&c, &n, 8)) != 0 || n == 0 ||
	    (rc = cbr_uint(&c, &type)) != 0)
		return fail(s, rc != 0 ? rc : CN_ERR_MALFORMED,
			    "not a sync message: %s",
			    c.why != NULL ? c.why : "an empty array");
	switch (type) {
	case SYNC_HELLO: want = 6; break;
	case SYNC_CERTS: want = 3; break;
	case SYNC_ENTRIES: want = 4; break;
	case SYNC_HAVE:
	case SYNC_PING:
	case SYNC_PONG: want = 2; break;
	default:
		return fail(s, CN_ERR_MALFORMED, "unknown message type %" PRIu64, type);
	}
	if (n != want)
		return fail(s, CN_ERR_MALFORMED, "%s has %zu elements, not %zu",
			    type_name(type), n, want);
	if (type != SYNC_HELLO && !s->hello_recv)
		return fail(s, CN_ERR_MALFORMED, "%s before the peer's HELLO",
			    type_name(type));
	switch (type) {
	case SYNC_HELLO:
		return recv_hello(s, &c);
	case SYNC_CERTS:
		return recv_certs(s, &c);
	case SYNC_ENTRIES:
		return recv_entries(s, &c);
	case SYNC_HAVE:
		return recv_have(s, &c);
	default:
		break;
	}
	if ((rc = cbr_uint(&c, &nonce)) != 0)
		return bad(s, rc, &c, type_name(type));
	if (c.p != c.end)
		return fail(s, CN_ERR_MALFORMED, "%s is malformed: bytes after the message",
			    type_name(type));
	if (type == SYNC_PING) {
		if (s->npongs == SYNC_PONGS_MAX)
			return fail(s, CN_ERR_TOOBIG, "more than %d PINGs not answered yet",
				    SYNC_PONGS_MAX);
		s->pongs[s->npongs++] = nonce;
		return 0;
	}
	if (s->pings_out == 0)
		return fail(s, CN_ERR_MALFORMED, "a PONG without a PING");
	s->pings_out--;
	s->st.pongs_received++;
	s->st.last_pong = nonce;
	return 0;
}

/* ---- state ----------------------------------------------------------------- */

bool sync_caught_up(const struct sync_session *s)
{
	if (s == NULL || s->err != 0 || !s->started || s->hello != NULL ||
	    !s->hello_recv || s->dirty || s->npings > 0 || s->npongs > 0 ||
	    s->have.n > 0 || s->tail.n > 0 || s->run_open || s->batch.n > 0 ||
	    s->ocerts.pos < s->ocerts.n || s->orevs.pos < s->orevs.n)
		return false;
	for (size_t i = 0; i < s->local.n; i++)
		if (vv_get(&s->peer, s->local.v[i].origin) < s->local.v[i].seq)
			return false;
	return true;
}

void sync_lag(const struct sync_session *s, uint64_t *peer_lacks,
	      uint64_t *we_lack)
{
	uint64_t a = 0, b = 0;

	if (s != NULL && s->hello_recv) {
		for (size_t i = 0; i < s->local.n; i++) {
			uint64_t p = vv_get(&s->peer, s->local.v[i].origin);
			if (s->local.v[i].seq > p)
				a += s->local.v[i].seq - p;
		}
		for (size_t i = 0; i < s->peer.n; i++) {
			uint64_t l = vv_get(&s->local, s->peer.v[i].origin);
			if (s->peer.v[i].seq > l)
				b += s->peer.v[i].seq - l;
		}
	}
	*peer_lacks = a;
	*we_lack = b;
}

void sync_stats(const struct sync_session *s, struct sync_stats *out)
{
	if (out == NULL)
		return;
	if (s == NULL) {
		memset(out, 0, sizeof *out);
		return;
	}
	*out = s->st;
	out->peer_vv_origins = s->peer.n;
	out->batched = s->batch.n;
}

const char *sync_error(const struct sync_session *s)
{
	return s != NULL ? s->st.error : "no session";
}
