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
# The x86_64 commands below (the parsers' count, the binary for the same-output check) run in
# the x86 target dir, shared with the x86 tests: without the cross environment set next.
x86_cargo() {
  env -u CC -u CXX -u AR -u HOST_CC -u HOST_CXX -u HOST_AR -u QEMU_LD_PREFIX -u PKG_CONFIG_ALLOW_CROSS \
    -u PKG_CONFIG_PATH -u PKG_CONFIG_LIBDIR -u LIBZ_SYS_STATIC -u CARGO_PROFILE_DEV_OPT_LEVEL \
    CARGO_TARGET_DIR="$X86_TARGET_DIR" cargo "$@"
}
# shellcheck source=scripts/cross-env.sh
. scripts/cross-env.sh "$TARGET"
# As the image build sets it: one value for every aarch64 build, or libz-sys and what links it
# would be rebuilt at each switch.
export LIBZ_SYS_STATIC=1
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

# What runs under qemu: every crate's unit tests (libraries and binaries) and these integration
# tests, in one `cargo test --workspace` (a per-package selection would resolve features anew
# and build other variants of the dependencies). Test target -> package:
RUN_TESTS="dead_letters:aurora-logs conformance_fingerprint:parsers conformance_mysql_other:parsers conformance_mysql_slow:parsers
conformance_postgres:parsers fuzz_regressions:parsers parts:query-digest sink:dataplane install:openobserve schema:openobserve
openobserve_manage:simulator openobserve_standin:simulator rds_simulator:simulator cli:aurora-logs
deploy:aurora-logs openobserve_install:aurora-logs iam_tokens:net"
# Unit-test binaries named after a binary, not their package.
BIN_PACKAGES="generate_logs:simulator openobserve_standin:simulator rds_simulator:simulator"
# Integration tests that stay on x86_64 (package:test), and why: X86_ONLY.
X86_ONLY_TESTS="queue:queue discovery:budget discovery:cache discovery:dynamo discovery:pass dataplane:e2e
dataplane:busy_files aurora-logs:distributed aurora-logs:kill_restart aurora-logs:openobserve_queries
discovery:redis_tls aurora-logs:secrets_in_logs"
# A new integration test must be put in one list or the other.
for file in tests/*.rs */tests/*.rs; do
  pkg="$(dirname "$(dirname "$file")")"; [ "$pkg" = . ] && pkg=aurora-logs
  name="$(basename "$file" .rs)"
  if ! grep -qw -- "$name:$pkg" <<<"$RUN_TESTS" && ! grep -qw -- "$pkg:$name" <<<"$X86_ONLY_TESTS"; then
    echo "scripts/arm64.sh: $file is in neither RUN_TESTS nor X86_ONLY_TESTS: say whether it runs under qemu" >&2
    exit 1
  fi
done
X86_ONLY="queue: tests/queue.rs (Kafka); discovery: tests/budget.rs, cache.rs, dynamo.rs, pass.rs, redis_tls.rs (Redis, DynamoDB Local); dataplane: tests/e2e.rs, busy_files.rs (end to end, timed); aurora-logs: tests/distributed.rs (Kafka, Redis, DynamoDB Local), kill_restart.rs, secrets_in_logs.rs (timed), openobserve_queries.rs (DataFusion); doc-tests"
echo "x86_64 only: $X86_ONLY"

say "tests under qemu"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
test_args=()
for t in $RUN_TESTS; do test_args+=(--test "${t%%:*}"); done
status=0
cargo test --workspace --locked --target "$TARGET" --no-fail-fast --lib --bins "${test_args[@]}" -- --test-threads=2 2>&1 | tee "$log" || status=$?
# Per package: `Running unittests src/lib.rs (.../deps/parsers-HASH)` or `Running tests/cli.rs
# (.../deps/cli-HASH)`, then that binary's `test result:` line.
counts="$(awk -v tests="$RUN_TESTS" -v bins="$BIN_PACKAGES" '
  BEGIN { n = split(tests, kv, /[ \n]+/); for (i = 1; i <= n; i++) { split(kv[i], a, ":"); test_pkg[a[1]] = a[2] }
          n = split(bins, kv, /[ \n]+/); for (i = 1; i <= n; i++) { split(kv[i], a, ":"); bin_pkg[a[1]] = a[2] } }
  /^ *Running / { bin = $NF; sub(/\)$/, "", bin); sub(/.*\//, "", bin); sub(/-[0-9a-f]+$/, "", bin)
                  if ($2 == "unittests") pkg = (bin in bin_pkg) ? bin_pkg[bin] : bin; else pkg = test_pkg[bin]
                  gsub(/_/, "-", pkg) }
  /^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p[pkg] += $(i-1); if ($(i) ~ /^failed;?$/) f[pkg] += $(i-1) } }
  END { for (k in p) printf "%s %d %d\n", k, p[k], f[k] }' "$log" | LC_ALL=C sort)"
total_passed=$(awk '{ s += $2 } END { print s + 0 }' <<<"$counts")
total_failed=$(awk '{ s += $3 } END { print s + 0 }' <<<"$counts")
parsers_passed=$(awk '$1 == "parsers" { print $2 }' <<<"$counts")
summary="$(awk '{ printf "%s%s %d", (NR > 1 ? ", " : ""), $1, $2 } END { print "" }' <<<"$counts")"
echo "qemu tests done at $(elapsed)"

say "parsers: the same tests on x86_64, for the count"
x86_cargo test --locked -p parsers --lib --bins --tests 2>&1 | tee "$log" | grep -E '^test result:' || true
x86_parsers=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($(i) ~ /^passed;?$/) p += $(i-1) } END { print p + 0 }' "$log")

say "same output on both architectures (scripts/arm64/same-output.sh)"
# The x86_64 binary of the tests' build (scripts/test.sh's tests have just built it; `cargo build
# --bins` would resolve features without the dev-dependencies and build other variants).
x86_cargo test --workspace --locked --no-run
scripts/arm64/same-output.sh "$X86_TARGET_DIR/debug/aurora-logs" "$a64_bin" | tee "$log"
same_output="$(tail -n 1 "$log")"

echo "aarch64 step took $(elapsed)"
echo "aarch64 (qemu) passed per package: $summary"
echo "aarch64 (qemu) parsers: ${parsers_passed:-0} passed, x86_64: $x86_parsers passed; $same_output"
if [ "$status" -ne 0 ] || [ "$total_failed" -gt 0 ]; then
  echo "aarch64: the tests under qemu failed (cargo test exit status $status)" >&2
  echo "aarch64: $total_passed passed, $total_failed failed"
  exit 1
fi
if [ "${parsers_passed:-0}" -lt "$x86_parsers" ]; then
  echo "aarch64: fewer parsers tests passed under qemu (${parsers_passed:-0}) than on x86_64 ($x86_parsers)" >&2
  exit 1
fi
echo "aarch64: $total_passed passed, $total_failed failed"
