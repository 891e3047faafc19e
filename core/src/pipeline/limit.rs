//! The batch limit: an option, else `SLOTSHIFT_CLUSTER_PIPELINE_BATCH_LIMIT`, else GitLab's
//! `GITLAB_REDIS_CLUSTER_PIPELINE_BATCH_LIMIT`, else [`DEFAULT_BATCH_LIMIT`].

use super::PipelineError;

/// Commands per batch when nothing else is set (GitLab's value).
pub const DEFAULT_BATCH_LIMIT: usize = 1000;

/// The largest batch limit accepted: above it a pipeline no longer bounds anything a server
/// cares about (output buffers, the time other clients wait), so the value is taken for a typo.
pub const MAX_BATCH_LIMIT: usize = 1_000_000;

/// slotshift's own variable.
pub const ENV_BATCH_LIMIT: &str = "SLOTSHIFT_CLUSTER_PIPELINE_BATCH_LIMIT";

/// GitLab's variable, read when slotshift's is not set, so a GitLab deployment can swap
/// slotshift in. Unlike GitLab, a value below 1000 really lowers the batch.
pub const GITLAB_ENV_BATCH_LIMIT: &str = "GITLAB_REDIS_CLUSTER_PIPELINE_BATCH_LIMIT";

/// The batch limit from `option`, else the environment, else 1000.
///
/// ```
/// use slotshift::pipeline::resolve_batch_limit_with;
/// let env = |name: &str| (name == "GITLAB_REDIS_CLUSTER_PIPELINE_BATCH_LIMIT").then(|| "7".to_string());
/// assert_eq!(resolve_batch_limit_with(None, env).unwrap(), 7);
/// assert_eq!(resolve_batch_limit_with(Some(3), env).unwrap(), 3);
/// let bad = |_: &str| Some("0".to_string());
/// let err = resolve_batch_limit_with(None, bad).unwrap_err();
/// assert!(err.to_string().contains("SLOTSHIFT_CLUSTER_PIPELINE_BATCH_LIMIT"));
/// ```
pub fn resolve_batch_limit(option: Option<usize>) -> Result<usize, PipelineError> {
    resolve_batch_limit_with(option, |name| std::env::var(name).ok())
}

/// [`resolve_batch_limit`] with the environment given as a function (for tests and for
/// callers that read their settings elsewhere).
pub fn resolve_batch_limit_with(
    option: Option<usize>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<usize, PipelineError> {
    if let Some(limit) = option {
        return check(limit as i128, "batch_limit option", &limit.to_string());
    }
    for name in [ENV_BATCH_LIMIT, GITLAB_ENV_BATCH_LIMIT] {
        if let Some(value) = env(name) {
            return parse(name, &value);
        }
    }
    Ok(DEFAULT_BATCH_LIMIT)
}

fn parse(name: &'static str, value: &str) -> Result<usize, PipelineError> {
    let trimmed = value.trim();
    let digits = trimmed.strip_prefix(['+', '-']).unwrap_or(trimmed);
    let n: i128 = match trimmed.parse() {
        Ok(n) => n,
        // All digits but too long for any integer type: absurd, not malformed.
        Err(_) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            if trimmed.starts_with('-') {
                -1
            } else {
                i128::MAX
            }
        }
        Err(_) => {
            return Err(PipelineError::InvalidBatchLimit {
                source_name: name.to_string(),
                value: shorten(value),
                reason: "is not an integer",
            })
        }
    };
    check(n, name, value)
}

fn check(n: i128, name: &str, value: &str) -> Result<usize, PipelineError> {
    let reason = if n <= 0 {
        "must be at least 1"
    } else if n > MAX_BATCH_LIMIT as i128 {
        "is larger than 1,000,000"
    } else {
        return Ok(n as usize);
    };
    Err(PipelineError::InvalidBatchLimit {
        source_name: name.to_string(),
        value: shorten(value),
        reason,
    })
}

fn shorten(value: &str) -> String {
    let mut s: String = value.chars().take(32).collect();
    if value.chars().count() > 32 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn precedence() {
        assert_eq!(resolve_batch_limit_with(None, env(&[])).ok(), Some(1000));
        let both = [(ENV_BATCH_LIMIT, "5"), (GITLAB_ENV_BATCH_LIMIT, "9")];
        assert_eq!(resolve_batch_limit_with(None, env(&both)).ok(), Some(5));
        let gitlab = [(GITLAB_ENV_BATCH_LIMIT, "9")];
        assert_eq!(resolve_batch_limit_with(None, env(&gitlab)).ok(), Some(9));
        assert_eq!(resolve_batch_limit_with(Some(2), env(&both)).ok(), Some(2));
        // Unlike GitLab, a small value is honoured.
        let one = [(GITLAB_ENV_BATCH_LIMIT, " 1 ")];
        assert_eq!(resolve_batch_limit_with(None, env(&one)).ok(), Some(1));
    }

    #[test]
    fn bad_values_name_the_variable_and_value() {
        for (value, reason) in [
            ("0", "at least 1"),
            ("-3", "at least 1"),
            ("ten", "not an integer"),
            ("", "not an integer"),
            ("1.5", "not an integer"),
            ("99999999999", "larger than"),
            ("999999999999999999999999999999999999999999", "larger than"),
        ] {
            let e = resolve_batch_limit_with(None, env(&[(GITLAB_ENV_BATCH_LIMIT, value)]))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(GITLAB_ENV_BATCH_LIMIT), "{e}");
            assert!(e.contains(reason), "{value}: {e}");
            // The value is quoted (long ones shortened).
            assert!(
                e.contains(&format!("'{}", &value[..value.len().min(20)])),
                "{e}"
            );
        }
        let e = resolve_batch_limit_with(Some(0), env(&[]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("batch_limit option") && e.contains("'0'"), "{e}");
    }
}
