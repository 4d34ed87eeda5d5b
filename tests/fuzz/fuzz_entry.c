/*
 * fuzz_entry.c — libFuzzer harness for the entry codec.
 *
 * The input is read as a wire entry; when that parses, its payload is
 * decoded.  (When it does not, the input itself is decoded as a payload, so
 * the fuzzer also reaches the payload decoder without having to find the
 * wire framing first.)  Whatever decodes must re-encode to exactly the same
 * bytes, wire form included; any failure must come with a reason.  A
 * violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cn.h"
#include "entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[CN_ENTRY_MAX];

static void check_payload(const uint8_t *p, size_t n)
{
	struct entry e;
	const char *why = NULL;
	size_t len = 0;
	int rc = entry_decode(p, n, &e, &why);

	if (rc != 0) {
		if (why == NULL || (rc != CN_ERR_MALFORMED && rc != CN_ERR_TOOBIG))
			abort();
		return;
	}
	if (entry_encode(&e, out, sizeof out, &len, &why) != 0)
		abort();
	if (len != n || memcmp(out, p, n) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *payload = NULL, *sig = NULL;
	size_t plen = 0, used = 0, wlen = 0;
	const char *why = NULL;
	int rc = entry_wire_decode(data, size, &payload, &plen, &sig, &used,
				   &why);

	if (rc != 0) {
		if (why == NULL)
			abort();
		check_payload(data, size);
		return 0;
	}
	if (used > size || plen == 0 || payload < data ||
	    payload + plen > data + used)
		abort();
	if (sig != NULL && (sig < data || sig + CN_SIG_LEN > data + used))
		abort();
	if (entry_wire_encode(payload, plen, sig, out, sizeof out, &wlen) != 0 ||
	    wlen != used || memcmp(out, data, used) != 0)
		abort();
	check_payload(payload, plen);
	return 0;
}
