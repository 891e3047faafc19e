//! The URL parser. Split by hand into scheme, userinfo, host list, path, query and fragment
//! (the `url` crate cannot take a comma list of hosts), then hosts are checked by
//! `url::Host::parse` (IDNA, IPv6, forbidden characters) and the query decoded by
//! `form_urlencoded`. Every error shows the input through [`mask_url`] first.

use std::path::PathBuf;
use std::time::Duration;

use percent_encoding::percent_decode_str;

use super::server::{Endpoint, Protocol, ServerConfig, TlsConfig, DEFAULT_PORT};
use super::{ConfigError, Deployment, Secret, SentinelConfig, DEFAULT_SENTINEL_PORT};

const SERVER_OPTIONS: &str =
    "db, protocol, connect_timeout, command_timeout, retry_deadline, insecure, ca_file, cert_file, key_file, server_name";
const SENTINEL_OPTIONS: &str = "db, protocol, connect_timeout, command_timeout, retry_deadline, insecure, ca_file, cert_file, key_file, server_name, sentinel_username, sentinel_password";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scheme {
    Redis,
    Rediss,
    Unix,
    Sentinel,
    SentinelTls,
}

impl Scheme {
    fn tls(self) -> bool {
        matches!(self, Scheme::Rediss | Scheme::SentinelTls)
    }
}

/// A URL split into its parts, userinfo already decoded.
struct Raw<'a> {
    /// The input, masked, for error messages.
    shown: String,
    scheme: Scheme,
    username: Option<String>,
    password: Option<Secret>,
    /// The host list (`h1:1,h2:2`), empty for unix.
    hosts: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

/// The input with the password (and secret-looking query values) replaced by `***`.
///
/// Works on any text, URL or not: everything between `://` (or the start) and the last `@`
/// is taken as userinfo, so a password with unescaped `/`, `?`, `#` or `@` is still hidden.
pub(crate) fn mask_url(input: &str) -> String {
    // Userinfo first, on the raw text: a password may itself contain `?`, `&` or `=`.
    let start = input.find("://").map_or(0, |i| i + 3);
    let rest = &input[start..];
    let masked = match rest.rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let shown = match userinfo.find(':') {
                Some(colon) => format!("{}:***", &userinfo[..colon]),
                None => userinfo.to_string(),
            };
            format!("{}{}@{}", &input[..start], shown, &rest[at + 1..])
        }
        None => input.to_string(),
    };
    mask_query_secrets(&masked)
}

fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["pass", "secret", "token", "auth"]
        .iter()
        .any(|w| name.contains(w))
}

fn mask_query_secrets(s: &str) -> String {
    let Some(q) = s.find('?') else {
        return s.to_string();
    };
    let (head, query) = s.split_at(q + 1);
    let (query, fragment) = match query.find('#') {
        Some(h) => query.split_at(h),
        None => (query, ""),
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_name(name) => format!("{name}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{head}{}{fragment}", pairs.join("&"))
}

fn valid_percent(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok =
                b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
            if !ok {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

fn decode(s: &str, part: &'static str, shown: &str) -> Result<String, ConfigError> {
    let bad = || ConfigError::PercentEncoding {
        url: shown.to_string(),
        part,
    };
    if !valid_percent(s) {
        return Err(bad());
    }
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| bad())
}

fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn split(input: &str) -> Result<Raw<'_>, ConfigError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(ConfigError::EmptyUrl);
    }
    let shown = mask_url(s);
    let lower = s.to_ascii_lowercase();
    let (scheme_text, rest, has_authority) = match s.find("://") {
        Some(i) if is_scheme(&s[..i]) => (Some(&s[..i]), &s[i + 3..], true),
        // `unix:/path` (no authority), as GitLab's Omnibus writes it.
        _ if lower.starts_with("unix:/") => (Some("unix"), &s[5..], false),
        _ if !s.contains(['/', '@']) => (None, s, true),
        _ => return Err(ConfigError::NotAUrl { url: shown }),
    };
    let scheme = match scheme_text.map(str::to_ascii_lowercase).as_deref() {
        None | Some("redis") => Scheme::Redis,
        Some("rediss") => Scheme::Rediss,
        Some("unix" | "redis+unix") => Scheme::Unix,
        Some("redis+sentinel") => Scheme::Sentinel,
        Some("rediss+sentinel") => Scheme::SentinelTls,
        Some(_) => {
            return Err(ConfigError::UnsupportedScheme {
                scheme: scheme_text.unwrap_or_default().to_string(),
                url: shown,
            })
        }
    };
    let authority_end = if has_authority {
        rest.find(['/', '?', '#']).unwrap_or(rest.len())
    } else {
        0
    };
    let (authority, after) = rest.split_at(authority_end);
    if scheme != Scheme::Unix && after.contains('@') {
        return Err(ConfigError::AtAfterHost { url: shown });
    }
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    let (after, fragment) = match after.split_once('#') {
        Some((a, f)) => (a, Some(f)),
        None => (after, None),
    };
    let (path, query) = match after.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (after, None),
    };
    let (mut username, mut password) = (None, None);
    if let Some(userinfo) = userinfo {
        let (user, pass) = match userinfo.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (userinfo, None),
        };
        let user = decode(user, "username", &shown)?;
        if !user.is_empty() {
            username = Some(user);
        }
        if let Some(pass) = pass {
            let pass = decode(pass, "password", &shown)?;
            if !pass.is_empty() {
                password = Some(Secret::new(pass));
            }
        }
    }
    Ok(Raw {
        shown,
        scheme,
        username,
        password,
        hosts,
        path,
        query,
        fragment,
    })
}

/// `host[:port]` pieces of a comma list.
fn parse_hosts(raw: &Raw<'_>, default_port: u16) -> Result<Vec<Endpoint>, ConfigError> {
    if raw.hosts.is_empty() {
        return Err(ConfigError::MissingHost {
            url: raw.shown.clone(),
        });
    }
    raw.hosts
        .split(',')
        .map(|piece| parse_host_port(piece.trim(), default_port, &raw.shown))
        .collect()
}

fn parse_host_port(piece: &str, default_port: u16, shown: &str) -> Result<Endpoint, ConfigError> {
    let (host, port) = if piece.starts_with('[') {
        match piece.find(']') {
            Some(close) => {
                let after = &piece[close + 1..];
                match after.strip_prefix(':') {
                    Some(port) => (&piece[..=close], Some(port)),
                    None if after.is_empty() => (piece, None),
                    None => {
                        return Err(ConfigError::InvalidHost {
                            url: shown.to_string(),
                            host: piece.to_string(),
                            reason: "expected `:port` after the IPv6 address".to_string(),
                        })
                    }
                }
            }
            None => (piece, None),
        }
    } else if piece.matches(':').count() > 1 {
        return Err(ConfigError::InvalidHost {
            url: shown.to_string(),
            host: piece.to_string(),
            reason: "an IPv6 address goes in brackets, as in [::1]:6379".to_string(),
        });
    } else {
        match piece.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (piece, None),
        }
    };
    if host.is_empty() {
        return Err(ConfigError::MissingHost {
            url: shown.to_string(),
        });
    }
    let host = match url::Host::parse(host) {
        Ok(url::Host::Ipv6(addr)) => addr.to_string(),
        Ok(other) => other.to_string(),
        Err(e) => {
            return Err(ConfigError::InvalidHost {
                url: shown.to_string(),
                host: host.to_string(),
                reason: e.to_string(),
            })
        }
    };
    let port = match port {
        None | Some("") => default_port,
        Some(text) => parse_port(text).ok_or_else(|| ConfigError::InvalidPort {
            url: shown.to_string(),
            port: text.to_string(),
        })?,
    };
    Ok(Endpoint::Tcp { host, port })
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) fn parse_port(text: &str) -> Option<u16> {
    if !all_digits(text) {
        return None;
    }
    text.parse::<u16>().ok().filter(|&p| p != 0)
}

pub(crate) fn parse_db(text: &str) -> Option<u32> {
    if !all_digits(text) {
        return None;
    }
    text.parse::<u32>().ok()
}

/// Accepts `250ms`, `2s`, `1.5s`, or a bare number of seconds (`2`, `0.5`).
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else {
        (text, 1.0)
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let secs = number.parse::<f64>().ok()? * scale;
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 * 365.0 {
        return None;
    }
    Some(Duration::from_secs_f64(secs))
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "" | "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Settings shared by every host of one URL.
struct Common {
    server: ServerConfig,
    query_db: Option<u32>,
    sentinel_username: Option<String>,
    sentinel_password: Option<Secret>,
}

fn apply_query(raw: &Raw<'_>) -> Result<Common, ConfigError> {
    let shown = &raw.shown;
    let sentinel = matches!(raw.scheme, Scheme::Sentinel | Scheme::SentinelTls);
    let known = if sentinel {
        SENTINEL_OPTIONS
    } else {
        SERVER_OPTIONS
    };
    let placeholder = Endpoint::Tcp {
        host: String::new(),
        port: DEFAULT_PORT,
    };
    let mut server = ServerConfig::new(placeholder);
    server.username = raw.username.clone();
    server.password = raw.password.clone();
    let mut tls = raw.scheme.tls().then(TlsConfig::new);
    let mut common_db = None;
    let (mut sentinel_username, mut sentinel_password) = (None, None);
    let mut seen: Vec<String> = Vec::new();

    let need_tls = |option: &str, tls: &mut Option<TlsConfig>| -> Result<(), ConfigError> {
        if tls.is_none() {
            return Err(ConfigError::NeedsTls {
                url: shown.clone(),
                option: option.to_string(),
            });
        }
        Ok(())
    };

    if let Some(query) = raw.query {
        if !valid_percent(query) {
            return Err(ConfigError::PercentEncoding {
                url: shown.clone(),
                part: "query",
            });
        }
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if name.is_empty() && value.is_empty() {
                continue;
            }
            let name = name.into_owned();
            let invalid = |expected: &'static str| ConfigError::InvalidOption {
                url: shown.clone(),
                option: name.clone(),
                value: value.to_string(),
                expected,
            };
            if seen.contains(&name) {
                return Err(ConfigError::DuplicateOption {
                    url: shown.clone(),
                    option: name,
                });
            }
            match name.as_str() {
                "db" => {
                    common_db = Some(parse_db(&value).ok_or_else(|| ConfigError::InvalidDb {
                        url: shown.clone(),
                        db: value.to_string(),
                    })?)
                }
                "protocol" => {
                    server.protocol = match value.to_ascii_lowercase().as_str() {
                        "resp2" | "2" => Protocol::Resp2,
                        "resp3" | "3" => Protocol::Resp3,
                        _ => return Err(invalid("resp2 or resp3")),
                    }
                }
                "connect_timeout" => {
                    server.connect_timeout = parse_duration(&value)
                        .ok_or_else(|| invalid("a duration such as 500ms or 2s"))?;
                }
                "command_timeout" => {
                    server.command_timeout =
                        if value.eq_ignore_ascii_case("none") {
                            None
                        } else {
                            Some(parse_duration(&value).ok_or_else(|| {
                                invalid("a duration such as 500ms or 2s, or none")
                            })?)
                        };
                }
                "retry_deadline" => {
                    server.retry_deadline = Some(
                        parse_duration(&value)
                            .ok_or_else(|| invalid("a duration such as 500ms or 2s"))?,
                    );
                }
                "insecure" => {
                    need_tls(&name, &mut tls)?;
                    let on = parse_bool(&value).ok_or_else(|| invalid("true or false"))?;
                    if let Some(t) = tls.as_mut() {
                        t.insecure = on;
                    }
                }
                "ca_file" | "cert_file" | "key_file" | "server_name" => {
                    need_tls(&name, &mut tls)?;
                    if value.is_empty() {
                        return Err(invalid("a non-empty value"));
                    }
                    if let Some(t) = tls.as_mut() {
                        let v = value.to_string();
                        match name.as_str() {
                            "ca_file" => t.ca_file = Some(PathBuf::from(v)),
                            "cert_file" => t.cert_file = Some(PathBuf::from(v)),
                            "key_file" => t.key_file = Some(PathBuf::from(v)),
                            _ => t.server_name = Some(v),
                        }
                    }
                }
                "sentinel_username" if sentinel => {
                    sentinel_username = Some(value.to_string()).filter(|v| !v.is_empty());
                }
                "sentinel_password" if sentinel => {
                    sentinel_password =
                        Some(Secret::new(value.to_string())).filter(|v| !v.is_empty());
                }
                _ => {
                    return Err(ConfigError::UnknownOption {
                        url: shown.clone(),
                        option: name,
                        known,
                    })
                }
            }
            seen.push(name);
        }
    }
    match raw.fragment {
        None | Some("") => {}
        Some(f) if f.eq_ignore_ascii_case("insecure") => {
            need_tls("insecure", &mut tls)?;
            if let Some(t) = tls.as_mut() {
                t.insecure = true;
            }
        }
        Some(f) => {
            return Err(ConfigError::UnknownFragment {
                url: shown.clone(),
                fragment: f.to_string(),
            })
        }
    }
    if let Some(t) = &tls {
        if t.cert_file.is_some() != t.key_file.is_some() {
            return Err(ConfigError::CertWithoutKey { url: shown.clone() });
        }
    }
    server.tls = tls;
    Ok(Common {
        server,
        query_db: common_db,
        sentinel_username,
        sentinel_password,
    })
}

/// The database of `/N` (or nothing), checked against `?db=`.
fn path_db(path: &str, query_db: Option<u32>, shown: &str) -> Result<u32, ConfigError> {
    let segment = path.strip_prefix('/').unwrap_or(path);
    if segment.is_empty() {
        return Ok(query_db.unwrap_or(0));
    }
    if segment.contains('/') {
        return Err(ConfigError::InvalidPath {
            url: shown.to_string(),
            path: path.to_string(),
            expected: "/<database number>",
        });
    }
    let db = parse_db(segment).ok_or_else(|| ConfigError::InvalidDb {
        url: shown.to_string(),
        db: segment.to_string(),
    })?;
    if query_db.is_some() {
        return Err(ConfigError::DbTwice {
            url: shown.to_string(),
        });
    }
    Ok(db)
}

/// Every server a `redis://`, `rediss://` or `unix://` URL names (one per host).
fn servers(raw: &Raw<'_>) -> Result<Vec<ServerConfig>, ConfigError> {
    if raw.scheme == Scheme::Unix {
        if !raw.hosts.is_empty() {
            return Err(ConfigError::UnixHost {
                url: raw.shown.clone(),
            });
        }
        let path = decode(raw.path, "path", &raw.shown)?;
        if path.is_empty() || path == "/" {
            return Err(ConfigError::EmptyUnixPath {
                url: raw.shown.clone(),
            });
        }
        let common = apply_query(raw)?;
        let mut server = common.server;
        server.endpoint = Endpoint::Unix(PathBuf::from(path));
        server.db = common.query_db.unwrap_or(0);
        return Ok(vec![server]);
    }
    let endpoints = parse_hosts(raw, DEFAULT_PORT)?;
    let common = apply_query(raw)?;
    let db = path_db(raw.path, common.query_db, &raw.shown)?;
    Ok(endpoints
        .into_iter()
        .map(|endpoint| {
            let mut server = common.server.clone();
            server.endpoint = endpoint;
            server.db = db;
            server
        })
        .collect())
}

fn sentinel(raw: &Raw<'_>) -> Result<SentinelConfig, ConfigError> {
    let sentinels = parse_hosts(raw, DEFAULT_SENTINEL_PORT)?;
    let common = apply_query(raw)?;
    let path = raw.path.strip_prefix('/').unwrap_or(raw.path);
    let (name, db) = match path.split_once('/') {
        Some((name, db)) => (name, Some(db)),
        None => (path, None),
    };
    if name.is_empty() {
        return Err(ConfigError::MissingMasterName {
            url: raw.shown.clone(),
        });
    }
    let master_name = decode(name, "master name", &raw.shown)?;
    let db = match db {
        None | Some("") => common.query_db.unwrap_or(0),
        Some(db) if db.contains('/') => {
            return Err(ConfigError::InvalidPath {
                url: raw.shown.clone(),
                path: raw.path.to_string(),
                expected: "/<master name>[/<database number>]",
            })
        }
        Some(db) => {
            let n = parse_db(db).ok_or_else(|| ConfigError::InvalidDb {
                url: raw.shown.clone(),
                db: db.to_string(),
            })?;
            if common.query_db.is_some() {
                return Err(ConfigError::DbTwice {
                    url: raw.shown.clone(),
                });
            }
            n
        }
    };
    let mut server = common.server;
    server.endpoint = Endpoint::Tcp {
        host: master_name.clone(),
        port: DEFAULT_PORT,
    };
    server.db = db;
    Ok(SentinelConfig {
        master_name,
        sentinels,
        sentinel_username: common.sentinel_username,
        sentinel_password: common.sentinel_password,
        server,
    })
}

pub(crate) fn parse_server(input: &str) -> Result<ServerConfig, ConfigError> {
    let raw = split(input)?;
    if matches!(raw.scheme, Scheme::Sentinel | Scheme::SentinelTls) {
        return Err(ConfigError::NotAServer { url: raw.shown });
    }
    let count = raw.hosts.split(',').count();
    if raw.scheme != Scheme::Unix && count > 1 {
        return Err(ConfigError::SeveralHosts {
            url: raw.shown,
            count,
        });
    }
    let mut all = servers(&raw)?;
    all.pop().ok_or(ConfigError::MissingHost { url: raw.shown })
}

/// Splits `redis://a:1,redis://b:2` into URLs: at each comma followed by one of our schemes
/// and `://`. Only our schemes: a password with an unescaped `,x://` must not be cut in two
/// (the cut-off half would be echoed in an error as if it were a host or port).
fn split_url_list(s: &str) -> Vec<&str> {
    const SCHEMES: [&str; 6] = [
        "redis",
        "rediss",
        "unix",
        "redis+unix",
        "redis+sentinel",
        "rediss+sentinel",
    ];
    let mut out = Vec::new();
    let mut start = 0;
    for (i, _) in s.match_indices(',') {
        let next = s[i + 1..].trim_start();
        if let Some(p) = next.find("://") {
            if SCHEMES.iter().any(|k| next[..p].eq_ignore_ascii_case(k)) {
                out.push(&s[start..i]);
                start = i + 1;
            }
        }
    }
    out.push(&s[start..]);
    out
}

pub(crate) fn parse_deployment(input: &str) -> Result<Deployment, ConfigError> {
    let urls = split_url_list(input.trim());
    if urls.len() > 1 {
        return Deployment::from_urls(&urls);
    }
    let raw = split(input)?;
    if matches!(raw.scheme, Scheme::Sentinel | Scheme::SentinelTls) {
        return Ok(Deployment::Sentinel(sentinel(&raw)?));
    }
    let mut all = servers(&raw)?;
    match all.len() {
        1 => Ok(Deployment::Server(all.remove(0))),
        _ => {
            if let Some(db) = all.iter().map(|s| s.db).find(|&db| db != 0) {
                return Err(ConfigError::ClusterDb { url: raw.shown, db });
            }
            Ok(Deployment::Cluster { seeds: all })
        }
    }
}

/// Servers named by one URL of a list (for `Deployment::from_urls`).
pub(crate) fn parse_seeds(input: &str) -> Result<Vec<ServerConfig>, ConfigError> {
    let raw = split(input)?;
    if matches!(raw.scheme, Scheme::Sentinel | Scheme::SentinelTls) {
        return Err(ConfigError::NotAServer { url: raw.shown });
    }
    servers(&raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_hides_userinfo_passwords_and_secret_query_values() {
        assert_eq!(mask_url("redis://u:pw@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(mask_url("redis://:p/w@h"), "redis://:***@h");
        assert_eq!(mask_url("redis://:p#w@h"), "redis://:***@h");
        assert_eq!(
            mask_url("redis+sentinel://s:1/m?sentinel_password=x&db=1"),
            "redis+sentinel://s:1/m?sentinel_password=***&db=1"
        );
        // An `@` in a query value looks like the end of a userinfo: more is hidden, never less.
        assert_eq!(
            mask_url("redis+sentinel://s:1/m?sentinel_password=x@y&db=1"),
            "redis+sentinel://s:***@y&db=1"
        );
        assert_eq!(mask_url("u:pw@host:1"), "u:***@host:1");
        assert_eq!(mask_url("redis://h:1"), "redis://h:1");
        assert_eq!(
            mask_url("redis://u:pw?a&password=z@host"),
            "redis://u:***@host"
        );
        assert_eq!(
            mask_url("redis://h/0?password=sec@ret&db=1"),
            "redis://h/0?password=***&db=1"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("0"), None);
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("fast"), None);
    }

    #[test]
    fn url_lists_split_only_before_a_scheme() {
        assert_eq!(
            split_url_list("redis://a:1,rediss://b:2"),
            vec!["redis://a:1", "rediss://b:2"]
        );
        assert_eq!(split_url_list("redis://a:1,b:2"), vec!["redis://a:1,b:2"]);
        assert_eq!(
            split_url_list("redis://u:pw,x://y@h"),
            vec!["redis://u:pw,x://y@h"]
        );
    }

    #[test]
    fn ports_and_dbs_are_digits_only() {
        assert_eq!(parse_port("+1"), None);
        assert_eq!(parse_port("65535"), Some(65535));
        assert_eq!(parse_db("+1"), None);
        assert_eq!(parse_db("15"), Some(15));
    }
}
