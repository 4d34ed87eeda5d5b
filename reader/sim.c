/*
 * sim.c — see sim.h.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "entry.h"
#include "log.h"
#include "sim.h"
#include "util.h"

struct sim_conn {
	struct sim_reader *s;
	uv_pipe_t pipe;
	uint64_t id;            /* 0 until the tap line is in */
	char line[SIM_LINE_MAX + 1];
	size_t len;
	bool closing;
	struct sim_conn *next;
};

struct sim_reader {
	uv_loop_t *loop;
	uv_pipe_t server;
	char path[108];
	sim_tap_cb cb;
	void *ctx;
	uint64_t next_id;
	struct sim_conn *conns;
	bool stopping;
	int open;               /* handles not closed yet (server + conns) */
};

static void maybe_free(struct sim_reader *s)
{
	if (s->stopping && s->open == 0)
		free(s);
}

static void on_server_closed(uv_handle_t *h);

static void on_conn_closed(uv_handle_t *h)
{
	struct sim_conn *c = h->data;
	struct sim_reader *s = c->s;

	for (struct sim_conn **p = &s->conns; *p != NULL; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	free(c);
	s->open--;
	maybe_free(s);
}

static void conn_close(struct sim_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct sim_conn *c = h->data;

	(void)suggested;
	*buf = uv_buf_init(c->line + c->len, (unsigned)(SIM_LINE_MAX - c->len));
}

static bool parse_tap(const char *line, struct reader_tap *t)
{
	const char *hex;
	size_t n;

	if (strncmp(line, "tap ", 4) != 0)
		return false;
	hex = line + 4;
	n = strlen(hex);
	if (n % 2 != 0 || !entry_uid_len_valid(n / 2) ||
	    util_hex_decode(hex, t->uid, n / 2) != CN_OK)
		return false;
	t->uid_len = (uint8_t)(n / 2);
	return true;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct sim_conn *c = st->data;
	struct reader_tap t;
	char *nl;

	(void)buf;
	if (nread < 0 || c->closing) {
		conn_close(c);
		return;
	}
	c->len += (size_t)nread;
	c->line[c->len] = '\0';
	if ((nl = strchr(c->line, '\n')) == NULL) {
		if (c->len == SIM_LINE_MAX)
			conn_close(c); /* no line of ours is that long */
		return;
	}
	*nl = '\0';
	uv_read_stop(st);
	memset(&t, 0, sizeof t);
	if (!parse_tap(c->line, &t)) {
		c->id = ++c->s->next_id;
		sim_reader_reply(c->s, c->id, "error\t\t\tnot a tap line: "
				 "expected 'tap UID_HEX' (4, 7 or 10 bytes)");
		return;
	}
	t.id = c->id = ++c->s->next_id;
	t.time_ms = util_now_ms();
	t.chip = CARD_UNREADABLE;
	c->s->cb(c->s->ctx, &t);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct sim_reader *s = server->data;
	struct sim_conn *c;

	if (status < 0 || s->stopping || (c = calloc(1, sizeof *c)) == NULL)
		return;
	c->s = s;
	uv_pipe_init(s->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->next = s->conns;
	s->conns = c;
	s->open++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0 ||
	    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) != 0)
		conn_close(c);
}

int sim_reader_start(struct sim_reader **out, uv_loop_t *loop,
		     const char *path, sim_tap_cb cb, void *ctx, char *err,
		     size_t errlen)
{
	struct sim_reader *s;
	int rc;

	*out = NULL;
	if (strlen(path) >= sizeof s->path || path[0] != '/') {
		snprintf(err, errlen, "sim reader socket '%s': an absolute path of "
			 "at most %zu bytes", path, sizeof s->path - 1);
		return CN_ERR_IO;
	}
	if ((s = calloc(1, sizeof *s)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return CN_ERR_NOMEM;
	}
	s->loop = loop;
	s->cb = cb;
	s->ctx = ctx;
	snprintf(s->path, sizeof s->path, "%s", path);
	uv_pipe_init(loop, &s->server, 0);
	s->server.data = s;
	s->open = 1;
	unlink(path);
	if ((rc = uv_pipe_bind(&s->server, path)) != 0 ||
	    (rc = uv_listen((uv_stream_t *)&s->server, 16, on_connection)) != 0) {
		snprintf(err, errlen, "sim reader socket %s: %s", path, uv_strerror(rc));
		s->stopping = true;
		uv_close((uv_handle_t *)&s->server, on_server_closed);
		return CN_ERR_IO;
	}
	chmod(path, 0600);
	log_info("simulated reader on %s", path);
	*out = s;
	return CN_OK;
}

struct reply {
	uv_write_t req;
	struct sim_conn *c;
	char text[];
};

static void on_written(uv_write_t *req, int status)
{
	struct reply *r = (struct reply *)req;

	(void)status;
	conn_close(r->c);
	free(r);
}

void sim_reader_reply(struct sim_reader *s, uint64_t id, const char *line)
{
	struct sim_conn *c;
	struct reply *r;
	size_t n;
	uv_buf_t b;

	if (s == NULL || id == 0)
		return;
	for (c = s->conns; c != NULL && c->id != id; c = c->next)
		;
	if (c == NULL || c->closing)
		return;
	n = strlen(line);
	if ((r = malloc(sizeof *r + n + 2)) == NULL) {
		conn_close(c);
		return;
	}
	r->c = c;
	memcpy(r->text, line, n);
	r->text[n] = '\n';
	b = uv_buf_init(r->text, (unsigned)n + 1);
	if (uv_write(&r->req, (uv_stream_t *)&c->pipe, &b, 1, on_written) != 0) {
		free(r);
		conn_close(c);
	}
}

static void on_server_closed(uv_handle_t *h)
{
	struct sim_reader *s = h->data;

	s->open--;
	maybe_free(s);
}

void sim_reader_stop(struct sim_reader *s)
{
	if (s == NULL || s->stopping)
		return;
	s->stopping = true;
	unlink(s->path);
	for (struct sim_conn *c = s->conns; c != NULL; c = c->next)
		conn_close(c);
	uv_close((uv_handle_t *)&s->server, on_server_closed);
}
