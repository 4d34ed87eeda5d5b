/*
 * replica.h — one node's full replica: its data directory, identity, the
 * LMDB store, the ingest path every entry goes through (local authoring,
 * bundles, merges, sync), and the queries the tools ask.
 *
 * A struct replica is used by one thread at a time.  Several processes may
 * open the same data dir (LMDB serializes writers).  Every call that reads
 * takes its own read transaction; every call that writes commits before it
 * returns, so a crash loses at most the call in flight, never half of it.
 */
#ifndef CN_REPLICA_H
#define CN_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "authority.h"
#include "cn.h"
#include "entry.h"
#include "fold.h"
#include "policy.h"

struct replica;

enum replica_flags {
	REPLICA_RDONLY = 1u << 0,   /* no writes */
	REPLICA_COPY = 1u << 1,     /* another replica's data dir (a copy
				     * for merge/diff): read-only, no lock
				     * file, no identity key needed */
};

/* Open the data dir.  Checks modes (dir 0700, key files 0600: CN_ERR_PERM
 * with a message saying how to fix it), loads the identity, root key,
 * certificates and revocations.  On failure *out is NULL and err holds a
 * sentence for the operator. */
int replica_open(const char *dir, unsigned flags, struct replica **out,
		 char *err, size_t errlen);
void replica_close(struct replica *r);

/* A read-only view of `base` for another thread: it shares base's LMDB
 * environment and has its own read transaction, so a reader thread can
 * answer taps (replica_check_uid / _card, replica_card, replica_student,
 * replica_info, replica_watermark, replica_count) while base's thread commits a batch.
 * Nothing else may be called on a view.  Close it with replica_close()
 * before base.  CN_ERR_INVAL for a replica opened with REPLICA_COPY. */
int replica_view_open(struct replica *base, struct replica **view);

/* ---- identity -------------------------------------------------------- */

struct replica_info {
	uint8_t node[CN_KEY_LEN];
	uint8_t root_pub[CN_KEY_LEN];
	char name[CERT_NAME_MAX + 1];
	uint8_t role;                 /* enum role (from init) */
	char scope[CERT_SCOPE_MAX + 1];
	enum profile profile;
	char timezone[65];
	uint8_t instance[16];         /* replica-instance id */
	bool has_cert;                /* a valid certificate is installed */
	bool has_identity;            /* the identity key is loaded (can sign) */
};
void replica_info(const struct replica *r, struct replica_info *out);
const struct authority *replica_authority(const struct replica *r);
/* Ed25519 signature by this node's identity key over msg (bundle trailers,
 * handshakes).  CN_ERR_PERM if the replica was opened without its identity
 * (REPLICA_COPY).  It only reads the key loaded at open, so it may be
 * called from any thread. */
int replica_sign(struct replica *r, const uint8_t *msg, size_t len,
		 uint8_t sig[static CN_SIG_LEN]);
/* The deployment's network key (DESIGN §7): keyed BLAKE2b of the
 * deployment secret with the label "cardnode-network-key-v1".  CN_ERR_PERM
 * if the replica was opened without its secret (REPLICA_COPY). */
int replica_network_key(const struct replica *r, uint8_t out[static CN_KEY_LEN]);
/* This node's own certificate valid at now_ms (the highest serial if
 * several), as installed: copied into buf[0..cap).  CN_ERR_NOTFOUND if none
 * is valid, CN_ERR_TOOBIG if cap is too small (CERT_MAX always fits). */
int replica_own_cert(struct replica *r, uint64_t now_ms, uint8_t *buf,
		     size_t cap, size_t *len);
/* The card master key (DESIGN §9): keyed BLAKE2b of the deployment secret
 * with the label "cardnode-card-master-v1"; the education sector's keys
 * and MAC key are derived from it and the card's UID (reader/card.h).
 * CN_ERR_PERM without the secret (REPLICA_COPY). */
int replica_card_master_key(const struct replica *r,
			    uint8_t out[static CN_KEY_LEN]);
/* Keyed BLAKE2b digest of a national ID or guardian number with the
 * deployment's identity-digest key (DESIGN §8). */
void replica_id_digest(const struct replica *r, const char *number,
		       uint8_t out[static CN_KEY_LEN]);
/* The education card number (node/edunum.h) of an identity number (upper
 * case, as enroll_idnum_check() leaves it) into out[EDUNUM_LEN + 1]:
 * CN_OK; CN_ERR_PERM without the deployment secret; CN_ERR_INVAL, with
 * *why, if the number is of a form the scheme does not cover. */
int replica_edu_number(const struct replica *r, const char *idnum,
		       char out[static 20], const char **why);

/* ---- writing --------------------------------------------------------- */

struct ingest_report {
	uint64_t applied;     /* stored and took effect */
	uint64_t refused;     /* stored, no effect (unauthorized …) */
	uint64_t duplicate;   /* already held, identical */
	uint64_t unverified;  /* no valid signature covers it: not stored */
	uint64_t gap;         /* does not follow the origin's head: not stored */
	uint64_t malformed;   /* could not be decoded: not stored */
	uint64_t forked;      /* conflicts with a held entry: kept as evidence */
	uint64_t held;        /* origin is forked: not stored */
	uint64_t badsig;      /* stored, but the signature it carried did not
			       * verify and was dropped (a later one covers it) */
	char problem[200];    /* the first problem met, for the operator */
};

/* Bulk import into an empty replica.  replica_bulk_begin() turns the bulk
 * mode on (*on = true) when the replica holds no log entries and no
 * students: from then on replica_ingest() chains, verifies and stores the
 * log only (its report counts no applied/refused), and marks the store as
 * "being rebuilt".  replica_bulk_end() builds the student, card, UID,
 * hotlist and refused tables from the whole log in key order in one write
 * transaction, and adds the applied/refused counts to rep.  A crash in
 * between leaves the mark; the next replica_open() rebuilds.  While the
 * mode is on, a further replica_bulk_begin() changes nothing (*on =
 * false): only the caller that turned it on ends it. */
int replica_bulk_begin(struct replica *r, bool *on);
int replica_bulk_end(struct replica *r, struct ingest_report *rep);

/* Add the counts of `r` to `sum`; sum keeps its first non-empty problem. */
void replica_report_add(struct ingest_report *sum, const struct ingest_report *r);

/* Author entries as this node: each element of `ops` gives op, key, actor
 * and body; origin, seq, prev and hlc are filled in here.  All of them are
 * checked against the current state first; if any would be refused nothing
 * is written, CN_ERR_REFUSED is returned and *why / *bad_index say which
 * and why.  Otherwise they are stored in one transaction, the last one and
 * every CN_SIGN_EVERY-th signed.  CN_ERR_BEHIND if this node has seen a
 * copy of its own log newer than its store (DESIGN §4 forks). */
int replica_author(struct replica *r, struct entry *ops, size_t n,
		   size_t *bad_index, enum fold_reason *why);

/* Apply entries received from elsewhere: `ents[i]` is one wire entry of
 * `lens[i]` bytes, any origins, any order.  Entries are grouped per origin
 * and sorted by seq; an entry is stored only once a verified signature
 * covers it through the hash chain.  One write transaction for the whole
 * call (keep calls to at most a few hundred thousand entries).  Returns 0
 * (see the report for what happened to each entry) or an error that
 * aborted the whole call (nothing written). */
int replica_ingest(struct replica *r, const uint8_t *const *ents,
		   const size_t *lens, size_t n, struct ingest_report *rep);

/* Several replica_ingest() calls in one write transaction: one commit
 * (one sync to the disk) for batches from several sources, each with its
 * own report.  All or nothing: an error aborts every batch (nothing
 * written) and is returned. */
struct replica_batch {
	const uint8_t *const *ents;
	const size_t *lens;
	size_t n;
	struct ingest_report *rep; /* overwritten */
};
int replica_ingest_batches(struct replica *r, const struct replica_batch *b,
			   size_t nb);

/* Install a root-signed certificate or revocation (bytes as made by
 * authority_cert_sign / authority_revocation_sign).  Entries it affects are
 * re-folded.  0, CN_ERR_EXISTS (already installed; nothing changes),
 * CN_ERR_BADSIG / CN_ERR_MALFORMED (*why set). */
int replica_cert_install(struct replica *r, const uint8_t *buf, size_t len,
			 const char **why);
int replica_revocation_install(struct replica *r, const uint8_t *buf,
			       size_t len, const char **why);

/* Author a city.watermark entry (DESIGN §7, op 21): "this node held this
 * version vector at now_ms".  The vector is the replica's, cut to its
 * first ENTRY_VV_MAX origins in origin order when it has more.  Errors as
 * replica_author() (CN_ERR_REFUSED unless this node is certified as city). */
int replica_watermark_author(struct replica *r, uint64_t now_ms);

/* ---- reading --------------------------------------------------------- */

/* Has any process committed a write to this data dir since the last call
 * (true on the first call)?  Cheap: it reads LMDB's shared lock table, so
 * a daemon may call it every few tens of milliseconds to notice what
 * `cardctl` wrote.  When true, certificates and revocations another process
 * installed are loaded too. */
bool replica_changed(struct replica *r);

/* Time (ms since the epoch) of the newest city.watermark applied here, 0
 * when none has been (returns CN_ERR_NOTFOUND then). */
int replica_watermark(struct replica *r, uint64_t *time_ms);

/* The version vector: calls cb for every origin with the highest
 * contiguous seq held, in origin order.  A non-zero return from cb stops
 * the walk and is returned. */
typedef int (*replica_vv_cb)(void *ctx, const uint8_t origin[CN_KEY_LEN],
			     uint64_t seq);
int replica_vv(struct replica *r, replica_vv_cb cb, void *ctx);
/* Highest seq held of one origin (0 if none). */
uint64_t replica_head(struct replica *r, const uint8_t origin[static CN_KEY_LEN]);

/* Walk the stored wire entries of `origin` with from ≤ seq ≤ to (to = 0:
 * to the head).  The bytes passed to cb are valid only during the call; a
 * non-zero return from cb stops the walk and is returned. */
typedef int (*replica_entry_cb)(void *ctx, uint64_t seq, const uint8_t *wire,
				size_t len);
int replica_log_walk(struct replica *r, const uint8_t origin[static CN_KEY_LEN],
		     uint64_t from, uint64_t to, replica_entry_cb cb,
		     void *ctx);

/* Walk the raw certificates / revocations held (for bundles and sync). */
typedef int (*replica_blob_cb)(void *ctx, const uint8_t *buf, size_t len);
int replica_certs_walk(struct replica *r, replica_blob_cb cb, void *ctx);
int replica_revocations_walk(struct replica *r, replica_blob_cb cb, void *ctx);
/* How many certificates and revocations are held (cheap: no walk).  They
 * are only ever added, so a count that did not change means nothing did. */
int replica_blob_counts(struct replica *r, size_t *certs, size_t *revs);

/* A student's current state.  CN_ERR_NOTFOUND if no entry names it. */
int replica_student(struct replica *r, const char *edu_id,
		    struct student_state *out);
/* The student holding card `card_no` (state in *st, the card is
 * st->cards[*idx]).  CN_ERR_NOTFOUND if no student holds it. */
int replica_card(struct replica *r, const char *card_no,
		 struct student_state *st, int *idx);
/* Students found by keyed ID-number digest (at most `max`, edu_ids copied
 * into out[]); returns the number found (≥ 0) or an error. */
int replica_find_idd(struct replica *r, const uint8_t idd[static CN_KEY_LEN],
		     char (*out)[CN_EDU_ID_MAX + 1], int max);

/* The reader decision (DESIGN §6) for a card given by number or by UID, at
 * instant `at_ms` (local date in the process time zone).  Where several
 * cards share a UID, cancelled and replaced ones are passed over; two or
 * more live cards give DEC_AMBIGUOUS (the reader must read the card number
 * from the chip). */
struct check_result {
	enum decision decision;
	char card[CN_CARD_NO_MAX + 1];  /* "" if unknown */
	char edu_id[CN_EDU_ID_MAX + 1];
	char school[CN_SCHOOL_MAX + 1];
	int candidates;                 /* cards sharing the UID */
};
int replica_check_card(struct replica *r, const char *card_no, uint64_t at_ms,
		       struct check_result *out);
int replica_check_uid(struct replica *r, const uint8_t *uid, size_t uid_len,
		      uint64_t at_ms, struct check_result *out);

/* One entry of a history or of the whole log, decoded, with its verdict. */
struct log_item {
	struct entry e;            /* body.vv not valid after the callback */
	enum fold_reason reason;   /* FR_APPLIED or why it had no effect */
	bool signed_;              /* carries its own signature */
};
typedef int (*replica_log_cb)(void *ctx, const struct log_item *it);
/* The history of one student in fold order. */
int replica_history(struct replica *r, const char *edu_id, replica_log_cb cb,
		    void *ctx);
/* Every entry without effect, in (origin, seq) order. */
int replica_refused(struct replica *r, replica_log_cb cb, void *ctx);
/* Every entry of the log in (origin, seq) order (node-level ones too). */
int replica_log_all(struct replica *r, replica_log_cb cb, void *ctx);

/* Forks: pairs of conflicting wire entries held as evidence. */
typedef int (*replica_fork_cb)(void *ctx, const uint8_t origin[CN_KEY_LEN],
			       uint64_t seq, const uint8_t *held, size_t hlen,
			       const uint8_t *other, size_t olen);
int replica_forks(struct replica *r, replica_fork_cb cb, void *ctx);

/* Walk every student state in edu_id order. */
typedef int (*replica_student_cb)(void *ctx, const struct student_state *st);
int replica_students_walk(struct replica *r, replica_student_cb cb, void *ctx);

/* Walk the hotlist (card, student, status) in card order. */
typedef int (*replica_hot_cb)(void *ctx, const struct student_state *st,
			      const struct card_state *c);
int replica_hotlist(struct replica *r, replica_hot_cb cb, void *ctx);

struct replica_counts {
	uint64_t students, cards, entries, refused, forks, origins;
};
/* The state digest (DESIGN §4) and counts. */
int replica_digest(struct replica *r, uint8_t out[static CN_KEY_LEN],
		   struct replica_counts *counts);

/* The counts without the digest, cheaply (one read transaction, table
 * statistics and the origin heads; nothing is decoded): entries (every
 * origin's head), refused, forks and origins as replica_digest counts
 * them; students is the number of student records — every education ID an
 * entry names, also one whose entries were all refused, which the digest
 * does not count; cards is 0 (counting cards needs every record).  May be
 * called on a view (replica_view_open). */
int replica_count(struct replica *r, struct replica_counts *counts);

/* Full re-verification: every chain link and signature of the log, every
 * history re-folded from its entries, and the digest recomputed from that
 * fold.  0 if all agrees with the store; CN_ERR_BADSIG / CN_ERR_MALFORMED
 * with `problem` saying the first disagreement. */
int replica_verify(struct replica *r, uint8_t digest[static CN_KEY_LEN],
		   struct replica_counts *counts, char *problem,
		   size_t problem_len);

/* Last error from LMDB or the file system, for messages. */
const char *replica_last_error(const struct replica *r);

/* ---- data directory (datadir.c) --------------------------------------- */

struct replica_init {
	const char *dir;
	const char *name;
	uint8_t role;
	const char *scope;
	uint8_t root_pub[CN_KEY_LEN];
	uint8_t secret[CN_KEY_LEN];   /* deployment secret */
	enum profile profile;
	const char *timezone;         /* NULL: Asia/Shanghai */
};
/* Create a new data dir (0700) with a fresh identity (0600).  Refuses an
 * existing non-empty dir (CN_ERR_EXISTS).  node_out receives the node id. */
int replica_init(const struct replica_init *in,
		 uint8_t node_out[static CN_KEY_LEN], char *err, size_t errlen);

/* A consistent copy of the replica, taken while other processes (the
 * daemon) go on writing: `dir` (created 0700; an existing one must be
 * empty, else CN_ERR_EXISTS) receives data.mdb (a compact LMDB copy,
 * 0600) and root.pub: what a copied data dir needs to be merged or
 * compared (REPLICA_COPY).  Deliberately not the identity key nor the
 * deployment secret: a node restored as the same identity would author
 * entries its old log already holds (a fork, DESIGN §4); a backup is
 * restored as a new node that merges it (docs/operations.md).  The copy is
 * then opened and counted: *bytes is the size of data.mdb, *entries the
 * log entries it holds.  On failure whatever was written is removed (and
 * dir, if it was created here) and err says why: CN_ERR_EXISTS,
 * CN_ERR_IO, CN_ERR_STORE. */
int replica_backup(struct replica *r, const char *dir, uint64_t *bytes,
		   uint64_t *entries, char *err, size_t errlen);

/* Read a 64-hex-digit secret file (mode must be 0600 or stricter). */
int datadir_read_secret(const char *path, uint8_t out[static CN_KEY_LEN],
			char *err, size_t errlen);
/* Write a secret file: 64 hex digits + newline, mode 0600, O_EXCL. */
int datadir_write_secret(const char *path,
			 const uint8_t key[static CN_KEY_LEN], char *err,
			 size_t errlen);
/* Root key file: the 64-byte Ed25519 secret key as 128 hex digits, 0600. */
int datadir_read_root(const char *path, uint8_t sk[static 64], char *err,
		      size_t errlen);
int datadir_write_root(const char *path, const uint8_t sk[static 64],
		       char *err, size_t errlen);

#endif
