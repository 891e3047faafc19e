//! `slotshift validate [--file F] [--format text|json]`: reads a capture of commands — the
//! output of `MONITOR`, or one command per line with shell-style quoting — and reports every
//! command a Redis Cluster would refuse because its keys span slots, grouped by command and
//! key pattern (ids masked by the analyzer's normaliser), with counts.
//!
//! MULTI … EXEC blocks are checked as transactions, per client when the capture is MONITOR
//! output (clients' commands interleave there).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read};

use slotshift::analyzer::Normaliser;
use slotshift::command::Cmd;
use slotshift::validator::{classify, Violation};

use crate::exit::Outcome;

/// Arguments of `slotshift validate`.
#[derive(clap::Args)]
pub struct Args {
    /// The capture to read (default: standard input).
    #[arg(long, short)]
    file: Option<std::path::PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

/// One line of the capture, parsed.
#[derive(Debug, PartialEq)]
pub(crate) enum Line {
    /// A command, with the client that sent it when the line came from MONITOR.
    Command {
        client: Option<String>,
        args: Vec<Vec<u8>>,
    },
    /// Blank, a comment, MONITOR's `OK`.
    Skip,
    /// Not readable (unbalanced quotes, bad escape).
    Bad,
}

/// Parses one capture line.
pub(crate) fn parse_line(line: &str) -> Line {
    let line = line.trim_end_matches(['\r', '\n']);
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') || trimmed == "OK" || trimmed == "+OK" {
        return Line::Skip;
    }
    if let Some((client, rest)) = monitor_prefix(trimmed) {
        return match parse_quoted(rest) {
            Some(args) if !args.is_empty() => Line::Command {
                client: Some(client.to_owned()),
                args,
            },
            _ => Line::Bad,
        };
    }
    match shlex::split(trimmed) {
        Some(args) if !args.is_empty() => Line::Command {
            client: None,
            args: args.into_iter().map(String::into_bytes).collect(),
        },
        _ => Line::Bad,
    }
}

/// `1700000000.123456 [0 127.0.0.1:50000] rest` → (`0 127.0.0.1:50000`, `rest`).
fn monitor_prefix(line: &str) -> Option<(&str, &str)> {
    let (ts, rest) = line.split_once(' ')?;
    let (secs, micros) = ts.split_once('.')?;
    if secs.is_empty()
        || !secs.bytes().all(|b| b.is_ascii_digit())
        || !micros.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let rest = rest.strip_prefix('[')?;
    let (client, rest) = rest.split_once("] ")?;
    Some((client, rest))
}

/// MONITOR's argument list: `"MGET" "a\x00b" "say \"hi\""` (the server's `sdscatrepr`).
fn parse_quoted(s: &str) -> Option<Vec<Vec<u8>>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b' ' {
            i += 1;
            continue;
        }
        if b[i] != b'"' {
            return None;
        }
        i += 1;
        let mut arg = Vec::new();
        loop {
            let c = *b.get(i)?;
            i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = *b.get(i)?;
                    i += 1;
                    arg.push(match e {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'a' => 0x07,
                        b'b' => 0x08,
                        b'x' => {
                            let hex = std::str::from_utf8(b.get(i..i + 2)?).ok()?;
                            i += 2;
                            u8::from_str_radix(hex, 16).ok()?
                        }
                        other => other,
                    });
                }
                other => arg.push(other),
            }
        }
        out.push(arg);
    }
    Some(out)
}

/// What a capture holds.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub(crate) commands: u64,
    pub(crate) unreadable: u64,
    /// (command, key pattern) → (count, most slots seen).
    pub(crate) groups: BTreeMap<(String, String), (u64, usize)>,
}

impl Findings {
    fn add(&mut self, v: &Violation, normaliser: &Normaliser) {
        let mut patterns: Vec<String> = Vec::new();
        for k in &v.keys {
            let p = normaliser.pattern(k);
            if !patterns.contains(&p) {
                patterns.push(p);
            }
        }
        let e = self
            .groups
            .entry((v.command.clone(), patterns.join(", ")))
            .or_default();
        e.0 += 1;
        e.1 = e.1.max(v.slots.len());
    }

    pub(crate) fn violations(&self) -> u64 {
        self.groups.values().map(|(n, _)| n).sum()
    }
}

/// Reads a whole capture.
pub(crate) fn scan(input: impl Read) -> Result<Findings, Box<dyn std::error::Error>> {
    let normaliser = Normaliser::new(Vec::new())?;
    let mut findings = Findings::default();
    // Per client (None: a plain file, one client): the open MULTI block, if any.
    let mut open: HashMap<Option<String>, Vec<Cmd>> = HashMap::new();
    for line in BufReader::new(input).split(b'\n') {
        let line = line?;
        let line = String::from_utf8_lossy(&line);
        let (client, args) = match parse_line(&line) {
            Line::Command { client, args } => (client, args),
            Line::Skip => continue,
            Line::Bad => {
                findings.unreadable += 1;
                continue;
            }
        };
        findings.commands += 1;
        let cmd = Cmd::from_args(&args);
        let name = cmd.name();
        if name.eq_ignore_ascii_case(b"MULTI") {
            open.insert(client, Vec::new());
            continue;
        }
        if name.eq_ignore_ascii_case(b"EXEC") || name.eq_ignore_ascii_case(b"DISCARD") {
            if let Some(block) = open.remove(&client) {
                if name.eq_ignore_ascii_case(b"EXEC") {
                    for v in classify(&block, true) {
                        findings.add(&v, &normaliser);
                    }
                }
            }
            continue;
        }
        if let Some(block) = open.get_mut(&client) {
            // Inside a transaction a command is checked with the block, not alone too:
            // a cross-slot MGET inside MULTI makes the whole block cross-slot.
            block.push(cmd);
            continue;
        }
        for v in classify(std::slice::from_ref(&cmd), false) {
            findings.add(&v, &normaliser);
        }
    }
    Ok(findings)
}

pub fn run(args: Args) -> Result<Outcome, Box<dyn std::error::Error>> {
    let findings = match &args.file {
        Some(path) => {
            scan(std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?)?
        }
        None => scan(std::io::stdin().lock())?,
    };
    let mut rows: Vec<_> = findings.groups.iter().collect();
    rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then_with(|| a.0.cmp(b.0)));
    match args.format {
        Format::Json => {
            let list: Vec<serde_json::Value> = rows
                .iter()
                .map(|((command, pattern), (count, slots))| {
                    serde_json::json!({
                        "command": command, "key_pattern": pattern,
                        "count": count, "max_slots": slots,
                    })
                })
                .collect();
            let out = serde_json::json!({
                "commands_read": findings.commands,
                "unreadable_lines": findings.unreadable,
                "cross_slot_commands": findings.violations(),
                "groups": list,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Text => {
            println!(
                "{} cross-slot command(s) in {} groups, out of {} commands read{}",
                findings.violations(),
                rows.len(),
                findings.commands,
                if findings.unreadable > 0 {
                    format!(" ({} unreadable lines skipped)", findings.unreadable)
                } else {
                    String::new()
                }
            );
            if !rows.is_empty() {
                println!(
                    "{:>8}  {:>5}  {:<14} key pattern",
                    "count", "slots", "command"
                );
                for ((command, pattern), (count, slots)) in rows {
                    println!("{count:>8}  {slots:>5}  {command:<14} {pattern}");
                }
            }
        }
    }
    // Cross-slot commands found: exit 1, so a CI job can gate on it.
    Ok(Outcome::found_if(findings.violations() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any line a capture file may hold: the committed corpus (`cli/fuzz/corpus/capture_lines`),
    /// then random text for bolero's time budget; the parser answers, never panics.
    #[test]
    fn fuzz_capture_lines() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/capture_lines");
        let mut seeds = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let _ = parse_line(&String::from_utf8_lossy(&bytes));
            seeds += 1;
        }
        assert!(seeds > 0, "no corpus in {dir}");
        bolero::check!().for_each(|input: &[u8]| {
            let _ = parse_line(&String::from_utf8_lossy(input));
        });
    }

    #[test]
    fn monitor_lines() {
        let l =
            parse_line(r#"1700000000.123456 [0 127.0.0.1:50000] "MGET" "a" "b\x00\"c\\" "n\n""#);
        assert_eq!(
            l,
            Line::Command {
                client: Some("0 127.0.0.1:50000".into()),
                args: vec![
                    b"MGET".to_vec(),
                    b"a".to_vec(),
                    b"b\x00\"c\\".to_vec(),
                    b"n\n".to_vec()
                ],
            }
        );
        let lua = parse_line(r#"1700000000.1 [0 lua] "GET" "k""#);
        assert!(matches!(lua, Line::Command { client: Some(c), .. } if c == "0 lua"));
        assert_eq!(parse_line("OK"), Line::Skip);
        assert_eq!(parse_line("   "), Line::Skip);
        assert_eq!(
            parse_line(r#"1700000000.1 [0 x] "GET" "unterminated"#),
            Line::Bad
        );
        assert_eq!(parse_line(r#"1700000000.1 [0 x] "GET" "\x4""#), Line::Bad);
    }

    #[test]
    fn plain_lines() {
        assert_eq!(
            parse_line(r#"MSET 'user 1' "v 2" k3 v3"#),
            Line::Command {
                client: None,
                args: vec![
                    b"MSET".to_vec(),
                    b"user 1".to_vec(),
                    b"v 2".to_vec(),
                    b"k3".to_vec(),
                    b"v3".to_vec()
                ],
            }
        );
        assert_eq!(parse_line("GET 'open"), Line::Bad);
    }

    #[test]
    fn groups_by_command_and_pattern() {
        let capture = "\
OK
1700000000.000001 [0 127.0.0.1:1] \"MGET\" \"user:1\" \"user:2\"
1700000000.000002 [0 127.0.0.1:1] \"MGET\" \"user:31\" \"user:42\"
1700000000.000003 [0 127.0.0.1:2] \"MULTI\"
1700000000.000004 [0 127.0.0.1:1] \"GET\" \"a\"
1700000000.000005 [0 127.0.0.1:2] \"SET\" \"a\" \"1\"
1700000000.000006 [0 127.0.0.1:2] \"SET\" \"b\" \"1\"
1700000000.000007 [0 127.0.0.1:2] \"EXEC\"
1700000000.000008 [0 127.0.0.1:1] \"MGET\" \"{user:1}:a\" \"{user:1}:b\"
1700000000.000009 [0 127.0.0.1:1] \"EVAL\" \"return 1\" \"2\" \"user:1\" \"user:2\"
garbage \"
";
        let f = scan(capture.as_bytes()).unwrap();
        assert_eq!(f.commands, 9);
        assert_eq!(f.unreadable, 1);
        assert_eq!(f.violations(), 4);
        let by: Vec<(&str, u64)> = f
            .groups
            .iter()
            .map(|((c, _), (n, _))| (c.as_str(), *n))
            .collect();
        assert_eq!(by, vec![("EVAL", 1), ("MGET", 2), ("MULTI/EXEC", 1)]);
        // Ids are masked: the two MGETs share one pattern, and no id appears.
        let (_, pattern) = f.groups.keys().find(|(c, _)| c == "MGET").unwrap();
        assert!(
            !pattern.contains("31") && !pattern.contains("42"),
            "{pattern}"
        );
    }
}
