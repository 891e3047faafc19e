//! Reading the key table from a live server's `COMMAND` reply (Redis 7 format).
//!
//! The generator (`examples/gen_command_table.rs`) and [`KeyTable::from_server`] both go
//! through [`KeyTable::from_command_reply`], so the committed table and a refreshed one cannot
//! disagree on how a reply is read.

use super::info::{
    AclCategories, BeginSearch, CommandFlags, CommandInfo, FindKeys, GetKeysRule, KeySpec,
    KeySpecFlags, ACL_CATEGORY_NAMES, COMMAND_FLAG_NAMES, KEY_SPEC_FLAG_NAMES,
};
use super::{CommandError, KeyTable};
use redis::Value;
use std::borrow::Cow;

fn bad(what: impl Into<String>) -> CommandError {
    CommandError::Reply {
        detail: what.into(),
    }
}

fn text(v: &Value) -> Option<&str> {
    match v {
        Value::BulkString(b) => std::str::from_utf8(b).ok(),
        Value::SimpleString(s) => Some(s),
        Value::VerbatimString { text, .. } => Some(text),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        other => text(other).and_then(|s| s.parse().ok()),
    }
}

fn int32(v: &Value, what: &str, command: &str) -> Result<i32, CommandError> {
    int(v)
        .and_then(|i| i32::try_from(i).ok())
        .ok_or_else(|| bad(format!("{what} of '{command}' is not an integer: {v:?}")))
}

fn list(v: &Value) -> Option<&[Value]> {
    match v {
        Value::Array(items) | Value::Set(items) => Some(items),
        _ => None,
    }
}

/// Looks a field up in a RESP3 map or a RESP2 flat `[key, value, key, value…]` array.
fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    match v {
        Value::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| text(k) == Some(name))
            .map(|(_, v)| v),
        Value::Array(items) => items
            .chunks(2)
            .find(|kv| kv.len() == 2 && text(&kv[0]) == Some(name))
            .map(|kv| &kv[1]),
        _ => None,
    }
}

fn names<'a>(v: &'a Value, what: &str, command: &str) -> Result<Vec<&'a str>, CommandError> {
    list(v)
        .ok_or_else(|| bad(format!("{what} of '{command}' is not a list")))?
        .iter()
        .map(|x| text(x).ok_or_else(|| bad(format!("{what} of '{command}' holds {x:?}"))))
        .collect()
}

fn spec_int(spec: &Value, name: &str, command: &str) -> Result<i32, CommandError> {
    let v =
        field(spec, name).ok_or_else(|| bad(format!("key spec of '{command}' lacks '{name}'")))?;
    int32(v, name, command)
}

fn key_spec(v: &Value, command: &str) -> Result<KeySpec, CommandError> {
    let mut flags = KeySpecFlags::empty();
    if let Some(f) = field(v, "flags") {
        for name in names(f, "key spec flags", command)? {
            match KEY_SPEC_FLAG_NAMES.iter().find(|(n, _)| *n == name) {
                Some((_, bit)) => flags |= *bit,
                None => log::debug!("command '{command}': unknown key spec flag '{name}' ignored"),
            }
        }
    }
    let bs = field(v, "begin_search")
        .ok_or_else(|| bad(format!("key spec of '{command}' lacks begin_search")))?;
    let bs_type = field(bs, "type").and_then(text).unwrap_or("unknown");
    let bs_spec = field(bs, "spec").unwrap_or(&Value::Nil);
    let begin_search = match bs_type {
        "index" => BeginSearch::Index(spec_int(bs_spec, "index", command)?),
        "keyword" => BeginSearch::Keyword {
            keyword: Cow::Owned(
                field(bs_spec, "keyword")
                    .and_then(text)
                    .ok_or_else(|| bad(format!("keyword key spec of '{command}' lacks keyword")))?
                    .to_owned(),
            ),
            startfrom: spec_int(bs_spec, "startfrom", command)?,
        },
        _ => BeginSearch::Unknown,
    };
    let fk = field(v, "find_keys")
        .ok_or_else(|| bad(format!("key spec of '{command}' lacks find_keys")))?;
    let fk_type = field(fk, "type").and_then(text).unwrap_or("unknown");
    let fk_spec = field(fk, "spec").unwrap_or(&Value::Nil);
    let find_keys = match fk_type {
        "range" => FindKeys::Range {
            lastkey: spec_int(fk_spec, "lastkey", command)?,
            keystep: spec_int(fk_spec, "keystep", command)?,
            limit: spec_int(fk_spec, "limit", command)?,
        },
        "keynum" => FindKeys::Keynum {
            keynumidx: spec_int(fk_spec, "keynumidx", command)?,
            firstkey: spec_int(fk_spec, "firstkey", command)?,
            keystep: spec_int(fk_spec, "keystep", command)?,
        },
        _ => FindKeys::Unknown,
    };
    Ok(KeySpec {
        flags,
        begin_search,
        find_keys,
    })
}

fn command_info(v: &Value) -> Result<CommandInfo, CommandError> {
    let parts = list(v).ok_or_else(|| bad(format!("command entry is not a list: {v:?}")))?;
    let name = parts
        .first()
        .and_then(text)
        .ok_or_else(|| bad("command entry without a name"))?
        .to_ascii_lowercase();
    if parts.len() < 10 {
        return Err(bad(format!(
            "entry for '{name}' has {} fields; Redis 7 or newer is needed (key specs)",
            parts.len()
        )));
    }
    let mut flags = CommandFlags::empty();
    for f in names(&parts[2], "flags", &name)? {
        match COMMAND_FLAG_NAMES.iter().find(|(n, _)| *n == f) {
            Some((_, bit)) => flags |= *bit,
            None => log::debug!("command '{name}': unknown flag '{f}' ignored"),
        }
    }
    let mut acl_categories = AclCategories::empty();
    for c in names(&parts[6], "ACL categories", &name)? {
        match ACL_CATEGORY_NAMES.iter().find(|(n, _)| *n == c) {
            Some((_, bit)) => acl_categories |= *bit,
            None => log::debug!("command '{name}': unknown ACL category '{c}' ignored"),
        }
    }
    let tips = names(&parts[7], "tips", &name)?
        .into_iter()
        .map(|t| Cow::Owned(t.to_owned()))
        .collect::<Vec<_>>();
    let key_specs = list(&parts[8])
        .ok_or_else(|| bad(format!("key specs of '{name}' are not a list")))?
        .iter()
        .map(|s| key_spec(s, &name))
        .collect::<Result<Vec<_>, _>>()?;
    let mut subcommands = list(&parts[9])
        .ok_or_else(|| bad(format!("subcommands of '{name}' are not a list")))?
        .iter()
        .map(command_info)
        .collect::<Result<Vec<_>, _>>()?;
    subcommands.sort_by(|a, b| a.name.cmp(&b.name));
    let getkeys = GetKeysRule::for_command(&name);
    Ok(CommandInfo {
        arity: int32(&parts[1], "arity", &name)?,
        flags,
        acl_categories,
        first_key: int32(&parts[3], "first key", &name)?,
        last_key: int32(&parts[4], "last key", &name)?,
        step: int32(&parts[5], "step", &name)?,
        tips: Cow::Owned(tips),
        key_specs: Cow::Owned(key_specs),
        subcommands: Cow::Owned(subcommands),
        getkeys,
        name: Cow::Owned(name),
    })
}

impl KeyTable {
    /// Reads the table from a live server: `COMMAND` for the commands, `INFO server` for the
    /// version. Needs Redis 7 or newer (key specs).
    pub fn from_server(conn: &mut impl redis::ConnectionLike) -> Result<KeyTable, CommandError> {
        let reply: Value = redis::cmd("COMMAND").query(conn)?;
        let info: String = redis::cmd("INFO").arg("server").query(conn)?;
        let version = info
            .lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .map(str::trim)
            .ok_or_else(|| bad("INFO server has no redis_version"))?;
        KeyTable::from_command_reply(&reply, version)
    }

    /// Builds the table from a `COMMAND` (or `COMMAND INFO`) reply, RESP2 or RESP3.
    pub fn from_command_reply(
        reply: &Value,
        server_version: &str,
    ) -> Result<KeyTable, CommandError> {
        let entries = list(reply).ok_or_else(|| bad("COMMAND reply is not a list"))?;
        let commands = entries
            .iter()
            .filter(|e| !matches!(e, Value::Nil))
            .map(command_info)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(KeyTable::from_commands(commands, server_version))
    }
}
