//! What `diff` and `migrate` show while they run (`--progress`, see `docs/cli.md`): a bar on a
//! terminal, plain text lines when stderr is not one, JSON lines for automation, or nothing.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use slotshift::migrate::{Progress, ProgressFn};

/// How progress is shown (`--progress`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// A bar when stderr is a terminal, else text lines.
    Auto,
    /// The bar (redrawn in place; hidden when stderr is not a terminal).
    Bar,
    /// One line of text a second.
    Text,
    /// One JSON object a line, a second apart.
    Json,
    /// Nothing.
    None,
}

/// One progress record, as the JSON and text lines print it.
#[derive(serde::Serialize)]
struct Line {
    stage: &'static str,
    keys: u64,
    /// `None` when the stage does not know its total (0 keys counted at the start).
    total: Option<u64>,
    keys_per_s: f64,
    /// Seconds left at this stage's rate; `None` while unknown.
    eta_s: Option<f64>,
    copied: u64,
    differences: u64,
    /// Seconds since the command started.
    elapsed_s: f64,
}

impl Line {
    fn new(p: &Progress, started: Instant) -> Line {
        let secs = p.elapsed.as_secs_f64().max(0.001);
        let rate = p.keys as f64 / secs;
        let total = (p.total > 0).then_some(p.total.max(p.keys));
        let eta = total
            .filter(|_| rate > 0.0)
            .map(|t| ((t - p.keys) as f64 / rate * 10.0).round() / 10.0);
        Line {
            stage: p.stage,
            keys: p.keys,
            total,
            keys_per_s: rate.round(),
            eta_s: eta,
            copied: p.copied,
            differences: p.differences,
            elapsed_s: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        }
    }

    fn text(&self) -> String {
        let total = self.total.map(|t| format!("/{t}")).unwrap_or_default();
        let eta = self
            .eta_s
            .map(|e| format!("  eta {e:.0} s"))
            .unwrap_or_default();
        format!(
            "slotshift: {} {}{} keys  {:.0} keys/s{}  differences {}  copied {}  elapsed {:.0} s",
            self.stage,
            self.keys,
            total,
            self.keys_per_s,
            eta,
            self.differences,
            self.copied,
            self.elapsed_s
        )
    }
}

/// The running display; [`Display::finish`] stops it.
pub struct Display {
    bar: Option<ProgressBar>,
    ticker: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Display {
    /// Starts showing progress in `mode`; the callback to hand the library.
    pub fn start(mode: Mode) -> Result<(Display, ProgressFn), Box<dyn std::error::Error>> {
        let mode = match mode {
            Mode::Auto if std::io::stderr().is_terminal() => Mode::Bar,
            Mode::Auto => Mode::Text,
            m => m,
        };
        match mode {
            Mode::Bar => {
                let bar = ProgressBar::new(0);
                bar.set_style(ProgressStyle::with_template(
                    "{prefix:>10} {bar:30} {pos}/{len} keys  {msg}  {elapsed}",
                )?);
                // Redrawn every second even while a stage stalls (the elapsed time moves).
                bar.enable_steady_tick(Duration::from_secs(1));
                let shown = bar.clone();
                let f: ProgressFn = Arc::new(move |p: &Progress| {
                    shown.set_prefix(p.stage);
                    shown.set_length(p.total.max(p.keys));
                    shown.set_position(p.keys);
                    let secs = p.elapsed.as_secs_f64().max(0.001);
                    shown.set_message(format!(
                        "{:.0} keys/s  differences {}  copied {}",
                        p.keys as f64 / secs,
                        p.differences,
                        p.copied
                    ));
                });
                Ok((
                    Display {
                        bar: Some(bar),
                        ticker: None,
                    },
                    f,
                ))
            }
            Mode::Text | Mode::Json => {
                let json = mode == Mode::Json;
                let started = Instant::now();
                let last: Arc<Mutex<Option<Progress>>> = Arc::default();
                let stop = Arc::new(AtomicBool::new(false));
                let (seen, stopped) = (last.clone(), stop.clone());
                // One line a second from the latest state, whether or not the stage moved (on
                // a schedule from the start: no drift), and the last state when it stops.
                let handle = std::thread::spawn(move || {
                    let emit = || {
                        let Some(p) = seen.lock().ok().and_then(|g| g.clone()) else {
                            return;
                        };
                        let line = Line::new(&p, started);
                        let text = if json {
                            serde_json::to_string(&line).unwrap_or_default()
                        } else {
                            line.text()
                        };
                        let _ = writeln!(std::io::stderr().lock(), "{text}");
                    };
                    for tick in 1u32.. {
                        let due = started + Duration::from_secs(tick.into());
                        loop {
                            if stopped.load(Ordering::Relaxed) {
                                emit();
                                return;
                            }
                            let now = Instant::now();
                            if now >= due {
                                break;
                            }
                            std::thread::sleep((due - now).min(Duration::from_millis(50)));
                        }
                        emit();
                    }
                });
                let f: ProgressFn = Arc::new(move |p: &Progress| {
                    if let Ok(mut g) = last.lock() {
                        *g = Some(p.clone());
                    }
                });
                Ok((
                    Display {
                        bar: None,
                        ticker: Some((stop, handle)),
                    },
                    f,
                ))
            }
            Mode::None | Mode::Auto => Ok((
                Display {
                    bar: None,
                    ticker: None,
                },
                Arc::new(|_: &Progress| {}),
            )),
        }
    }

    /// Stops the display (clears the bar; the ticker prints no more).
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
        if let Some((stop, handle)) = self.ticker {
            stop.store(true, Ordering::Relaxed);
            let _ = handle.join();
        }
    }
}
