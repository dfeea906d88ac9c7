/* tls.c - OpenSSL server context: protocols, ciphers, certificates, DH
 * parameters, the per-connection SSL object, and what stud's own handshakes
 * need of a context. OpenSSL version checks and compatibility shims live
 * here and nowhere else. */
#define OPENSSL_SUPPRESS_DEPRECATED	/* ENGINE_* is deprecated in OpenSSL 3 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/provider.h>
#ifndef OPENSSL_NO_ENGINE
#include <openssl/engine.h>
#endif
#include <openssl/ssl.h>

#include "hello.h"
#include "hs12.h"
#include "hs13.h"
#include "kdf.h"
#include "provider.h"
#include "proxy.h"
#include "record.h"
#include "resume.h"
#include "tls.h"
#ifdef USE_SHARED_CACHE
#include "shctx.h"
#endif

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "stud needs OpenSSL 3"
#endif

/* Forward-secret AEAD ciphers for TLS 1.2; TLS 1.3 suites are all AEAD+FS. */
#define TLS_DEFAULT_CIPHERS \
	"ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!SHA1"

/* Session ticket keys: name, HMAC-SHA256 secret and AES-256 key, 80 bytes
 * as in a --ticket-key-file line. The first one encrypts, all decrypt. They
 * are made in the parent before fork, so every worker holds the same keys,
 * and kept with each context (freed with it), so a reload that fails
 * changes nothing. */
struct ticket_key {
	unsigned char	name[16];
	unsigned char	hmac[32];
	unsigned char	aes[32];
};

#define TICKET_KEYS_MAX	64

struct ticket_keys {
	size_t		 n;
	struct ticket_key k[TICKET_KEYS_MAX];
};

static struct ticket_key	 random_key;	/* without a key file; made
						 * once, kept across reloads */
static int			 random_key_made;
static int			 tickets_index = -1;
static int			 engine_ciphers;	/* a legacy -e engine
						 * serves OpenSSL's ciphers:
						 * records stay with it */
static EVP_CIPHER		*ticket_cipher;
static int			 resume_on;	/* resume.c's table is made */
static int			 groups_x25519 = 1; /* X25519 is allowed */
static int			 groups_x25519_first = 1; /* ours start with it */

#ifdef USE_SHARED_CACHE
/* Room for one serialised session in the shared cache: a TLS 1.2 session
 * with a small client certificate fits; larger ones are not shared. */
#define SHARED_SESSION_MAX	2048

static struct shctx	*shared_cache;
static tls_session_hook	 session_hook;

static int
shared_new_cb(SSL *ssl, SSL_SESSION *sess)
{
	unsigned char buf[SHARED_SESSION_MAX], *p = buf;
	const unsigned char *id;
	unsigned int idlen;
	int len;

	/* a TLS 1.3 session travels in its stateless ticket and is never
	 * looked up by ID: storing it would only evict TLS 1.2 sessions */
	if (SSL_version(ssl) == TLS1_3_VERSION &&
	    (SSL_get_options(ssl) & SSL_OP_NO_TICKET) == 0)
		return 0;
	id = SSL_SESSION_get_id(sess, &idlen);
	len = i2d_SSL_SESSION(sess, NULL);
	if (len > 0 && len <= (int)sizeof(buf) &&
	    i2d_SSL_SESSION(sess, &p) == len) {
		shctx_store(shared_cache, id, idlen, buf, (size_t)len);
		if (session_hook != NULL)
			session_hook(id, idlen, buf, (size_t)len);
	}
	return 0;		/* we keep no reference to sess */
}

void
tls_set_session_hook(tls_session_hook hook)
{
	session_hook = hook;
}

int
tls_shared_cache_store(const unsigned char *id, size_t idlen,
    const unsigned char *der, size_t len)
{
	if (shared_cache == NULL)
		return -1;
	return shctx_store(shared_cache, id, idlen, der, len) == 0 ? 0 : -1;
}

static SSL_SESSION *
shared_get_cb(SSL *ssl, const unsigned char *id, int idlen, int *copy)
{
	unsigned char buf[SHARED_SESSION_MAX];
	const unsigned char *p = buf;
	int len;

	(void)ssl;
	*copy = 0;
	len = shctx_lookup(shared_cache, id, (size_t)idlen, buf, sizeof(buf));
	return len > 0 ? d2i_SSL_SESSION(NULL, &p, len) : NULL;
}

static void
shared_remove_cb(SSL_CTX *ctx, SSL_SESSION *sess)
{
	const unsigned char *id;
	unsigned int idlen;

	(void)ctx;
	id = SSL_SESSION_get_id(sess, &idlen);
	shctx_remove(shared_cache, id, idlen);
	resume_table_forget(id, idlen);
}

/* Make the cache once, before any fork; it outlives reloads. */
static int
tls_setup_session_cache(SSL_CTX *ctx, const struct stud_config *cfg,
    char *errbuf, size_t errlen)
{
	if (cfg->session_cache <= 0)
		return 0;
	if (shared_cache == NULL) {
		shared_cache = shctx_create((unsigned)cfg->session_cache,
		    SHARED_SESSION_MAX);
		if (shared_cache == NULL) {
			snprintf(errbuf, errlen, "cannot make a shared session "
			    "cache of %ld sessions: %s", cfg->session_cache,
			    strerror(errno));
			return -1;
		}
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER |
	    SSL_SESS_CACHE_NO_INTERNAL);
	SSL_CTX_sess_set_new_cb(ctx, shared_new_cb);
	SSL_CTX_sess_set_get_cb(ctx, shared_get_cb);
	SSL_CTX_sess_set_remove_cb(ctx, shared_remove_cb);
	return 0;
}

#else
static int
tls_setup_session_cache(SSL_CTX *ctx, const struct stud_config *cfg,
    char *errbuf, size_t errlen)
{
	if (cfg->session_cache > 0) {
		snprintf(errbuf, errlen, "--session-cache needs a stud built "
		    "with the shared session cache (make USE_SHARED_CACHE=1)");
		return -1;
	}
	/* no remove callback (OpenSSL would then keep every TLS 1.3 session
	 * in its cache too: 1 KiB more per connection): the worker forgets
	 * the session of a failed handshake itself (tls_resume_failed()) */
	(void)ctx;
	return 0;
}

#endif

/* Describe the oldest queued OpenSSL error in buf and clear the queue. */
static const char *
tls_error(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	snprintf(buf, len, "%s", r != NULL ? r : "unknown OpenSSL error");
	ERR_clear_error();
	return buf;
}

static int
tls_load_dh(SSL_CTX *ctx, const char *path)
{
	EVP_PKEY *dh;
	BIO *bio;

	if ((bio = BIO_new_file(path, "r")) == NULL)
		return -1;
	dh = PEM_read_bio_Parameters(bio, NULL);
	BIO_free(bio);
	ERR_clear_error();	/* a PEM without parameters is fine */
	if (dh == NULL || EVP_PKEY_get_base_id(dh) != EVP_PKEY_DH) {
		EVP_PKEY_free(dh);
		return SSL_CTX_set_dh_auto(ctx, 1) == 1 ? 0 : -1;
	}
	if (SSL_CTX_set0_tmp_dh_pkey(ctx, dh) != 1) {
		EVP_PKEY_free(dh);
		return -1;
	}
	return 0;
}

/* A PEM with no chain after its certificate: OpenSSL would look for one
 * in the context's store (the --client-verify-ca certificates, if any) at
 * every handshake, with a whole X509_verify_cert(). Look once, now, the
 * same way (verification errors ignored, what was found kept, even
 * nothing): the certificate then has its chain and no handshake builds
 * one. */
static void
tls_complete_chain(SSL_CTX *ctx)
{
	STACK_OF(X509) *chain = NULL;

	if (SSL_CTX_get0_chain_certs(ctx, &chain) == 1 &&
	    sk_X509_num(chain) <= 0 &&
	    SSL_CTX_build_cert_chain(ctx, SSL_BUILD_CHAIN_FLAG_IGNORE_ERROR |
	    SSL_BUILD_CHAIN_FLAG_CLEAR_ERROR) <= 0)
		ERR_clear_error();	/* then OpenSSL looks at each one */
}

int
tls_ctx_load_pem(SSL_CTX *ctx, const char *path, char *errbuf, size_t errlen)
{
	char why[256];
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(errbuf, errlen, "cannot read PEM file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	fclose(f);
	if (SSL_CTX_use_certificate_chain_file(ctx, path) != 1) {
		snprintf(errbuf, errlen, "no usable certificate in %s: %s",
		    path, tls_error(why, sizeof(why)));
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM) != 1) {
		snprintf(errbuf, errlen, "no usable private key in %s: %s",
		    path, tls_error(why, sizeof(why)));
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(errbuf, errlen, "the private key in %s does not "
		    "match its certificate", path);
		ERR_clear_error();
		return -1;
	}
	if (tls_load_dh(ctx, path) == -1) {
		snprintf(errbuf, errlen, "cannot use the DH parameters in %s: "
		    "%s", path, tls_error(why, sizeof(why)));
		return -1;
	}
	tls_complete_chain(ctx);
	return 0;
}

/* Whether a --ecdh-curve list (OpenSSL's default if "") has X25519. */
static int
groups_have_x25519(const char *list)
{
	const char *p = list;
	size_t n;

	if (*list == '\0')
		return 1;
	for (; *p != '\0'; p += n + (p[n] == ':')) {
		n = strcspn(p, ":");
		if (n == 6 && strncasecmp(p, "X25519", 6) == 0)
			return 1;
	}
	return 0;
}

/* --tls-protos: the lowest and highest version asked for, and the ones in
 * between that were not, switched off. */
static int
tls_set_proto_list(SSL_CTX *ctx, const char *list)
{
	static const int version[] = { TLS1_VERSION, TLS1_1_VERSION,
	    TLS1_2_VERSION, TLS1_3_VERSION };
	static const uint64_t off[] = { SSL_OP_NO_TLSv1, SSL_OP_NO_TLSv1_1,
	    SSL_OP_NO_TLSv1_2, SSL_OP_NO_TLSv1_3 };
	unsigned mask, lo = 0, hi = 3, i;

	if (config_tls_protos(list, &mask) == -1)
		return -1;
	while (!(mask & (1u << lo)))
		lo++;
	while (!(mask & (1u << hi)))
		hi--;
	for (i = lo; i <= hi; i++)
		if (!(mask & (1u << i)))
			SSL_CTX_set_options(ctx, off[i]);
	return SSL_CTX_set_min_proto_version(ctx, version[lo]) == 1 &&
	    SSL_CTX_set_max_proto_version(ctx, version[hi]) == 1 ? 0 : -1;
}

static int
tls_set_protocols(SSL_CTX *ctx, const struct stud_config *cfg, char *errbuf,
    size_t errlen)
{
	char why[256];
	const char *ciphers = *cfg->ciphers ? cfg->ciphers :
	    cfg->ssl ? "DEFAULT" : TLS_DEFAULT_CIPHERS;
	int min = cfg->ssl ? 0 : TLS1_2_VERSION;

	if (*cfg->tls_protos != '\0' ?
	    tls_set_proto_list(ctx, cfg->tls_protos) == -1 :
	    SSL_CTX_set_min_proto_version(ctx, min) != 1) {
		snprintf(errbuf, errlen, "cannot set the protocol versions: "
		    "%s", tls_error(why, sizeof(why)));
		return -1;
	}
	if (SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
		snprintf(errbuf, errlen, "invalid cipher list '%s': %s",
		    ciphers, tls_error(why, sizeof(why)));
		return -1;
	}
	if (*cfg->ciphersuites != '\0' &&
	    SSL_CTX_set_ciphersuites(ctx, cfg->ciphersuites) != 1) {
		snprintf(errbuf, errlen, "invalid --ciphersuites '%s': %s",
		    cfg->ciphersuites, tls_error(why, sizeof(why)));
		return -1;
	}
	if (*cfg->ecdh_curve != '\0' &&
	    SSL_CTX_set1_groups_list(ctx, cfg->ecdh_curve) != 1) {
		snprintf(errbuf, errlen, "invalid --ecdh-curve '%s': %s",
		    cfg->ecdh_curve, tls_error(why, sizeof(why)));
		return -1;
	}
	groups_x25519 = groups_have_x25519(cfg->ecdh_curve);
	groups_x25519_first = *cfg->ecdh_curve == '\0' ||
	    (strncasecmp(cfg->ecdh_curve, "X25519", 6) == 0 &&
	    (cfg->ecdh_curve[6] == '\0' || cfg->ecdh_curve[6] == ':'));
	return 0;
}

/* ALPN: the server's list in wire format, kept with (and freed with) each
 * context so that a reload that fails changes nothing. */
static int alpn_index = -1;

static void
alpn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	OPENSSL_free(ptr);
}

/* The server's order decides; no overlap is a no_application_protocol
 * alert. A client offering no ALPN never gets here. */
static int
alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	const unsigned char *server = arg, *c;
	size_t s;

	(void)ssl;
	for (s = 1; s < (size_t)server[0] + 1; s += server[s] + 1u) {
		for (c = in; c < in + inlen; c += *c + 1u) {
			if (c + 1 + *c > in + inlen)
				return SSL_TLSEXT_ERR_ALERT_FATAL;
			if (*c == server[s] &&
			    memcmp(c + 1, server + s + 1, *c) == 0) {
				*out = c + 1;
				*outlen = *c;
				return SSL_TLSEXT_ERR_OK;
			}
		}
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* Build [total][len][proto][len][proto]... from "h2,http/1.1". */
static unsigned char *
alpn_wire(const char *list)
{
	size_t n = strlen(list), pos = 1, len;
	const char *p = list;
	unsigned char *w;

	if (n == 0 || n > 254 || (w = OPENSSL_malloc(n + 2)) == NULL)
		return NULL;
	for (;;) {
		if ((len = strcspn(p, ",")) == 0) {
			OPENSSL_free(w);
			return NULL;
		}
		w[pos] = (unsigned char)len;
		memcpy(w + pos + 1, p, len);
		pos += len + 1;
		p += len;
		if (*p++ == '\0')
			break;
	}
	w[0] = (unsigned char)(pos - 1);
	return w;
}

static int
tls_setup_alpn(SSL_CTX *ctx, const struct stud_config *cfg, char *errbuf,
    size_t errlen)
{
	unsigned char *w;

	if (*cfg->alpn_protos == '\0')
		return 0;
	if (alpn_index == -1)
		alpn_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
		    alpn_free);
	if ((w = alpn_wire(cfg->alpn_protos)) == NULL) {
		snprintf(errbuf, errlen, "invalid --alpn-protos '%s': expected "
		    "names separated by commas", cfg->alpn_protos);
		return -1;
	}
	SSL_CTX_set_ex_data(ctx, alpn_index, w);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, w);
	return 0;
}

/* --client-verify and --client-verify-ca. */
static int
tls_setup_client_verify(SSL_CTX *ctx, const struct stud_config *cfg,
    char *errbuf, size_t errlen)
{
	const char *ca = cfg->client_verify_ca;
	STACK_OF(X509_NAME) *names;
	char why[256];
	int mode = SSL_VERIFY_PEER;

	if (strcmp(cfg->client_verify, "none") == 0)
		return 0;
	if (strcmp(cfg->client_verify, "required") == 0)
		mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 ||
	    (names = SSL_load_client_CA_file(ca)) == NULL) {
		snprintf(errbuf, errlen, "cannot load client CA file %s: %s",
		    ca, tls_error(why, sizeof(why)));
		return -1;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, mode, NULL);
	return 0;
}

/* Load -e NAME as an OpenSSL 3 provider, else as a legacy engine. */
static int
tls_load_engine(const char *name, char *errbuf, size_t errlen)
{
#ifndef OPENSSL_NO_ENGINE
	ENGINE *e;
#endif

	if (OSSL_PROVIDER_load(NULL, name) != NULL) {
		if (OSSL_PROVIDER_available(NULL, "default") ||
		    OSSL_PROVIDER_load(NULL, "default") != NULL)
			return 0;
	}
	ERR_clear_error();
#ifndef OPENSSL_NO_ENGINE
	if ((e = ENGINE_by_id(name)) != NULL) {
		if (ENGINE_init(e) == 1 &&
		    ENGINE_set_default(e, ENGINE_METHOD_ALL) == 1) {
			engine_ciphers = ENGINE_get_ciphers(e) != NULL;
			ENGINE_free(e);
			return 0;
		}
		ENGINE_free(e);
	}
	ERR_clear_error();
#endif
	snprintf(errbuf, errlen, "cannot load OpenSSL engine or provider "
	    "'%s'", name);
	return -1;
}

int
tls_init(const struct stud_config *cfg, char *errbuf, size_t errlen)
{
	if (*cfg->engine != '\0')
		return tls_load_engine(cfg->engine, errbuf, errlen);
	return 0;
}

/* Decode one base64 line of exactly sizeof(struct ticket_key) bytes. */
static int
ticket_key_decode(const char *line, struct ticket_key *k)
{
	unsigned char out[128];
	size_t len = strlen(line);
	int n;

	if (len == 0 || len > 4 * sizeof(out) / 3 || len % 4 != 0)
		return -1;
	if ((n = EVP_DecodeBlock(out, (const unsigned char *)line,
	    (int)len)) < 0)
		return -1;
	n -= (line[len - 1] == '=') + (line[len - 2] == '=');
	if (n != (int)sizeof(*k))
		return -1;
	memcpy(k, out, sizeof(*k));
	OPENSSL_cleanse(out, sizeof(out));
	return 0;
}

static int
ticket_keys_load(const char *path, struct ticket_keys *keys, char *errbuf,
    size_t errlen)
{
	char line[512];
	unsigned lineno = 0;
	size_t n = 0;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(errbuf, errlen, "cannot read ticket key file %s: %s",
		    path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if (n == TICKET_KEYS_MAX ||
		    ticket_key_decode(line, &keys->k[n]) == -1) {
			snprintf(errbuf, errlen, "%s:%u: %s", path, lineno,
			    n == TICKET_KEYS_MAX ? "too many ticket keys" :
			    "a ticket key is the base64 of 80 bytes "
			    "(openssl rand -base64 80)");
			fclose(f);
			return -1;
		}
		n++;
	}
	fclose(f);
	if (n == 0) {
		snprintf(errbuf, errlen, "no ticket key in %s", path);
		return -1;
	}
	keys->n = n;
	return 0;
}

/* Without a key file: one random key, made once and kept across reloads. */
static int
ticket_keys_random(struct ticket_keys *keys, char *errbuf, size_t errlen)
{
	if (!random_key_made && RAND_bytes((unsigned char *)&random_key,
	    sizeof(random_key)) != 1) {
		snprintf(errbuf, errlen, "cannot make a session ticket key");
		return -1;
	}
	random_key_made = 1;
	keys->k[0] = random_key;
	keys->n = 1;
	return 0;
}

static void
ticket_keys_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	OPENSSL_clear_free(ptr, sizeof(struct ticket_keys));
}

static int
ticket_mac_init(EVP_MAC_CTX *hctx, const struct ticket_key *k)
{
	OSSL_PARAM p[3];

	p[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
	    (void *)k->hmac, sizeof(k->hmac));
	p[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	p[2] = OSSL_PARAM_construct_end();
	return EVP_MAC_CTX_set_params(hctx, p);
}

/* OpenSSL's ticket callback: 1 = key found, 2 = found but renew the ticket
 * with the current key, 0 = unknown key (full handshake), -1 = error. */
static int
ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv,
    EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc)
{
	const struct ticket_keys *keys =
	    SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tickets_index);
	const struct ticket_key *k;
	size_t i;

	if (keys == NULL)
		return -1;
	k = &keys->k[0];
	if (enc) {
		memcpy(name, k->name, sizeof(k->name));
		if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1 ||
		    EVP_EncryptInit_ex2(ectx, ticket_cipher, k->aes, iv,
		    NULL) != 1 || ticket_mac_init(hctx, k) != 1)
			return -1;
		return 1;
	}
	for (i = 0; i < keys->n; i++)
		if (memcmp(name, keys->k[i].name, 16) == 0)
			break;
	if (i == keys->n)
		return 0;
	k = &keys->k[i];
	if (EVP_DecryptInit_ex2(ectx, ticket_cipher, k->aes, iv, NULL) != 1 ||
	    ticket_mac_init(hctx, k) != 1)
		return -1;
	return i == 0 ? 1 : 2;
}

static int
tls_setup_tickets(SSL_CTX *ctx, const struct stud_config *cfg, char *errbuf,
    size_t errlen)
{
	struct ticket_keys *keys;

	if (ticket_cipher == NULL &&
	    (ticket_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL)) ==
	    NULL) {
		snprintf(errbuf, errlen, "AES-256-CBC is not available for "
		    "session tickets");
		return -1;
	}
	if (tickets_index == -1)
		tickets_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
		    ticket_keys_free);
	if ((keys = OPENSSL_zalloc(sizeof(*keys))) == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		return -1;
	}
	if ((*cfg->ticket_key_file != '\0' ? ticket_keys_load(
	    cfg->ticket_key_file, keys, errbuf, errlen) :
	    ticket_keys_random(keys, errbuf, errlen)) == -1) {
		OPENSSL_clear_free(keys, sizeof(*keys));
		return -1;
	}
	SSL_CTX_set_ex_data(ctx, tickets_index, keys);
	if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb) != 1) {
		snprintf(errbuf, errlen, "cannot install the ticket callback");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------
 * Handing the record layer over to record.c: what the handshake shows.
 */

#define W_FIN_SENT	0x01	/* our Finished is out: count our records */
#define W_FIN_RCVD	0x02	/* the client's is in: count its records */
#define W_CLIENT_SECRET	0x04	/* TLS 1.3 traffic secrets noted */
#define W_SERVER_SECRET	0x08
#define W_SECRET48	0x10	/* they are SHA-384 long */
#define W_KEYS_MOVED	0x20	/* a KeyUpdate went by: secrets outdated */

static void	watch_keylog_cb(const SSL *ssl, const char *line);

static struct rec_state	*handshaking;	/* tls_handshake()'s connection */
static int		 secrets_from_kdf; /* stud's provider reports them */

/* OpenSSL's view of each record and handshake message: a record after a
 * side's Finished takes the next sequence number of that direction. A
 * TLS 1.3 Finished is also the moment to have the next traffic secret
 * logged (unless stud's provider reports them, watch_kdf_secret()):
 * OpenSSL derives the server's right after writing its Finished and the
 * client's right after reading the client's. The key log is off otherwise,
 * since OpenSSL prints every secret as hex with a sprintf per byte: 5 per
 * TLS 1.3 handshake (3 then), 1 per TLS 1.2 one (none then). */
static void
watch_msg_cb(int write_p, int version, int content_type, const void *buf,
    size_t len, SSL *ssl, void *arg)
{
	struct rec_state *rs = arg;
	const unsigned char *m = buf;

	(void)version;
	if (content_type == SSL3_RT_HEADER) {
		if (rs->watch & (write_p ? W_FIN_SENT : W_FIN_RCVD))
			(write_p ? &rs->wr : &rs->rd)->seq++;
	} else if (content_type == SSL3_RT_HANDSHAKE && len > 0) {
		if (m[0] == SSL3_MT_FINISHED) {
			rs->watch |= write_p ? W_FIN_SENT : W_FIN_RCVD;
			if (SSL_version(ssl) == TLS1_3_VERSION &&
			    !secrets_from_kdf)
				SSL_CTX_set_keylog_callback(SSL_get_SSL_CTX(ssl),
				    watch_keylog_cb);
		} else if (m[0] == SSL3_MT_KEY_UPDATE)
			rs->watch |= W_KEYS_MOVED;
	}
}

/* The TLS 1.3 application traffic secrets, as OpenSSL reports them in
 * key log lines: LABEL CLIENT_RANDOM SECRET (hex). */
static void
watch_keylog_cb(const SSL *ssl, const char *line)
{
	struct rec_state *rs = SSL_get_app_data(ssl);
	unsigned char *dst;
	const char *hex;
	unsigned bit;
	size_t n;

	if (rs == NULL)
		return;
	if (strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0) {
		dst = rs->rd.secret;
		bit = W_CLIENT_SECRET;
	} else if (strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) == 0) {
		dst = rs->wr.secret;
		bit = W_SERVER_SECRET;
	} else
		return;
	SSL_CTX_set_keylog_callback(SSL_get_SSL_CTX(ssl), NULL);
	if ((hex = strchr(line + 24, ' ')) == NULL ||
	    OPENSSL_hexstr2buf_ex(dst, 48, &n, hex + 1, '\0') != 1 ||
	    (n != 32 && n != 48)) {
		ERR_clear_error();
		return;
	}
	rs->watch |= bit | (n == 48 ? W_SECRET48 : 0);
}

/* The same secrets straight from stud's provider as libssl derives them
 * (with --x25519=stud): no key log line printed and parsed. */
static void
watch_kdf_secret(int client, const unsigned char *secret, size_t len)
{
	struct rec_state *rs = handshaking;

	if (rs == NULL || (len != 32 && len != 48))
		return;
	memcpy(client ? rs->rd.secret : rs->wr.secret, secret, len);
	rs->watch |= (client ? W_CLIENT_SECRET : W_SERVER_SECRET) |
	    (len == 48 ? W_SECRET48 : 0);
}

int
tls_handshake(SSL *ssl)
{
	int r;

	handshaking = SSL_get_app_data(ssl);
	r = SSL_do_handshake(ssl);
	handshaking = NULL;
	return r;
}

/* The record.c AEAD of a cipher suite and whether its hash is SHA-384;
 * -1 if record.c does not do it. */
static int
detach_suite(const SSL_CIPHER *ci, int *sha384)
{
	const EVP_MD *md = SSL_CIPHER_get_handshake_digest(ci);

	if (md == NULL)
		return -1;
	switch (EVP_MD_get_type(md)) {
	case NID_sha256:
		*sha384 = 0;
		break;
	case NID_sha384:
		*sha384 = 1;
		break;
	default:
		return -1;
	}
	switch (SSL_CIPHER_get_cipher_nid(ci)) {
	case NID_aes_128_gcm:
		return REC_AES_128_GCM;
	case NID_aes_256_gcm:
		return REC_AES_256_GCM;
	case NID_chacha20_poly1305:
		return REC_CHACHA20_POLY1305;
	default:
		return -1;
	}
}

void
tls_resume_note(SSL *ssl)
{
	SSL_SESSION *sess = SSL_get_session(ssl);
	const SSL_CIPHER *ci = SSL_get_current_cipher(ssl);
	struct resume_session s;
	const unsigned char *id;
	unsigned int idlen;
	int aead, sha384;

	if (!resume_on || sess == NULL || ci == NULL ||
	    SSL_version(ssl) != TLS1_2_VERSION || SSL_session_reused(ssl) ||
	    !SSL_SESSION_is_resumable(sess) ||
	    (aead = detach_suite(ci, &sha384)) < 0 ||
	    SSL_SESSION_get_max_fragment_length(sess) !=
	    TLSEXT_max_fragment_length_DISABLED ||
	    SSL_SESSION_get0_peer(sess) != NULL ||
	    SSL_SESSION_get_master_key(sess, s.master, 48) != 48)
		return;
	s.expires = (int64_t)SSL_SESSION_get_time(sess) +
	    SSL_SESSION_get_timeout(sess);
	s.cipher = SSL_CIPHER_get_protocol_id(ci);
	s.aead = (uint8_t)aead;
	s.sha384 = (uint8_t)sha384;
	s.ems = SSL_get_extms_support(ssl) == 1;
	id = SSL_SESSION_get_id(sess, &idlen);
	resume_table_store(id, idlen, &s);
	OPENSSL_cleanse(&s, sizeof(s));
}

int
tls_resume_lookup(const unsigned char *id, size_t idlen,
    struct resume_session *s)
{
#ifdef USE_SHARED_CACHE
	unsigned char der[SHARED_SESSION_MAX];
#endif

	if (resume_table_lookup(id, idlen, (int64_t)time(NULL), s) == -1)
		return -1;
#ifdef USE_SHARED_CACHE
	/* the shared cache decides which sessions live (its evictions, its
	 * peers' removals) and learns that this one was used */
	if (shared_cache != NULL &&
	    shctx_lookup(shared_cache, id, idlen, der, sizeof(der)) <= 0) {
		OPENSSL_cleanse(s, sizeof(*s));
		resume_table_forget(id, idlen);
		return -1;
	}
#endif
	return 0;
}

void
tls_resume_failed(SSL *ssl)
{
	SSL_SESSION *sess = SSL_get_session(ssl);
	const unsigned char *id;
	unsigned int idlen;

	if (!resume_on || sess == NULL)
		return;
	id = SSL_SESSION_get_id(sess, &idlen);
	resume_table_forget(id, idlen);
}

/* Make resume.c's table once, before any fork: shared by the workers when
 * they share a session cache, else each worker fills its own copy. */
static void
tls_setup_resumption(SSL_CTX *ctx, const struct stud_config *cfg)
{
	long n = cfg->session_cache > 0 ? cfg->session_cache :
	    SSL_CTX_sess_get_cache_size(ctx);

	if (resume_on || strcmp(cfg->resumption, "stud") != 0 || n <= 0)
		return;
	resume_on = resume_table_init((unsigned)n, cfg->session_cache > 0) == 0;
}

int
tls_resume_ready(SSL_CTX *ctx, int *tls13)
{
	long min = SSL_CTX_get_min_proto_version(ctx);
	long max = SSL_CTX_get_max_proto_version(ctx);

	*tls13 = max == 0 || max >= TLS1_3_VERSION;
	return resume_on && !engine_ciphers && min <= TLS1_2_VERSION &&
	    (max == 0 || max >= TLS1_2_VERSION) &&
	    !(SSL_CTX_get_options(ctx) & SSL_OP_NO_TLSv1_2);
}

void
tls_resume_forget(SSL_CTX *ctx, const unsigned char *id, size_t idlen)
{
	SSL_SESSION *tmp = SSL_SESSION_new();

	resume_table_forget(id, idlen);
	if (tmp == NULL)
		return;
	/* OpenSSL's cache matches a session by version and ID */
	if (SSL_SESSION_set1_id(tmp, id, (unsigned int)idlen) == 1 &&
	    SSL_SESSION_set_protocol_version(tmp, TLS1_2_VERSION) == 1)
		SSL_CTX_remove_session(ctx, tmp);
	SSL_SESSION_free(tmp);
}

/* ---------------------------------------------------------------------
 * stud's own TLS 1.3 handshake (hs13.c): what it needs of a context, made
 * once per process on first use and kept in the context.
 */

#define ONE_WEEK	(7 * 24 * 3600)	/* longest TLS 1.3 ticket life */
#define HS13_CERTMSG_MAX 8192	/* the flight fits a new socket's buffer */

struct hs13_ctx {
	struct hs13_server	 s;	/* first: the callbacks are given it */
	EVP_PKEY_CTX		*sign[2];	/* per scheme of s.schemes */
	const SSL_CIPHER	*cipher[5];	/* per suite of s.suites */
	unsigned char		*certmsg;
};

static const unsigned char sid_ctx[] = "stud";	/* every context's */
static int		 hs13_index = -1;
static struct hs13_ctx	 hs13_none;	/* "this path cannot serve it" */
static SSL_CTX		*hs13_first_ctx;	/* the tickets' keys */
static EVP_CIPHER_CTX	*own_ectx;

static void
hs13_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	struct hs13_ctx *h = ptr;

	(void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
	if (h == NULL || h == &hs13_none)
		return;
	EVP_PKEY_CTX_free(h->sign[0]);
	EVP_PKEY_CTX_free(h->sign[1]);
	free(h->certmsg);
	free(h);
}

static long
hs13_sign(const struct hs13_server *s, unsigned scheme,
    const unsigned char *hash, size_t hashlen, unsigned char *sig,
    size_t room)
{
	const struct hs13_ctx *h = (const struct hs13_ctx *)s;
	size_t n = room;

	if (EVP_PKEY_sign(h->sign[scheme == s->schemes[0] ? 0 : 1], sig, &n,
	    hash, hashlen) != 1) {
		ERR_clear_error();
		return -1;
	}
	return (long)n;
}

/* An SSL_SESSION's DER with OpenSSL's extended-master-secret flag (field
 * [13], flags, bit 1: no public setter) added, at der (len bytes, room
 * for 8 more). Returns the new length, or -1 if it is not as expected. */
static int
der_add_ems(unsigned char *der, size_t len)
{
	static const unsigned char flag[5] = { 0xad, 3, 2, 1, 1 };
	unsigned char body[1024];
	size_t hl, blen, off, el, ehl;

	if (len < 2 || der[0] != 0x30)
		return -1;
	hl = der[1] < 0x80 ? 2 : der[1] == 0x81 ? 3 : der[1] == 0x82 ? 4 : 0;
	if (hl == 0 || len < hl)
		return -1;
	blen = hl == 2 ? der[1] : hl == 3 ? der[2] : hello_get16(der + 2);
	if (blen != len - hl || blen + sizeof(flag) > sizeof(body))
		return -1;
	/* the fields are in tag order: the flag goes before [14] and up */
	for (off = hl; off < len; off += ehl + el) {
		if (len - off < 2 || der[off] == flag[0])
			return -1;
		if (der[off] > flag[0] && der[off] <= 0xbf)
			break;
		ehl = der[off + 1] < 0x80 ? 2 : der[off + 1] == 0x81 ? 3 :
		    der[off + 1] == 0x82 ? 4 : 0;
		if (ehl == 0 || len - off < ehl)
			return -1;
		el = ehl == 2 ? der[off + 1] : ehl == 3 ? der[off + 2] :
		    hello_get16(der + off + 2);
		if (el > len - off - ehl)
			return -1;
	}
	memcpy(body, der + hl, off - hl);
	memcpy(body + off - hl, flag, sizeof(flag));
	memcpy(body + off - hl + sizeof(flag), der + off, len - off);
	blen += sizeof(flag);
	der[0] = 0x30;
	if (blen < 0x80) {
		der[1] = (unsigned char)blen;
		hl = 2;
	} else if (blen < 0x100) {
		der[1] = 0x81;
		der[2] = (unsigned char)blen;
		hl = 3;
	} else {
		der[1] = 0x82;
		hello_put16(der + 2, blen);
		hl = 4;
	}
	memcpy(der + hl, body, blen);
	OPENSSL_cleanse(body, sizeof(body));
	return (int)(hl + blen);
}

/* A session's DER as OpenSSL keeps them, made with public setters on one
 * reused SSL_SESSION, flagged as made with the extended master secret
 * when ems, into der (room bytes). Returns its length, or -1. */
static int
session_der(int version, const SSL_CIPHER *ci, const unsigned char *master,
    size_t mlen, const unsigned char *id, size_t idlen, const char *host,
    long timeout, int ems, unsigned char *der, size_t room)
{
	static SSL_SESSION *sess;
	unsigned char zeros[KDF_HASH_MAX] = { 0 }, *p = der;
	int len = 0, ok;

	if (sess == NULL && (sess = SSL_SESSION_new()) == NULL)
		return -1;
	ok = SSL_SESSION_set_protocol_version(sess, version) &&
	    SSL_SESSION_set_cipher(sess, ci) &&
	    SSL_SESSION_set1_master_key(sess, master, mlen) &&
	    SSL_SESSION_set1_id(sess, id, (unsigned)idlen) &&
	    SSL_SESSION_set1_id_context(sess, sid_ctx, sizeof(sid_ctx) - 1) &&
	    SSL_SESSION_set1_hostname(sess, host) &&
	    SSL_SESSION_set_time(sess, (long)time(NULL)) &&
	    SSL_SESSION_set_timeout(sess, timeout) &&
	    (len = i2d_SSL_SESSION(sess, NULL)) > 0 &&
	    (size_t)len + 8 <= room && i2d_SSL_SESSION(sess, &p) == len;
	SSL_SESSION_set1_master_key(sess, zeros, mlen);
	if (!ok) {
		ERR_clear_error();
		return -1;
	}
	return ems ? der_add_ems(der, (size_t)len) : len;
}

/* A ticket as OpenSSL makes and reads them (key name, IV, the session's
 * DER in AES-256-CBC, HMAC-SHA256 of all that), with the first key of the
 * connection's first context: OpenSSL resumes it. Returns its length, or
 * -1. */
static long
seal_ticket(SSL_CTX *first, const unsigned char *der, int len,
    unsigned char *out, size_t room)
{
	const struct ticket_keys *keys = SSL_CTX_get_ex_data(first,
	    tickets_index);
	const struct ticket_key *k;
	int n = 0, fin = 0;

	if (len <= 0 || keys == NULL || keys->n == 0 ||
	    room < 32 + (size_t)len + 16 + 32 ||
	    (own_ectx == NULL && (own_ectx = EVP_CIPHER_CTX_new()) == NULL))
		return -1;
	k = &keys->k[0];
	if (RAND_bytes(out + 16, 16) != 1 ||
	    EVP_EncryptInit_ex2(own_ectx, ticket_cipher, k->aes, out + 16,
	    NULL) != 1 ||
	    EVP_EncryptUpdate(own_ectx, out + 32, &n, der, len) != 1 ||
	    EVP_EncryptFinal_ex(own_ectx, out + 32 + n, &fin) != 1) {
		ERR_clear_error();
		return -1;
	}
	memcpy(out, k->name, 16);
	if (kdf_hmac(0, k->hmac, sizeof(k->hmac), out, 32 + (size_t)(n + fin),
	    NULL, 0, out + 32 + n + fin) == -1)
		return -1;
	return 32 + n + fin + 32;
}

static long
hs13_ticket(const struct hs13_server *s, unsigned suite,
    const unsigned char *psk, size_t psklen, unsigned char *out, size_t room)
{
	const struct hs13_ctx *h = (const struct hs13_ctx *)s;
	const SSL_CIPHER *ci = NULL;
	unsigned char der[1024], id[32];
	size_t i;
	int len;
	long n;

	for (i = 0; i < s->nsuites; i++)
		if (s->suites[i] == suite)
			ci = h->cipher[i];
	if (ci == NULL || RAND_bytes(id, sizeof(id)) != 1)
		return -1;
	len = session_der(TLS1_3_VERSION, ci, psk, psklen, id, sizeof(id),
	    NULL, (long)s->lifetime, 0, der, sizeof(der));
	n = seal_ticket(hs13_first_ctx, der, len, out, room);
	OPENSSL_cleanse(der, sizeof(der));
	return n;
}

/* The signature scheme of a certificate's own signature, as a client's
 * signature_algorithms_cert names it; 0 if not one of the plain ones. */
static uint16_t
hs13_cert_scheme(X509 *x)
{
	int md, pk;

	if (X509_get_signature_info(x, &md, &pk, NULL, NULL) != 1 ||
	    (pk != EVP_PKEY_RSA && pk != EVP_PKEY_EC))
		return 0;
	switch (md) {
	case NID_sha256: return pk == EVP_PKEY_RSA ? 0x0401 : 0x0403;
	case NID_sha384: return pk == EVP_PKEY_RSA ? 0x0501 : 0x0503;
	case NID_sha512: return pk == EVP_PKEY_RSA ? 0x0601 : 0x0603;
	default: return 0;
	}
}

/* The CertificateVerify schemes of key (RFC 8446, 4.2.3), in OpenSSL's
 * order. Returns how many. */
static size_t
hs13_key_schemes(EVP_PKEY *key, uint16_t schemes[2])
{
	char group[32];

	if (EVP_PKEY_is_a(key, "RSA") && EVP_PKEY_get_bits(key) >= 2048) {
		schemes[0] = 0x0804;		/* rsa_pss_rsae_sha256 */
		schemes[1] = 0x0805;		/* rsa_pss_rsae_sha384 */
		return 2;
	}
	if (!EVP_PKEY_is_a(key, "EC") || EVP_PKEY_get_group_name(key, group,
	    sizeof(group), NULL) != 1)
		return 0;
	if (strcmp(group, "prime256v1") == 0)
		schemes[0] = 0x0403;		/* ecdsa_secp256r1_sha256 */
	else if (strcmp(group, "secp384r1") == 0)
		schemes[0] = 0x0503;		/* ecdsa_secp384r1_sha384 */
	else
		return 0;
	return 1;
}

/* A signing context for scheme, ready for EVP_PKEY_sign() on a hash. */
static EVP_PKEY_CTX *
hs13_sign_ctx(EVP_PKEY *key, unsigned scheme)
{
	const EVP_MD *md = (scheme & 0xff00) == 0x0500 || scheme == 0x0805 ?
	    EVP_sha384() : EVP_sha256();
	EVP_PKEY_CTX *p = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);

	if (p == NULL || EVP_PKEY_sign_init(p) != 1 ||
	    ((scheme >> 8) == 0x08 &&
	    (EVP_PKEY_CTX_set_rsa_padding(p, RSA_PKCS1_PSS_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(p, RSA_PSS_SALTLEN_DIGEST) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(p, md) != 1)) ||
	    EVP_PKEY_CTX_set_signature_md(p, md) != 1) {
		EVP_PKEY_CTX_free(p);
		return NULL;
	}
	return p;
}

/* The Certificate message of TLS 1.3 (tls13: with an empty request context
 * and no extensions) or of TLS 1.2: the leaf, then its chain, in *len
 * bytes allocated. Returns it, or NULL. */
static unsigned char *
certmsg_make(SSL_CTX *ctx, int tls13, size_t *len)
{
	STACK_OF(X509) *chain = NULL;
	X509 *x = SSL_CTX_get0_certificate(ctx), *c;
	unsigned char *msg, *p;
	size_t total = tls13 ? 8 : 7, extra = tls13 ? 5 : 3;
	int i, n, l;

	if (SSL_CTX_get0_chain_certs(ctx, &chain) != 1)
		return NULL;
	n = chain == NULL ? 0 : sk_X509_num(chain);
	for (i = -1; i < n; i++) {
		if ((l = i2d_X509(i < 0 ? x : sk_X509_value(chain, i),
		    NULL)) <= 0)
			return NULL;
		total += extra + (size_t)l;
	}
	if (total > HS13_CERTMSG_MAX || (msg = malloc(total)) == NULL)
		return NULL;
	p = hello_put_head(msg, 11, total - 4);
	if (tls13)
		*p++ = 0;			/* no request context */
	*p++ = 0;
	p = hello_put16(p, total - (tls13 ? 8 : 7));
	for (i = -1; i < n; i++) {
		c = i < 0 ? x : sk_X509_value(chain, i);
		*p++ = 0;
		p = hello_put16(p, (size_t)i2d_X509(c, NULL));
		i2d_X509(c, &p);
		if (tls13)
			p = hello_put16(p, 0);	/* no extensions */
	}
	*len = total;
	return msg;
}

static int
hs13_certmsg(struct hs13_ctx *h, SSL_CTX *ctx)
{
	if ((h->certmsg = certmsg_make(ctx, 1, &h->s.certmsglen)) == NULL)
		return -1;
	h->s.certmsg = h->certmsg;
	return 0;
}

/* The TLS 1.3 suites a connection of ctx would use, from one SSL.
 * Returns 0, or -1 if there is none. */
static int
hs13_suites(struct hs13_ctx *h, SSL_CTX *ctx)
{
	SSL *ssl = SSL_new(ctx);
	STACK_OF(SSL_CIPHER) *ciphers;
	unsigned id;
	int i;

	if (ssl == NULL)
		return -1;
	ciphers = SSL_get_ciphers(ssl);
	for (i = 0; i < sk_SSL_CIPHER_num(ciphers) && h->s.nsuites < 5; i++) {
		id = SSL_CIPHER_get_protocol_id(sk_SSL_CIPHER_value(ciphers, i));
		if (id >= 0x1301 && id <= 0x1305) {
			h->cipher[h->s.nsuites] = sk_SSL_CIPHER_value(ciphers, i);
			h->s.suites[h->s.nsuites++] = (uint16_t)id;
		}
	}
	SSL_free(ssl);
	return h->s.nsuites > 0 ? 0 : -1;
}

/* How many certificates (of different key types) ctx holds. */
static int
ctx_certs(SSL_CTX *ctx)
{
	int n = 0, r;

	for (r = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST); r == 1;
	    r = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_NEXT))
		n++;
	SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST);
	ERR_clear_error();
	return n;
}

/* What hs13.c needs of ctx, or NULL when it cannot serve it: exactly one
 * certificate (RSA of 2048 bits or more, ECDSA on P-256 or P-384) and a
 * short chain, TLS 1.3 and stateless tickets allowed, X25519 among the
 * groups. */
static struct hs13_ctx *
hs13_make(SSL_CTX *ctx)
{
	struct hs13_ctx *h;
	EVP_PKEY *key;
	long max = SSL_CTX_get_max_proto_version(ctx);
	size_t i;

	if (ctx_certs(ctx) != 1 || engine_ciphers || !groups_x25519 ||
	    (max != 0 && max < TLS1_3_VERSION) ||
	    (SSL_CTX_get_options(ctx) & (SSL_OP_NO_TLSv1_3 | SSL_OP_NO_TICKET)) ||
	    (key = SSL_CTX_get0_privatekey(ctx)) == NULL ||
	    SSL_CTX_get0_certificate(ctx) == NULL ||
	    (h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->s.nschemes = hs13_key_schemes(key, h->s.schemes);
	h->s.certalg = hs13_cert_scheme(SSL_CTX_get0_certificate(ctx));
	h->s.server_pref = (SSL_CTX_get_options(ctx) &
	    SSL_OP_CIPHER_SERVER_PREFERENCE) != 0;
	h->s.tickets = (unsigned)SSL_CTX_get_num_tickets(ctx);
	h->s.sign = hs13_sign;
	h->s.ticket = hs13_ticket;
	for (i = 0; i < h->s.nschemes; i++)
		if ((h->sign[i] = hs13_sign_ctx(key, h->s.schemes[i])) == NULL)
			h->s.nschemes = 0;
	if (h->s.nschemes == 0 || hs13_suites(h, ctx) == -1 ||
	    hs13_certmsg(h, ctx) == -1) {
		ERR_clear_error();
		hs13_free(NULL, h, NULL, 0, 0, NULL);
		return NULL;
	}
	return h;
}

long
tls_hs13_flight(SSL_CTX *first, SSL_CTX *ctx, int staples,
    const struct hs13_hello *h, struct rec_state *rs, unsigned char *out,
    size_t room, unsigned char fin[48])
{
	struct hs13_ctx *x;
	long life = SSL_CTX_get_timeout(first);

	if (hs13_index == -1 && (hs13_index = SSL_CTX_get_ex_new_index(0,
	    NULL, NULL, NULL, hs13_free)) == -1)
		return -1;
	if ((x = SSL_CTX_get_ex_data(ctx, hs13_index)) == NULL) {
		if ((x = hs13_make(ctx)) == NULL)
			x = &hs13_none;
		SSL_CTX_set_ex_data(ctx, hs13_index, x);
	}
	if (x == &hs13_none || ticket_cipher == NULL)
		return -1;
	hs13_first_ctx = first;
	x->s.staple = staples != 0;
	x->s.lifetime = (uint32_t)(life > ONE_WEEK ? ONE_WEEK : life);
	return hs13_server_flight(&x->s, h, rs, out, room, fin);
}

/* ---------------------------------------------------------------------
 * stud's own TLS 1.2 handshake (hs12.c): what it needs of a context, made
 * once per process on first use and kept in the context.
 */

#define HS12_SCHEMES	4
static const uint16_t hs12_schemes[HS12_SCHEMES] = { 0x0804, 0x0805,
    0x0401, 0x0501 };
#define HS12_TAKEN	3
static const uint16_t hs12_taken[HS12_TAKEN] = { 0xc02f, 0xc030, 0xcca8 };

struct hs12_ctx {
	struct hs12_server	 s;	/* first: the callbacks are given it */
	EVP_PKEY_CTX		*sign[HS12_SCHEMES];
	const SSL_CIPHER	*cipher[HS12_TAKEN];
	uint16_t		*suites;
	uint8_t			*kinds;
	unsigned char		*certmsg;
};

static int		 hs12_index = -1;
static struct hs12_ctx	 hs12_none;	/* "this path cannot serve it" */

static void
hs12_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	struct hs12_ctx *h = ptr;
	size_t i;

	(void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
	if (h == NULL || h == &hs12_none)
		return;
	for (i = 0; i < HS12_SCHEMES; i++)
		EVP_PKEY_CTX_free(h->sign[i]);
	free(h->suites);
	free(h->kinds);
	free(h->certmsg);
	free(h);
}

static long
hs12_sign(const struct hs12_server *s, unsigned scheme,
    const unsigned char *hash, size_t hashlen, unsigned char *sig,
    size_t room)
{
	const struct hs12_ctx *h = (const struct hs12_ctx *)s;
	size_t i, n = room;

	for (i = 0; i < HS12_SCHEMES && hs12_schemes[i] != scheme; i++)
		;
	if (i == HS12_SCHEMES ||
	    EVP_PKEY_sign(h->sign[i], sig, &n, hash, hashlen) != 1) {
		ERR_clear_error();
		return -1;
	}
	return (long)n;
}

static const SSL_CIPHER *
hs12_cipher(const struct hs12_ctx *h, unsigned suite)
{
	for (size_t i = 0; i < HS12_TAKEN; i++)
		if (hs12_taken[i] == suite)
			return h->cipher[i];
	return NULL;
}

/* The ticket of handshake st, keyed by its connection's first context
 * (st->owner). */
static long
hs12_ticket(const struct hs12_server *s, const struct hs12_state *st,
    unsigned char *out, size_t room)
{
	const SSL_CIPHER *ci = hs12_cipher((const struct hs12_ctx *)s,
	    st->suite);
	static const unsigned char no_id[1];
	unsigned char der[1024];
	int len;
	long n;

	if (ci == NULL || st->owner == NULL)
		return -1;
	len = session_der(TLS1_2_VERSION, ci, st->master, 48, no_id, 0,
	    st->sni[0] != '\0' ? st->sni : NULL, (long)st->lifetime, 1, der,
	    sizeof(der));
	n = seal_ticket(st->owner, der, len, out, room);
	OPENSSL_cleanse(der, sizeof(der));
	return n;
}

/* The TLS 1.2 suites of ctx, in order, with what OpenSSL does with each
 * for an RSA certificate. Returns 0, or -1. */
static int
hs12_suites(struct hs12_ctx *h, SSL_CTX *ctx)
{
	STACK_OF(SSL_CIPHER) *ciphers = SSL_CTX_get_ciphers(ctx);
	const SSL_CIPHER *ci;
	int i, n = sk_SSL_CIPHER_num(ciphers);
	unsigned id;
	size_t j;

	if (n <= 0 || (h->suites = calloc((size_t)n, sizeof(*h->suites))) ==
	    NULL || (h->kinds = calloc((size_t)n, 1)) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		ci = sk_SSL_CIPHER_value(ciphers, i);
		if (((id = SSL_CIPHER_get_protocol_id(ci)) >> 8) == 0x13)
			continue;	/* TLS 1.3's */
		h->suites[h->s.nsuites] = (uint16_t)id;
		h->kinds[h->s.nsuites] = SSL_CIPHER_get_auth_nid(ci) ==
		    NID_auth_ecdsa ? HS12_SKIP : HS12_OTHER;
		for (j = 0; j < HS12_TAKEN; j++)
			if (id == hs12_taken[j]) {
				h->cipher[j] = ci;
				h->kinds[h->s.nsuites] = HS12_TAKE;
			}
		h->s.nsuites++;
	}
	h->s.suites = h->suites;
	h->s.kinds = h->kinds;
	return 0;
}

/* What hs12.c needs of ctx, or NULL when it cannot serve it: exactly one
 * certificate, RSA of 2048 bits or more, with a short chain; TLS 1.2
 * allowed; X25519 among the groups. */
static struct hs12_ctx *
hs12_make(SSL_CTX *ctx)
{
	struct hs12_ctx *h;
	EVP_PKEY *key;
	long min = SSL_CTX_get_min_proto_version(ctx);
	long max = SSL_CTX_get_max_proto_version(ctx);
	uint64_t op = SSL_CTX_get_options(ctx);
	int r;
	size_t i;

	if (ctx_certs(ctx) != 1 || engine_ciphers || !groups_x25519 ||
	    min > TLS1_2_VERSION || (max != 0 && max < TLS1_2_VERSION) ||
	    (op & SSL_OP_NO_TLSv1_2) ||
	    (key = SSL_CTX_get0_privatekey(ctx)) == NULL ||
	    !EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_get_bits(key) < 2048 ||
	    SSL_CTX_get0_certificate(ctx) == NULL ||
	    (h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->s.server_pref = (op & SSL_OP_CIPHER_SERVER_PREFERENCE) != 0;
	h->s.x25519_first = groups_x25519_first;
	h->s.tickets = !(op & SSL_OP_NO_TICKET) && ticket_cipher != NULL;
	h->s.downgrade = (max == 0 || max >= TLS1_3_VERSION) &&
	    !(op & SSL_OP_NO_TLSv1_3);
	h->s.sign = hs12_sign;
	h->s.ticket = hs12_ticket;
	r = hs12_suites(h, ctx);
	for (i = 0; i < HS12_SCHEMES; i++)
		if ((h->sign[i] = hs13_sign_ctx(key, hs12_schemes[i])) == NULL)
			r = -1;
	if (r == -1 || (h->certmsg = certmsg_make(ctx, 0,
	    &h->s.certmsglen)) == NULL) {
		ERR_clear_error();
		hs12_free(NULL, h, NULL, 0, 0, NULL);
		return NULL;
	}
	h->s.certmsg = h->certmsg;
	return h;
}

long
tls_hs12_flight(SSL_CTX *first, SSL_CTX *ctx, int staples,
    const struct hs12_hello *h, struct hs12_state *st, unsigned char *out,
    size_t room)
{
	struct hs12_ctx *x;
	long life = SSL_CTX_get_timeout(first), n;

	if (hs12_index == -1 && (hs12_index = SSL_CTX_get_ex_new_index(0,
	    NULL, NULL, NULL, hs12_free)) == -1)
		return -1;
	if ((x = SSL_CTX_get_ex_data(ctx, hs12_index)) == NULL) {
		if ((x = hs12_make(ctx)) == NULL)
			x = &hs12_none;
		SSL_CTX_set_ex_data(ctx, hs12_index, x);
	}
	if (x == &hs12_none)
		return -1;
	x->s.staple = staples != 0;
	x->s.lifetime = (uint32_t)(life > 0 ? life : 0);
	if ((n = hs12_server_flight(&x->s, h, st, out, room)) > 0)
		st->owner = first;	/* its tickets' keys */
	return n;
}

void
tls_hs12_session(SSL_CTX *first, const struct hs12_state *st)
{
	const SSL_CIPHER *ci = hs12_cipher((const struct hs12_ctx *)st->s,
	    st->suite);
	unsigned char der[1024];
	const unsigned char *p = der;
	struct resume_session rs;
	SSL_SESSION *sess;
	long life = SSL_CTX_get_timeout(first);
	int len;

	if (st->ticket || st->sidlen == 0 || ci == NULL ||
	    (len = session_der(TLS1_2_VERSION, ci, st->master, 48, st->sid,
	    st->sidlen, st->sni[0] != '\0' ? st->sni : NULL, life, 1, der,
	    sizeof(der))) <= 0)
		return;
	/* OpenSSL's cache (what resume.c leaves to OpenSSL), if it keeps one */
	if (!(SSL_CTX_get_session_cache_mode(first) &
	    SSL_SESS_CACHE_NO_INTERNAL_STORE) &&
	    (sess = d2i_SSL_SESSION(NULL, &p, len)) != NULL) {
		SSL_CTX_add_session(first, sess);
		SSL_SESSION_free(sess);
	}
	ERR_clear_error();
#ifdef USE_SHARED_CACHE
	if (shared_cache != NULL) {
		shctx_store(shared_cache, st->sid, st->sidlen, der,
		    (size_t)len);
		if (session_hook != NULL)
			session_hook(st->sid, st->sidlen, der, (size_t)len);
	}
#endif
	OPENSSL_cleanse(der, sizeof(der));
	if (!resume_on)
		return;
	memcpy(rs.master, st->master, 48);
	rs.expires = (int64_t)time(NULL) + life;
	rs.cipher = st->suite;
	rs.aead = st->aead;
	rs.sha384 = st->sha384;
	rs.ems = 1;
	resume_table_store(st->sid, st->sidlen, &rs);
	OPENSSL_cleanse(&rs, sizeof(rs));
}

SSL_CTX *
tls_ctx_new(const struct stud_config *cfg, char *errbuf, size_t errlen)
{
	uint64_t op = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	    SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_SINGLE_ECDH_USE |
	    SSL_OP_SINGLE_DH_USE;
	const char *propq;
	SSL_CTX *ctx;

	secrets_from_kdf = strcmp(cfg->x25519, "stud") == 0;
	provider_watch_secrets(secrets_from_kdf ? watch_kdf_secret : NULL);
	if (provider_propq(secrets_from_kdf, &propq) == -1) {
		snprintf(errbuf, errlen, "stud's X25519 failed its self-test "
		    "or could not be loaded; --x25519=openssl works around it");
		return NULL;
	}
	if ((ctx = SSL_CTX_new_ex(NULL, propq, TLS_server_method())) == NULL) {
		snprintf(errbuf, errlen, "cannot create a TLS context");
		return NULL;
	}
	if (cfg->prefer_server_ciphers)
		op |= SSL_OP_CIPHER_SERVER_PREFERENCE;
	SSL_CTX_set_options(ctx, op);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	/* one read(2) per burst of records, not two per record (header, then
	 * body); the worker keeps calling SSL_read until WANT_READ, so data
	 * OpenSSL buffered ahead is never left waiting */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_num_tickets(ctx, (size_t)cfg->tls13_tickets);
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	if (tls_set_protocols(ctx, cfg, errbuf, errlen) == -1 ||
	    tls_setup_tickets(ctx, cfg, errbuf, errlen) == -1 ||
	    tls_setup_session_cache(ctx, cfg, errbuf, errlen) == -1 ||
	    tls_setup_alpn(ctx, cfg, errbuf, errlen) == -1 ||
	    tls_setup_client_verify(ctx, cfg, errbuf, errlen) == -1)
		goto fail;
	tls_setup_resumption(ctx, cfg);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void
tls_session_free(SSL *ssl, int handshaken)
{
	/* SSL_free() evicts the session of a connection that did not both send
	 * and receive close_notify. OpenSSL 3.0 also overwrites our "sent"
	 * mark when a client closes TCP without close_notify (with
	 * SSL_OP_IGNORE_UNEXPECTED_EOF), so a session would vanish at random.
	 * A completed handshake made a good session: keep it. */
	if (handshaken)
		SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(ssl);
}

int
tls_detach(SSL *ssl, struct rec_state *rs)
{
	const SSL_CIPHER *ci = SSL_get_current_cipher(ssl);
	SSL_SESSION *sess = SSL_get_session(ssl);
	unsigned char master[48], cr[32], sr[32];
	unsigned both = W_FIN_SENT | W_FIN_RCVD;
	int aead, sha384, r;

	if (engine_ciphers || (rs->watch & both) != both ||
	    (rs->watch & W_KEYS_MOVED) ||
	    ci == NULL || sess == NULL ||
	    (aead = detach_suite(ci, &sha384)) < 0 ||
	    SSL_SESSION_get_max_fragment_length(sess) !=
	    TLSEXT_max_fragment_length_DISABLED)
		return -1;
	if (SSL_has_pending(ssl))
		return 0;
	switch (SSL_version(ssl)) {
	case TLS1_3_VERSION:
		both = W_CLIENT_SECRET | W_SERVER_SECRET;
		if ((rs->watch & both) != both ||
		    !(rs->watch & W_SECRET48) != !sha384)
			return -1;
		return rec_start13(rs, aead, sha384) == 0 ? 1 : -1;
	case TLS1_2_VERSION:
		if (SSL_SESSION_get_master_key(sess, master, 48) != 48 ||
		    SSL_get_client_random(ssl, cr, 32) != 32 ||
		    SSL_get_server_random(ssl, sr, 32) != 32)
			return -1;
		/* the Finished messages took sequence number 0 */
		rs->rd.seq++;
		rs->wr.seq++;
		r = rec_start12(rs, aead, sha384, master, cr, sr);
		OPENSSL_cleanse(master, sizeof(master));
		return r == 0 ? 1 : -1;
	default:
		return -1;
	}
}

SSL *
tls_session_new(SSL_CTX *ctx, BIO *bio, struct rec_state *rs)
{
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL) {
		BIO_free(bio);
		return NULL;
	}
	SSL_set_bio(ssl, bio, bio);
	SSL_set_accept_state(ssl);
	if (rs != NULL) {
		SSL_set_app_data(ssl, rs);
		SSL_set_msg_callback(ssl, watch_msg_cb);
		SSL_set_msg_callback_arg(ssl, rs);
	}
	return ssl;
}

void
tls_describe(SSL *ssl, struct proxy_tls *t, char *cn, size_t cnlen)
{
	X509 *peer = SSL_get0_peer_certificate(ssl);
	unsigned int alpn_len = 0;

	memset(t, 0, sizeof(*t));
	SSL_get0_alpn_selected(ssl, &t->alpn, &alpn_len);
	t->alpn_len = alpn_len;
	t->authority = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	t->client = PP2_CLIENT_SSL;
	t->version = SSL_get_version(ssl);
	t->cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl));
	if (peer == NULL) {
		t->verify = 1;		/* no certificate: not verified */
		return;
	}
	t->client |= PP2_CLIENT_CERT_SESS;
	if (!SSL_session_reused(ssl))
		t->client |= PP2_CLIENT_CERT_CONN;
	t->verify = (unsigned)SSL_get_verify_result(ssl);
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(peer),
	    NID_commonName, cn, (int)cnlen) > 0)
		t->cn = cn;
}
