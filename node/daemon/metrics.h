/*
 * metrics.h — the daemon's Prometheus metrics, written as a file for
 * node_exporter's textfile collector (docs/cardnode.md, "Metrics").
 *
 * Every `interval` the file is rewritten atomically (a temporary file in
 * the same directory, fsync, rename; mode 0644) from counters the network
 * side and the reader keep, and cheap counts of the replica read through a
 * view of it (replica_count, replica_watermark).  All calls from the loop
 * thread.
 */
#ifndef CN_METRICS_H
#define CN_METRICS_H

#include <stddef.h>

#include <uv.h>

#include "net.h"
#include "replica.h"
#include "taps.h"

struct metrics;

/* Start: takes a view of `base` (so before the replica thread starts using
 * it) and a timer; the first file is written once metrics_set_net() gave
 * the network side.  Errors: CN_ERR_NOMEM, CN_ERR_INVAL (a copied
 * replica), with err set. */
int metrics_start(struct metrics **out, uv_loop_t *loop, struct replica *base,
		  const char *path, unsigned interval_s, char *err,
		  size_t errlen);
/* The network side and the reader (NULL: none) to read counters from;
 * writes the file at once and then every interval. */
void metrics_set_sources(struct metrics *m, struct net *net, struct taps *taps);
/* Write the file now (a failure is logged once until it works again). */
void metrics_write(struct metrics *m);
/* Stop the timer and forget the sources; the view is closed and m freed
 * once the loop closed the timer.  The file stays (its age says the daemon
 * stopped).  m may be NULL. */
void metrics_stop(struct metrics *m);

#endif
