/*
 * fuzz_handshake.c — libFuzzer harness for the replication handshake and
 * frame layer (replication/handshake.h).
 *
 * Input: byte 0 picks a mode, byte 1 a chunk size for feeding (0: all at
 * once), the rest is the payload.
 *   0  the payload is the peer's byte stream to a responder;
 *   1  … to an initiator, after its HELLO;
 *   2  the harness plays an initiator that holds the network key (its own
 *      implementation of docs/protocol.md) and sends a valid HELLO and
 *      stream header; the payload, XORed over a valid AUTH message (and
 *      anything beyond appended), is its AUTH plaintext;
 *   3  after a valid handshake with that initiator, the payload is raw
 *      bytes of the data stream;
 *   4  … the payload is a list of (tag, length, bytes) that the harness
 *      seals as valid frames with any secretstream tag.
 * Nothing may crash, and abort() marks what must never happen: READY or a
 * delivered message without the keys, a responder that answers a bad
 * HELLO, an AUTH other than the valid one accepted, a frame delivered that
 * was not sent with a MESSAGE / FINAL tag.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "authority.h"
#include "cbor_rw.h"
#include "handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1750000000000ull
#define BUF_MAX 8192

static uint8_t netkey[32], root_pk[32], root_sk[64], node_pk[32], node_sk[64];
static uint8_t cert[CERT_MAX];
static size_t cert_len;

static int sign(void *ctx, const uint8_t *msg, size_t len,
		uint8_t sig[static CN_SIG_LEN])
{
	(void)ctx;
	crypto_sign_detached(sig, NULL, msg, len, node_sk);
	return 0;
}

static void setup(void)
{
	static bool done;
	uint8_t seed[32];
	struct cert c;

	if (done)
		return;
	if (sodium_init() < 0)
		abort();
	memset(seed, 1, sizeof seed);
	crypto_sign_seed_keypair(root_pk, root_sk, seed);
	memset(seed, 2, sizeof seed);
	crypto_sign_seed_keypair(node_pk, node_sk, seed);
	memset(netkey, 3, sizeof netkey);
	memset(&c, 0, sizeof c);
	memcpy(c.node, node_pk, 32);
	strcpy(c.name, "fuzz");
	c.role = ROLE_SCHOOL;
	strcpy(c.scope, "110105-0001");
	c.not_before = 946684800000ull;
	c.not_after = 7258118400000ull;
	c.serial = 1;
	if (authority_cert_sign(&c, root_sk, cert, sizeof cert, &cert_len) != 0)
		abort();
	done = true;
}

static void start(struct hs *h, bool initiator)
{
	struct hs_config c;

	memset(&c, 0, sizeof c);
	c.initiator = initiator;
	c.network_key = netkey;
	c.root_pub = root_pk;
	c.cert = cert;
	c.cert_len = cert_len;
	c.sign = sign;
	c.now_ms = NOW;
	if (hs_init(h, &c) != 0)
		abort();
}

/* Feed `in` in chunks; messages delivered are counted (and compared with
 * `want` when given).  Returns the number delivered. */
static size_t feed(struct hs *h, const uint8_t *in, size_t len, size_t chunk,
		   const uint8_t *const *want, const size_t *want_len,
		   size_t nwant)
{
	size_t off = 0, k, used, mlen, got = 0;
	uint8_t *m;
	bool fin;
	int rc;

	while (off < len) {
		k = chunk == 0 || chunk > len - off ? len - off : chunk;
		if (hs_state(h) == HS_RUNNING) {
			rc = hs_recv(h, in + off, k, &used);
			if (used == 0 && hs_state(h) == HS_RUNNING)
				abort();
		} else if (hs_state(h) == HS_READY) {
			rc = hs_open_next(h, in + off, k, &used, &m, &mlen, &fin);
			if (rc != 0 && (m != NULL || hs_state(h) != HS_FAIL))
				abort();
			if (m != NULL) {
				if (want == NULL || got >= nwant ||
				    mlen != want_len[got] ||
				    memcmp(m, want[got], mlen) != 0)
					abort();
				free(m);
				got++;
			} else if (rc == 0 && used != k) {
				abort();
			}
		} else {
			break;
		}
		if (rc != 0 && hs_state(h) != HS_DROP && hs_state(h) != HS_FAIL)
			abort();
		if (rc != 0 && *hs_error(h) == '\0')
			abort();
		off += used;
	}
	return got;
}

/* ---- an independent initiator holding the network key ------------------- */

struct fake {
	uint8_t pk[32], sk[32], rx[32], tx[32];
	uint8_t resp_pk[32];
	crypto_secretstream_xchacha20poly1305_state push;
	uint8_t auth[HS_AUTH_MAX];
	size_t auth_len;
	/* Mode 4 at worst: a 2-byte record per empty frame. */
	uint8_t out[HS_LEN_PREFIX + HS_HEADER_LEN + HS_AUTH_MAX +
		    HS_FRAME_OVERHEAD + 12 * BUF_MAX];
	size_t out_len;
};

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Frame a plaintext with any tag into f->out. */
static void fake_seal(struct fake *f, const uint8_t *m, size_t n, uint8_t tag)
{
	uint8_t *p = f->out + f->out_len;

	put_be32(p, (uint32_t)(n + HS_ABYTES));
	crypto_secretstream_xchacha20poly1305_push(&f->push, p + 4, NULL, m, n,
						   NULL, 0, tag);
	f->out_len += 4 + n + HS_ABYTES;
}

/* HELLO to the responder; from its answer, session keys, the valid AUTH
 * plaintext, and our header frame queued in f->out.  The responder's own
 * header and AUTH are fed to nobody: this side only sends. */
static bool fake_start(struct fake *f, struct hs *r)
{
	uint8_t seed[32], hello[64], both[64], t[32], msg[64], sig[64];
	const uint8_t *o;
	size_t n, used;
	struct cbor_wr w;

	memset(f, 0, sizeof *f);
	memset(seed, 4, sizeof seed);
	crypto_kx_seed_keypair(f->pk, f->sk, seed);
	memcpy(hello, f->pk, 32);
	crypto_auth(hello + 32, f->pk, 32, netkey);
	if (hs_recv(r, hello, sizeof hello, &used) != 0 || used != 64 ||
	    hs_pending(r, &o, &n) != 0 || n < 64)
		abort();
	memcpy(f->resp_pk, o, 32);
	hs_sent(r, n);
	if (crypto_kx_client_session_keys(f->rx, f->tx, f->pk, f->sk,
					  f->resp_pk) != 0)
		abort();
	memcpy(both, f->pk, 32);
	memcpy(both + 32, f->resp_pk, 32);
	crypto_generichash(t, sizeof t, both, sizeof both, netkey, 32);
	memcpy(msg, HS_SIG_CONTEXT, 21);
	memcpy(msg + 21, t, 32);
	msg[53] = 'I';
	crypto_sign_detached(sig, NULL, msg, 54, node_sk);
	cbw_init_fixed(&w, f->auth, sizeof f->auth);
	cbw_array(&w, 2);
	cbw_bstr(&w, cert, cert_len);
	cbw_bstr(&w, sig, sizeof sig);
	if (w.err)
		abort();
	f->auth_len = w.len;
	put_be32(f->out, HS_HEADER_LEN);
	crypto_secretstream_xchacha20poly1305_init_push(&f->push, f->out + 4,
							f->tx);
	f->out_len = 4 + HS_HEADER_LEN;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hs h;
	struct fake *f;
	const uint8_t *o, *p;
	size_t n, chunk, plen, used;
	unsigned mode;

	setup();
	if (size < 2 || size > BUF_MAX)
		return 0;
	mode = data[0] % 5;
	chunk = data[1];
	p = data + 2;
	plen = size - 2;

	switch (mode) {
	case 0:
		start(&h, false);
		feed(&h, p, plen, chunk, NULL, NULL, 0);
		/* Nobody without the network key gets a byte back. */
		if (hs_state(&h) != HS_RUNNING && hs_state(&h) != HS_DROP)
			abort();
		(void)hs_pending(&h, &o, &n);
		if (n != 0)
			abort();
		hs_wipe(&h);
		return 0;
	case 1:
		start(&h, true);
		if (hs_pending(&h, &o, &n) != 0 || n != HS_HELLO_LEN)
			abort();
		hs_sent(&h, n);
		feed(&h, p, plen, chunk, NULL, NULL, 0);
		if (hs_state(&h) != HS_RUNNING && hs_state(&h) != HS_DROP)
			abort();
		(void)hs_pending(&h, &o, &n);
		if (n != 0)
			abort();
		hs_wipe(&h);
		return 0;
	}

	f = malloc(sizeof *f);
	if (f == NULL)
		abort();
	start(&h, false);
	fake_start(f, &h);
	if (mode == 2) {
		uint8_t pt[BUF_MAX + HS_AUTH_MAX];
		size_t ptlen = f->auth_len > plen ? f->auth_len : plen;

		memcpy(pt, f->auth, f->auth_len);
		memset(pt + f->auth_len, 0, ptlen - f->auth_len);
		for (size_t i = 0; i < plen; i++)
			pt[i] ^= p[i];
		fake_seal(f, pt, ptlen,
			  crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
		feed(&h, f->out, f->out_len, chunk, NULL, NULL, 0);
		if (hs_state(&h) == HS_READY &&
		    (ptlen != f->auth_len || memcmp(pt, f->auth, ptlen) != 0))
			abort();
		goto out;
	}

	fake_seal(f, f->auth, f->auth_len,
		  crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
	if (hs_recv(&h, f->out, f->out_len, &used) != 0 ||
	    used != f->out_len || hs_state(&h) != HS_READY ||
	    memcmp(hs_peer(&h)->node, node_pk, 32) != 0)
		abort();
	f->out_len = 0;
	if (mode == 3) {
		if (feed(&h, p, plen, chunk, NULL, NULL, 0) != 0)
			abort();
		goto out;
	}

	/* mode 4: (tag, len, bytes) records sealed as valid frames. */
	{
		const uint8_t *want[BUF_MAX / 2];
		size_t want_len[BUF_MAX / 2], nwant = 0, i = 0, got;
		bool bad_tag = false;

		while (i + 2 <= plen && !bad_tag) {
			uint8_t tag = p[i] & 3; /* MESSAGE, PUSH, REKEY, FINAL */
			size_t len = p[i + 1];

			i += 2;
			if (len > plen - i)
				len = plen - i;
			fake_seal(f, p + i, len, tag);
			if (tag == crypto_secretstream_xchacha20poly1305_TAG_MESSAGE ||
			    tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
				want[nwant] = p + i;
				want_len[nwant++] = len;
			} else {
				bad_tag = true;
			}
			i += len;
			if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL)
				break;
		}
		got = feed(&h, f->out, f->out_len, chunk, want, want_len, nwant);
		if (got != nwant)
			abort();
		if (bad_tag != (hs_state(&h) == HS_FAIL))
			abort();
	}
out:
	sodium_memzero(f, sizeof *f);
	free(f);
	hs_wipe(&h);
	return 0;
}
