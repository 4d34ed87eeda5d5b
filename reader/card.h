/*
 * card.h — the education sector of a MIFARE Classic 1K student card
 * (DESIGN §9): where it lives, its keys, its bytes and its MAC.  Pure
 * functions, no I/O: the reader backends (nfc.h) move the bytes.
 *
 * The sector is CARD_SECTOR: data blocks 4, 5 and 6, trailer block 7.
 *   block 4: 'C' 'N', version (1), card_no length n (1 … 20), the first
 *            min(n, 12) characters of card_no ([0-9A-Z]), zero padding
 *   block 5: the remaining card_no characters (≤ 8), zero padding to 8,
 *            valid_through (u32 big-endian YYYYMM, 0 none), registered
 *            term (u32 big-endian YYYYT, 0 none)
 *   block 6: MAC = the first 16 bytes of keyed BLAKE2b over
 *            uid_len (1) ‖ uid ‖ block 4 ‖ block 5, keyed with the MAC key
 * Keys: key A and key B are the first 6 bytes of keyed BLAKE2b over
 * "cardnode-card-key-A" (resp. "-B") ‖ uid, keyed with the card master key;
 * the MAC key is keyed BLAKE2b of "cardnode-card-mac-v1" under the same
 * master.  The master key comes from the deployment secret
 * (replica_card_master_key, node/replica.h), so every node of a deployment
 * reads every card, and a card copied to another UID no longer verifies.
 * Access bits: data blocks readable with key A or B and writable with key B
 * only; the trailer writable with key B only; key A never readable.
 * A blank card (as delivered: transport keys FFFFFFFFFFFF, zero blocks) is
 * personalised by writing the three blocks and then the trailer.
 */
#ifndef CN_CARD_H
#define CN_CARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cn.h"

#define CARD_SECTOR 1
#define CARD_BLOCK_FIRST 4           /* blocks 4, 5, 6 */
#define CARD_BLOCKS 3
#define CARD_TRAILER 7
#define CARD_BLOCK_LEN 16
#define CARD_KEY_LEN 6
#define CARD_VERSION 1

/* Transport key of a blank card. */
extern const uint8_t card_transport_key[CARD_KEY_LEN];

struct card_keys {
	uint8_t a[CARD_KEY_LEN];
	uint8_t b[CARD_KEY_LEN];
};

struct card_data {
	char card_no[CN_CARD_NO_MAX + 1];
	uint32_t valid_through;      /* YYYYMM, 0: none */
	uint32_t term;               /* YYYYT registered, 0: none */
};

enum card_status {
	CARD_OK = 0,                 /* well-formed, the MAC verifies */
	CARD_BLANK,                  /* never personalised: zero blocks */
	CARD_FORGED,                 /* well-formed but the MAC does not verify */
	CARD_MALFORMED,              /* not our format, or bad fields */
	CARD_UNREADABLE,             /* neither our keys nor the transport key
				      * open the sector (set by backends) */
};

/* "ok", "blank", "forged", "malformed", "unreadable". */
const char *card_status_name(enum card_status s);

void card_keys_derive(const uint8_t master[static CN_KEY_LEN],
		      const uint8_t *uid, size_t uid_len, struct card_keys *k);

/* The three data blocks for `d` on the card `uid`.  CN_ERR_INVAL for a
 * card_no that is not [0-9A-Z]{1,20} or a bad uid length. */
int card_encode(const uint8_t master[static CN_KEY_LEN], const uint8_t *uid,
		size_t uid_len, const struct card_data *d,
		uint8_t out[CARD_BLOCKS][CARD_BLOCK_LEN]);

/* Read the three data blocks of card `uid`: CARD_OK with *d filled, or
 * why not (d zeroed).  Never trusts a length. */
enum card_status card_decode(const uint8_t master[static CN_KEY_LEN],
			     const uint8_t *uid, size_t uid_len,
			     const uint8_t in[CARD_BLOCKS][CARD_BLOCK_LEN],
			     struct card_data *d);

/* The sector trailer with keys k and the access bits above. */
void card_trailer(const struct card_keys *k, uint8_t out[CARD_BLOCK_LEN]);

#endif
