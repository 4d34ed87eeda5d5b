#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cn.h"

void util_hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int util_hex_decode(const char *hex, uint8_t *out, size_t n)
{
	if (strlen(hex) != 2 * n)
		return CN_ERR_INVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_nibble(hex[2 * i]), lo = hex_nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return CN_ERR_INVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return CN_OK;
}

const char *util_short_hex(const uint8_t id[static 32], char out[static 17])
{
	util_hex_encode(id, 8, out);
	return out;
}

void *util_grow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap ? *cap : 16;
	void *np;

	if (need <= *cap)
		return p;
	while (c < need) {
		if (c > SIZE_MAX / 2)
			return NULL;
		c *= 2;
	}
	if (c > SIZE_MAX / size)
		return NULL;
	np = realloc(p, c * size);
	if (np != NULL)
		*cap = c;
	return np;
}

uint64_t util_now_ms(void)
{
	const char *fixed = getenv("CARDNODE_NOW_MS");
	struct timespec ts;

	if (fixed != NULL && *fixed != '\0') {
		char *end;
		unsigned long long v = strtoull(fixed, &end, 10);
		if (*end == '\0')
			return v;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t util_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int util_read_file(const char *path, size_t max, uint8_t **buf, size_t *len)
{
	struct stat st;
	uint8_t *p = NULL;
	size_t got = 0;
	int fd, ret = CN_ERR_IO;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? CN_ERR_NOTFOUND : CN_ERR_IO;
	if (fstat(fd, &st) != 0)
		goto out;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		ret = CN_ERR_TOOBIG;
		goto out;
	}
	p = malloc((size_t)st.st_size + 1);
	if (p == NULL) {
		ret = CN_ERR_NOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, p + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		got += (size_t)n;
	}
	p[got] = '\0';
	*buf = p;
	*len = got;
	p = NULL;
	ret = CN_OK;
out:
	free(p);
	close(fd);
	return ret;
}

int util_write_file(const char *path, const void *buf, size_t len,
		    unsigned mode, bool excl)
{
	char tmp[4096];
	const uint8_t *p = buf;
	int fd, ret = CN_ERR_IO;

	if (excl && access(path, F_OK) == 0)
		return CN_ERR_EXISTS;
	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof tmp)
		return CN_ERR_INVAL;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
	if (fd < 0)
		return CN_ERR_IO;
	if (fchmod(fd, (mode_t)mode) != 0)
		goto out;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) != 0)
		goto out;
	if (excl ? link(tmp, path) != 0 : rename(tmp, path) != 0) {
		ret = (excl && errno == EEXIST) ? CN_ERR_EXISTS : CN_ERR_IO;
		goto out;
	}
	ret = CN_OK;
out:
	close(fd);
	unlink(tmp); /* after rename it no longer exists; after link, drop it */
	return ret;
}

int util_check_private(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return errno == ENOENT ? CN_ERR_NOTFOUND : CN_ERR_IO;
	return (st.st_mode & 077) ? CN_ERR_PERM : CN_OK;
}
