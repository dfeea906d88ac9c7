/* configuration.c - the option table and everything read from it: defaults,
 * getopt_long parsing, the key = value config file, -h and --default-config.
 * A library module: it reports problems through errbuf, never logs or exits. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "configuration.h"

enum opt_type {
	OPT_BOOL,	/* flag on the command line, on/off in the file */
	OPT_LONG,	/* integer within [min, max] */
	OPT_STR,	/* free string */
	OPT_ADDR,	/* HOST,PORT or [HOST]:PORT */
	OPT_LIST,	/* repeatable string */
	OPT_ADDRLIST,	/* repeatable address */
	OPT_FRONTLIST,	/* repeatable address[+certificate] */
	OPT_BACKEND,	/* address, or a UNIX socket path */
	OPT_CLI		/* command-line only action */
};

enum opt_cli {
	CLI_NONE, CLI_CONFIG, CLI_DEFAULT, CLI_TEST, CLI_VERSION, CLI_HELP
};

struct opt {
	const char	*name;		/* long option and config key */
	int		 letter;	/* short option, 0 if none */
	enum opt_type	 type;
	size_t		 off;		/* field in struct stud_config */
	const char	*def;		/* default, as it would be written */
	long		 min, max;	/* OPT_LONG bounds */
	const char	*arg;		/* argument name in -h, NULL for flags */
	const char	*section;	/* -h heading where a new one starts */
	const char	*help;
	enum opt_cli	 cli;
};

#define F(field) offsetof(struct stud_config, field)

static const struct opt opts[] = {
	{ "tls", 0, OPT_BOOL, F(tls), "on", 0, 0, NULL, "ENCRYPTION METHODS",
	  "TLS 1.2 and TLS 1.3 (default)", 0 },
	{ "ssl", 0, OPT_BOOL, F(ssl), "off", 0, 0, NULL, NULL,
	  "Every protocol version the OpenSSL build and its security level "
	  "allow, for legacy clients (conflicts with --tls)", 0 },
	{ "ciphers", 'c', OPT_STR, F(ciphers), "", 0, 0, "SUITE", NULL,
	  "Allowed ciphers for TLS <= 1.2, OpenSSL syntax; empty means "
	  "stud's forward-secret AEAD list", 0 },
	{ "ssl-engine", 'e', OPT_STR, F(engine), "", 0, 0, "NAME", NULL,
	  "Load this OpenSSL engine or provider", 0 },
	{ "tls-protos", 0, OPT_STR, F(tls_protos), "", 0, 0, "LIST", NULL,
	  "Protocol versions to accept, any of TLSv1 TLSv1.1 TLSv1.2 TLSv1.3 "
	  "(instead of --tls or --ssl)", 0 },
	{ "ciphersuites", 0, OPT_STR, F(ciphersuites), "", 0, 0, "LIST", NULL,
	  "TLS 1.3 cipher suites, OpenSSL syntax; empty means OpenSSL's", 0 },
	{ "ecdh-curve", 0, OPT_STR, F(ecdh_curve), "", 0, 0, "LIST", NULL,
	  "Key exchange groups in order of preference, e.g. X25519:P-256; "
	  "empty means OpenSSL's", 0 },
	{ "alpn-protos", 0, OPT_STR, F(alpn_protos), "", 0, 0, "LIST", NULL,
	  "Application protocols to offer, comma-separated, in the server's "
	  "order of preference, e.g. h2,http/1.1", 0 },
	{ "sni-nomatch-abort", 0, OPT_BOOL, F(sni_nomatch_abort), "off", 0, 0,
	  NULL, NULL, "Refuse a client asking for a name no certificate has "
	  "(unrecognized_name alert)", 0 },
	{ "client-verify", 0, OPT_STR, F(client_verify), "none", 0, 0,
	  "MODE", NULL, "Client certificates: none, optional or required", 0 },
	{ "client-verify-ca", 0, OPT_STR, F(client_verify_ca), "", 0, 0,
	  "FILE", NULL, "CA certificates that client certificates must "
	  "chain to (PEM)", 0 },
	{ "ticket-key-file", 0, OPT_STR, F(ticket_key_file), "", 0, 0, "FILE",
	  NULL, "Session ticket keys, one base64 line of 80 bytes each "
	  "(openssl rand -base64 80); the first encrypts, all decrypt. "
	  "Empty: a random key shared by all workers", 0 },
	{ "tls13-tickets", 0, OPT_LONG, F(tls13_tickets), "1", 0, 16, "NUM",
	  NULL, "Session tickets sent after each TLS 1.3 handshake (OpenSSL "
	  "sends 2; each costs CPU and a packet; 0 = no TLS 1.3 resumption)",
	  0 },
	{ "prefer-server-ciphers", 'O', OPT_BOOL, F(prefer_server_ciphers),
	  "off", 0, 0, NULL, NULL, "Prefer the server's cipher order", 0 },
	{ "backend", 'b', OPT_BACKEND, F(backend), "[127.0.0.1]:8000", 0, 0,
	  "HOST,PORT", "SOCKET", "Backend to connect to; a path starting "
	  "with / is a UNIX-domain socket", 0 },
	{ "frontend", 'f', OPT_FRONTLIST, F(frontends), "[*]:8443", 0, 0,
	  "HOST,PORT[+CERT]", NULL, "Frontend to listen on (* = every address, "
	  "IPv4 and IPv6); repeatable; +CERT gives it its own default "
	  "certificate", 0 },
	{ "workers", 'n', OPT_LONG, F(workers), "1", 1, 1024, "NUM",
	  "PERFORMANCE", "Number of worker processes", 0 },
	{ "backlog", 'B', OPT_LONG, F(backlog), "100", 1, INT_MAX, "NUM", NULL,
	  "Listen backlog size", 0 },
	{ "keepalive", 'k', OPT_LONG, F(keepalive), "3600", 0, 32767, "SECS",
	  NULL, "TCP keepalive idle time on client sockets (0 = off)", 0 },
	{ "session-cache", 'C', OPT_LONG, F(session_cache), "0", 0, 10000000,
	  "NUM", NULL, "Sessions kept in the cache shared by all workers "
	  "(builds with USE_SHARED_CACHE=1; 0 = each worker has its own "
	  "cache). Alias: --shared-cache", 0 },
	{ "shared-cache", 0, OPT_LONG, F(session_cache), NULL, 0, 10000000,
	  "NUM", NULL, "Alias of --session-cache", 0 },
	{ "shared-cache-listen", 'U', OPT_ADDR, F(sync_listen), "", 0, 0,
	  "HOST,PORT", NULL, "Receive sessions from peer studs on this UDP "
	  "address (needs --session-cache and --shared-cache-key)", 0 },
	{ "shared-cache-peer", 'P', OPT_ADDRLIST, F(sync_peers), "", 0, 0,
	  "HOST,PORT", NULL, "Send new sessions to this peer stud over UDP "
	  "(repeatable; a multicast group with -M)", 0 },
	{ "shared-cache-if", 'M', OPT_STR, F(sync_iface), "", 0, 0,
	  "IFACE[,TTL]", NULL, "Interface (and TTL, default 1) for multicast "
	  "updates: joins the -U group there and sends through it", 0 },
	{ "shared-cache-key", 0, OPT_STR, F(sync_key_file), "", 0, 0, "FILE",
	  NULL, "File holding the peers' shared secret (e.g. openssl rand "
	  "-base64 32): updates are encrypted and authenticated with a key "
	  "derived from it", 0 },
	{ "ssl-handshake-timeout", 0, OPT_LONG, F(ssl_handshake_timeout), "30",
	  0, 86400, "SECS", NULL, "Close a client that has not finished "
	  "the TLS handshake (or sent its PROXY header) after SECS "
	  "(0 = never)", 0 },
	{ "backend-connect-timeout", 0, OPT_LONG, F(backend_connect_timeout),
	  "30", 0, 86400, "SECS", NULL, "Close the client when the backend "
	  "has not accepted the connection after SECS (0 = never)", 0 },
	{ "idle-timeout", 0, OPT_LONG, F(idle_timeout), "0", 0, 864000,
	  "SECS", NULL, "Close a connection with no traffic either way for "
	  "SECS (0 = never)", 0 },
	{ "shutdown-timeout", 0, OPT_LONG, F(shutdown_timeout), "30", 0, 86400,
	  "SECS", NULL, "Longest a stopping or replaced worker waits for its "
	  "connections to finish before closing them", 0 },
	{ "max-connections", 0, OPT_LONG, F(max_connections), "0", 0,
	  10000000, "NUM", NULL, "Connections per worker; at NUM it stops "
	  "accepting until one closes (0 = no limit but the descriptor "
	  "limit)", 0 },
	{ "record-layer", 0, OPT_STR, F(record_layer), "stud", 0, 0,
	  "WHO", NULL, "Who encrypts the data after a TLS 1.2 or 1.3 "
	  "handshake with an AEAD suite: stud (its own record layer; the "
	  "connection then keeps no OpenSSL state: less memory per "
	  "connection, fewer copies) or openssl", 0 },
	{ "resumption", 0, OPT_STR, F(resumption), "stud", 0, 0, "WHO", NULL,
	  "Who answers a TLS 1.2 client resuming a session by its ID: stud "
	  "(its own abbreviated handshake, no OpenSSL state made; with "
	  "--record-layer=stud, and not with --alpn-protos, --client-verify, "
	  "--write-proxy-v2 or --sni-nomatch-abort) or openssl", 0 },
	{ "tls13-handshake", 0, OPT_STR, F(tls13_handshake), "stud", 0, 0,
	  "WHO", NULL, "Who answers a TLS 1.3 client's full handshake: stud "
	  "(its own, no OpenSSL state made, when the client's first key "
	  "share is X25519 and the certificate for its name is the only one "
	  "(RSA, ECDSA P-256 or P-384); with --record-layer=stud, and not "
	  "with --alpn-protos, --client-verify, --write-proxy-v2 or "
	  "--sni-nomatch-abort; OpenSSL resumes its tickets) or openssl", 0 },
	{ "tls12-handshake", 0, OPT_STR, F(tls12_handshake), "stud", 0, 0,
	  "WHO", NULL, "Who answers a TLS 1.2 client's full handshake: stud "
	  "(its own, no OpenSSL state made, when the client offers no session, "
	  "the extended master secret and X25519 as its first group, and the "
	  "certificate for its name is the only one, RSA; an AEAD suite; with "
	  "--record-layer=stud, and not with --alpn-protos, --client-verify, "
	  "--write-proxy-v2 or --sni-nomatch-abort; OpenSSL resumes its "
	  "sessions too) or openssl", 0 },
	{ "x25519", 0, OPT_STR, F(x25519), "stud", 0, 0, "WHO", NULL,
	  "Who computes X25519 key exchanges and the TLS 1.3 and 1.2 key "
	  "derivations: stud (its own OpenSSL provider: a key pair costs a "
	  "third of OpenSSL 3.0's, a derivation a quarter) or openssl (e.g. "
	  "for a FIPS provider)", 0 },
	{ "upload-coalesce", 0, OPT_LONG, F(upload_coalesce), "1000", 0,
	  1000000, "USEC", NULL, "While a client streams records to stud "
	  "(--record-layer=stud), wake for it only once 128 KiB are waiting "
	  "or after USEC without them: far fewer wake-ups per MiB, at most "
	  "USEC added to the tail of a burst (0 = wake for every byte)", 0 },
	{ "chroot", 'r', OPT_STR, F(chroot), "", 0, 0, "DIR", "SECURITY",
	  "Chroot workers to DIR after loading keys and binding", 0 },
	{ "user", 'u', OPT_STR, F(user), "", 0, 0, "USER", NULL,
	  "Workers run as USER (and its group) after binding", 0 },
	{ "group", 'g', OPT_STR, F(group), "", 0, 0, "GROUP", NULL,
	  "Workers run with group GROUP after binding", 0 },
	{ "quiet", 'q', OPT_BOOL, F(quiet), "off", 0, 0, NULL, "LOGGING",
	  "Be quiet; emit only error messages", 0 },
	{ "syslog", 's', OPT_BOOL, F(syslog), "off", 0, 0, NULL, NULL,
	  "Send log messages to syslog as well as stderr", 0 },
	{ "syslog-facility", 0, OPT_STR, F(syslog_facility), "daemon", 0, 0,
	  "FACILITY", NULL, "Syslog facility to use", 0 },
	{ "log-file", 0, OPT_STR, F(log_file), "", 0, 0, "FILE", NULL,
	  "Write messages to FILE instead of stderr; SIGUSR1 reopens it", 0 },
	{ "log-level", 0, OPT_LONG, F(log_level), "1", 0, 2, "LEVEL", NULL,
	  "0: errors and warnings; 1: also start, stop and reload news; "
	  "2: also one line per connection", 0 },
	{ "daemon", 0, OPT_BOOL, F(daemonize), "off", 0, 0, NULL, "OTHER",
	  "Fork into the background and become a daemon (implies --quiet)",
	  0 },
	{ "pidfile", 0, OPT_STR, F(pidfile), "", 0, 0, "FILE", NULL,
	  "Write the parent's pid to FILE (after --daemon detaches); removed "
	  "at exit", 0 },
	{ "write-ip", 0, OPT_BOOL, F(write_ip), "off", 0, 0, NULL, NULL,
	  "Send the client's address family octet and address to the backend "
	  "before the data", 0 },
	{ "write-proxy", 0, OPT_BOOL, F(write_proxy), "off", 0, 0, NULL, NULL,
	  "Send a PROXY protocol v1 line to the backend before the data", 0 },
	{ "write-proxy-v1", 0, OPT_BOOL, F(write_proxy), NULL, 0, 0, NULL, NULL,
	  "Alias of --write-proxy", 0 },
	{ "write-proxy-v2", 0, OPT_BOOL, F(write_proxy_v2), "off", 0, 0, NULL,
	  NULL, "Send a binary PROXY protocol v2 header to the backend before "
	  "the data, with the ALPN, SNI and TLS details", 0 },
	{ "proxy-proxy", 0, OPT_BOOL, F(proxy_proxy), "off", 0, 0, NULL, NULL,
	  "Read a PROXY line sent in clear by a balancer before the handshake "
	  "and pass it on to the backend", 0 },
	{ "pem-file", 0, OPT_LIST, F(pem), "", 0, 0, "FILE", NULL,
	  "Certificate chain and private key (repeatable; the last is the "
	  "default)", 0 },
	{ "config", 0, OPT_CLI, 0, NULL, 0, 0, "FILE", NULL,
	  "Read options from FILE (later options override it)", CLI_CONFIG },
	{ "default-config", 0, OPT_CLI, 0, NULL, 0, 0, NULL, NULL,
	  "Print the default configuration file and exit", CLI_DEFAULT },
	{ "test", 't', OPT_CLI, 0, NULL, 0, 0, NULL, NULL,
	  "Test the configuration and certificates, print the effective "
	  "configuration, and exit", CLI_TEST },
	{ "version", 'V', OPT_CLI, 0, NULL, 0, 0, NULL, NULL,
	  "Print the program version and exit", CLI_VERSION },
	{ "help", 'h', OPT_CLI, 0, NULL, 0, 0, NULL, NULL,
	  "This help message", CLI_HELP },
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static void
seterr(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

static const struct opt *
opt_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < NOPTS; i++)
		if (strcmp(opts[i].name, name) == 0)
			return &opts[i];
	return NULL;
}

static inline void *
field(struct stud_config *cfg, const struct opt *o)
{
	return (char *)cfg + o->off;
}

static inline const void *
cfield(const struct stud_config *cfg, const struct opt *o)
{
	return (const char *)cfg + o->off;
}

/* Parse on/off/yes/no/true/false/1/0; -1 if it is none of them. */
static int
parse_bool(const char *v)
{
	static const char *on[] = { "on", "yes", "true", "1" };
	static const char *off[] = { "off", "no", "false", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(v, on[i]) == 0)
			return 1;
		if (strcasecmp(v, off[i]) == 0)
			return 0;
	}
	return -1;
}

static int
parse_long(const char *v, long min, long max, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0 || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

int
config_parse_addr(const char *s, struct config_addr *a)
{
	const char *host, *port, *end;
	size_t hlen;
	long n;

	if (s[0] == '[') {
		host = s + 1;
		if ((end = strchr(host, ']')) == NULL || end[1] != ':')
			return -1;
		port = end + 2;
	} else {
		if ((end = strrchr(s, ',')) == NULL)
			return -1;
		host = s;
		port = end + 1;
	}
	hlen = (size_t)(end - host);
	if (hlen == 0 || hlen >= sizeof(a->host) ||
	    parse_long(port, 0, 65535, &n) == -1)
		return -1;
	memcpy(a->host, host, hlen);
	a->host[hlen] = '\0';
	snprintf(a->port, sizeof(a->port), "%ld", n);
	return 0;
}

int
config_parse_frontend(const char *s, struct config_addr *a, char *cert,
    size_t certlen)
{
	char addr[300];
	const char *port = strrchr(s, ',');
	const char *plus;

	if (s[0] == '[' && (port = strstr(s, "]:")) != NULL)
		port++;
	if (port == NULL || (plus = strchr(port, '+')) == NULL) {
		*cert = '\0';
		return config_parse_addr(s, a);
	}
	if ((size_t)(plus - s) >= sizeof(addr) || plus[1] == '\0' ||
	    strlen(plus + 1) >= certlen)
		return -1;
	memcpy(addr, s, (size_t)(plus - s));
	addr[plus - s] = '\0';
	snprintf(cert, certlen, "%s", plus + 1);
	return config_parse_addr(addr, a);
}

static int
list_add(struct config_list *l, const char *s)
{
	char **v, *p;

	if ((p = strdup(s)) == NULL)
		return -1;
	if ((v = realloc(l->v, (l->n + 1) * sizeof(*v))) == NULL) {
		free(p);
		return -1;
	}
	v[l->n++] = p;
	l->v = v;
	return 0;
}

static void
list_free(struct config_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Set option o from the text value v; errors name the option as the user
 * wrote it (where). */
static int
opt_set(struct stud_config *cfg, const struct opt *o, const char *v,
    const char *where, char *errbuf, size_t errlen)
{
	struct config_addr a;
	char cert[4096];
	int b;
	long n;
	char *s;

	switch (o->type) {
	case OPT_BOOL:
		if ((b = parse_bool(v)) == -1)
			goto bad;
		*(int *)field(cfg, o) = b;
		cfg->given[o - opts] = (unsigned char)b;
		return 0;
	case OPT_LONG:
		if (parse_long(v, o->min, o->max, &n) == -1) {
			seterr(errbuf, errlen, "invalid value '%s' for %s: "
			    "expected a whole number from %ld to %ld", v,
			    where, o->min, o->max);
			return -1;
		}
		*(long *)field(cfg, o) = n;
		break;
	case OPT_STR:
		if ((s = strdup(v)) == NULL)
			goto nomem;
		free(*(char **)field(cfg, o));
		*(char **)field(cfg, o) = s;
		break;
	case OPT_ADDR:
		if (*v == '\0') {		/* unset */
			memset(field(cfg, o), 0, sizeof(struct config_addr));
			break;
		}
		if (config_parse_addr(v, field(cfg, o)) == -1) {
			seterr(errbuf, errlen, "invalid address '%s' for %s: "
			    "expected HOST,PORT or [HOST]:PORT with a port "
			    "from 0 to 65535", v, where);
			return -1;
		}
		break;
	case OPT_BACKEND:
		if (*v == '/') {
			a = (struct config_addr){ .port = "" };
			if (strlen(v) >= sizeof(((struct sockaddr_un *)0)->
			    sun_path)) {
				seterr(errbuf, errlen, "UNIX socket path too "
				    "long for %s: %s", where, v);
				return -1;
			}
			snprintf(a.host, sizeof(a.host), "%s", v);
			*(struct config_addr *)field(cfg, o) = a;
			break;
		}
		if (config_parse_addr(v, field(cfg, o)) == -1)
			goto badaddr;
		break;
	case OPT_FRONTLIST:
		if (config_parse_frontend(v, &a, cert, sizeof(cert)) == -1) {
			seterr(errbuf, errlen, "invalid frontend '%s' for %s: "
			    "expected HOST,PORT or [HOST]:PORT, optionally "
			    "followed by +/path/to/cert.pem", v, where);
			return -1;
		}
		goto list;
	case OPT_ADDRLIST:
		if (*v != '\0' && config_parse_addr(v, &a) == -1)
			goto badaddr;
		/* FALLTHROUGH */
	case OPT_LIST:
	list:
		if (*v == '\0')
			break;
		/* a source's first value replaces the list (the defaults, or
		 * what an earlier source gave); its next values add to it */
		if (cfg->given[o - opts] != cfg->source) {
			list_free(field(cfg, o));
			cfg->given[o - opts] = cfg->source;
			if (list_add(field(cfg, o), v) == -1)
				goto nomem;
			return 0;
		}
		if (list_add(field(cfg, o), v) == -1)
			goto nomem;
		return 0;	/* given[] keeps the source */
	case OPT_CLI:
		seterr(errbuf, errlen, "%s is a command-line option only",
		    where);
		return -1;
	}
	cfg->given[o - opts] = 1;
	return 0;
bad:
	seterr(errbuf, errlen, "invalid value '%s' for %s: expected "
	    "on/off, yes/no, true/false or 1/0", v, where);
	return -1;
badaddr:
	seterr(errbuf, errlen, "invalid address '%s' for %s: expected "
	    "HOST,PORT or [HOST]:PORT with a port from 0 to 65535", v, where);
	return -1;
nomem:
	seterr(errbuf, errlen, "out of memory");
	return -1;
}

int
config_init(struct stud_config *cfg)
{
	char err[128];
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	if ((cfg->given = calloc(NOPTS, 1)) == NULL)
		return -1;
	for (i = 0; i < NOPTS; i++) {
		if (opts[i].def == NULL)
			continue;
		if (opt_set(cfg, &opts[i], opts[i].def, opts[i].name, err,
		    sizeof(err)) == -1) {
			config_free(cfg);
			return -1;
		}
	}
	memset(cfg->given, 0, NOPTS);
	cfg->source = 1;
	return 0;
}

void
config_free(struct stud_config *cfg)
{
	size_t i;

	for (i = 0; i < NOPTS && cfg->given != NULL; i++) {
		if (opts[i].type == OPT_STR)
			free(*(char **)field(cfg, &opts[i]));
		else if (opts[i].type == OPT_LIST ||
		    opts[i].type == OPT_ADDRLIST ||
		    opts[i].type == OPT_FRONTLIST)
			list_free(field(cfg, &opts[i]));
	}
	free(cfg->given);
	free(cfg->config_file);
	memset(cfg, 0, sizeof(*cfg));
}

/* Split one config line into key and value. Returns 1 for a setting, 0 for
 * a blank or comment line, -1 with errbuf set for a malformed one. */
static int
split_line(char *line, char **key, char **val, char *errbuf, size_t errlen)
{
	char *p = line, *q;

	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	*key = p;
	while (*p != '\0' && *p != '=' && !isspace((unsigned char)*p))
		p++;
	q = p;
	while (isspace((unsigned char)*p))
		p++;
	if (*p != '=') {
		*q = '\0';
		seterr(errbuf, errlen, "expected '=' after '%s'", *key);
		return -1;
	}
	*q = '\0';
	p++;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '"') {
		*val = ++p;
		if ((q = strchr(p, '"')) == NULL) {
			seterr(errbuf, errlen, "unterminated quoted value "
			    "for '%s'", *key);
			return -1;
		}
		*q++ = '\0';
		while (isspace((unsigned char)*q))
			q++;
		if (*q != '\0' && *q != '#') {
			seterr(errbuf, errlen, "unexpected text after the "
			    "quoted value of '%s'", *key);
			return -1;
		}
		return 1;
	}
	*val = p;
	if ((q = strchr(p, '#')) == NULL)
		q = p + strlen(p);
	while (q > p && isspace((unsigned char)q[-1]))
		q--;
	*q = '\0';
	return 1;
}

int
config_parse_file(struct stud_config *cfg, const char *path, char *errbuf,
    size_t errlen)
{
	char line[4096], msg[512], *key, *val;
	const struct opt *o;
	unsigned lineno = 0;
	FILE *f;
	int r = 0;

	cfg->source++;			/* the file's lists replace earlier ones */
	if ((f = fopen(path, "r")) == NULL) {
		seterr(errbuf, errlen, "cannot read config file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	while (r == 0 && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(msg, sizeof(msg), "line too long");
			r = -1;
			break;
		}
		line[strcspn(line, "\r\n")] = '\0';
		switch (split_line(line, &key, &val, msg, sizeof(msg))) {
		case 0:
			continue;
		case -1:
			r = -1;
			continue;
		}
		if ((o = opt_by_name(key)) == NULL) {
			snprintf(msg, sizeof(msg), "unknown key '%.200s'", key);
			r = -1;
		} else
			r = opt_set(cfg, o, val, key, msg, sizeof(msg));
	}
	if (r == 0 && ferror(f)) {
		snprintf(msg, sizeof(msg), "read error");
		r = -1;
	}
	fclose(f);
	cfg->source++;			/* and later options replace the file's */
	if (r == -1)
		seterr(errbuf, errlen, "%s:%u: %s", path, lineno, msg);
	return r;
}

int
config_tls_protos(const char *s, unsigned *mask)
{
	static const char *names[] = { "TLSv1", "TLSv1.1", "TLSv1.2",
	    "TLSv1.3" };
	char word[16];
	size_t n, i;

	*mask = 0;
	while (*s != '\0') {
		n = strcspn(s, " ,");
		if (n > 0) {
			if (n >= sizeof(word))
				return -1;
			memcpy(word, s, n);
			word[n] = '\0';
			for (i = 0; i < 4 && strcasecmp(word, names[i]) != 0;
			    i++)
				;
			if (i == 4)
				return -1;
			*mask |= 1u << i;
		}
		s += n;
		s += *s != '\0';
	}
	return *mask != 0 ? 0 : -1;
}

/* Two frontends on one address would fight over it. */
static int
check_frontends(const struct stud_config *cfg, char *errbuf, size_t errlen)
{
	struct config_addr a, b;
	char cert[4096];
	size_t i, k;

	for (i = 0; i < cfg->frontends.n; i++) {
		config_parse_frontend(cfg->frontends.v[i], &a, cert,
		    sizeof(cert));
		for (k = 0; k < i; k++) {
			config_parse_frontend(cfg->frontends.v[k], &b, cert,
			    sizeof(cert));
			if (strcasecmp(a.host, b.host) == 0 &&
			    strcmp(a.port, b.port) == 0 && strcmp(a.port, "0")) {
				seterr(errbuf, errlen, "duplicate frontend "
				    "[%s]:%s", a.host, a.port);
				return -1;
			}
		}
	}
	return 0;
}

static int
check_client_verify(const struct stud_config *cfg, char *errbuf,
    size_t errlen)
{
	if (strcmp(cfg->client_verify, "none") != 0 &&
	    strcmp(cfg->client_verify, "optional") != 0 &&
	    strcmp(cfg->client_verify, "required") != 0) {
		seterr(errbuf, errlen, "invalid value '%s' for "
		    "--client-verify: expected none, optional or required",
		    cfg->client_verify);
		return -1;
	}
	if (strcmp(cfg->client_verify, "none") != 0 &&
	    *cfg->client_verify_ca == '\0') {
		seterr(errbuf, errlen, "--client-verify=%s needs "
		    "--client-verify-ca", cfg->client_verify);
		return -1;
	}
	return 0;
}

/* An option whose value says who does the work: "stud" or "openssl". */
static int
check_who(const char *opt, const char *val, char *errbuf, size_t errlen)
{
	if (strcmp(val, "stud") != 0 && strcmp(val, "openssl") != 0) {
		seterr(errbuf, errlen, "invalid value '%s' for --%s: "
		    "expected stud or openssl", val, opt);
		return -1;
	}
	return 0;
}

static int	check_writable(const struct stud_config *cfg, char *errbuf,
		    size_t errlen);

int
config_check(struct stud_config *cfg, char *errbuf, size_t errlen)
{
	const struct opt *tls = opt_by_name("tls");
	unsigned protos;

	if (check_writable(cfg, errbuf, errlen) == -1)
		return -1;

	if (*cfg->tls_protos != '\0') {
		if (config_tls_protos(cfg->tls_protos, &protos) == -1) {
			seterr(errbuf, errlen, "invalid --tls-protos '%s': "
			    "expected some of TLSv1 TLSv1.1 TLSv1.2 TLSv1.3",
			    cfg->tls_protos);
			return -1;
		}
		if (cfg->ssl || cfg->given[tls - opts]) {
			seterr(errbuf, errlen, "--tls-protos cannot be "
			    "combined with --tls or --ssl");
			return -1;
		}
	}
	if (check_frontends(cfg, errbuf, errlen) == -1 ||
	    check_client_verify(cfg, errbuf, errlen) == -1 ||
	    check_who("record-layer", cfg->record_layer, errbuf, errlen) == -1 ||
	    check_who("x25519", cfg->x25519, errbuf, errlen) == -1 ||
	    check_who("resumption", cfg->resumption, errbuf, errlen) == -1 ||
	    check_who("tls13-handshake", cfg->tls13_handshake, errbuf,
	    errlen) == -1 ||
	    check_who("tls12-handshake", cfg->tls12_handshake, errbuf,
	    errlen) == -1)
		return -1;
	if (cfg->ssl && cfg->given[tls - opts]) {
		seterr(errbuf, errlen, "--tls and --ssl are mutually "
		    "exclusive");
		return -1;
	}
	if (cfg->ssl)
		cfg->tls = 0;
	else if (!cfg->tls) {
		seterr(errbuf, errlen, "no protocol left: set tls or ssl on");
		return -1;
	}
	if (cfg->write_ip + cfg->write_proxy + cfg->write_proxy_v2 +
	    cfg->proxy_proxy > 1) {
		seterr(errbuf, errlen, "--write-ip, --write-proxy, "
		    "--write-proxy-v2 and --proxy-proxy are mutually exclusive");
		return -1;
	}
	if (strcmp(cfg->backend.host, "*") == 0) {
		seterr(errbuf, errlen, "the backend needs a host, not '*'");
		return -1;
	}
	if ((*cfg->sync_listen.host != '\0' || cfg->sync_peers.n > 0) &&
	    (cfg->session_cache <= 0 || *cfg->sync_key_file == '\0')) {
		seterr(errbuf, errlen, "--shared-cache-listen and "
		    "--shared-cache-peer need --session-cache and "
		    "--shared-cache-key");
		return -1;
	}
	if (cfg->daemonize)
		cfg->quiet = 1;
	return 0;
}

/* Build getopt_long's tables from opts[]. */
static void
build_getopt(struct option *lo, char *so)
{
	size_t i;

	*so++ = ':';
	for (i = 0; i < NOPTS; i++) {
		int arg = opts[i].arg != NULL;

		lo[i].name = opts[i].name;
		lo[i].has_arg = arg ? required_argument : no_argument;
		lo[i].flag = NULL;
		lo[i].val = 256 + (int)i;
		if (opts[i].letter) {
			*so++ = (char)opts[i].letter;
			if (arg)
				*so++ = ':';
		}
	}
	*so = '\0';
	memset(&lo[NOPTS], 0, sizeof(lo[NOPTS]));
}

static const struct opt *
opt_by_letter(int c)
{
	size_t i;

	for (i = 0; i < NOPTS; i++)
		if (opts[i].letter == c)
			return &opts[i];
	return NULL;
}

/* Name an option as the user typed it, for error messages. */
static void
opt_where(const struct opt *o, int c, char *buf, size_t len)
{
	if (c < 256)
		snprintf(buf, len, "-%c", c);
	else
		snprintf(buf, len, "--%s", o->name);
}

static enum config_action
cli_bad_option(int c, char **argv, char *errbuf, size_t errlen)
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		seterr(errbuf, errlen, "option %s needs a value", arg);
	else if (optopt != 0 && optopt < 256)
		seterr(errbuf, errlen, "unknown option '-%c'", optopt);
	else
		seterr(errbuf, errlen, "unknown option '%s'", arg);
	return CONFIG_ERROR;
}

enum config_action
config_parse_cli(struct stud_config *cfg, int argc, char **argv, char *errbuf,
    size_t errlen)
{
	struct option lo[NOPTS + 1];
	char so[2 * NOPTS + 2], where[64];
	enum config_action act = CONFIG_RUN;
	const struct opt *o;
	int c;

	build_getopt(lo, so);
	opterr = 0;
	optind = 0;		/* glibc: a full reset, for reloads */
	while ((c = getopt_long(argc, argv, so, lo, NULL)) != -1) {
		if (c == '?' || c == ':')
			return cli_bad_option(c, argv, errbuf, errlen);
		o = c >= 256 ? &opts[c - 256] : opt_by_letter(c);
		opt_where(o, c, where, sizeof(where));
		switch (o->cli) {
		case CLI_CONFIG:
			free(cfg->config_file);
			if ((cfg->config_file = strdup(optarg)) == NULL ||
			    config_parse_file(cfg, optarg, errbuf,
			    errlen) == -1)
				return CONFIG_ERROR;
			continue;
		case CLI_TEST:
			cfg->test_only = 1;
			continue;
		case CLI_DEFAULT:
			act = act == CONFIG_RUN ? CONFIG_DEFAULT : act;
			continue;
		case CLI_VERSION:
			act = act == CONFIG_RUN ? CONFIG_VERSION : act;
			continue;
		case CLI_HELP:
			act = CONFIG_HELP;
			continue;
		case CLI_NONE:
			break;
		}
		if (opt_set(cfg, o, optarg != NULL ? optarg : "on", where,
		    errbuf, errlen) == -1)
			return CONFIG_ERROR;
	}
	if (act != CONFIG_RUN)
		return act;
	for (; optind < argc; optind++)
		if (list_add(&cfg->pem, argv[optind]) == -1) {
			seterr(errbuf, errlen, "out of memory");
			return CONFIG_ERROR;
		}
	return config_check(cfg, errbuf, errlen) == -1 ? CONFIG_ERROR :
	    CONFIG_RUN;
}

/* Print text word-wrapped from column col to 79, continuing at col. */
static void
print_wrapped(FILE *out, const char *text, int col)
{
	const char *p = text, *sp;
	int x = col, w;

	while (*p != '\0') {
		sp = strchr(p, ' ');
		w = sp != NULL ? (int)(sp - p) : (int)strlen(p);
		if (x > col && x + 1 + w > 79) {
			fprintf(out, "\n%*s", col, "");
			x = col;
		} else if (x > col) {
			fputc(' ', out);
			x++;
		}
		fprintf(out, "%.*s", w, p);
		x += w;
		p += w;
		while (*p == ' ')
			p++;
	}
	fputc('\n', out);
}

void
config_usage(FILE *out, const char *argv0)
{
	char left[64], text[512];
	size_t i;

	fprintf(out, "stud %s - the Scalable TLS Unwrapping Daemon\n\n"
	    "Usage: %s [OPTIONS] PEM [PEM ...]\n\n"
	    "Encrypted traffic received on the frontend is decrypted and sent "
	    "to the backend.\nPEM is a file with a certificate chain and its "
	    "private key (optionally DH\nparameters).\n", STUD_VERSION, argv0);
	for (i = 0; i < NOPTS; i++) {
		const struct opt *o = &opts[i];
		int n;

		if (o->section != NULL)
			fprintf(out, "\n%s:\n", o->section);
		n = snprintf(left, sizeof(left), "%c%c%c --%s%s%s",
		    o->letter ? '-' : ' ', o->letter ? o->letter : ' ',
		    o->letter ? ',' : ' ', o->name, o->arg ? "=" : "",
		    o->arg ? o->arg : "");
		fprintf(out, "  %-32s", left);
		if (n > 31)
			fprintf(out, "\n%34s", "");
		if (o->def != NULL && *o->def != '\0' && o->type != OPT_BOOL)
			snprintf(text, sizeof(text), "%s (default: \"%s\")",
			    o->help, o->def);
		else
			snprintf(text, sizeof(text), "%s", o->help);
		print_wrapped(out, text, 34);
	}
}

/* Can v be written as a config file value that reads back the same?
 * Quoted when it has no '"'; otherwise bare, which allows no '#', no
 * leading '"' and no spaces at either end. No form holds a line break. */
static int
value_writable(const char *v)
{
	size_t n = strlen(v);

	if (strpbrk(v, "\r\n") != NULL)
		return 0;
	if (strchr(v, '"') == NULL)
		return 1;
	return *v != '"' && strchr(v, '#') == NULL &&
	    !isspace((unsigned char)v[0]) && !isspace((unsigned char)v[n - 1]);
}

/* Print "name = value", quoted unless the value holds a '"'. */
static void
print_str(FILE *out, const char *name, const char *v)
{
	fprintf(out, strchr(v, '"') == NULL ? "%s = \"%s\"\n" : "%s = %s\n",
	    name, v);
}

/* Check that every string setting can be printed back as a config file
 * (-t): no line breaks, no unwritable quotes. Returns 0 or -1. */
static int
check_writable(const struct stud_config *cfg, char *errbuf, size_t errlen)
{
	const struct config_list *l;
	size_t i, k;

	for (i = 0; i < NOPTS; i++) {
		const struct opt *o = &opts[i];

		if (o->type == OPT_STR &&
		    !value_writable(*(char *const *)cfield(cfg, o))) {
			seterr(errbuf, errlen, "the value of --%s holds a line "
			    "break or an unwritable '\"'", o->name);
			return -1;
		}
		if (o->type != OPT_LIST && o->type != OPT_FRONTLIST)
			continue;
		l = cfield(cfg, o);
		for (k = 0; k < l->n; k++)
			if (!value_writable(l->v[k])) {
				seterr(errbuf, errlen, "a value of --%s holds "
				    "a line break or an unwritable '\"'",
				    o->name);
				return -1;
			}
	}
	return 0;
}

static void
print_value(FILE *out, const struct stud_config *cfg, const struct opt *o,
    int comments)
{
	const struct config_addr *a;
	const struct config_list *l;
	size_t k;

	switch (o->type) {
	case OPT_BOOL:
		fprintf(out, "%s = %s\n", o->name,
		    *(const int *)cfield(cfg, o) ? "on" : "off");
		break;
	case OPT_LONG:
		fprintf(out, "%s = %ld\n", o->name,
		    *(const long *)cfield(cfg, o));
		break;
	case OPT_STR:
		print_str(out, o->name, *(char *const *)cfield(cfg, o));
		break;
	case OPT_ADDR:
	case OPT_BACKEND:
		a = cfield(cfg, o);
		if (*a->port == '\0' && *a->host == '/')
			fprintf(out, "%s = \"%s\"\n", o->name, a->host);
		else if (*a->host == '\0')
			fprintf(out, "%s = \"\"\n", o->name);
		else
			fprintf(out, "%s = \"[%s]:%s\"\n", o->name, a->host,
			    a->port);
		break;
	case OPT_FRONTLIST:
		l = cfield(cfg, o);
		for (k = 0; k < l->n; k++) {
			struct config_addr fa;
			char cert[4096];

			char v[sizeof(fa.host) + sizeof(cert) + 16];

			config_parse_frontend(l->v[k], &fa, cert, sizeof(cert));
			snprintf(v, sizeof(v), "[%s]:%s%s%s", fa.host, fa.port,
			    *cert ? "+" : "", cert);
			print_str(out, o->name, v);
		}
		break;
	case OPT_LIST:
	case OPT_ADDRLIST:
		l = cfield(cfg, o);
		if (l->n == 0 && comments)
			fprintf(out, "# %s = \"%s\"\n", o->name, o->arg);
		for (k = 0; k < l->n; k++)
			print_str(out, o->name, l->v[k]);
		break;
	case OPT_CLI:
		break;
	}
}

void
config_print(FILE *out, const struct stud_config *cfg, int comments)
{
	size_t i;

	if (comments)
		fprintf(out, "# stud %s configuration file.\n# Every key "
		    "is a long option of stud; the values shown are the "
		    "defaults.\n# Booleans: on/off, yes/no, true/false, "
		    "1/0. Quote values with spaces.\n", STUD_VERSION);
	for (i = 0; i < NOPTS; i++) {
		const struct opt *o = &opts[i];

		if (o->type == OPT_CLI)
			continue;
		if (comments) {
			if (o->section != NULL)
				fprintf(out, "\n# === %s ===\n", o->section);
			fprintf(out, "\n# %s\n", o->help);
		}
		if (o->def == NULL) {	/* an alias */
			if (comments) {
				fputs("# ", out);
				print_value(out, cfg, o, comments);
			}
			continue;
		}
		print_value(out, cfg, o, comments);
	}
}
