//! Real `redis-server` topologies on loopback, for tests, the demo and `slotshift servers up`.
//!
//! Every topology lives in its own temporary directory and runs its servers on free 127.0.0.1
//! ports: [`Standalone`], [`SentinelSet`] (a master, a replica and three Sentinels) and
//! [`Cluster`] (M masters with R replicas each). Fault helpers kill (SIGKILL), pause (SIGSTOP),
//! resume, fail over, and move slots step by step so a test can hold the ASK window open.
//!
//! No server outlives its owner: dropping a topology (also while a test panics) kills and reaps
//! every process, and on Linux the kernel kills them if the owning process dies (see
//! the `spawn` module's notes on `PR_SET_PDEATHSIG`).
//!
//! `redis-server` is looked up in `$SLOTSHIFT_REDIS_SERVER`, then on `PATH`; if it is missing,
//! starting fails with [`EmbeddedError::NotInstalled`], whose message says how to install it.

mod cluster;
mod cpu;
mod error;
pub mod fake;
mod migration;
mod node;
mod ports;
mod sentinel;
mod spawn;
mod standalone;

pub use cluster::{Cluster, ClusterBuilder, FailoverKind};
pub use cpu::{client_and_servers_cpu, cpu_time};
pub use error::EmbeddedError;
pub use migration::SlotMigration;
pub use node::Node;
pub use ports::CLUSTER_BUS_OFFSET;
pub use sentinel::{SentinelSet, SentinelSetBuilder};
pub use spawn::{redis_server_path, REDIS_SERVER_ENV};
pub use standalone::{Standalone, StandaloneBuilder};
