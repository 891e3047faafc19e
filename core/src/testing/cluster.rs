//! A Redis Cluster of M masters with R replicas each, and its fault helpers.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::slot::{Slot, SLOT_COUNT};

use super::migration::SlotMigration;
use super::node::{self, wait_for, Auth, Kind, Node, Spec};
use super::standalone::temp_dir;
use super::EmbeddedError;

/// How long forming a cluster may take.
const FORMATION_TIMEOUT: Duration = Duration::from_secs(60);

/// A Redis Cluster on loopback: M masters with R replicas each, formed deterministically with
/// `CLUSTER MEET`, `CLUSTER ADDSLOTSRANGE` (slots split evenly, master 0 first) and
/// `CLUSTER REPLICATE`.
///
/// [`nodes`](Self::nodes) lists the masters as started, then the replicas (replica `j` of
/// master `i` at index `masters + i * replicas + j`); roles change with failovers, so ask
/// [`masters`](Self::masters) or [`master_for_slot`](Self::master_for_slot) for the live view.
/// Dropping the cluster kills and reaps every node and deletes its directory.
///
/// ```no_run
/// use slotshift::testing::Cluster;
/// use slotshift::key_slot;
/// let cluster = Cluster::start(3, 1)?;
/// let owner = cluster.master_for_slot(key_slot(b"user:1"))?;
/// let replica = cluster.replicas_of(owner)?[0];
/// cluster.kill(owner)?;
/// cluster.failover(replica, slotshift::testing::FailoverKind::Force)?;
/// cluster.wait_state_ok(std::time::Duration::from_secs(10))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Cluster {
    // Field order matters: nodes are killed before the directory is removed.
    nodes: Vec<Node>,
    auth: Auth,
    masters: usize,
    replicas: usize,
    node_timeout_ms: u64,
    dir: tempfile::TempDir,
}

/// Options for [`Cluster`]; see [`Cluster::builder`].
#[derive(Debug)]
#[non_exhaustive]
pub struct ClusterBuilder {
    masters: usize,
    replicas: usize,
    auth: Auth,
    node_timeout_ms: u64,
    debug_command: bool,
    config: Vec<(String, String)>,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        ClusterBuilder {
            masters: 3,
            replicas: 0,
            auth: Auth::default(),
            node_timeout_ms: 2000,
            debug_command: false,
            config: Vec::new(),
        }
    }
}

/// How [`Cluster::failover`] asks a replica to take over (`CLUSTER FAILOVER [FORCE|TAKEOVER]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FailoverKind {
    /// Coordinated with the (reachable) master: no write is lost.
    #[default]
    Default,
    /// Without the master (dead or paused), still with the other masters' votes.
    Force,
    /// Without anyone's agreement: the replica bumps the epoch itself.
    Takeover,
}

impl ClusterBuilder {
    /// Number of masters (default 3).
    pub fn masters(mut self, masters: usize) -> Self {
        self.masters = masters;
        self
    }

    /// Replicas per master (default 0).
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas;
        self
    }

    /// `requirepass` and `masterauth` on every node.
    pub fn password(mut self, password: &str) -> Self {
        self.auth.password = Some(password.to_string());
        self
    }

    /// An ACL user with every permission on every node; URLs carry this user.
    pub fn acl_user(mut self, user: &str, password: &str) -> Self {
        self.auth.acl_user = Some((user.to_string(), password.to_string()));
        self
    }

    /// `cluster-node-timeout` in milliseconds (default 2000): how fast failures are detected.
    pub fn node_timeout_ms(mut self, ms: u64) -> Self {
        self.node_timeout_ms = ms;
        self
    }

    /// `enable-debug-command yes` on every node.
    pub fn debug_command(mut self, enabled: bool) -> Self {
        self.debug_command = enabled;
        self
    }

    /// Any other `redis.conf` directive for every node.
    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.config.push((key.to_string(), value.to_string()));
        self
    }

    /// Starts the nodes, forms the cluster and waits until it is fully ready: every node says
    /// `cluster_state:ok`, knows every other node, and every replica is in sync.
    pub fn start(self) -> Result<Cluster, EmbeddedError> {
        if self.masters == 0 || self.masters > usize::from(SLOT_COUNT) {
            return Err(EmbeddedError::Invalid(format!(
                "a cluster needs between 1 and 16384 masters, not {}",
                self.masters
            )));
        }
        let total = self.masters * (1 + self.replicas);
        let dir = temp_dir("cluster")?;
        let spec = Spec {
            dir: dir.path(),
            kind: Kind::Cluster {
                node_timeout_ms: self.node_timeout_ms,
            },
            auth: &self.auth,
            debug_command: self.debug_command,
            config: &self.config,
            raw_lines: Vec::new(),
        };
        let nodes = start_all(&spec, total)?;
        let mut cluster = Cluster {
            nodes,
            auth: self.auth.clone(),
            masters: self.masters,
            replicas: self.replicas,
            node_timeout_ms: self.node_timeout_ms,
            dir,
        };
        cluster.form()?;
        Ok(cluster)
    }
}

/// Starts `count` nodes concurrently.
fn start_all(spec: &Spec<'_>, count: usize) -> Result<Vec<Node>, EmbeddedError> {
    let results: Vec<Result<Node, EmbeddedError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .map(|_| scope.spawn(|| node::start(spec)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(EmbeddedError::Unexpected(
                        "a node start-up thread panicked".into(),
                    ))
                })
            })
            .collect()
    });
    // Started nodes are dropped (killed) if any other failed.
    results.into_iter().collect()
}

/// The inclusive slot range given to master `index` of `masters`.
fn slot_range(index: usize, masters: usize) -> (u16, u16) {
    let count = usize::from(SLOT_COUNT);
    let start = index * count / masters;
    let end = (index + 1) * count / masters - 1;
    // Both are below 16384.
    (
        u16::try_from(start).unwrap_or(0),
        u16::try_from(end).unwrap_or(SLOT_COUNT - 1),
    )
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone)]
pub(crate) struct NodeLine {
    pub(crate) id: String,
    pub(crate) flags: Vec<String>,
    pub(crate) master_id: Option<String>,
    pub(crate) connected: bool,
    pub(crate) slots: Vec<(u16, u16)>,
}

impl NodeLine {
    pub(crate) fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    pub(crate) fn is_master(&self) -> bool {
        self.has_flag("master")
    }

    pub(crate) fn is_failed(&self) -> bool {
        self.has_flag("fail") || self.has_flag("fail?")
    }

    pub(crate) fn owns(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(a, b)| a <= slot && slot <= b)
    }
}

/// Parses `CLUSTER NODES` output.
pub(crate) fn parse_nodes(text: &str) -> Result<Vec<NodeLine>, EmbeddedError> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 8 {
            return Err(EmbeddedError::Unexpected(format!(
                "CLUSTER NODES line with {} fields: {line}",
                fields.len()
            )));
        }
        let mut slots = Vec::new();
        for item in &fields[8..] {
            if item.starts_with('[') {
                continue; // importing/migrating markers
            }
            let parsed = match item.split_once('-') {
                Some((a, b)) => a.parse().ok().zip(b.parse().ok()),
                None => item.parse().ok().map(|s| (s, s)),
            };
            if let Some(range) = parsed {
                slots.push(range);
            }
        }
        out.push(NodeLine {
            id: fields[0].to_string(),
            flags: fields[2].split(',').map(str::to_string).collect(),
            master_id: (fields[3] != "-").then(|| fields[3].to_string()),
            connected: fields[7] == "connected",
            slots,
        });
    }
    Ok(out)
}

impl Cluster {
    /// Starts `masters` masters with `replicas_per_master` replicas each (default options).
    pub fn start(masters: usize, replicas_per_master: usize) -> Result<Cluster, EmbeddedError> {
        Self::builder()
            .masters(masters)
            .replicas(replicas_per_master)
            .start()
    }

    /// Options: size, password, ACL user, node timeout, DEBUG command, extra config.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    fn form(&mut self) -> Result<(), EmbeddedError> {
        for node in &mut self.nodes {
            let id: String = node.query(redis::cmd("CLUSTER").arg("MYID"))?;
            node.set_id(id);
        }
        for (i, master) in self.nodes[..self.masters].iter().enumerate() {
            // Distinct epochs up front, as `redis-cli --cluster create` does, so no epoch
            // collision has to be resolved later.
            let _: () = master.query(redis::cmd("CLUSTER").arg("SET-CONFIG-EPOCH").arg(i + 1))?;
            let (start, end) = slot_range(i, self.masters);
            let _: () = master.query(
                redis::cmd("CLUSTER")
                    .arg("ADDSLOTSRANGE")
                    .arg(start)
                    .arg(end),
            )?;
        }
        let first = &self.nodes[0];
        for other in &self.nodes[1..] {
            let _: () = first.query(
                redis::cmd("CLUSTER")
                    .arg("MEET")
                    .arg("127.0.0.1")
                    .arg(other.port()),
            )?;
        }
        let total = self.nodes.len();
        wait_for(
            &format!("all {total} cluster nodes to know each other"),
            FORMATION_TIMEOUT,
            |last| {
                for node in &self.nodes {
                    let lines = self.cluster_nodes(node)?;
                    let known = lines
                        .iter()
                        .filter(|l| {
                            l.connected && !l.has_flag("handshake") && !l.has_flag("noaddr")
                        })
                        .count();
                    if known != total {
                        *last = format!("127.0.0.1:{} knows {known} of {total}", node.port());
                        return Ok(None);
                    }
                }
                Ok(Some(()))
            },
        )?;
        for i in 0..self.masters {
            for j in 0..self.replicas {
                let replica = &self.nodes[self.masters + i * self.replicas + j];
                let master_id = self.nodes[i].id();
                let _: () = replica.query(redis::cmd("CLUSTER").arg("REPLICATE").arg(master_id))?;
            }
        }
        self.wait_ready(FORMATION_TIMEOUT)
    }

    /// Waits until the cluster is as built: every node `cluster_state:ok`, every node sees every
    /// replica attached to its master, every replica's link is up.
    fn wait_ready(&self, timeout: Duration) -> Result<(), EmbeddedError> {
        wait_for("the new cluster to be ready", timeout, |last| {
            for node in &self.nodes {
                if !self.node_state_ok(node)? {
                    *last = format!("127.0.0.1:{} is not cluster_state:ok", node.port());
                    return Ok(None);
                }
                let lines = self.cluster_nodes(node)?;
                for i in 0..self.masters {
                    for j in 0..self.replicas {
                        let replica = &self.nodes[self.masters + i * self.replicas + j];
                        let master_id = self.nodes[i].id();
                        let attached = lines.iter().any(|l| {
                            l.id == replica.id()
                                && l.has_flag("slave")
                                && l.master_id.as_deref() == Some(master_id)
                        });
                        if !attached {
                            *last = format!(
                                "127.0.0.1:{} does not yet see 127.0.0.1:{} as a replica of 127.0.0.1:{}",
                                node.port(),
                                replica.port(),
                                self.nodes[i].port()
                            );
                            return Ok(None);
                        }
                    }
                }
            }
            for replica in &self.nodes[self.masters..] {
                let link = replica.info_field("replication", "master_link_status")?;
                if link.as_deref() != Some("up") {
                    *last = format!(
                        "replica 127.0.0.1:{} master_link_status:{}",
                        replica.port(),
                        link.unwrap_or_default()
                    );
                    return Ok(None);
                }
            }
            Ok(Some(()))
        })
    }

    fn node_state_ok(&self, node: &Node) -> Result<bool, EmbeddedError> {
        let info: String = node.query(redis::cmd("CLUSTER").arg("INFO"))?;
        Ok(node::info_value(&info, "cluster_state").as_deref() == Some("ok"))
    }

    /// `CLUSTER NODES` as seen by `node`.
    pub(crate) fn cluster_nodes(&self, node: &Node) -> Result<Vec<NodeLine>, EmbeddedError> {
        let text: String = node.query(redis::cmd("CLUSTER").arg("NODES"))?;
        parse_nodes(&text)
    }

    /// The view of an available node that considers itself a master (most up to date), else of
    /// any available node.
    pub(crate) fn live_view(&self) -> Result<Vec<NodeLine>, EmbeddedError> {
        let mut fallback = None;
        let mut last_error = None;
        for node in self.nodes.iter().filter(|n| n.is_available()) {
            match self.cluster_nodes(node) {
                Ok(lines) => {
                    let me_master = lines.iter().any(|l| l.has_flag("myself") && l.is_master());
                    if me_master {
                        return Ok(lines);
                    }
                    fallback.get_or_insert(lines);
                }
                Err(e) => last_error = Some(e),
            }
        }
        fallback.ok_or_else(|| {
            last_error.unwrap_or_else(|| {
                EmbeddedError::Invalid("every node of the cluster is killed or paused".into())
            })
        })
    }

    /// Every node, masters as started first, then replicas.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node with this cluster node id.
    pub fn node_by_id(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id() == id)
    }

    /// The node on this port.
    pub fn node_by_port(&self, port: u16) -> Option<&Node> {
        self.nodes.iter().find(|n| n.port() == port)
    }

    fn known(&self, id: &str) -> Result<&Node, EmbeddedError> {
        self.node_by_id(id).ok_or_else(|| {
            EmbeddedError::Unexpected(format!("cluster reports unknown node id {id}"))
        })
    }

    /// URLs of every node that is still running (masters and replicas), for a client's seed list.
    pub fn seed_urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.is_alive())
            .map(Node::url)
            .collect()
    }

    /// The URL of one running node (the first available one).
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .find(|n| n.is_available())
            .unwrap_or(&self.nodes[0])
            .url()
    }

    /// The current masters, asked live, in [`nodes`](Self::nodes) order; nodes that are killed
    /// or flagged failing are left out.
    pub fn masters(&self) -> Result<Vec<&Node>, EmbeddedError> {
        let lines = self.live_view()?;
        let ids: Vec<&str> = lines
            .iter()
            .filter(|l| l.is_master() && !l.is_failed())
            .map(|l| l.id.as_str())
            .collect();
        Ok(self
            .nodes
            .iter()
            .filter(|n| n.is_alive() && ids.contains(&n.id()))
            .collect())
    }

    /// The replicas currently attached to `master`, asked live (killed or failing ones left out).
    pub fn replicas_of(&self, master: &Node) -> Result<Vec<&Node>, EmbeddedError> {
        let lines = self.live_view()?;
        let ids: Vec<&str> = lines
            .iter()
            .filter(|l| l.master_id.as_deref() == Some(master.id()) && !l.is_failed())
            .map(|l| l.id.as_str())
            .collect();
        Ok(self
            .nodes
            .iter()
            .filter(|n| n.is_alive() && ids.contains(&n.id()))
            .collect())
    }

    /// The master that owns `slot`, asked live.
    pub fn master_for_slot(&self, slot: Slot) -> Result<&Node, EmbeddedError> {
        let lines = self.live_view()?;
        let owner = lines
            .iter()
            .find(|l| l.is_master() && l.owns(slot.get()))
            .ok_or_else(|| EmbeddedError::Unexpected(format!("no master owns slot {slot}")))?;
        self.known(&owner.id)
    }

    /// The slots `master` owns, asked live.
    pub fn slots_of(&self, master: &Node) -> Result<Vec<Slot>, EmbeddedError> {
        let lines = self.live_view()?;
        let mut out = Vec::new();
        for line in lines.iter().filter(|l| l.id == master.id()) {
            for &(a, b) in &line.slots {
                out.extend((a..=b).filter_map(Slot::new));
            }
        }
        Ok(out)
    }

    /// `cluster-node-timeout` of every node.
    pub fn node_timeout(&self) -> Duration {
        Duration::from_millis(self.node_timeout_ms)
    }

    /// The temporary directory holding every node's config, log and data files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// SIGKILL `node` and wait until it is gone.
    pub fn kill(&self, node: &Node) -> Result<(), EmbeddedError> {
        node.kill()
    }

    /// SIGSTOP `node`.
    pub fn pause(&self, node: &Node) -> Result<(), EmbeddedError> {
        node.pause()
    }

    /// SIGCONT `node`.
    pub fn resume(&self, node: &Node) -> Result<(), EmbeddedError> {
        node.resume()
    }

    /// Starts a killed node again on its port with its `nodes.conf`, so it rejoins with the same
    /// node id (its data is gone: persistence is off). Returns once it answers PING; use
    /// [`wait_state_ok`](Self::wait_state_ok) or
    /// [`wait_until_replica_of`](Self::wait_until_replica_of) to wait for it to settle.
    pub fn restart(&self, node: &Node) -> Result<(), EmbeddedError> {
        node.restart()
    }

    /// `FLUSHALL` on every available master (between tests sharing a cluster).
    pub fn flushall(&self) -> Result<(), EmbeddedError> {
        for master in self.masters()?.into_iter().filter(|m| m.is_available()) {
            master.query::<()>(&redis::cmd("FLUSHALL"))?;
        }
        Ok(())
    }

    /// `CONFIG RESETSTAT` on every available node, so `INFO errorstats`/`commandstats` oracles
    /// start at zero.
    pub fn reset_stats(&self) -> Result<(), EmbeddedError> {
        for node in self.nodes.iter().filter(|n| n.is_available()) {
            node.query::<()>(redis::cmd("CONFIG").arg("RESETSTAT"))?;
        }
        Ok(())
    }

    /// Sends `CLUSTER FAILOVER [FORCE|TAKEOVER]` to the replica `node` and returns at once.
    pub fn start_failover(&self, node: &Node, kind: FailoverKind) -> Result<(), EmbeddedError> {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("FAILOVER");
        match kind {
            FailoverKind::Default => {}
            FailoverKind::Force => {
                cmd.arg("FORCE");
            }
            FailoverKind::Takeover => {
                cmd.arg("TAKEOVER");
            }
        }
        node.query::<()>(&cmd)
    }

    /// Fails over to the replica `node` ([`start_failover`](Self::start_failover)) and waits
    /// until it is master ([`wait_until_master`](Self::wait_until_master)).
    pub fn failover(&self, node: &Node, kind: FailoverKind) -> Result<(), EmbeddedError> {
        self.start_failover(node, kind)?;
        self.wait_until_master(node, self.failover_timeout())
    }

    fn failover_timeout(&self) -> Duration {
        // Election delays are bounded by a few node timeouts; leave ample room on a slow machine.
        self.node_timeout() * 10 + Duration::from_secs(10)
    }

    /// Waits until `node` says it is a master owning slots, every available node sees it as a
    /// master, and the available nodes agree on each other's roles (so a demoted master has
    /// turned into a replica everywhere).
    pub fn wait_until_master(&self, node: &Node, timeout: Duration) -> Result<(), EmbeddedError> {
        wait_for(
            &format!("127.0.0.1:{} to become master", node.port()),
            timeout,
            |last| {
                let own = self.cluster_nodes(node)?;
                let me = own.iter().find(|l| l.has_flag("myself"));
                if !me.is_some_and(|l| l.is_master() && !l.slots.is_empty()) {
                    *last = format!("it still reports flags {:?}", me.map(|l| &l.flags));
                    return Ok(None);
                }
                for other in self.nodes.iter().filter(|n| n.is_available()) {
                    let lines = self.cluster_nodes(other)?;
                    if !lines.iter().any(|l| l.id == node.id() && l.is_master()) {
                        *last = format!("127.0.0.1:{} does not agree yet", other.port());
                        return Ok(None);
                    }
                }
                match self.views_agree()? {
                    None => Ok(Some(())),
                    Some(disagreement) => {
                        *last = disagreement;
                        Ok(None)
                    }
                }
            },
        )
    }

    /// Waits until `node` says it is a replica of `master` with its replication link up (a
    /// resumed, demoted master rejoins this way).
    pub fn wait_until_replica_of(
        &self,
        node: &Node,
        master: &Node,
        timeout: Duration,
    ) -> Result<(), EmbeddedError> {
        wait_for(
            &format!(
                "127.0.0.1:{} to replicate 127.0.0.1:{}",
                node.port(),
                master.port()
            ),
            timeout,
            |last| {
                let own = self.cluster_nodes(node)?;
                let me = own.iter().find(|l| l.has_flag("myself"));
                if me.is_none_or(|l| l.master_id.as_deref() != Some(master.id())) {
                    *last = format!("it reports flags {:?}", me.map(|l| &l.flags));
                    return Ok(None);
                }
                let link = node.info_field("replication", "master_link_status")?;
                if link.as_deref() != Some("up") {
                    *last = format!("master_link_status:{}", link.unwrap_or_default());
                    return Ok(None);
                }
                Ok(Some(()))
            },
        )
    }

    /// `None` when every available node sees every available node in the role that node
    /// claims for itself (master, or replica of the same master); else a description.
    fn views_agree(&self) -> Result<Option<String>, EmbeddedError> {
        let available: Vec<&Node> = self.nodes.iter().filter(|n| n.is_available()).collect();
        let mut views = Vec::with_capacity(available.len());
        for node in &available {
            views.push(self.cluster_nodes(node)?);
        }
        for (node, view) in available.iter().zip(&views) {
            let Some(me) = view.iter().find(|l| l.has_flag("myself")) else {
                return Ok(Some(format!(
                    "127.0.0.1:{} does not list itself",
                    node.port()
                )));
            };
            for (other, other_view) in available.iter().zip(&views) {
                let seen = other_view.iter().find(|l| l.id == me.id);
                let same = seen.is_some_and(|l| {
                    l.is_master() == me.is_master() && l.master_id == me.master_id
                });
                if !same {
                    return Ok(Some(format!(
                        "127.0.0.1:{} does not yet see 127.0.0.1:{} as {}",
                        other.port(),
                        node.port(),
                        if me.is_master() { "master" } else { "replica" }
                    )));
                }
            }
        }
        Ok(None)
    }

    /// Waits until every available (not killed, not paused) node says `cluster_state:ok`.
    pub fn wait_state_ok(&self, timeout: Duration) -> Result<(), EmbeddedError> {
        wait_for(
            "cluster_state:ok on every available node",
            timeout,
            |last| {
                for node in self.nodes.iter().filter(|n| n.is_available()) {
                    if !self.node_state_ok(node)? {
                        *last = format!("127.0.0.1:{} is not ok", node.port());
                        return Ok(None);
                    }
                }
                Ok(Some(()))
            },
        )
    }

    /// Waits until every available node agrees that `owner` owns every slot in `slots`.
    pub fn wait_slots_owned(
        &self,
        slots: &[Slot],
        owner: &Node,
        timeout: Duration,
    ) -> Result<(), EmbeddedError> {
        wait_for(
            &format!(
                "every node to see 127.0.0.1:{} owning {} slot(s)",
                owner.port(),
                slots.len()
            ),
            timeout,
            |last| {
                for node in self.nodes.iter().filter(|n| n.is_available()) {
                    let lines = self.cluster_nodes(node)?;
                    let mine = lines.iter().find(|l| l.id == owner.id());
                    for slot in slots {
                        if !mine.is_some_and(|l| l.owns(slot.get())) {
                            *last =
                                format!("127.0.0.1:{} disagrees about slot {slot}", node.port());
                            return Ok(None);
                        }
                    }
                }
                Ok(Some(()))
            },
        )
    }

    /// Starts moving `slot` from master `from` to master `to`, one step at a time; see
    /// [`SlotMigration`].
    pub fn slot_migration<'a>(
        &'a self,
        slot: Slot,
        from: &'a Node,
        to: &'a Node,
    ) -> Result<SlotMigration<'a>, EmbeddedError> {
        SlotMigration::new(self, slot, from, to)
    }

    /// Moves `slot` with its keys from `from` to `to` (every step of [`SlotMigration`]).
    pub fn move_slot(&self, slot: Slot, from: &Node, to: &Node) -> Result<usize, EmbeddedError> {
        let migration = self.slot_migration(slot, from, to)?;
        migration.set_importing()?;
        migration.set_migrating()?;
        let moved = migration.migrate_keys(100)?;
        migration.finish()?;
        Ok(moved)
    }

    /// Moves `n` slots (the highest `from` owns) with their keys from `from` to `to`, then
    /// waits until every available node agrees. Returns the slots moved.
    pub fn move_slots(&self, n: usize, from: &Node, to: &Node) -> Result<Vec<Slot>, EmbeddedError> {
        let owned = self.slots_of(from)?;
        if owned.len() < n {
            return Err(EmbeddedError::Invalid(format!(
                "cannot move {n} slots from 127.0.0.1:{}: it owns {}",
                from.port(),
                owned.len()
            )));
        }
        let slots: Vec<Slot> = owned[owned.len() - n..].to_vec();
        for &slot in &slots {
            self.move_slot(slot, from, to)?;
        }
        self.wait_slots_owned(&slots, to, self.failover_timeout())?;
        Ok(slots)
    }

    /// The MIGRATE authentication arguments (`AUTH password`), if the cluster has a password.
    pub(crate) fn migrate_auth(&self) -> Option<&str> {
        self.auth.password.as_deref()
    }

    /// Masters and replicas per master, as built.
    pub fn shape(&self) -> (usize, usize) {
        (self.masters, self.replicas)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Signal every node first so they die in parallel; each Node's drop then reaps its own.
        for node in &self.nodes {
            node.process().start_kill();
        }
    }
}

impl fmt::Display for FailoverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailoverKind::Default => "CLUSTER FAILOVER",
            FailoverKind::Force => "CLUSTER FAILOVER FORCE",
            FailoverKind::Takeover => "CLUSTER FAILOVER TAKEOVER",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_ranges_cover_everything_once() {
        for masters in [1, 2, 3, 5, 7] {
            let mut next = 0u32;
            for i in 0..masters {
                let (a, b) = slot_range(i, masters);
                assert_eq!(u32::from(a), next);
                next = u32::from(b) + 1;
            }
            assert_eq!(next, 16384);
        }
    }

    #[test]
    fn parses_cluster_nodes() {
        let text = "a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 [5461->-b2]\n\
                    b2 127.0.0.1:7001@17001 slave a1 0 1 1 connected\n";
        let lines = parse_nodes(text).unwrap();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].is_master() && lines[0].owns(5460) && !lines[0].owns(5461));
        assert_eq!(lines[1].master_id.as_deref(), Some("a1"));
    }
}
