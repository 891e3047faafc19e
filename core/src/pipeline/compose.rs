//! Cross-slot commands served in rounds: what a split cannot serve but reads of each key can.
//!
//! A split ([`plan`](super::plan)) sends one sub-command per slot and merges the replies; it
//! serves commands whose reply is a sum or a concatenation of per-key replies (MGET, DEL …).
//! The commands here need the *values* of keys in other slots — `SUNION a b`, `ZINTERSTORE d
//! 2 a b`, `COPY a b`, `LMOVE a b LEFT RIGHT` — so on a cluster a [`Composition`] reads each
//! source key on its own slot, computes the result as the server would, and writes it (where
//! the command writes) on the destination's slot in one MULTI/EXEC. The store drives it: it
//! sends what [`Composition::start`] and [`Composition::resume`] ask for, through the same
//! batcher and router as any pipeline, until one of them says [`Step::Done`].
//!
//! | commands | reads | writes |
//! |---|---|---|
//! | `SUNION` `SINTER` `SDIFF` `SINTERCARD` | `SMEMBERS` of each key | — |
//! | `SUNIONSTORE` `SINTERSTORE` `SDIFFSTORE` | the same | `DEL` + `SADD` on the destination |
//! | `ZUNION` `ZINTER` `ZDIFF` `ZINTERCARD` | `ZRANGE 0 -1 WITHSCORES` (`SMEMBERS` for sets) | — |
//! | `ZUNIONSTORE` `ZINTERSTORE` `ZDIFFSTORE` | the same | `DEL` + `ZADD` |
//! | `ZRANGESTORE` | the range (`ZMSCORE` after a `BYLEX` one) | `DEL` + `ZADD` |
//! | `SMOVE` `LMOVE` `RPOPLPUSH` | `TYPE` of the destination, then the pop | the push |
//! | `COPY` `RENAME` `RENAMENX` | `DUMP` + `PEXPIRETIME` | `RESTORE … ABSTTL` (and `DEL` of the source) |
//! | `PFMERGE` | `GET` of each source | the sources set under keys of the destination's slot, `PFMERGE`, `DEL`, in one MULTI |
//! | `XREAD` `XREADGROUP` (without `BLOCK`) | one read per stream | — |
//!
//! **Not atomic across slots.** On one server these commands see and change their keys at one
//! instant; here the reads of different slots happen one after the other, and a move (`SMOVE`,
//! `LMOVE`, `RENAME`) is a removal followed by an insertion: a writer that changes a source
//! between the read and the write is not seen, and a process killed between the pop and the
//! push of a move loses that element. The same holds for the split MSET the batcher already
//! serves. Where that matters, keep the keys in one slot with a hash tag (`{user:1}a`,
//! `{user:1}b`): the command then goes to the server whole, as on a standalone server. What
//! stays refused ([`PipelineError::CannotSplit`](super::PipelineError::CannotSplit)): commands
//! whose meaning is a condition over keys at one instant (MSETNX, SMOVE-like commands that
//! block — BLMOVE, BRPOPLPUSH, XREAD with BLOCK), scripts and functions, and everything else
//! not in the table.
//!
//! ```
//! use slotshift::command::Cmd;
//! use slotshift::pipeline::compose::{Composition, Step};
//! use slotshift::reply::Reply;
//!
//! let mut c = Composition::of(&Cmd::from_args(["SINTER", "a", "b"])).unwrap();
//! let Step::Pipeline(reads) = c.start() else { unreachable!() };
//! assert_eq!(reads.len(), 2); // SMEMBERS a, SMEMBERS b
//! let members = |m: &[&str]| Ok(Reply::Array(m.iter().map(|s| Reply::Bulk(s.as_bytes().to_vec())).collect()));
//! let Step::Done(Ok(reply)) = c.resume(vec![members(&["x", "y"]), members(&["y", "z"])]) else { unreachable!() };
//! assert_eq!(reply, Reply::Array(vec![Reply::Bulk(b"y".to_vec())]));
//! ```

use std::collections::{HashMap, HashSet};

use crate::command::Cmd;
use crate::reply::{Reply, ServerError};
use crate::slot::{hash_tag, key_slot};
use crate::Error;

/// What a [`Composition`] asks of the store next.
#[derive(Debug)]
#[non_exhaustive]
pub enum Step {
    /// Send these commands as one pipeline (each touches one slot; the batcher groups them per
    /// node), then [`Composition::resume`] with their results, in order.
    Pipeline(Vec<Cmd>),
    /// Run these commands in MULTI/EXEC (their keys share one slot), then
    /// [`Composition::resume`] with EXEC's replies, in order (or the one error of the whole).
    Transaction(Vec<Cmd>),
    /// The command's result.
    Done(Result<Reply, Error>),
}

/// One cross-slot command served in rounds (see the [module](self) documentation).
#[derive(Debug)]
pub struct Composition {
    op: Op,
    stage: u8,
}

type Key = Vec<u8>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Agg {
    Sum,
    Min,
    Max,
}

#[derive(Debug)]
enum Op {
    /// `SUNION`/`SINTER`/`SDIFF`, their `STORE` forms and `SINTERCARD` (`limit`).
    Sets {
        op: SetOp,
        dest: Option<Key>,
        keys: Vec<Key>,
        card: Option<usize>,
    },
    /// `ZUNION`/`ZINTER`/`ZDIFF`, their `STORE` forms and `ZINTERCARD`.
    Zsets {
        op: SetOp,
        dest: Option<Key>,
        keys: Vec<Key>,
        weights: Vec<f64>,
        agg: Agg,
        withscores: bool,
        card: Option<usize>,
        /// Each key's members and scores, as they are read.
        read: Vec<Option<Vec<(Key, f64)>>>,
        /// Keys that are plain sets (read again with `SMEMBERS`, each member scoring 1).
        plain: Vec<usize>,
        /// The result is being written (the next results are the write's).
        writing: bool,
    },
    /// `ZRANGESTORE dst src …`: `range` is `ZRANGE src …` without `WITHSCORES`.
    RangeStore {
        dest: Key,
        range: Cmd,
        bylex: bool,
        members: Vec<Key>,
    },
    /// `SMOVE`, `LMOVE`, `RPOPLPUSH`: `pop` the source, `push` the value onto the destination.
    Move {
        dest: Key,
        /// The type the destination must have (or none).
        kind: &'static str,
        pop: Cmd,
        /// The push; a list move appends the popped element to it.
        push: Cmd,
        smove: bool,
        /// The element a list move popped.
        moved: Option<Key>,
    },
    /// `COPY`, `RENAME`, `RENAMENX`.
    Copy {
        src: Key,
        dest: Key,
        replace: bool,
        rename: Option<RenameReply>,
    },
    /// `PFMERGE dest src…`.
    PfMerge { dest: Key, srcs: Vec<Key> },
    /// `XREAD`/`XREADGROUP` without `BLOCK`: one read per stream, the replies concatenated.
    Streams { reads: Vec<Cmd> },
}

#[derive(Debug, Clone, Copy)]
enum RenameReply {
    /// `RENAME`: `OK`.
    Ok,
    /// `RENAMENX`: 1, or 0 when the destination exists.
    Flag,
}

impl Composition {
    /// The composition serving `cmd` across slots, or `None` when `cmd` is not one of the
    /// commands served this way (or its arguments cannot be read: the server's own error is
    /// then the better answer, and the caller refuses the command as before).
    pub fn of(cmd: &Cmd) -> Option<Composition> {
        let name = upper(cmd.name())?;
        // What the split serves (MGET, DEL …: most cross-slot traffic) is never composed:
        // answered before the arguments are read.
        if super::Merge::of(&name.to_ascii_lowercase()).is_some() {
            return None;
        }
        let args: Vec<&[u8]> = cmd.args().skip(1).collect();
        let op = match name.as_str() {
            "SUNION" | "SINTER" | "SDIFF" => Op::Sets {
                op: set_op(&name[1..]),
                dest: None,
                keys: owned(&args),
                card: None,
            },
            "SUNIONSTORE" | "SINTERSTORE" | "SDIFFSTORE" => {
                let (dest, keys) = args.split_first()?;
                Op::Sets {
                    op: set_op(&name[1..]),
                    dest: Some(dest.to_vec()),
                    keys: owned(keys),
                    card: None,
                }
            }
            "SINTERCARD" => {
                let (keys, rest) = numkeys(&args)?;
                Op::Sets {
                    op: SetOp::Inter,
                    dest: None,
                    keys,
                    card: Some(limit_option(rest)?),
                }
            }
            "ZUNION" | "ZINTER" | "ZDIFF" | "ZUNIONSTORE" | "ZINTERSTORE" | "ZDIFFSTORE"
            | "ZINTERCARD" => zsets(&name, &args)?,
            "ZRANGESTORE" => {
                let (dest, rest) = args.split_first()?;
                if rest.len() < 3 || rest.iter().any(|a| a.eq_ignore_ascii_case(b"WITHSCORES")) {
                    return None;
                }
                Op::RangeStore {
                    dest: dest.to_vec(),
                    range: Cmd::new("ZRANGE").with_args(rest),
                    bylex: rest.iter().any(|a| a.eq_ignore_ascii_case(b"BYLEX")),
                    members: Vec::new(),
                }
            }
            "SMOVE" => {
                let [src, dest, member] = args[..] else {
                    return None;
                };
                Op::Move {
                    dest: dest.to_vec(),
                    kind: "set",
                    pop: Cmd::from_args([&b"SREM"[..], src, member]),
                    push: Cmd::from_args([&b"SADD"[..], dest, member]),
                    smove: true,
                    moved: None,
                }
            }
            "LMOVE" | "RPOPLPUSH" => {
                let (src, dest, from, to) = match args[..] {
                    [src, dest] if name == "RPOPLPUSH" => (src, dest, &b"RIGHT"[..], &b"LEFT"[..]),
                    [src, dest, from, to] if name == "LMOVE" => (src, dest, from, to),
                    _ => return None,
                };
                let end = |side: &[u8], verb: &str| -> Option<String> {
                    if side.eq_ignore_ascii_case(b"LEFT") {
                        Some(format!("L{verb}"))
                    } else if side.eq_ignore_ascii_case(b"RIGHT") {
                        Some(format!("R{verb}"))
                    } else {
                        None
                    }
                };
                Op::Move {
                    dest: dest.to_vec(),
                    kind: "list",
                    pop: Cmd::new(end(from, "POP")?).with_arg(src),
                    push: Cmd::new(end(to, "PUSH")?).with_arg(dest),
                    smove: false,
                    moved: None,
                }
            }
            "COPY" => {
                let [src, dest, ref opts @ ..] = args[..] else {
                    return None;
                };
                let mut replace = false;
                let mut opts = opts.iter();
                while let Some(opt) = opts.next() {
                    if opt.eq_ignore_ascii_case(b"REPLACE") {
                        replace = true;
                    } else if opt.eq_ignore_ascii_case(b"DB") {
                        // A cluster has database 0 only; the server's error says so.
                        if opts.next()? != b"0" {
                            return None;
                        }
                    } else {
                        return None;
                    }
                }
                Op::Copy {
                    src: src.to_vec(),
                    dest: dest.to_vec(),
                    replace,
                    rename: None,
                }
            }
            "RENAME" | "RENAMENX" => {
                let [src, dest] = args[..] else {
                    return None;
                };
                let nx = name == "RENAMENX";
                Op::Copy {
                    src: src.to_vec(),
                    dest: dest.to_vec(),
                    replace: !nx,
                    rename: Some(if nx {
                        RenameReply::Flag
                    } else {
                        RenameReply::Ok
                    }),
                }
            }
            "PFMERGE" => {
                let (dest, srcs) = args.split_first()?;
                Op::PfMerge {
                    dest: dest.to_vec(),
                    srcs: owned(srcs),
                }
            }
            "XREAD" | "XREADGROUP" => streams(cmd.name(), &args)?,
            _ => return None,
        };
        Some(Composition { op, stage: 0 })
    }

    /// The first round.
    pub fn start(&mut self) -> Step {
        self.stage = 0;
        match &self.op {
            Op::Sets { keys, .. } => Step::Pipeline(per_key("SMEMBERS", keys)),
            Op::Zsets { keys, .. } => Step::Pipeline(
                keys.iter()
                    .map(|k| Cmd::from_args([&b"ZRANGE"[..], k, b"0", b"-1", b"WITHSCORES"]))
                    .collect(),
            ),
            Op::RangeStore { range, bylex, .. } => Step::Pipeline(vec![if *bylex {
                range.clone()
            } else {
                range.clone().with_arg("WITHSCORES")
            }]),
            Op::Move { dest, .. } => Step::Pipeline(vec![Cmd::new("TYPE").with_arg(dest)]),
            Op::Copy { src, .. } => Step::Pipeline(vec![
                Cmd::new("DUMP").with_arg(src),
                Cmd::new("PEXPIRETIME").with_arg(src),
            ]),
            Op::PfMerge { srcs, .. } => Step::Pipeline(per_key("GET", srcs)),
            Op::Streams { reads } => Step::Pipeline(reads.clone()),
        }
    }

    /// The next round, given the results of the round asked for last.
    pub fn resume(&mut self, results: Vec<Result<Reply, Error>>) -> Step {
        self.stage += 1;
        match self.advance(results) {
            Ok(step) => step,
            Err(e) => Step::Done(Err(e)),
        }
    }

    fn advance(&mut self, results: Vec<Result<Reply, Error>>) -> Result<Step, Error> {
        let stage = self.stage;
        match &mut self.op {
            Op::Sets {
                op,
                dest,
                keys: _,
                card,
            } => {
                if stage == 2 {
                    return stored_count(results);
                }
                let sets = results
                    .into_iter()
                    .map(|r| members(checked(r)?))
                    .collect::<Result<Vec<_>, Error>>()?;
                let out = set_algebra(*op, sets);
                Ok(match (dest, card) {
                    (_, Some(limit)) => Step::Done(Ok(Reply::Int(capped(out.len(), *limit)))),
                    (Some(dest), _) => replace_with(
                        dest,
                        (!out.is_empty())
                            .then(|| Cmd::new("SADD").with_arg(&*dest).with_args(&out)),
                    ),
                    (None, None) => {
                        Step::Done(Ok(Reply::Array(out.into_iter().map(Reply::Bulk).collect())))
                    }
                })
            }
            Op::Zsets {
                op,
                dest,
                keys,
                weights,
                agg,
                withscores,
                card,
                read,
                plain,
                writing,
            } => {
                if *writing {
                    return stored_count(results);
                }
                if read.is_empty() {
                    // The first round: the sorted sets; a plain set answers WRONGTYPE.
                    read.resize(keys.len(), None);
                    for (i, r) in results.into_iter().enumerate() {
                        match checked(r) {
                            Ok(reply) => read[i] = Some(scored(reply)?),
                            Err(Error::Server(e)) if e.is("WRONGTYPE") => plain.push(i),
                            Err(e) => return Err(e),
                        }
                    }
                    if !plain.is_empty() {
                        let again = plain
                            .iter()
                            .map(|&i| Cmd::new("SMEMBERS").with_arg(&keys[i]));
                        return Ok(Step::Pipeline(again.collect()));
                    }
                } else {
                    // The plain sets; one that is no set either answers WRONGTYPE here.
                    for (&i, r) in plain.iter().zip(results) {
                        let m = members(checked(r)?)?;
                        read[i] = Some(m.into_iter().map(|m| (m, 1.0)).collect());
                    }
                }
                let sets: Vec<Vec<(Key, f64)>> = read
                    .iter_mut()
                    .map(|r| r.take().unwrap_or_default())
                    .collect();
                let out = zset_algebra(*op, sets, weights, *agg);
                Ok(match (dest.as_ref(), card) {
                    (_, Some(limit)) => Step::Done(Ok(Reply::Int(capped(out.len(), *limit)))),
                    (Some(dest), _) => {
                        *writing = true;
                        zadd_write(dest, out.iter().map(|(m, s)| (m.as_slice(), score(*s))))
                    }
                    (None, None) => Step::Done(Ok(scored_reply(out, *withscores))),
                })
            }
            Op::RangeStore {
                dest,
                range,
                bylex,
                members: held,
            } => match stage {
                1 => {
                    let reply = checked(only(results)?)?;
                    if *bylex {
                        *held = members(reply)?;
                        if held.is_empty() {
                            return Ok(zadd_write(dest, std::iter::empty()));
                        }
                        let src = range.get(1).unwrap_or_default();
                        return Ok(Step::Pipeline(vec![Cmd::new("ZMSCORE")
                            .with_arg(src)
                            .with_args(held.iter())]));
                    }
                    let pairs = pairs(reply)?;
                    Ok(zadd_write(
                        dest,
                        pairs.iter().map(|(m, s)| (m.as_slice(), s.clone())),
                    ))
                }
                2 if *bylex => {
                    let scores = match checked(only(results)?)? {
                        Reply::Array(items) => items,
                        other => return Err(shape("ZMSCORE", &other)),
                    };
                    let pairs: Vec<(Key, Vec<u8>)> = std::mem::take(held)
                        .into_iter()
                        .zip(scores)
                        .filter_map(|(m, s)| s.as_bytes().map(|s| (m, s.to_vec())))
                        .collect();
                    Ok(zadd_write(
                        dest,
                        pairs.iter().map(|(m, s)| (m.as_slice(), s.clone())),
                    ))
                }
                _ => stored_count(results),
            },
            Op::Move {
                dest: _,
                kind,
                pop,
                push,
                smove,
                moved,
            } => match stage {
                1 => {
                    let found = checked(only(results)?)?;
                    let found = found.as_bytes().unwrap_or_default();
                    if found != b"none" && found != kind.as_bytes() {
                        return Err(wrongtype());
                    }
                    Ok(Step::Pipeline(vec![pop.clone()]))
                }
                2 => {
                    let popped = checked(only(results)?)?;
                    match (popped, *smove) {
                        (Reply::Int(1), true) => Ok(Step::Pipeline(vec![push.clone()])),
                        (popped @ (Reply::Nil | Reply::Int(0)), _) => Ok(Step::Done(Ok(popped))),
                        (Reply::Bulk(value), false) => {
                            let push = push.clone().with_arg(&value);
                            *moved = Some(value);
                            Ok(Step::Pipeline(vec![push]))
                        }
                        (other, _) => Err(shape(pop_name(pop), &other)),
                    }
                }
                _ => {
                    checked(only(results)?)?;
                    // SMOVE answers 1; a list move answers the element it moved.
                    Ok(Step::Done(Ok(match moved.take() {
                        Some(value) => Reply::Bulk(value),
                        None => Reply::Int(1),
                    })))
                }
            },
            Op::Copy {
                src,
                dest,
                replace,
                rename,
            } => match stage {
                1 => {
                    let mut results = results.into_iter();
                    let payload = checked(results.next().ok_or_else(missing_reply)?)?;
                    let expires = checked(results.next().ok_or_else(missing_reply)?)?;
                    let payload = match payload {
                        Reply::Nil => {
                            return Ok(Step::Done(match rename {
                                None => Ok(Reply::Int(0)),
                                Some(_) => {
                                    Err(Error::Server(ServerError::new("ERR", "no such key")))
                                }
                            }))
                        }
                        Reply::Bulk(p) => p,
                        other => return Err(shape("DUMP", &other)),
                    };
                    let at = expires.as_int().unwrap_or(-1).max(0);
                    let mut restore = Cmd::new("RESTORE")
                        .with_arg(&*dest)
                        .with_arg(at.to_string())
                        .with_arg(payload);
                    if *replace {
                        restore.arg("REPLACE");
                    }
                    if at > 0 {
                        restore.arg("ABSTTL");
                    }
                    Ok(Step::Pipeline(vec![restore]))
                }
                2 => match checked(only(results)?) {
                    Ok(_) => Ok(match rename {
                        None => Step::Done(Ok(Reply::Int(1))),
                        Some(_) => Step::Pipeline(vec![Cmd::new("DEL").with_arg(&*src)]),
                    }),
                    Err(Error::Server(e)) if e.is("BUSYKEY") => Ok(Step::Done(Ok(Reply::Int(0)))),
                    Err(e) => Err(e),
                },
                _ => {
                    checked(only(results)?)?;
                    Ok(Step::Done(Ok(match rename {
                        Some(RenameReply::Flag) => Reply::Int(1),
                        _ => Reply::Status("OK".into()),
                    })))
                }
            },
            Op::PfMerge { dest, srcs: _ } => match stage {
                1 => {
                    let mut write = Vec::new();
                    let mut temps = Vec::new();
                    for r in results {
                        if let Reply::Bulk(v) = checked(r)? {
                            let temp = temp_key(dest, temps.len());
                            write.push(Cmd::new("SET").with_arg(&temp).with_arg(v));
                            temps.push(temp);
                        }
                    }
                    write.push(Cmd::new("PFMERGE").with_arg(&*dest).with_args(&temps));
                    if !temps.is_empty() {
                        write.push(Cmd::new("DEL").with_args(&temps));
                    }
                    Ok(Step::Transaction(write))
                }
                _ => {
                    let merged = results
                        .into_iter()
                        .find(|r| !matches!(r, Ok(Reply::Status(s)) if s == "OK"))
                        .unwrap_or(Ok(Reply::Status("OK".into())));
                    match checked(merged)? {
                        // The DEL's count: every step said OK before it.
                        Reply::Int(_) => Ok(Step::Done(Ok(Reply::Status("OK".into())))),
                        other => Ok(Step::Done(Ok(other))),
                    }
                }
            },
            Op::Streams { .. } => {
                let mut arrays = Vec::new();
                let mut maps = Vec::new();
                for r in results {
                    match checked(r)? {
                        Reply::Nil => {}
                        Reply::Array(items) => arrays.extend(items),
                        Reply::Map(pairs) => maps.extend(pairs),
                        other => return Err(shape("XREAD", &other)),
                    }
                }
                Ok(Step::Done(Ok(if !maps.is_empty() {
                    Reply::Map(maps)
                } else if arrays.is_empty() {
                    Reply::Nil
                } else {
                    Reply::Array(arrays)
                })))
            }
        }
    }
}

/// The command name in capitals, for names short enough to be one of ours.
fn upper(name: &[u8]) -> Option<String> {
    (name.len() <= 11).then(|| String::from_utf8_lossy(name).to_ascii_uppercase())
}

fn set_op(name: &str) -> SetOp {
    if name.starts_with("UNION") {
        SetOp::Union
    } else if name.starts_with("INTER") {
        SetOp::Inter
    } else {
        SetOp::Diff
    }
}

fn owned(args: &[&[u8]]) -> Vec<Key> {
    args.iter().map(|a| a.to_vec()).collect()
}

fn per_key(command: &str, keys: &[Key]) -> Vec<Cmd> {
    keys.iter().map(|k| Cmd::new(command).with_arg(k)).collect()
}

fn parse<T: std::str::FromStr>(arg: &[u8]) -> Option<T> {
    std::str::from_utf8(arg).ok()?.parse().ok()
}

/// `numkeys key…` at the start of `args`: the keys and what follows them.
fn numkeys<'b, 'a>(args: &'b [&'a [u8]]) -> Option<(Vec<Key>, &'b [&'a [u8]])> {
    let (n, rest) = args.split_first()?;
    let n: usize = parse(n)?;
    if n == 0 || rest.len() < n {
        return None;
    }
    Some((owned(&rest[..n]), &rest[n..]))
}

/// `[LIMIT n]`, the only option of `SINTERCARD`/`ZINTERCARD` (0: no limit).
fn limit_option(rest: &[&[u8]]) -> Option<usize> {
    match rest {
        [] => Some(0),
        [opt, n] if opt.eq_ignore_ascii_case(b"LIMIT") => parse(n),
        _ => None,
    }
}

fn capped(len: usize, limit: usize) -> i64 {
    let n = if limit > 0 { len.min(limit) } else { len };
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn zsets(name: &str, args: &[&[u8]]) -> Option<Op> {
    let store = name.ends_with("STORE");
    let (dest, args) = if store {
        let (d, rest) = args.split_first()?;
        (Some(d.to_vec()), rest)
    } else {
        (None, args)
    };
    let op = set_op(&name[1..]);
    let (keys, mut rest) = numkeys(args)?;
    if name == "ZINTERCARD" {
        return Some(Op::Zsets {
            op: SetOp::Inter,
            dest: None,
            weights: vec![1.0; keys.len()],
            keys,
            agg: Agg::Sum,
            withscores: false,
            card: Some(limit_option(rest)?),
            read: Vec::new(),
            plain: Vec::new(),
            writing: false,
        });
    }
    let mut weights = vec![1.0; keys.len()];
    let mut agg = Agg::Sum;
    let mut withscores = false;
    while let Some((opt, tail)) = rest.split_first() {
        if opt.eq_ignore_ascii_case(b"WEIGHTS") && op != SetOp::Diff && tail.len() >= keys.len() {
            for (w, a) in weights.iter_mut().zip(&tail[..keys.len()]) {
                *w = parse_score(a)?;
            }
            rest = &tail[keys.len()..];
        } else if opt.eq_ignore_ascii_case(b"AGGREGATE") && op != SetOp::Diff {
            let (how, tail) = tail.split_first()?;
            agg = if how.eq_ignore_ascii_case(b"SUM") {
                Agg::Sum
            } else if how.eq_ignore_ascii_case(b"MIN") {
                Agg::Min
            } else if how.eq_ignore_ascii_case(b"MAX") {
                Agg::Max
            } else {
                return None;
            };
            rest = tail;
        } else if opt.eq_ignore_ascii_case(b"WITHSCORES") && !store {
            withscores = true;
            rest = tail;
        } else {
            return None;
        }
    }
    Some(Op::Zsets {
        op,
        dest,
        keys,
        weights,
        agg,
        withscores,
        card: None,
        read: Vec::new(),
        plain: Vec::new(),
        writing: false,
    })
}

fn streams(name: &[u8], args: &[&[u8]]) -> Option<Op> {
    let at = args
        .iter()
        .position(|a| a.eq_ignore_ascii_case(b"STREAMS"))?;
    let (options, rest) = (&args[..at], &args[at + 1..]);
    if options.iter().any(|a| a.eq_ignore_ascii_case(b"BLOCK")) || rest.len() % 2 != 0 {
        return None;
    }
    let (keys, ids) = rest.split_at(rest.len() / 2);
    let reads = keys
        .iter()
        .zip(ids)
        .map(|(k, id)| {
            Cmd::new(name)
                .with_args(options)
                .with_arg("STREAMS")
                .with_arg(k)
                .with_arg(id)
        })
        .collect();
    Some(Op::Streams { reads })
}

/// A key of `dest`'s slot that no application writes: for the sources of a `PFMERGE`, set
/// and deleted inside one MULTI on the destination's node. Its hash tag is the destination's
/// (or the destination's whole name); a name with a `}` but no hash tag cannot be a tag, so
/// a short tag of the same slot is searched for instead (a few thousand CRC16s at most).
fn temp_key(dest: &[u8], n: usize) -> Key {
    let slot = key_slot(dest);
    let named = |tag: &[u8]| {
        let mut key = b"{".to_vec();
        key.extend_from_slice(tag);
        key.extend_from_slice(format!("}}:slotshift:pfmerge:{n}").as_bytes());
        key
    };
    let key = named(hash_tag(dest));
    if key_slot(&key) == slot {
        return key;
    }
    (0u32..)
        .map(|i| named(i.to_string().as_bytes()))
        .find(|k| key_slot(k) == slot)
        .unwrap_or(key)
}

/// An error reply as an error.
fn checked(r: Result<Reply, Error>) -> Result<Reply, Error> {
    match r? {
        Reply::Error(e) => Err(Error::Server(e)),
        reply => Ok(reply),
    }
}

fn only(results: Vec<Result<Reply, Error>>) -> Result<Result<Reply, Error>, Error> {
    results.into_iter().next().ok_or_else(missing_reply)
}

fn missing_reply() -> Error {
    Error::Pipeline(super::PipelineError::NoReply)
}

fn wrongtype() -> Error {
    Error::Server(ServerError::new(
        "WRONGTYPE",
        "Operation against a key holding the wrong kind of value",
    ))
}

fn shape(command: &str, reply: &Reply) -> Error {
    Error::Server(ServerError::new(
        "ERR",
        format!("slotshift: unexpected reply to {command} while serving a cross-slot command: {reply:?}"),
    ))
}

fn pop_name(pop: &Cmd) -> &str {
    std::str::from_utf8(pop.name()).unwrap_or("POP")
}

/// A set's members (an array or RESP3 set of strings).
fn members(reply: Reply) -> Result<Vec<Key>, Error> {
    match reply {
        Reply::Array(items) | Reply::Set(items) => items
            .into_iter()
            .map(|m| match m {
                Reply::Bulk(b) => Ok(b),
                other => Err(shape("SMEMBERS", &other)),
            })
            .collect(),
        Reply::Nil => Ok(Vec::new()),
        other => Err(shape("SMEMBERS", &other)),
    }
}

/// `ZRANGE … WITHSCORES` as (member, score text) pairs: a flat RESP2 array or RESP3 pairs.
fn pairs(reply: Reply) -> Result<Vec<(Key, Vec<u8>)>, Error> {
    let text = |r: Reply| -> Result<Vec<u8>, Error> {
        match r {
            Reply::Bulk(b) => Ok(b),
            Reply::Double(d) => Ok(score(d)),
            other => Err(shape("ZRANGE", &other)),
        }
    };
    let Reply::Array(items) = reply else {
        return Err(shape("ZRANGE", &reply));
    };
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut items = items.into_iter();
    while let Some(item) = items.next() {
        match item {
            Reply::Array(pair) if pair.len() == 2 => {
                let mut pair = pair.into_iter();
                let (m, s) = (pair.next(), pair.next());
                out.push((
                    text(m.unwrap_or(Reply::Nil))?,
                    text(s.unwrap_or(Reply::Nil))?,
                ));
            }
            m => {
                let s = items.next().ok_or_else(|| shape("ZRANGE", &Reply::Nil))?;
                out.push((text(m)?, text(s)?));
            }
        }
    }
    Ok(out)
}

fn scored(reply: Reply) -> Result<Vec<(Key, f64)>, Error> {
    pairs(reply)?
        .into_iter()
        .map(|(m, s)| {
            parse_score(&s)
                .map(|s| (m, s))
                .ok_or_else(|| shape("ZRANGE", &Reply::Bulk(s)))
        })
        .collect()
}

fn parse_score(s: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(s).ok()?;
    match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok().filter(|v: &f64| !v.is_nan()),
    }
}

/// A score as Redis 7.0 writes it (`%.17g`; `inf`, `-inf`).
pub(crate) fn score(v: f64) -> Vec<u8> {
    if v.is_infinite() {
        return if v > 0.0 {
            b"inf".to_vec()
        } else {
            b"-inf".to_vec()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            b"-0".to_vec()
        } else {
            b"0".to_vec()
        };
    }
    // 17 significant digits, then %g's choice of notation and its trimming of zeros.
    let sci = format!("{v:.16e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if (-4..17).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(digits.trim_end_matches('0'));
        } else {
            let point = (exp + 1) as usize;
            let (int, frac) = digits.split_at(point.min(digits.len()));
            out.push_str(int);
            let frac = frac.trim_end_matches('0');
            if !frac.is_empty() {
                out.push('.');
                out.push_str(frac);
            }
        }
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        let rest = rest.trim_end_matches('0');
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push_str(&format!(
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        ));
    }
    out.into_bytes()
}

fn set_algebra(op: SetOp, sets: Vec<Vec<Key>>) -> Vec<Key> {
    let mut sets = sets.into_iter();
    let first = sets.next().unwrap_or_default();
    match op {
        SetOp::Union => {
            let mut seen: HashSet<Key> = HashSet::new();
            let mut out = Vec::new();
            for m in first.into_iter().chain(sets.flatten()) {
                if seen.insert(m.clone()) {
                    out.push(m);
                }
            }
            out
        }
        SetOp::Inter => {
            let others: Vec<HashSet<Key>> = sets.map(|s| s.into_iter().collect()).collect();
            first
                .into_iter()
                .filter(|m| others.iter().all(|o| o.contains(m)))
                .collect()
        }
        SetOp::Diff => {
            let others: HashSet<Key> = sets.flatten().collect();
            first.into_iter().filter(|m| !others.contains(m)).collect()
        }
    }
}

/// `a ⊕ b` as the server aggregates (a sum of `inf` and `-inf` is 0).
fn aggregate(agg: Agg, a: f64, b: f64) -> f64 {
    match agg {
        Agg::Sum => {
            let s = a + b;
            if s.is_nan() {
                0.0
            } else {
                s
            }
        }
        Agg::Min => a.min(b),
        Agg::Max => a.max(b),
    }
}

/// The members of the result with their scores, ordered as the server orders a sorted set
/// (score, then member bytes).
fn zset_algebra(
    op: SetOp,
    sets: Vec<Vec<(Key, f64)>>,
    weights: &[f64],
    agg: Agg,
) -> Vec<(Key, f64)> {
    let weighted = |s: f64, w: f64| {
        let v = s * w;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    let mut out: Vec<(Key, f64)> = match op {
        SetOp::Union => {
            let mut acc: HashMap<Key, f64> = HashMap::new();
            for (set, &w) in sets.into_iter().zip(weights) {
                for (m, s) in set {
                    let v = weighted(s, w);
                    acc.entry(m)
                        .and_modify(|cur| *cur = aggregate(agg, *cur, v))
                        .or_insert(v);
                }
            }
            acc.into_iter().collect()
        }
        SetOp::Inter => {
            let mut sets = sets.into_iter().zip(weights);
            let Some((first, &w0)) = sets.next() else {
                return Vec::new();
            };
            let others: Vec<(HashMap<Key, f64>, f64)> =
                sets.map(|(s, &w)| (s.into_iter().collect(), w)).collect();
            first
                .into_iter()
                .filter_map(|(m, s)| {
                    let mut v = weighted(s, w0);
                    for (o, w) in &others {
                        v = aggregate(agg, v, weighted(*o.get(&m)?, *w));
                    }
                    Some((m, v))
                })
                .collect()
        }
        SetOp::Diff => {
            let mut sets = sets.into_iter();
            let first = sets.next().unwrap_or_default();
            let others: HashSet<Key> = sets.flatten().map(|(m, _)| m).collect();
            first
                .into_iter()
                .filter(|(m, _)| !others.contains(m))
                .collect()
        }
    };
    out.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    out
}

fn scored_reply(out: Vec<(Key, f64)>, withscores: bool) -> Reply {
    let mut items = Vec::with_capacity(out.len() * if withscores { 2 } else { 1 });
    for (m, s) in out {
        items.push(Reply::Bulk(m));
        if withscores {
            items.push(Reply::Bulk(score(s)));
        }
    }
    Reply::Array(items)
}

/// Replaces `dest` with the members and scores given, in one MULTI on its slot.
fn zadd_write<'a>(dest: &[u8], members: impl Iterator<Item = (&'a [u8], Vec<u8>)>) -> Step {
    let mut zadd = Cmd::new("ZADD").with_arg(dest);
    let mut any = false;
    for (m, s) in members {
        zadd.arg(s);
        zadd.arg(m);
        any = true;
    }
    replace_with(dest, any.then_some(zadd))
}

/// The write of a `*STORE`: `dest` deleted, then filled by `fill` (none: the result is
/// empty, so the destination is only deleted, as the server does), in one MULTI on its slot.
fn replace_with(dest: &[u8], fill: Option<Cmd>) -> Step {
    Step::Transaction(
        std::iter::once(Cmd::new("DEL").with_arg(dest))
            .chain(fill)
            .collect(),
    )
}

/// The reply of a `*STORE` from its transaction's replies: the count the last write added
/// (0 when only the `DEL` ran).
fn stored_count(results: Vec<Result<Reply, Error>>) -> Result<Step, Error> {
    let mut added = 0;
    for (i, r) in results.into_iter().enumerate() {
        let r = checked(r)?;
        if i > 0 {
            added = r.as_int().unwrap_or(0);
        }
    }
    Ok(Step::Done(Ok(Reply::Int(added))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_written_as_redis_7_0_writes_them() {
        for (v, text) in [
            (1.0, "1"),
            (-2.0, "-2"),
            (0.5, "0.5"),
            (0.1, "0.10000000000000001"),
            (1e17, "1e+17"),
            (1.5e-5, "1.5e-05"),
            (1.0 / 3.0, "0.33333333333333331"),
            (0.0001, "0.0001"),
            (123456789.25, "123456789.25"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(String::from_utf8(score(v)).unwrap(), text, "{v}");
        }
    }

    #[test]
    fn a_temporary_key_shares_the_destinations_slot() {
        for dest in [&b"res"[..], b"{user:1}hll", b"a{b", b"{}x", b"a}b{", b"}"] {
            for n in [0, 3] {
                let t = temp_key(dest, n);
                assert_eq!(
                    key_slot(&t),
                    key_slot(dest),
                    "{}",
                    String::from_utf8_lossy(dest)
                );
                assert_ne!(t, dest);
            }
        }
    }

    #[test]
    fn blocking_and_unknown_commands_are_not_composed() {
        assert!(Composition::of(&Cmd::from_args([
            "XREAD", "BLOCK", "0", "STREAMS", "a", "b", "0", "0"
        ]))
        .is_none());
        assert!(Composition::of(&Cmd::from_args(["MSETNX", "a", "1", "b", "2"])).is_none());
        assert!(
            Composition::of(&Cmd::from_args(["BLMOVE", "a", "b", "LEFT", "LEFT", "0"])).is_none()
        );
    }
}
