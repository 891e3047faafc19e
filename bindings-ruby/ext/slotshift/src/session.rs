//! `Slotshift::Native::Session`, `Subscriber` and `Monitor`: connections of the caller's own
//! (the core's `slotshift::session`), for what a store's shared connections cannot carry —
//! `WATCH` … `MULTI`/`EXEC`, pub/sub, `MONITOR`. `lib/slotshift/native_client.rb` opens
//! them when redis-rb's methods ask for connection state, and closes them when that state ends.
//!
//! Every network wait releases the GVL and can be interrupted (`Thread#raise`, Ctrl-C); an
//! interrupted request closes the session (its reply would otherwise answer the next one).

use std::time::Duration;

use magnus::{value::ReprValue, Error, RArray, RString, Ruby, Value};
use slotshift::session::{Subscription, Target};

use crate::convert::{cmd_from, cmds_from, reply_to, results_to};
use crate::{errors, gvl, NStore};

/// The node a session connects to: the master of `key`'s slot, or the default node (`nil`).
fn target(key: Option<RString>) -> Target {
    match key {
        // SAFETY: the bytes are copied before any Ruby code runs.
        Some(key) => Target::Key(unsafe { key.as_slice() }.to_vec()),
        None => Target::Default,
    }
}

/// `Slotshift::Native::Session`: one connection, requests and replies in order, its state
/// (a `WATCH`, a `MULTI` in progress) kept on it. Never reconnects: after a loss, a timeout or
/// `close` every request raises `Slotshift::ConnectionError`.
#[magnus::wrap(class = "Slotshift::Native::Session", free_immediately, size)]
pub(crate) struct NSession {
    inner: slotshift::session::Session,
}

impl NSession {
    /// Opens a session on `store`'s deployment, on the master of `key`'s slot (`nil`: the
    /// default node).
    fn open(ruby: &Ruby, store: &NStore, key: Option<RString>) -> Result<NSession, Error> {
        let target = target(key);
        let inner = gvl::cancellable(
            ruby,
            slotshift::session::Session::open_async(&store.store, &target),
        )?;
        Ok(NSession { inner })
    }

    /// Sends one command; an error reply raises.
    fn call(ruby: &Ruby, rb_self: &Self, args: RArray) -> Result<Value, Error> {
        let cmd = cmd_from(ruby, args)?;
        let reply = gvl::cancellable(ruby, rb_self.inner.call_async(&cmd))?;
        Ok(reply_to(ruby, reply))
    }

    /// Sends commands as one write; one result per command, failures as exception objects.
    fn pipeline(ruby: &Ruby, rb_self: &Self, list: RArray) -> Result<RArray, Error> {
        let cmds = cmds_from(ruby, list)?;
        let out = gvl::cancellable(ruby, rb_self.inner.pipeline_async(&cmds))?;
        Ok(results_to(ruby, out))
    }

    /// Closes the connection (the server forgets its `WATCH`, its `MULTI` queue).
    fn close(&self) {
        self.inner.close();
    }

    /// Whether the connection is still open.
    fn is_open(&self) -> bool {
        self.inner.is_open()
    }

    /// The node (`"host:port"`) it is connected to.
    fn node(&self) -> String {
        self.inner.node().to_string()
    }
}

/// `Slotshift::Native::Subscriber`: a pub/sub connection. Confirmations and messages come out
/// of `next_message` in order, shaped as RESP2 sends them (`["message", channel, data]` …).
#[magnus::wrap(class = "Slotshift::Native::Subscriber", free_immediately, size)]
pub(crate) struct NSubscriber {
    inner: slotshift::session::Subscriber,
}

impl NSubscriber {
    /// Opens a pub/sub connection on `store`'s deployment (the master of `key`'s slot, for
    /// shard channels; `nil`: the default node).
    fn open(ruby: &Ruby, store: &NStore, key: Option<RString>) -> Result<NSubscriber, Error> {
        let target = target(key);
        let inner = gvl::cancellable(
            ruby,
            slotshift::session::Subscriber::open_async(&store.store, &target),
        )?;
        Ok(NSubscriber { inner })
    }

    /// Runs one subscription change (`"subscribe"`, `"punsubscribe"` …) of `names` (an
    /// unsubscribe of none: of every name of that kind) and returns once the server confirmed.
    fn change(ruby: &Ruby, rb_self: &Self, command: String, names: RArray) -> Result<(), Error> {
        let (kind, subscribe) = Subscription::of_command(&command).ok_or_else(|| {
            errors::arg_error(ruby, format!("{command:?} is not a subscription command"))
        })?;
        let names: Vec<Vec<u8>> = cmd_from_names(ruby, names)?;
        gvl::cancellable(ruby, rb_self.inner.change_async(kind, subscribe, names))
    }

    /// The next message or confirmation, waiting at most `timeout` seconds (`nil`: until one
    /// comes); `nil` when none came in time.
    fn next_message(ruby: &Ruby, rb_self: &Self, timeout: Option<f64>) -> Result<Value, Error> {
        let timeout = seconds(ruby, timeout)?;
        let message = gvl::cancellable(ruby, rb_self.inner.next_message_async(timeout))?;
        Ok(match message {
            Some(reply) => reply_to(ruby, reply),
            None => ruby.qnil().as_value(),
        })
    }

    /// Ends every subscription, waits for the server's confirmations, and closes.
    fn close(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        gvl::cancellable(ruby, async {
            rb_self.inner.close_async().await;
            Ok(())
        })
    }

    /// Whether the connection is still open.
    fn is_open(&self) -> bool {
        self.inner.is_open()
    }
}

/// `Slotshift::Native::Monitor`: a connection that runs `MONITOR` (the server's command log,
/// one line at a time).
#[magnus::wrap(class = "Slotshift::Native::Monitor", free_immediately, size)]
pub(crate) struct NMonitor {
    inner: slotshift::session::Monitor,
}

impl NMonitor {
    /// Opens a monitor on `store`'s deployment (the default node).
    fn open(ruby: &Ruby, store: &NStore) -> Result<NMonitor, Error> {
        let inner = gvl::cancellable(
            ruby,
            slotshift::session::Monitor::open_async(&store.store, &Target::Default),
        )?;
        Ok(NMonitor { inner })
    }

    /// The next line, waiting at most `timeout` seconds (`nil`: until one comes); `nil` when
    /// none came in time.
    fn next_line(
        ruby: &Ruby,
        rb_self: &Self,
        timeout: Option<f64>,
    ) -> Result<Option<RString>, Error> {
        let timeout = seconds(ruby, timeout)?;
        let line = gvl::cancellable(ruby, rb_self.inner.next_line_async(timeout))?;
        Ok(line.map(|l| ruby.enc_str_new(l, ruby.enc_default_external())))
    }

    /// Closes the connection.
    fn close(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        gvl::cancellable(ruby, async {
            rb_self.inner.close_async().await;
            Ok(())
        })
    }
}

/// A wait in seconds from Ruby (`nil`: no limit); negative or not finite is an ArgumentError.
pub(crate) fn seconds(ruby: &Ruby, timeout: Option<f64>) -> Result<Option<Duration>, Error> {
    match timeout {
        Some(t) if t.is_finite() && t >= 0.0 => Ok(Some(Duration::from_secs_f64(t))),
        Some(t) => Err(errors::arg_error(
            ruby,
            format!("timeout: expected seconds >= 0, got {t}"),
        )),
        None => Ok(None),
    }
}

/// Channel or pattern names from a Ruby Array (Strings, Symbols …, as command arguments).
fn cmd_from_names(ruby: &Ruby, names: RArray) -> Result<Vec<Vec<u8>>, Error> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let cmd = cmd_from(ruby, names)?;
    Ok(cmd.args().map(<[u8]>::to_vec).collect())
}

/// Defines both classes under `Slotshift::Native`.
pub(crate) fn define(ruby: &Ruby, native: magnus::RModule) -> Result<(), Error> {
    use magnus::{function, method, Module, Object};
    let session = native.define_class("Session", ruby.class_object())?;
    session.define_singleton_method("open", function!(NSession::open, 2))?;
    session.define_method("call", method!(NSession::call, 1))?;
    session.define_method("pipeline", method!(NSession::pipeline, 1))?;
    session.define_method("close", method!(NSession::close, 0))?;
    session.define_method("open?", method!(NSession::is_open, 0))?;
    session.define_method("node", method!(NSession::node, 0))?;

    let subscriber = native.define_class("Subscriber", ruby.class_object())?;
    subscriber.define_singleton_method("open", function!(NSubscriber::open, 2))?;
    subscriber.define_method("change", method!(NSubscriber::change, 2))?;
    subscriber.define_method("next_message", method!(NSubscriber::next_message, 1))?;
    subscriber.define_method("close", method!(NSubscriber::close, 0))?;
    subscriber.define_method("open?", method!(NSubscriber::is_open, 0))?;

    let monitor = native.define_class("Monitor", ruby.class_object())?;
    monitor.define_singleton_method("open", function!(NMonitor::open, 1))?;
    monitor.define_method("next_line", method!(NMonitor::next_line, 1))?;
    monitor.define_method("close", method!(NMonitor::close, 0))?;
    Ok(())
}
