/*
 * util.h — small helpers without a better home: hex, clocks, whole-file I/O.
 */
#ifndef CN_UTIL_H
#define CN_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Lower-case hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void util_hex_encode(const uint8_t *in, size_t n, char *out);
/* Exactly 2n hex digits (either case) into n bytes: 0 or CN_ERR_INVAL. */
int util_hex_decode(const char *hex, uint8_t *out, size_t n);

/* The first 8 bytes of a node id as 16 hex digits, for messages; returns
 * out. */
const char *util_short_hex(const uint8_t id[static 32], char out[static 17]);

/* Grow an array `p` of *cap elements of `size` bytes to hold at least `need`
 * (capacity doubles, from 16): the new pointer, *cap updated; or NULL when
 * out of memory or on overflow, with p and *cap untouched. */
void *util_grow(void *p, size_t *cap, size_t need, size_t size);

/* Wall clock in ms since the epoch (CLOCK_REALTIME); the environment
 * variable CARDNODE_NOW_MS, if set, overrides it (tests and demos). */
uint64_t util_now_ms(void);
/* Monotonic clock in ns (benchmarks, timeouts). */
uint64_t util_mono_ns(void);

/* Read a whole file of at most `max` bytes into a malloc()ed buffer.
 * CN_ERR_NOTFOUND, CN_ERR_IO, CN_ERR_TOOBIG. */
int util_read_file(const char *path, size_t max, uint8_t **buf, size_t *len);
/* Write a file atomically (temp file, fsync, rename) with `mode`.  With
 * `excl` set, refuses to replace an existing file (CN_ERR_EXISTS). */
int util_write_file(const char *path, const void *buf, size_t len,
		    unsigned mode, bool excl);
/* 0 if `path` has no permission bits for group/other, CN_ERR_PERM if it
 * has, CN_ERR_NOTFOUND / CN_ERR_IO otherwise. */
int util_check_private(const char *path);

#endif
