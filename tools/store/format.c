// SPDX-License-Identifier: GPL-2.0
/*
 * Encoding and parsing of the store's files. Everything is explicit
 * little-endian, written field by field, so the format does not depend on
 * the compiler's struct layout. Parsers take bytes that may be anything
 * (a torn write, a flipped bit, a fuzzer) and either fill their output or
 * return -EBADMSG with a reason; they never read out of bounds, and they
 * bound every allocation by the input length.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "internal.h"

/* Room for @n more bytes, taken; NULL (and b->oom) if there is none. */
static uint8_t *buf_room(struct buf *b, size_t n)
{
	if (b->oom)
		return NULL;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *np;

		while (cap < b->len + n)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->oom = true;
			return NULL;
		}
		b->p = np;
		b->cap = cap;
	}
	b->len += n;
	return b->p + b->len - n;
}

void buf_put(struct buf *b, const void *p, size_t n)
{
	uint8_t *q = buf_room(b, n);

	if (q)
		memcpy(q, p, n);
}

void buf_put32(struct buf *b, uint32_t v)
{
	uint8_t p[4];

	put_le32(p, v);
	buf_put(b, p, 4);
}

void buf_put64(struct buf *b, uint64_t v)
{
	uint8_t p[8];

	put_le64(p, v);
	buf_put(b, p, 8);
}

/* libxxhash's own build of XXH3-128 (SSE2 in Debian's): see hash.c. */
struct hash128 hash_page_lib(const void *page)
{
	XXH128_hash_t h = XXH3_128bits(page, STORE_PAGE_SIZE);

	return (struct hash128){ .lo = h.low64, .hi = h.high64 };
}

/* The same library's XXH3-64. */
uint64_t sum64_lib(const void *p, size_t len)
{
	return XXH3_64bits(p, len);
}

/* A cursor that turns every overrun into a sticky error. */
struct cur {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static const uint8_t *take(struct cur *c, size_t n)
{
	const uint8_t *p;

	if (c->bad || c->len - c->off < n) {
		c->bad = true;
		return NULL;
	}
	p = c->p + c->off;
	c->off += n;
	return p;
}

static uint32_t take32(struct cur *c)
{
	const uint8_t *p = take(c, 4);

	return p ? get_le32(p) : 0;
}

static uint64_t take64(struct cur *c)
{
	const uint8_t *p = take(c, 8);

	return p ? get_le64(p) : 0;
}

static int bad(const char **why, const char *reason)
{
	*why = reason;
	return -EBADMSG;
}

/*
 * A fuzzer cannot forge a checksum, so its builds skip the check to reach
 * the structural checks behind it (the libFuzzer convention).
 */
static bool sum_ok(const uint8_t *p, size_t len, uint64_t want)
{
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	return true;
#else
	return sum64(p, len) == want;
#endif
}

static bool checksum_ok(const uint8_t *p, size_t len)
{
	return sum_ok(p, len - 8, get_le64(p + len - 8));
}

/* store: magic, version, reserved, store id, created, checksum. */
int store_file_encode(uint8_t out[STORE_FILE_SIZE], uint64_t store_id,
		      uint64_t created_ns)
{
	memcpy(out, STORE_MAGIC, 8);
	put_le32(out + 8, FORMAT_VERSION);
	put_le32(out + 12, 0);
	put_le64(out + 16, store_id);
	put_le64(out + 24, created_ns);
	put_le64(out + 32, sum64(out, 32));
	return 0;
}

int store_file_parse(const uint8_t *p, size_t len, uint64_t *store_id,
		     const char **why)
{
	if (len != STORE_FILE_SIZE)
		return bad(why, "wrong size for a store header");
	if (memcmp(p, STORE_MAGIC, 8))
		return bad(why, "not a snapper store header (bad magic)");
	if (get_le32(p + 8) != FORMAT_VERSION)
		return bad(why, "unsupported store format version");
	if (!sum_ok(p, 32, get_le64(p + 32)))
		return bad(why, "store header checksum mismatch");
	*store_id = get_le64(p + 16);
	return 0;
}

/* seq: the highest generation id ever handed out. */
void seq_file_encode(uint8_t out[SEQ_FILE_SIZE], uint64_t store_id,
		     uint64_t last)
{
	memcpy(out, SEQ_MAGIC, 8);
	put_le64(out + 8, store_id);
	put_le64(out + 16, last);
	put_le64(out + 24, sum64(out, 24));
}

void seq_file_peek(const uint8_t *p, size_t len, uint64_t *store_id)
{
	if (len == SEQ_FILE_SIZE && !memcmp(p, SEQ_MAGIC, 8) &&
	    sum_ok(p, 24, get_le64(p + 24)))
		*store_id = get_le64(p + 8);
}

int seq_file_parse(const uint8_t *p, size_t len, uint64_t store_id,
		   uint64_t *last, const char **why)
{
	if (len != SEQ_FILE_SIZE)
		return bad(why, "wrong size for a sequence file");
	if (memcmp(p, SEQ_MAGIC, 8))
		return bad(why, "bad magic");
	if (!sum_ok(p, 24, get_le64(p + 24)))
		return bad(why, "checksum mismatch");
	if (get_le64(p + 8) != store_id)
		return bad(why, "belongs to another store");
	*last = get_le64(p + 16);
	return 0;
}

static void meta_encode(struct buf *b, const struct manifest *m)
{
	const struct store_knobs *k = &m->knobs;
	const struct store_caller_stats *cs = &m->meta.stats;

	buf_put32(b, m->meta.pid);
	buf_put(b, m->meta.comm, sizeof(m->meta.comm));
	buf_put64(b, m->meta.time_ns);
	buf_put32(b, k->threshold);
	buf_put32(b, m->reserved);	/* old writers' integrity knob */
	buf_put32(b, k->redundancy);
	buf_put32(b, k->max_snapshots);
	buf_put32(b, k->min_snapshots);
	buf_put64(b, k->expiration);
	buf_put64(b, cs->pages_sent);
	buf_put64(b, cs->freeze_us);
	buf_put64(b, cs->walk_us);
	buf_put64(b, cs->duration_us);
	buf_put64(b, m->own.pages_written);
	buf_put64(b, m->own.bytes_written);
	buf_put64(b, m->own.pages_zero);
	buf_put64(b, m->own.pages_dedup);
	buf_put64(b, m->own.commit_us);
}

static const uint8_t *meta_parse(struct cur *c, struct manifest *m)
{
	struct store_knobs *k = &m->knobs;
	struct store_caller_stats *cs = &m->meta.stats;
	const uint8_t *comm;

	m->meta.pid = take32(c);
	comm = take(c, sizeof(m->meta.comm));
	if (comm)
		memcpy(m->meta.comm, comm, sizeof(m->meta.comm));
	m->meta.time_ns = take64(c);
	k->threshold = take32(c);
	m->reserved = take32(c);
	k->redundancy = take32(c);
	k->max_snapshots = take32(c);
	k->min_snapshots = take32(c);
	k->expiration = take64(c);
	cs->pages_sent = take64(c);
	cs->freeze_us = take64(c);
	cs->walk_us = take64(c);
	cs->duration_us = take64(c);
	m->own.pages_written = take64(c);
	m->own.bytes_written = take64(c);
	m->own.pages_zero = take64(c);
	m->own.pages_dedup = take64(c);
	m->own.commit_us = take64(c);
	return comm;
}

static void tables_encode(const struct manifest *m, struct buf *b,
			  uint32_t version)
{
	uint8_t *q;

	for (uint32_t i = 0; i < m->nvmas; i++) {
		const struct vma *v = &m->vmas[i];
		uint32_t n = strlen(v->path);

		buf_put64(b, v->start);
		buf_put64(b, v->end);
		buf_put64(b, v->offset);
		buf_put32(b, v->prot);
		buf_put32(b, v->flags);
		buf_put32(b, n);
		buf_put(b, v->path, n);
	}
	for (uint32_t i = 0; i < m->npacks; i++) {
		buf_put64(b, m->packs[i].gen);
		buf_put32(b, m->packs[i].fanout);
		buf_put64(b, m->packs[i].nslots);
		if (version == MAN_VERSION_CODEC)
			buf_put32(b, m->packs[i].codec);
	}
	/* In one piece: a random step's map has tens of thousands. */
	q = buf_room(b, m->next * EXTENT_SIZE);
	for (uint64_t e = 0; q && e < m->next; e++, q += EXTENT_SIZE) {
		put_le64(q, m->ext[e].vaddr);
		put_le64(q + 8, m->ext[e].slot);
		put_le64(q + 16, m->ext[e].npages);
		put_le32(q + 24, m->ext[e].pack);
		put_le32(q + 28, m->ext[e].flags);
	}
}

/*
 * Manifest: magic, version, header length, ids, metadata, then the three
 * tables (VMAs, packs, extents), then an XXH3-64 of everything before it.
 */
/* Version 2 only when a pack needs it: see MAN_VERSION_CODEC. */
static uint32_t manifest_version(const struct manifest *m)
{
	for (uint32_t i = 0; i < m->npacks; i++)
		if (m->packs[i].codec)
			return MAN_VERSION_CODEC;
	return FORMAT_VERSION;
}

int manifest_encode(const struct manifest *m, struct buf *b)
{
	uint32_t version = manifest_version(m);
	size_t hdr_at;

	buf_put(b, MAN_MAGIC, 8);
	buf_put32(b, version);
	hdr_at = b->len;
	buf_put32(b, 0);
	buf_put64(b, m->store_id);
	buf_put64(b, m->gen);
	buf_put64(b, m->base);
	buf_put32(b, m->kind);
	meta_encode(b, m);
	buf_put32(b, m->nvmas);
	buf_put32(b, m->npacks);
	buf_put64(b, m->next);
	if (!b->oom)
		put_le32(b->p + hdr_at, b->len);
	tables_encode(m, b, version);
	buf_put64(b, sum64(b->p, b->oom ? 0 : b->len));
	return b->oom ? -ENOMEM : 0;
}

static int vmas_parse(struct cur *c, struct manifest *m, const char **why)
{
	uint32_t i;

	/* 36 bytes is the smallest VMA record: bounds the allocation. */
	if (m->nvmas > (c->len - c->off) / 36)
		return bad(why, "VMA count exceeds the file");
	m->vmas = calloc(m->nvmas ? m->nvmas : 1, sizeof(*m->vmas));
	if (!m->vmas)
		return -ENOMEM;
	for (i = 0; i < m->nvmas; i++) {
		struct vma *v = &m->vmas[i];
		const uint8_t *path;
		uint32_t n;

		v->start = take64(c);
		v->end = take64(c);
		v->offset = take64(c);
		v->prot = take32(c);
		v->flags = take32(c);
		n = take32(c);
		if (n > MAX_PATH_LEN)
			return bad(why, "VMA path too long");
		path = take(c, n);
		if (c->bad)
			return bad(why, "truncated VMA table");
		if (memchr(path, '\0', n))
			return bad(why, "NUL inside a VMA path");
		v->path = strndup((const char *)path, n);
		if (!v->path)
			return -ENOMEM;
		if (v->start >= v->end || (v->start | v->end) % STORE_PAGE_SIZE)
			return bad(why, "VMA not page aligned or empty");
		if (i && v->start < m->vmas[i - 1].end)
			return bad(why, "VMAs unsorted or overlapping");
	}
	return 0;
}

static int packs_parse(struct cur *c, struct manifest *m, uint32_t version,
		       const char **why)
{
	bool codecs = version == MAN_VERSION_CODEC, any = false;
	uint32_t i;

	if (m->npacks > (c->len - c->off) / (codecs ? 24 : 20))
		return bad(why, "pack count exceeds the file");
	m->packs = calloc(m->npacks ? m->npacks : 1, sizeof(*m->packs));
	if (!m->packs)
		return -ENOMEM;
	for (i = 0; i < m->npacks; i++) {
		struct pack_ref *r = &m->packs[i];

		r->gen = take64(c);
		r->fanout = take32(c);
		r->nslots = take64(c);
		r->codec = codecs ? take32(c) : STORE_CODEC_NONE;
		if (c->bad)
			return bad(why, "truncated pack table");
		/* A reader must not guess at a format it does not know. */
		if (!codec_known(r->codec))
			return bad(why, "pack of an unknown codec");
		any |= r->codec != STORE_CODEC_NONE;
		if (!r->gen || r->gen > m->gen)
			return bad(why, "pack of an impossible generation");
		if (i && r->gen <= m->packs[i - 1].gen)
			return bad(why, "pack table unsorted");
		if (r->fanout < 16 || r->fanout > 1048576)
			return bad(why, "pack fan-out out of range");
		if (!r->nslots || r->nslots >= MAX_SLOTS)
			return bad(why, "pack slot count out of range");
	}
	/* Writers use version 2 only for this: it re-encodes the same. */
	if (codecs && !any)
		return bad(why, "version 2 manifest without a compressed pack");
	return 0;
}

/* An extent must sit inside one VMA: find it from where the last one was. */
static bool inside_vmas(const struct manifest *m, uint32_t *vi,
			const struct extent *e)
{
	uint64_t end = e->vaddr + e->npages * STORE_PAGE_SIZE;

	while (*vi < m->nvmas && m->vmas[*vi].end <= e->vaddr)
		(*vi)++;
	return *vi < m->nvmas && m->vmas[*vi].start <= e->vaddr &&
	       end <= m->vmas[*vi].end;
}

static int extent_check(const struct manifest *m, uint64_t i, uint32_t *vi,
			const char **why)
{
	const struct extent *e = &m->ext[i];

	if (!e->npages || e->vaddr % STORE_PAGE_SIZE ||
	    e->npages > (UINT64_MAX - e->vaddr) / STORE_PAGE_SIZE)
		return bad(why, "extent empty, unaligned or wrapping");
	if (e->flags & ~EXT_F_FED)
		return bad(why, "unknown extent flags");
	if (i && e->vaddr < m->ext[i - 1].vaddr +
			   m->ext[i - 1].npages * STORE_PAGE_SIZE)
		return bad(why, "extents unsorted or overlapping");
	if (!inside_vmas(m, vi, e))
		return bad(why, "extent outside the layout");
	if (e->pack == EXT_ZERO)
		return e->slot ? bad(why, "zero extent with a slot") : 0;
	if (e->pack >= m->npacks)
		return bad(why, "extent names a missing pack");
	if (e->slot >= m->packs[e->pack].nslots ||
	    e->npages > m->packs[e->pack].nslots - e->slot)
		return bad(why, "extent beyond its pack");
	return 0;
}

static int extents_parse(struct cur *c, struct manifest *m, const char **why)
{
	const uint8_t *p;
	uint32_t vi = 0;
	uint64_t i;
	int ret;

	if (m->next > (c->len - c->off) / EXTENT_SIZE)
		return bad(why, "extent count exceeds the file");
	m->ext = calloc(m->next ? m->next : 1, sizeof(*m->ext));
	if (!m->ext)
		return -ENOMEM;
	p = take(c, m->next * EXTENT_SIZE);
	if (!p)
		return bad(why, "truncated extent table");
	for (i = 0; i < m->next; i++, p += EXTENT_SIZE) {
		m->ext[i].vaddr = get_le64(p);
		m->ext[i].slot = get_le64(p + 8);
		m->ext[i].npages = get_le64(p + 16);
		m->ext[i].pack = get_le32(p + 24);
		m->ext[i].flags = get_le32(p + 28);
		ret = extent_check(m, i, &vi, why);
		if (ret)
			return ret;
	}
	return 0;
}

static int header_parse(struct cur *c, struct manifest *m, uint32_t *version,
			const char **why)
{
	const uint8_t *magic = take(c, 8), *comm;
	uint32_t hdr_len;

	if (!magic || memcmp(magic, MAN_MAGIC, 8))
		return bad(why, "not a manifest (bad magic)");
	*version = take32(c);
	if (*version != FORMAT_VERSION && *version != MAN_VERSION_CODEC)
		return bad(why, "unsupported manifest version");
	hdr_len = take32(c);
	m->store_id = take64(c);
	m->gen = take64(c);
	m->base = take64(c);
	m->kind = take32(c);
	comm = meta_parse(c, m);
	m->nvmas = take32(c);
	m->npacks = take32(c);
	m->next = take64(c);
	/* Versions 1 and 2 have exactly these fields; more means another version. */
	if (c->bad || hdr_len != c->off)
		return bad(why, "truncated manifest header or wrong length");
	if (!comm || comm[sizeof(m->meta.comm) - 1])
		return bad(why, "command name not terminated");
	/* Old writers recorded their integrity knob (0 or 1) here. */
	if (m->reserved > 1)
		return bad(why, "reserved field neither 0 nor 1");
	if (!m->gen || m->base >= m->gen)
		return bad(why, "impossible generation or base id");
	if (m->kind != STORE_GEN_FULL && m->kind != STORE_GEN_INCREMENTAL)
		return bad(why, "unknown generation kind");
	if ((m->kind == STORE_GEN_FULL) != !m->base)
		return bad(why, "base does not match the kind");
	return 0;
}

int manifest_parse(const uint8_t *p, size_t len, struct manifest *m,
		   const char **why)
{
	struct cur c = { .p = p, .len = len };
	uint32_t version = 0;
	int ret;

	memset(m, 0, sizeof(*m));
	if (len < 8 + 8 || !checksum_ok(p, len))
		return bad(why, "manifest checksum mismatch or truncated");
	c.len -= 8;
	ret = header_parse(&c, m, &version, why);
	if (!ret)
		ret = vmas_parse(&c, m, why);
	if (!ret)
		ret = packs_parse(&c, m, version, why);
	if (!ret)
		ret = extents_parse(&c, m, why);
	if (!ret && c.off != c.len)
		ret = bad(why, "trailing bytes after the extent table");
	if (ret == -ENOMEM)
		*why = "out of memory";
	if (ret)
		manifest_free(m);
	return ret;
}

void manifest_free(struct manifest *m)
{
	if (m->vmas)
		for (uint32_t i = 0; i < m->nvmas; i++)
			free(m->vmas[i].path);
	free(m->vmas);
	free(m->packs);
	free(m->ext);
	m->vmas = NULL;
	m->packs = NULL;
	m->ext = NULL;
}

/*
 * Pack: a page-sized header so that copies sit page aligned. An
 * uncompressed pack's is version 1; a compressed one's is version 2 and
 * names its codec (le32) followed by a reserved le32 (0).
 */
void pack_header_encode(uint8_t out[PACK_HDR_SIZE], uint64_t store_id,
			uint64_t gen, uint32_t codec)
{
	size_t sum_at = codec ? 40 : 32;

	memset(out, 0, PACK_HDR_SIZE);
	memcpy(out, PACK_MAGIC, 8);
	put_le32(out + 8, codec ? PACK_VERSION_CODEC : FORMAT_VERSION);
	put_le32(out + 12, STORE_PAGE_SIZE);
	put_le64(out + 16, store_id);
	put_le64(out + 24, gen);
	if (codec)
		put_le32(out + 32, codec);
	put_le64(out + sum_at, sum64(out, sum_at));
}

int pack_header_parse(const uint8_t *p, size_t len, uint64_t store_id,
		      uint64_t gen, uint32_t codec, const char **why)
{
	uint32_t version = codec ? PACK_VERSION_CODEC : FORMAT_VERSION;
	size_t sum_at = codec ? 40 : 32;

	if (len < sum_at + 8 || memcmp(p, PACK_MAGIC, 8))
		return bad(why, "not a pack (bad magic)");
	if (get_le32(p + 8) != version)
		return bad(why, "pack version differs from its manifest's");
	if (!sum_ok(p, sum_at, get_le64(p + sum_at)))
		return bad(why, "pack header checksum mismatch");
	if (get_le32(p + 12) != STORE_PAGE_SIZE)
		return bad(why, "unsupported pack page size");
	if (codec && (get_le32(p + 32) != codec || get_le32(p + 36)))
		return bad(why, "pack codec differs from its manifest's");
	if (get_le64(p + 16) != store_id || get_le64(p + 24) != gen)
		return bad(why, "pack belongs to another store or generation") ? -EXDEV : 0;
	return 0;
}

int pack_geometry(uint64_t size, uint64_t nslots, uint32_t codec,
		  uint64_t *index_off, const char **why)
{
	uint64_t tail;

	if (!nslots || nslots >= MAX_SLOTS)
		return bad(why, "pack slot count out of range");
	if (!codec) {
		*index_off = pack_index_offset(nslots);
		if (size != *index_off + nslots * HASH_SIZE + PACK_FOOTER_SIZE)
			return bad(why, "pack size does not match its slot count");
		return 0;
	}
	/* Records of at most a page each, padded to a page: no more than raw. */
	tail = nslots * ZENTRY_SIZE + PACK_FOOTER_SIZE;
	if (size < PACK_HDR_SIZE + tail || (size - tail) % STORE_PAGE_SIZE ||
	    size - tail > pack_index_offset(nslots))
		return bad(why, "pack size does not match its slot count");
	*index_off = size - tail;
	return 0;
}

/*
 * Footer: magic, ids, slot count, XXH3-64 of the index, and an XXH3-64
 * of the footer itself. The index holds the XXH3-128 of every slot, and
 * in a compressed pack where its record lies.
 */
void pack_footer_encode(uint8_t out[PACK_FOOTER_SIZE], uint64_t store_id,
			uint64_t gen, uint64_t nslots, const uint8_t *index,
			uint32_t codec)
{
	memcpy(out, PACK_END_MAGIC, 8);
	put_le64(out + 8, store_id);
	put_le64(out + 16, gen);
	put_le64(out + 24, nslots);
	put_le64(out + 32, sum64(index, nslots * pack_entry_size(codec)));
	put_le64(out + 40, sum64(out, 40));
}

int pack_footer_parse(const uint8_t *p, uint64_t store_id, uint64_t gen,
		      uint64_t file_size, uint32_t codec, uint64_t *nslots,
		      const char **why)
{
	uint64_t n, idx;

	if (memcmp(p, PACK_END_MAGIC, 8) || !sum_ok(p, 40, get_le64(p + 40)))
		return bad(why, "pack footer damaged or pack truncated");
	if (get_le64(p + 8) != store_id || get_le64(p + 16) != gen)
		return bad(why, "pack belongs to another store or generation") ? -EXDEV : 0;
	n = get_le64(p + 24);
	if (pack_geometry(file_size, n, codec, &idx, why))
		return -EBADMSG;
	*nslots = n;
	return 0;
}

int pack_index_check(const uint8_t *footer, const uint8_t *index,
		     uint64_t nslots, uint32_t codec, const char **why)
{
	if (!sum_ok(index, nslots * pack_entry_size(codec), get_le64(footer + 32)))
		return bad(why, "pack index checksum mismatch");
	return 0;
}

/* Compressed pack index entry: XXH3-128, offset (le64), length, flags (le32). */
void zentry_encode(uint8_t out[ZENTRY_SIZE], struct hash128 h,
		   const struct zloc *z)
{
	hash_put(out, h);
	put_le64(out + 16, z->off);
	put_le32(out + 24, z->len);
	put_le32(out + 28, 0);
}

int zentry_parse(const uint8_t in[ZENTRY_SIZE], uint64_t data_end,
		 struct hash128 *h, struct zloc *z, const char **why)
{
	uint64_t off = get_le64(in + 16);
	uint32_t len = get_le32(in + 24);

	*h = hash_get(in);
	*z = (struct zloc){ 0 };
	if (get_le32(in + 28))
		return bad(why, "index entry with unknown flags");
	if (!len || len > STORE_PAGE_SIZE || off < PACK_HDR_SIZE ||
	    off > data_end || len > data_end - off)
		return bad(why, "index entry locates its record outside the pack's data");
	*z = (struct zloc){ off, len };
	return 0;
}
