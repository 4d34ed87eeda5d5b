/*
 * daemon_status.h — the peer table the cardnode daemon writes to
 * DATA/daemon.status every second (replication/net.c, status_write), read
 * by `cardctl status`.
 *
 * The file is lines of tab-separated fields:
 *   cardnode-status 1
 *   pid PID                   (0 once the daemon has stopped)
 *   updated_ms MS
 *   listen ADDR|-
 *   watermark_max_age_ms MS
 *   reader DEVICE MODE STATE TAPS      (when a reader is configured)
 *   peer ADDR DIR STATE NODE NAME SINCE_MS LAST_MSG_MS SENT RECEIVED
 *        PEER_LACKS WE_LACK NEXT_DIAL_MS LAST_ERROR
 */
#ifndef CARDCTL_DAEMON_STATUS_H
#define CARDCTL_DAEMON_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DS_PEERS_MAX 2048

struct ds_peer {
	char addr[300];
	char dir[4];              /* "in" / "out" */
	char state[16];           /* connected, handshake, connecting, … */
	char node[65];            /* hex, or "" */
	char name[65];
	uint64_t since_ms, last_msg_ms, next_dial_ms;
	uint64_t sent, received, peer_lacks, we_lack;
	char last_error[200];
};

struct daemon_status {
	bool present;             /* a status file was found and parsed */
	bool running;             /* its pid is alive and it is fresh */
	long pid;
	uint64_t updated_ms;
	char listen[80];
	uint64_t watermark_max_age_ms;
	char reader_device[1024];  /* "" when no reader */
	char reader_mode[16];
	char reader_state[16];     /* ready, absent */
	uint64_t reader_taps;
	struct ds_peer *peers;
	size_t npeers;
};

/* Read DIR/daemon.status.  A missing file is not an error (present
 * false); a malformed one is treated as missing.  ds_free() after. */
void ds_read(const char *dir, struct daemon_status *ds);
void ds_free(struct daemon_status *ds);

#endif
