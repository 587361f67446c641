#!/usr/bin/env bash
# Side by side, in one run: `aurora-logs digest` against pt-query-digest on the same 100 MB Aurora
# MySQL slow log, and against pgBadger on a 100+ MB PostgreSQL log with the RDS prefix written by
# a real PostgreSQL under pgbench. Prints wall times on one core (`--threads 1`; both peers are
# single-threaded here) and on all cores, the speed ratios, whether both tools found the same
# classes, counts and total query time, and whether the report on all cores is the one-core
# report byte for byte. A third log, written by the same server with `log_statement=all` and
# `log_duration=on` (every duration pairs with a statement logged before it, across the cuts of
# the parallel digest), checks that identity and the scaling where the pairing is joined.
# Figures go to BENCHMARKS.md.
#
# Needs: percona-toolkit and pgbadger (installed here from Debian if missing), PostgreSQL 15
# binaries with pgbench (/usr/lib/postgresql/15/bin), python3. Run as root (it starts a private
# PostgreSQL as the postgres user on port 5499 and stops it at the end).
#
# Usage: scripts/compare-peers.sh [WORKDIR]   (default: a fresh temp dir; MYSQL_MB, PG_MB to resize)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=${1:-$(mktemp -d /tmp/aurora-peers.XXXXXX)}
mkdir -p "$work"
MYSQL_MB=${MYSQL_MB:-100}
PG_MB=${PG_MB:-110}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aurora-logs/target}"

need() { command -v "$1" >/dev/null || { apt-get install -y "$2" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "$2" >/dev/null; }; }; }
need pt-query-digest percona-toolkit
need pgbadger pgbadger

cargo build --release --locked -q -p aurora-logs -p simulator
bin="$CARGO_TARGET_DIR/release/aurora-logs"
gen="$CARGO_TARGET_DIR/release/generate-logs"

# Wall seconds of a command (stdout discarded).
seconds() { python3 -c 'import sys,time,subprocess; t=time.perf_counter(); r=subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print(f"{time.perf_counter()-t:.3f}"); sys.exit(r.returncode)' "$@"; }
# The best of three runs: this machine is shared and noisy, and our runs are short. The peers
# run once (tens of seconds each, where the noise matters less).
best_of_3() { for _ in 1 2 3; do seconds "$@"; done | sort -n | head -1; }
# Our digest of a log on one core and on all: sets one_s and all_s, writes NAME-1.json and
# NAME-all.json, and fails unless both reports are the same bytes.
ours() {
  local name=$1; shift
  one_s=$(best_of_3 "$bin" digest --threads 1 --format json --limit 1000000 "$@")
  all_s=$(best_of_3 "$bin" digest --format json --limit 1000000 "$@")
  "$bin" digest --threads 1 --format json --limit 1000000 "$@" > "$work/$name-1.json" 2>/dev/null
  "$bin" digest --format json --limit 1000000 "$@" > "$work/$name-all.json" 2>/dev/null
  if cmp -s "$work/$name-1.json" "$work/$name-all.json"; then
    echo "report on $(nproc) cores = report on one core (same bytes)"
  else
    echo "the report on $(nproc) cores differs from the one-core report: $work/$name-*.json" >&2
    exit 1
  fi
  echo "aurora-logs: ${one_s} s on one core, ${all_s} s on $(nproc) ($(python3 -c "print(f'{$one_s / $all_s:.2f}')")x)"
}

echo "== MySQL: ${MYSQL_MB} MB Aurora slow log (generated)"
slow="$work/mysql-slowquery.log"
[ -s "$slow" ] || "$gen" mysql-slow "${MYSQL_MB}M" 7 > "$slow" 2>/dev/null
ours ours-mysql "$slow"
pt_s=$(seconds sh -c "pt-query-digest --limit 100% --output json '$slow' > '$work/pt-mysql.json' 2>/dev/null")
python3 - "$work/ours-mysql-1.json" "$work/pt-mysql.json" "$one_s" "$pt_s" "$all_s" <<'PY'
import json, sys
ours = json.load(open(sys.argv[1]))
pt = json.load(open(sys.argv[2]))
o = {c["fingerprint_id"]: c for c in ours["classes"]}
p = {c["checksum"].upper().rjust(32, "0")[-32:]: c for c in pt["classes"]}
def pt_count(c): return int(c["query_count"])
def pt_sum(c): return float(c["metrics"]["Query_time"]["sum"])
oq = sum(c["count"] for c in o.values()); pq = sum(pt_count(c) for c in p.values())
ot = sum(c["query_time"]["sum"] for c in o.values()); pt_t = sum(pt_sum(c) for c in p.values())
same = set(o) & set(p)
diff_counts = [k for k in same if o[k]["count"] != pt_count(p[k]) or abs(o[k]["query_time"]["sum"] - pt_sum(p[k])) > 1e-3]
only_o = sorted(set(o) - set(p)); only_p = sorted(set(p) - set(o))
print(f"classes: ours {len(o)}, pt {len(p)}, same id {len(same)}; differing counts/totals in shared classes: {len(diff_counts)}")
print(f"queries: ours {oq}, pt {pq}; total query time: ours {ot:.6f} s, pt {pt_t:.6f} s")
for k in only_o[:5]: print(f"  only ours: {o[k]['fingerprint'][:100]!r} ({o[k]['count']})")
for k in only_p[:5]: print(f"  only pt:   {p[k]['fingerprint'][:100]!r} ({pt_count(p[k])})")
print("  (classes only one side has are the deliberate fingerprint differences: uppercase hex literals, see parsers/src/fingerprint)")
o_s, p_s, a_s = float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
print(f"time: pt-query-digest {p_s:.2f} s; aurora-logs {o_s:.2f} s on one core ({p_s / o_s:.0f}x), {a_s:.2f} s on all ({p_s / a_s:.0f}x)")
PY

echo
# A PostgreSQL 15 log of at least PG_MB MB with the RDS prefix, written under pgbench with the
# given logging settings: pg_log FILE SETTING...
pg_log() {
  local out=$1; shift
  [ -s "$out" ] && return 0
  local pgbin=/usr/lib/postgresql/15/bin pgdir="$work/pg" settings=""
  for c in "$@"; do settings="$settings -c $c"; done
  rm -rf "$pgdir"; mkdir -p "$pgdir/log"; chown -R postgres "$pgdir"
  runuser -u postgres -- "$pgbin/initdb" -D "$pgdir/data" -A trust -U postgres >/dev/null
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.out" -w start -o \
    "-p 5499 -k $pgdir -c listen_addresses=127.0.0.1 -c logging_collector=on -c log_directory=$pgdir/log -c log_filename=postgresql.log -c log_rotation_size=0 -c log_line_prefix='%t:%r:%u@%d:[%p]:' $settings -c fsync=off -c synchronous_commit=off" >/dev/null
  trap 'runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdir/data" -m fast stop >/dev/null 2>&1 || true' EXIT
  pgbench -h 127.0.0.1 -p 5499 -U postgres -i -s 4 -q postgres >/dev/null 2>&1
  while [ "$(stat -c %s "$pgdir/log/postgresql.log")" -lt $((PG_MB * 1024 * 1024)) ]; do
    pgbench -h 127.0.0.1 -p 5499 -U postgres -c 4 -j 2 -T 10 postgres >/dev/null 2>&1
  done
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdir/data" -m fast stop >/dev/null
  trap - EXIT
  cp "$pgdir/log/postgresql.log" "$out"
  rm -rf "$pgdir"
}

echo "== PostgreSQL: ${PG_MB}+ MB log with the RDS prefix, written by PostgreSQL 15 under pgbench"
pglog="$work/postgresql.log"
pg_log "$pglog" log_min_duration_statement=0
ls -l "$pglog" | awk '{printf "log: %.1f MB\n", $5/1e6}'
ours ours-pg --log-format postgresql "$pglog"
pgb_s=$(seconds pgbadger -q -j 1 -f stderr --prefix '%t:%r:%u@%d:[%p]:' -x json -o "$work/pgbadger.json" "$pglog")
python3 - "$work/ours-pg-1.json" "$work/pgbadger.json" "$one_s" "$pgb_s" "$all_s" <<'PY'
import json, sys
ours = json.load(open(sys.argv[1]))
pgb = json.load(open(sys.argv[2]))
norm = pgb.get("normalyzed_info", {})  # {db: {normalised query: {count, duration (ms)}}}
pq = int(pgb.get("overall_stat", {}).get("queries_number", 0))
p_count = sum(q.get("count", 0) for db in norm.values() for q in db.values())
p_ms = sum(float(q.get("duration", 0)) for db in norm.values() for q in db.values())
oq = ours["summary"]["queries"]; ot = ours["summary"]["query_time_sum"]
print(f"queries: ours {oq}, pgbadger {pq} (its normalised classes hold {p_count})")
print(f"total duration: ours {ot:.3f} s, pgbadger {p_ms / 1000:.3f} s; classes: ours {len(ours['classes'])}, pgbadger {sum(len(db) for db in norm.values())}")
o_s, p_s, a_s = float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
print(f"time: pgbadger -j 1 {p_s:.2f} s; aurora-logs {o_s:.2f} s on one core ({p_s / o_s:.0f}x), {a_s:.2f} s on all ({p_s / a_s:.0f}x)")
PY

echo
echo "== PostgreSQL, log_statement=all + log_duration=on: every duration pairs with an earlier statement"
pairs="$work/postgresql-pairs.log"
pg_log "$pairs" log_statement=all log_duration=on log_min_duration_statement=-1
ls -l "$pairs" | awk '{printf "log: %.1f MB\n", $5/1e6}'
ours ours-pairs --log-format postgresql "$pairs"
python3 - "$work/ours-pairs-1.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
print(f"queries {s['queries']} in {s['classes']} classes, untimed entries {s['untimed_entries']}")
PY
echo "work files in $work"
