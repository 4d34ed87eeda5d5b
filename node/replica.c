/*
 * replica.c — opening a data dir, the shared record helpers, and every
 * read-only query.  The write path is in ingest.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "bytes.h"
#include "cbor_rw.h"
#include "edunum.h"
#include "hlc.h"
#include "replica_int.h"
#include "util.h"

/* ---- meta ------------------------------------------------------------ */

int meta_get_u64(struct replica *r, MDB_txn *txn, const char *key, uint64_t *v)
{
	MDB_val val;
	int ret = store_get(&r->st, txn, DB_META, key, strlen(key), &val);

	*v = 0;
	if (ret != CN_OK)
		return ret;
	if (val.mv_size != 8)
		return CN_ERR_STORE;
	*v = store_rd64(val.mv_data);
	return CN_OK;
}

int meta_put_u64(struct replica *r, MDB_txn *txn, const char *key, uint64_t v)
{
	uint8_t b[8];

	store_be64(b, v);
	return store_put(&r->st, txn, DB_META, key, strlen(key), b, 8, 0);
}

int meta_get_str(struct replica *r, MDB_txn *txn, const char *key, char *out,
		 size_t cap)
{
	MDB_val val;
	int ret = store_get(&r->st, txn, DB_META, key, strlen(key), &val);

	out[0] = '\0';
	if (ret != CN_OK)
		return ret;
	if (val.mv_size >= cap)
		return CN_ERR_STORE;
	memcpy(out, val.mv_data, val.mv_size);
	out[val.mv_size] = '\0';
	return CN_OK;
}

int meta_put_str(struct replica *r, MDB_txn *txn, const char *key,
		 const char *v)
{
	return store_put(&r->st, txn, DB_META, key, strlen(key), v, strlen(v), 0);
}

/* ---- origins --------------------------------------------------------- */

static void origin_decode(const uint8_t *p, struct origin_rec *o)
{
	memcpy(o->pk, p, CN_KEY_LEN);
	o->head = store_rd64(p + CN_KEY_LEN);
	memcpy(o->head_hash, p + CN_KEY_LEN + 8, CN_KEY_LEN);
	o->flags = p[CN_KEY_LEN + 8 + CN_KEY_LEN];
}

int origins_load(struct replica *r, MDB_txn *txn)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	r->norigins = 0;
	if ((rc = mdb_cursor_open(txn, r->st.dbi[DB_ORIGIN], &cur)) != 0)
		return store_error(&r->st, rc, "cursor");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 4 || v.mv_size != ORIGIN_REC_LEN ||
		    store_rd32(k.mv_data) != r->norigins) {
			mdb_cursor_close(cur);
			snprintf(r->st.err, sizeof r->st.err, "origin table is corrupt");
			return CN_ERR_STORE;
		}
		if (r->norigins == r->caporigins) {
			uint32_t ncap = r->caporigins ? r->caporigins * 2 : 64;
			void *p = realloc(r->origins, ncap * sizeof *r->origins);
			if (p == NULL) {
				mdb_cursor_close(cur);
				return CN_ERR_NOMEM;
			}
			r->origins = p;
			r->caporigins = ncap;
		}
		origin_decode(v.mv_data, &r->origins[r->norigins++]);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? CN_OK : store_error(&r->st, rc, "origins");
}

int64_t origin_find(const struct replica *r, const uint8_t pk[static CN_KEY_LEN])
{
	for (uint32_t i = 0; i < r->norigins; i++)
		if (memcmp(r->origins[i].pk, pk, CN_KEY_LEN) == 0)
			return i;
	return -1;
}

int origin_save(struct replica *r, MDB_txn *txn, uint32_t idx)
{
	const struct origin_rec *o = &r->origins[idx];
	uint8_t k[4], v[ORIGIN_REC_LEN];

	store_be32(k, idx);
	memcpy(v, o->pk, CN_KEY_LEN);
	store_be64(v + CN_KEY_LEN, o->head);
	memcpy(v + CN_KEY_LEN + 8, o->head_hash, CN_KEY_LEN);
	v[CN_KEY_LEN + 8 + CN_KEY_LEN] = o->flags;
	return store_put(&r->st, txn, DB_ORIGIN, k, sizeof k, v, sizeof v, 0);
}

int origin_add(struct replica *r, MDB_txn *txn, const uint8_t pk[static CN_KEY_LEN],
	       uint32_t *idx)
{
	uint8_t k[4];
	int ret;

	if (r->norigins == r->caporigins) {
		uint32_t ncap = r->caporigins ? r->caporigins * 2 : 64;
		void *p = realloc(r->origins, ncap * sizeof *r->origins);
		if (p == NULL)
			return CN_ERR_NOMEM;
		r->origins = p;
		r->caporigins = ncap;
	}
	*idx = r->norigins;
	memset(&r->origins[*idx], 0, sizeof r->origins[*idx]);
	memcpy(r->origins[*idx].pk, pk, CN_KEY_LEN);
	r->norigins++;
	store_be32(k, *idx);
	ret = store_put(&r->st, txn, DB_ORIGIN_PK, pk, CN_KEY_LEN, k, sizeof k,
			MDB_NOOVERWRITE);
	if (ret == CN_OK)
		ret = origin_save(r, txn, *idx);
	return ret;
}

/* Origin lookup for read-only calls: by pk through DB_ORIGIN_PK. */
static int origin_get(struct replica *r, MDB_txn *txn,
		      const uint8_t pk[static CN_KEY_LEN], uint32_t *idx,
		      struct origin_rec *o)
{
	MDB_val v;
	uint8_t k[4];
	int ret = store_get(&r->st, txn, DB_ORIGIN_PK, pk, CN_KEY_LEN, &v);

	if (ret != CN_OK)
		return ret;
	if (v.mv_size != 4)
		return CN_ERR_STORE;
	*idx = store_rd32(v.mv_data);
	store_be32(k, *idx);
	if ((ret = store_get(&r->st, txn, DB_ORIGIN, k, 4, &v)) != CN_OK)
		return ret;
	if (v.mv_size != ORIGIN_REC_LEN)
		return CN_ERR_STORE;
	origin_decode(v.mv_data, o);
	return CN_OK;
}

/* ---- records ---------------------------------------------------------- */

void srec_free(struct srec *rec)
{
	free(rec->refs);
	rec->refs = NULL;
	rec->nrefs = rec->caprefs = 0;
}

int srec_decode(const uint8_t *buf, size_t len, struct srec *rec)
{
	struct br r = {buf, len, 0, false};
	uint64_t slen, nrefs, newest;

	memset(rec, 0, sizeof *rec);
	slen = br_uv(&r);
	if (r.bad || slen > len - r.off)
		return CN_ERR_STORE;
	if (fold_state_decode(buf + r.off, (size_t)slen, &rec->st) != CN_OK)
		return CN_ERR_STORE;
	r.off += (size_t)slen;
	rec->newest_hlc = br_uv(&r);
	nrefs = br_uv(&r);
	if (r.bad || nrefs > len)
		return CN_ERR_STORE;
	rec->refs = malloc((nrefs ? nrefs : 1) * sizeof *rec->refs);
	if (rec->refs == NULL)
		return CN_ERR_NOMEM;
	rec->caprefs = (uint32_t)(nrefs ? nrefs : 1);
	for (uint64_t i = 0; i < nrefs; i++) {
		struct hist_ref *f = &rec->refs[i];
		f->idx = (uint32_t)br_uv(&r);
		if (i > 0 && f->idx == f[-1].idx)
			f->seq = f[-1].seq + br_zz(&r);
		else
			f->seq = br_uv(&r);
	}
	rec->nrefs = (uint32_t)nrefs;
	newest = br_uv(&r);
	if (newest == 0) {
		rec->newest_idx = (uint32_t)br_uv(&r);
		rec->newest_seq = br_uv(&r);
	} else if (newest <= nrefs) {
		rec->newest_idx = rec->refs[newest - 1].idx;
		rec->newest_seq = rec->refs[newest - 1].seq;
	} else {
		r.bad = true;
	}
	rec->has_newest = rec->newest_seq != 0;
	if (r.bad || r.off != len) {
		srec_free(rec);
		return CN_ERR_STORE;
	}
	return CN_OK;
}

int srec_load(struct replica *r, MDB_txn *txn, const char *edu_id,
	      struct srec *rec)
{
	MDB_val v;
	int ret = store_get(&r->st, txn, DB_STUDENT, edu_id, strlen(edu_id), &v);

	if (ret != CN_OK)
		return ret;
	return srec_decode(v.mv_data, v.mv_size, rec);
}

/* ---- the log ---------------------------------------------------------- */

int log_decode(const uint8_t *wire, size_t len, struct entry *e,
	       const uint8_t **sig)
{
	const uint8_t *payload, *s;
	size_t plen, used;
	const char *why;

	if (entry_wire_decode(wire, len, &payload, &plen, &s, &used, &why) != CN_OK ||
	    entry_decode(payload, plen, e, &why) != CN_OK)
		return CN_ERR_STORE;
	if (sig != NULL)
		*sig = s;
	return CN_OK;
}

/* Fold order needs each entry's origin key; hist_entry carries it in e. */
static int cmp_hist(const void *a, const void *b)
{
	const struct hist_entry *x = a, *y = b;

	return fold_order_cmp(x->e.hlc, x->e.origin, x->e.seq, y->e.hlc,
			      y->e.origin, y->e.seq);
}

int history_load(struct replica *r, MDB_txn *txn, const struct srec *rec,
		 struct hist_entry **out)
{
	struct hist_entry *h = malloc((rec->nrefs ? rec->nrefs : 1) * sizeof *h);

	*out = NULL;
	if (h == NULL)
		return CN_ERR_NOMEM;
	for (uint32_t i = 0; i < rec->nrefs; i++) {
		int ret = log_entry(r, txn, rec->refs[i].idx, rec->refs[i].seq,
				    &h[i].e, &h[i].signed_);
		if (ret != CN_OK) {
			free(h);
			return ret;
		}
		h[i].e.body.vv = NULL; /* points into the map; not kept */
		h[i].idx = rec->refs[i].idx;
	}
	qsort(h, rec->nrefs, sizeof *h, cmp_hist);
	*out = h;
	return (int)rec->nrefs;
}

/* ---- opening ----------------------------------------------------------- */

int authority_reload(struct replica *r, MDB_txn *txn)
{
	struct authority *a;
	MDB_txn *own = NULL;
	size_t counts[2] = {0, 0};
	int ret = authority_new(r->info.root_pub, &a);

	if (ret != CN_OK)
		return ret;
	if (txn == NULL) {
		if ((ret = store_begin(&r->st, false, &own)) != CN_OK) {
			authority_free(a);
			return ret;
		}
		txn = own;
	}
	for (int pass = 0; pass < 2 && ret == CN_OK; pass++) {
		MDB_cursor *cur;
		MDB_val k, v;
		int rc = mdb_cursor_open(txn, r->st.dbi[pass ? DB_REVS : DB_CERTS], &cur);
		if (rc != 0) {
			ret = store_error(&r->st, rc, "cursor");
			break;
		}
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			const char *why;
			struct cert c;
			struct revocation rv;
			counts[pass]++;
			if (pass == 0 &&
			    authority_cert_open(v.mv_data, v.mv_size, r->info.root_pub, &c, &why) == CN_OK)
				authority_add_cert(a, &c);
			if (pass == 1 &&
			    authority_revocation_open(v.mv_data, v.mv_size, r->info.root_pub, &rv, &why) == CN_OK)
				authority_add_revocation(a, &rv);
		}
		mdb_cursor_close(cur);
	}
	if (own != NULL)
		mdb_txn_abort(own);
	if (ret != CN_OK) {
		authority_free(a);
		return ret;
	}
	authority_free(r->auth);
	r->auth = a;
	r->auth_ncerts = counts[0];
	r->auth_nrevs = counts[1];
	r->fenv.authorize = authority_authorize;
	r->fenv.ctx = a;
	{
		const struct cert *c = authority_cert_of(a, r->info.node, util_now_ms());
		uint64_t now = util_now_ms();
		r->info.has_cert = c != NULL && now >= c->not_before &&
				   now <= c->not_after &&
				   authority_revoked_after(a, r->info.node) == UINT64_MAX;
	}
	return CN_OK;
}

int authority_refresh(struct replica *r, MDB_txn *txn)
{
	MDB_stat c, v;
	int rc;

	if ((rc = mdb_stat(txn, r->st.dbi[DB_CERTS], &c)) != 0 ||
	    (rc = mdb_stat(txn, r->st.dbi[DB_REVS], &v)) != 0)
		return store_error(&r->st, rc, "stat");
	if (c.ms_entries == r->auth_ncerts && v.ms_entries == r->auth_nrevs)
		return CN_OK;
	return authority_reload(r, txn);
}

static int read_hex_file(const char *dir, const char *name, uint8_t *out,
			 size_t n, bool private_, char *err, size_t errlen)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	return datadir_read_hex(path, out, n, private_, err, errlen);
}

static void derive_key(const uint8_t secret[static CN_KEY_LEN],
		       const char *label, uint8_t out[static CN_KEY_LEN])
{
	crypto_generichash(out, CN_KEY_LEN, (const uint8_t *)label,
			   strlen(label), secret, CN_KEY_LEN);
}

static int load_meta(struct replica *r, MDB_txn *txn)
{
	char role[16], profile[16], inst[33];
	uint64_t fmt = 0;

	meta_get_u64(r, txn, META_FORMAT, &fmt);
	if (fmt != STORE_FORMAT) {
		snprintf(r->st.err, sizeof r->st.err,
			 "its store format is %llu, and this version reads only "
			 "format %d (nothing converts a data dir: create a new "
			 "one with 'cardctl init' and import the log again)",
			 (unsigned long long)fmt, STORE_FORMAT);
		return CN_ERR_STORE;
	}
	meta_get_str(r, txn, META_NAME, r->info.name, sizeof r->info.name);
	meta_get_str(r, txn, META_SCOPE, r->info.scope, sizeof r->info.scope);
	meta_get_str(r, txn, META_TZ, r->info.timezone, sizeof r->info.timezone);
	meta_get_str(r, txn, META_ROLE, role, sizeof role);
	meta_get_str(r, txn, META_PROFILE, profile, sizeof profile);
	meta_get_str(r, txn, META_INSTANCE, inst, sizeof inst);
	if (authority_role_parse(role, &r->info.role) != CN_OK)
		r->info.role = ROLE_NONE;
	if (policy_profile_parse(profile, &r->info.profile) != CN_OK)
		r->info.profile = PROFILE_GENERIC;
	util_hex_decode(inst, r->info.instance, sizeof r->info.instance);
	return CN_OK;
}

int replica_open(const char *dir, unsigned flags, struct replica **out,
		 char *err, size_t errlen)
{
	struct replica *r = calloc(1, sizeof *r);
	uint8_t secret[CN_KEY_LEN];
	MDB_txn *txn = NULL;
	bool copy = flags & REPLICA_COPY, pending = false;
	struct stat sb;
	int ret;

	*out = NULL;
	err[0] = '\0';
	if (r == NULL)
		return CN_ERR_NOMEM;
	r->bulk_lock = -1;
	if (sodium_init() < 0) {
		free(r);
		return CN_ERR_IO;
	}
	r->flags = flags;
	snprintf(r->dir, sizeof r->dir, "%s", dir);
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s is not a data directory (create one with "
			 "'cardctl init')", dir);
		free(r);
		return CN_ERR_NOTFOUND;
	}
	if (!copy && (sb.st_mode & 077)) {
		snprintf(err, errlen, "data directory %s is open to group or others; "
			 "fix it with: chmod 700 %s", dir, dir);
		free(r);
		return CN_ERR_PERM;
	}
	ret = read_hex_file(dir, FILE_ROOT_PUB, r->info.root_pub, CN_KEY_LEN,
			    false, err, errlen);
	if (ret == CN_OK && !copy) {
		char path[PATH_MAX + 32];

		snprintf(path, sizeof path, "%s/%s", dir, FILE_IDENTITY);
		if (stat(path, &sb) != 0 && errno == ENOENT) {
			snprintf(path, sizeof path, "%s/%s", dir, FILE_SECRET);
			if (stat(path, &sb) != 0 && errno == ENOENT) {
				snprintf(err, errlen, "%s holds no identity key and no "
					 "deployment secret: a backup or a copy of a "
					 "data directory.  Read it from a node with "
					 "'cardctl diff %s' or 'cardctl merge %s'; to "
					 "restore it, 'cardctl init' a new node and "
					 "merge it (docs/operations.md)", dir, dir, dir);
				free(r);
				return CN_ERR_NOTFOUND;
			}
		}
		ret = read_hex_file(dir, FILE_SECRET, secret, CN_KEY_LEN, true,
				    err, errlen);
		if (ret == CN_OK) {
			derive_key(secret, "cardnode-id-digest-v1", r->id_key);
			derive_key(secret, "cardnode-network-key-v1", r->net_key);
			derive_key(secret, "cardnode-card-master-v1", r->card_key);
			derive_key(secret, "cardnode-edu-card-number-v1",
				   r->num_key);
			r->has_secret = true;
			sodium_memzero(secret, sizeof secret);
		}
	}
	if (ret == CN_OK && !copy) {
		ret = read_hex_file(dir, FILE_IDENTITY, r->sk, sizeof r->sk, true,
				    err, errlen);
		r->has_sk = ret == CN_OK;
		r->info.has_identity = r->has_sk;
	}
	if (ret != CN_OK)
		goto fail;
	ret = store_open(&r->st, dir, flags & REPLICA_RDONLY, copy, false);
	if (ret != CN_OK) {
		snprintf(err, errlen, "cannot open the database in %s: %s", dir,
			 r->st.err);
		goto fail;
	}
	if ((ret = store_begin(&r->st, false, &txn)) != CN_OK ||
	    (ret = load_meta(r, txn)) != CN_OK ||
	    (ret = origins_load(r, txn)) != CN_OK) {
		snprintf(err, errlen, "cannot read %s: %s", dir, r->st.err);
		if (txn)
			mdb_txn_abort(txn);
		goto fail;
	}
	if (r->has_sk)
		memcpy(r->info.node, r->sk + 32, CN_KEY_LEN);
	else if (r->norigins > 0 || copy) {
		char hex[65];
		if (meta_get_str(r, txn, "node", hex, sizeof hex) == CN_OK)
			util_hex_decode(hex, r->info.node, CN_KEY_LEN);
	}
	ret = authority_reload(r, txn);
	pending = !copy && replica_rebuild_pending(r, txn);
	mdb_txn_abort(txn);
	if (ret != CN_OK) {
		snprintf(err, errlen, "cannot load certificates: %s", r->st.err);
		goto fail;
	}
	if (pending && bulk_lock(r) == CN_ERR_EXISTS) {
		/* A bulk import is under way in another process (a node
		 * bootstrapping): it rebuilds the tables itself when it ends.
		 * Until then they lag the log; leave them alone. */
		pending = false;
	}
	if (pending) {
		/* A bulk import was cut short: the student, card, UID, hotlist
		 * and refused tables lag the log.  Rebuild them before anyone
		 * reads them, through a writable handle if need be. */
		bool rdonly = flags & REPLICA_RDONLY;
		if (rdonly) {
			store_close(&r->st);
			ret = store_open(&r->st, dir, false, false, false);
		}
		if (ret == CN_OK)
			ret = replica_rebuild(r, NULL);
		if (ret != CN_OK)
			snprintf(err, errlen, "%s holds an interrupted bulk import and "
				 "rebuilding its tables failed: %s (open it writable "
				 "to retry)", dir, r->st.err[0] ? r->st.err : cn_strerror(ret));
		if (rdonly) {
			int ret2;
			store_close(&r->st);
			ret2 = store_open(&r->st, dir, true, false, false);
			if (ret == CN_OK)
				ret = ret2;
		}
		bulk_unlock(r);
		if (ret != CN_OK)
			goto fail;
	}
	*out = r;
	return CN_OK;
fail:
	replica_close(r);
	return ret;
}

int bulk_lock(struct replica *r)
{
	char path[PATH_MAX + 16];
	int fd;

	if (r->bulk_lock >= 0)
		return CN_OK;
	snprintf(path, sizeof path, "%s/bulk.lock", r->dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return CN_ERR_IO;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		close(fd);
		return e == EWOULDBLOCK ? CN_ERR_EXISTS : CN_ERR_IO;
	}
	r->bulk_lock = fd;
	return CN_OK;
}

void bulk_unlock(struct replica *r)
{
	if (r->bulk_lock >= 0) {
		close(r->bulk_lock); /* releases the flock */
		r->bulk_lock = -1;
	}
}

void replica_close(struct replica *r)
{
	if (r == NULL)
		return;
	if (r->rtxn != NULL)
		mdb_txn_abort(r->rtxn);
	r->rtxn = NULL;
	bulk_unlock(r);
	store_close(&r->st);
	authority_free(r->auth);
	free(r->origins);
	log_cache_free(r);
	bulk_scratch_free(r);
	sodium_memzero(r->sk, sizeof r->sk);
	sodium_memzero(r->id_key, sizeof r->id_key);
	sodium_memzero(r->net_key, sizeof r->net_key);
	sodium_memzero(r->card_key, sizeof r->card_key);
	sodium_memzero(r->num_key, sizeof r->num_key);
	free(r);
}

void replica_info(const struct replica *r, struct replica_info *out)
{
	*out = r->info;
}

const struct authority *replica_authority(const struct replica *r)
{
	return r->auth;
}

const char *replica_last_error(const struct replica *r)
{
	return r->st.err[0] ? r->st.err : "no error";
}

int replica_sign(struct replica *r, const uint8_t *msg, size_t len,
		 uint8_t sig[static CN_SIG_LEN])
{
	if (!r->has_sk)
		return CN_ERR_PERM;
	crypto_sign_detached(sig, NULL, msg, len, r->sk);
	return CN_OK;
}

int replica_card_master_key(const struct replica *r,
			    uint8_t out[static CN_KEY_LEN])
{
	if (!r->has_secret)
		return CN_ERR_PERM;
	memcpy(out, r->card_key, CN_KEY_LEN);
	return CN_OK;
}

int replica_network_key(const struct replica *r, uint8_t out[static CN_KEY_LEN])
{
	if (!r->has_secret)
		return CN_ERR_PERM;
	memcpy(out, r->net_key, CN_KEY_LEN);
	return CN_OK;
}

struct own_cert {
	const struct replica *r;
	uint64_t now, serial;
	uint8_t *buf;
	size_t cap, len;
	bool found;
};

static int own_cert_cb(void *ctx, const uint8_t *buf, size_t len)
{
	struct own_cert *o = ctx;
	struct cert c;
	const char *why;

	if (authority_cert_open(buf, len, o->r->info.root_pub, &c, &why) != CN_OK ||
	    memcmp(c.node, o->r->info.node, CN_KEY_LEN) != 0 ||
	    o->now < c.not_before || o->now > c.not_after ||
	    (o->found && c.serial <= o->serial))
		return 0;
	if (len > o->cap)
		return CN_ERR_TOOBIG;
	memcpy(o->buf, buf, len);
	o->len = len;
	o->serial = c.serial;
	o->found = true;
	return 0;
}

int replica_own_cert(struct replica *r, uint64_t now_ms, uint8_t *buf,
		     size_t cap, size_t *len)
{
	struct own_cert o = {.r = r, .now = now_ms, .buf = buf, .cap = cap};
	int ret = replica_certs_walk(r, own_cert_cb, &o);

	if (ret != CN_OK)
		return ret;
	if (!o.found)
		return CN_ERR_NOTFOUND;
	*len = o.len;
	return CN_OK;
}

void replica_id_digest(const struct replica *r, const char *number,
		       uint8_t out[static CN_KEY_LEN])
{
	char norm[64];
	size_t n = 0;

	/* Upper-case, without blanks: "11010519491231002x " and
	 * "11010519491231002X" are one person. */
	for (const char *p = number; *p && n < sizeof norm - 1; p++) {
		if (*p == ' ' || *p == '\t' || *p == '-')
			continue;
		norm[n++] = (*p >= 'a' && *p <= 'z') ? (char)(*p - 32) : *p;
	}
	crypto_generichash(out, CN_KEY_LEN, (const uint8_t *)norm, n, r->id_key,
			   CN_KEY_LEN);
	sodium_memzero(norm, sizeof norm);
}

int replica_edu_number(const struct replica *r, const char *idnum,
		       char out[static 20], const char **why)
{
	uint64_t m;

	out[0] = '\0';
	*why = NULL;
	if (!r->has_secret) {
		*why = "this data directory holds no deployment secret";
		return CN_ERR_PERM;
	}
	if ((*why = edunum_index(idnum, &m)) != NULL)
		return CN_ERR_INVAL;
	edunum_make(r->num_key, m, out);
	return CN_OK;
}

/* ---- read transactions ------------------------------------------------- */

static int rd_begin(struct replica *r, MDB_txn **txn)
{
	int rc;

	if (r->st.view) {
		/* Another thread's view: under the remap lock. */
		rc = store_view_begin(&r->st, &r->rtxn, r->rtxn != NULL);
		if (rc != CN_OK && r->rtxn != NULL) {
			mdb_txn_abort(r->rtxn);
			r->rtxn = NULL;
			rc = store_view_begin(&r->st, &r->rtxn, false);
		}
		*txn = r->rtxn;
		return rc;
	}
	if (r->rtxn != NULL) {
		rc = mdb_txn_renew(r->rtxn);
		if (rc == 0) {
			*txn = r->rtxn;
			return CN_OK;
		}
		mdb_txn_abort(r->rtxn);
		r->rtxn = NULL;
	}
	if ((rc = store_begin(&r->st, false, &r->rtxn)) != CN_OK)
		return rc;
	*txn = r->rtxn;
	return CN_OK;
}

static void rd_end(struct replica *r)
{
	if (r->rtxn != NULL && r->st.view)
		store_view_end(&r->st, r->rtxn);
	else if (r->rtxn != NULL)
		mdb_txn_reset(r->rtxn);
}

int replica_view_open(struct replica *base, struct replica **out)
{
	struct replica *v;

	*out = NULL;
	if (base->st.remap == NULL)
		return CN_ERR_INVAL; /* a copied data dir has no views */
	if ((v = calloc(1, sizeof *v)) == NULL)
		return CN_ERR_NOMEM;
	v->bulk_lock = -1;
	memcpy(v->dir, base->dir, sizeof v->dir);
	v->flags = REPLICA_RDONLY;
	store_view(&base->st, &v->st);
	v->info = base->info;
	v->info.has_identity = false;
	*out = v;
	return CN_OK;
}

/* ---- changes by any process -------------------------------------------- */

bool replica_changed(struct replica *r)
{
	MDB_txn *txn;
	size_t id;

	/* The id of the snapshot a read transaction sees, not the newest
	 * meta page (mdb_env_info): a writer in another process writes its
	 * meta page before it publishes the transaction to readers, so a
	 * change seen there could be missed by the reads that follow and
	 * never be reported again. */
	if (rd_begin(r, &txn) != CN_OK)
		return true;
	id = mdb_txn_id(txn);
	if (r->seen_txnid != 0 && id == r->seen_txnid) {
		rd_end(r);
		return false;
	}
	r->seen_txnid = id;
	/* Another process may have installed certificates or revocations. */
	(void)authority_refresh(r, txn);
	rd_end(r);
	return true;
}

int replica_blob_counts(struct replica *r, size_t *certs, size_t *revs)
{
	MDB_txn *txn;
	MDB_stat c, v;
	int rc, ret = rd_begin(r, &txn);

	if (ret != CN_OK)
		return ret;
	if ((rc = mdb_stat(txn, r->st.dbi[DB_CERTS], &c)) != 0 ||
	    (rc = mdb_stat(txn, r->st.dbi[DB_REVS], &v)) != 0)
		ret = store_error(&r->st, rc, "stat");
	rd_end(r);
	if (ret == CN_OK) {
		*certs = c.ms_entries;
		*revs = v.ms_entries;
	}
	return ret;
}

/* ---- city watermark ----------------------------------------------------- */

int watermark_raise(struct replica *r, MDB_txn *txn, uint64_t time_ms)
{
	uint64_t cur = 0;

	meta_get_u64(r, txn, META_WATERMARK, &cur);
	return time_ms > cur ? meta_put_u64(r, txn, META_WATERMARK, time_ms) : CN_OK;
}

int replica_watermark(struct replica *r, uint64_t *time_ms)
{
	MDB_txn *txn;
	int ret = rd_begin(r, &txn);

	*time_ms = 0;
	if (ret != CN_OK)
		return ret;
	ret = meta_get_u64(r, txn, META_WATERMARK, time_ms);
	rd_end(r);
	return ret;
}

struct wm_vv {
	struct cbor_wr *w;
	size_t left;
};

static int wm_vv_cb(void *ctx, const uint8_t origin[CN_KEY_LEN], uint64_t seq)
{
	struct wm_vv *m = ctx;

	if (m->left == 0)
		return 1;
	m->left--;
	cbw_bstr(m->w, origin, CN_KEY_LEN);
	cbw_uint(m->w, seq);
	return 0;
}

static int count_cb(void *ctx, const uint8_t origin[CN_KEY_LEN], uint64_t seq)
{
	(void)origin;
	(void)seq;
	++*(size_t *)ctx;
	return 0;
}

int replica_watermark_author(struct replica *r, uint64_t now_ms)
{
	struct cbor_wr w;
	struct entry e;
	struct wm_vv m = {&w, 0};
	enum fold_reason why;
	size_t n = 0, len, bad;
	uint8_t *vv;
	int ret = replica_vv(r, count_cb, &n);

	if (ret != CN_OK)
		return ret;
	if (n > ENTRY_VV_MAX)
		n = ENTRY_VV_MAX;
	m.left = n;
	cbw_init_grow(&w);
	cbw_map(&w, n);
	ret = replica_vv(r, wm_vv_cb, &m);
	if (ret == 1)
		ret = CN_OK;
	vv = cbw_take(&w, &len);
	if (ret == CN_OK && (vv == NULL || m.left != 0))
		ret = vv == NULL ? CN_ERR_NOMEM : CN_ERR_INVAL; /* the log moved */
	if (ret == CN_OK) {
		memset(&e, 0, sizeof e);
		e.op = OP_CITY_WATERMARK;
		e.body.has = BF(BK_VV) | BF(BK_TIME);
		e.body.vv = vv;
		e.body.vv_len = len;
		e.body.time = now_ms;
		ret = replica_author(r, &e, 1, &bad, &why);
	}
	free(vv);
	return ret;
}

/* ---- queries ----------------------------------------------------------- */

static int cmp_origin_pk(const void *a, const void *b)
{
	return memcmp(((const struct origin_rec *)a)->pk,
		      ((const struct origin_rec *)b)->pk, CN_KEY_LEN);
}

int replica_vv(struct replica *r, replica_vv_cb cb, void *ctx)
{
	MDB_txn *txn;
	struct origin_rec *o;
	uint32_t n;
	int ret = rd_begin(r, &txn);

	if (ret != CN_OK)
		return ret;
	ret = origins_load(r, txn);
	rd_end(r);
	if (ret != CN_OK)
		return ret;
	/* Callbacks may call back into the replica: walk a copy. */
	n = r->norigins;
	o = malloc((n ? n : 1) * sizeof *o);
	if (o == NULL)
		return CN_ERR_NOMEM;
	if (n > 0)
		memcpy(o, r->origins, n * sizeof *o);
	qsort(o, n, sizeof *o, cmp_origin_pk);
	for (uint32_t i = 0; i < n && ret == 0; i++)
		if (o[i].head > 0)
			ret = cb(ctx, o[i].pk, o[i].head);
	free(o);
	return ret;
}

uint64_t replica_head(struct replica *r, const uint8_t origin[static CN_KEY_LEN])
{
	MDB_txn *txn;
	struct origin_rec o;
	uint32_t idx;
	uint64_t head = 0;

	if (rd_begin(r, &txn) != CN_OK)
		return 0;
	if (origin_get(r, txn, origin, &idx, &o) == CN_OK)
		head = o.head;
	rd_end(r);
	return head;
}

/* replica_log_walk()'s callback, through log_scan(). */
struct walk_ctx {
	replica_entry_cb cb;
	void *ctx;
};

static int walk_entry(void *ctx, uint64_t seq, const uint8_t *wire, size_t len,
		      const uint8_t hash[static CN_KEY_LEN])
{
	struct walk_ctx *w = ctx;

	(void)hash;
	return w->cb(w->ctx, seq, wire, len);
}

int replica_log_walk(struct replica *r, const uint8_t origin[static CN_KEY_LEN],
		     uint64_t from, uint64_t to, replica_entry_cb cb, void *ctx)
{
	struct walk_ctx w = {cb, ctx};
	struct origin_rec o;
	MDB_txn *txn;
	uint32_t idx;
	uint64_t at;
	int ret;

	/* A walk of its own transaction: callbacks may use the replica. */
	if ((ret = store_begin(&r->st, false, &txn)) != CN_OK)
		return ret;
	ret = origin_get(r, txn, origin, &idx, &o);
	if (ret == CN_OK) {
		if (to == 0 || to > o.head)
			to = o.head;
		if (from == 0)
			from = 1;
		if (from <= to)
			ret = log_scan(r, txn, idx, from, to, walk_entry, &w, &at);
	}
	mdb_txn_abort(txn);
	return ret == CN_ERR_MALFORMED ? CN_ERR_STORE : ret;
}

/* Visit every record of `db` in key order, in a read transaction of the
 * walk's own (callbacks may use the replica).  A non-zero return from fn
 * stops the walk and is returned. */
typedef int (*kv_fn)(struct replica *r, MDB_txn *txn, const MDB_val *k,
		     const MDB_val *v, void *ctx);

static int db_walk(struct replica *r, enum store_db db, kv_fn fn, void *ctx)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, ret;

	if ((ret = store_begin(&r->st, false, &txn)) != CN_OK)
		return ret;
	if ((ret = origins_load(r, txn)) != CN_OK) {
		mdb_txn_abort(txn);
		return ret;
	}
	if ((rc = mdb_cursor_open(txn, r->st.dbi[db], &cur)) != 0) {
		mdb_txn_abort(txn);
		return store_error(&r->st, rc, "cursor");
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && ret == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		ret = fn(r, txn, &k, &v, ctx);
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return ret;
}

/* A caller's callback and its context, carried through db_walk(). */
struct cb_ctx {
	union {
		replica_blob_cb blob;
		replica_log_cb log;
		replica_fork_cb fork;
		replica_student_cb student;
		replica_hot_cb hot;
	} cb;
	void *ctx;
};

static int blob_kv(struct replica *r, MDB_txn *txn, const MDB_val *k,
		   const MDB_val *v, void *ctx)
{
	struct cb_ctx *c = ctx;

	(void)r, (void)txn, (void)k;
	return c->cb.blob(c->ctx, v->mv_data, v->mv_size);
}

static int walk_db(struct replica *r, enum store_db db, replica_blob_cb cb,
		   void *ctx)
{
	struct cb_ctx c = {.cb.blob = cb, .ctx = ctx};

	return db_walk(r, db, blob_kv, &c);
}

int replica_certs_walk(struct replica *r, replica_blob_cb cb, void *ctx)
{
	return walk_db(r, DB_CERTS, cb, ctx);
}

int replica_revocations_walk(struct replica *r, replica_blob_cb cb, void *ctx)
{
	return walk_db(r, DB_REVS, cb, ctx);
}

static int student_in(struct replica *r, MDB_txn *txn, const char *edu_id,
		      struct student_state *out)
{
	MDB_val v;
	struct br br;
	uint64_t slen;
	int ret = store_get(&r->st, txn, DB_STUDENT, edu_id, strlen(edu_id), &v);

	if (ret != CN_OK)
		return ret;
	/* Only the state is needed: skip decoding the refs. */
	br = (struct br){v.mv_data, v.mv_size, 0, false};
	slen = br_uv(&br);
	if (br.bad || slen > v.mv_size - br.off)
		return CN_ERR_STORE;
	return fold_state_decode((const uint8_t *)v.mv_data + br.off, (size_t)slen, out) ?
	       CN_ERR_STORE : CN_OK;
}

int replica_student(struct replica *r, const char *edu_id,
		    struct student_state *out)
{
	MDB_txn *txn;
	int ret;

	if (!entry_edu_id_valid(edu_id))
		return CN_ERR_NOTFOUND;
	if ((ret = rd_begin(r, &txn)) != CN_OK)
		return ret;
	ret = student_in(r, txn, edu_id, out);
	rd_end(r);
	return ret;
}

/* The first student (in edu_id order) whose state holds card_no. */
static int card_in(struct replica *r, MDB_txn *txn, const char *card_no,
		   struct student_state *st, int *idx)
{
	MDB_cursor *cur;
	MDB_val k = {strlen(card_no), (void *)card_no}, v;
	int rc, ret = CN_ERR_NOTFOUND;

	if ((rc = mdb_cursor_open(txn, r->st.dbi[DB_CARD], &cur)) != 0)
		return store_error(&r->st, rc, "cursor");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
		char edu[CN_EDU_ID_MAX + 1];
		if (v.mv_size > CN_EDU_ID_MAX)
			continue;
		memcpy(edu, v.mv_data, v.mv_size);
		edu[v.mv_size] = '\0';
		if (student_in(r, txn, edu, st) != CN_OK)
			continue;
		for (int i = 0; i < st->ncards; i++) {
			if (strcmp(st->cards[i].card, card_no) == 0) {
				*idx = i;
				ret = CN_OK;
				break;
			}
		}
		if (ret == CN_OK)
			break;
	}
	mdb_cursor_close(cur);
	return ret;
}

int replica_card(struct replica *r, const char *card_no,
		 struct student_state *st, int *idx)
{
	MDB_txn *txn;
	int ret;

	if (!entry_card_no_valid(card_no))
		return CN_ERR_NOTFOUND;
	if ((ret = rd_begin(r, &txn)) != CN_OK)
		return ret;
	ret = card_in(r, txn, card_no, st, idx);
	rd_end(r);
	return ret;
}

int replica_find_idd(struct replica *r, const uint8_t idd[static CN_KEY_LEN],
		     char (*out)[CN_EDU_ID_MAX + 1], int max)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, found = 0, ret;

	/* A scan: a service window asks this a few times a day. */
	if ((ret = rd_begin(r, &txn)) != CN_OK)
		return ret;
	if ((rc = mdb_cursor_open(txn, r->st.dbi[DB_STUDENT], &cur)) != 0) {
		rd_end(r);
		return store_error(&r->st, rc, "cursor");
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && found < max;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct srec rec;
		if (srec_decode(v.mv_data, v.mv_size, &rec) != CN_OK)
			continue;
		if (rec.st.has_idd && sodium_memcmp(rec.st.idd, idd, CN_KEY_LEN) == 0)
			snprintf(out[found++], CN_EDU_ID_MAX + 1, "%s", rec.st.edu_id);
		srec_free(&rec);
	}
	mdb_cursor_close(cur);
	rd_end(r);
	return found;
}

static void check_fill(struct replica *r, const struct student_state *st,
		       const struct card_state *c, uint64_t at_ms,
		       struct check_result *out)
{
	struct policy_card pc;

	fold_policy_card(c, &pc);
	out->decision = policy_decide(r->info.profile, &pc,
				      policy_local_date(at_ms, NULL));
	snprintf(out->card, sizeof out->card, "%s", c->card);
	snprintf(out->edu_id, sizeof out->edu_id, "%s", st->edu_id);
	snprintf(out->school, sizeof out->school, "%s", st->school);
}

int replica_check_card(struct replica *r, const char *card_no, uint64_t at_ms,
		       struct check_result *out)
{
	struct student_state st;
	int idx, ret;

	memset(out, 0, sizeof *out);
	out->decision = DEC_UNKNOWN;
	ret = replica_card(r, card_no, &st, &idx);
	if (ret == CN_ERR_NOTFOUND)
		return CN_OK;
	if (ret != CN_OK)
		return ret;
	out->candidates = 1;
	check_fill(r, &st, &st.cards[idx], at_ms, out);
	return CN_OK;
}

int replica_check_uid(struct replica *r, const uint8_t *uid, size_t uid_len,
		      uint64_t at_ms, struct check_result *out)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k = {uid_len, (void *)uid}, v;
	struct student_state st, hit;
	int rc, ret, hit_idx = -1, live = 0;

	memset(out, 0, sizeof *out);
	out->decision = DEC_UNKNOWN;
	if (!entry_uid_len_valid(uid_len))
		return CN_OK;
	if ((ret = rd_begin(r, &txn)) != CN_OK)
		return ret;
	if ((rc = mdb_cursor_open(txn, r->st.dbi[DB_UID], &cur)) != 0) {
		rd_end(r);
		return store_error(&r->st, rc, "cursor");
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
		char card[CN_CARD_NO_MAX + 1];
		int idx;
		if (v.mv_size > CN_CARD_NO_MAX)
			continue;
		memcpy(card, v.mv_data, v.mv_size);
		card[v.mv_size] = '\0';
		if (card_in(r, txn, card, &st, &idx) != CN_OK)
			continue;
		if (st.cards[idx].uid_len != uid_len ||
		    memcmp(st.cards[idx].uid, uid, uid_len) != 0)
			continue;
		/* Several cards may share a 4-byte NUID.  Cancelled and
		 * replaced cards are history: the one live card decides. */
		out->candidates++;
		if (st.cards[idx].terminal == TERMINAL_NONE)
			live++;
		if (hit_idx < 0 || (st.cards[idx].terminal == TERMINAL_NONE &&
				    hit.cards[hit_idx].terminal != TERMINAL_NONE)) {
			hit = st;
			hit_idx = idx;
		}
	}
	mdb_cursor_close(cur);
	rd_end(r);
	if (out->candidates >= 1 && live <= 1)
		check_fill(r, &hit, &hit.cards[hit_idx], at_ms, out);
	if (live > 1)
		out->decision = DEC_AMBIGUOUS;
	return CN_OK;
}

/* The verdict of one stored entry: applied unless the refused table says
 * otherwise. */
static enum fold_reason verdict_of(struct replica *r, MDB_txn *txn,
				   uint32_t idx, uint64_t seq)
{
	uint8_t k[12];
	MDB_val v;

	store_be32(k, idx);
	store_be64(k + 4, seq);
	if (store_get(&r->st, txn, DB_REFUSED, k, sizeof k, &v) == CN_OK &&
	    v.mv_size >= 1)
		return (enum fold_reason)((const uint8_t *)v.mv_data)[0];
	return FR_APPLIED;
}

int replica_history(struct replica *r, const char *edu_id, replica_log_cb cb,
		    void *ctx)
{
	struct hist_entry *h = NULL;
	struct srec rec;
	MDB_txn *txn;
	int n, ret;

	if (!entry_edu_id_valid(edu_id))
		return CN_ERR_NOTFOUND;
	if ((ret = store_begin(&r->st, false, &txn)) != CN_OK)
		return ret;
	ret = srec_load(r, txn, edu_id, &rec);
	if (ret != CN_OK) {
		mdb_txn_abort(txn);
		return ret;
	}
	n = history_load(r, txn, &rec, &h);
	if (n < 0) {
		ret = n;
		n = 0;
	}
	for (int i = 0; i < n && ret == 0; i++) {
		struct log_item it = {.e = h[i].e, .signed_ = h[i].signed_};
		it.reason = verdict_of(r, txn, h[i].idx, h[i].e.seq);
		ret = cb(ctx, &it);
	}
	mdb_txn_abort(txn);
	free(h);
	srec_free(&rec);
	return ret;
}

/* One log entry as a log item, with its verdict, to cb. */
static int log_item_to(struct replica *r, MDB_txn *txn, uint32_t idx,
		       uint64_t seq, const uint8_t *wire, size_t len,
		       replica_log_cb cb, void *ctx)
{
	struct log_item it;
	const uint8_t *sig;

	if (log_decode(wire, len, &it.e, &sig) != CN_OK)
		return CN_ERR_STORE;
	it.e.body.vv = NULL;
	it.signed_ = sig != NULL;
	it.reason = verdict_of(r, txn, idx, seq);
	return cb(ctx, &it);
}

/* One record of the refused table: the log entry it names. */
static int refused_kv(struct replica *r, MDB_txn *txn, const MDB_val *k,
		      const MDB_val *v, void *ctx)
{
	struct cb_ctx *c = ctx;
	const uint8_t *wire;
	size_t len;
	uint32_t idx;
	uint64_t seq;

	(void)v;
	if (k->mv_size != 12)
		return 0;
	idx = store_rd32(k->mv_data);
	seq = store_rd64((uint8_t *)k->mv_data + 4);
	if (log_get(r, txn, idx, seq, &wire, &len, NULL) != CN_OK)
		return 0;
	return log_item_to(r, txn, idx, seq, wire, len, c->cb.log, c->ctx);
}

int replica_refused(struct replica *r, replica_log_cb cb, void *ctx)
{
	struct cb_ctx c = {.cb.log = cb, .ctx = ctx};

	return db_walk(r, DB_REFUSED, refused_kv, &c);
}

/* replica_log_all()'s walk of one origin, through log_scan(). */
struct item_ctx {
	struct replica *r;
	MDB_txn *txn;
	uint32_t idx;
	replica_log_cb cb;
	void *ctx;
};

static int item_entry(void *ctx, uint64_t seq, const uint8_t *wire, size_t len,
		      const uint8_t hash[static CN_KEY_LEN])
{
	struct item_ctx *c = ctx;

	(void)hash;
	return log_item_to(c->r, c->txn, c->idx, seq, wire, len, c->cb, c->ctx);
}

int replica_log_all(struct replica *r, replica_log_cb cb, void *ctx)
{
	struct item_ctx c = {.r = r, .cb = cb, .ctx = ctx};
	uint64_t at;
	int ret;

	/* A walk of its own transaction: callbacks may use the replica. */
	if ((ret = store_begin(&r->st, false, &c.txn)) != CN_OK)
		return ret;
	ret = origins_load(r, c.txn);
	for (c.idx = 0; c.idx < r->norigins && ret == CN_OK; c.idx++)
		ret = log_scan(r, c.txn, c.idx, 1, UINT64_MAX, item_entry, &c, &at);
	mdb_txn_abort(c.txn);
	return ret == CN_ERR_MALFORMED ? CN_ERR_STORE : ret;
}

static int fork_kv(struct replica *r, MDB_txn *txn, const MDB_val *k,
		   const MDB_val *v, void *ctx)
{
	struct cb_ctx *c = ctx;
	const uint8_t *held;
	size_t hlen;
	uint32_t idx;
	uint64_t seq;

	if (k->mv_size != 12)
		return 0;
	idx = store_rd32(k->mv_data);
	seq = store_rd64((uint8_t *)k->mv_data + 4);
	if (idx >= r->norigins)
		return 0;
	if (log_get(r, txn, idx, seq, &held, &hlen, NULL) != CN_OK) {
		held = NULL;
		hlen = 0;
	}
	return c->cb.fork(c->ctx, r->origins[idx].pk, seq, held,
					hlen, v->mv_data, v->mv_size);
}

int replica_forks(struct replica *r, replica_fork_cb cb, void *ctx)
{
	struct cb_ctx c = {.cb.fork = cb, .ctx = ctx};

	return db_walk(r, DB_FORKS, fork_kv, &c);
}

/* Copy a key or value of at most `max` bytes into a C string. */
static bool val_str(const MDB_val *v, char *out, size_t max)
{
	if (v->mv_size > max)
		return false;
	memcpy(out, v->mv_data, v->mv_size);
	out[v->mv_size] = '\0';
	return true;
}

static int student_kv(struct replica *r, MDB_txn *txn, const MDB_val *k,
		      const MDB_val *v, void *ctx)
{
	struct cb_ctx *c = ctx;
	struct student_state st;
	char edu[CN_EDU_ID_MAX + 1];
	int ret;

	(void)v;
	if (!val_str(k, edu, CN_EDU_ID_MAX))
		return CN_ERR_STORE;
	if ((ret = student_in(r, txn, edu, &st)) != CN_OK)
		return ret;
	return c->cb.student(c->ctx, &st);
}

int replica_students_walk(struct replica *r, replica_student_cb cb, void *ctx)
{
	struct cb_ctx c = {.cb.student = cb, .ctx = ctx};

	return db_walk(r, DB_STUDENT, student_kv, &c);
}

static int hot_kv(struct replica *r, MDB_txn *txn, const MDB_val *k,
		  const MDB_val *v, void *ctx)
{
	struct cb_ctx *c = ctx;
	struct student_state st;
	char edu[CN_EDU_ID_MAX + 1], card[CN_CARD_NO_MAX + 1];
	const struct card_state *cs;

	if (!val_str(k, card, CN_CARD_NO_MAX) || !val_str(v, edu, CN_EDU_ID_MAX) ||
	    student_in(r, txn, edu, &st) != CN_OK)
		return 0;
	cs = fold_card_const(&st, card);
	if (cs == NULL || !fold_card_hot(cs))
		return 0;
	return c->cb.hot(c->ctx, &st, cs);
}

int replica_hotlist(struct replica *r, replica_hot_cb cb, void *ctx)
{
	struct cb_ctx c = {.cb.hot = cb, .ctx = ctx};

	return db_walk(r, DB_HOT, hot_kv, &c);
}

/* ---- digest and verification ------------------------------------------ */

struct digest_ctx {
	crypto_generichash_state h;
	struct replica_counts *counts;
	uint8_t buf[8192];
};

static int digest_add(struct digest_ctx *d, const struct student_state *st)
{
	uint8_t len[4];
	size_t n = fold_digest_bytes(st, d->buf, sizeof d->buf);

	if (n == 0)
		return CN_ERR_STORE;
	store_be32(len, (uint32_t)n);
	crypto_generichash_update(&d->h, len, sizeof len);
	crypto_generichash_update(&d->h, d->buf, n);
	if (st->known)
		d->counts->students++;
	d->counts->cards += st->ncards;
	return CN_OK;
}

static int digest_cb(void *ctx, const struct student_state *st)
{
	return digest_add(ctx, st);
}

static int count_log(struct replica *r, struct replica_counts *c)
{
	MDB_txn *txn;
	MDB_stat s;
	int ret;

	if ((ret = store_begin(&r->st, false, &txn)) != CN_OK)
		return ret;
	if ((ret = origins_load(r, txn)) == CN_OK) {
		c->origins = r->norigins;
		for (uint32_t i = 0; i < r->norigins; i++)
			c->entries += r->origins[i].head;
		if (mdb_stat(txn, r->st.dbi[DB_REFUSED], &s) == 0)
			c->refused = s.ms_entries;
		if (mdb_stat(txn, r->st.dbi[DB_FORKS], &s) == 0)
			c->forks = s.ms_entries;
	}
	mdb_txn_abort(txn);
	return ret;
}

int replica_count(struct replica *r, struct replica_counts *c)
{
	MDB_cursor *cur = NULL;
	MDB_txn *txn;
	MDB_stat s;
	MDB_val k, v;
	int rc, ret;

	memset(c, 0, sizeof *c);
	if ((ret = rd_begin(r, &txn)) != CN_OK)
		return ret;
	if ((rc = mdb_stat(txn, r->st.dbi[DB_STUDENT], &s)) == 0) {
		c->students = s.ms_entries;
		rc = mdb_stat(txn, r->st.dbi[DB_REFUSED], &s);
	}
	if (rc == 0) {
		c->refused = s.ms_entries;
		rc = mdb_stat(txn, r->st.dbi[DB_FORKS], &s);
	}
	if (rc == 0) {
		c->forks = s.ms_entries;
		rc = mdb_cursor_open(txn, r->st.dbi[DB_ORIGIN], &cur);
	}
	for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (v.mv_size != ORIGIN_REC_LEN) {
			rc = MDB_CORRUPTED;
			break;
		}
		c->origins++;
		c->entries += store_rd64((const uint8_t *)v.mv_data + CN_KEY_LEN);
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	ret = rc == MDB_NOTFOUND ? CN_OK : store_error(&r->st, rc, "counting");
	rd_end(r);
	return ret;
}

int replica_digest(struct replica *r, uint8_t out[static CN_KEY_LEN],
		   struct replica_counts *counts)
{
	struct replica_counts dummy;
	struct digest_ctx *d = malloc(sizeof *d);
	int ret;

	if (d == NULL)
		return CN_ERR_NOMEM;
	if (counts == NULL)
		counts = &dummy;
	memset(counts, 0, sizeof *counts);
	d->counts = counts;
	crypto_generichash_init(&d->h, NULL, 0, CN_KEY_LEN);
	ret = replica_students_walk(r, digest_cb, d);
	if (ret == CN_OK)
		ret = count_log(r, counts);
	crypto_generichash_final(&d->h, out, CN_KEY_LEN);
	free(d);
	return ret;
}

__attribute__((format(printf, 3, 4)))
static void problem(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || len == 0 || buf[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* verify_origin()'s walk of one origin, through log_scan(). */
struct chain_ctx {
	const uint8_t *pk;
	uint64_t seen, covered;
	uint8_t last[CN_KEY_LEN];
};

static int chain_entry(void *ctx, uint64_t seq, const uint8_t *wire, size_t len,
		       const uint8_t hash[static CN_KEY_LEN])
{
	struct chain_ctx *c = ctx;
	const uint8_t *payload, *sig;
	size_t plen, used;
	const char *why;

	if (seq != c->seen + 1 ||
	    entry_wire_decode(wire, len, &payload, &plen, &sig, &used, &why) != CN_OK)
		return CN_ERR_STORE;
	if (sig != NULL) {
		if (entry_verify(hash, sig, c->pk) != CN_OK)
			return CN_ERR_BADSIG;
		c->covered = seq;
	}
	c->seen = seq;
	memcpy(c->last, hash, CN_KEY_LEN);
	return CN_OK;
}

/* Every chain link and signature of one origin's stored log.  log_scan()
 * rebuilds each payload (with the checks of entry_encode()) and chains
 * each group to the one before. */
static int verify_origin(struct replica *r, MDB_txn *txn, uint32_t idx,
			 char *prob, size_t plen)
{
	const struct origin_rec *o = &r->origins[idx];
	struct chain_ctx c = {.pk = o->pk};
	uint64_t at = 0;
	char hx[17];
	int ret = CN_OK;

	util_hex_encode(o->pk, 8, hx);
	if (o->head > 0)
		ret = log_scan(r, txn, idx, 1, o->head, chain_entry, &c, &at);
	if (ret == CN_ERR_MALFORMED) {
		problem(prob, plen, "origin %s… seq %llu does not chain",
			hx, (unsigned long long)at);
		return CN_ERR_MALFORMED;
	}
	if (ret == CN_ERR_BADSIG) {
		problem(prob, plen, "origin %s… seq %llu: bad signature",
			hx, (unsigned long long)at);
		return CN_ERR_BADSIG;
	}
	if (ret == CN_ERR_STORE || (ret == CN_OK && c.seen != o->head)) {
		problem(prob, plen, "origin %s… seq %llu is missing or unreadable",
			hx, (unsigned long long)(ret == CN_OK ? c.seen + 1 : at));
		return CN_ERR_MALFORMED;
	}
	if (ret != CN_OK)
		return ret;
	if (c.covered != o->head) {
		problem(prob, plen, "origin %s…: entries after seq %llu carry no signature",
			hx, (unsigned long long)c.covered);
		return CN_ERR_BADSIG;
	}
	if (o->head > 0 && memcmp(o->head_hash, c.last, CN_KEY_LEN) != 0) {
		problem(prob, plen, "origin %s…: head hash disagrees with the log", hx);
		return CN_ERR_MALFORMED;
	}
	return CN_OK;
}

static int count_keyed(void *ctx, const struct log_group *g,
		       const struct log_head *h)
{
	(void)g;
	if (h->key[0] != '\0')
		++*(uint64_t *)ctx;
	return CN_OK;
}

int replica_verify(struct replica *r, uint8_t digest[static CN_KEY_LEN],
		   struct replica_counts *counts, char *prob, size_t plen)
{
	struct replica_counts dummy;
	struct digest_ctx *d = malloc(sizeof *d);
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint64_t keyed = 0, refs = 0;
	int rc, ret;

	if (prob != NULL && plen > 0)
		prob[0] = '\0';
	if (counts == NULL)
		counts = &dummy;
	memset(counts, 0, sizeof *counts);
	if (d == NULL)
		return CN_ERR_NOMEM;
	d->counts = counts;
	crypto_generichash_init(&d->h, NULL, 0, CN_KEY_LEN);
	if ((ret = store_begin(&r->st, false, &txn)) != CN_OK)
		goto out;
	if ((ret = origins_load(r, txn)) != CN_OK)
		goto out;
	for (uint32_t i = 0; i < r->norigins && ret == CN_OK; i++)
		ret = verify_origin(r, txn, i, prob, plen);
	if (ret == CN_OK)
		ret = log_heads(r, txn, 0, 1, false, count_keyed, &keyed);
	if (ret != CN_OK)
		goto out;
	/* Re-fold every history from its entries and compare. */
	if ((rc = mdb_cursor_open(txn, r->st.dbi[DB_STUDENT], &cur)) != 0) {
		ret = store_error(&r->st, rc, "cursor");
		goto out;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && ret == CN_OK;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct hist_entry *h = NULL;
		struct student_state st;
		struct srec rec;
		uint8_t a[8192], b[8192];
		size_t la, lb;
		int n;
		if (srec_decode(v.mv_data, v.mv_size, &rec) != CN_OK) {
			problem(prob, plen, "a student record is unreadable");
			ret = CN_ERR_MALFORMED;
			break;
		}
		n = history_load(r, txn, &rec, &h);
		refs += rec.nrefs;
		fold_init(&st, rec.st.edu_id);
		for (int i = 0; i < n; i++) {
			enum fold_reason why = fold_apply(&r->fenv, &st, &h[i].e);
			if (why != verdict_of(r, txn, h[i].idx, h[i].e.seq)) {
				problem(prob, plen, "student %s: the verdict on one entry differs "
					"from the stored one", rec.st.edu_id);
				ret = CN_ERR_MALFORMED;
			}
		}
		if (k.mv_size != strlen(rec.st.edu_id) ||
		    memcmp(k.mv_data, rec.st.edu_id, k.mv_size) != 0 ||
		    (n > 0 && (rec.newest_hlc != h[n - 1].e.hlc ||
			       rec.newest_idx != h[n - 1].idx ||
			       rec.newest_seq != h[n - 1].e.seq))) {
			problem(prob, plen, "student %s: the record's key or newest "
				"entry disagrees with its history", rec.st.edu_id);
			ret = CN_ERR_MALFORMED;
		}
		la = fold_digest_bytes(&st, a, sizeof a);
		lb = fold_digest_bytes(&rec.st, b, sizeof b);
		if (n < 0 || la == 0 || la != lb || memcmp(a, b, la) != 0) {
			problem(prob, plen, "student %s: the stored state differs from "
				"the fold of its entries", rec.st.edu_id);
			ret = CN_ERR_MALFORMED;
		}
		if (ret == CN_OK)
			ret = digest_add(d, &st);
		free(h);
		srec_free(&rec);
	}
	/* The histories name as many entries as the log holds with a key: a
	 * student record missing shows here. */
	if (ret == CN_OK && refs != keyed) {
		problem(prob, plen, "the student records name %llu log entries, "
			"the log holds %llu with a student",
			(unsigned long long)refs, (unsigned long long)keyed);
		ret = CN_ERR_MALFORMED;
	}
out:
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	if (ret == CN_OK)
		ret = count_log(r, counts);
	crypto_generichash_final(&d->h, digest, CN_KEY_LEN);
	free(d);
	return ret;
}
