/* stud.c - main() and the parent process: the start-up steps (options,
 * certificates, addresses, listening socket), then supervising the workers
 * of worker.c: replacing dead ones, reloading on SIGHUP, stopping. */
#define _GNU_SOURCE
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <openssl/ssl.h>

#include "certs.h"
#include "configuration.h"
#include "daemon.h"
#include "log.h"
#include "peersync.h"
#include "proxy.h"
#include "tls.h"
#include "worker.h"

#define RESPAWN_MAX	10.0	/* longest wait before replacing a worker */
#define QUICK_DEATH	1.0	/* a worker dying younger than this backs off */
#define KILL_GRACE	5.0	/* after --shutdown-timeout, before SIGKILL */

#ifdef USE_SHARED_CACHE
#define STUD_FEATURES ", shared session cache"
#else
#define STUD_FEATURES ""
#endif

static struct setup	  cur;		/* the running configuration */
static int		  saved_argc;	/* the command line, for reloads */
static char		**saved_argv;
static int		  parent_pipe[2] = { -1, -1 };
static int		  log_pipe[2] = { -1, -1 };	/* workers -> parent */

/* ---------------------------------------------------------------------
 * Building a setup: each step returns 0, or -1 with err set, so that a
 * reload can fail without touching the running configuration.
 */

static int	seterr(char *err, size_t len, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

static int
seterr(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

/* Parse the saved command line (and the --config file it names) into cfg.
 * Returns what the command line asks for; CONFIG_ERROR with err set. */
static enum config_action
load_config(struct stud_config *cfg, char *err, size_t len)
{
	enum config_action act;

	if (config_init(cfg) == -1) {
		seterr(err, len, "out of memory");
		return CONFIG_ERROR;
	}
	act = config_parse_cli(cfg, saved_argc, saved_argv, err, len);
	if (act == CONFIG_RUN && log_facility(cfg->syslog_facility) == -1) {
		seterr(err, len, "unknown syslog facility '%s'",
		    cfg->syslog_facility);
		return CONFIG_ERROR;
	}
	return act;
}

static void
format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	proxy_addr_text(sa, host, sizeof(host), &port);
	snprintf(buf, len, "[%s]:%u", host, port);
}

/* Resolve HOST,PORT; "*" resolves to the wildcard for passive use. */
static int
resolve(const struct config_addr *a, int passive, const char *what,
    struct addrinfo **res, char *err, size_t len)
{
	struct addrinfo hints;
	const char *host = a->host;
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	if (passive && strcmp(host, "*") == 0) {
		host = NULL;
		hints.ai_family = AF_INET6;	/* dual-stack [::] */
	}
	r = getaddrinfo(host, a->port, &hints, res);
	if (r != 0 && host == NULL) {
		hints.ai_family = AF_INET;
		r = getaddrinfo(host, a->port, &hints, res);
	}
	if (r != 0)
		return seterr(err, len, "cannot resolve %s address %s: %s",
		    what, a->host, gai_strerror(r));
	return 0;
}

static int
resolve_backend(struct setup *s, char *err, size_t len)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&s->backend;
	struct addrinfo *ai;

	if (*s->cfg.backend.port == '\0') {	/* a UNIX socket path */
		memset(sun, 0, sizeof(*sun));
		sun->sun_family = AF_UNIX;
		snprintf(sun->sun_path, sizeof(sun->sun_path), "%s",
		    s->cfg.backend.host);
		s->backend_len = sizeof(*sun);
		return 0;
	}
	if (resolve(&s->cfg.backend, 0, "backend", &ai, err, len) == -1)
		return -1;
	memcpy(&s->backend, ai->ai_addr, ai->ai_addrlen);
	s->backend_len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* Look up -u and -g now (the chroot may not hold the user database) and
 * check the chroot directory. */
static int
lookup_identity(struct setup *s, char *err, size_t len)
{
	const struct stud_config *cfg = &s->cfg;
	struct passwd *pw;
	struct group *gr;
	struct stat st;

	if (*cfg->user != '\0') {
		if ((pw = getpwnam(cfg->user)) == NULL)
			return seterr(err, len, "unknown user '%s'",
			    cfg->user);
		s->uid = pw->pw_uid;
		s->gid = pw->pw_gid;
		s->drop_uid = s->drop_gid = 1;
	}
	if (*cfg->group != '\0') {
		if ((gr = getgrnam(cfg->group)) == NULL)
			return seterr(err, len, "unknown group '%s'",
			    cfg->group);
		s->gid = gr->gr_gid;
		s->drop_gid = 1;
	}
	if (*cfg->chroot == '\0')
		return 0;
	if (stat(cfg->chroot, &st) == -1)
		return seterr(err, len, "cannot chroot to %s: %s",
		    cfg->chroot, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return seterr(err, len, "cannot chroot to %s: not a directory",
		    cfg->chroot);
	return 0;
}

static int
same_addr(const struct config_addr *a, const struct config_addr *b)
{
	return strcmp(a->host, b->host) == 0 && strcmp(a->port, b->port) == 0;
}

/* Bind and listen on f->addr. */
static int
bind_one(struct frontend *f, long backlog, char *err, size_t len)
{
	struct addrinfo *ai;
	char name[128];
	int one = 1, v6only = strcmp(f->addr.host, "*") != 0;
	int fd;

	if (resolve(&f->addr, 1, "frontend", &ai, err, len) == -1)
		return -1;
	format_addr(ai->ai_addr, name, sizeof(name));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    (ai->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &v6only, sizeof(v6only)) == -1) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, (int)backlog) == -1) {
		seterr(err, len, "cannot bind frontend %s: %s", name,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	f->fd = fd;
	return 0;
}

/* True if s listens on fd. */
static int
has_fd(const struct setup *s, int fd)
{
	size_t i;

	for (i = 0; s != NULL && i < s->nfronts; i++)
		if (s->fronts[i].fd == fd)
			return 1;
	return 0;
}

/* A socket of the running setup for addr that s has not taken yet, or -1. */
static int
running_fd(const struct setup *running, const struct config_addr *addr,
    const struct setup *s)
{
	size_t i;

	for (i = 0; running != NULL && i < running->nfronts; i++)
		if (same_addr(&running->fronts[i].addr, addr) &&
		    !has_fd(s, running->fronts[i].fd))
			return running->fronts[i].fd;
	return -1;
}

/* Bind every frontend, or keep the running one's socket where an address
 * did not change (so not one connection is refused across a reload). */
static int
bind_frontends(struct setup *s, const struct setup *running, char *err,
    size_t len)
{
	const struct config_list *l = &s->cfg.frontends;
	char cert[4096];
	size_t i;

	if ((s->fronts = calloc(l->n, sizeof(*s->fronts))) == NULL)
		return seterr(err, len, "out of memory");
	for (i = 0; i < l->n; i++) {
		struct frontend *f = &s->fronts[s->nfronts];

		config_parse_frontend(l->v[i], &f->addr, cert, sizeof(cert));
		f->ctx = certs_context(s->certs, cert);
		if ((f->fd = running_fd(running, &f->addr, s)) == -1 &&
		    bind_one(f, s->cfg.backlog, err, len) == -1)
			return -1;
		s->nfronts++;
	}
	return 0;
}

/* Options for the clients' sockets, set once on each listening socket:
 * Linux copies them to every socket accept() returns. Applied when a setup
 * takes over, so a reload that fails leaves the running sockets alone. */
static void
tune_listeners(const struct setup *s)
{
	int one = 1, idle = (int)s->cfg.keepalive, on = idle > 0;
	size_t i;

	for (i = 0; i < s->nfronts; i++) {
		int fd = s->fronts[i].fd;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
		if (on)
			setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle,
			    sizeof(idle));
	}
}

static void
log_listening(const struct setup *s, const struct setup *running)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	char name[128];
	size_t i;

	for (i = 0; i < s->nfronts; i++) {
		if (has_fd(running, s->fronts[i].fd))
			continue;
		sslen = sizeof(ss);
		getsockname(s->fronts[i].fd, (struct sockaddr *)&ss, &sslen);
		format_addr((struct sockaddr *)&ss, name, sizeof(name));
		log_info("listening on %s", name);
	}
}

/* An empty setup, holding nothing. */
static void
setup_init(struct setup *s)
{
	memset(s, 0, sizeof(*s));
	s->sync_fd = -1;
}

/* Release what s holds that keep (the setup staying in force) does not. */
static void
setup_free(struct setup *s, const struct setup *keep)
{
	size_t i;

	for (i = 0; i < s->nfronts; i++)
		if (!has_fd(keep, s->fronts[i].fd))
			close(s->fronts[i].fd);
	free(s->fronts);
	peersync_release(s, keep);
	certs_free(s->certs);
	config_free(&s->cfg);
	setup_init(s);
}

/* Make everything s->cfg asks for; bind only when listening is wanted.
 * running (or NULL) is the setup in force, whose sockets may be kept. */
static int
setup_complete(struct setup *s, const struct setup *running, int listen,
    char *err, size_t len)
{
	if ((s->certs = certs_load(&s->cfg, err, len)) == NULL ||
	    resolve_backend(s, err, len) == -1 ||
	    lookup_identity(s, err, len) == -1 ||
	    (listen && (bind_frontends(s, running, err, len) == -1 ||
	    peersync_prepare(s, running, err, len) == -1)))
		return -1;
	if (listen)
		log_listening(s, running);
	return 0;
}

/* ---------------------------------------------------------------------
 * Parent: supervising the workers.
 */

struct worker_slot {
	pid_t		pid;		/* 0 while waiting to be respawned */
	double		started;
	double		backoff;	/* wait before the next respawn */
	double		respawn_at;
};

/* A worker of a replaced configuration, finishing its connections. */
struct retiree {
	pid_t		pid;
	double		deadline;	/* SIGKILL after this */
};

static struct worker_slot	*slots;
static long			 nslots;
static struct retiree		*retirees;
static size_t			 nretirees;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
worker_spawn(struct worker_slot *s, int index)
{
	pid_t pid = fork();

	if (pid == -1) {
		log_err("cannot fork worker %d: %s", index, strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(parent_pipe[1]);
		close(log_pipe[0]);
		log_forward_to(log_pipe[1]);
		worker_run(&cur, parent_pipe[0]);
	}
	s->pid = pid;
	s->started = now();
	log_info("worker %d started (pid %d)", index, (int)pid);
	return 0;
}

/* Make a fresh set of slots for cur and start every worker. */
static int
workers_start(void)
{
	long i;

	free(slots);
	nslots = cur.cfg.workers;
	if ((slots = calloc((size_t)nslots, sizeof(*slots))) == NULL) {
		nslots = 0;
		log_err("out of memory");
		return -1;
	}
	for (i = 0; i < nslots; i++)
		if (worker_spawn(&slots[i], (int)i) == -1)
			slots[i].respawn_at = now() + RESPAWN_MAX;
	return 0;
}

static int
retiree_reaped(pid_t pid)
{
	size_t i;

	for (i = 0; i < nretirees; i++) {
		if (retirees[i].pid != pid)
			continue;
		retirees[i] = retirees[--nretirees];
		log_info("old worker (pid %d) finished", (int)pid);
		return 1;
	}
	return 0;
}

/* Note a dead worker and schedule its replacement, later if it died young. */
static void
worker_reaped(pid_t pid, int status, int stopping)
{
	struct worker_slot *s;
	long i;

	if (retiree_reaped(pid))
		return;
	for (i = 0; i < nslots && slots[i].pid != pid; i++)
		;
	if (i == nslots)
		return;
	s = &slots[i];
	s->pid = 0;
	if (stopping)
		return;
	if (WIFSIGNALED(status))
		log_err("worker %ld (pid %d) killed by signal %d; replacing "
		    "it", i, (int)pid, WTERMSIG(status));
	else
		log_err("worker %ld (pid %d) exited with status %d; "
		    "replacing it", i, (int)pid, WEXITSTATUS(status));
	if (now() - s->started < QUICK_DEATH)
		s->backoff = s->backoff == 0 ? 0.1 : s->backoff * 2;
	else
		s->backoff = 0;
	if (s->backoff > RESPAWN_MAX)
		s->backoff = RESPAWN_MAX;
	s->respawn_at = now() + s->backoff;
}

static size_t
workers_alive(void)
{
	size_t n = nretirees;
	long i;

	for (i = 0; i < nslots; i++)
		n += slots[i].pid != 0;
	return n;
}

static void
workers_signal(int sig)
{
	size_t k;
	long i;

	for (i = 0; i < nslots; i++)
		if (slots[i].pid != 0)
			kill(slots[i].pid, sig);
	for (k = 0; k < nretirees; k++)
		kill(retirees[k].pid, sig);
}

static void
reap_children(int stopping)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		worker_reaped(pid, status, stopping);
}

/* Respawn due workers, kill overdue retirees; return seconds until the
 * next thing is due. */
static double
supervise(void)
{
	double t = now(), next = 1.0;
	size_t k;
	long i;

	for (i = 0; i < nslots; i++) {
		if (slots[i].pid == 0 && slots[i].respawn_at <= t &&
		    worker_spawn(&slots[i], (int)i) == -1)
			slots[i].respawn_at = t + RESPAWN_MAX;
		if (slots[i].pid == 0 && slots[i].respawn_at - t < next)
			next = slots[i].respawn_at - t;
	}
	for (k = 0; k < nretirees; k++) {
		if (retirees[k].deadline <= t) {
			log_warn("old worker (pid %d) overstayed; killing it",
			    (int)retirees[k].pid);
			kill(retirees[k].pid, SIGKILL);
			retirees[k].deadline = t + KILL_GRACE;
		}
		if (retirees[k].deadline - t < next)
			next = retirees[k].deadline - t;
	}
	return next < 0.001 ? 0.001 : next;
}

/* Move the running workers to the retirees: they are told to stop once
 * their replacements run. Returns 0, or -1 if memory ran out. */
static int
workers_retire(double shutdown_timeout)
{
	struct retiree *r;
	long i;

	r = realloc(retirees, (nretirees + (size_t)nslots + 1) * sizeof(*r));
	if (r == NULL)
		return -1;
	retirees = r;
	for (i = 0; i < nslots; i++) {
		if (slots[i].pid == 0)
			continue;
		retirees[nretirees].pid = slots[i].pid;
		retirees[nretirees].deadline = now() + shutdown_timeout +
		    KILL_GRACE;
		nretirees++;
	}
	return 0;
}

static void
retirees_signal(size_t from, int sig)
{
	for (; from < nretirees; from++)
		kill(retirees[from].pid, sig);
}

static void
apply_log_level(const struct stud_config *cfg)
{
	log_setup(cfg->quiet ? 0 : (int)cfg->log_level, cfg->syslog,
	    log_facility(cfg->syslog_facility));
}

/* Open the new log file if its path changed. Returns 0 or -1. */
static int
switch_log_file(const struct stud_config *next, char *err, size_t len)
{
	if (strcmp(next->log_file, cur.cfg.log_file) == 0)
		return 0;
	return log_set_file(next->log_file, err, len);
}

/* SIGHUP: build the new configuration beside the running one; if anything
 * is wrong keep the running one untouched. Otherwise start new workers,
 * then tell the old ones to stop accepting and finish their connections. */
static void
parent_reload(void)
{
	struct setup next, old;
	char err[1024];
	size_t first_old = nretirees;

	daemon_notify("RELOADING=1");
	setup_init(&next);
	if (load_config(&next.cfg, err, sizeof(err)) != CONFIG_RUN ||
	    setup_complete(&next, &cur, 1, err, sizeof(err)) == -1 ||
	    switch_log_file(&next.cfg, err, sizeof(err)) == -1 ||
	    (workers_retire((double)cur.cfg.shutdown_timeout) == -1 &&
	    seterr(err, sizeof(err), "out of memory"))) {
		log_err("reload failed, still running the previous "
		    "configuration: %s", err);
		setup_free(&next, &cur);
		daemon_notify("READY=1");
		return;
	}
	old = cur;
	cur = next;
	apply_log_level(&cur.cfg);
	tune_listeners(&cur);
	setup_free(&old, &cur);		/* before fork: new workers must not
					 * inherit the old frontend */
	workers_start();
	retirees_signal(first_old, SIGTERM);
	log_info("configuration reloaded; %zu old workers finishing",
	    nretirees - first_old);
	daemon_notify("READY=1");
}

/* Tell every worker to stop with sig; wait, and kill those that overstay. */
static void
workers_stop(sigset_t *set, int sig)
{
	double deadline = now() + (double)cur.cfg.shutdown_timeout +
	    KILL_GRACE;
	struct timespec ts = { 0, 100 * 1000 * 1000 };

	workers_signal(sig);
	for (;;) {
		reap_children(1);
		if (workers_alive() == 0)
			return;
		if (now() > deadline) {
			workers_signal(SIGKILL);
			deadline = now() + KILL_GRACE;
		}
		sigtimedwait(set, NULL, &ts);
		log_drain(log_pipe[0]);
	}
}

/* The parent process: keep the workers running until told to stop.
 * Signals stay blocked and are taken synchronously: no handlers. */
static int
parent_run(void)
{
	sigset_t set;
	struct timespec ts;
	double wait;
	size_t i;
	int sig;

	static const int taken[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP,
	    SIGUSR1, SIGIO };

	sigemptyset(&set);
	for (i = 0; i < sizeof(taken) / sizeof(taken[0]); i++)
		sigaddset(&set, taken[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	/* an ignored signal is dropped, never pending: a shell's background
	 * job starts with SIGINT ignored, and SIGCHLD ignored would reap the
	 * workers behind our back */
	for (i = 0; i < sizeof(taken) / sizeof(taken[0]); i++)
		signal(taken[i], SIG_DFL);
	if (workers_start() == -1)
		return 1;
	daemon_notify("READY=1");
	for (;;) {
		reap_children(0);
		wait = supervise();
		ts.tv_sec = (time_t)wait;
		ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
		sig = sigtimedwait(&set, NULL, &ts);
		log_drain(log_pipe[0]);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP)
			parent_reload();
		if (sig == SIGUSR1 && log_reopen() == 0)
			log_info("log file reopened");
	}
	log_info("received signal %d, stopping workers", sig);
	daemon_notify("STOPPING=1");
	for (i = 0; i < cur.nfronts; i++)
		close(cur.fronts[i].fd);
	workers_stop(&set, sig);
	log_drain(log_pipe[0]);
	log_info("all workers stopped");
	if (*cur.cfg.pidfile != '\0')
		daemon_remove_pidfile(cur.cfg.pidfile);
	return 0;
}

/* ---------------------------------------------------------------------
 * Start-up steps, each fatal on failure.
 */

static void	fatal(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2), noreturn));

/* Start-up failure: one line naming the problem, exit status 1. */
static void
fatal(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_err("%s", line);
	exit(1);
}

/* Handle -h, -V and --default-config, or load the configuration. */
static void
parse_options(int argc, char **argv)
{
	struct stud_config defaults;
	enum config_action act;
	char err[1024];

	saved_argc = argc;
	saved_argv = argv;
	setup_init(&cur);
	act = load_config(&cur.cfg, err, sizeof(err));
	switch (act) {
	case CONFIG_HELP:
		config_usage(stdout, "stud");
		exit(0);
	case CONFIG_VERSION:
		printf("stud %s (%s, libev %d.%d%s)\n", STUD_VERSION,
		    OpenSSL_version(OPENSSL_VERSION), ev_version_major(),
		    ev_version_minor(), STUD_FEATURES);
		exit(0);
	case CONFIG_DEFAULT:
		if (config_init(&defaults) == -1)
			fatal("out of memory");
		config_print(stdout, &defaults, 1);
		exit(0);
	case CONFIG_ERROR:
		fatal("%s", err);
	case CONFIG_RUN:
		break;
	}
}

static void
setup_logging(void)
{
	char err[1024];

	apply_log_level(&cur.cfg);
	if (!cur.cfg.test_only &&
	    log_set_file(cur.cfg.log_file, err, sizeof(err)) == -1)
		fatal("%s", err);
}

static void
load_tls_library(void)
{
	char err[1024];

	if (tls_init(&cur.cfg, err, sizeof(err)) == -1)
		fatal("%s", err);
}

/* Certificates, backend, identity and (unless -t) the listening socket. */
static void
build_setup(void)
{
	char err[1024];

	if (setup_complete(&cur, NULL, !cur.cfg.test_only, err,
	    sizeof(err)) == -1)
		fatal("%s", err);
	tune_listeners(&cur);
}

static void
test_configuration(void)
{
	config_print(stdout, &cur.cfg, 0);
	log_msg(LOG_NOTICE, "configuration OK");
	exit(0);
}

/* Raise the descriptor limit to its hard limit; each connection needs two. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)cur.cfg.max_connections * 2 + 32;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (cur.cfg.max_connections > 0 && rl.rlim_cur < need)
		log_warn("the descriptor limit (%llu) cannot hold "
		    "--max-connections=%ld (needs %llu)",
		    (unsigned long long)rl.rlim_cur, cur.cfg.max_connections,
		    (unsigned long long)need);
}

/* Detach (--daemon), then write the pidfile (--pidfile). */
static void
become_service(void)
{
	char err[1024];

	if (cur.cfg.daemonize && daemon_detach(err, sizeof(err)) == -1)
		fatal("%s", err);
	if (*cur.cfg.pidfile != '\0' &&
	    daemon_write_pidfile(cur.cfg.pidfile, err, sizeof(err)) == -1)
		fatal("%s", err);
	if (cur.cfg.daemonize)
		daemon_detach_done();
}

/* The pipe whose EOF tells workers the parent died, and the one that
 * carries their log lines to the parent, which hears of them by SIGIO. */
static void
open_parent_pipes(void)
{
	if (pipe2(parent_pipe, O_CLOEXEC) == -1 ||
	    pipe2(log_pipe, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    fcntl(log_pipe[0], F_SETOWN, getpid()) == -1 ||
	    fcntl(log_pipe[0], F_SETFL, O_NONBLOCK | O_ASYNC) == -1)
		fatal("cannot create a pipe: %s", strerror(errno));
	fcntl(log_pipe[1], F_SETPIPE_SZ, 1 << 20);	/* best effort */
}

int
main(int argc, char **argv)
{
	parse_options(argc, argv);
	setup_logging();
	load_tls_library();
	raise_fd_limit();
	build_setup();
	if (cur.cfg.test_only)
		test_configuration();
	become_service();
	open_parent_pipes();
	return parent_run();
}
