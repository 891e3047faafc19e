//! # slotshift
//!
//! Move Redis data between deployments with zero downtime — above all from a standalone or
//! Sentinel-managed Redis to a Redis Cluster — and run well on the cluster afterwards.
//!
//! The crate is organised by concept:
//!
//! | module | what lives there |
//! |---|---|
//! | [`slot`] | CRC16 hash slots with the cluster spec's hash-tag rule |
//! | [`command`] | [`Cmd`](command::Cmd) and the key table: which arguments of each command are keys |
//! | [`keyspace`] | the one keyspace walk (SCAN per master, or slot by slot on a cluster, exactly once under resharding) that the analyzer, diff and migrate share |
//! | [`analyzer`] | the keyspace analyzer: patterns, memory, types and TTLs of a whole deployment |
//! | [`pipeline`] | the CrossSlot batcher: split per slot, group per node, batch, merge; cross-slot set algebra, moves and copies served in rounds ([`pipeline::compose`]) |
//! | [`route`] | where a command goes on a cluster (the command tips), how fan-out replies become one |
//! | [`net`] | the transport: node connections (the blocking callers' own RESP reader and writer on plain TCP, the `redis` crate's multiplexed connection elsewhere), units of work and their outcomes, connection errors |
//! | [`multistore`] | one client over an old and a new store: GitLab's two flags, concurrent dual writes, compared pipelines |
//! | [`migrate`] | diff both ways and copy with DUMP/RESTORE, resumable, rate-limited |
//! | [`validator`] | finds commands a cluster would refuse (cross-slot), before the migration |
//! | [`instrument`] | per-store stats, Prometheus text, JSON log fields, the command [`Recorder`](instrument::Recorder) |
//! | [`config`] | URLs, cluster seed lists, Sentinel, named instances and config files |
//! | [`testing`] | real `redis-server` topologies on loopback (feature `embedded`) |
//!
//! ```
//! use slotshift::slot::{key_slot, Slot};
//! assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"{user1000}.followers"));
//! assert_eq!(key_slot(b"123456789"), Slot::new(0x31C3 % 16384).unwrap());
//! ```
#![warn(missing_docs)]

pub mod analyzer;
pub mod cluster;
pub mod command;
pub mod config;
pub mod error;
#[cfg(test)]
mod fuzz;
pub mod glob;
pub mod instrument;
pub mod keyspace;
mod lockfree;
pub mod log_queue;
pub mod migrate;
pub mod multistore;
pub mod net;
mod pace;
mod persist;
pub mod pipeline;
pub mod reply;
pub mod request;
pub mod route;
pub mod session;
pub mod slot;
pub mod store;
#[cfg(feature = "embedded")]
pub mod testing;
mod text;
pub mod validator;

pub use error::{Error, Result};
pub use slot::{key_slot, Slot};
