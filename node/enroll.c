/*
 * enroll.c — enrollment data rules and parsers (see enroll.h).
 */
#include "enroll.h"

#include <string.h>

/* ---- identity numbers ---------------------------------------------------- */

enum enroll_id_type enroll_id_type_parse(const char *s)
{
	if (!strcmp(s, "resident"))
		return ENROLL_ID_RESIDENT;
	if (!strcmp(s, "passport"))
		return ENROLL_ID_PASSPORT;
	if (!strcmp(s, "permit"))
		return ENROLL_ID_PERMIT;
	return ENROLL_ID_NONE;
}

char enroll_gb11643_check(const char digits[static 17])
{
	/* Weight of position i is 2^(17-i) mod 11; the check character makes
	 * the weighted sum of all 18 congruent to 1 mod 11. */
	static const unsigned char w[17] = { 7, 9, 10, 5, 8, 4, 2, 1, 6, 3,
					     7, 9, 10, 5, 8, 4, 2 };
	static const char code[] = "10X98765432";
	unsigned sum = 0;

	for (int i = 0; i < 17; i++)
		sum += (unsigned)(digits[i] - '0') * w[i];
	return code[sum % 11];
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

static bool leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static bool calendar_date(uint32_t v)
{
	static const unsigned char mdays[12] = { 31, 28, 31, 30, 31, 30,
						 31, 31, 30, 31, 30, 31 };
	unsigned y = v / 10000, m = v / 100 % 100, d = v % 100;

	if (y < 1 || m < 1 || m > 12 || d < 1)
		return false;
	return d <= mdays[m - 1] + (m == 2 && leap(y) ? 1u : 0u);
}

/* GB/T 2260 province-level codes (the first two digits). */
static bool province_code(unsigned p)
{
	switch (p) {
	case 11: case 12: case 13: case 14: case 15:
	case 21: case 22: case 23:
	case 31: case 32: case 33: case 34: case 35: case 36: case 37:
	case 41: case 42: case 43: case 44: case 45: case 46:
	case 50: case 51: case 52: case 53: case 54:
	case 61: case 62: case 63: case 64: case 65:
	case 71: case 81: case 82: case 83:
		return true;
	}
	return false;
}

/* Birth date in characters 7-14 and the check character of an 18-character
 * number whose first 17 are digits. */
static const char *gb11643_tail(const char *n, uint32_t today)
{
	uint32_t birth = 0;

	for (int i = 6; i < 14; i++)
		birth = birth * 10 + (uint32_t)(n[i] - '0');
	if (!calendar_date(birth))
		return "birth date (characters 7-14) is not a calendar date";
	if (birth < 19000101u)
		return "birth date (characters 7-14) is before 1900";
	if (birth > today)
		return "birth date (characters 7-14) is in the future";
	if (!(is_digit(n[17]) || n[17] == 'X'))
		return "the 18th character must be a digit or X";
	if (enroll_gb11643_check(n) != n[17])
		return "check character does not match (GB 11643 MOD 11-2): "
		       "a character is mistyped";
	return NULL;
}

static const char *resident_check(const char *n, size_t len, uint32_t today)
{
	unsigned prov;

	if (len != 18)
		return "a resident ID number has 18 characters";
	if (!all_digits(n, 17))
		return "the first 17 characters of a resident ID number must "
		       "be digits";
	prov = (unsigned)(n[0] - '0') * 10 + (unsigned)(n[1] - '0');
	if (!province_code(prov))
		return "region code: the first two digits are not a province "
		       "code of GB/T 2260";
	if (prov >= 81 && memcmp(n + 2, "0000", 4) != 0)
		return "region code: a Hong Kong, Macao or Taiwan residence "
		       "permit number starts 810000, 820000 or 830000";
	return gb11643_tail(n, today);
}

static const char *permit_check(const char *n, size_t len, uint32_t today)
{
	/* Mainland Travel Permit for Hong Kong and Macao residents. */
	if ((n[0] == 'H' || n[0] == 'M') && (len == 9 || len == 11) &&
	    all_digits(n + 1, len - 1))
		return NULL;
	/* … for Taiwan residents. */
	if ((len == 8 || len == 10) && all_digits(n, len))
		return NULL;
	/* Foreign Permanent Resident ID Card, 2004: country code, 12 digits. */
	if (len == 15 && is_upper(n[0]) && is_upper(n[1]) && is_upper(n[2]) &&
	    all_digits(n + 3, 12))
		return NULL;
	/* … 2017 and 2023: 18 characters starting with 9. */
	if (len == 18 && n[0] == '9' && all_digits(n, 17))
		return gb11643_tail(n, today);
	return "not a permit number: H or M and 8 or 10 digits (Hong Kong, "
	       "Macao), 8 or 10 digits (Taiwan), 3 letters and 12 digits or 18 "
	       "characters starting with 9 (foreign permanent resident)";
}

const char *enroll_idnum_check(enum enroll_id_type type, const char *s,
			       size_t len, uint32_t today,
			       char out[static ENROLL_IDNUM_MAX + 1])
{
	out[0] = '\0';
	if (len == 0)
		return "missing";
	if (len > ENROLL_IDNUM_MAX)
		return "longer than 20 characters";
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (!is_digit(c) && !is_upper(c)) {
			memset(out, 0, ENROLL_IDNUM_MAX + 1);
			return "only the characters 0-9 and A-Z are allowed";
		}
		out[i] = c;
	}
	out[len] = '\0';
	switch (type) {
	case ENROLL_ID_RESIDENT:
		return resident_check(out, len, today);
	case ENROLL_ID_PASSPORT:
		return len < 5 ? "a passport number has 5-20 characters" : NULL;
	case ENROLL_ID_PERMIT:
		return permit_check(out, len, today);
	default:
		return "unknown id_type";
	}
}

/* ---- JPEG header --------------------------------------------------------- */

static bool is_sof(uint8_t m)
{
	/* C0-CF except C4 (DHT), C8 (JPG reserved) and CC (DAC). */
	return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

const char *enroll_jpeg_probe(const uint8_t *p, size_t len,
			      struct enroll_jpeg *out)
{
	size_t off = 2;

	memset(out, 0, sizeof *out);
	if (len < 2 || p[0] != 0xff || p[1] != 0xd8)
		return "not a JPEG file (it does not start with the SOI marker "
		       "FF D8)";
	for (;;) {
		uint8_t m;
		size_t seg;

		if (off >= len)
			return "truncated before the frame header (SOFn)";
		if (p[off] != 0xff)
			return "expected a marker (FF xx) between segments";
		while (off < len && p[off] == 0xff)
			off++; /* fill bytes */
		if (off >= len)
			return "truncated before the frame header (SOFn)";
		m = p[off++];
		if (m == 0x00)
			return "expected a marker (FF xx) between segments";
		if (m == 0x01 || (m >= 0xd0 && m <= 0xd7))
			continue; /* TEM, RSTn: no length */
		if (m == 0xd8)
			return "a second SOI marker before the frame header";
		if (m == 0xd9)
			return "end of image (EOI) before any frame header";
		if (m == 0xda)
			return "scan (SOS) before any frame header";
		if (len - off < 2)
			return "truncated inside a marker segment's length";
		seg = (size_t)p[off] << 8 | p[off + 1];
		if (seg < 2)
			return "a marker segment length is less than 2";
		if (seg > len - off)
			return "a marker segment length runs past the end of the "
			       "file";
		if (is_sof(m)) {
			const uint8_t *f = p + off;

			if (seg < 8)
				return "the frame header (SOFn) is too short";
			out->sof = m - 0xc0u;
			out->precision = f[2];
			out->height = (unsigned)f[3] << 8 | f[4];
			out->width = (unsigned)f[5] << 8 | f[6];
			out->components = f[7];
			if (seg != 8 + 3 * (size_t)out->components)
				return "the frame header (SOFn) length does not "
				       "match its component count";
			return NULL;
		}
		off += seg;
	}
}

/* ---- CSV ----------------------------------------------------------------- */

/* Skip to just past the end of the line holding p[at] (or to len at
 * eof); 0 when the line goes on past len and more bytes are to come. */
static size_t skip_line(const char *p, size_t len, bool eof, size_t at,
			struct enroll_csv_row *row)
{
	const char *nl = at < len ? memchr(p + at, '\n', len - at) : NULL;
	size_t end = nl ? (size_t)(nl - p) : len;

	if (!nl && !eof)
		return 0;
	row->raw_len = end > 0 && nl && p[end - 1] == '\r' ? end - 1 : end;
	if (nl)
		row->lines++;
	return nl ? end + 1 : len;
}

enum enroll_csv_result enroll_csv_next(const char *p, size_t len, bool eof,
				       struct enroll_csv_row *row,
				       size_t *used, const char **why)
{
	size_t i = 0, out = 0;
	bool quoted = false, too_long = false;

	row->nfields = 0;
	row->raw_len = 0;
	row->lines = 0;
	*used = 0;
	*why = NULL;
	/* Each field starts here: `i` at its first byte. */
	for (;;) {
		size_t start = out;

		if (row->nfields == ENROLL_CSV_FIELDS_MAX) {
			*used = skip_line(p, len, eof, i, row);
			if (!*used)
				return ENROLL_CSV_MORE;
			*why = "more than 32 fields";
			return ENROLL_CSV_BAD;
		}
		quoted = i < len && p[i] == '"';
		if (quoted)
			i++;
		for (;;) {
			char c;

			if (i >= len) {
				if (!eof)
					return ENROLL_CSV_MORE;
				if (quoted) {
					*why = "a quote is never closed";
					row->raw_len = len;
					*used = len;
					return ENROLL_CSV_BAD;
				}
				break; /* last record without a line end */
			}
			c = p[i];
			if (quoted) {
				if (c == '"') {
					if (i + 1 >= len && !eof)
						return ENROLL_CSV_MORE;
					if (i + 1 < len && p[i + 1] == '"') {
						i++; /* "" is one quote */
					} else {
						i++;
						quoted = false;
						/* after the closing quote: a
						 * separator, a line end or
						 * the end */
						if (i < len && p[i] != ',' &&
						    p[i] != '\n' &&
						    !(p[i] == '\r' &&
						      (i + 1 >= len ||
						       p[i + 1] == '\n'))) {
							*used = skip_line(
								p, len, eof, i,
								row);
							if (!*used)
								return ENROLL_CSV_MORE;
							*why = "text after a "
							       "closing quote";
							return ENROLL_CSV_BAD;
						}
						if (i < len && p[i] == '\r' &&
						    i + 1 >= len && !eof)
							return ENROLL_CSV_MORE;
						continue;
					}
				} else if (c == '\n') {
					row->lines++;
				}
			} else {
				if (c == ',' || c == '\n')
					break;
				if (c == '\r') {
					if (i + 1 >= len && !eof)
						return ENROLL_CSV_MORE;
					if (i + 1 >= len || p[i + 1] == '\n')
						break;
				}
				if (c == '"') {
					*used = skip_line(p, len, eof, i, row);
					if (!*used)
						return ENROLL_CSV_MORE;
					*why = "a quote inside a field that "
					       "does not start with one";
					return ENROLL_CSV_BAD;
				}
			}
			if (out < ENROLL_CSV_ROW_MAX)
				row->buf[out++] = c;
			else
				too_long = true;
			i++;
		}
		/* The field ends at p[i]: ',', CR LF, LF or the end. */
		row->buf[out++] = '\0';
		row->field[row->nfields] = row->buf + start;
		row->len[row->nfields] = out - 1 - start;
		row->nfields++;
		if (i < len && p[i] == ',') {
			i++;
			continue;
		}
		row->raw_len = i;
		if (i < len && p[i] == '\r')
			i++;
		if (i < len && p[i] == '\n') {
			i++;
			row->lines++;
		}
		*used = i;
		if (too_long) {
			*why = "the row is longer than 8192 bytes";
			return ENROLL_CSV_BAD;
		}
		return ENROLL_CSV_ROW;
	}
}

/* ---- names --------------------------------------------------------------- */

/* One code point from s[*i..len); invalid sequences give U+FFFD for one
 * byte. */
static uint32_t utf8_next(const unsigned char *s, size_t len, size_t *i)
{
	unsigned char c = s[*i];
	uint32_t cp, min;
	size_t n;

	if (c < 0x80) {
		(*i)++;
		return c;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 1; cp = c & 0x1f; min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 2; cp = c & 0x0f; min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 3; cp = c & 0x07; min = 0x10000;
	} else {
		(*i)++;
		return 0xfffd;
	}
	if (len - *i <= n) {
		(*i)++;
		return 0xfffd;
	}
	for (size_t k = 1; k <= n; k++) {
		unsigned char cc = s[*i + k];

		if ((cc & 0xc0) != 0x80) {
			(*i)++;
			return 0xfffd;
		}
		cp = cp << 6 | (cc & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
		(*i)++;
		return 0xfffd;
	}
	*i += n + 1;
	return cp;
}

size_t enroll_name_rare(const char *s, size_t len, uint32_t *out, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, n = 0;

	while (i < len) {
		uint32_t cp = utf8_next(u, len, &i);

		if ((cp >= 0x20 && cp <= 0x7e) || cp == 0xb7 ||
		    enroll_gb2312_has(cp))
			continue;
		if (n < max)
			out[n] = cp;
		n++;
	}
	return n;
}
