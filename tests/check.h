/*
 * check.h — the assertions every test uses.  A failed check prints the file,
 * line, the expression and both values, then exits 1: a test that cannot
 * fail is not a test.
 */
#ifndef CN_CHECK_H
#define CN_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, \
				__LINE__, #cond);                            \
			exit(1);                                             \
		}                                                            \
	} while (0)

#define CHECK_INT(a, op, b)                                                  \
	do {                                                                 \
		long long va_ = (long long)(a), vb_ = (long long)(b);        \
		if (!(va_ op vb_)) {                                         \
			fprintf(stderr, "%s:%d: %s %s %s failed: %lld vs %lld\n", \
				__FILE__, __LINE__, #a, #op, #b, va_, vb_);  \
			exit(1);                                             \
		}                                                            \
	} while (0)

#define CHECK_EQ(a, b) CHECK_INT(a, ==, b)

#define CHECK_STR(a, b)                                                      \
	do {                                                                 \
		const char *sa_ = (a), *sb_ = (b);                           \
		if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                 \
			fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" vs \"%s\"\n", \
				__FILE__, __LINE__, #a, #b, sa_ ? sa_ : "(null)", \
				sb_ ? sb_ : "(null)");                       \
			exit(1);                                             \
		}                                                            \
	} while (0)

#define CHECK_MEM(a, b, n)                                                   \
	do {                                                                 \
		if (memcmp((a), (b), (n)) != 0) {                            \
			fprintf(stderr, "%s:%d: memcmp(%s, %s, %s) != 0\n",  \
				__FILE__, __LINE__, #a, #b, #n);             \
			exit(1);                                             \
		}                                                            \
	} while (0)

#endif
