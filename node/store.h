/*
 * store.h — the LMDB environment of one data dir and its named databases.
 *
 * One environment per data dir (data.mdb, lock.mdb, 0600), every database
 * opened once at startup, MDB_NOTLS so a read transaction may move between
 * threads.  Key layouts (integers big-endian so that keys sort by value):
 *
 *   meta       text key → value         node settings, hlc, flags
 *   origin     idx u32 → origin record  (pk, head seq, head hash, flags)
 *   origin_pk  pk[32] → idx u32
 *   log        idx u32 ‖ first seq u64 → up to 8 consecutive entries of
 *                                        the origin, stored compactly
 *                                        (logtable.c; the wire form is rebuilt)
 *   student    edu_id → student record  (folded state + history refs)
 *   card       card_no → edu_id         (dup: every student a number was
 *                                        ever issued to; the state decides)
 *   uid        uid → card_no            (dup: a 4-byte NUID may collide)
 *   hot        card_no → edu_id         cards on the hotlist
 *   refused    idx u32 ‖ seq u64 → reason u8 ‖ edu_id
 *   forks      idx u32 ‖ seq u64 → the conflicting wire entry (evidence)
 *   certs      BLAKE2b(cert) → cert bytes
 *   revs       BLAKE2b(rev) → revocation bytes
 */
#ifndef CN_STORE_H
#define CN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pthread.h>

#include <lmdb.h>

enum store_db {
	DB_META, DB_ORIGIN, DB_ORIGIN_PK, DB_LOG, DB_STUDENT, DB_CARD, DB_UID,
	DB_HOT, DB_REFUSED, DB_FORKS, DB_CERTS, DB_REVS, DB__COUNT
};

struct store {
	MDB_env *env;
	MDB_dbi dbi[DB__COUNT];
	/* Views (store_view) read the environment from other threads: they
	 * hold this lock shared during a read transaction; changing the map
	 * size takes it exclusively (LMDB: no transaction may be active in
	 * the process then).  Owned by the store that opened the env. */
	pthread_rwlock_t *remap;
	bool view;              /* borrowed env: store_close leaves it open */
	bool rdonly;
	bool map_full; /* MDB_MAP_FULL seen: grow and replay */
	char err[256]; /* the last LMDB failure, for messages */
};

/* Open (creating when `create`) the environment in `dir`.  `copy`: a copied
 * data dir opened read-only without the lock file. */
int store_open(struct store *s, const char *dir, bool rdonly, bool copy,
	       bool create);
void store_close(struct store *s);
/* A read-only store on base's environment for another thread (base must
 * outlive it).  Reads must go through store_view_begin / store_view_end. */
void store_view(const struct store *base, struct store *view);
/* Begin a read transaction on a view (takes the remap lock shared, adopts
 * a map grown by another process), and end it (resets it, releases the
 * lock). */
int store_view_begin(struct store *s, MDB_txn **txn, bool renew);
void store_view_end(struct store *s, MDB_txn *txn);

/* Map an LMDB return code to the cn error space, remembering the message
 * with `what` (the operation) in s->err. */
int store_error(struct store *s, int rc, const char *what);

int store_begin(struct store *s, bool write, MDB_txn **txn);
/* Commit.  On MDB_MAP_FULL (here or in any put of the transaction)
 * s->map_full is set and CN_ERR_TOOBIG returned: the caller aborts, calls
 * store_grow() and replays the transaction. */
int store_commit(struct store *s, MDB_txn *txn);
/* Double the map size (no transaction of this process may be open). */
int store_grow(struct store *s);
/* Double the map size until `bytes` more than the pages in use fit (no
 * transaction of this process may be open). */
int store_reserve(struct store *s, size_t bytes);

/* A compact, consistent copy of the environment (mdb_env_copyfd2 with
 * MDB_CP_COMPACT: free pages left out) written to fd, which the caller
 * opened and closes.  It reads through one read transaction, so writers in
 * this and other processes go on meanwhile; a map another process grew is
 * adopted first (no transaction of this process may be open). */
int store_copy(struct store *s, int fd);

/* Convenience wrappers returning cn errors (CN_ERR_NOTFOUND for
 * MDB_NOTFOUND, CN_ERR_TOOBIG for MDB_MAP_FULL). */
int store_get(struct store *s, MDB_txn *txn, enum store_db db, const void *k,
	      size_t klen, MDB_val *v);
int store_put(struct store *s, MDB_txn *txn, enum store_db db, const void *k,
	      size_t klen, const void *v, size_t vlen, unsigned flags);
int store_del(struct store *s, MDB_txn *txn, enum store_db db, const void *k,
	      size_t klen, const void *v, size_t vlen);

/* Big-endian helpers for keys. */
static inline void store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void store_be64(uint8_t *p, uint64_t v)
{
	store_be32(p, (uint32_t)(v >> 32));
	store_be32(p + 4, (uint32_t)v);
}
static inline uint32_t store_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t store_rd64(const uint8_t *p)
{
	return (uint64_t)store_rd32(p) << 32 | store_rd32(p + 4);
}

#endif
