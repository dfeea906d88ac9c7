/* shsync.h - the packets that carry new TLS sessions between stud machines
 * over UDP: sealed with AES-256-GCM under a key derived from a shared
 * secret, and dropped (and counted) when stale, replayed, forged, truncated
 * or malformed. */
#ifndef STUD_SHSYNC_H
#define STUD_SHSYNC_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

/*
 * Packet format (all integers big endian):
 *
 *	offset		bytes	field
 *	0		4	magic and version "STS1": clear, authenticated
 *	4		12	nonce, random for each packet: clear
 *			 	then AES-256-GCM ciphertext of:
 *	16		8	  creation time, ms since the epoch
 *	24		8	  packet ID, random: what replays are told by
 *	32		1	  idlen, 1..SHSYNC_ID_MAX
 *	33		idlen	  session ID
 *	33+idlen	2	  sesslen, >= 1
 *	35+idlen	sesslen	  session (a DER-serialized SSL_SESSION)
 *	end-16		16	GCM tag over the AAD and the ciphertext
 *
 * The packet is exactly 51 + idlen + sesslen bytes (SHSYNC_OVERHEAD plus
 * the ID and the session), at most SHSYNC_MAX_PACKET. The key is
 * HKDF-SHA256(secret, no salt, info "stud shared cache v1"), 32 bytes; every
 * machine with the same secret derives the same key.
 *
 * A packet is accepted if it is authentic and its creation time lies in
 * [now - SHSYNC_MAX_AGE_MS, now + SHSYNC_MAX_FUTURE_MS] of the receiver's
 * clock, and its packet ID has not been accepted before within that window.
 * Clocks of the machines must thus agree to within a second or so (NTP).
 *
 * Replay state is per struct shsync, i.e. per process. stud's workers share
 * one UDP socket, and the kernel hands each datagram to one worker only;
 * but a copy of a packet sent again by an attacker may reach another worker,
 * which has not seen it. So a packet can be accepted at most once per worker
 * within its window; every acceptance stores the same session under the
 * same ID, which is why per-process state is deemed enough.
 *
 * Replay window limit: a process remembers the packets it accepted for as
 * long as they could be accepted again, and never forgets one earlier. It
 * can hold SHSYNC_REPLAY_MAX of them; as a packet is remembered for at most
 * SHSYNC_MAX_AGE_MS + SHSYNC_MAX_FUTURE_MS (12 s), a process accepts up to
 * SHSYNC_REPLAY_MAX packets in any 12 s (about 2,700 a second, sustained).
 * Beyond that, new packets are refused with SHSYNC_E_FULL until room frees
 * up: the sessions are then merely not shared. Only authentic, fresh,
 * unseen packets take room, so whoever lacks the secret cannot fill it.
 *
 * The window never moves back: a process keeps the largest now_ms it was
 * given, and packets older than that minus SHSYNC_MAX_AGE_MS are stale even
 * if the clock was set back since. (After a step back of more than
 * SHSYNC_MAX_AGE_MS, fresh packets are refused as stale until the clock
 * catches up; no replay gets through.)
 *
 * Nonces are random, so, as NIST SP 800-38D advises for random 96-bit GCM
 * nonces, change the secret before 2^32 packets have been sent under it by
 * all machines together (e.g. 136 years at 1 packet a second, 50 days at
 * 1,000 a second).
 *
 * A library module: it returns error codes and never logs nor exits. A
 * struct shsync is not thread safe; use one per process (or per thread).
 */

#define SHSYNC_MAGIC		"STS1"	/* magic and version */
#define SHSYNC_MAGIC_LEN	4
#define SHSYNC_NONCE_LEN	12
#define SHSYNC_TAG_LEN		16
#define SHSYNC_ID_MAX		32	/* SSL_MAX_SSL_SESSION_ID_LENGTH */
#define SHSYNC_SECRET_MIN	16	/* bytes of shared secret, at least */
#define SHSYNC_MAX_PACKET	1400	/* IPv6+UDP+1400 < a 1500-byte MTU */
#define SHSYNC_OVERHEAD		51	/* magic, nonce, tag; 8+8+1+2 inner */
#define SHSYNC_MIN_PACKET	(SHSYNC_OVERHEAD + 2)	/* 1-byte ID, sess */
/* Largest session a packet may carry (with a 1-byte ID): a decode buffer of
 * this size never gets SHSYNC_E_TOOBIG. */
#define SHSYNC_SESS_MAX		(SHSYNC_MAX_PACKET - SHSYNC_OVERHEAD - 1)
#define SHSYNC_MAX_AGE_MS	10000	/* older packets are stale */
#define SHSYNC_MAX_FUTURE_MS	2000	/* packets further ahead are stale */
#define SHSYNC_REPLAY_MAX	32768	/* packets remembered, power of 2 */

enum shsync_error {
	SHSYNC_E_INVAL = -1,	/* bad argument: NULL, idlen not 1..32, ... */
	SHSYNC_E_TOOBIG = -2,	/* packet or session won't fit a buffer */
	SHSYNC_E_MALFORMED = -3, /* bad magic/version, inconsistent lengths */
	SHSYNC_E_TRUNCATED = -4, /* too short, or lengths past the end */
	SHSYNC_E_FORGED = -5,	/* authentication failed */
	SHSYNC_E_STALE = -6,	/* created too long ago or too far ahead */
	SHSYNC_E_REPLAY = -7,	/* already accepted */
	SHSYNC_E_FULL = -8,	/* replay memory full: refused, see above */
	SHSYNC_E_CRYPTO = -9,	/* OpenSSL failed (should not happen) */
};

struct shsync;			/* opaque, one per process */

/* Counters since shsync_new(). Every shsync_decode() call that gets past
 * its argument checks counts once in exactly one of accepted .. crypto. */
struct shsync_stats {
	uint64_t	 encoded;	/* packets made by shsync_encode() */
	uint64_t	 accepted;	/* packets decoded successfully */
	uint64_t	 malformed;	/* SHSYNC_E_MALFORMED */
	uint64_t	 truncated;	/* SHSYNC_E_TRUNCATED */
	uint64_t	 forged;	/* SHSYNC_E_FORGED */
	uint64_t	 stale;		/* SHSYNC_E_STALE */
	uint64_t	 replayed;	/* SHSYNC_E_REPLAY */
	uint64_t	 full;		/* SHSYNC_E_FULL */
	uint64_t	 toobig;	/* SHSYNC_E_TOOBIG (sesslen_max) */
	uint64_t	 crypto;	/* SHSYNC_E_CRYPTO */
};

/* Make a codec keyed from secret_len (>= SHSYNC_SECRET_MIN) bytes of
 * secret, with an empty replay memory (about 1 MiB). Returns NULL with
 * errno set: EINVAL (secret NULL or too short), ENOMEM, or EIO (OpenSSL has
 * no HKDF or AES-256-GCM, or failed). */
struct shsync	*shsync_new(const unsigned char *secret, size_t secret_len);

/* Wipe the key and free everything. NULL is allowed. */
void		 shsync_free(struct shsync *s);

/* Read the secret of --shared-cache-key=FILE into out (outlen bytes of
 * room) and its length into *len: the first line of the file that is not
 * empty once its trailing whitespace is stripped, taken as bytes (not
 * decoded: the output of "openssl rand -base64 32" or a long passphrase
 * both do). Returns 0, or -1 with a one-line "FILE: problem" message in
 * errbuf (unreadable, empty, secret shorter than SHSYNC_SECRET_MIN or longer
 * than outlen); out is wiped then. */
int		 shsync_load_key_file(const char *path, unsigned char *out,
		    size_t outlen, size_t *len, char *errbuf, size_t errlen);

/* Seal session sess (sesslen bytes) under session ID id (idlen bytes),
 * created at now_ms (ms since the epoch), into out (outlen bytes of room).
 * Returns the packet's length, SHSYNC_E_INVAL (NULL pointer, idlen not
 * 1..SHSYNC_ID_MAX, sesslen 0), SHSYNC_E_TOOBIG (the packet would be longer
 * than outlen or SHSYNC_MAX_PACKET: don't send that session) or
 * SHSYNC_E_CRYPTO. */
ssize_t		 shsync_encode(struct shsync *s, const unsigned char *id,
		    size_t idlen, const unsigned char *sess, size_t sesslen,
		    uint64_t now_ms, unsigned char *out, size_t outlen);

/* Open the len-byte packet pkt received at now_ms (ms since the epoch). On
 * success, copy its session ID into id (room for SHSYNC_ID_MAX bytes) and
 * its length into *idlen, the session into sess (sesslen_max bytes of room;
 * SHSYNC_SESS_MAX always suffice) and its length into *sesslen, remember
 * the packet as accepted, and return 0. Otherwise return SHSYNC_E_MALFORMED,
 * _TRUNCATED, _FORGED, _STALE, _REPLAY, _FULL, _TOOBIG (sesslen_max too
 * small) or _CRYPTO, counted in the stats, with the outputs untouched; or
 * SHSYNC_E_INVAL, not counted, if a pointer is NULL. */
int		 shsync_decode(struct shsync *s, const unsigned char *pkt,
		    size_t len, uint64_t now_ms, unsigned char *id,
		    size_t *idlen, unsigned char *sess, size_t sesslen_max,
		    size_t *sesslen);

/* Copy the counters into *st. */
void		 shsync_stats(const struct shsync *s, struct shsync_stats *st);

/* For tests only: seal plainlen bytes of arbitrary plaintext (in place of
 * time, packet ID, lengths, ID and session) into a packet in out, with the
 * real key, so that tests can make authentic packets whose inner fields are
 * inconsistent. Returns the packet's length, SHSYNC_E_INVAL,
 * SHSYNC_E_TOOBIG or SHSYNC_E_CRYPTO. Not counted in the stats. */
ssize_t		 shsync_seal_for_test(struct shsync *s,
		    const unsigned char *plain, size_t plainlen,
		    unsigned char *out, size_t outlen);

#endif /* STUD_SHSYNC_H */
