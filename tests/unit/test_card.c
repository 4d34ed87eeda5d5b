/*
 * test_card.c — the education sector of the student card (reader/card.h):
 * the block layout both ways, the MAC against every single-bit change,
 * blank and malformed sectors, the diversified keys, and the trailer's
 * access bits.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "card.h"
#include "check.h"

static uint8_t master[CN_KEY_LEN];
static const uint8_t uid4[4] = { 0xDE, 0xAD, 0xBE, 0xEF };
static const uint8_t uid7[7] = { 0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66 };

typedef uint8_t blocks_t[CARD_BLOCKS][CARD_BLOCK_LEN];

static struct card_data data_of(const char *no, uint32_t through, uint32_t term)
{
	struct card_data d;

	memset(&d, 0, sizeof d);
	snprintf(d.card_no, sizeof d.card_no, "%s", no);
	d.valid_through = through;
	d.term = term;
	return d;
}

static enum card_status decode(const uint8_t *uid, size_t n, blocks_t b,
			       struct card_data *d)
{
	return card_decode(master, uid, n, (const uint8_t (*)[CARD_BLOCK_LEN])b, d);
}

static void test_round_trip(void)
{
	static const char *nos[] = {
		"7", "123456789012", "1234567890123", "ABCDEFGHIJ0123456789",
	};
	blocks_t b;
	struct card_data d, got;

	for (size_t i = 0; i < sizeof nos / sizeof nos[0]; i++) {
		size_t n = strlen(nos[i]), head = n < 12 ? n : 12;

		d = data_of(nos[i], 202611, 20262);
		CHECK_EQ(card_encode(master, uid4, 4, &d, b), CN_OK);
		/* The layout of card.h, byte for byte. */
		CHECK_EQ(b[0][0], 'C');
		CHECK_EQ(b[0][1], 'N');
		CHECK_EQ(b[0][2], CARD_VERSION);
		CHECK_EQ(b[0][3], n);
		CHECK_MEM(b[0] + 4, nos[i], head);
		for (size_t k = 4 + head; k < 16; k++)
			CHECK_EQ(b[0][k], 0);
		CHECK_MEM(b[1], nos[i] + head, n - head);
		for (size_t k = n - head; k < 8; k++)
			CHECK_EQ(b[1][k], 0);
		CHECK_EQ(b[1][8], 202611 >> 24);
		CHECK_EQ(b[1][9], (202611 >> 16) & 0xFF);
		CHECK_EQ(b[1][10], (202611 >> 8) & 0xFF);
		CHECK_EQ(b[1][11], 202611 & 0xFF);
		CHECK_EQ(b[1][15], 20262 & 0xFF);
		CHECK_EQ(decode(uid4, 4, b, &got), CARD_OK);
		CHECK_STR(got.card_no, nos[i]);
		CHECK_EQ(got.valid_through, 202611);
		CHECK_EQ(got.term, 20262);
		/* The same data on a 7-byte UID. */
		CHECK_EQ(card_encode(master, uid7, 7, &d, b), CN_OK);
		CHECK_EQ(decode(uid7, 7, b, &got), CARD_OK);
		CHECK_STR(got.card_no, nos[i]);
	}
	/* No validity, no term. */
	d = data_of("42", 0, 0);
	CHECK_EQ(card_encode(master, uid4, 4, &d, b), CN_OK);
	CHECK_EQ(decode(uid4, 4, b, &got), CARD_OK);
	CHECK_EQ(got.valid_through, 0);
	CHECK_EQ(got.term, 0);
	/* The MAC: the first 16 bytes of keyed BLAKE2b-256 over uid_len ‖
	 * uid ‖ block 4 ‖ block 5, the key being BLAKE2b-256(master;
	 * "cardnode-card-mac-v1"). */
	{
		uint8_t key[32], h[32], msg[1 + 4 + 32];

		crypto_generichash(key, sizeof key,
				   (const uint8_t *)"cardnode-card-mac-v1", 20,
				   master, sizeof master);
		msg[0] = 4;
		memcpy(msg + 1, uid4, 4);
		memcpy(msg + 5, b[0], 16);
		memcpy(msg + 21, b[1], 16);
		crypto_generichash(h, sizeof h, msg, sizeof msg, key, sizeof key);
		CHECK_MEM(b[2], h, 16);
	}
	printf("card: round trip ok\n");
}

static void test_bit_flips(void)
{
	struct card_data d = data_of("1234567890123", 202609, 20261), got;
	blocks_t b, x;
	uint8_t u[7];
	size_t forged = 0, malformed = 0;

	CHECK_EQ(card_encode(master, uid7, 7, &d, b), CN_OK);
	for (size_t bit = 0; bit < sizeof b * 8; bit++) {
		enum card_status s;

		memcpy(x, b, sizeof b);
		((uint8_t *)x)[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		s = decode(uid7, 7, x, &got);
		CHECK(s == CARD_FORGED || s == CARD_MALFORMED);
		if (s != CARD_OK)
			CHECK_EQ(got.card_no[0], 0);
		forged += s == CARD_FORGED;
		malformed += s == CARD_MALFORMED;
	}
	for (size_t bit = 0; bit < sizeof u * 8; bit++) {
		memcpy(u, uid7, sizeof u);
		u[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CHECK_EQ(decode(u, 7, b, &got), CARD_FORGED);
	}
	/* Copied to a card whose UID is the 4-byte tail of this one. */
	CHECK_EQ(decode(uid7 + 3, 4, b, &got), CARD_FORGED);
	/* Another deployment's master key. */
	{
		uint8_t other[CN_KEY_LEN];

		memcpy(other, master, sizeof other);
		other[0] ^= 1;
		CHECK_EQ(card_decode(other, uid7, 7,
				     (const uint8_t (*)[CARD_BLOCK_LEN])b, &got),
			 CARD_FORGED);
	}
	CHECK_EQ(decode(uid7, 7, b, &got), CARD_OK);
	CHECK(forged > 0 && malformed > 0);
	printf("card: %zu bit flips: %zu forged, %zu malformed, none ok\n",
	       sizeof b * 8, forged, malformed);
}

static void test_blank_malformed(void)
{
	struct card_data d = data_of("ABC123", 0, 0), got;
	blocks_t b, x;

	memset(x, 0, sizeof x);
	CHECK_EQ(decode(uid4, 4, x, &got), CARD_BLANK);
	/* A zero MAC alone does not make a blank card. */
	x[0][5] = 1;
	CHECK_EQ(decode(uid4, 4, x, &got), CARD_MALFORMED);
	memset(x, 0xFF, sizeof x);
	CHECK_EQ(decode(uid4, 4, x, &got), CARD_MALFORMED);

	CHECK_EQ(card_encode(master, uid4, 4, &d, b), CN_OK);
#define MUTATE(stmt)                                                         \
	do {                                                                 \
		memcpy(x, b, sizeof b);                                      \
		stmt;                                                        \
		CHECK_EQ(decode(uid4, 4, x, &got), CARD_MALFORMED);          \
		CHECK_EQ(got.card_no[0], 0);                                 \
	} while (0)
	MUTATE(x[0][0] = 'c');                  /* magic */
	MUTATE(x[0][1] = 'X');
	MUTATE(x[0][2] = 2);                    /* version */
	MUTATE(x[0][2] = 0);
	MUTATE(x[0][3] = 0);                    /* length */
	MUTATE(x[0][3] = 21);
	MUTATE(x[0][3] = 255);
	MUTATE(x[0][3] = 5);                    /* shorter: padding not zero */
	MUTATE(x[0][3] = 7);                    /* longer: a zero character */
	MUTATE(x[0][4] = 'a');                  /* lower case */
	MUTATE(x[0][5] = '-');
	MUTATE(x[0][9] = ' ');
	MUTATE(x[0][15] = 'A');                 /* padding in block 4 */
	MUTATE(x[1][0] = 'A');                  /* padding in block 5 */
	MUTATE(x[1][7] = 1);
	MUTATE(x[1][11] = 13);                  /* valid_through: month 13 */
	MUTATE(x[1][8] = 0x7F);                 /* … a far year */
	MUTATE(x[1][15] = 3);                   /* term: T = 3 */
	MUTATE(x[1][12] = 0x10);
#undef MUTATE
	/* Bad UID lengths. */
	CHECK_EQ(decode(uid4, 0, b, &got), CARD_MALFORMED);
	CHECK_EQ(decode(uid4, 5, b, &got), CARD_MALFORMED);
	CHECK_EQ(decode(NULL, 4, b, &got), CARD_MALFORMED);
	printf("card: blank and malformed ok\n");
}

static void test_encode_refuses(void)
{
	struct card_data d;
	blocks_t b;

	d = data_of("", 0, 0);
	CHECK_EQ(card_encode(master, uid4, 4, &d, b), CN_ERR_INVAL);
	d = data_of("abc", 0, 0);
	CHECK_EQ(card_encode(master, uid4, 4, &d, b), CN_ERR_INVAL);
	d = data_of("12 3", 0, 0);
	CHECK_EQ(card_encode(master, uid4, 4, &d, b), CN_ERR_INVAL);
	d = data_of("12-3", 0, 0);
	CHECK_EQ(card_encode(master, uid4, 4, &d, b), CN_ERR_INVAL);
	/* 21 characters, no terminator inside the array. */
	memset(&d, 0, sizeof d);
	memset(d.card_no, '1', sizeof d.card_no);
	CHECK_EQ(card_encode(master, uid4, 4, &d, b), CN_ERR_INVAL);
	d = data_of("123", 202613, 0);
	CHECK_EQ(card_encode(master, uid4, 4, &d, b), CN_ERR_INVAL);
	d = data_of("123", 202600, 0);
	CHECK_EQ(card_encode(master, uid4, 4, &d, b), CN_ERR_INVAL);
	d = data_of("123", 0, 20263);
	CHECK_EQ(card_encode(master, uid4, 4, &d, b), CN_ERR_INVAL);
	d = data_of("123", 0, 2026);
	CHECK_EQ(card_encode(master, uid4, 4, &d, b), CN_ERR_INVAL);
	d = data_of("123", 0, 0);
	CHECK_EQ(card_encode(master, uid4, 0, &d, b), CN_ERR_INVAL);
	CHECK_EQ(card_encode(master, uid4, 5, &d, b), CN_ERR_INVAL);
	CHECK_EQ(card_encode(master, uid4, 11, &d, b), CN_ERR_INVAL);
	CHECK_EQ(card_encode(master, NULL, 4, &d, b), CN_ERR_INVAL);
	printf("card: encode refuses bad input ok\n");
}

static void test_keys(void)
{
	static const uint8_t uid4b[4] = { 0xDE, 0xAD, 0xBE, 0xEE };
	struct card_keys k1, k2, k3, k4;
	uint8_t h[32], msg[19 + 4];

	card_keys_derive(master, uid4, 4, &k1);
	card_keys_derive(master, uid4b, 4, &k2);
	card_keys_derive(master, uid7, 7, &k3);
	CHECK(memcmp(k1.a, k1.b, CARD_KEY_LEN) != 0);
	CHECK(memcmp(k1.a, k2.a, CARD_KEY_LEN) != 0);
	CHECK(memcmp(k1.b, k2.b, CARD_KEY_LEN) != 0);
	CHECK(memcmp(k1.a, k3.a, CARD_KEY_LEN) != 0);
	CHECK(memcmp(k1.a, card_transport_key, CARD_KEY_LEN) != 0);
	/* Deterministic. */
	card_keys_derive(master, uid4, 4, &k4);
	CHECK_MEM(&k1, &k4, sizeof k1);
	/* The first 6 bytes of BLAKE2b-256(master; "cardnode-card-key-A" ‖ uid). */
	memcpy(msg, "cardnode-card-key-A", 19);
	memcpy(msg + 19, uid4, 4);
	crypto_generichash(h, sizeof h, msg, sizeof msg, master, sizeof master);
	CHECK_MEM(k1.a, h, CARD_KEY_LEN);
	msg[18] = 'B';
	crypto_generichash(h, sizeof h, msg, sizeof msg, master, sizeof master);
	CHECK_MEM(k1.b, h, CARD_KEY_LEN);
	printf("card: keys ok\n");
}

/* The access conditions C1C2C3 of block i (0–3) from trailer bytes 6–8,
 * checking that every nibble is the complement of its pair. */
static unsigned access_bits(const uint8_t t[CARD_BLOCK_LEN], int i)
{
	unsigned c1 = t[7] >> 4, c2 = t[8] & 0xF, c3 = t[8] >> 4;

	CHECK_EQ(t[6] & 0xF, ~c1 & 0xF);
	CHECK_EQ(t[6] >> 4, ~c2 & 0xF);
	CHECK_EQ(t[7] & 0xF, ~c3 & 0xF);
	return ((c1 >> i) & 1) << 2 | ((c2 >> i) & 1) << 1 | ((c3 >> i) & 1);
}

static void test_trailer(void)
{
	struct card_keys k;
	uint8_t t[CARD_BLOCK_LEN];

	card_keys_derive(master, uid4, 4, &k);
	card_trailer(&k, t);
	CHECK_MEM(t, k.a, 6);
	CHECK_MEM(t + 10, k.b, 6);
	/* Data blocks 100: read with key A or B, written with key B only
	 * (MF1S50 table 8). */
	for (int i = 0; i < 3; i++)
		CHECK_EQ(access_bits(t, i), 4);
	/* Trailer 011: key A and key B written with key B, access bits read
	 * with A or B and written with B, key A never readable and key B
	 * not readable either (MF1S50 table 7). */
	CHECK_EQ(access_bits(t, 3), 3);
	CHECK_EQ(t[6], 0x78);
	CHECK_EQ(t[7], 0x77);
	CHECK_EQ(t[8], 0x88);
	/* The transport trailer, for comparison: data 000, trailer 001. */
	{
		static const uint8_t transport[16] = {
			0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x80, 0x69,
			0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
		};
		CHECK_EQ(access_bits(transport, 0), 0);
		CHECK_EQ(access_bits(transport, 3), 1);
	}
	CHECK_STR(card_status_name(CARD_OK), "ok");
	CHECK_STR(card_status_name(CARD_BLANK), "blank");
	CHECK_STR(card_status_name(CARD_FORGED), "forged");
	CHECK_STR(card_status_name(CARD_MALFORMED), "malformed");
	CHECK_STR(card_status_name(CARD_UNREADABLE), "unreadable");
	printf("card: trailer and access bits ok\n");
}

int main(void)
{
	CHECK(sodium_init() >= 0);
	for (size_t i = 0; i < sizeof master; i++)
		master[i] = (uint8_t)(0x40 + i);
	test_round_trip();
	test_bit_flips();
	test_blank_malformed();
	test_encode_refuses();
	test_keys();
	test_trailer();
	return 0;
}
