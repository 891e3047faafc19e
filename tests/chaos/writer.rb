# frozen_string_literal: true

# The Ruby writers of tests/chaos/ledger.py: THREADS threads SET a new key and INCR one of 8
# counters, again and again, through one client, until the driver closes standard input; then
# the ledger goes to standard output as one JSON object (what was acknowledged, what was sent,
# each error with its time, the slowest call). The driver makes the faults and checks.
#
#   ruby tests/chaos/writer.rb SIDE CLIENT THREADS PAUSE T0 URL...
#
# CLIENT: `slotshift` (Slotshift::Redis, the gem) or `redis-rb` (redis-rb 4.8's cluster
# client, the baseline). T0: the driver's clock origin (seconds since the epoch), so that the
# times of errors are on the driver's clock.

require "json"
require "redis"

side, kind, threads, pause, t0, *urls = ARGV
threads = Integer(threads)
pause = Float(pause)
t0 = Float(t0)

client = case kind
         when "slotshift"
           require "slotshift"
           Slotshift::Redis.new(cluster: urls)
         when "redis-rb"
           Redis.new(cluster: urls)
         else
           abort "writer.rb: CLIENT is slotshift or redis-rb, not #{kind.inspect}"
         end

# A connection or timeout error, or the cluster saying it is down or busy: what a caller may
# retry.
def retryable?(error)
  error.is_a?(Redis::BaseConnectionError) ||
    (error.is_a?(Redis::CommandError) && error.message.match?(/\A(CLUSTERDOWN|TRYAGAIN)/))
end

lock = Mutex.new
ledger = { "sets" => [], "incr_sent" => Hash.new(0), "incr_acked" => Hash.new(0), "errors" => [], "slowest" => 0.0 }
stop = false

timed = lambda do |&call|
  start = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  begin
    call.call
  rescue Redis::BaseError => e
    lock.synchronize { ledger["errors"] << [Time.now.to_f - t0, e.class.name, e.message, retryable?(e)] }
    nil
  ensure
    took = Process.clock_gettime(Process::CLOCK_MONOTONIC) - start
    lock.synchronize { ledger["slowest"] = took if took > ledger["slowest"] }
  end
end

workers = Array.new(threads) do |t|
  Thread.new do
    i = 0
    until stop
      i += 1
      key = "chaos:#{side}:w#{t}:#{i}"
      lock.synchronize { ledger["sets"] << [key, i.to_s] } if timed.call { client.set(key, i.to_s) } == "OK"
      counter = "chaos:#{side}:c#{t}:#{i % 8}"
      lock.synchronize { ledger["incr_sent"][counter] += 1 }
      lock.synchronize { ledger["incr_acked"][counter] += 1 } unless timed.call { client.incr(counter) }.nil?
      sleep pause
    end
  end
end

$stdout.sync = true
puts "ready"
$stdin.read # until the driver closes it
stop = true
workers.each { |w| w.join(60) }
puts JSON.generate(ledger)
