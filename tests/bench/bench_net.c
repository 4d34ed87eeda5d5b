/*
 * bench_net.c — live replication between real cardnode processes on
 * 127.0.0.1, over the city that `bench_city --keep` leaves behind.
 *
 *   bench_city --keep --dir DIR --no-sqlite     (once: DIR/city, root.key, secret)
 *   bench_net --city DIR [--only boot|latency|conns] …
 *
 * Three measurements, each with its target (docs/bench.md, "bench_net"):
 *   boot     a fresh school data dir syncs everything from a cardnode
 *            holding the city (`cardctl sync`, the daemon's network code in
 *            one-shot mode): wall time until it is caught up, entries/s,
 *            bytes on the wire per entry; then the school's replica is
 *            re-verified and its digest compared with the city's.
 *   latency  four fresh daemons in a chain, school A → district → city →
 *            school B: an entry authored at A (by this process, as cardctl
 *            would) until it is committed at B; median and p99.
 *   conns    a copy of the city under cardnode with N simulated schools
 *            (in this process: handshake and sync messages by hand, each
 *            with its own root-signed certificate), each sending one
 *            signed entry a second; the city's backlog over time, the
 *            delay of the entries it relays, its CPU and memory.
 *
 * Results go to stdout, progress to stderr.  Exit status 1 when something
 * fails (a daemon does not start, a sync fails, digests differ); a missed
 * target only shows as MISS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "authority.h"
#include "bench_util.h"
#include "cbor_rw.h"
#include "entry.h"
#include "handshake.h"
#include "hlc.h"
#include "replica.h"
#include "sync.h"
#include "util.h"

#define TARGET_BOOT_S 30.0
#define TARGET_P99_MS 50.0

struct opts {
	const char *city;        /* dir kept by bench_city */
	bool boot, latency, conns;
	unsigned schools;        /* conns: simulated schools */
	unsigned duration;       /* conns: measured seconds */
	unsigned samples;        /* latency: entries */
	unsigned port;           /* first port used */
	bool keep;
};

static struct opts o = {
	.boot = true, .latency = true, .conns = true,
	.schools = 500, .duration = 30, .samples = 300, .port = 27400,
};

static char base[1024], work[1100];
static uint8_t root_sk[64], root_pk[32], secret[32];

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_net --city DIR [options]\n"
		"  --city DIR       a work dir kept by `bench_city --keep --dir DIR`\n"
		"  --only WHAT      boot, latency or conns (default: all three)\n"
		"  --schools N      simulated schools for conns (default 500)\n"
		"  --duration S     measured seconds of conns (default 30)\n"
		"  --samples N      entries timed for latency (default 300)\n"
		"  --port P         first of the loopback ports used (default 27400)\n"
		"  --keep           keep DIR/net (data dirs, configs, daemon logs)\n");
}

static unsigned parse_num(const char *opt, const char *v, unsigned lo, unsigned hi)
{
	char *end;
	unsigned long x;

	if (v == NULL)
		die("%s needs a value", opt);
	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno != 0 || *end != '\0' || x < lo || x > hi)
		die("%s %s: not a number from %u to %u", opt, v, lo, hi);
	return (unsigned)x;
}

static void parse_opts(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--city") == 0 && v != NULL) {
			o.city = v;
			i++;
		} else if (strcmp(a, "--only") == 0 && v != NULL) {
			o.boot = strcmp(v, "boot") == 0;
			o.latency = strcmp(v, "latency") == 0;
			o.conns = strcmp(v, "conns") == 0;
			if (!o.boot && !o.latency && !o.conns)
				die("--only %s: not boot, latency or conns", v);
			i++;
		} else if (strcmp(a, "--schools") == 0) {
			o.schools = parse_num(a, v, 2, 5000);
			i++;
		} else if (strcmp(a, "--duration") == 0) {
			o.duration = parse_num(a, v, 5, 3600);
			i++;
		} else if (strcmp(a, "--samples") == 0) {
			o.samples = parse_num(a, v, 10, 100000);
			i++;
		} else if (strcmp(a, "--port") == 0) {
			o.port = parse_num(a, v, 1024, 60000);
			i++;
		} else if (strcmp(a, "--keep") == 0) {
			o.keep = true;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		} else {
			usage(stderr);
			exit(2);
		}
	}
	if (o.city == NULL) {
		usage(stderr);
		exit(2);
	}
}

/* ---- processes ------------------------------------------------------------- */

static pid_t spawn(const char *const *argv, const char *logpath)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static int wait_exit(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Daemons running, stopped at exit whatever happens (die() included). */
static pid_t running[8];

static void stop_all(void)
{
	for (size_t i = 0; i < sizeof running / sizeof running[0]; i++)
		if (running[i] > 0) {
			kill(running[i], SIGKILL);
			(void)waitpid(running[i], NULL, 0);
			running[i] = 0;
		}
}

static void stop_daemon(pid_t pid)
{
	for (size_t i = 0; i < sizeof running / sizeof running[0]; i++)
		if (running[i] == pid)
			running[i] = 0;
	for (int i = 0; i < 200; i++) {
		int st;
		if (i == 0)
			kill(pid, SIGTERM);
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		usleep(50000);
	}
	kill(pid, SIGKILL);
	(void)wait_exit(pid);
}

static int tcp_connect(unsigned port, bool nonblock)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0), one = 1;

	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Wait until something listens on the port (the daemon is up). */
static void wait_port(unsigned port, pid_t pid, const char *log)
{
	for (int i = 0; i < 1000; i++) {
		int st, fd = tcp_connect(port, false);
		if (fd >= 0) {
			close(fd);
			return;
		}
		if (waitpid(pid, &st, WNOHANG) == pid)
			die("cardnode on port %u exited; see %s", port, log);
		usleep(10000);
	}
	die("cardnode on port %u does not listen; see %s", port, log);
}

struct pstat {
	uint64_t cpu_ticks;     /* utime + stime */
	uint64_t rss_kib, hwm_kib, anon_kib;
	uint64_t rchar, wchar;
};

static uint64_t field_u64(const char *path, const char *key)
{
	char line[256];
	size_t kl = strlen(key);
	uint64_t v = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, key, kl) == 0) {
			v = strtoull(line + kl, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static struct pstat proc_stat(pid_t pid)
{
	struct pstat p;
	char path[64], buf[1024], *s;
	unsigned long ut = 0, st = 0;
	FILE *f;

	memset(&p, 0, sizeof p);
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(buf, sizeof buf, f) != NULL && (s = strrchr(buf, ')')) != NULL)
			sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			       &ut, &st);
		fclose(f);
	}
	p.cpu_ticks = ut + st;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	p.rss_kib = field_u64(path, "VmRSS:");
	p.hwm_kib = field_u64(path, "VmHWM:");
	p.anon_kib = field_u64(path, "RssAnon:");
	snprintf(path, sizeof path, "/proc/%d/io", (int)pid);
	p.rchar = field_u64(path, "rchar:");
	p.wchar = field_u64(path, "wchar:");
	return p;
}

/* ---- nodes ------------------------------------------------------------------ */

static void make_node(const char *dir, const char *name, uint8_t role,
		      const char *scope, uint8_t id[static 32])
{
	replica_close(bench_node_new(root_sk, secret, dir, name, name, role, scope, id));
}

static struct replica *open_replica(const char *dir, unsigned flags)
{
	struct replica *r;
	char err[512];

	if (replica_open(dir, flags, &r, err, sizeof err) != CN_OK)
		die("replica_open %s: %s", dir, err);
	return r;
}

/* Write NAME.conf and start cardnode on it; returns its pid. */
static pid_t start_daemon(const char *name, const char *datadir, unsigned port,
			  const unsigned *peers, size_t npeers)
{
	char conf[1300], log[1300];
	const char *argv[4];
	FILE *f;
	pid_t pid;

	snprintf(conf, sizeof conf, "%s/%s.conf", work, name);
	snprintf(log, sizeof log, "%s/%s.log", work, name);
	if ((f = fopen(conf, "w")) == NULL)
		die("%s: %s", conf, strerror(errno));
	fprintf(f, "[node]\ndata_dir = %s\nlisten = 127.0.0.1:%u\n"
		"watermark_interval = 0\n[peers]\n", datadir, port);
	for (size_t i = 0; i < npeers; i++)
		fprintf(f, "peer = 127.0.0.1:%u\n", peers[i]);
	fclose(f);
	argv[0] = CARDNODE_PATH;
	argv[1] = "-c";
	argv[2] = conf;
	argv[3] = NULL;
	pid = spawn(argv, log);
	for (size_t i = 0; i < sizeof running / sizeof running[0]; i++)
		if (running[i] == 0) {
			running[i] = pid;
			break;
		}
	wait_port(port, pid, log);
	return pid;
}

static const char *verdict(bool ok) { return ok ? "met" : "MISS"; }

/* ---- boot ------------------------------------------------------------------- */

static int phase_boot(void)
{
	char city[1200], school[1200], log[1200], port[32], hex1[65], hex2[65];
	char problem[256];
	const char *argv[8];
	struct replica *rs, *rc;
	struct replica_counts cs, cc;
	struct pstat p0, p1;
	uint8_t id[32], d1[32], d2[32];
	uint64_t t0, t1, t_verify, bytes;
	pid_t pid, sync_pid;
	double el, eps;
	int st, ret = 0;

	snprintf(city, sizeof city, "%s/city", base);
	snprintf(school, sizeof school, "%s/boot-school", work);
	snprintf(log, sizeof log, "%s/boot-sync.log", work);
	make_node(school, "bench-boot-school", ROLE_SCHOOL, "110101-0001", id);
	pid = start_daemon("boot-city", city, o.port, NULL, 0);
	progress("boot: city daemon up (pid %d); cardctl sync from a fresh school", (int)pid);

	snprintf(port, sizeof port, "127.0.0.1:%u", o.port);
	argv[0] = CARDCTL_PATH;
	argv[1] = "-d";
	argv[2] = school;
	argv[3] = "sync";
	argv[4] = port;
	argv[5] = "--timeout";
	argv[6] = "600";
	argv[7] = NULL;
	p0 = proc_stat(pid);
	t0 = util_mono_ns();
	sync_pid = spawn(argv, log);
	st = wait_exit(sync_pid);
	t1 = util_mono_ns();
	p1 = proc_stat(pid);
	if (st != 0)
		die("cardctl sync exited with %d; see %s", st, log);

	rs = open_replica(school, REPLICA_RDONLY);
	rc = open_replica(city, REPLICA_RDONLY);
	if (replica_digest(rc, d2, &cc) != CN_OK)
		die("replica_digest (city) failed");
	t_verify = util_mono_ns();
	if (replica_verify(rs, d1, &cs, problem, sizeof problem) != CN_OK) {
		fprintf(stderr, "bench_net: the school's replica does not verify: %s\n",
			problem);
		ret = 1;
	}
	t_verify = util_mono_ns() - t_verify;
	replica_close(rs);
	replica_close(rc);
	stop_daemon(pid);

	el = secs(t1 - t0);
	eps = rate(cs.entries, t1 - t0);
	/* The city's socket I/O: it writes nothing else during the sync
	 * (no watermark, LMDB reads go through the map) but its log and the
	 * status file, a few kB. */
	bytes = (p1.wchar - p0.wchar) + (p1.rchar - p0.rchar);
	util_hex_encode(d1, 32, hex1);
	util_hex_encode(d2, 32, hex2);
	printf("boot     a fresh school syncs the whole city (cardctl sync against cardnode)\n");
	printf("  entries              %" PRIu64 " (city holds %" PRIu64 ")\n",
	       cs.entries, cc.entries);
	printf("  wall time            %.2f s (until caught up, tables built)\n", el);
	printf("  rate                 %.0f entries/s\n", eps);
	printf("  bytes on the wire    %" PRIu64 " (%.1f per entry; the city's socket I/O)\n",
	       bytes, cs.entries ? (double)bytes / (double)cs.entries : 0.0);
	printf("  city CPU             %.2f s\n",
	       (double)(p1.cpu_ticks - p0.cpu_ticks) / (double)sysconf(_SC_CLK_TCK));
	printf("  re-verification      %.2f s (replica_verify: every signature and chain link)\n",
	       secs(t_verify));
	printf("  digests              school %.16s…  city %.16s…  %s\n", hex1, hex2,
	       memcmp(d1, d2, 32) == 0 ? "equal" : "DIFFER");
	if (memcmp(d1, d2, 32) != 0 || cs.entries != cc.entries)
		ret = 1;
	printf("  target: <= %.0f s    %s\n\n", TARGET_BOOT_S,
	       verdict(el <= TARGET_BOOT_S && ret == 0));
	fflush(stdout);
	return ret;
}

/* ---- latency ---------------------------------------------------------------- */

static void author_note(struct replica *r, unsigned i)
{
	struct entry e;
	size_t bad = 0;
	enum fold_reason why = FR_APPLIED;
	int rc;

	memset(&e, 0, sizeof e);
	e.op = OP_NODE_NOTE;
	e.body.has = BF(BK_TEXT);
	snprintf(e.body.text, sizeof e.body.text, "bench_net latency %u", i);
	if ((rc = replica_author(r, &e, 1, &bad, &why)) != CN_OK)
		die("replica_author: %s (%s)", cn_strerror(rc), fold_reason_name(why));
}

/* Wait until b holds seq of origin; returns the nanoseconds waited or
 * UINT64_MAX after timeout_ms. */
static uint64_t wait_head(struct replica *b, const uint8_t origin[static 32],
			  uint64_t seq, uint64_t t0, unsigned timeout_ms)
{
	for (;;) {
		uint64_t now;
		if (replica_head(b, origin) >= seq)
			return util_mono_ns() - t0;
		now = util_mono_ns();
		if (now - t0 > (uint64_t)timeout_ms * 1000000u)
			return UINT64_MAX;
		usleep(100);
	}
}

static int phase_latency(void)
{
	static const struct {
		const char *name;
		uint8_t role;
		const char *scope;
	} chain[4] = {
		{"bench-lat-school-a", ROLE_SCHOOL, "110101-0001"},
		{"bench-lat-district", ROLE_DISTRICT, "110101"},
		{"bench-lat-city", ROLE_CITY, "110000"},
		{"bench-lat-school-b", ROLE_SCHOOL, "110102-0001"},
	};
	char dirs[4][1200];
	uint8_t ids[4][32];
	pid_t pids[4];
	struct replica *a, *b;
	uint32_t *lat;
	struct lat l;
	uint64_t w;
	struct rng { uint64_t s; } rg = {88172645463325252ull};

	for (int i = 0; i < 4; i++) {
		snprintf(dirs[i], sizeof dirs[i], "%s/lat-%d", work, i);
		make_node(dirs[i], chain[i].name, chain[i].role, chain[i].scope, ids[i]);
	}
	/* Each dials the next one: A → district → city → B. */
	for (int i = 3; i >= 0; i--) {
		unsigned next = o.port + 11 + (unsigned)i;
		pids[i] = start_daemon(chain[i].name + 6, dirs[i], o.port + 10 + (unsigned)i,
				       &next, i < 3 ? 1 : 0);
	}
	progress("latency: 4 daemons up; waiting for the chain to connect");
	a = open_replica(dirs[0], 0);
	b = open_replica(dirs[3], REPLICA_RDONLY);
	author_note(a, 0);
	if (wait_head(b, ids[0], 1, util_mono_ns(), 60000) == UINT64_MAX)
		die("latency: the first entry did not reach school B within 60 s; see %s/*.log",
		    work);
	lat = calloc(o.samples, sizeof *lat);
	if (lat == NULL)
		die("out of memory");
	progress("latency: %u entries, one every 20–120 ms", o.samples);
	for (unsigned i = 0; i < o.samples; i++) {
		uint64_t t0;
		rg.s ^= rg.s << 13;
		rg.s ^= rg.s >> 7;
		rg.s ^= rg.s << 17;
		usleep(20000 + (useconds_t)(rg.s % 100000));
		author_note(a, i + 1);
		t0 = util_mono_ns();
		w = wait_head(b, ids[0], i + 2, t0, 10000);
		if (w == UINT64_MAX) {
			for (int k = 0; k < 4; k++) {
				struct replica *x = open_replica(dirs[k], REPLICA_RDONLY);
				fprintf(stderr, "  %s holds seq %" PRIu64 " of A\n", chain[k].name,
					replica_head(x, ids[0]));
				replica_close(x);
			}
			die("latency: entry %u did not reach school B within 10 s", i + 1);
		}
		lat[i] = w > UINT32_MAX ? UINT32_MAX : (uint32_t)w;
	}
	replica_close(a);
	replica_close(b);
	for (int i = 0; i < 4; i++)
		stop_daemon(pids[i]);
	l = lat_stats(lat, o.samples);
	free(lat);
	printf("latency  one entry across 3 hops: school A → district → city → school B\n");
	printf("  samples              %u (authored at A by another process, as cardctl does)\n",
	       o.samples);
	printf("  median               %.2f ms\n", l.median_us / 1e3);
	printf("  p99                  %.2f ms\n", l.p99_us / 1e3);
	printf("  max                  %.2f ms\n", l.max_us / 1e3);
	printf("  target: p99 <= %.0f ms  %s\n\n", TARGET_P99_MS,
	       verdict(l.p99_us / 1e3 <= TARGET_P99_MS));
	fflush(stdout);
	return 0;
}

/* ---- conns: simulated schools ------------------------------------------------ */

struct client {
	int fd;
	unsigned idx;
	struct hs h;
	bool ready, dead;
	uint8_t pk[32], sk[64];
	uint8_t cert[CERT_MAX];
	size_t cert_len;
	uint8_t *out;           /* bytes to write: out[off..len) */
	size_t off, len, cap;
	bool want_out;
	uint8_t in[1 << 16];
	size_t in_len;
	uint64_t seq, hlc, next_ns;
	uint8_t prev[32];
	uint64_t *sent_ns;      /* sent_ns[seq - 1] */
	uint64_t relayed;       /* entries of other schools received */
};

struct by_pk {
	uint8_t pk[32];
	unsigned idx;
};

struct sim {
	struct client *c;
	unsigned n;
	int ep;
	uint8_t nkey[32];
	uint8_t *hello;         /* the HELLO every school sends (its own
				 * node id patched in) */
	size_t hello_len, hello_node_at;
	size_t cap_seq;
	struct by_pk *by_pk;     /* sorted: origin → school */
	uint32_t *delay;        /* relay delays in the current window, µs
				 * (lat_stats() then reads "µs" as ms) */
	size_t ndelay, capdelay;
	uint64_t msgs_in, bytes_in;
};

static int sign_cb(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[static 64])
{
	struct client *c = ctx;

	crypto_sign_detached(sig, NULL, msg, len, c->sk);
	return 0;
}

static void c_queue(struct client *c, const uint8_t *p, size_t n)
{
	if (c->len + n > c->cap) {
		size_t nc = c->cap ? c->cap : 4096;
		uint8_t *b;
		while (nc < c->len + n)
			nc *= 2;
		if ((b = realloc(c->out, nc)) == NULL)
			die("out of memory");
		c->out = b;
		c->cap = nc;
	}
	memcpy(c->out + c->len, p, n);
	c->len += n;
}

static void c_flush(struct sim *s, struct client *c)
{
	struct epoll_event ev;
	bool want;

	while (c->off < c->len) {
		ssize_t w = write(c->fd, c->out + c->off, c->len - c->off);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			c->dead = true;
			return;
		}
		c->off += (size_t)w;
	}
	if (c->off == c->len)
		c->off = c->len = 0;
	want = c->len > 0;
	if (want != c->want_out) {
		c->want_out = want;
		ev.events = EPOLLIN | (want ? EPOLLOUT : 0);
		ev.data.u32 = c->idx;
		epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
}

static void c_send_msg(struct sim *s, struct client *c, const uint8_t *m, size_t n)
{
	uint8_t *frame = malloc(n + HS_FRAME_OVERHEAD);
	size_t fl;

	if (frame == NULL)
		die("out of memory");
	if (hs_seal(&c->h, m, n, false, frame, n + HS_FRAME_OVERHEAD, &fl) != CN_OK)
		die("school %u: hs_seal failed", c->idx);
	c_queue(c, frame, fl);
	free(frame);
	c_flush(s, c);
}

static void c_hs_out(struct client *c)
{
	const uint8_t *p;
	size_t n;

	if (hs_pending(&c->h, &p, &n) == CN_OK && n > 0) {
		c_queue(c, p, n);
		hs_sent(&c->h, n);
	}
}

static int cmp_pk(const void *a, const void *b) { return memcmp(a, b, 32); }

static void c_message(struct sim *s, struct client *c, const uint8_t *m, size_t n)
{
	struct cbor_rd r;
	uint64_t type, v;
	size_t k;

	s->msgs_in++;
	s->bytes_in += n;
	cbr_init(&r, m, n);
	if (cbr_array(&r, &k, 8) != 0 || cbr_uint(&r, &type) != 0)
		die("school %u: a message that is not a sync message", c->idx);
	if (type == SYNC_PING) {
		uint8_t b[16];
		struct cbor_wr w;
		if (cbr_uint(&r, &v) != 0)
			die("school %u: bad PING", c->idx);
		cbw_init_fixed(&w, b, sizeof b);
		cbw_array(&w, 2);
		cbw_uint(&w, SYNC_PONG);
		cbw_uint(&w, v);
		c_send_msg(s, c, b, w.len);
	} else if (type == SYNC_ENTRIES) {
		uint8_t origin[32];
		uint64_t first;
		size_t cnt;
		if (cbr_bstr_fixed(&r, origin, 32) != 0 || cbr_uint(&r, &first) != 0 ||
		    cbr_array(&r, &cnt, SYNC_ENTRIES_MAX) != 0)
			die("school %u: bad ENTRIES", c->idx);
		c->relayed += cnt;
		const struct by_pk *f = bsearch(origin, s->by_pk, s->n, sizeof *s->by_pk,
						cmp_pk);
		if (f != NULL) {
			struct client *src = &s->c[f->idx];
			uint64_t last = first + cnt - 1;
			if (last >= 1 && last <= src->seq) {
				uint64_t d = (util_mono_ns() - src->sent_ns[last - 1]) / 1000u;
				uint32_t *nd = util_grow(s->delay, &s->capdelay, s->ndelay + 1,
							 sizeof *nd);
				if (nd == NULL)
					die("out of memory");
				s->delay = nd;
				s->delay[s->ndelay++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
			}
		}
	}
	/* HAVE, CERTS, HELLO, PONG: nothing to do. */
}

static void c_read(struct sim *s, struct client *c)
{
	for (;;) {
		ssize_t got = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);
		size_t pos = 0;

		if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
			c->dead = true;
			return;
		}
		if (got < 0)
			break;
		c->in_len += (size_t)got;
		if (!c->ready) {
			size_t used = 0;
			if (hs_recv(&c->h, c->in, c->in_len, &used) != CN_OK ||
			    hs_state(&c->h) == HS_FAIL || hs_state(&c->h) == HS_DROP)
				die("school %u: handshake failed: %s", c->idx, hs_error(&c->h));
			c_hs_out(c);
			pos = used;
			if (hs_state(&c->h) == HS_READY) {
				c->ready = true;
				memcpy(s->hello + s->hello_node_at, c->pk, 32);
				c_flush(s, c);
				c_send_msg(s, c, s->hello, s->hello_len);
			}
		}
		while (c->ready && pos < c->in_len) {
			uint8_t *m = NULL;
			size_t used = 0, mlen = 0;
			bool fin = false;
			if (hs_open_next(&c->h, c->in + pos, c->in_len - pos, &used, &m,
					 &mlen, &fin) != CN_OK)
				die("school %u: a frame from the city does not open", c->idx);
			pos += used;
			if (m == NULL)
				break;
			c_message(s, c, m, mlen);
			free(m);
			if (fin)
				c->dead = true;
		}
		memmove(c->in, c->in + pos, c->in_len - pos);
		c->in_len -= pos;
		c_flush(s, c);
		if ((size_t)got < sizeof c->in)
			break;
	}
}

/* One signed node.note of this school as ENTRIES [3, origin, seq, [entry]]. */
static void c_send_entry(struct sim *s, struct client *c)
{
	struct entry e;
	uint8_t payload[CN_PAYLOAD_MAX], hash[32], sig[64], wire[CN_ENTRY_MAX];
	size_t plen, wlen, mlen;
	const char *why = NULL;
	struct cbor_wr w;
	uint8_t *m;

	if (c->seq >= s->cap_seq)
		return;
	memset(&e, 0, sizeof e);
	memcpy(e.origin, c->pk, 32);
	e.seq = c->seq + 1;
	memcpy(e.prev, c->prev, 32);
	e.hlc = c->hlc = hlc_next(c->hlc, util_now_ms());
	e.op = OP_NODE_NOTE;
	e.body.has = BF(BK_TEXT);
	snprintf(e.body.text, sizeof e.body.text, "bench_net school %u entry %" PRIu64,
		 c->idx, e.seq);
	if (entry_encode(&e, payload, sizeof payload, &plen, &why) != CN_OK)
		die("entry_encode: %s", why ? why : "?");
	entry_hash(payload, plen, hash);
	entry_sign(hash, c->sk, sig);
	if (entry_wire_encode(payload, plen, sig, wire, sizeof wire, &wlen) != CN_OK)
		die("entry_wire_encode failed");
	cbw_init_grow(&w);
	cbw_array(&w, 4);
	cbw_uint(&w, SYNC_ENTRIES);
	cbw_bstr(&w, c->pk, 32);
	cbw_uint(&w, e.seq);
	cbw_array(&w, 1);
	cbw_raw(&w, wire, wlen);
	if ((m = cbw_take(&w, &mlen)) == NULL)
		die("out of memory");
	c->sent_ns[c->seq] = util_mono_ns();
	c->seq++;
	memcpy(c->prev, hash, 32);
	c_send_msg(s, c, m, mlen);
	free(m);
}

struct digests {
	uint8_t (*d)[32];
	size_t n, cap;
};

static int digest_cb(void *ctx, const uint8_t *buf, size_t len)
{
	struct digests *d = ctx;
	uint8_t (*nd)[32] = util_grow(d->d, &d->cap, d->n + 1, 32);

	if (nd == NULL)
		return CN_ERR_NOMEM;
	d->d = nd;
	crypto_generichash(d->d[d->n++], 32, buf, len, NULL, 0);
	return 0;
}

struct vvbuf {
	struct cbor_wr *w;
	size_t n;
};

static int vv_count_cb(void *ctx, const uint8_t origin[CN_KEY_LEN], uint64_t seq)
{
	(void)origin;
	(void)seq;
	((struct vvbuf *)ctx)->n++;
	return 0;
}

static int vv_write_cb(void *ctx, const uint8_t origin[CN_KEY_LEN], uint64_t seq)
{
	struct vvbuf *v = ctx;

	cbw_bstr(v->w, origin, 32);
	cbw_uint(v->w, seq);
	return 0;
}

/* The HELLO of a school that holds everything the city holds (so the
 * city sends it only what is new): the city's vector and digests. */
static void make_hello(struct sim *s, struct replica *r)
{
	struct digests dc = {0}, dr = {0};
	struct vvbuf vb = {0};
	struct cbor_wr w;
	struct replica_info info;
	uint8_t zero[32] = {0};

	replica_info(r, &info);
	if (replica_certs_walk(r, digest_cb, &dc) != CN_OK ||
	    replica_revocations_walk(r, digest_cb, &dr) != CN_OK ||
	    replica_vv(r, vv_count_cb, &vb) != CN_OK)
		die("reading the city's certificates or vector failed");
	qsort(dc.d, dc.n, 32, cmp_pk);
	qsort(dr.d, dr.n, 32, cmp_pk);
	cbw_init_grow(&w);
	cbw_array(&w, 6);
	cbw_uint(&w, SYNC_HELLO);
	s->hello_node_at = w.len + 2; /* after the bstr32 head */
	cbw_bstr(&w, zero, 32);
	randombytes_buf(zero, 16);
	cbw_bstr(&w, zero, 16);
	cbw_map(&w, vb.n);
	vb.w = &w;
	if (replica_vv(r, vv_write_cb, &vb) != CN_OK)
		die("reading the city's vector failed");
	cbw_array(&w, dc.n);
	for (size_t i = 0; i < dc.n; i++)
		cbw_bstr(&w, dc.d[i], 32);
	cbw_array(&w, dr.n);
	for (size_t i = 0; i < dr.n; i++)
		cbw_bstr(&w, dr.d[i], 32);
	if ((s->hello = cbw_take(&w, &s->hello_len)) == NULL)
		die("out of memory");
	free(dc.d);
	free(dr.d);
}

static void conns_poll(struct sim *s, int timeout_ms)
{
	struct epoll_event evs[256];
	int k = epoll_wait(s->ep, evs, 256, timeout_ms);

	for (int i = 0; i < k; i++) {
		struct client *c = &s->c[evs[i].data.u32];
		if (c->dead)
			continue;
		if (evs[i].events & EPOLLOUT)
			c_flush(s, c);
		if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			c_read(s, c);
		if (c->dead) {
			epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
			close(c->fd);
		}
	}
}

/* CPU seconds of this process. */
static double cpu_self(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t city_backlog(struct replica *r, const struct sim *s, uint64_t *sent)
{
	uint64_t held = 0, total = 0;

	for (unsigned i = 0; i < s->n; i++) {
		held += replica_head(r, s->c[i].pk);
		total += s->c[i].seq;
	}
	*sent = total;
	return total - held;
}

static int phase_conns(void)
{
	char city[1200], copy[1200], cmd[2600];
	struct sim s;
	struct replica *r;
	struct pstat p0, p1;
	pid_t pid;
	unsigned port = o.port + 20, ready = 0;
	uint64_t t_start, t_end, t_measure, next_sample, sent = 0, bl_first = 0, bl = 0;
	uint64_t bl_max = 0, bl_last = 0, relayed = 0;
	struct lat first_w = {0}, last_w = {0};
	unsigned dead = 0, warm = 5, nsample = 0;
	struct hs_config hc;
	uint64_t hz = (uint64_t)sysconf(_SC_CLK_TCK);
	double cpu_pct, self0 = 0;
	uint64_t late = 0;

	memset(&s, 0, sizeof s);
	snprintf(city, sizeof city, "%s/city", base);
	snprintf(copy, sizeof copy, "%s/conns-city", work);
	progress("conns: copying the city data dir");
	snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", city, copy);
	if (system(cmd) != 0)
		die("%s failed", cmd);

	s.n = o.schools;
	s.cap_seq = o.duration + warm + 30;
	s.c = calloc(s.n, sizeof *s.c);
	s.by_pk = calloc(s.n, sizeof *s.by_pk);
	if (s.c == NULL || s.by_pk == NULL)
		die("out of memory");
	/* Every school's identity and certificate, installed at the city
	 * beforehand (as a deployment does when it enrols schools). */
	r = open_replica(copy, 0);
	if (replica_network_key(r, s.nkey) != CN_OK)
		die("the city has no network key");
	for (unsigned i = 0; i < s.n; i++) {
		struct client *c = &s.c[i];
		char name[64], scope[16];
		c->idx = i;
		c->fd = -1;
		crypto_sign_keypair(c->pk, c->sk);
		snprintf(name, sizeof name, "bench-sim-school-%u", i);
		snprintf(scope, sizeof scope, "1101%02u-%04u", 1 + (i / 50) % 16, 1 + i % 50);
		bench_cert(root_sk, c->pk, ROLE_SCHOOL, name, scope, c->cert, &c->cert_len);
		if (replica_cert_install(r, c->cert, c->cert_len, NULL) != CN_OK)
			die("installing school %u's certificate failed", i);
		c->sent_ns = calloc(s.cap_seq, sizeof *c->sent_ns);
		if (c->sent_ns == NULL)
			die("out of memory");
		memcpy(s.by_pk[i].pk, c->pk, 32);
		s.by_pk[i].idx = i;
	}
	qsort(s.by_pk, s.n, sizeof *s.by_pk, cmp_pk);
	make_hello(&s, r);
	replica_close(r);

	pid = start_daemon("conns-city", copy, port, NULL, 0);
	r = open_replica(copy, REPLICA_RDONLY);
	progress("conns: city daemon up (pid %d); connecting %u schools", (int)pid, s.n);
	if ((s.ep = epoll_create1(0)) < 0)
		die("epoll_create1: %s", strerror(errno));
	memset(&hc, 0, sizeof hc);
	hc.initiator = true;
	hc.network_key = s.nkey;
	hc.root_pub = root_pk;
	hc.sign = sign_cb;
	for (unsigned i = 0; i < s.n; i++) {
		struct client *c = &s.c[i];
		struct epoll_event ev;
		hc.cert = c->cert;
		hc.cert_len = c->cert_len;
		hc.sign_ctx = c;
		hc.now_ms = util_now_ms();
		if (hs_init(&c->h, &hc) != CN_OK)
			die("hs_init: %s", hs_error(&c->h));
		if ((c->fd = tcp_connect(port, true)) < 0)
			die("connecting school %u: %s", i, strerror(errno));
		ev.events = EPOLLIN | EPOLLOUT;
		ev.data.u32 = i;
		c->want_out = true;
		epoll_ctl(s.ep, EPOLL_CTL_ADD, c->fd, &ev);
		c_hs_out(c);
		if (i % 50 == 49)
			conns_poll(&s, 0);
	}
	t_start = util_mono_ns();
	while (ready < s.n) {
		conns_poll(&s, 10);
		ready = 0;
		for (unsigned i = 0; i < s.n; i++)
			ready += s.c[i].ready;
		if (util_mono_ns() - t_start > 30000000000ull)
			die("conns: only %u of %u schools finished the handshake in 30 s",
			    ready, s.n);
	}
	progress("conns: %u schools connected in %.2f s; each sends 1 entry/s for %u s (+%u s warm-up)",
		 s.n, secs(util_mono_ns() - t_start), o.duration, warm);

	t_start = util_mono_ns();
	for (unsigned i = 0; i < s.n; i++)
		s.c[i].next_ns = t_start + (uint64_t)i * 1000000000u / s.n;
	t_measure = t_start + (uint64_t)warm * 1000000000u;
	t_end = t_measure + (uint64_t)o.duration * 1000000000u;
	next_sample = t_measure;
	p0 = proc_stat(pid);
	for (;;) {
		uint64_t now = util_mono_ns();
		if (now >= next_sample) {
			if (next_sample == t_measure) {
				p0 = proc_stat(pid);
				self0 = cpu_self();
				s.ndelay = 0;
			}
			bl = city_backlog(r, &s, &sent);
			if (nsample == 0)
				bl_first = bl;
			bl_last = bl;
			if (bl > bl_max)
				bl_max = bl;
			if (s.ndelay > 0) {
				struct lat l = lat_stats(s.delay, s.ndelay);
				if (nsample == 1)
					first_w = l;
				last_w = l;
				progress("conns: t=%4.0f s  sent %" PRIu64 "  city backlog %" PRIu64
					 "  relay delay median %.1f ms p99 %.1f ms (%zu relayed)",
					 secs(now - t_measure), sent, bl, l.median_us,
					 l.p99_us, s.ndelay);
			} else {
				progress("conns: t=%4.0f s  sent %" PRIu64 "  city backlog %" PRIu64,
					 secs(now - t_measure), sent, bl);
			}
			s.ndelay = 0;
			nsample++;
			next_sample += 5000000000ull;
			if (now >= t_end)
				break;
		}
		for (unsigned i = 0; i < s.n; i++) {
			struct client *c = &s.c[i];
			if (!c->dead && now >= c->next_ns && now < t_end) {
				if (now - c->next_ns > 100000000u && now >= t_measure)
					late++;
				c_send_entry(&s, c);
				c->next_ns += 1000000000u;
			}
		}
		conns_poll(&s, 1);
	}
	p1 = proc_stat(pid);
	/* Give the city a moment, then the final backlog. */
	for (int i = 0; i < 100; i++)
		conns_poll(&s, 10);
	bl = city_backlog(r, &s, &sent);
	for (unsigned i = 0; i < s.n; i++) {
		dead += s.c[i].dead;
		relayed += s.c[i].relayed;
		if (s.c[i].fd >= 0 && !s.c[i].dead)
			close(s.c[i].fd);
		hs_wipe(&s.c[i].h);
		free(s.c[i].out);
		free(s.c[i].sent_ns);
	}
	replica_close(r);
	stop_daemon(pid);
	close(s.ep);
	cpu_pct = 100.0 * (double)(p1.cpu_ticks - p0.cpu_ticks) / (double)hz /
		  ((double)o.duration);
	printf("conns    %u simulated schools, 1 entry/s each, for %u s (after %u s warm-up)\n",
	       s.n, o.duration, warm);
	printf("  entries sent         %" PRIu64 "; relayed back to schools %" PRIu64
	       " (expected about %" PRIu64 ")\n", sent, relayed, sent * (s.n - 1));
	printf("  city backlog         first %" PRIu64 ", max %" PRIu64 ", last %" PRIu64
	       ", after the run %" PRIu64 " entries (sent, not yet committed): %s\n",
	       bl_first, bl_max, bl_last, bl,
	       bl_last > bl_first + s.n ? "growing" : "not growing");
	printf("  relay delay          first window median %.1f ms p99 %.1f ms; last window median %.1f ms p99 %.1f ms\n",
	       first_w.median_us, first_w.p99_us, last_w.median_us, last_w.p99_us);
	printf("  city CPU             %.1f %% of one core (%.2f s over %u s)\n", cpu_pct,
	       (double)(p1.cpu_ticks - p0.cpu_ticks) / (double)hz, o.duration);
	printf("  city memory          RSS %.1f MiB (peak %.1f), of which %.1f MiB anonymous; the rest is the mapped store\n",
	       p1.rss_kib / 1024.0, p1.hwm_kib / 1024.0, p1.anon_kib / 1024.0);
	printf("  this process         %.1f %% of one core (the %u schools: handshakes, sealing, opening)\n",
	       100.0 * (cpu_self() - self0) / (double)o.duration, s.n);
	printf("  schools' schedule    %" PRIu64 " sends late by more than 100 ms\n", late);
	printf("  schools dropped      %u\n", dead);
	{
		bool ok = dead == 0 && bl <= s.n && bl_max <= 2u * s.n &&
			  bl_last <= bl_first + s.n && last_w.median_us <= 1000.0;
		printf("  target: keeps up (backlog not growing and under 2 s of input,\n"
		       "          relays under 1 s, no drops)  %s\n\n", verdict(ok));
	}
	free(s.c);
	free(s.by_pk);
	free(s.delay);
	free(s.hello);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	char path[1200], err[512];
	int ret = 0;

	bench_name = "bench_net";
	parse_opts(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	atexit(stop_all);
	if (sodium_init() < 0)
		die("sodium_init failed");
	snprintf(base, sizeof base, "%s", o.city);
	snprintf(path, sizeof path, "%s/root.key", base);
	if (datadir_read_root(path, root_sk, err, sizeof err) != CN_OK)
		die("%s (run bench_city --keep --dir %s first)", err, base);
	memcpy(root_pk, root_sk + 32, 32);
	snprintf(path, sizeof path, "%s/secret", base);
	if (datadir_read_secret(path, secret, err, sizeof err) != CN_OK)
		die("%s", err);
	snprintf(work, sizeof work, "%s/net", base);
	rm_tree(work);
	if (mkdir(work, 0700) != 0)
		die("mkdir %s: %s", work, strerror(errno));
	printf("cardnode bench_net: city %s, work dir %s\n\n", base, work);
	fflush(stdout);
	if (o.boot)
		ret |= phase_boot();
	if (o.latency)
		ret |= phase_latency();
	if (o.conns)
		ret |= phase_conns();
	if (!o.keep)
		rm_tree(work);
	else
		fprintf(stderr, "[bench] kept %s\n", work);
	return ret;
}
