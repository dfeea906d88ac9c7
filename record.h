/* record.h - stud's own TLS record layer for application data: once
 * OpenSSL's handshake has made the secrets of a TLS 1.2 or 1.3 connection
 * with an AEAD suite, the connection drops its SSL object and seals and
 * opens its records here (kernel TLS's job, done in user space). */
#ifndef STUD_RECORD_H
#define STUD_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define REC_PLAIN_MAX	16384		/* plaintext of one record */
#define REC_HEAD_MAX	13		/* header + TLS 1.2 GCM explicit nonce */
#define REC_TAIL_MAX	17		/* TLS 1.3 inner type + AEAD tag */
#define REC_CIPHER_MAX	(5 + 16384 + 256)	/* longest record accepted */
#define REC_OPEN_ROOM	(REC_PLAIN_MAX + 1)	/* rec_open()'s output room */

/* Content types. */
#define REC_CHANGE_CIPHER_SPEC	20
#define REC_ALERT		21
#define REC_HANDSHAKE		22
#define REC_APPDATA		23

/* Alert descriptions, returned negated by the functions below. */
#define REC_CLOSE_NOTIFY	0
#define REC_UNEXPECTED_MESSAGE	10
#define REC_BAD_RECORD_MAC	20
#define REC_RECORD_OVERFLOW	22
#define REC_DECODE_ERROR	50
#define REC_DECRYPT_ERROR	51
#define REC_INTERNAL_ERROR	80
#define REC_NO_RENEGOTIATION	100

#define REC_TLS12	0x0303
#define REC_TLS13	0x0304

/* A TLS 1.3 connection moves to new write keys (KeyUpdate) after this many
 * records under one key, well inside AES-GCM's limit (RFC 8446, 5.5). */
#define REC_KEY_UPDATE_AFTER	((uint64_t)1 << 24)

enum rec_aead { REC_AES_128_GCM, REC_AES_256_GCM, REC_CHACHA20_POLY1305 };

/* The AEAD of a suite (IANA number) this record layer and stud's own
 * handshakes do: TLS 1.3's AES-GCM and ChaCha20 suites, TLS 1.2's
 * ECDHE-RSA ones; *sha384 whether its hash is SHA-384. -1 for another. */
static inline int
rec_suite_aead(unsigned suite, int *sha384)
{
	*sha384 = suite == 0x1302 || suite == 0xc030;
	switch (suite) {
	case 0x1301: case 0xc02f: return REC_AES_128_GCM;
	case 0x1302: case 0xc030: return REC_AES_256_GCM;
	case 0x1303: case 0xcca8: return REC_CHACHA20_POLY1305;
	default: return -1;
	}
}

/* What rec_handshake() found. */
#define REC_PH_UPDATE_REQUESTED	1	/* send a KeyUpdate of ours */
#define REC_PH_RENEGOTIATE	2	/* refuse: no_renegotiation warning */

/* One direction of a connection. Before rec_start13() or rec_start12(),
 * the handshake's watcher (tls.c) puts the traffic secret (TLS 1.3; for
 * TLS 1.2 the caller passes the master secret) and the sequence number of
 * the first record to come here. */
struct rec_dir {
	uint64_t	seq;		/* the next record's sequence number */
	uint64_t	kid;		/* this key's number, unique per process */
	unsigned char	key[32];
	unsigned char	iv[12];		/* TLS 1.2 GCM: 4-byte salt, then 0s */
	unsigned char	secret[48];	/* TLS 1.3: the current traffic secret */
};

/* A connection's record state: rd opens the client's records, wr seals
 * ours. */
struct rec_state {
	struct rec_dir	rd;
	struct rec_dir	wr;
	uint16_t	version;	/* REC_TLS12 or REC_TLS13 */
	uint8_t		aead;		/* enum rec_aead */
	uint8_t		sha384;		/* the suite's hash: SHA-384, else 256 */
	uint8_t		watch;		/* for the handshake's watcher */
};

/* Per process: fetch the ciphers and HMAC. Returns 0, or -1 if OpenSSL
 * lacks one (connections then keep OpenSSL's record layer). */
int	rec_init(void);

/* Free what rec_init() made (for leak checkers). */
void	rec_cleanup(void);

/* AES-GCM through aesgcm.c where the CPU allows (rec_init()'s choice), or
 * through EVP (on = 0), for tests and comparisons. Returns whether
 * aesgcm.c is now used. */
int	rec_use_aesgcm(int on);

/* TLS 1.3: derive both directions' keys from their traffic secrets. Returns
 * 0, or -1 if the AEAD is unavailable or the derivation failed. */
int	rec_start13(struct rec_state *rs, enum rec_aead aead, int sha384);

/* TLS 1.2: derive both directions' keys from the master secret and the
 * hello randoms (client's, then server's, 32 bytes each). Returns 0 or -1. */
int	rec_start12(struct rec_state *rs, enum rec_aead aead, int sha384,
	    const unsigned char master[48], const unsigned char *client_random,
	    const unsigned char *server_random);

/* Wipe the keys and secrets. */
void	rec_wipe(struct rec_state *rs);

/* Bytes a record puts before its plaintext: 5, or 13 with TLS 1.2 GCM. */
static inline size_t
rec_head_len(const struct rec_state *rs)
{
	return rs->version == REC_TLS12 && rs->aead != REC_CHACHA20_POLY1305 ?
	    13 : 5;
}

/* Seal len (<= REC_PLAIN_MAX) bytes of plaintext of content type at
 * rec + rec_head_len() in place into one record starting at rec (room for
 * REC_TAIL_MAX more bytes after the plaintext). Returns the record's
 * length, or -1 (the connection cannot go on). */
long	rec_seal(struct rec_state *rs, unsigned type, unsigned char *rec,
	    size_t len);

/* Seal an alert (level 1 warning, 2 fatal; description desc) at rec, with
 * room for REC_HEAD_MAX + 2 + REC_TAIL_MAX bytes. Returns the record's
 * length, or -1. */
long	rec_seal_alert(struct rec_state *rs, unsigned char *rec,
	    unsigned level, unsigned desc);

/* Seal a KeyUpdate (not asking the peer for one) at rec, with room for
 * 5 + 5 + REC_TAIL_MAX bytes, then move to the next write keys. Returns
 * the record's length, or -1. */
long	rec_seal_key_update(struct rec_state *rs, unsigned char *rec);

/* True when our write key has sealed enough records to be replaced. */
static inline int
rec_wants_key_update(const struct rec_state *rs)
{
	return rs->version == REC_TLS13 && rs->wr.seq >= REC_KEY_UPDATE_AFTER;
}

/* Frame the record at buf (len bytes so far): its whole length when
 * complete, 0 while more bytes are needed, or -alert if its header is
 * impossible. */
long	rec_frame(const unsigned char *buf, size_t len);

/* Open the complete record rec (reclen bytes, framed by rec_frame()):
 * decrypt its content into out (REC_OPEN_ROOM bytes; not rec) and return
 * the content's length with its type in *type, or -alert if it does not
 * authenticate or is malformed. */
long	rec_open(struct rec_state *rs, const unsigned char *rec,
	    size_t reclen, unsigned char *out, unsigned *type);

/* Handle the handshake messages a record held after the handshake: a TLS
 * 1.3 KeyUpdate moves to the client's next keys. Returns 0 or REC_PH_*
 * flags, or -alert for anything else. */
int	rec_handshake(struct rec_state *rs, const unsigned char *msg,
	    size_t len);

#endif /* STUD_RECORD_H */
