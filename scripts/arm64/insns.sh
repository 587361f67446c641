#!/usr/bin/env bash
# Instructions per byte of the parsers' hot paths on aarch64 and x86_64: a figure that means
# something where wall-clock time under emulation does not (BENCHMARKS.md). Not part of CI: it
# needs release builds.
#
#   scripts/arm64/insns.sh [FORMAT FILE]     # default: mysql-slow, a generated 10 MB slow log
#
# Runs `parsers`' `entries` example (release profile) at each level (framed, entries, records)
#   - aarch64: under qemu-aarch64 with scripts/arm64/insn_count.c, a TCG plugin that counts every
#     guest instruction executed;
#   - x86_64: under valgrind --tool=callgrind (Ir, instructions executed);
# and divides by the file's size. Both counts cover the whole program (start-up, reading the
# file), as the callgrind figures in BENCHMARKS.md always have; on 10 MB that is under 0.1 %.
set -euo pipefail
cd "$(dirname "$0")/../.."
TARGET=aarch64-unknown-linux-gnu
X86_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aurora-logs/target}"
A64_TARGET_DIR="${AURORA_LOGS_AARCH64_TARGET_DIR:-$HOME/.cache/aurora-logs/target-aarch64}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

command -v valgrind >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; }
command -v qemu-aarch64 >/dev/null || { echo "qemu-aarch64 missing: run scripts/arm64.sh first" >&2; exit 1; }

format="${1:-mysql-slow}"
file="${2:-}"
if [ -z "$file" ]; then
  file="$work/slow10.log"
  # The generator is seeded: the same 10 485 818 bytes from any profile (the debug one is cached).
  CARGO_TARGET_DIR="$X86_TARGET_DIR" cargo run --locked -q -p simulator --bin generate-logs -- mysql-slow 10M 1 >"$file"
fi
bytes=$(stat -c %s "$file")

CARGO_TARGET_DIR="$X86_TARGET_DIR" cargo build --release --locked -q -p parsers --example entries
(
  # shellcheck source=scripts/cross-env.sh
  . scripts/cross-env.sh "$TARGET"
  CARGO_TARGET_DIR="$A64_TARGET_DIR" cargo build --release --locked -q -p parsers --example entries --target "$TARGET"
)
gcc -shared -fPIC -O2 -Wall -Wextra -o "$work/insn_count.so" scripts/arm64/insn_count.c

x86_bin="$X86_TARGET_DIR/release/examples/entries"
a64_bin="$A64_TARGET_DIR/$TARGET/release/examples/entries"
echo "$format $file: $bytes bytes; $(rustc --version); $(qemu-aarch64 --version | head -n 1); $(valgrind --version)"
printf '%-8s %16s %10s %16s %10s\n' level aarch64 "a byte" x86_64 "a byte"
for level in framed entries records; do
  qemu-aarch64 -L /usr/aarch64-linux-gnu -plugin "$work/insn_count.so,out=$work/a64" "$a64_bin" "$format" "$file" "$level" >/dev/null
  a64=$(awk '/^instructions/ { print $2 }' "$work/a64")
  valgrind --tool=callgrind --callgrind-out-file="$work/cg" "$x86_bin" "$format" "$file" "$level" >/dev/null 2>"$work/vg"
  x86=$(awk '/Collected :/ { print $NF }' "$work/vg")
  printf '%-8s %16s %10s %16s %10s\n' "$level" "$a64" "$(awk -v n="$a64" -v b="$bytes" 'BEGIN { printf "%.2f", n / b }')" \
    "$x86" "$(awk -v n="$x86" -v b="$bytes" 'BEGIN { printf "%.2f", n / b }')"
done
