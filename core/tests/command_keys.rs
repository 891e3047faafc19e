//! The key table against the oracle: a real redis-server's `COMMAND GETKEYS` and `COMMAND`.
//!
//! - every line of `tests/fixtures/command_keys.json` (≥ 300 real command lines covering every
//!   key-spec form) gets the same keys from the server, from the fixture and from
//!   `slotshift::command::keys`;
//! - the committed table equals the one read from the live server, down to the generated source;
//! - unknown commands, unknown subcommands, wrong arity and malformed key counts are errors, and
//!   every line we refuse is refused by the server too when it runs it;
//! - lookup does not allocate.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed expectation is the report

use redis::ConnectionLike;
use serde_json::Value as Json;
use slotshift::command::{self, BeginSearch, Cmd, CommandError, CommandInfo, FindKeys, KeyTable};
use slotshift::testing::Standalone;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};

// ---- allocation counter (per thread, so parallel tests do not disturb each other) ----

struct Counting;
thread_local! { static ALLOCS: Cell<usize> = const { Cell::new(0) }; }
// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCS.with(Cell::get);
    let out = f();
    (out, ALLOCS.with(Cell::get) - before)
}

// ---- fixture ----

fn decode(v: &Json) -> Vec<u8> {
    match v {
        Json::String(s) => s.as_bytes().to_vec(),
        Json::Object(o) => {
            let hex = o["hex"].as_str().expect("hex string");
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit"))
                .collect()
        }
        other => panic!("fixture element {other} is neither a string nor {{\"hex\": …}}"),
    }
}

struct Case {
    args: Vec<Vec<u8>>,
    keys: Vec<Vec<u8>>,
}

fn corpus() -> Vec<Case> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/command_keys.json"
    );
    let text = std::fs::read_to_string(path).expect("read fixture");
    let doc: Json = serde_json::from_str(&text).expect("fixture is JSON");
    doc["cases"]
        .as_array()
        .expect("cases array")
        .iter()
        .map(|c| Case {
            args: c["args"]
                .as_array()
                .expect("args")
                .iter()
                .map(decode)
                .collect(),
            keys: c["keys"]
                .as_array()
                .expect("keys")
                .iter()
                .map(decode)
                .collect(),
        })
        .collect()
}

fn show(args: &[Vec<u8>]) -> String {
    args.iter()
        .map(|a| format!("{:?}", String::from_utf8_lossy(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn server_getkeys(
    conn: &mut redis::Connection,
    args: &[Vec<u8>],
) -> redis::RedisResult<Vec<Vec<u8>>> {
    let mut c = redis::cmd("COMMAND");
    c.arg("GETKEYS");
    for a in args {
        c.arg(a.as_slice());
    }
    c.query(conn)
}

/// The key-spec forms a line exercises, from the table entry that describes it.
fn forms(info: &CommandInfo, cmd: &Cmd, keys: &[Vec<u8>]) -> Vec<&'static str> {
    let mut f = Vec::new();
    if keys.is_empty() {
        f.push("no keys");
    }
    if info.name().contains('|') {
        f.push("subcommand");
    }
    if info.flags().has_movable_keys() && !keys.is_empty() {
        f.push("movable keys");
    }
    if info.getkeys_rule().is_some() {
        f.push("hand rule (SORT/SORT_RO/MIGRATE)");
    }
    if keys.len() > 1 {
        f.push("several keys");
    }
    if cmd.args().any(|a| std::str::from_utf8(a).is_err()) {
        f.push("non-UTF-8 bytes");
    }
    for s in info.key_specs() {
        match s.begin_search {
            BeginSearch::Index(_) => f.push("begin_search index"),
            BeginSearch::Keyword { .. } => f.push("begin_search keyword"),
            _ => f.push("begin_search unknown"),
        }
        match s.find_keys {
            FindKeys::Range { limit, .. } if limit > 1 => f.push("find_keys range with limit"),
            FindKeys::Range { keystep, .. } if keystep > 1 => f.push("find_keys range with step"),
            FindKeys::Range { lastkey, .. } if lastkey < 0 => f.push("find_keys range to end"),
            FindKeys::Range { .. } => f.push("find_keys range"),
            FindKeys::Keynum { .. } => f.push("find_keys keynum"),
            _ => f.push("find_keys unknown"),
        }
    }
    f
}

#[test]
fn corpus_keys_equal_server_getkeys() {
    let server = Standalone::start().expect("start redis-server");
    let mut conn = server.client().get_connection().expect("connect");
    let cases = corpus();
    assert!(
        cases.len() >= 300,
        "only {} command lines in the corpus",
        cases.len()
    );

    let table = KeyTable::builtin();
    let mut failures = Vec::new();
    let mut coverage: BTreeMap<&str, usize> = BTreeMap::new();
    let mut commands_seen = BTreeSet::new();
    for case in &cases {
        let cmd = Cmd::from_args(&case.args);
        let line = show(&case.args);
        let ours = command::keys(&cmd);
        let ours_idx = command::key_indices(&cmd);
        let info = table.lookup(&cmd);
        match server_getkeys(&mut conn, &case.args) {
            Ok(server_keys) => {
                if server_keys != case.keys {
                    failures.push(format!("{line}: fixture keys differ from the server's"));
                }
                match &ours {
                    Ok(k) if k.iter().map(|k| k.to_vec()).eq(server_keys.iter().cloned()) => {}
                    other => failures.push(format!(
                        "{line}: server {:?}, ours {other:?}",
                        server_keys
                            .iter()
                            .map(|k| String::from_utf8_lossy(k).into_owned())
                            .collect::<Vec<_>>()
                    )),
                }
            }
            Err(e) => {
                // The server refuses GETKEYS for commands without key arguments (and by arity
                // for one-word commands): the fixture and we must say "no keys".
                if !case.keys.is_empty() {
                    failures.push(format!("{line}: server error {e}, fixture has keys"));
                }
                match (&ours, &info) {
                    (Ok(k), Ok(i)) if k.is_empty() && !i.has_keys() => {}
                    other => failures.push(format!(
                        "{line}: server error {e}, ours {:?} (table entry {:?})",
                        other.0,
                        other.1.as_ref().map(|i| i.name())
                    )),
                }
            }
        }
        // Positions point at exactly the keys.
        if let (Ok(idx), Ok(k)) = (&ours_idx, &ours) {
            let by_pos: Vec<&[u8]> = idx
                .iter()
                .map(|&i| cmd.get(i).expect("index in range"))
                .collect();
            if &by_pos != k {
                failures.push(format!("{line}: key_indices {idx:?} do not give keys()"));
            }
        }
        if let Ok(info) = info {
            commands_seen.insert(info.name().to_owned());
            for f in forms(info, &cmd, &case.keys) {
                *coverage.entry(f).or_default() += 1;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} lines disagree:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    // Every key-spec form is exercised, several times.
    for form in [
        "no keys",
        "subcommand",
        "movable keys",
        "hand rule (SORT/SORT_RO/MIGRATE)",
        "several keys",
        "non-UTF-8 bytes",
        "begin_search index",
        "begin_search keyword",
        "begin_search unknown",
        "find_keys range",
        "find_keys range with limit",
        "find_keys range with step",
        "find_keys range to end",
        "find_keys keynum",
        "find_keys unknown",
    ] {
        let n = coverage.get(form).copied().unwrap_or(0);
        assert!(
            n >= 3,
            "form '{form}' exercised by {n} lines only; coverage: {coverage:?}"
        );
    }
    // Every command and subcommand that can have keys appears in the corpus.
    let mut missing = Vec::new();
    for c in table.commands() {
        let entries: Vec<&CommandInfo> = if c.subcommands().is_empty() {
            vec![c]
        } else {
            c.subcommands().iter().collect()
        };
        for e in entries {
            if e.has_keys() && !commands_seen.contains(e.name()) {
                missing.push(e.name().to_owned());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "commands with keys missing from the corpus: {missing:?}"
    );
}

#[test]
fn builtin_table_equals_live_server() {
    let server = Standalone::start().expect("start redis-server");
    let mut conn = server.client().get_connection().expect("connect");
    let live = KeyTable::from_server(&mut conn).expect("read COMMAND from the server");
    let builtin = KeyTable::builtin();

    assert_eq!(live.server_version(), builtin.server_version());
    // Per command first, for a readable message.
    let names: Vec<&str> = live.commands().iter().map(|c| c.name()).collect();
    let count: i64 = redis::cmd("COMMAND")
        .arg("COUNT")
        .query(&mut conn)
        .expect("COMMAND COUNT");
    assert_eq!(names.len() as i64, count);
    for c in live.commands() {
        let b = builtin
            .get(c.name().as_bytes())
            .unwrap_or_else(|| panic!("'{}' is served but not in the builtin table", c.name()));
        assert_eq!(b.arity(), c.arity(), "arity of {}", c.name());
        assert_eq!(b.flags(), c.flags(), "flags of {}", c.name());
        assert_eq!(
            b.acl_categories(),
            c.acl_categories(),
            "ACL categories of {}",
            c.name()
        );
        assert_eq!(b.key_specs(), c.key_specs(), "key specs of {}", c.name());
        assert_eq!(b, c, "entry of {}", c.name());
    }
    assert_eq!(&live, builtin);
    // RESP3 (maps instead of flat arrays) reads the same table.
    let mut resp3 = redis::Client::open(format!("{}?protocol=resp3", server.url()))
        .expect("resp3 url")
        .get_connection()
        .expect("connect with RESP3");
    let raw: redis::Value = redis::cmd("COMMAND").query(&mut resp3).expect("COMMAND");
    let specs_are_maps = |c: &redis::Value| match c {
        redis::Value::Array(p) => match p.get(8) {
            Some(redis::Value::Array(s) | redis::Value::Set(s)) => {
                s.iter().any(|s| matches!(s, redis::Value::Map(_)))
            }
            _ => false,
        },
        _ => false,
    };
    let has_maps = matches!(&raw, redis::Value::Array(cmds) if cmds.iter().any(specs_are_maps));
    assert!(has_maps, "the RESP3 reply should carry key specs as maps");
    assert_eq!(
        &KeyTable::from_server(&mut resp3).expect("RESP3 table"),
        builtin
    );
    // The committed file is exactly what the generator writes for this server.
    let committed = include_str!("../src/command/table.rs");
    assert!(
        live.to_rust_source() == committed,
        "core/src/command/table.rs is stale: run `{}`",
        command::REGENERATE
    );
}

#[test]
fn refusals_are_refused_by_the_server_too() {
    let server = Standalone::start().expect("start redis-server");
    let mut conn = server.client().get_connection().expect("connect");
    let lines: &[&[&str]] = &[
        &["EVAL", "return 1", "abc", "k"],
        &["EVAL", "return 1", "01", "k"],
        &["EVAL", "return 1", "-1", "k"],
        &["EVAL", "return 1", "3", "a", "b"],
        &[
            "EVALSHA",
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
            "2",
            "a",
        ],
        &["FCALL", "f", "x", "k"],
        &["ZUNIONSTORE", "out", "0", "a"],
        &["ZUNIONSTORE", "out", "3", "a", "b"],
        &["ZINTER", "2", "a"],
        &["ZDIFF", "0", "a"],
        &["SINTERCARD", "0", "a"],
        &["SINTERCARD", "5", "a", "b"],
        &["LMPOP", "0", "l", "LEFT"],
        &["LMPOP", "x", "l", "LEFT"],
        &["BLMPOP", "0", "3", "a", "LEFT"],
        &["ZMPOP", "3", "z", "MIN"],
        &["BZMPOP", "0", "nan", "z", "MIN"],
        &["XREAD", "COUNT", "1", "STREAMS"],
        &["XREAD", "COUNT", "1", "BLOCK", "0"],
        &["XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "x"],
        &[
            "MIGRATE",
            "127.0.0.1",
            "7000",
            "k",
            "0",
            "5000",
            "KEYS",
            "a",
        ],
    ];
    for line in lines {
        let cmd = Cmd::from_args(line.iter());
        let ours = command::keys(&cmd);
        assert!(ours.is_err(), "{line:?}: we gave keys {ours:?}");
        let msg = ours.unwrap_err().to_string();
        let name = line[0].to_ascii_uppercase();
        assert!(
            msg.contains(&name),
            "{line:?}: message '{msg}' does not name {name}"
        );
        let reply = cmd.to_redis().query::<redis::Value>(&mut conn);
        assert!(
            reply.is_err(),
            "{line:?}: we refused ({msg}) but the server ran it: {reply:?}"
        );
    }
    // The count argument is named in the message.
    let err = command::keys(&Cmd::from_args(["EVAL", "return 1", "abc", "k"])).unwrap_err();
    assert!(
        matches!(err, CommandError::InvalidNumkeys { index: 2, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "'EVAL': key count 'abc' at argument 2 is not a non-negative integer"
    );
    let err = command::keys(&Cmd::from_args(["ZUNIONSTORE", "out", "3", "a", "b"])).unwrap_err();
    assert!(err.to_string().contains("'3' at argument 2"), "{err}");
    assert!(conn.is_open());
}

#[test]
fn unknown_commands_are_errors_not_guesses() {
    let err = command::keys(&Cmd::from_args(["FROBNICATE", "a", "b"])).unwrap_err();
    assert!(
        matches!(&err, CommandError::Unknown(n) if n == "FROBNICATE"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "unknown command 'FROBNICATE'");
    assert!(matches!(
        command::lookup(&Cmd::new("getx")),
        Err(CommandError::Unknown(_))
    ));
    assert!(matches!(
        command::lookup(&Cmd::new("")),
        Err(CommandError::Unknown(_))
    ));
    assert!(matches!(
        command::lookup(&Cmd::from_args(Vec::<&str>::new())),
        Err(CommandError::Empty)
    ));

    let err = command::keys(&Cmd::from_args(["OBJECT", "SHAPE", "k"])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown subcommand 'SHAPE' of command 'OBJECT'"
    );
    let err = command::keys(&Cmd::from_args(["xinfo", "nope", "k"])).unwrap_err();
    assert!(
        matches!(err, CommandError::UnknownSubcommand { .. }),
        "{err:?}"
    );
}

#[test]
fn wrong_arity_is_an_error() {
    let err = command::keys(&Cmd::new("GET")).unwrap_err();
    assert!(
        matches!(&err, CommandError::WrongArity { command, arity: 2, given: 1 } if command == "GET"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "wrong number of arguments for 'GET': 1 given (name included), arity 2 (exactly 2)"
    );
    let err = command::keys(&Cmd::from_args(["GET", "a", "b"])).unwrap_err();
    assert!(matches!(err, CommandError::WrongArity { given: 3, .. }));
    let err = command::keys(&Cmd::from_args(["MSET", "a"])).unwrap_err();
    assert!(err.to_string().contains("at least 3"), "{err}");
    let err = command::keys(&Cmd::from_args(["OBJECT", "ENCODING"])).unwrap_err();
    assert!(
        matches!(&err, CommandError::WrongArity { command, .. } if command == "OBJECT ENCODING"),
        "{err:?}"
    );
    // A container alone: the container's own arity.
    let err = command::keys(&Cmd::new("OBJECT")).unwrap_err();
    assert!(matches!(&err, CommandError::WrongArity { command, .. } if command == "OBJECT"));
}

#[test]
fn subcommands_and_flags() {
    let l = |args: &[&str]| command::lookup(&Cmd::from_args(args)).unwrap();
    assert_eq!(l(&["OBJECT", "ENCODING", "k"]).name(), "object|encoding");
    assert_eq!(l(&["memory", "usage", "k"]).name(), "memory|usage");
    assert_eq!(l(&["XINFO", "Stream", "s"]).name(), "xinfo|stream");
    assert_eq!(l(&["CLIENT", "KILL", "ID", "1"]).name(), "client|kill");
    assert_eq!(
        l(&["CLIENT", "KILL", "ID", "1"]).display_name(),
        "CLIENT KILL"
    );
    assert_eq!(l(&["config", "get", "x"]).name(), "config|get");

    assert!(l(&["GET", "k"]).flags().is_readonly());
    assert!(!l(&["GET", "k"]).flags().is_write());
    assert!(l(&["SET", "k", "v"]).flags().is_write());
    assert!(l(&["BLPOP", "k", "0"]).flags().is_blocking());
    assert!(l(&["XREAD", "STREAMS", "s", "0"]).flags().is_blocking());
    assert!(l(&["SUBSCRIBE", "c"]).flags().is_pubsub());
    assert!(l(&["PUBLISH", "c", "m"]).flags().is_pubsub());
    assert!(l(&["CONFIG", "SET", "a", "b"]).flags().is_admin());
    assert!(l(&["EVAL", "s", "0"]).flags().has_movable_keys());
    assert!(l(&["EVAL", "s", "0"]).flags().keys_optional());
    assert!(l(&["GET", "k"])
        .acl_categories()
        .contains(command::AclCategories::READ));
    assert!(l(&["BLPOP", "k", "0"])
        .acl_categories()
        .contains(command::AclCategories::BLOCKING));
    assert_eq!(
        l(&["GET", "k"]).flags().names().collect::<Vec<_>>(),
        ["readonly", "fast"]
    );

    // Channels are not keys: SPUBLISH's key spec is `not_key`.
    assert!(command::keys(&Cmd::from_args(["SPUBLISH", "ch", "m"]))
        .unwrap()
        .is_empty());
    assert!(!l(&["SPUBLISH", "ch", "m"]).has_keys());
}

#[test]
fn lookup_and_key_extraction_do_not_allocate() {
    let table = KeyTable::builtin();
    let cmds = [
        Cmd::from_args(["get", "k"]),
        Cmd::from_args(["MSET", "a", "1", "b", "2", "c", "3"]),
        Cmd::from_args(["object", "ENCODING", "k"]),
        Cmd::from_args(["EVAL", "s", "2", "a", "b"]),
        Cmd::from_args(["XREAD", "COUNT", "1", "STREAMS", "a", "b", "0", "0"]),
        Cmd::from_args(["SORT", "l", "STORE", "d"]),
    ];
    // The table's name index is built once, at its first lookup; after that nothing allocates.
    assert!(table.get(b"get").is_some());
    for cmd in &cmds {
        let (info, n) = allocations(|| table.lookup(cmd).map(|i| i.name().len()));
        assert!(info.is_ok());
        assert_eq!(n, 0, "lookup of {cmd:?} allocated {n} times");
        // Up to four keys stay inline.
        let (idx, n) = allocations(|| table.key_indices(cmd).map(|i| i.len()));
        assert!(idx.unwrap() >= 1);
        assert_eq!(n, 0, "key_indices of {cmd:?} allocated {n} times");
        let (first, n) = allocations(|| table.first_key(cmd).map(|k| k.is_some()));
        assert_eq!(first.ok(), Some(true));
        assert_eq!(n, 0, "first_key of {cmd:?} allocated {n} times");
    }
}

/// Random command lines built from the table's own names and keywords, small counts and
/// malformed counts: wherever the server names keys, we name the same ones; wherever it refuses,
/// we refuse or the command has no keys. Deterministic (fixed seed).
#[test]
fn random_lines_agree_with_server() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    let server = Standalone::start().expect("start redis-server");
    let mut conn = server.client().get_connection().expect("connect");
    let table = KeyTable::builtin();

    let mut vocab: BTreeSet<String> = [
        "0",
        "1",
        "2",
        "3",
        "5",
        "-1",
        "01",
        "+1",
        "2x",
        "abc",
        "",
        "k1",
        "k2",
        "{t}k",
        "LIMIT",
        "GET",
        "BY",
        "STORE",
        "STOREDIST",
        "AUTH",
        "AUTH2",
        "COPY",
        "REPLACE",
        "KEYS",
        "STREAMS",
        "COUNT",
        "BLOCK",
        "GROUP",
        "NOACK",
        "LEFT",
        "MIN",
        "WEIGHTS",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut entries: Vec<(&CommandInfo, Vec<String>)> = Vec::new();
    for c in table.commands() {
        if c.subcommands().is_empty() {
            entries.push((c, vec![c.name().to_owned()]));
        }
        for s in c.subcommands() {
            let (a, b) = s.name().split_once('|').expect("container|sub");
            entries.push((s, vec![a.to_owned(), b.to_owned()]));
        }
        for spec in c.key_specs() {
            if let BeginSearch::Keyword { keyword, .. } = &spec.begin_search {
                vocab.insert(keyword.to_string());
                vocab.insert(keyword.to_ascii_lowercase());
            }
        }
    }
    let vocab: Vec<String> = vocab.into_iter().collect();
    let keyed: Vec<&(&CommandInfo, Vec<String>)> =
        entries.iter().filter(|e| e.0.has_keys()).collect();

    let mut rng = StdRng::seed_from_u64(0x5107_5417);
    let mut failures = Vec::new();
    let (mut with_keys, mut total) = (0, 0);
    for _ in 0..20_000 {
        // Mostly commands with keys, some without.
        let (info, prefix) = if rng.gen_bool(0.9) {
            keyed[rng.gen_range(0..keyed.len())]
        } else {
            &entries[rng.gen_range(0..entries.len())]
        };
        let need = (info.arity().unsigned_abs() as usize).saturating_sub(prefix.len());
        let extra = if info.arity() > 0 {
            need
        } else {
            need + rng.gen_range(0..7)
        };
        let mut args: Vec<Vec<u8>> = prefix.iter().map(|p| p.as_bytes().to_vec()).collect();
        for _ in 0..extra {
            args.push(vocab[rng.gen_range(0..vocab.len())].as_bytes().to_vec());
        }
        if args.len() < 2 {
            continue; // COMMAND GETKEYS needs at least two parts
        }
        total += 1;
        let cmd = Cmd::from_args(&args);
        let ours = command::keys(&cmd);
        let theirs = server_getkeys(&mut conn, &args);
        let lenient_count = matches!(
            &ours,
            Err(CommandError::InvalidNumkeys { reason, .. }) if *reason == "is not a non-negative integer"
        );
        let ok = match (&theirs, &ours) {
            (Ok(s), Ok(o)) => o.iter().map(|k| k.to_vec()).eq(s.iter().cloned()),
            // The server's fallback reads counts with atoi ("01", "2x"); the command itself
            // then refuses them, and so do we.
            (Ok(_), Err(_)) if lenient_count => true,
            // EVAL/FCALL with a bad count: the server says "no keys" (keys are optional).
            (
                Ok(s),
                Err(CommandError::InvalidNumkeys { .. } | CommandError::InvalidArguments { .. }),
            ) => s.is_empty(),
            (Err(_), Err(_)) => true,
            (Err(_), Ok(o)) => o.is_empty() && !info.has_keys(),
            (Ok(_), Err(_)) => false,
        };
        if theirs.as_ref().is_ok_and(|k| !k.is_empty()) {
            with_keys += 1;
        }
        if !ok {
            failures.push(format!(
                "{}: server {:?}, ours {:?}",
                show(&args),
                theirs.map(|k| k
                    .iter()
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .collect::<Vec<_>>()),
                ours
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} random lines disagree:\n{}",
        failures.len(),
        failures[..failures.len().min(40)].join("\n")
    );
    assert!(
        with_keys > total / 3,
        "only {with_keys} of {total} random lines had keys"
    );
}
