//! One server: [`Endpoint`], [`TlsConfig`], [`ServerConfig`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use zeroize::Zeroizing;

use super::{ConfigError, Secret};

/// The port of a Redis server when a URL names none.
pub const DEFAULT_PORT: u16 = 6379;
/// The port of a Sentinel when a URL or file names none.
pub const DEFAULT_SENTINEL_PORT: u16 = 26379;
/// How long to wait for a TCP (and TLS) connection before giving up, unless
/// `?connect_timeout=` says otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for one reply before giving up, unless `?command_timeout=` says otherwise
/// (`none` waits for ever). Long enough for a large `DUMP` or `RESTORE` on a busy server.
pub const DEFAULT_COMMAND_TIMEOUT: Option<Duration> = Some(Duration::from_secs(10));

/// Where a server listens.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A host name or IP address (IPv6 without brackets) and a port.
    Tcp {
        /// Host name, IPv4 address, or IPv6 address without brackets.
        host: String,
        /// TCP port, 1 to 65535.
        port: u16,
    },
    /// A unix socket path.
    Unix(PathBuf),
}

impl fmt::Display for Endpoint {
    /// `host:port`, `[::1]:port` for IPv6, or the socket path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Endpoint::Tcp { host, port } => write!(f, "{host}:{port}"),
            Endpoint::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The RESP version to speak.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// RESP2, what every Redis understands (the default).
    #[default]
    Resp2,
    /// RESP3 (`HELLO 3`), Redis 6 and later.
    Resp3,
}

/// TLS settings of a `rediss://` server.
///
/// Certificates and host names are verified unless `insecure` is set, and `insecure` is only
/// ever set by an explicit `?insecure=true` (or `#insecure`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsConfig {
    /// Whether TLS is used (always `true` for a config parsed from `rediss://`).
    pub enabled: bool,
    /// Skip certificate and host name verification. Opt-in only.
    pub insecure: bool,
    /// A PEM file of CA certificates to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// A PEM client certificate for mutual TLS (goes with `key_file`).
    pub cert_file: Option<PathBuf>,
    /// The PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// The name to verify the server certificate against, when it differs from the host
    /// connected to (cluster nodes announce IP addresses).
    pub server_name: Option<String>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig::new()
    }
}

impl TlsConfig {
    /// TLS on, verification on, system roots, no client certificate.
    pub fn new() -> Self {
        TlsConfig {
            enabled: true,
            insecure: false,
            ca_file: None,
            cert_file: None,
            key_file: None,
            server_name: None,
        }
    }

    /// Reads `ca_file`, `cert_file` and `key_file` into memory (PEM bytes), for building the
    /// `redis` crate's `TlsCertificates`.
    pub fn load_pem(&self) -> Result<TlsPem, ConfigError> {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|source| ConfigError::Io {
                path: path.clone(),
                source,
            })
        };
        Ok(TlsPem {
            root_cert: self.ca_file.as_ref().map(read).transpose()?,
            client_cert: self.cert_file.as_ref().map(read).transpose()?,
            client_key: self
                .key_file
                .as_ref()
                .map(read)
                .transpose()?
                .map(Zeroizing::new),
        })
    }
}

/// The PEM files of a [`TlsConfig`], read into memory. The private key is wiped on drop and
/// never printed.
#[derive(Clone)]
#[non_exhaustive]
pub struct TlsPem {
    /// CA certificates (PEM), if `ca_file` was given.
    pub root_cert: Option<Vec<u8>>,
    /// Client certificate (PEM), if `cert_file` was given.
    pub client_cert: Option<Vec<u8>>,
    /// Client private key (PEM), if `key_file` was given.
    pub client_key: Option<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for TlsPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |v: &Option<_>| if v.is_some() { "<set>" } else { "<none>" };
        f.debug_struct("TlsPem")
            .field("root_cert", &shown(&self.root_cert.as_ref().map(|_| ())))
            .field(
                "client_cert",
                &shown(&self.client_cert.as_ref().map(|_| ())),
            )
            .field("client_key", &shown(&self.client_key.as_ref().map(|_| ())))
            .finish()
    }
}

/// One Redis server: where it is, how to authenticate, which database, TLS and timeouts.
///
/// `Display` gives the URL with the password as `***`; `Debug` shows every field, the password
/// as `***`.
///
/// ```
/// use slotshift::config::ServerConfig;
/// let s = ServerConfig::parse("rediss://default:pw@[::1]:6390/3?ca_file=/etc/ca.pem").unwrap();
/// assert_eq!(s.to_string(), "rediss://default:***@[::1]:6390/3?ca_file=%2Fetc%2Fca.pem");
/// assert!(!s.tls.as_ref().unwrap().insecure);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Where the server listens.
    pub endpoint: Endpoint,
    /// The database to `SELECT` (0 unless the URL says otherwise).
    pub db: u32,
    /// The ACL user, if any (`AUTH user password`).
    pub username: Option<String>,
    /// The password, if any.
    pub password: Option<Secret>,
    /// TLS settings; `None` for plain TCP and unix sockets.
    pub tls: Option<TlsConfig>,
    /// The RESP version.
    pub protocol: Protocol,
    /// How long to wait for the connection.
    pub connect_timeout: Duration,
    /// How long to wait for one reply; `None` waits for ever.
    pub command_timeout: Option<Duration>,
    /// How long one call may spend in all, retries of a lost connection, a failover or a
    /// busy cluster included (`?retry_deadline=`); `None`: the store's own setting.
    pub retry_deadline: Option<Duration>,
}

impl ServerConfig {
    /// A server at `endpoint` with no auth, database 0, no TLS, default timeouts.
    pub fn new(endpoint: Endpoint) -> Self {
        ServerConfig {
            endpoint,
            db: 0,
            username: None,
            password: None,
            tls: None,
            protocol: Protocol::Resp2,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            retry_deadline: None,
        }
    }

    /// Parses one server URL: `redis://`, `rediss://` or `unix://` (see the [module
    /// docs](super) for the forms and query options). A seed list or a Sentinel URL is an
    /// error here: use [`Deployment::parse`](super::Deployment::parse) for those.
    pub fn parse(url: &str) -> Result<ServerConfig, ConfigError> {
        super::parse::parse_server(url)
    }

    /// The `redis` crate's connection info for this server: address, TLS mode, database,
    /// username, password and protocol. Timeouts are not part of it: give
    /// [`connect_timeout`](Self::connect_timeout) and
    /// [`command_timeout`](Self::command_timeout) to the connection config.
    ///
    /// CA and client certificate files are not part of it either: read them with
    /// [`TlsConfig::load_pem`] for `redis::Client::build_with_tls`.
    ///
    /// Fails when this build cannot reach the server (TLS without the `redis` crate's TLS
    /// features, a unix socket on a platform without them).
    pub fn to_connection_info(&self) -> Result<redis::ConnectionInfo, ConfigError> {
        use redis::{ConnectionAddr, IntoConnectionInfo, ProtocolVersion, RedisConnectionInfo};
        let addr = match (&self.endpoint, &self.tls) {
            (Endpoint::Tcp { host, port }, Some(tls)) if tls.enabled => ConnectionAddr::TcpTls {
                host: host.clone(),
                port: *port,
                insecure: tls.insecure,
                tls_params: None,
            },
            (Endpoint::Tcp { host, port }, _) => ConnectionAddr::Tcp(host.clone(), *port),
            (Endpoint::Unix(path), _) => ConnectionAddr::Unix(path.clone()),
        };
        if !addr.is_supported() {
            let reason = match addr {
                ConnectionAddr::Unix(_) => "unix sockets are not available on this platform",
                _ => "TLS needs the redis crate's `tls-rustls` and `tokio-rustls-comp` features",
            };
            return Err(ConfigError::Unsupported {
                url: self.to_string(),
                reason,
            });
        }
        // No CLIENT SETINFO on connect: it would name the connection library ("redis-rs"),
        // not the application, and cost every new connection a command.
        let mut settings = RedisConnectionInfo::default()
            .set_skip_set_lib_name()
            .set_db(i64::from(self.db))
            .set_protocol(match self.protocol {
                Protocol::Resp2 => ProtocolVersion::RESP2,
                Protocol::Resp3 => ProtocolVersion::RESP3,
            });
        if let Some(user) = &self.username {
            settings = settings.set_username(user);
        }
        if let Some(password) = &self.password {
            settings = settings.set_password(password.expose());
        }
        let info = addr
            .into_connection_info()
            .map_err(|_| ConfigError::Unsupported {
                url: self.to_string(),
                reason: "the redis crate refused the address",
            })?;
        Ok(info.set_redis_settings(settings))
    }

    /// Whether the server is reached over TLS.
    pub fn uses_tls(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.enabled)
    }

    /// `user:***@`, `user@`, `:***@` or nothing.
    pub(crate) fn fmt_userinfo(
        f: &mut fmt::Formatter<'_>,
        username: Option<&str>,
        has_password: bool,
    ) -> fmt::Result {
        if let Some(user) = username {
            write!(f, "{}", utf8_percent_encode(user, USERINFO))?;
        }
        if has_password {
            f.write_str(":***")?;
        }
        if username.is_some() || has_password {
            f.write_str("@")?;
        }
        Ok(())
    }

    /// The query options that differ from the defaults, in a fixed order. `db` is included only
    /// for unix sockets (TCP URLs carry it in the path).
    pub(crate) fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if matches!(self.endpoint, Endpoint::Unix(_)) && self.db != 0 {
            pairs.push(("db", self.db.to_string()));
        }
        if self.protocol == Protocol::Resp3 {
            pairs.push(("protocol", "resp3".to_string()));
        }
        if self.connect_timeout != DEFAULT_CONNECT_TIMEOUT {
            pairs.push(("connect_timeout", fmt_duration(self.connect_timeout)));
        }
        if self.command_timeout != DEFAULT_COMMAND_TIMEOUT {
            let text = self
                .command_timeout
                .map_or_else(|| "none".to_string(), fmt_duration);
            pairs.push(("command_timeout", text));
        }
        if let Some(deadline) = self.retry_deadline {
            pairs.push(("retry_deadline", fmt_duration(deadline)));
        }
        if let Some(tls) = &self.tls {
            if tls.insecure {
                pairs.push(("insecure", "true".to_string()));
            }
            let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
            for (name, value) in [
                ("ca_file", path(&tls.ca_file)),
                ("cert_file", path(&tls.cert_file)),
                ("key_file", path(&tls.key_file)),
                ("server_name", tls.server_name.clone()),
            ] {
                if let Some(value) = value {
                    pairs.push((name, value));
                }
            }
        }
        pairs
    }
}

/// Writes `?a=1&b=2` (nothing for no pairs), values percent-encoded.
pub(crate) fn fmt_query(f: &mut fmt::Formatter<'_>, pairs: &[(&str, String)]) -> fmt::Result {
    for (i, (name, value)) in pairs.iter().enumerate() {
        let sep = if i == 0 { '?' } else { '&' };
        write!(f, "{sep}{name}={}", utf8_percent_encode(value, QUERY_VALUE))?;
    }
    Ok(())
}

impl fmt::Display for ServerConfig {
    /// The URL, with the password as `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match (&self.endpoint, self.uses_tls()) {
            (Endpoint::Unix(_), _) => "unix",
            (_, true) => "rediss",
            (_, false) => "redis",
        };
        write!(f, "{scheme}://")?;
        Self::fmt_userinfo(f, self.username.as_deref(), self.password.is_some())?;
        match &self.endpoint {
            Endpoint::Unix(path) => {
                let text = path.display().to_string();
                write!(f, "{}", utf8_percent_encode(&text, PATH))?;
            }
            tcp => {
                write!(f, "{tcp}")?;
                if self.db != 0 {
                    write!(f, "/{}", self.db)?;
                }
            }
        }
        fmt_query(f, &self.query_pairs())
    }
}

/// `2s` for whole seconds, else `250ms`.
pub(crate) fn fmt_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Characters escaped in a username.
pub(crate) const USERINFO: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b':')
    .add(b';')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b',');

/// Characters escaped in a socket path (slashes stay).
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Characters escaped in a query value.
const QUERY_VALUE: &AsciiSet = &USERINFO.add(b'&').add(b'=').add(b'+');

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_display_brackets_ipv6() {
        let v6 = Endpoint::Tcp {
            host: "::1".into(),
            port: 7000,
        };
        assert_eq!(v6.to_string(), "[::1]:7000");
        let unix = Endpoint::Unix("/tmp/redis.sock".into());
        assert_eq!(unix.to_string(), "/tmp/redis.sock");
    }

    #[test]
    fn connection_info_carries_auth_and_db() {
        let mut s = ServerConfig::new(Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: 6400,
        });
        s.db = 3;
        s.username = Some("app".into());
        s.password = Some(Secret::new("pw"));
        s.protocol = Protocol::Resp3;
        let info = s.to_connection_info().unwrap();
        assert_eq!(info.addr().to_string(), "127.0.0.1:6400");
        let r = info.redis_settings();
        assert_eq!(
            (r.db(), r.username(), r.password()),
            (3, Some("app"), Some("pw"))
        );
        assert_eq!(r.protocol(), redis::ProtocolVersion::RESP3);
    }

    #[test]
    fn tls_maps_to_a_verified_tls_address_or_a_clear_error() {
        let mut s = ServerConfig::new(Endpoint::Tcp {
            host: "h".into(),
            port: 1,
        });
        s.tls = Some(TlsConfig::new());
        s.password = Some(Secret::new("canary-7f3a9"));
        match s.to_connection_info() {
            // A build with the redis crate's TLS features: verification stays on.
            Ok(info) => assert!(matches!(
                info.addr(),
                redis::ConnectionAddr::TcpTls {
                    insecure: false,
                    ..
                }
            )),
            Err(err) => assert_eq!(
                err.to_string(),
                "`rediss://:***@h:1` cannot be reached by this build: TLS needs the redis \
                 crate's `tls-rustls` and `tokio-rustls-comp` features"
            ),
        }
    }

    #[test]
    fn durations_print_compactly() {
        assert_eq!(fmt_duration(Duration::from_secs(3)), "3s");
        assert_eq!(fmt_duration(Duration::from_millis(250)), "250ms");
    }

    #[test]
    fn load_pem_names_the_missing_file() {
        let mut tls = TlsConfig::new();
        tls.ca_file = Some("/nonexistent/ca.pem".into());
        let err = tls.load_pem().unwrap_err().to_string();
        assert!(
            err.starts_with("cannot read `/nonexistent/ca.pem`: "),
            "{err}"
        );
    }
}
