/* test_kdf.c - unit tests of kdf.c and of the key derivations stud's
 * provider serves with it: RFC 5869's HKDF vectors, then TLS13-KDF and
 * TLS1-PRF from provider "stud" against OpenSSL's default provider on
 * random inputs (both digests, both TLS13-KDF modes, long secrets, several
 * seeds, long outputs), another digest handed over to OpenSSL, the size
 * parameter, and libssl's TLS contexts fetching them from "stud". */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "kdf.h"
#include "provider.h"
#include "unit.h"

static unsigned
rnd(unsigned n)
{
	unsigned v;

	RAND_bytes((unsigned char *)&v, sizeof(v));
	return n ? v % n : 0;
}

static int
unhex(const char *h, unsigned char *out)
{
	int n = 0;

	for (; h[0] && h[1]; h += 2)
		out[n++] = (unsigned char)((h[0] % 32 + 9) % 25 * 16 +
		    (h[1] % 32 + 9) % 25);
	return n;
}

/* RFC 5869, test case 1 (SHA-256): the PRK; and HKDF-Expand as
 * kdf_expand_label() computes it, checked against OpenSSL's HKDF with the
 * same info. */
static void
test_rfc5869(void)
{
	unsigned char ikm[22], salt[13], prk[32], want[32], a[80], b[80];
	unsigned char info[64];
	size_t n = 0;
	EVP_KDF *k = EVP_KDF_fetch(NULL, "HKDF", "provider=default");
	EVP_KDF_CTX *c = EVP_KDF_CTX_new(k);
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	OSSL_PARAM p[5];

	memset(ikm, 0x0b, sizeof(ikm));
	unhex("000102030405060708090a0b0c", salt);
	unhex("077709362c2e32df0ddc3f0dc47bba63"
	    "90b6c73bb50f9c3122ec844ad7c2b3e5", want);
	CHECK(kdf_extract(0, salt, sizeof(salt), ikm, sizeof(ikm), prk) == 0);
	CHECK(memcmp(prk, want, 32) == 0);
	/* HkdfLabel for 80 bytes, "tls13 " "lbl", context "ctx" */
	info[n++] = 0;
	info[n++] = 80;
	info[n++] = 9;
	memcpy(info + n, "tls13 lbl", 9);
	n += 9;
	info[n++] = 3;
	memcpy(info + n, "ctx", 3);
	n += 3;
	p[0] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	p[1] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, prk, 32);
	p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n);
	p[4] = OSSL_PARAM_construct_end();
	CHECK(EVP_KDF_derive(c, a, sizeof(a), p) == 1);
	CHECK(kdf_expand_label(0, prk, 32, (const unsigned char *)"tls13 ", 6,
	    (const unsigned char *)"lbl", 3, (const unsigned char *)"ctx", 3, b,
	    sizeof(b)) == 0);
	CHECK(memcmp(a, b, sizeof(a)) == 0);
	CHECK(kdf_expand_label(0, prk, 32, NULL, 0, NULL, 256, NULL, 0, b,
	    4) == -1);
	EVP_KDF_CTX_free(c);
	EVP_KDF_free(k);
}

/* Derive len bytes with the named KDF from the provider of propq. */
static int
derive(const char *name, const char *propq, OSSL_PARAM *p,
    unsigned char *out, size_t len)
{
	EVP_KDF *k = EVP_KDF_fetch(NULL, name, propq);
	EVP_KDF_CTX *c = EVP_KDF_CTX_new(k);
	int r = c != NULL && EVP_KDF_derive(c, out, len, p) == 1;

	EVP_KDF_CTX_free(c);
	EVP_KDF_free(k);
	return r;
}

static void
test_tls13_kdf(void)
{
	unsigned char key[300], salt[48], label[40], data[64], a[600], b[600];
	int i, ok = 1, agree = 0;

	for (i = 0; i < 400; i++) {
		int sha384 = rnd(2), extract = rnd(2), mode;
		size_t hl = sha384 ? 48 : 32, keylen = extract ? 1 + rnd(299) :
		    hl, llen = rnd(sizeof(label)), dlen = rnd(sizeof(data));
		size_t len = extract ? hl : 1 + rnd(sizeof(a) - 1);
		OSSL_PARAM p[9], *q = p;

		RAND_bytes(key, sizeof(key));
		RAND_bytes(salt, sizeof(salt));
		RAND_bytes(label, sizeof(label));
		RAND_bytes(data, sizeof(data));
		mode = extract ? EVP_KDF_HKDF_MODE_EXTRACT_ONLY :
		    EVP_KDF_HKDF_MODE_EXPAND_ONLY;
		*q++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
		*q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
		    (char *)(sha384 ? "SHA384" : "SHA256"), 0);
		if (!extract || rnd(4))		/* no key: zeros */
			*q++ = OSSL_PARAM_construct_octet_string(
			    OSSL_KDF_PARAM_KEY, key, keylen);
		if (extract && rnd(4))		/* no salt: the early secret */
			*q++ = OSSL_PARAM_construct_octet_string(
			    OSSL_KDF_PARAM_SALT, salt, hl);
		*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX,
		    (char *)"tls13 ", 6);
		*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL,
		    label, llen);
		*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_DATA,
		    data, dlen);
		*q = OSSL_PARAM_construct_end();
		memset(a, 0, sizeof(a));
		memset(b, 1, sizeof(b));
		ok &= derive("TLS13-KDF", "provider=stud", p, a, len);
		ok &= derive("TLS13-KDF", "provider=default", p, b, len);
		agree += memcmp(a, b, len) == 0;
	}
	CHECK(ok);
	CHECK(agree == 400);
}

static void
test_tls1_prf(void)
{
	unsigned char secret[300], s1[64], s2[64], a[300], b[300];
	static const char *digests[] = { "SHA256", "SHA2-384", "MD5-SHA1" };
	int i, ok = 1, agree = 0;

	for (i = 0; i < 300; i++) {
		size_t slen = 1 + rnd(sizeof(secret) - 1), n1 = rnd(64),
		    n2 = rnd(64), len = 1 + rnd(sizeof(a) - 1);
		OSSL_PARAM p[6];

		RAND_bytes(secret, sizeof(secret));
		RAND_bytes(s1, sizeof(s1));
		RAND_bytes(s2, sizeof(s2));
		p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
		    (char *)digests[i % 3], 0);
		p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET,
		    secret, slen);
		p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED,
		    (char *)"master secret", 13);
		p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED,
		    s1, n1);
		p[4] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED,
		    s2, n2);
		p[5] = OSSL_PARAM_construct_end();
		memset(a, 0, sizeof(a));
		memset(b, 1, sizeof(b));
		ok &= derive("TLS1-PRF", "provider=stud", p, a, len);
		ok &= derive("TLS1-PRF", "provider=default", p, b, len);
		agree += memcmp(a, b, len) == 0;
	}
	CHECK(ok);
	CHECK(agree == 300);
}

/* The mode as a string, the size parameter, and a failed derivation. */
static void
test_params(void)
{
	EVP_KDF *k = EVP_KDF_fetch(NULL, "TLS13-KDF", "provider=stud");
	EVP_KDF_CTX *c = EVP_KDF_CTX_new(k);
	OSSL_PARAM p[3];
	unsigned char out[48];

	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE,
	    (char *)"EXTRACT_ONLY", 0);
	p[1] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)"SHA384", 0);
	p[2] = OSSL_PARAM_construct_end();
	CHECK(EVP_KDF_CTX_set_params(c, p) == 1);
	CHECK(EVP_KDF_CTX_get_kdf_size(c) == 48);
	CHECK(EVP_KDF_derive(c, out, 32, NULL) != 1);	/* not the size */
	CHECK(EVP_KDF_derive(c, out, 48, NULL) == 1);
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE,
	    (char *)"NONSENSE", 0);
	CHECK(EVP_KDF_CTX_set_params(c, p) != 1);
	EVP_KDF_CTX_free(c);
	EVP_KDF_free(k);
}

/* TLS contexts made as tls.c makes them take these from "stud". */
static void
test_fetched_by_libssl(void)
{
	const char *propq;
	EVP_KDF *k;

	CHECK(provider_propq(1, &propq) == 0);
	k = EVP_KDF_fetch(NULL, "TLS13-KDF", propq);
	CHECK(k != NULL && strcmp(OSSL_PROVIDER_get0_name(
	    EVP_KDF_get0_provider(k)), "stud") == 0);
	EVP_KDF_free(k);
	k = EVP_KDF_fetch(NULL, "TLS1-PRF", propq);
	CHECK(k != NULL && strcmp(OSSL_PROVIDER_get0_name(
	    EVP_KDF_get0_provider(k)), "stud") == 0);
	EVP_KDF_free(k);
	CHECK(provider_propq(0, &propq) == 0);
	k = EVP_KDF_fetch(NULL, "TLS13-KDF", propq);
	CHECK(k != NULL && strcmp(OSSL_PROVIDER_get0_name(
	    EVP_KDF_get0_provider(k)), "default") == 0);
	EVP_KDF_free(k);
}

int
main(void)
{
	const char *propq;

	CHECK(provider_propq(1, &propq) == 0);
	test_rfc5869();
	test_tls13_kdf();
	test_tls1_prf();
	test_params();
	test_fetched_by_libssl();
	return unit_summary();
}
