# frozen_string_literal: true

require "fileutils"
require "tmpdir"

# Copies the core crate (as `cargo package` normalises it) and the workspace's Cargo.lock into
# ext/slotshift/vendor, so that a gem built from this directory builds its extension outside
# the repository. Used by the Rakefile (`rake vendor`, `rake gem`) and by slotshift.gemspec
# (`gem build slotshift.gemspec` vendors when the copy is missing or older than the core), so
# both ways of building the gem give the same installable gem. Not shipped in the gem.
module SlotshiftVendor
  HERE = __dir__
  ROOT = File.expand_path("..", HERE)
  CORE = File.join(ROOT, "core")
  VENDOR = File.join(HERE, "ext", "slotshift", "vendor")
  STAMP = File.join(VENDOR, "slotshift", "Cargo.toml")

  module_function

  # Whether this is a checkout of the repository (the core's sources beside the gem).
  def repository?
    File.file?(File.join(CORE, "Cargo.toml"))
  end

  # Whether the vendored copy is missing or older than a file of the core or Cargo.lock.
  def stale?
    return true unless File.file?(STAMP)

    stamp = File.mtime(STAMP)
    sources = Dir[File.join(CORE, "**", "*")].reject { |f| f.include?("/target/") } + [File.join(ROOT, "Cargo.lock")]
    sources.any? { |f| File.file?(f) && File.mtime(f) > stamp }
  end

  # Vendors the core now (`cargo`: the cargo command to run).
  def vendor!(cargo: ENV.fetch("CARGO", "cargo"))
    FileUtils.rm_rf(VENDOR)
    FileUtils.mkdir_p(VENDOR)
    Dir.mktmpdir("slotshift-package") do |tmp|
      run(cargo, "package", "-p", "slotshift", "--no-verify", "--allow-dirty", "--target-dir", tmp)
      crate = Dir[File.join(tmp, "package", "slotshift-*.crate")].max_by { |f| File.mtime(f) }
      raise "cargo package made no .crate" unless crate

      run("tar", "xzf", crate, "-C", tmp)
      FileUtils.mv(File.join(tmp, File.basename(crate, ".crate")), File.join(VENDOR, "slotshift"))
    end
    FileUtils.cp(File.join(ROOT, "Cargo.lock"), File.join(VENDOR, "Cargo.lock"))
    FileUtils.touch(STAMP)
  end

  # Vendors when building from the repository and the copy is missing or stale; outside the
  # repository (an unpacked gem) there is nothing to do.
  def refresh!
    vendor! if repository? && stale?
  end

  def run(*cmd)
    system(*cmd, chdir: ROOT, exception: true)
  end
end
