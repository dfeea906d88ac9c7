/* daemon.h - running as a system service: detaching, the pidfile, and
 * systemd's readiness notifications. */
#ifndef STUD_DAEMON_H
#define STUD_DAEMON_H

#include <stddef.h>

/* Fork into the background, start a new session, chdir to / and point
 * stdin/stdout/stderr at /dev/null. Returns 0 in the detached process, or -1
 * with errbuf set (the caller is still in the foreground). */
int	daemon_detach(char *errbuf, size_t errlen);

/* Write this process's pid to path (atomically: temp file and rename).
 * Returns 0, or -1 with errbuf set. */
int	daemon_write_pidfile(const char *path, char *errbuf, size_t errlen);

/* Remove the pidfile if it still holds this process's pid. */
void	daemon_remove_pidfile(const char *path);

/* Send state (e.g. "READY=1") to systemd when NOTIFY_SOCKET is set.
 * Returns 0 when sent or not asked for, -1 if sending failed. */
int	daemon_notify(const char *state);

#endif /* STUD_DAEMON_H */
