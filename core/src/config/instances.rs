//! Named instances ([`Instances`]) and the YAML files they come from.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml_ng::Value;

use super::value::interpret;
use super::yaml::{as_map, join, key_name, origin, read_yaml, section, with_line};
use super::{ConfigError, Deployment};

/// GitLab's `config_fallback` pairs (instance, the instance it falls back to), for
/// [`Instances::with_gitlab_fallbacks`].
pub const GITLAB_FALLBACKS: &[(&str, &str)] = &[
    ("action_cable", "shared_state"),
    ("concurrency_limit", "shared_state"),
    ("db_load_balancing", "shared_state"),
    ("sessions", "shared_state"),
    ("trace_chunks", "shared_state"),
    ("feature_flag", "cache"),
    ("rate_limiting", "cache"),
    ("repository_cache", "cache"),
];

/// Where a configured instance came from, and what it says.
#[derive(Clone, Debug)]
struct Entry {
    /// `None` for an instance that only names a `fallback:`.
    deployment: Option<Deployment>,
    /// `config/redis.yml (production.cache)`.
    origin: String,
}

/// Named Redis instances (`cache`, `shared_state`, `sessions`, …) with GitLab's files, precedence
/// and fallbacks.
///
/// Sources, as GitLab reads them from its `config/` directory:
///
/// - `redis.yml`: several instances, keyed by environment then instance name
///   (`production: { cache: …, shared_state: … }`), or flat (`cache: …`) when no environment
///   is given;
/// - `redis.<name>.yml`: one instance, keyed by environment (or the instance value itself);
/// - `resque.yml`: the legacy global default, used by every instance that nothing else
///   configures.
///
/// An instance value is a bare URL string or a map with `url:`, or `nodes:` / `cluster:` (a list
/// of URLs, `host:port` strings or `{host:, port:}` maps), or `host:` + `port:`, or `path:` (a unix
/// socket); plus `username:`, `password:`, `db:`, `sentinels:` (a list of `{host:, port:}`) with
/// `name:` (the master name, else the URL's host), `sentinel_username:`, `sentinel_password:`,
/// `ssl: true`, `ssl_params:` (`ca_file`, `cert_file`, `key_file`, `server_name`,
/// `verify_mode: none`), `connect_timeout:` / `read_timeout:` / `write_timeout:` (seconds), and
/// `fallback:` (another instance's name). Explicit keys win over what the URL says. Other keys
/// (GitLab's `secret_file`, `config_command`, …) are ignored with a warning.
///
/// Resolution of instance `n` whose fallback chain is `n → f1 → f2 …` (GitLab's order, extended
/// to chains): `redis.yml[n]`, `redis.n.yml`, then for each fallback `redis.f.yml` and
/// `redis.yml[f]`, and last `resque.yml`. A chain that loops is an error naming the loop, even
/// when an earlier step is configured.
///
/// ```
/// use slotshift::config::Instances;
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("redis.yml"), "
/// production:
///   shared_state: redis://state.internal:6379
///   cache:
///     nodes: [{host: c1.internal, port: 7000}, {host: c2.internal, port: 7000}]
///     password: s3cret
/// ").unwrap();
/// let instances = Instances::load_dir(dir.path(), "production").unwrap().with_gitlab_fallbacks();
/// assert_eq!(instances.resolve("sessions").unwrap().to_string(), "redis://state.internal:6379");
/// assert_eq!(instances.resolve("cache").unwrap().to_string(), "redis://:***@c1.internal:7000,c2.internal:7000");
/// assert_eq!(instances.resolve("rate_limiting").unwrap().kind(), "cluster");
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Instances {
    /// From `redis.yml` (or [`Instances::add_url`]).
    shared: BTreeMap<String, Entry>,
    /// From `redis.<name>.yml`.
    own_files: BTreeMap<String, Entry>,
    /// From `resque.yml`.
    global: Option<Entry>,
    /// `fallback:` keys read from files; they beat `default_fallbacks`.
    file_fallbacks: BTreeMap<String, String>,
    /// From [`Instances::with_fallback`].
    default_fallbacks: BTreeMap<String, String>,
}

impl Instances {
    /// No instances, no fallbacks.
    pub fn new() -> Self {
        Instances::default()
    }

    /// Reads GitLab's config directory for environment `env`: `redis.yml`, every
    /// `redis.<name>.yml`, and `resque.yml`. Missing files are skipped; unreadable or invalid
    /// ones are errors.
    pub fn load_dir(dir: impl AsRef<Path>, env: &str) -> Result<Instances, ConfigError> {
        let dir = dir.as_ref();
        let mut instances = Instances::new();
        let shared = dir.join("redis.yml");
        if shared.exists() {
            instances.add_shared_file(&shared, Some(env))?;
        }
        let listing = std::fs::read_dir(dir).map_err(|source| ConfigError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut own = Vec::new();
        for entry in listing.flatten() {
            let file_name = entry.file_name();
            let Some(file_name) = file_name.to_str() else {
                continue;
            };
            if let Some(name) = file_name
                .strip_prefix("redis.")
                .and_then(|rest| rest.strip_suffix(".yml"))
            {
                if !name.is_empty() {
                    own.push((name.to_string(), entry.path()));
                }
            }
        }
        own.sort();
        for (name, path) in own {
            instances.add_instance_file(&name, &path, Some(env))?;
        }
        let resque = dir.join("resque.yml");
        if resque.exists() {
            instances.add_global_file(&resque, Some(env))?;
        }
        Ok(instances)
    }

    /// Adds the instances of a multi-instance file (`redis.yml`): keyed by `env` then instance
    /// name, or flat (instance name at the top) when `env` is `None`. A file without an `env`
    /// section adds nothing.
    pub fn add_shared_file(
        &mut self,
        path: impl AsRef<Path>,
        env: Option<&str>,
    ) -> Result<&mut Self, ConfigError> {
        let path = path.as_ref();
        let (text, doc) = read_yaml(path)?;
        self.add_shared_value(path, env, doc)
            .map_err(|e| with_line(e, &text))?;
        Ok(self)
    }

    fn add_shared_value(
        &mut self,
        path: &Path,
        env: Option<&str>,
        doc: Value,
    ) -> Result<(), ConfigError> {
        let Some((value, prefix)) = section(doc, path, env)? else {
            return Ok(());
        };
        let map = as_map(&value, path, &prefix)?;
        for (key, value) in map {
            let name = key_name(key, path, &prefix)?;
            let at = join(&prefix, &name);
            let (deployment, fallback) = interpret(value, path, &at)?;
            if let Some(fallback) = fallback {
                self.file_fallbacks.insert(name.clone(), fallback);
            }
            log::debug!(
                "Redis instance `{name}` configured in {}",
                origin(path, &at)
            );
            self.shared.insert(
                name,
                Entry {
                    deployment,
                    origin: origin(path, &at),
                },
            );
        }
        Ok(())
    }

    /// Adds instance `name` from its own file (`redis.<name>.yml`): keyed by `env`, or the
    /// instance value itself when `env` is `None`.
    pub fn add_instance_file(
        &mut self,
        name: &str,
        path: impl AsRef<Path>,
        env: Option<&str>,
    ) -> Result<&mut Self, ConfigError> {
        let path = path.as_ref();
        if let Some(entry) = self.read_single(path, env, name)? {
            self.own_files.insert(name.to_string(), entry);
        }
        Ok(self)
    }

    /// Sets the global default (`resque.yml`): keyed by `env`, or the instance value itself when
    /// `env` is `None`.
    pub fn add_global_file(
        &mut self,
        path: impl AsRef<Path>,
        env: Option<&str>,
    ) -> Result<&mut Self, ConfigError> {
        let path = path.as_ref();
        self.global = self.read_single(path, env, "")?;
        Ok(self)
    }

    /// Configures instance `name` from a URL (as if it were in `redis.yml`).
    pub fn add_url(&mut self, name: &str, url: &str) -> Result<&mut Self, ConfigError> {
        let deployment = Deployment::parse(url)?;
        self.shared.insert(
            name.to_string(),
            Entry {
                deployment: Some(deployment),
                origin: format!("add_url({name})"),
            },
        );
        Ok(self)
    }

    /// Makes `name` fall back to `fallback` when it is not configured itself. A `fallback:` key
    /// in a file wins over this.
    pub fn with_fallback(mut self, name: &str, fallback: &str) -> Self {
        self.default_fallbacks
            .insert(name.to_string(), fallback.to_string());
        self
    }

    /// Adds GitLab's fallbacks ([`GITLAB_FALLBACKS`]): `sessions` → `shared_state`,
    /// `rate_limiting` → `cache`, ….
    pub fn with_gitlab_fallbacks(self) -> Self {
        GITLAB_FALLBACKS.iter().fold(self, |acc, (name, fallback)| {
            acc.with_fallback(name, fallback)
        })
    }

    /// The instances configured by name (not counting `resque.yml`, which serves every name).
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .shared
            .keys()
            .chain(self.own_files.keys())
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The fallback chain of `name`, starting with `name`; an error if it loops.
    pub fn fallback_chain(&self, name: &str) -> Result<Vec<String>, ConfigError> {
        let mut chain = vec![name.to_string()];
        let mut current = name;
        while let Some(next) = self
            .file_fallbacks
            .get(current)
            .or_else(|| self.default_fallbacks.get(current))
        {
            if let Some(pos) = chain.iter().position(|n| n == next) {
                let mut cycle = chain[pos..].to_vec();
                cycle.push(next.clone());
                return Err(ConfigError::FallbackCycle { cycle });
            }
            chain.push(next.clone());
            current = next;
        }
        Ok(chain)
    }

    /// The deployment instance `name` resolves to (see the type's docs for the order).
    pub fn resolve(&self, name: &str) -> Result<Deployment, ConfigError> {
        let chain = self.fallback_chain(name)?;
        let mut candidates: Vec<&Entry> = Vec::new();
        for (i, step) in chain.iter().enumerate() {
            let (first, second) = if i == 0 {
                (&self.shared, &self.own_files)
            } else {
                (&self.own_files, &self.shared)
            };
            candidates.extend(first.get(step));
            candidates.extend(second.get(step));
        }
        candidates.extend(self.global.as_ref());
        for entry in candidates {
            if let Some(deployment) = &entry.deployment {
                log::debug!(
                    "Redis instance `{name}` resolved from {}: {deployment}",
                    entry.origin
                );
                return Ok(deployment.clone());
            }
        }
        Err(ConfigError::UnknownInstance {
            name: name.to_string(),
            chain,
        })
    }

    fn read_single(
        &mut self,
        path: &Path,
        env: Option<&str>,
        name: &str,
    ) -> Result<Option<Entry>, ConfigError> {
        let (text, doc) = read_yaml(path)?;
        let Some((value, prefix)) = section(doc, path, env).map_err(|e| with_line(e, &text))?
        else {
            return Ok(None);
        };
        let (deployment, fallback) =
            interpret(&value, path, &prefix).map_err(|e| with_line(e, &text))?;
        if let (Some(fallback), false) = (fallback, name.is_empty()) {
            self.file_fallbacks.insert(name.to_string(), fallback);
        }
        log::debug!("Redis config read from {}", origin(path, &prefix));
        Ok(Some(Entry {
            deployment,
            origin: origin(path, &prefix),
        }))
    }
}
