//! `deploy/grafana/slotshift-migration.json` and `deploy/prometheus/alerts.yml` watch only
//! metrics the code really exports: a MultiStore and its stores are exercised against real
//! servers, the Prometheus text is scraped, and every metric an expression names must be a
//! family of it (with its `# TYPE` line), under the default prefix and under GitLab's.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::collections::BTreeSet;
use std::path::PathBuf;

use slotshift::command::Cmd;
use slotshift::instrument;
use slotshift::multistore::{FlagSource, MultiStore, MultiStoreOptions, Phase};
use slotshift::store::Store;
use slotshift::testing::Standalone;

fn deploy(file: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "deploy", file]
        .iter()
        .collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The metric names after `prefix` in `text` (`prefix_requests_total` → `requests_total`).
fn names_after(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        rest = &rest[at + prefix.len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

/// The family a series name belongs to (histogram series end in `_bucket`, `_sum`, `_count`).
fn family<'a>(name: &'a str, families: &BTreeSet<String>) -> Option<&'a str> {
    if families.contains(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"]
        .iter()
        .filter_map(|suffix| name.strip_suffix(suffix))
        .find(|base| families.contains(*base))
}

/// Drives a MultiStore through dual writes, reads, a pipeline and a fallback, so that every
/// family has samples; returns the exposition under `prefix`: the process-wide registry's,
/// then the MultiStore's own `metrics_text` (the only one with the async queue's depth gauge,
/// `multi_store_async_queue_depth`: the registry holds counters only).
fn scrape(prefix: &str) -> String {
    let old = Standalone::start().unwrap();
    let new = Standalone::start().unwrap();
    let mut opts = MultiStoreOptions::default();
    opts.flags = FlagSource::InProcess(Phase::DualWritePrimaryDefault.flags());
    opts.fallback_reads = true;
    opts.shadow_read_ratio = 1.0;
    opts.metrics_prefix = prefix.to_owned();
    let ms = MultiStore::new(
        "deploy_check",
        Store::open(&new.url()).unwrap(),
        Store::open(&old.url()).unwrap(),
        opts,
    )
    .unwrap();
    ms.call(&Cmd::from_args(["SET", "k", "v"])).unwrap();
    ms.call(&Cmd::from_args(["GET", "k"])).unwrap();
    // Only on the old store: the read falls back to it.
    Store::open(&old.url())
        .unwrap()
        .call(&Cmd::from_args(["SET", "only-old", "v"]))
        .unwrap();
    ms.call(&Cmd::from_args(["GET", "only-old"])).unwrap();
    ms.pipeline(&[Cmd::from_args(["INCR", "n"]), Cmd::from_args(["GET", "n"])])
        .unwrap();
    let _ = ms.call(&Cmd::from_args(["INCR", "k"]));
    instrument::render_prometheus_with_prefix(prefix) + &ms.metrics_text()
}

/// The value of the sample of `name{instance_name="queue_check"}` in `text`.
fn sample(text: &str, name: &str) -> Option<u64> {
    let head = format!("{name}{{instance_name=\"queue_check\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&head))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn the_async_queue_depth_gauge_rises_while_the_other_store_stalls_and_falls_as_it_drains() {
    let old = Standalone::start().unwrap();
    let new = Standalone::start().unwrap();
    let mut opts = MultiStoreOptions::default();
    opts.flags = FlagSource::InProcess(Phase::DualWritePrimaryDefault.flags());
    opts.async_non_default_writes = true;
    let ms = MultiStore::new(
        "queue_check",
        Store::open(&new.url()).unwrap(),
        Store::open(&old.url()).unwrap(),
        opts,
    )
    .unwrap();
    let gauge = "slotshift_multi_store_async_queue_depth";
    assert_eq!(sample(&ms.metrics_text(), gauge), Some(0));
    // The non-default (old) store stops answering writes for a while: the queue fills.
    Store::open(&old.url())
        .unwrap()
        .call(&Cmd::from_args(["CLIENT", "PAUSE", "3000", "WRITE"]))
        .unwrap();
    for i in 0..50 {
        ms.call(&Cmd::from_args(["SET", &format!("q:{i}"), "v"]))
            .unwrap();
    }
    let text = ms.metrics_text();
    assert!(text.contains(&format!("# TYPE {gauge} gauge")), "{text}");
    let depth = sample(&text, gauge).unwrap();
    assert!(depth > 0 && depth <= 50, "{text}");
    assert_eq!(ms.metrics().async_queue_depth, ms.queued() as u64);
    assert!(ms.drain(std::time::Duration::from_secs(30)));
    assert_eq!(sample(&ms.metrics_text(), gauge), Some(0));
}

#[test]
fn every_dashboard_and_alert_metric_is_exported() {
    for prefix in ["slotshift", "gitlab_redis"] {
        let text = scrape(prefix);
        let families: BTreeSet<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .filter_map(|n| n.strip_prefix(&format!("{prefix}_")))
            .map(str::to_owned)
            .collect();
        assert!(families.contains("requests_total"), "{text}");

        let dashboard = deploy("grafana/slotshift-migration.json");
        let alerts = deploy("prometheus/alerts.yml");
        let used: BTreeSet<String> = names_after(&dashboard, "${prefix}_")
            .into_iter()
            .chain(names_after(&alerts, "slotshift_"))
            .collect();
        assert!(used.len() >= 15, "{used:?}");
        let missing: Vec<&String> = used
            .iter()
            .filter(|n| family(n, &families).is_none())
            .collect();
        assert!(
            missing.is_empty(),
            "{prefix}: metrics the dashboard or alerts use but the code does not export: \
             {missing:?}\nexported: {families:?}"
        );
    }
}

#[test]
fn the_dashboard_is_valid_grafana_json() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&deploy("grafana/slotshift-migration.json")).unwrap();
    assert_eq!(dashboard["uid"], "slotshift-migration");
    let panels = dashboard["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    for p in panels {
        assert!(ids.insert(p["id"].as_u64().unwrap()), "duplicate panel id");
        if p["type"] == "row" {
            continue;
        }
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}", p["title"]);
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            assert!(expr.contains("${prefix}_"), "{expr}");
            assert_eq!(
                expr.matches('(').count(),
                expr.matches(')').count(),
                "unbalanced: {expr}"
            );
        }
    }
}
