//! Rendering a [`KeyTable`] as the Rust source of `table.rs` (used by the generator and by the
//! drift test, which regenerates from a live server and compares with the committed file).

use super::info::{
    BeginSearch, CommandInfo, FindKeys, KeySpec, ACL_CATEGORY_NAMES, COMMAND_FLAG_NAMES,
    KEY_SPEC_FLAG_NAMES,
};
use super::KeyTable;
use std::fmt::Write;

/// The command that regenerates `core/src/command/table.rs`.
pub const REGENERATE: &str =
    "cargo run -p slotshift --features embedded --example gen_command_table";

fn flags_expr<T: Copy + PartialEq>(
    ty: &str,
    set: T,
    names: &[(&str, T)],
    contains: impl Fn(T, T) -> bool,
    const_name: impl Fn(&str) -> String,
) -> String {
    let parts: Vec<String> = names
        .iter()
        .filter(|(_, f)| contains(set, *f))
        .map(|(n, _)| format!("{ty}::{}", const_name(n)))
        .collect();
    match parts.split_first() {
        None => format!("{ty}::empty()"),
        Some((first, rest)) => rest
            .iter()
            .fold(first.clone(), |acc, p| format!("{acc}.union({p})")),
    }
}

fn upper(n: &str) -> String {
    n.trim_start_matches('@').to_ascii_uppercase()
}

fn key_spec_flag_const(n: &str) -> String {
    n.to_ascii_uppercase()
}

fn render_spec(s: &KeySpec, out: &mut String, indent: &str) {
    let flags = flags_expr(
        "KeySpecFlags",
        s.flags,
        KEY_SPEC_FLAG_NAMES,
        |a, b| a.contains(b),
        key_spec_flag_const,
    );
    let bs = match &s.begin_search {
        BeginSearch::Index(i) => format!("BeginSearch::Index({i})"),
        BeginSearch::Keyword { keyword, startfrom } => {
            format!("BeginSearch::Keyword {{ keyword: B({keyword:?}), startfrom: {startfrom} }}")
        }
        BeginSearch::Unknown => "BeginSearch::Unknown".to_owned(),
    };
    let fk = match s.find_keys {
        FindKeys::Range {
            lastkey,
            keystep,
            limit,
        } => format!("FindKeys::Range {{ lastkey: {lastkey}, keystep: {keystep}, limit: {limit} }}"),
        FindKeys::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => format!(
            "FindKeys::Keynum {{ keynumidx: {keynumidx}, firstkey: {firstkey}, keystep: {keystep} }}"
        ),
        FindKeys::Unknown => "FindKeys::Unknown".to_owned(),
    };
    let _ = writeln!(
        out,
        "{indent}KeySpec {{ flags: {flags}, begin_search: {bs}, find_keys: {fk} }},"
    );
}

fn render_info(c: &CommandInfo, out: &mut String, indent: &str) {
    let inner = format!("{indent}    ");
    let _ = writeln!(out, "{indent}CommandInfo {{");
    let _ = writeln!(out, "{inner}name: B({:?}),", c.name);
    let _ = writeln!(out, "{inner}arity: {},", c.arity);
    let flags = flags_expr(
        "CommandFlags",
        c.flags,
        COMMAND_FLAG_NAMES,
        |a, b| a.contains(b),
        upper,
    );
    let _ = writeln!(out, "{inner}flags: {flags},");
    let acl = flags_expr(
        "AclCategories",
        c.acl_categories,
        ACL_CATEGORY_NAMES,
        |a, b| a.contains(b),
        upper,
    );
    let _ = writeln!(out, "{inner}acl_categories: {acl},");
    let _ = writeln!(
        out,
        "{inner}first_key: {}, last_key: {}, step: {},",
        c.first_key, c.last_key, c.step
    );
    let tips: Vec<String> = c
        .tips
        .iter()
        .map(|t| format!("B({:?})", t.as_ref()))
        .collect();
    let _ = writeln!(out, "{inner}tips: B(&[{}]),", tips.join(", "));
    if c.key_specs.is_empty() {
        let _ = writeln!(out, "{inner}key_specs: B(&[]),");
    } else {
        let _ = writeln!(out, "{inner}key_specs: B(&[");
        for s in c.key_specs.iter() {
            render_spec(s, out, &format!("{inner}    "));
        }
        let _ = writeln!(out, "{inner}]),");
    }
    if c.subcommands.is_empty() {
        let _ = writeln!(out, "{inner}subcommands: B(&[]),");
    } else {
        let _ = writeln!(out, "{inner}subcommands: B(&[");
        for s in c.subcommands.iter() {
            render_info(s, out, &format!("{inner}    "));
        }
        let _ = writeln!(out, "{inner}]),");
    }
    let rule = match c.getkeys {
        Some(r) => format!("Some(GetKeysRule::{r:?})"),
        None => "None".to_owned(),
    };
    let _ = writeln!(out, "{inner}getkeys: {rule},");
    let _ = writeln!(out, "{indent}}},");
}

impl KeyTable {
    /// This table as the Rust source of the committed `table.rs` (static data only: nothing
    /// is parsed at start-up).
    pub fn to_rust_source(&self) -> String {
        let mut out = String::with_capacity(256 * 1024);
        let _ = writeln!(
            out,
            "//! The Redis command table: @generated from the `COMMAND` reply of Redis {}.\n\
             //!\n\
             //! Do not edit. Regenerate with:\n\
             //! `{REGENERATE}`\n\
             //! (`core/tests/command_keys.rs` fails when this file and a live server disagree.)\n\
             \n\
             use super::info::{{\n    AclCategories, BeginSearch, CommandFlags, CommandInfo, FindKeys, GetKeysRule, KeySpec,\n    KeySpecFlags,\n}};\n\
             use std::borrow::Cow::Borrowed as B;\n\
             \n\
             /// Version of the server the table was generated from.\n\
             pub(super) const SERVER_VERSION: &str = {:?};\n\
             \n\
             /// Every command, sorted by name; subcommands sorted by name.\n\
             pub(super) static COMMANDS: &[CommandInfo] = &[",
            self.server_version, self.server_version
        );
        for c in self.commands.iter() {
            render_info(c, &mut out, "    ");
        }
        out.push_str("];\n");
        out
    }
}
