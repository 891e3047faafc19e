//! Comparing keys on two stores: batched metadata, `DUMP` equality, and chunked type-aware
//! comparison for big keys and for keys whose payloads differ.

use std::time::Duration;

use crate::command::Cmd;
use crate::net::runtime;
use crate::reply::Reply;
use crate::store::Store;
use crate::{Error, Result};

use super::census::Census;
use super::{DiffKind, DiffMode, MigrateError};

/// What one store holds under one key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Meta {
    /// `TYPE`'s answer: `none`, `string`, `list`, `set`, `zset`, `hash`, `stream`, or a module
    /// type's name; empty while not asked (a full comparison asks only for the keys it needs
    /// it for: keys on one side, big keys, keys whose `DUMP` payloads differ). A key that does
    /// not exist is `none` either way.
    pub ty: String,
    /// `PTTL`: milliseconds left, `-1` for no expiry, `-2` for no key.
    pub pttl: i64,
    /// `MEMORY USAGE` in bytes (0 when the key is gone).
    pub size: u64,
}

impl Meta {
    /// Whether the key exists.
    pub fn exists(&self) -> bool {
        self.ty != "none"
    }

    /// Whether the key exists and expires within `tolerance_ms`.
    fn expiring(&self, tolerance_ms: i64) -> bool {
        self.exists() && self.pttl >= 0 && self.pttl <= tolerance_ms
    }
}

/// How keys are compared.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub mode: DiffMode,
    pub ttl_tolerance_ms: i64,
    pub compare_ttl: bool,
    pub big_key_bytes: u64,
    pub chunk: usize,
}

impl Settings {
    pub(crate) fn new(
        mode: DiffMode,
        tolerance: Duration,
        compare_ttl: bool,
        big_key_bytes: u64,
        chunk: usize,
    ) -> Settings {
        Settings {
            mode,
            ttl_tolerance_ms: i64::try_from(tolerance.as_millis()).unwrap_or(i64::MAX),
            compare_ttl,
            big_key_bytes,
            chunk: chunk.max(1),
        }
    }
}

/// One key that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub key: Vec<u8>,
    pub kind: DiffKind,
    pub detail: String,
}

/// A key as text; the one implementation lives in [`crate::keyspace::escape_key`].
pub use crate::keyspace::escape_key;

fn bad(command: &'static str, reply: &Reply) -> Error {
    let mut detail = format!("{reply:?}");
    detail.truncate(120);
    MigrateError::Reply { command, detail }.into()
}

/// The replies of one pipeline, in order.
pub(crate) type Replies = Vec<Result<Reply>>;

/// Runs two pipelines, one per store, at the same time.
pub(crate) fn pair(src: &Store, dst: &Store, a: &[Cmd], b: &[Cmd]) -> Result<(Replies, Replies)> {
    let (ra, rb) = runtime::block_on(async {
        let fa = async {
            if a.is_empty() {
                Ok(Vec::new())
            } else {
                src.pipeline_async(a).await
            }
        };
        let fb = async {
            if b.is_empty() {
                Ok(Vec::new())
            } else {
                dst.pipeline_async(b).await
            }
        };
        futures_util::future::join(fa, fb).await
    })?;
    let (ra, rb) = (ra?, rb?);
    if ra.len() != a.len() || rb.len() != b.len() {
        return Err(MigrateError::MissingReply {
            command: "a compared pipeline",
        }
        .into());
    }
    Ok((ra, rb))
}

/// `store.pipeline(cmds)`, refusing a reply list shorter (or longer) than the commands: a
/// missing reply is an error, never a silent nil.
pub(crate) fn pipeline_all(store: &Store, cmds: &[Cmd], command: &'static str) -> Result<Replies> {
    if cmds.is_empty() {
        return Ok(Vec::new());
    }
    let replies = store.pipeline(cmds)?;
    if replies.len() != cmds.len() {
        return Err(MigrateError::MissingReply { command }.into());
    }
    Ok(replies)
}

/// A reply, with a server's error reply as an error.
pub(crate) fn server_reply(r: Result<Reply>) -> Result<Reply> {
    match r? {
        Reply::Error(e) => Err(Error::Server(e)),
        other => Ok(other),
    }
}

/// Of `keys`, listed on the destination, those the source does not have (one `EXISTS` each),
/// compared now: an extra key, or whatever differs if the source has it by then.
pub(crate) fn absent_on_source(
    src: &Store,
    dst: &Store,
    keys: Vec<Vec<u8>>,
    s: &Settings,
) -> Result<Vec<Finding>> {
    let cmds: Vec<Cmd> = keys
        .iter()
        .map(|k| Cmd::new("EXISTS").with_arg(k))
        .collect();
    let mut absent = Vec::new();
    for (k, r) in keys.into_iter().zip(pipeline_all(src, &cmds, "EXISTS")?) {
        if server_reply(r)?.as_int() == Some(0) {
            absent.push(k);
        }
    }
    compare_keys(src, dst, &absent, s)
}

fn meta_cmds(keys: &[Vec<u8>], with_type: bool) -> Vec<Cmd> {
    let mut cmds = Vec::with_capacity(keys.len() * 3);
    for k in keys {
        if with_type {
            cmds.push(Cmd::new("TYPE").with_arg(k));
        }
        cmds.push(Cmd::new("PTTL").with_arg(k));
        cmds.push(Cmd::new("MEMORY").with_arg("USAGE").with_arg(k));
    }
    cmds
}

fn type_name(r: Result<Reply>) -> Result<String> {
    let t = server_reply(r)?;
    match t.as_bytes() {
        Some(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        None => Err(bad("TYPE", &t)),
    }
}

fn parse_meta(replies: Vec<Result<Reply>>, with_type: bool) -> Result<Vec<Meta>> {
    let mut out = Vec::with_capacity(replies.len() / 3);
    let mut it = replies.into_iter();
    loop {
        let ty = if with_type {
            match it.next() {
                Some(t) => Some(type_name(t)?),
                None => break,
            }
        } else {
            None
        };
        let (Some(p), Some(m)) = (it.next(), it.next()) else {
            break;
        };
        let p = server_reply(p)?;
        let pttl = p.as_int().ok_or_else(|| bad("PTTL", &p))?;
        let size = match server_reply(m)? {
            Reply::Int(n) => u64::try_from(n).unwrap_or(0),
            _ => 0,
        };
        // `PTTL` -2: no key (also one that vanished between TYPE and PTTL).
        let ty = if pttl == -2 {
            "none".to_owned()
        } else {
            ty.unwrap_or_default()
        };
        out.push(Meta { ty, pttl, size });
    }
    Ok(out)
}

/// `PTTL` and `MEMORY USAGE` of `keys` on both stores, pipelined, at once; `TYPE` too where
/// `with_type`.
pub(crate) fn metas(
    src: &Store,
    dst: &Store,
    keys: &[Vec<u8>],
    with_type: bool,
) -> Result<(Vec<Meta>, Vec<Meta>)> {
    let cmds = meta_cmds(keys, with_type);
    let (a, b) = pair(src, dst, &cmds, &cmds)?;
    Ok((parse_meta(a, with_type)?, parse_meta(b, with_type)?))
}

/// Asks `TYPE` on both stores for the keys at `idxs` whose type is not known yet (one round
/// trip for all of them) and fills it in.
fn fill_types(
    src: &Store,
    dst: &Store,
    keys: &[Vec<u8>],
    idxs: &[usize],
    ms: &mut [Meta],
    md: &mut [Meta],
) -> Result<()> {
    let need: Vec<usize> = idxs
        .iter()
        .copied()
        .filter(|&i| ms[i].ty.is_empty() || md[i].ty.is_empty())
        .collect();
    if need.is_empty() {
        return Ok(());
    }
    let cmds: Vec<Cmd> = need
        .iter()
        .map(|&i| Cmd::new("TYPE").with_arg(&keys[i]))
        .collect();
    let (ra, rb) = pair(src, dst, &cmds, &cmds)?;
    for ((&i, a), b) in need.iter().zip(ra).zip(rb) {
        for (meta, r) in [(&mut ms[i], a), (&mut md[i], b)] {
            if meta.ty.is_empty() {
                meta.ty = type_name(r)?;
            }
        }
    }
    Ok(())
}

/// What a key's existence and type on the two sides decide.
enum Outline {
    /// Nothing to report: absent on both sides, or on one side only and expiring within the
    /// tolerance.
    Nothing,
    /// A difference: on one side only, or of two types.
    Differs(DiffKind, String),
    /// On both sides, of one type or of types not asked yet: its TTL and value decide.
    Open,
}

fn outline(a: &Meta, b: &Meta, tol: i64) -> Outline {
    match (a.exists(), b.exists()) {
        (false, false) => Outline::Nothing,
        (true, false) if a.expiring(tol) => Outline::Nothing,
        (true, false) => Outline::Differs(DiffKind::Missing, format!("source {}", a.ty)),
        (false, true) if b.expiring(tol) => Outline::Nothing,
        (false, true) => Outline::Differs(DiffKind::Extra, format!("destination {}", b.ty)),
        (true, true) if !a.ty.is_empty() && !b.ty.is_empty() && a.ty != b.ty => Outline::Differs(
            DiffKind::Type,
            format!("source {} destination {}", a.ty, b.ty),
        ),
        (true, true) => Outline::Open,
    }
}

fn length_cmd(ty: &str, key: &[u8]) -> Option<Cmd> {
    let name = match ty {
        "string" => "STRLEN",
        "list" => "LLEN",
        "set" => "SCARD",
        "zset" => "ZCARD",
        "hash" => "HLEN",
        "stream" => "XLEN",
        _ => return None,
    };
    Some(Cmd::new(name).with_arg(key))
}

fn ttl_differs(a: i64, b: i64, tolerance: i64) -> bool {
    match (a < 0, b < 0) {
        (true, true) => a != b,
        (false, false) => (a - b).abs() > tolerance,
        _ => true,
    }
}

fn ttl_text(pttl: i64) -> String {
    if pttl < 0 {
        "none".to_owned()
    } else {
        format!("{pttl}ms")
    }
}

/// Compares `keys` on the two stores and returns the keys that differ now (no re-check).
pub(crate) fn compare_keys(
    src: &Store,
    dst: &Store,
    keys: &[Vec<u8>],
    s: &Settings,
) -> Result<Vec<Finding>> {
    compare_counting(src, dst, keys, s, None)
}

/// [`compare_keys`], also counting in `on_destination` each key the destination had when it
/// was looked at (the forward pass's half of the reverse pass's [`Census`]).
pub(crate) fn compare_counting(
    src: &Store,
    dst: &Store,
    keys: &[Vec<u8>],
    s: &Settings,
    on_destination: Option<&Census>,
) -> Result<Vec<Finding>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    // A full comparison reads TYPE only where it needs it: two keys whose DUMP payloads are
    // equal have the same type, so most keys cost PTTL, MEMORY USAGE and DUMP on each side.
    let full = s.mode == DiffMode::Full;
    let (mut ms, mut md) = metas(src, dst, keys, !full)?;
    if let Some(census) = on_destination {
        let found = keys.iter().zip(&md).filter(|(_, m)| m.exists());
        census.add_all(found.map(|(k, _)| k.as_slice()));
    }
    if full {
        // The keys whose report or comparison names their type before any DUMP: those on
        // one side only, and the big ones.
        let need: Vec<usize> = (0..keys.len())
            .filter(|&i| {
                let (a, b) = (&ms[i], &md[i]);
                a.exists() != b.exists()
                    || (a.exists() && (a.size >= s.big_key_bytes || b.size >= s.big_key_bytes))
            })
            .collect();
        fill_types(src, dst, keys, &need, &mut ms, &mut md)?;
    }
    compare_with_meta(src, dst, keys, &mut ms, &mut md, s)
}

/// [`compare_keys`] once the metadata of both sides is known (the types of keys on one side
/// only and of big keys included; other types may be empty, and are then asked for the keys
/// whose `DUMP` payloads differ).
pub(crate) fn compare_with_meta(
    src: &Store,
    dst: &Store,
    keys: &[Vec<u8>],
    ms: &mut [Meta],
    md: &mut [Meta],
    s: &Settings,
) -> Result<Vec<Finding>> {
    let mut found = Vec::new();
    // Keys on both sides with the same type whose values still need comparing.
    let mut dump_idx = Vec::new();
    let mut len_idx = Vec::new();
    let tol = s.ttl_tolerance_ms;
    for (i, key) in keys.iter().enumerate() {
        let (a, b) = (&ms[i], &md[i]);
        let finding = |kind, detail: String| Finding {
            key: key.clone(),
            kind,
            detail,
        };
        match outline(a, b, tol) {
            Outline::Nothing => continue,
            Outline::Differs(kind, detail) => {
                found.push(finding(kind, detail));
                continue;
            }
            Outline::Open => {}
        }
        if s.compare_ttl && ttl_differs(a.pttl, b.pttl, tol) {
            found.push(finding(
                DiffKind::Ttl,
                format!(
                    "source {} destination {}",
                    ttl_text(a.pttl),
                    ttl_text(b.pttl)
                ),
            ));
            continue;
        }
        match s.mode {
            DiffMode::Outline => {}
            DiffMode::Length => len_idx.push(i),
            DiffMode::Full => {
                if a.size >= s.big_key_bytes || b.size >= s.big_key_bytes {
                    len_idx.push(i);
                } else {
                    dump_idx.push(i);
                }
            }
        }
    }
    // Lengths (length mode, and big keys in full mode).
    let mut deep = Vec::new();
    if !len_idx.is_empty() {
        let mut cmds = Vec::new();
        let mut which = Vec::new();
        for &i in &len_idx {
            if let Some(c) = length_cmd(&ms[i].ty, &keys[i]) {
                cmds.push(c);
                which.push(i);
            } else if s.mode == DiffMode::Full {
                deep.push(i);
            }
        }
        let (ra, rb) = pair(src, dst, &cmds, &cmds)?;
        for ((i, a), b) in which.into_iter().zip(ra).zip(rb) {
            let (a, b) = (server_reply(a)?.as_int(), server_reply(b)?.as_int());
            if a != b {
                found.push(Finding {
                    key: keys[i].clone(),
                    kind: DiffKind::Value,
                    detail: format!(
                        "{} length source {} destination {}",
                        ms[i].ty,
                        a.unwrap_or(0),
                        b.unwrap_or(0)
                    ),
                });
            } else if s.mode == DiffMode::Full {
                deep.push(i);
            }
        }
    }
    // DUMP equality for small keys.
    if !dump_idx.is_empty() {
        let cmds: Vec<Cmd> = dump_idx
            .iter()
            .map(|&i| Cmd::new("DUMP").with_arg(&keys[i]))
            .collect();
        let (ra, rb) = pair(src, dst, &cmds, &cmds)?;
        let mut differ = Vec::new();
        for ((&i, a), b) in dump_idx.iter().zip(ra).zip(rb) {
            let (a, b) = (server_reply(a)?, server_reply(b)?);
            if a.is_nil() || b.is_nil() || a != b {
                differ.push(i);
            }
        }
        // Payloads differ: the same value in another encoding, or another type.
        fill_types(src, dst, keys, &differ, ms, md)?;
        // A key gone since its PTTL (expired, deleted) is judged as the first pass judges
        // one side's absence.
        for i in differ {
            match outline(&ms[i], &md[i], tol) {
                Outline::Nothing => {}
                Outline::Differs(kind, detail) => found.push(Finding {
                    key: keys[i].clone(),
                    kind,
                    detail,
                }),
                Outline::Open => deep.push(i),
            }
        }
    }
    for i in deep {
        if let Some(detail) = deep_compare(src, dst, &keys[i], &ms[i].ty, s.chunk)? {
            found.push(Finding {
                key: keys[i].clone(),
                kind: DiffKind::Value,
                detail,
            });
        }
    }
    Ok(found)
}

fn call2(src: &Store, dst: &Store, a: Cmd, b: Cmd) -> Result<(Reply, Reply)> {
    let (mut ra, mut rb) = pair(src, dst, &[a], &[b])?;
    let missing = || -> crate::Error {
        MigrateError::MissingReply {
            command: "a compared command",
        }
        .into()
    };
    let a = ra.pop().ok_or_else(missing)?;
    let b = rb.pop().ok_or_else(missing)?;
    Ok((server_reply(a)?, server_reply(b)?))
}

fn same_cmd2(src: &Store, dst: &Store, c: Cmd) -> Result<(Reply, Reply)> {
    call2(src, dst, c.clone(), c)
}

fn items(r: Reply) -> Vec<Reply> {
    match r {
        Reply::Array(v) | Reply::Set(v) => v,
        Reply::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        _ => Vec::new(),
    }
}

fn bytes(r: &Reply) -> Option<Vec<u8>> {
    r.as_bytes().map(<[u8]>::to_vec)
}

fn score(r: &Reply) -> Option<f64> {
    match r {
        Reply::Double(d) => Some(*d),
        other => {
            let s = std::str::from_utf8(other.as_bytes()?).ok()?;
            match s {
                "inf" | "+inf" => Some(f64::INFINITY),
                "-inf" => Some(f64::NEG_INFINITY),
                _ => s.parse().ok(),
            }
        }
    }
}

/// Compares one key's value type by type, in chunks. `Some(detail)` when it differs.
pub(crate) fn deep_compare(
    src: &Store,
    dst: &Store,
    key: &[u8],
    ty: &str,
    chunk: usize,
) -> Result<Option<String>> {
    if let Some(len) = length_cmd(ty, key) {
        let (a, b) = same_cmd2(src, dst, len)?;
        if a.as_int() != b.as_int() {
            return Ok(Some(format!(
                "{ty} length source {} destination {}",
                a.as_int().unwrap_or(0),
                b.as_int().unwrap_or(0)
            )));
        }
    }
    match ty {
        "string" => compare_string(src, dst, key, chunk * 1024),
        "list" => compare_list(src, dst, key, chunk),
        "hash" => compare_hash(src, dst, key, chunk),
        "set" => compare_set(src, dst, key, chunk),
        "zset" => compare_zset(src, dst, key, chunk),
        "stream" => compare_stream(src, dst, key, chunk),
        _ => {
            let (a, b) = same_cmd2(src, dst, Cmd::new("DUMP").with_arg(key))?;
            Ok((a != b).then(|| format!("{ty} payloads differ")))
        }
    }
}

fn compare_string(src: &Store, dst: &Store, key: &[u8], window: usize) -> Result<Option<String>> {
    let mut off = 0usize;
    loop {
        let c = Cmd::new("GETRANGE")
            .with_arg(key)
            .with_arg(off.to_string())
            .with_arg((off + window - 1).to_string());
        let (a, b) = same_cmd2(src, dst, c)?;
        let (a, b) = (bytes(&a).unwrap_or_default(), bytes(&b).unwrap_or_default());
        if a != b {
            return Ok(Some(format!(
                "string differs in bytes {off}..{}",
                off + window
            )));
        }
        if a.len() < window {
            return Ok(None);
        }
        off += window;
    }
}

fn compare_list(src: &Store, dst: &Store, key: &[u8], chunk: usize) -> Result<Option<String>> {
    let mut start = 0usize;
    loop {
        let c = Cmd::new("LRANGE")
            .with_arg(key)
            .with_arg(start.to_string())
            .with_arg((start + chunk - 1).to_string());
        let (a, b) = same_cmd2(src, dst, c)?;
        let (a, b) = (items(a), items(b));
        if let Some(j) = (0..a.len().max(b.len())).find(|&j| a.get(j) != b.get(j)) {
            return Ok(Some(format!("list element {} differs", start + j)));
        }
        if a.len() < chunk {
            return Ok(None);
        }
        start += chunk;
    }
}

fn scan_loop(
    src: &Store,
    key: &[u8],
    cmd: &str,
    chunk: usize,
    mut each: impl FnMut(Vec<Reply>) -> Result<Option<String>>,
) -> Result<Option<String>> {
    let mut cursor = b"0".to_vec();
    loop {
        let c = Cmd::new(cmd)
            .with_arg(key)
            .with_arg(&cursor)
            .with_arg("COUNT")
            .with_arg(chunk.to_string());
        let reply = server_reply(Ok(src.call(&c)?))?;
        let parts = items(reply);
        let n = parts.len();
        let Ok([next, elems]) = <[Reply; 2]>::try_from(parts) else {
            return Err(MigrateError::Reply {
                command: "SCAN family",
                detail: format!("{n} parts"),
            }
            .into());
        };
        let elems = items(elems);
        cursor = bytes(&next).ok_or_else(|| bad("SCAN family", &next))?;
        if !elems.is_empty() {
            if let Some(d) = each(elems)? {
                return Ok(Some(d));
            }
        }
        if cursor == b"0" {
            return Ok(None);
        }
    }
}

fn compare_hash(src: &Store, dst: &Store, key: &[u8], chunk: usize) -> Result<Option<String>> {
    scan_loop(src, key, "HSCAN", chunk, |elems| {
        let mut c = Cmd::new("HMGET");
        c.arg(key);
        let mut want = Vec::with_capacity(elems.len() / 2);
        for pair in elems.chunks(2) {
            if let [f, v] = pair {
                c.arg(f.as_bytes().unwrap_or_default());
                want.push(bytes(v));
            }
        }
        let got = items(server_reply(Ok(dst.call(&c)?))?);
        if want.iter().zip(got.iter()).any(|(w, g)| *w != bytes(g)) || got.len() != want.len() {
            return Ok(Some(
                "a hash field differs or is missing on the destination".into(),
            ));
        }
        Ok(None)
    })
}

fn compare_set(src: &Store, dst: &Store, key: &[u8], chunk: usize) -> Result<Option<String>> {
    scan_loop(src, key, "SSCAN", chunk, |elems| {
        let mut c = Cmd::new("SMISMEMBER");
        c.arg(key);
        for m in &elems {
            c.arg(m.as_bytes().unwrap_or_default());
        }
        let got = items(server_reply(Ok(dst.call(&c)?))?);
        if got.len() != elems.len() || got.iter().any(|g| g.as_int() != Some(1)) {
            return Ok(Some("a set member is missing on the destination".into()));
        }
        Ok(None)
    })
}

fn compare_zset(src: &Store, dst: &Store, key: &[u8], chunk: usize) -> Result<Option<String>> {
    scan_loop(src, key, "ZSCAN", chunk, |elems| {
        let mut c = Cmd::new("ZMSCORE");
        c.arg(key);
        let mut want = Vec::with_capacity(elems.len() / 2);
        for pair in elems.chunks(2) {
            if let [m, s] = pair {
                c.arg(m.as_bytes().unwrap_or_default());
                want.push(score(s));
            }
        }
        let got = items(server_reply(Ok(dst.call(&c)?))?);
        if got.len() != want.len() || want.iter().zip(got.iter()).any(|(w, g)| *w != score(g)) {
            return Ok(Some("a zset member is missing or has another score".into()));
        }
        Ok(None)
    })
}

fn compare_stream(src: &Store, dst: &Store, key: &[u8], chunk: usize) -> Result<Option<String>> {
    let mut start = b"-".to_vec();
    loop {
        let c = Cmd::new("XRANGE")
            .with_arg(key)
            .with_arg(&start)
            .with_arg("+")
            .with_arg("COUNT")
            .with_arg(chunk.to_string());
        let (a, b) = same_cmd2(src, dst, c)?;
        let (a, b) = (items(a), items(b));
        if a != b {
            return Ok(Some("stream entries differ".into()));
        }
        if a.len() < chunk {
            return Ok(None);
        }
        let last = a
            .last()
            .and_then(|e| match e {
                Reply::Array(parts) => parts.first().and_then(bytes),
                _ => None,
            })
            .ok_or_else(|| bad("XRANGE", &Reply::Nil))?;
        start = [b"(".as_slice(), &last].concat();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_tolerance() {
        assert!(!ttl_differs(-1, -1, 1000));
        assert!(ttl_differs(-1, 5000, 1000));
        assert!(ttl_differs(5000, -1, 1000));
        assert!(!ttl_differs(5000, 4200, 1000));
        assert!(ttl_differs(5000, 3900, 1000));
    }

    #[test]
    fn scores_parse() {
        assert_eq!(score(&Reply::Bulk(b"1.5".to_vec())), Some(1.5));
        assert_eq!(
            score(&Reply::Bulk(b"-inf".to_vec())),
            Some(f64::NEG_INFINITY)
        );
        assert_eq!(score(&Reply::Double(2.0)), Some(2.0));
    }
}
