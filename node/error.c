#include "cn.h"

const char *cn_strerror(int err)
{
	switch (err) {
	case CN_OK: return "success";
	case CN_ERR_NOMEM: return "out of memory";
	case CN_ERR_IO: return "input/output error";
	case CN_ERR_MALFORMED: return "malformed input";
	case CN_ERR_TOOBIG: return "input exceeds a limit";
	case CN_ERR_BADSIG: return "signature does not verify";
	case CN_ERR_NOTFOUND: return "not found";
	case CN_ERR_EXISTS: return "already exists";
	case CN_ERR_GAP: return "gap in an origin's log";
	case CN_ERR_FORK: return "fork: two entries at one position of a log";
	case CN_ERR_REFUSED: return "refused";
	case CN_ERR_STORE: return "database error";
	case CN_ERR_PERM: return "permissions too open or not writable";
	case CN_ERR_BEHIND: return "this node's own log is behind a copy seen elsewhere";
	case CN_ERR_INVAL: return "invalid argument";
	case CN_ERR_PARTIAL: return "partly done";
	}
	return "unknown error";
}
