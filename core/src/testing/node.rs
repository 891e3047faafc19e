//! One `redis-server` process: its configuration, start-up, and the [`Node`] handle.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::{FromRedisValue, IntoConnectionInfo};

use super::ports::{self, PortLease};
use super::spawn::{redis_server_path, ServerProcess};
use super::EmbeddedError;

/// How long a single server may take to answer PING after it was spawned.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How many times a start is retried with a new port after "Address already in use".
const PORT_RETRIES: usize = 12;
/// Polling interval for every wait in this module tree.
pub(crate) const POLL: Duration = Duration::from_millis(10);
/// Read/write timeout of admin connections.
const ADMIN_IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Connect timeout of admin connections.
const ADMIN_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Credentials shared by every data node of a topology.
#[derive(Clone, Default)]
pub(crate) struct Auth {
    /// `requirepass` (and `masterauth`) for the default user.
    pub(crate) password: Option<String>,
    /// An extra ACL user with every permission, used in the URLs handed out.
    pub(crate) acl_user: Option<(String, String)>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("acl_user", &self.acl_user.as_ref().map(|(u, _)| (u, "***")))
            .finish()
    }
}

impl Auth {
    fn secrets(&self) -> Vec<&str> {
        let mut out = Vec::new();
        if let Some(p) = &self.password {
            out.push(p.as_str());
        }
        if let Some((_, p)) = &self.acl_user {
            out.push(p.as_str());
        }
        out.retain(|s| !s.is_empty());
        out
    }

    /// `redis://[user:pass@]127.0.0.1:PORT` with the credentials a client should use.
    pub(crate) fn url(&self, port: u16) -> String {
        match (&self.acl_user, &self.password) {
            (Some((user, pass)), _) => format!(
                "redis://{}:{}@127.0.0.1:{port}",
                encode_userinfo(user),
                encode_userinfo(pass)
            ),
            (None, Some(pass)) => format!("redis://:{}@127.0.0.1:{port}", encode_userinfo(pass)),
            (None, None) => format!("redis://127.0.0.1:{port}"),
        }
    }
}

/// Percent-encodes everything but RFC 3986 "unreserved" characters.
fn encode_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Quotes a value for redis.conf (sdssplitargs syntax).
pub(crate) fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What kind of server to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A plain (standalone, master or replica) server.
    Plain,
    /// A cluster-enabled node.
    Cluster {
        /// `cluster-node-timeout`.
        node_timeout_ms: u64,
    },
    /// A Sentinel (`redis-server --sentinel`); never has a password.
    Sentinel,
}

/// Everything needed to write one server's configuration.
#[derive(Debug)]
pub(crate) struct Spec<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) kind: Kind,
    pub(crate) auth: &'a Auth,
    pub(crate) debug_command: bool,
    /// Extra `key value` directives, written as given (values quoted).
    pub(crate) config: &'a [(String, String)],
    /// Extra raw lines (Sentinel `sentinel monitor …`).
    pub(crate) raw_lines: Vec<String>,
}

impl Spec<'_> {
    fn config_text(&self, port: u16) -> String {
        let dir = self.dir.display().to_string();
        let mut lines = vec![
            format!("port {port}"),
            "bind 127.0.0.1".to_string(),
            "daemonize no".to_string(),
            format!("dir {}", quote(&dir)),
            format!("logfile {}", quote(&format!("{dir}/{port}.log"))),
            "loglevel notice".to_string(),
        ];
        if self.kind != Kind::Sentinel {
            lines.extend([
                "save \"\"".to_string(),
                "appendonly no".to_string(),
                // An empty data set syncs in milliseconds; the default 5 s delay would dominate.
                "repl-diskless-sync-delay 0".to_string(),
                format!("dbfilename {}", quote(&format!("dump-{port}.rdb"))),
            ]);
            if self.debug_command {
                lines.push("enable-debug-command yes".to_string());
            }
            if let Some(pass) = &self.auth.password {
                lines.push(format!("requirepass {}", quote(pass)));
                lines.push(format!("masterauth {}", quote(pass)));
            }
            if let Some((user, pass)) = &self.auth.acl_user {
                lines.push(format!(
                    "user {} on {} ~* &* +@all",
                    quote(user),
                    quote(&format!(">{pass}"))
                ));
            }
        }
        if let Kind::Cluster { node_timeout_ms } = self.kind {
            lines.extend([
                "cluster-enabled yes".to_string(),
                format!(
                    "cluster-config-file {}",
                    quote(&format!("nodes-{port}.conf"))
                ),
                format!("cluster-node-timeout {node_timeout_ms}"),
                "cluster-announce-ip 127.0.0.1".to_string(),
                // Keep the topology exactly as built: no replica wanders to an orphaned master.
                "cluster-allow-replica-migration no".to_string(),
            ]);
        }
        for (key, value) in self.config {
            lines.push(format!("{key} {}", quote(value)));
        }
        lines.extend(self.raw_lines.iter().cloned());
        let mut text = lines.join("\n");
        text.push('\n');
        text
    }
}

/// One running server of an embedded topology.
///
/// Dropping a `Node` kills its process (SIGKILL) and reaps it. `Debug` shows no credentials.
pub struct Node {
    port: u16,
    id: String,
    url: String,
    client: redis::Client,
    admin: redis::Client,
    admin_connection: Mutex<Option<redis::Connection>>,
    log: PathBuf,
    launch: Launch,
    process: ServerProcess,
    _lease: PortLease,
}

/// How to (re)start a node's process.
struct Launch {
    program: PathBuf,
    dir: PathBuf,
    config: PathBuf,
    console: PathBuf,
    sentinel: bool,
    /// Passwords to scrub from log excerpts.
    secrets: Vec<String>,
}

impl Launch {
    fn command(&self) -> Result<Command, EmbeddedError> {
        let console = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.console)
            .map_err(|e| EmbeddedError::io(format!("opening {}", self.console.display()), e))?;
        let console_err = console
            .try_clone()
            .map_err(|e| EmbeddedError::io("duplicating a file handle", e))?;
        let mut command = Command::new(&self.program);
        command.arg(&self.config);
        if self.sentinel {
            command.arg("--sentinel");
        }
        command
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(console)
            .stderr(console_err);
        Ok(command)
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("port", &self.port)
            .field("pid", &self.process.pid())
            .field("id", &self.id)
            .finish()
    }
}

impl Node {
    /// The client port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The cluster node id (40 hex characters); empty for servers outside a cluster.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `redis://[user:pass@]127.0.0.1:PORT`, with the credentials an application should use
    /// (the ACL user if one was configured, else the password, else none).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A `redis` crate client for [`url`](Self::url) (credentials included).
    pub fn client(&self) -> redis::Client {
        self.client.clone()
    }

    /// The server's log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Kills the server with SIGKILL and waits until it is gone. Idempotent.
    pub fn kill(&self) -> Result<(), EmbeddedError> {
        self.forget_connection();
        self.process.kill()
    }

    /// Stops the server with SIGSTOP: connections are accepted by the kernel but nothing answers.
    pub fn pause(&self) -> Result<(), EmbeddedError> {
        self.forget_connection();
        self.process.pause()
    }

    /// Continues a server stopped by [`pause`](Self::pause) (SIGCONT).
    pub fn resume(&self) -> Result<(), EmbeddedError> {
        self.process.resume()
    }

    /// Whether the process is still running (it may be paused).
    pub fn is_alive(&self) -> bool {
        self.process.is_alive()
    }

    /// Whether the process is stopped by [`pause`](Self::pause).
    pub fn is_paused(&self) -> bool {
        self.process.is_paused()
    }

    /// Whether the node can answer commands: alive and not paused.
    pub fn is_available(&self) -> bool {
        self.is_alive() && !self.is_paused()
    }

    /// Runs one command as the default (admin) user over a cached connection and converts the
    /// reply. A connection error drops the cached connection so the next call reconnects.
    pub fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, EmbeddedError> {
        let mut guard = self
            .admin_connection
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let what = || format!("{} on 127.0.0.1:{}", command_name(cmd), self.port);
        if guard.is_none() {
            *guard = Some(
                self.connect_admin()
                    .map_err(|e| EmbeddedError::redis(what(), e))?,
            );
        }
        let Some(connection) = guard.as_mut() else {
            return Err(EmbeddedError::Unexpected(
                "admin connection vanished".into(),
            ));
        };
        match cmd.query::<T>(connection) {
            Ok(value) => Ok(value),
            Err(e) => {
                if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
                    *guard = None;
                }
                Err(EmbeddedError::redis(what(), e))
            }
        }
    }

    /// `INFO <section>` as text.
    pub fn info(&self, section: &str) -> Result<String, EmbeddedError> {
        self.query(redis::cmd("INFO").arg(section))
    }

    /// One field of `INFO <section>` (e.g. `info_field("replication", "role")`).
    pub fn info_field(&self, section: &str, field: &str) -> Result<Option<String>, EmbeddedError> {
        Ok(info_value(&self.info(section)?, field))
    }

    /// How many times this server has run `command` (lower case, e.g. `exists`) since it
    /// started or since `CONFIG RESETSTAT`: `INFO commandstats`' `calls`, 0 if never run.
    pub fn calls(&self, command: &str) -> Result<u64, EmbeddedError> {
        let field = self.info_field("commandstats", &format!("cmdstat_{command}"))?;
        Ok(field
            .as_deref()
            .and_then(|v| v.strip_prefix("calls="))
            .and_then(|v| v.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }

    /// Waits until each of `replicas` has every write this master had made when called: its
    /// `slave_repl_offset` reaches this node's `master_repl_offset`.
    ///
    /// `WAIT` cannot do this from a test: it counts only the writes of the connection it is
    /// sent on, and a test's writes go through the client under test, so on the admin
    /// connection it returns at once.
    pub fn wait_replicated(
        &self,
        replicas: &[&Node],
        timeout: Duration,
    ) -> Result<(), EmbeddedError> {
        let written = self.repl_offset("master_repl_offset")?;
        for replica in replicas {
            wait_for(
                &format!(
                    "127.0.0.1:{} to replicate 127.0.0.1:{} up to offset {written}",
                    replica.port(),
                    self.port()
                ),
                timeout,
                |last| {
                    let offset = replica.repl_offset("slave_repl_offset")?;
                    *last = format!("offset {offset}");
                    Ok((offset >= written).then_some(()))
                },
            )?;
        }
        Ok(())
    }

    /// A replication offset from `INFO replication` (`master_repl_offset`, `slave_repl_offset`).
    fn repl_offset(&self, field: &str) -> Result<i64, EmbeddedError> {
        let value = self.info_field("replication", field)?;
        value
            .as_deref()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                EmbeddedError::Unexpected(format!(
                    "{field} of 127.0.0.1:{} in INFO replication: {value:?}",
                    self.port()
                ))
            })
    }

    fn connect_admin(&self) -> redis::RedisResult<redis::Connection> {
        let connection = self
            .admin
            .get_connection_with_timeout(ADMIN_CONNECT_TIMEOUT)?;
        connection.set_read_timeout(Some(ADMIN_IO_TIMEOUT))?;
        connection.set_write_timeout(Some(ADMIN_IO_TIMEOUT))?;
        Ok(connection)
    }

    fn forget_connection(&self) {
        *self
            .admin_connection
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub(crate) fn set_id(&mut self, id: String) {
        self.id = id;
    }

    pub(crate) fn process(&self) -> &ServerProcess {
        &self.process
    }
}

/// The value of `field` in an INFO text (`field:value` lines).
pub(crate) fn info_value(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == field).then(|| v.trim().to_string())
    })
}

fn command_name(cmd: &redis::Cmd) -> String {
    // The first argument (or two, for container commands); never later ones, which may be
    // passwords (AUTH, MIGRATE … AUTH).
    let mut words = Vec::new();
    for arg in cmd.args_iter().take(2) {
        if let redis::Arg::Simple(bytes) = arg {
            let word = String::from_utf8_lossy(bytes).to_string();
            let upper = word.to_ascii_uppercase();
            let container = matches!(
                upper.as_str(),
                "CLUSTER"
                    | "CONFIG"
                    | "CLIENT"
                    | "SENTINEL"
                    | "ACL"
                    | "DEBUG"
                    | "OBJECT"
                    | "MEMORY"
            );
            words.push(upper);
            if !container {
                break;
            }
        }
    }
    words.join(" ")
}

/// Starts one server in `spec.dir`, retrying on a new port when the port was taken meanwhile.
pub(crate) fn start(spec: &Spec<'_>) -> Result<Node, EmbeddedError> {
    let program = redis_server_path()?;
    let cluster_bus = matches!(spec.kind, Kind::Cluster { .. });
    let mut last_error = None;
    for _ in 0..PORT_RETRIES {
        let lease = ports::reserve(cluster_bus)?;
        match start_on(&program, spec, lease) {
            Ok(node) => return Ok(node),
            Err(StartError::PortTaken(e)) => last_error = Some(e),
            Err(StartError::Fatal(e)) => return Err(e),
        }
    }
    Err(last_error.unwrap_or(EmbeddedError::NoFreePort {
        attempts: PORT_RETRIES,
        bus: cluster_bus,
    }))
}

enum StartError {
    PortTaken(EmbeddedError),
    Fatal(EmbeddedError),
}

fn start_on(program: &Path, spec: &Spec<'_>, lease: PortLease) -> Result<Node, StartError> {
    let port = lease.port();
    let config_path = spec.dir.join(format!("{port}.conf"));
    let console_path = spec.dir.join(format!("{port}.out"));
    let log = spec.dir.join(format!("{port}.log"));
    let fatal = StartError::Fatal;
    std::fs::write(&config_path, spec.config_text(port)).map_err(|e| {
        fatal(EmbeddedError::io(
            format!("writing {}", config_path.display()),
            e,
        ))
    })?;
    let launch = Launch {
        program: program.to_path_buf(),
        dir: spec.dir.to_path_buf(),
        config: config_path,
        console: console_path,
        sentinel: spec.kind == Kind::Sentinel,
        secrets: spec
            .auth
            .secrets()
            .into_iter()
            .map(str::to_string)
            .collect(),
    };
    let command = launch.command().map_err(fatal)?;
    let process = ServerProcess::start(command).map_err(fatal)?;

    let url = if spec.kind == Kind::Sentinel {
        format!("redis://127.0.0.1:{port}")
    } else {
        spec.auth.url(port)
    };
    let client = redis::Client::open(url.as_str()).map_err(|e| {
        fatal(EmbeddedError::redis(
            format!("building a client for port {port}"),
            e,
        ))
    })?;
    let mut settings = redis::RedisConnectionInfo::default().set_skip_set_lib_name();
    if spec.kind != Kind::Sentinel {
        if let Some(pass) = &spec.auth.password {
            settings = settings.set_password(pass);
        }
    }
    let admin_info = ("127.0.0.1", port)
        .into_connection_info()
        .map(|info| info.set_redis_settings(settings))
        .map_err(|e| {
            fatal(EmbeddedError::redis(
                format!("building a client for port {port}"),
                e,
            ))
        })?;
    let admin = redis::Client::open(admin_info).map_err(|e| {
        fatal(EmbeddedError::redis(
            format!("building a client for port {port}"),
            e,
        ))
    })?;

    let node = Node {
        port,
        id: String::new(),
        url,
        client,
        admin,
        admin_connection: Mutex::new(None),
        log,
        launch,
        process,
        _lease: lease,
    };
    match node.wait_until_up() {
        Ok(()) => Ok(node),
        Err((true, e)) => Err(StartError::PortTaken(e)),
        Err((false, e)) => Err(StartError::Fatal(e)),
    }
}

impl Node {
    /// Waits until the (re)started process answers on its port; on failure says whether the
    /// port was taken.
    fn wait_until_up(&self) -> Result<(), (bool, EmbeddedError)> {
        let port = self.port;
        let secrets: Vec<&str> = self.launch.secrets.iter().map(String::as_str).collect();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.process.exit_status().is_some() {
                let tail = log_tail(&[&self.log, &self.launch.console], &secrets);
                let taken = tail.contains("Address already in use");
                return Err((
                    taken,
                    EmbeddedError::Exited {
                        port,
                        log_tail: tail,
                    },
                ));
            }
            // Check the answer comes from our process, not from another test's server that
            // holds the port (ours would then exit with "Address already in use").
            if let Ok(info) = self.info("server") {
                if info_value(&info, "process_id") == Some(self.pid().to_string()) {
                    return Ok(());
                }
                self.forget_connection();
            }
            if Instant::now() > deadline {
                let tail = log_tail(&[&self.log, &self.launch.console], &secrets);
                return Err((
                    false,
                    EmbeddedError::Timeout {
                        what: format!(
                            "redis-server pid {} on port {port} to answer; end of its log:\n{tail}",
                            self.pid()
                        ),
                        after: START_TIMEOUT,
                    },
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Starts a killed node again on the same port with the same configuration (a cluster node
    /// keeps its node id and rejoins; data is not kept: persistence is off) and waits until it
    /// answers PING.
    pub fn restart(&self) -> Result<(), EmbeddedError> {
        if self.process.is_alive() {
            return Err(EmbeddedError::Invalid(format!(
                "cannot restart 127.0.0.1:{}: it is still running (kill it first)",
                self.port
            )));
        }
        self.forget_connection();
        self.process.respawn(self.launch.command()?)?;
        self.wait_until_up().map_err(|(_, e)| e)
    }
}

/// The last lines of the given files, with every secret replaced by `***`.
fn log_tail(paths: &[&Path], secrets: &[&str]) -> String {
    let mut out = String::new();
    for path in paths {
        if let Ok(text) = std::fs::read_to_string(path) {
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(20);
            for line in &lines[start..] {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for secret in secrets {
        out = out.replace(secret, "***");
    }
    out
}

/// Polls `probe` every few milliseconds until it returns `Ok(Some(_))`.
///
/// `probe` returns `Ok(None)` (or a transient `Err`) while the condition is not met; the text of
/// the last observation is kept in `last` and reported in the timeout error.
pub(crate) fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut(&mut String) -> Result<Option<T>, EmbeddedError>,
) -> Result<T, EmbeddedError> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        match probe(&mut last) {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => last = e.to_string(),
        }
        if Instant::now() > deadline {
            let what = if last.is_empty() {
                what.to_string()
            } else {
                format!("{what} (last seen: {last})")
            };
            return Err(EmbeddedError::Timeout {
                what,
                after: timeout,
            });
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_credentials() {
        let auth = Auth {
            password: Some("p@ss word".into()),
            acl_user: None,
        };
        assert_eq!(auth.url(7000), "redis://:p%40ss%20word@127.0.0.1:7000");
        let auth = Auth {
            password: None,
            acl_user: Some(("app".into(), "s3cr:t".into())),
        };
        assert_eq!(auth.url(7000), "redis://app:s3cr%3At@127.0.0.1:7000");
        assert_eq!(Auth::default().url(1), "redis://127.0.0.1:1");
        assert!(!format!("{auth:?}").contains("s3cr"));
    }

    #[test]
    fn a_port_held_by_another_server_is_reported_as_taken() {
        let other = crate::testing::Standalone::start().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let auth = Auth::default();
        let spec = Spec {
            dir: dir.path(),
            kind: Kind::Plain,
            auth: &auth,
            debug_command: false,
            config: &[],
            raw_lines: Vec::new(),
        };
        let program = redis_server_path().unwrap();
        // The other server answers PING on that port, but it is not our process.
        match start_on(&program, &spec, PortLease::forced(other.port())) {
            Err(StartError::PortTaken(e)) => {
                assert!(e.to_string().contains("Address already in use"), "{e}")
            }
            Err(StartError::Fatal(e)) => panic!("not classified as port taken: {e}"),
            Ok(node) => panic!("took over port {} of another server", node.port()),
        }
        // And `start` simply moves to another port.
        let node = start(&spec).unwrap();
        assert_ne!(node.port(), other.port());
    }

    #[test]
    fn quoting_escapes() {
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }

    #[test]
    fn command_names_never_include_later_arguments() {
        assert_eq!(command_name(redis::cmd("AUTH").arg("secret")), "AUTH");
        assert_eq!(
            command_name(redis::cmd("CLUSTER").arg("SETSLOT").arg(1)),
            "CLUSTER SETSLOT"
        );
    }
}
