//! The listing commands: `SCAN`, `CLUSTER COUNTKEYSINSLOT`, `CLUSTER GETKEYSINSLOT`,
//! `CLUSTER NODES`, and the per-master `SCAN` lister of standalone and Sentinel stores.

use crate::cluster::NodeAddr;
use crate::command::Cmd;
use crate::reply::Reply;
use crate::store::Store;
use crate::{Error, Result};

use super::scan::{parse_scan, scan_cmd};
use super::view::View;
use super::{dedup, unexpected, ErrorMap, Filter, Page, Update, WalkError};
use crate::glob;

/// What every lister needs.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub store: &'a Store,
    pub filter: &'a Filter,
    /// `SCAN … COUNT` and keys per page.
    pub batch: usize,
    pub map: ErrorMap,
}

impl Ctx<'_> {
    pub(crate) fn bad(&self, node: &NodeAddr, command: &'static str, reply: &Reply) -> Error {
        (self.map)(unexpected(node, command, reply))
    }

    pub(crate) fn walk_error(&self, e: WalkError) -> Error {
        (self.map)(e)
    }
}

fn server(reply: Reply) -> Result<Reply> {
    match reply {
        Reply::Error(e) => Err(Error::Server(e)),
        other => Ok(other),
    }
}

/// One `SCAN` step on `node`.
pub(crate) async fn scan_step(
    ctx: Ctx<'_>,
    node: &NodeAddr,
    cursor: &str,
) -> Result<(String, Vec<Vec<u8>>)> {
    let cmd = scan_cmd(
        cursor.as_bytes(),
        ctx.filter.pattern.as_deref(),
        Some(ctx.batch),
        ctx.filter.key_type.as_deref(),
    );
    let reply = server(ctx.store.call_on_async(node, &cmd).await?)?;
    let shown = super::shape(&reply);
    let parsed = parse_scan(reply).map(|(c, k)| (String::from_utf8_lossy(&c).into_owned(), k));
    parsed.ok_or_else(|| {
        ctx.walk_error(WalkError::UnexpectedReply {
            node: node.to_string(),
            command: "SCAN",
            reply: shown,
        })
    })
}

/// `CLUSTER COUNTKEYSINSLOT` for each of `slots` on `node`, as one pipeline.
pub(crate) async fn count_keys(ctx: Ctx<'_>, node: &NodeAddr, slots: &[u16]) -> Result<Vec<u64>> {
    if slots.is_empty() {
        return Ok(Vec::new());
    }
    let cmds: Vec<Cmd> = slots
        .iter()
        .map(|s| Cmd::from_args(["CLUSTER", "COUNTKEYSINSLOT", &s.to_string()]))
        .collect();
    let replies = ctx.store.pipeline_on_async(node, &cmds).await?;
    complete(ctx, node, "CLUSTER COUNTKEYSINSLOT", &cmds, &replies)?;
    replies
        .into_iter()
        .map(|r| match server(r?)? {
            Reply::Int(n) => Ok(u64::try_from(n).unwrap_or(0)),
            other => Err(ctx.bad(node, "CLUSTER COUNTKEYSINSLOT", &other)),
        })
        .collect()
}

/// `CLUSTER GETKEYSINSLOT slot count` for each of `slots` on `node`, as one pipeline.
pub(crate) async fn get_keys(
    ctx: Ctx<'_>,
    node: &NodeAddr,
    slots: &[u16],
    count: usize,
) -> Result<Vec<Vec<Vec<u8>>>> {
    if slots.is_empty() {
        return Ok(Vec::new());
    }
    let cmds: Vec<Cmd> = slots
        .iter()
        .map(|s| {
            Cmd::from_args([
                "CLUSTER".to_owned(),
                "GETKEYSINSLOT".to_owned(),
                s.to_string(),
                count.to_string(),
            ])
        })
        .collect();
    let replies = ctx.store.pipeline_on_async(node, &cmds).await?;
    complete(ctx, node, "CLUSTER GETKEYSINSLOT", &cmds, &replies)?;
    replies
        .into_iter()
        .map(|r| match server(r?)? {
            Reply::Array(items) | Reply::Set(items) => items
                .into_iter()
                .map(|k| match k {
                    Reply::Bulk(b) => Ok(b),
                    other => Err(ctx.bad(node, "CLUSTER GETKEYSINSLOT", &other)),
                })
                .collect(),
            other => Err(ctx.bad(node, "CLUSTER GETKEYSINSLOT", &other)),
        })
        .collect()
}

/// A pipeline's replies must be one per command: a short list is an error, never a slot
/// silently taken as empty.
fn complete<T>(
    ctx: Ctx<'_>,
    node: &NodeAddr,
    command: &'static str,
    cmds: &[Cmd],
    replies: &[T],
) -> Result<()> {
    if replies.len() == cmds.len() {
        return Ok(());
    }
    Err(ctx.walk_error(WalkError::UnexpectedReply {
        node: node.to_string(),
        command,
        reply: format!("{} replies to {} commands", replies.len(), cmds.len()),
    }))
}

/// `CLUSTER NODES` on `node`, parsed.
pub(crate) async fn view_of(ctx: Ctx<'_>, node: &NodeAddr) -> Result<View> {
    let reply = server(
        ctx.store
            .call_on_async(node, &Cmd::from_args(["CLUSTER", "NODES"]))
            .await?,
    )?;
    let text = reply
        .as_bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .ok_or_else(|| ctx.bad(node, "CLUSTER NODES", &reply))?;
    View::parse(&text, node).ok_or_else(|| ctx.bad(node, "CLUSTER NODES", &reply))
}

/// Applies the pattern (and, when asked, the type) to keys listed by slot.
pub(crate) fn filter_listed(ctx: Ctx<'_>, mut keys: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>> {
    if ctx.filter.skip_prefix.is_some() {
        keys.retain(|k| !ctx.filter.skips(k));
    }
    if let Some(p) = &ctx.filter.pattern {
        keys.retain(|k| glob::matches(p, k));
    }
    if let (Some(want), true) = (&ctx.filter.key_type, ctx.filter.check_type) {
        if keys.is_empty() {
            return Ok(keys);
        }
        let cmds: Vec<Cmd> = keys.iter().map(|k| Cmd::new("TYPE").with_arg(k)).collect();
        let replies = ctx.store.pipeline(&cmds)?;
        if replies.len() != keys.len() {
            return Err(ctx.walk_error(WalkError::UnexpectedReply {
                node: "pipeline".into(),
                command: "TYPE",
                reply: format!("{} replies for {} keys", replies.len(), keys.len()),
            }));
        }
        let mut kept = Vec::with_capacity(keys.len());
        for (k, r) in keys.into_iter().zip(replies) {
            let r = server(r?)?;
            if r.as_bytes()
                .is_some_and(|t| t.eq_ignore_ascii_case(want.as_bytes()))
            {
                kept.push(k);
            }
        }
        keys = kept;
    }
    Ok(keys)
}

/// Walks one master with `SCAN` (standalone and Sentinel).
pub(crate) struct MasterLister {
    pub idx: usize,
    pub node: NodeAddr,
    pub cursor: String,
    pub done: bool,
}

impl MasterLister {
    pub(crate) fn next_page(&mut self, ctx: Ctx<'_>) -> Result<Option<Page>> {
        if self.done {
            return Ok(None);
        }
        let (next, mut keys) = crate::store::block_on(scan_step(ctx, &self.node, &self.cursor))??;
        dedup(&mut keys);
        keys.retain(|k| ctx.filter.keeps_key(k));
        self.done = next == "0";
        self.cursor.clone_from(&next);
        Ok(Some(Page {
            keys,
            update: Some(Update::Master {
                idx: self.idx,
                cursor: next,
            }),
        }))
    }
}
