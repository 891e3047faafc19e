//! What the CLI's integration tests share (`mod common;` in each test that uses it).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use std::process::{Command, Stdio};

/// Runs the `slotshift` binary with `args` and `env` (stdin closed, `REDISCLI_AUTH` of the
/// caller's environment removed); its exit code and everything it printed, stdout then stderr.
pub fn slotshift(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slotshift"));
    cmd.args(args)
        .env_remove("REDISCLI_AUTH")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().expect("exited"), printed)
}
