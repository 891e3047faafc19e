//! Runs a plan on a cluster through the one router.
//!
//! Every node's parts go out as one pipeline with at most `limit` of them in flight at a time
//! (the router's `send_windowed`): as a node answers, more of its parts are written, so it
//! never holds more than `limit` of our commands and never waits between batches. The nodes
//! run at the same time, independently — a slow node does not hold the others back. The
//! router follows MOVED/ASK/TRYAGAIN for the parts that need it and re-sends nothing else.

use std::sync::Arc;

use crate::cluster::router::Router;
use crate::cluster::NodeAddr;
use crate::command::Cmd;
use crate::net::{NetOptions, Route, Unit};
use crate::reply::Reply;
use crate::Error;

use super::{merge, plan, Part, Plan};

/// Called with the size of every batch of the plan: a node's share of the pipeline cut at the
/// limit, the most that node has in flight at once (instrumentation).
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
    if let Some(observe) = observe {
        plan.groups
            .iter()
            .flat_map(|g| &g.batches)
            .for_each(|b| observe(b.len()));
    }
    // The parts in the caller's order: the router groups them per node (keeping that order
    // within each node) and keeps at most `limit` of each node's in flight.
    let units = units(&plan.parts, cmds, opts);
    let results = router.send_windowed(&units, limit.max(1)).await;
    drop(units);
    merge(plan, cmds, results)
}

fn units<'a>(parts: &'a [Part<NodeAddr>], cmds: &'a [Cmd], opts: &NetOptions) -> Vec<Unit<'a>> {
    parts
        .iter()
        .map(|part| {
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
