/* peersync.c - the UDP side of the shared session cache: the parent binds
 * the socket and resolves the peers; each worker sends the sessions it makes
 * to every peer and stores those the peers send, in shsync's sealed packets. */
#define _GNU_SOURCE
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <net/if.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "log.h"
#include "peersync.h"
#include "shsync.h"
#include "tls.h"

#define SYNC_BATCH	64	/* datagrams read per readiness event */
#define SYNC_REPORT	1.0	/* seconds between lines about drops */

static const struct setup	*ps;
static struct shsync		*codec;
static ev_io			 sync_watch;
static ev_timer			 report_timer;
static struct shsync_stats	 reported;

static int
resolve_udp(const struct config_addr *a, struct sockaddr_storage *ss,
    char *err, size_t len)
{
	struct addrinfo hints, *res;
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((r = getaddrinfo(a->host, a->port, &hints, &res)) != 0) {
		snprintf(err, len, "cannot resolve shared cache address %s: "
		    "%s", a->host, gai_strerror(r));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

static inline socklen_t
sslen(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
}

/* -M IFACE[,TTL]: join the group of -U on IFACE, send through IFACE. */
static int
sync_multicast(int fd, const struct sockaddr_storage *group,
    const char *spec, char *err, size_t len)
{
	char iface[IF_NAMESIZE + 1];
	const char *comma = strchr(spec, ',');
	size_t n = comma != NULL ? (size_t)(comma - spec) : strlen(spec);
	unsigned idx;
	int ttl = comma != NULL ? atoi(comma + 1) : 1, off = 0, r;

	if (n == 0 || n > IF_NAMESIZE || ttl < 1 || ttl > 255) {
		snprintf(err, len, "invalid --shared-cache-if '%s': expected "
		    "IFACE[,TTL] with a TTL from 1 to 255", spec);
		return -1;
	}
	memcpy(iface, spec, n);
	iface[n] = '\0';
	if ((idx = if_nametoindex(iface)) == 0) {
		snprintf(err, len, "unknown interface '%s' for "
		    "--shared-cache-if", iface);
		return -1;
	}
	if (group->ss_family == AF_INET) {
		const struct sockaddr_in *g = (const void *)group;
		struct ip_mreqn mr = { .imr_multiaddr = g->sin_addr,
		    .imr_ifindex = (int)idx };

		r = (IN_MULTICAST(ntohl(g->sin_addr.s_addr)) &&
		    setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr,
		    sizeof(mr)) == -1) ||
		    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mr,
		    sizeof(mr)) == -1 ||
		    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl,
		    sizeof(ttl)) == -1 ||
		    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &off,
		    sizeof(off)) == -1;
	} else {
		const struct sockaddr_in6 *g = (const void *)group;
		struct ipv6_mreq mr = { .ipv6mr_multiaddr = g->sin6_addr,
		    .ipv6mr_interface = idx };

		r = (IN6_IS_ADDR_MULTICAST(&g->sin6_addr) &&
		    setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mr,
		    sizeof(mr)) == -1) ||
		    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx,
		    sizeof(idx)) == -1 ||
		    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &ttl,
		    sizeof(ttl)) == -1 ||
		    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &off,
		    sizeof(off)) == -1;
	}
	if (r) {
		snprintf(err, len, "cannot set up multicast on %s: %s", iface,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* The UDP socket: bound to -U if given, else unbound for sending. */
static int
sync_socket(struct setup *s, char *err, size_t len)
{
	const struct stud_config *cfg = &s->cfg;
	struct sockaddr_storage local;
	int one = 1, fd, listen = *cfg->sync_listen.host != '\0';
	int family = listen ? AF_UNSPEC : s->peers[0].ss_family;

	if (listen) {
		if (resolve_udp(&cfg->sync_listen, &local, err, len) == -1)
			return -1;
		family = local.ss_family;
	}
	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || (listen && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR,
	    &one, sizeof(one)) == -1 || bind(fd, (struct sockaddr *)&local,
	    sslen(&local)) == -1))) {
		snprintf(err, len, "cannot bind --shared-cache-listen %s,%s: %s",
		    cfg->sync_listen.host, cfg->sync_listen.port,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (*cfg->sync_iface != '\0' && sync_multicast(fd, listen ? &local :
	    &s->peers[0], cfg->sync_iface, err, len) == -1) {
		close(fd);
		return -1;
	}
	s->sync_fd = fd;
	return 0;
}

static int
sync_peers(struct setup *s, char *err, size_t len)
{
	const struct config_list *l = &s->cfg.sync_peers;
	struct config_addr a;
	size_t i;

	if (l->n == 0)
		return 0;
	if ((s->peers = calloc(l->n, sizeof(*s->peers))) == NULL) {
		snprintf(err, len, "out of memory");
		return -1;
	}
	for (i = 0; i < l->n; i++) {
		if (config_parse_addr(l->v[i], &a) == -1 ||
		    resolve_udp(&a, &s->peers[i], err, len) == -1)
			return -1;
		if (i > 0 && s->peers[i].ss_family != s->peers[0].ss_family) {
			snprintf(err, len, "shared cache peers must all be IPv4 "
			    "or all IPv6");
			return -1;
		}
		s->n_peers++;
	}
	return 0;
}

static int
same_sync(const struct stud_config *a, const struct stud_config *b)
{
	return strcmp(a->sync_listen.host, b->sync_listen.host) == 0 &&
	    strcmp(a->sync_listen.port, b->sync_listen.port) == 0 &&
	    strcmp(a->sync_iface, b->sync_iface) == 0 &&
	    *a->sync_listen.host != '\0';
}

int
peersync_prepare(struct setup *s, const struct setup *running, char *err,
    size_t len)
{
	const struct stud_config *cfg = &s->cfg;

	if (*cfg->sync_listen.host == '\0' && cfg->sync_peers.n == 0)
		return 0;
	if (shsync_load_key_file(cfg->sync_key_file, s->sync_secret,
	    sizeof(s->sync_secret), &s->sync_secret_len, err, len) == -1 ||
	    sync_peers(s, err, len) == -1)
		return -1;
	if (running != NULL && running->sync_fd != -1 &&
	    same_sync(cfg, &running->cfg))
		s->sync_fd = running->sync_fd;
	else if (sync_socket(s, err, len) == -1)
		return -1;
	if (s->n_peers > 0) {
		struct sockaddr_storage self;
		socklen_t sl = sizeof(self);

		getsockname(s->sync_fd, (struct sockaddr *)&self, &sl);
		if (self.ss_family != s->peers[0].ss_family) {
			snprintf(err, len, "shared cache peers and "
			    "--shared-cache-listen must be of one family");
			return -1;
		}
	}
	return 0;
}

void
peersync_release(struct setup *s, const struct setup *keep)
{
	if (s->sync_fd != -1 && (keep == NULL || keep->sync_fd != s->sync_fd))
		close(s->sync_fd);
	s->sync_fd = -1;
	free(s->peers);
	s->peers = NULL;
	s->n_peers = 0;
	explicit_bzero(s->sync_secret, sizeof(s->sync_secret));
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* tls.c's hook: a new session went into our cache; tell every peer. */
static void
sync_send(const unsigned char *id, size_t idlen, const unsigned char *der,
    size_t len)
{
	unsigned char pkt[SHSYNC_MAX_PACKET];
	ssize_t n;
	size_t i;

	n = shsync_encode(codec, id, idlen, der, len, now_ms(), pkt,
	    sizeof(pkt));
	if (n < 0)
		return;		/* too big to share: it stays local */
	for (i = 0; i < ps->n_peers; i++)
		sendto(ps->sync_fd, pkt, (size_t)n, MSG_DONTWAIT,
		    (const struct sockaddr *)&ps->peers[i],
		    sslen(&ps->peers[i]));
}

static void
sync_recv_cb(EV_P_ ev_io *w, int revents)
{
	unsigned char pkt[SHSYNC_MAX_PACKET + 1], id[SHSYNC_ID_MAX];
	unsigned char sess[SHSYNC_SESS_MAX];
	size_t idlen, slen;
	ssize_t n;
	int i;

	(void)loop;
	(void)revents;
	for (i = 0; i < SYNC_BATCH; i++) {
		if ((n = recv(w->fd, pkt, sizeof(pkt), 0)) < 0)
			break;
		if (shsync_decode(codec, pkt, (size_t)n, now_ms(), id, &idlen,
		    sess, sizeof(sess), &slen) == 0)
			tls_shared_cache_store(id, idlen, sess, slen);
	}
}

/* Once a second at most: a line of counts if packets were dropped. */
static void
report_cb(EV_P_ ev_timer *w, int revents)
{
	struct shsync_stats st;

	(void)loop;
	(void)w;
	(void)revents;
	shsync_stats(codec, &st);
	if (st.forged == reported.forged && st.replayed == reported.replayed &&
	    st.stale == reported.stale && st.truncated == reported.truncated &&
	    st.malformed == reported.malformed && st.full == reported.full)
		return;
	log_warn("shared cache sync dropped packets: %llu forged, %llu "
	    "replayed, %llu stale, %llu truncated, %llu malformed, %llu over "
	    "the replay limit (%llu accepted)",
	    (unsigned long long)st.forged, (unsigned long long)st.replayed,
	    (unsigned long long)st.stale, (unsigned long long)st.truncated,
	    (unsigned long long)st.malformed, (unsigned long long)st.full,
	    (unsigned long long)st.accepted);
	reported = st;
}

void
peersync_start(const struct setup *s)
{
	if (s->sync_fd == -1)
		return;
	ps = s;
	if ((codec = shsync_new(s->sync_secret, s->sync_secret_len)) == NULL) {
		log_err("cannot set up the shared cache sync: %s",
		    strerror(errno));
		return;
	}
	tls_set_session_hook(sync_send);
	if (*s->cfg.sync_listen.host != '\0') {
		ev_io_init(&sync_watch, sync_recv_cb, s->sync_fd, EV_READ);
		ev_io_start(EV_DEFAULT, &sync_watch);
	}
	ev_timer_init(&report_timer, report_cb, SYNC_REPORT, SYNC_REPORT);
	ev_timer_start(EV_DEFAULT, &report_timer);
}
