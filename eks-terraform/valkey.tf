# Valkey for discovery's cache of RDS answers and the RDS budget shared by every process (the
# app's [redis] section). TLS is required, and every connection authenticates: the shippers as
# the user below, by IAM (a SigV4 token signed with their pod's role, which holds
# elasticache:Connect for this cache and user: iam.tf), its ACL limited to aurora-logs' keys;
# the default user every user group has is off. Nothing without that role can read or plant a
# cached listing or drain the shared RDS budget.

locals {
  # IAM authentication needs the user's id and name to be the same.
  valkey_user = "${local.name}-shippers"
  # The app's redis.key_prefix (k8s/configmaps/app-config.yaml): the only keys the user may touch.
  valkey_key_prefix = "aurora-logs:"
}

resource "aws_elasticache_user" "default_off" {
  user_id       = "${local.name}-default-off"
  user_name     = "default"
  engine        = "valkey"
  access_string = "off -@all"

  authentication_mode {
    type = "no-password-required"
  }
}

resource "aws_elasticache_user" "shippers" {
  user_id       = local.valkey_user
  user_name     = local.valkey_user
  engine        = "valkey"
  access_string = "on ~${local.valkey_key_prefix}* &* +@all -@dangerous"

  authentication_mode {
    type = "iam"
  }
}

resource "aws_elasticache_user_group" "valkey" {
  user_group_id = "${local.name}-valkey"
  engine        = "valkey"
  user_ids      = [aws_elasticache_user.default_off.user_id, aws_elasticache_user.shippers.user_id]
}

resource "aws_elasticache_subnet_group" "valkey" {
  name       = "${local.name}-valkey"
  subnet_ids = aws_subnet.private[*].id
}

resource "aws_security_group" "valkey" {
  name        = "${local.name}-valkey"
  description = "Valkey: reachable from the EKS cluster only"
  vpc_id      = aws_vpc.main.id

  ingress {
    description     = "Valkey from the cluster's nodes and pods"
    from_port       = 6379
    to_port         = 6379
    protocol        = "tcp"
    security_groups = [aws_eks_cluster.main.vpc_config[0].cluster_security_group_id]
  }

  egress {
    description = "Replication between the group's own nodes"
    from_port   = 6379
    to_port     = 6379
    protocol    = "tcp"
    self        = true
  }
}

resource "aws_elasticache_replication_group" "valkey" {
  # checkov:skip=CKV2_AWS_50: failover follows var.valkey_replicas: on in production (1 replica), off in the PoC's single node; the shippers keep working without Valkey (local RDS budget, direct listing).
  # checkov:skip=CKV_AWS_31: AUTH is ElastiCache RBAC with an IAM-authenticated user (user_group_ids), which replaces the legacy shared auth token.
  replication_group_id       = "${local.name}-valkey"
  description                = "aurora-logs: RDS answer cache and shared RDS budget"
  engine                     = "valkey"
  engine_version             = "8.0"
  node_type                  = var.valkey_node_type
  num_cache_clusters         = 1 + var.valkey_replicas
  automatic_failover_enabled = var.valkey_replicas > 0
  multi_az_enabled           = var.valkey_replicas > 0
  port                       = 6379
  subnet_group_name          = aws_elasticache_subnet_group.valkey.name
  security_group_ids         = [aws_security_group.valkey.id]
  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.main.arn
  transit_encryption_enabled = true
  transit_encryption_mode    = "required"
  user_group_ids             = [aws_elasticache_user_group.valkey.user_group_id]
  snapshot_retention_limit   = 1
  auto_minor_version_upgrade = true
  apply_immediately          = var.environment != "production"
}
