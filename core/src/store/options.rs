//! Store options: one place for every default.

use std::time::Duration;

use crate::config::{ServerConfig, DEFAULT_COMMAND_TIMEOUT, DEFAULT_CONNECT_TIMEOUT};
use crate::net::NetOptions;

/// How a store connects, times out and retries. Start from `StoreOptions::default()` and set
/// the fields you need.
///
/// ```
/// use std::time::Duration;
/// let mut opts = slotshift::store::StoreOptions::default();
/// opts.response_timeout = Duration::from_millis(500);
/// opts.read_from_replicas = true;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Time allowed to open a connection (TCP, TLS, AUTH/HELLO). Default 5 s
    /// ([`DEFAULT_CONNECT_TIMEOUT`], the same a URL without `?connect_timeout=` means).
    pub connect_timeout: Duration,
    /// Time allowed for a reply (a whole pipeline's replies; on a cluster, each
    /// [`batch_limit`](Self::batch_limit)'s worth of one node's replies) once sent. Default 10 s
    /// ([`DEFAULT_COMMAND_TIMEOUT`], the same a URL without `?command_timeout=` means).
    pub response_timeout: Duration,
    /// Total time a command may spend being retried (TRYAGAIN, CLUSTERDOWN, LOADING, connection
    /// loss, failover). Default 10 s.
    pub retry_deadline: Duration,
    /// Redirects (MOVED, ASK) followed per command before giving up. Default 16.
    pub max_redirects: usize,
    /// A topology refresh is not repeated sooner than this (MOVED storms, CLUSTERDOWN). Default
    /// 100 ms.
    pub min_refresh_interval: Duration,
    /// A cluster's slot map is refreshed in the background this often even when no MOVED
    /// arrives, so slots that moved are learned before a command meets the old owner
    /// (`None`: only on MOVED and errors). Default 30 s.
    pub topology_refresh_interval: Option<Duration>,
    /// First backoff pause; it doubles each round up to `backoff_max`. Default 10 ms.
    pub backoff_base: Duration,
    /// Longest backoff pause. Default 400 ms.
    pub backoff_max: Duration,
    /// Send read-only commands to replicas (which get `READONLY`). Default false.
    pub read_from_replicas: bool,
    /// Treat every write as safe to send twice: after a connection loss where the command may
    /// have reached the server, re-send it instead of returning an "outcome unknown" error.
    /// Right for SET-style workloads, wrong for INCR/LPUSH. Default false.
    pub idempotent_writes: bool,
    /// The store's name: the `instance_name` label of its metrics, the key of its validator
    /// counts, shown in cross-slot errors (`cache`, `shared_state`). Default `default`.
    pub name: String,
    /// Count calls, durations, bytes, errors per command ([`crate::instrument`]). Off, a call
    /// reads no clock and counts nothing. Default true.
    pub instrument: bool,
    /// Commands per batch the CrossSlot batcher sends to one node; `None`: the environment
    /// ([`crate::pipeline::resolve_batch_limit`]), else 1000.
    pub batch_limit: Option<usize>,
    /// This store's cross-slot validation mode; `None`: the global mode
    /// ([`crate::validator::mode`]).
    pub cross_slot_validation: Option<crate::validator::Mode>,
    /// The name every connection gives itself (`CLIENT SETNAME`, seen in `CLIENT LIST`):
    /// printable ASCII without spaces. Default none.
    pub client_name: Option<String>,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_COMMAND_TIMEOUT.unwrap_or(NO_TIMEOUT),
            retry_deadline: Duration::from_secs(10),
            max_redirects: 16,
            min_refresh_interval: Duration::from_millis(100),
            topology_refresh_interval: Some(Duration::from_secs(30)),
            backoff_base: Duration::from_millis(10),
            backoff_max: Duration::from_millis(400),
            read_from_replicas: false,
            idempotent_writes: false,
            name: "default".to_owned(),
            instrument: true,
            batch_limit: None,
            cross_slot_validation: None,
            client_name: None,
        }
    }
}

/// What `?command_timeout=none` means: no reply timeout worth the name.
const NO_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

impl StoreOptions {
    /// What opening a store with these options would refuse before connecting: a bad
    /// `SLOTSHIFT_CROSS_SLOT_VALIDATION`, or a bad `SLOTSHIFT_CLUSTER_PIPELINE_BATCH_LIMIT`
    /// when `batch_limit` is not set. For clients that connect on first use but check their
    /// settings when they are made.
    pub fn check_environment(&self) -> crate::Result<()> {
        crate::validator::env_mode()?;
        crate::pipeline::resolve_batch_limit(self.batch_limit)?;
        Ok(())
    }

    /// Takes the timeouts a URL states (`?connect_timeout=`, `?command_timeout=`,
    /// `?retry_deadline=`); a timeout the URL does not state leaves the one in `self` as the
    /// caller set it.
    pub fn apply_url_timeouts(&mut self, server: &ServerConfig) {
        if let Some(deadline) = server.retry_deadline {
            self.retry_deadline = deadline;
        }
        if server.connect_timeout != DEFAULT_CONNECT_TIMEOUT {
            self.connect_timeout = server.connect_timeout;
        }
        if server.command_timeout != DEFAULT_COMMAND_TIMEOUT {
            self.response_timeout = server.command_timeout.unwrap_or(NO_TIMEOUT);
        }
    }

    /// The hooks' part of these options (instrumentation, validator, batch limit).
    pub fn hooks(&self) -> crate::instrument::HookOptions {
        crate::instrument::HookOptions {
            name: self.name.clone(),
            instrument: self.instrument,
            cross_slot_validation: self.cross_slot_validation,
            batch_limit: self.batch_limit,
        }
    }

    /// The transport's part of these options (what node connections and routers read).
    pub fn net(&self) -> NetOptions {
        NetOptions {
            connect_timeout: self.connect_timeout,
            response_timeout: self.response_timeout,
            retry_deadline: self.retry_deadline,
            max_redirects: self.max_redirects,
            min_refresh_interval: self.min_refresh_interval,
            topology_refresh_interval: self.topology_refresh_interval,
            backoff_base: self.backoff_base,
            backoff_max: self.backoff_max,
            read_from_replicas: self.read_from_replicas,
            idempotent_writes: self.idempotent_writes,
            client_name: self.client_name.clone(),
        }
    }
}
