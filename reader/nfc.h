/*
 * nfc.h — the libnfc reader backend (DESIGN §9): a PN532 over UART, an
 * ACR122U over USB, or anything libnfc opens by a connstring.
 *
 * A thread of its own polls the reader and talks to the card; the daemon's
 * libuv loop hears about taps through a uv_async handle and answers each
 * tap; the thread then writes the card if asked, and waits for the card to
 * leave the field before it looks for the next one.
 *
 * One tap:
 *   1. a card enters the field: select it, read its UID; authenticate the
 *      education sector (card.h) with the card's key A and read blocks 4–6
 *      (card_decode); failing that, try the transport key: a blank card;
 *      failing both, CARD_UNREADABLE;
 *   2. post the tap (cb, in the loop thread) and wait for nfc_reader_answer
 *      (at most NFC_ANSWER_MS; no answer means no write);
 *   3. if the answer says so, write the education sector: personalise
 *      (format: data blocks then the trailer, under the transport key) or
 *      rewrite the data blocks (under the card's key B); report the
 *      outcome with done_cb (in the loop thread);
 *   4. wait until the card is removed (the same card resting on the reader
 *      is one tap), and ignore the same UID for NFC_SAME_UID_MS after.
 * A reader that cannot be opened, or fails (unplugged: NFC_EIO), is closed
 * and reopened with backoff (NFC_RETRY_MIN_MS doubling to NFC_RETRY_MAX_MS);
 * state_cb says when it comes and goes.  The daemon keeps replicating
 * meanwhile.
 *
 * All functions are called from the loop thread.
 */
#ifndef CN_NFC_H
#define CN_NFC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "card.h"
#include "cn.h"

#define NFC_ANSWER_MS 2000
#define NFC_SAME_UID_MS 2000
#define NFC_RETRY_MIN_MS 500
#define NFC_RETRY_MAX_MS 30000

struct reader_tap {
	uint64_t id;                 /* pass back to nfc_reader_answer */
	uint64_t time_ms;            /* wall clock when the card was read */
	uint8_t uid[CN_UID_MAX];
	uint8_t uid_len;
	enum card_status chip;       /* what the education sector holds */
	struct card_data data;       /* valid when chip == CARD_OK */
};

struct reader_answer {
	bool write;                  /* write `data` to the card */
	bool format;                 /* … personalising a blank card */
	struct card_data data;
};

struct nfc_callbacks {
	/* A tap: answer it with nfc_reader_answer(t->id, …). */
	void (*tap)(void *ctx, const struct reader_tap *t);
	/* The write asked for tap `id` is done (ok) or failed (why). */
	void (*done)(void *ctx, uint64_t id, bool ok, const char *why);
	/* The reader was opened (up) or lost (down, why). */
	void (*state)(void *ctx, bool up, const char *why);
	void *ctx;
};

struct nfc_reader;

/* Start the thread for `connstring` (a libnfc connstring such as
 * "pn532_uart:/dev/ttyUSB0").  master: the card master key (copied,
 * wiped at stop).  Returns 0, CN_ERR_NOMEM or CN_ERR_IO (thread or handle
 * creation failed); a reader that is absent is not an error (it is
 * retried). */
int nfc_reader_start(struct nfc_reader **out, uv_loop_t *loop,
		     const char *connstring,
		     const uint8_t master[static CN_KEY_LEN],
		     const struct nfc_callbacks *cb);

/* Answer tap `id` (ignored if the thread stopped waiting for it). */
void nfc_reader_answer(struct nfc_reader *r, uint64_t id,
		       const struct reader_answer *a);

/* Stop: abort any libnfc call under way, join the thread, close the
 * device, and start closing the async handle (the loop frees the rest).
 * No callback runs after this returns.  r may be NULL. */
void nfc_reader_stop(struct nfc_reader *r);

#endif
