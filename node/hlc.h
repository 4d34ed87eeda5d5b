/*
 * hlc.h — the hybrid logical clock of DESIGN §4: ms_since_epoch << 16 | counter.
 */
#ifndef CN_HLC_H
#define CN_HLC_H

#include <stdbool.h>
#include <stdint.h>

#define HLC_MAX_SKEW_MS (3600u * 1000u) /* default max_skew: one hour */

/* Next value for a local entry: max(now << 16, last + 1). */
uint64_t hlc_next(uint64_t last, uint64_t now_ms);
/* Merge a received value: returns max(last, received), unless received is
 * more than max_skew_ms ahead of now, in which case *adopted is false and
 * `last` is returned unchanged. */
uint64_t hlc_observe(uint64_t last, uint64_t received, uint64_t now_ms,
		     uint64_t max_skew_ms, bool *adopted);
static inline uint64_t hlc_ms(uint64_t hlc) { return hlc >> 16; }

#endif
