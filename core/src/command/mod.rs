//! Commands and the key table.
//!
//! - [`Cmd`]: one command line as bytes, stored in one buffer.
//! - [`KeyTable`]: for every Redis 7 command and subcommand, its arity, flags (write, readonly,
//!   blocking, pubsub, admin…), ACL categories and key specs, generated from the server's own
//!   `COMMAND` reply and committed ([`KeyTable::builtin`]), or read from a live server
//!   ([`KeyTable::from_server`]) by the same code.
//! - Key extraction ([`KeyTable::key_indices`], [`KeyTable::keys`]) follows the server's own
//!   algorithm over the key specs, movable keys included (EVAL/FCALL numkeys, ZUNIONSTORE,
//!   XREAD … STREAMS, LMPOP, SINTERCARD, GEORADIUS … STORE, SORT … STORE, MIGRATE … KEYS), and
//!   is tested against the server's `COMMAND GETKEYS` on a corpus of real command lines
//!   (`tests/fixtures/command_keys.json`).
//!
//! An unknown command is an error ([`CommandError::Unknown`]), never a guess.
//!
//! ```
//! use slotshift::command::{self, Cmd, CommandError};
//! let cmd = Cmd::from_args(["ZUNIONSTORE", "out", "2", "a", "b", "WEIGHTS", "1", "2"]);
//! assert_eq!(command::keys(&cmd).unwrap(), vec![&b"out"[..], b"a", b"b"]);
//! assert_eq!(command::key_indices(&cmd).unwrap().as_slice(), &[1, 3, 4]);
//!
//! let info = command::lookup(&Cmd::from_args(["object", "encoding", "k"])).unwrap();
//! assert_eq!(info.name(), "object|encoding");
//! assert!(info.flags().is_readonly());
//!
//! let err = command::keys(&Cmd::new("FROBNICATE")).unwrap_err();
//! assert!(matches!(err, CommandError::Unknown(_)));
//! assert_eq!(err.to_string(), "unknown command 'FROBNICATE'");
//! ```

mod cmd;
mod codegen;
mod info;
mod keys;
mod parse;
#[rustfmt::skip]
mod table;

pub use cmd::Cmd;
pub use codegen::REGENERATE;
pub use info::{
    AclCategories, BeginSearch, CommandFlags, CommandInfo, FindKeys, GetKeysRule, KeySpec,
    KeySpecFlags,
};
pub use keys::{key_indices_for, slot_indices_for, KeyIndices, KeyTable};

/// Errors about a command: unknown name, wrong number of arguments, malformed key counts, and
/// failures reading the table from a server.
///
/// Messages name the command and the offending argument; they never quote argument bytes other
/// than the command name, the subcommand and a key count (shortened), so a password cannot leak.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The command has no parts at all.
    #[error("empty command")]
    Empty,
    /// The command is not in the key table.
    #[error("unknown command '{0}'")]
    Unknown(String),
    /// The command has subcommands and this is not one of them.
    #[error("unknown subcommand '{subcommand}' of command '{command}'")]
    UnknownSubcommand {
        /// The command (`OBJECT`).
        command: String,
        /// The subcommand as given, upper-cased (`FOO`).
        subcommand: String,
    },
    /// Wrong number of arguments for the command's arity.
    #[error("wrong number of arguments for '{command}': {given} given (name included), arity {arity} ({})",
        if *arity < 0 { format!("at least {}", -arity) } else { format!("exactly {arity}") })]
    WrongArity {
        /// The command (`GET`, `OBJECT ENCODING`).
        command: String,
        /// The server's arity: exact if positive, minimum if negative.
        arity: i32,
        /// Number of parts given, the name included.
        given: usize,
    },
    /// A key-count argument (EVAL numkeys, ZUNIONSTORE numkeys, LMPOP numkeys…) is malformed.
    #[error("'{command}': key count '{value}' at argument {index} {reason}")]
    InvalidNumkeys {
        /// The command.
        command: String,
        /// Position of the count argument (0 is the command name).
        index: usize,
        /// The argument as given (shortened).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The arguments do not let the keys be found (missing after their keyword, for example).
    #[error("'{command}': {detail}")]
    InvalidArguments {
        /// The command.
        command: String,
        /// What is wrong.
        detail: String,
    },
    /// The command needs at least one key and its arguments name none
    /// (`XREAD COUNT 1` without `STREAMS`, for example).
    #[error("'{command}': the arguments name no key, and the command needs one")]
    NoKeys {
        /// The command.
        command: String,
    },
    /// A command that changes (or reads from) the state of the one connection it runs on —
    /// `SELECT`, `MULTI`/`EXEC`, `WATCH`, the `SUBSCRIBE` family, `MONITOR`, `HELLO`, `AUTH`,
    /// `CLIENT SETNAME` … — sent through a store, whose connections are shared. Nothing was
    /// sent.
    #[error(
        "'{command}' changes the state of the connection it runs on, and a store's connections \
         are shared: run it on a connection of its own (a session; a subscriber for pub/sub)"
    )]
    NeedsOwnConnection {
        /// The command (with its subcommand for `CLIENT …`).
        command: String,
    },
    /// The server's key specs for this command are incomplete and no rule is known for it
    /// (a command newer than this version): its keys cannot be told without guessing.
    #[error("'{command}': its keys cannot be determined from the server's key specs")]
    Unsupported {
        /// The command.
        command: String,
    },
    /// Reading the table from a server failed.
    #[error("reading the command table from the server: {0}")]
    Server(#[from] redis::RedisError),
    /// The server's `COMMAND` reply was not in the expected shape.
    #[error("unexpected COMMAND reply: {detail}")]
    Reply {
        /// What was unexpected.
        detail: String,
    },
}

/// [`KeyTable::lookup`] on the built-in table.
pub fn lookup(cmd: &Cmd) -> Result<&'static CommandInfo, CommandError> {
    KeyTable::builtin().lookup(cmd)
}

/// [`KeyTable::key_indices`] on the built-in table.
pub fn key_indices(cmd: &Cmd) -> Result<KeyIndices, CommandError> {
    KeyTable::builtin().key_indices(cmd)
}

/// [`KeyTable::keys`] on the built-in table.
pub fn keys(cmd: &Cmd) -> Result<Vec<&[u8]>, CommandError> {
    KeyTable::builtin().keys(cmd)
}
