# frozen_string_literal: true

# The "test file" of the compat run's cluster part (run.rb passes it to Ruby like a suite file,
# after preload.rb): redis-rb 4.8.0's lint modules (test/lint/*.rb, the per-family command
# tests), each included in a class of its own with the suite's Helper::Cluster, as the suite's
# test/cluster/commands_on_*_test.rb do, but without those files' cluster-specific overrides:
# the expectations are the standalone ones, so a slotshift client on a cluster is held to
# what redis-rb does on one server (cross-slot MGET, MSET, DEL, pipelines included). Each
# class is named after the suite's standalone class ("ClusterLint_<standalone class>"), so
# run.rb compares its results with redis-rb's standalone results test by test.

require "helper"

{
  "TestCommandsOnStrings" => Lint::Strings,
  "TestCommandsOnLists" => Lint::Lists,
  "TestCommandsOnHashes" => Lint::Hashes,
  "TestCommandsOnSets" => Lint::Sets,
  "TestCommandsOnSortedSets" => Lint::SortedSets,
  "TestCommandsOnHyperLogLog" => Lint::HyperLogLog,
  "TestCommandsOnValueTypes" => Lint::ValueTypes,
  "TestCommandsOnStreams" => Lint::Streams,
  "TestBlockingCommands" => Lint::BlockingCommands,
}.each do |standalone, lint|
  klass = Class.new(Minitest::Test) do
    include Helper::Cluster
    include lint

    # As the suite's cluster test files define it (test/cluster/*_test.rb).
    if lint == Lint::BlockingCommands
      def mock(options = {}, &blk)
        commands = build_mock_commands(options)
        redis_cluster_mock(commands, { timeout: LOW_TIMEOUT }, &blk)
      end
    else
      def mock(*args, &block)
        redis_cluster_mock(*args, &block)
      end
    end
  end
  Object.const_set("ClusterLint_#{standalone}", klass)
end
