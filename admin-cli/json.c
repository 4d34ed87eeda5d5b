/*
 * json.c — the streaming JSON writer of json.h.
 */
#include "json.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define JSON_DEPTH_MAX 32

static struct {
	int depth;
	bool first[JSON_DEPTH_MAX]; /* no element written yet at this level */
	bool is_obj[JSON_DEPTH_MAX];
	bool after_key;             /* a key was written, its value is next */
} js;

static void indent(void)
{
	putchar('\n');
	for (int i = 0; i < js.depth; i++)
		fputs("  ", stdout);
}

/* Called before every value and key: the comma and line break. */
static void before_value(void)
{
	if (js.after_key) {
		js.after_key = false;
		return;
	}
	if (js.depth == 0)
		return;
	if (!js.first[js.depth - 1])
		putchar(',');
	js.first[js.depth - 1] = false;
	indent();
}

static void open_container(char c, bool obj)
{
	before_value();
	putchar(c);
	if (js.depth < JSON_DEPTH_MAX) {
		js.first[js.depth] = true;
		js.is_obj[js.depth] = obj;
	}
	js.depth++;
}

static void close_container(char c)
{
	if (js.depth == 0)
		return;
	js.depth--;
	if (js.depth < JSON_DEPTH_MAX && !js.first[js.depth])
		indent();
	putchar(c);
}

void json_object_begin(void) { open_container('{', true); }
void json_object_end(void) { close_container('}'); }
void json_array_begin(void) { open_container('[', false); }
void json_array_end(void) { close_container(']'); }

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

void json_strn(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	before_value();
	putchar('"');
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		size_t len;

		switch (c) {
		case '"': fputs("\\\"", stdout); i++; continue;
		case '\\': fputs("\\\\", stdout); i++; continue;
		case '\n': fputs("\\n", stdout); i++; continue;
		case '\r': fputs("\\r", stdout); i++; continue;
		case '\t': fputs("\\t", stdout); i++; continue;
		case '\b': fputs("\\b", stdout); i++; continue;
		case '\f': fputs("\\f", stdout); i++; continue;
		default: break;
		}
		if (c < 0x20 || c == 0x7f) {
			printf("\\u%04x", c);
			i++;
			continue;
		}
		len = utf8_len(p + i, n - i);
		if (len == 0) {
			fputs("\\ufffd", stdout);
			i++;
			continue;
		}
		fwrite(p + i, 1, len, stdout);
		i += len;
	}
	putchar('"');
}

void json_str(const char *s)
{
	if (!s) {
		json_null();
		return;
	}
	json_strn(s, strlen(s));
}

void json_key(const char *k)
{
	json_str(k);
	fputs(": ", stdout);
	js.after_key = true;
}

void json_int(int64_t v)
{
	before_value();
	printf("%" PRId64, v);
}

void json_uint(uint64_t v)
{
	before_value();
	printf("%" PRIu64, v);
}

void json_bool(bool b)
{
	before_value();
	fputs(b ? "true" : "false", stdout);
}

void json_null(void)
{
	before_value();
	fputs("null", stdout);
}

void json_hex(const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	before_value();
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		putchar(digits[p[i] >> 4]);
		putchar(digits[p[i] & 15]);
	}
	putchar('"');
}

void json_kv_str(const char *k, const char *s) { json_key(k); json_str(s); }
void json_kv_int(const char *k, int64_t v) { json_key(k); json_int(v); }
void json_kv_uint(const char *k, uint64_t v) { json_key(k); json_uint(v); }
void json_kv_bool(const char *k, bool b) { json_key(k); json_bool(b); }
void json_kv_null(const char *k) { json_key(k); json_null(); }

void json_kv_str_or_null(const char *k, const char *s)
{
	json_key(k);
	if (s && *s)
		json_str(s);
	else
		json_null();
}

void json_kv_hex(const char *k, const uint8_t *p, size_t n)
{
	json_key(k);
	json_hex(p, n);
}

int json_end(void)
{
	if (js.after_key) /* a key without its value: keep it parseable */
		json_null();
	while (js.depth > 0) {
		bool obj = js.depth <= JSON_DEPTH_MAX && js.is_obj[js.depth - 1];
		close_container(obj ? '}' : ']');
	}
	putchar('\n');
	if (fflush(stdout) != 0 || ferror(stdout))
		return -1;
	return 0;
}
