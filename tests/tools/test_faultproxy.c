/*
 * test_faultproxy.c — the faultproxy binary (argv[1]) in front of an echo
 * server on 127.0.0.1: clean forwarding of 10 MB with half-close passed
 * on, corruption, cuts, drops, delay, --faults-for, SIGUSR1/SIGUSR2,
 * back-pressure when the client does not read, argument errors, and a
 * quick exit 0 on SIGTERM (with a connection still open).  Each check
 * looks at the bytes that came back and at the proxy's --stats counters.
 */
#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *proxy_bin;
static char tmpdir[4096];
static char stats_path[4200];
static int echo_port;
static pid_t echo_pid;
static pid_t live_proxy; /* killed by cleanup() if a check fails */
static pid_t main_pid;

static void cleanup(void)
{
	if (getpid() != main_pid)
		return;
	if (live_proxy > 0) {
		kill(live_proxy, SIGKILL);
		waitpid(live_proxy, NULL, 0);
	}
	if (echo_pid > 0) {
		kill(echo_pid, SIGKILL);
		waitpid(echo_pid, NULL, 0);
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- echo server (a child process, one connection at a time) ------------- */

static void echo_serve(int lfd)
{
	static char buf[65536];

	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		ssize_t n;

		if (fd < 0)
			continue;
		while ((n = read(fd, buf, sizeof buf)) > 0) {
			ssize_t off = 0;
			while (off < n) {
				ssize_t w = send(fd, buf + off, (size_t)(n - off),
						 MSG_NOSIGNAL);
				if (w <= 0)
					break;
				off += w;
			}
			if (off < n)
				break;
		}
		shutdown(fd, SHUT_WR);
		close(fd);
	}
}

static int listen_any_port(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	CHECK(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_EQ(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	CHECK_EQ(listen(fd, 16), 0);
	CHECK_EQ(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void echo_start(void)
{
	int lfd = listen_any_port(&echo_port);

	echo_pid = fork();
	CHECK(echo_pid >= 0);
	if (echo_pid == 0) {
		echo_serve(lfd);
		_exit(0);
	}
	close(lfd);
}

/* ---- the proxy -------------------------------------------------------------- */

struct proxy {
	pid_t pid;
	int port;
};

/* Start faultproxy with the given extra arguments (NULL-terminated) and
 * wait for its "listening" line. */
static struct proxy proxy_start(const char *const *args)
{
	struct proxy p = { 0 };
	char to[64], line[256];
	const char *argv[32];
	int pfd[2], n = 0;
	size_t len = 0;
	uint64_t deadline;

	snprintf(to, sizeof to, "127.0.0.1:%d", echo_port);
	argv[n++] = proxy_bin;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--to";
	argv[n++] = to;
	argv[n++] = "--stats";
	argv[n++] = stats_path;
	while (*args != NULL && n < 31)
		argv[n++] = *args++;
	argv[n] = NULL;

	unlink(stats_path);
	CHECK_EQ(pipe(pfd), 0);
	p.pid = fork();
	CHECK(p.pid >= 0);
	if (p.pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execv(proxy_bin, (char *const *)argv);
		perror(proxy_bin);
		_exit(127);
	}
	close(pfd[1]);
	live_proxy = p.pid;
	deadline = now_ms() + 10000;
	while (memchr(line, '\n', len) == NULL) {
		struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
		ssize_t r;

		CHECK(now_ms() < deadline);
		if (poll(&pf, 1, 100) <= 0)
			continue;
		r = read(pfd[0], line + len, sizeof line - 1 - len);
		CHECK(r > 0);
		len += (size_t)r;
	}
	line[len] = '\0';
	close(pfd[0]);
	CHECK(sscanf(line, "listening 127.0.0.1:%d", &p.port) == 1);
	CHECK(p.port > 0);
	return p;
}

/* Wait up to timeout_ms for the proxy to exit; its wait status, or -1. */
static int proxy_wait(struct proxy *p, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	int st;

	while (now_ms() < deadline) {
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		CHECK(r >= 0);
		if (r == p->pid)
			return st;
		sleep_ms(10);
	}
	return -1;
}

/* SIGTERM: the proxy must exit 0 within 2 s. */
static void proxy_stop(struct proxy *p)
{
	uint64_t t0 = now_ms();
	int st;

	CHECK_EQ(kill(p->pid, SIGTERM), 0);
	st = proxy_wait(p, 2000);
	if (st == -1) {
		fprintf(stderr, "faultproxy did not exit within 2 s of SIGTERM\n");
		exit(1);
	}
	live_proxy = 0;
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
	CHECK_INT(now_ms() - t0, <, 2000);
}

/* A counter from the stats file; -1 if the file or the key is missing. */
static long long stat_get(const char *key)
{
	FILE *f = fopen(stats_path, "r");
	char k[64];
	long long v, found = -1;

	if (f == NULL)
		return -1;
	while (fscanf(f, "%63s %lld", k, &v) == 2)
		if (strcmp(k, key) == 0)
			found = v;
	fclose(f);
	return found;
}

/* Wait up to 2 s for counter key to equal want. */
static void stat_wait(const char *key, long long want)
{
	uint64_t deadline = now_ms() + 2000;

	while (stat_get(key) != want && now_ms() < deadline)
		sleep_ms(20);
	CHECK_INT(stat_get(key), ==, want);
}

/* ---- a client --------------------------------------------------------------- */

enum end { END_EOF, END_ERROR, END_TIMEOUT };

struct xfer {
	size_t sent, got;
	enum end end;
	uint64_t ms;
};

static int dial(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	CHECK(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		fprintf(stderr, "connect to 127.0.0.1:%d: %s\n", port,
			strerror(errno));
		exit(1);
	}
	return fd;
}

/* Send data[0..n) through the proxy while reading what comes back into
 * out (capacity cap), shut down writing once all is sent, and read until
 * EOF, an error, or timeout_ms. */
static struct xfer xfer_run(int port, const uint8_t *data, size_t n,
			    uint8_t *out, size_t cap, int timeout_ms)
{
	struct xfer x = { 0 };
	uint64_t t0 = now_ms(), deadline = t0 + (uint64_t)timeout_ms;
	int fd = dial(port);
	bool shut = false;

	CHECK_EQ(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	for (;;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		uint64_t now = now_ms();

		if (x.sent == n && !shut) {
			shutdown(fd, SHUT_WR);
			shut = true;
		}
		if (x.sent < n)
			pf.events |= POLLOUT;
		if (now >= deadline) {
			x.end = END_TIMEOUT;
			break;
		}
		if (poll(&pf, 1, (int)(deadline - now)) <= 0)
			continue;
		if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = read(fd, out + x.got, cap - x.got);
			if (r == 0) {
				x.end = END_EOF;
				break;
			}
			if (r < 0 && errno != EAGAIN) {
				x.end = END_ERROR;
				break;
			}
			if (r > 0)
				x.got += (size_t)r;
			CHECK(x.got < cap); /* never more than was sent */
		}
		if ((pf.revents & POLLOUT) && x.sent < n) {
			size_t chunk = n - x.sent > 65536 ? 65536 : n - x.sent;
			ssize_t w = send(fd, data + x.sent, chunk, MSG_NOSIGNAL);
			if (w < 0 && errno != EAGAIN) {
				/* The proxy closed: read what is left. */
				x.sent = n;
				shut = true;
			} else if (w > 0) {
				x.sent += (size_t)w;
			}
		}
	}
	x.ms = now_ms() - t0;
	close(fd);
	return x;
}

static uint8_t *data_make(size_t n, uint64_t seed)
{
	uint8_t *d = malloc(n);

	CHECK(d != NULL);
	for (size_t i = 0; i < n; i++) {
		seed = seed * 6364136223846793005u + 1442695040888963407u;
		d[i] = (uint8_t)(seed >> 56);
	}
	return d;
}

/* Round trip n bytes; true if they came back identical, with EOF. */
static bool round_trip(int port, const uint8_t *data, size_t n)
{
	uint8_t *out = malloc(n + 1);
	struct xfer x;
	bool same;

	CHECK(out != NULL);
	x = xfer_run(port, data, n, out, n + 1, 20000);
	CHECK_EQ(x.sent, n);
	CHECK_EQ(x.end, END_EOF);
	CHECK_EQ(x.got, n);
	same = memcmp(out, data, n) == 0;
	free(out);
	return same;
}

/* ---- the tests -------------------------------------------------------------- */

#define MB (1024 * 1024)

static void test_clean(const uint8_t *data)
{
	const char *args[] = { "--seed", "1", NULL };
	struct proxy p = proxy_start(args);

	CHECK(round_trip(p.port, data, 10 * MB));
	CHECK(round_trip(p.port, data, 1));
	proxy_stop(&p);
	CHECK_EQ(stat_get("connections"), 2);
	CHECK_EQ(stat_get("bytes_up"), 10 * MB + 1);
	CHECK_EQ(stat_get("bytes_down"), 10 * MB + 1);
	CHECK_EQ(stat_get("corrupted"), 0);
	CHECK_EQ(stat_get("cut"), 0);
	CHECK_EQ(stat_get("dropped"), 0);
	CHECK_EQ(stat_get("faults_active"), 1);
	CHECK_EQ(stat_get("seed"), 1);
	printf("ok clean: 10 MB round trip identical\n");
}

static void test_corrupt(const uint8_t *data)
{
	const char *args[] = { "--corrupt", "1", NULL };
	struct proxy p = proxy_start(args);

	CHECK(!round_trip(p.port, data, 1 * MB));
	stat_wait("bytes_down", 1 * MB);
	CHECK_INT(stat_get("corrupted"), >, 0);
	proxy_stop(&p);
	printf("ok corrupt: %lld chunks corrupted\n", stat_get("corrupted"));
}

static void test_cut(const uint8_t *data)
{
	const char *args[] = { "--cut", "1", NULL };
	struct proxy p = proxy_start(args);
	size_t n = 4 * MB;
	uint8_t *out = malloc(n + 1);
	struct xfer x;

	CHECK(out != NULL);
	x = xfer_run(p.port, data, n, out, n + 1, 10000);
	CHECK(x.end != END_TIMEOUT);
	CHECK_INT(x.got, <, n);
	stat_wait("cut", 1);
	CHECK_INT(stat_get("bytes_up"), <, n);
	proxy_stop(&p);
	free(out);
	printf("ok cut: %zu of %zu bytes came back\n", x.got, n);
}

static void test_drop(void)
{
	const char *args[] = { "--drop", "1", NULL };
	struct proxy p = proxy_start(args);
	uint8_t in[16] = "hello", out[64];

	for (int i = 0; i < 3; i++) {
		struct xfer x = xfer_run(p.port, in, 5, out, sizeof out, 5000);
		CHECK(x.end != END_TIMEOUT);
		CHECK_EQ(x.got, 0);
		CHECK_INT(x.ms, <, 1000);
	}
	stat_wait("dropped", 3);
	CHECK_EQ(stat_get("connections"), 3);
	CHECK_EQ(stat_get("bytes_up"), 0);
	proxy_stop(&p);
	printf("ok drop: 3 connections closed at once\n");
}

static void test_delay(const uint8_t *data)
{
	const char *args[] = { "--delay", "20:15", NULL };
	struct proxy p = proxy_start(args);
	uint64_t t0 = now_ms();

	CHECK(round_trip(p.port, data, 2 * MB));
	CHECK(round_trip(p.port, data, 100));
	CHECK_INT(now_ms() - t0, >=, 10); /* at least one delay each way */
	stat_wait("bytes_down", 2 * MB + 100);
	CHECK_INT(stat_get("delayed_chunks"), >, 1);
	proxy_stop(&p);
	printf("ok delay: %lld chunks delayed, order kept\n",
	       stat_get("delayed_chunks"));
}

static void test_faults_for(const uint8_t *data)
{
	const char *args[] = { "--corrupt", "1", "--faults-for", "1", NULL };
	struct proxy p = proxy_start(args);
	long long corrupted;

	CHECK(!round_trip(p.port, data, 256 * 1024));
	sleep_ms(1500);
	CHECK_EQ(stat_get("faults_active"), 0);
	corrupted = stat_get("corrupted");
	CHECK(round_trip(p.port, data, 2 * MB));
	CHECK_EQ(stat_get("corrupted"), corrupted);
	proxy_stop(&p);
	CHECK_EQ(stat_get("corrupted"), corrupted);
	printf("ok faults-for: clean after 1.5 s\n");
}

static void test_signals(const uint8_t *data)
{
	const char *args[] = { "--corrupt", "1", NULL };
	struct proxy p = proxy_start(args);

	CHECK(!round_trip(p.port, data, 256 * 1024));
	CHECK_EQ(kill(p.pid, SIGUSR1), 0);
	stat_wait("faults_active", 0);
	CHECK(round_trip(p.port, data, 2 * MB));
	CHECK_EQ(kill(p.pid, SIGUSR2), 0);
	stat_wait("faults_active", 1);
	CHECK(!round_trip(p.port, data, 256 * 1024));
	proxy_stop(&p);
	printf("ok signals: SIGUSR1 stops faults, SIGUSR2 resumes them\n");
}

/* A client that sends without reading: the proxy must stop reading too,
 * so that only socket buffers and its bounded queues fill up. */
static void test_backpressure(const uint8_t *data)
{
	const char *args[] = { NULL };
	struct proxy p = proxy_start(args);
	size_t limit = 256 * (size_t)MB, sent = 0;
	uint64_t last_progress = now_ms();
	int fd = dial(p.port);

	CHECK_EQ(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	while (sent < limit && now_ms() - last_progress < 500) {
		ssize_t w = send(fd, data, MB, MSG_NOSIGNAL);
		if (w > 0) {
			sent += (size_t)w;
			last_progress = now_ms();
		} else {
			CHECK(w < 0 && errno == EAGAIN);
			sleep_ms(5);
		}
	}
	CHECK_INT(sent, <, 128 * (size_t)MB);
	/* SIGTERM with this connection still open and stuck. */
	proxy_stop(&p);
	close(fd);
	printf("ok back-pressure: stalled after %zu MB\n", sent / MB);
}

/* Clients that vanish while the proxy writes to them (EPIPE, ECONNRESET)
 * end their connection only: the proxy keeps running and forwarding. */
static void test_abrupt_close(const uint8_t *data)
{
	const char *args[] = { NULL };
	struct proxy p = proxy_start(args);

	for (int i = 0; i < 20; i++) {
		int fd = dial(p.port);
		size_t off = 0;

		while (off < 512 * 1024) {
			ssize_t w = send(fd, data + off, 512 * 1024 - off,
					 MSG_NOSIGNAL);
			CHECK(w > 0);
			off += (size_t)w;
		}
		sleep_ms(i % 3 * 5);
		close(fd);
	}
	sleep_ms(200);
	CHECK_EQ(waitpid(p.pid, NULL, WNOHANG), 0); /* still running */
	CHECK(round_trip(p.port, data, 1 * MB));
	proxy_stop(&p);
	printf("ok abrupt close: 20 vanished clients, proxy still forwards\n");
}

/* Run faultproxy with args; it must exit 2 naming `name` on stderr. */
static void expect_usage_error(const char *name, const char *const *args)
{
	char errpath[4300], buf[4096] = "";
	const char *argv[16];
	int n = 0, st;
	pid_t pid;
	FILE *f;
	size_t len;

	snprintf(errpath, sizeof errpath, "%s/stderr", tmpdir);
	argv[n++] = proxy_bin;
	while (*args != NULL && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 2);
		execv(proxy_bin, (char *const *)argv);
		_exit(127);
	}
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	f = fopen(errpath, "r");
	CHECK(f != NULL);
	len = fread(buf, 1, sizeof buf - 1, f);
	buf[len] = '\0';
	fclose(f);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 2 || !strstr(buf, name)) {
		fprintf(stderr, "expected exit 2 naming %s, got status %d: %s\n",
			name, st, buf);
		exit(1);
	}
}

static void test_usage(void)
{
	const char *a1[] = { "--listen", "127.0.0.1:0", "--to", "127.0.0.1:1",
			     "--drop", "1.5", NULL };
	const char *a2[] = { "--listen", "10.1.2.3:0", "--to", "127.0.0.1:1",
			     NULL };
	const char *a3[] = { "--listen", "127.0.0.1:0", "--to", "127.0.0.1:1",
			     "--delay", "5:x", NULL };
	const char *a4[] = { "--listen", "127.0.0.1:0", NULL };
	const char *a5[] = { "--listen", "127.0.0.1:0", "--to", "127.0.0.1:99999",
			     NULL };
	const char *a6[] = { "--bogus", NULL };
	const char *a7[] = { "--listen", "127.0.0.1:0", "--to", "127.0.0.1:1",
			     "--corrupt", NULL };
	const char *a8[] = { "--listen", "127.0.0.1:0", "--to", "127.0.0.1:1",
			     "--stats", "/nonexistent/dir/stats", NULL };

	expect_usage_error("--drop", a1);
	expect_usage_error("--listen", a2);
	expect_usage_error("--delay", a3);
	expect_usage_error("--to", a4);
	expect_usage_error("--to", a5);
	expect_usage_error("--bogus", a6);
	expect_usage_error("--corrupt", a7);
	expect_usage_error("--stats", a8);
	printf("ok usage errors: exit 2, naming the argument\n");
}

int main(int argc, char **argv)
{
	const char *base = getenv("CN_TEST_TMP");
	uint8_t *data;

	if (argc != 2) {
		fprintf(stderr, "usage: test_faultproxy PATH-TO-FAULTPROXY\n");
		return 2;
	}
	proxy_bin = argv[1];
	main_pid = getpid();
	atexit(cleanup);
	if (base == NULL || *base == '\0')
		base = "/tmp";
	mkdir(base, 0700);
	snprintf(tmpdir, sizeof tmpdir, "%s/faultproxy.XXXXXX", base);
	CHECK(mkdtemp(tmpdir) != NULL);
	snprintf(stats_path, sizeof stats_path, "%s/stats", tmpdir);
	setvbuf(stdout, NULL, _IOLBF, 0);

	echo_start();
	data = data_make(10 * MB, 42);

	test_usage();
	test_clean(data);
	test_corrupt(data);
	test_cut(data);
	test_drop();
	test_delay(data);
	test_faults_for(data);
	test_signals(data);
	test_backpressure(data);
	test_abrupt_close(data);

	cleanup();
	echo_pid = 0;
	free(data);
	unlink(stats_path);
	{
		char p[4300];
		snprintf(p, sizeof p, "%s/stderr", tmpdir);
		unlink(p);
	}
	rmdir(tmpdir);
	return 0;
}
