/* config_common.h - shared by the configuration fuzzers: the print /
 * re-read round-trip check (CHECK() comes from fuzz.h). */
#ifndef FUZZ_CONFIG_COMMON_H
#define FUZZ_CONFIG_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "configuration.h"
#include "fuzz.h"

/* Print cfg into a string (malloc'd, NUL-terminated). */
static char *
print_to_string(const struct stud_config *cfg, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	CHECK(f != NULL);
	config_print(f, cfg, 0);
	CHECK(fclose(f) == 0);
	*len = n;
	return buf;
}

/* True if every line of a printed configuration can be read back as it is:
 * "key = value" with a quoted value holding no '"' nor CR, an address value
 * ("[HOST]:PORT") whose host holds no ']', and no empty file name (an
 * empty pem-file is ignored when read). Judged on the text alone, so that
 * the check does not depend on the fields of struct stud_config. */
static int
representable(const char *text)
{
	const char *line = text, *eol, *v, *q;

	for (; *line != '\0'; line = eol + 1) {
		if ((eol = strchr(line, '\n')) == NULL)
			return 0;	/* config_print ends every line */
		v = line + strspn(line, "abcdefghijklmnopqrstuvwxyz-");
		if (v == line || strncmp(v, " = ", 3) != 0)
			return 0;	/* a value with a newline broke it */
		if (memchr(line, '\r', (size_t)(eol - line)) != NULL)
			return 0;	/* a reader ends the line there */
		v += 3;
		if (*v != '"') {	/* number, on/off: nothing else */
			if (strspn(v, "0123456789-abcdefghijklmnopqrstuvwxyz")
			    != (size_t)(eol - v))
				return 0;
			continue;
		}
		if ((q = strchr(v + 1, '"')) == NULL || q + 1 != eol)
			return 0;	/* a '"' inside the value */
		if (q == v + 1 && strncmp(line, "pem-file ", 9) == 0)
			return 0;
		if (v[1] == '[') {
			const char *b = memchr(v + 2, ']', (size_t)(q - v - 2));

			if (b == NULL || memchr(b + 1, ']',
			    (size_t)(q - b - 1)) != NULL)
				return 0;
		}
	}
	return 1;
}

/* If every value of cfg is representable, print it, parse the text over
 * fresh defaults, and check it prints the same. */
static void
check_round_trip(const struct stud_config *cfg)
{
	struct stud_config again;
	char path[64], err[1024], *text, *text2;
	size_t len, len2;
	int fd;

	text = print_to_string(cfg, &len);
	if (strlen(text) != len || !representable(text)) {
		free(text);
		return;
	}
	CHECK((fd = memfd_create("fuzz-config-print", 0)) != -1);
	CHECK(write(fd, text, len) == (ssize_t)len);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	CHECK(config_init(&again) == 0);
	if (config_parse_file(&again, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "printed configuration not accepted back: %s\n"
		    "---\n%s---\n", err, text);
		abort();
	}
	text2 = print_to_string(&again, &len2);
	if (len != len2 || memcmp(text, text2, len) != 0) {
		fprintf(stderr, "configuration changed on round trip:\n---\n%s"
		    "---\n%s---\n", text, text2);
		abort();
	}
	config_free(&again);
	free(text);
	free(text2);
	close(fd);
}

#endif /* FUZZ_CONFIG_COMMON_H */
