/* fuzz_config_cli.c - libFuzzer harness for config_parse_cli().
 *
 * The input is split into arguments on NUL bytes (or on newlines if it holds
 * no NUL) and given to config_parse_cli() after argv[0] = "stud", over the
 * defaults, as stud's main() does; then config_free(). A command line that
 * parses to CONFIG_RUN must round-trip through config_print() and
 * config_parse_file() (see config_common.h).
 *
 * --config=FILE reads files: the harness works in a private temporary
 * directory holding a few configuration files (good.conf, bad.conf,
 * pem.conf, conflict.conf) and skips inputs containing '/', so that only
 * those can be named. (libFuzzer's corpus and artifact paths must therefore
 * be absolute: fuzz.mk passes them so.)
 *
 * getopt_long keeps state between calls (glibc's __nextchar, which points
 * into the previous argv). config_parse_cli() sets optind = 1, which does
 * not reset it; stud calls it once per process, but here each run must
 * start clean, so a dummy getopt() call with optind = 0 reinitialises it
 * before every run. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "configuration.h"
#include "config_common.h"

#define MAXARGS	64

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
put_file(const char *name, const char *text)
{
	FILE *f = fopen(name, "w");

	CHECK(f != NULL);
	fputs(text, f);
	CHECK(fclose(f) == 0);
}

static char dir[] = "/tmp/stud-fuzz-cli.XXXXXX";
static const char *const files[] = { "good.conf", "bad.conf", "pem.conf",
	"conflict.conf" };

/* Remove the directory at exit (libFuzzer exits through exit()). */
static void
cleanup(void)
{
	char path[sizeof(dir) + 32];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	if (chdir("/") == 0)
		rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{

	(void)argc;
	(void)argv;
	CHECK(mkdtemp(dir) != NULL);
	CHECK(chdir(dir) == 0);
	put_file("good.conf", "# a valid file\nworkers = 4\nbackend = "
	    "\"[::1]:80\"\nfrontend = *,443\nciphers = \"ECDHE+AESGCM\"\n"
	    "quiet = yes\nwrite-proxy = on\n");
	put_file("bad.conf", "workers = 0\n");
	put_file("pem.conf", "pem-file = \"a b.pem\"\npem-file = c.pem\n"
	    "ssl = on\n");
	put_file("conflict.conf", "write-ip = on\nproxy-proxy = on\n");
	atexit(cleanup);
	return 0;
}

static void
reset_getopt(void)
{
	char prog[] = "reset", *dummy[] = { prog, NULL };

	optind = 0;
	opterr = 0;
	(void)getopt(1, dummy, "");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *argv[MAXARGS + 2], err[1024];
	char sep = memchr(data, '\0', size) != NULL ? '\0' : '\n';
	struct stud_config cfg;
	enum config_action act;
	int argc = 1;
	size_t i, start = 0;

	if (memchr(data, '/', size) != NULL)
		return 0;
	CHECK((buf = malloc(size + 1)) != NULL);
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[0] = strdup("stud");
	for (i = 0; i < size && argc < MAXARGS; i++) {
		if (buf[i] == sep) {
			argv[argc++] = strndup(buf + start, i - start);
			start = i + 1;
		}
	}
	if (start < size && argc < MAXARGS)
		argv[argc++] = strdup(buf + start);
	argv[argc] = NULL;
	free(buf);

	reset_getopt();
	CHECK(config_init(&cfg) == 0);
	err[0] = '\0';
	act = config_parse_cli(&cfg, argc, argv, err, sizeof(err));
	switch (act) {
	case CONFIG_RUN:
		/* a value holding a line break cannot be printed as one line
		 * (and the printed text cannot tell a forged line from a real
		 * one): only lines without them are checked */
		if (memchr(data, '\n', size) == NULL &&
		    memchr(data, '\r', size) == NULL)
			check_round_trip(&cfg);
		break;
	case CONFIG_ERROR:
		/* one line, unless an argument itself holds a newline */
		CHECK(err[0] != '\0');
		if (memchr(data, '\n', size) == NULL)
			CHECK(strchr(err, '\n') == NULL);
		break;
	case CONFIG_HELP:
	case CONFIG_VERSION:
	case CONFIG_DEFAULT:
		break;
	default:
		CHECK(!"unknown action");
	}
	config_free(&cfg);
	for (i = 0; i < (size_t)argc; i++)
		free(argv[i]);
	return 0;
}
