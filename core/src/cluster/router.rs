//! The router: groups commands per node, sends each group as one pipeline (all groups at
//! once), and applies the redirect rules to each reply. See the module docs of
//! [`cluster`](crate::cluster) for the rules.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures_util::future::join_all;
use parking_lot::RwLock;
use redis::ConnectionInfo;

use crate::cluster::{LastFailure, RoutingError, Topology};
use crate::command::Cmd;
use crate::net::node::{info_for, NodeConn};
use crate::net::runtime;
use crate::net::unit::blocking_wait;
use crate::net::{
    backoff, classify, send_to_node, ConnectionError, ConnectionErrorKind, Counters, NetOptions,
    NodeAddr, Outcome, Redirect, Route, Unit, Verdict,
};
use crate::reply::Reply;
use crate::slot::Slot;
use crate::Error;

/// How a lone command's first attempt ended.
enum FirstTry {
    Done(Result<Reply, Error>),
    /// Go on with the rounds, from this state.
    Rounds(UnitState),
}

/// A node answered fewer replies than it was sent commands.
fn missing_reply(addr: &NodeAddr) -> Error {
    Error::Connection(
        ConnectionError::new(
            addr,
            ConnectionErrorKind::Protocol,
            "a reply is missing".to_owned(),
        )
        .outcome_unknown(),
    )
}

/// The routing state of the units that have any: a unit sent once and answered (nearly all of
/// them) never gets one, so a large pipeline does not build, clear and drop a state per
/// command.
#[derive(Default)]
struct UnitStates(HashMap<usize, UnitState>);

/// The state of a unit nothing has happened to yet.
static FRESH: UnitState = UnitState {
    asking: None,
    moved_to: None,
    avoid_replica: false,
    redirects: 0,
    path: Vec::new(),
    last: None,
};

impl UnitStates {
    /// Unit `i`'s state (a fresh one's when it has none).
    fn get(&self, i: usize) -> &UnitState {
        self.0.get(&i).unwrap_or(&FRESH)
    }

    /// Unit `i`'s state, to change.
    fn at(&mut self, i: usize) -> &mut UnitState {
        self.0.entry(i).or_default()
    }

    /// Forgets unit `i`'s ASK target (it applies to one attempt).
    fn clear_asking(&mut self, i: usize) {
        if let Some(state) = self.0.get_mut(&i) {
            state.asking = None;
        }
    }
}

/// Per-unit routing state across rounds.
#[derive(Default)]
struct UnitState {
    asking: Option<NodeAddr>,
    /// Where the last MOVED sent a unit routed to any master (a command the key table gives
    /// no slot, which a node answered with MOVED): the slot map cannot place it, so it follows
    /// the redirect itself. A unit sent to a chosen node stays there.
    moved_to: Option<NodeAddr>,
    /// A replica failed this read (moved, loading, unreachable): read from the master.
    avoid_replica: bool,
    redirects: usize,
    path: Vec<String>,
    last: Option<LastFailure>,
}

pub(crate) struct Router {
    opts: Arc<NetOptions>,
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
        opts: Arc<NetOptions>,
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
        router.start_periodic_refresh();
        Ok(router)
    }

    /// A router over an already-learned topology (kind detection asked the first node).
    pub(crate) fn with_topology(
        template: ConnectionInfo,
        seeds: Vec<NodeAddr>,
        topology: Topology,
        opts: Arc<NetOptions>,
    ) -> Arc<Router> {
        let router = Arc::new(Router {
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
        });
        router.start_periodic_refresh();
        router
    }

    /// A number that grows by one each call: where a caller starts when it walks the masters
    /// one by one (spreads `RANDOMKEY` over them).
    pub(crate) fn next_rotation(&self) -> usize {
        self.next_replica.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn topology(&self) -> Arc<Topology> {
        self.topology.read().clone()
    }

    /// Every node connection this router made so far (open or not).
    pub(crate) fn known_nodes(&self) -> Vec<Arc<NodeConn>> {
        self.nodes.read().values().cloned().collect()
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

    /// Fetches the topology from one node: CLUSTER SHARDS, else CLUSTER SLOTS. A node that is
    /// not a cluster node is an `Error::Server` (what a detecting store takes for one server).
    pub(crate) async fn fetch_topology(node: &NodeConn, tls: bool) -> Result<Topology, Error> {
        let reply = node
            .send_one(&Cmd::from_args(["CLUSTER", "SHARDS"]))
            .await
            .map_err(|f| Error::Connection(f.error))?;
        match reply {
            Reply::Error(e) if e.detail().contains("cluster support disabled") => {
                Err(Error::Server(e))
            }
            // A scalar where a cluster node sends a list of shards: something that speaks RESP
            // but is no cluster node (a proxy, a test double, a server with CLUSTER renamed).
            // Answered as "cluster support disabled" is: one server, for a client given one
            // URL. (A list that is not a valid topology is a broken cluster: an error.)
            r @ (Reply::Status(_) | Reply::Bulk(_) | Reply::Int(_) | Reply::Nil) => {
                Err(Error::Server(crate::reply::ServerError::new(
                    "ERR",
                    format!(
                        "CLUSTER SHARDS answered {}, not a list of shards: not a cluster node",
                        scalar_kind(&r)
                    ),
                )))
            }
            Reply::Error(_) => {
                let reply = node
                    .send_one(&Cmd::from_args(["CLUSTER", "SLOTS"]))
                    .await
                    .map_err(|f| Error::Connection(f.error))?;
                match reply {
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
        let rotate = self.counters.refreshes() as usize;
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
                    self.counters.refreshed();
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

    /// Refreshes the slot map every `topology_refresh_interval` in the background, so that
    /// slots which moved are learned before a command meets their old owner. The task runs on
    /// the shared runtime (a blocking caller's thread runs only its own calls) and holds only
    /// a weak reference: it ends with the router. Without a runtime there is no periodic
    /// refresh, only the MOVED-driven one.
    fn start_periodic_refresh(self: &Arc<Self>) {
        let Some(every) = self.opts.topology_refresh_interval else {
            return;
        };
        let weak = Arc::downgrade(self);
        let started = runtime::spawn_shared(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(router) = weak.upgrade() else { break };
                if let Err(e) = router.refresh(false).await {
                    log::debug!("periodic topology refresh failed: {e}");
                }
            }
        });
        if let Err(e) = started {
            log::warn!("no periodic topology refresh: {e}");
        }
    }

    /// Starts one background refresh on the shared runtime unless one is already scheduled.
    fn schedule_refresh(self: &Arc<Self>) {
        if self.refresh_scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let router = Arc::clone(self);
        let started = runtime::spawn_shared(async move {
            if let Err(e) = router.refresh(false).await {
                log::debug!("background topology refresh failed: {e}");
            }
            router.refresh_scheduled.store(false, Ordering::Release);
        });
        if let Err(e) = started {
            log::debug!("no background topology refresh: {e}");
            self.refresh_scheduled.store(false, Ordering::Release);
        }
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
            Route::AnyMaster if state.moved_to.is_some() => {
                state.moved_to.as_ref().map(|a| (a, false))
            }
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
        self.send_windowed(units, usize::MAX).await
    }

    /// [`Self::send_grouped`] with at most `window` commands in flight to any one node: a
    /// node's pipeline longer than that is written as earlier replies come back
    /// ([`NodeConn::send_windowed`]).
    pub(crate) async fn send_windowed(
        self: &Arc<Self>,
        units: &[Unit<'_>],
        window: usize,
    ) -> Vec<Result<Reply, Error>> {
        let mut seed = None;
        if let [unit] = units {
            match self.first_try(unit).await {
                FirstTry::Done(done) => return vec![done],
                FirstTry::Rounds(state) => seed = Some(state),
            }
        }
        self.send_rounds(units, seed, window).await
    }

    /// One plain command's first attempt, without the bookkeeping of rounds. `Rounds` when the
    /// reply calls for the redirect/retry rules: nothing ran (a redirect or a refusal), or a
    /// connection loss that allows a resend — so sending again through the rounds is safe. A
    /// redirect is applied here (the slot map learns a MOVED, an ASK is remembered in the
    /// state handed on), so the rounds do not send to the node that redirected.
    async fn first_try(self: &Arc<Self>, unit: &Unit<'_>) -> FirstTry {
        if unit.transaction || unit.cmds.len() != 1 {
            return FirstTry::Rounds(UnitState::default());
        }
        let mut state = UnitState::default();
        let generation = self.generation.load(Ordering::Acquire);
        let topology = self.topology();
        let Some((addr, readonly)) = self
            .target(unit, &state, &topology)
            .map(|(a, r)| (a.clone(), r))
        else {
            return FirstTry::Rounds(state);
        };
        let node = self.node(&addr, readonly);
        self.counters.add_commands(1);
        let sent = match blocking_wait(&unit.cmds[0]) {
            Some(wait) => node.send_blocking(&unit.cmds[0], wait).await,
            None => node.send_one(&unit.cmds[0]).await,
        };
        let e = match sent {
            Ok(value) => match Outcome::of_reply(value) {
                Outcome::Done(r) => return FirstTry::Done(r.map_err(Error::Server)),
                Outcome::Missing => return FirstTry::Done(Err(missing_reply(&addr))),
                Outcome::Error(e) => e,
            },
            Err(failure) => {
                if !failure.retryable(unit.resend_on_loss) {
                    self.counters.connection_error();
                    return FirstTry::Done(Err(Error::Connection(failure.error)));
                }
                return FirstTry::Rounds(state);
            }
        };
        match classify(&e, &addr.host) {
            Verdict::Final => FirstTry::Done(Err(Error::Server(e))),
            Verdict::Malformed => {
                FirstTry::Done(Err(Error::Routing(RoutingError::MalformedRedirect {
                    from: addr.to_string(),
                    reply: e.to_string(),
                })))
            }
            Verdict::Redirect(_) if readonly => {
                // A replica that redirects to its master: read this one from the master.
                state.avoid_replica = true;
                FirstTry::Rounds(state)
            }
            Verdict::Redirect(redirect) => {
                if topology.knows(redirect.target()) {
                    state.redirects = 1;
                    state.path.push(format!("{addr} ({redirect})"));
                    self.follow(&redirect, generation, &mut state);
                }
                FirstTry::Rounds(state)
            }
            Verdict::Backoff | Verdict::RefreshBackoff => {
                if readonly {
                    state.avoid_replica = true;
                }
                state.last = Some(LastFailure::Server {
                    addr: addr.to_string(),
                    error: e.clone(),
                });
                FirstTry::Rounds(state)
            }
        }
    }

    async fn send_rounds(
        self: &Arc<Self>,
        units: &[Unit<'_>],
        seed: Option<UnitState>,
        window: usize,
    ) -> Vec<Result<Reply, Error>> {
        let start = Instant::now();
        let deadline = start + self.opts.retry_deadline;
        let mut results: Vec<Option<Result<Reply, Error>>> =
            (0..units.len()).map(|_| None).collect();
        let mut states = UnitStates::default();
        if let (Some(seed), false) = (seed, units.is_empty()) {
            states.0.insert(0, seed);
        }
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
                let Some(key) = self.target(&units[i], states.get(i), &topology) else {
                    unserved.push(i);
                    continue;
                };
                let (addr, readonly) = key;
                let found = if groups.len() <= 16 {
                    groups
                        .iter()
                        .position(|((a, r), _)| *r == readonly && a.same_as(addr))
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

            let asking = |i: usize| states.get(i).asking.is_some();
            let outcomes = if let [((addr, readonly), idxs)] = groups.as_slice() {
                let node = self.node(addr, *readonly);
                vec![send_to_node(&node, idxs, units, asking, &self.counters, window).await]
            } else {
                let nodes: Vec<Arc<NodeConn>> = groups
                    .iter()
                    .map(|((addr, readonly), _)| self.node(addr, *readonly))
                    .collect();
                let sends = groups.iter().zip(&nodes).map(|((_, idxs), node)| {
                    send_to_node(node, idxs, units, asking, &self.counters, window)
                });
                join_all(sends).await
            };

            let mut unknown: Vec<(usize, Redirect, String)> = Vec::new();
            for (((addr, readonly), idxs), outcome) in groups.iter().zip(outcomes) {
                match outcome {
                    Err(failure) => {
                        self.counters.connection_error();
                        for &i in idxs {
                            states.clear_asking(i);
                            if *readonly {
                                states.at(i).avoid_replica = true;
                            }
                            if failure.retryable(units[i].resend_on_loss) {
                                states.at(i).last =
                                    Some(LastFailure::Connection(failure.error.clone()));
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
                            states.clear_asking(i);
                            let e = match outcome {
                                Outcome::Done(r) => {
                                    results[i] = Some(r.map_err(Error::Server));
                                    continue;
                                }
                                Outcome::Missing => {
                                    results[i] = Some(Err(missing_reply(addr)));
                                    continue;
                                }
                                Outcome::Error(e) => e,
                            };
                            let verdict = classify(&e, &addr.host);
                            if *readonly && verdict != Verdict::Final {
                                // A replica that redirects (to its master), is loading or is
                                // refused: read this one from the master instead.
                                states.at(i).avoid_replica = true;
                                next.push(i);
                                continue;
                            }
                            match verdict {
                                Verdict::Redirect(redirect) => {
                                    let state = states.at(i);
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
                                    self.follow(&redirect, generation, states.at(i));
                                    next.push(i);
                                }
                                Verdict::Backoff => {
                                    self.counters.tryagain();
                                    states.at(i).last = Some(LastFailure::Server {
                                        addr: addr.to_string(),
                                        error: e.clone(),
                                    });
                                    need_backoff = true;
                                    next.push(i);
                                }
                                Verdict::RefreshBackoff => {
                                    self.counters.retry();
                                    states.at(i).last = Some(LastFailure::Server {
                                        addr: addr.to_string(),
                                        error: e.clone(),
                                    });
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
                        self.follow(&redirect, generation, states.at(i));
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
                    let last = states
                        .at(i)
                        .last
                        .take()
                        .unwrap_or_else(|| LastFailure::Refused("redirects".into()));
                    results[i] = Some(Err(last.gave_up(now - start)));
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

    fn follow(self: &Arc<Self>, redirect: &Redirect, generation: u64, state: &mut UnitState) {
        match redirect {
            Redirect::Moved(slot, to) => {
                self.counters.moved();
                self.apply_moved(*slot, to, generation);
                self.schedule_refresh();
                state.moved_to = Some(to.clone());
            }
            Redirect::Ask(_, to) => {
                self.counters.ask();
                state.asking = Some(to.clone());
            }
        }
    }
}

/// What kind of scalar reply `r` is, for messages.
fn scalar_kind(r: &Reply) -> &'static str {
    match r {
        Reply::Status(_) => "a status",
        Reply::Bulk(_) => "a string",
        Reply::Int(_) => "an integer",
        Reply::Nil => "nil",
        _ => "a reply",
    }
}
