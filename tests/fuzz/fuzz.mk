# tests/fuzz/fuzz.mk - libFuzzer harnesses (clang -fsanitize=fuzzer,address,
# undefined). Included by the top-level Makefile; run from the repo root.
#
#   make fuzz              each harness for FUZZ_SECONDS (default 60) s
#   make fuzz-smoke        each harness for FUZZ_SMOKE_SECONDS (default 10) s
#   make -j2 fuzz-smoke-all  the same, two harnesses at a time (make test)
#   make fuzz-regress      each harness over its committed corpus only (~1 s)
#   make fuzz-build        just build them (build/fuzz/fuzz_NAME)
#   make build/fuzz/fuzz_NAME; make fuzz-run-NAME; make fuzz-smoke-NAME
#
# Any crash, leak, sanitizer report or failed check fails the target; the
# reproducer is written to build/fuzz/artifacts/NAME-crash-... (add it to
# tests/fuzz/corpus/NAME/ as a regression input once understood). New inputs
# the fuzzer finds go to build/fuzz/corpus/NAME/, never to the committed
# seed corpus tests/fuzz/corpus/NAME/. Needs Debian's clang and
# libclang-rt-14-dev (libFuzzer).

FUZZ_CC            ?= clang
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_BUILD         := build/fuzz
FUZZ_SRC           := tests/fuzz
FUZZ_CFLAGS         = -std=c11 $(WARN) -g -O1 -fno-omit-frame-pointer \
		      -fsanitize=fuzzer,address,undefined \
		      -fno-sanitize-recover=all -I.
FUZZ_OPTS          := -timeout=10 -rss_limit_mb=2048 -print_final_stats=1

# name, then the stud sources it links, then -max_len
FUZZERS            := config_file config_cli proxy ebtree ringbuffer record \
		      aesgcm x25519 resume
fuzz_config_file_SRCS := configuration.c
fuzz_config_cli_SRCS  := configuration.c
fuzz_proxy_SRCS       := proxy.c
fuzz_ebtree_SRCS      := ebtree/ebtree.c ebtree/ebmbtree.c
fuzz_ringbuffer_SRCS  := ringbuffer.c
fuzz_record_SRCS      := record.c aesgcm.c kdf.c
fuzz_record_LIBS      := $(shell $(PKG_CONFIG) --libs libcrypto 2>/dev/null || echo -lcrypto)
fuzz_config_file_MAXLEN := 8192
fuzz_config_cli_MAXLEN  := 1024
fuzz_proxy_MAXLEN       := 1024
fuzz_ebtree_MAXLEN      := 4096
fuzz_ringbuffer_MAXLEN  := 4096
fuzz_record_MAXLEN      := 40000
fuzz_aesgcm_SRCS      := aesgcm.c
fuzz_aesgcm_LIBS      := $(fuzz_record_LIBS)
fuzz_aesgcm_MAXLEN    := 17000
fuzz_x25519_SRCS      := x25519.c
fuzz_x25519_LIBS      := $(fuzz_record_LIBS)
fuzz_x25519_MAXLEN    := 64
fuzz_resume_SRCS      := resume.c hello.c record.c aesgcm.c kdf.c
fuzz_resume_LIBS      := $(fuzz_record_LIBS)
fuzz_resume_MAXLEN    := 2048
FUZZERS               += hs13
fuzz_hs13_SRCS        := hs13.c hello.c record.c aesgcm.c kdf.c x25519.c
fuzz_hs13_LIBS        := $(fuzz_record_LIBS)
fuzz_hs13_MAXLEN      := 2048
FUZZERS               += hs12
fuzz_hs12_SRCS        := hs12.c hello.c record.c aesgcm.c kdf.c x25519.c
fuzz_hs12_LIBS        := $(fuzz_record_LIBS)
fuzz_hs12_MAXLEN      := 2048
# the shsync packet decoder, once it exists
ifneq ($(wildcard shsync.h),)
FUZZERS               += shsync
fuzz_shsync_SRCS      := shsync.c
fuzz_shsync_LIBS      := $(shell $(PKG_CONFIG) --libs libcrypto 2>/dev/null || echo -lcrypto)
fuzz_shsync_MAXLEN    := 2048
endif

# dictionaries: the option names, read from the option table, for the
# configuration harnesses; a static one for the PROXY parser
fuzz_config_file_DICT := $(FUZZ_BUILD)/config.dict
fuzz_config_cli_DICT  := $(FUZZ_BUILD)/config.dict
fuzz_proxy_DICT       := $(FUZZ_SRC)/proxy.dict

FUZZ_BINS := $(FUZZERS:%=$(FUZZ_BUILD)/fuzz_%) $(FUZZ_BUILD)/config.dict

$(FUZZ_BUILD)/config.dict: configuration.c
	@mkdir -p $(FUZZ_BUILD)
	sed -n 's/^[[:space:]]*{ "\([a-z0-9-]*\)", .*/\1/p' configuration.c | \
	    awk '{ printf "\"%s\"\n\"--%s=\"\n\"%s = \"\n", $$1, $$1, $$1 }' >$@
	printf '%s\n' '" = "' '"\""' '"#"' '"on"' '"off"' '"\x0a"' \
	    '"[::1]:"' '"*,"' '"127.0.0.1,"' '"-"' '"="' >>$@

.PHONY: fuzz fuzz-smoke fuzz-smoke-all fuzz-regress fuzz-build \
	$(FUZZERS:%=fuzz-run-%) $(FUZZERS:%=fuzz-smoke-%)

fuzz-build: $(FUZZ_BINS)

define fuzz_rules
$(FUZZ_BUILD)/fuzz_$(1): $(FUZZ_SRC)/fuzz_$(1).c $$(fuzz_$(1)_SRCS) \
		$(wildcard *.h ebtree/*.h $(FUZZ_SRC)/*.h)
	@mkdir -p $(FUZZ_BUILD)
	$$(FUZZ_CC) $$(FUZZ_CFLAGS) -o $$@ $(FUZZ_SRC)/fuzz_$(1).c \
	    $$(fuzz_$(1)_SRCS) $$(fuzz_$(1)_LIBS)

fuzz-run-$(1): $(FUZZ_BUILD)/fuzz_$(1) $$(fuzz_$(1)_DICT)
	@$$(call fuzz_one,$(1),$$(FUZZ_SECONDS))

fuzz-smoke-$(1): $(FUZZ_BUILD)/fuzz_$(1) $$(fuzz_$(1)_DICT)
	@$$(call fuzz_one,$(1),$$(FUZZ_SMOKE_SECONDS))
endef
$(foreach f,$(FUZZERS),$(eval $(call fuzz_rules,$(f))))

# fuzz_one NAME SECONDS: run one harness on a scratch corpus seeded from the
# committed one; on failure show the end of its log (the sanitizer report and
# the artifact's path).
define fuzz_one
	mkdir -p $(FUZZ_BUILD)/corpus/$(1) $(FUZZ_BUILD)/artifacts; \
	log=$(FUZZ_BUILD)/fuzz_$(1).log; \
	echo "== fuzz $(1): $(2) s"; \
	if $(FUZZ_BUILD)/fuzz_$(1) $(FUZZ_OPTS) -max_total_time=$(2) \
	    -max_len=$(fuzz_$(1)_MAXLEN) \
	    $(if $(fuzz_$(1)_DICT),-dict=$(CURDIR)/$(fuzz_$(1)_DICT)) \
	    -artifact_prefix=$(CURDIR)/$(FUZZ_BUILD)/artifacts/$(1)- \
	    $(CURDIR)/$(FUZZ_BUILD)/corpus/$(1) $(CURDIR)/$(FUZZ_SRC)/corpus/$(1) \
	    >$$log 2>&1; then \
	    grep -E '^(stat::number_of_executed_units|Done )' $$log | tr '\n' ' '; \
	    echo; \
	else \
	    echo "FAILED: fuzz $(1) (log: $$log)"; tail -n 60 $$log; exit 1; \
	fi
endef

fuzz: $(FUZZ_BINS)
	@fail=0; $(foreach f,$(FUZZERS),( $(call fuzz_one,$(f),$(FUZZ_SECONDS)) ) || fail=1;) \
	exit $$fail

# The same, one target per harness, for make -j (make test runs two at once).
fuzz-smoke-all: $(FUZZERS:%=fuzz-smoke-%)

fuzz-smoke: $(FUZZ_BINS)
	@fail=0; $(foreach f,$(FUZZERS),( $(call fuzz_one,$(f),$(FUZZ_SMOKE_SECONDS)) ) || fail=1;) \
	exit $$fail

# Replay the committed corpus (seeds and regression inputs) once: no fuzzing.
fuzz-regress: $(FUZZ_BINS)
	@fail=0; for f in $(FUZZERS); do \
	    echo "== fuzz-regress $$f"; \
	    mkdir -p $(FUZZ_BUILD)/artifacts; \
	    $(FUZZ_BUILD)/fuzz_$$f -runs=0 \
	        -artifact_prefix=$(CURDIR)/$(FUZZ_BUILD)/artifacts/$$f- \
	        $(CURDIR)/$(FUZZ_SRC)/corpus/$$f \
	        >$(FUZZ_BUILD)/regress_$$f.log 2>&1 || { fail=1; \
	        echo "FAILED: $$f"; tail -n 40 $(FUZZ_BUILD)/regress_$$f.log; }; \
	done; exit $$fail
