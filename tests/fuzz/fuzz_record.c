/* fuzz_record.c - libFuzzer harness for record.c.
 *
 * Two record states face each other (a's write keys are b's read keys).
 * Byte 0 picks the AEAD (low bits) and TLS 1.2 or 1.3 (bit 2); then each
 * op is one byte:
 *   0: seal input-chosen bytes (length from 2 bytes, type from 1) with a,
 *      open with b: a record of type alert, handshake or application data
 *      comes back byte for byte with its type; any other type is refused;
 *   1: frame and open input bytes as a record (a forgery): never accepted,
 *      and b's sequence number does not move;
 *   2: rec_handshake() on a copy of b with input bytes (any result);
 *   3: TLS 1.3 KeyUpdate from a, opened and taken by b: both move on and
 *      still agree.
 * Every buffer is heap-allocated at its exact size for ASan. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "fuzz.h"

static void
make_pair(struct rec_state *a, struct rec_state *b, unsigned sel)
{
	unsigned char master[48], cr[32], sr[32];
	enum rec_aead aead = (enum rec_aead)(sel % 3);

	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	if (sel & 4) {
		memset(a->rd.secret, 0x11, sizeof(a->rd.secret));
		memset(a->wr.secret, 0x22, sizeof(a->wr.secret));
		memcpy(b->rd.secret, a->wr.secret, sizeof(b->rd.secret));
		memcpy(b->wr.secret, a->rd.secret, sizeof(b->wr.secret));
		CHECK(rec_start13(a, aead, (sel & 8) != 0) == 0);
		CHECK(rec_start13(b, aead, (sel & 8) != 0) == 0);
		return;
	}
	/* TLS 1.2: b is a server, a the client, so swap a's directions */
	memset(master, 0x33, sizeof(master));
	memset(cr, 0x44, sizeof(cr));
	memset(sr, 0x55, sizeof(sr));
	CHECK(rec_start12(a, aead, (sel & 8) != 0, master, cr, sr) == 0);
	CHECK(rec_start12(b, aead, (sel & 8) != 0, master, cr, sr) == 0);
	{
		struct rec_dir t = a->rd;

		a->rd = a->wr;
		a->wr = t;
	}
}

/* Seal n bytes of type with a and open with b. A record b did not open
 * is as if never sent: a's sequence number goes back, so the two stay in
 * step. */
static void
round_trip(struct rec_state *a, struct rec_state *b, unsigned type,
    const uint8_t *p, size_t n)
{
	size_t hl = rec_head_len(a), reclen;
	unsigned char *rec = malloc(hl + n + REC_TAIL_MAX), *out, *exact;
	int valid = type >= REC_ALERT && type <= REC_APPDATA;
	uint64_t seq = b->rd.seq;
	unsigned got;
	long r, f, len = -1;

	CHECK(rec != NULL);
	memcpy(rec + hl, p, n);
	r = rec_seal(a, type, rec, n);
	CHECK(r > 0);
	reclen = (size_t)r;
	f = rec_frame(rec, reclen);
	CHECK(rec_frame(rec, reclen - 1) <= 0);
	out = malloc(REC_OPEN_ROOM);
	CHECK(out != NULL);
	if (f > 0) {
		CHECK(f == r);
		exact = dup_exact(rec, reclen);
		len = rec_open(b, exact, reclen, out, &got);
		free(exact);
	} else
		CHECK(a->version == REC_TLS12 && !valid);
	if (valid) {
		CHECK(len == (long)n && got == type);
		CHECK(memcmp(out, p, n) == 0);
	} else if (a->version == REC_TLS12 || type != 0)
		CHECK(len < 0);
	if (b->rd.seq == seq)
		a->wr.seq--;
	free(out);
	free(rec);
}

static void
forgery(struct rec_state *b, const uint8_t *p, size_t n)
{
	unsigned char *rec = dup_exact(p, n), *out = malloc(REC_OPEN_ROOM);
	uint64_t seq = b->rd.seq;
	unsigned type;
	long f = rec_frame(rec, n);

	CHECK(out != NULL);
	CHECK(f <= (long)n);
	if (f > 0) {
		CHECK(rec_open(b, rec, (size_t)f, out, &type) < 0);
		CHECK(b->rd.seq == seq);
	}
	free(out);
	free(rec);
}

static void
key_update(struct rec_state *a, struct rec_state *b)
{
	unsigned char rec[5 + 5 + REC_TAIL_MAX], out[REC_OPEN_ROOM];
	unsigned type;
	long n, len;

	if (a->version != REC_TLS13)
		return;
	n = rec_seal_key_update(a, rec);
	CHECK(n > 0);
	len = rec_open(b, rec, (size_t)n, out, &type);
	CHECK(len == 5 && type == REC_HANDSHAKE);
	CHECK(rec_handshake(b, out, (size_t)len) == 0);
	CHECK(b->rd.seq == 0 && a->wr.seq == 0);
	CHECK(memcmp(a->wr.key, b->rd.key, sizeof(a->wr.key)) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct rec_state a, b, c;
	size_t i = 1, n;
	unsigned op, type;

	if (!ready) {
		CHECK(rec_init() == 0);
		ready = 1;
	}
	if (size < 1)
		return 0;
	make_pair(&a, &b, data[0]);
	while (i < size) {
		op = data[i++] & 3;
		if (op == 0 && i + 3 <= size) {
			n = ((size_t)data[i] << 8 | data[i + 1]) % (REC_PLAIN_MAX + 1);
			type = data[i + 2];
			i += 3;
			if (n > size - i)
				n = size - i;
			round_trip(&a, &b, type, data + i, n);
			i += n;
		} else if (op == 1 && i < size) {
			n = data[i++];
			n = n * 4 < size - i ? n * 4 : size - i;
			forgery(&b, data + i, n);
			i += n;
		} else if (op == 2 && i < size) {
			n = data[i++] % 16;
			n = n < size - i ? n : size - i;
			c = b;
			{
				unsigned char *m = dup_exact(data + i, n);

				(void)rec_handshake(&c, m, n);
				free(m);
			}
			i += n;
		} else if (op == 3)
			key_update(&a, &b);
	}
	rec_wipe(&a);
	rec_wipe(&b);
	return 0;
}
