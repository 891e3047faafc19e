//! The exit codes of every subcommand: one table, after diff(1)'s (`docs/cli.md`).
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done, nothing found |
//! | 1 | done, something found: differences (`diff`, `migrate`'s final diff), cross-slot commands (`validate`), error replies or unreadable input (`pipe`) |
//! | 2 | usage: a bad flag or value, a missing argument, an invalid URL or config file |
//! | 3 | the run failed: a server that cannot be reached or refused, an I/O error |
//! | 130 | interrupted (Ctrl-C); the checkpoint, if any, is saved |

use std::error::Error;
use std::fmt;

/// Done, nothing found.
pub const CLEAN: i32 = 0;
/// Done, something found.
pub const FOUND: i32 = 1;
/// A usage error (clap's own code for bad flags, too).
pub const USAGE: i32 = 2;
/// The run failed.
pub const FAILED: i32 = 3;
/// Interrupted by Ctrl-C.
pub const INTERRUPTED: i32 = 130;

/// How a subcommand that ran to its end came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing found.
    Clean,
    /// Differences, findings or error replies.
    Found,
}

impl Outcome {
    /// `Found` when `found`, else `Clean`.
    pub fn found_if(found: bool) -> Outcome {
        if found {
            Outcome::Found
        } else {
            Outcome::Clean
        }
    }
}

/// A usage error found by a subcommand itself (clap finds the rest).
#[derive(Debug)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for Usage {}

/// A core error with the side it came from (`source: …`, `destination: …`).
#[derive(Debug)]
pub struct Labelled {
    /// Which endpoint or input.
    pub label: &'static str,
    /// What went wrong there.
    pub error: slotshift::Error,
}

impl fmt::Display for Labelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.label, self.error)
    }
}

impl Error for Labelled {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.error)
    }
}

/// The exit code of a run's result.
pub fn code(result: &Result<Outcome, Box<dyn Error>>) -> i32 {
    match result {
        Ok(Outcome::Clean) => CLEAN,
        Ok(Outcome::Found) => FOUND,
        Err(e) if is_usage(e.as_ref()) => USAGE,
        Err(_) => FAILED,
    }
}

/// Whether `e` is about what the user gave: our own [`Usage`], an invalid option the core
/// refused before doing anything, or an invalid URL or config file.
fn is_usage(e: &(dyn Error + 'static)) -> bool {
    use slotshift::analyzer::AnalyzerError;
    use slotshift::migrate::MigrateError;
    let mut next = Some(e);
    while let Some(e) = next {
        let usage = e.is::<Usage>()
            || matches!(
                e.downcast_ref::<slotshift::Error>(),
                Some(
                    slotshift::Error::Config(_)
                        | slotshift::Error::Analyzer(AnalyzerError::InvalidOption { .. })
                        | slotshift::Error::Migrate(MigrateError::InvalidOption { .. })
                )
            );
        if usage {
            return true;
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_table() {
        assert_eq!(code(&Ok(Outcome::Clean)), 0);
        assert_eq!(code(&Ok(Outcome::Found)), 1);
        assert_eq!(code(&Err(Box::new(Usage("--x".into())))), 2);
        let bad_url = slotshift::config::Deployment::parse("http://nope").unwrap_err();
        assert_eq!(code(&Err(Box::new(slotshift::Error::from(bad_url)))), 2);
        let labelled = Labelled {
            label: "source",
            error: slotshift::config::Deployment::parse("http://nope")
                .unwrap_err()
                .into(),
        };
        assert_eq!(code(&Err(Box::new(labelled))), 2);
        let io: Box<dyn Error> = Box::new(std::io::Error::other("disk full"));
        assert_eq!(code(&Err(io)), 3);
    }
}
