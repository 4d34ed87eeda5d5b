/*
 * emu_client.h — pn532emu (docs/pn532emu.md) as a child process of a C
 * test: start it on a link path, send commands, read their answers, wait
 * for it to exit.  Failures stop the test (check.h).
 */
#ifndef CN_EMU_CLIENT_H
#define CN_EMU_CLIENT_H

#include <stdint.h>
#include <sys/types.h>

struct emu {
	pid_t pid;
	int in, out; /* its stdin (we write), its stdout (we read) */
	char buf[4096];
	size_t len;
	char line[4096];
};

/* The emulator binary (the test's argv[1]). */
extern const char *emu_bin;

uint64_t now_ms(void);   /* CLOCK_MONOTONIC */
void sleep_ms(unsigned ms);
/* One line of the emulator's stdout within timeout_ms; NULL on EOF or
 * timeout. */
const char *emu_line(struct emu *e, int timeout_ms);
/* Start it with --link `link` (and --log when PN532EMU_LOG is set); waits
 * for the slave path line. */
void emu_start(struct emu *e, const char *link);
/* Send one command line; return its answer. */
const char *emu_cmd(struct emu *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define EMU_OK(e, ...) CHECK_STR(emu_cmd((e), __VA_ARGS__), "ok")
/* Wait up to timeout_ms for the child to exit: its exit status, or -1 if
 * it was still running (then it is killed). */
int emu_wait(struct emu *e, int timeout_ms);

#endif
