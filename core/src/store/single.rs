//! The one-server backends: a standalone server, or the master a set of sentinels names.
//!
//! A Sentinel store asks the sentinels for the master (`SENTINEL get-master-addr-by-name`),
//! checks with `ROLE` that the node really is a master, and asks again after a connection loss
//! or a `READONLY` / `LOADING` / `MASTERDOWN` reply, so it follows a failover.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::RwLock;
use redis::ConnectionInfo;

use crate::cluster::{LastFailure, RoutingError};
use crate::command::Cmd;
use crate::net::node::{addr_of, info_for, NodeConn, NodeFailure};
use crate::net::{
    backoff, classify, send_to_node, ConnectionError, ConnectionErrorKind, Counters, NetOptions,
    NodeAddr, Outcome, Unit, Verdict,
};
use crate::reply::Reply;
use crate::Error;

pub(crate) struct SentinelSource {
    pub(crate) master_name: String,
    pub(crate) sentinels: Vec<Arc<NodeConn>>,
    /// Auth, db and TLS for the master (its address comes from the sentinels).
    pub(crate) master: ConnectionInfo,
}

pub(crate) struct Single {
    opts: Arc<NetOptions>,
    node: RwLock<Arc<NodeConn>>,
    sentinel: Option<SentinelSource>,
    pub(crate) counters: Counters,
    rediscover_gate: tokio::sync::Mutex<Option<Instant>>,
}

impl Single {
    pub(crate) fn standalone(node: NodeConn, opts: Arc<NetOptions>) -> Single {
        Single {
            opts,
            node: RwLock::new(Arc::new(node)),
            sentinel: None,
            counters: Counters::default(),
            rediscover_gate: tokio::sync::Mutex::new(None),
        }
    }

    pub(crate) async fn sentinel(
        source: SentinelSource,
        opts: Arc<NetOptions>,
    ) -> Result<Single, Error> {
        let master = discover(&source, &opts).await?;
        Ok(Single {
            node: RwLock::new(Arc::new(NodeConn::new(master, false, &opts))),
            opts,
            sentinel: Some(source),
            counters: Counters::default(),
            rediscover_gate: tokio::sync::Mutex::new(None),
        })
    }

    pub(crate) fn node(&self) -> Arc<NodeConn> {
        self.node.read().clone()
    }

    /// Asks the sentinels again (rate-limited, one at a time).
    async fn rediscover(&self) {
        let Some(source) = &self.sentinel else { return };
        let requested = Instant::now();
        let mut last = self.rediscover_gate.lock().await;
        if let Some(done) = *last {
            if done >= requested || done.elapsed() < self.opts.min_refresh_interval {
                return;
            }
        }
        match discover(source, &self.opts).await {
            Ok(info) => {
                let current = self.node();
                if addr_of(&info) != current.addr {
                    log::info!(
                        "sentinel master '{}' moved from {} to {}",
                        source.master_name,
                        current.addr,
                        addr_of(&info)
                    );
                    *self.node.write() = Arc::new(NodeConn::new(info, false, &self.opts));
                }
            }
            Err(e) => log::debug!("sentinel discovery failed: {e}"),
        }
        *last = Some(Instant::now());
    }

    /// Sends every unit to the one server as one pipeline, retrying what the server refused
    /// with a retryable error (and, after a loss, what may be sent twice) until the deadline.
    pub(crate) async fn send(&self, units: &[Unit<'_>]) -> Vec<Result<Reply, Error>> {
        let start = Instant::now();
        let deadline = start + self.opts.retry_deadline;
        let mut results: Vec<Option<Result<Reply, Error>>> =
            (0..units.len()).map(|_| None).collect();
        let mut last: Vec<LastFailure> = vec![LastFailure::Refused(String::new()); units.len()];
        let mut pending: Vec<usize> = (0..units.len()).collect();
        let mut round = 0;
        while !pending.is_empty() {
            let node = self.node();
            let mut next = Vec::new();
            let mut rediscover = false;
            match send_units(&node, &pending, units, &self.counters).await {
                Err(failure) => {
                    self.counters.connection_error();
                    for &i in &pending {
                        if failure.retryable(units[i].resend_on_loss) {
                            last[i] = LastFailure::Connection(failure.error.clone());
                            next.push(i);
                        } else {
                            results[i] = Some(Err(Error::Connection(failure.error.clone())));
                        }
                    }
                    rediscover = true;
                    if matches!(failure.error.kind, ConnectionErrorKind::Auth)
                        && self.sentinel.is_none()
                    {
                        // Wrong credentials do not get better by waiting.
                        for i in next.drain(..) {
                            results[i] = Some(Err(Error::Connection(failure.error.clone())));
                        }
                    }
                }
                Ok(outcomes) => {
                    for (&i, outcome) in pending.iter().zip(outcomes) {
                        match outcome {
                            Outcome::Done(r) => results[i] = Some(r.map_err(Error::Server)),
                            Outcome::Missing => {
                                results[i] = Some(Err(Error::Connection(
                                    ConnectionError::new(
                                        &node.addr,
                                        ConnectionErrorKind::Protocol,
                                        "a reply is missing".to_owned(),
                                    )
                                    .outcome_unknown(),
                                )));
                            }
                            Outcome::Error(e) => match classify(&e, &node.addr.host) {
                                Verdict::Backoff => {
                                    last[i] = LastFailure::Server {
                                        addr: node.addr.to_string(),
                                        error: e.clone(),
                                    };
                                    next.push(i);
                                }
                                Verdict::RefreshBackoff => {
                                    last[i] = LastFailure::Server {
                                        addr: node.addr.to_string(),
                                        error: e.clone(),
                                    };
                                    rediscover = true;
                                    next.push(i);
                                }
                                _ => results[i] = Some(Err(Error::Server(e))),
                            },
                        }
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            for _ in &next {
                self.counters.retry();
            }
            let now = Instant::now();
            if now >= deadline {
                for i in next {
                    let failure =
                        std::mem::replace(&mut last[i], LastFailure::Refused(String::new()));
                    results[i] = Some(Err(failure.gave_up(now - start)));
                }
                break;
            }
            if rediscover {
                self.rediscover().await;
            }
            round += 1;
            let pause =
                backoff(&self.opts, round).min(deadline.saturating_duration_since(Instant::now()));
            tokio::time::sleep(pause).await;
            pending = next;
        }
        results
            .into_iter()
            .map(|r| {
                // Every unit leaves the loop with a result; a gap would be a bug, reported
                // as one instead of a silent nil.
                r.unwrap_or_else(|| {
                    Err(Error::Routing(RoutingError::DeadlineExceeded {
                        elapsed: start.elapsed(),
                        last: "no reply".into(),
                    }))
                })
            })
            .collect()
    }
}

/// One round to one node: a lone plain command as one command, anything else as one pipeline.
pub(crate) async fn send_units(
    node: &NodeConn,
    idxs: &[usize],
    units: &[Unit<'_>],
    counters: &Counters,
) -> Result<Vec<Outcome>, NodeFailure> {
    send_to_node(node, idxs, units, |_| false, counters, usize::MAX).await
}

/// Finds the master through the sentinels.
async fn discover(source: &SentinelSource, opts: &NetOptions) -> Result<ConnectionInfo, Error> {
    let mut last = String::from("no sentinel configured");
    for sentinel in &source.sentinels {
        let cmd = Cmd::from_args([
            "SENTINEL",
            "get-master-addr-by-name",
            source.master_name.as_str(),
        ]);
        let reply = match sentinel.send_one(&cmd).await {
            Ok(reply) => reply,
            Err(f) => {
                last = f.error.to_string();
                continue;
            }
        };
        let addr = match &reply {
            Reply::Array(parts) if parts.len() == 2 => {
                let host = parts[0].as_bytes().map(String::from_utf8_lossy);
                let port = parts[1].as_int().and_then(|p| u16::try_from(p).ok());
                match (host, port) {
                    (Some(h), Some(p)) => NodeAddr::new(&h, p),
                    _ => {
                        last = format!("{}: unreadable master address {reply:?}", sentinel.addr);
                        continue;
                    }
                }
            }
            Reply::Nil => {
                last = format!(
                    "{}: no master named '{}'",
                    sentinel.addr, source.master_name
                );
                continue;
            }
            other => {
                last = format!("{}: unexpected reply {other:?}", sentinel.addr);
                continue;
            }
        };
        let info = info_for(&source.master, &addr);
        // The sentinel may lag behind a failover: believe only a node that says it is master.
        let probe = NodeConn::new(info.clone(), false, opts);
        match probe.send_one(&Cmd::new("ROLE")).await {
            Ok(Reply::Array(role)) if role.first().and_then(Reply::as_bytes) == Some(b"master") => {
                return Ok(info)
            }
            Ok(Reply::Error(e)) => last = format!("{addr}: {e}"),
            Ok(_) => last = format!("{addr} (named by {}) is not a master", sentinel.addr),
            Err(f) => last = f.error.to_string(),
        }
    }
    Err(Error::Connection(ConnectionError {
        node: format!("sentinel master '{}'", source.master_name),
        kind: ConnectionErrorKind::Connect,
        message: last,
        outcome_unknown: false,
    }))
}
