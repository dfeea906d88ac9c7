/* log.h - the one place stud writes messages: stderr or the log file, and
 * syslog. Workers forward their lines to the parent through a pipe. */
#ifndef STUD_LOG_H
#define STUD_LOG_H

#include <stddef.h>
#include <syslog.h>

/* Set what is written: level 0 errors and warnings only, 1 also notices
 * and information, 2 also one line per connection; with use_syslog lines
 * also go to syslog under facility. */
void	log_setup(int level, int use_syslog, int facility);

/* The syslog facility called name ("daemon", "local0"...), or -1. */
int	log_facility(const char *name);

/* True when one line per connection is wanted (level 2). */
int	log_connections(void);

/* Write to the file at path (appending) instead of stderr; "" goes back to
 * stderr. Returns 0, or -1 with err set (the destination is unchanged). */
int	log_set_file(const char *path, char *err, size_t errlen);

/* Reopen the log file by its path, as logrotate expects on SIGUSR1.
 * Returns 0, or -1 (logged; the old file stays in use). */
int	log_reopen(void);

/* Worker: send every line through fd (a non-blocking pipe to the parent)
 * instead of writing it; a line that does not fit is dropped. */
void	log_forward_to(int fd);

/* Parent: copy whatever lines wait in fd (the pipe's non-blocking read
 * end) to the log file or stderr. */
void	log_drain(int fd);

/* Write one line at a syslog level (LOG_DEBUG for per-connection lines). */
void	log_msg(int level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_conn(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

#endif /* STUD_LOG_H */
