//! The cross-slot validator: finds, before a migration, the commands an application sends that
//! a cluster would refuse because their keys hash to different slots.
//!
//! It works on any store — the point is to run it on the standalone or Sentinel deployment you
//! are about to leave. A **violation** is
//!
//! - a command whose keys span slots (MGET, MSET, DEL, SUNIONSTORE, RENAME …), movable-key
//!   commands included (EVAL/EVALSHA/FCALL with `numkeys`, ZUNIONSTORE and friends, XREAD …
//!   STREAMS, SORT … STORE, LMPOP …), whose keys the [key table](crate::command::KeyTable)
//!   finds the way the server does;
//! - a MULTI/EXEC transaction whose keys, all commands together, span slots.
//!
//! A plain pipeline whose commands go to different slots is **not** a violation: a cluster
//! client splits it per node (and [`pipeline`](crate::pipeline) does).
//!
//! Modes ([`Mode`]): `raise` refuses the command before it is sent ([`CrossSlotError`]) — for
//! development and tests; `count` counts it, logs it and sends it — for production (the first
//! of each command name as it happens, the repeats as one line a minute with their counts);
//! `off` costs nothing. The mode is global ([`set_mode`], or `SLOTSHIFT_CROSS_SLOT_VALIDATION` read
//! once), and a store may override it
//! ([`StoreOptions::cross_slot_validation`](crate::store::StoreOptions::cross_slot_validation)).
//!
//! Known, accepted cases run inside an **allow scope** ([`allow_cross_slot`], or the guard from
//! [`allow`]): they are sent and counted as allowed. Scopes nest and belong to the thread.
//!
//! ```
//! use slotshift::command::Cmd;
//! use slotshift::validator::{self, classify};
//!
//! let cross = [Cmd::from_args(["MGET", "user:1", "user:2"])];
//! let tagged = [Cmd::from_args(["MGET", "{user}:1", "{user}:2"])];
//! let eval = [Cmd::from_args(["EVAL", "return 1", "2", "a", "b"])];
//! assert_eq!(classify(&cross, false).len(), 1);
//! assert!(classify(&tagged, false).is_empty());
//! assert_eq!(classify(&eval, false)[0].command, "EVAL");
//! // A pipeline of single-key commands is fine; the same commands in MULTI/EXEC are not.
//! let gets = [Cmd::from_args(["GET", "a"]), Cmd::from_args(["GET", "b"])];
//! assert!(classify(&gets, false).is_empty());
//! assert_eq!(classify(&gets, true)[0].command, "MULTI/EXEC");
//!
//! assert!(!validator::is_allowed());
//! validator::allow_cross_slot(|| assert!(validator::is_allowed()));
//! ```

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use crate::command::{Cmd, KeyTable};
use crate::slot::{key_slot, Slot};

/// The user guide page, compiled so that its examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/validator.md")]
pub struct UserGuide;

/// The environment variable that sets the global mode at first use (`raise`, `count`, `off`).
pub const ENV_MODE: &str = "SLOTSHIFT_CROSS_SLOT_VALIDATION";

/// What the validator does with a violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mode {
    /// Refuse the command before it is sent (development, tests).
    Raise,
    /// Count and log it, then send it (production).
    Count,
    /// Do nothing.
    Off,
}

impl Mode {
    /// The mode's name: `raise`, `count`, `off`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Raise => "raise",
            Mode::Count => "count",
            Mode::Off => "off",
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            Mode::Off => 1,
            Mode::Count => 2,
            Mode::Raise => 3,
        }
    }

    fn from_u8(v: u8) -> Option<Mode> {
        Some(match v {
            1 => Mode::Off,
            2 => Mode::Count,
            3 => Mode::Raise,
            _ => return None,
        })
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A mode name that is not `raise`, `count` or `off`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cross-slot validation mode '{0}' is not one of raise, count, off")]
pub struct InvalidMode(pub String);

impl FromStr for Mode {
    type Err = InvalidMode;
    fn from_str(s: &str) -> Result<Mode, InvalidMode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "raise" => Ok(Mode::Raise),
            "count" => Ok(Mode::Count),
            "off" | "" => Ok(Mode::Off),
            _ => Err(InvalidMode(s.chars().take(32).collect())),
        }
    }
}

/// A command the validator refused (mode `raise`). Nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{store}: {command} arguments hash to {slots} different slots ({key_count} keys); a Redis Cluster refuses it with CROSSSLOT. Put the keys in one slot with a hash tag such as {{user:1}}, or wrap a known case in validator::allow_cross_slot")]
#[non_exhaustive]
pub struct CrossSlotError {
    /// The store's name.
    pub store: String,
    /// The command (`MGET`), or `MULTI/EXEC` for a transaction.
    pub command: String,
    /// How many slots the keys hash to.
    pub slots: usize,
    /// How many keys.
    pub key_count: usize,
}

/// One violation found by [`classify`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Violation {
    /// The command as the user types it (`MGET`, `OBJECT ENCODING`), or `MULTI/EXEC`.
    pub command: String,
    /// Index of the (first) command in the list given.
    pub index: usize,
    /// The distinct slots of the keys, sorted.
    pub slots: Vec<Slot>,
    /// The keys, in order.
    pub keys: Vec<Vec<u8>>,
}

/// Finds the violations in `cmds`. With `transaction`, the whole list is one MULTI/EXEC;
/// without it, each command is checked on its own, except that a `MULTI` … `EXEC` run inside
/// the list (as `MONITOR` shows them) is checked as one transaction.
///
/// Commands the key table does not know, or whose arguments do not let the keys be found, are
/// not violations (the server will refuse the malformed ones anyway).
pub fn classify(cmds: &[Cmd], transaction: bool) -> Vec<Violation> {
    let table = KeyTable::builtin();
    let mut out = Vec::new();
    if transaction {
        if let Some(v) = pooled(table, cmds, 0) {
            out.push(v);
        }
        return out;
    }
    let mut i = 0;
    while i < cmds.len() {
        let name = cmds[i].name();
        if name.eq_ignore_ascii_case(b"MULTI") {
            let end = cmds[i + 1..]
                .iter()
                .position(|c| {
                    c.name().eq_ignore_ascii_case(b"EXEC")
                        || c.name().eq_ignore_ascii_case(b"DISCARD")
                })
                .map(|p| i + 1 + p);
            let body_end = end.unwrap_or(cmds.len());
            let discarded = end.is_some_and(|e| cmds[e].name().eq_ignore_ascii_case(b"DISCARD"));
            if !discarded {
                if let Some(v) = pooled(table, &cmds[i + 1..body_end], i) {
                    out.push(v);
                }
            }
            i = body_end + 1;
            continue;
        }
        if let Some(v) = single(table, &cmds[i], i) {
            out.push(v);
        }
        i += 1;
    }
    out
}

fn single(table: &KeyTable, cmd: &Cmd, index: usize) -> Option<Violation> {
    let info = table.lookup(cmd).ok()?;
    let keys = crate::command::key_indices_for(info, cmd).ok()?;
    if keys.len() < 2 {
        return None;
    }
    let first = key_slot(cmd.get(keys[0])?);
    if keys
        .iter()
        .filter_map(|&k| cmd.get(k))
        .all(|k| key_slot(k) == first)
    {
        return None;
    }
    let keys: Vec<Vec<u8>> = keys
        .iter()
        .filter_map(|&k| cmd.get(k))
        .map(<[u8]>::to_vec)
        .collect();
    Some(Violation {
        command: info.display_name(),
        index,
        slots: distinct_slots(&keys),
        keys,
    })
}

fn pooled(table: &KeyTable, cmds: &[Cmd], index: usize) -> Option<Violation> {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    for cmd in cmds {
        if let Ok(k) = table.keys(cmd) {
            keys.extend(k.into_iter().map(<[u8]>::to_vec));
        }
    }
    let slots = distinct_slots(&keys);
    (slots.len() > 1).then(|| Violation {
        command: "MULTI/EXEC".to_owned(),
        index,
        slots,
        keys,
    })
}

fn distinct_slots(keys: &[Vec<u8>]) -> Vec<Slot> {
    let mut slots: Vec<Slot> = keys.iter().map(|k| key_slot(k)).collect();
    slots.sort_unstable();
    slots.dedup();
    slots
}

// ---------------------------------------------------------------------------------------------
// Mode

static GLOBAL_MODE: AtomicU8 = AtomicU8::new(0);

/// The mode `SLOTSHIFT_CROSS_SLOT_VALIDATION` asks for: `Ok(None)` when it is unset, an error
/// naming the variable and its value when it is not a mode. Opening a
/// [`Store`](crate::store::Store) checks it, so a typo fails at start-up instead of silently
/// turning validation off.
pub fn env_mode() -> Result<Option<Mode>, crate::config::ConfigError> {
    parse_env_mode(std::env::var_os(ENV_MODE))
}

fn parse_env_mode(
    value: Option<std::ffi::OsString>,
) -> Result<Option<Mode>, crate::config::ConfigError> {
    let Some(value) = value else { return Ok(None) };
    let invalid = |v: &str| crate::config::ConfigError::InvalidEnvironment {
        variable: ENV_MODE,
        value: v.chars().take(64).collect(),
        expected: "raise, count or off",
    };
    let text = value
        .to_str()
        .ok_or_else(|| invalid(&value.to_string_lossy()))?;
    text.parse()
        .map(Some)
        .map_err(|_: InvalidMode| invalid(text))
}

/// The global mode: as set by [`set_mode`], else `SLOTSHIFT_CROSS_SLOT_VALIDATION` (read once;
/// [`env_mode`] reports a bad value — here it is logged and taken as `off`), else `off`.
pub fn mode() -> Mode {
    if let Some(m) = Mode::from_u8(GLOBAL_MODE.load(Ordering::Relaxed)) {
        return m;
    }
    let m = match env_mode() {
        Ok(m) => m.unwrap_or(Mode::Off),
        Err(e) => {
            log::error!("{e}; cross-slot validation is off");
            Mode::Off
        }
    };
    let _ = GLOBAL_MODE.compare_exchange(0, m.to_u8(), Ordering::Relaxed, Ordering::Relaxed);
    Mode::from_u8(GLOBAL_MODE.load(Ordering::Relaxed)).unwrap_or(m)
}

/// Sets the global mode (stores with their own mode keep it).
pub fn set_mode(mode: Mode) {
    GLOBAL_MODE.store(mode.to_u8(), Ordering::Relaxed);
}

// ---------------------------------------------------------------------------------------------
// Allow scope

thread_local! {
    static ALLOW_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// While alive, cross-slot commands on this thread are allowed (sent, counted as allowed).
/// Guards nest; dropping one ends its level, also when unwinding.
#[derive(Debug)]
#[must_use = "the scope ends when the guard is dropped"]
pub struct AllowGuard {
    // Not Send: the scope belongs to the thread that opened it.
    _thread: std::marker::PhantomData<*const ()>,
}

/// Opens an allow scope on this thread until the guard is dropped.
pub fn allow() -> AllowGuard {
    enter_allow();
    AllowGuard {
        _thread: std::marker::PhantomData,
    }
}

impl Drop for AllowGuard {
    fn drop(&mut self) {
        exit_allow();
    }
}

/// Runs `f` inside an allow scope.
pub fn allow_cross_slot<T>(f: impl FnOnce() -> T) -> T {
    let _guard = allow();
    f()
}

/// Opens one level of allow scope on this thread (for bindings that cannot hold a guard);
/// pair every call with [`exit_allow`].
pub fn enter_allow() {
    ALLOW_DEPTH.with(|d| d.set(d.get().saturating_add(1)));
}

/// Closes one level opened by [`enter_allow`] (no effect at depth 0).
pub fn exit_allow() {
    ALLOW_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
}

/// Whether this thread is inside an allow scope.
pub fn is_allowed() -> bool {
    ALLOW_DEPTH.with(Cell::get) > 0
}

// ---------------------------------------------------------------------------------------------
// Counts

/// Cross-slot counts of one store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counts {
    /// Violations outside an allow scope (counted in mode `count`, refused in mode `raise`).
    pub cross_slot: u64,
    /// Violations inside an allow scope.
    pub allowed: u64,
    /// Violations refused (mode `raise`).
    pub refused: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    cross_slot: AtomicU64,
    allowed: AtomicU64,
    refused: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> Counts {
        Counts {
            cross_slot: self.cross_slot.load(Ordering::Relaxed),
            allowed: self.allowed.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

/// Counters by store name. Lock-free (a grow-only list, one entry per name): counting and
/// reading never wait, also in a child forked while another thread was here.
static REGISTRY: crate::lockfree::AppendList<(String, Arc<Counters>)> =
    crate::lockfree::AppendList::new();

pub(crate) fn counters_for(store: &str) -> Arc<Counters> {
    REGISTRY
        .get_or_insert_with(|(n, _)| n == store, || (store.to_owned(), Arc::default()))
        .1
        .clone()
}

/// The counts of the store(s) named `store` (zero for a name never seen).
pub fn counts(store: &str) -> Counts {
    REGISTRY
        .iter()
        .find(|(n, _)| n == store)
        .map(|(_, c)| c.snapshot())
        .unwrap_or_default()
}

/// The counts of every store, by name.
pub fn all_counts() -> BTreeMap<String, Counts> {
    REGISTRY
        .iter()
        .map(|(k, v)| (k.clone(), v.snapshot()))
        .collect()
}

/// How often count mode logs the repeats it did not log one by one.
const REPEATS_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Command names a store logs one by one at most (a client sending made-up names cannot grow
/// the set without bound; past it every violation is a repeat).
const LOGGED_NAMES: usize = 1024;

/// What count mode logs for one store: the first violation of each command name as it
/// happens (what to fix), then the repeats as one line per [`REPEATS_EVERY`] with their
/// counts by command — an application sending thousands of cross-slot MGETs a second gets a
/// line a minute, not thousands. The counters and metrics count every violation.
///
/// The gate is only ever *tried* (`try_lock`): a violation that finds another thread in it
/// is not logged (the counters still count it). Waiting could hang for ever a child forked
/// while a parent thread was inside — that thread does not exist in the child, and its lock
/// stays held there.
#[derive(Debug, Default)]
struct LogGate {
    state: parking_lot::Mutex<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    logged: std::collections::HashSet<String>,
    repeats: BTreeMap<String, u64>,
    since: Option<std::time::Instant>,
}

impl LogGate {
    /// The line to log for violation `v` of `store` seen at `now`, if any (none while
    /// another thread holds the gate).
    fn note(&self, store: &str, v: &Violation, now: std::time::Instant) -> Option<String> {
        let mut st = self.state.try_lock()?;
        if st.logged.len() < LOGGED_NAMES && st.logged.insert(v.command.clone()) {
            return Some(format!(
                "{{\"message\":\"cross-slot command\",\"store\":{},\"command\":{},\"slots\":{},\"keys\":{}}}",
                json_str(store),
                json_str(&v.command),
                v.slots.len(),
                v.keys.len()
            ));
        }
        *st.repeats.entry(v.command.clone()).or_insert(0) += 1;
        let since = *st.since.get_or_insert(now);
        if now.duration_since(since) < REPEATS_EVERY {
            return None;
        }
        let repeats = std::mem::take(&mut st.repeats);
        st.since = None;
        Some(format!(
            "{{\"message\":\"cross-slot commands again\",\"store\":{},\"seconds\":{},\"counts\":{}}}",
            json_str(store),
            now.duration_since(since).as_secs(),
            serde_json::to_string(&repeats).unwrap_or_default()
        ))
    }
}

/// A store's validator: its name, its mode override, its counters and its log gate.
#[derive(Debug)]
pub(crate) struct StoreValidator {
    pub(crate) name: Arc<str>,
    pub(crate) mode: Option<Mode>,
    pub(crate) counters: Arc<Counters>,
    log: LogGate,
}

impl StoreValidator {
    pub(crate) fn new(name: Arc<str>, mode: Option<Mode>) -> StoreValidator {
        StoreValidator {
            counters: counters_for(&name),
            name,
            mode,
            log: LogGate::default(),
        }
    }

    /// Checks `cmds` before they are sent. `Ok(n)` with the number of violations counted
    /// (allowed or not); `Err` in mode `raise` outside an allow scope.
    pub(crate) fn enforce(&self, cmds: &[Cmd], transaction: bool) -> Result<usize, CrossSlotError> {
        let mode = self.mode.unwrap_or_else(mode);
        if mode == Mode::Off {
            return Ok(0);
        }
        // Cheap exit: one command with fewer than two arguments past the name cannot span slots.
        if !transaction && cmds.iter().all(|c| c.len() < 3) {
            return Ok(0);
        }
        let violations = classify(cmds, transaction);
        if violations.is_empty() {
            return Ok(0);
        }
        let allowed = is_allowed();
        for v in &violations {
            crate::request::add_cross_slot(&self.name, allowed);
            if allowed {
                self.counters.allowed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            match mode {
                Mode::Raise => {
                    self.counters.refused.fetch_add(1, Ordering::Relaxed);
                    return Err(CrossSlotError {
                        store: self.name.to_string(),
                        command: v.command.clone(),
                        slots: v.slots.len(),
                        key_count: v.keys.len(),
                    });
                }
                _ => {
                    self.counters.cross_slot.fetch_add(1, Ordering::Relaxed);
                    if let Some(line) = self.log.note(&self.name, v, std::time::Instant::now()) {
                        log::warn!(target: "slotshift::validator", "{line}");
                    }
                }
            }
        }
        Ok(violations.len())
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"?\"".to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_held_gate_is_passed_by_not_waited_for() {
        let gate = super::LogGate::default();
        let mget = &super::classify(&[super::Cmd::from_args(["MGET", "a", "b"])], false)[0];
        // As a parent thread forked away in the middle of `note` leaves it in the child.
        let held = gate.state.lock();
        assert_eq!(gate.note("app", mget, std::time::Instant::now()), None);
        drop(held);
        assert!(gate.note("app", mget, std::time::Instant::now()).is_some());
    }

    #[test]
    fn count_mode_logs_each_command_once_then_a_line_of_repeats_a_minute() {
        use std::time::{Duration, Instant};
        let gate = super::LogGate::default();
        let mget = &super::classify(&[super::Cmd::from_args(["MGET", "a", "b"])], false)[0];
        let del = &super::classify(&[super::Cmd::from_args(["DEL", "a", "b", "c"])], false)[0];
        let t0 = Instant::now();
        let first = gate.note("app", mget, t0).unwrap();
        assert_eq!(
            first,
            r#"{"message":"cross-slot command","store":"app","command":"MGET","slots":2,"keys":2}"#
        );
        for i in 0..1000 {
            assert_eq!(gate.note("app", mget, t0 + Duration::from_millis(i)), None);
        }
        assert!(gate
            .note("app", del, t0)
            .unwrap()
            .contains(r#""command":"DEL""#));
        assert_eq!(gate.note("app", del, t0 + Duration::from_secs(59)), None);
        let repeats = gate
            .note("app", mget, t0 + Duration::from_secs(60))
            .unwrap();
        assert_eq!(
            repeats,
            r#"{"message":"cross-slot commands again","store":"app","seconds":60,"counts":{"DEL":1,"MGET":1001}}"#
        );
        // Counted afresh after the line.
        assert_eq!(gate.note("app", mget, t0 + Duration::from_secs(61)), None);
    }

    #[test]
    fn env_mode_names_the_variable_and_the_value() {
        use std::ffi::OsString;
        assert_eq!(super::parse_env_mode(None).unwrap(), None);
        assert_eq!(
            super::parse_env_mode(Some(OsString::from("Raise"))).unwrap(),
            Some(super::Mode::Raise)
        );
        let e = super::parse_env_mode(Some(OsString::from("rase")))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "environment variable SLOTSHIFT_CROSS_SLOT_VALIDATION=\"rase\" is invalid: expected raise, count or off");
    }

    use super::*;

    #[test]
    fn modes_parse() {
        assert_eq!("RAISE".parse::<Mode>(), Ok(Mode::Raise));
        assert_eq!(" count ".parse::<Mode>(), Ok(Mode::Count));
        assert_eq!("off".parse::<Mode>(), Ok(Mode::Off));
        let e = "loud".parse::<Mode>().unwrap_err().to_string();
        assert!(e.contains("'loud'"), "{e}");
    }

    #[test]
    fn allow_scopes_nest_and_unwind() {
        assert!(!is_allowed());
        {
            let _a = allow();
            {
                let _b = allow();
                assert!(is_allowed());
            }
            assert!(is_allowed());
        }
        assert!(!is_allowed());
        let r = std::panic::catch_unwind(|| allow_cross_slot(|| panic!("inside")));
        assert!(r.is_err());
        assert!(!is_allowed());
        // Another thread has its own depth.
        let _g = allow();
        let other = std::thread::spawn(is_allowed).join().unwrap_or(true);
        assert!(!other);
    }

    #[test]
    fn monitor_style_transactions() {
        let c = |a: &[&str]| Cmd::from_args(a);
        let list = [
            c(&["MULTI"]),
            c(&["SET", "a", "1"]),
            c(&["SET", "b", "2"]),
            c(&["EXEC"]),
            c(&["MULTI"]),
            c(&["SET", "a", "1"]),
            c(&["SET", "b", "2"]),
            c(&["DISCARD"]),
            c(&["GET", "a"]),
        ];
        let v = classify(&list, false);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].command, "MULTI/EXEC");
        assert_eq!(v[0].index, 0);
    }
}
