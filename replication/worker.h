/*
 * worker.h — the replica thread of a node's network side.
 *
 * The libuv loop thread owns the sockets, the handshakes and the frames;
 * this thread owns the replica and every connection's sync session
 * (sync.h).  So a commit of a large batch never stalls the loop: handshakes,
 * keepalives and (later) reader taps go on while it runs.
 *
 * The loop hands work over with worker_open / worker_deliver / worker_written
 * / worker_ping / worker_close (they only queue a job and wake the thread);
 * the thread answers with events that the loop receives through a uv_async
 * handle, in the loop thread, in the order they were made:
 *   WORKER_SEND      a message for connection `conn`: seal it and write it,
 *                    then call worker_written() with its length once the
 *                    write completed (that is the backpressure: a session
 *                    hands out at most `out_bound` bytes not yet written);
 *   WORKER_CONSUMED  `len` bytes of delivered messages were handled (the loop
 *                    bounds what it has delivered and not yet seen consumed);
 *   WORKER_CLOSE     the session failed (`why`): close the connection;
 *   WORKER_DONE      a one-shot session is caught up both ways;
 *   WORKER_AUTH      certificates or revocations changed: `auth` is a fresh
 *                    authority (revocations, for refusing peers) and `cert`
 *                    the node's own certificate (cert_len 0: none valid);
 *   WORKER_AUTHORED  the entry of worker_author() `conn` (its token) was
 *                    written, durably, when `rc` is 0; else `rc` and `why`.
 *
 * The thread also notices writes by other processes (cardctl) within
 * `tick_ms` (replica_changed), tells every session (which then pushes what
 * is new: local entries and relayed ones alike), authors the city
 * watermark every `watermark_ms` when the node is certified as city, and
 * logs a warning when the newest city watermark applied here gets older
 * than `watermark_max_age_ms` (and a note when it is fresh again).
 * Every session looks at the replica through one shared sync_view,
 * refreshed after each write the thread sees.
 *
 * Connection ids are the loop's; the loop may forget a connection at any
 * time after worker_close(), and must ignore events for ids it forgot.
 * All functions are called from the loop thread only.  Errors: 0 or
 * CN_ERR_NOMEM (the job could not be queued: close the connection).
 */
#ifndef CN_WORKER_H
#define CN_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "authority.h"
#include "cn.h"
#include "replica.h"
#include "sync.h"

enum worker_event_type {
	WORKER_SEND = 1,
	WORKER_CONSUMED,
	WORKER_CLOSE,
	WORKER_DONE,
	WORKER_AUTH,
	WORKER_AUTHORED,
};

/* A session's state as the status file shows it. */
struct worker_peer {
	bool hello;                /* the peer's HELLO is in */
	uint64_t peer_lacks;       /* entries we hold the peer lacks */
	uint64_t we_lack;          /* entries the peer holds we lack */
	uint64_t entries_sent, entries_received, applied, refused;
	uint64_t last_msg_ms;      /* wall clock of the last message, 0 none */
};

struct worker_event {
	enum worker_event_type type;
	uint64_t conn;
	uint8_t *msg;              /* SEND: malloc()ed; the callback takes it */
	size_t len;                /* SEND: bytes of msg; CONSUMED: bytes */
	struct authority *auth;    /* AUTH: the callback takes it */
	uint8_t cert[CERT_MAX];    /* AUTH */
	size_t cert_len;
	char why[256];             /* CLOSE */
	struct worker_peer peer;   /* DONE, CLOSE: the session's last state */
	int rc;                    /* AUTHORED: replica_author()'s result */
	struct worker_event *next; /* private */
};

/* Called in the loop thread for each event.  The callback owns ev->msg and
 * ev->auth (set them NULL if it keeps them; otherwise they are freed after
 * it returns); the event itself is freed by the worker. */
typedef void (*worker_cb)(void *ctx, struct worker_event *ev);

struct worker_config {
	unsigned tick_ms;          /* change check period; 0: 5 ms (a
				    * check is one read-transaction renew:
				    * cheap, and it bounds how long an entry
				    * cardctl wrote waits before it is pushed) */
	uint64_t watermark_ms;     /* city watermark interval; 0: never */
	uint64_t watermark_max_age_ms; /* warn in the log past this age; 0: never */
	size_t out_bound;          /* per session; 0: 4 MiB */
	struct sync_limits limits; /* zeros: the protocol defaults, except
				    * that the worker always commits in
				    * groups (batch_entries 0: 65,536; all
				    * messages of every session handled in
				    * one round go into one transaction,
				    * sync_flush_group) and
				    * bootstraps an empty replica through
				    * the bulk path (limits.bulk) */
};


struct worker;

/* Start the thread over `r` (opened for writing; from now on only the
 * thread uses it, until worker_stop returned).  Queues a WORKER_AUTH event
 * with the current certificates at once.  Errors: CN_ERR_NOMEM, CN_ERR_IO
 * (thread or handle creation failed). */
int worker_start(struct worker **out, uv_loop_t *loop, struct replica *r,
		 const struct worker_config *cfg, worker_cb cb, void *ctx);
/* Stop the thread (it finishes the job in hand: a commit under way
 * completes, queued jobs are dropped), join it, close every session and
 * start closing the async handle; the worker is freed by the loop once the
 * handle is closed, so keep running the loop.  No callback runs after this
 * returns.  w may be NULL. */
void worker_stop(struct worker *w);

/* A connection authenticated as node `peer`: open its session and send
 * HELLO.  `label` names it in the log (copied).  oneshot: post WORKER_DONE
 * once it is caught up both ways. */
int worker_open(struct worker *w, uint64_t conn, const uint8_t peer[CN_KEY_LEN],
		const char *label, bool oneshot);
/* A message from the peer (the worker takes msg, malloc()ed). */
int worker_deliver(struct worker *w, uint64_t conn, uint8_t *msg, size_t len);
/* `len` bytes of WORKER_SEND messages were written to the socket. */
int worker_written(struct worker *w, uint64_t conn, size_t len);
/* Queue a keepalive PING on the session. */
int worker_ping(struct worker *w, uint64_t conn, uint64_t nonce);
/* The connection is gone: close its session.  Messages delivered before
 * are still handled (committed entries stay committed). */
int worker_close(struct worker *w, uint64_t conn);

/* Author one entry as this node (a reader's card.validate …): copied; the
 * WORKER_AUTHORED event with conn = token says how it went.  The entry may
 * not point outside itself (no watermark vv). */
int worker_author(struct worker *w, uint64_t token, const struct entry *e);

/* The last state of conn's session (refreshed at most twice a second).
 * false if the worker has no session of that id. */
bool worker_peer_state(struct worker *w, uint64_t conn, struct worker_peer *out);

/* Entries received by sync since the worker started, over every session
 * closed or open: applied, and stored without effect (refused).  Open
 * sessions count as of their last snapshot (at most half a second old). */
void worker_totals(struct worker *w, uint64_t *applied, uint64_t *refused);

#endif
