/*
 * test_reader_nfc.c — the libnfc reader backend (reader/nfc.h) on a libuv
 * loop against pn532emu: a blank card personalised, read back from the
 * card image, tapped again; a resting card is one tap and a bounce is
 * none; a forged sector, a card with other keys, a rewrite under key B;
 * unplug and plug without restarting the reader; and stopping promptly,
 * while polling and while a tap waits for its answer.
 *
 * usage: test_reader_nfc PATH_TO_PN532EMU
 * Environment: CN_TEST_TMP (scratch directory, default /tmp),
 * PN532EMU_LOG=1 (frame trace on stderr), LIBNFC_LOG_LEVEL (default 0).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "card.h"
#include "check.h"
#include "log.h"
#include "nfc.h"

#include "emu_client.h"

/* ---- the reader on a loop --------------------------------------------- */

struct tctx {
	struct nfc_reader *r;
	int taps, dones, ups, downs;
	struct reader_tap tap;       /* the last one */
	uint64_t tap_ms;             /* monotonic, when it arrived */
	bool done_ok;
	uint64_t done_id, done_ms;
	char done_why[160];
	bool up;
	char state_why[160];
	bool arm;                    /* answer the next tap with `answer` */
	struct reader_answer answer;
};

static uv_loop_t loop;
static uv_timer_t tick;
static struct tctx T, T2;
static uint8_t master[CN_KEY_LEN];

static void on_tap(void *ctx, const struct reader_tap *t)
{
	struct tctx *c = ctx;

	c->taps++;
	c->tap = *t;
	c->tap_ms = now_ms();
	printf("  tap %llu: chip %s, card %s\n", (unsigned long long)t->id,
	       card_status_name(t->chip), t->chip == CARD_OK ? t->data.card_no : "-");
	if (c->arm) {
		c->arm = false;
		nfc_reader_answer(c->r, t->id, &c->answer);
	}
}

static void on_done(void *ctx, uint64_t id, bool ok, const char *why)
{
	struct tctx *c = ctx;

	c->dones++;
	c->done_id = id;
	c->done_ok = ok;
	c->done_ms = now_ms();
	snprintf(c->done_why, sizeof c->done_why, "%s", why);
	printf("  done %llu: %s%s%s\n", (unsigned long long)id, ok ? "ok" : "failed",
	       *why ? ": " : "", why);
}

static void on_state(void *ctx, bool up, const char *why)
{
	struct tctx *c = ctx;

	c->up = up;
	if (up)
		c->ups++;
	else
		c->downs++;
	snprintf(c->state_why, sizeof c->state_why, "%s", why);
	printf("  reader %s: %s\n", up ? "up" : "down", why);
}

static void on_tick(uv_timer_t *h)
{
	(void)h;
}

/* Run the loop until *flag reaches `want` or `ms` pass; true if it did. */
static bool run_until(const int *counter, int want, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	while (*counter < want && now_ms() < end)
		uv_run(&loop, UV_RUN_ONCE);
	return *counter >= want;
}

static void run_for(int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	while (now_ms() < end)
		uv_run(&loop, UV_RUN_ONCE);
}

static struct nfc_reader *reader_start_ctx(struct tctx *c, const char *connstring)
{
	struct nfc_callbacks cb = {
		.tap = on_tap, .done = on_done, .state = on_state, .ctx = c,
	};
	struct nfc_reader *r;

	CHECK_EQ(nfc_reader_start(&r, &loop, connstring, master, &cb), CN_OK);
	CHECK(r != NULL);
	c->r = r;
	return r;
}

static struct nfc_reader *reader_start(const char *connstring)
{
	return reader_start_ctx(&T, connstring);
}

/* ---- card images -------------------------------------------------------- */

static void image_read(const char *path, uint8_t img[1024])
{
	FILE *f = fopen(path, "rb");

	CHECK(f != NULL);
	CHECK_EQ(fread(img, 1, 1024, f), 1024);
	fclose(f);
}

static void image_write(const char *path, const uint8_t img[1024])
{
	FILE *f = fopen(path, "wb");

	CHECK(f != NULL);
	CHECK_EQ(fwrite(img, 1, 1024, f), 1024);
	CHECK_EQ(fclose(f), 0);
}

static enum card_status image_decode(const uint8_t img[1024], const uint8_t *uid,
				     size_t n, struct card_data *d)
{
	return card_decode(master, uid, n,
			   (const uint8_t (*)[CARD_BLOCK_LEN])(img + 16 * CARD_BLOCK_FIRST),
			   d);
}

static struct reader_answer answer_of(bool format, const char *no,
				      uint32_t through, uint32_t term)
{
	struct reader_answer a;

	memset(&a, 0, sizeof a);
	a.write = true;
	a.format = format;
	snprintf(a.data.card_no, sizeof a.data.card_no, "%s", no);
	a.data.valid_through = through;
	a.data.term = term;
	return a;
}

static void check_tap(const uint8_t *uid, size_t n, enum card_status chip)
{
	CHECK_EQ(T.tap.uid_len, n);
	CHECK_MEM(T.tap.uid, uid, n);
	CHECK_EQ(T.tap.chip, chip);
	CHECK(T.tap.time_ms > 0);
	if (chip != CARD_OK)
		CHECK_EQ(T.tap.data.card_no[0], 0);
}

/* ---- the scenario ----------------------------------------------------- */

int main(int argc, char **argv)
{
	static const uint8_t uid_a[4] = { 0xA1, 0xB2, 0xC3, 0xD4 };
	static const uint8_t uid_b[7] = { 0x04, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76 };
	static const uint8_t uid_c[4] = { 0x0C, 0x0C, 0x0C, 0x0C };
	char dir[4096], link[4200], connstring[4300], dump[4200];
	const char *tmp = getenv("CN_TEST_TMP");
	uint8_t img[1024];
	struct card_data d;
	struct card_keys k;
	struct emu e;
	uint64_t t0, place_to_tap, tap_to_done, stop_ms;
	int taps;

	if (argc != 2) {
		fprintf(stderr, "usage: test_reader_nfc PATH_TO_PN532EMU\n");
		return 2;
	}
	emu_bin = argv[1];
	alarm(110); /* the whole test, whatever hangs */
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	setenv("LIBNFC_LOG_LEVEL", "0", 0);
	CHECK(sodium_init() >= 0);
	log_set_level(LOG_DEBUG);
	for (size_t i = 0; i < sizeof master; i++)
		master[i] = (uint8_t)(0x11 * i + 3);
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	mkdir(tmp, 0700);
	snprintf(dir, sizeof dir, "%s/reader_nfc.XXXXXX", tmp);
	CHECK(mkdtemp(dir) != NULL);
	snprintf(link, sizeof link, "%s/reader", dir);
	snprintf(connstring, sizeof connstring, "pn532_uart:%s", link);
	snprintf(dump, sizeof dump, "%s/card.bin", dir);

	CHECK_EQ(uv_loop_init(&loop), 0);
	CHECK_EQ(uv_timer_init(&loop, &tick), 0);
	CHECK_EQ(uv_timer_start(&tick, on_tick, 5, 5), 0);

	emu_start(&e, link);
	/* A second reader in the same process that never opens: it shares
	 * libnfc's context with the first one, and stays down. */
	snprintf(dump, sizeof dump, "pn532_uart:%s/absent", dir);
	reader_start_ctx(&T2, dump);
	snprintf(dump, sizeof dump, "%s/card.bin", dir);
	reader_start(connstring);
	CHECK(run_until(&T.ups, 1, 5000));
	CHECK(T.up);
	CHECK_EQ(T.downs, 0);

	/* A blank card: tapped as blank, personalised by the answer. */
	T.arm = true;
	T.answer = answer_of(true, "1234567890123", 202611, 20262);
	t0 = now_ms();
	EMU_OK(&e, "place A1B2C3D4");
	CHECK(run_until(&T.taps, 1, 3000));
	place_to_tap = T.tap_ms - t0;
	check_tap(uid_a, 4, CARD_BLANK);
	CHECK(run_until(&T.dones, 1, 3000));
	tap_to_done = T.done_ms - T.tap_ms;
	CHECK(T.done_ok);
	CHECK_EQ(T.done_id, T.tap.id);
	/* Resting on the reader for 3 s more: still one tap. */
	run_for(3000);
	CHECK_EQ(T.taps, 1);
	CHECK_EQ(T.dones, 1);
	printf("reader_nfc: blank card personalised (placed → tap %llu ms, "
	       "tap → written and verified %llu ms); resting card one tap\n",
	       (unsigned long long)place_to_tap, (unsigned long long)tap_to_done);

	/* The image: blocks 4–6 decode; the trailer holds the derived keys. */
	EMU_OK(&e, "dump %s A1B2C3D4", dump);
	image_read(dump, img);
	CHECK_EQ(image_decode(img, uid_a, 4, &d), CARD_OK);
	CHECK_STR(d.card_no, "1234567890123");
	CHECK_EQ(d.valid_through, 202611);
	CHECK_EQ(d.term, 20262);
	card_keys_derive(master, uid_a, 4, &k);
	CHECK_MEM(img + 16 * CARD_TRAILER, k.a, 6);
	CHECK_MEM(img + 16 * CARD_TRAILER + 10, k.b, 6);
	{
		static const uint8_t acc[4] = { 0x78, 0x77, 0x88, 0x69 };

		CHECK_MEM(img + 16 * CARD_TRAILER + 6, acc, 4);
	}
	/* Other sectors untouched: sector 2's trailer is the transport one. */
	CHECK_EQ(img[16 * 11 + 7], 0x07);
	printf("reader_nfc: card image ok\n");

	/* Taken away and put back at once: a bounce, no tap. */
	EMU_OK(&e, "remove");
	run_for(300);
	EMU_OK(&e, "place A1B2C3D4");
	run_for(1000);
	CHECK_EQ(T.taps, 1);
	EMU_OK(&e, "remove");
	/* After NFC_SAME_UID_MS: a tap, with the data. */
	run_for(NFC_SAME_UID_MS + 400);
	t0 = now_ms();
	EMU_OK(&e, "place A1B2C3D4");
	CHECK(run_until(&T.taps, 2, 3000));
	place_to_tap = T.tap_ms - t0;
	check_tap(uid_a, 4, CARD_OK);
	CHECK_STR(T.tap.data.card_no, "1234567890123");
	CHECK_EQ(T.tap.data.valid_through, 202611);
	CHECK_EQ(T.tap.data.term, 20262);
	/* Unanswered: no write. */
	run_for(NFC_ANSWER_MS + 300);
	CHECK_EQ(T.dones, 1);
	EMU_OK(&e, "remove");
	printf("reader_nfc: bounce ignored; tapped again after %d ms: ok "
	       "(placed → tap %llu ms)\n", NFC_SAME_UID_MS,
	       (unsigned long long)place_to_tap);

	/* Rewrite under key B: the answer without format. */
	run_for(NFC_SAME_UID_MS + 400);
	T.arm = true;
	T.answer = answer_of(false, "1234567890123", 202612, 20271);
	EMU_OK(&e, "place A1B2C3D4");
	CHECK(run_until(&T.taps, 3, 3000));
	check_tap(uid_a, 4, CARD_OK);
	CHECK_EQ(T.tap.data.valid_through, 202611);
	CHECK(run_until(&T.dones, 2, 3000));
	CHECK(T.done_ok);
	tap_to_done = T.done_ms - T.tap_ms;
	EMU_OK(&e, "remove");
	EMU_OK(&e, "dump %s A1B2C3D4", dump);
	image_read(dump, img);
	CHECK_EQ(image_decode(img, uid_a, 4, &d), CARD_OK);
	CHECK_EQ(d.valid_through, 202612);
	CHECK_EQ(d.term, 20271);
	CHECK_MEM(img + 16 * CARD_TRAILER + 10, k.b, 6);
	printf("reader_nfc: rewrite under key B ok (tap → written and verified "
	       "%llu ms)\n", (unsigned long long)tap_to_done);

	/* A card whose sector has other keys: unreadable; no write either. */
	{
		uint8_t other[1024];

		memset(other, 0, sizeof other);
		for (int s = 0; s < 16; s++) {
			static const uint8_t t[16] = {
				0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0xFF, 0x07, 0x80,
				0x69, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
			};
			memcpy(other + 64 * s + 48, t, 16);
		}
		memcpy(other, uid_b, 7);
		image_write(dump, other);
	}
	T.arm = true;
	T.answer = answer_of(true, "999", 0, 0);
	EMU_OK(&e, "place 04213243546576 %s", dump);
	CHECK(run_until(&T.taps, 4, 3000));
	check_tap(uid_b, 7, CARD_UNREADABLE);
	CHECK(run_until(&T.dones, 3, 3000));
	CHECK(!T.done_ok);
	EMU_OK(&e, "remove");
	printf("reader_nfc: unknown keys: unreadable, format refused (%s)\n",
	       T.done_why);

	/* One byte of block 5 altered, keeping it well-formed
	 * (valid_through 202612 → 202610, its low byte 0x74 → 0x72): forged. */
	EMU_OK(&e, "dump %s A1B2C3D4", dump);
	image_read(dump, img);
	CHECK_EQ(img[16 * 5 + 11], 202612 & 0xFF);
	img[16 * 5 + 11] = 202610 & 0xFF;
	image_write(dump, img);
	T.arm = true;
	T.answer = answer_of(true, "1234567890123", 202612, 20271);
	EMU_OK(&e, "place A1B2C3D4 %s", dump);
	CHECK(run_until(&T.taps, 5, 3000));
	check_tap(uid_a, 4, CARD_FORGED);
	/* Personalising an already personalised card fails: not under the
	 * transport key. */
	CHECK(run_until(&T.dones, 4, 3000));
	CHECK(!T.done_ok);
	EMU_OK(&e, "remove");
	printf("reader_nfc: altered block 5: forged; format refused (%s)\n",
	       T.done_why);

	/* Unplugged: down; plugged: up again, and taps resume. */
	EMU_OK(&e, "unplug");
	CHECK(run_until(&T.downs, 1, 3000));
	CHECK(!T.up);
	run_for(1500);
	EMU_OK(&e, "plug");
	t0 = now_ms();
	CHECK(run_until(&T.ups, 2, NFC_RETRY_MIN_MS * 16 + 2000));
	printf("reader_nfc: replugged reader back after %llu ms\n",
	       (unsigned long long)(now_ms() - t0));
	EMU_OK(&e, "place 0C0C0C0C");
	CHECK(run_until(&T.taps, 6, 3000));
	check_tap(uid_c, 4, CARD_BLANK);
	EMU_OK(&e, "remove");
	printf("reader_nfc: unplug and plug ok\n");

	/* The reader that never opened said so once, and nothing else. */
	CHECK_EQ(T2.downs, 1);
	CHECK_EQ(T2.ups + T2.taps + T2.dones, 0);
	nfc_reader_stop(T2.r);

	/* Stop while polling: prompt, and no callback after it. */
	run_for(500);
	taps = T.taps;
	t0 = now_ms();
	nfc_reader_stop(T.r);
	stop_ms = now_ms() - t0;
	CHECK_INT(stop_ms, <, 1000);
	EMU_OK(&e, "place A1B2C3D4");
	run_for(500);
	CHECK_EQ(T.taps, taps);
	EMU_OK(&e, "remove");
	printf("reader_nfc: stop while polling: %llu ms\n",
	       (unsigned long long)stop_ms);

	/* Stop while a tap waits for its answer. */
	memset(&T, 0, sizeof T);
	reader_start(connstring);
	CHECK(run_until(&T.ups, 1, 5000));
	EMU_OK(&e, "place 0C0C0C0C");
	CHECK(run_until(&T.taps, 1, 3000));
	t0 = now_ms();
	nfc_reader_stop(T.r);
	stop_ms = now_ms() - t0;
	CHECK_INT(stop_ms, <, 1000);
	printf("reader_nfc: stop while a tap waits: %llu ms\n",
	       (unsigned long long)stop_ms);

	/* Stop while the reader is missing (between retries). */
	memset(&T, 0, sizeof T);
	EMU_OK(&e, "unplug");
	reader_start(connstring);
	CHECK(run_until(&T.downs, 1, 3000));
	t0 = now_ms();
	nfc_reader_stop(T.r);
	stop_ms = now_ms() - t0;
	CHECK_INT(stop_ms, <, 1000);
	nfc_reader_stop(NULL);
	printf("reader_nfc: stop while the reader is missing: %llu ms\n",
	       (unsigned long long)stop_ms);

	/* Everything closes. */
	uv_close((uv_handle_t *)&tick, NULL);
	CHECK_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
	CHECK_EQ(uv_loop_close(&loop), 0);
	EMU_OK(&e, "quit");
	CHECK_EQ(emu_wait(&e, 5000), 0);
	sodium_memzero(&k, sizeof k);
	unlink(dump);
	rmdir(dir);
	printf("reader_nfc: all ok\n");
	return 0;
}
