/*
 * cmd_reissue.c — reissue (补卡) request / pay / produce / ship / at-school /
 * collect / refund / list (DESIGN §6, docs/lifecycle.md).
 *
 * Each step is one reissue.update entry on the old card (collect: the
 * card.issue of the replacement with `replaces`).  The fold decides which
 * steps are legal, so a refusal here is the fold's reason, the same on every
 * replica; this file only adds the fee and a clearer message where it can
 * tell in advance.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "authority.h"
#include "hlc.h"
#include "json.h"
#include "policy.h"
#include "replica.h"
#include "util.h"

static const char *delivery_name(uint8_t d)
{
	return d == DELIVERY_HOME ? "home" : d == DELIVERY_SCHOOL ? "school" : "";
}

/* "15.00" of an amount in fen, into a rotating buffer. */
static const char *yuan(uint32_t fen)
{
	static char buf[4][24];
	static int k;
	char *b = buf[k++ & 3];

	snprintf(b, sizeof buf[0], "%" PRIu32 ".%02" PRIu32, fen / 100,
		 fen % 100);
	return b;
}

static void step_entry(struct entry *e, const char *card, uint8_t state)
{
	cli_entry_init(e, OP_REISSUE_UPDATE, NULL);
	snprintf(e->body.card, sizeof e->body.card, "%s", card);
	e->body.state = state;
	e->body.has = BF(BK_CARD) | BF(BK_STATE);
}

/* ---- reissue request ---------------------------------------------------- */

static const struct cli_cmd request_cmd = {
	"reissue request",
	"reissue request CARD --delivery home|school\n"
	"            [--reason lost|damaged|faulty] [--override] [--actor NAME]",
	"Apply for a replacement of CARD (申请补卡).  A lost card (the default\n"
	"reason) must have been reported lost at least 10 days ago (the loss\n"
	"period); a district or city node may waive that with --override.  A\n"
	"damaged or faulty card need not be lost.  The fee comes from the\n"
	"node's profile (docs/lifecycle.md) and is recorded in the entry:\n"
	"beijing 15 yuan (home delivery: courier at most 15 yuan, paid on\n"
	"delivery); suzhou 20 yuan, free for a faulty card, EMS 12 yuan;\n"
	"generic as beijing.  Refusals (exit 4) name the fold's reason:\n"
	"not_lost, loss_period, bad_transition (a request is already open).\n"
};

struct fee_out {
	struct policy_fee fee;
};

static void fee_json(void *ctx)
{
	const struct fee_out *o = ctx;

	json_kv_uint("fee", o->fee.card + o->fee.delivery);
	json_kv_uint("courier_max", o->fee.courier_max);
}

static int reissue_request(int argc, char **argv)
{
	const struct cli_cmd *cmd = &request_cmd;
	const char *delivery = NULL, *reason = NULL, *card;
	bool override = false;
	const struct cli_opt opts[] = {
		{ "delivery", &delivery, NULL },
		{ "reason", &reason, NULL },
		{ "override", NULL, &override },
		CLI_OPT_ACTOR, CLI_OPT_END
	};
	enum reissue_reason why = RR_LOST;
	struct replica_info info;
	struct replica *r = NULL;
	struct student_state st;
	struct fee_out out;
	struct entry e;
	int idx, ret;

	if ((ret = cli_parse(cmd, argc, argv, opts, 1)) >= 0)
		return ret;
	card = argv[optind];
	if ((ret = cli_check_card_no(cmd, card)))
		return ret;
	step_entry(&e, card, REISSUE_REQUESTED);
	if (!delivery)
		return cli_usage_error(cmd, "--delivery home|school is required");
	if (!strcmp(delivery, "home"))
		e.body.delivery = DELIVERY_HOME;
	else if (!strcmp(delivery, "school"))
		e.body.delivery = DELIVERY_SCHOOL;
	else
		return cli_usage_error(cmd, "--delivery '%s': use home or school",
				       delivery);
	e.body.has |= BF(BK_DELIVERY);
	if (reason) {
		if (!strcmp(reason, "damaged"))
			why = RR_DAMAGED;
		else if (!strcmp(reason, "faulty"))
			why = RR_FAULTY;
		else if (strcmp(reason, "lost"))
			return cli_usage_error(cmd,
					       "--reason '%s': use lost, damaged "
					       "or faulty",
					       reason);
		snprintf(e.body.reason, sizeof e.body.reason, "%s", reason);
		e.body.has |= BF(BK_REASON);
	}
	if ((ret = cli_actor_check(cmd)))
		return ret;
	if ((ret = cli_open(0, &r)))
		return ret;
	replica_info(r, &info);
	if (override) {
		if (info.role != ROLE_CITY && info.role != ROLE_DISTRICT) {
			cli_err("refused: --override (waiving the 10-day loss "
				"period) is for district and city nodes; this "
				"node is a %s node",
				authority_role_name(info.role)
					? authority_role_name(info.role) : "?");
			ret = CLI_REFUSED;
			goto cleanup;
		}
		e.body.override = 1;
		e.body.has |= BF(BK_OVERRIDE);
	}
	if ((ret = cli_find_card(r, card, &st, &idx)))
		goto cleanup;
	policy_reissue_fee(info.profile, why,
			   e.body.delivery == DELIVERY_HOME, &out.fee);
	e.body.fee = out.fee.card + out.fee.delivery;
	e.body.has |= BF(BK_FEE);
	snprintf(e.key, sizeof e.key, "%s", st.edu_id);
	ret = cli_author_ex(r, &e, fee_json, &out);
	if (ret == CLI_OK && !cli.json) {
		printf("  fee %s yuan", yuan(e.body.fee));
		if (out.fee.courier_max)
			printf(" (courier at most %s yuan, paid on delivery)",
			       yuan(out.fee.courier_max));
		printf("\n");
	}
cleanup:
	replica_close(r);
	return ret;
}

/* ---- the plain steps ------------------------------------------------------ */

static const struct cli_cmd pay_cmd = {
	"reissue pay", "reissue pay CARD [--actor NAME]",
	"The fee of the open request was paid (缴费): requested -> paid.\n"
};
static const struct cli_cmd produce_cmd = {
	"reissue produce", "reissue produce CARD [--actor NAME]",
	"Production started (制卡中): paid -> in_production.  From here on the\n"
	"request can no longer be refunded.  Target: 20 working days.\n"
};
static const struct cli_cmd ship_cmd = {
	"reissue ship", "reissue ship CARD [--actor NAME]",
	"The new card was sent home (已发货): in_production -> shipped; only for\n"
	"a request with --delivery home (else refused: wrong_delivery).\n"
};
static const struct cli_cmd at_school_cmd = {
	"reissue at-school", "reissue at-school CARD [--actor NAME]",
	"The new card arrived at the school: in_production -> at_school; only\n"
	"for a request with --delivery school (else refused: wrong_delivery).\n"
};
static const struct cli_cmd refund_cmd = {
	"reissue refund", "reissue refund CARD [--actor NAME]",
	"Refund the fee (退费) and cancel the request: only while it is 'paid'\n"
	"(refused once production started: bad_transition).  The refund also\n"
	"lifts the loss (解挂): the old card is accepted again, everywhere the\n"
	"entry reaches, and a temporary card standing in for it expires.\n"
};

static int plain_step(const struct cli_cmd *cmd, uint8_t state, int argc,
		      char **argv)
{
	struct entry e;
	int ret;

	if ((ret = cli_parse(cmd, argc, argv,
			     (const struct cli_opt[]){ CLI_OPT_ACTOR,
						       CLI_OPT_END },
			     1)) >= 0)
		return ret;
	if ((ret = cli_check_card_no(cmd, argv[optind])))
		return ret;
	step_entry(&e, argv[optind], state);
	return cli_author_on_card(cmd, &e, argv[optind], NULL, NULL);
}

static int reissue_pay(int argc, char **argv)
{
	return plain_step(&pay_cmd, REISSUE_PAID, argc, argv);
}
static int reissue_produce(int argc, char **argv)
{
	return plain_step(&produce_cmd, REISSUE_IN_PRODUCTION, argc, argv);
}
static int reissue_ship(int argc, char **argv)
{
	return plain_step(&ship_cmd, REISSUE_SHIPPED, argc, argv);
}
static int reissue_at_school(int argc, char **argv)
{
	return plain_step(&at_school_cmd, REISSUE_AT_SCHOOL, argc, argv);
}
static int reissue_refund(int argc, char **argv)
{
	return plain_step(&refund_cmd, REISSUE_REFUNDED, argc, argv);
}

/* ---- reissue collect ------------------------------------------------------ */

static const struct cli_cmd collect_cmd = {
	"reissue collect",
	"reissue collect CARD --card NEW --uid HEX [--expires YYYY-MM-DD]\n"
	"            [--actor NAME]",
	"The student collected the replacement (已领取): issues card NEW (chip\n"
	"UID HEX) with 'replaces CARD'.  CARD becomes 'replaced' and its\n"
	"request 'collected'.  Only once the request is shipped or at_school\n"
	"(else refused: reissue_pending).  NEW keeps CARD's expiry unless\n"
	"--expires is given.\n"
};

static int reissue_collect(int argc, char **argv)
{
	const struct cli_cmd *cmd = &collect_cmd;
	const char *newcard = NULL, *uid_s = NULL, *expires_s = NULL, *card;
	const struct cli_opt opts[] = {
		{ "card", &newcard, NULL },
		{ "uid", &uid_s, NULL },
		{ "expires", &expires_s, NULL },
		CLI_OPT_ACTOR, CLI_OPT_END
	};
	struct replica *r = NULL;
	struct student_state st, other;
	const struct card_state *old;
	struct entry e;
	int idx, oidx, rc, ret;

	if ((ret = cli_parse(cmd, argc, argv, opts, 1)) >= 0)
		return ret;
	card = argv[optind];
	if ((ret = cli_check_card_no(cmd, card)))
		return ret;
	if (!newcard)
		return cli_usage_error(cmd, "--card NEW is required");
	if ((ret = cli_check_card_no(cmd, newcard)))
		return ret;
	if (!strcmp(newcard, card))
		return cli_usage_error(cmd, "the replacement needs a new number "
					    "(--card %s)", newcard);
	if (!uid_s)
		return cli_usage_error(cmd, "--uid HEX is required");
	cli_entry_init(&e, OP_CARD_ISSUE, NULL);
	snprintf(e.body.card, sizeof e.body.card, "%s", newcard);
	snprintf(e.body.replaces, sizeof e.body.replaces, "%s", card);
	e.body.kind = KIND_REGULAR;
	e.body.has = BF(BK_CARD) | BF(BK_UID) | BF(BK_KIND) | BF(BK_REPLACES);
	if ((ret = cli_parse_uid(cmd, "--uid", uid_s, e.body.uid,
				 &e.body.uid_len)))
		return ret;
	if (expires_s) {
		if ((ret = cli_parse_date(cmd, "--expires", expires_s,
					  &e.body.expires)))
			return ret;
		e.body.has |= BF(BK_EXPIRES);
	}
	if ((ret = cli_actor_check(cmd)))
		return ret;
	if ((ret = cli_open(0, &r)))
		return ret;
	if ((ret = cli_find_card(r, card, &st, &idx)))
		goto cleanup;
	rc = replica_card(r, newcard, &other, &oidx);
	if (rc == 0) {
		cli_err("refused: card number '%s' already issued (to student "
			"%s); every card number is issued once",
			newcard, other.edu_id);
		ret = CLI_REFUSED;
		goto cleanup;
	}
	old = &st.cards[idx];
	if (!(e.body.has & BF(BK_EXPIRES)) && old->expires) {
		e.body.expires = old->expires;
		e.body.has |= BF(BK_EXPIRES);
	}
	if (old->reissue_state != REISSUE_SHIPPED &&
	    old->reissue_state != REISSUE_AT_SCHOOL) {
		cli_err("refused: card %s has no replacement ready to collect "
			"(reissue state: %s); %s (%s)",
			card,
			old->reissue_state ? cli_reissue_name(old->reissue_state)
					   : "none",
			fold_reason_text(FR_REISSUE_PENDING),
			fold_reason_name(FR_REISSUE_PENDING));
		ret = CLI_REFUSED;
		goto cleanup;
	}
	snprintf(e.key, sizeof e.key, "%s", st.edu_id);
	ret = cli_author(r, &e);
cleanup:
	replica_close(r);
	return ret;
}

/* ---- reissue list --------------------------------------------------------- */

static const struct cli_cmd list_cmd = {
	"reissue list", "reissue list [--state S] [--calendar FILE]",
	"Every reissue request: card, student, state, delivery, fee, when it\n"
	"entered its state and for how many days.  A request in production\n"
	"for more than 20 working days is flagged overdue.  Working days are\n"
	"Monday to Friday, corrected by the calendar FILE (default: the data\n"
	"directory's 'calendar', if there is one) of public holidays and of\n"
	"weekend days worked (docs/lifecycle.md).\n"
	"--state keeps one state (requested, paid, in_production, shipped,\n"
	"at_school, collected, refunded).\n"
};

#define CALENDAR_FILE_MAX (1u << 20)

/* The working calendar of --calendar FILE, or DATA/calendar if it exists
 * (FILE NULL); *cal->n stays 0 when there is none. */
static int load_calendar(const struct cli_cmd *cmd, const char *file,
			 struct policy_calendar *cal)
{
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;
	unsigned line;
	const char *why;
	int rc;

	cal->n = 0;
	if (file == NULL) {
		snprintf(path, sizeof path, "%s/calendar", cli.data_dir);
		if (access(path, F_OK) != 0)
			return CLI_OK;
		file = path;
	}
	rc = util_read_file(file, CALENDAR_FILE_MAX, &buf, &len);
	if (rc == CN_ERR_NOTFOUND) {
		cli_err("calendar %s: no such file", file);
		return CLI_NOTFOUND;
	}
	if (rc) {
		cli_err("calendar %s: %s", file, rc == CN_ERR_TOOBIG
			? "larger than 1 MiB" : cn_strerror(rc));
		return rc == CN_ERR_TOOBIG ? CLI_USAGE : cli_exit_of(rc);
	}
	why = policy_calendar_parse((const char *)buf, len, cal, &line);
	free(buf);
	if (why)
		return cli_usage_error(cmd, "calendar %s:%u: %s", file, line,
				       why);
	return CLI_OK;
}

struct list_ctx {
	int state; /* -1: all */
	uint64_t now_ms;
	uint32_t today;
	uint64_t n;
	const struct policy_calendar *cal;
};

static int list_cb(void *vctx, const struct student_state *st)
{
	struct list_ctx *l = vctx;

	for (int i = 0; i < st->ncards && i < CN_CARDS_MAX; i++) {
		const struct card_state *c = &st->cards[i];
		uint64_t since = hlc_ms(c->reissue_hlc);
		uint32_t day = policy_local_date(since, NULL);
		uint32_t wd = policy_working_days(l->cal, day, l->today);
		uint64_t days = l->now_ms > since ? (l->now_ms - since) / 86400000u
						   : 0;
		bool overdue = c->reissue_state == REISSUE_IN_PRODUCTION &&
			       wd > POLICY_PRODUCTION_DAYS;

		if (c->reissue_state == REISSUE_NONE ||
		    (l->state >= 0 && c->reissue_state != l->state))
			continue;
		l->n++;
		if (cli.json) {
			json_object_begin();
			json_kv_str("card", c->card);
			json_kv_str("student", st->edu_id);
			json_kv_str("state", cli_reissue_name(c->reissue_state));
			json_kv_str("delivery", delivery_name(c->reissue_delivery));
			json_kv_uint("fee", c->reissue_fee);
			json_kv_str("since", cli_time(since));
			json_kv_uint("days", days);
			json_kv_uint("working_days", wd);
			json_kv_bool("overdue", overdue);
			json_object_end();
		} else {
			printf("%-20s %-12s %-13s %-7s %8s  %s  %4" PRIu64
			       "d%s\n",
			       c->card, st->edu_id,
			       cli_reissue_name(c->reissue_state),
			       delivery_name(c->reissue_delivery),
			       yuan(c->reissue_fee), cli_time(since), days,
			       overdue ? "  OVERDUE" : "");
		}
	}
	return 0;
}

static int reissue_list(int argc, char **argv)
{
	const struct cli_cmd *cmd = &list_cmd;
	const char *state_s = NULL, *calendar = NULL;
	const struct cli_opt opts[] = { { "state", &state_s, NULL },
					{ "calendar", &calendar, NULL },
					CLI_OPT_END };
	struct list_ctx l = { .state = -1 };
	struct policy_calendar *cal = NULL;
	struct replica *r = NULL;
	char header[128];
	int ret;

	if ((ret = cli_parse(cmd, argc, argv, opts, 0)) >= 0)
		return ret;
	if (state_s) {
		for (int s = REISSUE_REQUESTED; s <= REISSUE_REFUNDED; s++)
			if (!strcmp(state_s, cli_reissue_name((uint8_t)s)))
				l.state = s;
		if (l.state < 0)
			return cli_usage_error(cmd, "--state '%s' is not a "
						    "reissue state",
					       state_s);
	}
	cal = malloc(sizeof *cal);
	if (cal == NULL) {
		cli_err("out of memory");
		return CLI_FAIL;
	}
	if ((ret = load_calendar(cmd, calendar, cal)) ||
	    (ret = cli_open(REPLICA_RDONLY, &r))) {
		free(cal);
		return ret;
	}
	l.cal = cal;
	l.now_ms = util_now_ms();
	l.today = cli_today();
	snprintf(header, sizeof header, "%-20s %-12s %-13s %-7s %8s  %-19s  %5s\n",
		 "card", "student", "state", "deliv.", "fee", "since", "days");
	ret = cli_list_students(r, header, "reissue requests", list_cb, &l);
	replica_close(r);
	free(cal);
	return ret;
}

int cmd_reissue_main(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "request", reissue_request, "apply for a replacement (申请补卡)" },
		{ "pay", reissue_pay, "the fee was paid (缴费)" },
		{ "produce", reissue_produce, "production started (制卡中)" },
		{ "ship", reissue_ship, "sent home (已发货)" },
		{ "at-school", reissue_at_school, "arrived at the school" },
		{ "collect", reissue_collect,
		  "issue the replacement: the old card becomes replaced" },
		{ "refund", reissue_refund,
		  "refund while paid; lifts the loss (退费)" },
		{ "list", reissue_list, "every request, its fee and age" },
	};
	return cli_dispatch("reissue", subs, sizeof subs / sizeof subs[0],
			    argc, argv);
}
