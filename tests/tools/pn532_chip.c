/*
 * pn532_chip.c — the PN532 model behind pn532emu: frame parsing, the
 * commands libnfc 1.8.0 sends, and MIFARE Classic 1K behind InDataExchange.
 * Frame layout and command bytes follow the PN532 user manual (UM0701-02)
 * as libnfc's chips/pn53x.c and drivers/pn532_uart.c use them.
 */
#include "pn532_chip.h"

#include <stdio.h>
#include <string.h>

/* Frame identifiers and the fixed frames. */
#define TFI_HOST 0xD4
#define TFI_CHIP 0xD5
static const uint8_t ack_frame[] = { 0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00 };
static const uint8_t error_frame[] = { 0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F,
				       0x81, 0x00 };

/* A partial frame that has not grown for this long is given up. */
#define STALE_MS 50
/* Largest LEN (TFI + data) accepted in an extended frame. */
#define EXT_LEN_MAX 265

/* Commands (UM0701-02 §7). */
enum {
	CMD_DIAGNOSE = 0x00,
	CMD_GET_FIRMWARE_VERSION = 0x02,
	CMD_GET_GENERAL_STATUS = 0x04,
	CMD_READ_REGISTER = 0x06,
	CMD_WRITE_REGISTER = 0x08,
	CMD_SET_PARAMETERS = 0x12,
	CMD_SAM_CONFIGURATION = 0x14,
	CMD_POWER_DOWN = 0x16,
	CMD_RF_CONFIGURATION = 0x32,
	CMD_IN_DATA_EXCHANGE = 0x40,
	CMD_IN_COMMUNICATE_THRU = 0x42,
	CMD_IN_DESELECT = 0x44,
	CMD_IN_LIST_PASSIVE_TARGET = 0x4A,
	CMD_IN_RELEASE = 0x52,
	CMD_IN_AUTO_POLL = 0x60,
};

/* Status byte error codes (UM0701-02 §7.1). */
enum {
	ST_OK = 0x00,
	ST_TIMEOUT = 0x01,      /* the target did not answer */
	ST_MIFARE_AUTH = 0x14,
	ST_WRONG_CONTEXT = 0x27,
};

/* CIU registers libnfc reads (chips/pn53x-internal.h names). */
#define REG_CIU_TX_MODE 0x6302
#define REG_CIU_RX_MODE 0x6303
#define REG_CIU_TX_CONTROL 0x6304
#define REG_CIU_STATUS2 0x6338
#define REG_CIU_CONTROL 0x633C
#define STATUS2_CRYPTO1_ON 0x08

/* MIFARE Classic commands inside InDataExchange. */
enum {
	MF_AUTH_A = 0x60,
	MF_AUTH_B = 0x61,
	MF_READ = 0x30,
	MF_WRITE = 0xA0,
};

/* ATQA and SAK of a MIFARE Classic 1K with a 4- or 7-byte UID. */
static const uint8_t atqa_4[2] = { 0x00, 0x04 };
static const uint8_t atqa_7[2] = { 0x00, 0x44 };
#define SAK_MFC_1K 0x08

static void trace(const struct pn532 *p, const char *dir, const uint8_t *b,
		  size_t n)
{
	if (!p->log)
		return;
	fprintf(stderr, "pn532emu: %s", dir);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, " %02X", b[i]);
	fputc('\n', stderr);
}

static void out_raw(struct pn532 *p, const uint8_t *b, size_t n)
{
	if (n > sizeof p->out - p->out_len) {
		if (p->log)
			fprintf(stderr, "pn532emu: output full, %zu bytes dropped\n", n);
		return;
	}
	memcpy(p->out + p->out_len, b, n);
	p->out_len += n;
}

/* Append one answer frame (TFI D5, `code`, data) and remember it for a
 * NACK.  Normal frame up to 255 bytes of TFI+data, extended above. */
static void reply(struct pn532 *p, uint8_t code, const uint8_t *data,
		  size_t n)
{
	uint8_t f[sizeof p->last];
	size_t len = n + 2, k = 0;
	uint8_t dcs = 0;

	if (len + 10 > sizeof f)
		return;
	f[k++] = 0x00;
	f[k++] = 0x00;
	f[k++] = 0xFF;
	if (len <= 255) {
		f[k++] = (uint8_t)len;
		f[k++] = (uint8_t)(0x100 - len);
	} else {
		f[k++] = 0xFF;
		f[k++] = 0xFF;
		f[k++] = (uint8_t)(len >> 8);
		f[k++] = (uint8_t)len;
		f[k++] = (uint8_t)(0x100 - ((len >> 8) + (len & 0xFF)));
	}
	f[k++] = TFI_CHIP;
	f[k++] = code;
	if (n > 0)
		memcpy(f + k, data, n);
	k += n;
	dcs = (uint8_t)(TFI_CHIP + code);
	for (size_t i = 0; i < n; i++)
		dcs = (uint8_t)(dcs + data[i]);
	f[k++] = (uint8_t)(0x100 - dcs);
	f[k++] = 0x00;
	trace(p, "chip <", f + (len <= 255 ? 5 : 8), len);
	out_raw(p, f, k);
	memcpy(p->last, f, k);
	p->last_len = k;
}

static void reply_status(struct pn532 *p, uint8_t code, uint8_t status)
{
	reply(p, code, &status, 1);
}

static void reply_error(struct pn532 *p)
{
	trace(p, "chip < application error", NULL, 0);
	out_raw(p, error_frame, sizeof error_frame);
	memcpy(p->last, error_frame, sizeof error_frame);
	p->last_len = sizeof error_frame;
}

/* ---- the card -------------------------------------------------------- */

void pn532_card_blank(struct pn532_card *c)
{
	static const uint8_t trailer[16] = {
		0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x80, 0x69,
		0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
	};
	/* Manufacturer data after UID(+BCC), SAK and ATQA. */
	static const uint8_t maker[] = { 0x62, 0x63, 0x64, 0x65, 0x66, 0x67,
					 0x68, 0x69 };
	uint8_t *b0 = c->mem;
	size_t k = 0;

	memset(c->mem, 0, sizeof c->mem);
	for (int s = 0; s < 16; s++)
		memcpy(c->mem + (s * 4 + 3) * 16, trailer, 16);
	memcpy(b0, c->uid, c->uid_len);
	k = c->uid_len;
	if (c->uid_len == 4) {
		b0[k++] = (uint8_t)(c->uid[0] ^ c->uid[1] ^ c->uid[2] ^ c->uid[3]);
		b0[k++] = SAK_MFC_1K;
		b0[k++] = atqa_4[1];
		b0[k++] = atqa_4[0];
	} else {
		b0[k++] = SAK_MFC_1K;
		b0[k++] = atqa_7[1];
		b0[k++] = atqa_7[0];
	}
	memcpy(b0 + k, maker, 16 - k);
}

/* The three access bits C1 C2 C3 of block `b` (0..3) of a sector, as one
 * number C1<<2 | C2<<1 | C3; -1 when the inverted copies disagree. */
static int access_cond(const uint8_t *trailer, int b)
{
	unsigned c1 = trailer[7] >> 4, c2 = trailer[8] & 15u, c3 = trailer[8] >> 4;
	unsigned n1 = trailer[6] & 15u, n2 = trailer[6] >> 4, n3 = trailer[7] & 15u;

	if ((c1 ^ n1) != 15 || (c2 ^ n2) != 15 || (c3 ^ n3) != 15)
		return -1;
	return (int)(((c1 >> b) & 1) << 2 | ((c2 >> b) & 1) << 1 | ((c3 >> b) & 1));
}

/* Which keys (bit 0 key A, bit 1 key B) may do what, indexed by the access
 * condition (MF1S50 datasheet §8.7). */
static const uint8_t data_read[8] = { 3, 3, 3, 2, 3, 2, 3, 0 };
static const uint8_t data_write[8] = { 3, 0, 0, 2, 2, 0, 2, 0 };
static const uint8_t trailer_keya_write[8] = { 1, 1, 0, 2, 2, 0, 0, 0 };
static const uint8_t trailer_acc_read[8] = { 1, 1, 1, 3, 3, 3, 3, 3 };
static const uint8_t trailer_acc_write[8] = { 0, 1, 0, 2, 0, 2, 0, 0 };
static const uint8_t trailer_keyb_read[8] = { 1, 1, 1, 0, 0, 0, 0, 0 };
static const uint8_t trailer_keyb_write[8] = { 1, 1, 0, 2, 2, 0, 0, 0 };

/* The key used for the current authentication, as a rights bit; key B
 * has no rights where the trailer lets key A read it. */
static unsigned auth_key_bit(const struct pn532 *p, const uint8_t *trailer)
{
	int tc = access_cond(trailer, 3);

	if (!p->auth_key_b)
		return 1;
	if (tc >= 0 && (trailer_keyb_read[tc] & 1))
		return 0;
	return 2;
}

/* The card stops answering (NAK or failed authentication): it must be
 * selected again. */
static void card_halt(struct pn532 *p)
{
	p->card_active = false;
	p->auth_sector = -1;
	p->regs[REG_CIU_STATUS2] &= (uint8_t)~STATUS2_CRYPTO1_ON;
}

static void mf_auth(struct pn532 *p, const uint8_t *c, size_t n)
{
	struct pn532_card *card = p->card;
	const uint8_t *trailer, *key;

	if (n != 12 || c[1] >= 64)
		goto fail;
	trailer = card->mem + ((c[1] | 3) * 16);
	key = c[0] == MF_AUTH_A ? trailer : trailer + 10;
	if (memcmp(c + 2, key, 6) != 0 ||
	    memcmp(c + 8, card->uid + card->uid_len - 4, 4) != 0)
		goto fail;
	p->auth_sector = c[1] / 4;
	p->auth_key_b = c[0] == MF_AUTH_B;
	p->regs[REG_CIU_STATUS2] |= STATUS2_CRYPTO1_ON;
	reply_status(p, CMD_IN_DATA_EXCHANGE + 1, ST_OK);
	return;
fail:
	card_halt(p);
	reply_status(p, CMD_IN_DATA_EXCHANGE + 1, ST_MIFARE_AUTH);
}

/* Read or write `blk`, or refuse as the card does (NAK, then halt). */
static void mf_read(struct pn532 *p, unsigned blk)
{
	uint8_t ans[17] = { ST_OK };
	const uint8_t *trailer = p->card->mem + ((blk | 3) * 16);
	unsigned key = auth_key_bit(p, trailer);
	int cond = access_cond(trailer, (int)(blk & 3));

	if (cond < 0)
		goto nak;
	if ((blk & 3) != 3) {
		if (!(data_read[cond] & key))
			goto nak;
		memcpy(ans + 1, p->card->mem + blk * 16, 16);
	} else {
		/* Key A never reads back; the rest as the access bits say. */
		if (trailer_acc_read[cond] & key)
			memcpy(ans + 7, trailer + 6, 4);
		if (trailer_keyb_read[cond] & key)
			memcpy(ans + 11, trailer + 10, 6);
	}
	reply(p, CMD_IN_DATA_EXCHANGE + 1, ans, sizeof ans);
	return;
nak:
	card_halt(p);
	reply_status(p, CMD_IN_DATA_EXCHANGE + 1, ST_TIMEOUT);
}

static void mf_write(struct pn532 *p, unsigned blk, const uint8_t *data)
{
	uint8_t *dst = p->card->mem + blk * 16;
	uint8_t *trailer = p->card->mem + ((blk | 3) * 16);
	unsigned key = auth_key_bit(p, trailer);
	int cond = access_cond(trailer, (int)(blk & 3));
	bool any = false;

	if (cond < 0 || blk == 0) /* block 0 is the manufacturer block */
		goto nak;
	if ((blk & 3) != 3) {
		if (!(data_write[cond] & key))
			goto nak;
		memcpy(dst, data, 16);
	} else {
		uint8_t t[16];

		/* Each part of the trailer is written only where the access
		 * bits let this key write it. */
		memcpy(t, trailer, 16);
		if (trailer_keya_write[cond] & key) {
			memcpy(t, data, 6);
			any = true;
		}
		if (trailer_acc_write[cond] & key) {
			memcpy(t + 6, data + 6, 4);
			any = true;
		}
		if (trailer_keyb_write[cond] & key) {
			memcpy(t + 10, data + 10, 6);
			any = true;
		}
		if (!any)
			goto nak;
		memcpy(trailer, t, 16);
	}
	reply_status(p, CMD_IN_DATA_EXCHANGE + 1, ST_OK);
	return;
nak:
	card_halt(p);
	reply_status(p, CMD_IN_DATA_EXCHANGE + 1, ST_TIMEOUT);
}

/* InDataExchange payload for target 1: MIFARE Classic commands. */
static void mifare(struct pn532 *p, const uint8_t *c, size_t n)
{
	if (n == 0 || p->card == NULL || !p->card_active) {
		reply_status(p, CMD_IN_DATA_EXCHANGE + 1, ST_TIMEOUT);
		return;
	}
	switch (c[0]) {
	case MF_AUTH_A:
	case MF_AUTH_B:
		mf_auth(p, c, n);
		return;
	case MF_READ:
		if (n == 2 && c[1] < 64 && (int)c[1] / 4 == p->auth_sector) {
			mf_read(p, c[1]);
			return;
		}
		break;
	case MF_WRITE:
		if (n == 18 && c[1] < 64 && (int)c[1] / 4 == p->auth_sector) {
			mf_write(p, c[1], c + 2);
			return;
		}
		break;
	default:
		break;
	}
	/* Unknown, malformed, or outside the authenticated sector: NAK. */
	card_halt(p);
	reply_status(p, CMD_IN_DATA_EXCHANGE + 1, ST_TIMEOUT);
}

/* ---- target selection ------------------------------------------------ */

static void release_target(struct pn532 *p)
{
	p->tg_active = false;
	p->card_active = false;
	p->auth_sector = -1;
	p->regs[REG_CIU_STATUS2] &= (uint8_t)~STATUS2_CRYPTO1_ON;
}

/* Does the card answer initiator data (a UID, cascaded with 0x88 for 7
 * bytes, as libnfc sends it)?  Empty initiator data matches any card. */
static bool uid_matches(const struct pn532_card *card, const uint8_t *id,
			size_t n)
{
	if (n == 0)
		return true;
	if (card->uid_len == 4)
		return n == 4 && memcmp(id, card->uid, 4) == 0;
	return n == 8 && id[0] == 0x88 && memcmp(id + 1, card->uid, 7) == 0;
}

/* Target data for type A: Tg, ATQA, SAK, UID length, UID. */
static size_t target_data(const struct pn532_card *card, uint8_t *out)
{
	const uint8_t *atqa = card->uid_len == 4 ? atqa_4 : atqa_7;

	out[0] = 1;
	out[1] = atqa[0];
	out[2] = atqa[1];
	out[3] = SAK_MFC_1K;
	out[4] = (uint8_t)card->uid_len;
	memcpy(out + 5, card->uid, card->uid_len);
	return 5 + card->uid_len;
}

static void select_card(struct pn532 *p)
{
	p->tg_active = true;
	p->card_active = true;
	p->auth_sector = -1;
	p->regs[REG_CIU_STATUS2] &= (uint8_t)~STATUS2_CRYPTO1_ON;
}

/* Answer InListPassiveTarget with the card, if it fits. */
static bool list_answer(struct pn532 *p, const uint8_t *id, size_t n)
{
	uint8_t ans[1 + 5 + PN532_UID_MAX];

	if (p->card == NULL || !uid_matches(p->card, id, n))
		return false;
	select_card(p);
	ans[0] = 1;
	reply(p, CMD_IN_LIST_PASSIVE_TARGET + 1, ans,
	      1 + target_data(p->card, ans + 1));
	return true;
}

/* Answer InAutoPoll with the card for the first type that fits: 0x00
 * (generic 106 kbps) or 0x10 (MIFARE); 0x20 (ISO14443-4A) needs an ATS. */
static bool autopoll_answer(struct pn532 *p, const uint8_t *types, size_t n)
{
	uint8_t ans[3 + 5 + PN532_UID_MAX];

	if (p->card == NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (types[i] != 0x00 && types[i] != 0x10)
			continue;
		select_card(p);
		ans[0] = 1;
		ans[1] = types[i];
		ans[2] = (uint8_t)target_data(p->card, ans + 3);
		reply(p, CMD_IN_AUTO_POLL + 1, ans, 3 + ans[2]);
		return true;
	}
	return false;
}

static void pending_cancel(struct pn532 *p)
{
	p->pend = PN532_PEND_NONE;
	p->pend_deadline = 0;
}

static void cmd_list_passive(struct pn532 *p, const uint8_t *d, size_t n)
{
	static const uint8_t none[1] = { 0 };

	if (n < 3 || d[1] < 1 || d[1] > 2 || n - 3 > sizeof p->pend_uid) {
		reply_error(p);
		return;
	}
	release_target(p);
	/* Only ISO14443A at 106 kbps: FeliCa, type B and Jewel find nothing. */
	if (d[2] != 0x00) {
		reply(p, CMD_IN_LIST_PASSIVE_TARGET + 1, none, 1);
		return;
	}
	if (list_answer(p, d + 3, n - 3))
		return;
	if (p->max_retries == 0xFF) {
		/* Retries forever: the answer waits for a card. */
		p->pend = PN532_PEND_LIST;
		p->pend_deadline = 0;
		memcpy(p->pend_uid, d + 3, n - 3);
		p->pend_uid_len = n - 3;
		return;
	}
	reply(p, CMD_IN_LIST_PASSIVE_TARGET + 1, none, 1);
}

static void cmd_autopoll(struct pn532 *p, const uint8_t *d, size_t n,
			 uint64_t now)
{
	size_t ntypes = n > 3 ? n - 3 : 0;

	if (ntypes == 0 || ntypes > sizeof p->pend_types || d[1] == 0 ||
	    d[2] == 0 || d[2] > 15) {
		reply_error(p);
		return;
	}
	release_target(p);
	if (autopoll_answer(p, d + 3, ntypes))
		return;
	p->pend = PN532_PEND_AUTOPOLL;
	memcpy(p->pend_types, d + 3, ntypes);
	p->pend_ntypes = ntypes;
	/* PollNr 0xFF polls forever; otherwise PollNr periods of 150 ms. */
	p->pend_deadline = d[1] == 0xFF ? 0 : now + (uint64_t)d[1] * d[2] * 150;
}

/* ---- the command set ------------------------------------------------- */

static void cmd_rf_configuration(struct pn532 *p, const uint8_t *d, size_t n)
{
	if (n < 3) {
		reply_error(p);
		return;
	}
	switch (d[1]) {
	case 0x01: /* RF field: bit 0 on/off (bit 1 auto RFCA) */
		p->field = d[2] & 1;
		if (!p->field) {
			/* No field, no power: the card forgets everything. */
			release_target(p);
		}
		break;
	case 0x05: /* MaxRetries: ATR_REQ, PSL_REQ, passive activation */
		if (n < 5) {
			reply_error(p);
			return;
		}
		p->max_retries = d[4];
		break;
	default: /* timings, analog settings: accepted, no effect */
		break;
	}
	reply(p, CMD_RF_CONFIGURATION + 1, NULL, 0);
}

static void cmd_registers(struct pn532 *p, const uint8_t *d, size_t n)
{
	uint8_t ans[128];
	size_t k = 0;

	if (d[0] == CMD_READ_REGISTER) {
		if (n < 3 || (n - 1) % 2 != 0 || (n - 1) / 2 > sizeof ans) {
			reply_error(p);
			return;
		}
		for (size_t i = 1; i + 1 < n; i += 2)
			ans[k++] = p->regs[d[i] << 8 | d[i + 1]];
		reply(p, CMD_READ_REGISTER + 1, ans, k);
		return;
	}
	if (n < 4 || (n - 1) % 3 != 0) {
		reply_error(p);
		return;
	}
	for (size_t i = 1; i + 2 < n; i += 3)
		p->regs[d[i] << 8 | d[i + 1]] = d[i + 2];
	reply(p, CMD_WRITE_REGISTER + 1, NULL, 0);
}

static void cmd_general_status(struct pn532 *p)
{
	/* Err, Field, NbTg, [Tg BrRx BrTx Type], SAM status */
	uint8_t ans[8] = { 0, p->field, 0 };
	size_t k = 3;

	if (p->tg_active) {
		ans[2] = 1;
		ans[k++] = 1;
		ans[k++] = 0; /* 106 kbps */
		ans[k++] = 0;
		ans[k++] = 0x10; /* MIFARE */
	}
	ans[k++] = 0;
	reply(p, CMD_GET_GENERAL_STATUS + 1, ans, k);
}

/* One well-formed frame from the host: `d` is PD0..PDn (after TFI). */
static void handle_command(struct pn532 *p, const uint8_t *d, size_t n,
			   uint64_t now)
{
	static const uint8_t firmware[4] = { 0x32, 0x01, 0x06, 0x07 };
	static const uint8_t zero[1] = { 0 };

	trace(p, "host >", d, n);
	out_raw(p, ack_frame, sizeof ack_frame);
	/* A new command ends the one that was waiting. */
	pending_cancel(p);
	if (n == 0) {
		reply_error(p);
		return;
	}
	switch (d[0]) {
	case CMD_DIAGNOSE:
		if (n < 2) {
			reply_error(p);
		} else if (d[1] == 0x00) { /* communication line test: echo */
			reply(p, CMD_DIAGNOSE + 1, d + 1, n - 1);
		} else {
			reply(p, CMD_DIAGNOSE + 1, zero, 1);
		}
		break;
	case CMD_GET_FIRMWARE_VERSION:
		reply(p, CMD_GET_FIRMWARE_VERSION + 1, firmware, sizeof firmware);
		break;
	case CMD_GET_GENERAL_STATUS:
		cmd_general_status(p);
		break;
	case CMD_READ_REGISTER:
	case CMD_WRITE_REGISTER:
		cmd_registers(p, d, n);
		break;
	case CMD_SET_PARAMETERS:
		if (n != 2) {
			reply_error(p);
			break;
		}
		p->params = d[1];
		reply(p, CMD_SET_PARAMETERS + 1, NULL, 0);
		break;
	case CMD_SAM_CONFIGURATION:
		if (n < 2 || d[1] < 1 || d[1] > 4) {
			reply_error(p);
			break;
		}
		reply(p, CMD_SAM_CONFIGURATION + 1, NULL, 0);
		break;
	case CMD_POWER_DOWN:
		if (n < 2) {
			reply_error(p);
			break;
		}
		release_target(p);
		p->field = false;
		reply_status(p, CMD_POWER_DOWN + 1, ST_OK);
		break;
	case CMD_RF_CONFIGURATION:
		cmd_rf_configuration(p, d, n);
		break;
	case CMD_IN_DATA_EXCHANGE:
		if (n < 2) {
			reply_error(p);
		} else if ((d[1] & 0x0F) != 1 || !p->tg_active) {
			reply_status(p, CMD_IN_DATA_EXCHANGE + 1, ST_WRONG_CONTEXT);
		} else {
			mifare(p, d + 2, n - 2);
		}
		break;
	case CMD_IN_COMMUNICATE_THRU:
		/* Raw frames (RATS, HALT, magic-card probes): a MIFARE Classic
		 * in the clear answers none of them and drops its session. */
		if (p->card_active)
			card_halt(p);
		reply_status(p, CMD_IN_COMMUNICATE_THRU + 1, ST_TIMEOUT);
		break;
	case CMD_IN_DESELECT:
	case CMD_IN_RELEASE:
		if (n < 2) {
			reply_error(p);
			break;
		}
		release_target(p);
		reply_status(p, (uint8_t)(d[0] + 1), ST_OK);
		break;
	case CMD_IN_LIST_PASSIVE_TARGET:
		cmd_list_passive(p, d, n);
		break;
	case CMD_IN_AUTO_POLL:
		cmd_autopoll(p, d, n, now);
		break;
	default:
		reply_error(p);
		break;
	}
}

/* ---- framing --------------------------------------------------------- */

static void rx_consume(struct pn532 *p, size_t n)
{
	memmove(p->rx, p->rx + n, p->rx_len - n);
	p->rx_len -= n;
}

/* Parse every complete frame in p->rx.  `stale`: the partial frame left at
 * the front has waited too long; give up its start code. */
static void rx_process(struct pn532 *p, uint64_t now, bool stale)
{
	for (;;) {
		size_t i = 0, hdr, len, total;
		uint8_t sum = 0;

		while (i + 1 < p->rx_len && !(p->rx[i] == 0x00 && p->rx[i + 1] == 0xFF))
			i++;
		if (i + 1 >= p->rx_len) {
			/* No start code: keep a trailing 00, which may begin one. */
			if (p->rx_len > 0 && p->rx[p->rx_len - 1] == 0x00)
				rx_consume(p, p->rx_len - 1);
			else
				p->rx_len = 0;
			return;
		}
		rx_consume(p, i);
		if (p->rx_len < 4)
			goto partial;
		if (p->rx[2] == 0x00 && p->rx[3] == 0xFF) {
			/* ACK from the host: abort the pending command. */
			trace(p, "host > ACK (abort)", NULL, 0);
			pending_cancel(p);
			rx_consume(p, 4);
			continue;
		}
		if (p->rx[2] == 0xFF && p->rx[3] == 0x00) {
			/* NACK: send the last answer again. */
			trace(p, "host > NACK", NULL, 0);
			out_raw(p, p->last, p->last_len);
			rx_consume(p, 4);
			continue;
		}
		if (p->rx[2] == 0xFF && p->rx[3] == 0xFF) {
			if (p->rx_len < 7)
				goto partial;
			len = (size_t)p->rx[4] << 8 | p->rx[5];
			if (((p->rx[4] + p->rx[5] + p->rx[6]) & 0xFF) != 0 ||
			    len == 0 || len > EXT_LEN_MAX)
				goto bad;
			hdr = 7;
		} else {
			len = p->rx[2];
			if (((p->rx[2] + p->rx[3]) & 0xFF) != 0 || len == 0)
				goto bad;
			hdr = 4;
		}
		total = hdr + len + 1;
		if (p->rx_len < total)
			goto partial;
		for (size_t k = hdr; k < total; k++)
			sum = (uint8_t)(sum + p->rx[k]);
		if (sum != 0)
			goto bad;
		if (p->rx[hdr] == TFI_HOST)
			handle_command(p, p->rx + hdr + 1, len - 1, now);
		else
			trace(p, "host > frame with a foreign TFI, dropped", NULL, 0);
		rx_consume(p, total);
		continue;
partial:
		if (!stale)
			return;
		stale = false;
		/* fall through: drop the start code and look further */
bad:
		/* A checksum error: the chip ignores the frame.  Drop only the
		 * start code, so a good frame inside is still found. */
		trace(p, "host > bad or stale frame, dropped", p->rx,
		      p->rx_len < 8 ? p->rx_len : 8);
		rx_consume(p, 2);
	}
}

void pn532_feed(struct pn532 *p, const uint8_t *buf, size_t n, uint64_t now)
{
	while (n > 0) {
		size_t room = sizeof p->rx - p->rx_len;
		size_t k = n < room ? n : room;

		memcpy(p->rx + p->rx_len, buf, k);
		p->rx_len += k;
		buf += k;
		n -= k;
		p->rx_stamp = now;
		rx_process(p, now, false);
		/* A frame never needs the whole buffer: if it is still full,
		 * what is at the front is no frame. */
		if (p->rx_len == sizeof p->rx)
			rx_process(p, now, true);
	}
}

/* ---- pending commands, time, cards ----------------------------------- */

static void pending_try(struct pn532 *p)
{
	bool done = false;

	if (p->pend == PN532_PEND_LIST)
		done = list_answer(p, p->pend_uid, p->pend_uid_len);
	else if (p->pend == PN532_PEND_AUTOPOLL)
		done = autopoll_answer(p, p->pend_types, p->pend_ntypes);
	if (done)
		pending_cancel(p);
}

void pn532_set_card(struct pn532 *p, struct pn532_card *card)
{
	p->card = card;
	/* A card entering the field is idle; the chip still thinks it holds
	 * the target it had, which no longer answers. */
	p->card_active = false;
	p->auth_sector = -1;
	p->regs[REG_CIU_STATUS2] &= (uint8_t)~STATUS2_CRYPTO1_ON;
	if (card != NULL)
		pending_try(p);
}

uint64_t pn532_deadline(const struct pn532 *p)
{
	uint64_t d = p->pend_deadline;

	if (p->rx_len > 0 && (d == 0 || p->rx_stamp + STALE_MS < d))
		d = p->rx_stamp + STALE_MS;
	return d;
}

void pn532_tick(struct pn532 *p, uint64_t now)
{
	static const uint8_t none[1] = { 0 };

	if (p->pend_deadline != 0 && now >= p->pend_deadline) {
		if (p->pend == PN532_PEND_AUTOPOLL)
			reply(p, CMD_IN_AUTO_POLL + 1, none, 1);
		pending_cancel(p);
	}
	if (p->rx_len > 0 && now >= p->rx_stamp + STALE_MS) {
		rx_process(p, now, true);
		/* Whatever is left is either nothing or a fresh partial. */
		p->rx_stamp = now;
	}
}

void pn532_reset(struct pn532 *p)
{
	struct pn532_card *card = p->card;
	bool log = p->log;

	memset(p, 0, sizeof *p);
	p->card = card;
	p->log = log;
	p->auth_sector = -1;
	p->max_retries = 0xFF;
	/* CRC on in both directions (libnfc assumes so), initiator mode. */
	p->regs[REG_CIU_TX_MODE] = 0x80;
	p->regs[REG_CIU_RX_MODE] = 0x80;
	p->regs[REG_CIU_TX_CONTROL] = 0x80;
	p->regs[REG_CIU_CONTROL] = 0x10;
}
