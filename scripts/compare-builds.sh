#!/usr/bin/env bash
# Before/after of two builds of aurora-logs in one run: `parse` (the parsers' full record path:
# framing, fields, fingerprint, JSON) and `digest` of a generated Aurora MySQL slow log and
# PostgreSQL log, each build in turn, ROUNDS times. Prints the CPU seconds of every run, the
# medians as MB per CPU-second, and the ratio new / baseline. The bench machine may be noisy:
# the ratio, taken in one run with the builds interleaved, is the figure to read.
#
# Usage: scripts/compare-builds.sh BASELINE_BIN [NEW_BIN] [ROUNDS]
#   BASELINE_BIN: another build, e.g. `git worktree add /tmp/old REV && (cd /tmp/old &&
#   CARGO_TARGET_DIR=~/.cache/aurora-logs/target-old cargo build --release --locked)`.
#   NEW_BIN defaults to this checkout's release build (built if missing); ROUNDS to 5.
#   MB (default 128) sizes each input.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aurora-logs/target}"
baseline=${1:?usage: scripts/compare-builds.sh BASELINE_BIN [NEW_BIN] [ROUNDS]}
new=${2:-}
rounds=${3:-5}
mb=${MB:-128}
if [ -z "$new" ]; then
  cargo build --release --locked -q --bin aurora-logs
  new="$CARGO_TARGET_DIR/release/aurora-logs"
fi
cargo build --release --locked -q -p simulator --bin generate-logs
gen="$CARGO_TARGET_DIR/release/generate-logs"
work=$(mktemp -d /tmp/aurora-compare.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$gen" mysql-slow "${mb}M" > "$work/mysql-slowquery.log"
"$gen" postgresql "${mb}M" > "$work/postgresql.log"

python3 - "$baseline" "$new" "$rounds" "$work" <<'PY'
import os, resource, statistics, subprocess, sys
baseline, new, rounds, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
inputs = ["mysql-slowquery.log", "postgresql.log"]
def cpu(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited with {r.returncode}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
runs = {}
for r in range(rounds):
    for name in inputs:
        path = os.path.join(work, name)
        for build, binary in (("baseline", baseline), ("new", new)):
            for cmd in ("parse", "digest"):
                args = [binary, cmd, path] if cmd == "parse" else [binary, cmd, "--threads", "1", path]
                runs.setdefault((name, cmd, build), []).append(cpu(args))
print(f"baseline: {baseline}\nnew:      {new}\nrounds:   {rounds} (interleaved), one core each")
print(f"{'input':24} {'command':7} {'baseline MB/cpu-s':>18} {'new MB/cpu-s':>13} {'new/baseline':>13}")
for name in inputs:
    mb = os.path.getsize(os.path.join(work, name)) / 1e6
    for cmd in ("parse", "digest"):
        b = mb / statistics.median(runs[(name, cmd, "baseline")])
        n = mb / statistics.median(runs[(name, cmd, "new")])
        print(f"{name:24} {cmd:7} {b:18.1f} {n:13.1f} {n / b:13.3f}")
PY
