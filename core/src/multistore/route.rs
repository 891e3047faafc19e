//! Which store(s) a command goes to in which phase: a pure function of the command's class
//! (from the key table's flags, not a hand list) and the phase.

use super::flags::{Phase, Side};
use crate::command::{self, AclCategories, Cmd, CommandInfo};

/// What a command does, as far as routing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Read-only (`readonly` flag): the default store (or the read ramp).
    Read,
    /// Modifies data (`write` flag, scripts and functions that are not `_RO`, PUBLISH and
    /// SPUBLISH): both stores when dual-write is on.
    Write,
    /// A blocking pop (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP):
    /// blocks on the default store; what it popped is removed from the other without blocking.
    BlockingPop,
    /// Connection, server and pub/sub-listening commands (PING, INFO, SUBSCRIBE, WAIT, CLIENT …):
    /// the default store.
    Other,
    /// Not in the key table.
    Unknown,
}

/// Where to send one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// One store only.
    Only(Side),
    /// Both stores; the caller gets `default`'s reply.
    Both {
        /// The store whose reply counts.
        default: Side,
    },
    /// Block on `default`; then remove what it popped from the other store.
    BlockThenMirror {
        /// The store that blocks.
        default: Side,
    },
}

const BLOCKING_POPS: &[&str] = &[
    "blpop",
    "brpop",
    "blmove",
    "brpoplpush",
    "blmpop",
    "bzpopmin",
    "bzpopmax",
    "bzmpop",
];

/// The class of a command known to the key table.
pub(crate) fn class_of(info: &CommandInfo) -> Class {
    let flags = info.flags();
    let name = info.name();
    if flags.is_blocking() && flags.is_write() && BLOCKING_POPS.contains(&name) {
        Class::BlockingPop
    } else if flags.is_write() {
        Class::Write
    } else if flags.is_readonly() {
        Class::Read
    } else if info.acl_categories().contains(AclCategories::SCRIPTING) {
        // EVAL, EVALSHA, FCALL, SCRIPT LOAD/FLUSH carry no `write` flag in Redis 7.0 but may
        // write; their read-only forms (EVAL_RO, FCALL_RO) are `readonly` and handled above.
        Class::Write
    } else if matches!(name, "publish" | "spublish") {
        Class::Write
    } else {
        Class::Other
    }
}

/// Classifies a command line; also returns its table entry when there is one.
pub(crate) fn classify(cmd: &Cmd) -> (Class, Option<&'static CommandInfo>) {
    match command::lookup(cmd) {
        Ok(info) => (class_of(info), Some(info)),
        Err(_) => (Class::Unknown, None),
    }
}

/// The routing table (GitLab §1.2 states A–D; `Unknown` goes to the default store and is
/// counted or, in strict mode, refused before this is asked).
pub(crate) fn plan(class: Class, phase: Phase) -> Plan {
    let default = phase.default_side();
    if !phase.dual_write() {
        return Plan::Only(default);
    }
    match class {
        Class::Write => Plan::Both { default },
        Class::BlockingPop => Plan::BlockThenMirror { default },
        Class::Read | Class::Other | Class::Unknown => Plan::Only(default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Phase::*;
    use Side::*;

    fn class(args: &[&str]) -> Class {
        classify(&Cmd::from_args(args)).0
    }

    #[test]
    fn classes_come_from_the_key_table() {
        for (args, want) in [
            (&["SET", "k", "v"][..], Class::Write),
            (&["GETDEL", "k"], Class::Write),
            (&["LPUSH", "k", "v"], Class::Write),
            (&["XADD", "s", "*", "f", "v"], Class::Write),
            (&["EXPIRE", "k", "10"], Class::Write),
            (&["MEMORY", "USAGE", "k"], Class::Read),
            (&["EVAL", "return 1", "0"], Class::Write),
            (&["EVALSHA", "abc", "0"], Class::Write),
            (&["EVAL_RO", "return 1", "0"], Class::Read),
            (&["FCALL", "f", "0"], Class::Write),
            (&["SCRIPT", "LOAD", "return 1"], Class::Write),
            (&["PUBLISH", "c", "m"], Class::Write),
            (&["GET", "k"], Class::Read),
            (&["HGETALL", "k"], Class::Read),
            (&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"], Class::Read),
            (&["BLPOP", "k", "0"], Class::BlockingPop),
            (&["BZPOPMIN", "k", "0"], Class::BlockingPop),
            (
                &["BLMOVE", "a", "b", "LEFT", "RIGHT", "0"],
                Class::BlockingPop,
            ),
            (&["PING"], Class::Other),
            (&["INFO"], Class::Other),
            (&["SUBSCRIBE", "c"], Class::Other),
            (&["WAIT", "0", "0"], Class::Other),
            (&["FROBNICATE", "k"], Class::Unknown),
        ] {
            assert_eq!(class(args), want, "{args:?}");
        }
    }

    /// The whole table: class × phase → plan.
    #[test]
    fn routing_table() {
        let rows: &[(Class, [Plan; 4])] = &[
            (
                Class::Write,
                [
                    Plan::Only(Secondary),
                    Plan::Both { default: Secondary },
                    Plan::Both { default: Primary },
                    Plan::Only(Primary),
                ],
            ),
            (
                Class::BlockingPop,
                [
                    Plan::Only(Secondary),
                    Plan::BlockThenMirror { default: Secondary },
                    Plan::BlockThenMirror { default: Primary },
                    Plan::Only(Primary),
                ],
            ),
            (
                Class::Read,
                [
                    Plan::Only(Secondary),
                    Plan::Only(Secondary),
                    Plan::Only(Primary),
                    Plan::Only(Primary),
                ],
            ),
            (
                Class::Other,
                [
                    Plan::Only(Secondary),
                    Plan::Only(Secondary),
                    Plan::Only(Primary),
                    Plan::Only(Primary),
                ],
            ),
            (
                Class::Unknown,
                [
                    Plan::Only(Secondary),
                    Plan::Only(Secondary),
                    Plan::Only(Primary),
                    Plan::Only(Primary),
                ],
            ),
        ];
        for (class, plans) in rows {
            for (phase, want) in [
                SecondaryOnly,
                DualWriteSecondaryDefault,
                DualWritePrimaryDefault,
                PrimaryOnly,
            ]
            .into_iter()
            .zip(plans)
            {
                assert_eq!(plan(*class, phase), *want, "{class:?} in {phase}");
            }
        }
    }
}
