/*
 * card.c — the education sector of a student card; see card.h.
 *
 * Every hash here is keyed BLAKE2b (crypto_generichash) with a 32-byte
 * output, truncated where card.h says "the first N bytes".
 */
#include <string.h>

#include <sodium.h>

#include "card.h"
#include "policy.h"

#define CARD_MAGIC0 'C'
#define CARD_MAGIC1 'N'
#define CARD_NO_IN_B4 12             /* card_no characters in block 4 */
#define CARD_NO_IN_B5 8              /* … and at most this many in block 5 */
#define CARD_MAC_LEN 16
#define CARD_HASH_LEN 32

const uint8_t card_transport_key[CARD_KEY_LEN] = {
	0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
};

/* Data blocks: C1C2C3 = 100 (read A|B, write B).  Trailer: 011 (key A and
 * key B written with key B, access bits read with A|B and written with B,
 * neither key readable).  The general-purpose byte is the usual 0x69. */
static const uint8_t card_access[4] = { 0x78, 0x77, 0x88, 0x69 };

const char *card_status_name(enum card_status s)
{
	switch (s) {
	case CARD_OK: return "ok";
	case CARD_BLANK: return "blank";
	case CARD_FORGED: return "forged";
	case CARD_MALFORMED: return "malformed";
	case CARD_UNREADABLE: return "unreadable";
	}
	return "?";
}

static bool uid_len_ok(size_t n)
{
	return n == 4 || n == 7 || n == 10;
}

static bool card_no_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
}

static bool month_ok(uint32_t v)
{
	return v == 0 || (v / 100 >= 2000 && v / 100 <= 2199 &&
			  v % 100 >= 1 && v % 100 <= 12);
}

static bool term_ok(uint32_t v)
{
	return v == 0 || policy_term_valid(v);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* out = the first outlen bytes of BLAKE2b-256(key; label ‖ uid). */
static void card_hash(const uint8_t master[static CN_KEY_LEN], const char *label,
		      const uint8_t *uid, size_t uid_len, uint8_t *out,
		      size_t outlen)
{
	crypto_generichash_state st;
	uint8_t h[CARD_HASH_LEN];

	crypto_generichash_init(&st, master, CN_KEY_LEN, sizeof h);
	crypto_generichash_update(&st, (const uint8_t *)label, strlen(label));
	if (uid_len > 0)
		crypto_generichash_update(&st, uid, uid_len);
	crypto_generichash_final(&st, h, sizeof h);
	memcpy(out, h, outlen);
	sodium_memzero(h, sizeof h);
	sodium_memzero(&st, sizeof st);
}

void card_keys_derive(const uint8_t master[static CN_KEY_LEN],
		      const uint8_t *uid, size_t uid_len, struct card_keys *k)
{
	card_hash(master, "cardnode-card-key-A", uid, uid_len, k->a, CARD_KEY_LEN);
	card_hash(master, "cardnode-card-key-B", uid, uid_len, k->b, CARD_KEY_LEN);
}

/* The MAC of blocks 4 and 5 for the card `uid`. */
static void card_mac(const uint8_t master[static CN_KEY_LEN], const uint8_t *uid,
		     size_t uid_len, const uint8_t b4[CARD_BLOCK_LEN],
		     const uint8_t b5[CARD_BLOCK_LEN], uint8_t mac[CARD_MAC_LEN])
{
	crypto_generichash_state st;
	uint8_t key[CARD_HASH_LEN], h[CARD_HASH_LEN];
	uint8_t n = (uint8_t)uid_len;

	card_hash(master, "cardnode-card-mac-v1", NULL, 0, key, sizeof key);
	crypto_generichash_init(&st, key, sizeof key, sizeof h);
	crypto_generichash_update(&st, &n, 1);
	crypto_generichash_update(&st, uid, uid_len);
	crypto_generichash_update(&st, b4, CARD_BLOCK_LEN);
	crypto_generichash_update(&st, b5, CARD_BLOCK_LEN);
	crypto_generichash_final(&st, h, sizeof h);
	memcpy(mac, h, CARD_MAC_LEN);
	sodium_memzero(key, sizeof key);
	sodium_memzero(h, sizeof h);
	sodium_memzero(&st, sizeof st);
}

int card_encode(const uint8_t master[static CN_KEY_LEN], const uint8_t *uid,
		size_t uid_len, const struct card_data *d,
		uint8_t out[CARD_BLOCKS][CARD_BLOCK_LEN])
{
	size_t n, head;

	if (uid == NULL || !uid_len_ok(uid_len) || d == NULL)
		return CN_ERR_INVAL;
	n = strnlen(d->card_no, sizeof d->card_no);
	if (n == 0 || n > CN_CARD_NO_MAX)
		return CN_ERR_INVAL;
	for (size_t i = 0; i < n; i++)
		if (!card_no_char(d->card_no[i]))
			return CN_ERR_INVAL;
	if (!month_ok(d->valid_through) || !term_ok(d->term))
		return CN_ERR_INVAL;

	memset(out, 0, CARD_BLOCKS * CARD_BLOCK_LEN);
	head = n < CARD_NO_IN_B4 ? n : CARD_NO_IN_B4;
	out[0][0] = CARD_MAGIC0;
	out[0][1] = CARD_MAGIC1;
	out[0][2] = CARD_VERSION;
	out[0][3] = (uint8_t)n;
	memcpy(out[0] + 4, d->card_no, head);
	memcpy(out[1], d->card_no + head, n - head);
	put_be32(out[1] + 8, d->valid_through);
	put_be32(out[1] + 12, d->term);
	card_mac(master, uid, uid_len, out[0], out[1], out[2]);
	return CN_OK;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

enum card_status card_decode(const uint8_t master[static CN_KEY_LEN],
			     const uint8_t *uid, size_t uid_len,
			     const uint8_t in[CARD_BLOCKS][CARD_BLOCK_LEN],
			     struct card_data *d)
{
	uint8_t mac[CARD_MAC_LEN];
	size_t n, head;
	struct card_data out;

	memset(d, 0, sizeof *d);
	if (uid == NULL || !uid_len_ok(uid_len))
		return CARD_MALFORMED;
	if (all_zero(&in[0][0], CARD_BLOCKS * CARD_BLOCK_LEN))
		return CARD_BLANK;
	if (in[0][0] != CARD_MAGIC0 || in[0][1] != CARD_MAGIC1 ||
	    in[0][2] != CARD_VERSION)
		return CARD_MALFORMED;
	n = in[0][3];
	if (n == 0 || n > CN_CARD_NO_MAX)
		return CARD_MALFORMED;
	head = n < CARD_NO_IN_B4 ? n : CARD_NO_IN_B4;

	memset(&out, 0, sizeof out);
	memcpy(out.card_no, in[0] + 4, head);
	memcpy(out.card_no + head, in[1], n - head);
	for (size_t i = 0; i < n; i++)
		if (!card_no_char(out.card_no[i]))
			return CARD_MALFORMED;
	/* The padding after card_no is zero in both blocks. */
	if (!all_zero(in[0] + 4 + head, CARD_NO_IN_B4 - head) ||
	    !all_zero(in[1] + (n - head), CARD_NO_IN_B5 - (n - head)))
		return CARD_MALFORMED;
	out.valid_through = get_be32(in[1] + 8);
	out.term = get_be32(in[1] + 12);
	if (!month_ok(out.valid_through) || !term_ok(out.term))
		return CARD_MALFORMED;

	card_mac(master, uid, uid_len, in[0], in[1], mac);
	if (sodium_memcmp(mac, in[2], CARD_MAC_LEN) != 0)
		return CARD_FORGED;
	*d = out;
	return CARD_OK;
}

void card_trailer(const struct card_keys *k, uint8_t out[CARD_BLOCK_LEN])
{
	memcpy(out, k->a, CARD_KEY_LEN);
	memcpy(out + CARD_KEY_LEN, card_access, sizeof card_access);
	memcpy(out + CARD_KEY_LEN + sizeof card_access, k->b, CARD_KEY_LEN);
}
