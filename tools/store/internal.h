/* SPDX-License-Identifier: GPL-2.0 */
/* The store library's insides, shared by its files and its fuzz targets. */
#ifndef SNAPPER_STORE_INTERNAL_H
#define SNAPPER_STORE_INTERNAL_H

#include <endian.h>
#include <stdarg.h>
#include <string.h>
#include <sys/types.h>

#include "store.h"

#define FORMAT_VERSION		1u
/*
 * Version 2 of a manifest: its pack table says how each pack stores its
 * copies. Written only when some pack is compressed, so that a store that
 * never compresses stays readable by version 1 readers.
 */
#define MAN_VERSION_CODEC	2u
/* Version 2 of a pack: compressed records, an index that locates them. */
#define PACK_VERSION_CODEC	2u
#define STORE_MAGIC		"SNPRSTOR"
#define SEQ_MAGIC		"SNPRSEQ1"
#define MAN_MAGIC		"SNPRMANI"
#define PACK_MAGIC		"SNPRPACK"
#define PACK_END_MAGIC		"SNPRPEND"

#define STORE_FILE_SIZE		40u
#define SEQ_FILE_SIZE		32u
#define PACK_HDR_SIZE		4096u
#define PACK_FOOTER_SIZE	48u
#define HASH_SIZE		16u
#define EXTENT_SIZE		32u	/* a manifest's run: vaddr, slot, npages, pack, flags */
/* Index entry of a compressed pack: hash, record offset, length, flags. */
#define ZENTRY_SIZE		32u
/* Generous bounds that keep a corrupt count from allocating the machine. */
#define MAX_PATH_LEN		4096u
#define MAX_SLOTS		(1ull << 32)

#define EXT_ZERO		UINT32_MAX	/* extent pack index: zero pages */
#define EXT_F_FED		1u	/* fed in this generation */

struct hash128 {
	uint64_t lo, hi;
};

/* Run of the page map: npages pages from vaddr, slots slot.. of pack. */
struct extent {
	uint64_t vaddr;
	uint64_t slot;
	uint64_t npages;
	uint32_t pack;		/* index into the manifest's packs, or EXT_ZERO */
	uint32_t flags;
};

struct pack_ref {
	uint64_t gen;		/* the pack written by generation gen */
	uint32_t fanout;	/* threshold its path was built with */
	uint64_t nslots;
	uint32_t codec;		/* enum store_codec; version 2 manifests only */
};

struct vma {
	uint64_t start, end, offset;
	uint32_t prot, flags;
	char *path;
	bool fresh;		/* writer only: carry nothing from the base */
};

struct manifest {
	uint64_t store_id, gen, base;
	uint32_t kind;
	struct store_meta meta;
	struct store_knobs knobs;
	uint32_t reserved;	/* 0 or 1, kept as read; writers put 1 */
	struct store_own_stats own;
	uint32_t nvmas, npacks;
	uint64_t next;
	struct vma *vmas;
	struct pack_ref *packs;
	struct extent *ext;
};

/* format.c: encoders and parsers. Parsers never trust their input. */
struct buf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};
void buf_put(struct buf *b, const void *p, size_t n);
void buf_put32(struct buf *b, uint32_t v);
void buf_put64(struct buf *b, uint64_t v);

/* XXH3-128 of a page (hash.c): one function, two builds, the faster. */
struct hash128 hash_page(const void *page);
struct hash128 hash_page_lib(const void *page);
struct hash128 hash_page_scalar(const void *page);
/*
 * XXH3-64 of @len bytes, the checksum of every store file and pack index
 * (hash.c): from the build hash_page() chose.
 */
uint64_t sum64(const void *p, size_t len);
uint64_t sum64_lib(const void *p, size_t len);
uint64_t sum64_scalar(const void *p, size_t len);

/*
 * Little-endian fields, inline (one load or store each on the machines
 * we build for): the content index reads a copy's hash at every probe,
 * and each out-of-line read cost three calls and eight byte loads.
 */
static inline void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static inline uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static inline uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static inline void hash_put(uint8_t out[HASH_SIZE], struct hash128 h)
{
	put_le64(out, h.lo);
	put_le64(out + 8, h.hi);
}

static inline struct hash128 hash_get(const uint8_t in[HASH_SIZE])
{
	return (struct hash128){ .lo = get_le64(in), .hi = get_le64(in + 8) };
}

int store_file_encode(uint8_t out[STORE_FILE_SIZE], uint64_t store_id,
		      uint64_t created_ns);
int store_file_parse(const uint8_t *p, size_t len, uint64_t *store_id,
		     const char **why);
void seq_file_encode(uint8_t out[SEQ_FILE_SIZE], uint64_t store_id,
		     uint64_t last);
int seq_file_parse(const uint8_t *p, size_t len, uint64_t store_id,
		   uint64_t *last, const char **why);
/* The store id of a whole seq file, or 0. */
void seq_file_peek(const uint8_t *p, size_t len, uint64_t *store_id);

int manifest_encode(const struct manifest *m, struct buf *b);
int manifest_parse(const uint8_t *p, size_t len, struct manifest *m,
		   const char **why);
void manifest_free(struct manifest *m);

/*
 * The pack parsers return -EXDEV for a whole header or footer of another
 * store or generation (a foreign file: nothing in it is trusted), and
 * -EBADMSG for damage (the pack's index entries may still prove
 * themselves one page at a time).
 */
void pack_header_encode(uint8_t out[PACK_HDR_SIZE], uint64_t store_id,
			uint64_t gen, uint32_t codec);
/* @codec is what the manifest says the pack holds; a header saying else is damage. */
int pack_header_parse(const uint8_t *p, size_t len, uint64_t store_id,
		      uint64_t gen, uint32_t codec, const char **why);
void pack_footer_encode(uint8_t out[PACK_FOOTER_SIZE], uint64_t store_id,
			uint64_t gen, uint64_t nslots, const uint8_t *index,
			uint32_t codec);
int pack_footer_parse(const uint8_t *p, uint64_t store_id, uint64_t gen,
		      uint64_t file_size, uint32_t codec, uint64_t *nslots,
		      const char **why);
int pack_index_check(const uint8_t *footer, const uint8_t *index,
		     uint64_t nslots, uint32_t codec, const char **why);
/* Where slot @nslots would start in an uncompressed pack: its index. */
static inline uint64_t pack_index_offset(uint64_t nslots)
{
	return PACK_HDR_SIZE + nslots * STORE_PAGE_SIZE;
}
static inline uint64_t pack_entry_size(uint32_t codec)
{
	return codec ? ZENTRY_SIZE : HASH_SIZE;
}
/*
 * Where the index of a pack of @size bytes and @nslots slots starts: after
 * the copies for an uncompressed pack, whose size must then be exact; for
 * a compressed one, from the end (the records before it are of any
 * length, padded to a page). -EBADMSG if no pack has that size.
 */
int pack_geometry(uint64_t size, uint64_t nslots, uint32_t codec,
		  uint64_t *index_off, const char **why);

/*
 * A compressed pack's slot: where its record lies and how long it is
 * (STORE_PAGE_SIZE: the page as is; less: compressed). len 0 marks an
 * index entry that fails its checks: that slot cannot be read.
 */
struct zloc {
	uint64_t off;
	uint32_t len;
};
void zentry_encode(uint8_t out[ZENTRY_SIZE], struct hash128 h,
		   const struct zloc *z);
/* Hash always; location checked against the data area [4096, data_end). */
int zentry_parse(const uint8_t in[ZENTRY_SIZE], uint64_t data_end,
		 struct hash128 *h, struct zloc *z, const char **why);
/*
 * Codecs (codec.c). compress returns the record's length: less than a page
 * when it saved anything, else the page copied as is (STORE_PAGE_SIZE).
 * decompress accepts exactly one page of output and nothing else.
 */
bool codec_known(uint32_t codec);
const char *codec_name(uint32_t codec);
uint32_t codec_compress(uint32_t codec, const void *page, uint8_t *out);
int codec_decompress(uint32_t codec, const uint8_t *rec, uint32_t len,
		     void *page, const char **why);

/* fs.c: system calls, counted for fault injection; paths. */
int sys_open(const char *path, int flags, mode_t mode);
int sys_openat(int dirfd, const char *path, int flags, mode_t mode);
ssize_t sys_pwrite_all(int fd, const void *p, size_t n, off_t off);
int sys_fsync(int fd);
int sys_renameat(int dfd, const char *from, const char *to, bool noreplace);
int sys_unlinkat(int dfd, const char *path, int flags);
int sys_mkdirat(int dfd, const char *path);
ssize_t pread_all(int fd, void *p, size_t n, off_t off);
int fsync_dirat(int dfd, const char *path);
int mkdirs_at(int dfd, const char *path);
int read_file_at(int dfd, const char *path, size_t max, uint8_t **p,
		 size_t *len);
int write_file_at(int dfd, const char *path, const void *p, size_t n,
		  bool *renamed, bool noreplace);
static inline bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !strcmp(s + n - k, suffix);
}
void fanout_path(char *out, size_t n, char kind, uint64_t id,
		 uint32_t fanout, const char *suffix);
/* @path is exactly what fanout_path() names file @id with @suffix. */
bool store_named(const char *path, const char *suffix, uint64_t *id);

/* Errors and warnings: one line, naming the object. */
int set_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* SNAPPER_STORE_INTERNAL_H */
