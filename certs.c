/* certs.c - certificates and the names they serve: loading PEM files into
 * one SSL_CTX per group of identical host names, choosing a group by SNI,
 * and stapling each certificate's OCSP response. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "certs.h"
#include "log.h"
#include "tls.h"

#define OCSP_MAX	(64 * 1024)	/* a larger .ocsp file is refused */

/* A certificate's stapled OCSP response. */
struct staple {
	X509		*x509;		/* the leaf it answers for */
	unsigned char	*der;
	long		 len;
	time_t		 next_update;	/* 0 = none given */
};

/* One SSL_CTX and the host names it answers to. */
struct group {
	SSL_CTX		*ctx;
	char		**names;	/* lower case, sorted */
	size_t		 nnames;
	char		**paths;	/* the PEM files loaded into it */
	size_t		 npaths;
	struct staple	*staples;
	size_t		 nstaples;
};

struct certs {
	struct group	**groups;	/* each allocated alone: callbacks
					 * hold pointers to them */
	size_t		 ngroups;
	struct group	*def;		/* holds the last PEM file given */
	int		 nomatch_abort;
};

static int
push(void *arrayp, size_t *n, size_t size)
{
	void **a = arrayp;
	void *p = realloc(*a, (*n + 1) * size);

	if (p == NULL)
		return -1;
	*a = p;
	memset((char *)p + *n * size, 0, size);
	(*n)++;
	return 0;
}

static char *
lowercase_dup(const unsigned char *s, size_t len)
{
	char *d = malloc(len + 1);
	size_t i;

	if (d == NULL)
		return NULL;
	for (i = 0; i < len; i++)
		d[i] = (char)tolower(s[i]);
	d[len] = '\0';
	return d;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
add_name(char ***names, size_t *n, const ASN1_STRING *s)
{
	char *d = lowercase_dup(ASN1_STRING_get0_data(s),
	    (size_t)ASN1_STRING_length(s));

	if (d == NULL || push(names, n, sizeof(char *)) == -1) {
		free(d);
		return -1;
	}
	(*names)[*n - 1] = d;
	return 0;
}

/* The names a certificate serves: its subjectAltName DNS entries, else its
 * common name; lower case and sorted. */
static int
cert_names(X509 *x, char ***names, size_t *n)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
	    NULL);
	X509_NAME_ENTRY *e;
	int i, r = 0;

	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens) && r == 0;
	    i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		if (g->type == GEN_DNS)
			r = add_name(names, n, g->d.dNSName);
	}
	GENERAL_NAMES_free(gens);
	if (r == 0 && *n == 0 && (i = X509_NAME_get_index_by_NID(
	    X509_get_subject_name(x), NID_commonName, -1)) >= 0) {
		e = X509_NAME_get_entry(X509_get_subject_name(x), i);
		r = add_name(names, n, X509_NAME_ENTRY_get_data(e));
	}
	if (*n > 1)
		qsort(*names, *n, sizeof(char *), name_cmp);
	return r;
}

static void
free_names(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Read the names of the first certificate in path. */
static int
file_names(const char *path, char ***names, size_t *n, char *err,
    size_t len)
{
	BIO *bio = BIO_new_file(path, "r");
	X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) :
	    NULL;
	int r;

	BIO_free(bio);
	if (x == NULL) {
		if (bio == NULL)
			snprintf(err, len, "cannot read PEM file %s: %s", path,
			    strerror(errno));
		else
			snprintf(err, len, "no usable certificate in %s",
			    path);
		ERR_clear_error();
		return -1;
	}
	r = cert_names(x, names, n);
	X509_free(x);
	if (r == -1)
		snprintf(err, len, "out of memory");
	return r;
}

static int
same_names(const struct group *g, char **names, size_t n)
{
	size_t i;

	if (g->nnames != n)
		return 0;
	for (i = 0; i < n; i++)
		if (strcmp(g->names[i], names[i]) != 0)
			return 0;
	return 1;
}

static time_t
asn1_time(const ASN1_GENERALIZEDTIME *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

/* The latest nextUpdate of the response's single responses, or 0. */
static time_t
ocsp_next_update(const unsigned char *der, long len)
{
	const unsigned char *p = der;
	OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, len);
	OCSP_BASICRESP *basic = NULL;
	ASN1_GENERALIZEDTIME *thisupd, *nextupd;
	time_t next = 0, t;
	int i, reason;

	if (resp == NULL || OCSP_response_status(resp) !=
	    OCSP_RESPONSE_STATUS_SUCCESSFUL ||
	    (basic = OCSP_response_get1_basic(resp)) == NULL) {
		OCSP_RESPONSE_free(resp);
		return (time_t)-1;
	}
	for (i = 0; i < OCSP_resp_count(basic); i++) {
		OCSP_single_get0_status(OCSP_resp_get0(basic, i), &reason,
		    NULL, &thisupd, &nextupd);
		if ((t = asn1_time(nextupd)) > next)
			next = t;
	}
	OCSP_BASICRESP_free(basic);
	OCSP_RESPONSE_free(resp);
	return next;
}

static unsigned char *
read_file(const char *path, long max, long *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	if ((buf = malloc((size_t)max + 1)) == NULL) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, (size_t)max + 1, f);
	fclose(f);
	if (n == 0 || n > (size_t)max) {
		free(buf);
		return NULL;
	}
	*len = (long)n;
	return buf;
}

/* Keep path.ocsp for the certificate just loaded into g, if it is a good,
 * current response. Problems are logged: the certificate serves anyway. */
static int
load_staple(struct group *g, const char *path)
{
	char ocsp[4096];
	struct staple *s;
	unsigned char *der;
	time_t next;
	long len;

	snprintf(ocsp, sizeof(ocsp), "%s.ocsp", path);
	if ((der = read_file(ocsp, OCSP_MAX, &len)) == NULL)
		return 0;
	next = ocsp_next_update(der, len);
	if (next == (time_t)-1 || (next != 0 && next < time(NULL))) {
		log_warn("OCSP response %s %s; not stapling it", ocsp,
		    next == (time_t)-1 ? "is not a successful response" :
		    "has expired");
		free(der);
		return 0;
	}
	if (push(&g->staples, &g->nstaples, sizeof(*s)) == -1) {
		free(der);
		return -1;
	}
	s = &g->staples[g->nstaples - 1];
	s->x509 = SSL_CTX_get0_certificate(g->ctx);
	s->der = der;
	s->len = len;
	s->next_update = next;
	return 0;
}

static int
ocsp_cb(SSL *ssl, void *arg)
{
	const struct group *g = arg;
	X509 *x = SSL_get_certificate(ssl);
	unsigned char *copy;
	size_t i;

	for (i = 0; i < g->nstaples; i++) {
		const struct staple *s = &g->staples[i];

		if (s->x509 != x || (s->next_update != 0 &&
		    s->next_update < time(NULL)))
			continue;
		if ((copy = OPENSSL_memdup(s->der, (size_t)s->len)) == NULL)
			return SSL_TLSEXT_ERR_NOACK;
		SSL_set_tlsext_status_ocsp_resp(ssl, copy, s->len);
		return SSL_TLSEXT_ERR_OK;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

static int
group_has(const struct group *g, const char *name)
{
	return bsearch(&name, g->names, g->nnames, sizeof(char *),
	    name_cmp) != NULL;
}

/* The context for a host name, as SNI picks it: an exact name (any case)
 * before a wildcard, "*.example.com" matching exactly one label; NULL when
 * nothing matches. */
static SSL_CTX *
certs_lookup(const struct certs *c, const char *name)
{
	char low[256], wild[258];
	const char *dot;
	size_t i, n = strlen(name);

	if (n == 0 || n >= sizeof(low))
		return NULL;
	for (i = 0; i <= n; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	for (i = c->ngroups; i-- > 0;)		/* the later file wins */
		if (group_has(c->groups[i], low))
			return c->groups[i]->ctx;
	if ((dot = strchr(low, '.')) == NULL || dot == low)
		return NULL;
	snprintf(wild, sizeof(wild), "*%s", dot);
	for (i = c->ngroups; i-- > 0;)
		if (group_has(c->groups[i], wild))
			return c->groups[i]->ctx;
	return NULL;
}

/* SNI: move the connection to the context serving the name asked for.
 * Acknowledging the name also keeps it in TLS 1.2 sessions, which OpenSSL
 * needs to resume them. */
static int
servername_cb(SSL *ssl, int *alert, void *arg)
{
	const struct certs *c = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	SSL_CTX *ctx;

	if (name == NULL)
		return SSL_TLSEXT_ERR_OK;
	if ((ctx = certs_lookup(c, name)) == NULL) {
		if (!c->nomatch_abort)
			return SSL_TLSEXT_ERR_OK;
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	if (ctx != SSL_get_SSL_CTX(ssl))
		SSL_set_SSL_CTX(ssl, ctx);
	return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *
certs_for_name(const struct certs *c, SSL_CTX *start, const char *name,
    int *staples)
{
	SSL_CTX *ctx = *name != '\0' ? certs_lookup(c, name) : NULL;
	size_t i;

	if (ctx == NULL)
		ctx = start;
	*staples = 0;
	for (i = 0; i < c->ngroups; i++)
		if (c->groups[i]->ctx == ctx)
			*staples = c->groups[i]->nstaples > 0;
	return ctx;
}

/* The group for names, made with a new configured context if needed. */
static struct group *
group_for(struct certs *c, const struct stud_config *cfg, char **names,
    size_t n, char *err, size_t len)
{
	struct group *g;
	size_t i;

	for (i = 0; i < c->ngroups; i++)
		if (same_names(c->groups[i], names, n)) {
			free_names(names, n);
			return c->groups[i];
		}
	if ((g = calloc(1, sizeof(*g))) == NULL ||
	    push(&c->groups, &c->ngroups, sizeof(g)) == -1) {
		free(g);
		free_names(names, n);
		snprintf(err, len, "out of memory");
		return NULL;
	}
	c->groups[c->ngroups - 1] = g;
	g->names = names;
	g->nnames = n;
	if ((g->ctx = tls_ctx_new(cfg, err, len)) == NULL)
		return NULL;
	SSL_CTX_set_tlsext_servername_callback(g->ctx, servername_cb);
	SSL_CTX_set_tlsext_servername_arg(g->ctx, c);
	SSL_CTX_set_tlsext_status_cb(g->ctx, ocsp_cb);
	SSL_CTX_set_tlsext_status_arg(g->ctx, g);
	return g;
}

static struct group *
group_of(const struct certs *c, const char *path)
{
	size_t i, k;

	for (i = 0; i < c->ngroups; i++)
		for (k = 0; k < c->groups[i]->npaths; k++)
			if (strcmp(c->groups[i]->paths[k], path) == 0)
				return c->groups[i];
	return NULL;
}

/* Load one PEM file into the group of its names (once per path). */
static struct group *
load_file(struct certs *c, const struct stud_config *cfg, const char *path,
    char *err, size_t len)
{
	struct group *g = group_of(c, path);
	char **names = NULL, *p;
	size_t n = 0;

	if (g != NULL)
		return g;
	if (file_names(path, &names, &n, err, len) == -1 ||
	    (g = group_for(c, cfg, names, n, err, len)) == NULL ||
	    tls_ctx_load_pem(g->ctx, path, err, len) == -1)
		return NULL;
	if ((p = strdup(path)) == NULL ||
	    push(&g->paths, &g->npaths, sizeof(char *)) == -1) {
		free(p);
		snprintf(err, len, "out of memory");
		return NULL;
	}
	g->paths[g->npaths - 1] = p;
	if (load_staple(g, path) == -1) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	return g;
}

struct certs *
certs_load(const struct stud_config *cfg, char *err, size_t len)
{
	struct config_addr a;
	char cert[4096];
	struct certs *c;
	size_t i;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	c->nomatch_abort = cfg->sni_nomatch_abort;
	for (i = 0; i < cfg->pem.n; i++)
		if (load_file(c, cfg, cfg->pem.v[i], err, len) == NULL)
			goto fail;
	for (i = 0; i < cfg->frontends.n; i++) {
		config_parse_frontend(cfg->frontends.v[i], &a, cert,
		    sizeof(cert));
		if (*cert != '\0' && load_file(c, cfg, cert, err, len) == NULL)
			goto fail;
		if (*cert == '\0' && cfg->pem.n == 0) {
			snprintf(err, len, "no certificate: give a PEM file "
			    "(or +CERT for frontend %s)", cfg->frontends.v[i]);
			goto fail;
		}
	}
	if (cfg->pem.n > 0)
		c->def = group_of(c, cfg->pem.v[cfg->pem.n - 1]);
	return c;
fail:
	certs_free(c);
	return NULL;
}

void
certs_free(struct certs *c)
{
	size_t i, k;

	if (c == NULL)
		return;
	for (i = 0; i < c->ngroups; i++) {
		struct group *g = c->groups[i];

		SSL_CTX_free(g->ctx);
		free_names(g->names, g->nnames);
		free_names(g->paths, g->npaths);
		for (k = 0; k < g->nstaples; k++)
			free(g->staples[k].der);
		free(g->staples);
		free(g);
	}
	free(c->groups);
	free(c);
}

SSL_CTX *
certs_context(const struct certs *c, const char *path)
{
	const struct group *g = *path != '\0' ? group_of(c, path) : c->def;

	return g != NULL ? g->ctx : NULL;
}
