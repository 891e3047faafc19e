//! `slotshift pipe --url URL [--url URL…] [--batch-limit N] [--summary]`
//!
//! Reads commands from stdin — one per line with shell-style quoting, or raw RESP (detected
//! when the input starts with `*`) — sends them through the store (per-node pipelines on a
//! cluster, so mass insertion into a cluster works), and prints each reply in order in
//! redis-cli's style. `--summary` prints only counts: replies, and errors by kind.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufWriter, Read, Write};

use slotshift::command::Cmd;
use slotshift::reply::Reply;
use slotshift::store::Store;

use crate::exit::{Outcome, Usage};

/// Arguments of `slotshift pipe`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    connect: crate::target::Connect,
    /// At most this many commands per round trip.
    #[arg(long, default_value_t = 1000)]
    batch_limit: usize,
    /// Print only counts (replies, errors by kind), not each reply.
    #[arg(long)]
    summary: bool,
}

/// Counts for `--summary`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Summary {
    commands: u64,
    replies: u64,
    errors: BTreeMap<String, u64>,
}

pub fn run(args: Args) -> Result<Outcome, Box<dyn std::error::Error>> {
    if args.batch_limit == 0 {
        return Err(Usage("--batch-limit must be a positive integer".into()).into());
    }
    let store = args.connect.open()?;
    let stdin = io::stdin();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let summary = pipe(
        &store,
        stdin.lock(),
        &mut out,
        args.batch_limit,
        args.summary,
    )?;
    if args.summary {
        writeln!(out, "commands: {}", summary.commands)?;
        writeln!(out, "replies: {}", summary.replies)?;
        let errors: u64 = summary.errors.values().sum();
        writeln!(out, "errors: {errors}")?;
        for (kind, n) in &summary.errors {
            writeln!(out, "  {kind}: {n}")?;
        }
    }
    out.flush()?;
    // Error replies and unreadable lines are findings, as `redis-cli --pipe` counts them.
    Ok(Outcome::found_if(summary.errors.values().sum::<u64>() > 0))
}

/// One parsed input item: a command, or a line that could not be read as one.
enum Input {
    Cmd(Cmd),
    Bad(String),
}

fn pipe(
    store: &Store,
    mut input: impl BufRead,
    out: &mut impl Write,
    batch_limit: usize,
    quiet: bool,
) -> Result<Summary, Box<dyn std::error::Error>> {
    let resp = input.fill_buf()?.first() == Some(&b'*');
    let mut summary = Summary::default();
    let mut batch: Vec<Input> = Vec::with_capacity(batch_limit);
    let mut line_no = 0usize;
    loop {
        let item = if resp {
            read_resp(&mut input)?
        } else {
            let mut line = Vec::new();
            if input.read_until(b'\n', &mut line)? == 0 {
                None
            } else {
                line_no += 1;
                while matches!(line.last(), Some(b'\n' | b'\r')) {
                    line.pop();
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                Some(match shlex::bytes::split(&line) {
                    Some(args) if !args.is_empty() => Input::Cmd(Cmd::from_args(args)),
                    _ => Input::Bad(format!("line {line_no}: unbalanced quotes")),
                })
            }
        };
        let done = item.is_none();
        if let Some(item) = item {
            batch.push(item);
        }
        if batch.len() >= batch_limit || (done && !batch.is_empty()) {
            flush(store, &mut batch, out, &mut summary, quiet)?;
        }
        if done {
            return Ok(summary);
        }
    }
}

fn flush(
    store: &Store,
    batch: &mut Vec<Input>,
    out: &mut impl Write,
    summary: &mut Summary,
    quiet: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let cmds: Vec<Cmd> = batch
        .iter()
        .filter_map(|i| match i {
            Input::Cmd(c) => Some(c.clone()),
            Input::Bad(_) => None,
        })
        .collect();
    let mut replies = store.pipeline(&cmds)?.into_iter();
    for item in batch.drain(..) {
        summary.commands += 1;
        let (kind, text) = match item {
            Input::Bad(why) => ("input".to_string(), format!("(error) {why}")),
            Input::Cmd(_) => match replies.next() {
                Some(Ok(reply)) => {
                    summary.replies += 1;
                    if !quiet {
                        writeln!(out, "{}", format_reply(&reply, 0))?;
                    }
                    continue;
                }
                Some(Err(slotshift::Error::Server(e))) => {
                    summary.replies += 1;
                    (e.code().to_string(), format!("(error) {e}"))
                }
                Some(Err(slotshift::Error::Connection(e))) => {
                    ("connection".to_string(), format!("(error) {e}"))
                }
                Some(Err(slotshift::Error::Routing(e))) => {
                    ("routing".to_string(), format!("(error) {e}"))
                }
                Some(Err(e)) => ("other".to_string(), format!("(error) {e}")),
                None => ("other".to_string(), "(error) no reply".to_string()),
            },
        };
        *summary.errors.entry(kind).or_default() += 1;
        if !quiet {
            writeln!(out, "{text}")?;
        }
    }
    Ok(())
}

/// Reads one RESP command (an array of bulk strings); `None` at the end of input.
fn read_resp(input: &mut impl BufRead) -> io::Result<Option<Input>> {
    let header = match read_line(input)? {
        None => return Ok(None),
        Some(h) => h,
    };
    if header.is_empty() {
        return read_resp(input);
    }
    let bad = |what: &str| Ok(Some(Input::Bad(format!("RESP input: {what}"))));
    let Some(n) = header.strip_prefix(b"*").and_then(parse_len) else {
        return bad("expected an array header");
    };
    let mut args = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let Some(h) = read_line(input)? else {
            return bad("truncated command");
        };
        let Some(len) = h.strip_prefix(b"$").and_then(parse_len) else {
            return bad("expected a bulk string");
        };
        // Read exactly `len` bytes without trusting `len` for an allocation up front.
        let mut arg = Vec::new();
        let got = input.by_ref().take(len as u64).read_to_end(&mut arg)?;
        if got != len || read_line(input)?.is_none_or(|rest| !rest.is_empty()) {
            return bad("bulk string length does not match");
        }
        args.push(arg);
    }
    Ok(Some(Input::Cmd(Cmd::from_args(args))))
}

fn read_line(input: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    if input.read_until(b'\n', &mut line)? == 0 {
        return Ok(None);
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(Some(line))
}

fn parse_len(digits: &[u8]) -> Option<usize> {
    let n: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
    (n <= 512 * 1024 * 1024).then_some(n)
}

/// A reply as redis-cli prints it on a terminal.
fn format_reply(reply: &Reply, indent: usize) -> String {
    match reply {
        Reply::Nil => "(nil)".into(),
        Reply::Int(i) => format!("(integer) {i}"),
        Reply::Bulk(b) => quote(b),
        Reply::Status(s) => s.clone(),
        Reply::Double(d) => format!("(double) {d}"),
        Reply::Bool(b) => format!("({b})"),
        Reply::BigNumber(n) => format!("(big number) {}", String::from_utf8_lossy(n)),
        Reply::Verbatim { text, .. } => text.clone(),
        Reply::Error(e) => format!("(error) {e}"),
        Reply::Array(items) | Reply::Set(items) => {
            if items.is_empty() {
                return "(empty array)".into();
            }
            let width = items.len().to_string().len();
            let mut s = String::new();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    s.push('\n');
                    s.push_str(&" ".repeat(indent));
                }
                s.push_str(&format!("{:>width$}) ", i + 1));
                s.push_str(&format_reply(item, indent + width + 2));
            }
            s
        }
        Reply::Map(pairs) => {
            let flat: Vec<Reply> = pairs
                .iter()
                .flat_map(|(k, v)| [k.clone(), v.clone()])
                .collect();
            format_reply(&Reply::Array(flat), indent)
        }
        _ => format!("{reply:?}"),
    }
}

fn quote(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use slotshift::testing::Cluster;

    fn run_on(store: &Store, input: &str, limit: usize) -> (String, Summary) {
        let mut out = Vec::new();
        let summary = pipe(store, input.as_bytes(), &mut out, limit, false).unwrap();
        (String::from_utf8(out).unwrap(), summary)
    }

    #[test]
    fn formats_like_redis_cli() {
        assert_eq!(
            format_reply(&Reply::Bulk(b"a \"b\"\n".to_vec()), 0),
            "\"a \\\"b\\\"\\n\""
        );
        assert_eq!(format_reply(&Reply::Int(3), 0), "(integer) 3");
        assert_eq!(
            format_reply(
                &Reply::Array(vec![Reply::Nil, Reply::Bulk(b"x".to_vec())]),
                0
            ),
            "1) (nil)\n2) \"x\""
        );
    }

    #[test]
    fn mass_insertion_into_a_cluster_lines_and_resp() {
        let cluster = Cluster::start(3, 0).unwrap();
        let store = Store::open(&cluster.url()).unwrap();
        let mut input = String::new();
        for i in 0..2500 {
            input.push_str(&format!("SET \"key {i}\" 'value {i}'\n"));
        }
        input.push_str("\nLPUSH \"key 1\" x\nGET \"key 2499\"\nSET \"unbalanced\n");
        let (out, summary) = run_on(&store, &input, 300);
        assert_eq!(summary.commands, 2503);
        assert_eq!(summary.replies, 2502);
        assert_eq!(summary.errors.get("WRONGTYPE"), Some(&1));
        assert_eq!(summary.errors.get("input"), Some(&1));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "OK");
        assert!(lines[2500].starts_with("(error) WRONGTYPE"));
        assert_eq!(lines[2501], "\"value 2499\"");
        assert!(
            lines[2502].contains("line 2504: unbalanced quotes"),
            "{}",
            lines[2502]
        );

        let resp =
            "*3\r\n$3\r\nSET\r\n$4\r\nr\x00k1\r\n$2\r\nv1\r\n*2\r\n$3\r\nGET\r\n$4\r\nr\x00k1\r\n";
        let (out, summary) = run_on(&store, resp, 10);
        assert_eq!(out, "OK\n\"v1\"\n");
        assert_eq!(summary.errors.len(), 0);
    }
}
