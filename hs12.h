/* hs12.h - stud's own TLS 1.2 full handshake (RFC 5246 with RFC 8422's
 * ECDHE, RFC 7627's extended master secret, RFC 5077's tickets) for the
 * common case: X25519, one RSA certificate, an AEAD suite, no session
 * offered. The ClientHello is read here, the server's first flight
 * (ServerHello to ServerHelloDone) written at once, the client's
 * ClientKeyExchange, ChangeCipherSpec and Finished checked here and
 * answered (NewSessionTicket, ChangeCipherSpec, Finished); records by
 * record.c. What this path does not take goes to OpenSSL, which also
 * resumes the sessions it makes. */
#ifndef STUD_HS12_H
#define STUD_HS12_H

#include <stddef.h>
#include <stdint.h>

struct rec_state;
struct kdf_run;
struct hs12_state;

/* What hs12_parse_hello() found (pointers into its buffer). */
struct hs12_hello {
	const unsigned char	*msg;		/* the handshake message */
	size_t			 msglen;
	size_t			 reclen;	/* its record, header included */
	const unsigned char	*random;	/* 32 bytes */
	const unsigned char	*suites;
	size_t			 suiteslen;
	const unsigned char	*sigalgs;	/* signature_algorithms */
	size_t			 sigalgslen;
	char			 sni[256];	/* host_name, "" if none */
	unsigned		 ticket:1;	/* empty session_ticket: wants
						 * one */
	unsigned		 ri:1;		/* secure renegotiation asked */
	unsigned		 pf:1;		/* ec_point_formats sent */
	unsigned		 status:1;	/* status_request (OCSP) */
};

#define HS12_MORE	0	/* the record is not complete yet */
#define HS12_OK		1	/* a candidate for this path */
#define HS12_NO		(-1)	/* not for this path: OpenSSL decides */

/* Read the first record of a connection, len bytes at buf so far: a
 * ClientHello alone in one record offering TLS 1.2 and not 1.3, no session
 * (no session ID, no ticket), null compression, the extended master
 * secret, signature algorithms, supported groups of which the first
 * OpenSSL knows is X25519, the uncompressed point format if it lists
 * formats, and nothing this path leaves to OpenSSL (max_fragment_length,
 * the fallback SCSV, renegotiation data, a malformed or repeated
 * extension). Returns HS12_OK with *h filled, HS12_MORE or HS12_NO. */
int	hs12_parse_hello(const unsigned char *buf, size_t len,
	    struct hs12_hello *h);

/* What OpenSSL would do with a TLS 1.2 suite of a context, had the client
 * preferred it: */
#define HS12_TAKE	0	/* take it, and so can this path */
#define HS12_SKIP	1	/* pass over it (not for this certificate) */
#define HS12_OTHER	2	/* maybe take it: a hello meeting it first goes
				 * to OpenSSL */

/* A certificate context as this path serves it (tls.c makes them). */
struct hs12_server {
	const uint16_t	*suites;	/* the context's TLS 1.2 suites, in
					 * order, with what OpenSSL does with
					 * each (HS12_*) */
	const uint8_t	*kinds;
	size_t		 nsuites;
	unsigned	 server_pref:1;	/* choose in our order, not the client's */
	unsigned	 x25519_first:1; /* our groups start with X25519 */
	unsigned	 staple:1;	/* an OCSP response may be stapled */
	unsigned	 tickets:1;	/* stateless tickets allowed */
	unsigned	 downgrade:1;	/* could do TLS 1.3: mark the random */
	uint32_t	 lifetime;	/* a ticket's lifetime hint, seconds */
	const unsigned char *certmsg;	/* the whole Certificate message */
	size_t		 certmsglen;
	/* Sign hash (the scheme's digest of the content) with the key: the
	 * signature's length, or -1. */
	long		(*sign)(const struct hs12_server *s, unsigned scheme,
			    const unsigned char *hash, size_t hashlen,
			    unsigned char *sig, size_t room);
	/* Seal a ticket for the session of handshake st (its suite, master
	 * secret, server name; made with the extended master secret): its
	 * length, or -1. */
	long		(*ticket)(const struct hs12_server *s,
			    const struct hs12_state *st, unsigned char *out,
			    size_t room);
	void		*arg;		/* theirs */
};

/* A handshake between the two flights (the caller keeps it). */
struct hs12_state {
	const struct hs12_server *s;
	struct kdf_run	*run;		/* the transcript so far */
	unsigned char	 priv[32];	/* our X25519 key */
	unsigned char	 randoms[64];	/* the client's, then ours */
	unsigned char	 master[48];	/* once the client's flight is in */
	unsigned char	 sid[32];	/* the session's ID (no ticket) */
	char		 sni[256];	/* the client's host_name, or "" */
	uint32_t	 lifetime;	/* s->lifetime at the first flight */
	void		*owner;		/* the caller's, set after the first
					 * flight */
	uint8_t		 sidlen;
	uint16_t	 suite;		/* IANA number */
	uint8_t		 aead;		/* enum rec_aead */
	uint8_t		 sha384;	/* the suite's hash */
	unsigned	 ticket:1;	/* a ticket is sent, not an ID */
};

/* Room hs12_server_flight() needs besides the Certificate message. */
#define HS12_FLIGHT_BASE	1024
/* Room hs12_client_flight() needs for our answer. */
#define HS12_ANSWER_MAX		1280

/* Answer hello h as server s: choose the suite and signature scheme as
 * OpenSSL would, make our key share, and write ServerHello, Certificate,
 * ServerKeyExchange and ServerHelloDone to out (room bytes), keeping in
 * *st what the second flight needs. Returns the flight's length, or -1
 * when this path cannot serve h (nothing decided: OpenSSL can take it;
 * *st holds nothing). */
long	hs12_server_flight(const struct hs12_server *s,
	    const struct hs12_hello *h, struct hs12_state *st,
	    unsigned char *out, size_t room);

/* Take the client's ClientKeyExchange, ChangeCipherSpec and Finished
 * (three records) from the len bytes at buf: derive the master secret and
 * rs's keys, check the Finished, and write our NewSessionTicket (if
 * st->ticket), ChangeCipherSpec and Finished to out (HS12_ANSWER_MAX
 * bytes), their length to *outlen; rs then seals and opens application
 * data. Returns the bytes taken (> 0), 0 while they are not all in, or
 * -alert. */
long	hs12_client_flight(struct hs12_state *st, struct rec_state *rs,
	    const unsigned char *buf, size_t len, unsigned char *out,
	    size_t *outlen);

/* Wipe *st and free what it holds (any time after hs12_server_flight()). */
void	hs12_state_wipe(struct hs12_state *st);

#endif /* STUD_HS12_H */
