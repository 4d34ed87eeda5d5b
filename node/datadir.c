/*
 * datadir.c — creating a data dir, backing one up, and reading/writing key
 * files.
 */
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "replica_int.h"
#include "util.h"

static int write_hex(const char *path, const uint8_t *key, size_t n,
		     unsigned mode, char *err, size_t errlen)
{
	char hex[2 * 64 + 2];
	int ret;

	util_hex_encode(key, n, hex);
	hex[2 * n] = '\n';
	ret = util_write_file(path, hex, 2 * n + 1, mode, true);
	sodium_memzero(hex, sizeof hex);
	if (ret == CN_ERR_EXISTS)
		snprintf(err, errlen, "%s exists already; refusing to overwrite a key", path);
	else if (ret != CN_OK)
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
	return ret;
}

int datadir_read_hex(const char *path, uint8_t *out, size_t n, bool private_,
		     char *err, size_t errlen)
{
	uint8_t *buf;
	size_t len;
	int ret = private_ ? util_check_private(path) : CN_OK;

	if (ret == CN_ERR_PERM) {
		snprintf(err, errlen, "%s is readable by group or others; fix it "
			 "with: chmod 600 %s", path, path);
		return ret;
	}
	if (ret == CN_OK)
		ret = util_read_file(path, 4 * n + 16, &buf, &len);
	if (ret != CN_OK) {
		snprintf(err, errlen, "cannot read %s: %s", path,
			 ret == CN_ERR_IO ? strerror(errno) : cn_strerror(ret));
		return ret;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	ret = util_hex_decode((const char *)buf, out, n);
	sodium_memzero(buf, len);
	free(buf);
	if (ret != CN_OK) {
		snprintf(err, errlen, "%s does not hold %zu hex digits", path, 2 * n);
		return CN_ERR_MALFORMED;
	}
	return CN_OK;
}

int datadir_read_secret(const char *path, uint8_t out[static CN_KEY_LEN],
			char *err, size_t errlen)
{
	return datadir_read_hex(path, out, CN_KEY_LEN, true, err, errlen);
}

int datadir_write_secret(const char *path, const uint8_t key[static CN_KEY_LEN],
			 char *err, size_t errlen)
{
	return write_hex(path, key, CN_KEY_LEN, 0600, err, errlen);
}

int datadir_read_root(const char *path, uint8_t sk[static 64], char *err,
		      size_t errlen)
{
	return datadir_read_hex(path, sk, 64, true, err, errlen);
}

int datadir_write_root(const char *path, const uint8_t sk[static 64],
		       char *err, size_t errlen)
{
	return write_hex(path, sk, 64, 0600, err, errlen);
}

static int dir_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int empty = 1;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = 0;
	closedir(d);
	return empty;
}

int replica_init(const struct replica_init *in,
		 uint8_t node_out[static CN_KEY_LEN], char *err, size_t errlen)
{
	struct replica r;
	uint8_t pk[CN_KEY_LEN], sk[64], inst[16];
	char path[PATH_MAX + 64], hex[65], insthex[33];
	const char *tz = in->timezone ? in->timezone : "Asia/Shanghai";
	MDB_txn *txn;
	int ret;

	err[0] = '\0';
	if (sodium_init() < 0)
		return CN_ERR_IO;
	if (mkdir(in->dir, 0700) != 0) {
		if (errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", in->dir, strerror(errno));
			return CN_ERR_IO;
		}
		if (dir_empty(in->dir) != 1) {
			snprintf(err, errlen, "%s exists and is not empty; a data dir is "
				 "initialised once", in->dir);
			return CN_ERR_EXISTS;
		}
	}
	if (chmod(in->dir, 0700) != 0) {
		snprintf(err, errlen, "cannot chmod %s: %s", in->dir, strerror(errno));
		return CN_ERR_IO;
	}
	crypto_sign_keypair(pk, sk);
	randombytes_buf(inst, sizeof inst);
	snprintf(path, sizeof path, "%s/%s", in->dir, FILE_IDENTITY);
	ret = write_hex(path, sk, sizeof sk, 0600, err, errlen);
	sodium_memzero(sk, sizeof sk);
	snprintf(path, sizeof path, "%s/%s", in->dir, FILE_SECRET);
	if (ret == CN_OK)
		ret = write_hex(path, in->secret, CN_KEY_LEN, 0600, err, errlen);
	snprintf(path, sizeof path, "%s/%s", in->dir, FILE_ROOT_PUB);
	if (ret == CN_OK)
		ret = write_hex(path, in->root_pub, CN_KEY_LEN, 0644, err, errlen);
	if (ret != CN_OK)
		return ret;

	memset(&r, 0, sizeof r);
	if ((ret = store_open(&r.st, in->dir, false, false, true)) != CN_OK) {
		snprintf(err, errlen, "cannot create the database: %s", r.st.err);
		return ret;
	}
	util_hex_encode(pk, CN_KEY_LEN, hex);
	util_hex_encode(inst, sizeof inst, insthex);
	ret = store_begin(&r.st, true, &txn);
	if (ret == CN_OK) {
		if ((ret = meta_put_u64(&r, txn, META_FORMAT, STORE_FORMAT)) == CN_OK &&
		    (ret = meta_put_str(&r, txn, "node", hex)) == CN_OK &&
		    (ret = meta_put_str(&r, txn, META_NAME, in->name)) == CN_OK &&
		    (ret = meta_put_str(&r, txn, META_ROLE,
					authority_role_name(in->role) ?
					authority_role_name(in->role) : "")) == CN_OK &&
		    (ret = meta_put_str(&r, txn, META_SCOPE, in->scope)) == CN_OK &&
		    (ret = meta_put_str(&r, txn, META_PROFILE,
					policy_profile_name(in->profile))) == CN_OK &&
		    (ret = meta_put_str(&r, txn, META_TZ, tz)) == CN_OK &&
		    (ret = meta_put_str(&r, txn, META_INSTANCE, insthex)) == CN_OK)
			ret = store_commit(&r.st, txn);
		else
			mdb_txn_abort(txn);
	}
	if (ret != CN_OK)
		snprintf(err, errlen, "cannot write the database: %s", r.st.err);
	store_close(&r.st);
	if (ret == CN_OK)
		memcpy(node_out, pk, CN_KEY_LEN);
	return ret;
}

/* ---- backup --------------------------------------------------------------- */

static void backup_undo(const char *dir, bool made)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof path, "%s/data.mdb", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/%s", dir, FILE_ROOT_PUB);
	unlink(path);
	if (made)
		rmdir(dir);
}

int replica_backup(struct replica *r, const char *dir, uint64_t *bytes,
		   uint64_t *entries, char *err, size_t errlen)
{
	char path[PATH_MAX + 64];
	struct replica *copy = NULL;
	struct replica_counts n;
	struct stat sb;
	bool made = false;
	int fd, ret;

	err[0] = '\0';
	*bytes = *entries = 0;
	if (strlen(dir) >= PATH_MAX) {
		snprintf(err, errlen, "the backup directory name is too long");
		return CN_ERR_INVAL;
	}
	if (mkdir(dir, 0700) == 0) {
		made = true;
	} else if (errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return CN_ERR_IO;
	} else if (dir_empty(dir) != 1) {
		snprintf(err, errlen, "%s exists and is not an empty directory; a "
			 "backup goes into a new one", dir);
		return CN_ERR_EXISTS;
	}
	if (chmod(dir, 0700) != 0) {
		snprintf(err, errlen, "cannot chmod %s: %s", dir, strerror(errno));
		ret = CN_ERR_IO;
		goto fail;
	}
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		ret = CN_ERR_IO;
		goto fail;
	}
	ret = store_copy(&r->st, fd);
	if (ret != CN_OK) {
		snprintf(err, errlen, "cannot copy the database into %s: %s", path,
			 r->st.err);
		close(fd);
		goto fail;
	}
	if (fsync(fd) != 0 || fstat(fd, &sb) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		close(fd);
		ret = CN_ERR_IO;
		goto fail;
	}
	close(fd);
	*bytes = (uint64_t)sb.st_size;
	snprintf(path, sizeof path, "%s/%s", dir, FILE_ROOT_PUB);
	if ((ret = write_hex(path, r->info.root_pub, CN_KEY_LEN, 0644, err,
			     errlen)) != CN_OK)
		goto fail;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	/* The copy must open as a copied data dir does for merge and diff. */
	if ((ret = replica_open(dir, REPLICA_COPY, &copy, err, errlen)) != CN_OK)
		goto fail;
	ret = replica_count(copy, &n);
	if (ret != CN_OK) {
		snprintf(err, errlen, "the copy in %s cannot be read: %s", dir,
			 replica_last_error(copy));
		replica_close(copy);
		goto fail;
	}
	replica_close(copy);
	*entries = n.entries;
	return CN_OK;
fail:
	backup_undo(dir, made);
	return ret;
}
