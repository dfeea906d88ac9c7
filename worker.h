/* worker.h - the worker process and what the parent hands it. */
#ifndef STUD_WORKER_H
#define STUD_WORKER_H

#include <sys/types.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "certs.h"
#include "configuration.h"

/* One listening socket and the context its connections start with. */
struct frontend {
	int			 fd;
	SSL_CTX			*ctx;		/* its default certificate */
	struct config_addr	 addr;
};

/* Everything one configuration makes, built by the parent before fork and
 * only read afterwards. A reload builds a new one beside the running one. */
struct setup {
	struct stud_config	 cfg;
	struct certs		*certs;
	struct frontend		*fronts;	/* in the order configured */
	size_t			 nfronts;
	struct sockaddr_storage	 backend;	/* an address or a UNIX path */
	socklen_t		 backend_len;
	uid_t			 uid;		/* -u, when drop_uid */
	gid_t			 gid;		/* -u or -g, when drop_gid */
	int			 drop_uid;
	int			 drop_gid;
	/* peer sync of the shared session cache (peersync.c) */
	int			 sync_fd;	/* UDP socket, -1 if none */
	struct sockaddr_storage	*peers;
	size_t			 n_peers;
	unsigned char		 sync_secret[256];
	size_t			 sync_secret_len;
};

/* Become a worker of s: unblock signals, chroot and drop privileges, then
 * accept and serve until SIGTERM or until parent_fd (the read end of a pipe
 * whose write end only the parent holds) reaches EOF; then stop accepting,
 * finish the open connections (at most --shutdown-timeout) and exit 0.
 * Exits 2 if it cannot start. Never returns. */
void	worker_run(const struct setup *s, int parent_fd)
	    __attribute__((noreturn));

#endif /* STUD_WORKER_H */
