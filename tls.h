/* tls.h - building stud's OpenSSL server context from the configuration;
 * the one place that knows OpenSSL versions and loading details. */
#ifndef STUD_TLS_H
#define STUD_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

#include "configuration.h"

/* Process-wide OpenSSL set-up: loads the -e engine or provider. Returns 0,
 * or -1 with errbuf naming the problem. Call once, before tls_ctx_new(). */
int	tls_init(const struct stud_config *cfg, char *errbuf, size_t errlen);

/* Make a server SSL_CTX with every setting of cfg (protocols, ciphers,
 * groups, ALPN, client verification, tickets, session cache, I/O modes,
 * the watch on secrets tls_detach() needs) but no certificate. Returns
 * NULL with errbuf set to one line. */
SSL_CTX	*tls_ctx_new(const struct stud_config *cfg, char *errbuf,
	    size_t errlen);

/* Load a PEM file's certificate chain, private key and optional DH
 * parameters into ctx and check the key matches. Returns 0, or -1 with
 * errbuf naming the file and the problem. */
int	tls_ctx_load_pem(SSL_CTX *ctx, const char *path, char *errbuf,
	    size_t errlen);

#ifdef USE_SHARED_CACHE
/* Called with each new session put in the shared cache (DER). */
typedef void (*tls_session_hook)(const unsigned char *id, size_t idlen,
    const unsigned char *der, size_t len);

/* Have hook called for every new session stored in the shared cache. */
void	tls_set_session_hook(tls_session_hook hook);

/* Store a session received from a peer. Returns 0, or -1. */
int	tls_shared_cache_store(const unsigned char *id, size_t idlen,
	    const unsigned char *der, size_t len);
#endif

struct rec_state;

/* Make a server SSL reading and writing through bio, which it owns from
 * now on (freed here on failure); NULL if memory ran out. Unless rs is
 * NULL, the handshake's secrets and record counts are noted in it for
 * tls_detach(). */
SSL	*tls_session_new(SSL_CTX *ctx, BIO *bio, struct rec_state *rs);

/* SSL_do_handshake() on ssl, noting the TLS 1.3 traffic secrets that
 * stud's provider derives meanwhile for tls_detach(). */
int	tls_handshake(SSL *ssl);

/* After the handshake: hand the connection's records over from OpenSSL to
 * rs (record.c). Returns 1 when rs holds the keys (free the SSL), 0 while
 * OpenSSL still holds client bytes to be read through it first, or -1 if
 * the connection keeps OpenSSL's record layer (not an AEAD suite of TLS
 * 1.2 or 1.3, keys already updated, a maximum fragment length, a legacy
 * engine serving the ciphers). The caller
 * must have no SSL_write or SSL_shutdown unfinished. */
int	tls_detach(SSL *ssl, struct rec_state *rs);

/* Whether resume.c's path may serve ctx's TLS 1.2 resumptions (its table
 * is made, ctx allows TLS 1.2, no legacy engine holds the ciphers); *tls13
 * says whether ctx could have negotiated TLS 1.3. */
int	tls_resume_ready(SSL_CTX *ctx, int *tls13);

/* After a full TLS 1.2 handshake: note its session in resume.c's table
 * if that path can resume it (an AEAD suite, no client certificate, no
 * maximum fragment length, OpenSSL could resume it too). */
void	tls_resume_note(SSL *ssl);

struct resume_session;

/* Find session id in resume.c's table, unexpired and (with a shared
 * cache) still in the shared cache, into *s. Returns 0, or -1. */
int	tls_resume_lookup(const unsigned char *id, size_t idlen,
	    struct resume_session *s);

/* OpenSSL's handshake failed: forget its session in resume.c's table
 * too, as OpenSSL does in its cache after a fatal alert. */
void	tls_resume_failed(SSL *ssl);

/* A resumption of session id failed: forget the session in resume.c's
 * table and in OpenSSL's cache (RFC 5246, 7.2.2), ctx being the one the
 * client connected to. */
void	tls_resume_forget(SSL_CTX *ctx, const unsigned char *id, size_t idlen);

struct hs13_hello;

/* stud's own TLS 1.3 handshake (hs13.c) for hello h on a connection that
 * began with context first and that SNI moved to ctx (staples: ctx may
 * staple an OCSP response): the server's flight into out (room bytes), as
 * hs13_server_flight() does; -1 when that path cannot serve ctx or h
 * (nothing sent: OpenSSL takes the connection). */
long	tls_hs13_flight(SSL_CTX *first, SSL_CTX *ctx, int staples,
	    const struct hs13_hello *h, struct rec_state *rs,
	    unsigned char *out, size_t room, unsigned char fin[48]);

struct hs12_hello;
struct hs12_state;

/* stud's own TLS 1.2 handshake (hs12.c) for hello h, as
 * tls_hs13_flight(): the server's first flight into out (room bytes), as
 * hs12_server_flight() does; -1 when that path cannot serve ctx or h. */
long	tls_hs12_flight(SSL_CTX *first, SSL_CTX *ctx, int staples,
	    const struct hs12_hello *h, struct hs12_state *st,
	    unsigned char *out, size_t room);

/* After hs12.c's handshake st with a session ID (no ticket): keep the
 * session where OpenSSL, the shared cache and resume.c find it. */
void	tls_hs12_session(SSL_CTX *first, const struct hs12_state *st);

struct proxy_tls;

/* Describe a handshaken connection for a PROXY v2 header: ALPN, SNI, the
 * client certificate (its CN is copied into cn) and its verification. */
void	tls_describe(SSL *ssl, struct proxy_tls *t, char *cn, size_t cnlen);

/* Free a connection's SSL; handshaken keeps its session resumable however
 * the connection ended. */
void	tls_session_free(SSL *ssl, int handshaken);

#endif /* STUD_TLS_H */
