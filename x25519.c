/* x25519.c - X25519 (RFC 7748): GF(2^255-19) in five 51-bit limbs, the
 * Montgomery ladder for shared secrets (portable C, or four lanes wide with
 * AVX-512 IFMA), and a fixed-base comb on edwards25519 for public keys. */
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>

#include "x25519.h"

typedef unsigned __int128 u128;

/* The ladder's products, inlined even at -O2 so that the compiler can
 * interleave the independent ones of a step: 6% fewer instructions. */
#define HOT	static inline __attribute__((always_inline))
typedef struct { uint64_t v[5]; } fe;	/* value: sum of v[i] 2^(51 i) */

#define MASK51	((UINT64_C(1) << 51) - 1)

/* --- the field ------------------------------------------------------- */

static const fe fe_zero = { { 0 } };
static const fe fe_one = { { 1 } };

static inline void
fe_carry(fe *h)
{
	uint64_t c;

	c = h->v[0] >> 51; h->v[0] &= MASK51; h->v[1] += c;
	c = h->v[1] >> 51; h->v[1] &= MASK51; h->v[2] += c;
	c = h->v[2] >> 51; h->v[2] &= MASK51; h->v[3] += c;
	c = h->v[3] >> 51; h->v[3] &= MASK51; h->v[4] += c;
	c = h->v[4] >> 51; h->v[4] &= MASK51; h->v[0] += 19 * c;
}

/* Sums and differences are not carried: fe_mul and fe_sq take limbs up to
 * 2^55, and nothing here adds more than three terms before multiplying. */
static inline void
fe_add(fe *h, const fe *f, const fe *g)
{
	h->v[0] = f->v[0] + g->v[0];
	h->v[1] = f->v[1] + g->v[1];
	h->v[2] = f->v[2] + g->v[2];
	h->v[3] = f->v[3] + g->v[3];
	h->v[4] = f->v[4] + g->v[4];
}

/* h = f - g, as f + 4p - g: g's limbs must stay below 2^53 - 76 (a product,
 * or a sum of two products). */
static inline void
fe_sub(fe *h, const fe *f, const fe *g)
{
	h->v[0] = f->v[0] + UINT64_C(0x1fffffffffffb4) - g->v[0];
	h->v[1] = f->v[1] + UINT64_C(0x1ffffffffffffc) - g->v[1];
	h->v[2] = f->v[2] + UINT64_C(0x1ffffffffffffc) - g->v[2];
	h->v[3] = f->v[3] + UINT64_C(0x1ffffffffffffc) - g->v[3];
	h->v[4] = f->v[4] + UINT64_C(0x1ffffffffffffc) - g->v[4];
}

/* Reduce five 128-bit column sums into limbs below 2^51 + 2^25. */
HOT void
fe_reduce(fe *h, u128 r0, u128 r1, u128 r2, u128 r3, u128 r4)
{
	r1 += r0 >> 51; h->v[0] = (uint64_t)r0 & MASK51;
	r2 += r1 >> 51; h->v[1] = (uint64_t)r1 & MASK51;
	r3 += r2 >> 51; h->v[2] = (uint64_t)r2 & MASK51;
	r4 += r3 >> 51; h->v[3] = (uint64_t)r3 & MASK51;
	r0 = h->v[0] + (r4 >> 51) * 19; h->v[4] = (uint64_t)r4 & MASK51;
	h->v[0] = (uint64_t)r0 & MASK51;
	h->v[1] += (uint64_t)(r0 >> 51);
}

HOT void
fe_mul(fe *h, const fe *f, const fe *g)
{
	uint64_t f0 = f->v[0], f1 = f->v[1], f2 = f->v[2], f3 = f->v[3],
	    f4 = f->v[4];
	uint64_t g0 = g->v[0], g1 = g->v[1], g2 = g->v[2], g3 = g->v[3],
	    g4 = g->v[4];
	uint64_t g1_19 = 19 * g1, g2_19 = 19 * g2, g3_19 = 19 * g3,
	    g4_19 = 19 * g4;

	fe_reduce(h,
	    (u128)f0 * g0 + (u128)f1 * g4_19 + (u128)f2 * g3_19 +
	    (u128)f3 * g2_19 + (u128)f4 * g1_19,
	    (u128)f0 * g1 + (u128)f1 * g0 + (u128)f2 * g4_19 +
	    (u128)f3 * g3_19 + (u128)f4 * g2_19,
	    (u128)f0 * g2 + (u128)f1 * g1 + (u128)f2 * g0 +
	    (u128)f3 * g4_19 + (u128)f4 * g3_19,
	    (u128)f0 * g3 + (u128)f1 * g2 + (u128)f2 * g1 +
	    (u128)f3 * g0 + (u128)f4 * g4_19,
	    (u128)f0 * g4 + (u128)f1 * g3 + (u128)f2 * g2 +
	    (u128)f3 * g1 + (u128)f4 * g0);
}

HOT void
fe_sq(fe *h, const fe *f)
{
	uint64_t f0 = f->v[0], f1 = f->v[1], f2 = f->v[2], f3 = f->v[3],
	    f4 = f->v[4];
	uint64_t f0_2 = 2 * f0, f1_2 = 2 * f1, f3_19 = 19 * f3,
	    f4_19 = 19 * f4;

	fe_reduce(h,
	    (u128)f0 * f0 + (u128)f1_2 * f4_19 + (u128)(2 * f2) * f3_19,
	    (u128)f0_2 * f1 + (u128)f3 * f3_19 + (u128)(2 * f2) * f4_19,
	    (u128)f0_2 * f2 + (u128)f1 * f1 + (u128)(2 * f3) * f4_19,
	    (u128)f0_2 * f3 + (u128)f1_2 * f2 + (u128)f4 * f4_19,
	    (u128)f0_2 * f4 + (u128)f1_2 * f3 + (u128)f2 * f2);
}

static inline void
fe_sqn(fe *h, const fe *f, int n)
{
	fe_sq(h, f);
	while (--n > 0)
		fe_sq(h, h);
}

static inline void
fe_mul_small(fe *h, const fe *f, uint32_t s)
{
	fe_reduce(h, (u128)f->v[0] * s, (u128)f->v[1] * s,
	    (u128)f->v[2] * s, (u128)f->v[3] * s, (u128)f->v[4] * s);
}

/* Swap f and g when swap is 1, in constant time. */
static inline void
fe_cswap(fe *f, fe *g, uint64_t swap)
{
	uint64_t mask = 0 - swap, x0, x1, x2, x3, x4;

	x0 = (f->v[0] ^ g->v[0]) & mask;
	x1 = (f->v[1] ^ g->v[1]) & mask;
	x2 = (f->v[2] ^ g->v[2]) & mask;
	x3 = (f->v[3] ^ g->v[3]) & mask;
	x4 = (f->v[4] ^ g->v[4]) & mask;
	f->v[0] ^= x0; f->v[1] ^= x1; f->v[2] ^= x2; f->v[3] ^= x3;
	f->v[4] ^= x4;
	g->v[0] ^= x0; g->v[1] ^= x1; g->v[2] ^= x2; g->v[3] ^= x3;
	g->v[4] ^= x4;
}

/* f = g when mask is all ones, unchanged when it is zero. */
static inline void
fe_cmov(fe *f, const fe *g, uint64_t mask)
{
	f->v[0] ^= (f->v[0] ^ g->v[0]) & mask;
	f->v[1] ^= (f->v[1] ^ g->v[1]) & mask;
	f->v[2] ^= (f->v[2] ^ g->v[2]) & mask;
	f->v[3] ^= (f->v[3] ^ g->v[3]) & mask;
	f->v[4] ^= (f->v[4] ^ g->v[4]) & mask;
}

static inline uint64_t
load64(const uint8_t *p)
{
	uint64_t x = 0;

	for (int i = 7; i >= 0; i--)
		x = x << 8 | p[i];
	return x;
}

/* The 255 low bits of 32 little-endian bytes (RFC 7748 masks the top). */
static void
fe_frombytes(fe *h, const uint8_t s[32])
{
	h->v[0] = load64(s) & MASK51;
	h->v[1] = (load64(s + 6) >> 3) & MASK51;
	h->v[2] = (load64(s + 12) >> 6) & MASK51;
	h->v[3] = (load64(s + 19) >> 1) & MASK51;
	h->v[4] = (load64(s + 24) >> 12) & MASK51;
}

/* The unique representative below p, as 32 little-endian bytes. */
static void
fe_tobytes(uint8_t s[32], const fe *f)
{
	fe h = *f;
	uint64_t q;

	fe_carry(&h);
	/* q = 1 when h >= p, i.e. when h + 19 reaches 2^255 */
	q = (h.v[0] + 19) >> 51;
	q = (h.v[1] + q) >> 51;
	q = (h.v[2] + q) >> 51;
	q = (h.v[3] + q) >> 51;
	q = (h.v[4] + q) >> 51;
	h.v[0] += 19 * q;
	fe_carry(&h);		/* the carry out of limb 4 is q: dropped */
	h.v[0] -= 19 * q;	/* ...so undo fe_carry's fold of it */
	for (int i = 0, bit = 0; i < 32; i++, bit += 8) {
		int l = bit / 51, off = bit % 51;
		uint64_t x = h.v[l] >> off;

		if (off > 43 && l < 4)
			x |= h.v[l + 1] << (51 - off);
		s[i] = (uint8_t)x;
	}
}

/* out = z^(p-2) = 1/z (0 for 0): 254 squarings and 11 products. */
static void
fe_invert(fe *out, const fe *z)
{
	fe t0, t1, t2, t3;

	fe_sq(&t0, z);			/* 2 */
	fe_sqn(&t1, &t0, 2);		/* 8 */
	fe_mul(&t1, z, &t1);		/* 9 */
	fe_mul(&t0, &t0, &t1);		/* 11 */
	fe_sq(&t2, &t0);		/* 22 */
	fe_mul(&t1, &t1, &t2);		/* 2^5 - 1 */
	fe_sqn(&t2, &t1, 5);
	fe_mul(&t1, &t2, &t1);		/* 2^10 - 1 */
	fe_sqn(&t2, &t1, 10);
	fe_mul(&t2, &t2, &t1);		/* 2^20 - 1 */
	fe_sqn(&t3, &t2, 20);
	fe_mul(&t2, &t3, &t2);		/* 2^40 - 1 */
	fe_sqn(&t2, &t2, 10);
	fe_mul(&t1, &t2, &t1);		/* 2^50 - 1 */
	fe_sqn(&t2, &t1, 50);
	fe_mul(&t2, &t2, &t1);		/* 2^100 - 1 */
	fe_sqn(&t3, &t2, 100);
	fe_mul(&t2, &t3, &t2);		/* 2^200 - 1 */
	fe_sqn(&t2, &t2, 50);
	fe_mul(&t1, &t2, &t1);		/* 2^250 - 1 */
	fe_sqn(&t1, &t1, 5);		/* 2^255 - 32 */
	fe_mul(out, &t1, &t0);		/* 2^255 - 21 = p - 2 */
}

/* out = z^e for a public exponent of 32 little-endian bytes (set-up only:
 * not constant time). */
static void
fe_pow(fe *out, const fe *z, const uint8_t e[32])
{
	fe r = fe_one;

	for (int i = 255; i >= 0; i--) {
		fe_sq(&r, &r);
		if (e[i / 8] >> (i % 8) & 1)
			fe_mul(&r, &r, z);
	}
	*out = r;
}

static int
fe_equal(const fe *f, const fe *g)
{
	uint8_t a[32], b[32];

	fe_tobytes(a, f);
	fe_tobytes(b, g);
	return CRYPTO_memcmp(a, b, 32) == 0;
}

/* --- the Montgomery ladder (RFC 7748, section 5) ---------------------- */

static void
clamp(uint8_t e[32], const uint8_t k[32])
{
	memcpy(e, k, 32);
	e[0] &= 248;
	e[31] &= 127;
	e[31] |= 64;
}

/* The scalar ladder: (x2 : z2) = e (x1 : 1). */
static void
ladder_scalar(fe *x2, fe *z2, const fe *x1, const uint8_t e[32])
{
	fe x3 = *x1, z3 = fe_one;
	fe a, aa, b, bb, c, d, da, cb, ee;
	uint64_t swap = 0, bit;

	*x2 = fe_one;
	*z2 = fe_zero;
	for (int t = 254; t >= 0; t--) {
		bit = e[t / 8] >> (t % 8) & 1;
		swap ^= bit;
		fe_cswap(x2, &x3, swap);
		fe_cswap(z2, &z3, swap);
		swap = bit;
		fe_add(&a, x2, z2);
		fe_sq(&aa, &a);
		fe_sub(&b, x2, z2);
		fe_sq(&bb, &b);
		fe_sub(&ee, &aa, &bb);
		fe_add(&c, &x3, &z3);
		fe_sub(&d, &x3, &z3);
		fe_mul(&da, &d, &a);
		fe_mul(&cb, &c, &b);
		fe_add(&x3, &da, &cb);
		fe_sq(&x3, &x3);
		fe_sub(&z3, &da, &cb);
		fe_sq(&z3, &z3);
		fe_mul(&z3, x1, &z3);
		fe_mul(x2, &aa, &bb);
		fe_mul_small(z2, &ee, 121665);
		fe_add(z2, &aa, z2);
		fe_mul(z2, &ee, z2);
	}
	fe_cswap(x2, &x3, swap);
	fe_cswap(z2, &z3, swap);
}

/* --- the ladder four lanes wide, with AVX-512 IFMA ------------------- */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* Four field elements side by side, limb k of each in v[k]'s 64-bit lanes.
 * The products come from the 52-bit multiply-adds, which read only the low
 * 52 bits of their inputs: every vector is carried below 2^52 before it is
 * multiplied. */
#define V4	static inline __attribute__((always_inline, \
		    target("avx512f,avx512vl,avx512ifma")))
#define V4_FN	static __attribute__((target("avx512f,avx512vl,avx512ifma")))
typedef struct { __m256i v[5]; } fe4;

/* Limbs below 2^63 to limbs below 2^51 + 2^17. */
V4 void
fe4_carry(fe4 *h)
{
	const __m256i m = _mm256_set1_epi64x(MASK51);
	const __m256i k19 = _mm256_set1_epi64x(19);
	__m256i c[5];

	#pragma GCC unroll 10
	for (int k = 0; k < 5; k++) {
		c[k] = _mm256_srli_epi64(h->v[k], 51);
		h->v[k] = _mm256_and_si256(h->v[k], m);
	}
	h->v[0] = _mm256_madd52lo_epu64(h->v[0], c[4], k19);
	#pragma GCC unroll 10
	for (int k = 1; k < 5; k++)
		h->v[k] = _mm256_add_epi64(h->v[k], c[k - 1]);
}

/* h = f g in each lane; f's and g's limbs below 2^52. */
V4 void
fe4_mul(fe4 *h, const fe4 *f, const fe4 *g)
{
	__m256i lo[9], hi[9], c[10], t;

	#pragma GCC unroll 10
	for (int k = 0; k < 9; k++)
		lo[k] = hi[k] = _mm256_setzero_si256();
	#pragma GCC unroll 10
	for (int i = 0; i < 5; i++)
		#pragma GCC unroll 10
		for (int j = 0; j < 5; j++) {
			lo[i + j] = _mm256_madd52lo_epu64(lo[i + j], f->v[i],
			    g->v[j]);
			hi[i + j] = _mm256_madd52hi_epu64(hi[i + j], f->v[i],
			    g->v[j]);
		}
	/* column k: lo[k] + 2 hi[k - 1], as 2^52 = 2 2^51; each below 2^56 */
	c[0] = lo[0];
	#pragma GCC unroll 10
	for (int k = 1; k < 9; k++)
		c[k] = _mm256_add_epi64(lo[k],
		    _mm256_add_epi64(hi[k - 1], hi[k - 1]));
	c[9] = _mm256_add_epi64(hi[8], hi[8]);
	/* 2^255 = 19: column k + 5 joins column k times 19 (below 2^61) */
	#pragma GCC unroll 10
	for (int k = 0; k < 5; k++) {
		t = c[k + 5];
		h->v[k] = _mm256_add_epi64(_mm256_add_epi64(c[k], t),
		    _mm256_add_epi64(_mm256_slli_epi64(t, 1),
		    _mm256_slli_epi64(t, 4)));
	}
	fe4_carry(h);
}

/* h = the lanes of f in the order idx gives. */
V4 void
fe4_perm(fe4 *h, const fe4 *f, __m256i idx)
{
	#pragma GCC unroll 10
	for (int k = 0; k < 5; k++)
		h->v[k] = _mm256_permutexvar_epi64(idx, f->v[k]);
}

/* Swap lanes 0, 1 (x2, z2) with 2, 3 (x3, z3) when swap is 1: a lane
 * permutation whose index comes from swap, with no branch on it. */
V4 void
fe4_cswap(fe4 *p, uint64_t swap)
{
	fe4_perm(p, p, _mm256_xor_si256(_mm256_set_epi64x(3, 2, 1, 0),
	    _mm256_set1_epi64x((long long)(swap << 1))));
}

/* h = f + g, or f + 2p - g in the lanes of neg; carried. f's and g's limbs
 * below 2^51 + 2^17. */
V4 void
fe4_addsub(fe4 *h, const fe4 *f, const fe4 *g, __mmask8 neg)
{
	__m256i p2;

	#pragma GCC unroll 10
	for (int k = 0; k < 5; k++) {
		p2 = _mm256_set1_epi64x(k ? 0xffffffffffffe : 0xfffffffffffda);
		h->v[k] = _mm256_add_epi64(f->v[k], _mm256_mask_sub_epi64(
		    g->v[k], neg, p2, g->v[k]));
	}
	fe4_carry(h);
}

/* h = f + 121665 g, carried; g's limbs below 2^52. */
V4 void
fe4_add_a24(fe4 *h, const fe4 *f, const fe4 *g)
{
	const __m256i a24 = _mm256_set1_epi64x(121665);
	__m256i hi[5];

	#pragma GCC unroll 10
	for (int k = 0; k < 5; k++) {
		h->v[k] = _mm256_madd52lo_epu64(f->v[k], g->v[k], a24);
		hi[k] = _mm256_madd52hi_epu64(_mm256_setzero_si256(), g->v[k],
		    a24);
		hi[k] = _mm256_add_epi64(hi[k], hi[k]);
	}
	h->v[0] = _mm256_madd52lo_epu64(h->v[0], hi[4],
	    _mm256_set1_epi64x(19));
	#pragma GCC unroll 10
	for (int k = 1; k < 5; k++)
		h->v[k] = _mm256_add_epi64(h->v[k], hi[k - 1]);
	fe4_carry(h);
}

/* h = lane 0 of a, 1 of b, 2 of c, 3 of d. */
V4 void
fe4_pick(fe4 *h, const fe4 *a, const fe4 *b, const fe4 *c, const fe4 *d)
{
	#pragma GCC unroll 10
	for (int k = 0; k < 5; k++)
		h->v[k] = _mm256_mask_blend_epi64(0x8, _mm256_mask_blend_epi64(
		    0x4, _mm256_mask_blend_epi64(0x2, a->v[k], b->v[k]),
		    c->v[k]), d->v[k]);
}

/* The ladder of ladder_scalar() on the state (x2, z2, x3, z3), one lane
 * each: three four-way products a step instead of ten products. */
V4_FN void
ladder_ifma(fe *x2, fe *z2, const fe *x1, const uint8_t e[32])
{
	const __m256i i0022 = _mm256_set_epi64x(2, 2, 0, 0);
	const __m256i i1133 = _mm256_set_epi64x(3, 3, 1, 1);
	const __m256i i0132 = _mm256_set_epi64x(2, 3, 1, 0);
	const __m256i i0101 = _mm256_set_epi64x(1, 0, 1, 0);
	fe4 p, u, v, w, a, b, m, s, r, dif, sum, y, l, q, x1v;
	uint64_t swap = 0, bit, out[4];

	#pragma GCC unroll 10
	for (int k = 0; k < 5; k++) {
		/* p = (x2, z2, x3, z3) = (1, 0, x1, 1), x1v = (1, 1, 1, x1) */
		p.v[k] = _mm256_set_epi64x(k == 0, (long long)x1->v[k], 0,
		    k == 0);
		x1v.v[k] = _mm256_set_epi64x((long long)x1->v[k], k == 0,
		    k == 0, k == 0);
	}
	for (int t = 254; t >= 0; t--) {
		bit = e[t / 8] >> (t % 8) & 1;
		swap ^= bit;
		fe4_cswap(&p, swap);
		swap = bit;
		fe4_perm(&u, &p, i0022);		/* x2 x2 x3 x3 */
		fe4_perm(&v, &p, i1133);		/* z2 z2 z3 z3 */
		fe4_addsub(&w, &u, &v, 0xa);		/* A B C D */
		fe4_perm(&a, &w, i0132);		/* A B D C */
		fe4_perm(&b, &w, i0101);		/* A B A B */
		fe4_mul(&m, &a, &b);			/* AA BB DA CB */
		fe4_perm(&s, &m, i0022);		/* AA AA DA DA */
		fe4_perm(&r, &m, i1133);		/* BB BB CB CB */
		fe4_addsub(&dif, &s, &r, 0xf);		/* E E DA-CB DA-CB */
		fe4_addsub(&sum, &s, &r, 0);		/* . . DA+CB . */
		fe4_add_a24(&y, &s, &dif);		/* . AA+121665E . . */
		fe4_pick(&l, &s, &dif, &sum, &dif);
		fe4_pick(&q, &r, &y, &sum, &dif);
		fe4_mul(&m, &l, &q);	/* AA BB, E(AA+121665E), (DA+CB)^2, (DA-CB)^2 */
		fe4_mul(&p, &m, &x1v);	/* x2 z2 x3 z3 */
	}
	fe4_cswap(&p, swap);
	#pragma GCC unroll 10
	for (int k = 0; k < 5; k++) {
		_mm256_storeu_si256((__m256i *)out, p.v[k]);
		x2->v[k] = out[0];
		z2->v[k] = out[1];
	}
}

/* Whether this CPU runs ladder_ifma(). */
static int
ifma_present(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512vl") &&
	    __builtin_cpu_supports("avx512ifma");
}
#else
#define ladder_ifma	ladder_scalar
static int ifma_present(void) { return 0; }
#endif

static int ifma_ok;	/* ladder_ifma() runs here and passed the check */
static int use_ifma;	/* x25519_shared() runs ladder_ifma() */

int
x25519_shared(uint8_t out[32], const uint8_t priv[32], const uint8_t peer[32])
{
	uint8_t e[32];
	uint32_t any = 0;
	fe x1, x2, z2;

	clamp(e, priv);
	fe_frombytes(&x1, peer);
	if (use_ifma)
		ladder_ifma(&x2, &z2, &x1, e);
	else
		ladder_scalar(&x2, &z2, &x1, e);
	fe_invert(&z2, &z2);
	fe_mul(&x2, &x2, &z2);
	fe_tobytes(out, &x2);
	OPENSSL_cleanse(e, sizeof(e));
	for (int i = 0; i < 32; i++)
		any |= out[i];
	/* -1 for all zeros (a small-order peer point), without a branch */
	return -(int)((any - 1) >> 31);
}

/* --- the fixed base, on edwards25519 (-x^2 + y^2 = 1 + d x^2 y^2) ----- */

/* A point in extended coordinates: x = X/Z, y = Y/Z, x y = T/Z. */
struct ge { fe X, Y, Z, T; };

/* An affine point ready for addition: y + x, y - x, 2 d x y. */
struct ge_pre { fe ypx, ymx, xy2d; };

/* table[i][j] = (j + 1) 256^i B, for the signed radix-16 digits below. */
static struct ge_pre	table[32][8];
static fe		d2;		/* 2 d */
static int		table_ready;

/* r = p + q for an affine q (complete: any p and q, equal or not). */
static inline void
ge_madd(struct ge *r, const struct ge *p, const struct ge_pre *q)
{
	fe a, b, c, d, e, f, g, h;

	fe_sub(&a, &p->Y, &p->X);
	fe_mul(&a, &a, &q->ymx);
	fe_add(&b, &p->Y, &p->X);
	fe_mul(&b, &b, &q->ypx);
	fe_mul(&c, &p->T, &q->xy2d);
	fe_add(&d, &p->Z, &p->Z);
	fe_sub(&e, &b, &a);
	fe_sub(&f, &d, &c);
	fe_add(&g, &d, &c);
	fe_add(&h, &b, &a);
	fe_mul(&r->X, &e, &f);
	fe_mul(&r->Y, &g, &h);
	fe_mul(&r->T, &e, &h);
	fe_mul(&r->Z, &f, &g);
}

/* r = 2 p. */
static inline void
ge_double(struct ge *r, const struct ge *p)
{
	fe a, b, c, e, g, f, h;

	fe_sq(&a, &p->X);
	fe_sq(&b, &p->Y);
	fe_sq(&c, &p->Z);
	fe_add(&c, &c, &c);
	fe_add(&e, &p->X, &p->Y);
	fe_sq(&e, &e);
	fe_sub(&e, &e, &a);
	fe_sub(&e, &e, &b);		/* 2 X Y */
	fe_sub(&g, &b, &a);		/* -A + B */
	fe_sub(&f, &g, &c);
	fe_add(&h, &a, &b);
	fe_sub(&h, &fe_zero, &h);	/* -A - B */
	fe_mul(&r->X, &e, &f);
	fe_mul(&r->Y, &g, &h);
	fe_mul(&r->T, &e, &h);
	fe_mul(&r->Z, &f, &g);
}

static void
ge_to_pre(struct ge_pre *q, const struct ge *p)
{
	fe zi, x, y;

	fe_invert(&zi, &p->Z);
	fe_mul(&x, &p->X, &zi);
	fe_mul(&y, &p->Y, &zi);
	fe_add(&q->ypx, &y, &x);
	fe_sub(&q->ymx, &y, &x);
	fe_mul(&q->xy2d, &x, &y);
	fe_mul(&q->xy2d, &q->xy2d, &d2);
}

static void
ge_add(struct ge *r, const struct ge *p, const struct ge *q)
{
	struct ge_pre pre;

	ge_to_pre(&pre, q);
	ge_madd(r, p, &pre);
}

/* t = digit * table[i] (digit in -8..8), in constant time. */
static inline void
ge_select(struct ge_pre *t, int i, int8_t digit)
{
	uint64_t neg = (uint64_t)(uint8_t)digit >> 7;
	uint64_t abs = (uint64_t)(digit - (int8_t)((-(int)neg) & digit * 2));
	fe nxy2d;

	t->ypx = fe_one;
	t->ymx = fe_one;
	t->xy2d = fe_zero;
	for (uint64_t j = 1; j <= 8; j++) {
		uint64_t m = 0 - (((abs ^ j) - 1) >> 63);

		fe_cmov(&t->ypx, &table[i][j - 1].ypx, m);
		fe_cmov(&t->ymx, &table[i][j - 1].ymx, m);
		fe_cmov(&t->xy2d, &table[i][j - 1].xy2d, m);
	}
	fe_cswap(&t->ypx, &t->ymx, neg);
	fe_sub(&nxy2d, &fe_zero, &t->xy2d);
	fe_cmov(&t->xy2d, &nxy2d, 0 - neg);
}

int
x25519_public(uint8_t pub[32], const uint8_t priv[32])
{
	static const uint8_t base[32] = { 9 };
	uint8_t e[32];
	int8_t dig[64], carry = 0;
	struct ge p = { fe_zero, fe_one, fe_one, fe_zero };
	struct ge_pre t;
	fe zpy, zmy;

	if (!table_ready)
		return x25519_shared(pub, priv, base);
	clamp(e, priv);
	for (int i = 0; i < 32; i++) {
		dig[2 * i] = (int8_t)(e[i] & 15);
		dig[2 * i + 1] = (int8_t)(e[i] >> 4);
	}
	for (int i = 0; i < 63; i++) {		/* digits into -8..7 */
		dig[i] = (int8_t)(dig[i] + carry);
		carry = (int8_t)((dig[i] + 8) >> 4);
		dig[i] = (int8_t)(dig[i] - carry * 16);
	}
	dig[63] = (int8_t)(dig[63] + carry);	/* 0..8: the scalar is clamped */
	for (int i = 1; i < 64; i += 2) {
		ge_select(&t, i / 2, dig[i]);
		ge_madd(&p, &p, &t);
	}
	for (int i = 0; i < 4; i++)
		ge_double(&p, &p);
	for (int i = 0; i < 64; i += 2) {
		ge_select(&t, i / 2, dig[i]);
		ge_madd(&p, &p, &t);
	}
	/* Montgomery u = (1 + y) / (1 - y) = (Z + Y) / (Z - Y) */
	fe_add(&zpy, &p.Z, &p.Y);
	fe_sub(&zmy, &p.Z, &p.Y);
	fe_invert(&zmy, &zmy);
	fe_mul(&zpy, &zpy, &zmy);
	fe_tobytes(pub, &zpy);
	OPENSSL_cleanse(e, sizeof(e));
	OPENSSL_cleanse(dig, sizeof(dig));
	return 0;
}

int
x25519_init(void)
{
	/* (p + 3) / 8 = 2^252 - 2 and (p - 1) / 4 = 2^253 - 5 */
	uint8_t e_sqrt[32], e_i[32], probe[32], a[32], b[32];
	static const uint8_t base[32] = { 9 };
	fe d, u, v, w, x, y, i, chk;
	struct ge bp, p, q;

	if (table_ready)
		return 0;
	memset(e_sqrt, 0xff, 32);
	e_sqrt[0] = 0xfe;
	e_sqrt[31] = 0x0f;
	memset(e_i, 0xff, 32);
	e_i[0] = 0xfb;
	e_i[31] = 0x1f;
	fe_pow(&i, &(fe){ { 2 } }, e_i);			/* sqrt(-1) */
	fe_invert(&d, &(fe){ { 121666 } });
	fe_mul_small(&d, &d, 121665);
	fe_sub(&d, &fe_zero, &d);				/* -121665/121666 */
	fe_add(&d2, &d, &d);
	/* the base point: y = 4/5, x^2 = (y^2 - 1) / (d y^2 + 1) */
	fe_invert(&y, &(fe){ { 5 } });
	fe_mul_small(&y, &y, 4);
	fe_sq(&u, &y);
	fe_mul(&v, &d, &u);
	fe_add(&v, &v, &fe_one);
	fe_sub(&u, &u, &fe_one);
	fe_invert(&v, &v);
	fe_mul(&w, &u, &v);
	fe_pow(&x, &w, e_sqrt);
	fe_sq(&chk, &x);
	if (!fe_equal(&chk, &w))
		fe_mul(&x, &x, &i);
	fe_sq(&chk, &x);
	if (!fe_equal(&chk, &w))
		return -1;
	bp.X = x;
	bp.Y = y;
	bp.Z = fe_one;
	fe_mul(&bp.T, &x, &y);
	for (int k = 0; k < 32; k++) {
		p = bp;					/* 256^k B */
		ge_to_pre(&table[k][0], &p);
		for (int j = 1; j < 8; j++) {
			ge_add(&q, &p, &bp);
			p = q;
			ge_to_pre(&table[k][j], &p);
		}
		for (int j = 0; j < 8; j++)
			ge_double(&bp, &bp);
	}
	/* the comb must agree with the ladder on the base point u = 9, and
	 * the four-lane ladder (where the CPU has it) with the scalar one */
	table_ready = 1;
	use_ifma = 0;
	ifma_ok = ifma_present();
	for (int n = 0; n < 4; n++) {
		memset(probe, 0x5a ^ n * 0x3c, 32);
		probe[n] = (uint8_t)n;
		if (x25519_public(a, probe) != 0 ||
		    x25519_shared(b, probe, base) != 0 || memcmp(a, b, 32)) {
			table_ready = 0;
			return -1;
		}
		if (ifma_ok) {
			use_ifma = 1;
			ifma_ok = x25519_shared(b, probe, a) == 0;
			use_ifma = 0;
			x25519_shared(a, probe, a);
			ifma_ok = ifma_ok && memcmp(a, b, 32) == 0;
		}
	}
	use_ifma = ifma_ok;
	return 0;
}

int
x25519_ladder(int vector)
{
	use_ifma = vector && ifma_ok;
	return use_ifma;
}
