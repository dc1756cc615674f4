// SPDX-License-Identifier: GPL-2.0
/*
 * The power-cut test's guest side: a workload whose memory at any instant
 * can be recomputed, and the check of a store after a power cut.
 *
 *   pcwork work  --store DIR --log FILE --round R --mode ckpt|purge|watch|damage
 *   pcwork check --store DIR --log FILE
 *
 * The target maps PAGES pages at a fixed address. Page 0 is a header:
 * word 0 a magic, word 1 the round, word 2 the step as 2C+1 while step C
 * is being written and 2C once it is complete (one aligned store, so a
 * snapshot never sees a torn header). Step C rewrites the pages that
 * in_step(R, C, i) selects, in ascending order, each word in ascending
 * order, with content that depends on (R, C, i) only. So from the header
 * alone the bytes of the whole region at that instant are known: exactly,
 * for a complete step; for a step in progress, every selected page is new,
 * old, or (at most one, at the frontier) new up to some word and old after.
 *
 * The log (on the store's disk) gets one line per event, each fsync'ed
 * before the event it announces: "run R ...", "step R C" before step C is
 * written, "gen G R C" after the checkpoint tool reported generation G
 * committed with the target stopped at step C. A generation's content
 * therefore never runs ahead of the log, and where its "gen" line made it,
 * it must match that line exactly.
 *
 * Modes: ckpt runs `snapper-tool checkpoint` in a loop with the target
 * stopped between steps; purge does the same while another process runs
 * `snapper-tool purge --max-snapshots 3` in a loop; watch runs
 * `snapper-tool watch` while the target steps freely; damage checkpoints
 * once, damages one file of the store (chosen by the round: seq, store,
 * the newest manifest, or the header or footer of the newest pack), then
 * checkpoints in a loop, so that the power cut lands in a commit that
 * follows damage. Each damage is logged ("damage R KIND PATH") before it
 * is done, and the check accepts exactly what store-format.rst says it
 * costs: a damaged manifest loses that generation (listed as damaged,
 * dropped by `purge --drop-damaged` a few commits later), and nothing
 * else is lost; `verify` of the whole store may report the damaged file,
 * and nothing else. A damaged `store` header must make the next
 * checkpoint fail (a store never gets a second identity), and is then put
 * back from a copy, as an operator would (by the check, if the power cut
 * came first).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG		4096UL
#define WORDS		(PG / 8)
#define PAGES		256UL			/* 1 MiB */
#define REGION		0x600000000000UL	/* same in every round */
#define MAGIC		0x70637574536e6170ULL
/* Retention never keeps fewer than this many generations (see purge). */
#define KEEP_MIN	3
/*
 * Damage rounds: checkpoints before the damage (one, so that a damaged
 * manifest is the base the module knows), and before --drop-damaged.
 */
#define DAMAGE_AT	1
#define DROP_AT		4

static const char *store, *logpath;

static void die(const char *what)
{
	fprintf(stderr, "pcwork: %s: %s\n", what, strerror(errno));
	exit(2);
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* First word of page @i as written by step @k of round @r (0: the fill). */
static uint64_t page_val(uint64_t r, uint64_t k, uint64_t i)
{
	return mix(mix(r * 1000003 + k) ^ i) | 1;
}

static bool in_step(uint64_t r, uint64_t c, uint64_t i)
{
	return i && (mix(r ^ mix(c) ^ (i << 1)) & 15) == 0;
}

/* ---- the log ---- */

static void log_line(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int fd, n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		die(logpath);
	if (write(fd, buf, n) != n || fsync(fd))
		die(logpath);
	close(fd);
}

struct logged {
	uint64_t max_step[1024];	/* per round, +1 (0: no run) */
	struct { uint64_t gen, round, step; } *gens;
	size_t ngens;
	/* Files damaged on purpose, and the generations that lost their manifest. */
	char (*damaged)[256];
	size_t ndamaged;
	uint64_t *lost;
	size_t nlost;
	bool store_broken;	/* a "damage R store" not followed by "repaired R" */
};

static void note_damage(struct logged *l, const char *kind, const char *path)
{
	const char *base = strrchr(path, '/');

	l->damaged = realloc(l->damaged, (l->ndamaged + 1) * sizeof(*l->damaged));
	if (!l->damaged)
		die("realloc");
	snprintf(l->damaged[l->ndamaged++], sizeof(*l->damaged), "%s", path);
	if (!strcmp(kind, "store"))
		l->store_broken = true;
	if (strcmp(kind, "manifest") || !base)
		return;
	l->lost = realloc(l->lost, (l->nlost + 1) * sizeof(*l->lost));
	if (!l->lost)
		die("realloc");
	l->lost[l->nlost++] = strtoull(base + 1, NULL, 16);
}

static bool lost_gen(const struct logged *l, uint64_t g)
{
	size_t i;

	for (i = 0; i < l->nlost; i++)
		if (l->lost[i] == g)
			return true;
	return false;
}

static void read_log(struct logged *l)
{
	char line[512], kind[16], path[256];
	uint64_t r, c, g;
	FILE *f;

	memset(l, 0, sizeof(*l));
	f = fopen(logpath, "r");
	if (!f) {
		if (errno == ENOENT)
			return;
		die(logpath);
	}
	while (fgets(line, sizeof(line), f)) {
		if (!strchr(line, '\n'))
			break;	/* a torn last line: the event did not happen */
		if (sscanf(line, "run %" SCNu64, &r) == 1 && r < 1024) {
			if (!l->max_step[r])
				l->max_step[r] = 1;
		} else if (sscanf(line, "step %" SCNu64 " %" SCNu64, &r, &c) == 2 &&
			   r < 1024) {
			if (c + 1 > l->max_step[r])
				l->max_step[r] = c + 1;
		} else if (sscanf(line, "gen %" SCNu64 " %" SCNu64 " %" SCNu64,
				  &g, &r, &c) == 3) {
			l->gens = realloc(l->gens, (l->ngens + 1) * sizeof(*l->gens));
			if (!l->gens)
				die("realloc");
			l->gens[l->ngens].gen = g;
			l->gens[l->ngens].round = r;
			l->gens[l->ngens++].step = c;
		} else if (sscanf(line, "damage %" SCNu64 " %15s %255s", &r, kind,
				  path) == 3) {
			note_damage(l, kind, path);
		} else if (sscanf(line, "repaired %" SCNu64, &r) == 1) {
			l->store_broken = false;
		}
	}
	fclose(f);
}

/* ---- the target ---- */

static void fill(volatile uint64_t *p, uint64_t v)
{
	size_t j;

	for (j = 0; j < WORDS; j++)
		p[j] = v + j;
}

static void do_step(uint64_t r, uint64_t c)
{
	volatile uint64_t *hdr = (volatile uint64_t *)REGION;
	size_t i;

	hdr[2] = 2 * c + 1;
	for (i = 1; i < PAGES; i++)
		if (in_step(r, c, i))
			fill((volatile uint64_t *)(REGION + i * PG),
			     page_val(r, c, i));
	hdr[2] = 2 * c;
}

/* Serves "step C" requests (a u64 each) on @in, answering on @out. */
static void target(uint64_t r, int in, int out)
{
	volatile uint64_t *hdr;
	uint64_t c;
	size_t i;

	if (mmap((void *)REGION, PAGES * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) !=
	    (void *)REGION)
		die("mmap");
	hdr = (volatile uint64_t *)REGION;
	hdr[0] = MAGIC;
	hdr[1] = r;
	hdr[2] = 0;
	for (i = 1; i < PAGES; i++)
		fill((volatile uint64_t *)(REGION + i * PG), page_val(r, 0, i));
	while (read(in, &c, sizeof(c)) == sizeof(c)) {
		do_step(r, c);
		if (write(out, &c, sizeof(c)) != sizeof(c))
			break;
	}
	_exit(0);
}

struct tgt {
	pid_t pid;
	int cmd, reply;
};

static void target_start(struct tgt *t, uint64_t r)
{
	int a[2], b[2];

	if (pipe(a) || pipe(b))
		die("pipe");
	t->pid = fork();
	if (t->pid < 0)
		die("fork");
	if (!t->pid) {
		close(a[1]);
		close(b[0]);
		target(r, a[0], b[1]);
	}
	close(a[0]);
	close(b[1]);
	t->cmd = a[1];
	t->reply = b[0];
}

static void target_step(struct tgt *t, uint64_t c)
{
	uint64_t back;

	if (write(t->cmd, &c, sizeof(c)) != sizeof(c) ||
	    read(t->reply, &back, sizeof(back)) != sizeof(back) || back != c)
		die("target");
}

/* Runs `snapper-tool checkpoint` and returns the generation it printed. */
static uint64_t checkpoint(pid_t pid)
{
	char cmd[512], line[256];
	uint64_t gen = 0, g;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "snapper-tool checkpoint --quiet --store %s %d",
		 store, pid);
	f = popen(cmd, "r");
	if (!f)
		die("popen");
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "generation %" SCNu64, &g) == 1)
			gen = g;
	return pclose(f) == 0 ? gen : 0;
}

static pid_t spawn(char *const argv[])
{
	pid_t p = fork();

	if (p < 0)
		die("fork");
	if (!p) {
		execvp(argv[0], argv);
		_exit(127);
	}
	return p;
}

static void purge_loop(void)
{
	char *argv[] = { "snapper-tool", "purge", "--store", (char *)store,
			 "--max-snapshots", "3", NULL };
	int fd = open("/dev/null", O_WRONLY);

	dup2(fd, STDOUT_FILENO);
	for (;;) {
		pid_t p = spawn(argv);

		waitpid(p, NULL, 0);
		usleep(50000);
	}
}

/* The path of the newest file named *@ext under @sub of the store ("" if none). */
static void newest(const char *sub, const char *ext, char *path, size_t len)
{
	char cmd[512], line[512];
	FILE *f;

	snprintf(cmd, sizeof(cmd), "find %s/%s -name '*%s' -printf '%%f %%p\\n' "
		 "2>/dev/null | sort | tail -n 1", store, sub, ext);
	path[0] = 0;
	f = popen(cmd, "r");
	if (!f)
		die("popen");
	if (fgets(line, sizeof(line), f) && strchr(line, ' ')) {
		line[strcspn(line, "\n")] = 0;
		snprintf(path, len, "%s", strchr(line, ' ') + 1);
	}
	pclose(f);
}

/* XORs the byte at @off of @path with @x, durably. */
static void flip(const char *path, off_t off, uint8_t x)
{
	uint8_t b;
	int fd = open(path, O_RDWR);

	if (fd < 0 || pread(fd, &b, 1, off) != 1)
		die(path);
	b ^= x;
	if (pwrite(fd, &b, 1, off) != 1 || fsync(fd))
		die(path);
	close(fd);
}

static void copy_file(const char *from, const char *to)
{
	char buf[4096];
	ssize_t n;
	int in = open(from, O_RDONLY), out;

	if (in < 0)
		die(from);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (out < 0)
		die(to);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			die(to);
	if (n < 0 || fsync(out))
		die(to);
	close(in);
	close(out);
}

/* Where the store header is kept while a damage round has it broken. */
static void saved_header(char *path, size_t len)
{
	snprintf(path, len, "%s.store", logpath);
}

/* Puts a broken store header back from its copy, as an operator would. */
static void repair_header(uint64_t r)
{
	char hdr[512], saved[512];

	snprintf(hdr, sizeof(hdr), "%s/store", store);
	saved_header(saved, sizeof(saved));
	copy_file(saved, hdr);
	log_line("repaired %" PRIu64 "\n", r);
}

/* Damages one file of the store, chosen by the round, after logging it. */
static void damage(uint64_t r, pid_t pid)
{
	static const char *const kinds[] = { "seq", "store", "manifest", "pack" };
	const char *kind = kinds[r % 4];
	char path[512], saved[512];
	struct stat st;
	int fd;

	if (!strcmp(kind, "manifest"))
		newest("m", ".m", path, sizeof(path));
	else if (!strcmp(kind, "pack"))
		newest("d", ".p", path, sizeof(path));
	else
		snprintf(path, sizeof(path), "%s/%s", store, kind);
	if (!path[0] || stat(path, &st))
		die(kind);
	if (!strcmp(kind, "store")) {
		saved_header(saved, sizeof(saved));
		copy_file(path, saved);
	}
	log_line("damage %" PRIu64 " %s %s\n", r, kind, path);
	if (!strcmp(kind, "seq")) {
		fd = open(path, O_WRONLY | O_TRUNC);
		if (fd < 0 || write(fd, "not a sequence file\n", 20) != 20 || fsync(fd))
			die(path);
		close(fd);
	} else if (!strcmp(kind, "pack")) {
		/* Header or footer: their cost is documented as nothing. */
		flip(path, r / 4 % 2 ? st.st_size - 1 - mix(r) % 48 : mix(r) % 40,
		     0x10);
	} else {
		flip(path, mix(r) % st.st_size, 0x10);
	}
	if (strcmp(kind, "store"))
		return;
	/* No checkpoint may write into a store without its header. */
	if (checkpoint(pid)) {
		fprintf(stderr, "pcwork: a checkpoint wrote into a store whose header is damaged\n");
		exit(1);
	}
	repair_header(r);
}

static void drop_damaged(void)
{
	char *argv[] = { "snapper-tool", "purge", "--store", (char *)store,
			 "--drop-damaged", NULL };

	if (waitpid(spawn(argv), NULL, 0) < 0)
		die("waitpid");
}

static int work(uint64_t r, const char *mode)
{
	struct tgt t;
	uint64_t c, gen;

	target_start(&t, r);
	target_step(&t, 0);	/* the fill is done once step 0 answers */
	log_line("run %" PRIu64 " pid %d addr %#lx pages %lu mode %s\n", r, t.pid,
		 REGION, PAGES, mode);
	if (!strcmp(mode, "watch")) {
		char pid[16];
		char *argv[] = { "snapper-tool", "watch", "--store", (char *)store,
				 "--interval", "100ms", pid, NULL };

		snprintf(pid, sizeof(pid), "%d", t.pid);
		spawn(argv);
		for (c = 1;; c++) {
			log_line("step %" PRIu64 " %" PRIu64 "\n", r, c);
			target_step(&t, c);
			usleep(20000);
		}
	}
	if (!strcmp(mode, "purge") && !fork())
		purge_loop();
	for (c = 1;; c++) {
		log_line("step %" PRIu64 " %" PRIu64 "\n", r, c);
		target_step(&t, c);
		gen = checkpoint(t.pid);
		if (!gen) {
			fprintf(stderr, "pcwork: checkpoint of step %" PRIu64 " failed\n", c);
			return 1;
		}
		log_line("gen %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", gen, r, c);
		if (strcmp(mode, "damage"))
			continue;
		if (c == DAMAGE_AT)
			damage(r, t.pid);
		if (c == DROP_AT)
			drop_damaged();
	}
}

/* ---- the check ---- */

static int failures;

#define bad(...) do { printf("FAIL: " __VA_ARGS__); putchar('\n'); failures++; } while (0)

static bool page_is(const uint64_t *p, uint64_t v)
{
	size_t j;

	for (j = 0; j < WORDS; j++)
		if (p[j] != v + j)
			return false;
	return true;
}

/* A page at the frontier of a step: new words up to some index, old after. */
static bool page_torn(const uint64_t *p, uint64_t oldv, uint64_t newv)
{
	size_t j = 0;

	while (j < WORDS && p[j] == newv + j)
		j++;
	while (j < WORDS && p[j] == oldv + j)
		j++;
	return j == WORDS;
}

/*
 * Checks one exported region against round @r at step @c (@busy: step c
 * in progress). Returns the number of pages that differ from the model.
 */
static size_t check_region(const uint64_t *buf, uint64_t r, uint64_t c, bool busy)
{
	static uint64_t last[PAGES];
	bool frontier_passed = false;
	size_t i, wrong = 0;
	uint64_t k;

	memset(last, 0, sizeof(last));
	for (k = 1; k < c + !busy; k++)
		for (i = 1; i < PAGES; i++)
			if (in_step(r, k, i))
				last[i] = k;
	for (i = 1; i < PAGES; i++) {
		const uint64_t *p = buf + i * WORDS;
		uint64_t oldv = page_val(r, last[i], i), newv;

		if (!busy || !in_step(r, c, i)) {
			wrong += !page_is(p, oldv);
			continue;
		}
		newv = page_val(r, c, i);
		if (!frontier_passed && page_is(p, newv))
			continue;
		if (!frontier_passed) {
			frontier_passed = true;
			wrong += !page_torn(p, oldv, newv);
			continue;
		}
		wrong += !page_is(p, oldv);
	}
	return wrong;
}

static int run(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static size_t list_gens(const struct logged *l, uint64_t **ids)
{
	char cmd[512], line[256];
	size_t n = 0;
	uint64_t g;
	FILE *f;

	*ids = NULL;
	snprintf(cmd, sizeof(cmd), "snapper-tool list --store %s", store);
	f = popen(cmd, "r");
	if (!f)
		die("popen");
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%" SCNu64, &g) != 1)
			continue;
		if (strstr(line, "damaged") && !lost_gen(l, g))
			bad("listed as damaged: %s", line);
		*ids = realloc(*ids, (n + 1) * sizeof(**ids));
		if (!*ids)
			die("realloc");
		(*ids)[n++] = g;
	}
	if (pclose(f))
		bad("snapper-tool list --store %s failed", store);
	return n;
}

/* Exports generation @g and checks it; sets its round and step key. */
static void check_gen(struct logged *l, uint64_t g, uint64_t *round, uint64_t *key)
{
	static uint64_t buf[PAGES * WORDS];
	char cmd[512], out[] = "/tmp/pcwork.XXXXXX";
	uint64_t r, v, c;
	bool busy;
	size_t i, wrong;
	int fd;

	*round = *key = 0;
	snprintf(cmd, sizeof(cmd), "snapper-tool verify --store %s --gen %" PRIu64
		 " >/dev/null", store, g);
	if (run(cmd))
		bad("generation %" PRIu64 " does not verify", g);
	fd = mkstemp(out);
	if (fd < 0)
		die("mkstemp");
	snprintf(cmd, sizeof(cmd), "snapper-tool export --store %s --gen %" PRIu64
		 " --range %#lx-%#lx --format raw -o %s", store, g, REGION,
		 REGION + PAGES * PG, out);
	if (run(cmd) || pread(fd, buf, sizeof(buf), 0) != sizeof(buf)) {
		bad("generation %" PRIu64 " does not export", g);
		goto out;
	}
	if (buf[0] != MAGIC || buf[1] == 0 || buf[1] >= 1024) {
		bad("generation %" PRIu64 ": no workload header (%#" PRIx64 " %" PRIu64 ")",
		    g, buf[0], buf[1]);
		goto out;
	}
	r = buf[1];
	v = buf[2];
	c = v / 2;
	busy = v & 1;
	for (i = 4; i < WORDS; i++)
		if (buf[i]) {
			bad("generation %" PRIu64 ": header page word %zu is %#" PRIx64,
			    g, i, buf[i]);
			break;
		}
	/* Logged before it was written: a later step cannot be in the store. */
	if (!l->max_step[r] || c + 1 > l->max_step[r])
		bad("generation %" PRIu64 " holds round %" PRIu64 " step %" PRIu64
		    " which the log never announced", g, r, c);
	for (i = 0; i < l->ngens; i++)
		if (l->gens[i].gen == g && (l->gens[i].round != r ||
					    l->gens[i].step != c || busy))
			bad("generation %" PRIu64 " holds round %" PRIu64 " step %"
			    PRIu64 "%s, logged as round %" PRIu64 " step %" PRIu64,
			    g, r, c, busy ? " (in progress)" : "",
			    l->gens[i].round, l->gens[i].step);
	wrong = check_region(buf, r, c, busy);
	if (wrong)
		bad("generation %" PRIu64 " (round %" PRIu64 " step %" PRIu64 "%s): %zu "
		    "pages differ from what the workload held", g, r, c,
		    busy ? " in progress" : "", wrong);
	printf("generation %" PRIu64 ": round %" PRIu64 " step %" PRIu64 "%s: %s\n",
	       g, r, c, busy ? " (in progress)" : "", wrong ? "WRONG" : "exact");
	*round = r;
	*key = busy ? 2 * c - 1 : 2 * c;
out:
	close(fd);
	unlink(out);
}

/*
 * `verify` of the whole store passes, or fails naming only files the log
 * says were damaged on purpose (a damaged pack header or footer costs no
 * page but stays reported while the pack lives).
 */
static void verify_all(const struct logged *l, const char *when)
{
	char cmd[512], line[1024], err[] = "/tmp/pcwork-verify.XXXXXX";
	bool other = false;
	size_t i;
	FILE *f;
	int fd;

	fd = mkstemp(err);
	if (fd < 0)
		die("mkstemp");
	close(fd);
	snprintf(cmd, sizeof(cmd), "snapper-tool verify --store %s >/dev/null 2>%s",
		 store, err);
	if (!run(cmd))
		goto out;
	f = fopen(err, "r");
	if (!f)
		die(err);
	while (fgets(line, sizeof(line), f)) {
		bool known = strstr(line, "failed check");

		for (i = 0; i < l->ndamaged && !known; i++)
			known = strstr(line, l->damaged[i]);
		if (!known) {
			other = true;
			printf("  verify: %s", line);
		}
	}
	fclose(f);
	if (other || !l->ndamaged)
		bad("snapper-tool verify --store %s failed%s", store, when);
	else
		printf("verify%s reports only files damaged on purpose\n", when);
out:
	unlink(err);
}

static int check(void)
{
	uint64_t *ids, *rounds, *keys, *after;
	struct logged l;
	struct stat st;
	char cmd[512];
	size_t n, n2, i, j, newer;

	read_log(&l);
	if (stat(store, &st)) {
		if (l.ngens)
			bad("%s is gone but the log has committed generations", store);
		printf("no store yet\n");
		return failures ? 1 : 0;
	}
	n = list_gens(&l, &ids);
	rounds = calloc(n + 1, sizeof(*rounds));
	keys = calloc(n + 1, sizeof(*keys));
	for (i = 0; i < n; i++)
		if (!lost_gen(&l, ids[i]))
			check_gen(&l, ids[i], &rounds[i], &keys[i]);
	/* Within a round, later generations hold later states. */
	for (i = 1; i < n; i++)
		for (j = 0; j < i; j++)
			if (rounds[j] == rounds[i] && keys[j] > keys[i])
				bad("generation %" PRIu64 " holds an older state than %"
				    PRIu64, ids[i], ids[j]);
	/* A committed generation is kept while retention has no reason to drop it. */
	for (i = 0; i < l.ngens; i++) {
		bool found = false;

		for (j = 0, newer = 0; j < n; j++) {
			found |= ids[j] == l.gens[i].gen;
			newer += ids[j] > l.gens[i].gen;
		}
		if (!found && newer < KEEP_MIN && !lost_gen(&l, l.gens[i].gen))
			bad("generation %" PRIu64 " was committed, is not listed, and "
			    "only %zu newer ones are", l.gens[i].gen, newer);
	}
	/* Whole-store check, then a writable open (recovery) that must lose nothing. */
	verify_all(&l, "");
	if (l.store_broken)
		repair_header(0);
	snprintf(cmd, sizeof(cmd), "snapper-tool purge --store %s --max-snapshots 0 "
		 "| grep -q 'removed 0 generations'", store);
	if (run(cmd))
		bad("a writable open with no retention did not leave every generation");
	n2 = list_gens(&l, &after);
	if (n2 != n || (n && memcmp(ids, after, n * sizeof(*ids))))
		bad("recovery changed the list of generations (%zu before, %zu after)",
		    n, n2);
	verify_all(&l, " after recovery");
	printf("%zu generations checked, %zu committed ones logged, %d failures\n",
	       n, l.ngens, failures);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *mode = "ckpt";
	uint64_t r = 0;
	int i;

	for (i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--store"))
			store = argv[i + 1];
		else if (!strcmp(argv[i], "--log"))
			logpath = argv[i + 1];
		else if (!strcmp(argv[i], "--round"))
			r = strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--mode"))
			mode = argv[i + 1];
	}
	if (argc < 2 || !store || !logpath) {
		fprintf(stderr, "usage: pcwork work|check --store DIR --log FILE "
			"[--round R --mode ckpt|purge|watch|damage]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "work") && r > 0 && r < 1024)
		return work(r, mode);
	if (!strcmp(argv[1], "check"))
		return check();
	fprintf(stderr, "pcwork: bad command or round\n");
	return 2;
}
