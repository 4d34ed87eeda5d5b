/*
 * net.c — see net.h.
 *
 * Handles and their lifetimes: the net owns the listener, a status timer, a
 * stop timer, its peers (one redial timer each) and its connections (a TCP
 * handle and a timer each).  A connection is freed when both of its handles
 * have closed; a peer when its timer has closed and no address lookup is
 * pending; the net when everything is closed and the worker's async handle
 * too.  Write requests keep their connection alive: libuv calls every
 * write callback (with UV_ECANCELED if need be) before the close callback.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "handshake.h"
#include "log.h"
#include "net.h"
#include "util.h"
#include "worker.h"

#define IN_PENDING_STOP (8u << 20)   /* stop reading above … */
#define IN_PENDING_RESUME (2u << 20) /* … resume below */
#define STOP_GRACE_MS 2000

struct auth_ref {
	int refs;
	struct authority *a;
};

enum peer_state {
	PEER_IDLE = 0,
	PEER_RESOLVING,
	PEER_CONNECTING,
	PEER_CONNECTED,
	PEER_BACKOFF,
};

static const char *const peer_state_name[] = {
	"idle", "resolving", "connecting", "connected", "backoff",
};

struct conn;

struct peer {
	struct net *net;
	char spec[300];
	char host[256];
	char port[8];
	uv_timer_t timer;
	uv_getaddrinfo_t gai;
	bool gai_busy;
	bool removed;
	bool timer_open;
	enum peer_state state;
	unsigned attempts;
	uint64_t next_dial_ms;
	char last_error[200];
	struct conn *conn;
	/* The peer's node is connected to us by its own dial: no need to
	 * dial it too until that connection ends. */
	bool covered;
	uint8_t covered_node[CN_KEY_LEN];
	struct peer *next;
};

struct conn {
	struct net *net;
	uint64_t id;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t creq;
	uv_shutdown_t sreq;
	int handles;              /* open handles: freed at 0 */
	struct peer *peer;        /* outbound: the configured peer */
	char addr[80];            /* the remote address */
	char label[300];          /* for the log */
	bool inbound, connected, ready, closing, opened, quiet;
	bool confirmed;           /* a message came: the peer accepted us */
	struct hs hs;
	bool hs_inited;
	struct auth_ref *auth;    /* held during the handshake */
	uint64_t started_ms, ready_ms, last_rx_ms, last_ping_ms, nonce;
	uint64_t finish_ms;       /* conn_finish() began: close by force later */
	size_t in_pending;
	bool read_stopped;
	uint8_t node[CN_KEY_LEN];
	char name[CERT_NAME_MAX + 1];
	char why[200];            /* why it closed */
	struct conn *next, *prev;
	struct conn *hnext;       /* conn_find's table */
	uint8_t *obuf;            /* sealed frames not yet handed to libuv */
	size_t olen, ocap, oplain;
	bool odirty;
	struct conn *onext;
};

struct net {
	uv_loop_t *loop;
	struct replica *r;
	struct net_config cfg;
	struct worker *worker;
	uint8_t self[CN_KEY_LEN];
	uint8_t network_key[CN_KEY_LEN];
	uint8_t root_pub[CN_KEY_LEN];
	uint8_t cert[CERT_MAX];
	size_t cert_len;
	struct auth_ref *auth;

	uv_tcp_t listener;
	bool listening;
	char listen_addr[80];
	uv_timer_t status_timer, stop_timer;
	bool status_open, stop_open;
	uv_check_t flush_check;
	bool flush_open;
	struct conn *odirty;
	struct conn *byid[1024];
	struct peer *peers;
	struct conn *conns;
	size_t nconns;
	uint64_t next_id;
	uint8_t rbuf[64 * 1024];

	bool stopping;
	void (*done)(void *);
	void *done_ctx;
	int handles;              /* net-level handles still open */
	/* one-shot */
	int result;
	char result_msg[400];
	struct worker_peer result_peer;
};

static void conn_close(struct conn *c, const char *why);
static void peer_schedule(struct peer *p);
static void status_soon(struct net *n);
static void net_maybe_free(struct net *n);
static void peer_cover(struct peer *p, const uint8_t node[CN_KEY_LEN]);
static void peer_uncover(struct net *n, const struct conn *gone);

/* ---- small helpers ---------------------------------------------------------- */

static void auth_put(struct auth_ref *a)
{
	if (a != NULL && --a->refs == 0) {
		authority_free(a->a);
		free(a);
	}
}

bool net_parse_hostport(const char *spec, char *host, size_t hostlen,
			char *port, size_t portlen)
{
	const char *colon, *h = spec;
	size_t hl;
	char *end;
	long v;

	if (spec == NULL)
		return false;
	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');
		if (rb == NULL || rb[1] != ':')
			return false;
		h = spec + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL || memchr(spec, ':', (size_t)(colon - spec)) != NULL)
			return false;
		hl = (size_t)(colon - spec);
	}
	if (hl == 0 || hl >= hostlen)
		return false;
	errno = 0;
	v = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || v < 0 || v > 65535)
		return false;
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(port, portlen, "%ld", v);
	return true;
}

static void addr_name(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char ip[64] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;
		uv_ip4_name(a, ip, sizeof ip);
		port = ntohs(a->sin_port);
		snprintf(out, len, "%s:%d", ip, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;
		uv_ip6_name(a, ip, sizeof ip);
		port = ntohs(a->sin6_port);
		snprintf(out, len, "[%s]:%d", ip, port);
	} else {
		snprintf(out, len, "?");
	}
}

static struct conn *conn_find(struct net *n, uint64_t id)
{
	for (struct conn *c = n->byid[id % 1024]; c != NULL; c = c->hnext)
		if (c->id == id)
			return c;
	return NULL;
}

/* ---- writing ---------------------------------------------------------------- */

struct wreq {
	uv_write_t req;
	struct conn *c;
	size_t plain;             /* message bytes to report to the worker */
	bool close_after;         /* the final frame of a one-shot sync */
	uint8_t data[];
};

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;

	(void)status;
	conn_close(c, c->why[0] ? c->why : "closed");
}

static void on_write(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = w->c;
	struct net *n = c->net;

	if (status < 0) {
		if (!c->closing) {
			char why[120];
			snprintf(why, sizeof why, "write failed: %s", uv_strerror(status));
			conn_close(c, why);
		}
	} else if (w->plain > 0 && c->opened && n->worker != NULL) {
		if (worker_written(n->worker, c->id, w->plain) != CN_OK)
			conn_close(c, "out of memory");
	}
	free(w);
}

/* Write `len` bytes as they are (handshake output). */
static int send_raw(struct conn *c, const uint8_t *p, size_t len)
{
	struct wreq *w = malloc(sizeof *w + len);
	uv_buf_t b;
	int rc;

	if (w == NULL)
		return CN_ERR_NOMEM;
	memset(w, 0, sizeof *w);
	w->c = c;
	memcpy(w->data, p, len);
	b = uv_buf_init((char *)w->data, (unsigned)len);
	if ((rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write)) != 0) {
		free(w);
		return CN_ERR_IO;
	}
	return CN_OK;
}

/* Hand the frames sealed since the last flush to libuv in one write. */
static int flush_out(struct conn *c)
{
	struct wreq *w;
	uv_buf_t b;

	if (c->olen == 0)
		return CN_OK;
	if ((w = malloc(sizeof *w + c->olen)) == NULL)
		return CN_ERR_NOMEM;
	memset(w, 0, sizeof *w);
	w->c = c;
	w->plain = c->oplain;
	memcpy(w->data, c->obuf, c->olen);
	b = uv_buf_init((char *)w->data, (unsigned)c->olen);
	c->olen = c->oplain = 0;
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
		free(w);
		return CN_ERR_IO;
	}
	return CN_OK;
}

static void on_flush_check(uv_check_t *h)
{
	struct net *n = h->data;
	struct conn *c;

	while ((c = n->odirty) != NULL) {
		n->odirty = c->onext;
		c->odirty = false;
		if (!c->closing && flush_out(c) != CN_OK)
			conn_close(c, "write failed");
	}
}

/* Seal one message into a frame and write it. */
static int send_msg(struct conn *c, const uint8_t *msg, size_t len, bool final)
{
	size_t cap = len + HS_FRAME_OVERHEAD, flen;
	struct wreq *w;
	uv_buf_t b;
	int rc;

	if (!final) {
		if (c->olen + cap > c->ocap) {
			size_t nc = c->ocap ? c->ocap : 65536;
			uint8_t *p;
			while (nc < c->olen + cap)
				nc *= 2;
			if ((p = realloc(c->obuf, nc)) == NULL)
				return CN_ERR_NOMEM;
			c->obuf = p;
			c->ocap = nc;
		}
		if ((rc = hs_seal(&c->hs, msg, len, false, c->obuf + c->olen, cap,
				  &flen)) != CN_OK)
			return rc;
		c->olen += flen;
		c->oplain += len;
		if (!c->odirty) {
			c->odirty = true;
			c->onext = c->net->odirty;
			c->net->odirty = c;
		}
		return CN_OK;
	}
	if ((rc = flush_out(c)) != CN_OK)
		return rc;
	w = malloc(sizeof *w + cap);
	if (w == NULL)
		return CN_ERR_NOMEM;
	memset(w, 0, sizeof *w);
	w->c = c;
	w->plain = final ? 0 : len;
	if ((rc = hs_seal(&c->hs, msg, len, final, w->data, cap, &flen)) != CN_OK) {
		free(w);
		return rc;
	}
	b = uv_buf_init((char *)w->data, (unsigned)flen);
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
		free(w);
		return CN_ERR_IO;
	}
	return CN_OK;
}

/* Send the handshake bytes the state machine has queued. */
static int flush_hs(struct conn *c)
{
	const uint8_t *out;
	size_t len;
	int rc = hs_pending(&c->hs, &out, &len);

	if (rc != CN_OK || len == 0)
		return rc;
	rc = send_raw(c, out, len);
	hs_sent(&c->hs, len);
	return rc;
}

/* End a ready connection politely: a FINAL frame, then shut the socket
 * down once it is written, then close. */
static void conn_finish(struct conn *c, const char *why)
{
	if (c->closing)
		return;
	snprintf(c->why, sizeof c->why, "%s", why);
	if (!c->ready || send_msg(c, NULL, 0, true) != CN_OK) {
		conn_close(c, why);
		return;
	}
	c->sreq.data = c;
	if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
		conn_close(c, why);
		return;
	}
	c->closing = true; /* no more frames; on_shutdown closes */
	c->finish_ms = uv_now(c->net->loop);
}

/* ---- closing ---------------------------------------------------------------- */

static void conn_free_if_closed(struct conn *c)
{
	struct net *n = c->net;

	if (c->handles > 0)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		n->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	for (struct conn **pp = &n->byid[c->id % 1024]; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == c) {
			*pp = c->hnext;
			break;
		}
	for (struct conn **pp = &n->odirty; *pp != NULL; pp = &(*pp)->onext)
		if (*pp == c) {
			*pp = c->onext;
			break;
		}
	free(c->obuf);
	n->nconns--;
	if (c->hs_inited)
		hs_wipe(&c->hs);
	auth_put(c->auth);
	free(c);
	net_maybe_free(n);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	c->handles--;
	conn_free_if_closed(c);
}

static void oneshot_end(struct net *n, int result, const char *msg)
{
	if (n->result == 1) {
		n->result = result;
		snprintf(n->result_msg, sizeof n->result_msg, "%s", msg);
	}
	net_stop(n, n->done, n->done_ctx);
}

static void conn_close(struct conn *c, const char *why)
{
	struct net *n = c->net;
	bool was_ready = c->ready;

	if (c->handles == 0 || uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	c->closing = true;
	if (why != NULL && c->why != why)
		snprintf(c->why, sizeof c->why, "%s", why);
	if (c->opened && n->worker != NULL)
		(void)worker_close(n->worker, c->id);
	c->opened = false;
	c->ready = false;
	if (was_ready && !c->confirmed && strcmp(c->why, "closed by the peer") == 0)
		snprintf(c->why, sizeof c->why, "refused by the peer after the "
			 "handshake (revoked, or not trusted by its root?)");
	if (!c->quiet) {
		if (was_ready && c->confirmed)
			log_info("%s: disconnected: %s", c->label, c->why);
		else if (was_ready)
			log_warn("%s: %s", c->label, c->why);
		else
			log_info("%s: %s", c->label, c->why);
	}
	uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
	if (was_ready) {
		status_soon(n);
		peer_uncover(n, c);
	}
	if (c->peer != NULL && c->peer->conn == c) {
		struct peer *p = c->peer;
		p->conn = NULL;
		snprintf(p->last_error, sizeof p->last_error, "%s", c->why);
		c->peer = NULL;
		if (n->cfg.oneshot)
			oneshot_end(n, CN_ERR_IO, c->why);
		else
			peer_schedule(p);
	} else if (n->cfg.oneshot && n->result == 1) {
		oneshot_end(n, CN_ERR_IO, c->why);
	}
}

/* ---- reading ---------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)suggested;
	*buf = uv_buf_init((char *)c->net->rbuf, sizeof c->net->rbuf);
}

static void on_ready(struct conn *c);
static void conn_confirmed(struct conn *c);

static void read_frames(struct conn *c, const uint8_t *in, size_t len)
{
	struct net *n = c->net;
	size_t off = 0;

	while (off < len && !c->closing) {
		uint8_t *msg;
		size_t used, mlen;
		bool final;
		int rc = hs_open_next(&c->hs, in + off, len - off, &used, &msg,
				      &mlen, &final);
		if (rc != CN_OK) {
			char why[160];
			snprintf(why, sizeof why, "frame rejected: %s (%s)",
				 hs_error(&c->hs), cn_strerror(rc));
			conn_close(c, why);
			return;
		}
		off += used;
		if (msg == NULL)
			continue;
		if (!c->confirmed)
			conn_confirmed(c);
		if (final && mlen == 0) {
			free(msg);
			conn_close(c, "closed by the peer");
			return;
		}
		c->in_pending += mlen;
		if (worker_deliver(n->worker, c->id, msg, mlen) != CN_OK) {
			conn_close(c, "out of memory");
			return;
		}
		if (final) {
			conn_close(c, "closed by the peer");
			return;
		}
	}
	if (c->in_pending > IN_PENDING_STOP && !c->read_stopped && !c->closing) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->read_stopped = true;
	}
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	const uint8_t *in = (const uint8_t *)buf->base;
	size_t off = 0, len;

	if (c->closing)
		return;
	if (nread < 0) {
		conn_close(c, nread == UV_EOF ? "closed by the peer"
					      : uv_strerror((int)nread));
		return;
	}
	len = (size_t)nread;
	if (len == 0)
		return;
	c->last_rx_ms = uv_now(c->net->loop);
	while (!c->ready && off < len) {
		size_t used;
		int rc = hs_recv(&c->hs, in + off, len - off, &used);
		off += used;
		if (rc == CN_OK)
			rc = flush_hs(c);
		switch (hs_state(&c->hs)) {
		case HS_RUNNING:
			if (rc != CN_OK) {
				conn_close(c, "handshake output failed");
				return;
			}
			continue;
		case HS_READY:
			on_ready(c);
			if (c->closing)
				return;
			break;
		case HS_DROP:
			/* No network key: close at once, say nothing. */
			log_debug("%s: dropped: %s", c->label, hs_error(&c->hs));
			c->quiet = true;
			conn_close(c, hs_error(&c->hs));
			return;
		case HS_FAIL:
			{
				char why[200];
				snprintf(why, sizeof why, "handshake refused: %s",
					 hs_error(&c->hs));
				log_warn("%s: %s", c->label, why);
				c->quiet = true;
				conn_close(c, why);
			}
			return;
		}
	}
	if (c->ready && off < len)
		read_frames(c, in + off, len - off);
}

/* ---- the handshake ---------------------------------------------------------- */

static void on_conn_timer(uv_timer_t *t);

static int conn_begin(struct conn *c, bool initiator)
{
	struct net *n = c->net;
	struct hs_config hc = {
		.initiator = initiator,
		.network_key = n->network_key,
		.root_pub = n->root_pub,
		.cert = n->cert,
		.cert_len = n->cert_len,
		.sign = hs_replica_sign,
		.sign_ctx = n->r,
		.now_ms = util_now_ms(),
	};
	int rc;

	if (n->cert_len == 0) {
		conn_close(c, "this node has no valid certificate: install one "
			      "with cardctl cert install");
		return CN_ERR_PERM;
	}
	c->auth = n->auth;
	if (c->auth != NULL) {
		c->auth->refs++;
		hc.auth = c->auth->a;
	}
	rc = hs_init(&c->hs, &hc);
	c->hs_inited = true;
	if (rc != CN_OK) {
		char why[200];
		snprintf(why, sizeof why, "handshake could not start: %s",
			 hs_error(&c->hs));
		conn_close(c, why);
		return rc;
	}
	if ((rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) != 0) {
		conn_close(c, uv_strerror(rc));
		return CN_ERR_IO;
	}
	if (flush_hs(c) != CN_OK) {
		conn_close(c, "handshake output failed");
		return CN_ERR_IO;
	}
	return CN_OK;
}

/* A configured peer whose node is connected through another connection
 * (its own dial to us): stop dialling it while that lasts. */
static void peer_cover(struct peer *p, const uint8_t node[CN_KEY_LEN])
{
	if (p == NULL)
		return;
	p->covered = true;
	memcpy(p->covered_node, node, CN_KEY_LEN);
	p->state = PEER_CONNECTED;
	p->attempts = 0;
	p->last_error[0] = '\0';
}

/* The connection `gone` ended: unless another one to its node is up,
 * dial the peers it covered again. */
static void peer_uncover(struct net *n, const struct conn *gone)
{
	for (struct conn *o = n->conns; o != NULL; o = o->next)
		if (o != gone && !o->closing && o->hs_inited &&
		    hs_state(&o->hs) == HS_READY &&
		    memcmp(o->node, gone->node, CN_KEY_LEN) == 0)
			return;
	for (struct peer *p = n->peers; p != NULL; p = p->next)
		if (p->covered && memcmp(p->covered_node, gone->node, CN_KEY_LEN) == 0) {
			p->covered = false;
			peer_schedule(p);
		}
}

/* Which node dialled this connection. */
static const uint8_t *dialler(const struct conn *c)
{
	return c->inbound ? c->node : c->net->self;
}

static void on_ready(struct conn *c)
{
	struct net *n = c->net;
	const struct cert *pc = hs_peer(&c->hs);
	char hex[17];

	memcpy(c->node, pc->node, CN_KEY_LEN);
	snprintf(c->name, sizeof c->name, "%s", pc->name);
	auth_put(c->auth);
	c->auth = NULL;
	util_short_hex(c->node, hex);
	snprintf(c->label, sizeof c->label, "peer %s (%.64s %s)", c->addr, c->name, hex);
	if (memcmp(c->node, n->self, CN_KEY_LEN) == 0) {
		if (c->peer != NULL)
			c->peer->attempts = 30; /* redial rarely */
		conn_close(c, "the peer is this node itself");
		return;
	}
	/* One connection per peer node: keep the one dialled by the lower
	 * id; of two dialled by the same node, the newer. */
	for (struct conn *o = n->conns; o != NULL; o = o->next) {
		if (o == c || !o->ready || memcmp(o->node, c->node, CN_KEY_LEN) != 0)
			continue;
		if (memcmp(dialler(o), dialler(c), CN_KEY_LEN) < 0) {
			peer_cover(c->peer, c->node);
			log_debug("%s: already connected to this node", c->label);
			c->quiet = true;
			conn_close(c, "already connected to this node");
			return;
		}
		peer_cover(o->peer, o->node);
		conn_close(o, "replaced by a newer connection to this node");
		break;
	}
	c->ready = true;
	c->ready_ms = c->last_rx_ms = c->last_ping_ms = uv_now(n->loop);
	if (worker_open(n->worker, c->id, c->node, c->label, n->cfg.oneshot) != CN_OK) {
		conn_close(c, "out of memory");
		return;
	}
	c->opened = true;
	/* The initiator completes its handshake before the responder has
	 * checked the initiator's certificate: it is "connected" once the
	 * first message comes.  The responder's check is done. */
	if (c->inbound)
		conn_confirmed(c);
}

static void conn_confirmed(struct conn *c)
{
	c->confirmed = true;
	if (c->peer != NULL) {
		c->peer->attempts = 0;
		c->peer->state = PEER_CONNECTED;
		c->peer->last_error[0] = '\0';
	}
	log_info("%s: connected (%s)", c->label, c->inbound ? "inbound" : "outbound");
	status_soon(c->net);
}

static void on_conn_timer(uv_timer_t *t)
{
	struct conn *c = t->data;
	struct net *n = c->net;
	uint64_t now = uv_now(n->loop);
	char why[120];

	if (c->closing) {
		/* A peer that does not read our FINAL frame. */
		if (c->finish_ms != 0 && now - c->finish_ms >= STOP_GRACE_MS)
			conn_close(c, c->why);
		return;
	}
	if (!c->ready) {
		if (now - c->started_ms >= n->cfg.handshake_ms) {
			conn_close(c, c->connected ? "handshake timed out"
						   : "connect timed out");
		}
		return;
	}
	if (now - c->last_rx_ms >= n->cfg.dead_ms) {
		snprintf(why, sizeof why, "nothing received for %u s: peer dead",
			 n->cfg.dead_ms / 1000);
		conn_close(c, why);
		return;
	}
	if (now - c->last_ping_ms >= n->cfg.keepalive_ms) {
		c->last_ping_ms = now;
		if (worker_ping(n->worker, c->id, ++c->nonce) != CN_OK)
			conn_close(c, "out of memory");
	}
}

static struct conn *conn_new(struct net *n, bool inbound)
{
	struct conn *c = calloc(1, sizeof *c);
	unsigned tick;

	if (c == NULL)
		return NULL;
	c->net = n;
	c->id = ++n->next_id;
	c->inbound = inbound;
	c->started_ms = uv_now(n->loop);
	if (uv_tcp_init(n->loop, &c->tcp) != 0) {
		free(c);
		return NULL;
	}
	c->tcp.data = c;
	c->handles = 1;
	uv_timer_init(n->loop, &c->timer);
	c->timer.data = c;
	c->handles++;
	tick = n->cfg.dead_ms / 4 < 1000 ? n->cfg.dead_ms / 4 : 1000;
	if (n->cfg.keepalive_ms / 2 < tick)
		tick = n->cfg.keepalive_ms / 2;
	uv_timer_start(&c->timer, on_conn_timer, tick ? tick : 1, tick ? tick : 1);
	c->next = n->conns;
	if (n->conns != NULL)
		n->conns->prev = c;
	n->conns = c;
	c->hnext = n->byid[c->id % 1024];
	n->byid[c->id % 1024] = c;
	n->nconns++;
	return c;
}

/* ---- inbound ---------------------------------------------------------------- */

static void on_connection(uv_stream_t *server, int status)
{
	struct net *n = server->data;
	struct sockaddr_storage ss;
	int len = sizeof ss;
	struct conn *c;

	if (status < 0) {
		log_warn("accepting a connection failed: %s", uv_strerror(status));
		return;
	}
	if (n->stopping || (c = conn_new(n, true)) == NULL)
		return;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
		c->quiet = true;
		conn_close(c, "accept failed");
		return;
	}
	c->connected = true;
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
		addr_name(&ss, c->addr, sizeof c->addr);
	else
		snprintf(c->addr, sizeof c->addr, "?");
	snprintf(c->label, sizeof c->label, "peer %s", c->addr);
	uv_tcp_nodelay(&c->tcp, 1);
	if (n->nconns > n->cfg.max_conns) {
		log_warn("%s: refused: %u connections already", c->label,
			 n->cfg.max_conns);
		c->quiet = true;
		conn_close(c, "too many connections");
		return;
	}
	log_debug("%s: accepted", c->label);
	(void)conn_begin(c, false);
}

/* ---- outbound --------------------------------------------------------------- */

static void on_peer_timer(uv_timer_t *t);

static void on_connect(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	char why[160];

	if (c->closing)
		return;
	if (status < 0) {
		snprintf(why, sizeof why, "connect failed: %s", uv_strerror(status));
		conn_close(c, why);
		return;
	}
	c->connected = true;
	uv_tcp_nodelay(&c->tcp, 1);
	log_debug("%s: TCP connected", c->label);
	(void)conn_begin(c, true);
}

static void peer_fail(struct peer *p, const char *why)
{
	struct net *n = p->net;

	snprintf(p->last_error, sizeof p->last_error, "%s", why);
	log_info("peer %s: %s", p->spec, why);
	if (n->cfg.oneshot)
		oneshot_end(n, CN_ERR_IO, why);
	else
		peer_schedule(p);
}

static void peer_free_if_done(struct peer *p)
{
	if (p->removed && !p->timer_open && !p->gai_busy)
		free(p);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
	struct peer *p = req->data;
	struct net *n = p->net;
	struct conn *c;
	char why[160];
	int rc;

	p->gai_busy = false;
	if (p->removed || n->stopping) {
		uv_freeaddrinfo(ai);
		peer_free_if_done(p);
		net_maybe_free(n);
		return;
	}
	if (status < 0 || ai == NULL) {
		snprintf(why, sizeof why, "cannot resolve %.64s: %s", p->host,
			 uv_strerror(status));
		uv_freeaddrinfo(ai);
		peer_fail(p, why);
		return;
	}
	if ((c = conn_new(n, false)) == NULL) {
		uv_freeaddrinfo(ai);
		peer_fail(p, "out of memory");
		return;
	}
	c->peer = p;
	p->conn = c;
	p->state = PEER_CONNECTING;
	addr_name((const struct sockaddr_storage *)ai->ai_addr, c->addr, sizeof c->addr);
	snprintf(c->label, sizeof c->label, "peer %.200s", p->spec);
	c->creq.data = c;
	rc = uv_tcp_connect(&c->creq, &c->tcp, ai->ai_addr, on_connect);
	uv_freeaddrinfo(ai);
	if (rc != 0) {
		snprintf(why, sizeof why, "connect failed: %s", uv_strerror(rc));
		conn_close(c, why);
	}
}

static void peer_dial(struct peer *p)
{
	struct net *n = p->net;
	struct addrinfo hints;
	int rc;

	if (n->stopping || p->removed || p->conn != NULL || p->gai_busy)
		return;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	p->state = PEER_RESOLVING;
	p->gai.data = p;
	rc = uv_getaddrinfo(n->loop, &p->gai, on_resolved, p->host, p->port, &hints);
	if (rc != 0) {
		char why[160];
		snprintf(why, sizeof why, "cannot resolve %.64s: %s", p->host,
			 uv_strerror(rc));
		peer_fail(p, why);
		return;
	}
	p->gai_busy = true;
}

static void on_peer_timer(uv_timer_t *t)
{
	peer_dial(t->data);
}

/* Redial after a delay: min · 2^attempts, at most max, then a random
 * factor between ½ and 1 so that many schools do not redial in step. */
static void peer_schedule(struct peer *p)
{
	struct net *n = p->net;
	uint64_t delay = n->cfg.backoff_min_ms;

	if (n->stopping || p->removed || p->covered)
		return;
	for (unsigned i = 0; i < p->attempts && delay < n->cfg.backoff_max_ms; i++)
		delay *= 2;
	if (delay > n->cfg.backoff_max_ms)
		delay = n->cfg.backoff_max_ms;
	delay = delay / 2 + randombytes_uniform((uint32_t)(delay / 2 + 1));
	if (p->attempts < 64)
		p->attempts++;
	p->state = PEER_BACKOFF;
	p->next_dial_ms = util_now_ms() + delay;
	uv_timer_start(&p->timer, on_peer_timer, delay, 0);
}

static void on_peer_timer_closed(uv_handle_t *h)
{
	struct peer *p = h->data;
	struct net *n = p->net;

	p->timer_open = false;
	peer_free_if_done(p);
	net_maybe_free(n);
}

static int peer_add(struct net *n, const char *spec)
{
	struct peer *p = calloc(1, sizeof *p);

	if (p == NULL)
		return CN_ERR_NOMEM;
	p->net = n;
	snprintf(p->spec, sizeof p->spec, "%s", spec);
	if (!net_parse_hostport(spec, p->host, sizeof p->host, p->port,
				sizeof p->port)) {
		free(p);
		return CN_ERR_INVAL;
	}
	uv_timer_init(n->loop, &p->timer);
	p->timer.data = p;
	p->timer_open = true;
	p->next = n->peers;
	n->peers = p;
	peer_dial(p);
	return CN_OK;
}

/* Unlink p and free it once its handles are done. */
static void peer_remove(struct peer *p)
{
	p->removed = true;
	if (p->conn != NULL) {
		struct conn *c = p->conn;
		p->conn = NULL;
		c->peer = NULL;
		conn_finish(c, "peer removed from the configuration");
	}
	if (p->gai_busy)
		uv_cancel((uv_req_t *)&p->gai);
	if (p->timer_open && !uv_is_closing((uv_handle_t *)&p->timer))
		uv_close((uv_handle_t *)&p->timer, on_peer_timer_closed);
}

int net_set_peers(struct net *n, const char *const *peers, size_t npeers,
		  char *err, size_t errlen)
{
	struct peer **pp;
	char host[256], port[8];

	for (size_t i = 0; i < npeers; i++)
		if (!net_parse_hostport(peers[i], host, sizeof host, port, sizeof port)) {
			snprintf(err, errlen, "peer '%s' is not HOST:PORT", peers[i]);
			return CN_ERR_INVAL;
		}
	/* Drop the peers no longer listed. */
	for (pp = &n->peers; *pp != NULL;) {
		struct peer *p = *pp;
		bool keep = false;
		for (size_t i = 0; i < npeers && !keep; i++)
			keep = strcmp(peers[i], p->spec) == 0;
		if (keep) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		log_info("peer %s: removed", p->spec);
		peer_remove(p);
	}
	/* Add the new ones. */
	for (size_t i = 0; i < npeers; i++) {
		bool have = false;
		for (struct peer *p = n->peers; p != NULL && !have; p = p->next)
			have = strcmp(peers[i], p->spec) == 0;
		if (!have) {
			if (peer_add(n, peers[i]) != CN_OK) {
				snprintf(err, errlen, "out of memory");
				return CN_ERR_NOMEM;
			}
			log_info("peer %s: added", peers[i]);
		}
	}
	return CN_OK;
}

/* ---- events from the replica thread ----------------------------------------- */

static void on_worker_event(void *ctx, struct worker_event *ev)
{
	struct net *n = ctx;
	struct conn *c;
	int rc;

	if (ev->type == WORKER_AUTH) {
		struct auth_ref *a = calloc(1, sizeof *a);
		if (a == NULL)
			return;
		a->refs = 1;
		a->a = ev->auth;
		ev->auth = NULL;
		auth_put(n->auth);
		n->auth = a;
		memcpy(n->cert, ev->cert, ev->cert_len);
		n->cert_len = ev->cert_len;
		log_debug("certificates or revocations changed: handshakes use "
			  "the new ones");
		/* A peer revoked meanwhile goes now, not at its next dial. */
		for (c = n->conns; c != NULL; c = c->next)
			if (c->ready && !c->closing &&
			    authority_revoked_after(a->a, c->node) != UINT64_MAX)
				conn_close(c, "the peer's certificate was revoked");
		if (n->cert_len == 0)
			log_warn("this node has no valid certificate: peers will "
				 "refuse it (cardctl cert install)");
		return;
	}
	if (ev->type == WORKER_AUTHORED) {
		if (n->cfg.authored != NULL)
			n->cfg.authored(n->cfg.authored_ctx, ev->conn, ev->rc, ev->why);
		return;
	}
	if ((c = conn_find(n, ev->conn)) == NULL || c->closing)
		return;
	switch (ev->type) {
	case WORKER_SEND:
		if ((rc = send_msg(c, ev->msg, ev->len, false)) != CN_OK)
			conn_close(c, cn_strerror(rc));
		break;
	case WORKER_CONSUMED:
		c->in_pending -= ev->len < c->in_pending ? ev->len : c->in_pending;
		if (c->read_stopped && c->in_pending < IN_PENDING_RESUME) {
			c->read_stopped = false;
			if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
				conn_close(c, "cannot read");
		}
		break;
	case WORKER_CLOSE:
		n->result_peer = ev->peer;
		log_warn("%s: %s", c->label, ev->why);
		c->opened = false; /* the worker closed it already */
		(void)worker_close(n->worker, c->id);
		conn_close(c, ev->why);
		break;
	case WORKER_DONE:
		if (n->cfg.oneshot && n->result == 1) {
			n->result = 0;
			n->result_peer = ev->peer;
			snprintf(n->result_msg, sizeof n->result_msg,
				 "caught up with %s", c->label);
			conn_finish(c, "sync complete");
		}
		break;
	case WORKER_AUTH:
	case WORKER_AUTHORED:
		break;
	}
}

/* ---- the status file -------------------------------------------------------- */

static void clean(char *s)
{
	for (; *s; s++)
		if (*s == '\t' || *s == '\n' || *s == '\r')
			*s = ' ';
}

static void status_conn(FILE *f, struct net *n, const struct conn *c,
			const struct peer *p)
{
	struct worker_peer wp = {0};
	char node[2 * CN_KEY_LEN + 1] = "-", name[CERT_NAME_MAX + 1] = "-";
	char err[200];
	const char *state;
	uint64_t since = 0;

	if (c != NULL && c->ready && c->confirmed) {
		state = "connected";
		util_hex_encode(c->node, CN_KEY_LEN, node);
		snprintf(name, sizeof name, "%s", c->name[0] ? c->name : "-");
		since = util_now_ms() - (uv_now(n->loop) - c->ready_ms);
		(void)worker_peer_state(n->worker, c->id, &wp);
	} else if (c != NULL) {
		state = c->connected ? "handshake" : "connecting";
	} else {
		state = peer_state_name[p->state];
	}
	snprintf(err, sizeof err, "%s", p != NULL && p->last_error[0] ? p->last_error : "-");
	clean(name);
	clean(err);
	fprintf(f, "peer\t%s\t%s\t%s\t%s\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
		"\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%s\n",
		p != NULL ? p->spec : (c != NULL ? c->addr : "?"),
		c != NULL && c->inbound ? "in" : "out", state, node, name,
		since, wp.last_msg_ms, wp.entries_sent, wp.entries_received,
		wp.peer_lacks, wp.we_lack,
		p != NULL && p->state == PEER_BACKOFF ? p->next_dial_ms : 0, err);
}

static void status_write(struct net *n, bool stopped)
{
	char tmp[4200];
	FILE *f;

	if (n->cfg.status_path == NULL)
		return;
	snprintf(tmp, sizeof tmp, "%s.tmp", n->cfg.status_path);
	if ((f = fopen(tmp, "w")) == NULL)
		return;
	fprintf(f, "cardnode-status\t1\n");
	fprintf(f, "pid\t%ld\n", stopped ? 0L : (long)getpid());
	fprintf(f, "updated_ms\t%" PRIu64 "\n", util_now_ms());
	fprintf(f, "listen\t%s\n", n->listening ? n->listen_addr : "-");
	fprintf(f, "watermark_max_age_ms\t%" PRIu64 "\n", n->cfg.watermark_max_age_ms);
	if (n->cfg.status_extra != NULL && !stopped)
		n->cfg.status_extra(n->cfg.status_ctx, f);
	for (struct peer *p = n->peers; p != NULL; p = p->next) {
		struct conn *c = p->conn;
		if (p->covered)
			for (c = n->conns; c != NULL; c = c->next)
				if (c->ready && memcmp(c->node, p->covered_node,
						       CN_KEY_LEN) == 0)
					break;
		status_conn(f, n, c, p);
	}
	for (struct conn *c = n->conns; c != NULL; c = c->next) {
		bool listed = false;
		for (struct peer *p = n->peers; p != NULL && !listed; p = p->next)
			listed = p->covered && memcmp(p->covered_node, c->node,
						      CN_KEY_LEN) == 0;
		if (c->inbound && c->ready && !listed)
			status_conn(f, n, c, NULL);
	}
	if (fclose(f) != 0 || rename(tmp, n->cfg.status_path) != 0)
		unlink(tmp);
}

static void on_status_timer(uv_timer_t *t)
{
	status_write(t->data, false);
	uv_timer_start(t, on_status_timer, 1000, 0);
}

/* A peer connected or went away: rewrite the status file shortly, so
 * `cardctl status` does not lag behind by a whole period. */
static void status_soon(struct net *n)
{
	if (n->cfg.status_path == NULL || n->stopping)
		return;
	if (uv_timer_get_due_in(&n->status_timer) > 50)
		uv_timer_start(&n->status_timer, on_status_timer, 50, 0);
}

/* ---- starting and stopping -------------------------------------------------- */

static int listen_start(struct net *n, char *err, size_t errlen)
{
	char host[256], port[8];
	struct sockaddr_storage ss;
	int len = sizeof ss, rc;

	if (!net_parse_hostport(n->cfg.listen, host, sizeof host, port, sizeof port)) {
		snprintf(err, errlen, "listen address '%s' is not HOST:PORT", n->cfg.listen);
		return CN_ERR_INVAL;
	}
	if (uv_ip4_addr(host, atoi(port), (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(host, atoi(port), (struct sockaddr_in6 *)&ss) != 0) {
		snprintf(err, errlen, "listen address '%s': '%s' is not an IP address",
			 n->cfg.listen, host);
		return CN_ERR_INVAL;
	}
	uv_tcp_init(n->loop, &n->listener);
	n->listener.data = n;
	n->handles++;
	n->listening = true;
	if ((rc = uv_tcp_bind(&n->listener, (struct sockaddr *)&ss, 0)) != 0 ||
	    (rc = uv_listen((uv_stream_t *)&n->listener, 511, on_connection)) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", n->cfg.listen,
			 uv_strerror(rc));
		return CN_ERR_IO;
	}
	if (uv_tcp_getsockname(&n->listener, (struct sockaddr *)&ss, &len) == 0)
		addr_name(&ss, n->listen_addr, sizeof n->listen_addr);
	log_info("listening on %s", n->listen_addr);
	return CN_OK;
}

int net_start(struct net **out, uv_loop_t *loop, struct replica *r,
	      const struct net_config *cfg, char *err, size_t errlen)
{
	struct net *n = calloc(1, sizeof *n);
	struct replica_info info;
	struct worker_config wc = {0};
	int rc;

	*out = NULL;
	if (n == NULL) {
		snprintf(err, errlen, "out of memory");
		return CN_ERR_NOMEM;
	}
	n->loop = loop;
	n->r = r;
	n->cfg = *cfg;
	n->cfg.peers = NULL;
	n->cfg.npeers = 0;
	n->result = 1; /* one-shot: under way */
	n->done = cfg->stopped;
	n->done_ctx = cfg->stopped_ctx;
#define DEFAULT(f, v) if (n->cfg.f == 0) n->cfg.f = (v)
	DEFAULT(keepalive_ms, 20000);
	DEFAULT(dead_ms, 60000);
	DEFAULT(handshake_ms, 10000);
	DEFAULT(backoff_min_ms, 1000);
	DEFAULT(backoff_max_ms, 300000);
	DEFAULT(max_conns, 1024);
#undef DEFAULT
	replica_info(r, &info);
	memcpy(n->self, info.node, CN_KEY_LEN);
	memcpy(n->root_pub, info.root_pub, CN_KEY_LEN);
	if (!info.has_identity || replica_network_key(r, n->network_key) != CN_OK) {
		snprintf(err, errlen, "the data dir has no identity key or "
			 "deployment secret");
		free(n);
		return CN_ERR_PERM;
	}
	uv_timer_init(loop, &n->status_timer);
	n->status_timer.data = n;
	n->status_open = true;
	n->handles++;
	uv_timer_init(loop, &n->stop_timer);
	n->stop_timer.data = n;
	n->stop_open = true;
	n->handles++;
	uv_check_init(loop, &n->flush_check);
	n->flush_check.data = n;
	uv_check_start(&n->flush_check, on_flush_check);
	n->flush_open = true;
	n->handles++;
	wc.watermark_ms = cfg->watermark_ms;
	wc.watermark_max_age_ms = cfg->watermark_max_age_ms;
	if ((rc = worker_start(&n->worker, loop, r, &wc, on_worker_event, n)) != CN_OK) {
		snprintf(err, errlen, "cannot start the replica thread: %s",
			 cn_strerror(rc));
		goto fail;
	}
	if (cfg->listen != NULL && (rc = listen_start(n, err, errlen)) != CN_OK)
		goto fail;
	if ((rc = net_set_peers(n, cfg->peers, cfg->npeers, err, errlen)) != CN_OK)
		goto fail;
	if (n->cfg.status_path != NULL) {
		status_write(n, false);
		uv_timer_start(&n->status_timer, on_status_timer, 1000, 0);
	}
	*out = n;
	return CN_OK;
fail:
	n->done = NULL;
	net_stop(n, NULL, NULL);
	return rc;
}

static void on_net_handle_closed(uv_handle_t *h)
{
	struct net *n = h->data;

	n->handles--;
	net_maybe_free(n);
}

static void net_maybe_free(struct net *n)
{
	void (*done)(void *);
	void *ctx;

	if (!n->stopping || n->conns != NULL)
		return;
	for (struct peer *p = n->peers; p != NULL; p = p->next)
		if (p->timer_open || p->gai_busy)
			return;
	/* Every connection is gone: the stop timer has nothing left to do. */
	if (n->stop_open) {
		n->stop_open = false;
		uv_close((uv_handle_t *)&n->stop_timer, on_net_handle_closed);
	}
	if (n->handles > 0)
		return;
	/* The worker's async handle closes last, after the net is freed. */
	if (n->worker != NULL) {
		worker_stop(n->worker);
		n->worker = NULL;
	}
	while (n->peers != NULL) {
		struct peer *p = n->peers;
		n->peers = p->next;
		free(p);
	}
	auth_put(n->auth);
	sodium_memzero(n->network_key, sizeof n->network_key);
	done = n->done;
	ctx = n->done_ctx;
	if (done != NULL)
		done(ctx); /* n is still valid here (net_oneshot_result) */
	free(n);
}

static void on_stop_timer(uv_timer_t *t)
{
	struct net *n = t->data;
	struct conn *c, *next;

	for (c = n->conns; c != NULL; c = next) {
		next = c->next;
		conn_close(c, "stopping");
	}
}

void net_stop(struct net *n, void (*done)(void *), void *ctx)
{
	if (n == NULL || n->stopping)
		return;
	n->stopping = true;
	if (done != NULL) {
		n->done = done;
		n->done_ctx = ctx;
	}
	if (n->status_open) {
		status_write(n, true);
		uv_close((uv_handle_t *)&n->status_timer, on_net_handle_closed);
	}
	if (n->flush_open) {
		n->flush_open = false;
		uv_close((uv_handle_t *)&n->flush_check, on_net_handle_closed);
	}
	if (n->listening)
		uv_close((uv_handle_t *)&n->listener, on_net_handle_closed);
	for (struct peer *p = n->peers; p != NULL; p = p->next) {
		if (p->gai_busy)
			uv_cancel((uv_req_t *)&p->gai);
		if (p->timer_open && !uv_is_closing((uv_handle_t *)&p->timer))
			uv_close((uv_handle_t *)&p->timer, on_peer_timer_closed);
	}
	/* Ready connections get a FINAL frame; the rest are closed.  Anything
	 * still open after the grace period is closed by the stop timer. */
	for (struct conn *c = n->conns, *next; c != NULL; c = next) {
		next = c->next;
		conn_finish(c, "node stopping");
	}
	if (n->stop_open)
		uv_timer_start(&n->stop_timer, on_stop_timer, STOP_GRACE_MS, 0);
	net_maybe_free(n);
}

int net_author(struct net *n, uint64_t token, const struct entry *e)
{
	if (n->stopping || n->worker == NULL)
		return CN_ERR_INVAL;
	return worker_author(n->worker, token, e);
}

int net_oneshot_result(const struct net *n, const char **msg,
		       struct worker_peer *peer)
{
	*msg = n->result_msg;
	*peer = n->result_peer;
	return n->result == 1 ? CN_ERR_PARTIAL : n->result;
}

void net_counts(struct net *n, struct net_counts *out)
{
	memset(out, 0, sizeof *out);
	for (const struct peer *p = n->peers; p != NULL; p = p->next)
		out->peers_configured++;
	for (const struct conn *c = n->conns; c != NULL; c = c->next)
		if (c->ready && c->confirmed)
			out->peers_connected++;
	if (n->worker != NULL)
		worker_totals(n->worker, &out->applied, &out->refused);
}
