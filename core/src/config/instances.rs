//! Named instances ([`Instances`]) and the YAML files they come from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml_ng::{Mapping, Value};

use super::parse::{parse_db, parse_port};
use super::{
    ConfigError, Deployment, Endpoint, Secret, SentinelConfig, ServerConfig, TlsConfig,
    DEFAULT_PORT, DEFAULT_SENTINEL_PORT,
};

const NONE_GIVEN: &str = "none of `url`, `nodes` (or `cluster`), `host`, `path` is given";

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

/// `config/redis.yml (production.cache)`.
fn origin(path: &Path, key: &str) -> String {
    if key.is_empty() {
        path.display().to_string()
    } else {
        format!("{} ({key})", path.display())
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn shown_key(key: &str) -> String {
    if key.is_empty() {
        "(top level)".to_string()
    } else {
        key.to_string()
    }
}

fn bad(path: &Path, key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::YamlValue {
        path: path.to_path_buf(),
        key: shown_key(key),
        line: None,
        problem: problem.into(),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a map",
        Value::Tagged(_) => "a tagged value",
    }
}

fn wrong_type(path: &Path, key: &str, expected: &str, value: &Value) -> ConfigError {
    bad(
        path,
        key,
        format!("expected {expected}, found {}", type_name(value)),
    )
}

/// Reads and parses a YAML file (merge keys applied).
fn read_yaml(path: &Path) -> Result<(String, Value), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut value: Value = serde_yaml_ng::from_str(&text).map_err(|e| yaml_error(path, &e))?;
    value.apply_merge().map_err(|e| yaml_error(path, &e))?;
    Ok((text, value))
}

/// The `env` section of a document (or the whole document), with its key prefix.
fn section(
    value: Value,
    path: &Path,
    env: Option<&str>,
) -> Result<Option<(Value, String)>, ConfigError> {
    match env {
        None => Ok((!value.is_null()).then(|| (value, String::new()))),
        Some(env) => {
            if value.is_null() {
                return Ok(None);
            }
            let map = as_map(&value, path, "")?;
            match map.get(env) {
                None | Some(Value::Null) => {
                    log::debug!("no `{env}` section in {}", path.display());
                    Ok(None)
                }
                Some(section) => Ok(Some((section.clone(), env.to_string()))),
            }
        }
    }
}

/// Adds the line of the offending key to a [`ConfigError::YamlValue`] or
/// [`ConfigError::YamlUrl`], found by following the key path through the file's block
/// structure. A key in flow style (`{host: h, port: 1}`) gets the line it is on.
fn with_line(err: ConfigError, text: &str) -> ConfigError {
    match err {
        ConfigError::YamlValue {
            path,
            key,
            line: None,
            problem,
        } => ConfigError::YamlValue {
            line: locate(text, &key),
            path,
            key,
            problem,
        },
        ConfigError::YamlUrl {
            path,
            key,
            line: None,
            source,
        } => ConfigError::YamlUrl {
            line: locate(text, &key),
            path,
            key,
            source,
        },
        other => other,
    }
}

/// The 1-based line of key path `a.b[2].c` in `text`, following indentation; `None` when the
/// path is the top level or cannot be followed.
fn locate(text: &str, key: &str) -> Option<usize> {
    if key == "(top level)" || key.is_empty() {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    let indent_of = |line: &str| line.len() - line.trim_start().len();
    // The line and indentation of the key found last (the parent of the next segment).
    let mut parent: Option<(usize, usize)> = None;
    for segment in key.split('.') {
        let (name, index) = match segment.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (segment, None),
        };
        let start = parent.map_or(0, |(line, _)| line);
        let mut hit = None;
        for (n, line) in lines.iter().enumerate().skip(start) {
            let body = line.trim_start();
            if body.is_empty() || body.starts_with('#') {
                continue;
            }
            let indent = indent_of(line);
            if let Some((parent_line, parent_indent)) = parent {
                let item = body.starts_with('-');
                // Left the parent's block: a line less indented, or a sibling key.
                if n != parent_line
                    && (indent < parent_indent || (indent == parent_indent && !item))
                {
                    break;
                }
            }
            let entry = body.trim_start_matches('-').trim_start();
            let plain = entry
                .strip_prefix(name)
                .is_some_and(|rest| rest.trim_start().starts_with(':'));
            let flow = [
                format!("{{{name}:"),
                format!("{{ {name}:"),
                format!(", {name}:"),
            ]
            .iter()
            .any(|f| body.contains(f.as_str()));
            if (plain && parent.is_none_or(|(p, _)| n != p)) || flow {
                hit = Some((n, indent));
                break;
            }
        }
        let (mut n, indent) = hit?;
        // A list index: the index-th `- ` line of the block below the key (block style only).
        if let Some(i) = index {
            let item = lines
                .iter()
                .enumerate()
                .skip(n + 1)
                .take_while(|(_, l)| {
                    let body = l.trim_start();
                    body.is_empty()
                        || indent_of(l) > indent
                        || (indent_of(l) == indent && body.starts_with('-'))
                })
                .filter(|(_, l)| l.trim_start().starts_with('-'))
                .nth(i);
            if let Some((k, _)) = item {
                n = k;
            }
        }
        parent = Some((n, indent_of(lines[n])));
    }
    parent.map(|(n, _)| n + 1)
}

fn yaml_error(path: &Path, e: &serde_yaml_ng::Error) -> ConfigError {
    let location = e.location();
    ConfigError::Yaml {
        path: path.to_path_buf(),
        line: location.as_ref().map(|l| l.line()),
        column: location.as_ref().map(|l| l.column()),
        message: e.to_string(),
    }
}

fn as_map<'v>(value: &'v Value, path: &Path, key: &str) -> Result<&'v Mapping, ConfigError> {
    value
        .as_mapping()
        .ok_or_else(|| wrong_type(path, key, "a map", value))
}

fn key_name(key: &Value, path: &Path, prefix: &str) -> Result<String, ConfigError> {
    key.as_str().map(str::to_string).ok_or_else(|| {
        bad(
            path,
            prefix,
            format!("keys must be strings, found {}", type_name(key)),
        )
    })
}

fn string(value: &Value, path: &Path, key: &str) -> Result<String, ConfigError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(wrong_type(path, key, "a string", other)),
    }
}

fn port(value: &Value, path: &Path, key: &str) -> Result<u16, ConfigError> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => return Err(wrong_type(path, key, "a port number", other)),
    };
    parse_port(&text).ok_or_else(|| {
        bad(
            path,
            key,
            format!("invalid port `{text}`: expected a number from 1 to 65535"),
        )
    })
}

fn seconds(value: &Value, path: &Path, key: &str) -> Result<Duration, ConfigError> {
    let secs = match value {
        Value::Number(n) => n.as_f64(),
        _ => None,
    };
    match secs {
        Some(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(Duration::from_secs_f64(s)),
        _ => Err(bad(
            path,
            key,
            format!(
                "expected a positive number of seconds, found {}",
                type_name(value)
            ),
        )),
    }
}

fn url_error(path: &Path, key: &str, source: ConfigError) -> ConfigError {
    ConfigError::YamlUrl {
        path: path.to_path_buf(),
        key: shown_key(key),
        line: None,
        source: Box::new(source),
    }
}

/// `{host:, port:}` or `"host:port"` or a URL.
fn node(
    value: &Value,
    path: &Path,
    key: &str,
    default_port: u16,
) -> Result<Vec<ServerConfig>, ConfigError> {
    match value {
        Value::String(s) => super::parse::parse_seeds(s).map_err(|e| url_error(path, key, e)),
        Value::Mapping(m) => {
            let mut host = None;
            let mut p = default_port;
            for (k, v) in m {
                let k = key_name(k, path, key)?;
                let at = join(key, &k);
                match k.as_str() {
                    "host" => host = Some(string(v, path, &at)?),
                    "port" => p = port(v, path, &at)?,
                    _ => log::warn!("ignoring unknown key `{at}` in {}", path.display()),
                }
            }
            let host = host.ok_or_else(|| bad(path, key, "missing `host`"))?;
            // Reuse the URL parser's host checks (IPv6, forbidden characters).
            let bracketed = if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]")
            } else {
                host
            };
            let server = super::parse::parse_server(&format!("redis://{bracketed}:{p}"))
                .map_err(|e| url_error(path, key, e))?;
            Ok(vec![server])
        }
        other => Err(wrong_type(
            path,
            key,
            "a URL, host:port or a {host, port} map",
            other,
        )),
    }
}

fn node_list(
    value: &Value,
    path: &Path,
    key: &str,
    default_port: u16,
) -> Result<Vec<ServerConfig>, ConfigError> {
    let list = value
        .as_sequence()
        .ok_or_else(|| wrong_type(path, key, "a list", value))?;
    if list.is_empty() {
        return Err(bad(path, key, "empty list"));
    }
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        out.extend(node(item, path, &format!("{key}[{i}]"), default_port)?);
    }
    Ok(out)
}

/// One instance value: `(deployment, fallback)`; `(None, _)` when it only names a fallback
/// (or is null).
fn interpret(
    value: &Value,
    path: &Path,
    key: &str,
) -> Result<(Option<Deployment>, Option<String>), ConfigError> {
    let map = match value {
        Value::Null => return Ok((None, None)),
        Value::String(url) => {
            let d = Deployment::parse(url).map_err(|e| url_error(path, key, e))?;
            return Ok((Some(d), None));
        }
        Value::Mapping(m) => m,
        other => return Err(wrong_type(path, key, "a URL or a map", other)),
    };
    let mut url = None;
    let mut nodes = None;
    let mut sentinels = None;
    let mut host = None;
    let mut tcp_port = None;
    let mut socket = None;
    let mut username = None;
    let mut password = None;
    let mut db = None;
    let mut master_name = None;
    let mut sentinel_username = None;
    let mut sentinel_password = None;
    let mut ssl = None;
    let mut ssl_params: Option<TlsConfig> = None;
    let mut connect_timeout = None;
    let mut command_timeout: Option<Duration> = None;
    let mut fallback = None;
    for (k, v) in map {
        let k = key_name(k, path, key)?;
        let at = join(key, &k);
        match k.as_str() {
            "url" => url = Some(string(v, path, &at)?),
            "nodes" | "cluster" => {
                if nodes.is_some() {
                    return Err(bad(path, key, "give `nodes` or `cluster`, not both"));
                }
                nodes = Some(node_list(v, path, &at, DEFAULT_PORT)?);
            }
            "sentinels" => sentinels = Some(node_list(v, path, &at, DEFAULT_SENTINEL_PORT)?),
            "host" => host = Some(string(v, path, &at)?),
            "port" => tcp_port = Some(port(v, path, &at)?),
            "path" => socket = Some(string(v, path, &at)?),
            "username" | "user" => username = Some(string(v, path, &at)?),
            "password" => match v {
                Value::String(_) | Value::Number(_) => {
                    password = Some(Secret::new(string(v, path, &at)?))
                }
                Value::Null => {}
                other => return Err(wrong_type(path, &at, "a string", other)),
            },
            "db" => {
                let text = match v {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) => s.clone(),
                    other => return Err(wrong_type(path, &at, "a database number", other)),
                };
                db = Some(parse_db(&text).ok_or_else(|| {
                    bad(
                        path,
                        &at,
                        format!(
                            "invalid database `{text}`: expected a number from 0 to 4294967295"
                        ),
                    )
                })?);
            }
            "name" | "master_name" => master_name = Some(string(v, path, &at)?),
            "sentinel_username" => sentinel_username = Some(string(v, path, &at)?),
            "sentinel_password" => match v {
                Value::String(_) | Value::Number(_) => {
                    sentinel_password = Some(Secret::new(string(v, path, &at)?))
                }
                Value::Null => {}
                other => return Err(wrong_type(path, &at, "a string", other)),
            },
            "ssl" => {
                ssl = Some(
                    v.as_bool()
                        .ok_or_else(|| wrong_type(path, &at, "true or false", v))?,
                )
            }
            "ssl_params" => ssl_params = Some(tls_params(v, path, &at)?),
            "connect_timeout" => connect_timeout = Some(seconds(v, path, &at)?),
            "read_timeout" | "write_timeout" => {
                let t = seconds(v, path, &at)?;
                command_timeout = Some(command_timeout.map_or(t, |c| c.max(t)));
            }
            "fallback" => fallback = Some(string(v, path, &at)?),
            _ => log::warn!("ignoring unsupported key `{at}` in {}", path.display()),
        }
    }

    let given = [
        url.is_some(),
        nodes.is_some(),
        host.is_some(),
        socket.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    if given > 1 {
        return Err(bad(
            path,
            key,
            "give one of `url`, `nodes` (or `cluster`), `host`, `path`",
        ));
    }
    // `sentinels:` + `name:` alone: the master needs no address of its own.
    let sentinel_only = given == 0 && sentinels.is_some() && master_name.is_some();
    if given == 0 && !sentinel_only {
        if fallback.is_some() && sentinels.is_none() {
            return Ok((None, fallback));
        }
        return Err(bad(path, key, NONE_GIVEN));
    }
    if tcp_port.is_some() && host.is_none() {
        return Err(bad(path, key, "`port` goes with `host`"));
    }

    let mut servers: Vec<ServerConfig> = if let Some(url) = &url {
        let at = join(key, "url");
        match Deployment::parse(url).map_err(|e| url_error(path, &at, e))? {
            Deployment::Server(s) => vec![s],
            Deployment::Cluster { seeds } => seeds,
            Deployment::Sentinel(s) => {
                if sentinels.is_some() {
                    return Err(bad(
                        path,
                        key,
                        "a redis+sentinel:// `url` already names the sentinels",
                    ));
                }
                let mut s = s;
                apply_overrides(
                    &mut s.server,
                    &username,
                    &password,
                    db,
                    ssl,
                    &ssl_params,
                    connect_timeout,
                    command_timeout,
                );
                if let Some(name) = master_name {
                    s.server.endpoint = Endpoint::Tcp {
                        host: name.clone(),
                        port: DEFAULT_PORT,
                    };
                    s.master_name = name;
                }
                if sentinel_username.is_some() {
                    s.sentinel_username = sentinel_username;
                }
                if sentinel_password.is_some() {
                    s.sentinel_password = sentinel_password;
                }
                return Ok((Some(Deployment::Sentinel(s)), fallback));
            }
        }
    } else if let (true, Some(name)) = (sentinel_only, &master_name) {
        vec![ServerConfig::new(Endpoint::Tcp {
            host: name.clone(),
            port: DEFAULT_PORT,
        })]
    } else if let Some(nodes) = nodes.take() {
        nodes
    } else if let Some(host) = &host {
        let mut one = node(
            &Value::Mapping(Mapping::from_iter([
                (Value::from("host"), Value::from(host.as_str())),
                (
                    Value::from("port"),
                    Value::from(tcp_port.unwrap_or(DEFAULT_PORT)),
                ),
            ])),
            path,
            key,
            DEFAULT_PORT,
        )?;
        one.truncate(1);
        one
    } else {
        let socket = socket.unwrap_or_default();
        if socket.is_empty() {
            return Err(bad(path, &join(key, "path"), "empty socket path"));
        }
        vec![ServerConfig::new(Endpoint::Unix(PathBuf::from(socket)))]
    };
    for s in &mut servers {
        apply_overrides(
            s,
            &username,
            &password,
            db,
            ssl,
            &ssl_params,
            connect_timeout,
            command_timeout,
        );
    }

    if ssl_params.is_some() && !servers.iter().any(ServerConfig::uses_tls) {
        log::warn!(
            "ignoring `{}` in {}: TLS is off (use rediss:// or `ssl: true`)",
            join(key, "ssl_params"),
            path.display()
        );
    }
    if let Some(sentinels) = sentinels {
        if servers.len() != 1 {
            return Err(bad(
                path,
                key,
                "`sentinels` goes with one `url` (redis://[:password@]master_name[/db])",
            ));
        }
        let server = servers.remove(0);
        let name = match (master_name, &server.endpoint) {
            (Some(name), _) => name,
            (None, Endpoint::Tcp { host, .. }) => host.clone(),
            (None, Endpoint::Unix(_)) => {
                return Err(bad(
                    path,
                    key,
                    "`sentinels` needs a master `name` or a redis:// `url`",
                ))
            }
        };
        let mut sentinel =
            SentinelConfig::new(name, sentinels.into_iter().map(|s| s.endpoint).collect());
        sentinel.server = server;
        sentinel.server.endpoint = Endpoint::Tcp {
            host: sentinel.master_name.clone(),
            port: DEFAULT_PORT,
        };
        sentinel.sentinel_username = sentinel_username;
        sentinel.sentinel_password = sentinel_password;
        return Ok((Some(Deployment::Sentinel(sentinel)), fallback));
    }
    let deployment = if nodes_given(map) || servers.len() > 1 {
        if let Some(db) = servers.iter().map(|s| s.db).find(|&db| db != 0) {
            return Err(bad(
                path,
                key,
                format!("a cluster has only database 0, but database {db} is selected"),
            ));
        }
        Deployment::Cluster { seeds: servers }
    } else {
        Deployment::Server(servers.remove(0))
    };
    Ok((Some(deployment), fallback))
}

fn nodes_given(map: &Mapping) -> bool {
    map.contains_key("nodes") || map.contains_key("cluster")
}

#[allow(clippy::too_many_arguments)]
fn apply_overrides(
    s: &mut ServerConfig,
    username: &Option<String>,
    password: &Option<Secret>,
    db: Option<u32>,
    ssl: Option<bool>,
    ssl_params: &Option<TlsConfig>,
    connect_timeout: Option<Duration>,
    command_timeout: Option<Duration>,
) {
    if username.is_some() {
        s.username.clone_from(username);
    }
    if password.is_some() {
        s.password.clone_from(password);
    }
    if let Some(db) = db {
        s.db = db;
    }
    if matches!(s.endpoint, Endpoint::Tcp { .. }) {
        match ssl {
            Some(false) => s.tls = None,
            Some(true) if s.tls.is_none() => s.tls = Some(TlsConfig::new()),
            _ => {}
        }
        // As in redis-rb: `ssl_params` tune TLS, they do not turn it on.
        if let (Some(params), Some(_)) = (ssl_params, &s.tls) {
            s.tls = Some(params.clone());
        }
    }
    if let Some(t) = connect_timeout {
        s.connect_timeout = t;
    }
    if command_timeout.is_some() {
        s.command_timeout = command_timeout;
    }
}

fn tls_params(value: &Value, path: &Path, key: &str) -> Result<TlsConfig, ConfigError> {
    let map = as_map(value, path, key)?;
    let mut tls = TlsConfig::new();
    for (k, v) in map {
        let k = key_name(k, path, key)?;
        let at = join(key, &k);
        match k.as_str() {
            "ca_file" => tls.ca_file = Some(string(v, path, &at)?.into()),
            "cert_file" => tls.cert_file = Some(string(v, path, &at)?.into()),
            "key_file" => tls.key_file = Some(string(v, path, &at)?.into()),
            "server_name" | "hostname" => tls.server_name = Some(string(v, path, &at)?),
            "verify_mode" => {
                let mode = string(v, path, &at)?;
                tls.insecure = match mode.to_ascii_lowercase().as_str() {
                    "none" => true,
                    "peer" => false,
                    _ => {
                        return Err(bad(
                            path,
                            &at,
                            format!("invalid verify_mode `{mode}`: expected none or peer"),
                        ))
                    }
                };
            }
            _ => log::warn!("ignoring unsupported key `{at}` in {}", path.display()),
        }
    }
    if tls.cert_file.is_some() != tls.key_file.is_some() {
        return Err(bad(
            path,
            key,
            "`cert_file` and `key_file` go together: give both or neither",
        ));
    }
    Ok(tls)
}

pub(crate) fn deployment_from_file(
    path: &Path,
    env: Option<&str>,
) -> Result<Deployment, ConfigError> {
    let (text, doc) = read_yaml(path)?;
    deployment_from_value(path, env, doc).map_err(|e| with_line(e, &text))
}

fn deployment_from_value(
    path: &Path,
    env: Option<&str>,
    doc: Value,
) -> Result<Deployment, ConfigError> {
    let Some((value, prefix)) = section(doc, path, env)? else {
        return Err(match env {
            Some(env) => bad(path, env, "no such section in the file"),
            None => bad(path, "", "the file is empty"),
        });
    };
    match interpret(&value, path, &prefix) {
        Ok((Some(deployment), _)) => {
            log::debug!(
                "Redis config read from {}: {deployment}",
                origin(path, &prefix)
            );
            Ok(deployment)
        }
        Ok((None, _)) => Err(bad(path, &prefix, NONE_GIVEN)),
        Err(ConfigError::YamlValue { problem, .. })
            if env.is_none() && problem == NONE_GIVEN && keyed_by_environment(&value) =>
        {
            Err(bad(
                path,
                "",
                format!("{NONE_GIVEN} (the file looks keyed by environment: name the environment)"),
            ))
        }
        Err(e) => Err(e),
    }
}

/// A top level like `production: …`, `development: …`.
fn keyed_by_environment(value: &Value) -> bool {
    value.as_mapping().is_some_and(|m| {
        ["production", "development", "test", "staging"]
            .iter()
            .any(|env| m.contains_key(*env))
    })
}

#[cfg(test)]
mod tests {
    use super::locate;

    const TEXT: &str = "\
production:
  cache:
    url: redis://c
  shared_state:
    cluster:
      - host: a
        port: 1
      - host: b
        port: 2
    password: x
  queues: {url: redis://q, db: 2}
development:
  cache:
    url: redis://dev
";

    #[test]
    fn locate_follows_the_key_path() {
        assert_eq!(locate(TEXT, "production.cache.url"), Some(3));
        assert_eq!(locate(TEXT, "development.cache.url"), Some(14));
        assert_eq!(
            locate(TEXT, "production.shared_state.cluster[1].port"),
            Some(9)
        );
        assert_eq!(locate(TEXT, "production.shared_state.cluster[0]"), Some(6));
        assert_eq!(locate(TEXT, "production.shared_state.password"), Some(10));
        assert_eq!(locate(TEXT, "production.queues.db"), Some(11));
        assert_eq!(locate(TEXT, "production.nothing"), None);
        assert_eq!(locate(TEXT, "(top level)"), None);
    }
}
