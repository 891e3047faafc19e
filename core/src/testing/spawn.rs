//! Spawning `redis-server` processes so that none outlives its owner.
//!
//! Three layers make sure no server is left behind:
//!
//! 1. [`ServerProcess`] kills its child with SIGKILL and reaps it (`waitpid`) on `Drop`, so a
//!    topology dropped normally or during a panic's unwinding leaves neither a server nor a zombie.
//! 2. On Linux every child is started with `prctl(PR_SET_PDEATHSIG, SIGKILL)`, so the kernel
//!    kills it if our process dies without unwinding (abort, SIGKILL, `process::exit`).
//! 3. PDEATHSIG is tied to the *thread* that forked, not to the process: the signal is sent when
//!    that thread exits. `cargo test` runs every test on its own short-lived thread, so a child
//!    forked directly by a test would be killed as soon as that test's thread ended — even when
//!    the topology was meant to be shared. All children are therefore forked by one dedicated
//!    spawner thread that is started once and never exits (it blocks on its request channel for
//!    the life of the process); callers send it a `Command` and get the `Child` back. The
//!    thread ends only when the process ends, which is exactly when PDEATHSIG should fire.
//!
//! A child whose parent died between `fork` and `prctl` would miss the signal; `pre_exec` checks
//! `getppid()` after `prctl` and refuses to exec in that case.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::EmbeddedError;

/// Environment variable naming the `redis-server` binary to use instead of the one on `PATH`.
pub const REDIS_SERVER_ENV: &str = "SLOTSHIFT_REDIS_SERVER";

/// The `redis-server` binary: `$SLOTSHIFT_REDIS_SERVER`, else the first `redis-server` on `PATH`.
pub fn redis_server_path() -> Result<PathBuf, EmbeddedError> {
    if let Some(explicit) = std::env::var_os(REDIS_SERVER_ENV) {
        let path = PathBuf::from(explicit);
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(EmbeddedError::NotInstalled)
        };
    }
    let paths = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin"));
    std::env::split_paths(&paths)
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| is_executable(candidate))
        .ok_or(EmbeddedError::NotInstalled)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

struct SpawnRequest {
    command: Command,
    reply: mpsc::Sender<std::io::Result<Child>>,
}

/// The channel to the spawner thread, started on first use.
fn spawner() -> Result<mpsc::Sender<SpawnRequest>, EmbeddedError> {
    static SPAWNER: OnceLock<Mutex<Option<mpsc::Sender<SpawnRequest>>>> = OnceLock::new();
    let cell = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        let started = std::thread::Builder::new()
            .name("slotshift-spawner".into())
            .spawn(move || {
                // Lives until the process exits: the static sender is never dropped, so `recv`
                // never returns an error.
                while let Ok(mut request) = rx.recv() {
                    let result = request.command.spawn();
                    if let Err(Ok(mut orphan)) = request.reply.send(result).map_err(|e| e.0) {
                        // The requester is gone; do not leave its server running.
                        let _ = orphan.kill();
                        let _ = orphan.wait();
                    }
                }
            });
        Mutex::new(started.ok().map(|_| tx))
    });
    let guard = cell.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    guard.clone().ok_or_else(|| {
        EmbeddedError::io(
            "starting the slotshift-spawner thread",
            std::io::Error::other("thread could not be created"),
        )
    })
}

/// Spawns `command` on the spawner thread with the parent-death signal set (Linux).
fn spawn(mut command: Command) -> Result<Child, EmbeddedError> {
    let program = command.get_program().to_string_lossy().into_owned();
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let parent = nix::unistd::getpid();
        // SAFETY: the closure runs between fork and exec in the child; it only makes two
        // async-signal-safe system calls (prctl, getppid) and builds io::Errors from raw
        // error numbers, which does not allocate.
        unsafe {
            command.pre_exec(move || {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
                if nix::unistd::getppid() != parent {
                    return Err(std::io::Error::from_raw_os_error(nix::libc::ESRCH));
                }
                Ok(())
            });
        }
    }
    let (reply, answer) = mpsc::channel();
    spawner()?
        .send(SpawnRequest { command, reply })
        .map_err(|_| {
            EmbeddedError::io(
                "sending to the spawner thread",
                std::io::Error::other("spawner thread is gone"),
            )
        })?;
    let result = answer.recv().map_err(|_| {
        EmbeddedError::io(
            "waiting for the spawner thread",
            std::io::Error::other("spawner thread is gone"),
        )
    })?;
    result.map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            EmbeddedError::NotInstalled
        } else {
            EmbeddedError::Spawn { program, source }
        }
    })
}

const RUNNING: u8 = 0;
const PAUSED: u8 = 1;
const DEAD: u8 = 2;

/// One child process, killed and reaped when dropped.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    pid: AtomicU32,
    child: Mutex<Option<Child>>,
    state: AtomicU8,
}

impl ServerProcess {
    /// Starts `command` (see the module docs for how children are tied to this process).
    pub(crate) fn start(command: Command) -> Result<Self, EmbeddedError> {
        let child = spawn(command)?;
        Ok(ServerProcess {
            pid: AtomicU32::new(child.id()),
            child: Mutex::new(Some(child)),
            state: AtomicU8::new(RUNNING),
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid.load(Ordering::SeqCst)
    }

    /// Starts `command` in place of a process that was killed or has exited.
    pub(crate) fn respawn(&self, command: Command) -> Result<(), EmbeddedError> {
        let mut guard = self.lock();
        if let Some(child) = guard.as_mut() {
            match child.try_wait() {
                Ok(Some(_)) => {}
                _ => {
                    return Err(EmbeddedError::Invalid(format!(
                        "cannot restart pid {}: it is still running",
                        self.pid()
                    )))
                }
            }
        }
        let child = spawn(command)?;
        self.pid.store(child.id(), Ordering::SeqCst);
        *guard = Some(child);
        self.state.store(RUNNING, Ordering::SeqCst);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.child
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn signal(&self, signal: Signal) -> Result<(), EmbeddedError> {
        let pid = i32::try_from(self.pid()).map_err(|_| {
            EmbeddedError::Invalid(format!("pid {} does not fit a pid_t", self.pid()))
        })?;
        kill(Pid::from_raw(pid), signal).map_err(|e| {
            EmbeddedError::io(format!("sending {signal} to pid {}", self.pid()), e.into())
        })
    }

    /// Whether the process has not been killed and has not exited by itself.
    pub(crate) fn is_alive(&self) -> bool {
        if self.state.load(Ordering::SeqCst) == DEAD {
            return false;
        }
        self.exit_status().is_none()
    }

    /// Whether the process is stopped by [`pause`](Self::pause).
    pub(crate) fn is_paused(&self) -> bool {
        self.state.load(Ordering::SeqCst) == PAUSED
    }

    /// The exit status if the process has exited (reaping it), else `None`.
    pub(crate) fn exit_status(&self) -> Option<ExitStatus> {
        let mut guard = self.lock();
        let child = guard.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => {
                self.state.store(DEAD, Ordering::SeqCst);
                Some(status)
            }
            _ => None,
        }
    }

    /// SIGKILL, then wait for the process to be gone. Idempotent.
    pub(crate) fn kill(&self) -> Result<(), EmbeddedError> {
        let mut guard = self.lock();
        if let Some(mut child) = guard.take() {
            self.state.store(DEAD, Ordering::SeqCst);
            // `Child::kill` ignores processes that were already reaped; a stopped process dies
            // from SIGKILL too.
            let _ = child.kill();
            child.wait().map_err(|e| {
                EmbeddedError::io(format!("waiting for pid {} to exit", self.pid()), e)
            })?;
        }
        Ok(())
    }

    /// Sends SIGKILL without waiting; [`kill`](Self::kill) (or drop) reaps it afterwards.
    pub(crate) fn start_kill(&self) {
        let mut guard = self.lock();
        if let Some(child) = guard.as_mut() {
            let _ = child.kill();
        }
    }

    /// SIGSTOP: the process stays alive but does nothing (accepted connections hang).
    pub(crate) fn pause(&self) -> Result<(), EmbeddedError> {
        self.check_alive("pause")?;
        self.signal(Signal::SIGSTOP)?;
        self.state.store(PAUSED, Ordering::SeqCst);
        Ok(())
    }

    /// SIGCONT: undoes [`pause`](Self::pause).
    pub(crate) fn resume(&self) -> Result<(), EmbeddedError> {
        self.check_alive("resume")?;
        self.signal(Signal::SIGCONT)?;
        self.state.store(RUNNING, Ordering::SeqCst);
        Ok(())
    }

    fn check_alive(&self, action: &str) -> Result<(), EmbeddedError> {
        if self.state.load(Ordering::SeqCst) == DEAD || self.lock().is_none() {
            return Err(EmbeddedError::Invalid(format!(
                "cannot {action} pid {}: the process was killed",
                self.pid()
            )));
        }
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}
