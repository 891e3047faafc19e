//! The command recorder: captures every command issued on a thread while it is active —
//! single calls, every command of a pipeline and of a transaction — to catch N+1 patterns in
//! tests.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::command::{Cmd, KeyTable};
use crate::lockfree::AppendList;

/// How a recorded command was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Via {
    /// `Store::call`.
    Call,
    /// Inside `Store::pipeline`.
    Pipeline,
    /// Inside `Store::transaction`.
    Transaction,
}

/// One recorded command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recorded {
    /// The store's name.
    pub store: String,
    /// The command as the caller gave it, the name first.
    pub args: Vec<Vec<u8>>,
    /// How it was sent.
    pub via: Via,
}

impl Recorded {
    /// The command name, upper-cased.
    pub fn name(&self) -> String {
        self.args
            .first()
            .map(|n| String::from_utf8_lossy(n).to_ascii_uppercase())
            .unwrap_or_default()
    }

    fn keys_match(&self, pattern: &[u8]) -> bool {
        let cmd = Cmd::from_args(&self.args);
        KeyTable::builtin()
            .keys(&cmd)
            .map(|keys| keys.iter().any(|k| crate::glob::matches(pattern, k)))
            .unwrap_or(false)
    }
}

/// A recorder's state. The log is a lock-free list (entries numbered in capture order), so a
/// `fork()` while another thread reads or appends to it leaves nothing locked in the child.
struct Inner {
    log: AppendList<(u64, Recorded)>,
    /// The number the next captured command gets.
    next: AtomicU64,
    /// Entries numbered below this were cleared.
    cleared_below: AtomicU64,
    pattern: Option<Vec<u8>>,
    active: AtomicBool,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// The entries not cleared, in capture order.
    fn entries(&self) -> Vec<&Recorded> {
        let from = self.cleared_below.load(Ordering::Acquire);
        let mut v: Vec<&(u64, Recorded)> = self.log.iter().filter(|(n, _)| *n >= from).collect();
        v.sort_by_key(|(n, _)| *n);
        v.into_iter().map(|(_, r)| r).collect()
    }

    fn push(&self, rec: Recorded) {
        let n = self.next.fetch_add(1, Ordering::AcqRel);
        self.log.push((n, rec));
    }
}

/// Active recorders, all threads: lets the store skip the thread-local look-up when none is.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static STACK: RefCell<Vec<Arc<Inner>>> = const { RefCell::new(Vec::new()) };
}

/// Captures the commands issued on the thread that started it, until [`stop`](Self::stop) or
/// drop. Recorders nest: each active one sees every command.
///
/// ```no_run
/// use slotshift::command::Cmd;
/// use slotshift::instrument::Recorder;
/// # let store = slotshift::store::Store::open("redis://127.0.0.1:6379")?;
/// let recorder = Recorder::start();
/// store.pipeline(&[Cmd::from_args(["GET", "a"]), Cmd::from_args(["GET", "b"])])?;
/// store.call(&Cmd::from_args(["SET", "a", "1"]))?;
/// recorder.stop();
/// assert_eq!(recorder.count(), 3);
/// assert_eq!(recorder.by_command("get").len(), 2);
/// # Ok::<(), slotshift::Error>(())
/// ```
#[derive(Debug)]
pub struct Recorder {
    inner: Arc<Inner>,
}

impl Recorder {
    /// Starts recording every command on this thread.
    pub fn start() -> Recorder {
        Recorder::start_inner(None)
    }

    /// Starts recording the commands on this thread that have a key matching `pattern` (Redis
    /// glob: `*`, `?`, `[a-z]`, `\` escapes; `{` and `}` are ordinary characters).
    pub fn start_with_pattern(pattern: impl AsRef<[u8]>) -> Recorder {
        Recorder::start_inner(Some(pattern.as_ref().to_vec()))
    }

    fn start_inner(pattern: Option<Vec<u8>>) -> Recorder {
        let inner = Arc::new(Inner {
            log: AppendList::new(),
            next: AtomicU64::new(0),
            cleared_below: AtomicU64::new(0),
            pattern,
            active: AtomicBool::new(true),
        });
        STACK.with(|s| s.borrow_mut().push(inner.clone()));
        ACTIVE.fetch_add(1, Ordering::AcqRel);
        Recorder { inner }
    }

    /// Records what `f` sends, and returns the stopped recorder with `f`'s value.
    pub fn record<T>(f: impl FnOnce() -> T) -> (Recorder, T) {
        let r = Recorder::start();
        let out = f();
        r.stop();
        (r, out)
    }

    /// Stops recording (what was recorded stays). Idempotent.
    pub fn stop(&self) {
        if self.inner.active.swap(false, Ordering::AcqRel) {
            ACTIVE.fetch_sub(1, Ordering::AcqRel);
            let me = &self.inner;
            // Stopped from another thread, the entry stays on its thread's stack, inactive,
            // until that thread records again.
            STACK.with(|s| s.borrow_mut().retain(|r| !Arc::ptr_eq(r, me)));
        }
    }

    /// Whether it is still recording.
    pub fn is_active(&self) -> bool {
        self.inner.active.load(Ordering::Acquire)
    }

    /// Every recorded command, in order.
    pub fn log(&self) -> Vec<Recorded> {
        self.inner.entries().into_iter().cloned().collect()
    }

    /// Number of recorded commands (counted now, not memoised).
    pub fn count(&self) -> usize {
        self.inner.entries().len()
    }

    /// The recorded commands named `name` (the command name only, ASCII case-insensitive).
    pub fn by_command(&self, name: &str) -> Vec<Recorded> {
        self.inner
            .entries()
            .into_iter()
            .filter(|r| {
                r.args
                    .first()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
            })
            .cloned()
            .collect()
    }

    /// The recorded commands with a key matching the Redis glob `pattern`.
    pub fn by_key(&self, pattern: impl AsRef<[u8]>) -> Vec<Recorded> {
        let pattern = pattern.as_ref();
        self.inner
            .entries()
            .into_iter()
            .filter(|r| r.keys_match(pattern))
            .cloned()
            .collect()
    }

    /// Forgets what was recorded so far (the memory is given back when the recorder goes).
    pub fn clear(&self) {
        let n = self.inner.next.load(Ordering::Acquire);
        self.inner.cleared_below.fetch_max(n, Ordering::AcqRel);
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether any recorder is active anywhere (one atomic load).
#[inline]
pub(crate) fn any_active() -> bool {
    ACTIVE.load(Ordering::Relaxed) > 0
}

/// Hands `cmds` to the recorders active on this thread.
pub(crate) fn capture(store: &str, cmds: &[Cmd], via: Via) {
    STACK.with(|s| {
        let mut stack = s.borrow_mut();
        stack.retain(|r| r.active.load(Ordering::Acquire));
        for r in stack.iter() {
            for c in cmds {
                let rec = Recorded {
                    store: store.to_owned(),
                    args: c.args().map(<[u8]>::to_vec).collect(),
                    via,
                };
                if r.pattern.as_ref().is_none_or(|p| rec.keys_match(p)) {
                    r.push(rec);
                }
            }
        }
    });
}
