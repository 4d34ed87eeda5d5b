/*
 * cmd_auth.c — the Jiangsu identity authentication (教育卡身份信息认证):
 * auth submit / approve / reject / list / show (docs/authentication.md).
 *
 * A student's or teacher's record is submitted with their identity
 * number, reviewed by a class teacher (at the school's node) or an
 * administrator (school, district or city node), and approval makes the
 * person known under their education card number.  The number is a keyed
 * permutation of the identity number (node/edunum.h): this file computes
 * it when the record is submitted and uses it as the record's key, so
 * every node that handles the same person handles the same record.
 *
 * The identity number is checked, turned into the number and a keyed
 * digest, and wiped; it is never stored, printed or logged.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "authority.h"
#include "cli.h"
#include "commands.h"
#include "edunum.h"
#include "enroll.h"
#include "hlc.h"
#include "json.h"
#include "replica.h"
#include "util.h"

#define FIND_MAX 8

static const char *reviewer_name(uint8_t r)
{
	return r == REVIEWER_CLASS_TEACHER ? "class-teacher" :
	       r == REVIEWER_ADMIN ? "admin" : "";
}

/* ---- auth submit ------------------------------------------------------- */

static const struct cli_cmd submit_cmd = {
	"auth submit",
	"auth submit --person student|teacher --id-number X\n"
	"            [--id-type resident|passport|permit] --name N\n"
	"            --school DDDDDD-NNNN [--gender male|female]\n"
	"            student: --grade 1-12 --class C --enrolled YYYY\n"
	"                     --guardian X [--stage primary|junior|senior]\n"
	"            teacher: --since YYYY --subject S\n"
	"            [--actor NAME]",
	"Submit a student's or teacher's record for identity review (auth.submit):\n"
	"the record waits until a class teacher or an administrator approves or\n"
	"rejects it ('auth approve', 'auth reject').\n"
	"\n"
	"The record's key is the education card number the person gets when\n"
	"approved: a function of the identity number and the deployment secret\n"
	"alone (docs/authentication.md), the same on every node.  The identity\n"
	"number (--id-type: resident, the default, for resident ID cards and\n"
	"residence permits; passport; permit) is checked as 'student import'\n"
	"checks it and stored only as a keyed digest; it is never printed.\n"
	"A passport number must have at most 11 characters.\n"
	"\n"
	"A student's record gives grade, class, the year of enrolment and the\n"
	"guardian's phone or ID number (--guardian, or --guardian-id as in\n"
	"'student put'; stored as a digest); a teacher's the year they took\n"
	"up the post and the subject taught.  Submitting again\n"
	"(a corrected form, or after a rejection) replaces the whole record.\n"
	"\n"
	"Refused (exit 4): the person is already approved, or their identity\n"
	"number is on file for another student.  Exit 2 for a bad field.\n"
};

struct submit_out {
	const char *record;
	bool again;
};

static void submit_json(void *ctx)
{
	const struct submit_out *o = ctx;

	json_kv_str("record", o->record);
	json_kv_str("state", "submitted");
	json_kv_bool("resubmitted", o->again);
}

/* Another record (made with student put or import) holding the same
 * identity digest: one person, one record.  CLI_OK if none. */
static int check_duplicate(struct replica *r, const uint8_t idd[CN_KEY_LEN],
			   const char *key)
{
	char found[FIND_MAX][CN_EDU_ID_MAX + 1];
	int n = replica_find_idd(r, idd, found, FIND_MAX);

	if (n < 0) {
		cli_err("cannot search by identity number: %s", cn_strerror(n));
		return cli_exit_of(n);
	}
	for (int i = 0; i < n; i++) {
		if (!strcmp(found[i], key))
			continue;
		cli_err("refused: this identity number is already on file for "
			"student %s; one person has one record (see 'cardctl "
			"student show %s')", found[i], found[i]);
		return CLI_REFUSED;
	}
	return CLI_OK;
}

static int auth_submit(int argc, char **argv)
{
	const struct cli_cmd *cmd = &submit_cmd;
	const char *person = NULL, *idnum_s = NULL, *idtype_s = NULL;
	const char *name = NULL, *school = NULL, *gender = NULL;
	const char *grade = NULL, *class_ = NULL, *stage = NULL;
	const char *enrolled = NULL, *guardian_s = NULL, *since = NULL;
	const char *subject = NULL;
	const struct cli_opt opts[] = {
		{ "person", &person, NULL },
		{ "id-number", &idnum_s, NULL },
		{ "id-type", &idtype_s, NULL },
		{ "name", &name, NULL },
		{ "school", &school, NULL },
		{ "gender", &gender, NULL },
		{ "grade", &grade, NULL },
		{ "class", &class_, NULL },
		{ "stage", &stage, NULL },
		{ "enrolled", &enrolled, NULL },
		{ "guardian", &guardian_s, NULL },
		{ "guardian-id", &guardian_s, NULL },
		{ "since", &since, NULL },
		{ "subject", &subject, NULL },
		CLI_OPT_ACTOR, CLI_OPT_END
	};
	char idnum[ENROLL_IDNUM_MAX + 1] = "", guardian[CLI_GUARDIAN_MAX + 1] = "";
	char number[EDUNUM_LEN + 1] = "";
	enum enroll_id_type idtype = ENROLL_ID_RESIDENT;
	struct submit_out out = { number, false };
	struct replica *r = NULL;
	struct student_state st;
	struct entry e;
	const char *why;
	int rc, ret;

	if ((ret = cli_parse(cmd, argc, argv, opts, 0)) >= 0)
		return ret;
	cli_entry_init(&e, OP_AUTH_SUBMIT, NULL);
	if (!person)
		return cli_usage_error(cmd, "--person student|teacher is required");
	if (!strcmp(person, "student"))
		e.body.person = PERSON_STUDENT;
	else if (!strcmp(person, "teacher"))
		e.body.person = PERSON_TEACHER;
	else
		return cli_usage_error(cmd, "--person '%s': use student or "
					    "teacher", person);
	e.body.has |= BF(BK_PERSON);
	if (!name || !school)
		return cli_usage_error(cmd, "--name and --school are required");
	if (e.body.person == PERSON_STUDENT) {
		if (!grade || !class_ || !enrolled || !guardian_s)
			return cli_usage_error(cmd, "a student's record needs "
						    "--grade, --class, --enrolled "
						    "and --guardian");
		if (since || subject)
			return cli_usage_error(cmd, "--since and --subject are "
						    "for a teacher's record");
	} else {
		if (!since || !subject)
			return cli_usage_error(cmd, "a teacher's record needs "
						    "--since and --subject");
		if (enrolled || guardian_s)
			return cli_usage_error(cmd, "--enrolled and --guardian "
						    "are for a student's record");
	}
	{
		const struct { const char *field, *value; } info[] = {
			{ "name", name }, { "school", school },
			{ "grade", grade }, { "class", class_ },
			{ "stage", stage }, { "gender", gender },
		};

		for (size_t i = 0; i < sizeof info / sizeof info[0]; i++) {
			if (!info[i].value)
				continue;
			why = cli_student_field(info[i].field, info[i].value,
						&e.body);
			if (why == CLI_FIELD_EMPTY)
				return cli_usage_error(cmd, "--%s %s",
						       info[i].field, why);
			if (why)
				return cli_usage_error(cmd, "--%s '%s' %s",
						       info[i].field,
						       info[i].value, why);
		}
	}
	if ((ret = cli_person_fields(cmd, enrolled, since, subject, &e.body)))
		return ret;
	if (idtype_s && (idtype = enroll_id_type_parse(idtype_s)) ==
				ENROLL_ID_NONE)
		return cli_usage_error(cmd, "--id-type '%s': use resident, "
					    "passport or permit", idtype_s);
	if (!idnum_s)
		return cli_usage_error(cmd, "--id-number is required");
	if ((ret = cli_actor_check(cmd)))
		return ret;

	/* From here on the identity number is in idnum: wiped on every
	 * way out, and never in a message. */
	why = enroll_idnum_check(idtype, idnum_s, strlen(idnum_s), cli_today(),
				 idnum);
	if (why) {
		ret = cli_usage_error(cmd, "--id-number: %s (the value is not "
					   "shown)", why);
		goto cleanup;
	}
	if (guardian_s && !cli_guardian_normalize(guardian_s, guardian)) {
		ret = cli_usage_error(cmd, "--guardian is not a phone or ID "
					   "number (3-32 characters of 0-9 A-Z, "
					   "'+' first); the value is not shown");
		goto cleanup;
	}
	if ((ret = cli_open(0, &r)))
		goto cleanup;
	rc = replica_edu_number(r, idnum, number, &why);
	if (rc == CN_ERR_INVAL) {
		ret = cli_usage_error(cmd, "--id-number: %s (the value is not "
					   "shown)", why);
		goto cleanup;
	}
	if (rc) {
		cli_err("cannot make the education card number: %s", why);
		ret = cli_exit_of(rc);
		goto cleanup;
	}
	replica_id_digest(r, idnum, e.body.idd);
	e.body.has |= BF(BK_IDD);
	if (guardian_s) {
		replica_id_digest(r, guardian, e.body.gdd);
		e.body.has |= BF(BK_GDD);
	}
	snprintf(e.key, sizeof e.key, "%s", number);

	rc = replica_student(r, number, &st);
	if (rc && rc != CN_ERR_NOTFOUND) {
		cli_err("cannot read record %s: %s", number, cn_strerror(rc));
		ret = cli_exit_of(rc);
		goto cleanup;
	}
	if (rc == 0 && st.known) {
		cli_err("refused: this person is already approved, with "
			"education card number %s; change the record with "
			"'cardctl student put %s'", number, number);
		ret = CLI_REFUSED;
		goto cleanup;
	}
	out.again = rc == 0 && st.auth != AUTH_NONE;
	if ((ret = check_duplicate(r, e.body.idd, number)))
		goto cleanup;
	ret = cli_author_ex(r, &e, submit_json, &out);
	if (ret == CLI_OK && !cli.json)
		printf("  record %s %s; it awaits review by a class teacher or "
		       "an administrator\n",
		       number, out.again ? "submitted again" : "submitted");
cleanup:
	sodium_memzero(idnum, sizeof idnum);
	sodium_memzero(guardian, sizeof guardian);
	replica_close(r);
	return ret;
}

/* ---- auth approve / reject --------------------------------------------- */

static const struct cli_cmd approve_cmd = {
	"auth approve",
	"auth approve RECORD --as class-teacher|admin [--actor NAME]",
	"Approve the submitted record RECORD (auth.approve): the person becomes\n"
	"a known student or teacher, and RECORD is their education card number\n"
	"(教育卡号) from now on — for cards, 'student show', the log.\n"
	"\n"
	"--as says who reviews: a class teacher (班主任), only at the school's\n"
	"own node and only for a student's record, or an administrator at the\n"
	"school, district or city node.  Name the person with --actor: the log\n"
	"keeps it.  The approval is of the submission shown by 'auth show': if\n"
	"the record is submitted again before the approval reaches the other\n"
	"nodes, the approval is refused there (stale_review) and everywhere.\n"
	"Refused (exit 4): nothing awaits review, a class teacher reviewing a\n"
	"teacher's record, a node outside the school's scope.\n"
};

static const struct cli_cmd reject_cmd = {
	"auth reject",
	"auth reject RECORD --as class-teacher|admin --reason TEXT\n"
	"            [--actor NAME]",
	"Reject the submitted record RECORD (auth.reject), saying why (for\n"
	"example the class or the guardian does not match the register).  The\n"
	"person can submit a corrected record, which waits for review again.\n"
	"Rules and exit codes as for 'auth approve'.\n"
};

struct review_out {
	const char *record;
	bool approve;
};

static void review_json(void *ctx)
{
	const struct review_out *o = ctx;

	json_kv_str("record", o->record);
	json_kv_str("state", o->approve ? "approved" : "rejected");
	json_kv_str_or_null("education_card_number",
			    o->approve ? o->record : NULL);
}

static int auth_review(const struct cli_cmd *cmd, uint8_t op, int argc,
		       char **argv)
{
	const char *as = NULL, *reason = NULL, *key;
	const struct cli_opt approve_opts[] = {
		{ "as", &as, NULL }, CLI_OPT_ACTOR, CLI_OPT_END
	};
	const struct cli_opt reject_opts[] = {
		{ "as", &as, NULL }, { "reason", &reason, NULL },
		CLI_OPT_ACTOR, CLI_OPT_END
	};
	struct review_out out = { NULL, op == OP_AUTH_APPROVE };
	struct replica_info info;
	struct replica *r = NULL;
	struct student_state st;
	struct entry e;
	int rc, ret;

	if ((ret = cli_parse(cmd, argc, argv,
			     op == OP_AUTH_APPROVE ? approve_opts : reject_opts,
			     1)) >= 0)
		return ret;
	key = argv[optind];
	if ((ret = cli_check_edu_id(cmd, key)))
		return ret;
	cli_entry_init(&e, op, key);
	if (!as)
		return cli_usage_error(cmd, "--as class-teacher|admin is "
					    "required");
	if (!strcmp(as, "class-teacher"))
		e.body.reviewer = REVIEWER_CLASS_TEACHER;
	else if (!strcmp(as, "admin"))
		e.body.reviewer = REVIEWER_ADMIN;
	else
		return cli_usage_error(cmd, "--as '%s': use class-teacher or "
					    "admin", as);
	e.body.has = BF(BK_REVIEWER) | BF(BK_SUBMISSION);
	if (op == OP_AUTH_REJECT) {
		if (!reason || !*reason)
			return cli_usage_error(cmd, "--reason TEXT is required");
		if ((ret = cli_check_text(cmd, "--reason", reason,
					  CN_REASON_MAX)))
			return ret;
		snprintf(e.body.reason, sizeof e.body.reason, "%s", reason);
		e.body.has |= BF(BK_REASON);
	}
	if ((ret = cli_actor_check(cmd)))
		return ret;
	if ((ret = cli_open(0, &r)))
		return ret;
	replica_info(r, &info);
	rc = replica_student(r, key, &st);
	if (rc && rc != CN_ERR_NOTFOUND) {
		cli_err("cannot read record '%s': %s", key, cn_strerror(rc));
		ret = cli_exit_of(rc);
		goto cleanup;
	}
	if (rc || st.auth == AUTH_NONE) {
		cli_err("no record '%s' has been submitted here", key);
		ret = CLI_NOTFOUND;
		goto cleanup;
	}
	if (st.auth != AUTH_SUBMITTED) {
		cli_err("refused: record %s is %s, not awaiting review: %s (%s)",
			key, cli_auth_name(st.auth),
			fold_reason_text(FR_NOT_SUBMITTED),
			fold_reason_name(FR_NOT_SUBMITTED));
		ret = CLI_REFUSED;
		goto cleanup;
	}
	if (e.body.reviewer == REVIEWER_CLASS_TEACHER &&
	    info.role != ROLE_SCHOOL) {
		cli_err("refused: a class teacher reviews at the school's own "
			"node; this is a %s node (use --as admin)",
			authority_role_name(info.role)
				? authority_role_name(info.role) : "?");
		ret = CLI_REFUSED;
		goto cleanup;
	}
	if (e.body.reviewer == REVIEWER_CLASS_TEACHER &&
	    st.person != PERSON_STUDENT) {
		cli_err("refused: %s (%s)", fold_reason_text(FR_REVIEWER),
			fold_reason_name(FR_REVIEWER));
		ret = CLI_REFUSED;
		goto cleanup;
	}
	e.body.submission = st.submission_hlc;
	out.record = key;
	ret = cli_author_ex(r, &e, review_json, &out);
	if (ret == CLI_OK && !cli.json) {
		if (op == OP_AUTH_APPROVE)
			printf("  %s %s approved: education card number %s\n",
			       cli_person_name(st.person), st.name, key);
		else
			printf("  %s %s rejected; a corrected record can be "
			       "submitted again\n",
			       cli_person_name(st.person), st.name);
	}
cleanup:
	replica_close(r);
	return ret;
}

static int auth_approve(int argc, char **argv)
{
	return auth_review(&approve_cmd, OP_AUTH_APPROVE, argc, argv);
}

static int auth_reject(int argc, char **argv)
{
	return auth_review(&reject_cmd, OP_AUTH_REJECT, argc, argv);
}

/* ---- auth list ----------------------------------------------------------- */

static const struct cli_cmd list_cmd = {
	"auth list",
	"auth list [--state submitted|approved|rejected|all]\n"
	"          [--school DDDDDD-NNNN] [--class C]",
	"The records of the identity authentication, by default those awaiting\n"
	"review (--state submitted): record, person, state, school, grade and\n"
	"class, name, since when it is in its state and for how many days.  A\n"
	"class teacher lists their class with --school and --class.\n"
};

struct list_ctx {
	int state; /* -1: all */
	const char *school, *class_;
	uint64_t now_ms;
	uint64_t n;
};

static int list_cb(void *vctx, const struct student_state *st)
{
	struct list_ctx *l = vctx;
	uint64_t since = hlc_ms(st->auth_hlc);
	uint64_t days = l->now_ms > since ? (l->now_ms - since) / 86400000u : 0;
	char grade[8] = "";

	if (st->auth == AUTH_NONE || (l->state >= 0 && st->auth != l->state) ||
	    (l->school && strcmp(st->school, l->school)) ||
	    (l->class_ && strcmp(st->class_, l->class_)))
		return 0;
	l->n++;
	if (st->grade)
		snprintf(grade, sizeof grade, "%u", st->grade);
	if (cli.json) {
		json_object_begin();
		json_kv_str("record", st->edu_id);
		json_kv_str("person", cli_person_name(st->person));
		json_kv_str("state", cli_auth_name(st->auth));
		json_kv_str("name", st->name);
		json_kv_str("school", st->school);
		cli_json_info(st);
		json_kv_str_or_null("reviewer", reviewer_name(st->reviewer));
		json_kv_str("since", cli_time(since));
		json_kv_uint("days", days);
		json_object_end();
	} else {
		printf("%-19s %-7s %-9s %-11s %2s %-6s %4" PRIu64 "d  %s  %s\n",
		       st->edu_id, cli_person_name(st->person), cli_auth_name(st->auth),
		       st->school, grade, st->class_, days, cli_time(since),
		       st->name);
	}
	return 0;
}

static int auth_list(int argc, char **argv)
{
	const struct cli_cmd *cmd = &list_cmd;
	const char *state_s = NULL, *school = NULL, *class_ = NULL;
	const struct cli_opt opts[] = {
		{ "state", &state_s, NULL },
		{ "school", &school, NULL },
		{ "class", &class_, NULL },
		CLI_OPT_END
	};
	struct list_ctx l = { .state = AUTH_SUBMITTED };
	struct replica *r = NULL;
	char header[128];
	int ret;

	if ((ret = cli_parse(cmd, argc, argv, opts, 0)) >= 0)
		return ret;
	if (state_s) {
		l.state = !strcmp(state_s, "all") ? -1 : 0;
		for (int s = AUTH_SUBMITTED; s <= AUTH_REJECTED; s++)
			if (!strcmp(state_s, cli_auth_name((uint8_t)s)))
				l.state = s;
		if (l.state == 0)
			return cli_usage_error(cmd, "--state '%s': use "
						    "submitted, approved, "
						    "rejected or all", state_s);
	}
	if (school && (ret = cli_check_school(cmd, "--school", school)))
		return ret;
	l.school = school;
	l.class_ = class_;
	if ((ret = cli_open(REPLICA_RDONLY, &r)))
		return ret;
	l.now_ms = util_now_ms();
	snprintf(header, sizeof header,
		 "%-19s %-7s %-9s %-11s %2s %-6s %5s  %-19s  %s\n", "record",
		 "person", "state", "school", "gr", "class", "days", "since",
		 "name");
	ret = cli_list_students(r, header, "the records", list_cb, &l);
	replica_close(r);
	return ret;
}

/* ---- auth show ----------------------------------------------------------- */

static const struct cli_cmd show_cmd = {
	"auth show", "auth show RECORD",
	"One record of the identity authentication: the submitted fields\n"
	"(identity and guardian numbers only as 'on file'), its state, when it\n"
	"was submitted and reviewed, by which kind of reviewer and, if it was\n"
	"rejected, why.  The education card number is shown once approved.\n"
	"'cardctl log --student RECORD' gives every entry with its author.\n"
	"Exit 3 if no record was submitted under RECORD.\n"
};

static int auth_show(int argc, char **argv)
{
	const struct cli_cmd *cmd = &show_cmd;
	struct replica *r = NULL;
	struct student_state st;
	const char *key;
	int rc, ret;

	if ((ret = cli_parse(cmd, argc, argv, NULL, 1)) >= 0)
		return ret;
	key = argv[optind];
	if ((ret = cli_check_edu_id(cmd, key)))
		return ret;
	if ((ret = cli_open(REPLICA_RDONLY, &r)))
		return ret;
	rc = replica_student(r, key, &st);
	if (rc && rc != CN_ERR_NOTFOUND) {
		cli_err("cannot read record '%s': %s", key, cn_strerror(rc));
		ret = cli_exit_of(rc);
		goto cleanup;
	}
	if (rc || st.auth == AUTH_NONE) {
		cli_err("no record '%s' has been submitted here", key);
		ret = CLI_NOTFOUND;
		goto cleanup;
	}
	if (cli.json) {
		json_object_begin();
		json_kv_str("record", st.edu_id);
		json_kv_str("person", cli_person_name(st.person));
		json_kv_str("state", cli_auth_name(st.auth));
		json_kv_str_or_null("education_card_number",
				    st.auth == AUTH_APPROVED ? st.edu_id : NULL);
		json_kv_str("name", st.name);
		json_kv_str("school", st.school);
		cli_json_info(&st);
		json_key(st.person == PERSON_TEACHER ? "in_post_since"
						     : "enrolled");
		if (st.since)
			json_uint(st.since);
		else
			json_null();
		json_kv_str_or_null("subject", st.subject);
		json_kv_bool("id_number_on_file", st.has_idd);
		json_kv_bool("guardian_on_file", st.has_gdd);
		json_kv_str("submitted", cli_time(hlc_ms(st.submission_hlc)));
		json_kv_str_or_null("reviewed",
				    st.auth == AUTH_SUBMITTED
					    ? NULL
					    : cli_time(hlc_ms(st.auth_hlc)));
		json_kv_str_or_null("reviewer", reviewer_name(st.reviewer));
		json_kv_str_or_null("reason", st.auth_reason);
		json_object_end();
		ret = json_end() ? CLI_FAIL : CLI_OK;
		goto cleanup;
	}
	printf("%-16s%s\n", "record", st.edu_id);
	printf("%-16s%s\n", "person", cli_person_name(st.person));
	printf("%-16s%s\n", "state", cli_auth_name(st.auth));
	if (st.auth == AUTH_APPROVED)
		printf("%-16s%s\n", "card number", st.edu_id);
	printf("%-16s%s\n", "name", st.name);
	printf("%-16s%s\n", "school", st.school);
	cli_text_info(&st);
	printf("%-16s%s\n", "id number", st.has_idd ? "on file" : "-");
	if (st.person == PERSON_STUDENT)
		printf("%-16s%s\n", "guardian", st.has_gdd ? "on file" : "-");
	printf("%-16s%s\n", "submitted", cli_time(hlc_ms(st.submission_hlc)));
	if (st.auth != AUTH_SUBMITTED)
		printf("%-16s%s by %s\n", "reviewed", cli_time(hlc_ms(st.auth_hlc)),
		       reviewer_name(st.reviewer));
	if (st.auth_reason[0])
		printf("%-16s%s\n", "reason", st.auth_reason);
	ret = CLI_OK;
cleanup:
	replica_close(r);
	return ret;
}

int cmd_auth_main(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "submit", auth_submit,
		  "submit a student's or teacher's record for review" },
		{ "approve", auth_approve,
		  "approve it: the education card number (教育卡号) is given" },
		{ "reject", auth_reject, "reject it, saying why" },
		{ "list", auth_list, "the records awaiting review (or all)" },
		{ "show", auth_show, "one record, its state and its review" },
	};
	return cli_dispatch("auth", subs, sizeof subs / sizeof subs[0], argc,
			    argv);
}
