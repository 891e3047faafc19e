# The Python wheel (bindings-python/): maturin + pyo3, typed package slotshift.
#
#   make test-python    venv in .venv, `pip install ./bindings-python` + test deps, pytest with
#                       warnings as errors against real servers, slotshift's side of redis-py
#                       8.1.0's own suite compared with the committed lists (fails on a
#                       regression, prints the counts and ratios per file), mypy.stubtest on
#                       the stubs, mypy --strict on the typed layer (part of make test)
#   make compat-python  redis-py 8.1.0's suite (from its sdist, unmodified) against redis-py
#                       and against slotshift on the same servers; rewrites
#                       bindings-python/tests/compat/{redis-py-passes,known-failures}.txt
#                       (part of make compat)
#   make bench-python   slotshift vs redis-py (+hiredis) in one run, ratios printed

PYTHON ?= python3
PY_VENV := .venv
PY := $(PY_VENV)/bin/python
# redis-py pinned to the version whose suite the compat runner takes (its other side);
# pytest-asyncio runs that suite's tests/test_asyncio/ (slotshift.asyncio's side too).
PY_TEST_DEPS := "pytest>=8" "pytest-timeout>=2.3" "pytest-asyncio>=1.0" "hypothesis>=6" "redis[hiredis]==8.1.0" "mypy>=1.10"

TEST_TARGETS += test-python
BENCH_TARGETS += bench-python
COMPAT_TARGETS += compat-python

.PHONY: python-venv python-install test-python compat-python bench-python

python-venv:
	@[ -x $(PY) ] || $(PYTHON) -m venv $(PY_VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q $(PY_TEST_DEPS)

## The wheel as a user gets it: pip builds it with maturin (PEP 517) and installs it.
python-install: python-venv
	$(PY) -m pip install -q --force-reinstall --no-deps ./bindings-python

test-python: cli python-install
	cd bindings-python && SLOTSHIFT_BIN=$(CURDIR)/$(SLOTSHIFT) ../$(PY) -m pytest -W error -q tests
	cd bindings-python && SLOTSHIFT_BIN=$(CURDIR)/$(SLOTSHIFT) ../$(PY) tests/compat/run.py --check
	cd bindings-python && ../$(PY) -m mypy.stubtest slotshift._slotshift
	cd bindings-python && ../$(PY) -m mypy --strict python/slotshift

compat-python: cli python-install
	cd bindings-python && SLOTSHIFT_BIN=$(CURDIR)/$(SLOTSHIFT) ../$(PY) tests/compat/run.py --update

bench-python: cli python-install
	cd bindings-python && SLOTSHIFT_BIN=$(CURDIR)/$(SLOTSHIFT) ../$(PY) benches/bench.py
