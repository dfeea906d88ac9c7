/* fuzz_resume.c - libFuzzer harness for resume.c's ClientHello reader and
 * its check of the client's Finished.
 *
 * resume_parse_hello() runs on an exact-size heap copy of the input. A
 * hello it takes must lie inside the input (record, session ID, suites),
 * fill it exactly, and read as "need more" at every shorter prefix of at
 * least a record header; resume_hello_offers() then scans its suites. The
 * same bytes go to resume_client_finished() with keys derived from a fixed
 * master secret: garbage is refused or waited for, never taken. */
#include <stdint.h>
#include <string.h>

#include "record.h"
#include "resume.h"
#include "fuzz.h"

static int		 ready;
static struct rec_state	 keys;

static void
setup(void)
{
	unsigned char master[48], cr[32], sr[32];

	CHECK(rec_init() == 0);
	memset(master, 0x42, sizeof(master));
	memset(cr, 1, sizeof(cr));
	memset(sr, 2, sizeof(sr));
	CHECK(rec_start12(&keys, REC_AES_128_GCM, 0, master, cr, sr) == 0);
	ready = 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char fin[12];
	struct resume_hello h;
	struct rec_state rs;
	unsigned char *p;
	long r;
	size_t i;

	if (!ready)
		setup();
	p = dup_exact(data, size);
	r = resume_parse_hello(p, size, &h);
	CHECK(r == RESUME_OK || r == RESUME_MORE || r == RESUME_NO);
	if (r == RESUME_OK) {
		CHECK(h.reclen == size && h.msg == p + 5 && h.msglen + 5 == size);
		CHECK(h.random >= p && h.random + 32 <= p + size);
		CHECK(h.sidlen >= 1 && h.sidlen <= 32 && h.sid > h.random &&
		    h.sid + h.sidlen <= p + size);
		CHECK(h.suiteslen >= 2 && h.suiteslen % 2 == 0 &&
		    h.suites + h.suiteslen <= p + size);
		CHECK(resume_hello_offers(&h, (unsigned)h.suites[0] << 8 |
		    h.suites[1]));
		for (i = 5; i < size; i++) {
			struct resume_hello h2;

			CHECK(resume_parse_hello(p, i, &h2) == RESUME_MORE);
		}
	}
	rs = keys;
	r = resume_client_finished(&rs, fin, p, size);
	CHECK(r <= 0);
	free(p);
	return 0;
}
