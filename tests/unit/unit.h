/* unit.h - the smallest test runner: CHECK() counts, unit_summary() prints
 * "N passed, N failed" and gives the exit status. */
#ifndef STUD_UNIT_H
#define STUD_UNIT_H

#include <stdio.h>

static int unit_passed, unit_failed;

/* Count one check; on failure print where it failed and the expression. */
#define CHECK(cond) do {                                                     \
	if (cond) {                                                          \
		unit_passed++;                                               \
	} else {                                                             \
		unit_failed++;                                               \
		fprintf(stderr, "%s:%d: check failed: %s\n",                 \
		    __FILE__, __LINE__, #cond);                              \
	}                                                                    \
} while (0)

/* Print the closing line and return the process exit status. */
static inline int
unit_summary(void)
{
	printf("%d passed, %d failed\n", unit_passed, unit_failed);
	return unit_failed ? 1 : 0;
}

#endif /* STUD_UNIT_H */
