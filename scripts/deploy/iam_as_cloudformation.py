"""Wrap iam/*.json in a CloudFormation template so that checkov's IAM checks read them.

checkov has no framework for bare policy documents; as AWS::IAM::ManagedPolicy resources of a
template its IAM checks (wildcards, write or permissions-management access without
constraints, privilege escalation, data exfiltration) apply to them. The terraform
placeholders (${region} ...) are replaced with example values first, as terraform's
templatefile would.

usage: iam_as_cloudformation.py IAM_DIR OUT_FILE
"""

import json
import pathlib
import re
import sys

EXAMPLE = {
    "region": "us-east-1",
    "account_id": "123456789012",
    "rds_instances": "*",
    "dynamodb_region": "us-east-1",
    "dynamodb_table": "aurora-logs-files",
    "bucket": "aurora-logs-poc-openobserve",
    "kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
    # The Cluster Autoscaler's, attached by eks.tf.
    "cluster_name": "aurora-logs-poc",
    # The policies of MSK IAM (optional, the values a user fills in) and ElastiCache IAM
    # (attached by iam.tf): iam/README.md.
    "msk_region": "us-east-1",
    "msk_cluster": "aurora-logs/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-1",
    "topic_prefix": "aurora-logs-",
    "group_id": "aurora-logs-processor",
    "cache_region": "us-east-1",
    "cache_kind": "replicationgroup",
    "cache_name": "aurora-logs",
    "cache_user": "aurora-logs",
}


def render(text: str, path: pathlib.Path) -> str:
    def one(m: re.Match) -> str:
        if m.group(1) not in EXAMPLE:
            sys.exit(f"{path}: unknown placeholder ${{{m.group(1)}}} (neither a templatefile variable of eks-terraform/iam.tf nor one of the optional policies' in EXAMPLE)")
        return EXAMPLE[m.group(1)]

    return re.sub(r"\$\{([a-z_]+)\}", one, text)


def main() -> None:
    iam_dir, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    resources = {}
    for path in sorted(iam_dir.glob("*.json")):
        doc = json.loads(render(path.read_text(), path))
        name = "".join(part.capitalize() for part in re.split(r"[-_.]", path.stem))
        resources[name] = {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {"ManagedPolicyName": path.stem, "PolicyDocument": doc},
        }
    if not resources:
        sys.exit(f"no policies in {iam_dir}")
    template = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}
    out.write_text(json.dumps(template, indent=2) + "\n")


if __name__ == "__main__":
    main()
