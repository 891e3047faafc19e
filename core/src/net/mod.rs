//! The transport under every kind of store: node connections, the units of work a router
//! sends and the outcomes that come back, what an error reply asks for, connection errors,
//! the transport's options and counters, and the runtimes that drive it ([`runtime`]).
//!
//! Layering: `net` stands on the leaves only ([`slot`](crate::slot), [`reply`](crate::reply),
//! [`command`](crate::command), [`config`](crate::config), [`lockfree`](crate::lockfree)).
//! [`cluster`](crate::cluster) (the router), [`pipeline`](crate::pipeline), the hooks
//! ([`instrument`](crate::instrument), [`validator`](crate::validator)) and
//! [`store`](crate::store) stand on it, in that order;
//! `scripts/layers.py` (run by `make lint`) fails when a module imports one above it or two
//! modules import each other.

mod addr;
mod counters;
mod error;
pub(crate) mod node;
mod options;
pub(crate) mod resp;
pub(crate) mod runtime;
pub(crate) mod unit;
mod verdict;
pub(crate) mod wire;

pub use addr::NodeAddr;
pub(crate) use counters::Counters;
pub use counters::RouterStats;
pub use error::{ConnectionError, ConnectionErrorKind};
pub(crate) use options::backoff;
pub use options::NetOptions;
pub(crate) use unit::{send_to_node, Outcome, Route, Unit};
pub(crate) use verdict::{classify, Redirect, Verdict};
