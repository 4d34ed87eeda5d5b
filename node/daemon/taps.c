/*
 * taps.c — see taps.h.
 *
 * A tap goes: backend → station_plan (the view) → [net_author → authored →
 * station_after] → answer the backend (nfc: write the card or not; sim:
 * the reply line) → [nfc: done] → log line and tap log row.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "nfc.h"
#include "sim.h"
#include "taplog.h"
#include "taps.h"
#include "util.h"

#define PRUNE_EVERY_MS (3600u * 1000u)
#define ANSWER_MARGIN_MS 300u

struct pending {
	uint64_t token;
	bool sim;
	bool waiting_write;
	struct reader_tap tap;
	struct station_plan plan;
	struct pending *next;
};

struct taps {
	uv_loop_t *loop;
	struct taps_config cfg;
	char device[1024];
	char name[CN_ACTOR_MAX + 1];
	char data_dir[1024];
	struct replica *view;
	struct net *net;
	struct taplog *log;
	struct nfc_reader *nfc;
	struct sim_reader *sim;
	bool up;                /* the backend is there */
	uint64_t count;         /* taps answered */
	uint64_t by_decision[DEC__COUNT];
	uint64_t next_token;
	struct pending *pending;
	uv_timer_t timer;       /* tap log sync (1 s) and prune */
	uint64_t next_prune_ms;
};

/* ---- finishing a tap ---------------------------------------------------- */

static void record(struct taps *t, struct pending *p)
{
	struct station_plan *pl = &p->plan;
	char uid[2 * CN_UID_MAX + 1], detail[260];
	uint64_t wm = 0;
	const char *dec = policy_decision_name(pl->decision);
	struct taplog_row row;

	util_hex_encode(p->tap.uid, p->tap.uid_len, uid);
	for (char *c = uid; *c; c++)
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 'a' + 'A');
	snprintf(detail, sizeof detail, "%s", pl->detail);
	if (t->cfg.flag_stale && t->cfg.watermark_max_age_ms &&
	    (replica_watermark(t->view, &wm) != CN_OK ||
	     p->tap.time_ms > wm + t->cfg.watermark_max_age_ms)) {
		size_t n = strlen(detail);
		snprintf(detail + n, sizeof detail - n, "%s[stale replica]",
			 n ? " " : "");
	}
	t->count++;
	if ((unsigned)pl->decision < DEC__COUNT)
		t->by_decision[pl->decision]++;
	if (pl->disagree)
		log_warn("tap %s: %s card %s student %s: %s", uid, dec,
			 pl->card[0] ? pl->card : "-",
			 pl->edu_id[0] ? pl->edu_id : "-", detail);
	else
		log_info("tap %s: %s card %s student %s%s%s", uid, dec,
			 pl->card[0] ? pl->card : "-",
			 pl->edu_id[0] ? pl->edu_id : "-", detail[0] ? ": " : "",
			 detail);
	row = (struct taplog_row){
		.time_ms = p->tap.time_ms,
		.reader = t->name,
		.uid = p->tap.uid,
		.uid_len = p->tap.uid_len,
		.card = pl->card,
		.student = pl->edu_id,
		.decision = dec,
		.detail = detail,
	};
	if (taplog_write(t->log, &row) != CN_OK)
		log_error("tap %s: the tap log cannot be written", uid);
	if (p->sim) {
		char line[400];
		snprintf(line, sizeof line, "%s\t%s\t%s\t%s", dec, pl->card,
			 pl->edu_id, detail);
		sim_reader_reply(t->sim, p->tap.id, line);
	}
}

static void pending_free(struct taps *t, struct pending *p)
{
	for (struct pending **q = &t->pending; *q != NULL; q = &(*q)->next)
		if (*q == p) {
			*q = p->next;
			break;
		}
	free(p);
}

/* The plan is final: tell the backend, then log (nfc writes log once the
 * write is done). */
static void finish(struct taps *t, struct pending *p)
{
	struct reader_answer a;

	if (p->sim || t->nfc == NULL) {
		record(t, p);
		pending_free(t, p);
		return;
	}
	memset(&a, 0, sizeof a);
	a.write = p->plan.write;
	a.format = p->plan.format;
	a.data = p->plan.data;
	/* The reader waits NFC_ANSWER_MS for an answer; one that may come
	 * too late to be taken writes nothing, and says so. */
	if (a.write && util_now_ms() > p->tap.time_ms + NFC_ANSWER_MS - ANSWER_MARGIN_MS) {
		size_t n = strlen(p->plan.detail);
		a.write = false;
		snprintf(p->plan.detail + n, sizeof p->plan.detail - n,
			 "%scard not written: the answer came too late for the "
			 "reader", n ? "; " : "");
	}
	nfc_reader_answer(t->nfc, p->tap.id, &a);
	if (!a.write) {
		record(t, p);
		pending_free(t, p);
		return;
	}
	p->waiting_write = true;
}

static void on_tap(struct taps *t, const struct reader_tap *tap, bool sim)
{
	struct pending *p = calloc(1, sizeof *p);
	int rc;

	if (p == NULL) {
		log_error("tap: out of memory");
		return;
	}
	p->tap = *tap;
	p->sim = sim;
	p->token = ++t->next_token;
	p->next = t->pending;
	t->pending = p;
	(void)station_plan(t->view, t->cfg.mode, t->name, tap, tap->time_ms,
			   &p->plan);
	if (!p->plan.author) {
		finish(t, p);
		return;
	}
	rc = t->net != NULL ? net_author(t->net, p->token, &p->plan.entry)
			    : CN_ERR_INVAL;
	if (rc != CN_OK) {
		station_after(t->view, tap, tap->time_ms, rc,
			      rc == CN_ERR_INVAL ? "the node is stopping"
						 : cn_strerror(rc), &p->plan);
		finish(t, p);
	}
}

static struct pending *find(struct taps *t, uint64_t token, uint64_t tap_id,
			    bool by_tap)
{
	for (struct pending *p = t->pending; p != NULL; p = p->next)
		if (by_tap ? (!p->sim && p->tap.id == tap_id) : p->token == token)
			return p;
	return NULL;
}

void taps_authored(void *ctx, uint64_t token, int rc, const char *why)
{
	struct taps *t = ctx;
	struct pending *p = t != NULL ? find(t, token, 0, false) : NULL;

	if (p == NULL)
		return;
	station_after(t->view, &p->tap, util_now_ms(), rc, why, &p->plan);
	finish(t, p);
}

/* ---- backends ------------------------------------------------------------ */

static void nfc_tap(void *ctx, const struct reader_tap *tap)
{
	on_tap(ctx, tap, false);
}

static void nfc_done(void *ctx, uint64_t id, bool ok, const char *why)
{
	struct taps *t = ctx;
	struct pending *p = find(t, 0, id, true);

	if (p == NULL || !p->waiting_write)
		return;
	if (!ok) {
		size_t n = strlen(p->plan.detail);
		snprintf(p->plan.detail + n, sizeof p->plan.detail - n,
			 "%scard not written: %s", n ? "; " : "", why);
	} else if (p->plan.format) {
		size_t n = strlen(p->plan.detail);
		if (n == 0)
			snprintf(p->plan.detail, sizeof p->plan.detail, "personalised");
	}
	record(t, p);
	pending_free(t, p);
}

static void nfc_state(void *ctx, bool up, const char *why)
{
	struct taps *t = ctx;

	t->up = up;
	if (up)
		log_info("reader %s: ready", t->device);
	else
		log_warn("reader: not available: %s", why);
}

static void sim_tap(void *ctx, const struct reader_tap *tap)
{
	on_tap(ctx, tap, true);
}

/* ---- timers, start, stop ------------------------------------------------- */

static void on_timer(uv_timer_t *h)
{
	struct taps *t = h->data;
	uint64_t now = util_now_ms();

	taplog_sync(t->log);
	if (now >= t->next_prune_ms) {
		taplog_prune(t->log, now);
		t->next_prune_ms = now + PRUNE_EVERY_MS;
	}
}

static void on_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

int taps_start(struct taps **out, uv_loop_t *loop, struct replica *base,
	       const struct taps_config *c, char *err, size_t errlen)
{
	struct taps *t = calloc(1, sizeof *t);
	uint8_t master[CN_KEY_LEN];
	int rc;

	*out = NULL;
	if (t == NULL) {
		snprintf(err, errlen, "out of memory");
		return CN_ERR_NOMEM;
	}
	t->loop = loop;
	t->cfg = *c;
	snprintf(t->device, sizeof t->device, "%s", c->device);
	snprintf(t->name, sizeof t->name, "%s", c->name);
	snprintf(t->data_dir, sizeof t->data_dir, "%s", c->data_dir);
	t->cfg.device = t->device;
	t->cfg.name = t->name;
	t->cfg.data_dir = t->data_dir;
	if ((rc = replica_view_open(base, &t->view)) != CN_OK) {
		snprintf(err, errlen, "cannot read the replica for the reader: %s",
			 cn_strerror(rc));
		free(t);
		return rc;
	}
	if ((rc = taplog_open(&t->log, c->data_dir, c->log_days, err, errlen)) != CN_OK) {
		replica_close(t->view);
		free(t);
		return rc;
	}
	uv_timer_init(loop, &t->timer);
	t->timer.data = t;
	uv_timer_start(&t->timer, on_timer, 1000, 1000);
	if (strncmp(t->device, "sim:", 4) == 0) {
		rc = sim_reader_start(&t->sim, loop, t->device + 4, sim_tap, t,
				      err, errlen);
		t->up = rc == CN_OK;
	} else {
		struct nfc_callbacks cb = {nfc_tap, nfc_done, nfc_state, t};
		rc = replica_card_master_key(base, master);
		if (rc != CN_OK)
			snprintf(err, errlen, "the data dir has no deployment "
				 "secret: cards cannot be read");
		else if ((rc = nfc_reader_start(&t->nfc, loop, t->device + 4,
						master, &cb)) != CN_OK)
			snprintf(err, errlen, "cannot start the reader thread: %s",
				 cn_strerror(rc));
		sodium_memzero(master, sizeof master);
	}
	if (rc != CN_OK) {
		taps_stop(t);
		return rc;
	}
	log_info("reader %s: %s station '%s', tap log kept %u days", t->device,
		 station_mode_name(c->mode), t->name, c->log_days);
	*out = t;
	return CN_OK;
}

void taps_set_net(struct taps *t, struct net *net)
{
	if (t != NULL)
		t->net = net;
}

void taps_status(void *ctx, FILE *f)
{
	struct taps *t = ctx;

	if (t == NULL)
		return;
	fprintf(f, "reader\t%s\t%s\t%s\t%" PRIu64 "\n", t->device,
		station_mode_name(t->cfg.mode), t->up ? "ready" : "absent",
		t->count);
}

void taps_stop(struct taps *t)
{
	if (t == NULL)
		return;
	nfc_reader_stop(t->nfc);
	t->nfc = NULL;
	sim_reader_stop(t->sim);
	t->sim = NULL;
	while (t->pending != NULL)
		pending_free(t, t->pending);
	taplog_close(t->log);
	t->log = NULL;
	replica_close(t->view);
	t->view = NULL;
	uv_close((uv_handle_t *)&t->timer, on_timer_closed);
}

void taps_counts(const struct taps *t, uint64_t out[static DEC__COUNT])
{
	memcpy(out, t->by_decision, sizeof t->by_decision);
}
