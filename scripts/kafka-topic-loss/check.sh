#!/usr/bin/env bash
# Shows why the tests never let the test broker (tansu 0.6) lose a topic under a consumer:
# runs repro.py RUNS times with the librdkafka that confluent-kafka VERSION bundles, against a
# tansu of scripts/services.sh on a free port, and counts survivals and crashes. Not part of the
# test command.
#
#   scripts/kafka-topic-loss/check.sh [VERSION] [RUNS]   e.g. 2.12.1 (the librdkafka of
#                                                        rdkafka-sys 4.10) crashes; 2.3.0 survives
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="${1:-2.12.1}"; runs="${2:-3}"
venv="${AURORA_LOGS_CACHE:-$HOME/.cache/aurora-logs}/kafka-topic-loss-$version"
python="$("$here/../venv.sh" "$venv" "confluent-kafka==$version")/python"
tansu="$("$here/../services.sh" tansu-bin)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
  --storage-engine memory://tansu/ >/dev/null 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
survived=0; crashed=0
for i in $(seq 1 "$runs"); do
  rc=0; timeout 120 "$python" "$here/repro.py" "127.0.0.1:$port" >/dev/null 2>&1 || rc=$?
  case $rc in
    0) survived=$((survived + 1)); echo "run $i: survived" ;;
    124) echo "run $i: timed out" ;;
    *) if [ "$rc" -gt 128 ]; then crashed=$((crashed + 1)); echo "run $i: crashed (signal $((rc - 128)))"; else echo "run $i: failed ($rc)"; fi ;;
  esac
done
echo "confluent-kafka $version: $survived survived, $crashed crashed, of $runs"
