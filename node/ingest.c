/*
 * ingest.c — the one write path: every entry, authored here or received,
 * is verified, stored and folded by ingest_txn() inside one LMDB write
 * transaction.
 *
 * Per call: parse every wire entry, sort by (origin, seq), then per origin
 * walk the hash chain from the stored head; entries are stored only up to
 * the last entry whose signature verifies (one Ed25519 verification covers
 * the run through `prev`).  Stored entries go to their student's history:
 * an entry that sorts after everything applied so far takes the fast path
 * (fold_apply on the current state); any other marks the history for a
 * re-fold from its entries.  Touched records are cached and written back in
 * key order.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bytes.h"
#include "hlc.h"
#include "replica_int.h"
#include "util.h"

#define CACHE_SLOTS 65536           /* power of two, > 2 * CACHE_FLUSH_AT */
#define CACHE_FLUSH_AT 25000        /* records held before writing back */

struct item {
	const uint8_t *wire;
	size_t wlen;
	const uint8_t *payload;
	size_t plen;
	const uint8_t *sig;
	uint8_t origin[CN_KEY_LEN];
	uint8_t prev[CN_KEY_LEN];
	uint8_t hash[CN_KEY_LEN];
	uint64_t seq;
	uint64_t hlc;
	struct entry *e;        /* decoded once, in parse_items() */
};

/* Verdict hook: called for every entry whose effect is (re)decided. */
struct verdicts {
	uint32_t self_idx;      /* report refusals of this origin … */
	bool watch;             /* … when set (authoring) */
	uint64_t bad_seq;       /* first refused own seq, 0 none */
	enum fold_reason bad_why;
};

struct ingest {
	struct replica *r;
	MDB_txn *txn;
	struct ingest_report *rep;
	struct verdicts *v;
	struct srec **slots;    /* open addressing on edu_id */
	struct srec **dirty;    /* the records in the cache, in load order */
	size_t ndirty;
	uint64_t hlc_seen;
	uint64_t own_seen;
	uint64_t watermark;     /* newest applied city.watermark time */
	uint64_t applied_before;
	struct log_writer lw;   /* the log group being appended to */
};

__attribute__((format(printf, 2, 3)))
static void note(struct ingest_report *rep, const char *fmt, ...)
{
	va_list ap;

	if (rep->problem[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(rep->problem, sizeof rep->problem, fmt, ap);
	va_end(ap);
}

/* ---- the record cache ------------------------------------------------ */

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

static int cache_get(struct ingest *in, const char *edu_id, struct srec **out)
{
	uint32_t i = hash_str(edu_id) & (CACHE_SLOTS - 1);
	struct srec *rec;
	int ret;

	while (in->slots[i] != NULL) {
		if (strcmp(in->slots[i]->st.edu_id, edu_id) == 0) {
			*out = in->slots[i];
			return CN_OK;
		}
		i = (i + 1) & (CACHE_SLOTS - 1);
	}
	rec = calloc(1, sizeof *rec);
	if (rec == NULL)
		return CN_ERR_NOMEM;
	ret = srec_load(in->r, in->txn, edu_id, rec);
	if (ret == CN_ERR_NOTFOUND) {
		fold_init(&rec->st, edu_id);
		ret = CN_OK;
	}
	if (ret != CN_OK) {
		free(rec);
		return ret;
	}
	for (int c = 0; c < rec->st.ncards; c++)
		if (fold_card_hot(&rec->st.cards[c]))
			rec->was_hot |= 1u << c;
	rec->ncards_loaded = rec->st.ncards;
	rec->nrefs_loaded = rec->nrefs;
	in->slots[i] = rec;
	in->dirty[in->ndirty++] = rec;
	*out = rec;
	return CN_OK;
}

static int ref_add(struct srec *rec, uint32_t idx, uint64_t seq)
{
	if (rec->nrefs == rec->caprefs) {
		uint32_t ncap = rec->caprefs ? rec->caprefs * 2 : 4;
		struct hist_ref *p = realloc(rec->refs, ncap * sizeof *p);
		if (p == NULL)
			return CN_ERR_NOMEM;
		rec->refs = p;
		rec->caprefs = ncap;
	}
	rec->refs[rec->nrefs++] = (struct hist_ref){idx, seq};
	return CN_OK;
}

/* ---- verdicts -------------------------------------------------------- */

static int verdict(struct ingest *in, uint32_t idx, uint64_t seq,
		   const char *key, enum fold_reason why, bool fresh)
{
	struct replica *r = in->r;
	uint8_t k[12], v[1 + CN_EDU_ID_MAX];
	size_t klen = strlen(key);
	int ret;

	store_be32(k, idx);
	store_be64(k + 4, seq);
	if (in->v && in->v->watch && idx == in->v->self_idx &&
	    why != FR_APPLIED && in->v->bad_seq == 0) {
		in->v->bad_seq = seq;
		in->v->bad_why = why;
	}
	if (why == FR_APPLIED) {
		if (fresh)
			return CN_OK;
		ret = store_del(&r->st, in->txn, DB_REFUSED, k, sizeof k, NULL, 0);
		return ret == CN_ERR_NOTFOUND ? CN_OK : ret;
	}
	v[0] = (uint8_t)why;
	memcpy(v + 1, key, klen);
	return store_put(&r->st, in->txn, DB_REFUSED, k, sizeof k, v, 1 + klen, 0);
}

/* ---- folding --------------------------------------------------------- */

/* Was (idx, seq) added to the history by this call? */
static bool ref_is_new(const struct srec *rec, uint32_t idx, uint64_t seq)
{
	for (uint32_t i = rec->nrefs_loaded; i < rec->nrefs; i++)
		if (rec->refs[i].idx == idx && rec->refs[i].seq == seq)
			return true;
	return false;
}

static int refold(struct ingest *in, struct srec *rec)
{
	struct hist_entry *h = NULL;
	struct student_state st;
	int n, ret = CN_OK;

	n = history_load(in->r, in->txn, rec, &h);
	if (n < 0)
		return n;
	fold_init(&st, rec->st.edu_id);
	for (int i = 0; i < n && ret == CN_OK; i++) {
		enum fold_reason why = fold_apply(&in->r->fenv, &st, &h[i].e);
		ret = verdict(in, h[i].idx, h[i].e.seq, st.edu_id, why, false);
		if (ref_is_new(rec, h[i].idx, h[i].e.seq)) {
			if (why == FR_APPLIED)
				in->rep->applied++;
			else
				in->rep->refused++;
		}
	}
	if (ret == CN_OK) {
		rec->st = st;
		if (n > 0) {
			rec->newest_hlc = h[n - 1].e.hlc;
			rec->newest_idx = h[n - 1].idx;
			rec->newest_seq = h[n - 1].e.seq;
			rec->has_newest = true;
		}
		rec->refold = false;
	}
	free(h);
	return ret;
}

static int apply_one(struct ingest *in, uint32_t idx, const struct entry *e)
{
	struct replica *r = in->r;
	enum fold_reason why;
	struct srec *rec;
	int ret;

	if (r->bulk && in->v == NULL)
		return CN_OK; /* bulk import: replica_rebuild() folds later */
	if (e->key[0] == '\0') {
		/* Node-level entries have no history; their verdict is the
		 * author's authority alone. */
		why = r->fenv.authorize ?
		      r->fenv.authorize(r->fenv.ctx, e, NULL) : FR_APPLIED;
		if (why == FR_APPLIED)
			in->rep->applied++;
		else
			in->rep->refused++;
		if (why == FR_APPLIED && e->op == OP_CITY_WATERMARK &&
		    e->body.time > in->watermark)
			in->watermark = e->body.time;
		return verdict(in, idx, e->seq, "", why, true);
	}
	if ((ret = cache_get(in, e->key, &rec)) != CN_OK)
		return ret;
	if ((ret = ref_add(rec, idx, e->seq)) != CN_OK)
		return ret;
	rec->dirty = true;
	if (!rec->refold &&
	    (!rec->has_newest ||
	     fold_order_cmp(e->hlc, e->origin, e->seq, rec->newest_hlc,
			    r->origins[rec->newest_idx].pk, rec->newest_seq) > 0)) {
		why = fold_apply(&r->fenv, &rec->st, e);
		rec->newest_hlc = e->hlc;
		rec->newest_idx = idx;
		rec->newest_seq = e->seq;
		rec->has_newest = true;
		if (why == FR_APPLIED)
			in->rep->applied++;
		else
			in->rep->refused++;
		return verdict(in, idx, e->seq, e->key, why, true);
	}
	/* Late entry: the history is folded again at write-back, and the
	 * report counts it as applied or refused by that verdict. */
	rec->refold = true;
	return CN_OK;
}

/* ---- write-back ------------------------------------------------------ */

static int cmp_srec(const void *a, const void *b)
{
	const struct srec *x = *(struct srec *const *)a;
	const struct srec *y = *(struct srec *const *)b;

	return strcmp(x->st.edu_id, y->st.edu_id);
}

static size_t srec_encode(const struct srec *rec, uint8_t *buf, size_t cap)
{
	uint8_t state[8192];
	size_t slen = fold_state_encode(&rec->st, state, sizeof state);
	struct bw w = {buf, 0, cap, false};
	uint32_t newest = 0;

	if (slen == 0)
		return 0;
	bw_uv(&w, slen);
	bw_put(&w, state, slen);
	bw_uv(&w, rec->newest_hlc);
	bw_uv(&w, rec->nrefs);
	/* A ref's seq follows the one before of the same origin (a history's
	 * entries are often consecutive): a difference to it. */
	for (uint32_t i = 0; i < rec->nrefs; i++) {
		const struct hist_ref *f = &rec->refs[i];
		bw_uv(&w, f->idx);
		if (i > 0 && f->idx == f[-1].idx)
			bw_zz(&w, f->seq - f[-1].seq);
		else
			bw_uv(&w, f->seq);
		if (rec->has_newest && f->idx == rec->newest_idx &&
		    f->seq == rec->newest_seq)
			newest = i + 1;
	}
	/* The newest entry applied is one of the refs: its place, or 0
	 * and itself. */
	bw_uv(&w, newest);
	if (newest == 0) {
		bw_uv(&w, rec->newest_idx);
		bw_uv(&w, rec->newest_seq);
	}
	return w.bad ? 0 : w.len;
}

/* srec_encode() into *buf (*cap bytes, malloc()ed), doubling it as needed
 * up to 64 MiB: CN_ERR_TOOBIG beyond that, CN_ERR_NOMEM. */
static int srec_encode_grow(const struct srec *rec, uint8_t **buf, size_t *cap,
			    size_t *len)
{
	while ((*len = srec_encode(rec, *buf, *cap)) == 0) {
		uint8_t *p;
		if (*cap >= (64u << 20))
			return CN_ERR_TOOBIG;
		if ((p = realloc(*buf, *cap * 2)) == NULL)
			return CN_ERR_NOMEM;
		*buf = p;
		*cap *= 2;
	}
	return CN_OK;
}

/* Index changes of one write-back, applied in key order: card numbers and
 * UIDs are random, so writing them sorted touches each page once. */
struct idx_op {
	uint8_t db;         /* enum store_db */
	uint8_t del;        /* delete instead of put */
	uint8_t klen, vlen;
	uint8_t key[CN_CARD_NO_MAX > CN_UID_MAX ? CN_CARD_NO_MAX : CN_UID_MAX];
	char val[CN_EDU_ID_MAX > CN_CARD_NO_MAX ? CN_EDU_ID_MAX : CN_CARD_NO_MAX];
};

struct idx_ops {
	struct idx_op *v;
	size_t n, cap;
};

static int idx_add(struct idx_ops *o, enum store_db db, bool del,
		   const void *k, size_t klen, const char *v)
{
	struct idx_op *op;
	size_t vlen = strlen(v);

	if (klen > sizeof op->key || vlen > sizeof op->val)
		return CN_ERR_STORE;
	if (o->n == o->cap) {
		size_t ncap = o->cap ? o->cap * 2 : 1024;
		void *p = realloc(o->v, ncap * sizeof *o->v);
		if (p == NULL)
			return CN_ERR_NOMEM;
		o->v = p;
		o->cap = ncap;
	}
	op = &o->v[o->n++];
	op->db = (uint8_t)db;
	op->del = del;
	op->klen = (uint8_t)klen;
	op->vlen = (uint8_t)vlen;
	memcpy(op->key, k, klen);
	memcpy(op->val, v, vlen);
	return CN_OK;
}

static int cmp_idx(const void *a, const void *b)
{
	const struct idx_op *x = a, *y = b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c;

	if (x->db != y->db)
		return x->db < y->db ? -1 : 1;
	if ((c = memcmp(x->key, y->key, n)) != 0)
		return c;
	return (int)x->klen - (int)y->klen;
}

static int idx_apply(struct ingest *in, struct idx_ops *o)
{
	int ret = CN_OK;

	if (o->n == 0)
		return CN_OK;
	qsort(o->v, o->n, sizeof *o->v, cmp_idx);
	for (size_t i = 0; i < o->n && ret == CN_OK; i++) {
		const struct idx_op *op = &o->v[i];
		if (op->del) {
			ret = store_del(&in->r->st, in->txn, op->db, op->key,
					op->klen, NULL, 0);
			if (ret == CN_ERR_NOTFOUND)
				ret = CN_OK;
		} else {
			/* card and uid keep every value ever indexed
			 * (duplicates); hot holds one. */
			ret = store_put(&in->r->st, in->txn, op->db, op->key,
					op->klen, op->val, op->vlen,
					op->db == DB_HOT ? 0 : MDB_NODUPDATA);
			if (ret == CN_ERR_EXISTS)
				ret = CN_OK;
		}
	}
	o->n = 0;
	return ret;
}

/* The index changes a written-back record calls for: new cards into the
 * card and UID indexes, hotlist membership as it changed. */
static int index_changes(struct idx_ops *o, const struct srec *rec, bool all)
{
	const struct student_state *st = &rec->st;
	int ret = CN_OK;

	for (int c = 0; c < st->ncards && ret == CN_OK; c++) {
		const struct card_state *cs = &st->cards[c];
		bool hot = fold_card_hot(cs), was = (rec->was_hot >> c) & 1;
		if (all || c >= rec->ncards_loaded) {
			ret = idx_add(o, DB_CARD, false, cs->card, strlen(cs->card),
				      st->edu_id);
			if (ret == CN_OK)
				ret = idx_add(o, DB_UID, false, cs->uid, cs->uid_len,
					      cs->card);
		}
		if (ret == CN_OK && hot && (all || !was))
			ret = idx_add(o, DB_HOT, false, cs->card, strlen(cs->card),
				      st->edu_id);
		else if (ret == CN_OK && !hot && (all || was))
			ret = idx_add(o, DB_HOT, true, cs->card, strlen(cs->card), "");
	}
	return ret;
}

static int flush(struct ingest *in)
{
	struct idx_ops ops = {0};
	size_t cap = 1u << 16;
	uint8_t *buf = malloc(cap);
	int ret = CN_OK;

	if (buf == NULL)
		return CN_ERR_NOMEM;
	qsort(in->dirty, in->ndirty, sizeof *in->dirty, cmp_srec);
	for (size_t i = 0; i < in->ndirty && ret == CN_OK; i++) {
		struct srec *rec = in->dirty[i];
		bool refolded = rec->refold;
		size_t len;
		if (!rec->dirty)
			continue;
		if (refolded && (ret = refold(in, rec)) != CN_OK)
			break;
		ret = srec_encode_grow(rec, &buf, &cap, &len);
		if (ret == CN_OK)
			ret = store_put(&in->r->st, in->txn, DB_STUDENT,
					rec->st.edu_id, strlen(rec->st.edu_id),
					buf, len, 0);
		if (ret == CN_OK)
			ret = index_changes(&ops, rec, refolded);
	}
	if (ret == CN_OK)
		ret = idx_apply(in, &ops);
	for (size_t i = 0; i < in->ndirty; i++) {
		srec_free(in->dirty[i]);
		free(in->dirty[i]);
	}
	in->ndirty = 0;
	memset(in->slots, 0, CACHE_SLOTS * sizeof *in->slots);
	free(ops.v);
	free(buf);
	return ret;
}

/* ---- per origin ------------------------------------------------------ */

static int cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	int c = memcmp(x->origin, y->origin, CN_KEY_LEN);

	if (c != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int fork_evidence(struct ingest *in, uint32_t idx, const struct item *it)
{
	struct replica *r = in->r;
	uint8_t k[12];
	char hx[17];
	int ret;

	store_be32(k, idx);
	store_be64(k + 4, it->seq);
	ret = store_put(&r->st, in->txn, DB_FORKS, k, sizeof k, it->wire,
			it->wlen, MDB_NOOVERWRITE);
	if (ret != CN_OK && ret != CN_ERR_EXISTS)
		return ret;
	r->origins[idx].flags |= ORIGIN_FORKED;
	in->rep->forked++;
	note(in->rep, "fork: origin %s… has two different entries at seq %llu",
	     util_short_hex(it->origin, hx), (unsigned long long)it->seq);
	return origin_save(r, in->txn, idx);
}

/* Does a verified signature in items[from..to) cover items[from] through
 * the chain?  Returns the index of the covering signed item or -1. */
static ssize_t covering_signature(const struct item *it, size_t from, size_t to)
{
	for (size_t j = from; j < to; j++) {
		if (j > from && (it[j].seq != it[j - 1].seq + 1 ||
				 memcmp(it[j].prev, it[j - 1].hash, CN_KEY_LEN)))
			return -1;
		if (it[j].sig != NULL &&
		    entry_verify(it[j].hash, it[j].sig, it[j].origin) == CN_OK)
			return (ssize_t)j;
	}
	return -1;
}

static int ingest_origin(struct ingest *in, struct item *it, size_t n)
{
	struct replica *r = in->r;
	struct ingest_report *rep = in->rep;
	struct origin_rec *o;
	int64_t found = origin_find(r, it[0].origin);
	uint32_t idx;
	size_t i = 0, run, last_ok;
	char hx[17];
	bool self;
	int ret;

	if (found < 0) {
		if ((ret = origin_add(r, in->txn, it[0].origin, &idx)) != CN_OK)
			return ret;
	} else {
		idx = (uint32_t)found;
	}
	o = &r->origins[idx];
	self = memcmp(it[0].origin, r->info.node, CN_KEY_LEN) == 0;
	if (o->flags & ORIGIN_FORKED) {
		rep->held += n;
		note(rep, "origin %s… has forked: %zu entries held",
		     util_short_hex(it[0].origin, hx), n);
		return CN_OK;
	}
	/* Entries at or below the head: duplicates, or evidence of a fork. */
	for (; i < n && it[i].seq <= o->head; i++) {
		const uint8_t *wire, *held;
		size_t wlen;
		if ((ret = log_get(r, in->txn, idx, it[i].seq, &wire, &wlen,
				   &held)) != CN_OK)
			return ret;
		if (memcmp(held, it[i].hash, CN_KEY_LEN) == 0) {
			rep->duplicate++;
			continue;
		}
		/* Different: a fork only if the origin's signature covers it. */
		if (covering_signature(it, i, n) < 0) {
			rep->unverified++;
			continue;
		}
		if ((ret = fork_evidence(in, idx, &it[i])) != CN_OK)
			return ret;
		rep->held += n - i - 1;
		return CN_OK;
	}
	if (i == n)
		return CN_OK;
	if (it[i].seq != o->head + 1) {
		rep->gap += n - i;
		note(rep, "gap: origin %s… holds up to seq %llu, the entries start at %llu",
		     util_short_hex(it[0].origin, hx), (unsigned long long)o->head,
		     (unsigned long long)it[i].seq);
		/* Our own log seen further on elsewhere (a restored copy): only
		 * a signed entry can say so, or anyone could silence us. */
		if (self) {
			ssize_t j = covering_signature(it, i, n);
			if (j >= 0 && it[j].seq > in->own_seen)
				in->own_seen = it[j].seq;
		}
		return CN_OK;
	}
	if (memcmp(it[i].prev, o->head_hash, CN_KEY_LEN) != 0) {
		/* The author's entry at `head` is not ours: a fork, if signed. */
		if (covering_signature(it, i, n) >= 0)
			return fork_evidence(in, idx, &it[i]);
		rep->unverified += n - i;
		note(rep, "origin %s…: entries after seq %llu do not chain to the held log",
		     util_short_hex(it[0].origin, hx), (unsigned long long)o->head);
		return CN_OK;
	}
	/* The contiguous chained run, then its last verified signature. */
	for (run = i + 1; run < n; run++)
		if (it[run].seq != it[run - 1].seq + 1 ||
		    memcmp(it[run].prev, it[run - 1].hash, CN_KEY_LEN) != 0)
			break;
	last_ok = i;
	for (size_t j = run; j > i; j--) {
		if (it[j - 1].sig != NULL &&
		    entry_verify(it[j - 1].hash, it[j - 1].sig, it[j - 1].origin) == CN_OK) {
			last_ok = j;
			break;
		}
	}
	if (last_ok < run || run < n) {
		rep->unverified += n - last_ok;
		note(rep, "origin %s…: %zu entries from seq %llu are not covered by a valid signature",
		     util_short_hex(it[0].origin, hx), n - last_ok,
		     (unsigned long long)it[last_ok].seq);
	}
	for (size_t j = i; j < last_ok; j++) {
		/* An inner signature that does not verify is not the author's:
		 * the payload is vouched for by the later one, so it is kept
		 * without the bad signature. */
		if (it[j].sig != NULL && j + 1 < last_ok &&
		    entry_verify(it[j].hash, it[j].sig, it[j].origin) != CN_OK) {
			it[j].sig = NULL;
			rep->badsig++;
			note(rep, "origin %s… seq %llu carried a signature that does not "
			     "verify; kept unsigned, vouched for by a later signature",
			     util_short_hex(it[0].origin, hx), (unsigned long long)it[j].seq);
		}
		if ((ret = log_append(r, in->txn, &in->lw, idx, it[j].e,
				      it[j].sig)) != CN_OK)
			return ret;
		if ((ret = apply_one(in, idx, it[j].e)) != CN_OK)
			return ret;
		if (it[j].hlc > in->hlc_seen)
			in->hlc_seen = it[j].hlc;
		/* A write-back may re-fold histories from the log. */
		if (in->ndirty >= CACHE_FLUSH_AT &&
		    ((ret = log_flush(r, in->txn, &in->lw)) != CN_OK ||
		     (ret = flush(in)) != CN_OK))
			return ret;
	}
	if ((ret = log_flush(r, in->txn, &in->lw)) != CN_OK)
		return ret;
	if (last_ok > i) {
		o = &r->origins[idx];
		o->head = it[last_ok - 1].seq;
		memcpy(o->head_hash, it[last_ok - 1].hash, CN_KEY_LEN);
		if ((ret = origin_save(r, in->txn, idx)) != CN_OK)
			return ret;
	}
	return CN_OK;
}

/* ---- the entry point inside a transaction ----------------------------- */

/* Drop repeated (origin, seq) from a sorted array: identical copies count as
 * duplicates; a different entry at the same position cannot both be kept in
 * one chain, so only the first is considered and the other counted as
 * unverified (a fork is recognised once the first is stored and the other
 * arrives again). */
static size_t dedupe(struct item *it, size_t n, struct ingest_report *rep)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (k > 0 && it[i].seq == it[k - 1].seq &&
		    memcmp(it[i].origin, it[k - 1].origin, CN_KEY_LEN) == 0) {
			if (memcmp(it[i].hash, it[k - 1].hash, CN_KEY_LEN) == 0) {
				rep->duplicate++;
			} else {
				rep->unverified++;
				note(rep, "two different entries at seq %llu of one origin in one batch",
				     (unsigned long long)it[i].seq);
			}
			continue;
		}
		it[k++] = it[i];
	}
	return k;
}

static int parse_items(const uint8_t *const *ents, const size_t *lens, size_t n,
		       struct item *items, struct entry *decoded, size_t *nitems,
		       struct ingest_report *rep)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		struct item *it = &items[k];
		struct entry *e = &decoded[k];
		size_t used = 0;
		const char *why = "malformed";
		int ret = entry_wire_decode(ents[i], lens[i], &it->payload,
					    &it->plen, &it->sig, &used, &why);
		if (ret == CN_OK && used != lens[i]) {
			ret = CN_ERR_MALFORMED;
			why = "trailing bytes after the entry";
		}
		if (ret == CN_OK)
			ret = entry_decode(it->payload, it->plen, e, &why);
		if (ret != CN_OK) {
			rep->malformed++;
			note(rep, "malformed entry: %s", why);
			continue;
		}
		it->wire = ents[i];
		it->wlen = lens[i];
		it->e = e;
		memcpy(it->origin, e->origin, CN_KEY_LEN);
		memcpy(it->prev, e->prev, CN_KEY_LEN);
		it->seq = e->seq;
		it->hlc = e->hlc;
		entry_hash(it->payload, it->plen, it->hash);
		k++;
	}
	*nitems = k;
	return CN_OK;
}

static int ingest_txn(struct replica *r, MDB_txn *txn, const uint8_t *const *ents,
	       const size_t *lens, size_t n, struct ingest_report *rep,
	       struct verdicts *v)
{
	struct ingest in = {.r = r, .txn = txn, .rep = rep, .v = v};
	struct item *items = NULL;
	struct entry *decoded = NULL;
	bool kept = r->bulk && v == NULL;
	size_t nitems = 0, a = 0;
	uint64_t hlc_last = 0, own_seen = 0;
	int ret;

	if (kept && r->bulk_cap < (n ? n : 1)) {
		bulk_scratch_free(r);
		r->bulk_items = malloc((n ? n : 1) * sizeof *items);
		r->bulk_decoded = malloc((n ? n : 1) * sizeof *decoded);
		if (r->bulk_items == NULL || r->bulk_decoded == NULL)
			bulk_scratch_free(r);
		else
			r->bulk_cap = n ? n : 1;
	}
	if (kept) {
		items = r->bulk_items;
		decoded = r->bulk_decoded;
	} else {
		items = malloc((n ? n : 1) * sizeof *items);
		decoded = malloc((n ? n : 1) * sizeof *decoded);
	}
	in.slots = calloc(CACHE_SLOTS, sizeof *in.slots);
	in.dirty = calloc(CACHE_FLUSH_AT + 1, sizeof *in.dirty);
	if (items == NULL || decoded == NULL || in.slots == NULL || in.dirty == NULL) {
		ret = CN_ERR_NOMEM;
		goto out;
	}
	parse_items(ents, lens, n, items, decoded, &nitems, rep);
	qsort(items, nitems, sizeof *items, cmp_item);
	nitems = dedupe(items, nitems, rep);
	ret = CN_OK;
	while (a < nitems && ret == CN_OK) {
		size_t b = a + 1;
		while (b < nitems && memcmp(items[b].origin, items[a].origin, CN_KEY_LEN) == 0)
			b++;
		ret = ingest_origin(&in, items + a, b - a);
		a = b;
	}
	if (ret == CN_OK)
		ret = flush(&in);
	/* Bulk import: what was stored is not folded yet. */
	if (ret == CN_OK && r->bulk && v == NULL)
		ret = store_put(&r->st, txn, DB_META, META_REBUILD,
				strlen(META_REBUILD), "1", 1, 0);
	/* The clock adopts what it saw unless it is too far ahead (§4). */
	if (ret == CN_OK && in.hlc_seen) {
		bool adopted;
		meta_get_u64(r, txn, META_HLC, &hlc_last);
		uint64_t next = hlc_observe(hlc_last, in.hlc_seen, util_now_ms(),
					    HLC_MAX_SKEW_MS, &adopted);
		if (next != hlc_last)
			ret = meta_put_u64(r, txn, META_HLC, next);
	}
	if (ret == CN_OK && in.own_seen) {
		meta_get_u64(r, txn, META_OWN_SEEN, &own_seen);
		if (in.own_seen > own_seen)
			ret = meta_put_u64(r, txn, META_OWN_SEEN, in.own_seen);
	}
	if (ret == CN_OK && in.watermark)
		ret = watermark_raise(r, txn, in.watermark);
out:
	if (in.dirty != NULL) {
		for (size_t i = 0; i < in.ndirty; i++) {
			srec_free(in.dirty[i]);
			free(in.dirty[i]);
		}
	}
	free(in.dirty);
	free(in.slots);
	log_writer_free(&in.lw);
	if (!kept) {
		free(items);
		free(decoded);
	}
	return ret;
}

void bulk_scratch_free(struct replica *r)
{
	free(r->bulk_items);
	free(r->bulk_decoded);
	r->bulk_items = r->bulk_decoded = NULL;
	r->bulk_cap = 0;
}

/* Run `fn` in a write transaction, replaying it after growing the map when
 * LMDB reports the map full. */
static int with_write_txn(struct replica *r,
			  int (*fn)(struct replica *, MDB_txn *, void *),
			  void *arg)
{
	for (int attempt = 0; attempt < 16; attempt++) {
		MDB_txn *txn;
		int ret;
		if (r->st.rdonly)
			return CN_ERR_PERM;
		if ((ret = store_begin(&r->st, true, &txn)) != CN_OK)
			return ret;
		ret = origins_load(r, txn);
		if (ret == CN_OK)
			ret = authority_refresh(r, txn);
		if (ret == CN_OK)
			ret = fn(r, txn, arg);
		if (ret == CN_OK)
			ret = store_commit(&r->st, txn);
		else
			mdb_txn_abort(txn);
		if (r->st.map_full) {
			/* Nothing was written: grow the map and replay. */
			r->st.map_full = false;
			if ((ret = store_grow(&r->st)) != CN_OK)
				return ret;
			authority_reload(r, NULL);
			continue;
		}
		if (ret != CN_OK)
			authority_reload(r, NULL);
		return ret;
	}
	return CN_ERR_TOOBIG;
}

struct ingest_args {
	const uint8_t *const *ents;
	const size_t *lens;
	size_t n;
	struct ingest_report *rep;
};

static int ingest_fn(struct replica *r, MDB_txn *txn, void *arg)
{
	struct ingest_args *a = arg;

	memset(a->rep, 0, sizeof *a->rep);
	return ingest_txn(r, txn, a->ents, a->lens, a->n, a->rep, NULL);
}

struct batches_args {
	const struct replica_batch *b;
	size_t nb;
};

static int batches_fn(struct replica *r, MDB_txn *txn, void *arg)
{
	struct batches_args *a = arg;
	int ret = CN_OK;

	for (size_t i = 0; i < a->nb; i++)
		memset(a->b[i].rep, 0, sizeof *a->b[i].rep);
	for (size_t i = 0; i < a->nb && ret == CN_OK; i++)
		ret = ingest_txn(r, txn, a->b[i].ents, a->b[i].lens, a->b[i].n,
				 a->b[i].rep, NULL);
	return ret;
}

int replica_ingest_batches(struct replica *r, const struct replica_batch *b,
			   size_t nb)
{
	struct batches_args a = {b, nb};

	return with_write_txn(r, batches_fn, &a);
}

void replica_report_add(struct ingest_report *t, const struct ingest_report *ir)
{
	t->applied += ir->applied;
	t->refused += ir->refused;
	t->duplicate += ir->duplicate;
	t->unverified += ir->unverified;
	t->gap += ir->gap;
	t->malformed += ir->malformed;
	t->forked += ir->forked;
	t->held += ir->held;
	t->badsig += ir->badsig;
	if (t->problem[0] == '\0' && ir->problem[0] != '\0')
		snprintf(t->problem, sizeof t->problem, "%s", ir->problem);
}

int replica_ingest(struct replica *r, const uint8_t *const *ents,
		   const size_t *lens, size_t n, struct ingest_report *rep)
{
	struct ingest_args a = {ents, lens, n, rep};

	return with_write_txn(r, ingest_fn, &a);
}

/* ---- authoring ------------------------------------------------------- */

struct author_args {
	struct entry *ops;
	size_t n;
	size_t *bad_index;
	enum fold_reason *why;
	int detail; /* CN error of the encoder, for the caller */
};

static int author_fn(struct replica *r, MDB_txn *txn, void *arg)
{
	struct author_args *a = arg;
	struct ingest_report rep;
	struct verdicts v = {.watch = true};
	struct origin_rec *self;
	uint64_t hlc = 0, own_seen = 0, now = util_now_ms(), unsigned_bytes = 0;
	uint8_t prev[CN_KEY_LEN];
	uint8_t *buf = NULL;
	const uint8_t **ents = NULL;
	size_t *lens = NULL, *offs = NULL, used = 0, cap = 0;
	uint32_t idx;
	int64_t found;
	int ret;

	found = origin_find(r, r->info.node);
	if (found < 0) {
		if ((ret = origin_add(r, txn, r->info.node, &idx)) != CN_OK)
			return ret;
	} else {
		idx = (uint32_t)found;
	}
	self = &r->origins[idx];
	meta_get_u64(r, txn, META_OWN_SEEN, &own_seen);
	if (own_seen > self->head || (self->flags & ORIGIN_FORKED))
		return CN_ERR_BEHIND;
	meta_get_u64(r, txn, META_HLC, &hlc);
	memcpy(prev, self->head_hash, CN_KEY_LEN);
	ents = calloc(a->n, sizeof *ents);
	lens = calloc(a->n, sizeof *lens);
	offs = calloc(a->n, sizeof *offs);
	if (ents == NULL || lens == NULL || offs == NULL) {
		ret = CN_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < a->n; i++) {
		struct entry *e = &a->ops[i];
		uint8_t payload[CN_PAYLOAD_MAX], hash[CN_KEY_LEN], sig[CN_SIG_LEN];
		size_t plen, wlen;
		const char *why;
		bool sign;
		memcpy(e->origin, r->info.node, CN_KEY_LEN);
		e->seq = self->head + 1 + i;
		memcpy(e->prev, prev, CN_KEY_LEN);
		e->hlc = hlc = hlc_next(hlc, now);
		ret = entry_encode(e, payload, sizeof payload, &plen, &why);
		if (ret != CN_OK) {
			*a->bad_index = i;
			a->detail = ret;
			goto out;
		}
		entry_hash(payload, plen, hash);
		unsigned_bytes += plen;
		sign = i + 1 == a->n || e->seq % CN_SIGN_EVERY == 0 ||
		       unsigned_bytes >= CN_SIGN_BYTES;
		if (sign) {
			entry_sign(hash, r->sk, sig);
			unsigned_bytes = 0;
		}
		if (cap - used < plen + 80) {
			size_t ncap = cap ? cap * 2 : 1u << 16;
			while (ncap - used < plen + 80)
				ncap *= 2;
			uint8_t *p = realloc(buf, ncap);
			if (p == NULL) {
				ret = CN_ERR_NOMEM;
				goto out;
			}
			buf = p;
			cap = ncap;
		}
		ret = entry_wire_encode(payload, plen, sign ? sig : NULL,
					buf + used, cap - used, &wlen);
		if (ret != CN_OK)
			goto out;
		offs[i] = used;
		lens[i] = wlen;
		used += wlen;
		memcpy(prev, hash, CN_KEY_LEN);
	}
	for (size_t i = 0; i < a->n; i++)
		ents[i] = buf + offs[i];
	memset(&rep, 0, sizeof rep);
	v.self_idx = idx;
	ret = ingest_txn(r, txn, ents, lens, a->n, &rep, &v);
	if (ret == CN_OK && v.bad_seq != 0) {
		*a->bad_index = (size_t)(v.bad_seq - (r->origins[idx].head - a->n + 1));
		*a->why = v.bad_why;
		ret = CN_ERR_REFUSED;
	} else if (ret == CN_OK && rep.applied + rep.refused != a->n) {
		ret = CN_ERR_STORE; /* our own entries must all be stored */
	}
	if (ret == CN_OK && hlc > 0)
		ret = meta_put_u64(r, txn, META_HLC, hlc);
out:
	free(buf);
	free(ents);
	free(lens);
	free(offs);
	return ret;
}

int replica_author(struct replica *r, struct entry *ops, size_t n,
		   size_t *bad_index, enum fold_reason *why)
{
	struct author_args a = {ops, n, bad_index, why, 0};
	size_t bad = 0;
	enum fold_reason w = FR_APPLIED;
	int ret;

	if (bad_index == NULL)
		a.bad_index = &bad;
	if (why == NULL)
		a.why = &w;
	if (n == 0)
		return CN_OK;
	if (!r->has_sk)
		return CN_ERR_PERM;
	ret = with_write_txn(r, author_fn, &a);
	if (ret != CN_OK && a.detail != 0)
		return a.detail;
	return ret;
}

/* ---- certificates and revocations ------------------------------------- */

/* Re-fold every history named by `keys` (edu_ids, may repeat). */
static int refold_keys(struct replica *r, MDB_txn *txn, char (*keys)[CN_EDU_ID_MAX + 1],
		       size_t n)
{
	struct ingest_report rep;
	struct ingest in = {.r = r, .txn = txn, .rep = &rep};
	int ret = CN_OK;

	memset(&rep, 0, sizeof rep);
	in.slots = calloc(CACHE_SLOTS, sizeof *in.slots);
	in.dirty = calloc(CACHE_FLUSH_AT + 1, sizeof *in.dirty);
	if (in.slots == NULL || in.dirty == NULL) {
		ret = CN_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n && ret == CN_OK; i++) {
		struct srec *rec;
		if (keys[i][0] == '\0')
			continue;
		ret = cache_get(&in, keys[i], &rec);
		if (ret == CN_OK) {
			rec->refold = rec->dirty = true;
			if (in.ndirty >= CACHE_FLUSH_AT)
				ret = flush(&in);
		}
	}
	if (ret == CN_OK)
		ret = flush(&in);
out:
	free(in.dirty);
	free(in.slots);
	return ret;
}

struct keylist {
	char (*k)[CN_EDU_ID_MAX + 1];
	size_t n, cap;
};

static int keylist_add(struct keylist *l, const char *key, size_t len)
{
	if (len > CN_EDU_ID_MAX)
		return CN_ERR_STORE;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		void *p = realloc(l->k, ncap * sizeof *l->k);
		if (p == NULL)
			return CN_ERR_NOMEM;
		l->k = p;
		l->cap = ncap;
	}
	memcpy(l->k[l->n], key, len);
	l->k[l->n++][len] = '\0';
	return CN_OK;
}

static int key_of_head(void *ctx, const struct log_group *g,
		       const struct log_head *h)
{
	(void)g;
	return keylist_add(ctx, h->key, strlen(h->key));
}

/* Histories with entries of origin `idx`, seq > after: from the log. */
static int keys_of_origin(struct replica *r, MDB_txn *txn, uint32_t idx,
			  uint64_t after, struct keylist *l)
{
	return log_heads(r, txn, idx, after + 1, true, key_of_head, l);
}

/* Histories with refused entries of origin `idx`. */
static int keys_refused(struct replica *r, MDB_txn *txn, uint32_t idx,
			struct keylist *l)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint8_t kb[12];
	int rc, ret = CN_OK;

	store_be32(kb, idx);
	store_be64(kb + 4, 0);
	k.mv_data = kb;
	k.mv_size = sizeof kb;
	if ((rc = mdb_cursor_open(txn, r->st.dbi[DB_REFUSED], &cur)) != 0)
		return store_error(&r->st, rc, "cursor");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && ret == CN_OK;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 12 || store_rd32(k.mv_data) != idx)
			break;
		if (v.mv_size < 1)
			continue;
		ret = keylist_add(l, (const char *)v.mv_data + 1, v.mv_size - 1);
	}
	mdb_cursor_close(cur);
	return ret;
}

struct blob_args {
	const uint8_t *buf;
	size_t len;
	const char **why;
	bool revocation;
};

static int install_fn(struct replica *r, MDB_txn *txn, void *arg)
{
	struct blob_args *a = arg;
	struct keylist l = {0};
	uint8_t key[CN_KEY_LEN];
	const uint8_t *node;
	struct cert c;
	struct revocation rv;
	int64_t idx;
	int ret;

	if (a->revocation) {
		ret = authority_revocation_open(a->buf, a->len, r->info.root_pub, &rv, a->why);
		node = rv.node;
	} else {
		ret = authority_cert_open(a->buf, a->len, r->info.root_pub, &c, a->why);
		node = c.node;
	}
	if (ret != CN_OK)
		return ret;
	crypto_generichash(key, sizeof key, a->buf, a->len, NULL, 0);
	ret = store_put(&r->st, txn, a->revocation ? DB_REVS : DB_CERTS, key,
			sizeof key, a->buf, a->len, MDB_NOOVERWRITE);
	if (ret != CN_OK)
		return ret; /* CN_ERR_EXISTS: installed already, nothing to do */
	ret = a->revocation ? authority_add_revocation(r->auth, &rv) :
			      authority_add_cert(r->auth, &c);
	if (ret != CN_OK && ret != CN_ERR_EXISTS)
		return ret;
	idx = origin_find(r, node);
	if (idx < 0 || r->bulk)
		return CN_OK; /* nothing of that node held yet, or folded later */
	/* A new certificate can only give effect to refused entries; a
	 * revocation can only take it from entries above its seq. */
	ret = a->revocation ?
	      keys_of_origin(r, txn, (uint32_t)idx, rv.valid_through_seq, &l) :
	      keys_refused(r, txn, (uint32_t)idx, &l);
	if (ret == CN_OK)
		ret = refold_keys(r, txn, l.k, l.n);
	free(l.k);
	return ret;
}

int replica_cert_install(struct replica *r, const uint8_t *buf, size_t len,
			 const char **why)
{
	struct blob_args a = {buf, len, why, false};
	const char *dummy;

	if (why == NULL)
		a.why = &dummy;
	*a.why = NULL;
	return with_write_txn(r, install_fn, &a);
}

int replica_revocation_install(struct replica *r, const uint8_t *buf,
			       size_t len, const char **why)
{
	struct blob_args a = {buf, len, why, true};
	const char *dummy;

	if (why == NULL)
		a.why = &dummy;
	*a.why = NULL;
	return with_write_txn(r, install_fn, &a);
}

/* ---- bulk import: rebuilding the materialized tables ------------------ */

/* One log entry with a history, as the rebuild sorts them: by key, then
 * in fold order.  `val` points at its group record inside the map (valid
 * for the rebuild's transaction: the log is not written meanwhile). */
struct bref {
	char key[CN_EDU_ID_MAX + 1];
	uint32_t rank;          /* rank of the origin's public key */
	uint32_t idx;
	uint32_t vlen;          /* the group record val[vlen] … */
	uint32_t off;           /* … the entry's slot in it … */
	uint64_t base_hlc;      /* … and its base hlc (pass 2 reads only
				 * the slot: one cache miss, not two) */
	uint64_t hlc;
	uint64_t seq;
	const uint8_t *val;
};

/* What the rebuild sorts instead of the brefs themselves: the key's first
 * 8 bytes as a big-endian number (NUL-padded, so it orders as strcmp()
 * does), the hlc, and the bref.  Only equal prefixes of keys longer than
 * 8 bytes, and equal (key, hlc), look at the bref. */
struct bsort {
	uint64_t pfx;
	uint64_t hlc;
	const struct bref *ref;
	uint64_t longkey;       /* key longer than 8 bytes */
};

static uint64_t key_prefix(const char *key, uint64_t *longkey)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < 8 && key[i] != '\0'; i++)
		v |= (uint64_t)(uint8_t)key[i] << (56 - 8 * i);
	*longkey = i == 8 && key[8] != '\0';
	return v;
}

/* The same order as comparing (key, hlc, rank, seq). */
static int cmp_bsort(const void *a, const void *b)
{
	const struct bsort *x = a, *y = b;
	const struct bref *p = x->ref, *q = y->ref;
	int c;

	if (x->pfx != y->pfx)
		return x->pfx < y->pfx ? -1 : 1;
	if (x->longkey != y->longkey)
		return x->longkey < y->longkey ? -1 : 1;
	if (x->longkey && (c = strcmp(p->key + 8, q->key + 8)) != 0)
		return c;
	if (x->hlc != y->hlc)
		return x->hlc < y->hlc ? -1 : 1;
	if (p->rank != q->rank)
		return p->rank < q->rank ? -1 : 1;
	return p->seq < q->seq ? -1 : p->seq > q->seq;
}

/* Same key: equal prefixes and, past 8 bytes, equal rests. */
static bool bsort_same_key(const struct bsort *x, const struct bsort *y)
{
	return x->pfx == y->pfx && x->longkey == y->longkey &&
	       (!x->longkey || strcmp(x->ref->key + 8, y->ref->key + 8) == 0);
}

struct refused_rec {
	uint8_t k[12];
	uint8_t vlen;
	uint8_t v[1 + CN_EDU_ID_MAX];
};

struct refused_list {
	struct refused_rec *v;
	size_t n, cap;
};

static int refused_add(struct refused_list *l, uint32_t idx, uint64_t seq,
		       const char *key, enum fold_reason why)
{
	size_t klen = strlen(key);

	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 256;
		void *p = realloc(l->v, ncap * sizeof *l->v);
		if (p == NULL)
			return CN_ERR_NOMEM;
		l->v = p;
		l->cap = ncap;
	}
	struct refused_rec *f = &l->v[l->n++];
	store_be32(f->k, idx);
	store_be64(f->k + 4, seq);
	f->v[0] = (uint8_t)why;
	memcpy(f->v + 1, key, klen);
	f->vlen = (uint8_t)(1 + klen);
	return CN_OK;
}

static int cmp_refused(const void *a, const void *b)
{
	return memcmp(((const struct refused_rec *)a)->k,
		      ((const struct refused_rec *)b)->k, 12);
}

static int cmp_idx_full(const void *a, const void *b)
{
	const struct idx_op *x = a, *y = b;
	size_t n = x->vlen < y->vlen ? x->vlen : y->vlen;
	int c = cmp_idx(a, b);

	if (c != 0)
		return c;
	if ((c = memcmp(x->val, y->val, n)) != 0)
		return c;
	return (int)x->vlen - (int)y->vlen;
}

/* What the rebuild sorts instead of the 44-byte idx_ops: db and the
 * key's first 15 bytes, zero-padded, as two big-endian numbers (a key that
 * ends first sorts first, as in cmp_idx()), and the op itself.  Equal
 * numbers fall back to cmp_idx_full(). */
struct isort {
	uint64_t hi, lo;
	const struct idx_op *op;
};

static void isort_init(struct isort *s, const struct idx_op *op)
{
	uint8_t b[16] = {0};

	b[0] = op->db;
	memcpy(b + 1, op->key, op->klen < 15 ? op->klen : 15);
	s->hi = s->lo = 0;
	for (size_t i = 0; i < 8; i++) {
		s->hi = s->hi << 8 | b[i];
		s->lo = s->lo << 8 | b[8 + i];
	}
	s->op = op;
}

static int cmp_isort(const void *a, const void *b)
{
	const struct isort *x = a, *y = b;

	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return cmp_idx_full(x->op, y->op);
}

struct pk_idx {
	const uint8_t *pk;
	uint32_t idx;
};

static int cmp_origin_rank(const void *a, const void *b)
{
	return memcmp(((const struct pk_idx *)a)->pk,
		      ((const struct pk_idx *)b)->pk, CN_KEY_LEN);
}

/* rebuild_scan()'s state. */
struct scan_ctx {
	struct replica *r;
	MDB_txn *txn;
	const uint32_t *rank;
	struct bref *b;
	size_t n, cap;
	struct refused_list *ref;
	struct ingest_report *rep;
};

static int scan_head(void *ctx, const struct log_group *g,
		     const struct log_head *h)
{
	struct scan_ctx *s = ctx;
	struct replica *r = s->r;
	struct bref *x;

	if (h->idx >= r->norigins || s->n == s->cap)
		return CN_ERR_STORE;
	if (h->key[0] == '\0') {
		/* Node-level: no history, the author's authority decides. */
		struct entry e;
		const uint8_t *sig;
		size_t off = h->off;
		enum fold_reason why;
		if (log_group_entry(g, &off, r->origins[h->idx].pk, h->seq, &e,
				    &sig) != CN_OK)
			return CN_ERR_STORE;
		why = r->fenv.authorize ? r->fenv.authorize(r->fenv.ctx, &e, NULL)
					: FR_APPLIED;
		if (why == FR_APPLIED) {
			s->rep->applied++;
			return e.op == OP_CITY_WATERMARK
				       ? watermark_raise(r, s->txn, e.body.time)
				       : CN_OK;
		}
		s->rep->refused++;
		return refused_add(s->ref, h->idx, h->seq, "", why);
	}
	x = &s->b[s->n++];
	memcpy(x->key, h->key, sizeof x->key);
	x->rank = s->rank[h->idx];
	x->idx = h->idx;
	x->hlc = h->hlc;
	x->seq = h->seq;
	x->val = g->val;
	x->vlen = (uint32_t)g->vlen;
	x->off = (uint32_t)h->off;
	x->base_hlc = g->base_hlc;
	return CN_OK;
}

/* Pass 1: every log entry, node-level ones decided at once. */
static int rebuild_scan(struct replica *r, MDB_txn *txn, const uint32_t *rank,
			struct bref **out, size_t *nout, struct refused_list *ref,
			struct ingest_report *rep)
{
	struct scan_ctx s = {.r = r, .txn = txn, .rank = rank, .ref = ref, .rep = rep};
	int ret;

	for (uint32_t i = 0; i < r->norigins; i++)
		s.cap += r->origins[i].head;
	if ((s.b = malloc((s.cap ? s.cap : 1) * sizeof *s.b)) == NULL)
		return CN_ERR_NOMEM;
	if ((ret = log_heads(r, txn, 0, 1, false, scan_head, &s)) != CN_OK) {
		free(s.b);
		return ret;
	}
	*out = s.b;
	*nout = s.n;
	return CN_OK;
}

static int put_append(struct replica *r, MDB_txn *txn, enum store_db db,
		      const void *k, size_t klen, const void *v, size_t vlen,
		      bool same_key_as_last)
{
	int ret = store_put(&r->st, txn, db, k, klen, v, vlen,
			    same_key_as_last ? MDB_NODUPDATA : MDB_APPEND);
	return ret == CN_ERR_EXISTS ? CN_OK : ret;
}

static int rebuild_fn(struct replica *r, MDB_txn *txn, void *arg)
{
	static const enum store_db mat[] = {DB_STUDENT, DB_CARD, DB_UID, DB_HOT,
					    DB_REFUSED};
	struct ingest_report *rep = arg;
	struct refused_list ref = {0};
	struct idx_ops ops = {0};
	struct bref *b = NULL;
	struct bsort *srt = NULL;
	struct isort *isrt = NULL;
	struct srec rec;
	uint32_t *rank = NULL;
	struct pk_idx *order = NULL;
	size_t n = 0, cap = 1u << 16;
	uint8_t *buf = malloc(cap);
	int rc, ret = CN_OK;

	rep->applied = rep->refused = 0;
	memset(&rec, 0, sizeof rec);
	rank = calloc(r->norigins + 1, sizeof *rank);
	order = calloc(r->norigins + 1, sizeof *order);
	if (buf == NULL || rank == NULL || order == NULL) {
		ret = CN_ERR_NOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < r->norigins; i++)
		order[i] = (struct pk_idx){r->origins[i].pk, i};
	if (r->norigins > 0)
		qsort(order, r->norigins, sizeof *order, cmp_origin_rank);
	for (uint32_t i = 0; i < r->norigins; i++)
		rank[order[i].idx] = i;
	for (size_t i = 0; i < sizeof mat / sizeof mat[0]; i++)
		if ((rc = mdb_drop(txn, r->st.dbi[mat[i]], 0)) != 0) {
			ret = store_error(&r->st, rc, "drop");
			goto out;
		}
	if ((ret = rebuild_scan(r, txn, rank, &b, &n, &ref, rep)) != CN_OK)
		goto out;
	if ((srt = malloc((n ? n : 1) * sizeof *srt)) == NULL) {
		ret = CN_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		srt[i].pfx = key_prefix(b[i].key, &srt[i].longkey);
		srt[i].hlc = b[i].hlc;
		srt[i].ref = &b[i];
	}
	if (n > 0)
		qsort(srt, n, sizeof *srt, cmp_bsort);
	/* Pass 2: one history after the other, in key order. */
	for (size_t a = 0, z; a < n && ret == CN_OK; a = z) {
		for (z = a + 1; z < n && bsort_same_key(&srt[z], &srt[a]); z++)
			;
		fold_init(&rec.st, srt[a].ref->key);
		rec.nrefs = 0;
		for (size_t i = a; i < z && ret == CN_OK; i++) {
			const struct bref *x = srt[i].ref;
			const struct log_group g = {.val = x->val, .vlen = x->vlen,
						    .base_hlc = x->base_hlc};
			struct entry e;
			const uint8_t *sig;
			size_t off = x->off;
			enum fold_reason why;
			if (log_group_entry(&g, &off, r->origins[x->idx].pk, x->seq,
					    &e, &sig) != CN_OK ||
			    e.hlc != x->hlc || strcmp(e.key, x->key) != 0) {
				ret = CN_ERR_STORE;
				break;
			}
			why = fold_apply(&r->fenv, &rec.st, &e);
			if (why == FR_APPLIED) {
				rep->applied++;
			} else {
				rep->refused++;
				ret = refused_add(&ref, x->idx, x->seq, x->key, why);
			}
			if (ret == CN_OK)
				ret = ref_add(&rec, x->idx, x->seq);
		}
		if (ret != CN_OK)
			break;
		rec.newest_hlc = srt[z - 1].ref->hlc;
		rec.newest_idx = srt[z - 1].ref->idx;
		rec.newest_seq = srt[z - 1].ref->seq;
		rec.has_newest = true;
		rec.was_hot = 0;
		rec.ncards_loaded = 0;
		size_t len;
		ret = srec_encode_grow(&rec, &buf, &cap, &len);
		if (ret == CN_OK)
			ret = put_append(r, txn, DB_STUDENT, rec.st.edu_id,
					 strlen(rec.st.edu_id), buf, len, false);
		/* New cards, and the hot ones; none was on the hotlist. */
		if (ret == CN_OK)
			ret = index_changes(&ops, &rec, false);
	}
	free(srt);
	srt = NULL;
	free(b);
	b = NULL;
	if (ret != CN_OK)
		goto out;
	/* The index tables, each in key order (dropped deletions: the
	 * tables were empty). */
	if ((isrt = malloc((ops.n ? ops.n : 1) * sizeof *isrt)) == NULL) {
		ret = CN_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < ops.n; i++)
		isort_init(&isrt[i], &ops.v[i]);
	if (ops.n > 0)
		qsort(isrt, ops.n, sizeof *isrt, cmp_isort);
	for (size_t i = 0; i < ops.n && ret == CN_OK; i++) {
		const struct idx_op *op = isrt[i].op, *prev = i > 0 ? isrt[i - 1].op : NULL;
		bool same = prev != NULL && prev->db == op->db &&
			    prev->klen == op->klen &&
			    memcmp(prev->key, op->key, op->klen) == 0;
		if (op->del)
			continue;
		if (op->db == DB_HOT && same)
			ret = store_put(&r->st, txn, DB_HOT, op->key, op->klen,
					op->val, op->vlen, 0);
		else
			ret = put_append(r, txn, op->db, op->key, op->klen,
					 op->val, op->vlen, same);
	}
	if (ref.n > 0)
		qsort(ref.v, ref.n, sizeof *ref.v, cmp_refused);
	for (size_t i = 0; i < ref.n && ret == CN_OK; i++)
		ret = put_append(r, txn, DB_REFUSED, ref.v[i].k, 12, ref.v[i].v,
				 ref.v[i].vlen, false);
	if (ret == CN_OK) {
		ret = store_del(&r->st, txn, DB_META, META_REBUILD,
				strlen(META_REBUILD), NULL, 0);
		if (ret == CN_ERR_NOTFOUND)
			ret = CN_OK;
	}
out:
	free(isrt);
	free(srt);
	free(b);
	free(rec.refs);
	free(ops.v);
	free(ref.v);
	free(rank);
	free(order);
	free(buf);
	return ret;
}

/* What the rebuild writes per log entry, at most: the student record and
 * the index records of about half an entry (one student per two entries
 * in a city's bootstrap), as LMDB lays them out. */
#define REBUILD_BYTES_PER_ENTRY 256

int replica_rebuild(struct replica *r, struct ingest_report *rep)
{
	struct ingest_report local;
	size_t entries = 0;
	int ret;

	if (rep == NULL)
		rep = &local;
	/* One transaction writes every table: make room first, rather than
	 * find the map full near the end and replay the whole rebuild after
	 * each doubling. */
	for (uint32_t i = 0; i < r->norigins; i++)
		entries += r->origins[i].head;
	if (entries <= SIZE_MAX / REBUILD_BYTES_PER_ENTRY &&
	    (ret = store_reserve(&r->st, entries * REBUILD_BYTES_PER_ENTRY)) != CN_OK)
		return ret;
	return with_write_txn(r, rebuild_fn, rep);
}

bool replica_rebuild_pending(struct replica *r, MDB_txn *txn)
{
	MDB_val v;

	return store_get(&r->st, txn, DB_META, META_REBUILD,
			 strlen(META_REBUILD), &v) == CN_OK;
}

static int bulk_begin_fn(struct replica *r, MDB_txn *txn, void *arg)
{
	bool *on = arg;
	MDB_stat a, b;
	int rc;

	if ((rc = mdb_stat(txn, r->st.dbi[DB_LOG], &a)) != 0 ||
	    (rc = mdb_stat(txn, r->st.dbi[DB_STUDENT], &b)) != 0)
		return store_error(&r->st, rc, "stat");
	*on = a.ms_entries == 0 && b.ms_entries == 0;
	if (!*on)
		return CN_OK;
	return store_put(&r->st, txn, DB_META, META_REBUILD,
			 strlen(META_REBUILD), "1", 1, 0);
}

int replica_bulk_begin(struct replica *r, bool *on)
{
	int ret;

	*on = false;
	if (r->st.rdonly)
		return CN_ERR_PERM;
	/* Already on for another caller (a second sync session): leave it. */
	if (r->bulk)
		return CN_OK;
	/* For comparisons (tests, benchmarks): the entry-by-entry path. */
	if (getenv("CARDNODE_NO_BULK") != NULL && *getenv("CARDNODE_NO_BULK") != '\0')
		return CN_OK;
	/* Another process bulk-importing into this data dir: take the
	 * entry-by-entry path rather than wait. */
	if ((ret = bulk_lock(r)) != CN_OK)
		return ret == CN_ERR_EXISTS ? CN_OK : ret;
	ret = with_write_txn(r, bulk_begin_fn, on);
	if (ret != CN_OK)
		*on = false;
	r->bulk = *on;
	if (!r->bulk)
		bulk_unlock(r);
	return ret;
}

int replica_bulk_end(struct replica *r, struct ingest_report *rep)
{
	struct ingest_report got;
	int ret;

	bulk_scratch_free(r);
	if (!r->bulk)
		return CN_OK;
	memset(&got, 0, sizeof got);
	ret = replica_rebuild(r, &got);
	if (ret == CN_OK) {
		r->bulk = false;
		bulk_unlock(r);
		if (rep != NULL) {
			rep->applied += got.applied;
			rep->refused += got.refused;
		}
	}
	return ret;
}
