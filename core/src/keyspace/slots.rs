//! The per-slot walk of a cluster (see the [module documentation](super) for the rules and
//! the guarantee under resharding).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use crate::cluster::NodeAddr;
use crate::store::block_on;
use crate::Result;

use super::list::{count_keys, filter_listed, get_keys, scan_step, view_of, Ctx};
use super::view::SlotState;
use super::{HotCursor, Page, Update, WalkError, EPOCH_RELISTS, SLOT_ATTEMPTS, SLOT_BOUND};

/// Slots asked about per round trip group.
const SLOT_CHUNK: usize = 128;
/// Pause before asking again about a slot that no node owns, or whose owner the nodes do not
/// agree on yet.
const UNOWNED_PAUSE: Duration = Duration::from_millis(100);

/// 128 bits of a key's BLAKE3 digest (collision-resistant, unkeyed): what a hot slot remembers
/// per walked key.
type Digest = [u8; 16];

fn digest(key: &[u8]) -> Digest {
    let mut d = [0u8; 16];
    d.copy_from_slice(&blake3::hash(key).as_bytes()[..16]);
    d
}

/// One `SCAN` pass over `node` for hot slots.
struct HotPass {
    node: NodeAddr,
    slots: Vec<u16>,
    cursor: String,
    scanned: bool,
    /// Per slot, the keys walked so far.
    seen: HashMap<u16, HashSet<Digest>>,
    /// This pass lists the target of a migration whose source was walked before: keys only
    /// move source → target, so once it is done the slot is done.
    after_migration: bool,
    attempts: usize,
}

impl HotPass {
    fn saved(&self) -> HotCursor {
        HotCursor {
            node: self.node.to_string(),
            slots: self.slots.clone(),
            cursor: self.cursor.clone(),
            scanned: self.scanned,
        }
    }
}

/// Counts one more listing of `slot` in `tries`; [`WalkError::SlotUnstable`] at `bound`.
fn count_try(ctx: Ctx<'_>, tries: &mut HashMap<u16, usize>, slot: u16, bound: usize) -> Result<()> {
    let n = tries.entry(slot).or_insert(0);
    *n += 1;
    if *n >= bound {
        return Err(ctx.walk_error(WalkError::SlotUnstable {
            slot,
            attempts: bound,
        }));
    }
    Ok(())
}

/// What listing a slot on one node gave.
enum Listed {
    /// Every key, at most the bound.
    Keys(Vec<Vec<u8>>),
    /// More keys than the bound.
    Hot,
}

/// Walks a set of slots, starting at the master that owned them when the walk began.
pub(crate) struct SlotLister {
    owner: NodeAddr,
    todo: VecDeque<u16>,
    passes: VecDeque<HotPass>,
    hot: Vec<u16>,
    /// Keys waiting to fill a page, and the slots finished once they are committed.
    keys: Vec<Vec<u8>>,
    finished: Vec<u16>,
    ready: VecDeque<Page>,
    /// How often each slot was listed again because it came back to the owner meanwhile.
    relisted: HashMap<u16, usize>,
    /// Slots to list one at a time (their owner imported a slot while they were listed).
    single: VecDeque<u16>,
    /// How often each slot was listed again because its owner's epoch changed meanwhile.
    after_import: HashMap<u16, usize>,
}

impl SlotLister {
    pub(crate) fn new(owner: NodeAddr, slots: Vec<u16>) -> SlotLister {
        SlotLister {
            owner,
            todo: slots.into(),
            passes: VecDeque::new(),
            hot: Vec::new(),
            keys: Vec::new(),
            finished: Vec::new(),
            ready: VecDeque::new(),
            relisted: HashMap::new(),
            single: VecDeque::new(),
            after_import: HashMap::new(),
        }
    }

    /// A lister that continues hot passes saved in a checkpoint.
    pub(crate) fn resumed(saved: Vec<HotCursor>) -> SlotLister {
        let mut l = SlotLister::new(NodeAddr::new("resumed", 0), Vec::new());
        for h in saved {
            let Some(node) = NodeAddr::parse_endpoint(&h.node, "127.0.0.1") else {
                continue;
            };
            l.passes.push_back(HotPass {
                node,
                seen: h.slots.iter().map(|&s| (s, HashSet::new())).collect(),
                slots: h.slots,
                cursor: h.cursor,
                scanned: h.scanned,
                after_migration: false,
                attempts: 0,
            });
        }
        l
    }

    /// The master that owned the slots when the walk began.
    pub(crate) fn owner(&self) -> &NodeAddr {
        &self.owner
    }

    pub(crate) fn next_page(&mut self, ctx: Ctx<'_>) -> Result<Option<Page>> {
        loop {
            if let Some(p) = self.ready.pop_front() {
                return Ok(Some(p));
            }
            if let Some(slot) = self.single.pop_front() {
                self.list_chunk(ctx, &[slot])?;
                continue;
            }
            if !self.todo.is_empty() {
                let n = self.todo.len().min(SLOT_CHUNK);
                let chunk: Vec<u16> = self.todo.drain(..n).collect();
                self.list_chunk(ctx, &chunk)?;
                continue;
            }
            if !self.hot.is_empty() {
                self.flush();
                let slots = std::mem::take(&mut self.hot);
                self.passes.push_back(HotPass {
                    node: self.owner.clone(),
                    seen: slots.iter().map(|&s| (s, HashSet::new())).collect(),
                    slots,
                    cursor: "0".into(),
                    scanned: false,
                    after_migration: false,
                    attempts: 0,
                });
                continue;
            }
            if !self.passes.is_empty() {
                self.flush();
                self.step_pass(ctx)?;
                continue;
            }
            if !self.keys.is_empty() || !self.finished.is_empty() {
                self.flush();
                continue;
            }
            return Ok(None);
        }
    }

    /// Sends what was gathered as one page, with the slots it finishes. Every page that holds
    /// keys of a finished slot also marks that slot done, so a checkpoint taken after any
    /// committed page never holds keys of a slot it does not count as done (a resume would
    /// walk them again).
    fn flush(&mut self) {
        if self.keys.is_empty() && self.finished.is_empty() {
            return;
        }
        let keys = std::mem::take(&mut self.keys);
        let finished = std::mem::take(&mut self.finished);
        let update = (!finished.is_empty()).then_some(Update::Slots(finished));
        self.ready.push_back(Page { keys, update });
    }

    /// Gathers a finished slot's keys. Pages end at slot boundaries: before a slot whose keys
    /// would take the gathered ones past the batch, and once the batch is reached (a page
    /// holds at most a batch, or one slot's keys, at most [`SLOT_BOUND`]).
    fn add_slot(&mut self, ctx: Ctx<'_>, slot: u16, keys: Vec<Vec<u8>>) -> Result<()> {
        let keys = filter_listed(ctx, keys)?;
        let batch = ctx.batch.max(1);
        if !self.keys.is_empty() && self.keys.len() + keys.len() > batch {
            self.flush();
        }
        self.keys.extend(keys);
        self.finished.push(slot);
        if self.keys.len() >= batch {
            self.flush();
        }
        Ok(())
    }

    /// Lists `slots` on `node`: one pipeline of counts, then one of listings for the slots
    /// that hold keys (a chunk of mostly empty slots costs one round trip).
    async fn list_slots(ctx: Ctx<'_>, node: &NodeAddr, slots: &[u16]) -> Result<Vec<Listed>> {
        let counts = count_keys(ctx, node, slots).await?;
        let wanted: Vec<u16> = slots
            .iter()
            .zip(&counts)
            .filter(|(_, &n)| n > 0 && n as usize <= SLOT_BOUND)
            .map(|(&s, _)| s)
            .collect();
        let mut listings = get_keys(ctx, node, &wanted, SLOT_BOUND + 1)
            .await?
            .into_iter();
        let mut listed = Vec::with_capacity(slots.len());
        for n in counts {
            listed.push(match n as usize {
                0 => Listed::Keys(Vec::new()),
                n if n > SLOT_BOUND => Listed::Hot,
                _ => {
                    let keys = listings.next().unwrap_or_default();
                    // More than the bound: keys were written since the count.
                    if keys.len() > SLOT_BOUND {
                        Listed::Hot
                    } else {
                        Listed::Keys(keys)
                    }
                }
            });
        }
        Ok(listed)
    }

    /// [`Self::list_slots`] for one slot.
    async fn list_one(ctx: Ctx<'_>, node: &NodeAddr, slot: u16) -> Result<Listed> {
        let mut listed = Self::list_slots(ctx, node, &[slot]).await?;
        Ok(listed.pop().unwrap_or(Listed::Keys(Vec::new())))
    }

    fn list_chunk(&mut self, ctx: Ctx<'_>, chunk: &[u16]) -> Result<()> {
        let owner = self.owner.clone();
        let (before, lists, after) = block_on(async {
            // Asked before and after the listings, on the same node: a slot the node did not
            // own when its listing began was listed while it was away, and is listed again.
            let before = view_of(ctx, &owner).await;
            let lists = Self::list_slots(ctx, &owner, chunk).await;
            let after = view_of(ctx, &owner).await;
            (before, lists, after)
        })?;
        let (before, lists, after) = (before?, lists?, after?);
        // The node imported a slot meanwhile: one of this chunk's may have left and come back
        // during its listing (stable both times, keys missed while away).
        let imported = before.epoch() != after.epoch();
        for (&slot, listed) in chunk.iter().zip(lists) {
            match (listed, before.state(slot), after.state(slot)) {
                (Listed::Hot, _, _) => self.hot.push(slot),
                (Listed::Keys(_), SlotState::Stable, SlotState::Stable) if imported => {
                    self.relist_after_import(ctx, slot)?
                }
                (Listed::Keys(keys), SlotState::Stable, SlotState::Stable) => {
                    self.add_slot(ctx, slot, keys)?
                }
                (Listed::Keys(_), _, SlotState::Stable) => self.relist(ctx, slot)?,
                (Listed::Keys(keys), _, state) => self.settle(ctx, slot, keys, state)?,
            }
        }
        Ok(())
    }

    /// Puts `slot` back to be listed again on its owner (it came back while being listed).
    fn relist(&mut self, ctx: Ctx<'_>, slot: u16) -> Result<()> {
        count_try(ctx, &mut self.relisted, slot, SLOT_ATTEMPTS)?;
        self.todo.push_back(slot);
        Ok(())
    }

    /// Puts `slot` back to be listed again: its owner's epoch changed while it was listed.
    /// Listed again alone (a chunk of one, a window of one round trip), so a master that keeps
    /// importing cannot keep a whole chunk from finishing.
    fn relist_after_import(&mut self, ctx: Ctx<'_>, slot: u16) -> Result<()> {
        count_try(ctx, &mut self.after_import, slot, EPOCH_RELISTS)?;
        self.single.push_back(slot);
        Ok(())
    }

    /// Finishes a slot that was not stable on the node that listed `keys`.
    fn settle(
        &mut self,
        ctx: Ctx<'_>,
        slot: u16,
        keys: Vec<Vec<u8>>,
        mut state: SlotState,
    ) -> Result<()> {
        let mut seen: HashSet<Vec<u8>> = keys.iter().cloned().collect();
        let mut all = keys;
        let mut node = self.owner.clone();
        let mut visited = HashSet::from([node.clone()]);
        let mut add = |more: Vec<Vec<u8>>, all: &mut Vec<Vec<u8>>| {
            for k in more {
                if seen.insert(k.clone()) {
                    all.push(k);
                }
            }
        };
        for _ in 0..SLOT_ATTEMPTS {
            match state {
                SlotState::Stable => return self.add_slot(ctx, slot, all),
                SlotState::Migrating(_) | SlotState::Elsewhere(_) => {
                    let after_migration = matches!(state, SlotState::Migrating(_));
                    let (SlotState::Migrating(target) | SlotState::Elsewhere(target)) = state
                    else {
                        continue;
                    };
                    match block_on(Self::list_one(ctx, &target, slot))?? {
                        Listed::Keys(more) => add(more, &mut all),
                        Listed::Hot => {
                            // Walk what is known, then scan the target for the rest.
                            let seen = all.iter().map(|k| digest(k)).collect();
                            self.keys.extend(filter_listed(ctx, all)?);
                            self.passes.push_back(HotPass {
                                node: target,
                                slots: vec![slot],
                                cursor: "0".into(),
                                scanned: false,
                                seen: HashMap::from([(slot, seen)]),
                                after_migration,
                                attempts: 1,
                            });
                            return Ok(());
                        }
                    }
                    if after_migration {
                        return self.add_slot(ctx, slot, all);
                    }
                    if !visited.insert(target.clone()) {
                        // Back to a node already listed: the nodes' views disagree while a
                        // move completes; give the cluster time to agree before asking again.
                        std::thread::sleep(UNOWNED_PAUSE);
                    }
                    node = target;
                    state = block_on(view_of(ctx, &node))??.state(slot);
                }
                SlotState::Unowned => {
                    // Listed again after the pause, before asking: keys may have arrived on
                    // this node while no owner was known.
                    std::thread::sleep(UNOWNED_PAUSE);
                    if let Listed::Keys(more) = block_on(Self::list_one(ctx, &node, slot))?? {
                        add(more, &mut all);
                    }
                    state = block_on(view_of(ctx, &node))??.state(slot);
                }
            }
        }
        Err(ctx.walk_error(WalkError::SlotUnstable {
            slot,
            attempts: SLOT_ATTEMPTS,
        }))
    }

    /// One step of the first hot pass: a `SCAN` call, or, once scanned, where its slots are.
    fn step_pass(&mut self, ctx: Ctx<'_>) -> Result<()> {
        let Some(mut pass) = self.passes.pop_front() else {
            return Ok(());
        };
        if !pass.scanned {
            let (next, keys) = block_on(scan_step(ctx, &pass.node, &pass.cursor))??;
            let mut page = Vec::new();
            for k in keys {
                let s = crate::slot::key_slot(&k).get();
                if let Some(seen) = pass.seen.get_mut(&s) {
                    if seen.insert(digest(&k)) && ctx.filter.keeps_slot(s) && !ctx.filter.skips(&k)
                    {
                        page.push(k);
                    }
                }
            }
            pass.scanned = next == "0";
            pass.cursor = next;
            self.ready.push_back(Page {
                keys: page,
                update: Some(Update::Hot(pass.saved())),
            });
            self.passes.push_front(pass);
            return Ok(());
        }
        if pass.after_migration {
            self.ready.push_back(Page {
                keys: Vec::new(),
                update: Some(Update::Slots(pass.slots)),
            });
            return Ok(());
        }
        let view = block_on(view_of(ctx, &pass.node))??;
        let mut updates = Vec::new();
        if let Some(&first) = pass.slots.first() {
            updates.push(Update::DropHot(first));
        }
        let mut done = Vec::new();
        for slot in pass.slots {
            let seen = pass.seen.remove(&slot).unwrap_or_default();
            let state = view.state(slot);
            if state == SlotState::Stable {
                done.push(slot);
                continue;
            }
            if pass.attempts >= SLOT_ATTEMPTS {
                return Err(ctx.walk_error(WalkError::SlotUnstable {
                    slot,
                    attempts: SLOT_ATTEMPTS,
                }));
            }
            let (node, after_migration, scanned) = match state {
                SlotState::Migrating(t) => (t, true, false),
                SlotState::Elsewhere(t) => (t, false, false),
                _ => {
                    std::thread::sleep(UNOWNED_PAUSE);
                    (pass.node.clone(), false, true)
                }
            };
            let next = HotPass {
                node,
                slots: vec![slot],
                cursor: "0".into(),
                scanned,
                seen: HashMap::from([(slot, seen)]),
                after_migration,
                attempts: pass.attempts + 1,
            };
            updates.push(Update::Hot(next.saved()));
            self.passes.push_back(next);
        }
        updates.push(Update::Slots(done));
        self.ready.push_back(Page {
            keys: Vec::new(),
            update: Some(Update::Many(updates)),
        });
        Ok(())
    }
}
