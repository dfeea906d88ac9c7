/* provider.h - stud's OpenSSL provider "stud": X25519 key generation and
 * key exchange (x25519.c) for the TLS contexts that ask for it. */
#ifndef STUD_PROVIDER_H
#define STUD_PROVIDER_H

#include <stddef.h>

/* The property query for SSL_CTX_new_ex(). With own: build and check the
 * X25519 table and load the provider into OpenSSL's default library
 * context beside its usual providers (once), then prefer its X25519 and
 * take the rest from the others. Without: NULL, or, once the provider is
 * loaded (a configuration before a reload used it), a preference for
 * OpenSSL's default provider. Sets *propq and returns 0, or -1 if the
 * table's check or the loading failed. */
int	provider_propq(int own, const char **propq);

/* Called with each TLS 1.3 application traffic secret (client: the
 * client's, else the server's; len 32 or 48) that the provider's TLS13-KDF
 * derives, right as libssl derives it. */
typedef void (*provider_secret_fn)(int client, const unsigned char *secret,
    size_t len);

/* Have watcher (NULL: none) called with those secrets. */
void	provider_watch_secrets(provider_secret_fn watcher);

#endif
