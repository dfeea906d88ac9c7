/* resume.h - stud's own TLS 1.2 abbreviated handshake: a client offering
 * the ID of a session this server made resumes it without an SSL object
 * (ClientHello read, server flight, client Finished checked here, records
 * by record.c). Whatever this path does not take goes to OpenSSL. */
#ifndef STUD_RESUME_H
#define STUD_RESUME_H

#include <stddef.h>
#include <stdint.h>

struct rec_state;

/* What a resumption needs of a session. */
struct resume_session {
	unsigned char	master[48];
	int64_t		expires;	/* time(NULL) after which it is stale */
	uint16_t	cipher;		/* IANA cipher suite number */
	uint8_t		aead;		/* enum rec_aead */
	uint8_t		sha384;		/* the suite's hash is SHA-384 */
	uint8_t		ems;		/* made with extended master secret */
};

/* The sessions' table: nslots entries, direct-mapped by session ID (a new
 * session replaces the one in its slot). shared: in memory shared with the
 * processes forked after (lock-free: a read racing a write misses), else
 * private to each. Call once, before fork. Returns 0, or -1 (errno). */
int	resume_table_init(unsigned nslots, int shared);

/* Remember session id (idlen 1..32 bytes). */
void	resume_table_store(const unsigned char *id, size_t idlen,
	    const struct resume_session *s);

/* Copy the session stored under id into *s. Returns 0, or -1 if there is
 * none or it expired before now (time(NULL)). */
int	resume_table_lookup(const unsigned char *id, size_t idlen,
	    int64_t now, struct resume_session *s);

/* Forget the session stored under id, if any. */
void	resume_table_forget(const unsigned char *id, size_t idlen);

/* What resume_parse_hello() found in a ClientHello (pointers into its
 * buffer). */
struct resume_hello {
	const unsigned char	*msg;		/* the handshake message */
	size_t			 msglen;
	size_t			 reclen;	/* its record, header included */
	const unsigned char	*random;	/* 32 bytes */
	const unsigned char	*sid;
	size_t			 sidlen;
	const unsigned char	*suites;
	size_t			 suiteslen;
	unsigned		 ems:1;		/* extended_master_secret */
	unsigned		 ri:1;		/* secure renegotiation signalled */
	unsigned		 pf:1;		/* ec_point_formats sent */
	unsigned		 tls13:1;	/* TLS 1.3 offered */
};

#define RESUME_MORE	0	/* the record is not complete yet */
#define RESUME_OK	1	/* a resumption candidate */
#define RESUME_NO	(-1)	/* not for this path: OpenSSL decides */

/* Read the first record of a connection, len bytes at buf so far: a TLS
 * 1.2 (or later) ClientHello in one record, offering a session ID, null
 * compression, and no extension this path leaves to OpenSSL (session
 * ticket, max_fragment_length, pre_shared_key, early_data, the fallback
 * SCSV, a malformed or repeated one). Returns RESUME_OK with *h filled,
 * RESUME_MORE, or RESUME_NO. */
int	resume_parse_hello(const unsigned char *buf, size_t len,
	    struct resume_hello *h);

/* Whether the hello offers cipher suite number cipher. */
int	resume_hello_offers(const struct resume_hello *h, unsigned cipher);

/* Room resume_server_flight() needs. */
#define RESUME_FLIGHT_MAX	160

/* Answer hello h with session s: derive rs's keys, write ServerHello,
 * ChangeCipherSpec and our sealed Finished to out (RESUME_FLIGHT_MAX
 * bytes); downgrade marks the random (RFC 8446, 4.1.3: the server could
 * have done TLS 1.3). The client's expected verify_data goes to fin.
 * Returns the flight's length, or -1. */
long	resume_server_flight(const struct resume_hello *h,
	    const struct resume_session *s, int downgrade,
	    struct rec_state *rs, unsigned char *out, unsigned char fin[12]);

/* Take the client's ChangeCipherSpec and Finished from the len bytes at
 * buf, checking its verify_data against fin. Returns the bytes they took
 * (> 0), 0 while they are not both complete, or -alert. */
long	resume_client_finished(struct rec_state *rs, const unsigned char
	    fin[12], const unsigned char *buf, size_t len);

#endif /* STUD_RESUME_H */
