# One task runner for the whole workspace. `make test` and `make demo` install what they need.
SHELL := /bin/bash
CARGO ?= cargo
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: setup build test test-rust demo bench lint fmt command-table

setup:
	@scripts/setup.sh

build: setup
	$(CARGO) build --workspace --all-targets

## make test: every test of every language, against real servers the suites start.
test: setup test-rust

test-rust:
ifeq ($(NEXTEST),yes)
	$(CARGO) nextest run --workspace --lib --bins --tests --examples --no-fail-fast $(if $(CI),--profile ci)
else
	$(CARGO) test --workspace --lib --bins --tests --examples --no-fail-fast
endif
	$(CARGO) test --workspace --doc

## make demo: the main job.
demo: setup
	$(CARGO) run --release -p slotshift-cli -- demo

## make bench: speed, side by side with the peers; results go to docs/BENCHMARKS.md by hand.
bench: setup
	$(CARGO) bench -p slotshift --bench slot

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## make command-table: regenerate core/src/command/table.rs from a redis-server it starts.
command-table: setup
	$(CARGO) run -p slotshift --features embedded --example gen_command_table
