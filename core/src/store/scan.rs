//! SCAN over every master of a deployment.

use crate::cluster::NodeAddr;
use crate::command::Cmd;
use crate::reply::{Reply, ServerError};
use crate::store::Store;
use crate::{Error, Result};

/// What to scan for.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ScanOptions {
    /// `MATCH` pattern.
    pub pattern: Option<Vec<u8>>,
    /// `COUNT` hint per call.
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

/// An iterator over batches of keys, master after master. Each item is one SCAN reply's keys
/// (a batch may be empty); an error ends the iteration.
///
/// ```no_run
/// let store = slotshift::store::Store::open("redis://127.0.0.1:7000")?;
/// let mut n = 0;
/// for batch in store.scan(slotshift::store::ScanOptions::matching("user:*"))? {
///     n += batch?.len();
/// }
/// # Ok::<(), slotshift::Error>(())
/// ```
#[derive(Debug)]
pub struct Scan {
    store: Store,
    masters: Vec<NodeAddr>,
    current: usize,
    cursor: Vec<u8>,
    options: ScanOptions,
    failed: bool,
}

impl Scan {
    pub(crate) fn new(store: Store, masters: Vec<NodeAddr>, options: ScanOptions) -> Scan {
        Scan {
            store,
            masters,
            current: 0,
            cursor: b"0".to_vec(),
            options,
            failed: false,
        }
    }

    /// The master being scanned now (`None` when done).
    pub fn node(&self) -> Option<&NodeAddr> {
        self.masters.get(self.current)
    }

    fn step(&mut self, node: NodeAddr) -> Result<Vec<Vec<u8>>> {
        let mut cmd = Cmd::new("SCAN");
        cmd.arg(&self.cursor);
        if let Some(p) = &self.options.pattern {
            cmd.arg("MATCH").arg(p);
        }
        if let Some(c) = self.options.count {
            cmd.arg("COUNT").arg(c.to_string());
        }
        if let Some(t) = &self.options.key_type {
            cmd.arg("TYPE").arg(t);
        }
        let reply = self.store.call_on(&node, &cmd)?;
        let bad = || {
            Error::Server(ServerError::new(
                "ERR",
                format!("{node}: unexpected SCAN reply"),
            ))
        };
        let Reply::Array(mut parts) = reply else {
            return Err(bad());
        };
        if parts.len() != 2 {
            return Err(bad());
        }
        let keys = parts.pop().ok_or_else(bad)?;
        let cursor = parts.pop().ok_or_else(bad)?;
        let cursor = match cursor {
            Reply::Bulk(b) => b,
            Reply::Status(s) => s.into_bytes(),
            _ => return Err(bad()),
        };
        let keys = match keys {
            Reply::Array(items) | Reply::Set(items) => items
                .into_iter()
                .filter_map(|k| match k {
                    Reply::Bulk(b) => Some(b),
                    _ => None,
                })
                .collect(),
            _ => return Err(bad()),
        };
        if cursor == b"0" {
            self.current += 1;
        }
        self.cursor = cursor;
        Ok(keys)
    }
}

impl Iterator for Scan {
    type Item = Result<Vec<Vec<u8>>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let node = self.masters.get(self.current)?.clone();
        match self.step(node) {
            Ok(keys) => Some(Ok(keys)),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
