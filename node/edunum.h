/*
 * edunum.h — the education card number (教育卡号) that approving a Jiangsu
 * identity authentication gives a student or teacher (docs/authentication.md).
 *
 * The number is a function of the person's identity number and of the
 * deployment secret, and of nothing else:
 *
 *   1. the identity number (upper-cased, as enroll_idnum_check() leaves it)
 *      maps one-to-one to an integer m below EDUNUM_DOMAIN (the "document
 *      index"): three disjoint ranges, one per form of number;
 *   2. a keyed permutation of [0, EDUNUM_DOMAIN) — the FE1 construction of
 *      Bellare, Ristenpart, Rogaway and Stegers (format-preserving
 *      encryption), 12 rounds of keyed BLAKE2b — takes m to p;
 *   3. the number is the 18 decimal digits of 10^17 + p followed by a Luhn
 *      check digit: 19 digits, never starting with 0.
 *
 * Every step is injective, so two different identity numbers never get the
 * same education card number, whichever nodes approve them and in whatever
 * order; one person approved twice, anywhere, gets the same number.  No
 * coordination between nodes is needed, and without the deployment secret
 * the number says nothing about the identity number.
 *
 * The scheme is part of the deployment's data: changing any constant here
 * would give every person a new number.  test_edunum pins it with vectors.
 */
#ifndef CN_EDUNUM_H
#define CN_EDUNUM_H

#include <stdbool.h>
#include <stdint.h>

#include "cn.h"

#define EDUNUM_LEN 19                          /* digits of a number */
#define EDUNUM_DOMAIN 900000000000000000ull    /* 9 × 10^17 */

/* The document index of an identity number (upper case, no blanks):
 *   [0, 10^17)          18 characters in the GB 11643 form (17 digits and
 *                       a check character): resident ID cards, the Hong
 *                       Kong, Macao and Taiwan residence permits, the
 *                       Foreign Permanent Resident ID Card of 2017/2023.
 *                       m = the 17 digits.
 *   [10^17, 1.18×10^17) 3 letters and 12 digits (Foreign Permanent Resident
 *                       ID Card, 2004): m = 10^17 + letters (base 26) ×
 *                       10^12 + digits.
 *   [2×10^17, 3.4×10^17) any other number of 1 to 11 characters of 0-9 and
 *                       A-Z (passports, travel permits): m = 2×10^17 + its
 *                       rank in the order of length, then base 36.
 * Returns NULL and sets *m, or the reason the number has no index (longer
 * than 11 characters and of neither fixed form; a character outside 0-9
 * and A-Z) — never naming the number. */
const char *edunum_index(const char *idnum, uint64_t *m);

/* The number of document index m (< EDUNUM_DOMAIN) under `key` (32 bytes,
 * derived from the deployment secret), into out[EDUNUM_LEN + 1]. */
void edunum_make(const uint8_t key[static CN_KEY_LEN], uint64_t m,
		 char out[static EDUNUM_LEN + 1]);

/* The document index a valid number was made from (for audits and tests):
 * CN_OK, or CN_ERR_MALFORMED if `num` is not a valid number. */
int edunum_index_of(const uint8_t key[static CN_KEY_LEN], const char *num,
		    uint64_t *m);

/* Is s a well-formed number: 19 digits, the first not 0, the Luhn check
 * digit right?  (Says nothing about whether anyone holds it.) */
bool edunum_valid(const char *s);

/* The permutation itself, over [0, a·b) with a·b ≤ 2^64 - 1: exposed so
 * that the tests can check on a small domain that it is one. */
uint64_t edunum_fe1(const uint8_t key[static CN_KEY_LEN], uint64_t a,
		    uint64_t b, uint64_t x);
uint64_t edunum_fe1_inverse(const uint8_t key[static CN_KEY_LEN], uint64_t a,
			    uint64_t b, uint64_t y);

#endif
