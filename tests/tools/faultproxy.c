/*
 * faultproxy — a TCP proxy on the loopback that injects faults, so that
 * tests can show replication converging over a bad network.
 *
 * For every accepted connection it dials the target and forwards both
 * directions.  Per connection and per chunk it may, by a seeded PRNG: drop
 * the connection at once, delay chunks (order kept within a direction),
 * forward only a prefix of a chunk and then close both sides, or flip one
 * bit.  Faults stop after --faults-for seconds or on SIGUSR1; SIGUSR2
 * resumes them.  Counters go to the --stats file.  See docs/testing.md.
 *
 * One thread, one libuv loop.  Each connection owns four handles (two TCP,
 * two delay timers) and is freed in the close callback of the last one.
 * A chunk and its write request are one allocation, freed in the write
 * callback.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <uv.h>

#define READ_BUF_SIZE (64 * 1024)
/* Bytes queued for one direction (delayed or being written) above which
 * the source is no longer read, and below which reading resumes. */
#define PENDING_HIGH (1024 * 1024)
#define PENDING_LOW (256 * 1024)
#define STATS_INTERVAL_MS 200

#define EXIT_USAGE 2

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

struct options {
	struct sockaddr_storage listen;
	struct sockaddr_storage to;
	bool have_listen, have_to, any;
	double drop, cut, corrupt;
	uint64_t delay_ms, jitter_ms;
	double faults_for; /* seconds; < 0: for ever */
	const char *stats;
	uint64_t seed;
	bool have_seed;
};

struct counters {
	uint64_t connections, dropped, cut, corrupted, delayed_chunks;
	uint64_t bytes_up, bytes_down;
};

struct chunk {
	uv_write_t req;
	struct chunk *next;
	struct dir *dir;
	uint64_t due; /* loop time in ms */
	bool last;    /* the prefix of a cut: close the connection after it */
	size_t len;
	char data[];
};

/* One direction of a connection: read from src, write to dst. */
struct dir {
	struct conn *conn;
	uv_tcp_t *src, *dst;
	uv_timer_t timer;
	struct chunk *head, *tail; /* not yet handed to uv_write */
	uint64_t last_due;
	size_t pending;   /* bytes queued here or being written */
	size_t inflight;  /* writes handed to libuv, not yet called back */
	uint64_t *bytes;  /* counter of forwarded bytes */
	bool paused;      /* reading stopped for back-pressure */
	bool eof;         /* src said EOF: shut dst down once flushed */
	bool shut_sent, shut_done;
	bool cutting;     /* close once the queued prefix is written */
	uv_shutdown_t shut_req;
};

struct conn {
	struct proxy *proxy;
	struct conn *prev, *next;
	uv_tcp_t client, server;
	uv_connect_t connect_req;
	struct dir up, down;
	int handles; /* open handles; freed when it drops to 0 */
	bool connected, closing;
	bool cut; /* a cut is under way: read neither side again */
};

struct proxy {
	uv_loop_t *loop;
	struct options opt;
	uv_tcp_t listener;
	uv_signal_t sigterm, sigint, sigusr1, sigusr2;
	uv_timer_t stats_timer, faults_timer;
	struct conn *conns;
	struct counters n;
	uint64_t rng;
	bool faults_active, stopping;
	char read_buf[READ_BUF_SIZE];
};

/* ---- PRNG (splitmix64: one seed, a reproducible run) ----------------------- */

static uint64_t rng_next(struct proxy *p)
{
	uint64_t z = (p->rng += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rng_unit(struct proxy *p)
{
	return (double)(rng_next(p) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n), n > 0. */
static uint64_t rng_below(struct proxy *p, uint64_t n)
{
	return rng_next(p) % n;
}

static bool rng_chance(struct proxy *p, double prob)
{
	return prob > 0 && rng_unit(p) < prob;
}

/* ---- stats ------------------------------------------------------------------ */

/* 0, or -1 with a message (only the first of a run of failures). */
static int stats_write(struct proxy *p)
{
	static bool failing;
	const char *path = p->opt.stats;
	char tmp[PATH_MAX];
	FILE *f;
	int ok;

	if (path == NULL)
		return 0;
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	f = fopen(tmp, "w");
	if (f == NULL)
		goto fail;
	fprintf(f,
		"connections %" PRIu64 "\n"
		"dropped %" PRIu64 "\n"
		"cut %" PRIu64 "\n"
		"corrupted %" PRIu64 "\n"
		"delayed_chunks %" PRIu64 "\n"
		"bytes_up %" PRIu64 "\n"
		"bytes_down %" PRIu64 "\n"
		"faults_active %d\n"
		"seed %" PRIu64 "\n",
		p->n.connections, p->n.dropped, p->n.cut, p->n.corrupted,
		p->n.delayed_chunks, p->n.bytes_up, p->n.bytes_down,
		p->faults_active ? 1 : 0, p->opt.seed);
	ok = !ferror(f);
	if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
		unlink(tmp);
		goto fail;
	}
	failing = false;
	return 0;
fail:
	if (!failing)
		fprintf(stderr, "faultproxy: --stats: cannot write %s: %s\n",
			path, strerror(errno));
	failing = true;
	return -1;
}

static void on_stats_timer(uv_timer_t *t)
{
	(void)stats_write(container_of(t, struct proxy, stats_timer));
}

/* ---- connections ------------------------------------------------------------ */

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void dir_flush(struct dir *d);

static void conn_free(struct conn *c)
{
	struct proxy *p = c->proxy;
	struct dir *dirs[2] = { &c->up, &c->down };

	for (int i = 0; i < 2; i++) {
		while (dirs[i]->head != NULL) {
			struct chunk *k = dirs[i]->head;
			dirs[i]->head = k->next;
			free(k);
		}
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		p->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c);
}

static void on_conn_handle_close(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (--c->handles == 0)
		conn_free(c);
}

/* Close both sides and both timers; pending writes are cancelled. */
static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->client, on_conn_handle_close);
	uv_close((uv_handle_t *)&c->server, on_conn_handle_close);
	uv_close((uv_handle_t *)&c->up.timer, on_conn_handle_close);
	uv_close((uv_handle_t *)&c->down.timer, on_conn_handle_close);
}

static void dir_init(struct conn *c, struct dir *d, uv_tcp_t *src,
		     uv_tcp_t *dst, uint64_t *bytes)
{
	d->conn = c;
	d->src = src;
	d->dst = dst;
	d->bytes = bytes;
	uv_timer_init(c->proxy->loop, &d->timer);
	d->timer.data = c;
}

static struct conn *conn_new(struct proxy *p)
{
	struct conn *c = calloc(1, sizeof *c);

	if (c == NULL)
		return NULL;
	c->proxy = p;
	uv_tcp_init(p->loop, &c->client);
	uv_tcp_init(p->loop, &c->server);
	c->client.data = c;
	c->server.data = c;
	dir_init(c, &c->up, &c->client, &c->server, &p->n.bytes_up);
	dir_init(c, &c->down, &c->server, &c->client, &p->n.bytes_down);
	c->handles = 4;
	c->next = p->conns;
	if (p->conns != NULL)
		p->conns->prev = c;
	p->conns = c;
	return c;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)suggested;
	/* One buffer serves every read: on_read copies out what it keeps. */
	*buf = uv_buf_init(c->proxy->read_buf, sizeof c->proxy->read_buf);
}

static struct dir *dir_of_src(struct conn *c, uv_stream_t *s)
{
	return s == (uv_stream_t *)&c->client ? &c->up : &c->down;
}

static void dir_read_start(struct dir *d)
{
	int r = uv_read_start((uv_stream_t *)d->src, alloc_cb, on_read);

	if (r != 0) {
		fprintf(stderr, "faultproxy: read: %s\n", uv_strerror(r));
		conn_close(d->conn);
	}
}

/* Both directions finished (EOF passed on both ways) or one failed. */
static void dir_maybe_done(struct dir *d)
{
	struct conn *c = d->conn;

	if (c->up.shut_done && c->down.shut_done)
		conn_close(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct dir *d = container_of(req, struct dir, shut_req);

	if (d->conn->closing)
		return;
	if (status != 0) {
		conn_close(d->conn);
		return;
	}
	d->shut_done = true;
	dir_maybe_done(d);
}

/* Everything queued is handed to libuv: pass EOF on, or finish a cut. */
static void dir_drained(struct dir *d)
{
	if (d->head != NULL)
		return;
	if (d->cutting && d->inflight == 0) {
		conn_close(d->conn);
		return;
	}
	if (d->eof && !d->shut_sent) {
		int r = uv_shutdown(&d->shut_req, (uv_stream_t *)d->dst,
				    on_shutdown);
		if (r != 0) {
			conn_close(d->conn);
			return;
		}
		d->shut_sent = true;
	}
}

static void on_write(uv_write_t *req, int status)
{
	struct chunk *k = container_of(req, struct chunk, req);
	struct dir *d = k->dir;
	struct conn *c = d->conn;

	d->pending -= k->len;
	d->inflight--;
	free(k);
	if (c->closing)
		return;
	if (status != 0) {
		conn_close(c);
		return;
	}
	if (d->paused && d->pending <= PENDING_LOW && !c->cut) {
		d->paused = false;
		dir_read_start(d);
		if (c->closing)
			return;
	}
	dir_drained(d);
}

static void on_dir_timer(uv_timer_t *t)
{
	dir_flush(container_of(t, struct dir, timer));
}

/* Hand every chunk that is due to libuv; wake up for the next one. */
static void dir_flush(struct dir *d)
{
	struct conn *c = d->conn;
	uint64_t now = uv_now(c->proxy->loop);

	while (d->head != NULL && d->head->due <= now) {
		struct chunk *k = d->head;
		uv_buf_t b = uv_buf_init(k->data, (unsigned)k->len);
		int r;

		d->head = k->next;
		if (d->head == NULL)
			d->tail = NULL;
		r = uv_write(&k->req, (uv_stream_t *)d->dst, &b, 1, on_write);
		if (r != 0) {
			d->pending -= k->len;
			free(k);
			conn_close(c);
			return;
		}
		d->inflight++;
	}
	if (d->head != NULL)
		uv_timer_start(&d->timer, on_dir_timer, d->head->due - now, 0);
	else
		dir_drained(d);
}

/* Queue n bytes of data for d, after the faults that apply to them. */
static void dir_forward(struct dir *d, const char *data, size_t n)
{
	struct conn *c = d->conn;
	struct proxy *p = c->proxy;
	uint64_t now = uv_now(p->loop), delay = 0;
	bool last = false;
	struct chunk *k;

	if (p->faults_active && rng_chance(p, p->opt.cut)) {
		n = (size_t)rng_below(p, n);
		last = true;
		p->n.cut++;
	}
	k = malloc(sizeof *k + n);
	if (k == NULL) {
		fprintf(stderr, "faultproxy: out of memory\n");
		conn_close(c);
		return;
	}
	memcpy(k->data, data, n);
	k->dir = d;
	k->next = NULL;
	k->len = n;
	k->last = last;
	if (p->faults_active && n > 0 && rng_chance(p, p->opt.corrupt)) {
		k->data[rng_below(p, n)] ^= (char)(1u << rng_below(p, 8));
		p->n.corrupted++;
	}
	if (p->faults_active && (p->opt.delay_ms || p->opt.jitter_ms)) {
		int64_t ms = (int64_t)p->opt.delay_ms;
		if (p->opt.jitter_ms)
			ms += (int64_t)rng_below(p, 2 * p->opt.jitter_ms + 1) -
			      (int64_t)p->opt.jitter_ms;
		delay = ms > 0 ? (uint64_t)ms : 0;
		if (delay > 0)
			p->n.delayed_chunks++;
	}
	k->due = now + delay;
	if (k->due < d->last_due)
		k->due = d->last_due; /* never overtake an earlier chunk */
	d->last_due = k->due;
	*d->bytes += n;

	if (n > 0) {
		if (d->tail != NULL)
			d->tail->next = k;
		else
			d->head = k;
		d->tail = k;
		d->pending += n;
	} else {
		free(k);
	}
	if (last) {
		/* Nothing more from either side; close once the prefix is out. */
		d->cutting = true;
		c->cut = true;
		uv_read_stop((uv_stream_t *)&c->client);
		uv_read_stop((uv_stream_t *)&c->server);
	} else if (d->pending > PENDING_HIGH && !d->paused) {
		d->paused = true;
		uv_read_stop((uv_stream_t *)d->src);
	}
	dir_flush(d);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	struct dir *d = dir_of_src(c, s);

	(void)buf;
	if (c->closing || nread == 0)
		return;
	if (nread == UV_EOF) {
		uv_read_stop(s);
		d->eof = true;
		dir_drained(d);
		return;
	}
	if (nread < 0) {
		conn_close(c);
		return;
	}
	dir_forward(d, buf->base, (size_t)nread);
}

static void on_connect(uv_connect_t *req, int status)
{
	struct conn *c = container_of(req, struct conn, connect_req);

	if (c->closing)
		return;
	if (status != 0) {
		fprintf(stderr, "faultproxy: connect to target: %s\n",
			uv_strerror(status));
		conn_close(c);
		return;
	}
	c->connected = true;
	dir_read_start(&c->up);
	if (!c->closing)
		dir_read_start(&c->down);
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct proxy *p = listener->data;
	struct conn *c;
	int r;

	if (status != 0) {
		fprintf(stderr, "faultproxy: accept: %s\n", uv_strerror(status));
		return;
	}
	c = conn_new(p);
	if (c == NULL) {
		fprintf(stderr, "faultproxy: out of memory\n");
		return;
	}
	r = uv_accept(listener, (uv_stream_t *)&c->client);
	if (r != 0) {
		fprintf(stderr, "faultproxy: accept: %s\n", uv_strerror(r));
		conn_close(c);
		return;
	}
	p->n.connections++;
	if (p->faults_active && rng_chance(p, p->opt.drop)) {
		p->n.dropped++;
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->client, 1);
	uv_tcp_nodelay(&c->server, 1);
	r = uv_tcp_connect(&c->connect_req, &c->server,
			   (const struct sockaddr *)&p->opt.to, on_connect);
	if (r != 0) {
		fprintf(stderr, "faultproxy: connect to target: %s\n",
			uv_strerror(r));
		conn_close(c);
	}
}

/* ---- signals, shutdown ------------------------------------------------------ */

static void faults_set(struct proxy *p, bool on, const char *why)
{
	if (p->faults_active != on)
		fprintf(stderr, "faultproxy: faults %s (%s)\n",
			on ? "resumed" : "stopped", why);
	p->faults_active = on;
	(void)stats_write(p);
}

static void on_faults_timer(uv_timer_t *t)
{
	faults_set(container_of(t, struct proxy, faults_timer), false,
		   "--faults-for elapsed");
}

static void proxy_stop(struct proxy *p)
{
	if (p->stopping)
		return;
	p->stopping = true;
	uv_close((uv_handle_t *)&p->listener, NULL);
	uv_close((uv_handle_t *)&p->sigterm, NULL);
	uv_close((uv_handle_t *)&p->sigint, NULL);
	uv_close((uv_handle_t *)&p->sigusr1, NULL);
	uv_close((uv_handle_t *)&p->sigusr2, NULL);
	uv_close((uv_handle_t *)&p->stats_timer, NULL);
	uv_close((uv_handle_t *)&p->faults_timer, NULL);
	for (struct conn *c = p->conns; c != NULL; c = c->next)
		conn_close(c);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct proxy *p = h->data;

	switch (signum) {
	case SIGUSR1:
		faults_set(p, false, "SIGUSR1");
		break;
	case SIGUSR2:
		faults_set(p, true, "SIGUSR2");
		break;
	default:
		proxy_stop(p);
		break;
	}
}

/* ---- arguments -------------------------------------------------------------- */

static void usage(FILE *f)
{
	fputs("usage: faultproxy --listen ADDR:PORT --to ADDR:PORT [options]\n"
	      "\n"
	      "Forward TCP connections from --listen to --to, injecting faults.\n"
	      "Addresses are IPv4 (127.0.0.1:PORT) or IPv6 ([::1]:PORT), on the\n"
	      "loopback unless --any is given; port 0 picks a free port.  When\n"
	      "ready, prints 'listening ADDR:PORT' on stdout.\n"
	      "\n"
	      "  --drop P            probability that a new connection is closed at once\n"
	      "  --delay MS[:JITTER] delay every chunk by MS +- JITTER milliseconds\n"
	      "  --cut P             per chunk, probability to forward a random prefix\n"
	      "                      and then close both sides\n"
	      "  --corrupt P         per chunk, probability to flip one random bit\n"
	      "  --faults-for SECS   stop injecting faults after SECS seconds\n"
	      "  --seed N            PRNG seed (default: from the clock; printed)\n"
	      "  --stats FILE        counters, rewritten atomically every 200 ms\n"
	      "  --any               allow addresses other than the loopback\n"
	      "  --help              this text\n"
	      "\n"
	      "SIGUSR1 stops faults, SIGUSR2 resumes them; SIGTERM/SIGINT exit 0.\n"
	      "Exit codes: 0 clean exit, 1 runtime error, 2 invalid arguments.\n",
	      f);
}

static int bad_arg(const char *opt, const char *val, const char *want)
{
	fprintf(stderr, "faultproxy: %s: '%s' is not %s\n", opt, val, want);
	fprintf(stderr, "Try 'faultproxy --help'.\n");
	return -1;
}

static int parse_prob(const char *opt, const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !(v >= 0 && v <= 1))
		return bad_arg(opt, s, "a probability between 0 and 1");
	*out = v;
	return 0;
}

/* A decimal number in [0, max]; *end_out gets what follows, if wanted. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out,
		     const char **end_out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || v > max || (end_out == NULL && *end != '\0'))
		return -1;
	if (end_out != NULL)
		*end_out = end;
	*out = v;
	return 0;
}

static bool addr_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	return IN6_IS_ADDR_LOOPBACK(
		&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static int parse_addr(const char *opt, const char *s,
		      struct sockaddr_storage *out)
{
	char host[64];
	const char *colon, *h = s;
	size_t hlen;
	uint64_t port;
	bool v6 = false;

	if (*s == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':')
			return bad_arg(opt, s, "ADDR:PORT");
		h = s + 1;
		hlen = (size_t)(rb - h);
		colon = rb + 1;
		v6 = true;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return bad_arg(opt, s, "ADDR:PORT");
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= sizeof host ||
	    parse_u64(colon + 1, 65535, &port, NULL) != 0)
		return bad_arg(opt, s, "ADDR:PORT with a port from 0 to 65535");
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memset(out, 0, sizeof *out);
	if (v6 ? uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out)
	       : uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out))
		return bad_arg(opt, s, "a numeric IPv4 or [IPv6] address");
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "to", required_argument, NULL, 't' },
		{ "drop", required_argument, NULL, 'd' },
		{ "delay", required_argument, NULL, 'D' },
		{ "cut", required_argument, NULL, 'c' },
		{ "corrupt", required_argument, NULL, 'x' },
		{ "faults-for", required_argument, NULL, 'f' },
		{ "seed", required_argument, NULL, 's' },
		{ "stats", required_argument, NULL, 'S' },
		{ "any", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof *o);
	o->faults_for = -1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		const char *end;
		char *dend;

		switch (ch) {
		case 'l':
			if (parse_addr("--listen", optarg, &o->listen))
				return -1;
			o->have_listen = true;
			break;
		case 't':
			if (parse_addr("--to", optarg, &o->to))
				return -1;
			o->have_to = true;
			break;
		case 'd':
			if (parse_prob("--drop", optarg, &o->drop))
				return -1;
			break;
		case 'c':
			if (parse_prob("--cut", optarg, &o->cut))
				return -1;
			break;
		case 'x':
			if (parse_prob("--corrupt", optarg, &o->corrupt))
				return -1;
			break;
		case 'D':
			if (parse_u64(optarg, 3600000, &o->delay_ms, &end) ||
			    (*end != '\0' &&
			     (*end != ':' ||
			      parse_u64(end + 1, 3600000, &o->jitter_ms, NULL))))
				return bad_arg("--delay", optarg,
					       "MS or MS:JITTER in milliseconds");
			break;
		case 'f':
			errno = 0;
			o->faults_for = strtod(optarg, &dend);
			if (*optarg == '\0' || *dend != '\0' || errno != 0 ||
			    !(o->faults_for >= 0 && o->faults_for <= 86400.0))
				return bad_arg("--faults-for", optarg,
					       "a number of seconds");
			break;
		case 's':
			if (parse_u64(optarg, UINT64_MAX, &o->seed, NULL))
				return bad_arg("--seed", optarg,
					       "a non-negative integer");
			o->have_seed = true;
			break;
		case 'S':
			if (*optarg == '\0')
				return bad_arg("--stats", optarg, "a file name");
			o->stats = optarg;
			break;
		case 'a':
			o->any = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			fprintf(stderr, "faultproxy: %s needs a value\n",
				argv[optind - 1]);
			return -1;
		default:
			fprintf(stderr, "faultproxy: unknown option '%s'\n",
				argv[optind - 1]);
			fprintf(stderr, "Try 'faultproxy --help'.\n");
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "faultproxy: unexpected argument '%s'\n",
			argv[optind]);
		return -1;
	}
	if (!o->have_listen || !o->have_to) {
		fprintf(stderr, "faultproxy: %s is required\n",
			o->have_listen ? "--to" : "--listen");
		fprintf(stderr, "Try 'faultproxy --help'.\n");
		return -1;
	}
	if (!o->any && !addr_is_loopback(&o->listen)) {
		fprintf(stderr, "faultproxy: --listen: not a loopback address "
				"(use --any to allow it)\n");
		return -1;
	}
	if (!o->any && !addr_is_loopback(&o->to)) {
		fprintf(stderr, "faultproxy: --to: not a loopback address "
				"(use --any to allow it)\n");
		return -1;
	}
	if (!o->have_seed)
		o->seed = uv_hrtime() ^ (uint64_t)time(NULL) << 20 ^
			  (uint64_t)getpid();
	return 0;
}

/* ---- main ------------------------------------------------------------------- */

static int proxy_listen(struct proxy *p)
{
	struct sockaddr_storage ss;
	char host[INET6_ADDRSTRLEN];
	int len = sizeof ss, r, port;

	uv_tcp_init(p->loop, &p->listener);
	p->listener.data = p;
	r = uv_tcp_bind(&p->listener, (const struct sockaddr *)&p->opt.listen,
			0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&p->listener, 128, on_connection);
	if (r == 0)
		r = uv_tcp_getsockname(&p->listener, (struct sockaddr *)&ss,
				       &len);
	if (r != 0) {
		fprintf(stderr, "faultproxy: --listen: %s\n", uv_strerror(r));
		return r;
	}
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		uv_ip4_name(a, host, sizeof host);
		port = ntohs(a->sin_port);
		printf("listening %s:%d\n", host, port);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		uv_ip6_name(a, host, sizeof host);
		port = ntohs(a->sin6_port);
		printf("listening [%s]:%d\n", host, port);
	}
	fflush(stdout);
	return 0;
}

static void signal_start(struct proxy *p, uv_signal_t *h, int signum)
{
	uv_signal_init(p->loop, h);
	h->data = p;
	uv_signal_start(h, on_signal, signum);
}

int main(int argc, char **argv)
{
	static struct proxy proxy;
	struct proxy *p = &proxy;
	int r;

	if (parse_args(argc, argv, &p->opt) != 0)
		return EXIT_USAGE;
	/* libuv writes with write(2): a vanished peer must give EPIPE, not
	 * kill the proxy. */
	signal(SIGPIPE, SIG_IGN);
	p->rng = p->opt.seed;
	p->faults_active = true;
	p->loop = uv_default_loop();
	fprintf(stderr, "faultproxy: seed %" PRIu64 "\n", p->opt.seed);
	if (stats_write(p) != 0)
		return EXIT_USAGE;

	signal_start(p, &p->sigterm, SIGTERM);
	signal_start(p, &p->sigint, SIGINT);
	signal_start(p, &p->sigusr1, SIGUSR1);
	signal_start(p, &p->sigusr2, SIGUSR2);
	uv_timer_init(p->loop, &p->stats_timer);
	uv_timer_init(p->loop, &p->faults_timer);
	if (p->opt.stats != NULL)
		uv_timer_start(&p->stats_timer, on_stats_timer,
			       STATS_INTERVAL_MS, STATS_INTERVAL_MS);
	if (p->opt.faults_for >= 0)
		uv_timer_start(&p->faults_timer, on_faults_timer,
			       (uint64_t)(p->opt.faults_for * 1000 + 0.5), 0);

	r = proxy_listen(p);
	if (r != 0)
		proxy_stop(p);
	uv_run(p->loop, UV_RUN_DEFAULT);
	if (stats_write(p) != 0 && r == 0)
		r = -1;
	if (uv_loop_close(p->loop) != 0) {
		fprintf(stderr, "faultproxy: handles left open at exit\n");
		return 1;
	}
	return r != 0 ? 1 : 0;
}
