/*
 * test_edunum.c — the education card number: the document index is
 * one-to-one, the permutation is one, numbers are well-formed, and the
 * scheme gives the same numbers as when it was fixed (vectors).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "check.h"
#include "edunum.h"
#include "enroll.h"

static uint8_t key[CN_KEY_LEN];

static uint64_t index_of(const char *s)
{
	uint64_t m = UINT64_MAX;

	CHECK(edunum_index(s, &m) == NULL);
	CHECK(m < EDUNUM_DOMAIN);
	return m;
}

static bool refused(const char *s)
{
	uint64_t m;

	return edunum_index(s, &m) != NULL;
}

/* A GB 11643 number from 17 digits. */
static void gb(const char *d17, char out[19])
{
	memcpy(out, d17, 17);
	out[17] = enroll_gb11643_check(d17);
	out[18] = '\0';
}

static void test_index(void)
{
	char n[19];

	gb("11010519491231002", n);
	CHECK_EQ(index_of(n), 11010519491231002ull);
	gb("00000000000000000", n);
	CHECK_EQ(index_of(n), 0);
	gb("99999999999999999", n);
	CHECK_EQ(index_of(n), 99999999999999999ull);
	/* A wrong check character would share the index: refused. */
	n[17] = n[17] == '0' ? '1' : '0';
	CHECK(refused(n));

	/* Foreign Permanent Resident ID Card, 2004. */
	CHECK_EQ(index_of("AAA000000000000"), 100000000000000000ull);
	CHECK_EQ(index_of("AAB000000000001"), 100000000000000000ull +
						      1000000000000ull + 1);
	CHECK_EQ(index_of("ZZZ999999999999"),
		 100000000000000000ull + 17576ull * 1000000000000ull - 1);

	/* Everything else, up to 11 characters, by length then base 36. */
	CHECK_EQ(index_of("0"), 200000000000000000ull);
	CHECK_EQ(index_of("Z"), 200000000000000000ull + 35);
	CHECK_EQ(index_of("00"), 200000000000000000ull + 36);
	CHECK_EQ(index_of("ZZ"), 200000000000000000ull + 36 + 36 * 36 - 1);
	CHECK_EQ(index_of("000"), 200000000000000000ull + 36 + 36 * 36);
	CHECK(index_of("ZZZZZZZZZZZ") < EDUNUM_DOMAIN);
	CHECK(index_of("ZZZZZZZZZZZ") > index_of("00000000000"));
	CHECK(index_of("00000000000") > index_of("ZZZZZZZZZZ"));
	CHECK(index_of("ZZZZZZZZZZZ") > 200000000000000000ull);
	CHECK(index_of("H12345678") != index_of("12345678"));
	CHECK(index_of("E12345678") != index_of("E1234567"));

	CHECK(refused(""));
	CHECK(refused("E123456789012"));          /* 13 characters */
	CHECK(refused("h12345678"));              /* lower case */
	CHECK(refused("E1234-678"));
	CHECK(refused("AB1000000000000"));        /* 15, not 3 letters */
}

/* The permutation is one on small domains of several shapes, and its
 * inverse undoes it. */
static void test_permutation(void)
{
	static const uint64_t shapes[][2] = {
		{ 1, 1 }, { 1, 7 }, { 7, 1 }, { 37, 41 }, { 9, 10 },
		{ 250, 400 }, { 90, 1000 },
	};

	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		uint64_t a = shapes[s][0], b = shapes[s][1], n = a * b;
		uint8_t *seen = calloc(n, 1);

		CHECK(seen != NULL);
		for (uint64_t x = 0; x < n; x++) {
			uint64_t y = edunum_fe1(key, a, b, x);
			CHECK(y < n);
			CHECK_EQ(seen[y], 0);
			seen[y] = 1;
			CHECK_EQ(edunum_fe1_inverse(key, a, b, y), x);
		}
		free(seen);
	}
}

static void test_numbers(void)
{
	char num[EDUNUM_LEN + 1], other[EDUNUM_LEN + 1];
	uint64_t m, back;

	/* Random indexes across the whole domain: well-formed, and back. */
	for (int i = 0; i < 20000; i++) {
		randombytes_buf(&m, sizeof m);
		m %= EDUNUM_DOMAIN;
		edunum_make(key, m, num);
		CHECK_EQ(strlen(num), EDUNUM_LEN);
		CHECK(num[0] != '0');
		CHECK(edunum_valid(num));
		CHECK_EQ(edunum_index_of(key, num, &back), CN_OK);
		CHECK_EQ(back, m);
	}
	/* The ends of the domain. */
	edunum_make(key, 0, num);
	CHECK(edunum_valid(num));
	edunum_make(key, EDUNUM_DOMAIN - 1, num);
	CHECK(edunum_valid(num));

	/* Neighbouring ID numbers (one class, one birthday) get numbers
	 * that share nothing visible. */
	edunum_make(key, 32050220120915001ull, num);
	edunum_make(key, 32050220120915002ull, other);
	CHECK(strcmp(num, other) != 0);
	CHECK(memcmp(num, other, 6) != 0);

	/* Any one mistyped digit, and any swap of two different neighbours,
	 * is caught by the check digit (Luhn misses only 09 <-> 90). */
	edunum_make(key, 1234567ull, num);
	for (int i = 0; i < EDUNUM_LEN; i++) {
		for (char c = '0'; c <= '9'; c++) {
			char t[EDUNUM_LEN + 1];
			memcpy(t, num, sizeof t);
			if (c == t[i])
				continue;
			t[i] = c;
			CHECK(!edunum_valid(t));
		}
		if (i + 1 < EDUNUM_LEN && num[i] != num[i + 1] &&
		    !((num[i] == '0' && num[i + 1] == '9') ||
		      (num[i] == '9' && num[i + 1] == '0'))) {
			char t[EDUNUM_LEN + 1];
			memcpy(t, num, sizeof t);
			t[i] = num[i + 1];
			t[i + 1] = num[i];
			CHECK(!edunum_valid(t));
		}
	}
	CHECK(!edunum_valid(""));
	CHECK(!edunum_valid("123"));
	CHECK(!edunum_valid("12345678901234567890"));
	CHECK(!edunum_valid("0000000000000000000"));
	CHECK_EQ(edunum_index_of(key, "1234567890123456789x", &back),
		 CN_ERR_MALFORMED);
}

/* The scheme, pinned: these numbers were computed when it was fixed.  If
 * this fails, every approved person of every deployment would get a new
 * number — change the code back, not the vectors. */
static void test_vectors(void)
{
	static const struct {
		const char *idnum, *number;
	} v[] = {
		{ "11010519491231002X", "8487277318749967769" },
		{ "320502201209150014", "5144934566088929775" },
		{ "USA200012310001", "6412458685107853109" },
		{ "E12345678", "5260292751548240266" },
		{ "H1234567890", "9309253700246509975" },
	};
	uint8_t k[CN_KEY_LEN];
	char num[EDUNUM_LEN + 1];
	uint64_t m;

	for (int i = 0; i < CN_KEY_LEN; i++)
		k[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		CHECK(edunum_index(v[i].idnum, &m) == NULL);
		edunum_make(k, m, num);
		if (getenv("EDUNUM_PRINT"))
			printf("%s %s\n", v[i].idnum, num);
		else
			CHECK_STR(num, v[i].number);
	}
}

int main(void)
{
	CHECK(sodium_init() >= 0);
	randombytes_buf(key, sizeof key);
	test_index();
	test_permutation();
	test_numbers();
	test_vectors();
	printf("test_edunum: ok\n");
	return 0;
}
