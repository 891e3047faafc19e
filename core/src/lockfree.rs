//! A grow-only list that threads share without a lock: every change is one compare-and-swap,
//! so no thread ever waits for another. That is what makes the registries safe across
//! `fork()`: a thread of the parent that vanished in the middle of an operation cannot leave
//! anything locked in the child (a `Mutex` held at fork time stays held there forever).
//!
//! Entries are never removed while the list lives; the list frees them when it is dropped.
//! Written here rather than taken from a crate because the property that matters — no
//! operation ever waits on another thread, not even during an allocation another thread
//! started — is the whole point, and it is easy to check in 100 lines.

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

struct Node<T> {
    value: T,
    /// The node pushed before this one (immutable once published).
    next: *mut Node<T>,
}

/// A lock-free, grow-only list. Iteration visits the newest entry first.
pub(crate) struct AppendList<T> {
    head: AtomicPtr<Node<T>>,
}

// SAFETY: nodes are only reached through `&AppendList`; a node's value is handed out as `&T`
// to any thread, and values move into the list from any thread, so `T: Send + Sync` is what
// sharing the list needs (as for `Arc<T>`).
unsafe impl<T: Send + Sync> Send for AppendList<T> {}
// SAFETY: see above.
unsafe impl<T: Send + Sync> Sync for AppendList<T> {}

impl<T> Default for AppendList<T> {
    fn default() -> Self {
        AppendList::new()
    }
}

impl<T> AppendList<T> {
    /// An empty list (usable in a `static`).
    pub(crate) const fn new() -> AppendList<T> {
        AppendList {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Every entry, newest first (entries pushed while iterating may or may not be seen).
    pub(crate) fn iter(&self) -> Iter<'_, T> {
        Iter {
            next: self.head.load(Ordering::Acquire),
            _list: std::marker::PhantomData,
        }
    }

    /// Adds `value` and returns a reference to it.
    pub(crate) fn push(&self, value: T) -> &T {
        let node = Box::into_raw(Box::new(Node {
            value,
            next: ptr::null_mut(),
        }));
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            // SAFETY: `node` is ours until the CAS below publishes it.
            unsafe { (*node).next = head };
            match self
                .head
                .compare_exchange_weak(head, node, Ordering::AcqRel, Ordering::Acquire)
            {
                // SAFETY: published nodes live as long as the list.
                Ok(_) => return unsafe { &(*node).value },
                Err(now) => head = now,
            }
        }
    }

    /// The first entry for which `is` holds, or a new one made by `make` (made at most once;
    /// when another thread adds a matching entry meanwhile, that one is returned and ours is
    /// dropped).
    pub(crate) fn get_or_insert_with(
        &self,
        is: impl Fn(&T) -> bool,
        make: impl FnOnce() -> T,
    ) -> &T {
        let mut seen = self.head.load(Ordering::Acquire);
        if let Some(found) = find_from(seen, ptr::null_mut(), &is) {
            return found;
        }
        let node = Box::into_raw(Box::new(Node {
            value: make(),
            next: ptr::null_mut(),
        }));
        loop {
            // SAFETY: `node` is ours until the CAS publishes it.
            unsafe { (*node).next = seen };
            match self
                .head
                .compare_exchange_weak(seen, node, Ordering::AcqRel, Ordering::Acquire)
            {
                // SAFETY: published nodes live as long as the list.
                Ok(_) => return unsafe { &(*node).value },
                Err(now) => {
                    // Only the entries pushed since `seen` are new.
                    if let Some(found) = find_from(now, seen, &is) {
                        // SAFETY: `node` was never published; we still own it.
                        drop(unsafe { Box::from_raw(node) });
                        return found;
                    }
                    seen = now;
                }
            }
        }
    }
}

/// Searches from `from` up to (not including) `until`.
fn find_from<'a, T>(
    mut from: *mut Node<T>,
    until: *mut Node<T>,
    is: &impl Fn(&T) -> bool,
) -> Option<&'a T> {
    while !from.is_null() && from != until {
        // SAFETY: a published node lives as long as its list, which the caller borrows.
        let node = unsafe { &*from };
        if is(&node.value) {
            return Some(&node.value);
        }
        from = node.next;
    }
    None
}

impl<T> Drop for AppendList<T> {
    fn drop(&mut self) {
        let mut next = *self.head.get_mut();
        while !next.is_null() {
            // SAFETY: `&mut self`: nobody else can reach the nodes; each is freed once.
            let node = unsafe { Box::from_raw(next) };
            next = node.next;
        }
    }
}

/// Iterator over an [`AppendList`], newest first.
pub(crate) struct Iter<'a, T> {
    next: *mut Node<T>,
    _list: std::marker::PhantomData<&'a AppendList<T>>,
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = &'a T;
    fn next(&mut self) -> Option<&'a T> {
        if self.next.is_null() {
            return None;
        }
        // SAFETY: published nodes live as long as the list borrowed for `'a`.
        let node = unsafe { &*self.next };
        self.next = node.next;
        Some(&node.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn pushes_and_finds_from_many_threads() {
        let list: AppendList<(usize, AtomicUsize)> = AppendList::new();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for i in 0..200 {
                        let e = list.get_or_insert_with(
                            |e| e.0 == i % 50,
                            || (i % 50, AtomicUsize::new(0)),
                        );
                        e.1.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(list.iter().count(), 50);
        let total: usize = list.iter().map(|e| e.1.load(Ordering::Relaxed)).sum();
        assert_eq!(total, 8 * 200);
        list.push((99, AtomicUsize::new(0)));
        assert_eq!(list.iter().next().map(|e| e.0), Some(99));
    }
}
