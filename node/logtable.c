/*
 * logtable.c — the log table: how entries are stored, and the wire form given
 * back (docs/replica.md, "The log table").
 *
 * A record holds up to LOG_GROUP consecutive entries of one origin, keyed by
 * origin idx ‖ the first seq of its group (seqs 1–8, 9–16, …):
 *
 *   count u8 (1..LOG_GROUP) ‖ prev[32] ‖ base hlc (LEB128) ‖ count slots
 *   slot: length (LEB128) ‖ the entry_pack() form, hlc relative to base
 *
 * `prev` is the hash of the payload before the group's first entry (zeros
 * for seq 1).  The origin comes from the key, each seq from the slot's
 * place, and the prev of every later entry of the group from the hash of
 * the payload before it.  So one record gives back the exact wire bytes of
 * its entries, and a signature still covers everything through the chain.
 */
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "replica_int.h"
#include "util.h"

uint64_t log_group_first(uint64_t seq)
{
	return seq - (seq - 1) % LOG_GROUP;
}

static void log_key(uint8_t k[static 12], uint32_t idx, uint64_t first)
{
	store_be32(k, idx);
	store_be64(k + 4, first);
}

int log_group_parse(const uint8_t *val, size_t vlen, struct log_group *g)
{
	struct br r = {val, vlen, 0, false};

	g->val = val;
	g->vlen = vlen;
	g->count = br_u8(&r);
	br_get(&r, g->prev, CN_KEY_LEN);
	g->base_hlc = br_uv(&r);
	g->first_slot = r.off;
	return r.bad || g->count == 0 || g->count > LOG_GROUP ? CN_ERR_STORE
							       : CN_OK;
}

int log_group_slot(const struct log_group *g, size_t *off, struct br *slot)
{
	struct br r = {g->val, g->vlen, *off, false};
	uint64_t n = br_uv(&r);

	if (r.bad || n > g->vlen - r.off)
		return CN_ERR_STORE;
	*slot = (struct br){g->val + r.off, (size_t)n, 0, false};
	*off = r.off + (size_t)n;
	return CN_OK;
}

int log_group_entry(const struct log_group *g, size_t *off,
		    const uint8_t origin[static CN_KEY_LEN], uint64_t seq,
		    struct entry *e, const uint8_t **sig)
{
	struct br s;

	if (log_group_slot(g, off, &s) != CN_OK ||
	    entry_unpack(&s, g->base_hlc, e, sig) != CN_OK || s.off != s.len)
		return CN_ERR_STORE;
	memcpy(e->origin, origin, CN_KEY_LEN);
	e->seq = seq;
	return CN_OK;
}

/* The public key of origin `idx`, from the loaded table or the store. */
static int origin_pk_of(struct replica *r, MDB_txn *txn, uint32_t idx,
			uint8_t pk[static CN_KEY_LEN])
{
	uint8_t k[4];
	MDB_val v;
	int ret;

	if (idx < r->norigins) {
		memcpy(pk, r->origins[idx].pk, CN_KEY_LEN);
		return CN_OK;
	}
	store_be32(k, idx);
	if ((ret = store_get(&r->st, txn, DB_ORIGIN, k, 4, &v)) != CN_OK)
		return ret == CN_ERR_NOTFOUND ? CN_ERR_STORE : ret;
	if (v.mv_size != ORIGIN_REC_LEN)
		return CN_ERR_STORE;
	memcpy(pk, v.mv_data, CN_KEY_LEN);
	return CN_OK;
}

/* ---- wire forms of one group ------------------------------------------ */

/* The wire forms and hashes of one group's entries, rebuilt from its
 * record; kept while the record stays the same. */
struct log_cache {
	bool valid;
	uint32_t idx;
	uint64_t first;
	unsigned count;
	uint8_t prev[CN_KEY_LEN];      /* the group's stored prev */
	uint8_t *val;                  /* the record it was built from */
	size_t vlen, vcap;
	uint8_t *wire;                 /* the wire forms, back to back */
	size_t wcap;
	size_t woff[LOG_GROUP + 1];
	uint8_t hash[LOG_GROUP][CN_KEY_LEN];
	uint8_t payload[CN_PAYLOAD_MAX];
};

static void cache_free(struct log_cache *c)
{
	if (c == NULL)
		return;
	free(c->val);
	free(c->wire);
	free(c);
}

void log_cache_free(struct replica *r)
{
	cache_free(r->lcache);
	r->lcache = NULL;
}

/* Make c hold group (idx, first) as stored in v: nothing to do if it was
 * built from the same bytes. */
static int cache_fill(struct replica *r, MDB_txn *txn, struct log_cache *c,
		      uint32_t idx, uint64_t first, const MDB_val *v)
{
	struct log_group g;
	uint8_t pk[CN_KEY_LEN];
	size_t off;
	void *p;
	int ret;

	if (c->valid && c->idx == idx && c->first == first &&
	    c->vlen == v->mv_size && memcmp(c->val, v->mv_data, c->vlen) == 0)
		return CN_OK;
	c->valid = false;
	if ((ret = origin_pk_of(r, txn, idx, pk)) != CN_OK)
		return ret;
	if (log_group_parse(v->mv_data, v->mv_size, &g) != CN_OK)
		return CN_ERR_STORE;
	if ((p = util_grow(c->val, &c->vcap, v->mv_size, 1)) == NULL)
		return CN_ERR_NOMEM;
	c->val = p;
	memcpy(c->val, v->mv_data, v->mv_size);
	c->vlen = v->mv_size;
	off = g.first_slot;
	c->woff[0] = 0;
	for (unsigned i = 0; i < g.count; i++) {
		struct entry e;
		const uint8_t *sig;
		size_t plen, wlen;
		if (log_group_entry(&g, &off, pk, first + i, &e, &sig) != CN_OK)
			return CN_ERR_STORE;
		memcpy(e.prev, i > 0 ? c->hash[i - 1] : g.prev, CN_KEY_LEN);
		if (entry_encode(&e, c->payload, sizeof c->payload, &plen, NULL) != CN_OK)
			return CN_ERR_STORE;
		p = util_grow(c->wire, &c->wcap, c->woff[i] + plen + CN_ENTRY_MAX - CN_PAYLOAD_MAX, 1);
		if (p == NULL)
			return CN_ERR_NOMEM;
		c->wire = p;
		if (entry_wire_encode(c->payload, plen, sig, c->wire + c->woff[i],
				      c->wcap - c->woff[i], &wlen) != CN_OK)
			return CN_ERR_STORE;
		entry_hash(c->payload, plen, c->hash[i]);
		c->woff[i + 1] = c->woff[i] + wlen;
	}
	if (off != g.vlen)
		return CN_ERR_STORE;
	memcpy(c->prev, g.prev, CN_KEY_LEN);
	c->idx = idx;
	c->first = first;
	c->count = g.count;
	c->valid = true;
	return CN_OK;
}

/* The stored group record holding (idx, seq). */
static int group_get(struct replica *r, MDB_txn *txn, uint32_t idx,
		     uint64_t seq, MDB_val *v)
{
	uint8_t k[12];
	int ret;

	if (seq == 0)
		return CN_ERR_STORE;
	log_key(k, idx, log_group_first(seq));
	ret = store_get(&r->st, txn, DB_LOG, k, sizeof k, v);
	return ret == CN_ERR_NOTFOUND ? CN_ERR_STORE : ret;
}

int log_get(struct replica *r, MDB_txn *txn, uint32_t idx, uint64_t seq,
	    const uint8_t **wire, size_t *len, const uint8_t **hash)
{
	uint64_t first = log_group_first(seq);
	struct log_cache *c;
	MDB_val v;
	int ret;

	if ((ret = group_get(r, txn, idx, seq, &v)) != CN_OK)
		return ret;
	if (r->lcache == NULL && (r->lcache = calloc(1, sizeof *r->lcache)) == NULL)
		return CN_ERR_NOMEM;
	c = r->lcache;
	if ((ret = cache_fill(r, txn, c, idx, first, &v)) != CN_OK)
		return ret;
	if (seq - first >= c->count)
		return CN_ERR_STORE;
	*wire = c->wire + c->woff[seq - first];
	*len = c->woff[seq - first + 1] - c->woff[seq - first];
	if (hash != NULL)
		*hash = c->hash[seq - first];
	return CN_OK;
}

int log_entry(struct replica *r, MDB_txn *txn, uint32_t idx, uint64_t seq,
	      struct entry *e, bool *signed_)
{
	uint8_t pk[CN_KEY_LEN];
	struct log_group g;
	const uint8_t *sig;
	struct br slot;
	size_t off;
	MDB_val v;
	int ret;

	if ((ret = group_get(r, txn, idx, seq, &v)) != CN_OK ||
	    (ret = origin_pk_of(r, txn, idx, pk)) != CN_OK)
		return ret;
	if (log_group_parse(v.mv_data, v.mv_size, &g) != CN_OK ||
	    seq - log_group_first(seq) >= g.count)
		return CN_ERR_STORE;
	off = g.first_slot;
	for (uint64_t i = log_group_first(seq); i < seq; i++)
		if (log_group_slot(&g, &off, &slot) != CN_OK)
			return CN_ERR_STORE;
	if (log_group_entry(&g, &off, pk, seq, e, &sig) != CN_OK)
		return CN_ERR_STORE;
	*signed_ = sig != NULL;
	return CN_OK;
}

int log_scan(struct replica *r, MDB_txn *txn, uint32_t idx, uint64_t from,
	     uint64_t to, log_scan_fn fn, void *ctx, uint64_t *at)
{
	struct log_cache *c = calloc(1, sizeof *c);
	uint64_t expect = log_group_first(from ? from : 1);
	uint8_t k[12], last[CN_KEY_LEN];
	MDB_cursor *cur = NULL;
	MDB_val kv = {sizeof k, k}, v;
	bool partial = false, chained = false, done = false;
	int rc, ret = CN_OK;

	*at = expect;
	if (c == NULL)
		return CN_ERR_NOMEM;
	if ((rc = mdb_cursor_open(txn, r->st.dbi[DB_LOG], &cur)) != 0) {
		cache_free(c);
		return store_error(&r->st, rc, "cursor");
	}
	log_key(k, idx, expect);
	for (rc = mdb_cursor_get(cur, &kv, &v, MDB_SET_RANGE);
	     rc == 0 && ret == CN_OK && !done;
	     rc = mdb_cursor_get(cur, &kv, &v, MDB_NEXT)) {
		uint64_t first;
		if (kv.mv_size != 12 || store_rd32(kv.mv_data) != idx)
			break;
		first = store_rd64((const uint8_t *)kv.mv_data + 4);
		if (first > to)
			break;
		if (first != expect || partial) {
			ret = CN_ERR_STORE; /* a group missing, or one cut short */
			break;
		}
		if ((ret = cache_fill(r, txn, c, idx, first, &v)) != CN_OK)
			break;
		if (chained && memcmp(c->prev, last, CN_KEY_LEN) != 0) {
			ret = CN_ERR_MALFORMED; /* does not chain to the group before */
			break;
		}
		for (unsigned i = 0; i < c->count && ret == CN_OK; i++) {
			uint64_t seq = first + i;
			*at = seq;
			if (seq > to) {
				done = true;
				break;
			}
			if (seq >= from)
				ret = fn(ctx, seq, c->wire + c->woff[i],
					 c->woff[i + 1] - c->woff[i], c->hash[i]);
		}
		memcpy(last, c->hash[c->count - 1], CN_KEY_LEN);
		chained = true;
		partial = c->count < LOG_GROUP;
		expect = first + LOG_GROUP;
		*at = expect;
	}
	if (ret == CN_OK && rc != 0 && rc != MDB_NOTFOUND)
		ret = store_error(&r->st, rc, "log scan");
	mdb_cursor_close(cur);
	cache_free(c);
	return ret;
}

int log_heads(struct replica *r, MDB_txn *txn, uint32_t idx, uint64_t from,
	      bool one_origin, log_head_fn fn, void *ctx)
{
	uint8_t k[12];
	MDB_cursor *cur;
	MDB_val kv = {sizeof k, k}, v;
	int rc, ret = CN_OK;

	if ((rc = mdb_cursor_open(txn, r->st.dbi[DB_LOG], &cur)) != 0)
		return store_error(&r->st, rc, "cursor");
	log_key(k, idx, log_group_first(from ? from : 1));
	for (rc = mdb_cursor_get(cur, &kv, &v, MDB_SET_RANGE);
	     rc == 0 && ret == CN_OK;
	     rc = mdb_cursor_get(cur, &kv, &v, MDB_NEXT)) {
		struct log_head h;
		struct log_group g;
		size_t off;
		if (kv.mv_size != 12 || log_group_parse(v.mv_data, v.mv_size, &g)) {
			ret = CN_ERR_STORE;
			break;
		}
		h.idx = store_rd32(kv.mv_data);
		h.seq = store_rd64((const uint8_t *)kv.mv_data + 4);
		if (one_origin && h.idx != idx)
			break;
		off = g.first_slot;
		for (unsigned i = 0; i < g.count && ret == CN_OK; i++, h.seq++) {
			struct br slot;
			h.off = off;
			if (log_group_slot(&g, &off, &slot) != CN_OK ||
			    entry_unpack_head(&slot, g.base_hlc, &h.hlc, &h.op,
					      h.key) != CN_OK)
				ret = CN_ERR_STORE;
			else if (h.seq >= from || h.idx != idx)
				ret = fn(ctx, &g, &h);
		}
		if (ret == CN_OK && off != g.vlen)
			ret = CN_ERR_STORE;
	}
	if (ret == CN_OK && rc != 0 && rc != MDB_NOTFOUND)
		ret = store_error(&r->st, rc, "log scan");
	mdb_cursor_close(cur);
	return ret;
}

/* ---- writing ------------------------------------------------------------ */

/* Start w on group (idx, first) for entry e: a new record if e is the
 * group's first entry, else the stored one that e continues. */
static int writer_start(struct replica *r, MDB_txn *txn, struct log_writer *w,
			uint32_t idx, uint64_t first, const struct entry *e)
{
	struct log_group g;
	MDB_val v;
	void *p;
	int ret;

	w->idx = idx;
	w->first = first;
	w->dirty = false;
	if (e->seq == first) {
		struct bw b;
		if ((p = util_grow(w->buf, &w->cap, 64, 1)) == NULL)
			return CN_ERR_NOMEM;
		w->buf = p;
		b = (struct bw){w->buf, 0, w->cap, false};
		bw_u8(&b, 0); /* the count, set by log_flush() */
		bw_put(&b, e->prev, CN_KEY_LEN);
		bw_uv(&b, e->hlc);
		w->len = b.len;
		w->count = 0;
		w->base_hlc = e->hlc;
		w->stored = false;
		return CN_OK;
	}
	if ((ret = group_get(r, txn, idx, first, &v)) != CN_OK)
		return ret;
	if (log_group_parse(v.mv_data, v.mv_size, &g) != CN_OK)
		return CN_ERR_STORE;
	if ((p = util_grow(w->buf, &w->cap, v.mv_size, 1)) == NULL)
		return CN_ERR_NOMEM;
	w->buf = p;
	memcpy(w->buf, v.mv_data, v.mv_size);
	w->len = v.mv_size;
	w->count = g.count;
	w->base_hlc = g.base_hlc;
	w->stored = true;
	return CN_OK;
}

int log_append(struct replica *r, MDB_txn *txn, struct log_writer *w,
	       uint32_t idx, const struct entry *e, const uint8_t *sig)
{
	uint64_t first = log_group_first(e->seq);
	struct bw slot, head;
	size_t room = CN_ENTRY_MAX + 64;
	void *p;
	int ret;

	if (w->first != first || w->idx != idx) {
		if ((ret = log_flush(r, txn, w)) != CN_OK ||
		    (ret = writer_start(r, txn, w, idx, first, e)) != CN_OK)
			return ret;
	}
	if (e->seq != first + w->count)
		return CN_ERR_STORE;
	if ((p = util_grow(w->buf, &w->cap, w->len + 8 + room, 1)) == NULL)
		return CN_ERR_NOMEM;
	w->buf = p;
	/* Pack behind room for the length, then move it up to the length. */
	slot = (struct bw){w->buf + w->len + 8, 0, room, false};
	if (entry_pack(e, w->base_hlc, sig, &slot) != CN_OK)
		return CN_ERR_STORE;
	head = (struct bw){w->buf + w->len, 0, 8, false};
	bw_uv(&head, slot.len);
	memmove(w->buf + w->len + head.len, slot.p, slot.len);
	w->len += head.len + slot.len;
	w->count++;
	w->dirty = true;
	return CN_OK;
}

int log_flush(struct replica *r, MDB_txn *txn, struct log_writer *w)
{
	uint8_t k[12];
	int ret;

	if (!w->dirty)
		return CN_OK;
	w->buf[0] = (uint8_t)w->count;
	log_key(k, w->idx, w->first);
	/* The newest origin's log is the end of the table: its new groups
	 * append in key order. */
	ret = store_put(&r->st, txn, DB_LOG, k, sizeof k, w->buf, w->len,
			!w->stored && w->idx + 1 == r->norigins ? MDB_APPEND : 0);
	if (ret == CN_OK) {
		w->stored = true;
		w->dirty = false;
	}
	return ret;
}

void log_writer_free(struct log_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof *w);
}
