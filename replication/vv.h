/*
 * vv.h — version vectors: origin → highest contiguous seq held.
 *
 * Text form (what `cardctl status --json` prints under "version_vector" and
 * what --since-vv FILE reads): a JSON object {"<64 hex>": seq, …}; a file may
 * also hold a whole JSON document that has a "version_vector" member.
 */
#ifndef CN_VV_H
#define CN_VV_H

#include <stddef.h>
#include <stdint.h>

#include "cn.h"

struct vv_item {
	uint8_t origin[CN_KEY_LEN];
	uint64_t seq;
};

struct vv {
	struct vv_item *v; /* sorted by origin, no duplicates */
	size_t n;
	size_t cap;
};

void vv_init(struct vv *vv);
void vv_free(struct vv *vv);
/* Set origin's seq (insert or replace).  0 or CN_ERR_NOMEM. */
int vv_set(struct vv *vv, const uint8_t origin[static CN_KEY_LEN], uint64_t seq);
/* Seq of origin, 0 if absent. */
uint64_t vv_get(const struct vv *vv, const uint8_t origin[static CN_KEY_LEN]);
/* Load the replica's own vector (any struct replica *; declared as void *
 * so this header stays below replica.h). */
int vv_from_replica(struct vv *vv, void *replica);
/* Parse the JSON text form (bounded: at most 65536 origins, 4 MiB).
 * CN_ERR_MALFORMED with *why set. */
int vv_parse_json(struct vv *vv, const char *text, size_t len, const char **why);
int vv_read_file(struct vv *vv, const char *path, const char **why);

#endif
