//! Runs a plan on a cluster through the one router.
//!
//! Each node's batches go out one after the other (batch *k+1* once batch *k* has answered, so
//! a node never holds more than `limit` of our commands); the nodes run at the same time,
//! independently — a slow node does not hold the others back. Every batch goes through the
//! router's `send_grouped`, which follows MOVED/ASK/TRYAGAIN for the entries that need it and
//! re-sends nothing else.

use std::sync::Arc;

use futures_util::future::join_all;

use crate::cluster::router::Router;
use crate::cluster::{NodeAddr, RoutingError};
use crate::command::Cmd;
use crate::net::{NetOptions, Route, Unit};
use crate::reply::Reply;
use crate::Error;

use super::{merge, plan, NodeBatches, Part, PipelineError, Plan};

/// Called with the size of every batch sent (instrumentation).
pub(crate) type BatchObserver<'a> = Option<&'a (dyn Fn(usize) + Send + Sync)>;

/// Plans, sends and merges `cmds` on the cluster behind `router`.
pub(crate) async fn run(
    router: &Arc<Router>,
    opts: &NetOptions,
    cmds: &[Cmd],
    limit: usize,
    observe: BatchObserver<'_>,
) -> Vec<Result<Reply, Error>> {
    let topology = router.topology();
    let plan: Plan<NodeAddr> = plan(cmds, |slot| topology.master_of(slot).cloned(), limit);
    drop(topology);
    let mut results: Vec<Option<Result<Reply, Error>>> =
        (0..plan.parts.len()).map(|_| None).collect();
    if plan.parts.len() <= limit {
        // Everything fits in one batch: one router call sends it, one pipeline per node (and
        // whatever is redirected in a retry round is part of it, so still at most `limit`).
        let idxs: Vec<usize> = plan
            .groups
            .iter()
            .flat_map(|g| g.batches.concat())
            .collect();
        if let Some(observe) = observe {
            plan.groups
                .iter()
                .filter_map(|g| g.batches.first())
                .for_each(|b| observe(b.len()));
        }
        let units = units(&plan.parts, &idxs, cmds, opts);
        let out = router.send_grouped(&units).await;
        for (&p, r) in idxs.iter().zip(out) {
            results[p] = Some(r);
        }
    } else {
        let streams = plan
            .groups
            .iter()
            .map(|g| node_stream(router, opts, cmds, &plan.parts, g, observe));
        for (p, r) in join_all(streams).await.into_iter().flatten() {
            results[p] = Some(r);
        }
    }
    let results = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Error::Pipeline(PipelineError::NoReply))))
        .collect();
    merge(plan, cmds, results)
}

/// One node's batches, in order. After a connection failure (once the router's retries and
/// deadline are spent), the node's later batches are not sent: they fail at once.
async fn node_stream(
    router: &Arc<Router>,
    opts: &NetOptions,
    cmds: &[Cmd],
    parts: &[Part<NodeAddr>],
    group: &NodeBatches<NodeAddr>,
    observe: BatchObserver<'_>,
) -> Vec<(usize, Result<Reply, Error>)> {
    let mut out = Vec::with_capacity(group.batches.iter().map(Vec::len).sum());
    let mut failed: Option<String> = None;
    for batch in &group.batches {
        if let Some(cause) = &failed {
            let node = group
                .node
                .as_ref()
                .map_or_else(|| "any master".to_owned(), |n| n.to_string());
            out.extend(batch.iter().map(|&p| {
                (
                    p,
                    Err(Error::Pipeline(PipelineError::NodeFailed {
                        node: node.clone(),
                        cause: cause.clone(),
                    })),
                )
            }));
            continue;
        }
        if let Some(observe) = observe {
            observe(batch.len());
        }
        let units = units(parts, batch, cmds, opts);
        let replies = router.send_grouped(&units).await;
        for (&p, r) in batch.iter().zip(replies) {
            if failed.is_none() && node_is_gone(&r) {
                failed = r.as_ref().err().map(ToString::to_string);
            }
            out.push((p, r));
        }
    }
    out
}

/// A failure that says the node cannot be reached (not one that concerns a single slot).
fn node_is_gone(r: &Result<Reply, Error>) -> bool {
    matches!(
        r,
        Err(Error::Connection(_)
            | Error::Routing(
                RoutingError::DeadlineExceeded { .. } | RoutingError::NoTopology { .. }
            ))
    )
}

fn units<'a>(
    parts: &'a [Part<NodeAddr>],
    idxs: &[usize],
    cmds: &'a [Cmd],
    opts: &NetOptions,
) -> Vec<Unit<'a>> {
    idxs.iter()
        .map(|&p| {
            let part = &parts[p];
            let cmd = part.cmd(cmds);
            let route = match part.slot {
                Some(slot) => Route::Slot {
                    slot,
                    replica: part.readonly && opts.read_from_replicas,
                },
                None => Route::AnyMaster,
            };
            Unit::single(cmd, route, part.readonly || opts.idempotent_writes)
        })
        .collect()
}
