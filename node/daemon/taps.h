/*
 * taps.h — the daemon's reader: the backend of the configuration
 * (`[reader] device`: nfc:CONNSTRING through libnfc, sim:PATH for tests
 * and demos, or none), a station of the configured mode answering each tap
 * from a read-only view of the replica (reader/station.h), the entries a
 * validation or registration authors (through the replica thread, durable
 * before the card is written), and the local tap log (reader/taplog.h).
 *
 * Taps are answered on the loop thread from the view, so a batch commit in
 * the replica thread never delays a gate decision.  All calls from the loop
 * thread.
 */
#ifndef CN_TAPS_H
#define CN_TAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <uv.h>

#include "net.h"
#include "replica.h"
#include "station.h"

struct taps_config {
	const char *device;            /* "nfc:…" or "sim:…" */
	enum station_mode mode;
	const char *name;              /* the reader's name: tap log, actor */
	const char *data_dir;
	unsigned log_days;             /* tap log retention */
	bool flag_stale;               /* mark taps while the watermark is old */
	uint64_t watermark_max_age_ms;
};

struct taps;

/* Start the reader.  `base` is the daemon's replica (a view is taken from
 * it before the replica thread starts using it); `net` authors entries
 * (set it with taps_set_net once the net runs).  Errors: CN_ERR_IO,
 * CN_ERR_NOMEM, CN_ERR_PERM (no deployment secret) with err set. */
int taps_start(struct taps **out, uv_loop_t *loop, struct replica *base,
	       const struct taps_config *c, char *err, size_t errlen);
void taps_set_net(struct taps *t, struct net *net);
/* net_config.authored: an entry of a tap was written, or not. */
void taps_authored(void *ctx, uint64_t token, int rc, const char *why);
/* One status line for DATA/daemon.status: "reader DEVICE MODE STATE TAPS". */
void taps_status(void *ctx, FILE *f);
/* Taps answered since the start, by decision (enum decision). */
void taps_counts(const struct taps *t, uint64_t out[static DEC__COUNT]);
/* Stop the backend, sync and close the tap log, close the view and the
 * timers (the loop finishes closing them).  t may be NULL. */
void taps_stop(struct taps *t);

#endif
