/*
 * cli.c — helpers shared by the cardctl subcommands (see cli.h).
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "authority.h"
#include "cbor_rw.h"
#include "json.h"
#include "policy.h"
#include "util.h"

struct cli_global cli = {
	.data_dir = NULL,
	.json = false,
	.actor = NULL,
	.prog = "cardctl",
};

/* getopt_long's values for a subcommand's own options: this + their index. */
#define OPT_LOCAL 0x200
/* The most options of its own a subcommand may have. */
#define OPTS_MAX 16

/* ---- messages and options ---------------------------------------------- */

void cli_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", cli.prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void print_cmd(FILE *f, const struct cli_cmd *cmd, bool full)
{
	const char *line = cmd->synopsis, *nl;
	int lead = fprintf(f, "Usage: %s ", cli.prog);
	int args = lead + (int)strlen(cmd->name) + 1;

	/* Continuation lines go under the command's arguments; a line that
	 * starts with the program name is an alternative form. */
	for (bool first = true; *line; first = false) {
		size_t n;

		while (!first && *line == ' ')
			line++;
		nl = strchr(line, '\n');
		n = nl ? (size_t)(nl - line) : strlen(line);
		if (!first)
			fprintf(f, "%*s", strncmp(line, "cardctl ", 8) ? args : 7,
				"");
		fprintf(f, "%.*s\n", (int)n, line);
		line += n + (nl ? 1 : 0);
	}
	if (full && cmd->help)
		fprintf(f, "\n%s", cmd->help);
}

static void print_help(const struct cli_cmd *cmd)
{
	print_cmd(stdout, cmd, true);
	fputs("\nCommon options: -d/--data DIR (default $CARDNODE_DATA, else "
	      CLI_DEFAULT_DATA "), --json, --help.\n"
	      "Exit codes: 0 ok, 1 failure, 2 usage, 3 not found, "
	      "4 refused, 5 partial.\n",
	      stdout);
}

int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s %s: ", cli.prog, cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	print_cmd(stderr, cmd, false);
	fprintf(stderr, "Try '%s %s --help' for more.\n", cli.prog, cmd->name);
	return CLI_USAGE;
}

/* getopt_long with cardctl's messages: returns the option value, -1 at the
 * end.  Errors (unknown option, missing value) are reported on stderr
 * naming the option and returned as '?'. */
static int next_opt(const struct cli_cmd *cmd, int argc, char **argv,
		    const struct option *opts)
{
	int c = getopt_long(argc, argv, ":hd:", opts, NULL);
	const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";

	if (c == '?') {
		if (optopt && optopt < 0x100)
			cli_usage_error(cmd, "unknown option '-%c'", optopt);
		else
			cli_usage_error(cmd, "unknown or ambiguous option '%s'",
					arg);
		return '?';
	}
	if (c == ':') {
		if (optopt && optopt < 0x100 && arg[0] == '-' && arg[1] != '-')
			cli_usage_error(cmd, "option '-%c' needs a value",
					optopt);
		else
			cli_usage_error(cmd, "option '%s' needs a value", arg);
		return '?';
	}
	return c;
}

/* An option every subcommand has: -1 when parsing goes on, otherwise the
 * exit code to return at once. */
static int common_opt(const struct cli_cmd *cmd, int c)
{
	switch (c) {
	case 'h':
		print_help(cmd);
		return CLI_OK;
	case CLI_OPT_JSON:
		cli.json = true;
		return -1;
	case 'd':
		if (!*optarg)
			return cli_usage_error(cmd, "-d/--data needs a directory");
		cli.data_dir = optarg;
		return -1;
	case '?':
		return CLI_USAGE; /* next_opt said why */
	default:
		return cli_usage_error(cmd, "option not handled (%d)", c);
	}
}

static int positional(const struct cli_cmd *cmd, int argc, char **argv,
		      int n)
{
	int have = argc - optind;

	if (have < n)
		return cli_usage_error(cmd, "missing argument%s",
				       n - have > 1 ? "s" : "");
	if (have > n)
		return cli_usage_error(cmd, "unexpected argument '%s'",
				       argv[optind + n]);
	return CLI_OK;
}

/* ---- secret options ------------------------------------------------------ */

/* Identity and guardian numbers given on the command line are taken out of
 * argv at once (another user's `ps` shows a process's arguments), and "-"
 * reads them from standard input instead.  The copies live here and are
 * wiped at exit. */
#define SECRET_SLOTS 4
#define SECRET_MAX 72
static char secret_buf[SECRET_SLOTS][SECRET_MAX];
static int secret_used;

static void secret_wipe(void)
{
	sodium_memzero(secret_buf, sizeof secret_buf);
}

static bool secret_option(const char *name)
{
	return !strcmp(name, "id-number") || !strcmp(name, "guardian") ||
	       !strcmp(name, "guardian-id");
}

/* Repoint *value at a private copy (read from stdin for "-") and wipe the
 * argument; CLI_OK or a usage error. */
static int secret_take(const struct cli_cmd *cmd, const char *name,
		       const char **value)
{
	char *arg = (char *)*value; /* argv strings are the program's */
	char *buf;
	size_t n;

	if (arg >= secret_buf[0] && arg < secret_buf[SECRET_SLOTS])
		return CLI_OK; /* two names of one option: taken already */
	if (secret_used == 0)
		atexit(secret_wipe);
	if (secret_used == SECRET_SLOTS)
		return cli_usage_error(cmd, "too many identity numbers");
	buf = secret_buf[secret_used++];
	if (strcmp(arg, "-") != 0) {
		n = strlen(arg);
		if (n >= SECRET_MAX) {
			sodium_memzero(arg, n);
			return cli_usage_error(cmd, "--%s is too long", name);
		}
		memcpy(buf, arg, n + 1);
		sodium_memzero(arg, n);
		*value = buf;
		return CLI_OK;
	}
	if (fgets(buf, SECRET_MAX, stdin) == NULL)
		return cli_usage_error(cmd, "--%s -: no line to read on standard "
					    "input", name);
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (!feof(stdin))
		return cli_usage_error(cmd, "--%s -: the line on standard input "
					    "is too long", name);
	if (n && buf[n - 1] == '\r')
		buf[--n] = '\0';
	*value = buf;
	return CLI_OK;
}

int cli_parse(const struct cli_cmd *cmd, int argc, char **argv,
	      const struct cli_opt *opts, int npos)
{
	struct option lo[OPTS_MAX + 4] = { 0 };
	int c, n = 0, ret;

	for (; opts && opts[n].name; n++) {
		if (n == OPTS_MAX) {
			cli_err("%s: more than %d options", cmd->name,
				OPTS_MAX);
			return CLI_FAIL;
		}
		lo[n] = (struct option){ opts[n].name,
					 opts[n].value ? required_argument
						       : no_argument,
					 NULL, OPT_LOCAL + n };
	}
	lo[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[n++] = (struct option){ "json", no_argument, NULL, CLI_OPT_JSON };
	lo[n] = (struct option){ "data", required_argument, NULL, 'd' };

	optind = 0; /* glibc: full re-initialisation */
	opterr = 0;
	while ((c = next_opt(cmd, argc, argv, lo)) != -1) {
		if (c < OPT_LOCAL) {
			if ((ret = common_opt(cmd, c)) >= 0)
				return ret;
		} else if (opts[c - OPT_LOCAL].value) {
			*opts[c - OPT_LOCAL].value = optarg;
		} else {
			*opts[c - OPT_LOCAL].flag = true;
		}
	}
	for (int i = 0; opts && opts[i].name; i++)
		if (opts[i].value && *opts[i].value &&
		    secret_option(opts[i].name) &&
		    (ret = secret_take(cmd, opts[i].name, opts[i].value)))
			return ret;
	ret = positional(cmd, argc, argv, npos);
	return ret ? ret : -1;
}

int cli_exit_of(int err)
{
	switch (err) {
	case CN_OK:
		return CLI_OK;
	case CN_ERR_NOTFOUND:
		return CLI_NOTFOUND;
	case CN_ERR_REFUSED:
	case CN_ERR_BADSIG:
	case CN_ERR_BEHIND:
		return CLI_REFUSED;
	case CN_ERR_PARTIAL:
		return CLI_PARTIAL;
	default:
		return CLI_FAIL;
	}
}

/* ---- the replica ------------------------------------------------------- */

static int open_dir(const char *dir, unsigned flags, struct replica **r,
		    bool own)
{
	char err[512] = "";
	struct replica_info info;
	int rc;

	*r = NULL;
	rc = replica_open(dir, flags, r, err, sizeof err);
	if (rc) {
		cli_err("cannot open the data directory '%s': %s", dir,
			err[0] ? err : cn_strerror(rc));
		if (own && rc == CN_ERR_NOTFOUND && !strstr(err, "init"))
			fprintf(stderr,
				"  Give the node's data directory with -d DIR "
				"or $CARDNODE_DATA,\n"
				"  or create one with '%s -d DIR init …'.\n",
				cli.prog);
		*r = NULL;
		/* A data dir that is not there is a failure of the command,
		 * not a "not found" answer to a query. */
		return rc == CN_ERR_REFUSED || rc == CN_ERR_BADSIG ? CLI_REFUSED
								     : CLI_FAIL;
	}
	if (own) {
		replica_info(*r, &info);
		rc = policy_tz_set(info.timezone[0] ? info.timezone
						    : "Asia/Shanghai");
		if (rc) {
			cli_err("the data directory '%s' names the time zone "
				"'%s', which this system does not know "
				"(install tzdata)",
				dir, info.timezone);
			replica_close(*r);
			*r = NULL;
			return CLI_FAIL;
		}
	}
	return CLI_OK;
}

int cli_open(unsigned flags, struct replica **r)
{
	return open_dir(cli.data_dir, flags, r, true);
}

int cli_open_other(const char *dir, struct replica **r)
{
	return open_dir(dir, REPLICA_COPY, r, false);
}

int cli_find_student(struct replica *r, const char *edu_id,
		     struct student_state *st)
{
	int rc = replica_student(r, edu_id, st);

	if (rc == CN_ERR_NOTFOUND) {
		cli_err("no student '%s' is known here", edu_id);
		return CLI_NOTFOUND;
	}
	if (rc) {
		cli_err("cannot read student '%s': %s", edu_id,
			cn_strerror(rc));
		return cli_exit_of(rc);
	}
	return CLI_OK;
}

int cli_find_known_student(struct replica *r, const char *edu_id,
			   struct student_state *st)
{
	int ret = cli_find_student(r, edu_id, st);

	if (ret == CLI_OK && !st->known) {
		if (st->auth != AUTH_NONE)
			cli_err("'%s' is a record %s identity review, not a "
				"known student ('cardctl auth show %s')", edu_id,
				st->auth == AUTH_REJECTED ? "rejected at"
							  : "awaiting",
				edu_id);
		else
			cli_err("no student '%s' is known here", edu_id);
		ret = CLI_NOTFOUND;
	}
	return ret;
}

int cli_find_card(struct replica *r, const char *card,
		  struct student_state *st, int *idx)
{
	int rc = replica_card(r, card, st, idx);

	if (rc == CN_ERR_NOTFOUND) {
		cli_err("unknown card '%s': no student here holds it", card);
		return CLI_NOTFOUND;
	}
	if (rc) {
		cli_err("cannot look up card '%s': %s", card, cn_strerror(rc));
		return cli_exit_of(rc);
	}
	if (*idx < 0 || *idx >= st->ncards || *idx >= CN_CARDS_MAX) {
		cli_err("card '%s': the store returned a bad card index", card);
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* ---- arguments --------------------------------------------------------- */

const char *cli_actor(void)
{
	const char *a = cli.actor;

	if (!a || !*a)
		a = getenv("CARDNODE_ACTOR");
	if (!a || !*a)
		a = getenv("USER");
	if (!a || !*a)
		a = "cardctl";
	return a;
}

static bool has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return true;
	return false;
}

int cli_actor_check(const struct cli_cmd *cmd)
{
	const char *a = cli_actor();

	if (strlen(a) > CN_ACTOR_MAX)
		return cli_usage_error(cmd,
				       "actor '%s' is longer than %d bytes; "
				       "give a shorter --actor",
				       a, CN_ACTOR_MAX);
	if (has_control(a))
		return cli_usage_error(cmd, "actor contains control "
					    "characters; give --actor");
	return CLI_OK;
}

/* A guardian phone or ID number: 3-32 of 0-9 A-Z a-z, '+' first allowed;
 * spaces and '-' are dropped so that formatting does not change the
 * digest. */
bool cli_guardian_normalize(const char *s,
			    char out[static CLI_GUARDIAN_MAX + 1])
{
	size_t n = 0;

	for (size_t i = 0; s[i]; i++) {
		char ch = (char)toupper((unsigned char)s[i]);

		if (ch == ' ' || ch == '-')
			continue;
		if (!((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') ||
		      (ch == '+' && n == 0)))
			return false;
		if (n == CLI_GUARDIAN_MAX)
			return false;
		out[n++] = ch;
	}
	out[n] = '\0';
	return n >= 3;
}

/* Does s look like YYYY-MM-DD (digits and dashes, whatever the values)?
 * The year into *year. */
static bool date_shaped(const char *s, unsigned *year)
{
	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	*year = (unsigned)((s[0] - '0') * 1000 + (s[1] - '0') * 100 +
			   (s[2] - '0') * 10 + (s[3] - '0'));
	return true;
}

/* "YYYY-MM-DD" into *day: 0, -1 not a date, -2 a date out of range. */
static int parse_day(const char *s, uint32_t *day)
{
	unsigned year;

	if (!date_shaped(s, &year))
		return -1;
	if (year < CLI_DATE_MIN / 10000 || year > CLI_DATE_MAX / 10000)
		return -2;
	if (policy_date_parse(s, day) != 0 || !policy_date_valid(*day))
		return -1;
	if (*day < CLI_DATE_MIN || *day > CLI_DATE_MAX ||
	    !entry_date_valid(*day))
		return -2;
	return 0;
}

static int date_range_error(const struct cli_cmd *cmd, const char *opt,
			    const char *s)
{
	return cli_usage_error(cmd,
			       "%s '%s' is out of range: dates must lie in "
			       "2000-01-01 … 2199-12-31",
			       opt, s);
}

int cli_parse_date(const struct cli_cmd *cmd, const char *opt,
		   const char *s, uint32_t *day)
{
	switch (parse_day(s, day)) {
	case 0:
		return CLI_OK;
	case -2:
		return date_range_error(cmd, opt, s);
	default:
		return cli_usage_error(cmd,
				       "%s '%s' is not a date; write YYYY-MM-DD",
				       opt, s);
	}
}

int cli_parse_at(const struct cli_cmd *cmd, const char *opt, const char *s,
		 uint64_t *ms)
{
	char date[11];
	uint32_t day;
	int hh = 0, mm = 0;
	size_t n = strlen(s);

	if (n != 10 && n != 16)
		goto bad;
	memcpy(date, s, 10);
	date[10] = '\0';
	switch (parse_day(date, &day)) {
	case 0:
		break;
	case -2:
		return date_range_error(cmd, opt, s);
	default:
		goto bad;
	}
	if (n == 16) {
		const char *t = s + 10;

		if ((t[0] != 'T' && t[0] != ' ') || t[3] != ':')
			goto bad;
		for (int i = 1; i < 6; i++)
			if (i != 3 && (t[i] < '0' || t[i] > '9'))
				goto bad;
		hh = (t[1] - '0') * 10 + (t[2] - '0');
		mm = (t[4] - '0') * 10 + (t[5] - '0');
		if (hh > 23 || mm > 59)
			goto bad;
	}
	*ms = policy_local_ms(day, hh, mm);
	return CLI_OK;
bad:
	return cli_usage_error(cmd,
			       "%s '%s' is not a time; write YYYY-MM-DD or "
			       "YYYY-MM-DDTHH:MM (local time)",
			       opt, s);
}

int cli_parse_uint(const struct cli_cmd *cmd, const char *opt,
		   const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
	char *end;
	unsigned long long x;

	if (!*s || *s < '0' || *s > '9')
		goto bad;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || *end || x < min || x > max)
		goto bad;
	*v = x;
	return CLI_OK;
bad:
	return cli_usage_error(cmd,
			       "%s '%s' is not a number from %" PRIu64
			       " to %" PRIu64,
			       opt, s, min, max);
}

int cli_parse_key(const struct cli_cmd *cmd, const char *opt,
		  const char *s, uint8_t out[static CN_KEY_LEN])
{
	if (strlen(s) != 2 * CN_KEY_LEN ||
	    util_hex_decode(s, out, CN_KEY_LEN) != 0)
		return cli_usage_error(cmd,
				       "%s '%s' is not a key; give the 64 hex "
				       "digits that 'cardctl id' or 'root init' "
				       "printed",
				       opt, s);
	return CLI_OK;
}

int cli_parse_uid(const struct cli_cmd *cmd, const char *opt,
		  const char *s, uint8_t uid[static CN_UID_MAX],
		  uint8_t *len)
{
	char hex[2 * CN_UID_MAX + 1];
	size_t n = 0;

	for (const char *p = s; *p; p++) {
		if (*p == ':' || *p == '-' || *p == ' ')
			continue;
		if (n == sizeof hex - 1)
			goto bad;
		hex[n++] = *p;
	}
	hex[n] = '\0';
	if (n % 2 || !entry_uid_len_valid(n / 2) ||
	    util_hex_decode(hex, uid, n / 2) != 0)
		goto bad;
	*len = (uint8_t)(n / 2);
	return CLI_OK;
bad:
	return cli_usage_error(cmd,
			       "%s '%s' is not a chip UID; give 4, 7 or 10 "
			       "bytes in hex (e.g. 04A1B2C3)",
			       opt, s);
}

int cli_check_card_no(const struct cli_cmd *cmd, const char *s)
{
	if (!entry_card_no_valid(s))
		return cli_usage_error(cmd,
				       "card number '%s' is not valid: 1-%d "
				       "characters of 0-9 and A-Z",
				       s, CN_CARD_NO_MAX);
	return CLI_OK;
}

int cli_check_edu_id(const struct cli_cmd *cmd, const char *s)
{
	if (!entry_edu_id_valid(s))
		return cli_usage_error(cmd,
				       "education ID '%s' is not valid: 1-%d "
				       "characters of 0-9, A-Z, a-z and '-'",
				       s, CN_EDU_ID_MAX);
	return CLI_OK;
}

int cli_check_school(const struct cli_cmd *cmd, const char *opt,
		     const char *s)
{
	if (!entry_school_valid(s))
		return cli_usage_error(cmd,
				       "%s '%s' is not a school code; write "
				       "DDDDDD-NNNN (district code, school "
				       "number), e.g. 110105-0001",
				       opt, s);
	return CLI_OK;
}

int cli_check_text(const struct cli_cmd *cmd, const char *opt,
		   const char *s, size_t max)
{
	if (!*s)
		return cli_usage_error(cmd, "%s must not be empty", opt);
	if (strlen(s) > max)
		return cli_usage_error(cmd, "%s '%s' is longer than %zu bytes",
				       opt, s, max);
	if (has_control(s) || !cbor_utf8_valid(s, strlen(s)))
		return cli_usage_error(cmd,
				       "%s '%s' is not UTF-8 text without "
				       "control characters",
				       opt, s);
	return CLI_OK;
}

const char CLI_FIELD_EMPTY[] = "must not be empty";

static const char *text_field(const char *s, size_t max)
{
	if (!*s)
		return CLI_FIELD_EMPTY;
	if (strlen(s) > max)
		return max == CN_NAME_MAX ? "is longer than 96 bytes"
					  : "is longer than 16 bytes";
	if (has_control(s) || !cbor_utf8_valid(s, strlen(s)))
		return "is not UTF-8 text without control characters";
	return NULL;
}

const char *cli_student_field(const char *field, const char *value,
			      struct entry_body *b)
{
	const char *why;

	if (!strcmp(field, "name")) {
		if ((why = text_field(value, CN_NAME_MAX)))
			return why;
		snprintf(b->name, sizeof b->name, "%s", value);
		b->has |= BF(BK_NAME);
	} else if (!strcmp(field, "class")) {
		if ((why = text_field(value, CN_CLASS_MAX)))
			return why;
		snprintf(b->class_, sizeof b->class_, "%s", value);
		b->has |= BF(BK_CLASS);
	} else if (!strcmp(field, "school")) {
		if (!*value)
			return CLI_FIELD_EMPTY;
		if (!entry_school_valid(value))
			return "is not a school code; write DDDDDD-NNNN "
			       "(district code, school number), e.g. "
			       "110105-0001";
		snprintf(b->school, sizeof b->school, "%s", value);
		b->has |= BF(BK_SCHOOL);
	} else if (!strcmp(field, "grade")) {
		unsigned g = 0;

		if (!*value)
			return CLI_FIELD_EMPTY;
		for (const char *c = value; *c; c++) {
			if (*c < '0' || *c > '9' || g > 12)
				return "is not a number from 1 to 12";
			g = g * 10 + (unsigned)(*c - '0');
		}
		if (g < 1 || g > 12)
			return "is not a number from 1 to 12";
		b->grade = (uint8_t)g;
		b->has |= BF(BK_GRADE);
	} else if (!strcmp(field, "stage")) {
		if (!*value)
			return CLI_FIELD_EMPTY;
		if (!strcmp(value, "primary"))
			b->stage = STAGE_PRIMARY;
		else if (!strcmp(value, "junior"))
			b->stage = STAGE_JUNIOR;
		else if (!strcmp(value, "senior"))
			b->stage = STAGE_SENIOR;
		else
			return "is not a stage; use primary, junior or senior";
		b->has |= BF(BK_STAGE);
	} else if (!strcmp(field, "gender")) {
		if (!*value)
			return CLI_FIELD_EMPTY;
		if (!strcmp(value, "male"))
			b->gender = GENDER_MALE;
		else if (!strcmp(value, "female"))
			b->gender = GENDER_FEMALE;
		else
			return "is not male or female";
		b->has |= BF(BK_GENDER);
	} else {
		return "is not a student field";
	}
	return NULL;
}

uint32_t cli_today(void)
{
	return policy_local_date(util_now_ms(), NULL);
}

/* ---- output ------------------------------------------------------------ */

static char *rot_buf(void)
{
	static char bufs[4][2 * 64 + 1];
	static unsigned i;

	return bufs[i++ % 4];
}

const char *cli_hex(const uint8_t *p, size_t n)
{
	char *b = rot_buf();

	if (n > 64)
		n = 64;
	util_hex_encode(p, n, b);
	return b;
}

const char *cli_date(uint32_t day)
{
	char *b = rot_buf();

	if (!day) {
		b[0] = '\0';
		return b;
	}
	policy_date_format(day, b);
	return b;
}

const char *cli_time(uint64_t ms)
{
	char *b = rot_buf();
	char date[11];
	int minute = 0;
	uint32_t day = policy_local_date(ms, &minute);

	policy_date_format(day, date);
	/* Local offsets are whole minutes: seconds come from UTC. */
	snprintf(b, 2 * 64 + 1, "%s %02d:%02d:%02d", date, minute / 60,
		 minute % 60, (int)((ms / 1000) % 60));
	return b;
}

const char *cli_month(uint32_t month)
{
	char *b = rot_buf();

	if (!month)
		b[0] = '\0';
	else
		snprintf(b, 2 * 64 + 1, "%04u-%02u", month / 100, month % 100);
	return b;
}

const char *cli_kind_name(uint8_t kind)
{
	return kind == KIND_TEMPORARY ? "temporary" : "regular";
}

const char *cli_stage_name(uint8_t stage)
{
	switch (stage) {
	case STAGE_PRIMARY: return "primary";
	case STAGE_JUNIOR: return "junior";
	case STAGE_SENIOR: return "senior";
	default: return "";
	}
}

const char *cli_gender_name(uint8_t gender)
{
	switch (gender) {
	case GENDER_MALE: return "male";
	case GENDER_FEMALE: return "female";
	default: return "";
	}
}

const char *cli_person_name(uint8_t person)
{
	return person == PERSON_TEACHER ? "teacher" : "student";
}

const char *cli_auth_name(uint8_t auth)
{
	switch (auth) {
	case AUTH_SUBMITTED: return "submitted";
	case AUTH_APPROVED: return "approved";
	case AUTH_REJECTED: return "rejected";
	default: return "";
	}
}

const char *cli_reissue_name(uint8_t state)
{
	static const char *const names[] = {
		[REISSUE_NONE] = "",
		[REISSUE_REQUESTED] = "requested",
		[REISSUE_PAID] = "paid",
		[REISSUE_IN_PRODUCTION] = "in_production",
		[REISSUE_SHIPPED] = "shipped",
		[REISSUE_AT_SCHOOL] = "at_school",
		[REISSUE_COLLECTED] = "collected",
		[REISSUE_REFUNDED] = "refunded",
	};

	if (state >= sizeof names / sizeof names[0])
		return "invalid";
	return names[state];
}

static uint32_t issued_date(const struct card_state *c)
{
	return c->issued_hlc ? policy_local_date(c->issued_hlc >> 16, NULL) : 0;
}

int cli_person_fields(const struct cli_cmd *cmd, const char *enrolled,
		      const char *since, const char *subject,
		      struct entry_body *b)
{
	uint64_t year;
	int ret;

	if (enrolled && since)
		return cli_usage_error(cmd, "give --enrolled (a student) or "
					    "--since (a teacher), not both");
	if (enrolled || since) {
		if ((ret = cli_parse_uint(cmd, enrolled ? "--enrolled" : "--since",
					  enrolled ? enrolled : since, 1940,
					  cli_today() / 10000, &year)))
			return ret;
		b->since = (uint32_t)year;
		b->has |= BF(BK_SINCE);
	}
	if (subject) {
		if ((ret = cli_check_text(cmd, "--subject", subject,
					  CN_SUBJECT_MAX)))
			return ret;
		snprintf(b->subject, sizeof b->subject, "%s", subject);
		b->has |= BF(BK_SUBJECT);
	}
	return CLI_OK;
}

int cli_list_students(struct replica *r, const char *header, const char *what,
		      int (*cb)(void *ctx, const struct student_state *st),
		      void *ctx)
{
	int rc;

	if (cli.json)
		json_array_begin();
	else
		fputs(header, stdout);
	rc = replica_students_walk(r, cb, ctx);
	if (cli.json && json_end())
		rc = rc ? rc : CN_ERR_IO;
	if (rc) {
		cli_err("cannot list %s: %s", what, cn_strerror(rc));
		return CLI_FAIL;
	}
	return CLI_OK;
}

void cli_json_info(const struct student_state *st)
{
	json_kv_str_or_null("gender", cli_gender_name(st->gender));
	json_key("grade");
	if (st->grade)
		json_uint(st->grade);
	else
		json_null();
	json_kv_str_or_null("class", st->class_);
	json_kv_str_or_null("stage", cli_stage_name(st->stage));
}

void cli_text_info(const struct student_state *st)
{
	if (st->gender)
		printf("%-16s%s\n", "gender", cli_gender_name(st->gender));
	if (st->grade)
		printf("%-16s%u\n", "grade", st->grade);
	if (st->class_[0])
		printf("%-16s%s\n", "class", st->class_);
	if (st->stage)
		printf("%-16s%s\n", "stage", cli_stage_name(st->stage));
	if (st->since)
		printf("%-16s%u\n",
		       st->person == PERSON_TEACHER ? "in post since" : "enrolled",
		       st->since);
	if (st->subject[0])
		printf("%-16s%s\n", "subject", st->subject);
}

void cli_json_card(const struct student_state *st, const struct card_state *c)
{
	json_object_begin();
	json_kv_str("card", c->card);
	json_kv_str("student", st->edu_id);
	json_kv_hex("uid", c->uid, c->uid_len);
	json_kv_str("status", fold_card_status(c));
	json_kv_bool("lost", c->lost);
	json_kv_bool("frozen", c->frozen);
	json_kv_str("kind", cli_kind_name(c->kind));
	json_kv_str_or_null("valid_through", cli_month(c->valid_through));
	json_key("registered_term");
	if (c->registered_term)
		json_uint(c->registered_term);
	else
		json_null();
	json_kv_str_or_null("expires", cli_date(c->expires));
	json_kv_str_or_null("issued", cli_date(issued_date(c)));
	json_kv_str_or_null("replaces", c->replaces);
	json_kv_str_or_null("replaced_by", c->replaced_by);
	json_kv_str_or_null("school", st->school);
	json_kv_str_or_null("reissue", cli_reissue_name(c->reissue_state));
	json_object_end();
}

void cli_text_card(const struct student_state *st, const struct card_state *c,
		   int indent)
{
#define LINE(label, fmt, ...) \
	printf("%*s%-16s" fmt "\n", indent, "", label, __VA_ARGS__)
	LINE("card", "%s", c->card);
	LINE("student", "%s", st->edu_id);
	LINE("school", "%s", st->school[0] ? st->school : "-");
	LINE("uid", "%s", cli_hex(c->uid, c->uid_len));
	LINE("status", "%s", fold_card_status(c));
	LINE("lost", "%s", c->lost ? "yes" : "no");
	LINE("frozen", "%s", c->frozen ? "yes" : "no");
	LINE("kind", "%s", cli_kind_name(c->kind));
	LINE("valid through", "%s",
	     c->valid_through ? cli_month(c->valid_through) : "-");
	if (c->registered_term)
		LINE("registered term", "%" PRIu32, c->registered_term);
	else
		LINE("registered term", "%s", "-");
	LINE("expires", "%s", c->expires ? cli_date(c->expires) : "-");
	LINE("issued", "%s", c->issued_hlc ? cli_date(issued_date(c)) : "-");
	if (c->replaces[0])
		LINE("replaces", "%s", c->replaces);
	if (c->replaced_by[0])
		LINE("replaced by", "%s", c->replaced_by);
	if (c->reissue_state)
		LINE("reissue", "%s", cli_reissue_name(c->reissue_state));
#undef LINE
}

void cli_entry_init(struct entry *e, uint8_t op, const char *key)
{
	memset(e, 0, sizeof *e);
	e->op = op;
	if (key)
		snprintf(e->key, sizeof e->key, "%s", key);
	snprintf(e->actor, sizeof e->actor, "%s", cli_actor());
}

int cli_author(struct replica *r, struct entry *e)
{
	return cli_author_ex(r, e, NULL, NULL);
}

int cli_author_ex(struct replica *r, struct entry *e,
		  void (*extra)(void *ctx), void *ctx)
{
	size_t bad = 0;
	enum fold_reason why = FR_APPLIED;
	const char *opname = entry_op_name(e->op);
	int rc;

	if (!opname)
		opname = "?";
	rc = replica_author(r, e, 1, &bad, &why);
	switch (rc) {
	case CN_OK:
		break;
	case CN_ERR_REFUSED:
		cli_err("refused: %s %s%s%s: %s (%s)", opname, e->key,
			e->body.card[0] ? " card " : "", e->body.card,
			fold_reason_text(why), fold_reason_name(why));
		return CLI_REFUSED;
	case CN_ERR_BEHIND:
		cli_err("refused: this node's own log is behind a copy of it "
			"seen elsewhere (was the data directory restored from "
			"an old backup?).  Writing now would fork the log, so "
			"this node must not author entries; re-key it with a "
			"new 'cardctl init' and certificate.");
		return CLI_REFUSED;
	case CN_ERR_MALFORMED:
	case CN_ERR_TOOBIG:
	case CN_ERR_INVAL:
		cli_err("cannot write %s %s: %s", opname, e->key,
			cn_strerror(rc));
		return CLI_USAGE;
	default:
		cli_err("cannot write %s %s: %s (%s)", opname, e->key,
			cn_strerror(rc), replica_last_error(r));
		return cli_exit_of(rc);
	}

	if (cli.json) {
		json_object_begin();
		json_kv_str("op", opname);
		json_kv_str("key", e->key);
		json_kv_str_or_null("card", e->body.card);
		json_kv_hex("origin", e->origin, CN_KEY_LEN);
		json_kv_uint("seq", e->seq);
		json_kv_uint("hlc", e->hlc);
		json_kv_str("actor", e->actor);
		if (extra)
			extra(ctx);
		json_object_end();
		return json_end() ? CLI_FAIL : CLI_OK;
	}
	printf("%s %s%s%s: written as %s #%" PRIu64 "\n", opname, e->key,
	       e->body.card[0] ? ", card " : "", e->body.card,
	       cli_hex(e->origin, 4), e->seq);
	return CLI_OK;
}

int cli_author_on_card(const struct cli_cmd *cmd, struct entry *e,
		       const char *card, void (*extra)(void *ctx), void *ctx)
{
	struct replica *r = NULL;
	struct student_state st;
	int idx, ret;

	if ((ret = cli_actor_check(cmd)))
		return ret;
	if ((ret = cli_open(0, &r)))
		return ret;
	if ((ret = cli_find_card(r, card, &st, &idx)) == CLI_OK) {
		snprintf(e->key, sizeof e->key, "%s", st.edu_id);
		ret = cli_author_ex(r, e, extra, ctx);
	}
	replica_close(r);
	return ret;
}

/* ---- progress ---------------------------------------------------------- */

static bool progress_shown;

void cli_progress(void *ctx, uint64_t done, uint64_t total)
{
	(void)ctx;
	if (!isatty(STDERR_FILENO))
		return;
	if (total)
		fprintf(stderr, "\r  %" PRIu64 " / %" PRIu64 " entries", done,
			total);
	else
		fprintf(stderr, "\r  %" PRIu64 " entries", done);
	progress_shown = true;
}

void cli_progress_end(void)
{
	if (progress_shown) {
		fputc('\n', stderr);
		progress_shown = false;
	}
}

/* ---- command groups ---------------------------------------------------- */

static void list_subs(FILE *f, const char *group, const struct cli_sub *subs,
		      size_t n)
{
	fprintf(f, "Usage: %s [-d DIR] [--json] %s <subcommand> [options]\n\n"
		   "Subcommands:\n",
		cli.prog, group);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  %-12s %s\n", subs[i].name, subs[i].description);
	fprintf(f, "\n'%s %s <subcommand> --help' shows its options.\n",
		cli.prog, group);
}

int cli_dispatch(const char *group, const struct cli_sub *subs, size_t n,
		 int argc, char **argv)
{
	if (argc < 2) {
		cli_err("'%s' needs a subcommand", group);
		list_subs(stderr, group, subs, n);
		return CLI_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		list_subs(stdout, group, subs, n);
		return CLI_OK;
	}
	for (size_t i = 0; i < n; i++)
		if (!strcmp(argv[1], subs[i].name))
			return subs[i].fn(argc - 1, argv + 1);
	cli_err("'%s %s' is not a command", group, argv[1]);
	list_subs(stderr, group, subs, n);
	return CLI_USAGE;
}
