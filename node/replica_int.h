/*
 * replica_int.h — what replica.c (open, queries), ingest.c (the write path)
 * and datadir.c share.  Not for use outside node/.
 */
#ifndef CN_REPLICA_INT_H
#define CN_REPLICA_INT_H

#include <limits.h>

#include "bytes.h"
#include "replica.h"
#include "store.h"

#define ORIGIN_FORKED 1u

/* An origin as stored in DB_ORIGIN: pk ‖ head u64 ‖ head_hash ‖ flags u8. */
struct origin_rec {
	uint8_t pk[CN_KEY_LEN];
	uint64_t head;
	uint8_t head_hash[CN_KEY_LEN];
	uint8_t flags;
};
#define ORIGIN_REC_LEN (CN_KEY_LEN + 8 + CN_KEY_LEN + 1)

/* Meta keys. */
#define META_NAME "name"
#define META_ROLE "role"
#define META_SCOPE "scope"
#define META_PROFILE "profile"
#define META_TZ "timezone"
#define META_INSTANCE "instance"
#define META_HLC "hlc"             /* u64 BE: highest hlc authored/adopted */
#define META_OWN_SEEN "own_seen"   /* u64 BE: highest own seq seen anywhere */
#define META_FORMAT "format"       /* u64 BE: the store format, below */
#define META_WATERMARK "watermark" /* u64 BE: time of the newest applied
				    * city.watermark, ms since the epoch */
#define META_REBUILD "rebuild"     /* present: the materialized tables (student,
                                   * card, uid, hot, refused) lag the log and
                                   * are rebuilt from it (bulk import) */

/* The layout of the tables (docs/replica.md, "Storage").  A data dir of
 * another format is refused at open: nothing converts one. */
#define STORE_FORMAT 2

/* Files of a data dir. */
#define FILE_IDENTITY "identity.key"
#define FILE_ROOT_PUB "root.pub"
#define FILE_SECRET "secret"

struct replica {
	char dir[PATH_MAX];
	unsigned flags;
	struct store st;
	struct replica_info info;
	uint8_t sk[64];
	bool has_sk;
	bool has_secret;          /* id_key and net_key are derived */
	uint8_t id_key[CN_KEY_LEN];
	uint8_t net_key[CN_KEY_LEN];
	uint8_t card_key[CN_KEY_LEN]; /* card master key (reader/card.h) */
	uint8_t num_key[CN_KEY_LEN];  /* education card numbers (edunum.h) */
	struct authority *auth;
	struct fold_env fenv;
	MDB_txn *rtxn;            /* reusable read transaction (reset) */
	struct log_cache *lcache; /* log_get()'s group (logtable.c) */
	/* origins as of the current transaction, index = origin idx */
	struct origin_rec *origins;
	uint32_t norigins, caporigins;
	size_t auth_ncerts, auth_nrevs; /* records `auth` was loaded from */
	uint64_t seen_txnid;      /* replica_changed(): last txn id seen */
	bool bulk;                /* bulk import: ingest stores the log only */
	int bulk_lock;            /* DATA/bulk.lock, held (flock) during a bulk
				   * import so that no other process rebuilds
				   * the tables under it; -1 when not held */
	/* Bulk import: ingest_txn()'s item and decoded-entry arrays, kept
	 * from one batch to the next (a batch's decoded entries take about
	 * 100 MB, which malloc() would map and clear afresh every time).
	 * Freed by replica_bulk_end() and replica_close(). */
	void *bulk_items, *bulk_decoded;
	size_t bulk_cap;
};

/* Take DATA/bulk.lock exclusively without waiting: 0, or CN_ERR_EXISTS
 * when another process holds it (its bulk import is under way), or
 * CN_ERR_IO.  bulk_unlock() releases it (no-op when not held). */
int bulk_lock(struct replica *r);
void bulk_unlock(struct replica *r);

/* Free the arrays kept between the batches of a bulk import. */
void bulk_scratch_free(struct replica *r);

/* A student record of DB_STUDENT: the folded state, the newest entry
 * applied (for the fast path) and the history refs (origin idx, seq). */
struct hist_ref {
	uint32_t idx;
	uint64_t seq;
};

struct srec {
	struct student_state st;
	uint64_t newest_hlc;
	uint32_t newest_idx;
	uint64_t newest_seq;
	struct hist_ref *refs;
	uint32_t nrefs, caprefs;
	uint32_t nrefs_loaded; /* refs held before this call */
	uint32_t was_hot;   /* bit i: cards[i] was on the hotlist when loaded */
	uint8_t ncards_loaded;
	bool refold, dirty, has_newest;
};

/* Origins. */
int origins_load(struct replica *r, MDB_txn *txn);
/* Index of pk, or -1. */
int64_t origin_find(const struct replica *r, const uint8_t pk[static CN_KEY_LEN]);
int origin_add(struct replica *r, MDB_txn *txn, const uint8_t pk[static CN_KEY_LEN],
	       uint32_t *idx);
int origin_save(struct replica *r, MDB_txn *txn, uint32_t idx);

/* Student records. */
int srec_decode(const uint8_t *buf, size_t len, struct srec *rec);
void srec_free(struct srec *rec);
int srec_load(struct replica *r, MDB_txn *txn, const char *edu_id,
	      struct srec *rec);

/* The log table (logtable.c): up to LOG_GROUP consecutive entries of one origin
 * per record, each in its entry_pack() form; docs/replica.md has the
 * layout. */
#define LOG_GROUP 8

/* The first seq of the group holding seq (≥ 1). */
uint64_t log_group_first(uint64_t seq);

/* A parsed group record; val must stay valid while it is used. */
struct log_group {
	const uint8_t *val;
	size_t vlen;
	unsigned count;
	uint8_t prev[CN_KEY_LEN]; /* hash of the payload before the first */
	uint64_t base_hlc;
	size_t first_slot;        /* offset of the first slot */
};
/* Parse a record's head: CN_ERR_STORE if it is not one. */
int log_group_parse(const uint8_t *val, size_t vlen, struct log_group *g);
/* The slot at *off: *slot spans its entry bytes, *off moves past it. */
int log_group_slot(const struct log_group *g, size_t *off, struct br *slot);
/* The entry (origin, seq) in the slot at *off (moved past it), decoded:
 * every field but prev (zero); *sig points into the record or is NULL.
 * CN_ERR_STORE if corrupt.  Reads only g's val, vlen and base_hlc. */
int log_group_entry(const struct log_group *g, size_t *off,
		    const uint8_t origin[static CN_KEY_LEN], uint64_t seq,
		    struct entry *e, const uint8_t **sig);

/* The wire bytes of (idx, seq) and the hash of its payload, rebuilt from
 * the stored group; valid until the next log_get() on this replica.  hash
 * may be NULL.  CN_ERR_STORE if the entry is missing or corrupt. */
int log_get(struct replica *r, MDB_txn *txn, uint32_t idx, uint64_t seq,
	    const uint8_t **wire, size_t *len, const uint8_t **hash);
/* The entry (idx, seq) decoded, without rebuilding the wire form: every
 * field but prev (zero).  CN_ERR_STORE if missing or corrupt. */
int log_entry(struct replica *r, MDB_txn *txn, uint32_t idx, uint64_t seq,
	      struct entry *e, bool *signed_);
/* Visit the entries from..to of origin idx in order (to = UINT64_MAX: all
 * held), with their wire bytes and payload hashes.  Checks that the groups
 * follow each other and chain.  A non-zero return of fn stops the scan and
 * is returned.  CN_ERR_STORE: a group is missing or corrupt;
 * CN_ERR_MALFORMED: a group does not chain to the one before.  *at: the
 * seq reached (where a failure was found). */
typedef int (*log_scan_fn)(void *ctx, uint64_t seq, const uint8_t *wire,
			   size_t len, const uint8_t hash[static CN_KEY_LEN]);
int log_scan(struct replica *r, MDB_txn *txn, uint32_t idx, uint64_t from,
	     uint64_t to, log_scan_fn fn, void *ctx, uint64_t *at);
/* The first fields of a stored entry, read without decoding the rest. */
struct log_head {
	uint32_t idx;
	uint64_t seq;
	size_t off;               /* the slot's offset in its group record */
	uint64_t hlc;
	uint8_t op;
	char key[CN_EDU_ID_MAX + 1];
};
/* Visit the heads of the stored entries in key order from (idx, from): to
 * the end of origin idx with one_origin, else to the end of the table.
 * fn gets the group record (inside the map: valid for the transaction)
 * and may decode the slot at h->off.  A non-zero return of fn stops the
 * walk and is returned; CN_ERR_STORE: a record is corrupt. */
typedef int (*log_head_fn)(void *ctx, const struct log_group *g,
			   const struct log_head *h);
int log_heads(struct replica *r, MDB_txn *txn, uint32_t idx, uint64_t from,
	      bool one_origin, log_head_fn fn, void *ctx);
/* Free log_get()'s cached group. */
void log_cache_free(struct replica *r);

/* Appending to the log inside a write transaction: log_append() adds the
 * next entry of an origin (seq = the head + 1, or the entry after the last
 * one appended) to its group, continuing a stored group that is not full;
 * log_flush() writes the group being built.  Flush before anything reads
 * the log in the same transaction, and at the end. */
struct log_writer {
	uint32_t idx;
	uint64_t first;  /* the group being built; 0 none */
	unsigned count;
	uint64_t base_hlc;
	bool stored;     /* the record exists: replace it */
	bool dirty;      /* entries not written yet */
	uint8_t *buf;
	size_t len, cap;
};
int log_append(struct replica *r, MDB_txn *txn, struct log_writer *w,
	       uint32_t idx, const struct entry *e, const uint8_t *sig);
int log_flush(struct replica *r, MDB_txn *txn, struct log_writer *w);
void log_writer_free(struct log_writer *w);

/* Decode a wire entry fully. */
int log_decode(const uint8_t *wire, size_t len, struct entry *e,
	       const uint8_t **sig);

/* A history's entries in fold order, decoded (malloc()ed array). */
struct hist_entry {
	struct entry e;
	uint32_t idx;
	bool signed_;
};
int history_load(struct replica *r, MDB_txn *txn, const struct srec *rec,
		 struct hist_entry **out);

/* Meta helpers. */
int meta_get_u64(struct replica *r, MDB_txn *txn, const char *key, uint64_t *v);
int meta_put_u64(struct replica *r, MDB_txn *txn, const char *key, uint64_t v);
/* Raise META_WATERMARK to time_ms if it is newer. */
int watermark_raise(struct replica *r, MDB_txn *txn, uint64_t time_ms);
int meta_get_str(struct replica *r, MDB_txn *txn, const char *key, char *out,
		 size_t cap);
int meta_put_str(struct replica *r, MDB_txn *txn, const char *key,
		 const char *v);

/* Read a file of exactly 2n hex digits (and a newline).  With private_,
 * refuse (CN_ERR_PERM, with the chmod that fixes it in err) a file that
 * group or others may read. */
int datadir_read_hex(const char *path, uint8_t *out, size_t n, bool private_,
		     char *err, size_t errlen);

/* Rebuild the materialized tables from the log (one write transaction)
 * and clear META_REBUILD; counts go to rep->applied / rep->refused. */
int replica_rebuild(struct replica *r, struct ingest_report *rep);
/* Is META_REBUILD set? */
bool replica_rebuild_pending(struct replica *r, MDB_txn *txn);

/* Reload certificates and revocations from the store into r->auth. */
int authority_reload(struct replica *r, MDB_txn *txn);
/* Reload the authority if the certificate or revocation tables hold another
 * number of records than it was loaded from (another process installed
 * some: records are never removed). */
int authority_refresh(struct replica *r, MDB_txn *txn);

#endif
