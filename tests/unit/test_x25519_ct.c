/* test_x25519_ct.c - x25519.c takes no branch and reads no address that
 * depends on a secret. Run under valgrind: the private keys are marked
 * undefined, so any jump or memory index computed from them is reported
 * (exit 1); the results are marked defined again before they are checked.
 * Built like stud (-O2, no sanitizer), since the compiler decides. */
#include <string.h>

#include <openssl/rand.h>
#include <valgrind/memcheck.h>

#include "x25519.h"
#include "unit.h"

int
main(void)
{
	uint8_t a[32], b[32], pa[32], pb[32], s1[32], s2[32], s3[32];
	uint8_t zero[32] = { 0 };
	int r1, r2, r3;

	CHECK(x25519_init() == 0);
	CHECK(RUNNING_ON_VALGRIND);	/* otherwise nothing was tested */
	for (int n = 0; n < 4; n++) {
		RAND_bytes(a, 32);
		RAND_bytes(b, 32);
		VALGRIND_MAKE_MEM_UNDEFINED(a, 32);
		VALGRIND_MAKE_MEM_UNDEFINED(b, 32);
		x25519_public(pa, a);
		x25519_public(pb, b);
		/* public keys are public: the peer's is an input, not a secret */
		VALGRIND_MAKE_MEM_DEFINED(pa, 32);
		VALGRIND_MAKE_MEM_DEFINED(pb, 32);
		r1 = x25519_shared(s1, a, pb);
		r2 = x25519_shared(s2, b, pa);
		r3 = x25519_shared(s3, a, zero);	/* small order: refused */
		VALGRIND_MAKE_MEM_DEFINED(&r1, sizeof(r1));
		VALGRIND_MAKE_MEM_DEFINED(&r2, sizeof(r2));
		VALGRIND_MAKE_MEM_DEFINED(&r3, sizeof(r3));
		CHECK(r1 == 0 && r2 == 0 && r3 == -1);
		VALGRIND_MAKE_MEM_DEFINED(s1, 32);
		VALGRIND_MAKE_MEM_DEFINED(s2, 32);
		CHECK(memcmp(s1, s2, 32) == 0);
	}
	return unit_summary();
}
