/*
 * taplog.c — see taplog.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "policy.h"
#include "taplog.h"
#include "util.h"

struct taplog {
	char dir[PATH_MAX];
	unsigned days;
	uint32_t day;           /* the date of the open file, 0 none */
	int fd;
	bool dirty;
};

int taplog_open(struct taplog **out, const char *data_dir, unsigned days,
		char *err, size_t errlen)
{
	struct taplog *t = calloc(1, sizeof *t);

	*out = NULL;
	if (t == NULL) {
		snprintf(err, errlen, "out of memory");
		return CN_ERR_NOMEM;
	}
	t->fd = -1;
	t->days = days ? days : 1;
	if (snprintf(t->dir, sizeof t->dir, "%s/%s", data_dir, TAPLOG_DIR) >=
	    (int)sizeof t->dir) {
		snprintf(err, errlen, "data dir path too long");
		free(t);
		return CN_ERR_IO;
	}
	if (mkdir(t->dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", t->dir, strerror(errno));
		free(t);
		return CN_ERR_IO;
	}
	*out = t;
	return CN_OK;
}

static void day_path(const char *dir, uint32_t day, char *out, size_t len)
{
	snprintf(out, len, "%s/%04u-%02u-%02u.csv", dir, (unsigned)(day / 10000),
		 (unsigned)(day / 100 % 100), (unsigned)(day % 100));
}

/* The file of `day`, opened for appending (a new one starts with the
 * header). */
static int open_day(struct taplog *t, uint32_t day)
{
	char path[PATH_MAX + 32];
	struct stat st;
	int fd;

	if (t->fd >= 0 && t->day == day)
		return CN_OK;
	taplog_sync(t);
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	day_path(t->dir, day, path, sizeof path);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return CN_ERR_IO;
	if (fstat(fd, &st) == 0 && st.st_size == 0 &&
	    write(fd, TAPLOG_HEADER "\n", sizeof TAPLOG_HEADER) !=
		    (ssize_t)sizeof TAPLOG_HEADER) {
		close(fd);
		return CN_ERR_IO;
	}
	t->fd = fd;
	t->day = day;
	return CN_OK;
}

/* Append `s` as one CSV field to buf[*n..cap). */
static void field(char *buf, size_t cap, size_t *n, const char *s, bool last)
{
	bool quote = strpbrk(s, ",\"\r\n") != NULL;

	if (quote && *n < cap)
		buf[(*n)++] = '"';
	for (; *s && *n + 2 < cap; s++) {
		if (*s == '"')
			buf[(*n)++] = '"';
		buf[(*n)++] = *s;
	}
	if (quote && *n < cap)
		buf[(*n)++] = '"';
	if (*n < cap)
		buf[(*n)++] = last ? '\n' : ',';
}

int taplog_write(struct taplog *t, const struct taplog_row *row)
{
	char line[1024], when[40], uid[2 * CN_UID_MAX + 1];
	time_t secs = (time_t)(row->time_ms / 1000);
	struct tm tm;
	size_t n = 0;
	int minute;
	uint32_t day = policy_local_date(row->time_ms, &minute);

	localtime_r(&secs, &tm);
	snprintf(when, sizeof when, "%04d-%02d-%02d %02d:%02d:%02d.%03u",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (unsigned)(row->time_ms % 1000));
	util_hex_encode(row->uid, row->uid_len, uid);
	for (char *p = uid; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	field(line, sizeof line, &n, when, false);
	field(line, sizeof line, &n, row->reader, false);
	field(line, sizeof line, &n, uid, false);
	field(line, sizeof line, &n, row->card, false);
	field(line, sizeof line, &n, row->student, false);
	field(line, sizeof line, &n, row->decision, false);
	field(line, sizeof line, &n, row->detail ? row->detail : "", true);
	if (line[n - 1] != '\n')
		line[n - 1] = '\n'; /* a detail cut short still ends the line */
	if (open_day(t, day) != CN_OK ||
	    write(t->fd, line, n) != (ssize_t)n)
		return CN_ERR_IO;
	t->dirty = true;
	return CN_OK;
}

void taplog_sync(struct taplog *t)
{
	if (t != NULL && t->dirty && t->fd >= 0) {
		(void)fdatasync(t->fd);
		t->dirty = false;
	}
}

static bool day_name(const char *name, uint32_t *day)
{
	unsigned y, m, d;
	char tail[8];

	if (strlen(name) != 14 ||
	    sscanf(name, "%4u-%2u-%2u%4s", &y, &m, &d, tail) != 4 ||
	    strcmp(tail, ".csv") != 0)
		return false;
	*day = y * 10000 + m * 100 + d;
	return policy_date_valid(*day);
}

/* Days since 2000-01-01 of a YYYYMMDD date (for the age of a file). */
static long day_number(uint32_t day)
{
	struct tm tm = {0};

	tm.tm_year = (int)(day / 10000) - 1900;
	tm.tm_mon = (int)(day / 100 % 100) - 1;
	tm.tm_mday = (int)(day % 100);
	tm.tm_hour = 12;
	return (long)(timegm(&tm) / 86400);
}

void taplog_prune(struct taplog *t, uint64_t now_ms)
{
	long today = day_number(policy_local_date(now_ms, NULL));
	struct dirent *e;
	DIR *d = opendir(t->dir);

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char path[PATH_MAX + 300];
		uint32_t day;
		if (!day_name(e->d_name, &day) || today - day_number(day) < (long)t->days)
			continue;
		snprintf(path, sizeof path, "%s/%s", t->dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

void taplog_close(struct taplog *t)
{
	if (t == NULL)
		return;
	taplog_sync(t);
	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int taplog_read(const char *data_dir, uint32_t from, uint32_t to,
		taplog_line_cb cb, void *ctx)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], line[4096];
	uint32_t *days = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	DIR *d;
	int ret = CN_OK;

	snprintf(dir, sizeof dir, "%s/%s", data_dir, TAPLOG_DIR);
	if ((d = opendir(dir)) == NULL)
		return CN_ERR_NOTFOUND;
	while ((e = readdir(d)) != NULL) {
		uint32_t day;
		if (!day_name(e->d_name, &day) || (from && day < from) ||
		    (to && day > to))
			continue;
		if (n == cap) {
			uint32_t *g = util_grow(days, &cap, n + 1, sizeof *g);
			if (g == NULL) {
				ret = CN_ERR_NOMEM;
				break;
			}
			days = g;
		}
		days[n++] = day;
	}
	closedir(d);
	if (n > 0)
		qsort(days, n, sizeof *days, cmp_u32);
	for (size_t i = 0; i < n && ret == CN_OK; i++) {
		FILE *f;
		day_path(dir, days[i], path, sizeof path);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (ret == CN_OK && fgets(line, sizeof line, f) != NULL) {
			line[strcspn(line, "\n")] = '\0';
			if (line[0] == '\0' || strcmp(line, TAPLOG_HEADER) == 0)
				continue;
			ret = cb(ctx, line);
		}
		fclose(f);
	}
	free(days);
	return ret;
}
