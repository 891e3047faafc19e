# frozen_string_literal: true

module Slotshift
  # Records every command this thread sends (pipelined and transaction commands too), for
  # N+1 tests:
  #
  #   recorder = Slotshift::Recorder.new { cache.read_multi("a", "b") }
  #   recorder.count                 # => 1
  #   recorder.by_command("mget")    # => [["MGET", "a", "b"]]
  #
  # Without a block it records until #stop. `pattern:` keeps only commands with a key
  # matching the Redis glob.
  class Recorder
    def initialize(pattern: nil)
      @native = Native::Recorder.start(pattern&.to_s)
      return unless block_given?

      begin
        yield self
      ensure
        stop
      end
    end

    def stop
      @native.stop
      self
    end

    # Number of commands recorded.
    def count
      @native.count
    end

    # Every recorded command, as an Array of Strings, the name first.
    def log
      @native.log
    end
    alias commands log

    # The recorded commands named `name` (any case).
    def by_command(name)
      @native.by_command(name.to_s)
    end

    # The recorded commands with a key matching the Redis glob `pattern`.
    def by_key(pattern)
      @native.by_key(pattern.to_s)
    end
  end
end
