/*
 * policy.h — the reader decision and the date rules of the seed systems
 * (DESIGN §6): profiles generic, suzhou (monthly validation) and beijing
 * (semester registration), in the deployment's local time.
 *
 * Dates are plain integers: a day is YYYYMMDD, a month YYYYMM, a term YYYYT
 * with T = 1 (spring, February–August) or 2 (autumn, September–January;
 * January belongs to the previous year's autumn).  All functions are pure
 * except the policy_tz_* ones, which set the process time zone.
 */
#ifndef CN_POLICY_H
#define CN_POLICY_H

#include <stdbool.h>
#include <stdint.h>

enum profile { PROFILE_GENERIC = 0, PROFILE_SUZHOU = 1, PROFILE_BEIJING = 2 };

/* In DESIGN §6 order of precedence. */
enum decision {
	DEC_ACCEPT = 0,
	DEC_UNKNOWN,
	DEC_CANCELLED,
	DEC_REPLACED,
	DEC_LOST,
	DEC_FROZEN,
	DEC_EXPIRED,
	DEC_NOT_VALIDATED,
	DEC_UNREGISTERED,
	DEC_AMBIGUOUS, /* several cards share the UID and none can be told */
	DEC_FORGED,    /* the chip's education sector fails its MAC (reader) */
	DEC__COUNT
};

/* TERMINAL_EXPIRED: a temporary card whose loss period ended (the lost
 * card was found, the loss lifted by a refund, or the replacement issued). */
enum terminal { TERMINAL_NONE = 0, TERMINAL_CANCELLED = 1, TERMINAL_REPLACED = 2,
		TERMINAL_EXPIRED = 3 };

/* What the decision needs to know of a card. */
struct policy_card {
	bool lost;
	bool frozen;
	uint8_t terminal;         /* enum terminal */
	uint32_t expires;         /* YYYYMMDD, 0 = no expiry */
	uint32_t issued;          /* local date of issue, YYYYMMDD */
	uint32_t valid_through;   /* YYYYMM, 0 = never validated */
	uint32_t registered_term; /* YYYYT, 0 = never registered */
};

/* "accept", "unknown", "lost" …  (the JSON names of DESIGN §10). */
const char *policy_decision_name(enum decision d);
const char *policy_profile_name(enum profile p);
/* 0 and *p set, or CN_ERR_INVAL for an unknown name. */
int policy_profile_parse(const char *name, enum profile *p);

/* The decision for a tap on `today` (local date).  `c` NULL means the card
 * is unknown. */
enum decision policy_decide(enum profile p, const struct policy_card *c,
			    uint32_t today);

/* Suzhou 增效: validating on `day` gives validity through the month
 * returned (YYYYMM): that month for days 1–20, the next one from day 21. */
uint32_t policy_validate_through(uint32_t day);
/* The term `day` falls in (YYYYT). */
uint32_t policy_term_of(uint32_t day);
/* The term before `term`. */
uint32_t policy_term_prev(uint32_t term);
/* True when an unregistered card (registered for the previous term only)
 * still passes on `day`: February 1–March 20 and September 1–20. */
bool policy_term_grace(uint32_t day);
/* Is `term` a well-formed term id (YYYY1 or YYYY2, year 2000–2199)? */
bool policy_term_valid(uint32_t term);

/* ---- reissue (补卡) fees, DESIGN §6 ----------------------------------- */

/* Why a card is reissued: the fee depends on it (Suzhou: a card-quality
 * fault is free). */
enum reissue_reason { RR_LOST = 0, RR_DAMAGED = 1, RR_FAULTY = 2 };

struct policy_fee {
	uint32_t card;          /* fen, paid at 'reissue pay' */
	uint32_t delivery;      /* fen, prepaid with the card fee (Suzhou EMS) */
	uint32_t courier_max;   /* fen, at most, paid to the courier on delivery */
};

/* The fees of a reissue under profile p (see docs/lifecycle.md):
 *   beijing  15 yuan; home delivery: courier at most 15 yuan, on delivery
 *   suzhou   20 yuan, 0 for a faulty card; home delivery (EMS) 12 yuan
 *   generic  as beijing
 * School delivery is free everywhere. */
void policy_reissue_fee(enum profile p, enum reissue_reason why, bool home,
			struct policy_fee *out);

/* The loss period (DESIGN §6): 10 days after the loss a card may be
 * reissued; until then a temporary card may stand in. */
#define POLICY_LOSS_PERIOD_MS (10ull * 24 * 3600 * 1000)
/* Production target of a reissued card, in working days. */
#define POLICY_PRODUCTION_DAYS 20

/* A working calendar: the dates on which the rule "Monday to Friday" does
 * not hold — public holidays on weekdays, and weekend days worked in their
 * place (调休), as the State Council announces them each year. */
#define POLICY_CALENDAR_MAX 4096
struct policy_calendar {
	size_t n;
	uint32_t day[POLICY_CALENDAR_MAX]; /* YYYYMMDD, ascending, unique */
	bool workday[POLICY_CALENDAR_MAX]; /* true: worked; false: holiday */
};

/* Parse a calendar from text[0..len) (docs/lifecycle.md): one date or
 * range FROM..TO (at most 31 days) per line, then `holiday` or `workday`;
 * `#` starts a comment; blank lines are skipped.  Returns NULL, or the
 * reason with *line set to the line at fault (1-based).  A date listed
 * twice, a range backwards, more than POLICY_CALENDAR_MAX dates or a line
 * longer than 200 bytes are errors. */
const char *policy_calendar_parse(const char *text, size_t len,
				  struct policy_calendar *cal, unsigned *line);

/* Working days from local date `from` to `to`, not counting `from`: 0 if
 * to <= from.  A working day is Monday to Friday, unless `cal` (NULL:
 * none) lists it as a holiday; a Saturday or Sunday it lists as a workday
 * counts too. */
uint32_t policy_working_days(const struct policy_calendar *cal, uint32_t from,
			     uint32_t to);

/* ---- calendar and time zone ----------------------------------------- */

/* Is y-m-d a real date (Gregorian, leap years honoured)? */
bool policy_date_valid(uint32_t yyyymmdd);
int policy_days_in_month(int year, int month);
/* Parse "YYYY-MM-DD" (0 or CN_ERR_INVAL). */
int policy_date_parse(const char *s, uint32_t *yyyymmdd);
/* Parse "YYYY-MM" as YYYYMM. */
int policy_month_parse(const char *s, uint32_t *yyyymm);
/* Format YYYYMMDD as "YYYY-MM-DD" into out[11]. */
void policy_date_format(uint32_t yyyymmdd, char out[static 11]);
/* Days from 1970-01-01 to the date (may be negative), and back. */
int64_t policy_date_to_days(uint32_t yyyymmdd);
uint32_t policy_days_to_date(int64_t days);

/* Set the process time zone to an IANA name ("Asia/Shanghai").  Refuses
 * names that are not well-formed or not present under /usr/share/zoneinfo
 * (CN_ERR_INVAL). */
int policy_tz_set(const char *name);
/* Local date (YYYYMMDD) and minute of day of a UTC instant in ms. */
uint32_t policy_local_date(uint64_t ms, int *minute_of_day);
/* The UTC instant (ms) of local date + hh:mm in the process time zone. */
uint64_t policy_local_ms(uint32_t yyyymmdd, int hh, int mm);

#endif
