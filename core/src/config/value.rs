//! One instance value (`url:` / `nodes:` / `sentinels:` / … or a bare URL) turned into a
//! [`Deployment`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml_ng::{Mapping, Value};

use super::parse::parse_db;
use super::yaml::{
    as_map, bad, join, key_name, origin, port, read_yaml, seconds, section, string, url_error,
    with_line, wrong_type,
};
use super::{
    ConfigError, Deployment, Endpoint, Secret, SentinelConfig, ServerConfig, TlsConfig,
    DEFAULT_PORT, DEFAULT_SENTINEL_PORT,
};

const NONE_GIVEN: &str = "none of `url`, `nodes` (or `cluster`), `host`, `path` is given";

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
pub(super) fn interpret(
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
