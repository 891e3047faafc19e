# frozen_string_literal: true

module Slotshift
  VERSION = "0.1.0"
end
