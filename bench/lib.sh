# SPDX-License-Identifier: GPL-2.0
# Sourced by the bench scripts.

# now_us VAR: the wall clock in microseconds, into VAR, without a process.
# The old "t0=$(now_us)" forked a subshell that ran date(1): under TCG
# one call took 100 to 135 ms, and 70 to 150 ms of the two calls around
# an interval fell inside it (the fork and exec before the last clock
# read, the exits after the first), the same for every contender, which
# pulled the ratios of short steps towards 1 (Documentation/benchmarks.rst,
# 2026-12-03).
now_us() {
	local t=${EPOCHREALTIME//[!0-9]/}

	printf -v "$1" '%s' "$t"
}
