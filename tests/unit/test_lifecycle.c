/*
 * test_lifecycle.c — the card-lifecycle rules of the fold (DESIGN §6):
 * reissue steps, the loss period, refund lifting the loss, temporary cards,
 * leavers, stickers and guardian claims.  The same crafted entries from
 * three origins are ingested into fresh replicas in several orders (fast
 * path and re-fold); every order must give the same digest and decisions.
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

#define SCHOOL_A "110105-0001"
#define SCHOOL_B "110105-0002"
#define DAY_MS 86400000ull

static struct tu_deploy dep;
static struct tu_node nx, ny, nz; /* city, service, service */

static uint64_t base_ms;

static uint64_t at(uint64_t ms)
{
	return (base_ms + ms) << 16;
}

static void add(struct tu_chain *c, struct entry *e, uint64_t ms)
{
	tu_chain_add(c, e, at(ms));
}

static void put(struct entry *e, const char *edu, const char *school,
		uint8_t g)
{
	tu_put(e, edu, edu, school);
	memset(e->body.gdd, g, 32);
	e->body.has |= BF(BK_GDD);
}

static void step(struct entry *e, const char *edu, const char *card,
		 uint8_t state, uint8_t delivery)
{
	tu_cardop(e, OP_REISSUE_UPDATE, edu, card);
	e->body.state = state;
	e->body.has |= BF(BK_STATE);
	if (delivery) {
		e->body.delivery = delivery;
		e->body.has |= BF(BK_DELIVERY);
	}
}

static void claim(struct entry *e, const char *edu, uint8_t g)
{
	memset(e, 0, sizeof *e);
	e->op = OP_GUARDIAN_CLAIM;
	snprintf(e->key, sizeof e->key, "%s", edu);
	memset(e->body.gdd, g, 32);
	e->body.has = BF(BK_GDD);
}

static struct tu_chain cx, cy, cz;

/*
 * The story, by time (ms after base):
 *  X (city): students S1..S5 (guardian 7 for S1-S4, 8 for S5), cards C1,
 *    C2, C4, C5; C1 and C2 lost at 100; temporary T1, T2 at 200; leave S5
 *    at 300, then a card for S5 at 301 (refused); sticker on C4 with a
 *    wrong number (refused) and the right one.
 *  Y (service): C1 requested too early (refused: loss_period), then after
 *    10 days requested (home), paid; refund at +5; C2 requested, paid,
 *    refund at +3.
 *  Z (service): C1 production at +4 (wins: Y's refund is refused), C2
 *    production at +4 (loses: refund first); claims by guardian 7 for S1..S4
 *    and a claim by guardian 9 (not_guardian).
 */
static void build(void)
{
	struct entry e;
	uint64_t d10 = 10 * DAY_MS + 1000;

	cx.n = &nx;
	cy.n = &ny;
	cz.n = &nz;
	put(&e, "S1", SCHOOL_A, 7); add(&cx, &e, 1);
	put(&e, "S2", SCHOOL_A, 7); add(&cx, &e, 2);
	put(&e, "S3", SCHOOL_A, 7); add(&cx, &e, 3);
	put(&e, "S4", SCHOOL_A, 7); add(&cx, &e, 4);
	put(&e, "S5", SCHOOL_A, 8); add(&cx, &e, 5);
	tu_issue(&e, "S1", "C1", 0x04000001); add(&cx, &e, 10);
	tu_issue(&e, "S2", "C2", 0x04000002); add(&cx, &e, 11);
	tu_issue(&e, "S4", "C4", 0x04000004); add(&cx, &e, 12);
	tu_issue(&e, "S5", "C5", 0x04000005); add(&cx, &e, 13);
	tu_issue(&e, "S1", "T0", 0x04000010);
	e.body.kind = KIND_TEMPORARY; add(&cx, &e, 50); /* not_lost */
	tu_cardop(&e, OP_CARD_LOST, "S1", "C1"); add(&cx, &e, 100);
	tu_cardop(&e, OP_CARD_LOST, "S2", "C2"); add(&cx, &e, 100);
	tu_issue(&e, "S1", "T1", 0x04000011);
	e.body.kind = KIND_TEMPORARY; add(&cx, &e, 200);
	tu_issue(&e, "S2", "T2", 0x04000012);
	e.body.kind = KIND_TEMPORARY; add(&cx, &e, 200);
	memset(&e, 0, sizeof e);
	e.op = OP_STUDENT_LEAVE;
	strcpy(e.key, "S5");
	strcpy(e.body.reason, "graduated");
	e.body.has = BF(BK_REASON);
	add(&cx, &e, 300);
	tu_issue(&e, "S5", "C5B", 0x04000015); add(&cx, &e, 301);
	tu_cardop(&e, OP_CARD_STICKER, "S4", "C4");
	strcpy(e.body.number, "C9");
	strcpy(e.body.school, SCHOOL_B);
	e.body.has |= BF(BK_NUMBER) | BF(BK_SCHOOL);
	add(&cx, &e, 400);
	strcpy(e.body.number, "C4");
	e.body.expires = 20300630;
	e.body.has |= BF(BK_EXPIRES);
	add(&cx, &e, 401);

	step(&e, "S1", "C1", REISSUE_REQUESTED, DELIVERY_HOME);
	add(&cy, &e, 500); /* loss_period */
	add(&cy, &e, 100 + d10);
	step(&e, "S1", "C1", REISSUE_PAID, 0); add(&cy, &e, 100 + d10 + 2);
	step(&e, "S1", "C1", REISSUE_REFUNDED, 0); add(&cy, &e, 100 + d10 + 5);
	step(&e, "S2", "C2", REISSUE_REQUESTED, DELIVERY_SCHOOL);
	add(&cy, &e, 100 + d10);
	step(&e, "S2", "C2", REISSUE_PAID, 0); add(&cy, &e, 100 + d10 + 2);
	step(&e, "S2", "C2", REISSUE_REFUNDED, 0); add(&cy, &e, 100 + d10 + 3);

	step(&e, "S1", "C1", REISSUE_IN_PRODUCTION, 0);
	add(&cz, &e, 100 + d10 + 4);
	step(&e, "S2", "C2", REISSUE_IN_PRODUCTION, 0);
	add(&cz, &e, 100 + d10 + 4);
	claim(&e, "S3", 7); add(&cz, &e, 600);
	claim(&e, "S1", 7); add(&cz, &e, 601);
	claim(&e, "S4", 7); add(&cz, &e, 602);
	claim(&e, "S2", 7); add(&cz, &e, 603);
	claim(&e, "S5", 9); add(&cz, &e, 604); /* not_guardian */
	claim(&e, "S1", 7); add(&cz, &e, 605); /* claimed */
}

static void ingest(struct tu_node *to, struct tu_chain *c, size_t from,
		   size_t n)
{
	tu_chain_ingest(to, c, from, n);
}

static const char *decision_of(struct tu_node *n, const char *card)
{
	struct check_result res;

	CHECK_EQ(replica_check_card(n->r, card, base_ms + 30 * DAY_MS, &res), 0);
	return policy_decision_name(res.decision);
}

static void check_outcome(struct tu_node *n)
{
	struct student_state st;
	int idx;

	/* C1: production started before Y's refund: still lost, T1 lives. */
	CHECK_EQ(replica_card(n->r, "C1", &st, &idx), 0);
	CHECK_EQ(st.cards[idx].reissue_state, REISSUE_IN_PRODUCTION);
	CHECK_STR(decision_of(n, "C1"), "lost");
	CHECK_STR(decision_of(n, "T1"), "accept");
	/* C2: the refund came first: loss lifted, T2 expired. */
	CHECK_EQ(replica_card(n->r, "C2", &st, &idx), 0);
	CHECK_EQ(st.cards[idx].reissue_state, REISSUE_REFUNDED);
	CHECK_STR(decision_of(n, "C2"), "accept");
	CHECK_STR(decision_of(n, "T2"), "expired");
	CHECK_STR(decision_of(n, "T0"), "unknown");
	/* Leaver. */
	CHECK_EQ(replica_student(n->r, "S5", &st), 0);
	CHECK_EQ(st.left, LEAVE_GRADUATED);
	CHECK_STR(decision_of(n, "C5"), "frozen");
	CHECK_STR(decision_of(n, "C5B"), "unknown");
	/* Sticker: the right number moved S4 and set the validity. */
	CHECK_EQ(replica_card(n->r, "C4", &st, &idx), 0);
	CHECK_STR(st.school, SCHOOL_B);
	CHECK_EQ(st.cards[idx].expires, 20300630);
	/* Claims: S1..S4 claimed by 7, S5 not. */
	CHECK_EQ(replica_student(n->r, "S2", &st), 0);
	CHECK(st.claimed);
	CHECK_EQ(replica_student(n->r, "S5", &st), 0);
	CHECK(!st.claimed);
}

/* The refusals, with their reasons, are what every order gives too. */
static void check_refusals(struct tu_node *n)
{
	int r[FR__COUNT];

	CHECK_EQ(tu_refusals(n, r), 8);
	CHECK_EQ(r[FR_NOT_LOST], 1);
	CHECK_EQ(r[FR_LOSS_PERIOD], 1);
	CHECK_EQ(r[FR_BAD_TRANSITION], 2);
	CHECK_EQ(r[FR_STUDENT_LEFT], 1);
	CHECK_EQ(r[FR_STICKER_NUMBER], 1);
	CHECK_EQ(r[FR_NOT_GUARDIAN], 1);
	CHECK_EQ(r[FR_CLAIMED], 1);
}

static void fresh(struct tu_node *n, const char *tag)
{
	tu_node_init(&dep, n, tag, ROLE_READER, "reader-x", true);
	tu_cert_install(&dep, n, nx.id, ROLE_CITY, "110000");
	tu_cert_install(&dep, n, ny.id, ROLE_SERVICE, "svc-y");
	tu_cert_install(&dep, n, nz.id, ROLE_SERVICE, "svc-z");
}

static void test_orders(void)
{
	struct tu_node r[4];
	char d[4][65];

	/* 0: X, Y, Z — mostly the fast path. */
	fresh(&r[0], "order0");
	ingest(&r[0], &cx, 0, cx.k);
	ingest(&r[0], &cy, 0, cy.k);
	ingest(&r[0], &cz, 0, cz.k);
	/* 1: Z, Y, X — every entry waits for its student, then re-folds. */
	fresh(&r[1], "order1");
	ingest(&r[1], &cz, 0, cz.k);
	ingest(&r[1], &cy, 0, cy.k);
	ingest(&r[1], &cx, 0, cx.k);
	/* 2: one entry at a time, round robin. */
	fresh(&r[2], "order2");
	for (size_t i = 0; i < TU_CHAIN_MAX; i++) {
		if (i < cz.k)
			ingest(&r[2], &cz, i, 1);
		if (i < cx.k)
			ingest(&r[2], &cx, i, 1);
		if (i < cy.k)
			ingest(&r[2], &cy, i, 1);
	}
	/* 3: Y, half of X, Z, the rest of X. */
	fresh(&r[3], "order3");
	ingest(&r[3], &cy, 0, cy.k);
	ingest(&r[3], &cx, 0, cx.k / 2);
	ingest(&r[3], &cz, 0, cz.k);
	ingest(&r[3], &cx, cx.k / 2, cx.k - cx.k / 2);
	for (int i = 0; i < 4; i++) {
		tu_digest(&r[i], d[i]);
		if (i)
			CHECK_STR(d[i], d[0]);
		check_outcome(&r[i]);
		check_refusals(&r[i]);
	}
	for (int i = 0; i < 4; i++)
		tu_node_close(&r[i]);
	printf("lifecycle: four orders, one digest, the same decisions ok\n");
}

/* Claims of one guardian across students rank in fold order. */
static void test_claim_rank(void)
{
	struct student_state a, b;

	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	a.claim_hlc = b.claim_hlc = 5;
	memset(a.claim_origin, 1, 32);
	memset(b.claim_origin, 2, 32);
	CHECK(fold_claim_cmp(&a, &b) < 0);
	b.claim_hlc = 4;
	CHECK(fold_claim_cmp(&a, &b) > 0);
	printf("lifecycle: claim ranking ok\n");
}

static void test_fees(void)
{
	struct policy_fee f;

	policy_reissue_fee(PROFILE_BEIJING, RR_LOST, true, &f);
	CHECK_EQ(f.card, 1500);
	CHECK_EQ(f.courier_max, 1500);
	CHECK_EQ(f.delivery, 0);
	policy_reissue_fee(PROFILE_SUZHOU, RR_FAULTY, true, &f);
	CHECK_EQ(f.card, 0);
	CHECK_EQ(f.delivery, 1200);
	policy_reissue_fee(PROFILE_SUZHOU, RR_DAMAGED, false, &f);
	CHECK_EQ(f.card, 2000);
	CHECK_EQ(f.delivery, 0);
	/* 2025-03-07 is a Friday: to Monday the 10th is one working day. */
	CHECK_EQ(policy_working_days(NULL, 20250307, 20250310), 1);
	CHECK_EQ(policy_working_days(NULL, 20250310, 20250407), 20);
	CHECK_EQ(policy_working_days(NULL, 20250310, 20250310), 0);
	printf("lifecycle: fees and working days ok\n");
}

int main(void)
{
	tu_deploy_init(&dep);
	tu_node_init(&dep, &nx, "x", ROLE_CITY, "110000", true);
	tu_node_init(&dep, &ny, "y", ROLE_SERVICE, "svc-y", true);
	tu_node_init(&dep, &nz, "z", ROLE_SERVICE, "svc-z", true);
	base_ms = util_now_ms() - 60 * DAY_MS;
	build();
	test_orders();
	test_claim_rank();
	test_fees();
	tu_chain_free(&cx);
	tu_chain_free(&cy);
	tu_chain_free(&cz);
	tu_node_close(&nx);
	tu_node_close(&ny);
	tu_node_close(&nz);
	return 0;
}
