# The Python wheel (bindings-python/): maturin + pyo3, typed package slotshift.
#
#   make test-python    venv in .venv, `pip install ./bindings-python` + test deps, pytest with
#                       warnings as errors against real servers, mypy.stubtest on the stubs,
#                       mypy --strict on the typed layer (part of make test)
#   make bench-python   slotshift vs redis-py (+hiredis) in one run, ratios printed

PYTHON ?= python3
PY_VENV := .venv
PY := $(PY_VENV)/bin/python
PY_TEST_DEPS := "pytest>=8" "hypothesis>=6" "redis[hiredis]>=5" "mypy>=1.10"

TEST_TARGETS += test-python
BENCH_TARGETS += bench-python

.PHONY: python-venv python-install test-python bench-python

python-venv:
	@[ -x $(PY) ] || $(PYTHON) -m venv $(PY_VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q $(PY_TEST_DEPS)

## The wheel as a user gets it: pip builds it with maturin (PEP 517) and installs it.
python-install: python-venv
	$(PY) -m pip install -q --force-reinstall --no-deps ./bindings-python

test-python: cli python-install
	cd bindings-python && SLOTSHIFT_BIN=$(CURDIR)/$(SLOTSHIFT) ../$(PY) -m pytest -W error -q tests
	cd bindings-python && ../$(PY) -m mypy.stubtest slotshift._slotshift
	cd bindings-python && ../$(PY) -m mypy --strict python/slotshift

bench-python: cli python-install
	cd bindings-python && SLOTSHIFT_BIN=$(CURDIR)/$(SLOTSHIFT) ../$(PY) benches/bench.py
