//! Dual writes: both stores concurrently (or the other one from the async queue), the default
//! store's reply to the caller; and blocking pops mirrored onto the other store.

use super::flags::Side;
use super::metrics::{error_kind, key_digest};
use super::Inner;
use crate::command::Cmd;
use crate::reply::Reply;
use crate::{Error, Result};

impl Inner {
    /// A write while dual-write is on.
    ///
    /// - Normally both stores at once: latency is the slower store's, not the sum.
    /// - When the default store's last call could not reach it, the default goes first and the
    ///   other store is written only if the default answered: a dead default store never
    ///   leaves writes on the other store as if it were the default.
    /// - When the other store's breaker is open, it is skipped (counted as a failure).
    pub(super) async fn write(&self, cmd: &Cmd, default: Side) -> Result<Reply> {
        let other = default.other();
        if let Some(queue) = &self.queue {
            let r = self.call_side(default, cmd).await;
            if r.is_ok() {
                queue.push(self.store(other), cmd);
            }
            return r;
        }
        if self.breaker_open(other) {
            let r = self.call_side(default, cmd).await;
            if r.is_ok() {
                self.non_default_failure("write", cmd.name(), "circuit_open", &key_digest(cmd));
            }
            return r;
        }
        if self.suspect(default) {
            let r = self.call_side(default, cmd).await;
            if r.is_ok() {
                let o = self.call_other(other, cmd).await;
                self.note_other(cmd, &r, o);
            }
            return r;
        }
        let (r, o) = tokio::join!(self.call_side(default, cmd), self.call_other(other, cmd));
        if let (Err(e), Ok(_)) = (&r, &o) {
            self.default_failure("write", cmd.name(), e, &key_digest(cmd));
        }
        self.note_other(cmd, &r, o);
        r
    }

    /// Counts a failure of the other store, unless both failed the same way (a WRONGTYPE on
    /// both is the caller's error, not a divergence).
    fn note_other(&self, cmd: &Cmd, default: &Result<Reply>, other: Result<Reply>) {
        let Err(e) = other else { return };
        if let (Err(Error::Server(d)), Error::Server(o)) = (default, &e) {
            if d.code() == o.code() {
                return;
            }
        }
        self.non_default_failure("write", cmd.name(), &error_kind(&e), &key_digest(cmd));
    }

    /// A blocking pop while dual-write is on: block on the default store only; then remove
    /// what it popped from the other store with non-blocking commands.
    pub(super) async fn blocking_pop(&self, cmd: &Cmd, default: Side) -> Result<Reply> {
        let reply = self.call_side(default, cmd).await?;
        let other = default.other();
        if self.breaker_open(other) {
            if !reply.is_nil() {
                self.non_default_failure(
                    "pop mirror",
                    cmd.name(),
                    "circuit_open",
                    &key_digest(cmd),
                );
            }
            return Ok(reply);
        }
        for m in mirror(cmd, &reply) {
            if let Err(e) = self.call_other(other, &m).await {
                self.non_default_failure(
                    "pop mirror",
                    cmd.name(),
                    &error_kind(&e),
                    &key_digest(cmd),
                );
            }
        }
        Ok(reply)
    }
}

fn upper(cmd: &Cmd) -> String {
    String::from_utf8_lossy(cmd.name()).to_ascii_uppercase()
}

fn bytes(r: Option<&Reply>) -> Option<&[u8]> {
    r.and_then(Reply::as_bytes)
}

fn items(r: &Reply) -> Option<&[Reply]> {
    match r {
        Reply::Array(v) | Reply::Set(v) => Some(v),
        _ => None,
    }
}

/// The non-blocking commands that remove from the other store what a blocking pop returned.
/// Nothing for a nil reply (the pop timed out).
pub(super) fn mirror(cmd: &Cmd, reply: &Reply) -> Vec<Cmd> {
    if reply.is_nil() {
        return Vec::new();
    }
    let name = upper(cmd);
    let mut out = Vec::new();
    match name.as_str() {
        // [key, element]: remove that element once, from the same end.
        "BLPOP" | "BRPOP" => {
            let Some(v) = items(reply) else { return out };
            if let (Some(key), Some(elem)) = (bytes(v.first()), bytes(v.get(1))) {
                let count = if name == "BLPOP" { "1" } else { "-1" };
                out.push(Cmd::from_args([&b"LREM"[..], key, count.as_bytes(), elem]));
            }
        }
        // The same move, without blocking: BLMOVE src dst wf wt timeout -> LMOVE src dst wf wt.
        "BLMOVE" => {
            let args: Vec<&[u8]> = cmd.args().skip(1).take(4).collect();
            if args.len() == 4 {
                let mut m = Cmd::new("LMOVE");
                m.args_extend(args);
                out.push(m);
            }
        }
        "BRPOPLPUSH" => {
            let args: Vec<&[u8]> = cmd.args().skip(1).take(2).collect();
            if args.len() == 2 {
                let mut m = Cmd::new("RPOPLPUSH");
                m.args_extend(args);
                out.push(m);
            }
        }
        // [key, [elements]]: remove each element once from the popped end.
        "BLMPOP" => {
            let Some(v) = items(reply) else { return out };
            let from_left = cmd.args().any(|a| a.eq_ignore_ascii_case(b"LEFT"));
            let count: &[u8] = if from_left { b"1" } else { b"-1" };
            if let (Some(key), Some(elems)) = (bytes(v.first()), v.get(1).and_then(items)) {
                for e in elems.iter().filter_map(Reply::as_bytes) {
                    out.push(Cmd::from_args([&b"LREM"[..], key, count, e]));
                }
            }
        }
        // [key, member, score]: ZREM the member.
        "BZPOPMIN" | "BZPOPMAX" => {
            let Some(v) = items(reply) else { return out };
            if let (Some(key), Some(member)) = (bytes(v.first()), bytes(v.get(1))) {
                out.push(Cmd::from_args([&b"ZREM"[..], key, member]));
            }
        }
        // [key, [[member, score], …]]: ZREM the members.
        "BZMPOP" => {
            let Some(v) = items(reply) else { return out };
            if let (Some(key), Some(pairs)) = (bytes(v.first()), v.get(1).and_then(items)) {
                let mut m = Cmd::new("ZREM");
                m.arg(key);
                for p in pairs {
                    if let Some(member) = items(p).and_then(|p| bytes(p.first())) {
                        m.arg(member);
                    }
                }
                if m.len() > 2 {
                    out.push(m);
                }
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }

    fn show(cmds: Vec<Cmd>) -> Vec<Vec<String>> {
        cmds.iter()
            .map(|c| {
                c.args()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn mirrors_of_blocking_pops() {
        let c = |a: &[&str]| Cmd::from_args(a);
        assert_eq!(
            show(mirror(
                &c(&["BLPOP", "a", "b", "0"]),
                &Reply::Array(vec![b("b"), b("x")])
            )),
            vec![vec!["LREM", "b", "1", "x"]]
        );
        assert_eq!(
            show(mirror(
                &c(&["brpop", "a", "0"]),
                &Reply::Array(vec![b("a"), b("y")])
            )),
            vec![vec!["LREM", "a", "-1", "y"]]
        );
        assert!(mirror(&c(&["BLPOP", "a", "1"]), &Reply::Nil).is_empty());
        assert_eq!(
            show(mirror(
                &c(&["BLMOVE", "s", "d", "LEFT", "RIGHT", "0"]),
                &b("x")
            )),
            vec![vec!["LMOVE", "s", "d", "LEFT", "RIGHT"]]
        );
        assert_eq!(
            show(mirror(
                &c(&["BZPOPMIN", "z", "0"]),
                &Reply::Array(vec![b("z"), b("m"), b("1")])
            )),
            vec![vec!["ZREM", "z", "m"]]
        );
        assert_eq!(
            show(mirror(
                &c(&["BLMPOP", "0", "1", "l", "RIGHT", "COUNT", "2"]),
                &Reply::Array(vec![b("l"), Reply::Array(vec![b("p"), b("q")])])
            )),
            vec![vec!["LREM", "l", "-1", "p"], vec!["LREM", "l", "-1", "q"]]
        );
        assert_eq!(
            show(mirror(
                &c(&["BZMPOP", "0", "1", "z", "MIN"]),
                &Reply::Array(vec![
                    b("z"),
                    Reply::Array(vec![Reply::Array(vec![b("m"), b("1")])])
                ])
            )),
            vec![vec!["ZREM", "z", "m"]]
        );
    }
}
