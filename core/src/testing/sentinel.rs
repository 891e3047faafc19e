//! A Sentinel-managed master with replicas and a set of Sentinels.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::node::{self, quote, wait_for, Auth, Kind, Node, Spec};
use super::standalone::temp_dir;
use super::EmbeddedError;

/// How long the set may take to be ready (Sentinels discover each other every 2 s).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A master, its replicas and the Sentinels watching them, on loopback.
///
/// The data servers share the password (if any); the Sentinels themselves need none and are told
/// the master's password (`sentinel auth-pass`). Dropping the set kills and reaps every process.
///
/// ```no_run
/// use slotshift::testing::SentinelSet;
/// let set = SentinelSet::start()?;
/// let old = set.master().port();
/// set.kill_master()?;
/// let new = set.wait_for_new_master(std::time::Duration::from_secs(30))?;
/// assert_ne!(new.port(), old);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SentinelSet {
    // Field order matters: processes are killed before the directory is removed.
    sentinels: Vec<Node>,
    /// The master as started, then the replicas.
    data: Vec<Node>,
    master: AtomicUsize,
    master_name: String,
    dir: tempfile::TempDir,
}

/// Options for [`SentinelSet`]; see [`SentinelSet::builder`].
#[derive(Debug)]
#[non_exhaustive]
pub struct SentinelSetBuilder {
    master_name: String,
    replicas: usize,
    sentinels: usize,
    quorum: usize,
    down_after_ms: u64,
    failover_timeout_ms: u64,
    auth: Auth,
    debug_command: bool,
    config: Vec<(String, String)>,
}

impl Default for SentinelSetBuilder {
    fn default() -> Self {
        SentinelSetBuilder {
            master_name: "mymaster".to_string(),
            replicas: 1,
            sentinels: 3,
            quorum: 2,
            down_after_ms: 1000,
            failover_timeout_ms: 5000,
            auth: Auth::default(),
            debug_command: false,
            config: Vec::new(),
        }
    }
}

impl SentinelSetBuilder {
    /// The name the Sentinels monitor the master under (default `mymaster`).
    pub fn master_name(mut self, name: &str) -> Self {
        self.master_name = name.to_string();
        self
    }

    /// Number of replicas (default 1).
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas;
        self
    }

    /// Number of Sentinels (default 3).
    pub fn sentinels(mut self, sentinels: usize) -> Self {
        self.sentinels = sentinels;
        self
    }

    /// How many Sentinels must agree the master is down (default 2).
    pub fn quorum(mut self, quorum: usize) -> Self {
        self.quorum = quorum;
        self
    }

    /// `sentinel down-after-milliseconds` (default 1000).
    pub fn down_after_ms(mut self, ms: u64) -> Self {
        self.down_after_ms = ms;
        self
    }

    /// `sentinel failover-timeout` (default 5000).
    pub fn failover_timeout_ms(mut self, ms: u64) -> Self {
        self.failover_timeout_ms = ms;
        self
    }

    /// `requirepass`/`masterauth` on the master and replicas.
    pub fn password(mut self, password: &str) -> Self {
        self.auth.password = Some(password.to_string());
        self
    }

    /// An ACL user with every permission on the master and replicas; URLs carry this user.
    pub fn acl_user(mut self, user: &str, password: &str) -> Self {
        self.auth.acl_user = Some((user.to_string(), password.to_string()));
        self
    }

    /// `enable-debug-command yes` on the master and replicas.
    pub fn debug_command(mut self, enabled: bool) -> Self {
        self.debug_command = enabled;
        self
    }

    /// Any other `redis.conf` directive for the master and replicas.
    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.config.push((key.to_string(), value.to_string()));
        self
    }

    /// Starts master, replicas (waiting until they are in sync), then the Sentinels, and waits
    /// until every Sentinel reports the master, every replica and every other Sentinel.
    pub fn start(self) -> Result<SentinelSet, EmbeddedError> {
        if self.sentinels == 0 || self.quorum == 0 || self.quorum > self.sentinels {
            return Err(EmbeddedError::Invalid(format!(
                "quorum {} with {} sentinels",
                self.quorum, self.sentinels
            )));
        }
        if self.master_name.is_empty() || self.master_name.contains(char::is_whitespace) {
            return Err(EmbeddedError::Invalid(format!(
                "master name {:?} must be a non-empty word",
                self.master_name
            )));
        }
        let dir = temp_dir("sentinel")?;
        let data_spec = |raw_lines| Spec {
            dir: dir.path(),
            kind: Kind::Plain,
            auth: &self.auth,
            debug_command: self.debug_command,
            config: &self.config,
            raw_lines,
        };
        let master = node::start(&data_spec(Vec::new()))?;
        let master_port = master.port();
        let replica_spec = data_spec(vec![format!("replicaof 127.0.0.1 {master_port}")]);
        let mut data = vec![master];
        for _ in 0..self.replicas {
            data.push(node::start(&replica_spec)?);
        }
        wait_for("replicas to sync with the master", READY_TIMEOUT, |last| {
            for replica in &data[1..] {
                let link = replica.info_field("replication", "master_link_status")?;
                if link.as_deref() != Some("up") {
                    *last = format!("127.0.0.1:{} link {link:?}", replica.port());
                    return Ok(None);
                }
            }
            Ok(Some(()))
        })?;

        let name = &self.master_name;
        let mut lines = vec![
            format!(
                "sentinel monitor {name} 127.0.0.1 {master_port} {}",
                self.quorum
            ),
            format!(
                "sentinel down-after-milliseconds {name} {}",
                self.down_after_ms
            ),
            format!(
                "sentinel failover-timeout {name} {}",
                self.failover_timeout_ms
            ),
            format!("sentinel parallel-syncs {name} 1"),
        ];
        if let Some(password) = &self.auth.password {
            lines.push(format!("sentinel auth-pass {name} {}", quote(password)));
        }
        let no_config = Vec::new();
        let sentinel_auth = Auth::default();
        let sentinel_spec = Spec {
            dir: dir.path(),
            kind: Kind::Sentinel,
            auth: &sentinel_auth,
            debug_command: false,
            config: &no_config,
            raw_lines: lines,
        };
        let mut sentinels = Vec::with_capacity(self.sentinels);
        for _ in 0..self.sentinels {
            sentinels.push(node::start(&sentinel_spec)?);
        }
        let set = SentinelSet {
            sentinels,
            data,
            master: AtomicUsize::new(0),
            master_name: self.master_name.clone(),
            dir,
        };
        set.wait_ready()?;
        Ok(set)
    }
}

impl SentinelSet {
    /// One master, one replica, three Sentinels (quorum 2, down-after 1000 ms).
    pub fn start() -> Result<SentinelSet, EmbeddedError> {
        Self::builder().start()
    }

    /// Options: name, sizes, quorum, timings, password, ACL user, DEBUG command, extra config.
    pub fn builder() -> SentinelSetBuilder {
        SentinelSetBuilder::default()
    }

    fn wait_ready(&self) -> Result<(), EmbeddedError> {
        let master = self.master();
        let replicas = self.data.len() - 1;
        let peers = self.sentinels.len() - 1;
        wait_for(
            "every Sentinel to know the master, its replicas and its peers",
            READY_TIMEOUT,
            |last| {
                for sentinel in &self.sentinels {
                    let addr = self.reported_master(sentinel)?;
                    if addr != Some(master.port()) {
                        *last = format!(
                            "sentinel 127.0.0.1:{} reports master {addr:?}",
                            sentinel.port()
                        );
                        return Ok(None);
                    }
                    let known_replicas = self.count(sentinel, "REPLICAS")?;
                    let known_peers = self.count(sentinel, "SENTINELS")?;
                    if known_replicas != replicas || known_peers != peers {
                        *last = format!(
                        "sentinel 127.0.0.1:{} knows {known_replicas}/{replicas} replicas, {known_peers}/{peers} sentinels",
                        sentinel.port()
                    );
                        return Ok(None);
                    }
                }
                Ok(Some(()))
            },
        )
    }

    fn count(&self, sentinel: &Node, what: &str) -> Result<usize, EmbeddedError> {
        let entries: Vec<redis::Value> =
            sentinel.query(redis::cmd("SENTINEL").arg(what).arg(&self.master_name))?;
        Ok(entries.len())
    }

    /// The master port a Sentinel reports (`SENTINEL GET-MASTER-ADDR-BY-NAME`).
    fn reported_master(&self, sentinel: &Node) -> Result<Option<u16>, EmbeddedError> {
        let addr: Option<(String, String)> = sentinel.query(
            redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(&self.master_name),
        )?;
        Ok(addr.and_then(|(_, port)| port.parse().ok()))
    }

    /// The name the Sentinels monitor the master under.
    pub fn master_name(&self) -> &str {
        &self.master_name
    }

    /// `127.0.0.1:PORT` of every Sentinel.
    pub fn sentinel_addrs(&self) -> Vec<String> {
        self.sentinels.iter().map(Node::addr).collect()
    }

    /// The Sentinels.
    pub fn sentinels(&self) -> &[Node] {
        &self.sentinels
    }

    /// The current master: the one started, until [`wait_for_new_master`](Self::wait_for_new_master)
    /// has seen a failover.
    pub fn master(&self) -> &Node {
        let index = self.master.load(Ordering::SeqCst);
        self.data.get(index).unwrap_or(&self.data[0])
    }

    /// Every data server except the current master that is still running.
    pub fn replicas(&self) -> Vec<&Node> {
        let index = self.master.load(Ordering::SeqCst);
        self.data
            .iter()
            .enumerate()
            .filter(|&(i, n)| i != index && n.is_alive())
            .map(|(_, n)| n)
            .collect()
    }

    /// The master and every replica, as started.
    pub fn data_nodes(&self) -> &[Node] {
        &self.data
    }

    /// SIGKILL the current master.
    pub fn kill_master(&self) -> Result<(), EmbeddedError> {
        self.master().kill()
    }

    /// Waits until every available Sentinel names another server than the current master and
    /// that server says it is a master; remembers it as [`master`](Self::master) and returns it.
    pub fn wait_for_new_master(&self, timeout: Duration) -> Result<&Node, EmbeddedError> {
        let old = self.master().port();
        let new = wait_for(
            &format!("the Sentinels to promote a new master (old: 127.0.0.1:{old})"),
            timeout,
            |last| {
                let mut agreed = None;
                for sentinel in self.sentinels.iter().filter(|s| s.is_available()) {
                    let port = self.reported_master(sentinel)?;
                    match port {
                        Some(p) if p != old && agreed.is_none_or(|a| a == p) => agreed = Some(p),
                        _ => {
                            *last =
                                format!("sentinel 127.0.0.1:{} reports {port:?}", sentinel.port());
                            return Ok(None);
                        }
                    }
                }
                let Some(port) = agreed else {
                    return Err(EmbeddedError::Invalid(
                        "every Sentinel is killed or paused".into(),
                    ));
                };
                let Some(index) = self.data.iter().position(|n| n.port() == port) else {
                    return Err(EmbeddedError::Unexpected(format!(
                        "Sentinels report unknown master 127.0.0.1:{port}"
                    )));
                };
                let role = self.data[index].info_field("replication", "role")?;
                if role.as_deref() != Some("master") {
                    *last = format!("127.0.0.1:{port} still has role {role:?}");
                    return Ok(None);
                }
                Ok(Some(index))
            },
        )?;
        self.master.store(new, Ordering::SeqCst);
        Ok(&self.data[new])
    }

    /// The temporary directory holding every config, log and data file.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
