// SPDX-License-Identifier: GPL-2.0
/*
 * The store's only contact with the filesystem. Every call that changes
 * the disk goes through a sys_* wrapper, so that the tests can make the
 * Nth one fail, or stop everything from there on as a crash would, and
 * then check that recovery loses nothing committed.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static unsigned long fault_nth, fault_ops;
static bool fault_crash;

void store_fault_set(unsigned long nth, bool crash)
{
	fault_nth = nth;
	fault_crash = crash;
	fault_ops = 0;
}

unsigned long store_fault_ops(void)
{
	return fault_ops;
}

static bool fault(void)
{
	fault_ops++;
	if (!fault_nth)
		return false;
	if (fault_ops == fault_nth || (fault_crash && fault_ops > fault_nth)) {
		errno = EIO;
		return true;
	}
	return false;
}

static __thread char errbuf[1024];
static __thread int errnum;

int store_errno(void)
{
	return errnum;
}

int set_err(int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	errnum = err;
	va_start(ap, fmt);
	n = vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(errbuf) - 2 && err)
		snprintf(errbuf + n, sizeof(errbuf) - n, ": %s", strerror(-err));
	return err;
}

const char *store_strerror(void)
{
	return errbuf;
}

static void warn_stderr(const char *line)
{
	fprintf(stderr, "snapper: warning: %s\n", line);
}

static void (*warn_fn)(const char *line) = warn_stderr;

void store_set_warn(void (*fn)(const char *line))
{
	warn_fn = fn ? fn : warn_stderr;
}

void warn(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	warn_fn(line);
}

int sys_openat(int dfd, const char *path, int flags, mode_t mode)
{
	if ((flags & (O_WRONLY | O_RDWR | O_CREAT)) && fault())
		return -1;
	return openat(dfd, path, flags | O_CLOEXEC, mode);
}

int sys_open(const char *path, int flags, mode_t mode)
{
	return sys_openat(AT_FDCWD, path, flags, mode);
}

ssize_t sys_pwrite_all(int fd, const void *p, size_t n, off_t off)
{
	size_t done = 0;

	if (fault())
		return -1;
	while (done < n) {
		ssize_t r = pwrite(fd, (const char *)p + done, n - done,
				   off + done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (!r)
				errno = EIO;
			return -1;
		}
		done += r;
	}
	return done;
}

int sys_fsync(int fd)
{
	return fault() ? -1 : fsync(fd);
}

/*
 * With @noreplace, an existing @to is an error (EEXIST), never replaced:
 * manifests and the store header are written once. Filesystems without
 * RENAME_NOREPLACE get link + unlink, which is as atomic for this.
 */
int sys_renameat(int dfd, const char *from, const char *to, bool noreplace)
{
	if (fault())
		return -1;
	if (!noreplace)
		return renameat(dfd, from, dfd, to);
	if (!renameat2(dfd, from, dfd, to, RENAME_NOREPLACE))
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (linkat(dfd, from, dfd, to, 0))
		return -1;
	unlinkat(dfd, from, 0);
	return 0;
}

int sys_unlinkat(int dfd, const char *path, int flags)
{
	return fault() ? -1 : unlinkat(dfd, path, flags);
}

int sys_mkdirat(int dfd, const char *path)
{
	return fault() ? -1 : mkdirat(dfd, path, 0700);
}

ssize_t pread_all(int fd, void *p, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (char *)p + done, n - done, off + done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (!r)
			break;
		done += r;
	}
	return done;
}

/* Makes a directory entry change (create, rename, unlink) durable. */
int fsync_dirat(int dfd, const char *path)
{
	int fd = openat(dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = sys_fsync(fd) ? -errno : 0;
	close(fd);
	return ret;
}

/*
 * Creates the directories leading to @path (a file path), each made
 * durable in its parent, since a file in a directory that vanishes with
 * a crash is as lost as an unsynced one.
 */
int mkdirs_at(int dfd, const char *path)
{
	char buf[PATH_MAX];
	char *slash;

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (slash = strchr(buf, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (sys_mkdirat(dfd, buf)) {
			if (errno != EEXIST)
				return -errno;
		} else {
			char *up = strrchr(buf, '/');
			int ret;

			if (up)
				*up = '\0';
			ret = fsync_dirat(dfd, up ? buf : ".");
			if (up)
				*up = '/';
			if (ret)
				return ret;
		}
		*slash = '/';
	}
	return 0;
}

int read_file_at(int dfd, const char *path, size_t max, uint8_t **p,
		 size_t *len)
{
	struct stat st;
	int fd, ret = 0;

	fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ELOOP ? -EBADMSG : -errno;
	if (fstat(fd, &st)) {
		ret = -errno;
	} else if (!S_ISREG(st.st_mode)) {
		ret = -EBADMSG;
	} else if ((uint64_t)st.st_size > max) {
		ret = -EFBIG;
	} else {
		*p = malloc(st.st_size ? st.st_size : 1);
		if (!*p)
			ret = -ENOMEM;
		else if (pread_all(fd, *p, st.st_size, 0) != st.st_size)
			ret = errno ? -errno : -EIO;
		if (ret) {
			free(*p);
			*p = NULL;
		}
		*len = st.st_size;
	}
	close(fd);
	return ret;
}

/*
 * Replaces @path atomically and durably: write a temporary, fsync it,
 * rename it over, fsync the directory. The rename is the commit point:
 * @renamed (may be NULL) tells a caller whose last step failed that the
 * new content may be visible all the same.
 */
int write_file_at(int dfd, const char *path, const void *p, size_t n,
		  bool *renamed, bool noreplace)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	char *slash;
	int fd, ret = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = sys_openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -errno;
	if (sys_pwrite_all(fd, p, n, 0) < 0 || sys_fsync(fd))
		ret = -errno;
	close(fd);
	if (!ret && sys_renameat(dfd, tmp, path, noreplace))
		ret = -errno;
	if (ret) {
		sys_unlinkat(dfd, tmp, 0);
		return ret;
	}
	if (renamed)
		*renamed = true;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	return fsync_dirat(dfd, slash ? dir : ".");
}

/*
 * Where file @id of @kind ('m' manifest, 'd' pack) lives: the leaf
 * directory holds ids q*fanout .. q*fanout+fanout-1, and the directories
 * above it spell q in base fanout, so no directory has more than fanout
 * entries and depth grows with the logarithm of the id. The top directory
 * is named by fanout and depth, so a changed threshold or a deeper tree
 * never mixes with the old one.
 */
void fanout_path(char *out, size_t n, char kind, uint64_t id,
		 uint32_t fanout, const char *suffix)
{
	uint64_t digits[64];
	uint64_t q = id / fanout;
	int k = 0, len;

	do {
		digits[k++] = q % fanout;
		q /= fanout;
	} while (q);
	len = snprintf(out, n, "%c/%u.%d", kind, fanout, k);
	while (k-- > 0 && len > 0 && (size_t)len < n)
		len += snprintf(out + len, n - len, "/%" PRIx64, digits[k]);
	if (len > 0 && (size_t)len < n)
		snprintf(out + len, n - len, "/%016" PRIx64 "%s", id, suffix);
}

/*
 * Whether @path (under m/ or d/) is exactly the name the store gives file
 * @id with @suffix: "K/T.k/.../ID.suffix", rebuilt from its own T and id
 * and compared whole, so that a file merely looking like ours is never
 * taken for one.
 */
bool store_named(const char *path, const char *suffix, uint64_t *id)
{
	const char *base = strrchr(path, '/');
	char want[PATH_MAX], *end;
	unsigned int fanout;
	int k;

	if (!base || strlen(++base) != 16 + strlen(suffix) ||
	    strcmp(base + 16, suffix) || !isxdigit((unsigned char)base[0]))
		return false;
	*id = strtoull(base, &end, 16);
	if (end != base + 16 ||
	    sscanf(path + 2, "%u.%d/", &fanout, &k) != 2 || fanout < 16 ||
	    fanout > 1048576)
		return false;
	fanout_path(want, sizeof(want), path[0], *id, fanout, "");
	return strlen(want) + strlen(suffix) == strlen(path) &&
	       !strncmp(want, path, strlen(want)) &&
	       !strcmp(path + strlen(want), suffix);
}
