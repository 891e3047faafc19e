//! Ruby values ⇄ commands and replies. Keys and values are bytes both ways.

use magnus::{value::ReprValue, Error, Float, Integer, RArray, RString, Ruby, Symbol, Value};
use slotshift::command::Cmd;
use slotshift::reply::Reply;

use crate::errors;

/// Appends one argument (String, Symbol, Integer, Float, or an Array of them, flattened) to
/// `cmd`; another value with a string form of its own as its `to_s`, as redis-rb 4.8 sends it.
/// `nil` is `""`, as redis-rb 4.8 sends it (its own suite expects `xlen(nil)` to answer 0). A
/// Hash and an object whose `to_s` is `Kernel`'s are refused before anything is sent, naming
/// the argument (redis-rb 4.8 sent `"{…}"` and `"#<Object:0x…>"`: mistakes, which redis-rb 5
/// and redis-py refuse too), as `Slotshift::InvalidCommandError`, a `Redis::CommandError`.
fn push_arg(ruby: &Ruby, cmd: &mut Cmd, v: Value, pos: usize, depth: usize) -> Result<(), Error> {
    if let Some(s) = RString::from_value(v) {
        // SAFETY: the bytes are copied into `cmd` before any Ruby code can run.
        cmd.arg(unsafe { s.as_slice() });
    } else if let Some(sym) = Symbol::from_value(v) {
        cmd.arg(sym.name()?.as_bytes());
    } else if let Some(i) = Integer::from_value(v) {
        cmd.arg(i.to_string().as_bytes());
    } else if Float::from_value(v).is_some() {
        let s: RString = v.funcall("to_s", ())?;
        cmd.arg(unsafe { s.as_slice() });
    } else if let Some(a) = RArray::from_value(v) {
        if depth > 8 {
            return Err(errors::arg_error(
                ruby,
                format!("argument {pos}: arrays nested too deep"),
            ));
        }
        for item in a.into_iter() {
            push_arg(ruby, cmd, item, pos, depth + 1)?;
        }
    } else if magnus::RHash::from_value(v).is_some() {
        return Err(errors::by_family(
            ruby,
            "command",
            format!("argument {pos}: a Hash is not a command argument (pass its pairs, e.g. hash.to_a.flatten)"),
        ));
    } else if has_default_to_s(ruby, v) {
        return Err(errors::by_family(
            ruby,
            "command",
            format!(
                "argument {pos}: a {} has no string form of its own (its to_s is Object's)",
                unsafe { v.classname() }
            ),
        ));
    } else {
        // Anything else with a string form of its own, as redis-rb sends it: its `to_s` (nil is
        // "", true, an ActiveSupport::Duration, a BigDecimal, a Pathname …).
        let s: RString = v.funcall("to_s", ()).map_err(|_| {
            errors::type_error(
                ruby,
                format!("argument {pos}: a {} without a usable to_s", unsafe {
                    v.classname()
                }),
            )
        })?;
        // SAFETY: copied into `cmd` before any Ruby code runs again.
        cmd.arg(unsafe { s.as_slice() });
    }
    Ok(())
}

/// Whether `v`'s `to_s` is `Kernel#to_s` ("#<Object:0x…>"): an object with no string form of
/// its own, which as a command argument is a mistake.
fn has_default_to_s(ruby: &Ruby, v: Value) -> bool {
    let owner = v
        .funcall::<_, _, Value>("method", ("to_s",))
        .and_then(|m| m.funcall::<_, _, Value>("owner", ()));
    match owner {
        Ok(owner) => owner.equal(ruby.module_kernel()).unwrap_or(false),
        Err(_) => false,
    }
}

/// A command from a Ruby Array of arguments (the name first).
pub(crate) fn cmd_from(ruby: &Ruby, args: RArray) -> Result<Cmd, Error> {
    let mut cmd = Cmd::default();
    for (i, v) in args.into_iter().enumerate() {
        push_arg(ruby, &mut cmd, v, i, 0)?;
    }
    if cmd.is_empty() {
        return Err(errors::arg_error(ruby, "empty command".into()));
    }
    Ok(cmd)
}

/// Commands from a Ruby Array of Arrays.
pub(crate) fn cmds_from(ruby: &Ruby, list: RArray) -> Result<Vec<Cmd>, Error> {
    let mut out = Vec::with_capacity(list.len());
    for (i, v) in list.into_iter().enumerate() {
        let args = RArray::from_value(v).ok_or_else(|| {
            errors::type_error(ruby, format!("command {i} is not an Array of arguments"))
        })?;
        out.push(cmd_from(ruby, args)?);
    }
    Ok(out)
}

/// A reply as redis-rb gives it: bulk and status strings in `Encoding.default_external` (UTF-8
/// unless the application changed it; bytes unchanged),
/// integers, nil, arrays; an error reply nested in an array is a `Slotshift::CommandError`
/// object in its place.
pub(crate) fn reply_to(ruby: &Ruby, reply: Reply) -> Value {
    match reply {
        Reply::Nil => ruby.qnil().as_value(),
        Reply::Int(i) => ruby.integer_from_i64(i).as_value(),
        // As redis-rb's drivers: the bytes unchanged, tagged with Encoding.default_external.
        Reply::Bulk(b) => ruby.enc_str_new(&b, ruby.enc_default_external()).as_value(),
        Reply::Status(s) => ruby.enc_str_new(&s, ruby.enc_default_external()).as_value(),
        Reply::Array(items) | Reply::Set(items) => array_of(ruby, items).as_value(),
        Reply::Map(pairs) => {
            let h = ruby.hash_new();
            for (k, v) in pairs {
                let _ = h.aset(reply_to(ruby, k), reply_to(ruby, v));
            }
            h.as_value()
        }
        Reply::Double(d) => ruby.float_from_f64(d).as_value(),
        Reply::Bool(b) => {
            if b {
                ruby.qtrue().as_value()
            } else {
                ruby.qfalse().as_value()
            }
        }
        Reply::Verbatim { text, .. } => ruby.str_new(&text).as_value(),
        Reply::BigNumber(digits) => ruby.enc_str_new(&digits, ruby.utf8_encoding()).as_value(),
        Reply::Error(e) => errors::instance(ruby, "server", e.to_string().trim_end().to_owned()),
        other => ruby.str_new(&format!("{other:?}")).as_value(),
    }
}

fn array_of(ruby: &Ruby, items: Vec<Reply>) -> RArray {
    let a = ruby.ary_new_capa(items.len());
    for item in items {
        let _ = a.push(reply_to(ruby, item));
    }
    a
}

/// Per-command results of a pipeline: values, or exception objects in place of failures.
pub(crate) fn results_to(ruby: &Ruby, results: Vec<slotshift::Result<Reply>>) -> RArray {
    let a = ruby.ary_new_capa(results.len());
    for r in results {
        let v = match r {
            Ok(reply) => reply_to(ruby, reply),
            Err(e) => errors::instance_of(ruby, &e),
        };
        let _ = a.push(v);
    }
    a
}
