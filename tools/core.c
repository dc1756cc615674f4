// SPDX-License-Identifier: GPL-2.0
/*
 * A generation as an ELF core file. gdb needs an ET_CORE with at least one
 * NT_PRSTATUS to accept it as a core; its memory is the PT_LOAD segments.
 * A generation has no registers, so the one thread's are zeros: `x` and
 * `print` work, a backtrace does not.
 */
#include <ctype.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/snapper.h>

#include "core.h"
#include "store-cli.h"
#include "subcommands.h"

#define PG STORE_PAGE_SIZE
#define OUT_BUF (64 * PG)

struct segment {
	uint64_t start, end;
	uint32_t prot;
};

/* Buffered, sparse where the file allows it. */
struct out {
	int fd;
	bool seekable;
	uint64_t pos;		/* file offset of buf[0] */
	size_t used;
	uint8_t buf[OUT_BUF];
};

static int out_flush(struct out *o)
{
	size_t done = 0;
	ssize_t n;

	while (done < o->used) {
		n = o->seekable ? pwrite(o->fd, o->buf + done, o->used - done,
					 o->pos + done) :
				  write(o->fd, o->buf + done, o->used - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n ? -errno : -EIO;
		done += n;
	}
	o->pos += o->used;
	o->used = 0;
	return 0;
}

static int out_put(struct out *o, const void *p, size_t n)
{
	int ret;

	if (o->used + n > OUT_BUF && (ret = out_flush(o)))
		return ret;
	memcpy(o->buf + o->used, p, n);
	o->used += n;
	return 0;
}

static int out_zeros(struct out *o, uint64_t n)
{
	static const uint8_t zero[PG];
	int ret = 0;

	if (o->seekable) {
		ret = out_flush(o);
		o->pos += n;
		return ret;
	}
	for (; !ret && n; n -= n < PG ? n : PG)
		ret = out_put(o, zero, n < PG ? n : PG);
	return ret;
}

/* ---- what goes in ---- */

static bool captured(const struct store_snap *snap, uint64_t start,
		     uint64_t end)
{
	struct store_run run;
	size_t n = store_snap_map(snap, 0, &run);

	for (size_t i = 0; i < n; i++) {
		store_snap_map(snap, i, &run);
		if (run.vaddr < end && start < run.vaddr + run.npages * PG)
			return true;
	}
	return false;
}

/* The generation's mappings clipped to [start, end); caller frees. */
static size_t segments(const struct store_snap *snap, uint64_t start,
		       uint64_t end, struct segment **out)
{
	const struct store_vma *v;
	size_t n = store_snap_vmas(snap, &v), k = 0;
	struct segment *seg = calloc(n ? n : 1, sizeof(*seg));

	*out = seg;
	for (size_t i = 0; seg && i < n; i++) {
		uint64_t s = v[i].start > start ? v[i].start : start;
		uint64_t e = v[i].end < end ? v[i].end : end;

		/* gdb reads a segment without bytes as zeros: leave it out. */
		if (s >= e || !captured(snap, s, e))
			continue;
		seg[k++] = (struct segment){ s, e, v[i].prot };
	}
	return k;
}

/* ---- the ELF headers and notes ---- */

static size_t note_size(size_t desc)
{
	return sizeof(Elf64_Nhdr) + 8 + ((desc + 3) & ~3ul);
}

static int put_note(struct out *o, uint32_t type, const void *desc,
		    size_t len)
{
	Elf64_Nhdr nh = { .n_namesz = 5, .n_descsz = len, .n_type = type };
	static const uint8_t pad[4];
	int ret;

	ret = out_put(o, &nh, sizeof(nh));
	if (!ret)
		ret = out_put(o, "CORE\0\0\0", 8);
	if (!ret)
		ret = out_put(o, desc, len);
	if (!ret && len % 4)
		ret = out_put(o, pad, 4 - len % 4);
	return ret;
}

static int put_notes(struct out *o, const struct store_info *info)
{
	struct elf_prstatus st = { 0 };
	struct elf_prpsinfo ps = { 0 };
	int ret;

	st.pr_pid = info->meta.pid;
	ps.pr_pid = info->meta.pid;
	ps.pr_sname = 'R';
	memcpy(ps.pr_fname, info->meta.comm, sizeof(ps.pr_fname));
	ps.pr_fname[sizeof(ps.pr_fname) - 1] = '\0';
	snprintf(ps.pr_psargs, sizeof(ps.pr_psargs), "%s (snapper generation %" PRIu64 ")",
		 ps.pr_fname, info->id);
	ret = put_note(o, NT_PRSTATUS, &st, sizeof(st));
	return ret ? ret : put_note(o, NT_PRPSINFO, &ps, sizeof(ps));
}

static uint32_t pflags(uint32_t prot)
{
	return (prot & PROT_READ ? PF_R : 0) | (prot & PROT_WRITE ? PF_W : 0) |
	       (prot & PROT_EXEC ? PF_X : 0);
}

static int put_headers(struct out *o, const struct segment *seg, size_t n,
		       uint64_t notes, uint64_t data)
{
	Elf64_Ehdr eh = {
		.e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64,
			     ELFDATA2LSB, EV_CURRENT, ELFOSABI_NONE },
		.e_type = ET_CORE, .e_machine = EM_X86_64,
		.e_version = EV_CURRENT, .e_phoff = sizeof(eh),
		.e_ehsize = sizeof(eh), .e_phentsize = sizeof(Elf64_Phdr),
		.e_phnum = n + 1,
	};
	Elf64_Phdr ph = { .p_type = PT_NOTE, .p_offset = notes,
			  .p_filesz = data - notes, .p_align = 4 };
	int ret = out_put(o, &eh, sizeof(eh));

	/* data - notes is rounded up to a page: the notes' exact size. */
	ph.p_filesz = note_size(sizeof(struct elf_prstatus)) +
		      note_size(sizeof(struct elf_prpsinfo));
	if (!ret)
		ret = out_put(o, &ph, sizeof(ph));
	for (size_t i = 0; !ret && i < n; i++) {
		uint64_t size = seg[i].end - seg[i].start;

		ph = (Elf64_Phdr){
			.p_type = PT_LOAD, .p_flags = pflags(seg[i].prot),
			.p_offset = data, .p_vaddr = seg[i].start,
			.p_filesz = size, .p_memsz = size, .p_align = PG,
		};
		data += ph.p_filesz;
		ret = out_put(o, &ph, sizeof(ph));
	}
	return ret;
}

/* ---- the bytes ---- */

static bool zero_page(const uint8_t *p)
{
	static const uint8_t zeros[PG];

	return !memcmp(p, zeros, PG);
}

/* A chunk of pages per read (runs read whole), zeros left as holes. */
static int put_segment(struct out *o, struct store_snap *snap,
		       const struct segment *seg)
{
	enum { CHUNK = 64 };
	uint8_t *buf = aligned_alloc(PG, CHUNK * PG);
	int ret = buf ? 0 : -ENOMEM;

	for (uint64_t at = seg->start; !ret && at < seg->end;) {
		uint64_t n = (seg->end - at) / PG;

		if (n > CHUNK)
			n = CHUNK;
		if (store_snap_read_pages(snap, at, n, buf)) {
			ret = 1;
			break;
		}
		for (uint64_t i = 0; !ret && i < n; i++)
			ret = zero_page(buf + i * PG) ? out_zeros(o, PG) :
			      out_put(o, buf + i * PG, PG);
		at += n * PG;
	}
	free(buf);
	return ret;
}

int core_write(struct store_snap *snap, const struct store_info *info,
	       uint64_t start, uint64_t end, int fd)
{
	struct segment *seg;
	size_t n = segments(snap, start, end, &seg);
	uint64_t notes = sizeof(Elf64_Ehdr) + (n + 1) * sizeof(Elf64_Phdr);
	uint64_t data = notes + note_size(sizeof(struct elf_prstatus)) +
			note_size(sizeof(struct elf_prpsinfo));
	struct stat sb;
	struct out *o = calloc(1, sizeof(*o));
	int ret;

	if (!seg || !o || n >= PN_XNUM) {
		free(seg);
		free(o);
		return seg && o ? -E2BIG : -ENOMEM;
	}
	o->fd = fd;
	o->seekable = !fstat(fd, &sb) && S_ISREG(sb.st_mode) &&
		      lseek(fd, 0, SEEK_CUR) == 0;
	data = (data + PG - 1) & ~(uint64_t)(PG - 1);
	ret = put_headers(o, seg, n, notes, data);
	if (!ret)
		ret = put_notes(o, info);
	if (!ret)
		ret = out_zeros(o, data - (o->pos + o->used));
	for (size_t i = 0; !ret && i < n; i++)
		ret = put_segment(o, snap, &seg[i]);
	if (!ret)
		ret = out_flush(o);
	if (!ret && o->seekable && ftruncate(fd, o->pos))
		ret = -errno;
	free(seg);
	free(o);
	return ret;
}

/* ---- export --format core ---- */

static const char usage[] =
	"Usage: %s export --store DIR [--gen N] [--range START-END] --format core -o FILE\n"
	"Writes generation N (default: the newest) as an ELF core file that gdb\n"
	"reads (gdb -c FILE): one segment per mapping with captured pages,\n"
	"clipped to the range if one is given (hex, page aligned), with the\n"
	"captured bytes and zeros elsewhere. Registers are not captured: they\n"
	"read as zero.\n";

bool core_requested(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--format=core") ||
		    (!strcmp(argv[i], "--format") && i + 1 < argc &&
		     !strcmp(argv[i + 1], "core")))
			return true;
	return false;
}

/* Returns -1 to go on, or the exit code. */
static int parse_args(int argc, char **argv, struct cli *c)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "gen", required_argument, NULL, 'g' },
		{ "range", required_argument, NULL, 'r' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int opt;

	memset(c, 0, sizeof(*c));
	store_knobs_default(&c->knobs);
	c->end = UINT64_MAX;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		bool ok = true;

		if (opt == 'h')
			return printf(usage, prog), 0;
		else if (opt == 's')
			c->store = optarg;
		else if (opt == 'g')
			ok = cli_parse_u64(optarg, &c->gen) && c->gen;
		else if (opt == 'r')
			ok = cli_parse_pages(optarg, &c->start, &c->end);
		else if (opt == 'o')
			c->output = optarg;
		else if (opt != 'f')
			return fprintf(stderr, usage, prog), 1;
		if (!ok) {
			fprintf(stderr, "%s: %s: bad value '%s'\n", prog,
				argv[optind - 1], optarg);
			return 1;
		}
	}
	if (!c->store || !c->output || optind != argc)
		return fprintf(stderr, usage, prog), 1;
	return -1;
}

/* As export does: remove FILE on failure only if we created it. */
static int open_output(const char *path, bool *created)
{
	int fd;

	*created = false;
	if (!strcmp(path, "-"))
		return 1;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		*created = true;
		return fd;
	}
	return errno == EEXIST ? open(path, O_WRONLY | O_TRUNC | O_CLOEXEC) : -1;
}

static int export_core(struct store *s, const struct cli *c, uint64_t id)
{
	struct store_snap *snap;
	struct store_info info;
	bool created;
	int fd, ret;

	if (store_info(s, id, &info) || store_snap_open(s, id, &snap))
		return cli_fail();
	fd = open_output(c->output, &created);
	if (fd < 0) {
		fprintf(stderr, "%s: %s: %m\n", prog, c->output);
		store_snap_close(snap);
		return 1;
	}
	ret = core_write(snap, &info, c->start, c->end, fd);
	if (ret > 0)
		ret = cli_fail();
	else if (ret) {
		fprintf(stderr, "%s: %s: %s\n", prog, c->output, strerror(-ret));
		ret = CLI_EXIT_ERROR;
	}
	if (ret && created)
		unlink(c->output);
	if (fd > 1)
		close(fd);
	store_snap_close(snap);
	return ret;
}

int core_export_main(int argc, char **argv)
{
	struct store *s;
	struct cli c;
	uint64_t id;
	int ret = parse_args(argc, argv, &c);

	if (ret >= 0)
		return ret;
	s = cli_open(&c, false);
	if (!s)
		return cli_exit();
	id = cli_gen(&c, s);
	ret = id ? export_core(s, &c, id) : CLI_EXIT_NOTFOUND;
	store_close(s);
	return ret;
}
