#include "hlc.h"

uint64_t hlc_next(uint64_t last, uint64_t now_ms)
{
	uint64_t wall = now_ms << 16;

	return wall > last ? wall : last + 1;
}

uint64_t hlc_observe(uint64_t last, uint64_t received, uint64_t now_ms,
		     uint64_t max_skew_ms, bool *adopted)
{
	if (hlc_ms(received) > now_ms + max_skew_ms) {
		*adopted = false;
		return last;
	}
	*adopted = true;
	return received > last ? received : last;
}
