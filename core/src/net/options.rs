//! How the transport connects, times out and retries: the part of
//! [`StoreOptions`](crate::store::StoreOptions) that node connections and routers read.

use std::time::Duration;

/// Connection, timeout and retry settings of one store's transport. Built from
/// [`StoreOptions::net`](crate::store::StoreOptions::net); the defaults live there, once.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NetOptions {
    /// Time allowed to open a connection (TCP, TLS, AUTH/HELLO).
    pub connect_timeout: Duration,
    /// Time allowed for a reply (a whole pipeline's replies) once sent.
    pub response_timeout: Duration,
    /// Total time a command may spend being retried (TRYAGAIN, CLUSTERDOWN, LOADING,
    /// connection loss, failover).
    pub retry_deadline: Duration,
    /// Redirects (MOVED, ASK) followed per command before giving up.
    pub max_redirects: usize,
    /// A topology refresh is not repeated sooner than this (MOVED storms, CLUSTERDOWN).
    pub min_refresh_interval: Duration,
    /// A cluster's slot map is refreshed in the background this often, even without a
    /// MOVED (`None`: only on MOVED and errors).
    pub topology_refresh_interval: Option<Duration>,
    /// First backoff pause; it doubles each round up to `backoff_max`.
    pub backoff_base: Duration,
    /// Longest backoff pause.
    pub backoff_max: Duration,
    /// Send read-only commands to replicas (which get `READONLY`).
    pub read_from_replicas: bool,
    /// Every write is safe to send twice after a connection loss.
    pub idempotent_writes: bool,
    /// The name every connection gives itself with `CLIENT SETNAME`.
    pub client_name: Option<String>,
}

/// Exponential backoff with jitter, capped at `backoff_max`: the pause before retry `round`.
pub(crate) fn backoff(opts: &NetOptions, round: u32) -> Duration {
    let base = opts.backoff_base.as_millis() as u64;
    let exp = base.saturating_mul(1u64 << round.min(16));
    let capped = exp.min(opts.backoff_max.as_millis() as u64).max(1);
    // Jitter without a RNG dependency: the low bits of the clock.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let jitter = nanos % (capped / 2 + 1);
    Duration::from_millis(capped / 2 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_positive() {
        let opts = crate::store::StoreOptions::default().net();
        for round in 0..40 {
            let pause = backoff(&opts, round);
            assert!(
                pause > Duration::ZERO && pause <= opts.backoff_max,
                "{round}: {pause:?}"
            );
        }
    }
}
