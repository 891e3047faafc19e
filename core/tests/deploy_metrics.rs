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
/// family has samples; returns the exposition under `prefix`.
fn scrape(prefix: &str) -> String {
    let old = Standalone::start().unwrap();
    let new = Standalone::start().unwrap();
    let mut opts = MultiStoreOptions::default();
    opts.flags = FlagSource::InProcess(Phase::DualWritePrimaryDefault.flags());
    opts.fallback_reads = true;
    opts.shadow_read_ratio = 1.0;
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
    instrument::render_prometheus_with_prefix(prefix)
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
