#!/usr/bin/env bash
# Run every cargo-fuzz target for SECONDS each (default 600), JOBS at a time (default 2), seeded
# from generated logs and, when present, the shared corpora. Prints each target's executions
# and whether it found a crash (crash inputs land in fuzz/artifacts/<target>/; make each one a
# regression test). cargo-fuzz needs nightly features: RUSTC_BOOTSTRAP=1 lets stable run it.
#
# Usage: scripts/fuzz.sh [SECONDS] [JOBS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}; jobs=${2:-2}; shift $(( $# > 2 ? 2 : $# )) || true
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aurora-logs/target}"
(cd fuzz && cargo fuzz build -O >/dev/null)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cd fuzz && cargo fuzz list)

# Seeds: a few KiB of each generated kind, and the shared sample logs.
cargo build --release -q -p simulator --bin generate-logs
gen="$CARGO_TARGET_DIR/release/generate-logs"
seed() { mkdir -p "fuzz/corpus/$1"; }
for t in "${targets[@]}"; do seed "$t"; done
kind_of() { case "$1" in parse_mysql_slow) echo mysql-slow;; parse_mysql_error) echo mysql-error;; parse_mysql_general) echo mysql-general;; parse_mysql_audit) echo mysql-audit;; parse_postgresql|fingerprint_postgres) echo postgresql;; fingerprint_mysql|detect) echo mysql-slow;; *) echo "";; esac; }
for t in "${targets[@]}"; do
  k=$(kind_of "$t"); [ -n "$k" ] || continue
  for s in 1 2 3; do "$gen" "$k" 3K "$s" > "fuzz/corpus/$t/gen-$s" 2>/dev/null; done
done
corp=../shared/corpora
if [ -d "$corp" ]; then
  for f in "$corp"/percona-toolkit/t/lib/samples/slowlogs/*.txt "$corp"/beats/filebeat/module/mysql/slowlog/test/*.log; do
    [ "$(stat -c %s "$f")" -lt 16384 ] && cp "$f" fuzz/corpus/parse_mysql_slow/ 2>/dev/null || true
  done
  cp "$corp"/beats/filebeat/module/mysql/error/test/*.log fuzz/corpus/parse_mysql_error/ 2>/dev/null || true
  cp "$corp"/percona-toolkit/t/lib/samples/genlogs/*.txt fuzz/corpus/parse_mysql_general/ 2>/dev/null || true
  for f in "$corp"/beats/filebeat/module/postgresql/log/test/*.log; do
    case "$f" in *.csv.log) cp "$f" fuzz/corpus/parse_postgresql_csv/ ;; *) cp "$f" fuzz/corpus/parse_postgresql/ ;; esac
  done 2>/dev/null || true
fi

run() {
  local t=$1 log="fuzz/artifacts/$1.log"
  mkdir -p "fuzz/artifacts/$t"
  if (cd fuzz && cargo fuzz run -O "$t" -- -max_total_time="$secs" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="artifacts/$t/" >"../$log" 2>&1); then
    echo "$t: $(grep -Eo '^#[0-9]+' "$log" | tail -1 | tr -d '#') executions in ${secs}s, no crash"
  else
    echo "$t: FAILED, see $log and fuzz/artifacts/$t/"
  fi
}
running=0
for t in "${targets[@]}"; do
  run "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait
