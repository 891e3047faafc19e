# The HTML reports — `slotshift analyze --html`, `migrate --html` and the demo's report.html —
# in a real browser.
#
#   make test-reports   cli/tests/reports.rs: an analyzer run on a 3-master cluster with a
#                       password and a hot shard, a migrate into a 3-master cluster (its copy,
#                       rounds and final-diff bars) and a short demo, against redis-servers the
#                       test starts on loopback (and stops, failing or not); each page opened by
#                       headless chromium (scripts/packages/reports.txt) with --dump-dom and
#                       --screenshot. Fails when a chart, a series, a phase or reshard line, a
#                       histogram or a bar is missing, or a key name or the password shows.
#   make screenshots    the same runs, keeping the screenshots: docs/img/demo-report.png,
#                       docs/img/analyzer-report.png, docs/img/migrate-report.png (committed,
#                       shown in docs/cli.md)
#   make pty-million    cli/tests/pty_progress.rs with 1,000,000 keys (about 3 minutes)

TEST_TARGETS += test-reports

.PHONY: test-reports screenshots

REPORTS_TEST := -p slotshift-cli --features servers --test reports

# setup installs chromium when it is missing.
test-reports: setup
ifeq ($(NEXTEST),yes)
	$(CARGO) nextest run $(REPORTS_TEST)
else
	$(CARGO) test $(REPORTS_TEST)
endif

# The test runs in cli/: the directory is given absolute.
screenshots: setup
	SLOTSHIFT_SCREENSHOTS=$(CURDIR)/docs/img $(MAKE) --no-print-directory test-reports

# The pty test of cli/tests/pty_progress.rs with a million keys (about 3 minutes; make test
# runs it with 60,000): the bar redraws every second, Ctrl-C at half way, --resume finishes
# with 0 differences and copies no key twice.
.PHONY: pty-million
pty-million: setup
	SLOTSHIFT_PTY_KEYS=1000000 $(CARGO) test -p slotshift-cli --features servers --test pty_progress -- --nocapture
