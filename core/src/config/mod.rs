//! How a deployment is named and reached: URLs, cluster seed lists, Sentinel, and the
//! `redis.yml` / `redis.<name>.yml` / `resque.yml` files GitLab operators already write.
//!
//! | input | parsed by | gives |
//! |---|---|---|
//! | `redis://[user[:password]@]host[:port][/db][?options]` | [`ServerConfig::parse`], [`Deployment::parse`] | one server (standalone, or any node of a cluster: the kind is detected at connect time) |
//! | `rediss://…` | same | the same over TLS, certificates verified unless `?insecure=true` |
//! | `unix:///path/to/redis.sock[?db=N]`, `unix:/path` | same | a unix socket |
//! | `h1:7000,h2:7001` or `redis://[user:pw@]h1:7000,h2:7001` | [`Deployment::parse`] | cluster seeds |
//! | `redis+sentinel://[user:pw@]s1:26379,s2:26379/mymaster[/db]` | [`Deployment::parse`] | Sentinel |
//! | a YAML file with `url:` or `nodes:` + `username:` / `password:` | [`Deployment::from_yaml_file`] | any of the above |
//! | `redis.yml`, `redis.<name>.yml`, `resque.yml` | [`Instances`] | named instances with fallbacks |
//!
//! Passwords live in [`Secret`]: every `Debug`, `Display`, error and log line prints `***`.
//!
//! ```
//! use slotshift::config::{Deployment, Endpoint};
//! let d = Deployment::parse("redis://app:s3cret@cache.internal:6380/2").unwrap();
//! let Deployment::Server(server) = &d else { panic!("one server") };
//! assert_eq!(server.endpoint, Endpoint::Tcp { host: "cache.internal".into(), port: 6380 });
//! assert_eq!(server.db, 2);
//! assert_eq!(server.password.as_ref().unwrap().expose(), "s3cret");
//! assert_eq!(d.to_string(), "redis://app:***@cache.internal:6380/2");
//! ```

use std::path::PathBuf;

mod deployment;
mod instances;
mod parse;
mod secret;
mod server;
mod value;
mod yaml;

pub use deployment::{Deployment, SentinelConfig};
pub use instances::{Instances, GITLAB_FALLBACKS};
pub use secret::Secret;
pub use server::{
    Endpoint, Protocol, ServerConfig, TlsConfig, TlsPem, DEFAULT_COMMAND_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_PORT, DEFAULT_SENTINEL_PORT,
};

/// The user guide page `docs/config.md`, compiled so that its examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/config.md")]
pub struct UserGuide;

/// Errors in URLs, seed lists and config files.
///
/// Every message names what was wrong. A URL is always shown with its password replaced by
/// `***` (and so are query options whose name contains `pass`, `secret` or `token`); a value
/// read from a `password` key is never shown at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The URL was empty (or only whitespace).
    #[error("empty URL")]
    EmptyUrl,
    /// Neither `scheme://…` nor a bare `host[:port]` list.
    #[error("`{url}` is not a Redis URL: expected redis://, rediss://, unix://, redis+sentinel:// or host:port")]
    NotAUrl {
        /// The input, password masked.
        url: String,
    },
    /// A scheme slotshift does not know.
    #[error("unsupported scheme `{scheme}` in `{url}`: expected redis, rediss, unix, redis+sentinel or rediss+sentinel")]
    UnsupportedScheme {
        /// The URL, password masked.
        url: String,
        /// The scheme as written.
        scheme: String,
    },
    /// No host where one is needed (`redis://:6379`, `redis://`, an empty seed between commas).
    #[error("missing host in `{url}`")]
    MissingHost {
        /// The URL, password masked.
        url: String,
    },
    /// A host that is neither a valid name nor an IP address.
    #[error("invalid host `{host}` in `{url}`: {reason}")]
    InvalidHost {
        /// The URL, password masked.
        url: String,
        /// The host as written.
        host: String,
        /// Why it was refused.
        reason: String,
    },
    /// A port that is not a number from 1 to 65535.
    #[error("invalid port `{port}` in `{url}`: expected a number from 1 to 65535")]
    InvalidPort {
        /// The URL, password masked.
        url: String,
        /// The port as written.
        port: String,
    },
    /// A database that is not a non-negative integer.
    #[error("invalid database `{db}` in `{url}`: expected a number from 0 to 4294967295")]
    InvalidDb {
        /// The URL, password masked.
        url: String,
        /// The database as written.
        db: String,
    },
    /// A path with more segments than the URL form allows.
    #[error("unexpected path `{path}` in `{url}`: expected {expected}")]
    InvalidPath {
        /// The URL, password masked.
        url: String,
        /// The path as written.
        path: String,
        /// What the path should look like.
        expected: &'static str,
    },
    /// A `%` not followed by two hex digits, or an escape that does not decode to UTF-8.
    #[error("bad percent-encoding in the {part} of `{url}`: `%` must be followed by two hex digits and decode to UTF-8")]
    PercentEncoding {
        /// The URL, password masked.
        url: String,
        /// Which part: `username`, `password`, `path`, `query`, `master name`.
        part: &'static str,
    },
    /// An `@` after the host: almost always a password with an unescaped `/`, `?`, `#` or `@`.
    #[error("`@` after the host in `{url}`: percent-encode `/`, `?`, `#` and `@` in a username or password (as %2F, %3F, %23, %40)")]
    AtAfterHost {
        /// The URL, password masked.
        url: String,
    },
    /// `unix://` without a socket path.
    #[error("missing socket path in `{url}`: expected unix:///path/to/redis.sock")]
    EmptyUnixPath {
        /// The URL, password masked.
        url: String,
    },
    /// `unix://host/…`: a unix URL has an empty host.
    #[error("unix URL `{url}` has a host: expected unix:///path/to/redis.sock")]
    UnixHost {
        /// The URL, password masked.
        url: String,
    },
    /// A query option slotshift does not know.
    #[error("unknown query option `{option}` in `{url}` (known: {known})")]
    UnknownOption {
        /// The URL, password masked.
        url: String,
        /// The option name.
        option: String,
        /// The options this kind of URL takes.
        known: &'static str,
    },
    /// A query option whose value does not parse.
    #[error("invalid value `{value}` for `{option}` in `{url}`: expected {expected}")]
    InvalidOption {
        /// The URL, password masked.
        url: String,
        /// The option name.
        option: String,
        /// The value as written.
        value: String,
        /// What the value should look like.
        expected: &'static str,
    },
    /// The same query option twice.
    #[error("query option `{option}` given twice in `{url}`")]
    DuplicateOption {
        /// The URL, password masked.
        url: String,
        /// The option name.
        option: String,
    },
    /// A TLS option (`insecure`, `ca_file`, …) on a URL without TLS.
    #[error("`{option}` needs TLS in `{url}`: use rediss://")]
    NeedsTls {
        /// The URL, password masked.
        url: String,
        /// The option name.
        option: String,
    },
    /// `cert_file` without `key_file`, or the other way round.
    #[error("`cert_file` and `key_file` go together in `{url}`: give both or neither")]
    CertWithoutKey {
        /// The URL, password masked.
        url: String,
    },
    /// A database both in the path and as `?db=`.
    #[error("database given twice in `{url}`: in the path and as ?db=")]
    DbTwice {
        /// The URL, password masked.
        url: String,
    },
    /// A `#fragment` other than `#insecure`.
    #[error("unexpected fragment `#{fragment}` in `{url}`: only #insecure is known")]
    UnknownFragment {
        /// The URL, password masked.
        url: String,
        /// The fragment, without `#`.
        fragment: String,
    },
    /// Several hosts where one server was expected.
    #[error("`{url}` names {count} hosts where one server was expected (a cluster seed list is a Deployment)")]
    SeveralHosts {
        /// The URL, password masked.
        url: String,
        /// How many hosts it names.
        count: usize,
    },
    /// A Sentinel URL where one server was expected.
    #[error("`{url}` names a Sentinel deployment where one server was expected")]
    NotAServer {
        /// The URL, password masked.
        url: String,
    },
    /// A Sentinel URL without the master name.
    #[error("missing master name in `{url}`: expected redis+sentinel://host:port[,host:port…]/master_name[/db]")]
    MissingMasterName {
        /// The URL, password masked.
        url: String,
    },
    /// Cluster seeds that select a database other than 0 (a cluster has only database 0).
    #[error("a cluster has only database 0, but `{url}` selects database {db}")]
    ClusterDb {
        /// The URL (or the first seed's URL), password masked.
        url: String,
        /// The database it selects.
        db: u32,
    },
    /// An empty list of URLs or cluster nodes.
    #[error("no Redis URL or node given")]
    NoSeeds,
    /// A connection name Redis would refuse (`CLIENT SETNAME`: printable ASCII, no spaces).
    #[error("client name {0:?} is invalid: use printable ASCII without spaces")]
    InvalidClientName(String),
    /// An environment variable holds a value slotshift cannot use.
    #[error("environment variable {variable}={value:?} is invalid: expected {expected}")]
    InvalidEnvironment {
        /// The variable's name.
        variable: &'static str,
        /// Its value (at most 64 characters of it).
        value: String,
        /// What it may hold.
        expected: &'static str,
    },
    /// A TLS deployment, but this build has no TLS support, or a unix socket on a platform
    /// without them.
    #[error("`{url}` cannot be reached by this build: {reason}")]
    Unsupported {
        /// The URL, password masked.
        url: String,
        /// What is missing.
        reason: &'static str,
    },
    /// A file that cannot be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file that is not valid YAML.
    #[error("invalid YAML in `{}`: {message}", path.display())]
    Yaml {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem, when the parser knows it.
        line: Option<usize>,
        /// 1-based column of the problem, when the parser knows it.
        column: Option<usize>,
        /// The parser's message, with its position.
        message: String,
    },
    /// A YAML value of the wrong type or out of range.
    #[error("`{key}` in `{}`{}: {problem}", path.display(), line_suffix(*line))]
    YamlValue {
        /// The file.
        path: PathBuf,
        /// Where in the file, as `production.cache.nodes[1].port`.
        key: String,
        /// 1-based line of the key, when it could be found.
        line: Option<usize>,
        /// What is wrong (never the value of a password).
        problem: String,
    },
    /// A bad URL inside a YAML file.
    #[error("`{key}` in `{}`{}: {source}", path.display(), line_suffix(*line))]
    YamlUrl {
        /// The file.
        path: PathBuf,
        /// Where in the file.
        key: String,
        /// 1-based line of the key, when it could be found.
        line: Option<usize>,
        /// What is wrong with the URL.
        #[source]
        source: Box<ConfigError>,
    },
    /// A named instance that is not configured anywhere, nor is any instance it falls back to.
    #[error("Redis instance `{name}` is not configured{}", unknown_suffix(chain))]
    UnknownInstance {
        /// The instance asked for.
        name: String,
        /// The fallback chain that was searched, starting with `name`.
        chain: Vec<String>,
    },
    /// Fallbacks that loop.
    #[error("fallback cycle: {}", cycle.join(" -> "))]
    FallbackCycle {
        /// The instances in the loop, the first repeated at the end.
        cycle: Vec<String>,
    },
}

fn line_suffix(line: Option<usize>) -> String {
    line.map_or_else(String::new, |n| format!(", line {n}"))
}

fn unknown_suffix(chain: &[String]) -> String {
    if chain.len() > 1 {
        format!(
            ", nor is any instance it falls back to ({})",
            chain.join(" -> ")
        )
    } else {
        String::new()
    }
}
