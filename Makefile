# stud - the Scalable TLS Unwrapping Daemon
#
#   make                      build ./stud (make USE_SHARED_CACHE=1 adds the
#                             shared-memory session cache)
#   make run                  demo: self-signed cert, demo backend, stud on :8443
#   make test                 install what is missing, build every variant, test
#   make install              PREFIX=/usr/local DESTDIR=
#   make clean
#   make bench                stud against hitch, haproxy, nginx and stunnel
#   make fuzz                 every libFuzzer harness for FUZZ_SECONDS each

PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
INITDIR  ?= /etc/init.d
UNITDIR  ?= /lib/systemd/system
DESTDIR  ?=
CC       ?= cc
PKG_CONFIG ?= pkg-config

PKGS      := libev openssl
WARN      := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes
CFLAGS    ?= -O2 -g
ALL_CFLAGS = -std=c11 $(WARN) $(CFLAGS) $(DEFS) \
	     $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
LDLIBS    := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null || echo -lev -lssl -lcrypto)

SHCTX_SRCS := shctx.c ebtree/ebtree.c ebtree/ebmbtree.c
SRCS      := stud.c worker.c configuration.c ringbuffer.c sockbio.c tls.c record.c \
	     aesgcm.c certs.c log.c proxy.c daemon.c provider.c x25519.c resume.c kdf.c \
	     hs13.c hs12.c hello.c
ifeq ($(USE_SHARED_CACHE),1)
VARIANT   ?= shared
DEFS      += -DUSE_SHARED_CACHE -pthread
SRCS      += $(SHCTX_SRCS) shsync.c peersync.c
else
VARIANT   ?= default
endif
OBJDIR    := build/$(VARIANT)
OBJS      := $(SRCS:%.c=$(OBJDIR)/%.o)

# Debian packages each step needs, installed only when missing.
BUILD_DEPS := gcc make pkg-config libev-dev libssl-dev
RUN_DEPS   := openssl python3 curl
UNIT_DEPS  := valgrind
TEST_DEPS  := clang libclang-rt-14-dev python3 python3-pytest curl openssl \
	      gnutls-bin haproxy procps iproute2 man-db testssl.sh sslscan \
	      util-linux $(UNIT_DEPS)

.PHONY: all run test unit integration integration-default integration-shared \
	sanitize deps-build deps-run deps-test deps-unit install clean variants

all: stud

stud: $(OBJDIR)/stud
	rm -f $@ && cp $< $@	# replace, not overwrite: it may be running

$(OBJDIR)/stud: $(OBJS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

$(OBJDIR)/%.o: %.c $(wildcard *.h ebtree/*.h) | $(OBJDIR)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(OBJDIR):
	mkdir -p $@ $@/ebtree

# --- dependencies -----------------------------------------------------
define install_missing
	@missing=""; for p in $(1); do \
	    dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    if [ "$$(id -u)" != 0 ]; then \
	        echo "error: run as root to install:$$missing" >&2; exit 1; fi; \
	    apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing \
	        || { echo "error: apt-get install$$missing failed" >&2; exit 1; }; \
	fi
endef

deps-build:
	$(call install_missing,$(BUILD_DEPS))

deps-run: deps-build
	$(call install_missing,$(RUN_DEPS))

deps-test: deps-build
	$(call install_missing,$(TEST_DEPS))

deps-unit: deps-build
	$(call install_missing,$(UNIT_DEPS))

# --- demo -------------------------------------------------------------
run: deps-run
	@$(MAKE) --no-print-directory stud
	@sh tests/demo.sh

# --- tests ------------------------------------------------------------
UNIT_TESTS := build/tests/test_ringbuffer build/tests/test_ebtree build/tests/test_proxy \
	      build/tests/test_shctx build/tests/test_shsync build/tests/test_record \
	      build/tests/test_aesgcm build/tests/test_x25519 build/tests/test_resume \
	      build/tests/test_kdf build/tests/test_hs13 build/tests/test_hs12
UNIT_CFLAGS = -std=c11 $(WARN) -O1 -g -fsanitize=address,undefined \
	      -fno-sanitize-recover=all -I.
EBTREE_SRCS := ebtree/ebtree.c ebtree/ebmbtree.c

build/tests/test_ringbuffer: tests/unit/test_ringbuffer.c ringbuffer.c ringbuffer.h tests/unit/unit.h
	@mkdir -p build/tests
	$(CC) $(UNIT_CFLAGS) -o $@ $< ringbuffer.c

build/tests/test_ebtree: tests/unit/test_ebtree.c $(EBTREE_SRCS) $(wildcard ebtree/*.h) tests/unit/unit.h
	@mkdir -p build/tests
	$(CC) $(UNIT_CFLAGS) -O2 -o $@ $< $(EBTREE_SRCS)

build/tests/test_shctx: tests/unit/test_shctx.c $(SHCTX_SRCS) shctx.h $(wildcard ebtree/*.h) tests/unit/unit.h
	@mkdir -p build/tests
	$(CC) $(UNIT_CFLAGS) -pthread -o $@ $< $(SHCTX_SRCS)

build/tests/test_shsync: tests/unit/test_shsync.c shsync.c shsync.h tests/unit/unit.h
	@mkdir -p build/tests
	$(CC) $(UNIT_CFLAGS) -o $@ $< shsync.c -lcrypto

RECORD_TEST_SRCS := record.c aesgcm.c tls.c configuration.c provider.c x25519.c resume.c kdf.c hs13.c hs12.c hello.c
build/tests/test_record: tests/unit/test_record.c $(RECORD_TEST_SRCS) record.h aesgcm.h tls.h configuration.h tests/unit/unit.h tests/unit/tls_fixture.h
	@mkdir -p build/tests
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(RECORD_TEST_SRCS) $(LDLIBS)

build/tests/test_resume: tests/unit/test_resume.c $(RECORD_TEST_SRCS) resume.h record.h tls.h configuration.h tests/unit/unit.h tests/unit/tls_fixture.h
	@mkdir -p build/tests
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(RECORD_TEST_SRCS) $(LDLIBS)

build/tests/test_hs13: tests/unit/test_hs13.c $(RECORD_TEST_SRCS) hs13.h record.h tls.h configuration.h tests/unit/unit.h tests/unit/tls_fixture.h tests/unit/hello_edit.h
	@mkdir -p build/tests
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(RECORD_TEST_SRCS) $(LDLIBS)

build/tests/test_hs12: tests/unit/test_hs12.c $(RECORD_TEST_SRCS) hs12.h record.h tls.h configuration.h tests/unit/unit.h tests/unit/tls_fixture.h tests/unit/hello_edit.h
	@mkdir -p build/tests
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(RECORD_TEST_SRCS) $(LDLIBS)

build/tests/test_aesgcm: tests/unit/test_aesgcm.c aesgcm.c aesgcm.h tests/unit/unit.h
	@mkdir -p build/tests
	$(CC) $(UNIT_CFLAGS) -o $@ $< aesgcm.c $(LDLIBS)

build/tests/test_kdf: tests/unit/test_kdf.c kdf.c kdf.h provider.c provider.h x25519.c tests/unit/unit.h
	@mkdir -p build/tests
	$(CC) $(UNIT_CFLAGS) -o $@ $< kdf.c provider.c x25519.c $(LDLIBS)

build/tests/test_x25519: tests/unit/test_x25519.c x25519.c x25519.h provider.c provider.h kdf.c kdf.h tests/unit/unit.h
	@mkdir -p build/tests
	$(CC) $(UNIT_CFLAGS) -o $@ $< x25519.c provider.c kdf.c $(LDLIBS)

# Constant time: built like stud (no sanitizer: the compiler decides), run
# under valgrind with the private keys marked undefined.
build/tests/test_x25519_ct: tests/unit/test_x25519_ct.c x25519.c x25519.h tests/unit/unit.h
	@mkdir -p build/tests
	$(CC) -std=c11 $(WARN) -O2 -g -I. -o $@ $< x25519.c $(LDLIBS)

build/tests/test_proxy: tests/unit/test_proxy.c proxy.c proxy.h tests/unit/unit.h
	@mkdir -p build/tests
	$(CC) $(UNIT_CFLAGS) -o $@ $< proxy.c

variants: deps-build
	$(MAKE) --no-print-directory build/default/stud
	$(MAKE) --no-print-directory build/shared/stud USE_SHARED_CACHE=1
	$(MAKE) --no-print-directory build/clang/stud CC=clang VARIANT=clang
	$(MAKE) --no-print-directory build/clang-shared/stud CC=clang VARIANT=clang-shared USE_SHARED_CACHE=1
	$(MAKE) --no-print-directory $(BENCH_TOOLS)

unit: deps-unit $(UNIT_TESTS) build/tests/test_x25519_ct
	@fail=0; for t in $(UNIT_TESTS); do echo "== $$t"; $$t || fail=1; done; \
	echo "== valgrind build/tests/test_x25519_ct"; \
	valgrind -q --error-exitcode=1 build/tests/test_x25519_ct || fail=1; \
	exit $$fail

PYTEST := /usr/bin/python3 -m pytest -q -p no:cacheprovider

# The suites of the two builds run side by side (about half of a suite's
# time is spent waiting on sockets and timers), and make test runs the
# sanitizer build's beside them; make's -Otarget prints each one's output
# whole when it ends.
integration:
	@$(MAKE) --no-print-directory -k -j2 -Otarget integration-default \
	    integration-shared

integration-default:
	@echo "== integration tests, default build"
	STUD_BIN=$(CURDIR)/build/default/stud $(PYTEST) tests/integration

integration-shared:
	@echo "== integration tests, USE_SHARED_CACHE=1 build"
	STUD_BIN=$(CURDIR)/build/shared/stud $(PYTEST) tests/integration

# The integration suite again, against an AddressSanitizer + UBSan build;
# every report lands in SANITIZER_LOGS, and any report fails the run.
SAN_CFLAGS     := -O1 -g -fno-omit-frame-pointer \
		  -fsanitize=address,undefined -fno-sanitize-recover=all
SANITIZER_LOGS := $(CURDIR)/build/sanitizer-logs

sanitize: deps-test
	@$(MAKE) --no-print-directory build/asan/stud CC=clang VARIANT=asan \
	    CFLAGS="$(SAN_CFLAGS)"
	@rm -rf $(SANITIZER_LOGS) && mkdir -p $(SANITIZER_LOGS)
	@echo "== integration tests, ASan+UBSan build"
	ASAN_OPTIONS=log_path=$(SANITIZER_LOGS)/asan:detect_leaks=1 \
	UBSAN_OPTIONS=log_path=$(SANITIZER_LOGS)/ubsan:print_stacktrace=1:halt_on_error=1 \
	STUD_SANITIZER_LOGS=$(SANITIZER_LOGS) \
	STUD_BIN=$(CURDIR)/build/asan/stud $(PYTEST) tests/integration
	@if [ -n "$$(ls -A $(SANITIZER_LOGS))" ]; then \
	    echo "sanitizer reports:" >&2; cat $(SANITIZER_LOGS)/* >&2; exit 1; fi

test: deps-test
	@$(MAKE) --no-print-directory variants
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory -k -j2 -Otarget fuzz-smoke-all
	@$(MAKE) --no-print-directory -k -j3 -Otarget integration-default \
	    integration-shared sanitize

include tests/fuzz/fuzz.mk

# --- install ----------------------------------------------------------
install: stud
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(INITDIR) $(DESTDIR)$(UNITDIR)
	install -m 0755 stud $(DESTDIR)$(BINDIR)/stud
	install -m 0644 stud.8 $(DESTDIR)$(MANDIR)/man8/stud.8
	sed 's|@BINDIR@|$(BINDIR)|g' init.stud > $(DESTDIR)$(INITDIR)/stud
	chmod 0755 $(DESTDIR)$(INITDIR)/stud
	sed 's|@BINDIR@|$(BINDIR)|g' stud@.service > $(DESTDIR)$(UNITDIR)/stud@.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/stud@.service

clean:
	rm -rf build stud

# --- benchmark --------------------------------------------------------
include tests/bench/bench.mk
