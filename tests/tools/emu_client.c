/*
 * emu_client.c — see emu_client.h.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "emu_client.h"

const char *emu_bin;

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One line of the emulator's stdout, within `timeout_ms`; NULL on EOF or
 * timeout. */
const char *emu_line(struct emu *e, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		char *nl = memchr(e->buf, '\n', e->len);
		struct pollfd pfd = { .fd = e->out, .events = POLLIN };
		uint64_t now = now_ms();
		ssize_t n;

		if (nl != NULL) {
			size_t k = (size_t)(nl - e->buf);

			memcpy(e->line, e->buf, k);
			e->line[k] = '\0';
			memmove(e->buf, nl + 1, e->len - k - 1);
			e->len -= k + 1;
			return e->line;
		}
		if (now >= end || e->len == sizeof e->buf)
			return NULL;
		if (poll(&pfd, 1, (int)(end - now)) <= 0)
			continue;
		n = read(e->out, e->buf + e->len, sizeof e->buf - e->len);
		if (n <= 0)
			return NULL;
		e->len += (size_t)n;
	}
}

void emu_start(struct emu *e, const char *link)
{
	int in[2], out[2];
	const char *line;
	bool log = getenv("PN532EMU_LOG") != NULL;

	CHECK(pipe(in) == 0);
	CHECK(pipe(out) == 0);
	e->pid = fork();
	CHECK(e->pid >= 0);
	if (e->pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execl(emu_bin, "pn532emu", "--link", link, log ? "--log" : NULL,
		      (char *)NULL);
		fprintf(stderr, "cannot run %s: %s\n", emu_bin, strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	e->in = in[1];
	e->out = out[0];
	e->len = 0;
	line = emu_line(e, 5000);
	CHECK(line != NULL);
	CHECK(strncmp(line, "/dev/pts/", 9) == 0);
}

/* Send one command line; return its answer. */
const char *emu_cmd(struct emu *e, const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int n;
	const char *line;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof cmd - 1, fmt, ap);
	va_end(ap);
	CHECK(n > 0 && (size_t)n < sizeof cmd - 1);
	cmd[n++] = '\n';
	CHECK(write(e->in, cmd, (size_t)n) == n);
	line = emu_line(e, 5000);
	CHECK(line != NULL);
	return line;
}


/* Wait up to `timeout_ms` for the child to exit; its exit status, or -1
 * if it is still running (then it is killed). */
int emu_wait(struct emu *e, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	int status;

	while (now_ms() < end) {
		pid_t r = waitpid(e->pid, &status, WNOHANG);

		if (r == e->pid) {
			close(e->in);
			close(e->out);
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		sleep_ms(10);
	}
	kill(e->pid, SIGKILL);
	waitpid(e->pid, &status, 0);
	return -1;
}
