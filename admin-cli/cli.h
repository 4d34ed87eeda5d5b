/*
 * cli.h — what every cardctl subcommand shares: global options, option
 * parsing, opening the replica, exit codes, dates, hex, the actor.
 *
 * Exit codes (the one place they are defined; `cardctl --help` repeats
 * them, scripts depend on them):
 *
 *   0  ok          the command did what it was asked
 *                  (check: the card is accepted)
 *   1  failure     I/O, store, crypto or data-dir problem; see stderr
 *                  (verify: the replica disagrees with its signatures,
 *                  chain or fold — a failure, not a refusal)
 *   2  usage       bad command line: unknown command or option, missing or
 *                  malformed argument
 *   3  not found   no such student or card (every command that names one
 *                  checks it first), no such input file
 *                  (check: the card or UID is unknown)
 *   4  refused     the authority or the fold refuses the change (an
 *                  unauthorized entry), a certificate or revocation not
 *                  signed by this deployment's root, the node is behind
 *                  its own log (check: any rejection — lost, frozen,
 *                  expired …)
 *   5  partial     some of the work was done, not all (import/merge of a
 *                  damaged bundle; diff: the replicas differ; student
 *                  import: more than 3% of the rows rejected)
 */
#ifndef CARDCTL_CLI_H
#define CARDCTL_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cn.h"
#include "entry.h"
#include "fold.h"
#include "replica.h"

enum cli_exit {
	CLI_OK = 0,
	CLI_FAIL = 1,
	CLI_USAGE = 2,
	CLI_NOTFOUND = 3,
	CLI_REFUSED = 4,
	CLI_PARTIAL = 5,
};

#define CLI_DEFAULT_DATA "/var/lib/cardnode"

/* Global options, set by main() and by the common options every
 * subcommand also accepts after its name. */
struct cli_global {
	const char *data_dir; /* -d / --data, $CARDNODE_DATA, default */
	bool json;            /* --json */
	const char *actor;    /* --actor, of commands that author entries */
	const char *prog;     /* "cardctl" */
};
extern struct cli_global cli;

/* One command or subcommand: its name as typed ("card issue"), its
 * synopsis lines and a longer help text (both printed by --help). */
struct cli_cmd {
	const char *name;
	const char *synopsis;
	const char *help;
};

/* What getopt_long returns for --json (short options use their letters). */
enum { CLI_OPT_JSON = 0x100 };

/* One option of a subcommand's own: --name VALUE into *value, or, with
 * value NULL, the flag --name into *flag. */
struct cli_opt {
	const char *name;
	const char **value;
	bool *flag;
};
/* … for commands that author entries: */
#define CLI_OPT_ACTOR { "actor", &cli.actor, NULL }
#define CLI_OPT_END { NULL, NULL, NULL }

/*
 * Parse a subcommand's argv (argv[0] is its name): its own options `opts`
 * (NULL for none), the common ones (--help, --json, -d), then exactly
 * `npos` positional arguments from argv[optind].  Errors are reported on
 * stderr naming the option.  Returns -1 when the command goes on,
 * otherwise the exit code it returns at once (0 after --help, CLI_USAGE).
 */
int cli_parse(const struct cli_cmd *cmd, int argc, char **argv,
	      const struct cli_opt *opts, int npos);

/* Report a usage error: "cardctl NAME: <message>" and the synopsis, to
 * stderr.  Returns CLI_USAGE. */
int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Messages to stderr prefixed with "cardctl: ". */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Map a core error to an exit code (0 → 0, NOTFOUND → 3, REFUSED/BADSIG/
 * BEHIND → 4, PARTIAL → 5, anything else → 1). */
int cli_exit_of(int err);

/* ---- the replica ------------------------------------------------------ */

/* Open the data dir of -d / $CARDNODE_DATA with `flags` and set the
 * process time zone to the replica's.  On failure prints why and what to
 * do, and returns the exit code (*r NULL). */
int cli_open(unsigned flags, struct replica **r);
/* Open another replica's data dir (REPLICA_COPY) given on the command
 * line. */
int cli_open_other(const char *dir, struct replica **r);
/* The student `edu_id` into *st: 0, or the exit code after saying why
 * (3 if no entry names the student). */
int cli_find_student(struct replica *r, const char *edu_id,
		     struct student_state *st);
/* The student holding `card` into *st, the card at st->cards[*idx]: 0, or
 * the exit code after saying why (3 if no student holds it). */
/* cli_find_student() of a student that is known here (a student.put or
 * an approval has taken effect): exit 3 otherwise, saying so — also for a
 * record still under identity review. */
int cli_find_known_student(struct replica *r, const char *edu_id,
			   struct student_state *st);
int cli_find_card(struct replica *r, const char *card,
		  struct student_state *st, int *idx);

/* ---- arguments --------------------------------------------------------- */

/* The operator recorded in entries: --actor, else $CARDNODE_ACTOR, else
 * $USER, else "cardctl". */
const char *cli_actor(void);
/* Validate the actor now (length, UTF-8): 0 or a usage error. */
int cli_actor_check(const struct cli_cmd *cmd);

/* "YYYY-MM-DD" into *day; on error prints a usage message naming `opt`
 * and returns CLI_USAGE.  The date must also lie in the range entries can
 * hold, 2000-01-01 … 2199-12-31 (CLI_DATE_MIN … CLI_DATE_MAX). */
#define CLI_DATE_MIN 20000101u
#define CLI_DATE_MAX 21991231u
int cli_parse_date(const struct cli_cmd *cmd, const char *opt,
		   const char *s, uint32_t *day);
/* "YYYY-MM-DD[THH:MM]" in local time into ms since the epoch; the date in
 * the same range as cli_parse_date. */
int cli_parse_at(const struct cli_cmd *cmd, const char *opt, const char *s,
		 uint64_t *ms);
/* An unsigned decimal in [min, max]. */
int cli_parse_uint(const struct cli_cmd *cmd, const char *opt,
		   const char *s, uint64_t min, uint64_t max, uint64_t *v);
/* Exactly `n` bytes as 2n hex digits. */
int cli_parse_key(const struct cli_cmd *cmd, const char *opt,
		  const char *s, uint8_t out[static CN_KEY_LEN]);
/* A chip UID: 4, 7 or 10 bytes in hex (colons allowed between bytes). */
int cli_parse_uid(const struct cli_cmd *cmd, const char *opt,
		  const char *s, uint8_t uid[static CN_UID_MAX],
		  uint8_t *len);
int cli_check_card_no(const struct cli_cmd *cmd, const char *s);
int cli_check_edu_id(const struct cli_cmd *cmd, const char *s);
int cli_check_school(const struct cli_cmd *cmd, const char *opt,
		     const char *s);
/* A UTF-8 text option of at most `max` bytes, non-empty. */
int cli_check_text(const struct cli_cmd *cmd, const char *opt,
		   const char *s, size_t max);

/* A guardian phone or ID number: 3-32 of 0-9 A-Z a-z, '+' first allowed,
 * upper-cased into out, spaces and '-' dropped (formatting must not change
 * its digest).  False if it is not one. */
#define CLI_GUARDIAN_MAX 32
bool cli_guardian_normalize(const char *s,
			    char out[static CLI_GUARDIAN_MAX + 1]);

/* One information field of a student.put, by its name ("name", "school",
 * "grade", "class", "stage", "gender"), from its text: checked and set in
 * *b (with its BF bit).  `student put` and `student import` share it, so
 * they accept exactly the same values: name (1-96 bytes) and class (1-16)
 * UTF-8 without control characters, a school code DDDDDD-NNNN, grade 1-12
 * in decimal, stage primary/junior/senior, gender male/female.  Returns
 * NULL, or a phrase to follow the value in a message ("is not a stage; use
 * primary, junior or senior").  CLI_FIELD_EMPTY is returned for "". */
extern const char CLI_FIELD_EMPTY[];
const char *cli_student_field(const char *field, const char *value,
			      struct entry_body *b);

/* --enrolled YYYY (a student) or --since YYYY (a teacher: the year they
 * took up the post), 1940 to this year, and --subject S (at most
 * CN_SUBJECT_MAX bytes): each given one checked and set in *b with its BF
 * bit.  `student put` and `auth submit` share it.  CLI_OK or the exit code
 * of a usage error (both years given is one). */
int cli_person_fields(const struct cli_cmd *cmd, const char *enrolled,
		      const char *since, const char *subject,
		      struct entry_body *b);

/* Today's local date (YYYYMMDD) by util_now_ms(). */
uint32_t cli_today(void);

/* ---- output ------------------------------------------------------------ */

/* Hex of n bytes into a static buffer (at most 64 bytes in; two calls
 * may be alive at once in one printf: it rotates among 4 buffers). */
const char *cli_hex(const uint8_t *p, size_t n);
/* "YYYY-MM-DD" of YYYYMMDD into a rotating static buffer; "" for 0. */
const char *cli_date(uint32_t day);
/* "YYYY-MM-DD HH:MM:SS" local time of ms since the epoch. */
const char *cli_time(uint64_t ms);
/* "YYYY-MM" of YYYYMM; "" for 0. */
const char *cli_month(uint32_t month);
/* Name tables. */
const char *cli_kind_name(uint8_t kind);
const char *cli_stage_name(uint8_t stage);
const char *cli_gender_name(uint8_t gender);
const char *cli_reissue_name(uint8_t state);
/* "student" (also a student made by student.put) or "teacher". */
const char *cli_person_name(uint8_t person);
/* Identity review: "submitted", "approved", "rejected"; "" for none. */
const char *cli_auth_name(uint8_t auth);

/* A student's or teacher's information fields: as JSON keys (gender,
 * grade, class, stage; null when unset) inside the object being written,
 * and as aligned text lines (gender, grade, class, stage, the year enrolled
 * or in post since, subject; only those set). */
void cli_json_info(const struct student_state *st);
void cli_text_info(const struct student_state *st);

/* A listing over every student state: with --json a JSON array whose
 * elements `cb` writes, else the text `header` line and the lines `cb`
 * prints.  `what` names the list in an error ("the records").  CLI_OK or
 * CLI_FAIL. */
int cli_list_students(struct replica *r, const char *header, const char *what,
		      int (*cb)(void *ctx, const struct student_state *st),
		      void *ctx);

/* A card (and the student holding it) as a JSON object value. */
void cli_json_card(const struct student_state *st, const struct card_state *c);
/* … and as aligned text lines, each indented by `indent` spaces. */
void cli_text_card(const struct student_state *st, const struct card_state *c,
		   int indent);

/* A new entry of `op` on student `key` (NULL: set later) by cli_actor(),
 * its body empty. */
void cli_entry_init(struct entry *e, uint8_t op, const char *key);
/* Author one entry with error reporting: on success prints what was
 * written (text or JSON) and returns 0; otherwise prints why and returns
 * the exit code (4 for refusals and a node behind its own log). */
int cli_author(struct replica *r, struct entry *e);
/* … the same, and `extra(ctx)` adds keys to the JSON object written (it is
 * called inside the object, after the common keys). */
int cli_author_ex(struct replica *r, struct entry *e,
		  void (*extra)(void *ctx), void *ctx);
/* Author `e` on card `card` (its key is the student holding the card):
 * checks the actor, opens the replica, finds the card (exit 3 if no
 * student holds it), authors as cli_author_ex, closes.  For commands whose
 * entry is complete before the replica is read. */
int cli_author_on_card(const struct cli_cmd *cmd, struct entry *e,
		       const char *card, void (*extra)(void *ctx), void *ctx);

/* ---- command groups ("card issue", "cert install" …) --------------------- */

struct cli_sub {
	const char *name;
	int (*fn)(int argc, char **argv); /* argv[0] is the subcommand */
	const char *description;
};
/* Run argv[1] of group `group` (argv[0]) from `subs`: a missing or unknown
 * subcommand is a usage error listing them; "--help" lists them on stdout. */
int cli_dispatch(const char *group, const struct cli_sub *subs, size_t n,
		 int argc, char **argv);

/* Progress on stderr, only when stderr is a terminal (bundle_progress_fn). */
void cli_progress(void *ctx, uint64_t done, uint64_t total);
void cli_progress_end(void);

#endif
