#!/usr/bin/env bash
# Static checks of the EKS deployment (Dockerfile, k8s/, eks-terraform/, iam/), offline:
#   - every manifest, rendered for every values-<env>.yaml by k8s/deploy-aurora-logs.sh
#     --render, validates against the Kubernetes $K8S_VERSION schemas (kubernetes-validate,
#     strict: unknown fields are errors);
#   - yamllint (.yamllint) on the manifest templates;
#   - every terraform file parses (python-hcl2), and is formatted (terraform fmt, when
#     terraform is installed);
#   - checkov on the rendered manifests, eks-terraform/, iam/ (as a CloudFormation template)
#     and the Dockerfile: no failed check; each skip is justified next to it.
# The consistency of these files with the code (config, IAM actions, table, topics) is
# checked by tests/deploy.rs under `cargo test`.
# Tools come from PyPI, pinned, into a venv under ~/.cache/aurora-logs (installed once).
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION=1.35.0   # eks-terraform/variables.tf kubernetes_version
venv="${AURORA_LOGS_VENV:-$HOME/.cache/aurora-logs/venv}"
requirements="kubernetes-validate==1.37.0 yamllint==1.38.0 python-hcl2==8.1.4 checkov==3.3.30"

step() { printf -- '-- %s\n' "$*"; }
started=$(date +%s)

bin="$(scripts/venv.sh "$venv" "$requirements")"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step "render k8s/ for every environment"
envs=()
for values in k8s/values-*.yaml; do
  env_name="$(basename "$values" .yaml)"; env_name="${env_name#values-}"
  envs+=("$env_name")
  k8s/deploy-aurora-logs.sh --render "$work/k8s-$env_name" "$env_name"
done
[ "${#envs[@]}" -ge 2 ] || { echo "expected values-poc.yaml and values-production.yaml" >&2; exit 1; }
# A password with YAML's special characters renders as itself.
weird='we"ird\pa$s: #x'
OPENOBSERVE_PASSWORD="$weird" OPENOBSERVE_INGEST_PASSCODE="pc-$weird" \
  k8s/deploy-aurora-logs.sh --render "$work/k8s-quoting" poc
WEIRD="$weird" "$bin/python" - "$work/k8s-quoting/secrets" <<'PY'
import os, sys, yaml
d = sys.argv[1]
got = yaml.safe_load(open(f"{d}/app-secrets.yaml"))["stringData"]["openobserve-password"]
assert got == "pc-" + os.environ["WEIRD"], (got, os.environ["WEIRD"])
got = yaml.safe_load(open(f"{d}/openobserve-secret.yaml"))["stringData"]["ZO_ROOT_USER_PASSWORD"]
assert got == os.environ["WEIRD"], got
print("a password with \" and \\ renders as itself")
PY

step "deploy-aurora-logs.sh: --help, the config checksum, bash 3.2"
k8s/deploy-aurora-logs.sh --help | grep -q 'render with values-<env>.yaml and apply' \
  || { echo "deploy-aurora-logs.sh --help printed no usage" >&2; exit 1; }
checksum() { sed -n 's/.*aurora-logs\/config-checksum: "\(.*\)"/\1/p' "$1/deployments/processor.yaml"; }
AWS_REGION=eu-west-1 k8s/deploy-aurora-logs.sh --render "$work/k8s-other-region" poc 2>/dev/null
[ -n "$(checksum "$work/k8s-poc")" ] \
  && [ "$(checksum "$work/k8s-poc")" = "$(checksum "$work/k8s-quoting")" ] \
  && [ "$(checksum "$work/k8s-poc")" != "$(checksum "$work/k8s-other-region")" ] \
  || { echo "the config checksum does not follow the rendered ConfigMaps" >&2; exit 1; }
# macOS ships bash 3.2: none of bash 4's associative arrays, mapfile or case conversion.
if grep -nE 'declare -A|local -A|mapfile|readarray|\$\{[A-Za-z_]+(,,|\^\^)\}' k8s/deploy-aurora-logs.sh; then
  echo "deploy-aurora-logs.sh: the lines above need bash 4" >&2; exit 1
fi
echo "ok"

step "deploy-aurora-logs.sh against a stub kubectl"
# The script's own logic (no cluster here): it applies nothing while a Secret is missing and
# no password is given, refuses unfilled values, and applies every manifest once otherwise.
# (Reading the passcode from OpenObserve: tests/deploy.rs, against the stand-in.)
# The stub runs with the placeholders filled and no secret from the caller's shell; what the
# script said goes to stub.out, shown when a run goes other than expected.
stub() {
  env -u OPENOBSERVE_PASSWORD -u OPENOBSERVE_INGEST_PASSCODE -u STUB_SECRETS_EXIST PATH="$PWD/scripts/deploy/stub-bin:$PATH" STUB_LOG="$work/kubectl.log" \
    IMAGE=registry.example/aurora-logs:1 VALKEY_HOST=valkey.example OPENOBSERVE_BUCKET=bucket-example \
    "$@" >"$work/stub.out" 2>&1
}
refused() { # why: expected words of the refusal, then the command
  local why=$1; shift
  if stub "$@"; then cat "$work/stub.out" >&2; echo "deploy-aurora-logs.sh went ahead: $why expected" >&2; exit 1; fi
  grep -q -- "$why" "$work/stub.out" || { cat "$work/stub.out" >&2; echo "deploy-aurora-logs.sh failed, but not with '$why'" >&2; exit 1; }
}
succeeded() {
  stub "$@" || { cat "$work/stub.out" >&2; echo "deploy-aurora-logs.sh failed: $*" >&2; exit 1; }
}
expect_applies() { # what, count
  local n; n=$(grep -c 'apply -f -' "$work/kubectl.log" || true)
  [ "$n" -eq "$2" ] || { echo "deploy-aurora-logs.sh $1: $n applies, expected $2" >&2; exit 1; }
}
manifest_count=$(find "$work/k8s-poc" -name '*.yaml' | wc -l)
: > "$work/kubectl.log"; refused "does not exist yet: export OPENOBSERVE_PASSWORD" k8s/deploy-aurora-logs.sh poc
expect_applies "without secrets" 0
for key in IMAGE VALKEY_HOST OPENOBSERVE_BUCKET; do
  : > "$work/kubectl.log"
  refused "$key is 'REPLACE_X'" env "$key=REPLACE_X" OPENOBSERVE_PASSWORD=x k8s/deploy-aurora-logs.sh poc
  expect_applies "with $key unfilled" 0
done
# The cluster admin's part is setup.yaml alone; the deployer's is every other manifest, and
# needs the namespace the admin made.
: > "$work/kubectl.log"; succeeded k8s/deploy-aurora-logs.sh --setup poc
expect_applies "--setup" 2
: > "$work/kubectl.log"; refused "a cluster admin runs 'k8s/deploy-aurora-logs.sh --setup poc' first" \
  env STUB_NO_SETUP=1 OPENOBSERVE_PASSWORD=x k8s/deploy-aurora-logs.sh poc
expect_applies "without setup" 0
: > "$work/kubectl.log"; succeeded env OPENOBSERVE_PASSWORD=x OPENOBSERVE_INGEST_PASSCODE=y k8s/deploy-aurora-logs.sh poc
# Everything but the admin's two, and of the two autoscalers the CPU HPA (the values' default).
expect_applies "with secrets" $((manifest_count - 3))
: > "$work/kubectl.log"; succeeded env STUB_SECRETS_EXIST=1 k8s/deploy-aurora-logs.sh production
expect_applies "again, secrets kept" $((manifest_count - 5))
grep -q 'delete scaledobject aurora-logs-processor' "$work/kubectl.log" \
  || { echo "deploy-aurora-logs.sh left a KEDA ScaledObject beside the HPA" >&2; exit 1; }
# With KEDA: its ScaledObject instead of the HPA, which is deleted first; without KEDA, refused.
: > "$work/kubectl.log"; succeeded env STUB_SECRETS_EXIST=1 PROCESSOR_AUTOSCALING=keda k8s/deploy-aurora-logs.sh poc
expect_applies "with keda" $((manifest_count - 5))
grep -q 'delete hpa aurora-logs-processor' "$work/kubectl.log" \
  || { echo "deploy-aurora-logs.sh kept the CPU HPA beside KEDA's" >&2; exit 1; }
: > "$work/kubectl.log"; refused "the cluster has no KEDA" \
  env STUB_SECRETS_EXIST=1 STUB_NO_KEDA=1 PROCESSOR_AUTOSCALING=keda k8s/deploy-aurora-logs.sh poc
expect_applies "keda without KEDA" 0
# Without prometheus-operator, the PodMonitor and the PrometheusRule are skipped, said so.
: > "$work/kubectl.log"; succeeded env STUB_SECRETS_EXIST=1 STUB_NO_MONITORING=1 k8s/deploy-aurora-logs.sh poc
expect_applies "without prometheus-operator" $((manifest_count - 7))
grep -q "skipped: the cluster has no podmonitors.monitoring.coreos.com" "$work/stub.out" \
  || { cat "$work/stub.out" >&2; echo "the skipped PodMonitor was not reported" >&2; exit 1; }
echo "ok ($manifest_count manifests)"

step "kubernetes-validate (Kubernetes $K8S_VERSION, strict)"
for env_name in "${envs[@]}"; do
  # Custom resources (monitoring/, keda/) have no schema there: validated against their CRDs below.
  mapfile -t files < <(find "$work/k8s-$env_name" -name '*.yaml' -not -path '*/monitoring/*' -not -path '*/keda/*' | sort)
  # A resource without a schema (a wrong apiVersion or kind) is only a WARN with exit 0 for
  # kubernetes-validate: here it fails.
  out=$("$bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "${files[@]}" 2>&1) \
    || { echo "$out" >&2; exit 1; }
  if grep -q 'WARN' <<< "$out"; then echo "$out" >&2; echo "kubernetes-validate: see the warnings above" >&2; exit 1; fi
  echo "$env_name: ${#files[@]} files valid"
done

step "custom resources against their CRDs (../shared/reference/crds, strict)"
crds=../shared/reference/crds
if [ -d "$crds" ]; then
  for env_name in "${envs[@]}"; do
    "$bin/python" scripts/deploy/validate_crds.py "$crds" "$work/k8s-$env_name"/monitoring/*.yaml "$work/k8s-$env_name"/keda/*.yaml
  done
elif [ "${CI:-}" = true ]; then
  echo "$crds is missing: CI=true needs the CRD schemas" >&2; exit 1
else
  echo "SKIPPED: $crds is absent (the project cloned alone); the custom resources are not validated"
fi

step "yamllint"
"$bin/yamllint" --strict k8s/ .yamllint
echo "ok"

step "terraform parses (python-hcl2)"
"$bin/python" scripts/deploy/parse_terraform.py eks-terraform
if command -v terraform >/dev/null 2>&1; then
  TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive eks-terraform >/dev/null \
    || { echo "eks-terraform: run terraform fmt" >&2; exit 1; }
  echo "terraform fmt: ok"
else
  echo "terraform not installed: formatting not checked"
fi

# --skip-download: no guideline or policy download (this runs offline); a time bound in case a
# future version waits on the network anyway.
checkov() {
  CKV_SKIP_PACKAGE_UPDATE_CHECK=true timeout 300 "$bin/checkov" --skip-download --compact --quiet "$@"
}
step "checkov: Dockerfile"
checkov --framework dockerfile -f Dockerfile
for env_name in "${envs[@]}"; do
  step "checkov: k8s ($env_name)"
  checkov --framework kubernetes -d "$work/k8s-$env_name"
done
step "checkov: eks-terraform"
checkov --framework terraform -d eks-terraform
step "checkov: iam (as CloudFormation policies)"
mkdir -p "$work/iam"
"$bin/python" scripts/deploy/iam_as_cloudformation.py iam "$work/iam/iam.json"
checkov --framework cloudformation -d "$work/iam"

echo "deploy checks passed in $(( $(date +%s) - started )) s"
