/*
 * test_vv.c — version vectors: the sorted array and the strict JSON text
 * form (vv.h).
 */
#include "check.h"
#include "testutil.h"
#include "cn.h"
#include "vv.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char H1[] =
	"0101010101010101010101010101010101010101010101010101010101010101";
static const char H2[] =
	"02020202020202020202020202020202020202020202020202020202020202ff";
static const char H2UP[] =
	"02020202020202020202020202020202020202020202020202020202020202FF";

static void origin_of(uint8_t o[CN_KEY_LEN], uint8_t fill, uint8_t last)
{
	memset(o, fill, CN_KEY_LEN);
	o[CN_KEY_LEN - 1] = last;
}

/* ---- the array ----------------------------------------------------------- */

static void test_set_get(void)
{
	struct vv vv;
	struct tu_rng rng;
	uint8_t o[CN_KEY_LEN];

	vv_init(&vv);
	origin_of(o, 7, 7);
	CHECK_EQ(vv_get(&vv, o), 0);
	CHECK_EQ(vv_set(&vv, o, 42), 0);
	CHECK_EQ(vv_get(&vv, o), 42);
	CHECK_EQ(vv_set(&vv, o, 43), 0); /* replace */
	CHECK_EQ(vv.n, 1);
	CHECK_EQ(vv_get(&vv, o), 43);

	/* Many origins in random order: sorted, no duplicates, all found. */
	tu_rng_seed(&rng, 1);
	for (int i = 0; i < 2000; i++) {
		uint32_t k = tu_rng_below(&rng, 700);

		memset(o, 0, sizeof o);
		o[0] = (uint8_t)(k >> 8);
		o[1] = (uint8_t)k;
		CHECK_EQ(vv_set(&vv, o, (uint64_t)k + 1), 0);
	}
	CHECK(vv.n <= 701);
	for (size_t i = 1; i < vv.n; i++)
		CHECK(memcmp(vv.v[i - 1].origin, vv.v[i].origin, CN_KEY_LEN) < 0);
	for (size_t i = 0; i < vv.n; i++)
		CHECK_EQ(vv_get(&vv, vv.v[i].origin), vv.v[i].seq);
	memset(o, 0, sizeof o);
	o[0] = 0xff;
	CHECK_EQ(vv_get(&vv, o), 0);
	vv_free(&vv);
	CHECK_EQ(vv.n, 0);
	CHECK(vv.v == NULL);
}

/* ---- JSON ---------------------------------------------------------------- */

static int parse(struct vv *vv, const char *text, const char **why)
{
	*why = NULL;
	return vv_parse_json(vv, text, strlen(text), why);
}

static void accept(const char *text, size_t n)
{
	struct vv vv;
	const char *why;
	int rc;

	vv_init(&vv);
	rc = parse(&vv, text, &why);
	if (rc != 0)
		fprintf(stderr, "refused: %s\n  why: %s\n", text, why);
	CHECK_EQ(rc, 0);
	CHECK_EQ(vv.n, n);
	vv_free(&vv);
}

static void refuse(const char *text, int err, const char *why_part)
{
	struct vv vv;
	uint8_t o[CN_KEY_LEN];
	const char *why;
	int rc;

	/* A failed parse leaves the vector as it was. */
	vv_init(&vv);
	origin_of(o, 9, 9);
	CHECK_EQ(vv_set(&vv, o, 99), 0);
	rc = parse(&vv, text, &why);
	if (rc != err)
		fprintf(stderr, "text: %s\n  why: %s\n", text, why ? why : "-");
	CHECK_EQ(rc, err);
	CHECK(why != NULL);
	if (why_part != NULL && strstr(why, why_part) == NULL) {
		fprintf(stderr, "text: %s\n  why: \"%s\", expected \"%s\"\n",
			text, why, why_part);
		CHECK(0);
	}
	CHECK_EQ(vv.n, 1);
	CHECK_EQ(vv_get(&vv, o), 99);
	vv_free(&vv);
}

static void test_json_accept(void)
{
	char t[1024];
	struct vv vv;
	const char *why;
	uint8_t o1[CN_KEY_LEN], o2[CN_KEY_LEN];

	accept("{}", 0);
	accept(" \t\r\n{ } \n", 0);
	snprintf(t, sizeof t, "{\"%s\":5}", H1);
	accept(t, 1);
	snprintf(t, sizeof t, "\n{ \"%s\" :\t0 ,\r\n \"%s\": 18446744073709551615 }\n",
		 H2, H1);
	accept(t, 2);

	/* Values, order and case. */
	vv_init(&vv);
	CHECK_EQ(parse(&vv, t, &why), 0);
	memset(o1, 1, sizeof o1);
	origin_of(o2, 2, 0xff);
	CHECK_EQ(vv_get(&vv, o1), UINT64_MAX);
	CHECK_EQ(vv_get(&vv, o2), 0);
	CHECK(memcmp(vv.v[0].origin, o1, CN_KEY_LEN) == 0); /* sorted */
	snprintf(t, sizeof t, "{\"%s\":77}", H2UP);
	CHECK_EQ(parse(&vv, t, &why), 0);
	CHECK_EQ(vv.n, 1);
	CHECK_EQ(vv_get(&vv, o2), 77);
	vv_free(&vv);

	/* A whole status document: only "version_vector" counts, the rest is
	 * skipped whatever it holds. */
	snprintf(t, sizeof t,
		 "{\"node\":\"ab\\\"c\\\\\\u00e9\\n\",\"peers\":[{\"a\":[1,-2.5e+3,{\"b\":null}]},[]],"
		 "\"forks\":0,\"ok\":true,\"stale\":false,\"n\":-0.0E-0,\"名\":\"学生卡\","
		 "\"version_vector\":{\"%s\":3,\"%s\":4},\"%s\":\"other member with a hex name\","
		 "\"watermark_age_s\":12}",
		 H1, H2, H1);
	vv_init(&vv);
	CHECK_EQ(parse(&vv, t, &why), 0);
	CHECK_EQ(vv.n, 2);
	CHECK_EQ(vv_get(&vv, o1), 3);
	CHECK_EQ(vv_get(&vv, o2), 4);
	vv_free(&vv);
	accept("{\"version_vector\":{}}", 0);

	/* Nesting up to 16 levels in another member. */
	strcpy(t, "{\"x\":");
	for (int i = 0; i < 15; i++)
		strcat(t, "[");
	for (int i = 0; i < 15; i++)
		strcat(t, "]");
	strcat(t, ",\"version_vector\":{}}");
	accept(t, 0);
}

static void test_json_refuse(void)
{
	char t[1024];

	refuse("", CN_ERR_MALFORMED, "object");
	refuse("   ", CN_ERR_MALFORMED, "object");
	refuse("[]", CN_ERR_MALFORMED, "object");
	refuse("\xef\xbb\xbf{}", CN_ERR_MALFORMED, "object"); /* BOM */
	refuse("{", CN_ERR_MALFORMED, NULL);
	refuse("{}x", CN_ERR_MALFORMED, "trailing");
	refuse("{}{}", CN_ERR_MALFORMED, "trailing");

	/* Seq values. */
	snprintf(t, sizeof t, "{\"%s\":-1}", H1);
	refuse(t, CN_ERR_MALFORMED, "sign");
	snprintf(t, sizeof t, "{\"%s\":+1}", H1);
	refuse(t, CN_ERR_MALFORMED, NULL);
	snprintf(t, sizeof t, "{\"%s\":1.0}", H1);
	refuse(t, CN_ERR_MALFORMED, "fraction");
	snprintf(t, sizeof t, "{\"%s\":1e3}", H1);
	refuse(t, CN_ERR_MALFORMED, "exponent");
	snprintf(t, sizeof t, "{\"%s\":18446744073709551616}", H1);
	refuse(t, CN_ERR_MALFORMED, "64 bits");
	snprintf(t, sizeof t, "{\"%s\":99999999999999999999999}", H1);
	refuse(t, CN_ERR_MALFORMED, "64 bits");
	snprintf(t, sizeof t, "{\"%s\":01}", H1);
	refuse(t, CN_ERR_MALFORMED, "number");
	snprintf(t, sizeof t, "{\"%s\":\"5\"}", H1);
	refuse(t, CN_ERR_MALFORMED, "not a number");
	snprintf(t, sizeof t, "{\"%s\":null}", H1);
	refuse(t, CN_ERR_MALFORMED, "not a number");
	snprintf(t, sizeof t, "{\"%s\":}", H1);
	refuse(t, CN_ERR_MALFORMED, NULL);

	/* Origins. */
	snprintf(t, sizeof t, "{\"%.63s\":1}", H1);
	refuse(t, CN_ERR_MALFORMED, "64 hex");
	snprintf(t, sizeof t, "{\"%s0\":1}", H1);
	refuse(t, CN_ERR_MALFORMED, "64 hex");
	snprintf(t, sizeof t, "{\"%.63sg\":1}", H1);
	refuse(t, CN_ERR_MALFORMED, "64 hex");
	snprintf(t, sizeof t, "{\"\\u0030%.63s\":1}", H1); /* escaped "0" */
	refuse(t, CN_ERR_MALFORMED, "64 hex");
	snprintf(t, sizeof t, "{\"%s\":1,\"%s\":2}", H1, H1);
	refuse(t, CN_ERR_MALFORMED, "duplicate");
	snprintf(t, sizeof t, "{\"%s\":1,\"%s\":2}", H2, H2UP);
	refuse(t, CN_ERR_MALFORMED, "duplicate");
	refuse("{\"node\":\"x\"}", CN_ERR_MALFORMED, "64 hex");

	/* Syntax. */
	snprintf(t, sizeof t, "{\"%s\":1,}", H1);
	refuse(t, CN_ERR_MALFORMED, NULL);
	snprintf(t, sizeof t, "{\"%s\" 1}", H1);
	refuse(t, CN_ERR_MALFORMED, "':'");
	snprintf(t, sizeof t, "{\"%s\":1 \"%s\":2}", H1, H2);
	refuse(t, CN_ERR_MALFORMED, "','");
	refuse("{\"a\":\"x\\q\",\"version_vector\":{}}", CN_ERR_MALFORMED, "escape");
	refuse("{\"a\":\"x\\u12\",\"version_vector\":{}}", CN_ERR_MALFORMED, "escape");
	refuse("{\"a\":\"x\ty\",\"version_vector\":{}}", CN_ERR_MALFORMED, "control");
	refuse("{\"a\":\"\xff\",\"version_vector\":{}}", CN_ERR_MALFORMED, "UTF-8");
	refuse("{\"a\":\"abc", CN_ERR_MALFORMED, "unterminated");
	refuse("{\"a\":tru,\"version_vector\":{}}", CN_ERR_MALFORMED, NULL);
	refuse("{\"a\":[1,],\"version_vector\":{}}", CN_ERR_MALFORMED, NULL);
	refuse("{\"a\":-,\"version_vector\":{}}", CN_ERR_MALFORMED, "number");
	refuse("{\"a\":1.,\"version_vector\":{}}", CN_ERR_MALFORMED, "number");
	refuse("{\"a\":1e,\"version_vector\":{}}", CN_ERR_MALFORMED, "number");

	/* The document form. */
	refuse("{\"version_vector\":{},\"version_vector\":{}}", CN_ERR_MALFORMED,
	       "duplicate");
	refuse("{\"version_vector\":[]}", CN_ERR_MALFORMED, "not an object");
	refuse("{\"version_vector\":{\"x\":1}}", CN_ERR_MALFORMED, "64 hex");
	snprintf(t, sizeof t, "{\"version_vector\":{\"%s\":1.5}}", H1);
	refuse(t, CN_ERR_MALFORMED, "fraction");

	/* Nesting beyond 16 levels. */
	strcpy(t, "{\"x\":");
	for (int i = 0; i < 16; i++)
		strcat(t, "[");
	for (int i = 0; i < 16; i++)
		strcat(t, "]");
	strcat(t, ",\"version_vector\":{}}");
	refuse(t, CN_ERR_MALFORMED, "nesting");
}

static void test_json_limits(void)
{
	size_t big = (4u << 20) + 1;
	char *t = malloc(big + 1);
	struct vv vv;
	const char *why = NULL;
	size_t n = 60000, len = 0, cap = (4u << 20) + 16;
	char *u = malloc(cap);

	CHECK(t != NULL && u != NULL);
	/* Longer than 4 MiB, even if it is only blanks around an object. */
	memset(t, ' ', big);
	t[0] = '{';
	t[big - 1] = '}';
	t[big] = '\0';
	vv_init(&vv);
	CHECK_EQ(vv_parse_json(&vv, t, big, &why), CN_ERR_TOOBIG);
	CHECK(why != NULL);
	CHECK_EQ(vv_parse_json(&vv, t + 1, big - 1 - 1, &why), CN_ERR_MALFORMED);

	/* The most a 4 MiB text can hold (each member takes at least 69
	 * bytes, so the 65536-origin bound is never the one reached). */
	u[len++] = '{';
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(u + len, cap - len, "%s\"%056x%08zx\":%zu",
					i ? "," : "", 0u, i, i % 10);
	u[len++] = '}';
	CHECK_EQ(len, 4140001);
	CHECK_EQ(vv_parse_json(&vv, u, len, &why), 0);
	CHECK_EQ(vv.n, n);
	CHECK_EQ(vv.v[n - 1].seq, (n - 1) % 10);
	/* one more member and the text is too long */
	u[len - 1] = ',';
	len += (size_t)snprintf(u + len, cap - len, "\"%064x\":1}", 1u);
	memset(u + len, ' ', cap - len);
	len = (4u << 20) + 1;
	CHECK_EQ(vv_parse_json(&vv, u, len, &why), CN_ERR_TOOBIG);
	CHECK_EQ(vv.n, n);
	vv_free(&vv);
	free(t);
	free(u);
}

static void test_read_file(void)
{
	const char *dir = tu_tmpdir("vv");
	char path[4200];
	char text[256];
	struct vv vv;
	const char *why = NULL;
	uint8_t o1[CN_KEY_LEN];
	FILE *f;

	snprintf(path, sizeof path, "%s/vv.json", dir);
	snprintf(text, sizeof text, "{\"version_vector\": {\"%s\": 12}}\n", H1);
	f = fopen(path, "w");
	CHECK(f != NULL);
	CHECK(fputs(text, f) >= 0);
	CHECK_EQ(fclose(f), 0);
	vv_init(&vv);
	CHECK_EQ(vv_read_file(&vv, path, &why), 0);
	memset(o1, 1, sizeof o1);
	CHECK_EQ(vv.n, 1);
	CHECK_EQ(vv_get(&vv, o1), 12);
	vv_free(&vv);

	snprintf(path, sizeof path, "%s/missing.json", dir);
	why = NULL;
	CHECK_EQ(vv_read_file(&vv, path, &why), CN_ERR_NOTFOUND);
	CHECK(why != NULL);
}

int main(void)
{
	test_set_get();
	test_json_accept();
	test_json_refuse();
	test_json_limits();
	test_read_file();
	printf("test_vv: ok\n");
	return 0;
}
