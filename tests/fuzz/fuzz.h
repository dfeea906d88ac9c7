/* fuzz.h - shared by every libFuzzer harness: CHECK(), which aborts (a
 * finding), the entry point's prototype, and exact-size heap copies that
 * let ASan see any read past the input. */
#ifndef FUZZ_FUZZ_H
#define FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: check failed: %s\n", \
	__FILE__, __LINE__, #c); abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A malloc'd copy of p[0..n) exactly n bytes long (1 if n is 0). */
static inline unsigned char *
dup_exact(const void *p, size_t n)
{
	unsigned char *c = malloc(n ? n : 1);

	CHECK(c != NULL);
	if (n)
		memcpy(c, p, n);
	return c;
}

#endif /* FUZZ_FUZZ_H */
