# frozen_string_literal: true

# Runs redis-rb 4.8.0's own test suite (../shared/compat/redis-rb-4.8.0/test, read unmodified)
# against redis-rb itself and against slotshift (Slotshift::Redis built wherever the suite
# calls Redis.new), on the servers `slotshift servers up` starts here (a standalone server and
# a 3x1 cluster) and stops on exit, whatever happened. Two parts:
#
# - standalone: test/redis/*_test.rb on the standalone server, both sides;
# - cluster: the suite's lint modules (test/lint, the per-family command tests) on the
#   cluster (cluster_lint.rb), held to the standalone expectations, compared with what
#   redis-rb passes on the standalone server; redis-rb's own cluster client runs them too
#   (record only), to count the cross-slot cases it refuses.
#
# Each test file runs in its own process (a crash or hang loses that file's remaining tests,
# not the run), every test under a timeout.
#
#   ruby tests/compat/ruby/run.rb record   both sides; rewrites standalone/redis_rb_passes.txt,
#                                          standalone/known_failures.txt and
#                                          cluster/known_failures.txt (make compat-ruby)
#   ruby tests/compat/ruby/run.rb check    slotshift's side; fails on a test redis-rb passes
#                                          that slotshift fails and that is not a known
#                                          failure; names known failures that now pass
#                                          (make test-ruby)
#
# Environment: SLOTSHIFT_BIN (the CLI; default target/debug/slotshift), COMPAT_SUITE (the
# suite's test dir; default ../shared/compat/redis-rb-4.8.0/test beside the repo),
# COMPAT_ONLY (a regexp: run only the test files it matches, for local work; never records),
# COMPAT_TEST_TIMEOUT (seconds per test, default 10), COMPAT_FILE_TIMEOUT (per file, 300).
# The slotshift gem is loaded as Ruby finds it (make test-ruby: the installed gem).

require "json"
require "fileutils"
require "rbconfig"
require "tmpdir"
require "timeout"

module Compat
  HERE = __dir__
  ROOT = File.expand_path("../../..", HERE)
  SUITE = ENV.fetch("COMPAT_SUITE", File.expand_path("../shared/compat/redis-rb-4.8.0/test", ROOT))
  LISTS = File.join(HERE, "standalone")
  PASSES = File.join(LISTS, "redis_rb_passes.txt")
  KNOWN = File.join(LISTS, "known_failures.txt")
  CLUSTER_KNOWN = File.join(HERE, "cluster", "known_failures.txt")
  CLUSTER_PREFIX = "ClusterLint_"
  # The standalone classes whose tests are the lint modules' (cluster_lint.rb's table).
  LINT_CLASSES = %w[TestCommandsOnStrings TestCommandsOnLists TestCommandsOnHashes TestCommandsOnSets
                    TestCommandsOnSortedSets TestCommandsOnHyperLogLog TestCommandsOnValueTypes
                    TestCommandsOnStreams TestBlockingCommands].freeze
  CATEGORIES = File.join(HERE, "categories.txt")
  FILE_TIMEOUT = Integer(ENV.fetch("COMPAT_FILE_TIMEOUT", "300"))

  module_function

  # The suite's standalone test files: test/redis/*_test.rb.
  def test_files
    files = Dir[File.join(SUITE, "redis", "*_test.rb")].sort
    abort "compat: no test files under #{SUITE}/redis (is ../shared/compat there?)" if files.empty?
    files = files.grep(Regexp.new(ENV["COMPAT_ONLY"])) if ENV["COMPAT_ONLY"]
    files
  end

  # Starts `slotshift servers up --json --standalone --cluster 3x1`; yields the standalone
  # server's port and the cluster's URLs; stops them (SIGTERM, wait) when the block ends, also
  # on an exception or an interrupt.
  def with_server
    bin = ENV.fetch("SLOTSHIFT_BIN", File.join(ROOT, "target", "debug", "slotshift"))
    abort "compat: the slotshift CLI is missing at #{bin}: run `make cli` first" unless File.executable?(bin)

    out_r, out_w = IO.pipe
    pid = Process.spawn(bin, "servers", "up", "--json", "--standalone", "--cluster", "3x1", out: out_w, in: File::NULL)
    out_w.close
    begin
      line = Timeout.timeout(120) { out_r.gets }
      abort "compat: slotshift servers up printed nothing (see its stderr)" if line.nil?
      topology = JSON.parse(line)
      url = topology.fetch("standalone")
      yield Integer(url[/:(\d+)\z/, 1] || url[%r{:(\d+)/}, 1]), topology.fetch("cluster")
    ensure
      begin
        Process.kill("TERM", pid)
        Process.wait(pid)
      rescue Errno::ESRCH, Errno::ECHILD
        nil
      end
    end
  end

  # Runs `files` on `side` (with COMPAT_CLUSTER set when `cluster` is given); returns
  # [{ "Class#test" => [status, message] }, [files whose process did not end normally]].
  def run_side(side, port, work, files: test_files, cluster: nil)
    part = cluster ? "cluster" : "standalone"
    results_path = File.join(work, "#{side}-#{part}.jsonl")
    File.write(results_path, "")
    placeholder = File.join(work, "no-unix-socket")
    FileUtils.touch(placeholder)
    crashed = []
    files.each do |file|
      log = File.join(work, "#{side}-#{part}-#{File.basename(file, '.rb')}.log")
      env = {
        "COMPAT_SIDE" => side, "COMPAT_PORT" => port.to_s, "COMPAT_RESULTS" => results_path,
        "COMPAT_SOCKET_PLACEHOLDER" => placeholder, "DRIVER" => "ruby", "MT_NO_PLUGINS" => nil,
        "COMPAT_CLUSTER" => cluster && JSON.generate(cluster),
      }
      pid = Process.spawn(env, RbConfig.ruby, "-I", SUITE, "-r", File.join(HERE, "preload.rb"), file,
                          out: log, err: [:child, :out], in: File::NULL, pgroup: true)
      status = wait_or_kill(pid)
      # Minitest's exit 1 is a failed test, unless the process ended before minitest's summary
      # (the suite's helper calls exit!/exit when it cannot reach its servers).
      status = "exit 1 before minitest's summary" if status == :tests_failed && !File.read(log).match?(/^\d+ runs, \d+ assertions/)
      next if status == :ok || status == :tests_failed

      crashed << "#{part} #{File.basename(file)} (#{status})"
      warn "compat: #{side} #{part} #{File.basename(file)} ended with #{status}; the end of its output:"
      warn File.readlines(log).last(15).join
    end
    results = {}
    File.foreach(results_path) do |line|
      r = JSON.parse(line)
      results[r["id"]] = [r["status"], r["message"]]
    end
    [results, crashed]
  end

  # The cluster part on `side`: results keyed by the standalone test ids they stand for.
  def run_cluster(side, port, cluster, work)
    results, crashed = run_side(side, port, work, files: [File.join(HERE, "cluster_lint.rb")], cluster: cluster)
    [results.transform_keys { |id| id.delete_prefix(CLUSTER_PREFIX) }, crashed]
  end

  # The lint tests among redis-rb's standalone passes: the cluster part's baseline. The
  # standalone classes have tests of their own besides the lint module's; only those the
  # cluster run has (`ran`: its results' ids) are lint tests.
  def lint_ids(passes, ran)
    passes.select { |id| LINT_CLASSES.include?(id.split("#").first) && ran.include?(id) }
  end

  # :ok, :tests_failed (minitest's exit 1), or how the process ended otherwise.
  def wait_or_kill(pid)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + FILE_TIMEOUT
    loop do
      done, status = Process.wait2(pid, Process::WNOHANG)
      if done
        return :ok if status.success?
        return :tests_failed if status.exitstatus == 1

        return status.signaled? ? "killed by signal #{status.termsig}" : "exit #{status.exitstatus}"
      end
      if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        Process.kill("KILL", -pid) rescue nil
        Process.wait(pid) rescue nil
        return "timed out after #{FILE_TIMEOUT}s"
      end
      sleep 0.05
    end
  end

  def counted(results)
    results.reject { |_, (status, _)| status == "skip" }
  end

  # "pattern => category" rules (categories.txt): the first whose regexp matches the test id
  # or its failure message names the category of a known failure.
  def categorize(id, message)
    File.readlines(CATEGORIES, chomp: true).each do |line|
      line = line.strip
      next if line.empty? || line.start_with?("#")

      pattern, category = line.split(/\s+=>\s+/, 2)
      return category if Regexp.new(pattern).match?("#{id} #{message}")
    end
    "other: #{message.to_s[0, 120]}"
  end

  def read_list(path)
    return {} unless File.exist?(path)

    File.readlines(path, chomp: true).reject { |l| l.start_with?("#") || l.strip.empty? }.to_h do |l|
      id, reason = l.split(/\s+/, 2)
      [id, reason.to_s]
    end
  end

  def summary(passes, slot_results)
    ok = passes.count { |id| slot_results.dig(id, 0) == "pass" }
    ratio = passes.empty? ? 0.0 : 100.0 * ok / passes.size
    [ok, ratio]
  end

  def by_category(failures)
    failures.values.map { |reason| reason.split(":").first }.tally.sort_by { |c, n| [-n, c] }
  end

  def record
    abort "compat: COMPAT_ONLY is for local runs; record runs the whole suite" if ENV["COMPAT_ONLY"]

    Dir.mktmpdir("slotshift-compat") do |work|
      with_server do |port, cluster|
        rb, rb_crashed = run_side("redis-rb", port, work)
        ss, ss_crashed = run_side("slotshift", port, work)
        rbc, rbc_crashed = run_cluster("redis-rb", port, cluster, work)
        ssc, ssc_crashed = run_cluster("slotshift", port, cluster, work)
        rb_crashed += rbc_crashed
        ss_crashed += ssc_crashed
        passes = rb.select { |_, (s, _)| s == "pass" }.keys.sort
        failures = passes.reject { |id| ss.dig(id, 0) == "pass" }.to_h do |id|
          status, message = ss[id] || ["missing", "no result (the file's process crashed or hung)"]
          [id, categorize(id, "#{status}: #{message}")]
        end
        FileUtils.mkdir_p(LISTS)
        File.write(PASSES, "# Tests of redis-rb 4.8.0's suite (test/redis/) that redis-rb itself passes on a standalone\n" \
                           "# redis-server here. Written by `make compat-ruby`.\n" + passes.join("\n") + "\n")
        ok, ratio = summary(passes, ss)
        figures = ["redis-rb passes #{passes.size} of #{counted(rb).size} tests run (#{rb.size - counted(rb).size} skipped)",
                   "slotshift passes #{ok} of those #{passes.size} (#{format('%.1f', ratio)} %)",
                   *by_category(failures).map { |c, n| "  #{n.to_s.rjust(4)}  #{c}" }]
        File.write(KNOWN, "# Tests redis-rb passes here that slotshift fails: id, then category: reason.\n" \
                          "# Written by `make compat-ruby`; `make test-ruby` fails on any other failure.\n" +
                          figures.map { |l| "# #{l}\n" }.join +
                          failures.sort.map { |id, r| "#{id} #{r}" }.join("\n") + "\n")
        puts figures
        record_cluster(passes, rbc, ssc)
        (rb_crashed + ss_crashed).each { |c| puts "compat: a test file's process did not end normally: #{c}" }
        puts "wrote #{[PASSES, KNOWN, CLUSTER_KNOWN].map { |f| f.sub("#{ROOT}/", '') }.join(', ')}"
      end
    end
  end

  # cluster/known_failures.txt: the lint tests redis-rb passes on the standalone server that
  # slotshift fails on the cluster; the figures (with redis-rb's cluster client's) on top.
  def record_cluster(passes, rbc, ssc)
    baseline = lint_ids(passes, rbc.keys | ssc.keys)
    failures = baseline.reject { |id| ssc.dig(id, 0) == "pass" }.to_h do |id|
      status, message = ssc[id] || ["missing", "no result (the process crashed or hung)"]
      [id, categorize("#{CLUSTER_PREFIX}#{id}", "#{status}: #{message}")]
    end
    ok, ratio = summary(baseline, ssc)
    rb_ok = baseline.count { |id| rbc.dig(id, 0) == "pass" }
    refused = baseline.select { |id| rbc.dig(id, 1).to_s.include?("CROSSSLOT") }
    refused_ok = refused.count { |id| ssc.dig(id, 0) == "pass" }
    figures = ["lint tests redis-rb passes on a standalone server: #{baseline.size}",
               "slotshift on a 3x1 cluster passes #{ok} of them (#{format('%.1f', ratio)} %)",
               "redis-rb's cluster client passes #{rb_ok} of them; it refuses #{refused.size} with CROSSSLOT, " \
               "of which slotshift passes #{refused_ok}",
               *by_category(failures).map { |c, n| "  #{n.to_s.rjust(4)}  #{c}" }]
    FileUtils.mkdir_p(File.dirname(CLUSTER_KNOWN))
    File.write(CLUSTER_KNOWN, "# Lint tests (test/lint) redis-rb passes on a standalone server that slotshift fails on a\n" \
                              "# 3x1 cluster: standalone test id, then category: reason. Written by `make compat-ruby`.\n" +
                              figures.map { |l| "# #{l}\n" }.join +
                              failures.sort.map { |id, r| "#{id} #{r}" }.join("\n") + "\n")
    puts "cluster (3x1), the lint suites:"
    puts(figures.map { |l| "  #{l}" })
  end

  # The cluster part of `check`: [regressions, known failures that now pass].
  def check_cluster(passes, ssc)
    known = read_list(CLUSTER_KNOWN)
    baseline = lint_ids(passes, ssc.keys)
    ok, ratio = summary(baseline, ssc)
    puts "redis-rb 4.8.0 lint suites on a 3x1 cluster: redis-rb passes #{baseline.size} on a standalone server; " \
         "slotshift on the cluster passes #{ok} of them (#{format('%.1f', ratio)} %)"
    by_category(known.slice(*baseline)).each { |c, n| puts "  known: #{n.to_s.rjust(4)}  #{c}" }
    [baseline.reject { |id| ssc.dig(id, 0) == "pass" || known.key?(id) },
     known.keys.select { |id| ssc.dig(id, 0) == "pass" }]
  end

  def check
    passes = read_list(PASSES).keys
    known = read_list(KNOWN)
    abort "compat: #{PASSES} is missing: run `make compat-ruby`" if passes.empty?

    Dir.mktmpdir("slotshift-compat") do |work|
      with_server do |port, cluster|
        ss, crashed = run_side("slotshift", port, work)
        only = ENV["COMPAT_ONLY"]
        ran = passes.select { |id| ss.key?(id) || only.nil? }
        ok, ratio = summary(ran, ss)
        regressions = ran.reject { |id| ss.dig(id, 0) == "pass" || known.key?(id) }
        fixed = known.keys.select { |id| ss.dig(id, 0) == "pass" }
        puts "redis-rb 4.8.0 suite (test/redis/, standalone): redis-rb passes #{ran.size}; " \
             "slotshift passes #{ok} of them (#{format('%.1f', ratio)} %)"
        by_category(known.slice(*ran)).each { |c, n| puts "  known: #{n.to_s.rjust(4)}  #{c}" }
        ssc, cluster_crashed = run_cluster("slotshift", port, cluster, work)
        crashed += cluster_crashed
        cluster_regressions, cluster_fixed = check_cluster(passes, ssc)
        regressions += cluster_regressions.map { |id| "#{CLUSTER_PREFIX}#{id}" }
        fixed += cluster_fixed.map { |id| "#{CLUSTER_PREFIX}#{id}" }
        crashed.each { |c| puts "compat: a test file's process did not end normally: #{c}" }
        unless fixed.empty?
          puts "#{fixed.size} known failure(s) now pass: remove them (make compat-ruby rewrites the list):"
          fixed.each { |id| puts "  #{id}" }
        end
        if regressions.empty? && crashed.empty?
          puts "compat: no regression"
          return true
        end

        puts "compat: #{regressions.size} REGRESSION(S): redis-rb passes these, slotshift did before, now fails:"
        regressions.each do |id|
          status, message = (id.start_with?(CLUSTER_PREFIX) ? ssc[id.delete_prefix(CLUSTER_PREFIX)] : ss[id]) || ["missing", "no result"]
          puts "  #{id}: #{status}: #{message}"
        end
        false
      end
    end
  end
end

case ARGV.first
when "record" then Compat.record
when "check" then exit(Compat.check ? 0 : 1)
else abort "usage: ruby tests/compat/ruby/run.rb record|check"
end
