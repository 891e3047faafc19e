//! Moving one hash slot between masters, one step at a time.

use crate::slot::Slot;

use super::cluster::Cluster;
use super::node::Node;
use super::EmbeddedError;

/// MIGRATE's I/O timeout.
const MIGRATE_TIMEOUT_MS: u64 = 5000;

/// One slot being moved from a source master to a target master, the way `redis-cli --cluster
/// reshard` does it, with every step callable alone so a test can hold the ASK/TRYAGAIN window
/// open for as long as it likes:
///
/// 1. [`set_importing`](Self::set_importing) — `CLUSTER SETSLOT s IMPORTING <source>` on the target;
/// 2. [`set_migrating`](Self::set_migrating) — `CLUSTER SETSLOT s MIGRATING <target>` on the
///    source (from now on the source answers `ASK` for keys it no longer has);
/// 3. [`migrate_keys`](Self::migrate_keys) (all keys), [`migrate_key_batch`](Self::migrate_key_batch)
///    (at most n keys) or [`migrate_these_keys`](Self::migrate_these_keys) (chosen keys) —
///    `MIGRATE … KEYS …`;
/// 4. [`finish`](Self::finish) — `CLUSTER SETSLOT s NODE <target>` on the target, the source,
///    then every other master (clients now get `MOVED`).
///
/// [`abort`](Self::abort) puts the slot back to `STABLE` on both sides instead.
#[derive(Debug)]
pub struct SlotMigration<'a> {
    cluster: &'a Cluster,
    slot: Slot,
    source: &'a Node,
    target: &'a Node,
}

impl<'a> SlotMigration<'a> {
    pub(crate) fn new(
        cluster: &'a Cluster,
        slot: Slot,
        source: &'a Node,
        target: &'a Node,
    ) -> Result<Self, EmbeddedError> {
        if source.id() == target.id() {
            return Err(EmbeddedError::Invalid(format!(
                "cannot move slot {slot} from 127.0.0.1:{} to itself",
                source.port()
            )));
        }
        for node in [source, target] {
            if cluster.node_by_id(node.id()).is_none() {
                return Err(EmbeddedError::Invalid(format!(
                    "127.0.0.1:{} is not a node of this cluster",
                    node.port()
                )));
            }
        }
        Ok(SlotMigration {
            cluster,
            slot,
            source,
            target,
        })
    }

    /// The slot being moved.
    pub fn slot(&self) -> Slot {
        self.slot
    }

    /// The master giving the slot away.
    pub fn source(&self) -> &'a Node {
        self.source
    }

    /// The master receiving the slot.
    pub fn target(&self) -> &'a Node {
        self.target
    }

    fn setslot(&self, on: &Node, state: &str, id: Option<&str>) -> Result<(), EmbeddedError> {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("SETSLOT").arg(self.slot.get()).arg(state);
        if let Some(id) = id {
            cmd.arg(id);
        }
        on.query::<()>(&cmd)
    }

    /// Step 1: `CLUSTER SETSLOT <slot> IMPORTING <source-id>` on the target.
    pub fn set_importing(&self) -> Result<(), EmbeddedError> {
        self.setslot(self.target, "IMPORTING", Some(self.source.id()))
    }

    /// Step 2: `CLUSTER SETSLOT <slot> MIGRATING <target-id>` on the source.
    pub fn set_migrating(&self) -> Result<(), EmbeddedError> {
        self.setslot(self.source, "MIGRATING", Some(self.target.id()))
    }

    /// The keys of the slot still on the source (at most `max`).
    pub fn keys_left(&self, max: usize) -> Result<Vec<Vec<u8>>, EmbeddedError> {
        self.source.query(
            redis::cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(self.slot.get())
                .arg(max),
        )
    }

    /// Step 3, one batch: MIGRATEs at most `max` keys of the slot to the target. Returns how
    /// many keys were moved (0 when the source has none left).
    pub fn migrate_key_batch(&self, max: usize) -> Result<usize, EmbeddedError> {
        let keys = self.keys_left(max.max(1))?;
        self.migrate_these_keys(&keys)
    }

    /// Step 3, all of it: MIGRATEs every key of the slot, `batch` keys per MIGRATE. Returns how
    /// many keys were moved.
    pub fn migrate_keys(&self, batch: usize) -> Result<usize, EmbeddedError> {
        let mut total = 0;
        loop {
            let moved = self.migrate_key_batch(batch)?;
            if moved == 0 {
                return Ok(total);
            }
            total += moved;
        }
    }

    /// Step 3, chosen keys: MIGRATEs exactly these keys (which must hash to the slot); keys the
    /// source does not have are skipped. Returns how many keys were given to MIGRATE.
    pub fn migrate_these_keys<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<usize, EmbeddedError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let mut cmd = redis::cmd("MIGRATE");
        cmd.arg("127.0.0.1")
            .arg(self.target.port())
            .arg("")
            .arg(0)
            .arg(MIGRATE_TIMEOUT_MS);
        if let Some(password) = self.cluster.migrate_auth() {
            cmd.arg("AUTH").arg(password);
        }
        cmd.arg("KEYS");
        for key in keys {
            cmd.arg(key.as_ref());
        }
        // "OK", or "NOKEY" when none of the keys existed.
        let _: String = self.source.query(&cmd)?;
        Ok(keys.len())
    }

    /// Step 4: `CLUSTER SETSLOT <slot> NODE <target-id>` on the target, the source, then every
    /// other available master. Fails (on the source) if keys are still left there.
    pub fn finish(&self) -> Result<(), EmbeddedError> {
        let target_id = Some(self.target.id());
        self.setslot(self.target, "NODE", target_id)?;
        self.setslot(self.source, "NODE", target_id)?;
        for master in self.cluster.masters()? {
            if master.id() != self.target.id()
                && master.id() != self.source.id()
                && master.is_available()
            {
                self.setslot(master, "NODE", target_id)?;
            }
        }
        Ok(())
    }

    /// Abandons the move: `CLUSTER SETSLOT <slot> STABLE` on both sides (keys already moved stay
    /// on the target).
    pub fn abort(&self) -> Result<(), EmbeddedError> {
        self.setslot(self.target, "STABLE", None)?;
        self.setslot(self.source, "STABLE", None)
    }
}
