#!/usr/bin/env bash
# Deploy aurora-logs to the current kubectl context:
#
#   k8s/deploy-aurora-logs.sh --setup ENV           once, by a cluster admin: setup.yaml (the
#                                                   namespace, service accounts, RBAC, the
#                                                   StorageClass) and the Cluster Autoscaler
#   k8s/deploy-aurora-logs.sh poc|production        render with values-<env>.yaml and apply the
#                                                   rest: what the deployer Role allows
#   k8s/deploy-aurora-logs.sh --render DIR ENV      only render into DIR (no cluster needed;
#                                                   scripts/deploy-checks.sh validates this)
#
# Idempotent: every object is applied (created or updated); Secrets that already exist are
# kept unless OPENOBSERVE_PASSWORD is given; the topic and OpenObserve-install Jobs re-run
# (they change only what is missing or differs). Values: values-<env>.yaml, each overridable
# by a shell variable of the same name. OPENOBSERVE_PASSWORD (OpenObserve's root password)
# goes only into OpenObserve's own Secret; the processors get the root user's ingestion
# passcode, read from OpenObserve once it runs (or OPENOBSERVE_INGEST_PASSCODE if given).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
namespace=aurora-logs

die() { echo "deploy-aurora-logs: $*" >&2; exit 1; }
info() { echo "deploy-aurora-logs: $*" >&2; }

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

case "${1:-}" in -h|--help|help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
render_dir=""
setup_only=""
if [ "${1:-}" = "--render" ]; then
  [ $# -eq 3 ] || usage
  render_dir="$2"
  shift 2
elif [ "${1:-}" = "--setup" ]; then
  setup_only=1
  shift
fi
[ $# -eq 1 ] || usage
env_name="$1"
values="$here/values-$env_name.yaml"
[ -f "$values" ] || die "no values file for '$env_name' ($values); environments: $(cd "$here" && for f in values-*.yaml; do f="${f#values-}"; printf '%s ' "${f%.yaml}"; done)"

need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required but not on PATH ($2)"; }
need envsubst "Debian/Ubuntu: apt-get install gettext-base; macOS: brew install gettext"
if [ -z "$render_dir" ]; then
  need kubectl "https://kubernetes.io/docs/tasks/tools/"
  need curl "Debian/Ubuntu: apt-get install curl"
  kubectl version --request-timeout=10s >/dev/null 2>&1 \
    || die "kubectl cannot reach a cluster: run 'aws eks update-kubeconfig --name <terraform output cluster_name>' first"
fi

# Load KEY: "value" lines; a variable already set in the environment wins.
keys=()
while IFS= read -r line; do
  case "$line" in ''|'#'*) continue ;; esac
  [[ "$line" =~ ^([A-Z][A-Z0-9_]*):[[:space:]]*\"(.*)\"[[:space:]]*$ ]] \
    || die "$values: cannot read line '$line' (expected KEY: \"value\")"
  key="${BASH_REMATCH[1]}"
  keys+=("$key")
  # shellcheck disable=SC2163 # exports the variable named by $key
  if [ -z "${!key:-}" ]; then export "$key=${BASH_REMATCH[2]}"; else export "$key"; fi
done < "$values"
[ "${#keys[@]}" -gt 0 ] || die "$values defines no values"

# Secrets: from the environment only, never from a file in the repository.
secret_keys=(OPENOBSERVE_PASSWORD OPENOBSERVE_INGEST_PASSCODE)
# Escaped for a double-quoted string: \ and " get a backslash. YAML (the templates) and curl's
# config file read such a string back as the value itself, whatever it holds.
quoted() { local v="$1"; v="${v//\\/\\\\}"; v="${v//\"/\\\"}"; printf '%s' "$v"; }
root_password="${OPENOBSERVE_PASSWORD:-}"
passcode_given="${OPENOBSERVE_INGEST_PASSCODE:-}"
for key in "${secret_keys[@]}"; do
  export "$key=$(quoted "${!key:-}")"
done

# Computed here: the rendered ConfigMaps' digest, an annotation of the pods that read them.
computed_keys=(CONFIG_CHECKSUM)
shell_format=""
for key in "${keys[@]}" "${secret_keys[@]}" "${computed_keys[@]}"; do shell_format+="\${$key} "; done

# The manifests, in the order they are applied.
manifests=(
  setup.yaml
  cluster-autoscaler.yaml
  configmaps/app-config.yaml
  configmaps/kafka-config.yaml
  configmaps/graceful-shutdown.yaml
  secrets/openobserve-secret.yaml
  services/services.yaml
  policies/network-policies.yaml
  deployments/kafka.yaml
  deployments/openobserve.yaml
  deployments/openobserve-install.yaml
  secrets/app-secrets.yaml
  deployments/discovery.yaml
  deployments/processor.yaml
  keda/scaledobject.yaml
  hpa/autoscaling.yaml
  policies/disruption-budgets.yaml
  monitoring/podmonitor.yaml
  monitoring/prometheus-rules.yaml
)

render() { # manifest -> stdout
  local out
  out="$(envsubst "$shell_format" < "$here/$1")"
  # Every placeholder of ours must be gone (shell variables of the scripts in kafka-config stay).
  for key in "${keys[@]}" "${secret_keys[@]}" "${computed_keys[@]}"; do
    if grep -q "\${$key}" <<< "$out"; then die "$1: \${$key} left unreplaced"; fi
  done
  printf '%s\n' "$out"
}

sha256() { if command -v sha256sum >/dev/null 2>&1; then sha256sum; else shasum -a 256; fi; }
CONFIG_CHECKSUM="$( { render configmaps/app-config.yaml; render configmaps/graceful-shutdown.yaml; } \
  | sha256 | cut -c1-16)"
export CONFIG_CHECKSUM

if [ -n "$render_dir" ]; then
  mkdir -p "$render_dir"
  for m in "${manifests[@]}"; do
    mkdir -p "$render_dir/$(dirname "$m")"
    render "$m" > "$render_dir/$m"
  done
  info "rendered ${#manifests[@]} manifests for $env_name into $render_dir"
  exit 0
fi

apply() { render "$1" | kubectl apply -f - >&2; }

# The cluster admin's part: the namespace and what only an admin may create.
if [ -n "$setup_only" ]; then
  apply setup.yaml
  apply cluster-autoscaler.yaml
  info "setup applied; a deployer (EKS access entry, Kubernetes group aurora-logs-deployers) runs next: k8s/deploy-aurora-logs.sh $env_name"
  exit 0
fi
# The deployer may read service accounts in the namespace (and nothing cluster-wide): one that
# setup.yaml makes tells that the admin's part is there.
kubectl -n "$namespace" get serviceaccount aurora-logs-processor >/dev/null 2>&1 \
  || die "namespace $namespace or its setup is missing (or this identity may not deploy there): a cluster admin runs 'k8s/deploy-aurora-logs.sh --setup $env_name' first"

# Every value still holding a REPLACE_ placeholder stops the deployment, naming its source.
source_of() {
  case "$1" in
    IMAGE) echo "terraform output ecr_repository_url" ;;
    VALKEY_HOST) echo "terraform output valkey_endpoint" ;;
    VALKEY_USER) echo "terraform output valkey_user" ;;
    VALKEY_CACHE) echo "terraform output valkey_cache" ;;
    OPENOBSERVE_BUCKET) echo "terraform output openobserve_bucket" ;;
    *) echo "see the comment in $values" ;;
  esac
}
for key in "${keys[@]}"; do
  case "${!key}" in
    *REPLACE_*) die "$key is '${!key}': set it in $values or the environment ($(source_of "$key"))" ;;
  esac
done

secret_name() { sed -n 's/^  name: //p' "$here/$1" | head -n 1; }

# What each Secret is made from: OpenObserve's from the root password; the processors' from
# the ingestion passcode, given or read from OpenObserve with the root password.
secret_source() { # manifest -> "" when this run cannot make it
  case "$1" in
    secrets/openobserve-secret.yaml) [ -z "$root_password" ] || echo "OPENOBSERVE_PASSWORD" ;;
    secrets/app-secrets.yaml)
      if [ -n "$passcode_given" ]; then echo "OPENOBSERVE_INGEST_PASSCODE"
      elif [ -n "$root_password" ]; then echo "the passcode OpenObserve gives its root user"; fi ;;
  esac
}

# A Secret this run cannot make must exist already: check before changing anything.
for m in "${manifests[@]}"; do
  case "$m" in secrets/*)
    if [ -z "$(secret_source "$m")" ]; then
      kubectl -n "$namespace" get secret "$(secret_name "$m")" >/dev/null 2>&1 \
        || die "secret $(secret_name "$m") does not exist yet: export OPENOBSERVE_PASSWORD (OpenObserve's root password) and run again"
    fi
  esac
done

# The root user's ingestion passcode: accepted by OpenObserve's ingestion endpoints only (its
# open-source edition has no roles; every other user would be an admin). Read through a
# port-forward; the root password goes to curl on stdin, never on a command line.
ingestion_passcode() {
  local log pid port="" answer passcode
  log="$(mktemp)"
  kubectl -n "$namespace" port-forward svc/openobserve :5080 >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do
    port="$(sed -n 's/^Forwarding from 127\.0\.0\.1:\([0-9][0-9]*\) .*/\1/p' "$log" | head -n 1)"
    if [ -n "$port" ] || ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  if [ -z "$port" ]; then
    kill "$pid" 2>/dev/null || true
    cat "$log" >&2; rm -f "$log"
    die "cannot port-forward to svc/openobserve to read the ingestion passcode (see above)"
  fi
  answer="$(printf 'user = "%s:%s"\n' "$(quoted "$OPENOBSERVE_USER")" "$(quoted "$root_password")" \
    | curl -sS --max-time 30 --config - -w '\n%{http_code}' "http://127.0.0.1:$port/api/$OPENOBSERVE_ORG/passcode" 2>&1)" || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
  case "${answer##*$'\n'}" in
    200) ;;
    401) die "OpenObserve refused $OPENOBSERVE_USER with OPENOBSERVE_PASSWORD (401): give the root password it was first started with" ;;
    *) die "OpenObserve did not give the ingestion passcode: ${answer//$'\n'/ }" ;;
  esac
  passcode="$(sed -n 's/.*"passcode"[[:space:]]*:[[:space:]]*"\([^"\\]*\)".*/\1/p' <<< "$answer" | head -n 1)"
  [ -n "$passcode" ] || die "OpenObserve's answer to GET /api/$OPENOBSERVE_ORG/passcode holds no passcode"
  printf '%s' "$passcode"
}

# The prometheus-operator resources need its CRDs, which a cluster may not have. Asked through
# API discovery, which every authenticated user may read (the deployer cannot read CRDs).
crd_of() {
  case "$1" in
    monitoring/podmonitor.yaml) echo podmonitors.monitoring.coreos.com ;;
    monitoring/prometheus-rules.yaml) echo prometheusrules.monitoring.coreos.com ;;
  esac
}
served() { # resource.group (grep reads it all: no SIGPIPE for kubectl under pipefail)
  kubectl api-resources --api-group="${1#*.}" -o name 2>/dev/null | grep -x "$1" >/dev/null
}

# Processors scale by the CPU HPA or by KEDA (on the queue's lag), never both.
case "$PROCESSOR_AUTOSCALING" in
  hpa) ;;
  keda) served scaledobjects.keda.sh \
          || die "PROCESSOR_AUTOSCALING is keda but the cluster has no KEDA (scaledobjects.keda.sh): install KEDA, or set it to hpa" ;;
  *) die "PROCESSOR_AUTOSCALING is '$PROCESSOR_AUTOSCALING': hpa or keda" ;;
esac

for m in "${manifests[@]}"; do
  case "$m" in
    setup.yaml|cluster-autoscaler.yaml) ;; # the cluster admin's (--setup)
    keda/scaledobject.yaml)
      if [ "$PROCESSOR_AUTOSCALING" = keda ]; then
        # KEDA makes its own HPA: the CPU one goes first.
        kubectl -n "$namespace" delete hpa aurora-logs-processor --ignore-not-found >&2
        apply "$m"
      elif served scaledobjects.keda.sh; then
        kubectl -n "$namespace" delete scaledobject aurora-logs-processor --ignore-not-found >&2
      fi
      ;;
    hpa/autoscaling.yaml) [ "$PROCESSOR_AUTOSCALING" = keda ] || apply "$m" ;;
    monitoring/*)
      if served "$(crd_of "$m")"; then
        apply "$m"
      else
        info "$m skipped: the cluster has no $(crd_of "$m") (install prometheus-operator, then run again)"
      fi
      ;;
    secrets/*)
      source="$(secret_source "$m")"
      if [ -z "$source" ]; then
        info "secret $(secret_name "$m") exists; kept (set OPENOBSERVE_PASSWORD to replace it)"
        continue
      fi
      if [ "$m" = secrets/app-secrets.yaml ] && [ -z "$passcode_given" ]; then
        passcode="$(ingestion_passcode)"
        OPENOBSERVE_INGEST_PASSCODE="$(quoted "$passcode")"
        export OPENOBSERVE_INGEST_PASSCODE
      fi
      info "secret $(secret_name "$m") from $source"
      apply "$m"
      ;;
    deployments/kafka.yaml)
      # A Job's template is immutable: replace the previous run.
      kubectl -n "$namespace" delete job kafka-topics --ignore-not-found >&2
      apply "$m"
      kubectl -n "$namespace" rollout status statefulset/kafka --timeout=600s >&2
      kubectl -n "$namespace" wait --for=condition=complete job/kafka-topics --timeout=300s >&2
      ;;
    deployments/openobserve.yaml)
      apply "$m"
      kubectl -n "$namespace" rollout status statefulset/openobserve --timeout=600s >&2
      ;;
    deployments/openobserve-install.yaml)
      # Stream settings, dashboards, alerts, saved views: after OpenObserve is ready.
      kubectl -n "$namespace" delete job aurora-logs-openobserve-install --ignore-not-found >&2
      apply "$m"
      kubectl -n "$namespace" wait --for=condition=complete job/aurora-logs-openobserve-install --timeout=300s >&2
      ;;
    *) apply "$m" ;;
  esac
done

for d in aurora-logs-discovery aurora-logs-processor; do
  kubectl -n "$namespace" rollout status "deployment/$d" --timeout=300s >&2
done
info "$env_name deployed: kubectl -n $namespace get pods; OpenObserve UI: kubectl -n $namespace port-forward svc/openobserve 5080"
