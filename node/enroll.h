/*
 * enroll.h — enrollment data (制卡数据, DESIGN §6): the parsers and rules
 * behind `cardctl student import` (docs/enrollment.md).  Pure functions over
 * bytes in memory: no I/O, no allocation, safe on any input.
 *
 * Every check returns NULL when the input passes, otherwise a static
 * sentence saying which rule it broke.  A sentence never repeats the input:
 * identity numbers must not reach a terminal or a log.
 */
#ifndef CN_ENROLL_H
#define CN_ENROLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- identity numbers ------------------------------------------------ */

enum enroll_id_type {
	ENROLL_ID_NONE = 0,
	ENROLL_ID_RESIDENT = 1, /* 居民身份证 (and 港澳台居民居住证), GB 11643 */
	ENROLL_ID_PASSPORT = 2, /* a passport: 5-20 of A-Z 0-9 */
	ENROLL_ID_PERMIT = 3,   /* 往来内地/大陆通行证, 外国人永久居留身份证 */
};
#define ENROLL_IDNUM_MAX 20

/* "resident", "passport", "permit" → the type; ENROLL_ID_NONE otherwise. */
enum enroll_id_type enroll_id_type_parse(const char *s);

/* The GB 11643 (ISO 7064 MOD 11-2) check character of 17 digits:
 * '0'-'9' or 'X'.  The caller makes sure the 17 are digits. */
char enroll_gb11643_check(const char digits[static 17]);

/* Check the identity number s[0..len) of `type` on `today` (YYYYMMDD, for
 * the birth date).  Lower-case letters count as upper-case; the number as
 * checked, upper-cased, goes into out (NUL-terminated) — the form whose
 * keyed digest is stored, the same as `cardctl student put --id-number`.
 * The rules, by type:
 *   resident  18 characters: 17 digits and the MOD 11-2 check character
 *             (0-9 or X); a GB/T 2260 province code in the first two digits
 *             (81/82/83 for the Hong Kong, Macao and Taiwan residence
 *             permits, with 0000 after it); a birth date (characters 7-14)
 *             that is a calendar date from 1900-01-01 to `today`.
 *   passport  5-20 characters of A-Z and 0-9.
 *   permit    H or M and 8 or 10 digits (Mainland Travel Permit for Hong
 *             Kong and Macao residents); 8 or 10 digits (… for Taiwan
 *             residents); 3 letters and 12 digits (Foreign Permanent
 *             Resident ID Card, 2004); 18 characters starting with 9 under
 *             the same check character and birth-date rules as a resident
 *             number (Foreign Permanent Resident ID Card, 2017 and 2023).
 * Returns NULL if valid, else the reason (never naming the number). */
const char *enroll_idnum_check(enum enroll_id_type type, const char *s,
			       size_t len, uint32_t today,
			       char out[static ENROLL_IDNUM_MAX + 1]);

/* ---- JPEG header --------------------------------------------------------- */

struct enroll_jpeg {
	unsigned sof;        /* n of the SOFn marker (0 baseline, 1 extended,
			      * 2 progressive, 3 lossless, 5-7, 9-11, 13-15) */
	unsigned precision;  /* bits per sample */
	unsigned width, height;
	unsigned components; /* 1 greyscale, 3 YCbCr/RGB, 4 CMYK */
};

/* Read the markers of the JPEG p[0..len) up to its frame header: SOI, then
 * marker segments (fill bytes 0xFF allowed before a marker, stand-alone
 * markers skipped), each length checked against the bytes there, until the
 * first SOFn, whose fields go to *out.  No pixel is decoded.  Returns NULL,
 * or the reason: not a JPEG, truncated, a length that lies, a scan before
 * the frame header, a frame header of the wrong length. */
const char *enroll_jpeg_probe(const uint8_t *p, size_t len,
			      struct enroll_jpeg *out);

/* ---- CSV (RFC 4180) ------------------------------------------------------ */

#define ENROLL_CSV_FIELDS_MAX 32
#define ENROLL_CSV_ROW_MAX 8192 /* bytes of one row's fields, unquoted */

struct enroll_csv_row {
	size_t nfields;
	char *field[ENROLL_CSV_FIELDS_MAX]; /* NUL-terminated, into buf */
	size_t len[ENROLL_CSV_FIELDS_MAX];  /* bytes (a field may hold NUL) */
	size_t raw_len;  /* bytes of the record without its line end */
	unsigned lines;  /* line ends consumed (quoted newlines included) */
	char buf[ENROLL_CSV_ROW_MAX + ENROLL_CSV_FIELDS_MAX];
};

enum enroll_csv_result {
	ENROLL_CSV_BAD = -1,  /* a malformed record, skipped (*why) */
	ENROLL_CSV_MORE = 0,  /* the record goes on past len: more bytes */
	ENROLL_CSV_ROW = 1,   /* one record in *row */
};

/* Parse the record at the front of p[0..len).  Fields are separated by
 * ',', records end at LF or CRLF (or at the end of the input when `eof`);
 * a field in double quotes may hold ',', line ends and "" for a quote.
 * Returns
 *   ENROLL_CSV_ROW   the record is in *row, *used bytes consumed (with its
 *                    line end);
 *   ENROLL_CSV_MORE  the record is incomplete and !eof: call again with
 *                    the same start and more bytes behind it;
 *   ENROLL_CSV_BAD   the record breaks the format (*why): a quote inside
 *                    an unquoted field, text after a closing quote, a
 *                    quote never closed, more than ENROLL_CSV_FIELDS_MAX
 *                    fields or ENROLL_CSV_ROW_MAX bytes.  *used bytes are
 *                    skipped: to the end of the line where the fault was
 *                    found (of the input for a quote never closed), so
 *                    that parsing resumes on the next line; row->raw_len
 *                    and row->lines describe the skipped record.
 * An empty line is a record of one empty field.  A leading UTF-8 BOM is
 * the caller's to skip. */
enum enroll_csv_result enroll_csv_next(const char *p, size_t len, bool eof,
				       struct enroll_csv_row *row,
				       size_t *used, const char **why);

/* ---- names --------------------------------------------------------------- */

/* Is code point cp one of the 7,445 graphic characters of GB 2312-80
 * (generated table, enroll_gb2312.c)? */
bool enroll_gb2312_has(uint32_t cp);

/* The characters of the UTF-8 name s[0..len) that a card printer working
 * in GB 2312 cannot print (生僻字): every code point that is neither
 * printable ASCII, nor U+00B7 (the middle dot of transliterated names,
 * which GB 2312 has at A1A4), nor in GB 2312.  The first `max` go into
 * out[]; returns how many there are in all.  Invalid UTF-8 counts each
 * bad byte as U+FFFD (the caller validates first). */
size_t enroll_name_rare(const char *s, size_t len, uint32_t *out, size_t max);

#endif
