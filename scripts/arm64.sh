#!/usr/bin/env bash
# The aarch64 (Graviton) step of scripts/test.sh, also runnable alone: builds every crate, test
# and binary of the workspace for aarch64-unknown-linux-gnu (cross gcc from Debian, its own
# cached target dir), runs every test that needs no external service under qemu-user, checks
# that `parse` and `digest` write the same bytes on aarch64 as on x86_64 for every corpus file
# (scripts/arm64/same-output.sh), and runs the image's build commands (scripts/image-build.sh).
# Installs what is missing (the Rust target, the cross toolchain, qemu) and registers qemu with
# binfmt_misc, so that tests which start a target binary themselves can run it.
#
# If the Rust target or the Debian packages cannot be installed (no route to them), the step says
# so loudly and is skipped (exit 0); wherever they install, it must pass.
#
# Tests that stay x86_64-only (they need Kafka, Redis or DynamoDB Local, or measure time end to
# end, or run DataFusion in Python): see X86_ONLY below; README.md lists them.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=aarch64-unknown-linux-gnu
X86_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aurora-logs/target}"
A64_TARGET_DIR="${AURORA_LOGS_AARCH64_TARGET_DIR:-$HOME/.cache/aurora-logs/target-aarch64}"
# Tests under qemu run several times slower than native: optimised code narrows that a lot, and
# the aarch64 build has its own target dir, so this shares no cache with the x86 debug build.
export CARGO_PROFILE_DEV_OPT_LEVEL=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

started=$(date +%s)
say() { printf -- '-- %s\n' "$*"; }
elapsed() { echo "$(( $(date +%s) - started )) s"; }
skipped() {
  printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
  printf '!!! aarch64 step SKIPPED: %s\n' "$*" >&2
  printf '!!! nothing was built or tested for aarch64 in this run\n' >&2
  printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' >&2
  echo "aarch64: skipped ($*)"
  exit 0
}
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

say "toolchain: Rust target $TARGET, cross gcc (scripts/image-build.sh toolchain), qemu"
# The same install commands as the Dockerfile's build stage.
scripts/image-build.sh toolchain "$TARGET" \
  || skipped "the $TARGET toolchain could not be installed (rustup target add, or Debian's cross gcc): no route?"
missing=()
for pkg in qemu-user qemu-user-binfmt; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  { as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } \
    || skipped "apt-get install ${missing[*]} failed (no route to the Debian mirror?)"
fi
# binfmt_misc, so that a test which starts an aarch64 binary itself (CLI tests, the stand-ins'
# binaries) runs it through qemu like the kernel of a Graviton host would run it natively.
binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/register" ]; then as_root mount -t binfmt_misc binfmt_misc "$binfmt"; fi
if [ ! -e "$binfmt/qemu-aarch64" ]; then
  as_root sh -c "cat /usr/lib/binfmt.d/qemu-aarch64.conf > $binfmt/register"
fi
grep -q '^enabled' "$binfmt/qemu-aarch64" || { echo "binfmt_misc: qemu-aarch64 is not enabled" >&2; exit 1; }
# shellcheck source=scripts/cross-env.sh
. scripts/cross-env.sh "$TARGET"
runner_var="CARGO_TARGET_$(printf '%s' "$TARGET" | tr 'a-z-' 'A-Z_')_RUNNER"
echo "$(rustc --version), $($CC --version | head -n 1), $(qemu-aarch64 --version | head -n 1); runner: ${!runner_var}"

export CARGO_TARGET_DIR="$A64_TARGET_DIR"
# First: the image's binary (no `demo` feature) has the same path as the workspace's, and the
# workspace build below puts the default-featured one back in its place for the tests.
say "the image's build commands (scripts/image-build.sh build, dev profile)"
PROFILE=dev OUT="$A64_TARGET_DIR/image-out" scripts/image-build.sh build "$TARGET"

say "build: the whole workspace for $TARGET, every target ($A64_TARGET_DIR)"
cargo build --workspace --all-targets --locked --target "$TARGET"
a64_bin="$A64_TARGET_DIR/$TARGET/debug/aurora-logs"
"$a64_bin" demo --help >/dev/null || { echo "$a64_bin has no demo command: not the workspace's build" >&2; exit 1; }
echo "built in $(elapsed)"

# What runs under qemu, by package: cargo test selections. Everything not listed here is
# x86_64-only (X86_ONLY).
RUNS=(
  "contract|-p contract --lib --bins --tests"
  "parsers|-p parsers --lib --bins --tests"
  "query-digest|-p query-digest --lib --bins --tests"
  "net|-p net --lib --bins --tests"
  "rds|-p rds --lib --bins --tests"
  "state|-p state --lib --bins --tests"
  "queue|-p queue --lib"
  "sink|-p sink --lib --bins --tests"
  "dataplane|-p dataplane --lib --test sink"
  "discovery|-p discovery --lib"
  "openobserve|-p openobserve --lib --bins --tests"
  "simulator|-p simulator --lib --bins --tests"
  "aurora-logs|-p aurora-logs --bins --test cli --test deploy --test openobserve_install"
)
X86_ONLY="queue: tests/queue.rs (Kafka); discovery: tests/budget.rs, cache.rs, dynamo.rs, pass.rs (Redis, DynamoDB Local); dataplane: tests/e2e.rs, busy_files.rs (end to end, timed); aurora-logs: tests/distributed.rs (Kafka, Redis, DynamoDB Local), kill_restart.rs (timed), openobserve_queries.rs (DataFusion); doc-tests"
echo "x86_64 only: $X86_ONLY"

say "tests under qemu"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
summary=()
failed_runs=()
total_passed=0 total_failed=0
for run in "${RUNS[@]}"; do
  name="${run%%|*}"
  # shellcheck disable=SC2086
  if ! cargo test --locked --target "$TARGET" --no-fail-fast ${run#*|} -- --test-threads=2 2>&1 | tee "$log"; then
    failed_runs+=("$name")
  fi
  read -r p f < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
                       END { print p + 0, f + 0 }' "$log")
  summary+=("$name $p")
  total_passed=$((total_passed + p)) total_failed=$((total_failed + f))
  if [ "$name" = parsers ]; then parsers_passed=$p; fi
done
echo "qemu tests done at $(elapsed)"

say "parsers: the same tests on x86_64, for the count"
CARGO_TARGET_DIR="$X86_TARGET_DIR" CARGO_PROFILE_DEV_OPT_LEVEL=0 cargo test --locked -p parsers --lib --bins --tests 2>&1 | tee "$log" | grep -E '^test result:' || true
x86_parsers=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($(i) ~ /^passed;?$/) p += $(i-1) } END { print p + 0 }' "$log")

say "same output on both architectures (scripts/arm64/same-output.sh)"
# The workspace's x86_64 debug build (scripts/test.sh's tests have just built it).
CARGO_TARGET_DIR="$X86_TARGET_DIR" CARGO_PROFILE_DEV_OPT_LEVEL=0 cargo build --workspace --bins --locked
scripts/arm64/same-output.sh "$X86_TARGET_DIR/debug/aurora-logs" "$a64_bin" | tee "$log"
same_output="$(tail -n 1 "$log")"

echo "aarch64 step took $(elapsed)"
echo "aarch64 (qemu) per crate passed: ${summary[*]}"
echo "aarch64 (qemu) parsers: $parsers_passed passed, x86_64: $x86_parsers passed; $same_output"
if [ "${#failed_runs[@]}" -gt 0 ]; then
  echo "aarch64: test failures in ${failed_runs[*]}" >&2
  echo "aarch64: $total_passed passed, $total_failed failed"
  exit 1
fi
if [ "$parsers_passed" -lt "$x86_parsers" ]; then
  echo "aarch64: fewer parsers tests passed under qemu ($parsers_passed) than on x86_64 ($x86_parsers)" >&2
  exit 1
fi
echo "aarch64: $total_passed passed, $total_failed failed"
