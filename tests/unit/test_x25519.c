/* test_x25519.c - unit tests of x25519.c and provider.c: RFC 7748's test
 * vectors, agreement with OpenSSL's X25519 on random keys, refusal of
 * small-order points, and stud's provider doing the key exchange of real
 * TLS 1.3 and 1.2 handshakes (in memory) with an OpenSSL client. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "provider.h"
#include "x25519.h"
#include "unit.h"

static void
unhex(const char *h, uint8_t out[32])
{
	for (int i = 0; i < 32; i++, h += 2)
		out[i] = (uint8_t)strtoul((char[3]){ h[0], h[1], 0 }, NULL, 16);
}

static int
eq_hex(const uint8_t got[32], const char *want)
{
	uint8_t w[32];

	unhex(want, w);
	return memcmp(got, w, 32) == 0;
}

/* EVP's key agreement of k with peer (through propq's provider): 0 with
 * the 32-byte secret in out, or -1. */
static int
derive(EVP_PKEY *k, EVP_PKEY *peer, const char *propq, uint8_t out[32])
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, k, propq);
	size_t len = 0;
	int ok;

	ok = c != NULL && EVP_PKEY_derive_init(c) == 1 &&
	    EVP_PKEY_derive_set_peer(c, peer) == 1 &&
	    EVP_PKEY_derive(c, NULL, &len) == 1 && len == 32 &&
	    EVP_PKEY_derive(c, out, &len) == 1 && len == 32;
	EVP_PKEY_CTX_free(c);
	return ok ? 0 : -1;
}

/* RFC 7748, sections 5.2 and 6.1 (the first 5.2 vector, the iterated
 * one, the Diffie-Hellman example). */
static void
test_rfc7748(void)
{
	uint8_t k[32], u[32], out[32], next[32];

	unhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
	    k);
	unhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
	    u);
	CHECK(x25519_shared(out, k, u) == 0);
	CHECK(eq_hex(out, "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"));

	/* a u-coordinate with its top bit set: the bit is ignored */
	u[31] |= 0x80;
	CHECK(x25519_shared(next, k, u) == 0 && memcmp(next, out, 32) == 0);

	/* iterated: k, u = X25519(k, u), k */
	memset(k, 0, 32);
	k[0] = 9;
	memcpy(u, k, 32);
	for (int i = 1; i <= 1000; i++) {
		x25519_shared(next, k, u);
		memcpy(u, k, 32);
		memcpy(k, next, 32);
		if (i == 1)
			CHECK(eq_hex(k, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"));
	}
	CHECK(eq_hex(k, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"));

	/* Diffie-Hellman: the fixed-base public keys and the shared secret */
	unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
	    k);
	CHECK(x25519_public(out, k) == 0);
	CHECK(eq_hex(out, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"));
	unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
	    k);
	CHECK(x25519_public(out, k) == 0);
	CHECK(eq_hex(out, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"));
	unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
	    k);
	CHECK(x25519_shared(out, k, out) == 0);
	CHECK(eq_hex(out, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"));
}

/* Points of small order give all zeros, which x25519_shared() refuses;
 * u = p + 9 (not reduced) is taken as u = 9, as RFC 7748 asks. */
static void
test_edge_points(void)
{
	uint8_t k[32], u[32], out[32], out9[32];

	RAND_bytes(k, 32);
	memset(u, 0, 32);
	CHECK(x25519_shared(out, k, u) == -1);		/* u = 0 */
	u[0] = 1;
	CHECK(x25519_shared(out, k, u) == -1);		/* u = 1 */
	memset(u, 0xff, 32);				/* u = 2^255 - 1 = p + 18 */
	u[0] = 0xec;
	u[31] = 0x7f;					/* u = p - 1: order 2 */
	CHECK(x25519_shared(out, k, u) == -1);
	memset(u, 0xff, 32);
	u[0] = 0xf6;
	u[31] = 0x7f;					/* u = p + 9 */
	CHECK(x25519_shared(out, k, u) == 0);
	memset(u, 0, 32);
	u[0] = 9;
	CHECK(x25519_shared(out9, k, u) == 0);
	CHECK(memcmp(out, out9, 32) == 0);
}

/* The four-lane ladder and the portable one give the same secrets for
 * random keys and for peer values whose limbs are all at their largest or
 * smallest (unreduced ones, p - 1, 2^255 - 1 and the like). */
static void
test_ladders_agree(void)
{
	uint8_t k[32], u[32], v4[32], v1[32];
	int bad = 0, n = 0;

	if (x25519_ladder(1) != 1)
		return;
	for (int i = 0; i < 3000; i++) {
		RAND_bytes(k, 32);
		RAND_bytes(u, 32);
		if (i < 512) {				/* limb-edge patterns */
			memset(u, i & 1 ? 0xff : 0x00, 32);
			u[i / 16 % 32] = (uint8_t)(i * 37);
			u[0] = (uint8_t)(u[0] ^ (i >> 1));
			if (i & 2)
				u[31] &= 0x7f;
		}
		x25519_ladder(1);
		int r4 = x25519_shared(v4, k, u);
		x25519_ladder(0);
		int r1 = x25519_shared(v1, k, u);
		bad += r4 != r1 || memcmp(v4, v1, 32) != 0;
		n++;
	}
	CHECK(n == 3000 && bad == 0);
}

/* Against OpenSSL's own X25519 (default provider) on random keys. */
static void
test_against_openssl(void)
{
	int pub_bad = 0, shared_bad = 0;

	for (int i = 0; i < 500; i++) {
		uint8_t a[32], b[32], pa[32], pb[32], ref[32], s1[32], s2[32];
		size_t len = 32;
		EVP_PKEY *ka, *kb;

		RAND_bytes(a, 32);
		RAND_bytes(b, 32);
		ka = EVP_PKEY_new_raw_private_key_ex(NULL, "X25519",
		    "provider=default", a, 32);
		x25519_public(pa, a);
		EVP_PKEY_get_raw_public_key(ka, ref, &len);
		pub_bad += memcmp(pa, ref, 32) != 0;
		x25519_public(pb, b);
		kb = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519",
		    "provider=default", pb, 32);
		if (derive(ka, kb, "provider=default", ref) != 0)
			shared_bad++;
		x25519_shared(s1, a, pb);
		x25519_shared(s2, b, pa);
		shared_bad += memcmp(s1, ref, 32) != 0 || memcmp(s2, ref, 32);
		EVP_PKEY_free(ka);
		EVP_PKEY_free(kb);
	}
	CHECK(pub_bad == 0);
	CHECK(shared_bad == 0);
}

static const char *
provider_of(const EVP_PKEY *k)
{
	const OSSL_PROVIDER *p = k ? EVP_PKEY_get0_provider(k) : NULL;

	return p ? OSSL_PROVIDER_get0_name(p) : "";
}

/* The provider through EVP, as libssl drives it: the peer's key from
 * parameters plus an encoded point, a key pair from that template, and the
 * exchange (with the peer check), matching OpenSSL's answer. */
static void
test_provider_evp(void)
{
	uint8_t peer_priv[32], peer_pub[32], mine[32], s_ours[32], s_ref[32];
	unsigned char *enc = NULL;
	size_t len;
	EVP_PKEY *ck = NULL, *sk = NULL, *ref_peer, *ref_mine;
	EVP_PKEY_CTX *c;

	RAND_bytes(peer_priv, 32);
	x25519_public(peer_pub, peer_priv);
	c = EVP_PKEY_CTX_new_from_name(NULL, "X25519", "provider=stud");
	CHECK(c != NULL && EVP_PKEY_paramgen_init(c) == 1 &&
	    EVP_PKEY_CTX_set_group_name(c, "X25519") == 1 &&
	    EVP_PKEY_paramgen(c, &ck) == 1);
	EVP_PKEY_CTX_free(c);
	CHECK(strcmp(provider_of(ck), "stud") == 0);
	CHECK(EVP_PKEY_set1_encoded_public_key(ck, peer_pub, 32) == 1);
	CHECK(EVP_PKEY_set1_encoded_public_key(ck, peer_pub, 31) != 1);

	c = EVP_PKEY_CTX_new_from_pkey(NULL, ck, "?provider=stud");
	CHECK(c != NULL && EVP_PKEY_keygen_init(c) == 1 &&
	    EVP_PKEY_keygen(c, &sk) == 1);
	EVP_PKEY_CTX_free(c);
	CHECK(strcmp(provider_of(sk), "stud") == 0);
	CHECK(EVP_PKEY_get_bits(sk) == 253 &&
	    EVP_PKEY_get_security_bits(sk) == 128 && EVP_PKEY_get_size(sk) == 32);
	CHECK(EVP_PKEY_get1_encoded_public_key(sk, &enc) == 32);

	CHECK(derive(sk, ck, "?provider=stud", s_ours) == 0);

	/* the same exchange done by OpenSSL from the peer's side */
	len = 32;
	CHECK(EVP_PKEY_get_raw_private_key(sk, mine, &len) == 1);
	ref_peer = EVP_PKEY_new_raw_private_key_ex(NULL, "X25519",
	    "provider=default", peer_priv, 32);
	ref_mine = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519",
	    "provider=default", enc, 32);
	CHECK(derive(ref_peer, ref_mine, "provider=default", s_ref) == 0);
	CHECK(memcmp(s_ours, s_ref, 32) == 0);

	/* a small-order peer point: the exchange fails, not an all-zero key */
	memset(peer_pub, 0, 32);
	CHECK(EVP_PKEY_set1_encoded_public_key(ck, peer_pub, 32) == 1);
	CHECK(derive(sk, ck, "?provider=stud", s_ours) == -1);

	/* as TLS 1.2 does it: a key pair by group name; the peer's key as a
	 * copy of the parameters plus the encoded point (here: sk's) */
	{
		EVP_PKEY *k12 = NULL, *p12 = EVP_PKEY_new();
		uint8_t priv12[32], want[32];

		c = EVP_PKEY_CTX_new_from_name(NULL, "X25519", "?provider=stud");
		CHECK(c != NULL && EVP_PKEY_keygen_init(c) == 1 &&
		    EVP_PKEY_CTX_set_group_name(c, "x25519") == 1 &&
		    EVP_PKEY_keygen(c, &k12) == 1);
		EVP_PKEY_CTX_free(c);
		CHECK(strcmp(provider_of(k12), "stud") == 0);
		CHECK(EVP_PKEY_copy_parameters(p12, k12) == 1 &&
		    EVP_PKEY_set1_encoded_public_key(p12, enc, 32) == 1);
		CHECK(derive(k12, p12, "?provider=stud", s_ours) == 0);
		len = 32;
		CHECK(EVP_PKEY_get_raw_private_key(k12, priv12, &len) == 1 &&
		    x25519_shared(want, priv12, enc) == 0 &&
		    memcmp(want, s_ours, 32) == 0);
		EVP_PKEY_free(k12);
		EVP_PKEY_free(p12);
	}

	/* a second group name is refused */
	c = EVP_PKEY_CTX_new_from_name(NULL, "X25519", "provider=stud");
	CHECK(c != NULL && EVP_PKEY_keygen_init(c) == 1 &&
	    EVP_PKEY_CTX_set_group_name(c, "P-256") != 1);
	EVP_PKEY_CTX_free(c);

	OPENSSL_free(enc);
	EVP_PKEY_free(ck);
	EVP_PKEY_free(sk);
	EVP_PKEY_free(ref_peer);
	EVP_PKEY_free(ref_mine);
}

/* Pump a client and a server through memory BIOs until both are done;
 * note whose key the server's first flight carried (TLS 1.2 frees it once
 * the client's key exchange is in). */
static int
handshake(SSL *cli, SSL *srv, char *keyprov, size_t len)
{
	int cd = 0, sd = 0;

	for (int i = 0; i < 50 && !(cd && sd); i++) {
		if (!cd) {
			int r = SSL_do_handshake(cli);

			if (r == 1)
				cd = 1;
			else if (SSL_get_error(cli, r) != SSL_ERROR_WANT_READ)
				return -1;
		}
		if (!sd) {
			int r = SSL_do_handshake(srv);
			EVP_PKEY *tmp = NULL;

			if (*keyprov == '\0' && SSL_get_tmp_key(srv, &tmp)) {
				snprintf(keyprov, len, "%s", provider_of(tmp));
				EVP_PKEY_free(tmp);
			}
			if (r == 1)
				sd = 1;
			else if (SSL_get_error(srv, r) != SSL_ERROR_WANT_READ)
				return -1;
		}
	}
	return cd && sd ? 0 : -1;
}

/* A real handshake: an OpenSSL client preferring X25519, a server
 * context with propq: the key share of the server is want_provider's. */
static void
test_tls(int version, const char *propq, const char *want_provider)
{
	SSL_CTX *sctx, *cctx;
	SSL *srv, *cli;
	BIO *s2c, *c2s;
	EVP_PKEY *pkey;
	X509 *cert;
	char keyprov[32] = "";

	sctx = SSL_CTX_new_ex(NULL, propq, TLS_server_method());
	cctx = SSL_CTX_new(TLS_client_method());
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	cert = X509_new();
	X509_set_version(cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(cert), 0);
	X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
	X509_set_pubkey(cert, pkey);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN",
	    MBSTRING_ASC, (const unsigned char *)"test", -1, -1, 0);
	X509_set_issuer_name(cert, X509_get_subject_name(cert));
	X509_sign(cert, pkey, EVP_sha256());
	CHECK(SSL_CTX_use_certificate(sctx, cert) == 1 &&
	    SSL_CTX_use_PrivateKey(sctx, pkey) == 1);
	SSL_CTX_set_min_proto_version(cctx, version);
	SSL_CTX_set_max_proto_version(cctx, version);
	/* X25519 first; P-256 too, or TLS 1.2 could not use the P-256 key */
	CHECK(SSL_CTX_set1_groups_list(cctx, "X25519:P-256") == 1);

	srv = SSL_new(sctx);
	cli = SSL_new(cctx);
	s2c = BIO_new(BIO_s_mem());
	c2s = BIO_new(BIO_s_mem());
	BIO_up_ref(s2c);
	BIO_up_ref(c2s);
	SSL_set_bio(srv, c2s, s2c);
	SSL_set_bio(cli, s2c, c2s);
	SSL_set_accept_state(srv);
	SSL_set_connect_state(cli);
	CHECK(handshake(cli, srv, keyprov, sizeof(keyprov)) == 0);
	CHECK(SSL_version(srv) == version);
	CHECK(SSL_get_negotiated_group(srv) == NID_X25519);
	CHECK(strcmp(keyprov, want_provider) == 0);
	/* data both ways proves both ends derived the same secret */
	{
		char buf[8] = { 0 };

		CHECK(SSL_write(cli, "ping", 4) == 4);
		CHECK(SSL_read(srv, buf, sizeof(buf)) == 4 &&
		    memcmp(buf, "ping", 4) == 0);
	}
	SSL_free(srv);		/* each frees the two BIOs it was given */
	SSL_free(cli);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	X509_free(cert);
	EVP_PKEY_free(pkey);
}

int
main(void)
{
	const char *propq;

	CHECK(x25519_init() == 0);
	/* each ladder, the four-lane one first where this CPU has it */
	for (int vector = 1; vector >= 0; vector--) {
		if (x25519_ladder(vector) != vector) {
			printf("# no AVX-512 IFMA here: the four-lane ladder "
			    "is not tested\n");
			continue;
		}
		test_rfc7748();
		test_edge_points();
		test_against_openssl();
	}
	test_ladders_agree();
	x25519_ladder(1);
	CHECK(provider_propq(0, &propq) == 0 && propq == NULL);
	CHECK(provider_propq(1, &propq) == 0 && propq != NULL);
	CHECK(provider_propq(1, &propq) == 0 && propq != NULL); /* once */
	test_provider_evp();
	test_tls(TLS1_3_VERSION, propq, "stud");
	test_tls(TLS1_2_VERSION, propq, "stud");
	/* --x25519=openssl after a reload from stud: OpenSSL's again */
	CHECK(provider_propq(0, &propq) == 0 && propq != NULL);
	test_tls(TLS1_3_VERSION, propq, "default");
	test_tls(TLS1_2_VERSION, propq, "default");
	return unit_summary();
}
