/*
 * worker.c — the replica thread; see worker.h.
 *
 * Jobs go in through one mutex-protected FIFO and a condition variable;
 * events come out through another FIFO and a uv_async handle.  The thread
 * takes all queued jobs at once, handles them in order, then looks at the
 * replica (has anyone written?), then lets every session that may have
 * something to send make messages while its written-but-unacknowledged
 * bytes stay under the bound.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "worker.h"

/* A group commit: at most this many entries (16 MiB) in one transaction. */
#define WORKER_BATCH_ENTRIES 65536

enum job_type {
	JOB_OPEN = 1,
	JOB_DELIVER,
	JOB_WRITTEN,
	JOB_PING,
	JOB_CLOSE,
	JOB_AUTHOR,
};

struct job {
	enum job_type type;
	uint64_t conn;
	uint8_t *msg;
	size_t len;
	uint64_t nonce;
	uint8_t peer[CN_KEY_LEN];
	char label[96];
	bool oneshot;
	struct entry entry;     /* JOB_AUTHOR */
	struct job *next;
};

struct session {
	uint64_t conn;
	struct sync_session *s;
	uint8_t peer[CN_KEY_LEN];
	char label[96];
	bool oneshot, done, failed;
	bool pump;              /* may have something to send */
	bool received;          /* messages handled since the last flush */
	size_t outstanding;     /* bytes handed out, not yet written */
	size_t consumed;        /* bytes of delivered messages handled, unreported */
	uint64_t last_msg_ms;
	uint64_t applied_logged;
	bool bulk_logged;
	struct worker_peer snap; /* under worker.smu */
};

struct worker {
	uv_loop_t *loop;
	uv_async_t async;
	uv_thread_t thread;
	struct replica *r;
	struct worker_config cfg;
	worker_cb cb;
	void *ctx;
	bool is_city;
	uint8_t self[CN_KEY_LEN];

	uv_mutex_t mu;          /* jobs, events, stop */
	uv_cond_t cond;
	struct job *jobs, *jobs_tail;
	struct worker_event *events, *events_tail;
	bool stop;
	bool running;           /* the thread was started */

	uv_mutex_t smu;         /* sessions[].snap, and the array itself */
	struct session **sessions; /* sorted by conn id (ids only grow) */
	size_t nsessions, capsessions;
	struct sync_view *view; /* the replica as every session sees it */
	uint64_t gone_applied, gone_refused; /* of closed sessions; smu */
	struct sync_session **flushv; /* flush_all()'s group */
	size_t capflush;

	/* thread-only */
	uint64_t next_watermark_ms, next_snap_ms, next_age_check_ms;
	bool stale;             /* the last freshness check found it stale */
	size_t ncerts, nrevs;
};

/* ---- events ---------------------------------------------------------------- */

static struct worker_event *event_new(enum worker_event_type t, uint64_t conn)
{
	struct worker_event *ev = calloc(1, sizeof *ev);

	if (ev != NULL) {
		ev->type = t;
		ev->conn = conn;
	}
	return ev;
}

static void event_free(struct worker_event *ev)
{
	free(ev->msg);
	if (ev->auth != NULL)
		authority_free(ev->auth);
	free(ev);
}

static void post(struct worker *w, struct worker_event *ev)
{
	uv_mutex_lock(&w->mu);
	if (w->events_tail != NULL)
		w->events_tail->next = ev;
	else
		w->events = ev;
	w->events_tail = ev;
	uv_mutex_unlock(&w->mu);
	uv_async_send(&w->async);
}

static void on_async(uv_async_t *h)
{
	struct worker *w = h->data;
	struct worker_event *ev, *next;

	uv_mutex_lock(&w->mu);
	ev = w->events;
	w->events = w->events_tail = NULL;
	uv_mutex_unlock(&w->mu);
	for (; ev != NULL; ev = next) {
		next = ev->next;
		if (w->cb != NULL)
			w->cb(w->ctx, ev);
		event_free(ev);
	}
}

/* ---- sessions (thread side) ------------------------------------------------- */

static void peer_state(const struct session *x, struct worker_peer *p);

/* Index of conn's session in the sorted table, or where it would go. */
static size_t lower_bound(struct worker *w, uint64_t conn)
{
	size_t lo = 0, hi = w->nsessions;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (w->sessions[mid]->conn < conn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct session *find(struct worker *w, uint64_t conn)
{
	size_t i = lower_bound(w, conn);

	return i < w->nsessions && w->sessions[i]->conn == conn ? w->sessions[i] : NULL;
}

static void session_fail(struct worker *w, struct session *x, const char *why)
{
	struct worker_event *ev;

	if (x->failed)
		return;
	x->failed = true;
	if ((ev = event_new(WORKER_CLOSE, x->conn)) != NULL) {
		snprintf(ev->why, sizeof ev->why, "%s", why);
		peer_state(x, &ev->peer);
		post(w, ev);
	}
}

static void session_remove(struct worker *w, struct session *x)
{
	struct worker_peer last;
	size_t i;

	peer_state(x, &last);
	uv_mutex_lock(&w->smu);
	w->gone_applied += last.applied;
	w->gone_refused += last.refused;
	i = lower_bound(w, x->conn);
	if (i < w->nsessions && w->sessions[i] == x) {
		memmove(w->sessions + i, w->sessions + i + 1,
			(w->nsessions - i - 1) * sizeof *w->sessions);
		w->nsessions--;
	}
	uv_mutex_unlock(&w->smu);
	sync_close(x->s);
	free(x);
}

/* Add x to the session table; false when out of memory. */
static bool session_add(struct worker *w, struct session *x)
{
	bool ok = true;

	uv_mutex_lock(&w->smu);
	if (w->nsessions == w->capsessions) {
		struct session **g = util_grow(w->sessions, &w->capsessions,
					       w->nsessions + 1, sizeof *g);
		if (g != NULL)
			w->sessions = g;
		else
			ok = false;
	}
	if (ok) {
		size_t i = lower_bound(w, x->conn);
		memmove(w->sessions + i + 1, w->sessions + i,
			(w->nsessions - i) * sizeof *w->sessions);
		w->sessions[i] = x;
		w->nsessions++;
	}
	uv_mutex_unlock(&w->smu);
	return ok;
}

static void job_open(struct worker *w, struct job *j)
{
	struct session *x = calloc(1, sizeof *x);
	char why[160];
	int rc;

	if (x != NULL)
		x->conn = j->conn;
	if (x == NULL || !session_add(w, x)) {
		struct worker_event *ev = event_new(WORKER_CLOSE, j->conn);
		free(x);
		if (ev != NULL) {
			snprintf(ev->why, sizeof ev->why, "out of memory");
			post(w, ev);
		}
		return;
	}
	x->conn = j->conn;
	memcpy(x->peer, j->peer, CN_KEY_LEN);
	memcpy(x->label, j->label, sizeof x->label);
	x->oneshot = j->oneshot;
	x->pump = true;
	rc = sync_open(&x->s, w->r, &w->cfg.limits);
	if (rc == CN_OK && w->view != NULL)
		rc = sync_set_view(x->s, w->view);
	if (rc == CN_OK)
		rc = sync_start(x->s);
	if (rc != CN_OK) {
		snprintf(why, sizeof why, "starting the sync session failed: %s",
			 x->s ? sync_error(x->s) : cn_strerror(rc));
		session_fail(w, x, why);
	}
}

static void job_deliver(struct worker *w, struct session *x, struct job *j)
{
	struct sync_stats st;

	x->consumed += j->len;
	x->last_msg_ms = util_now_ms();
	if (x->failed)
		return;
	if (sync_receive(x->s, j->msg, j->len) != CN_OK) {
		session_fail(w, x, sync_error(x->s));
		return;
	}
	x->pump = true;
	x->received = true;
	sync_stats(x->s, &st);
	if (st.hello_received && memcmp(st.peer_node, x->peer, CN_KEY_LEN) != 0) {
		session_fail(w, x, "the peer's HELLO names another node than "
				   "its certificate");
		return;
	}
}

/* After the round's group commit: log what came in (or the failure). */
static void session_flush(struct worker *w, struct session *x)
{
	struct sync_stats st;

	if (x->failed || !x->received)
		return;
	x->received = false;
	if (sync_error(x->s)[0] != '\0') {
		session_fail(w, x, sync_error(x->s));
		return;
	}
	sync_stats(x->s, &st);
	if (st.bulk && !x->bulk_logged) {
		log_info("%s: the replica is empty: bootstrapping through the bulk path",
			 x->label);
		x->bulk_logged = true;
	} else if (!st.bulk && x->bulk_logged) {
		log_info("%s: bootstrap of %" PRIu64 " entries done; tables built in %"
			 PRIu64 " ms", x->label, st.bulk_entries, st.bulk_build_ms);
		x->bulk_logged = false;
	}
	if (st.ingest.applied + st.ingest.refused > x->applied_logged) {
		log_info("%s: %" PRIu64 " entries in (%" PRIu64 " applied, %"
			 PRIu64 " refused so far)", x->label,
			 st.entries_received, st.ingest.applied,
			 st.ingest.refused);
		x->applied_logged = st.ingest.applied + st.ingest.refused;
	}
}

static void job_author(struct worker *w, struct job *j)
{
	struct worker_event *ev = event_new(WORKER_AUTHORED, j->conn);
	enum fold_reason why = FR_APPLIED;
	size_t bad = 0;
	int rc = replica_author(w->r, &j->entry, 1, &bad, &why);

	if (ev == NULL)
		return;
	ev->rc = rc;
	if (rc == CN_ERR_REFUSED)
		snprintf(ev->why, sizeof ev->why, "%s", fold_reason_name(why));
	else if (rc != CN_OK)
		snprintf(ev->why, sizeof ev->why, "%s", cn_strerror(rc));
	post(w, ev);
}

static void handle(struct worker *w, struct job *j)
{
	struct session *x;

	if (j->type == JOB_OPEN) {
		job_open(w, j);
		return;
	}
	if (j->type == JOB_AUTHOR) {
		job_author(w, j);
		return;
	}
	if ((x = find(w, j->conn)) == NULL)
		return;
	switch (j->type) {
	case JOB_DELIVER:
		job_deliver(w, x, j);
		break;
	case JOB_WRITTEN:
		x->outstanding -= j->len < x->outstanding ? j->len : x->outstanding;
		x->pump = true;
		break;
	case JOB_PING:
		if (!x->failed && sync_ping(x->s, j->nonce) == CN_OK)
			x->pump = true;
		break;
	case JOB_CLOSE:
		session_remove(w, x);
		break;
	case JOB_OPEN:
	case JOB_AUTHOR:
		break;
	}
}

/* Commit what every session received this round in one transaction
 * (group commit across sessions: one sync to the disk a round, however
 * many peers sent something). */
static void flush_all(struct worker *w)
{
	size_t k = 0;

	for (size_t i = 0; i < w->nsessions; i++)
		if (w->sessions[i]->received && !w->sessions[i]->failed)
			k++;
	if (k == 0)
		return;
	if (k > w->capflush) {
		struct sync_session **g = realloc(w->flushv, k * sizeof *g);
		if (g == NULL) {
			/* One commit each, then. */
			for (size_t i = 0; i < w->nsessions; i++)
				if (w->sessions[i]->received && !w->sessions[i]->failed)
					(void)sync_flush(w->sessions[i]->s);
			return;
		}
		w->flushv = g;
		w->capflush = k;
	}
	/* Groups of at most SYNC_BATCH_MAX_ENTRIES entries: a transaction
	 * stays within what replica_ingest is meant for. */
	k = 0;
	for (size_t i = 0, sum = 0; i < w->nsessions; i++) {
		struct session *x = w->sessions[i];
		struct sync_stats st;
		if (!x->received || x->failed)
			continue;
		sync_stats(x->s, &st);
		if (k > 0 && sum + st.batched > SYNC_BATCH_MAX_ENTRIES) {
			(void)sync_flush_group(w->flushv, k);
			k = sum = 0;
		}
		w->flushv[k++] = x->s;
		sum += st.batched;
	}
	(void)sync_flush_group(w->flushv, k);
}

/* Let a session make messages while it is under its bound. */
static void pump(struct worker *w, struct session *x)
{
	uint64_t peer_lacks, we_lack;

	if (x->failed || !x->pump)
		return;
	while (x->outstanding < w->cfg.out_bound) {
		struct worker_event *ev;
		uint8_t *msg;
		size_t len;
		if (sync_next(x->s, &msg, &len) != CN_OK) {
			session_fail(w, x, sync_error(x->s));
			return;
		}
		if (msg == NULL) {
			x->pump = false;
			break;
		}
		if ((ev = event_new(WORKER_SEND, x->conn)) == NULL) {
			free(msg);
			session_fail(w, x, "out of memory");
			return;
		}
		ev->msg = msg;
		ev->len = len;
		x->outstanding += len;
		post(w, ev);
	}
	if (x->oneshot && !x->done && sync_caught_up(x->s)) {
		sync_lag(x->s, &peer_lacks, &we_lack);
		struct worker_event *ev;
		if (we_lack == 0 && (ev = event_new(WORKER_DONE, x->conn)) != NULL) {
			x->done = true;
			peer_state(x, &ev->peer);
			post(w, ev);
		}
	}
}

static void report_consumed(struct worker *w, struct session *x)
{
	struct worker_event *ev;

	if (x->consumed == 0)
		return;
	if ((ev = event_new(WORKER_CONSUMED, x->conn)) != NULL) {
		ev->len = x->consumed;
		x->consumed = 0;
		post(w, ev);
	}
}

static void peer_state(const struct session *x, struct worker_peer *p)
{
	struct sync_stats st;

	sync_stats(x->s, &st);
	sync_lag(x->s, &p->peer_lacks, &p->we_lack);
	p->hello = st.hello_received;
	p->entries_sent = st.entries_sent;
	p->entries_received = st.entries_received;
	p->applied = st.ingest.applied;
	p->refused = st.ingest.refused;
	p->last_msg_ms = x->last_msg_ms;
}

static void snapshot(struct worker *w)
{
	uv_mutex_lock(&w->smu);
	for (size_t i = 0; i < w->nsessions; i++)
		peer_state(w->sessions[i], &w->sessions[i]->snap);
	uv_mutex_unlock(&w->smu);
}

/* ---- certificates for the loop's handshakes --------------------------------- */

struct auth_walk {
	struct authority *a;
	const uint8_t *root;
};

static int rev_cb(void *ctx, const uint8_t *buf, size_t len)
{
	struct auth_walk *aw = ctx;
	struct revocation rv;
	const char *why;

	if (authority_revocation_open(buf, len, aw->root, &rv, &why) == CN_OK)
		authority_add_revocation(aw->a, &rv);
	return 0;
}

/* Post WORKER_AUTH when the certificate or revocation tables changed (and
 * on the first call). */
static void auth_check(struct worker *w, bool force)
{
	struct replica_info info;
	struct worker_event *ev;
	struct auth_walk aw = {0};
	size_t ncerts = 0, nrevs = 0;

	if (replica_blob_counts(w->r, &ncerts, &nrevs) != CN_OK ||
	    (!force && ncerts == w->ncerts && nrevs == w->nrevs))
		return;
	replica_info(w->r, &info);
	aw.root = info.root_pub;
	if (authority_new(info.root_pub, &aw.a) != CN_OK)
		return;
	if (replica_revocations_walk(w->r, rev_cb, &aw) != CN_OK ||
	    (ev = event_new(WORKER_AUTH, 0)) == NULL) {
		authority_free(aw.a);
		return;
	}
	w->ncerts = ncerts;
	w->nrevs = nrevs;
	ev->auth = aw.a;
	if (replica_own_cert(w->r, util_now_ms(), ev->cert, sizeof ev->cert,
			     &ev->cert_len) != CN_OK)
		ev->cert_len = 0;
	w->is_city = info.has_cert && info.role == ROLE_CITY;
	post(w, ev);
}

/* ---- the thread ------------------------------------------------------------- */

static void watermark(struct worker *w, uint64_t now)
{
	int rc;

	if (w->cfg.watermark_ms == 0 || now < w->next_watermark_ms)
		return;
	w->next_watermark_ms = now + w->cfg.watermark_ms;
	if (!w->is_city)
		return;
	if ((rc = replica_watermark_author(w->r, now)) != CN_OK)
		log_warn("writing the city watermark failed: %s", cn_strerror(rc));
	else
		log_debug("city watermark written");
}

/* Say once when the blacklist becomes stale, and once when it is fresh. */
static void freshness(struct worker *w, uint64_t now)
{
	uint64_t wm = 0;
	bool stale;

	if (w->cfg.watermark_max_age_ms == 0 || now < w->next_age_check_ms)
		return;
	w->next_age_check_ms = now + (w->cfg.watermark_max_age_ms / 4 < 5000 ?
				      w->cfg.watermark_max_age_ms / 4 : 5000);
	(void)replica_watermark(w->r, &wm);
	stale = wm == 0 || now > wm + w->cfg.watermark_max_age_ms;
	if (stale && !w->stale) {
		if (wm == 0)
			log_warn("no city watermark applied yet: this replica's "
				 "blacklist may be behind");
		else
			log_warn("the newest city watermark is %" PRIu64 " s old "
				 "(more than %" PRIu64 " s): this replica's blacklist "
				 "may be behind", (now - wm) / 1000,
				 w->cfg.watermark_max_age_ms / 1000);
	} else if (!stale && w->stale) {
		log_info("city watermark fresh again (%" PRIu64 " s old)",
			 (now - wm) / 1000);
	}
	w->stale = stale;
}

static void run(void *arg)
{
	struct worker *w = arg;
	uint64_t tick_ns = (uint64_t)w->cfg.tick_ms * 1000000u;

	w->next_watermark_ms = util_now_ms();
	uv_mutex_lock(&w->mu);
	while (!w->stop) {
		struct job *jobs, *next;
		uint64_t now;
		if (w->jobs == NULL)
			(void)uv_cond_timedwait(&w->cond, &w->mu, tick_ns);
		if (w->stop)
			break;
		jobs = w->jobs;
		w->jobs = w->jobs_tail = NULL;
		uv_mutex_unlock(&w->mu);

		for (; jobs != NULL; jobs = next) {
			next = jobs->next;
			handle(w, jobs);
			free(jobs->msg);
			free(jobs);
		}
		flush_all(w);
		for (size_t i = 0; i < w->nsessions; i++)
			session_flush(w, w->sessions[i]);
		now = util_now_ms();
		watermark(w, now);
		freshness(w, now);
		if (replica_changed(w->r)) {
			int rc = CN_OK;
			auth_check(w, false);
			if (w->view != NULL && (rc = sync_view_refresh(w->view)) != CN_OK)
				log_warn("reading the replica failed: %s", cn_strerror(rc));
			for (size_t i = 0; i < w->nsessions; i++) {
				struct session *x = w->sessions[i];
				if (rc != CN_OK)
					session_fail(w, x, "reading the replica failed");
				else if (!x->failed && sync_local_changed(x->s) == CN_OK)
					x->pump = true;
			}
		}
		for (size_t i = 0; i < w->nsessions; i++) {
			pump(w, w->sessions[i]);
			report_consumed(w, w->sessions[i]);
		}
		if (now >= w->next_snap_ms) {
			snapshot(w);
			w->next_snap_ms = now + 500;
		}
		uv_mutex_lock(&w->mu);
	}
	uv_mutex_unlock(&w->mu);
}

/* ---- the loop side ------------------------------------------------------------ */

static int queue(struct worker *w, struct job *j)
{
	uv_mutex_lock(&w->mu);
	if (w->jobs_tail != NULL)
		w->jobs_tail->next = j;
	else
		w->jobs = j;
	w->jobs_tail = j;
	uv_cond_signal(&w->cond);
	uv_mutex_unlock(&w->mu);
	return CN_OK;
}

static struct job *job_new(enum job_type t, uint64_t conn)
{
	struct job *j = calloc(1, sizeof *j);

	if (j != NULL) {
		j->type = t;
		j->conn = conn;
	}
	return j;
}

int worker_start(struct worker **out, uv_loop_t *loop, struct replica *r,
		 const struct worker_config *cfg, worker_cb cb, void *ctx)
{
	struct worker *w = calloc(1, sizeof *w);
	struct replica_info info;

	*out = NULL;
	if (w == NULL)
		return CN_ERR_NOMEM;
	w->loop = loop;
	w->r = r;
	w->cfg = *cfg;
	if (w->cfg.tick_ms == 0)
		w->cfg.tick_ms = 5;
	if (w->cfg.out_bound == 0)
		w->cfg.out_bound = 4u << 20;
	/* Group commit and bulk bootstrap (sync.h), always. */
	if (w->cfg.limits.batch_entries == 0)
		w->cfg.limits.batch_entries = WORKER_BATCH_ENTRIES;
	w->cfg.limits.bulk = true;
	w->cb = cb;
	w->ctx = ctx;
	replica_info(r, &info);
	memcpy(w->self, info.node, CN_KEY_LEN);
	if (uv_mutex_init(&w->mu) != 0) {
		free(w);
		return CN_ERR_IO;
	}
	if (uv_mutex_init(&w->smu) != 0) {
		uv_mutex_destroy(&w->mu);
		free(w);
		return CN_ERR_IO;
	}
	if (uv_cond_init(&w->cond) != 0) {
		uv_mutex_destroy(&w->smu);
		uv_mutex_destroy(&w->mu);
		free(w);
		return CN_ERR_IO;
	}
	if (uv_async_init(loop, &w->async, on_async) != 0) {
		uv_cond_destroy(&w->cond);
		uv_mutex_destroy(&w->smu);
		uv_mutex_destroy(&w->mu);
		free(w);
		return CN_ERR_IO;
	}
	w->async.data = w;
	/* The first certificates go out before the thread starts. */
	(void)replica_changed(r);
	auth_check(w, true);
	if (sync_view_new(&w->view, r) != CN_OK) {
		worker_stop(w);
		return CN_ERR_NOMEM;
	}
	if (uv_thread_create(&w->thread, run, w) != 0) {
		worker_stop(w);
		return CN_ERR_IO;
	}
	w->running = true;
	*out = w;
	return CN_OK;
}

static void on_async_closed(uv_handle_t *h)
{
	struct worker *w = h->data;
	struct worker_event *ev, *next;

	for (ev = w->events; ev != NULL; ev = next) {
		next = ev->next;
		event_free(ev);
	}
	uv_cond_destroy(&w->cond);
	uv_mutex_destroy(&w->smu);
	uv_mutex_destroy(&w->mu);
	free(w->sessions);
	free(w);
}

void worker_stop(struct worker *w)
{
	struct job *j, *next;

	if (w == NULL)
		return;
	uv_mutex_lock(&w->mu);
	w->stop = true;
	uv_cond_signal(&w->cond);
	uv_mutex_unlock(&w->mu);
	if (w->running)
		uv_thread_join(&w->thread);
	w->running = false;
	w->cb = NULL;
	for (j = w->jobs; j != NULL; j = next) {
		next = j->next;
		free(j->msg);
		free(j);
	}
	w->jobs = w->jobs_tail = NULL;
	while (w->nsessions > 0)
		session_remove(w, w->sessions[0]);
	sync_view_free(w->view);
	w->view = NULL;
	free(w->flushv);
	w->flushv = NULL;
	uv_close((uv_handle_t *)&w->async, on_async_closed);
}

int worker_open(struct worker *w, uint64_t conn, const uint8_t peer[CN_KEY_LEN],
		const char *label, bool oneshot)
{
	struct job *j = job_new(JOB_OPEN, conn);

	if (j == NULL)
		return CN_ERR_NOMEM;
	memcpy(j->peer, peer, CN_KEY_LEN);
	snprintf(j->label, sizeof j->label, "%s", label);
	j->oneshot = oneshot;
	return queue(w, j);
}

int worker_deliver(struct worker *w, uint64_t conn, uint8_t *msg, size_t len)
{
	struct job *j = job_new(JOB_DELIVER, conn);

	if (j == NULL) {
		free(msg);
		return CN_ERR_NOMEM;
	}
	j->msg = msg;
	j->len = len;
	return queue(w, j);
}

int worker_written(struct worker *w, uint64_t conn, size_t len)
{
	struct job *j = job_new(JOB_WRITTEN, conn);

	if (j == NULL)
		return CN_ERR_NOMEM;
	j->len = len;
	return queue(w, j);
}

int worker_ping(struct worker *w, uint64_t conn, uint64_t nonce)
{
	struct job *j = job_new(JOB_PING, conn);

	if (j == NULL)
		return CN_ERR_NOMEM;
	j->nonce = nonce;
	return queue(w, j);
}

int worker_close(struct worker *w, uint64_t conn)
{
	struct job *j = job_new(JOB_CLOSE, conn);

	if (j == NULL)
		return CN_ERR_NOMEM;
	return queue(w, j);
}

int worker_author(struct worker *w, uint64_t token, const struct entry *e)
{
	struct job *j = job_new(JOB_AUTHOR, token);

	if (j == NULL)
		return CN_ERR_NOMEM;
	j->entry = *e;
	j->entry.body.vv = NULL;
	j->entry.body.vv_len = 0;
	return queue(w, j);
}

bool worker_peer_state(struct worker *w, uint64_t conn, struct worker_peer *out)
{
	bool found = false;

	uv_mutex_lock(&w->smu);
	for (size_t i = 0; i < w->nsessions; i++)
		if (w->sessions[i]->conn == conn) {
			*out = w->sessions[i]->snap;
			found = true;
			break;
		}
	uv_mutex_unlock(&w->smu);
	return found;
}

void worker_totals(struct worker *w, uint64_t *applied, uint64_t *refused)
{
	uv_mutex_lock(&w->smu);
	*applied = w->gone_applied;
	*refused = w->gone_refused;
	for (size_t i = 0; i < w->nsessions; i++) {
		*applied += w->sessions[i]->snap.applied;
		*refused += w->sessions[i]->snap.refused;
	}
	uv_mutex_unlock(&w->smu);
}
