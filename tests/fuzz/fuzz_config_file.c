/* fuzz_config_file.c - libFuzzer harness for config_parse_file().
 *
 * The input is written to a memfd and parsed as a configuration file (over
 * the defaults, as stud does), then config_check() runs and the result is
 * printed with config_print(). A file that parses and checks must round-
 * trip: the configuration printed, read back over fresh defaults, prints the
 * same text (-t prints the effective configuration as a file meant to be
 * reusable). Values that the printed form cannot represent (a '"' in a
 * string, a host holding ']' or '"') are excluded from the round-trip check
 * (see config_common.h). */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "configuration.h"
#include "config_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int in = -1;
	struct stud_config cfg;
	char path[64], err[1024];
	int r;

	if (in == -1)
		CHECK((in = memfd_create("fuzz-config", 0)) != -1);
	CHECK(ftruncate(in, 0) == 0);
	CHECK(pwrite(in, data, size, 0) == (ssize_t)size);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", in);

	CHECK(config_init(&cfg) == 0);
	err[0] = '\0';
	r = config_parse_file(&cfg, path, err, sizeof(err));
	CHECK(r == 0 || r == -1);
	if (r == -1)
		CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
	else if (config_check(&cfg, err, sizeof(err)) == 0)
		check_round_trip(&cfg);
	config_free(&cfg);
	return 0;
}
