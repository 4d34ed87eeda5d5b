/*
 * daemon_status.c — see daemon_status.h.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_status.h"
#include "util.h"

#define FRESH_MS 10000 /* the daemon rewrites the file every second */

static uint64_t num(const char *s)
{
	return strtoull(s, NULL, 10);
}

static void copy(char *dst, size_t cap, const char *s)
{
	snprintf(dst, cap, "%s", strcmp(s, "-") == 0 ? "" : s);
}

/* Cut s at tabs into exactly `want` fields; false for another count. */
static bool fields(char *s, char **f, size_t want)
{
	char *save = NULL;
	size_t n = 0;

	for (char *t = strtok_r(s, "\t", &save); t != NULL;
	     t = strtok_r(NULL, "\t", &save)) {
		if (n == want)
			return false;
		f[n++] = t;
	}
	return n == want;
}

static bool peer_line(char *line, struct ds_peer *p)
{
	char *f[14];

	if (!fields(line, f, 14))
		return false;
	memset(p, 0, sizeof *p);
	copy(p->addr, sizeof p->addr, f[1]);
	copy(p->dir, sizeof p->dir, f[2]);
	copy(p->state, sizeof p->state, f[3]);
	copy(p->node, sizeof p->node, f[4]);
	copy(p->name, sizeof p->name, f[5]);
	p->since_ms = num(f[6]);
	p->last_msg_ms = num(f[7]);
	p->sent = num(f[8]);
	p->received = num(f[9]);
	p->peer_lacks = num(f[10]);
	p->we_lack = num(f[11]);
	p->next_dial_ms = num(f[12]);
	copy(p->last_error, sizeof p->last_error, f[13]);
	return true;
}

/* "DEVICE MODE STATE TAPS" */
static void reader_line(char *v, struct daemon_status *ds)
{
	char *f[4];

	if (!fields(v, f, 4))
		return;
	copy(ds->reader_device, sizeof ds->reader_device, f[0]);
	copy(ds->reader_mode, sizeof ds->reader_mode, f[1]);
	copy(ds->reader_state, sizeof ds->reader_state, f[2]);
	ds->reader_taps = num(f[3]);
}

void ds_read(const char *dir, struct daemon_status *ds)
{
	char path[4200], line[2048];
	size_t cap = 0;
	FILE *f;

	memset(ds, 0, sizeof *ds);
	snprintf(path, sizeof path, "%s/daemon.status", dir);
	if ((f = fopen(path, "r")) == NULL)
		return;
	if (fgets(line, sizeof line, f) == NULL ||
	    strcmp(line, "cardnode-status\t1\n") != 0) {
		fclose(f);
		return;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		char *v;
		line[strcspn(line, "\n")] = '\0';
		if ((v = strchr(line, '\t')) == NULL)
			continue;
		*v++ = '\0';
		if (strcmp(line, "pid") == 0) {
			ds->pid = strtol(v, NULL, 10);
		} else if (strcmp(line, "updated_ms") == 0) {
			ds->updated_ms = num(v);
		} else if (strcmp(line, "listen") == 0) {
			copy(ds->listen, sizeof ds->listen, v);
		} else if (strcmp(line, "watermark_max_age_ms") == 0) {
			ds->watermark_max_age_ms = num(v);
		} else if (strcmp(line, "reader") == 0) {
			reader_line(v, ds);
		} else if (strcmp(line, "peer") == 0 && ds->npeers < DS_PEERS_MAX) {
			struct ds_peer *g;
			v[-1] = '\t';
			if (ds->npeers == cap) {
				g = util_grow(ds->peers, &cap, ds->npeers + 1, sizeof *g);
				if (g == NULL)
					break;
				ds->peers = g;
			}
			if (peer_line(line, &ds->peers[ds->npeers]))
				ds->npeers++;
		}
	}
	fclose(f);
	ds->present = true;
	ds->running = ds->pid > 0 &&
		      (kill((pid_t)ds->pid, 0) == 0 || errno == EPERM) &&
		      util_now_ms() < ds->updated_ms + FRESH_MS;
}

void ds_free(struct daemon_status *ds)
{
	free(ds->peers);
	memset(ds, 0, sizeof *ds);
}
