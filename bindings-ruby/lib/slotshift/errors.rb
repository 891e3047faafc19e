# frozen_string_literal: true

require "redis"

module Slotshift
  # Every exception slotshift raises includes this module, so `rescue Slotshift::Error` catches
  # them all. Each one is also a subclass of redis-rb's matching class (all under
  # Redis::BaseError), so code written for redis-rb (`rescue Redis::BaseError`,
  # `rescue Redis::CommandError`, RedisCacheStore's failsafe) catches them too.
  module Error; end

  # The base class of the slotshift errors that have no closer redis-rb class.
  class BaseError < ::Redis::BaseError
    include Error
  end

  # A hash slot out of range.
  class SlotError < BaseError; end
  # An unknown command, a wrong arity, a malformed numkeys, or a command that needs a
  # connection of its own (WATCH, SUBSCRIBE, MONITOR ...: see docs/ruby.md). redis-rb raises
  # Redis::CommandError for an unknown command; so does this.
  class InvalidCommandError < ::Redis::CommandError
    include Error
  end
  # A bad URL, seed list, config file or environment value.
  class ConfigError < ::Redis::InvalidClientOptionError
    include Error
  end
  # An error reply from the server (WRONGTYPE, NOPERM, ...): the message is the server's.
  class CommandError < ::Redis::CommandError
    include Error
  end

  # A connection broke; the message names the node. The other connection failures are their
  # own classes below (each a subclass of redis-rb's class of the same name);
  # `rescue Slotshift::ConnectionError` catches them all.
  class ConnectionError < ::Redis::ConnectionError
    include Error

    # Also true for Slotshift::CannotConnectError and Slotshift::TimeoutError, so a rescue of
    # this class catches every connection failure of the core's "connection" family.
    def self.===(other)
      super || other.is_a?(Slotshift::CannotConnectError) || other.is_a?(Slotshift::TimeoutError) ||
        other.is_a?(Slotshift::AuthenticationError) || other.is_a?(Slotshift::ProtocolError)
    end
  end
  # The server's bytes were not RESP (a reply of the wrong kind, a proxy or a non-Redis
  # server on the port): redis-rb raises Redis::ProtocolError; so does this.
  class ProtocolError < ::Redis::ProtocolError
    include Error

    # `message`: the core's, naming the node (redis-rb's class builds its own from a byte).
    def initialize(message = "protocol error")
      Exception.instance_method(:initialize).bind_call(self, message)
    end
  end
  # The connection could not be opened (refused, unknown host, TLS, credentials).
  class CannotConnectError < ::Redis::CannotConnectError
    include Error
  end
  # The server refused the credentials (WRONGPASS, NOAUTH): redis-rb raises these as the
  # server's error reply, a Redis::CommandError; so does this.
  class AuthenticationError < ::Redis::CommandError
    include Error
  end
  # No reply within the timeout.
  class TimeoutError < ::Redis::TimeoutError
    include Error
  end

  # Redirect loops, unknown nodes, uncovered slots, cross-slot transactions.
  class RoutingError < BaseError; end
  # A bad batch limit, an unsplittable cross-slot command, a partial failure.
  class PipelineError < BaseError; end
  # The validator refused a cross-slot command (mode raise).
  class CrossSlotError < BaseError; end
  # Analyzer options, rules, checkpoints.
  class AnalyzerError < BaseError; end
  # An unknown command in strict mode, bad flags or options.
  class MultiStoreError < BaseError; end
  # Embedded test servers could not start.
  class EmbeddedServerError < BaseError; end
  # Diff/migrate options, same store on both sides, read-only destination, checkpoints.
  class MigrateError < BaseError; end

  # Core error family (Error::family() in Rust) => exception class. One row per row of
  # tests/fixtures/errors.json; the native layer raises through this table only.
  ERRORS = {
    "slot" => SlotError,
    "command" => InvalidCommandError,
    "config" => ConfigError,
    "server" => CommandError,
    "connection" => ConnectionError,
    "routing" => RoutingError,
    "pipeline" => PipelineError,
    "validator" => CrossSlotError,
    "analyzer" => AnalyzerError,
    "multistore" => MultiStoreError,
    "embedded" => EmbeddedServerError,
    "migrate" => MigrateError,
  }.freeze
end
