#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cn.h"

#define STORE_MAP_INITIAL (256ull << 20)

static const struct {
	const char *name;
	unsigned flags;
} dbs[DB__COUNT] = {
	[DB_META] = {"meta", 0},
	[DB_ORIGIN] = {"origin", 0},
	[DB_ORIGIN_PK] = {"origin_pk", 0},
	[DB_LOG] = {"log", 0},
	[DB_STUDENT] = {"student", 0},
	[DB_CARD] = {"card", MDB_DUPSORT},
	[DB_UID] = {"uid", MDB_DUPSORT},
	[DB_HOT] = {"hot", 0},
	[DB_REFUSED] = {"refused", 0},
	[DB_FORKS] = {"forks", 0},
	[DB_CERTS] = {"certs", 0},
	[DB_REVS] = {"revs", 0},
};

int store_error(struct store *s, int rc, const char *what)
{
	if (rc == 0)
		return CN_OK;
	if (rc == MDB_NOTFOUND)
		return CN_ERR_NOTFOUND;
	snprintf(s->err, sizeof s->err, "%s: %s", what, mdb_strerror(rc));
	switch (rc) {
	case MDB_MAP_FULL:
		s->map_full = true;
		return CN_ERR_TOOBIG;
	case MDB_TXN_FULL:
		return CN_ERR_TOOBIG;
	case ENOMEM:
		return CN_ERR_NOMEM;
	case EACCES:
	case EROFS:
		return CN_ERR_PERM;
	case ENOENT:
		return CN_ERR_NOTFOUND;
	}
	return CN_ERR_STORE;
}

/* The map size to start with: 256 MiB, or CARDNODE_MAP_SIZE bytes (tests
 * use a tiny map to exercise growth). */
static size_t initial_map_size(bool *forced)
{
	const char *env = getenv("CARDNODE_MAP_SIZE");

	*forced = false;
	if (env != NULL && *env != '\0') {
		char *end;
		unsigned long long v = strtoull(env, &end, 10);
		if (*end == '\0' && v >= 32768) {
			*forced = true;
			return (size_t)v;
		}
	}
	return (size_t)STORE_MAP_INITIAL;
}

int store_open(struct store *s, const char *dir, bool rdonly, bool copy,
	       bool create)
{
	unsigned flags = MDB_NOTLS;
	MDB_txn *txn = NULL;
	MDB_envinfo info;
	char path[4096];
	bool forced;
	size_t want;
	int rc;

	memset(s, 0, sizeof *s);
	s->rdonly = rdonly || copy;
	if (s->rdonly)
		flags |= MDB_RDONLY;
	if (copy)
		flags |= MDB_NOLOCK;
	/* Not MDB_WRITEMAP: through the map, the kernel writes back whole
	 * large folios for every page touched — 4.6 to 8 times the device
	 * writes of pwrite(2) for 10-30% more speed (docs/bench.md).  School
	 * machines have small SSDs. */
	if ((rc = mdb_env_create(&s->env)) != 0)
		return store_error(s, rc, "mdb_env_create");
	mdb_env_set_maxdbs(s->env, DB__COUNT + 2);
	mdb_env_set_maxreaders(s->env, 254);
	if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
		rc = ENAMETOOLONG;
		goto fail;
	}
	if ((rc = mdb_env_open(s->env, path, flags, 0600)) != 0)
		goto fail;
	/* Start from the size the file already has, at least the default
	 * (LMDB raises a size below the data in use to what is needed). */
	mdb_env_info(s->env, &info);
	want = initial_map_size(&forced);
	if (!s->rdonly && (forced || info.me_mapsize < want))
		mdb_env_set_mapsize(s->env, want);
	rc = mdb_txn_begin(s->env, NULL, s->rdonly ? MDB_RDONLY : 0, &txn);
	if (rc == MDB_MAP_RESIZED) {
		/* Another process grew the map since we read its size. */
		mdb_env_set_mapsize(s->env, 0);
		rc = mdb_txn_begin(s->env, NULL, s->rdonly ? MDB_RDONLY : 0, &txn);
	}
	if (rc != 0)
		goto fail;
	for (int i = 0; i < DB__COUNT; i++) {
		unsigned f = dbs[i].flags | (create && !s->rdonly ? MDB_CREATE : 0);
		if ((rc = mdb_dbi_open(txn, dbs[i].name, f, &s->dbi[i])) != 0) {
			mdb_txn_abort(txn);
			goto fail;
		}
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto fail;
	if (!copy) {
		if ((s->remap = malloc(sizeof *s->remap)) == NULL) {
			rc = ENOMEM;
			goto fail;
		}
		if (pthread_rwlock_init(s->remap, NULL) != 0) {
			free(s->remap);
			s->remap = NULL;
			rc = ENOMEM;
			goto fail;
		}
	}
	return CN_OK;
fail:
	{
		int err = store_error(s, rc, "opening the database");
		mdb_env_close(s->env);
		s->env = NULL;
		return err;
	}
}

void store_close(struct store *s)
{
	if (s->view) {
		s->env = NULL;
		return;
	}
	if (s->env != NULL)
		mdb_env_close(s->env);
	s->env = NULL;
	if (s->remap != NULL) {
		pthread_rwlock_destroy(s->remap);
		free(s->remap);
		s->remap = NULL;
	}
}

/* Change the map size (0: adopt what another process set) while no view
 * has a transaction open. */
static int set_mapsize(struct store *s, size_t size)
{
	int rc;

	if (s->remap != NULL)
		pthread_rwlock_wrlock(s->remap);
	rc = mdb_env_set_mapsize(s->env, size);
	if (s->remap != NULL)
		pthread_rwlock_unlock(s->remap);
	return rc;
}

int store_begin(struct store *s, bool write, MDB_txn **txn)
{
	int rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, txn);

	if (rc == MDB_MAP_RESIZED) {
		/* Another process grew the map: adopt its size. */
		set_mapsize(s, 0);
		rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, txn);
	}
	return store_error(s, rc, "beginning a transaction");
}

void store_view(const struct store *base, struct store *view)
{
	*view = *base;
	view->view = true;
	view->rdonly = true;
	view->map_full = false;
	view->err[0] = '\0';
}

int store_view_begin(struct store *s, MDB_txn **txn, bool renew)
{
	int rc;

	for (int attempt = 0; attempt < 2; attempt++) {
		pthread_rwlock_rdlock(s->remap);
		rc = renew ? mdb_txn_renew(*txn)
			   : mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
		if (rc != MDB_MAP_RESIZED)
			break;
		pthread_rwlock_unlock(s->remap);
		set_mapsize(s, 0);
	}
	if (rc != 0)
		pthread_rwlock_unlock(s->remap);
	return store_error(s, rc, "beginning a transaction");
}

void store_view_end(struct store *s, MDB_txn *txn)
{
	mdb_txn_reset(txn);
	pthread_rwlock_unlock(s->remap);
}

int store_commit(struct store *s, MDB_txn *txn)
{
	return store_error(s, mdb_txn_commit(txn), "committing");
}

int store_grow(struct store *s)
{
	MDB_envinfo info;
	int rc;

	mdb_env_info(s->env, &info);
	rc = set_mapsize(s, info.me_mapsize * 2);
	return store_error(s, rc, "growing the map");
}

int store_reserve(struct store *s, size_t bytes)
{
	MDB_envinfo info;
	MDB_stat st;
	int rc;

	if ((rc = mdb_env_stat(s->env, &st)) != 0)
		return store_error(s, rc, "stat");
	mdb_env_info(s->env, &info);
	while (info.me_mapsize / st.ms_psize < info.me_last_pgno + 1 ||
	       info.me_mapsize / st.ms_psize - info.me_last_pgno - 1 <
	       bytes / st.ms_psize) {
		if ((rc = store_grow(s)) != CN_OK)
			return rc;
		mdb_env_info(s->env, &info);
	}
	return CN_OK;
}

int store_copy(struct store *s, int fd)
{
	int rc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);

	if (rc == MDB_MAP_RESIZED) {
		set_mapsize(s, 0);
		rc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);
	}
	return store_error(s, rc, "copying the database");
}

int store_get(struct store *s, MDB_txn *txn, enum store_db db, const void *k,
	      size_t klen, MDB_val *v)
{
	MDB_val key = {klen, (void *)k};

	return store_error(s, mdb_get(txn, s->dbi[db], &key, v), "reading");
}

int store_put(struct store *s, MDB_txn *txn, enum store_db db, const void *k,
	      size_t klen, const void *v, size_t vlen, unsigned flags)
{
	MDB_val key = {klen, (void *)k}, val = {vlen, (void *)v};
	int rc = mdb_put(txn, s->dbi[db], &key, &val, flags);

	if (rc == MDB_KEYEXIST && (flags & (MDB_NODUPDATA | MDB_NOOVERWRITE)))
		return CN_ERR_EXISTS;
	return store_error(s, rc, "writing");
}

int store_del(struct store *s, MDB_txn *txn, enum store_db db, const void *k,
	      size_t klen, const void *v, size_t vlen)
{
	MDB_val key = {klen, (void *)k}, val = {vlen, (void *)v};

	return store_error(s, mdb_del(txn, s->dbi[db], &key, v ? &val : NULL),
			   "deleting");
}
