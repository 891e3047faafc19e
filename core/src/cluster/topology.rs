//! The slot map: which shard (a master and its replicas) serves each of the 16384 slots.
//!
//! Learned from `CLUSTER SHARDS` (Redis 7+), falling back to `CLUSTER SLOTS`. Parsing is
//! strict: a reply with a missing field, a slot out of range, a start after an end or an
//! unusable port is a [`RoutingError::MalformedTopology`] and the caller keeps its old map.
//! Slots that no shard claims stay unowned (the spec's "no owner" entries).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::cluster::RoutingError;
pub use crate::net::NodeAddr;
use crate::reply::Reply;
use crate::slot::{Slot, SLOT_COUNT};

const NO_SHARD: u16 = u16::MAX;

/// One shard: a master and its replicas, and the slots it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Shard {
    /// The master's address.
    pub master: NodeAddr,
    /// The master's node id, when the topology reply names it.
    pub master_id: Option<String>,
    /// Replicas that report themselves online.
    pub replicas: Vec<NodeAddr>,
    /// Inclusive slot ranges.
    pub ranges: Vec<(u16, u16)>,
}

/// The whole cluster as one node described it.
#[derive(Clone)]
pub struct Topology {
    shards: Vec<Shard>,
    /// `slots[s]` is an index into `shards`, or `NO_SHARD`.
    slots: Arc<[u16]>,
    /// Every known node (masters and replicas) → its shard.
    nodes: HashMap<NodeAddr, usize>,
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topology")
            .field("shards", &self.shards)
            .finish_non_exhaustive()
    }
}

impl Topology {
    /// A topology with no shards: every slot unowned.
    pub fn empty() -> Topology {
        Topology {
            shards: Vec::new(),
            slots: vec![NO_SHARD; SLOT_COUNT as usize].into(),
            nodes: HashMap::new(),
        }
    }

    fn from_shards(shards: Vec<Shard>) -> Result<Topology, RoutingError> {
        let mut slots = vec![NO_SHARD; SLOT_COUNT as usize];
        let mut nodes = HashMap::new();
        for (i, shard) in shards.iter().enumerate() {
            let index = u16::try_from(i).map_err(|_| malformed("more than 65534 shards"))?;
            for &(start, end) in &shard.ranges {
                for s in start..=end {
                    slots[s as usize] = index;
                }
            }
            nodes.insert(shard.master.clone(), i);
            for r in &shard.replicas {
                nodes.entry(r.clone()).or_insert(i);
            }
        }
        Ok(Topology {
            shards,
            slots: slots.into(),
            nodes,
        })
    }

    /// The shards, in the order the node listed them.
    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// The shard serving `slot`, if any.
    pub fn shard_of(&self, slot: Slot) -> Option<&Shard> {
        match self.slots[slot.get() as usize] {
            NO_SHARD => None,
            i => self.shards.get(i as usize),
        }
    }

    /// The master serving `slot`, if any.
    pub fn master_of(&self, slot: Slot) -> Option<&NodeAddr> {
        self.shard_of(slot).map(|s| &s.master)
    }

    /// Whether `addr` is a node of this cluster (master or replica).
    pub fn knows(&self, addr: &NodeAddr) -> bool {
        self.nodes.contains_key(addr)
    }

    /// The masters that serve at least one slot.
    pub fn masters(&self) -> impl Iterator<Item = &NodeAddr> {
        self.shards
            .iter()
            .filter(|s| !s.ranges.is_empty())
            .map(|s| &s.master)
    }

    /// How many slots have an owner.
    pub fn covered(&self) -> usize {
        self.slots.iter().filter(|&&i| i != NO_SHARD).count()
    }

    /// A copy where `slot` is served by `addr` (after a MOVED). A node not yet known becomes
    /// the master of a new shard holding only that slot until the next full refresh.
    pub(crate) fn with_moved(&self, slot: Slot, addr: &NodeAddr) -> Topology {
        let mut next = self.clone();
        let index = match next
            .shards
            .iter()
            .position(|s| &s.master == addr)
            .and_then(|i| u16::try_from(i).ok())
        {
            Some(i) => i,
            None => {
                next.shards.push(Shard {
                    master: addr.clone(),
                    master_id: None,
                    replicas: Vec::new(),
                    ranges: Vec::new(),
                });
                let i = next.shards.len() - 1;
                next.nodes.insert(addr.clone(), i);
                match u16::try_from(i) {
                    Ok(i) => i,
                    Err(_) => return next,
                }
            }
        };
        let mut slots = next.slots.to_vec();
        slots[slot.get() as usize] = index;
        next.slots = slots.into();
        next
    }

    /// Parses a `CLUSTER SHARDS` reply. `asked` is the host of the node that answered (used
    /// for empty endpoints); `tls` picks `tls-port` over `port`.
    pub fn from_cluster_shards(
        reply: &Reply,
        asked: &str,
        tls: bool,
    ) -> Result<Topology, RoutingError> {
        let Reply::Array(entries) = reply else {
            return Err(malformed("CLUSTER SHARDS reply is not an array"));
        };
        let mut shards = Vec::with_capacity(entries.len());
        for entry in entries {
            let fields = pairs(entry).ok_or_else(|| malformed("shard entry is not a map"))?;
            let mut ranges = Vec::new();
            let mut master = None;
            let mut master_id = None;
            let mut replicas = Vec::new();
            for (key, value) in fields {
                match key.as_bytes() {
                    Some(b"slots") => {
                        let Reply::Array(bounds) = value else {
                            return Err(malformed("shard 'slots' is not an array"));
                        };
                        if bounds.len() % 2 != 0 {
                            return Err(malformed("shard 'slots' has an odd length"));
                        }
                        for pair in bounds.chunks(2) {
                            ranges.push(range(&pair[0], &pair[1])?);
                        }
                    }
                    Some(b"nodes") => {
                        let Reply::Array(nodes) = value else {
                            return Err(malformed("shard 'nodes' is not an array"));
                        };
                        for node in nodes {
                            let info = pairs(node).ok_or_else(|| malformed("node is not a map"))?;
                            let get = |name: &str| {
                                info.iter()
                                    .find(|(k, _)| k.as_bytes() == Some(name.as_bytes()))
                                    .map(|(_, v)| *v)
                            };
                            let port_field = if tls { "tls-port" } else { "port" };
                            let port = get(port_field)
                                .and_then(Reply::as_int)
                                .and_then(|p| u16::try_from(p).ok())
                                .filter(|p| *p != 0);
                            let host = get("endpoint")
                                .or_else(|| get("ip"))
                                .and_then(Reply::as_bytes)
                                .and_then(|h| std::str::from_utf8(h).ok());
                            let role = get("role").and_then(Reply::as_bytes);
                            let health = get("health").and_then(Reply::as_bytes);
                            let Some(port) = port else {
                                return Err(malformed(format!(
                                    "node without a usable {port_field}"
                                )));
                            };
                            let host = match host {
                                Some("") | None => asked,
                                Some(h) => h,
                            };
                            if host == "?" {
                                // Unknown endpoint: this node cannot be reached, so skip it.
                                continue;
                            }
                            let addr = NodeAddr::new(host, port);
                            if role == Some(b"master") {
                                master_id = get("id")
                                    .and_then(Reply::as_bytes)
                                    .map(|b| String::from_utf8_lossy(b).into_owned());
                                master = Some(addr);
                            } else if health != Some(b"fail") {
                                // Not only "online": Redis 7.0 reports in-sync replicas as
                                // "loading" here. A replica that really is loading answers
                                // LOADING, and the router then reads from the master.
                                replicas.push(addr);
                            }
                        }
                    }
                    _ => {}
                }
            }
            match master {
                Some(master) => shards.push(Shard {
                    master,
                    master_id,
                    replicas,
                    ranges,
                }),
                None if ranges.is_empty() => {}
                None => return Err(malformed("a shard serves slots but has no master")),
            }
        }
        check_overlaps(&shards)?;
        Topology::from_shards(shards)
    }

    /// Parses a `CLUSTER SLOTS` reply (the fallback for servers without `CLUSTER SHARDS`).
    pub fn from_cluster_slots(reply: &Reply, asked: &str) -> Result<Topology, RoutingError> {
        let Reply::Array(entries) = reply else {
            return Err(malformed("CLUSTER SLOTS reply is not an array"));
        };
        let mut shards: Vec<Shard> = Vec::new();
        for entry in entries {
            let Reply::Array(parts) = entry else {
                return Err(malformed("slot range entry is not an array"));
            };
            if parts.len() < 3 {
                return Err(malformed("slot range entry has fewer than 3 elements"));
            }
            let r = range(&parts[0], &parts[1])?;
            let mut addrs = Vec::new();
            let mut id = None;
            for node in &parts[2..] {
                let Reply::Array(fields) = node else {
                    return Err(malformed("node entry is not an array"));
                };
                let host = match fields.first() {
                    Some(Reply::Nil) | None => asked.to_owned(),
                    Some(h) => match h.as_bytes().map(String::from_utf8_lossy) {
                        Some(h) if h.is_empty() => asked.to_owned(),
                        Some(h) => h.into_owned(),
                        None => return Err(malformed("node host is not a string")),
                    },
                };
                let port = fields
                    .get(1)
                    .and_then(Reply::as_int)
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|p| *p != 0)
                    .ok_or_else(|| malformed("node without a usable port"))?;
                if addrs.is_empty() {
                    id = fields
                        .get(2)
                        .and_then(Reply::as_bytes)
                        .map(|b| String::from_utf8_lossy(b).into_owned());
                }
                if host != "?" {
                    addrs.push(NodeAddr::new(&host, port));
                }
            }
            let Some(master) = addrs.first().cloned() else {
                continue;
            };
            match shards.iter_mut().find(|s| s.master == master) {
                Some(shard) => shard.ranges.push(r),
                None => shards.push(Shard {
                    master,
                    master_id: id,
                    replicas: addrs[1..].to_vec(),
                    ranges: vec![r],
                }),
            }
        }
        check_overlaps(&shards)?;
        Topology::from_shards(shards)
    }
}

fn malformed(reason: impl Into<String>) -> RoutingError {
    RoutingError::MalformedTopology {
        reason: reason.into(),
    }
}

/// A map as RESP3 sends it, or a flat key-value array as RESP2 does.
fn pairs(reply: &Reply) -> Option<Vec<(&Reply, &Reply)>> {
    match reply {
        Reply::Map(m) => Some(m.iter().map(|(k, v)| (k, v)).collect()),
        Reply::Array(a) if a.len() % 2 == 0 => Some(a.chunks(2).map(|c| (&c[0], &c[1])).collect()),
        _ => None,
    }
}

fn range(start: &Reply, end: &Reply) -> Result<(u16, u16), RoutingError> {
    let bound = |r: &Reply| {
        r.as_int()
            .and_then(|v| u16::try_from(v).ok())
            .filter(|v| *v < SLOT_COUNT)
            .ok_or_else(|| malformed(format!("slot bound {r:?} is not a slot")))
    };
    let (s, e) = (bound(start)?, bound(end)?);
    if s > e {
        return Err(malformed(format!(
            "slot range {s}-{e} starts after it ends"
        )));
    }
    Ok((s, e))
}

fn check_overlaps(shards: &[Shard]) -> Result<(), RoutingError> {
    let mut all: Vec<(u16, u16)> = shards
        .iter()
        .flat_map(|s| s.ranges.iter().copied())
        .collect();
    all.sort_unstable();
    for w in all.windows(2) {
        if w[1].0 <= w[0].1 {
            return Err(malformed(format!(
                "slot ranges {}-{} and {}-{} overlap",
                w[0].0, w[0].1, w[1].0, w[1].1
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }

    fn node(port: i64, role: &str, health: &str) -> Reply {
        Reply::Array(vec![
            bulk("id"),
            bulk(&format!("id{port}")),
            bulk("port"),
            Reply::Int(port),
            bulk("ip"),
            bulk("127.0.0.1"),
            bulk("endpoint"),
            bulk("127.0.0.1"),
            bulk("role"),
            bulk(role),
            bulk("health"),
            bulk(health),
        ])
    }

    fn shard(ranges: &[i64], nodes: Vec<Reply>) -> Reply {
        Reply::Array(vec![
            bulk("slots"),
            Reply::Array(ranges.iter().map(|&r| Reply::Int(r)).collect()),
            bulk("nodes"),
            Reply::Array(nodes),
        ])
    }

    #[test]
    fn parses_cluster_shards() {
        let reply = Reply::Array(vec![
            shard(
                &[0, 8000],
                vec![
                    node(7000, "master", "online"),
                    node(7003, "replica", "online"),
                ],
            ),
            shard(
                &[8001, 16383],
                vec![
                    node(7001, "master", "online"),
                    node(7004, "replica", "fail"),
                ],
            ),
        ]);
        let t = Topology::from_cluster_shards(&reply, "127.0.0.1", false).unwrap();
        assert_eq!(t.covered(), 16384);
        assert_eq!(t.master_of(Slot::new(5).unwrap()).unwrap().port, 7000);
        assert_eq!(t.master_of(Slot::MAX).unwrap().port, 7001);
        assert_eq!(t.shards()[0].replicas.len(), 1);
        assert!(t.shards()[1].replicas.is_empty()); // health "fail"
        assert!(t.knows(&NodeAddr::new("127.0.0.1", 7003)));
        assert!(!t.knows(&NodeAddr::new("127.0.0.1", 9999)));
    }

    #[test]
    fn rejects_bad_ranges() {
        for ranges in [&[5, 2][..], &[0, 16384], &[0, 1, 2]] {
            let reply = Reply::Array(vec![shard(ranges, vec![node(7000, "master", "online")])]);
            assert!(matches!(
                Topology::from_cluster_shards(&reply, "h", false),
                Err(RoutingError::MalformedTopology { .. })
            ));
        }
        let overlapping = Reply::Array(vec![
            shard(&[0, 10], vec![node(7000, "master", "online")]),
            shard(&[5, 20], vec![node(7001, "master", "online")]),
        ]);
        assert!(Topology::from_cluster_shards(&overlapping, "h", false).is_err());
        assert!(Topology::from_cluster_shards(&Reply::Int(3), "h", false).is_err());
    }

    #[test]
    fn parses_cluster_slots_with_holes_and_empty_hosts() {
        let reply = Reply::Array(vec![Reply::Array(vec![
            Reply::Int(0),
            Reply::Int(100),
            Reply::Array(vec![bulk(""), Reply::Int(7000), bulk("abc")]),
            Reply::Array(vec![bulk("10.0.0.2"), Reply::Int(7003)]),
        ])]);
        let t = Topology::from_cluster_slots(&reply, "seed-host").unwrap();
        assert_eq!(t.covered(), 101);
        assert_eq!(&*t.master_of(Slot::MIN).unwrap().host, "seed-host");
        assert!(t.master_of(Slot::new(101).unwrap()).is_none());
        assert_eq!(t.shards()[0].master_id.as_deref(), Some("abc"));
    }

    #[test]
    fn endpoints_split_on_the_last_colon() {
        assert_eq!(
            NodeAddr::parse_endpoint("::1:7000", "x"),
            Some(NodeAddr::new("::1", 7000))
        );
        assert_eq!(
            NodeAddr::parse_endpoint(":7000", "seed"),
            Some(NodeAddr::new("seed", 7000))
        );
        assert_eq!(NodeAddr::parse_endpoint("host:99999", "x"), None);
        assert_eq!(NodeAddr::parse_endpoint("host", "x"), None);
        assert_eq!(NodeAddr::parse_endpoint("?:7000", "x"), None);
        assert_eq!(NodeAddr::new("::1", 7000).to_string(), "[::1]:7000");
    }

    #[test]
    fn moved_patches_one_slot() {
        let t = Topology::empty();
        let s = Slot::new(42).unwrap();
        let t2 = t.with_moved(s, &NodeAddr::new("h", 1));
        assert_eq!(t2.master_of(s).unwrap().port, 1);
        assert!(t.master_of(s).is_none());
        assert_eq!(t2.covered(), 1);
    }
}
