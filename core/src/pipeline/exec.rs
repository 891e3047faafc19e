//! Runs a plan on a cluster through the one router: batch *k* of every node in one
//! `send_grouped` call (all nodes at once), then batch *k+1*.

use std::sync::Arc;

use crate::cluster::router::{Route, Router, Unit};
use crate::cluster::{NodeAddr, RoutingError};
use crate::command::{Cmd, KeyTable};
use crate::reply::Reply;
use crate::store::StoreOptions;
use crate::Error;

use super::{merge, plan, PipelineError, Plan};

/// What a run observed, for instrumentation.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RunInfo {
    /// Batches sent (one per node per round).
    pub(crate) batches: usize,
    /// The largest batch sent.
    pub(crate) max_batch: usize,
}

/// Plans, sends and merges `cmds` on the cluster behind `router`.
pub(crate) async fn run(
    router: &Arc<Router>,
    opts: &StoreOptions,
    cmds: &[Cmd],
    limit: usize,
    observe: Option<&dyn Fn(usize)>,
) -> (Vec<Result<Reply, Error>>, RunInfo) {
    let topology = router.topology();
    let plan: Plan<NodeAddr> = plan(cmds, |slot| topology.master_of(slot).cloned(), limit);
    drop(topology);
    let table = KeyTable::builtin();
    let mut info = RunInfo::default();
    let mut results: Vec<Option<Result<Reply, Error>>> =
        (0..plan.parts.len()).map(|_| None).collect();
    // Nodes that failed below the protocol: their later batches are not sent.
    let mut failed: Vec<(Option<NodeAddr>, String)> = Vec::new();
    for round in 0..plan.rounds() {
        let mut idxs: Vec<usize> = Vec::new();
        for group in &plan.groups {
            let Some(batch) = group.batches.get(round) else {
                continue;
            };
            if let Some((_, cause)) = failed.iter().find(|(n, _)| *n == group.node) {
                let node = group
                    .node
                    .as_ref()
                    .map_or_else(|| "any master".to_owned(), |n| n.to_string());
                for &p in batch {
                    results[p] = Some(Err(Error::Pipeline(PipelineError::NodeFailed {
                        node: node.clone(),
                        cause: cause.clone(),
                    })));
                }
                continue;
            }
            info.batches += 1;
            info.max_batch = info.max_batch.max(batch.len());
            if let Some(observe) = observe {
                observe(batch.len());
            }
            idxs.extend_from_slice(batch);
        }
        if idxs.is_empty() {
            continue;
        }
        let units: Vec<Unit<'_>> = idxs
            .iter()
            .map(|&p| {
                let part = &plan.parts[p];
                let cmd = part.cmd(cmds);
                let readonly = table
                    .lookup(cmd)
                    .map(|i| i.flags().is_readonly())
                    .unwrap_or(false);
                let route = match part.slot {
                    Some(slot) => Route::Slot {
                        slot,
                        replica: readonly && opts.read_from_replicas,
                    },
                    None => Route::AnyMaster,
                };
                Unit::single(cmd, route, readonly || opts.idempotent_writes)
            })
            .collect();
        let out = router.send_grouped(&units).await;
        drop(units);
        for (&p, r) in idxs.iter().zip(out) {
            if let Err(
                e @ (Error::Connection(_)
                | Error::Routing(
                    RoutingError::DeadlineExceeded { .. } | RoutingError::NoTopology { .. },
                )),
            ) = &r
            {
                let node = &plan.parts[p].node;
                if !failed.iter().any(|(n, _)| n == node) {
                    failed.push((node.clone(), e.to_string()));
                }
            }
            results[p] = Some(r);
        }
    }
    let results = results
        .into_iter()
        .map(|r| r.unwrap_or(Ok(Reply::Nil)))
        .collect();
    (merge(plan, cmds, results), info)
}
