/*
 * sync.h — the sync protocol of one replication connection (DESIGN §7), as a
 * sans-I/O state machine over an open replica: plaintext messages in,
 * plaintext messages out.  No sockets, no clock, no threads.  The daemon
 * carries every message in one hs_seal() / hs_open_next() frame
 * (handshake.h); the tests move them between sessions in memory.  The
 * message layout and the rules are in docs/protocol.md, "Sync messages".
 *
 * Messages: each one canonical CBOR array whose first element is its type.
 *   HELLO   [1, node bstr32, instance bstr16, vv {bstr32: uint},
 *            cert_digests [bstr32 …], rev_digests [bstr32 …]]
 *   CERTS   [2, [cert bstr …], [revocation bstr …]]
 *   ENTRIES [3, origin bstr32, first_seq uint, [entry …]]
 *   HAVE    [4, vv {bstr32: uint}]
 *   PING    [5, nonce uint]          PONG [6, nonce uint]
 *
 * A session:
 *   sync_open(&s, replica, NULL);  sync_start(s);   (queues HELLO)
 *   for every message the frame layer delivers: sync_receive(s, msg, len);
 *   while the connection's write queue is below its bound:
 *       sync_next(s, &msg, &len); if msg == NULL, stop; send it; free(msg);
 *   after every write to the replica (local authoring, cardctl-like
 *   commands in the daemon, and entries another session ingested — that is
 *   relay): sync_local_changed(s) on every session, then sync_next again;
 *   sync_close(s) when the connection ends, cleanly or not.
 *
 * What a session sends: HELLO first; once the peer's HELLO is in, the
 * certificates and revocations the peer lacks (by BLAKE2b-256 digest of the
 * stored bytes), then for every origin the entries beyond what the peer has
 * said it holds (its HELLO vector, raised by its HAVEs and by the entries it
 * sent us).  ENTRIES are made lazily, one message per sync_next() call, so
 * the caller's write queue is the backpressure.  What it receives: entries
 * go to replica_ingest() once per ENTRIES message (one commit each; a run
 * cut before its signature waits, uncommitted, for the next message of the
 * same origin), or once per batch of messages with group commit
 * (sync_limits.batch_entries, sync_flush()), and a HAVE with the new heads
 * follows every commit.  The
 * core decides what an entry does (applied, refused, held for a forked
 * origin, …); the session never judges authority.
 *
 * A session does not remember anything across connections: every HELLO is
 * taken as the truth about the peer, so a peer that lost its database (a
 * new replica-instance id) is sent everything it now lacks.
 *
 * Ownership: struct sync_session is opaque, made by sync_open() and freed by
 * sync_close().  The replica is borrowed: it must stay open until
 * sync_close(), and a session is used by the replica's thread only.  Message
 * buffers passed to sync_receive() stay the caller's (nothing points into
 * them after the call); those from sync_next() are malloc()ed and become
 * the caller's to free().
 *
 * Errors: 0 or a negative CN_ERR_* (cn.h).  Every error from
 * sync_start(), sync_receive(), sync_next() and sync_local_changed() is
 * fatal for the connection: the session keeps it, every later call returns
 * it, and sync_error() says why in a sentence (for the log).  Close the
 * connection without sending more.  The one exception is CN_ERR_INVAL for
 * a misuse by the caller (a NULL argument, sync_start() twice, sync_ping()
 * before sync_start()): it changes nothing and is not kept.  Nothing of a refused message reaches the
 * replica: a message is decoded and checked in full before anything is
 * installed or ingested, and entries waiting for their signature are
 * dropped, never half-applied.
 */
#ifndef CN_SYNC_H
#define CN_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cn.h"
#include "replica.h"

/* Message types (the first element of every message). */
enum sync_type {
	SYNC_HELLO = 1,
	SYNC_CERTS = 2,
	SYNC_ENTRIES = 3,
	SYNC_HAVE = 4,
	SYNC_PING = 5,
	SYNC_PONG = 6,
};

/* Protocol limits: what any session accepts. */
#define SYNC_MSG_MAX (1u << 20)     /* bytes of one message (= HS_MSG_MAX) */
#define SYNC_ENTRIES_MAX 4096       /* entries of one ENTRIES message */
#define SYNC_ORIGINS_MAX 65536      /* origins of a HELLO or HAVE vector */
#define SYNC_DIGESTS_MAX 65536      /* digests of each HELLO list */
#define SYNC_BLOBS_MAX 8192         /* certificates (revocations) of a CERTS */
#define SYNC_PONGS_MAX 64           /* PINGs received and not yet answered */
/* Defaults of struct sync_limits. */
#define SYNC_TAIL_ENTRIES 16384     /* unsigned entries waiting for a signature */
#define SYNC_TAIL_BYTES (8u << 20)
#define SYNC_BATCH_MAX_ENTRIES 262144 /* entries of one group commit */
#define SYNC_BATCH_MAX_BYTES (64u << 20)

/* Limits of one session.  A field left 0 takes its default.  max_msg and
 * max_entries bound what this session sends (defaults and maxima: the
 * protocol's SYNC_MSG_MAX and SYNC_ENTRIES_MAX; lower values are for tests
 * that want many small messages); a session accepts up to the protocol
 * limits whatever its own.  The tail limits bound what it holds of a run
 * of entries whose covering signature has not arrived yet; a peer that goes
 * beyond them is a fatal CN_ERR_TOOBIG.  An author signs at least every
 * CN_SIGN_EVERY entries and every CN_SIGN_BYTES of payload, so an honest
 * run is far below the defaults. */
struct sync_limits {
	size_t max_msg;          /* 65,536 … SYNC_MSG_MAX */
	size_t max_entries;      /* 1 … SYNC_ENTRIES_MAX */
	size_t max_tail_entries; /* ≥ SYNC_ENTRIES_MAX */
	size_t max_tail_bytes;   /* ≥ SYNC_MSG_MAX */
	/* Group commit.  0 (the default): every ENTRIES is committed as it
	 * is received.  Otherwise received entries wait, copied, until
	 * sync_flush() (or sync_next()) or until this many entries or bytes
	 * wait, and are then committed in one transaction: one commit for
	 * all the messages the caller had at hand.  At most
	 * SYNC_BATCH_MAX_ENTRIES / SYNC_BATCH_MAX_BYTES. */
	size_t batch_entries;
	size_t batch_bytes;      /* 0 with batch_entries set: 16 MiB */
	/* Bootstrap: when the first ENTRIES arrives and the replica holds no
	 * entries and no students, take the replica's bulk path
	 * (replica_bulk_begin): the log first, every table built once when
	 * this session has caught up with what the peer said it holds, when
	 * a commit leaves entries unstored (a gap, a fork …), or at
	 * sync_close().  Other sessions on the same replica keep working. */
	bool bulk;
};

struct sync_stats {
	uint64_t msgs_sent, msgs_received;
	uint64_t bytes_sent, bytes_received;
	uint64_t entries_sent;      /* in ENTRIES messages handed out */
	uint64_t entries_received;  /* in ENTRIES messages accepted */
	uint64_t entries_dropped;   /* received unsigned and given up, not
				     * stored: the peer did not continue
				     * their run, or the replica got them
				     * from another session meanwhile */
	uint64_t commits;           /* replica_ingest() calls */
	bool bulk;                  /* the replica's bulk path is on for
				     * this session (a bootstrap) */
	uint64_t bulk_entries;      /* stored through the bulk path */
	uint64_t bulk_build_ms;     /* building the tables at its end */
	uint64_t batched;           /* entries waiting for a group commit */
	struct ingest_report ingest; /* summed over the commits: applied,
				     * refused, duplicate, held …; problem is
				     * the first one the core named */
	uint64_t certs_sent, revocations_sent;
	uint64_t certs_new, revocations_new; /* installed here from the peer */
	uint64_t haves_sent, haves_received;
	uint64_t pings_sent, pongs_received, last_pong;
	size_t peer_vv_origins;     /* origins in what we know the peer holds */
	bool hello_sent, hello_received;
	/* From the peer's HELLO (zero before it).  The node id is what the
	 * peer claims: the daemon checks it against the handshake's
	 * certificate (hs_peer()->node) and closes on a mismatch. */
	uint8_t peer_node[CN_KEY_LEN];
	uint8_t peer_instance[16];
	int last_error;             /* 0, or the error that ended the session */
	char error[256];            /* sync_error() */
};

struct sync_session;

/* Make a session over `r` (borrowed; see above).  lim may be NULL for the
 * defaults; it is copied.  Nothing is sent or read yet.  Errors:
 * CN_ERR_INVAL (NULL s or r, a limit out of range), CN_ERR_NOMEM.  On
 * failure *s is NULL. */
int sync_open(struct sync_session **s, struct replica *r,
	      const struct sync_limits *lim);
/* Free the session and everything it holds (s may be NULL).  Entries
 * received but still waiting for their signature are dropped; everything
 * committed stays committed.  Entries waiting for a group commit are
 * committed first (unless the session failed), and a bulk bootstrap the
 * session started is ended (its tables built; if that fails the replica
 * rebuilds them when next opened). */
void sync_close(struct sync_session *s);

/* Take the replica's version vector and certificate / revocation digests
 * and queue HELLO (the first message sync_next() hands out).  Call once.
 * Errors: CN_ERR_INVAL (called twice), CN_ERR_TOOBIG (the HELLO would not
 * fit max_msg: more than about 10,000 origins and certificates together),
 * CN_ERR_NOMEM, or the replica's error reading them. */
int sync_start(struct sync_session *s);

/* One plaintext message from the peer (msg[0..len) is only read during the
 * call).  May install certificates, ingest and commit entries, and queue
 * answers (HAVE, PONG) for sync_next().  Errors, all fatal:
 * CN_ERR_MALFORMED (not a well-formed message of a known type, or one out
 * of order: anything before HELLO, a second HELLO, ENTRIES not contiguous
 * or of another origin than its header, first_seq 0, an empty ENTRIES,
 * CERTS or HAVE, a PONG without a PING …), CN_ERR_TOOBIG (a message,
 * array, entry or unsigned run over its limit), CN_ERR_BADSIG (a
 * certificate or revocation not signed by the deployment root),
 * CN_ERR_INVAL (NULL s, or msg NULL with len > 0), or the replica's error
 * (CN_ERR_STORE, CN_ERR_NOMEM …) while installing or ingesting. */
int sync_receive(struct sync_session *s, const uint8_t *msg, size_t len);

/* The next message to send: *msg malloc()ed (the caller frees it), *len
 * ≤ max_msg.  0 with *msg NULL when nothing is due now (before
 * sync_start(), while waiting for the peer's HELLO, or when the peer has
 * everything we hold).  Order: HELLO; PING; PONG; HAVE; CERTS; then at
 * most one ENTRIES per call, produced only when asked for.  Errors, all
 * fatal: CN_ERR_INVAL (NULL argument), CN_ERR_NOMEM, the replica's error
 * while reading its log (CN_ERR_STORE), or the error that ended the
 * session earlier. */
int sync_next(struct sync_session *s, uint8_t **msg, size_t *len);

/* A shared view of the replica for many sessions (the daemon's): its
 * version vector and certificates read once for all of them, what rose
 * since the previous look, and the ENTRIES made for one session kept for
 * the others that need the same.  With 500 peers a session's look at the
 * replica after each write (sync_local_changed) then costs what changed,
 * not the whole replica.
 *
 * sync_view_new() reads the replica at once; sync_view_refresh() again:
 * call it after every write to the replica, before sync_local_changed()
 * on the sessions (and before their sync_next()).  sync_set_view() makes
 * a session (before sync_start) look at the replica through the view;
 * the view must outlive its sessions and be used by the replica's thread
 * only.  Errors: CN_ERR_INVAL (NULL, a view of another replica,
 * sync_set_view after sync_start), CN_ERR_NOMEM, or the replica's error
 * while reading. */
struct sync_view;
int sync_view_new(struct sync_view **v, struct replica *r);
void sync_view_free(struct sync_view *v);
int sync_view_refresh(struct sync_view *v);
int sync_set_view(struct sync_session *s, struct sync_view *v);

/* Commit the received entries waiting for a group commit (see
 * sync_limits.batch_entries), queue the HAVE that follows, and end a bulk
 * bootstrap that has caught up.  Nothing to do without a batch.  The
 * daemon calls it once it has handed over every message it had at hand;
 * sync_next() calls it too.  Errors, fatal: the replica's, or the
 * session's earlier error. */
int sync_flush(struct sync_session *s);

/* sync_flush() for several sessions over the same replica at once: their
 * batches go into one write transaction (replica_ingest_batches), each
 * counted in its own session's report.  Sessions without a batch or
 * with an error are passed over.  An error storing fails every session
 * that had a batch (and is returned); CN_ERR_INVAL for NULL or sessions
 * of different replicas. */
int sync_flush_group(struct sync_session *const *ss, size_t n);

/* The replica has new entries, certificates or revocations (authored here,
 * or ingested by any session: relay).  Cheap: the session re-reads the
 * replica's vector and certificates at its next sync_next(), so calls may
 * come after every write.  Returns 0 or the session's error. */
int sync_local_changed(struct sync_session *s);

/* Queue PING [5, nonce] (the daemon's keepalive).  Allowed once
 * sync_start() was called.  Errors: CN_ERR_INVAL (not started, or more
 * than SYNC_PONGS_MAX PINGs queued), or the session's error. */
int sync_ping(struct sync_session *s, uint64_t nonce);

/* True when both HELLOs are through, the peer holds, as far as this
 * session knows, at least our vector for every origin and every
 * certificate and revocation we hold, and nothing is in flight: no message
 * queued, no commit whose HAVE is unsent, no received run waiting for its
 * signature, no local change not yet looked at.  False after an error. */
bool sync_caught_up(const struct sync_session *s);

/* How far apart the two replicas are, as far as this session knows:
 * *peer_lacks = Σ over origins of (our head − what the peer holds) where
 * positive, *we_lack = the same the other way, from the peer's HELLO and
 * HAVEs and the entries it sent.  Our heads are as of the last look at the
 * replica (sync_next after sync_local_changed).  Both 0 before the HELLO. */
void sync_lag(const struct sync_session *s, uint64_t *peer_lacks,
	      uint64_t *we_lack);

/* Counters and the peer's identity so far (out is overwritten). */
void sync_stats(const struct sync_session *s, struct sync_stats *out);
/* Why the session ended: a sentence, "" while it is fine.  Valid until
 * sync_close(). */
const char *sync_error(const struct sync_session *s);

#endif
