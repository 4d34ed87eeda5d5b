/*
 * tcpprobe.c — raw TCP for the replication tests (docs/testing.md).
 *
 *   tcpprobe send HOST:PORT FILE [--wait MS]
 *       connect, write FILE's bytes, read until the peer closes or MS
 *       milliseconds (default 2000) pass without a byte; print
 *       "received N bytes, closed" or "received N bytes, open".
 *   tcpprobe relay PORT HOST:PORT --record FILE
 *       accept one connection on 127.0.0.1:PORT (0: any free port; the
 *       line "listening PORT" is printed first), connect it to HOST:PORT,
 *       forward both ways and write what the client sent to FILE; exit
 *       when either side closes.
 *
 * The tests use it to show that a node says nothing to a peer without the
 * network key, and to replay a captured handshake.  Exit status 0, 1 on an
 * error (message on stderr), 2 on bad usage.  IPv4 only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int die(const char *what)
{
	fprintf(stderr, "tcpprobe: %s: %s\n", what, strerror(errno));
	return 1;
}

static int parse_addr(const char *s, struct sockaddr_in *a)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	size_t n;

	if (colon == NULL || (n = (size_t)(colon - s)) == 0 || n >= sizeof host)
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	memset(a, 0, sizeof *a);
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

static int dial(const char *spec)
{
	struct sockaddr_in a;
	int fd;

	if (parse_addr(spec, &a) != 0) {
		fprintf(stderr, "tcpprobe: '%s' is not IPV4:PORT\n", spec);
		return -1;
	}
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		die(spec);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int cmd_send(const char *spec, const char *file, int wait_ms)
{
	static char buf[1 << 16];
	size_t total = 0;
	FILE *f = fopen(file, "rb");
	size_t n;
	int fd;
	int closed = 0;

	if (f == NULL)
		return die(file);
	if ((fd = dial(spec)) < 0) {
		fclose(f);
		return 1;
	}
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		if (write_all(fd, buf, n) != 0)
			break; /* the peer may close while we write: count what came */
	fclose(f);
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		int rc = poll(&p, 1, wait_ms);
		ssize_t r;
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			break;
		r = read(fd, buf, sizeof buf);
		if (r <= 0) {
			closed = 1;
			break;
		}
		total += (size_t)r;
	}
	close(fd);
	printf("received %zu bytes, %s\n", total, closed ? "closed" : "open");
	return 0;
}

static int cmd_relay(int port, const char *spec, const char *record)
{
	static char buf[1 << 16];
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	FILE *rec;
	int ls, c, s, one = 1;

	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((ls = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return die("socket");
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 1) != 0 ||
	    getsockname(ls, (struct sockaddr *)&a, &len) != 0)
		return die("listen");
	printf("listening %d\n", ntohs(a.sin_port));
	fflush(stdout);
	if ((c = accept(ls, NULL, NULL)) < 0)
		return die("accept");
	close(ls);
	if ((s = dial(spec)) < 0)
		return 1;
	if ((rec = fopen(record, "wb")) == NULL)
		return die(record);
	for (;;) {
		struct pollfd p[2] = {{c, POLLIN, 0}, {s, POLLIN, 0}};
		ssize_t r;
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents) {
			if ((r = read(c, buf, sizeof buf)) <= 0)
				break;
			fwrite(buf, 1, (size_t)r, rec);
			fflush(rec);
			if (write_all(s, buf, (size_t)r) != 0)
				break;
		}
		if (p[1].revents) {
			if ((r = read(s, buf, sizeof buf)) <= 0)
				break;
			if (write_all(c, buf, (size_t)r) != 0)
				break;
		}
	}
	fclose(rec);
	close(c);
	close(s);
	return 0;
}

static const char usage[] =
	"usage: tcpprobe send HOST:PORT FILE [--wait MS]\n"
	"       tcpprobe relay PORT HOST:PORT --record FILE\n";

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "send") == 0)
		return cmd_send(argv[2], argv[3], 2000);
	if (argc == 6 && strcmp(argv[1], "send") == 0 && strcmp(argv[4], "--wait") == 0)
		return cmd_send(argv[2], argv[3], atoi(argv[5]));
	if (argc == 6 && strcmp(argv[1], "relay") == 0 && strcmp(argv[4], "--record") == 0)
		return cmd_relay(atoi(argv[2]), argv[3], argv[5]);
	fputs(usage, stderr);
	return 2;
}
