/*
 * fuzz_bundle.c — libFuzzer harness for bundle import.
 *
 * Each input is written to a file and imported into one replica made at
 * start-up (a city node of a fixed deployment).  Nothing may crash, and the
 * replica must still pass a full re-verification every 256 inputs: whatever
 * an input applied was really covered by its origin's signature.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "bundle.h"
#include "replica.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct replica *rep;
static char path[256];

static void setup(void)
{
	struct replica_init in;
	uint8_t node[CN_KEY_LEN], pk[CN_KEY_LEN], sk[64];
	char dir[200], err[512];

	if (sodium_init() < 0)
		abort();
	snprintf(dir, sizeof dir, "/tmp/fuzz-bundle.%ld", (long)getpid());
	snprintf(path, sizeof path, "%s.in", dir);
	crypto_sign_keypair(pk, sk);
	memset(&in, 0, sizeof in);
	in.dir = dir;
	in.name = "fuzz";
	in.role = ROLE_CITY;
	in.scope = "110000";
	memcpy(in.root_pub, pk, sizeof pk);
	in.profile = PROFILE_GENERIC;
	if (replica_init(&in, node, err, sizeof err) != CN_OK ||
	    replica_open(dir, 0, &rep, err, sizeof err) != CN_OK) {
		fprintf(stderr, "fuzz_bundle: %s\n", err);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned runs;
	struct bundle_report br;
	FILE *f;

	if (rep == NULL)
		setup();
	unlink(path);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	bundle_import(rep, path, &br, NULL, NULL);
	if (++runs % 256 == 0) {
		uint8_t d[CN_KEY_LEN];
		struct replica_counts cnt;
		char prob[256];
		if (replica_verify(rep, d, &cnt, prob, sizeof prob) != CN_OK) {
			fprintf(stderr, "fuzz_bundle: verify: %s\n", prob);
			abort();
		}
	}
	return 0;
}
