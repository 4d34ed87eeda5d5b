/*
 * sim.h — the simulated reader (DESIGN §9, `device = sim:PATH`): a unix
 * stream socket where each connection is one tap.  The client (`cardctl
 * tap`) sends one line
 *     tap UID_HEX
 * and receives one line once the tap is answered:
 *     DECISION<TAB>CARD<TAB>STUDENT<TAB>DETAIL
 * (empty fields for an unknown card), then the connection closes.  A
 * simulated card has no chip: its taps carry chip status CARD_UNREADABLE
 * and nothing is ever written to it.  The socket is made 0600: only the
 * daemon's user (and root) can tap.  All calls from the loop thread.
 */
#ifndef CN_SIM_H
#define CN_SIM_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "nfc.h"

#define SIM_LINE_MAX 128

struct sim_reader;

/* A tap arrived; answer it with sim_reader_reply(t->id, …). */
typedef void (*sim_tap_cb)(void *ctx, const struct reader_tap *t);

/* Listen on `path` (an existing socket file there is replaced).  Errors:
 * CN_ERR_IO with err saying why. */
int sim_reader_start(struct sim_reader **out, uv_loop_t *loop,
		     const char *path, sim_tap_cb cb, void *ctx, char *err,
		     size_t errlen);
/* Send the answer line of tap `id` and close its connection (ignored when
 * the client went away). */
void sim_reader_reply(struct sim_reader *s, uint64_t id, const char *line);
/* Close the socket and every connection, remove the socket file; the loop
 * frees the rest.  s may be NULL. */
void sim_reader_stop(struct sim_reader *s);

#endif
