# frozen_string_literal: true

require_relative "lib/slotshift/version"
require_relative "vendor_core"

# Built from the repository, the gem carries the core's sources: vendor them now if missing or
# older than the core (as `rake gem` does), so `gem build slotshift.gemspec` gives the same gem.
SlotshiftVendor.refresh!

Gem::Specification.new do |spec|
  spec.name = "slotshift"
  spec.version = Slotshift::VERSION
  spec.summary = "Move Redis data to Redis Cluster with zero downtime, and run well on it afterwards."
  spec.description = "A redis-rb compatible client over a Rust core: cluster slot routing, CrossSlot " \
                     "pipeline batching, a cross-slot validator, the MultiStore for migrations, " \
                     "instrumentation and the keyspace analyzer."
  spec.authors = ["slotshift contributors"]
  spec.licenses = ["MIT", "Apache-2.0"] # dual: either, at your option
  spec.homepage = "https://example.invalid/slotshift"
  spec.required_ruby_version = ">= 3.0"

  # The packaged gem carries the core's sources (ext/slotshift/vendor, written by
  # vendor_core.rb) so it builds with Ruby, make and cargo alone.
  spec.files = Dir[
    "lib/**/*.rb",
    "ext/slotshift/extconf.rb",
    "ext/slotshift/Cargo.toml",
    "ext/slotshift/src/**/*.rs",
    "ext/slotshift/vendor/Cargo.lock",
    "ext/slotshift/vendor/slotshift/**/*",
  ].select { |f| File.file?(File.join(__dir__, f)) }
  spec.require_paths = ["lib"]
  # Slotshift::Redis is a subclass of redis-rb's Redis: redis-rb 4.8's command layer sits on
  # slotshift's client (Debian 12: ruby-redis).
  spec.add_dependency "redis", ">= 4.8", "< 5"
  spec.extensions = ["ext/slotshift/extconf.rb"]
end
