# The Ruby gem: bindings-ruby/ (lib/, ext/slotshift = crate slotshift-ruby, test/).
#
#   make test-ruby    build the gem (core sources vendored), `gem install` it into
#                     target/ruby/gems, run the minitest suite against the INSTALLED gem, then
#                     slotshift's side of redis-rb 4.8.0's own suite (tests/compat/ruby), compared
#                     with the committed lists: a test redis-rb passes that slotshift fails and
#                     that is not a known failure fails the target
#   make compat-ruby  redis-rb 4.8.0's suite against redis-rb and against slotshift on the same
#                     server; prints both counts and the ratio, rewrites the committed lists
#                     (tests/compat/ruby/standalone/redis_rb_passes.txt, known_failures.txt)
#   make bench-ruby   slotshift vs redis-rb 4.8 in one run (rows for docs/BENCHMARKS.md)
#   make ruby-dev     build the extension into bindings-ruby/lib for quick local runs
#
# Everything comes from Debian packages (scripts/packages/ruby.txt) and cargo; the RubyGems
# registry is never contacted (`gem install --local`). The gem's one dependency, redis-rb 4.8,
# is Debian's ruby-redis (found on the default gem path at run time, hence
# --ignore-dependencies at install).

RUBY_GEM_DIR := $(CURDIR)/target/ruby/gems
# Cargo's target dir for the gem's own build, kept between runs so reinstalling is incremental.
RUBY_CARGO_TARGET := $(CURDIR)/target/ruby/cargo
# The installed gem first, then Debian's gems (the trailing ':' keeps the default path).
RUBY_TEST_ENV := GEM_PATH=$(RUBY_GEM_DIR): SLOTSHIFT_TEST_INSTALLED=1 SLOTSHIFT_BIN=$(CURDIR)/$(SLOTSHIFT)

TEST_TARGETS += test-ruby
BENCH_TARGETS += bench-ruby
COMPAT_TARGETS += compat-ruby

.PHONY: ruby-gem ruby-install ruby-dev test-ruby bench-ruby compat-ruby

# The gem built the usual way (the gemspec vendors the core crate), installed as a user would;
# the installed gem must stay small (the extension, not cargo's build directory).
ruby-gem:
	mkdir -p bindings-ruby/pkg
	cd bindings-ruby && gem build slotshift.gemspec --output pkg/slotshift.gem

ruby-install: ruby-gem
	rm -rf $(RUBY_GEM_DIR)
	SLOTSHIFT_CARGO_TARGET_DIR=$(RUBY_CARGO_TARGET) \
		gem install --local --no-document --ignore-dependencies --install-dir $(RUBY_GEM_DIR) bindings-ruby/pkg/slotshift.gem
	@mb=$$(du -sm $(RUBY_GEM_DIR) | cut -f1); echo "the installed gem takes $$mb MB"; \
		[ $$mb -lt 50 ] || { echo "ruby-install: the installed gem takes $$mb MB, over 50 MB" >&2; exit 1; }

ruby-dev:
	cd bindings-ruby && rake compile

test-ruby: cli ruby-install
	cd bindings-ruby && $(RUBY_TEST_ENV) ruby -Itest -e 'gem "slotshift"; Dir["test/test_*.rb"].sort.each { |f| require File.expand_path(f) }'
	$(RUBY_TEST_ENV) ruby tests/compat/ruby/run.rb check

compat-ruby: cli ruby-install
	$(RUBY_TEST_ENV) ruby tests/compat/ruby/run.rb record

bench-ruby: cli ruby-install
	cd bindings-ruby && $(RUBY_TEST_ENV) ruby -Itest bench/bench.rb
