// SPDX-License-Identifier: GPL-2.0
/*
 * export --format core: a store built from known bytes with the writer
 * API, exported as an ELF core, read back by gdb (`x/4gx`) and by hand
 * (headers, clipping, pages never captured).
 */
#pragma GCC diagnostic ignored "-Wsign-compare"

#include <elf.h>
#include <limits.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "store_helpers.h"

static char tool[PATH_MAX + 32];

#define A 0x7f0000000000ull	/* rw-, 8 pages: seeds 1, 2, zero, rest absent */
#define B 0x7f0000100000ull	/* r-x file mapping, nothing captured */
#define C 0x7f0000200000ull	/* r--, 2 pages: seed 3 then absent */

static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * gdb's `x/Ngx ADDR` words, in order; returns how many it printed (an
 * error such as "Cannot access memory" prints none).
 */
static size_t gdb_words(const char *core, uint64_t addr, size_t n,
			uint64_t *out)
{
	char cmd[PATH_MAX + 256], line[512];
	size_t got = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "gdb -nx -batch -c %s -ex 'x/%zugx %#llx' 2>&1", core, n,
		 (unsigned long long)addr);
	p = popen(cmd, "r");
	if (!p)
		return 0;
	while (fgets(line, sizeof(line), p)) {
		char *s = strchr(line, ':'), *end;

		if (strncmp(line, "0x", 2) || !s)
			continue;
		/* Words only: "Cannot access memory" starts with a hex digit. */
		for (s++; got < n; s = end) {
			s += strspn(s, " \t");
			if (strncmp(s, "0x", 2))
				break;
			out[got++] = strtoull(s, &end, 16);
		}
	}
	pclose(p);
	return got;
}

static uint64_t word(uint64_t seed, uint64_t vaddr, size_t i)
{
	uint8_t page[PG];
	uint64_t v;

	fake_page(page, seed, vaddr);
	memcpy(&v, page + 8 * i, 8);
	return v;
}

FIXTURE(core) {
	char dir[256];
	char file[300];
};

FIXTURE_SETUP(core)
{
	struct store_vma v[] = {
		{ .start = A, .end = A + 8 * PG, .prot = 3, .path = "" },
		{ .start = B, .end = B + 4 * PG, .prot = 5, .path = "/bin/true" },
		{ .start = C, .end = C + 2 * PG, .prot = 1, .path = "" },
	};
	struct feed f[] = { { A, 1 }, { A + PG, 2 }, { A + 2 * PG, 0 },
			    { C, 3 } };
	struct store *s;
	uint64_t id;

	if (!find_tool(tool, sizeof(tool)))
		SKIP(return, "tools/snapper-tool not built");
	tmp_store(self->dir, sizeof(self->dir));
	snprintf(self->file, sizeof(self->file), "%s.core", self->dir);
	ASSERT_EQ(0, store_open(&s, self->dir, NULL, 0));
	ASSERT_EQ(0, commit_one(s, STORE_GEN_FULL, v, 3, f, 4, &id));
	store_close(s);
}

FIXTURE_TEARDOWN(core)
{
	unlink(self->file);
	tmp_store_free(self->dir);
}

TEST_F(core, gdb_reads_the_captured_bytes)
{
	uint64_t w[4];

	if (sh("command -v gdb >/dev/null"))
		SKIP(return, "gdb is not installed (make deps)");
	ASSERT_EQ(0, sh("%s export --store %s --format core -o %s", tool,
			self->dir, self->file));
	ASSERT_EQ(4, gdb_words(self->file, A, 4, w));
	for (size_t i = 0; i < 4; i++) {
		ASSERT_EQ(word(1, A, i), w[i]);
	}
	ASSERT_EQ(2, gdb_words(self->file, A + PG + 8 * 510, 2, w));
	ASSERT_EQ(word(2, A + PG, 510), w[0]);
	ASSERT_EQ(word(2, A + PG, 511), w[1]);
	ASSERT_EQ(4, gdb_words(self->file, C, 4, w));
	ASSERT_EQ(word(3, C, 3), w[3]);
	/* Captured zero and never captured: zeros, not anything else. */
	ASSERT_EQ(2, gdb_words(self->file, A + 2 * PG, 2, w));
	ASSERT_EQ(0, w[0] | w[1]);
	ASSERT_EQ(1, gdb_words(self->file, A + 7 * PG, 1, w));
	ASSERT_EQ(0, w[0]);
	/* Nothing captured in B: gdb must not find bytes there. */
	ASSERT_EQ(0, gdb_words(self->file, B, 1, w));
}

static int read_headers(const char *file, Elf64_Ehdr *eh, Elf64_Phdr *ph,
			size_t max)
{
	FILE *f = fopen(file, "r");
	int ret = -1;

	if (!f)
		return -1;
	if (fread(eh, sizeof(*eh), 1, f) == 1 && eh->e_phnum <= max &&
	    !fseek(f, eh->e_phoff, SEEK_SET) &&
	    fread(ph, sizeof(*ph), eh->e_phnum, f) == eh->e_phnum)
		ret = 0;
	fclose(f);
	return ret;
}

TEST_F(core, headers_and_segments)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[8];

	ASSERT_EQ(0, sh("%s export --store %s --format core -o %s", tool,
			self->dir, self->file));
	ASSERT_EQ(0, read_headers(self->file, &eh, ph, 8));
	ASSERT_EQ(0, memcmp(eh.e_ident, ELFMAG, SELFMAG));
	ASSERT_EQ(ET_CORE, eh.e_type);
	ASSERT_EQ(EM_X86_64, eh.e_machine);
	ASSERT_EQ(3, eh.e_phnum);	/* notes, A, C: B has no bytes */
	ASSERT_EQ(PT_NOTE, ph[0].p_type);
	ASSERT_EQ(PT_LOAD, ph[1].p_type);
	ASSERT_EQ(A, ph[1].p_vaddr);
	ASSERT_EQ(8 * PG, ph[1].p_filesz);
	ASSERT_EQ(PF_R | PF_W, ph[1].p_flags);
	ASSERT_EQ(0, ph[1].p_offset % PG);
	ASSERT_EQ(C, ph[2].p_vaddr);
	ASSERT_EQ(2 * PG, ph[2].p_filesz);
	ASSERT_EQ(PF_R, ph[2].p_flags);
}

TEST_F(core, range_clips_the_segments)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[8];

	ASSERT_EQ(0, sh("%s export --store %s --range %#llx-%#llx --format core -o %s",
			tool, self->dir, A + PG, A + 3 * PG, self->file));
	ASSERT_EQ(0, read_headers(self->file, &eh, ph, 8));
	ASSERT_EQ(2, eh.e_phnum);
	ASSERT_EQ(A + PG, ph[1].p_vaddr);
	ASSERT_EQ(2 * PG, ph[1].p_memsz);
}

TEST_F(core, usage_errors)
{
	/* No -o; an unaligned range; a generation that does not exist. */
	ASSERT_EQ(1, sh("%s export --store %s --format core 2>/dev/null", tool,
			self->dir));
	ASSERT_EQ(1, sh("%s export --store %s --range 0x10-0x2000 --format core -o %s 2>/dev/null",
			tool, self->dir, self->file));
	ASSERT_EQ(2, sh("%s export --store %s --gen 9 --format core -o %s 2>/dev/null",
			tool, self->dir, self->file));
	ASSERT_NE(0, access(self->file, F_OK));
}

TEST_HARNESS_MAIN
