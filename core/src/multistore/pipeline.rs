//! Pipelines and transactions: on both stores (concurrently) while dual-write is on and a
//! command writes, compared command by command; read-only ones on the default store only.

use std::future::Future;

use super::flags::Side;
use super::metrics::{command_label, digest, error_kind, Counter};
use super::read::{reply_digest, results_match};
use super::route::{self, Class};
use super::Inner;
use crate::command::{Cmd, CommandInfo};
use crate::reply::Reply;
use crate::Result;

/// Whether a batch result shows the store could not be reached (the whole batch failed, or a
/// command in it failed on the connection rather than with an error reply).
pub(super) trait Reached {
    fn unreachable(&self) -> Option<&crate::Error>;
}

fn connection_error(e: &crate::Error) -> bool {
    use crate::cluster::RoutingError;
    match e {
        crate::Error::Routing(RoutingError::CrossSlotTransaction { .. }) => false,
        crate::Error::Connection(_) | crate::Error::Routing(_) => true,
        _ => false,
    }
}

impl Reached for Vec<Result<Reply>> {
    fn unreachable(&self) -> Option<&crate::Error> {
        self.iter()
            .find_map(|r| r.as_ref().err().filter(|e| connection_error(e)))
    }
}

impl Reached for Option<Vec<Reply>> {
    fn unreachable(&self) -> Option<&crate::Error> {
        None
    }
}

/// The classes of a batch; strict mode refuses an unknown command before anything is sent.
struct Batch {
    infos: Vec<Option<&'static CommandInfo>>,
    writes: bool,
}

impl Inner {
    fn batch(&self, cmds: &[Cmd]) -> Result<Batch> {
        let mut infos = Vec::with_capacity(cmds.len());
        let mut writes = false;
        for cmd in cmds {
            let (class, info) = route::classify(cmd);
            match class {
                Class::Unknown => {
                    self.unknown(cmd)?;
                    // Unknown: it may write, so the batch runs on both stores while dual.
                    writes = true;
                }
                Class::Write | Class::BlockingPop => writes = true,
                Class::Read | Class::Other => {}
            }
            infos.push(info);
        }
        Ok(Batch { infos, writes })
    }

    /// The default side, and whether the batch also runs on the other store.
    async fn batch_sides(&self, batch: &Batch) -> (Side, bool) {
        let phase = self.phase().await;
        (phase.default_side(), phase.dual_write() && batch.writes)
    }

    pub(super) async fn pipeline(&self, cmds: &[Cmd]) -> Result<Vec<Result<Reply>>> {
        let batch = self.batch(cmds)?;
        let (default, both) = self.batch_sides(&batch).await;
        if !both {
            return self.store(default).pipeline_async(cmds).await;
        }
        let run = |side: Side| self.store(side).pipeline_async(cmds);
        let (mine, theirs) = self.both(default, run, "pipelined").await?;
        if let Some(theirs) = theirs {
            self.compare(cmds, &batch, "pipelined", &mine, &theirs);
        }
        Ok(mine)
    }

    pub(super) async fn transaction(&self, cmds: &[Cmd]) -> Result<Option<Vec<Reply>>> {
        let batch = self.batch(cmds)?;
        let (default, both) = self.batch_sides(&batch).await;
        if !both {
            return self.store(default).transaction_async(cmds).await;
        }
        // Refused on the default store: refused before the other store gets anything.
        self.check_default_transaction(default, cmds)?;
        let run = |side: Side| self.transaction_on(side, default, cmds);
        let (mine, theirs) = self.both(default, run, "multi").await?;
        match (&mine, &theirs) {
            (Some(m), Some(Some(t))) => {
                let m: Vec<Result<Reply>> = m.iter().cloned().map(Ok).collect();
                let t: Vec<Result<Reply>> = t.iter().cloned().map(Ok).collect();
                self.compare(cmds, &batch, "multi", &m, &t);
            }
            (None, Some(Some(_))) | (Some(_), Some(None)) => {
                self.diff_found(cmds, "multi", &[], "one store aborted the transaction");
            }
            _ => {}
        }
        Ok(mine)
    }

    /// Runs `run` on the default store and the other one: concurrently, or the default first
    /// when its last call failed, or the default alone when the other's breaker is open. The
    /// default's error is the caller's; the other's is counted. `(default, other)`, `other`
    /// being `None` when it failed or was skipped.
    async fn both<'a, T, F, Fut>(
        &'a self,
        default: Side,
        run: F,
        label: &str,
    ) -> Result<(T, Option<T>)>
    where
        T: Reached,
        F: Fn(Side) -> Fut,
        Fut: Future<Output = Result<T>> + 'a,
    {
        let other = default.other();
        if self.breaker_open(other) {
            let mine = self.batch_on(default, run(default).await)?;
            self.non_default_failure(label, label.as_bytes(), "circuit_open", "-");
            return Ok((mine, None));
        }
        let (mine, theirs) = if self.suspect(default) {
            // The default store failed last time: run there first, and on the other store
            // only if it answered, so nothing lands only on the non-default store.
            let mine = self.batch_on(default, run(default).await)?;
            if mine.unreachable().is_some() {
                return Ok((mine, None));
            }
            (mine, self.bounded(run(other)).await)
        } else {
            let (mine, theirs) = tokio::join!(run(default), self.bounded(run(other)));
            if let (Err(e), Ok(t)) = (&mine, &theirs) {
                if t.unreachable().is_none() {
                    self.default_failure(label, label.as_bytes(), e, "-");
                }
            }
            (self.batch_on(default, mine)?, theirs)
        };
        // One health record per batch, from what the batch shows.
        let theirs = match theirs {
            Ok(t) => match t.unreachable() {
                None => {
                    self.record::<()>(other, &Ok(()));
                    Some(t)
                }
                Some(e) => {
                    let kind = error_kind(e);
                    self.record::<()>(other, &Err(clone_kind(e)));
                    self.non_default_failure(label, label.as_bytes(), &kind, "-");
                    None
                }
            },
            Err(e) => {
                if connection_error(&e) {
                    self.record::<()>(other, &Err(clone_kind(&e)));
                }
                self.non_default_failure(label, label.as_bytes(), &error_kind(&e), "-");
                None
            }
        };
        Ok((mine, theirs))
    }

    /// Records the default store's health from a batch result; its error is the caller's.
    fn batch_on<T: Reached>(&self, side: Side, r: Result<T>) -> Result<T> {
        match &r {
            Ok(t) => match t.unreachable() {
                Some(e) => self.record::<()>(side, &Err(clone_kind(e))),
                None => self.record(side, &r),
            },
            Err(_) => self.record(side, &r),
        }
        r
    }

    /// Compares per command; one diff counted per batch, logged with the positions, command
    /// names, key digests and value digests of the commands that differ.
    fn compare(
        &self,
        cmds: &[Cmd],
        batch: &Batch,
        label: &str,
        mine: &[Result<Reply>],
        theirs: &[Result<Reply>],
    ) {
        let mut differing = Vec::new();
        for i in 0..cmds.len() {
            let (Some(a), Some(b)) = (mine.get(i), theirs.get(i)) else {
                differing.push(i);
                continue;
            };
            if !results_match(batch.infos.get(i).copied().flatten(), a, b) {
                differing.push(i);
            }
        }
        if mine.len() != theirs.len() && differing.is_empty() {
            differing.push(mine.len().min(theirs.len()));
        }
        if differing.is_empty() {
            return;
        }
        let details: Vec<String> = differing
            .iter()
            .take(10)
            .map(|&i| {
                let cmd = cmds.get(i);
                let keys = cmd
                    .and_then(|c| crate::command::keys(c).ok())
                    .map(|k| k.iter().map(|k| digest(k)).collect::<Vec<_>>().join(","))
                    .unwrap_or_else(|| "-".into());
                format!(
                    "#{i} {} keys=[{keys}] default={} other={}",
                    cmd.map(|c| command_label(c.name())).unwrap_or_default(),
                    mine.get(i)
                        .map(result_digest)
                        .unwrap_or_else(|| "missing".into()),
                    theirs
                        .get(i)
                        .map(result_digest)
                        .unwrap_or_else(|| "missing".into()),
                )
            })
            .collect();
        self.diff_found(cmds, label, &differing, &details.join("; "));
    }

    fn diff_found(&self, cmds: &[Cmd], label: &str, differing: &[usize], details: &str) {
        self.metrics.incr(Counter::PipelineDiff, label.as_bytes());
        log::warn!(
            "multistore name={} command={label} commands={} differing={}: results differ between \
             the stores (default's returned): {details}",
            self.name,
            cmds.len(),
            differing.len(),
        );
    }
}

fn result_digest(r: &Result<Reply>) -> String {
    match r {
        Ok(reply) => reply_digest(reply),
        Err(e) => error_kind(e),
    }
}

/// A connection-class error standing for `e` (for health bookkeeping only).
fn clone_kind(e: &crate::Error) -> crate::Error {
    match e {
        crate::Error::Connection(c) => crate::Error::Connection(c.clone()),
        _ => crate::Error::Connection(crate::store::ConnectionError {
            node: String::new(),
            kind: crate::store::ConnectionErrorKind::Io,
            message: String::new(),
            outcome_unknown: true,
        }),
    }
}
