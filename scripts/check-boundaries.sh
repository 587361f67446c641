#!/usr/bin/env bash
# The crate graph's boundaries, checked so that they stay: the release binary carries no test
# world (`simulator` comes only with the `demo` feature), and discovery does not depend on the
# pipeline (`dataplane`) or the binary. Run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
release="$(cargo tree --locked -e normal -p aurora-logs --no-default-features --prefix none --format '{p}')"
if grep -q '^simulator ' <<<"$release"; then
  echo "boundary broken: the release binary (--no-default-features) depends on simulator:" >&2
  cargo tree --locked -e normal -p aurora-logs --no-default-features -i simulator >&2 || true
  fail=1
fi
discovery="$(cargo tree --locked -p discovery --prefix none --format '{p}')"
for crate in dataplane aurora-logs; do
  if grep -q "^$crate " <<<"$discovery"; then
    echo "boundary broken: discovery depends on $crate:" >&2
    cargo tree --locked -p discovery -i "$crate" >&2 || true
    fail=1
  fi
done
for crate in contract parsers; do
  # The bottom of the graph: no AWS, Kafka, Redis or async runtime.
  bottom="$(cargo tree --locked -e normal -p "$crate" --prefix none --format '{p}')"
  if grep -Eq '^(tokio|aws-|rdkafka|redis|hyper) ' <<<"$bottom"; then
    echo "boundary broken: $crate depends on I/O crates:" >&2
    grep -E '^(tokio|aws-|rdkafka|redis|hyper) ' <<<"$bottom" >&2
    fail=1
  fi
done
if [ "$fail" = 0 ]; then
  echo "boundaries hold: no simulator in the release binary, no pipeline under discovery, no I/O under contract and parsers"
fi
exit "$fail"
