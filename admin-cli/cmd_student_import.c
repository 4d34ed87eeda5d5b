/*
 * cmd_student_import.c — student import: enrollment data (制卡数据) from a
 * CSV file (DESIGN §6, docs/enrollment.md).
 *
 * The file is streamed through a fixed buffer; each row is checked (the
 * rules of node/enroll.h and cli_student_field), compared with the
 * student's current state, and, when it changes something, becomes one
 * student.put in a batch of IMPORT_BATCH entries authored in one write
 * transaction.  Identity numbers are turned into keyed digests at once and
 * never printed; the failure file, which repeats the operator's own rows,
 * is created 0600.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "authority.h"
#include "cli.h"
#include "commands.h"
#include "edunum.h"
#include "enroll.h"
#include "json.h"
#include "replica.h"

#define IMPORT_BATCH 10000          /* entries per write transaction */
#define IMPORT_READ_BUF (1u << 20)  /* the CSV read buffer; a row must fit */
#define PHOTO_MAX (2u << 20)        /* bytes of one photo file */
#define PHOTO_WIDTH 640
#define PHOTO_HEIGHT 480
#define FAIL_LIMIT_PCT 3            /* more rejected than this: exit 5 */
#define RARE_SHOWN 20               /* rare names listed in the summary */
#define RARE_CHARS 8                /* rare characters kept per name */

enum col {
	COL_EDU_ID, COL_NAME, COL_GENDER, COL_SCHOOL, COL_GRADE, COL_CLASS,
	COL_STAGE, COL_ID_TYPE, COL_ID_NUMBER, COL_PHOTO, COL__COUNT
};
static const char *const col_names[COL__COUNT] = {
	"edu_id", "name", "gender", "school", "grade", "class", "stage",
	"id_type", "id_number", "photo",
};
#define HEADER "edu_id,name,gender,school,grade,class,stage,id_type," \
	       "id_number,photo"

/* edu_ids seen in the file: open addressing, grown at half load. */
struct seen_slot {
	char id[CN_EDU_ID_MAX + 1];
	uint32_t line; /* 0: empty */
};

/* A row waiting in the batch: where its raw text is kept, for the failure
 * file should the batch refuse it. */
struct pending {
	size_t raw_off, raw_len;
	uint32_t line;
};

struct rare_item {
	char edu_id[CN_EDU_ID_MAX + 1];
	uint32_t chars[RARE_CHARS];
	size_t n;
};

struct import {
	struct replica *r;
	struct replica_info info;
	uint32_t today;
	const char *csv_path;
	char csv_dir[4096];
	int col[COL__COUNT]; /* field index of each column */
	size_t ncols;

	FILE *fail;
	const char *fail_path;
	FILE *rare;
	const char *rare_path;

	struct seen_slot *seen;
	size_t seen_cap, seen_n;

	struct entry *batch;
	struct pending *pend;
	size_t nbatch;
	char *raw;
	size_t raw_len, raw_cap;

	uint8_t *photo;  /* one photo file at a time */
	struct student_state st;

	uint64_t read, imported, unchanged, rejected, rare_n;
	struct rare_item shown[RARE_SHOWN];
	size_t nshown;
	bool progress;
	uint64_t file_size;
};

static const struct cli_cmd import_cmd = {
	"student import",
	"student import FILE.csv [--failures FILE] [--rare FILE]\n"
	"               [--actor NAME]",
	"Import enrollment data (制卡数据): one student.put per new or changed\n"
	"student.  FILE.csv is UTF-8 CSV (RFC 4180; a BOM is allowed) whose\n"
	"first line names the columns\n"
	"  " HEADER "\n"
	"(in any order).  class may be empty; id_type is resident, passport or\n"
	"permit; photo is a JPEG file, relative to the CSV's directory, of\n"
	"exactly 640x480 pixels in 3 colour components.  Every rule is in\n"
	"docs/enrollment.md.\n"
	"\n"
	"Rows that break a rule are rejected and written to the failure file:\n"
	"the row as it was, then its line, the field and the reason.  Rows that\n"
	"pass are imported, in batches of 10,000 (each batch is written whole\n"
	"or not at all); a row whose student already has exactly these values\n"
	"writes nothing, so importing a file twice changes nothing.  Names with\n"
	"characters outside GB 2312 are imported and listed as rare characters\n"
	"(生僻字) needing a written description.\n"
	"\n"
	"  --failures FILE  the failure file (default: FILE.csv with .csv\n"
	"                   replaced by .failures.csv); always written, 0600,\n"
	"                   with only its header line when nothing failed\n"
	"  --rare FILE      also list the names with rare characters there\n"
	"                   (CSV: edu_id,name,school,line,characters)\n"
	"  --actor NAME     who does this, for the audit log\n"
	"\n"
	"Identity numbers are stored only as keyed digests and never printed.\n"
	"Exit 0 when at most 3% of the rows were rejected, 5 when more were\n"
	"(the rows that passed are imported all the same), 3 when FILE.csv\n"
	"cannot be opened, 4 when this node may not author student.put, 1 for\n"
	"a file that is not such a CSV or a failed write.\n"
};

/* ---- output files -------------------------------------------------------- */

/* A CSV field, quoted when it needs to be. */
static void csv_put(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static FILE *open_private(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f;

	if (fd < 0)
		return NULL;
	/* An existing file keeps its mode with O_CREAT: narrow it. */
	if (fchmod(fd, 0600) != 0 || !(f = fdopen(fd, "w"))) {
		close(fd);
		return NULL;
	}
	return f;
}

static void reject(struct import *im, const char *raw, size_t raw_len,
		   uint32_t line, const char *field, const char *reason)
{
	im->rejected++;
	fwrite(raw, 1, raw_len, im->fail);
	fprintf(im->fail, ",%" PRIu32 ",%s,", line, field);
	csv_put(im->fail, reason);
	fputc('\n', im->fail);
}

static void rare_found(struct import *im, const struct entry_body *b,
		       const char *edu_id, uint32_t line)
{
	uint32_t cps[RARE_CHARS];
	size_t n = enroll_name_rare(b->name, strlen(b->name), cps, RARE_CHARS);

	if (n == 0)
		return;
	im->rare_n++;
	if (n > RARE_CHARS)
		n = RARE_CHARS;
	if (im->nshown < RARE_SHOWN) {
		struct rare_item *it = &im->shown[im->nshown++];

		snprintf(it->edu_id, sizeof it->edu_id, "%s", edu_id);
		memcpy(it->chars, cps, n * sizeof cps[0]);
		it->n = n;
	}
	if (im->rare) {
		csv_put(im->rare, edu_id);
		fputc(',', im->rare);
		csv_put(im->rare, b->name);
		fprintf(im->rare, ",%s,%" PRIu32 ",", b->school, line);
		for (size_t i = 0; i < n; i++)
			fprintf(im->rare, "%sU+%04" PRIX32, i ? " " : "",
				cps[i]);
		fputc('\n', im->rare);
	}
}

/* ---- the edu_id set ------------------------------------------------------ */

static uint64_t id_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* The line where `id` was first seen, or 0 after adding it with `line`;
 * UINT32_MAX when out of memory. */
static uint32_t seen_add(struct import *im, const char *id, uint32_t line)
{
	size_t i;

	if (2 * (im->seen_n + 1) > im->seen_cap) {
		size_t ncap = im->seen_cap ? 2 * im->seen_cap : 1u << 16;
		struct seen_slot *ns = calloc(ncap, sizeof *ns);

		if (!ns)
			return UINT32_MAX;
		for (size_t k = 0; k < im->seen_cap; k++) {
			if (!im->seen[k].line)
				continue;
			i = id_hash(im->seen[k].id) & (ncap - 1);
			while (ns[i].line)
				i = (i + 1) & (ncap - 1);
			ns[i] = im->seen[k];
		}
		free(im->seen);
		im->seen = ns;
		im->seen_cap = ncap;
	}
	i = id_hash(id) & (im->seen_cap - 1);
	while (im->seen[i].line) {
		if (!strcmp(im->seen[i].id, id))
			return im->seen[i].line;
		i = (i + 1) & (im->seen_cap - 1);
	}
	snprintf(im->seen[i].id, sizeof im->seen[i].id, "%s", id);
	im->seen[i].line = line;
	im->seen_n++;
	return 0;
}

/* ---- one row --------------------------------------------------------------- */

/* Read and check the photo; its digest into b->photo.  NULL or why (in
 * `why_buf` when formatted). */
static const char *photo_check(struct import *im, const char *rel,
			       struct entry_body *b, char *why_buf,
			       size_t why_len)
{
	char path[4096];
	struct enroll_jpeg j;
	struct stat sb;
	const char *why;
	ssize_t got;
	size_t n = 0;
	int fd;

	if (rel[0] == '/')
		n = (size_t)snprintf(path, sizeof path, "%s", rel);
	else
		n = (size_t)snprintf(path, sizeof path, "%s/%s", im->csv_dir,
				     rel);
	if (n >= sizeof path)
		return "the photo path is too long";
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why_buf, why_len, "cannot open the photo %.160s: %s", rel,
			 strerror(errno));
		return why_buf;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return "the photo is not a regular file";
	}
	if ((uint64_t)sb.st_size > PHOTO_MAX) {
		close(fd);
		return "the photo is larger than 2 MiB; a 640x480 JPEG is far "
		       "smaller";
	}
	n = 0;
	while (n < (size_t)sb.st_size &&
	       (got = read(fd, im->photo + n, (size_t)sb.st_size - n)) > 0)
		n += (size_t)got;
	close(fd);
	if ((why = enroll_jpeg_probe(im->photo, n, &j)))
		return why;
	if (j.components == 1)
		return "greyscale JPEG (1 component): a 24-bit colour photo "
		       "is needed";
	if (j.components != 3) {
		snprintf(why_buf, why_len,
			 "JPEG with %u colour components: a 24-bit colour "
			 "photo (3 components) is needed", j.components);
		return why_buf;
	}
	if (j.precision != 8)
		return "not 8 bits per sample: a 24-bit colour photo is needed";
	if (j.sof > 2)
		return "lossless, hierarchical or arithmetic-coded JPEG: save "
		       "it as baseline or progressive";
	if (j.width != PHOTO_WIDTH || j.height != PHOTO_HEIGHT) {
		snprintf(why_buf, why_len,
			 "the photo is %ux%u pixels; it must be 640x480 "
			 "(width x height)", j.width, j.height);
		return why_buf;
	}
	crypto_generichash(b->photo, CN_KEY_LEN, im->photo, n, NULL, 0);
	b->has |= BF(BK_PHOTO);
	return NULL;
}

/* Does the state already hold every value of the row? */
static bool unchanged(const struct student_state *st,
		      const struct entry_body *b)
{
	return st->known && !strcmp(st->name, b->name) &&
	       !strcmp(st->school, b->school) && st->gender == b->gender &&
	       st->grade == b->grade && st->stage == b->stage &&
	       (!(b->has & BF(BK_CLASS)) || !strcmp(st->class_, b->class_)) &&
	       st->has_idd && !memcmp(st->idd, b->idd, CN_KEY_LEN) &&
	       st->has_photo && !memcmp(st->photo, b->photo, CN_KEY_LEN);
}

/* Check one row; on success the entry is in e.  Returns NULL, or the
 * field at fault with *why.  *fatal is set for a store error. */
static const char *row_check(struct import *im,
			     const struct enroll_csv_row *row, uint32_t line,
			     struct entry *e, const char **why, char *why_buf,
			     size_t why_len, int *fatal)
{
	char idnum[ENROLL_IDNUM_MAX + 1];
	const char *v[COL__COUNT];
	size_t vl[COL__COUNT];
	enum enroll_id_type type;
	uint32_t first;
	int rc;

	for (int c = 0; c < COL__COUNT; c++) {
		v[c] = row->field[im->col[c]];
		vl[c] = row->len[im->col[c]];
		if (strlen(v[c]) != vl[c]) {
			*why = "holds a NUL byte";
			return col_names[c];
		}
		if (!vl[c] && c != COL_CLASS) {
			*why = "missing: this field is required";
			return col_names[c];
		}
	}
	cli_entry_init(e, OP_STUDENT_PUT, NULL);
	if (!entry_edu_id_valid(v[COL_EDU_ID])) {
		*why = "is not an education ID: 1-20 characters of 0-9, A-Z, "
		       "a-z and '-'";
		return "edu_id";
	}
	snprintf(e->key, sizeof e->key, "%s", v[COL_EDU_ID]);
	first = seen_add(im, e->key, line);
	if (first == UINT32_MAX) {
		*fatal = CLI_FAIL;
		*why = "out of memory";
		return "edu_id";
	}
	if (first) {
		snprintf(why_buf, why_len,
			 "duplicate: the same edu_id is on line %" PRIu32,
			 first);
		*why = why_buf;
		return "edu_id";
	}
	for (int c = COL_NAME; c <= COL_STAGE; c++) {
		if (c == COL_CLASS && !vl[c])
			continue;
		if ((*why = cli_student_field(col_names[c], v[c], &e->body)))
			return col_names[c];
	}
	if (!authority_scope_covers(im->info.role, im->info.scope,
				    e->body.school)) {
		snprintf(why_buf, why_len,
			 "school %s is outside this node's scope (%s %s)",
			 e->body.school, authority_role_name(im->info.role),
			 im->info.scope);
		*why = why_buf;
		return "school";
	}
	type = enroll_id_type_parse(v[COL_ID_TYPE]);
	if (type == ENROLL_ID_NONE) {
		*why = "is not resident, passport or permit";
		return "id_type";
	}
	*why = enroll_idnum_check(type, v[COL_ID_NUMBER], vl[COL_ID_NUMBER],
				  im->today, idnum);
	if (!*why)
		replica_id_digest(im->r, idnum, e->body.idd);
	sodium_memzero(idnum, sizeof idnum);
	if (*why)
		return "id_number";
	e->body.has |= BF(BK_IDD);
	if ((*why = photo_check(im, v[COL_PHOTO], &e->body, why_buf, why_len)))
		return "photo";

	rc = replica_student(im->r, e->key, &im->st);
	if (rc && rc != CN_ERR_NOTFOUND) {
		*fatal = cli_exit_of(rc);
		*why = cn_strerror(rc);
		return "edu_id";
	}
	if ((rc == CN_ERR_NOTFOUND || !im->st.known) && edunum_valid(e->key)) {
		*why = "has the form of an education card number (19 digits "
		       "with a check digit), which only identity review gives";
		return "edu_id";
	}
	if (rc == 0 && im->st.known && strcmp(im->st.school, e->body.school)) {
		snprintf(why_buf, why_len,
			 "the student is at school %s: move them with "
			 "'cardctl student transfer' first",
			 im->st.school);
		*why = why_buf;
		return "school";
	}
	if (rc == 0 && unchanged(&im->st, &e->body))
		e->op = 0; /* nothing to write */
	return NULL;
}

/* ---- batches --------------------------------------------------------------- */

static bool node_wide(enum fold_reason why)
{
	return why == FR_NO_CERT || why == FR_CERT_TIME || why == FR_REVOKED ||
	       why == FR_ROLE || why == FR_FORKED;
}

/* Author the batch; rows it refuses one by one go to the failure file.
 * Returns 0 or the exit code of a failure that stops the import. */
static int flush(struct import *im)
{
	while (im->nbatch) {
		size_t bad = 0;
		enum fold_reason why = FR_APPLIED;
		int rc = replica_author(im->r, im->batch, im->nbatch, &bad,
					&why);

		if (rc == CN_ERR_REFUSED && bad < im->nbatch &&
		    !node_wide(why)) {
			struct pending *p = &im->pend[bad];

			reject(im, im->raw + p->raw_off, p->raw_len, p->line,
			       why == FR_SCOPE || why == FR_SCHOOL_CHANGE ||
					       why == FR_NEEDS_SCHOOL
				       ? "school" : "edu_id",
			       fold_reason_text(why));
			memmove(im->batch + bad, im->batch + bad + 1,
				(im->nbatch - bad - 1) * sizeof *im->batch);
			memmove(im->pend + bad, im->pend + bad + 1,
				(im->nbatch - bad - 1) * sizeof *im->pend);
			im->nbatch--;
			continue;
		}
		if (rc == CN_ERR_REFUSED) {
			cli_err("refused: this node may not write student.put: "
				"%s (%s)",
				fold_reason_text(why), fold_reason_name(why));
			return CLI_REFUSED;
		}
		if (rc == CN_ERR_BEHIND) {
			cli_err("refused: this node's own log is behind a copy "
				"of it seen elsewhere; it must not author "
				"entries (see 'cardctl student put --help')");
			return CLI_REFUSED;
		}
		if (rc) {
			cli_err("cannot write the batch: %s (%s)",
				cn_strerror(rc), replica_last_error(im->r));
			return cli_exit_of(rc);
		}
		for (size_t i = 0; i < im->nbatch; i++)
			rare_found(im, &im->batch[i].body, im->batch[i].key,
				   im->pend[i].line);
		im->imported += im->nbatch;
		break;
	}
	im->nbatch = 0;
	im->raw_len = 0;
	return 0;
}

static int keep_raw(struct import *im, const char *raw, size_t n)
{
	if (im->raw_len + n > im->raw_cap) {
		size_t ncap = im->raw_cap ? im->raw_cap : 1u << 20;
		char *nr;

		while (ncap < im->raw_len + n)
			ncap *= 2;
		if (!(nr = realloc(im->raw, ncap)))
			return CLI_FAIL;
		im->raw = nr;
		im->raw_cap = ncap;
	}
	memcpy(im->raw + im->raw_len, raw, n);
	im->raw_len += n;
	return 0;
}

/* ---- the file ---------------------------------------------------------------- */

static int read_header(struct import *im, const struct enroll_csv_row *row)
{
	for (int c = 0; c < COL__COUNT; c++)
		im->col[c] = -1;
	for (size_t i = 0; i < row->nfields; i++) {
		int c;

		for (c = 0; c < COL__COUNT; c++)
			if (!strcmp(row->field[i], col_names[c]))
				break;
		if (c == COL__COUNT) {
			cli_err("%s line 1: unknown column '%s'; the columns "
				"are " HEADER,
				im->csv_path, row->field[i]);
			return CLI_FAIL;
		}
		if (im->col[c] >= 0) {
			cli_err("%s line 1: column '%s' twice", im->csv_path,
				col_names[c]);
			return CLI_FAIL;
		}
		im->col[c] = (int)i;
	}
	for (int c = 0; c < COL__COUNT; c++)
		if (im->col[c] < 0) {
			cli_err("%s line 1: no column '%s'; the first line must "
				"name the columns " HEADER,
				im->csv_path, col_names[c]);
			return CLI_FAIL;
		}
	im->ncols = row->nfields;
	return 0;
}

static void progress(struct import *im, uint64_t done)
{
	if (!im->progress)
		return;
	fprintf(stderr, "\r  %" PRIu64 " rows, %" PRIu64 "%%", im->read,
		im->file_size ? done * 100 / im->file_size : 100);
}

static int run(struct import *im, FILE *in)
{
	static struct enroll_csv_row row;
	char *buf = malloc(IMPORT_READ_BUF);
	size_t len = 0, off = 0, used;
	uint64_t consumed = 0;
	uint32_t line = 1;
	bool eof = false, header = true;
	int ret = 0;

	if (!buf)
		return CLI_FAIL;
	for (;;) {
		enum enroll_csv_result rc;
		const char *why;
		char why_buf[256];
		struct entry *e;
		uint32_t this_line = line;
		const char *field;
		int fatal = 0;

		if (off == len && eof)
			break;
		rc = enroll_csv_next(buf + off, len - off, eof, &row, &used,
				     &why);
		if (rc == ENROLL_CSV_MORE) {
			size_t got;

			if (off) {
				memmove(buf, buf + off, len - off);
				len -= off;
				off = 0;
			}
			if (len == IMPORT_READ_BUF) {
				cli_err("%s line %" PRIu32 ": a row longer than "
					"1 MiB (is a quote never closed?)",
					im->csv_path, line);
				ret = CLI_FAIL;
				break;
			}
			got = fread(buf + len, 1, IMPORT_READ_BUF - len, in);
			if (got == 0) {
				if (ferror(in)) {
					cli_err("cannot read %s: %s",
						im->csv_path, strerror(errno));
					ret = CLI_FAIL;
					break;
				}
				eof = true;
			}
			/* A UTF-8 BOM before the header. */
			if (header && consumed == 0 && len == 0 && got >= 3 &&
			    !memcmp(buf, "\xef\xbb\xbf", 3)) {
				off = 3;
				consumed = 3;
			}
			len += got;
			continue;
		}
		line += row.lines;
		consumed += used;
		if (header) {
			header = false;
			if (rc == ENROLL_CSV_BAD) {
				cli_err("%s line 1: %s", im->csv_path, why);
				ret = CLI_FAIL;
				break;
			}
			if ((ret = read_header(im, &row)))
				break;
			fwrite(buf + off, 1, row.raw_len, im->fail);
			fputs(",line,field,reason\n", im->fail);
			off += used;
			continue;
		}
		if (rc == ENROLL_CSV_ROW && row.nfields == 1 && row.len[0] == 0) {
			off += used; /* a blank line */
			continue;
		}
		im->read++;
		if ((im->read & 8191) == 0)
			progress(im, consumed);
		if (rc == ENROLL_CSV_BAD) {
			reject(im, buf + off, row.raw_len, this_line, "row", why);
			off += used;
			continue;
		}
		if (row.nfields != im->ncols) {
			snprintf(why_buf, sizeof why_buf,
				 "%zu fields; the header has %zu", row.nfields,
				 im->ncols);
			reject(im, buf + off, row.raw_len, this_line, "row",
			       why_buf);
			off += used;
			continue;
		}
		e = &im->batch[im->nbatch];
		field = row_check(im, &row, this_line, e, &why, why_buf,
				  sizeof why_buf, &fatal);
		if (fatal) {
			cli_err("%s line %" PRIu32 ": %s", im->csv_path,
				this_line, why);
			ret = fatal;
			break;
		}
		if (field) {
			reject(im, buf + off, row.raw_len, this_line, field, why);
		} else if (e->op == 0) {
			im->unchanged++;
			rare_found(im, &e->body, e->key, this_line);
		} else {
			im->pend[im->nbatch].raw_off = im->raw_len;
			im->pend[im->nbatch].raw_len = row.raw_len;
			im->pend[im->nbatch].line = this_line;
			if (keep_raw(im, buf + off, row.raw_len)) {
				cli_err("out of memory");
				ret = CLI_FAIL;
				break;
			}
			if (++im->nbatch == IMPORT_BATCH && (ret = flush(im)))
				break;
		}
		off += used;
	}
	if (!ret && header) {
		cli_err("%s is empty: the first line must name the columns "
			HEADER, im->csv_path);
		ret = CLI_FAIL;
	}
	if (!ret)
		ret = flush(im);
	if (im->progress) {
		progress(im, consumed);
		fputc('\n', stderr);
	}
	sodium_memzero(buf, IMPORT_READ_BUF);
	sodium_memzero(&row, sizeof row);
	free(buf);
	return ret;
}

/* ---- summary ------------------------------------------------------------------ */

static void summary(const struct import *im, bool over)
{
	if (cli.json) {
		json_object_begin();
		json_kv_uint("read", im->read);
		json_kv_uint("imported", im->imported);
		json_kv_uint("unchanged", im->unchanged);
		json_kv_uint("rejected", im->rejected);
		json_kv_uint("rare", im->rare_n);
		json_kv_bool("over_limit", over);
		json_kv_str("failures", im->fail_path);
		json_kv_str_or_null("rare_file", im->rare_path);
		json_key("rare_names");
		json_array_begin();
		for (size_t i = 0; i < im->nshown; i++) {
			char u[16];

			json_object_begin();
			json_kv_str("edu_id", im->shown[i].edu_id);
			json_key("characters");
			json_array_begin();
			for (size_t k = 0; k < im->shown[i].n; k++) {
				snprintf(u, sizeof u, "U+%04" PRIX32,
					 im->shown[i].chars[k]);
				json_str(u);
			}
			json_array_end();
			json_object_end();
		}
		json_array_end();
		json_object_end();
		json_end();
		return;
	}
	printf("%-12s%" PRIu64 "\n", "read", im->read);
	printf("%-12s%" PRIu64 "\n", "imported", im->imported);
	printf("%-12s%" PRIu64 "\n", "unchanged", im->unchanged);
	printf("%-12s%" PRIu64, "rejected", im->rejected);
	if (im->rejected)
		printf("  (%.1f%%, see %s)", 100.0 * (double)im->rejected /
		       (double)im->read, im->fail_path);
	printf("\n%-12s%" PRIu64 "\n", "rare", im->rare_n);
	if (im->rare_n) {
		printf("Names with characters outside GB 2312 (生僻字): "
		       "each needs a written description for the card "
		       "maker.\n");
		for (size_t i = 0; i < im->nshown; i++) {
			printf("  %-20s", im->shown[i].edu_id);
			for (size_t k = 0; k < im->shown[i].n; k++)
				printf(" U+%04" PRIX32, im->shown[i].chars[k]);
			putchar('\n');
		}
		if (im->rare_n > im->nshown)
			printf("  … and %" PRIu64 " more%s%s\n",
			       im->rare_n - im->nshown,
			       im->rare_path ? " in " : " (list them all with "
						       "--rare FILE)",
			       im->rare_path ? im->rare_path : "");
	}
}

static char *default_failures(const char *csv)
{
	size_t n = strlen(csv);
	char *p = malloc(n + sizeof ".failures.csv");

	if (!p)
		return NULL;
	memcpy(p, csv, n + 1);
	if (n > 4 && !strcmp(p + n - 4, ".csv"))
		p[n - 4] = '\0';
	strcat(p, ".failures.csv");
	return p;
}

int student_import_main(int argc, char **argv)
{
	const struct cli_cmd *cmd = &import_cmd;
	const char *fail_opt = NULL, *rare_opt = NULL;
	const struct cli_opt opts[] = {
		{ "failures", &fail_opt, NULL },
		{ "rare", &rare_opt, NULL },
		CLI_OPT_ACTOR, CLI_OPT_END
	};
	struct import *im = NULL;
	char *fail_default = NULL;
	const char *slash;
	FILE *in = NULL;
	bool over = false;
	int ret;

	if ((ret = cli_parse(cmd, argc, argv, opts, 1)) >= 0)
		return ret;
	if ((ret = cli_actor_check(cmd)))
		return ret;
	im = calloc(1, sizeof *im);
	if (!im) {
		cli_err("out of memory");
		return CLI_FAIL;
	}
	im->csv_path = argv[optind];
	slash = strrchr(im->csv_path, '/');
	if (!slash)
		snprintf(im->csv_dir, sizeof im->csv_dir, ".");
	else if (slash == im->csv_path)
		snprintf(im->csv_dir, sizeof im->csv_dir, "/");
	else
		snprintf(im->csv_dir, sizeof im->csv_dir, "%.*s",
			 (int)(slash - im->csv_path), im->csv_path);
	if (!fail_opt && !(fail_opt = fail_default =
				   default_failures(im->csv_path))) {
		cli_err("out of memory");
		ret = CLI_FAIL;
		goto cleanup;
	}
	im->fail_path = fail_opt;
	im->rare_path = rare_opt;

	in = fopen(im->csv_path, "rb");
	if (!in) {
		cli_err("cannot open %s: %s", im->csv_path, strerror(errno));
		ret = errno == ENOENT ? CLI_NOTFOUND : CLI_FAIL;
		goto cleanup;
	}
	{
		struct stat sb;

		if (fstat(fileno(in), &sb) == 0)
			im->file_size = (uint64_t)sb.st_size;
	}
	if ((ret = cli_open(0, &im->r)))
		goto cleanup;
	replica_info(im->r, &im->info);
	if (im->info.role != ROLE_CITY && im->info.role != ROLE_DISTRICT &&
	    im->info.role != ROLE_SCHOOL) {
		cli_err("refused: this is a %s node; only city, district and "
			"school nodes write student records",
			authority_role_name(im->info.role)
				? authority_role_name(im->info.role) : "?");
		ret = CLI_REFUSED;
		goto cleanup;
	}
	if (!im->info.has_cert) {
		cli_err("refused: this node has no valid certificate; install "
			"one with 'cardctl cert install' first");
		ret = CLI_REFUSED;
		goto cleanup;
	}
	im->today = cli_today();
	im->batch = calloc(IMPORT_BATCH, sizeof *im->batch);
	im->pend = calloc(IMPORT_BATCH, sizeof *im->pend);
	im->photo = malloc(PHOTO_MAX);
	if (!im->batch || !im->pend || !im->photo) {
		cli_err("out of memory");
		ret = CLI_FAIL;
		goto cleanup;
	}
	if (!(im->fail = open_private(im->fail_path))) {
		cli_err("cannot write the failure file %s: %s", im->fail_path,
			strerror(errno));
		ret = CLI_FAIL;
		goto cleanup;
	}
	if (im->rare_path) {
		if (!(im->rare = fopen(im->rare_path, "w"))) {
			cli_err("cannot write %s: %s", im->rare_path,
				strerror(errno));
			ret = CLI_FAIL;
			goto cleanup;
		}
		fputs("edu_id,name,school,line,characters\n", im->rare);
	}
	im->progress = isatty(STDERR_FILENO) && !cli.json;

	ret = run(im, in);
	if (fflush(im->fail) || ferror(im->fail)) {
		cli_err("cannot write the failure file %s", im->fail_path);
		ret = ret ? ret : CLI_FAIL;
	}
	if (im->rare && (fflush(im->rare) || ferror(im->rare))) {
		cli_err("cannot write %s", im->rare_path);
		ret = ret ? ret : CLI_FAIL;
	}
	over = im->rejected * 100 > im->read * FAIL_LIMIT_PCT;
	if (ret) {
		cli_err("the import stopped after %" PRIu64 " rows: %" PRIu64
			" imported before that stay imported, %" PRIu64
			" rejected so far",
			im->read, im->imported, im->rejected);
		goto cleanup;
	}
	summary(im, over);
	if (over) {
		cli_err("%" PRIu64 " of %" PRIu64 " rows (%.1f%%) were "
			"rejected: more than %d%%, so this batch is reported as "
			"failed (exit 5).  The rows that passed were imported; "
			"correct the rows in %s and import them again.",
			im->rejected, im->read,
			100.0 * (double)im->rejected / (double)im->read,
			FAIL_LIMIT_PCT, im->fail_path);
		ret = CLI_PARTIAL;
	}
cleanup:
	if (in)
		fclose(in);
	if (im) {
		if (im->fail)
			fclose(im->fail);
		if (im->rare)
			fclose(im->rare);
		replica_close(im->r);
		if (im->batch)
			sodium_memzero(im->batch, IMPORT_BATCH * sizeof *im->batch);
		free(im->batch);
		free(im->pend);
		if (im->raw)
			sodium_memzero(im->raw, im->raw_cap);
		free(im->raw);
		free(im->photo);
		free(im->seen);
		free(im);
	}
	free(fail_default);
	return ret;
}
