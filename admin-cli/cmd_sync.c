/*
 * cmd_sync.c — `cardctl sync HOST:PORT`: one sync with one peer, without
 * the daemon, over the same handshake and protocol (replication/net.h).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "cli.h"
#include "commands.h"
#include "json.h"
#include "log.h"
#include "net.h"

static const struct cli_cmd sync_cmd = {
	"sync", "sync HOST:PORT [--timeout SECONDS]",
	"Connect to the node at HOST:PORT (its cardnode daemon), run the\n"
	"handshake, and exchange what either side lacks: certificates,\n"
	"revocations and entries of every origin.  Stops once both sides hold\n"
	"everything the other has (as far as the peer's acknowledgements\n"
	"say), or after --timeout seconds (default 300).  The daemon of this\n"
	"node may keep running meanwhile.\n"
	"\n"
	"Prints what was sent and received; --json keys: peer, synced,\n"
	"entries_sent, entries_received, applied, refused, peer_lacks,\n"
	"we_lack, message.\n"
	"Exit status: 0 synced, 1 the connection or the handshake failed,\n"
	"5 the timeout came first (what was received is kept).\n"
};

struct sync_run {
	uv_loop_t *loop;
	uv_timer_t timer;
	struct net *net;
	int result;
	char msg[400];
	struct worker_peer peer;
	bool timed_out;
};

static void on_stopped(void *ctx)
{
	struct sync_run *s = ctx;
	const char *msg;

	s->result = net_oneshot_result(s->net, &msg, &s->peer);
	snprintf(s->msg, sizeof s->msg, "%s", msg);
	if (s->timed_out && s->result == CN_ERR_PARTIAL)
		snprintf(s->msg, sizeof s->msg, "timed out before the sync completed");
	uv_close((uv_handle_t *)&s->timer, NULL);
}

static void on_timeout(uv_timer_t *t)
{
	struct sync_run *s = t->data;

	s->timed_out = true;
	net_stop(s->net, NULL, NULL);
}

int cmd_sync_main(int argc, char **argv)
{
	const char *timeout_s = NULL;
	const struct cli_opt opts[] = {
		{ "timeout", &timeout_s, NULL },
		CLI_OPT_END,
	};
	struct replica *r = NULL;
	struct sync_run s;
	uv_loop_t loop;
	struct net_config nc = {0};
	const char *peer;
	char host[256], port[8], err[600];
	uint64_t timeout = 300;
	enum log_level level;
	int ret, rc;

	if ((ret = cli_parse(&sync_cmd, argc, argv, opts, 1)) >= 0)
		return ret;
	peer = argv[optind];
	if (!net_parse_hostport(peer, host, sizeof host, port, sizeof port))
		return cli_usage_error(&sync_cmd, "'%s' is not HOST:PORT", peer);
	if (timeout_s != NULL &&
	    (ret = cli_parse_uint(&sync_cmd, "--timeout", timeout_s, 1, 86400,
				  &timeout)) != 0)
		return ret;
	if ((ret = cli_open(0, &r)))
		return ret;
	signal(SIGPIPE, SIG_IGN);
	/* The log goes to stderr: warnings and errors unless asked. */
	level = LOG_WARN;
	if (getenv("CARDNODE_LOG") != NULL)
		(void)log_level_parse(getenv("CARDNODE_LOG"), &level);
	log_set_level(level);
	memset(&s, 0, sizeof s);
	s.result = CN_ERR_PARTIAL;
	if (uv_loop_init(&loop) != 0) {
		cli_err("cannot start an event loop");
		replica_close(r);
		return CLI_FAIL;
	}
	s.loop = &loop;
	uv_timer_init(&loop, &s.timer);
	s.timer.data = &s;
	nc.peers = &peer;
	nc.npeers = 1;
	nc.oneshot = true;
	nc.stopped = on_stopped;
	nc.stopped_ctx = &s;
	if ((rc = net_start(&s.net, &loop, r, &nc, err, sizeof err)) != 0) {
		cli_err("%s", err);
		uv_close((uv_handle_t *)&s.timer, NULL);
		uv_run(&loop, UV_RUN_DEFAULT);
		(void)uv_loop_close(&loop);
		replica_close(r);
		return cli_exit_of(rc);
	}
	uv_timer_start(&s.timer, on_timeout, timeout * 1000u, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		cli_err("the event loop did not close cleanly");
	replica_close(r);

	ret = s.result == 0 ? CLI_OK : s.result == CN_ERR_PARTIAL ? CLI_PARTIAL : CLI_FAIL;
	if (cli.json) {
		json_object_begin();
		json_kv_str("peer", peer);
		json_kv_bool("synced", s.result == 0);
		json_kv_uint("entries_sent", s.peer.entries_sent);
		json_kv_uint("entries_received", s.peer.entries_received);
		json_kv_uint("applied", s.peer.applied);
		json_kv_uint("refused", s.peer.refused);
		json_kv_uint("peer_lacks", s.peer.peer_lacks);
		json_kv_uint("we_lack", s.peer.we_lack);
		json_kv_str("message", s.msg);
		json_object_end();
		if (json_end() && ret == CLI_OK)
			ret = CLI_FAIL;
	} else if (ret == CLI_OK) {
		printf("synced with %s: sent %" PRIu64 " entries, received %" PRIu64
		       " (%" PRIu64 " applied, %" PRIu64 " refused)\n", peer,
		       s.peer.entries_sent, s.peer.entries_received,
		       s.peer.applied, s.peer.refused);
	} else {
		cli_err("sync with %s: %s", peer, s.msg[0] ? s.msg : "failed");
		if (s.peer.entries_received > 0)
			fprintf(stderr, "cardctl: received %" PRIu64 " entries before "
				"that (%" PRIu64 " applied); they are kept\n",
				s.peer.entries_received, s.peer.applied);
	}
	return ret;
}
