/*
 * handshake.c — the replication handshake and frames (handshake.h,
 * docs/protocol.md).
 *
 * Input is assembled one item at a time — a HELLO, a 4-byte length prefix,
 * a frame body — into h->lenbuf, h->in (handshake frames, bounded by
 * HS_AUTH_MAX) or h->rx (data frames, bounded by HS_FRAME_MAX).  A length
 * prefix is range-checked before anything is sized from it.  Every secret
 * lives in h->sec, which fail() wipes as a whole.
 */
#include "handshake.h"

#include <stdlib.h>
#include <string.h>

#include "cbor_rw.h"
#include "replica.h"

#define SIG_CONTEXT_LEN (sizeof HS_SIG_CONTEXT - 1)
#define SIG_MSG_LEN (SIG_CONTEXT_LEN + 32 + 1)
#define ROLE_INITIATOR 'I'
#define ROLE_RESPONDER 'R'

/* What the input is being assembled into. */
enum step {
	ST_HELLO,     /* the peer's HELLO */
	ST_HDR_LEN,   /* length prefix of the header frame */
	ST_HDR,       /* the 24-byte secretstream header */
	ST_AUTH_LEN,
	ST_AUTH,      /* the AUTH message */
	ST_DATA_LEN,  /* after HS_READY: length prefix of a data frame */
	ST_DATA
};

static int fail(struct hs *h, enum hs_state st, int err, const char *why)
{
	sodium_memzero(&h->sec, sizeof h->sec);
	h->state = st;
	h->err = err;
	h->why = why;
	h->out_off = h->out_len = 0;
	return err;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void expect(struct hs *h, enum step st, size_t need)
{
	h->step = (uint8_t)st;
	h->have = 0;
	h->need = need;
}

int hs_replica_sign(void *replica, const uint8_t *msg, size_t len,
		    uint8_t sig[static CN_SIG_LEN])
{
	return replica_sign(replica, msg, len, sig);
}

/* "cardnode-handshake-v1" || transcript || role */
static void sig_message(const struct hs *h, uint8_t role,
			uint8_t out[static SIG_MSG_LEN])
{
	memcpy(out, HS_SIG_CONTEXT, SIG_CONTEXT_LEN);
	memcpy(out + SIG_CONTEXT_LEN, h->transcript, sizeof h->transcript);
	out[SIG_MSG_LEN - 1] = role;
}

int hs_init(struct hs *h, const struct hs_config *c)
{
	struct cert own;
	const char *why = "own certificate does not open";
	int rc;

	memset(h, 0, sizeof *h);
	h->state = HS_FAIL;
	if (sodium_init() < 0)
		return fail(h, HS_FAIL, CN_ERR_INVAL, "libsodium does not start");
	if (c == NULL || c->network_key == NULL || c->root_pub == NULL ||
	    c->cert == NULL || c->sign == NULL)
		return fail(h, HS_FAIL, CN_ERR_INVAL,
			    "configuration lacks a key, certificate or signer");
	if (c->cert_len == 0 || c->cert_len > CERT_MAX)
		return fail(h, HS_FAIL, CN_ERR_INVAL,
			    "own certificate is empty or too long");
	rc = authority_cert_open(c->cert, c->cert_len, c->root_pub, &own, &why);
	if (rc != CN_OK)
		return fail(h, HS_FAIL, rc, why);

	h->initiator = c->initiator;
	h->auth = c->auth;
	h->sign = c->sign;
	h->sign_ctx = c->sign_ctx;
	h->now_ms = c->now_ms;
	memcpy(h->root_pub, c->root_pub, HS_KEY_LEN);
	memcpy(h->cert, c->cert, c->cert_len);
	h->cert_len = c->cert_len;
	memcpy(h->sec.network_key, c->network_key, HS_KEY_LEN);

	crypto_kx_keypair(h->eph_pk, h->sec.eph_sk);
	memcpy(h->hello, h->eph_pk, HS_KEY_LEN);
	crypto_auth(h->hello + HS_KEY_LEN, h->eph_pk, HS_KEY_LEN,
		    h->sec.network_key);
	if (h->initiator) {
		memcpy(h->out, h->hello, HS_HELLO_LEN);
		h->out_len = HS_HELLO_LEN;
	}
	h->state = HS_RUNNING;
	h->err = CN_OK;
	h->why = NULL;
	expect(h, ST_HELLO, HS_HELLO_LEN);
	return CN_OK;
}

void hs_wipe(struct hs *h)
{
	if (h->rx != NULL) {
		sodium_memzero(h->rx, h->rx_cap);
		free(h->rx);
	}
	sodium_memzero(h, sizeof *h);
	h->state = HS_FAIL;
	h->err = CN_ERR_INVAL;
	h->why = "handshake state wiped";
}

/* Queue our header frame and AUTH frame; h->sec.tx is wiped after. */
static int queue_stream_start(struct hs *h)
{
	uint8_t sigmsg[SIG_MSG_LEN], sig[CN_SIG_LEN], auth[HS_AUTH_MAX];
	struct cbor_wr w;
	uint8_t *p;
	int rc;

	p = h->out + h->out_len;
	put_be32(p, HS_HEADER_LEN);
	crypto_secretstream_xchacha20poly1305_init_push(&h->sec.push,
							p + HS_LEN_PREFIX,
							h->sec.tx);
	sodium_memzero(h->sec.tx, sizeof h->sec.tx);
	h->out_len += HS_LEN_PREFIX + HS_HEADER_LEN;

	sig_message(h, h->initiator ? ROLE_INITIATOR : ROLE_RESPONDER, sigmsg);
	rc = h->sign(h->sign_ctx, sigmsg, sizeof sigmsg, sig);
	if (rc != 0)
		return fail(h, HS_FAIL, rc < 0 ? rc : CN_ERR_INVAL,
			    "signing the handshake failed");
	cbw_init_fixed(&w, auth, sizeof auth);
	cbw_array(&w, 2);
	cbw_bstr(&w, h->cert, h->cert_len);
	cbw_bstr(&w, sig, sizeof sig);
	if (w.err)
		return fail(h, HS_FAIL, w.err, "AUTH message does not fit");

	p = h->out + h->out_len;
	put_be32(p, (uint32_t)(w.len + HS_ABYTES));
	crypto_secretstream_xchacha20poly1305_push(
		&h->sec.push, p + HS_LEN_PREFIX, NULL, auth, w.len, NULL, 0,
		crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
	h->out_len += HS_LEN_PREFIX + w.len + HS_ABYTES;
	return CN_OK;
}

static int on_hello(struct hs *h)
{
	const uint8_t *peer_pk = h->in, *mac = h->in + HS_KEY_LEN;
	uint8_t both[2 * HS_KEY_LEN];
	int rc;

	if (crypto_auth_verify(mac, peer_pk, HS_KEY_LEN,
			       h->sec.network_key) != 0)
		return fail(h, HS_DROP, CN_ERR_BADSIG,
			    "hello MAC does not verify (another network key?)");
	/* Our own HELLO sent back proves no knowledge of the network key. */
	if (sodium_memcmp(peer_pk, h->eph_pk, HS_KEY_LEN) == 0)
		return fail(h, HS_DROP, CN_ERR_BADSIG,
			    "peer sent back our own hello");

	if (h->initiator)
		rc = crypto_kx_client_session_keys(h->sec.rx, h->sec.tx,
						   h->eph_pk, h->sec.eph_sk,
						   peer_pk);
	else
		rc = crypto_kx_server_session_keys(h->sec.rx, h->sec.tx,
						   h->eph_pk, h->sec.eph_sk,
						   peer_pk);
	sodium_memzero(h->sec.eph_sk, sizeof h->sec.eph_sk);
	if (rc != 0)
		return fail(h, HS_FAIL, CN_ERR_MALFORMED,
			    "peer ephemeral key is unusable");

	memcpy(both, h->initiator ? h->eph_pk : peer_pk, HS_KEY_LEN);
	memcpy(both + HS_KEY_LEN, h->initiator ? peer_pk : h->eph_pk,
	       HS_KEY_LEN);
	crypto_generichash(h->transcript, sizeof h->transcript, both,
			   sizeof both, h->sec.network_key, HS_KEY_LEN);
	sodium_memzero(h->sec.network_key, sizeof h->sec.network_key);

	if (!h->initiator) {
		memcpy(h->out, h->hello, HS_HELLO_LEN);
		h->out_len = HS_HELLO_LEN;
	}
	rc = queue_stream_start(h);
	if (rc != CN_OK)
		return rc;
	expect(h, ST_HDR_LEN, HS_LEN_PREFIX);
	return CN_OK;
}

static int on_auth(struct hs *h, const uint8_t *p, size_t n)
{
	struct cbor_rd r;
	const uint8_t *cert;
	size_t clen, items;
	uint8_t sig[CN_SIG_LEN], sigmsg[SIG_MSG_LEN];
	const char *why = "peer certificate does not open";
	int rc;

	cbr_init(&r, p, n);
	if (cbr_array(&r, &items, 2) || items != 2 ||
	    cbr_bstr(&r, &cert, &clen, CERT_MAX) ||
	    cbr_bstr_fixed(&r, sig, sizeof sig))
		return fail(h, HS_FAIL, CN_ERR_MALFORMED,
			    r.why ? r.why : "AUTH is not [certificate, signature]");
	if (r.p != r.end)
		return fail(h, HS_FAIL, CN_ERR_MALFORMED,
			    "trailing bytes after AUTH");
	rc = authority_cert_open(cert, clen, h->root_pub, &h->peer, &why);
	if (rc != CN_OK)
		goto refuse;

	/* The peer signed with its own role byte. */
	sig_message(h, h->initiator ? ROLE_RESPONDER : ROLE_INITIATOR, sigmsg);
	if (crypto_sign_verify_detached(sig, sigmsg, sizeof sigmsg,
					h->peer.node) != 0) {
		rc = CN_ERR_BADSIG;
		why = "handshake signature does not verify";
		goto refuse;
	}
	rc = CN_ERR_REFUSED;
	if (h->now_ms < h->peer.not_before) {
		why = "peer certificate is not valid yet";
		goto refuse;
	}
	if (h->now_ms > h->peer.not_after) {
		why = "peer certificate has expired";
		goto refuse;
	}
	if (h->auth != NULL &&
	    authority_revoked_after(h->auth, h->peer.node) != UINT64_MAX) {
		why = "peer node is revoked";
		goto refuse;
	}
	h->state = HS_READY;
	expect(h, ST_DATA_LEN, HS_LEN_PREFIX);
	return CN_OK;

refuse:
	memset(&h->peer, 0, sizeof h->peer);
	return fail(h, HS_FAIL, rc, why);
}

/* A complete item of the handshake is in h->lenbuf or h->in. */
static int hs_step(struct hs *h)
{
	uint8_t auth[HS_AUTH_MAX];
	unsigned long long alen;
	unsigned char tag;
	uint32_t flen;

	switch (h->step) {
	case ST_HELLO:
		return on_hello(h);
	case ST_HDR_LEN:
		if (get_be32(h->lenbuf) != HS_HEADER_LEN)
			return fail(h, HS_FAIL, CN_ERR_MALFORMED,
				    "header frame is not 24 bytes");
		expect(h, ST_HDR, HS_HEADER_LEN);
		return CN_OK;
	case ST_HDR:
		if (crypto_secretstream_xchacha20poly1305_init_pull(
			    &h->sec.pull, h->in, h->sec.rx) != 0)
			return fail(h, HS_FAIL, CN_ERR_MALFORMED,
				    "bad stream header");
		sodium_memzero(h->sec.rx, sizeof h->sec.rx);
		expect(h, ST_AUTH_LEN, HS_LEN_PREFIX);
		return CN_OK;
	case ST_AUTH_LEN:
		flen = get_be32(h->lenbuf);
		if (flen <= HS_ABYTES)
			return fail(h, HS_FAIL, CN_ERR_MALFORMED,
				    "AUTH frame too short");
		if (flen > HS_AUTH_MAX + HS_ABYTES)
			return fail(h, HS_FAIL, CN_ERR_TOOBIG,
				    "AUTH frame too long");
		expect(h, ST_AUTH, flen);
		return CN_OK;
	case ST_AUTH:
		if (crypto_secretstream_xchacha20poly1305_pull(
			    &h->sec.pull, auth, &alen, &tag, h->in, h->need,
			    NULL, 0) != 0)
			return fail(h, HS_FAIL, CN_ERR_BADSIG,
				    "AUTH frame does not authenticate");
		if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE)
			return fail(h, HS_FAIL, CN_ERR_MALFORMED,
				    "AUTH frame has an unexpected tag");
		return on_auth(h, auth, (size_t)alen);
	}
	return fail(h, HS_FAIL, CN_ERR_INVAL, "handshake state is corrupt");
}

int hs_recv(struct hs *h, const uint8_t *in, size_t len, size_t *used)
{
	size_t off = 0, n;
	uint8_t *dst;
	int rc = CN_OK;

	*used = 0;
	if (h->state == HS_READY)
		return CN_OK;
	if (h->state != HS_RUNNING)
		return h->err;
	if (in == NULL && len != 0)
		return CN_ERR_INVAL;
	while (off < len && h->state == HS_RUNNING) {
		dst = (h->step == ST_HDR_LEN || h->step == ST_AUTH_LEN) ?
			      h->lenbuf : h->in;
		n = h->need - h->have;
		if (n > len - off)
			n = len - off;
		memcpy(dst + h->have, in + off, n);
		h->have += n;
		off += n;
		if (h->have < h->need)
			break;
		rc = hs_step(h);
		if (rc != CN_OK)
			break;
	}
	*used = off;
	return rc;
}

int hs_pending(struct hs *h, const uint8_t **out, size_t *len)
{
	*out = h->out + h->out_off;
	*len = 0;
	if (h->state == HS_DROP || h->state == HS_FAIL)
		return h->err;
	*len = h->out_len - h->out_off;
	return CN_OK;
}

void hs_sent(struct hs *h, size_t n)
{
	if (n > h->out_len - h->out_off)
		n = h->out_len - h->out_off;
	h->out_off += n;
}

enum hs_state hs_state(const struct hs *h)
{
	return h->state;
}

const char *hs_error(const struct hs *h)
{
	return h->why != NULL ? h->why : "no error";
}

const struct cert *hs_peer(const struct hs *h)
{
	return h->state == HS_READY ? &h->peer : NULL;
}

int hs_seal(struct hs *h, const uint8_t *msg, size_t len, bool final,
	    uint8_t *frame, size_t cap, size_t *flen)
{
	static const uint8_t empty[1];

	if (h->state == HS_DROP || h->state == HS_FAIL)
		return h->err;
	if (h->state != HS_READY || h->tx_final || h->out_off < h->out_len)
		return CN_ERR_INVAL;
	if (len > HS_MSG_MAX)
		return CN_ERR_TOOBIG;
	if ((msg == NULL && len != 0) || frame == NULL ||
	    cap < len + HS_FRAME_OVERHEAD)
		return CN_ERR_INVAL;
	put_be32(frame, (uint32_t)(len + HS_ABYTES));
	crypto_secretstream_xchacha20poly1305_push(
		&h->sec.push, frame + HS_LEN_PREFIX, NULL,
		msg != NULL ? msg : empty, len, NULL, 0,
		final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL :
			crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
	if (final) {
		h->tx_final = true;
		sodium_memzero(&h->sec.push, sizeof h->sec.push);
	}
	*flen = len + HS_FRAME_OVERHEAD;
	return CN_OK;
}

/* Decrypt one complete data frame c[0..clen). */
static int open_frame(struct hs *h, const uint8_t *c, size_t clen,
		      uint8_t **msg, size_t *mlen, bool *final)
{
	unsigned long long n;
	unsigned char tag;
	uint8_t *m = malloc(clen - HS_ABYTES + 1);

	if (m == NULL)
		return fail(h, HS_FAIL, CN_ERR_NOMEM, "out of memory");
	if (crypto_secretstream_xchacha20poly1305_pull(&h->sec.pull, m, &n,
						       &tag, c, clen, NULL,
						       0) != 0) {
		free(m);
		return fail(h, HS_FAIL, CN_ERR_BADSIG,
			    "data frame does not authenticate");
	}
	if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
		h->rx_final = true;
		sodium_memzero(&h->sec.pull, sizeof h->sec.pull);
	} else if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) {
		sodium_memzero(m, (size_t)n);
		free(m);
		return fail(h, HS_FAIL, CN_ERR_MALFORMED,
			    "data frame has an unexpected tag");
	}
	*msg = m;
	*mlen = (size_t)n;
	*final = h->rx_final;
	return CN_OK;
}

int hs_open_next(struct hs *h, const uint8_t *in, size_t len, size_t *used,
		 uint8_t **msg, size_t *mlen, bool *final)
{
	size_t off = 0, n;
	const uint8_t *c;
	uint32_t flen;
	int rc;

	*used = 0;
	*msg = NULL;
	*mlen = 0;
	*final = false;
	if (h->state == HS_DROP || h->state == HS_FAIL)
		return h->err;
	if (h->state != HS_READY || (in == NULL && len != 0))
		return CN_ERR_INVAL;
	while (off < len) {
		if (h->rx_final)
			return fail(h, HS_FAIL, CN_ERR_MALFORMED,
				    "bytes after the peer's final frame");
		if (h->step == ST_DATA_LEN) {
			n = h->need - h->have;
			if (n > len - off)
				n = len - off;
			memcpy(h->lenbuf + h->have, in + off, n);
			h->have += n;
			off += n;
			if (h->have < h->need)
				break;
			flen = get_be32(h->lenbuf);
			if (flen > HS_FRAME_MAX) {
				*used = off;
				return fail(h, HS_FAIL, CN_ERR_TOOBIG,
					    "frame length above 1 MiB");
			}
			if (flen < HS_ABYTES) {
				*used = off;
				return fail(h, HS_FAIL, CN_ERR_MALFORMED,
					    "frame length below the tag size");
			}
			expect(h, ST_DATA, flen);
			continue;
		}
		if (h->have == 0 && len - off >= h->need) {
			/* The whole frame is in the caller's buffer. */
			c = in + off;
			off += h->need;
		} else {
			if (h->have == 0 && h->rx_cap < h->need) {
				free(h->rx);
				h->rx_cap = 0;
				h->rx = malloc(h->need);
				if (h->rx == NULL) {
					*used = off;
					return fail(h, HS_FAIL, CN_ERR_NOMEM,
						    "out of memory");
				}
				h->rx_cap = h->need;
			}
			n = h->need - h->have;
			if (n > len - off)
				n = len - off;
			memcpy(h->rx + h->have, in + off, n);
			h->have += n;
			off += n;
			if (h->have < h->need)
				break;
			c = h->rx;
		}
		rc = open_frame(h, c, h->need, msg, mlen, final);
		expect(h, ST_DATA_LEN, HS_LEN_PREFIX);
		*used = off;
		return rc;
	}
	*used = off;
	return CN_OK;
}
