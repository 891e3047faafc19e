//! [`KeyTable`]: command lookup and key extraction.
//!
//! Key extraction follows the server's own algorithm (Redis 7 `getKeysFromCommandWithSpecs`):
//! walk the key specs in order; a spec that begins at a keyword that is absent contributes
//! nothing; a spec that cannot be evaluated (unknown begin-search or find-keys, `incomplete`,
//! a count out of range) sends the whole command to the command's [`GetKeysRule`], the
//! hand-written rule the server also uses — only SORT, SORT_RO and MIGRATE need one on Redis 7.
//! Where the server would accept arguments its command then rejects (a count of `abc`, more keys
//! announced than given), we return an error naming the argument instead.

use super::cmd::Cmd;
use super::info::{BeginSearch, CommandInfo, FindKeys, GetKeysRule, KeySpecFlags};
use super::CommandError;
use smallvec::SmallVec;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Argument positions of the keys of one command (0 is the command name), in the server's
/// order. Inline up to four keys.
pub type KeyIndices = SmallVec<[usize; 4]>;

/// The key table: every command the server knows, with its flags and key specs.
///
/// [`KeyTable::builtin`] is the table generated from Redis 7 and committed (`table.rs`); a table
/// read from a live server with [`KeyTable::from_server`] is built by the same parsing code.
#[derive(Debug, Clone)]
pub struct KeyTable {
    pub(super) commands: Cow<'static, [CommandInfo]>,
    pub(super) server_version: Cow<'static, str>,
    /// `commands` by name, built at the first lookup.
    by_name: NameIndex,
}

impl PartialEq for KeyTable {
    fn eq(&self, other: &KeyTable) -> bool {
        self.commands == other.commands && self.server_version == other.server_version
    }
}

impl Eq for KeyTable {}

static BUILTIN: KeyTable = KeyTable {
    commands: Cow::Borrowed(super::table::COMMANDS),
    server_version: Cow::Borrowed(super::table::SERVER_VERSION),
    by_name: NameIndex(OnceLock::new()),
};

/// Lowercase command names to their position in the table: every command of every call and
/// pipeline is looked up several times (routing, batching, stats), so a lookup is one hash of
/// the name rather than a binary search of ~240 names.
#[derive(Debug, Clone, Default)]
struct NameIndex(OnceLock<HashMap<Box<[u8]>, usize, rustc_hash::FxBuildHasher>>);

impl NameIndex {
    fn find(&self, commands: &[CommandInfo], given: &[u8]) -> Option<usize> {
        let index = self.0.get_or_init(|| {
            commands
                .iter()
                .enumerate()
                .map(|(i, c)| (c.name.as_bytes().into(), i))
                .collect()
        });
        lowercase(given, |lower| index.get(lower).copied())
    }
}

/// Longer than every command and subcommand name of Redis 7 (the longest is 21 bytes): names
/// up to this long are lowered on the stack.
const MAX_NAME: usize = 32;

/// Runs `f` on `given` in ASCII lowercase, lowered once: on the stack up to [`MAX_NAME`]
/// bytes (every real name), in a new buffer beyond.
fn lowercase<R>(given: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    if given.len() > MAX_NAME {
        return f(&given.to_ascii_lowercase());
    }
    let mut buf = [0u8; MAX_NAME];
    let lower = &mut buf[..given.len()];
    lower.copy_from_slice(given);
    lower.make_ascii_lowercase();
    f(lower)
}

/// Finds `given` among `entries` sorted by their lowercase `name`, ASCII case-insensitively
/// (each probe a plain byte comparison with the name lowered once).
fn find_by_name<T>(entries: &[T], name: impl Fn(&T) -> &str, given: &[u8]) -> Option<usize> {
    lowercase(given, |lower| {
        entries
            .binary_search_by(|e| name(e).as_bytes().cmp(lower))
            .ok()
    })
}

/// Strict integer parse, as the server's `string2ll`: optional `-`, digits, no leading zeros,
/// no `+`, no spaces.
fn parse_count(arg: &[u8]) -> Option<i64> {
    let (neg, digits) = match arg {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, arg),
    };
    if digits.is_empty()
        || !digits.iter().all(u8::is_ascii_digit)
        || (digits.len() > 1 && digits[0] == b'0')
        || (neg && digits == b"0")
    {
        return None;
    }
    let s = std::str::from_utf8(arg).ok()?;
    s.parse().ok()
}

/// A short, printable rendering of an argument for an error message.
pub(super) fn shown(arg: &[u8]) -> String {
    const MAX: usize = 48;
    let s = String::from_utf8_lossy(&arg[..arg.len().min(MAX)]).into_owned();
    if arg.len() > MAX {
        format!("{s}…")
    } else {
        s
    }
}

/// Why the key specs could not be evaluated.
enum SpecFailure {
    /// An `unknown` begin-search/find-keys or an `incomplete` spec: a rule is needed.
    NeedsRule,
    /// The count argument at this index is not a non-negative integer.
    BadCount(usize),
    /// The count argument at this index is zero, and the command needs keys.
    ZeroCount(usize),
    /// The count argument at this index announces more keys than there are arguments.
    CountTooLarge(usize),
    /// The count would be at this index, past the end.
    NoCount(usize),
    /// The keys of a spec would start or end past the last argument.
    OutOfRange,
}

impl KeyTable {
    /// The table generated from Redis 7 and committed with the crate.
    pub fn builtin() -> &'static KeyTable {
        &BUILTIN
    }

    /// The server version the table came from (`7.0.15`).
    pub fn server_version(&self) -> &str {
        &self.server_version
    }

    /// Every command, sorted by name.
    pub fn commands(&self) -> &[CommandInfo] {
        &self.commands
    }

    /// Builds a table from commands (any order); subcommands are sorted too.
    pub fn from_commands(
        mut commands: Vec<CommandInfo>,
        server_version: impl Into<String>,
    ) -> KeyTable {
        for c in &mut commands {
            c.subcommands.to_mut().sort_by(|a, b| a.name.cmp(&b.name));
        }
        commands.sort_by(|a, b| a.name.cmp(&b.name));
        KeyTable {
            commands: Cow::Owned(commands),
            server_version: Cow::Owned(server_version.into()),
            by_name: NameIndex::default(),
        }
    }

    /// The command (not subcommand) with this name, ASCII case-insensitively.
    pub fn get(&self, name: &[u8]) -> Option<&CommandInfo> {
        self.by_name
            .find(&self.commands, name)
            .map(|i| &self.commands[i])
    }

    /// The entry that describes `cmd`: the command, or its subcommand (`OBJECT ENCODING`,
    /// `XINFO STREAM`, `CLIENT KILL`) when the command has subcommands and one is given.
    ///
    /// Does not allocate on success. Arity is checked by [`key_indices`](Self::key_indices),
    /// not here.
    pub fn lookup(&self, cmd: &Cmd) -> Result<&CommandInfo, CommandError> {
        let name = cmd.get(0).ok_or(CommandError::Empty)?;
        let info = self
            .get(name)
            .ok_or_else(|| CommandError::Unknown(shown(name).to_ascii_uppercase()))?;
        if info.subcommands.is_empty() {
            return Ok(info);
        }
        let Some(sub) = cmd.get(1) else {
            return Ok(info);
        };
        find_by_name(&info.subcommands, CommandInfo::subcommand_name, sub)
            .map(|i| &info.subcommands[i])
            .ok_or_else(|| CommandError::UnknownSubcommand {
                command: info.display_name(),
                subcommand: shown(sub).to_ascii_uppercase(),
            })
    }

    /// Argument positions of the keys of `cmd` (0 is the command name), in the server's order —
    /// what `COMMAND GETKEYS` answers, as positions.
    ///
    /// A command without key arguments (PING, CONFIG GET, PUBLISH) gives an empty list. Errors:
    /// unknown command or subcommand, wrong arity, a malformed or out-of-range key count, a
    /// command that needs a key and names none.
    pub fn key_indices(&self, cmd: &Cmd) -> Result<KeyIndices, CommandError> {
        let info = self.lookup(cmd)?;
        key_indices_for(info, cmd)
    }

    /// The first key of `cmd` (the one a cluster routes a single-slot command by), or `None`
    /// for a command without keys. Does not allocate.
    pub fn first_key<'a>(&self, cmd: &'a Cmd) -> Result<Option<&'a [u8]>, CommandError> {
        let idx = self.key_indices(cmd)?;
        Ok(idx.first().and_then(|&i| cmd.get(i)))
    }

    /// The key arguments of `cmd`, borrowed from it, in the server's order.
    pub fn keys<'a>(&self, cmd: &'a Cmd) -> Result<Vec<&'a [u8]>, CommandError> {
        let idx = self.key_indices(cmd)?;
        Ok(idx.iter().filter_map(|&i| cmd.get(i)).collect())
    }
}

/// Keys of `cmd` according to `info` (which must be the entry [`KeyTable::lookup`] gave).
pub fn key_indices_for(info: &CommandInfo, cmd: &Cmd) -> Result<KeyIndices, CommandError> {
    indices_for(info, cmd, false)
}

/// The arguments that decide which slot `cmd` goes to on a cluster: its keys, and the shard
/// channels of `SPUBLISH` / `SSUBSCRIBE` / `SUNSUBSCRIBE` (key specs flagged `not_key`: names
/// that are not keys but hash to a slot like one).
pub fn slot_indices_for(info: &CommandInfo, cmd: &Cmd) -> Result<KeyIndices, CommandError> {
    indices_for(info, cmd, true)
}

fn indices_for(
    info: &CommandInfo,
    cmd: &Cmd,
    not_keys_too: bool,
) -> Result<KeyIndices, CommandError> {
    let argc = cmd.len();
    if !info.arity_ok(argc) {
        return Err(CommandError::WrongArity {
            command: info.display_name(),
            arity: info.arity,
            given: argc,
        });
    }
    let mut out = KeyIndices::new();
    let has_names = info.has_keys() || (not_keys_too && !info.key_specs.is_empty());
    if !has_names {
        return Ok(out);
    }
    if let Err(failure) = keys_from_specs(info, cmd, not_keys_too, &mut out) {
        out.clear();
        match (failure, info.getkeys) {
            (_, Some(rule)) => apply_rule(rule, info, cmd, &mut out)?,
            (failure, None) => return Err(failure_error(failure, info, cmd)),
        }
    }
    if out.is_empty() && !info.flags.keys_optional() {
        return Err(CommandError::NoKeys {
            command: info.display_name(),
        });
    }
    Ok(out)
}

fn failure_error(failure: SpecFailure, info: &CommandInfo, cmd: &Cmd) -> CommandError {
    let command = info.display_name();
    let arg = |i: usize| shown(cmd.get(i).unwrap_or_default());
    match failure {
        SpecFailure::NeedsRule => CommandError::Unsupported { command },
        SpecFailure::BadCount(index) => CommandError::InvalidNumkeys {
            command,
            index,
            value: arg(index),
            reason: "is not a non-negative integer",
        },
        SpecFailure::ZeroCount(index) => CommandError::InvalidNumkeys {
            command,
            index,
            value: arg(index),
            reason: "must be at least 1",
        },
        SpecFailure::CountTooLarge(index) => CommandError::InvalidNumkeys {
            command,
            index,
            value: arg(index),
            reason: "announces more keys than there are arguments",
        },
        SpecFailure::NoCount(index) => CommandError::InvalidArguments {
            command,
            detail: format!("the number of keys is missing (argument {index})"),
        },
        SpecFailure::OutOfRange => CommandError::InvalidArguments {
            command,
            detail: "the key arguments are missing".to_owned(),
        },
    }
}

fn eq_ci(arg: Option<&[u8]>, word: &str) -> bool {
    arg.is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
}

/// The server's key-spec walk. Positions are pushed to `out` in spec order.
fn keys_from_specs(
    info: &CommandInfo,
    cmd: &Cmd,
    not_keys_too: bool,
    out: &mut KeyIndices,
) -> Result<(), SpecFailure> {
    // i64 throughout: argument counts fit, and negative offsets stay exact.
    let argc = i64::try_from(cmd.len()).map_err(|_| SpecFailure::OutOfRange)?;
    for spec in info.key_specs.iter() {
        if spec.flags.contains(KeySpecFlags::NOT_KEY) && !not_keys_too {
            continue;
        }
        let mut first: i64 = match &spec.begin_search {
            BeginSearch::Index(pos) => i64::from(*pos),
            BeginSearch::Keyword { keyword, startfrom } => {
                let startfrom = i64::from(*startfrom);
                let (start, end) = if startfrom > 0 {
                    (startfrom, argc - 1)
                } else {
                    (argc + startfrom, 1)
                };
                // The end index itself is never examined: a keyword there has nothing after it.
                let mut found = 0;
                let mut i = start;
                while i != end {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if eq_ci(cmd.get(i as usize), keyword) {
                        found = i + 1;
                        break;
                    }
                    i = if start <= end { i + 1 } else { i - 1 };
                }
                if found == 0 {
                    continue; // keyword absent: this spec names no key
                }
                found
            }
            BeginSearch::Unknown => return Err(SpecFailure::NeedsRule),
        };
        let (last, step) = match spec.find_keys {
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let lastkey = i64::from(lastkey);
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    // C division truncates toward zero, as Rust's does.
                    first + ((argc - first) / i64::from(limit) + lastkey)
                };
                (last, i64::from(keystep))
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                let at = first + i64::from(keynumidx);
                if at >= argc || at < 0 {
                    return Err(SpecFailure::NoCount(at.max(0) as usize));
                }
                let at = at as usize;
                let n = cmd
                    .get(at)
                    .and_then(parse_count)
                    .filter(|n| *n >= 0)
                    .ok_or(SpecFailure::BadCount(at))?;
                first += i64::from(firstkey);
                if n == 0 {
                    if info.flags.keys_optional() {
                        continue; // EVAL script 0: no keys, and that is fine
                    }
                    return Err(SpecFailure::ZeroCount(at));
                }
                // As the server counts: `n` arguments from the first key, every `keystep`-th.
                let last = first + n - 1;
                if last >= argc {
                    return Err(SpecFailure::CountTooLarge(at));
                }
                (last, i64::from(keystep))
            }
            FindKeys::Unknown => return Err(SpecFailure::NeedsRule),
        };
        if last >= argc || last < first || first >= argc || first < 1 || step < 1 {
            return Err(SpecFailure::OutOfRange);
        }
        let mut i = first;
        while i <= last {
            out.push(i as usize);
            i += step;
        }
        if spec.flags.contains(KeySpecFlags::INCOMPLETE) {
            return Err(SpecFailure::NeedsRule);
        }
    }
    Ok(())
}

/// The hand-written rules, for the commands whose key specs the server itself does not trust.
fn apply_rule(
    rule: GetKeysRule,
    info: &CommandInfo,
    cmd: &Cmd,
    out: &mut KeyIndices,
) -> Result<(), CommandError> {
    let argc = cmd.len();
    match rule {
        GetKeysRule::SortRo => out.push(1),
        GetKeysRule::Sort => {
            out.push(1);
            let mut store = None;
            let mut i = 2;
            while i < argc {
                let a = cmd.get(i);
                if eq_ci(a, "limit") {
                    i += 2;
                } else if eq_ci(a, "get") || eq_ci(a, "by") {
                    i += 1;
                } else if eq_ci(a, "store") && i + 1 < argc {
                    // The last STORE wins, as in SORT itself. Its argument is examined next,
                    // exactly as the server's rule does.
                    store = Some(i + 1);
                }
                i += 1;
            }
            out.extend(store);
        }
        GetKeysRule::Migrate => {
            let (mut first, mut num) = (3, 1);
            let mut i = 6;
            while i < argc {
                let a = cmd.get(i);
                if eq_ci(a, "keys") {
                    if cmd.get(3).is_some_and(|k| !k.is_empty()) {
                        return Err(CommandError::InvalidArguments {
                            command: info.display_name(),
                            detail: "with KEYS, the key argument (argument 3) must be empty"
                                .to_owned(),
                        });
                    }
                    first = i + 1;
                    num = argc - first;
                    break;
                }
                if eq_ci(a, "auth") {
                    i += 1;
                } else if eq_ci(a, "auth2") {
                    i += 2;
                }
                i += 1;
            }
            out.extend(first..first + num);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_channels_route_but_are_not_keys() {
        let table = KeyTable::builtin();
        for (args, channels) in [
            (&["SPUBLISH", "orders:{42}", "paid"][..], vec![1]),
            (&["SSUBSCRIBE", "a{x}", "b{x}"][..], vec![1, 2]),
            (&["SUNSUBSCRIBE", "a{x}"][..], vec![1]),
        ] {
            let cmd = Cmd::from_args(args);
            let info = table.lookup(&cmd).unwrap();
            assert!(key_indices_for(info, &cmd).unwrap().is_empty(), "{args:?}");
            assert_eq!(
                slot_indices_for(info, &cmd).unwrap().to_vec(),
                channels,
                "{args:?}"
            );
        }
        // Keys route as keys; PUBLISH (any node) has nothing to route by.
        let get = Cmd::from_args(&["GET", "k"]);
        assert_eq!(
            slot_indices_for(table.lookup(&get).unwrap(), &get)
                .unwrap()
                .to_vec(),
            vec![1]
        );
        let publish = Cmd::from_args(&["PUBLISH", "c", "m"]);
        assert!(slot_indices_for(table.lookup(&publish).unwrap(), &publish)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn strict_counts() {
        assert_eq!(parse_count(b"0"), Some(0));
        assert_eq!(parse_count(b"12"), Some(12));
        assert_eq!(parse_count(b"-3"), Some(-3));
        for bad in [
            &b""[..],
            b"01",
            b"+1",
            b" 1",
            b"1a",
            b"-",
            b"-0",
            b"99999999999999999999",
        ] {
            assert_eq!(parse_count(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn every_command_is_found_by_name_in_any_case_and_near_misses_are_not() {
        let table = KeyTable::builtin();
        for info in table.commands() {
            let name = info.name();
            for given in [name.to_owned(), name.to_ascii_uppercase()] {
                let found = table.get(given.as_bytes()).map(CommandInfo::name);
                assert_eq!(found, Some(name), "{given}");
            }
            // One byte more or less, a NUL, a space: another name (short and long ones).
            for near in [
                format!("{name}\0"),
                format!("{name} "),
                format!("{name}x"),
                name[..name.len() - 1].to_owned(),
            ] {
                let found = table.get(near.as_bytes()).map(CommandInfo::name);
                assert!(
                    found.is_none() || found != Some(name),
                    "{near:?} found {found:?}"
                );
            }
        }
        assert!(table.get(b"").is_none());
        assert!(table.get("GET\u{e9}".as_bytes()).is_none());
        assert!(table.get(&[0xff; 5]).is_none());
    }

    #[test]
    fn case_insensitive_order() {
        let names = ["get", "getex", "set"];
        let find = |given: &[u8]| find_by_name(&names, |n| n, given);
        assert_eq!(find(b"GET"), Some(0));
        assert_eq!(find(b"gEt"), Some(0));
        assert_eq!(find(b"GETEX"), Some(1));
        assert_eq!(find(b"Set"), Some(2));
        assert_eq!(find(b"ge"), None);
        // Beyond the stack buffer the name is lowered the same way.
        let long = "x".repeat(MAX_NAME + 1);
        let longer = [long.as_str()];
        assert_eq!(
            find_by_name(&longer, |n| n, long.to_ascii_uppercase().as_bytes()),
            Some(0)
        );
    }

    #[test]
    fn shown_truncates() {
        assert_eq!(shown(b"abc"), "abc");
        let long = vec![b'x'; 100];
        assert_eq!(shown(&long).chars().count(), 49);
    }
}
