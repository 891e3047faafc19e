//! Units of work and what comes back for them: one command or one MULTI/EXEC transaction,
//! where it goes ([`Route`]), how one node's units go out as one write ([`send_to_node`]), and
//! how its replies split into per-unit [`Outcome`]s.

use std::time::Duration;

use crate::command::{Cmd, CommandFlags};
use crate::net::node::{NodeConn, NodeFailure};
use crate::net::wire::Part;
use crate::net::{classify, Counters, NodeAddr, Verdict};
use crate::reply::{Reply, ServerError};
use crate::slot::Slot;

/// Where a unit of work goes.
#[derive(Debug, Clone)]
pub(crate) enum Route {
    /// The master (or, for reads when allowed, a replica) of a slot.
    Slot { slot: Slot, replica: bool },
    /// Any master (keyless commands).
    AnyMaster,
    /// One node, by address (per-master commands such as SCAN).
    Node(NodeAddr),
}

/// One command, or one MULTI/EXEC transaction, to be routed as a whole.
#[derive(Debug, Clone)]
pub(crate) struct Unit<'a> {
    /// One command, or the commands between MULTI and EXEC (borrowed from the caller; turned
    /// into the wire format only when sent).
    pub(crate) cmds: &'a [Cmd],
    pub(crate) transaction: bool,
    pub(crate) route: Route,
    /// May be sent again after a connection loss (read-only, or the caller said idempotent).
    pub(crate) resend_on_loss: bool,
}

impl<'a> Unit<'a> {
    pub(crate) fn single(cmd: &'a Cmd, route: Route, resend_on_loss: bool) -> Unit<'a> {
        Unit {
            cmds: std::slice::from_ref(cmd),
            transaction: false,
            route,
            resend_on_loss,
        }
    }

    /// The slot the unit is routed by (slot 0 for keyless units, for error messages).
    pub(crate) fn slot(&self) -> Slot {
        match self.route {
            Route::Slot { slot, .. } => slot,
            _ => Slot::MIN,
        }
    }
}

/// What came back for one unit.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The unit's reply, or the error reply the caller gets as it is.
    Done(Result<Reply, ServerError>),
    /// An error reply the router must act on (redirect, retry) before it is final.
    Error(ServerError),
    /// Fewer replies came back than were sent for: the connection is out of step.
    Missing,
}

impl Outcome {
    /// The outcome of a lone plain command from its reply.
    pub(crate) fn of_reply(reply: Reply) -> Outcome {
        plain_outcome(Some(reply))
    }
}

/// Splits a unit's replies into its result, or the error the router must act on.
fn unit_outcome(unit: &Unit<'_>, asking: bool, mut replies: Vec<Reply>) -> Outcome {
    if !asking && !unit.transaction {
        return plain_outcome(replies.pop());
    }
    if asking {
        if replies.is_empty() {
            return Outcome::Missing;
        }
        // ASKING's own reply: an error there is the unit's answer.
        if let Reply::Error(e) = replies.remove(0) {
            return Outcome::Done(Err(e));
        }
    }
    if !unit.transaction {
        return plain_outcome(replies.pop());
    }
    // MULTI, QUEUED…, EXEC
    let Some(exec) = replies.pop() else {
        return Outcome::Missing;
    };
    let mut refused = None;
    // The replies after MULTI's own, one per command.
    for (i, r) in replies.into_iter().enumerate().skip(1) {
        if let Reply::Error(e) = r {
            if classify(&e, "") != Verdict::Final {
                // Refused at queue time, so EXEC aborted and nothing ran: route it again.
                return Outcome::Error(e);
            }
            if refused.is_none() {
                refused = Some((i - 1, e));
            }
        }
    }
    match exec {
        Reply::Error(e) if classify(&e, "") != Verdict::Final => Outcome::Error(e),
        Reply::Error(e) => Outcome::Done(Err(match refused {
            Some((i, cause)) if e.is("EXECABORT") => e.with_refused(i, cause),
            _ => e,
        })),
        r => Outcome::Done(Ok(r)),
    }
}

/// The outcome of a plain (one command, no ASKING) unit from its one reply.
fn plain_outcome(reply: Option<Reply>) -> Outcome {
    match reply {
        Some(Reply::Error(e)) => Outcome::Error(e),
        Some(r) => Outcome::Done(Ok(r)),
        None => Outcome::Missing,
    }
}

/// Sends one node's units as one pipeline (a lone plain command as one command), with at
/// most `window` commands in flight ([`NodeConn::send_windowed`]; `usize::MAX`: no bound).
pub(crate) async fn send_to_node(
    node: &NodeConn,
    idxs: &[usize],
    units: &[Unit<'_>],
    asking: impl Fn(usize) -> bool,
    counters: &Counters,
    window: usize,
) -> Result<Vec<Outcome>, NodeFailure> {
    if let [i] = idxs {
        let unit = &units[*i];
        if !unit.transaction && !asking(*i) && unit.cmds.len() == 1 {
            counters.add_commands(1);
            let reply = match blocking_wait(&unit.cmds[0]) {
                Some(wait) => node.send_blocking(&unit.cmds[0], wait).await?,
                None => node.send_one(&unit.cmds[0]).await?,
            };
            return Ok(vec![plain_outcome(Some(reply))]);
        }
    }
    let mut parts = Vec::with_capacity(idxs.len());
    let mut counts = Vec::with_capacity(idxs.len());
    for &i in idxs {
        let unit = &units[i];
        let before = parts.len();
        if asking(i) {
            parts.push(Part::Word("asking"));
        }
        if unit.transaction {
            parts.push(Part::Word("multi"));
        }
        parts.extend(unit.cmds.iter().map(Part::Cmd));
        if unit.transaction {
            parts.push(Part::Word("exec"));
        }
        counts.push(parts.len() - before);
    }
    counters.add_commands(parts.len());
    let mut replies = node.send_windowed(&parts, window).await?.into_iter();
    Ok(idxs
        .iter()
        .zip(counts)
        .map(|(&i, n)| {
            if n == 1 {
                return plain_outcome(replies.next());
            }
            let own: Vec<Reply> = replies.by_ref().take(n).collect();
            unit_outcome(&units[i], asking(i), own)
        })
        .collect())
}

/// For a command that blocks the connection (the key table's `blocking` flag: BLPOP, XREAD …
/// BLOCK, WAIT …): how long it may block (`Some(None)`: for ever). `None` for every other
/// command, and for a blocking command whose form does not block (XREAD without BLOCK).
pub(crate) fn blocking_wait(cmd: &Cmd) -> Option<Option<Duration>> {
    let info = crate::command::lookup(cmd).ok()?;
    let name = cmd.name().to_ascii_uppercase();
    // WAIT and WAITAOF hold the connection too, though Redis 7.0 does not flag them.
    if !info.flags().contains(CommandFlags::BLOCKING) && !name.starts_with(b"WAIT") {
        return None;
    }
    let secs = |arg: Option<&[u8]>| {
        let v: f64 = arg
            .and_then(|a| std::str::from_utf8(a).ok())
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or(0.0);
        if v > 0.0 && v.is_finite() {
            Some(Duration::from_secs_f64(v.min(1e9)))
        } else {
            None
        }
    };
    let millis = |arg: Option<&[u8]>| secs(arg).map(|d| d / 1000);
    let last = cmd.len().checked_sub(1).and_then(|i| cmd.get(i));
    Some(match name.as_slice() {
        b"BLPOP" | b"BRPOP" | b"BZPOPMIN" | b"BZPOPMAX" | b"BLMOVE" | b"BRPOPLPUSH" => secs(last),
        b"BLMPOP" | b"BZMPOP" => secs(cmd.get(1)),
        b"WAIT" => millis(cmd.get(2)),
        b"WAITAOF" => millis(cmd.get(3)),
        b"XREAD" | b"XREADGROUP" => {
            let block = cmd.args().position(|a| a.eq_ignore_ascii_case(b"BLOCK"))?;
            millis(cmd.get(block + 1))
        }
        // BLOCKING in the table but no wait argument this function knows: wait for ever
        // rather than cut it short with the response timeout.
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(args: &[&str]) -> Option<Option<Duration>> {
        blocking_wait(&Cmd::from_args(args))
    }

    #[test]
    fn blocking_commands_and_their_waits() {
        assert_eq!(
            wait(&["BLPOP", "a", "b", "1.5"]),
            Some(Some(Duration::from_millis(1500)))
        );
        assert_eq!(wait(&["blpop", "a", "0"]), Some(None));
        assert_eq!(
            wait(&["BLMPOP", "2", "1", "k", "LEFT"]),
            Some(Some(Duration::from_secs(2)))
        );
        assert_eq!(
            wait(&["XREAD", "COUNT", "1", "BLOCK", "250", "STREAMS", "s", "$"]),
            Some(Some(Duration::from_millis(250)))
        );
        assert_eq!(wait(&["XREAD", "STREAMS", "s", "0"]), None);
        assert_eq!(
            wait(&["WAIT", "1", "100"]),
            Some(Some(Duration::from_millis(100)))
        );
        assert_eq!(wait(&["GET", "k"]), None);
        assert_eq!(wait(&["NOSUCHCOMMAND", "k"]), None);
    }

    #[test]
    fn a_missing_reply_is_not_nil() {
        assert!(matches!(plain_outcome(None), Outcome::Missing));
        let cmd = Cmd::from_args(["GET", "k"]);
        let unit = Unit::single(&cmd, Route::AnyMaster, true);
        assert!(matches!(
            unit_outcome(&unit, true, vec![]),
            Outcome::Missing
        ));
    }
}
