/*
 * test_auth.c — the Jiangsu identity authentication in the fold: submit,
 * approve and reject with their roles and scopes, reviews of an earlier
 * submission, concurrent reviews, and what a record under review may not
 * do.  Crafted entries of five nodes are ingested into fresh replicas in
 * several orders (fast path and re-fold): one digest, one outcome.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authority.h"
#include "check.h"
#include "hlc.h"
#include "replica.h"
#include "testutil.h"
#include "util.h"

#define SCHOOL_A "320502-0001"
#define SCHOOL_B "320502-0002"
#define NCHAIN 5

static struct tu_deploy dep;
/* school A, school B, district, service, city */
static struct tu_node na, nb, nd, nv, nc;

static struct tu_chain ca, cb, cd, cv, cc;
static struct tu_chain *chains[NCHAIN] = { &ca, &cb, &cd, &cv, &cc };
static uint64_t base_ms;

static uint64_t at(uint64_t ms)
{
	return (base_ms + ms) << 16;
}

static void add(struct tu_chain *c, struct entry *e, uint64_t ms)
{
	tu_chain_add(c, e, at(ms));
}

static void submit(struct entry *e, const char *key, uint8_t person,
		   const char *name, const char *school)
{
	memset(e, 0, sizeof *e);
	e->op = OP_AUTH_SUBMIT;
	snprintf(e->key, sizeof e->key, "%s", key);
	e->body.person = person;
	snprintf(e->body.name, sizeof e->body.name, "%s", name);
	snprintf(e->body.school, sizeof e->body.school, "%s", school);
	memset(e->body.idd, key[1], sizeof e->body.idd);
	e->body.has = BF(BK_PERSON) | BF(BK_NAME) | BF(BK_SCHOOL) | BF(BK_IDD);
	if (person == PERSON_STUDENT) {
		e->body.grade = 3;
		strcpy(e->body.class_, "3-2");
		e->body.since = 2023;
		memset(e->body.gdd, 0x47, sizeof e->body.gdd);
		e->body.has |= BF(BK_GRADE) | BF(BK_CLASS) | BF(BK_SINCE) |
			       BF(BK_GDD);
	} else {
		e->body.since = 2009;
		strcpy(e->body.subject, "maths");
		e->body.has |= BF(BK_SINCE) | BF(BK_SUBJECT);
	}
}

static void review(struct entry *e, uint8_t op, const char *key,
		   uint8_t reviewer, uint64_t submitted_ms)
{
	memset(e, 0, sizeof *e);
	e->op = op;
	snprintf(e->key, sizeof e->key, "%s", key);
	e->body.reviewer = reviewer;
	e->body.submission = at(submitted_ms);
	e->body.has = BF(BK_REVIEWER) | BF(BK_SUBMISSION);
	if (op == OP_AUTH_REJECT) {
		strcpy(e->body.reason, "class does not match the register");
		e->body.has |= BF(BK_REASON);
	}
	strcpy(e->actor, "teacher-wang");
}

/*
 * The story (ms after base):
 *  P1 student at A: submitted by the service point (1), approved by A's
 *     class teacher (10); a card from the district (20) and a class change
 *     by A (70) apply; a second submission by the service (60): auth_done.
 *  P2 teacher at A: submitted by A (2); A's class teacher approves (10):
 *     reviewer; the district approves as administrator (11).
 *  P3 student at A: submitted by A (3), rejected by A (10), submitted again
 *     by the service (20) with another name; the district approves the
 *     first submission (25): stale_review; then the second (26).
 *  P4 student at A: submitted by A (4); the district rejects (30) and A
 *     approves (31), neither having seen the other: the rejection stands,
 *     the approval is not_submitted.
 *  P5 student at A: school B submits it (5): scope; A submits (6); B
 *     approves (40): scope; the service approves (41): role; the district
 *     approves as class teacher (42): role; A's student.put (50):
 *     auth_pending; a card from the city (51): unknown_student.
 */
static void build(void)
{
	struct entry e;

	ca.n = &na;
	cb.n = &nb;
	cd.n = &nd;
	cv.n = &nv;
	cc.n = &nc;
	submit(&e, "P1", PERSON_STUDENT, "Li Lei", SCHOOL_A); add(&cv, &e, 1);
	review(&e, OP_AUTH_APPROVE, "P1", REVIEWER_CLASS_TEACHER, 1);
	add(&ca, &e, 10);
	tu_issue(&e, "P1", "C1", 0x04000001); add(&cd, &e, 20);
	submit(&e, "P1", PERSON_STUDENT, "Li Lei", SCHOOL_A); add(&cv, &e, 60);
	tu_put(&e, "P1", "Li Lei", SCHOOL_A);
	strcpy(e.body.class_, "3-4");
	e.body.has = BF(BK_NAME) | BF(BK_CLASS);
	add(&ca, &e, 70);

	submit(&e, "P2", PERSON_TEACHER, "Wang Fang", SCHOOL_A); add(&ca, &e, 2);
	review(&e, OP_AUTH_APPROVE, "P2", REVIEWER_CLASS_TEACHER, 2);
	add(&ca, &e, 10);
	review(&e, OP_AUTH_APPROVE, "P2", REVIEWER_ADMIN, 2); add(&cd, &e, 11);
	tu_put(&e, "P2", "Wang Fang", SCHOOL_A);
	strcpy(e.body.subject, "physics");
	e.body.has = BF(BK_NAME) | BF(BK_SUBJECT);
	add(&ca, &e, 80);

	submit(&e, "P3", PERSON_STUDENT, "Han Meimei", SCHOOL_A); add(&ca, &e, 3);
	review(&e, OP_AUTH_REJECT, "P3", REVIEWER_CLASS_TEACHER, 3);
	add(&ca, &e, 10);
	submit(&e, "P3", PERSON_STUDENT, "Han Mei", SCHOOL_A); add(&cv, &e, 20);
	review(&e, OP_AUTH_APPROVE, "P3", REVIEWER_ADMIN, 3); add(&cd, &e, 25);
	review(&e, OP_AUTH_APPROVE, "P3", REVIEWER_ADMIN, 20); add(&cd, &e, 26);

	submit(&e, "P4", PERSON_STUDENT, "Zhao Lin", SCHOOL_A); add(&ca, &e, 4);
	review(&e, OP_AUTH_REJECT, "P4", REVIEWER_ADMIN, 4); add(&cd, &e, 30);
	review(&e, OP_AUTH_APPROVE, "P4", REVIEWER_CLASS_TEACHER, 4);
	add(&ca, &e, 31);

	submit(&e, "P5", PERSON_STUDENT, "Sun Qi", SCHOOL_A); add(&cb, &e, 5);
	add(&ca, &e, 6);
	review(&e, OP_AUTH_APPROVE, "P5", REVIEWER_ADMIN, 6); add(&cb, &e, 40);
	add(&cv, &e, 41);
	review(&e, OP_AUTH_APPROVE, "P5", REVIEWER_CLASS_TEACHER, 6);
	add(&cd, &e, 42);
	tu_put(&e, "P5", "Sun Qi", SCHOOL_A); add(&ca, &e, 50);
	tu_issue(&e, "P5", "C5", 0x04000005); add(&cc, &e, 51);
}

static void check_outcome(struct tu_node *n)
{
	struct student_state st;
	struct check_result res;
	int idx;

	CHECK_EQ(replica_student(n->r, "P1", &st), 0);
	CHECK(st.known);
	CHECK_EQ(st.auth, AUTH_APPROVED);
	CHECK_EQ(st.reviewer, REVIEWER_CLASS_TEACHER);
	CHECK_EQ(st.person, PERSON_STUDENT);
	CHECK_EQ(st.auth_hlc, at(10));
	CHECK_STR(st.class_, "3-4");
	CHECK_EQ(st.since, 2023);
	CHECK(st.has_idd && st.has_gdd);
	CHECK_EQ(replica_card(n->r, "C1", &st, &idx), 0);
	CHECK_EQ(replica_check_card(n->r, "C1", base_ms + 100, &res), 0);
	CHECK_EQ(res.decision, DEC_ACCEPT);

	CHECK_EQ(replica_student(n->r, "P2", &st), 0);
	CHECK(st.known);
	CHECK_EQ(st.person, PERSON_TEACHER);
	CHECK_EQ(st.reviewer, REVIEWER_ADMIN);
	CHECK_STR(st.subject, "physics"); /* student.put after approval */
	CHECK_EQ(st.since, 2009);

	CHECK_EQ(replica_student(n->r, "P3", &st), 0);
	CHECK(st.known);
	CHECK_STR(st.name, "Han Mei");
	CHECK_EQ(st.submission_hlc, at(20));
	CHECK_STR(st.auth_reason, "");

	CHECK_EQ(replica_student(n->r, "P4", &st), 0);
	CHECK(!st.known);
	CHECK_EQ(st.auth, AUTH_REJECTED);
	CHECK_STR(st.auth_reason, "class does not match the register");
	CHECK_STR(st.name, "Zhao Lin");

	CHECK_EQ(replica_student(n->r, "P5", &st), 0);
	CHECK(!st.known);
	CHECK_EQ(st.auth, AUTH_SUBMITTED);
	CHECK_EQ(st.auth_hlc, at(6));
	CHECK_EQ(st.ncards, 0);
	CHECK_EQ(replica_check_card(n->r, "C5", base_ms + 100, &res), 0);
	CHECK_EQ(res.decision, DEC_UNKNOWN);
}

static void check_refusals(struct tu_node *n)
{
	int r[FR__COUNT];

	CHECK_EQ(tu_refusals(n, r), 10);
	CHECK_EQ(r[FR_AUTH_DONE], 1);
	CHECK_EQ(r[FR_REVIEWER], 1);
	CHECK_EQ(r[FR_STALE_REVIEW], 1);
	CHECK_EQ(r[FR_NOT_SUBMITTED], 1);
	CHECK_EQ(r[FR_SCOPE], 2);
	CHECK_EQ(r[FR_ROLE], 2);
	CHECK_EQ(r[FR_AUTH_PENDING], 1);
	CHECK_EQ(r[FR_UNKNOWN_STUDENT], 1);
}

static void fresh(struct tu_node *n, const char *tag)
{
	tu_node_init(&dep, n, tag, ROLE_READER, "reader-x", true);
	tu_cert_install(&dep, n, na.id, ROLE_SCHOOL, SCHOOL_A);
	tu_cert_install(&dep, n, nb.id, ROLE_SCHOOL, SCHOOL_B);
	tu_cert_install(&dep, n, nd.id, ROLE_DISTRICT, "320502");
	tu_cert_install(&dep, n, nv.id, ROLE_SERVICE, "svc-1");
	tu_cert_install(&dep, n, nc.id, ROLE_CITY, "320500");
}

static void test_orders(void)
{
	struct tu_node r[4];
	char d[4][65];

	/* 0: chain by chain. */
	fresh(&r[0], "auth0");
	for (int c = 0; c < NCHAIN; c++)
		tu_chain_ingest(&r[0], chains[c], 0, chains[c]->k);
	/* 1: backwards: reviews before the submissions they review. */
	fresh(&r[1], "auth1");
	for (int c = NCHAIN; c-- > 0;)
		tu_chain_ingest(&r[1], chains[c], 0, chains[c]->k);
	/* 2: one entry at a time, round robin. */
	fresh(&r[2], "auth2");
	for (size_t i = 0; i < TU_CHAIN_MAX; i++)
		for (int c = 0; c < NCHAIN; c++)
			if (i < chains[c]->k)
				tu_chain_ingest(&r[2], chains[c], i, 1);
	/* 3: the district first, then the rest in halves. */
	fresh(&r[3], "auth3");
	tu_chain_ingest(&r[3], &cd, 0, cd.k);
	for (int c = 0; c < NCHAIN; c++)
		if (chains[c] != &cd)
			tu_chain_ingest(&r[3], chains[c], 0, chains[c]->k / 2);
	for (int c = 0; c < NCHAIN; c++)
		if (chains[c] != &cd)
			tu_chain_ingest(&r[3], chains[c], chains[c]->k / 2,
			       chains[c]->k - chains[c]->k / 2);
	for (int i = 0; i < 4; i++) {
		tu_digest(&r[i], d[i]);
		if (i)
			CHECK_STR(d[i], d[0]);
		check_outcome(&r[i]);
		check_refusals(&r[i]);
		{
			uint8_t vd[CN_KEY_LEN];
			struct replica_counts vc;
			char problem[256] = "";
			int rc = replica_verify(r[i].r, vd, &vc, problem,
						sizeof problem);
			if (rc != 0)
				fprintf(stderr, "verify: %s\n", problem);
			CHECK_EQ(rc, 0);
			/* P4 (rejected) and P5 (under review) are
			 * records, not students yet. */
			CHECK_EQ(vc.students, 3);
		}
	}
	for (int i = 0; i < 4; i++)
		tu_node_close(&r[i]);
	printf("auth: four orders, one digest, the same outcome ok\n");
}

/* The stored form keeps every authentication field, and leaves a state
 * that never went through it byte for byte as before. */
static void test_state_form(void)
{
	struct student_state st, back;
	uint8_t buf[8192];
	size_t n, plain;

	fold_init(&st, "6412458685107853109");
	strcpy(st.name, "Han Mei");
	strcpy(st.school, SCHOOL_A);
	plain = fold_state_encode(&st, buf, sizeof buf);
	CHECK(plain > 0);
	st.person = PERSON_TEACHER;
	st.auth = AUTH_REJECTED;
	st.reviewer = REVIEWER_ADMIN;
	st.since = 2011;
	st.auth_hlc = at(7);
	st.submission_hlc = at(5);
	strcpy(st.subject, "physics");
	strcpy(st.auth_reason, "no such teacher");
	n = fold_state_encode(&st, buf, sizeof buf);
	CHECK(n > plain);
	CHECK_EQ(fold_state_decode(buf, n, &back), 0);
	CHECK_MEM(&back, &st, sizeof st);
	/* A student made by student.put with only a year of enrolment keeps
	 * it too. */
	fold_init(&st, "20250001");
	strcpy(st.school, SCHOOL_A);
	st.known = true;
	st.since = 2024;
	n = fold_state_encode(&st, buf, sizeof buf);
	CHECK_EQ(fold_state_decode(buf, n, &back), 0);
	CHECK_EQ(back.since, 2024);
	CHECK_MEM(&back, &st, sizeof st);
	st.since = 0;
	st.auth = AUTH_REJECTED;
	/* A bad enum in the extension is a corrupt record. */
	st.auth = 9;
	n = fold_state_encode(&st, buf, sizeof buf);
	CHECK_EQ(fold_state_decode(buf, n, &back), CN_ERR_MALFORMED);
	for (size_t cut = 0; cut < plain; cut++)
		CHECK(fold_state_decode(buf, cut, &back) != 0);
	printf("auth: stored form ok\n");
}

int main(void)
{
	tu_deploy_init(&dep);
	tu_node_init(&dep, &na, "a", ROLE_SCHOOL, SCHOOL_A, true);
	tu_node_init(&dep, &nb, "b", ROLE_SCHOOL, SCHOOL_B, true);
	tu_node_init(&dep, &nd, "d", ROLE_DISTRICT, "320502", true);
	tu_node_init(&dep, &nv, "v", ROLE_SERVICE, "svc-1", true);
	tu_node_init(&dep, &nc, "c", ROLE_CITY, "320500", true);
	base_ms = util_now_ms() - 86400000ull;
	build();
	test_orders();
	test_state_form();
	for (int c = 0; c < NCHAIN; c++)
		tu_chain_free(chains[c]);
	tu_node_close(&na);
	tu_node_close(&nb);
	tu_node_close(&nd);
	tu_node_close(&nv);
	tu_node_close(&nc);
	return 0;
}
