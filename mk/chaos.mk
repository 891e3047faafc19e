# Chaos with a ledger (tests/chaos/): writers of slotshift (Python and Ruby) beside redis-py
# and redis-rb on the same servers, through a live reshard and a kill -9 of a master with
# replica takeover; then a dual-writing MultiStore while its non-default store is stopped and
# killed and its default store dies. The ledger is read back afterwards: every acknowledged
# write must be there, none twice; slotshift's errors must be connection/timeout ones inside
# the fault windows. The table goes to target/chaos/report.md (docs/reliability.md).
#
#   make test-chaos   the short form (part of make test): 3 writers per client, 1,000 slots
#   make chaos        the long form: 8 writers per client, 4,000 slots, longer settles

TEST_TARGETS += test-chaos

.PHONY: test-chaos chaos

# `=`, not `:=`: PY and RUBY_TEST_ENV come from mk/python.mk and mk/ruby.mk, read after this file.
CHAOS = $(RUBY_TEST_ENV) $(PY) tests/chaos/ledger.py

test-chaos: cli python-install ruby-install
	MYPYPATH=bindings-python/tests/compat $(PY) -m mypy --strict tests/chaos/ledger.py
	$(CHAOS) --short

chaos: setup cli python-install ruby-install
	$(CHAOS)
