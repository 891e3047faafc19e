# One task runner for the whole workspace. `make test` and `make demo` install what they need.
#
# Each language binding adds its own targets in mk/<lang>.mk and appends them to TEST_TARGETS
# (and BENCH_TARGETS, COMPAT_TARGETS); its Debian packages are listed in
# scripts/packages/<lang>.txt.
SHELL := /bin/bash
CARGO ?= cargo
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)
SLOTSHIFT := target/debug/slotshift
# The CLI's `servers` and `demo` subcommands (the embedded launcher) are a feature: off in a
# production build, on for everything this repository runs.
CLI_SERVERS := --features slotshift-cli/servers

TEST_TARGETS := lint test-rust
BENCH_TARGETS := bench-rust bench-shared
# The peers' own suites (../shared/compat/) run against the peer AND slotshift on the same
# servers; each regenerates the committed list of tests the peer passes there, which `make
# test` compares slotshift's side against.
COMPAT_TARGETS :=

.PHONY: setup build test test-rust demo bench bench-rust bench-shared compat fuzz lint fmt command-table cli

setup:
	@scripts/setup.sh

build: setup
	$(CARGO) build --workspace --all-targets $(CLI_SERVERS)

## The `slotshift` binary the C, Ruby and Python suites use (`slotshift servers up --json`).
cli:
	$(CARGO) build -p slotshift-cli --features servers

-include mk/*.mk

## make test: every test of every language, against real servers the suites start.
test: setup
	$(MAKE) -k --no-print-directory $(TEST_TARGETS)

test-rust:
ifeq ($(NEXTEST),yes)
	$(CARGO) nextest run --lib --bins --tests --examples --no-fail-fast $(CLI_SERVERS) $(if $(CI),--profile ci)
else
	$(CARGO) test --lib --bins --tests --examples --no-fail-fast $(CLI_SERVERS)
endif
	$(CARGO) test --doc

## make demo: the main job.
demo: setup
	$(CARGO) run --release -p slotshift-cli --features servers -- demo

## make bench: speed, side by side with the peers; results go to docs/BENCHMARKS.md.
bench: setup
	$(MAKE) --no-print-directory $(BENCH_TARGETS)

bench-rust:
	$(CARGO) bench -p slotshift

## One migration shared by 1 and by 4 processes through a coordinator (scripts/bench-shared.sh).
bench-shared:
	$(CARGO) build --release -p slotshift-cli --features servers
	scripts/bench-shared.sh

## make fuzz: the fuzz targets (tests named fuzz_…: every parser of untrusted bytes) for
## FUZZ_SECONDS each instead of the one second `make test` gives them. A failing input is printed
## with its BOLERO_RANDOM_SEED; add it to the target's corpus (core/fuzz/corpus/…) with the fix.
FUZZ_SECONDS ?= 300
fuzz: setup
	BOLERO_RANDOM_TEST_TIME_MS=$$(( $(FUZZ_SECONDS) * 1000 )) $(CARGO) nextest run -p slotshift -p slotshift-cli \
		--lib --bins --no-fail-fast -E 'test(/fuzz_/)'

## make compat: both sides of every peer suite; rewrites the committed pass lists.
compat: setup
	$(MAKE) -k --no-print-directory $(COMPAT_TARGETS)

## make lint: the core's layering (scripts/layers.py: no import cycle, nothing above the
## transport imported by it), rustfmt and clippy -D warnings on the default members (core,
## cli, ffi); the binding crates are linted by their own targets.
lint:
	python3 scripts/layers.py
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --all-targets $(CLI_SERVERS) -- -D warnings

fmt:
	$(CARGO) fmt --all

## make command-table: regenerate core/src/command/table.rs from a redis-server it starts.
command-table: setup
	$(CARGO) run -p slotshift --features embedded --example gen_command_table
