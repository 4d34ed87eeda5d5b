/*
 * fuzz_csv.c — libFuzzer harness for the enrollment parsers (node/enroll.h):
 * the CSV record parser, the identity number rules, the GB 2312 name rule
 * and the JPEG header reader.
 *
 * Input: one mode byte, then the bytes.  Mode bit 0 set: the bytes are a
 * photo for enroll_jpeg_probe (copied to a buffer of exactly their size,
 * so that ASan sees any over-read).  Otherwise the bytes are a CSV file:
 * it is parsed whole (eof), and again as `student import` streams it,
 * through windows that grow by (mode >> 1) + 1 bytes; both must give the
 * same records.  Every field also goes through the identity number checks
 * of each type and the name rule.  Nothing may crash; each record consumes
 * at least one byte and no more than is there.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enroll.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECORDS 4096

struct rec {
	int result;
	size_t used, raw_len, nfields;
	uint64_t hash;
};

static struct rec whole[MAX_RECORDS];
static struct enroll_csv_row row;

static uint64_t row_hash(const struct enroll_csv_row *r)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < r->nfields; i++) {
		for (size_t k = 0; k < r->len[i]; k++)
			h = (h ^ (unsigned char)r->field[i][k]) * 1099511628211ull;
		h = (h ^ 0x100) * 1099511628211ull;
	}
	return h;
}

static void check_fields(const struct enroll_csv_row *r)
{
	char out[ENROLL_IDNUM_MAX + 1];
	uint32_t rare[4];

	if (r->nfields > ENROLL_CSV_FIELDS_MAX)
		abort();
	for (size_t i = 0; i < r->nfields; i++) {
		if (r->len[i] > ENROLL_CSV_ROW_MAX || r->field[i][r->len[i]])
			abort();
		for (int t = ENROLL_ID_NONE; t <= ENROLL_ID_PERMIT; t++)
			if (!enroll_idnum_check((enum enroll_id_type)t,
						r->field[i], r->len[i],
						20250310u, out) &&
			    strlen(out) != r->len[i])
				abort();
		if (enroll_name_rare(r->field[i], r->len[i], rare, 4) >
		    r->len[i])
			abort();
	}
}

static void fuzz_jpeg(const uint8_t *data, size_t size)
{
	struct enroll_jpeg j;
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		return;
	memcpy(copy, data, size);
	if (enroll_jpeg_probe(copy, size, &j) == NULL &&
	    (j.sof > 15 || j.sof == 4 || j.sof == 8 || j.sof == 12))
		abort();
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p, *why;
	size_t len, off = 0, n = 0, step, used, have;
	int r;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		fuzz_jpeg(data + 1, size - 1);
		return 0;
	}
	step = (size_t)(data[0] >> 1) + 1;
	p = (const char *)data + 1;
	len = size - 1;

	while (off < len && n < MAX_RECORDS) {
		r = enroll_csv_next(p + off, len - off, true, &row, &used, &why);
		if (r == ENROLL_CSV_MORE || used == 0 || used > len - off ||
		    row.raw_len > used || (r == ENROLL_CSV_BAD) != (why != NULL))
			abort();
		check_fields(&row);
		whole[n].result = r;
		whole[n].used = used;
		whole[n].raw_len = row.raw_len;
		whole[n].nfields = r == ENROLL_CSV_ROW ? row.nfields : 0;
		whole[n].hash = r == ENROLL_CSV_ROW ? row_hash(&row) : 0;
		n++;
		off += used;
	}

	/* The same bytes through growing windows. */
	off = 0;
	have = 0;
	for (size_t k = 0; k < n;) {
		bool eof = have >= len;

		r = enroll_csv_next(p + off, have - off, eof, &row, &used, &why);
		if (r == ENROLL_CSV_MORE) {
			if (eof)
				abort();
			have = have + step < len ? have + step : len;
			continue;
		}
		if (r != whole[k].result || used != whole[k].used ||
		    row.raw_len != whole[k].raw_len ||
		    (r == ENROLL_CSV_ROW &&
		     (row.nfields != whole[k].nfields ||
		      row_hash(&row) != whole[k].hash)))
			abort();
		off += used;
		k++;
	}
	return 0;
}
