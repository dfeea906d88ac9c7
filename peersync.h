/* peersync.h - keeping the shared session caches of several stud machines
 * in step over UDP (-U, -P, -M, --shared-cache-key). Built only with
 * USE_SHARED_CACHE=1; the default build refuses those options. */
#ifndef STUD_PEERSYNC_H
#define STUD_PEERSYNC_H

#include <stddef.h>
#include <stdio.h>

#include "worker.h"

#ifdef USE_SHARED_CACHE
/* Parent: bind the UDP socket (or keep running's if -U did not change),
 * resolve the peers, read the key, set up multicast. Returns 0, or -1 with
 * err set. */
int	peersync_prepare(struct setup *s, const struct setup *running,
	    char *err, size_t len);

/* Parent: release what s holds and keep does not. */
void	peersync_release(struct setup *s, const struct setup *keep);

/* Worker: receive peers' sessions into the cache, send new ones to the
 * peers, log a line of counts when packets were dropped. */
void	peersync_start(const struct setup *s);
#else
static inline int
peersync_prepare(struct setup *s, const struct setup *running, char *err,
    size_t len)
{
	(void)running;
	s->sync_fd = -1;
	if (*s->cfg.sync_listen.host == '\0' && s->cfg.sync_peers.n == 0)
		return 0;
	snprintf(err, len, "--shared-cache-listen and --shared-cache-peer "
	    "need a stud built with the shared session cache "
	    "(make USE_SHARED_CACHE=1)");
	return -1;
}

static inline void
peersync_release(struct setup *s, const struct setup *keep)
{
	(void)s;
	(void)keep;
}

static inline void
peersync_start(const struct setup *s)
{
	(void)s;
}
#endif

#endif /* STUD_PEERSYNC_H */
