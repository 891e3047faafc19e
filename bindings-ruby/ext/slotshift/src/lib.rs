//! `slotshift/slotshift`: the native layer of the slotshift gem.
//!
//! It converts Ruby values to commands and replies back, releases the GVL around every network
//! call, and raises the exception classes `lib/slotshift/errors.rb` declares. Names, keyword
//! arguments and return conversions of redis-rb live in Ruby (`lib/slotshift/*.rb`). No Ruby
//! value is ever kept in a Rust structure.

use std::time::Duration;

use magnus::{
    function, method, prelude::*, value::ReprValue, Error, RArray, RHash, RModule, RString, Ruby,
    Value,
};
use parking_lot::Mutex;
use slotshift::config::Deployment;
use slotshift::instrument::Recorder;
use slotshift::keyspace::{Scan, ScanOptions};
use slotshift::multistore::{FlagSource, FlagState, MultiStore, MultiStoreOptions};
use slotshift::store::{Store, StoreKind, StoreOptions};

/// The extension's own allocations (commands, replies, plans, connection buffers) come from
/// mimalloc: under glibc's malloc, allocation and free were about a quarter of the time of a
/// 1,000-key cross-slot MGET (perf). Ruby's own objects keep Ruby's allocator; nothing
/// allocated on one side is freed on the other.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod convert;
mod errors;
mod gvl;
mod session;

use convert::{cmd_from, cmds_from, reply_to, results_to};

// ---------------------------------------------------------------------------------------------
// Options from a Ruby Hash with String keys (lib/ normalises symbols). A value of the wrong kind
// is an ArgumentError naming the option (Ruby's convention for bad option values).

fn opt(h: RHash, key: &str) -> Option<Value> {
    h.get(key).filter(|v| !v.is_nil())
}

fn opt_f64(ruby: &Ruby, h: RHash, key: &str) -> Result<Option<f64>, Error> {
    match opt(h, key) {
        None => Ok(None),
        Some(v) => {
            let f: f64 = f64::try_convert(v).map_err(|_| {
                errors::arg_error(ruby, format!("{key}: expected a number of seconds"))
            })?;
            if !f.is_finite() || f < 0.0 {
                return Err(errors::arg_error(
                    ruby,
                    format!("{key}: {f} is not a duration"),
                ));
            }
            Ok(Some(f))
        }
    }
}

fn opt_duration(ruby: &Ruby, h: RHash, key: &str) -> Result<Option<Duration>, Error> {
    Ok(opt_f64(ruby, h, key)?.map(Duration::from_secs_f64))
}

fn opt_u64(ruby: &Ruby, h: RHash, key: &str) -> Result<Option<u64>, Error> {
    match opt(h, key) {
        None => Ok(None),
        Some(v) => u64::try_convert(v)
            .map(Some)
            .map_err(|_| errors::arg_error(ruby, format!("{key}: expected a positive Integer"))),
    }
}

fn opt_bool(h: RHash, key: &str) -> Option<bool> {
    opt(h, key).map(|v| v.to_bool())
}

fn opt_string(ruby: &Ruby, h: RHash, key: &str) -> Result<Option<String>, Error> {
    match opt(h, key) {
        None => Ok(None),
        Some(v) => String::try_convert(v)
            .map(Some)
            .map_err(|_| errors::arg_error(ruby, format!("{key}: expected a String"))),
    }
}

fn opt_bytes(ruby: &Ruby, h: RHash, key: &str) -> Result<Option<Vec<u8>>, Error> {
    match opt(h, key) {
        None => Ok(None),
        Some(v) => match RString::from_value(v) {
            // SAFETY: copied at once.
            Some(s) => Ok(Some(unsafe { s.as_slice() }.to_vec())),
            None => Err(errors::arg_error(ruby, format!("{key}: expected a String"))),
        },
    }
}

fn store_options(ruby: &Ruby, h: RHash, deployment: &Deployment) -> Result<StoreOptions, Error> {
    let mut o = StoreOptions::default();
    if let Some(server) = deployment.servers().first() {
        o.apply_url_timeouts(server);
    }
    if let Some(d) = opt_duration(ruby, h, "connect_timeout")? {
        o.connect_timeout = d;
    }
    if let Some(d) = opt_duration(ruby, h, "read_timeout")? {
        o.response_timeout = d;
    }
    if let Some(d) = opt_duration(ruby, h, "retry_deadline")? {
        o.retry_deadline = d;
    }
    if let Some(n) = opt_string(ruby, h, "name")? {
        o.name = n;
    }
    if let Some(n) = opt_string(ruby, h, "client_name")? {
        o.client_name = Some(n);
    }
    if let Some(b) = opt_bool(h, "instrument") {
        o.instrument = b;
    }
    if let Some(b) = opt_bool(h, "read_from_replicas") {
        o.read_from_replicas = b;
    }
    if let Some(b) = opt_bool(h, "idempotent_writes") {
        o.idempotent_writes = b;
    }
    if let Some(n) = opt_u64(ruby, h, "batch_limit")? {
        if n == 0 {
            return Err(errors::arg_error(
                ruby,
                "batch_limit: must be at least 1".into(),
            ));
        }
        o.batch_limit = Some(n as usize);
    }
    if let Some(m) = opt_string(ruby, h, "cross_slot_validation")? {
        o.cross_slot_validation = Some(parse_mode(ruby, &m)?);
    }
    Ok(o)
}

fn parse_mode(ruby: &Ruby, m: &str) -> Result<slotshift::validator::Mode, Error> {
    m.parse().map_err(|e: slotshift::validator::InvalidMode| {
        errors::arg_error(ruby, format!("cross_slot_validation: {e}"))
    })
}

// ---------------------------------------------------------------------------------------------
// Target

/// `deployment` as `options` changes it: the database `"db"` selected (how
/// `Slotshift::Redis#select` changes database without a connection-bound SELECT; a cluster
/// has only database 0), the credentials `"password"` (and `"username"`) given (how
/// `Slotshift::Redis#auth` authenticates without a connection-bound AUTH).
fn deployment_for(
    ruby: &Ruby,
    deployment: &Deployment,
    options: RHash,
) -> Result<Deployment, Error> {
    let mut deployment = deployment.clone();
    if let Some(db) = opt_u64(ruby, options, "db")? {
        let db = u32::try_from(db)
            .map_err(|_| errors::arg_error(ruby, format!("db: {db} is out of range")))?;
        match &mut deployment {
            Deployment::Server(server) => server.db = db,
            Deployment::Sentinel(sentinel) => sentinel.server.db = db,
            _ if db == 0 => {}
            _ => {
                return Err(errors::by_family(
                    ruby,
                    "server",
                    "ERR SELECT is not allowed in cluster mode".into(),
                ))
            }
        }
    }
    if let Some(password) = opt_string(ruby, options, "password")? {
        deployment.set_password(&slotshift::config::Secret::new(password));
        deployment.set_username(opt_string(ruby, options, "username")?.as_deref());
    }
    Ok(deployment)
}

/// `Slotshift::Native::Target`: where a client connects (a parsed deployment, passwords
/// kept here and never in a Ruby object), before any connection is opened. redis-rb
/// connects on the first command; so does `Slotshift::Redis`, through this.
#[magnus::wrap(class = "Slotshift::Native::Target", free_immediately, size)]
struct NTarget {
    deployment: Deployment,
}

impl NTarget {
    fn parse(ruby: &Ruby, urls: RArray) -> Result<NTarget, Error> {
        let urls: Vec<String> = urls
            .to_vec()
            .map_err(|_| errors::type_error(ruby, "urls: expected Strings".into()))?;
        let deployment = Deployment::from_urls(&urls)
            .map_err(|e| errors::from_core(ruby, &slotshift::Error::from(e)))?;
        Ok(NTarget { deployment })
    }

    /// A connected store (`options` as `Store.open`'s, plus `"db"`).
    fn connect(ruby: &Ruby, rb_self: &Self, options: RHash) -> Result<NStore, Error> {
        let deployment = deployment_for(ruby, &rb_self.deployment, options)?;
        NStore::connect(ruby, deployment, options)
    }

    /// The deployment as a URL, passwords as `***`.
    fn to_s(&self) -> String {
        self.deployment.to_string()
    }

    /// The password the deployment authenticates with (redis-rb's `Redis::Client#password`),
    /// or nil. Only this explicit call hands it to Ruby: no Ruby object keeps it.
    fn password(&self) -> Option<String> {
        self.deployment
            .servers()
            .first()
            .and_then(|s| s.password.as_ref())
            .map(|p| p.expose().to_owned())
    }

    /// "server", "cluster" or "sentinel": what the URLs say (a server may turn out to be a
    /// cluster node once connected).
    fn kind(&self) -> &'static str {
        self.deployment.kind()
    }
}

// ---------------------------------------------------------------------------------------------
// Store

/// `Slotshift::Native::Store`: one deployment (standalone, Sentinel or cluster).
#[magnus::wrap(class = "Slotshift::Native::Store", free_immediately, size)]
pub(crate) struct NStore {
    store: Store,
    /// Where the store connects, secrets included: kept here, never in a Ruby object, so a
    /// second store for the same deployment ([`NStore::reopen`]) needs no URL from Ruby.
    deployment: Deployment,
}

impl NStore {
    fn open(ruby: &Ruby, urls: RArray, options: RHash) -> Result<NStore, Error> {
        let urls: Vec<String> = urls
            .to_vec()
            .map_err(|_| errors::type_error(ruby, "urls: expected Strings".into()))?;
        let deployment = Deployment::from_urls(&urls)
            .map_err(|e| errors::from_core(ruby, &slotshift::Error::from(e)))?;
        NStore::connect(ruby, deployment, options)
    }

    /// Another store for the same deployment (credentials included) with other options: the
    /// client's store for blocking pipelines, a database, a name, or credentials of its own
    /// (`"db"`, `"client_name"`, `"password"`/`"username"`: see [`deployment_for`]).
    fn reopen(ruby: &Ruby, rb_self: &Self, options: RHash) -> Result<NStore, Error> {
        let deployment = deployment_for(ruby, &rb_self.deployment, options)?;
        NStore::connect(ruby, deployment, options)
    }

    fn connect(ruby: &Ruby, deployment: Deployment, options: RHash) -> Result<NStore, Error> {
        let opts = store_options(ruby, options, &deployment)?;
        let target = deployment.clone();
        let store = gvl::blocking(ruby, move || Store::connect(&target, opts))?;
        Ok(NStore { store, deployment })
    }

    fn call(ruby: &Ruby, rb_self: &Self, args: RArray) -> Result<Value, Error> {
        let cmd = cmd_from(ruby, args)?;
        let store = &rb_self.store;
        let reply = gvl::cancellable(ruby, store.call_async(&cmd))?;
        Ok(reply_to(ruby, reply))
    }

    fn pipeline(ruby: &Ruby, rb_self: &Self, list: RArray) -> Result<RArray, Error> {
        let cmds = cmds_from(ruby, list)?;
        let out = gvl::cancellable(ruby, rb_self.store.pipeline_async(&cmds))?;
        Ok(results_to(ruby, out))
    }

    fn transaction(ruby: &Ruby, rb_self: &Self, list: RArray) -> Result<Value, Error> {
        let cmds = cmds_from(ruby, list)?;
        let out = gvl::cancellable(ruby, rb_self.store.transaction_async(&cmds))?;
        Ok(match out {
            None => ruby.qnil().as_value(),
            Some(replies) => {
                let a = ruby.ary_new_capa(replies.len());
                for r in replies {
                    a.push(reply_to(ruby, r))?;
                }
                a.as_value()
            }
        })
    }

    /// QUIT on the store's open connections, then dropped (the next command reconnects).
    fn quit(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        gvl::cancellable(ruby, rb_self.store.quit_async())
    }

    fn kind(&self) -> &'static str {
        match self.store.kind() {
            StoreKind::Standalone => "standalone",
            StoreKind::Sentinel => "sentinel",
            StoreKind::Cluster => "cluster",
            _ => "unknown",
        }
    }

    fn name(&self) -> String {
        self.store.options().name.clone()
    }

    fn masters(ruby: &Ruby, rb_self: &Self) -> Result<Vec<String>, Error> {
        let store = &rb_self.store;
        let masters = gvl::cancellable(ruby, store.masters_async())?;
        Ok(masters.iter().map(ToString::to_string).collect())
    }

    fn call_on(ruby: &Ruby, rb_self: &Self, node: String, args: RArray) -> Result<Value, Error> {
        let cmd = cmd_from(ruby, args)?;
        let addr = slotshift::net::NodeAddr::parse_endpoint(&node, "")
            .ok_or_else(|| errors::arg_error(ruby, format!("node {node:?}: expected host:port")))?;
        let store = &rb_self.store;
        let reply = gvl::cancellable(ruby, store.call_on_async(&addr, &cmd))?;
        Ok(reply_to(ruby, reply))
    }

    fn scan(ruby: &Ruby, rb_self: &Self, options: RHash) -> Result<NScan, Error> {
        let mut o = ScanOptions::default();
        o.pattern = opt_bytes(ruby, options, "match")?;
        o.count = opt_u64(ruby, options, "count")?.map(|n| n as usize);
        o.key_type = opt_string(ruby, options, "type")?;
        let store = rb_self.store.clone();
        let scan = gvl::blocking(ruby, move || store.scan(o))?;
        Ok(NScan {
            scan: Mutex::new(Some(scan)),
        })
    }
}

/// `Slotshift::Native::Scan`: batches of keys, master after master.
#[magnus::wrap(class = "Slotshift::Native::Scan", free_immediately, size)]
struct NScan {
    scan: Mutex<Option<Scan>>,
}

impl NScan {
    /// The next batch of keys (an Array of Strings), or nil at the end.
    fn next_batch(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        let Some(mut scan) = rb_self.scan.lock().take() else {
            return Ok(ruby.qnil().as_value());
        };
        let (scan, item) = gvl::blocking(ruby, move || {
            let item = scan.next();
            Ok((scan, item))
        })?;
        match item {
            None => Ok(ruby.qnil().as_value()),
            Some(Err(e)) => Err(errors::from_core(ruby, &e)),
            Some(Ok(keys)) => {
                *rb_self.scan.lock() = Some(scan);
                let a = ruby.ary_new_capa(keys.len());
                for k in keys {
                    a.push(ruby.enc_str_new(&k, ruby.utf8_encoding()))?;
                }
                Ok(a.as_value())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// MultiStore

/// `Slotshift::Native::MultiStore`: one client over a primary (new) and secondary (old) store.
#[magnus::wrap(class = "Slotshift::Native::MultiStore", free_immediately, size)]
struct NMulti {
    ms: MultiStore,
}

impl NMulti {
    fn new(
        ruby: &Ruby,
        name: String,
        primary: &NStore,
        secondary: &NStore,
        options: RHash,
    ) -> Result<NMulti, Error> {
        let mut o = MultiStoreOptions::default();
        let state = FlagState::new(
            opt_bool(options, "dual_write").unwrap_or(false),
            opt_bool(options, "primary_default").unwrap_or(false),
        );
        o.flags = match opt_string(ruby, options, "flags")?.as_deref() {
            None | Some("in_process") => FlagSource::InProcess(state),
            Some("env") => FlagSource::Env,
            Some("shared_key") => {
                let key = opt_string(ruby, options, "flags_key")?.ok_or_else(|| {
                    errors::arg_error(ruby, "flags: :shared_key needs flags_key:".into())
                })?;
                let cache_ttl = opt_duration(ruby, options, "flags_cache_ttl")?
                    .unwrap_or(Duration::from_secs(1));
                FlagSource::SharedKey {
                    store: secondary.store.clone(),
                    key,
                    cache_ttl,
                }
            }
            Some(other) => {
                return Err(errors::arg_error(
                    ruby,
                    format!("flags: {other:?} (expected :in_process, :env or :shared_key)"),
                ))
            }
        };
        if let Some(b) = opt_bool(options, "strict") {
            o.strict = b;
        }
        if let Some(b) = opt_bool(options, "fallback_reads") {
            o.fallback_reads = b;
        }
        if let Some(b) = opt_bool(options, "async_non_default_writes") {
            o.async_non_default_writes = b;
        }
        if let Some(n) = opt_u64(ruby, options, "primary_read_percentage")? {
            o.primary_read_percentage = u8::try_from(n).unwrap_or(u8::MAX);
        }
        if let Some(r) = opt_f64(ruby, options, "shadow_read_ratio")? {
            o.shadow_read_ratio = r;
        }
        if let Some(p) = opt_string(ruby, options, "metrics_prefix")? {
            o.metrics_prefix = p;
        }
        if let Some(d) = opt_duration(ruby, options, "non_default_timeout")? {
            o.non_default_timeout = Some(d);
        }
        let (p, s) = (primary.store.clone(), secondary.store.clone());
        let ms = gvl::blocking(ruby, move || MultiStore::new(&name, p, s, o))?;
        Ok(NMulti { ms })
    }

    fn call(ruby: &Ruby, rb_self: &Self, args: RArray) -> Result<Value, Error> {
        let cmd = cmd_from(ruby, args)?;
        let reply = gvl::cancellable(ruby, rb_self.ms.call_async(&cmd))?;
        Ok(reply_to(ruby, reply))
    }

    fn pipeline(ruby: &Ruby, rb_self: &Self, list: RArray) -> Result<RArray, Error> {
        let cmds = cmds_from(ruby, list)?;
        let out = gvl::cancellable(ruby, rb_self.ms.pipeline_async(&cmds))?;
        Ok(results_to(ruby, out))
    }

    fn transaction(ruby: &Ruby, rb_self: &Self, list: RArray) -> Result<Value, Error> {
        let cmds = cmds_from(ruby, list)?;
        let out = gvl::cancellable(ruby, rb_self.ms.transaction_async(&cmds))?;
        Ok(match out {
            None => ruby.qnil().as_value(),
            Some(replies) => {
                let a = ruby.ary_new_capa(replies.len());
                for r in replies {
                    a.push(reply_to(ruby, r))?;
                }
                a.as_value()
            }
        })
    }

    // The flag methods may read or write the shared flags key in Redis (FlagSource::SharedKey):
    // network calls, so without the GVL like the others.
    fn set_flags(
        ruby: &Ruby,
        rb_self: &Self,
        dual_write: bool,
        primary_default: bool,
    ) -> Result<(), Error> {
        let ms = rb_self.ms.clone();
        gvl::blocking(ruby, move || {
            ms.set_flags(FlagState::new(dual_write, primary_default))
        })
    }

    fn flags(ruby: &Ruby, rb_self: &Self) -> Result<(bool, bool), Error> {
        let ms = rb_self.ms.clone();
        let f = gvl::blocking(ruby, move || Ok(ms.flags()))?;
        Ok((f.dual_write, f.primary_default))
    }

    fn phase(ruby: &Ruby, rb_self: &Self) -> Result<String, Error> {
        let ms = rb_self.ms.clone();
        let p = gvl::blocking(ruby, move || Ok(ms.phase()))?;
        Ok(format!("{p:?}"))
    }

    fn name(&self) -> String {
        self.ms.name().to_owned()
    }

    fn same_server(ruby: &Ruby, rb_self: &Self) -> Result<bool, Error> {
        let ms = rb_self.ms.clone();
        gvl::blocking(ruby, move || Ok(ms.same_server()))
    }

    fn metrics_text(&self) -> String {
        self.ms.metrics_text()
    }

    fn drain(ruby: &Ruby, rb_self: &Self, timeout: f64) -> Result<bool, Error> {
        let ms = rb_self.ms.clone();
        let t = Duration::from_secs_f64(timeout.max(0.0));
        gvl::blocking(ruby, move || Ok(ms.drain(t)))
    }
}

// ---------------------------------------------------------------------------------------------
// Recorder

/// `Slotshift::Native::Recorder`: captures the commands this thread sends.
#[magnus::wrap(class = "Slotshift::Native::Recorder", free_immediately, size)]
struct NRecorder {
    rec: Recorder,
}

impl NRecorder {
    fn start(pattern: Option<RString>) -> NRecorder {
        let rec = match pattern {
            // SAFETY: copied at once.
            Some(p) => Recorder::start_with_pattern(unsafe { p.as_slice() }),
            None => Recorder::start(),
        };
        NRecorder { rec }
    }

    fn stop(&self) {
        self.rec.stop();
    }

    fn count(&self) -> usize {
        self.rec.count()
    }

    fn commands(ruby: &Ruby, list: Vec<slotshift::instrument::Recorded>) -> Result<RArray, Error> {
        let out = ruby.ary_new_capa(list.len());
        for r in list {
            let args = ruby.ary_new_capa(r.args.len());
            for a in &r.args {
                args.push(ruby.enc_str_new(a, ruby.utf8_encoding()))?;
            }
            out.push(args)?;
        }
        Ok(out)
    }

    fn log(ruby: &Ruby, rb_self: &Self) -> Result<RArray, Error> {
        NRecorder::commands(ruby, rb_self.rec.log())
    }

    fn by_command(ruby: &Ruby, rb_self: &Self, name: String) -> Result<RArray, Error> {
        NRecorder::commands(ruby, rb_self.rec.by_command(&name))
    }

    fn by_key(ruby: &Ruby, rb_self: &Self, pattern: RString) -> Result<RArray, Error> {
        // SAFETY: copied before any Ruby code runs.
        let p = unsafe { pattern.as_slice() }.to_vec();
        NRecorder::commands(ruby, rb_self.rec.by_key(p))
    }
}

// ---------------------------------------------------------------------------------------------
// Module functions

fn key_slot(key: RString) -> u16 {
    // SAFETY: read before any Ruby code runs.
    slotshift::key_slot(unsafe { key.as_slice() }).get()
}

fn key_slots(ruby: &Ruby, keys: RArray) -> Result<RArray, Error> {
    let out = ruby.ary_new_capa(keys.len());
    for (i, k) in keys.into_iter().enumerate() {
        let s = RString::from_value(k)
            .ok_or_else(|| errors::type_error(ruby, format!("key {i} is not a String")))?;
        out.push(key_slot(s))?;
    }
    Ok(out)
}

fn metrics_text() -> String {
    slotshift::instrument::metrics_text()
}

/// Runs the block in a request scope (`slotshift::request`): what this thread's commands
/// cost meanwhile is counted; the scope ends with the block, however it ends.
fn request_scope(ruby: &Ruby) -> Result<Value, Error> {
    let _scope = slotshift::request::RequestScope::begin();
    ruby.yield_value(())
}

/// The innermost open request scope's log fields (a Hash: String keys, Integer or Float
/// values), or nil outside any scope.
fn request_log_fields(ruby: &Ruby) -> Result<Option<RHash>, Error> {
    let Some(fields) = slotshift::request::current_log_fields() else {
        return Ok(None);
    };
    let hash = ruby.hash_new();
    for (name, value) in fields {
        if let Some(n) = value.as_u64() {
            hash.aset(name, n)?;
        } else if let Some(x) = value.as_f64() {
            hash.aset(name, x)?;
        }
    }
    Ok(Some(hash))
}

/// Passes the core's log records of `level` ("error" … "trace") and more severe to the queue
/// `next_log_record` reads (installed on first use); `nil` stops passing them.
fn set_log_level(ruby: &Ruby, level: Option<String>) -> Result<(), Error> {
    use slotshift::log_queue;
    let Some(level) = level else {
        log_queue::silence();
        return Ok(());
    };
    let level: log_queue::Level = level
        .parse()
        .map_err(|e: String| errors::arg_error(ruby, e))?;
    log_queue::install(level).map_err(|e| errors::by_family(ruby, "config", e))
}

/// The next core log record as `[level, target, message]`, waiting at most `timeout`
/// seconds (`nil`: until one comes; the GVL released, interruptible); nil when none came.
fn next_log_record(
    ruby: &Ruby,
    timeout: Option<f64>,
) -> Result<Option<(&'static str, String, String)>, Error> {
    let timeout = session::seconds(ruby, timeout)?;
    let record = gvl::cancellable(ruby, async {
        Ok(slotshift::log_queue::next_record_async(timeout).await)
    })?;
    Ok(record.map(|r| (r.level.as_str(), r.target, r.message)))
}

/// How many core log records were dropped because nobody read them in time.
fn dropped_log_records() -> u64 {
    slotshift::log_queue::dropped()
}

fn allow_enter() {
    slotshift::validator::enter_allow();
}

fn allow_exit() {
    slotshift::validator::exit_allow();
}

fn set_validation_mode(ruby: &Ruby, mode: String) -> Result<(), Error> {
    slotshift::validator::set_mode(parse_mode(ruby, &mode)?);
    Ok(())
}

fn validation_mode() -> &'static str {
    slotshift::validator::mode().as_str()
}

fn validator_counts(store: String) -> (u64, u64, u64) {
    let c = slotshift::validator::counts(&store);
    (c.cross_slot, c.allowed, c.refused)
}

fn error_families() -> Vec<&'static str> {
    slotshift::error::ErrorFamily::ALL
        .iter()
        .map(|f| f.name())
        .collect()
}

fn analyze(ruby: &Ruby, store: &NStore, options: RHash) -> Result<String, Error> {
    let mut o = slotshift::analyzer::AnalyzeOptions::default();
    if let Some(n) = opt_u64(ruby, options, "count")? {
        o.count = n as usize;
    }
    o.match_pattern = opt_bytes(ruby, options, "match")?;
    o.key_type = opt_string(ruby, options, "type")?;
    if let Some(n) = opt_u64(ruby, options, "samples")? {
        o.samples = Some(u32::try_from(n).unwrap_or(u32::MAX));
    }
    o.rate = opt_u64(ruby, options, "rate")?;
    if let Some(b) = opt_bool(options, "show_keys") {
        o.show_keys = b;
    }
    if let Some(n) = opt_u64(ruby, options, "top")? {
        o.top = n as usize;
    }
    let store = store.store.clone();
    let shared = shared_job(ruby, options)?;
    let report = gvl::blocking(ruby, move || match &shared {
        Some((c, s)) => slotshift::migrate::analyze_shared(&store, c, &o, s),
        None => slotshift::analyzer::analyze(&store, &o),
    })?;
    Ok(report.to_json())
}

/// The shared job `coordinator:` and `job:` ask for (both or neither): this process is one
/// of several sharing the work through the coordinator (docs/migrate.md).
fn shared_job(
    ruby: &Ruby,
    options: RHash,
) -> Result<Option<(slotshift::store::Store, slotshift::migrate::SharedOptions)>, Error> {
    let job = opt_string(ruby, options, "job")?;
    match (opt(options, "coordinator"), job) {
        (Some(c), Some(job)) => {
            let c = <&NStore>::try_convert(c).map_err(|_| {
                errors::arg_error(ruby, "coordinator: expected a Slotshift::Redis".to_owned())
            })?;
            Ok(Some((
                c.store.clone(),
                slotshift::migrate::SharedOptions::new(job),
            )))
        }
        (None, None) => Ok(None),
        _ => Err(errors::arg_error(
            ruby,
            "coordinator: and job: go together: the coordinator keeps the job of that name"
                .to_owned(),
        )),
    }
}

/// The `SCAN` filter shared by diff and migrate: `match:` and `type:`.
fn key_filter(ruby: &Ruby, options: RHash) -> Result<slotshift::migrate::KeyFilter, Error> {
    let mut f = slotshift::migrate::KeyFilter::default();
    f.pattern = opt_string(ruby, options, "match")?;
    f.key_type = opt_string(ruby, options, "type")?;
    Ok(f)
}

/// `Slotshift.diff`: the core's JSON report, its text form and its total of differences.
fn diff(
    ruby: &Ruby,
    source: &NStore,
    destination: &NStore,
    options: RHash,
) -> Result<(String, String, u64), Error> {
    let mut o = slotshift::migrate::DiffOptions::default();
    if let Some(mode) = opt_string(ruby, options, "mode")? {
        o.mode =
            slotshift::migrate::DiffMode::parse(&mode).map_err(|e| errors::from_core(ruby, &e))?;
    }
    o.filter = key_filter(ruby, options)?;
    o.rate = opt_u64(ruby, options, "rate")?;
    if let Some(ms) = opt_u64(ruby, options, "ttl_tolerance_ms")? {
        o.ttl_tolerance = Duration::from_millis(ms);
    }
    let (src, dst) = (source.store.clone(), destination.store.clone());
    let shared = shared_job(ruby, options)?;
    let report = gvl::blocking(ruby, move || match &shared {
        Some((c, s)) => slotshift::migrate::diff_shared(&src, &dst, c, &o, s),
        None => slotshift::migrate::diff(&src, &dst, &o),
    })?;
    Ok((
        report.to_json(),
        report.to_text(),
        report.total_differences(),
    ))
}

/// `Slotshift.migrate`: the core's JSON report, its text form and the keys copied.
fn migrate(
    ruby: &Ruby,
    source: &NStore,
    destination: &NStore,
    options: RHash,
) -> Result<(String, String, u64), Error> {
    let mut o = slotshift::migrate::MigrateOptions::default();
    o.filter = key_filter(ruby, options)?;
    o.rate = opt_u64(ruby, options, "rate")?;
    if let Some(ms) = opt_u64(ruby, options, "ttl_tolerance_ms")? {
        o.ttl_tolerance = Duration::from_millis(ms);
    }
    if let Some(b) = opt_bool(options, "dry_run") {
        o.dry_run = b;
    }
    if let Some(b) = opt_bool(options, "missing_only") {
        o.missing_only = b;
    }
    let (src, dst) = (source.store.clone(), destination.store.clone());
    let shared = shared_job(ruby, options)?;
    let report = gvl::blocking(ruby, move || match &shared {
        Some((c, s)) => slotshift::migrate::migrate_shared(&src, &dst, c, &o, s),
        None => slotshift::migrate::migrate(&src, &dst, &o),
    })?;
    Ok((report.to_json(), report.to_text(), report.copied()))
}

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The entry point Ruby calls on `require "slotshift/slotshift"` (`Init_slotshift`).
mod entry {
    // The function magnus generates has no doc comment of its own.
    #![allow(missing_docs)]

    /// Defines `Slotshift::Native` and its classes.
    #[magnus::init(name = "slotshift")]
    fn init(ruby: &magnus::Ruby) -> Result<(), magnus::Error> {
        super::define(ruby)
    }
}

/// Defines `Slotshift::Native` and its classes.
fn define(ruby: &Ruby) -> Result<(), Error> {
    let top = ruby.define_module("Slotshift")?;
    let native: RModule = top.define_module("Native")?;
    native.define_singleton_method("key_slot", function!(key_slot, 1))?;
    native.define_singleton_method("key_slots", function!(key_slots, 1))?;
    native.define_singleton_method("metrics_text", function!(metrics_text, 0))?;
    native.define_singleton_method("log_level=", function!(set_log_level, 1))?;
    native.define_singleton_method("next_log_record", function!(next_log_record, 1))?;
    native.define_singleton_method("dropped_log_records", function!(dropped_log_records, 0))?;
    native.define_singleton_method("request_scope", function!(request_scope, 0))?;
    native.define_singleton_method("request_log_fields", function!(request_log_fields, 0))?;
    native.define_singleton_method("allow_enter", function!(allow_enter, 0))?;
    native.define_singleton_method("allow_exit", function!(allow_exit, 0))?;
    native.define_singleton_method("validation_mode=", function!(set_validation_mode, 1))?;
    native.define_singleton_method("validation_mode", function!(validation_mode, 0))?;
    native.define_singleton_method("validator_counts", function!(validator_counts, 1))?;
    native.define_singleton_method("error_families", function!(error_families, 0))?;
    native.define_singleton_method("analyze", function!(analyze, 2))?;
    native.define_singleton_method("diff", function!(diff, 3))?;
    native.define_singleton_method("migrate", function!(migrate, 3))?;
    native.define_singleton_method("version", function!(version, 0))?;

    let store = native.define_class("Store", ruby.class_object())?;
    store.define_singleton_method("open", function!(NStore::open, 2))?;
    store.define_method("reopen", method!(NStore::reopen, 1))?;
    store.define_method("call", method!(NStore::call, 1))?;
    store.define_method("pipeline", method!(NStore::pipeline, 1))?;
    store.define_method("transaction", method!(NStore::transaction, 1))?;
    store.define_method("kind", method!(NStore::kind, 0))?;
    store.define_method("quit", method!(NStore::quit, 0))?;
    store.define_method("name", method!(NStore::name, 0))?;
    store.define_method("masters", method!(NStore::masters, 0))?;
    store.define_method("call_on", method!(NStore::call_on, 2))?;
    store.define_method("scan", method!(NStore::scan, 1))?;

    let target = native.define_class("Target", ruby.class_object())?;
    target.define_singleton_method("parse", function!(NTarget::parse, 1))?;
    target.define_method("connect", method!(NTarget::connect, 1))?;
    target.define_method("to_s", method!(NTarget::to_s, 0))?;
    target.define_method("kind", method!(NTarget::kind, 0))?;
    target.define_method("password", method!(NTarget::password, 0))?;

    let scan = native.define_class("Scan", ruby.class_object())?;
    scan.define_method("next_batch", method!(NScan::next_batch, 0))?;

    let multi = native.define_class("MultiStore", ruby.class_object())?;
    multi.define_singleton_method("new", function!(NMulti::new, 4))?;
    multi.define_method("call", method!(NMulti::call, 1))?;
    multi.define_method("pipeline", method!(NMulti::pipeline, 1))?;
    multi.define_method("transaction", method!(NMulti::transaction, 1))?;
    multi.define_method("set_flags", method!(NMulti::set_flags, 2))?;
    multi.define_method("flags", method!(NMulti::flags, 0))?;
    multi.define_method("phase", method!(NMulti::phase, 0))?;
    multi.define_method("name", method!(NMulti::name, 0))?;
    multi.define_method("same_server?", method!(NMulti::same_server, 0))?;
    multi.define_method("metrics_text", method!(NMulti::metrics_text, 0))?;
    multi.define_method("drain", method!(NMulti::drain, 1))?;

    let rec = native.define_class("Recorder", ruby.class_object())?;
    rec.define_singleton_method("start", function!(NRecorder::start, 1))?;
    rec.define_method("stop", method!(NRecorder::stop, 0))?;
    rec.define_method("count", method!(NRecorder::count, 0))?;
    rec.define_method("log", method!(NRecorder::log, 0))?;
    rec.define_method("by_command", method!(NRecorder::by_command, 1))?;
    rec.define_method("by_key", method!(NRecorder::by_key, 1))?;

    session::define(ruby, native)
}
