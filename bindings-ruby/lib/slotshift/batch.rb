# frozen_string_literal: true

module Slotshift
  # The value of a command queued in `pipelined` or `multi`, known once the block returns.
  class Future
    # Raised by #value before the batch has run.
    class NotReady < Error; end

    def initialize(command, transform)
      @command = command
      @transform = transform
      @ready = false
    end

    # The command's reply, converted as redis-rb converts it. Raises the command's error.
    def value
      raise NotReady, "the value of #{@command.first.to_s.upcase} is not known before the block returns" unless @ready
      raise @value if @value.is_a?(::Exception)

      @value
    end

    def inspect
      "<Slotshift::Future #{@command.first.to_s.upcase}>"
    end

    # @api private
    def _set(raw)
      @value = raw.is_a?(::Exception) || @transform.nil? ? raw : @transform.call(raw)
      @ready = true
      @value
    end
  end

  # What `pipelined { |p| }` and `multi { |t| }` yield: every command method of the client
  # (redis-rb's names), each queued and answered by a Future.
  class Batch
    include Commands

    def initialize(client)
      @client = client
      @commands = []
      @futures = []
    end

    # @api private
    attr_reader :commands, :futures

    # Raw command, as Client#call.
    def call(*args)
      send_command(args)
    end

    # Nested `pipelined` joins this batch, as redis-rb does.
    def pipelined
      yield self
    end

    # @api private
    def send_command(args, &transform)
      @commands << args
      future = Future.new(args, transform)
      @futures << future
      future
    end

    # A blocking command inside a batch is sent like any other.
    def send_blocking_command(args, _timeout, &transform)
      send_command(args, &transform)
    end

    # Keyspace-wide commands (on every master of a cluster, replies aggregated by the core) are
    # not batchable.
    %i[keys flushdb flushall dbsize scan scan_each].each do |name|
      define_method(name) do |*|
        raise ArgumentError, "#{name} cannot be used inside pipelined/multi"
      end
    end

    # @api private: give each future its reply; raise the first error, as redis-rb does.
    def finish(replies)
      values = @futures.each_with_index.map { |f, i| f._set(replies[i]) }
      error = values.find { |v| v.is_a?(::Exception) }
      raise error if error

      values
    end
  end
end
