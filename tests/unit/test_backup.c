/*
 * test_backup.c — replica_backup (a compact copy with root.pub and no
 * keys, that opens as a copied data dir and merges into a new node to the
 * same state) and replica_count (the cheap counts agree with the digest's,
 * also through a view).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "check.h"
#include "replica.h"
#include "testutil.h"

#define SCHOOL "110105-0001"

static struct tu_deploy dep;
static struct tu_node src;

static bool exists(const char *dir, const char *name)
{
	char path[700];
	struct stat sb;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	return stat(path, &sb) == 0;
}

static void same_counts(const struct replica_counts *a,
			const struct replica_counts *b)
{
	CHECK_EQ(a->entries, b->entries);
	CHECK_EQ(a->refused, b->refused);
	CHECK_EQ(a->forks, b->forks);
	CHECK_EQ(a->origins, b->origins);
}

static void test_count(void)
{
	struct replica_counts full, cheap, viewed;
	struct replica *view;
	uint8_t d[32];

	CHECK_EQ(replica_digest(src.r, d, &full), 0);
	CHECK_EQ(replica_count(src.r, &cheap), 0);
	same_counts(&full, &cheap);
	CHECK_EQ(cheap.cards, 0);
	/* Student records: also the one whose only entry was refused. */
	CHECK_EQ(cheap.students, full.students + 1);
	CHECK_EQ(replica_view_open(src.r, &view), 0);
	CHECK_EQ(replica_count(view, &viewed), 0);
	same_counts(&full, &viewed);
	CHECK_EQ(viewed.students, cheap.students);
	replica_close(view);
	CHECK_EQ(full.students, 40);
	CHECK_INT(full.refused, >, 0);
	printf("backup: replica_count = the digest's counts (%llu entries, %llu "
	       "refused) ok\n", (unsigned long long)cheap.entries,
	       (unsigned long long)cheap.refused);
}

static void test_backup(void)
{
	const char *base = tu_tmpdir("backup");
	char dir[600], file[700], err[800];
	struct replica_counts a, b;
	struct replica *copy;
	struct tu_node fresh;
	struct bundle_report rep;
	struct stat sb;
	uint64_t bytes, entries;
	uint8_t d1[32], d2[32];

	snprintf(dir, sizeof dir, "%s/bk", base);
	CHECK_EQ(replica_backup(src.r, dir, &bytes, &entries, err, sizeof err), 0);
	CHECK(exists(dir, "data.mdb") && exists(dir, "root.pub"));
	CHECK(!exists(dir, "identity.key") && !exists(dir, "secret") &&
	      !exists(dir, "lock.mdb"));
	CHECK_EQ(stat(dir, &sb), 0);
	CHECK_EQ(sb.st_mode & 0777, 0700);
	snprintf(file, sizeof file, "%s/data.mdb", dir);
	CHECK_EQ(stat(file, &sb), 0);
	CHECK_EQ(sb.st_mode & 0777, 0600);
	CHECK_EQ((uint64_t)sb.st_size, bytes);

	/* It opens as a copy, with the source's counts. */
	CHECK_EQ(replica_open(dir, REPLICA_COPY, &copy, err, sizeof err), 0);
	CHECK_EQ(replica_count(copy, &b), 0);
	replica_close(copy);
	CHECK_EQ(replica_count(src.r, &a), 0);
	same_counts(&a, &b);
	CHECK_EQ(a.students, b.students);
	CHECK_EQ(entries, a.entries);
	/* Not as a node: no keys. */
	CHECK_EQ(replica_open(dir, 0, &copy, err, sizeof err), CN_ERR_NOTFOUND);
	CHECK(copy == NULL);

	/* A new node merges it to the source's state. */
	tu_node_init(&dep, &fresh, "fresh", ROLE_SCHOOL, SCHOOL, true);
	memset(&rep, 0, sizeof rep);
	CHECK_EQ(bundle_merge_dir(fresh.r, dir, &rep, NULL, NULL), 0);
	CHECK_EQ(replica_digest(fresh.r, d1, NULL), 0);
	CHECK_EQ(replica_digest(src.r, d2, NULL), 0);
	CHECK_MEM(d1, d2, 32);
	tu_node_close(&fresh);

	/* A second backup into it is refused and touches nothing. */
	CHECK_EQ(replica_backup(src.r, dir, &bytes, &entries, err, sizeof err),
		 CN_ERR_EXISTS);
	CHECK(strstr(err, "not an empty directory") != NULL);
	CHECK(exists(dir, "data.mdb") && exists(dir, "root.pub"));
	/* A file where the directory should be. */
	snprintf(file, sizeof file, "%s/afile", base);
	fclose(fopen(file, "w"));
	CHECK_EQ(replica_backup(src.r, file, &bytes, &entries, err, sizeof err),
		 CN_ERR_EXISTS);
	/* A missing parent: nothing created. */
	snprintf(file, sizeof file, "%s/no/such", base);
	CHECK_EQ(replica_backup(src.r, file, &bytes, &entries, err, sizeof err),
		 CN_ERR_IO);
	snprintf(file, sizeof file, "%s/no", base);
	CHECK(stat(file, &sb) != 0 && errno == ENOENT);
	/* An empty directory is taken and made 0700. */
	snprintf(file, sizeof file, "%s/empty", base);
	CHECK_EQ(mkdir(file, 0755), 0);
	CHECK_EQ(replica_backup(src.r, file, &bytes, &entries, err, sizeof err), 0);
	CHECK_EQ(stat(file, &sb), 0);
	CHECK_EQ(sb.st_mode & 0777, 0700);
	printf("backup: copy without keys, opens as a copy, merges to the same "
	       "digest; bad targets refused ok\n");
}

int main(void)
{
	struct entry e;
	char edu[16], card[16];

	tu_deploy_init(&dep);
	tu_node_init(&dep, &src, "src", ROLE_DISTRICT, "110105", true);
	for (int i = 0; i < 40; i++) {
		snprintf(edu, sizeof edu, "E%05d", i);
		snprintf(card, sizeof card, "C%05d", i);
		tu_put(&e, edu, "name", SCHOOL);
		tu_author(&src, &e, 0);
		tu_issue(&e, edu, card, 0x04000000u + (uint32_t)i);
		tu_author(&src, &e, 0);
	}
	/* A refused entry too: signed by a node without a certificate. */
	{
		struct tu_node other;
		struct ingest_report rep;
		uint8_t wire[4096], zero[32] = {0};
		const uint8_t *ents[1] = {wire};
		size_t lens[1];

		tu_node_init(&dep, &other, "other", ROLE_SCHOOL, "110105-0002", false);
		tu_put(&e, "X00001", "x", "110105-0002");
		lens[0] = tu_craft(&other, &e, 1, zero, 1741568400000ull << 16, true,
				   wire, sizeof wire, NULL);
		CHECK_EQ(replica_ingest(src.r, ents, lens, 1, &rep), 0);
		CHECK_EQ(rep.refused, 1);
		tu_node_close(&other);
	}
	test_count();
	test_backup();
	tu_node_close(&src);
	return 0;
}
