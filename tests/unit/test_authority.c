/*
 * test_authority.c — certificates, revocations and the role/scope table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "authority.h"
#include "check.h"
#include "hlc.h"
#include "replica.h"
#include "testutil.h"
#include "util.h"

static void make_cert(struct cert *c, const uint8_t node[32], uint8_t role,
		      const char *scope)
{
	memset(c, 0, sizeof *c);
	memcpy(c->node, node, 32);
	snprintf(c->name, sizeof c->name, "test");
	c->role = role;
	snprintf(c->scope, sizeof c->scope, "%s", scope);
	c->not_before = 1000;
	c->not_after = 2000;
	c->serial = 7;
}

static void test_scopes(void)
{
	CHECK(authority_scope_valid(ROLE_CITY, "110000"));
	CHECK(authority_scope_valid(ROLE_CITY, "11"));
	CHECK(!authority_scope_valid(ROLE_CITY, "1100001"));
	CHECK(!authority_scope_valid(ROLE_CITY, "11000"));
	CHECK(authority_scope_valid(ROLE_DISTRICT, "110105"));
	CHECK(!authority_scope_valid(ROLE_DISTRICT, "11010"));
	CHECK(!authority_scope_valid(ROLE_DISTRICT, "11010a"));
	CHECK(authority_scope_valid(ROLE_SCHOOL, "110105-0001"));
	CHECK(!authority_scope_valid(ROLE_SCHOOL, "110105_0001"));
	CHECK(!authority_scope_valid(ROLE_SCHOOL, "110105-001"));
	CHECK(authority_scope_valid(ROLE_SERVICE, "window-3"));
	CHECK(!authority_scope_valid(ROLE_SERVICE, "window 3"));
	CHECK(!authority_scope_valid(ROLE_READER, ""));
	CHECK(authority_scope_covers(ROLE_CITY, "110000", "110105-0001"));
	CHECK(!authority_scope_covers(ROLE_CITY, "110000", "320505-0001"));
	CHECK(authority_scope_covers(ROLE_CITY, "320500", "320505-0001"));
	CHECK(!authority_scope_covers(ROLE_CITY, "320500", "320405-0001"));
	CHECK(authority_scope_covers(ROLE_DISTRICT, "110105", "110105-0001"));
	CHECK(!authority_scope_covers(ROLE_DISTRICT, "110105", "110106-0001"));
	CHECK(authority_scope_covers(ROLE_SCHOOL, "110105-0001", "110105-0001"));
	CHECK(!authority_scope_covers(ROLE_SCHOOL, "110105-0001", "110105-0002"));
	CHECK(!authority_scope_covers(ROLE_SERVICE, "window-3", "110105-0001"));
	printf("authority: scopes ok\n");
}

static void test_cert_codec(void)
{
	uint8_t rpk[32], rsk[64], opk[32], osk[64], node[32] = {1, 2, 3};
	uint8_t buf[CERT_MAX];
	struct cert c, got;
	const char *why = NULL;
	size_t len;

	crypto_sign_keypair(rpk, rsk);
	crypto_sign_keypair(opk, osk);
	make_cert(&c, node, ROLE_SCHOOL, "110105-0001");
	CHECK_EQ(authority_cert_sign(&c, rsk, buf, sizeof buf, &len), 0);
	CHECK_EQ(authority_cert_open(buf, len, rpk, &got, &why), 0);
	CHECK_MEM(&got, &c, sizeof c);
	/* Another root: refused. */
	CHECK_EQ(authority_cert_open(buf, len, opk, &got, &why), CN_ERR_BADSIG);
	/* Any changed byte: refused, never crashes. */
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1 << bit);
			CHECK(authority_cert_open(buf, len, rpk, &got, &why) != CN_OK);
			buf[i] ^= (uint8_t)(1 << bit);
		}
	}
	/* Every truncation: refused. */
	for (size_t l = 0; l < len; l++)
		CHECK(authority_cert_open(buf, l, rpk, &got, &why) != CN_OK);
	/* A well-signed certificate with a bad scope for its role. */
	make_cert(&c, node, ROLE_SCHOOL, "110105");
	CHECK_EQ(authority_cert_sign(&c, rsk, buf, sizeof buf, &len), CN_ERR_INVAL);
	printf("authority: certificate codec ok\n");
}

static void test_table(void)
{
	uint8_t rpk[32], rsk[64], node[32] = {9};
	struct authority *a;
	struct cert c;
	struct revocation rv;
	struct entry e;
	struct student_state st;

	crypto_sign_keypair(rpk, rsk);
	CHECK_EQ(authority_new(rpk, &a), 0);
	make_cert(&c, node, ROLE_DISTRICT, "110105");
	CHECK_EQ(authority_add_cert(a, &c), 0);
	CHECK_EQ(authority_add_cert(a, &c), CN_ERR_EXISTS);
	fold_init(&st, "S1");
	st.known = true;
	strcpy(st.school, "110105-0009");
	memset(&e, 0, sizeof e);
	memcpy(e.origin, node, 32);
	e.seq = 5;
	e.op = OP_CARD_FREEZE;
	strcpy(e.key, "S1");
	e.hlc = (uint64_t)1500 << 16;
	CHECK_EQ(authority_authorize(a, &e, &st), FR_APPLIED);
	/* Outside the certificate's validity. */
	e.hlc = (uint64_t)2001 << 16;
	CHECK_EQ(authority_authorize(a, &e, &st), FR_CERT_TIME);
	e.hlc = (uint64_t)1500 << 16;
	/* Another district. */
	strcpy(st.school, "110106-0001");
	CHECK_EQ(authority_authorize(a, &e, &st), FR_SCOPE);
	strcpy(st.school, "110105-0009");
	/* Watermarks are the city's. */
	e.op = OP_CITY_WATERMARK;
	e.key[0] = '\0';
	CHECK_EQ(authority_authorize(a, &e, NULL), FR_ROLE);
	e.op = OP_CARD_FREEZE;
	strcpy(e.key, "S1");
	/* Revoked after seq 4. */
	memset(&rv, 0, sizeof rv);
	memcpy(rv.node, node, 32);
	rv.valid_through_seq = 4;
	CHECK_EQ(authority_add_revocation(a, &rv), 0);
	CHECK_EQ(authority_authorize(a, &e, &st), FR_REVOKED);
	e.seq = 4;
	CHECK_EQ(authority_authorize(a, &e, &st), FR_APPLIED);
	/* Unknown node. */
	e.origin[0] ^= 1;
	CHECK_EQ(authority_authorize(a, &e, &st), FR_NO_CERT);
	authority_free(a);
	printf("authority: role, scope, validity and revocation ok\n");
}

/* A district's entries hold inside its district only, on a real replica. */
static void test_district_replica(void)
{
	struct tu_deploy dep;
	struct tu_node city, dist;
	struct entry e;
	size_t bad;
	enum fold_reason why;

	tu_deploy_init(&dep);
	tu_node_init(&dep, &city, "acity", ROLE_CITY, "110000", true);
	tu_node_init(&dep, &dist, "adist", ROLE_DISTRICT, "110105", true);
	tu_put(&e, "D1", "甲", "110105-0001"); tu_author(&city, &e, 0);
	tu_put(&e, "D2", "乙", "110106-0001"); tu_author(&city, &e, 0);
	tu_sync(&city, &dist);
	tu_issue(&e, "D1", "DC1", 0x11111111); tu_author(&dist, &e, 0);
	tu_issue(&e, "D2", "DC2", 0x22222222);
	CHECK_EQ(replica_author(dist.r, &e, 1, &bad, &why), CN_ERR_REFUSED);
	CHECK_EQ(why, FR_SCOPE);
	/* A new student of another district: refused by the school it names. */
	tu_put(&e, "D3", "丙", "110106-0002");
	CHECK_EQ(replica_author(dist.r, &e, 1, &bad, &why), CN_ERR_REFUSED);
	CHECK_EQ(why, FR_SCOPE);
	tu_sync(&dist, &city);
	{
		struct student_state st;
		int idx;
		CHECK_EQ(replica_card(city.r, "DC1", &st, &idx), 0);
		CHECK_STR(st.edu_id, "D1");
	}
	tu_node_close(&city);
	tu_node_close(&dist);
	printf("authority: district scope on replicas ok\n");
}

/* A node without a certificate cannot author anything that takes effect,
 * and a data dir open to others is refused with advice. */
static void test_no_cert_and_modes(void)
{
	struct tu_deploy dep;
	struct tu_node n;
	struct entry e;
	struct replica *r;
	char err[512], path[600];

	tu_deploy_init(&dep);
	tu_node_init(&dep, &n, "nocert", ROLE_CITY, "110000", false);
	tu_put(&e, "N1", "丁", "110105-0001");
	tu_author(&n, &e, CN_ERR_REFUSED);
	tu_node_close(&n);
	CHECK_EQ(chmod(n.dir, 0755), 0);
	CHECK_EQ(replica_open(n.dir, 0, &r, err, sizeof err), CN_ERR_PERM);
	CHECK(strstr(err, "chmod 700") != NULL);
	CHECK_EQ(chmod(n.dir, 0700), 0);
	snprintf(path, sizeof path, "%s/identity.key", n.dir);
	CHECK_EQ(chmod(path, 0644), 0);
	CHECK_EQ(replica_open(n.dir, 0, &r, err, sizeof err), CN_ERR_PERM);
	CHECK(strstr(err, "chmod 600") != NULL);
	CHECK_EQ(chmod(path, 0600), 0);
	CHECK_EQ(replica_open(n.dir, 0, &r, err, sizeof err), 0);
	replica_close(r);
	printf("authority: no certificate, file modes ok\n");
}

/* An expired certificate: its node's new entries are refused everywhere. */
static void test_expired_cert(void)
{
	struct tu_deploy dep;
	struct tu_node n;
	struct entry e;
	struct cert c;
	uint8_t buf[CERT_MAX];
	size_t len, bad;
	const char *why = NULL;
	enum fold_reason fr;

	tu_deploy_init(&dep);
	tu_node_init(&dep, &n, "expired", ROLE_CITY, "110000", false);
	memset(&c, 0, sizeof c);
	memcpy(c.node, n.id, 32);
	strcpy(c.name, "expired");
	c.role = ROLE_CITY;
	strcpy(c.scope, "110000");
	c.not_before = 946684800000ull;  /* 2000 */
	c.not_after = 978307200000ull;   /* 2001 */
	c.serial = 1;
	CHECK_EQ(authority_cert_sign(&c, dep.root_sk, buf, sizeof buf, &len), 0);
	CHECK_EQ(replica_cert_install(n.r, buf, len, &why), 0);
	tu_put(&e, "X1", "甲", "110105-0001");
	CHECK_EQ(replica_author(n.r, &e, 1, &bad, &fr), CN_ERR_REFUSED);
	CHECK_EQ(fr, FR_CERT_TIME);
	tu_node_close(&n);
	printf("authority: expired certificate refused ok\n");
}

int main(void)
{
	CHECK(sodium_init() >= 0);
	test_scopes();
	test_cert_codec();
	test_table();
	test_district_replica();
	test_no_cert_and_modes();
	test_expired_cert();
	return 0;
}
