//! `slotshift demo`: the main job, shown on an embedded topology.
//!
//! Today it starts a 3-master cluster with one replica each, writes sample keys through a
//! cluster [`Store`], and shows for each key the slot slotshift computes next to the slot and
//! owner the cluster itself reports, then stops every server. The live-migration demo (issue 10)
//! grows from here.

use slotshift::command::Cmd;
use slotshift::reply::Reply;
use slotshift::store::Store;
use slotshift::testing::Cluster;

/// Arguments of `slotshift demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Masters in the embedded cluster.
    #[arg(long, default_value_t = 3)]
    masters: usize,
    /// Replicas per master.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
}

const SAMPLE_KEYS: &[&str] = &[
    "user:1000:profile",
    "{user1000}.following",
    "{user1000}.followers",
    "cache:gitlab:{project:42}:branches",
    "session:gitlab:2f9c2a4e",
    "foo{bar}{zap}",
    "bar",
    "123456789",
];

pub fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "slotshift demo: starting a {}x{} cluster on loopback…",
        args.masters, args.replicas
    );
    let cluster = Cluster::builder()
        .masters(args.masters)
        .replicas(args.replicas)
        .start()?;
    let pids: Vec<u32> = cluster.nodes().iter().map(|n| n.pid()).collect();
    for url in cluster.seed_urls() {
        println!("  node {url}");
    }
    let store = Store::open(&cluster.url())?;
    println!("store kind detected from one URL: {:?}\n", store.kind());

    println!(
        "{:<38} {:>8} {:>14} {:<18} value read on owner",
        "key", "slotshift", "CLUSTER KEYSLOT", "owner (cluster)"
    );
    let mut mismatches = 0;
    for key in SAMPLE_KEYS {
        let ours = slotshift::key_slot(key.as_bytes());
        store.call(
            &Cmd::new("SET")
                .with_arg(key)
                .with_arg(format!("value of {key}")),
        )?;
        let node = &cluster.nodes()[0];
        let theirs: u16 = node.query(redis::cmd("CLUSTER").arg("KEYSLOT").arg(*key))?;
        let owner = cluster.master_for_slot(ours)?;
        // Read on the owner itself, with no redirect allowed: proves the key lives there.
        let on_owner: Option<String> = owner.query(redis::cmd("GET").arg(*key))?;
        if theirs != ours.get() || on_owner.as_deref() != Some(&format!("value of {key}")) {
            mismatches += 1;
        }
        println!(
            "{:<38} {:>8} {:>14} {:<18} {}",
            key,
            ours.get(),
            theirs,
            owner.addr(),
            on_owner.unwrap_or_else(|| "(missing)".into())
        );
    }
    let read_back = store.call(&Cmd::new("GET").with_arg("{user1000}.followers"))?;
    if read_back != Reply::Bulk(b"value of {user1000}.followers".to_vec()) {
        mismatches += 1;
    }
    println!("\nstopping {} servers…", pids.len());
    drop(store);
    drop(cluster);
    let alive = pids
        .iter()
        .filter(|&&pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
        .count();
    println!("servers still running: {alive}");
    if mismatches > 0 || alive > 0 {
        return Err(
            format!("demo failed: {mismatches} mismatches, {alive} servers left running").into(),
        );
    }
    println!("demo ok: every key lives where slotshift says, and every server stopped.");
    Ok(())
}
