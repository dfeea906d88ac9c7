/* record.c - stud's TLS record layer after the handshake: key derivation
 * (TLS 1.2 PRF, TLS 1.3 HKDF-Expand-Label), sealing and opening AEAD
 * records, TLS 1.3 KeyUpdate. Ciphers: aesgcm.c where it runs, else EVP. */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "aesgcm.h"
#include "kdf.h"
#include "record.h"

#define TAG_LEN		16
#define NAEAD		3
#define HS_KEY_UPDATE	24
#define HS_CLIENT_HELLO	1

static const char *const aead_name[NAEAD] = {
	"AES-128-GCM", "AES-256-GCM", "ChaCha20-Poly1305"
};
static const size_t aead_keylen[NAEAD] = { 16, 32, 32 };

/* One cipher context per AEAD and direction (0 open, 1 seal), re-keyed
 * only when another key than the one it holds is used. */
static EVP_CIPHER	*cipher[NAEAD];
static EVP_CIPHER_CTX	*cctx[NAEAD][2];
static uint64_t		 cctx_kid[NAEAD][2];
static uint64_t		 next_kid = 1;
/* With aesgcm.c, one expanded AES-GCM key per direction, the same way. */
static int		 own_gcm;
static struct aesgcm_key gkey[2];
static uint64_t		 gkey_kid[2];
static int		 ready;		/* rec_init() done */

int
rec_init(void)
{
	unsigned char h[KDF_HASH_MAX];
	int i, e;

	if (ready)
		return 0;
	own_gcm = aesgcm_available();
	/* the key derivations' digests (kdf.c fetches them on first use) */
	if (kdf_hash(0, NULL, 0, NULL, 0, NULL, 0, h) == -1 ||
	    kdf_hash(1, NULL, 0, NULL, 0, NULL, 0, h) == -1)
		return -1;
	/* an AEAD this OpenSSL lacks stays NULL: its connections keep
	 * OpenSSL's record layer */
	for (i = 0; i < NAEAD; i++) {
		if ((cipher[i] = EVP_CIPHER_fetch(NULL, aead_name[i], NULL)) ==
		    NULL)
			continue;
		for (e = 0; e < 2; e++)
			if ((cctx[i][e] = EVP_CIPHER_CTX_new()) == NULL ||
			    EVP_CipherInit_ex2(cctx[i][e], cipher[i], NULL,
			    NULL, e, NULL) != 1) {
				rec_cleanup();
				return -1;
			}
	}
	ready = 1;
	return 0;
}

void
rec_cleanup(void)
{
	int i;

	for (i = 0; i < NAEAD; i++) {
		EVP_CIPHER_CTX_free(cctx[i][0]);
		EVP_CIPHER_CTX_free(cctx[i][1]);
		cctx[i][0] = cctx[i][1] = NULL;
		cctx_kid[i][0] = cctx_kid[i][1] = 0;
		EVP_CIPHER_free(cipher[i]);
		cipher[i] = NULL;
	}
	ready = 0;
	aesgcm_wipe(&gkey[0]);
	aesgcm_wipe(&gkey[1]);
	gkey_kid[0] = gkey_kid[1] = 0;
}

int
rec_use_aesgcm(int on)
{
	gkey_kid[0] = gkey_kid[1] = 0;
	own_gcm = on && aesgcm_available();
	return own_gcm;
}

/* ---------------------------------------------------------------------
 * Key derivation.
 */

/* TLS 1.3 HKDF-Expand-Label(secret, label, "", len) (RFC 8446, 7.1). */
static int
hkdf_label(int sha384, const unsigned char *secret, const char *label,
    unsigned char *out, size_t len)
{
	return kdf_expand_label(sha384, secret, kdf_hash_len(sha384),
	    (const unsigned char *)"tls13 ", 6, (const unsigned char *)label,
	    strlen(label), NULL, 0, out, len);
}

/* Install a direction's key: a new number, so no cipher context still
 * holding an older key is taken for it. */
static inline void
dir_installed(struct rec_dir *d)
{
	d->kid = next_kid++;
}

/* TLS 1.3 write or read keys from the direction's traffic secret. */
static int
dir_derive13(const struct rec_state *rs, struct rec_dir *d)
{
	if (hkdf_label(rs->sha384, d->secret, "key", d->key,
	    aead_keylen[rs->aead]) == -1 ||
	    hkdf_label(rs->sha384, d->secret, "iv", d->iv, 12) == -1)
		return -1;
	dir_installed(d);
	return 0;
}

int
rec_start13(struct rec_state *rs, enum rec_aead aead, int sha384)
{
	if (aead >= NAEAD || cipher[aead] == NULL)
		return -1;
	rs->version = REC_TLS13;
	rs->aead = (uint8_t)aead;
	rs->sha384 = sha384 != 0;
	return dir_derive13(rs, &rs->rd) == 0 &&
	    dir_derive13(rs, &rs->wr) == 0 ? 0 : -1;
}

int
rec_start12(struct rec_state *rs, enum rec_aead aead, int sha384,
    const unsigned char master[48], const unsigned char *client_random,
    const unsigned char *server_random)
{
	unsigned char ls[13 + 64], kb[2 * 32 + 2 * 12];
	size_t kl, il;
	int r;

	if (aead >= NAEAD || cipher[aead] == NULL)
		return -1;
	rs->version = REC_TLS12;
	rs->aead = (uint8_t)aead;
	rs->sha384 = sha384 != 0;
	kl = aead_keylen[aead];
	il = aead == REC_CHACHA20_POLY1305 ? 12 : 4;
	/* key_block = PRF(master, "key expansion", server_random +
	 * client_random): client key, server key, client IV, server IV (no
	 * MAC keys with an AEAD) */
	memcpy(ls, "key expansion", 13);
	memcpy(ls + 13, server_random, 32);
	memcpy(ls + 45, client_random, 32);
	r = kdf_prf12(rs->sha384, master, 48, ls, sizeof(ls), kb,
	    2 * kl + 2 * il);
	memset(rs->rd.iv, 0, sizeof(rs->rd.iv));
	memset(rs->wr.iv, 0, sizeof(rs->wr.iv));
	memcpy(rs->rd.key, kb, kl);
	memcpy(rs->wr.key, kb + kl, kl);
	memcpy(rs->rd.iv, kb + 2 * kl, il);
	memcpy(rs->wr.iv, kb + 2 * kl + il, il);
	OPENSSL_cleanse(kb, sizeof(kb));
	OPENSSL_cleanse(rs->rd.secret, sizeof(rs->rd.secret));
	OPENSSL_cleanse(rs->wr.secret, sizeof(rs->wr.secret));
	dir_installed(&rs->rd);
	dir_installed(&rs->wr);
	return r;
}

void
rec_wipe(struct rec_state *rs)
{
	OPENSSL_cleanse(&rs->rd, sizeof(rs->rd));
	OPENSSL_cleanse(&rs->wr, sizeof(rs->wr));
}

/* TLS 1.3: the next traffic secret and keys of one direction. */
static int
dir_update13(const struct rec_state *rs, struct rec_dir *d)
{
	unsigned char next[48];
	size_t hl = kdf_hash_len(rs->sha384);

	if (hkdf_label(rs->sha384, d->secret, "traffic upd", next, hl) == -1)
		return -1;
	memcpy(d->secret, next, hl);
	OPENSSL_cleanse(next, sizeof(next));
	d->seq = 0;
	return dir_derive13(rs, d);
}

/* ---------------------------------------------------------------------
 * Records.
 */

/* The cipher context of rs's AEAD for one direction, holding d's key. */
static EVP_CIPHER_CTX *
dir_ctx(const struct rec_state *rs, const struct rec_dir *d, int enc)
{
	EVP_CIPHER_CTX *c = cctx[rs->aead][enc];

	if (c == NULL)
		return NULL;
	if (cctx_kid[rs->aead][enc] != d->kid) {
		cctx_kid[rs->aead][enc] = 0;
		if (EVP_CipherInit_ex2(c, NULL, d->key, NULL, enc, NULL) != 1)
			return NULL;
		cctx_kid[rs->aead][enc] = d->kid;
	}
	return c;
}

/* The per-record nonce: the IV xor the 64-bit sequence number, right
 * aligned (for TLS 1.2 GCM, salt || seq: the IV's last 8 bytes are 0). */
static inline void
dir_nonce(const struct rec_dir *d, unsigned char nonce[12])
{
	int i;

	memcpy(nonce, d->iv, 12);
	for (i = 0; i < 8; i++)
		nonce[11 - i] ^= (unsigned char)(d->seq >> (8 * i));
}

/* TLS 1.2 additional data: seq || type || version || length. */
static inline void
aad12(unsigned char aad[13], uint64_t seq, unsigned type, size_t len)
{
	int i;

	for (i = 0; i < 8; i++)
		aad[i] = (unsigned char)(seq >> (56 - 8 * i));
	aad[8] = (unsigned char)type;
	aad[9] = 3;
	aad[10] = 3;
	aad[11] = (unsigned char)(len >> 8);
	aad[12] = (unsigned char)len;
}

/* One AEAD pass of direction d in place or from in to out; enc: tag
 * written, else checked. Returns 0, -1 if the pass or the tag failed, or
 * -2 if d's key could not be installed. */
static int
dir_aead(const struct rec_state *rs, const struct rec_dir *d, int enc,
    const unsigned char *nonce, const unsigned char *aad, size_t aadlen,
    const unsigned char *in, unsigned char *out, size_t len,
    unsigned char *tag)
{
	EVP_CIPHER_CTX *c;
	int outl;

	if (own_gcm && rs->aead != REC_CHACHA20_POLY1305) {
		if (gkey_kid[enc] != d->kid) {
			gkey_kid[enc] = 0;
			if (aesgcm_set_key(&gkey[enc], d->key,
			    aead_keylen[rs->aead]) == -1)
				return -2;
			gkey_kid[enc] = d->kid;
		}
		return enc ? aesgcm_seal(&gkey[1], nonce, aad, aadlen, in, out,
		    len, tag) : aesgcm_open(&gkey[0], nonce, aad, aadlen, in,
		    out, len, tag);
	}
	if ((c = dir_ctx(rs, d, enc)) == NULL)
		return -2;
	if (EVP_CipherInit_ex2(c, NULL, NULL, nonce, enc, NULL) != 1 ||
	    EVP_CipherUpdate(c, NULL, &outl, aad, (int)aadlen) != 1 ||
	    (len > 0 && EVP_CipherUpdate(c, out, &outl, in, (int)len) != 1))
		return -1;
	if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAG_LEN,
	    tag) != 1)
		return -1;
	if (EVP_CipherFinal_ex(c, out + len, &outl) != 1)
		return -1;
	if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAG_LEN,
	    tag) != 1)
		return -1;
	return 0;
}

long
rec_seal(struct rec_state *rs, unsigned type, unsigned char *rec, size_t len)
{
	struct rec_dir *d = &rs->wr;
	size_t head = rec_head_len(rs), body;
	unsigned char nonce[12], aad[13], *p = rec + head;
	int tls13 = rs->version == REC_TLS13;

	if (len > REC_PLAIN_MAX || d->seq == UINT64_MAX)
		return -1;
	if (tls13) {
		p[len++] = (unsigned char)type;	/* the inner content type */
		type = REC_APPDATA;
	} else
		aad12(aad, d->seq, type, len);
	body = head - 5 + len + TAG_LEN;
	rec[0] = (unsigned char)type;
	rec[1] = 3;
	rec[2] = 3;
	rec[3] = (unsigned char)(body >> 8);
	rec[4] = (unsigned char)body;
	dir_nonce(d, nonce);
	if (head == 13)
		memcpy(rec + 5, nonce + 4, 8);	/* explicit nonce: seq */
	if (dir_aead(rs, d, 1, nonce, tls13 ? rec : aad, tls13 ? 5 : 13, p, p,
	    len, p + len) < 0)
		return -1;
	d->seq++;
	return (long)(5 + body);
}

long
rec_seal_alert(struct rec_state *rs, unsigned char *rec, unsigned level,
    unsigned desc)
{
	size_t hl = rec_head_len(rs);

	rec[hl] = (unsigned char)level;
	rec[hl + 1] = (unsigned char)desc;
	return rec_seal(rs, REC_ALERT, rec, 2);
}

long
rec_seal_key_update(struct rec_state *rs, unsigned char *rec)
{
	static const unsigned char ku[5] = { HS_KEY_UPDATE, 0, 0, 1, 0 };
	long n;

	if (rs->version != REC_TLS13)
		return -1;
	memcpy(rec + 5, ku, sizeof(ku));
	if ((n = rec_seal(rs, REC_HANDSHAKE, rec, sizeof(ku))) < 0 ||
	    dir_update13(rs, &rs->wr) == -1)
		return -1;
	return n;
}

long
rec_frame(const unsigned char *buf, size_t len)
{
	size_t body;

	if (len < 5)
		return 0;
	if (buf[0] < REC_CHANGE_CIPHER_SPEC || buf[0] > REC_APPDATA)
		return -REC_UNEXPECTED_MESSAGE;
	if (buf[1] != 3)
		return -REC_DECODE_ERROR;
	body = (size_t)buf[3] << 8 | buf[4];
	if (body + 5 > REC_CIPHER_MAX)
		return -REC_RECORD_OVERFLOW;
	return len < body + 5 ? 0 : (long)(body + 5);
}

long
rec_open(struct rec_state *rs, const unsigned char *rec, size_t reclen,
    unsigned char *out, unsigned *type)
{
	struct rec_dir *d = &rs->rd;
	size_t expl = rec_head_len(rs) - 5, len;
	unsigned char nonce[12], aad[13];
	int tls13 = rs->version == REC_TLS13, r;

	/* after the handshake every TLS 1.3 record is protected, and a
	 * change_cipher_spec has nothing left to change */
	if ((tls13 && rec[0] != REC_APPDATA) ||
	    rec[0] == REC_CHANGE_CIPHER_SPEC)
		return -REC_UNEXPECTED_MESSAGE;
	if (reclen < 5 + expl + TAG_LEN)
		return -REC_BAD_RECORD_MAC;
	len = reclen - 5 - expl - TAG_LEN;
	if (len > REC_PLAIN_MAX + (size_t)tls13)
		return -REC_RECORD_OVERFLOW;
	if (d->seq == UINT64_MAX)
		return -REC_INTERNAL_ERROR;
	dir_nonce(d, nonce);
	if (expl)
		memcpy(nonce + 4, rec + 5, 8);	/* the sender's explicit nonce */
	if (!tls13)
		aad12(aad, d->seq, rec[0], len);
	r = dir_aead(rs, d, 0, nonce, tls13 ? rec : aad, tls13 ? 5 : 13,
	    rec + 5 + expl, out, len, (unsigned char *)rec + reclen - TAG_LEN);
	if (r < 0)
		return r == -2 ? -REC_INTERNAL_ERROR : -REC_BAD_RECORD_MAC;
	d->seq++;
	if (!tls13) {
		*type = rec[0];
		return (long)len;
	}
	/* TLSInnerPlaintext: content, type, zero padding */
	while (len > 0 && out[len - 1] == 0)
		len--;
	if (len == 0)
		return -REC_UNEXPECTED_MESSAGE;
	*type = out[--len];
	if (*type < REC_ALERT || *type > REC_APPDATA)
		return -REC_UNEXPECTED_MESSAGE;
	return (long)len;
}

int
rec_handshake(struct rec_state *rs, const unsigned char *msg, size_t len)
{
	size_t mlen;

	if (len < 4)
		return -REC_UNEXPECTED_MESSAGE;	/* fragments are not taken */
	mlen = (size_t)msg[1] << 16 | (size_t)msg[2] << 8 | msg[3];
	if (mlen > len - 4)
		return -REC_UNEXPECTED_MESSAGE;
	if (rs->version == REC_TLS12)
		return msg[0] == HS_CLIENT_HELLO ? REC_PH_RENEGOTIATE :
		    -REC_UNEXPECTED_MESSAGE;
	/* TLS 1.3: only KeyUpdate, and it ends its record (a key change) */
	if (msg[0] != HS_KEY_UPDATE || mlen + 4 != len)
		return -REC_UNEXPECTED_MESSAGE;
	if (mlen != 1 || msg[4] > 1)
		return -REC_DECODE_ERROR;
	if (dir_update13(rs, &rs->rd) == -1)
		return -REC_INTERNAL_ERROR;
	return msg[4] == 1 ? REC_PH_UPDATE_REQUESTED : 0;
}
