//! RESP replies read straight into [`Reply`]s: RESP2 and RESP3, one value at a time from the
//! front of a buffer, without an intermediate tree and without copying a bulk string twice.
//!
//! [`decode`] is resumable in the simplest way: it either reads one whole value and says how
//! many bytes it took, or says the buffer holds only part of one (the caller reads more and
//! asks again from the same place). Bytes that are not RESP are an error naming what was
//! wrong; nothing here panics or allocates by a length the server claimed before the bytes
//! behind it have arrived.
//!
//! ```text
//! +OK\r\n            Status("OK")          -ERR x\r\n     Error(ERR, "x")
//! :42\r\n            Int(42)               $3\r\nabc\r\n  Bulk("abc")
//! *2\r\n:1\r\n$-1\r\n  Array([Int(1), Nil])  _\r\n        Nil (RESP3)
//! ```

use std::fmt;

use crate::reply::{Reply, ServerError};

/// How deep arrays, maps and sets may nest: far beyond any reply a server builds (a script's
/// nested tables included), and small enough that reading one cannot exhaust a thread's stack.
pub(crate) const MAX_DEPTH: usize = 512;

/// Bytes that are not RESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotResp(String);

impl fmt::Display for NotResp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads one value from the front of `buf`: `Ok(Some((reply, bytes used)))`, `Ok(None)` when
/// `buf` holds only the beginning of one.
#[cfg(test)]
pub(crate) fn decode(buf: &[u8]) -> Result<Option<(Reply, usize)>, NotResp> {
    let mut decoder = Decoder::default();
    Ok(match decoder.feed(buf)? {
        (used, Some(reply)) => Some((reply, used)),
        (_, None) => None,
    })
}

/// A reader of replies that keeps what it has read of an unfinished one, so bytes arriving
/// in many reads are each read once (a reply of many megabytes costs no more than its bytes).
///
/// Aggregates are read with a stack of open ones rather than by recursion, so no nesting the
/// bytes describe can exhaust the thread's stack ([`MAX_DEPTH`] bounds it for the readers of
/// the reply, which do recurse).
#[derive(Default)]
pub(crate) struct Decoder {
    /// The aggregates being read, outermost first.
    open: Vec<Aggregate>,
}

impl Decoder {
    /// Reads from the front of `buf` until one reply is whole or the bytes run out. Returns
    /// how many bytes were used — the caller drops them and never hands them in again; what
    /// they held of an unfinished reply stays here — and the reply when it is whole.
    pub(crate) fn feed(&mut self, buf: &[u8]) -> Result<(usize, Option<Reply>), NotResp> {
        let mut reader = Reader { buf, pos: 0 };
        loop {
            let before = reader.pos;
            let mut done = match reader.item() {
                Ok(Item::Value(reply)) => Some(reply),
                Ok(Item::Open(aggregate)) if aggregate.left > 0 => {
                    if self.open.len() >= MAX_DEPTH {
                        return Err(NotResp(format!(
                            "replies nest deeper than {MAX_DEPTH} levels"
                        )));
                    }
                    self.open.push(aggregate);
                    continue;
                }
                Ok(Item::Open(empty)) => empty.finish(),
                Err(Stop::Incomplete) => return Ok((before, None)),
                Err(Stop::Bad(e)) => return Err(e),
            };
            // A finished value goes into the aggregate around it, which may finish in turn.
            while let Some(reply) = done.take() {
                let Some(parent) = self.open.last_mut() else {
                    return Ok((reader.pos, Some(reply)));
                };
                parent.items.push(reply);
                parent.left -= 1;
                if parent.left == 0 {
                    done = self.open.pop().and_then(Aggregate::finish);
                }
            }
        }
    }
}

/// Why reading stopped before a whole value.
enum Stop {
    Incomplete,
    Bad(NotResp),
}

fn bad(what: impl Into<String>) -> Stop {
    Stop::Bad(NotResp(what.into()))
}

/// One header read: a whole value, or the start of an aggregate of `len` elements.
enum Item {
    Value(Reply),
    Open(Aggregate),
}

/// An aggregate being read: its type byte, the elements still to come, those read.
struct Aggregate {
    kind: u8,
    left: usize,
    items: Vec<Reply>,
}

impl Aggregate {
    fn new(kind: u8, len: usize, room: usize) -> Aggregate {
        // Every element takes at least 3 bytes: never reserve for more than could have come.
        Aggregate {
            kind,
            left: len,
            items: Vec::with_capacity(len.min(room / 3)),
        }
    }

    /// The finished aggregate as a reply (`None` for an attribute, which only describes the
    /// value after it).
    fn finish(self) -> Option<Reply> {
        Some(match self.kind {
            b'~' => Reply::Set(self.items),
            b'%' => {
                let mut flat = self.items.into_iter();
                let mut map = Vec::with_capacity(flat.len() / 2);
                while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                    map.push((k, v));
                }
                Reply::Map(map)
            }
            b'|' => return None,
            _ => Reply::Array(self.items),
        })
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// The line at the read position, without its CRLF; the position moves past it.
    fn line(&mut self) -> Result<&'a [u8], Stop> {
        let rest = &self.buf[self.pos..];
        let Some(lf) = memchr::memchr(b'\n', rest) else {
            return Err(Stop::Incomplete);
        };
        if lf == 0 || rest[lf - 1] != b'\r' {
            return Err(bad("a line ends in a bare LF, not CRLF"));
        }
        self.pos += lf + 1;
        Ok(&rest[..lf - 1])
    }

    /// `n` bytes followed by CRLF (a bulk string's body).
    fn body(&mut self, n: usize) -> Result<&'a [u8], Stop> {
        let rest = &self.buf[self.pos..];
        let need = n.checked_add(2).ok_or_else(|| bad("a length overflows"))?;
        if rest.len() < need {
            return Err(Stop::Incomplete);
        }
        if &rest[n..need] != b"\r\n" {
            return Err(bad(format!(
                "a string of {n} bytes is not followed by CRLF"
            )));
        }
        self.pos += need;
        Ok(&rest[..n])
    }

    /// A scalar value, or the header of an aggregate.
    fn item(&mut self) -> Result<Item, Stop> {
        let Some(&kind) = self.buf.get(self.pos) else {
            return Err(Stop::Incomplete);
        };
        self.pos += 1;
        let line = self.line()?;
        let room = self.buf.len() - self.pos;
        let value = match kind {
            b'+' => Reply::Status(text(line)),
            b'-' => Reply::Error(ServerError::parse(&text(line))),
            b':' => Reply::Int(int(line)?),
            b'$' => match length(line)? {
                None => Reply::Nil,
                Some(n) => Reply::Bulk(self.body(n)?.to_vec()),
            },
            b'*' | b'~' | b'>' => match length(line)? {
                None => Reply::Nil,
                Some(n) => return Ok(Item::Open(Aggregate::new(kind, n, room))),
            },
            b'%' | b'|' => {
                let n = length(line)?.ok_or_else(|| bad("a map of length -1"))?;
                let n = n.checked_mul(2).ok_or_else(|| bad("a length overflows"))?;
                return Ok(Item::Open(Aggregate::new(kind, n, room)));
            }
            b'_' => Reply::Nil,
            b'#' => match line {
                b"t" => Reply::Bool(true),
                b"f" => Reply::Bool(false),
                _ => {
                    return Err(bad(format!(
                        "a boolean that is not t or f: {}",
                        shown(line)
                    )))
                }
            },
            b',' => Reply::Double(double(line)?),
            b'(' => {
                let digits = line.strip_prefix(b"-").unwrap_or(line);
                if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                    return Err(bad(format!(
                        "a big number that is not one: {}",
                        shown(line)
                    )));
                }
                Reply::BigNumber(line.to_vec())
            }
            b'!' | b'=' => {
                let n = length(line)?.ok_or_else(|| bad("a string of length -1"))?;
                let body = self.body(n)?;
                if kind == b'!' {
                    Reply::Error(ServerError::parse(&text(body)))
                } else {
                    match body {
                        [f0, f1, f2, b':', rest @ ..] => Reply::Verbatim {
                            format: text(&[*f0, *f1, *f2]),
                            text: text(rest),
                        },
                        _ => return Err(bad("a verbatim string without its format")),
                    }
                }
            }
            other => {
                return Err(bad(format!(
                    "a reply starts with {}, which is no RESP type",
                    shown(&[other])
                )))
            }
        };
        Ok(Item::Value(value))
    }
}

/// A length line: `None` for -1 (nil), else a non-negative count.
fn length(line: &[u8]) -> Result<Option<usize>, Stop> {
    match int(line)? {
        -1 => Ok(None),
        n => usize::try_from(n)
            .map(Some)
            .map_err(|_| bad(format!("a negative length: {n}"))),
    }
}

fn int(line: &[u8]) -> Result<i64, Stop> {
    let (negative, digits) = match line {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, line),
    };
    if digits.is_empty() || digits.len() > 19 {
        return Err(bad(format!("not an integer: {}", shown(line))));
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(bad(format!("not an integer: {}", shown(line))));
        }
        let digit = i64::from(d - b'0');
        n = n
            .checked_mul(10)
            .and_then(|n| {
                if negative {
                    n.checked_sub(digit)
                } else {
                    n.checked_add(digit)
                }
            })
            .ok_or_else(|| bad(format!("an integer out of range: {}", shown(line))))?;
    }
    Ok(n)
}

fn double(line: &[u8]) -> Result<f64, Stop> {
    let s = std::str::from_utf8(line).map_err(|_| bad("a double that is not text"))?;
    match s {
        "inf" => Ok(f64::INFINITY),
        "-inf" => Ok(f64::NEG_INFINITY),
        "nan" => Ok(f64::NAN),
        _ => s
            .parse()
            .map_err(|_| bad(format!("not a double: {}", shown(line)))),
    }
}

/// A simple string or error line as text (bytes that are not UTF-8 replaced, as a line of a
/// status reply is only ever shown).
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// At most 32 bytes of what was read, for an error message.
fn shown(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(32)];
    let more = if bytes.len() > cut.len() { "…" } else { "" };
    format!("{:?}{more}", String::from_utf8_lossy(cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bytes: &[u8]) -> Reply {
        let (reply, used) = decode(bytes).unwrap().expect("a whole value");
        assert_eq!(used, bytes.len(), "{bytes:?} read in part");
        reply
    }

    fn error(bytes: &[u8]) -> String {
        decode(bytes).unwrap_err().to_string()
    }

    #[test]
    fn reads_every_resp2_type() {
        assert_eq!(one(b"+OK\r\n"), Reply::Status("OK".into()));
        assert_eq!(
            one(b"-WRONGTYPE Operation against a key\r\n"),
            Reply::Error(ServerError::new("WRONGTYPE", "Operation against a key"))
        );
        assert_eq!(one(b":-42\r\n"), Reply::Int(-42));
        assert_eq!(one(b"$3\r\na\r\n\r\n"), Reply::Bulk(b"a\r\n".to_vec()));
        assert_eq!(one(b"$0\r\n\r\n"), Reply::Bulk(vec![]));
        assert_eq!(one(b"$-1\r\n"), Reply::Nil);
        assert_eq!(one(b"*-1\r\n"), Reply::Nil);
        assert_eq!(
            one(b"*3\r\n:1\r\n$-1\r\n*1\r\n-ERR x\r\n"),
            Reply::Array(vec![
                Reply::Int(1),
                Reply::Nil,
                Reply::Array(vec![Reply::Error(ServerError::new("ERR", "x"))]),
            ])
        );
        assert_eq!(one(b":9223372036854775807\r\n"), Reply::Int(i64::MAX));
        assert_eq!(one(b":-9223372036854775808\r\n"), Reply::Int(i64::MIN));
    }

    #[test]
    fn reads_resp3_types() {
        assert_eq!(one(b"_\r\n"), Reply::Nil);
        assert_eq!(one(b"#t\r\n"), Reply::Bool(true));
        assert_eq!(one(b",1.5\r\n"), Reply::Double(1.5));
        assert_eq!(one(b",-inf\r\n"), Reply::Double(f64::NEG_INFINITY));
        assert_eq!(one(b"(-123\r\n"), Reply::BigNumber(b"-123".to_vec()));
        assert_eq!(
            one(b"%1\r\n+a\r\n:1\r\n"),
            Reply::Map(vec![(Reply::Status("a".into()), Reply::Int(1))])
        );
        assert_eq!(one(b"~1\r\n:1\r\n"), Reply::Set(vec![Reply::Int(1)]));
        assert_eq!(
            one(b"=7\r\ntxt:abc\r\n"),
            Reply::Verbatim {
                format: "txt".into(),
                text: "abc".into()
            }
        );
        assert_eq!(
            one(b"!9\r\nERR boom!\r\n"),
            Reply::Error(ServerError::new("ERR", "boom!"))
        );
        assert_eq!(one(b"|1\r\n+ttl\r\n:3\r\n:7\r\n"), Reply::Int(7));
        assert_eq!(
            one(b">2\r\n+message\r\n$1\r\nx\r\n"),
            Reply::Array(vec![
                Reply::Status("message".into()),
                Reply::Bulk(b"x".to_vec())
            ])
        );
    }

    #[test]
    fn a_partial_value_asks_for_more_at_every_cut() {
        let whole: &[u8] = b"*3\r\n$5\r\nhello\r\n:7\r\n*1\r\n+OK\r\n";
        for cut in 0..whole.len() {
            assert_eq!(decode(&whole[..cut]), Ok(None), "cut at {cut}");
        }
        let mut two = whole.to_vec();
        two.extend_from_slice(b":1\r\n");
        let (_, used) = decode(&two).unwrap().unwrap();
        assert_eq!(used, whole.len());
    }

    #[test]
    fn a_reply_fed_a_byte_at_a_time_reads_each_byte_once() {
        let whole: &[u8] = b"*2\r\n*3\r\n$5\r\nhello\r\n:7\r\n%1\r\n+k\r\n_\r\n$-1\r\n";
        let mut decoder = Decoder::default();
        let mut pending = Vec::new();
        let mut read = None;
        for &byte in whole {
            assert!(read.is_none(), "finished before its last byte");
            pending.push(byte);
            let (used, reply) = decoder.feed(&pending).unwrap();
            pending.drain(..used);
            read = reply;
        }
        assert!(pending.is_empty());
        assert_eq!(read, Some(one(whole)));
    }

    #[test]
    fn bytes_that_are_not_resp_are_named() {
        assert!(error(b"hello\r\n").contains("no RESP type"));
        assert!(error(b":12x\r\n").contains("not an integer"));
        assert!(error(b":99999999999999999999\r\n").contains("not an integer"));
        assert!(error(b":9223372036854775808\r\n").contains("out of range"));
        assert!(error(b"$-2\r\n").contains("negative length"));
        assert!(error(b"$3\r\nabcde\r\n").contains("not followed by CRLF"));
        assert!(error(b"+OK\n").contains("bare LF"));
        assert!(error(b"#x\r\n").contains("boolean"));
        assert!(error(b"=2\r\nab\r\n").contains("verbatim"));
        let deep = "*1\r\n".repeat(MAX_DEPTH + 1) + ":1\r\n";
        assert!(error(deep.as_bytes()).contains("nest deeper"));
    }

    #[test]
    fn a_claimed_length_reserves_nothing_before_its_bytes_arrive() {
        // A server claiming 2^62 elements gets an incomplete read, not an allocation.
        assert_eq!(decode(b"*4611686018427387904\r\n:1\r\n"), Ok(None));
        assert_eq!(decode(b"$4611686018427387904\r\nab"), Ok(None));
    }
}
