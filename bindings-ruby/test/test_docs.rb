# frozen_string_literal: true

require_relative "test_helper"
require "open3"
require "rbconfig"

# Every ```ruby block of docs/ruby.md runs as written, in its own Ruby process, against the
# suite's servers (REDIS_URL: the standalone server, REDIS_CLUSTER_URL: a cluster node).
class TestDocs < Minitest::Test
  DOC = File.join(TestServers::ROOT, "docs", "ruby.md")

  def blocks
    File.read(DOC).scan(/^```ruby\n(.*?)^```$/m).map(&:first)
  end

  def test_doc_has_examples
    assert_operator blocks.size, :>=, 6
  end

  def ruby_command
    cmd = [RbConfig.ruby]
    # From the source tree (-Ilib) the child needs the same lib; an installed gem is found
    # through GEM_PATH, which the child inherits.
    cmd += ["-I", File.expand_path("../lib", __dir__)] unless Gem.loaded_specs["slotshift"]
    cmd
  end

  File.read(DOC).scan(/^```ruby\n(.*?)^```$/m).map(&:first).each_with_index do |code, i|
    define_method("test_doc_example_#{i}") do
      env = {
        "REDIS_URL" => TestServers.standalone_url(10),
        "REDIS_CLUSTER_URL" => TestServers.cluster_urls.first,
      }
      out, status = Open3.capture2e(env, *ruby_command, "-e", code)
      assert status.success?, "docs/ruby.md example #{i} failed:\n#{code}\n--- output ---\n#{out}"
    end
  end
end
