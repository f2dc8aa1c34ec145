# zkcell: the front door.  The real build is meson (build/ and build-asan/).
#   make                  build
#   make check            install missing packages, build twice (normal and
#                         ASan+UBSan), start the servers tests need, run every
#                         test in both builds, print "N passed, N failed"
#   make install PREFIX=DIR
#   make bench            benchmarks (ratios against other tools, same run);
#                         the report: bench/report.md
#   make fuzz             build libFuzzer targets with clang and run each briefly
#   make tsan             ThreadSanitizer build (clang, build-tsan/): the unit,
#                         conformance and integration suites with the servers
#                         up; "N passed, N failed" (not part of make check)
#   make soak             the fault matrix (tests/faults), SOAK_SECONDS per
#                         cell (39 cells), its table printed; history log
#                         in build/fault-matrix.log; then zkocc with 1,000
#                         clients and zkns-pdns under dnsperf for
#                         LOAD_SECONDS each, memory sampled
#   make valgrind         memcheck (definite leaks, invalid accesses) over
#                         the unit tests of core/cells/tree, zk on the
#                         fake, zkocc and zkns-pdns for a short session;
#                         "N passed, N failed" (not part of make check)
#   make demo             a short tour on local servers
#   make deb              Debian packages (debian/) in build-deb/, lintian
#   make deb-check        install them with apt, use them, purge them
PREFIX ?= /usr/local
BUILD ?= build
ASAN ?= build-asan
MESON ?= meson
TSAN ?= build-tsan
FUZZ_SECONDS ?= 20
DEB ?= build-deb
SOAK_SECONDS ?= 60
LOAD_SECONDS ?= 10

.PHONY: all deps build check test install bench fuzz demo clean format tsan deb deb-check soak \
	valgrind

all: build

deps:
	@./scripts/deps.sh

$(BUILD)/build.ninja:
	@$(MESON) setup $(BUILD) --prefix=$(abspath $(PREFIX)) >/dev/null

$(ASAN)/build.ninja:
	@$(MESON) setup $(ASAN) -Db_sanitize=address,undefined -Db_lundef=false \
	    -Dbuildtype=debug >/dev/null

$(TSAN)/build.ninja:
	@CC=clang $(MESON) setup $(TSAN) -Db_sanitize=thread -Db_lundef=false \
	    -Dbuildtype=debug >/dev/null

build: deps $(BUILD)/build.ninja
	@ninja -C $(BUILD) >/dev/null || ninja -C $(BUILD)

build-asan: deps $(ASAN)/build.ninja
	@ninja -C $(ASAN) >/dev/null || ninja -C $(ASAN)

# Both suites run with the same servers up; servers are started by zkctl
# on free loopback ports and stopped by their recorded PIDs.
check: build build-asan
	@./scripts/with-servers.sh $(BUILD) sh -c '\
	    $(MESON) test -C $(BUILD) --no-rebuild --print-errorlogs -q >/dev/null 2>&1; \
	    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    $(MESON) test -C $(ASAN) --no-rebuild --print-errorlogs -q --timeout-multiplier 3 >/dev/null 2>&1; \
	    true'
	@./scripts/report.sh $(BUILD) $(ASAN)

test: check

# ThreadSanitizer: any report fails its test (exit code 66).  The only
# suppressions are the C client's own races, each justified in
# tests/tsan.supp.  Slow (several times the normal build's time), so not
# part of make check.  Tests run one or two at a time: TSan's threads and
# shadow memory make timing-sensitive tests crowd each other out.
tsan: deps $(TSAN)/build.ninja
	@ninja -C $(TSAN) >/dev/null || ninja -C $(TSAN)
	@./scripts/with-servers.sh $(TSAN) sh -c '\
	    TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp second_deadlock_stack=1" \
	    $(MESON) test -C $(TSAN) --no-rebuild --print-errorlogs -q \
	        --suite unit --suite conformance --suite integration \
	        --num-processes 2 --timeout-multiplier 4 >/dev/null 2>&1; \
	    true'
	@/usr/bin/python3 ./scripts/tsan_reports.py $(TSAN)/meson-logs/testlog.json
	@./scripts/report.sh $(TSAN)

# The prefix is a configure option: regenerate (ninja) before installing,
# or a build set up with another prefix installs there.
install: build
	@$(MESON) configure $(BUILD) --prefix=$(abspath $(PREFIX)) >/dev/null
	@ninja -C $(BUILD) >/dev/null
	@$(MESON) install -C $(BUILD) --no-rebuild --quiet
	@echo "installed under $(abspath $(PREFIX))"

# Writes bench/report.md (with report-*.svg and report.tsv) at the end.
bench: build
	@./scripts/deps.sh bench
	@./bench/run.sh $(BUILD)

fuzz: deps
	@./fuzz/build.sh build-fuzz $(FUZZ_SECONDS)

# The long fault matrix: its own server (zkctl, a free port), which it
# kills and pauses; the table goes to stdout.
soak: build
	@ZKCTL=$(abspath $(BUILD))/src/zkctl/zkctl ZK_BIN=$(abspath $(BUILD))/src/zk/zk \
	    $(BUILD)/tests/faults/fault_matrix \
	    --seconds $(SOAK_SECONDS) --log $(BUILD)/fault-matrix.log
	@ZKCTL=$(abspath $(BUILD))/src/zkctl/zkctl $(BUILD)/tests/faults/daemon_faults \
	    $(BUILD)/src/zkocc/zkocc --seconds $(SOAK_SECONDS)
	@./scripts/with-servers.sh $(BUILD) sh -c '\
	    ZKOCC_LOAD_SECONDS=$(LOAD_SECONDS) ZKNS_LOAD_SECONDS=$(LOAD_SECONDS) \
	    $(MESON) test -C $(BUILD) --no-rebuild --num-processes 1 -v zkocc-load zkns-pdns-load'

# memcheck over a subset (scripts/valgrind.sh), the server up for zkocc
# and zkns-pdns.
valgrind: build
	@./scripts/with-servers.sh $(BUILD) ./scripts/valgrind.sh $(BUILD)

demo: build
	@./scripts/demo.sh $(BUILD)

# Packages from a copy of the tree (tracked and new files), rebuilt when a
# file changed; the package build runs no tests (they need servers).
$(DEB)/.stamp: $(wildcard $(shell git ls-files -co --exclude-standard 2>/dev/null))
	@./scripts/deps.sh
	@./scripts/deps-deb.sh
	@./scripts/deb.sh $(DEB)
	@touch $@

deb: $(DEB)/.stamp

deb-check: $(DEB)/.stamp
	@./scripts/deb-check.sh $(DEB)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN) $(TSAN) build-fuzz $(DEB)
