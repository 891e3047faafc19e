# frozen_string_literal: true

# Cross-slot MGET of 1,000 keys on a 3-master cluster: one build of the gem against redis-rb
# 4.8's fastest correct way (one pipeline of GETs per node, grouped with its own slot map),
# for before/after comparisons of a change (docs/BENCHMARKS.md). Install the other build
# somewhere (`make ruby-install RUBY_GEM_DIR=/tmp/old-gems` in a worktree of the old commit),
# start a cluster (`slotshift servers up --cluster 3x0`), and run this once per build,
# alternately:
#
#   CLUSTER=redis://127.0.0.1:7000,redis://127.0.0.1:7001 \
#     SLOTSHIFT_GEM_LIB=/tmp/old-gems/gems/slotshift-0.1.0/lib GEM_PATH=/tmp/old-gems: \
#     ruby bindings-ruby/bench/mget_ab.rb
#
# Prints the best round of 15 for both clients (rounds interleaved) and their ratio.

$LOAD_PATH.unshift(ENV.fetch("SLOTSHIFT_GEM_LIB"))
require "slotshift"
require "redis"
require "redis/cluster"

urls = ENV.fetch("CLUSTER").split(",")
ours = Slotshift::Redis.new(cluster: urls)
peer = Redis.new(cluster: urls)
keys = (0...1000).map { |i| "mget-ab:#{i}" }
ours.mset(*keys.flat_map { |k| [k, "v" * 32] })
by_node = keys.group_by { |k| peer._client.send(:find_node_key, [:get, k], primary_only: true) }
raise "the clients disagree" unless ours.mget(*keys) == keys.map { |k| peer.get(k) }

best = Hash.new(Float::INFINITY)
15.times do
  {
    "slotshift" => -> { ours.mget(*keys) },
    "redis-rb" => -> { by_node.each_value { |ks| peer.pipelined { |p| ks.each { |k| p.get(k) } } } }
  }.each do |name, run|
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    run.call
    best[name] = [best[name], Process.clock_gettime(Process::CLOCK_MONOTONIC) - started].min
  end
end
printf("MGET of 1,000 keys, µs: slotshift %.0f, redis-rb per node %.0f, %.2f× faster\n",
       best["slotshift"] * 1e6, best["redis-rb"] * 1e6, best["redis-rb"] / best["slotshift"])
