/* x25519.h - X25519 key agreement (RFC 7748) for stud's OpenSSL provider
 * (provider.c): public keys from a precomputed fixed-base table, shared
 * secrets from the Montgomery ladder (four lanes wide with AVX-512 IFMA
 * where the CPU has it). Constant time in the secrets. */
#ifndef STUD_X25519_H
#define STUD_X25519_H

#include <stdint.h>

/* Build the fixed-base table (30 KiB, once, before forking) and check it
 * against the ladder. Returns 0, or -1 if the check failed: x25519_public()
 * then uses the ladder. */
int	x25519_init(void);

/* Choose the ladder of x25519_shared(): vector 1 asks for the four-lane
 * AVX-512 IFMA one (x25519_init() picks it where the CPU has it and it
 * agrees with the portable one), 0 for the portable one. Returns 1 if the
 * four-lane ladder is now in use, 0 if not. For tests. */
int	x25519_ladder(int vector);

/* The public key of a 32-byte private key. Returns 0. */
int	x25519_public(uint8_t pub[32], const uint8_t priv[32]);

/* The shared secret of priv and a peer's public key. Returns 0, or -1 when
 * it is all zeros (a small-order peer point, which must be refused). */
int	x25519_shared(uint8_t out[32], const uint8_t priv[32],
	    const uint8_t peer[32]);

#endif
