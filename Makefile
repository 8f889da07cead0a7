# ngx_thim: build, run and test.
#
#   make run     nginx with the module on https://127.0.0.1:8443
#   make test    everything: deps, build, unit and integration tests
#
# Everything built lands in build/ (ignored by git).

BUILD      := $(CURDIR)/build
OBJS       := $(BUILD)/objs
MODULE     := $(OBJS)/ngx_http_thim_module.so
NGX_SRC    := $(BUILD)/nginx-src

# Debian packages: what the build, the tests and the benchmarks use
DEB_PKGS   := nginx nginx-dev libssl-dev libjansson-dev libcurl4-openssl-dev \
              libio-socket-ssl-perl libnet-ssleay-perl perl openssl wrk curl \
              gcc make dpkg-dev

SRCS       := ngx_thim_module.c $(wildcard src/*.c src/*.h)

# pure parsers with C unit tests (TAP), linked without the nginx runtime
UNIT_SRCS  := $(wildcard t/unit/test_*.c)
UNIT_BINS  := $(patsubst t/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))
UNIT_INCS  := -I $(NGX_SRC)/src/core -I $(NGX_SRC)/src/event \
              -I $(NGX_SRC)/src/event/modules -I $(NGX_SRC)/src/os/unix \
              -I $(OBJS) -I src -I t/unit -I tools/thimctl
UNIT_CFLAGS := -g -O1 -Wall -Wextra -Wno-unused-parameter -Werror \
               -fsanitize=address,undefined -fno-omit-frame-pointer

PROVE      := prove

# thimctl: the command-line companion, linked with the module's pure code
THIMCTL     := $(BUILD)/thimctl
THIMCTL_SRCS := $(wildcard tools/thimctl/*.c)
THIMCTL_PURE := src/ngx_thim_args.c src/ngx_thim_x509.c src/ngx_thim_verify.c \
                src/ngx_thim_tcbm.c src/ngx_thim_intel_json.c \
                src/ngx_thim_strict_json.c \
                src/ngx_thim_pck.c src/ngx_thim_sgx_ext.c src/ngx_thim_pck_set.c
THIMCTL_CFLAGS := -g -O2 -Wall -Wextra -Wno-unused-parameter -Werror \
                  -D_GNU_SOURCE
THIMCTL_LDFLAGS :=
THIMCTL_ASAN := $(BUILD)/asan/thimctl
THIMCTL_DEPS := $(THIMCTL_SRCS) $(THIMCTL_PURE) tools/thimctl/thimctl.h \
                $(wildcard src/*.h) $(OBJS)/Makefile

# what a unit test links besides its sources
UNIT_LINK_test_x509 := -lcrypto
UNIT_LINK_test_verify := -lcrypto
UNIT_LINK_test_strict_json := -lcrypto -ljansson
UNIT_LINK_test_pck := -ljansson
UNIT_LINK_test_sgx_ext := -lcrypto -ljansson
UNIT_LINK_test_pck_set := -lcrypto -ljansson
UNIT_LINK_test_thimctl := -lcrypto

# nginx and the module built with ASan + UBSan, for a second test pass
ASAN_OBJS  := $(BUILD)/asan/nginx-1.22.1/objs
ASAN_ENV   := ASAN_OPTIONS=detect_leaks=0:detect_odr_violation=0 \
              UBSAN_OPTIONS=print_stacktrace=1 \
              TEST_NGINX_BINARY=$(ASAN_OBJS)/nginx \
              TEST_THIM_MODULE=$(ASAN_OBJS)/ngx_http_thim_module.so \
              TEST_THIMCTL=$(THIMCTL_ASAN)

.PHONY: all deps run test test-plain test-asan test-parallel test-matrix \
        matrix deb bench bench-scale bench-pages fuzz fuzz-ci fuzz-deps fuzz-corpus \
        bundle clean deployment-svg

all: $(MODULE) $(UNIT_BINS) $(THIMCTL)

# Install exactly the packages that are missing (needs root when any is).
deps:
	@missing=$$(for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	      | grep -q '^install ok installed$$' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing:" $$missing; \
	    if [ "$$(id -u)" != 0 ]; then \
	        echo "missing packages and not root: run 'sudo make deps'"; \
	        exit 1; \
	    fi; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends \
	        $$missing >/dev/null; \
	fi

$(OBJS)/Makefile: config scripts/build-module.sh
	scripts/build-module.sh $(CURDIR) $(BUILD)

$(MODULE): $(OBJS)/Makefile $(SRCS)
	$(MAKE) -s -f $(OBJS)/Makefile -C $(NGX_SRC) modules

$(BUILD)/unit/%: t/unit/%.c t/unit/tap.h $(wildcard src/*.c src/*.h) \
                 $(wildcard tools/thimctl/*) $(OBJS)/Makefile
	@mkdir -p $(BUILD)/unit
	$(CC) $(UNIT_CFLAGS) $(UNIT_INCS) -o $@ $< $(UNIT_LINK_$*)

$(THIMCTL): $(THIMCTL_DEPS)
	$(CC) $(THIMCTL_CFLAGS) $(UNIT_INCS) $(THIMCTL_LDFLAGS) -o $@ \
	    $(THIMCTL_SRCS) $(THIMCTL_PURE) -lcurl -ljansson -lcrypto

# thimctl(1), from docs/thimctl.md (go-md2man: make deb installs it)
$(BUILD)/thimctl.1: docs/thimctl.md scripts/thimctl-man.sh
	@mkdir -p $(BUILD)
	scripts/thimctl-man.sh docs/thimctl.md >$@

# the same with ASan and UBSan, for the sanitizer pass of make test
$(THIMCTL_ASAN): $(THIMCTL_DEPS)
	@mkdir -p $(BUILD)/asan
	$(CC) $(UNIT_CFLAGS) -D_GNU_SOURCE $(UNIT_INCS) -o $@ $(THIMCTL_SRCS) \
	    $(THIMCTL_PURE) -lcurl -ljansson -lcrypto

run: deps all
	scripts/run.sh

# conf/bundle, the offline collateral make run is seeded from, from t/data
bundle:
	scripts/make-bundle.pl --data t/data --out conf/bundle

# Every test four times: against Debian's nginx and against nginx and the
# module built with sanitizers, both passes at once (each is the other's
# load, so the suite proves on every run that it holds on a busy
# machine); then against nginx.org's stable and mainline (make
# test-matrix), also both at once.  As root, the Debian packages are
# built first, for t/deb.t.  What failed in any pass is printed last
# (scripts/test-summary.sh): CI shows the end of the output.
test:
	@rc=0; rm -f $(BUILD)/test-*.log; \
	if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory deb || rc=1; fi; \
	$(MAKE) --no-print-directory test-parallel || rc=1; \
	$(MAKE) --no-print-directory test-matrix || rc=1; \
	echo "summary of the passes:"; \
	scripts/test-summary.sh $(BUILD)/test-plain.log $(BUILD)/test-asan.log \
	    $(foreach v,$(MATRIX_VERSIONS),$(BUILD)/test-nginx-$(v).log); \
	exit $$rc

# one pass against Debian's nginx alone
test-plain: deps all
	$(PROVE) -r t/

# The whole suite again against nginx and ngx_thim built with sanitizers;
# a sanitizer report in any error log fails its test.  Skipped (loudly)
# only when Debian's nginx source package cannot be fetched here.
test-asan: $(THIMCTL_ASAN)
	@scripts/build-asan.sh $(CURDIR) $(BUILD); rc=$$?; \
	if [ $$rc = 2 ]; then \
	    echo "SKIPPED sanitizer pass: nginx 1.22.1 source not available"; \
	    exit 0; \
	fi; \
	[ $$rc = 0 ] || exit $$rc; \
	echo "sanitizer pass (ASan + UBSan nginx and module):"; \
	$(ASAN_ENV) $(PROVE) -r t/

# Both passes at once, each the other's load.  Ports never collide between the two
# runs (t/lib/ThimTest.pm locks each port it hands out); each pass's
# output is kept in build/ and printed when both are done.
test-parallel: deps all $(THIMCTL_ASAN)
	@scripts/build-asan.sh $(CURDIR) $(BUILD); rc=$$?; \
	if [ $$rc = 2 ]; then \
	    echo "SKIPPED sanitizer pass: nginx 1.22.1 source not available"; \
	    exec $(PROVE) -r t/; \
	fi; \
	[ $$rc = 0 ] || exit $$rc; \
	echo "plain and sanitizer passes in parallel:"; \
	$(PROVE) -r t/ >$(BUILD)/test-plain.log 2>&1 & plain=$$!; \
	$(ASAN_ENV) $(PROVE) -r t/ >$(BUILD)/test-asan.log 2>&1 & asan=$$!; \
	wait $$plain; prc=$$?; wait $$asan; arc=$$?; \
	echo "== plain pass (exit $$prc)"; cat $(BUILD)/test-plain.log; \
	echo "== sanitizer pass (exit $$arc)"; cat $(BUILD)/test-asan.log; \
	[ $$prc = 0 ] && [ $$arc = 0 ]

# nginx.org's current stable and mainline, from the sources in
# vendor/nginx (its README: tags, commits, SHA256SUMS, checked before
# use), configured as nginx.org's packages are, each with the module
# built against it (scripts/build-nginx.sh); Debian's 1.22.1 is the
# plain pass's.
MATRIX_VERSIONS := 1.30.4 1.31.4
MATRIX          := $(BUILD)/matrix
matrix_env = TEST_NGINX_BINARY=$(MATRIX)/nginx-$(1)/objs/nginx \
             TEST_THIM_MODULE=$(MATRIX)/nginx-$(1)/objs/ngx_http_thim_module.so

matrix:
	@for v in $(MATRIX_VERSIONS); do \
	    echo "building nginx $$v and the module"; \
	    scripts/build-nginx.sh $$v $(CURDIR) $(MATRIX) || exit 1; \
	done

# the suite against each of them, all at once (each the others' load);
# each pass's output is kept in build/ and printed when all are done
test-matrix: deps all matrix
	@echo "passes against nginx $(MATRIX_VERSIONS) in parallel:"; \
	pids=; for v in $(MATRIX_VERSIONS); do \
	    env $(call matrix_env,$$v) $(PROVE) -r t/ \
	        >$(BUILD)/test-nginx-$$v.log 2>&1 & pids="$$pids $$!"; \
	done; \
	rc=0; set -- $(MATRIX_VERSIONS); for p in $$pids; do \
	    wait $$p; prc=$$?; [ $$prc = 0 ] || rc=1; \
	    echo "== nginx $$1 pass (exit $$prc)"; \
	    cat $(BUILD)/test-nginx-$$1.log; shift; \
	done; \
	exit $$rc

# The Debian packages libnginx-mod-http-thim and thimctl (debian/), built
# with debhelper from a copy of the tree in build/deb/src, then checked
# with lintian: build/deb/*.deb.
DEB_TOOLS := debhelper dpkg-dev lintian go-md2man nginx nginx-dev \
             libssl-dev libjansson-dev libcurl4-openssl-dev
DEB_DIR   := $(BUILD)/deb

deb:
	@$(MAKE) --no-print-directory deps DEB_PKGS="$(DEB_TOOLS)"
	@rm -rf $(DEB_DIR); mkdir -p $(DEB_DIR)/src
	@tar -C $(CURDIR) --exclude=./build --exclude=./.git \
	    --exclude=./vendor -cf - . | tar -C $(DEB_DIR)/src -xf -
	@echo "dpkg-buildpackage (log: $(DEB_DIR)/build.log)"
	@cd $(DEB_DIR)/src && dpkg-buildpackage -b -us -uc \
	    >$(DEB_DIR)/build.log 2>&1 || { tail -40 $(DEB_DIR)/build.log; exit 1; }
	lintian --fail-on error,warning --display-info $(DEB_DIR)/*.changes
	@ls $(DEB_DIR)/*.deb

bench: deps all $(BUILD)/tools/verify-bench $(BUILD)/tools/gen-tcb
	$(BUILD)/tools/verify-bench $(CURDIR)/t/data
	bench/run.sh
	perl bench/snapshot.pl
	perl bench/tiers.pl

# 1k, 10k and 100k entries (BENCH_SIZES): start-up, snapshot load and
# write, hits vs static with and without the writer, RSS, waiter wake-up;
# a Markdown table for docs/performance.md (bench/scale.pl).  Not in make test.
bench-scale: deps all $(BUILD)/tools/gen-tcb
	perl bench/scale.pl

# whether a waiter's wake-up grows with the zone's size on this machine,
# with no nginx: two processes on a shared mapping of 16 MB and 2 GB,
# with 4K pages and advised for huge pages (bench/wake-pages.c).  The
# kernel's shmem_enabled decides whether "huge" gets them.
BENCH_PAGES_ROUNDS ?= 3000
bench-pages: $(BUILD)/tools/wake-pages
	@echo "shmem_enabled: $$(cat /sys/kernel/mm/transparent_hugepage/shmem_enabled)"
	@echo "| mapping | pages | median us | p99 us | p99.9 us | max us | over 2 ms |"
	@echo "|---|---|---|---|---|---|---|"
	@for run in 1 2; do for mb in 16 2048; do for how in 4K huge; do \
	    $(BUILD)/tools/wake-pages $$mb $(BENCH_PAGES_ROUNDS) 50 $$how \
	        || exit 1; done; done; done

$(BUILD)/tools/wake-pages: bench/wake-pages.c
	@mkdir -p $(BUILD)/tools
	$(CC) -O2 -Wall -Wextra -Werror -o $@ $<

$(BUILD)/tools/gen-tcb: bench/gen-tcb.c
	@mkdir -p $(BUILD)/tools
	$(CC) -O2 -Wall -Wextra -Werror -o $@ $< -lcrypto

$(BUILD)/tools/verify-bench: bench/verify.c $(wildcard src/*.c src/*.h) \
                       $(OBJS)/Makefile
	@mkdir -p $(BUILD)/tools
	$(CC) -O2 -Wall -Wno-unused-parameter $(UNIT_INCS) -o $@ $< -lcrypto

# libFuzzer over the pure parsers (clang), seeded with the fixtures and
# the stored corpus (fuzz/corpus): make fuzz runs FUZZ_SECONDS; make
# fuzz-ci (in .ci/run) first replays every stored input, then fuzzes for
# FUZZ_SECONDS; any crash or differential mismatch fails it.  Not part of
# make test.
FUZZ_SECONDS ?= 60
FUZZ_PKGS  := clang libclang-rt-14-dev
FUZZ_BIN   := $(BUILD)/fuzz/fuzz_parsers
FUZZ_RUN   := $(FUZZ_BIN) -max_len=16384 -artifact_prefix=$(BUILD)/fuzz/

# the compiler and libFuzzer's runtime, for the fuzz targets only
fuzz-deps:
	@$(MAKE) --no-print-directory deps DEB_PKGS="$(FUZZ_PKGS)"

$(FUZZ_BIN): fuzz/fuzz_parsers.c $(wildcard src/*.c src/*.h) \
             $(wildcard tools/thimctl/*) $(OBJS)/Makefile
	@command -v clang >/dev/null || { echo "make fuzz needs clang"; exit 1; }
	@mkdir -p $(BUILD)/fuzz
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    $(UNIT_INCS) -o $@ fuzz/fuzz_parsers.c -lcrypto -ljansson

fuzz-corpus:
	@rm -rf $(BUILD)/fuzz/corpus; mkdir -p $(BUILD)/fuzz/corpus
	@i=0; for f in t/data/intel/pcs/*/*.json t/data/intel/root/*.der \
	        t/data/intel/pckcerts/*.json t/data/intel/pckcerts/*.pem \
	        t/data/amd/milan/cert_chain.pem t/data/amd/milan/crl.der; do \
	    for sel in 0 1 2 3 4 5 6 7; do \
	        { printf "\\$$(printf %o $$sel)"; cat $$f; } \
	            >$(BUILD)/fuzz/corpus/seed-$$i-$$sel; \
	    done; i=$$((i + 1)); done

fuzz: deps fuzz-deps $(FUZZ_BIN) fuzz-corpus
	$(FUZZ_RUN) -max_total_time=$(FUZZ_SECONDS) $(BUILD)/fuzz/corpus \
	    fuzz/corpus

fuzz-ci: fuzz-deps $(FUZZ_BIN) fuzz-corpus
	$(FUZZ_RUN) -runs=0 fuzz/corpus $(BUILD)/fuzz/corpus
	$(FUZZ_RUN) -max_total_time=$(FUZZ_SECONDS) $(BUILD)/fuzz/corpus \
	    fuzz/corpus

# the topology picture of docs/deployment.md, from its text source
deployment-svg: docs/deployment.dot
	dot -Tsvg docs/deployment.dot -o docs/deployment.svg

clean:
	rm -rf $(BUILD)
