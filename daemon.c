/* daemon.c - what a system service needs from its process: detaching from
 * the terminal, the pidfile, and systemd's sd_notify datagram protocol
 * (spoken directly, without libsystemd). */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

/* The write end of the pipe the foreground process waits on. */
static int detach_fd = -1;

/* Foreground side: wait until the daemon is set up; exit with its verdict. */
static void
detach_wait(int fd)
{
	char c;
	ssize_t n;

	do
		n = read(fd, &c, 1);
	while (n == -1 && errno == EINTR);
	_exit(n == 1 ? 0 : 1);
}

int
daemon_detach(char *errbuf, size_t errlen)
{
	int fds[2], fd, i;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) == -1) {
		snprintf(errbuf, errlen, "cannot detach: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < 2; i++) {
		if ((pid = fork()) == -1) {
			snprintf(errbuf, errlen, "cannot fork: %s",
			    strerror(errno));
			return -1;
		}
		if (pid > 0 && i == 0) {
			close(fds[1]);
			detach_wait(fds[0]);
		}
		if (pid > 0)
			_exit(0);
		if (i == 0)
			setsid();
	}
	close(fds[0]);
	detach_fd = fds[1];
	if (chdir("/") == -1 || (fd = open("/dev/null", O_RDWR)) == -1) {
		snprintf(errbuf, errlen, "cannot detach: %s", strerror(errno));
		return -1;
	}
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	return 0;
}

void
daemon_detach_done(void)
{
	if (detach_fd == -1)
		return;
	if (write(detach_fd, "R", 1) != 1) {
		/* the foreground process is gone: nobody to tell */
	}
	close(detach_fd);
	detach_fd = -1;
}

int
daemon_write_pidfile(const char *path, char *errbuf, size_t errlen)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	if ((f = fopen(tmp, "w")) == NULL)
		goto fail;
	fprintf(f, "%d\n", (int)getpid());
	if (fclose(f) != 0 || rename(tmp, path) == -1) {
		unlink(tmp);
		goto fail;
	}
	return 0;
fail:
	snprintf(errbuf, errlen, "cannot write pidfile %s: %s", path,
	    strerror(errno));
	return -1;
}

void
daemon_remove_pidfile(const char *path)
{
	char buf[32];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0 && (buf[n] = '\0', atoi(buf) == (int)getpid()))
		unlink(path);
}

int
daemon_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t len;
	ssize_t n;
	int fd;

	if (path == NULL || *path == '\0')
		return 0;
	if ((*path != '/' && *path != '@') || strlen(path) >= sizeof(sun.sun_path))
		return -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if (*path == '@')		/* abstract namespace */
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	n = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, len);
	close(fd);
	return n == (ssize_t)strlen(state) ? 0 : -1;
}
