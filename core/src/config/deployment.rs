//! [`Deployment`]: one server, a cluster (by its seeds), or a Sentinel-managed master.

use std::fmt;
use std::path::Path;

use percent_encoding::utf8_percent_encode;

use super::server::{fmt_query, USERINFO};
use super::{ConfigError, Endpoint, Secret, ServerConfig};

/// A master found through Sentinel.
///
/// `server` holds what is used on the master once found (username, password, database, TLS,
/// timeouts); its `endpoint` is only a placeholder (the master name, port 6379) until the
/// sentinels report the master's address. The sentinels have their own credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SentinelConfig {
    /// The name the sentinels know the master by (`sentinel monitor <name> …`).
    pub master_name: String,
    /// The sentinels to ask, in order.
    pub sentinels: Vec<Endpoint>,
    /// The ACL user on the sentinels, if any.
    pub sentinel_username: Option<String>,
    /// The password of the sentinels, if any.
    pub sentinel_password: Option<Secret>,
    /// Auth, database, TLS and timeouts for the master (and its replicas).
    pub server: ServerConfig,
}

impl SentinelConfig {
    /// A master named `master_name` behind `sentinels`, with no auth and database 0.
    pub fn new(master_name: impl Into<String>, sentinels: Vec<Endpoint>) -> Self {
        let master_name = master_name.into();
        SentinelConfig {
            server: ServerConfig::new(Endpoint::Tcp {
                host: master_name.clone(),
                port: super::DEFAULT_PORT,
            }),
            master_name,
            sentinels,
            sentinel_username: None,
            sentinel_password: None,
        }
    }
}

impl fmt::Display for SentinelConfig {
    /// `redis+sentinel://[user:***@]s1:26379,s2:26379/master[/db][?options]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.server.uses_tls() {
            "rediss+sentinel"
        } else {
            "redis+sentinel"
        };
        write!(f, "{scheme}://")?;
        ServerConfig::fmt_userinfo(
            f,
            self.server.username.as_deref(),
            self.server.password.is_some(),
        )?;
        for (i, s) in self.sentinels.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{s}")?;
        }
        write!(f, "/{}", utf8_percent_encode(&self.master_name, USERINFO))?;
        if self.server.db != 0 {
            write!(f, "/{}", self.server.db)?;
        }
        let mut pairs = self.server.query_pairs();
        if let Some(user) = &self.sentinel_username {
            pairs.push(("sentinel_username", user.clone()));
        }
        if self.sentinel_password.is_some() {
            pairs.push(("sentinel_password", "***".to_string()));
        }
        fmt_query(f, &pairs)
    }
}

/// How a deployment is reached.
///
/// ```
/// use slotshift::config::Deployment;
/// let cluster = Deployment::parse("redis://:pw@10.0.0.1:7000,10.0.0.2:7000").unwrap();
/// assert_eq!(cluster.kind(), "cluster");
/// assert_eq!(cluster.to_string(), "redis://:***@10.0.0.1:7000,10.0.0.2:7000");
///
/// let sentinel = Deployment::parse("redis+sentinel://s1,s2:26380/mymaster/1").unwrap();
/// assert_eq!(sentinel.to_string(), "redis+sentinel://s1:26379,s2:26380/mymaster/1");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deployment {
    /// One URL: a standalone server or any node of a cluster (the kind is detected when
    /// connecting).
    Server(ServerConfig),
    /// A cluster, known by some of its nodes.
    Cluster {
        /// The nodes to learn the topology from.
        seeds: Vec<ServerConfig>,
    },
    /// A master managed by Sentinel.
    Sentinel(SentinelConfig),
}

impl Deployment {
    /// Parses one deployment:
    ///
    /// - a server URL (`redis://`, `rediss://`, `unix://`, or a bare `host[:port]`);
    /// - cluster seeds: `redis://[user:pw@]h1:7000,h2:7001[/db][?options]` (one userinfo,
    ///   database and options for all), a bare `h1:7000,h2:7001`, or full URLs separated by
    ///   commas (`redis://h1:7000,redis://h2:7001`);
    /// - Sentinel: `redis+sentinel://[user:pw@]s1[:26379],s2[:26379]/master_name[/db]`
    ///   (`rediss+sentinel://` for TLS). The userinfo authenticates on the master; the
    ///   sentinels' own credentials go in `?sentinel_username=` / `?sentinel_password=`.
    pub fn parse(input: &str) -> Result<Deployment, ConfigError> {
        super::parse::parse_deployment(input)
    }

    /// One URL gives what [`Deployment::parse`] gives; several are the seeds of a cluster.
    pub fn from_urls<S: AsRef<str>>(urls: &[S]) -> Result<Deployment, ConfigError> {
        match urls {
            [] => Err(ConfigError::NoSeeds),
            [one] => Deployment::parse(one.as_ref()),
            many => {
                let mut seeds = Vec::new();
                for url in many {
                    seeds.extend(super::parse::parse_seeds(url.as_ref())?);
                }
                if let Some(seed) = seeds.iter().find(|s| s.db != 0) {
                    return Err(ConfigError::ClusterDb {
                        url: seed.to_string(),
                        db: seed.db,
                    });
                }
                Ok(Deployment::Cluster { seeds })
            }
        }
    }

    /// Reads one deployment from a YAML file of the shape operators already have:
    ///
    /// ```yaml
    /// url: redis://cache.internal:6379/0     # or `nodes:` / `cluster:` (a list), or `sentinels:`
    /// username: app
    /// password: s3cret
    /// ```
    ///
    /// `nodes:` entries are URLs, `host:port` strings or `{host:, port:}` maps. The
    /// [`Instances`](super::Instances) docs list every key.
    pub fn from_yaml_file(path: impl AsRef<Path>) -> Result<Deployment, ConfigError> {
        super::value::deployment_from_file(path.as_ref(), None)
    }

    /// [`Deployment::from_yaml_file`] for a file keyed by environment, as GitLab's
    /// `resque.yml` and `redis.<name>.yml` are (`production: { url: … }`): reads section
    /// `env`.
    pub fn from_yaml_file_env(
        path: impl AsRef<Path>,
        env: &str,
    ) -> Result<Deployment, ConfigError> {
        super::value::deployment_from_file(path.as_ref(), Some(env))
    }

    /// `"server"`, `"cluster"` or `"sentinel"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Deployment::Server(_) => "server",
            Deployment::Cluster { .. } => "cluster",
            Deployment::Sentinel(_) => "sentinel",
        }
    }

    /// The server settings: the one server, every seed, or the Sentinel master's.
    pub fn servers(&self) -> Vec<&ServerConfig> {
        match self {
            Deployment::Server(s) => vec![s],
            Deployment::Cluster { seeds } => seeds.iter().collect(),
            Deployment::Sentinel(s) => vec![&s.server],
        }
    }

    /// Gives `password` to every server of the deployment: the one server, each cluster seed
    /// (and so every node learned from them), or the master a Sentinel names — the sentinels
    /// keep their own credentials. For passwords that come from outside a URL (an
    /// environment variable, a file), so that they never show in a process list.
    pub fn set_password(&mut self, password: &Secret) {
        for server in self.servers_mut() {
            server.password = Some(password.clone());
        }
    }

    /// Gives the ACL user `username` (`None`: the default user) to the same servers as
    /// [`Deployment::set_password`].
    pub fn set_username(&mut self, username: Option<&str>) {
        for server in self.servers_mut() {
            server.username = username.map(str::to_owned);
        }
    }

    /// The servers whose credentials the deployment's connections use (not the sentinels').
    fn servers_mut(&mut self) -> Vec<&mut ServerConfig> {
        match self {
            Deployment::Server(s) => vec![s],
            Deployment::Cluster { seeds } => seeds.iter_mut().collect(),
            Deployment::Sentinel(s) => vec![&mut s.server],
        }
    }
}

impl fmt::Display for Deployment {
    /// The URL form [`Deployment::parse`] reads back, passwords as `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Deployment::Server(s) => write!(f, "{s}"),
            Deployment::Sentinel(s) => write!(f, "{s}"),
            Deployment::Cluster { seeds } => {
                let shared = seeds.first().filter(|first| {
                    seeds.iter().all(|s| {
                        matches!(s.endpoint, Endpoint::Tcp { .. })
                            && ServerConfig {
                                endpoint: first.endpoint.clone(),
                                ..(*s).clone()
                            } == **first
                    })
                });
                match shared {
                    Some(first) => {
                        let scheme = if first.uses_tls() { "rediss" } else { "redis" };
                        write!(f, "{scheme}://")?;
                        ServerConfig::fmt_userinfo(
                            f,
                            first.username.as_deref(),
                            first.password.is_some(),
                        )?;
                        for (i, s) in seeds.iter().enumerate() {
                            if i > 0 {
                                f.write_str(",")?;
                            }
                            write!(f, "{}", s.endpoint)?;
                        }
                        if first.db != 0 {
                            write!(f, "/{}", first.db)?;
                        }
                        fmt_query(f, &first.query_pairs())
                    }
                    None => {
                        for (i, s) in seeds.iter().enumerate() {
                            if i > 0 {
                                f.write_str(",")?;
                            }
                            write!(f, "{s}")?;
                        }
                        Ok(())
                    }
                }
            }
        }
    }
}
