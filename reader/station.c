/*
 * station.c — see station.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "station.h"

static const char *const mode_names[] = {
	[STATION_GATE] = "gate",
	[STATION_VALIDATE] = "validate",
	[STATION_REGISTER] = "register",
	[STATION_ISSUE] = "issue",
};

const char *station_mode_name(enum station_mode m)
{
	return (unsigned)m < sizeof mode_names / sizeof mode_names[0]
		       ? mode_names[m] : "?";
}

int station_mode_parse(const char *s, enum station_mode *m)
{
	for (size_t i = 0; i < sizeof mode_names / sizeof mode_names[0]; i++)
		if (strcmp(s, mode_names[i]) == 0) {
			*m = (enum station_mode)i;
			return CN_OK;
		}
	return CN_ERR_INVAL;
}

/* The replica's card `card_no`, or NULL. */
static const struct card_state *card_of(struct replica *view,
					const char *card_no,
					struct student_state *st)
{
	int idx;

	if (card_no[0] == '\0' || replica_card(view, card_no, st, &idx) != CN_OK)
		return NULL;
	return &st->cards[idx];
}

static void data_of(const struct card_state *c, struct card_data *d)
{
	memset(d, 0, sizeof *d);
	snprintf(d->card_no, sizeof d->card_no, "%s", c->card);
	d->valid_through = c->valid_through;
	d->term = c->registered_term;
}

static bool same_uid(const struct card_state *c, const struct reader_tap *t)
{
	return c->uid_len == t->uid_len && memcmp(c->uid, t->uid, t->uid_len) == 0;
}

/* Several cards share the UID: the chip's card number may pick one. */
static void disambiguate(struct replica *view, const struct reader_tap *t,
			 uint64_t now_ms, struct check_result *res,
			 struct station_plan *p)
{
	struct check_result byno;
	struct student_state st;
	const struct card_state *c;
	int n = res->candidates;

	if (t->chip != CARD_OK) {
		snprintf(p->detail, sizeof p->detail, "%d cards share this UID "
			 "and the chip gives no card number", n);
		return;
	}
	c = card_of(view, t->data.card_no, &st);
	if (c == NULL || !same_uid(c, t) ||
	    replica_check_card(view, t->data.card_no, now_ms, &byno) != CN_OK) {
		snprintf(p->detail, sizeof p->detail, "%d cards share this UID; "
			 "the chip's card %s is not one of them", n,
			 t->data.card_no);
		return;
	}
	*res = byno;
	snprintf(p->detail, sizeof p->detail, "%d cards share this UID; the "
		 "chip's card number picked %s", n, byno.card);
}

/* Compare what the chip holds with the replica. */
static void compare_chip(const struct card_state *c, const struct reader_tap *t,
			 struct station_plan *p)
{
	if (t->chip != CARD_OK || c == NULL)
		return;
	if (strcmp(t->data.card_no, c->card) != 0)
		snprintf(p->detail, sizeof p->detail, "the chip says card %s, the "
			 "replica card %s: the replica decides", t->data.card_no,
			 c->card);
	else if (t->data.valid_through != c->valid_through ||
		 t->data.term != c->registered_term)
		snprintf(p->detail, sizeof p->detail, "the chip says valid through "
			 "%06" PRIu32 ", term %" PRIu32 "; the replica %06" PRIu32
			 ", %" PRIu32 ": the replica decides",
			 t->data.valid_through, t->data.term, c->valid_through,
			 c->registered_term);
	else
		return;
	p->disagree = true;
}

static void plan_entry(struct station_plan *p, uint8_t op, const char *actor)
{
	memset(&p->entry, 0, sizeof p->entry);
	p->entry.op = op;
	snprintf(p->entry.key, sizeof p->entry.key, "%s", p->edu_id);
	snprintf(p->entry.actor, sizeof p->entry.actor, "%s", actor);
	snprintf(p->entry.body.card, sizeof p->entry.body.card, "%s", p->card);
	p->entry.body.has = BF(BK_CARD);
	p->author = true;
}

/* Validate or register: author the entry unless the card already has it;
 * a chip that disagrees is rewritten either way. */
static void plan_dated(struct station_plan *p, const struct card_state *c,
		       enum station_mode mode, const char *actor, uint32_t today,
		       const struct reader_tap *t)
{
	bool validate = mode == STATION_VALIDATE;
	enum decision lacking = validate ? DEC_NOT_VALIDATED : DEC_UNREGISTERED;

	if (c == NULL || (p->decision != DEC_ACCEPT && p->decision != lacking)) {
		size_t n = strlen(p->detail);
		snprintf(p->detail + n, sizeof p->detail - n, "%snot %s: %s",
			 n ? "; " : "", validate ? "validated" : "registered",
			 policy_decision_name(p->decision));
		return;
	}
	if (validate && c->valid_through < policy_validate_through(today)) {
		plan_entry(p, OP_CARD_VALIDATE, actor);
		p->entry.body.through = policy_validate_through(today);
		p->entry.body.has |= BF(BK_THROUGH);
		return;
	}
	if (!validate && c->registered_term < policy_term_of(today)) {
		plan_entry(p, OP_CARD_REGISTER, actor);
		p->entry.body.term = policy_term_of(today);
		p->entry.body.has |= BF(BK_TERM);
		return;
	}
	if (!p->disagree)
		snprintf(p->detail, sizeof p->detail, "already %s",
			 validate ? "validated" : "registered");
	/* Bring the chip up to date: a disagreeing one, or a blank one. */
	if ((p->disagree && t->chip == CARD_OK) || t->chip == CARD_BLANK) {
		data_of(c, &p->data);
		p->write = true;
		p->format = t->chip == CARD_BLANK;
	}
}

static void plan_issue(struct station_plan *p, const struct card_state *c,
		       const struct reader_tap *t)
{
	if (c == NULL && p->decision == DEC_AMBIGUOUS) {
		snprintf(p->detail, sizeof p->detail, "several cards share this "
			 "UID and a blank chip cannot say which one it is: not "
			 "personalised");
		return;
	}
	if (c == NULL) {
		snprintf(p->detail, sizeof p->detail, "no card with this UID in "
			 "the replica: issue it first (cardctl card issue)");
		return;
	}
	if (c->terminal != TERMINAL_NONE) {
		snprintf(p->detail, sizeof p->detail, "card %s is %s: not "
			 "personalised", c->card, policy_decision_name(p->decision));
		return;
	}
	if (t->chip == CARD_UNREADABLE || t->chip == CARD_MALFORMED) {
		snprintf(p->detail, sizeof p->detail, "the education sector is "
			 "%s: not a blank card of this deployment",
			 card_status_name(t->chip));
		return;
	}
	if (t->chip == CARD_OK && !p->disagree) {
		snprintf(p->detail, sizeof p->detail, "already personalised");
		return;
	}
	data_of(c, &p->data);
	p->write = true;
	p->format = t->chip == CARD_BLANK;
}

int station_plan(struct replica *view, enum station_mode mode,
		 const char *actor, const struct reader_tap *t, uint64_t now_ms,
		 struct station_plan *p)
{
	struct check_result res;
	struct student_state st;
	const struct card_state *c;
	uint32_t today = policy_local_date(now_ms, NULL);
	int rc;

	memset(p, 0, sizeof *p);
	p->decision = DEC_UNKNOWN;
	if (t->chip == CARD_FORGED) {
		p->decision = DEC_FORGED;
		snprintf(p->detail, sizeof p->detail, "the chip's education "
			 "sector does not verify (MAC): forged or altered");
		return CN_OK;
	}
	if ((rc = replica_check_uid(view, t->uid, t->uid_len, now_ms, &res)) != CN_OK) {
		snprintf(p->detail, sizeof p->detail, "the replica cannot be read: %s",
			 cn_strerror(rc));
		return rc;
	}
	if (res.decision == DEC_AMBIGUOUS)
		disambiguate(view, t, now_ms, &res, p);
	p->decision = res.decision;
	snprintf(p->card, sizeof p->card, "%s", res.card);
	snprintf(p->edu_id, sizeof p->edu_id, "%s", res.edu_id);
	c = p->decision == DEC_AMBIGUOUS ? NULL : card_of(view, p->card, &st);
	compare_chip(c, t, p);
	switch (mode) {
	case STATION_GATE:
		break;
	case STATION_VALIDATE:
	case STATION_REGISTER:
		plan_dated(p, c, mode, actor, today, t);
		break;
	case STATION_ISSUE:
		plan_issue(p, c, t);
		break;
	}
	return CN_OK;
}

void station_after(struct replica *view, const struct reader_tap *t,
		   uint64_t now_ms, int rc, const char *why,
		   struct station_plan *p)
{
	struct check_result res;
	struct student_state st;
	const struct card_state *c;
	bool validate = p->entry.op == OP_CARD_VALIDATE;

	p->author = false;
	if (rc != CN_OK) {
		snprintf(p->detail, sizeof p->detail, "%s not written: %s",
			 validate ? "validation" : "registration", why);
		return;
	}
	if (replica_check_card(view, p->card, now_ms, &res) == CN_OK &&
	    res.card[0] != '\0')
		p->decision = res.decision;
	if ((c = card_of(view, p->card, &st)) == NULL)
		return;
	if (validate)
		snprintf(p->detail, sizeof p->detail, "validated through "
			 "%04" PRIu32 "-%02" PRIu32, c->valid_through / 100,
			 c->valid_through % 100);
	else
		snprintf(p->detail, sizeof p->detail, "registered for term "
			 "%" PRIu32, c->registered_term);
	if (t->chip == CARD_OK || t->chip == CARD_BLANK) {
		data_of(c, &p->data);
		p->write = true;
		p->format = t->chip == CARD_BLANK;
	}
}
