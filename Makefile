# daemonproxy - a proxy for process management.
#
#   make              build ./daemonproxy, ./dpctl and ./dplog (optimised, strict
#                     warnings)
#   make test         the module graph check, then build with -Werror and run
#                     unit + integration tests
#   make asan-test    the same suite against an ASan+UBSan build
#   make valgrind     the integration suite under valgrind memcheck
#   make static       fully static binaries with musl-gcc (daemonproxy-static,
#                     dpctl-static, dplog-static)
#   make fuzz         libFuzzer targets: commands for FUZZ_TIME seconds (clang;
#                     default 60), the notification parser FUZZ_NOTIFY_TIME (20),
#                     dpctl's line parser FUZZ_DPCTL_TIME (20), the re-exec
#                     state reader FUZZ_STATE_TIME (20), the restore of a
#                     state by every module FUZZ_RESTORE_TIME (40), dplog's
#                     line splitter FUZZ_DPLOG_TIME (20), the
#                     Python library's parser FUZZ_PY_TIME (20; also alone:
#                     make fuzz-py)
#   make bench        benchmarks with baselines measured in the same run
#   make bench-deps   what the benchmarks compare against: daemontools' svstat,
#                     runit's svlogd, s6's s6-log (Debian packages daemontools,
#                     runit, s6; without one, its baseline is '-')
#   make install      PREFIX=/usr/local DESTDIR= : binaries, man pages, dpctl's
#                     bash and zsh completion, and the Python library with its
#                     dpcontroller and dpweb (no pip: see install-python)
#   make clean

VERSION   := 0.1.0
CC        ?= cc
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
MANDIR    ?= $(PREFIX)/share/man/man1
PYTHON    ?= python3

# -Wno-unused-parameter: a callback takes what its type gives it, used or
# not; so no (void)x; casts either (tests/modgraph.py checks src/).
WARN      := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
             -Wpointer-arith -Wformat=2 -Wno-unused-parameter
CFLAGS    ?= -O2 -g
# CFLAGS is the user's (and the test targets') to set; these always apply.
DP_CFLAGS := -std=gnu11 $(WARN) $(CFLAGS)
DP_CPPFLAGS = -I$(B) -D_GNU_SOURCE -DDP_VERSION='"$(VERSION)"' \
             -DDP_BUILD_TS='"$(BUILD_TS)"' -DDP_GIT_HEAD='"$(GIT_HEAD)"' $(CPPFLAGS)
# Reproducible: the same sources give the same binary.  The build timestamp
# is $SOURCE_DATE_EPOCH when set, else the time of the last commit, else
# "unknown"; never the wall clock.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)
BUILD_TS  := $(if $(SOURCE_DATE_EPOCH),$(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo unknown),unknown)
GIT_HEAD  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

SRCS      := $(wildcard src/*.c)
LIBSRCS   := $(filter-out src/main.c,$(SRCS))
B         ?= build
OBJS      := $(patsubst src/%.c,$(B)/%.o,$(SRCS))
LIBOBJS   := $(patsubst src/%.c,$(B)/%.o,$(LIBSRCS))
# dpctl: cli/ plus the two daemon modules it shares (the default socket path
# and its formatter).
CLI_SRCS  := $(wildcard cli/*.c)
CLI_OBJS  := $(patsubst cli/%.c,$(B)/cli/%.o,$(CLI_SRCS)) $(B)/sockpath.o $(B)/fmt.o
# dplog, the logger: logger/ plus the daemon's syscall wrappers and formatter.
DPLOG_SRCS := $(wildcard logger/*.c)
DPLOG_OBJS := $(patsubst logger/%.c,$(B)/logger/%.o,$(DPLOG_SRCS)) $(B)/sys.o $(B)/fmt.o
# Its pure part: what the unit test and the fuzz target run in-process.
DPLOG_PURE := logger/record.c logger/stamp.c logger/options.c src/fmt.c
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/%,$(UNIT_SRCS))
# The in-process fuzz targets: every module except main.c, and a stub for
# spawn.c; commands come from a client, restore from a re-exec's state.
FUZZ_WORLD := tests/fuzz/world.c tests/fuzz/spawn_stub.c tests/fuzz/sandbox.c
FUZZ_HARNESS := tests/fuzz/fuzz_commands.c $(FUZZ_WORLD)
RESTORE_HARNESS := tests/fuzz/fuzz_restore.c $(FUZZ_WORLD)
FUZZ_DEPS := $(FUZZ_HARNESS) tests/fuzz/fuzz_restore.c tests/fuzz/fuzz.h
FUZZ_OBJS := $(filter-out $(B)/spawn.o,$(LIBOBJS))

.PHONY: all test modgraph unit integration asan-test static install install-completion install-python clean check-build bench \
        bench-deps fuzz fuzz-py fuzz-replay fuzz-corpus fuzz-coverage valgrind

all: daemonproxy dpctl dplog

daemonproxy: $(B)/daemonproxy
	cp $< $@

dpctl: $(B)/dpctl
	cp $< $@

dplog: $(B)/dplog
	cp $< $@

$(B)/dplog: $(DPLOG_OBJS)
	$(CC) $(DP_CFLAGS) $(LDFLAGS) -o $@ $(DPLOG_OBJS)

$(B)/logger/%.o: logger/%.c | $(B)
	@mkdir -p $(B)/logger
	@echo "  CC $<"
	@$(CC) $(DP_CPPFLAGS) $(DP_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/dpctl: $(CLI_OBJS)
	$(CC) $(DP_CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJS)

$(B)/cli/%.o: cli/%.c | $(B)
	@mkdir -p $(B)/cli
	@echo "  CC $<"
	@$(CC) $(DP_CPPFLAGS) -Isrc $(DP_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/daemonproxy: $(OBJS)
	$(CC) $(DP_CFLAGS) $(LDFLAGS) -o $@ $(OBJS)

# -MMD -MP: each object depends on exactly the headers it includes.
$(B)/%.o: src/%.c | $(B)
	@echo "  CC $<"
	@$(CC) $(DP_CPPFLAGS) $(DP_CFLAGS) -MMD -MP -c -o $@ $<

-include $(wildcard $(B)/*.d $(B)/cli/*.d $(B)/logger/*.d)

# --help's list of options is written once, in the man page (OPTIONS,
# between BEGIN --help and END --help): made into C string lines here, with
# sed alone, so that a fresh system builds with what it has.
MAN_BLOCK_SED = '/^\.\\" BEGIN $(1)/,/^\.\\" END $(1)/{ /^\./d; s/\\-/-/g; \
	s/\\/\\\\/g; s/"/\\"/g; s/.*/    "&\\n"/; p; }'
$(B)/usage.h: docs/daemonproxy.1 | $(B)
	sed -n $(call MAN_BLOCK_SED,--help) $< > $@.tmp && mv $@.tmp $@
$(B)/options.o: $(B)/usage.h
# dpctl's commands, each a synopsis and a description, are written once
# too: in dpctl(1) (COMMANDS, between BEGIN help and END help).
$(B)/dpctl_help.h: docs/dpctl.1 | $(B)
	sed -n $(call MAN_BLOCK_SED,help) $< > $@.tmp && mv $@.tmp $@
$(B)/cli/main.o: $(B)/dpctl_help.h
# dplog's options, in dplog(1) (OPTIONS, between BEGIN --help and END --help).
$(B)/dplog_usage.h: docs/dplog.1 | $(B)
	sed -n $(call MAN_BLOCK_SED,--help) $< > $@.tmp && mv $@.tmp $@
$(B)/logger/main.o: $(B)/dplog_usage.h


$(B):
	mkdir -p $(B)

$(B)/libdp.a: $(LIBOBJS)
	rm -f $@ && ar rcs $@ $(LIBOBJS)

# dpctl's formatting (cli/), which is no part of the daemon's library.
DPCTL_SHOW_SRCS := cli/model.c cli/show.c cli/detail.c
$(B)/test_show: tests/unit/test_show.c $(DPCTL_SHOW_SRCS) $(wildcard cli/*.h) tests/unit/unit.h | $(B)
	$(CC) $(DP_CPPFLAGS) $(DP_CFLAGS) $(LDFLAGS) -o $@ tests/unit/test_show.c $(DPCTL_SHOW_SRCS)

# dplog's pure part: the line splitter, the record formats, the options.
$(B)/test_dplog_record: tests/unit/test_dplog_record.c $(DPLOG_PURE) $(wildcard logger/*.h) \
                        tests/unit/unit.h | $(B)
	$(CC) $(DP_CPPFLAGS) $(DP_CFLAGS) $(LDFLAGS) -o $@ tests/unit/test_dplog_record.c $(DPLOG_PURE)

# What dpctl logs reads of a record (cli/logtext.c): pure too.
$(B)/test_logtext: tests/unit/test_logtext.c cli/logtext.c cli/logtext.h tests/unit/unit.h | $(B)
	$(CC) $(DP_CPPFLAGS) $(DP_CFLAGS) $(LDFLAGS) -o $@ tests/unit/test_logtext.c cli/logtext.c

$(B)/test_%: tests/unit/test_%.c $(B)/libdp.a
	$(CC) $(DP_CPPFLAGS) -Isrc $(DP_CFLAGS) -MMD -MP $(LDFLAGS) -o $@ $< $(B)/libdp.a

$(B)/fuzz_replay: tests/fuzz/replay.c $(FUZZ_DEPS) $(FUZZ_OBJS)
	$(CC) $(DP_CPPFLAGS) $(DP_CFLAGS) $(LDFLAGS) -o $@ tests/fuzz/replay.c $(FUZZ_HARNESS) \
	    $(FUZZ_OBJS)

$(B)/fuzz_restore_replay: tests/fuzz/replay.c $(FUZZ_DEPS) $(FUZZ_OBJS)
	$(CC) $(DP_CPPFLAGS) $(DP_CFLAGS) $(LDFLAGS) -o $@ tests/fuzz/replay.c $(RESTORE_HARNESS) \
	    $(FUZZ_OBJS)

# The notification parser's target is pure: no sandbox, no stubs.
$(B)/fuzz_notify_replay: tests/fuzz/replay.c tests/fuzz/fuzz_notify.c tests/fuzz/fuzz.h $(B)/libdp.a
	$(CC) $(DP_CPPFLAGS) $(DP_CFLAGS) $(LDFLAGS) -o $@ tests/fuzz/replay.c \
	    tests/fuzz/fuzz_notify.c $(B)/libdp.a

# The re-exec state reader: pure too.
$(B)/fuzz_state_replay: tests/fuzz/replay.c tests/fuzz/fuzz_state.c tests/fuzz/fuzz.h $(B)/libdp.a
	$(CC) $(DP_CPPFLAGS) $(DP_CFLAGS) $(LDFLAGS) -o $@ tests/fuzz/replay.c \
	    tests/fuzz/fuzz_state.c $(B)/libdp.a

# dpctl's parser of the daemon's lines, and its printing.
DPCTL_FUZZ_SRCS := tests/fuzz/fuzz_dpctl.c cli/model.c cli/show.c cli/detail.c cli/frame.c \
                   cli/logtext.c
$(B)/fuzz_dpctl_replay: tests/fuzz/replay.c $(DPCTL_FUZZ_SRCS) $(wildcard cli/*.h) | $(B)
	$(CC) $(DP_CPPFLAGS) $(DP_CFLAGS) $(LDFLAGS) -o $@ tests/fuzz/replay.c $(DPCTL_FUZZ_SRCS)

# dplog's line splitter and record formats, chunks split anywhere.
DPLOG_FUZZ_SRCS := tests/fuzz/fuzz_dplog.c $(DPLOG_PURE)
$(B)/fuzz_dplog_replay: tests/fuzz/replay.c $(DPLOG_FUZZ_SRCS) $(wildcard logger/*.h) tests/fuzz/fuzz.h | $(B)
	$(CC) $(DP_CPPFLAGS) $(DP_CFLAGS) $(LDFLAGS) -o $@ tests/fuzz/replay.c $(DPLOG_FUZZ_SRCS)

# --- tests ---------------------------------------------------------------
# The test build adds -Werror; the suite drives $(B)/daemonproxy.
TESTFLAGS := CFLAGS="-O1 -g -Werror"

test: modgraph
	$(MAKE) --no-print-directory B=build-test $(TESTFLAGS) check-build
	$(MAKE) --no-print-directory B=build-test unit integration

asan-test:
	$(MAKE) --no-print-directory B=build-asan \
	    CFLAGS="-O1 -g -Werror -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    LDFLAGS="-fsanitize=address,undefined" check-build
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(MAKE) --no-print-directory B=build-asan unit integration

check-build: $(B)/daemonproxy $(B)/dpctl $(B)/dplog $(UNIT_BINS) $(B)/fuzz_replay \
             $(B)/fuzz_notify_replay $(B)/fuzz_dpctl_replay $(B)/fuzz_state_replay \
             $(B)/fuzz_restore_replay $(B)/fuzz_dplog_replay

# No include cycle between modules of src/, and the claims of docs/design.md
# that a grep can check ("Layering"): tests/modgraph.py, a second.
modgraph:
	$(PYTHON) tests/modgraph.py

# The C unit tests, then the Python library's (pure, in-process).
unit: $(UNIT_BINS) fuzz-replay
	@set -e; for t in $(UNIT_BINS); do $$t; done
	$(PYTHON) -m unittest discover -q -s tests/python -t tests/python

# The seed corpus and every crasher the fuzzer found, through the targets.
fuzz-replay: $(B)/fuzz_replay $(B)/fuzz_notify_replay $(B)/fuzz_dpctl_replay $(B)/fuzz_state_replay \
             $(B)/fuzz_restore_replay $(B)/fuzz_dplog_replay
	$(B)/fuzz_replay tests/fuzz/corpus tests/fuzz/regress
	$(B)/fuzz_restore_replay tests/fuzz/restore-corpus
	$(B)/fuzz_notify_replay tests/fuzz/notify-corpus
	$(B)/fuzz_dpctl_replay tests/fuzz/dpctl-corpus
	$(B)/fuzz_state_replay tests/fuzz/state-corpus
	$(B)/fuzz_dplog_replay tests/fuzz/dplog-corpus

# --- fuzzing (clang + libFuzzer) ---------------------------------------------
FUZZ_TIME ?= 60
FUZZ_FLAGS ?=
FUZZ_B := build-fuzz
FUZZ_MODS := $(filter-out src/main.c src/spawn.c,$(SRCS))
FUZZ_SRCS := $(FUZZ_MODS) $(FUZZ_HARNESS)
$(FUZZ_B)/fuzz_commands: $(FUZZ_SRCS) $(wildcard src/*.h) tests/fuzz/fuzz.h $(B)/usage.h
	mkdir -p $(FUZZ_B)
	clang -std=gnu11 $(WARN) -O1 -g $(DP_CPPFLAGS) \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ $(FUZZ_SRCS)

$(FUZZ_B)/fuzz_restore: $(FUZZ_MODS) $(RESTORE_HARNESS) $(wildcard src/*.h) tests/fuzz/fuzz.h \
                       $(B)/usage.h
	mkdir -p $(FUZZ_B)
	clang -std=gnu11 $(WARN) -O1 -g $(DP_CPPFLAGS) \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ \
	    $(FUZZ_MODS) $(RESTORE_HARNESS)

# Line coverage of src/ by the seeds, the regressions and build-fuzz/corpus.
FUZZ_COV := build-cov
fuzz-coverage: $(B)/usage.h
	mkdir -p $(FUZZ_COV) && rm -f $(FUZZ_COV)/replay.profraw
	clang -std=gnu11 $(WARN) -O0 -g $(DP_CPPFLAGS) -fprofile-instr-generate -fcoverage-mapping \
	    -o $(FUZZ_COV)/fuzz_replay tests/fuzz/replay.c $(FUZZ_SRCS)
	LLVM_PROFILE_FILE=$(abspath $(FUZZ_COV))/replay.profraw $(FUZZ_COV)/fuzz_replay \
	    tests/fuzz/corpus tests/fuzz/regress $(wildcard $(FUZZ_B)/corpus)
	llvm-profdata merge -o $(FUZZ_COV)/replay.profdata $(FUZZ_COV)/replay.profraw
	llvm-cov report $(FUZZ_COV)/fuzz_replay -instr-profile=$(FUZZ_COV)/replay.profdata \
	    $(filter-out src/main.c src/spawn.c,$(SRCS))

# Regenerate the committed seeds from what the integration suite sends.
fuzz-corpus: $(B)/daemonproxy
	rm -rf $(FUZZ_B)/record && mkdir -p $(FUZZ_B)/record
	DP_FUZZ_RECORD=$(abspath $(FUZZ_B)/record) DAEMONPROXY=$(abspath $(B)/daemonproxy) \
	    $(PYTHON) tests/run.py
	$(PYTHON) tests/fuzz/seed.py $(FUZZ_B)/record tests/fuzz/corpus

NOTIFY_FUZZ_SRCS := tests/fuzz/fuzz_notify.c src/notify.c src/log.c src/loop.c src/protocol.c src/state.c src/sys.c src/fmt.c
$(FUZZ_B)/fuzz_notify: $(NOTIFY_FUZZ_SRCS) $(wildcard src/*.h) tests/fuzz/fuzz.h
	mkdir -p $(FUZZ_B)
	clang -std=gnu11 $(WARN) -O1 -g $(DP_CPPFLAGS) \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ $(NOTIFY_FUZZ_SRCS)

STATE_FUZZ_SRCS := tests/fuzz/fuzz_state.c src/state.c src/sys.c src/fmt.c
$(FUZZ_B)/fuzz_state: $(STATE_FUZZ_SRCS) src/state.h src/sys.h tests/fuzz/fuzz.h
	mkdir -p $(FUZZ_B)
	clang -std=gnu11 $(WARN) -O1 -g $(DP_CPPFLAGS) \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ $(STATE_FUZZ_SRCS)

$(FUZZ_B)/fuzz_dpctl: $(DPCTL_FUZZ_SRCS) $(wildcard cli/*.h) tests/fuzz/fuzz.h
	mkdir -p $(FUZZ_B)
	clang -std=gnu11 $(WARN) -O1 -g $(DP_CPPFLAGS) \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ $(DPCTL_FUZZ_SRCS)

$(FUZZ_B)/fuzz_dplog: $(DPLOG_FUZZ_SRCS) $(wildcard logger/*.h) tests/fuzz/fuzz.h
	mkdir -p $(FUZZ_B)
	clang -std=gnu11 $(WARN) -O1 -g $(DP_CPPFLAGS) \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ $(DPLOG_FUZZ_SRCS)

# New inputs go to build-fuzz/corpus; the committed seeds are read too.
# The notification parser gets FUZZ_NOTIFY_TIME seconds after that, and
# dpctl's parser FUZZ_DPCTL_TIME.
FUZZ_NOTIFY_TIME ?= 20
FUZZ_DPCTL_TIME ?= 20
FUZZ_STATE_TIME ?= 20
FUZZ_RESTORE_TIME ?= 40
FUZZ_DPLOG_TIME ?= 20
fuzz: $(FUZZ_B)/fuzz_commands $(FUZZ_B)/fuzz_notify $(FUZZ_B)/fuzz_dpctl $(FUZZ_B)/fuzz_state \
      $(FUZZ_B)/fuzz_restore $(FUZZ_B)/fuzz_dplog fuzz-py
	mkdir -p $(FUZZ_B)/corpus $(FUZZ_B)/notify-corpus $(FUZZ_B)/dpctl-corpus \
	    $(FUZZ_B)/state-corpus $(FUZZ_B)/restore-corpus $(FUZZ_B)/dplog-corpus $(FUZZ_B)/artifacts
	$(FUZZ_B)/fuzz_commands -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
	    -dict=tests/fuzz/commands.dict -artifact_prefix=$(FUZZ_B)/artifacts/ $(FUZZ_FLAGS) \
	    $(FUZZ_B)/corpus tests/fuzz/corpus
	$(FUZZ_B)/fuzz_notify -max_total_time=$(FUZZ_NOTIFY_TIME) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_B)/artifacts/notify- $(FUZZ_FLAGS) \
	    $(FUZZ_B)/notify-corpus tests/fuzz/notify-corpus
	$(FUZZ_B)/fuzz_dpctl -max_total_time=$(FUZZ_DPCTL_TIME) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_B)/artifacts/dpctl- $(FUZZ_FLAGS) \
	    $(FUZZ_B)/dpctl-corpus tests/fuzz/dpctl-corpus
	$(FUZZ_B)/fuzz_state -max_total_time=$(FUZZ_STATE_TIME) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_B)/artifacts/state- $(FUZZ_FLAGS) \
	    $(FUZZ_B)/state-corpus tests/fuzz/state-corpus
	$(FUZZ_B)/fuzz_restore -max_total_time=$(FUZZ_RESTORE_TIME) -print_final_stats=1 \
	    -max_len=262144 -artifact_prefix=$(FUZZ_B)/artifacts/restore- $(FUZZ_FLAGS) \
	    $(FUZZ_B)/restore-corpus tests/fuzz/restore-corpus
	$(FUZZ_B)/fuzz_dplog -max_total_time=$(FUZZ_DPLOG_TIME) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_B)/artifacts/dplog- $(FUZZ_FLAGS) \
	    $(FUZZ_B)/dplog-corpus tests/fuzz/dplog-corpus

# The Python library's parser (stdlib only, no clang): tests/python/fuzz_session.py.
FUZZ_PY_TIME ?= 20
fuzz-py:
	$(PYTHON) tests/python/fuzz_session.py --seconds $(FUZZ_PY_TIME) \
	    --artifacts $(FUZZ_B)/artifacts tests/fuzz/py-corpus

integration: $(B)/daemonproxy $(B)/dpctl $(B)/dplog
	DAEMONPROXY=$(abspath $(B)/daemonproxy) DPCTL=$(abspath $(B)/dpctl) \
	    DPLOG=$(abspath $(B)/dplog) $(PYTHON) tests/run.py $(TESTS)

# The integration suite with daemonproxy under valgrind memcheck (slow: about
# 20 times the normal run).  Spawning falls back to fork there; see spawn.h.
VG_DIR := build-test/valgrind
valgrind:
	$(MAKE) --no-print-directory B=build-test $(TESTFLAGS) build-test/daemonproxy
	rm -rf $(VG_DIR) && mkdir -p $(VG_DIR)
	printf '#!/bin/sh\nexec valgrind -q --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite %s "$$@"\n' \
	    $(abspath build-test/daemonproxy) > build-test/daemonproxy-valgrind
	chmod +x build-test/daemonproxy-valgrind
	DP_VALGRIND=$(abspath $(VG_DIR)) DP_TIMEOUT=60 DP_MODULE_TIMEOUT=900 \
	    DAEMONPROXY=$(abspath build-test/daemonproxy-valgrind) $(PYTHON) tests/run.py $(TESTS); \
	    s=$$?; $(PYTHON) tests/valgrind_summary.py $(VG_DIR) && exit $$s

# --- static musl build -----------------------------------------------------
# --sort-section=alignment: the large static buffers (aligned to 32) first,
# the small variables (aligned to 8 or less) packed after them: at start
# the small ones are written, and scattered between the buffers they
# dirtied one page more of .bss (idle: 6 -> 5 pages).  ld's -z separate-code
# stays (its default): the ELF header and read-only data are not mapped
# executable; it pads each segment to a page, so the file grows in 4 kB steps.
# -flto: 2.8 kB less code (small functions inlined across modules), which
# here is a page of the file.
static: daemonproxy-static dpctl-static dplog-static
STATIC_MAKE := $(MAKE) --no-print-directory B=build-static CC=musl-gcc \
	    CFLAGS="-Os -flto -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables -fno-unwind-tables" \
	    LDFLAGS="-static -flto=auto -Wl,--gc-sections -Wl,--sort-section=alignment -Wl,--build-id=none -s"
daemonproxy-static: $(SRCS) $(wildcard src/*.h) docs/daemonproxy.1
	$(STATIC_MAKE) build-static/daemonproxy
	cp build-static/daemonproxy $@
dpctl-static: $(CLI_SRCS) $(wildcard cli/*.h) docs/dpctl.1 src/sockpath.c src/sockpath.h src/fmt.c src/fmt.h
	$(STATIC_MAKE) build-static/dpctl
	cp build-static/dpctl $@
dplog-static: $(DPLOG_SRCS) $(wildcard logger/*.h) docs/dplog.1 src/sys.c src/sys.h src/fmt.c src/fmt.h
	$(STATIC_MAKE) build-static/dplog
	cp build-static/dplog $@

# --- benchmarks (never part of the test suite) ------------------------------
$(B)/dpbench: bench/dpbench.c | $(B)
	$(CC) -O2 -std=gnu11 $(WARN) -pthread -o $@ $<

bench: daemonproxy dpctl dplog $(B)/dpbench
	-$(MAKE) --no-print-directory static
	DPBENCH=$(abspath $(B)/dpbench) $(PYTHON) bench/run.py

# --no-install-recommends: runit recommends runit-run, which would start a
# system-wide runsvdir; svlogd alone is wanted (runit never replaces init:
# runit-init would).
bench-deps:
	command -v svstat >/dev/null && command -v svlogd >/dev/null && command -v s6-log >/dev/null || \
	    { apt-get update && apt-get install -y --no-install-recommends daemontools runit s6; }

# --- install ---------------------------------------------------------------
# dpctl's shell completion goes where bash-completion and zsh look by default.
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/site-functions
# install-completion alone builds nothing (tests/integration/test_dpctl_complete.py).
install: daemonproxy dpctl dplog install-completion install-python
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)
	install -m 0755 daemonproxy dpctl dplog $(DESTDIR)$(BINDIR)/
	install -m 0644 docs/daemonproxy.1 docs/dpctl.1 docs/dplog.1 docs/dpweb.1 $(DESTDIR)$(MANDIR)/

install-completion:
	install -d $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	install -m 0644 completion/dpctl.bash $(DESTDIR)$(BASHCOMPDIR)/dpctl
	install -m 0644 completion/_dpctl $(DESTDIR)$(ZSHCOMPDIR)/_dpctl

# The Python library (standard library only) in a directory of its own, and
# dpcontroller, which puts that directory first on sys.path and runs the
# reference controller as `python3 -m daemonproxy.controller` would (and
# dpweb the same way: `python3 -m daemonproxy.web`, with its static/).  No
# pip: Debian 12's python3 refuses `pip install` outside a venv (PEP 668),
# and a file copied into its dist-packages would be one apt does not know.
# A private directory also survives an upgrade of python3 (3.11 -> 3.12),
# which a versioned site-packages would not.  dpcontroller finds it
# relative to itself, so a tree installed with DESTDIR runs where it lies
# (tests/integration/test_deploy.py).  PYTHON_SHEBANG: the interpreter
# dpcontroller runs with (3.11 or later).  PYTHON_SITEDIR, when set (e.g.
# /usr/local/lib/python3.11/dist-packages on Debian), gets a daemonproxy.pth
# naming PYLIBDIR, so that the system's python3 imports daemonproxy (and
# runs python3 -m daemonproxy.controller) without PYTHONPATH.  Builds
# nothing: Dockerfile.python runs it alone.
PYLIBDIR       ?= $(PREFIX)/lib/daemonproxy/python
PYTHON_SHEBANG ?= /usr/bin/env python3
PYTHON_SITEDIR ?=
# A script in BINDIR that runs `python3 -m MODULE` with the library found
# from where the script lies: $(1) its name, $(2) the module.
define PY_SCRIPT
printf '%s\n' '#!$(PYTHON_SHEBANG)' \
	    '# $(1): python3 -m $(2), with the library in' \
	    '# $(PYLIBDIR), found from where this file lies (make install).' \
	    'import os, runpy, sys' \
	    "here = os.path.dirname(os.path.realpath(__file__))" \
	    "sys.path.insert(0, os.path.join(here, os.path.relpath('$(PYLIBDIR)', '$(BINDIR)')))" \
	    "runpy.run_module('$(2)', run_name='__main__', alter_sys=True)" \
	    > $(DESTDIR)$(BINDIR)/$(1).tmp
	chmod 0755 $(DESTDIR)$(BINDIR)/$(1).tmp
	mv $(DESTDIR)$(BINDIR)/$(1).tmp $(DESTDIR)$(BINDIR)/$(1)
endef

install-python:
	rm -rf $(DESTDIR)$(PYLIBDIR)/daemonproxy
	cd python && find daemonproxy -name __pycache__ -prune -o -type f \( -name '*.py' -o -name py.typed \
	    -o -path 'daemonproxy/web/static/*' \) -exec install -D -m 0644 {} $(DESTDIR)$(PYLIBDIR)/{} \;
	install -d $(DESTDIR)$(BINDIR)
	$(call PY_SCRIPT,dpcontroller,daemonproxy.controller)
	$(call PY_SCRIPT,dpweb,daemonproxy.web)
	$(if $(PYTHON_SITEDIR),install -d $(DESTDIR)$(PYTHON_SITEDIR) && \
	    echo '$(PYLIBDIR)' > $(DESTDIR)$(PYTHON_SITEDIR)/daemonproxy.pth)

clean:
	rm -rf build build-test build-asan build-static build-fuzz build-cov daemonproxy daemonproxy-static dpctl dpctl-static \
	    dplog dplog-static
