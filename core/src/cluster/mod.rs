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

use std::fmt;
use std::time::Duration;

use crate::reply::ServerError;
use crate::slot::Slot;

pub(crate) mod node;
pub(crate) mod router;
pub mod topology;

pub use router::RouterStats;
pub use topology::{NodeAddr, Shard, Topology};

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
    /// No node serves the slot, even after refreshing the map.
    #[error("slot {slot} is not served by any node")]
    SlotNotServed {
        /// The slot.
        slot: Slot,
    },
    /// Retries (TRYAGAIN, CLUSTERDOWN, LOADING, connection loss) did not succeed before the
    /// retry deadline.
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

/// A redirect read from an error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Redirect {
    Moved(Slot, NodeAddr),
    Ask(Slot, NodeAddr),
}

impl fmt::Display for Redirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Redirect::Moved(s, a) => write!(f, "MOVED {s} {a}"),
            Redirect::Ask(s, a) => write!(f, "ASK {s} {a}"),
        }
    }
}

/// What the router does with an error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Follow a redirect.
    Redirect(Redirect),
    /// Back off and retry on the same route (TRYAGAIN).
    Backoff,
    /// Refresh the map, back off and retry (CLUSTERDOWN, LOADING, MASTERDOWN, READONLY).
    RefreshBackoff,
    /// A redirect that cannot be read.
    Malformed,
    /// Give the error to the caller.
    Final,
}

/// Classifies an error reply. `from_host` fills an empty host in a redirect endpoint.
pub(crate) fn classify(error: &ServerError, from_host: &str) -> Verdict {
    match error.code() {
        "MOVED" | "ASK" => match parse_redirect(error, from_host) {
            Some(r) => Verdict::Redirect(r),
            None => Verdict::Malformed,
        },
        "TRYAGAIN" => Verdict::Backoff,
        "CLUSTERDOWN" | "LOADING" | "MASTERDOWN" | "READONLY" => Verdict::RefreshBackoff,
        _ => Verdict::Final,
    }
}

fn parse_redirect(error: &ServerError, from_host: &str) -> Option<Redirect> {
    let mut words = error.detail().split(' ');
    let slot: u16 = words.next()?.parse().ok()?;
    let slot = Slot::new(slot)?;
    let addr = NodeAddr::parse_endpoint(words.next()?, from_host)?;
    if words.next().is_some() {
        return None;
    }
    match error.code() {
        "MOVED" => Some(Redirect::Moved(slot, addr)),
        "ASK" => Some(Redirect::Ask(slot, addr)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(line: &str) -> ServerError {
        ServerError::parse(line)
    }

    #[test]
    fn reads_redirects() {
        assert_eq!(
            classify(&e("MOVED 3999 127.0.0.1:6381"), "x"),
            Verdict::Redirect(Redirect::Moved(
                Slot::new(3999).unwrap(),
                NodeAddr::new("127.0.0.1", 6381)
            ))
        );
        assert_eq!(
            classify(&e("ASK 1 :7000"), "seed"),
            Verdict::Redirect(Redirect::Ask(
                Slot::new(1).unwrap(),
                NodeAddr::new("seed", 7000)
            ))
        );
        assert_eq!(
            classify(&e("MOVED 3999 ::1:7000"), "x"),
            Verdict::Redirect(Redirect::Moved(
                Slot::new(3999).unwrap(),
                NodeAddr::new("::1", 7000)
            ))
        );
    }

    #[test]
    fn malformed_redirects_are_named() {
        for bad in [
            "MOVED abc 1.2.3.4:5",
            "MOVED 16384 1.2.3.4:5",
            "MOVED 1 1.2.3.4",
            "MOVED 1 1.2.3.4:70000",
            "ASK 1 h:1 extra",
            "MOVED",
        ] {
            assert_eq!(classify(&e(bad), "x"), Verdict::Malformed, "{bad}");
        }
    }

    #[test]
    fn retryable_and_final() {
        assert_eq!(
            classify(&e("TRYAGAIN Multiple keys"), "x"),
            Verdict::Backoff
        );
        for code in [
            "CLUSTERDOWN The cluster is down",
            "LOADING x",
            "MASTERDOWN x",
            "READONLY x",
        ] {
            assert_eq!(classify(&e(code), "x"), Verdict::RefreshBackoff);
        }
        assert_eq!(classify(&e("WRONGTYPE x"), "x"), Verdict::Final);
        assert_eq!(classify(&e("ERR x"), "x"), Verdict::Final);
    }

    #[test]
    fn cross_slot_error_lists_slots() {
        let err = RoutingError::CrossSlotTransaction {
            slots: vec![Slot::new(1).unwrap(), Slot::new(2).unwrap()],
        };
        assert!(err.to_string().contains("2 slots (1, 2)"));
    }
}
