//! `slotshift status --url URL [--url URL…] [--json]`
//!
//! The health of a deployment as an operator reads it:
//! - cluster: every node's own view (role, `cluster_state`, slots it counts as covered, epochs,
//!   the nodes it sees failing, its slots in MIGRATING/IMPORTING), the places where views
//!   disagree, and each shard's size (slots, keys, replicas);
//! - Sentinel: the master and replicas each sentinel reports;
//! - standalone: role and replication.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use slotshift::cluster::NodeAddr;
use slotshift::command::Cmd;
use slotshift::config::{Deployment, ServerConfig};
use slotshift::reply::Reply;
use slotshift::store::{Store, StoreKind, StoreOptions};

/// Arguments of `slotshift status`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    connect: crate::target::Connect,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let deployment = args.connect.deployment()?;
    let report = status(&deployment)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

fn text(reply: &Reply) -> String {
    reply
        .as_bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone)]
struct NodeLine {
    id: String,
    addr: String,
    flags: Vec<String>,
    config_epoch: u64,
    slots: usize,
    migrating: Vec<String>,
    importing: Vec<String>,
}

impl NodeLine {
    fn parse(line: &str) -> Option<NodeLine> {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() < 8 {
            return None;
        }
        let addr = parts[1].split(['@', ',']).next()?.to_string();
        let mut slots = 0;
        let mut migrating = Vec::new();
        let mut importing = Vec::new();
        for s in &parts[8..] {
            if let Some(inner) = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                if let Some((slot, to)) = inner.split_once("->-") {
                    migrating.push(format!("{slot} to {}", short(to)));
                } else if let Some((slot, from)) = inner.split_once("-<-") {
                    importing.push(format!("{slot} from {}", short(from)));
                }
            } else if let Some((a, b)) = s.split_once('-') {
                let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                slots += b.saturating_sub(a) + 1;
            } else if s.parse::<usize>().is_ok() {
                slots += 1;
            }
        }
        Some(NodeLine {
            id: parts[0].to_string(),
            addr,
            flags: parts[2].split(',').map(str::to_string).collect(),
            config_epoch: parts[6].parse().unwrap_or(0),
            slots,
            migrating,
            importing,
        })
    }

    fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    fn role(&self) -> &'static str {
        if self.has("master") {
            "master"
        } else if self.has("slave") {
            "replica"
        } else {
            "unknown"
        }
    }

    fn failing(&self) -> Option<&'static str> {
        if self.has("fail") {
            Some("fail")
        } else if self.has("fail?") {
            Some("fail?")
        } else {
            None
        }
    }
}

fn short(id: &str) -> String {
    id.chars().take(8).collect()
}

fn status(deployment: &Deployment) -> Result<Value, Box<dyn std::error::Error>> {
    if let Deployment::Sentinel(config) = deployment {
        return sentinel_status(config);
    }
    let store = crate::target::connect(deployment)?;
    match store.kind() {
        StoreKind::Cluster => cluster_status(&store),
        _ => {
            let info = text(&store.call(&Cmd::from_args(["INFO", "replication"]))?);
            Ok(json!({
                "kind": "standalone",
                "node": store.masters()?.first().map(|a| a.to_string()),
                "role": field(&info, "role"),
                "connected_replicas": field(&info, "connected_slaves"),
            }))
        }
    }
}

fn cluster_status(store: &Store) -> Result<Value, Box<dyn std::error::Error>> {
    // Every node any reachable node knows about.
    let mut addrs: BTreeSet<NodeAddr> = BTreeSet::new();
    if let Some(topology) = store.topology()? {
        for shard in topology.shards() {
            addrs.insert(shard.master.clone());
            addrs.extend(shard.replicas.iter().cloned());
        }
    }
    let mut views: BTreeMap<String, Vec<NodeLine>> = BTreeMap::new();
    let mut nodes = Vec::new();
    let mut queue: Vec<NodeAddr> = addrs.iter().cloned().collect();
    let mut asked: BTreeSet<NodeAddr> = BTreeSet::new();
    while let Some(addr) = queue.pop() {
        if !asked.insert(addr.clone()) {
            continue;
        }
        let lines = match store.call_on(&addr, &Cmd::from_args(["CLUSTER", "NODES"])) {
            Ok(r) => text(&r)
                .lines()
                .filter_map(NodeLine::parse)
                .collect::<Vec<_>>(),
            Err(e) => {
                nodes.push(json!({"node": addr.to_string(), "error": e.to_string()}));
                continue;
            }
        };
        for l in &lines {
            if let Some((h, p)) = l.addr.rsplit_once(':') {
                if let Ok(p) = p.parse() {
                    let a = NodeAddr::new(if h.is_empty() { &addr.host } else { h }, p);
                    if !asked.contains(&a) && !l.has("noaddr") {
                        queue.push(a);
                    }
                }
            }
        }
        let info = store
            .call_on(&addr, &Cmd::from_args(["CLUSTER", "INFO"]))
            .map(|r| text(&r))
            .unwrap_or_default();
        let me = lines.iter().find(|l| l.has("myself")).cloned();
        let keys = store
            .call_on(&addr, &Cmd::from_args(["DBSIZE"]))
            .ok()
            .and_then(|r| r.as_int());
        let failing: Vec<String> = lines
            .iter()
            .filter_map(|l| l.failing().map(|f| format!("{} ({f})", l.addr)))
            .collect();
        nodes.push(json!({
            "node": addr.to_string(),
            "id": me.as_ref().map(|m| short(&m.id)),
            "role": me.as_ref().map(NodeLine::role),
            "state": field(&info, "cluster_state"),
            "slots_ok": field(&info, "cluster_slots_ok").and_then(|s| s.parse::<u64>().ok()),
            "slots_assigned": field(&info, "cluster_slots_assigned").and_then(|s| s.parse::<u64>().ok()),
            "current_epoch": field(&info, "cluster_current_epoch").and_then(|s| s.parse::<u64>().ok()),
            "config_epoch": me.as_ref().map(|m| m.config_epoch),
            "sees_failing": failing,
            "migrating": me.as_ref().map(|m| m.migrating.clone()).unwrap_or_default(),
            "importing": me.as_ref().map(|m| m.importing.clone()).unwrap_or_default(),
            "keys": keys,
        }));
        views.insert(addr.to_string(), lines);
    }

    // Disagreements: what each viewer says about each node (role, failing, slot count).
    let mut claims: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for (viewer, lines) in &views {
        for l in lines {
            let claim = format!(
                "{} {} slots{}",
                l.role(),
                l.slots,
                l.failing().map(|f| format!(", {f}")).unwrap_or_default()
            );
            claims
                .entry(l.addr.clone())
                .or_default()
                .entry(claim)
                .or_default()
                .push(viewer.clone());
        }
    }
    let disagreements: Vec<Value> = claims
        .iter()
        .filter(|(_, by_claim)| by_claim.len() > 1)
        .map(|(node, by_claim)| json!({"node": node, "views": by_claim}))
        .collect();

    let shards: Vec<Value> = match store.topology()? {
        Some(t) => t
            .shards()
            .iter()
            .map(|s| {
                let slots: u32 = s.ranges.iter().map(|(a, b)| u32::from(b - a) + 1).sum();
                let keys = nodes
                    .iter()
                    .find(|n| n["node"] == s.master.to_string())
                    .and_then(|n| n["keys"].as_i64());
                json!({
                    "master": s.master.to_string(),
                    "slots": slots,
                    "keys": keys,
                    "replicas": s.replicas.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
                })
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(json!({
        "kind": "cluster",
        "nodes": nodes,
        "disagreements": disagreements,
        "shards": shards,
    }))
}

fn sentinel_status(
    config: &slotshift::config::SentinelConfig,
) -> Result<Value, Box<dyn std::error::Error>> {
    let mut views = Vec::new();
    for endpoint in &config.sentinels {
        let mut server = ServerConfig::new(endpoint.clone());
        server.username = config.sentinel_username.clone();
        server.password = config.sentinel_password.clone();
        let view = match Store::connect(&Deployment::Server(server), StoreOptions::default()) {
            Err(e) => json!({"sentinel": endpoint.to_string(), "error": e.to_string()}),
            Ok(s) => {
                let master = s.call(&Cmd::from_args([
                    "SENTINEL",
                    "get-master-addr-by-name",
                    &config.master_name,
                ]));
                let replicas = s.call(&Cmd::from_args([
                    "SENTINEL",
                    "replicas",
                    &config.master_name,
                ]));
                let master = match master {
                    Ok(Reply::Array(p)) if p.len() == 2 => {
                        format!("{}:{}", text(&p[0]), text(&p[1]))
                    }
                    Ok(other) => format!("{other:?}"),
                    Err(e) => format!("error: {e}"),
                };
                let replicas: Vec<String> = match replicas {
                    Ok(Reply::Array(rs)) => rs
                        .iter()
                        .map(|r| {
                            let pairs: BTreeMap<String, String> = match r {
                                Reply::Array(kv) => kv
                                    .chunks(2)
                                    .filter(|c| c.len() == 2)
                                    .map(|c| (text(&c[0]), text(&c[1])))
                                    .collect(),
                                _ => BTreeMap::new(),
                            };
                            format!(
                                "{}:{} ({})",
                                pairs.get("ip").cloned().unwrap_or_default(),
                                pairs.get("port").cloned().unwrap_or_default(),
                                pairs.get("flags").cloned().unwrap_or_default()
                            )
                        })
                        .collect(),
                    Ok(_) => Vec::new(),
                    Err(e) => vec![format!("error: {e}")],
                };
                json!({"sentinel": endpoint.to_string(), "master": master, "replicas": replicas})
            }
        };
        views.push(view);
    }
    let masters: BTreeSet<String> = views
        .iter()
        .filter_map(|v| v["master"].as_str().map(str::to_string))
        .collect();
    Ok(json!({
        "kind": "sentinel",
        "master_name": config.master_name,
        "sentinels": views,
        "agree": masters.len() == 1,
    }))
}

fn render(report: &Value) -> String {
    let mut out = String::new();
    let list = |v: &Value| -> String {
        match v.as_array() {
            Some(a) if !a.is_empty() => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| x.to_string())
                })
                .collect::<Vec<_>>()
                .join(", "),
            _ => "-".into(),
        }
    };
    match report["kind"].as_str() {
        Some("cluster") => {
            out.push_str("cluster nodes (each node's own view):\n");
            for n in report["nodes"].as_array().into_iter().flatten() {
                if let Some(e) = n["error"].as_str() {
                    out.push_str(&format!(
                        "  {}  UNREACHABLE: {e}\n",
                        n["node"].as_str().unwrap_or("?")
                    ));
                    continue;
                }
                out.push_str(&format!(
                    "  {} {} {}  state={} slots_ok={}/{} epoch={} (config {}) keys={}\n",
                    n["node"].as_str().unwrap_or("?"),
                    n["id"].as_str().unwrap_or("?"),
                    n["role"].as_str().unwrap_or("?"),
                    n["state"].as_str().unwrap_or("?"),
                    n["slots_ok"],
                    n["slots_assigned"],
                    n["current_epoch"],
                    n["config_epoch"],
                    n["keys"],
                ));
                out.push_str(&format!(
                    "      sees failing: {}\n",
                    list(&n["sees_failing"])
                ));
                out.push_str(&format!(
                    "      migrating: {}  importing: {}\n",
                    list(&n["migrating"]),
                    list(&n["importing"])
                ));
            }
            let disagreements = report["disagreements"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if disagreements.is_empty() {
                out.push_str("views agree\n");
            } else {
                out.push_str("DISAGREEMENTS:\n");
                for d in disagreements {
                    out.push_str(&format!("  about {}:\n", d["node"].as_str().unwrap_or("?")));
                    for (claim, viewers) in d["views"].as_object().into_iter().flatten() {
                        out.push_str(&format!("    {claim}  — says {}\n", list(viewers)));
                    }
                }
            }
            out.push_str("shards:\n");
            for s in report["shards"].as_array().into_iter().flatten() {
                out.push_str(&format!(
                    "  {}  slots={} keys={} replicas: {}\n",
                    s["master"].as_str().unwrap_or("?"),
                    s["slots"],
                    s["keys"],
                    list(&s["replicas"])
                ));
            }
        }
        Some("sentinel") => {
            out.push_str(&format!(
                "sentinel master '{}' ({}):\n",
                report["master_name"].as_str().unwrap_or("?"),
                if report["agree"].as_bool() == Some(true) {
                    "sentinels agree"
                } else {
                    "SENTINELS DISAGREE"
                }
            ));
            for v in report["sentinels"].as_array().into_iter().flatten() {
                match v["error"].as_str() {
                    Some(e) => out.push_str(&format!(
                        "  {}  UNREACHABLE: {e}\n",
                        v["sentinel"].as_str().unwrap_or("?")
                    )),
                    None => out.push_str(&format!(
                        "  {} says master {} replicas: {}\n",
                        v["sentinel"].as_str().unwrap_or("?"),
                        v["master"].as_str().unwrap_or("?"),
                        list(&v["replicas"])
                    )),
                }
            }
        }
        _ => out.push_str(&format!(
            "standalone {}  role={} replicas={}\n",
            report["node"].as_str().unwrap_or("?"),
            report["role"].as_str().unwrap_or("?"),
            report["connected_replicas"].as_str().unwrap_or("?")
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use slotshift::testing::{Cluster, SentinelSet};

    #[test]
    fn parses_cluster_nodes_lines() {
        let l = NodeLine::parse(
            "a1b2c3d4e5 127.0.0.1:7000@17000 myself,master - 0 0 3 connected 0-99 200 [300->-ff00ff00aa] [301-<-ee00]",
        )
        .unwrap();
        assert_eq!(l.addr, "127.0.0.1:7000");
        assert_eq!(l.slots, 101);
        assert_eq!(l.config_epoch, 3);
        assert_eq!(l.migrating, vec!["300 to ff00ff00"]);
        assert_eq!(l.importing, vec!["301 from ee00"]);
        assert_eq!(l.role(), "master");
        assert!(NodeLine::parse("short line").is_none());
    }

    #[test]
    fn cluster_status_shows_migrations_and_shards() {
        let cluster = Cluster::start(3, 1).unwrap();
        let masters = cluster.masters().unwrap();
        let slot = cluster.slots_of(masters[0]).unwrap()[0];
        let migration = cluster
            .slot_migration(slot, masters[0], masters[1])
            .unwrap();
        migration.set_importing().unwrap();
        migration.set_migrating().unwrap();
        let report = status(&Deployment::parse(&cluster.url()).unwrap()).unwrap();
        let text = render(&report);
        migration.abort().unwrap();
        assert_eq!(report["nodes"].as_array().unwrap().len(), 6, "{text}");
        assert_eq!(report["shards"].as_array().unwrap().len(), 3, "{text}");
        assert!(text.contains(&format!("migrating: {slot} to")), "{text}");
        assert!(text.contains(&format!("importing: {slot} from")), "{text}");
        assert!(text.contains("state=ok"), "{text}");
    }

    #[test]
    fn sentinel_status_lists_each_sentinels_view() {
        let set = SentinelSet::start().unwrap();
        let url = format!(
            "redis+sentinel://{}/{}",
            set.sentinel_addrs().join(","),
            set.master_name()
        );
        let report = status(&Deployment::parse(&url).unwrap()).unwrap();
        let text = render(&report);
        assert_eq!(report["sentinels"].as_array().unwrap().len(), 3, "{text}");
        assert!(
            text.contains(&format!("master 127.0.0.1:{}", set.master().port())),
            "{text}"
        );
        assert!(text.contains("sentinels agree"), "{text}");
    }
}
