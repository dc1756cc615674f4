/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Included by every guest test after kselftest_harness.h: multiplies each
 * test's timeout by $SNAPPER_TIMEOUT_SCALE. The same test takes several
 * times longer on the debug kernel (KASAN, lockdep) or a loaded host than
 * on an idle one, and the harness's 30 s default would kill it half way,
 * possibly with the module unloaded. guest-suite sets the scale per kernel.
 */
#ifndef SNAPPER_GUEST_TIMEOUTS_H
#define SNAPPER_GUEST_TIMEOUTS_H

#include <stdlib.h>

/* Runs after the harness's own constructors have registered every test. */
static void __attribute__((constructor(KSELFTEST_PRIO_TEST + 1)))
scale_timeouts(void)
{
	const char *env = getenv("SNAPPER_TIMEOUT_SCALE");
	int scale = env ? atoi(env) : 1;
	struct __fixture_metadata *f;
	struct __test_metadata *t;

	if (scale <= 1 || scale > 100)
		return;
	for (f = __fixture_list; f; f = f->next)
		for (t = f->tests; t; t = t->next)
			t->timeout *= scale;
}

#endif /* SNAPPER_GUEST_TIMEOUTS_H */
