/*
 * fuzz_card.c — libFuzzer harness for card_decode (reader/card.h).
 *
 * Input: one mode byte, the UID (4, 7 or 10 bytes as the mode says), then
 * the three data blocks (missing bytes are zero).  When bit 7 of the mode
 * is set, the harness puts the correct MAC into block 6 first, so that the
 * fuzzer reaches the field checks behind it.  Nothing may crash; a sector
 * that is not CARD_OK must leave the data zeroed; one that is CARD_OK must
 * hold a valid card number and encode back to exactly the same blocks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "card.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t master[CN_KEY_LEN] = {
	0x61, 0x0b, 0x3c, 0x9e, 0x52, 0x7d, 0xa4, 0x18, 0xc6, 0x2f, 0x83,
	0x4e, 0xd7, 0x95, 0x01, 0x6a, 0xbb, 0x30, 0xe9, 0x74, 0x2c, 0x58,
	0x1f, 0xa0, 0x8d, 0x46, 0xf3, 0x67, 0x12, 0xce, 0x99, 0x05};

static void put_mac(const uint8_t *uid, size_t n,
		    uint8_t b[CARD_BLOCKS][CARD_BLOCK_LEN])
{
	uint8_t key[32], h[32], len = (uint8_t)n;
	crypto_generichash_state st;

	crypto_generichash(key, sizeof key, (const uint8_t *)"cardnode-card-mac-v1",
			   20, master, sizeof master);
	crypto_generichash_init(&st, key, sizeof key, sizeof h);
	crypto_generichash_update(&st, &len, 1);
	crypto_generichash_update(&st, uid, n);
	crypto_generichash_update(&st, b[0], CARD_BLOCK_LEN);
	crypto_generichash_update(&st, b[1], CARD_BLOCK_LEN);
	crypto_generichash_final(&st, h, sizeof h);
	memcpy(b[2], h, CARD_BLOCK_LEN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t uid_lens[4] = { 4, 7, 10, 4 };
	uint8_t uid[10], b[CARD_BLOCKS][CARD_BLOCK_LEN], again[CARD_BLOCKS][CARD_BLOCK_LEN];
	struct card_data d;
	enum card_status s;
	size_t n, k;

	if (size < 1)
		return 0;
	n = uid_lens[data[0] & 3];
	memset(uid, 0, sizeof uid);
	memset(b, 0, sizeof b);
	k = size - 1 < n ? size - 1 : n;
	memcpy(uid, data + 1, k);
	if (size > 1 + n) {
		k = size - 1 - n < sizeof b ? size - 1 - n : sizeof b;
		memcpy(b, data + 1 + n, k);
	}
	if (data[0] & 0x80)
		put_mac(uid, n, b);

	memset(&d, 0xA5, sizeof d);
	s = card_decode(master, uid, n, (const uint8_t (*)[CARD_BLOCK_LEN])b, &d);
	if (s != CARD_OK) {
		const uint8_t *p = (const uint8_t *)&d;
		for (size_t i = 0; i < sizeof d; i++)
			if (p[i] != 0)
				abort();
		if (s != CARD_BLANK && s != CARD_FORGED && s != CARD_MALFORMED)
			abort();
		return 0;
	}
	k = strnlen(d.card_no, sizeof d.card_no);
	if (k == 0 || k > CN_CARD_NO_MAX)
		abort();
	for (size_t i = 0; i < k; i++)
		if (!((d.card_no[i] >= '0' && d.card_no[i] <= '9') ||
		      (d.card_no[i] >= 'A' && d.card_no[i] <= 'Z')))
			abort();
	if (card_encode(master, uid, n, &d, again) != CN_OK ||
	    memcmp(again, b, sizeof b) != 0)
		abort();
	return 0;
}
