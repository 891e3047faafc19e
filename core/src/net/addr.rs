//! Node addresses as a cluster announces them and redirects carry them.

use std::fmt;
use std::sync::Arc;

/// A node's address as the cluster announces it: host and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeAddr {
    /// Host name or IP address (IPv6 without brackets).
    pub host: Arc<str>,
    /// TCP port.
    pub port: u16,
}

impl NodeAddr {
    /// An address from its parts.
    pub fn new(host: &str, port: u16) -> NodeAddr {
        NodeAddr {
            host: Arc::from(host),
            port,
        }
    }

    /// Address equality, checking the shared host string by pointer first (the common case:
    /// both come from the same topology).
    pub(crate) fn same_as(&self, other: &NodeAddr) -> bool {
        self.port == other.port && (Arc::ptr_eq(&self.host, &other.host) || self.host == other.host)
    }

    /// Parses `host:port` as redirects carry it: split on the last colon (IPv6 addresses are
    /// not bracketed); an empty host means `default_host` (the node that sent the redirect).
    pub fn parse_endpoint(text: &str, default_host: &str) -> Option<NodeAddr> {
        let (host, port) = text.rsplit_once(':')?;
        let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host = if host.is_empty() { default_host } else { host };
        if host == "?" || host.is_empty() {
            return None;
        }
        Some(NodeAddr::new(host, port))
    }
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}
