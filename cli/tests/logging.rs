//! The core's warnings reach the user: a typo in a config file is reported on stderr (it used
//! to be dropped, as the CLI installed no logger), and `-v` / `RUST_LOG` change the level.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::process::Command;

use slotshift::testing::Standalone;

fn analyze_with_config(
    config: &std::path::Path,
    extra: &[&str],
    rust_log: Option<&str>,
) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slotshift"));
    cmd.args(["analyze", "--config"]).arg(config).args(extra);
    cmd.env_remove("RUST_LOG");
    if let Some(l) = rust_log {
        cmd.env("RUST_LOG", l);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_config_typo_is_a_warning_on_stderr() {
    let server = Standalone::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("old.yml");
    std::fs::write(
        &config,
        format!("url: {}\npasword: canary-pw-0815\n", server.url()),
    )
    .unwrap();
    let (ok, stderr) = analyze_with_config(&config, &[], None);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("pasword"), "{stderr}");
    assert!(stderr.contains("old.yml"), "{stderr}");
    assert!(!stderr.contains("canary-pw-0815"), "{stderr}");

    // RUST_LOG=off silences it; -vvv (trace) shows it and still no secret.
    let (_, quiet) = analyze_with_config(&config, &[], Some("off"));
    assert!(!quiet.contains("pasword"), "{quiet}");
    let (ok, loud) = analyze_with_config(&config, &["-vvv"], None);
    assert!(ok && loud.contains("pasword"), "{loud}");
    assert!(!loud.contains("canary-pw-0815"), "{loud}");
}
