//! Replies: what a server answered, as a stable type the C, Ruby and Python bindings can map.
//!
//! [`Reply`] is converted from the `redis` crate's value by move, so no bytes are copied on the
//! way. An error reply is a value like any other ([`Reply::Error`]): inside a pipeline one
//! command can fail while the others succeed.
//!
//! ```
//! use slotshift::reply::{Reply, ServerError};
//! let e = ServerError::parse("WRONGTYPE Operation against a key holding the wrong kind of value");
//! assert_eq!(e.code(), "WRONGTYPE");
//! assert_eq!(Reply::Error(e.clone()).into_result().unwrap_err().code(), "WRONGTYPE");
//! assert_eq!(Reply::Bulk(b"v".to_vec()).as_bytes(), Some(&b"v"[..]));
//! ```

use std::fmt;

/// One reply from a server (RESP2 or RESP3).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Reply {
    /// The null reply (a missing key, a nil bulk string or array).
    Nil,
    /// An integer.
    Int(i64),
    /// A bulk string: binary-safe bytes.
    Bulk(Vec<u8>),
    /// A simple string such as `OK` or `PONG`.
    Status(String),
    /// An array of replies.
    Array(Vec<Reply>),
    /// A RESP3 map, in the order the server sent it.
    Map(Vec<(Reply, Reply)>),
    /// A RESP3 set.
    Set(Vec<Reply>),
    /// A RESP3 double.
    Double(f64),
    /// A RESP3 boolean.
    Bool(bool),
    /// A RESP3 verbatim string with its format (`txt`, `mkd`).
    Verbatim {
        /// The three-letter format.
        format: String,
        /// The text.
        text: String,
    },
    /// A RESP3 big number, as its decimal digits.
    BigNumber(Vec<u8>),
    /// An error reply.
    Error(ServerError),
}

impl Reply {
    /// The bytes of a bulk string, simple string or verbatim string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(b) => Some(b),
            Reply::Status(s) => Some(s.as_bytes()),
            Reply::Verbatim { text, .. } => Some(text.as_bytes()),
            _ => None,
        }
    }

    /// The integer of an integer reply (or of a bulk string holding a decimal integer).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(i) => Some(*i),
            Reply::Bulk(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }

    /// Whether this is the nil reply.
    pub fn is_nil(&self) -> bool {
        matches!(self, Reply::Nil)
    }

    /// `Err` for an error reply, `Ok(self)` for anything else.
    pub fn into_result(self) -> Result<Reply, ServerError> {
        match self {
            Reply::Error(e) => Err(e),
            other => Ok(other),
        }
    }

    /// Converts the `redis` crate's value, moving its buffers.
    pub(crate) fn from_value(value: redis::Value) -> Reply {
        use redis::Value as V;
        match value {
            V::Nil => Reply::Nil,
            V::Int(i) => Reply::Int(i),
            V::BulkString(b) => Reply::Bulk(b),
            V::Array(items) | V::Push { data: items, .. } => Reply::Array(convert_all(items)),
            V::SimpleString(s) => Reply::Status(s),
            V::Okay => Reply::Status("OK".to_owned()),
            V::Map(pairs) => Reply::Map(
                pairs
                    .into_iter()
                    .map(|(k, v)| (Reply::from_value(k), Reply::from_value(v)))
                    .collect(),
            ),
            V::Attribute { data, .. } => Reply::from_value(*data),
            V::Set(items) => Reply::Set(convert_all(items)),
            V::Double(d) => Reply::Double(d),
            V::Boolean(b) => Reply::Bool(b),
            V::VerbatimString { format, text } => Reply::Verbatim {
                format: format.to_string(),
                text,
            },
            V::BigNumber(digits) => Reply::BigNumber(digits),
            V::ServerError(e) => Reply::Error(ServerError::from_redis(&e)),
            // `redis::Value` is non-exhaustive; a future variant is reported, not dropped.
            #[allow(unreachable_patterns)]
            other => Reply::Error(ServerError::new(
                "ERR",
                format!("slotshift cannot represent this reply: {other:?}"),
            )),
        }
    }
}

fn convert_all(items: Vec<redis::Value>) -> Vec<Reply> {
    items.into_iter().map(Reply::from_value).collect()
}

/// An error reply from a server: its code (the first word, e.g. `WRONGTYPE`, `MOVED`, `ERR`)
/// and the rest of the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    code: String,
    detail: String,
    /// For EXEC's `EXECABORT`: the first command the server refused while queueing the
    /// transaction (its index among the transaction's commands) and its error.
    refused: Option<Box<(usize, ServerError)>>,
}

impl ServerError {
    /// An error reply from its code and detail.
    pub fn new(code: impl Into<String>, detail: impl Into<String>) -> ServerError {
        ServerError {
            code: code.into(),
            detail: detail.into(),
            refused: None,
        }
    }

    /// This error (EXEC's `EXECABORT`) with the reason the transaction was discarded: the
    /// command at `index` (among the transaction's commands) that the server refused when it
    /// was queued, and its error.
    pub(crate) fn with_refused(mut self, index: usize, error: ServerError) -> ServerError {
        self.refused = Some(Box::new((index, error)));
        self
    }

    /// For EXEC's `EXECABORT`: the first command of the transaction the server refused when
    /// it was queued (its index among the transaction's commands) and its error — what
    /// redis-py reports in place of `EXECABORT`. `None` for any other error. The error's
    /// text ([`Display`](fmt::Display)) stays the server's `EXECABORT` line.
    pub fn refused_at_queue(&self) -> Option<(usize, &ServerError)> {
        self.refused.as_deref().map(|(i, e)| (*i, e))
    }

    /// Splits an error line (without the leading `-`) into code and detail.
    pub fn parse(line: &str) -> ServerError {
        match line.split_once(' ') {
            Some((code, detail)) => ServerError::new(code, detail),
            None => ServerError::new(line, ""),
        }
    }

    pub(crate) fn from_redis(e: &redis::ServerError) -> ServerError {
        ServerError::new(e.code(), e.details().unwrap_or_default())
    }

    /// The error code: the first word of the reply (`WRONGTYPE`, `MOVED`, `ERR`, …).
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The text after the code.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// Whether the code is `code` (case-sensitive, as servers send codes in capitals).
    pub fn is(&self, code: &str) -> bool {
        self.code == code
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.code.is_empty() && self.detail.is_empty() {
            // A `-` line with no text: a real server never sends one, a broken proxy might.
            f.write_str("empty error reply (the server sent no error text)")
        } else if self.detail.is_empty() {
            f.write_str(&self.code)
        } else {
            write!(f, "{} {}", self.code, self.detail)
        }
    }
}

impl std::error::Error for ServerError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_nested_values_by_move() {
        let v = redis::Value::Array(vec![
            redis::Value::Okay,
            redis::Value::BulkString(b"x".to_vec()),
            redis::Value::Map(vec![(redis::Value::Int(1), redis::Value::Nil)]),
        ]);
        assert_eq!(
            Reply::from_value(v),
            Reply::Array(vec![
                Reply::Status("OK".into()),
                Reply::Bulk(b"x".to_vec()),
                Reply::Map(vec![(Reply::Int(1), Reply::Nil)]),
            ])
        );
    }

    #[test]
    fn parses_error_lines() {
        let e = ServerError::parse("MOVED 3999 127.0.0.1:6381");
        assert!(e.is("MOVED"));
        assert_eq!(e.detail(), "3999 127.0.0.1:6381");
        assert_eq!(e.to_string(), "MOVED 3999 127.0.0.1:6381");
        assert_eq!(ServerError::parse("LOADING").detail(), "");
    }

    #[test]
    fn ints_from_bulk() {
        assert_eq!(Reply::Bulk(b"42".to_vec()).as_int(), Some(42));
        assert_eq!(Reply::Bulk(b"x".to_vec()).as_int(), None);
    }
}
