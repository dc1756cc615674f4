# SPDX-License-Identifier: GPL-2.0
# Shared by the suite runners: run one kselftest-harness program and reduce
# its outcome to one line, "RESULT <name> pass=N fail=N skip=N", that
# selftests/check adds up. A program that dies before printing its totals
# counts as one failure, so a crash can never read as success.

# Copies a harness program's output, with a comment line after each test's
# result that says how long the test took: the suite has a time budget.
ksft_timed() {
	local line t=$SECONDS
	# The last line may lack its newline (a program that died mid-line).
	while IFS= read -r line || [ -n "$line" ]; do
		printf '%s\n' "$line"
		case $line in
		"#  RUN "*) t=$SECONDS ;;
		"ok "*|"not ok "*) printf '# took %d s\n' $((SECONDS - t)) ;;
		esac
	done
}

# run_ksft NAME COMMAND [ARGS...]
run_ksft() {
	local name=$1 out rc totals pass fail skip t0=$SECONDS
	shift
	out=$(mktemp)
	"$@" 2>&1 | ksft_timed | tee "$out"
	rc=${PIPESTATUS[0]}
	totals=$(grep -aE '^# Totals: pass:[0-9]+ fail:[0-9]+' "$out" | tail -n 1)
	rm -f "$out"
	if [ -z "$totals" ]; then
		echo "RESULT $name pass=0 fail=1 skip=0 (exit $rc, no totals, $((SECONDS - t0)) s)"
		return
	fi
	[[ "$totals" =~ ^#\ Totals:\ pass:([0-9]+)\ fail:([0-9]+) ]]
	pass=${BASH_REMATCH[1]} fail=${BASH_REMATCH[2]}
	[[ "$totals" =~ \ skip:([0-9]+) ]] && skip=${BASH_REMATCH[1]} || skip=0
	# An error is a test that could not even run its checks.
	[[ "$totals" =~ \ error:([0-9]+) ]] && fail=$((fail + BASH_REMATCH[1]))
	# Totals that say all passed while the program failed: trust the exit.
	if [ "$fail" = 0 ] && [ "$rc" != 0 ] && [ "$rc" != 4 ]; then
		fail=1
	fi
	# The time lets a slow suite be found from the summary alone.
	echo "RESULT $name pass=$pass fail=$fail skip=$skip ($((SECONDS - t0)) s)"
}
