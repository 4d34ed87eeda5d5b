/*
 * config.c — see config.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>
#include <uv.h>

#include "config.h"
#include "net.h"

struct parse {
	struct config *c;
	char err[300];
};

/* Single keys; bit i of config.seen is keys[i]. */
static const struct key {
	const char *section, *name;
} keys[] = {
	{"node", "data_dir"},           /* 0 */
	{"node", "listen"},             /* 1 */
	{"node", "log_level"},          /* 2 */
	{"node", "watermark_interval"}, /* 3 */
	{"node", "watermark_max_age"},  /* 4 */
	{"node", "keepalive"},          /* 5 */
	{"node", "dead_after"},         /* 6 */
	{"node", "max_connections"},    /* 7 */
	{"reader", "device"},           /* 8 */
	{"reader", "mode"},             /* 9 */
	{"reader", "name"},             /* 10 */
	{"reader", "tap_log_days"},     /* 11 */
	{"reader", "flag_stale"},       /* 12 */
	{"node", "metrics_file"},       /* 13 */
	{"node", "metrics_interval"},   /* 14 */
};

__attribute__((format(printf, 2, 3)))
static int bad(struct parse *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, sizeof p->err, fmt, ap);
	va_end(ap);
	return 0;
}

static bool parse_uint(const char *v, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long x;

	if (*v < '0' || *v > '9')
		return false;
	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno != 0 || *end != '\0' || x < lo || x > hi)
		return false;
	*out = (unsigned)x;
	return true;
}

static bool copy(char *dst, size_t cap, const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n >= cap)
		return false;
	memcpy(dst, v, n + 1);
	return true;
}

static int on_key(void *user, const char *section, const char *name,
		  const char *value)
{
	struct parse *p = user;
	struct config *c = p->c;
	struct sockaddr_in a4;
	struct sockaddr_in6 a6;
	char host[256], port[8];
	size_t k;

	if (strcmp(section, "peers") == 0 && strcmp(name, "peer") == 0) {
		if (c->npeers == CONFIG_PEERS_MAX)
			return bad(p, "more than %d peers", CONFIG_PEERS_MAX);
		if (!net_parse_hostport(value, host, sizeof host, port, sizeof port) ||
		    strcmp(port, "0") == 0)
			return bad(p, "peer '%s' is not HOST:PORT (port 1–65535; "
				   "[v6]:PORT for IPv6)", value);
		for (size_t i = 0; i < c->npeers; i++)
			if (strcmp(c->peers[i], value) == 0)
				return bad(p, "peer '%s' is listed twice", value);
		if ((c->peers[c->npeers] = strdup(value)) == NULL)
			return bad(p, "out of memory");
		c->npeers++;
		return 1;
	}
	for (k = 0; k < sizeof keys / sizeof keys[0]; k++)
		if (strcmp(keys[k].section, section) == 0 &&
		    strcmp(keys[k].name, name) == 0)
			break;
	if (k == sizeof keys / sizeof keys[0]) {
		if (strcmp(section, "node") != 0 && strcmp(section, "peers") != 0 &&
		    strcmp(section, "reader") != 0)
			return bad(p, "unknown section [%s]", section);
		return bad(p, "unknown key '%s' in [%s]", name, section);
	}
	if (c->seen & (1u << k))
		return bad(p, "'%s' is set twice in [%s]", name, section);
	c->seen |= 1u << k;
	switch (k) {
	case 0:
		if (!copy(c->data_dir, sizeof c->data_dir, value) || value[0] != '/')
			return bad(p, "data_dir '%s' must be an absolute path", value);
		return 1;
	case 1:
		if (strcmp(value, "none") == 0) {
			c->listen[0] = '\0';
			return 1;
		}
		if (!copy(c->listen, sizeof c->listen, value) ||
		    !net_parse_hostport(value, host, sizeof host, port, sizeof port) ||
		    (uv_ip4_addr(host, atoi(port), &a4) != 0 &&
		     uv_ip6_addr(host, atoi(port), &a6) != 0))
			return bad(p, "listen '%s' is not IP:PORT, [IPv6]:PORT or none",
				   value);
		return 1;
	case 2:
		if (!log_level_parse(value, &c->log_level))
			return bad(p, "log_level '%s' is not one of error, warn, "
				   "info, debug", value);
		return 1;
	case 3:
		if (!parse_uint(value, 0, 86400, &c->watermark_interval_s))
			return bad(p, "watermark_interval '%s' is not 0–86400 "
				   "seconds", value);
		return 1;
	case 4:
		if (!parse_uint(value, 1, 30 * 86400, &c->watermark_max_age_s))
			return bad(p, "watermark_max_age '%s' is not 1–2592000 "
				   "seconds", value);
		return 1;
	case 5:
		if (!parse_uint(value, 1, 3600, &c->keepalive_s))
			return bad(p, "keepalive '%s' is not 1–3600 seconds", value);
		return 1;
	case 6:
		if (!parse_uint(value, 2, 3600, &c->dead_after_s))
			return bad(p, "dead_after '%s' is not 2–3600 seconds", value);
		return 1;
	case 7:
		if (!parse_uint(value, 1, 65536, &c->max_connections))
			return bad(p, "max_connections '%s' is not 1–65536", value);
		return 1;
	case 8:
		if (strcmp(value, "none") != 0 && strncmp(value, "nfc:", 4) != 0 &&
		    strncmp(value, "sim:", 4) != 0)
			return bad(p, "reader device '%s' is not none, nfc:CONNSTRING "
				   "or sim:SOCKET", value);
		if ((strncmp(value, "nfc:", 4) == 0 && value[4] == '\0') ||
		    (strncmp(value, "sim:", 4) == 0 && value[4] != '/'))
			return bad(p, "reader device '%s': nfc: needs a libnfc "
				   "connstring, sim: an absolute socket path", value);
		if (!copy(c->reader_device, sizeof c->reader_device, value))
			return bad(p, "reader device '%s' is too long", value);
		return 1;
	case 9:
		if (station_mode_parse(value, &c->reader_mode) != 0)
			return bad(p, "reader mode '%s' is not one of gate, validate, "
				   "register, issue", value);
		return 1;
	case 10:
		if (!copy(c->reader_name, sizeof c->reader_name, value) ||
		    strpbrk(value, ",\"\t") != NULL)
			return bad(p, "reader name '%s': 1–%d bytes, no comma, quote "
				   "or tab", value, CN_ACTOR_MAX);
		return 1;
	case 11:
		if (!parse_uint(value, 1, 3650, &c->tap_log_days))
			return bad(p, "tap_log_days '%s' is not 1–3650", value);
		return 1;
	case 12:
		if (strcmp(value, "yes") == 0 || strcmp(value, "no") == 0) {
			c->flag_stale = value[0] == 'y';
			return 1;
		}
		return bad(p, "flag_stale '%s' is not yes or no", value);
	case 13:
		if (strcmp(value, "none") == 0) {
			c->metrics_file[0] = '\0';
			return 1;
		}
		if (!copy(c->metrics_file, sizeof c->metrics_file, value) ||
		    value[0] != '/' || value[strlen(value) - 1] == '/')
			return bad(p, "metrics_file '%s' must be an absolute file "
				   "path (or none)", value);
		return 1;
	case 14:
		if (!parse_uint(value, 1, 3600, &c->metrics_interval_s))
			return bad(p, "metrics_interval '%s' is not 1–3600 seconds",
				   value);
		return 1;
	}
	return 0;
}

bool config_load(const char *path, struct config *c, char *err, size_t errlen)
{
	struct parse p = {.c = c};
	FILE *f;
	int line;

	memset(c, 0, sizeof *c);
	snprintf(c->path, sizeof c->path, "%s", path);
	c->log_level = LOG_INFO;
	c->watermark_interval_s = 300;
	c->watermark_max_age_s = 900;
	c->keepalive_s = 20;
	c->dead_after_s = 60;
	c->max_connections = 1024;
	snprintf(c->listen, sizeof c->listen, "0.0.0.0:%d", NET_DEFAULT_PORT);
	strcpy(c->reader_device, "none");
	strcpy(c->reader_name, "reader");
	c->tap_log_days = 90;
	c->flag_stale = true;
	c->metrics_interval_s = 15;
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return false;
	}
	line = ini_parse_file(f, on_key, &p);
	fclose(f);
	if (line != 0) {
		snprintf(err, errlen, "%s:%d: %s", path, line,
			 p.err[0] ? p.err : "not a valid line (expected "
					    "[section], key = value or a comment)");
		return false;
	}
	if (c->data_dir[0] == '\0') {
		snprintf(err, errlen, "%s: [node] data_dir is required", path);
		return false;
	}
	if (c->keepalive_s >= c->dead_after_s) {
		snprintf(err, errlen, "%s: [node] keepalive (%u s) must be shorter "
			 "than dead_after (%u s)", path, c->keepalive_s,
			 c->dead_after_s);
		return false;
	}
	return true;
}

void config_free(struct config *c)
{
	for (size_t i = 0; i < c->npeers; i++)
		free(c->peers[i]);
	c->npeers = 0;
}
