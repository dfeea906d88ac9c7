/* configuration.h - stud's settings: defaults, command line, config file,
 * and the printed forms (-h, --default-config, the effective config). */
#ifndef STUD_CONFIGURATION_H
#define STUD_CONFIGURATION_H

#include <stddef.h>
#include <stdio.h>

#define STUD_VERSION "1.0.0"

/* An address as the user wrote it: host ("*" = any) and numeric port; for
 * a UNIX-domain socket (backend only), the path in host and port "". */
struct config_addr {
	char	host[256];
	char	port[8];
};

/* A repeatable option's values, in the order given. */
struct config_list {
	char  **v;
	size_t	n;
};

struct stud_config {
	/* ENCRYPTION */
	int	tls;			/* TLS 1.2 and 1.3 (default) */
	int	ssl;			/* widest range the library allows */
	char   *ciphers;		/* TLS <= 1.2 cipher list, "" = ours */
	char   *engine;			/* OpenSSL engine or provider name */
	int	prefer_server_ciphers;
	char   *tls_protos;		/* "" = per --tls / --ssl */
	char   *ciphersuites;		/* TLS 1.3 */
	char   *ecdh_curve;		/* groups list */
	char   *alpn_protos;		/* "h2,http/1.1" */
	int	sni_nomatch_abort;
	char   *client_verify;		/* none, optional, required */
	char   *client_verify_ca;
	char   *ticket_key_file;	/* session ticket keys, "" = random */
	long	tls13_tickets;		/* tickets sent per TLS 1.3 handshake */
	/* SOCKET */
	struct config_list frontends;	/* HOST,PORT[+CERT] */
	struct config_addr backend;
	/* PERFORMANCE */
	long	workers;
	long	backlog;
	long	keepalive;
	long	session_cache;		/* shared cache slots, 0 = none */
	struct config_addr sync_listen;	/* UDP, host "" = none */
	struct config_list sync_peers;
	char   *sync_iface;		/* IFACE[,TTL] for multicast */
	char   *sync_key_file;
	long	ssl_handshake_timeout;
	long	backend_connect_timeout;
	long	idle_timeout;
	long	shutdown_timeout;
	long	max_connections;
	char   *record_layer;		/* "stud" or "openssl" */
	long	upload_coalesce;	/* usec; 0 = off */
	char   *x25519;			/* "stud" or "openssl" */
	char   *resumption;		/* "stud" or "openssl" */
	char   *tls13_handshake;	/* "stud" or "openssl" */
	char   *tls12_handshake;	/* "stud" or "openssl" */
	/* SECURITY */
	char   *chroot;
	char   *user;
	char   *group;
	/* LOGGING */
	int	quiet;
	int	syslog;
	char   *syslog_facility;
	char   *log_file;		/* "" = stderr */
	long	log_level;		/* 0..2; --quiet means 0 */
	/* OTHER */
	int	daemonize;
	char   *pidfile;
	int	write_ip;
	int	write_proxy;
	int	write_proxy_v2;
	int	proxy_proxy;
	/* certificates: the last one is the default */
	struct config_list pem;
	/* command-line only */
	int	test_only;
	/* which options were given explicitly (indexed like the option table;
	 * for lists, the source that last set them) */
	unsigned char *given;
	unsigned char	source;		/* counts sources: command line, file */
	/* the --config file last read, kept for reloads */
	char   *config_file;
};

/* What config_parse_cli() asks the caller to do next. */
enum config_action {
	CONFIG_RUN,		/* start the daemon (or test, see test_only) */
	CONFIG_HELP,		/* print config_usage() and exit 0 */
	CONFIG_VERSION,		/* print the version and exit 0 */
	CONFIG_DEFAULT,		/* print config_print(defaults) and exit 0 */
	CONFIG_ERROR		/* errbuf holds one line naming the problem */
};

/* Fill cfg with the defaults. Returns 0, or -1 if memory ran out. */
int	config_init(struct stud_config *cfg);

/* Release everything config_init()/parsing allocated. */
void	config_free(struct stud_config *cfg);

/* Apply argv in order (a --config=FILE is read where it stands, so later
 * options override it and earlier ones are overridden by it), then check the
 * result. On CONFIG_ERROR, errbuf holds one line without "stud: ". */
enum config_action config_parse_cli(struct stud_config *cfg, int argc,
	    char **argv, char *errbuf, size_t errlen);

/* Read one configuration file into cfg. Returns 0, or -1 with errbuf set to
 * "FILE:LINE: problem". */
int	config_parse_file(struct stud_config *cfg, const char *path,
	    char *errbuf, size_t errlen);

/* Check combinations after all input is applied (conflicts, required
 * values). Returns 0, or -1 with errbuf set. */
int	config_check(struct stud_config *cfg, char *errbuf, size_t errlen);

/* Parse "HOST,PORT" or "[HOST]:PORT" into a; "*" means any address.
 * Returns 0, or -1 if malformed. */
int	config_parse_addr(const char *s, struct config_addr *a);

/* Parse a frontend: "HOST,PORT" or "[HOST]:PORT", optionally followed by
 * "+/path/cert.pem" (copied to cert, else cert is ""). Returns 0 or -1. */
int	config_parse_frontend(const char *s, struct config_addr *a, char *cert,
	    size_t certlen);

/* Parse a --tls-protos list (TLSv1 TLSv1.1 TLSv1.2 TLSv1.3, separated by
 * spaces or commas) into bits 0..3. Returns 0, or -1 if malformed. */
int	config_tls_protos(const char *s, unsigned *mask);

/* Print the help text for argv0 to out. */
void	config_usage(FILE *out, const char *argv0);

/* Print cfg as a complete configuration file; with comments, every key is
 * introduced by its help text. */
void	config_print(FILE *out, const struct stud_config *cfg, int comments);

#endif /* STUD_CONFIGURATION_H */
