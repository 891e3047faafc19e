//! A single standalone `redis-server`.

use std::fmt;
use std::path::Path;

use super::node::{self, Auth, Kind, Node, Spec};
use super::EmbeddedError;

/// A standalone `redis-server` on a free loopback port, in its own temporary directory.
///
/// Dropping it kills the server (SIGKILL), reaps it and deletes the directory.
///
/// ```no_run
/// use slotshift::testing::Standalone;
/// let server = Standalone::start()?;
/// let mut con = server.client().get_connection()?;
/// let pong: String = redis::cmd("PING").query(&mut con)?;
/// assert_eq!(pong, "PONG");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Standalone {
    // Field order matters: the node is dropped (killed) before its directory is removed.
    node: Node,
    dir: tempfile::TempDir,
}

/// Options for [`Standalone`]; see [`Standalone::builder`].
#[derive(Default)]
#[non_exhaustive]
pub struct StandaloneBuilder {
    auth: Auth,
    debug_command: bool,
    config: Vec<(String, String)>,
}

impl fmt::Debug for StandaloneBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StandaloneBuilder")
            .field("auth", &self.auth)
            .field("debug_command", &self.debug_command)
            .field("config", &self.config)
            .finish()
    }
}

impl StandaloneBuilder {
    /// `requirepass`: the default user needs this password.
    pub fn password(mut self, password: &str) -> Self {
        self.auth.password = Some(password.to_string());
        self
    }

    /// An ACL user with every permission; [`Standalone::url`] then carries this user.
    pub fn acl_user(mut self, user: &str, password: &str) -> Self {
        self.auth.acl_user = Some((user.to_string(), password.to_string()));
        self
    }

    /// `enable-debug-command yes` (DEBUG SLEEP, DEBUG SET-ACTIVE-EXPIRE … for fault tests).
    pub fn debug_command(mut self, enabled: bool) -> Self {
        self.debug_command = enabled;
        self
    }

    /// Any other `redis.conf` directive, e.g. `.config("maxmemory", "10mb")`.
    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.config.push((key.to_string(), value.to_string()));
        self
    }

    /// Starts the server and waits until it answers PING.
    pub fn start(self) -> Result<Standalone, EmbeddedError> {
        let dir = temp_dir("standalone")?;
        let node = node::start(&Spec {
            dir: dir.path(),
            kind: Kind::Plain,
            auth: &self.auth,
            debug_command: self.debug_command,
            config: &self.config,
            raw_lines: Vec::new(),
        })?;
        Ok(Standalone { node, dir })
    }
}

/// Name of the file recording which process owns a topology directory.
const OWNER_FILE: &str = "owner.pid";

/// A fresh temporary directory for one topology.
///
/// A process killed with SIGKILL cannot delete its directories (its servers die with it, see
/// the `spawn` module); each directory therefore records its owner's pid, and directories whose
/// owner is gone are removed here, the next time any topology starts.
pub(crate) fn temp_dir(kind: &str) -> Result<tempfile::TempDir, EmbeddedError> {
    remove_orphaned_dirs();
    let dir = tempfile::Builder::new()
        .prefix(&format!("slotshift-{kind}-"))
        .tempdir()
        .map_err(|e| EmbeddedError::io("creating a temporary directory", e))?;
    let owner = dir.path().join(OWNER_FILE);
    std::fs::write(&owner, std::process::id().to_string())
        .map_err(|e| EmbeddedError::io(format!("writing {}", owner.display()), e))?;
    Ok(dir)
}

/// Best effort: removes `slotshift-*` directories whose recorded owner process no longer exists.
fn remove_orphaned_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with("slotshift-") {
            continue;
        }
        let path = entry.path();
        let Ok(text) = std::fs::read_to_string(path.join(OWNER_FILE)) else {
            continue; // not ours, or still being set up
        };
        let Ok(pid) = text.trim().parse::<i32>() else {
            continue;
        };
        let gone = matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(nix::errno::Errno::ESRCH)
        );
        if gone {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

impl Standalone {
    /// Starts a server with default options (no password, DEBUG disabled).
    pub fn start() -> Result<Standalone, EmbeddedError> {
        Self::builder().start()
    }

    /// Options: password, ACL user, DEBUG command, extra config.
    pub fn builder() -> StandaloneBuilder {
        StandaloneBuilder::default()
    }

    /// The server as a [`Node`].
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// `redis://[user:pass@]127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.node.url()
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.node.port()
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.node.addr()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.node.pid()
    }

    /// A `redis` crate client with the credentials of [`url`](Self::url).
    pub fn client(&self) -> redis::Client {
        self.node.client()
    }

    /// SIGKILL the server and wait until it is gone.
    pub fn kill(&self) -> Result<(), EmbeddedError> {
        self.node.kill()
    }

    /// SIGSTOP the server.
    pub fn pause(&self) -> Result<(), EmbeddedError> {
        self.node.pause()
    }

    /// SIGCONT the server.
    pub fn resume(&self) -> Result<(), EmbeddedError> {
        self.node.resume()
    }

    /// The temporary directory holding config, log and data files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
