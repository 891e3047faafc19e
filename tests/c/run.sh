#!/usr/bin/env bash
# Runs the C suite against real servers: starts `slotshift servers up` (a standalone, a second
# standalone, a 3-master cluster with replicas, a Sentinel set, the scripted hostile nodes),
# passes their URLs in the
# environment, runs each program (under valgrind unless VALGRIND=0), and stops every server on
# exit — also when a test fails.
#
# Usage: tests/c/run.sh BUILD_DIR PROGRAM...   (called by `make test-c`)
set -euo pipefail
cd "$(dirname "$0")/../.."

build=$1
shift
slotshift=${SLOTSHIFT:-target/debug/slotshift}
work=$(mktemp -d)
pids=()

cleanup() {
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# start NAME ARGS…: one `servers up` in the background; its JSON line goes to $work/NAME.json.
start() {
    local name=$1
    shift
    "$slotshift" servers up --json "$@" >"$work/$name.json" 2>"$work/$name.log" &
    pids+=($!)
}

wait_for() {
    local name=$1
    for _ in $(seq 1 600); do
        if [ -s "$work/$name.json" ]; then
            return 0
        fi
        sleep 0.2
    done
    echo "run.sh: servers '$name' did not start:" >&2
    cat "$work/$name.log" >&2
    exit 1
}

start main --standalone --cluster 3x1 --sentinel
start second --standalone
start hostile --hostile
wait_for main
wait_for second
wait_for hostile

eval "$(python3 - "$work/main.json" "$work/second.json" "$work/hostile.json" <<'EOF'
import json, shlex, sys
main = json.loads(open(sys.argv[1]).readline())
second = json.loads(open(sys.argv[2]).readline())
hostile = json.loads(open(sys.argv[3]).readline())["hostile"]
s = main["sentinel"]
sentinel = "redis+sentinel://" + ",".join(s["sentinels"]) + "/" + s["master_name"]
env = {
    "SLOTSHIFT_TEST_STANDALONE": main["standalone"],
    "SLOTSHIFT_TEST_STANDALONE2": second["standalone"],
    "SLOTSHIFT_TEST_CLUSTER": ",".join(main["cluster"]),
    "SLOTSHIFT_TEST_SENTINEL": sentinel,
    # name=url pairs, space-separated: the scripted hostile nodes.
    "SLOTSHIFT_TEST_HOSTILE": " ".join(f"{k}={v}" for k, v in sorted(hostile.items())),
}
for k, v in env.items():
    print(f"export {k}={shlex.quote(v)}")
EOF
)"
export SLOTSHIFT_FIXTURES=$PWD/tests/fixtures
# The docs/c.md examples read these.
export SLOTSHIFT_URL=$SLOTSHIFT_TEST_STANDALONE
export SLOTSHIFT_NEW_URL=$SLOTSHIFT_TEST_CLUSTER
export SLOTSHIFT_OLD_URL=$SLOTSHIFT_TEST_STANDALONE2
SLOTSHIFT_CARGO_VERSION=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
export SLOTSHIFT_CARGO_VERSION

status=0
for prog in "$@"; do
    echo "== $prog"
    if [ "${VALGRIND:-1}" = 1 ]; then
        # Errors and definite/indirect/possible leaks fail the run; "still reachable" (the
        # runtime's worker threads and process-wide statics, alive until exit) does not.
        # --num-callers=40: the suppressions name frames deeper than valgrind's default 12.
        valgrind --quiet --error-exitcode=99 --leak-check=full --num-callers=40 \
            --show-leak-kinds=definite,indirect,possible \
            --errors-for-leak-kinds=definite,indirect,possible \
            --suppressions=tests/c/valgrind.supp ${VALGRIND_ARGS:-} \
            "$build/$prog" || status=1
    else
        "$build/$prog" || status=1
    fi
done
exit $status
