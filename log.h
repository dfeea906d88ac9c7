/* log.h - the one place stud writes messages: stderr, syslog, or both. */
#ifndef STUD_LOG_H
#define STUD_LOG_H

#include <syslog.h>

/* Set where messages go. quiet drops LOG_INFO and below (errors always go
 * out); with use_syslog they also go to syslog under the given facility. */
void	log_setup(int quiet, int use_syslog, int facility);

/* The syslog facility called name ("daemon", "local0"...), or -1. */
int	log_facility(const char *name);

/* Write one line at a syslog level; the line is prefixed with "stud: ". */
void	log_msg(int level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)

#endif /* STUD_LOG_H */
