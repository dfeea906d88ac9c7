/* certs.h - the certificates of one configuration: PEM files grouped by the
 * host names they serve, one SSL_CTX per group, picked by SNI, each with its
 * stapled OCSP responses. */
#ifndef STUD_CERTS_H
#define STUD_CERTS_H

#include <stddef.h>
#include <openssl/ssl.h>

#include "configuration.h"

struct certs;

/* Load every certificate of cfg: the PEM files (the last one is the
 * default) and each frontend's +CERT. Files naming exactly the same hosts
 * share one context (an RSA and an ECDSA certificate for a name: OpenSSL
 * picks what the client supports). A file X.pem.ocsp beside X.pem is
 * stapled unless it has expired (then a warning is logged). Returns NULL
 * with err set to one line naming the file and the problem. */
struct certs	*certs_load(const struct stud_config *cfg, char *err,
		    size_t len);

/* Free every context and response. */
void		 certs_free(struct certs *c);

/* The context a frontend starts its connections with: the one holding the
 * file path (a +CERT), or the default when path is "" (NULL if there is no
 * certificate at all). */
SSL_CTX		*certs_context(const struct certs *c, const char *path);

/* The context SNI moves a connection to for host name (may be ""), as
 * OpenSSL's servername callback would: start when nothing matches (callers
 * leave --sni-nomatch-abort to OpenSSL). *staples is set to whether it may
 * staple an OCSP response. */
SSL_CTX		*certs_for_name(const struct certs *c, SSL_CTX *start,
		    const char *name, int *staples);

#endif /* STUD_CERTS_H */
