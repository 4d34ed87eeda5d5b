/*
 * cn.h — the one error space and the hard limits shared by every module.
 *
 * Every function of the core returns 0 (CN_OK) on success or one of the
 * negative codes below; cn_strerror() names them.  Functions that decode
 * untrusted input also take a `const char **why` that, on failure, points at
 * a static string saying which rule the input broke (never NULL after a
 * failure, never to be freed).
 */
#ifndef CN_H
#define CN_H

#include <stddef.h>
#include <stdint.h>

enum cn_err {
	CN_OK = 0,
	CN_ERR_NOMEM = -1,        /* allocation failed */
	CN_ERR_IO = -2,           /* file or system call failed (errno kept) */
	CN_ERR_MALFORMED = -3,    /* input breaks the format; see `why` */
	CN_ERR_TOOBIG = -4,       /* input exceeds a limit below */
	CN_ERR_BADSIG = -5,       /* a signature or MAC does not verify */
	CN_ERR_NOTFOUND = -6,     /* no such student, card, file, origin … */
	CN_ERR_EXISTS = -7,       /* already there (data dir, card number …) */
	CN_ERR_GAP = -8,          /* entries do not follow the origin's head */
	CN_ERR_FORK = -9,         /* two different entries at one (origin, seq) */
	CN_ERR_REFUSED = -10,     /* the fold or the authority refuses it */
	CN_ERR_STORE = -11,       /* LMDB failed (message in the log) */
	CN_ERR_PERM = -12,        /* file modes too open, or not writable */
	CN_ERR_BEHIND = -13,      /* own log is behind a copy seen elsewhere */
	CN_ERR_INVAL = -14,       /* bad argument from the caller */
	CN_ERR_PARTIAL = -15,     /* some of the work was done, not all */
};

/* A short English description of `err`; never NULL. */
const char *cn_strerror(int err);

/* Hard limits.  Inputs beyond them are refused, never truncated. */
#define CN_EDU_ID_MAX 20      /* [0-9A-Za-z-]{1,20} */
#define CN_CARD_NO_MAX 20     /* [0-9A-Z]{1,20} */
#define CN_SCHOOL_MAX 11      /* DDDDDD-NNNN */
#define CN_NAME_MAX 96        /* bytes of UTF-8 */
#define CN_CLASS_MAX 16       /* bytes of UTF-8 */
#define CN_REASON_MAX 128     /* bytes of UTF-8 */
#define CN_SUBJECT_MAX 48     /* a teacher's subject, bytes of UTF-8 */
#define CN_ACTOR_MAX 64       /* bytes of UTF-8 */
#define CN_TEXT_MAX 512       /* node.note text, bytes of UTF-8 */
#define CN_UID_MAX 10         /* chip UID: 4, 7 or 10 bytes */
#define CN_PAYLOAD_MAX 32768  /* one entry's payload, bytes */
#define CN_ENTRY_MAX (CN_PAYLOAD_MAX + 80) /* [payload, sig] on the wire */
#define CN_CARDS_MAX 32       /* cards ever issued to one student */
#define CN_SIGN_EVERY 4096    /* an author signs at least every Nth entry */
#define CN_SIGN_BYTES (1u << 20) /* … and at least every MiB of payload */

#define CN_KEY_LEN 32         /* node id, hashes, digests */
#define CN_SIG_LEN 64

#endif
