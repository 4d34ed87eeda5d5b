/*
 * entry.h — the change-log entry: its canonical CBOR form, hash chain and
 * signature (DESIGN §4).
 *
 * Wire and store form:  CBOR array [payload: bstr, sig: bstr(64) / null].
 * payload: canonical CBOR map with unsigned keys
 *   0 v (1)  1 origin bstr32  2 seq uint≥1  3 prev bstr32  4 hlc uint
 *   5 op uint  6 key tstr  7 body map  8 actor tstr (optional)
 * body: canonical CBOR map whose keys are the BODY_* numbers below.
 *
 * The decoder is strict: it refuses anything that is not exactly what the
 * encoder would write for the same struct (non-shortest integers, unsorted or
 * unknown keys, indefinite lengths, a field the op does not take, a missing
 * field the op requires, a value out of range, bad identifiers, trailing
 * bytes).  Hence decode(encode(e)) == e and encode(decode(b)) == b.
 */
#ifndef CN_ENTRY_H
#define CN_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cn.h"

#define ENTRY_VERSION 1

enum entry_op {
	OP_STUDENT_PUT = 1,
	OP_STUDENT_TRANSFER = 2,
	OP_CARD_ISSUE = 3,
	OP_CARD_LOST = 4,
	OP_CARD_FOUND = 5,
	OP_CARD_FREEZE = 6,
	OP_CARD_UNFREEZE = 7,
	OP_CARD_CANCEL = 8,
	OP_CARD_VALIDATE = 9,
	OP_CARD_REGISTER = 10,
	OP_REISSUE_UPDATE = 11,
	OP_STUDENT_LEAVE = 12,   /* left without a transfer [reason]: cards frozen */
	OP_CARD_STICKER = 13,    /* 卡贴 [card, number, school, photo?, expires?] */
	OP_GUARDIAN_CLAIM = 14,  /* Jiangxi e-card claim [gdd] */
	/* Jiangsu identity authentication (docs/authentication.md); the key
	 * is the education card number the record is approved under. */
	OP_AUTH_SUBMIT = 15,     /* [person, name, school, idd, …] */
	OP_AUTH_APPROVE = 16,    /* [reviewer, submission] */
	OP_AUTH_REJECT = 17,     /* [reviewer, submission, reason] */
	OP_NODE_NOTE = 20,
	OP_CITY_WATERMARK = 21,
};

/* Body field keys (the integer map keys inside payload key 7). */
enum body_key {
	BK_CARD = 0,      /* tstr card_no */
	BK_UID = 1,       /* bstr 4, 7 or 10 bytes */
	BK_KIND = 2,      /* uint: 0 regular, 1 temporary */
	BK_EXPIRES = 3,   /* uint YYYYMMDD */
	BK_REPLACES = 4,  /* tstr card_no of the card this one replaces */
	BK_FEE = 5,       /* uint, in fen (0.01 yuan) */
	BK_REASON = 6,    /* tstr */
	BK_THROUGH = 7,   /* uint YYYYMM */
	BK_TERM = 8,      /* uint YYYYT, T = 1 spring, 2 autumn */
	BK_STATE = 9,     /* uint enum reissue_state */
	BK_DELIVERY = 10, /* uint enum delivery */
	BK_SCHOOL = 11,   /* tstr DDDDDD-NNNN */
	BK_NAME = 12,     /* tstr */
	BK_GENDER = 13,   /* uint 0 unknown, 1 male, 2 female */
	BK_GRADE = 14,    /* uint 1..12 */
	BK_CLASS = 15,    /* tstr */
	BK_STAGE = 16,    /* uint 1 primary, 2 junior, 3 senior */
	BK_GRAD = 17,     /* uint YYYYMMDD graduation date */
	BK_IDD = 18,      /* bstr32 keyed digest of the national ID number */
	BK_GDD = 19,      /* bstr32 keyed digest of the guardian phone/ID */
	BK_TEXT = 20,     /* tstr, node.note */
	BK_VV = 21,       /* map bstr32 → uint, city.watermark */
	BK_TIME = 22,     /* uint ms since epoch, city.watermark */
	BK_PHOTO = 23,    /* bstr32 BLAKE2b-256 of the student's photo (JPEG):
			   * student.put, and card.sticker's photo */
	BK_NUMBER = 24,   /* tstr, card.sticker: the number printed on the sticker */
	BK_OVERRIDE = 25, /* uint 1, reissue.update: waive the 10-day loss period */
	BK_PERSON = 26,   /* uint enum person: auth.submit */
	BK_SINCE = 27,    /* uint YYYY: year of enrolment (student) or of
			   * taking up the post (teacher), auth.submit */
	BK_SUBJECT = 28,  /* tstr, the subject a teacher teaches, auth.submit */
	BK_REVIEWER = 29, /* uint enum reviewer: auth.approve / auth.reject */
	BK_SUBMISSION = 30, /* uint, the hlc of the auth.submit reviewed */
	BK__COUNT = 31    /* at most 31: `has` is a uint32_t of BF() bits */
};
#define BF(k) (1u << (k))

enum card_kind { KIND_REGULAR = 0, KIND_TEMPORARY = 1 };
enum stage { STAGE_NONE = 0, STAGE_PRIMARY = 1, STAGE_JUNIOR = 2, STAGE_SENIOR = 3 };
enum gender { GENDER_UNKNOWN = 0, GENDER_MALE = 1, GENDER_FEMALE = 2 };
enum reissue_state {
	REISSUE_NONE = 0, REISSUE_REQUESTED = 1, REISSUE_PAID = 2,
	REISSUE_IN_PRODUCTION = 3, REISSUE_SHIPPED = 4, REISSUE_AT_SCHOOL = 5,
	REISSUE_COLLECTED = 6, REISSUE_REFUNDED = 7
};
enum delivery { DELIVERY_NONE = 0, DELIVERY_HOME = 1, DELIVERY_SCHOOL = 2 };
enum person { PERSON_NONE = 0, PERSON_STUDENT = 1, PERSON_TEACHER = 2 };
enum reviewer { REVIEWER_NONE = 0, REVIEWER_CLASS_TEACHER = 1,
		REVIEWER_ADMIN = 2 };

#define ENTRY_VV_MAX 700 /* origins in one watermark (fits CN_PAYLOAD_MAX) */

struct entry_body {
	uint32_t has; /* BF(BK_*) bits of the fields present */
	char card[CN_CARD_NO_MAX + 1];
	uint8_t uid[CN_UID_MAX];
	uint8_t uid_len;
	uint8_t kind;
	uint32_t expires;
	char replaces[CN_CARD_NO_MAX + 1];
	uint32_t fee;
	char reason[CN_REASON_MAX + 1];
	uint32_t through;
	uint32_t term;
	uint8_t state;
	uint8_t delivery;
	char school[CN_SCHOOL_MAX + 1];
	char name[CN_NAME_MAX + 1];
	uint8_t gender;
	uint8_t grade;
	char class_[CN_CLASS_MAX + 1];
	uint8_t stage;
	uint32_t grad;
	uint8_t idd[CN_KEY_LEN];
	uint8_t gdd[CN_KEY_LEN];
	char text[CN_TEXT_MAX + 1];
	/* city.watermark: the encoded vv map, pointing into the decoded
	 * payload (valid as long as that buffer is). */
	const uint8_t *vv;
	size_t vv_len;
	uint64_t time;
	uint8_t photo[CN_KEY_LEN];
	char number[CN_CARD_NO_MAX + 1];
	uint8_t override;
	uint8_t person;
	uint32_t since;
	char subject[CN_SUBJECT_MAX + 1];
	uint8_t reviewer;
	uint64_t submission;
};

struct entry {
	uint8_t origin[CN_KEY_LEN];
	uint64_t seq;
	uint8_t prev[CN_KEY_LEN];
	uint64_t hlc;
	uint8_t op;
	char key[CN_EDU_ID_MAX + 1]; /* edu_id, or "" for node-level ops */
	char actor[CN_ACTOR_MAX + 1]; /* "" when absent */
	struct entry_body body;
};

/* Which body fields an op requires and which it allows (BF bits).  Returns
 * false for an unknown op. */
bool entry_op_fields(uint8_t op, uint32_t *required, uint32_t *allowed);
/* "student.put", "card.lost" …; NULL for an unknown op. */
const char *entry_op_name(uint8_t op);
/* Inverse of entry_op_name(); 0 if unknown. */
uint8_t entry_op_from_name(const char *name);

/* Identifier syntax (DESIGN §3). */
bool entry_edu_id_valid(const char *s);
bool entry_card_no_valid(const char *s);
bool entry_school_valid(const char *s);   /* DDDDDD-NNNN */
bool entry_uid_len_valid(size_t n);       /* 4, 7 or 10 */
bool entry_date_valid(uint32_t yyyymmdd); /* a real calendar date */

/* Encode `e` as canonical payload CBOR into buf[0..cap).  Checks `e` with
 * the same rules as the decoder first (CN_ERR_MALFORMED, *why set).
 * CN_ERR_TOOBIG if it does not fit or exceeds CN_PAYLOAD_MAX. */
int entry_encode(const struct entry *e, uint8_t *buf, size_t cap,
		 size_t *len, const char **why);

/* Strictly decode a payload.  On success `e` is filled (body.vv points into
 * `p`).  CN_ERR_MALFORMED / CN_ERR_TOOBIG with *why set otherwise. */
int entry_decode(const uint8_t *p, size_t len, struct entry *e,
		 const char **why);

/* Wire form.  entry_wire_encode writes [payload, sig/null] into buf;
 * `sig` may be NULL. */
int entry_wire_encode(const uint8_t *payload, size_t plen,
		      const uint8_t *sig, uint8_t *buf, size_t cap,
		      size_t *len);
/* Parse one wire entry from the front of buf[0..len).  On success sets
 * *payload and *plen to the payload bytes inside buf, *sig to the 64 signature
 * bytes inside buf or NULL, and *used to the bytes consumed.  The payload is
 * not decoded here. */
int entry_wire_decode(const uint8_t *buf, size_t len, const uint8_t **payload,
		      size_t *plen, const uint8_t **sig, size_t *used,
		      const char **why);

/* The stored form of an entry (the log table, see docs/replica.md):
 * everything but origin, seq and prev, which the table's key and the hash
 * chain give back.  hlc is stored relative to `base_hlc`, and texts of
 * digits (edu_ids, card numbers, school codes) as numbers, so the form is
 * about a third of the payload's size.  Together with origin, seq and prev,
 * entry_encode() of what entry_unpack() gives is the exact payload packed.
 *
 * entry_pack appends the form of `e` and of `sig` (NULL: none) to w:
 * CN_ERR_TOOBIG, with w->bad set, if it does not fit.
 * entry_unpack reads one form from r and fills every field of e but origin,
 * seq and prev (zero); *sig points at the signature inside r's buffer, or
 * is NULL.  CN_ERR_MALFORMED unless the bytes are a form whose entry
 * satisfies every rule of entry_encode() (a corrupt record).
 * entry_unpack_head reads only the first fields: hlc, op and key. */
struct bw;
struct br;
int entry_pack(const struct entry *e, uint64_t base_hlc, const uint8_t *sig,
	       struct bw *w);
int entry_unpack(struct br *r, uint64_t base_hlc, struct entry *e,
		 const uint8_t **sig);
int entry_unpack_head(struct br *r, uint64_t base_hlc, uint64_t *hlc,
		      uint8_t *op, char key[static CN_EDU_ID_MAX + 1]);

/* BLAKE2b-256 of a payload: what `prev` chains and what is signed. */
void entry_hash(const uint8_t *payload, size_t plen,
		uint8_t out[static CN_KEY_LEN]);
/* Ed25519 over "cardnode-entry-v1" || hash, with a 64-byte libsodium
 * secret key. */
void entry_sign(const uint8_t hash[static CN_KEY_LEN],
		const uint8_t sk[static 64], uint8_t sig[static CN_SIG_LEN]);
/* 0 if `sig` is the origin's signature over hash, CN_ERR_BADSIG otherwise. */
__attribute__((warn_unused_result)) int
entry_verify(const uint8_t hash[static CN_KEY_LEN],
	     const uint8_t sig[static CN_SIG_LEN],
	     const uint8_t pk[static CN_KEY_LEN]);

#endif
