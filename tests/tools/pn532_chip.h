/*
 * pn532_chip.h — an I/O-free model of a PN532 on its UART (HSU) link with
 * one MIFARE Classic 1K card in its field, as libnfc 1.8.0 drives it.
 *
 * The caller owns the struct and every card; the chip only points at the
 * card currently in the field.  Bytes from the host go in through
 * pn532_feed(); whatever the chip answers is appended to p->out, which the
 * caller writes to the host and then empties (p->out_len = 0).  Time is
 * passed in (monotonic milliseconds) so that pending commands (a selection
 * waiting for a card, InAutoPoll) and stale partial frames can expire:
 * call pn532_tick() when pn532_deadline() is reached.
 *
 * See docs/pn532emu.md for what is and is not emulated.
 */
#ifndef CN_PN532_CHIP_H
#define CN_PN532_CHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PN532_CARD_BYTES 1024
#define PN532_UID_MAX 7
/* Input buffer: room for more than the largest frame accepted (extended
 * header 7, TFI + data 265, DCS 1), so a full buffer holds no frame. */
#define PN532_RX_MAX 512
#define PN532_OUT_MAX 4096

struct pn532_card {
	uint8_t uid[PN532_UID_MAX];
	size_t uid_len;              /* 4 or 7 */
	uint8_t mem[PN532_CARD_BYTES]; /* 64 blocks of 16 bytes */
};

enum pn532_pending {
	PN532_PEND_NONE,
	PN532_PEND_LIST,     /* InListPassiveTarget waiting for a card */
	PN532_PEND_AUTOPOLL, /* InAutoPoll waiting for a card */
};

struct pn532 {
	uint8_t regs[65536]; /* ReadRegister/WriteRegister address space */
	uint8_t params;      /* SetParameters flags */
	uint8_t max_retries; /* RFConfiguration MxRtyPassiveActivation */
	bool field;          /* RF field on */

	/* The card in the field (NULL: none) and the state the chip and the
	 * card are in. */
	struct pn532_card *card;
	bool tg_active;   /* the chip holds target 1 */
	bool card_active; /* the card answers (selected, not halted) */
	int auth_sector;  /* authenticated sector, -1 for none */
	bool auth_key_b;

	/* A command whose answer waits for a card or a deadline. */
	enum pn532_pending pend;
	uint64_t pend_deadline; /* 0: no deadline */
	uint8_t pend_types[16]; /* InAutoPoll types */
	size_t pend_ntypes;
	uint8_t pend_uid[12];   /* InListPassiveTarget initiator data */
	size_t pend_uid_len;

	/* Bytes from the host not yet consumed, and when the last came. */
	uint8_t rx[PN532_RX_MAX];
	size_t rx_len;
	uint64_t rx_stamp;

	/* Bytes for the host, and the last answer frame (resent on NACK). */
	uint8_t out[PN532_OUT_MAX];
	size_t out_len;
	uint8_t last[300];
	size_t last_len;

	bool log; /* trace frames on stderr */
};

/* Power-on state: registers at their defaults, no target, RF off.  The card
 * pointer and the log flag are kept. */
void pn532_reset(struct pn532 *p);

/* Bytes received from the host at time `now`.  Never fails: malformed input
 * is dropped the way the chip drops it. */
void pn532_feed(struct pn532 *p, const uint8_t *buf, size_t n, uint64_t now);

/* A card entered (card != NULL) or left the field.  A pending selection or
 * poll is answered at once when the new card fits. */
void pn532_set_card(struct pn532 *p, struct pn532_card *card);

/* When pn532_tick() must run next (monotonic ms), 0 for never. */
uint64_t pn532_deadline(const struct pn532 *p);
void pn532_tick(struct pn532 *p, uint64_t now);

/* Fill `c->mem` with a blank card: block 0 holds the UID (and BCC for a
 * 4-byte UID), data blocks are zero, every sector trailer has key A = key B
 * = FFFFFFFFFFFF and the transport access bits FF0780, GPB 69. */
void pn532_card_blank(struct pn532_card *c);

#endif
