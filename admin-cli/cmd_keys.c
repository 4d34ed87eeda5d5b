/*
 * cmd_keys.c — keys, identity and authority: root init, secret init, init,
 * id, cert issue/install, revoke, revoke install (DESIGN §5, §7, §10).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "authority.h"
#include "cbor_rw.h"
#include "cli.h"
#include "commands.h"
#include "json.h"
#include "policy.h"
#include "replica.h"
#include "util.h"

#define DAY_MS (24ull * 3600 * 1000)
#define CERT_DAYS_DEFAULT 3650
#define CERT_DAYS_MAX 36500

static int read_root(const char *path, uint8_t sk[static 64],
		     uint8_t pk[static CN_KEY_LEN])
{
	char err[256] = "";
	int rc = datadir_read_root(path, sk, err, sizeof err);

	if (rc) {
		cli_err("cannot read the root key '%s': %s", path,
			err[0] ? err : cn_strerror(rc));
		return rc == CN_ERR_NOTFOUND ? CLI_NOTFOUND : CLI_FAIL;
	}
	crypto_sign_ed25519_sk_to_pk(pk, sk);
	return CLI_OK;
}

static uint64_t random_serial(void)
{
	uint64_t s;

	randombytes_buf(&s, sizeof s);
	s &= INT64_MAX;
	return s ? s : 1;
}

static int write_public(const char *path, const uint8_t *buf, size_t len,
			const char *what)
{
	int rc = util_write_file(path, buf, len, 0644, true);

	if (rc == CN_ERR_EXISTS) {
		cli_err("'%s' already exists; refusing to overwrite it "
			"(choose another --out or remove it)",
			path);
		return CLI_FAIL;
	}
	if (rc) {
		cli_err("cannot write the %s to '%s': %s", what, path,
			cn_strerror(rc));
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* ---- root init, secret init ------------------------------------------- */

static const struct cli_cmd root_init_cmd = {
	"root init", "root init --out FILE",
	"Make the deployment's root key: an Ed25519 key pair whose secret half\n"
	"is written to FILE (mode 0600; an existing file is never replaced).\n"
	"Prints the root public key (64 hex digits) that every node pins with\n"
	"'cardctl init --root-pub'.  Keep FILE offline.\n"
};

static const struct cli_cmd secret_init_cmd = {
	"secret init", "secret init --out FILE",
	"Make the deployment secret: 32 random bytes as 64 hex digits in FILE\n"
	"(mode 0600; an existing file is never replaced).  Every node of the\n"
	"deployment gets a copy at 'cardctl init --secret FILE'; the network\n"
	"key and the ID-number digest key are derived from it.\n"
};

/* root init (root true) and secret init: make the root key pair, or else
 * the deployment secret, and write its secret part to --out FILE. */
static int make_secret(const struct cli_cmd *cmd, bool root, int argc,
		       char **argv)
{
	const char *out = NULL, *what = root ? "root key" : "secret";
	const struct cli_opt opts[] = { { "out", &out, NULL }, CLI_OPT_END };
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	char err[256] = "";
	int rc, ret = CLI_FAIL;

	if ((rc = cli_parse(cmd, argc, argv, opts, 0)) >= 0)
		return rc;
	if (!out)
		return cli_usage_error(cmd, "--out FILE is required");

	if (root) {
		crypto_sign_keypair(pk, sk);
		rc = datadir_write_root(out, sk, err, sizeof err);
	} else {
		randombytes_buf(sk, CN_KEY_LEN);
		rc = datadir_write_secret(out, sk, err, sizeof err);
	}
	if (rc == CN_ERR_EXISTS) {
		cli_err("cannot write the %s to '%s': %s (an existing %s is "
			"never replaced; choose another --out)",
			what, out, err[0] ? err : cn_strerror(rc),
			root ? "key" : "secret");
		goto cleanup;
	}
	if (rc) {
		cli_err("cannot write the %s to '%s': %s", what, out,
			err[0] ? err : cn_strerror(rc));
		goto cleanup;
	}
	if (cli.json) {
		json_object_begin();
		if (root)
			json_kv_hex("root_pub", pk, sizeof pk);
		json_kv_str("out", out);
		json_object_end();
		ret = json_end() ? CLI_FAIL : CLI_OK;
	} else if (root) {
		printf("%s\n", cli_hex(pk, sizeof pk));
		fprintf(stderr, "root secret key written to %s; keep it offline\n",
			out);
		ret = CLI_OK;
	} else {
		printf("deployment secret written to %s\n", out);
		ret = CLI_OK;
	}
cleanup:
	sodium_memzero(sk, sizeof sk);
	return ret;
}

static int root_init(int argc, char **argv)
{
	return make_secret(&root_init_cmd, true, argc, argv);
}
static int secret_init(int argc, char **argv)
{
	return make_secret(&secret_init_cmd, false, argc, argv);
}

int cmd_root_main(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "init", root_init, "make the root key pair" },
	};
	return cli_dispatch("root", subs, 1, argc, argv);
}

int cmd_secret_main(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "init", secret_init, "make the deployment secret" },
	};
	return cli_dispatch("secret", subs, 1, argc, argv);
}

/* ---- certificates and revocations: shared ------------------------------ */

/* A certificate for `node` valid from yesterday for `days` days. */
static void cert_make(struct cert *c, const uint8_t node[static CN_KEY_LEN],
		      const char *name, uint8_t role, const char *scope,
		      uint64_t days)
{
	uint64_t now = util_now_ms();

	memset(c, 0, sizeof *c);
	memcpy(c->node, node, CN_KEY_LEN);
	snprintf(c->name, sizeof c->name, "%s", name);
	c->role = role;
	snprintf(c->scope, sizeof c->scope, "%s", scope);
	c->not_before = now > DAY_MS ? now - DAY_MS : 0;
	c->not_after = now + days * DAY_MS;
	c->serial = random_serial();
}

/* Sign the certificate `c`, or else the revocation `rv`, with the root
 * key. */
static int root_sign(const uint8_t root_sk[static 64], const struct cert *c,
		     const struct revocation *rv, uint8_t buf[static CERT_MAX],
		     size_t *len)
{
	int rc = c ? authority_cert_sign(c, root_sk, buf, CERT_MAX, len)
		   : authority_revocation_sign(rv, root_sk, buf, CERT_MAX, len);

	if (rc) {
		cli_err("cannot sign the %s: %s",
			c ? "certificate" : "revocation", cn_strerror(rc));
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* cert issue, revoke: sign `c`, or else `rv`, with the root key in the
 * file `root_path` and write it to `out`, a new file. */
static int root_sign_file(const char *root_path, const struct cert *c,
			  const struct revocation *rv, const char *out)
{
	uint8_t root_sk[64], root_pk[CN_KEY_LEN], buf[CERT_MAX];
	size_t len = 0;
	int ret;

	if ((ret = read_root(root_path, root_sk, root_pk)))
		goto cleanup;
	if ((ret = root_sign(root_sk, c, rv, buf, &len)))
		goto cleanup;
	ret = write_public(out, buf, len, c ? "certificate" : "revocation");
cleanup:
	sodium_memzero(root_sk, sizeof root_sk);
	return ret;
}

static int check_role_scope(const struct cli_cmd *cmd, const char *role_s,
			    const char *scope, uint8_t *role)
{
	if (authority_role_parse(role_s, role) != 0 || *role == ROLE_NONE)
		return cli_usage_error(cmd,
				       "--role '%s' is not a role; use city, "
				       "district, school, service or reader",
				       role_s);
	if (!authority_scope_valid(*role, scope))
		return cli_usage_error(
			cmd,
			"--scope '%s' is not a scope for role %s (city: a 2-6 "
			"digit division code such as 110000; district: 6 "
			"digits; school: DDDDDD-NNNN; service, reader: a site "
			"name of A-Z a-z 0-9 _ -, at most 32)",
			scope, role_s);
	return CLI_OK;
}

/* ---- init -------------------------------------------------------------- */

static const struct cli_cmd init_cmd = {
	"init",
	"init --name N --role R --scope S --root-pub HEX --secret FILE\n"
	"            [--profile generic|suzhou|beijing] [--timezone TZ]\n"
	"            [--root FILE [--days D]]",
	"Create this node's data directory (-d DIR, mode 0700) with a fresh\n"
	"identity key, the pinned root public key, the deployment secret, the\n"
	"policy profile (default generic) and the time zone (default\n"
	"Asia/Shanghai).  Prints the node id.\n"
	"\n"
	"  --name N        a name for people, e.g. \"Chaoyang No.1 school\"\n"
	"  --role R        city, district, school, service or reader\n"
	"  --scope S       what the role governs: 110000, 110105,\n"
	"                  110105-0001, or a site name\n"
	"  --root-pub HEX  the root public key 'cardctl root init' printed\n"
	"  --secret FILE   the deployment secret of 'cardctl secret init'\n"
	"  --root FILE     also issue and install this node's certificate\n"
	"                  with the root key (must match --root-pub)\n"
	"  --days D        certificate validity in days (default 3650)\n"
};

int cmd_init_main(int argc, char **argv)
{
	const struct cli_cmd *cmd = &init_cmd;
	const char *name = NULL, *role_s = NULL, *scope = NULL;
	const char *root_pub_s = NULL, *secret_path = NULL;
	const char *profile_s = "generic", *tz = NULL, *root_path = NULL;
	const char *days_s = NULL;
	const struct cli_opt opts[] = {
		{ "name", &name, NULL },
		{ "role", &role_s, NULL },
		{ "scope", &scope, NULL },
		{ "root-pub", &root_pub_s, NULL },
		{ "secret", &secret_path, NULL },
		{ "profile", &profile_s, NULL },
		{ "timezone", &tz, NULL },
		{ "root", &root_path, NULL },
		{ "days", &days_s, NULL },
		CLI_OPT_END
	};
	struct replica_init in;
	struct replica *r = NULL;
	struct cert cert;
	uint8_t root_sk[64], root_pk[CN_KEY_LEN], node[CN_KEY_LEN];
	uint8_t certbuf[CERT_MAX];
	size_t certlen = 0;
	uint64_t days = CERT_DAYS_DEFAULT;
	const char *why = NULL;
	char err[512] = "";
	bool have_cert = false;
	int rc, ret = CLI_FAIL;

	memset(&in, 0, sizeof in);
	if ((rc = cli_parse(cmd, argc, argv, opts, 0)) >= 0)
		return rc;
	if (!name)
		return cli_usage_error(cmd, "--name is required");
	if (!role_s)
		return cli_usage_error(cmd, "--role is required");
	if (!scope)
		return cli_usage_error(cmd, "--scope is required");
	if (!root_pub_s)
		return cli_usage_error(cmd, "--root-pub is required");
	if (!secret_path)
		return cli_usage_error(cmd, "--secret FILE is required");
	if ((rc = cli_check_text(cmd, "--name", name, CERT_NAME_MAX)))
		return rc;
	if ((rc = check_role_scope(cmd, role_s, scope, &in.role)))
		return rc;
	if ((rc = cli_parse_key(cmd, "--root-pub", root_pub_s, in.root_pub)))
		return rc;
	if (policy_profile_parse(profile_s, &in.profile) != 0)
		return cli_usage_error(cmd,
				       "--profile '%s' is not a profile; use "
				       "generic, suzhou or beijing",
				       profile_s);
	if (tz && policy_tz_set(tz) != 0)
		return cli_usage_error(cmd,
				       "--timezone '%s' is not a time zone of "
				       "this system (e.g. Asia/Shanghai)",
				       tz);
	if (days_s && (rc = cli_parse_uint(cmd, "--days", days_s, 1,
					   CERT_DAYS_MAX, &days)))
		return rc;
	if (days_s && !root_path)
		return cli_usage_error(cmd, "--days needs --root FILE");

	if (root_path) {
		if ((ret = read_root(root_path, root_sk, root_pk)))
			goto cleanup;
		ret = CLI_FAIL;
		if (sodium_memcmp(root_pk, in.root_pub, CN_KEY_LEN) != 0) {
			cli_err("the root key in '%s' (public key %s) is not the "
				"--root-pub %s; give the matching pair",
				root_path, cli_hex(root_pk, CN_KEY_LEN),
				root_pub_s);
			goto cleanup;
		}
	}
	rc = datadir_read_secret(secret_path, in.secret, err, sizeof err);
	if (rc) {
		cli_err("cannot read the deployment secret '%s': %s",
			secret_path, err[0] ? err : cn_strerror(rc));
		ret = rc == CN_ERR_NOTFOUND ? CLI_NOTFOUND : CLI_FAIL;
		goto cleanup;
	}

	in.dir = cli.data_dir;
	in.name = name;
	in.scope = scope;
	in.timezone = tz;
	err[0] = '\0';
	rc = replica_init(&in, node, err, sizeof err);
	if (rc) {
		cli_err("cannot create the data directory '%s': %s%s",
			cli.data_dir, err[0] ? err : cn_strerror(rc),
			rc == CN_ERR_EXISTS ? " (it exists and is not empty; "
					      "choose another -d DIR)"
					    : "");
		goto cleanup;
	}

	if (root_path) {
		cert_make(&cert, node, name, in.role, scope, days);
		if ((ret = root_sign(root_sk, &cert, NULL, certbuf, &certlen)))
			goto cert_failed;
		ret = CLI_FAIL;
		err[0] = '\0';
		rc = replica_open(cli.data_dir, 0, &r, err, sizeof err);
		if (rc) {
			cli_err("cannot open the new data directory '%s': %s",
				cli.data_dir, err[0] ? err : cn_strerror(rc));
			goto cert_failed;
		}
		rc = replica_cert_install(r, certbuf, certlen, &why);
		if (rc && rc != CN_ERR_EXISTS) {
			cli_err("cannot install the certificate: %s%s%s",
				cn_strerror(rc), why ? ": " : "",
				why ? why : "");
			goto cert_failed;
		}
		have_cert = true;
	}

	if (cli.json) {
		json_object_begin();
		json_kv_hex("node", node, CN_KEY_LEN);
		json_kv_str("dir", cli.data_dir);
		json_kv_str("name", name);
		json_kv_str("role", authority_role_name(in.role));
		json_kv_str("scope", scope);
		json_kv_str("profile", policy_profile_name(in.profile));
		json_kv_str("timezone", tz ? tz : "Asia/Shanghai");
		json_kv_bool("has_cert", have_cert);
		json_object_end();
		ret = json_end() ? CLI_FAIL : CLI_OK;
	} else {
		printf("%s\n", cli_hex(node, CN_KEY_LEN));
		fprintf(stderr, "node '%s' (%s %s) created in %s%s\n", name,
			role_s, scope, cli.data_dir,
			have_cert ? ", certificate installed"
				  : "; it needs a certificate: 'cardctl cert "
				    "issue' then 'cardctl cert install'");
		ret = CLI_OK;
	}
	goto cleanup;

cert_failed:
	fprintf(stderr,
		"  The data directory was created without a certificate; "
		"issue one with\n  'cardctl cert issue' and install it with "
		"'cardctl -d %s cert install FILE'.\n",
		cli.data_dir);
	ret = CLI_FAIL;
cleanup:
	replica_close(r);
	sodium_memzero(root_sk, sizeof root_sk);
	sodium_memzero(in.secret, sizeof in.secret);
	return ret;
}

/* ---- id ---------------------------------------------------------------- */

static const struct cli_cmd id_cmd = {
	"id", "id",
	"Show this node's identity: node id, name, role, scope, profile, time\n"
	"zone, pinned root public key and whether a certificate is installed.\n"
};

int cmd_id_main(int argc, char **argv)
{
	const struct cli_cmd *cmd = &id_cmd;
	struct replica *r = NULL;
	struct replica_info info;
	const char *role;
	int ret;

	if ((ret = cli_parse(cmd, argc, argv, NULL, 0)) >= 0)
		return ret;
	if ((ret = cli_open(REPLICA_RDONLY, &r)))
		return ret;

	replica_info(r, &info);
	role = authority_role_name(info.role);
	if (!role)
		role = "none";
	if (cli.json) {
		json_object_begin();
		json_kv_hex("node", info.node, CN_KEY_LEN);
		json_kv_str("name", info.name);
		json_kv_str("role", role);
		json_kv_str("scope", info.scope);
		json_kv_str("profile", policy_profile_name(info.profile));
		json_kv_str("timezone", info.timezone);
		json_kv_hex("root_pub", info.root_pub, CN_KEY_LEN);
		json_kv_bool("has_cert", info.has_cert);
		json_object_end();
		ret = json_end() ? CLI_FAIL : CLI_OK;
	} else {
		printf("%-12s %s\n", "node", cli_hex(info.node, CN_KEY_LEN));
		printf("%-12s %s\n", "name", info.name);
		printf("%-12s %s\n", "role", role);
		printf("%-12s %s\n", "scope", info.scope);
		printf("%-12s %s\n", "profile", policy_profile_name(info.profile));
		printf("%-12s %s\n", "timezone", info.timezone);
		printf("%-12s %s\n", "root_pub", cli_hex(info.root_pub, CN_KEY_LEN));
		printf("%-12s %s\n", "certificate",
		       info.has_cert ? "installed" : "none (cardctl cert install)");
		ret = CLI_OK;
	}
	replica_close(r);
	return ret;
}

/* ---- cert issue / install ---------------------------------------------- */

static const struct cli_cmd cert_issue_cmd = {
	"cert issue",
	"cert issue --root FILE --node HEX --role R --scope S --name N\n"
	"            [--days D] --out FILE",
	"Sign a certificate for node HEX (its 'cardctl id') with the root key.\n"
	"Valid from one day ago for D days (default 3650).  Needs no data\n"
	"directory; the node installs FILE with 'cardctl cert install FILE'.\n"
};

static int cert_issue(int argc, char **argv)
{
	const struct cli_cmd *cmd = &cert_issue_cmd;
	const char *root_path = NULL, *node_s = NULL, *role_s = NULL;
	const char *scope = NULL, *name = NULL, *days_s = NULL, *out = NULL;
	const struct cli_opt opts[] = {
		{ "root", &root_path, NULL },
		{ "node", &node_s, NULL },
		{ "role", &role_s, NULL },
		{ "scope", &scope, NULL },
		{ "name", &name, NULL },
		{ "days", &days_s, NULL },
		{ "out", &out, NULL },
		CLI_OPT_END
	};
	uint8_t node[CN_KEY_LEN], role;
	uint64_t days = CERT_DAYS_DEFAULT;
	struct cert cert;
	int ret;

	if ((ret = cli_parse(cmd, argc, argv, opts, 0)) >= 0)
		return ret;
	if (!root_path || !node_s || !role_s || !scope || !name || !out)
		return cli_usage_error(cmd, "--root, --node, --role, --scope, "
					    "--name and --out are required");
	if ((ret = cli_parse_key(cmd, "--node", node_s, node)))
		return ret;
	if ((ret = check_role_scope(cmd, role_s, scope, &role)))
		return ret;
	if ((ret = cli_check_text(cmd, "--name", name, CERT_NAME_MAX)))
		return ret;
	if (days_s && (ret = cli_parse_uint(cmd, "--days", days_s, 1,
					    CERT_DAYS_MAX, &days)))
		return ret;

	cert_make(&cert, node, name, role, scope, days);
	if ((ret = root_sign_file(root_path, &cert, NULL, out)))
		return ret;
	if (cli.json) {
		json_object_begin();
		json_kv_hex("node", cert.node, CN_KEY_LEN);
		json_kv_str("name", cert.name);
		json_kv_str("role", authority_role_name(cert.role));
		json_kv_str("scope", cert.scope);
		json_kv_uint("not_before", cert.not_before);
		json_kv_uint("not_after", cert.not_after);
		json_kv_uint("serial", cert.serial);
		json_kv_str("out", out);
		json_object_end();
		return json_end() ? CLI_FAIL : CLI_OK;
	}
	printf("certificate for %s (%s %s, '%s') valid %s to %s, "
	       "serial %" PRIu64 ", written to %s\n",
	       cli_hex(cert.node, 8), role_s, scope, name,
	       cli_date(policy_local_date(cert.not_before, NULL)),
	       cli_date(policy_local_date(cert.not_after, NULL)),
	       cert.serial, out);
	return CLI_OK;
}

/* Read a certificate or revocation file given on the command line. */
static int read_blob(const char *path, const char *what, uint8_t **buf,
		     size_t *len)
{
	int rc = util_read_file(path, CERT_MAX, buf, len);

	if (rc == CN_ERR_NOTFOUND) {
		cli_err("%s file '%s' does not exist", what, path);
		return CLI_NOTFOUND;
	}
	if (rc == CN_ERR_TOOBIG) {
		cli_err("'%s' is larger than any %s (%d bytes at most)", path,
			what, CERT_MAX);
		return CLI_FAIL;
	}
	if (rc) {
		cli_err("cannot read %s file '%s': %s", what, path,
			cn_strerror(rc));
		return CLI_FAIL;
	}
	return CLI_OK;
}

enum blob_kind { BLOB_UNKNOWN, BLOB_CERT, BLOB_REVOCATION };

/*
 * What a file holds, by the shape of its payload alone (both are [payload,
 * signature]; a certificate's payload is a map of 8 entries, a
 * revocation's of 4).  Only to say "wrong command": nothing is trusted
 * before the opener has checked the signature.
 */
static enum blob_kind blob_kind(const uint8_t *buf, size_t len)
{
	struct cbor_rd r, pr;
	const uint8_t *p;
	size_t n, plen;

	cbr_init(&r, buf, len);
	if (cbr_array(&r, &n, 2) || n != 2 || cbr_bstr(&r, &p, &plen, CERT_MAX))
		return BLOB_UNKNOWN;
	cbr_init(&pr, p, plen);
	if (cbr_map(&pr, &n, 16))
		return BLOB_UNKNOWN;
	return n == 8 ? BLOB_CERT : n == 4 ? BLOB_REVOCATION : BLOB_UNKNOWN;
}

/*
 * cert install, revoke install: read the file `path`, verify it against
 * this node's root and install it, a certificate into *c or, with c NULL,
 * a revocation into *rv; *already when it was installed before.
 */
static int install_file(const char *path, struct cert *c,
			struct revocation *rv, bool *already)
{
	const char *what = c ? "certificate" : "revocation";
	struct replica *r = NULL;
	struct replica_info info;
	uint8_t *buf = NULL;
	size_t len = 0;
	const char *why = NULL;
	int rc, ret;

	if ((ret = read_blob(path, what, &buf, &len)))
		goto cleanup;
	if (blob_kind(buf, len) == (c ? BLOB_REVOCATION : BLOB_CERT)) {
		cli_err("%s is a %s, not a %s (use: cardctl %s install %s)",
			path, c ? "revocation" : "certificate", what,
			c ? "revoke" : "cert", path);
		ret = CLI_FAIL;
		goto cleanup;
	}
	if ((ret = cli_open(0, &r)))
		goto cleanup;
	replica_info(r, &info);

	ret = CLI_FAIL;
	rc = c ? authority_cert_open(buf, len, info.root_pub, c, &why)
	       : authority_revocation_open(buf, len, info.root_pub, rv, &why);
	if (rc == CN_ERR_BADSIG) {
		cli_err("'%s' is not signed by this deployment's root key "
			"(%s)%s",
			path, why ? why : "bad signature",
			c ? "; issue it with the root key this node pins" : "");
		ret = CLI_REFUSED;
		goto cleanup;
	}
	if (rc) {
		cli_err("'%s' is not a %s: %s", path, what,
			why ? why : cn_strerror(rc));
		goto cleanup;
	}
	why = NULL;
	rc = c ? replica_cert_install(r, buf, len, &why)
	       : replica_revocation_install(r, buf, len, &why);
	*already = rc == CN_ERR_EXISTS;
	if (rc && !*already) {
		cli_err("cannot install '%s': %s%s%s", path, cn_strerror(rc),
			why ? ": " : "", why ? why : "");
		ret = cli_exit_of(rc);
		goto cleanup;
	}
	ret = CLI_OK;
cleanup:
	replica_close(r);
	free(buf);
	return ret;
}

static const struct cli_cmd cert_install_cmd = {
	"cert install", "cert install FILE",
	"Install a root-signed certificate (from 'cardctl cert issue') into\n"
	"this node's replica.  Entries it authorizes take effect at once.\n"
	"Installing one that is already there changes nothing and exits 0.\n"
	"Exit 3 no such file, 4 not signed by this deployment's root, 1 not a\n"
	"certificate (a revocation file is named as such).\n"
};

static int cert_install(int argc, char **argv)
{
	struct cert cert;
	bool already = false;
	int ret;

	if ((ret = cli_parse(&cert_install_cmd, argc, argv, NULL, 1)) >= 0)
		return ret;
	if ((ret = install_file(argv[optind], &cert, NULL, &already)))
		return ret;
	if (cli.json) {
		json_object_begin();
		json_kv_hex("node", cert.node, CN_KEY_LEN);
		json_kv_str("name", cert.name);
		json_kv_str("role", authority_role_name(cert.role));
		json_kv_str("scope", cert.scope);
		json_kv_uint("serial", cert.serial);
		json_kv_bool("installed", !already);
		json_kv_bool("already_installed", already);
		json_object_end();
		return json_end() ? CLI_FAIL : CLI_OK;
	}
	printf("certificate of %s (%s %s, '%s') %s\n", cli_hex(cert.node, 8),
	       authority_role_name(cert.role), cert.scope, cert.name,
	       already ? "was already installed; nothing changed"
		       : "installed");
	return CLI_OK;
}

int cmd_cert_main(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "issue", cert_issue, "sign a node certificate with the root key" },
		{ "install", cert_install, "install a certificate into this node" },
	};
	return cli_dispatch("cert", subs, sizeof subs / sizeof subs[0], argc,
			    argv);
}

/* ---- revoke / revoke install ------------------------------------------- */

static const struct cli_cmd revoke_cmd = {
	"revoke",
	"revoke --root FILE --node HEX --after-seq N --out FILE\n"
	"       cardctl revoke install FILE",
	"Sign a revocation of node HEX with the root key: its entries with seq\n"
	"above N lose their effect everywhere the revocation reaches (N = 0:\n"
	"all of them).  Needs no data directory.  Nodes install it with\n"
	"'cardctl revoke install FILE'; bundles and sync carry it on.\n"
};

static const struct cli_cmd revoke_install_cmd = {
	"revoke install", "revoke install FILE",
	"Install a root-signed revocation into this node's replica; the\n"
	"histories it affects are re-folded.  Installing one that is already\n"
	"there changes nothing and exits 0.\n"
	"Exit 3 no such file, 4 not signed by this deployment's root, 1 not a\n"
	"revocation (a certificate file is named as such).\n"
};

static int revoke_install(int argc, char **argv)
{
	struct revocation rv;
	bool already = false;
	int ret;

	if ((ret = cli_parse(&revoke_install_cmd, argc, argv, NULL, 1)) >= 0)
		return ret;
	if ((ret = install_file(argv[optind], NULL, &rv, &already)))
		return ret;
	if (cli.json) {
		json_object_begin();
		json_kv_hex("node", rv.node, CN_KEY_LEN);
		json_kv_uint("after_seq", rv.valid_through_seq);
		json_kv_bool("installed", !already);
		json_kv_bool("already_installed", already);
		json_object_end();
		return json_end() ? CLI_FAIL : CLI_OK;
	}
	printf("revocation of %s after seq %" PRIu64 " %s\n",
	       cli_hex(rv.node, 8), rv.valid_through_seq,
	       already ? "was already installed; nothing changed"
		       : "installed");
	return CLI_OK;
}

int cmd_revoke_main(int argc, char **argv)
{
	const struct cli_cmd *cmd = &revoke_cmd;
	const char *root_path = NULL, *node_s = NULL, *after_s = NULL;
	const char *out = NULL;
	const struct cli_opt opts[] = {
		{ "root", &root_path, NULL },
		{ "node", &node_s, NULL },
		{ "after-seq", &after_s, NULL },
		{ "out", &out, NULL },
		CLI_OPT_END
	};
	struct revocation rv;
	int ret;

	if (argc >= 2 && !strcmp(argv[1], "install"))
		return revoke_install(argc - 1, argv + 1);

	memset(&rv, 0, sizeof rv);
	if ((ret = cli_parse(cmd, argc, argv, opts, 0)) >= 0)
		return ret;
	if (!root_path || !node_s || !after_s || !out)
		return cli_usage_error(cmd, "--root, --node, --after-seq and "
					    "--out are required");
	if ((ret = cli_parse_key(cmd, "--node", node_s, rv.node)))
		return ret;
	if ((ret = cli_parse_uint(cmd, "--after-seq", after_s, 0, INT64_MAX,
				  &rv.valid_through_seq)))
		return ret;
	rv.time = util_now_ms();

	if ((ret = root_sign_file(root_path, NULL, &rv, out)))
		return ret;
	if (cli.json) {
		json_object_begin();
		json_kv_hex("node", rv.node, CN_KEY_LEN);
		json_kv_uint("after_seq", rv.valid_through_seq);
		json_kv_uint("time", rv.time);
		json_kv_str("out", out);
		json_object_end();
		return json_end() ? CLI_FAIL : CLI_OK;
	}
	printf("revocation of %s after seq %" PRIu64 " written to %s\n",
	       cli_hex(rv.node, 8), rv.valid_through_seq, out);
	return CLI_OK;
}
