//! The CPU time a process has used, for benchmarks that split a run's cost between the client
//! and the servers it drives (on a machine they share, CPU per operation explains latency that
//! wall-clock figures alone cannot).

use std::time::Duration;

use super::EmbeddedError;

/// Clock ticks per second of `/proc/PID/stat`'s times: `USER_HZ`, 100 on every Linux
/// architecture's user ABI.
const USER_HZ: u64 = 100;

/// The CPU time (user + system, every thread) process `pid` has used so far, read from
/// `/proc/PID/stat`: a resolution of 10 ms, so compare it over runs of a second or more.
/// Pass `std::process::id()` for the calling process, [`Node::pid`](super::Node::pid) for a
/// server.
pub fn cpu_time(pid: u32) -> Result<Duration, EmbeddedError> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path)
        .map_err(|e| EmbeddedError::io(format!("reading {path}"), e))?;
    // The command name (field 2) is in parentheses and may hold spaces: fields are counted
    // after its closing one. utime and stime are fields 14 and 15, the 12th and 13th after it.
    let ticks = stat
        .rfind(')')
        .map(|end| stat[end + 1..].split_whitespace().skip(11).take(2))
        .map(|times| times.map(str::parse::<u64>).collect::<Result<Vec<_>, _>>());
    match ticks {
        Some(Ok(t)) if t.len() == 2 => Ok(Duration::from_millis((t[0] + t[1]) * 1000 / USER_HZ)),
        _ => Err(EmbeddedError::Unexpected(format!(
            "{path} has no utime and stime fields"
        ))),
    }
}

/// The CPU time this process has used so far, and the servers `pids` together (a benchmark's
/// client and the servers it drives, read before and after a run).
pub fn client_and_servers_cpu(pids: &[u32]) -> Result<(Duration, Duration), EmbeddedError> {
    let mut servers = Duration::ZERO;
    for &pid in pids {
        servers += cpu_time(pid)?;
    }
    Ok((cpu_time(std::process::id())?, servers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_process_uses_cpu_and_an_unknown_one_is_an_error() {
        let me = std::process::id();
        let before = cpu_time(me).unwrap();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        assert!(cpu_time(me).unwrap() > before);
        let err = cpu_time(u32::MAX).unwrap_err().to_string();
        assert!(err.contains(&format!("/proc/{}/stat", u32::MAX)), "{err}");
        let (client, servers) = client_and_servers_cpu(&[me, me]).unwrap();
        assert!(
            client > before && servers >= client * 2,
            "{client:?} {servers:?}"
        );
        assert!(client_and_servers_cpu(&[me, u32::MAX]).is_err());
    }
}
