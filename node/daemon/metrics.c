/*
 * metrics.c — see metrics.h.  The exposition format is Prometheus text
 * format 0.0.4: a # HELP and a # TYPE line per metric, then its samples.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cn.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "util.h"

struct metrics {
	uv_loop_t *loop;
	uv_timer_t timer;
	struct replica *view;
	struct net *net;
	struct taps *taps;
	char path[1024];
	uint64_t interval_ms;
	bool failing;           /* the last write failed (logged once) */
	char *buf;
	size_t len, cap;
	bool oom;
};

__attribute__((format(printf, 2, 3)))
static void out(struct metrics *m, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (m->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(m->buf + m->len, m->cap - m->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			m->oom = true;
			return;
		}
		if ((size_t)n < m->cap - m->len)
			break;
		size_t ncap = (m->cap + (size_t)n + 1) * 2;
		char *p = realloc(m->buf, ncap);
		if (p == NULL) {
			m->oom = true;
			return;
		}
		m->buf = p;
		m->cap = ncap;
	}
	m->len += (size_t)n;
}

static void head(struct metrics *m, const char *name, const char *type,
		 const char *help)
{
	out(m, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(struct metrics *m, const char *name, const char *type,
		const char *help, uint64_t v)
{
	head(m, name, type, help);
	out(m, "%s %" PRIu64 "\n", name, v);
}

static void compose(struct metrics *m)
{
	struct net_counts nc = {0};
	struct replica_counts rc;
	uint64_t taps[DEC__COUNT] = {0}, wm = 0;
	bool counted;

	if (m->net != NULL)
		net_counts(m->net, &nc);
	if (m->taps != NULL)
		taps_counts(m->taps, taps);
	counted = replica_count(m->view, &rc) == CN_OK;

	head(m, "cardnode_build_info", "gauge",
	     "The running cardnode's version (always 1).");
	out(m, "cardnode_build_info{version=\"%s\"} 1\n", CARDNODE_VERSION);
	one(m, "cardnode_entries_applied_total", "counter",
	    "Entries received by sync since the start that took effect.",
	    nc.applied);
	one(m, "cardnode_entries_refused_total", "counter",
	    "Entries received by sync since the start that were stored without "
	    "effect (unauthorized, revoked ...).", nc.refused);
	one(m, "cardnode_peers_configured", "gauge",
	    "Peers in the [peers] section of the configuration.",
	    nc.peers_configured);
	one(m, "cardnode_peers_connected", "gauge",
	    "Peer nodes connected (handshake done, either direction).",
	    nc.peers_connected);
	head(m, "cardnode_watermark_age_seconds", "gauge",
	     "Age of the newest city watermark applied here; NaN when none is.");
	if (replica_watermark(m->view, &wm) == CN_OK && wm != 0) {
		uint64_t now = util_now_ms();
		uint64_t age = now > wm ? now - wm : 0;
		out(m, "cardnode_watermark_age_seconds %" PRIu64 ".%03u\n",
		    age / 1000, (unsigned)(age % 1000));
	} else {
		out(m, "cardnode_watermark_age_seconds NaN\n");
	}
	if (counted) {
		one(m, "cardnode_replica_entries", "gauge",
		    "Log entries held, of every origin.", rc.entries);
		one(m, "cardnode_replica_students", "gauge",
		    "Student records in the replica (education IDs named by "
		    "an entry).", rc.students);
		one(m, "cardnode_forks", "gauge",
		    "Conflicting entries held as evidence of forks (an operator "
		    "must act).", rc.forks);
		one(m, "cardnode_refused", "gauge",
		    "Entries held without effect (unauthorized, revoked ...).",
		    rc.refused);
	}
	head(m, "cardnode_taps_total", "counter",
	     "Card taps answered by the reader since the start, by decision.");
	for (unsigned d = 0; d < DEC__COUNT; d++)
		out(m, "cardnode_taps_total{decision=\"%s\"} %" PRIu64 "\n",
		    policy_decision_name((enum decision)d), taps[d]);
}

void metrics_write(struct metrics *m)
{
	int rc;

	m->len = 0;
	m->oom = false;
	compose(m);
	if (m->oom)
		rc = CN_ERR_NOMEM;
	else
		rc = util_write_file(m->path, m->buf, m->len, 0644, false);
	if (rc != CN_OK && !m->failing)
		log_error("metrics: cannot write %s: %s", m->path,
			  rc == CN_ERR_IO ? strerror(errno) : cn_strerror(rc));
	else if (rc == CN_OK && m->failing)
		log_info("metrics: %s written again", m->path);
	m->failing = rc != CN_OK;
}

static void on_timer(uv_timer_t *t)
{
	metrics_write(t->data);
}

int metrics_start(struct metrics **out_, uv_loop_t *loop, struct replica *base,
		  const char *path, unsigned interval_s, char *err,
		  size_t errlen)
{
	struct metrics *m = calloc(1, sizeof *m);
	int rc;

	*out_ = NULL;
	if (m == NULL) {
		snprintf(err, errlen, "out of memory");
		return CN_ERR_NOMEM;
	}
	if ((rc = replica_view_open(base, &m->view)) != CN_OK) {
		snprintf(err, errlen, "cannot read the replica: %s", cn_strerror(rc));
		free(m);
		return rc;
	}
	m->loop = loop;
	snprintf(m->path, sizeof m->path, "%s", path);
	m->interval_ms = (uint64_t)interval_s * 1000u;
	uv_timer_init(loop, &m->timer);
	m->timer.data = m;
	*out_ = m;
	return CN_OK;
}

void metrics_set_sources(struct metrics *m, struct net *net, struct taps *taps)
{
	if (m == NULL)
		return;
	m->net = net;
	m->taps = taps;
	uv_timer_start(&m->timer, on_timer, 0, m->interval_ms);
}

static void on_closed(uv_handle_t *h)
{
	struct metrics *m = h->data;

	replica_close(m->view);
	free(m->buf);
	free(m);
}

void metrics_stop(struct metrics *m)
{
	if (m == NULL)
		return;
	m->net = NULL;
	m->taps = NULL;
	uv_timer_stop(&m->timer);
	uv_close((uv_handle_t *)&m->timer, on_closed);
}
