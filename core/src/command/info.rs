//! What the server says about one command: arity, flags, ACL categories, key specs, subcommands.
//!
//! The types mirror the Redis 7 `COMMAND INFO` reply one-to-one, so the committed table and a
//! table read from a live server are the same values (see [`KeyTable`](super::KeyTable)).

use std::borrow::Cow;

bitflags::bitflags! {
    /// Command flags as `COMMAND INFO` lists them (`write`, `readonly`, `blocking`, …).
    ///
    /// Flags a newer server invents and this version does not know are dropped when a table is
    /// read from a server; they never change which arguments are keys.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct CommandFlags: u32 {
        /// `write`: may modify the keyspace.
        const WRITE = 1 << 0;
        /// `readonly`: reads and never modifies keys.
        const READONLY = 1 << 1;
        /// `denyoom`: refused when the server is over `maxmemory`.
        const DENYOOM = 1 << 2;
        /// `module`: implemented by a module.
        const MODULE = 1 << 3;
        /// `admin`: administrative command (CONFIG, DEBUG, SHUTDOWN, …).
        const ADMIN = 1 << 4;
        /// `pubsub`: a publish/subscribe command.
        const PUBSUB = 1 << 5;
        /// `noscript`: not allowed from a script.
        const NOSCRIPT = 1 << 6;
        /// `blocking`: may block the client (BLPOP, XREAD … BLOCK, WAIT, …).
        const BLOCKING = 1 << 7;
        /// `loading`: allowed while the dataset loads.
        const LOADING = 1 << 8;
        /// `stale`: allowed on a replica with stale data.
        const STALE = 1 << 9;
        /// `skip_monitor`: not shown by MONITOR.
        const SKIP_MONITOR = 1 << 10;
        /// `skip_slowlog`: not shown in the slow log.
        const SKIP_SLOWLOG = 1 << 11;
        /// `asking`: allowed on an importing slot after ASKING.
        const ASKING = 1 << 12;
        /// `fast`: O(1) or O(log N).
        const FAST = 1 << 13;
        /// `no_auth`: allowed before authentication.
        const NO_AUTH = 1 << 14;
        /// `may_replicate`: may be propagated to replicas.
        const MAY_REPLICATE = 1 << 15;
        /// `no_mandatory_keys`: may legitimately name no key at all (EVAL with 0 keys).
        const NO_MANDATORY_KEYS = 1 << 16;
        /// `no_multi`: not allowed inside MULTI.
        const NO_MULTI = 1 << 17;
        /// `movablekeys`: key positions depend on the arguments (first/last/step are not enough).
        const MOVABLEKEYS = 1 << 18;
        /// `allow_busy`: allowed while a script is busy.
        const ALLOW_BUSY = 1 << 19;
        /// `no_async_loading`: refused during async loading.
        const NO_ASYNC_LOADING = 1 << 20;
        /// `sentinel`: available in Sentinel mode.
        const SENTINEL = 1 << 21;
        /// `only_sentinel`: available only in Sentinel mode.
        const ONLY_SENTINEL = 1 << 22;
        /// `module_no_cluster`: a module command refused in cluster mode.
        const MODULE_NO_CLUSTER = 1 << 23;
        /// `touches_arbitrary_keys` (Redis 7.2): may touch keys it does not name.
        const TOUCHES_ARBITRARY_KEYS = 1 << 24;
    }
}

/// `COMMAND INFO` flag names, in bit order, as the server spells them.
pub(crate) const COMMAND_FLAG_NAMES: &[(&str, CommandFlags)] = &[
    ("write", CommandFlags::WRITE),
    ("readonly", CommandFlags::READONLY),
    ("denyoom", CommandFlags::DENYOOM),
    ("module", CommandFlags::MODULE),
    ("admin", CommandFlags::ADMIN),
    ("pubsub", CommandFlags::PUBSUB),
    ("noscript", CommandFlags::NOSCRIPT),
    ("blocking", CommandFlags::BLOCKING),
    ("loading", CommandFlags::LOADING),
    ("stale", CommandFlags::STALE),
    ("skip_monitor", CommandFlags::SKIP_MONITOR),
    ("skip_slowlog", CommandFlags::SKIP_SLOWLOG),
    ("asking", CommandFlags::ASKING),
    ("fast", CommandFlags::FAST),
    ("no_auth", CommandFlags::NO_AUTH),
    ("may_replicate", CommandFlags::MAY_REPLICATE),
    ("no_mandatory_keys", CommandFlags::NO_MANDATORY_KEYS),
    ("no_multi", CommandFlags::NO_MULTI),
    ("movablekeys", CommandFlags::MOVABLEKEYS),
    ("allow_busy", CommandFlags::ALLOW_BUSY),
    ("no_async_loading", CommandFlags::NO_ASYNC_LOADING),
    ("sentinel", CommandFlags::SENTINEL),
    ("only_sentinel", CommandFlags::ONLY_SENTINEL),
    ("module_no_cluster", CommandFlags::MODULE_NO_CLUSTER),
    (
        "touches_arbitrary_keys",
        CommandFlags::TOUCHES_ARBITRARY_KEYS,
    ),
];

impl CommandFlags {
    /// The command may modify the keyspace (`write`).
    pub const fn is_write(self) -> bool {
        self.contains(Self::WRITE)
    }
    /// The command only reads (`readonly`).
    pub const fn is_readonly(self) -> bool {
        self.contains(Self::READONLY)
    }
    /// The command may block the connection (`blocking`).
    pub const fn is_blocking(self) -> bool {
        self.contains(Self::BLOCKING)
    }
    /// The command is a publish/subscribe command (`pubsub`).
    pub const fn is_pubsub(self) -> bool {
        self.contains(Self::PUBSUB)
    }
    /// The command is administrative (`admin`).
    pub const fn is_admin(self) -> bool {
        self.contains(Self::ADMIN)
    }
    /// Key positions depend on the arguments (`movablekeys`).
    pub const fn has_movable_keys(self) -> bool {
        self.contains(Self::MOVABLEKEYS)
    }
    /// The command may name no key (`no_mandatory_keys`).
    pub const fn keys_optional(self) -> bool {
        self.contains(Self::NO_MANDATORY_KEYS)
    }
    /// The server's names of the flags that are set, in a fixed order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        COMMAND_FLAG_NAMES
            .iter()
            .filter(move |(_, f)| self.contains(*f))
            .map(|(n, _)| *n)
    }
}

bitflags::bitflags! {
    /// ACL categories (`@read`, `@write`, `@blocking`, …) as `COMMAND INFO` lists them.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct AclCategories: u32 {
        /// `@keyspace`
        const KEYSPACE = 1 << 0;
        /// `@read`
        const READ = 1 << 1;
        /// `@write`
        const WRITE = 1 << 2;
        /// `@set`
        const SET = 1 << 3;
        /// `@sortedset`
        const SORTEDSET = 1 << 4;
        /// `@list`
        const LIST = 1 << 5;
        /// `@hash`
        const HASH = 1 << 6;
        /// `@string`
        const STRING = 1 << 7;
        /// `@bitmap`
        const BITMAP = 1 << 8;
        /// `@hyperloglog`
        const HYPERLOGLOG = 1 << 9;
        /// `@geo`
        const GEO = 1 << 10;
        /// `@stream`
        const STREAM = 1 << 11;
        /// `@pubsub`
        const PUBSUB = 1 << 12;
        /// `@admin`
        const ADMIN = 1 << 13;
        /// `@fast`
        const FAST = 1 << 14;
        /// `@slow`
        const SLOW = 1 << 15;
        /// `@blocking`
        const BLOCKING = 1 << 16;
        /// `@dangerous`
        const DANGEROUS = 1 << 17;
        /// `@connection`
        const CONNECTION = 1 << 18;
        /// `@transaction`
        const TRANSACTION = 1 << 19;
        /// `@scripting`
        const SCRIPTING = 1 << 20;
    }
}

/// ACL category names, in bit order, as the server spells them.
pub(crate) const ACL_CATEGORY_NAMES: &[(&str, AclCategories)] = &[
    ("@keyspace", AclCategories::KEYSPACE),
    ("@read", AclCategories::READ),
    ("@write", AclCategories::WRITE),
    ("@set", AclCategories::SET),
    ("@sortedset", AclCategories::SORTEDSET),
    ("@list", AclCategories::LIST),
    ("@hash", AclCategories::HASH),
    ("@string", AclCategories::STRING),
    ("@bitmap", AclCategories::BITMAP),
    ("@hyperloglog", AclCategories::HYPERLOGLOG),
    ("@geo", AclCategories::GEO),
    ("@stream", AclCategories::STREAM),
    ("@pubsub", AclCategories::PUBSUB),
    ("@admin", AclCategories::ADMIN),
    ("@fast", AclCategories::FAST),
    ("@slow", AclCategories::SLOW),
    ("@blocking", AclCategories::BLOCKING),
    ("@dangerous", AclCategories::DANGEROUS),
    ("@connection", AclCategories::CONNECTION),
    ("@transaction", AclCategories::TRANSACTION),
    ("@scripting", AclCategories::SCRIPTING),
];

impl AclCategories {
    /// The server's names of the categories that are set (with the `@`), in a fixed order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        ACL_CATEGORY_NAMES
            .iter()
            .filter(move |(_, f)| self.contains(*f))
            .map(|(n, _)| *n)
    }
}

bitflags::bitflags! {
    /// Flags of one key spec (`RO`, `RW`, `OW`, `RM`, `access`, …, `incomplete`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct KeySpecFlags: u32 {
        /// `RO`: read only.
        const RO = 1 << 0;
        /// `RW`: read and write.
        const RW = 1 << 1;
        /// `OW`: overwrite.
        const OW = 1 << 2;
        /// `RM`: remove.
        const RM = 1 << 3;
        /// `access`: the value is returned or used.
        const ACCESS = 1 << 4;
        /// `update`: the value is updated.
        const UPDATE = 1 << 5;
        /// `insert`: data is added.
        const INSERT = 1 << 6;
        /// `delete`: data is removed.
        const DELETE = 1 << 7;
        /// `not_key`: a channel or other name that is not a key but is routed like one.
        const NOT_KEY = 1 << 8;
        /// `incomplete`: the spec may miss keys; the server falls back to a hand-written rule.
        const INCOMPLETE = 1 << 9;
        /// `variable_flags`: the access flags depend on the arguments.
        const VARIABLE_FLAGS = 1 << 10;
    }
}

/// Key spec flag names, in bit order, as the server spells them.
pub(crate) const KEY_SPEC_FLAG_NAMES: &[(&str, KeySpecFlags)] = &[
    ("RO", KeySpecFlags::RO),
    ("RW", KeySpecFlags::RW),
    ("OW", KeySpecFlags::OW),
    ("RM", KeySpecFlags::RM),
    ("access", KeySpecFlags::ACCESS),
    ("update", KeySpecFlags::UPDATE),
    ("insert", KeySpecFlags::INSERT),
    ("delete", KeySpecFlags::DELETE),
    ("not_key", KeySpecFlags::NOT_KEY),
    ("incomplete", KeySpecFlags::INCOMPLETE),
    ("variable_flags", KeySpecFlags::VARIABLE_FLAGS),
];

/// Where the search for a key spec's keys begins.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BeginSearch {
    /// At a fixed argument index (the command name is index 0).
    Index(i32),
    /// Right after the first argument equal (ASCII case-insensitively) to `keyword`, searching
    /// forward from `startfrom`, or backward from the end when `startfrom` is negative.
    Keyword {
        /// The keyword, as the server spells it (`STREAMS`, `KEYS`, `STORE`, …).
        keyword: Cow<'static, str>,
        /// Index to start the search from; negative counts from the end.
        startfrom: i32,
    },
    /// The server cannot say (SORT … STORE): a hand-written rule is needed.
    Unknown,
}

/// How the keys are found once the search has begun.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FindKeys {
    /// A range: the last key is `lastkey` after the first (negative: counted from the end of the
    /// arguments), every `keystep`-th argument; with `limit` > 1 only `1/limit` of what remains.
    Range {
        /// Index of the last key relative to the first, or negative from the end.
        lastkey: i32,
        /// Step between keys.
        keystep: i32,
        /// Divides the remaining arguments (XREAD … STREAMS: keys then as many IDs).
        limit: i32,
    },
    /// A count argument: argument `keynumidx` (relative to where the search began) holds the
    /// number of keys, the first of which is `firstkey` after where the search began.
    Keynum {
        /// Index of the count, relative to the begin-search position.
        keynumidx: i32,
        /// Index of the first key, relative to the begin-search position.
        firstkey: i32,
        /// Step between keys.
        keystep: i32,
    },
    /// The server cannot say.
    Unknown,
}

/// One key spec of a command (Redis 7 `COMMAND INFO`, element 9).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct KeySpec {
    /// Access flags and the `incomplete` / `not_key` / `variable_flags` markers.
    pub flags: KeySpecFlags,
    /// Where the search begins.
    pub begin_search: BeginSearch,
    /// How keys are found from there.
    pub find_keys: FindKeys,
}

/// The commands whose key specs the server itself does not trust: it falls back to a
/// hand-written procedure for them, and so do we — with the same rules, and only these.
///
/// A command whose key specs are incomplete and that is not listed here gets
/// [`CommandError::Unsupported`](super::CommandError::Unsupported), never a guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GetKeysRule {
    /// `SORT key … [STORE dest]`: the sort key, and the destination after the last `STORE`
    /// (skipping the arguments of `LIMIT`, `GET`, `BY`).
    Sort,
    /// `SORT_RO key …`: only the sort key (`BY`/`GET` patterns are not keys of the command).
    SortRo,
    /// `MIGRATE host port key|"" db timeout … [KEYS k…]`: the key argument, or every argument
    /// after `KEYS` when the key argument is empty.
    Migrate,
}

impl GetKeysRule {
    /// The rule for a command name (server spelling, lowercase), if it has one.
    pub fn for_command(name: &str) -> Option<GetKeysRule> {
        match name {
            "sort" => Some(GetKeysRule::Sort),
            "sort_ro" => Some(GetKeysRule::SortRo),
            "migrate" => Some(GetKeysRule::Migrate),
            _ => None,
        }
    }
}

/// Everything the key table knows about one command or subcommand.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommandInfo {
    pub(super) name: Cow<'static, str>,
    pub(super) arity: i32,
    pub(super) flags: CommandFlags,
    pub(super) acl_categories: AclCategories,
    pub(super) first_key: i32,
    pub(super) last_key: i32,
    pub(super) step: i32,
    pub(super) tips: Cow<'static, [Cow<'static, str>]>,
    pub(super) key_specs: Cow<'static, [KeySpec]>,
    pub(super) subcommands: Cow<'static, [CommandInfo]>,
    pub(super) getkeys: Option<GetKeysRule>,
}

impl CommandInfo {
    /// The server's name: lowercase, subcommands as `container|sub` (`object|encoding`).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The name as a user types it: `OBJECT ENCODING`.
    pub fn display_name(&self) -> String {
        self.name.replace('|', " ").to_ascii_uppercase()
    }
    /// For a subcommand, the part after `|` (`encoding`); for a command, the whole name.
    pub fn subcommand_name(&self) -> &str {
        // A plain byte loop: names are a few bytes, and this runs on every probe of a
        // subcommand search (a `str` pattern search costs more to set up than to run here).
        match self.name.bytes().position(|b| b == b'|') {
            Some(bar) => &self.name[bar + 1..],
            None => &self.name,
        }
    }
    /// Arity: positive means exactly that many arguments (name included), negative means at
    /// least that many.
    pub fn arity(&self) -> i32 {
        self.arity
    }
    /// Command flags.
    pub fn flags(&self) -> CommandFlags {
        self.flags
    }
    /// ACL categories.
    pub fn acl_categories(&self) -> AclCategories {
        self.acl_categories
    }
    /// The legacy first key index (0: no keys).
    pub fn first_key(&self) -> i32 {
        self.first_key
    }
    /// The legacy last key index (negative: from the end).
    pub fn last_key(&self) -> i32 {
        self.last_key
    }
    /// The legacy key step.
    pub fn step(&self) -> i32 {
        self.step
    }
    /// Command tips (`nondeterministic_output`, `request_policy:all_shards`, …).
    pub fn tips(&self) -> impl Iterator<Item = &str> {
        self.tips.iter().map(|t| t.as_ref())
    }
    /// The key specs, in the server's order (keys are returned in this order).
    pub fn key_specs(&self) -> &[KeySpec] {
        &self.key_specs
    }
    /// Subcommands, sorted by name (empty for plain commands).
    pub fn subcommands(&self) -> &[CommandInfo] {
        &self.subcommands
    }
    /// The hand-written rule used when the key specs are not enough, if any.
    pub fn getkeys_rule(&self) -> Option<GetKeysRule> {
        self.getkeys
    }
    /// Whether the command can have key arguments at all (a key spec that is not `not_key`).
    pub fn has_keys(&self) -> bool {
        self.getkeys.is_some()
            || self
                .key_specs
                .iter()
                .any(|s| !s.flags.contains(KeySpecFlags::NOT_KEY))
    }
    /// Whether `argc` arguments (command name included) satisfy the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let arity = i64::from(self.arity);
        let argc = i64::try_from(argc).unwrap_or(i64::MAX);
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }
    /// `write` flag.
    pub fn is_write(&self) -> bool {
        self.flags.is_write()
    }
    /// `readonly` flag.
    pub fn is_readonly(&self) -> bool {
        self.flags.is_readonly()
    }
    /// `blocking` flag.
    pub fn is_blocking(&self) -> bool {
        self.flags.is_blocking()
    }
    /// `pubsub` flag.
    pub fn is_pubsub(&self) -> bool {
        self.flags.is_pubsub()
    }
    /// `admin` flag.
    pub fn is_admin(&self) -> bool {
        self.flags.is_admin()
    }
}
