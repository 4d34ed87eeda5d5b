/*
 * policy.c — the reader decision and the date rules of the seed systems
 * (DESIGN §6).  See policy.h for the contract.
 *
 * Calendar range: every date function is defined on 1900-01-01 ..
 * 2199-12-31 (the range policy_date_parse accepts); outside it
 * policy_date_valid is false and the conversions return 0.
 *
 * The only global state is the process time zone (TZ), set by
 * policy_tz_set; like setenv/tzset it is not thread-safe and is meant to be
 * called once at start-up.
 */
#include "cn.h"
#include "policy.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define YEAR_MIN 1900
#define YEAR_MAX 2199
#define TZ_NAME_MAX 64
#define ZONEINFO_DIR "/usr/share/zoneinfo/"

/* ---- names ------------------------------------------------------------ */

static const char *const decision_names[DEC__COUNT] = {
	[DEC_ACCEPT] = "accept",
	[DEC_UNKNOWN] = "unknown",
	[DEC_CANCELLED] = "cancelled",
	[DEC_REPLACED] = "replaced",
	[DEC_LOST] = "lost",
	[DEC_FROZEN] = "frozen",
	[DEC_EXPIRED] = "expired",
	[DEC_NOT_VALIDATED] = "not_validated",
	[DEC_UNREGISTERED] = "unregistered",
	[DEC_AMBIGUOUS] = "ambiguous",
	[DEC_FORGED] = "forged",
};

static const char *const profile_names[] = {
	[PROFILE_GENERIC] = "generic",
	[PROFILE_SUZHOU] = "suzhou",
	[PROFILE_BEIJING] = "beijing",
};

#define PROFILE_COUNT (sizeof profile_names / sizeof profile_names[0])

const char *policy_decision_name(enum decision d)
{
	if ((unsigned)d >= DEC__COUNT)
		return "invalid";
	return decision_names[d];
}

const char *policy_profile_name(enum profile p)
{
	if ((unsigned)p >= PROFILE_COUNT)
		return "invalid";
	return profile_names[p];
}

int policy_profile_parse(const char *name, enum profile *p)
{
	if (!name || !p)
		return CN_ERR_INVAL;
	for (unsigned i = 0; i < PROFILE_COUNT; i++) {
		if (strcmp(name, profile_names[i]) == 0) {
			*p = (enum profile)i;
			return CN_OK;
		}
	}
	return CN_ERR_INVAL;
}

/* ---- calendar --------------------------------------------------------- */

static bool is_leap(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int policy_days_in_month(int year, int month)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30,
				      31, 31, 30, 31, 30, 31 };

	if (month < 1 || month > 12)
		return 0;
	if (month == 2 && is_leap(year))
		return 29;
	return days[month - 1];
}

bool policy_date_valid(uint32_t yyyymmdd)
{
	int y = (int)(yyyymmdd / 10000);
	int m = (int)(yyyymmdd / 100 % 100);
	int d = (int)(yyyymmdd % 100);

	if (y < YEAR_MIN || y > YEAR_MAX)
		return false;
	return d >= 1 && d <= policy_days_in_month(y, m);
}

/* A month YYYYMM in the calendar range. */
static bool month_valid(uint32_t yyyymm)
{
	uint32_t y = yyyymm / 100, m = yyyymm % 100;

	return y >= YEAR_MIN && y <= YEAR_MAX && m >= 1 && m <= 12;
}

/* n decimal digits at s, into *out; false if any is not a digit.  Stops at
 * the first non-digit, so it never reads past a terminating NUL. */
static bool digits(const char *s, int n, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

int policy_date_parse(const char *s, uint32_t *yyyymmdd)
{
	uint32_t y, m, d;

	if (!s || !yyyymmdd)
		return CN_ERR_INVAL;
	if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) ||
	    s[7] != '-' || !digits(s + 8, 2, &d) || s[10] != '\0')
		return CN_ERR_INVAL;
	if (!policy_date_valid(y * 10000 + m * 100 + d))
		return CN_ERR_INVAL;
	*yyyymmdd = y * 10000 + m * 100 + d;
	return CN_OK;
}

int policy_month_parse(const char *s, uint32_t *yyyymm)
{
	uint32_t y, m;

	if (!s || !yyyymm)
		return CN_ERR_INVAL;
	if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) ||
	    s[7] != '\0')
		return CN_ERR_INVAL;
	if (!month_valid(y * 100 + m))
		return CN_ERR_INVAL;
	*yyyymm = y * 100 + m;
	return CN_OK;
}

static void put_digits(char *out, uint32_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		out[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

/* Formats the fields as they are (year modulo 10000); callers pass valid
 * dates. */
void policy_date_format(uint32_t yyyymmdd, char out[static 11])
{
	put_digits(out, yyyymmdd / 10000 % 10000, 4);
	out[4] = '-';
	put_digits(out + 5, yyyymmdd / 100 % 100, 2);
	out[7] = '-';
	put_digits(out + 8, yyyymmdd % 100, 2);
	out[10] = '\0';
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil); year >= 0 here, so no negative division. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = y / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

/* Invalid dates give 0. */
int64_t policy_date_to_days(uint32_t yyyymmdd)
{
	if (!policy_date_valid(yyyymmdd))
		return 0;
	return days_from_civil(yyyymmdd / 10000, yyyymmdd / 100 % 100,
			       yyyymmdd % 100);
}

/* Days outside 1900-01-01 .. 2199-12-31 give 0. */
uint32_t policy_days_to_date(int64_t days)
{
	if (days < days_from_civil(YEAR_MIN, 1, 1) ||
	    days > days_from_civil(YEAR_MAX, 12, 31))
		return 0;
	/* Here z >= 0, so era = z / 146097 without the negative case. */
	int64_t z = days + 719468;
	int64_t era = z / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	int64_t y = (int64_t)yoe + era * 400 + (m <= 2);

	return (uint32_t)y * 10000 + m * 100 + d;
}

/* ---- Suzhou monthly validation ---------------------------------------- */

uint32_t policy_validate_through(uint32_t day)
{
	if (!policy_date_valid(day))
		return 0;
	uint32_t y = day / 10000, m = day / 100 % 100;

	if (day % 100 <= 20)
		return y * 100 + m;
	if (m == 12)
		return (y + 1) * 100 + 1;
	return y * 100 + m + 1;
}

/* ---- Beijing semester registration ------------------------------------ */

uint32_t policy_term_of(uint32_t day)
{
	if (!policy_date_valid(day))
		return 0;
	uint32_t y = day / 10000, m = day / 100 % 100;

	if (m == 1)
		return (y - 1) * 10 + 2;
	return y * 10 + (m >= 9 ? 2 : 1);
}

/* Shape of a term id over the calendar range (term_of(1900-01-01) is
 * 18992); policy_term_valid is the narrower check for stored data. */
static bool term_shape_ok(uint32_t term)
{
	uint32_t y = term / 10, t = term % 10;

	return y >= YEAR_MIN - 1 && y <= YEAR_MAX && (t == 1 || t == 2);
}

uint32_t policy_term_prev(uint32_t term)
{
	if (!term_shape_ok(term))
		return 0;
	if (term % 10 == 2)
		return term - 1;
	return (term / 10 - 1) * 10 + 2;
}

bool policy_term_grace(uint32_t day)
{
	if (!policy_date_valid(day))
		return false;
	uint32_t m = day / 100 % 100, d = day % 100;

	return m == 2 || (m == 3 && d <= 20) || (m == 9 && d <= 20);
}

bool policy_term_valid(uint32_t term)
{
	uint32_t y = term / 10, t = term % 10;

	return y >= 2000 && y <= 2199 && (t == 1 || t == 2);
}

/* ---- the decision ----------------------------------------------------- */

static uint32_t max_u32(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

/* Project rule (not in the seed): the issue date counts as a validation on
 * that date, so a new card works until the end of its issue month (or of the
 * next month when issued from the 21st) without a trip to a validation
 * machine.  A malformed valid_through counts as never validated, and an
 * invalid `today` fails (fail closed). */
static bool suzhou_ok(const struct policy_card *c, uint32_t today)
{
	uint32_t through = month_valid(c->valid_through) ? c->valid_through : 0;

	if (!policy_date_valid(today))
		return false;
	if (c->issued != 0)
		through = max_u32(through, policy_validate_through(c->issued));
	return through != 0 && through >= today / 100;
}

/* DESIGN §6: a card issued during a term counts as registered for it; a card
 * registered for the previous term passes until March 20 / September 20
 * inclusive.  Malformed registered_term counts as unregistered. */
static bool beijing_ok(const struct policy_card *c, uint32_t today)
{
	uint32_t term = term_shape_ok(c->registered_term) ? c->registered_term : 0;
	uint32_t current = policy_term_of(today);

	if (current == 0)
		return false;
	if (c->issued != 0)
		term = max_u32(term, policy_term_of(c->issued));
	if (term == 0)
		return false;
	if (term >= current)
		return true;
	return policy_term_grace(today) && term >= policy_term_prev(current);
}

enum decision policy_decide(enum profile p, const struct policy_card *c,
			    uint32_t today)
{
	if (!c)
		return DEC_UNKNOWN;
	if (c->terminal == TERMINAL_CANCELLED)
		return DEC_CANCELLED;
	if (c->terminal == TERMINAL_REPLACED)
		return DEC_REPLACED;
	if (c->terminal == TERMINAL_EXPIRED)
		return DEC_EXPIRED;
	if (c->lost)
		return DEC_LOST;
	if (c->frozen)
		return DEC_FROZEN;
	if (c->expires != 0 && today > c->expires)
		return DEC_EXPIRED;
	if (p == PROFILE_SUZHOU && !suzhou_ok(c, today))
		return DEC_NOT_VALIDATED;
	if (p == PROFILE_BEIJING && !beijing_ok(c, today))
		return DEC_UNREGISTERED;
	return DEC_ACCEPT;
}

/* ---- reissue fees ----------------------------------------------------- */

/* Beijing (seed 002): 15 yuan; home delivery by courier at most 15 yuan,
 * paid on delivery; delivery to the school free.  Suzhou (seed 000): 20
 * yuan, free when the card itself was faulty; EMS delivery 12 yuan.  The
 * generic profile follows Beijing, the stricter of the two seeds on what is
 * charged up front. */
void policy_reissue_fee(enum profile p, enum reissue_reason why, bool home,
			struct policy_fee *out)
{
	memset(out, 0, sizeof *out);
	if (p == PROFILE_SUZHOU) {
		out->card = why == RR_FAULTY ? 0 : 2000;
		out->delivery = home ? 1200 : 0;
		return;
	}
	out->card = 1500;
	out->courier_max = home ? 1500 : 0;
}

/* The calendar's entry for `day` (YYYYMMDD): 1 workday, 0 holiday, -1
 * none. */
static int calendar_find(const struct policy_calendar *cal, uint32_t day)
{
	size_t lo = 0, hi = cal ? cal->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cal->day[mid] == day)
			return cal->workday[mid];
		if (cal->day[mid] < day)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

uint32_t policy_working_days(const struct policy_calendar *cal, uint32_t from,
			     uint32_t to)
{
	int64_t a = policy_date_to_days(from), b = policy_date_to_days(to);
	uint32_t n = 0;

	if (!policy_date_valid(from) || !policy_date_valid(to) || b <= a)
		return 0;
	for (int64_t d = a + 1; d <= b; d++) {
		/* 1970-01-01 was a Thursday: weekday (0 = Monday) =
		 * (days + 3) % 7. */
		int listed = cal && cal->n ? calendar_find(cal,
					policy_days_to_date(d)) : -1;

		if (listed >= 0 ? listed == 1 : (d + 3) % 7 < 5)
			n++;
	}
	return n;
}

struct cal_item {
	uint32_t day;
	bool workday;
	unsigned line;
};

static int cal_item_cmp(const void *a, const void *b)
{
	const struct cal_item *x = a, *y = b;

	if (x->day != y->day)
		return x->day < y->day ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* One line (without its newline, comment cut off) into items[*n…]. */
static const char *calendar_line(const char *s, size_t len, unsigned line,
				 struct cal_item *items, size_t *n)
{
	char buf[201], from_s[11], to_s[11], kind[16];
	uint32_t from, to;
	int64_t a, b;
	int got, used = 0;
	bool workday;

	if (len >= sizeof buf)
		return "line longer than 200 bytes";
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL)
		return "a NUL byte";
	got = sscanf(buf, " %10[0-9-]..%10[0-9-] %15s %n", from_s, to_s, kind,
		     &used);
	if (got != 3) {
		used = 0;
		got = sscanf(buf, " %10[0-9-] %15s %n", from_s, kind, &used);
		if (got != 2)
			return "expected DATE or FROM..TO, then holiday or workday";
		memcpy(to_s, from_s, sizeof to_s);
	}
	if (buf[used] != '\0')
		return "unexpected text after holiday or workday";
	if (policy_date_parse(from_s, &from) || policy_date_parse(to_s, &to))
		return "not a date YYYY-MM-DD";
	if (!strcmp(kind, "holiday"))
		workday = false;
	else if (!strcmp(kind, "workday"))
		workday = true;
	else
		return "expected holiday or workday";
	a = policy_date_to_days(from);
	b = policy_date_to_days(to);
	if (b < a)
		return "the range ends before it starts";
	if (b - a > 30)
		return "a range covers at most 31 days";
	for (int64_t d = a; d <= b; d++) {
		if (*n == POLICY_CALENDAR_MAX)
			return "more dates than a calendar holds (4096)";
		items[*n].day = policy_days_to_date(d);
		items[*n].workday = workday;
		items[*n].line = line;
		(*n)++;
	}
	return NULL;
}

const char *policy_calendar_parse(const char *text, size_t len,
				  struct policy_calendar *cal, unsigned *line)
{
	struct cal_item *items = malloc(POLICY_CALENDAR_MAX * sizeof *items);
	const char *why = NULL;
	size_t n = 0, pos = 0;
	unsigned ln = 0;

	cal->n = 0;
	*line = 0;
	if (items == NULL)
		return "out of memory";
	while (pos < len && why == NULL) {
		const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - s) : len - pos;
		const char *hash = memchr(s, '#', l);
		size_t body = hash ? (size_t)(hash - s) : l;
		size_t k = 0;

		ln++;
		pos += l + (nl ? 1 : 0);
		while (k < body && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r'))
			k++;
		if (k == body)
			continue;
		if (l > 200)
			why = "line longer than 200 bytes";
		else
			why = calendar_line(s, body, ln, items, &n);
		if (why)
			*line = ln;
	}
	if (why == NULL) {
		qsort(items, n, sizeof *items, cal_item_cmp);
		for (size_t i = 0; i < n && why == NULL; i++) {
			if (i > 0 && items[i].day == items[i - 1].day) {
				why = "a date listed twice";
				*line = items[i].line;
				break;
			}
			cal->day[cal->n] = items[i].day;
			cal->workday[cal->n] = items[i].workday;
			cal->n++;
		}
	}
	if (why)
		cal->n = 0;
	free(items);
	return why;
}

/* ---- time zone -------------------------------------------------------- */

static bool tz_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > TZ_NAME_MAX || name[0] == '/' || strstr(name, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			  (ch >= '0' && ch <= '9') || ch == '/' || ch == '_' ||
			  ch == '+' || ch == '-';
		if (!ok)
			return false;
	}
	return true;
}

/* A regular file under ZONEINFO_DIR that starts with the TZif magic (so the
 * text files there, like "leapseconds", are refused too). */
static bool tz_file_ok(const char *name)
{
	char path[sizeof ZONEINFO_DIR + TZ_NAME_MAX];
	char magic[4];
	struct stat st;
	bool ok;
	int fd;

	snprintf(path, sizeof path, "%s%s", ZONEINFO_DIR, name);
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	     read(fd, magic, sizeof magic) == (ssize_t)sizeof magic &&
	     memcmp(magic, "TZif", sizeof magic) == 0;
	close(fd);
	return ok;
}

int policy_tz_set(const char *name)
{
	if (!name || !tz_name_ok(name) || !tz_file_ok(name))
		return CN_ERR_INVAL;
	/* The plain name: glibc loads /usr/share/zoneinfo/<name>, checked above. */
	if (setenv("TZ", name, 1) != 0)
		return CN_ERR_NOMEM;
	tzset();
	return CN_OK;
}

uint32_t policy_local_date(uint64_t ms, int *minute_of_day)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	uint32_t day;

	if (minute_of_day)
		*minute_of_day = 0;
	if (t < 0 || (uint64_t)t != ms / 1000 || !localtime_r(&t, &tm))
		return 0;
	if (tm.tm_year < YEAR_MIN - 1900 || tm.tm_year > YEAR_MAX - 1900)
		return 0;
	day = (uint32_t)(tm.tm_year + 1900) * 10000 +
	      (uint32_t)(tm.tm_mon + 1) * 100 + (uint32_t)tm.tm_mday;
	if (minute_of_day)
		*minute_of_day = tm.tm_hour * 60 + tm.tm_min;
	return day;
}

/* Invalid date, hh outside 0–23, mm outside 0–59, or an instant before the
 * epoch give 0.  A local time in a DST gap is normalised by mktime. */
uint64_t policy_local_ms(uint32_t yyyymmdd, int hh, int mm)
{
	struct tm tm;
	time_t t;

	if (!policy_date_valid(yyyymmdd) || hh < 0 || hh > 23 || mm < 0 ||
	    mm > 59)
		return 0;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = (int)(yyyymmdd / 10000) - 1900;
	tm.tm_mon = (int)(yyyymmdd / 100 % 100) - 1;
	tm.tm_mday = (int)(yyyymmdd % 100);
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	if (t < 0)
		return 0;
	return (uint64_t)t * 1000;
}
