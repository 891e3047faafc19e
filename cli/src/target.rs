//! Where a subcommand connects: URLs (one, or several cluster seeds) or a YAML file, and the
//! password from an environment variable or a file rather than the command line, where any
//! user's `ps` shows it. Every subcommand that opens a store goes through here.
//!
//! Password precedence, as redis-cli has it: `--password-env NAME` or `--password-file FILE`
//! when given (an error if the URL or file already carries one: one way only); else the URL's
//! or file's own; else `REDISCLI_AUTH` for subcommands that talk to one deployment (not for
//! `diff` / `migrate`, whose two sides rarely share a password).

use std::path::{Path, PathBuf};

use slotshift::config::{Deployment, Secret};
use slotshift::store::{Store, StoreOptions};

use crate::exit::Usage;

/// The password flags of one endpoint, with the flags' names for messages.
pub struct PasswordFlags<'a> {
    /// `--password-env`'s value: the environment variable that holds the password.
    pub env: Option<&'a str>,
    /// `--password-file`'s value: a file whose content (less one trailing newline) is it.
    pub file: Option<&'a Path>,
    /// The flags' prefix as the user types it (`--password`, `--source-password` …).
    pub flag: &'static str,
    /// Whether `REDISCLI_AUTH` applies when nothing else gives a password.
    pub redis_cli_auth: bool,
}

/// Where one subcommand connects (flattened into its arguments).
#[derive(clap::Args)]
pub struct Connect {
    /// A server, Sentinel or cluster URL; give --url several times for cluster seeds.
    #[arg(long = "url", value_name = "URL", required_unless_present = "config")]
    pub urls: Vec<String>,
    /// A YAML file with `url:` or `nodes:` (+ `username:` / `password:`), instead of --url.
    #[arg(long, value_name = "FILE", conflicts_with = "urls")]
    pub config: Option<PathBuf>,
    /// Read the password from this environment variable (keeps it out of `ps`).
    #[arg(long, value_name = "NAME", conflicts_with = "password_file")]
    pub password_env: Option<String>,
    /// Read the password from this file (one line; keep it mode 600).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

impl Connect {
    /// The deployment with its password, as the flags and the environment give them.
    pub fn deployment(&self) -> Result<Deployment, Box<dyn std::error::Error>> {
        let flags = PasswordFlags {
            env: self.password_env.as_deref(),
            file: self.password_file.as_deref(),
            flag: "--password",
            redis_cli_auth: true,
        };
        deployment(&self.urls, self.config.as_deref(), &flags, "--url")
    }

    /// Opens the store.
    pub fn open(&self) -> Result<Store, Box<dyn std::error::Error>> {
        Ok(connect(&self.deployment()?)?)
    }
}

/// The deployment `urls` or `config` names, with the password `flags` give.
pub fn deployment(
    urls: &[String],
    config: Option<&Path>,
    flags: &PasswordFlags<'_>,
    url_flag: &str,
) -> Result<Deployment, Box<dyn std::error::Error>> {
    let parsed = match (config, urls) {
        (Some(file), _) => Deployment::from_yaml_file(file),
        (None, []) => {
            return Err(Usage(format!("give {url_flag} URL (or the config FILE)")).into());
        }
        (None, urls) => Deployment::from_urls(urls),
    };
    // A bad URL or file is the core's configuration error: a usage error (exit 2).
    let mut deployment = parsed.map_err(slotshift::Error::from)?;
    let has_own = deployment.servers().iter().any(|s| s.password.is_some());
    match password(flags)? {
        Some(_) if has_own => {
            return Err(Usage(format!(
                "{}-env/{}-file: the URL or config file already carries a password; give it \
                 one way only",
                flags.flag, flags.flag
            ))
            .into());
        }
        Some(secret) => deployment.set_password(&secret),
        None if flags.redis_cli_auth && !has_own => {
            if let Some(secret) = from_env("REDISCLI_AUTH").ok().flatten() {
                deployment.set_password(&secret);
            }
        }
        None => {}
    }
    Ok(deployment)
}

/// Opens `deployment` with the timeouts its (first) URL states, as `Store::open` does.
pub fn connect(deployment: &Deployment) -> Result<Store, slotshift::Error> {
    let mut opts = StoreOptions::default();
    if let Some(server) = deployment.servers().first() {
        opts.apply_url_timeouts(server);
    }
    Store::connect(deployment, opts)
}

/// The password `--…-env` or `--…-file` gives, if either is set.
fn password(flags: &PasswordFlags<'_>) -> Result<Option<Secret>, Usage> {
    if let Some(name) = flags.env {
        return match from_env(name) {
            Ok(Some(secret)) => Ok(Some(secret)),
            Ok(None) => Err(Usage(format!(
                "{}-env {name}: the environment variable {name} is not set or empty",
                flags.flag
            ))),
            Err(why) => Err(Usage(format!("{}-env {name}: {why}", flags.flag))),
        };
    }
    let Some(path) = flags.file else {
        return Ok(None);
    };
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Usage(format!("{}-file {shown}: {e}", flags.flag)))?;
    let line = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if line.is_empty() {
        return Err(Usage(format!(
            "{}-file {shown}: the file is empty",
            flags.flag
        )));
    }
    if line.contains('\n') {
        return Err(Usage(format!(
            "{}-file {shown}: more than one line; the file must hold the password alone",
            flags.flag
        )));
    }
    warn_if_readable_by_others(path);
    Ok(Some(Secret::new(line)))
}

/// The password in environment variable `name`: `None` when unset or empty.
fn from_env(name: &str) -> Result<Option<Secret>, String> {
    match std::env::var(name) {
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) => Ok(Some(Secret::new(v))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8")),
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            log::warn!(
                "{} can be read by other users (mode {:o}); chmod 600 it",
                path.display(),
                meta.permissions().mode() & 0o777
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags<'a>(env: Option<&'a str>, file: Option<&'a Path>) -> PasswordFlags<'a> {
        PasswordFlags {
            env,
            file,
            flag: "--password",
            redis_cli_auth: false,
        }
    }

    #[test]
    fn a_password_file_holds_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok");
        std::fs::write(&ok, "s3cret\n").unwrap();
        let got = password(&flags(None, Some(&ok))).unwrap().unwrap();
        assert_eq!(got.expose(), "s3cret");

        for (name, content, says) in [
            ("empty", "\n", "empty"),
            ("two", "a\nb\n", "more than one line"),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            let err = password(&flags(None, Some(&path))).unwrap_err().0;
            assert!(err.contains(says), "{err}");
            assert!(err.starts_with("--password-file"), "{err}");
        }
        let missing = dir.path().join("missing");
        let err = password(&flags(None, Some(&missing))).unwrap_err().0;
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn an_unset_variable_is_named() {
        let err = password(&flags(Some("SLOTSHIFT_TEST_SURELY_UNSET_VAR"), None))
            .unwrap_err()
            .0;
        assert!(
            err.contains("SLOTSHIFT_TEST_SURELY_UNSET_VAR is not set"),
            "{err}"
        );
    }

    #[test]
    fn a_url_password_and_a_flag_are_refused_together() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "other").unwrap();
        let urls = vec!["redis://:inline@127.0.0.1:6379".to_string()];
        let err = deployment(&urls, None, &flags(None, Some(&file)), "--url")
            .unwrap_err()
            .to_string();
        assert!(err.contains("one way only"), "{err}");
        assert!(!err.contains("inline") && !err.contains("other"), "{err}");

        let urls = vec![
            "redis://127.0.0.1:7000".into(),
            "redis://127.0.0.1:7001".into(),
        ];
        let d = deployment(&urls, None, &flags(None, Some(&file)), "--url").unwrap();
        assert!(d
            .servers()
            .iter()
            .all(|s| s.password.as_ref().map(Secret::expose) == Some("other")));
    }
}
