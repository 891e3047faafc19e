# frozen_string_literal: true

module Slotshift
  # Shard channels (Redis 7's SSUBSCRIBE, SPUBLISH), which redis-rb 4.8 has no methods for,
  # shaped as its `subscribe`: a block names the callbacks (`ssubscribe`, `smessage`,
  # `sunsubscribe`), the loop runs until the last shard channel is left. On a cluster a shard
  # channel lives on the master of its slot: the subscriber connects there, and every channel
  # of one `ssubscribe` must share that slot (hash tags), as the server requires.
  #
  #   redis.ssubscribe("{orders}.created") do |on|
  #     on.smessage { |channel, message| handle(message) }
  #   end
  #   redis.spublish("{orders}.created", "42")
  module ShardPubSub
    # The callbacks of a shard-channel subscription.
    class Subscription
      # Callback name => block (a missing one does nothing).
      attr_reader :callbacks

      def initialize
        @callbacks = Hash.new { |hash, key| hash[key] = ->(*_) {} }
        yield(self)
      end

      # Called with (channel, count of subscriptions) when a channel is joined.
      def ssubscribe(&block)
        @callbacks["ssubscribe"] = block
      end

      # Called with (channel, message) for each message.
      def smessage(&block)
        @callbacks["smessage"] = block
      end

      # Called with (channel, count of subscriptions left) when a channel is left.
      def sunsubscribe(&block)
        @callbacks["sunsubscribe"] = block
      end
    end

    # Listens on shard `channels` until the last is left (`sunsubscribe` in a callback).
    def ssubscribe(*channels, &block)
      shard_subscription(0, channels, block)
    end

    # As #ssubscribe; raises Redis::TimeoutError when no message comes for `timeout` seconds.
    def ssubscribe_with_timeout(timeout, *channels, &block)
      shard_subscription(timeout, channels, block)
    end

    # Leaves shard `channels` (all of them when none given); only inside #ssubscribe.
    def sunsubscribe(*channels)
      synchronize do |client|
        raise "Can't unsubscribe if not subscribed." unless subscribed?

        client.call([:sunsubscribe, *channels])
      end
    end

    # Publishes `message` on shard `channel`; the number of subscribers that got it.
    def spublish(channel, message)
      send_command([:spublish, channel, message])
    end

    private

    def shard_subscription(timeout, channels, block)
      synchronize do |client|
        return client.call([:ssubscribe, *channels]) if subscribed?

        subscription = Subscription.new(&block)
        @client = ::Redis::SubscribedClient.new(client)
        begin
          client.call_loop([:ssubscribe, *channels], timeout) do |type, *rest|
            subscription.callbacks[type].call(*rest)
            break if type == "sunsubscribe" && rest.last.zero?
          end
        ensure
          @client = client
        end
      end
    end
  end
end
