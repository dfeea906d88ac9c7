/* hs13.h - stud's own TLS 1.3 full handshake (RFC 8446) for the common
 * case: an X25519 key share, one RSA or ECDSA certificate, no
 * pre-shared key. The ClientHello is read here, the server's whole flight
 * (ServerHello to Finished and the session tickets, RFC 8446 4.6.1) written
 * at once, the client's Finished checked here; records by record.c. What
 * this path does not take goes to OpenSSL, which also resumes the tickets. */
#ifndef STUD_HS13_H
#define STUD_HS13_H

#include <stddef.h>
#include <stdint.h>

struct rec_state;

/* What hs13_parse_hello() found (pointers into its buffer). */
struct hs13_hello {
	const unsigned char	*msg;		/* the handshake message */
	size_t			 msglen;
	size_t			 reclen;	/* its record, header included */
	const unsigned char	*sid;		/* legacy_session_id (0..32) */
	size_t			 sidlen;
	const unsigned char	*suites;
	size_t			 suiteslen;
	const unsigned char	*share;		/* the X25519 key, 32 bytes */
	const unsigned char	*sigalgs;	/* signature_algorithms */
	size_t			 sigalgslen;
	const unsigned char	*certalgs;	/* signature_algorithms_cert */
	size_t			 certalgslen;
	char			 sni[256];	/* host_name, "" if none */
	unsigned		 status:1;	/* status_request (OCSP) */
};

#define HS13_MORE	0	/* the record is not complete yet */
#define HS13_OK		1	/* a candidate for this path */
#define HS13_NO		(-1)	/* not for this path: OpenSSL decides */

/* Read the first record of a connection, len bytes at buf so far: a
 * ClientHello alone in one record offering TLS 1.3 whose first key share
 * OpenSSL could take is X25519's (others, GREASE, are passed over), with
 * X25519 among its groups, signature algorithms, null
 * compression only, and no extension this path leaves to OpenSSL
 * (pre_shared_key, early_data, cookie, max_fragment_length, a malformed or
 * repeated one). Returns HS13_OK with *h filled, HS13_MORE or HS13_NO. */
int	hs13_parse_hello(const unsigned char *buf, size_t len,
	    struct hs13_hello *h);

/* A certificate context as this path serves it (tls.c makes them). */
struct hs13_server {
	uint16_t	 suites[5];	/* TLS 1.3 suites allowed, in order
					 * (with those this path leaves to
					 * OpenSSL: it chooses as OpenSSL) */
	size_t		 nsuites;
	uint16_t	 schemes[2];	/* CertificateVerify schemes of the key */
	size_t		 nschemes;
	uint16_t	 certalg;	/* the certificate's own signature
					 * scheme (0: unknown) */
	unsigned	 server_pref:1;	/* choose in our order, not the client's */
	unsigned	 staple:1;	/* an OCSP response may be stapled */
	unsigned	 tickets;	/* session tickets to send */
	uint32_t	 lifetime;	/* their lifetime, seconds */
	const unsigned char *certmsg;	/* the whole Certificate message */
	size_t		 certmsglen;
	/* Sign hash (the scheme's digest of the content) with the key: the
	 * signature's length, or -1. */
	long		(*sign)(const struct hs13_server *s, unsigned scheme,
			    const unsigned char *hash, size_t hashlen,
			    unsigned char *sig, size_t room);
	/* Seal a ticket for a session of suite whose resumption key is psk:
	 * its length, or -1. */
	long		(*ticket)(const struct hs13_server *s, unsigned suite,
			    const unsigned char *psk, size_t psklen,
			    unsigned char *out, size_t room);
	void		*arg;		/* theirs */
};

/* Room hs13_server_flight() needs besides the Certificate message. */
#define HS13_FLIGHT_BASE	2048
#define HS13_TICKET_MAX		1024	/* a ticket and its message, sealed */

/* Answer hello h as server s: choose the suite and signature scheme, make
 * the key share and the keys, and write ServerHello, a ChangeCipherSpec
 * (when the client sent a session ID), then sealed EncryptedExtensions,
 * Certificate, CertificateVerify, Finished and s->tickets tickets to out
 * (room bytes). rs then writes with the application keys and reads with
 * the client's handshake keys; the client's expected verify_data goes to
 * fin (48 bytes of room). Returns the flight's length, or -1 when this
 * path cannot serve h (nothing decided: OpenSSL can take it). */
long	hs13_server_flight(const struct hs13_server *s,
	    const struct hs13_hello *h, struct rec_state *rs,
	    unsigned char *out, size_t room, unsigned char fin[48]);

/* Take the client's ChangeCipherSpec records, if any, and its Finished
 * from the len bytes at buf, checking its verify_data against fin; then
 * rs reads with the client's application keys. Returns the bytes taken
 * (> 0), 0 while the Finished is not complete, or -alert. */
long	hs13_client_finished(struct rec_state *rs, const unsigned char
	    fin[48], const unsigned char *buf, size_t len);

#endif /* STUD_HS13_H */
