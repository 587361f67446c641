#!/usr/bin/env bash
# Same output on both architectures: runs `aurora-logs parse` and `aurora-logs digest --format
# json` on every file of ../shared/corpora with an x86_64 binary and with an aarch64 binary
# (under qemu-user, through binfmt_misc or QEMU_LD_PREFIX), and requires byte-identical stdout
# and the same exit status for each (files that are not logs, such as expected reports, must fail
# the same way on both). Without the corpora it skips with a notice; under CI=true that is a
# failure. Files run in parallel, one per core.
#   scripts/arm64/same-output.sh X86_64_BINARY AARCH64_BINARY
set -euo pipefail

if [ "${1:-}" = --one ]; then
  # One corpus file, both commands, both architectures; prints `same N` (N: bytes of NDJSON
  # compared) or `differ`, with the difference on stderr.
  file=$2 work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  run() { # output file, command...
    local out=$1 status=0; shift
    "$@" >"$out" 2>/dev/null </dev/null || status=$?
    echo "exit status $status" >>"$out"
  }
  verdict=same
  for cmd in parse digest; do
    args=(parse "$file"); [ "$cmd" = digest ] && args=(digest --format json "$file")
    run "$work/x86" "$SAME_OUTPUT_X86" "${args[@]}"
    # shellcheck disable=SC2086
    run "$work/a64" $SAME_OUTPUT_RUNNER "$SAME_OUTPUT_A64" "${args[@]}"
    if ! cmp -s "$work/x86" "$work/a64"; then
      verdict=differ
      { echo "DIFFERENT: aurora-logs ${args[*]}"; diff <(head -c 20000 "$work/x86") <(head -c 20000 "$work/a64") | head -n 20; } >&2 || true
    fi
    [ "$cmd" = parse ] && records=$(( $(stat -c %s "$work/x86") - $(tail -n 1 "$work/x86" | wc -c) ))
  done
  echo "$verdict $records"
  exit 0
fi

cd "$(dirname "$0")/../.."
x86="${1:?usage: same-output.sh X86_64_BINARY AARCH64_BINARY}"
a64="${2:?usage: same-output.sh X86_64_BINARY AARCH64_BINARY}"
corpora=../shared/corpora
if [ ! -d "$corpora" ]; then
  if [ "${CI:-}" = true ]; then echo "same output: $corpora is missing and CI=true" >&2; exit 1; fi
  echo "same output: $corpora absent, skipped"
  exit 0
fi
# e_machine of the ELF header: 0xb7 aarch64, 0x3e x86_64.
machine() { od -An -tx1 -j18 -N1 "$1" | tr -d ' '; }
[ "$(machine "$a64")" = b7 ] || { echo "same output: $a64 is not an aarch64 binary" >&2; exit 1; }
[ "$(machine "$x86")" = 3e ] || { echo "same output: $x86 is not an x86_64 binary" >&2; exit 1; }
runner=""
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || runner="qemu-aarch64 -L ${QEMU_LD_PREFIX:-/usr/aarch64-linux-gnu}"
export SAME_OUTPUT_X86="$x86" SAME_OUTPUT_A64="$a64" SAME_OUTPUT_RUNNER="$runner"

results="$(mktemp)"
trap 'rm -f "$results"' EXIT
find "$corpora" -type f -print0 | LC_ALL=C sort -z | xargs -0 -r -n 1 -P "$(nproc)" "$0" --one >"$results"
files=$(wc -l <"$results")
differ=$(grep -c '^differ' "$results" || true)
with_records=$(awk '$1 == "same" && $2 > 0' "$results" | wc -l)
bytes=$(awk '{ s += $2 } END { print s + 0 }' "$results")
if [ "$files" -eq 0 ]; then echo "same output: no file in $corpora" >&2; exit 1; fi
if [ "$differ" -gt 0 ]; then
  echo "same output: $differ of $files corpus files differ between x86_64 and aarch64" >&2
  exit 1
fi
echo "same output: $files corpus files ($with_records of them logs, $bytes bytes of NDJSON), parse and digest, byte-identical on x86_64 and aarch64"
