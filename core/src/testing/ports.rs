//! Picking free loopback ports.
//!
//! Ports are drawn at random from below the kernel's ephemeral range (so outgoing connections,
//! which take ephemeral ports, never collide with a server port), bind-tested on 127.0.0.1 and
//! recorded in a process-wide set until released, so parallel tests in one process never pick
//! the same port. Between processes (nextest runs each test in its own process) a bind test is
//! only a hint: two processes can pick the same port between the test and the server's bind.
//! The node start-up therefore retries with a new port when the server reports
//! "Address already in use" (see `node::start`).

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use super::EmbeddedError;

/// The offset of a cluster node's bus port from its client port.
pub const CLUSTER_BUS_OFFSET: u16 = 10000;

const LOWEST_PORT: u16 = 10000;
const ATTEMPTS: usize = 500;

fn taken() -> MutexGuard<'static, HashSet<u16>> {
    static TAKEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    TAKEN
        .get_or_init(|| Mutex::new(HashSet::new()))
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// First port of the kernel's ephemeral range (32768 when it cannot be read).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|p| p.parse::<u16>().ok())
        })
        .filter(|&p| p > LOWEST_PORT + 2 * CLUSTER_BUS_OFFSET)
        .unwrap_or(32768)
}

/// A random number, different on every call and in every process.
fn random() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.finish()
}

fn bindable(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A port reserved in this process until dropped.
#[derive(Debug)]
pub(crate) struct PortLease {
    port: u16,
    bus: bool,
    /// Whether the port is in the process-wide set (and must be removed on drop).
    recorded: bool,
}

impl PortLease {
    pub(crate) fn port(&self) -> u16 {
        self.port
    }
}

#[cfg(test)]
impl PortLease {
    /// A lease on a port chosen by a test, free or not (not recorded in the process-wide set).
    pub(crate) fn forced(port: u16) -> PortLease {
        PortLease {
            port,
            bus: false,
            recorded: false,
        }
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        if !self.recorded {
            return;
        }
        let mut set = taken();
        set.remove(&self.port);
        if self.bus {
            set.remove(&(self.port + CLUSTER_BUS_OFFSET));
        }
    }
}

/// Reserves a free loopback port; with `cluster_bus`, port + 10000 is free too (and below 65536).
pub(crate) fn reserve(cluster_bus: bool) -> Result<PortLease, EmbeddedError> {
    let end = ephemeral_start();
    // Keep the bus port below the ephemeral range as well.
    let high = if cluster_bus {
        end - CLUSTER_BUS_OFFSET
    } else {
        end
    };
    let span = u64::from(high - LOWEST_PORT);
    for _ in 0..ATTEMPTS {
        // `random() % span` is below `high - LOWEST_PORT`, so this fits in u16.
        let offset = u16::try_from(random() % span).unwrap_or(0);
        let port = LOWEST_PORT + offset;
        let mut set = taken();
        if set.contains(&port) || (cluster_bus && set.contains(&(port + CLUSTER_BUS_OFFSET))) {
            continue;
        }
        if !bindable(port) || (cluster_bus && !bindable(port + CLUSTER_BUS_OFFSET)) {
            continue;
        }
        set.insert(port);
        if cluster_bus {
            set.insert(port + CLUSTER_BUS_OFFSET);
        }
        return Ok(PortLease {
            port,
            bus: cluster_bus,
            recorded: true,
        });
    }
    Err(EmbeddedError::NoFreePort {
        attempts: ATTEMPTS,
        bus: cluster_bus,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_distinct_and_released() {
        let a = reserve(true).unwrap();
        let b = reserve(true).unwrap();
        assert_ne!(a.port(), b.port());
        assert!(a.port() + CLUSTER_BUS_OFFSET < ephemeral_start());
        let p = a.port();
        assert!(taken().contains(&p));
        drop(a);
        assert!(!taken().contains(&p));
    }
}
