/*
 * net.h — a node's network side on a libuv loop: the listener, the
 * configured peers (dialled with exponential backoff and jitter), and every
 * connection's handshake, frames, keepalive and dead-peer detection.  The
 * sync sessions run in the replica thread (worker.h); this file moves their
 * messages between the sockets and that thread.
 *
 * A connection:
 *   TCP connect/accept → handshake (handshake.h; a peer without the network
 *   key is closed without a word) → the peer's certificate must not be this
 *   node's own, and only one connection per peer node is kept (the one
 *   dialled by the node with the lower id) → sync session in the worker →
 *   frames both ways until an error, a dead peer (no bytes for dead_ms), a
 *   SIGTERM or the end of a one-shot sync.
 * Backpressure: the worker hands out at most its bound of unwritten bytes
 * per session; a connection stops reading while more than 8 MiB of its
 * messages wait in the worker.
 *
 * Used by the daemon (`cardnode`) and by `cardctl sync` (one-shot: one
 * peer, no listener, stop when caught up both ways).  All calls from the
 * loop thread.
 */
#ifndef CN_NET_H
#define CN_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <uv.h>

#include "replica.h"
#include "worker.h"

#define NET_DEFAULT_PORT 7420

struct net_config {
	const char *listen;          /* "HOST:PORT"; NULL: do not listen */
	const char *const *peers;    /* "HOST:PORT" each (HOST may be a name
				      * or a [v6] address); copied */
	size_t npeers;
	unsigned keepalive_ms;       /* PING period; 0: 20 s */
	unsigned dead_ms;            /* no bytes this long: close; 0: 60 s */
	unsigned handshake_ms;       /* handshake deadline; 0: 10 s */
	unsigned backoff_min_ms;     /* first redial delay; 0: 1 s */
	unsigned backoff_max_ms;     /* largest; 0: 5 min */
	unsigned max_conns;          /* connections at once; an inbound one
				      * beyond it is closed at once; 0: 1024 */
	uint64_t watermark_ms;       /* city watermark interval; 0: never */
	const char *status_path;     /* peer table written every second for
				      * `cardctl status`; NULL: none */
	uint64_t watermark_max_age_ms; /* warn past this age (log and status
					* file); 0: never */
	bool oneshot;                /* one peer, no redial, stop when caught up */
	/* Called once everything is closed when the net stops by itself (a
	 * one-shot sync) or by net_stop() without a callback of its own. */
	void (*stopped)(void *ctx);
	void *stopped_ctx;
	/* The entry of net_author(token) was written (rc 0) or not (rc, why). */
	void (*authored)(void *ctx, uint64_t token, int rc, const char *why);
	void *authored_ctx;
	/* Extra lines for the status file (the reader's), and its context. */
	void (*status_extra)(void *ctx, FILE *f);
	void *status_ctx;
};

struct net;

/* Start listening and dialling.  `r` is handed to the replica thread and
 * must not be used by the caller until net_stop() completed (the loop ran
 * to the end).  Errors: CN_ERR_INVAL (a bad address: err says which),
 * CN_ERR_IO (cannot listen: err says why), CN_ERR_PERM (no identity or
 * network key in the data dir), CN_ERR_NOMEM. */
int net_start(struct net **out, uv_loop_t *loop, struct replica *r,
	      const struct net_config *c, char *err, size_t errlen);

/* Replace the configured peers (SIGHUP): new ones are dialled, removed ones
 * closed, unchanged ones kept with their connections.  CN_ERR_INVAL with
 * err set if one is not a valid "HOST:PORT" (nothing changes then). */
int net_set_peers(struct net *n, const char *const *peers, size_t npeers,
		  char *err, size_t errlen);

/* Author `e` as this node in the replica thread (a reader's validation):
 * the `authored` callback reports it, after it is durable.  CN_ERR_INVAL
 * once stopping. */
int net_author(struct net *n, uint64_t token, const struct entry *e);

/* Close every connection, the listener, the timers and the replica thread.
 * The loop then runs out by itself; net_stop frees everything on its way
 * (n is invalid after `done` returned).  Calling it twice is harmless.
 * `done` (NULL: the configured `stopped`) is called from the loop once
 * everything is closed. */
void net_stop(struct net *n, void (*done)(void *ctx), void *ctx);

/* One-shot result, to read in net_stop's `done` callback: 0 when the sync
 * completed, CN_ERR_PARTIAL while still under way, else a negative
 * CN_ERR_*; msg says what happened (valid until `done` returns), *peer
 * the session's counts at the end. */
int net_oneshot_result(const struct net *n, const char **msg,
		       struct worker_peer *peer);

/* Parse "HOST:PORT" or "[V6]:PORT" (port 1–65535). */
bool net_parse_hostport(const char *spec, char *host, size_t hostlen,
			char *port, size_t portlen);

/* What the daemon's metrics show of the network side. */
struct net_counts {
	uint64_t peers_configured;   /* [peers] entries */
	uint64_t peers_connected;    /* connections past the handshake whose
				      * peer accepted us (either direction) */
	uint64_t applied, refused;   /* entries received by sync since the
				      * start (worker_totals) */
};
void net_counts(struct net *n, struct net_counts *out);

#endif
