/*
 * nfc.c — the libnfc reader thread; see nfc.h.
 *
 * One thread owns the libnfc context and device.  Events (taps, write
 * outcomes, reader state) go to the loop through a mutex-protected FIFO and
 * a uv_async handle; the loop's answer to a tap comes back through one slot
 * under the same mutex and a condition variable.  Every libnfc call the
 * thread makes is bounded (a 300 ms selection, transceive timeouts), and
 * nfc_reader_stop() aborts the one under way, so the stop flag is seen
 * promptly.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nfc/nfc.h>
#include <sodium.h>

#include "log.h"
#include "nfc.h"
#include "util.h"

#define MFC_AUTH_A 0x60
#define MFC_AUTH_B 0x61
#define MFC_READ 0x30
#define MFC_WRITE 0xA0
#define MFC_TIMEOUT_MS 500
#define NFC_IDLE_MS 100              /* between presence checks, empty polls */

enum event_type { EV_TAP = 1, EV_DONE, EV_STATE };

struct event {
	enum event_type type;
	struct reader_tap tap;       /* EV_TAP */
	uint64_t id;                 /* EV_DONE */
	bool ok;                     /* EV_DONE: ok; EV_STATE: up */
	char why[160];
	struct event *next;
};

struct nfc_reader {
	uv_loop_t *loop;
	uv_async_t async;
	uv_thread_t thread;
	char *connstring;
	uint8_t master[CN_KEY_LEN];
	struct nfc_callbacks cb;

	uv_mutex_t mu;               /* everything below up to "thread-only" */
	uv_cond_t cond;
	struct event *events, *events_tail;
	bool stop;
	bool running;                /* the thread was started */
	bool stopped;                /* nfc_reader_stop was called */
	nfc_device *dev;             /* for nfc_abort_command */
	uint64_t waiting;            /* the tap id the thread waits on, 0 none */
	bool answered;
	struct reader_answer answer;

	/* thread-only */
	nfc_context *ctx;
	uint64_t next_id;
	bool up;                     /* the last state posted */
	bool state_posted;
	uint8_t last_uid[CN_UID_MAX];
	uint8_t last_uid_len;
	uint64_t last_seen_ns;       /* when the last card left the field */
};

static const nfc_modulation nm_mifare = { .nmt = NMT_ISO14443A, .nbr = NBR_106 };

/* libnfc keeps its driver list in a global that nfc_init() fills and
 * nfc_exit() frees, whatever other contexts exist: readers of one process
 * share one context, counted. */
static uv_once_t ctx_once = UV_ONCE_INIT;
static uv_mutex_t ctx_mu;
static nfc_context *ctx_shared;
static unsigned ctx_refs;

static void ctx_mu_init(void)
{
	if (uv_mutex_init(&ctx_mu) != 0)
		abort();
}

static nfc_context *ctx_get(void)
{
	nfc_context *c;

	uv_once(&ctx_once, ctx_mu_init);
	uv_mutex_lock(&ctx_mu);
	if (ctx_refs == 0)
		nfc_init(&ctx_shared);
	if (ctx_shared != NULL)
		ctx_refs++;
	c = ctx_shared;
	uv_mutex_unlock(&ctx_mu);
	return c;
}

static void ctx_put(void)
{
	uv_mutex_lock(&ctx_mu);
	if (--ctx_refs == 0) {
		nfc_exit(ctx_shared);
		ctx_shared = NULL;
	}
	uv_mutex_unlock(&ctx_mu);
}

/* ---- events ----------------------------------------------------------------- */

static struct event *event_new(enum event_type t)
{
	struct event *ev = calloc(1, sizeof *ev);

	if (ev != NULL)
		ev->type = t;
	return ev;
}

static void post(struct nfc_reader *r, struct event *ev)
{
	uv_mutex_lock(&r->mu);
	if (r->events_tail != NULL)
		r->events_tail->next = ev;
	else
		r->events = ev;
	r->events_tail = ev;
	uv_mutex_unlock(&r->mu);
	uv_async_send(&r->async);
}

static void free_events(struct event *ev)
{
	struct event *next;

	for (; ev != NULL; ev = next) {
		next = ev->next;
		sodium_memzero(ev, sizeof *ev);
		free(ev);
	}
}

static void on_async(uv_async_t *h)
{
	struct nfc_reader *r = h->data;
	struct event *ev, *next;

	uv_mutex_lock(&r->mu);
	ev = r->events;
	r->events = r->events_tail = NULL;
	uv_mutex_unlock(&r->mu);
	for (; ev != NULL; ev = next) {
		next = ev->next;
		/* A callback may stop the reader: nothing runs after that. */
		if (!r->stopped) {
			switch (ev->type) {
			case EV_TAP:
				if (r->cb.tap != NULL)
					r->cb.tap(r->cb.ctx, &ev->tap);
				break;
			case EV_DONE:
				if (r->cb.done != NULL)
					r->cb.done(r->cb.ctx, ev->id, ev->ok, ev->why);
				break;
			case EV_STATE:
				if (r->cb.state != NULL)
					r->cb.state(r->cb.ctx, ev->ok, ev->why);
				break;
			}
		}
		ev->next = NULL;
		free_events(ev);
	}
}

static void post_state(struct nfc_reader *r, bool up, const char *why)
{
	struct event *ev;

	if (r->state_posted && r->up == up)
		return;
	r->state_posted = true;
	r->up = up;
	if ((ev = event_new(EV_STATE)) != NULL) {
		ev->ok = up;
		snprintf(ev->why, sizeof ev->why, "%s", why);
		post(r, ev);
	}
}

static void post_done(struct nfc_reader *r, uint64_t id, bool ok, const char *why)
{
	struct event *ev = event_new(EV_DONE);

	if (ev != NULL) {
		ev->id = id;
		ev->ok = ok;
		snprintf(ev->why, sizeof ev->why, "%s", why);
		post(r, ev);
	}
}

/* ---- the thread: helpers ---------------------------------------------------- */

static bool stopping(struct nfc_reader *r)
{
	bool s;

	uv_mutex_lock(&r->mu);
	s = r->stop;
	uv_mutex_unlock(&r->mu);
	return s;
}

/* Sleep up to ms, or until stopped; true when stopped. */
static bool pause_ms(struct nfc_reader *r, uint64_t ms)
{
	uint64_t end = util_mono_ns() + ms * 1000000u;
	bool s;

	uv_mutex_lock(&r->mu);
	while (!r->stop) {
		uint64_t now = util_mono_ns();
		if (now >= end)
			break;
		(void)uv_cond_timedwait(&r->cond, &r->mu, end - now);
	}
	s = r->stop;
	uv_mutex_unlock(&r->mu);
	return s;
}

/* The device is gone for good: an I/O error or the chip stopped making
 * sense.  Anything else (a timeout, a card that left, an abort) is not. */
static bool fatal(int rc)
{
	return rc == NFC_EIO || rc == NFC_ENOTSUCHDEV || rc == NFC_ECHIP ||
	       rc == NFC_ESOFT;
}

static void uid_hex(const uint8_t *uid, size_t n, char out[2 * CN_UID_MAX + 1])
{
	util_hex_encode(uid, n, out);
}

static int mfc_auth(nfc_device *dev, uint8_t cmd, uint8_t blk,
		    const uint8_t key[CARD_KEY_LEN], const uint8_t *uid,
		    size_t uid_len)
{
	uint8_t tx[2 + CARD_KEY_LEN + 4], rx[16];
	int rc;

	tx[0] = cmd;
	tx[1] = blk;
	memcpy(tx + 2, key, CARD_KEY_LEN);
	memcpy(tx + 2 + CARD_KEY_LEN, uid + uid_len - 4, 4);
	rc = nfc_initiator_transceive_bytes(dev, tx, sizeof tx, rx, sizeof rx,
					    MFC_TIMEOUT_MS);
	sodium_memzero(tx, sizeof tx);
	return rc < 0 ? rc : 0;
}

static int mfc_read(nfc_device *dev, uint8_t blk, uint8_t out[CARD_BLOCK_LEN])
{
	uint8_t tx[2] = { MFC_READ, blk };
	int rc = nfc_initiator_transceive_bytes(dev, tx, sizeof tx, out,
						CARD_BLOCK_LEN, MFC_TIMEOUT_MS);

	if (rc < 0)
		return rc;
	return rc == CARD_BLOCK_LEN ? 0 : NFC_ERFTRANS;
}

static int mfc_write(nfc_device *dev, uint8_t blk, const uint8_t in[CARD_BLOCK_LEN])
{
	uint8_t tx[2 + CARD_BLOCK_LEN], rx[16];
	int rc;

	tx[0] = MFC_WRITE;
	tx[1] = blk;
	memcpy(tx + 2, in, CARD_BLOCK_LEN);
	rc = nfc_initiator_transceive_bytes(dev, tx, sizeof tx, rx, sizeof rx,
					    MFC_TIMEOUT_MS);
	sodium_memzero(tx, sizeof tx);
	return rc < 0 ? rc : 0;
}

/* Select the card `uid` again (after a failed authentication, or to start
 * afresh): 1 found, 0 gone, or a negative libnfc error. */
static int reselect(nfc_device *dev, const uint8_t *uid, size_t uid_len)
{
	nfc_target nt;
	int rc;

	memset(&nt, 0, sizeof nt);
	rc = nfc_initiator_select_passive_target(dev, nm_mifare, uid, uid_len, &nt);
	if (rc == NFC_ETIMEOUT)
		return 0;
	return rc;
}

/* Authenticate block 4 with `key` and read the three data blocks.  0, or a
 * negative libnfc error. */
static int read_sector(nfc_device *dev, uint8_t cmd, const uint8_t key[CARD_KEY_LEN],
		       const uint8_t *uid, size_t uid_len,
		       uint8_t blocks[CARD_BLOCKS][CARD_BLOCK_LEN])
{
	int rc = mfc_auth(dev, cmd, CARD_BLOCK_FIRST, key, uid, uid_len);

	for (int i = 0; rc == 0 && i < CARD_BLOCKS; i++)
		rc = mfc_read(dev, (uint8_t)(CARD_BLOCK_FIRST + i), blocks[i]);
	return rc;
}

/* ---- the thread: one tap ---------------------------------------------------- */

/* Read the education sector of the selected card into t->chip / t->data.
 * 0 (t filled), 1 when the card left before it could be read, or a fatal
 * libnfc error (or NFC_EOPABORTED when stopping). */
static int tap_read(struct nfc_reader *r, nfc_device *dev, struct reader_tap *t)
{
	uint8_t blocks[CARD_BLOCKS][CARD_BLOCK_LEN];
	struct card_keys k;
	int rc;

	card_keys_derive(r->master, t->uid, t->uid_len, &k);
	rc = read_sector(dev, MFC_AUTH_A, k.a, t->uid, t->uid_len, blocks);
	sodium_memzero(&k, sizeof k);
	if (rc == 0) {
		t->chip = card_decode(r->master, t->uid, t->uid_len,
				      (const uint8_t (*)[CARD_BLOCK_LEN])blocks,
				      &t->data);
		goto out;
	}
	if (fatal(rc) || rc == NFC_EOPABORTED)
		goto out;
	/* The card halts after a failed authentication: select it again. */
	if ((rc = reselect(dev, t->uid, t->uid_len)) <= 0) {
		rc = rc == 0 ? 1 : rc;
		goto out;
	}
	rc = read_sector(dev, MFC_AUTH_A, card_transport_key, t->uid, t->uid_len,
			 blocks);
	if (rc == 0) {
		struct card_data d;
		enum card_status s;

		s = card_decode(r->master, t->uid, t->uid_len,
				(const uint8_t (*)[CARD_BLOCK_LEN])blocks, &d);
		/* Transport keys: not personalised.  Our own blocks under them
		 * are a personalisation cut short before the trailer. */
		t->chip = s == CARD_OK ? CARD_BLANK : s;
		goto out;
	}
	if (fatal(rc) || rc == NFC_EOPABORTED)
		goto out;
	t->chip = CARD_UNREADABLE;
	rc = 0;
	/* Leave the card selected for the presence checks. */
	if (reselect(dev, t->uid, t->uid_len) < 0)
		log_debug("nfc: reselecting the card failed");
out:
	sodium_memzero(blocks, sizeof blocks);
	return rc;
}

/* Wait for the loop's answer to tap `id`; true with *a filled if it came in
 * time (and the reader is not stopping). */
static bool tap_wait(struct nfc_reader *r, uint64_t id, struct reader_answer *a)
{
	uint64_t end = util_mono_ns() + (uint64_t)NFC_ANSWER_MS * 1000000u;
	bool got;

	uv_mutex_lock(&r->mu);
	while (!r->stop && !r->answered) {
		uint64_t now = util_mono_ns();
		if (now >= end)
			break;
		(void)uv_cond_timedwait(&r->cond, &r->mu, end - now);
	}
	got = r->answered && !r->stop && r->waiting == id;
	if (got)
		*a = r->answer;
	r->waiting = 0;
	r->answered = false;
	sodium_memzero(&r->answer, sizeof r->answer);
	uv_mutex_unlock(&r->mu);
	return got;
}

/* Write the blocks (and the trailer when personalising), then read them
 * back.  0 with *why NULL, 0 with *why set (the write failed, the reader is
 * fine), or a fatal libnfc error. */
static int tap_write(struct nfc_reader *r, nfc_device *dev,
		     const struct reader_tap *t, const struct reader_answer *a,
		     const char **why)
{
	uint8_t blocks[CARD_BLOCKS][CARD_BLOCK_LEN], back[CARD_BLOCKS][CARD_BLOCK_LEN];
	uint8_t trailer[CARD_BLOCK_LEN];
	struct card_keys k;
	int rc;

	*why = NULL;
	card_keys_derive(r->master, t->uid, t->uid_len, &k);
	if (card_encode(r->master, t->uid, t->uid_len, &a->data, blocks) != CN_OK) {
		*why = "the card data is not valid";
		rc = 0;
		goto out;
	}
	if ((rc = reselect(dev, t->uid, t->uid_len)) <= 0) {
		*why = "the card left the field";
		goto fail;
	}
	if (a->format)
		rc = mfc_auth(dev, MFC_AUTH_A, CARD_BLOCK_FIRST, card_transport_key,
			      t->uid, t->uid_len);
	else
		rc = mfc_auth(dev, MFC_AUTH_B, CARD_BLOCK_FIRST, k.b, t->uid,
			      t->uid_len);
	if (rc < 0) {
		*why = a->format ? "the transport key does not open the sector "
				   "(already personalised?)"
				 : "key B does not open the sector (not personalised?)";
		goto fail;
	}
	for (int i = 0; rc == 0 && i < CARD_BLOCKS; i++)
		rc = mfc_write(dev, (uint8_t)(CARD_BLOCK_FIRST + i), blocks[i]);
	if (rc == 0 && a->format) {
		card_trailer(&k, trailer);
		rc = mfc_write(dev, CARD_TRAILER, trailer);
	}
	if (rc < 0) {
		*why = "writing the card failed";
		goto fail;
	}
	/* Read back with the card's own key A, as the next tap will. */
	if ((rc = reselect(dev, t->uid, t->uid_len)) <= 0) {
		*why = "the card left the field before it was verified";
		goto fail;
	}
	rc = read_sector(dev, MFC_AUTH_A, k.a, t->uid, t->uid_len, back);
	if (rc < 0) {
		*why = "reading the card back failed";
		goto fail;
	}
	if (sodium_memcmp(blocks, back, sizeof blocks) != 0)
		*why = "the card reads back other data than was written";
	rc = 0;
	goto out;
fail:
	if (rc > 0)
		rc = 0;
	if (rc < 0 && !fatal(rc))
		rc = 0;
out:
	sodium_memzero(&k, sizeof k);
	sodium_memzero(blocks, sizeof blocks);
	sodium_memzero(back, sizeof back);
	sodium_memzero(trailer, sizeof trailer);
	return rc;
}

/* Wait until the card leaves the field: 0, or a fatal libnfc error (or
 * NFC_EOPABORTED when stopping). */
static int wait_removal(struct nfc_reader *r, nfc_device *dev)
{
	for (;;) {
		int rc = nfc_initiator_target_is_present(dev, NULL);

		if (rc < 0)
			return fatal(rc) ? rc : 0;
		if (pause_ms(r, NFC_IDLE_MS))
			return NFC_EOPABORTED;
	}
}

/* One card in the field.  0, or a fatal libnfc error. */
static int tap(struct nfc_reader *r, nfc_device *dev, const nfc_target *nt)
{
	const nfc_iso14443a_info *ai = &nt->nti.nai;
	struct reader_tap t;
	struct reader_answer a;
	char hex[2 * CN_UID_MAX + 1];
	const char *why;
	uint64_t now;
	int rc;

	if (ai->szUidLen < 4 || ai->szUidLen > CN_UID_MAX) {
		log_debug("nfc: a card with a %zu-byte UID: ignored", ai->szUidLen);
		return wait_removal(r, dev);
	}
	memset(&t, 0, sizeof t);
	memcpy(t.uid, ai->abtUid, ai->szUidLen);
	t.uid_len = (uint8_t)ai->szUidLen;
	uid_hex(t.uid, t.uid_len, hex);

	/* The same card again right after it left: a bounce, not a tap. */
	now = util_mono_ns();
	if (t.uid_len == r->last_uid_len &&
	    memcmp(t.uid, r->last_uid, t.uid_len) == 0 &&
	    now - r->last_seen_ns < (uint64_t)NFC_SAME_UID_MS * 1000000u) {
		log_debug("nfc: card %s again within %d ms: ignored", hex,
			  NFC_SAME_UID_MS);
		goto removal;
	}

	rc = tap_read(r, dev, &t);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		log_debug("nfc: card %s left before it was read", hex);
		return 0;
	}
	t.time_ms = util_now_ms();
	t.id = ++r->next_id;
	log_debug("nfc: tap %" PRIu64 ": card %s (ATQA %02x%02x SAK %02x), chip %s",
		  t.id, hex, ai->abtAtqa[0], ai->abtAtqa[1], ai->btSak,
		  card_status_name(t.chip));
	{
		struct event *ev = event_new(EV_TAP);

		if (ev == NULL) {
			log_warn("nfc: out of memory: tap %" PRIu64 " dropped", t.id);
			goto removal;
		}
		uv_mutex_lock(&r->mu);
		r->waiting = t.id;
		r->answered = false;
		uv_mutex_unlock(&r->mu);
		ev->tap = t;
		post(r, ev);
	}
	if (tap_wait(r, t.id, &a) && a.write) {
		rc = tap_write(r, dev, &t, &a, &why);
		if (rc < 0) {
			post_done(r, t.id, false, "the reader failed during the write");
			return rc;
		}
		log_debug("nfc: tap %" PRIu64 ": %s %s", t.id,
			  a.format ? "personalising" : "writing",
			  why == NULL ? "done" : why);
		post_done(r, t.id, why == NULL, why == NULL ? "" : why);
	}
	sodium_memzero(&t.data, sizeof t.data);
	sodium_memzero(&a, sizeof a);
removal:
	rc = wait_removal(r, dev);
	memcpy(r->last_uid, t.uid, t.uid_len);
	r->last_uid_len = t.uid_len;
	r->last_seen_ns = util_mono_ns();
	return rc;
}

/* ---- the thread: the device ------------------------------------------------- */

/* Poll the open device for cards until it fails or the reader stops:
 * the reason it failed (in why), or NULL when stopping. */
static const char *session(struct nfc_reader *r, nfc_device *dev,
			   char *why, size_t whylen)
{
	nfc_target nt;
	int rc;

	while (!stopping(r)) {
		memset(&nt, 0, sizeof nt);
		/* With NP_INFINITE_SELECT (set by nfc_initiator_init) this
		 * gives up after 300 ms: NFC_ETIMEOUT. */
		rc = nfc_initiator_select_passive_target(dev, nm_mifare, NULL, 0, &nt);
		if (rc == 1)
			rc = tap(r, dev, &nt);
		else if (rc == 0 || rc == NFC_ERFTRANS || rc == NFC_ETGRELEASED)
			rc = pause_ms(r, NFC_IDLE_MS) ? NFC_EOPABORTED : 0;
		if (rc == 0 || rc == NFC_ETIMEOUT || rc == NFC_EOPABORTED)
			continue;
		if (fatal(rc)) {
			snprintf(why, whylen, "%s", nfc_strerror(dev));
			return why;
		}
		log_debug("nfc: selecting a card failed: %s", nfc_strerror(dev));
		if (pause_ms(r, NFC_IDLE_MS))
			break;
	}
	return NULL;
}

static void set_dev(struct nfc_reader *r, nfc_device *dev)
{
	uv_mutex_lock(&r->mu);
	r->dev = dev;
	uv_mutex_unlock(&r->mu);
}

static void run(void *arg)
{
	struct nfc_reader *r = arg;
	uint64_t backoff = NFC_RETRY_MIN_MS;
	char why[160], lostwhy[96];

	r->ctx = ctx_get();
	if (r->ctx == NULL) {
		log_warn("nfc: libnfc could not start (out of memory)");
		post_state(r, false, "libnfc could not start");
		return;
	}
	while (!stopping(r)) {
		nfc_device *dev = nfc_open(r->ctx, r->connstring);
		const char *lost;

		if (dev != NULL && nfc_initiator_init(dev) < 0) {
			snprintf(why, sizeof why, "%s: initialising the reader "
				 "failed: %s", r->connstring, nfc_strerror(dev));
			nfc_close(dev);
			dev = NULL;
		} else if (dev == NULL) {
			snprintf(why, sizeof why, "%s: cannot open the reader",
				 r->connstring);
		}
		if (dev == NULL) {
			if (!r->state_posted || r->up)
				log_info("nfc: %s; retrying (every %d s at most)",
					 why, NFC_RETRY_MAX_MS / 1000);
			else
				log_debug("nfc: %s; next try in %" PRIu64 " ms", why,
					  backoff);
			post_state(r, false, why);
			if (pause_ms(r, backoff))
				break;
			backoff = backoff * 2 < NFC_RETRY_MAX_MS ? backoff * 2
								 : NFC_RETRY_MAX_MS;
			continue;
		}
		set_dev(r, dev);
		log_info("nfc: reader %s opened", r->connstring);
		post_state(r, true, nfc_device_get_name(dev));
		backoff = NFC_RETRY_MIN_MS;

		lost = session(r, dev, lostwhy, sizeof lostwhy);
		set_dev(r, NULL);
		if (lost != NULL) {
			snprintf(why, sizeof why, "%s: %s", r->connstring, lost);
			log_info("nfc: reader lost: %s", why);
			post_state(r, false, why);
		}
		nfc_close(dev);
		if (lost != NULL && pause_ms(r, backoff))
			break;
	}
	ctx_put();
	r->ctx = NULL;
}

/* ---- the loop side ---------------------------------------------------------- */

static void reader_free(struct nfc_reader *r)
{
	free_events(r->events);
	uv_cond_destroy(&r->cond);
	uv_mutex_destroy(&r->mu);
	sodium_memzero(r->master, sizeof r->master);
	free(r->connstring);
	free(r);
}

static void on_async_closed(uv_handle_t *h)
{
	reader_free(h->data);
}

int nfc_reader_start(struct nfc_reader **out, uv_loop_t *loop,
		     const char *connstring,
		     const uint8_t master[static CN_KEY_LEN],
		     const struct nfc_callbacks *cb)
{
	struct nfc_reader *r;

	*out = NULL;
	if (connstring == NULL || cb == NULL)
		return CN_ERR_INVAL;
	if (sodium_init() < 0)
		return CN_ERR_IO;
	if ((r = calloc(1, sizeof *r)) == NULL)
		return CN_ERR_NOMEM;
	if ((r->connstring = strdup(connstring)) == NULL) {
		free(r);
		return CN_ERR_NOMEM;
	}
	r->loop = loop;
	r->cb = *cb;
	memcpy(r->master, master, CN_KEY_LEN);
	if (uv_mutex_init(&r->mu) != 0) {
		sodium_memzero(r->master, sizeof r->master);
		free(r->connstring);
		free(r);
		return CN_ERR_IO;
	}
	if (uv_cond_init(&r->cond) != 0) {
		uv_mutex_destroy(&r->mu);
		sodium_memzero(r->master, sizeof r->master);
		free(r->connstring);
		free(r);
		return CN_ERR_IO;
	}
	if (uv_async_init(loop, &r->async, on_async) != 0) {
		reader_free(r);
		return CN_ERR_IO;
	}
	r->async.data = r;
	if (uv_thread_create(&r->thread, run, r) != 0) {
		nfc_reader_stop(r);
		return CN_ERR_IO;
	}
	r->running = true;
	*out = r;
	return CN_OK;
}

void nfc_reader_answer(struct nfc_reader *r, uint64_t id,
		       const struct reader_answer *a)
{
	if (r == NULL || a == NULL)
		return;
	uv_mutex_lock(&r->mu);
	if (!r->stop && r->waiting == id && id != 0 && !r->answered) {
		r->answer = *a;
		r->answered = true;
		uv_cond_signal(&r->cond);
	}
	uv_mutex_unlock(&r->mu);
}

void nfc_reader_stop(struct nfc_reader *r)
{
	if (r == NULL || r->stopped)
		return;
	r->stopped = true;
	uv_mutex_lock(&r->mu);
	r->stop = true;
	uv_cond_signal(&r->cond);
	if (r->dev != NULL)
		(void)nfc_abort_command(r->dev);
	uv_mutex_unlock(&r->mu);
	if (r->running)
		uv_thread_join(&r->thread);
	r->running = false;
	memset(&r->cb, 0, sizeof r->cb);
	sodium_memzero(r->master, sizeof r->master);
	sodium_memzero(&r->answer, sizeof r->answer);
	uv_close((uv_handle_t *)&r->async, on_async_closed);
}
