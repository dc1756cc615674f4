# SPDX-License-Identifier: GPL-2.0
#
# Everything but the module's own Kbuild: the tools, the module for any
# installed kernel, the tests, the demo. `make help` lists the targets.

VERSION := $(shell cat VERSION)
KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build
BUILD := build
# Outside the tree, so that later runs and fresh clones on this machine reuse
# what is expensive to make (the debug kernel).
SNAPPER_CACHE ?= /var/cache/snapper
export SNAPPER_CACHE

PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system

CC ?= cc
PKG_CONFIG ?= pkg-config
# Warnings are errors: the tree must build clean on Debian 12's gcc.
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -MMD -MP
CPPFLAGS += -Iuapi -DSNAPPER_TOOL_VERSION='"$(VERSION)"' -D_GNU_SOURCE
# Read with the Makefile, so right only in a make started after `make deps`
# installed libnl: the targets that install the packages first (demo, check,
# bench, stress) therefore build in a second make, never in the one that ran
# deps. A build without libnl stops at need_libnl, saying what to do.
NL_CFLAGS := $(shell $(PKG_CONFIG) --cflags libnl-genl-3.0 2>/dev/null)
NL_LIBS := $(shell $(PKG_CONFIG) --libs libnl-genl-3.0 2>/dev/null)
need_libnl = $(if $(NL_LIBS),,$(error libnl-genl-3.0 not found by $(PKG_CONFIG): run 'make deps' first))

ifeq ($(V),1)
Q :=
quiet = @true
else
Q := @
quiet = @printf '  %-8s %s\n'
endif

TOOL := tools/snapper-tool
TOOL_SRCS := $(wildcard tools/*.c)
TOOL_OBJS := $(TOOL_SRCS:%.c=$(BUILD)/%.o)
# The store library: no netlink in it, so host tests link it alone.
STORE_LIB := $(BUILD)/libsnapper-store.a
STORE_SRCS := $(wildcard tools/store/*.c)
STORE_OBJS := $(STORE_SRCS:%.c=$(BUILD)/%.o)
LIBS := -lxxhash -llz4
# libsnapper: persistent memory for applications, one archive with the
# store and genl code it needs; examples/ are programs built on it.
LIBSNAPPER := $(BUILD)/libsnapper.a
LIBSNAPPER_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/libsnapper/*.c))
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))

# kselftest-harness programs: host/ runs on this machine, guest/ in qemu.
HOST_TESTS := $(patsubst selftests/host/%.c,$(BUILD)/selftests/host/%,$(wildcard selftests/host/*.c))
GUEST_TESTS := $(patsubst selftests/guest/%.c,$(BUILD)/selftests/guest/%,$(wildcard selftests/guest/*.c))

# The kselftest harness headers come from the installed Debian kernel source
# package at build time; the project does not carry a copy. One word is
# changed: TEST_F's wrapper sets `child` (fork()'s result) after its
# setjmp() and reads it after a failed ASSERT longjmp()s back, so gcc may
# keep it in a register that longjmp() restores to its value before the
# fork: at -O1 and above the test's process then takes itself for the
# parent and the fixture's teardown never runs (a failed test left its
# swap files, cgroups and knobs to the tests after it). C wants such a
# local volatile (C11 7.13.2.1); selftests/host/harness.c checks that a
# teardown runs after a failed ASSERT.
KSFT_SRC := /usr/src/linux-source-6.12.tar.xz
KSFT_DIR := $(BUILD)/kselftest
KSFT_HDRS := $(KSFT_DIR)/kselftest_harness.h $(KSFT_DIR)/kselftest.h

.PHONY: all tools module modules deps check host-tests guest-tests demo docs \
	dkms-src dkms-install dkms-uninstall bench bench-store install uninstall \
	debug-kernel kselftest-headers clean help
.DEFAULT_GOAL := all

all: tools
	$(Q)if [ -d $(KDIR) ]; then $(MAKE) --no-print-directory module; \
	else echo "  SKIP     module: no headers for $(KVER) at $(KDIR) (make module KVER=...)"; fi

help:
	@echo "make                the tools, and the module for the running kernel"
	@echo "make module KVER=V  the module for installed kernel V (or KDIR=tree)"
	@echo "make deps           install every Debian package the project needs"
	@echo "make check          host tests, then every guest suite on 6.1, 6.12, debug"
	@echo "make demo           the main job end to end in a qemu guest"
	@echo "make debug-kernel   build the KUnit/lockdep/KASAN kernel (cached)"
	@echo "make docs           the HTML documentation, into build/docs"
	@echo "make bench          snapper against CRIU and dd: bench/results.json"
	@echo "make bench-store    the store's commits against dd, on this machine"
	@echo "make install        snapper-tool, man page, completion, systemd unit"
	@echo "                    (PREFIX, DESTDIR, SBINDIR, MANDIR, BASHCOMPDIR)"
	@echo "make dkms-install   the module through DKMS, for every installed kernel"

tools: $(TOOL) $(LIBSNAPPER) $(EXAMPLES)

# libnl and libxxhash are linked statically into the tool (libc stays
# shared): every checkpoint is one exec, and in the 6.1 guest resolving
# the shared libnl took 180 of the 240 ms that `snapper-tool --help` took
# (58 ms linked so), more than the rest of an empty incremental checkpoint.
$(TOOL): $(TOOL_OBJS) $(STORE_LIB)
	$(quiet) LD $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -Wl,-Bstatic $(NL_LIBS) $(LIBS) \
		-Wl,-Bdynamic -lpthread

$(BUILD)/tools/%.o: tools/%.c
	$(need_libnl)
	$(quiet) CC $@
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(NL_CFLAGS) $(CFLAGS) -c -o $@ $<

# The scalar build of the page hash (tools/store/hash.c) kept out of gcc's
# vectoriser, which turns it into SSE2, the slow kind under TCG, and
# unrolled: 2 to 3 times the speed in the project's guests. Its flags are
# here, so a build tree made before them builds it again.
$(BUILD)/tools/store/hash.o: CFLAGS += -fno-tree-vectorize -funroll-loops
$(BUILD)/tools/store/hash.o: Makefile

$(STORE_LIB): $(STORE_OBJS)
	$(quiet) AR $@
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBSNAPPER): $(LIBSNAPPER_OBJS) $(BUILD)/tools/genl.o $(BUILD)/tools/ckpt.o \
		$(BUILD)/tools/pageq.o $(BUILD)/tools/procsrc.o $(BUILD)/tools/threads.o \
		$(STORE_OBJS)
	$(quiet) AR $@
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/examples/%: examples/%.c $(LIBSNAPPER)
	$(quiet) CC $@
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) -Itools/libsnapper $(CFLAGS) -o $@ $< $(LIBSNAPPER) $(NL_LIBS) $(LIBS) -lpthread

TEST_CPPFLAGS := -I$(KSFT_DIR) -Itools
$(BUILD)/selftests/host/%: selftests/host/%.c $(STORE_LIB) | $(KSFT_HDRS)
	$(quiet) CC $@
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(TEST_CPPFLAGS) $(CFLAGS) -o $@ $< $(filter %.o,$^) $(STORE_LIB) $(LIBS) -lpthread

# The page queue's test runs the tools' queue against a real store.
$(BUILD)/selftests/host/pageq: $(BUILD)/tools/pageq.o

# Guest tests talk to the module through the tools' own genl.c, and the
# differential oracle reads generations through the store library.
$(BUILD)/selftests/guest/%: selftests/guest/%.c $(BUILD)/tools/genl.o $(STORE_LIB) | $(KSFT_HDRS)
	$(quiet) CC $@
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(TEST_CPPFLAGS) $(NL_CFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/tools/genl.o $(STORE_LIB) $(NL_LIBS) $(LIBS) -lpthread

# Programs the host tests run, not tests of their own.
HOST_PROBES := $(patsubst selftests/host/probes/%.c,$(BUILD)/selftests/host/probes/%,$(wildcard selftests/host/probes/*.c))
$(BUILD)/selftests/host/probes/%: selftests/host/probes/%.c | $(KSFT_HDRS)
	$(quiet) CC $@
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(TEST_CPPFLAGS) $(CFLAGS) -o $@ $<

host-tests: $(HOST_TESTS) $(HOST_PROBES)
guest-tests: tools $(GUEST_TESTS)

# The module is built out of tree, one directory per kernel, from a farm of
# links to the sources, so that builds for several kernels do not collide.
MODDIR := $(BUILD)/modules/$(KVER)
module:
	$(quiet) MODULE $(MODDIR)/kmod/snapper.ko
	$(Q)mkdir -p $(MODDIR)/kmod/tests
	$(Q)for f in Kbuild VERSION uapi; do ln -sfn $(CURDIR)/$$f $(MODDIR)/$$f; done
	$(Q)for f in kmod/* kmod/tests/*; do [ -f $$f ] && ln -sfn $(CURDIR)/$$f $(MODDIR)/$$f; done; true
	$(Q)$(MAKE) --no-print-directory -C $(KDIR) M=$(CURDIR)/$(MODDIR) \
		$(if $(filter 1,$(V)),,-s) modules 2>&1 | \
		{ grep -v '^Skipping BTF generation' || true; }; \
		test -f $(MODDIR)/kmod/snapper.ko

kselftest-headers: $(KSFT_HDRS)
$(KSFT_HDRS) &: Makefile
	$(quiet) EXTRACT $(KSFT_DIR)
	$(Q)test -f $(KSFT_SRC) || { echo "$(KSFT_SRC) is missing: run 'make deps'" >&2; exit 1; }
	$(Q)mkdir -p $(KSFT_DIR)
	$(Q)tar -xJf $(KSFT_SRC) -C $(KSFT_DIR) --strip-components=4 \
		linux-source-6.12/tools/testing/selftests/kselftest_harness.h \
		linux-source-6.12/tools/testing/selftests/kselftest.h
	$(Q)sed -i 's/^\(\t\t\)pid_t child = 1; \\$$/\1volatile pid_t child = 1; \\/' \
		$(KSFT_DIR)/kselftest_harness.h
	$(Q)grep -q 'volatile pid_t child = 1;' $(KSFT_DIR)/kselftest_harness.h || \
		{ echo "$(KSFT_SRC): TEST_F's child not found: see KSFT_HDRS in the Makefile" >&2; \
		  rm -f $(KSFT_HDRS); exit 1; }
	$(Q)touch $(KSFT_HDRS)

# Debian 12 packages. The kernel meta packages follow Debian's point and
# security releases of the 6.1 and 6.12 series, which move the ABI (6.1.0-56
# became 6.1.0-57); selftests/qemu/kernel finds the newest installed kernel
# of a series with its headers, the one the harness boots, so a new ABI
# needs no change here. When a series has none (an ABI half removed), deps
# installs the meta packages again, at the ABI the archive serves now.
# A minimal install (required and important packages) lacks file (the
# harness's initramfs) and man (selftests/install): they are listed too.
KERNEL_DEPS := linux-headers-amd64 linux-image-amd64 \
	linux-headers-6.12-amd64 linux-image-6.12-amd64
DEPS := build-essential pkg-config kmod cpio xz-utils file man-db bc bison flex \
	libelf-dev libssl-dev dwarves python3 $(KERNEL_DEPS) linux-source-6.12 \
	qemu-system-x86 busybox-static e2fsprogs criu iproute2 dkms dmsetup \
	libnl-3-dev libnl-genl-3-dev libxxhash-dev liblz4-dev python3-sphinx gnuplot-nox \
	clang libclang-rt-14-dev gdb python3-yaml python3-jsonschema redis-server \
	postgresql-15

deps:
	$(Q)ok=" $$(dpkg-query -W -f='$${db:Status-Abbrev} $${Package}\n' $(DEPS) 2>/dev/null | \
		awk '$$1 == "ii" { printf "%s ", $$2 }')"; \
	missing=; \
	for p in $(DEPS); do \
		case "$$ok" in *" $$p "*) ;; *) missing="$$missing $$p" ;; esac; \
	done; \
	for s in 6.1 6.12; do \
		selftests/qemu/kernel $$s >/dev/null || \
		missing=$$(echo $$missing $(KERNEL_DEPS) | tr ' ' '\n' | awk '!seen[$$0]++'); \
	done; \
	if [ -n "$$missing" ]; then \
		echo "  DEPS     installing (minutes; log in $(BUILD).deps.log):" $$missing; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q >$(BUILD).deps.log 2>&1 && \
		apt-get install -y -q --no-install-recommends $$missing >>$(BUILD).deps.log 2>&1 || \
		{ tail -20 $(BUILD).deps.log; exit 1; }; \
	fi
	$(Q)k61=$$(selftests/qemu/kernel 6.1) && k612=$$(selftests/qemu/kernel 6.12) || \
		{ echo "make deps: no 6.1 or no 6.12 kernel with headers after installing $(KERNEL_DEPS)" >&2; exit 1; }; \
	echo "  DEPS     kernels the harness boots: $$k61 $$k612"

INSTALLED := $(SBINDIR)/snapper-tool $(MANDIR)/man8/snapper-tool.8 \
	$(BASHCOMPDIR)/snapper-tool $(SYSTEMDUNITDIR)/snapper-watch@.service

install: tools
	$(quiet) INSTALL $(DESTDIR)$(PREFIX)
	$(Q)install -D -m 0755 $(TOOL) $(DESTDIR)$(SBINDIR)/snapper-tool
	$(Q)install -d $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSTEMDUNITDIR)
	$(Q)sed 's/@VERSION@/$(VERSION)/' Documentation/man/snapper-tool.8 \
		> $(DESTDIR)$(MANDIR)/man8/snapper-tool.8
	$(Q)install -D -m 0644 tools/completion/snapper-tool.bash \
		$(DESTDIR)$(BASHCOMPDIR)/snapper-tool
	$(Q)sed 's|@BINDIR@|$(SBINDIR)|' tools/systemd/snapper-watch@.service \
		> $(DESTDIR)$(SYSTEMDUNITDIR)/snapper-watch@.service

uninstall:
	$(Q)rm -f $(addprefix $(DESTDIR),$(INSTALLED))

# DKMS: the module's sources under /usr/src, built and installed for every
# installed kernel that has headers, and again by DKMS for new kernels.
DKMS_SRC = $(DESTDIR)/usr/src/snapper-$(VERSION)
dkms-src:
	$(Q)rm -rf $(DKMS_SRC) && mkdir -p $(DKMS_SRC)/kmod/tests $(DKMS_SRC)/uapi/linux
	$(Q)cp Kbuild VERSION $(DKMS_SRC)/
	$(Q)cp kmod/Kbuild kmod/*.[ch] $(DKMS_SRC)/kmod/
	$(Q)cp kmod/tests/*.h $(DKMS_SRC)/kmod/tests/ 2>/dev/null || true
	$(Q)cp uapi/linux/snapper.h $(DKMS_SRC)/uapi/linux/
	$(Q)sed 's/@VERSION@/$(VERSION)/' dkms.conf > $(DKMS_SRC)/dkms.conf

# One line per kernel; a kernel the module cannot serve (dkms.conf's
# BUILD_EXCLUSIVE_*: exit 77) is skipped with a reason, any other failure
# fails the target after every kernel was tried.
dkms-install: dkms-src
	$(Q)dkms add -m snapper -v $(VERSION) >/dev/null 2>&1 || true
	$(Q)fail=0; for k in $$(ls /lib/modules); do \
		if [ ! -d /lib/modules/$$k/build ]; then \
			echo "  SKIP     $$k: no headers"; continue; fi; \
		dkms install -m snapper -v $(VERSION) -k $$k; rc=$$?; \
		if [ $$rc = 0 ]; then echo "  OK       $$k"; \
		elif [ $$rc = 77 ]; then echo "  SKIP     $$k: not x86-64, or no CONFIG_MEM_SOFT_DIRTY or CONFIG_TRANSPARENT_HUGEPAGE"; \
		else echo "  FAIL     $$k (dkms exit $$rc)"; fail=1; fi; \
	done; exit $$fail

dkms-uninstall:
	$(Q)dkms remove -m snapper -v $(VERSION) --all 2>/dev/null || true
	$(Q)rm -rf $(DKMS_SRC)

# Benchmarks: in a 6.1 guest (CRIU runs there), on an ext4 disk big enough
# for every contender's images of the largest workload.
$(BUILD)/bench/workload: bench/workload.c
	$(quiet) CC $@
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< -lpthread

$(BUILD)/bench/store: bench/store.c $(STORE_LIB)
	$(quiet) CC $@
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) -Itools $(CFLAGS) -o $@ $< $(STORE_LIB) $(LIBS)

# The store alone, on this machine's filesystem: BENCH_STORE_MIB, BENCH_STORE_DIR.
bench-store: $(BUILD)/bench/store
	$(Q)$(BUILD)/bench/store $(or $(BENCH_STORE_MIB),1024) $(or $(BENCH_STORE_DIR),/var/tmp)

# Targets that need the packages: deps first, then a second make, which
# reads this Makefile again with the packages installed (NL_CFLAGS).
bench: deps
	$(Q)$(MAKE) --no-print-directory tools $(BUILD)/bench/workload
	$(Q)selftests/qemu/run --kernel 6.1 --mem 6144 --disk-mb 8192 --timeout 5400 -- \
		env BENCH_SERIES="random threads dupzero restore compress" bench/run
	$(Q)selftests/qemu/run --kernel 6.1 --icount 0 --mem 3072 --disk-mb 4096 --timeout 3600 -- \
		env BENCH_SERIES=slowdown BENCH_APPEND=1 bench/run
	$(Q)bench/report $(BUILD)/bench/records.jsonl bench

docs:
	$(quiet) SPHINX build/docs
	$(Q)sphinx-build -W -q -b html Documentation $(BUILD)/docs

debug-kernel:
	$(Q)selftests/debug-kernel/build

# selftests/check builds in makes of its own, started after deps.
check: deps
	$(Q)selftests/check

demo: deps
	$(Q)$(MAKE) --no-print-directory tools
	$(Q)selftests/qemu/run --kernel 6.12 -- tools/demo.sh

# Power cuts only, longer than make check's 12 rounds (seed printed;
# selftests/powercut/run --seed S replays a run).
.PHONY: stress
STRESS_ROUNDS ?= 100
stress: deps
	$(Q)$(MAKE) --no-print-directory tools
	$(Q)selftests/powercut/run --rounds $(STRESS_ROUNDS)

clean:
	rm -rf $(BUILD) $(TOOL) $(BUILD).deps.log
	rm -f kmod/*.o kmod/*.ko kmod/*.mod kmod/*.mod.c kmod/.*.cmd \
		kmod/modules.order Module.symvers modules.order .*.cmd

-include $(TOOL_OBJS:.o=.d) $(STORE_OBJS:.o=.d) $(LIBSNAPPER_OBJS:.o=.d) $(EXAMPLES:=.d) $(HOST_TESTS:=.d) $(HOST_PROBES:=.d) $(GUEST_TESTS:=.d)
