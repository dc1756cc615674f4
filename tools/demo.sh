#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make demo runs this inside a qemu guest (selftests/qemu/run), with the
# module loaded and a fresh ext4 disk at $SNAPPER_SCRATCH: a persistent
# counter (examples/counter.c, built on libsnapper) is watched, killed with
# SIGKILL, started again, and carries on from its last generation; then
# the store is listed, verified, diffed, restored from and opened in gdb.
set -euo pipefail

step() { printf '\n== %s\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

counter=build/examples/counter
store=$SNAPPER_SCRATCH/counter
region=0x7e5000000000		# examples/counter.c: REGION_ADDR
work=$SNAPPER_SCRATCH/demo-work
mkdir -p "$work"
[ -x "$counter" ] || die "$counter is not built (make tools)"

# Waits up to $3 seconds for file $1 to have ${4:-1} lines matching $2.
wait_for() {
	local end=$((SECONDS + $3))
	until [ "$(grep -c -- "$2" "$1" 2>/dev/null)" -ge "${4:-1}" ]; do
		[ $SECONDS -lt $end ] || die "no ${4:-1} '$2' in $1 after $3 s: $(cat "$1")"
		sleep 0.2
	done
}

# The counter's count in generation $1, read from the store itself.
count_in() {
	rm -f "$work/page"
	snapper-tool export --store "$store" --gen "$1" \
		--range $region-$(printf %x $((region + 4096))) --format raw \
		-o "$work/page"
	od -A n -t u8 -j 8 -N 8 "$work/page" | tr -d ' '
}

step "The guest: $(uname -r), module ${SNAPPER_KO##*/} loaded"
grep '^snapper ' /proc/modules
snapper-tool version
snapper-tool config | grep -E 'max_snapshots|integrity'

step "Knobs are validated module parameters: threshold=7 is refused"
if echo 7 > /sys/module/snapper/parameters/threshold 2>/dev/null; then
	die "threshold=7 was accepted"
fi
echo "kept threshold=$(cat /sys/module/snapper/parameters/threshold)"

step "Start the persistent counter; it checkpoints itself every 20 steps"
"$counter" --store "$store" --every 20 --delay-ms 50 > "$work/run1" 2>&1 &
cpid=$!
wait_for "$work/run1" "a fresh start" 30
cat "$work/run1"

step "snapper-tool watch: one more checkpoint every second, same store"
snapper-tool watch --store "$store" --interval 1s "$cpid" > "$work/watch" 2>&1 &
wpid=$!
wait_for "$work/watch" " generation " 120 3
wait_for "$work/run1" "count 60 saved" 120

step "kill -9 the counter"
kill -KILL "$cpid"
wait "$cpid" 2>/dev/null || true
killed_at=$(grep -o 'count [0-9]* saved' "$work/run1" | tail -n 1 | cut -d' ' -f2)
echo "its own output ended with:"
tail -n 3 "$work/run1"
wait "$wpid" || die "watch did not exit 0 when its target died"
echo "the watch saw it go:"
cat "$work/watch"

step "snapper-tool list: every generation, the counter's and the watch's"
snapper-tool list --store "$store"
first=$(snapper-tool list --store "$store" | awk 'NR == 1 { print $1 }')
newest=$(snapper-tool list --store "$store" | awk 'END { print $1 }')
stored=$(count_in "$newest")
echo "generation $newest holds count $stored (read from the store at $region)"

step "Start it again: it carries on from generation $newest"
"$counter" --store "$store" --steps 20 --every 10 --delay-ms 20 > "$work/run2" 2>&1
cat "$work/run2"
grep -q "resumed from generation $newest at count $stored " "$work/run2" ||
	die "the counter did not resume from generation $newest at count $stored"
resumed=$newest
newest=$(snapper-tool list --store "$store" | awk 'END { print $1 }')

step "snapper-tool verify: every manifest and stored page, hashed again"
snapper-tool verify --store "$store"

step "snapper-tool diff $((newest - 1)) $newest: the last checkpoint, page by page"
snapper-tool diff --store "$store" $((newest - 1)) "$newest"

step "snapper-tool show: the newest generation"
snapper-tool show --store "$store" | sed -n 1,7p

step "snapper-tool restore: a running counter set back to generation $first"
"$counter" --store "$store" --every 1000 --delay-ms 20 > "$work/run3" 2>&1 &
cpid=$!
wait_for "$work/run3" "resumed from generation" 60
live() {	# the running counter's count, read from its memory
	dd if=/proc/$cpid/mem of="$work/live" bs=4096 skip=$((region / 4096)) \
		count=1 2>/dev/null
	od -A n -t u8 -j 8 -N 8 "$work/live" | tr -d ' '
}
back=$(count_in "$first")
echo "running at count $(live); generation $first holds count $back"
snapper-tool restore --store "$store" --gen "$first" --pid "$cpid" \
	--range $region-$(printf %x $((region + 0x100000)))
echo "running at count $(live) just after the restore"
sleep 0.5
echo "running at count $(live) half a second later"
kill -KILL "$cpid"
wait "$cpid" 2>/dev/null || true

step "snapper-tool export --format core: the newest generation in gdb"
snapper-tool export --store "$store" --format core -o "$work/counter.core"
gdb -nx -batch -c "$work/counter.core" -ex "x/4gx $region" \
	-ex "print *(unsigned long *)($region + 8)" 2>/dev/null |
	grep -E "^($(printf '%#x' $region)|\\$)" | tee "$work/gdb"
grep -q "= $(count_in "$newest")\$" "$work/gdb" ||
	die "gdb does not read the count generation $newest holds"

ngen=$(snapper-tool list --store "$store" | wc -l)
step "Summary"
cat <<EOF
The counter saved count $killed_at itself, then was killed with SIGKILL.
Started again, it came back from generation $resumed (the newest, by the
counter or the watch, whichever was last) at count $stored, exactly what
the store held, and counted on. $ngen generations are kept, every hash
verified. restore set a running counter back to generation $first (count
$back) and it went on counting; gdb read generation $newest as a core file.
Store: $(du -sh "$store" | cut -f1) on ext4 at $store.
EOF
rm -rf "$work"
