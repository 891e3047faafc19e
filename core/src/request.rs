//! Per-request figures: what one web request or one background job made the stores do, as
//! GitLab's per-request Redis accumulators give it to Lograge and Sidekiq's job logs.
//!
//! A [`RequestScope`] counts the calls its thread makes while it lives: per store name, the
//! commands, their duration, bytes written and read, and cross-slot commands (counted by the
//! [validator](crate::validator), allowed or not). Scopes nest: an outer scope counts what its
//! inner scopes count. The figures come out as the same structured log fields the process-wide
//! [`instrument::log_fields`](crate::instrument::log_fields) gives, for this request only —
//! `redis_calls`, `redis_duration_s`, `redis_read_bytes`, `redis_write_bytes`,
//! `redis_cross_slot_calls`, `redis_allowed_cross_slot_calls`, and the same per store as
//! `redis_<name>_…`; zero fields are left out.
//!
//! Counting needs the store's instrumentation on (the default). The calls of the blocking API
//! count on the thread that makes them; async callers' calls count on the thread that finishes
//! them.
//!
//! ```
//! let scope = slotshift::request::RequestScope::begin();
//! // … the request's work through any store …
//! let fields = scope.log_fields(); // {"redis_calls": …, "redis_cache_calls": …, …}
//! assert!(fields.is_empty()); // nothing was called here
//! ```

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde_json::{Map, Value};

/// One store's figures for log fields.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Totals {
    pub(crate) calls: u64,
    pub(crate) duration_s: f64,
    pub(crate) read_bytes: u64,
    pub(crate) write_bytes: u64,
    pub(crate) cross_slot: u64,
    pub(crate) allowed: u64,
}

impl Totals {
    fn add(&mut self, other: &Totals) {
        self.calls += other.calls;
        self.duration_s += other.duration_s;
        self.read_bytes += other.read_bytes;
        self.write_bytes += other.write_bytes;
        self.cross_slot += other.cross_slot;
        self.allowed += other.allowed;
    }
}

/// The structured log fields of per-store figures: the totals as `redis_…`, each store as
/// `redis_<name>_…` (the name lower-cased, other characters as `_`); zeros left out,
/// durations rounded to microseconds.
pub(crate) fn log_fields<'a>(
    stores: impl IntoIterator<Item = (&'a str, Totals)>,
) -> Map<String, Value> {
    let mut sum = Totals::default();
    let mut per = Vec::new();
    for (name, t) in stores {
        sum.add(&t);
        per.push((field_name(name), t));
    }
    let mut out = Map::new();
    let mut put = |prefix: &str, t: &Totals| {
        let mut int = |k: &str, v: u64| {
            if v > 0 {
                out.insert(format!("{prefix}_{k}"), Value::from(v));
            }
        };
        int("calls", t.calls);
        int("read_bytes", t.read_bytes);
        int("write_bytes", t.write_bytes);
        int("cross_slot_calls", t.cross_slot);
        int("allowed_cross_slot_calls", t.allowed);
        let d = (t.duration_s * 1e6).round() / 1e6;
        if d > 0.0 {
            out.insert(format!("{prefix}_duration_s"), Value::from(d));
        }
    };
    put("redis", &sum);
    for (name, t) in &per {
        put(&format!("redis_{name}"), t);
    }
    out
}

fn field_name(store: &str) -> String {
    store
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

thread_local! {
    /// How many scopes are open on this thread (the fast path reads only this).
    static OPEN: Cell<usize> = const { Cell::new(0) };
    /// One accumulator per open scope, outermost first.
    static SCOPES: RefCell<Vec<BTreeMap<String, Totals>>> = const { RefCell::new(Vec::new()) };
}

/// Adds `t` to `store`'s figures in every scope open on this thread.
fn add(store: &str, t: Totals) {
    if OPEN.with(Cell::get) == 0 {
        return;
    }
    SCOPES.with(|scopes| {
        for scope in scopes.borrow_mut().iter_mut() {
            match scope.get_mut(store) {
                Some(total) => total.add(&t),
                None => {
                    scope.insert(store.to_owned(), t);
                }
            }
        }
    });
}

/// Counts `calls` commands of `store` that took `duration_s` in all.
pub(crate) fn add_calls(
    store: &str,
    calls: u64,
    write_bytes: u64,
    read_bytes: u64,
    duration_s: f64,
) {
    add(
        store,
        Totals {
            calls,
            duration_s,
            read_bytes,
            write_bytes,
            ..Totals::default()
        },
    );
}

/// Counts one cross-slot command of `store`, inside an allow scope or not.
pub(crate) fn add_cross_slot(store: &str, allowed: bool) {
    let mut t = Totals::default();
    if allowed {
        t.allowed = 1;
    } else {
        t.cross_slot = 1;
    }
    add(store, t);
}

/// Counts this thread's calls while it lives (see the [module](self)). Not `Send`: it belongs
/// to the thread that began it. Scopes must end in the reverse order they began (as guards
/// do).
#[derive(Debug)]
pub struct RequestScope {
    /// Its place among this thread's open scopes.
    depth: usize,
    _thread_bound: PhantomData<*const ()>,
}

impl RequestScope {
    /// Starts counting this thread's calls.
    pub fn begin() -> RequestScope {
        let depth = SCOPES.with(|scopes| {
            let mut scopes = scopes.borrow_mut();
            scopes.push(BTreeMap::new());
            scopes.len() - 1
        });
        OPEN.with(|open| open.set(depth + 1));
        RequestScope {
            depth,
            _thread_bound: PhantomData,
        }
    }

    /// The log fields of what this scope counted so far.
    pub fn log_fields(&self) -> Map<String, Value> {
        SCOPES.with(|scopes| {
            let scopes = scopes.borrow();
            match scopes.get(self.depth) {
                Some(scope) => log_fields(scope.iter().map(|(k, v)| (k.as_str(), *v))),
                None => Map::new(),
            }
        })
    }
}

/// The log fields of the innermost scope open on this thread so far, or `None` when no scope
/// is open: for code that reads them from inside a request without holding its scope (a log
/// formatter, Lograge's payload, a binding's block form).
pub fn current_log_fields() -> Option<Map<String, Value>> {
    SCOPES.with(|scopes| {
        scopes
            .borrow()
            .last()
            .map(|scope| log_fields(scope.iter().map(|(k, v)| (k.as_str(), *v))))
    })
}

impl Drop for RequestScope {
    fn drop(&mut self) {
        SCOPES.with(|scopes| {
            let mut scopes = scopes.borrow_mut();
            // Ends this scope and any inner one left open.
            scopes.truncate(self.depth);
            OPEN.with(|open| open.set(scopes.len()));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_fields_are_the_innermost_scopes() {
        assert_eq!(current_log_fields(), None);
        let outer = RequestScope::begin();
        add_calls("cache", 2, 10, 4, 0.5);
        {
            let _inner = RequestScope::begin();
            assert_eq!(current_log_fields(), Some(Map::new()));
            add_calls("cache", 1, 1, 1, 0.25);
            assert_eq!(current_log_fields().unwrap()["redis_calls"], 1);
        }
        assert_eq!(current_log_fields().unwrap()["redis_calls"], 3);
        drop(outer);
        assert_eq!(current_log_fields(), None);
    }

    #[test]
    fn scopes_nest_and_count_only_their_thread() {
        let outer = RequestScope::begin();
        add_calls("cache", 2, 10, 4, 0.5);
        {
            let inner = RequestScope::begin();
            add_calls("Shared State", 1, 3, 0, 0.25);
            add_cross_slot("cache", false);
            let f = inner.log_fields();
            assert_eq!(f["redis_calls"], 1);
            assert_eq!(f["redis_shared_state_calls"], 1);
            assert_eq!(f["redis_cross_slot_calls"], 1);
            assert!(
                !f.contains_key("redis_read_bytes"),
                "zeros are left out: {f:?}"
            );
        }
        std::thread::spawn(|| add_calls("cache", 100, 0, 0, 1.0))
            .join()
            .unwrap();
        let f = outer.log_fields();
        assert_eq!(f["redis_calls"], 3);
        assert_eq!(f["redis_cache_calls"], 2);
        assert_eq!(f["redis_write_bytes"], 13);
        assert_eq!(f["redis_duration_s"], 0.75);
        assert_eq!(f["redis_cache_cross_slot_calls"], 1);
        drop(outer);
        // No scope: nothing is kept.
        add_calls("cache", 1, 1, 1, 1.0);
        assert_eq!(OPEN.with(Cell::get), 0);
        assert!(SCOPES.with(|s| s.borrow().is_empty()));
    }
}
