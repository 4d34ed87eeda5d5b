/*
 * config.h — the daemon's configuration file (cardnode.conf(5), DESIGN §7):
 * INI, parsed with libinih.  Every key is documented in docs/cardnode.md.
 * An unknown section or key, a repeated single key or a bad value is an
 * error naming the file, the line and what is wrong.
 */
#ifndef CN_CONFIG_H
#define CN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "station.h"

#define CONFIG_PEERS_MAX 256

struct config {
	char path[1024];
	/* [node] */
	char data_dir[1024];
	char listen[300];             /* default 0.0.0.0:7420; "" = none */
	enum log_level log_level;
	unsigned watermark_interval_s; /* city nodes; 0 = never */
	unsigned watermark_max_age_s;
	unsigned keepalive_s;
	unsigned dead_after_s;
	unsigned max_connections;
	char metrics_file[1024];       /* Prometheus textfile; "" = none */
	unsigned metrics_interval_s;
	/* [peers] */
	char *peers[CONFIG_PEERS_MAX];
	size_t npeers;
	/* [reader] */
	char reader_device[1024];     /* "none", "nfc:…", "sim:…" */
	enum station_mode reader_mode;
	char reader_name[CN_ACTOR_MAX + 1];
	unsigned tap_log_days;
	bool flag_stale;
	/* which single keys were set (for "set twice") */
	uint32_t seen;
};

/* Read and check `path` into *c (zeroed first, defaults applied).  On
 * failure returns false with err = "PATH:LINE: what is wrong" (or PATH:
 * why it cannot be read).  config_free() in every case. */
bool config_load(const char *path, struct config *c, char *err, size_t errlen);
void config_free(struct config *c);

#endif
