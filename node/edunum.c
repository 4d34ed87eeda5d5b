#include "edunum.h"

#include <string.h>

#include <sodium.h>

#include "enroll.h"

#define GB_RANGE 0ull                   /* [0, 10^17) */
#define FPR2004_RANGE 100000000000000000ull /* 10^17 */
#define OTHER_RANGE 200000000000000000ull   /* 2 × 10^17 */
#define OTHER_LEN_MAX 11
#define NUMBER_BASE 100000000000000000ull   /* 10^17: no leading 0 */
#define FE1_A 900000000ull                  /* a · b = EDUNUM_DOMAIN */
#define FE1_B 1000000000ull
#define FE1_ROUNDS 12

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

static uint64_t decimal(const char *s, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * 10 + (uint64_t)(s[i] - '0');
	return v;
}

const char *edunum_index(const char *idnum, uint64_t *m)
{
	size_t n = strlen(idnum);
	uint64_t v, below;

	*m = 0;
	for (size_t i = 0; i < n; i++)
		if (!is_digit(idnum[i]) && !is_upper(idnum[i]))
			return "only the characters 0-9 and A-Z are allowed";
	if (n == 18 && all_digits(idnum, 17)) {
		/* The check character is a function of the 17 digits: only
		 * the right one keeps the index one-to-one. */
		if (enroll_gb11643_check(idnum) != idnum[17])
			return "check character does not match (GB 11643)";
		*m = GB_RANGE + decimal(idnum, 17);
		return NULL;
	}
	if (n == 15 && is_upper(idnum[0]) && is_upper(idnum[1]) &&
	    is_upper(idnum[2]) && all_digits(idnum + 3, 12)) {
		v = ((uint64_t)(idnum[0] - 'A') * 26 + (uint64_t)(idnum[1] - 'A')) *
			    26 + (uint64_t)(idnum[2] - 'A');
		*m = FPR2004_RANGE + v * 1000000000000ull + decimal(idnum + 3, 12);
		return NULL;
	}
	if (n == 0 || n > OTHER_LEN_MAX)
		return "the education card number covers 18-character ID "
		       "numbers, 3 letters and 12 digits, and other numbers of "
		       "1 to 11 characters";
	/* Rank among all strings of 0-9 A-Z: shorter ones first. */
	below = 0;
	v = 36;
	for (size_t k = 1; k < n; k++, v *= 36)
		below += v;
	v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 36 + (uint64_t)(is_digit(idnum[i]) ? idnum[i] - '0'
							    : idnum[i] - 'A' + 10);
	*m = OTHER_RANGE + below + v;
	return NULL;
}

/* Round function: keyed BLAKE2b of (round, half), as a number mod `mod`. */
static uint64_t round_f(const uint8_t key[static CN_KEY_LEN], unsigned round,
			uint64_t half, uint64_t mod)
{
	uint8_t in[9], out[crypto_generichash_BYTES_MIN];
	uint64_t v = 0;

	in[0] = (uint8_t)round;
	for (int i = 0; i < 8; i++)
		in[1 + i] = (uint8_t)(half >> (8 * i));
	crypto_generichash(out, sizeof out, in, sizeof in, key, CN_KEY_LEN);
	for (int i = 7; i >= 0; i--)
		v = v << 8 | out[i];
	return v % mod;
}

uint64_t edunum_fe1(const uint8_t key[static CN_KEY_LEN], uint64_t a,
		    uint64_t b, uint64_t x)
{
	for (unsigned i = 0; i < FE1_ROUNDS; i++) {
		uint64_t l = x / b, r = x % b;
		uint64_t w = (l + round_f(key, i, r, a)) % a;

		x = a * r + w;
	}
	return x;
}

uint64_t edunum_fe1_inverse(const uint8_t key[static CN_KEY_LEN], uint64_t a,
			    uint64_t b, uint64_t y)
{
	for (unsigned i = FE1_ROUNDS; i-- > 0;) {
		uint64_t r = y / a, w = y % a;
		uint64_t l = (w + a - round_f(key, i, r, a)) % a;

		y = b * l + r;
	}
	return y;
}

/* The Luhn check digit of digits d[0..n). */
static char luhn(const char *d, size_t n)
{
	unsigned sum = 0;
	bool twice = true; /* the digit next to the check digit is doubled */

	for (size_t i = n; i-- > 0; twice = !twice) {
		unsigned v = (unsigned)(d[i] - '0');
		if (twice && (v *= 2) > 9)
			v -= 9;
		sum += v;
	}
	return (char)('0' + (10 - sum % 10) % 10);
}

void edunum_make(const uint8_t key[static CN_KEY_LEN], uint64_t m,
		 char out[static EDUNUM_LEN + 1])
{
	uint64_t v = NUMBER_BASE + edunum_fe1(key, FE1_A, FE1_B,
					      m % EDUNUM_DOMAIN);

	for (int i = EDUNUM_LEN - 2; i >= 0; i--, v /= 10)
		out[i] = (char)('0' + v % 10);
	out[EDUNUM_LEN - 1] = luhn(out, EDUNUM_LEN - 1);
	out[EDUNUM_LEN] = '\0';
}

bool edunum_valid(const char *s)
{
	return s != NULL && strlen(s) == EDUNUM_LEN &&
	       all_digits(s, EDUNUM_LEN) && s[0] != '0' &&
	       luhn(s, EDUNUM_LEN - 1) == s[EDUNUM_LEN - 1];
}

int edunum_index_of(const uint8_t key[static CN_KEY_LEN], const char *num,
		    uint64_t *m)
{
	if (!edunum_valid(num))
		return CN_ERR_MALFORMED;
	*m = edunum_fe1_inverse(key, FE1_A, FE1_B,
				decimal(num, EDUNUM_LEN - 1) - NUMBER_BASE);
	return CN_OK;
}
