# frozen_string_literal: true

require_relative "test_helper"
require "redis"
require "logger"
require "stringio"

Redis.silence_deprecations = true

# Slotshift::Redis as a drop-in for redis-rb 4.8's Redis: built from redis-rb's options, a
# ::Redis, redis-rb's reply shapes, and on a cluster the cross-slot commands and pipelines
# that redis-rb's own cluster client refuses.
class TestDropIn < Minitest::Test
  include SlotshiftTestHelpers

  def cluster
    @cluster ||= Slotshift::Redis.new(cluster: TestServers.cluster_urls)
  end

  def standalone_port
    Integer(TestServers.topology.fetch("standalone")[/:(\d+)\z/, 1])
  end

  def test_is_a_redis_built_from_redis_rb_options
    r = Slotshift::Redis.new(host: "127.0.0.1", port: standalone_port, db: 3, timeout: 2)
    assert_kind_of ::Redis, r
    assert_equal "PONG", r.ping
    assert_equal 3, r._client.db
    assert_equal "127.0.0.1", r._client.host
    assert_equal standalone_port, r._client.port
    assert_equal "redis://127.0.0.1:#{standalone_port}/3", r.id
    assert_equal({ host: "127.0.0.1", port: standalone_port, db: 3, id: r.id, location: "127.0.0.1:#{standalone_port}" },
                 r.connection)
    assert_equal 2.0, r._client.timeout
    # String keys, as redis-rb takes them too.
    assert_equal "PONG", Slotshift::Redis.new("url" => TestServers.standalone_url(3)).ping
  end

  def test_unknown_and_unsupported_options_are_argument_errors_naming_them
    e = assert_raises(ArgumentError) { Slotshift::Redis.new(url: TestServers.standalone_url, colour: :red) }
    assert_match(/:colour/, e.message)
    e = assert_raises(ArgumentError) { Slotshift::Redis.new(url: TestServers.standalone_url, connector: Class.new) }
    assert_match(/:connector/, e.message)
    e = assert_raises(ArgumentError) { Slotshift::Redis.new(url: TestServers.standalone_url, tcp_keepalive: 5) }
    assert_match(/tcp_keepalive/, e.message)
    e = assert_raises(ArgumentError) { Slotshift::Redis.new(url: TestServers.standalone_url, ssl_params: { ciphers: "x" }) }
    assert_match(/ciphers/, e.message)
  end

  def test_select_changes_the_clients_database_only
    a = Slotshift::Redis.new(url: TestServers.standalone_url(0))
    b = Slotshift::Redis.new(url: TestServers.standalone_url(0))
    a.select(6)
    a.set("drop-in:db", "six")
    assert_equal 6, a._client.db
    assert_nil b.get("drop-in:db"), "another client's database changed"
    assert_equal "six", Slotshift::Redis.new(url: TestServers.standalone_url(6)).get("drop-in:db")
    a.pipelined { |p| p.select(7) }
    assert_equal 7, a._client.db
  end

  # WATCH … MULTI/EXEC and pub/sub run on connections of the client's own (core sessions):
  # another client's write between WATCH and EXEC aborts the transaction, and commands of
  # other threads sharing the store never land inside it.
  def test_watch_and_multi_run_on_a_session_of_the_clients_own
    r = standalone_client(0)
    other = standalone_client(0)
    r.set("drop-in:watched", "1")
    r.watch("drop-in:watched")
    other.set("drop-in:watched", "2")
    assert_nil(r.multi { |m| m.set("drop-in:watched", "3") }, "EXEC ran although a watched key changed")
    assert_equal "2", r.get("drop-in:watched")
    r.watch("drop-in:watched") do
      assert_equal ["OK"], r.multi { |m| m.set("drop-in:watched", "4") }
    end
    assert_equal "4", other.get("drop-in:watched")
    r.multi
    assert_equal "QUEUED", r.set("drop-in:watched", "5")
    assert_equal "OK", r.discard
    assert_equal "4", r.get("drop-in:watched")
    e = assert_raises(Redis::CommandError) { r.exec }
    assert_match(/EXEC without MULTI/, e.message)
  end

  def test_subscribe_on_a_subscriber_of_the_clients_own
    r = standalone_client(0)
    heard = []
    listening = Queue.new
    thread = Thread.new do
      r.subscribe("drop-in:ch") do |on|
        on.subscribe { |_ch, _n| listening << true }
        on.message do |ch, msg|
          heard << [ch, msg]
          r.unsubscribe
        end
      end
    end
    listening.pop
    assert_equal 1, standalone_client(0).publish("drop-in:ch", "hello")
    thread.join(5) or flunk("the subscription did not end")
    assert_equal [["drop-in:ch", "hello"]], heard
    assert_equal "PONG", r.ping, "the client's store is usable after the subscription"
    e = assert_raises(Redis::TimeoutError) { r.subscribe_with_timeout(0.05, "drop-in:quiet") { |_on| nil } }
    assert_kind_of Slotshift::TimeoutError, e
  end

  def test_client_setname_and_auth_reopen_the_clients_connections
    r = standalone_client(0)
    r.client(:setname, "drop-in-name")
    assert_equal "drop-in-name", r.client(:getname)
    assert_equal "drop-in-id", Slotshift::Redis.new(url: TestServers.standalone_url(0), id: "drop-in-id").client(:getname),
                 "redis-rb names its connection after id:"
    admin = standalone_client(0)
    admin.call(:acl, :setuser, "drop-in-user", "on", ">drop-in-pass", "~*", "+@all")
    begin
      assert_raises(Redis::CommandError) { r.auth("drop-in-user", "wrong") }
      assert_equal "default", r.call(:acl, :whoami), "a refused AUTH changed the client's user"
      assert_equal "OK", r.auth("drop-in-user", "drop-in-pass")
      assert_equal "drop-in-user", r.call(:acl, :whoami)
      assert_equal "drop-in-name", r.client(:getname), "the name is kept across AUTH"
      refute_match(/drop-in-pass/, r.inspect)
    ensure
      admin.call(:acl, :deluser, "drop-in-user")
    end
  end

  # Shard channels on a cluster: the subscriber sits on the master of the channel's slot, and
  # SPUBLISH (routed by the channel) reaches it.
  def test_shard_channels_on_a_cluster
    channels = %w[{drop-in-shard}.a {drop-in-shard}.b]
    heard = []
    joined = Queue.new
    listener = Slotshift::Redis.new(cluster: TestServers.cluster_urls)
    thread = Thread.new do
      listener.ssubscribe(*channels) do |on|
        on.ssubscribe { |_ch, count| joined << count }
        on.smessage do |ch, msg|
          heard << [ch, msg]
          listener.sunsubscribe if heard.size == 2
        end
      end
    end
    assert_equal [1, 2], [joined.pop, joined.pop]
    assert_equal 1, cluster.spublish(channels[0], "one")
    assert_equal 1, cluster.spublish(channels[1], "two")
    thread.join(5) or flunk("the shard subscription did not end")
    assert_equal [[channels[0], "one"], [channels[1], "two"]], heard
    assert_raises(Redis::TimeoutError) { listener.ssubscribe_with_timeout(0.05, channels[0]) { |_on| nil } }
  end

  def test_monitor_runs_on_a_monitor_of_its_own
    r = standalone_client(0)
    lines = []
    started = Queue.new
    thread = Thread.new do
      standalone_client(0).monitor do |line|
        started << true if line == "OK"
        lines << line
        break if line.include?('"drop-in:monitored"')
      end
    end
    started.pop
    r.set("drop-in:monitored", "1")
    thread.join(5) or flunk("MONITOR never showed the SET")
    assert_equal "OK", lines.first
    assert_match(/"set" "drop-in:monitored" "1"/i, lines.last)
    assert_equal "PONG", r.ping
  end

  def test_hello_and_state_in_pipelines_raise_a_command_error_naming_them
    r = standalone_client(0)
    e = assert_raises(Redis::CommandError) { r.call(:hello, 3) }
    assert_match(/HELLO/, e.message)
    e = assert_raises(Redis::CommandError) { r.pipelined { |p| p.watch("k") } }
    assert_match(/WATCH/, e.message)
    assert_equal "PONG", r.ping
  end

  # What redis-rb 4.8's command layer passes through unconverted reaches the client as it is:
  # a Hash, or an object without a string form of its own, is refused (an InvalidCommandError,
  # a Redis::CommandError) naming the argument, and nothing is sent (redis-rb 4.8 sent "{…}"
  # and "#<Object…>"). nil stays "", as redis-rb 4.8's own suite expects.
  def test_arguments_without_a_string_form_are_refused
    r = standalone_client(0)
    r.del("drop-in:args")
    e = assert_raises(Slotshift::InvalidCommandError) { r.rpush("drop-in:args", { a: 1 }) }
    assert_match(/argument 2: a Hash/, e.message)
    e = assert_raises(Slotshift::InvalidCommandError) { r.call(:set, "drop-in:args", Object.new) }
    assert_match(/argument 2: a Object has no string form/, e.message)
    assert_raises(Redis::CommandError) { r.pipelined { |p| p.lpush("drop-in:args", [{ a: 1 }]) } }
    assert_equal 0, r.exists("drop-in:args"), "a refused command was sent"
    assert_equal "OK", r.call(:set, "drop-in:args", 3600.0) # numbers and strings as ever
    e = assert_raises(ArgumentError) { Slotshift::Redis.new(url: TestServers.standalone_url(0), batch_limit: "x").ping }
    assert_match(/batch_limit/, e.message)
  end

  # The string-setting commands refuse a value redis-rb 4.8 would store as "" or as its
  # inspect form, directly, in `pipelined` and in `multi`, through a client and a MultiStore;
  # nothing is stored. Strings, symbols and numbers are stored as ever.
  def test_values_without_a_meant_string_form_are_refused
    r = standalone_client(0)
    store = Slotshift::MultiStore.new(name: "ValueChecks", primary: standalone_client(1), secondary: r)
    r.del("drop-in:value")
    [nil, { a: 1 }, Object.new].each do |bad|
      [r, store].each do |client|
        e = assert_raises(Slotshift::InvalidCommandError, bad.inspect) { client.set("drop-in:value", bad) }
        assert_match(/\ASET: the value is (nil|a Hash|a Object)/, e.message)
        assert_raises(Redis::CommandError) { client.setex("drop-in:value", 60, bad) }
        assert_raises(Redis::CommandError) { client.getset("drop-in:value", bad) }
        assert_raises(Redis::CommandError) { client.pipelined { |p| p.set("drop-in:value", bad) } }
        assert_raises(Redis::CommandError) { client.multi { |m| m.setnx("drop-in:value", bad) } }
      end
    end
    assert_equal 0, r.exists("drop-in:value"), "a refused value was stored"
    assert_equal "OK", r.set("drop-in:value", :sym)
    assert_equal ["OK", true], r.pipelined { |p| p.set("drop-in:value", 1.5); p.setnx("drop-in:other", 2) }
    assert_equal ["1.5", "2"], r.mget("drop-in:value", "drop-in:other")
  ensure
    r&.del("drop-in:value", "drop-in:other")
  end

  def test_logger_gets_redis_rbs_command_lines
    log = StringIO.new
    r = Slotshift::Redis.new(url: TestServers.standalone_url(0), logger: Logger.new(log))
    r.set("drop-in:log", "v")
    assert_match(/\[Redis\] command=SET args="drop-in:log" "v"/, log.string)
    assert_match(/\[Redis\] call_time=/, log.string)
  end

  def test_redis_rb_rescues_catch_slotshift_errors
    r = standalone_client(0)
    r.set("drop-in:str", "x")
    caught = begin
      r.incr("drop-in:str")
    rescue Redis::BaseError => e
      e
    end
    assert_kind_of Slotshift::CommandError, caught
    dead = Slotshift::Redis.new(url: "redis://127.0.0.1:1", timeout: 0.3)
    e = assert_raises(Redis::BaseConnectionError) { dead.get("a") }
    assert_kind_of Redis::CannotConnectError, e
    refute dead.connected?
  end

  # What redis-rb 4.8's cluster client refuses (CROSSSLOT), with redis-rb's return shapes.
  def test_cross_slot_multi_key_commands_on_a_cluster
    keys = keys_across_slots("drop-in:x", 24)
    assert_equal "OK", cluster.mset(*keys.flat_map { |k| [k, k.upcase] })
    assert_equal keys.map(&:upcase), cluster.mget(*keys)
    assert_equal keys.first(3).to_h { |k| [k, k.upcase] }, cluster.mapped_mget(*keys.first(3))
    assert_equal 24, cluster.exists(*keys)
    assert cluster.exists?(*keys)
    assert_equal 12, cluster.unlink(*keys.first(12))
    assert_equal 12, cluster.del(*keys)
    refute cluster.exists?(*keys)
    # MSETNX is all-or-nothing: across slots it cannot be split, and nothing is sent.
    e = assert_raises(Redis::BaseError) { cluster.msetnx(*keys.first(2).flat_map { |k| [k, "1"] }) }
    assert_kind_of Slotshift::PipelineError, e
    cluster.del("{drop-in}a", "{drop-in}b")
    assert_equal true, cluster.msetnx("{drop-in}a", "1", "{drop-in}b", "2")
    cluster.del("{drop-in}a", "{drop-in}b")
  end

  # Set algebra, moves and copies across slots, served in rounds by the core, with redis-rb's
  # return shapes (its cluster client answers CROSSSLOT to each).
  def test_cross_slot_set_algebra_moves_and_copies_on_a_cluster
    a, b, dest, copy = keys_across_slots("drop-in:s", 4)
    slots = [a, b, dest, copy, a + "z", b + "z"].map { |k| Slotshift.key_slot(k) }
    assert_equal 4, slots.first(4).uniq.size
    refute_equal slots[4], slots[5]
    cluster.sadd(a, %w[red blue])
    cluster.sadd(b, %w[blue green])
    assert_equal %w[blue], cluster.sinter(a, b)
    assert_equal %w[blue green red], cluster.sunion(a, b).sort
    assert_equal 3, cluster.sunionstore(dest, a, b)
    assert_equal true, cluster.smove(a, b, "red")
    assert_equal %w[blue green red], cluster.smembers(b).sort
    assert_equal true, cluster.copy(dest, copy)
    assert_equal false, cluster.copy(dest, copy)
    cluster.zadd(a + "z", [[1, "x"], [2, "y"]])
    cluster.zadd(b + "z", [[3, "y"]])
    assert_equal [["y", 5.0]], cluster.zinter(a + "z", b + "z", with_scores: true)
    cluster.set(a + "str", "s")
    assert_raises(Redis::CommandError) { cluster.sunion(a, a + "str") }
    # A cluster has database 0 only: SELECT of another is refused, not ignored.
    e = assert_raises(Redis::CommandError) { cluster.select(3) }
    assert_match(/not allowed in cluster mode/, e.message)
  ensure
    cluster.del(a, b, dest, copy, a + "z", b + "z", a + "str")
  end

  def test_cross_slot_pipeline_on_a_cluster_with_futures
    keys = keys_across_slots("drop-in:p", 10)
    futures = nil
    replies = cluster.pipelined do |p|
      keys.each_with_index { |k, i| p.set(k, i) }
      futures = keys.map { |k| p.get(k) }
      p.exists?(keys.first)
      p.zadd("drop-in:z", 1, "m")
      p.zpopmax("drop-in:z")
    end
    assert_equal Array.new(10, "OK") + (0...10).map(&:to_s) + [true, true, ["m", 1.0]], replies
    assert_equal "3", futures[3].value
    cluster.del(*keys)
  end

  def test_multi_block_on_one_slot_of_a_cluster
    replies = cluster.multi do |t|
      t.set("{drop-in}a", 1)
      t.incr("{drop-in}a")
      t.exists?("{drop-in}a")
    end
    assert_equal ["OK", 2, true], replies
  end

  # Sentinel as redis-rb takes it (and as GitLab's Wrapper.params gives it): the master's name
  # as the URL's host or `name:`, `sentinels:` as host/port Hashes, `role:`.
  def test_sentinel_options_as_redis_rb_takes_them
    s = TestServers.sentinel_topology
    sentinels = s.fetch("sentinels").map { |a| { host: a.split(":").first, port: Integer(a.split(":").last) } }
    r = Slotshift::Redis.new(url: "redis://#{s.fetch('master_name')}", sentinels: sentinels, role: :master)
    assert_equal "OK", r.set("drop-in:sentinel", "1")
    assert_equal :sentinel, r.kind
    assert_equal "1", Slotshift::Redis.new(url: s.fetch("master")).get("drop-in:sentinel")
    by_name = Slotshift::Redis.new(name: s.fetch("master_name"), sentinels: sentinels, role: "master", db: 2)
    assert_equal "OK", by_name.set("drop-in:sentinel", "2")
    assert_equal "2", Slotshift::Redis.new(url: "#{s.fetch('master')}/2").get("drop-in:sentinel")
    e = assert_raises(ArgumentError) { Slotshift::Redis.new(url: "redis://m", sentinels: sentinels, role: :boss) }
    assert_match(/role/, e.message)
  end

  # ssl_params: (redis-rb's, as GitLab passes them: OpenSSL objects for cert/key) reach the
  # core as its TLS options, never dropped; an option it cannot honour is an ArgumentError.
  def test_ssl_params_become_the_cores_tls_options
    require "openssl"
    key = OpenSSL::PKey::RSA.new(2048)
    cert = OpenSSL::X509::Certificate.new
    cert.version = 2
    cert.serial = 1
    cert.subject = cert.issuer = OpenSSL::X509::Name.parse("/CN=client")
    cert.public_key = key.public_key
    cert.not_before = Time.now
    cert.not_after = Time.now + 3600
    cert.sign(key, OpenSSL::Digest.new("SHA256"))
    _, _, urls = Slotshift::Redis.parse_options(url: "redis://10.0.0.1:6380/2", password: "pw",
                                                ssl_params: { ca_file: "/etc/ca.pem", cert: cert, key: key,
                                                              verify_mode: OpenSSL::SSL::VERIFY_NONE })
    assert_equal 1, urls.size
    url = URI(urls.first)
    assert_equal "rediss", url.scheme
    query = URI.decode_www_form(url.query).to_h
    assert_equal "/etc/ca.pem", query["ca_file"]
    assert_equal "true", query["insecure"]
    assert_equal cert.to_pem, File.read(query["cert_file"])
    assert_equal key.to_pem, File.read(query["key_file"])
    assert_equal 0o600, File.stat(query["key_file"]).mode & 0o777
    assert_equal "/2", url.path
    # The Redis object's options show no secret.
    r = Slotshift::Redis.new(url: "redis://:pw@10.0.0.1:6380/2", ssl_params: { cert: cert, key: key })
    refute_includes r.instance_variable_get(:@options).inspect, "pw@"
    refute_includes r.instance_variable_get(:@options).inspect, "PRIVATE KEY"
  end

  # GitLab's Wrapper.params for a cluster (`nodes:` host/port Hashes, db 0) and for Sentinel
  # (`name:` the master, `sentinels:`, `sentinel_password:`) build clients.
  def test_gitlab_shaped_params
    nodes = TestServers.cluster_urls.map { |u| { host: URI(u).host, port: URI(u).port } }
    c = Slotshift::Redis.new(nodes: nodes, db: 0)
    assert_equal "OK", c.set("drop-in:gitlab", "1")
    assert_equal :cluster, c.kind
    _, _, urls = Slotshift::Redis.parse_options(name: "mymaster", sentinels: [{ host: "s1", port: 26_379 }],
                                                sentinel_password: "spw", password: "mpw", db: 1)
    assert_match(%r{\Aredis\+sentinel://:mpw@s1:26379/mymaster/1\?sentinel_password=spw\z}, urls.first)
  end

  def test_commands_of_threads_sharing_a_client_are_not_serialized
    r = standalone_client(0)
    r.del("drop-in:q")
    popper = Thread.new { r.blpop("drop-in:q", timeout: 5) }
    sleep 0.05 until popper.status == "sleep" || !popper.alive?
    assert_equal "PONG", r.ping # redis-rb would wait here for the BLPOP
    r.rpush("drop-in:q", "v")
    assert_equal ["drop-in:q", "v"], popper.value
  end
end
