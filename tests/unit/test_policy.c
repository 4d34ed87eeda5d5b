/*
 * test_policy.c — the reader decision, the Suzhou and Beijing date rules,
 * the calendar and the time zone (DESIGN §6).
 */
#include "check.h"
#include "cn.h"
#include "policy.h"

#include <stdbool.h>
#include <stdint.h>

/* ---- helpers ------------------------------------------------------------ */

/* A plain card: nothing set, no expiry, issued long ago, never validated or
 * registered. */
static struct policy_card card(void)
{
	struct policy_card c;

	memset(&c, 0, sizeof c);
	c.issued = 20200101;
	return c;
}

static enum decision decide(enum profile p, struct policy_card c,
			    uint32_t today)
{
	return policy_decide(p, &c, today);
}

/* The day after y-m-d, computed from policy_days_in_month alone. */
static uint32_t next_day(uint32_t day)
{
	int y = (int)(day / 10000), m = (int)(day / 100 % 100);
	int d = (int)(day % 100) + 1;

	if (d > policy_days_in_month(y, m)) {
		d = 1;
		if (++m > 12) {
			m = 1;
			y++;
		}
	}
	return (uint32_t)y * 10000 + (uint32_t)m * 100 + (uint32_t)d;
}

/* ---- names -------------------------------------------------------------- */

static void test_names(void)
{
	static const char *const want[DEC__COUNT] = {
		"accept", "unknown", "cancelled", "replaced", "lost",
		"frozen", "expired", "not_validated", "unregistered",
		"ambiguous", "forged",
	};
	enum profile p;

	for (int d = 0; d < DEC__COUNT; d++)
		CHECK_STR(policy_decision_name((enum decision)d), want[d]);
	CHECK(policy_decision_name(DEC__COUNT) != NULL);

	CHECK_STR(policy_profile_name(PROFILE_GENERIC), "generic");
	CHECK_STR(policy_profile_name(PROFILE_SUZHOU), "suzhou");
	CHECK_STR(policy_profile_name(PROFILE_BEIJING), "beijing");
	CHECK(policy_profile_name((enum profile)7) != NULL);

	CHECK_EQ(policy_profile_parse("generic", &p), CN_OK);
	CHECK_EQ(p, PROFILE_GENERIC);
	CHECK_EQ(policy_profile_parse("suzhou", &p), CN_OK);
	CHECK_EQ(p, PROFILE_SUZHOU);
	CHECK_EQ(policy_profile_parse("beijing", &p), CN_OK);
	CHECK_EQ(p, PROFILE_BEIJING);
	p = PROFILE_SUZHOU;
	CHECK_EQ(policy_profile_parse("Beijing", &p), CN_ERR_INVAL);
	CHECK_EQ(policy_profile_parse("beijing ", &p), CN_ERR_INVAL);
	CHECK_EQ(policy_profile_parse("", &p), CN_ERR_INVAL);
	CHECK_EQ(policy_profile_parse("shanghai", &p), CN_ERR_INVAL);
	CHECK_EQ(policy_profile_parse(NULL, &p), CN_ERR_INVAL);
	CHECK_EQ(p, PROFILE_SUZHOU); /* untouched on failure */
	printf("policy: names ok\n");
}

/* ---- decision order ----------------------------------------------------- */

static void test_precedence(void)
{
	struct policy_card c = card();
	const enum profile all[3] = { PROFILE_GENERIC, PROFILE_SUZHOU,
				      PROFILE_BEIJING };

	for (int i = 0; i < 3; i++)
		CHECK_EQ(policy_decide(all[i], NULL, 20250101), DEC_UNKNOWN);

	/* Everything wrong at once: cancelled wins, then replaced, lost … */
	c.terminal = TERMINAL_CANCELLED;
	c.lost = true;
	c.frozen = true;
	c.expires = 20240630;
	for (int i = 0; i < 3; i++)
		CHECK_EQ(decide(all[i], c, 20250101), DEC_CANCELLED);
	c.terminal = TERMINAL_REPLACED;
	for (int i = 0; i < 3; i++)
		CHECK_EQ(decide(all[i], c, 20250101), DEC_REPLACED);
	c.terminal = TERMINAL_NONE;
	for (int i = 0; i < 3; i++)
		CHECK_EQ(decide(all[i], c, 20250101), DEC_LOST);
	c.lost = false;
	for (int i = 0; i < 3; i++)
		CHECK_EQ(decide(all[i], c, 20250101), DEC_FROZEN);
	c.frozen = false;
	/* Expired beats the profile checks (never validated / registered). */
	for (int i = 0; i < 3; i++)
		CHECK_EQ(decide(all[i], c, 20250101), DEC_EXPIRED);

	/* Expiry: fine on the day itself, expired the day after, also across
	 * a month and a year end. */
	c = card();
	c.expires = 20250630;
	CHECK_EQ(decide(PROFILE_GENERIC, c, 20250629), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_GENERIC, c, 20250630), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_GENERIC, c, 20250701), DEC_EXPIRED);
	c.expires = 20241231;
	CHECK_EQ(decide(PROFILE_GENERIC, c, 20241231), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_GENERIC, c, 20250101), DEC_EXPIRED);
	c.expires = 0; /* no expiry */
	CHECK_EQ(decide(PROFILE_GENERIC, c, 21991231), DEC_ACCEPT);

	/* Lost and frozen alone. */
	c = card();
	c.frozen = true;
	CHECK_EQ(decide(PROFILE_GENERIC, c, 20250101), DEC_FROZEN);
	c.lost = true;
	CHECK_EQ(decide(PROFILE_GENERIC, c, 20250101), DEC_LOST);
	c = card();
	c.terminal = TERMINAL_REPLACED;
	c.lost = true;
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20250101), DEC_REPLACED);

	/* A card that is lost and fails its profile check is "lost". */
	c = card();
	c.lost = true;
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20250101), DEC_LOST);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250101), DEC_LOST);

	/* Generic ignores validation and registration entirely. */
	c = card();
	c.issued = 0;
	CHECK_EQ(decide(PROFILE_GENERIC, c, 20250515), DEC_ACCEPT);
	c.valid_through = 200001;
	c.registered_term = 20001;
	CHECK_EQ(decide(PROFILE_GENERIC, c, 21000515), DEC_ACCEPT);

	/* The profile failure names. */
	c = card();
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20250515), DEC_NOT_VALIDATED);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250515), DEC_UNREGISTERED);
	printf("policy: decision precedence ok\n");
}

/* ---- Suzhou ------------------------------------------------------------- */

static void test_validate_through(void)
{
	/* Day 20 → this month, day 21 → next month. */
	CHECK_EQ(policy_validate_through(20250301), 202503);
	CHECK_EQ(policy_validate_through(20250320), 202503);
	CHECK_EQ(policy_validate_through(20250321), 202504);
	CHECK_EQ(policy_validate_through(20250331), 202504);
	/* 30-day months. */
	CHECK_EQ(policy_validate_through(20250420), 202504);
	CHECK_EQ(policy_validate_through(20250421), 202505);
	CHECK_EQ(policy_validate_through(20250430), 202505);
	CHECK_EQ(policy_validate_through(20251130), 202512);
	/* 31-day months. */
	CHECK_EQ(policy_validate_through(20250131), 202502);
	CHECK_EQ(policy_validate_through(20250731), 202508);
	CHECK_EQ(policy_validate_through(20250831), 202509);
	/* February, non-leap and leap (and the century rules). */
	CHECK_EQ(policy_validate_through(20250220), 202502);
	CHECK_EQ(policy_validate_through(20250221), 202503);
	CHECK_EQ(policy_validate_through(20250228), 202503);
	CHECK_EQ(policy_validate_through(20240228), 202403);
	CHECK_EQ(policy_validate_through(20240229), 202403);
	CHECK_EQ(policy_validate_through(20000229), 200003);
	/* December 21 → January of the next year. */
	CHECK_EQ(policy_validate_through(20241201), 202412);
	CHECK_EQ(policy_validate_through(20241220), 202412);
	CHECK_EQ(policy_validate_through(20241221), 202501);
	CHECK_EQ(policy_validate_through(20241231), 202501);
	/* Not a date. */
	CHECK_EQ(policy_validate_through(0), 0);
	CHECK_EQ(policy_validate_through(20250229), 0);
	CHECK_EQ(policy_validate_through(20250431), 0);
	CHECK_EQ(policy_validate_through(21000229), 0);

	/* Every day of 1900–2199: day ≤ 20 → own month, else the next. */
	for (uint32_t d = 19000101; d <= 21991231; d = next_day(d)) {
		uint32_t ym = d / 100, want = ym;
		if (d % 100 > 20)
			want = ym % 100 == 12 ? (ym / 100 + 1) * 100 + 1 : ym + 1;
		CHECK_EQ(policy_validate_through(d), want);
	}
	printf("policy: suzhou validate_through ok\n");
}

static void test_suzhou(void)
{
	struct policy_card c = card();

	/* valid_through 202503: all of March, not April 1. */
	c.valid_through = 202503;
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20250201), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20250301), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20250331), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20250401), DEC_NOT_VALIDATED);
	/* Validated on 2024-12-21 → through January 2025. */
	c.valid_through = policy_validate_through(20241221);
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20241231), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20250131), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20250201), DEC_NOT_VALIDATED);
	/* Validated on 2024-12-20 → through December only. */
	c.valid_through = policy_validate_through(20241220);
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20241231), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20250101), DEC_NOT_VALIDATED);
	/* February end, leap year: validated Feb 29 → March. */
	c.valid_through = policy_validate_through(20240229);
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20240331), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20240401), DEC_NOT_VALIDATED);

	/* Never validated, no issue date: refused. */
	c.valid_through = 0;
	c.issued = 0;
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20250101), DEC_NOT_VALIDATED);

	/* The issue date counts as a validation on that date. */
	c.issued = 20250310; /* → through March */
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20250310), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20250331), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20250401), DEC_NOT_VALIDATED);
	c.issued = 20250321; /* → through April */
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20250430), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20250501), DEC_NOT_VALIDATED);
	c.issued = 20241225; /* → through January next year */
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20250131), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20250201), DEC_NOT_VALIDATED);
	/* … and the later of the two wins either way. */
	c.issued = 20250105;      /* → 202501 */
	c.valid_through = 202503; /* later */
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20250331), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20250401), DEC_NOT_VALIDATED);
	c.issued = 20250425;      /* → 202505, later than 202503 */
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20250531), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20250601), DEC_NOT_VALIDATED);

	/* A malformed valid_through is no validation (fail closed). */
	c = card();
	c.valid_through = 202513;
	CHECK_EQ(decide(PROFILE_SUZHOU, c, 20251215), DEC_NOT_VALIDATED);
	printf("policy: suzhou decisions ok\n");
}

/* ---- Beijing ------------------------------------------------------------ */

static void test_terms(void)
{
	/* Spring Feb–Aug, autumn Sep–Jan; January is last year's autumn. */
	CHECK_EQ(policy_term_of(20250101), 20242);
	CHECK_EQ(policy_term_of(20250115), 20242);
	CHECK_EQ(policy_term_of(20250131), 20242);
	CHECK_EQ(policy_term_of(20250201), 20251);
	CHECK_EQ(policy_term_of(20250320), 20251);
	CHECK_EQ(policy_term_of(20250831), 20251);
	CHECK_EQ(policy_term_of(20250901), 20252);
	CHECK_EQ(policy_term_of(20251231), 20252);
	CHECK_EQ(policy_term_of(20260101), 20252);
	CHECK_EQ(policy_term_of(20240229), 20241);
	CHECK_EQ(policy_term_of(0), 0);
	CHECK_EQ(policy_term_of(20250230), 0);

	CHECK_EQ(policy_term_prev(20251), 20242);
	CHECK_EQ(policy_term_prev(20252), 20251);
	CHECK_EQ(policy_term_prev(20001), 19992);
	CHECK_EQ(policy_term_prev(policy_term_prev(20252)), 20242);
	CHECK_EQ(policy_term_prev(20253), 0);
	CHECK_EQ(policy_term_prev(0), 0);

	CHECK(policy_term_valid(20251));
	CHECK(policy_term_valid(20252));
	CHECK(policy_term_valid(20001));
	CHECK(policy_term_valid(21992));
	CHECK(!policy_term_valid(20250));
	CHECK(!policy_term_valid(20253));
	CHECK(!policy_term_valid(19992));
	CHECK(!policy_term_valid(22001));
	CHECK(!policy_term_valid(0));
	CHECK(!policy_term_valid(202512));

	/* Grace: Feb 1 – Mar 20 and Sep 1 – Sep 20, inclusive. */
	CHECK(!policy_term_grace(20250131));
	CHECK(policy_term_grace(20250201));
	CHECK(policy_term_grace(20250228));
	CHECK(policy_term_grace(20240229));
	CHECK(policy_term_grace(20250301));
	CHECK(policy_term_grace(20250320));
	CHECK(!policy_term_grace(20250321));
	CHECK(!policy_term_grace(20250831));
	CHECK(policy_term_grace(20250901));
	CHECK(policy_term_grace(20250920));
	CHECK(!policy_term_grace(20250921));
	CHECK(!policy_term_grace(20250101));
	CHECK(!policy_term_grace(20251231));
	CHECK(!policy_term_grace(0));
	CHECK(!policy_term_grace(20250230));

	/* Every day of 1900–2199 against the rule written out once more. */
	for (uint32_t d = 19000101; d <= 21991231; d = next_day(d)) {
		uint32_t y = d / 10000, m = d / 100 % 100, dd = d % 100;
		uint32_t want = m == 1 ? (y - 1) * 10 + 2
				       : y * 10 + (m >= 9 ? 2 : 1);
		bool grace = m == 2 || (m == 3 && dd <= 20) ||
			     (m == 9 && dd <= 20);
		CHECK_EQ(policy_term_of(d), want);
		CHECK_EQ(policy_term_grace(d), grace);
	}
	printf("policy: beijing terms ok\n");
}

static void test_beijing(void)
{
	struct policy_card c = card(); /* issued 2020-01-01 (term 20192) */

	/* Registered for spring 2025. */
	c.registered_term = 20251;
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250201), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250831), DEC_ACCEPT);
	/* Autumn: grace until September 20 inclusive. */
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250901), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250920), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250921), DEC_UNREGISTERED);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20251231), DEC_UNREGISTERED);
	/* Spring 2025 card in January 2026 (autumn 2025): no grace. */
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20260115), DEC_UNREGISTERED);
	/* Spring 2026: two terms behind, no grace either. */
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20260201), DEC_UNREGISTERED);
	/* A registration for a later term passes too. */
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20241015), DEC_ACCEPT);

	/* Registered for autumn 2024: January 2025 is still that term. */
	c.registered_term = 20242;
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20240901), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20241231), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250101), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250131), DEC_ACCEPT);
	/* Spring 2025: grace from Feb 1 through March 20. */
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250201), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250320), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250321), DEC_UNREGISTERED);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250831), DEC_UNREGISTERED);
	/* Leap-year February inside the grace. */
	c.registered_term = 20232;
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20240229), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20240321), DEC_UNREGISTERED);
	/* Registered for autumn 2024, before the term: spring 2024 itself. */
	c.registered_term = 20241;
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20240831), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20240920), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20240921), DEC_UNREGISTERED);

	/* Never registered, issued long ago. */
	c.registered_term = 0;
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250201), DEC_UNREGISTERED);
	c.issued = 0;
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250201), DEC_UNREGISTERED);

	/* A card issued during a term counts as registered for it. */
	c.issued = 20250415; /* spring 2025 */
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250415), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250831), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250920), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250921), DEC_UNREGISTERED);
	c.issued = 20250110; /* January: autumn 2024 */
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250131), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250320), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250321), DEC_UNREGISTERED);
	c.issued = 20250831; /* last day of spring */
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250921), DEC_UNREGISTERED);
	c.issued = 20250901; /* first day of autumn */
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20250921), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20260131), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20260321), DEC_UNREGISTERED);
	/* The later of registration and issue wins either way. */
	c.issued = 20240301;         /* spring 2024 */
	c.registered_term = 20252;   /* later */
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20260320), DEC_ACCEPT);
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20260321), DEC_UNREGISTERED);

	/* A malformed registered_term is no registration (fail closed). */
	c = card();
	c.registered_term = 20259;
	CHECK_EQ(decide(PROFILE_BEIJING, c, 20251015), DEC_UNREGISTERED);
	printf("policy: beijing decisions ok\n");
}

/* ---- calendar ----------------------------------------------------------- */

static void test_date_valid(void)
{
	CHECK_EQ(policy_days_in_month(2025, 1), 31);
	CHECK_EQ(policy_days_in_month(2025, 2), 28);
	CHECK_EQ(policy_days_in_month(2024, 2), 29);
	CHECK_EQ(policy_days_in_month(2000, 2), 29);
	CHECK_EQ(policy_days_in_month(1900, 2), 28);
	CHECK_EQ(policy_days_in_month(2100, 2), 28);
	CHECK_EQ(policy_days_in_month(2025, 4), 30);
	CHECK_EQ(policy_days_in_month(2025, 6), 30);
	CHECK_EQ(policy_days_in_month(2025, 9), 30);
	CHECK_EQ(policy_days_in_month(2025, 11), 30);
	CHECK_EQ(policy_days_in_month(2025, 12), 31);
	CHECK_EQ(policy_days_in_month(2025, 0), 0);
	CHECK_EQ(policy_days_in_month(2025, 13), 0);

	CHECK(policy_date_valid(20240229));
	CHECK(policy_date_valid(20000229));
	CHECK(!policy_date_valid(20230229));
	CHECK(!policy_date_valid(19000229));
	CHECK(!policy_date_valid(21000229));
	CHECK(!policy_date_valid(20240230));
	CHECK(!policy_date_valid(20240431));
	CHECK(policy_date_valid(20240430));
	CHECK(!policy_date_valid(20241301));
	CHECK(!policy_date_valid(20240001));
	CHECK(!policy_date_valid(20240100));
	CHECK(!policy_date_valid(0));
	CHECK(policy_date_valid(19000101));
	CHECK(policy_date_valid(21991231));
	CHECK(!policy_date_valid(18991231));
	CHECK(!policy_date_valid(22000101));
	CHECK(!policy_date_valid(UINT32_MAX));
	printf("policy: date validity ok\n");
}

static void test_date_parse(void)
{
	static const char *const bad[] = {
		"2024-02-30", "2023-02-29", "2024-2-01", "2024-13-01",
		"2024-00-10", "2024-01-00", "2024-04-31", "1899-12-31",
		"2200-01-01", "2024-02-29x", "2024-02-29 ", " 2024-02-29",
		"2024/02/29", "20240229", "2024-02-2", "2024-02", "",
		"+024-02-29", "2024-+2-29", "2024-02-29\n", "2024--2-29",
		"9999-99-99",
	};
	static const char *const bad_month[] = {
		"2024-13", "2024-00", "2024-1", "2024-01-", "2024-01x",
		"1899-12", "2200-01", "202401", "", "2024-01-01",
	};
	uint32_t v = 7;
	char out[11];

	CHECK_EQ(policy_date_parse("2024-02-29", &v), CN_OK);
	CHECK_EQ(v, 20240229);
	CHECK_EQ(policy_date_parse("1900-01-01", &v), CN_OK);
	CHECK_EQ(v, 19000101);
	CHECK_EQ(policy_date_parse("2199-12-31", &v), CN_OK);
	CHECK_EQ(v, 21991231);
	CHECK_EQ(policy_date_parse("2000-02-29", &v), CN_OK);
	CHECK_EQ(v, 20000229);
	v = 7;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (policy_date_parse(bad[i], &v) != CN_ERR_INVAL) {
			fprintf(stderr, "accepted \"%s\"\n", bad[i]);
			CHECK(0);
		}
	}
	CHECK_EQ(policy_date_parse(NULL, &v), CN_ERR_INVAL);
	CHECK_EQ(v, 7); /* untouched on failure */

	CHECK_EQ(policy_month_parse("2024-02", &v), CN_OK);
	CHECK_EQ(v, 202402);
	CHECK_EQ(policy_month_parse("2024-12", &v), CN_OK);
	CHECK_EQ(v, 202412);
	v = 7;
	for (size_t i = 0; i < sizeof bad_month / sizeof bad_month[0]; i++) {
		if (policy_month_parse(bad_month[i], &v) != CN_ERR_INVAL) {
			fprintf(stderr, "accepted month \"%s\"\n", bad_month[i]);
			CHECK(0);
		}
	}
	CHECK_EQ(v, 7);

	policy_date_format(20240229, out);
	CHECK_STR(out, "2024-02-29");
	policy_date_format(19000101, out);
	CHECK_STR(out, "1900-01-01");
	policy_date_format(21991231, out);
	CHECK_STR(out, "2199-12-31");
	printf("policy: date parse/format ok\n");
}

static void test_days(void)
{
	int64_t first = policy_date_to_days(19000101);
	int64_t last = policy_date_to_days(21991231);
	uint32_t expect = 19000101;
	int64_t n = 0;
	char text[11];

	/* Fixed points (checked against date(1)). */
	CHECK_EQ(policy_date_to_days(19700101), 0);
	CHECK_EQ(policy_date_to_days(19691231), -1);
	CHECK_EQ(policy_date_to_days(20000301), 11017);
	CHECK_EQ(first, -25567);
	CHECK_EQ(last, 84005);
	CHECK_EQ(policy_days_to_date(0), 19700101);
	CHECK_EQ(policy_days_to_date(-1), 19691231);
	CHECK_EQ(policy_days_to_date(11016), 20000229);

	/* Every day 1900–2199: consecutive, round trip, format ↔ parse. */
	for (int64_t d = first; d <= last; d++, n++) {
		uint32_t date = policy_days_to_date(d), back = 0;
		CHECK_EQ(date, expect);
		CHECK(policy_date_valid(date));
		CHECK_EQ(policy_date_to_days(date), d);
		policy_date_format(date, text);
		CHECK_EQ(policy_date_parse(text, &back), CN_OK);
		CHECK_EQ(back, date);
		expect = next_day(expect);
	}
	CHECK_EQ(expect, 22000101);
	/* 300 years: 73 leap years (1900, 2100 are not; 2000 is). */
	CHECK_EQ(n, 300 * 365 + 73);

	/* Outside the range. */
	CHECK_EQ(policy_days_to_date(first - 1), 0);
	CHECK_EQ(policy_days_to_date(last + 1), 0);
	CHECK_EQ(policy_days_to_date(INT64_MIN), 0);
	CHECK_EQ(policy_days_to_date(INT64_MAX), 0);
	CHECK_EQ(policy_date_to_days(20230229), 0);
	printf("policy: days round trip ok (%lld days)\n", (long long)n);
}

/* ---- time zone ---------------------------------------------------------- */

static void test_tz(void)
{
	static const char *const bad[] = {
		"../etc/passwd", "Nowhere/City", "", "/etc/localtime",
		"Asia/../Asia/Shanghai", "Asia/Shanghai;x", "Asia/Shanghai ",
		"Asia", "Asia/", "zone.tab", "leapseconds", "Asia//Shanghai/",
		"Asia/Shanghai\n",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	};
	/* 2024-12-31T16:30:00Z */
	const uint64_t ms = 1735662600000ULL;
	int minute = -1;

	CHECK_EQ(policy_date_to_days(20241231) * 86400000LL +
			 (16 * 60 + 30) * 60000LL,
		 (long long)ms);

	CHECK_EQ(policy_tz_set("Asia/Shanghai"), CN_OK);
	CHECK_STR(getenv("TZ"), "Asia/Shanghai");
	CHECK_EQ(policy_local_date(ms, &minute), 20250101);
	CHECK_EQ(minute, 30);
	CHECK_EQ(policy_local_ms(20250101, 0, 30), ms);
	CHECK_EQ(policy_local_date(ms - 31 * 60000, &minute), 20241231);
	CHECK_EQ(minute, 23 * 60 + 59);
	CHECK_EQ(policy_local_date(ms, NULL), 20250101);
	CHECK_EQ(policy_local_date(0, &minute), 19700101);
	CHECK_EQ(minute, 8 * 60);
	CHECK_EQ(policy_local_ms(19700101, 8, 0), 0);
	CHECK_EQ(policy_local_ms(20250101, 24, 0), 0);
	CHECK_EQ(policy_local_ms(20250101, 0, 60), 0);
	CHECK_EQ(policy_local_ms(20250101, -1, 0), 0);
	CHECK_EQ(policy_local_ms(20250230, 0, 0), 0);

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (policy_tz_set(bad[i]) != CN_ERR_INVAL) {
			fprintf(stderr, "accepted zone \"%s\"\n", bad[i]);
			CHECK(0);
		}
	}
	CHECK_EQ(policy_tz_set(NULL), CN_ERR_INVAL);
	/* A refused name leaves the zone as it was. */
	CHECK_STR(getenv("TZ"), "Asia/Shanghai");
	CHECK_EQ(policy_local_date(ms, &minute), 20250101);
	CHECK_EQ(minute, 30);

	/* Another zone takes effect; tm_isdst = -1 lets mktime find DST. */
	CHECK_EQ(policy_tz_set("UTC"), CN_OK);
	CHECK_EQ(policy_local_date(ms, &minute), 20241231);
	CHECK_EQ(minute, 16 * 60 + 30);
	CHECK_EQ(policy_local_ms(20241231, 16, 30), ms);
	CHECK_EQ(policy_tz_set("Europe/Berlin"), CN_OK);
	CHECK_EQ(policy_local_ms(20240115, 12, 0),
		 (uint64_t)policy_date_to_days(20240115) * 86400000ULL +
			 11ULL * 3600000ULL);
	CHECK_EQ(policy_local_ms(20240715, 12, 0),
		 (uint64_t)policy_date_to_days(20240715) * 86400000ULL +
			 10ULL * 3600000ULL);

	CHECK_EQ(policy_tz_set("Asia/Shanghai"), CN_OK);
	CHECK_EQ(policy_local_date(ms, &minute), 20250101);
	printf("policy: time zone ok\n");
}

/* The working calendar: public holidays and weekend days worked. */
static const char *cal_parse(const char *text, struct policy_calendar *cal,
			     unsigned *line)
{
	return policy_calendar_parse(text, strlen(text), cal, line);
}

static void test_calendar(void)
{
	static struct policy_calendar cal;
	unsigned line = 0;
	const char *why;

	/* National Day 2025 (Wednesday 1 to Wednesday 8 October), with the
	 * Sunday before and the Saturday after worked in its place. */
	why = cal_parse("# 2025\r\n"
			"\n"
			"2025-09-28 workday   # Sunday\n"
			"  2025-10-01..2025-10-08 holiday\r\n"
			"2025-10-11\tworkday\n",
			&cal, &line);
	CHECK(why == NULL);
	CHECK_EQ(cal.n, 10);
	CHECK_EQ(cal.day[0], 20250928);
	CHECK(cal.workday[0]);
	CHECK(!cal.workday[1]);
	CHECK_EQ(cal.day[9], 20251011);
	/* From Friday 26 September to Monday 13 October. */
	CHECK_EQ(policy_working_days(NULL, 20250926, 20251013), 11);
	CHECK_EQ(policy_working_days(&cal, 20250926, 20251013), 7);
	CHECK_EQ(policy_working_days(&cal, 20251001, 20251008), 0);
	CHECK_EQ(policy_working_days(&cal, 20251010, 20251011), 1);
	CHECK_EQ(policy_working_days(&cal, 20251013, 20251013), 0);
	/* An empty calendar is Monday to Friday. */
	CHECK(cal_parse("# nothing yet\n", &cal, &line) == NULL);
	CHECK_EQ(cal.n, 0);
	CHECK_EQ(policy_working_days(&cal, 20250926, 20251013), 11);

	/* Errors name the line. */
	why = cal_parse("2025-01-01 holiday\n2025-02-30 holiday\n", &cal, &line);
	CHECK(why && strstr(why, "not a date"));
	CHECK_EQ(line, 2);
	CHECK_EQ(cal.n, 0);
	why = cal_parse("2025-01-28..2025-02-04 holiday\n\n"
			"2025-02-01 workday\n", &cal, &line);
	CHECK(why && strstr(why, "twice"));
	CHECK_EQ(line, 3);
	why = cal_parse("2025-02-04..2025-01-28 holiday\n", &cal, &line);
	CHECK(why && strstr(why, "ends before"));
	why = cal_parse("2025-01-01..2025-02-01 holiday\n", &cal, &line);
	CHECK(why && strstr(why, "31 days"));
	why = cal_parse("2025-01-01 vacation\n", &cal, &line);
	CHECK(why && strstr(why, "holiday or workday"));
	why = cal_parse("2025-01-01 holiday extra\n", &cal, &line);
	CHECK(why && strstr(why, "unexpected text"));
	why = cal_parse("holiday 2025-01-01\n", &cal, &line);
	CHECK(why != NULL);
	{
		char longl[300];
		memset(longl, ' ', sizeof longl);
		memcpy(longl + 250, "2025-01-01 holiday", 18);
		longl[268] = '\0';
		why = cal_parse(longl, &cal, &line);
		CHECK(why && strstr(why, "200 bytes"));
		CHECK_EQ(line, 1);
	}
	printf("policy: working calendar ok\n");
}

int main(void)
{
	test_names();
	test_precedence();
	test_validate_through();
	test_suzhou();
	test_terms();
	test_beijing();
	test_date_valid();
	test_date_parse();
	test_days();
	test_tz();
	test_calendar();
	return 0;
}
