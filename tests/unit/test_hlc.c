/*
 * test_hlc.c — the hybrid logical clock (DESIGN §4).
 */
#include <stdio.h>

#include "check.h"
#include "hlc.h"

static void test_next(void)
{
	uint64_t t = 1741568400000ull, h;

	/* From the wall clock when it is ahead. */
	h = hlc_next(0, t);
	CHECK_EQ(h, t << 16);
	CHECK_EQ(hlc_ms(h), t);
	/* The same millisecond: the counter moves. */
	CHECK_EQ(hlc_next(h, t), h + 1);
	CHECK_EQ(hlc_next(h + 1, t), h + 2);
	/* A clock that went backwards never takes the HLC back. */
	CHECK_EQ(hlc_next(h + 5, t - 1000), h + 6);
	/* A later millisecond resets the counter. */
	CHECK_EQ(hlc_next(h + 6, t + 1), (t + 1) << 16);
	printf("hlc: next ok\n");
}

static void test_observe(void)
{
	uint64_t now = 1741568400000ull, last = now << 16, got;
	bool adopted;

	/* A received value behind ours changes nothing. */
	got = hlc_observe(last, last - 10, now, HLC_MAX_SKEW_MS, &adopted);
	CHECK(adopted);
	CHECK_EQ(got, last);
	/* Ahead, within the skew: adopted. */
	got = hlc_observe(last, (now + 1000) << 16, now, HLC_MAX_SKEW_MS, &adopted);
	CHECK(adopted);
	CHECK_EQ(got, (now + 1000) << 16);
	/* Exactly max_skew ahead: still adopted; one ms more: not. */
	got = hlc_observe(last, (now + HLC_MAX_SKEW_MS) << 16, now,
			  HLC_MAX_SKEW_MS, &adopted);
	CHECK(adopted);
	got = hlc_observe(last, (now + HLC_MAX_SKEW_MS + 1) << 16, now,
			  HLC_MAX_SKEW_MS, &adopted);
	CHECK(!adopted);
	CHECK_EQ(got, last);
	/* After adopting, the next local value is above what was seen. */
	got = hlc_observe(last, (now + 5) << 16 | 7, now, HLC_MAX_SKEW_MS, &adopted);
	CHECK_EQ(hlc_next(got, now), ((now + 5) << 16 | 7) + 1);
	printf("hlc: observe ok\n");
}

int main(void)
{
	test_next();
	test_observe();
	return 0;
}
