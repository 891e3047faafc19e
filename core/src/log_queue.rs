//! The core's log records (`log` crate: MultiStore non-default failures, the same-server
//! guard, validator count mode, migrate's skipped keys …), queued for a binding that hands
//! them to its language's logging — Ruby's `Logger`, Python's `logging` — on a thread of its
//! own, where calling into that language is allowed.
//!
//! [`install`] makes the queue the process's `log` logger (once; later calls change only the
//! level). The binding's thread waits on [`next_record_async`]. The queue holds
//! [`CAPACITY`] records; what comes while it is full is dropped and counted ([`dropped`]), so a
//! logger nobody reads costs bounded memory and never blocks a command.
//!
//! ```
//! use slotshift::log_queue::{self, Level};
//! log_queue::install(Level::Warn).unwrap();
//! log::warn!("something to see");
//! let record = slotshift::store::block_on(log_queue::next_record_async(None)).unwrap().unwrap();
//! assert_eq!((record.level, record.message.as_str()), (Level::Warn, "something to see"));
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::mpsc;

/// How many records wait at most.
pub const CAPACITY: usize = 1024;

/// A record's severity (the `log` crate's levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Something failed.
    Error,
    /// Something an operator should see (a config key ignored, a dual write that failed).
    Warn,
    /// What the core did.
    Info,
    /// Details for debugging.
    Debug,
    /// Everything.
    Trace,
}

impl Level {
    /// "error", "warn", "info", "debug" or "trace".
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }

    fn filter(self) -> log::LevelFilter {
        match self {
            Level::Error => log::LevelFilter::Error,
            Level::Warn => log::LevelFilter::Warn,
            Level::Info => log::LevelFilter::Info,
            Level::Debug => log::LevelFilter::Debug,
            Level::Trace => log::LevelFilter::Trace,
        }
    }

    fn of(level: log::Level) -> Level {
        match level {
            log::Level::Error => Level::Error,
            log::Level::Warn => Level::Warn,
            log::Level::Info => Level::Info,
            log::Level::Debug => Level::Debug,
            log::Level::Trace => Level::Trace,
        }
    }
}

impl std::str::FromStr for Level {
    type Err = String;

    /// Parses a level's name (any case).
    fn from_str(s: &str) -> Result<Level, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "error" => Level::Error,
            "warn" | "warning" => Level::Warn,
            "info" => Level::Info,
            "debug" => Level::Debug,
            "trace" => Level::Trace,
            other => {
                return Err(format!(
                    "unknown log level {other:?} (error, warn, info, debug, trace)"
                ))
            }
        })
    }
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its severity.
    pub level: Level,
    /// Where in the core it comes from (`slotshift::multistore` …).
    pub target: String,
    /// The message (never a password: the core's messages name nodes, not credentials).
    pub message: String,
}

struct Queue {
    tx: mpsc::Sender<Record>,
    rx: tokio::sync::Mutex<mpsc::Receiver<Record>>,
    dropped: AtomicU64,
}

static QUEUE: OnceLock<Queue> = OnceLock::new();

fn queue() -> &'static Queue {
    QUEUE.get_or_init(|| {
        let (tx, rx) = mpsc::channel(CAPACITY);
        Queue {
            tx,
            rx: tokio::sync::Mutex::new(rx),
            dropped: AtomicU64::new(0),
        }
    })
}

struct QueueLogger;

static LOGGER: QueueLogger = QueueLogger;

impl log::Log for QueueLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let record = Record {
            level: Level::of(record.level()),
            target: record.target().to_owned(),
            message: record.args().to_string(),
        };
        let queue = queue();
        if queue.tx.try_send(record).is_err() {
            queue.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn flush(&self) {}
}

/// Makes the queue the process's `log` logger, passing records of `level` and more severe;
/// called again, it changes the level only. An error when the process installed another
/// logger first (that choice stands).
pub fn install(level: Level) -> Result<(), String> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            queue();
            log::set_logger(&LOGGER)
                .map_err(|_| "another logger is installed in this process".to_owned())
        })
        .clone()?;
    log::set_max_level(level.filter());
    Ok(())
}

/// Stops passing records (the queue stays installed; [`install`] turns it on again).
pub fn silence() {
    log::set_max_level(log::LevelFilter::Off);
}

/// The next record, waiting at most `timeout` (`None`: until one comes); `None` when none came
/// in time. Cancel-safe.
pub async fn next_record_async(timeout: Option<Duration>) -> Option<Record> {
    let mut rx = queue().rx.lock().await;
    match timeout {
        Some(limit) => tokio::time::timeout(limit, rx.recv()).await.ok().flatten(),
        None => rx.recv().await,
    }
}

/// How many records were dropped because the queue was full.
pub fn dropped() -> u64 {
    queue().dropped.load(Ordering::Relaxed)
}
