//! What the transport does with an error reply: follow a redirect (MOVED, ASK), back off
//! (TRYAGAIN), refresh and back off (CLUSTERDOWN, LOADING, MASTERDOWN, READONLY), or hand it
//! to the caller.

use std::fmt;

use crate::net::NodeAddr;
use crate::reply::ServerError;
use crate::slot::Slot;

/// A redirect read from an error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Redirect {
    Moved(Slot, NodeAddr),
    Ask(Slot, NodeAddr),
}

impl Redirect {
    /// The node the redirect names.
    pub(crate) fn target(&self) -> &NodeAddr {
        match self {
            Redirect::Moved(_, to) | Redirect::Ask(_, to) => to,
        }
    }
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
}
