#include "fold.h"

#include <string.h>

#include <sodium.h>

#include "bytes.h"
#include "hlc.h"

static const struct {
	const char *name;
	const char *text;
} reasons[FR__COUNT] = {
	[FR_APPLIED] = {"applied", "applied"},
	[FR_NO_CERT] = {"no_cert", "the author has no certificate (yet)"},
	[FR_CERT_TIME] = {"cert_time", "written outside the author's certificate validity"},
	[FR_REVOKED] = {"revoked", "the author was revoked before this entry"},
	[FR_ROLE] = {"role", "the author's role may not do this"},
	[FR_SCOPE] = {"scope", "the student is outside the author's scope"},
	[FR_UNKNOWN_STUDENT] = {"unknown_student", "the student is not known at this point"},
	[FR_NEEDS_SCHOOL] = {"needs_school", "a new student needs a school"},
	[FR_SCHOOL_CHANGE] = {"school_change", "student.put cannot change the school (use a transfer)"},
	[FR_UNKNOWN_CARD] = {"unknown_card", "the card is not issued to this student"},
	[FR_CARD_EXISTS] = {"card_exists", "the student already has a card with this number"},
	[FR_TOO_MANY_CARDS] = {"too_many_cards", "the student has too many cards"},
	[FR_TERMINAL] = {"terminal", "the card is cancelled or replaced"},
	[FR_BAD_REPLACES] = {"bad_replaces", "the replaced card is not a card of this student"},
	[FR_BAD_TRANSITION] = {"bad_transition", "this reissue step is not allowed now"},
	[FR_NODE_LEVEL] = {"node_level", "a node-level entry has no student history"},
	[FR_FORKED] = {"forked", "the author's log has forked"},
	[FR_NOT_LOST] = {"not_lost", "the card is not reported lost"},
	[FR_LOSS_PERIOD] = {"loss_period", "the card has been lost for less than 10 days"},
	[FR_WRONG_DELIVERY] = {"wrong_delivery", "the request chose the other delivery"},
	[FR_REISSUE_PENDING] = {"reissue_pending", "the reissue request has not reached delivery"},
	[FR_STUDENT_LEFT] = {"student_left", "the student has left (graduated or dropped out)"},
	[FR_STICKER_NUMBER] = {"sticker_number", "the sticker's number does not match the card's"},
	[FR_NOT_GUARDIAN] = {"not_guardian", "the school registry does not name this person as the student's guardian"},
	[FR_CLAIMED] = {"claimed", "the student's e-card is already claimed"},
	[FR_AUTH_DONE] = {"auth_done", "the record is already approved (change it with student.put)"},
	[FR_AUTH_PENDING] = {"auth_pending", "the record awaits its identity review"},
	[FR_NOT_SUBMITTED] = {"not_submitted", "no submission awaits review"},
	[FR_STALE_REVIEW] = {"stale_review", "the record was submitted again after the one reviewed"},
	[FR_REVIEWER] = {"reviewer", "a teacher's record is reviewed by an administrator, not a class teacher"},
};

const char *fold_reason_name(enum fold_reason r)
{
	return (unsigned)r < FR__COUNT ? reasons[r].name : "invalid";
}

const char *fold_reason_text(enum fold_reason r)
{
	return (unsigned)r < FR__COUNT ? reasons[r].text : "invalid";
}

int fold_order_cmp(uint64_t hlc_a, const uint8_t origin_a[static CN_KEY_LEN],
		   uint64_t seq_a, uint64_t hlc_b,
		   const uint8_t origin_b[static CN_KEY_LEN], uint64_t seq_b)
{
	int c;

	if (hlc_a != hlc_b)
		return hlc_a < hlc_b ? -1 : 1;
	c = memcmp(origin_a, origin_b, CN_KEY_LEN);
	if (c != 0)
		return c;
	if (seq_a != seq_b)
		return seq_a < seq_b ? -1 : 1;
	return 0;
}

void fold_init(struct student_state *st, const char *edu_id)
{
	size_t n = strnlen(edu_id, CN_EDU_ID_MAX);

	memset(st, 0, sizeof *st);
	memcpy(st->edu_id, edu_id, n);
}

struct card_state *fold_card(struct student_state *st, const char *card_no)
{
	for (int i = 0; i < st->ncards; i++)
		if (strcmp(st->cards[i].card, card_no) == 0)
			return &st->cards[i];
	return NULL;
}

const struct card_state *fold_card_const(const struct student_state *st,
					 const char *card_no)
{
	return fold_card((struct student_state *)st, card_no);
}

const char *fold_card_status(const struct card_state *c)
{
	if (c->terminal == TERMINAL_CANCELLED)
		return "cancelled";
	if (c->terminal == TERMINAL_REPLACED)
		return "replaced";
	if (c->terminal == TERMINAL_EXPIRED)
		return "expired";
	if (c->lost)
		return "lost";
	if (c->frozen)
		return "frozen";
	return "active";
}

bool fold_card_hot(const struct card_state *c)
{
	return c->lost || c->frozen || c->terminal != TERMINAL_NONE;
}

void fold_policy_card(const struct card_state *c, struct policy_card *pc)
{
	memset(pc, 0, sizeof *pc);
	pc->lost = c->lost;
	pc->frozen = c->frozen;
	pc->terminal = c->terminal;
	pc->expires = c->expires;
	pc->issued = c->issued_hlc ? policy_local_date(hlc_ms(c->issued_hlc), NULL) : 0;
	pc->valid_through = c->valid_through;
	pc->registered_term = c->registered_term;
}

/* ---- applying one entry ---------------------------------------------- */

/* Copy a NUL-terminated string of at most `max` bytes into dst[max + 1]. */
static void copy_str(char *dst, const char *src, size_t max)
{
	size_t n = strnlen(src, max);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static enum fold_reason apply_student_put(struct student_state *st,
					  const struct entry *e)
{
	const struct entry_body *b = &e->body;
	bool has_school = (b->has & BF(BK_SCHOOL)) != 0;

	if (!st->known && !has_school)
		return FR_NEEDS_SCHOOL;
	if (st->known && has_school && strcmp(st->school, b->school) != 0)
		return FR_SCHOOL_CHANGE;
	if (!st->known)
		copy_str(st->school, b->school, CN_SCHOOL_MAX);
	st->known = true;
	if (b->has & BF(BK_NAME))
		copy_str(st->name, b->name, CN_NAME_MAX);
	if (b->has & BF(BK_CLASS))
		copy_str(st->class_, b->class_, CN_CLASS_MAX);
	if (b->has & BF(BK_GENDER))
		st->gender = b->gender;
	if (b->has & BF(BK_GRADE))
		st->grade = b->grade;
	if (b->has & BF(BK_STAGE))
		st->stage = b->stage;
	if (b->has & BF(BK_GRAD))
		st->grad = b->grad;
	if (b->has & BF(BK_IDD)) {
		memcpy(st->idd, b->idd, CN_KEY_LEN);
		st->has_idd = true;
	}
	if (b->has & BF(BK_GDD)) {
		memcpy(st->gdd, b->gdd, CN_KEY_LEN);
		st->has_gdd = true;
	}
	if (b->has & BF(BK_PHOTO)) {
		memcpy(st->photo, b->photo, CN_KEY_LEN);
		st->has_photo = true;
	}
	if (b->has & BF(BK_SINCE))
		st->since = (uint16_t)b->since;
	if (b->has & BF(BK_SUBJECT))
		copy_str(st->subject, b->subject, CN_SUBJECT_MAX);
	return FR_APPLIED;
}

/* ---- card lifecycle (DESIGN §6: loss, temporary cards, reissue) ------- */

/* The loss period of a lost card ended (found, or the loss lifted by a
 * refund) or its replacement was issued: every live temporary card of the
 * student expires. */
static void expire_temporaries(struct student_state *st)
{
	for (int i = 0; i < st->ncards; i++)
		if (st->cards[i].kind == KIND_TEMPORARY &&
		    st->cards[i].terminal == TERMINAL_NONE)
			st->cards[i].terminal = TERMINAL_EXPIRED;
}

static bool has_lost_card(const struct student_state *st)
{
	for (int i = 0; i < st->ncards; i++)
		if (st->cards[i].lost && st->cards[i].terminal == TERMINAL_NONE &&
		    st->cards[i].kind == KIND_REGULAR)
			return true;
	return false;
}

/* The lifecycle rules of a card.issue: none for a student who left; a
 * temporary card only while a regular card is lost; a replacement not while
 * the old card's reissue request is still before delivery. */
static enum fold_reason issue_lifecycle_check(const struct student_state *st,
					      const struct entry *e,
					      const struct card_state *old)
{
	if (st->left != LEAVE_NONE)
		return FR_STUDENT_LEFT;
	if (e->body.kind == KIND_TEMPORARY && !has_lost_card(st))
		return FR_NOT_LOST;
	if (old != NULL && (old->reissue_state == REISSUE_REQUESTED ||
			    old->reissue_state == REISSUE_PAID ||
			    old->reissue_state == REISSUE_IN_PRODUCTION))
		return FR_REISSUE_PENDING;
	return FR_APPLIED;
}

static enum fold_reason apply_issue(struct student_state *st,
				    const struct entry *e)
{
	const struct entry_body *b = &e->body;
	struct card_state *old = NULL, *c;
	enum fold_reason why;

	if (fold_card(st, b->card) != NULL)
		return FR_CARD_EXISTS;
	if (st->ncards >= CN_CARDS_MAX)
		return FR_TOO_MANY_CARDS;
	if (b->has & BF(BK_REPLACES)) {
		old = fold_card(st, b->replaces);
		if (old == NULL)
			return FR_BAD_REPLACES;
	}
	why = issue_lifecycle_check(st, e, old);
	if (why != FR_APPLIED)
		return why;
	if (old != NULL && b->kind == KIND_REGULAR)
		expire_temporaries(st);
	c = &st->cards[st->ncards++];
	memset(c, 0, sizeof *c);
	copy_str(c->card, b->card, CN_CARD_NO_MAX);
	memcpy(c->uid, b->uid, b->uid_len);
	c->uid_len = b->uid_len;
	c->kind = b->kind;
	c->issued_hlc = e->hlc;
	if (b->has & BF(BK_EXPIRES))
		c->expires = b->expires;
	if (old != NULL) {
		copy_str(c->replaces, old->card, CN_CARD_NO_MAX);
		if (old->terminal == TERMINAL_NONE) {
			old->terminal = TERMINAL_REPLACED;
			copy_str(old->replaced_by, c->card, CN_CARD_NO_MAX);
		}
		if (old->reissue_state != REISSUE_NONE &&
		    old->reissue_state != REISSUE_REFUNDED) {
			old->reissue_state = REISSUE_COLLECTED;
			old->reissue_hlc = e->hlc;
		}
	}
	return FR_APPLIED;
}

/* Set a blocking flag as a last-writer-wins register where, at equal hlc,
 * the blocking value wins whatever the order of application. */
static void set_flag(bool *flag, uint64_t *flag_hlc, bool value, uint64_t hlc)
{
	if (!value && *flag && *flag_hlc == hlc)
		return;
	*flag = value;
	*flag_hlc = hlc;
}

static bool reissue_step_ok(uint8_t from, uint8_t to)
{
	switch (to) {
	case REISSUE_REQUESTED:
		return from == REISSUE_NONE || from == REISSUE_REFUNDED ||
		       from == REISSUE_COLLECTED;
	case REISSUE_PAID:
		return from == REISSUE_REQUESTED;
	case REISSUE_IN_PRODUCTION:
		return from == REISSUE_PAID;
	case REISSUE_SHIPPED:
	case REISSUE_AT_SCHOOL:
		return from == REISSUE_IN_PRODUCTION;
	case REISSUE_COLLECTED:
		return from == REISSUE_SHIPPED || from == REISSUE_AT_SCHOOL;
	case REISSUE_REFUNDED:
		return from == REISSUE_PAID;
	}
	return false;
}

/* A reissue request for a lost card (no reason, or a reason other than
 * "damaged" / "faulty") needs the card lost for the loss period, unless the
 * entry carries `override` (the authority lets only city and district
 * operators write it).  Shipping must match the delivery chosen. */
static enum fold_reason reissue_check(const struct card_state *c,
				      const struct entry *e)
{
	const struct entry_body *b = &e->body;
	bool lost_reason = !(b->has & BF(BK_REASON)) ||
			   (strcmp(b->reason, "damaged") != 0 &&
			    strcmp(b->reason, "faulty") != 0);

	if (!reissue_step_ok(c->reissue_state, b->state))
		return FR_BAD_TRANSITION;
	switch (b->state) {
	case REISSUE_REQUESTED:
		if (!lost_reason)
			return FR_APPLIED;
		if (!c->lost)
			return FR_NOT_LOST;
		if (!(b->has & BF(BK_OVERRIDE)) &&
		    hlc_ms(e->hlc) < hlc_ms(c->lost_hlc) + POLICY_LOSS_PERIOD_MS)
			return FR_LOSS_PERIOD;
		return FR_APPLIED;
	case REISSUE_SHIPPED:
		return c->reissue_delivery == DELIVERY_SCHOOL ? FR_WRONG_DELIVERY
							      : FR_APPLIED;
	case REISSUE_AT_SCHOOL:
		return c->reissue_delivery == DELIVERY_HOME ? FR_WRONG_DELIVERY
							    : FR_APPLIED;
	}
	return FR_APPLIED;
}

/* One step of the reissue request.  A refund cancels the request and lifts
 * the loss (解挂) in the same entry. */
static enum fold_reason apply_reissue(struct student_state *st,
				      struct card_state *c,
				      const struct entry *e)
{
	const struct entry_body *b = &e->body;
	enum fold_reason why = reissue_check(c, e);
	bool was_lost = c->lost;

	if (why != FR_APPLIED)
		return why;
	c->reissue_state = b->state;
	c->reissue_hlc = e->hlc;
	if (b->has & BF(BK_FEE))
		c->reissue_fee = b->fee;
	if (b->has & BF(BK_DELIVERY))
		c->reissue_delivery = b->delivery;
	if (b->state == REISSUE_REFUNDED) {
		set_flag(&c->lost, &c->lost_hlc, false, e->hlc);
		if (was_lost && !c->lost)
			expire_temporaries(st);
	}
	return FR_APPLIED;
}

/* 卡贴: the sticker's number must be the card's; it sets the school (a
 * grade-7/10 student at the new school), and the photo and validity of the
 * card face. */
static enum fold_reason apply_sticker(struct student_state *st,
				      struct card_state *c,
				      const struct entry *e)
{
	const struct entry_body *b = &e->body;

	if (strcmp(b->number, c->card) != 0)
		return FR_STICKER_NUMBER;
	copy_str(st->school, b->school, CN_SCHOOL_MAX);
	if (b->has & BF(BK_PHOTO)) {
		memcpy(c->photo, b->photo, CN_KEY_LEN);
		c->has_photo = true;
	}
	if (b->has & BF(BK_EXPIRES))
		c->expires = b->expires;
	return FR_APPLIED;
}

static enum fold_reason apply_card_op(struct student_state *st,
				      const struct entry *e)
{
	const struct entry_body *b = &e->body;
	struct card_state *c = fold_card(st, b->card);
	bool was_lost;

	if (c == NULL)
		return FR_UNKNOWN_CARD;
	if (c->terminal != TERMINAL_NONE)
		return FR_TERMINAL;
	switch (e->op) {
	case OP_CARD_LOST:
		set_flag(&c->lost, &c->lost_hlc, true, e->hlc);
		break;
	case OP_CARD_FOUND:
		was_lost = c->lost;
		set_flag(&c->lost, &c->lost_hlc, false, e->hlc);
		if (was_lost && !c->lost)
			expire_temporaries(st);
		break;
	case OP_CARD_FREEZE:
		set_flag(&c->frozen, &c->frozen_hlc, true, e->hlc);
		break;
	case OP_CARD_UNFREEZE:
		set_flag(&c->frozen, &c->frozen_hlc, false, e->hlc);
		break;
	case OP_CARD_CANCEL:
		c->terminal = TERMINAL_CANCELLED;
		break;
	case OP_CARD_VALIDATE:
		if (b->through > c->valid_through)
			c->valid_through = b->through;
		break;
	case OP_CARD_REGISTER:
		if (b->term > c->registered_term)
			c->registered_term = b->term;
		break;
	case OP_CARD_STICKER:
		return apply_sticker(st, c, e);
	case OP_REISSUE_UPDATE:
		return apply_reissue(st, c, e);
	}
	return FR_APPLIED;
}

/* A student who leaves without a transfer (graduation, drop-out) is marked
 * as left and every card still in use is frozen, as one entry. */
static enum fold_reason apply_leave(struct student_state *st,
				    const struct entry *e)
{
	const char *r = e->body.reason;

	st->left = !strcmp(r, "graduated") ? LEAVE_GRADUATED :
		   !strcmp(r, "dropped") ? LEAVE_DROPPED : LEAVE_OTHER;
	for (int i = 0; i < st->ncards; i++)
		if (st->cards[i].terminal == TERMINAL_NONE)
			set_flag(&st->cards[i].frozen, &st->cards[i].frozen_hlc,
				 true, e->hlc);
	return FR_APPLIED;
}

/* A guardian claims the student's e-card: only the guardian the registry
 * names (student.put's guardian digest), once per student. */
static enum fold_reason apply_claim(struct student_state *st,
				    const struct entry *e)
{
	if (!st->has_gdd || sodium_memcmp(st->gdd, e->body.gdd, CN_KEY_LEN) != 0)
		return FR_NOT_GUARDIAN;
	if (st->claimed)
		return FR_CLAIMED;
	st->claimed = true;
	memcpy(st->claim_gdd, e->body.gdd, CN_KEY_LEN);
	st->claim_hlc = e->hlc;
	memcpy(st->claim_origin, e->origin, CN_KEY_LEN);
	st->claim_seq = e->seq;
	return FR_APPLIED;
}

/* ---- identity authentication (Jiangsu, docs/authentication.md) ------- */

/* A submission is a whole form: it replaces every field of the record,
 * and is under review until approved or rejected.  A rejected record can
 * be submitted again; an approved one is changed with student.put. */
static enum fold_reason apply_auth_submit(struct student_state *st,
					  const struct entry *e)
{
	const struct entry_body *b = &e->body;
	struct student_state next;

	if (st->known)
		return FR_AUTH_DONE;
	fold_init(&next, st->edu_id);
	next.person = b->person;
	copy_str(next.name, b->name, CN_NAME_MAX);
	copy_str(next.school, b->school, CN_SCHOOL_MAX);
	copy_str(next.class_, b->class_, CN_CLASS_MAX);
	next.gender = b->gender;
	next.grade = b->grade;
	next.stage = b->stage;
	next.since = (uint16_t)b->since;
	copy_str(next.subject, b->subject, CN_SUBJECT_MAX);
	memcpy(next.idd, b->idd, CN_KEY_LEN);
	next.has_idd = true;
	if (b->has & BF(BK_GDD)) {
		memcpy(next.gdd, b->gdd, CN_KEY_LEN);
		next.has_gdd = true;
	}
	if (b->has & BF(BK_PHOTO)) {
		memcpy(next.photo, b->photo, CN_KEY_LEN);
		next.has_photo = true;
	}
	next.auth = AUTH_SUBMITTED;
	next.auth_hlc = e->hlc;
	next.submission_hlc = e->hlc;
	*st = next;
	return FR_APPLIED;
}

/* Approval or rejection of the submission in force — exactly the one the
 * reviewer saw (`submission`), so a record submitted again meanwhile is
 * not approved unseen.  Of two reviews written concurrently, the first in
 * fold order stands and the other is refused, on every replica alike. */
static enum fold_reason apply_auth_review(struct student_state *st,
					  const struct entry *e)
{
	const struct entry_body *b = &e->body;

	if (st->auth != AUTH_SUBMITTED)
		return FR_NOT_SUBMITTED;
	if (b->submission != st->submission_hlc)
		return FR_STALE_REVIEW;
	if (b->reviewer == REVIEWER_CLASS_TEACHER &&
	    st->person != PERSON_STUDENT)
		return FR_REVIEWER;
	st->reviewer = b->reviewer;
	st->auth_hlc = e->hlc;
	if (e->op == OP_AUTH_APPROVE) {
		st->auth = AUTH_APPROVED;
		st->known = true;
	} else {
		st->auth = AUTH_REJECTED;
		copy_str(st->auth_reason, b->reason, CN_REASON_MAX);
	}
	return FR_APPLIED;
}

int fold_claim_cmp(const struct student_state *a, const struct student_state *b)
{
	return fold_order_cmp(a->claim_hlc, a->claim_origin, a->claim_seq,
			      b->claim_hlc, b->claim_origin, b->claim_seq);
}

enum fold_reason fold_apply(const struct fold_env *env, struct student_state *st,
			    const struct entry *e)
{
	struct student_state next;
	enum fold_reason why;

	if (e->op == OP_NODE_NOTE || e->op == OP_CITY_WATERMARK)
		return FR_NODE_LEVEL;
	if (env != NULL && env->authorize != NULL) {
		why = env->authorize(env->ctx, e, st);
		if (why != FR_APPLIED)
			return why;
	}
	if (e->op == OP_STUDENT_PUT && !st->known && st->auth != AUTH_NONE)
		return FR_AUTH_PENDING;
	if (!st->known && e->op != OP_STUDENT_PUT && e->op != OP_AUTH_SUBMIT &&
	    e->op != OP_AUTH_APPROVE && e->op != OP_AUTH_REJECT)
		return FR_UNKNOWN_STUDENT;
	/* Work on a copy so a refusal half-way leaves `st` as it was. */
	next = *st;
	switch (e->op) {
	case OP_STUDENT_PUT:
		why = apply_student_put(&next, e);
		break;
	case OP_STUDENT_TRANSFER:
		copy_str(next.school, e->body.school, CN_SCHOOL_MAX);
		next.left = LEAVE_NONE; /* in at the new school */
		why = FR_APPLIED;
		break;
	case OP_CARD_ISSUE:
		why = apply_issue(&next, e);
		break;
	case OP_STUDENT_LEAVE:
		why = apply_leave(&next, e);
		break;
	case OP_GUARDIAN_CLAIM:
		why = apply_claim(&next, e);
		break;
	case OP_AUTH_SUBMIT:
		why = apply_auth_submit(&next, e);
		break;
	case OP_AUTH_APPROVE:
	case OP_AUTH_REJECT:
		why = apply_auth_review(&next, e);
		break;
	default:
		why = apply_card_op(&next, e);
		break;
	}
	if (why == FR_APPLIED)
		*st = next;
	return why;
}

/* ---- the stored form ------------------------------------------------- */

#define STATE_FORMAT 2

/* The fields added with the identity authentication (person, review,
 * since, subject) are stored (flag 64) only where one is set, so that every
 * other state, and its digest, stays as it was before they existed. */
static bool has_ext(const struct student_state *st)
{
	return st->person != PERSON_NONE || st->auth != AUTH_NONE ||
	       st->since != 0 || st->subject[0] != '\0';
}

size_t fold_state_encode(const struct student_state *st, uint8_t *buf,
			 size_t cap)
{
	struct bw w = {buf, 0, cap, false};
	uint8_t flags = (uint8_t)(st->known | st->has_idd << 1 | st->has_gdd << 2 |
				  st->has_photo << 3 | (st->left != LEAVE_NONE) << 4 |
				  st->claimed << 5 | has_ext(st) << 6);

	bw_u8(&w, STATE_FORMAT);
	bw_text(&w, st->edu_id);
	bw_u8(&w, flags);
	bw_text(&w, st->name);
	bw_text(&w, st->school);
	bw_text(&w, st->class_);
	bw_u8(&w, st->gender);
	bw_u8(&w, st->grade);
	bw_u8(&w, st->stage);
	bw_uv(&w, st->grad);
	if (st->has_idd)
		bw_put(&w, st->idd, CN_KEY_LEN);
	if (st->has_gdd)
		bw_put(&w, st->gdd, CN_KEY_LEN);
	if (st->has_photo)
		bw_put(&w, st->photo, CN_KEY_LEN);
	if (st->left != LEAVE_NONE)
		bw_u8(&w, st->left);
	if (st->claimed) {
		bw_put(&w, st->claim_gdd, CN_KEY_LEN);
		bw_uv(&w, st->claim_hlc);
		bw_put(&w, st->claim_origin, CN_KEY_LEN);
		bw_uv(&w, st->claim_seq);
	}
	if (has_ext(st)) {
		bw_u8(&w, st->person);
		bw_u8(&w, st->auth);
		bw_u8(&w, st->reviewer);
		bw_uv(&w, st->since);
		bw_uv(&w, st->auth_hlc);
		bw_uv(&w, st->submission_hlc);
		bw_text(&w, st->subject);
		bw_text(&w, st->auth_reason);
	}
	bw_u8(&w, st->ncards);
	for (int i = 0; i < st->ncards; i++) {
		const struct card_state *c = &st->cards[i];
		bw_text(&w, c->card);
		bw_u8(&w, c->uid_len);
		bw_put(&w, c->uid, c->uid_len);
		bw_u8(&w, (uint8_t)(c->kind | c->terminal << 2 | c->lost << 4 |
				    c->frozen << 5 | c->has_photo << 6));
		bw_uv(&w, c->issued_hlc);
		bw_uv(&w, c->lost_hlc);
		bw_uv(&w, c->frozen_hlc);
		bw_uv(&w, c->expires);
		bw_uv(&w, c->valid_through);
		bw_uv(&w, c->registered_term);
		bw_text(&w, c->replaces);
		bw_text(&w, c->replaced_by);
		bw_u8(&w, c->reissue_state);
		if (c->reissue_state != REISSUE_NONE) {
			bw_u8(&w, c->reissue_delivery);
			bw_uv(&w, c->reissue_fee);
			bw_uv(&w, c->reissue_hlc);
		}
		if (c->has_photo)
			bw_put(&w, c->photo, CN_KEY_LEN);
	}
	return w.bad ? 0 : w.len;
}

int fold_state_decode(const uint8_t *buf, size_t len, struct student_state *st)
{
	struct br r = {buf, len, 0, false};
	uint8_t flags;

	memset(st, 0, sizeof *st);
	if (br_u8(&r) != STATE_FORMAT)
		return CN_ERR_MALFORMED;
	br_text(&r, st->edu_id, CN_EDU_ID_MAX);
	flags = br_u8(&r);
	if (flags & ~127u)
		return CN_ERR_MALFORMED;
	st->known = flags & 1;
	st->has_idd = (flags >> 1) & 1;
	st->has_gdd = (flags >> 2) & 1;
	st->has_photo = (flags >> 3) & 1;
	br_text(&r, st->name, CN_NAME_MAX);
	br_text(&r, st->school, CN_SCHOOL_MAX);
	br_text(&r, st->class_, CN_CLASS_MAX);
	st->gender = br_u8(&r);
	st->grade = br_u8(&r);
	st->stage = br_u8(&r);
	st->grad = (uint32_t)br_uv(&r);
	if (st->has_idd)
		br_get(&r, st->idd, CN_KEY_LEN);
	if (st->has_gdd)
		br_get(&r, st->gdd, CN_KEY_LEN);
	if (st->has_photo)
		br_get(&r, st->photo, CN_KEY_LEN);
	if (flags & 16) {
		st->left = br_u8(&r);
		if (st->left == LEAVE_NONE || st->left > LEAVE_OTHER)
			return CN_ERR_MALFORMED;
	}
	st->claimed = (flags >> 5) & 1;
	if (st->claimed) {
		br_get(&r, st->claim_gdd, CN_KEY_LEN);
		st->claim_hlc = br_uv(&r);
		br_get(&r, st->claim_origin, CN_KEY_LEN);
		st->claim_seq = br_uv(&r);
	}
	if (flags & 64) {
		uint64_t since;
		st->person = br_u8(&r);
		st->auth = br_u8(&r);
		st->reviewer = br_u8(&r);
		since = br_uv(&r);
		st->auth_hlc = br_uv(&r);
		st->submission_hlc = br_uv(&r);
		br_text(&r, st->subject, CN_SUBJECT_MAX);
		br_text(&r, st->auth_reason, CN_REASON_MAX);
		if (since > UINT16_MAX)
			return CN_ERR_MALFORMED;
		st->since = (uint16_t)since;
		if (st->person > PERSON_TEACHER || st->auth > AUTH_REJECTED ||
		    st->reviewer > REVIEWER_ADMIN || !has_ext(st))
			return CN_ERR_MALFORMED;
	}
	st->ncards = br_u8(&r);
	if (st->ncards > CN_CARDS_MAX)
		return CN_ERR_MALFORMED;
	for (int i = 0; i < st->ncards && !r.bad; i++) {
		struct card_state *c = &st->cards[i];
		uint8_t bits;
		br_text(&r, c->card, CN_CARD_NO_MAX);
		c->uid_len = br_u8(&r);
		if (c->uid_len > CN_UID_MAX)
			return CN_ERR_MALFORMED;
		br_get(&r, c->uid, c->uid_len);
		bits = br_u8(&r);
		if (bits & ~0x7fu)
			return CN_ERR_MALFORMED;
		c->kind = bits & 3;
		c->terminal = (bits >> 2) & 3;
		c->lost = (bits >> 4) & 1;
		c->frozen = (bits >> 5) & 1;
		c->has_photo = (bits >> 6) & 1;
		c->issued_hlc = br_uv(&r);
		c->lost_hlc = br_uv(&r);
		c->frozen_hlc = br_uv(&r);
		c->expires = (uint32_t)br_uv(&r);
		c->valid_through = (uint32_t)br_uv(&r);
		c->registered_term = (uint32_t)br_uv(&r);
		br_text(&r, c->replaces, CN_CARD_NO_MAX);
		br_text(&r, c->replaced_by, CN_CARD_NO_MAX);
		c->reissue_state = br_u8(&r);
		if (c->reissue_state != REISSUE_NONE) {
			c->reissue_delivery = br_u8(&r);
			c->reissue_fee = (uint32_t)br_uv(&r);
			c->reissue_hlc = br_uv(&r);
		}
		if (c->has_photo)
			br_get(&r, c->photo, CN_KEY_LEN);
	}
	return r.bad || r.off != len ? CN_ERR_MALFORMED : CN_OK;
}

size_t fold_digest_bytes(const struct student_state *st, uint8_t *buf,
			 size_t cap)
{
	/* The stored form holds nothing but the folded state itself, and the
	 * fold is deterministic, so it serves as the digest's canonical form. */
	return fold_state_encode(st, buf, cap);
}
