/*
 * station.h — what a reader station does with a tap (DESIGN §6, §9): the
 * decision from the local replica, what to author, what to write to the
 * card.  No I/O of its own: it reads a replica view (replica_view_open) and
 * returns a plan; the daemon authors the entry, writes the card and logs.
 *
 * Modes:
 *   gate      decide and record;
 *   validate  Suzhou monthly validation: when the card passes or only lacks
 *             this month's validation, author card.validate for today and
 *             write the new validity to the card;
 *   register  semester registration: likewise with card.register for the
 *             current term;
 *   issue     personalise a blank card: the replica must hold a live card
 *             with this UID; its education sector is written (card.h).
 * The chip's education sector is evidence, the replica decides:
 *   - a sector whose MAC fails is a forged card (DEC_FORGED);
 *   - when several cards share the UID, the card number on the chip picks
 *     one (its UID must match); without it the tap is ambiguous;
 *   - a chip that disagrees with the replica (another card number, other
 *     validity or term) follows the replica; `detail` says so and the
 *     disagreement is logged.
 */
#ifndef CN_STATION_H
#define CN_STATION_H

#include <stdbool.h>
#include <stdint.h>

#include "card.h"
#include "entry.h"
#include "nfc.h"
#include "policy.h"
#include "replica.h"

enum station_mode {
	STATION_GATE = 0,
	STATION_VALIDATE,
	STATION_REGISTER,
	STATION_ISSUE,
};

/* "gate", "validate", "register", "issue"; parse: 0 or CN_ERR_INVAL. */
const char *station_mode_name(enum station_mode m);
int station_mode_parse(const char *s, enum station_mode *m);

struct station_plan {
	enum decision decision;
	char card[CN_CARD_NO_MAX + 1];    /* "" when unknown */
	char edu_id[CN_EDU_ID_MAX + 1];
	char detail[200];                 /* for the log and the operator */
	bool disagree;                    /* the chip disagrees with the replica */
	bool author;                      /* author `entry`, then station_after */
	struct entry entry;
	bool write;                       /* write `data` to the card */
	bool format;                      /* … personalising a blank card */
	struct card_data data;
};

/* Plan the tap `t` at now_ms.  actor: recorded in authored entries.
 * Errors: the view's (CN_ERR_STORE …); the plan is then a refusal. */
int station_plan(struct replica *view, enum station_mode mode,
		 const char *actor, const struct reader_tap *t, uint64_t now_ms,
		 struct station_plan *p);

/* The entry of the plan was written (rc 0) or not (rc, why): decide again
 * from the replica, and set what to write to the card. */
void station_after(struct replica *view, const struct reader_tap *t,
		   uint64_t now_ms, int rc, const char *why,
		   struct station_plan *p);

#endif
