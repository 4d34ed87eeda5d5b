/*
 * test_pn532emu.c — the real libnfc (pn532_uart driver) against pn532emu:
 * open, select, poll, MIFARE Classic authenticate/read/write, a wrong key,
 * card removal, a 7-byte UID, unplug and plug under the same connstring,
 * the card image dump, malformed frames and garbage on the line, and the
 * emulator's ways to exit.
 *
 * usage: test_pn532emu PATH_TO_PN532EMU
 * Environment: CN_TEST_TMP (scratch directory, default /tmp),
 * PN532EMU_LOG=1 (frame trace on stderr), LIBNFC_LOG_LEVEL (default 0).
 */
#include <errno.h>
#include <fcntl.h>
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
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <nfc/nfc.h>

#include "check.h"

#include "emu_client.h"

static bool path_exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

/* ---- libnfc helpers --------------------------------------------------- */

static const nfc_modulation nm_a = { .nmt = NMT_ISO14443A, .nbr = NBR_106 };
static const uint8_t key_ff[6] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };
static const uint8_t key_zero[6] = { 0 };
static const uint8_t key_zero16[16] = { 0 };

static int mf_auth(nfc_device *pnd, uint8_t cmd, uint8_t blk,
		   const uint8_t key[6], const nfc_target *nt)
{
	uint8_t tx[12], rx[16];
	const nfc_iso14443a_info *a = &nt->nti.nai;

	tx[0] = cmd;
	tx[1] = blk;
	memcpy(tx + 2, key, 6);
	memcpy(tx + 8, a->abtUid + a->szUidLen - 4, 4);
	return nfc_initiator_transceive_bytes(pnd, tx, sizeof tx, rx, sizeof rx, 500);
}

static int mf_read(nfc_device *pnd, uint8_t blk, uint8_t out[16])
{
	uint8_t tx[2] = { 0x30, blk };

	return nfc_initiator_transceive_bytes(pnd, tx, sizeof tx, out, 16, 500);
}

static int mf_write(nfc_device *pnd, uint8_t blk, const uint8_t data[16])
{
	uint8_t tx[18], rx[16];

	tx[0] = 0xA0;
	tx[1] = blk;
	memcpy(tx + 2, data, 16);
	return nfc_initiator_transceive_bytes(pnd, tx, sizeof tx, rx, sizeof rx, 500);
}

static int select_any(nfc_device *pnd, nfc_target *nt)
{
	memset(nt, 0, sizeof *nt);
	return nfc_initiator_select_passive_target(pnd, nm_a, NULL, 0, nt);
}

static nfc_device *open_reader(nfc_context *ctx, const char *connstring)
{
	nfc_device *pnd = nfc_open(ctx, connstring);
	char *info = NULL;

	CHECK(pnd != NULL);
	/* GetFirmwareVersion as libnfc decoded it. */
	CHECK(nfc_device_get_information_about(pnd, &info) >= 0);
	CHECK(strstr(info, "chip: PN532 v1.6") != NULL);
	nfc_free(info);
	CHECK_EQ(nfc_initiator_init(pnd), 0);
	return pnd;
}

static void check_uid(const nfc_target *nt, const uint8_t *uid, size_t n,
		      uint8_t atqa1)
{
	CHECK_EQ(nt->nm.nmt, NMT_ISO14443A);
	CHECK_EQ(nt->nti.nai.szUidLen, n);
	CHECK_MEM(nt->nti.nai.abtUid, uid, n);
	CHECK_EQ(nt->nti.nai.abtAtqa[0], 0x00);
	CHECK_EQ(nt->nti.nai.abtAtqa[1], atqa1);
	CHECK_EQ(nt->nti.nai.btSak, 0x08);
	CHECK_EQ(nt->nti.nai.szAtsLen, 0);
}

/* ---- raw frames on the pty -------------------------------------------- */

/* Everything the emulator writes within `ms`. */
static size_t raw_collect(int fd, uint8_t *buf, size_t cap, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	size_t len = 0;

	while (len < cap) {
		uint64_t now = now_ms();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (now >= end)
			break;
		if (poll(&pfd, 1, (int)(end - now)) <= 0)
			continue;
		n = read(fd, buf + len, cap - len);
		if (n > 0)
			len += (size_t)n;
	}
	return len;
}

static void raw_write(int fd, const uint8_t *b, size_t n)
{
	CHECK_EQ(write(fd, b, n), (long long)n);
}

static bool contains(const uint8_t *hay, size_t n, const uint8_t *needle,
		     size_t k)
{
	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(hay + i, needle, k) == 0)
			return true;
	return false;
}

static const uint8_t ack[] = { 0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00 };
static const uint8_t fw_cmd[] = { 0x00, 0x00, 0xFF, 0x02, 0xFE, 0xD4, 0x02, 0x2A, 0x00 };
static const uint8_t fw_reply[] = { 0x00, 0x00, 0xFF, 0x06, 0xFA, 0xD5, 0x03, 0x32,
				    0x01, 0x06, 0x07, 0xE8, 0x00 };

static void test_garbage(const char *link)
{
	/* The same command as an extended frame, an unknown command, a bad
	 * data checksum, a bad length checksum, a foreign TFI. */
	static const uint8_t fw_ext[] = { 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0x00, 0x02,
					  0xFE, 0xD4, 0x02, 0x2A, 0x00 };
	static const uint8_t unknown[] = { 0x00, 0x00, 0xFF, 0x02, 0xFE, 0xD4, 0xFE,
					   0x2E, 0x00 };
	static const uint8_t error_frame[] = { 0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F,
					       0x81, 0x00 };
	static const uint8_t bad_dcs[] = { 0x00, 0x00, 0xFF, 0x02, 0xFE, 0xD4, 0x02,
					   0x2B, 0x00 };
	static const uint8_t bad_lcs[] = { 0x00, 0x00, 0xFF, 0x02, 0xFD, 0xD4, 0x02,
					   0x2A, 0x00 };
	static const uint8_t bad_tfi[] = { 0x00, 0x00, 0xFF, 0x02, 0xFE, 0xD5, 0x02,
					   0x29, 0x00 };
	static const uint8_t huge_ext[] = { 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0,
					    0x11, 0xD4 };
	static const uint8_t nack[] = { 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00 };
	uint8_t got[8192], junk[4096];
	struct termios tio;
	uint32_t x = 2463534242u;
	size_t n;
	int fd = open(link, O_RDWR | O_NOCTTY | O_NONBLOCK);

	CHECK(fd >= 0);
	CHECK(tcgetattr(fd, &tio) == 0);
	cfmakeraw(&tio);
	CHECK(tcsetattr(fd, TCSANOW, &tio) == 0);
	tcflush(fd, TCIOFLUSH);

	/* A good frame: ACK, then the answer, nothing else. */
	raw_write(fd, fw_cmd, sizeof fw_cmd);
	n = raw_collect(fd, got, sizeof got, 400);
	CHECK_EQ(n, sizeof ack + sizeof fw_reply);
	CHECK_MEM(got, ack, sizeof ack);
	CHECK_MEM(got + sizeof ack, fw_reply, sizeof fw_reply);
	/* NACK: the last answer again, without an ACK. */
	raw_write(fd, nack, sizeof nack);
	n = raw_collect(fd, got, sizeof got, 400);
	CHECK_EQ(n, sizeof fw_reply);
	CHECK_MEM(got, fw_reply, sizeof fw_reply);
	/* Extended frame in, the same answer out. */
	raw_write(fd, fw_ext, sizeof fw_ext);
	n = raw_collect(fd, got, sizeof got, 400);
	CHECK_EQ(n, sizeof ack + sizeof fw_reply);
	CHECK_MEM(got + sizeof ack, fw_reply, sizeof fw_reply);
	/* Unknown command: ACK and the application error frame. */
	raw_write(fd, unknown, sizeof unknown);
	n = raw_collect(fd, got, sizeof got, 400);
	CHECK_EQ(n, sizeof ack + sizeof error_frame);
	CHECK_MEM(got + sizeof ack, error_frame, sizeof error_frame);
	/* Checksum errors, a foreign TFI, an oversized extended length:
	 * silence, as from the chip. */
	raw_write(fd, bad_dcs, sizeof bad_dcs);
	raw_write(fd, bad_lcs, sizeof bad_lcs);
	raw_write(fd, bad_tfi, sizeof bad_tfi);
	raw_write(fd, huge_ext, sizeof huge_ext);
	n = raw_collect(fd, got, sizeof got, 300);
	CHECK_EQ(n, 0);

	/* 4 KB of noise (xorshift, fixed seed) with start codes sprinkled
	 * in, then a good frame right behind it: it is still answered. */
	for (size_t i = 0; i < sizeof junk; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		junk[i] = (uint8_t)x;
		if (i % 97 == 0 && i + 1 < sizeof junk) {
			junk[i++] = 0x00;
			junk[i] = 0xFF;
		}
	}
	for (size_t off = 0; off < sizeof junk; off += 256)
		raw_write(fd, junk + off, 256);
	raw_write(fd, fw_cmd, sizeof fw_cmd);
	n = raw_collect(fd, got, sizeof got, 1000);
	CHECK(contains(got, n, fw_reply, sizeof fw_reply));
	/* And once the line is quiet, a clean exchange again. */
	sleep_ms(100);
	tcflush(fd, TCIOFLUSH);
	raw_write(fd, fw_cmd, sizeof fw_cmd);
	n = raw_collect(fd, got, sizeof got, 400);
	CHECK_EQ(n, sizeof ack + sizeof fw_reply);
	CHECK_MEM(got + sizeof ack, fw_reply, sizeof fw_reply);
	close(fd);
	printf("pn532emu: malformed frames and noise ok\n");
}

/* ---- the scenario ----------------------------------------------------- */

int main(int argc, char **argv)
{
	static const uint8_t uid4[4] = { 0xDE, 0xAD, 0xBE, 0xEF };
	static const uint8_t uid7[7] = { 0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66 };
	uint8_t data[16], blk[16], image[1024 + 1];
	char dir[4096], link[4200], connstring[4300], dump[4200], path[4200];
	const char *tmp = getenv("CN_TEST_TMP");
	struct emu e, e2;
	nfc_context *ctx;
	nfc_device *pnd;
	nfc_target nt;
	FILE *f;
	size_t n;
	uint64_t t0;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: test_pn532emu PATH_TO_PN532EMU\n");
		return 2;
	}
	emu_bin = argv[1];
	alarm(100); /* the whole test, whatever hangs */
	signal(SIGPIPE, SIG_IGN);
	setenv("LIBNFC_LOG_LEVEL", "0", 0);
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	mkdir(tmp, 0700);
	snprintf(dir, sizeof dir, "%s/pn532emu.XXXXXX", tmp);
	CHECK(mkdtemp(dir) != NULL);
	snprintf(link, sizeof link, "%s/ttyPN532", dir);
	snprintf(connstring, sizeof connstring, "pn532_uart:%s", link);
	snprintf(dump, sizeof dump, "%s/dump.bin", dir);

	emu_start(&e, link);
	{
		char target[256];
		ssize_t k = readlink(link, target, sizeof target - 1);

		CHECK(k > 0);
		target[k] = '\0';
		CHECK(strncmp(target, "/dev/pts/", 9) == 0);
	}
	/* The command language rejects what it does not know. */
	CHECK(strncmp(emu_cmd(&e, "frobnicate"), "error: ", 7) == 0);
	CHECK(strncmp(emu_cmd(&e, "place XYZ"), "error: ", 7) == 0);
	CHECK(strncmp(emu_cmd(&e, "place 0102030405"), "error: ", 7) == 0);
	CHECK(strncmp(emu_cmd(&e, "remove"), "error: ", 7) == 0);
	CHECK(strncmp(emu_cmd(&e, "plug"), "error: ", 7) == 0);
	CHECK(strncmp(emu_cmd(&e, "dump %s", dump), "error: ", 7) == 0);
	CHECK(strncmp(emu_cmd(&e, "place DEADBEEF %s/missing", dir), "error: ", 7) == 0);
	EMU_OK(&e, "ping");

	nfc_init(&ctx);
	CHECK(ctx != NULL);
	pnd = open_reader(ctx, connstring);

	/* No card: select times out (infinite select), or finds nothing. */
	r = select_any(pnd, &nt);
	CHECK_EQ(r, NFC_ETIMEOUT);
	CHECK_EQ(nfc_device_set_property_bool(pnd, NP_INFINITE_SELECT, false), 0);
	CHECK_EQ(select_any(pnd, &nt), 0);
	/* InAutoPoll: 2 rounds of 150 ms find nothing. */
	t0 = now_ms();
	CHECK_EQ(nfc_initiator_poll_target(pnd, &nm_a, 1, 2, 1, &nt), 0);
	CHECK_INT(now_ms() - t0, >=, 250);
	printf("pn532emu: no card ok\n");

	/* A 4-byte UID card. */
	EMU_OK(&e, "place DEADBEEF");
	CHECK_EQ(select_any(pnd, &nt), 1);
	check_uid(&nt, uid4, 4, 0x04);
	/* Block 0: UID, BCC, SAK, ATQA. */
	CHECK_EQ(mf_auth(pnd, 0x60, 0, key_ff, &nt), 0);
	CHECK_EQ(mf_read(pnd, 0, blk), 16);
	CHECK_MEM(blk, uid4, 4);
	CHECK_EQ(blk[4], 0xDE ^ 0xAD ^ 0xBE ^ 0xEF);
	CHECK_EQ(blk[5], 0x08);
	/* Sector 1: write block 4, read it back. */
	CHECK_EQ(mf_auth(pnd, 0x60, 4, key_ff, &nt), 0);
	for (int i = 0; i < 16; i++)
		data[i] = (uint8_t)(0xA0 + i);
	CHECK_EQ(mf_write(pnd, 4, data), 0);
	CHECK_EQ(mf_read(pnd, 4, blk), 16);
	CHECK_MEM(blk, data, 16);
	/* The trailer reads back without key A; transport access bits. */
	CHECK_EQ(mf_read(pnd, 7, blk), 16);
	{
		static const uint8_t trailer[16] = {
			0, 0, 0, 0, 0, 0, 0xFF, 0x07, 0x80, 0x69,
			0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
		};
		CHECK_MEM(blk, trailer, 16);
	}
	/* Outside the authenticated sector: refused, and the card drops out
	 * until selected again. */
	CHECK_EQ(mf_read(pnd, 8, blk), NFC_ERFTRANS);
	CHECK_EQ(mf_read(pnd, 4, blk), NFC_ERFTRANS);
	CHECK_EQ(select_any(pnd, &nt), 1);
	/* A wrong key fails, and so does a read after it. */
	CHECK_EQ(mf_auth(pnd, 0x60, 4, key_zero, &nt), NFC_EMFCAUTHFAIL);
	CHECK_EQ(mf_read(pnd, 4, blk), NFC_ERFTRANS);
	CHECK_EQ(select_any(pnd, &nt), 1);
	CHECK_EQ(mf_auth(pnd, 0x61, 4, key_zero, &nt), NFC_EMFCAUTHFAIL);
	CHECK_EQ(select_any(pnd, &nt), 1);
	/* Key B works too; no read without authentication. */
	CHECK_EQ(mf_read(pnd, 4, blk), NFC_ERFTRANS);
	CHECK_EQ(select_any(pnd, &nt), 1);
	CHECK_EQ(mf_auth(pnd, 0x61, 4, key_ff, &nt), 0);
	printf("pn532emu: 4-byte UID, auth, read, write ok\n");

	/* Sector 2 gets its own keys and access bits 78 77 88: data blocks
	 * read with A or B, written with B only; key B is not readable. */
	{
		static const uint8_t ka[6] = { 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6 };
		static const uint8_t kb[6] = { 0xB1, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6 };
		static const uint8_t acc[4] = { 0x78, 0x77, 0x88, 0x69 };
		uint8_t t[16];

		memcpy(t, ka, 6);
		memcpy(t + 6, acc, 4);
		memcpy(t + 10, kb, 6);
		CHECK_EQ(select_any(pnd, &nt), 1);
		CHECK_EQ(mf_auth(pnd, 0x60, 8, key_ff, &nt), 0);
		CHECK_EQ(mf_write(pnd, 8, data), 0);
		CHECK_EQ(mf_write(pnd, 11, t), 0);
		/* The new access bits hold at once: key A writes no more. */
		CHECK_EQ(mf_write(pnd, 8, data), NFC_ERFTRANS);
		CHECK_EQ(select_any(pnd, &nt), 1);
		/* The old key is gone. */
		CHECK_EQ(mf_auth(pnd, 0x60, 8, key_ff, &nt), NFC_EMFCAUTHFAIL);
		CHECK_EQ(select_any(pnd, &nt), 1);
		CHECK_EQ(mf_auth(pnd, 0x60, 9, ka, &nt), 0);
		CHECK_EQ(mf_read(pnd, 8, blk), 16);
		CHECK_MEM(blk, data, 16);
		CHECK_EQ(mf_write(pnd, 8, key_zero16), NFC_ERFTRANS);
		CHECK_EQ(select_any(pnd, &nt), 1);
		CHECK_EQ(mf_auth(pnd, 0x61, 8, kb, &nt), 0);
		CHECK_EQ(mf_write(pnd, 8, key_zero16), 0);
		CHECK_EQ(mf_read(pnd, 8, blk), 16);
		CHECK_MEM(blk, key_zero16, 16);
		CHECK_EQ(mf_read(pnd, 11, blk), 16);
		CHECK_MEM(blk + 6, acc, 4);
		CHECK_MEM(blk + 10, key_zero16, 6);
		CHECK_MEM(blk, key_zero16, 6);
	}
	printf("pn532emu: access bits ok\n");

	/* Polling finds it; it is present until removed. */
	memset(&nt, 0, sizeof nt);
	CHECK_INT(nfc_initiator_poll_target(pnd, &nm_a, 1, 2, 1, &nt), >, 0);
	check_uid(&nt, uid4, 4, 0x04);
	CHECK_EQ(nfc_initiator_target_is_present(pnd, NULL), 0);
	EMU_OK(&e, "remove");
	CHECK_EQ(nfc_initiator_target_is_present(pnd, NULL), NFC_ETGRELEASED);
	CHECK_EQ(select_any(pnd, &nt), 0);
	printf("pn532emu: poll and presence ok\n");

	/* Placed again, the card kept what was written. */
	EMU_OK(&e, "place deadbeef");
	CHECK_EQ(select_any(pnd, &nt), 1);
	CHECK_EQ(mf_auth(pnd, 0x60, 4, key_ff, &nt), 0);
	CHECK_EQ(mf_read(pnd, 4, blk), 16);
	CHECK_MEM(blk, data, 16);
	CHECK_INT(nfc_initiator_deselect_target(pnd), >=, 0);

	/* A 7-byte UID card replaces it; selected by its UID. */
	EMU_OK(&e, "place 04112233445566");
	CHECK_EQ(nfc_initiator_select_passive_target(pnd, nm_a, uid4, 4, &nt), 0);
	CHECK_EQ(nfc_initiator_select_passive_target(pnd, nm_a, uid7, 7, &nt), 1);
	check_uid(&nt, uid7, 7, 0x44);
	CHECK_EQ(mf_auth(pnd, 0x60, 1, key_ff, &nt), 0);
	CHECK_EQ(mf_read(pnd, 0, blk), 16);
	CHECK_MEM(blk, uid7, 7);
	printf("pn532emu: 7-byte UID ok\n");

	/* Unplugged: libnfc gets I/O errors; the link is gone. */
	EMU_OK(&e, "unplug");
	CHECK(!path_exists(link));
	CHECK_EQ(select_any(pnd, &nt), NFC_EIO);
	CHECK_EQ(mf_read(pnd, 0, blk), NFC_EIO);
	nfc_close(pnd);
	CHECK(nfc_open(ctx, connstring) == NULL);
	CHECK(strncmp(emu_cmd(&e, "unplug"), "error: ", 7) == 0);
	/* Plugged again: the same connstring opens, the card is there. */
	EMU_OK(&e, "plug");
	pnd = open_reader(ctx, connstring);
	CHECK_EQ(nfc_device_set_property_bool(pnd, NP_INFINITE_SELECT, false), 0);
	CHECK_EQ(select_any(pnd, &nt), 1);
	check_uid(&nt, uid7, 7, 0x44);
	printf("pn532emu: unplug and plug ok\n");

	/* The dump of the first card has the written block. */
	EMU_OK(&e, "dump %s DEADBEEF", dump);
	f = fopen(dump, "rb");
	CHECK(f != NULL);
	n = fread(image, 1, sizeof image, f);
	fclose(f);
	CHECK_EQ(n, 1024);
	CHECK_MEM(image + 4 * 16, data, 16);
	CHECK_MEM(image, uid4, 4);
	/* An image loaded from a file: a different key A on sector 1. */
	image[7 * 16] = 0x12;
	f = fopen(dump, "wb");
	CHECK(f != NULL);
	CHECK_EQ(fwrite(image, 1, 1024, f), 1024);
	CHECK_EQ(fclose(f), 0);
	EMU_OK(&e, "place DEADBEEF %s", dump);
	CHECK_EQ(select_any(pnd, &nt), 1);
	CHECK_EQ(mf_auth(pnd, 0x60, 4, key_ff, &nt), NFC_EMFCAUTHFAIL);
	CHECK_EQ(select_any(pnd, &nt), 1);
	{
		uint8_t k[6] = { 0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };

		CHECK_EQ(mf_auth(pnd, 0x60, 4, k, &nt), 0);
	}
	CHECK_EQ(mf_read(pnd, 4, blk), 16);
	CHECK_MEM(blk, data, 16);
	printf("pn532emu: dump and image load ok\n");

	/* Garbage on the line while no client holds the port. */
	nfc_close(pnd);
	test_garbage(link);
	EMU_OK(&e, "ping");
	pnd = open_reader(ctx, connstring);
	CHECK_EQ(select_any(pnd, &nt), 1);
	check_uid(&nt, uid4, 4, 0x04);
	nfc_close(pnd);
	nfc_exit(ctx);

	/* quit: answers, exits 0, removes its link. */
	EMU_OK(&e, "quit");
	CHECK_EQ(emu_wait(&e, 5000), 0);
	CHECK(!path_exists(link));
	/* SIGTERM and EOF on stdin end it cleanly too. */
	snprintf(path, sizeof path, "%s/ttyB", dir);
	emu_start(&e2, path);
	CHECK(path_exists(path));
	kill(e2.pid, SIGTERM);
	CHECK_EQ(emu_wait(&e2, 5000), 0);
	CHECK(!path_exists(path));
	emu_start(&e2, path);
	close(e2.in);
	e2.in = open("/dev/null", O_WRONLY);
	CHECK_EQ(emu_wait(&e2, 5000), 0);
	CHECK(!path_exists(path));
	printf("pn532emu: quit, SIGTERM, EOF ok\n");

	unlink(dump);
	rmdir(dir);
	return 0;
}
