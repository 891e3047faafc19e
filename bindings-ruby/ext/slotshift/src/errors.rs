//! Core errors → the Ruby exception classes `lib/slotshift/errors.rb` declares.
//!
//! The classes live in Ruby; the family → class table is `Slotshift::ERRORS` (one row per
//! row of `tests/fixtures/errors.json`, checked by the suite). Here we only look it up.

use magnus::{prelude::*, Error, ExceptionClass, RHash, RModule, Ruby};

/// The class for `family`, or `Slotshift::BaseError` if the table lacks it.
fn class_for(ruby: &Ruby, family: &str) -> ExceptionClass {
    let lookup = || -> Result<ExceptionClass, Error> {
        let module: RModule = ruby.class_object().const_get("Slotshift")?;
        let table: RHash = module.const_get("ERRORS")?;
        match table.get(family) {
            Some(class) => ExceptionClass::try_convert(class),
            None => module.const_get("BaseError"),
        }
    };
    lookup().unwrap_or_else(|_| ruby.exception_runtime_error())
}

/// An exception of `family`'s class with `message`.
pub(crate) fn by_family(ruby: &Ruby, family: &str, message: String) -> Error {
    Error::new(class_for(ruby, family), message)
}

/// `Slotshift::BaseError` with `message`.
pub(crate) fn base(ruby: &Ruby, message: &str) -> Error {
    let class = ruby
        .class_object()
        .const_get::<_, RModule>("Slotshift")
        .and_then(|m| m.const_get::<_, ExceptionClass>("BaseError"))
        .unwrap_or_else(|_| ruby.exception_runtime_error());
    Error::new(class, message.to_owned())
}

/// The class for a core error: its family's, except a connection failure, which redis-rb
/// tells apart by class (and code rescues apart): `Slotshift::CannotConnectError`,
/// `Slotshift::AuthenticationError`, `Slotshift::TimeoutError`, `Slotshift::ProtocolError`
/// (subclasses of redis-rb's `CannotConnectError`, `CommandError`, `TimeoutError`,
/// `ProtocolError`); a broken connection stays the family's `Slotshift::ConnectionError`.
fn class_for_error(ruby: &Ruby, e: &slotshift::Error) -> ExceptionClass {
    use slotshift::net::ConnectionErrorKind as Kind;
    if let slotshift::Error::Connection(c) = e {
        let name = match c.kind {
            Kind::Connect => Some("CannotConnectError"),
            Kind::Auth => Some("AuthenticationError"),
            Kind::Timeout => Some("TimeoutError"),
            Kind::Protocol => Some("ProtocolError"),
            _ => None,
        };
        if let Some(name) = name {
            let class = ruby
                .class_object()
                .const_get::<_, RModule>("Slotshift")
                .and_then(|m| m.const_get::<_, ExceptionClass>(name));
            if let Ok(class) = class {
                return class;
            }
        }
    }
    class_for(ruby, e.family().name())
}

/// The Ruby exception for a core error: the class of its family (see [`class_for_error`]),
/// its message (a server error reply keeps the server's text, as redis-rb's `CommandError`
/// does).
pub(crate) fn from_core(ruby: &Ruby, e: &slotshift::Error) -> Error {
    // Server lines can end in a space ("... with args beginning with: "); redis-rb's messages
    // do not.
    Error::new(
        class_for_error(ruby, e),
        e.to_string().trim_end().to_owned(),
    )
}

/// An exception object (not raised) for a core error inside a pipeline's results.
pub(crate) fn instance_of(ruby: &Ruby, e: &slotshift::Error) -> magnus::Value {
    let class = class_for_error(ruby, e);
    match class.new_instance((ruby.str_new(e.to_string().trim_end()),)) {
        Ok(e) => e.as_value(),
        Err(e) => e.value().unwrap_or_else(|| ruby.qnil().as_value()),
    }
}

/// An exception object (not raised) for an error inside a pipeline or transaction reply.
pub(crate) fn instance(ruby: &Ruby, family: &str, message: String) -> magnus::Value {
    let class = class_for(ruby, family);
    match class.new_instance((ruby.str_new(&message),)) {
        Ok(e) => e.as_value(),
        Err(e) => e.value().unwrap_or_else(|| ruby.qnil().as_value()),
    }
}

/// `TypeError` with `message`.
pub(crate) fn type_error(ruby: &Ruby, message: String) -> Error {
    Error::new(ruby.exception_type_error(), message)
}

/// `ArgumentError` with `message`.
pub(crate) fn arg_error(ruby: &Ruby, message: String) -> Error {
    Error::new(ruby.exception_arg_error(), message)
}
