/*
 * testutil.h — helpers shared by the unit tests: temporary directories under
 * $CN_TEST_TMP (or /tmp), removed again at exit, and a seeded PRNG.
 */
#ifndef CN_TESTUTIL_H
#define CN_TESTUTIL_H

#include <stdint.h>

/* A fresh empty directory; removed with its contents at exit.  The returned
 * string lives until exit. */
const char *tu_tmpdir(const char *tag);
/* Remove every directory made so far (also done at exit). */
void tu_tmpdir_cleanup(void);

/* xorshift64* — deterministic per seed, never 0. */
struct tu_rng { uint64_t s; };
void tu_rng_seed(struct tu_rng *r, uint64_t seed);
uint64_t tu_rng_next(struct tu_rng *r);
/* Uniform in [0, n). */
uint32_t tu_rng_below(struct tu_rng *r, uint32_t n);

#endif

/* ---- deployments of real replicas in temp dirs ---------------------- */
#include <stdbool.h>
#include <stddef.h>

#include "replica.h"

struct tu_deploy {
	uint8_t root_pk[32];
	uint8_t root_sk[64];
	uint8_t secret[32];
};

struct tu_node {
	char dir[512];
	struct replica *r;
	uint8_t id[32];
	uint8_t sk[64];
};

void tu_deploy_init(struct tu_deploy *d);
/* A new node in a fresh data dir; with_cert: install a certificate valid
 * from 2000 to 2199. */
void tu_node_init(const struct tu_deploy *d, struct tu_node *n, const char *tag,
		  uint8_t role, const char *scope, bool with_cert);
void tu_node_close(struct tu_node *n);
/* Install a certificate for `id` in n (signed by the deployment root). */
void tu_cert_install(const struct tu_deploy *d, struct tu_node *n,
		     const uint8_t id[32], uint8_t role, const char *scope);
/* Copies of wire entries, in the order given: tu_batch_add() is a
 * replica_entry_cb. */
struct tu_batch {
	uint8_t **ents;
	size_t *lens;
	size_t n, cap;
};
int tu_batch_add(void *ctx, uint64_t seq, const uint8_t *wire, size_t len);
void tu_batch_free(struct tu_batch *b);
/* Copy every certificate, revocation and entry `from` holds beyond what
 * `to` holds into `to`; returns the ingest report (summed). */
struct ingest_report tu_sync(struct tu_node *from, struct tu_node *to);
/* State digest as a hex string (static buffer per call site: copy it). */
void tu_digest(struct tu_node *n, char out[65]);

/* Entry templates. */
void tu_put(struct entry *e, const char *edu, const char *name, const char *school);
void tu_issue(struct entry *e, const char *edu, const char *card, uint32_t uid);
void tu_cardop(struct entry *e, uint8_t op, const char *edu, const char *card);
/* Author one entry, failing the test unless the result is `want`. */
void tu_author(struct tu_node *n, struct entry *e, int want);

/* Craft a wire entry as node n without the replica: full control over seq,
 * prev and hlc.  Returns the payload hash in hash_out (may be NULL). */
size_t tu_craft(const struct tu_node *n, struct entry *e, uint64_t seq,
		const uint8_t prev[32], uint64_t hlc, bool sign, uint8_t *out,
		size_t cap, uint8_t hash_out[32]);

/* One origin's chain of crafted, signed entries (tu_craft), kept as wire
 * copies so that a test can ingest them in any order it likes.  Zero it and
 * set n before the first tu_chain_add(). */
#define TU_CHAIN_MAX 64
struct tu_chain {
	struct tu_node *n;
	uint8_t *w[TU_CHAIN_MAX];
	size_t len[TU_CHAIN_MAX];
	size_t k;
	uint8_t prev[32];
};
/* Append `e` at `hlc` as the chain's next entry (seq k + 1). */
void tu_chain_add(struct tu_chain *c, struct entry *e, uint64_t hlc);
/* Ingest entries from .. from + n - 1 of the chain into `to`, failing the
 * test unless every one verifies and follows its origin's head. */
void tu_chain_ingest(struct tu_node *to, const struct tu_chain *c,
		     size_t from, size_t n);
void tu_chain_free(struct tu_chain *c);

/* How many entries `n` holds refused, by reason (fold.h FR_*), into
 * counts[FR__COUNT]; returns the total. */
int tu_refusals(struct tu_node *n, int counts[FR__COUNT]);
