# frozen_string_literal: true

module Slotshift
  # The base of every exception slotshift raises.
  class Error < StandardError; end

  # A hash slot out of range.
  class SlotError < Error; end
  # An unknown command, a wrong arity, a malformed numkeys.
  class InvalidCommandError < Error; end
  # A bad URL, seed list, config file or environment value.
  class ConfigError < Error; end
  # An error reply from the server (WRONGTYPE, NOPERM, ...): the message is the server's.
  class CommandError < Error; end
  # Connect, I/O or timeout; the message names the node.
  class ConnectionError < Error; end
  # Redirect loops, unknown nodes, uncovered slots, cross-slot transactions.
  class RoutingError < Error; end
  # A bad batch limit, an unsplittable cross-slot command, a partial failure.
  class PipelineError < Error; end
  # The validator refused a cross-slot command (mode raise).
  class CrossSlotError < Error; end
  # Analyzer options, rules, checkpoints.
  class AnalyzerError < Error; end
  # An unknown command in strict mode, bad flags or options.
  class MultiStoreError < Error; end
  # Embedded test servers could not start.
  class EmbeddedServerError < Error; end
  # Diff/migrate options, same store on both sides, read-only destination, checkpoints.
  class MigrateError < Error; end

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
