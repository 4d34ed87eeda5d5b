/*
 * log.h — the daemon's log: one line per event on stderr, with a UTC
 * timestamp and a level.  Safe from any thread (each line is written with
 * one call).  National ID numbers never reach it: the core holds only their
 * keyed digests, and nothing here prints entry bodies.
 *
 *   2026-11-21T07:10:48.123Z info  peer 127.0.0.1:7421: connected (school-a)
 */
#ifndef CN_LOG_H
#define CN_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_ERROR = 0,
	LOG_WARN = 1,
	LOG_INFO = 2,
	LOG_DEBUG = 3,
};

/* Lines above `level` are dropped.  The default is LOG_INFO. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "error", "warn", "info", "debug" → level; false for anything else. */
bool log_level_parse(const char *name, enum log_level *out);

__attribute__((format(printf, 2, 3)))
void log_msg(enum log_level level, const char *fmt, ...);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
