/*
 * test_enroll.c — enrollment data: identity number checks, the JPEG header
 * reader, the CSV record parser and the GB 2312 name rule.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "enroll.h"

#define TODAY 20250310u

/* Does the reason r (NULL: none) contain s? */
static bool has(const char *r, const char *s)
{
	return r != NULL && strstr(r, s) != NULL;
}

static const char *idcheck(enum enroll_id_type t, const char *s)
{
	char out[ENROLL_IDNUM_MAX + 1];

	return enroll_idnum_check(t, s, strlen(s), TODAY, out);
}

/* A resident number: 17 digits given, the right check character added. */
static void with_check(const char *d17, char out[19])
{
	memcpy(out, d17, 17);
	out[17] = enroll_gb11643_check(d17);
	out[18] = '\0';
}

static void test_idnum(void)
{
	char n[19], out[ENROLL_IDNUM_MAX + 1];

	/* The examples of GB 11643-1999. */
	CHECK_EQ(enroll_gb11643_check("11010519491231002"), 'X');
	CHECK_EQ(enroll_gb11643_check("44052418800101001"), '4');
	CHECK(idcheck(ENROLL_ID_RESIDENT, "11010519491231002X") == NULL);
	CHECK(idcheck(ENROLL_ID_RESIDENT, "11010519491231002x") == NULL);
	CHECK(enroll_idnum_check(ENROLL_ID_RESIDENT, "11010519491231002x", 18,
				 TODAY, out) == NULL);
	CHECK_STR(out, "11010519491231002X");
	/* … whose second example was born in 1880: before 1900. */
	CHECK(has(idcheck(ENROLL_ID_RESIDENT, "440524188001010014"),
		     "before 1900"));
	/* Every single-digit change is caught by the check character. */
	for (int pos = 0; pos < 17; pos++) {
		char bad[19];

		strcpy(bad, "11010520120307123");
		with_check(bad, n);
		CHECK(idcheck(ENROLL_ID_RESIDENT, n) == NULL);
		strcpy(bad, n);
		bad[pos] = bad[pos] == '9' ? '0' : (char)(bad[pos] + 1);
		CHECK(idcheck(ENROLL_ID_RESIDENT, bad) != NULL);
	}
	CHECK(has(idcheck(ENROLL_ID_RESIDENT, "110105201203071230"),
		     "check character") ||
	      has(idcheck(ENROLL_ID_RESIDENT, "110105201203071231"),
		     "check character"));
	/* Birth dates: impossible, before 1900, in the future; leap days. */
	with_check("11010520130229123", n);
	CHECK(has(idcheck(ENROLL_ID_RESIDENT, n), "not a calendar date"));
	with_check("11010520120229123", n);
	CHECK(idcheck(ENROLL_ID_RESIDENT, n) == NULL);
	with_check("11010519000229123", n);
	CHECK(has(idcheck(ENROLL_ID_RESIDENT, n), "not a calendar date"));
	with_check("11010520121301123", n);
	CHECK(has(idcheck(ENROLL_ID_RESIDENT, n), "not a calendar date"));
	with_check("11010518991231123", n);
	CHECK(has(idcheck(ENROLL_ID_RESIDENT, n), "before 1900"));
	with_check("11010520250311123", n);
	CHECK(has(idcheck(ENROLL_ID_RESIDENT, n), "in the future"));
	with_check("11010520250310123", n);
	CHECK(idcheck(ENROLL_ID_RESIDENT, n) == NULL);
	/* Region codes. */
	with_check("99010520120307123", n);
	CHECK(has(idcheck(ENROLL_ID_RESIDENT, n), "region code"));
	with_check("81000020120307123", n);
	CHECK(idcheck(ENROLL_ID_RESIDENT, n) == NULL);
	with_check("81010520120307123", n);
	CHECK(has(idcheck(ENROLL_ID_RESIDENT, n), "region code"));
	/* Shape. */
	CHECK(idcheck(ENROLL_ID_RESIDENT, "11010520120307") != NULL);
	CHECK(idcheck(ENROLL_ID_RESIDENT, "1101052012030712X3") != NULL);
	CHECK(idcheck(ENROLL_ID_RESIDENT, "11010520120307123 ") != NULL);
	CHECK(idcheck(ENROLL_ID_RESIDENT, "") != NULL);
	CHECK(idcheck(ENROLL_ID_RESIDENT, "110105201203071234567") != NULL);
	/* Passports. */
	CHECK(idcheck(ENROLL_ID_PASSPORT, "E12345678") == NULL);
	CHECK(idcheck(ENROLL_ID_PASSPORT, "e1234") == NULL);
	CHECK(idcheck(ENROLL_ID_PASSPORT, "E123") != NULL);
	CHECK(idcheck(ENROLL_ID_PASSPORT, "E-12345") != NULL);
	CHECK(idcheck(ENROLL_ID_PASSPORT, "123456789012345678901") != NULL);
	/* Permits. */
	CHECK(idcheck(ENROLL_ID_PERMIT, "H12345678") == NULL);
	CHECK(idcheck(ENROLL_ID_PERMIT, "M1234567890") == NULL);
	CHECK(idcheck(ENROLL_ID_PERMIT, "12345678") == NULL);
	CHECK(idcheck(ENROLL_ID_PERMIT, "1234567890") == NULL);
	CHECK(idcheck(ENROLL_ID_PERMIT, "USA123456789012") == NULL);
	with_check("93112420120307123", n);
	CHECK(idcheck(ENROLL_ID_PERMIT, n) == NULL);
	n[17] = n[17] == '0' ? '1' : '0';
	CHECK(idcheck(ENROLL_ID_PERMIT, n) != NULL);
	CHECK(idcheck(ENROLL_ID_PERMIT, "H1234567") != NULL);
	CHECK(idcheck(ENROLL_ID_PERMIT, "X12345678") != NULL);
	CHECK(idcheck(ENROLL_ID_PERMIT, "US123456789012") != NULL);
	CHECK(idcheck(ENROLL_ID_NONE, "E12345678") != NULL);
	CHECK_EQ(enroll_id_type_parse("resident"), ENROLL_ID_RESIDENT);
	CHECK_EQ(enroll_id_type_parse("passport"), ENROLL_ID_PASSPORT);
	CHECK_EQ(enroll_id_type_parse("permit"), ENROLL_ID_PERMIT);
	CHECK_EQ(enroll_id_type_parse("Resident"), ENROLL_ID_NONE);
	printf("enroll: identity numbers ok\n");
}

/* A minimal JPEG header: SOI, APP0 (JFIF), DQT-like padding segment, the
 * frame header SOFn of w×h with `nc` components, then SOS. */
static size_t make_jpeg(uint8_t *b, unsigned sof, unsigned w, unsigned h,
			unsigned nc)
{
	size_t n = 0;

	b[n++] = 0xff; b[n++] = 0xd8;
	/* APP0 JFIF, length 16 */
	b[n++] = 0xff; b[n++] = 0xe0; b[n++] = 0; b[n++] = 16;
	memcpy(b + n, "JFIF\0\1\1\0\0\1\0\1\0\0", 14); n += 14;
	/* fill bytes before a COM segment of length 5 */
	b[n++] = 0xff; b[n++] = 0xff; b[n++] = 0xfe; b[n++] = 0; b[n++] = 5;
	b[n++] = 'h'; b[n++] = 'i'; b[n++] = '!';
	b[n++] = 0xff; b[n++] = (uint8_t)(0xc0 + sof);
	b[n++] = 0; b[n++] = (uint8_t)(8 + 3 * nc);
	b[n++] = 8;
	b[n++] = (uint8_t)(h >> 8); b[n++] = (uint8_t)h;
	b[n++] = (uint8_t)(w >> 8); b[n++] = (uint8_t)w;
	b[n++] = (uint8_t)nc;
	for (unsigned i = 0; i < nc; i++) {
		b[n++] = (uint8_t)(i + 1); b[n++] = 0x11; b[n++] = 0;
	}
	b[n++] = 0xff; b[n++] = 0xda; b[n++] = 0; b[n++] = 8;
	return n;
}

static void test_jpeg(void)
{
	uint8_t b[256];
	struct enroll_jpeg j;
	size_t n = make_jpeg(b, 0, 640, 480, 3), sof_at;

	CHECK(enroll_jpeg_probe(b, n, &j) == NULL);
	CHECK_EQ(j.sof, 0);
	CHECK_EQ(j.width, 640);
	CHECK_EQ(j.height, 480);
	CHECK_EQ(j.components, 3);
	CHECK_EQ(j.precision, 8);
	/* Progressive, greyscale. */
	n = make_jpeg(b, 2, 640, 480, 3);
	CHECK(enroll_jpeg_probe(b, n, &j) == NULL);
	CHECK_EQ(j.sof, 2);
	n = make_jpeg(b, 0, 640, 480, 1);
	CHECK(enroll_jpeg_probe(b, n, &j) == NULL);
	CHECK_EQ(j.components, 1);
	n = make_jpeg(b, 1, 1024, 768, 4);
	CHECK(enroll_jpeg_probe(b, n, &j) == NULL);
	CHECK_EQ(j.width, 1024);
	CHECK_EQ(j.components, 4);
	/* Every truncation before the end of the frame header is refused,
	 * on a buffer of exactly that size (ASan catches an over-read). */
	n = make_jpeg(b, 0, 640, 480, 3);
	sof_at = n - 4 - 19; /* the SOF marker's FF */
	for (size_t cut = 0; cut < sof_at + 19; cut++) {
		uint8_t *t = malloc(cut ? cut : 1);

		CHECK(t != NULL);
		memcpy(t, b, cut);
		CHECK(enroll_jpeg_probe(t, cut, &j) != NULL);
		free(t);
	}
	/* Lying lengths: APP0 claims more than the file holds, or less than
	 * 2; the frame header's length disagrees with its components. */
	n = make_jpeg(b, 0, 640, 480, 3);
	b[4] = 0xff; b[5] = 0xf0;
	CHECK(has(enroll_jpeg_probe(b, n, &j), "past the end"));
	n = make_jpeg(b, 0, 640, 480, 3);
	b[5] = 1;
	CHECK(has(enroll_jpeg_probe(b, n, &j), "less than 2"));
	n = make_jpeg(b, 0, 640, 480, 3);
	b[5] = 15; /* APP0 one short: the next byte read as a marker is 0 */
	CHECK(enroll_jpeg_probe(b, n, &j) != NULL);
	n = make_jpeg(b, 0, 640, 480, 3);
	b[sof_at + 3] = 8 + 3 * 2;
	CHECK(has(enroll_jpeg_probe(b, n, &j), "component count"));
	/* Not a JPEG; a scan or EOI before the frame header. */
	CHECK(has(enroll_jpeg_probe((const uint8_t *)"\x89PNG", 4, &j),
		     "not a JPEG"));
	CHECK(has(enroll_jpeg_probe((const uint8_t *)"\xff\xd8\xff\xda\0\2",
				       6, &j), "SOS"));
	CHECK(has(enroll_jpeg_probe((const uint8_t *)"\xff\xd8\xff\xd9", 4,
				       &j), "EOI"));
	CHECK(enroll_jpeg_probe((const uint8_t *)"\xff\xd8\x00", 3, &j) != NULL);
	/* DHT (C4) is not a frame header: skipped like any segment. */
	{
		static const uint8_t d[] = {
			0xff, 0xd8, 0xff, 0xc4, 0, 3, 0, 0xff, 0xd0,
			0xff, 0xc2, 0, 11, 8, 1, 0xe0, 2, 0x80, 1, 1, 0x11, 0
		};
		CHECK(enroll_jpeg_probe(d, sizeof d, &j) == NULL);
		CHECK_EQ(j.sof, 2);
		CHECK_EQ(j.height, 480);
		CHECK_EQ(j.width, 640);
		CHECK_EQ(j.components, 1);
	}
	printf("enroll: JPEG header reader ok\n");
}

static struct enroll_csv_row row;

/* Parse every record of s (as a whole, eof) and return the count; the
 * fields of record `want` are joined with '|' into out. */
static int csv_all(const char *s, int want, char *out, int *bad)
{
	size_t off = 0, len = strlen(s), used;
	const char *why;
	int n = 0;

	*bad = 0;
	out[0] = '\0';
	while (off < len) {
		enum enroll_csv_result r =
			enroll_csv_next(s + off, len - off, true, &row, &used,
					&why);
		CHECK(r != ENROLL_CSV_MORE);
		CHECK(used > 0);
		if (r == ENROLL_CSV_BAD)
			(*bad)++;
		if (r == ENROLL_CSV_ROW && n == want)
			for (size_t i = 0; i < row.nfields; i++) {
				if (i)
					strcat(out, "|");
				strcat(out, row.field[i]);
			}
		off += used;
		n++;
	}
	return n;
}

static void test_csv(void)
{
	char out[1024];
	int bad;
	size_t used;
	const char *why;

	CHECK_EQ(csv_all("a,b,c\n1,2,3\n", 1, out, &bad), 2);
	CHECK_STR(out, "1|2|3");
	CHECK_EQ(bad, 0);
	CHECK_EQ(csv_all("a,b,c\r\n1,,3\r\n", 1, out, &bad), 2);
	CHECK_STR(out, "1||3");
	CHECK_EQ(csv_all("x\n\"a,b\",\"say \"\"hi\"\"\",\"l1\nl2\"\nz", 1, out,
			 &bad), 3);
	CHECK_STR(out, "a,b|say \"hi\"|l1\nl2");
	CHECK_EQ(bad, 0);
	CHECK_EQ(csv_all("1,2", 0, out, &bad), 1); /* no final line end */
	CHECK_STR(out, "1|2");
	CHECK_EQ(csv_all("\"\",\"\"\n", 0, out, &bad), 1);
	CHECK_STR(out, "|");
	CHECK_EQ(row.nfields, 2);
	/* Malformed records are skipped to the end of their line. */
	CHECK_EQ(csv_all("a\"b,c\nok,1\n", 1, out, &bad), 2);
	CHECK_EQ(bad, 1);
	CHECK_STR(out, "ok|1");
	CHECK_EQ(csv_all("\"a\"b,c\nok,2\n", 1, out, &bad), 2);
	CHECK_EQ(bad, 1);
	CHECK_STR(out, "ok|2");
	CHECK_EQ(csv_all("ok\n\"never closed,\nx\n", 1, out, &bad), 2);
	CHECK_EQ(bad, 1);
	/* Incomplete input asks for more, at every cut of a record. */
	{
		const char *s = "\"q,\"\"1\"\"\",b\r\n";
		size_t len = strlen(s);

		for (size_t cut = 0; cut < len - 1; cut++)
			CHECK_EQ(enroll_csv_next(s, cut, false, &row, &used,
						 &why),
				 ENROLL_CSV_MORE);
		CHECK_EQ(enroll_csv_next(s, len, false, &row, &used, &why),
			 ENROLL_CSV_ROW);
		CHECK_EQ(used, len);
		CHECK_EQ(row.raw_len, len - 2);
		CHECK_STR(row.field[0], "q,\"1\"");
		CHECK_STR(row.field[1], "b");
	}
	/* A malformed record is skipped to the end of its line even when the
	 * line is not all there yet: more bytes are asked for first. */
	{
		const char *s = "\"a\"b,c,d\nok\n";

		for (size_t cut = 0; cut < 9; cut++)
			CHECK_EQ(enroll_csv_next(s, cut, false, &row, &used,
						 &why),
				 ENROLL_CSV_MORE);
		CHECK_EQ(enroll_csv_next(s, 9, false, &row, &used, &why),
			 ENROLL_CSV_BAD);
		CHECK_EQ(used, 9);
		CHECK_EQ(row.raw_len, 8);
	}
	/* Limits: fields, bytes. */
	{
		static char big[ENROLL_CSV_ROW_MAX + 100];

		memset(big, 'a', sizeof big - 2);
		big[sizeof big - 2] = '\n';
		CHECK_EQ(enroll_csv_next(big, sizeof big - 1, true, &row, &used,
					 &why), ENROLL_CSV_BAD);
		CHECK(has(why, "longer"));
		CHECK_EQ(used, sizeof big - 1);
		memset(big, ',', 40);
		big[40] = '\n';
		CHECK_EQ(enroll_csv_next(big, 41, true, &row, &used, &why),
			 ENROLL_CSV_BAD);
		CHECK(has(why, "fields"));
		CHECK_EQ(used, 41);
	}
	/* A NUL inside a field is kept, with its length. */
	CHECK_EQ(enroll_csv_next("a\0b,c\n", 6, true, &row, &used, &why),
		 ENROLL_CSV_ROW);
	CHECK_EQ(row.len[0], 3);
	printf("enroll: CSV records ok\n");
}

static void test_names(void)
{
	uint32_t rare[4];

	CHECK(enroll_gb2312_has(0x5f20));   /* 张 */
	CHECK(enroll_gb2312_has(0x9f44));   /* 齄, the last hanzi */
	CHECK(enroll_gb2312_has(0x554a));   /* 啊, the first */
	CHECK(!enroll_gb2312_has(0x9fa5));
	CHECK(!enroll_gb2312_has(0x5586));  /* 喆 */
	CHECK(enroll_gb2312_has(0x4e2c));   /* 丬 */
	CHECK(!enroll_gb2312_has(0x5803));  /* 堃 */
	CHECK(enroll_gb2312_has(0x3000));   /* ideographic space */
	CHECK(enroll_gb2312_has(0xff21));   /* full-width A */
	CHECK_EQ(enroll_name_rare("张三", strlen("张三"), rare, 4), 0);
	CHECK_EQ(enroll_name_rare("Anna Smith", 10, rare, 4), 0);
	CHECK_EQ(enroll_name_rare("阿依古丽·买买提", strlen("阿依古丽·买买提"),
				  rare, 4), 0);
	CHECK_EQ(enroll_name_rare("王喆", strlen("王喆"), rare, 4), 1);
	CHECK_EQ(rare[0], 0x5586);
	CHECK_EQ(enroll_name_rare("李𠀀堃", strlen("李𠀀堃"), rare, 4), 2);
	CHECK_EQ(rare[0], 0x20000);
	CHECK_EQ(rare[1], 0x5803);
	CHECK_EQ(enroll_name_rare("\xe5\xbc", 2, rare, 4), 2);
	CHECK_EQ(rare[0], 0xfffd);
	printf("enroll: GB 2312 name rule ok\n");
}

int main(void)
{
	test_idnum();
	test_jpeg();
	test_csv();
	test_names();
	return 0;
}
