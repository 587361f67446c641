# One role per Kubernetes service account (k8s/setup.yaml), handed to its pods by EKS Pod
# Identity. The policies are the files in ../iam, rendered here; tests/deploy.rs checks that
# they grant exactly the AWS calls the code makes.

locals {
  pod_identity_trust = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "pods.eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
      # Only EKS Pod Identity of this account's cluster (the conditions AWS documents for
      # Pod Identity trust policies); the ARN is spelled out, as the cluster's own attribute
      # would make a cycle (cluster -> key -> key policy -> these roles).
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnEquals    = { "aws:SourceArn" = "arn:aws:eks:${var.region}:${local.account_id}:cluster/${local.name}" }
      }
    }]
  })

  policy_vars = {
    region          = var.rds_region
    account_id      = local.account_id
    rds_instances   = var.rds_instances
    dynamodb_region = var.region
    dynamodb_table  = aws_dynamodb_table.files.name
    bucket          = aws_s3_bucket.openobserve.bucket
    kms_key_arn     = aws_kms_key.main.arn
  }

  # iam/elasticache-iam-policy.json for the shippers: connect to Valkey as their user.
  valkey_policy_vars = {
    cache_region = var.region
    account_id   = local.account_id
    cache_kind   = "replicationgroup"
    cache_name   = aws_elasticache_replication_group.valkey.replication_group_id
    cache_user   = aws_elasticache_user.shippers.user_id
  }

  # service account => policy file in ../iam
  service_accounts = {
    "aurora-logs-discovery" = "discovery-policy.json"
    "aurora-logs-processor" = "processor-policy.json"
    "openobserve"           = "openobserve-policy.json"
  }
}

resource "aws_iam_role" "service" {
  for_each           = local.service_accounts
  name               = "${local.name}-${each.key}"
  assume_role_policy = local.pod_identity_trust
}

resource "aws_iam_role_policy" "service" {
  for_each = local.service_accounts
  name     = trimsuffix(each.value, ".json")
  role     = aws_iam_role.service[each.key].id
  policy   = templatefile("${path.module}/../iam/${each.value}", local.policy_vars)

  lifecycle {
    precondition {
      condition     = var.environment != "production" || trimspace(var.rds_instances) != "*"
      error_message = "rds_instances is \"*\": in production, name the DB instances the shippers may read (an identifier prefix such as prod-aurora-*), not every database of the account."
    }
  }
}

# The shippers connect to Valkey as its IAM-authenticated user (valkey.tf).
resource "aws_iam_role_policy" "valkey" {
  for_each = toset(["aurora-logs-discovery", "aurora-logs-processor"])
  name     = "elasticache-iam-policy"
  role     = aws_iam_role.service[each.key].id
  policy   = templatefile("${path.module}/../iam/elasticache-iam-policy.json", local.valkey_policy_vars)
}

resource "aws_eks_pod_identity_association" "service" {
  for_each        = local.service_accounts
  cluster_name    = aws_eks_cluster.main.name
  namespace       = var.namespace
  service_account = each.key
  role_arn        = aws_iam_role.service[each.key].arn
  depends_on      = [aws_eks_addon.core]
}
