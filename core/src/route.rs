//! Where a command goes on a cluster, and how the replies of a fan-out become one: decided
//! in this one module, from the command tips Redis 7's `COMMAND` gives (`request_policy`,
//! `response_policy`), which the generated key table carries.
//!
//! | request policy | what the store does |
//! |---|---|
//! | keys (no tip) | the slot of the first key; the CrossSlot batcher splits multi-key commands |
//! | a slot argument (`CLUSTER COUNTKEYSINSLOT`, `GETKEYSINSLOT`, `DELSLOTS` …) | that slot's master ([`slot_argument`]) |
//! | `all_shards` | every master |
//! | `all_nodes` | every master and every replica |
//! | `multi_shard` | split per slot by the batcher (MGET, MSET, DEL, EXISTS …) |
//! | `special`, or no tip and no key | one master |
//!
//! | response policy | the reply |
//! |---|---|
//! | `all_succeeded` | the first node's reply when every node succeeded, else the first error |
//! | `one_succeeded` | the first success, else the first error |
//! | `agg_sum` / `agg_min` / `agg_max` | the sum / least / greatest integer (element-wise for arrays) |
//! | `agg_logical_and` / `agg_logical_or` | 1 or 0, element-wise for arrays (`SCRIPT EXISTS`) |
//! | none (keyless fan-out) | the arrays concatenated (`KEYS`, `SLOWLOG GET`) |
//!
//! Where the tips say `special` the peers' convention holds: `RANDOMKEY` asks one master (and
//! the next while they answer nil), `INFO`, `MEMORY STATS`, `LATENCY …` and `FUNCTION STATS` go
//! to one master as on a single server — ask a node of your choice with
//! [`Store::call_on`](crate::store::Store::call_on) (the escape hatch for everything else).
//! `SCAN` keeps one master's cursor; [`Store::scan`](crate::store::Store::scan) walks them all.
//!
//! ```
//! use slotshift::command::Cmd;
//! use slotshift::route::{policy, Nodes, Policy, Aggregate};
//! assert_eq!(
//!     policy(&Cmd::from_args(["DBSIZE"])),
//!     Policy::FanOut { nodes: Nodes::Masters, reply: Aggregate::Sum }
//! );
//! assert_eq!(policy(&Cmd::from_args(["GET", "k"])), Policy::Keyed);
//! ```

use crate::command::Cmd;
use crate::reply::{Reply, ServerError};

/// Where a command goes on a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Policy {
    /// By its keys (the slot of the first key; multi-key commands split by the batcher).
    Keyed,
    /// To one master (keyless commands without a fan-out tip).
    OneMaster,
    /// To one master after another, until one answers something other than nil (`RANDOMKEY`).
    FirstNonNil,
    /// To every node of a kind, with the replies made one.
    FanOut {
        /// Which nodes.
        nodes: Nodes,
        /// How their replies become one.
        reply: Aggregate,
    },
}

/// Which nodes a fan-out reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Nodes {
    /// Every master that serves slots.
    Masters,
    /// Every master and every replica.
    All,
}

/// How the replies of a fan-out become one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Aggregate {
    /// Every node must succeed; the reply is the first node's.
    AllSucceeded,
    /// One success is enough; the reply is the first success.
    OneSucceeded,
    /// Integers added (element-wise for arrays).
    Sum,
    /// The least integer.
    Min,
    /// The greatest integer.
    Max,
    /// 1 when every node says 1 (element-wise for arrays).
    LogicalAnd,
    /// 1 when any node says 1 (element-wise for arrays).
    LogicalOr,
    /// Arrays concatenated in node order.
    Concat,
}

/// Refuses `cmds` when one of them changes the state of the connection it runs on (see
/// [`CommandError::NeedsOwnConnection`](crate::command::CommandError::NeedsOwnConnection)): on a
/// store's shared connections it would change, or wait on, every caller's state. Store
/// transactions send their own MULTI/EXEC; [`crate::session`] runs these commands.
pub(crate) fn refuse_connection_state(cmds: &[Cmd]) -> Result<(), crate::command::CommandError> {
    const WHOLE: &[&str] = &[
        "SELECT",
        "MULTI",
        "EXEC",
        "DISCARD",
        "WATCH",
        "UNWATCH",
        "SUBSCRIBE",
        "PSUBSCRIBE",
        "SSUBSCRIBE",
        "UNSUBSCRIBE",
        "PUNSUBSCRIBE",
        "SUNSUBSCRIBE",
        "MONITOR",
        "HELLO",
        "AUTH",
        "QUIT",
        "RESET",
        "READONLY",
        "READWRITE",
        "ASKING",
    ];
    const CLIENT: &[&str] = &[
        "SETNAME", "SETINFO", "REPLY", "TRACKING", "CACHING", "NO-EVICT", "NO-TOUCH",
    ];
    for cmd in cmds {
        let name = cmd.name();
        let refused = if name.eq_ignore_ascii_case(b"CLIENT") {
            cmd.get(1)
                .filter(|sub| {
                    CLIENT
                        .iter()
                        .any(|c| sub.eq_ignore_ascii_case(c.as_bytes()))
                })
                .map(|sub| {
                    format!(
                        "CLIENT {}",
                        String::from_utf8_lossy(sub).to_ascii_uppercase()
                    )
                })
        } else {
            WHOLE
                .iter()
                .find(|w| name.eq_ignore_ascii_case(w.as_bytes()))
                .map(|w| (*w).to_owned())
        };
        if let Some(command) = refused {
            return Err(crate::command::CommandError::NeedsOwnConnection { command });
        }
    }
    Ok(())
}

/// The `CLUSTER` subcommands that name a slot as their first argument and are about that
/// slot, so they go to its master. Redis gives them no key and no routing tip; redis-py, the
/// `redis` crate and go-redis send them by that argument.
const SLOT_SUBCOMMANDS: [&[u8]; 5] = [
    b"COUNTKEYSINSLOT",
    b"GETKEYSINSLOT",
    b"DELSLOTS",
    b"DELSLOTSRANGE",
    b"SETSLOT",
];

/// The slot a slot-addressed cluster command names (`CLUSTER COUNTKEYSINSLOT 42`,
/// `GETKEYSINSLOT`, `DELSLOTS`, `DELSLOTSRANGE`, `SETSLOT`: the first slot it names), which it
/// is routed by as a keyed command is by its key's slot. `None` for any other command and for
/// an argument that is not a slot number (the server then answers for itself).
///
/// ```
/// use slotshift::command::Cmd;
/// use slotshift::route::slot_argument;
/// use slotshift::slot::Slot;
/// let count = Cmd::from_args(["CLUSTER", "COUNTKEYSINSLOT", "42"]);
/// assert_eq!(slot_argument(&count), Slot::new(42));
/// assert_eq!(slot_argument(&Cmd::from_args(["CLUSTER", "INFO"])), None);
/// assert_eq!(slot_argument(&Cmd::from_args(["CLUSTER", "DELSLOTS", "16384"])), None);
/// ```
pub fn slot_argument(cmd: &Cmd) -> Option<crate::slot::Slot> {
    if !cmd.name().eq_ignore_ascii_case(b"CLUSTER") {
        return None;
    }
    let sub = cmd.get(1)?;
    if !SLOT_SUBCOMMANDS.iter().any(|s| sub.eq_ignore_ascii_case(s)) {
        return None;
    }
    let number: u16 = std::str::from_utf8(cmd.get(2)?).ok()?.trim().parse().ok()?;
    crate::slot::Slot::new(number)
}

/// The routing policy of `cmd`, from the key table's tips.
pub fn policy(cmd: &Cmd) -> Policy {
    crate::command::lookup(cmd).map_or(Policy::OneMaster, policy_of)
}

/// [`policy`] of a command already looked up in the key table (`info` is its entry, or its
/// subcommand's).
pub fn policy_of(info: &crate::command::CommandInfo) -> Policy {
    let mut request = None;
    let mut response = None;
    for tip in info.tips() {
        if let Some(p) = tip.strip_prefix("request_policy:") {
            request = Some(p);
        } else if let Some(p) = tip.strip_prefix("response_policy:") {
            response = Some(p);
        }
    }
    if info.name().eq_ignore_ascii_case("randomkey") {
        return Policy::FirstNonNil;
    }
    let nodes = match request {
        Some("all_shards") => Nodes::Masters,
        Some("all_nodes") => Nodes::All,
        Some("multi_shard") => return Policy::Keyed,
        _ if info.has_keys() => return Policy::Keyed,
        _ => return Policy::OneMaster,
    };
    let reply = match response {
        Some("all_succeeded") => Aggregate::AllSucceeded,
        Some("one_succeeded") => Aggregate::OneSucceeded,
        Some("agg_sum") => Aggregate::Sum,
        Some("agg_min") => Aggregate::Min,
        Some("agg_max") => Aggregate::Max,
        Some("agg_logical_and") => Aggregate::LogicalAnd,
        Some("agg_logical_or") => Aggregate::LogicalOr,
        None => Aggregate::Concat,
        // `special`: the client decides; as on one server, one master answers.
        Some(_) => return Policy::OneMaster,
    };
    Policy::FanOut { nodes, reply }
}

/// One reply from the replies of a fan-out, each with the node that gave it (for errors).
/// An error reply of a node is the result when the policy needs that node's success.
pub fn aggregate<E>(
    how: Aggregate,
    replies: Vec<(String, Result<Reply, E>)>,
) -> Result<Reply, AggregateError<E>> {
    let mut oks = Vec::with_capacity(replies.len());
    let mut first_error = None;
    for (node, r) in replies {
        match r {
            Ok(Reply::Error(e)) => {
                first_error.get_or_insert(AggregateError::Server { node, error: e });
            }
            Ok(reply) => oks.push((node, reply)),
            Err(e) => {
                first_error.get_or_insert(AggregateError::Failed { node, error: e });
            }
        }
    }
    if how == Aggregate::OneSucceeded {
        return match oks.into_iter().next() {
            Some((_, r)) => Ok(r),
            None => Err(first_error.unwrap_or(AggregateError::NoNodes)),
        };
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let mut replies = oks.into_iter();
    let Some((first_node, first)) = replies.next() else {
        return Err(AggregateError::NoNodes);
    };
    let mut acc = first;
    for (node, r) in replies {
        acc = match how {
            Aggregate::AllSucceeded => acc,
            Aggregate::Concat => concat(acc, r),
            _ => combine(how, acc, r).ok_or_else(|| AggregateError::Shape {
                node: node.clone(),
                how,
            })?,
        };
    }
    if matches!(how, Aggregate::Sum | Aggregate::Min | Aggregate::Max)
        && !matches!(acc, Reply::Int(_) | Reply::Array(_))
    {
        return Err(AggregateError::Shape {
            node: first_node,
            how,
        });
    }
    Ok(acc)
}

fn concat(a: Reply, b: Reply) -> Reply {
    match (a, b) {
        (Reply::Array(mut a), Reply::Array(b)) => {
            a.extend(b);
            Reply::Array(a)
        }
        (Reply::Array(a), Reply::Nil) => Reply::Array(a),
        (Reply::Nil, b) => b,
        (a, _) => a,
    }
}

fn combine(how: Aggregate, a: Reply, b: Reply) -> Option<Reply> {
    match (a, b) {
        (Reply::Int(x), Reply::Int(y)) => Some(Reply::Int(match how {
            Aggregate::Sum => x.checked_add(y)?,
            Aggregate::Min => x.min(y),
            Aggregate::Max => x.max(y),
            Aggregate::LogicalAnd => i64::from(x != 0 && y != 0),
            Aggregate::LogicalOr => i64::from(x != 0 || y != 0),
            _ => return None,
        })),
        (Reply::Array(xs), Reply::Array(ys)) if xs.len() == ys.len() => xs
            .into_iter()
            .zip(ys)
            .map(|(x, y)| combine(how, x, y))
            .collect::<Option<Vec<_>>>()
            .map(Reply::Array),
        _ => None,
    }
}

/// Why a fan-out has no one reply.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AggregateError<E> {
    /// A node answered with an error reply.
    Server {
        /// The node.
        node: String,
        /// Its error reply.
        error: ServerError,
    },
    /// A node could not be reached or routed to.
    Failed {
        /// The node.
        node: String,
        /// What failed.
        error: E,
    },
    /// The replies do not have the shape the policy adds up (not integers, arrays of
    /// different lengths).
    Shape {
        /// The node whose reply did not fit.
        node: String,
        /// The policy.
        how: Aggregate,
    },
    /// There was no node to ask.
    NoNodes,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Policy {
        policy(&Cmd::from_args(args))
    }

    fn fan(nodes: Nodes, reply: Aggregate) -> Policy {
        Policy::FanOut { nodes, reply }
    }

    #[test]
    fn policies_come_from_the_tips() {
        assert_eq!(p(&["DBSIZE"]), fan(Nodes::Masters, Aggregate::Sum));
        assert_eq!(p(&["KEYS", "*"]), fan(Nodes::Masters, Aggregate::Concat));
        assert_eq!(
            p(&["FLUSHALL"]),
            fan(Nodes::Masters, Aggregate::AllSucceeded)
        );
        assert_eq!(
            p(&["flushdb", "ASYNC"]),
            fan(Nodes::Masters, Aggregate::AllSucceeded)
        );
        assert_eq!(
            p(&["SCRIPT", "LOAD", "return 1"]),
            fan(Nodes::All, Aggregate::AllSucceeded)
        );
        assert_eq!(
            p(&["SCRIPT", "FLUSH"]),
            fan(Nodes::All, Aggregate::AllSucceeded)
        );
        assert_eq!(
            p(&["SCRIPT", "EXISTS", "a"]),
            fan(Nodes::Masters, Aggregate::LogicalAnd)
        );
        assert_eq!(
            p(&["FUNCTION", "LOAD", "x"]),
            fan(Nodes::Masters, Aggregate::AllSucceeded)
        );
        assert_eq!(
            p(&["CONFIG", "SET", "a", "b"]),
            fan(Nodes::All, Aggregate::AllSucceeded)
        );
        assert_eq!(p(&["PING"]), fan(Nodes::Masters, Aggregate::AllSucceeded));
        assert_eq!(p(&["WAIT", "1", "0"]), fan(Nodes::Masters, Aggregate::Min));
        assert_eq!(p(&["RANDOMKEY"]), Policy::FirstNonNil);
        assert_eq!(p(&["INFO"]), Policy::OneMaster);
        assert_eq!(p(&["SCAN", "0"]), Policy::OneMaster);
        assert_eq!(p(&["GET", "k"]), Policy::Keyed);
        assert_eq!(p(&["MGET", "a", "b"]), Policy::Keyed);
        assert_eq!(p(&["EVALSHA", "abc", "0"]), Policy::Keyed);
        assert_eq!(p(&["NOSUCH"]), Policy::OneMaster);
    }

    fn ok(r: Reply) -> (String, Result<Reply, String>) {
        ("n".into(), Ok(r))
    }

    #[test]
    fn replies_aggregate() {
        let ints = |v: &[i64]| v.iter().map(|&i| ok(Reply::Int(i))).collect::<Vec<_>>();
        assert_eq!(
            aggregate(Aggregate::Sum, ints(&[11, 9, 10])),
            Ok(Reply::Int(30))
        );
        assert_eq!(
            aggregate(Aggregate::Min, ints(&[2, 1, 3])),
            Ok(Reply::Int(1))
        );
        assert_eq!(
            aggregate(Aggregate::Max, ints(&[2, 1, 3])),
            Ok(Reply::Int(3))
        );
        let arr = |v: &[i64]| Reply::Array(v.iter().map(|&i| Reply::Int(i)).collect());
        assert_eq!(
            aggregate(
                Aggregate::LogicalAnd,
                vec![ok(arr(&[1, 1, 0])), ok(arr(&[1, 0, 0]))]
            ),
            Ok(arr(&[1, 0, 0]))
        );
        assert_eq!(
            aggregate(
                Aggregate::Concat,
                vec![ok(arr(&[1])), ok(arr(&[])), ok(arr(&[2, 3]))]
            ),
            Ok(arr(&[1, 2, 3]))
        );
        let err = ServerError::new("ERR", "boom");
        let mixed = vec![
            ok(Reply::Status("OK".into())),
            ("b".into(), Ok(Reply::Error(err.clone()))),
        ];
        assert_eq!(
            aggregate(Aggregate::AllSucceeded, mixed.clone()),
            Err(AggregateError::Server {
                node: "b".into(),
                error: err
            })
        );
        assert_eq!(
            aggregate(Aggregate::OneSucceeded, mixed),
            Ok(Reply::Status("OK".into()))
        );
        assert_eq!(
            aggregate(
                Aggregate::Sum,
                vec![ok(Reply::Int(1)), ok(Reply::Status("x".into()))]
            ),
            Err(AggregateError::Shape {
                node: "n".into(),
                how: Aggregate::Sum
            })
        );
        assert_eq!(
            aggregate::<String>(Aggregate::Sum, vec![]),
            Err(AggregateError::NoNodes)
        );
    }
}
