/* test_aesgcm.c - unit tests of aesgcm.c: the GCM specification's test
 * vectors, then every length from 0 to 1100 bytes and whole records
 * against OpenSSL's EVP AES-GCM (random keys, nonces and additional data,
 * in place and not), and a flipped bit anywhere fails the tag. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "aesgcm.h"
#include "unit.h"

static int
unhex(const char *h, unsigned char *out)
{
	int n = 0;

	for (; h[0] && h[1]; h += 2)
		out[n++] = (unsigned char)strtoul((char[3]){ h[0], h[1], 0 },
		    NULL, 16);
	return n;
}

/* OpenSSL's answer: ciphertext into ct, tag into tag. */
static int
evp_seal(const unsigned char *key, size_t keylen, const unsigned char *iv,
    const unsigned char *aad, size_t aadlen, const unsigned char *pt,
    size_t len, unsigned char *ct, unsigned char *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int outl, ok;

	ok = c != NULL && EVP_EncryptInit_ex(c, keylen == 16 ?
	    EVP_aes_128_gcm() : EVP_aes_256_gcm(), NULL, key, iv) == 1 &&
	    (aadlen == 0 || EVP_EncryptUpdate(c, NULL, &outl, aad,
	    (int)aadlen) == 1) &&
	    (len == 0 || EVP_EncryptUpdate(c, ct, &outl, pt, (int)len) == 1) &&
	    EVP_EncryptFinal_ex(c, ct + len, &outl) == 1 &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

/* The GCM specification's test cases 1-4 (AES-128) and 13-16 (AES-256). */
static void
test_vectors(void)
{
	static const char *const v[][6] = {	/* K, IV, P, A, C, T */
	    { "00000000000000000000000000000000", "000000000000000000000000",
	      "", "", "", "58e2fccefa7e3061367f1d57a4e7455a" },
	    { "00000000000000000000000000000000", "000000000000000000000000",
	      "00000000000000000000000000000000", "",
	      "0388dace60b6a392f328c2b971b2fe78",
	      "ab6e47d42cec13bdf53a67b21257bddf" },
	    { "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
	      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
	      "",
	      "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	      "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
	      "4d5c2af327cd64a62cf35abd2ba6fab4" },
	    { "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
	      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	      "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	      "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	      "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
	      "5bc94fbc3221a5db94fae95ae7121a47" },
	    { "0000000000000000000000000000000000000000000000000000000000000000",
	      "000000000000000000000000", "", "", "",
	      "530f8afbc74536b9a963b4f1c4cb738b" },
	    { "0000000000000000000000000000000000000000000000000000000000000000",
	      "000000000000000000000000", "00000000000000000000000000000000", "",
	      "cea7403d4d606b6e074ec5d3baf39d18",
	      "d0d1c8a799996bf0265b98b5d48ab919" },
	    { "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	      "cafebabefacedbaddecaf888",
	      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
	      "",
	      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	      "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
	      "b094dac5d93471bdec1a502270e3cc6c" },
	    { "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	      "cafebabefacedbaddecaf888",
	      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	      "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	      "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	      "76fc6ece0f4e1768cddf8853bb2d551b" },
	};
	unsigned char key[32], iv[12], pt[64], aad[20], ct[64], tag[16];
	unsigned char out[64], got[16];
	struct aesgcm_key k;
	size_t i;
	int kl, pl, al;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		kl = unhex(v[i][0], key);
		unhex(v[i][1], iv);
		pl = unhex(v[i][2], pt);
		al = unhex(v[i][3], aad);
		unhex(v[i][4], ct);
		unhex(v[i][5], tag);
		CHECK(aesgcm_set_key(&k, key, (size_t)kl) == 0);
		CHECK(aesgcm_seal(&k, iv, aad, (size_t)al, pt, out, (size_t)pl,
		    got) == 0);
		CHECK(memcmp(out, ct, (size_t)pl) == 0);
		CHECK(memcmp(got, tag, 16) == 0);
		CHECK(aesgcm_open(&k, iv, aad, (size_t)al, ct, out, (size_t)pl,
		    tag) == 0);
		CHECK(memcmp(out, pt, (size_t)pl) == 0);
	}
	CHECK(aesgcm_set_key(&k, key, 24) == -1);
}

#define BIG	(16384 + 256 + 64)

/* One random case of len bytes against EVP; returns 1 if all matched. */
static int
compare_one(size_t keylen, size_t len, size_t aadlen, int in_place)
{
	static unsigned char pt[BIG], ct[BIG + 16], buf[BIG], back[BIG];
	unsigned char key[32], iv[12], aad[64], tag[16], mine[16];
	struct aesgcm_key k;
	const unsigned char *src;
	int ok;

	RAND_bytes(key, sizeof(key));
	RAND_bytes(iv, sizeof(iv));
	RAND_bytes(aad, sizeof(aad));
	RAND_bytes(pt, (int)len + 1);
	if (aesgcm_set_key(&k, key, keylen) != 0 ||
	    evp_seal(key, keylen, iv, aad, aadlen, pt, len, ct, tag) != 0)
		return 0;
	memcpy(buf, pt, len);
	buf[len] = 0xa5;		/* must survive: out of bounds */
	src = in_place ? buf : pt;
	ok = aesgcm_seal(&k, iv, aad, aadlen, src, buf, len, mine) == 0 &&
	    memcmp(buf, ct, len) == 0 && memcmp(mine, tag, 16) == 0 &&
	    buf[len] == 0xa5;
	back[len] = 0x5a;
	ok = ok && aesgcm_open(&k, iv, aad, aadlen, in_place ? buf : ct,
	    in_place ? buf : back, len, tag) == 0 &&
	    memcmp(in_place ? buf : back, pt, len) == 0 &&
	    (in_place || back[len] == 0x5a);
	aesgcm_wipe(&k);
	return ok;
}

static void
test_against_evp(void)
{
	static const size_t records[] = { 16384, 16385, 16384 + 256, 4096,
	    8191, 1369, 1400, 2 };
	size_t len, i, bad = 0, cases = 0;

	for (len = 0; len <= 1100; len++) {
		cases += 2;
		bad += !compare_one(16, len, len % 17, len & 1);
		bad += !compare_one(32, len, (len * 7) % 40, !(len & 1));
	}
	for (i = 0; i < sizeof(records) / sizeof(records[0]); i++) {
		cases += 4;
		bad += !compare_one(16, records[i], 13, 1);
		bad += !compare_one(32, records[i], 5, 0);
		bad += !compare_one(16, records[i], 0, 0);
		bad += !compare_one(32, records[i], 63, 1);
	}
	printf("%zu random cases against EVP, %zu differ\n", cases, bad);
	CHECK(bad == 0);
}

/* Every bit of the ciphertext, tag and additional data matters. */
static void
test_tamper(void)
{
	unsigned char key[16] = { 1 }, iv[12] = { 2 }, aad[13] = { 3 };
	unsigned char pt[300], ct[300], out[300], tag[16];
	struct aesgcm_key k;
	size_t bit, bad = 0;

	memset(pt, 'x', sizeof(pt));
	CHECK(aesgcm_set_key(&k, key, sizeof(key)) == 0);
	CHECK(aesgcm_seal(&k, iv, aad, sizeof(aad), pt, ct, sizeof(pt),
	    tag) == 0);
	CHECK(aesgcm_open(&k, iv, aad, sizeof(aad), ct, out, sizeof(pt),
	    tag) == 0);
	for (bit = 0; bit < 8 * sizeof(ct); bit++) {
		ct[bit / 8] ^= (unsigned char)(1u << bit % 8);
		bad += aesgcm_open(&k, iv, aad, sizeof(aad), ct, out,
		    sizeof(pt), tag) == 0;
		ct[bit / 8] ^= (unsigned char)(1u << bit % 8);
	}
	for (bit = 0; bit < 8 * sizeof(tag); bit++) {
		tag[bit / 8] ^= (unsigned char)(1u << bit % 8);
		bad += aesgcm_open(&k, iv, aad, sizeof(aad), ct, out,
		    sizeof(pt), tag) == 0;
		tag[bit / 8] ^= (unsigned char)(1u << bit % 8);
	}
	for (bit = 0; bit < 8 * sizeof(aad); bit++) {
		aad[bit / 8] ^= (unsigned char)(1u << bit % 8);
		bad += aesgcm_open(&k, iv, aad, sizeof(aad), ct, out,
		    sizeof(pt), tag) == 0;
		aad[bit / 8] ^= (unsigned char)(1u << bit % 8);
	}
	CHECK(bad == 0);
	iv[11] ^= 1;
	CHECK(aesgcm_open(&k, iv, aad, sizeof(aad), ct, out, sizeof(pt),
	    tag) == -1);
	CHECK(aesgcm_open(&k, iv, aad, sizeof(aad), ct, out, sizeof(pt) - 1,
	    tag) == -1);
}

int
main(void)
{
	if (!aesgcm_available()) {
		/* the record layer then uses EVP, which test_record covers */
		printf("this CPU lacks VAES, VPCLMULQDQ or AVX-512: only the "
		    "refusal is tested\n");
		struct aesgcm_key k;
		unsigned char key[16] = { 0 };
		CHECK(aesgcm_set_key(&k, key, sizeof(key)) == -1);
		return unit_summary();
	}
	test_vectors();
	test_against_evp();
	test_tamper();
	return unit_summary();
}
