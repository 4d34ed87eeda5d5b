/*
 * cardctl.c — the admin CLI's entry point: global options and the table of
 * commands (DESIGN §10).  Each command lives in one cmd_*.c file.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "commands.h"

#ifndef CARDNODE_VERSION
#define CARDNODE_VERSION "unknown"
#endif

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *description;
} commands[] = {
	{ "root", cmd_root_main, "root init: make the deployment's root key" },
	{ "secret", cmd_secret_main, "secret init: make the deployment secret" },
	{ "init", cmd_init_main, "create this node's data directory and identity" },
	{ "id", cmd_id_main, "show this node's identity" },
	{ "cert", cmd_cert_main, "issue or install a node certificate" },
	{ "revoke", cmd_revoke_main, "revoke a node, or install a revocation" },
	{ "student", cmd_student_main, "put, import, transfer, leave, show or find a student" },
	{ "auth", cmd_auth_main, "identity authentication (Jiangsu): submit, "
				 "approve, reject, list, show" },
	{ "card", cmd_card_main, "issue a card, report it lost/found, freeze, "
				 "cancel, validate, register, sticker, show" },
	{ "reissue", cmd_reissue_main, "replacement cards (补卡): request, pay, "
				       "produce, ship, at-school, collect, refund, "
				       "list" },
	{ "claim", cmd_claim_main, "a guardian claims a student's e-card; claim list" },
	{ "check", cmd_check_main, "the reader's decision for a card or UID" },
	{ "log", cmd_log_main, "the change log: all, a card, a student, refused" },
	{ "export", cmd_export_main, "write a bundle for another node" },
	{ "import", cmd_import_main, "verify and apply a bundle" },
	{ "merge", cmd_merge_main, "merge another replica's data directory" },
	{ "diff", cmd_diff_main, "compare with another replica's data directory" },
	{ "backup", cmd_backup_main, "a consistent copy of the replica (no keys)" },
	{ "verify", cmd_verify_main, "re-verify every signature and the state" },
	{ "digest", cmd_digest_main, "the state digest and counts" },
	{ "hotlist", cmd_hotlist_main, "the blacklist for readers and transit" },
	{ "status", cmd_status_main, "peers, watermark age, version vector, forks, refused" },
	{ "sync", cmd_sync_main, "one sync with a peer node, with or without the "
				 "daemon" },
	{ "tap", cmd_tap_main, "a tap on the running daemon's simulated reader" },
	{ "taps", cmd_taps_main, "the local tap log as CSV or JSON" },
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [-d DIR] [--json] <command> [arguments]\n"
		"       %s --help | --version\n\n"
		"Administer a cardnode student-card replica.\n\n"
		"Commands:\n",
		cli.prog, cli.prog);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-9s %s\n", commands[i].name,
			commands[i].description);
	fprintf(f,
		"\nGlobal options (accepted anywhere: before or after the command,\n"
		"or between a command group and its subcommand; not after '--'):\n"
		"  -d, --data DIR  the node's data directory (default "
		"$CARDNODE_DATA,\n"
		"                  else " CLI_DEFAULT_DATA ")\n"
		"  --json          print one JSON document on stdout, nothing "
		"else\n"
		"  -h, --help      this text; '<command> --help' for a command\n"
		"  --version       print the version\n"
		"\nEnvironment:\n"
		"  CARDNODE_DATA     the data directory when -d is not given\n"
		"  CARDNODE_ACTOR    the actor recorded in entries when --actor is "
		"not given;\n"
		"                    the default chain is --actor, else "
		"$CARDNODE_ACTOR,\n"
		"                    else $USER, else \"cardctl\"\n"
		"  CARDNODE_LOG      sync: log level on stderr (error, warn, "
		"info, debug;\n"
		"                    default warn)\n"
		"  CARDNODE_NOW_MS   tests only: a fixed clock (ms since the "
		"epoch)\n"
		"  CARDNODE_MAP_SIZE tests only: the initial LMDB map size in "
		"bytes\n"
		"  CARDNODE_NO_BULK  tests only: import into an empty replica "
		"entry by entry\n"
		"\nExit codes:\n"
		"  0  ok (check: accept)\n"
		"  1  failure (I/O, store, data directory; verify: a "
		"disagreement)\n"
		"  2  usage (bad command line)\n"
		"  3  not found (no such student, record or card; check, tap: "
		"unknown card\n"
		"     or UID; taps: no tap log)\n"
		"  4  refused or unauthorized (an entry the authority or fold "
		"refuses,\n"
		"     a certificate not signed by the root; check: lost, frozen, "
		"expired, …)\n"
		"  5  partial (a damaged bundle applied in part; diff: "
		"replicas differ;\n"
		"     student import: more than 3%% of the rows rejected)\n");
}

/*
 * Take the global options out of argv wherever they are (before the
 * command, between a group and its subcommand, among the subcommand's
 * arguments), except after "--": -d DIR, -dDIR, --data DIR, --data=DIR,
 * --json.  -h/--help before the command stays for main (the global
 * usage); after it, it is moved to the end so that the deepest command
 * named answers it ("cardctl card --help show" is "card show --help").
 * Abbreviations (--js) are left in place for the subcommand's own parser.
 * Returns -1, or the exit code after a usage error.
 */
static int pull_globals(int *argcp, char **argv)
{
	static char help_opt[] = "--help";
	int argc = *argcp, i, j = 1;
	bool seen_cmd = false, help = false;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--"))
			break;
		if (!strcmp(a, "--json")) {
			cli.json = true;
			continue;
		}
		if (!strcmp(a, "-d") || !strcmp(a, "--data")) {
			if (i + 1 >= argc) {
				cli_err("option '%s' needs a value", a);
				return CLI_USAGE;
			}
			a = argv[++i];
			goto data;
		}
		if (!strncmp(a, "--data=", 7)) {
			a += 7;
			goto data;
		}
		if (!strncmp(a, "-d", 2) && a[2]) {
			a += 2;
			goto data;
		}
		if (seen_cmd && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
			help = true;
			continue;
		}
		if (a[0] != '-' || !a[1])
			seen_cmd = true;
		argv[j++] = argv[i];
		continue;
data:
		if (!*a) {
			cli_err("-d/--data needs a directory");
			return CLI_USAGE;
		}
		cli.data_dir = a;
	}
	/* Room: every option taken out freed a slot. */
	if (help)
		argv[j++] = help_opt;
	for (; i < argc; i++)
		argv[j++] = argv[i];
	argv[j] = NULL;
	*argcp = j;
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, CLI_OPT_JSON },
		{ "data", required_argument, NULL, 'd' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *env;
	int c;

	env = getenv("CARDNODE_DATA");
	cli.data_dir = env && *env ? env : CLI_DEFAULT_DATA;

	if ((c = pull_globals(&argc, argv)) >= 0) {
		fprintf(stderr, "Try '%s --help' for more.\n", cli.prog);
		return c;
	}
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:hd:", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return CLI_OK;
		case 'V':
			printf("%s %s\n", cli.prog, CARDNODE_VERSION);
			return CLI_OK;
		case CLI_OPT_JSON:
			cli.json = true;
			break;
		case 'd':
			if (!*optarg) {
				cli_err("-d/--data needs a directory");
				return CLI_USAGE;
			}
			cli.data_dir = optarg;
			break;
		case ':':
			cli_err("option '%s' needs a value", argv[optind - 1]);
			usage(stderr);
			return CLI_USAGE;
		default:
			cli_err("unknown option '%s'", argv[optind - 1]);
			usage(stderr);
			return CLI_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (sodium_init() < 0) {
		cli_err("libsodium failed to initialise");
		return CLI_FAIL;
	}
	if (!strcmp(argv[optind], "help")) {
		usage(stdout);
		return CLI_OK;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(argv[optind], commands[i].name))
			return commands[i].fn(argc - optind, argv + optind);

	cli_err("'%s' is not a command; '%s --help' lists them", argv[optind],
		cli.prog);
	return CLI_USAGE;
}
