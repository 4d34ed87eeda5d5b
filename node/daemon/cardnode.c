/*
 * cardnode.c — the node daemon every school and service point runs.
 *
 *   cardnode -c /etc/cardnode/cardnode.conf
 *
 * Runs in the foreground and logs to stderr.  Opens the data dir named in
 * the configuration (identity, certificate, root key and deployment secret
 * live there, written by `cardctl init`), listens, dials its peers and
 * keeps the replica in sync with them (replication/net.h).  SIGTERM or
 * SIGINT: stop cleanly (every handle closed, the loop closed); SIGHUP:
 * re-read the configuration and apply the peer list and the log level.
 *
 * This file composes the parts; it is the top of the dependency graph
 * (node/daemon → replication → node core), as admin-cli is for cardctl.
 *
 * Exit status: 0 stopped by a signal, 1 failed while running, 2 bad usage
 * or configuration (the message names the file and line), 3 the data dir
 * cannot be opened (or another cardnode runs on it).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <uv.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "net.h"
#include "policy.h"
#include "cn.h"
#include "replica.h"
#include "taps.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define EXIT_DATA 3

static const char usage[] =
	"usage: cardnode -c FILE [--check-config]\n"
	"       cardnode --version | --help\n"
	"\n"
	"The cardnode daemon: keeps this node's replica of students, cards and\n"
	"the blacklist in sync with its peers, and answers its card reader.\n"
	"Runs in the foreground and logs to stderr.\n"
	"\n"
	"  -c, --config FILE  the configuration (see cardnode.conf(5))\n"
	"  --check-config     read the configuration and open the data dir,\n"
	"                     say what is wrong or 'ok', and exit\n"
	"  --version          print the version\n"
	"\n"
	"Signals: SIGTERM/SIGINT stop cleanly; SIGHUP re-reads the peers and\n"
	"the log level from the configuration.\n"
	"Exit status: 0 stopped by a signal, 1 failed while running, 2 bad\n"
	"usage or configuration, 3 the data dir cannot be opened or another\n"
	"cardnode runs on it.\n";

struct daemon {
	uv_loop_t loop;
	uv_signal_t sigterm, sigint, sighup;
	struct config cfg;
	struct replica *r;
	struct net *net;
	struct taps *taps;
	struct metrics *metrics;
	bool stopping;
	char status_path[1100];
};

/* The net's callbacks go through the daemon: the reader may be gone. */
static void on_authored(void *ctx, uint64_t token, int rc, const char *why)
{
	struct daemon *d = ctx;

	if (d->taps != NULL)
		taps_authored(d->taps, token, rc, why);
}

static void on_status_extra(void *ctx, FILE *f)
{
	struct daemon *d = ctx;

	if (d->taps != NULL)
		taps_status(d->taps, f);
}

static void on_net_stopped(void *ctx)
{
	struct daemon *d = ctx;

	d->net = NULL;
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->sighup, NULL);
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;

	if (d->stopping)
		return;
	d->stopping = true;
	log_info("%s: stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	metrics_stop(d->metrics);
	d->metrics = NULL;
	taps_stop(d->taps);
	d->taps = NULL;
	net_stop(d->net, on_net_stopped, d);
}

static void on_sighup(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	struct config c;
	char err[1400];

	(void)signum;
	if (d->stopping)
		return;
	if (!config_load(d->cfg.path, &c, err, sizeof err)) {
		log_error("SIGHUP: configuration not reloaded: %s", err);
		config_free(&c);
		return;
	}
	if (strcmp(c.data_dir, d->cfg.data_dir) != 0 ||
	    strcmp(c.listen, d->cfg.listen) != 0 ||
	    c.keepalive_s != d->cfg.keepalive_s ||
	    c.dead_after_s != d->cfg.dead_after_s ||
	    c.max_connections != d->cfg.max_connections ||
	    c.watermark_interval_s != d->cfg.watermark_interval_s ||
	    c.watermark_max_age_s != d->cfg.watermark_max_age_s ||
	    strcmp(c.reader_device, d->cfg.reader_device) != 0 ||
	    c.reader_mode != d->cfg.reader_mode ||
	    strcmp(c.reader_name, d->cfg.reader_name) != 0 ||
	    c.tap_log_days != d->cfg.tap_log_days ||
	    c.flag_stale != d->cfg.flag_stale ||
	    strcmp(c.metrics_file, d->cfg.metrics_file) != 0 ||
	    c.metrics_interval_s != d->cfg.metrics_interval_s)
		log_warn("SIGHUP: only [peers] and log_level are reloaded; the "
			 "other changes take effect at the next start");
	if (net_set_peers(d->net, (const char *const *)c.peers, c.npeers, err,
			  sizeof err) != 0) {
		log_error("SIGHUP: configuration not reloaded: %s", err);
		config_free(&c);
		return;
	}
	log_set_level(c.log_level);
	log_info("SIGHUP: configuration reloaded (%zu peers)", c.npeers);
	config_free(&d->cfg);
	d->cfg = c;
}

static int check_config(const char *path)
{
	struct config c;
	struct replica *r;
	char err[1400];

	if (!config_load(path, &c, err, sizeof err)) {
		fprintf(stderr, "cardnode: %s\n", err);
		config_free(&c);
		return EXIT_USAGE;
	}
	if (replica_open(c.data_dir, REPLICA_RDONLY, &r, err, sizeof err) != 0) {
		fprintf(stderr, "cardnode: data dir %s: %s\n", c.data_dir, err);
		config_free(&c);
		return EXIT_DATA;
	}
	replica_close(r);
	printf("ok: %s (data dir %s, %zu peers)\n", path, c.data_dir, c.npeers);
	config_free(&c);
	return 0;
}

/* One daemon per data dir: an exclusive lock on DATA/daemon.lock, held
 * until the process exits (the kernel drops it even after SIGKILL). */
static int lock_data_dir(const char *dir, int *fd_out)
{
	char path[1100];
	int fd;

	snprintf(path, sizeof path, "%s/daemon.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		log_error("another cardnode is running on %s (%s is locked)", dir,
			  path);
		close(fd);
		return -1;
	}
	*fd_out = fd;
	return 0;
}

static int run(const char *path)
{
	struct daemon d;
	struct replica_info info;
	struct net_config nc = {0};
	char err[1400];
	int rc, ret = 0, lock_fd = -1;

	memset(&d, 0, sizeof d);
	if (!config_load(path, &d.cfg, err, sizeof err)) {
		fprintf(stderr, "cardnode: %s\n", err);
		config_free(&d.cfg);
		return EXIT_USAGE;
	}
	log_set_level(d.cfg.log_level);
	if (replica_open(d.cfg.data_dir, 0, &d.r, err, sizeof err) != 0) {
		log_error("data dir %s: %s", d.cfg.data_dir, err);
		config_free(&d.cfg);
		return EXIT_DATA;
	}
	if (lock_data_dir(d.cfg.data_dir, &lock_fd) != 0) {
		replica_close(d.r);
		config_free(&d.cfg);
		return EXIT_DATA;
	}
	replica_info(d.r, &info);
	log_info("cardnode %s: node %s (%s), data dir %s", CARDNODE_VERSION,
		 info.name, info.scope, d.cfg.data_dir);
	/* Dates (validity, terms, the tap log) are the deployment's. */
	if (policy_tz_set(info.timezone[0] ? info.timezone : "Asia/Shanghai") != CN_OK)
		log_warn("time zone '%s' unknown: using UTC", info.timezone);
	signal(SIGPIPE, SIG_IGN);
	if ((rc = uv_loop_init(&d.loop)) != 0) {
		log_error("cannot start the event loop: %s", uv_strerror(rc));
		replica_close(d.r);
		close(lock_fd);
		config_free(&d.cfg);
		return EXIT_RUNTIME;
	}
	snprintf(d.status_path, sizeof d.status_path, "%s/daemon.status",
		 d.cfg.data_dir);
	nc.listen = d.cfg.listen[0] ? d.cfg.listen : NULL;
	nc.peers = (const char *const *)d.cfg.peers;
	nc.npeers = d.cfg.npeers;
	nc.keepalive_ms = d.cfg.keepalive_s * 1000u;
	nc.dead_ms = d.cfg.dead_after_s * 1000u;
	nc.max_conns = d.cfg.max_connections;
	nc.watermark_ms = (uint64_t)d.cfg.watermark_interval_s * 1000u;
	nc.watermark_max_age_ms = (uint64_t)d.cfg.watermark_max_age_s * 1000u;
	nc.status_path = d.status_path;
	nc.authored = on_authored;
	nc.authored_ctx = &d;
	nc.status_extra = on_status_extra;
	nc.status_ctx = &d;
	uv_signal_init(&d.loop, &d.sigterm);
	uv_signal_init(&d.loop, &d.sigint);
	uv_signal_init(&d.loop, &d.sighup);
	d.sigterm.data = d.sigint.data = d.sighup.data = &d;
	uv_signal_start(&d.sigterm, on_stop_signal, SIGTERM);
	uv_signal_start(&d.sigint, on_stop_signal, SIGINT);
	uv_signal_start(&d.sighup, on_sighup, SIGHUP);
	if (strcmp(d.cfg.reader_device, "none") != 0) {
		struct taps_config tc = {
			.device = d.cfg.reader_device,
			.mode = d.cfg.reader_mode,
			.name = d.cfg.reader_name,
			.data_dir = d.cfg.data_dir,
			.log_days = d.cfg.tap_log_days,
			.flag_stale = d.cfg.flag_stale,
			.watermark_max_age_ms = nc.watermark_max_age_ms,
		};
		/* Before the net: the reader's view is taken while this thread
		 * still owns the replica. */
		if ((rc = taps_start(&d.taps, &d.loop, d.r, &tc, err, sizeof err)) != 0)
			log_error("reader: %s", err);
	}
	/* Likewise before the net: the metrics read the replica through a view. */
	if (rc == 0 && d.cfg.metrics_file[0] != '\0' &&
	    (rc = metrics_start(&d.metrics, &d.loop, d.r, d.cfg.metrics_file,
				d.cfg.metrics_interval_s, err, sizeof err)) != 0) {
		log_error("metrics: %s", err);
		taps_stop(d.taps);
		d.taps = NULL;
	}
	if (rc != 0) {
		d.stopping = true;
		on_net_stopped(&d);
		ret = EXIT_RUNTIME;
	} else if ((rc = net_start(&d.net, &d.loop, d.r, &nc, err, sizeof err)) != 0) {
		metrics_stop(d.metrics);
		d.metrics = NULL;
		taps_stop(d.taps);
		d.taps = NULL;
		log_error("%s", err);
		d.stopping = true;
		on_net_stopped(&d);
		ret = rc == CN_ERR_INVAL ? EXIT_USAGE : EXIT_RUNTIME;
	} else {
		taps_set_net(d.taps, d.net);
		metrics_set_sources(d.metrics, d.net, d.taps);
		log_info("running: %zu peers configured", d.cfg.npeers);
	}
	uv_run(&d.loop, UV_RUN_DEFAULT);
	if ((rc = uv_loop_close(&d.loop)) != 0) {
		log_error("the event loop did not close cleanly: %s", uv_strerror(rc));
		ret = EXIT_RUNTIME;
	}
	replica_close(d.r);
	close(lock_fd);
	config_free(&d.cfg);
	if (ret == 0)
		log_info("stopped");
	return ret;
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	bool check = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("cardnode %s\n", CARDNODE_VERSION);
			return 0;
		}
		if (strcmp(argv[i], "--check-config") == 0) {
			check = true;
		} else if ((strcmp(argv[i], "-c") == 0 ||
			    strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
			path = argv[++i];
		} else {
			fprintf(stderr, "cardnode: unknown argument '%s'\n%s", argv[i],
				usage);
			return EXIT_USAGE;
		}
	}
	if (path == NULL) {
		fprintf(stderr, "cardnode: -c FILE is required\n%s", usage);
		return EXIT_USAGE;
	}
	return check ? check_config(path) : run(path);
}
