/*
 * bench_util.c — helpers shared by the benchmarks; see bench_util.h.
 */
#include "bench_util.h"

#include <dirent.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authority.h"

const char *bench_name = "bench";

void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", bench_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void progress(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[bench] ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

double secs(uint64_t ns) { return (double)ns / 1e9; }

double rate(uint64_t n, uint64_t ns)
{
	return ns ? (double)n * 1e9 / (double)ns : 0.0;
}

long peak_rss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

void rm_tree(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;

	if (lstat(path, &st) != 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			char sub[PATH_MAX];
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (snprintf(sub, sizeof sub, "%s/%s", path, de->d_name) <
			    (int)sizeof sub)
				rm_tree(sub);
		}
		closedir(d);
	}
	rmdir(path);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

struct lat lat_stats(uint32_t *ns, size_t n)
{
	struct lat l = {0, 0, 0, 0, 0};
	uint64_t sum = 0;

	if (n == 0)
		return l;
	for (size_t i = 0; i < n; i++)
		sum += ns[i];
	qsort(ns, n, sizeof *ns, cmp_u32);
	l.median_us = ns[n / 2] / 1e3;
	l.p99_us = ns[(size_t)((double)n * 0.99)] / 1e3;
	l.max_us = ns[n - 1] / 1e3;
	l.mean_us = (double)sum / (double)n / 1e3;
	l.rate = rate(n, sum);
	return l;
}

void bench_cert(const uint8_t root_sk[static 64], const uint8_t id[static 32],
		uint8_t role, const char *name, const char *scope,
		uint8_t buf[static CERT_MAX], size_t *len)
{
	struct cert c;

	memset(&c, 0, sizeof c);
	memcpy(c.node, id, 32);
	snprintf(c.name, sizeof c.name, "%s", name);
	c.role = role;
	snprintf(c.scope, sizeof c.scope, "%s", scope);
	c.not_before = 946684800000ull;   /* 2000-01-01 */
	c.not_after = 7258118400000ull;   /* 2200-01-01 */
	c.serial = ((uint64_t)id[2] << 8) | id[3];
	if (authority_cert_sign(&c, root_sk, buf, CERT_MAX, len) != CN_OK)
		die("authority_cert_sign failed");
}

void bench_cert_install(const uint8_t root_sk[static 64], struct replica *r,
			const uint8_t id[static 32], uint8_t role,
			const char *name, const char *scope)
{
	uint8_t buf[CERT_MAX];
	size_t len;
	const char *why = NULL;
	int ret;

	bench_cert(root_sk, id, role, name, scope, buf, &len);
	ret = replica_cert_install(r, buf, len, &why);
	if (ret != CN_OK && ret != CN_ERR_EXISTS)
		die("replica_cert_install: %s (%s)", cn_strerror(ret), why ? why : "?");
}

struct replica *bench_node_new(const uint8_t root_sk[static 64],
			       const uint8_t secret[static 32], const char *dir,
			       const char *name, const char *cert_name,
			       uint8_t role, const char *scope, uint8_t id[static 32])
{
	struct replica_init in;
	struct replica *r = NULL;
	char err[512];

	memset(&in, 0, sizeof in);
	in.dir = dir;
	in.name = name;
	in.role = role;
	in.scope = scope;
	memcpy(in.root_pub, root_sk + 32, 32);
	memcpy(in.secret, secret, 32);
	in.profile = PROFILE_GENERIC;
	in.timezone = "Asia/Shanghai";
	if (replica_init(&in, id, err, sizeof err) != CN_OK)
		die("replica_init %s: %s", dir, err);
	if (replica_open(dir, 0, &r, err, sizeof err) != CN_OK)
		die("replica_open %s: %s", dir, err);
	bench_cert_install(root_sk, r, id, role, cert_name, scope);
	return r;
}
