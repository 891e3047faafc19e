//! The HTML reports as a browser shows them: `slotshift analyze --html` on a real cluster
//! (password, a hot shard), a short `slotshift demo` and `slotshift migrate --html` (standalone
//! into a 3-master cluster), each page opened by headless chromium (`--dump-dom`,
//! `--screenshot`). The DOM chromium built must hold every chart with
//! its series, events and bars, and neither a key name nor the password. `make test-reports`
//! runs this file; `make screenshots` runs it with `SLOTSHIFT_SCREENSHOTS=docs/img`, which
//! keeps the screenshots there.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use slotshift::command::Cmd;
use slotshift::store::Store;
use slotshift::testing::Cluster;

mod common;

const PASSWORD: &str = "canary-report-pw-5e81";

/// Opens `page` in headless chromium: the DOM it built, and a screenshot of the top
/// `height` pixels written to `png` (checked to be a PNG).
fn render(page: &Path, png: &Path, height: u32) -> String {
    let profile = tempfile::tempdir().unwrap();
    let chromium = |extra: &[String]| {
        // `timeout`: a browser that hangs fails the test instead of holding it.
        let out = Command::new("timeout")
            .arg("120")
            .arg(std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into()))
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .stdin(Stdio::null())
            .output()
            .expect("chromium runs (make test-reports installs it: scripts/packages/reports.txt)");
        assert!(
            out.status.success(),
            "chromium failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let dom = chromium(&["--dump-dom".into()]);
    chromium(&[
        format!("--window-size=1200,{height}"),
        format!("--screenshot={}", png.display()),
    ]);
    let bytes = std::fs::read(png).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
        "{} is not a screenshot of a drawn page ({} bytes)",
        png.display(),
        bytes.len()
    );
    dom
}

/// Where a screenshot goes: `$SLOTSHIFT_SCREENSHOTS/NAME` when set (make screenshots), else
/// `dir`.
fn screenshot(dir: &Path, name: &str) -> PathBuf {
    match std::env::var_os("SLOTSHIFT_SCREENSHOTS") {
        Some(d) => {
            std::fs::create_dir_all(&d).unwrap();
            std::fs::canonicalize(d).unwrap().join(name)
        }
        None => dir.join(name),
    }
}

/// The `<svg data-chart="ID">…</svg>` of the DOM; fails when the chart is missing.
fn chart<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("data-chart=\"{id}\""))
        .unwrap_or_else(|| panic!("chart {id} is missing"));
    let end = start + dom[start..].find("</svg>").expect("svg closed");
    &dom[start..end]
}

/// The points of a series' path (`M x y L x y …`) in a chart; fails when it is missing.
fn points(svg: &str, series: &str) -> usize {
    let at = svg
        .find(&format!("data-series=\"{series}\""))
        .unwrap_or_else(|| panic!("series {series} is missing"));
    let d = &svg[at..];
    let d = &d[d.find(" d=\"").expect("a path") + 4..];
    d[..d.find('"').unwrap()].matches(['M', 'L']).count()
}

/// Runs `slotshift args…`, which must succeed; what it printed.
fn runs(args: &[&str], env: &[(&str, &str)]) -> String {
    let (code, printed) = common::slotshift(args, env);
    assert_eq!(code, 0, "slotshift {args:?}:\n{printed}");
    printed
}

/// A UUID-shaped id (the built-in rule masks it as `<uuid>`).
fn uuid(i: u32) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        i.wrapping_mul(2_654_435_761),
        i & 0xffff,
        i % 4096,
        (i * 7) % 4096,
        u64::from(i) * 1_000_003
    )
}

#[test]
fn analyzer_page_draws_patterns_mix_and_masters_without_key_names() {
    let cluster = Cluster::builder()
        .masters(3)
        .password(PASSWORD)
        .start()
        .unwrap();
    let store = Store::open(&cluster.url()).unwrap();
    let mut names: Vec<String> = Vec::new();
    let mut cmds = Vec::new();
    for i in 0..400u32 {
        let k = format!("user:{}:profile", 100_000 + i);
        cmds.push(Cmd::new("SET").with_arg(&k).with_arg("v".repeat(40)));
        names.push(k);
    }
    for i in 0..300u32 {
        let k = format!("session:{}", uuid(i));
        cmds.push(
            Cmd::new("SET")
                .with_arg(&k)
                .with_arg("s")
                .with_arg("EX")
                .with_arg("600"),
        );
        names.push(k);
    }
    // One hash tag: one slot, one master — the hot shard.
    for i in 0..1500u32 {
        let k = format!("{{cart}}:{}", 700_000 + i);
        cmds.push(Cmd::new("HSET").with_arg(&k).with_arg("item").with_arg("1"));
        names.push(k);
    }
    for i in 0..60u32 {
        let k = format!("queue:jobs:{}", 900_000 + i);
        cmds.push(Cmd::new("RPUSH").with_arg(&k).with_arg("a").with_arg("b"));
        cmds.push(Cmd::new("EXPIRE").with_arg(&k).with_arg("7200"));
        names.push(k);
    }
    for chunk in cmds.chunks(500) {
        for r in store.pipeline(chunk).unwrap() {
            r.unwrap();
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("keyspace.html");
    let port = cluster.masters().unwrap()[0].port();
    runs(
        &[
            "analyze",
            "--url",
            &format!("redis://127.0.0.1:{port}"),
            "--password-env",
            "REPORT_PW",
            "--quiet",
            "--html",
            page.to_str().unwrap(),
        ],
        &[("REPORT_PW", PASSWORD)],
    );
    let dom = render(&page, &screenshot(dir.path(), "analyzer-report.png"), 1700);

    // Memory and keys by pattern: one bar per pattern, the hash-tagged pattern first by keys.
    for id in ["memory-by-pattern", "keys-by-pattern"] {
        let svg = chart(&dom, id);
        assert_eq!(svg.matches("class=\"bar").count(), 4, "{id}: {svg}");
        for pattern in [
            "user:&lt;num&gt;:profile",
            "session:&lt;uuid&gt;",
            "{cart}:&lt;num&gt;",
            "queue:jobs:&lt;num&gt;",
        ] {
            assert!(
                svg.contains(&format!(">{pattern}<")),
                "{id} lacks {pattern}"
            );
        }
    }
    let keys = chart(&dom, "keys-by-pattern");
    assert!(
        keys.find("{cart}").unwrap() < keys.find("user:").unwrap(),
        "bars not sorted: {keys}"
    );
    // The type and TTL mix: the sessions expire within the hour, the queues within the day.
    let types = chart(&dom, "types-by-pattern");
    for t in ["string: 400", "hash: 1500", "list: 60"] {
        assert!(types.contains(t), "types lack {t}: {types}");
    }
    let ttl = chart(&dom, "ttl-by-pattern");
    for t in ["&lt; 1 hour: 300", "&lt; 1 day: 60", "no TTL: 1500"] {
        assert!(ttl.contains(t), "TTL mix lacks {t}: {ttl}");
    }
    // Per master: three bars each, exactly one hot (the {cart} master).
    for id in ["keys-by-master", "memory-by-master"] {
        let svg = chart(&dom, id);
        assert_eq!(svg.matches("class=\"bar").count(), 3, "{id}: {svg}");
    }
    assert_eq!(
        chart(&dom, "keys-by-master")
            .matches("class=\"bar hot\"")
            .count(),
        1
    );
    assert!(dom.contains("hot shard:"), "no hot shard named");
    // Masked: no key name, no password; the biggest keys are digests.
    assert!(!dom.contains(PASSWORD), "the password is in the page");
    for k in &names {
        assert!(!dom.contains(k.as_str()), "key name {k} is in the page");
    }
    assert!(dom.contains(">#"), "no masked sample key shown");
}

#[test]
fn demo_page_draws_the_load_phases_reshards_histograms_and_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    runs(
        &[
            "demo",
            "--short",
            "--phase-seconds",
            "1",
            "--threads",
            "3",
            "--keys",
            "200",
            "--report-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    let dom = render(
        &dir.path().join("report.html"),
        &screenshot(dir.path(), "demo-report.png"),
        1900,
    );

    // The proof, first.
    let proof = dom.find("id=\"proof\"").expect("the proof is missing");
    assert!(proof < dom.find("data-chart").unwrap());
    assert!(dom.contains("<b>0 keys lost, 0 errors</b>"), "verdict");
    assert!(dom.contains("<b>0</b>keys lost"), "keys lost");
    assert!(dom.contains("<b>0</b>final diff"), "final diff");

    // The timelines: a point per second, the six phases and the two reshards marked.
    for (id, series) in [
        ("timeline-throughput", ["ops/s", "errors/s"]),
        ("timeline-latency", ["p50 ms", "p99 ms"]),
    ] {
        let svg = chart(&dom, id);
        for s in series {
            assert!(points(svg, s) >= 5, "{id}: too few points of {s}");
        }
        assert_eq!(svg.matches("data-kind=\"phase\"").count(), 6, "{id}");
        assert_eq!(svg.matches("data-kind=\"reshard\"").count(), 2, "{id}");
        for label in [
            ">phase 1 old only<",
            ">phase 2 dual-write<",
            ">phase 3 backfill (migrate) + reshard<",
            ">phase 4 diff = 0<",
            ">phase 5 new as default + reshard<",
            ">phase 6 new only<",
            ">reshard 64 slots :",
            ">reshard 32 slots :",
        ] {
            assert!(svg.contains(label), "{id} lacks {label}");
        }
    }
    // A latency histogram per phase, each with counted operations.
    for p in 1..=6 {
        let svg = chart(&dom, &format!("latency-histogram-{p}"));
        assert!(svg.contains("class=\"bin\""), "histogram {p} has no bins");
        assert!(
            svg.matches("height=\"0.0\"").count() < svg.matches("class=\"bin\"").count(),
            "histogram {p} is empty"
        );
    }
    // The analyzer's view of the new cluster.
    assert!(chart(&dom, "memory-by-pattern").contains("class=\"bar"));
    assert_eq!(
        chart(&dom, "keys-by-master").matches("class=\"bar").count(),
        3
    );
    assert!(
        dom.contains("id=\"patterns\""),
        "the pattern table is missing"
    );
    // No key name of the workload (demo:t<thread>:<s|c|h><n>) reaches the page: after
    // `demo:t<thread>:` comes a pattern's placeholder, never a kind letter and a number.
    for (at, _) in dom.match_indices("demo:t") {
        let rest = dom[at + 6..].trim_start_matches(|c: char| c.is_ascii_digit());
        let mut after = rest.strip_prefix(':').unwrap_or("").chars();
        let (kind, digit) = (after.next(), after.next());
        assert!(
            !(matches!(kind, Some('s' | 'c' | 'h')) && digit.is_some_and(|d| d.is_ascii_digit())),
            "a key name is in the page: {}",
            &dom[at..(at + 20).min(dom.len())]
        );
    }
}

#[test]
fn migrate_page_draws_the_copy_rounds_and_final_diff() {
    let source = slotshift::testing::Standalone::start().unwrap();
    let destination = Cluster::start(3, 0).unwrap();
    let src = Store::open(&source.url()).unwrap();
    let mut cmds: Vec<Cmd> = (0..300)
        .map(|i| Cmd::from_args(["SET", &format!("order:{}", 500_000 + i), "v"]))
        .collect();
    cmds.extend((0..20).map(|i| Cmd::from_args(["HSET", &format!("cart:{i}"), "item", "1"])));
    cmds.extend((0..10).map(|i| Cmd::from_args(["RPUSH", &format!("queue:{i}"), "job"])));
    for r in src.pipeline(&cmds).unwrap() {
        r.unwrap();
    }
    // Already there and equal: counted as equal, not copied.
    let dst = Store::open(&destination.url()).unwrap();
    dst.call(&Cmd::from_args(["SET", "order:500000", "v"]))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("migrate.html");
    runs(
        &[
            "migrate",
            "--source",
            &source.url(),
            "--destination",
            &destination.url(),
            "--quiet",
            "--summary",
            "--html",
            page.to_str().unwrap(),
        ],
        &[],
    );
    let dom = render(&page, &screenshot(dir.path(), "migrate-report.png"), 1400);
    let copy = chart(&dom, "copy");
    assert_eq!(copy.matches("class=\"bar").count(), 5, "{copy}");
    assert!(copy.contains("restored (DUMP/RESTORE): 329<"), "{copy}");
    assert!(copy.contains("equal, not written: 1<"), "{copy}");
    let types = chart(&dom, "copy-types");
    assert_eq!(types.matches("class=\"bar").count(), 3, "{types}");
    for bar in ["string: 299<", "hash: 20<", "list: 10<"] {
        assert!(types.contains(bar), "{bar}: {types}");
    }
    assert!(chart(&dom, "rounds").contains("left after the rounds: 0<"));
    let kinds = chart(&dom, "final-diff-kinds");
    assert_eq!(kinds.matches("class=\"bar").count(), 5, "{kinds}");
    assert!(
        kinds.contains("missing: 0<") && kinds.contains("extra: 0<"),
        "{kinds}"
    );
    chart(&dom, "final-diff-rounds");
    assert!(dom.contains("class=\"fact ok\" data-fact=\"differences remain\""));
    // --summary: no key listed.
    assert!(
        !dom.contains("order:5") && !dom.contains("cart:1"),
        "a key name shows"
    );
}
