/*
 * cmd_tap.c — `cardctl tap --uid HEX`: a tap on the running daemon's
 * simulated reader (reader/sim.h), and `cardctl taps`: the local tap log
 * (reader/taplog.h) as CSV or JSON.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "daemon_status.h"
#include "json.h"
#include "policy.h"
#include "taplog.h"

#define TAP_TIMEOUT_MS 10000

static const struct cli_cmd tap_cmd = {
	"tap", "tap --uid HEX [--socket PATH]",
	"A card tap on the running daemon's simulated reader ([reader] device =\n"
	"sim:PATH in cardnode.conf), for demos and tests: the daemon answers it\n"
	"as its station would (gate, validate, register or issue mode), records\n"
	"it in its tap log, and this command prints the decision.  The socket\n"
	"is found in the daemon's status file unless --socket is given.\n"
	"\n"
	"Prints 'DECISION  card CARD  student EDU_ID: DETAIL'; --json keys:\n"
	"decision, card, student, detail (null when empty).\n"
	"Exit status as 'check': 0 accept, 3 unknown, 4 any rejection; 1 when\n"
	"there is no simulated reader to talk to.\n"
};

/* Send the tap and read the answer line into out. */
static int tap_exchange(const char *path, const char *hex, char *out,
			size_t cap)
{
	struct sockaddr_un a;
	size_t n = 0;
	char req[64];
	int fd, len;

	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof a.sun_path) {
		cli_err("socket path too long: %s", path);
		return CLI_FAIL;
	}
	strcpy(a.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		cli_err("cannot reach the simulated reader at %s: %s (is cardnode "
			"running with [reader] device = sim:%s?)", path,
			strerror(errno), path);
		if (fd >= 0)
			close(fd);
		return CLI_FAIL;
	}
	len = snprintf(req, sizeof req, "tap %s\n", hex);
	if (write(fd, req, (size_t)len) != len) {
		cli_err("cannot send the tap: %s", strerror(errno));
		close(fd);
		return CLI_FAIL;
	}
	while (n + 1 < cap) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t r;
		if (poll(&p, 1, TAP_TIMEOUT_MS) <= 0) {
			cli_err("the daemon did not answer the tap within %d s",
				TAP_TIMEOUT_MS / 1000);
			close(fd);
			return CLI_FAIL;
		}
		if ((r = read(fd, out + n, cap - 1 - n)) <= 0)
			break;
		n += (size_t)r;
		if (memchr(out, '\n', n) != NULL)
			break;
	}
	close(fd);
	out[n] = '\0';
	if (strchr(out, '\n') == NULL) {
		cli_err("the daemon closed the tap without an answer");
		return CLI_FAIL;
	}
	out[strcspn(out, "\n")] = '\0';
	return CLI_OK;
}

int cmd_tap_main(int argc, char **argv)
{
	const char *uid_s = NULL, *sock = NULL;
	const struct cli_opt opts[] = {
		{ "uid", &uid_s, NULL },
		{ "socket", &sock, NULL },
		CLI_OPT_END,
	};
	struct daemon_status ds;
	uint8_t uid[CN_UID_MAX];
	uint8_t uid_len;
	char hex[2 * CN_UID_MAX + 1], line[600], *f[4] = {0}, *p;
	enum decision d = DEC__COUNT;
	int ret;

	if ((ret = cli_parse(&tap_cmd, argc, argv, opts, 0)) >= 0)
		return ret;
	if (uid_s == NULL)
		return cli_usage_error(&tap_cmd, "--uid HEX is required");
	if ((ret = cli_parse_uid(&tap_cmd, "--uid", uid_s, uid, &uid_len)))
		return ret;
	for (int i = 0; i < uid_len; i++)
		snprintf(hex + 2 * i, 3, "%02X", uid[i]);
	ds_read(cli.data_dir, &ds);
	if (sock == NULL) {
		if (!ds.running || strncmp(ds.reader_device, "sim:", 4) != 0) {
			cli_err("no running cardnode with a simulated reader on %s "
				"(give --socket PATH, or set [reader] device = "
				"sim:PATH)", cli.data_dir);
			ds_free(&ds);
			return CLI_FAIL;
		}
		sock = ds.reader_device + 4;
	}
	ret = tap_exchange(sock, hex, line, sizeof line);
	ds_free(&ds);
	if (ret)
		return ret;
	p = line;
	for (int i = 0; i < 4; i++) {
		f[i] = p;
		if (i < 3 && (p = strchr(p, '\t')) != NULL)
			*p++ = '\0';
		else if (i < 3)
			p = f[i] + strlen(f[i]);
	}
	for (int i = 0; i < DEC__COUNT; i++)
		if (strcmp(f[0], policy_decision_name((enum decision)i)) == 0)
			d = (enum decision)i;
	if (cli.json) {
		json_object_begin();
		json_kv_str("decision", f[0]);
		json_kv_str_or_null("card", f[1][0] ? f[1] : NULL);
		json_kv_str_or_null("student", f[2][0] ? f[2] : NULL);
		json_kv_str_or_null("detail", f[3][0] ? f[3] : NULL);
		json_object_end();
		if (json_end())
			return CLI_FAIL;
	} else {
		printf("%s", f[0]);
		if (f[1][0])
			printf("  card %s", f[1]);
		if (f[2][0])
			printf("  student %s", f[2]);
		if (f[3][0])
			printf(": %s", f[3]);
		printf("\n");
	}
	if (d == DEC__COUNT) {
		cli_err("the daemon refused the tap: %s", f[3]);
		return CLI_FAIL;
	}
	return d == DEC_ACCEPT ? CLI_OK : d == DEC_UNKNOWN ? CLI_NOTFOUND : CLI_REFUSED;
}

/* ---- taps ------------------------------------------------------------------ */

static const struct cli_cmd taps_cmd = {
	"taps", "taps [--from YYYY-MM-DD] [--to YYYY-MM-DD]",
	"The local tap log: every tap this node's reader answered (not\n"
	"replicated; kept [reader] tap_log_days days), oldest first, as CSV\n"
	"with the header " TAPLOG_HEADER ".\n"
	"Time is local; no names are recorded.  --json: an array of objects\n"
	"with those keys.\n"
};

struct taps_out {
	uint64_t n;
};

/* Split one RFC 4180 line into 7 fields (in place). */
static int csv_split(char *s, char *f[7])
{
	int n = 0;

	while (n < 7) {
		char *w = s;
		f[n++] = s;
		if (*s == '"') {
			s++;
			for (;;) {
				if (*s == '\0')
					return -1;
				if (s[0] == '"' && s[1] == '"') {
					*w++ = '"';
					s += 2;
				} else if (*s == '"') {
					s++;
					break;
				} else {
					*w++ = *s++;
				}
			}
		} else {
			while (*s && *s != ',')
				*w++ = *s++;
		}
		if (*s == ',') {
			*w = '\0';
			s++;
		} else {
			*w = '\0';
			break;
		}
	}
	return n == 7 ? 0 : -1;
}

static int taps_line(void *ctx, const char *line)
{
	static const char *const keys[7] = {"time", "reader", "uid", "card",
					    "student", "decision", "detail"};
	struct taps_out *o = ctx;
	char buf[4096], *f[7];

	o->n++;
	if (!cli.json) {
		printf("%s\n", line);
		return 0;
	}
	snprintf(buf, sizeof buf, "%s", line);
	if (csv_split(buf, f) != 0)
		return 0; /* a line cut by a power loss */
	json_object_begin();
	for (int i = 0; i < 7; i++)
		json_kv_str(keys[i], f[i]);
	json_object_end();
	return 0;
}

int cmd_taps_main(int argc, char **argv)
{
	const char *from_s = NULL, *to_s = NULL;
	const struct cli_opt opts[] = {
		{ "from", &from_s, NULL },
		{ "to", &to_s, NULL },
		CLI_OPT_END,
	};
	struct taps_out o = {0};
	uint32_t from = 0, to = 0;
	int ret, rc;

	if ((ret = cli_parse(&taps_cmd, argc, argv, opts, 0)) >= 0)
		return ret;
	if (from_s && (ret = cli_parse_date(&taps_cmd, "--from", from_s, &from)))
		return ret;
	if (to_s && (ret = cli_parse_date(&taps_cmd, "--to", to_s, &to)))
		return ret;
	{
		char dir[4200];
		struct stat st;
		snprintf(dir, sizeof dir, "%s/%s", cli.data_dir, TAPLOG_DIR);
		if (stat(dir, &st) != 0) {
			cli_err("%s has no tap log (no reader has run on this node)",
				cli.data_dir);
			return CLI_NOTFOUND;
		}
	}
	if (cli.json)
		json_array_begin();
	else
		printf("%s\n", TAPLOG_HEADER);
	rc = taplog_read(cli.data_dir, from, to, taps_line, &o);
	if (cli.json) {
		json_array_end();
		if (json_end())
			return CLI_FAIL;
	}
	if (rc == CN_ERR_NOTFOUND) {
		cli_err("%s has no tap log (no reader has run on this node)",
			cli.data_dir);
		return CLI_NOTFOUND;
	}
	if (rc != CN_OK) {
		cli_err("reading the tap log: %s", cn_strerror(rc));
		return CLI_FAIL;
	}
	return CLI_OK;
}
