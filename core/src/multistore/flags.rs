//! The two migration flags, named as GitLab names them, and where they come from: set in
//! process, read from the environment, or shared by every process through a hash in Redis.
//!
//! ```
//! use slotshift::multistore::{flag_names, env_var_names, FlagState, Phase};
//! let (dual, default) = flag_names("SharedState").unwrap();
//! assert_eq!(dual, "use_primary_and_secondary_stores_for_shared_state");
//! assert_eq!(default, "use_primary_store_as_default_for_shared_state");
//! assert_eq!(env_var_names("SharedState").unwrap().0, "USE_PRIMARY_AND_SECONDARY_STORES_FOR_SHARED_STATE");
//! assert_eq!(FlagState::new(true, false).phase(), Phase::DualWriteSecondaryDefault);
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::{shorten, MultiStoreError};
use crate::command::Cmd;
use crate::reply::Reply;
use crate::store::Store;
use crate::{Error, Result};

/// The two flags of one MultiStore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlagState {
    /// `use_primary_and_secondary_stores_for_<name>`: writes go to both stores.
    pub dual_write: bool,
    /// `use_primary_store_as_default_for_<name>`: the primary (new) store is the default.
    pub primary_default: bool,
}

impl FlagState {
    /// Both flags.
    pub const fn new(dual_write: bool, primary_default: bool) -> FlagState {
        FlagState {
            dual_write,
            primary_default,
        }
    }

    /// The migration phase these flags select.
    pub const fn phase(self) -> Phase {
        match (self.dual_write, self.primary_default) {
            (false, false) => Phase::SecondaryOnly,
            (true, false) => Phase::DualWriteSecondaryDefault,
            (true, true) => Phase::DualWritePrimaryDefault,
            (false, true) => Phase::PrimaryOnly,
        }
    }

    const fn bits(self) -> u8 {
        (self.dual_write as u8) | ((self.primary_default as u8) << 1)
    }

    const fn from_bits(bits: u8) -> FlagState {
        FlagState::new(bits & 1 != 0, bits & 2 != 0)
    }
}

/// The four phases of a migration, in rollout order (GitLab's states A to D).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Both flags off (the start): everything goes to the secondary (old) store.
    SecondaryOnly,
    /// Dual-write on, primary not default: writes go to both, reads to the secondary.
    DualWriteSecondaryDefault,
    /// Dual-write on, primary default: writes go to both, reads to the primary.
    DualWritePrimaryDefault,
    /// Dual-write off, primary default (the end): everything goes to the primary (new) store.
    PrimaryOnly,
}

impl Phase {
    /// Every phase in rollout order.
    pub const ALL: [Phase; 4] = [
        Phase::SecondaryOnly,
        Phase::DualWriteSecondaryDefault,
        Phase::DualWritePrimaryDefault,
        Phase::PrimaryOnly,
    ];

    /// The flags that select this phase.
    pub const fn flags(self) -> FlagState {
        match self {
            Phase::SecondaryOnly => FlagState::new(false, false),
            Phase::DualWriteSecondaryDefault => FlagState::new(true, false),
            Phase::DualWritePrimaryDefault => FlagState::new(true, true),
            Phase::PrimaryOnly => FlagState::new(false, true),
        }
    }

    /// Whether writes go to both stores.
    pub const fn dual_write(self) -> bool {
        self.flags().dual_write
    }

    /// The store that answers reads and whose replies and errors the caller gets.
    pub const fn default_side(self) -> Side {
        if self.flags().primary_default {
            Side::Primary
        } else {
            Side::Secondary
        }
    }

    /// A short stable name (`secondary_only`, `dual_write_secondary_default`, …) for logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::SecondaryOnly => "secondary_only",
            Phase::DualWriteSecondaryDefault => "dual_write_secondary_default",
            Phase::DualWritePrimaryDefault => "dual_write_primary_default",
            Phase::PrimaryOnly => "primary_only",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One of the two stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The new store (the migration's target).
    Primary,
    /// The old store (where the data is today).
    Secondary,
}

impl Side {
    /// The other store.
    pub const fn other(self) -> Side {
        match self {
            Side::Primary => Side::Secondary,
            Side::Secondary => Side::Primary,
        }
    }

    /// `primary` or `secondary`, the label value in metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Primary => "primary",
            Side::Secondary => "secondary",
        }
    }

    pub(crate) const fn index(self) -> usize {
        match self {
            Side::Primary => 0,
            Side::Secondary => 1,
        }
    }
}

/// The application's answer to "is flag `name` on?" (GitLab: `Feature.enabled?(name)`): `Ok`
/// with the answer, or `Err` with why it could not say.
pub type FlagCallback = Arc<dyn Fn(&str) -> std::result::Result<bool, String> + Send + Sync>;

/// Where a MultiStore reads its flags from.
#[derive(Clone)]
#[non_exhaustive]
pub enum FlagSource {
    /// Held in this process (atomically; safe to flip under load with
    /// [`MultiStore::set_flags`](super::MultiStore::set_flags)), starting from these values.
    InProcess(FlagState),
    /// Read once, at construction, from `USE_PRIMARY_AND_SECONDARY_STORES_FOR_<NAME>` and
    /// `USE_PRIMARY_STORE_AS_DEFAULT_FOR_<NAME>` (unset or empty = off), then held in process.
    Env,
    /// Shared by every process: a hash at `key` in `store` whose fields are the flag names
    /// (`use_primary_and_secondary_stores_for_<name>` = `1`/`0`; a missing field is off). Read
    /// again when the cached value is older than `cache_ttl`, so a flip reaches every process
    /// within about that interval.
    SharedKey {
        /// The store that holds the flags hash (often the secondary).
        store: Store,
        /// The key of the hash.
        key: String,
        /// How long a read value is used before it is read again.
        cache_ttl: Duration,
    },
    /// Asked of the application: `ask(flag_name)` for each of the two flag names
    /// ([`flag_names`]) at construction, and again, by one caller at a time, when the answers
    /// are older than `cache_ttl` (zero: on every operation — the application's flag system
    /// caches as it sees fit). An error or a panic of the callback keeps the last answers in
    /// force (logged); at construction it is the constructor's error.
    Callback {
        /// The application's flag lookup.
        ask: FlagCallback,
        /// How long answers are used before asking again.
        cache_ttl: Duration,
    },
}

impl std::fmt::Debug for FlagSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlagSource::InProcess(state) => f.debug_tuple("InProcess").field(state).finish(),
            FlagSource::Env => f.write_str("Env"),
            FlagSource::SharedKey {
                store,
                key,
                cache_ttl,
            } => f
                .debug_struct("SharedKey")
                .field("store", store)
                .field("key", key)
                .field("cache_ttl", cache_ttl)
                .finish(),
            FlagSource::Callback { cache_ttl, .. } => f
                .debug_struct("Callback")
                .field("cache_ttl", cache_ttl)
                .finish_non_exhaustive(),
        }
    }
}

impl Default for FlagSource {
    fn default() -> FlagSource {
        FlagSource::InProcess(FlagState::default())
    }
}

/// GitLab's feature-flag names for instance `name`: (dual-write, primary-as-default).
/// The name is underscored as Rails does (`SharedState` → `shared_state`).
pub fn flag_names(name: &str) -> Result<(String, String), MultiStoreError> {
    let n = underscore(name)?;
    Ok((
        format!("use_primary_and_secondary_stores_for_{n}"),
        format!("use_primary_store_as_default_for_{n}"),
    ))
}

/// The environment variables [`FlagSource::Env`] reads: the flag names in capitals.
pub fn env_var_names(name: &str) -> Result<(String, String), MultiStoreError> {
    let (a, b) = flag_names(name)?;
    Ok((a.to_ascii_uppercase(), b.to_ascii_uppercase()))
}

/// `SharedState` → `shared_state`, `HTTPCache` → `http_cache`, `foo-bar` → `foo_bar`.
fn underscore(name: &str) -> Result<String, MultiStoreError> {
    // The name becomes part of flag names, environment variables and metric labels: only
    // characters that read the same in all of them.
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(MultiStoreError::InvalidName(name.to_owned()));
    }
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && i > 0 {
                let prev = chars[i - 1];
                let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
                if prev.is_ascii_lowercase()
                    || prev.is_ascii_digit()
                    || (prev.is_ascii_uppercase() && next_lower)
                {
                    out.push('_');
                }
            }
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() {
        return Err(MultiStoreError::InvalidName(name.to_owned()));
    }
    Ok(out)
}

/// Reads a boolean the way GitLab's `to_boolean` does; `None` if it is not one.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "t" | "yes" | "y" | "on" => Some(true),
        "0" | "false" | "f" | "no" | "n" | "off" | "" => Some(false),
        _ => None,
    }
}

fn env_flag(variable: &str) -> Result<bool, MultiStoreError> {
    match std::env::var(variable) {
        Ok(v) => parse_bool(&v).ok_or_else(|| MultiStoreError::InvalidFlagValue {
            variable: variable.to_owned(),
            value: shorten(&v),
        }),
        Err(std::env::VarError::NotPresent) => Ok(false),
        Err(std::env::VarError::NotUnicode(v)) => Err(MultiStoreError::InvalidFlagValue {
            variable: variable.to_owned(),
            value: shorten(&v.to_string_lossy()),
        }),
    }
}

/// Writes `state` into the shared flags hash `key` for instance `name` (what
/// [`MultiStore::set_flags`](super::MultiStore::set_flags) does for a
/// [`FlagSource::SharedKey`]; also usable from an operator's tool).
pub fn write_shared_flags(store: &Store, key: &str, name: &str, state: FlagState) -> Result<()> {
    let (dual, default) = flag_names(name)?;
    let cmd = hset(key, &dual, &default, state);
    store
        .call(&cmd)
        .map(|_| ())
        .map_err(|e| shared_error(key, "written", e))
}

fn hset(key: &str, dual: &str, default: &str, state: FlagState) -> Cmd {
    Cmd::from_args([
        "HSET",
        key,
        dual,
        if state.dual_write { "1" } else { "0" },
        default,
        if state.primary_default { "1" } else { "0" },
    ])
}

fn shared_error(key: &str, action: &'static str, e: Error) -> Error {
    Error::MultiStore(MultiStoreError::SharedFlags {
        key: key.to_owned(),
        action,
        source: Box::new(e),
    })
}

/// The flags as the MultiStore consults them on every operation.
pub(crate) struct Flags {
    names: (String, String),
    inner: Inner,
}

enum Inner {
    Local(AtomicU8),
    Shared {
        store: Store,
        key: String,
        ttl: Duration,
        /// The last value read and when.
        cache: Cache,
    },
    Asked {
        ask: FlagCallback,
        ttl: Duration,
        /// The last answers and when.
        cache: Cache,
    },
}

/// Both flags as the application's callback answers them.
fn ask_both(ask: &FlagCallback, names: &(String, String)) -> Result<FlagState> {
    let one = |flag: &str| -> Result<bool> {
        let failed = |reason: String| MultiStoreError::FlagCallback {
            flag: flag.to_owned(),
            reason,
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ask(flag))) {
            Ok(Ok(on)) => Ok(on),
            Ok(Err(why)) => {
                Err(failed(format!("the application's flag callback failed: {why}")).into())
            }
            Err(_) => Err(failed("the application's flag callback panicked".into()).into()),
        }
    };
    Ok(FlagState::new(one(&names.0)?, one(&names.1)?))
}

/// The shared key's last value, in atomics: read on every operation, and a lock here would
/// hang a forked child if a parent thread held it at fork time.
struct Cache {
    base: Instant,
    /// When it was read: ms since `base`.
    read_at_ms: AtomicU64,
    state: AtomicU8,
    /// The pid of the process whose caller is refreshing it (0: nobody). A child that
    /// inherits a refresh in progress (its thread is gone) takes over.
    refreshing: AtomicU32,
}

impl Cache {
    fn new(state: FlagState) -> Cache {
        Cache {
            base: Instant::now(),
            read_at_ms: AtomicU64::new(0),
            state: AtomicU8::new(state.bits()),
            refreshing: AtomicU32::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    fn get(&self) -> (Duration, FlagState) {
        let age = self
            .now_ms()
            .saturating_sub(self.read_at_ms.load(Ordering::Acquire));
        (
            Duration::from_millis(age),
            FlagState::from_bits(self.state.load(Ordering::Acquire)),
        )
    }

    fn put(&self, state: FlagState) {
        self.state.store(state.bits(), Ordering::Release);
        self.read_at_ms.store(self.now_ms(), Ordering::Release);
    }

    /// Whether this caller may refresh (one per process at a time).
    fn start_refresh(&self) -> bool {
        let me = std::process::id();
        let now = self.refreshing.load(Ordering::Acquire);
        if now == me {
            return false;
        }
        self.refreshing
            .compare_exchange(now, me, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn end_refresh(&self) {
        self.refreshing.store(0, Ordering::Release);
    }
}

impl Flags {
    /// Resolves the source: reads the environment or the shared key once (an error here is the
    /// constructor's error).
    pub(crate) async fn init(source: FlagSource, name: &str) -> Result<Flags> {
        let names = flag_names(name)?;
        let inner = match source {
            FlagSource::InProcess(state) => Inner::Local(AtomicU8::new(state.bits())),
            FlagSource::Env => {
                let dual = env_flag(&names.0.to_ascii_uppercase())?;
                let default = env_flag(&names.1.to_ascii_uppercase())?;
                Inner::Local(AtomicU8::new(FlagState::new(dual, default).bits()))
            }
            FlagSource::SharedKey {
                store,
                key,
                cache_ttl,
            } => {
                let state = read_shared(&store, &key, &names).await?;
                Inner::Shared {
                    store,
                    key,
                    ttl: cache_ttl,
                    cache: Cache::new(state),
                }
            }
            FlagSource::Callback { ask, cache_ttl } => {
                let state = ask_both(&ask, &names)?;
                let cache = Cache::new(state);
                cache.put(state);
                Inner::Asked {
                    ask,
                    ttl: cache_ttl,
                    cache,
                }
            }
        };
        Ok(Flags { names, inner })
    }

    /// The flag names (dual-write, primary-as-default).
    pub(crate) fn names(&self) -> &(String, String) {
        &self.names
    }

    /// The current flags. A shared key older than its TTL is read again by one caller; if that
    /// read fails, the last value stays in force and the failure is logged.
    pub(crate) async fn current(&self) -> FlagState {
        match &self.inner {
            Inner::Local(bits) => FlagState::from_bits(bits.load(Ordering::Acquire)),
            Inner::Shared {
                store,
                key,
                ttl,
                cache,
            } => {
                let (age, state) = cache.get();
                if age < *ttl || !cache.start_refresh() {
                    return state;
                }
                let fresh = read_shared(store, key, &self.names).await;
                let out = match fresh {
                    Ok(new) => {
                        if new != state {
                            log::info!(
                                "multistore flags key={key} changed: phase {} -> {}",
                                state.phase(),
                                new.phase()
                            );
                        }
                        cache.put(new);
                        new
                    }
                    Err(e) => {
                        log::warn!(
                            "multistore flags key={key}: refresh failed, keeping phase {}: {e}",
                            state.phase()
                        );
                        // Try again after another interval, not on every call.
                        cache.put(state);
                        state
                    }
                };
                cache.end_refresh();
                out
            }
            Inner::Asked { ask, ttl, cache } => {
                let (age, state) = cache.get();
                if (age < *ttl && !ttl.is_zero()) || !cache.start_refresh() {
                    return state;
                }
                let out = match ask_both(ask, &self.names) {
                    Ok(new) => {
                        if new != state {
                            log::info!(
                                "multistore flags (application callback) changed: phase {} -> {}",
                                state.phase(),
                                new.phase()
                            );
                        }
                        new
                    }
                    Err(e) => {
                        log::warn!("multistore flags: keeping phase {}: {e}", state.phase());
                        state
                    }
                };
                cache.put(out);
                cache.end_refresh();
                out
            }
        }
    }

    /// Sets the flags: atomically in process, or in the shared key (the local cache is updated
    /// at once; other processes see it within their cache interval).
    pub(crate) async fn set(&self, state: FlagState) -> Result<()> {
        match &self.inner {
            Inner::Local(bits) => {
                bits.store(state.bits(), Ordering::Release);
                Ok(())
            }
            Inner::Shared {
                store, key, cache, ..
            } => {
                let cmd = hset(key, &self.names.0, &self.names.1, state);
                store
                    .call_async(&cmd)
                    .await
                    .map_err(|e| shared_error(key, "written", e))?;
                cache.put(state);
                Ok(())
            }
            Inner::Asked { .. } => Err(MultiStoreError::FlagCallback {
                flag: format!("{} / {}", self.names.0, self.names.1),
                reason: "the flags belong to the application's callback; change them there".into(),
            }
            .into()),
        }
    }
}

async fn read_shared(store: &Store, key: &str, names: &(String, String)) -> Result<FlagState> {
    let cmd = Cmd::from_args(["HMGET", key, &names.0, &names.1]);
    let reply = store
        .call_async(&cmd)
        .await
        .map_err(|e| shared_error(key, "read", e))?;
    let items = match reply {
        Reply::Array(items) => items,
        other => {
            return Err(shared_error(
                key,
                "read",
                Error::Server(crate::reply::ServerError::new(
                    "ERR",
                    format!("HMGET answered {}", kind_of(&other)),
                )),
            ))
        }
    };
    let mut out = [false; 2];
    for (i, field) in [&names.0, &names.1].into_iter().enumerate() {
        out[i] = match items.get(i) {
            None | Some(Reply::Nil) => false,
            Some(item) => {
                let text = item
                    .as_bytes()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                parse_bool(&text).ok_or_else(|| {
                    Error::MultiStore(MultiStoreError::InvalidSharedFlag {
                        key: key.to_owned(),
                        field: field.clone(),
                        value: shorten(&text),
                    })
                })?
            }
        };
    }
    Ok(FlagState::new(out[0], out[1]))
}

fn kind_of(reply: &Reply) -> &'static str {
    match reply {
        Reply::Nil => "nil",
        Reply::Int(_) => "an integer",
        Reply::Error(_) => "an error",
        _ => "an unexpected reply",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_underscored_like_rails() {
        for (given, want) in [
            ("TestStore", "test_store"),
            ("SharedState", "shared_state"),
            ("sessions", "sessions"),
            ("HTTPCache", "http_cache"),
            ("cache-v2", "cache_v2"),
            ("Db2Load", "db2_load"),
        ] {
            assert_eq!(
                flag_names(given).unwrap().0,
                format!("use_primary_and_secondary_stores_for_{want}")
            );
        }
        for bad in ["--", "", "shared state", "a/b", "a\0b", "caché", "x\"y"] {
            assert!(
                matches!(
                    flag_names(bad).unwrap_err(),
                    MultiStoreError::InvalidName(_)
                ),
                "{bad:?}"
            );
        }
        assert!(flag_names("cache.v2").is_ok());
    }

    #[test]
    fn bits_round_trip_and_phases() {
        for phase in Phase::ALL {
            let f = phase.flags();
            assert_eq!(FlagState::from_bits(f.bits()), f);
            assert_eq!(f.phase(), phase);
        }
        assert_eq!(Phase::PrimaryOnly.default_side(), Side::Primary);
        assert!(!Phase::PrimaryOnly.dual_write());
    }

    #[test]
    fn booleans() {
        for t in ["1", "true", "TRUE", " yes ", "on", "t"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "false", "off", "no", ""] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("maybe"), None);
    }
}
