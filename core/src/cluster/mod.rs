//! Redis Cluster routing: the slot map, per-node connections and the redirect rules.
//!
//! - **MOVED** updates that one slot, re-sends at once, and schedules one rate-limited full
//!   refresh of the map.
//! - **ASK** sends `ASKING` and the command together, on the target's connection, as one write
//!   (nothing from another caller can come between them); the map is not touched.
//! - **TRYAGAIN** backs off and retries until the deadline.
//! - **Connection loss, CLUSTERDOWN, LOADING, MASTERDOWN, READONLY** refresh the map, back off and
//!   retry under the same deadline. A command whose bytes may have reached a node that then
//!   went away is re-sent only if it is read-only or the store was told writes are idempotent;
//!   otherwise the caller gets a connection error that says the outcome is unknown.
//! - A redirect is followed only to a node the topology confirms (after one refresh), and at
//!   most [`StoreOptions::max_redirects`](crate::store::StoreOptions::max_redirects) times per
//!   command: a redirect loop ends in [`RoutingError::TooManyRedirects`], never a hang.
//!
//! Pipelines are sent as one pipeline per node, concurrently; replies come back in the
//! caller's order and only the entries that were redirected are sent again.

use std::time::Duration;

use crate::slot::Slot;

pub(crate) mod router;
pub mod topology;

pub use crate::net::{NodeAddr, RouterStats};
pub use topology::{Shard, Topology};

/// Errors of the cluster router: where a command could not be routed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RoutingError {
    /// The command was redirected more than the allowed number of times.
    #[error("slot {slot}: gave up after {redirects} redirects (path: {})", path.join(" -> "))]
    TooManyRedirects {
        /// The slot of the command.
        slot: Slot,
        /// How many redirects were followed.
        redirects: usize,
        /// The nodes visited, in order, each with the redirect it answered.
        path: Vec<String>,
    },
    /// A node redirected to an address the cluster topology does not list, even after a refresh.
    #[error("slot {slot}: {from} redirected to {to}, which is not a node of this cluster")]
    RedirectToUnknownNode {
        /// The slot of the command.
        slot: Slot,
        /// The node that sent the redirect.
        from: String,
        /// The address it named.
        to: String,
    },
    /// A redirect the router cannot read (bad slot number, bad address).
    #[error("{from} sent a malformed redirect: {reply}")]
    MalformedRedirect {
        /// The node that sent it.
        from: String,
        /// The error reply as received.
        reply: String,
    },
    /// A node was asked for by address that the deployment does not list.
    #[error("{addr} is not a node of this deployment (its nodes: {known})")]
    UnknownNode {
        /// The address asked for.
        addr: String,
        /// The nodes the deployment lists.
        known: String,
    },
    /// No node serves the slot, even after refreshing the map.
    #[error("slot {slot} is not served by any node")]
    SlotNotServed {
        /// The slot.
        slot: Slot,
    },
    /// Redirects did not settle before the retry deadline (a retried refusal such as
    /// TRYAGAIN or CLUSTERDOWN ends as that server error, a retried connection failure as a
    /// connection error).
    #[error("gave up after {elapsed:?} (retry deadline): last error: {last}")]
    DeadlineExceeded {
        /// Time spent on the command.
        elapsed: Duration,
        /// The last error seen.
        last: String,
    },
    /// A transaction whose keys hash to more than one slot; nothing was sent.
    #[error("transaction keys span {} slots ({}); a cluster runs MULTI/EXEC only within one slot — use a hash tag", slots.len(), list_slots(slots))]
    CrossSlotTransaction {
        /// The slots the keys hash to.
        slots: Vec<Slot>,
    },
    /// A topology reply (CLUSTER SHARDS / CLUSTER SLOTS) that does not make sense.
    #[error("malformed cluster topology: {reason}")]
    MalformedTopology {
        /// What was wrong.
        reason: String,
    },
    /// No node answered a topology request.
    #[error("could not learn the cluster topology from any of {tried:?}: {last}")]
    NoTopology {
        /// The nodes that were asked.
        tried: Vec<String>,
        /// The last error.
        last: String,
    },
}

fn list_slots(slots: &[Slot]) -> String {
    let shown: Vec<String> = slots.iter().take(8).map(|s| s.to_string()).collect();
    if slots.len() > 8 {
        format!("{}, …", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// The last failure of a command that is being retried: what the command ends with when the
/// retry deadline passes.
#[derive(Debug, Clone)]
pub(crate) enum LastFailure {
    /// Its connection failed (could not connect, was lost, timed out).
    Connection(crate::net::ConnectionError),
    /// The server (`addr`) answered with a retryable refusal: TRYAGAIN, LOADING,
    /// CLUSTERDOWN, MASTERDOWN …
    Server {
        /// The node that answered.
        addr: String,
        /// Its answer.
        error: crate::reply::ServerError,
    },
    /// Its redirects did not settle (or nothing was tried yet).
    Refused(String),
}

impl LastFailure {
    /// The error a command ends with after `elapsed` of retries. A connection failure stays a
    /// connection error, saying how long it was retried: a server that cannot be reached is a
    /// connection failure to the caller however long the core tried (and callers, redis-rb's
    /// and redis-py's rescues among them, tell failures apart by that class). For the same
    /// reason a retryable refusal stays the server's error (`CLUSTERDOWN …`, `TRYAGAIN …`,
    /// `LOADING …`, naming the node and how long it was retried), so that `except
    /// ClusterDownError` catches what it catches on redis-py. Redirects that did not settle
    /// are a [`RoutingError::DeadlineExceeded`].
    pub(crate) fn gave_up(self, elapsed: std::time::Duration) -> crate::Error {
        match self {
            LastFailure::Connection(mut c) => {
                c.message = format!(
                    "{} (retried for {elapsed:.0?}: the retry deadline)",
                    c.message
                );
                crate::Error::Connection(c)
            }
            LastFailure::Server { addr, error } => {
                crate::Error::Server(crate::reply::ServerError::new(
                    error.code(),
                    format!(
                        "{} (from {addr}; retried for {elapsed:.0?}: the retry deadline)",
                        error.detail()
                    ),
                ))
            }
            LastFailure::Refused(last) => {
                crate::Error::Routing(crate::cluster::RoutingError::DeadlineExceeded {
                    elapsed,
                    last,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_slot_error_lists_slots() {
        let err = RoutingError::CrossSlotTransaction {
            slots: vec![Slot::new(1).unwrap(), Slot::new(2).unwrap()],
        };
        assert!(err.to_string().contains("2 slots (1, 2)"));
    }
}
