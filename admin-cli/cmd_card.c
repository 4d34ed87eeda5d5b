/*
 * cmd_card.c — card issue / lost / found / freeze / unfreeze / cancel /
 * validate / register / show (DESIGN §3, §4, §6).
 *
 * Every card operation is keyed by the student holding the card, so each
 * command first finds that student in the local replica.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "json.h"
#include "policy.h"
#include "replica.h"
#include "util.h"

/* A new entry of `op` on `card` of student `key` (NULL: set once the
 * card is found). */
static void card_entry(struct entry *e, uint8_t op, const char *key,
		       const char *card)
{
	cli_entry_init(e, op, key);
	snprintf(e->body.card, sizeof e->body.card, "%s", card);
	e->body.has = BF(BK_CARD);
}

/* ---- card issue -------------------------------------------------------- */

static const struct cli_cmd issue_cmd = {
	"card issue",
	"card issue CARD --student EDU_ID --uid HEX [--kind regular|temporary]\n"
	"            [--expires YYYY-MM-DD] [--replaces OLD] [--actor NAME]",
	"Issue card number CARD with chip UID HEX (4, 7 or 10 bytes) to a\n"
	"student (card.issue).  --replaces OLD issues it as the replacement of\n"
	"the student's card OLD, which becomes 'replaced' (补卡).  A card\n"
	"number already issued to anyone is refused (exit 4); an unknown\n"
	"student or OLD is exit 3, an OLD of another student exit 4.\n"
	"\n"
	"--kind temporary: a card standing in during a loss, accepted only\n"
	"while a regular card of the student is lost (else refused:\n"
	"not_lost); it expires when the loss ends (card found, refund) or the\n"
	"replacement is issued.\n"
	"\n"
	"A UID already carried by another card that is not cancelled or\n"
	"replaced is allowed (4-byte NUIDs collide): a warning on stderr names\n"
	"the other card, and readers then tell the cards apart by the card\n"
	"number stored on the chip ('check --uid' answers 'ambiguous').\n"
};

/* Cards other than `skip` that carry `uid` and are not cancelled or
 * replaced: the rare case of several such cards is found by a walk. */
struct uid_walk {
	const uint8_t *uid;
	uint8_t uid_len;
	const char *skip;
	int n;
	char first[3][CN_CARD_NO_MAX + 1];
	char first_student[3][CN_EDU_ID_MAX + 1];
};

static int uid_walk_cb(void *ctx, const struct student_state *st)
{
	struct uid_walk *w = ctx;

	for (int i = 0; i < st->ncards && i < CN_CARDS_MAX; i++) {
		const struct card_state *c = &st->cards[i];

		if (c->terminal != TERMINAL_NONE || c->uid_len != w->uid_len ||
		    memcmp(c->uid, w->uid, w->uid_len) != 0 ||
		    (w->skip && !strcmp(c->card, w->skip)))
			continue;
		if (w->n < 3) {
			snprintf(w->first[w->n], sizeof w->first[0], "%s",
				 c->card);
			snprintf(w->first_student[w->n],
				 sizeof w->first_student[0], "%s", st->edu_id);
		}
		w->n++;
	}
	return 0;
}

/* Before issuing: the live cards (not cancelled or replaced) other than
 * `replaces` that already carry `uid`, into *w. */
static void find_uid_shared(struct replica *r, const uint8_t *uid,
			    uint8_t uid_len, const char *replaces,
			    struct uid_walk *w)
{
	struct check_result res;

	memset(w, 0, sizeof *w);
	w->uid = uid;
	w->uid_len = uid_len;
	w->skip = replaces;
	memset(&res, 0, sizeof res);
	if (replica_check_uid(r, uid, uid_len, util_now_ms(), &res) != 0 ||
	    res.candidates == 0)
		return;
	if (res.decision == DEC_AMBIGUOUS) {
		/* Several live cards already: find them (rare, so a walk). */
		if (replica_students_walk(r, uid_walk_cb, w) != 0)
			w->n = 0;
		return;
	}
	/* At most one live card: the check names it. */
	if (res.card[0] && res.decision != DEC_CANCELLED &&
	    res.decision != DEC_REPLACED &&
	    !(replaces && !strcmp(res.card, replaces))) {
		snprintf(w->first[0], sizeof w->first[0], "%s", res.card);
		snprintf(w->first_student[0], sizeof w->first_student[0], "%s",
			 res.edu_id);
		w->n = 1;
	}
}

/* After issuing `card`: the warning (stderr, not an error). */
static void warn_uid_shared(const struct uid_walk *w, const char *card)
{
	if (w->n <= 0)
		return;
	fflush(stdout);
	fprintf(stderr, "%s: warning: UID %s of card %s is also carried by "
			"card %s (student %s)",
		cli.prog, cli_hex(w->uid, w->uid_len), card, w->first[0],
		w->first_student[0]);
	for (int i = 1; i < w->n && i < 3; i++)
		fprintf(stderr, ", card %s (student %s)", w->first[i],
			w->first_student[i]);
	if (w->n > 3)
		fprintf(stderr, " and %d more", w->n - 3);
	fprintf(stderr, ".\n  This is allowed (4-byte NUIDs collide); readers "
			"tell the cards apart by the\n  card number on the "
			"chip, and 'cardctl check --uid' answers 'ambiguous'.\n");
}

static int card_issue(int argc, char **argv)
{
	const struct cli_cmd *cmd = &issue_cmd;
	const char *student = NULL, *uid_s = NULL, *kind_s = NULL;
	const char *expires_s = NULL, *replaces = NULL, *card;
	const struct cli_opt opts[] = {
		{ "student", &student, NULL },
		{ "uid", &uid_s, NULL },
		{ "kind", &kind_s, NULL },
		{ "expires", &expires_s, NULL },
		{ "replaces", &replaces, NULL },
		CLI_OPT_ACTOR, CLI_OPT_END
	};
	struct replica *r = NULL;
	struct student_state st;
	struct uid_walk shared;
	struct entry e;
	int idx, rc, ret;

	if ((ret = cli_parse(cmd, argc, argv, opts, 1)) >= 0)
		return ret;
	card = argv[optind];
	if ((ret = cli_check_card_no(cmd, card)))
		return ret;
	if (!student)
		return cli_usage_error(cmd, "--student EDU_ID is required");
	if ((ret = cli_check_edu_id(cmd, student)))
		return ret;
	if (!uid_s)
		return cli_usage_error(cmd, "--uid HEX is required");

	card_entry(&e, OP_CARD_ISSUE, student, card);
	e.body.has |= BF(BK_UID) | BF(BK_KIND);
	if ((ret = cli_parse_uid(cmd, "--uid", uid_s, e.body.uid,
				 &e.body.uid_len)))
		return ret;
	if (!kind_s || !strcmp(kind_s, "regular"))
		e.body.kind = KIND_REGULAR;
	else if (!strcmp(kind_s, "temporary"))
		e.body.kind = KIND_TEMPORARY;
	else
		return cli_usage_error(cmd,
				       "--kind '%s' is not a kind; use regular "
				       "or temporary",
				       kind_s);
	if (expires_s) {
		if ((ret = cli_parse_date(cmd, "--expires", expires_s,
					  &e.body.expires)))
			return ret;
		e.body.has |= BF(BK_EXPIRES);
	}
	if (replaces) {
		if ((ret = cli_check_card_no(cmd, replaces)))
			return ret;
		if (!strcmp(replaces, card))
			return cli_usage_error(cmd, "a card cannot replace itself "
						    "(--replaces %s)",
					       replaces);
		snprintf(e.body.replaces, sizeof e.body.replaces, "%s",
			 replaces);
		e.body.has |= BF(BK_REPLACES);
	}
	if ((ret = cli_actor_check(cmd)))
		return ret;

	if ((ret = cli_open(0, &r)))
		return ret;
	rc = replica_card(r, card, &st, &idx);
	if (rc == 0) {
		cli_err("refused: card number '%s' already issued (to student "
			"%s); every card number is issued once",
			card, st.edu_id);
		ret = CLI_REFUSED;
		goto cleanup;
	}
	if (rc != CN_ERR_NOTFOUND) {
		cli_err("cannot look up card '%s': %s", card, cn_strerror(rc));
		ret = cli_exit_of(rc);
		goto cleanup;
	}
	rc = replica_student(r, student, &st);
	if (rc == 0 && !st.known && st.auth != AUTH_NONE) {
		cli_err("refused: record '%s' is %s, not approved: a card "
			"comes after the identity review ('cardctl auth show "
			"%s')", student,
			st.auth == AUTH_REJECTED ? "rejected" : "awaiting review",
			student);
		ret = CLI_REFUSED;
		goto cleanup;
	}
	if (rc == CN_ERR_NOTFOUND || (rc == 0 && !st.known)) {
		cli_err("no student '%s' is known here (--student); write it "
			"first with 'cardctl student put'",
			student);
		ret = CLI_NOTFOUND;
		goto cleanup;
	}
	if (rc) {
		cli_err("cannot read student '%s': %s", student,
			cn_strerror(rc));
		ret = cli_exit_of(rc);
		goto cleanup;
	}
	if (replaces) {
		rc = replica_card(r, replaces, &st, &idx);
		if (rc == CN_ERR_NOTFOUND) {
			cli_err("--replaces '%s': no such card; no student "
				"here holds a card with that number",
				replaces);
			ret = CLI_NOTFOUND;
			goto cleanup;
		}
		if (rc) {
			cli_err("cannot look up card '%s': %s", replaces,
				cn_strerror(rc));
			ret = cli_exit_of(rc);
			goto cleanup;
		}
		if (strcmp(st.edu_id, student)) {
			cli_err("refused: --replaces '%s' is a card of student "
				"%s, not of %s; a card only replaces a card of "
				"the same student",
				replaces, st.edu_id, student);
			ret = CLI_REFUSED;
			goto cleanup;
		}
	}
	find_uid_shared(r, e.body.uid, e.body.uid_len, replaces, &shared);
	ret = cli_author(r, &e);
	if (ret == CLI_OK)
		warn_uid_shared(&shared, card);
cleanup:
	replica_close(r);
	return ret;
}

/* ---- the flag and terminal operations ------------------------------------ */

static const struct cli_cmd lost_cmd = {
	"card lost", "card lost CARD [--reason R] [--actor NAME]",
	"Report the card lost (挂失): readers refuse it at once here and\n"
	"everywhere the entry reaches.  Undo with 'card found'.\n"
};
static const struct cli_cmd found_cmd = {
	"card found", "card found CARD [--reason R] [--actor NAME]",
	"The lost card was found (解挂): it passes again unless it has been\n"
	"replaced or is frozen.\n"
};
static const struct cli_cmd freeze_cmd = {
	"card freeze", "card freeze CARD [--reason R] [--actor NAME]",
	"Freeze the card (冻结), e.g. for a student who left without a\n"
	"transfer.  Undo with 'card unfreeze'.\n"
};
static const struct cli_cmd unfreeze_cmd = {
	"card unfreeze", "card unfreeze CARD [--reason R] [--actor NAME]",
	"Unfreeze the card (解冻).\n"
};
static const struct cli_cmd cancel_cmd = {
	"card cancel", "card cancel CARD [--reason R] [--actor NAME]",
	"Cancel the card for good (注销).  A cancelled card never passes\n"
	"again; this cannot be undone.\n"
};

static int card_flag(const struct cli_cmd *cmd, uint8_t op, int argc,
		     char **argv)
{
	const char *reason = NULL, *card;
	const struct cli_opt opts[] = {
		{ "reason", &reason, NULL }, CLI_OPT_ACTOR, CLI_OPT_END
	};
	struct entry e;
	uint32_t required = 0, allowed = 0;
	int ret;

	if ((ret = cli_parse(cmd, argc, argv, opts, 1)) >= 0)
		return ret;
	card = argv[optind];
	if ((ret = cli_check_card_no(cmd, card)))
		return ret;
	card_entry(&e, op, NULL, card);
	if (reason) {
		if ((ret = cli_check_text(cmd, "--reason", reason,
					  CN_REASON_MAX)))
			return ret;
		if (!entry_op_fields(op, &required, &allowed) ||
		    !(allowed & BF(BK_REASON)))
			return cli_usage_error(cmd,
					       "%s records no reason; leave out "
					       "--reason",
					       cmd->name);
		snprintf(e.body.reason, sizeof e.body.reason, "%s", reason);
		e.body.has |= BF(BK_REASON);
	}
	return cli_author_on_card(cmd, &e, card, NULL, NULL);
}

static int card_lost(int argc, char **argv)
{
	return card_flag(&lost_cmd, OP_CARD_LOST, argc, argv);
}
static int card_found(int argc, char **argv)
{
	return card_flag(&found_cmd, OP_CARD_FOUND, argc, argv);
}
static int card_freeze(int argc, char **argv)
{
	return card_flag(&freeze_cmd, OP_CARD_FREEZE, argc, argv);
}
static int card_unfreeze(int argc, char **argv)
{
	return card_flag(&unfreeze_cmd, OP_CARD_UNFREEZE, argc, argv);
}
static int card_cancel(int argc, char **argv)
{
	return card_flag(&cancel_cmd, OP_CARD_CANCEL, argc, argv);
}

/* ---- validate / register ------------------------------------------------- */

static const struct cli_cmd validate_cmd = {
	"card validate", "card validate CARD [--date YYYY-MM-DD] [--actor NAME]",
	"Monthly validation (增效, profile suzhou): validating on day 1-20 makes\n"
	"the card valid through the end of that month, from day 21 through the\n"
	"end of the next.  --date is the day of validation (default today, in\n"
	"the node's time zone).  Validity only grows: if the card is\n"
	"already valid through that month or later, nothing is written and\n"
	"the command says so (exit 0; JSON \"written\": false).\n"
	"\n"
	"Profile-independent: the replica stores validation and registration\n"
	"on every profile; only 'check' under profile suzhou uses validation.\n"
};
static const struct cli_cmd register_cmd = {
	"card register",
	"card register CARD [--term YYYYT | --date YYYY-MM-DD] [--actor NAME]",
	"Semester registration (学期注册, profile beijing): register the card\n"
	"for term YYYYT (T = 1 spring, February-August; 2 autumn,\n"
	"September-January), by default the term of --date or of today.  The\n"
	"registered term only grows: if the card is already registered for\n"
	"that term or a later one, nothing is written and the command says so\n"
	"(exit 0; JSON \"written\": false).\n"
	"\n"
	"Profile-independent: the replica stores validation and registration\n"
	"on every profile; only 'check' under profile beijing uses\n"
	"registration.\n"
};

/* The JSON keys card validate / register add to what they report. */
struct dated_out {
	uint8_t op;
	bool written;
	uint32_t value; /* valid_through YYYYMM or registered_term YYYYT */
};

static void dated_json(void *ctx)
{
	const struct dated_out *o = ctx;

	json_kv_bool("written", o->written);
	if (o->op == OP_CARD_VALIDATE)
		json_kv_str("valid_through", cli_month(o->value));
	else
		json_kv_uint("registered_term", o->value);
}

/* The month or term a day gives must be one entries can hold too:
 * validating on 2199-12-21 or later would reach 2200-01, and January 2000
 * belongs to term 19992. */
static int dated_range(const struct cli_cmd *cmd, uint8_t op,
		       const char *date_s, uint32_t day)
{
	const char *d = date_s ? date_s : cli_date(day);

	if (op == OP_CARD_VALIDATE) {
		uint32_t through = policy_validate_through(day);

		if (through / 100 > CLI_DATE_MAX / 10000)
			return cli_usage_error(cmd,
					       "--date '%s' would validate "
					       "through %s, after the last month "
					       "entries can hold (2199-12)",
					       d, cli_month(through));
	} else {
		uint32_t term = policy_term_of(day);

		if (!policy_term_valid(term))
			return cli_usage_error(cmd,
					       "--date '%s' falls in term "
					       "%" PRIu32 ", outside the terms "
					       "entries can hold (20001-21992)",
					       d, term);
	}
	return CLI_OK;
}

static int card_dated(const struct cli_cmd *cmd, uint8_t op, int argc,
		      char **argv)
{
	const char *date_s = NULL, *term_s = NULL, *card;
	const struct cli_opt vopts[] = {
		{ "date", &date_s, NULL }, CLI_OPT_ACTOR, CLI_OPT_END
	};
	const struct cli_opt ropts[] = {
		{ "date", &date_s, NULL },
		{ "term", &term_s, NULL },
		CLI_OPT_ACTOR, CLI_OPT_END
	};
	struct replica *r = NULL;
	struct student_state st;
	struct entry e;
	uint64_t term = 0;
	uint32_t day = 0, have, want;
	const struct card_state *cs;
	struct dated_out out = { 0 };
	int idx, ret;

	if ((ret = cli_parse(cmd, argc, argv,
			     op == OP_CARD_REGISTER ? ropts : vopts, 1)) >= 0)
		return ret;
	card = argv[optind];
	if ((ret = cli_check_card_no(cmd, card)))
		return ret;
	if (date_s && term_s)
		return cli_usage_error(cmd, "give --term or --date, not both");
	if (date_s && (ret = cli_parse_date(cmd, "--date", date_s, &day)))
		return ret;
	if (term_s) {
		term = 0;
		for (const char *p = term_s; *p && term < 100000; p++)
			term = *p >= '0' && *p <= '9'
				       ? term * 10 + (uint64_t)(*p - '0')
				       : 100000;
		if (strlen(term_s) != 5 || term >= 100000 ||
		    !policy_term_valid((uint32_t)term))
			return cli_usage_error(cmd,
					       "--term '%s' is not a term; write "
					       "YYYYT, T = 1 (spring) or 2 "
					       "(autumn), e.g. 20251",
					       term_s);
	}
	if (day && (ret = dated_range(cmd, op, date_s, day)))
		return ret;
	if ((ret = cli_actor_check(cmd)))
		return ret;

	/* Opening sets the node's time zone, which "today" depends on. */
	if ((ret = cli_open(0, &r)))
		return ret;
	if (!day)
		day = cli_today();
	card_entry(&e, op, NULL, card);
	if (op == OP_CARD_VALIDATE) {
		e.body.through = policy_validate_through(day);
		e.body.has |= BF(BK_THROUGH);
		if ((ret = dated_range(cmd, op, date_s, day)))
			goto cleanup;
	} else {
		e.body.term = term ? (uint32_t)term : policy_term_of(day);
		e.body.has |= BF(BK_TERM);
		if (!term && (ret = dated_range(cmd, op, date_s, day)))
			goto cleanup;
	}
	if ((ret = cli_find_card(r, card, &st, &idx)))
		goto cleanup;
	cs = &st.cards[idx];
	out.op = op;
	have = op == OP_CARD_VALIDATE ? cs->valid_through : cs->registered_term;
	want = op == OP_CARD_VALIDATE ? e.body.through : e.body.term;
	/* The value only grows: an entry that would not raise it changes
	 * nothing, so none is written.  A cancelled or replaced card goes on
	 * to be refused (terminal) as any other write. */
	if (cs->terminal == TERMINAL_NONE && have >= want) {
		out.written = false;
		out.value = have;
		if (cli.json) {
			json_object_begin();
			json_kv_str("op", entry_op_name(op));
			json_kv_str("key", st.edu_id);
			json_kv_str("card", card);
			dated_json(&out);
			json_object_end();
			ret = json_end() ? CLI_FAIL : CLI_OK;
		} else {
			if (op == OP_CARD_VALIDATE)
				printf("%s is already valid through %s "
				       "(nothing written)\n",
				       card, cli_month(have));
			else
				printf("%s is already registered for term "
				       "%" PRIu32 " (nothing written)\n",
				       card, have);
			ret = CLI_OK;
		}
		goto cleanup;
	}
	out.written = true;
	out.value = want;
	snprintf(e.key, sizeof e.key, "%s", st.edu_id);
	ret = cli_author_ex(r, &e, dated_json, &out);
	if (ret == CLI_OK && !cli.json) {
		if (op == OP_CARD_VALIDATE)
			printf("  valid through the end of %s\n",
			       cli_month(e.body.through));
		else
			printf("  registered for term %" PRIu32 "\n",
			       e.body.term);
	}
cleanup:
	replica_close(r);
	return ret;
}

static int card_validate(int argc, char **argv)
{
	return card_dated(&validate_cmd, OP_CARD_VALIDATE, argc, argv);
}
static int card_register(int argc, char **argv)
{
	return card_dated(&register_cmd, OP_CARD_REGISTER, argc, argv);
}

/* ---- card sticker (卡贴) ---------------------------------------------------- */

static const struct cli_cmd sticker_cmd = {
	"card sticker",
	"card sticker CARD --number N --school DDDDDD-NNNN [--photo-ref HEX]\n"
	"            [--valid-through YYYY-MM] [--actor NAME]",
	"A card sticker (卡贴, Beijing grades 7 and 10) instead of a new card:\n"
	"updates the school (the student moves to it), the photo reference\n"
	"(64 hex: the photo's hash) and the validity of existing card CARD\n"
	"(card.sticker; --valid-through sets the expiry to the month's last\n"
	"day).  Refused (exit 4, sticker_number) if the sticker's number N is\n"
	"not the card's number, and (scope) unless this node governs both the\n"
	"current and the new school.\n"
};

static int card_sticker(int argc, char **argv)
{
	const struct cli_cmd *cmd = &sticker_cmd;
	const char *number = NULL, *school = NULL, *photo = NULL;
	const char *valid = NULL, *card;
	const struct cli_opt opts[] = {
		{ "number", &number, NULL },
		{ "school", &school, NULL },
		{ "photo-ref", &photo, NULL },
		{ "valid-through", &valid, NULL },
		CLI_OPT_ACTOR, CLI_OPT_END
	};
	struct entry e;
	uint32_t month;
	int ret;

	if ((ret = cli_parse(cmd, argc, argv, opts, 1)) >= 0)
		return ret;
	card = argv[optind];
	if ((ret = cli_check_card_no(cmd, card)))
		return ret;
	if (!number)
		return cli_usage_error(cmd, "--number N (the sticker's number) "
					    "is required");
	if ((ret = cli_check_card_no(cmd, number)))
		return ret;
	if (!school)
		return cli_usage_error(cmd, "--school DDDDDD-NNNN is required");
	if ((ret = cli_check_school(cmd, "--school", school)))
		return ret;
	card_entry(&e, OP_CARD_STICKER, NULL, card);
	snprintf(e.body.number, sizeof e.body.number, "%s", number);
	snprintf(e.body.school, sizeof e.body.school, "%s", school);
	e.body.has |= BF(BK_NUMBER) | BF(BK_SCHOOL);
	if (photo) {
		if ((ret = cli_parse_key(cmd, "--photo-ref", photo,
					 e.body.photo)))
			return ret;
		e.body.has |= BF(BK_PHOTO);
	}
	if (valid) {
		if (policy_month_parse(valid, &month) != 0 ||
		    month / 100 < CLI_DATE_MIN / 10000)
			return cli_usage_error(cmd, "--valid-through '%s' is not "
						    "a month YYYY-MM (2000-2199)",
					       valid);
		e.body.expires = month * 100 +
				 (uint32_t)policy_days_in_month((int)(month / 100),
								(int)(month % 100));
		e.body.has |= BF(BK_EXPIRES);
	}
	return cli_author_on_card(cmd, &e, card, NULL, NULL);
}

/* ---- card show ----------------------------------------------------------- */

static const struct cli_cmd show_cmd = {
	"card show", "card show CARD",
	"Show a card: its student and school, UID, status (active, lost,\n"
	"frozen, cancelled, replaced), validity, registration, expiry and\n"
	"replacement links.  Exit 3 if no student holds the card.\n"
};

static int card_show(int argc, char **argv)
{
	const struct cli_cmd *cmd = &show_cmd;
	struct replica *r = NULL;
	struct student_state st;
	int idx, ret;

	if ((ret = cli_parse(cmd, argc, argv, NULL, 1)) >= 0)
		return ret;
	if ((ret = cli_check_card_no(cmd, argv[optind])))
		return ret;
	if ((ret = cli_open(REPLICA_RDONLY, &r)))
		return ret;
	if ((ret = cli_find_card(r, argv[optind], &st, &idx)))
		goto cleanup;
	if (cli.json) {
		cli_json_card(&st, &st.cards[idx]);
		ret = json_end() ? CLI_FAIL : CLI_OK;
	} else {
		cli_text_card(&st, &st.cards[idx], 0);
		ret = CLI_OK;
	}
cleanup:
	replica_close(r);
	return ret;
}

int cmd_card_main(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "issue", card_issue, "issue a card to a student" },
		{ "lost", card_lost, "report a card lost (挂失)" },
		{ "found", card_found, "a lost card was found (解挂)" },
		{ "freeze", card_freeze, "freeze a card (冻结)" },
		{ "unfreeze", card_unfreeze, "unfreeze a card (解冻)" },
		{ "cancel", card_cancel, "cancel a card for good (注销)" },
		{ "validate", card_validate, "monthly validation (增效)" },
		{ "register", card_register, "semester registration" },
		{ "sticker", card_sticker, "a card sticker (卡贴): school, photo, validity" },
		{ "show", card_show, "show a card and its status" },
	};
	return cli_dispatch("card", subs, sizeof subs / sizeof subs[0], argc,
			    argv);
}
