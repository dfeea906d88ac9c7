/* log.c - formats and routes every message stud prints: stderr or the log
 * file (--log-file), and syslog. Workers do not write the file themselves:
 * they forward each formatted line through a pipe to the parent, which alone
 * holds the file, so it can be reopened (SIGUSR1) even by chrooted workers. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int	 log_level = 1;
static int	 log_syslog;
static int	 log_file = -1;		/* --log-file, else stderr */
static char	*log_path;
static int	 log_forward = -1;	/* worker: the pipe to the parent */

int
log_facility(const char *name)
{
	static const struct { const char *name; int value; } fac[] = {
		{ "auth", LOG_AUTH }, { "authpriv", LOG_AUTHPRIV },
		{ "cron", LOG_CRON }, { "daemon", LOG_DAEMON },
		{ "ftp", LOG_FTP }, { "kern", LOG_KERN }, { "lpr", LOG_LPR },
		{ "mail", LOG_MAIL }, { "news", LOG_NEWS },
		{ "syslog", LOG_SYSLOG }, { "user", LOG_USER },
		{ "uucp", LOG_UUCP }, { "local0", LOG_LOCAL0 },
		{ "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
		{ "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 },
		{ "local5", LOG_LOCAL5 }, { "local6", LOG_LOCAL6 },
		{ "local7", LOG_LOCAL7 },
	};
	size_t i;

	for (i = 0; i < sizeof(fac) / sizeof(fac[0]); i++)
		if (strcasecmp(name, fac[i].name) == 0)
			return fac[i].value;
	return -1;
}

void
log_setup(int level, int use_syslog, int facility)
{
	log_level = level;
	if (use_syslog && !log_syslog)
		openlog("stud", LOG_PID | LOG_NDELAY, facility);
	log_syslog = use_syslog;
}

int
log_connections(void)
{
	return log_level >= 2;
}

static int
open_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int
log_set_file(const char *path, char *err, size_t errlen)
{
	int fd = -1;
	char *copy = NULL;

	if (*path != '\0' && ((fd = open_file(path)) == -1 ||
	    (copy = strdup(path)) == NULL)) {
		snprintf(err, errlen, "cannot open log file %s: %s", path,
		    strerror(errno ? errno : ENOMEM));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (log_file != -1)
		close(log_file);
	free(log_path);
	log_file = fd;
	log_path = copy;
	return 0;
}

int
log_reopen(void)
{
	int fd;

	if (log_path == NULL)
		return 0;
	if ((fd = open_file(log_path)) == -1) {
		log_err("cannot reopen log file %s: %s", log_path,
		    strerror(errno));
		return -1;
	}
	dup2(fd, log_file);	/* keep the descriptor number */
	close(fd);
	return 0;
}

void
log_forward_to(int fd)
{
	log_forward = fd;
}

/* Write a whole line to fd; one write(2), so lines never interleave. A
 * line that does not fit (a full pipe) is lost, as log.h documents. */
static void
put_line(int fd, const char *line, size_t len)
{
	while (write(fd, line, len) == -1 && errno == EINTR)
		;
}

void
log_drain(int fd)
{
	char buf[16384];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		put_line(log_file != -1 ? log_file : STDERR_FILENO, buf,
		    (size_t)n);
}

void
log_msg(int level, const char *fmt, ...)
{
	char msg[1024], line[1200], stamp[32];
	struct tm tm;
	time_t t;
	va_list ap;
	int n;

	if ((log_level == 0 && level > LOG_WARNING) ||
	    (log_level == 1 && level > LOG_INFO))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_syslog)
		syslog(level > LOG_INFO ? LOG_INFO : level, "%s", msg);
	if (log_file == -1)
		n = snprintf(line, sizeof(line), "stud: %s\n", msg);
	else {
		t = time(NULL);
		gmtime_r(&t, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
		n = snprintf(line, sizeof(line), "%s stud[%d]: %s\n", stamp,
		    (int)getpid(), msg);
	}
	if (n >= (int)sizeof(line))
		n = (int)sizeof(line) - 1;
	if (log_forward != -1)
		put_line(log_forward, line, (size_t)n);
	else
		put_line(log_file != -1 ? log_file : STDERR_FILENO, line,
		    (size_t)n);
}
