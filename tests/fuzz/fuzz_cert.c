/*
 * fuzz_cert.c — libFuzzer harness for certificate and revocation decoding.
 *
 * The input is opened as a certificate and as a revocation against a fixed
 * root key.  Nothing may crash; a failure must come with a reason; whatever
 * opens must have a well-formed role and scope.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authority.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t root[CN_KEY_LEN] = {
		0x3d, 0x40, 0x17, 0xc3, 0xe8, 0x43, 0x89, 0x5a, 0x92, 0xb7, 0x0a,
		0xa7, 0x4d, 0x1b, 0x7e, 0xbc, 0x9c, 0x98, 0x2c, 0xcf, 0x2e, 0xc4,
		0x96, 0x8c, 0xc0, 0xcd, 0x55, 0xf1, 0x2a, 0xf4, 0x66, 0x0c};
	struct cert c;
	struct revocation rv;
	const char *why = NULL;

	if (authority_cert_open(data, size, root, &c, &why) == CN_OK) {
		if (!authority_scope_valid(c.role, c.scope))
			abort();
	} else if (why == NULL) {
		abort();
	}
	why = NULL;
	if (authority_revocation_open(data, size, root, &rv, &why) != CN_OK &&
	    why == NULL)
		abort();
	return 0;
}
