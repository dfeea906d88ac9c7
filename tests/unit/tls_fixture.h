/* tls_fixture.h - for the unit tests that drive stud's TLS code with a real
 * OpenSSL client: stud's server context (tls_ctx_new() with the default
 * configuration) holding a fresh self-signed P-256 certificate. */
#ifndef STUD_TLS_FIXTURE_H
#define STUD_TLS_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "configuration.h"
#include "tls.h"
#include "unit.h"

/* Make ssl a client over memory BIOs: *in holds what it will read (EOF
 * reads as "retry"), *out what it wrote. */
static inline void
fixture_client_bios(SSL *ssl, BIO **in, BIO **out)
{
	*in = BIO_new(BIO_s_mem());
	*out = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(*in, -1);
	SSL_set_bio(ssl, *in, *out);
	SSL_set_connect_state(ssl);
}

/* Give ctx a certificate for key, self-signed with md. */
static inline void
fixture_add_cert(SSL_CTX *ctx, EVP_PKEY *key, const EVP_MD *md)
{
	X509 *x = X509_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)"test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	CHECK(X509_sign(x, key, md) > 0);
	CHECK(ctx != NULL && SSL_CTX_use_certificate(ctx, x) == 1);
	CHECK(ctx != NULL && SSL_CTX_use_PrivateKey(ctx, key) == 1);
	X509_free(x);
}

/* The server context, or NULL (a failed check); x25519: the --x25519
 * setting, NULL for the default. */
static inline SSL_CTX *
fixture_server_ctx(const char *x25519)
{
	struct stud_config cfg;
	char err[256];
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	SSL_CTX *ctx;

	config_init(&cfg);
	if (x25519 != NULL) {
		free(cfg.x25519);
		cfg.x25519 = malloc(strlen(x25519) + 1);
		CHECK(cfg.x25519 != NULL);
		if (cfg.x25519 != NULL)
			memcpy(cfg.x25519, x25519, strlen(x25519) + 1);
	}
	ctx = tls_ctx_new(&cfg, err, sizeof(err));
	CHECK(ctx != NULL);
	fixture_add_cert(ctx, key, EVP_sha256());
	EVP_PKEY_free(key);
	config_free(&cfg);
	return ctx;
}

#endif /* STUD_TLS_FIXTURE_H */
