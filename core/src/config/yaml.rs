//! Reading GitLab-shaped YAML files: parsing, environment sections, typed getters, and errors
//! that name the file, the key path and its line. Never prints a value read from the file.

use std::path::Path;
use std::time::Duration;

use serde_yaml_ng::{Mapping, Value};

use super::parse::parse_port;
use super::ConfigError;

/// `config/redis.yml (production.cache)`.
pub(super) fn origin(path: &Path, key: &str) -> String {
    if key.is_empty() {
        path.display().to_string()
    } else {
        format!("{} ({key})", path.display())
    }
}

pub(super) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn shown_key(key: &str) -> String {
    if key.is_empty() {
        "(top level)".to_string()
    } else {
        key.to_string()
    }
}

pub(super) fn bad(path: &Path, key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::YamlValue {
        path: path.to_path_buf(),
        key: shown_key(key),
        line: None,
        problem: problem.into(),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a map",
        Value::Tagged(_) => "a tagged value",
    }
}

pub(super) fn wrong_type(path: &Path, key: &str, expected: &str, value: &Value) -> ConfigError {
    bad(
        path,
        key,
        format!("expected {expected}, found {}", type_name(value)),
    )
}

/// Reads and parses a YAML file (merge keys applied).
pub(super) fn read_yaml(path: &Path) -> Result<(String, Value), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut value: Value = serde_yaml_ng::from_str(&text).map_err(|e| yaml_error(path, &e))?;
    value.apply_merge().map_err(|e| yaml_error(path, &e))?;
    Ok((text, value))
}

/// The `env` section of a document (or the whole document), with its key prefix.
pub(super) fn section(
    value: Value,
    path: &Path,
    env: Option<&str>,
) -> Result<Option<(Value, String)>, ConfigError> {
    match env {
        None => Ok((!value.is_null()).then(|| (value, String::new()))),
        Some(env) => {
            if value.is_null() {
                return Ok(None);
            }
            let map = as_map(&value, path, "")?;
            match map.get(env) {
                None | Some(Value::Null) => {
                    log::debug!("no `{env}` section in {}", path.display());
                    Ok(None)
                }
                Some(section) => Ok(Some((section.clone(), env.to_string()))),
            }
        }
    }
}

/// Adds the line of the offending key to a [`ConfigError::YamlValue`] or
/// [`ConfigError::YamlUrl`], found by following the key path through the file's block
/// structure. A key in flow style (`{host: h, port: 1}`) gets the line it is on.
pub(super) fn with_line(err: ConfigError, text: &str) -> ConfigError {
    match err {
        ConfigError::YamlValue {
            path,
            key,
            line: None,
            problem,
        } => ConfigError::YamlValue {
            line: locate(text, &key),
            path,
            key,
            problem,
        },
        ConfigError::YamlUrl {
            path,
            key,
            line: None,
            source,
        } => ConfigError::YamlUrl {
            line: locate(text, &key),
            path,
            key,
            source,
        },
        other => other,
    }
}

/// The 1-based line of key path `a.b[2].c` in `text`, following indentation; `None` when the
/// path is the top level or cannot be followed.
pub(super) fn locate(text: &str, key: &str) -> Option<usize> {
    if key == "(top level)" || key.is_empty() {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    let indent_of = |line: &str| line.len() - line.trim_start().len();
    // The line and indentation of the key found last (the parent of the next segment).
    let mut parent: Option<(usize, usize)> = None;
    for segment in key.split('.') {
        let (name, index) = match segment.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (segment, None),
        };
        let start = parent.map_or(0, |(line, _)| line);
        let mut hit = None;
        for (n, line) in lines.iter().enumerate().skip(start) {
            let body = line.trim_start();
            if body.is_empty() || body.starts_with('#') {
                continue;
            }
            let indent = indent_of(line);
            if let Some((parent_line, parent_indent)) = parent {
                let item = body.starts_with('-');
                // Left the parent's block: a line less indented, or a sibling key.
                if n != parent_line
                    && (indent < parent_indent || (indent == parent_indent && !item))
                {
                    break;
                }
            }
            let entry = body.trim_start_matches('-').trim_start();
            let plain = entry
                .strip_prefix(name)
                .is_some_and(|rest| rest.trim_start().starts_with(':'));
            let flow = [
                format!("{{{name}:"),
                format!("{{ {name}:"),
                format!(", {name}:"),
            ]
            .iter()
            .any(|f| body.contains(f.as_str()));
            if (plain && parent.is_none_or(|(p, _)| n != p)) || flow {
                hit = Some((n, indent));
                break;
            }
        }
        let (mut n, indent) = hit?;
        // A list index: the index-th `- ` line of the block below the key (block style only).
        if let Some(i) = index {
            let item = lines
                .iter()
                .enumerate()
                .skip(n + 1)
                .take_while(|(_, l)| {
                    let body = l.trim_start();
                    body.is_empty()
                        || indent_of(l) > indent
                        || (indent_of(l) == indent && body.starts_with('-'))
                })
                .filter(|(_, l)| l.trim_start().starts_with('-'))
                .nth(i);
            if let Some((k, _)) = item {
                n = k;
            }
        }
        parent = Some((n, indent_of(lines[n])));
    }
    parent.map(|(n, _)| n + 1)
}

fn yaml_error(path: &Path, e: &serde_yaml_ng::Error) -> ConfigError {
    let location = e.location();
    ConfigError::Yaml {
        path: path.to_path_buf(),
        line: location.as_ref().map(|l| l.line()),
        column: location.as_ref().map(|l| l.column()),
        message: e.to_string(),
    }
}

pub(super) fn as_map<'v>(
    value: &'v Value,
    path: &Path,
    key: &str,
) -> Result<&'v Mapping, ConfigError> {
    value
        .as_mapping()
        .ok_or_else(|| wrong_type(path, key, "a map", value))
}

pub(super) fn key_name(key: &Value, path: &Path, prefix: &str) -> Result<String, ConfigError> {
    key.as_str().map(str::to_string).ok_or_else(|| {
        bad(
            path,
            prefix,
            format!("keys must be strings, found {}", type_name(key)),
        )
    })
}

pub(super) fn string(value: &Value, path: &Path, key: &str) -> Result<String, ConfigError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(wrong_type(path, key, "a string", other)),
    }
}

pub(super) fn port(value: &Value, path: &Path, key: &str) -> Result<u16, ConfigError> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => return Err(wrong_type(path, key, "a port number", other)),
    };
    parse_port(&text).ok_or_else(|| {
        bad(
            path,
            key,
            format!("invalid port `{text}`: expected a number from 1 to 65535"),
        )
    })
}

pub(super) fn seconds(value: &Value, path: &Path, key: &str) -> Result<Duration, ConfigError> {
    let secs = match value {
        Value::Number(n) => n.as_f64(),
        _ => None,
    };
    match secs {
        Some(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(Duration::from_secs_f64(s)),
        _ => Err(bad(
            path,
            key,
            format!(
                "expected a positive number of seconds, found {}",
                type_name(value)
            ),
        )),
    }
}

pub(super) fn url_error(path: &Path, key: &str, source: ConfigError) -> ConfigError {
    ConfigError::YamlUrl {
        path: path.to_path_buf(),
        key: shown_key(key),
        line: None,
        source: Box::new(source),
    }
}

#[cfg(test)]
mod tests {
    use super::locate;

    const TEXT: &str = "\
production:
  cache:
    url: redis://c
  shared_state:
    cluster:
      - host: a
        port: 1
      - host: b
        port: 2
    password: x
  queues: {url: redis://q, db: 2}
development:
  cache:
    url: redis://dev
";

    #[test]
    fn locate_follows_the_key_path() {
        assert_eq!(locate(TEXT, "production.cache.url"), Some(3));
        assert_eq!(locate(TEXT, "development.cache.url"), Some(14));
        assert_eq!(
            locate(TEXT, "production.shared_state.cluster[1].port"),
            Some(9)
        );
        assert_eq!(locate(TEXT, "production.shared_state.cluster[0]"), Some(6));
        assert_eq!(locate(TEXT, "production.shared_state.password"), Some(10));
        assert_eq!(locate(TEXT, "production.queues.db"), Some(11));
        assert_eq!(locate(TEXT, "production.nothing"), None);
        assert_eq!(locate(TEXT, "(top level)"), None);
    }
}
