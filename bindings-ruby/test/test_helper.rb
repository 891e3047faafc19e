# frozen_string_literal: true

# The suite talks to real redis-server processes: `slotshift servers up --json` (the CLI of this
# repository) starts a standalone server and a 3-master cluster on free loopback ports once per
# run (and, for the tests that ask, a second standalone with a 3x1 cluster); they are stopped
# (SIGTERM, then wait) when the run ends, whatever happened.
#
# SLOTSHIFT_BIN: the CLI (default: target/debug/slotshift of the repository; `make cli`).
# SLOTSHIFT_TEST_INSTALLED=1: fail unless `slotshift` was loaded from an installed gem.

require "json"
require "timeout"
require ENV["SLOTSHIFT_NO_AUTORUN"] ? "minitest" : "minitest/autorun"
require "slotshift"

module TestServers
  ROOT = File.expand_path("../..", __dir__)
  FIXTURES = File.join(ROOT, "tests", "fixtures")

  class << self
    # SLOTSHIFT_TEST_TOPOLOGY: the JSON line of an already running `slotshift servers up`
    # (for quick local runs); otherwise the suite starts its own.
    def topology
      @topology ||= if ENV["SLOTSHIFT_TEST_TOPOLOGY"]
                      JSON.parse(ENV["SLOTSHIFT_TEST_TOPOLOGY"])
                    else
                      start("--standalone", "--cluster", "3x0")
                    end
    end

    def standalone_url(db = 0)
      "#{topology.fetch('standalone')}/#{db}"
    end

    def cluster_urls
      topology.fetch("cluster")
    end

    # A standalone server and a cluster of 3 masters with one replica each, of their own
    # (started on first use): tests that empty every master use these.
    def topology_3x1
      @topology_3x1 ||= start("--standalone", "--cluster", "3x1")
    end

    # A Sentinel set (a master, a replica, three Sentinels) of its own, started on first use.
    def sentinel_topology
      @sentinel_topology ||= start("--sentinel").fetch("sentinel")
    end

    # One scripted hostile node per behaviour (`slotshift servers up --hostile`): name => URL.
    def hostile
      @hostile ||= start("--hostile").fetch("hostile")
    end

    def fixture(name)
      JSON.parse(File.read(File.join(FIXTURES, name)))
    end

    private

    def start(*topology)
      bin = ENV.fetch("SLOTSHIFT_BIN", File.join(ROOT, "target", "debug", "slotshift"))
      raise "the slotshift CLI is missing at #{bin}: run `make cli` first" unless File.executable?(bin)

      out_r, out_w = IO.pipe
      pid = Process.spawn(bin, "servers", "up", "--json", *topology, out: out_w, in: File::NULL)
      out_w.close
      owner = Process.pid
      at_exit do
        if Process.pid == owner
          begin
            Process.kill("TERM", pid)
            Process.wait(pid)
          rescue Errno::ESRCH, Errno::ECHILD
            nil
          end
        end
      end
      line = Timeout.timeout(120) { out_r.gets }
      raise "slotshift servers up printed nothing (see its stderr)" if line.nil?

      JSON.parse(line)
    end
  end
end

if ENV["SLOTSHIFT_TEST_INSTALLED"] == "1"
  loaded = $LOADED_FEATURES.grep(%r{/slotshift\.rb\z}).first.to_s
  gem_dir = Gem.loaded_specs["slotshift"]&.full_gem_path
  unless gem_dir && loaded.start_with?(gem_dir)
    abort "SLOTSHIFT_TEST_INSTALLED=1 but slotshift was loaded from #{loaded.inspect}, not an installed gem"
  end
end

# Helpers shared by the tests.
module SlotshiftTestHelpers
  def standalone_client(db = 0, **opts)
    Slotshift::Client.new(url: TestServers.standalone_url(db), **opts)
  end

  def cluster_client(**opts)
    Slotshift::Client.new(nodes: TestServers.cluster_urls, **opts)
  end

  # Keys that land on `n` different slots (and, on a 3-master cluster, on every master).
  def keys_across_slots(prefix, n)
    (0...n).map { |i| "#{prefix}:#{i}" }
  end
end
