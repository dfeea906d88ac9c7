/* log.c - formats and routes every message stud prints, to stderr and/or
 * syslog, honouring --quiet. No other module writes to stderr or syslog. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

static int log_quiet;
static int log_syslog;

void
log_setup(int quiet, int use_syslog, int facility)
{
	log_quiet = quiet;
	if (use_syslog && !log_syslog)
		openlog("stud", LOG_PID | LOG_NDELAY, facility);
	log_syslog = use_syslog;
}

void
log_msg(int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (log_quiet && level > LOG_WARNING)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "stud: %s\n", line);
	if (log_syslog)
		syslog(level, "%s", line);
}
