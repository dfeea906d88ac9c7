# tests/bench/bench.mk - `make bench`: stud against hitch, haproxy, nginx and
# stunnel. Included at the end of the top-level Makefile:
#
#   include tests/bench/bench.mk
#
#   make bench          install what is missing, build, run every scenario,
#                       print the table and write tests/bench/results.md
#   make bench-build    only build the load generator, backend, floor, stud
#
# Knobs (environment): BENCH_SECS, BENCH_CONNS, BENCH_BULK_MIB,
# BENCH_IDLE_CONNS, BENCH_MANY_CONNS, BENCH_TERMINATORS, BENCH_SCENARIOS,
# BENCH_RESULTS, BENCH_KEEP (see tests/bench/bench.sh).

BENCH_DIR    := tests/bench
BENCH_OUT    := build/bench
BENCH_DEPS   := gcc make pkg-config libev-dev libssl-dev openssl coreutils \
		util-linux procps hitch haproxy nginx libnginx-mod-stream \
		stunnel4
BENCH_CFLAGS := -std=c11 -O2 -g -Wall -Wextra -Werror -Wshadow \
		-Wstrict-prototypes
BENCH_LIBS    = $(shell $(PKG_CONFIG) --libs openssl 2>/dev/null || \
		echo -lssl -lcrypto)
BENCH_TOOLS  := $(BENCH_OUT)/loadgen $(BENCH_OUT)/backend $(BENCH_OUT)/floor

.PHONY: bench bench-deps bench-build

# Debian packages, installed only when missing (apt-get update first).
bench-deps:
	$(call install_missing,$(BENCH_DEPS))

$(BENCH_OUT)/%: $(BENCH_DIR)/%.c $(BENCH_DIR)/proto.h $(BENCH_DIR)/srv.h
	@mkdir -p $(BENCH_OUT)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(BENCH_LIBS)

bench-build: $(BENCH_TOOLS)
	@$(MAKE) --no-print-directory build/default/stud
	@$(MAKE) --no-print-directory build/shared/stud USE_SHARED_CACHE=1

# The sub-make reads the same top-level makefile (which includes this file).
bench: bench-deps
	@$(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) bench-build
	@bash $(BENCH_DIR)/bench.sh
