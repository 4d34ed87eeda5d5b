/*
 * cmd_log.c — log: the change log for audit (DESIGN §4, §5, §10): every
 * entry, one card's or one student's history, or the refused entries, each
 * with its author, time, actor and whether it took effect.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "json.h"
#include "replica.h"

#define LOG_STOP 1 /* callback return: limit reached */

static const struct cli_cmd log_cmd = {
	"log",
	"log [--card CARD | --student EDU_ID | --refused] [--limit N]",
	"The change log, one entry per line: origin (first 8 hex digits of the\n"
	"author's node id), seq, local time, operation, student, card, actor,\n"
	"and 'applied' or 'refused: <reason>'.\n"
	"\n"
	"  (no option)       every entry, by origin and seq\n"
	"  --card CARD       the history of the card: its student's entries\n"
	"                    naming the card (or replacing it), and the\n"
	"                    student.put entries, in fold order\n"
	"  --student EDU_ID  the student's whole history, in fold order\n"
	"  --refused         every entry without effect, and why\n"
	"  --limit N         at most the first N entries of that listing\n"
};

struct log_ctx {
	const char *card;   /* filter, NULL for none */
	uint64_t limit;     /* 0: no limit */
	uint64_t shown;
};

static void print_item(const struct log_item *it)
{
	const struct entry *e = &it->e;
	const char *op = entry_op_name(e->op);
	const char *card = (e->body.has & BF(BK_CARD)) ? e->body.card : "";
	uint64_t ms = e->hlc >> 16;
	char opbuf[16];

	if (!op) {
		snprintf(opbuf, sizeof opbuf, "op%u", e->op);
		op = opbuf;
	}
	if (cli.json) {
		json_object_begin();
		json_kv_hex("origin", e->origin, CN_KEY_LEN);
		json_kv_uint("seq", e->seq);
		json_kv_uint("hlc", e->hlc);
		json_kv_str("time", cli_time(ms));
		json_kv_str("op", op);
		json_kv_str("key", e->key);
		json_kv_str_or_null("card", card);
		json_kv_str_or_null("actor", e->actor);
		json_kv_bool("applied", it->reason == FR_APPLIED);
		json_kv_str_or_null("reason", it->reason == FR_APPLIED
						      ? NULL
						      : fold_reason_name(it->reason));
		json_kv_bool("signed", it->signed_);
		json_object_end();
		return;
	}
	printf("%-8s %6" PRIu64 "  %-19s  %-16s %-20s %-20s %-12s ",
	       cli_hex(e->origin, 4), e->seq, cli_time(ms), op,
	       e->key[0] ? e->key : "-", card[0] ? card : "-",
	       e->actor[0] ? e->actor : "-");
	if (it->reason == FR_APPLIED)
		puts("applied");
	else
		printf("refused: %s\n", fold_reason_name(it->reason));
}

static int log_cb(void *ctx, const struct log_item *it)
{
	struct log_ctx *lc = ctx;
	const struct entry_body *b = &it->e.body;

	if (lc->card && it->e.op != OP_STUDENT_PUT &&
	    !((b->has & BF(BK_CARD)) && !strcmp(b->card, lc->card)) &&
	    !((b->has & BF(BK_REPLACES)) && !strcmp(b->replaces, lc->card)))
		return 0;
	if (lc->limit && lc->shown >= lc->limit)
		return LOG_STOP;
	print_item(it);
	lc->shown++;
	return 0;
}

int cmd_log_main(int argc, char **argv)
{
	const struct cli_cmd *cmd = &log_cmd;
	const char *card = NULL, *student = NULL, *limit_s = NULL;
	bool refused = false;
	const struct cli_opt opts[] = {
		{ "card", &card, NULL },
		{ "student", &student, NULL },
		{ "refused", NULL, &refused },
		{ "limit", &limit_s, NULL },
		CLI_OPT_END
	};
	struct replica *r = NULL;
	struct student_state st;
	struct log_ctx lc = { 0 };
	int idx, rc, ret;

	if ((ret = cli_parse(cmd, argc, argv, opts, 0)) >= 0)
		return ret;
	if ((card != NULL) + (student != NULL) + refused > 1)
		return cli_usage_error(cmd, "give at most one of --card, "
					    "--student and --refused");
	if (card && (ret = cli_check_card_no(cmd, card)))
		return ret;
	if (student && (ret = cli_check_edu_id(cmd, student)))
		return ret;
	if (limit_s && (ret = cli_parse_uint(cmd, "--limit", limit_s, 1,
					     UINT64_MAX, &lc.limit)))
		return ret;
	if ((ret = cli_open(REPLICA_RDONLY, &r)))
		return ret;

	if (card) {
		if ((ret = cli_find_card(r, card, &st, &idx)))
			goto cleanup;
		student = st.edu_id;
		lc.card = card;
	} else if (student) {
		if ((ret = cli_find_student(r, student, &st)))
			goto cleanup;
	}

	if (cli.json) {
		json_object_begin();
		json_key("entries");
		json_array_begin();
	} else {
		printf("%-8s %6s  %-19s  %-16s %-20s %-20s %-12s %s\n", "ORIGIN",
		       "SEQ", "TIME", "OP", "STUDENT", "CARD", "ACTOR", "RESULT");
	}
	if (student)
		rc = replica_history(r, student, log_cb, &lc);
	else if (refused)
		rc = replica_refused(r, log_cb, &lc);
	else
		rc = replica_log_all(r, log_cb, &lc);
	if (rc == LOG_STOP)
		rc = 0;
	if (cli.json) {
		json_array_end();
		json_object_end();
		if (json_end() && !rc)
			ret = CLI_FAIL;
	}
	if (rc) {
		cli_err("reading the log failed after %" PRIu64 " entries: %s",
			lc.shown, cn_strerror(rc));
		ret = cli_exit_of(rc);
	}
cleanup:
	replica_close(r);
	return ret;
}
