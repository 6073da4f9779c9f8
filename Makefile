# airfactory — build, test and demo entry points.
#
#   make          release build: build/release/{libairfactory.a,airfactory,airfactory-serve}
#   make check    ASan+UBSan build, then every test suite; last line "N passed, M failed"
#   make run      fixtures -> demo bundle -> airfactory-serve on 127.0.0.1:8080
#   make demo     fixtures -> demo bundle (build/demo/bundle), no server
#   make fuzz     libFuzzer targets under tests/fuzz (clang), a short run each (20 s)
#   make fuzz-long the campaign: one hour per target, on an idle machine (docs/testing.md)
#   make bench    benchmarks under bench/, report in bench/results/REPORT.md
#   make install  PREFIX=/usr/local DESTDIR=
#
# Every library is found through pkg-config; nothing else is searched for.

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
CC      ?= cc
PKG_CONFIG ?= pkg-config

PKGS := libarchive liblzma openssl yaml-0.1 sqlite3 libzstd libsquashfs1 libisofs-1 zlib
# libcurl is linked into the airfactory program only (`airfactory pull`, src/registry): the server,
# airfactory-serve, must not carry an HTTP client (tests/integration/pull.sh checks with ldd).
PULL_PKGS := libcurl

ifeq ($(filter clean,$(MAKECMDGOALS)),)
PKG_MISSING := $(shell for p in $(PKGS) $(PULL_PKGS); do $(PKG_CONFIG) --exists $$p || echo $$p; done)
ifneq ($(strip $(PKG_MISSING)),)
$(error missing libraries: $(PKG_MISSING) — run scripts/install-deps.sh (Debian) and retry)
endif
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) $(PULL_PKGS))
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS)) -lpthread
PULL_LIBS  := $(shell $(PKG_CONFIG) --libs $(PULL_PKGS))
endif

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter -Wformat=2 -Wvla
CSTD    := -std=c17 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
DEFS    := -DAIRFACTORY_VERSION='"$(VERSION)"'
INCS    := -Iinclude -Isrc

RELEASE_CFLAGS := -O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2
ASAN_CFLAGS    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                  -fno-sanitize-recover=undefined

LIB_SRC   := $(sort $(shell find src -name '*.c' -not -path 'src/cli/*'))
CLI_SRC   := $(sort $(wildcard src/cli/cmd_*.c)) src/cli/airfactory.c
SERVE_SRC := src/cli/airfactory_serve.c
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
HEADERS   := $(shell find include src tests/unit -name '*.h')

# $(call objs,DIR,SOURCES)
objs = $(patsubst %.c,$(1)/obj/%.o,$(2))

R := build/release
A := build/asan


.PHONY: all check run demo fuzz fuzz-long bench install clean fixtures unit-tests
all: $(R)/airfactory $(R)/airfactory-serve

# ---- compile rules, one set per flavour ----
$(R)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo '  CC     $<'
	@$(CC) $(CSTD) $(WARN) $(RELEASE_CFLAGS) $(DEFS) $(INCS) $(PKG_CFLAGS) -c $< -o $@
$(A)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo '  CC     $<'
	@$(CC) $(CSTD) $(WARN) $(ASAN_CFLAGS) $(DEFS) $(INCS) -Itests/unit $(PKG_CFLAGS) -c $< -o $@

$(R)/libairfactory.a: $(call objs,$(R),$(LIB_SRC))
	@rm -f $@; ar rcs $@ $^
$(A)/libairfactory.a: $(call objs,$(A),$(LIB_SRC))
	@rm -f $@; ar rcs $@ $^

$(R)/airfactory: $(call objs,$(R),$(CLI_SRC)) $(R)/libairfactory.a
	@echo '  LINK   $@'
	@$(CC) $(RELEASE_CFLAGS) -o $@ $^ $(PKG_LIBS) $(PULL_LIBS)
$(R)/airfactory-serve: $(call objs,$(R),$(SERVE_SRC)) $(R)/libairfactory.a
	@echo '  LINK   $@'
	@$(CC) $(RELEASE_CFLAGS) -Wl,--as-needed -o $@ $^ $(PKG_LIBS)
$(A)/airfactory: $(call objs,$(A),$(CLI_SRC)) $(A)/libairfactory.a
	@echo '  LINK   $@'
	@$(CC) $(ASAN_CFLAGS) -o $@ $^ $(PKG_LIBS) $(PULL_LIBS)
$(A)/airfactory-serve: $(call objs,$(A),$(SERVE_SRC)) $(A)/libairfactory.a
	@echo '  LINK   $@'
	@$(CC) $(ASAN_CFLAGS) -Wl,--as-needed -o $@ $^ $(PKG_LIBS)

# src/talos/profile.c and src/imager/catalog.c embed profiles/*.yaml (core/embed.h, assembler
# .incbin): rebuild them when the data changes
PROFILE_DATA := $(wildcard profiles/*.yaml)
$(R)/obj/src/talos/profile.o $(A)/obj/src/talos/profile.o: $(PROFILE_DATA)
$(R)/obj/src/imager/catalog.o $(A)/obj/src/imager/catalog.o: $(PROFILE_DATA)

UNIT_BINS := $(patsubst tests/unit/%.c,$(A)/tests/%,$(UNIT_SRC))
# named explicitly, so make keeps them (a pattern rule's prerequisites would be intermediates)
UNIT_OBJS := $(call objs,$(A),$(UNIT_SRC))
$(A)/tests/%: $(A)/obj/tests/unit/%.o $(A)/libairfactory.a
	@mkdir -p $(dir $@)
	@echo '  LINK   $@'
	@$(CC) $(ASAN_CFLAGS) -o $@ $^ $(PKG_LIBS) $(PULL_LIBS)

unit-tests: $(UNIT_BINS) $(UNIT_OBJS)

# ---- tests: unit (C), integration (shell + real clients), boot (QEMU) ----
check: $(A)/airfactory $(A)/airfactory-serve unit-tests all fixtures
	@AIRFACTORY_BUILD=$(A) bash tests/run.sh

fixtures:
	@if [ -f scripts/make-fixtures ]; then bash scripts/make-fixtures; fi

demo: all fixtures
	@bash scripts/make-demo

run: demo
	@bash scripts/run-demo

# ---- fuzzing: libFuzzer needs clang ----
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined
$(A)/fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(HEADERS) $(PROFILE_DATA)
	@mkdir -p $(dir $@)
	clang $(CSTD) $(WARN) $(FUZZ_CFLAGS) $(DEFS) $(INCS) $(PKG_CFLAGS) -o $@ $< $(LIB_SRC) $(PKG_LIBS) $(PULL_LIBS)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(A)/fuzz/%,$(FUZZ_SRC))
fuzz: $(FUZZ_BINS)
	@bash tests/fuzz/run.sh $(A)/fuzz
fuzz-long: $(FUZZ_BINS)
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-3600} bash tests/fuzz/run.sh $(A)/fuzz

bench: all
	@bash bench/run.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR)/airfactory
	install -m 755 $(R)/airfactory $(R)/airfactory-serve $(DESTDIR)$(BINDIR)/
	install -m 644 $(R)/libairfactory.a $(DESTDIR)$(LIBDIR)/
	install -m 644 include/airfactory/*.h $(DESTDIR)$(INCDIR)/airfactory/

clean:
	rm -rf build/release build/asan
