//! `slotshift servers up …`: start embedded redis-server topologies on loopback, print their
//! URLs, stay in the foreground, stop them all on SIGINT/SIGTERM.
//!
//! The C, Ruby and Python test suites use this command (with `--json`) so that there is one
//! implementation of the topologies: `slotshift::testing`.

use std::io::Write;
use std::str::FromStr;

use serde_json::{json, Map, Value};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use slotshift::testing::fake::{FakeNode, Hostility};
use slotshift::testing::{Cluster, SentinelSet, Standalone};

/// Arguments of `slotshift servers`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Start topologies on free 127.0.0.1 ports, print their URLs once ready, and run until
    /// SIGINT or SIGTERM, then stop every server and exit 0. Without a topology flag, starts a
    /// standalone server.
    Up(UpArgs),
}

#[derive(clap::Args)]
struct UpArgs {
    /// Start a standalone server.
    #[arg(long)]
    standalone: bool,
    /// Start a Sentinel set: a master, a replica and three Sentinels.
    #[arg(long)]
    sentinel: bool,
    /// Start a cluster of M masters with R replicas each, e.g. `3x1`.
    #[arg(long, value_name = "MxR")]
    cluster: Option<Shape>,
    /// Password (`requirepass`) for every data server; the printed URLs carry it.
    #[arg(long)]
    password: Option<String>,
    /// Enable the DEBUG command on every data server.
    #[arg(long)]
    debug_command: bool,
    /// Also start one scripted hostile node per behaviour (garbage, huge_bulk, deep_nesting,
    /// mid_reply_close, never_reply, slowloris, moved_loop, moved_to_unknown, empty_error):
    /// what a real server never sends, for clients' error paths.
    #[arg(long)]
    hostile: bool,
    /// Print one JSON line: {"standalone": url, "sentinel": {...}, "cluster": [url, ...],
    /// "hostile": {name: url, ...}}.
    #[arg(long)]
    json: bool,
}

/// `MxR`: masters and replicas per master.
#[derive(Clone, Copy, Debug)]
struct Shape {
    masters: usize,
    replicas: usize,
}

impl FromStr for Shape {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("cluster shape {s:?} is not MxR (masters x replicas per master), e.g. 3x1");
        let (m, r) = s.split_once(['x', 'X']).ok_or_else(bad)?;
        let masters: usize = m.trim().parse().map_err(|_| bad())?;
        let replicas: usize = r.trim().parse().map_err(|_| bad())?;
        if masters == 0 {
            return Err(format!(
                "cluster shape {s:?}: a cluster needs at least one master"
            ));
        }
        Ok(Shape { masters, replicas })
    }
}

/// Everything started; dropping it stops every server.
#[derive(Default)]
struct Running {
    standalone: Option<Standalone>,
    sentinel: Option<SentinelSet>,
    cluster: Option<Cluster>,
    hostile: Vec<(Hostility, FakeNode)>,
}

impl Running {
    fn to_json(&self) -> Value {
        let mut out = Map::new();
        if let Some(s) = &self.standalone {
            out.insert("standalone".into(), json!(s.url()));
        }
        if let Some(set) = &self.sentinel {
            out.insert(
                "sentinel".into(),
                json!({
                    "master_name": set.master_name(),
                    "sentinels": set.sentinel_addrs(),
                    "master": set.master().url(),
                    "replicas": set.replicas().iter().map(|n| n.url()).collect::<Vec<_>>(),
                }),
            );
        }
        if let Some(c) = &self.cluster {
            out.insert("cluster".into(), json!(c.seed_urls()));
        }
        if !self.hostile.is_empty() {
            let nodes: Map<String, Value> = self
                .hostile
                .iter()
                .map(|(h, node)| (h.name().to_owned(), json!(node.url())))
                .collect();
            out.insert("hostile".into(), Value::Object(nodes));
        }
        Value::Object(out)
    }

    fn to_text(&self) -> String {
        let mut out = String::new();
        if let Some(s) = &self.standalone {
            out.push_str(&format!("standalone  {}\n", s.url()));
        }
        if let Some(set) = &self.sentinel {
            out.push_str(&format!("sentinel    master name {}\n", set.master_name()));
            out.push_str(&format!("  master    {}\n", set.master().url()));
            for replica in set.replicas() {
                out.push_str(&format!("  replica   {}\n", replica.url()));
            }
            for addr in set.sentinel_addrs() {
                out.push_str(&format!("  sentinel  {addr}\n"));
            }
        }
        if let Some(c) = &self.cluster {
            let (masters, replicas) = c.shape();
            out.push_str(&format!(
                "cluster     {masters} masters x {replicas} replicas\n"
            ));
            for url in c.seed_urls() {
                out.push_str(&format!("  node      {url}\n"));
            }
        }
        for (h, node) in &self.hostile {
            out.push_str(&format!("hostile     {:<16} {}\n", h.name(), node.url()));
        }
        out.push_str("Press Ctrl-C (or send SIGTERM) to stop every server.\n");
        out
    }
}

/// Runs `slotshift servers …`.
pub fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    match args.action {
        Action::Up(up) => up_and_wait(up),
    }
}

fn up_and_wait(args: UpArgs) -> Result<(), Box<dyn std::error::Error>> {
    // Registered before anything starts, so a signal during start-up is not lost: it is queued
    // and handled right after start-up, and the servers are stopped by `Running`'s drop.
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let want_standalone =
        args.standalone || (!args.sentinel && args.cluster.is_none() && !args.hostile);
    let password = args.password.as_deref();
    let mut running = Running::default();

    if want_standalone {
        let mut builder = Standalone::builder().debug_command(args.debug_command);
        if let Some(p) = password {
            builder = builder.password(p);
        }
        running.standalone = Some(builder.start()?);
    }
    if args.sentinel {
        let mut builder = SentinelSet::builder().debug_command(args.debug_command);
        if let Some(p) = password {
            builder = builder.password(p);
        }
        running.sentinel = Some(builder.start()?);
    }
    if let Some(shape) = args.cluster {
        let mut builder = Cluster::builder()
            .masters(shape.masters)
            .replicas(shape.replicas)
            .debug_command(args.debug_command);
        if let Some(p) = password {
            builder = builder.password(p);
        }
        running.cluster = Some(builder.start()?);
    }

    if args.hostile {
        running.hostile = Hostility::ALL
            .iter()
            .map(|&h| h.start().map(|node| (h, node)))
            .collect::<Result<_, _>>()?;
    }

    let text = if args.json {
        format!("{}\n", running.to_json())
    } else {
        running.to_text()
    };
    let mut stdout = std::io::stdout().lock();
    // A reader that went away must not keep the servers from being stopped: ignore errors.
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    drop(stdout);

    if let Some(signal) = signals.forever().next() {
        log::info!("received signal {signal}, stopping every server");
    }
    drop(running);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cluster_shapes() {
        let s: Shape = "3x1".parse().unwrap();
        assert_eq!((s.masters, s.replicas), (3, 1));
        let s: Shape = "6X0".parse().unwrap();
        assert_eq!((s.masters, s.replicas), (6, 0));
        assert!("0x1".parse::<Shape>().is_err());
        assert!("3".parse::<Shape>().is_err());
        assert!("axb".parse::<Shape>().unwrap_err().contains("\"axb\""));
    }
}
