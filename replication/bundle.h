/*
 * bundle.h — sneakernet bundles (DESIGN §7): a file carrying a replica's
 * certificates, revocations and entries, signed by the exporter, and the
 * merge of another replica's data directory.
 *
 * File layout, a CBOR sequence (RFC 8742) of items:
 *   header   ["cardnode-bundle", 1, exporter bstr32, created ms, since {bstr32: uint}]
 *   certs    ["certs", [cert bstr …]]            (root-signed certificates)
 *   revs     ["revocations", [rev bstr …]]
 *   chunk    ["entries", origin bstr32, first_seq, [entry …]]  (repeated; each
 *            chunk is contiguous and ends at an entry carrying a signature)
 *   trailer  ["end", items uint, bstr32 BLAKE2b-256 of every byte before the
 *            trailer, sig bstr64 by the exporter over "cardnode-bundle-v1" || hash]
 * Importing verifies every entry through its origin's signatures whatever the
 * trailer says, so a truncated or damaged file still applies what verifies;
 * the report says what was left out and why.
 */
#ifndef CN_BUNDLE_H
#define CN_BUNDLE_H

#include <stdbool.h>
#include <stdint.h>

#include "replica.h"
#include "vv.h"

#define BUNDLE_CHUNK_MAX_ENTRIES 8192
#define BUNDLE_CHUNK_MAX_BYTES (4u << 20)

struct bundle_report {
	struct ingest_report ingest; /* what happened to the entries */
	uint64_t entries_read;       /* entries found in the file */
	uint64_t certs_new, certs_known, certs_bad;
	uint64_t revocations_new, revocations_known, revocations_bad;
	bool trailer_ok;             /* trailer present and signature valid */
	bool complete;               /* whole file read, nothing skipped */
	char exporter[65];           /* hex node id from the header, "" if none */
	char problem[256];           /* first problem met, "" if none */
};

struct bundle_export_report {
	uint64_t entries, chunks, certs, revocations, origins, bytes;
};

/* Progress: called now and then with entries done so far (may be NULL). */
typedef void (*bundle_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/* Write a bundle of everything the replica holds beyond `since` (NULL: all)
 * to `path` (created 0600; refused if it exists: CN_ERR_EXISTS).  Needs the
 * replica's identity key to sign the trailer. */
int bundle_export(struct replica *r, const char *path, const struct vv *since,
		  struct bundle_export_report *rep, bundle_progress_fn progress,
		  void *pctx);

/* Import a bundle.  Returns 0 when the file was complete and valid and
 * every entry verified, CN_ERR_PARTIAL when anything was left out (damaged,
 * truncated, unverifiable — see rep), or an error that stopped it early
 * (CN_ERR_NOTFOUND, CN_ERR_IO, CN_ERR_MALFORMED for a file that is not a
 * bundle at all).  Entries are committed in batches; importing the same
 * file twice changes nothing the second time. */
int bundle_import(struct replica *r, const char *path, struct bundle_report *rep,
		  bundle_progress_fn progress, void *pctx);

/* Merge another replica's data directory (a copy, opened read-only with
 * REPLICA_COPY): its certificates, revocations and every entry we lack,
 * verified exactly as an import.  Same returns as bundle_import. */
int bundle_merge_dir(struct replica *r, const char *dir, struct bundle_report *rep,
		     bundle_progress_fn progress, void *pctx);

#endif
