//! Clients (`slotshift_client`: a standalone server, a Sentinel-managed master or a cluster),
//! their options, and pipelines (`slotshift_pipeline`: a list of commands to send at once).

use std::ffi::c_char;

use slotshift_core::command::Cmd;
use slotshift_core::reply::Reply;
use slotshift_core::store::{Store, StoreKind, StoreOptions};
use slotshift_core::Error;

use crate::error::{fail, fail_arg, fail_with, null, slotshift_error, slotshift_result};
use crate::ffi::{
    free_raw, to_raw, try_array, try_cmd, try_mut, try_out, try_ref, try_str, Castable,
};
use crate::panic::guard;
use crate::reply::{slotshift_replies, slotshift_reply};
use crate::validator::mode_from_u32;

/// A connection to one deployment: a standalone server, a Sentinel-managed master or a Redis
/// Cluster (with the slot router and the CrossSlot batcher).
///
/// - Thread safety: a client may be used from many threads at once (calls are independent;
///   connections are shared and multiplexed).
/// - Blocking: `slotshift_client_new*`, `_call`, `_pipeline` and `_transaction` block on the
///   network (bounded by the URL's timeouts); the other functions do not.
/// - Ownership: created by `slotshift_client_new*`, freed once by `slotshift_client_free()`.
///   Replies and MultiStores made from a client stay valid after it is freed.
/// - Fork: after `fork()`, the child's first call opens its own connections.
pub struct slotshift_client {
    _private: [u8; 0],
}

impl Castable for slotshift_client {
    type Rust = Store;
}

/// The kind of deployment a client talks to.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum slotshift_deployment_kind {
    /// One server.
    Standalone = 0,
    /// A master found through Sentinel.
    Sentinel = 1,
    /// A Redis Cluster.
    Cluster = 2,
    /// A kind this version of the C API does not know (or a NULL client).
    Unknown = 255,
}

/// Options for `slotshift_client_new_with_options()`: a builder, owned by the caller
/// (`slotshift_client_options_free()`), not consumed by the constructor (one options object may
/// serve several clients). Not safe for concurrent mutation.
pub struct slotshift_client_options {
    _private: [u8; 0],
}

impl Castable for slotshift_client_options {
    type Rust = StoreOptions;
}

/// A list of commands to send together with `slotshift_client_pipeline()`,
/// `slotshift_client_transaction()` or `slotshift_multistore_pipeline()`. Owned by the caller
/// (`slotshift_pipeline_free()`); may be sent many times; not safe for concurrent mutation
/// (sending it from several threads at once is fine).
pub struct slotshift_pipeline {
    _private: [u8; 0],
}

impl Castable for slotshift_pipeline {
    type Rust = Vec<Cmd>;
}

fn kind_of(kind: StoreKind) -> slotshift_deployment_kind {
    match kind {
        StoreKind::Standalone => slotshift_deployment_kind::Standalone,
        StoreKind::Sentinel => slotshift_deployment_kind::Sentinel,
        StoreKind::Cluster => slotshift_deployment_kind::Cluster,
        _ => slotshift_deployment_kind::Unknown,
    }
}

fn open(
    function: &str,
    url: *const c_char,
    opts: StoreOptions,
    out: *mut *mut slotshift_client,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    let url = match try_str(url, "url") {
        Ok(u) => u,
        Err(e) => return fail_arg(err, function, e),
    };
    let Some(out) = try_out(out) else {
        return null(err, function, "out");
    };
    match Store::open_with_options(url, opts) {
        Ok(store) => {
            out.set(to_raw(store));
            slotshift_result::Ok
        }
        Err(e) => fail_with(err, &e),
    }
}

/// Connects to the deployment `url` names (NUL-terminated UTF-8):
///
/// - a server: `redis://[user:password@]host:port[/db]`, `rediss://…` (TLS), `unix:///path`;
///   a single URL naming any node of a cluster is detected as a cluster;
/// - cluster seeds: `redis://h1:7000,h2:7001` or full URLs separated by commas;
/// - Sentinel: `redis+sentinel://s1:26379,s2:26379/master_name[/db]`.
///
/// On success `*out` is a new client. Errors: `…_NULL_PARAMETER`, `…_INVALID_UTF8`,
/// `SLOTSHIFT_RESULT_CONFIG` (bad URL), `SLOTSHIFT_RESULT_CONNECTION…` (the detail names the
/// node, never the password). Blocks while it connects.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_client_new(
    url: *const c_char,
    out: *mut *mut slotshift_client,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        open(
            "slotshift_client_new",
            url,
            StoreOptions::default(),
            out,
            err,
        )
    })
}

/// Connects to a cluster from `n` seed URLs (each NUL-terminated UTF-8, any nodes of the same
/// cluster). As `slotshift_client_new()` otherwise.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_client_new_seeds(
    urls: *const *const c_char,
    n: usize,
    out: *mut *mut slotshift_client,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        const F: &str = "slotshift_client_new_seeds";
        if urls.is_null() {
            return null(err, F, "urls");
        }
        if n == 0 {
            return fail(
                err,
                slotshift_result::InvalidArgument,
                format!("{F}: n is 0: a cluster needs at least one seed"),
            );
        }
        let Some(ptrs) = try_array(urls, n) else {
            return fail(
                err,
                slotshift_result::InvalidArgument,
                format!("{F}: n is {n}: no array of that many pointers can exist"),
            );
        };
        let mut seeds = Vec::with_capacity(n);
        for (i, &p) in ptrs.iter().enumerate() {
            match try_str(p, &format!("urls[{i}]")) {
                Ok(s) => seeds.push(s),
                Err(e) => return fail_arg(err, F, e),
            }
        }
        // Deployment::parse reads full URLs separated by commas as one seed list.
        let joined = match std::ffi::CString::new(seeds.join(",")) {
            Ok(j) => j,
            Err(_) => {
                return fail(
                    err,
                    slotshift_result::InvalidArgument,
                    format!("{F}: a seed contains NUL"),
                )
            }
        };
        open(F, joined.as_ptr(), StoreOptions::default(), out, err)
    })
}

/// Connects as `slotshift_client_new()` does, with `opts` (borrowed, not consumed; NULL gives
/// the defaults).
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_client_new_with_options(
    url: *const c_char,
    opts: *const slotshift_client_options,
    out: *mut *mut slotshift_client,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        let opts = try_ref(opts).cloned().unwrap_or_default();
        open("slotshift_client_new_with_options", url, opts, out, err)
    })
}

/// The kind of deployment `client` talks to (`SLOTSHIFT_DEPLOYMENT_KIND_UNKNOWN` for NULL).
#[no_mangle]
pub extern "C" fn slotshift_client_kind(
    client: *const slotshift_client,
) -> slotshift_deployment_kind {
    guard(|| try_ref(client).map_or(slotshift_deployment_kind::Unknown, |s| kind_of(s.kind())))
}

/// Sends one command: `argc` arguments, the name first; `argv[i]` points to `argv_len[i]`
/// bytes (binary-safe; NULL only with length 0). On a cluster, the command is routed by its
/// keys' slot; a multi-key command whose keys span slots (MGET, MSET, DEL, EXISTS, …) is split
/// per slot by the CrossSlot batcher and its replies merged in order.
///
/// On success `*out` is the reply (owned: `slotshift_reply_free()`). An error reply from the
/// server is a failure: `SLOTSHIFT_RESULT_SERVER…` with the server's text in `*err`.
/// Blocks on the network. Thread-safe.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_client_call(
    client: *const slotshift_client,
    argv: *const *const u8,
    argv_len: *const usize,
    argc: usize,
    out: *mut *mut slotshift_reply,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        const F: &str = "slotshift_client_call";
        let Some(store) = try_ref(client) else {
            return null(err, F, "client");
        };
        call_with(F, |cmd| store.call(cmd), argv, argv_len, argc, out, err)
    })
}

/// The body of every `_call`: convert, call, hand the reply out.
pub(crate) fn call_with(
    function: &str,
    call: impl FnOnce(&Cmd) -> Result<Reply, Error>,
    argv: *const *const u8,
    argv_len: *const usize,
    argc: usize,
    out: *mut *mut slotshift_reply,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    let cmd = match try_cmd(argv, argv_len, argc) {
        Ok(c) => c,
        Err(e) => return fail_arg(err, function, e),
    };
    let Some(out) = try_out(out) else {
        return null(err, function, "out");
    };
    match call(&cmd) {
        Ok(reply) => {
            out.set(to_raw(reply));
            slotshift_result::Ok
        }
        Err(e) => fail_with(err, &e),
    }
}

/// The body of every `_pipeline`.
pub(crate) fn pipeline_with(
    function: &str,
    run: impl FnOnce(&[Cmd]) -> Result<Vec<Result<Reply, Error>>, Error>,
    pipeline: *const slotshift_pipeline,
    out: *mut *mut slotshift_replies,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    let Some(cmds) = try_ref(pipeline) else {
        return null(err, function, "pipeline");
    };
    let Some(out) = try_out(out) else {
        return null(err, function, "out");
    };
    match run(cmds) {
        Ok(results) => {
            out.set(to_raw(results));
            slotshift_result::Ok
        }
        Err(e) => fail_with(err, &e),
    }
}

/// Sends every command of `pipeline` at once (one pipeline per node on a cluster, the nodes in
/// parallel, cross-slot commands split by the batcher) and gives each command's result in
/// order in `*out` (owned: `slotshift_replies_free()`). One command's error reply does not
/// fail the call: it is that entry's error (`slotshift_replies_get()`). The call fails only
/// when nothing could be sent (e.g. the validator refused a command). Blocks on the network.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_client_pipeline(
    client: *const slotshift_client,
    pipeline: *const slotshift_pipeline,
    out: *mut *mut slotshift_replies,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        const F: &str = "slotshift_client_pipeline";
        let Some(store) = try_ref(client) else {
            return null(err, F, "client");
        };
        pipeline_with(F, |cmds| store.pipeline(cmds), pipeline, out, err)
    })
}

/// Runs the commands of `pipeline` in MULTI/EXEC. On success `*out` (owned) is an array reply
/// with each command's reply (an error reply inside is an element of type
/// `SLOTSHIFT_VALUE_TYPE_ERROR`), or a nil reply if the transaction was aborted (WATCH). On a
/// cluster every key must hash to one slot, else nothing is sent and the result is
/// `SLOTSHIFT_RESULT_ROUTING`. Blocks on the network.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_client_transaction(
    client: *const slotshift_client,
    pipeline: *const slotshift_pipeline,
    out: *mut *mut slotshift_reply,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        const F: &str = "slotshift_client_transaction";
        let Some(store) = try_ref(client) else {
            return null(err, F, "client");
        };
        let Some(cmds) = try_ref(pipeline) else {
            return null(err, F, "pipeline");
        };
        let Some(out) = try_out(out) else {
            return null(err, F, "out");
        };
        match store.transaction(cmds) {
            Ok(replies) => {
                out.set(to_raw(replies.map_or(Reply::Nil, Reply::Array)));
                slotshift_result::Ok
            }
            Err(e) => fail_with(err, &e),
        }
    })
}

/// Closes the client's open connections politely: `QUIT` on each, then dropped (servers see a
/// clean close). The client stays usable: its next command opens new connections. For a
/// client one thread owns, e.g. before `fork()` or at shutdown; requests of other threads in
/// flight on the same client may fail. Sessions, subscribers and monitors keep their own
/// connections. Blocks while the servers answer (at most the response timeout).
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_client_quit(
    client: *const slotshift_client,
    err: *mut *mut slotshift_error,
) -> slotshift_result {
    guard(|| {
        let Some(store) = try_ref(client) else {
            return null(err, "slotshift_client_quit", "client");
        };
        match store.quit() {
            Ok(()) => slotshift_result::Ok,
            Err(e) => fail_with(err, &e),
        }
    })
}

/// Frees a client and closes its connections (those shared with a MultiStore made from it stay
/// open until the MultiStore is freed). NULL is a no-op; freeing twice is undefined behaviour.
/// Do not free a client while another thread is using it.
#[no_mangle]
pub extern "C" fn slotshift_client_free(client: *mut slotshift_client) {
    guard(|| free_raw(client))
}

/// New client options with the defaults (name `default`, instrumentation on, batch limit from
/// the environment or 1000, the global validator mode). NULL only on a caught panic.
#[no_mangle]
pub extern "C" fn slotshift_client_options_new() -> *mut slotshift_client_options {
    guard(|| to_raw(StoreOptions::default()))
}

/// Sets the store's name (NUL-terminated UTF-8): the label of its metrics and validator counts.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_client_options_set_name(
    opts: *mut slotshift_client_options,
    name: *const c_char,
) -> slotshift_result {
    guard(|| {
        let Some(opts) = try_mut(opts) else {
            return slotshift_result::NullParameter;
        };
        match try_str(name, "name") {
            Ok(n) => {
                opts.name = n.to_owned();
                slotshift_result::Ok
            }
            Err((code, _)) => code,
        }
    })
}

/// Sets the name every connection gives itself (`CLIENT SETNAME`, seen in `CLIENT LIST`;
/// NUL-terminated printable ASCII without spaces, checked when the client is created:
/// `SLOTSHIFT_RESULT_CONFIG`). NULL clears it.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_client_options_set_client_name(
    opts: *mut slotshift_client_options,
    name: *const c_char,
) -> slotshift_result {
    guard(|| {
        let Some(opts) = try_mut(opts) else {
            return slotshift_result::NullParameter;
        };
        if name.is_null() {
            opts.client_name = None;
            return slotshift_result::Ok;
        }
        match try_str(name, "name") {
            Ok(n) => {
                opts.client_name = Some(n.to_owned());
                slotshift_result::Ok
            }
            Err((code, _)) => code,
        }
    })
}

/// Sets the CrossSlot batcher's limit: at most `limit` commands per pipeline sent to a node.
/// 0 is refused when the client is created (`SLOTSHIFT_RESULT_PIPELINE`).
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_client_options_set_batch_limit(
    opts: *mut slotshift_client_options,
    limit: usize,
) -> slotshift_result {
    guard(|| {
        let Some(opts) = try_mut(opts) else {
            return slotshift_result::NullParameter;
        };
        opts.batch_limit = Some(limit);
        slotshift_result::Ok
    })
}

/// Sets this store's own cross-slot validation mode (a `slotshift_validation_mode` value),
/// overriding the global one. `SLOTSHIFT_RESULT_INVALID_ARGUMENT` for any other value.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_client_options_set_cross_slot_validation(
    opts: *mut slotshift_client_options,
    mode: u32,
) -> slotshift_result {
    guard(|| {
        let Some(opts) = try_mut(opts) else {
            return slotshift_result::NullParameter;
        };
        match mode_from_u32(mode) {
            Some(m) => {
                opts.cross_slot_validation = Some(m);
                slotshift_result::Ok
            }
            None => slotshift_result::InvalidArgument,
        }
    })
}

/// Turns instrumentation (per-store stats, Prometheus text, the recorder) on or off.
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_client_options_set_instrument(
    opts: *mut slotshift_client_options,
    on: bool,
) -> slotshift_result {
    guard(|| {
        let Some(opts) = try_mut(opts) else {
            return slotshift_result::NullParameter;
        };
        opts.instrument = on;
        slotshift_result::Ok
    })
}

/// Frees client options. NULL is a no-op.
#[no_mangle]
pub extern "C" fn slotshift_client_options_free(opts: *mut slotshift_client_options) {
    guard(|| free_raw(opts))
}

/// A new, empty pipeline. NULL only on a caught panic.
#[no_mangle]
pub extern "C" fn slotshift_pipeline_new() -> *mut slotshift_pipeline {
    guard(|| to_raw(Vec::new()))
}

/// Appends one command (arguments as for `slotshift_client_call()`; copied).
#[no_mangle]
#[must_use]
pub extern "C" fn slotshift_pipeline_add(
    pipeline: *mut slotshift_pipeline,
    argv: *const *const u8,
    argv_len: *const usize,
    argc: usize,
) -> slotshift_result {
    guard(|| {
        let Some(cmds) = try_mut(pipeline) else {
            return slotshift_result::NullParameter;
        };
        match try_cmd(argv, argv_len, argc) {
            Ok(cmd) => {
                cmds.push(cmd);
                slotshift_result::Ok
            }
            Err((code, _)) => code,
        }
    })
}

/// The number of commands in `pipeline` (0 for NULL).
#[no_mangle]
pub extern "C" fn slotshift_pipeline_len(pipeline: *const slotshift_pipeline) -> usize {
    guard(|| try_ref(pipeline).map_or(0, Vec::len))
}

/// Removes every command, keeping the pipeline for reuse. NULL is a no-op.
#[no_mangle]
pub extern "C" fn slotshift_pipeline_clear(pipeline: *mut slotshift_pipeline) {
    guard(|| {
        if let Some(cmds) = try_mut(pipeline) {
            cmds.clear();
        }
    })
}

/// Frees a pipeline. NULL is a no-op.
#[no_mangle]
pub extern "C" fn slotshift_pipeline_free(pipeline: *mut slotshift_pipeline) {
    guard(|| free_raw(pipeline))
}
