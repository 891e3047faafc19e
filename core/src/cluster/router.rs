//! The router: groups commands per node, sends each group as one pipeline (all groups at
//! once), and applies the redirect rules to each reply. See the module docs of
//! [`cluster`](crate::cluster) for the rules.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use parking_lot::RwLock;
use redis::ConnectionInfo;

use crate::cluster::node::{info_for, NodeConn, NodeFailure};
use crate::cluster::{classify, NodeAddr, Redirect, RoutingError, Topology, Verdict};
use crate::command::Cmd;
use crate::reply::{Reply, ServerError};
use crate::slot::Slot;
use crate::store::{ConnectionErrorKind, StoreOptions};
use crate::Error;

/// Where a unit of work goes.
#[derive(Debug, Clone)]
pub(crate) enum Route {
    /// The master (or, for reads when allowed, a replica) of a slot.
    Slot { slot: Slot, replica: bool },
    /// Any master (keyless commands).
    AnyMaster,
    /// One node, by address (per-master commands such as SCAN).
    Node(NodeAddr),
}

/// One command, or one MULTI/EXEC transaction, to be routed as a whole.
#[derive(Debug, Clone)]
pub(crate) struct Unit<'a> {
    /// One command, or the commands between MULTI and EXEC (borrowed from the caller; turned
    /// into the wire format only when sent).
    pub(crate) cmds: &'a [Cmd],
    pub(crate) transaction: bool,
    pub(crate) route: Route,
    /// May be sent again after a connection loss (read-only, or the caller said idempotent).
    pub(crate) resend_on_loss: bool,
}

impl<'a> Unit<'a> {
    pub(crate) fn single(cmd: &'a Cmd, route: Route, resend_on_loss: bool) -> Unit<'a> {
        Unit {
            cmds: std::slice::from_ref(cmd),
            transaction: false,
            route,
            resend_on_loss,
        }
    }

    fn slot(&self) -> Slot {
        match self.route {
            Route::Slot { slot, .. } => slot,
            _ => Slot::MIN,
        }
    }
}

/// Counters the router keeps: the hook point for instrumentation.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    moved: AtomicU64,
    ask: AtomicU64,
    tryagain: AtomicU64,
    retries: AtomicU64,
    refreshes: AtomicU64,
    connection_errors: AtomicU64,
    commands: AtomicU64,
}

/// A snapshot of what a store's router has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouterStats {
    /// MOVED redirects followed.
    pub moved: u64,
    /// ASK redirects followed.
    pub ask: u64,
    /// TRYAGAIN replies retried.
    pub tryagain: u64,
    /// Retries after CLUSTERDOWN, LOADING, MASTERDOWN, READONLY or a connection loss.
    pub retries: u64,
    /// Full topology refreshes done.
    pub refreshes: u64,
    /// Requests that failed below the protocol (connect, I/O, timeout).
    pub connection_errors: u64,
    /// Commands sent (each ASKING, MULTI and EXEC included).
    pub commands: u64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> RouterStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RouterStats {
            moved: get(&self.moved),
            ask: get(&self.ask),
            tryagain: get(&self.tryagain),
            retries: get(&self.retries),
            refreshes: get(&self.refreshes),
            connection_errors: get(&self.connection_errors),
            commands: get(&self.commands),
        }
    }

    pub(crate) fn add_commands(&self, n: usize) {
        self.commands.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn connection_error(&self) {
        self.connection_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }
}

/// What came back for one unit.
pub(crate) enum Outcome {
    Done(Result<Reply, Error>),
    Error(ServerError),
}

/// Splits a unit's replies into its result, or the error the router must act on.
fn unit_outcome(unit: &Unit<'_>, asking: bool, mut replies: Vec<redis::Value>) -> Outcome {
    if !asking && !unit.transaction {
        return plain_outcome(replies.pop());
    }
    if asking {
        if let Some(redis::Value::ServerError(e)) = replies.first() {
            return Outcome::Done(Err(Error::Server(ServerError::from_redis(e))));
        }
        replies.remove(0);
    }
    if !unit.transaction {
        return match replies.pop().map(Reply::from_value) {
            Some(Reply::Error(e)) => Outcome::Error(e),
            Some(r) => Outcome::Done(Ok(r)),
            None => Outcome::Done(Ok(Reply::Nil)),
        };
    }
    // MULTI, QUEUED…, EXEC
    let exec = replies.pop().map(Reply::from_value).unwrap_or(Reply::Nil);
    for r in replies {
        if let redis::Value::ServerError(e) = r {
            let e = ServerError::from_redis(&e);
            if classify(&e, "") != Verdict::Final {
                // Refused at queue time, so EXEC aborted and nothing ran: route it again.
                return Outcome::Error(e);
            }
        }
    }
    match exec {
        Reply::Error(e) if classify(&e, "") != Verdict::Final => Outcome::Error(e),
        Reply::Error(e) => Outcome::Done(Err(Error::Server(e))),
        r => Outcome::Done(Ok(r)),
    }
}

/// The outcome of a plain (one command, no ASKING) unit from its one reply.
fn plain_outcome(reply: Option<redis::Value>) -> Outcome {
    match reply.map(Reply::from_value) {
        Some(Reply::Error(e)) => Outcome::Error(e),
        Some(r) => Outcome::Done(Ok(r)),
        None => Outcome::Done(Ok(Reply::Nil)),
    }
}

/// Per-unit routing state across rounds.
#[derive(Default)]
struct UnitState {
    asking: Option<NodeAddr>,
    /// A replica failed this read (moved, loading, unreachable): read from the master.
    avoid_replica: bool,
    redirects: usize,
    path: Vec<String>,
    last: Option<String>,
}

pub(crate) struct Router {
    opts: Arc<StoreOptions>,
    template: ConnectionInfo,
    seeds: Vec<NodeAddr>,
    topology: RwLock<Arc<Topology>>,
    /// Bumped on every full refresh; a MOVED seen under an older generation is not applied.
    generation: AtomicU64,
    nodes: RwLock<HashMap<(NodeAddr, bool), Arc<NodeConn>>>,
    refresh_gate: tokio::sync::Mutex<Option<Instant>>,
    refresh_scheduled: AtomicBool,
    next_replica: AtomicUsize,
    pub(crate) counters: Counters,
}

impl Router {
    /// A router that learns its topology from `seeds`.
    pub(crate) async fn connect(
        template: ConnectionInfo,
        seeds: Vec<NodeAddr>,
        opts: Arc<StoreOptions>,
    ) -> Result<Arc<Router>, Error> {
        let router = Arc::new(Router {
            opts,
            template,
            seeds,
            topology: RwLock::new(Arc::new(Topology::empty())),
            generation: AtomicU64::new(0),
            nodes: RwLock::new(HashMap::new()),
            refresh_gate: tokio::sync::Mutex::new(None),
            refresh_scheduled: AtomicBool::new(false),
            next_replica: AtomicUsize::new(0),
            counters: Counters::default(),
        });
        router.refresh(true).await?;
        Ok(router)
    }

    /// A router over an already-learned topology (kind detection asked the first node).
    pub(crate) fn with_topology(
        template: ConnectionInfo,
        seeds: Vec<NodeAddr>,
        topology: Topology,
        opts: Arc<StoreOptions>,
    ) -> Arc<Router> {
        Arc::new(Router {
            opts,
            template,
            seeds,
            topology: RwLock::new(Arc::new(topology)),
            generation: AtomicU64::new(1),
            nodes: RwLock::new(HashMap::new()),
            refresh_gate: tokio::sync::Mutex::new(Some(Instant::now())),
            refresh_scheduled: AtomicBool::new(false),
            next_replica: AtomicUsize::new(0),
            counters: Counters::default(),
        })
    }

    pub(crate) fn topology(&self) -> Arc<Topology> {
        self.topology.read().clone()
    }

    pub(crate) fn node(&self, addr: &NodeAddr, readonly: bool) -> Arc<NodeConn> {
        let key = (addr.clone(), readonly);
        if let Some(n) = self.nodes.read().get(&key) {
            return n.clone();
        }
        self.nodes
            .write()
            .entry(key)
            .or_insert_with(|| {
                Arc::new(NodeConn::new(
                    info_for(&self.template, addr),
                    readonly,
                    &self.opts,
                ))
            })
            .clone()
    }

    fn is_tls(&self) -> bool {
        matches!(self.template.addr(), redis::ConnectionAddr::TcpTls { .. })
    }

    /// Fetches the topology from one node: CLUSTER SHARDS, else CLUSTER SLOTS.
    pub(crate) async fn fetch_topology(node: &NodeConn, tls: bool) -> Result<Topology, Error> {
        let reply = node
            .send_one(&redis::cmd("CLUSTER").arg("SHARDS").to_owned())
            .await
            .map_err(|f| Error::Connection(f.error))?;
        match Reply::from_value(reply) {
            Reply::Error(e) if e.detail().contains("cluster support disabled") => {
                Err(Error::Server(e))
            }
            Reply::Error(_) => {
                let reply = node
                    .send_one(&redis::cmd("CLUSTER").arg("SLOTS").to_owned())
                    .await
                    .map_err(|f| Error::Connection(f.error))?;
                match Reply::from_value(reply) {
                    Reply::Error(e) => Err(Error::Server(e)),
                    r => Ok(Topology::from_cluster_slots(&r, &node.addr.host)?),
                }
            }
            r => Ok(Topology::from_cluster_shards(&r, &node.addr.host, tls)?),
        }
    }

    /// Refreshes the slot map: single-flight, and at most once per `min_refresh_interval`
    /// unless `force`. Asks the known masters first, then the seeds.
    pub(crate) async fn refresh(&self, force: bool) -> Result<(), Error> {
        let requested = Instant::now();
        let mut last = self.refresh_gate.lock().await;
        if let Some(done) = *last {
            if done >= requested || (!force && done.elapsed() < self.opts.min_refresh_interval) {
                return Ok(());
            }
        }
        let current = self.topology();
        let mut candidates: Vec<NodeAddr> = current.masters().cloned().collect();
        let rotate = self.counters.refreshes.load(Ordering::Relaxed) as usize;
        if !candidates.is_empty() {
            let len = candidates.len();
            candidates.rotate_left(rotate % len);
        }
        for s in &self.seeds {
            if !candidates.contains(s) {
                candidates.push(s.clone());
            }
        }
        let mut last_error = String::from("no node to ask");
        for addr in &candidates {
            let node = self.node(addr, false);
            match Self::fetch_topology(&node, self.is_tls()).await {
                Ok(t) if t.covered() > 0 || current.covered() == 0 => {
                    self.counters.refreshes.fetch_add(1, Ordering::Relaxed);
                    self.install(t);
                    *last = Some(Instant::now());
                    return Ok(());
                }
                Ok(_) => last_error = format!("{addr} reported no slots"),
                Err(e) => {
                    log::debug!("topology refresh from {addr} failed: {e}");
                    last_error = format!("{addr}: {e}");
                }
            }
        }
        *last = Some(Instant::now());
        Err(Error::Routing(RoutingError::NoTopology {
            tried: candidates.iter().map(|a| a.to_string()).collect(),
            last: last_error,
        }))
    }

    fn install(&self, topology: Topology) {
        let keep: Vec<NodeAddr> = topology
            .shards()
            .iter()
            .flat_map(|s| std::iter::once(&s.master).chain(&s.replicas))
            .cloned()
            .collect();
        *self.topology.write() = Arc::new(topology);
        self.generation.fetch_add(1, Ordering::AcqRel);
        // Forget connections to nodes that left the cluster (seeds stay).
        self.nodes
            .write()
            .retain(|(addr, _), _| keep.contains(addr) || self.seeds.contains(addr));
    }

    /// Starts one background refresh unless one is already scheduled.
    fn schedule_refresh(self: &Arc<Self>) {
        if self.refresh_scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let router = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = router.refresh(false).await {
                log::debug!("background topology refresh failed: {e}");
            }
            router.refresh_scheduled.store(false, Ordering::Release);
        });
    }

    fn apply_moved(&self, slot: Slot, addr: &NodeAddr, seen_generation: u64) {
        let mut topology = self.topology.write();
        if self.generation.load(Ordering::Acquire) != seen_generation {
            return; // a newer full refresh already replaced the map
        }
        if topology.master_of(slot) != Some(addr) {
            *topology = Arc::new(topology.with_moved(slot, addr));
        }
    }

    /// Where a unit goes now: (node, readonly connection).
    fn target<'t>(
        &'t self,
        unit: &'t Unit<'_>,
        state: &'t UnitState,
        topology: &'t Topology,
    ) -> Option<(&'t NodeAddr, bool)> {
        if let Some(addr) = &state.asking {
            return Some((addr, false));
        }
        match &unit.route {
            Route::Node(addr) => Some((addr, false)),
            Route::AnyMaster => topology
                .masters()
                .next()
                .or_else(|| self.seeds.first())
                .map(|a| (a, false)),
            Route::Slot { slot, replica } => {
                let shard = topology.shard_of(*slot)?;
                if *replica && !state.avoid_replica && !shard.replicas.is_empty() {
                    let i =
                        self.next_replica.fetch_add(1, Ordering::Relaxed) % shard.replicas.len();
                    return Some((&shard.replicas[i], true));
                }
                Some((&shard.master, false))
            }
        }
    }

    /// Sends every unit, grouped per node, all nodes at once; returns one result per unit in
    /// the order given. Only units that were redirected or refused with a retryable error are
    /// sent again, so nothing runs twice.
    pub(crate) async fn send_grouped(
        self: &Arc<Self>,
        units: &[Unit<'_>],
    ) -> Vec<Result<Reply, Error>> {
        if let [unit] = units {
            if let Some(done) = self.first_try(unit).await {
                return vec![done];
            }
        }
        self.send_rounds(units).await
    }

    /// One plain command's first attempt, without the bookkeeping of rounds. `None` when the
    /// reply calls for the redirect/retry rules: nothing ran (a redirect or a refusal), or a
    /// connection loss that allows a resend — so sending again through the rounds is safe.
    async fn first_try(&self, unit: &Unit<'_>) -> Option<Result<Reply, Error>> {
        if unit.transaction || unit.cmds.len() != 1 {
            return None;
        }
        let fresh = UnitState::default();
        let (addr, readonly) = {
            let topology = self.topology();
            let (addr, readonly) = self.target(unit, &fresh, &topology)?;
            (addr.clone(), readonly)
        };
        let node = self.node(&addr, readonly);
        self.counters.add_commands(1);
        let sent = match blocking_wait(&unit.cmds[0]) {
            Some(wait) => node.send_blocking(&unit.cmds[0].to_redis(), wait).await,
            None => node.send_one(&unit.cmds[0].to_redis()).await,
        };
        match sent {
            Ok(value) => match plain_outcome(Some(value)) {
                Outcome::Done(r) => Some(r),
                Outcome::Error(e) if classify(&e, &addr.host) == Verdict::Final => {
                    Some(Err(Error::Server(e)))
                }
                Outcome::Error(_) => None,
            },
            Err(failure) => {
                let broken = failure.error.kind == ConnectionErrorKind::Protocol;
                if broken || (failure.sent && !unit.resend_on_loss) {
                    self.counters.connection_error();
                    Some(Err(Error::Connection(failure.error)))
                } else {
                    None
                }
            }
        }
    }

    async fn send_rounds(self: &Arc<Self>, units: &[Unit<'_>]) -> Vec<Result<Reply, Error>> {
        let start = Instant::now();
        let deadline = start + self.opts.retry_deadline;
        let mut results: Vec<Option<Result<Reply, Error>>> =
            (0..units.len()).map(|_| None).collect();
        let mut states: Vec<UnitState> = (0..units.len()).map(|_| UnitState::default()).collect();
        let mut pending: Vec<usize> = (0..units.len()).collect();
        let mut round: u32 = 0;
        let mut refreshed_for_unserved = false;

        while !pending.is_empty() {
            let topology = self.topology();
            let generation = self.generation.load(Ordering::Acquire);
            let mut groups: Vec<((NodeAddr, bool), Vec<usize>)> = Vec::new();
            // A linear search while there are few nodes; a map beyond that.
            let mut index: HashMap<(NodeAddr, bool), usize> = HashMap::new();
            let mut unserved = Vec::new();
            for &i in &pending {
                let Some(key) = self.target(&units[i], &states[i], &topology) else {
                    unserved.push(i);
                    continue;
                };
                let (addr, readonly) = key;
                let found = if groups.len() <= 16 {
                    groups
                        .iter()
                        .position(|((a, r), _)| *r == readonly && same_addr(a, addr))
                } else {
                    if index.is_empty() {
                        index.extend(groups.iter().enumerate().map(|(g, (k, _))| (k.clone(), g)));
                    }
                    index.get(&(addr.clone(), readonly)).copied()
                };
                match found {
                    Some(g) => groups[g].1.push(i),
                    None => {
                        let key = (addr.clone(), readonly);
                        if !index.is_empty() {
                            index.insert(key.clone(), groups.len());
                        }
                        groups.push((key, vec![i]));
                    }
                }
            }
            let mut next: Vec<usize> = Vec::new();
            let mut need_refresh = false;
            let mut need_backoff = false;
            if !unserved.is_empty() {
                if refreshed_for_unserved {
                    for i in unserved {
                        results[i] = Some(Err(Error::Routing(RoutingError::SlotNotServed {
                            slot: units[i].slot(),
                        })));
                    }
                } else {
                    // The spec: refresh once before saying a slot has no owner.
                    refreshed_for_unserved = true;
                    need_refresh = true;
                    next.extend(unserved);
                }
            }

            let asking = |i: usize| states[i].asking.is_some();
            let outcomes = if let [((addr, readonly), idxs)] = groups.as_slice() {
                let node = self.node(addr, *readonly);
                vec![send_to_node(&node, idxs, units, asking, &self.counters).await]
            } else {
                let nodes: Vec<Arc<NodeConn>> = groups
                    .iter()
                    .map(|((addr, readonly), _)| self.node(addr, *readonly))
                    .collect();
                let sends = groups.iter().zip(&nodes).map(|((_, idxs), node)| {
                    send_to_node(node, idxs, units, asking, &self.counters)
                });
                join_all(sends).await
            };

            let mut unknown: Vec<(usize, Redirect, String)> = Vec::new();
            for (((addr, readonly), idxs), outcome) in groups.iter().zip(outcomes) {
                match outcome {
                    Err(failure) => {
                        self.counters.connection_error();
                        for &i in idxs {
                            states[i].asking = None;
                            if *readonly {
                                states[i].avoid_replica = true;
                            }
                            // A peer that sends bytes that are not RESP is broken, not busy.
                            let broken = failure.error.kind == ConnectionErrorKind::Protocol;
                            if !broken && (!failure.sent || units[i].resend_on_loss) {
                                states[i].last = Some(failure.error.to_string());
                                need_refresh = true;
                                need_backoff = true;
                                self.counters.retry();
                                next.push(i);
                            } else {
                                results[i] = Some(Err(Error::Connection(failure.error.clone())));
                            }
                        }
                    }
                    Ok(per_unit) => {
                        for (&i, outcome) in idxs.iter().zip(per_unit) {
                            states[i].asking = None;
                            let e = match outcome {
                                Outcome::Done(r) => {
                                    results[i] = Some(r);
                                    continue;
                                }
                                Outcome::Error(e) => e,
                            };
                            let verdict = classify(&e, &addr.host);
                            if *readonly && verdict != Verdict::Final {
                                // A replica that redirects (to its master), is loading or is
                                // refused: read this one from the master instead.
                                states[i].avoid_replica = true;
                                next.push(i);
                                continue;
                            }
                            match verdict {
                                Verdict::Redirect(redirect) => {
                                    let state = &mut states[i];
                                    state.redirects += 1;
                                    state.path.push(format!("{addr} ({redirect})"));
                                    if state.redirects > self.opts.max_redirects {
                                        results[i] = Some(Err(Error::Routing(
                                            RoutingError::TooManyRedirects {
                                                slot: units[i].slot(),
                                                redirects: state.redirects - 1,
                                                path: std::mem::take(&mut state.path),
                                            },
                                        )));
                                        continue;
                                    }
                                    let to = match &redirect {
                                        Redirect::Moved(_, to) | Redirect::Ask(_, to) => to,
                                    };
                                    if !topology.knows(to) {
                                        unknown.push((i, redirect.clone(), addr.to_string()));
                                        continue;
                                    }
                                    self.follow(i, &redirect, generation, &mut states);
                                    next.push(i);
                                }
                                Verdict::Backoff => {
                                    self.counters.tryagain.fetch_add(1, Ordering::Relaxed);
                                    states[i].last = Some(format!("{addr}: {e}"));
                                    need_backoff = true;
                                    next.push(i);
                                }
                                Verdict::RefreshBackoff => {
                                    self.counters.retry();
                                    states[i].last = Some(format!("{addr}: {e}"));
                                    need_refresh = true;
                                    need_backoff = true;
                                    next.push(i);
                                }
                                Verdict::Malformed => {
                                    results[i] = Some(Err(Error::Routing(
                                        RoutingError::MalformedRedirect {
                                            from: addr.to_string(),
                                            reply: e.to_string(),
                                        },
                                    )));
                                }
                                Verdict::Final => results[i] = Some(Err(Error::Server(e))),
                            }
                        }
                    }
                }
            }

            if !unknown.is_empty() {
                // Follow a redirect only to a node the topology confirms: refresh and look again.
                let _ = self.refresh(true).await;
                let topology = self.topology();
                let generation = self.generation.load(Ordering::Acquire);
                for (i, redirect, from) in unknown {
                    let (Redirect::Moved(slot, to) | Redirect::Ask(slot, to)) = &redirect;
                    if topology.knows(to) {
                        self.follow(i, &redirect, generation, &mut states);
                        next.push(i);
                    } else {
                        results[i] =
                            Some(Err(Error::Routing(RoutingError::RedirectToUnknownNode {
                                slot: *slot,
                                from,
                                to: to.to_string(),
                            })));
                    }
                }
            }

            if need_refresh {
                let _ = self.refresh(false).await;
            }
            if next.is_empty() {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                for i in next {
                    let last = states[i].last.take().unwrap_or_else(|| "redirects".into());
                    results[i] = Some(Err(Error::Routing(RoutingError::DeadlineExceeded {
                        elapsed: now - start,
                        last,
                    })));
                }
                break;
            }
            if need_backoff {
                round += 1;
                let pause = backoff(&self.opts, round).min(deadline - now);
                tokio::time::sleep(pause).await;
            }
            next.sort_unstable();
            next.dedup();
            pending = next;
        }

        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(Error::Routing(RoutingError::DeadlineExceeded {
                        elapsed: start.elapsed(),
                        last: "no reply".into(),
                    }))
                })
            })
            .collect()
    }

    fn follow(
        self: &Arc<Self>,
        i: usize,
        redirect: &Redirect,
        generation: u64,
        states: &mut [UnitState],
    ) {
        match redirect {
            Redirect::Moved(slot, to) => {
                self.counters.moved.fetch_add(1, Ordering::Relaxed);
                self.apply_moved(*slot, to, generation);
                self.schedule_refresh();
            }
            Redirect::Ask(_, to) => {
                self.counters.ask.fetch_add(1, Ordering::Relaxed);
                states[i].asking = Some(to.clone());
            }
        }
    }
}

/// Sends one node's units as one pipeline (a lone plain command as one command).
pub(crate) async fn send_to_node(
    node: &NodeConn,
    idxs: &[usize],
    units: &[Unit<'_>],
    asking: impl Fn(usize) -> bool,
    counters: &Counters,
) -> Result<Vec<Outcome>, NodeFailure> {
    if let [i] = idxs {
        let unit = &units[*i];
        if !unit.transaction && !asking(*i) && unit.cmds.len() == 1 {
            counters.add_commands(1);
            let value = match blocking_wait(&unit.cmds[0]) {
                Some(wait) => node.send_blocking(&unit.cmds[0].to_redis(), wait).await?,
                None => node.send_one(&unit.cmds[0].to_redis()).await?,
            };
            return Ok(vec![plain_outcome(Some(value))]);
        }
    }
    let mut pipe = redis::Pipeline::with_capacity(idxs.len());
    let mut counts = Vec::with_capacity(idxs.len());
    for &i in idxs {
        let unit = &units[i];
        let mut n = 0;
        if asking(i) {
            pipe.add_command(redis::cmd("ASKING"));
            n += 1;
        }
        if unit.transaction {
            pipe.add_command(redis::cmd("MULTI"));
            n += 1;
        }
        for c in unit.cmds {
            pipe.add_command(c.to_redis());
            n += 1;
        }
        if unit.transaction {
            pipe.add_command(redis::cmd("EXEC"));
            n += 1;
        }
        counts.push(n);
    }
    let total: usize = counts.iter().sum();
    counters.add_commands(total);
    let values = node.send_pipeline(&pipe, total).await?;
    let mut values = values.into_iter();
    Ok(idxs
        .iter()
        .zip(counts)
        .map(|(&i, n)| {
            if n == 1 {
                return plain_outcome(values.next());
            }
            let replies: Vec<redis::Value> = values.by_ref().take(n).collect();
            unit_outcome(&units[i], asking(i), replies)
        })
        .collect())
}

/// For a command that blocks the connection (BLPOP, XREAD … BLOCK, WAIT …): how long it may
/// block (`Some(None)`: for ever). `None` for every other command.
fn blocking_wait(cmd: &Cmd) -> Option<Option<Duration>> {
    let name = cmd.name().to_ascii_uppercase();
    let secs = |arg: Option<&[u8]>| {
        let v: f64 = arg
            .and_then(|a| std::str::from_utf8(a).ok())
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or(0.0);
        if v > 0.0 && v.is_finite() {
            Some(Duration::from_secs_f64(v.min(1e9)))
        } else {
            None
        }
    };
    let millis = |arg: Option<&[u8]>| secs(arg).map(|d| d / 1000);
    let last = cmd.len().checked_sub(1).and_then(|i| cmd.get(i));
    Some(match name.as_slice() {
        b"BLPOP" | b"BRPOP" | b"BZPOPMIN" | b"BZPOPMAX" | b"BLMOVE" | b"BRPOPLPUSH" => secs(last),
        b"BLMPOP" | b"BZMPOP" => secs(cmd.get(1)),
        b"WAIT" => millis(cmd.get(2)),
        b"WAITAOF" => millis(cmd.get(3)),
        b"XREAD" | b"XREADGROUP" => {
            let block = cmd.args().position(|a| a.eq_ignore_ascii_case(b"BLOCK"))?;
            millis(cmd.get(block + 1))
        }
        _ => return None,
    })
}

/// Address equality, checking the shared host string by pointer first (the common case: both
/// come from the same topology).
fn same_addr(a: &NodeAddr, b: &NodeAddr) -> bool {
    a.port == b.port && (Arc::ptr_eq(&a.host, &b.host) || a.host == b.host)
}

/// Exponential backoff with jitter, capped.
pub(crate) fn backoff(opts: &StoreOptions, round: u32) -> Duration {
    let base = opts.backoff_base.as_millis() as u64;
    let exp = base.saturating_mul(1u64 << round.min(16));
    let capped = exp.min(opts.backoff_max.as_millis() as u64).max(1);
    // Jitter without a RNG dependency: the low bits of the clock.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let jitter = nanos % (capped / 2 + 1);
    Duration::from_millis(capped / 2 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(args: &[&str]) -> Option<Option<Duration>> {
        blocking_wait(&Cmd::from_args(args))
    }

    #[test]
    fn blocking_commands_and_their_waits() {
        assert_eq!(
            wait(&["BLPOP", "a", "b", "1.5"]),
            Some(Some(Duration::from_millis(1500)))
        );
        assert_eq!(wait(&["blpop", "a", "0"]), Some(None));
        assert_eq!(
            wait(&["BLMPOP", "2", "1", "k", "LEFT"]),
            Some(Some(Duration::from_secs(2)))
        );
        assert_eq!(
            wait(&["XREAD", "COUNT", "1", "BLOCK", "250", "STREAMS", "s", "$"]),
            Some(Some(Duration::from_millis(250)))
        );
        assert_eq!(wait(&["XREAD", "STREAMS", "s", "0"]), None);
        assert_eq!(
            wait(&["WAIT", "1", "100"]),
            Some(Some(Duration::from_millis(100)))
        );
        assert_eq!(wait(&["GET", "k"]), None);
    }

    #[test]
    fn backoff_is_capped_and_positive() {
        let opts = StoreOptions::default();
        for round in 0..40 {
            let pause = backoff(&opts, round);
            assert!(
                pause > Duration::ZERO && pause <= opts.backoff_max,
                "{round}: {pause:?}"
            );
        }
    }
}
