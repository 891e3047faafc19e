//! [`Store`]: one interface over a standalone server, a Sentinel-managed master and a cluster.
//!
//! ```no_run
//! use slotshift::command::Cmd;
//! use slotshift::store::Store;
//!
//! // Any node of a cluster, or a standalone server: the kind is detected.
//! let store = Store::open("redis://127.0.0.1:7000")?;
//! store.call(&Cmd::from_args(["SET", "greeting", "hello"]))?;
//! let replies = store.pipeline(&[
//!     Cmd::from_args(["GET", "greeting"]),
//!     Cmd::from_args(["INCR", "visits"]),
//! ])?;
//! assert_eq!(replies.len(), 2);
//! # Ok::<(), slotshift::Error>(())
//! ```
//!
//! The API is blocking (for C, Ruby and Python): a blocking call runs on the calling thread,
//! with its own connections, the I/O done by that thread (see [`crate::net::runtime`]); the
//! `*_async` methods are there for async Rust callers, and what outlives a call runs on one
//! small shared runtime per process. A store survives `fork()`: the child notices the new pid
//! and opens its own connections and runtimes, never touching the parent's.

use std::sync::Arc;

use redis::ConnectionInfo;

use crate::cluster::router::Router;
use crate::cluster::{RouterStats, RoutingError, Topology};
use crate::command::{Cmd, KeyTable};
use crate::config::{Deployment, SentinelConfig, ServerConfig};
use crate::lockfree::AppendList;
use crate::net::node::{addr_of, NodeConn};
use crate::net::runtime;
use crate::net::{NetOptions, NodeAddr, Route, Unit};
use crate::pipeline::compose::{Composition, Step};
use crate::reply::{Reply, ServerError};
use crate::route::{Aggregate, AggregateError, Nodes, Policy};
use crate::slot::{key_slot, Slot};
use crate::{Error, Result};

mod options;
mod single;

pub use crate::net::runtime::Interrupter;
pub use crate::net::{ConnectionError, ConnectionErrorKind};
pub use options::StoreOptions;

/// Runs `future` to completion on the calling thread, from blocking code, as the blocking API
/// does (what [`Store::call`] does around [`Store::call_async`]). For bindings that race a call against
/// an interruption, e.g. Ruby's unblocking function when a thread is killed.
pub fn block_on<F: std::future::Future>(future: F) -> Result<F::Output> {
    Ok(runtime::block_on(future)?)
}

/// Closes the calling thread's own connections, of every store (its next blocking call opens
/// new ones). For bindings whose call was interrupted: its reply may still come, and a thread
/// that is about to end (or be reused) should not keep server connections open — as redis-rb
/// drops its connection after an interrupted command.
pub fn close_thread_connections() {
    crate::net::node::close_caller_connections();
}

/// A handle to the shared runtime (this process's own: after `fork()` the child gets a new
/// one), for bindings that await the core's `*_async` futures from another
/// event loop (Python's asyncio) instead of blocking a thread: tasks spawned on it run beside
/// the store's connections.
pub fn runtime_handle() -> Result<tokio::runtime::Handle> {
    Ok(runtime::shared()?.handle().clone())
}

use single::{SentinelSource, Single};

/// The user guide, `docs/stores.md`: its examples run as doctests against real servers.
#[cfg(all(doctest, feature = "embedded"))]
#[doc = include_str!("../../../docs/stores.md")]
pub struct StoresGuide;

/// What kind of deployment a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreKind {
    /// One server.
    Standalone,
    /// A master found through Sentinel.
    Sentinel,
    /// A Redis Cluster.
    Cluster,
}

/// Which server a store talks to: the run id of every master and the database. Two stores
/// with equal ids reach the same data.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub struct ServerId {
    /// The masters' run ids, sorted.
    pub run_ids: Vec<String>,
    /// The database number (always 0 on a cluster).
    pub db: i64,
}

/// How to (re)build the backend, e.g. in a forked child.
enum Spec {
    Standalone(ConnectionInfo),
    Cluster {
        template: ConnectionInfo,
        seeds: Vec<NodeAddr>,
    },
    Sentinel {
        master_name: String,
        sentinels: Vec<ConnectionInfo>,
        master: ConnectionInfo,
    },
}

enum Backend {
    Single(Box<Single>),
    Cluster(Arc<Router>),
}

struct Shared {
    spec: Spec,
    kind: StoreKind,
    opts: Arc<StoreOptions>,
    /// The transport's part of `opts`, shared with the connections and the router.
    net: Arc<NetOptions>,
    /// Each process's backend with the pid that built it, newest first: one entry per process
    /// of a fork chain that used the store. Lock-free (a lock a parent thread held at `fork()`
    /// would stay held in the child forever); an inherited entry is never dropped, see `Drop`.
    backends: AppendList<(u32, Arc<Backend>)>,
    /// Validator, recorder, stats and batch limit (core::instrument).
    hooks: crate::instrument::StoreHooks,
}

impl Shared {
    /// The backend this process built, if it has one yet.
    fn own_backend(&self, pid: u32) -> Option<Arc<Backend>> {
        self.backends
            .iter()
            .find(|(owner, _)| *owner == pid)
            .map(|(_, b)| b.clone())
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // A backend inherited from a parent process is left as it is: its connections' tasks
        // ran on the parent's runtime, whose threads do not exist here, so tearing it down
        // could wait for them. One extra reference keeps the list's drop from freeing it.
        let pid = std::process::id();
        for (owner, backend) in self.backends.iter() {
            if *owner != pid {
                std::mem::forget(backend.clone());
            }
        }
    }
}

/// A connection to one deployment. Cheap to clone (clones share connections); safe to share
/// between threads.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("kind", &self.shared.kind)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens a store from a URL or seed list as [`Deployment::parse`] reads it, with the
    /// timeouts the URL gives.
    pub fn open(url: &str) -> Result<Store> {
        Store::open_with_options(url, StoreOptions::default())
    }

    /// [`Store::open`] starting from `opts` instead of the defaults: a timeout the URL states
    /// (`?connect_timeout=`, `?command_timeout=`) replaces the one in `opts`; every other
    /// setting of `opts` is used as given ([`StoreOptions::apply_url_timeouts`]).
    pub fn open_with_options(url: &str, mut opts: StoreOptions) -> Result<Store> {
        let deployment = Deployment::parse(url)?;
        if let Some(server) = deployment.servers().first() {
            opts.apply_url_timeouts(server);
        }
        Store::connect(&deployment, opts)
    }

    /// Opens a store for `deployment` with `opts`.
    pub fn connect(deployment: &Deployment, opts: StoreOptions) -> Result<Store> {
        let deployment = deployment.clone();
        runtime::block_on(Store::connect_async(&deployment, opts))?
    }

    /// [`Store::connect`] for async callers (inside a tokio runtime). Connections opened this
    /// way are driven by the caller's runtime, which must outlive the store.
    pub async fn connect_async(deployment: &Deployment, opts: StoreOptions) -> Result<Store> {
        if let Some(name) = &opts.client_name {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
                let shown = crate::text::shorten(name, 64);
                return Err(crate::config::ConfigError::InvalidClientName(shown).into());
            }
        }
        let net = Arc::new(opts.net());
        let opts = Arc::new(opts);
        let spec = match deployment {
            Deployment::Server(server) => Spec::Standalone(connection_info(server)?),
            Deployment::Cluster { seeds } => {
                let infos = seeds
                    .iter()
                    .map(connection_info)
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                let template = infos
                    .first()
                    .cloned()
                    .ok_or(crate::config::ConfigError::NoSeeds)?;
                Spec::Cluster {
                    template,
                    seeds: infos.iter().map(addr_of).collect(),
                }
            }
            Deployment::Sentinel(config) => sentinel_spec(config)?,
            #[allow(unreachable_patterns)]
            _ => {
                return Err(Error::Config(crate::config::ConfigError::NoSeeds));
            }
        };
        let hooks = crate::instrument::StoreHooks::new(&opts.hooks())?;
        let (spec, kind, backend) = build(spec, &net, true).await?;
        let store = Store {
            shared: Arc::new(Shared {
                spec,
                kind,
                opts,
                net,
                backends: {
                    let list = AppendList::new();
                    list.push((std::process::id(), Arc::new(backend)));
                    list
                },
                hooks,
            }),
        };
        if let Some(stats) = &store.shared.hooks.stats {
            // Redirections and retries come from the router's own counters.
            let weak = Arc::downgrade(&store.shared);
            stats.add_router_source(Box::new(move || {
                weak.upgrade().map(|shared| Store { shared }.stats())
            }));
        }
        Ok(store)
    }

    /// The kind of deployment (detected for a single URL).
    pub fn kind(&self) -> StoreKind {
        self.shared.kind
    }

    /// The options this store runs with.
    pub fn options(&self) -> &StoreOptions {
        &self.shared.opts
    }

    async fn backend(&self) -> Result<Arc<Backend>> {
        let pid = runtime::pid();
        if let Some(own) = self.shared.own_backend(pid) {
            return Ok(own);
        }
        // A forked child: build fresh connections; leave the parent's untouched. Threads of
        // the child racing here may each build one; the first published wins.
        let spec = clone_spec(&self.shared.spec);
        let (_, _, backend) = build(spec, &self.shared.net, false).await?;
        let backend = Arc::new(backend);
        let (_, own) = self
            .shared
            .backends
            .get_or_insert_with(|(owner, _)| *owner == pid, || (pid, backend));
        Ok(own.clone())
    }

    /// `cmd` as a unit routed by its slot: its first key's (or shard channel's), or the one a
    /// slot-addressed `CLUSTER` command names; any master for a command without one.
    fn unit<'a>(&self, cmd: &'a Cmd) -> Unit<'a> {
        self.unit_to(cmd, None)
    }

    /// `cmd` as a unit sent by `route`, or by its slot where `route` is `None` (the key table
    /// is asked once; no slot is computed for a given route).
    fn unit_to<'a>(&self, cmd: &'a Cmd, route: Option<Route>) -> Unit<'a> {
        let info = crate::command::lookup(cmd).ok();
        let readonly = info.is_some_and(|info| info.flags().is_readonly());
        let route = route.unwrap_or_else(|| {
            let first_key = info.and_then(|info| {
                crate::command::slot_indices_for(info, cmd)
                    .ok()
                    .and_then(|idx| idx.first().and_then(|&i| cmd.get(i)))
            });
            match first_key
                .map(key_slot)
                .or_else(|| crate::route::slot_argument(cmd))
            {
                Some(slot) => Route::Slot {
                    slot,
                    replica: readonly && self.shared.opts.read_from_replicas,
                },
                None => Route::AnyMaster,
            }
        });
        Unit::single(cmd, route, readonly || self.shared.opts.idempotent_writes)
    }

    async fn send(&self, units: &[Unit<'_>]) -> Result<Vec<Result<Reply>>> {
        Ok(match &*self.backend().await? {
            Backend::Single(single) => single.send(units).await,
            Backend::Cluster(router) => router.send_grouped(units).await,
        })
    }

    /// Sends one unit; its one result.
    async fn send_one(&self, unit: Unit<'_>) -> Result<Reply> {
        only(self.send(std::slice::from_ref(&unit)).await?)
    }

    /// Sends one command; an error reply is `Err(Error::Server)`.
    pub fn call(&self, cmd: &Cmd) -> Result<Reply> {
        runtime::block_on(std::pin::pin!(self.call_async(cmd)))?
    }

    /// [`Store::call`] for async callers.
    pub async fn call_async(&self, cmd: &Cmd) -> Result<Reply> {
        crate::route::refuse_connection_state(std::slice::from_ref(cmd))?;
        let hooks = &self.shared.hooks;
        let probe = hooks.before(std::slice::from_ref(cmd), crate::instrument::Via::Call)?;
        let result = self.call_routed(cmd).await;
        hooks.after_call(probe, cmd, &result);
        result
    }

    /// Sends commands without a fan-out policy through the CrossSlot batcher.
    async fn batched(&self, router: &Arc<Router>, cmds: &[Cmd]) -> Vec<Result<Reply>> {
        let hooks = &self.shared.hooks;
        let observer = hooks.batch_observer();
        let observe = observer
            .as_ref()
            .map(|f| f as &(dyn Fn(usize) + Send + Sync));
        crate::pipeline::exec::run(router, &self.shared.net, cmds, hooks.batch_limit, observe).await
    }

    async fn call_routed(&self, cmd: &Cmd) -> Result<Reply> {
        let backend = self.backend().await?;
        match &*backend {
            Backend::Single(single) => only(
                single
                    .send(&[self.unit_to(cmd, Some(Route::AnyMaster))])
                    .await,
            ),
            Backend::Cluster(router) => self.call_cluster(router, cmd).await,
        }
    }

    /// One command on a cluster, as [`route::policy`](crate::route::policy) says.
    async fn call_cluster(&self, router: &Arc<Router>, cmd: &Cmd) -> Result<Reply> {
        match crate::route::policy(cmd) {
            Policy::FanOut { nodes, reply } => self.fan_out(router, cmd, nodes, reply).await,
            Policy::FirstNonNil => self.first_non_nil(router, cmd).await,
            _ if crate::pipeline::needs_split(cmd) => match Composition::of(cmd) {
                Some(composition) => self.compose(router, composition).await,
                None => only(self.batched(router, std::slice::from_ref(cmd)).await),
            },
            _ => only(router.send_grouped(&[self.unit(cmd)]).await),
        }
    }

    /// Whether `cmd` runs on its own in a cluster pipeline: a fan-out, or a cross-slot
    /// command served in rounds ([`Composition`]).
    fn runs_alone(cmd: &Cmd) -> bool {
        let Ok(info) = crate::command::lookup(cmd) else {
            return false;
        };
        matches!(
            crate::route::policy_of(info),
            Policy::FanOut { .. } | Policy::FirstNonNil
        ) || (crate::pipeline::needs_split_of(info, cmd) && Composition::of(cmd).is_some())
    }

    /// Serves a cross-slot command in rounds: each read round through the batcher, each write
    /// as a transaction on its slot, until the composition has its result.
    async fn compose(&self, router: &Arc<Router>, mut composition: Composition) -> Result<Reply> {
        let mut step = composition.start();
        loop {
            let results = match step {
                Step::Pipeline(cmds) => self.batched(router, &cmds).await,
                Step::Transaction(cmds) => match self.transaction_routed(&cmds).await {
                    Ok(Some(replies)) => replies.into_iter().map(Ok).collect(),
                    Ok(None) => vec![Err(Error::Server(ServerError::new(
                        "EXECABORT",
                        "the transaction writing a cross-slot command's result was aborted",
                    )))],
                    Err(e) => vec![Err(e)],
                },
                Step::Done(result) => return result,
            };
            step = composition.resume(results);
        }
    }

    /// Sends `cmd` to every master (or every node), all at once, and makes their replies one.
    async fn fan_out(
        &self,
        router: &Arc<Router>,
        cmd: &Cmd,
        nodes: Nodes,
        how: Aggregate,
    ) -> Result<Reply> {
        let topology = router.topology();
        let addrs: Vec<NodeAddr> = match nodes {
            Nodes::Masters => topology.masters().cloned().collect(),
            Nodes::All => topology
                .shards()
                .iter()
                .flat_map(|s| std::iter::once(&s.master).chain(&s.replicas))
                .cloned()
                .collect(),
        };
        drop(topology);
        let template = self.unit(cmd);
        let units: Vec<Unit> = addrs
            .iter()
            .map(|addr| Unit {
                route: Route::Node(addr.clone()),
                ..template.clone()
            })
            .collect();
        let results = router.send_grouped(&units).await;
        let named = addrs.iter().map(ToString::to_string).zip(results).collect();
        crate::route::aggregate(how, named).map_err(|e| match e {
            AggregateError::Server { error, .. } => Error::Server(error),
            AggregateError::Failed { error, .. } => error,
            AggregateError::Shape { node, how } => Error::Server(ServerError::new(
                "ERR",
                format!(
                    "{}: the reply of {node} cannot be aggregated ({how:?})",
                    String::from_utf8_lossy(cmd.name())
                ),
            )),
            AggregateError::NoNodes => Error::Routing(RoutingError::NoTopology {
                tried: Vec::new(),
                last: "the slot map names no master".into(),
            }),
        })
    }

    /// Asks one master after another (starting from a different one each call) until one
    /// answers something other than nil: `RANDOMKEY` on a cluster whose shards may be empty.
    async fn first_non_nil(&self, router: &Arc<Router>, cmd: &Cmd) -> Result<Reply> {
        let masters: Vec<NodeAddr> = router.topology().masters().cloned().collect();
        let start = router.next_rotation() % masters.len().max(1);
        let template = self.unit(cmd);
        let mut last = Ok(Reply::Nil);
        for addr in masters.iter().cycle().skip(start).take(masters.len()) {
            let unit = Unit {
                route: Route::Node(addr.clone()),
                ..template.clone()
            };
            last = only(router.send_grouped(&[unit]).await);
            if !matches!(last, Ok(Reply::Nil)) {
                break;
            }
        }
        last
    }

    /// A cluster pipeline: commands with a fan-out policy and cross-slot commands served in
    /// rounds run on their own, in their place (the commands before them first, the ones after
    /// them after), the others through the CrossSlot batcher.
    async fn pipeline_cluster(&self, router: &Arc<Router>, cmds: &[Cmd]) -> Vec<Result<Reply>> {
        let mut out = Vec::with_capacity(cmds.len());
        let mut start = 0;
        for (i, cmd) in cmds.iter().enumerate() {
            if Self::runs_alone(cmd) {
                if start < i {
                    out.extend(self.batched(router, &cmds[start..i]).await);
                }
                out.push(self.call_cluster(router, cmd).await);
                start = i + 1;
            }
        }
        if start < cmds.len() {
            out.extend(self.batched(router, &cmds[start..]).await);
        }
        out
    }

    /// Sends many commands as pipelines (one per node on a cluster, all nodes at once) and
    /// returns each command's result in the order given. Commands that were redirected are
    /// sent again; nothing runs twice.
    pub fn pipeline(&self, cmds: &[Cmd]) -> Result<Vec<Result<Reply>>> {
        runtime::block_on(std::pin::pin!(self.pipeline_async(cmds)))?
    }

    /// [`Store::pipeline`] for async callers.
    pub async fn pipeline_async(&self, cmds: &[Cmd]) -> Result<Vec<Result<Reply>>> {
        crate::route::refuse_connection_state(cmds)?;
        let hooks = &self.shared.hooks;
        let probe = hooks.before(cmds, crate::instrument::Via::Pipeline)?;
        let result = match self.backend().await {
            Ok(backend) => match &*backend {
                Backend::Cluster(router) => Ok(self.pipeline_cluster(router, cmds).await),
                Backend::Single(single) => {
                    let units: Vec<Unit> = cmds
                        .iter()
                        .map(|c| self.unit_to(c, Some(Route::AnyMaster)))
                        .collect();
                    Ok(single.send(&units).await)
                }
            },
            Err(e) => Err(e),
        };
        hooks.after_pipeline(probe, cmds, &result);
        result
    }

    /// Runs `cmds` in MULTI/EXEC and returns EXEC's replies (an error reply inside is a
    /// [`Reply::Error`] in its place). On a cluster every key must hash to one slot; otherwise
    /// nothing is sent and the error is [`RoutingError::CrossSlotTransaction`]. `Ok(None)`
    /// means the transaction was aborted (EXEC answered nil).
    pub fn transaction(&self, cmds: &[Cmd]) -> Result<Option<Vec<Reply>>> {
        runtime::block_on(std::pin::pin!(self.transaction_async(cmds)))?
    }

    /// [`Store::transaction`] for async callers.
    pub async fn transaction_async(&self, cmds: &[Cmd]) -> Result<Option<Vec<Reply>>> {
        crate::route::refuse_connection_state(cmds)?;
        let hooks = &self.shared.hooks;
        let probe = hooks.before(cmds, crate::instrument::Via::Transaction)?;
        let result = self.transaction_routed(cmds).await;
        hooks.after_transaction(probe, cmds, &result);
        result
    }

    async fn transaction_routed(&self, cmds: &[Cmd]) -> Result<Option<Vec<Reply>>> {
        let table = KeyTable::builtin();
        let mut slots: Vec<Slot> = Vec::new();
        let mut readonly = true;
        for cmd in cmds {
            readonly &= table
                .lookup(cmd)
                .map(|i| i.flags().is_readonly())
                .unwrap_or(false);
            for key in table.keys(cmd).unwrap_or_default() {
                let s = key_slot(key);
                if !slots.contains(&s) {
                    slots.push(s);
                }
            }
        }
        if self.shared.kind == StoreKind::Cluster && slots.len() > 1 {
            slots.sort_unstable();
            return Err(Error::Routing(RoutingError::CrossSlotTransaction { slots }));
        }
        let route = match slots.first() {
            Some(&slot) => Route::Slot {
                slot,
                replica: false,
            },
            None => Route::AnyMaster,
        };
        let unit = Unit {
            cmds,
            transaction: true,
            route,
            resend_on_loss: readonly,
        };
        match self.send_one(unit).await? {
            Reply::Array(items) => Ok(Some(items)),
            Reply::Nil => Ok(None),
            // EXEC itself refused (EXECABORT, or a proxy's error): the transaction did not run.
            Reply::Error(e) => Err(Error::Server(e)),
            other => Ok(Some(vec![other])),
        }
    }

    /// Closes this store's open connections politely: `QUIT` on each, then dropped (the
    /// servers see a clean close, not a reset). The store stays usable: the next command opens
    /// new connections. For a store that one client owns (redis-rb's `quit`); a store shared
    /// by other callers may lose their requests in flight. Connections of sessions,
    /// subscribers and blocking commands are their own and not touched.
    pub fn quit(&self) -> Result<()> {
        runtime::block_on(self.quit_async())?
    }

    /// [`Store::quit`] for async callers.
    pub async fn quit_async(&self) -> Result<()> {
        let nodes = match &*self.backend().await? {
            Backend::Single(single) => vec![single.node()],
            Backend::Cluster(router) => router.known_nodes(),
        };
        futures_util::future::join_all(nodes.iter().map(|node| node.quit())).await;
        Ok(())
    }

    /// Sends one command to one node (by address), e.g. to a master from [`Store::masters`].
    pub fn call_on(&self, node: &NodeAddr, cmd: &Cmd) -> Result<Reply> {
        runtime::block_on(std::pin::pin!(self.call_on_async(node, cmd)))?
    }

    /// [`Store::call_on`] for async callers.
    pub async fn call_on_async(&self, node: &NodeAddr, cmd: &Cmd) -> Result<Reply> {
        only(
            self.pipeline_on_async(node, std::slice::from_ref(cmd))
                .await?,
        )
    }

    /// Sends `cmds` to one node (by address) as one pipeline and returns each command's
    /// result in order; a redirect is followed as [`Store::pipeline`] follows it.
    pub async fn pipeline_on_async(
        &self,
        node: &NodeAddr,
        cmds: &[Cmd],
    ) -> Result<Vec<Result<Reply>>> {
        crate::route::refuse_connection_state(cmds)?;
        let units: Vec<Unit> = cmds
            .iter()
            .map(|cmd| self.unit_to(cmd, Some(Route::Node(node.clone()))))
            .collect();
        self.send(&units).await
    }

    /// The connection settings of the master that serves `slot` (a cluster's slot owner as
    /// the store's map has it, refreshed once when no node serves it; the one server
    /// otherwise), for a connection of the caller's own ([`crate::session`]).
    pub(crate) async fn node_for_slot(&self, slot: Slot) -> Result<Arc<NodeConn>> {
        match &*self.backend().await? {
            Backend::Single(single) => Ok(single.node()),
            Backend::Cluster(router) => {
                if router.topology().master_of(slot).is_none() {
                    router.refresh(true).await?;
                }
                let topology = router.topology();
                let owner = topology
                    .master_of(slot)
                    .ok_or(Error::Routing(RoutingError::SlotNotServed { slot }))?;
                Ok(router.node(owner, false))
            }
        }
    }

    /// The connection settings of the node at `addr`, which must be the server (or the
    /// Sentinel-named master) or a node of the cluster's map.
    pub(crate) async fn node_at(&self, addr: &NodeAddr) -> Result<Arc<NodeConn>> {
        let unknown = |known: Vec<String>| {
            Error::Routing(RoutingError::UnknownNode {
                addr: addr.to_string(),
                known: known.join(", "),
            })
        };
        match &*self.backend().await? {
            Backend::Single(single) => {
                let node = single.node();
                if node.addr == *addr {
                    Ok(node)
                } else {
                    Err(unknown(vec![node.addr.to_string()]))
                }
            }
            Backend::Cluster(router) => {
                let topology = router.topology();
                if topology.knows(addr) {
                    Ok(router.node(addr, false))
                } else {
                    Err(unknown(topology.masters().map(|a| a.to_string()).collect()))
                }
            }
        }
    }

    /// The store's validator, recorder and stats, for connections of the caller's own.
    pub(crate) fn hooks(&self) -> &crate::instrument::StoreHooks {
        &self.shared.hooks
    }

    /// The masters: every master that serves slots on a cluster, the server otherwise.
    pub fn masters(&self) -> Result<Vec<NodeAddr>> {
        runtime::block_on(self.masters_async())?
    }

    /// [`Store::masters`] for async callers.
    pub async fn masters_async(&self) -> Result<Vec<NodeAddr>> {
        Ok(match &*self.backend().await? {
            Backend::Single(single) => vec![single.node().addr.clone()],
            Backend::Cluster(router) => router.topology().masters().cloned().collect(),
        })
    }

    /// The node that answers `cmd` when it goes to one node, found as [`Store::call`] routes
    /// it, without sending anything: the server (behind Sentinel, the current master) on a
    /// single server; on a cluster, the master of the slot of its first key (or shard
    /// channel), also for a read that may go to one of that master's replicas. `None` on a
    /// cluster for a keyless command (PING, DBSIZE, INFO …), which goes to one master or
    /// fans out, and for a slot no master serves. For metrics and logs that name the server.
    pub fn node_for(&self, cmd: &Cmd) -> Result<Option<NodeAddr>> {
        let route = self.unit(cmd).route;
        runtime::block_on(async {
            Ok(match (&*self.backend().await?, route) {
                (Backend::Single(single), _) => Some(single.node().addr.clone()),
                (Backend::Cluster(router), Route::Slot { slot, .. }) => {
                    router.topology().master_of(slot).cloned()
                }
                (Backend::Cluster(_), _) => None,
            })
        })?
    }

    /// The cluster's slot map as the store knows it (`None` for a single server).
    pub fn topology(&self) -> Result<Option<Topology>> {
        runtime::block_on(async {
            Ok(match &*self.backend().await? {
                Backend::Single(_) => None,
                Backend::Cluster(router) => Some((*router.topology()).clone()),
            })
        })?
    }

    /// Publishes `message` on `channel`; returns how many subscribers (on the node that took
    /// it) received it.
    pub fn publish(&self, channel: impl AsRef<[u8]>, message: impl AsRef<[u8]>) -> Result<i64> {
        let mut cmd = Cmd::new("PUBLISH");
        cmd.arg(channel).arg(message);
        let reply = self.call(&cmd)?;
        reply.as_int().ok_or_else(|| {
            Error::Server(ServerError::new(
                "ERR",
                format!("PUBLISH answered {reply:?}, not a count of receivers"),
            ))
        })
    }

    /// The database the store's connections select (the URL's `/N`; 0 on a cluster).
    pub fn database(&self) -> i64 {
        match &self.shared.spec {
            Spec::Standalone(info) => info.redis_settings().db(),
            Spec::Sentinel { master, .. } => master.redis_settings().db(),
            Spec::Cluster { .. } => 0,
        }
    }

    /// Which server(s) this store reaches: every master's run id and the database.
    pub fn server_id(&self) -> Result<ServerId> {
        let masters = self.masters()?;
        let db = self.database();
        let mut run_ids = Vec::with_capacity(masters.len());
        for m in &masters {
            let reply = self.call_on(m, &Cmd::from_args(["INFO", "server"]))?;
            let text = reply
                .as_bytes()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            let id = text
                .lines()
                .find_map(|l| l.strip_prefix("run_id:"))
                .map(|s| s.trim().to_owned())
                .ok_or_else(|| {
                    Error::Server(crate::reply::ServerError::new(
                        "ERR",
                        format!("{m}: INFO server has no run_id"),
                    ))
                })?;
            run_ids.push(id);
        }
        run_ids.sort();
        Ok(ServerId { run_ids, db })
    }

    /// What the router has seen so far (redirects, retries, refreshes).
    pub fn stats(&self) -> RouterStats {
        let pid = std::process::id();
        // Before a forked child's first call, the inherited backend's counters.
        let Some(backend) = self
            .shared
            .own_backend(pid)
            .or_else(|| self.shared.backends.iter().next().map(|(_, b)| b.clone()))
        else {
            return RouterStats::default();
        };
        match &*backend {
            Backend::Single(single) => single.counters.snapshot(),
            Backend::Cluster(router) => router.counters.snapshot(),
        }
    }
}

/// The `redis` crate's connection info for `server`, with its CA and client certificate (if
/// any) loaded into the TLS parameters, which every node reached from it (redirect targets,
/// replicas) inherits. Verification stays on unless the URL opted out (`insecure`).
fn connection_info(server: &ServerConfig) -> Result<ConnectionInfo> {
    let info = server.to_connection_info()?;
    let Some(tls) = server.tls.as_ref().filter(|t| t.enabled) else {
        return Ok(info);
    };
    if tls.ca_file.is_none() && tls.cert_file.is_none() {
        return Ok(info); // the system's roots
    }
    let pem = tls.load_pem()?;
    let client_tls = match (pem.client_cert, pem.client_key) {
        (Some(client_cert), Some(client_key)) => Some(redis::ClientTlsConfig {
            client_cert,
            client_key: client_key.to_vec(),
        }),
        _ => None,
    };
    let certs = redis::TlsCertificates {
        client_tls,
        root_cert: pem.root_cert,
    };
    let node = addr_of(&info);
    let client = redis::Client::build_with_tls(info, certs).map_err(|e| {
        Error::Connection(ConnectionError::new(
            &node,
            ConnectionErrorKind::Connect,
            format!("unusable TLS certificates: {e}"),
        ))
    })?;
    Ok(client.get_connection_info().clone())
}

fn sentinel_spec(config: &SentinelConfig) -> Result<Spec> {
    let master = connection_info(&config.server)?;
    let mut sentinels = Vec::with_capacity(config.sentinels.len());
    for endpoint in &config.sentinels {
        let mut server = ServerConfig::new(endpoint.clone());
        server.username = config.sentinel_username.clone();
        server.password = config.sentinel_password.clone();
        server.tls = config.server.tls.clone();
        sentinels.push(connection_info(&server)?);
    }
    Ok(Spec::Sentinel {
        master_name: config.master_name.clone(),
        sentinels,
        master,
    })
}

fn clone_spec(spec: &Spec) -> Spec {
    match spec {
        Spec::Standalone(i) => Spec::Standalone(i.clone()),
        Spec::Cluster { template, seeds } => Spec::Cluster {
            template: template.clone(),
            seeds: seeds.clone(),
        },
        Spec::Sentinel {
            master_name,
            sentinels,
            master,
        } => Spec::Sentinel {
            master_name: master_name.clone(),
            sentinels: sentinels.clone(),
            master: master.clone(),
        },
    }
}

/// Connects. For a single URL (`detect`) of database 0, asks the node for its cluster
/// topology: a cluster node yields a cluster store seeded with it.
async fn build(
    spec: Spec,
    opts: &Arc<NetOptions>,
    detect: bool,
) -> Result<(Spec, StoreKind, Backend)> {
    match spec {
        Spec::Standalone(info) => {
            let node = NodeConn::new(info.clone(), false, opts);
            // A cluster has only database 0: a URL that selects another names one server, and
            // no probe is sent (nothing is connected until the first command).
            let detect = detect && info.redis_settings().db() == 0;
            if detect {
                match Router::fetch_topology(&node, node.is_tls()).await {
                    Ok(topology) => {
                        let seeds = vec![node.addr.clone()];
                        let router = Router::with_topology(
                            info.clone(),
                            seeds.clone(),
                            topology,
                            opts.clone(),
                        );
                        return Ok((
                            Spec::Cluster {
                                template: info,
                                seeds,
                            },
                            StoreKind::Cluster,
                            Backend::Cluster(router),
                        ));
                    }
                    Err(Error::Server(e)) => {
                        log::debug!("{} is not a cluster node: {e}", node.addr);
                    }
                    Err(e) => return Err(e),
                }
            }
            // The probe's connection is not kept: the store's own opens on its first command.
            // Nothing stays connected that no command needs (a blocking command uses a
            // connection of its own), as with a client that holds one connection at a time.
            let node = if detect {
                NodeConn::new(info.clone(), false, opts)
            } else {
                node
            };
            Ok((
                Spec::Standalone(info),
                StoreKind::Standalone,
                Backend::Single(Box::new(Single::standalone(node, opts.clone()))),
            ))
        }
        Spec::Cluster { template, seeds } => {
            let router = Router::connect(template.clone(), seeds.clone(), opts.clone()).await?;
            Ok((
                Spec::Cluster { template, seeds },
                StoreKind::Cluster,
                Backend::Cluster(router),
            ))
        }
        Spec::Sentinel {
            master_name,
            sentinels,
            master,
        } => {
            let source = SentinelSource {
                master_name: master_name.clone(),
                sentinels: sentinels
                    .iter()
                    .map(|i| Arc::new(NodeConn::new(i.clone(), false, opts)))
                    .collect(),
                master: master.clone(),
            };
            let single = Single::sentinel(source, opts.clone()).await?;
            Ok((
                Spec::Sentinel {
                    master_name,
                    sentinels,
                    master,
                },
                StoreKind::Sentinel,
                Backend::Single(Box::new(single)),
            ))
        }
    }
}

/// The one result of a one-unit send. A missing result is an error, never a silent nil.
fn only(results: Vec<Result<Reply>>) -> Result<Reply> {
    let mut results = results.into_iter();
    match (results.next(), results.next()) {
        (Some(r), None) => r,
        (got, _) => Err(Error::Connection(ConnectionError::new(
            &NodeAddr::new("local", 0),
            ConnectionErrorKind::Protocol,
            format!(
                "expected one result, got {}",
                if got.is_some() { "more" } else { "none" }
            ),
        ))),
    }
}
