#!/usr/bin/env bash
# One migration shared by 1 and by 4 processes (docs/BENCHMARKS.md, "Past one machine"):
# N string keys (SLOTSHIFT_BENCH_KEYS, default 1,000,000) on a 4-master cluster, copied into an
# empty 3-master cluster by `slotshift migrate --coordinator … --job …` run as 1 process, then
# as 4 processes at once (the destination is the coordinator), then by a plain one-process
# `slotshift migrate`; then 1 and 4 processes again, each held to SLOTSHIFT_BENCH_RATE keys/s
# (default 10,000). Each run copies every key (--no-compare) without the final diff, and
# prints its rate; a shared run's rate is the merged report's (the job's wall time).
#
# Run with `make bench-shared` (or scripts/bench-shared.sh after a release build with the
# servers feature).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${SLOTSHIFT_BENCH_KEYS:-1000000}
BIN=${SLOTSHIFT_BIN:-target/release/slotshift}
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Starts a cluster of $1 masters (stderr to a file: nothing outlives the script).
up() {
    "$BIN" servers up --cluster "$1x0" --json >"$work/$1.json" 2>"$work/$1.log" </dev/null &
    pids+=("$!")
}
# The first URL of the cluster of $1 masters, once it is up.
url() {
    for _ in $(seq 600); do
        [ -s "$work/$1.json" ] && break
        sleep 0.1
    done
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cluster"][0])' "$work/$1.json"
}
up 4
up 3
src=$(url 4)
dst=$(url 3)
dst_port=${dst##*:}

echo "loading $N keys into the 4-master source" >&2
python3 -c '
import sys
n = int(sys.argv[1])
w = sys.stdout.write
for i in range(n):
    w("SET key:%d value-%d\n" % (i, i))
' "$N" | "$BIN" pipe --url "$src" --summary >/dev/null

flush() {
    for port in $(redis-cli -p "$dst_port" cluster nodes | awk '/master/ {split($2, a, "[:@]"); print a[2]}'); do
        redis-cli -p "$port" flushall >/dev/null
    done
}

# Runs migrate in $1 processes sharing the job $2 (more flags after); prints the merged
# report's keys/s and seconds.
shared() {
    local n=$1 job=$2 i
    shift 2
    local runs=()
    for i in $(seq "$n"); do
        "$BIN" migrate --source "$src" --destination "$dst" --no-compare --no-final-diff \
            --batch 1000 --quiet --json --coordinator "$dst" --job "$job" "$@" \
            >"$work/$job.$i.json" &
        runs+=("$!")
    done
    for p in "${runs[@]}"; do wait "$p"; done
    python3 - "$work/$job.1.json" "$N" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["complete"] and r["restored"] == int(sys.argv[2]), r
print("%.0f %.2f" % (r["keys_scanned"] * 1000.0 / r["elapsed_ms"], r["elapsed_ms"] / 1000.0))
EOF
}

# The machine's CPU time so far, busy and all, in clock ticks (/proc/stat): the share of both
# cores a run kept busy (slotshift and the seven servers together) says whether more processes
# can go faster on this machine.
ticks() { awk '/^cpu / {print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }
busy() {
    python3 -c "print('%.0f %%' % (100.0 * ($3 - $1) / ($4 - $2)))"
}

flush
read -r b0 t0 < <(ticks)
read -r one one_s < <(shared 1 "bench-one-$$")
read -r b1 t1 < <(ticks)
flush
read -r b2 t2 < <(ticks)
read -r four four_s < <(shared 4 "bench-four-$$")
read -r b3 t3 < <(ticks)
flush
read -r b4 t4 < <(ticks)
start=$(date +%s.%N)
"$BIN" migrate --source "$src" --destination "$dst" --no-compare --no-final-diff --batch 1000 \
    --quiet --json >"$work/plain.json"
plain_s=$(python3 -c "import sys; print('%.2f' % ($(date +%s.%N) - $start))")
read -r b5 t5 < <(ticks)
plain=$(python3 -c "print('%.0f' % ($N / $plain_s))")

echo "| run ($N keys, 4-master cluster → 3-master cluster, $(nproc) cores) | keys/s | time | CPU busy |"
echo "|---|---|---|---|"
echo "| plain \`slotshift migrate\`, 1 process | $plain | $plain_s s | $(busy "$b4" "$t4" "$b5" "$t5") |"
echo "| \`--coordinator\`, 1 process | $one | $one_s s | $(busy "$b0" "$t0" "$b1" "$t1") |"
echo "| \`--coordinator\`, 4 processes | $four | $four_s s | $(busy "$b2" "$t2" "$b3" "$t3") |"
python3 -c "print('| ratio 4 processes / 1 process | %.2fx | | |' % ($four / $one))"

# The same with each process held to RATE keys/s: a machine's own budget (its cores, its
# network), which on one 2-core machine is the only way to see what N machines add.
RATE=${SLOTSHIFT_BENCH_RATE:-10000}
flush
read -r one_r one_r_s < <(shared 1 "bench-one-rate-$$" --rate "$RATE")
flush
read -r four_r four_r_s < <(shared 4 "bench-four-rate-$$" --rate "$RATE")
echo "| \`--coordinator\`, 1 process at \`--rate $RATE\` | $one_r | $one_r_s s | |"
echo "| \`--coordinator\`, 4 processes at \`--rate $RATE\` each | $four_r | $four_r_s s | |"
python3 -c "print('| ratio 4 processes / 1 process, rate-bound | %.2fx | | |' % ($four_r / $one_r))"
