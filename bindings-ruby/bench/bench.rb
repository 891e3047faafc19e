# frozen_string_literal: true

# slotshift vs redis-rb 4.8 (Debian's ruby-redis), side by side in one run, on servers this
# script starts (`slotshift servers up`: a standalone server and a 3-master cluster).
# Prints Markdown rows for docs/BENCHMARKS.md. Run: `make bench-ruby`.
#
# Each measurement alternates the two clients for several rounds and keeps each one's best
# round, so a noisy neighbour on the machine hurts both alike.

ENV["SLOTSHIFT_NO_AUTORUN"] = "1" # a benchmark, not a test run
require_relative "../test/test_helper"
require "redis"
require "redis/cluster"


ROUNDS = Integer(ENV.fetch("BENCH_ROUNDS", "5"))

def clock
  Process.clock_gettime(Process::CLOCK_MONOTONIC)
end

# Best (shortest) seconds per round of each labelled block, rounds interleaved.
def race(blocks)
  best = blocks.transform_values { Float::INFINITY }
  ROUNDS.times do
    blocks.each do |label, blk|
      t = clock
      blk.call
      best[label] = [best[label], clock - t].min
    end
  end
  best
end

rows = []
row = ->(what, ours, peer, unit, peer_label) { rows << [what, ours, peer, unit, peer_label] }

topology = TestServers.topology
standalone = "#{topology.fetch('standalone')}/9"
cluster_urls = topology.fetch("cluster")

# --- standalone GET/SET latency --------------------------------------------------------------
ours = Slotshift::Client.new(url: standalone)
peer = Redis.new(url: standalone)
ours.set("lat", "x" * 64)
n = 20_000
t = race(
  "slotshift SET" => -> { n.times { ours.set("lat", "value") } },
  "redis-rb SET" => -> { n.times { peer.set("lat", "value") } },
  "slotshift GET" => -> { n.times { ours.get("lat") } },
  "redis-rb GET" => -> { n.times { peer.get("lat") } }
)
%w[SET GET].each do |cmd|
  row.call("#{cmd} latency, standalone (µs/op)", t["slotshift #{cmd}"] / n * 1e6, t["redis-rb #{cmd}"] / n * 1e6,
           :latency, "redis-rb #{cmd}")
end

# --- 3-master cluster: cross-slot MGET of 1,000 keys, pipeline of 100 GETs ------------------
ours = Slotshift::Client.new(nodes: cluster_urls)
peer = Redis.new(cluster: cluster_urls)
keys = (0...1000).map { |i| "bench:#{i}" }
ours.mset(*keys.flat_map { |k| [k, "v" * 32] })
by_slot = keys.group_by { |k| Redis::Cluster::KeySlotConverter.convert(k) }
# redis-rb refuses a pipeline spanning nodes; its best is one pipeline per node, grouped with
# its own (internal) slot map.
cluster = peer._client
by_node = keys.group_by { |k| cluster.send(:find_node_key, [:get, k], primary_only: true) }
raise "cross-slot MGET should be refused by redis-rb" unless begin
  peer.mget(*keys.first(2))
  false
rescue Redis::CommandError, Redis::Cluster::CrossSlotPipeliningError
  true
end

t = race(
  "slotshift MGET" => -> { ours.mget(*keys) },
  "redis-rb GETs" => -> { keys.each { |k| peer.get(k) } },
  "redis-rb per slot" => -> { by_slot.each_value { |ks| peer.pipelined { |p| ks.each { |k| p.get(k) } } } },
  "redis-rb per node" => -> { by_node.each_value { |ks| peer.pipelined { |p| ks.each { |k| p.get(k) } } } }
)
best_peer = ["redis-rb GETs", "redis-rb per slot", "redis-rb per node"].min_by { |l| t[l] }
row.call("cross-slot MGET of 1,000 keys, 3 masters (keys/s)", 1000 / t["slotshift MGET"], 1000 / t[best_peer],
         :throughput, best_peer)
rows << ["  (redis-rb alternatives, keys/s: single GETs #{(1000 / t['redis-rb GETs']).round}, " \
         "pipeline per slot #{(1000 / t['redis-rb per slot']).round}, pipeline per node #{(1000 / t['redis-rb per node']).round})"]

hundred = keys.first(100)
slots100 = hundred.group_by { |k| Redis::Cluster::KeySlotConverter.convert(k) }
nodes100 = hundred.group_by { |k| cluster.send(:find_node_key, [:get, k], primary_only: true) }
reps = 50
t = race(
  "slotshift pipeline" => -> { reps.times { ours.pipelined { |p| hundred.each { |k| p.get(k) } } } },
  "redis-rb GETs" => -> { reps.times { hundred.each { |k| peer.get(k) } } },
  "redis-rb per slot" => -> { reps.times { slots100.each_value { |ks| peer.pipelined { |p| ks.each { |k| p.get(k) } } } } },
  "redis-rb per node" => -> { reps.times { nodes100.each_value { |ks| peer.pipelined { |p| ks.each { |k| p.get(k) } } } } }
)
best_peer = ["redis-rb GETs", "redis-rb per slot", "redis-rb per node"].min_by { |l| t[l] }
row.call("pipeline of 100 GETs on #{slots100.size} slots, 3 masters (pipelines/s)", reps / t["slotshift pipeline"],
         reps / t[best_peer], :throughput, best_peer)

# --- key_slot ---------------------------------------------------------------------------------
slot_keys = (0...100_000).map { |i| "user:{#{i % 977}}:session:#{i}" }
t = race(
  "slotshift" => -> { slot_keys.each { |k| Slotshift.key_slot(k) } },
  "redis-rb" => -> { slot_keys.each { |k| Redis::Cluster::KeySlotConverter.convert(k) } },
  "slotshift batch" => -> { Slotshift.key_slots(slot_keys) }
)
row.call("key_slot, one call per key (keys/s)", slot_keys.size / t["slotshift"], slot_keys.size / t["redis-rb"],
         :throughput, "KeySlotConverter.convert")
row.call("key_slots, one call for 100,000 keys (keys/s)", slot_keys.size / t["slotshift batch"],
         slot_keys.size / t["redis-rb"], :throughput, "KeySlotConverter.convert")

puts "| measurement | slotshift | redis-rb 4.8 (best way) | ratio |"
puts "|---|---:|---:|---:|"
rows.each do |what, a, b, unit, label|
  next puts("| #{what} | | | |") if a.nil?

  ratio = unit == :latency ? a / b : a / b
  fmt = ->(v) { v >= 100 ? v.round.to_s.reverse.scan(/\d{1,3}/).join(",").reverse : format("%.1f", v) }
  note = unit == :latency ? "#{format('%.2f', ratio)}× the time" : "#{format('%.1f', ratio)}× faster"
  puts "| #{what} | #{fmt.call(a)} | #{fmt.call(b)} (#{label}) | #{note} |"
end
puts
puts "Ruby #{RUBY_VERSION}, redis-rb #{Redis::VERSION}, slotshift #{Slotshift::VERSION}; best of #{ROUNDS} interleaved rounds."
