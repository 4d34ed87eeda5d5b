/*
 * bench_util.h — helpers shared by the benchmarks (bench_city, bench_net):
 * messages, rates, latency statistics, removing a work tree, issuing a
 * root-signed certificate.  Not part of any library; benchmarks only.
 */
#ifndef CN_BENCH_UTIL_H
#define CN_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "replica.h"

/* Prefix of die() messages ("bench_city"); set by main. */
extern const char *bench_name;

__attribute__((format(printf, 1, 2), noreturn)) void die(const char *fmt, ...);
/* "[bench] …" on stderr. */
__attribute__((format(printf, 1, 2))) void progress(const char *fmt, ...);

double secs(uint64_t ns);
/* n per second over ns nanoseconds (0 when ns is 0). */
double rate(uint64_t n, uint64_t ns);
/* Peak resident set of this process, KiB. */
long peak_rss_kib(void);

/* Remove a tree (files and directories; no symlinks are followed). */
void rm_tree(const char *path);

struct lat {
	double median_us, p99_us, max_us, mean_us, rate;
};
/* Statistics of n samples in nanoseconds; sorts `ns` in place. */
struct lat lat_stats(uint32_t *ns, size_t n);

/* A certificate for `id` signed by root_sk, valid 2000–2200, into
 * buf[0..CERT_MAX) (*len).  Dies on failure. */
void bench_cert(const uint8_t root_sk[static 64], const uint8_t id[static 32],
		uint8_t role, const char *name, const char *scope,
		uint8_t buf[static CERT_MAX], size_t *len);
/* bench_cert() installed in r (already installed is fine). */
void bench_cert_install(const uint8_t root_sk[static 64], struct replica *r,
			const uint8_t id[static 32], uint8_t role,
			const char *name, const char *scope);

/* A new data dir (replica_init: root_pk = root_sk + 32, the deployment
 * secret, profile generic, Asia/Shanghai) with its certificate `cert_name`
 * installed; returns it open for writing, its node id in id.  Dies on
 * failure. */
struct replica *bench_node_new(const uint8_t root_sk[static 64],
			       const uint8_t secret[static 32], const char *dir,
			       const char *name, const char *cert_name,
			       uint8_t role, const char *scope, uint8_t id[static 32]);

#endif
