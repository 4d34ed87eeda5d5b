/*
 * log.c — see log.h.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static atomic_int level = LOG_INFO;

static const char *const names[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level l)
{
	atomic_store(&level, (int)l);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load(&level);
}

bool log_level_parse(const char *name, enum log_level *out)
{
	for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
		if (strcmp(name, names[i]) == 0) {
			*out = (enum log_level)i;
			return true;
		}
	return false;
}

void log_msg(enum log_level l, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t n;
	int k;

	if ((int)l > atomic_load(&level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line + n, sizeof line - n, ".%03ldZ %-5s ",
		     ts.tv_nsec / 1000000, names[l]);
	n += k > 0 ? (size_t)k : 0;
	va_start(ap, fmt);
	k = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
	va_end(ap);
	if (k < 0)
		k = 0;
	n += (size_t)k < sizeof line - n - 1 ? (size_t)k : sizeof line - n - 2;
	/* One line per event: a message never spans lines. */
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	fwrite(line, 1, n, stderr);
}
