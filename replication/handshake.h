/*
 * handshake.h — the connection handshake and frame layer of replication
 * (DESIGN §7), as a sans-I/O state machine: bytes in, bytes out, no sockets,
 * no clock, no allocation during the handshake.  The daemon drives it from
 * its read and write callbacks; the tests drive two of them in memory.  The
 * byte layout is in docs/protocol.md.
 *
 * A connection goes through:
 *   1. HELLO both ways: a fresh X25519 ephemeral key and its HMAC under the
 *      deployment's network key.  A HELLO whose MAC does not verify ends the
 *      state machine in HS_DROP: close at once and send nothing more.  The
 *      initiator speaks first; the responder says nothing at all until it
 *      has a valid HELLO.
 *   2. crypto_kx session keys; the ephemeral secret is wiped at once.
 *   3. Each direction becomes a crypto_secretstream: a 24-byte header frame,
 *      then AUTH = CBOR [cert bstr, sig bstr64], the certificate and an
 *      Ed25519 signature over the transcript of both ephemerals and the
 *      sender's role.  Any failure from here on ends in HS_FAIL with a reason
 *      (the peer has proved the network key, so it may be logged); send
 *      nothing more either.
 *   4. HS_READY: each frame is one secretstream message (hs_seal,
 *      hs_open_next).  A frame that does not authenticate, a length out of
 *      range or a tag other than MESSAGE / FINAL is fatal: the connection
 *      state becomes HS_FAIL and nothing of the frame is delivered.
 *
 * Use:
 *   hs_init(&h, &cfg);
 *   loop: send what hs_pending() gives, then hs_sent(); feed received bytes
 *         to hs_recv() until hs_state() is no longer HS_RUNNING;
 *   HS_READY: hs_peer() is the authenticated peer.  Bytes hs_recv() left
 *         unused belong to the first data frames: pass them, and everything
 *         received later, to hs_open_next().  Send hs_seal() frames.
 *   HS_DROP, HS_FAIL: close the connection without sending anything more.
 *   hs_wipe(&h) in every case.
 *
 * The caller owns struct hs (embed it in the connection).  Its fields are
 * private.  One thread at a time.  Timeouts are the caller's: a peer that
 * stops sending halfway leaves the state machine in HS_RUNNING.
 *
 * Errors: 0 or a negative CN_ERR_* (cn.h).  Once the state is HS_DROP or
 * HS_FAIL every call returns the error that ended it and hs_error() says
 * why (a static string).  Secrets (ephemeral key, network key, session keys,
 * stream states) are wiped as soon as they are no longer needed, on any
 * failure, and by hs_wipe().
 */
#ifndef CN_HANDSHAKE_H
#define CN_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "authority.h"
#include "cn.h"

#define HS_KEY_LEN 32        /* network key, root public key */
#define HS_HELLO_LEN 64      /* eph_pk[32] || HMAC-SHA512-256(eph_pk)[32] */
#define HS_LEN_PREFIX 4      /* big-endian frame length */
#define HS_ABYTES crypto_secretstream_xchacha20poly1305_ABYTES      /* 17 */
#define HS_HEADER_LEN crypto_secretstream_xchacha20poly1305_HEADERBYTES /* 24 */
/* Largest message one frame carries, and the largest frame length. */
#define HS_MSG_MAX (1u << 20)
#define HS_FRAME_MAX (HS_MSG_MAX + HS_ABYTES)
/* Bytes hs_seal() adds to a message. */
#define HS_FRAME_OVERHEAD (HS_LEN_PREFIX + HS_ABYTES)
/* AUTH plaintext: array(2) head, bstr head (≤ 3) + cert, bstr head + sig. */
#define HS_AUTH_MAX (1 + 3 + CERT_MAX + 2 + CN_SIG_LEN)
/* The context string signed in AUTH, without a terminating NUL. */
#define HS_SIG_CONTEXT "cardnode-handshake-v1"

enum hs_state {
	HS_RUNNING = 1, /* handshake under way: keep sending and feeding */
	HS_READY,       /* authenticated both ways: hs_seal / hs_open_next */
	HS_DROP,        /* HELLO MAC failed: close silently */
	HS_FAIL         /* any later failure: close, hs_error() says why */
};

/* Sign msg with the node's identity key (Ed25519, detached).  0 on
 * success, else a negative CN_ERR_* that ends the handshake in HS_FAIL. */
typedef int (*hs_sign_fn)(void *ctx, const uint8_t *msg, size_t len,
			  uint8_t sig[static CN_SIG_LEN]);

/* hs_sign_fn for a struct replica (ctx): replica_sign(). */
int hs_replica_sign(void *replica, const uint8_t *msg, size_t len,
		    uint8_t sig[static CN_SIG_LEN]);

struct hs_config {
	bool initiator;              /* dialled out (true) or accepted */
	const uint8_t *network_key;  /* HS_KEY_LEN bytes; copied */
	const uint8_t *root_pub;     /* HS_KEY_LEN bytes; copied */
	/* Revocations to refuse a peer by (authority_revoked_after() !=
	 * UINT64_MAX means revoked).  May be NULL.  Borrowed: must outlive
	 * the handshake (until HS_READY, HS_DROP or HS_FAIL). */
	const struct authority *auth;
	const uint8_t *cert;         /* own certificate as authority_cert_sign
				      * wrote it, ≤ CERT_MAX bytes; copied */
	size_t cert_len;
	hs_sign_fn sign;             /* see hs_sign_fn; hs_replica_sign fits */
	void *sign_ctx;              /* borrowed, like auth */
	uint64_t now_ms;             /* the peer's certificate must be valid
				      * at this instant (ms since the epoch) */
};

struct hs {
	/* Private. */
	enum hs_state state;
	int err;
	const char *why;
	bool initiator;
	uint8_t step;
	const struct authority *auth;
	hs_sign_fn sign;
	void *sign_ctx;
	uint64_t now_ms;
	uint8_t root_pub[HS_KEY_LEN];
	uint8_t cert[CERT_MAX];
	size_t cert_len;
	struct cert peer;
	uint8_t eph_pk[HS_KEY_LEN];
	uint8_t hello[HS_HELLO_LEN];
	uint8_t transcript[32];
	struct {
		uint8_t network_key[HS_KEY_LEN];
		uint8_t eph_sk[HS_KEY_LEN];
		uint8_t rx[crypto_kx_SESSIONKEYBYTES];
		uint8_t tx[crypto_kx_SESSIONKEYBYTES];
		crypto_secretstream_xchacha20poly1305_state push, pull;
	} sec;
	bool tx_final, rx_final;
	/* Input being assembled: a HELLO, a length prefix, a frame. */
	uint8_t lenbuf[HS_LEN_PREFIX];
	size_t have;                 /* bytes of the current item so far */
	size_t need;                 /* its length, once known */
	uint8_t in[HS_AUTH_MAX + HS_ABYTES];
	uint8_t *rx;                 /* data frame buffer (heap) */
	size_t rx_cap;
	/* Handshake output: HELLO, header frame, AUTH frame. */
	uint8_t out[HS_HELLO_LEN + HS_LEN_PREFIX + HS_HEADER_LEN +
		    HS_LEN_PREFIX + HS_AUTH_MAX + HS_ABYTES];
	size_t out_off, out_len;
};

/* Start a handshake.  Opens the own certificate against root_pub (a
 * misconfiguration fails here, not at the peer), makes a fresh ephemeral
 * key, and for an initiator queues its HELLO (see hs_pending).  Errors:
 * CN_ERR_INVAL (a NULL key, cert or sign; cert longer than CERT_MAX),
 * CN_ERR_MALFORMED / CN_ERR_BADSIG (own certificate does not open;
 * hs_error says why).  On failure the state is HS_FAIL.  hs_wipe() is safe
 * after any hs_init(), successful or not. */
__attribute__((warn_unused_result)) int
hs_init(struct hs *h, const struct hs_config *c);

/* Wipe every secret and free what the state machine holds.  Afterwards h
 * is in HS_FAIL ("wiped") until the next hs_init(). */
void hs_wipe(struct hs *h);

/* Feed bytes received from the peer during the handshake.  *used is how
 * many were consumed: all of them while HS_RUNNING, fewer once the
 * handshake completes (the rest are data frames for hs_open_next), none in
 * HS_READY.  May complete steps and queue output: call hs_pending() after
 * every call.  Returns 0 (check hs_state) or, when the handshake ends in
 * HS_DROP / HS_FAIL, the error: CN_ERR_BADSIG (a MAC, the AUTH frame or the
 * signature does not verify; the HELLO MAC is the HS_DROP case),
 * CN_ERR_MALFORMED (bad frame or AUTH message), CN_ERR_TOOBIG (frame length
 * out of range), CN_ERR_REFUSED (peer certificate not valid at now_ms, or
 * revoked), or the sign callback's error. */
__attribute__((warn_unused_result)) int
hs_recv(struct hs *h, const uint8_t *in, size_t len, size_t *used);

/* The queued handshake bytes to send: *out points into h and stays valid
 * until the next call on h; *len may be 0.  Call hs_sent() with how many
 * were sent (the caller may copy them into a write request and call
 * hs_sent(len) at once).  Returns 0, or in HS_DROP / HS_FAIL the error that
 * ended the handshake with *len = 0: whatever was not sent yet never will. */
int hs_pending(struct hs *h, const uint8_t **out, size_t *len);
/* n ≤ the *len of the last hs_pending() (larger is clamped). */
void hs_sent(struct hs *h, size_t n);

enum hs_state hs_state(const struct hs *h);
/* Why the state machine ended in HS_DROP or HS_FAIL; "no error" otherwise.
 * Static string. */
const char *hs_error(const struct hs *h);
/* The peer's verified certificate in HS_READY (valid until hs_wipe), else
 * NULL.  Whether this peer may sync at all (its role, being oneself) is the
 * caller's decision. */
const struct cert *hs_peer(const struct hs *h);

/* Seal one message (len ≤ HS_MSG_MAX) into a frame written to frame[0..cap):
 * *flen = len + HS_FRAME_OVERHEAD bytes, so a caller can allocate its write
 * request and the frame together.  final: the last frame this side sends
 * (secretstream tag FINAL); hs_seal refuses anything after it.  Errors:
 * CN_ERR_TOOBIG (len > HS_MSG_MAX), CN_ERR_INVAL (not HS_READY, handshake
 * bytes still pending in hs_pending — send them first —, after a final
 * frame, or cap too small), or the error that ended the connection. */
__attribute__((warn_unused_result)) int
hs_seal(struct hs *h, const uint8_t *msg, size_t len, bool final,
	uint8_t *frame, size_t cap, size_t *flen);

/* Feed received bytes in HS_READY and take out at most one message.
 * *used is how many bytes were consumed; feed the rest again.  When a
 * frame completes and authenticates, *msg is a malloc()ed copy of the
 * plaintext (the caller free()s it; never NULL, even for an empty message)
 * of *mlen bytes, and *final tells whether the peer closed its direction
 * with it.  Otherwise *msg is NULL: all bytes were consumed and more are
 * needed.  Errors, all fatal (state HS_FAIL, nothing delivered):
 * CN_ERR_BADSIG (frame does not authenticate), CN_ERR_TOOBIG (length
 * prefix > HS_FRAME_MAX), CN_ERR_MALFORMED (length below HS_ABYTES,
 * unexpected tag, bytes after the peer's final frame), CN_ERR_NOMEM,
 * CN_ERR_INVAL (not HS_READY). */
__attribute__((warn_unused_result)) int
hs_open_next(struct hs *h, const uint8_t *in, size_t len, size_t *used,
	     uint8_t **msg, size_t *mlen, bool *final);

#endif
