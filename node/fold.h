/*
 * fold.h — a student's state as a pure function of the set of entries in its
 * history (DESIGN §4 "Merge"), with authorization decided inside the fold
 * (DESIGN §5).
 *
 * Entries are applied in (hlc, origin, seq) order.  Info fields and the
 * lost/frozen flags are last-writer-wins registers; valid_through and
 * registered_term only grow; terminal states never revert; where two entries
 * set lost or frozen at the same hlc the blocking value wins.  Replaying the
 * same set in that order from an empty state always gives the same state, and
 * applying an entry that sorts after everything already applied (the fast
 * path) gives the same state as a full re-fold.
 */
#ifndef CN_FOLD_H
#define CN_FOLD_H

#include <stdbool.h>
#include <stdint.h>

#include "cn.h"
#include "entry.h"
#include "policy.h"

struct card_state {
	char card[CN_CARD_NO_MAX + 1];
	uint8_t uid[CN_UID_MAX];
	uint8_t uid_len;
	uint8_t kind;             /* enum card_kind */
	uint8_t terminal;         /* enum terminal */
	bool lost;
	bool frozen;
	uint64_t issued_hlc;      /* hlc of the card.issue */
	uint64_t lost_hlc;        /* hlc of the entry that last wrote `lost` */
	uint64_t frozen_hlc;      /* … `frozen` */
	uint32_t expires;         /* YYYYMMDD, 0 none */
	uint32_t valid_through;   /* YYYYMM, 0 never validated */
	uint32_t registered_term; /* YYYYT, 0 never registered */
	char replaces[CN_CARD_NO_MAX + 1];    /* the card this one replaced */
	char replaced_by[CN_CARD_NO_MAX + 1]; /* set with TERMINAL_REPLACED */
	uint8_t reissue_state;    /* enum reissue_state */
	uint8_t reissue_delivery; /* enum delivery */
	uint32_t reissue_fee;     /* fen */
	uint64_t reissue_hlc;     /* when the request entered its state */
	bool has_photo;           /* a card sticker (卡贴) set the photo */
	uint8_t photo[CN_KEY_LEN];
};

/* Where a record stands in the Jiangsu identity authentication
 * (auth.submit / auth.approve / auth.reject). */
enum auth_state { AUTH_NONE = 0, AUTH_SUBMITTED = 1, AUTH_APPROVED = 2,
		  AUTH_REJECTED = 3 };

/* Why a student left without a transfer (student.leave). */
enum leave_reason { LEAVE_NONE = 0, LEAVE_GRADUATED = 1, LEAVE_DROPPED = 2,
		    LEAVE_OTHER = 3 };

struct student_state {
	char edu_id[CN_EDU_ID_MAX + 1];
	bool known;               /* a student.put has taken effect */
	char name[CN_NAME_MAX + 1];
	char school[CN_SCHOOL_MAX + 1];
	char class_[CN_CLASS_MAX + 1];
	uint8_t gender, grade, stage;
	uint32_t grad;            /* YYYYMMDD, 0 none */
	bool has_idd, has_gdd, has_photo;
	uint8_t idd[CN_KEY_LEN];
	uint8_t gdd[CN_KEY_LEN];
	uint8_t photo[CN_KEY_LEN]; /* BLAKE2b-256 of the photo's JPEG bytes */
	uint8_t ncards;
	struct card_state cards[CN_CARDS_MAX];
	uint8_t left;             /* enum leave_reason; LEAVE_NONE: enrolled */
	/* The guardian claim (Jiangxi e-card): who claimed and the entry's
	 * fold order, so that claims of one guardian across students can be
	 * ranked the same way on every replica (fold_claim_cmp). */
	bool claimed;
	uint8_t claim_gdd[CN_KEY_LEN];
	uint64_t claim_hlc;
	uint8_t claim_origin[CN_KEY_LEN];
	uint64_t claim_seq;
	/* Identity authentication (Jiangsu).  A submitted or rejected record
	 * holds the submitted fields above but is not `known`; approval makes
	 * it known, with the history key as its education card number. */
	uint8_t person;           /* enum person; PERSON_NONE: by student.put */
	uint8_t auth;             /* enum auth_state */
	uint8_t reviewer;         /* enum reviewer of the approval/rejection */
	uint16_t since;           /* YYYY enrolled / took up the post, 0 none */
	uint64_t auth_hlc;        /* hlc of the entry that set `auth` */
	uint64_t submission_hlc;  /* hlc of the submission in force */
	char subject[CN_SUBJECT_MAX + 1];
	char auth_reason[CN_REASON_MAX + 1]; /* why it was rejected */
};

/* Why an entry in a history has no effect.  0 means it was applied. */
enum fold_reason {
	FR_APPLIED = 0,
	FR_NO_CERT,          /* origin has no certificate (yet) */
	FR_CERT_TIME,        /* entry time outside the certificate's validity */
	FR_REVOKED,          /* origin revoked before this seq */
	FR_ROLE,             /* the origin's role may not author this op */
	FR_SCOPE,            /* the student is outside the origin's scope */
	FR_UNKNOWN_STUDENT,  /* no student.put has taken effect before it */
	FR_NEEDS_SCHOOL,     /* a first student.put must name the school */
	FR_SCHOOL_CHANGE,    /* student.put may not change the school */
	FR_UNKNOWN_CARD,     /* the card is not issued to this student */
	FR_CARD_EXISTS,      /* card.issue of a number the student already has */
	FR_TOO_MANY_CARDS,   /* CN_CARDS_MAX reached */
	FR_TERMINAL,         /* the card is cancelled or replaced */
	FR_BAD_REPLACES,     /* `replaces` names no card of the student */
	FR_BAD_TRANSITION,   /* reissue state change not allowed */
	FR_NODE_LEVEL,       /* node-level op (note, watermark): no history */
	FR_FORKED,           /* origin has equivocated */
	FR_NOT_LOST,         /* reissue (reason lost) / temporary card: no lost card */
	FR_LOSS_PERIOD,      /* reissue of a card lost for less than 10 days */
	FR_WRONG_DELIVERY,   /* shipped for school delivery, at_school for home */
	FR_REISSUE_PENDING,  /* replacement issued before the request reached delivery */
	FR_STUDENT_LEFT,     /* card.issue for a student who left */
	FR_STICKER_NUMBER,   /* the sticker's number is not the card's */
	FR_NOT_GUARDIAN,     /* the registry does not name the claimant as guardian */
	FR_CLAIMED,          /* the student's e-card is already claimed */
	FR_AUTH_DONE,        /* auth.submit for a record already approved */
	FR_AUTH_PENDING,     /* student.put on a record still under review */
	FR_NOT_SUBMITTED,    /* approve/reject with no submission waiting */
	FR_STALE_REVIEW,     /* the review is of an earlier submission */
	FR_REVIEWER,         /* a class teacher reviewing a teacher's record */
	FR__COUNT
};

const char *fold_reason_name(enum fold_reason r);   /* "no_cert" … */
const char *fold_reason_text(enum fold_reason r);   /* a sentence */

/* The authority answers, for an entry about to be applied to `st`, whether
 * its origin may author it (FR_APPLIED) or why not.  `st` is the state just
 * before the entry. */
typedef enum fold_reason (*fold_authorize_fn)(void *ctx, const struct entry *e,
					      const struct student_state *st);

struct fold_env {
	fold_authorize_fn authorize; /* NULL: everything authorized */
	void *ctx;
};

/* Order of entries in a history: by hlc, then origin bytes, then seq.
 * Returns <0, 0, >0. */
int fold_order_cmp(uint64_t hlc_a, const uint8_t origin_a[static CN_KEY_LEN],
		   uint64_t seq_a, uint64_t hlc_b,
		   const uint8_t origin_b[static CN_KEY_LEN], uint64_t seq_b);

/* An empty state for edu_id. */
void fold_init(struct student_state *st, const char *edu_id);

/* Apply one entry (whose key is st->edu_id) on top of `st`.  Returns
 * FR_APPLIED and updates st, or a refusal reason and leaves st unchanged. */
enum fold_reason fold_apply(const struct fold_env *env, struct student_state *st,
			    const struct entry *e);

/* Find a card of the student by number; NULL if none. */
struct card_state *fold_card(struct student_state *st, const char *card_no);
const struct card_state *fold_card_const(const struct student_state *st,
					 const char *card_no);

/* The status word of DESIGN §10: "active", "lost", "frozen", "cancelled",
 * "replaced". */
const char *fold_card_status(const struct card_state *c);
/* True when the card belongs on the hotlist (lost, frozen or terminal). */
bool fold_card_hot(const struct card_state *c);

/* Fill the policy view of a card; `issued` is computed from issued_hlc in
 * the process time zone. */
void fold_policy_card(const struct card_state *c, struct policy_card *pc);

/* The canonical bytes of a student state that the state digest hashes:
 * every field of the state, cards in issue (fold) order, nothing local to a
 * replica.  Returns the length written (≤ cap) or 0 if cap is too small. */
size_t fold_digest_bytes(const struct student_state *st, uint8_t *buf,
			 size_t cap);

/* Order of two guardian claims (students whose `claimed` is set) in the
 * fold order of their entries: <0, 0, >0.  Of the claims carrying one
 * guardian digest, the first FOLD_CLAIMS_MAX in this order count; any later
 * one is over the limit — the same answer on every replica holding the same
 * entries, though the claims live in different histories. */
#define FOLD_CLAIMS_MAX 3
int fold_claim_cmp(const struct student_state *a, const struct student_state *b);

/* Compact binary form stored in LMDB.  fold_state_encode returns the length
 * (≤ cap) or 0 if it does not fit; fold_state_decode returns 0 or
 * CN_ERR_MALFORMED (a corrupt record). */
size_t fold_state_encode(const struct student_state *st, uint8_t *buf,
			 size_t cap);
int fold_state_decode(const uint8_t *buf, size_t len, struct student_state *st);

#endif
