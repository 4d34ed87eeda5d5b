/*
 * taplog.h — the local tap log (DESIGN §9): every tap a reader of this
 * node answered, as one CSV line in DATA/taps/YYYY-MM-DD.csv (the local
 * date of the tap), kept for a configured number of days.  Not replicated
 * (taps are not change-log entries) and holding no names: time, reader,
 * UID, card, edu_id, decision and a detail.
 *
 * Durability: a line is handed to the kernel at once; taplog_sync (the
 * daemon calls it every second) makes the day's file durable, so a power
 * cut loses at most the last second of tap records.  A validation never
 * depends on this file: it is a change-log entry, committed before the
 * card is written.
 *
 * Columns (header line first in every file):
 *   time,reader,uid,card,student,decision,detail
 * time is local "YYYY-MM-DD HH:MM:SS.mmm"; uid upper-case hex; card and
 * student empty when unknown; fields with a comma, quote or newline are
 * quoted with doubled quotes (RFC 4180).
 */
#ifndef CN_TAPLOG_H
#define CN_TAPLOG_H

#include <stddef.h>
#include <stdint.h>

#include "cn.h"

#define TAPLOG_HEADER "time,reader,uid,card,student,decision,detail"
#define TAPLOG_DIR "taps"

struct taplog;

struct taplog_row {
	uint64_t time_ms;
	const char *reader;
	const uint8_t *uid;
	size_t uid_len;
	const char *card;       /* "" unknown */
	const char *student;    /* "" unknown */
	const char *decision;
	const char *detail;     /* may be "" */
};

/* Open the log of the data dir (creating DATA/taps, 0700).  days: how many
 * days of files to keep (≥ 1).  Errors: CN_ERR_IO (err says why). */
int taplog_open(struct taplog **out, const char *data_dir, unsigned days,
		char *err, size_t errlen);
/* Append one row.  CN_ERR_IO when it cannot be written (the tap has been
 * answered all the same; the caller logs it). */
int taplog_write(struct taplog *t, const struct taplog_row *row);
/* Make what was written durable (fdatasync), if anything was. */
void taplog_sync(struct taplog *t);
/* Delete the day files older than `days` before now_ms's date. */
void taplog_prune(struct taplog *t, uint64_t now_ms);
void taplog_close(struct taplog *t);

/* Reading (cardctl taps): cb gets every data line (no newline, no header)
 * of the day files from..to (YYYYMMDD, 0 = open), in date order.  A
 * non-zero cb return stops and is returned.  CN_ERR_NOTFOUND when the
 * data dir has no tap log at all. */
typedef int (*taplog_line_cb)(void *ctx, const char *line);
int taplog_read(const char *data_dir, uint32_t from, uint32_t to,
		taplog_line_cb cb, void *ctx);

#endif
