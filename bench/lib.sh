# SPDX-License-Identifier: GPL-2.0
# Sourced by the bench scripts.

# now_us VAR: the wall clock in microseconds, into VAR, without a process.
# The old "t0=$(now_us)" forked a subshell that ran date(1): under TCG
# that put some 60 ms (fork, exec, exit) into every interval timed, the
# same for every contender, which pulled the ratios of short steps
# towards 1 (Documentation/benchmarks.rst, 2026-12-03).
now_us() {
	local t=${EPOCHREALTIME//[!0-9]/}

	printf -v "$1" '%s' "$t"
}
