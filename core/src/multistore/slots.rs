//! Dual transactions on a cluster whose keys span slots.
//!
//! A cluster runs MULTI/EXEC within one slot only. The **default** store does what the caller
//! asked: a real transaction, so a cross-slot one on a default cluster store is the caller's
//! error, refused before anything is sent to either store. On the **non-default** store the
//! same commands run as one transaction per slot (the commands of each slot in the caller's
//! order; commands without keys go with the first slot's group), so a migration towards a
//! cluster keeps receiving the writes of transactions the old store accepted. Each slot's
//! group is atomic on its own; the groups are not atomic together.

use super::metrics::Counter;
use super::Inner;
use crate::cluster::RoutingError;
use crate::command::Cmd;
use crate::reply::Reply;
use crate::slot::{key_slot, Slot};
use crate::store::StoreKind;
use crate::{Error, Result};

/// The distinct slots of every key of `cmds`, sorted.
pub(super) fn batch_slots(cmds: &[Cmd]) -> Vec<Slot> {
    let mut slots: Vec<Slot> = cmds
        .iter()
        .flat_map(|c| crate::command::keys(c).unwrap_or_default())
        .map(key_slot)
        .collect();
    slots.sort_unstable();
    slots.dedup();
    slots
}

/// The commands of `cmds` (by index) grouped by the slot of their first key, groups in the
/// order their slot first appears, commands in the caller's order; keyless commands join the
/// first group.
pub(super) fn per_slot_groups(cmds: &[Cmd]) -> Vec<Vec<usize>> {
    let mut groups: Vec<(Option<Slot>, Vec<usize>)> = Vec::new();
    let mut keyless: Vec<usize> = Vec::new();
    for (i, cmd) in cmds.iter().enumerate() {
        let first = crate::command::keys(cmd)
            .ok()
            .and_then(|k| k.first().map(|k| key_slot(k)));
        let Some(slot) = first else {
            keyless.push(i);
            continue;
        };
        match groups.iter_mut().find(|(s, _)| *s == Some(slot)) {
            Some((_, g)) => g.push(i),
            None => groups.push((Some(slot), vec![i])),
        }
    }
    if groups.is_empty() {
        return if keyless.is_empty() {
            Vec::new()
        } else {
            vec![keyless]
        };
    }
    let mut out: Vec<Vec<usize>> = groups.into_iter().map(|(_, g)| g).collect();
    if !keyless.is_empty() {
        let first = &mut out[0];
        first.extend(keyless);
        first.sort_unstable();
    }
    out
}

impl Inner {
    /// Refuses, before anything is sent, a transaction the default store cannot run: keys
    /// across slots on a cluster.
    pub(super) fn check_default_transaction(
        &self,
        default: super::Side,
        cmds: &[Cmd],
    ) -> Result<()> {
        if self.store(default).kind() != StoreKind::Cluster {
            return Ok(());
        }
        let slots = batch_slots(cmds);
        if slots.len() > 1 {
            return Err(Error::Routing(RoutingError::CrossSlotTransaction { slots }));
        }
        Ok(())
    }

    /// `cmds` as a transaction on `side`: a real one, or — on the non-default store when it
    /// is a cluster and the keys span slots — one transaction per slot, replies put back in
    /// the caller's order (`None` if any group was aborted).
    pub(super) async fn transaction_on(
        &self,
        side: super::Side,
        default: super::Side,
        cmds: &[Cmd],
    ) -> Result<Option<Vec<Reply>>> {
        let store = self.store(side);
        if side == default || store.kind() != StoreKind::Cluster || batch_slots(cmds).len() < 2 {
            return store.transaction_async(cmds).await;
        }
        let groups = per_slot_groups(cmds);
        let batches: Vec<Vec<Cmd>> = groups
            .iter()
            .map(|g| g.iter().map(|&i| cmds[i].clone()).collect())
            .collect();
        self.metrics
            .incr_by(Counter::PerSlotTransactions, b"multi", batches.len() as u64);
        let results =
            futures_util::future::join_all(batches.iter().map(|b| store.transaction_async(b)))
                .await;
        let mut out: Vec<Option<Reply>> = vec![None; cmds.len()];
        let mut aborted = false;
        for (group, result) in groups.iter().zip(results) {
            match result? {
                Some(replies) => {
                    for (&i, r) in group.iter().zip(replies) {
                        out[i] = Some(r);
                    }
                }
                None => aborted = true,
            }
        }
        if aborted {
            return Ok(None);
        }
        Ok(Some(
            out.into_iter().map(|r| r.unwrap_or(Reply::Nil)).collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_slot_in_order_with_keyless_commands_first() {
        let c = |a: &[&str]| Cmd::from_args(a);
        let cmds = [
            c(&["SET", "{a}1", "x"]),
            c(&["SET", "{b}1", "y"]),
            c(&["PING"]),
            c(&["INCR", "{a}2"]),
            c(&["DEL", "{b}2"]),
        ];
        assert_eq!(per_slot_groups(&cmds), vec![vec![0, 2, 3], vec![1, 4]]);
        assert_eq!(batch_slots(&cmds).len(), 2);
        assert_eq!(per_slot_groups(&[c(&["PING"])]), vec![vec![0]]);
        assert!(per_slot_groups(&[]).is_empty());
    }
}
