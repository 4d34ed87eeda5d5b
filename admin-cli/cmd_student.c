/*
 * cmd_student.c — student put / transfer / show / find (DESIGN §3, §8).
 *
 * National ID and guardian numbers are turned into keyed digests here, the
 * moment they are read: the clear number is never stored, printed (not even
 * in an error message) or passed anywhere else, and its buffer is wiped.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "commands.h"
#include "edunum.h"
#include "json.h"
#include "policy.h"
#include "replica.h"

#define IDNUM_MAX 20
#define FIND_MAX 64

/*
 * Light check of an identity number, upper-cased into out[IDNUM_MAX + 1]:
 * a national ID (18 characters: 17 digits and a final digit or X) or a
 * passport / entry-permit number (6-20 characters of A-Z and 0-9).
 */
static bool idnum_normalize(const char *s, char out[static IDNUM_MAX + 1])
{
	size_t n = strlen(s);
	bool digits17 = n == 18;

	if (n < 6 || n > IDNUM_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = (char)toupper((unsigned char)s[i]);

		if (!((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z')))
			return false;
		if (i < 17 && !(ch >= '0' && ch <= '9'))
			digits17 = false;
		out[i] = ch;
	}
	out[n] = '\0';
	/* 18 characters starting with 17 digits must end in a digit or X. */
	if (digits17 && !(out[17] == 'X' || (out[17] >= '0' && out[17] <= '9')))
		return false;
	return true;
}

static int idnum_error(const struct cli_cmd *cmd)
{
	/* The value is deliberately not repeated. */
	return cli_usage_error(cmd,
			       "--id-number is not a valid identity number "
			       "(18 characters: 17 digits and a digit or X; or "
			       "a passport number of 6-20 characters A-Z 0-9); "
			       "the value is not shown here");
}

/* ---- student put ------------------------------------------------------- */

static const struct cli_cmd put_cmd = {
	"student put",
	"student put EDU_ID [--name N] [--school DDDDDD-NNNN] [--grade 1-12]\n"
	"            [--class C] [--stage primary|junior|senior]\n"
	"            [--gender male|female] [--grad YYYY-MM-DD]\n"
	"            [--enrolled YYYY | --since YYYY] [--subject S]\n"
	"            [--id-number X] [--guardian-id X] [--actor NAME]",
	"Set the given information fields of a student (student.put; each field\n"
	"is last-writer-wins).  A student not known here yet needs --name and\n"
	"--school.  For a known student give only the fields to change: the\n"
	"entry repeats the current name when --name is left out, and the\n"
	"school changes only with 'student transfer'.\n"
	"\n"
	"--enrolled (a student's year of enrolment) and --since and --subject\n"
	"(a teacher's year in post and subject) are the fields of identity\n"
	"review ('cardctl auth'), changed here once a record is approved.\n"
	"\n"
	"--id-number (national ID, or passport for foreign students) and\n"
	"--guardian-id (the guardian's phone or ID number; --guardian is the\n"
	"same option) are recorded only as a keyed digest: the\n"
	"clear number never enters the log and is never printed.  Find a\n"
	"student by it with 'cardctl student find --id-number X'.\n"
	"\n"
	"  --actor NAME    who does this, for the audit log (default\n"
	"                  $CARDNODE_ACTOR, else $USER, else \"cardctl\")\n"
};

static int student_put(int argc, char **argv)
{
	const struct cli_cmd *cmd = &put_cmd;
	const char *name = NULL, *school = NULL, *grade_s = NULL;
	const char *class_ = NULL, *stage_s = NULL, *gender_s = NULL;
	const char *grad_s = NULL, *idnum_s = NULL, *guardian_s = NULL;
	const char *enrolled = NULL, *since = NULL, *subject = NULL;
	const struct cli_opt opts[] = {
		{ "name", &name, NULL },
		{ "school", &school, NULL },
		{ "grade", &grade_s, NULL },
		{ "class", &class_, NULL },
		{ "stage", &stage_s, NULL },
		{ "gender", &gender_s, NULL },
		{ "grad", &grad_s, NULL },
		{ "enrolled", &enrolled, NULL },
		{ "since", &since, NULL },
		{ "subject", &subject, NULL },
		{ "id-number", &idnum_s, NULL },
		{ "guardian", &guardian_s, NULL },
		{ "guardian-id", &guardian_s, NULL },
		CLI_OPT_ACTOR, CLI_OPT_END
	};
	char idnum[IDNUM_MAX + 1] = "", guardian[CLI_GUARDIAN_MAX + 1] = "";
	struct replica *r = NULL;
	struct student_state st;
	struct entry e;
	int rc, ret;

	if ((ret = cli_parse(cmd, argc, argv, opts, 1)) >= 0)
		return ret;
	if ((ret = cli_check_edu_id(cmd, argv[optind])))
		goto cleanup;
	if ((ret = cli_actor_check(cmd)))
		goto cleanup;
	cli_entry_init(&e, OP_STUDENT_PUT, argv[optind]);

	{
		/* The information fields, checked as `student import` does. */
		const struct { const char *field, *value; } info[] = {
			{ "name", name }, { "school", school },
			{ "grade", grade_s }, { "class", class_ },
			{ "stage", stage_s }, { "gender", gender_s },
		};

		for (size_t i = 0; i < sizeof info / sizeof info[0]; i++) {
			const char *why;

			if (!info[i].value)
				continue;
			why = cli_student_field(info[i].field, info[i].value,
						&e.body);
			if (why == CLI_FIELD_EMPTY) {
				ret = cli_usage_error(cmd, "--%s %s",
						      info[i].field, why);
				goto cleanup;
			}
			if (why) {
				ret = cli_usage_error(cmd, "--%s '%s' %s",
						      info[i].field,
						      info[i].value, why);
				goto cleanup;
			}
		}
	}
	if (grad_s) {
		if ((ret = cli_parse_date(cmd, "--grad", grad_s, &e.body.grad)))
			goto cleanup;
		e.body.has |= BF(BK_GRAD);
	}
	if ((ret = cli_person_fields(cmd, enrolled, since, subject, &e.body)))
		goto cleanup;
	if (idnum_s && !idnum_normalize(idnum_s, idnum)) {
		ret = idnum_error(cmd);
		goto cleanup;
	}
	if (guardian_s && !cli_guardian_normalize(guardian_s, guardian)) {
		ret = cli_usage_error(cmd,
				      "--guardian is not a phone or ID number "
				      "(3-32 characters of 0-9 A-Z, '+' first); "
				      "the value is not shown here");
		goto cleanup;
	}
	if (!e.body.has && !idnum_s && !guardian_s) {
		ret = cli_usage_error(cmd, "nothing to put: give at least one "
					   "field (--name, --school, …)");
		goto cleanup;
	}

	if ((ret = cli_open(0, &r)))
		goto cleanup;
	/* Every student.put carries a name: a new student must give it (and
	 * its school); a known one keeps its current name unless told. */
	rc = replica_student(r, e.key, &st);
	if (rc && rc != CN_ERR_NOTFOUND) {
		cli_err("cannot read student '%s': %s", e.key, cn_strerror(rc));
		ret = cli_exit_of(rc);
		goto cleanup;
	}
	if ((rc == CN_ERR_NOTFOUND || (!st.known && st.auth == AUTH_NONE)) &&
	    edunum_valid(e.key)) {
		cli_err("refused: '%s' has the form of an education card number "
			"(19 digits with a check digit), which only identity "
			"review gives ('cardctl auth'); choose another edu_id",
			e.key);
		ret = CLI_REFUSED;
		goto cleanup;
	}
	if (rc == CN_ERR_NOTFOUND || !st.known) {
		if (!name || !school) {
			ret = cli_usage_error(cmd,
					      "student '%s' is not known here "
					      "yet: a new student needs %s",
					      e.key,
					      !name && !school
						      ? "--name and --school"
					      : !name ? "--name"
						      : "--school");
			goto cleanup;
		}
	} else if (!name) {
		if (!st.name[0]) {
			ret = cli_usage_error(cmd,
					      "student '%s' has no name on "
					      "record: give --name",
					      e.key);
			goto cleanup;
		}
		snprintf(e.body.name, sizeof e.body.name, "%s", st.name);
		e.body.has |= BF(BK_NAME);
	}
	if (idnum_s) {
		replica_id_digest(r, idnum, e.body.idd);
		e.body.has |= BF(BK_IDD);
	}
	if (guardian_s) {
		replica_id_digest(r, guardian, e.body.gdd);
		e.body.has |= BF(BK_GDD);
	}
	ret = cli_author(r, &e);
cleanup:
	sodium_memzero(idnum, sizeof idnum);
	sodium_memzero(guardian, sizeof guardian);
	replica_close(r);
	return ret;
}

/* ---- student transfer -------------------------------------------------- */

static const struct cli_cmd transfer_cmd = {
	"student transfer",
	"student transfer EDU_ID --to DDDDDD-NNNN [--actor NAME]",
	"Move a student to another school (student.transfer).  The current\n"
	"school, or a district or city node covering it, may author this;\n"
	"later entries are checked against the new school.\n"
};

static int student_transfer(int argc, char **argv)
{
	const struct cli_cmd *cmd = &transfer_cmd;
	const char *to = NULL;
	const struct cli_opt opts[] = {
		{ "to", &to, NULL }, CLI_OPT_ACTOR, CLI_OPT_END
	};
	struct replica *r = NULL;
	struct student_state st;
	struct entry e;
	int ret;

	if ((ret = cli_parse(cmd, argc, argv, opts, 1)) >= 0)
		return ret;
	if ((ret = cli_check_edu_id(cmd, argv[optind])))
		return ret;
	if (!to)
		return cli_usage_error(cmd, "--to SCHOOL is required");
	if ((ret = cli_check_school(cmd, "--to", to)))
		return ret;
	if ((ret = cli_actor_check(cmd)))
		return ret;
	if ((ret = cli_open(0, &r)))
		return ret;

	if ((ret = cli_find_known_student(r, argv[optind], &st)))
		goto cleanup;
	if (!strcmp(st.school, to)) {
		cli_err("student '%s' is already at school %s", argv[optind], to);
		ret = CLI_REFUSED;
		goto cleanup;
	}
	cli_entry_init(&e, OP_STUDENT_TRANSFER, argv[optind]);
	snprintf(e.body.school, sizeof e.body.school, "%s", to);
	e.body.has = BF(BK_SCHOOL);
	ret = cli_author(r, &e);
cleanup:
	replica_close(r);
	return ret;
}

/* ---- student show ------------------------------------------------------ */

static const char *leave_name(uint8_t left)
{
	switch (left) {
	case LEAVE_GRADUATED: return "graduated";
	case LEAVE_DROPPED: return "dropped";
	case LEAVE_OTHER: return "left";
	default: return "";
	}
}

static const struct cli_cmd show_cmd = {
	"student show", "student show EDU_ID",
	"Show a student's information and every card issued to them, with\n"
	"its status.  Identity numbers are never shown, only whether one is\n"
	"on file.  Exit 3 if no entry names the student.\n"
};

static int student_show(int argc, char **argv)
{
	const struct cli_cmd *cmd = &show_cmd;
	struct replica *r = NULL;
	struct student_state st;
	int ret;

	if ((ret = cli_parse(cmd, argc, argv, NULL, 1)) >= 0)
		return ret;
	if ((ret = cli_check_edu_id(cmd, argv[optind])))
		return ret;
	if ((ret = cli_open(REPLICA_RDONLY, &r)))
		return ret;
	if ((ret = cli_find_student(r, argv[optind], &st)))
		goto cleanup;

	if (cli.json) {
		json_object_begin();
		json_kv_str("edu_id", st.edu_id);
		json_kv_bool("known", st.known);
		json_kv_str("person", cli_person_name(st.person));
		json_kv_str_or_null("identity_review", cli_auth_name(st.auth));
		json_kv_str_or_null("name", st.name);
		json_kv_str_or_null("school", st.school);
		cli_json_info(&st);
		json_kv_str_or_null("grad", cli_date(st.grad));
		json_kv_bool("id_number_on_file", st.has_idd);
		json_kv_bool("guardian_on_file", st.has_gdd);
		json_key("photo");
		if (st.has_photo)
			json_hex(st.photo, CN_KEY_LEN);
		else
			json_null();
		json_kv_str_or_null("left", leave_name(st.left));
		json_kv_bool("claimed", st.claimed);
		json_key("cards");
		json_array_begin();
		for (int i = 0; i < st.ncards && i < CN_CARDS_MAX; i++)
			cli_json_card(&st, &st.cards[i]);
		json_array_end();
		json_object_end();
		ret = json_end() ? CLI_FAIL : CLI_OK;
		goto cleanup;
	}

	printf("%-16s%s\n", cli_person_name(st.person), st.edu_id);
	if (!st.known && st.auth != AUTH_NONE)
		printf("%-16s%s\n", "state",
		       st.auth == AUTH_REJECTED
			       ? "identity review rejected (cardctl auth show)"
			       : "awaiting identity review (cardctl auth show)");
	else if (!st.known)
		printf("%-16s%s\n", "state",
		       "not yet known here (entries wait for its student.put)");
	else if (st.auth == AUTH_APPROVED)
		printf("%-16s%s\n", "state",
		       "approved by identity review: education card number");
	printf("%-16s%s\n", "name", st.name[0] ? st.name : "-");
	printf("%-16s%s\n", "school", st.school[0] ? st.school : "-");
	cli_text_info(&st);
	if (st.grad)
		printf("%-16s%s\n", "graduation", cli_date(st.grad));
	printf("%-16s%s\n", "id number", st.has_idd ? "on file" : "-");
	printf("%-16s%s\n", "guardian", st.has_gdd ? "on file" : "-");
	printf("%-16s%s\n", "photo",
	       st.has_photo ? cli_hex(st.photo, CN_KEY_LEN) : "-");
	if (st.left)
		printf("%-16s%s\n", "left", leave_name(st.left));
	if (st.claimed)
		printf("%-16s%s\n", "e-card", "claimed by the guardian");
	printf("%-16s%u\n", "cards", st.ncards);
	for (int i = 0; i < st.ncards && i < CN_CARDS_MAX; i++) {
		const struct card_state *cs = &st.cards[i];

		printf("  %-20s %-10s %-9s uid %s", cs->card,
		       fold_card_status(cs), cli_kind_name(cs->kind),
		       cli_hex(cs->uid, cs->uid_len));
		if (cs->valid_through)
			printf("  valid through %s", cli_month(cs->valid_through));
		if (cs->registered_term)
			printf("  term %" PRIu32, cs->registered_term);
		if (cs->replaced_by[0])
			printf("  replaced by %s", cs->replaced_by);
		putchar('\n');
	}
	ret = CLI_OK;
cleanup:
	replica_close(r);
	return ret;
}

/* ---- student find ------------------------------------------------------ */

static const struct cli_cmd find_cmd = {
	"student find", "student find --id-number X",
	"Find students by national ID (or passport) number, through its keyed\n"
	"digest: the number itself is never stored.  Exit 3 if none.\n"
};

static int student_find(int argc, char **argv)
{
	const struct cli_cmd *cmd = &find_cmd;
	const char *idnum_s = NULL;
	const struct cli_opt opts[] = {
		{ "id-number", &idnum_s, NULL }, CLI_OPT_END
	};
	char idnum[IDNUM_MAX + 1] = "";
	char (*found)[CN_EDU_ID_MAX + 1] = NULL;
	uint8_t idd[CN_KEY_LEN];
	struct replica *r = NULL;
	struct student_state st;
	int n, ret;

	if ((ret = cli_parse(cmd, argc, argv, opts, 0)) >= 0)
		return ret;
	if (!idnum_s) {
		ret = cli_usage_error(cmd, "--id-number is required");
		goto cleanup;
	}
	if (!idnum_normalize(idnum_s, idnum)) {
		ret = idnum_error(cmd);
		goto cleanup;
	}
	if ((ret = cli_open(REPLICA_RDONLY, &r)))
		goto cleanup;
	replica_id_digest(r, idnum, idd);
	sodium_memzero(idnum, sizeof idnum);

	found = calloc(FIND_MAX, sizeof *found);
	if (!found) {
		cli_err("out of memory");
		ret = CLI_FAIL;
		goto cleanup;
	}
	n = replica_find_idd(r, idd, found, FIND_MAX);
	if (n < 0) {
		cli_err("cannot search by ID number: %s", cn_strerror(n));
		ret = cli_exit_of(n);
		goto cleanup;
	}
	if (n == 0 && !cli.json) {
		cli_err("no student has that ID number here");
		ret = CLI_NOTFOUND;
		goto cleanup;
	}

	if (cli.json) {
		json_object_begin();
		json_key("students");
		json_array_begin();
	}
	for (int i = 0; i < n; i++) {
		bool have = replica_student(r, found[i], &st) == 0;

		if (cli.json) {
			json_object_begin();
			json_kv_str("edu_id", found[i]);
			json_kv_str_or_null("name", have ? st.name : NULL);
			json_kv_str_or_null("school", have ? st.school : NULL);
			json_object_end();
		} else {
			printf("%-20s %-12s %s\n", found[i],
			       have && st.school[0] ? st.school : "-",
			       have && st.name[0] ? st.name : "-");
		}
	}
	if (cli.json) {
		json_array_end();
		json_object_end();
		if (json_end())
			ret = CLI_FAIL;
	}
	if (n == 0) {
		cli_err("no student has that ID number here");
		ret = CLI_NOTFOUND;
	}
cleanup:
	sodium_memzero(idnum, sizeof idnum);
	free(found);
	replica_close(r);
	return ret;
}

/* ---- student leave ------------------------------------------------------ */

static const struct cli_cmd leave_cmd = {
	"student leave",
	"student leave EDU_ID --reason graduated|dropped [--actor NAME]",
	"The student left without a transfer (graduation or drop-out): one\n"
	"student.leave entry marks the student as left and freezes every card\n"
	"still in use (冻结), in the fold, so every replica agrees; no new card\n"
	"can be issued to a student who left (student_left).  A later\n"
	"'student transfer' re-admits the student at the new school; the\n"
	"cards stay frozen until 'card unfreeze'.\n"
};

static int student_leave(int argc, char **argv)
{
	const struct cli_cmd *cmd = &leave_cmd;
	const char *reason = NULL;
	const struct cli_opt opts[] = {
		{ "reason", &reason, NULL }, CLI_OPT_ACTOR, CLI_OPT_END
	};
	struct replica *r = NULL;
	struct student_state st;
	struct entry e;
	int ret;

	if ((ret = cli_parse(cmd, argc, argv, opts, 1)) >= 0)
		return ret;
	if ((ret = cli_check_edu_id(cmd, argv[optind])))
		return ret;
	if (!reason)
		return cli_usage_error(cmd, "--reason graduated|dropped is "
					    "required");
	if (strcmp(reason, "graduated") && strcmp(reason, "dropped"))
		return cli_usage_error(cmd, "--reason '%s': use graduated or "
					    "dropped", reason);
	if ((ret = cli_actor_check(cmd)))
		return ret;
	if ((ret = cli_open(0, &r)))
		return ret;
	if ((ret = cli_find_known_student(r, argv[optind], &st)))
		goto cleanup;
	cli_entry_init(&e, OP_STUDENT_LEAVE, argv[optind]);
	snprintf(e.body.reason, sizeof e.body.reason, "%s", reason);
	e.body.has = BF(BK_REASON);
	ret = cli_author(r, &e);
cleanup:
	replica_close(r);
	return ret;
}

/* ---- claim (Jiangxi e-card) --------------------------------------------- */

static const struct cli_cmd claim_cmd = {
	"claim", "claim --guardian-id X --student EDU_ID [--actor NAME]\n"
	"       cardctl claim list --guardian-id X",
	"A guardian claims a student's e-card (guardian.claim).  It succeeds\n"
	"only if the school registry names X as the student's guardian\n"
	"(student put --guardian-id X; compared through the keyed digest, the\n"
	"number is never stored) and X holds fewer than 3 claims.  Refusals\n"
	"(exit 4) give the seed's reasons: X already claimed for three\n"
	"children; or the registry's guardian of the student is not X, is\n"
	"wrong or is missing (the school must correct it).\n"
	"\n"
	"The claim is a replicated entry.  Claims of one guardian are ranked in\n"
	"the fold order of their entries, so two replicas that each accepted a\n"
	"4th claim before they met agree after merging which three count:\n"
	"'claim list --guardian-id X' marks the others over_limit.\n"
};

struct claim_walk {
	const uint8_t *gdd;
	size_t n, cap;
	struct student_state *v; /* claims by gdd */
	int err;
};

static int claim_walk_cb(void *ctx, const struct student_state *st)
{
	struct claim_walk *w = ctx;

	if (!st->claimed || sodium_memcmp(st->claim_gdd, w->gdd, CN_KEY_LEN))
		return 0;
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 8;
		void *p = realloc(w->v, cap * sizeof *w->v);

		if (!p)
			return CN_ERR_NOMEM;
		w->v = p;
		w->cap = cap;
	}
	w->v[w->n++] = *st;
	return 0;
}

static int claim_order(const void *a, const void *b)
{
	return fold_claim_cmp(a, b);
}

/* Every claim carrying `gdd`, in fold order, into w (caller frees w->v). */
static int claims_of(struct replica *r, const uint8_t gdd[static CN_KEY_LEN],
		     struct claim_walk *w)
{
	int rc;

	memset(w, 0, sizeof *w);
	w->gdd = gdd;
	rc = replica_students_walk(r, claim_walk_cb, w);
	if (!rc && w->n > 1)
		qsort(w->v, w->n, sizeof *w->v, claim_order);
	return rc;
}

static int read_guardian(const struct cli_cmd *cmd, const char *s,
			 char out[static CLI_GUARDIAN_MAX + 1])
{
	if (!s)
		return cli_usage_error(cmd, "--guardian-id X is required");
	if (!cli_guardian_normalize(s, out))
		return cli_usage_error(cmd, "--guardian-id: not a phone or ID "
					    "number (3-32 of 0-9 A-Z, '+' "
					    "first)");
	return 0;
}

static const struct cli_cmd claim_list_cmd = {
	"claim list", "claim list --guardian-id X",
	"The claims of guardian X in fold order: the first three count\n"
	"('ok'), any later one, from replicas that accepted it before they\n"
	"met, is 'over_limit'.\n"
};

static int claim_list(int argc, char **argv)
{
	const struct cli_cmd *cmd = &claim_list_cmd;
	const char *gid = NULL;
	const struct cli_opt opts[] = { { "guardian-id", &gid, NULL },
					CLI_OPT_END };
	char guardian[CLI_GUARDIAN_MAX + 1];
	uint8_t gdd[CN_KEY_LEN];
	struct claim_walk w = { 0 };
	struct replica *r = NULL;
	int rc, ret;

	if ((ret = cli_parse(cmd, argc, argv, opts, 0)) >= 0)
		return ret;
	if ((ret = read_guardian(cmd, gid, guardian)))
		return ret;
	if ((ret = cli_open(REPLICA_RDONLY, &r)))
		goto wipe;
	replica_id_digest(r, guardian, gdd);
	if ((rc = claims_of(r, gdd, &w))) {
		cli_err("cannot list the claims: %s", cn_strerror(rc));
		ret = cli_exit_of(rc);
		goto cleanup;
	}
	if (cli.json)
		json_array_begin();
	for (size_t i = 0; i < w.n; i++) {
		const char *status = i < FOLD_CLAIMS_MAX ? "ok" : "over_limit";
		if (cli.json) {
			json_object_begin();
			json_kv_str("student", w.v[i].edu_id);
			json_kv_str("claimed", cli_time(w.v[i].claim_hlc >> 16));
			json_kv_str("status", status);
			json_object_end();
		} else {
			printf("%-20s %s  %s\n", w.v[i].edu_id,
			       cli_time(w.v[i].claim_hlc >> 16), status);
		}
	}
	ret = cli.json && json_end() ? CLI_FAIL : CLI_OK;
cleanup:
	free(w.v);
	replica_close(r);
wipe:
	sodium_memzero(guardian, sizeof guardian);
	sodium_memzero(gdd, sizeof gdd);
	return ret;
}

int cmd_claim_main(int argc, char **argv)
{
	const struct cli_cmd *cmd = &claim_cmd;
	const char *gid = NULL, *student = NULL;
	const struct cli_opt opts[] = {
		{ "guardian-id", &gid, NULL },
		{ "student", &student, NULL },
		CLI_OPT_ACTOR, CLI_OPT_END
	};
	char guardian[CLI_GUARDIAN_MAX + 1];
	struct claim_walk w = { 0 };
	struct replica *r = NULL;
	struct student_state st;
	struct entry e;
	int rc, ret;

	if (argc >= 2 && !strcmp(argv[1], "list"))
		return claim_list(argc - 1, argv + 1);
	if ((ret = cli_parse(cmd, argc, argv, opts, 0)) >= 0)
		return ret;
	if ((ret = read_guardian(cmd, gid, guardian)))
		return ret;
	if (!student) {
		ret = cli_usage_error(cmd, "--student EDU_ID is required");
		goto wipe;
	}
	if ((ret = cli_check_edu_id(cmd, student)) ||
	    (ret = cli_actor_check(cmd)))
		goto wipe;
	if ((ret = cli_open(0, &r)))
		goto wipe;
	cli_entry_init(&e, OP_GUARDIAN_CLAIM, student);
	replica_id_digest(r, guardian, e.body.gdd);
	e.body.has = BF(BK_GDD);
	if ((ret = cli_find_known_student(r, student, &st)))
		goto cleanup;
	if ((rc = claims_of(r, e.body.gdd, &w))) {
		cli_err("cannot count the guardian's claims: %s",
			cn_strerror(rc));
		ret = cli_exit_of(rc);
		goto cleanup;
	}
	if (w.n >= FOLD_CLAIMS_MAX) {
		cli_err("refused: this guardian has already claimed the e-card "
			"of three children; at most three can be claimed by one "
			"guardian (claim_limit)");
		ret = CLI_REFUSED;
		goto cleanup;
	}
	if (!st.has_gdd ||
	    sodium_memcmp(st.gdd, e.body.gdd, CN_KEY_LEN) != 0) {
		cli_err("refused: claim %s: the school registry does not name "
			"this person as the student's guardian (it may name "
			"someone else, be wrong, or have no guardian yet): ask "
			"the school to correct it (not_guardian)", student);
		ret = CLI_REFUSED;
		goto cleanup;
	}
	ret = cli_author(r, &e);
cleanup:
	free(w.v);
	replica_close(r);
wipe:
	sodium_memzero(guardian, sizeof guardian);
	return ret;
}

int cmd_student_main(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "put", student_put, "set a student's information fields" },
		{ "transfer", student_transfer, "move a student to another school" },
		{ "show", student_show, "a student's information and cards" },
		{ "find", student_find, "find students by ID number" },
		{ "import", student_import_main,
		  "import enrollment data from a CSV file" },
		{ "leave", student_leave,
		  "left without a transfer (graduated, dropped): cards frozen" },
	};
	return cli_dispatch("student", subs, sizeof subs / sizeof subs[0], argc,
			    argv);
}
