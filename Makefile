# airfactory — build, test and demo entry points.
#
#   make          release build: build/release/{libairfactory.a,airfactory,airfactory-serve}
#   make check    ASan+UBSan build, then every test suite; last line "N passed, M failed"
#   make run      fixtures -> demo bundle -> airfactory-serve on 127.0.0.1:8080
#                 (check and run first run scripts/install-deps.sh: all the set-up a fresh Debian
#                 machine needs; a second make then does the work, on every core unless -j is given)
#   make deps     scripts/install-deps.sh only
#   make demo     fixtures -> demo bundle (build/demo/bundle), no server
#   make fuzz     libFuzzer targets under tests/fuzz (clang), a short run each (20 s)
#   make fuzz-long the campaign: one hour per target, on an idle machine (docs/testing.md)
#   make bench    benchmarks under bench/, report in bench/results/REPORT.md
#   make install  PREFIX=/usr/local DESTDIR=
#   make image    OCI images (oci-archive) of airfactory-serve and airfactory in build/image/
#   make deb      Debian packages (debian/, debhelper) in build/deb/: airfactory, airfactory-dev, -dbgsym
#   make format   clang-format (.clang-format) over every C file; scripts/check-format checks it
#
# Every library is found through pkg-config; nothing else is searched for.

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man
CC      ?= cc
PKG_CONFIG ?= pkg-config

PKGS := libarchive liblzma openssl yaml-0.1 sqlite3 libzstd libsquashfs1 libisofs-1 zlib
# libcurl is linked into the airfactory program only (`airfactory pull`, src/registry): the server,
# airfactory-serve, must not carry an HTTP client (tests/integration/pull.sh checks with ldd).
PULL_PKGS := libcurl

# Goals that need no library: `make check` and `make run` install them first (see below).
NO_LIB_GOALS := clean deps check run
ifneq ($(filter-out $(NO_LIB_GOALS),$(or $(MAKECMDGOALS),all)),)
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
GEN     := build/gen
INCS    := -Iinclude -Isrc -I$(GEN)

RELEASE_CFLAGS := -O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2
RELEASE_LDFLAGS := -Wl,-z,relro,-z,now
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


.PHONY: FORCE format deb image all man check check-now run run-now deps demo fuzz fuzz-long bench install clean fixtures unit-tests
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
	@$(CC) $(RELEASE_CFLAGS) $(RELEASE_LDFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(PULL_LIBS)
$(R)/airfactory-serve: $(call objs,$(R),$(SERVE_SRC)) $(R)/libairfactory.a
	@echo '  LINK   $@'
	@$(CC) $(RELEASE_CFLAGS) $(RELEASE_LDFLAGS) $(LDFLAGS) -Wl,--as-needed -o $@ $^ $(PKG_LIBS)
# the image writer of `make image` (tools/oci_image.c): a build tool on the library, not installed
$(R)/airfactory-oci-image: $(R)/obj/tools/oci_image.o $(R)/libairfactory.a
	@echo '  LINK   $@'
	@$(CC) $(RELEASE_CFLAGS) $(RELEASE_LDFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)
$(A)/airfactory: $(call objs,$(A),$(CLI_SRC)) $(A)/libairfactory.a
	@echo '  LINK   $@'
	@$(CC) $(ASAN_CFLAGS) -o $@ $^ $(PKG_LIBS) $(PULL_LIBS)
$(A)/airfactory-serve: $(call objs,$(A),$(SERVE_SRC)) $(A)/libairfactory.a
	@echo '  LINK   $@'
	@$(CC) $(ASAN_CFLAGS) -Wl,--as-needed -o $@ $^ $(PKG_LIBS)

# --version: the commit (`-dirty` for a changed tree) and the build date (SOURCE_DATE_EPOCH, else
# the commit's), baked into the two programs. Regenerated on every make, rewritten only when its
# text changes, so only a new commit or a change of dirtiness rebuilds the two main files.
BUILD_INFO := $(GEN)/airfactory_build.h
$(BUILD_INFO): FORCE
	@mkdir -p $(dir $@)
	@bash scripts/version-header >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv -f $@.tmp $@; fi
FORCE:
$(call objs,$(R),src/cli/airfactory.c $(SERVE_SRC)) $(call objs,$(A),src/cli/airfactory.c $(SERVE_SRC)): $(BUILD_INFO)

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

# ---- set-up: the README's two commands, `make run` and `make check`, each install what is missing
# (idempotent, about a second when nothing is), then run a second make that reads this Makefile
# with the libraries present. Without -j that make uses every core (CI runs exactly `make check`).
deps:
	@bash scripts/install-deps.sh
check run: deps
	@$(MAKE) --no-print-directory $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc)) $@-now

# ---- tests: unit (C), integration (shell + real clients), boot (QEMU) ----
# the packages and images only when a package suite is among those TESTS selects
PACKAGE_SUITES := integration/package_deb.sh integration/package_image.sh
PACKAGES := $(if $(TESTS),$(if $(findstring $(TESTS),$(PACKAGE_SUITES)),deb image),deb image)
check-now: $(A)/airfactory $(A)/airfactory-serve unit-tests all $(PACKAGES) fixtures
	@AIRFACTORY_BUILD=$(A) bash tests/run.sh

fixtures:
	@if [ -f scripts/make-fixtures ]; then bash scripts/make-fixtures; fi

demo: all fixtures
	@bash scripts/make-demo

run-now: demo
	@bash scripts/run-demo

# ---- fuzzing: libFuzzer needs clang ----
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
# clang's -Wmissing-field-initializers also flags positional initializers that leave trailing
# fields zero ({0, "SELECT ..."} in the index.db query tables), which C defines and gcc's -Wextra
# accepts; the library's own build is gcc's
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -Wno-missing-field-initializers
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

# ---- manual pages: generated from the programs' own --help by help2man (scripts/gen-man), one per
# command and subcommand, with the prose of docs/man/*.h2m; dated SOURCE_DATE_EPOCH (else the commit's)
MAN_DIR := build/man
man: $(MAN_DIR)/.stamp
$(MAN_DIR)/.stamp: $(R)/airfactory $(R)/airfactory-serve scripts/gen-man $(wildcard docs/man/*.h2m) VERSION
	@echo '  MAN    $(MAN_DIR)'
	@rm -rf $(MAN_DIR) && SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || echo 0)} \
	  bash scripts/gen-man $(R) $(MAN_DIR) $(VERSION) && touch $@

# the pkg-config file names the libraries libairfactory.a links as Requires (it is static only)
install: all man
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)/airfactory \
	  $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(R)/airfactory $(R)/airfactory-serve $(DESTDIR)$(BINDIR)/
	install -m 644 $(R)/libairfactory.a $(DESTDIR)$(LIBDIR)/
	install -m 644 include/airfactory/*.h $(DESTDIR)$(INCDIR)/airfactory/
	install -m 644 $(MAN_DIR)/*.1 $(DESTDIR)$(MANDIR)/man1/
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCDIR)' '' \
	  'Name: airfactory' \
	  'Description: Talos Image Factory for air-gapped sites: manifests, verification, bundles, serving' \
	  'Version: $(VERSION)' 'Requires: $(PKGS) $(PULL_PKGS)' \
	  'Libs: -L$${libdir} -lairfactory -lpthread' 'Cflags: -I$${includedir}' \
	  >$(DESTDIR)$(LIBDIR)/pkgconfig/airfactory.pc

# ---- packages: dpkg-buildpackage over debian/ (debhelper), on this tree as it is: the release
# build is reused, the .deb files land in build/deb/ (debian/rules), lintian checks them. The
# build date stays the release build's (dpkg-buildpackage would take debian/changelog's).
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
DEB_FILE := build/deb/airfactory_$(VERSION)_$(DEB_ARCH).deb
deb: $(DEB_FILE)
$(DEB_FILE): $(R)/airfactory $(R)/airfactory-serve $(R)/libairfactory.a \
             $(wildcard debian/control debian/rules debian/changelog debian/copyright debian/*.install \
                        debian/*.links debian/source/format debian/bash-completion/* docs/man/*.h2m scripts/gen-man \
                        contrib/systemd/* include/airfactory/*.h) Makefile VERSION CHANGELOG.md LICENSE
	@rm -rf build/deb && mkdir -p build/deb
	SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null)} \
	dpkg-buildpackage -b --no-sign -nc -uc -us \
	  --buildinfo-option=-ubuild/deb --buildinfo-file=build/deb/airfactory_$(VERSION)_$(DEB_ARCH).buildinfo \
	  --changes-option=-ubuild/deb --changes-file=build/deb/airfactory_$(VERSION)_$(DEB_ARCH).changes
	lintian --fail-on error build/deb/airfactory_$(VERSION)_$(DEB_ARCH).changes

# ---- container images: scripts/make-image (the release binaries, exactly the shared libraries ldd
# names, /etc/passwd with a non-root user, no shell) -> build/image/*.oci.tar, deterministic
IMAGE_FILES := build/image/airfactory-serve.oci.tar build/image/airfactory.oci.tar
image: $(IMAGE_FILES)
$(IMAGE_FILES) &: $(R)/airfactory $(R)/airfactory-serve $(R)/airfactory-oci-image scripts/make-image VERSION
	@bash scripts/make-image

format:
	find src include tools tests/unit tests/fuzz -name '*.[ch]' -print0 | xargs -0 clang-format -i --style=file

clean:
	rm -rf build/release build/asan build/gen build/deb build/image build/man
	rm -rf debian/.debhelper debian/airfactory debian/airfactory-dev debian/tmp debian/files \
	  debian/*.substvars debian/*.debhelper.log debian/debhelper-build-stamp
