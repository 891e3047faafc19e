//! Passwords from outside the command line (`--password-env`, `--password-file`,
//! `REDISCLI_AUTH`; `--source-…` / `--destination-…` for diff and migrate) against real
//! servers with `requirepass`; none of them ever shows in what the CLI prints.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::os::unix::fs::PermissionsExt;

use slotshift::testing::Standalone;

mod common;

const SOURCE_PW: &str = "canary-source-7f3a";
const DEST_PW: &str = "canary-dest-91c2";

/// Runs `slotshift args…` with `env`, logging everything (`RUST_LOG=trace`); its exit code and
/// everything it printed, which must not hold either password.
fn slotshift(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let env: Vec<(&str, &str)> = [("RUST_LOG", "trace")]
        .into_iter()
        .chain(env.iter().copied())
        .collect();
    let (code, printed) = common::slotshift(args, &env);
    for pw in [SOURCE_PW, DEST_PW] {
        assert!(!printed.contains(pw), "the password was printed: {printed}");
    }
    (code, printed)
}

fn bare_url(server: &Standalone) -> String {
    format!("redis://127.0.0.1:{}", server.port())
}

#[test]
fn one_deployment_takes_its_password_from_env_file_or_rediscli_auth() {
    let server = Standalone::builder().password(SOURCE_PW).start().unwrap();
    let url = bare_url(&server);
    let status = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["status", "--url", &url];
        args.extend_from_slice(extra);
        slotshift(&args, env)
    };

    let (code, printed) = status(&[], &[]);
    assert_eq!(code, 3, "no password: the run fails: {printed}");

    let (code, printed) = status(
        &["--password-env", "APP_REDIS_PW"],
        &[("APP_REDIS_PW", SOURCE_PW)],
    );
    assert_eq!(code, 0, "{printed}");

    let (code, printed) = status(&[], &[("REDISCLI_AUTH", SOURCE_PW)]);
    assert_eq!(code, 0, "{printed}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("redis.pw");
    std::fs::write(&file, format!("{SOURCE_PW}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let file = file.to_str().unwrap();
    let (code, printed) = status(&["--password-file", file], &[]);
    assert_eq!(code, 0, "{printed}");
    assert!(!printed.contains("chmod"), "{printed}");
    // Readable by others: it still works, with a warning that says what to do.
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, printed) = status(&["--password-file", file], &[]);
    assert_eq!(code, 0, "{printed}");
    assert!(printed.contains("chmod 600"), "{printed}");

    // Usage errors name what is wrong.
    let (code, printed) = status(&["--password-env", "SLOTSHIFT_SURELY_UNSET"], &[]);
    assert_eq!(code, 2, "{printed}");
    assert!(
        printed.contains("SLOTSHIFT_SURELY_UNSET is not set"),
        "{printed}"
    );
    let inline = format!("redis://:{SOURCE_PW}@127.0.0.1:{}", server.port());
    let (code, printed) = slotshift(&["pipe", "--url", &inline, "--password-file", file], &[]);
    assert_eq!(code, 2, "{printed}");
    assert!(printed.contains("one way only"), "{printed}");
}

#[test]
fn a_password_in_a_url_or_config_file_is_never_printed() {
    let server = Standalone::builder().password(SOURCE_PW).start().unwrap();
    let port = server.port().to_string();
    let good = format!("redis://:{SOURCE_PW}@127.0.0.1:{port}");
    let wrong = format!("redis://:{DEST_PW}@127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("redis.yml");
    std::fs::write(
        &config,
        format!("url: redis://127.0.0.1:{port}\npassword: {SOURCE_PW}\npasword: typo\n"),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    for args in [
        vec!["status", "--url", &good],
        vec!["status", "--url", &wrong],
        vec!["analyze", "--quiet", "--url", &good],
        vec!["analyze", "--quiet", "--config", config],
        vec![
            "diff",
            "--quiet",
            "--source",
            &good,
            "--destination",
            &wrong,
        ],
        vec![
            "migrate",
            "--quiet",
            "--dry-run",
            "--source",
            &good,
            "--destination",
            &good,
        ],
    ] {
        // slotshift() fails the test if either password shows up, whatever the exit code.
        let (code, printed) = slotshift(&args, &[]);
        assert!(code <= 3, "{args:?}: {code} {printed}");
    }
}

#[test]
fn diff_takes_each_sides_password_from_its_own_flag() {
    let source = Standalone::builder().password(SOURCE_PW).start().unwrap();
    let destination = Standalone::builder().password(DEST_PW).start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dest.pw");
    std::fs::write(&file, DEST_PW).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (src, dst) = (bare_url(&source), bare_url(&destination));
    let args = [
        "diff",
        "--quiet",
        "--source",
        &src,
        "--destination",
        &dst,
        "--source-password-env",
        "SRC_PW",
        "--destination-password-file",
        file.to_str().unwrap(),
    ];
    let (code, printed) = slotshift(&args, &[("SRC_PW", SOURCE_PW)]);
    assert_eq!(code, 0, "{printed}");
    // REDISCLI_AUTH is not used for two sides: without the flags the source refuses.
    let (code, printed) = slotshift(
        &["diff", "--quiet", "--source", &src, "--destination", &dst],
        &[("REDISCLI_AUTH", SOURCE_PW)],
    );
    assert_eq!(code, 3, "{printed}");
    assert!(printed.contains("NOAUTH"), "{printed}");
}
