//! Sessions (`slotshift_session`: requests on a connection of the caller's own, for WATCH …
//! MULTI/EXEC, SELECT, CLIENT SETNAME, blocking pops), subscribers (`slotshift_subscriber`:
//! pub/sub with its confirmations and messages read one at a time) and monitors
//! (`slotshift_monitor`: a server's command log, one line at a time).

use slotshift_core::reply::Reply;
use slotshift_core::session::{Monitor, Session, Subscriber, Target};
use slotshift_core::store::Store;

use crate::client::{call_with, pipeline_with, slotshift_client, slotshift_pipeline};
use crate::error::{fail_arg, fail_with, null, slotshift_error, slotshift_result};
use crate::ffi::{free_raw, to_raw, try_byte_list, try_bytes, try_out, try_ref, wait_of, Castable};
use crate::panic::guard;
use crate::reply::{slotshift_replies, slotshift_reply};

/// A connection of its own to one node, opened with a client's settings, for state that lives
/// on a connection: `WATCH` … `MULTI`/`EXEC`, `SELECT`, `CLIENT SETNAME`, and blocking pops.
///
/// - It never reconnects by itself: after a connection loss or a timeout it stays closed
///   (`slotshift_session_is_open()` is false) and every call fails with
///   `SLOTSHIFT_RESULT_CONNECTION…`, saying why. Open a new one.
/// - Thread safety: may be used from many threads; their requests go out in turn on the one
///   connection, so a `WATCH` by one is seen by the others.
/// - Blocking: `_open`, `_call` and `_pipeline` block on the network (a blocking pop for as
///   long as it asks, plus the client's response timeout).
/// - Ownership: freed once by `slotshift_session_free()`; it keeps what it needs of the
///   client, which may be freed first.
pub struct slotshift_session {
    _private: [u8; 0],
}

impl Castable for slotshift_session {
    type Rust = Session;
}

/// A pub/sub connection of its own (Redis 6 or later: it speaks RESP3 on the wire). Messages
/// and subscription confirmations come out of `slotshift_subscriber_next_message()` in order,
/// each an array reply shaped as RESP2 sends it: `["message", channel, payload]`,
/// `["pmessage", pattern, channel, payload]`, `["smessage", channel, payload]`,
/// `["subscribe", channel, count]` …
///
/// Thread safety: one thread may read messages while another changes the subscriptions.
/// Ownership: freed once by `slotshift_subscriber_free()`.
pub struct slotshift_subscriber {
    _private: [u8; 0],
}

impl Castable for slotshift_subscriber {
    type Rust = Subscriber;
}

/// A connection of its own that runs `MONITOR` on one node: every command the node runs, one
/// line each (`1733390400.123456 [0 127.0.0.1:50000] "SET" "k" "v"`), read with
/// `slotshift_monitor_next_line()`. It never reconnects. MONITOR costs the server: use it to
/// look, not to collect.
///
/// Thread safety: one thread reads at a time. Ownership: freed once by
/// `slotshift_monitor_free()`.
pub struct slotshift_monitor {
    _private: [u8; 0],
}

impl Castable for slotshift_monitor {
    type Rust = Monitor;
}

/// What a subscription names: channels, glob-style patterns, or shard channels (Redis 7).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum slotshift_subscription {
    /// `SUBSCRIBE` / `UNSUBSCRIBE`.
    Channel = 0,
    /// `PSUBSCRIBE` / `PUNSUBSCRIBE`.
    Pattern = 1,
    /// `SSUBSCRIBE` / `SUNSUBSCRIBE` (the channels' slots must be served by the subscriber's
    /// node: open it with one of its channels as `key`).
    Shard = 2,
}

/// The node `key` picks: the master of its slot (the one server when not a cluster); no key
/// (NULL with length 0): the server, or on a cluster the master of slot 0.
fn target(key: *const u8, key_len: usize) -> Option<Target> {
    if key.is_null() {
        return (key_len == 0).then_some(Target::Default);
    }
    try_bytes(key, key_len).map(|k| Target::Key(k.to_vec()))
}

/// Opens a session with `client`'s settings to the node that serves `key` (`key_len` bytes,
/// binary-safe): on a cluster the master of the key's slot, so the session's commands on that
/// slot's keys run there. `key` may be NULL with `key_len` 0: the server, or a cluster's master
/// of slot 0. On success `*out` is the session (owned: `slotshift_session_free()`).
/// Blocks while it connects.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_session_open(
    client: *const slotshift_client,
    key: *const u8,
    key_len: usize,
    out: *mut *mut slotshift_session,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        open_with(
            "slotshift_session_open",
            client,
            (key, key_len),
            out,
            err,
            Session::open,
        )
    })
}

/// The body of `_session_open` and `_subscriber_open`: the client and the key in, `open`'s
/// connection out.
fn open_with<C: Castable>(
    function: &str,
    client: *const slotshift_client,
    (key, key_len): (*const u8, usize),
    out: *mut *mut C,
    err: *mut *mut slotshift_error,
    open: impl FnOnce(&Store, &Target) -> slotshift_core::Result<C::Rust>,
) -> slotshift_result {
    let Some(store) = try_ref(client) else {
        return null(err, function, "client");
    };
    let Some(target) = target(key, key_len) else {
        return null(err, function, "key");
    };
    let Some(out) = try_out(out) else {
        return null(err, function, "out");
    };
    match open(store, &target) {
        Ok(opened) => {
            out.set(to_raw(opened));
            slotshift_result::Ok
        }
        Err(e) => fail_with(err, &e),
    }
}

/// Sends one command on the session (arguments as `slotshift_client_call()` takes them). On
/// success `*out` is the reply (owned). An error reply is a failure
/// (`SLOTSHIFT_RESULT_SERVER…`) that leaves the session open; a timeout or a lost connection
/// closes it. Blocks on the network.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_session_call(
    session: *const slotshift_session,
    argv: *const *const u8,
    argv_len: *const usize,
    argc: usize,
    out: *mut *mut slotshift_reply,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        const F: &str = "slotshift_session_call";
        let Some(session) = try_ref(session) else {
            return null(err, F, "session");
        };
        call_with(F, |cmd| session.call(cmd), argv, argv_len, argc, out, err)
    })
}

/// Sends every command of `pipeline` as one write on the session and gives one result per
/// command in `*out` (owned: `slotshift_replies_free()`), an error reply as that entry's error.
/// `MULTI` … `EXEC` in the pipeline is a transaction as the server runs it: after a `WATCH` on
/// this session, `EXEC`'s reply is nil when a watched key changed. Blocks on the network.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_session_pipeline(
    session: *const slotshift_session,
    pipeline: *const slotshift_pipeline,
    out: *mut *mut slotshift_replies,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        const F: &str = "slotshift_session_pipeline";
        let Some(session) = try_ref(session) else {
            return null(err, F, "session");
        };
        pipeline_with(F, |cmds| session.pipeline(cmds), pipeline, out, err)
    })
}

/// Whether the session's connection is still open (false for NULL, and after a timeout, a
/// lost connection or `slotshift_session_close()`).
#[no_mangle]
pub extern "C" fn slotshift_session_is_open(session: *const slotshift_session) -> bool {
    guard(|| try_ref(session).is_some_and(Session::is_open))
}

/// Closes the session's connection (the server drops its WATCH, selected database …); later
/// calls fail. NULL is a no-op.
#[no_mangle]
pub extern "C" fn slotshift_session_close(session: *const slotshift_session) {
    guard(|| {
        if let Some(s) = try_ref(session) {
            s.close();
        }
    })
}

/// Frees a session and closes its connection. NULL is a no-op; freeing twice is undefined
/// behaviour. Do not free a session while another thread is using it.
#[no_mangle]
pub extern "C" fn slotshift_session_free(session: *mut slotshift_session) {
    guard(|| free_raw(session))
}

/// Opens a pub/sub connection with `client`'s settings to the node `key` picks (as
/// `slotshift_session_open()`; for shard channels, pass one of them). On a cluster, channel
/// and pattern subscriptions hear every node's messages from any node. On success `*out` is
/// the subscriber (owned: `slotshift_subscriber_free()`). Blocks while it connects.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_subscriber_open(
    client: *const slotshift_client,
    key: *const u8,
    key_len: usize,
    out: *mut *mut slotshift_subscriber,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        open_with(
            "slotshift_subscriber_open",
            client,
            (key, key_len),
            out,
            err,
            Subscriber::open,
        )
    })
}

/// The body of `_subscribe` and `_unsubscribe`: `count` names (`names[i]` of `names_len[i]`
/// bytes) in, the subscriber's call out.
fn change(
    function: &str,
    subscriber: *const slotshift_subscriber,
    names: *const *const u8,
    names_len: *const usize,
    count: usize,
    err: *mut *mut slotshift_error,
    run: impl FnOnce(&Subscriber, &[&[u8]]) -> slotshift_core::Result<()>,
) -> slotshift_result {
    let Some(subscriber) = try_ref(subscriber) else {
        return null(err, function, "subscriber");
    };
    let list = if count == 0 {
        Vec::new()
    } else {
        match try_byte_list(names, names_len, count, ["names", "names_len", "count"]) {
            Ok(list) => list,
            Err(e) => return fail_arg(err, function, e),
        }
    };
    match run(subscriber, &list) {
        Ok(()) => slotshift_result::Ok,
        Err(e) => fail_with(err, &e),
    }
}

/// Subscribes to `count` (at least one) channels, patterns or shard channels as `kind` says;
/// one confirmation per name follows in the messages. Blocks until the server confirmed.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_subscriber_subscribe(
    subscriber: *const slotshift_subscriber,
    kind: slotshift_subscription,
    names: *const *const u8,
    names_len: *const usize,
    count: usize,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        change(
            "slotshift_subscriber_subscribe",
            subscriber,
            names,
            names_len,
            count,
            err,
            |s, list| match kind {
                slotshift_subscription::Channel => s.subscribe(list),
                slotshift_subscription::Pattern => s.psubscribe(list),
                slotshift_subscription::Shard => s.ssubscribe(list),
            },
        )
    })
}

/// Unsubscribes from `count` names of `kind`; from every one of that kind when `count` is 0
/// (`names` and `names_len` may then be NULL). Blocks until the server confirmed.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_subscriber_unsubscribe(
    subscriber: *const slotshift_subscriber,
    kind: slotshift_subscription,
    names: *const *const u8,
    names_len: *const usize,
    count: usize,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        change(
            "slotshift_subscriber_unsubscribe",
            subscriber,
            names,
            names_len,
            count,
            err,
            |s, list| match kind {
                slotshift_subscription::Channel => s.unsubscribe(list),
                slotshift_subscription::Pattern => s.punsubscribe(list),
                slotshift_subscription::Shard => s.sunsubscribe(list),
            },
        )
    })
}

/// The next message or confirmation, waiting at most `timeout_ms` milliseconds (a negative
/// value: until one comes). On success `*out` is the message (owned: `slotshift_reply_free()`),
/// or NULL when none came in time. After the connection is lost, the messages received before
/// still come out, then `SLOTSHIFT_RESULT_CONNECTION…` saying why.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_subscriber_next_message(
    subscriber: *const slotshift_subscriber,
    timeout_ms: i64,
    out: *mut *mut slotshift_reply,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        const F: &str = "slotshift_subscriber_next_message";
        let Some(subscriber) = try_ref(subscriber) else {
            return null(err, F, "subscriber");
        };
        let Some(out) = try_out(out) else {
            return null(err, F, "out");
        };
        let timeout = wait_of(timeout_ms);
        match subscriber.next_message(timeout) {
            Ok(message) => {
                out.set(message.map_or(std::ptr::null_mut(), to_raw));
                slotshift_result::Ok
            }
            Err(e) => fail_with(err, &e),
        }
    })
}

/// Frees a subscriber and closes its connection (every subscription ends). NULL is a no-op;
/// freeing twice is undefined behaviour.
#[no_mangle]
pub extern "C" fn slotshift_subscriber_free(subscriber: *mut slotshift_subscriber) {
    guard(|| free_raw(subscriber))
}

/// Opens a monitor with `client`'s settings on the node `key` picks (as
/// `slotshift_session_open()`; NULL with length 0: the server, or a cluster's master of slot
/// 0). On success `*out` is the monitor (owned: `slotshift_monitor_free()`). Blocks while it
/// connects.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_monitor_open(
    client: *const slotshift_client,
    key: *const u8,
    key_len: usize,
    out: *mut *mut slotshift_monitor,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        open_with(
            "slotshift_monitor_open",
            client,
            (key, key_len),
            out,
            err,
            Monitor::open,
        )
    })
}

/// The next line of the command log, waiting at most `timeout_ms` milliseconds (a negative
/// value: until one comes). On success `*out` is the line as a status reply (owned:
/// `slotshift_reply_free()`), or NULL when none came in time. A lost or closed connection is
/// `SLOTSHIFT_RESULT_CONNECTION…`.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_monitor_next_line(
    monitor: *const slotshift_monitor,
    timeout_ms: i64,
    out: *mut *mut slotshift_reply,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        const F: &str = "slotshift_monitor_next_line";
        let Some(monitor) = try_ref(monitor) else {
            return null(err, F, "monitor");
        };
        let Some(out) = try_out(out) else {
            return null(err, F, "out");
        };
        let timeout = wait_of(timeout_ms);
        match monitor.next_line(timeout) {
            Ok(line) => {
                out.set(line.map_or(std::ptr::null_mut(), |l| to_raw(Reply::Status(l))));
                slotshift_result::Ok
            }
            Err(e) => fail_with(err, &e),
        }
    })
}

/// Frees a monitor and closes its connection. NULL is a no-op; freeing twice is undefined
/// behaviour.
#[no_mangle]
pub extern "C" fn slotshift_monitor_free(monitor: *mut slotshift_monitor) {
    guard(|| free_raw(monitor))
}
