#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make demo runs this inside a qemu guest (selftests/qemu/run), with the
# module loaded and a fresh ext4 disk at $SNAPPER_SCRATCH.
set -euo pipefail

step() { printf '\n== %s\n' "$*"; }

step "The guest: $(uname -r), module file ${SNAPPER_KO##*/}"
grep '^snapper ' /proc/modules

step "snapper-tool version"
snapper-tool version

step "snapper-tool config (the knobs, read over generic netlink)"
snapper-tool config

step "Knobs are module parameters: set threshold=4096 through sysfs"
echo 4096 > /sys/module/snapper/parameters/threshold
snapper-tool config | grep threshold

step "A bad value is refused and the old one kept"
if echo 7 > /sys/module/snapper/parameters/threshold 2>/dev/null; then
	echo "threshold=7 was accepted: that is a bug" >&2
	exit 1
fi
echo "threshold=7 refused: $(cat /sys/module/snapper/parameters/threshold) kept"
