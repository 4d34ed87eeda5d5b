/*
 * authority.h — root-signed node certificates and revocations, and the
 * role/scope table of DESIGN §5 that the fold consults for every entry.
 *
 * Certificate  = CBOR [payload: bstr, sig: bstr(64)], payload the canonical
 *   map {0: v=1, 1: node bstr32, 2: name tstr, 3: role uint, 4: scope tstr,
 *        5: not_before ms, 6: not_after ms, 7: serial uint},
 *   sig = Ed25519 by the root over "cardnode-cert-v1" || BLAKE2b-256(payload).
 * Revocation   = CBOR [payload, sig], payload {0: v=1, 1: node bstr32,
 *   2: valid_through_seq uint, 3: time ms}, sig by the root over
 *   "cardnode-revoke-v1" || BLAKE2b-256(payload).
 */
#ifndef CN_AUTHORITY_H
#define CN_AUTHORITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cn.h"
#include "fold.h"

enum role {
	ROLE_NONE = 0, ROLE_CITY = 1, ROLE_DISTRICT = 2, ROLE_SCHOOL = 3,
	ROLE_SERVICE = 4, ROLE_READER = 5
};

#define CERT_NAME_MAX 64
#define CERT_SCOPE_MAX 32
#define CERT_MAX 512 /* encoded bytes */

struct cert {
	uint8_t node[CN_KEY_LEN];
	char name[CERT_NAME_MAX + 1];
	uint8_t role;
	char scope[CERT_SCOPE_MAX + 1];
	uint64_t not_before; /* ms since epoch */
	uint64_t not_after;
	uint64_t serial;
};

struct revocation {
	uint8_t node[CN_KEY_LEN];
	uint64_t valid_through_seq; /* entries with seq above lose effect */
	uint64_t time;
};

const char *authority_role_name(uint8_t role); /* "city" …, NULL if bad */
int authority_role_parse(const char *s, uint8_t *role); /* 0 / CN_ERR_INVAL */
/* Is `scope` well-formed for `role`? (city: 2–6 digit division code;
 * district: 6 digits; school: DDDDDD-NNNN; service, reader: a site name of
 * [A-Za-z0-9_-]{1,32}). */
bool authority_scope_valid(uint8_t role, const char *scope);
/* Does a node of `role`/`scope` govern students of `school`? */
bool authority_scope_covers(uint8_t role, const char *scope,
			    const char *school);

/* Encode and sign with the root's 64-byte secret key. */
int authority_cert_sign(const struct cert *c, const uint8_t root_sk[static 64],
			uint8_t *buf, size_t cap, size_t *len);
/* Decode strictly and verify against root_pk: CN_ERR_MALFORMED,
 * CN_ERR_BADSIG (*why set). */
__attribute__((warn_unused_result)) int
authority_cert_open(const uint8_t *buf, size_t len,
		    const uint8_t root_pk[static CN_KEY_LEN], struct cert *c,
		    const char **why);
int authority_revocation_sign(const struct revocation *rv,
			      const uint8_t root_sk[static 64], uint8_t *buf,
			      size_t cap, size_t *len);
__attribute__((warn_unused_result)) int
authority_revocation_open(const uint8_t *buf, size_t len,
			  const uint8_t root_pk[static CN_KEY_LEN],
			  struct revocation *rv, const char **why);

/* The in-memory table of what one replica knows. */
struct authority;

int authority_new(const uint8_t root_pk[static CN_KEY_LEN],
		  struct authority **out);
void authority_free(struct authority *a);
/* Add a verified certificate / revocation.  Returns 0, or CN_ERR_EXISTS if
 * the table already holds an identical one (nothing changes). */
int authority_add_cert(struct authority *a, const struct cert *c);
int authority_add_revocation(struct authority *a, const struct revocation *rv);

/* The certificate of `node` valid at `ms`, else any certificate of it, else
 * NULL. */
const struct cert *authority_cert_of(const struct authority *a,
				     const uint8_t node[static CN_KEY_LEN],
				     uint64_t ms);
/* Lowest revoked-after seq of `node`, or UINT64_MAX if not revoked. */
uint64_t authority_revoked_after(const struct authority *a,
				 const uint8_t node[static CN_KEY_LEN]);

/* The fold's authorization callback (fold_authorize_fn) with ctx = the
 * table.  `st` may be NULL for node-level ops (note, watermark). */
enum fold_reason authority_authorize(void *ctx, const struct entry *e,
				     const struct student_state *st);

#endif
