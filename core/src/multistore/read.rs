//! Reads: the default store, the read ramp to the primary, read fallback and shadow reads; and
//! how two replies are compared.

use super::flags::{Phase, Side};
use super::metrics::{command_label, digest, key_digest, Counter};
use super::Inner;
use crate::command::{Cmd, CommandInfo};
use crate::reply::Reply;
use crate::{Error, Result};

impl Inner {
    pub(super) async fn read(
        &self,
        cmd: &Cmd,
        info: &'static CommandInfo,
        phase: Phase,
    ) -> Result<Reply> {
        let default = phase.default_side();
        let dual = phase.dual_write();
        let target = if dual
            && default == Side::Secondary
            && self.opts.primary_read_percentage > 0
            && ramp_bucket(cmd) < self.opts.primary_read_percentage
        {
            Side::Primary
        } else {
            default
        };
        let shadow = dual
            && self.opts.shadow_read_ratio > 0.0
            && !self.breaker_open(target.other())
            && (self.opts.shadow_read_ratio >= 1.0
                || rand::random::<f64>() < self.opts.shadow_read_ratio);
        let reply = if shadow {
            self.metrics.shadow_read();
            // The shadow side is bounded like a non-default write: it never slows the read
            // by more than `non_default_timeout`.
            let (r, s) = tokio::join!(
                self.store(target).call_async(cmd),
                self.call_other(target.other(), cmd)
            );
            if let (Ok(a), Ok(b)) = (&r, &s) {
                if !replies_match(info, a, b) {
                    self.metrics.incr(Counter::ShadowMismatch, cmd.name());
                    log::warn!(
                        "multistore name={} command={} key_digest={} store={} value_digest={} \
                         other_value_digest={}: shadow read mismatch",
                        self.name,
                        command_label(cmd.name()),
                        key_digest(cmd),
                        target.as_str(),
                        reply_digest(a),
                        reply_digest(b),
                    );
                }
            }
            r?
        } else {
            self.store(target).call_async(cmd).await?
        };
        let hit = !is_miss(info, &reply);
        self.metrics.read(target, hit);
        if hit || !dual || !self.opts.fallback_reads || target != Side::Primary {
            return Ok(reply);
        }
        // The caller's answer is the primary's; a failing secondary only loses the fallback.
        let Ok(second) = self.call_other(Side::Secondary, cmd).await else {
            return Ok(reply);
        };
        let second_hit = !is_miss(info, &second);
        self.metrics.read(Side::Secondary, second_hit);
        if second_hit {
            self.metrics.incr(Counter::ReadFallback, cmd.name());
            log::info!(
                "multistore name={} command={} key_digest={}: not found on the primary, read \
                 from the secondary",
                self.name,
                command_label(cmd.name()),
                key_digest(cmd),
            );
            return Ok(second);
        }
        Ok(reply)
    }
}

/// 0–99 from the first key, so one key always reads from the same store at a given
/// percentage and raising the percentage only moves more keys over. Keyless reads: 99 (they
/// move last).
fn ramp_bucket(cmd: &Cmd) -> u8 {
    match crate::command::keys(cmd)
        .ok()
        .and_then(|k| k.first().copied())
    {
        Some(key) => {
            let h = blake3::hash(key);
            let b = h.as_bytes();
            (u16::from_le_bytes([b[0], b[1]]) % 100) as u8
        }
        None => 99,
    }
}

/// Whether a read found nothing: nil, an empty collection, `EXISTS` 0, `TTL`/`PTTL` -2, an
/// `MGET`/`HMGET` of nils only.
pub(super) fn is_miss(info: &CommandInfo, reply: &Reply) -> bool {
    match reply {
        Reply::Nil => true,
        Reply::Array(v) | Reply::Set(v) => v.is_empty() || v.iter().all(Reply::is_nil),
        Reply::Map(m) => m.is_empty(),
        Reply::Int(i) => match info.name() {
            "exists" => *i == 0,
            "ttl" | "pttl" | "expiretime" | "pexpiretime" => *i == -2,
            _ => false,
        },
        _ => false,
    }
}

/// Whether two replies to the same read agree: commands whose output is random never
/// disagree; those whose order is not defined are compared as multisets; TTLs by whether the
/// key exists and expires, not by the remaining time.
pub(super) fn replies_match(info: &CommandInfo, a: &Reply, b: &Reply) -> bool {
    if matches!(info.name(), "ttl" | "pttl") {
        let class = |r: &Reply| match r.as_int() {
            Some(i) if i < 0 => i,
            Some(_) => 0,
            None => i64::MIN,
        };
        return class(a) == class(b);
    }
    if info.tips().any(|t| t == "nondeterministic_output") {
        return true;
    }
    if info.tips().any(|t| t == "nondeterministic_output_order") {
        return sorted(a) == sorted(b);
    }
    a == b
}

fn sorted(r: &Reply) -> Vec<String> {
    let mut v: Vec<String> = match r {
        Reply::Array(items) | Reply::Set(items) => items.iter().map(|i| format!("{i:?}")).collect(),
        Reply::Map(pairs) => pairs.iter().map(|p| format!("{p:?}")).collect(),
        other => vec![format!("{other:?}")],
    };
    v.sort_unstable();
    v
}

/// A digest of a reply for logs (never the reply itself).
pub(super) fn reply_digest(r: &Reply) -> String {
    digest(format!("{r:?}").as_bytes())
}

/// Whether two per-command pipeline results agree.
pub(super) fn results_match(
    info: Option<&CommandInfo>,
    a: &Result<Reply>,
    b: &Result<Reply>,
) -> bool {
    match (a, b) {
        (Ok(x), Ok(y)) => match info {
            Some(info) => replies_match(info, x, y),
            None => x == y,
        },
        (Err(Error::Server(x)), Err(Error::Server(y))) => x.code() == y.code(),
        (Ok(Reply::Error(x)), Err(Error::Server(y)))
        | (Err(Error::Server(y)), Ok(Reply::Error(x))) => x.code() == y.code(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str) -> &'static CommandInfo {
        crate::command::lookup(&Cmd::new(name)).unwrap()
    }

    #[test]
    fn misses() {
        assert!(is_miss(info("get"), &Reply::Nil));
        assert!(!is_miss(info("get"), &Reply::Bulk(vec![])));
        assert!(is_miss(info("smembers"), &Reply::Array(vec![])));
        assert!(is_miss(
            info("mget"),
            &Reply::Array(vec![Reply::Nil, Reply::Nil])
        ));
        assert!(!is_miss(
            info("mget"),
            &Reply::Array(vec![Reply::Nil, Reply::Int(1)])
        ));
        assert!(is_miss(info("exists"), &Reply::Int(0)));
        assert!(!is_miss(info("llen"), &Reply::Int(0)));
        assert!(is_miss(info("ttl"), &Reply::Int(-2)));
        assert!(!is_miss(info("ttl"), &Reply::Int(-1)));
    }

    #[test]
    fn comparisons() {
        let a = Reply::Array(vec![Reply::Bulk(b"x".to_vec()), Reply::Bulk(b"y".to_vec())]);
        let b = Reply::Array(vec![Reply::Bulk(b"y".to_vec()), Reply::Bulk(b"x".to_vec())]);
        assert!(replies_match(info("smembers"), &a, &b));
        assert!(!replies_match(info("lrange"), &a, &b));
        assert!(replies_match(
            info("ttl"),
            &Reply::Int(100),
            &Reply::Int(98)
        ));
        assert!(!replies_match(
            info("ttl"),
            &Reply::Int(100),
            &Reply::Int(-1)
        ));
        assert!(replies_match(info("srandmember"), &a, &Reply::Nil));
        assert!(!replies_match(
            info("get"),
            &Reply::Nil,
            &Reply::Bulk(b"v".to_vec())
        ));
    }

    #[test]
    fn ramp_buckets_are_stable_and_spread() {
        let cmd = |k: String| Cmd::from_args(["GET".to_owned(), k]);
        assert_eq!(ramp_bucket(&cmd("a".into())), ramp_bucket(&cmd("a".into())));
        let under_10 = (0..10_000)
            .filter(|i| ramp_bucket(&cmd(format!("key:{i}"))) < 10)
            .count();
        assert!((700..1300).contains(&under_10), "{under_10}");
    }
}
