#!/usr/bin/env bash
# `make bench-c`: the cost of the C boundary. Starts one standalone server, then runs the Rust
# loops (ffi/examples/boundary_bench.rs, the core called directly) and the C loops
# (tests/c/bench.c, through libslotshift) in ABBA order (Rust, C, C, Rust, twice) so drift in
# the machine's load hits both sides alike, and reports the best of each side and the C/Rust
# ratios (each run is itself the best of 5 rounds).
set -euo pipefail
cd "$(dirname "$0")/../.."
slotshift=${SLOTSHIFT:-target/debug/slotshift}
rounds=${SLOT_ROUNDS:-2000}
calls=${CALLS:-20000}
work=$(mktemp -d)
"$slotshift" servers up --json --standalone >"$work/servers.json" 2>"$work/servers.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do [ -s "$work/servers.json" ] && break; sleep 0.2; done
url=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["standalone"])' "$work/servers.json")

rust() { target/release/examples/boundary_bench "$url" "$rounds" "$calls" 2>/dev/null | sed 's/^/rust /' >>"$work/out"; }
c() { target/c/bench "$url" "$rounds" "$calls" 2>/dev/null | sed 's/^/c /' >>"$work/out"; }
for _ in 1 2; do
    rust
    c
    c
    rust
done
python3 - "$work/out" <<'PY'
import sys
best = {}
for line in open(sys.argv[1]):
    side, name, value = line.split()
    key = (side, name)
    best[key] = min(best.get(key, float("inf")), float(value))
runs = sum(1 for l in open(sys.argv[1]) if l.startswith("rust slot"))
print(f"best of {runs} runs per side (each the best of 5 rounds); load average {open('/proc/loadavg').read().split()[0]}")
rs, cs = best[("rust", "slot_ns_per_key")], best[("c", "slot_ns_per_key")]
rg, cg = best[("rust", "get_us_per_call")], best[("c", "get_us_per_call")]
print(f"key_slot (1024 keys of ~22 bytes): Rust {rs:.2f} ns/key, C {cs:.2f} ns/key, C/Rust {cs/rs:.2f}x")
print(f"GET on standalone (sequential):    Rust {rg:.2f} us/call, C {cg:.2f} us/call, C/Rust {cg/rg:.3f}x")
PY
