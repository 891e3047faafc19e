# The Python wheel (bindings-python/): maturin + pyo3, typed package slotshift.
#
#   make wheels         what an index would serve, in target/wheels: the abi3 wheel for
#                       manylinux2014 (glibc 2.17), linked with zig (PyPI's ziglang) and checked
#                       with `auditwheel show`, and the source distribution, whose build stops
#                       with "needs Rust" where there is no cargo (build_backend/)
#   make test-python    venv in .venv, the manylinux wheel of `make wheels` installed + test
#                       deps, pytest with
#                       warnings as errors against real servers, slotshift's side of redis-py
#                       8.1.0's own suite compared with the committed lists (fails on a
#                       regression, prints the counts and ratios per file), mypy.stubtest on
#                       the stubs, mypy --strict on the typed layer (part of make test)
#   make compat-python  redis-py 8.1.0's suite (from its sdist, unmodified) against redis-py
#                       and against slotshift on the same servers; rewrites
#                       bindings-python/tests/compat/{redis-py-passes,known-failures}.txt
#                       (part of make compat)
#   make bench-python   slotshift vs redis-py (+hiredis) and valkey-glide in one run, ratios
#                       printed

PYTHON ?= python3
PY_VENV := .venv
PY := $(PY_VENV)/bin/python
# The second peer of make bench-python (benchmarks only; not a test dependency).
PY_BENCH_PEERS := "valkey-glide==2.6.0" "valkey-glide-sync==2.6.0"
# redis-py pinned to the version whose suite the compat runner takes (its other side);
# pytest-asyncio runs that suite's tests/test_asyncio/ (slotshift.asyncio's side too).
PY_TEST_DEPS := "pytest>=8" "pytest-timeout>=2.3" "pytest-asyncio>=1.0" "hypothesis>=6" "redis[hiredis]==8.1.0" "mypy>=1.10" "opentelemetry-sdk>=1.20"

TEST_TARGETS += test-python
BENCH_TARGETS += bench-python
COMPAT_TARGETS += compat-python

WHEELS := target/wheels
# The tag `make wheels` builds for and checks: glibc 2.17 and later (CentOS 7 onwards).
WHEEL_PLATFORM := manylinux_2_17_x86_64
PY_BUILD_DEPS := "maturin>=1.9.4,<2" "ziglang>=0.13" "auditwheel>=6"

.PHONY: python-venv python-install test-python compat-python bench-python wheels

python-venv:
	@[ -x $(PY) ] || $(PYTHON) -m venv $(PY_VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q $(PY_TEST_DEPS)

## The wheel and the sdist (see the header). maturin finds zig through the venv's python.
wheels: python-venv
	@$(PY) -m pip install -q $(PY_BUILD_DEPS)
	rm -rf $(WHEELS) && mkdir -p $(WHEELS)
	cd bindings-python && PATH=$(CURDIR)/$(PY_VENV)/bin:$$PATH ../$(PY_VENV)/bin/maturin build \
		--release --zig --compatibility manylinux2014 --out ../$(WHEELS)
	cd bindings-python && ../$(PY_VENV)/bin/maturin sdist --out ../$(WHEELS)
	$(PY) -m auditwheel show $(WHEELS)/slotshift-*.whl | tee $(WHEELS)/auditwheel.txt
	@tr -s ' \n' ' ' < $(WHEELS)/auditwheel.txt | grep -q 'consistent with the following platform tag: "$(WHEEL_PLATFORM)"' || \
		{ echo "auditwheel does not find the wheel $(WHEEL_PLATFORM)" >&2; exit 1; }
	@tar tzf $(WHEELS)/slotshift-*.tar.gz | grep -q 'build_backend/slotshift_build.py' || \
		{ echo "the sdist lacks its build backend" >&2; exit 1; }

## The wheel as a user gets it from an index: the manylinux wheel of `make wheels`.
python-install: wheels
	$(PY) -m pip install -q --force-reinstall --no-deps $(WHEELS)/slotshift-*$(WHEEL_PLATFORM).whl

test-python: cli python-install
	cd bindings-python && SLOTSHIFT_BIN=$(CURDIR)/$(SLOTSHIFT) ../$(PY) -m pytest -W error -q tests
	cd bindings-python && SLOTSHIFT_BIN=$(CURDIR)/$(SLOTSHIFT) ../$(PY) tests/compat/run.py --check
	cd bindings-python && SLOTSHIFT_BIN=$(CURDIR)/$(SLOTSHIFT) ../$(PY) tests/compat/run.py --check --cluster
	cd bindings-python && ../$(PY) -m mypy.stubtest slotshift._slotshift
	cd bindings-python && ../$(PY) -m mypy --strict python/slotshift

compat-python: cli python-install
	cd bindings-python && SLOTSHIFT_BIN=$(CURDIR)/$(SLOTSHIFT) ../$(PY) tests/compat/run.py --update
	cd bindings-python && SLOTSHIFT_BIN=$(CURDIR)/$(SLOTSHIFT) ../$(PY) tests/compat/run.py --update --cluster

bench-python: cli python-install
	$(PY) -m pip install -q $(PY_BENCH_PEERS)
	cd bindings-python && SLOTSHIFT_BIN=$(CURDIR)/$(SLOTSHIFT) ../$(PY) benches/bench.py
