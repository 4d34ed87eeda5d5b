/*
 * replica_int.h — what replica.c (open, queries), ingest.c (the write path)
 * and datadir.c share.  Not for use outside node/.
 */
#ifndef CN_REPLICA_INT_H
#define CN_REPLICA_INT_H

#include <limits.h>

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
#define META_FORMAT "format"
#define META_WATERMARK "watermark" /* u64 BE: time of the newest applied
				    * city.watermark, ms since the epoch */
#define META_REBUILD "rebuild"     /* present: the materialized tables (student,
                                   * card, uid, hot, refused) lag the log and
                                   * are rebuilt from it (bulk import) */

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
	struct authority *auth;
	struct fold_env fenv;
	MDB_txn *rtxn;            /* reusable read transaction (reset) */
	uint8_t logbuf[CN_ENTRY_MAX + 64]; /* log_get()'s result */
	/* origins as of the current transaction, index = origin idx */
	struct origin_rec *origins;
	uint32_t norigins, caporigins;
	size_t auth_ncerts, auth_nrevs; /* records `auth` was loaded from */
	uint64_t seen_txnid;      /* replica_changed(): last txn id seen */
	bool bulk;                /* bulk import: ingest stores the log only */
	/* Bulk import: ingest_txn()'s item and decoded-entry arrays, kept
	 * from one batch to the next (a batch's decoded entries take about
	 * 100 MB, which malloc() would map and clear afresh every time).
	 * Freed by replica_bulk_end() and replica_close(). */
	void *bulk_items, *bulk_decoded;
	size_t bulk_cap;
};

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

/* The log stores an entry without its origin field, which its key names
 * (35 bytes less per entry).  log_pack() makes the stored form of a wire
 * entry; log_unpack() gives back the exact wire bytes.  Both refuse
 * (CN_ERR_MALFORMED) anything not shaped as entry_encode() writes. */
int log_pack(const uint8_t *wire, size_t wlen, uint8_t *out, size_t cap,
	     size_t *olen);
int log_unpack(const uint8_t origin[static CN_KEY_LEN], const uint8_t *val,
	       size_t vlen, uint8_t *out, size_t cap, size_t *olen);

/* Log access inside a transaction: the wire bytes of (idx, seq), valid
 * until the next log_get() on this replica. */
int log_get(struct replica *r, MDB_txn *txn, uint32_t idx, uint64_t seq,
	    const uint8_t **wire, size_t *len);
/* Decode a stored wire entry fully. */
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
