/*
 * cmd_check.c — check: the decision a reader of this node would give for a
 * card (DESIGN §6), from the local replica.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "json.h"
#include "policy.h"
#include "replica.h"
#include "util.h"

static const struct cli_cmd check_cmd = {
	"check",
	"check (--uid HEX | --card CARD) [--at YYYY-MM-DD[THH:MM]]",
	"The reader decision for a card given by chip UID or by number, from\n"
	"this node's replica and policy profile, now or at local time --at.\n"
	"Prints the decision: accept, unknown, lost, frozen, cancelled,\n"
	"replaced, expired, not_validated, unregistered or ambiguous (several\n"
	"cards share the UID).\n"
	"\n"
	"Exit 0 accept, 3 unknown, 4 any rejection.\n"
};

int cmd_check_main(int argc, char **argv)
{
	const struct cli_cmd *cmd = &check_cmd;
	const char *uid_s = NULL, *card = NULL, *at_s = NULL;
	const struct cli_opt opts[] = {
		{ "uid", &uid_s, NULL },
		{ "card", &card, NULL },
		{ "at", &at_s, NULL },
		CLI_OPT_END
	};
	uint8_t uid[CN_UID_MAX], uid_len = 0;
	struct replica *r = NULL;
	struct check_result res;
	uint64_t at = 0;
	int rc, ret;

	if ((ret = cli_parse(cmd, argc, argv, opts, 0)) >= 0)
		return ret;
	if (!uid_s == !card)
		return cli_usage_error(cmd, "give exactly one of --uid HEX and "
					    "--card CARD");
	if (uid_s && (ret = cli_parse_uid(cmd, "--uid", uid_s, uid, &uid_len)))
		return ret;
	if (card && (ret = cli_check_card_no(cmd, card)))
		return ret;
	if (at_s && (ret = cli_parse_at(cmd, "--at", at_s, &at)))
		return ret;
	if ((ret = cli_open(REPLICA_RDONLY, &r)))
		return ret;
	/* --at is local time of the node: convert it again now that
	 * cli_open has set the node's zone. */
	if (at_s)
		(void)cli_parse_at(cmd, "--at", at_s, &at);
	else
		at = util_now_ms();

	memset(&res, 0, sizeof res);
	if (uid_s)
		rc = replica_check_uid(r, uid, uid_len, at, &res);
	else
		rc = replica_check_card(r, card, at, &res);
	if (rc == CN_ERR_NOTFOUND) {
		/* An unknown card is an answer, not an error. */
		memset(&res, 0, sizeof res);
		res.decision = DEC_UNKNOWN;
	} else if (rc) {
		cli_err("cannot check %s '%s': %s", uid_s ? "UID" : "card",
			uid_s ? uid_s : card, cn_strerror(rc));
		ret = cli_exit_of(rc) == CLI_NOTFOUND ? CLI_FAIL
						      : cli_exit_of(rc);
		goto cleanup;
	}

	if (cli.json) {
		json_object_begin();
		json_kv_str("decision", policy_decision_name(res.decision));
		json_kv_str_or_null("card", res.card);
		json_kv_str_or_null("student", res.edu_id);
		json_kv_str_or_null("school", res.school);
		if (uid_s)
			json_kv_hex("uid", uid, uid_len);
		json_kv_int("candidates", res.candidates);
		json_object_end();
		if (json_end()) {
			ret = CLI_FAIL;
			goto cleanup;
		}
	} else {
		printf("%s", policy_decision_name(res.decision));
		if (res.card[0])
			printf("  card %s", res.card);
		if (res.edu_id[0])
			printf("  student %s", res.edu_id);
		if (res.school[0])
			printf("  school %s", res.school);
		if (res.decision == DEC_AMBIGUOUS)
			printf("  (%d cards share this UID)", res.candidates);
		if (res.decision == DEC_UNKNOWN)
			printf("  (%s %s)", uid_s ? "uid" : "card",
			       uid_s ? cli_hex(uid, uid_len) : card);
		putchar('\n');
	}
	switch (res.decision) {
	case DEC_ACCEPT: ret = CLI_OK; break;
	case DEC_UNKNOWN: ret = CLI_NOTFOUND; break;
	default: ret = CLI_REFUSED; break;
	}
cleanup:
	replica_close(r);
	return ret;
}
