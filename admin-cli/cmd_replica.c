/*
 * cmd_replica.c — the replica as a whole: verify, digest, hotlist, status
 * (DESIGN §4, §7, §10).
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "authority.h"
#include "cbor_rw.h"
#include "cli.h"
#include "commands.h"
#include "daemon_status.h"
#include "json.h"
#include "replica.h"
#include "util.h"
#include "vv.h"

static void json_counts(const struct replica_counts *n)
{
	json_kv_uint("students", n->students);
	json_kv_uint("cards", n->cards);
	json_kv_uint("entries", n->entries);
	json_kv_uint("refused", n->refused);
	json_kv_uint("forks", n->forks);
	json_kv_uint("origins", n->origins);
}

static void text_counts(const struct replica_counts *n)
{
	printf("%-10s %" PRIu64 "\n", "students", n->students);
	printf("%-10s %" PRIu64 "\n", "cards", n->cards);
	printf("%-10s %" PRIu64 "\n", "entries", n->entries);
	printf("%-10s %" PRIu64 "\n", "refused", n->refused);
	printf("%-10s %" PRIu64 "\n", "forks", n->forks);
	printf("%-10s %" PRIu64 "\n", "origins", n->origins);
}

/* ---- verify ------------------------------------------------------------ */

static const struct cli_cmd verify_cmd = {
	"verify", "verify",
	"Re-verify the whole replica: every hash-chain link and signature of\n"
	"the log, every student history re-folded from its entries, and the\n"
	"state digest recomputed.  Exit 0 if all agrees, 1 with the first\n"
	"disagreement otherwise.\n"
};

int cmd_verify_main(int argc, char **argv)
{
	struct replica *r = NULL;
	struct replica_counts n;
	uint8_t digest[CN_KEY_LEN];
	char problem[512] = "";
	int rc, ret;

	if ((ret = cli_parse(&verify_cmd, argc, argv, NULL, 0)) >= 0)
		return ret;
	if ((ret = cli_open(REPLICA_RDONLY, &r)))
		return ret;

	memset(&n, 0, sizeof n);
	memset(digest, 0, sizeof digest);
	rc = replica_verify(r, digest, &n, problem, sizeof problem);
	if (cli.json) {
		json_object_begin();
		json_kv_bool("ok", rc == 0);
		json_kv_hex("digest", digest, CN_KEY_LEN);
		json_counts(&n);
		json_kv_str_or_null("problem", rc ? (problem[0] ? problem
								: cn_strerror(rc))
						  : NULL);
		json_object_end();
		json_end();
	} else {
		printf("%-10s %s\n", "digest", cli_hex(digest, CN_KEY_LEN));
		text_counts(&n);
		printf("%-10s %s\n", "verify", rc ? "FAILED" : "ok");
	}
	if (rc) {
		cli_err("verification failed: %s%s%s", cn_strerror(rc),
			problem[0] ? ": " : "", problem);
		ret = CLI_FAIL;
	}
	replica_close(r);
	return ret;
}

/* ---- digest ------------------------------------------------------------ */

static const struct cli_cmd digest_cmd = {
	"digest", "digest",
	"Print the state digest (BLAKE2b-256 over every student and card\n"
	"state) and the counts.  Two replicas holding the same entries print\n"
	"the same digest.\n"
};

int cmd_digest_main(int argc, char **argv)
{
	struct replica *r = NULL;
	struct replica_counts n;
	uint8_t digest[CN_KEY_LEN];
	int rc, ret;

	if ((ret = cli_parse(&digest_cmd, argc, argv, NULL, 0)) >= 0)
		return ret;
	if ((ret = cli_open(REPLICA_RDONLY, &r)))
		return ret;

	memset(&n, 0, sizeof n);
	rc = replica_digest(r, digest, &n);
	if (rc) {
		cli_err("cannot compute the digest: %s (%s)", cn_strerror(rc),
			replica_last_error(r));
		ret = CLI_FAIL;
		goto cleanup;
	}
	if (cli.json) {
		json_object_begin();
		json_kv_hex("digest", digest, CN_KEY_LEN);
		json_counts(&n);
		json_object_end();
		ret = json_end() ? CLI_FAIL : CLI_OK;
	} else {
		printf("%s\n", cli_hex(digest, CN_KEY_LEN));
		text_counts(&n);
		ret = CLI_OK;
	}
cleanup:
	replica_close(r);
	return ret;
}

/* ---- hotlist ----------------------------------------------------------- */

static const struct cli_cmd hotlist_cmd = {
	"hotlist", "hotlist [--format csv|json|cbor] [--since-vv FILE]\n"
	"       cardctl hotlist --verify FILE",
	"The blacklist for readers and the transit operator: every card that\n"
	"is lost, frozen, cancelled or replaced, in card order.\n"
	"\n"
	"  --format csv    header card_no,edu_id,status,uid (the default)\n"
	"  --format json   a JSON array of {card, student, status, uid}\n"
	"                  (also what --json gives)\n"
	"  --format cbor   the signed form for readers and the transit\n"
	"                  operator (docs/lifecycle.md): [payload, sig], the\n"
	"                  payload naming this node, its certificate, the time\n"
	"                  and the version vector the list is complete as of,\n"
	"                  and the cards [card, status, uid]; signed by this\n"
	"                  node.  Never written to a terminal\n"
	"  --verify FILE   check a signed CBOR hotlist against this\n"
	"                  deployment's root key: the certificate, the\n"
	"                  signature, the form; prints who signed it, as of\n"
	"                  which version vector, and how many cards (exit 4 if\n"
	"                  a signature fails, 1 if the file is malformed)\n"
	"  --since-vv FILE a delta: every card named by an entry beyond that\n"
	"                  version vector (card, or replaced card), with its\n"
	"                  current status, 'active' included, so that a\n"
	"                  receiver can also drop cards that left the list\n"
};

enum hot_format { HOT_CSV, HOT_JSON, HOT_CBOR };

struct hot_out {
	enum hot_format fmt;
	struct cbor_wr w; /* CBOR items, counted in n */
	uint64_t n;
};

static void hot_emit(struct hot_out *o, const struct student_state *st,
		     const struct card_state *c)
{
	switch (o->fmt) {
	case HOT_CSV:
		printf("%s,%s,%s,%s\n", c->card, st->edu_id,
		       fold_card_status(c), cli_hex(c->uid, c->uid_len));
		break;
	case HOT_JSON:
		json_object_begin();
		json_kv_str("card", c->card);
		json_kv_str("student", st->edu_id);
		json_kv_str("status", fold_card_status(c));
		json_kv_hex("uid", c->uid, c->uid_len);
		json_object_end();
		break;
	case HOT_CBOR:
		cbw_array(&o->w, 3);
		cbw_tstr0(&o->w, c->card);
		cbw_tstr0(&o->w, fold_card_status(c));
		cbw_bstr(&o->w, c->uid, c->uid_len);
		break;
	}
	o->n++;
}

static int hot_cb(void *ctx, const struct student_state *st,
		  const struct card_state *c)
{
	hot_emit(ctx, st, c);
	return 0;
}

/* ---- the signed CBOR hotlist -------------------------------------------- */

static const char hot_sig_domain[] = "cardnode-hotlist-v1";

static void hot_sig_msg(const uint8_t *payload, size_t len,
			uint8_t msg[static sizeof hot_sig_domain - 1 + CN_KEY_LEN])
{
	memcpy(msg, hot_sig_domain, sizeof hot_sig_domain - 1);
	crypto_generichash(msg + sizeof hot_sig_domain - 1, CN_KEY_LEN, payload,
			   len, NULL, 0);
}

static void hot_vv_write(struct cbor_wr *w, const struct vv *v)
{
	cbw_map(w, v->n);
	for (size_t i = 0; i < v->n; i++) {
		cbw_bstr(w, v->v[i].origin, CN_KEY_LEN);
		cbw_uint(w, v->v[i].seq);
	}
}

static bool vv_equal(const struct vv *a, const struct vv *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (memcmp(a->v[i].origin, b->v[i].origin, CN_KEY_LEN) ||
		    a->v[i].seq != b->v[i].seq)
			return false;
	return true;
}

/*
 * Payload: canonical map {0: v 1, 1: node bstr32, 2: created ms, 3: vv
 * (origin bstr32 -> seq) the list is complete as of, 4: since vv (deltas
 * only), 5: [[card, status, uid] …], 6: the node's certificate bstr}.
 * Written as [payload bstr, sig bstr64] to stdout.
 */
static int hot_write_signed(struct replica *r, const struct vv *asof,
			    const struct vv *since, const struct hot_out *o)
{
	uint8_t cert[CERT_MAX], sig[CN_SIG_LEN];
	uint8_t msg[sizeof hot_sig_domain - 1 + CN_KEY_LEN];
	struct replica_info info;
	struct cbor_wr p, out;
	size_t cert_len = 0;
	uint64_t now = util_now_ms();
	int rc;

	replica_info(r, &info);
	rc = replica_own_cert(r, now, cert, sizeof cert, &cert_len);
	if (rc) {
		cli_err("cannot sign the hotlist: this node has no valid "
			"certificate (%s); install one with 'cardctl cert "
			"install'", cn_strerror(rc));
		return CLI_FAIL;
	}
	cbw_init_grow(&p);
	cbw_map(&p, since ? 7 : 6);
	cbw_uint(&p, 0);
	cbw_uint(&p, 1);
	cbw_uint(&p, 1);
	cbw_bstr(&p, info.node, CN_KEY_LEN);
	cbw_uint(&p, 2);
	cbw_uint(&p, now);
	cbw_uint(&p, 3);
	hot_vv_write(&p, asof);
	if (since) {
		cbw_uint(&p, 4);
		hot_vv_write(&p, since);
	}
	cbw_uint(&p, 5);
	cbw_array(&p, o->n);
	cbw_raw(&p, o->w.buf, o->w.len);
	cbw_uint(&p, 6);
	cbw_bstr(&p, cert, cert_len);
	if (p.err) {
		cli_err("cannot encode the hotlist: %s", cn_strerror(p.err));
		cbw_free(&p);
		return CLI_FAIL;
	}
	hot_sig_msg(p.buf, p.len, msg);
	rc = replica_sign(r, msg, sizeof msg, sig);
	if (rc) {
		cli_err("cannot sign the hotlist: %s", cn_strerror(rc));
		cbw_free(&p);
		return CLI_FAIL;
	}
	cbw_init_grow(&out);
	cbw_array(&out, 2);
	cbw_bstr(&out, p.buf, p.len);
	cbw_bstr(&out, sig, sizeof sig);
	cbw_free(&p);
	if (out.err || fwrite(out.buf, 1, out.len, stdout) != out.len) {
		cli_err("cannot write the hotlist to stdout");
		cbw_free(&out);
		return CLI_FAIL;
	}
	cbw_free(&out);
	return CLI_OK;
}

/* Read a vv map of the signed form; its text for people into the JSON or
 * text output is printed by the caller. */
static int hot_vv_read(struct cbor_rd *rd, struct vv *v)
{
	const uint8_t *prev = NULL, *key;
	size_t n, kn;
	uint64_t seq;
	int rc = cbr_map(rd, &n, 1u << 16);

	for (size_t i = 0; !rc && i < n; i++) {
		rc = cbr_bstr(rd, &key, &kn, CN_KEY_LEN);
		if (!rc && (kn != CN_KEY_LEN ||
			    (prev && memcmp(prev, key, CN_KEY_LEN) >= 0))) {
			rd->why = "vv keys must be 32 bytes, ascending";
			rc = CN_ERR_MALFORMED;
		}
		if (!rc)
			rc = cbr_uint(rd, &seq);
		if (!rc)
			rc = vv_set(v, key, seq);
		prev = key;
	}
	return rc;
}

struct hot_signed {
	uint8_t node[CN_KEY_LEN];
	uint64_t created;
	struct vv asof, since;
	bool has_since;
	uint64_t cards;
	struct cert cert;
};

/* Parse and verify; *why says what is wrong.  CN_ERR_MALFORMED,
 * CN_ERR_BADSIG or 0. */
static int hot_open(const uint8_t *buf, size_t len,
		    const uint8_t root[static CN_KEY_LEN], struct hot_signed *h,
		    const char **why)
{
	struct cbor_rd rd, pr;
	const uint8_t *payload, *sig, *cert;
	size_t n, plen, slen, clen;
	uint8_t msg[sizeof hot_sig_domain - 1 + CN_KEY_LEN];
	int64_t last = -1;
	uint64_t k, v;
	int rc;

	cbr_init(&rd, buf, len);
	if ((rc = cbr_array(&rd, &n, 2)) || n != 2 ||
	    (rc = cbr_bstr(&rd, &payload, &plen, len)) ||
	    (rc = cbr_bstr(&rd, &sig, &slen, CN_SIG_LEN)) ||
	    slen != CN_SIG_LEN || rd.p != rd.end) {
		*why = "not a signed hotlist [payload, sig]";
		return CN_ERR_MALFORMED;
	}
	cbr_init(&pr, payload, plen);
	rc = cbr_map(&pr, &n, 7);
	for (size_t i = 0; !rc && i < n; i++) {
		rc = cbr_map_key_next(&pr, &last, &k);
		if (rc)
			break;
		switch (k) {
		case 0:
			rc = cbr_uint(&pr, &v);
			if (!rc && v != 1) {
				pr.why = "unsupported hotlist version";
				rc = CN_ERR_MALFORMED;
			}
			break;
		case 1: rc = cbr_bstr_fixed(&pr, h->node, CN_KEY_LEN); break;
		case 2: rc = cbr_uint(&pr, &h->created); break;
		case 3: rc = hot_vv_read(&pr, &h->asof); break;
		case 4:
			rc = hot_vv_read(&pr, &h->since);
			h->has_since = true;
			break;
		case 5: {
			size_t m;
			rc = cbr_array(&pr, &m, SIZE_MAX);
			for (size_t j = 0; !rc && j < m; j++)
				rc = cbr_skip(&pr);
			h->cards = m;
			break;
		}
		case 6: rc = cbr_bstr(&pr, &cert, &clen, CERT_MAX); break;
		default:
			pr.why = "unknown hotlist key";
			rc = CN_ERR_MALFORMED;
		}
	}
	if (!rc && (last != 6 || pr.p != pr.end)) {
		pr.why = "hotlist payload incomplete or trailing bytes";
		rc = CN_ERR_MALFORMED;
	}
	if (rc) {
		*why = pr.why ? pr.why : "malformed payload";
		return CN_ERR_MALFORMED;
	}
	rc = authority_cert_open(cert, clen, root, &h->cert, why);
	if (rc)
		return rc;
	if (memcmp(h->cert.node, h->node, CN_KEY_LEN)) {
		*why = "the certificate is not the signer's";
		return CN_ERR_BADSIG;
	}
	if (h->created < h->cert.not_before || h->created > h->cert.not_after) {
		*why = "signed outside the certificate's validity";
		return CN_ERR_BADSIG;
	}
	hot_sig_msg(payload, plen, msg);
	if (crypto_sign_verify_detached(sig, msg, sizeof msg, h->node) != 0) {
		*why = "the signature does not verify";
		return CN_ERR_BADSIG;
	}
	return 0;
}

static void hot_vv_print(const struct vv *v)
{
	for (size_t i = 0; i < v->n; i++)
		printf("  %s %" PRIu64 "\n", cli_hex(v->v[i].origin, CN_KEY_LEN),
		       v->v[i].seq);
}

static void hot_vv_json(const char *key, const struct vv *v)
{
	json_key(key);
	json_object_begin();
	for (size_t i = 0; i < v->n; i++)
		json_kv_uint(cli_hex(v->v[i].origin, CN_KEY_LEN), v->v[i].seq);
	json_object_end();
}

static int hot_verify(const char *path)
{
	struct replica *r = NULL;
	struct replica_info info;
	struct hot_signed h;
	uint8_t *buf = NULL;
	size_t len = 0;
	const char *why = NULL;
	int rc, ret;

	memset(&h, 0, sizeof h);
	vv_init(&h.asof);
	vv_init(&h.since);
	rc = util_read_file(path, 256u << 20, &buf, &len);
	if (rc) {
		cli_err("cannot read '%s': %s", path, cn_strerror(rc));
		return rc == CN_ERR_NOTFOUND ? CLI_NOTFOUND : CLI_FAIL;
	}
	if ((ret = cli_open(REPLICA_RDONLY, &r)))
		goto cleanup;
	replica_info(r, &info);
	rc = hot_open(buf, len, info.root_pub, &h, &why);
	if (rc) {
		cli_err("%s: %s: %s", path,
			rc == CN_ERR_BADSIG ? "refused" : "malformed", why);
		ret = rc == CN_ERR_BADSIG ? CLI_REFUSED : CLI_FAIL;
		goto cleanup;
	}
	if (cli.json) {
		json_object_begin();
		json_kv_bool("verified", true);
		json_kv_hex("node", h.node, CN_KEY_LEN);
		json_kv_str("name", h.cert.name);
		json_kv_str("role", authority_role_name(h.cert.role)
					    ? authority_role_name(h.cert.role) : "");
		json_kv_uint("created_ms", h.created);
		json_kv_uint("cards", h.cards);
		json_kv_bool("delta", h.has_since);
		hot_vv_json("version_vector", &h.asof);
		if (h.has_since)
			hot_vv_json("since_vv", &h.since);
		json_object_end();
		ret = json_end() ? CLI_FAIL : CLI_OK;
	} else {
		printf("verified: signed by %s (%s), %s\n",
		       cli_hex(h.node, CN_KEY_LEN), h.cert.name,
		       cli_time(h.created));
		printf("%" PRIu64 " cards (%s), complete as of:\n", h.cards,
		       h.has_since ? "a delta" : "the full list");
		hot_vv_print(&h.asof);
		ret = CLI_OK;
	}
cleanup:
	free(buf);
	vv_free(&h.asof);
	vv_free(&h.since);
	replica_close(r);
	return ret;
}

/* The set of card numbers named by entries beyond a version vector. */
struct touched {
	char (*cards)[CN_CARD_NO_MAX + 1];
	size_t n, cap;
	int err;
	/* Students whose entries change cards they do not name: a leave
	 * freezes every card, a found / refund / replacement expires the
	 * temporary cards. */
	char (*students)[CN_EDU_ID_MAX + 1];
	size_t ns, caps;
};

static bool changes_unnamed_cards(const struct entry *e)
{
	return e->op == OP_STUDENT_LEAVE || e->op == OP_CARD_FOUND ||
	       (e->op == OP_REISSUE_UPDATE && e->body.state == REISSUE_REFUNDED) ||
	       (e->op == OP_CARD_ISSUE && (e->body.has & BF(BK_REPLACES)));
}

static int touched_student(struct touched *t, const char *edu_id)
{
	if (t->ns == t->caps) {
		size_t cap = t->caps ? 2 * t->caps : 16;
		void *p = realloc(t->students, cap * sizeof *t->students);

		if (!p)
			return CN_ERR_NOMEM;
		t->students = p;
		t->caps = cap;
	}
	snprintf(t->students[t->ns++], CN_EDU_ID_MAX + 1, "%s", edu_id);
	return 0;
}

static int touched_add(struct touched *t, const char *card)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 256;
		void *p = realloc(t->cards, cap * sizeof *t->cards);

		if (!p)
			return CN_ERR_NOMEM;
		t->cards = p;
		t->cap = cap;
	}
	snprintf(t->cards[t->n++], CN_CARD_NO_MAX + 1, "%s", card);
	return 0;
}

static int touched_cb(void *ctx, uint64_t seq, const uint8_t *wire,
		      size_t len)
{
	struct touched *t = ctx;
	const uint8_t *payload, *sig;
	size_t plen, used;
	const char *why = NULL;
	struct entry e;
	int rc;

	(void)seq;
	rc = entry_wire_decode(wire, len, &payload, &plen, &sig, &used, &why);
	if (!rc)
		rc = entry_decode(payload, plen, &e, &why);
	if (rc) /* stored entries were checked on the way in */
		return rc;
	if ((e.body.has & BF(BK_CARD)) && (rc = touched_add(t, e.body.card)))
		return rc;
	if ((e.body.has & BF(BK_REPLACES)) &&
	    (rc = touched_add(t, e.body.replaces)))
		return rc;
	if (changes_unnamed_cards(&e) && (rc = touched_student(t, e.key)))
		return rc;
	return 0;
}

static int card_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int hot_since(struct replica *r, const struct vv *since,
		     struct hot_out *o)
{
	struct touched t = { 0 };
	struct vv ours;
	struct student_state st;
	int idx, rc;
	size_t i, k;

	vv_init(&ours);
	rc = vv_from_replica(&ours, r);
	for (i = 0; !rc && i < ours.n; i++) {
		uint64_t from = vv_get(since, ours.v[i].origin);

		if (ours.v[i].seq > from)
			rc = replica_log_walk(r, ours.v[i].origin, from + 1, 0,
					      touched_cb, &t);
	}
	for (i = 0; !rc && i < t.ns; i++) {
		rc = replica_student(r, t.students[i], &st);
		if (rc == CN_ERR_NOTFOUND) {
			rc = 0;
			continue;
		}
		for (int c = 0; !rc && c < st.ncards && c < CN_CARDS_MAX; c++)
			rc = touched_add(&t, st.cards[c].card);
	}
	if (rc)
		goto out;
	if (t.n)
		qsort(t.cards, t.n, sizeof *t.cards, card_cmp);
	for (i = 0, k = 0; i < t.n; i++) {
		if (k && !strcmp(t.cards[k - 1], t.cards[i]))
			continue;
		memmove(t.cards[k++], t.cards[i], sizeof *t.cards);
	}
	t.n = k;
	for (i = 0; i < t.n; i++) {
		rc = replica_card(r, t.cards[i], &st, &idx);
		if (rc == CN_ERR_NOTFOUND) { /* its issue had no effect */
			rc = 0;
			continue;
		}
		if (rc)
			goto out;
		if (idx >= 0 && idx < st.ncards && idx < CN_CARDS_MAX)
			hot_emit(o, &st, &st.cards[idx]);
	}
out:
	vv_free(&ours);
	free(t.cards);
	free(t.students);
	return rc;
}

int cmd_hotlist_main(int argc, char **argv)
{
	const struct cli_cmd *cmd = &hotlist_cmd;
	const char *format = NULL, *since_s = NULL, *why = NULL;
	const char *verify = NULL;
	const struct cli_opt opts[] = {
		{ "format", &format, NULL },
		{ "since-vv", &since_s, NULL },
		{ "verify", &verify, NULL },
		CLI_OPT_END
	};
	struct replica *r = NULL;
	struct hot_out o;
	struct vv since, before, after;
	int rc, ret, tries = 0;

	memset(&o, 0, sizeof o);
	vv_init(&since);
	vv_init(&before);
	vv_init(&after);
	if ((ret = cli_parse(cmd, argc, argv, opts, 0)) >= 0)
		return ret;
	if (verify) {
		if (format || since_s)
			return cli_usage_error(cmd, "--verify takes no --format "
						    "or --since-vv");
		return hot_verify(verify);
	}
	if (!format)
		o.fmt = cli.json ? HOT_JSON : HOT_CSV;
	else if (!strcmp(format, "csv"))
		o.fmt = HOT_CSV;
	else if (!strcmp(format, "json"))
		o.fmt = HOT_JSON;
	else if (!strcmp(format, "cbor"))
		o.fmt = HOT_CBOR;
	else
		return cli_usage_error(cmd,
				       "--format '%s' is not a format; use csv, "
				       "json or cbor",
				       format);
	if (cli.json && o.fmt != HOT_JSON)
		return cli_usage_error(cmd, "--json and --format %s disagree",
				       format);
	if (o.fmt == HOT_CBOR && isatty(STDOUT_FILENO))
		return cli_usage_error(cmd, "refusing to write CBOR to a "
					    "terminal; redirect stdout to a "
					    "file");
	if (since_s) {
		rc = vv_read_file(&since, since_s, &why);
		if (rc) {
			cli_err("cannot read the version vector in '%s': %s%s%s",
				since_s, cn_strerror(rc), why ? ": " : "",
				why ? why : "");
			ret = rc == CN_ERR_NOTFOUND ? CLI_NOTFOUND : CLI_FAIL;
			goto cleanup;
		}
	}
	if ((ret = cli_open(REPLICA_RDONLY, &r)))
		goto cleanup;

	if (o.fmt == HOT_CBOR)
		cbw_init_grow(&o.w);
	else if (o.fmt == HOT_JSON)
		json_array_begin();
	else
		printf("card_no,edu_id,status,uid\n");

again:
	rc = o.fmt == HOT_CBOR ? vv_from_replica(&before, r) : 0;
	if (!rc && since_s)
		rc = hot_since(r, &since, &o);
	else if (!rc)
		rc = replica_hotlist(r, hot_cb, &o);
	/* The signed form names the version vector it is complete as of: a
	 * commit by another process during the walk means walking again. */
	if (!rc && o.fmt == HOT_CBOR) {
		vv_free(&after);
		vv_init(&after);
		rc = vv_from_replica(&after, r);
		if (!rc && !vv_equal(&before, &after) && ++tries < 5) {
			cbw_free(&o.w);
			cbw_init_grow(&o.w);
			o.n = 0;
			vv_free(&before);
			vv_init(&before);
			goto again;
		}
		if (!rc && !vv_equal(&before, &after))
			rc = CN_ERR_PARTIAL;
	}

	if (o.fmt == HOT_JSON)
		json_end();
	if (rc) {
		cli_err("cannot read the hotlist: %s", cn_strerror(rc));
		ret = CLI_FAIL;
		goto cleanup;
	}
	if (o.fmt == HOT_CBOR) {
		if (o.w.err) {
			cli_err("cannot encode the hotlist: %s",
				cn_strerror(o.w.err));
			ret = CLI_FAIL;
			goto cleanup;
		}
		ret = hot_write_signed(r, &after, since_s ? &since : NULL, &o);
		if (ret)
			goto cleanup;
	}
	if (fflush(stdout) != 0) {
		cli_err("cannot write the hotlist to stdout");
		ret = CLI_FAIL;
		goto cleanup;
	}
	ret = CLI_OK;
cleanup:
	if (o.fmt == HOT_CBOR)
		cbw_free(&o.w);
	vv_free(&since);
	vv_free(&before);
	vv_free(&after);
	replica_close(r);
	return ret;
}

/* ---- status ------------------------------------------------------------ */

/* The default of cardnode.conf's watermark_max_age, used when no daemon
 * status says otherwise. */
#define WATERMARK_MAX_AGE_MS (900u * 1000u)

static const struct cli_cmd status_cmd = {
	"status", "status",
	"This node's state at a glance: the daemon and its peers, the age of\n"
	"the newest city watermark applied here, forks, refused entries,\n"
	"counts, disk use and the version vector (origin → highest seq held).\n"
	"'cardctl --json status' is also a version vector file for 'export\n"
	"--since-vv'.\n"
	"\n"
	"Peers come from the file the cardnode daemon rewrites every second\n"
	"(DATA/daemon.status); when the daemon is not running they are shown as\n"
	"last seen.  Per peer: address, direction, state (connected, handshake,\n"
	"connecting, resolving, backoff), node, since when, the last message,\n"
	"entries sent and received, how many entries the peer lacks from us\n"
	"(behind) and we from it (ahead), and the last error.\n"
	"\n"
	"JSON keys: node, name, role, scope, has_cert, daemon {running, pid,\n"
	"listen, updated_ms}, reader {device, mode, state, taps} or null, peers [{address, direction, state, node, name,\n"
	"connected_since_ms, last_seen_ms, entries_sent, entries_received,\n"
	"entries_behind, entries_ahead, next_dial_ms, last_error}],\n"
	"watermark_age_s (null: none applied), watermark_stale, version_vector,\n"
	"forks, refused, students, cards, entries, disk_bytes, digest.\n"
};

static int vv_json_cb(void *ctx, const uint8_t origin[CN_KEY_LEN],
		      uint64_t seq)
{
	(void)ctx;
	json_key(cli_hex(origin, CN_KEY_LEN));
	json_uint(seq);
	return 0;
}

static int vv_text_cb(void *ctx, const uint8_t origin[CN_KEY_LEN],
		      uint64_t seq)
{
	(void)ctx;
	printf("  %s  %" PRIu64 "\n", cli_hex(origin, CN_KEY_LEN), seq);
	return 0;
}

/* One side of a fork, decoded for the operator: what each entry says,
 * its payload hash, and (JSON) the whole entry as evidence. */
struct fork_side {
	bool ok;
	struct entry e;
	uint8_t hash[CN_KEY_LEN];
};

static void fork_side_read(const uint8_t *wire, size_t len, struct fork_side *f)
{
	const uint8_t *payload, *sig;
	size_t plen, used;
	const char *why;

	memset(f, 0, sizeof *f);
	if (wire == NULL ||
	    entry_wire_decode(wire, len, &payload, &plen, &sig, &used, &why) ||
	    entry_decode(payload, plen, &f->e, &why))
		return;
	entry_hash(payload, plen, f->hash);
	f->ok = true;
}

static void fork_side_json(const char *name, const uint8_t *wire, size_t len)
{
	struct fork_side f;

	fork_side_read(wire, len, &f);
	json_key(name);
	if (!f.ok) {
		json_null();
		return;
	}
	json_object_begin();
	json_kv_str("op", entry_op_name(f.e.op));
	json_kv_str("key", f.e.key);
	json_kv_str_or_null("card", (f.e.body.has & BF(BK_CARD)) ? f.e.body.card : NULL);
	json_kv_uint("hlc", f.e.hlc);
	json_kv_hex("hash", f.hash, CN_KEY_LEN);
	json_kv_hex("entry", wire, len);
	json_object_end();
}

static void fork_side_text(const char *name, const uint8_t *wire, size_t len)
{
	struct fork_side f;

	fork_side_read(wire, len, &f);
	if (!f.ok) {
		printf("    %-6s (not held)\n", name);
		return;
	}
	printf("    %-6s %s %s%s%s  hash %s\n", name, entry_op_name(f.e.op),
	       f.e.key, (f.e.body.has & BF(BK_CARD)) ? " card " : "",
	       (f.e.body.has & BF(BK_CARD)) ? f.e.body.card : "",
	       cli_hex(f.hash, CN_KEY_LEN));
}

static int fork_json_cb(void *ctx, const uint8_t origin[CN_KEY_LEN],
			uint64_t seq, const uint8_t *held, size_t hlen,
			const uint8_t *other, size_t olen)
{
	(void)ctx;
	json_object_begin();
	json_kv_hex("origin", origin, CN_KEY_LEN);
	json_kv_uint("seq", seq);
	fork_side_json("held", held, hlen);
	fork_side_json("other", other, olen);
	json_object_end();
	return 0;
}

static int fork_text_cb(void *ctx, const uint8_t origin[CN_KEY_LEN],
			uint64_t seq, const uint8_t *held, size_t hlen,
			const uint8_t *other, size_t olen)
{
	(void)ctx;
	printf("  FORK %s at seq %" PRIu64
	       ": two different entries; re-key that node\n",
	       cli_hex(origin, CN_KEY_LEN), seq);
	fork_side_text("held", held, hlen);
	fork_side_text("other", other, olen);
	return 0;
}

/* Bytes of the regular files directly in dir (the LMDB files, keys). */
static uint64_t dir_bytes(const char *dir)
{
	char path[4200];
	struct dirent *d;
	struct stat st;
	uint64_t sum = 0;
	DIR *dp = opendir(dir);

	if (dp == NULL)
		return 0;
	while ((d = readdir(dp)) != NULL) {
		snprintf(path, sizeof path, "%s/%s", dir, d->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			sum += (uint64_t)st.st_blocks * 512u;
	}
	closedir(dp);
	return sum;
}

static void status_json_daemon(const struct daemon_status *ds, uint64_t wm)
{
	uint64_t now = util_now_ms();

	json_key("daemon");
	json_object_begin();
	json_kv_bool("running", ds->running);
	json_kv_int("pid", ds->running ? ds->pid : 0);
	json_kv_str_or_null("listen", ds->listen[0] ? ds->listen : NULL);
	if (ds->present)
		json_kv_uint("updated_ms", ds->updated_ms);
	else
		json_kv_null("updated_ms");
	json_object_end();
	json_key("reader");
	if (ds->reader_device[0]) {
		json_object_begin();
		json_kv_str("device", ds->reader_device);
		json_kv_str("mode", ds->reader_mode);
		json_kv_str("state", ds->running ? ds->reader_state : "stopped");
		json_kv_uint("taps", ds->reader_taps);
		json_object_end();
	} else {
		json_null();
	}
	json_key("peers");
	json_array_begin();
	for (size_t i = 0; i < ds->npeers; i++) {
		const struct ds_peer *p = &ds->peers[i];
		json_object_begin();
		json_kv_str("address", p->addr);
		json_kv_str("direction", p->dir);
		json_kv_str("state", ds->running ? p->state : "unknown");
		json_kv_str_or_null("node", p->node[0] ? p->node : NULL);
		json_kv_str_or_null("name", p->name[0] ? p->name : NULL);
		json_kv_uint("connected_since_ms", p->since_ms);
		json_kv_uint("last_seen_ms", p->last_msg_ms);
		json_kv_uint("entries_sent", p->sent);
		json_kv_uint("entries_received", p->received);
		json_kv_uint("entries_behind", p->peer_lacks);
		json_kv_uint("entries_ahead", p->we_lack);
		json_kv_uint("next_dial_ms", p->next_dial_ms);
		json_kv_str_or_null("last_error", p->last_error[0] ? p->last_error : NULL);
		json_object_end();
	}
	json_array_end();
	if (wm == 0) {
		json_kv_null("watermark_age_s");
	} else {
		json_kv_uint("watermark_age_s", now > wm ? (now - wm) / 1000 : 0);
	}
	json_kv_bool("watermark_stale", wm == 0 ||
		     now > wm + (ds->watermark_max_age_ms ? ds->watermark_max_age_ms
							   : WATERMARK_MAX_AGE_MS));
}

/* "12 s", "5 min", "3 h", "2 d". */
static const char *ago(uint64_t ms)
{
	static char b[4][32];
	static int k;
	char *o = b[k++ & 3];
	uint64_t s = ms / 1000;

	if (s < 120)
		snprintf(o, 32, "%" PRIu64 " s", s);
	else if (s < 7200)
		snprintf(o, 32, "%" PRIu64 " min", s / 60);
	else if (s < 172800)
		snprintf(o, 32, "%" PRIu64 " h", s / 3600);
	else
		snprintf(o, 32, "%" PRIu64 " d", s / 86400);
	return o;
}

static void status_text_daemon(const struct daemon_status *ds, uint64_t wm)
{
	uint64_t now = util_now_ms();
	uint64_t max = ds->watermark_max_age_ms ? ds->watermark_max_age_ms
						: WATERMARK_MAX_AGE_MS;

	if (wm == 0)
		printf("%-16s %s\n", "city watermark", "none applied yet: STALE");
	else
		printf("%-16s %s old%s\n", "city watermark",
		       ago(now > wm ? now - wm : 0),
		       now > wm + max ? ": STALE (the blacklist may be behind)" : "");
	if (!ds->present) {
		printf("%-16s %s\n", "daemon", "not running (no status file)");
		return;
	}
	if (ds->running)
		printf("%-16s running (pid %ld)%s%s\n", "daemon", ds->pid,
		       ds->listen[0] ? ", listening on " : "", ds->listen);
	else
		printf("%-16s not running; peers as of %s ago\n", "daemon",
		       ago(now > ds->updated_ms ? now - ds->updated_ms : 0));
	if (ds->reader_device[0])
		printf("%-16s %s (%s station), %s, %" PRIu64 " taps\n", "reader",
		       ds->reader_device, ds->reader_mode,
		       ds->running ? ds->reader_state : "stopped", ds->reader_taps);
	printf("%-16s %zu\n", "peers", ds->npeers);
	for (size_t i = 0; i < ds->npeers; i++) {
		const struct ds_peer *p = &ds->peers[i];
		const char *sep = " ";
		printf("  %-21s %-3s %-10s", p->addr, p->dir,
		       ds->running ? p->state : "-");
		if (p->node[0]) {
			printf("%s%s (%.8s)", sep, p->name, p->node);
			sep = ", ";
		}
		if (strcmp(p->state, "connected") == 0) {
			printf("%sup %s", sep,
			       ago(now > p->since_ms ? now - p->since_ms : 0));
			sep = ", ";
			if (p->last_msg_ms)
				printf(", last message %s ago",
				       ago(now > p->last_msg_ms ? now - p->last_msg_ms : 0));
			printf(", behind %" PRIu64 ", ahead %" PRIu64, p->peer_lacks,
			       p->we_lack);
		} else if (ds->running && p->next_dial_ms > now) {
			printf("%snext try in %s", sep, ago(p->next_dial_ms - now));
			sep = ", ";
		}
		if (p->last_error[0])
			printf("%slast error: %s", sep, p->last_error);
		printf("\n");
	}
}

int cmd_status_main(int argc, char **argv)
{
	struct daemon_status ds = {0};
	uint64_t wm = 0, disk = 0;
	struct replica *r = NULL;
	struct replica_info info;
	struct replica_counts n;
	uint8_t digest[CN_KEY_LEN];
	const char *role;
	int rc, ret;

	if ((ret = cli_parse(&status_cmd, argc, argv, NULL, 0)) >= 0)
		return ret;
	if ((ret = cli_open(REPLICA_RDONLY, &r)))
		return ret;
	replica_info(r, &info);
	role = authority_role_name(info.role);
	ds_read(cli.data_dir, &ds);
	if (replica_watermark(r, &wm) != CN_OK)
		wm = 0;
	disk = dir_bytes(cli.data_dir);
	memset(&n, 0, sizeof n);
	rc = replica_digest(r, digest, &n);
	if (rc) {
		cli_err("cannot read the counts: %s (%s)", cn_strerror(rc),
			replica_last_error(r));
		ret = CLI_FAIL;
		goto cleanup;
	}

	if (cli.json) {
		json_object_begin();
		json_kv_hex("node", info.node, CN_KEY_LEN);
		json_kv_str("name", info.name);
		json_kv_str("role", role ? role : "none");
		json_kv_str("scope", info.scope);
		json_kv_bool("has_cert", info.has_cert);
		json_key("version_vector");
		json_object_begin();
		rc = replica_vv(r, vv_json_cb, NULL);
		json_object_end();
		status_json_daemon(&ds, wm);
		json_key("forks");
		json_array_begin();
		if (!rc)
			rc = replica_forks(r, fork_json_cb, NULL);
		json_array_end();
		json_kv_uint("refused", n.refused);
		json_kv_uint("students", n.students);
		json_kv_uint("cards", n.cards);
		json_kv_uint("entries", n.entries);
		json_kv_uint("disk_bytes", disk);
		json_kv_hex("digest", digest, CN_KEY_LEN);
		json_object_end();
		if (json_end() && !rc)
			ret = CLI_FAIL;
	} else {
		printf("%-16s %s\n", "node", cli_hex(info.node, CN_KEY_LEN));
		printf("%-16s %s (%s %s)\n", "name", info.name,
		       role ? role : "none", info.scope);
		printf("%-16s %s\n", "certificate",
		       info.has_cert ? "installed" : "NONE: this node's entries "
						     "have no effect yet");
		printf("%-16s %" PRIu64 "\n", "students", n.students);
		printf("%-16s %" PRIu64 "\n", "cards", n.cards);
		printf("%-16s %" PRIu64 "\n", "entries", n.entries);
		printf("%-16s %" PRIu64 "%s\n", "refused", n.refused,
		       n.refused ? "  (cardctl log --refused)" : "");
		printf("%-16s %" PRIu64 "\n", "forks", n.forks);
		status_text_daemon(&ds, wm);
		printf("%-16s %.1f MB\n", "disk use", disk / 1e6);
		printf("%-16s %s\n", "digest", cli_hex(digest, CN_KEY_LEN));
		printf("version vector:\n");
		rc = replica_vv(r, vv_text_cb, NULL);
		if (!rc)
			rc = replica_forks(r, fork_text_cb, NULL);
	}
	if (rc) {
		cli_err("cannot read the replica: %s", cn_strerror(rc));
		ret = CLI_FAIL;
	}
cleanup:
	ds_free(&ds);
	replica_close(r);
	return ret;
}
