/*
 * pn532emu — an emulated PN532 on a pseudo-terminal, for testing the real
 * libnfc (pn532_uart driver) without hardware.  A symlink (--link) points
 * at the pty slave, so a fixed connstring `pn532_uart:LINK` survives the
 * `unplug`/`plug` commands.  Tests script it with one command per line on
 * stdin; each command answers `ok` or `error: …` on stdout.  The command
 * language is in usage() and docs/pn532emu.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "pn532_chip.h"

#define EMU_MAX_CARDS 64
#define EMU_LINE_MAX 4096

struct emu {
	const char *link;
	char slave_name[128];
	int master, slave; /* -1 while unplugged */
	struct pn532 chip;
	struct pn532_card cards[EMU_MAX_CARDS]; /* every card ever placed */
	size_t ncards;
	char line[EMU_LINE_MAX];
	size_t line_len;
	bool line_too_long;
	bool quit;
};

static struct emu emu = { .master = -1, .slave = -1 };
static int sig_pipe[2] = { -1, -1 };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pn532emu --link PATH [--log]\n"
		"\n"
		"Emulates a PN532 (firmware 1.6) on a pseudo-terminal and makes PATH a\n"
		"symlink to its slave, for libnfc's connstring pn532_uart:PATH.  Prints\n"
		"the slave path once ready, then reads commands on stdin, one per line;\n"
		"each answers 'ok' or 'error: ...':\n"
		"\n"
		"  place UID_HEX [FILE]  a MIFARE Classic 1K (4- or 7-byte UID) enters the\n"
		"                        field; FILE: a 1024-byte image to load into it\n"
		"  remove                the card leaves the field\n"
		"  unplug                close the pty and remove the link (I/O errors)\n"
		"  plug                  a new pty, the link points to it\n"
		"  dump FILE [UID_HEX]   write the image (1024 bytes) of the card in the\n"
		"                        field, or of the card with that UID\n"
		"  ping                  answers ok\n"
		"  quit                  exit (so do EOF on stdin and SIGTERM)\n"
		"\n"
		"A card keeps its image, with what was written to it, until exit.\n"
		"--log traces every frame on stderr.\n");
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void answer(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* Write what the chip has for the host.  A pty whose buffer is full drops
 * bytes, as a UART with nobody reading would. */
static void flush_chip(void)
{
	size_t off = 0;

	while (emu.master >= 0 && off < emu.chip.out_len) {
		ssize_t w = write(emu.master, emu.chip.out + off,
				  emu.chip.out_len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (emu.chip.log)
				fprintf(stderr, "pn532emu: %zu bytes not sent: %s\n",
					emu.chip.out_len - off,
					w < 0 ? strerror(errno) : "short write");
			break;
		}
		off += (size_t)w;
	}
	emu.chip.out_len = 0;
}

/* ---- the pty ---------------------------------------------------------- */

static void pty_close(void)
{
	if (emu.master >= 0)
		close(emu.master);
	if (emu.slave >= 0)
		close(emu.slave);
	emu.master = emu.slave = -1;
	emu.slave_name[0] = '\0';
}

/* Open a new pty in raw mode and point the link at its slave.  Returns 0,
 * or -1 with a message in `err`. */
static int pty_open(char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	struct termios tio;
	struct stat st;
	const char *name;

	if (lstat(emu.link, &st) == 0 && !S_ISLNK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a symlink", emu.link);
		return -1;
	}
	emu.master = posix_openpt(O_RDWR | O_NOCTTY);
	if (emu.master < 0 || grantpt(emu.master) < 0 ||
	    unlockpt(emu.master) < 0 || (name = ptsname(emu.master)) == NULL) {
		snprintf(err, errlen, "cannot open a pty: %s", strerror(errno));
		goto fail;
	}
	snprintf(emu.slave_name, sizeof emu.slave_name, "%s", name);
	/* Our own slave fd keeps the master readable (no EIO) while no
	 * client has the port open; raw mode, so nothing is echoed. */
	emu.slave = open(emu.slave_name, O_RDWR | O_NOCTTY);
	if (emu.slave < 0 || tcgetattr(emu.slave, &tio) < 0) {
		snprintf(err, errlen, "cannot open %s: %s", emu.slave_name,
			 strerror(errno));
		goto fail;
	}
	cfmakeraw(&tio);
	tio.c_cc[VMIN] = 0;
	tio.c_cc[VTIME] = 0;
	if (tcsetattr(emu.slave, TCSANOW, &tio) < 0 ||
	    fcntl(emu.master, F_SETFL, O_NONBLOCK) < 0) {
		snprintf(err, errlen, "cannot set up %s: %s", emu.slave_name,
			 strerror(errno));
		goto fail;
	}
	/* Replace the link atomically. */
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.%ld.tmp", emu.link,
			     (long)getpid()) >= sizeof tmp) {
		snprintf(err, errlen, "link path too long");
		goto fail;
	}
	unlink(tmp);
	if (symlink(emu.slave_name, tmp) < 0 || rename(tmp, emu.link) < 0) {
		snprintf(err, errlen, "cannot link %s to %s: %s", emu.link,
			 emu.slave_name, strerror(errno));
		unlink(tmp);
		goto fail;
	}
	pn532_reset(&emu.chip);
	return 0;
fail:
	pty_close();
	return -1;
}

/* Remove the link if it still points at our slave. */
static void link_remove(void)
{
	char target[PATH_MAX];
	ssize_t n = readlink(emu.link, target, sizeof target - 1);

	if (n < 0)
		return;
	target[n] = '\0';
	if (strcmp(target, emu.slave_name) == 0)
		unlink(emu.link);
}

static void pty_read(void)
{
	uint8_t buf[512];
	ssize_t n = read(emu.master, buf, sizeof buf);

	if (n > 0) {
		pn532_feed(&emu.chip, buf, (size_t)n, now_ms());
		flush_chip();
	}
}

/* ---- cards ------------------------------------------------------------ */

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A UID of 4 or 7 bytes in hex. */
static int parse_uid(const char *s, uint8_t uid[PN532_UID_MAX], size_t *len)
{
	size_t n = strlen(s);

	if (n != 8 && n != 14)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		int hi = hex_nibble(s[i]), lo = hex_nibble(s[i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		uid[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return 0;
}

static struct pn532_card *card_find(const uint8_t *uid, size_t len)
{
	for (size_t i = 0; i < emu.ncards; i++)
		if (emu.cards[i].uid_len == len &&
		    memcmp(emu.cards[i].uid, uid, len) == 0)
			return &emu.cards[i];
	return NULL;
}

/* Read exactly one card image from `path` into `mem`. */
static int image_load(const char *path, uint8_t mem[PN532_CARD_BYTES],
		      char *err, size_t errlen)
{
	uint8_t buf[PN532_CARD_BYTES + 1];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	if (n != PN532_CARD_BYTES) {
		snprintf(err, errlen, "%s: %zu bytes, a card image has %d", path,
			 n, PN532_CARD_BYTES);
		return -1;
	}
	memcpy(mem, buf, PN532_CARD_BYTES);
	return 0;
}

static void cmd_place(char **argv, int argc)
{
	uint8_t uid[PN532_UID_MAX], mem[PN532_CARD_BYTES];
	struct pn532_card *c;
	size_t len;
	char err[PATH_MAX + 64];

	if (argc < 2 || argc > 3) {
		answer("error: usage: place UID_HEX [FILE]");
		return;
	}
	if (parse_uid(argv[1], uid, &len) < 0) {
		answer("error: bad UID '%s' (8 or 14 hex digits)", argv[1]);
		return;
	}
	if (argc == 3 && image_load(argv[2], mem, err, sizeof err) < 0) {
		answer("error: %s", err);
		return;
	}
	c = card_find(uid, len);
	if (c == NULL) {
		if (emu.ncards == EMU_MAX_CARDS) {
			answer("error: too many cards (%d)", EMU_MAX_CARDS);
			return;
		}
		c = &emu.cards[emu.ncards++];
		memcpy(c->uid, uid, len);
		c->uid_len = len;
		pn532_card_blank(c);
	}
	if (argc == 3)
		memcpy(c->mem, mem, sizeof mem);
	pn532_set_card(&emu.chip, c);
	flush_chip();
	answer("ok");
}

static void cmd_dump(char **argv, int argc)
{
	const struct pn532_card *c = emu.chip.card;
	uint8_t uid[PN532_UID_MAX];
	size_t len;
	FILE *f;

	if (argc < 2 || argc > 3) {
		answer("error: usage: dump FILE [UID_HEX]");
		return;
	}
	if (argc == 3) {
		if (parse_uid(argv[2], uid, &len) < 0) {
			answer("error: bad UID '%s' (8 or 14 hex digits)", argv[2]);
			return;
		}
		c = card_find(uid, len);
		if (c == NULL) {
			answer("error: no card with UID %s was placed", argv[2]);
			return;
		}
	} else if (c == NULL) {
		answer("error: no card in the field (give a UID)");
		return;
	}
	f = fopen(argv[1], "wb");
	if (f == NULL) {
		answer("error: cannot create %s: %s", argv[1], strerror(errno));
		return;
	}
	if (fwrite(c->mem, 1, sizeof c->mem, f) != sizeof c->mem) {
		answer("error: cannot write %s: %s", argv[1], strerror(errno));
		fclose(f);
		return;
	}
	if (fclose(f) != 0) {
		answer("error: cannot write %s: %s", argv[1], strerror(errno));
		return;
	}
	answer("ok");
}

/* ---- the command language -------------------------------------------- */

static void run_line(char *line)
{
	char *argv[8];
	int argc = 0;
	char err[PATH_MAX + 128];

	for (char *tok = strtok(line, " \t\r"); tok != NULL;
	     tok = strtok(NULL, " \t\r")) {
		if (argc == (int)(sizeof argv / sizeof argv[0])) {
			answer("error: too many arguments");
			return;
		}
		argv[argc++] = tok;
	}
	if (argc == 0)
		return; /* blank line: no answer */
	if (strcmp(argv[0], "place") == 0) {
		cmd_place(argv, argc);
	} else if (argc > 1 && (strcmp(argv[0], "remove") == 0 ||
				strcmp(argv[0], "unplug") == 0 ||
				strcmp(argv[0], "plug") == 0 ||
				strcmp(argv[0], "ping") == 0 ||
				strcmp(argv[0], "quit") == 0)) {
		answer("error: %s takes no argument", argv[0]);
	} else if (strcmp(argv[0], "remove") == 0) {
		if (emu.chip.card == NULL) {
			answer("error: no card in the field");
			return;
		}
		pn532_set_card(&emu.chip, NULL);
		answer("ok");
	} else if (strcmp(argv[0], "unplug") == 0) {
		if (emu.master < 0) {
			answer("error: already unplugged");
			return;
		}
		link_remove();
		pty_close();
		answer("ok");
	} else if (strcmp(argv[0], "plug") == 0) {
		if (emu.master >= 0) {
			answer("error: already plugged");
			return;
		}
		if (pty_open(err, sizeof err) < 0) {
			answer("error: %s", err);
			return;
		}
		answer("ok");
	} else if (strcmp(argv[0], "dump") == 0) {
		cmd_dump(argv, argc);
	} else if (strcmp(argv[0], "ping") == 0) {
		answer("ok");
	} else if (strcmp(argv[0], "quit") == 0) {
		answer("ok");
		emu.quit = true;
	} else {
		answer("error: unknown command '%s' (place, remove, unplug, plug, "
		       "dump, ping, quit)", argv[0]);
	}
}

/* Returns false on EOF. */
static bool stdin_read(void)
{
	char buf[1024];
	ssize_t n = read(STDIN_FILENO, buf, sizeof buf);

	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	for (ssize_t i = 0; i < n && !emu.quit; i++) {
		if (buf[i] != '\n') {
			if (emu.line_len + 1 < sizeof emu.line)
				emu.line[emu.line_len++] = buf[i];
			else
				emu.line_too_long = true;
			continue;
		}
		emu.line[emu.line_len] = '\0';
		if (emu.line_too_long)
			answer("error: line longer than %d bytes", EMU_LINE_MAX - 1);
		else
			run_line(emu.line);
		emu.line_len = 0;
		emu.line_too_long = false;
	}
	return true;
}

/* ---- main ------------------------------------------------------------- */

static void on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (write(sig_pipe[1], &c, 1) < 0) {
		/* nothing to do: a signal is already pending in the pipe */
	}
	errno = saved;
}

static int setup_signals(void)
{
	struct sigaction sa;

	if (pipe(sig_pipe) < 0)
		return -1;
	fcntl(sig_pipe[0], F_SETFL, O_NONBLOCK);
	fcntl(sig_pipe[1], F_SETFL, O_NONBLOCK);
	fcntl(sig_pipe[0], F_SETFD, FD_CLOEXEC);
	fcntl(sig_pipe[1], F_SETFD, FD_CLOEXEC);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return 0;
}

static void run(void)
{
	while (!emu.quit) {
		struct pollfd fds[3];
		nfds_t nfds = 0;
		uint64_t now = now_ms(), due;
		int timeout = -1, r;

		pn532_tick(&emu.chip, now);
		flush_chip();
		due = pn532_deadline(&emu.chip);
		if (due != 0)
			timeout = due <= now ? 0 : (int)(due - now > 60000 ? 60000 : due - now);
		fds[nfds++] = (struct pollfd){ .fd = sig_pipe[0], .events = POLLIN };
		fds[nfds++] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		if (emu.master >= 0)
			fds[nfds++] = (struct pollfd){ .fd = emu.master, .events = POLLIN };
		r = poll(fds, nfds, timeout);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "pn532emu: poll: %s\n", strerror(errno));
			return;
		}
		if (fds[0].revents)
			return;
		if (fds[1].revents && !stdin_read())
			return;
		if (nfds > 2 && emu.master >= 0 && fds[2].revents)
			pty_read();
	}
}

int main(int argc, char **argv)
{
	char err[PATH_MAX + 128];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--log") == 0) {
			emu.chip.log = true;
		} else if (strcmp(argv[i], "--link") == 0 && i + 1 < argc) {
			emu.link = argv[++i];
		} else {
			fprintf(stderr, "pn532emu: unknown argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (emu.link == NULL || emu.link[0] == '\0') {
		fprintf(stderr, "pn532emu: --link PATH is required\n");
		usage(stderr);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (setup_signals() < 0) {
		fprintf(stderr, "pn532emu: pipe: %s\n", strerror(errno));
		return 1;
	}
	if (pty_open(err, sizeof err) < 0) {
		fprintf(stderr, "pn532emu: %s\n", err);
		return 1;
	}
	answer("%s", emu.slave_name);
	run();
	link_remove();
	pty_close();
	return 0;
}
