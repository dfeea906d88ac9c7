/* daemon.h - running as a system service: detaching, the pidfile, and
 * systemd's readiness notifications. */
#ifndef STUD_DAEMON_H
#define STUD_DAEMON_H

#include <stddef.h>

/* Fork into the background, start a new session, chdir to / and point
 * stdin/stdout/stderr at /dev/null. The foreground process stays until
 * daemon_detach_done() and exits 0, or 1 if the daemon dies before. Returns
 * 0 in the detached process, or -1 with errbuf set. */
int	daemon_detach(char *errbuf, size_t errlen);

/* Tell the waiting foreground process that the daemon is set up, so it
 * exits 0 (it exits 1 if the daemon dies first). */
void	daemon_detach_done(void);

/* Write this process's pid to path (atomically: temp file and rename).
 * Returns 0, or -1 with errbuf set. */
int	daemon_write_pidfile(const char *path, char *errbuf, size_t errlen);

/* Remove the pidfile if it still holds this process's pid. */
void	daemon_remove_pidfile(const char *path);

/* Send state (e.g. "READY=1") to systemd when NOTIFY_SOCKET is set.
 * Returns 0 when sent or not asked for, -1 if sending failed. */
int	daemon_notify(const char *state);

#endif /* STUD_DAEMON_H */
