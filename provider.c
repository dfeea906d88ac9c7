/* provider.c - stud's OpenSSL provider: X25519 key management and key
 * exchange on x25519.c, which TLS contexts prefer (provider_propq()) over
 * OpenSSL 3.0's, whose key generation costs three times as much. */
#include <string.h>
#include <strings.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/prov_ssl.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "provider.h"
#include "x25519.h"

#define PROVIDER_NAME	"stud"
#define KEYLEN		32

struct xkey {
	uint8_t		pub[KEYLEN];
	uint8_t		priv[KEYLEN];
	unsigned	has_pub:1;
	unsigned	has_priv:1;
};

struct xgen {
	int		selection;
};

struct xexch {
	uint8_t		priv[KEYLEN];
	uint8_t		peer[KEYLEN];
	unsigned	has_priv:1;
	unsigned	has_peer:1;
};

typedef void (*fn)(void);

/* --- key management ---------------------------------------------------- */

static void *
key_new(void *provctx)
{
	(void)provctx;
	return OPENSSL_zalloc(sizeof(struct xkey));
}

static void
key_free(void *k)
{
	OPENSSL_clear_free(k, sizeof(struct xkey));
}

static int
key_has(const void *kv, int selection)
{
	const struct xkey *k = kv;

	if (k == NULL)
		return 0;
	if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) && !k->has_pub)
		return 0;
	if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) && !k->has_priv)
		return 0;
	return 1;		/* X25519 has no domain parameters to miss */
}

static int
key_match(const void *av, const void *bv, int selection)
{
	const struct xkey *a = av, *b = bv;

	if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0)
		return 1;
	if (a->has_pub && b->has_pub)
		return CRYPTO_memcmp(a->pub, b->pub, KEYLEN) == 0;
	if (a->has_priv && b->has_priv)
		return CRYPTO_memcmp(a->priv, b->priv, KEYLEN) == 0;
	return 0;
}

static int
key_validate(const void *kv, int selection, int checktype)
{
	const struct xkey *k = kv;
	uint8_t pub[KEYLEN];

	(void)checktype;
	if (!key_has(k, selection))
		return 0;
	if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) ==
	    OSSL_KEYMGMT_SELECT_KEYPAIR) {
		x25519_public(pub, k->priv);
		return CRYPTO_memcmp(pub, k->pub, KEYLEN) == 0;
	}
	return 1;
}

/* Take a public and/or private key from params; a private key alone gets
 * its public key computed. */
static int
key_from_params(struct xkey *k, const OSSL_PARAM params[], int privok)
{
	const OSSL_PARAM *p;
	void *buf;
	size_t len;

	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY)) == NULL)
		p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PUB_KEY);
	if (p != NULL) {
		buf = k->pub;
		if (!OSSL_PARAM_get_octet_string(p, &buf, KEYLEN, &len) ||
		    len != KEYLEN)
			return 0;
		k->has_pub = 1;
	}
	if (privok && (p = OSSL_PARAM_locate_const(params,
	    OSSL_PKEY_PARAM_PRIV_KEY)) != NULL) {
		buf = k->priv;
		if (!OSSL_PARAM_get_octet_string(p, &buf, KEYLEN, &len) ||
		    len != KEYLEN)
			return 0;
		k->has_priv = 1;
		if (!k->has_pub) {
			x25519_public(k->pub, k->priv);
			k->has_pub = 1;
		}
	}
	return 1;
}

static int
key_set_params(void *kv, const OSSL_PARAM params[])
{
	return key_from_params(kv, params, 0);
}

static int
key_import(void *kv, int selection, const OSSL_PARAM params[])
{
	if (kv == NULL)
		return 0;
	if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0)
		return 1;
	return key_from_params(kv, params,
	    (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0);
}

static int
key_get_params(void *kv, OSSL_PARAM params[])
{
	const struct xkey *k = kv;
	OSSL_PARAM *p;

	if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_BITS)) != NULL &&
	    !OSSL_PARAM_set_int(p, 253))
		return 0;
	if ((p = OSSL_PARAM_locate(params,
	    OSSL_PKEY_PARAM_SECURITY_BITS)) != NULL &&
	    !OSSL_PARAM_set_int(p, 128))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_MAX_SIZE)) !=
	    NULL && !OSSL_PARAM_set_int(p, KEYLEN))
		return 0;
	if ((p = OSSL_PARAM_locate(params,
	    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY)) != NULL &&
	    (!k->has_pub || !OSSL_PARAM_set_octet_string(p, k->pub, KEYLEN)))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_PUB_KEY)) !=
	    NULL && (!k->has_pub ||
	    !OSSL_PARAM_set_octet_string(p, k->pub, KEYLEN)))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_PRIV_KEY)) !=
	    NULL && (!k->has_priv ||
	    !OSSL_PARAM_set_octet_string(p, k->priv, KEYLEN)))
		return 0;
	return 1;
}

static const OSSL_PARAM gettable[] = {
	OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM settable[] = {
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM imexport[] = {
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
key_gettable(void *provctx)
{
	(void)provctx;
	return gettable;
}

static const OSSL_PARAM *
key_settable(void *provctx)
{
	(void)provctx;
	return settable;
}

static const OSSL_PARAM *
key_imexport_types(int selection)
{
	(void)selection;
	return imexport;
}

static int
key_export(void *kv, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
	const struct xkey *k = kv;
	OSSL_PARAM params[3];
	int n = 0, r;

	if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) && k->has_pub)
		params[n++] = OSSL_PARAM_construct_octet_string(
		    OSSL_PKEY_PARAM_PUB_KEY, (void *)k->pub, KEYLEN);
	if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) && k->has_priv)
		params[n++] = OSSL_PARAM_construct_octet_string(
		    OSSL_PKEY_PARAM_PRIV_KEY, (void *)k->priv, KEYLEN);
	params[n] = OSSL_PARAM_construct_end();
	r = cb(params, cbarg);
	OPENSSL_cleanse(params, sizeof(params));
	return r;
}

static void *
key_dup(const void *kv, int selection)
{
	const struct xkey *k = kv;
	struct xkey *d;

	if ((d = key_new(NULL)) == NULL)
		return NULL;
	if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) && k->has_pub) {
		memcpy(d->pub, k->pub, KEYLEN);
		d->has_pub = 1;
	}
	if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) && k->has_priv) {
		memcpy(d->priv, k->priv, KEYLEN);
		d->has_priv = 1;
	}
	return d;
}

static int
gen_set_params(void *gv, const OSSL_PARAM params[])
{
	const OSSL_PARAM *p;
	const char *name;

	(void)gv;
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_PKEY_PARAM_GROUP_NAME)) != NULL &&
	    (!OSSL_PARAM_get_utf8_string_ptr(p, &name) ||
	    strcasecmp(name, "x25519") != 0))
		return 0;
	return 1;
}

static const OSSL_PARAM gen_settable[] = {
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
gen_settable_params(void *gv, void *provctx)
{
	(void)gv;
	(void)provctx;
	return gen_settable;
}

static void *
gen_init(void *provctx, int selection, const OSSL_PARAM params[])
{
	struct xgen *g;

	(void)provctx;
	if ((g = OPENSSL_zalloc(sizeof(*g))) == NULL)
		return NULL;
	g->selection = selection;
	if (!gen_set_params(g, params)) {
		OPENSSL_free(g);
		return NULL;
	}
	return g;
}

/* A key pair, or an empty key when only parameters were asked for (what
 * a TLS server does before it learns the client's public key). */
static void *
gen(void *gv, OSSL_CALLBACK *cb, void *cbarg)
{
	const struct xgen *g = gv;
	struct xkey *k;

	(void)cb;
	(void)cbarg;
	if ((k = key_new(NULL)) == NULL)
		return NULL;
	if ((g->selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0)
		return k;
	if (RAND_priv_bytes(k->priv, KEYLEN) != 1) {
		key_free(k);
		return NULL;
	}
	x25519_public(k->pub, k->priv);
	k->has_pub = k->has_priv = 1;
	return k;
}

static void
gen_cleanup(void *gv)
{
	OPENSSL_free(gv);
}

static const OSSL_DISPATCH keymgmt_fns[] = {
	{ OSSL_FUNC_KEYMGMT_NEW, (fn)key_new },
	{ OSSL_FUNC_KEYMGMT_FREE, (fn)key_free },
	{ OSSL_FUNC_KEYMGMT_HAS, (fn)key_has },
	{ OSSL_FUNC_KEYMGMT_MATCH, (fn)key_match },
	{ OSSL_FUNC_KEYMGMT_VALIDATE, (fn)key_validate },
	{ OSSL_FUNC_KEYMGMT_GET_PARAMS, (fn)key_get_params },
	{ OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (fn)key_gettable },
	{ OSSL_FUNC_KEYMGMT_SET_PARAMS, (fn)key_set_params },
	{ OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS, (fn)key_settable },
	{ OSSL_FUNC_KEYMGMT_IMPORT, (fn)key_import },
	{ OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (fn)key_imexport_types },
	{ OSSL_FUNC_KEYMGMT_EXPORT, (fn)key_export },
	{ OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (fn)key_imexport_types },
	{ OSSL_FUNC_KEYMGMT_DUP, (fn)key_dup },
	{ OSSL_FUNC_KEYMGMT_GEN_INIT, (fn)gen_init },
	{ OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, (fn)gen_set_params },
	{ OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS, (fn)gen_settable_params },
	{ OSSL_FUNC_KEYMGMT_GEN, (fn)gen },
	{ OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (fn)gen_cleanup },
	{ 0, NULL }
};

/* --- key exchange ------------------------------------------------------ */

static void *
exch_new(void *provctx)
{
	(void)provctx;
	return OPENSSL_zalloc(sizeof(struct xexch));
}

static void
exch_free(void *xv)
{
	OPENSSL_clear_free(xv, sizeof(struct xexch));
}

static void *
exch_dup(void *xv)
{
	return OPENSSL_memdup(xv, sizeof(struct xexch));
}

static int
exch_init(void *xv, void *kv, const OSSL_PARAM params[])
{
	struct xexch *x = xv;
	const struct xkey *k = kv;

	(void)params;
	if (k == NULL || !k->has_priv)
		return 0;
	memcpy(x->priv, k->priv, KEYLEN);
	x->has_priv = 1;
	return 1;
}

static int
exch_set_peer(void *xv, void *kv)
{
	struct xexch *x = xv;
	const struct xkey *k = kv;

	if (k == NULL || !k->has_pub)
		return 0;
	memcpy(x->peer, k->pub, KEYLEN);
	x->has_peer = 1;
	return 1;
}

static int
exch_derive(void *xv, unsigned char *secret, size_t *secretlen,
    size_t outlen)
{
	const struct xexch *x = xv;

	if (!x->has_priv || !x->has_peer)
		return 0;
	*secretlen = KEYLEN;
	if (secret == NULL)
		return 1;
	if (outlen < KEYLEN || x25519_shared(secret, x->priv, x->peer) != 0)
		return 0;
	return 1;
}

static const OSSL_DISPATCH keyexch_fns[] = {
	{ OSSL_FUNC_KEYEXCH_NEWCTX, (fn)exch_new },
	{ OSSL_FUNC_KEYEXCH_INIT, (fn)exch_init },
	{ OSSL_FUNC_KEYEXCH_SET_PEER, (fn)exch_set_peer },
	{ OSSL_FUNC_KEYEXCH_DERIVE, (fn)exch_derive },
	{ OSSL_FUNC_KEYEXCH_FREECTX, (fn)exch_free },
	{ OSSL_FUNC_KEYEXCH_DUPCTX, (fn)exch_dup },
	{ 0, NULL }
};

/* --- the provider ------------------------------------------------------ */

static const OSSL_ALGORITHM keymgmt_algs[] = {
	{ "X25519:1.3.101.110", "provider=stud", keymgmt_fns,
	  "stud's X25519" },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM keyexch_algs[] = {
	{ "X25519:1.3.101.110", "provider=stud", keyexch_fns,
	  "stud's X25519" },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM *
query(void *provctx, int operation, int *no_cache)
{
	(void)provctx;
	*no_cache = 0;
	switch (operation) {
	case OSSL_OP_KEYMGMT:
		return keymgmt_algs;
	case OSSL_OP_KEYEXCH:
		return keyexch_algs;
	}
	return NULL;
}

/* libssl offers a TLS group only from a provider that declares it and
 * also supplies its key management, so stud declares X25519 too (RFC 8446
 * group 0x001d; the versions are those OpenSSL declares for it). */
static unsigned int	group_id = 0x001d, group_bits = 128;
static int		group_tls[2] = { TLS1_VERSION, 0 },
			group_dtls[2] = { DTLS1_VERSION, 0 };

static const OSSL_PARAM group_x25519[] = {
	OSSL_PARAM_utf8_string(OSSL_CAPABILITY_TLS_GROUP_NAME, "x25519", 7),
	OSSL_PARAM_utf8_string(OSSL_CAPABILITY_TLS_GROUP_NAME_INTERNAL,
	    "X25519", 7),
	OSSL_PARAM_utf8_string(OSSL_CAPABILITY_TLS_GROUP_ALG, "X25519", 7),
	OSSL_PARAM_uint(OSSL_CAPABILITY_TLS_GROUP_ID, &group_id),
	OSSL_PARAM_uint(OSSL_CAPABILITY_TLS_GROUP_SECURITY_BITS, &group_bits),
	OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MIN_TLS, &group_tls[0]),
	OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MAX_TLS, &group_tls[1]),
	OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MIN_DTLS, &group_dtls[0]),
	OSSL_PARAM_int(OSSL_CAPABILITY_TLS_GROUP_MAX_DTLS, &group_dtls[1]),
	OSSL_PARAM_END
};

static int
capabilities(void *provctx, const char *capability, OSSL_CALLBACK *cb,
    void *arg)
{
	(void)provctx;
	if (strcasecmp(capability, "TLS-GROUP") == 0)
		return cb(group_x25519, arg);
	return 0;
}

static const OSSL_DISPATCH provider_fns[] = {
	{ OSSL_FUNC_PROVIDER_QUERY_OPERATION, (fn)query },
	{ OSSL_FUNC_PROVIDER_GET_CAPABILITIES, (fn)capabilities },
	{ 0, NULL }
};

static int
provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
    const OSSL_DISPATCH **out, void **provctx)
{
	(void)handle;
	(void)in;
	*out = provider_fns;
	*provctx = NULL;
	return 1;
}

int
provider_propq(int own, const char **propq)
{
	static OSSL_PROVIDER *prov;

	if (!own) {
		*propq = prov != NULL ? "?provider=default" : NULL;
		return 0;
	}
	if (prov == NULL && (x25519_init() != 0 ||
	    OSSL_PROVIDER_add_builtin(NULL, PROVIDER_NAME, provider_init) != 1 ||
	    (prov = OSSL_PROVIDER_try_load(NULL, PROVIDER_NAME, 1)) == NULL))
		return -1;
	*propq = "?provider=" PROVIDER_NAME;
	return 0;
}
