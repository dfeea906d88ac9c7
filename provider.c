/* provider.c - stud's OpenSSL provider, which TLS contexts prefer
 * (provider_propq()) over OpenSSL 3.0's: X25519 key management and key
 * exchange on x25519.c (OpenSSL's key generation costs three times as much)
 * and TLS 1.3's and TLS 1.2's key derivations on kdf.c (OpenSSL builds a
 * MAC and fetches a digest for each of the twenty of a TLS 1.3 handshake). */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/prov_ssl.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "kdf.h"
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

/* --- key derivation: TLS13-KDF and TLS1-PRF ------------------------------
 * With SHA-256 or SHA-384 (every TLS 1.2 AEAD suite and TLS 1.3 suite) kdf.c
 * computes them; with any other digest (TLS 1.0's MD5-SHA1) the context
 * hands everything to OpenSSL's own implementation. libssl gives every
 * parameter with each derivation, as these contexts expect. */

#define SECRET_MAX	1024	/* an FFDHE8192 shared secret */
#define SEED_MAX	512

/* Twenty of these live and die in each TLS 1.3 handshake: the buffers are
 * neither zeroed when made nor wiped beyond what they held. */
struct kdfctx {
	int		 tls13;		/* TLS13-KDF, else TLS1-PRF */
	int		 sha384;	/* -1 until a digest is set */
	int		 mode;		/* TLS13-KDF: EVP_KDF_HKDF_MODE_* */
	EVP_KDF_CTX	*fwd;		/* OpenSSL's, for another digest */
	size_t		 keylen, saltlen, plen, llen, dlen, seedlen;
	unsigned	 has_key:1;
	unsigned	 has_salt:1;
	unsigned char	 key[SECRET_MAX];	/* TLS1-PRF: the secret */
	unsigned char	 salt[KDF_HASH_MAX];
	unsigned char	 prefix[16];
	unsigned char	 label[255];
	unsigned char	 data[255];
	unsigned char	 seed[SEED_MAX];
};

/* The fields before the buffers: what a new context sets to zero. */
#define KDF_HEAD	offsetof(struct kdfctx, key)

static void *
kdf_new(int tls13)
{
	struct kdfctx *c = OPENSSL_malloc(sizeof(*c));

	if (c != NULL) {
		memset(c, 0, KDF_HEAD);
		c->tls13 = tls13;
		c->sha384 = -1;
	}
	return c;
}

static provider_secret_fn	secret_fn;

void
provider_watch_secrets(provider_secret_fn watcher)
{
	secret_fn = watcher;
}

/* A TLS 1.3 application traffic secret was derived: tell the watcher. */
static void
note_secret(const struct kdfctx *c, const unsigned char *out, size_t len)
{
	if (c->llen == 12 && (memcmp(c->label, "c ap traffic", 12) == 0 ||
	    memcmp(c->label, "s ap traffic", 12) == 0))
		secret_fn(c->label[0] == 'c', out, len);
}

/* Wipe the secrets a context held. */
static void
kdf_wipe(struct kdfctx *c)
{
	OPENSSL_cleanse(c->key, c->keylen);
	OPENSSL_cleanse(c->salt, c->saltlen);
	OPENSSL_cleanse(c->seed, c->seedlen);
}

static void *
kdf13_new(void *provctx)
{
	(void)provctx;
	return kdf_new(1);
}

static void *
prf12_new(void *provctx)
{
	(void)provctx;
	return kdf_new(0);
}

static void
kdf_free(void *vc)
{
	struct kdfctx *c = vc;

	if (c == NULL)
		return;
	EVP_KDF_CTX_free(c->fwd);
	kdf_wipe(c);
	OPENSSL_free(c);
}

static void
kdf_reset(void *vc)
{
	struct kdfctx *c = vc;
	int tls13 = c->tls13;

	EVP_KDF_CTX_free(c->fwd);
	kdf_wipe(c);
	memset(c, 0, KDF_HEAD);
	c->tls13 = tls13;
	c->sha384 = -1;
}

static void *
kdf_dup(void *vc)
{
	const struct kdfctx *c = vc;
	struct kdfctx *d = OPENSSL_malloc(sizeof(*d));

	if (d == NULL)
		return NULL;
	memcpy(d, c, sizeof(*d));
	if (c->fwd != NULL && (d->fwd = EVP_KDF_CTX_dup(c->fwd)) == NULL) {
		kdf_wipe(d);
		OPENSSL_free(d);
		return NULL;
	}
	return d;
}

/* Copy an octet string parameter into buf (room bytes). */
static int
get_octets(const OSSL_PARAM *p, unsigned char *buf, size_t room,
    size_t *len)
{
	if (p->data_type != OSSL_PARAM_OCTET_STRING || p->data_size > room)
		return 0;
	if (p->data_size > 0)
		memcpy(buf, p->data, p->data_size);
	*len = p->data_size;
	return 1;
}

/* 0 for SHA-256, 1 for SHA-384, -1 for another digest. */
static int
digest_kind(const char *name)
{
	if (strcasecmp(name, "SHA256") == 0 ||
	    strcasecmp(name, "SHA2-256") == 0)
		return 0;
	if (strcasecmp(name, "SHA384") == 0 ||
	    strcasecmp(name, "SHA2-384") == 0)
		return 1;
	return -1;
}

/* Hand the context over to OpenSSL's implementation (another digest). */
static int
kdf_forward(struct kdfctx *c)
{
	EVP_KDF *k;

	if (c->fwd != NULL)
		return 1;
	k = EVP_KDF_fetch(NULL, c->tls13 ? OSSL_KDF_NAME_TLS1_3_KDF :
	    OSSL_KDF_NAME_TLS1_PRF, "provider=default");
	c->fwd = EVP_KDF_CTX_new(k);
	EVP_KDF_free(k);
	return c->fwd != NULL;
}

static int
kdf_mode(const OSSL_PARAM *p, int *mode)
{
	if (p->data_type != OSSL_PARAM_UTF8_STRING)
		return OSSL_PARAM_get_int(p, mode);
	if (strcasecmp(p->data, "EXTRACT_AND_EXPAND") == 0)
		*mode = EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND;
	else if (strcasecmp(p->data, "EXTRACT_ONLY") == 0)
		*mode = EVP_KDF_HKDF_MODE_EXTRACT_ONLY;
	else if (strcasecmp(p->data, "EXPAND_ONLY") == 0)
		*mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	else
		return 0;
	return 1;
}

/* The parameters kdf_set() reads, found in one pass over the array (the
 * first of each; libssl passes each once, except TLS1-PRF's seeds). */
enum { P_DIGEST, P_KEY, P_SECRET, P_MODE, P_SALT, P_PREFIX, P_LABEL, P_DATA,
	P_SEED, P_N };

static int
kdf_param(const char *key)
{
	static const char *const name[P_N] = { OSSL_KDF_PARAM_DIGEST,
	    OSSL_KDF_PARAM_KEY, OSSL_KDF_PARAM_SECRET, OSSL_KDF_PARAM_MODE,
	    OSSL_KDF_PARAM_SALT, OSSL_KDF_PARAM_PREFIX, OSSL_KDF_PARAM_LABEL,
	    OSSL_KDF_PARAM_DATA, OSSL_KDF_PARAM_SEED };
	int i;

	switch (key[0]) {	/* then one comparison for the candidate */
	case 'd': i = key[1] == 'i' ? P_DIGEST : P_DATA; break;
	case 'k': i = P_KEY; break;
	case 'l': i = P_LABEL; break;
	case 'm': i = P_MODE; break;
	case 'p': i = P_PREFIX; break;
	case 's': i = key[1] == 'a' ? P_SALT :
		    key[1] == 'e' && key[2] == 'c' ? P_SECRET : P_SEED; break;
	default: return -1;
	}
	return strcmp(key, name[i]) == 0 ? i : -1;
}

/* TLS1-PRF: every "seed" parameter from the first, concatenated, replaces
 * the seed. */
static int
prf12_seeds(struct kdfctx *c, const OSSL_PARAM *p)
{
	size_t n;

	c->seedlen = 0;
	for (; p->key != NULL; p++) {
		if (kdf_param(p->key) != P_SEED)
			continue;
		if (!get_octets(p, c->seed + c->seedlen, SEED_MAX - c->seedlen,
		    &n))
			return 0;
		c->seedlen += n;
	}
	return 1;
}

static int
kdf_set(void *vc, const OSSL_PARAM params[])
{
	struct kdfctx *c = vc;
	const OSSL_PARAM *p, *at[P_N] = { NULL };
	int ok = 1, i;

	if (params == NULL)
		return 1;
	for (p = params; p->key != NULL; p++)
		if ((i = kdf_param(p->key)) >= 0 && at[i] == NULL)
			at[i] = p;
	if ((p = at[P_DIGEST]) != NULL) {
		if (p->data_type != OSSL_PARAM_UTF8_STRING)
			return 0;
		if ((c->sha384 = digest_kind(p->data)) == -1 &&
		    !kdf_forward(c))
			return 0;
	}
	if (c->fwd != NULL)
		return EVP_KDF_CTX_set_params(c->fwd, params);
	if ((p = at[c->tls13 ? P_KEY : P_SECRET]) != NULL) {
		OPENSSL_cleanse(c->key, c->keylen);
		ok &= get_octets(p, c->key, sizeof(c->key), &c->keylen);
		c->has_key = 1;
	}
	if (!c->tls13)
		return ok && (at[P_SEED] == NULL || prf12_seeds(c, at[P_SEED]));
	if ((p = at[P_MODE]) != NULL)
		ok &= kdf_mode(p, &c->mode);
	if ((p = at[P_SALT]) != NULL) {
		ok &= get_octets(p, c->salt, sizeof(c->salt), &c->saltlen);
		c->has_salt = 1;
	}
	if ((p = at[P_PREFIX]) != NULL)
		ok &= get_octets(p, c->prefix, sizeof(c->prefix), &c->plen);
	if ((p = at[P_LABEL]) != NULL)
		ok &= get_octets(p, c->label, sizeof(c->label), &c->llen);
	if ((p = at[P_DATA]) != NULL)
		ok &= get_octets(p, c->data, sizeof(c->data), &c->dlen);
	return ok;
}

/* TLS13-KDF's extract: HKDF-Extract(salt', key or zeros), where salt' is
 * nothing for the early secret, else Derive-Secret(salt, label, "") (RFC
 * 8446, 7.1: the "derived" step). */
static int
kdf13_extract(struct kdfctx *c, unsigned char *out, size_t len)
{
	static const unsigned char zeros[KDF_HASH_MAX];
	unsigned char empty[KDF_HASH_MAX], salt[KDF_HASH_MAX];
	size_t hl = kdf_hash_len(c->sha384);
	int r;

	if (len != hl)
		return 0;
	if (!c->has_salt)
		r = kdf_extract(c->sha384, NULL, 0, c->has_key ? c->key :
		    zeros, c->has_key ? c->keylen : hl, out);
	else
		r = kdf_hash(c->sha384, NULL, 0, NULL, 0, NULL, 0, empty) ||
		    kdf_expand_label(c->sha384, c->salt, c->saltlen,
		    c->prefix, c->plen, c->label, c->llen, empty, hl, salt,
		    hl) ||
		    kdf_extract(c->sha384, salt, hl, c->has_key ? c->key :
		    zeros, c->has_key ? c->keylen : hl, out);
	OPENSSL_cleanse(salt, sizeof(salt));
	return r == 0;
}

static int
kdf_derive(void *vc, unsigned char *out, size_t len, const OSSL_PARAM params[])
{
	struct kdfctx *c = vc;

	if (!kdf_set(c, params))
		return 0;
	if (c->fwd != NULL)
		return EVP_KDF_derive(c->fwd, out, len, NULL);
	if (c->sha384 == -1 || len == 0)
		return 0;
	if (!c->tls13)
		return c->has_key && kdf_prf12(c->sha384, c->key, c->keylen,
		    c->seed, c->seedlen, out, len) == 0;
	switch (c->mode) {
	case EVP_KDF_HKDF_MODE_EXTRACT_ONLY:
		return kdf13_extract(c, out, len);
	case EVP_KDF_HKDF_MODE_EXPAND_ONLY:
		if (!c->has_key || kdf_expand_label(c->sha384, c->key,
		    c->keylen, c->prefix, c->plen, c->label, c->llen, c->data,
		    c->dlen, out, len) != 0)
			return 0;
		if (secret_fn != NULL)
			note_secret(c, out, len);
		return 1;
	default:
		return 0;
	}
}

static int
kdf_get(void *vc, OSSL_PARAM params[])
{
	struct kdfctx *c = vc;
	OSSL_PARAM *p;
	size_t size = SIZE_MAX;

	if (c->fwd != NULL)
		return EVP_KDF_CTX_get_params(c->fwd, params);
	if ((p = OSSL_PARAM_locate(params, OSSL_KDF_PARAM_SIZE)) == NULL)
		return -2;
	if (c->tls13 && c->mode == EVP_KDF_HKDF_MODE_EXTRACT_ONLY) {
		if (c->sha384 == -1)
			return 0;
		size = kdf_hash_len(c->sha384);
	}
	return OSSL_PARAM_set_size_t(p, size);
}

static const OSSL_PARAM *
kdf13_settable(void *vc, void *provctx)
{
	static const OSSL_PARAM t[] = {
		OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_PROPERTIES, NULL, 0),
		OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_DIGEST, NULL, 0),
		OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_MODE, NULL, 0),
		OSSL_PARAM_int(OSSL_KDF_PARAM_MODE, NULL),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_KEY, NULL, 0),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SALT, NULL, 0),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_PREFIX, NULL, 0),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_LABEL, NULL, 0),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_DATA, NULL, 0),
		OSSL_PARAM_END
	};

	(void)vc;
	(void)provctx;
	return t;
}

static const OSSL_PARAM *
prf12_settable(void *vc, void *provctx)
{
	static const OSSL_PARAM t[] = {
		OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_PROPERTIES, NULL, 0),
		OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_DIGEST, NULL, 0),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SECRET, NULL, 0),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SEED, NULL, 0),
		OSSL_PARAM_END
	};

	(void)vc;
	(void)provctx;
	return t;
}

static const OSSL_PARAM *
kdf_gettable(void *vc, void *provctx)
{
	static const OSSL_PARAM t[] = {
		OSSL_PARAM_size_t(OSSL_KDF_PARAM_SIZE, NULL),
		OSSL_PARAM_END
	};

	(void)vc;
	(void)provctx;
	return t;
}

#define KDF_FNS(newfn, settable) {					\
	{ OSSL_FUNC_KDF_NEWCTX, (fn)(newfn) },				\
	{ OSSL_FUNC_KDF_DUPCTX, (fn)kdf_dup },				\
	{ OSSL_FUNC_KDF_FREECTX, (fn)kdf_free },			\
	{ OSSL_FUNC_KDF_RESET, (fn)kdf_reset },				\
	{ OSSL_FUNC_KDF_DERIVE, (fn)kdf_derive },			\
	{ OSSL_FUNC_KDF_SETTABLE_CTX_PARAMS, (fn)(settable) },		\
	{ OSSL_FUNC_KDF_SET_CTX_PARAMS, (fn)kdf_set },			\
	{ OSSL_FUNC_KDF_GETTABLE_CTX_PARAMS, (fn)kdf_gettable },	\
	{ OSSL_FUNC_KDF_GET_CTX_PARAMS, (fn)kdf_get },			\
	{ 0, NULL }							\
}

static const OSSL_DISPATCH kdf13_fns[] = KDF_FNS(kdf13_new, kdf13_settable);
static const OSSL_DISPATCH prf12_fns[] = KDF_FNS(prf12_new, prf12_settable);

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

static const OSSL_ALGORITHM kdf_algs[] = {
	{ OSSL_KDF_NAME_TLS1_3_KDF, "provider=stud", kdf13_fns,
	  "stud's TLS 1.3 key schedule" },
	{ OSSL_KDF_NAME_TLS1_PRF, "provider=stud", prf12_fns,
	  "stud's TLS 1.2 PRF" },
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
	case OSSL_OP_KDF:
		return kdf_algs;
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
