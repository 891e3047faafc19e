# frozen_string_literal: true

# GET latency of one build of the gem against redis-rb 4.8 on one server, for before/after
# comparisons of a change (docs/BENCHMARKS.md): install the other build somewhere
# (`make ruby-install RUBY_GEM_DIR=/tmp/old-gems` in a worktree of the old commit), start a
# server, and run this once per build, alternately:
#
#   URL=redis://127.0.0.1:7556 SLOTSHIFT_GEM_LIB=/tmp/old-gems/gems/slotshift-0.1.0/lib \
#     GEM_PATH=/tmp/old-gems: ruby bindings-ruby/bench/latency_ab.rb
#
# Prints the best round of 7 (20,000 GETs each) for both clients, rounds interleaved.

$LOAD_PATH.unshift(ENV.fetch("SLOTSHIFT_GEM_LIB"))
require "slotshift"
require "redis"

url = ENV.fetch("URL")
ours = Slotshift::Redis.new(url: url)
peer = Redis.new(url: url)
ours.set("latency-ab", "v")
peer.get("latency-ab")
calls = Integer(ENV.fetch("CALLS", "20000"))
best = Hash.new(Float::INFINITY)
7.times do
  [["slotshift", ours], ["redis-rb", peer]].each do |name, client|
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    calls.times { client.get("latency-ab") }
    per_call = (Process.clock_gettime(Process::CLOCK_MONOTONIC) - started) / calls * 1e6
    best[name] = [best[name], per_call].min
  end
end
printf("GET µs/op: slotshift %.1f, redis-rb %.1f, ratio %.2f×\n",
       best["slotshift"], best["redis-rb"], best["slotshift"] / best["redis-rb"])
