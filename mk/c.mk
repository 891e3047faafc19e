# The C API: libslotshift.so / libslotshift.a (crate ffi/), include/slotshift.h, tests/c/.
#
#   make header                 regenerate include/slotshift.h with the pinned cbindgen
#   make test-c                 header drift check + the C suite under valgrind (part of make test)
#   make install PREFIX=/usr/local   header, libraries and slotshift.pc
#   make bench-c                the boundary's cost: C loops vs the same loops in Rust

# Pinned: cbindgen point releases change the header's layout, and the committed header must be
# byte-for-byte what `make header` produces.
CBINDGEN_VERSION := 0.29.4
CBINDGEN := target/tools/bin/cbindgen
C_BUILD := target/c
PREFIX ?= /usr/local
C_FLAGS := -std=c11 -Wall -Wextra -Werror -pedantic -g -Iinclude
CXX_FLAGS := -std=c++17 -Wall -Wextra -Werror -g -Iinclude
C_LINK_DEBUG := -Ltarget/debug -lslotshift -Wl,-rpath,$(CURDIR)/target/debug
# What the Rust standard library needs when libslotshift.a is linked statically
# (`rustc --print native-static-libs`).
NATIVE_STATIC_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
SLOTSHIFT_VERSION := $(shell sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
# The SONAME's version (ffi/build.rs): the major from 1.0 on, 0.<minor> before.
SLOTSHIFT_ABI := $(shell echo $(SLOTSHIFT_VERSION) | awk -F. '{ print ($$1 == 0) ? "0." $$2 : $$1 }')

TEST_TARGETS += test-c
BENCH_TARGETS += bench-c

.PHONY: header header-check cbindgen-tool ffi-test-lib c-programs test-c install bench-c c-doc-examples

## The pinned cbindgen, installed into target/tools when missing or of another version.
cbindgen-tool:
	@if [ "$$($(CBINDGEN) --version 2>/dev/null)" != "cbindgen $(CBINDGEN_VERSION)" ]; then \
		$(CARGO) install --locked --force --root target/tools cbindgen --version =$(CBINDGEN_VERSION); \
	fi

header: cbindgen-tool
	cd ffi && ../$(CBINDGEN) --quiet --config cbindgen.toml --output ../include/slotshift.h

## Fails when regenerating the header would change the committed one.
header-check: cbindgen-tool
	@mkdir -p $(C_BUILD)
	cd ffi && ../$(CBINDGEN) --quiet --config cbindgen.toml --output ../$(C_BUILD)/slotshift.h
	@diff -u include/slotshift.h $(C_BUILD)/slotshift.h || \
		{ echo "include/slotshift.h is stale: run 'make header' and commit it" >&2; exit 1; }

## The library with the test-only panic hook (SLOTSHIFT_TEST_HOOKS); never installed. Programs
## linked against it ask for its SONAME, which cargo does not create: the link stands in.
ffi-test-lib:
	$(CARGO) build -p slotshift-ffi --features test-hooks
	ln -sf libslotshift.so target/debug/libslotshift.so.$(SLOTSHIFT_ABI)

c-programs: ffi-test-lib
	@mkdir -p $(C_BUILD)
	gcc $(C_FLAGS) -DSLOTSHIFT_TEST_HOOKS -o $(C_BUILD)/test_slotshift \
		tests/c/test_slotshift.c tests/c/double_include.c $(C_LINK_DEBUG) -pthread
	g++ $(CXX_FLAGS) -o $(C_BUILD)/cpp_compile tests/c/cpp_compile.cpp $(C_LINK_DEBUG)

## The examples of docs/c.md, extracted as written and built against an installed copy
## (pkg-config, shared), and the first one linked statically too.
c-doc-examples:
	rm -rf $(C_BUILD)/prefix && $(MAKE) --no-print-directory install PREFIX=$(CURDIR)/$(C_BUILD)/prefix
	readelf -d $(C_BUILD)/prefix/lib/libslotshift.so | grep -q 'SONAME.*\[libslotshift.so.$(SLOTSHIFT_ABI)\]' || \
		{ echo "the installed libslotshift.so has no SONAME libslotshift.so.$(SLOTSHIFT_ABI)" >&2; exit 1; }
	@mkdir -p $(C_BUILD)/docs
	awk '/^```c$$/{n++; f=sprintf("$(C_BUILD)/docs/example_%d.c", n); next} /^```$$/{f=""} f{print > f}' docs/c.md
	set -e; export PKG_CONFIG_PATH=$(CURDIR)/$(C_BUILD)/prefix/lib/pkgconfig; \
	for src in $(C_BUILD)/docs/example_*.c; do \
		gcc -std=c11 -Wall -Wextra -Werror -o $${src%.c} $$src $$(pkg-config --cflags --libs slotshift) \
			-Wl,-rpath,$(CURDIR)/$(C_BUILD)/prefix/lib; \
	done; \
	gcc -std=c11 -Wall -Wextra -Werror -o $(C_BUILD)/docs/example_1_static $(C_BUILD)/docs/example_1.c \
		$$(pkg-config --cflags slotshift) $(CURDIR)/$(C_BUILD)/prefix/lib/libslotshift.a \
		$$(pkg-config --static --libs-only-l slotshift | sed 's/-lslotshift//')

test-c: cli header-check c-programs c-doc-examples
	tests/c/run.sh $(C_BUILD) test_slotshift cpp_compile \
		docs/example_1 docs/example_1_static docs/example_2 docs/example_3 docs/example_4 \
		docs/example_5 docs/example_6

## make install PREFIX=…: include/slotshift.h, lib/libslotshift.so.VERSION with its SONAME link
## (libslotshift.so.ABI) and the link-time link (libslotshift.so), lib/libslotshift.a,
## lib/pkgconfig/slotshift.pc. Debug sections are stripped; symbol names stay (backtraces,
## valgrind).
install:
	$(CARGO) build --release -p slotshift-ffi
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/slotshift.h $(DESTDIR)$(PREFIX)/include/slotshift.h
	install -m 755 target/release/libslotshift.so $(DESTDIR)$(PREFIX)/lib/libslotshift.so.$(SLOTSHIFT_VERSION)
	strip --strip-debug $(DESTDIR)$(PREFIX)/lib/libslotshift.so.$(SLOTSHIFT_VERSION)
	ln -sf libslotshift.so.$(SLOTSHIFT_VERSION) $(DESTDIR)$(PREFIX)/lib/libslotshift.so.$(SLOTSHIFT_ABI)
	ln -sf libslotshift.so.$(SLOTSHIFT_ABI) $(DESTDIR)$(PREFIX)/lib/libslotshift.so
	install -m 644 target/release/libslotshift.a $(DESTDIR)$(PREFIX)/lib/libslotshift.a
	strip --strip-debug $(DESTDIR)$(PREFIX)/lib/libslotshift.a
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(SLOTSHIFT_VERSION)|' \
		-e 's|@NATIVE_STATIC_LIBS@|$(NATIVE_STATIC_LIBS)|' ffi/slotshift.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/slotshift.pc

## The boundary's cost: tests/c/bench.c (through libslotshift) vs ffi/examples/boundary_bench.rs
## (the core directly), both release builds, on the same standalone server, in one run.
bench-c: cli
	$(CARGO) build --release -p slotshift-ffi --example boundary_bench
	@mkdir -p $(C_BUILD)
	ln -sf libslotshift.so target/release/libslotshift.so.$(SLOTSHIFT_ABI)
	gcc -std=c11 -O2 -Wall -Wextra -Werror -Iinclude -o $(C_BUILD)/bench tests/c/bench.c \
		-Ltarget/release -lslotshift -Wl,-rpath,$(CURDIR)/target/release
	tests/c/bench.sh
