//! One node's view of slot ownership and migrations, from `CLUSTER NODES`.

use std::collections::HashMap;

use crate::cluster::NodeAddr;

/// What a node says about a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SlotState {
    /// The node owns it and is not migrating it.
    Stable,
    /// The node owns it and is migrating it to this node.
    Migrating(NodeAddr),
    /// Another node owns it.
    Elsewhere(NodeAddr),
    /// No node owns it (or the owner's address is unknown).
    Unowned,
}

/// The parsed `CLUSTER NODES` reply of one node.
#[derive(Debug, Default)]
pub(crate) struct View {
    myself: String,
    /// The asked node's config epoch (`CLUSTER NODES` field 7 of its `myself` line).
    epoch: u64,
    addrs: HashMap<String, NodeAddr>,
    ranges: Vec<(String, u16, u16)>,
    migrating: HashMap<u16, String>,
}

fn parse_addr(field: &str, default_host: &str) -> Option<NodeAddr> {
    let hostport = field.split([',', '@']).next()?;
    let (host, port) = hostport.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    if port == 0 {
        return None;
    }
    Some(NodeAddr::new(
        if host.is_empty() { default_host } else { host },
        port,
    ))
}

impl View {
    /// Parses the reply text; `asked` is the node asked (its host fills empty hosts).
    pub(crate) fn parse(text: &str, asked: &NodeAddr) -> Option<View> {
        let mut view = View::default();
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 8 {
                continue;
            }
            let id = fields[0].to_owned();
            if fields[2].split(',').any(|f| f == "myself") {
                view.myself = id.clone();
                view.epoch = fields[6].parse().ok()?;
            }
            if let Some(a) = parse_addr(fields[1], &asked.host) {
                view.addrs.insert(id.clone(), a);
            }
            for slot in &fields[8..] {
                if let Some(inner) = slot.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                    if let Some((s, target)) = inner.split_once("->-") {
                        if let Ok(s) = s.parse::<u16>() {
                            view.migrating.insert(s, target.to_owned());
                        }
                    }
                    continue;
                }
                let (lo, hi) = match slot.split_once('-') {
                    Some((a, b)) => (a.parse::<u16>().ok(), b.parse::<u16>().ok()),
                    None => (slot.parse::<u16>().ok(), slot.parse::<u16>().ok()),
                };
                if let (Some(lo), Some(hi)) = (lo, hi) {
                    view.ranges.push((id.clone(), lo, hi));
                }
            }
        }
        if view.myself.is_empty() {
            return None;
        }
        Some(view)
    }

    /// The asked node's config epoch. A node that takes over a slot by import raises it
    /// unless it already holds the cluster's highest epoch, which a node that gave the slot
    /// away never does: a slot can only come back to a node with its epoch changed (once the
    /// node has heard, by gossip, the epoch of the node the slot went to).
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The state of `slot` as this node sees it.
    pub(crate) fn state(&self, slot: u16) -> SlotState {
        let owner = self
            .ranges
            .iter()
            .find(|(_, lo, hi)| (*lo..=*hi).contains(&slot))
            .map(|(id, _, _)| id);
        match owner {
            Some(id) if *id == self.myself => match self.migrating.get(&slot) {
                Some(target) => match self.addrs.get(target) {
                    Some(a) => SlotState::Migrating(a.clone()),
                    None => SlotState::Unowned,
                },
                None => SlotState::Stable,
            },
            Some(id) => match self.addrs.get(id) {
                Some(a) => SlotState::Elsewhere(a.clone()),
                None => SlotState::Unowned,
            },
            None => SlotState::Unowned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ownership_and_migrations() {
        let text = "\
aaa 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 [100->-bbb] [6000-<-bbb]
bbb 127.0.0.1:7001@17001,host-b master - 0 0 2 connected 5461-10922
ccc :7002@17002 master - 0 0 3 connected 10923-16383
";
        let v = View::parse(text, &NodeAddr::new("127.0.0.1", 7000)).unwrap();
        assert_eq!(v.state(0), SlotState::Stable);
        assert_eq!(
            v.state(100),
            SlotState::Migrating(NodeAddr::new("127.0.0.1", 7001))
        );
        assert_eq!(
            v.state(6000),
            SlotState::Elsewhere(NodeAddr::new("127.0.0.1", 7001))
        );
        assert_eq!(
            v.state(16383),
            SlotState::Elsewhere(NodeAddr::new("127.0.0.1", 7002))
        );
        assert_eq!(v.epoch(), 1);
        let bumped = text.replace("0 0 1 connected 0-5460", "0 0 4 connected 0-5460");
        let w = View::parse(&bumped, &NodeAddr::new("127.0.0.1", 7000)).unwrap();
        assert_eq!(w.epoch(), 4);
        assert!(View::parse("garbage", &NodeAddr::new("h", 1)).is_none());
        let no_epoch = text.replace("0 0 1 connected 0-5460", "0 0 x connected 0-5460");
        assert!(View::parse(&no_epoch, &NodeAddr::new("127.0.0.1", 7000)).is_none());
    }
}

#[cfg(test)]
mod fuzz {
    /// `CLUSTER NODES` text as a node sends it, or garbage.
    #[test]
    fn fuzz_cluster_nodes() {
        let asked = crate::net::NodeAddr::new("127.0.0.1", 7000);
        crate::fuzz::run("cluster_nodes", |input| {
            let _ = super::View::parse(&crate::fuzz::text(input), &asked);
        });
    }
}
