//! [`Store::scan`]: the keyspace walk as a plain iterator, for callers that want the keys
//! themselves (the bindings' `scan`, tests, tools) rather than the analyzer's or migrate's
//! workers. Same listers as [`walk`](super::walk), pulled one after the other on the calling
//! thread: `SCAN` master by master on a standalone or Sentinel store, slot by slot on a
//! cluster (so a cluster that reshards meanwhile gives each key once).

use std::collections::VecDeque;

use crate::cluster::NodeAddr;
use crate::reply::ServerError;
use crate::store::Store;
use crate::{Error, Result};

use super::drive::{plan, Lister};
use super::list::Ctx;
use super::{Filter, Positions, WalkError};

/// Keys per batch when [`ScanOptions::count`] is not given.
const DEFAULT_COUNT: usize = 100;

/// What to scan for.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ScanOptions {
    /// `MATCH` pattern (Redis glob).
    pub pattern: Option<Vec<u8>>,
    /// `SCAN … COUNT` hint, and keys per batch listed from a cluster slot (default 100).
    pub count: Option<usize>,
    /// `TYPE` filter (`string`, `hash`, …).
    pub key_type: Option<String>,
}

impl ScanOptions {
    /// Keys matching `pattern`.
    pub fn matching(pattern: impl AsRef<[u8]>) -> ScanOptions {
        ScanOptions {
            pattern: Some(pattern.as_ref().to_vec()),
            ..ScanOptions::default()
        }
    }
}

/// A walk error met by [`Scan`], which has no family of its own: reported as the server
/// error it stands for (a reply of the wrong shape, a slot that would not settle).
fn scan_error(e: WalkError) -> Error {
    Error::Server(ServerError::new("ERR", e.to_string()))
}

/// An iterator over batches of keys (see [`Store::scan`]). Each item is one listing's keys
/// (a batch may be empty); an error ends the iteration.
///
/// ```no_run
/// let store = slotshift::store::Store::open("redis://127.0.0.1:7000")?;
/// let mut n = 0;
/// for batch in store.scan(slotshift::keyspace::ScanOptions::matching("user:*"))? {
///     n += batch?.len();
/// }
/// # Ok::<(), slotshift::Error>(())
/// ```
pub struct Scan {
    store: Store,
    filter: Filter,
    batch: usize,
    listers: VecDeque<Lister>,
    failed: bool,
}

impl std::fmt::Debug for Scan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scan")
            .field("node", &self.node())
            .field("listers_left", &self.listers.len())
            .finish_non_exhaustive()
    }
}

impl Scan {
    /// The master being walked now (`None` when done). On a cluster, the master that owned
    /// the slots being walked when the scan began.
    pub fn node(&self) -> Option<&NodeAddr> {
        self.listers.front().map(Lister::node)
    }
}

impl Iterator for Scan {
    type Item = Result<Vec<Vec<u8>>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let ctx = Ctx {
            store: &self.store,
            filter: &self.filter,
            batch: self.batch,
            map: scan_error,
        };
        loop {
            let lister = self.listers.front_mut()?;
            match lister.next_page(ctx) {
                Ok(Some(page)) => return Some(Ok(page.keys)),
                Ok(None) => {
                    self.listers.pop_front();
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

impl Store {
    /// Iterates over every key of the deployment in batches: `SCAN` master by master on a
    /// standalone or Sentinel store; on a cluster, slot by slot with the
    /// [keyspace walk](crate::keyspace)'s rules, so a key is listed once even while slots
    /// move between masters.
    pub fn scan(&self, options: ScanOptions) -> Result<Scan> {
        let filter = Filter {
            pattern: options.pattern,
            key_type: options.key_type,
            slots: None,
            check_type: true,
            skip_prefix: None,
        };
        let (listers, _) = plan(self, &filter, &Positions::default(), scan_error)?;
        Ok(Scan {
            store: self.clone(),
            filter,
            batch: options.count.unwrap_or(DEFAULT_COUNT).max(1),
            listers: listers.into(),
            failed: false,
        })
    }
}
