# frozen_string_literal: true

# Loaded (`ruby -r`) into every process that runs one file of redis-rb 4.8.0's own test suite,
# which is read unmodified from ../shared/compat/redis-rb-4.8.0/test. It adapts the suite to
# this run without editing it:
#
# - the servers: the suite's helper hard-codes port 6381 and a unix socket made by its
#   makefile; here PORT/OPTIONS point at the standalone server `slotshift servers up` started
#   (COMPAT_PORT), and REDIS_SOCKET_PATH at a placeholder file (this server has no unix
#   socket: the tests that use one fail on both sides and so do not count);
# - the side: COMPAT_SIDE=slotshift makes every `Redis.new` the suite calls build a
#   Slotshift::Redis (the drop-in), COMPAT_SIDE=redis-rb leaves redis-rb as it is;
# - skips: the tests listed in skips.txt (redis-rb's internal driver classes, out-of-scope
#   features), each with its written reason;
# - a per-test timeout (COMPAT_TEST_TIMEOUT seconds): a hang is an error, not a stuck run;
# - results: one JSON line per test to COMPAT_RESULTS.

require "json"
require "timeout"
require "minitest"

COMPAT_DIR = __dir__
SIDE = ENV.fetch("COMPAT_SIDE")
abort "COMPAT_SIDE must be slotshift or redis-rb, not #{SIDE.inspect}" unless %w[slotshift redis-rb].include?(SIDE)

ENV["REDIS_SOCKET_PATH"] ||= ENV.fetch("COMPAT_SOCKET_PLACEHOLDER")
require "helper" # the suite's own (from -I <suite>/test)

# The suite's constants, re-pointed at this run's server (helper.rb defines them at load).
silence = $VERBOSE
$VERBOSE = nil
Object.send(:remove_const, :PORT)
Object.send(:remove_const, :OPTIONS)
PORT = Integer(ENV.fetch("COMPAT_PORT"))
OPTIONS = { port: PORT, db: DB, timeout: TIMEOUT }.freeze
$VERBOSE = silence

# The cluster part (cluster_lint.rb): the suite's Helper::Cluster builds its clients on this
# run's cluster instead of ports 7000-7005.
if ENV["COMPAT_CLUSTER"]
  module Helper
    module Cluster
      private

      def _default_nodes(*)
        JSON.parse(ENV.fetch("COMPAT_CLUSTER"))
      end
    end
  end
end

if SIDE == "slotshift"
  require "slotshift"
  if ENV["SLOTSHIFT_TEST_INSTALLED"] == "1"
    loaded = $LOADED_FEATURES.grep(%r{/slotshift\.rb\z}).first.to_s
    gem_dir = Gem.loaded_specs["slotshift"]&.full_gem_path
    abort "SLOTSHIFT_TEST_INSTALLED=1 but slotshift was loaded from #{loaded.inspect}" unless gem_dir && loaded.start_with?(gem_dir)
  end

  # Every Redis.new of the suite (its helper's and the tests' own) builds the drop-in.
  class << ::Redis
    prepend(Module.new do
      def new(*args, **kwargs, &block)
        return super unless equal?(::Redis)

        Slotshift::Redis.new(*args, **kwargs, &block)
      end
    end)
  end
end

module CompatRun
  # "Class#test_name" => reason, from skips.txt (a line starting with `#` is a comment).
  SKIPS = File.readlines(File.join(COMPAT_DIR, "skips.txt"), chomp: true).each_with_object({}) do |line, h|
    line = line.strip
    next if line.empty? || line.start_with?("#")

    id, reason = line.split(/\s+/, 2)
    h[id] = reason.to_s
  end.freeze

  TEST_TIMEOUT = Float(ENV.fetch("COMPAT_TEST_TIMEOUT", "10"))

  # Skips listed tests before their setup runs; bounds every test's time.
  module PerTest
    def before_setup
      reason = SKIPS["#{self.class.name}##{name}"] || SKIPS[self.class.name]
      skip("compat skip: #{reason}") if reason
      super
    end

    def run
      Timeout.timeout(TEST_TIMEOUT, Timeout::Error, "compat: the test ran longer than #{TEST_TIMEOUT}s") { super }
    end
  end
  Minitest::Test.prepend(PerTest)

  # One JSON line per test: id, status (pass, fail, error, skip), the first line of the message.
  class Reporter < Minitest::AbstractReporter
    def initialize(path)
      super()
      @out = File.open(path, "a")
      @out.sync = true
    end

    def record(result)
      status = if result.skipped? then "skip"
               elsif result.passed? then "pass"
               elsif result.failures.any? { |f| f.is_a?(Minitest::UnexpectedError) } then "error"
               else "fail"
               end
      failure = result.failures.first
      message = failure && (failure.is_a?(Minitest::UnexpectedError) ? "#{failure.error.class}: #{failure.error.message}" : failure.message)
      @out.puts(JSON.generate(id: "#{result.klass}##{result.name}", status: status,
                              message: message.to_s.lines.first.to_s.strip[0, 300]))
    end
  end
end

module Minitest
  def self.plugin_compat_init(_options)
    reporter << CompatRun::Reporter.new(ENV.fetch("COMPAT_RESULTS"))
  end
end
Minitest.extensions << "compat"
