/* fuzz_aesgcm.c - aesgcm.c against OpenSSL's EVP AES-GCM. Input: byte 0
 * selects the key length (bit 0: 256-bit) and in-place or not (bit 1);
 * then 32 key bytes, 12 nonce bytes, an additional-data length byte, that
 * much additional data, then the plaintext. Checked: the same ciphertext
 * and tag as EVP, opening gives the plaintext back, and one flipped bit
 * (chosen by the input) makes opening fail. */
#include <openssl/evp.h>

#include "aesgcm.h"
#include "fuzz.h"

#define HEAD	(1 + 32 + 12 + 1)

static void
evp_seal(const unsigned char *key, size_t keylen, const unsigned char *iv,
    const unsigned char *aad, size_t aadlen, const unsigned char *pt,
    size_t len, unsigned char *ct, unsigned char *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int outl;

	CHECK(c != NULL);
	CHECK(EVP_EncryptInit_ex(c, keylen == 16 ? EVP_aes_128_gcm() :
	    EVP_aes_256_gcm(), NULL, key, iv) == 1);
	CHECK(aadlen == 0 || EVP_EncryptUpdate(c, NULL, &outl, aad,
	    (int)aadlen) == 1);
	CHECK(len == 0 || EVP_EncryptUpdate(c, ct, &outl, pt, (int)len) == 1);
	CHECK(EVP_EncryptFinal_ex(c, ct + len, &outl) == 1);
	CHECK(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1);
	EVP_CIPHER_CTX_free(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct aesgcm_key k;
	unsigned char tag[16], mine[16], *aad, *pt, *ct, *buf;
	size_t keylen, aadlen, len, flip;
	int in_place;

	if (size < HEAD || !aesgcm_available())
		return 0;
	keylen = data[0] & 1 ? 32 : 16;
	in_place = (data[0] & 2) != 0;
	aadlen = data[HEAD - 1];
	if (size < HEAD + aadlen)
		return 0;
	len = size - HEAD - aadlen;
	aad = dup_exact(data + HEAD, aadlen);
	pt = dup_exact(data + HEAD + aadlen, len);
	ct = malloc(len + 1);
	CHECK(ct != NULL);
	CHECK(aesgcm_set_key(&k, data + 1, keylen) == 0);
	evp_seal(data + 1, keylen, data + 33, aad, aadlen, pt, len, ct, tag);

	/* seal: the same bytes as EVP */
	buf = dup_exact(pt, len);
	CHECK(aesgcm_seal(&k, data + 33, aad, aadlen, in_place ? buf : pt,
	    buf, len, mine) == 0);
	CHECK(len == 0 || memcmp(buf, ct, len) == 0);
	CHECK(memcmp(mine, tag, 16) == 0);

	/* open: the plaintext back, in place or into a second buffer */
	CHECK(aesgcm_open(&k, data + 33, aad, aadlen, in_place ? buf : ct,
	    in_place ? buf : ct, len, tag) == 0);
	CHECK(len == 0 || memcmp(in_place ? buf : ct, pt, len) == 0);

	/* one bit flipped in the ciphertext, tag or additional data */
	evp_seal(data + 1, keylen, data + 33, aad, aadlen, pt, len, ct, tag);
	flip = (size_t)data[1] * 256 + data[2];
	flip %= 8 * (len + 16 + aadlen);
	if (flip < 8 * len)
		ct[flip / 8] ^= (unsigned char)(1u << flip % 8);
	else if ((flip -= 8 * len) < 128)
		tag[flip / 8] ^= (unsigned char)(1u << flip % 8);
	else
		aad[(flip - 128) / 8] ^= (unsigned char)(1u << flip % 8);
	CHECK(aesgcm_open(&k, data + 33, aad, aadlen, ct, buf, len, tag) ==
	    -1);
	free(aad);
	free(pt);
	free(ct);
	free(buf);
	return 0;
}
