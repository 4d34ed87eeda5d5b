/*
 * cmd_backup.c — a consistent copy of the replica while the daemon runs
 * (docs/operations.md: backup and restore).
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "commands.h"
#include "json.h"
#include "replica.h"

static const struct cli_cmd backup_cmd = {
	"backup", "backup DIR",
	"Copy the replica into DIR, consistently, while the daemon (or any\n"
	"other process) goes on writing: DIR/data.mdb (a compact copy of the\n"
	"database) and DIR/root.pub.  DIR is created (mode 0700); if it exists\n"
	"it must be an empty directory.\n"
	"\n"
	"The backup holds neither the identity key nor the deployment secret:\n"
	"it is restored as a NEW node that merges it ('cardctl init' a new data\n"
	"directory, then 'cardctl merge DIR'; see docs/operations.md), never\n"
	"as the old identity, which would fork its log.  'cardctl merge DIR'\n"
	"and 'cardctl diff DIR' read a backup as they read any copied data\n"
	"directory.\n"
	"\n"
	"Prints the path, the size of the copy and the entries it holds.\n"
	"Exit 0 ok; 1 DIR exists and is not empty, or cannot be written, or\n"
	"the replica cannot be read (nothing is left in DIR then).\n"
};

int cmd_backup_main(int argc, char **argv)
{
	struct replica *r = NULL;
	uint64_t bytes, entries;
	char err[PATH_MAX + 300], path[PATH_MAX];
	const char *dir;
	int rc, ret;

	if ((ret = cli_parse(&backup_cmd, argc, argv, NULL, 1)) >= 0)
		return ret;
	dir = argv[optind];
	if (dir[0] == '\0')
		return cli_usage_error(&backup_cmd, "DIR must not be empty");
	if ((ret = cli_open(REPLICA_RDONLY, &r)))
		return ret;
	rc = replica_backup(r, dir, &bytes, &entries, err, sizeof err);
	replica_close(r);
	if (rc != CN_OK) {
		cli_err("backup: %s", err[0] ? err : cn_strerror(rc));
		return CLI_FAIL;
	}
	if (realpath(dir, path) == NULL)
		snprintf(path, sizeof path, "%s", dir);
	if (cli.json) {
		json_object_begin();
		json_kv_str("path", path);
		json_kv_uint("bytes", bytes);
		json_kv_uint("entries", entries);
		json_object_end();
		return json_end() ? CLI_FAIL : CLI_OK;
	}
	printf("%-8s %s\n", "path", path);
	printf("%-8s %" PRIu64 "\n", "bytes", bytes);
	printf("%-8s %" PRIu64 "\n", "entries", entries);
	return CLI_OK;
}
